/*
 * The [webhook] listener: an HTTP server on the gateway's loop for what
 * networks push (Meta's Graph webhooks, LinkedIn's). HTTP/1.1 (and TLS
 * when tls_cert/tls_key are set) is libh2o's: it is built on libuv, so
 * it runs on our loop, and parsing HTTP is not something to write again.
 *
 * Adapters register handlers per path with gw_ad_webhook() (adapter.h has
 * the contract); this file matches paths, copies each request (method,
 * path, query, headers, the exact body) so that it outlives the client,
 * offers it to the handlers of its path and answers once every handler
 * that took it has answered: after their events are committed, so that a
 * network redelivers whatever was not stored.
 *
 * struct gw_webhook is owned by struct gateway (gw->webhook): started
 * after the router, stopped after the accounts, freed after the loop has
 * run dry.
 */
#ifndef GW_WEBHOOK_H
#define GW_WEBHOOK_H

#include <uv.h>

#include "adapter.h"

struct gateway;
struct gw_webhook;

struct gw_webhook_conf {
    const char *host;       /* listen address */
    int port;               /* 0: any free port (tests) */
    const char *public_url; /* may be NULL */
    const char *tls_cert;   /* both or neither */
    const char *tls_key;
    const struct gateway *gw; /* for gw_log(); may be NULL */
};

/* Listen. < 0 with err filled when the address or the certificate will
 * not do. */
int gw_webhook_new(uv_loop_t *loop, const struct gw_webhook_conf *c,
                   struct gw_webhook **out, char *err, size_t errlen);
/* The port it listens on (for port 0). */
int gw_webhook_port(const struct gw_webhook *wh);
/* Register a handler for ad (gw_ad_webhook() without the gateway). */
int gw_webhook_register(struct gw_webhook *wh, struct gw_adapter *ad,
                        const char *path, gw_ad_webhook_cb cb, void *arg);
/* ad stops: its handlers go, and what it took and did not answer gets
 * 503. Called by the runtime; NULL-safe. */
void gw_webhook_forget(struct gw_webhook *wh, struct gw_adapter *ad);
/* Stop listening, answer what waits with 503, close connections once
 * their current exchange ends; the loop then runs dry. Idempotent. */
void gw_webhook_stop(struct gw_webhook *wh);
/* After the loop has run dry. NULL is fine. */
void gw_webhook_free(struct gw_webhook *wh);

/* Counters for status and tests. */
struct gw_webhook_stats {
    long requests; /* answered, any status */
    long refused;  /* 403: no handler took it */
    long pending;  /* waiting for a handler's answer */
    int connections;
};
void gw_webhook_stats(const struct gw_webhook *wh, struct gw_webhook_stats *st);

#endif
