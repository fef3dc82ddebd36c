#include "gw_ircd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <uv.h>

#include "gw_gateway.h"
#include "gw_limits.h"
#include "gw_router.h"
#include "gw_tls.h"

#define PARLEY_VERSION_STR "parley-0.1"
#define BOT_NICK           "parley"
/* Read buffer shared by all clients (data is consumed before the next). */
#define SHARED_READ 65536
/* Input held for one client: an incomplete line plus one read's worth
 * (reading stops while a client is over its flood budget, so this is the
 * most it can ever need). */
#define INBUF_MAX (SHARED_READ + 2 * GW_IRC_WIRE_MAX)
/* A line over the limit is skipped; this much junk without a newline
 * closes the connection (ngircd: binary junk or a TLS hello on a
 * plaintext port would keep us busy forever). */
#define JUNK_MAX    (64 * 1024)
#define SWEEP_MS    5000
#define THROTTLE_MS 20

struct gw_ircd;
struct gw_channel;

struct gw_puppet {
    struct gw_puppet *newer, *older; /* all puppets, by last activity */
    struct gw_puppet *hnext;         /* same hash bucket */
    struct gw_channel *chans[4];     /* channels it is in (a person is seen
                                        by one or two accounts) */
    int slots[4]; /* its index in chans[i]->puppets: leaving is O(1) */
    int nchans;
    char nick[GW_NICK_MAX + 1];
    char *user;
    char *host;
    char *realname;
    char *whois; /* lines separated by '\n' */
};

struct gw_listener {
    uv_tcp_t tcp;
    struct gw_ircd *d;
    struct gw_listener *next;
    bool tls;
};

/* One connection. Owned by the ircd; freed in the tcp close callback. */
struct gw_client {
    uv_tcp_t tcp;
    struct gw_ircd *d;
    struct gw_client *next, *prev;   /* all clients */
    struct gw_client *fnext, *fprev; /* clients with output to flush */
    struct gw_client *tnext;         /* paused clients (throttle list) */
    uint64_t id;
    char nick[GW_NICK_MAX + 1]; /* "*" until NICK */
    char user[16];
    char host[64];
    char *realname;
    char *away;
    char *pass;
    unsigned caps;
    int cap_version;
    bool cap_negotiating;
    bool has_nick, has_user, registered, sasl_ok, closing, in_flush;
    bool sasl_external;      /* AUTHENTICATE EXTERNAL in progress */
    bool sendq_full;         /* over the hard limit: closed from on_prepare */
    uint64_t mark;           /* send_peers() generation: already sent to */
    char *account;           /* SASL authcid, for account-tag/extended-join */
    struct gw_tls_conn *tls; /* NULL on plaintext listeners */
    char *label;             /* labeled-response: label of the command */
    struct gw_buf capture;   /* what the labeled command answered */
    bool capturing;
    bool paused, in_throttle, writing, skipping;
    size_t skipped;
    struct gw_buf sasl;
    struct gw_buf in;       /* unprocessed input */
    struct gw_buf out;      /* queued, not yet handed to uv_write */
    struct gw_buf inflight; /* handed to uv_write, untouched until its cb */
    uv_write_t wreq;
    int64_t soft_since; /* over the soft limit since, 0 = not */
    int64_t last_rx, ping_sent, connected, closing_since;
    int64_t flood_us;
    struct gw_channel **chans;
    int nchans, capchans;
};

struct gw_channel {
    struct gw_channel *next;
    char name[GW_CHANNEL_MAX + 1];
    char *topic;
    char topic_by[160];
    int64_t topic_ms, created_ms;
    unsigned flags;
    struct gw_client **members;
    int nmembers, capmembers;
    struct gw_puppet **puppets;
    int npuppets, cappuppets;
};

struct gw_ircd {
    struct gateway *gw;
    struct gw_listener *listeners;
    struct gw_client *clients;
    struct gw_client *flush;
    struct gw_client *throttled;
    struct gw_channel *channels;
    struct gw_puppet *puppets, *oldest; /* newest first */
    /* Puppets by lower-case nick: one lookup per incoming post, and there
     * are as many puppets as people who ever wrote to us. */
    struct gw_puppet **phash;
    size_t phash_size, npuppets;
    int nclients, nregistered;
    uint64_t next_id;
    uint64_t msg_counter;
    uint64_t mark_gen;
    uv_prepare_t prepare;
    uv_timer_t sweep;
    uv_timer_t throttle;
    int open_handles; /* prepare, sweep, throttle, listeners, clients */
    bool stopping;
    char *read_buf;             /* SHARED_READ bytes */
    struct gw_tls_ctx *tls_ctx; /* NULL without tls_listen */
    bool read_busy;
    char msgid_base[16];
};

struct cmd {
    const char *name;
    void (*fn)(struct gw_client *c, struct gw_irc_msg *m);
    int min_params;
    bool need_reg;
};

static void on_prepare(uv_prepare_t *h);
static void next_batch_id(struct gw_ircd *d, char *buf, size_t size);
static struct gw_channel *find_channel(struct gw_ircd *d, const char *name);
static bool is_member(const struct gw_channel *ch, const struct gw_client *c);
static void client_prefix(const struct gw_client *c, char *buf, size_t size);
static bool same_person(const struct gw_client *a, const struct gw_client *b);
static void client_printf(struct gw_client *c, const char *fmt, ...)
    GW_PRINTF(2, 3);
static void send_join(struct gw_ircd *d, struct gw_channel *ch,
                      const char *prefix, const char *account,
                      const char *realname, const char *away);
static void client_close(struct gw_client *c, const char *reason);
static void client_really_close(struct gw_client *c);
static void client_flush(struct gw_client *c);
static void process_input(struct gw_client *c);
static void part_all(struct gw_client *c, const char *quit_reason);

/* ---- small helpers ------------------------------------------------- */

static int64_t now_us(void)
{
    return gw_now_ms() * 1000;
}

static const char *srv(const struct gw_ircd *d)
{
    return d->gw->cfg->server_name;
}

const char *gw_ircd_bot(const struct gw_ircd *d)
{
    (void)d;
    return BOT_NICK;
}

const char *gw_ircd_server_name(const struct gw_ircd *d)
{
    return srv(d);
}

int gw_ircd_client_count(const struct gw_ircd *d)
{
    return d->nregistered;
}

void gw_ircd_flush(struct gw_ircd *d)
{
    on_prepare(&d->prepare);
}

void gw_ircd_each_client(struct gw_ircd *d, gw_ircd_client_cb cb, void *arg)
{
    for (struct gw_client *c = d->clients; c; c = c->next)
        if (c->registered && !c->closing)
            cb(arg, c);
}

const char *gw_client_nick(const struct gw_client *c)
{
    return c->nick;
}

void gw_ircd_batch_start(struct gw_client *c, char *id, size_t idsize,
                         const char *type, const char *param)
{
    next_batch_id(c->d, id, idsize);
    if (param)
        client_printf(c, ":%s BATCH +%s %s %s", srv(c->d), id, type, param);
    else
        client_printf(c, ":%s BATCH +%s %s", srv(c->d), id, type);
}

void gw_ircd_batch_end(struct gw_client *c, const char *id)
{
    client_printf(c, ":%s BATCH -%s", srv(c->d), id);
}

void gw_ircd_fail(struct gw_client *c, const char *command, const char *code,
                  const char *context, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    client_printf(c, ":%s FAIL %s %s %s%s:%s", srv(c->d), command, code,
                  context ? context : "", context ? " " : "", text);
}

void gw_ircd_server_line(struct gw_client *c, const char *fmt, ...)
{
    char text[GW_IRC_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    client_printf(c, ":%s %s", srv(c->d), text);
}

bool gw_ircd_is_member(struct gw_ircd *d, const char *channel,
                       const struct gw_client *c)
{
    struct gw_channel *ch = find_channel(d, channel);
    return ch && is_member(ch, c);
}

void gw_client_prefix(const struct gw_client *c, char *buf, size_t size)
{
    client_prefix(c, buf, size);
}

bool gw_client_same_person(const struct gw_client *a, const struct gw_client *b)
{
    return a == b || same_person(a, b);
}

const char *gw_client_user(const struct gw_client *c)
{
    return c->user;
}

unsigned gw_client_caps(const struct gw_client *c)
{
    return c->caps;
}

uint64_t gw_client_id(const struct gw_client *c)
{
    return c->id;
}

static void handle_closed(uv_handle_t *h)
{
    struct gw_ircd *d = h->data;
    d->open_handles--;
}

/* ---- output -------------------------------------------------------- */

static void flush_list_add(struct gw_client *c)
{
    struct gw_ircd *d = c->d;
    if (c->in_flush)
        return;
    c->in_flush = true;
    c->fprev = NULL;
    c->fnext = d->flush;
    if (d->flush)
        d->flush->fprev = c;
    d->flush = c;
}

static void flush_list_del(struct gw_client *c)
{
    if (!c->in_flush)
        return;
    if (c->fprev)
        c->fprev->fnext = c->fnext;
    else
        c->d->flush = c->fnext;
    if (c->fnext)
        c->fnext->fprev = c->fprev;
    c->in_flush = false;
    c->fnext = c->fprev = NULL;
}

/* Queue raw bytes (CR LF included). The hard limit closes the client; the
 * close itself is deferred to the loop, so callers may keep going. */
static void raw_write(struct gw_client *c, const char *data, size_t len);

/*
 * Over the hard limit. The close waits for on_prepare: we are usually deep
 * inside a loop over a channel's members (redis closes asynchronously for
 * the same reason), and closing here would change that member list under
 * the loop and recurse through every other slow member.
 */
static void sendq_full(struct gw_client *c)
{
    c->sendq_full = true;
    flush_list_add(c);
}

/* Soft-limit clock, and a flush before the loop sleeps. */
static void note_queue(struct gw_client *c)
{
    size_t queued = c->out.len + c->inflight.len;
    if (queued > GW_CLIENT_SENDQ_SOFT) {
        if (c->soft_since == 0)
            c->soft_since = gw_now_ms();
    } else {
        c->soft_since = 0;
    }
    flush_list_add(c);
}

static void client_write(struct gw_client *c, const char *data, size_t len)
{
    if (c->closing)
        return;
    if (c->capturing) {
        /* Answers to a labeled command are wrapped when it is done. */
        if (gw_buf_append(&c->capture, data, len) == 0)
            return;
        c->capturing = false;
    }
    if (c->sendq_full)
        return;
    if (c->tls) {
        size_t queued = c->out.len + c->inflight.len;
        if (queued + len > GW_CLIENT_SENDQ_HARD ||
            gw_tls_write(c->tls, data, len, &c->out) < 0) {
            sendq_full(c);
            return;
        }
        note_queue(c);
        return;
    }
    raw_write(c, data, len);
}

/* Bytes for the socket as they are (ciphertext on TLS connections). */
static void raw_write(struct gw_client *c, const char *data, size_t len)
{
    size_t queued = c->out.len + c->inflight.len;
    if (queued + len > GW_CLIENT_SENDQ_HARD ||
        gw_buf_append(&c->out, data, len) < 0) {
        sendq_full(c);
        return;
    }
    note_queue(c);
}

/* Truncate a line to 510 bytes at a UTF-8 boundary and add CR LF. */
static void client_line(struct gw_client *c, const char *line, size_t len)
{
    char buf[GW_IRC_LINE_MAX + 2];
    if (len > GW_IRC_LINE_MAX - 2)
        len = gw_utf8_cut(line, GW_IRC_LINE_MAX - 2);
    memcpy(buf, line, len);
    buf[len] = '\r';
    buf[len + 1] = '\n';
    client_write(c, buf, len + 2);
}

static void client_printf(struct gw_client *c, const char *fmt, ...)
    GW_PRINTF(2, 3);

static void client_printf(struct gw_client *c, const char *fmt, ...)
{
    char line[GW_IRC_LINE_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line))
        n = (int)sizeof(line) - 1;
    client_line(c, line, (size_t)n);
}

/* A numeric reply: ":server NNN nick <rest>". */
static void numeric(struct gw_client *c, const char *num, const char *fmt, ...)
    GW_PRINTF(3, 4);

