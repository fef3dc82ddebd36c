/*
 * One connection: reading and pacing its input (flood budget, throttle),
 * queueing and writing its output (soft and hard SendQ limits), rendering a
 * line once per capability set for many recipients, and closing.
 */
#include "gw_ircd_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_gateway.h"
#include "gw_numerics.h"
#include "gw_router.h"
#include "gw_tls.h"

/* A line over the limit is skipped; this much junk without a newline
 * closes the connection (ngircd: binary junk or a TLS hello on a
 * plaintext port would keep us busy forever). */
#define JUNK_MAX (64 * 1024)

#define THROTTLE_MS 20

static void client_flush(struct gw_client *c);

static int64_t now_us(void)
{
    return gw_now_ms() * 1000;
}

/* ---- output -------------------------------------------------------- */

void gw_ircd__flush_add(struct gw_client *c)
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
 * Over the hard limit. The close waits for gw_ircd__on_prepare: we are usually
 * deep inside a loop over a channel's members (redis closes asynchronously for
 * the same reason), and closing here would change that member list under
 * the loop and recurse through every other slow member.
 */
static void sendq_full(struct gw_client *c)
{
    c->sendq_full = true;
    gw_ircd__flush_add(c);
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
    gw_ircd__flush_add(c);
}

void gw_ircd__write(struct gw_client *c, const char *data, size_t len)
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
    gw_ircd__write(c, buf, len + 2);
}

void gw_ircd__printf(struct gw_client *c, const char *fmt, ...)
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

void gw_ircd__numeric(struct gw_client *c, const char *num, const char *fmt,
                      ...)
{
    char rest[GW_IRC_LINE_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof(rest), fmt, ap);
    va_end(ap);
    gw_ircd__printf(c, ":%s %s %s %s", gw_ircd_server_name(c->d), num, c->nick,
                    rest);
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
            gw_ircd__close(c, "Write error");
        gw_ircd__really_close(c);
        return;
    }
    client_flush(c);
    if (c->arriving && !c->closing)
        gw_ircd__arrive(c);
}

