/*
 * The adapter runtime, the core's side: one struct gw_rt per running
 * account. It implements the runtime half of adapters/adapter.h (requests,
 * streams, timers, rate-limit holds per family, the ready state, deferred
 * action results) and is the only way the core calls into an adapter, so
 * it always knows whether adapter code is on the stack.
 *
 * The router owns accounts; it creates a runtime when an account starts
 * and stops it when the account stops. What the runtime learns that the
 * router must act on comes back through struct gw_rt_hooks.
 */
#ifndef GW_RUNTIME_H
#define GW_RUNTIME_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "adapter.h"

struct gw_http;

enum gw_rt_state {
    GW_RT_STARTING = 0, /* signing in; actions wait */
    GW_RT_READY,        /* actions go out */
    GW_RT_SIGNED_OUT,   /* refused until someone signs in; actions wait */
};

struct gw_rt_hooks {
    /* The state changed (ready, or not any more). */
    void (*state)(struct gw_adapter *ad, enum gw_rt_state st);
    /* An action's outcome, never while ops->act() is on the stack. */
    void (*action_done)(struct gw_adapter *ad, uint64_t token,
                        const struct gw_action_result *r);
    /* A request succeeded after requests had failed: the network is back,
     * so what waits for it may go now. */
    void (*recovered)(struct gw_adapter *ad);
};

/*
 * Create the runtime for ad (ad->rt) and call ops->start(). < 0 when start
 * failed; the runtime is then gone again.
 */
int gw_rt_start(struct gw_adapter *ad, uv_loop_t *loop, struct gw_http *http,
                const struct gw_rt_hooks *hooks);
/*
 * Cancel every request, stream and timer (no callback runs after this)
 * and call ops->stop() as soon as no adapter code is on the stack; ad->rt
 * and ad->priv are NULL once that has happened. Idempotent.
 */
void gw_rt_stop(struct gw_adapter *ad);
/* Is a stopped runtime still waiting for adapter code to unwind? */
bool gw_rt_stopping(const struct gw_adapter *ad);

/* Calls into the adapter. */
int gw_rt_act(struct gw_adapter *ad, const struct gw_action *a);
int gw_rt_check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                size_t errlen);
int gw_rt_login(struct gw_adapter *ad);
/* A webhook handler (gateway/webhook/): 0 without calling it when the
 * account has stopped. */
int gw_rt_webhook(struct gw_adapter *ad, gw_ad_webhook_cb cb, void *arg,
                  struct gw_webhook_req *rq);
int gw_rt_code(struct gw_adapter *ad, const char *code);

enum gw_rt_state gw_rt_state(const struct gw_adapter *ad);
/* My handle once ready ("" before), and why not ready ("" when ready). */
const char *gw_rt_me(const struct gw_adapter *ad);
/* My author id once ready: the one my own posts carry ("" before). */
const char *gw_rt_me_id(const struct gw_adapter *ad);
const char *gw_rt_why(const struct gw_adapter *ad);

struct gw_rt_status {
    char mode[32];            /* "streaming", "polling", "connecting", ... */
    char detail[512];         /* last problem, then the adapter's own */
    long ratelimit_remaining; /* the lowest a family reported, -1: unknown */
    char holds[256];          /* "write: rate limited, 42 s more", "" */
    long requests_today;      /* every family, since 00:00 UTC */
};
void gw_rt_status(struct gw_adapter *ad, struct gw_rt_status *st);

#endif