static void numeric(struct gw_client *c, const char *num, const char *fmt, ...)
{
    char rest[GW_IRC_LINE_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    client_printf(c, ":%s %s %s %s", srv(c->d), num, c->nick, rest);
}

static void on_write(uv_write_t *req, int status)
{
    struct gw_client *c = gw_container_of(req, struct gw_client, wreq);
    c->writing = false;
    gw_buf_reset(&c->inflight);
    if (status < 0) {
        /* The peer is gone; reading will notice too. */
        gw_buf_reset(&c->out);
        if (!c->closing)
            client_close(c, "Write error");
        client_really_close(c);
        return;
    }
    client_flush(c);
}

/* Write what we can now; hand the rest to uv_write. */
static void client_flush(struct gw_client *c)
{
    if (c->writing || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->out.len > 0) {
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0)
            gw_buf_consume(&c->out, (size_t)n);
        else if (n < 0 && n != UV_EAGAIN) {
            gw_buf_reset(&c->out);
            if (!c->closing)
                client_close(c, "Write error");
            client_really_close(c);
            return;
        }
    }
    if (c->out.len > 0 && !uv_is_closing((uv_handle_t *)&c->tcp)) {
        /* Swap buffers: inflight stays untouched until on_write. */
        struct gw_buf tmp = c->inflight;
        c->inflight = c->out;
        c->out = tmp;
        gw_buf_reset(&c->out);
        uv_buf_t b = uv_buf_init(c->inflight.data, (unsigned)c->inflight.len);
        if (uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_write) == 0)
            c->writing = true;
        else
            gw_buf_reset(&c->inflight);
    }
    if (c->out.len == 0 && c->inflight.len == 0) {
        c->soft_since = 0;
        /* Give back big buffers after a burst; idle clients stay small. */
        /* Idle clients keep no buffers: most of a connection's memory
         * would otherwise be send buffers kept after a burst. */
        if (c->out.cap > 1024)
            gw_buf_free(&c->out);
        if (c->inflight.cap > 1024 && !c->writing)
            gw_buf_free(&c->inflight);
        if (c->closing)
            client_really_close(c);
    }
}

static void on_prepare(uv_prepare_t *h)
{
    struct gw_ircd *d = h->data;
    while (d->flush) {
        struct gw_client *c = d->flush;
        flush_list_del(c);
        if (c->sendq_full && !c->closing) {
            c->sendq_full = false;
            client_close(c, "SendQ exceeded");
        }
        client_flush(c);
    }
}

/* ---- formatting per capability set --------------------------------- */

enum { V_TIME = 1, V_TAGS = 2, V_ACCOUNT = 4, V_COUNT = 8 };

static unsigned variant_of(const struct gw_client *c)
{
    unsigned v = 0;
    if (c->caps & GW_CAP_SERVER_TIME)
        v |= V_TIME;
    if (c->caps & GW_CAP_MESSAGE_TAGS)
        v |= V_TAGS;
    if (c->caps & GW_CAP_ACCOUNT_TAG)
        v |= V_ACCOUNT;
    return v;
}

static int render(const struct gw_ircd *d, const struct gw_out *o,
                  unsigned variant, const char *nick, char *buf, size_t size)
{
    struct gw_irc_msg m;
    char tbuf[32];
    memset(&m, 0, sizeof(m));
    if (variant & (V_TIME | V_TAGS)) {
        gw_format_time(o->time_ms ? o->time_ms : gw_now_ms(), tbuf,
                       sizeof(tbuf));
        m.tags[m.ntags].key = "time";
        m.tags[m.ntags++].value = tbuf;
    }
    if (variant & V_TAGS) {
        if (o->msgid) {
            m.tags[m.ntags].key = "msgid";
            m.tags[m.ntags++].value = o->msgid;
        }
        for (int i = 0; i < o->ntags && m.ntags < GW_IRC_TAG_COUNT_MAX; i++)
            m.tags[m.ntags++] = o->tags[i];
    }
    if ((variant & V_ACCOUNT) && o->account) {
        m.tags[m.ntags].key = "account";
        m.tags[m.ntags++].value = o->account;
    }
    if (o->batch) {
        m.tags[m.ntags].key = "batch";
        m.tags[m.ntags++].value = o->batch;
    }
    m.prefix = o->prefix ? o->prefix : srv(d);
    m.command = o->command;
    m.nparams = o->nparams;
    for (int i = 0; i < o->nparams; i++)
        m.params[i] = o->params[i];
    if (nick && m.nparams > 0)
        m.params[0] = nick;
    return gw_ircmsg_format(buf, size, &m);
}

struct render_cache {
    char *line[V_COUNT];
    int len[V_COUNT];
};

static void cache_send(const struct gw_ircd *d, struct render_cache *rc,
                       const struct gw_out *o, struct gw_client *c)
{
    if (!c->registered || c->closing)
        return;
    if (o->to_each_nick) {
        char buf[GW_IRC_WIRE_MAX + 2];
        int n = render(d, o, variant_of(c), c->nick, buf, sizeof(buf));
        if (n > 0)
            client_write(c, buf, (size_t)n);
        return;
    }
    unsigned v = variant_of(c);
    if (rc->line[v] == NULL) {
        char buf[GW_IRC_WIRE_MAX + 2];
        int n = render(d, o, v, NULL, buf, sizeof(buf));
        rc->len[v] = n;
        rc->line[v] = n > 0 ? gw_xstrndup(buf, (size_t)n) : gw_xstrdup("");
    }
    if (rc->len[v] > 0)
        client_write(c, rc->line[v], (size_t)rc->len[v]);
}

static void cache_free(struct render_cache *rc)
{
    for (int i = 0; i < V_COUNT; i++)
        free(rc->line[i]);
}

void gw_ircd_send(struct gw_client *c, const struct gw_out *o)
{
    struct render_cache rc;
    memset(&rc, 0, sizeof(rc));
    cache_send(c->d, &rc, o, c);
    cache_free(&rc);
}

void gw_ircd_send_all(struct gw_ircd *d, const struct gw_out *o)
{
    struct render_cache rc;
    memset(&rc, 0, sizeof(rc));
    for (struct gw_client *c = d->clients; c; c = c->next)
        cache_send(d, &rc, o, c);
    cache_free(&rc);
}

static struct gw_channel *find_channel(struct gw_ircd *d, const char *name)
{
    for (struct gw_channel *ch = d->channels; ch; ch = ch->next)
        if (gw_strcasecmp(ch->name, name) == 0)
            return ch;
    return NULL;
}

static void send_channel(struct gw_ircd *d, struct gw_channel *ch,
                         const struct gw_out *o, const struct gw_client *except)
{
    struct render_cache rc;
    memset(&rc, 0, sizeof(rc));
    for (int i = 0; i < ch->nmembers; i++)
        if (ch->members[i] != except)
            cache_send(d, &rc, o, ch->members[i]);
    cache_free(&rc);
}

void gw_ircd_send_channel(struct gw_ircd *d, const char *channel,
                          const struct gw_out *o,
                          const struct gw_client *except)
{
    struct gw_channel *ch = find_channel(d, channel);
    if (ch)
        send_channel(d, ch, o, except);
}

static void next_msgid(struct gw_ircd *d, char *buf, size_t size)
{
    char n[16];
    gw_base36(++d->msg_counter, n, sizeof(n));
    snprintf(buf, size, "%s-%s", d->msgid_base, n);
}

static void bot_vsay(struct gw_ircd *d, struct gw_client *only,
                     const char *command, const char *target, const char *fmt,
                     va_list ap)
{
    char text[4096];
    char prefix[128];
    char msgid[48];
    vsnprintf(text, sizeof(text), fmt, ap);
    snprintf(prefix, sizeof(prefix), "%s!%s@%s", BOT_NICK, BOT_NICK, srv(d));
    /* One PRIVMSG per line of text. */
    char *save = text;
    while (save) {
        char *nl = strchr(save, '\n');
        if (nl)
            *nl = '\0';
        if (*save) {
            struct gw_out o;
            memset(&o, 0, sizeof(o));
            next_msgid(d, msgid, sizeof(msgid));
            o.prefix = prefix;
            o.command = command;
            o.params[0] = target;
            o.params[1] = save;
            o.nparams = 2;
            o.msgid = msgid;
            if (only)
                gw_ircd_send(only, &o);
            else
                gw_ircd_send_channel(d, target, &o, NULL);
        }
        save = nl ? nl + 1 : NULL;
    }
}

void gw_ircd_bot_say(struct gw_ircd *d, const char *channel, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    bot_vsay(d, NULL, "PRIVMSG", channel, fmt, ap);
    va_end(ap);
}

void gw_ircd_bot_notice(struct gw_client *c, const char *target,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bot_vsay(c->d, c, "NOTICE", target, fmt, ap);
    va_end(ap);
}

void gw_ircd_server_notice(struct gw_client *c, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    client_printf(c, ":%s NOTICE %s :%s", srv(c->d), c->nick, text);
}

/* ---- nicks, puppets, channels -------------------------------------- */

/* The client holding nick; a registered session is preferred. */
static struct gw_client *find_client(struct gw_ircd *d, const char *nick)
{
    struct gw_client *found = NULL;
    for (struct gw_client *c = d->clients; c; c = c->next) {
        if (c->has_nick && !c->closing && gw_strcasecmp(c->nick, nick) == 0) {
            if (c->registered)
                return c;
            found = c;
        }
    }
    return found;
}

static size_t nick_hash(const char *nick)
{
    /* FNV-1a over the ASCII-lowered nick (CASEMAPPING=ascii). */
    size_t h = 2166136261u;
    for (const unsigned char *p = (const unsigned char *)nick; *p; p++) {
        unsigned char c = *p >= 'A' && *p <= 'Z' ? *p + 32 : *p;
        h = (h ^ c) * 16777619u;
    }
    return h;
}

static struct gw_puppet *find_puppet(struct gw_ircd *d, const char *nick)
{
    if (d->phash_size == 0)
        return NULL;
    struct gw_puppet *p = d->phash[nick_hash(nick) & (d->phash_size - 1)];
    for (; p; p = p->hnext)
        if (gw_strcasecmp(p->nick, nick) == 0)
            return p;
    return NULL;
}

static void phash_insert(struct gw_ircd *d, struct gw_puppet *p)
{
    if (d->npuppets + 1 > d->phash_size) {
        size_t size = d->phash_size ? d->phash_size * 2 : 256;
        struct gw_puppet **t = gw_xcalloc(size, sizeof(*t));
        for (struct gw_puppet *q = d->puppets; q; q = q->older) {
            if (q == p)
                continue;
            size_t b = nick_hash(q->nick) & (size - 1);
            q->hnext = t[b];
            t[b] = q;
        }
        free(d->phash);
        d->phash = t;
        d->phash_size = size;
    }
    size_t b = nick_hash(p->nick) & (d->phash_size - 1);
    p->hnext = d->phash[b];
    d->phash[b] = p;
    d->npuppets++;
}

static void phash_remove(struct gw_ircd *d, struct gw_puppet *p)
{
    struct gw_puppet **pp = &d->phash[nick_hash(p->nick) & (d->phash_size - 1)];
    for (; *pp; pp = &(*pp)->hnext) {
        if (*pp == p) {
            *pp = p->hnext;
            d->npuppets--;
            return;
        }
    }
}

static void puppet_unlink(struct gw_ircd *d, struct gw_puppet *p)
{
    *(p->newer ? &p->newer->older : &d->puppets) = p->older;
    *(p->older ? &p->older->newer : &d->oldest) = p->newer;
    p->newer = p->older = NULL;
}

static void puppet_push(struct gw_ircd *d, struct gw_puppet *p)
{
    p->older = d->puppets;
    *(d->puppets ? &d->puppets->newer : &d->oldest) = p;
    d->puppets = p;
}

/* The person was heard from: the last to be let go. */
static void puppet_touch(struct gw_ircd *d, struct gw_puppet *p)
{
    if (d->puppets != p) {
        puppet_unlink(d, p);
        puppet_push(d, p);
    }
}

bool gw_ircd_nick_taken(struct gw_ircd *d, const char *nick)
{
    return gw_strcasecmp(nick, BOT_NICK) == 0 || find_client(d, nick) ||
           find_puppet(d, nick);
}

bool gw_ircd_is_puppet(struct gw_ircd *d, const char *nick)
{
    return find_puppet(d, nick) != NULL;
}

static bool valid_nick(const char *n)
{
    static const char special[] = "[]\\`_^{|}";
    size_t len = strlen(n);
    if (len == 0 || len > GW_NICK_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)n[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        bool digit = ch >= '0' && ch <= '9';
        if (alpha || strchr(special, ch) != NULL ||
            (i > 0 && (digit || ch == '-')))
            continue;
        return false;
    }
    return true;
}

static bool valid_channel_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 2 || len > GW_CHANNEL_MAX || (n[0] != '#' && n[0] != '&'))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)n[i];
        if (ch <= ' ' || ch == ',' || ch == 7)
            return false;
    }
    return true;
}

