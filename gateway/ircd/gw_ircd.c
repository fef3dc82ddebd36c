/*
 * The IRC server's life: start (listeners, timers), accepting connections,
 * the sweep that times out registrations, slow readers and silent clients,
 * stop and free; and the public accessors of the server and its clients.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_gateway.h"
#include "gw_tls.h"

#define SWEEP_MS 5000

/* ---- accessors ----------------------------------------------------- */

const char *gw_ircd_bot(const struct gw_ircd *d)
{
    (void)d;
    return BOT_NICK;
}

const char *gw_ircd_server_name(const struct gw_ircd *d)
{
    return d->gw->cfg->server_name;
}

int gw_ircd_client_count(const struct gw_ircd *d)
{
    return d->nregistered;
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

void gw_client_prefix(const struct gw_client *c, char *buf, size_t size)
{
    int n = snprintf(buf, size, "%s!%s@%s", c->nick, c->user, c->host);
    (void)n; /* nick, user and host are bounded well below 256 */
}

bool gw_client_same_person(const struct gw_client *a, const struct gw_client *b)
{
    return a == b || gw_ircd__same_person(a, b);
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

/* ---- accepting and sweeping ---------------------------------------- */

/*
 * Connections that never register must not lock real clients out: when
 * max_unregistered of them are open, the oldest goes to make room. The
 * list is newest first, so the last one found is the oldest; the walk is
 * bounded by max_clients + max_unregistered.
 */
static void evict_oldest_waiting(struct gw_ircd *d, const struct gw_client *c)
{
    struct gw_client *oldest = NULL;
    for (struct gw_client *o = d->clients; o; o = o->next)
        if (o != c && !o->registered && !o->closing)
            oldest = o;
    if (oldest != NULL)
        gw_ircd__close(oldest, "Too many connections still registering");
}

static void on_connection(uv_stream_t *server, int status)
{
    struct gw_listener *l = server->data;
    struct gw_ircd *d = l->d;
    if (status == UV_EMFILE || status == UV_ENFILE || status == UV_ENOMEM) {
        /* libuv's EMFILE trick has accepted and closed the waiting
         * connections, so this does not spin; the client sees a reset. */
        gw_gateway_short(
            d->gw, status == UV_ENOMEM ? GW_RES_MEMORY : GW_RES_FDS,
            "an IRC client could not be accepted (%s)", uv_strerror(status));
        return;
    }
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
        gw_ircd__really_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    int sndbuf = GW_CLIENT_SOCKBUF;
    uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf);
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
    if (d->stopping || d->nregistered >= max) {
        gw_ircd__printf(c,
                        "ERROR :Closing link: (*@%s) [Too many connections "
                        "(%d)]",
                        c->host, max);
        c->closing = true;
        c->closing_since = gw_now_ms();
        gw_ircd__flush_add(c);
        return;
    }
    if (d->nwaiting >= d->gw->cfg->max_unregistered)
        evict_oldest_waiting(d, c);
    d->nwaiting++;
    gw_ircd__start_reading(c);
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
                gw_ircd__really_close(c);
            continue;
        }
        if (!c->registered && now - c->connected > GW_REGISTRATION_TIMEOUT_MS) {
            gw_ircd__close(c, "Registration timed out");
        } else if (c->soft_since &&
                   now - c->soft_since > GW_CLIENT_SENDQ_GRACE_MS) {
            gw_ircd__close(c, "SendQ exceeded (client is not reading)");
        } else if (c->ping_sent && now - c->ping_sent > ping_ms) {
            gw_ircd__close(c, "Ping timeout");
        } else if (!c->ping_sent && c->registered &&
                   now - c->last_rx > ping_ms) {
            c->ping_sent = now;
            gw_ircd__printf(c, "PING :%s", gw_ircd_server_name(d));
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
    uv_prepare_start(&d->prepare, gw_ircd__on_prepare);
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
    gw_ircd__front_init(d);
    gw_router_attach(gw->router, &d->fe);
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
        gw_ircd__close(c, reason);
    /* Write the goodbyes now, then close regardless of the peer. */
    gw_ircd__on_prepare(&d->prepare);
    for (struct gw_client *c = d->clients; c; c = c->next)
        gw_ircd__really_close(c);
    uv_close((uv_handle_t *)&d->prepare, handle_closed);
    uv_close((uv_handle_t *)&d->sweep, handle_closed);
    uv_close((uv_handle_t *)&d->throttle, handle_closed);
    if (d->fe.ops != NULL)
        gw_router_detach(d->gw->router, &d->fe);
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
        gw_ircd__channel_free(d, d->channels);
    while (d->puppets) {
        struct gw_puppet *p = d->puppets;
        d->puppets = p->older;
        gw_ircd__puppet_free(p);
    }
    gw_tls_ctx_free(d->tls_ctx);
    gw_ircd__auth_free(d);
    gw_names_free(&d->puppet_nicks);
    gw_names_free(&d->channel_names);
    free(d->read_buf);
    free(d);
}
