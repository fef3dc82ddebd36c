/*
 * struct gateway: the one object that owns everything. The loop, the
 * configuration, the store, the HTTP client, the IRC server, the router and
 * the account instances all hang off it; nothing else is mutable global
 * state, so two gateways can live in one process (the loop tests do that).
 */
#ifndef GW_GATEWAY_H
#define GW_GATEWAY_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "gw_config.h"
#include "gw_res.h"
#include "gw_util.h"

struct gw_store;
struct gw_http;
struct gw_ircd;
struct gw_router;
struct gw_relays;
struct gw_webhook;
struct gw_adapter_ops;

struct gateway {
    uv_loop_t *loop;
    struct gw_config *cfg;      /* current configuration (swapped on reload) */
    char *config_path;          /* as given with -c */
    struct gw_store *store;     /* the database */
    struct gw_http *http;       /* libcurl multi on the loop */
    struct gw_ircd *ircd;       /* listeners and IRC clients */
    struct gw_router *router;   /* accounts, events, actions, control channel */
    struct gw_webhook *webhook; /* [webhook] listener, NULL without one */
    struct gw_relays *relays;   /* bots in other IRC networks ([relay]) */
    /* Networks besides the build's (adapters/registry.c): the unit tests'
     * "test" network. NULL-terminated, or NULL. */
    const struct gw_adapter_ops *const *extra_networks;
    uv_signal_t sig_hup;
    uv_signal_t sig_term;
    uv_signal_t sig_int;
    bool signals_on;
    struct gw_res res;    /* open-files limit and shortages seen */
    uv_timer_t res_timer; /* the memory check, every GW_RES_CHECK_MS */
    bool res_timer_on;
    int lock_fd; /* state_dir/parley.lock, held while running */
    bool stopping;
    int64_t started_ms;
    enum gw_log_level log_level;
};

/* Open the store, start HTTP, listeners and accounts. err says why not. */
int gw_gateway_start(struct gateway *gw, uv_loop_t *loop, struct gw_config *cfg,
                     const char *config_path, char *err, size_t errlen);
/* Graceful stop: close clients, stop adapters, flush; the loop then ends. */
void gw_gateway_stop(struct gateway *gw);
/* Free what remains after the loop has run dry. */
void gw_gateway_free(struct gateway *gw);
/* Re-read the config file; on error keep the old one and say why. */
int gw_gateway_reload(struct gateway *gw);

/* Descriptors or memory ran short at `what`: logged, said in the control
 * channel (at most once per GW_RES_TELL_MS) and counted for `status`. */
void gw_gateway_short(struct gateway *gw, enum gw_res_kind kind,
                      const char *fmt, ...) GW_PRINTF(3, 4);

/* Log to stderr with a level and a timestamp. Never pass secrets. */
void gw_log(const struct gateway *gw, enum gw_log_level level, const char *fmt,
            ...) GW_PRINTF(3, 4);

#endif