int gw_ircd_puppet_set(struct gw_ircd *d, const char *nick, const char *user,
                       const char *host, const char *realname,
                       const char *whois)
{
    if (find_client(d, nick) || gw_strcasecmp(nick, BOT_NICK) == 0)
        return UV_EEXIST;
    if (!valid_nick(nick))
        return UV_EINVAL;
    struct gw_puppet *p = find_puppet(d, nick);
    if (p == NULL) {
        p = gw_xcalloc(1, sizeof(*p));
        gw_strlcpy(p->nick, nick, sizeof(p->nick));
        puppet_push(d, p);
        phash_insert(d, p);
    } else {
        puppet_touch(d, p);
    }
    /* The same person posts again and again: copy only what changed. */
    const char *vals[4] = {user, host, realname ? realname : "",
                           whois ? whois : ""};
    char **slots[4] = {&p->user, &p->host, &p->realname, &p->whois};
    for (int i = 0; i < 4; i++) {
        if (*slots[i] == NULL || strcmp(*slots[i], vals[i]) != 0) {
            free(*slots[i]);
            *slots[i] = gw_xstrdup(vals[i]);
        }
    }
    return 0;
}

static void puppet_prefix(const struct gw_puppet *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s!%s@%s", p->nick, p->user, p->host);
}

int gw_ircd_puppet_join(struct gw_ircd *d, const char *nick,
                        const char *channel)
{
    struct gw_puppet *p = find_puppet(d, nick);
    struct gw_channel *ch = find_channel(d, channel);
    if (p == NULL || ch == NULL)
        return UV_ENOENT;
    for (int i = 0; i < p->nchans; i++)
        if (p->chans[i] == ch)
            return 0;
    if (p->nchans < (int)GW_ARRAY_LEN(p->chans)) {
        p->slots[p->nchans] = ch->npuppets;
        p->chans[p->nchans++] = ch;
    } else {
        for (int i = 0; i < ch->npuppets; i++)
            if (ch->puppets[i] == p)
                return 0;
    }
    if (ch->npuppets == ch->cappuppets) {
        ch->cappuppets = ch->cappuppets ? ch->cappuppets * 2 : 8;
        ch->puppets = gw_xrealloc(ch->puppets, sizeof(*ch->puppets) *
                                                   (size_t)ch->cappuppets);
    }
    ch->puppets[ch->npuppets++] = p;
    char prefix[256];
    puppet_prefix(p, prefix, sizeof(prefix));
    send_join(d, ch, prefix, NULL, p->realname, NULL);
    return 0;
}

static void puppet_free(struct gw_puppet *p)
{
    free(p->user);
    free(p->host);
    free(p->realname);
    free(p->whois);
    free(p);
}

/* Take p out of ch->puppets at index i; the last entry moves into its
 * place, and that puppet's slot follows it. */
static void channel_drop_puppet(struct gw_channel *ch, int i)
{
    struct gw_puppet *moved = ch->puppets[--ch->npuppets];
    ch->puppets[i] = moved;
    for (int j = 0; j < moved->nchans; j++)
        if (moved->chans[j] == ch)
            moved->slots[j] = i;
}

/* p leaves every channel and quits in the eyes of each client that shared
 * one with it (once per client), then is freed. */
