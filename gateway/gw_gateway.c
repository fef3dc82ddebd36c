#include "gw_gateway.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gw_http.h"
#include "gw_ircd.h"
#include "gw_limits.h"
#include "gw_relay.h"
#include "gw_router.h"
#include "gw_store.h"
#include "gw_webhook.h"

void gw_log(const struct gateway *gw, enum gw_log_level level, const char *fmt,
            ...)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (gw && level > gw->log_level)
        return;
    char ts[32];
    gw_format_time(gw_now_ms(), ts, sizeof(ts));
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One write per line keeps lines whole when stderr is shared. */
    fprintf(stderr, "%s parley[%s]: %s\n", ts, names[level], msg);
}

void gw_gateway_short(struct gateway *gw, enum gw_res_kind kind,
                      const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    if (!gw_res_note(&gw->res, kind, what, gw_now_ms()))
        return;
    const struct gw_res_short *s = &gw->res.shortage[kind];
    char advice[160];
    if (kind == GW_RES_FDS) {
        snprintf(advice, sizeof(advice),
                 "the open files limit is %llu; raise the hard limit "
                 "(LimitNOFILE= or ulimit -Hn) or run fewer accounts here",
                 (unsigned long long)gw->res.nofile);
    } else {
        gw_strlcpy(advice, "free memory or run fewer accounts here",
                   sizeof(advice));
    }
    gw_log(gw, GW_LOG_ERROR, "out of %s (%llu time(s) so far): %s; %s",
           gw_res_kind_name(kind), (unsigned long long)s->count, what, advice);
    gw_router_alert(gw->router, "out of %s: %s; %s (status shows more)",
                    gw_res_kind_name(kind), what, advice);
}

static void on_http_short(void *arg, int err, const char *what)
{
    struct gateway *gw = arg;
    gw_gateway_short(gw, err == UV_ENOMEM ? GW_RES_MEMORY : GW_RES_FDS, "%s",
                     what);
}

static void on_res_check(uv_timer_t *t)
{
    struct gateway *gw = t->data;
    size_t rss = 0;
    if (uv_resident_set_memory(&rss) < 0)
        rss = 0;
    char why[256];
    if (gw_res_memory_low(uv_get_free_memory(), uv_get_total_memory(),
                          uv_get_constrained_memory(), (uint64_t)rss, why,
                          sizeof(why)))
        gw_gateway_short(gw, GW_RES_MEMORY, "%s", why);
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct gateway *gw = h->data;
    if (signum == SIGHUP) {
        gw_log(gw, GW_LOG_INFO, "SIGHUP: reloading %s", gw->config_path);
        gw_gateway_reload(gw);
        return;
    }
    gw_log(gw, GW_LOG_INFO, "%s: stopping",
           signum == SIGTERM ? "SIGTERM" : "SIGINT");
    gw_gateway_stop(gw);
}

/*
 * Two gateways on one state directory would both send the outbox: the
 * second refuses to start. A POSIX record lock dies with its process, so a
 * kill -9 leaves nothing to clean up.
 */
static int lock_state(struct gateway *gw, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/parley.lock", gw->cfg->state_dir);
    gw->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (gw->lock_fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return UV_EIO;
    }
    struct flock fl;
    memset(&fl, 0, sizeof(fl));
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(gw->lock_fd, F_SETLK, &fl) < 0) {
        snprintf(err, errlen,
                 "another parley is already running with the "
                 "state directory %s",
                 gw->cfg->state_dir);
        return UV_EBUSY;
    }
    return 0;
}

int gw_gateway_start(struct gateway *gw, uv_loop_t *loop, struct gw_config *cfg,
                     const char *config_path, char *err, size_t errlen)
{
    memset(gw, 0, sizeof(*gw));
    gw->lock_fd = -1;
    gw->loop = loop;
    gw->cfg = cfg;
    gw->config_path = gw_xstrdup(config_path);
    gw->started_ms = gw_now_ms();
    gw->log_level = cfg->log_level;
    char msg[256];
    int rc = gw_res_raise_nofile(&gw->res, msg, sizeof(msg));
    gw_log(gw, rc < 0 ? GW_LOG_WARN : GW_LOG_INFO, "%s", msg);
    rc = gw_store_open(&gw->store, cfg->state_dir, err, errlen);
    if (rc < 0)
        return rc;
    rc = lock_state(gw, err, errlen);
    if (rc < 0)
        return rc;
    rc = gw_http_new(&gw->http, loop);
    if (rc < 0) {
        snprintf(err, errlen, "cannot start the HTTP client: %s",
                 uv_strerror(rc));
        return rc;
    }
    gw_http_on_short(gw->http, on_http_short, gw);
    uv_timer_init(loop, &gw->res_timer);
    gw->res_timer.data = gw;
    gw->res_timer_on = true;
    uv_timer_start(&gw->res_timer, on_res_check, GW_RES_CHECK_MS,
                   GW_RES_CHECK_MS);
    /* Before the router: accounts register their paths as they start. */
    if (cfg->nwebhook_listen > 0) {
        struct gw_webhook_conf wc = {
            .host = cfg->webhook_listen[0].host,
            .port = cfg->webhook_listen[0].port,
            .public_url = cfg->webhook_public_url,
            .tls_cert = cfg->webhook_tls_cert,
            .tls_key = cfg->webhook_tls_key,
            .gw = gw,
        };
        rc = gw_webhook_new(loop, &wc, &gw->webhook, err, errlen);
        if (rc < 0)
            return rc;
    }
    /* The router first: the IRC server joins it as a front-end. */
    rc = gw_router_start(gw, &gw->router, err, errlen);
    if (rc < 0)
        return rc;
    rc = gw_ircd_start(gw, &gw->ircd, err, errlen);
    if (rc < 0)
        return rc;
    rc = gw_relays_start(gw, &gw->relays, err, errlen);
    if (rc < 0)
        return rc;
    uv_signal_init(loop, &gw->sig_hup);
    uv_signal_init(loop, &gw->sig_term);
    uv_signal_init(loop, &gw->sig_int);
    gw->sig_hup.data = gw->sig_term.data = gw->sig_int.data = gw;
    uv_signal_start(&gw->sig_hup, on_signal, SIGHUP);
    uv_signal_start(&gw->sig_term, on_signal, SIGTERM);
    uv_signal_start(&gw->sig_int, on_signal, SIGINT);
    gw->signals_on = true;
    gw_log(gw, GW_LOG_INFO, "Parley started (state in %s)", cfg->state_dir);
    return 0;
}

