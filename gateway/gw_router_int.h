/*
 * Router internals shared by gw_router.c (accounts, events, outbox) and
 * gw_control.c (the control channel's commands). Nothing else includes it.
 */
#ifndef GW_ROUTER_INT_H
#define GW_ROUTER_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "adapter.h"
#include "gw_router.h"

struct gw_setting {
    char *key;
    char *value;
};

/* One social account: its settings, its adapter instance, its channel. */
struct gw_account {
    struct gw_account *next;
    struct gw_router *r;
    char *name;
    char *network;
    char *channel;
    bool post_plain;
    bool enabled;
    bool from_config;
    bool running;
    const struct gw_adapter_ops *ops;
    struct gw_adapter ad;
    struct gw_setting *settings; /* effective: config, then store */
    int nsettings;
    char *cw_next; /* "!cw": content warning for the next post */
    int64_t last_event_ms;
    /* A cursor the adapter moved in the open group transaction, stored
     * when the group commits: a burst moves it once per event. */
    char *cursor_name, *cursor_value;
};

struct gw_router {
    struct gateway *gw;
    struct gw_account *accounts;
    uv_timer_t outbox_timer;
    bool outbox_timer_on;
    /* Outbox ids handed to an adapter and not yet done. */
    int64_t *inflight;
    int ninflight, capinflight;
    /* Read-only queries (!thread, !who) waiting for an adapter. */
    struct gw_query *queries;
    uint64_t next_query;
    struct gw_ad_timer *timers; /* adapter timers alive */
    /* Group commit: events of one loop iteration share a transaction, and
     * what they show waits until it is committed (before the loop sleeps). */
    uv_prepare_t group_prepare;
    uv_timer_t checkpoint_timer; /* WAL checkpoints off the message path */
    bool group_open;
    int64_t group_seen;         /* newest history id stored in the group */
    struct gw_pending *pending; /* shows waiting for the commit */
    struct gw_pending **pending_tail;
    int open_handles;
    bool stopping;
};

struct gw_account *gw__router_account(struct gw_router *r, const char *name);
struct gw_account *gw__router_account_by_channel(struct gw_router *r,
                                                 const char *channel);
/* Build the effective settings again and restart the adapter if it runs. */
void gw__router_account_refresh(struct gw_account *a, bool restart);
/* Create from the store (account add) or drop (account del). */
struct gw_account *gw__router_account_load(struct gw_router *r,
                                           const char *name);
void gw__router_account_drop(struct gw_account *a);
void gw__router_account_start(struct gw_account *a);
void gw__router_account_stop(struct gw_account *a);
const char *gw__account_setting(const struct gw_account *a, const char *key);
/* Where config defined the key, the line; 0 otherwise. */
int gw__account_config_line(const struct gw_account *a, const char *key);

/* The control channel: a command line typed by nick. reply_to is the
 * channel, or the nick for a query with the bot. */
void gw__control_command(struct gw_router *r, struct gw_client *c,
                         const char *reply_to, const char *line);
/* Say something in the control channel. */
void gw__control_say(struct gw_router *r, const char *fmt, ...) GW_PRINTF(2, 3);
void gw__router_outbox_kick(struct gw_router *r);
/* Commit the group transaction and show what it holds (see gw_router.c). */
void gw__router_group_flush(struct gw_router *r);
/* Re-dispatch a failed outbox item. */
int gw__router_outbox_retry(struct gw_router *r, int64_t id);

#endif