static void puppet_quit(struct gw_ircd *d, struct gw_puppet *p,
                        const char *reason)
{
    char prefix[256];
    puppet_prefix(p, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = "QUIT";
    o.params[0] = reason;
    o.nparams = 1;
    struct render_cache rc;
    memset(&rc, 0, sizeof(rc));
    uint64_t gen = ++d->mark_gen;
    bool overflow = p->nchans == (int)GW_ARRAY_LEN(p->chans);
    for (struct gw_channel *ch = d->channels; ch; ch = ch->next) {
        int at = -1;
        for (int j = 0; j < p->nchans; j++)
            if (p->chans[j] == ch)
                at = p->slots[j];
        /* Past four channels a puppet is not tracked: look for it. */
        for (int i = 0; at < 0 && overflow && i < ch->npuppets; i++)
            if (ch->puppets[i] == p)
                at = i;
        if (at < 0)
            continue;
        channel_drop_puppet(ch, at);
        for (int i = 0; i < ch->nmembers; i++) {
            struct gw_client *m = ch->members[i];
            if (m->mark != gen) {
                m->mark = gen;
                cache_send(d, &rc, &o, m);
            }
        }
    }
    cache_free(&rc);
    puppet_unlink(d, p);
    phash_remove(d, p);
    puppet_free(p);
}

void gw_ircd_puppets_trim(struct gw_ircd *d, size_t keep)
{
    while (d->npuppets > keep && d->oldest)
        puppet_quit(d, d->oldest, "Not heard from lately");
}

static struct gw_channel *channel_new(struct gw_ircd *d, const char *name)
{
    struct gw_channel *ch = gw_xcalloc(1, sizeof(*ch));
    gw_strlcpy(ch->name, name, sizeof(ch->name));
    ch->created_ms = gw_now_ms();
    /* Append: clients join in the order channels were opened, so the
     * control channel comes first. */
    struct gw_channel **pp = &d->channels;
    while (*pp)
        pp = &(*pp)->next;
    *pp = ch;
    return ch;
}

static void channel_free(struct gw_ircd *d, struct gw_channel *ch)
{
    for (struct gw_channel **pp = &d->channels; *pp; pp = &(*pp)->next) {
        if (*pp == ch) {
            *pp = ch->next;
            break;
        }
    }
    for (int i = 0; i < ch->npuppets; i++) {
        struct gw_puppet *p = ch->puppets[i];
        for (int j = 0; j < p->nchans; j++) {
            if (p->chans[j] == ch) {
                p->nchans--;
                p->chans[j] = p->chans[p->nchans];
                p->slots[j] = p->slots[p->nchans];
                break;
            }
        }
    }
    free(ch->topic);
    free(ch->members);
    free(ch->puppets);
    free(ch);
}

static bool is_member(const struct gw_channel *ch, const struct gw_client *c)
{
    for (int i = 0; i < ch->nmembers; i++)
        if (ch->members[i] == c)
            return true;
    return false;
}

/*
 * Several connections may share one nick: a person's desk and phone. They
 * are sessions of one user: one entry in NAMES, one JOIN, PART and QUIT for
 * the others to see, and each sees what the other says and reads.
 */
static bool same_person(const struct gw_client *a, const struct gw_client *b)
{
    return a != b && a->registered && b->registered && !a->closing &&
           !b->closing && gw_strcasecmp(a->nick, b->nick) == 0;
}

static bool sibling_in(const struct gw_channel *ch, const struct gw_client *c)
{
    for (int i = 0; i < ch->nmembers; i++)
        if (same_person(ch->members[i], c))
            return true;
    return false;
}

static bool has_sibling(const struct gw_client *c)
{
    for (struct gw_client *o = c->d->clients; o; o = o->next)
        if (same_person(o, c))
            return true;
    return false;
}

static void client_prefix(const struct gw_client *c, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s!%s@%s", c->nick, c->user, c->host);
    (void)n; /* nick, user and host are bounded well below 256 */
}

struct names_acc {
    struct gw_client *c;
    struct gw_channel *ch;
    char line[400];
    size_t len;
};

static void names_add(struct names_acc *n, const char *pfx, const char *nick)
{
    size_t need = strlen(pfx) + strlen(nick) + 1;
    if (n->len && n->len + need > sizeof(n->line) - 1 - strlen(n->ch->name) -
                                      GW_NICK_MAX - 40) {
        numeric(n->c, "353", "= %s :%s", n->ch->name, n->line);
        n->len = 0;
        n->line[0] = '\0';
    }
    n->len += (size_t)snprintf(n->line + n->len, sizeof(n->line) - n->len,
                               "%s%s%s", n->len ? " " : "", pfx, nick);
}

static void send_names(struct gw_client *c, struct gw_channel *ch)
{
    struct names_acc n;
    n.c = c;
    n.ch = ch;
    n.len = 0;
    n.line[0] = '\0';
    bool uh = c->caps & GW_CAP_USERHOST_IN_NAMES;
    char full[256];
    /* The bot sits (as operator) in every channel the gateway manages. */
    if (ch->flags & GW_CHAN_MANAGED) {
        snprintf(full, sizeof(full), "%s!%s@%s", BOT_NICK, BOT_NICK, srv(c->d));
        names_add(&n, "@", uh ? full : BOT_NICK);
    }
    for (int i = 0; i < ch->nmembers; i++) {
        struct gw_client *m = ch->members[i];
        /* Sessions of one person (same nick) are listed once. */
        bool dup = false;
        for (int j = 0; j < i && !dup; j++)
            dup = gw_strcasecmp(ch->members[j]->nick, m->nick) == 0;
        if (dup)
            continue;
        client_prefix(m, full, sizeof(full));
        names_add(&n, "", uh ? full : m->nick);
    }
    for (int i = 0; i < ch->npuppets; i++) {
        puppet_prefix(ch->puppets[i], full, sizeof(full));
        names_add(&n, "", uh ? full : ch->puppets[i]->nick);
    }
    if (n.len)
        numeric(c, "353", "= %s :%s", ch->name, n.line);
    numeric(c, "366", "%s :End of /NAMES list", ch->name);
}

static void send_topic(struct gw_client *c, struct gw_channel *ch, bool empty)
{
    if (ch->topic && ch->topic[0]) {
        numeric(c, "332", "%s :%s", ch->name, ch->topic);
        numeric(c, "333", "%s %s %lld", ch->name, ch->topic_by,
                (long long)(ch->topic_ms / 1000));
    } else if (empty) {
        numeric(c, "331", "%s :No topic is set", ch->name);
    }
}

/* JOIN as each member asked for it: extended-join carries the account and
 * real name, and away-notify learns that the joiner is away. */
static void send_join(struct gw_ircd *d, struct gw_channel *ch,
                      const char *prefix, const char *account,
                      const char *realname, const char *away)
{
    struct gw_out plain, ext, aw;
    memset(&plain, 0, sizeof(plain));
    plain.prefix = prefix;
    plain.command = "JOIN";
    plain.params[0] = ch->name;
    plain.nparams = 1;
    ext = plain;
    ext.params[1] = account && *account ? account : "*";
    ext.params[2] = realname && *realname ? realname : "*";
    ext.nparams = 3;
    memset(&aw, 0, sizeof(aw));
    aw.prefix = prefix;
    aw.command = "AWAY";
    aw.params[0] = away;
    aw.nparams = 1;
    struct render_cache rp, re, ra;
    memset(&rp, 0, sizeof(rp));
    memset(&re, 0, sizeof(re));
    memset(&ra, 0, sizeof(ra));
    for (int i = 0; i < ch->nmembers; i++) {
        struct gw_client *to = ch->members[i];
        if (to->caps & GW_CAP_EXTENDED_JOIN)
            cache_send(d, &re, &ext, to);
        else
            cache_send(d, &rp, &plain, to);
        if (away && (to->caps & GW_CAP_AWAY_NOTIFY))
            cache_send(d, &ra, &aw, to);
    }
    cache_free(&rp);
    cache_free(&re);
    cache_free(&ra);
}

/*
 * Everyone who shares a channel with c, once (and c itself if self). Walks
 * c's channels with a generation mark rather than every client, so a mass
 * disconnect stays linear.
 */
static void send_peers(struct gw_client *c, const struct gw_out *o,
                       unsigned need_cap, bool self, bool skip_sessions)
{
    struct gw_ircd *d = c->d;
    uint64_t gen = ++d->mark_gen;
    struct render_cache rc;
    memset(&rc, 0, sizeof(rc));
    c->mark = gen;
    if (self && (!need_cap || (c->caps & need_cap)))
        cache_send(d, &rc, o, c);
    for (int i = 0; i < c->nchans; i++) {
        struct gw_channel *ch = c->chans[i];
        for (int j = 0; j < ch->nmembers; j++) {
            struct gw_client *m = ch->members[j];
            if (m->mark == gen)
                continue;
            m->mark = gen;
            if (!m->registered || (need_cap && !(m->caps & need_cap)) ||
                (skip_sessions && same_person(m, c)))
                continue;
            cache_send(d, &rc, o, m);
        }
    }
    cache_free(&rc);
}

/* "COMMAND [param]" from c to its peers (see send_peers). */
static void peers_say(struct gw_client *c, const char *command,
                      const char *param, unsigned need_cap, bool self,
                      bool skip_sessions)
{
    char prefix[256];
    client_prefix(c, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = command;
    o.params[0] = param;
    o.nparams = param ? 1 : 0;
    send_peers(c, &o, need_cap, self, skip_sessions);
}

static void channel_join(struct gw_client *c, struct gw_channel *ch)
{
    if (is_member(ch, c))
        return;
    if (ch->nmembers == ch->capmembers) {
        ch->capmembers = ch->capmembers ? ch->capmembers * 2 : 4;
        ch->members = gw_xrealloc(ch->members, sizeof(*ch->members) *
                                                   (size_t)ch->capmembers);
    }
    ch->members[ch->nmembers++] = c;
    if (c->nchans == c->capchans) {
        c->capchans = c->capchans ? c->capchans * 2 : 4;
        c->chans =
            gw_xrealloc(c->chans, sizeof(*c->chans) * (size_t)c->capchans);
    }
    c->chans[c->nchans++] = ch;
    char prefix[256];
    client_prefix(c, prefix, sizeof(prefix));
    if (sibling_in(ch, c)) {
        /* The others already see this person here. */
        client_printf(c, ":%s JOIN %s", prefix, ch->name);
    } else {
        send_join(c->d, ch, prefix, c->account, c->realname, c->away);
    }
    send_topic(c, ch, false);
    if (c->caps & GW_CAP_READ_MARKER)
        gw_router_markread_join(c->d->gw->router, c, ch->name);
    send_names(c, ch);
}

/* Remove c from ch without telling anyone. */
static void channel_remove(struct gw_client *c, struct gw_channel *ch)
{
    for (int i = 0; i < ch->nmembers; i++) {
        if (ch->members[i] == c) {
            ch->members[i] = ch->members[--ch->nmembers];
            break;
        }
    }
    for (int i = 0; i < c->nchans; i++) {
        if (c->chans[i] == ch) {
            c->chans[i] = c->chans[--c->nchans];
            break;
        }
    }
    if (ch->nmembers == 0 && !(ch->flags & GW_CHAN_MANAGED))
        channel_free(c->d, ch);
}

static void channel_part(struct gw_client *c, struct gw_channel *ch,
                         const char *reason)
{
    char prefix[256];
    client_prefix(c, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = "PART";
    o.params[0] = ch->name;
    o.nparams = 1;
    if (reason && *reason) {
        o.params[1] = reason;
        o.nparams = 2;
    }
    send_channel(c->d, ch, &o, NULL);
    /* A person leaves with all their sessions. */
    for (int i = 0; i < ch->nmembers;) {
        if (same_person(ch->members[i], c) && ch->nmembers > 1)
            channel_remove(ch->members[i], ch);
        else
            i++;
    }
    channel_remove(c, ch);
}

int gw_ircd_channel_open(struct gw_ircd *d, const char *name, const char *topic,
                         unsigned flags)
{
    if (!valid_channel_name(name))
        return UV_EINVAL;
    struct gw_channel *ch = find_channel(d, name);
    bool fresh = ch == NULL;
    if (fresh)
        ch = channel_new(d, name);
    ch->flags |= flags | GW_CHAN_MANAGED;
    if (topic && (ch->topic == NULL || strcmp(ch->topic, topic) != 0)) {
        free(ch->topic);
        ch->topic = gw_xstrdup(topic);
        snprintf(ch->topic_by, sizeof(ch->topic_by), "%s!%s@%s", BOT_NICK,
                 BOT_NICK, srv(d));
        ch->topic_ms = gw_now_ms();
        if (!fresh) {
            char prefix[128];
            snprintf(prefix, sizeof(prefix), "%s!%s@%s", BOT_NICK, BOT_NICK,
                     srv(d));
            struct gw_out o;
            memset(&o, 0, sizeof(o));
            o.prefix = prefix;
            o.command = "TOPIC";
            o.params[0] = ch->name;
            o.params[1] = ch->topic;
            o.nparams = 2;
            send_channel(d, ch, &o, NULL);
        }
    }
    for (struct gw_client *c = d->clients; c; c = c->next)
        if (c->registered && !c->closing)
            channel_join(c, ch);
    return 0;
}

void gw_ircd_channel_close(struct gw_ircd *d, const char *name,
                           const char *reason)
{
    struct gw_channel *ch = find_channel(d, name);
    if (ch == NULL)
        return;
    ch->flags &= ~(unsigned)GW_CHAN_MANAGED;
    while (ch->nmembers > 0) {
        struct gw_client *c = ch->members[0];
        bool last = ch->nmembers == 1;
        channel_part(c, ch, reason);
        if (last)
            return; /* freed by channel_remove */
    }
    channel_free(d, ch);
}

bool gw_ircd_channel_exists(struct gw_ircd *d, const char *name)
{
    return find_channel(d, name) != NULL;
}

/* QUIT goes once to everybody who shares a channel with c. */
static void part_all(struct gw_client *c, const char *quit_reason)
{
    if (has_sibling(c)) {
        /* Another session of this person stays: nobody sees a QUIT. */
        while (c->nchans > 0)
            channel_remove(c, c->chans[0]);
        return;
    }
    peers_say(c, "QUIT", quit_reason, 0, false, false);
    while (c->nchans > 0)
        channel_remove(c, c->chans[0]);
}

/* ---- connection lifecycle ------------------------------------------ */

static void on_client_closed(uv_handle_t *h)
{
    struct gw_client *c = gw_container_of(h, struct gw_client, tcp);
    struct gw_ircd *d = c->d;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->clients = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->nclients--;
    d->open_handles--;
    gw_buf_free(&c->in);
    gw_buf_free(&c->out);
    gw_buf_free(&c->inflight);
    gw_buf_free(&c->sasl);
    gw_buf_free(&c->capture);
    gw_tls_conn_free(c->tls);
    free(c->account);
    free(c->label);
    free(c->realname);
    free(c->away);
    free(c->pass);
    free(c->chans);
    free(c);
}

static void throttle_del(struct gw_client *c)
{
    if (!c->in_throttle)
        return;
    for (struct gw_client **pp = &c->d->throttled; *pp; pp = &(*pp)->tnext) {
        if (*pp == c) {
            *pp = c->tnext;
            break;
        }
    }
    c->in_throttle = false;
}

/*
 * Close idempotently: the ERROR line is queued, the client leaves its
 * channels now (others see QUIT), and the handle is closed once the last
 * bytes are written, from a loop callback, never under the caller's feet.
 */
static void client_close(struct gw_client *c, const char *reason)
{
    if (c->closing)
        return;
    struct gw_ircd *d = c->d;
    gw_log(d->gw, GW_LOG_DEBUG, "client %s closing: %s", c->host, reason);
    if (c->registered) {
        d->nregistered--;
        gw_router_client_gone(d->gw->router, c);
        char q[300];
        snprintf(q, sizeof(q), "%s", reason);
        part_all(c, q);
    }
    /* A client that stopped reading will not read its backlog either. */
    if (strncmp(reason, "SendQ", 5) == 0)
        gw_buf_reset(&c->out);
    /* The ERROR line may exceed the hard limit: it is the last one. */
    char line[512];
    int n =
        snprintf(line, sizeof(line), "ERROR :Closing link: (%s@%s) [%s]\r\n",
                 c->has_user ? c->user : "*", c->host, reason);
    if (n > 0 && (size_t)n < sizeof(line) &&
        c->out.len + c->inflight.len < GW_CLIENT_SENDQ_HARD) {
        if (c->tls) {
            gw_tls_write(c->tls, line, (size_t)n, &c->out);
            gw_tls_shutdown(c->tls, &c->out);
        } else {
            gw_buf_append(&c->out, line, (size_t)n);
        }
    }
    c->closing = true;
    c->closing_since = gw_now_ms();
    uv_read_stop((uv_stream_t *)&c->tcp);
    throttle_del(c);
    gw_buf_free(&c->in);
    /* Never wait for a client that did not read: drop what is queued
     * beyond the ERROR line when it was the reason. */
    flush_list_add(c);
}

static void client_really_close(struct gw_client *c)
{
    flush_list_del(c);
    throttle_del(c);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

/* ---- registration -------------------------------------------------- */

/* In the order of enum gw_cap's bits. */
static const char *const cap_names[] = {
    "message-tags",
    "server-time",
    "echo-message",
    "sasl",
    "cap-notify",
    "multi-prefix",
    "batch",
    "labeled-response",
    "userhost-in-names",
    "extended-join",
    "away-notify",
    "account-tag",
    "setname",
    "invite-notify",
    "standard-replies",
    "draft/chathistory",
    "draft/read-marker",
};

static void send_isupport(struct gw_client *c)
{
    numeric(c, "005",
            "AWAYLEN=%d CASEMAPPING=ascii CHANLIMIT=#&: CHANMODES=,,,nt "
            "CHANNELLEN=%d CHANTYPES=#& MAXTARGETS=%d NETWORK=Parley "
            "NICKLEN=%d PREFIX=(o)@ :are supported by this server",
            GW_AWAY_MAX, GW_CHANNEL_MAX, GW_TARGETS_MAX, GW_NICK_MAX);
    numeric(c, "005",
            "TARGMAX=PRIVMSG:%d,NOTICE:%d,TAGMSG:%d,NAMES:1,WHOIS:1 "
            "TOPICLEN=%d UTF8ONLY NAMELEN=%d CHATHISTORY=%d "
            "MSGREFTYPES=msgid,timestamp :are supported by this server",
            GW_TARGETS_MAX, GW_TARGETS_MAX, GW_TARGETS_MAX, GW_TOPIC_MAX,
            GW_REALNAME_MAX, GW_CHATHISTORY_MAX);
}

static void send_motd(struct gw_client *c)
{
    const char *ctl = c->d->gw->cfg->control_channel;
    numeric(c, "375", ":- %s Message of the day -", srv(c->d));
    numeric(c, "372",
            ":- Parley: your social networks' conversations on "
            "IRC.");
    numeric(c, "372", ":- Type 'help' in %s to get started.", ctl);
    numeric(c, "376", ":End of /MOTD command.");
}

static bool password_ok(const struct gw_ircd *d, const char *given)
{
    const char *want = d->gw->cfg->password;
    if (want[0] == '\0')
        return true;
    if (given == NULL)
        return false;
    size_t a = strlen(want), b = strlen(given);
    /* Constant time for equal lengths; length itself is not secret. */
    return a == b && CRYPTO_memcmp(want, given, a) == 0;
}

static void try_register(struct gw_client *c)
{
    struct gw_ircd *d = c->d;
    if (c->registered || !c->has_nick || !c->has_user || c->cap_negotiating)
        return;
    if (!c->sasl_ok && !password_ok(d, c->pass)) {
        numeric(c, "464", ":Password incorrect");
        client_close(c, "Bad password");
        return;
    }
    c->registered = true;
    d->nregistered++;
    const char *fp = c->tls ? gw_tls_peer_fingerprint(c->tls) : NULL;
    if (fp && d->gw->cfg->password[0] &&
        (password_ok(d, c->pass) || (c->sasl_ok && c->account)))
        gw_router_certfp_remember(d->gw->router, fp,
                                  c->account ? c->account : c->nick);
    char date[32];
    gw_format_time(d->gw->started_ms, date, sizeof(date));
    numeric(c, "001", ":Welcome to Parley, %s!%s@%s", c->nick, c->user,
            c->host);
    numeric(c, "002", ":Your host is %s, running version %s", srv(d),
            PARLEY_VERSION_STR);
    numeric(c, "003", ":This server was created %s", date);
    numeric(c, "004", "%s %s i nt", srv(d), PARLEY_VERSION_STR);
    send_isupport(c);
    numeric(c, "251", ":There are %d users and 0 services on 1 server",
            d->nregistered);
    send_motd(c);
    for (struct gw_channel *ch = d->channels; ch; ch = ch->next)
        if ((ch->flags & GW_CHAN_MANAGED) || sibling_in(ch, c))
            channel_join(c, ch);
    gw_router_client_ready(d->gw->router, c);
}

static void cmd_pass(struct gw_client *c, struct gw_irc_msg *m)
{
    if (c->registered) {
        numeric(c, "462", ":You may not reregister");
        return;
    }
    free(c->pass);
    c->pass = gw_xstrdup(m->params[0]);
}

static void announce_nick(struct gw_client *c, const char *newnick)
{
    peers_say(c, "NICK", newnick, 0, true, true);
}

static void cmd_nick(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *nick = m->params[0];
    if (!valid_nick(nick)) {
        numeric(c, "432", "%s :Erroneous nickname", nick);
        return;
    }
    struct gw_client *other = NULL;
    for (struct gw_client *o = c->d->clients; o; o = o->next)
        if (o != c && o->has_nick && gw_strcasecmp(o->nick, nick) == 0 &&
            (other == NULL || o->registered))
            other = o;
    /* Registering with the nick of a connected person makes this a new
     * session of theirs (a phone next to a desk); taking it later is not
     * allowed. */
    bool join_person = other && other->registered && !c->registered;
    if ((other && !join_person) || find_puppet(c->d, nick) ||
        gw_strcasecmp(nick, BOT_NICK) == 0) {
        numeric(c, "433", "%s :Nickname is already in use", nick);
        return;
    }
    if (strcmp(nick, c->nick) == 0)
        return;
    if (c->registered) {
        char old[GW_NICK_MAX + 1];
        gw_strlcpy(old, c->nick, sizeof(old));
        announce_nick(c, nick);
        /* Every session of the person follows. */
        for (struct gw_client *o = c->d->clients; o; o = o->next) {
            if (o != c && o->registered && gw_strcasecmp(o->nick, old) == 0) {
                char prefix[256];
                client_prefix(o, prefix, sizeof(prefix));
                client_printf(o, ":%s NICK %s", prefix, nick);
                gw_strlcpy(o->nick, nick, sizeof(o->nick));
            }
        }
    }
    gw_strlcpy(c->nick, nick, sizeof(c->nick));
    c->has_nick = true;
    try_register(c);
}

static void cmd_user(struct gw_client *c, struct gw_irc_msg *m)
{
    if (c->registered || c->has_user) {
        numeric(c, "462", ":You may not reregister");
        return;
    }
    /* The username is cut to something safe for a prefix. */
    size_t j = 0;
    for (const char *p = m->params[0]; *p && j < sizeof(c->user) - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch > ' ' && ch != '@' && ch != '!' && ch < 127)
            c->user[j++] = (char)ch;
    }
    if (j == 0)
        c->user[j++] = 'u';
    c->user[j] = '\0';
    free(c->realname);
    c->realname = gw_xstrdup(m->params[3]);
    c->has_user = true;
    try_register(c);
}

static void cap_list(struct gw_client *c, const char *sub, bool only_enabled)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < GW_ARRAY_LEN(cap_names); i++) {
        if (only_enabled && !(c->caps & (1u << i)))
            continue;
        const char *val = "";
        if (!only_enabled && c->cap_version >= 302 &&
            strcmp(cap_names[i], "sasl") == 0)
            val = c->tls ? "=PLAIN,EXTERNAL" : "=PLAIN";
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s%s",
                                len ? " " : "", cap_names[i], val);
    }
    client_printf(c, ":%s CAP %s %s :%s", srv(c->d), c->nick, sub, list);
}

