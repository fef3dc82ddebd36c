/*
 * The one interface between Parley's core and a social network.
 *
 * An adapter is a const ops table (one per network, serving any number of
 * accounts) plus a per-account instance, struct gw_adapter. The core calls
 * the adapter through ops; the adapter calls the core only through the
 * gw_ad_*() upcalls declared here. Adapters know nothing about IRC: they
 * hand the router social events and carry out actions the router asks for.
 *
 * Adapters may also use the pure helpers of gw_util.h and gw_text.h and the
 * HTTP client of gw_http.h (through gw_ad_http()). They never touch
 * SQLite, uv handles or IRC clients.
 *
 * Lifetime: the core creates the instance, calls ops->start() (which
 * allocates priv) and later ops->stop() (which frees priv and cancels
 * everything it started); no upcall may happen after stop() returns.
 */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_http.h"
#include "gw_text.h"
#include "gw_util.h"

#define GW_ADAPTER_ABI 1

struct gateway;
struct gw_adapter;

/* ---- inbound: what an adapter hands to the router -------------------- */

enum gw_event_kind {
    GW_EV_MENTION = 1, /* someone mentioned me */
    GW_EV_REPLY,       /* a reply to one of my posts */
    GW_EV_QUOTE,       /* a quote of one of my posts */
    GW_EV_DM,          /* a direct message */
    GW_EV_EDIT,        /* a post I have seen was edited (id = that post) */
    GW_EV_DELETE,      /* a post was deleted (id = that post) */
    GW_EV_FAV,         /* my post (target_id) was favourited */
    GW_EV_BOOST,       /* my post (target_id) was boosted */
    GW_EV_FOLLOW,      /* someone followed me (id = notification id) */
    GW_EV_OWN,         /* one of my own posts (e.g. made from the web) */
};

struct gw_media {
    const char *url;
    const char *alt;  /* description, may be NULL */
    const char *type; /* "image", "video", ... may be NULL */
};

struct gw_event {
    enum gw_event_kind kind;
    const char *id;          /* network id of the post/notification */
    const char *author;      /* full handle "alice@example.social" */
    const char *author_name; /* display name, may be NULL */
    const char *author_url;  /* profile URL, may be NULL */
    const char *text;        /* plain text (already rendered), may be "" */
    const char *url;         /* the post's URL, may be NULL */
    const char *cw;          /* content warning, NULL when none */
    const struct gw_media *media;
    int nmedia;
    const char *in_reply_to;     /* network id of the parent, may be NULL */
    const char *conversation;    /* thread or DM conversation id, may be NULL */
    const char *visibility;      /* "public" "unlisted" "private" "direct" */
    const char *const *mentions; /* other participants' full handles */
    int nmentions;
    const char *target_id; /* FAV/BOOST: my post's network id */
    int64_t created_ms;    /* the post's own time; 0 = now */
    const char *extra;     /* adapter JSON stored with the post, may be NULL */
};

/* ---- outbound: what the router asks an adapter to do ----------------- */

enum gw_action_kind {
    GW_ACT_POST = 1, /* text, cw, visibility */
    GW_ACT_REPLY,    /* text, cw, parent */
    GW_ACT_DM,       /* text, handle (or parent for a DM thread) */
    GW_ACT_FAV,      /* parent */
    GW_ACT_UNFAV,
    GW_ACT_BOOST,
    GW_ACT_UNBOOST,
    GW_ACT_DELETE, /* parent = my post */
    GW_ACT_FOLLOW, /* handle */
    GW_ACT_UNFOLLOW,
    GW_ACT_THREAD, /* parent: answer with lines of the thread */
    GW_ACT_WHO,    /* handle: answer with lines about the account */
    GW_ACT_KIND_MAX,
};

/* What the router knows of a stored post an action refers to. */
struct gw_post_ref {
    const char *id;              /* network id */
    const char *author;          /* full handle */
    const char *visibility;      /* may be NULL */
    const char *cw;              /* may be NULL */
    const char *conversation;    /* may be NULL */
    const char *const *mentions; /* other participants, full handles */
    int nmentions;
    const char *extra; /* the JSON the adapter stored with the event */
};

struct gw_action {
    uint64_t token; /* pass back to gw_ad_action_done() */
    enum gw_action_kind kind;
    const char *text;       /* already stripped of IRC formatting */
    const char *cw;         /* content warning for this post, or NULL */
    const char *visibility; /* requested, or NULL for the default */
    const char *handle;     /* DM/FOLLOW/WHO target handle, as typed */
    const struct gw_post_ref *parent; /* REPLY/FAV/.../THREAD; or NULL */
    const char *idem_key; /* same on every attempt of one outbox item */
};

enum gw_action_status {
    GW_ACT_OK = 0,
    GW_ACT_RETRY = 1,       /* transient (network, 5xx, 429): try later */
    GW_ACT_FAILED = 2,      /* permanent: message says why */
    GW_ACT_UNSUPPORTED = 3, /* this network cannot do it */
};