/* Write what we can now; hand the rest to uv_write. */
static void client_flush(struct gw_client *c)
{
    if (c->writing || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    /* An arriving client goes on joining from on_write: always have one. */
    if (c->out.len > 0 && !c->arriving) {
        uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
        int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
        if (n > 0)
            gw_buf_consume(&c->out, (size_t)n);
        else if (n < 0 && n != UV_EAGAIN) {
            gw_buf_reset(&c->out);
            if (!c->closing)
                gw_ircd__close(c, "Write error");
            gw_ircd__really_close(c);
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
            gw_ircd__really_close(c);
    }
}

void gw_ircd__on_prepare(uv_prepare_t *h)
{
    struct gw_ircd *d = h->data;
    while (d->flush) {
        struct gw_client *c = d->flush;
        flush_list_del(c);
        if (c->sendq_full && !c->closing) {
            c->sendq_full = false;
            gw_ircd__close(c, "SendQ exceeded");
        }
        client_flush(c);
    }
}

void gw_ircd_flush(struct gw_ircd *d)
{
    gw_ircd__on_prepare(&d->prepare);
}

void gw_ircd_server_notice(struct gw_client *c, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw_ircd__printf(c, ":%s NOTICE %s :%s", gw_ircd_server_name(c->d), c->nick,
                    text);
}

void gw_ircd_server_line(struct gw_client *c, const char *fmt, ...)
{
    char text[GW_IRC_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw_ircd__printf(c, ":%s %s", gw_ircd_server_name(c->d), text);
}

void gw_ircd_fail(struct gw_client *c, const char *command, const char *code,
                  const char *context, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw_ircd__printf(c, ":%s FAIL %s %s %s%s:%s", gw_ircd_server_name(c->d),
                    command, code, context ? context : "", context ? " " : "",
                    text);
}

/* ---- formatting per capability set --------------------------------- */

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
    m.prefix = o->prefix ? o->prefix : gw_ircd_server_name(d);
    m.command = o->command;
    m.nparams = o->nparams;
    for (int i = 0; i < o->nparams; i++)
        m.params[i] = o->params[i];
    if (nick && m.nparams > 0)
        m.params[0] = nick;
    return gw_ircmsg_format(buf, size, &m);
}

void gw_ircd__cache_send(const struct gw_ircd *d, struct gw_render_cache *rc,
                         const struct gw_out *o, struct gw_client *c)
{
    if (!c->registered || c->closing || (o->stored && c->arriving))
        return;
    if (o->to_each_nick) {
        char buf[GW_IRC_WIRE_MAX + 2];
        int n = render(d, o, variant_of(c), c->nick, buf, sizeof(buf));
        if (n > 0)
            gw_ircd__write(c, buf, (size_t)n);
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
        gw_ircd__write(c, rc->line[v], (size_t)rc->len[v]);
}

void gw_ircd__cache_free(struct gw_render_cache *rc)
{
    for (int i = 0; i < V_COUNT; i++)
        free(rc->line[i]);
}

void gw_ircd_send(struct gw_client *c, const struct gw_out *o)
{
    struct gw_render_cache rc;
    memset(&rc, 0, sizeof(rc));
    gw_ircd__cache_send(c->d, &rc, o, c);
    gw_ircd__cache_free(&rc);
}

void gw_ircd_send_all(struct gw_ircd *d, const struct gw_out *o)
{
    struct gw_render_cache rc;
    memset(&rc, 0, sizeof(rc));
    for (struct gw_client *c = d->clients; c; c = c->next)
        gw_ircd__cache_send(d, &rc, o, c);
    gw_ircd__cache_free(&rc);
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
void gw_ircd__close(struct gw_client *c, const char *reason)
{
    if (c->closing)
        return;
    struct gw_ircd *d = c->d;
    gw_log(d->gw, GW_LOG_DEBUG, "client %s closing: %s", c->host, reason);
    /* A password check still running must not come back to it. */
    gw_users_cancel(c->check);
    c->check = NULL;
    if (c->registered) {
        d->nregistered--;
        struct gw_ircd_speaker s;
        gw_ircd__speaker(c, &s);
        /* Gone before its playback: it read nothing new. */
        if (!c->arriving)
            gw_router_left(d->gw->router, &s.sp);
        c->arriving = false;
        char q[300];
        snprintf(q, sizeof(q), "%s", reason);
        gw_ircd__part_all(c, q);
    } else {
        d->nwaiting--;
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
    gw_ircd__flush_add(c);
}

void gw_ircd__really_close(struct gw_client *c)
{
    flush_list_del(c);
    throttle_del(c);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

void gw_ircd__cmd_ping(struct gw_client *c, struct gw_irc_msg *m)
{
    gw_ircd__printf(c, ":%s PONG %s :%s", gw_ircd_server_name(c->d),
                    gw_ircd_server_name(c->d), m->params[0]);
}

void gw_ircd__cmd_pong(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    c->ping_sent = 0;
}

void gw_ircd__cmd_quit(struct gw_client *c, struct gw_irc_msg *m)
{
    char reason[300];
    snprintf(reason, sizeof(reason), "Quit: %s",
             m->nparams > 0 ? m->params[0] : "");
    gw_ircd__close(c, reason);
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

/* On the throttle list, which the throttle timer walks while it is not
 * empty; paused: its lines wait in c->in. */
static void throttle_list_add(struct gw_client *c)
{
    struct gw_ircd *d = c->d;
    if (!c->in_throttle) {
        c->in_throttle = true;
        c->tnext = d->throttled;
        d->throttled = c;
    }
    c->paused = true;
    if (!uv_is_active((uv_handle_t *)&d->throttle))
        uv_timer_start(&d->throttle, on_throttle, THROTTLE_MS, THROTTLE_MS);
}

static void throttle_add(struct gw_client *c)
{
    if (!c->paused)
        uv_read_stop((uv_stream_t *)&c->tcp);
    throttle_list_add(c);
}

/* A held client keeps reading: what it sends meanwhile waits in c->in
 * (bounded by INBUF_MAX), and a peer that gave up is noticed and closed
 * instead of taking its turn. */
void gw_ircd__hold(struct gw_client *c, enum gw_held what)
{
    c->held = what;
    throttle_list_add(c);
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
    /* A login verdict that has to wait holds the lines after it too: a
     * CAP END must not overtake the AUTHENTICATE it follows. */
    while (pos < len && !c->closing && !c->held) {
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
                    gw_ircd__close(c, "Input line too long (no newline)");
                return len;
            }
            c->skipping = false;
            c->skipped = 0;
            pos += (size_t)(nl - start) + 1;
            continue;
        }
        if (nl == NULL) {
            if (avail > GW_IRC_WIRE_MAX) {
                gw_ircd__too_long(c, start, avail);
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
            gw_ircd__too_long(c, start, linelen);
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
        gw_ircd__dispatch(c, start, linelen);
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

void gw_ircd__resume(struct gw_client *c)
{
    if (!c->closing && !c->held)
        process_input(c);
}

static void on_throttle(uv_timer_t *t)
{
    struct gw_ircd *d = t->data;
    struct gw_client **pp = &d->throttled;
    while (*pp) {
        struct gw_client *c = *pp;
        if (c->closing || c->flood_us - now_us() > GW_FLOOD_BURST_US / 2 ||
            (c->held && !gw_ircd__auth_ready(c))) {
            pp = &c->tnext;
            continue;
        }
        *pp = c->tnext;
        c->in_throttle = false;
        c->paused = false;
        if (c->held) {
            /* Its turn: the verdict, then the lines that waited. A
             * failure moves the address's turn on, so the next held
             * client of that address stays held in this same walk. */
            enum gw_held what = c->held;
            c->held = GW_HELD_NONE;
            gw_ircd__login_resume(c, what);
            if (c->closing || c->held)
                continue;
        }
        process_input(c);
        if (!c->closing && !c->paused)
            gw_ircd__start_reading(c);
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

void gw_ircd__start_reading(struct gw_client *c)
{
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct gw_client *c = gw_container_of(s, struct gw_client, tcp);
    if (buf->base == c->d->read_buf)
        c->d->read_busy = false;
    if (nread < 0) {
        gw_ircd__close(c, nread == UV_EOF ? "Connection closed"
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
        gw_ircd__close(c, why);
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
        gw_ircd__close(c, "Input buffer exceeded");
        return;
    }
    if (!c->paused)
        process_input(c);
}