static int cap_index(const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(cap_names); i++)
        if (strcmp(cap_names[i], name) == 0)
            return (int)i;
    return -1;
}

static void cmd_cap(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *sub = m->params[0];
    if (gw_strcasecmp(sub, "LS") == 0) {
        long v = 0;
        if (m->nparams > 1)
            gw_parse_long(m->params[1], 0, 999, &v);
        if (v > c->cap_version)
            c->cap_version = (int)v;
        if (c->cap_version >= 302)
            c->caps |= GW_CAP_CAP_NOTIFY;
        if (!c->registered)
            c->cap_negotiating = true;
        cap_list(c, "LS", false);
    } else if (gw_strcasecmp(sub, "LIST") == 0) {
        cap_list(c, "LIST", true);
    } else if (gw_strcasecmp(sub, "REQ") == 0) {
        if (m->nparams < 2) {
            numeric(c, "461", "CAP :Not enough parameters");
            return;
        }
        if (!c->registered)
            c->cap_negotiating = true;
        unsigned add = 0, del = 0;
        bool ok = true;
        char *copy = gw_xstrdup(m->params[1]);
        for (char *p = copy; p && *p && ok;) {
            char *sp = strchr(p, ' ');
            if (sp)
                *sp++ = '\0';
            if (*p) {
                bool neg = *p == '-';
                int idx = cap_index(neg ? p + 1 : p);
                if (idx < 0)
                    ok = false;
                else if (neg)
                    del |= 1u << idx;
                else
                    add |= 1u << idx;
            }
            p = sp;
        }
        free(copy);
        if (ok) {
            c->caps = (c->caps | add) & ~del;
            client_printf(c, ":%s CAP %s ACK :%s", srv(c->d), c->nick,
                          m->params[1]);
        } else {
            client_printf(c, ":%s CAP %s NAK :%s", srv(c->d), c->nick,
                          m->params[1]);
        }
    } else if (gw_strcasecmp(sub, "END") == 0) {
        if (!c->registered) {
            c->cap_negotiating = false;
            try_register(c);
        }
    } else {
        numeric(c, "410", "%s :Invalid CAP command", sub);
    }
}

static void sasl_fail(struct gw_client *c, const char *num, const char *msg)
{
    numeric(c, num, ":%s", msg);
    gw_buf_free(&c->sasl);
    c->sasl.max = 0;
}

static void sasl_finish(struct gw_client *c)
{
    unsigned char out[GW_SASL_MAX];
    int n = 0;
    if (c->sasl.len > 0) {
        if (c->sasl.len % 4 != 0 || c->sasl.len / 4 * 3 > sizeof(out)) {
            sasl_fail(c, "904", "SASL authentication failed");
            return;
        }
        n = EVP_DecodeBlock(out, (const unsigned char *)c->sasl.data,
                            (int)c->sasl.len);
        if (n < 0) {
            sasl_fail(c, "904", "SASL authentication failed");
            return;
        }
        /* EVP_DecodeBlock counts padding as output bytes. */
        if (c->sasl.len >= 1 && c->sasl.data[c->sasl.len - 1] == '=')
            n--;
        if (c->sasl.len >= 2 && c->sasl.data[c->sasl.len - 2] == '=')
            n--;
    }
    /* authzid NUL authcid NUL password */
    unsigned char *z1 = memchr(out, 0, (size_t)n);
    unsigned char *z2 =
        z1 ? memchr(z1 + 1, 0, (size_t)(out + n - z1 - 1)) : NULL;
    if (z2 == NULL) {
        sasl_fail(c, "904", "SASL authentication failed");
        return;
    }
    char pass[GW_SASL_MAX];
    size_t plen = (size_t)(out + n - z2 - 1);
    memcpy(pass, z2 + 1, plen);
    pass[plen] = '\0';
    char authcid[64];
    size_t alen = (size_t)(z2 - z1 - 1);
    if (alen >= sizeof(authcid))
        alen = sizeof(authcid) - 1;
    memcpy(authcid, z1 + 1, alen);
    authcid[alen] = '\0';
    bool ok = strlen(pass) == plen && password_ok(c->d, pass);
    OPENSSL_cleanse(pass, sizeof(pass));
    gw_buf_free(&c->sasl);
    c->sasl.max = 0;
    if (!ok) {
        numeric(c, "904", ":SASL authentication failed");
        return;
    }
    c->sasl_ok = true;
    free(c->account);
    c->account = gw_xstrdup(authcid[0] ? authcid : c->nick);
    numeric(c, "900", "%s!%s@%s %s :You are now logged in as %s", c->nick,
            c->has_user ? c->user : "*", c->host,
            authcid[0] ? authcid : c->nick, authcid[0] ? authcid : c->nick);
    numeric(c, "903", ":SASL authentication successful");
}

static void cmd_authenticate(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *arg = m->params[0];
    if (c->registered || c->sasl_ok) {
        numeric(c, "907", ":You have already authenticated using SASL");
        return;
    }
    if (strcmp(arg, "*") == 0) {
        sasl_fail(c, "906", "SASL authentication aborted");
        return;
    }
    if (c->sasl.max == 0) {
        bool external = gw_strcasecmp(arg, "EXTERNAL") == 0 && c->tls;
        if (gw_strcasecmp(arg, "PLAIN") != 0 && !external) {
            numeric(c, "908", "%s :are available SASL mechanisms",
                    c->tls ? "PLAIN,EXTERNAL" : "PLAIN");
            numeric(c, "904", ":SASL authentication failed");
            return;
        }
        c->sasl_external = external;
        gw_buf_init(&c->sasl, GW_SASL_MAX);
        client_printf(c, "AUTHENTICATE +");
        return;
    }
    if (c->sasl_external) {
        /* The certificate is the credential: a known fingerprint. */
        c->sasl_external = false;
        gw_buf_free(&c->sasl);
        c->sasl.max = 0;
        const char *fp = gw_tls_peer_fingerprint(c->tls);
        char account[64];
        if (fp == NULL || gw_router_certfp(c->d->gw->router, fp, account,
                                           sizeof(account)) < 0) {
            numeric(c, "904", ":SASL authentication failed (%s)",
                    fp ? "this certificate is not known yet: log in once "
                         "with the password over TLS while presenting it"
                       : "no client certificate");
            return;
        }
        c->sasl_ok = true;
        free(c->account);
        c->account = gw_xstrdup(account);
        numeric(c, "900", "%s!%s@%s %s :You are now logged in as %s", c->nick,
                c->has_user ? c->user : "*", c->host, account, account);
        numeric(c, "903", ":SASL authentication successful");
        return;
    }
    size_t len = strlen(arg);
    if (strcmp(arg, "+") != 0) {
        if (len > 400 || gw_buf_append(&c->sasl, arg, len) < 0) {
            sasl_fail(c, "905", "SASL message too long");
            return;
        }
        if (len == 400)
            return; /* more chunks follow */
    }
    sasl_finish(c);
}

/* ---- commands after registration ----------------------------------- */

static void cmd_ping(struct gw_client *c, struct gw_irc_msg *m)
{
    client_printf(c, ":%s PONG %s :%s", srv(c->d), srv(c->d), m->params[0]);
}

static void cmd_pong(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    c->ping_sent = 0;
}

static void cmd_quit(struct gw_client *c, struct gw_irc_msg *m)
{
    char reason[300];
    snprintf(reason, sizeof(reason), "Quit: %s",
             m->nparams > 0 ? m->params[0] : "");
    client_close(c, reason);
}

static void cmd_join(struct gw_client *c, struct gw_irc_msg *m)
{
    if (strcmp(m->params[0], "0") == 0) {
        while (c->nchans > 0)
            channel_part(c, c->chans[0], "Left all channels");
        return;
    }
    char *copy = gw_xstrdup(m->params[0]);
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p) {
            struct gw_channel *ch = find_channel(c->d, p);
            if (!valid_channel_name(p)) {
                numeric(c, "479", "%s :Illegal channel name", p);
            } else if (ch == NULL && p[0] == '&') {
                numeric(c, "403",
                        "%s :No such channel (& channels belong to "
                        "the gateway)",
                        p);
            } else if (ch == NULL && c->nchans >= 64) {
                numeric(c, "405", "%s :You have joined too many channels", p);
            } else {
                if (ch == NULL)
                    ch = channel_new(c->d, p);
                channel_join(c, ch);
            }
        }
        p = comma;
    }
    free(copy);
}

static void cmd_part(struct gw_client *c, struct gw_irc_msg *m)
{
    char *copy = gw_xstrdup(m->params[0]);
    const char *reason = m->nparams > 1 ? m->params[1] : NULL;
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p) {
            struct gw_channel *ch = find_channel(c->d, p);
            if (ch == NULL)
                numeric(c, "403", "%s :No such channel", p);
            else if (!is_member(ch, c))
                numeric(c, "442", "%s :You're not on that channel", p);
            else
                channel_part(c, ch, reason);
        }
        p = comma;
    }
    free(copy);
}

static void cmd_names(struct gw_client *c, struct gw_irc_msg *m)
{
    if (m->nparams == 0) {
        numeric(c, "366", "* :End of /NAMES list");
        return;
    }
    struct gw_channel *ch = find_channel(c->d, m->params[0]);
    if (ch == NULL)
        numeric(c, "366", "%s :End of /NAMES list", m->params[0]);
    else
        send_names(c, ch);
}

static void cmd_topic(struct gw_client *c, struct gw_irc_msg *m)
{
    struct gw_channel *ch = find_channel(c->d, m->params[0]);
    if (ch == NULL) {
        numeric(c, "403", "%s :No such channel", m->params[0]);
        return;
    }
    if (m->nparams < 2) {
        send_topic(c, ch, true);
        return;
    }
    if (!is_member(ch, c)) {
        numeric(c, "442", "%s :You're not on that channel", ch->name);
        return;
    }
    if (ch->flags & GW_CHAN_MANAGED) {
        numeric(c, "482", "%s :The gateway sets this channel's topic",
                ch->name);
        return;
    }
    size_t tlen = strlen(m->params[1]);
    if (tlen > GW_TOPIC_MAX)
        tlen = gw_utf8_cut(m->params[1], GW_TOPIC_MAX);
    free(ch->topic);
    ch->topic = gw_xstrndup(m->params[1], tlen);
    client_prefix(c, ch->topic_by, sizeof(ch->topic_by));
    ch->topic_ms = gw_now_ms();
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = ch->topic_by;
    o.command = "TOPIC";
    o.params[0] = ch->name;
    o.params[1] = ch->topic;
    o.nparams = 2;
    send_channel(c->d, ch, &o, NULL);
}