struct gw_action_result {
    enum gw_action_status status;
    const char *message;   /* error text (the server's own where any) */
    long retry_after_ms;   /* RETRY: at least this long, 0 = back-off */
    const char *result_id; /* network id of what was created */
    /* POST/REPLY/DM: the created post, stored and echoed with a ref. */
    const struct gw_event *created;
    /* THREAD/WHO: lines to show the user. */
    const char *const *lines;
    int nlines;
};

/* ---- the ops table ---------------------------------------------------- */

enum gw_adapter_caps {
    GW_CAP_STREAMING = 1 << 0,
    GW_CAP_DM = 1 << 1,
    GW_CAP_FAV = 1 << 2,
    GW_CAP_BOOST = 1 << 3,
    GW_CAP_OAUTH = 1 << 4,
};

struct gw_adapter_status {
    char signed_in_as[128];   /* "" when not signed in */
    char mode[32];            /* "streaming", "polling", "signed out", ... */
    int64_t last_event_ms;    /* 0 = never */
    long ratelimit_remaining; /* -1 = unknown */
    char detail[256];         /* last problem, "" */
};

struct gw_adapter_ops {
    int abi_version;  /* GW_ADAPTER_ABI */
    const char *name; /* network name in the config: "mastodon" */
    unsigned caps;
    /* Setting keys this network accepts besides the common ones (network,
     * channel, post_plain, streaming, poll_seconds, tls_ca); NULL-ended. */
    const char *const *keys;

    /* Validate one setting value; 0, or UV_EINVAL with err filled. May be
     * NULL (anything goes). */
    int (*check_setting)(const char *key, const char *value, char *err,
                         size_t errlen);
    /* Allocate priv and begin: sign in, stream or poll. < 0 with a notice
     * on failure. Required. */
    int (*start)(struct gw_adapter *ad);
    /* Cancel everything, free priv. Required. */
    void (*stop)(struct gw_adapter *ad);
    /* Carry out an action; later call gw_ad_action_done() exactly once
     * with a.token. Return < 0 instead (and never call done) only for
     * a bug such as an unknown kind. May be NULL (nothing supported). */
    int (*act)(struct gw_adapter *ad, const struct gw_action *a);
    /* OAuth: "account login NAME" and "account code NAME CODE". May be
     * NULL when the network signs in with configured secrets only. */
    int (*login)(struct gw_adapter *ad);
    int (*code)(struct gw_adapter *ad, const char *code);
    /* Fill st for the "status" command. Required. */
    void (*status)(struct gw_adapter *ad, struct gw_adapter_status *st);
};

/* One account's instance. The core owns it. */
struct gw_adapter {
    const struct gw_adapter_ops *ops;
    void *priv;         /* the adapter's, from start() to stop() */
    struct gateway *gw; /* opaque to adapters */
    char *name;         /* account name */
    void *core;         /* the core's per-account data */
};

/* ---- upcalls: adapter -> core ----------------------------------------- */

/* Effective setting: gateway.conf, then what the store holds (tokens from
 * OAuth), else NULL. Borrowed until the next reload. */
const char *gw_ad_setting(struct gw_adapter *ad, const char *key);
/* Persist a setting in the store (tokens, app registration); value NULL
 * removes. */
int gw_ad_setting_store(struct gw_adapter *ad, const char *key,
                        const char *value);

/*
 * Hand an event to the router. It is committed to the store (and given a
 * ref) before it is shown. Returns 0 when new, 1 when it was already
 * stored (and is not shown again), < 0 when it could not be stored: then
 * the adapter must not move its cursor past it.
 */
int gw_ad_deliver(struct gw_adapter *ad, const struct gw_event *ev);

/* Group deliveries and cursor moves into one transaction (a page of
 * back-fill). Nesting is fine. */
void gw_ad_batch_begin(struct gw_adapter *ad);
void gw_ad_batch_end(struct gw_adapter *ad);

/* Cursors: get gives 0 and a malloc'd *value, or UV_ENOENT. */
int gw_ad_cursor_get(struct gw_adapter *ad, const char *name, char **value);
int gw_ad_cursor_set(struct gw_adapter *ad, const char *name,
                     const char *value);

/* Network id already stored for this account (any kind)? */
bool gw_ad_seen(struct gw_adapter *ad, const char *network_id);

/* A line in the control channel about this account ("mastodon: ..."). */
void gw_ad_notice(struct gw_adapter *ad, const char *fmt, ...) GW_PRINTF(2, 3);

/* The outcome of an action; exactly once per gw_action.token. */
void gw_ad_action_done(struct gw_adapter *ad, uint64_t token,
                       const struct gw_action_result *r);

/* The shared HTTP client. */
struct gw_http *gw_ad_http(struct gw_adapter *ad);

/* One-shot timers owned by the core; cb runs once unless stopped. */
struct gw_ad_timer;
typedef void (*gw_ad_timer_cb)(void *arg);
struct gw_ad_timer *gw_ad_timer_start(struct gw_adapter *ad, uint64_t ms,
                                      gw_ad_timer_cb cb, void *arg);
/* Stop and release; NULL is fine; not after cb has run. */
void gw_ad_timer_stop(struct gw_ad_timer *t);

/* The registry of networks this build knows (adapters/registry.c). */
const struct gw_adapter_ops *gw_adapter_find(const char *network);

#endif
