/*
 * Relays: one per [relay NAME] section, each a front-end of the router
 * with its own connection, queue and timers. A relay lives from start to
 * stop; its connections come and go (reconnected with back-off and
 * jitter), and it keeps a copy of its section, since a reload frees the
 * configuration it came from.
 */
#include "gw_relay_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_tls.h"

/* Reconnecting: from 1 s, doubling to 5 minutes, each with jitter. */
#define RECONNECT_MIN_MS 1000
#define RECONNECT_MAX_MS (5 * 60 * 1000)
/* From the first byte out to the welcome: a server slower than this is
 * not coming. */
#define REGISTER_TIMEOUT_MS 60000
/* A server silent this long is asked with a PING; twice as long, and the
 * connection is taken for dead. */
#define IDLE_PING_MS 120000
#define IDLE_DEAD_MS 240000

void gw_relay__error(struct gw_relay *rl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rl->last_error, sizeof(rl->last_error), fmt, ap);
    va_end(ap);
    gw_log(rl->gw, GW_LOG_WARN, "relay %s: %s", rl->cfg.name, rl->last_error);
}

struct relay_chan *gw_relay__chan(struct gw_relay *rl, const char *name)
{
    for (int i = 0; i < rl->nchans; i++)
        if (gw_strcasecmp(rl->chans[i].name, name) == 0)
            return &rl->chans[i];
    return NULL;
}

bool gw_relay__carries(const struct gw_relay *rl, const char *account)
{
    for (int i = 0; i < rl->cfg.naccount_names; i++)
        if (gw_strcasecmp(rl->cfg.account_names[i], account) == 0)
            return true;
    return false;
}

/* ---- copying a section -------------------------------------------------- */

static char *dup0(const char *s)
{
    return s != NULL ? gw_xstrdup(s) : NULL;
}

static void conf_copy(struct gw_conf_relay *d, const struct gw_conf_relay *s)
{
    memset(d, 0, sizeof(*d));
    d->name = dup0(s->name);
    d->line = s->line;
    d->server = dup0(s->server);
    d->host = dup0(s->host);
    d->port = s->port;
    d->tls = s->tls;
    d->tls_ca = dup0(s->tls_ca);
    d->tls_verify = s->tls_verify;
    d->nick = dup0(s->nick);
    d->password = dup0(s->password);
    d->sasl_user = dup0(s->sasl_user);
    d->sasl_password = dup0(s->sasl_password);
    d->nickserv_password = dup0(s->nickserv_password);
    d->channels = dup0(s->channels);
    d->accounts = dup0(s->accounts);
    d->dm_channel = dup0(s->dm_channel);
    d->flood_lines = s->flood_lines;
    d->flood_seconds = s->flood_seconds;
    d->chans = gw_xcalloc((size_t)s->nchans + 1, sizeof(*d->chans));
    for (int i = 0; i < s->nchans; i++) {
        d->chans[i].name = dup0(s->chans[i].name);
        d->chans[i].key = dup0(s->chans[i].key);
    }
    d->nchans = s->nchans;
    d->account_names =
        gw_xcalloc((size_t)s->naccount_names + 1, sizeof(char *));
    for (int i = 0; i < s->naccount_names; i++)
        d->account_names[i] = dup0(s->account_names[i]);
    d->naccount_names = s->naccount_names;
    d->kv = gw_xcalloc((size_t)s->nkv + 1, sizeof(*d->kv));
    for (int i = 0; i < s->nkv; i++) {
        d->kv[i].key = dup0(s->kv[i].key);
        d->kv[i].value = dup0(s->kv[i].value);
        d->kv[i].line = s->kv[i].line;
    }
    d->nkv = s->nkv;
}

/* ---- connecting --------------------------------------------------------- */

static void relay_maybe_free(struct gw_relay *rl);

static void on_reconnect(uv_timer_t *t);

static void start_connection(struct gw_relay *rl)
{
    if (rl->stopping || rl->conn != NULL)
        return;
    rl->registered = false;
    rl->userhost[0] = '\0';
    rl->nick_tries = 0;
    rl->naccounts = 0;
    rl->send_blocked = false;
    gw_strlcpy(rl->nick, rl->cfg.nick, sizeof(rl->nick));
    gw_relay_bucket_init(&rl->bucket, rl->cfg.flood_lines,
                         rl->cfg.flood_seconds, gw_now_ms());
    for (int i = 0; i < rl->nchans; i++) {
        rl->chans[i].joined = rl->chans[i].join_sent = false;
        rl->chans[i].join_at_ms = 0;
    }
    rl->attempt_ms = rl->last_rx_ms = gw_now_ms();
    rl->ping_sent_ms = 0;
    int rc = gw_relay__connect(rl);
    if (rc < 0) {
        gw_relay__error(rl, "cannot resolve %s: %s", rl->cfg.host,
                        uv_strerror(rc));
        gw_relay__conn_gone(rl);
    }
}