static void who_reply(struct gw_client *c, const char *mask, const char *nick,
                      const char *user, const char *host, const char *realname,
                      bool away, bool op)
{
    numeric(c, "352", "%s %s %s %s %s %s%s :0 %s", mask, user, host, srv(c->d),
            nick, away ? "G" : "H", op ? "@" : "", realname);
}

static void cmd_who(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *mask = m->nparams > 0 ? m->params[0] : "*";
    struct gw_channel *ch = find_channel(c->d, mask);
    if (ch) {
        if (ch->flags & GW_CHAN_MANAGED)
            who_reply(c, ch->name, BOT_NICK, BOT_NICK, srv(c->d),
                      "Parley control bot", false, true);
        for (int i = 0; i < ch->nmembers; i++) {
            struct gw_client *o = ch->members[i];
            who_reply(c, ch->name, o->nick, o->user, o->host,
                      o->realname ? o->realname : "", o->away != NULL, false);
        }
        for (int i = 0; i < ch->npuppets; i++) {
            struct gw_puppet *p = ch->puppets[i];
            who_reply(c, ch->name, p->nick, p->user, p->host, p->realname,
                      false, false);
        }
    } else {
        struct gw_client *o = find_client(c->d, mask);
        struct gw_puppet *p = find_puppet(c->d, mask);
        if (o && o->registered)
            who_reply(c, "*", o->nick, o->user, o->host,
                      o->realname ? o->realname : "", o->away != NULL, false);
        else if (p)
            who_reply(c, "*", p->nick, p->user, p->host, p->realname, false,
                      false);
        else if (gw_strcasecmp(mask, BOT_NICK) == 0)
            who_reply(c, "*", BOT_NICK, BOT_NICK, srv(c->d),
                      "Parley control bot", false, false);
    }
    numeric(c, "315", "%s :End of /WHO list", mask);
}

static void whois_channels(struct gw_client *c, const char *nick,
                           struct gw_client *o, struct gw_puppet *p)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (struct gw_channel *ch = c->d->channels; ch; ch = ch->next) {
        bool in = false;
        if (o)
            in = is_member(ch, o);
        for (int i = 0; p && !in && i < ch->npuppets; i++)
            in = ch->puppets[i] == p;
        if (in && len + strlen(ch->name) + 2 < sizeof(list))
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                    len ? " " : "", ch->name);
    }
    if (len)
        numeric(c, "319", "%s :%s", nick, list);
}

static void cmd_whois(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *nick = m->params[m->nparams > 1 ? 1 : 0];
    struct gw_client *o = find_client(c->d, nick);
    struct gw_puppet *p = find_puppet(c->d, nick);
    /* Someone who quit for quiet is still someone. */
    if (o == NULL && p == NULL && gw_strcasecmp(nick, BOT_NICK) != 0 &&
        gw_router_revive_nick(c->d->gw->router, nick))
        p = find_puppet(c->d, nick);
    if (o && o->registered) {
        numeric(c, "311", "%s %s %s * :%s", o->nick, o->user, o->host,
                o->realname ? o->realname : "");
        whois_channels(c, o->nick, o, NULL);
        numeric(c, "312", "%s %s :Parley gateway", o->nick, srv(c->d));
        if (o->away)
            numeric(c, "301", "%s :%s", o->nick, o->away);
        numeric(c, "318", "%s :End of /WHOIS list", o->nick);
    } else if (p) {
        numeric(c, "311", "%s %s %s * :%s", p->nick, p->user, p->host,
                p->realname);
        whois_channels(c, p->nick, NULL, p);
        numeric(c, "312", "%s %s :Parley gateway", p->nick, srv(c->d));
        char *lines = gw_xstrdup(p->whois);
        for (char *l = lines; l && *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl++ = '\0';
            if (*l)
                numeric(c, "320", "%s :%s", p->nick, l);
            l = nl;
        }
        free(lines);
        numeric(c, "318", "%s :End of /WHOIS list", p->nick);
    } else if (gw_strcasecmp(nick, BOT_NICK) == 0) {
        numeric(c, "311", "%s %s %s * :Parley control bot", BOT_NICK, BOT_NICK,
                srv(c->d));
        numeric(c, "312", "%s %s :Parley gateway", BOT_NICK, srv(c->d));
        numeric(c, "318", "%s :End of /WHOIS list", BOT_NICK);
    } else {
        numeric(c, "401", "%s :No such nick/channel", nick);
        numeric(c, "318", "%s :End of /WHOIS list", nick);
    }
}

static void cmd_mode(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *target = m->params[0];
    if (target[0] == '#' || target[0] == '&') {
        struct gw_channel *ch = find_channel(c->d, target);
        if (ch == NULL) {
            numeric(c, "403", "%s :No such channel", target);
        } else if (m->nparams == 1) {
            numeric(c, "324", "%s +nt", ch->name);
            numeric(c, "329", "%s %lld", ch->name,
                    (long long)(ch->created_ms / 1000));
        } else if (strcmp(m->params[1], "b") == 0 ||
                   strcmp(m->params[1], "+b") == 0) {
            numeric(c, "368", "%s :End of channel ban list", ch->name);
        } else if (strcmp(m->params[1], "e") == 0 ||
                   strcmp(m->params[1], "I") == 0) {
            numeric(c, m->params[1][0] == 'e' ? "349" : "347",
                    "%s :End of list", ch->name);
        } else {
            numeric(c, "482", "%s :Channel modes are fixed on this gateway",
                    ch->name);
        }
        return;
    }
    if (gw_strcasecmp(target, c->nick) != 0) {
        if (find_client(c->d, target) || find_puppet(c->d, target))
            numeric(c, "502", ":Can't change mode for other users");
        else
            numeric(c, "401", "%s :No such nick/channel", target);
        return;
    }
    if (m->nparams == 1)
        numeric(c, "221", "+i");
    else
        numeric(c, "501", ":User modes are fixed on this gateway");
}

static void cmd_list(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    numeric(c, "321", "Channel :Users  Name");
    for (struct gw_channel *ch = c->d->channels; ch; ch = ch->next)
        numeric(c, "322", "%s %d :%s", ch->name,
                ch->nmembers + ch->npuppets +
                    ((ch->flags & GW_CHAN_MANAGED) ? 1 : 0),
                ch->topic ? ch->topic : "");
    numeric(c, "323", ":End of /LIST");
}

static void cmd_away(struct gw_client *c, struct gw_irc_msg *m)
{
    free(c->away);
    c->away = NULL;
    if (m->nparams > 0 && m->params[0][0]) {
        size_t n = strlen(m->params[0]);
        if (n > GW_AWAY_MAX)
            n = gw_utf8_cut(m->params[0], GW_AWAY_MAX);
        c->away = gw_xstrndup(m->params[0], n);
        numeric(c, "306", ":You have been marked as being away");
    } else {
        numeric(c, "305", ":You are no longer marked as being away");
    }
    peers_say(c, "AWAY", c->away, GW_CAP_AWAY_NOTIFY, false, false);
}

static void cmd_setname(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *name = m->params[0];
    size_t n = strlen(name);
    if (n == 0 || n > GW_REALNAME_MAX) {
        client_printf(c,
                      ":%s FAIL SETNAME INVALID_REALNAME :Real name must "
                      "be 1 to %d bytes",
                      srv(c->d), GW_REALNAME_MAX);
        return;
    }
    free(c->realname);
    c->realname = gw_xstrdup(name);
    peers_say(c, "SETNAME", c->realname, GW_CAP_SETNAME, true, false);
}

static void cmd_invite(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *nick = m->params[0], *chan = m->params[1];
    struct gw_client *to = find_client(c->d, nick);
    struct gw_channel *ch = find_channel(c->d, chan);
    if (to == NULL || !to->registered) {
        numeric(c, "401", "%s :No such nick/channel", nick);
        return;
    }
    if (ch == NULL) {
        numeric(c, "403", "%s :No such channel", chan);
        return;
    }
    if (!is_member(ch, c)) {
        numeric(c, "442", "%s :You're not on that channel", ch->name);
        return;
    }
    if (is_member(ch, to)) {
        numeric(c, "443", "%s %s :is already on channel", to->nick, ch->name);
        return;
    }
    numeric(c, "341", "%s %s", to->nick, ch->name);
    char prefix[256];
    client_prefix(c, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = "INVITE";
    o.params[0] = to->nick;
    o.params[1] = ch->name;
    o.nparams = 2;
    for (struct gw_client *o2 = c->d->clients; o2; o2 = o2->next) {
        bool target = gw_strcasecmp(o2->nick, to->nick) == 0;
        if (o2->registered && (target || ((o2->caps & GW_CAP_INVITE_NOTIFY) &&
                                          is_member(ch, o2) && o2 != c)))
            gw_ircd_send(o2, &o);
    }
}

static void cmd_motd(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    send_motd(c);
}

static void cmd_lusers(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    numeric(c, "251", ":There are %d users and 0 services on 1 server",
            c->d->nregistered);
    numeric(c, "255", ":I have %d clients and 0 servers", c->d->nregistered);
}

static void cmd_version(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    numeric(c, "351", "%s %s :Parley IRC gateway", PARLEY_VERSION_STR,
            srv(c->d));
    send_isupport(c);
}

static void cmd_ison(struct gw_client *c, struct gw_irc_msg *m)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < m->nparams; i++) {
        char *save = NULL;
        char *copy = gw_xstrdup(m->params[i]);
        for (char *p = strtok_r(copy, " ", &save); p;
             p = strtok_r(NULL, " ", &save)) {
            if (gw_ircd_nick_taken(c->d, p) &&
                len + strlen(p) + 2 < sizeof(list))
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                        len ? " " : "", p);
        }
        free(copy);
    }
    numeric(c, "303", ":%s", list);
}

static void cmd_userhost(struct gw_client *c, struct gw_irc_msg *m)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < m->nparams && i < 5; i++) {
        struct gw_client *o = find_client(c->d, m->params[i]);
        struct gw_puppet *p = find_puppet(c->d, m->params[i]);
        if (o && len < 300)
            len += (size_t)snprintf(list + len, sizeof(list) - len,
                                    "%s%s=%c%s@%s", len ? " " : "", o->nick,
                                    o->away ? '-' : '+', o->user, o->host);
        else if (p && len < 300)
            len +=
                (size_t)snprintf(list + len, sizeof(list) - len, "%s%s=+%s@%s",
                                 len ? " " : "", p->nick, p->user, p->host);
    }
    numeric(c, "302", ":%s", list);
}

static void deliver_message(struct gw_client *c, struct gw_irc_msg *m,
                            const char *target, bool notice, bool tagmsg)
{
    struct gw_ircd *d = c->d;
    const char *text = tagmsg ? NULL : m->params[1];
    char prefix[256], msgid[48];
    client_prefix(c, prefix, sizeof(prefix));
    next_msgid(d, msgid, sizeof(msgid));
    /* Client-only tags (+...) travel with the message. */
    struct gw_irc_tag ctags[GW_IRC_TAG_COUNT_MAX];
    int nctags = 0;
    for (int i = 0; i < m->ntags; i++)
        if (m->tags[i].key[0] == '+')
            ctags[nctags++] = m->tags[i];
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = tagmsg ? "TAGMSG" : notice ? "NOTICE" : "PRIVMSG";
    o.params[0] = target;
    o.nparams = 1;
    if (!tagmsg) {
        o.params[1] = text;
        o.nparams = 2;
    }
    o.msgid = msgid;
    o.tags = ctags;
    o.ntags = nctags;
    o.account = c->account;

    if (target[0] == '#' || target[0] == '&') {
        struct gw_channel *ch = find_channel(d, target);
        if (ch == NULL) {
            if (!notice)
                numeric(c, "403", "%s :No such channel", target);
            return;
        }
        if (!is_member(ch, c)) {
            if (!notice)
                numeric(c, "404", "%s :Cannot send to channel (join it first)",
                        ch->name);
            return;
        }
        o.params[0] = ch->name;
        struct render_cache rc;
        memset(&rc, 0, sizeof(rc));
        for (int i = 0; i < ch->nmembers; i++) {
            struct gw_client *to = ch->members[i];
            if (tagmsg && !(to->caps & GW_CAP_MESSAGE_TAGS))
                continue;
            if (to != c || (c->caps & GW_CAP_ECHO_MESSAGE))
                cache_send(d, &rc, &o, to);
        }
        cache_free(&rc);
        /* TAGMSG reaches the router too (text NULL): a reaction is an
         * action on the network. */
        if (ch->flags & GW_CHAN_MANAGED)
            gw_router_message(d->gw->router, c, m, ch->name, text, notice,
                              msgid);
        return;
    }
    /* The person's other sessions see what this one sent. */
    for (struct gw_client *sib = d->clients; sib; sib = sib->next)
        if (same_person(sib, c) &&
            (!tagmsg || (sib->caps & GW_CAP_MESSAGE_TAGS)))
            gw_ircd_send(sib, &o);
    struct gw_puppet *pup = find_puppet(d, target);
    struct gw_client *to = find_client(d, target);
    if (pup)
        puppet_touch(d, pup); /* a conversation keeps a person around */
    /* A person who quit for quiet is still known to the router. */
    if (gw_strcasecmp(target, BOT_NICK) == 0 || pup ||
        (to == NULL && gw_router_revive_nick(d->gw->router, target))) {
        if (c->caps & GW_CAP_ECHO_MESSAGE)
            gw_ircd_send(c, &o);
        gw_router_message(d->gw->router, c, m, target, text, notice, msgid);
        return;
    }
    if (to == NULL || !to->registered) {
        if (!notice)
            numeric(c, "401", "%s :No such nick/channel", target);
        return;
    }
    o.params[0] = to->nick;
    /* Every session of the person gets it. */
    for (struct gw_client *t = d->clients; t; t = t->next) {
        if (t != c && t->registered && !t->closing &&
            gw_strcasecmp(t->nick, to->nick) == 0 &&
            (!tagmsg || (t->caps & GW_CAP_MESSAGE_TAGS)) && !same_person(t, c))
            gw_ircd_send(t, &o);
    }
    if (c->caps & GW_CAP_ECHO_MESSAGE)
        gw_ircd_send(c, &o);
    if (to->away && !notice && !tagmsg)
        numeric(c, "301", "%s :%s", to->nick, to->away);
}