int gw_gateway_reload(struct gateway *gw)
{
    struct gw_config *cfg = NULL;
    char err[4096];
    int rc = gw_config_load(gw->config_path, &cfg, err, sizeof(err));
    if (rc < 0) {
        gw_log(gw, GW_LOG_ERROR,
               "reload refused, keeping the running "
               "configuration:\n%s",
               err);
        return rc;
    }
    const struct gw_config *old = gw->cfg;
    bool same_listen = old->nlisten == cfg->nlisten;
    for (int i = 0; same_listen && i < cfg->nlisten; i++)
        same_listen = strcmp(old->listen[i].host, cfg->listen[i].host) == 0 &&
                      old->listen[i].port == cfg->listen[i].port;
    if (!same_listen || strcmp(old->state_dir, cfg->state_dir) != 0 ||
        strcmp(old->control_channel, cfg->control_channel) != 0 ||
        strcmp(old->server_name, cfg->server_name) != 0)
        gw_log(gw, GW_LOG_WARN,
               "listen, state_dir, server_name and "
               "control_channel changes take effect at the next restart");
    /* Keep what needs a restart as it is; take the rest. */
    struct gw_config *keep = gw->cfg;
    char *tmp;
#define KEEP(field)                                                            \
    tmp = cfg->field;                                                          \
    cfg->field = keep->field;                                                  \
    keep->field = tmp
    KEEP(state_dir);
    KEEP(server_name);
    KEEP(control_channel);
#undef KEEP
    struct gw_conf_addr *addrs = cfg->listen;
    int naddrs = cfg->nlisten;
    cfg->listen = keep->listen;
    cfg->nlisten = keep->nlisten;
    keep->listen = addrs;
    keep->nlisten = naddrs;
    gw->cfg = cfg;
    gw->log_level = cfg->log_level;
    gw_router_reload(gw->router);
    /* Before the old configuration is freed below: relays compare their
     * sections with the new ones. */
    gw_relays_reload(gw->relays);
    if (gw_ircd_tls_reload(gw->ircd, err, sizeof(err)) < 0)
        gw_log(gw, GW_LOG_ERROR, "TLS certificate not reloaded: %s", err);
    gw_config_free(keep);
    gw_log(gw, GW_LOG_INFO, "configuration reloaded");
    return 0;
}

void gw_gateway_stop(struct gateway *gw)
{
    if (gw->stopping)
        return;
    gw->stopping = true;
    gw_relays_stop(gw->relays, "Parley is shutting down");
    gw_router_stop(gw->router);
    gw_webhook_stop(gw->webhook);
    gw_ircd_stop(gw->ircd, "Parley is shutting down");
    gw_http_free(gw->http);
    gw->http = NULL;
    if (gw->res_timer_on) {
        uv_close((uv_handle_t *)&gw->res_timer, NULL);
        gw->res_timer_on = false;
    }
    if (gw->signals_on) {
        uv_close((uv_handle_t *)&gw->sig_hup, NULL);
        uv_close((uv_handle_t *)&gw->sig_term, NULL);
        uv_close((uv_handle_t *)&gw->sig_int, NULL);
        gw->signals_on = false;
    }
}

void gw_gateway_free(struct gateway *gw)
{
    gw_relays_free(gw->relays);
    gw_router_free(gw->router);
    gw_webhook_free(gw->webhook);
    gw_ircd_free(gw->ircd);
    gw_store_close(gw->store);
    gw_config_free(gw->cfg);
    free(gw->config_path);
    if (gw->lock_fd >= 0)
        close(gw->lock_fd);
    memset(gw, 0, sizeof(*gw));
}