void gw_relay__conn_gone(struct gw_relay *rl)
{
    bool was = rl->registered;
    rl->registered = false;
    /* What was queued is not lost: the read positions stand before it, and
     * the next JOIN plays it back from the store. */
    gw_relay__queue_clear(rl);
    for (int i = 0; i < rl->nchans; i++)
        rl->chans[i].joined = rl->chans[i].join_sent = false;
    if (rl->stopping) {
        relay_maybe_free(rl);
        return;
    }
    long delay = gw_backoff_next(&rl->backoff);
    rl->reconnects++;
    gw_log(rl->gw, GW_LOG_INFO, "relay %s: %sreconnecting in %ld ms",
           rl->cfg.name, was ? "disconnected; " : "", delay);
    uv_timer_start(&rl->reconnect_timer, on_reconnect, (uint64_t)delay, 0);
}

static void on_reconnect(uv_timer_t *t)
{
    start_connection(t->data);
}

/* Every second: channels to (re)join, our nick, a server gone quiet, a
 * registration that never finishes. */
static void on_tick(uv_timer_t *t)
{
    struct gw_relay *rl = t->data;
    if (rl->conn == NULL)
        return;
    int64_t now = gw_now_ms();
    if (!rl->registered) {
        if (now - rl->attempt_ms > REGISTER_TIMEOUT_MS)
            gw_relay__drop(rl, "no welcome from the server within 60 s");
        return;
    }
    gw_relay__join_due(rl, now);
    gw_relay__ison_due(rl, now);
    if (now - rl->last_rx_ms > IDLE_DEAD_MS) {
        gw_relay__drop(rl, "the server stopped answering (ping timeout)");
    } else if (now - rl->last_rx_ms > IDLE_PING_MS && rl->ping_sent_ms == 0) {
        rl->ping_sent_ms = now;
        gw_relay__raw(rl, "PING :parley");
    }
    gw_relay__pump(rl);
}

/* ---- one relay ---------------------------------------------------------- */

static void on_timer_closed(uv_handle_t *h)
{
    struct gw_relay *rl = h->data;
    rl->handles--;
    relay_maybe_free(rl);
}

/* A stopped relay goes when its timers and its connection have. */
static void relay_maybe_free(struct gw_relay *rl)
{
    if (rl->handles == 0 && rl->freed_by_close && rl->conn == NULL) {
        gw_relay__queue_clear(rl);
        gw_tls_ctx_free(rl->tls);
        for (int i = 0; i < rl->nchans; i++) {
            free(rl->chans[i].name);
            free(rl->chans[i].key);
        }
        free(rl->chans);
        gw_conf_relay_free(&rl->cfg);
        free(rl);
    }
}

static void add_chan(struct gw_relay *rl, const char *name, const char *key,
                     bool accounts, bool dms)
{
    struct relay_chan *ch = gw_relay__chan(rl, name);
    if (ch == NULL) {
        ch = &rl->chans[rl->nchans++];
        memset(ch, 0, sizeof(*ch));
        ch->name = gw_xstrdup(name);
        ch->key = key != NULL ? gw_xstrdup(key) : NULL;
    }
    ch->accounts |= accounts;
    ch->dms |= dms;
}