static void message_cmd(struct gw_client *c, struct gw_irc_msg *m, bool notice,
                        bool tagmsg)
{
    const char *cmd = tagmsg ? "TAGMSG" : notice ? "NOTICE" : "PRIVMSG";
    if (!tagmsg && (m->nparams < 2 || m->params[1][0] == '\0')) {
        if (!notice)
            numeric(c, "412", ":No text to send");
        return;
    }
    char *copy = gw_xstrdup(m->params[0]);
    int n = 0;
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p) {
            if (++n > GW_TARGETS_MAX) {
                numeric(c, "407", "%s :Too many targets for %s", p, cmd);
                break;
            }
            deliver_message(c, m, p, notice, tagmsg);
            if (c->closing)
                break;
        }
        p = comma;
    }
    free(copy);
}

static void cmd_privmsg(struct gw_client *c, struct gw_irc_msg *m)
{
    message_cmd(c, m, false, false);
}

static void cmd_notice(struct gw_client *c, struct gw_irc_msg *m)
{
    message_cmd(c, m, true, false);
}

static void cmd_tagmsg(struct gw_client *c, struct gw_irc_msg *m)
{
    message_cmd(c, m, false, true);
}

static void cmd_chathistory(struct gw_client *c, struct gw_irc_msg *m)
{
    gw_router_chathistory(c->d->gw->router, c, m);
}

static void cmd_markread(struct gw_client *c, struct gw_irc_msg *m)
{
    gw_router_markread(c->d->gw->router, c, m);
}

static void cmd_not_here(struct gw_client *c, struct gw_irc_msg *m)
{
    if (m->nparams > 0 && gw_strcasecmp(m->command, "KICK") == 0)
        numeric(c, "482", "%s :You're not channel operator", m->params[0]);
    else if (gw_strcasecmp(m->command, "OPER") == 0)
        numeric(c, "491", ":No O-lines for your host");
    else
        numeric(c, "481", ":Permission Denied- You're not an IRC operator");
}

static const struct cmd commands[] = {
    {"PASS", cmd_pass, 1, false},
    {"NICK", cmd_nick, 1, false},
    {"USER", cmd_user, 4, false},
    {"CAP", cmd_cap, 1, false},
    {"AUTHENTICATE", cmd_authenticate, 1, false},
    {"PING", cmd_ping, 1, false},
    {"PONG", cmd_pong, 0, false},
    {"QUIT", cmd_quit, 0, false},
    {"JOIN", cmd_join, 1, true},
    {"PART", cmd_part, 1, true},
    {"NAMES", cmd_names, 0, true},
    {"TOPIC", cmd_topic, 1, true},
    {"WHO", cmd_who, 0, true},
    {"WHOIS", cmd_whois, 1, true},
    {"MODE", cmd_mode, 1, true},
    {"LIST", cmd_list, 0, true},
    {"AWAY", cmd_away, 0, true},
    {"PRIVMSG", cmd_privmsg, 1, true},
    {"NOTICE", cmd_notice, 1, true},
    {"TAGMSG", cmd_tagmsg, 1, true},
    {"MOTD", cmd_motd, 0, true},
    {"LUSERS", cmd_lusers, 0, true},
    {"VERSION", cmd_version, 0, true},
    {"ISON", cmd_ison, 1, true},
    {"USERHOST", cmd_userhost, 1, true},
    {"SETNAME", cmd_setname, 1, true},
    {"CHATHISTORY", cmd_chathistory, 1, true},
    {"MARKREAD", cmd_markread, 1, true},
    {"INVITE", cmd_invite, 2, true},
    {"KICK", cmd_not_here, 2, true},
    {"OPER", cmd_not_here, 2, true},
    {"KILL", cmd_not_here, 2, true},
    {"SQUIT", cmd_not_here, 1, true},
};

/* Write one captured line with an extra tag ("label=x" or "batch=y"). */
static void write_tagged(struct gw_client *c, const char *line, size_t len,
                         const char *key, const char *value)
{
    char esc[1024], buf[GW_IRC_WIRE_MAX + 64];
    if (gw_ircmsg_escape_tag(esc, sizeof(esc), value) < 0)
        return;
    int n;
    if (len > 0 && line[0] == '@')
        n = snprintf(buf, sizeof(buf), "@%s=%s;%.*s", key, esc, (int)len - 1,
                     line + 1);
    else
        n = snprintf(buf, sizeof(buf), "@%s=%s %.*s", key, esc, (int)len, line);
    if (n > 0 && (size_t)n < sizeof(buf))
        client_write(c, buf, (size_t)n);
}

static void next_batch_id(struct gw_ircd *d, char *buf, size_t size)
{
    char n[16];
    gw_base36(++d->msg_counter, n, sizeof(n));
    snprintf(buf, size, "b%s", n);
}

/*
 * labeled-response: the whole answer to a labeled command comes back as
 * one labeled line, a labeled batch, or a labeled ACK when there was none.
 */
static void label_end(struct gw_client *c)
{
    if (c->label == NULL)
        return;
    char *label = c->label;
    c->label = NULL;
    c->capturing = false;
    struct gw_buf cap = c->capture;
    gw_buf_init(&c->capture, GW_CLIENT_SENDQ_HARD);
    int nlines = 0;
    for (size_t i = 0; i < cap.len; i++)
        if (cap.data[i] == '\n')
            nlines++;
    char id[24];
    bool batch = nlines > 1 && (c->caps & GW_CAP_BATCH);
    if (nlines == 0) {
        client_printf(c, "@label=%s :%s ACK", label, srv(c->d));
    } else if (batch) {
        next_batch_id(c->d, id, sizeof(id));
        char start[96];
        int n = snprintf(start, sizeof(start), ":%s BATCH +%s labeled-response",
                         srv(c->d), id);
        write_tagged(c, start, (size_t)n, "label", label);
        client_write(c, "\r\n", 2);
    }
    size_t pos = 0;
    for (int i = 0; i < nlines; i++) {
        char *nl = memchr(cap.data + pos, '\n', cap.len - pos);
        size_t end = (size_t)(nl - cap.data);
        size_t len = end - pos;
        if (len && cap.data[pos + len - 1] == '\r')
            len--;
        if (batch)
            write_tagged(c, cap.data + pos, len, "batch", id);
        else if (i == 0)
            write_tagged(c, cap.data + pos, len, "label", label);
        else
            client_write(c, cap.data + pos, len);
        client_write(c, "\r\n", 2);
        pos = end + 1;
    }
    if (batch)
        client_printf(c, ":%s BATCH -%s", srv(c->d), id);
    gw_buf_free(&cap);
    free(label);
}

static void dispatch_msg(struct gw_client *c, struct gw_irc_msg *mp, int rc,
                         char *line, size_t len);

static void dispatch(struct gw_client *c, char *line, size_t len)
{
    struct gw_irc_msg m;
    int rc = gw_ircmsg_parse(&m, line, len);
    const char *label = rc == 0 ? gw_ircmsg_tag(&m, "label") : NULL;
    if (label && *label && (c->caps & GW_CAP_LABELED_RESPONSE) &&
        strlen(label) <= 64) {
        c->label = gw_xstrdup(label);
        gw_buf_init(&c->capture, GW_CLIENT_SENDQ_HARD);
        c->capturing = true;
    }
    dispatch_msg(c, &m, rc, line, len);
    if (c->label && !c->closing)
        label_end(c);
}

static void dispatch_msg(struct gw_client *c, struct gw_irc_msg *mp, int rc,
                         char *line, size_t len)
{
    struct gw_irc_msg m = *mp;
    if (rc == GW_IRCMSG_EEMPTY)
        return;
    if (rc == GW_IRCMSG_ETOOLONG || rc == GW_IRCMSG_ETAGS) {
        numeric(c, "417", ":Input line was too long");
        return;
    }
    if (rc == GW_IRCMSG_ENUL) {
        gw_ircd_server_notice(c, "Ignored a line containing a NUL byte");
        return;
    }
    if (rc < 0) {
        numeric(c, "421", "* :Malformed line");
        return;
    }
    if (!gw_utf8_valid(line, len)) {
        if (c->registered)
            client_printf(c,
                          ":%s FAIL %s INVALID_UTF8 :Message rejected, "
                          "your IRC software must use UTF-8",
                          srv(c->d), m.command);
        else
            gw_ircd_server_notice(c, "Line rejected: not UTF-8");
        return;
    }
    const struct cmd *cmd = NULL;
    for (size_t i = 0; i < GW_ARRAY_LEN(commands); i++) {
        if (gw_strcasecmp(commands[i].name, m.command) == 0) {
            cmd = &commands[i];
            break;
        }
    }
    if (cmd == NULL) {
        if (c->registered)
            numeric(c, "421", "%s :Unknown command", m.command);
        else
            numeric(c, "451", ":You have not registered");
        return;
    }
    if (cmd->need_reg && !c->registered) {
        numeric(c, "451", ":You have not registered");
        return;
    }
    if (m.nparams < cmd->min_params) {
        numeric(c, "461", "%s :Not enough parameters", cmd->name);
        return;
    }
    cmd->fn(c, &m);
}

/* ---- input --------------------------------------------------------- */

static bool flood_check(struct gw_client *c)
{
    int64_t now = now_us();
    if (c->flood_us < now)
        c->flood_us = now;
    c->flood_us += GW_FLOOD_PENALTY_US;
    return c->flood_us - now <= GW_FLOOD_BURST_US;
}

static void on_throttle(uv_timer_t *t);

static void throttle_add(struct gw_client *c)
{
    struct gw_ircd *d = c->d;
    if (!c->in_throttle) {
        c->in_throttle = true;
        c->tnext = d->throttled;
        d->throttled = c;
    }
    if (!c->paused) {
        c->paused = true;
        uv_read_stop((uv_stream_t *)&c->tcp);
    }
    if (!uv_is_active((uv_handle_t *)&d->throttle))
        uv_timer_start(&d->throttle, on_throttle, THROTTLE_MS, THROTTLE_MS);
}

/*
 * Take complete lines from data[0..len), handing each to dispatch. Returns
 * how many bytes were consumed; the rest is an incomplete line, or lines
 * left for later because the client is over its flood budget.
 */
static size_t take_lines(struct gw_client *c, char *data, size_t len,
                         bool *stopped)
{
    size_t pos = 0;
    *stopped = false;
    while (pos < len && !c->closing) {
        char *start = data + pos;
        size_t avail = len - pos;
        char *nl = NULL;
        for (size_t i = 0; i < avail; i++) {
            if (start[i] == '\n' || start[i] == '\r') {
                nl = start + i;
                break;
            }
        }
        if (c->skipping) {
            if (nl == NULL) {
                c->skipped += avail;
                if (c->skipped > JUNK_MAX)
                    client_close(c, "Input line too long (no newline)");
                return len;
            }
            c->skipping = false;
            c->skipped = 0;
            pos += (size_t)(nl - start) + 1;
            continue;
        }
        if (nl == NULL) {
            if (avail > GW_IRC_WIRE_MAX) {
                numeric(c, "417", ":Input line was too long");
                c->skipping = true;
                c->skipped = avail;
                return len;
            }
            return pos;
        }
        size_t linelen = (size_t)(nl - start);
        if (linelen == 0) {
            pos++;
            continue;
        }
        if (linelen > GW_IRC_WIRE_MAX) {
            numeric(c, "417", ":Input line was too long");
            pos += linelen + 1;
            continue;
        }
        if (!flood_check(c)) {
            *stopped = true;
            c->flood_us -= GW_FLOOD_PENALTY_US;
            return pos;
        }
        c->last_rx = gw_now_ms();
        *nl = '\0';
        dispatch(c, start, linelen);
        pos += linelen + 1;
    }
    return c->closing ? len : pos;
}

static void process_input(struct gw_client *c)
{
    bool stopped;
    if (c->in.len == 0)
        return;
    size_t used = take_lines(c, c->in.data, c->in.len, &stopped);
    if (c->closing)
        return;
    gw_buf_consume(&c->in, used);
    if (c->in.len == 0 && c->in.cap > 4096)
        gw_buf_free(&c->in);
    if (stopped)
        throttle_add(c);
}

static void start_reading(struct gw_client *c);

static void on_throttle(uv_timer_t *t)
{
    struct gw_ircd *d = t->data;
    struct gw_client **pp = &d->throttled;
    while (*pp) {
        struct gw_client *c = *pp;
        if (c->closing || c->flood_us - now_us() > GW_FLOOD_BURST_US / 2) {
            pp = &c->tnext;
            continue;
        }
        *pp = c->tnext;
        c->in_throttle = false;
        c->paused = false;
        process_input(c);
        if (!c->closing && !c->paused)
            start_reading(c);
    }
    if (d->throttled == NULL)
        uv_timer_stop(t);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct gw_client *c = gw_container_of(h, struct gw_client, tcp);
    (void)suggested;
    /* One shared buffer: its data is consumed before the next read. */
    if (c->d->read_busy) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    c->d->read_busy = true;
    buf->base = c->d->read_buf;
    buf->len = SHARED_READ;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);
static void handle_input(struct gw_client *c, char *data, size_t len);

static void start_reading(struct gw_client *c)
{
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct gw_client *c = gw_container_of(s, struct gw_client, tcp);
    if (buf->base == c->d->read_buf)
        c->d->read_busy = false;
    if (nread < 0) {
        client_close(c, nread == UV_EOF ? "Connection closed"
                                        : uv_strerror((int)nread));
        return;
    }
    if (nread == 0 || c->closing)
        return;
    c->last_rx = gw_now_ms();
    c->ping_sent = 0;
    if (c->tls == NULL) {
        handle_input(c, buf->base, (size_t)nread);
        return;
    }
    /* TLS: OpenSSL sees only the bytes we hand it and hands back
     * plaintext, plus handshake bytes for the socket. */
    struct gw_buf plain;
    gw_buf_init(&plain, INBUF_MAX);
    size_t before = c->out.len;
    int rc = gw_tls_feed(c->tls, buf->base, (size_t)nread, &plain, &c->out);
    if (c->out.len != before)
        note_queue(c);
    if (plain.len)
        handle_input(c, plain.data, plain.len);
    gw_buf_free(&plain);
    if (rc < 0 && !c->closing) {
        char why[300];
        snprintf(why, sizeof(why), "TLS: %s",
                 rc == UV_EOF ? "connection closed" : gw_tls_error(c->tls));
        /* The alert (or a plaintext hint) is in out: send it, close. */
        client_close(c, why);
    }
}

/* Plaintext input: complete lines are handled, the rest is kept. */
static void handle_input(struct gw_client *c, char *data, size_t len)
{
    if (c->in.len == 0 && !c->paused) {
        /* Common case: lines straight from the read buffer; only the
         * incomplete tail is copied. */
        bool stopped;
        size_t used = take_lines(c, data, len, &stopped);
        if (c->closing)
            return;
        if (used < len)
            gw_buf_append(&c->in, data + used, len - used);
        if (stopped)
            throttle_add(c);
        return;
    }
    if (gw_buf_append(&c->in, data, len) < 0) {
        client_close(c, "Input buffer exceeded");
        return;
    }
    if (!c->paused)
        process_input(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct gw_listener *l = server->data;
    struct gw_ircd *d = l->d;
    if (status < 0) {
        gw_log(d->gw, GW_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    struct gw_client *c = gw_xcalloc(1, sizeof(*c));
    c->d = d;
    uv_tcp_init(d->gw->loop, &c->tcp);
    c->tcp.data = c;
    d->open_handles++;
    c->next = d->clients;
    if (d->clients)
        d->clients->prev = c;
    d->clients = c;
    d->nclients++;
    c->id = ++d->next_id;
    gw_strlcpy(c->nick, "*", sizeof(c->nick));
    gw_buf_init(&c->in, INBUF_MAX);
    gw_buf_init(&c->out, GW_CLIENT_SENDQ_HARD + 1024);
    gw_buf_init(&c->inflight, GW_CLIENT_SENDQ_HARD + 1024);
    c->connected = c->last_rx = gw_now_ms();
    if (l->tls)
        c->tls = gw_tls_conn_new(d->tls_ctx);
    if (uv_accept(server, (uv_stream_t *)&c->tcp) < 0) {
        client_really_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    gw_strlcpy(c->host, "unknown", sizeof(c->host));
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->host, sizeof(c->host));
            /* "::1" would look like a command's argument boundary. */
            if (c->host[0] == ':' && strlen(c->host) + 1 < sizeof(c->host)) {
                memmove(c->host + 1, c->host, strlen(c->host) + 1);
                c->host[0] = '0';
            }
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, c->host, sizeof(c->host));
        }
    }
    int max = d->gw->cfg->max_clients;
    if (d->stopping || d->nclients > max) {
        client_printf(c,
                      "ERROR :Closing link: (*@%s) [Too many connections "
                      "(%d)]",
                      c->host, max);
        c->closing = true;
        c->closing_since = gw_now_ms();
        flush_list_add(c);
        return;
    }
    start_reading(c);
}

/* The sweep runs often enough to keep ping_seconds to about a fifth, and no
 * more often than once a second: an idle gateway should sleep. */
static uint64_t sweep_ms(const struct gw_ircd *d)
{
    uint64_t ms = (uint64_t)d->gw->cfg->ping_seconds * 1000 / 5;
    return ms < 1000 ? 1000 : ms > SWEEP_MS ? SWEEP_MS : ms;
}

static void on_sweep(uv_timer_t *t)
{
    struct gw_ircd *d = t->data;
    int64_t now = gw_now_ms();
    int64_t ping_ms = (int64_t)d->gw->cfg->ping_seconds * 1000;
    uv_timer_set_repeat(t, sweep_ms(d)); /* ping_seconds may have reloaded */
    for (struct gw_client *c = d->clients; c; c = c->next) {
        if (c->closing) {
            if (!uv_is_closing((uv_handle_t *)&c->tcp) &&
                now - c->closing_since > 10000)
                client_really_close(c);
            continue;
        }
        if (!c->registered && now - c->connected > GW_REGISTRATION_TIMEOUT_MS) {
            client_close(c, "Registration timed out");
        } else if (c->soft_since &&
                   now - c->soft_since > GW_CLIENT_SENDQ_GRACE_MS) {
            client_close(c, "SendQ exceeded (client is not reading)");
        } else if (c->ping_sent && now - c->ping_sent > ping_ms) {
            client_close(c, "Ping timeout");
        } else if (!c->ping_sent && c->registered &&
                   now - c->last_rx > ping_ms) {
            c->ping_sent = now;
            client_printf(c, "PING :%s", srv(d));
        }
    }
}

/* ---- start / stop -------------------------------------------------- */

static int listen_on(struct gw_ircd *d, const struct gw_conf_addr *a, bool tls,
                     char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int rc;
    if (strchr(a->host, ':'))
        rc = uv_ip6_addr(a->host, a->port, (struct sockaddr_in6 *)&ss);
    else
        rc = uv_ip4_addr(a->host, a->port, (struct sockaddr_in *)&ss);
    if (rc < 0) {
        snprintf(err, errlen, "listen %s:%d: %s", a->host, a->port,
                 uv_strerror(rc));
        return rc;
    }
    struct gw_listener *l = gw_xcalloc(1, sizeof(*l));
    l->d = d;
    uv_tcp_init(d->gw->loop, &l->tcp);
    l->tcp.data = l;
    d->open_handles++;
    l->next = d->listeners;
    l->tls = tls;
    d->listeners = l;
    unsigned flags = strchr(a->host, ':') ? UV_TCP_IPV6ONLY : 0;
    rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&ss, flags);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&l->tcp, 511, on_connection);
    if (rc < 0) {
        snprintf(err, errlen, "cannot listen on %s%s%s:%d: %s",
                 strchr(a->host, ':') ? "[" : "", a->host,
                 strchr(a->host, ':') ? "]" : "", a->port, uv_strerror(rc));
        return rc;
    }
    /* Port 0 (tests): tell the world which port we got. */
    struct sockaddr_storage bound;
    int bl = sizeof(bound);
    if (uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &bl) == 0) {
        int port = ntohs(bound.ss_family == AF_INET6
                             ? ((struct sockaddr_in6 *)&bound)->sin6_port
                             : ((struct sockaddr_in *)&bound)->sin_port);
        gw_log(d->gw, GW_LOG_INFO, "listening%s on %s%s%s:%d",
               tls ? " (TLS)" : "", strchr(a->host, ':') ? "[" : "", a->host,
               strchr(a->host, ':') ? "]" : "", port);
    }
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    struct gw_listener *l = h->data;
    l->d->open_handles--;
    free(l);
}

int gw_ircd_start(struct gateway *gw, struct gw_ircd **out, char *err,
                  size_t errlen)
{
    struct gw_ircd *d = gw_xcalloc(1, sizeof(*d));
    d->gw = gw;
    d->read_buf = gw_xmalloc(SHARED_READ);
    gw_base36((uint64_t)gw_now_ms(), d->msgid_base, sizeof(d->msgid_base));
    uv_prepare_init(gw->loop, &d->prepare);
    d->prepare.data = d;
    uv_prepare_start(&d->prepare, on_prepare);
    uv_timer_init(gw->loop, &d->sweep);
    d->sweep.data = d;
    uv_timer_start(&d->sweep, on_sweep, sweep_ms(d), sweep_ms(d));
    uv_timer_init(gw->loop, &d->throttle);
    d->throttle.data = d;
    d->open_handles = 3;
    *out = d;
    const struct gw_config *cfg = gw->cfg;
    for (int i = 0; i < cfg->nlisten; i++) {
        int rc = listen_on(d, &cfg->listen[i], false, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (cfg->ntls_listen) {
        int rc = gw_tls_ctx_new(&d->tls_ctx, cfg->tls_cert, cfg->tls_key, err,
                                errlen);
        if (rc < 0)
            return rc;
    }
    for (int i = 0; i < cfg->ntls_listen; i++) {
        int rc = listen_on(d, &cfg->tls_listen[i], true, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

void gw_ircd_stop(struct gw_ircd *d, const char *reason)
{
    if (d == NULL || d->stopping)
        return;
    d->stopping = true;
    for (struct gw_listener *l = d->listeners; l; l = l->next)
        uv_close((uv_handle_t *)&l->tcp, on_listener_closed);
    d->listeners = NULL;
    for (struct gw_client *c = d->clients; c; c = c->next)
        client_close(c, reason);
    /* Write the goodbyes now, then close regardless of the peer. */
    on_prepare(&d->prepare);
    for (struct gw_client *c = d->clients; c; c = c->next)
        client_really_close(c);
    uv_close((uv_handle_t *)&d->prepare, handle_closed);
    uv_close((uv_handle_t *)&d->sweep, handle_closed);
    uv_close((uv_handle_t *)&d->throttle, handle_closed);
}

int gw_ircd_tls_reload(struct gw_ircd *d, char *err, size_t errlen)
{
    if (d->tls_ctx == NULL)
        return 0;
    return gw_tls_ctx_reload(d->tls_ctx, err, errlen);
}

void gw_ircd_free(struct gw_ircd *d)
{
    if (d == NULL)
        return;
    while (d->channels)
        channel_free(d, d->channels);
    while (d->puppets) {
        struct gw_puppet *p = d->puppets;
        d->puppets = p->older;
        puppet_free(p);
    }
    gw_tls_ctx_free(d->tls_ctx);
    free(d->phash);
    free(d->read_buf);
    free(d);
}