static struct gw_relay *relay_new(struct gw_relays *rs,
                                  const struct gw_conf_relay *cfg, char *err,
                                  size_t errlen)
{
    struct gateway *gw = rs->gw;
    struct gw_relay *rl = gw_xcalloc(1, sizeof(*rl));
    rl->rs = rs;
    rl->gw = gw;
    conf_copy(&rl->cfg, cfg);
    if (rl->cfg.tls) {
        char why[300];
        int rc = gw_tls_client_ctx_new(&rl->tls, rl->cfg.tls_ca,
                                       rl->cfg.tls_verify, why, sizeof(why));
        if (rc < 0) {
            snprintf(err, errlen, "%s:%d: [relay %s]: %s", gw->cfg->path,
                     rl->cfg.line, rl->cfg.name, why);
            gw_conf_relay_free(&rl->cfg);
            free(rl);
            return NULL;
        }
    }
    rl->chans = gw_xcalloc((size_t)rl->cfg.nchans + 1, sizeof(*rl->chans));
    for (int i = 0; i < rl->cfg.nchans; i++)
        add_chan(rl, rl->cfg.chans[i].name, rl->cfg.chans[i].key, true, false);
    if (rl->cfg.dm_channel != NULL)
        add_chan(rl, rl->cfg.dm_channel, NULL, false, true);
    gw_relay__queue_init(rl);
    gw_relay__front_init(rl);
    rl->backoff.min_ms = RECONNECT_MIN_MS;
    rl->backoff.max_ms = RECONNECT_MAX_MS;
    uv_timer_init(gw->loop, &rl->reconnect_timer);
    uv_timer_init(gw->loop, &rl->send_timer);
    uv_timer_init(gw->loop, &rl->tick_timer);
    rl->reconnect_timer.data = rl->send_timer.data = rl->tick_timer.data = rl;
    rl->handles = 3;
    uv_timer_start(&rl->tick_timer, on_tick, 1000, 1000);
    if (!rl->cfg.tls)
        gw_log(gw, GW_LOG_WARN,
               "relay %s: %s without TLS: the team's lines and any "
               "password cross the network in the clear",
               rl->cfg.name, rl->cfg.server);
    gw_router_attach(gw->router, &rl->fe);
    start_connection(rl);
    return rl;
}

static void relay_stop(struct gw_relay *rl, const char *reason)
{
    if (rl->stopping)
        return;
    gw_router_detach(rl->gw->router, &rl->fe);
    rl->stopping = true;
    if (rl->conn != NULL)
        gw_relay__quit(rl, reason);
    rl->freed_by_close = true;
    uv_close((uv_handle_t *)&rl->reconnect_timer, on_timer_closed);
    uv_close((uv_handle_t *)&rl->send_timer, on_timer_closed);
    uv_close((uv_handle_t *)&rl->tick_timer, on_timer_closed);
}

/* ---- all relays --------------------------------------------------------- */

int gw_relays_start(struct gateway *gw, struct gw_relays **out, char *err,
                    size_t errlen)
{
    struct gw_relays *rs = gw_xcalloc(1, sizeof(*rs));
    rs->gw = gw;
    *out = rs;
    struct gw_relay **tail = &rs->list;
    for (int i = 0; i < gw->cfg->nrelays; i++) {
        struct gw_relay *rl = relay_new(rs, &gw->cfg->relays[i], err, errlen);
        if (rl == NULL)
            return UV_EINVAL;
        *tail = rl;
        tail = &rl->next;
    }
    return 0;
}

void gw_relays_reload(struct gw_relays *rs)
{
    if (rs == NULL)
        return;
    const struct gw_config *cfg = rs->gw->cfg;
    struct gw_relay *keep = NULL, **ktail = &keep;
    struct gw_relay *rl = rs->list;
    while (rl != NULL) {
        struct gw_relay *next = rl->next;
        bool same = false;
        for (int i = 0; i < cfg->nrelays && !same; i++)
            same = gw_conf_relay_same(&rl->cfg, &cfg->relays[i]);
        if (same) {
            rl->next = NULL;
            *ktail = rl;
            ktail = &rl->next;
        } else {
            gw_log(rs->gw, GW_LOG_INFO, "relay %s: changed or removed",
                   rl->cfg.name);
            relay_stop(rl, "Parley's relay is being reconfigured");
        }
        rl = next;
    }
    rs->list = keep;
    for (int i = 0; i < cfg->nrelays; i++) {
        bool have = false;
        for (struct gw_relay *k = rs->list; k != NULL && !have; k = k->next)
            have = gw_conf_relay_same(&k->cfg, &cfg->relays[i]);
        if (have)
            continue;
        char err[400];
        struct gw_relay *n = relay_new(rs, &cfg->relays[i], err, sizeof(err));
        if (n == NULL) {
            gw_log(rs->gw, GW_LOG_ERROR, "%s", err);
            continue;
        }
        *ktail = n;
        ktail = &n->next;
    }
}

void gw_relays_stop(struct gw_relays *rs, const char *reason)
{
    if (rs == NULL)
        return;
    for (struct gw_relay *rl = rs->list; rl != NULL; rl = rl->next)
        relay_stop(rl, reason);
    rs->list = NULL;
}

void gw_relays_free(struct gw_relays *rs)
{
    free(rs);
}
