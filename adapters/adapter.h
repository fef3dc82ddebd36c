/*
 * The one interface between Parley's core and a social network.
 *
 * An adapter is a const ops table (one per network, serving any number of
 * accounts) plus a per-account instance, struct gw_adapter. The core calls
 * the adapter through ops; the adapter calls the core only through the
 * gw_ad_*() functions declared here. Adapters know nothing about IRC: they
 * hand the core social events and carry out actions the core asks for.
 *
 * Adapters include this header and the pure helpers (gw_util.h, gw_text.h,
 * gw_json.h) and nothing else of the core. They never touch SQLite, uv
 * handles, IRC clients or libcurl: HTTP, streams and timers go through the
 * adapter runtime below, which tracks them per account.
 *
 * What the runtime does so that no adapter has to:
 *  - every request, stream and timer is tracked and cancelled when the
 *    account stops; no callback runs after that;
 *  - the adapter's priv outlives any callback on the stack: ops->stop()
 *    (which frees priv) runs only once no adapter frame is left, and
 *    upcalls made after the stop return UV_ECANCELED;
 *  - gw_ad_action_done() may be called anywhere, even inside ops->act():
 *    the core hears of it once act() has returned;
 *  - actions wait in the outbox until the adapter says it is ready
 *    (gw_ad_ready()); nothing has to be held inside an adapter;
 *  - rate limits hold one family of endpoints ("read", "write", "stream",
 *    ...): a 429 on posting never delays reading. A request to a held
 *    family waits for the hold to end and is then sent;
 *  - when a request succeeds after failures, the outbox retries at once.
 *
 * Lifetime: the core creates the instance and calls ops->start() (which
 * allocates priv) and later ops->stop() (which frees priv).
 */
#ifndef GW_ADAPTER_H
#define GW_ADAPTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_http.h"
#include "gw_text.h"
#include "gw_util.h"

#define GW_ADAPTER_ABI 2

struct gateway;
struct gw_adapter;
struct gw_rt;

/* ---- who may read a post --------------------------------------------- */

/*
 * The audience of a post, widest first. Each adapter maps its own words
 * (Mastodon: public, unlisted, private, direct) onto these; the core keeps
 * the rule that a reply is never read by more people than its parent.
 */
enum gw_audience {
    GW_AUD_UNKNOWN = 0,
    GW_AUD_PUBLIC,    /* anyone, in public timelines */
    GW_AUD_UNLISTED,  /* anyone with the link, kept out of timelines */
    GW_AUD_FOLLOWERS, /* the author's followers */
    GW_AUD_MENTIONED, /* only the people it names (Mastodon "direct") */
};

/* ---- inbound: what an adapter hands to the core ----------------------- */

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
    GW_EV_CONTEXT,     /* a post shown for context (!thread), not in the
                          inbox: only in gw_action_result.items */
};

struct gw_media {
    const char *url;
    const char *alt;  /* description, may be NULL */
    const char *type; /* "image", "video", ... may be NULL */
};

struct gw_event {
    enum gw_event_kind kind;
    const char *id; /* network id of the post/notification */
    /* The author: author_id is what never changes (a DID, a numeric user
     * id, a URN, a fediverse acct); author is the handle people know them
     * by ("alice@example.social", "alice.bsky.social"). The core gives a
     * person one nick per (network, author_id). author_id NULL: author. */
    const char *author_id;
    const char *author;
    const char *author_name; /* display name, may be NULL */
    const char *author_url;  /* profile URL, may be NULL */
    const char *text;        /* plain text (already rendered), may be "" */
    const char *url;         /* the post's URL, may be NULL */
    const char *cw;          /* content warning, NULL when none */
    const struct gw_media *media;
    int nmedia;
    const char *in_reply_to;  /* network id of the parent, may be NULL */
    const char *conversation; /* thread or DM conversation id, may be NULL */
    enum gw_audience audience;
    /* The other people in the conversation, as handles (a reply names them
     * where the network needs that). */
    const char *const *mentions;
    int nmentions;
    const char *target_id; /* FAV/BOOST: my post's network id */
    int64_t created_ms;    /* the post's own time; 0 = now */
    const char *extra;     /* adapter JSON stored with the post, may be NULL */
};

/* ---- outbound: what the core asks an adapter to do --------------------- */

enum gw_action_kind {
    GW_ACT_POST = 1, /* text, cw, audience */
    GW_ACT_REPLY,    /* text, cw, audience, parent */
    GW_ACT_DM,       /* text, handle (or parent for a DM thread) */
    GW_ACT_FAV,      /* parent */
    GW_ACT_UNFAV,
    GW_ACT_BOOST,
    GW_ACT_UNBOOST,
    GW_ACT_DELETE, /* parent = my post */
    GW_ACT_FOLLOW, /* handle */
    GW_ACT_UNFOLLOW,
    GW_ACT_THREAD,  /* parent: answer with lines of the thread */
    GW_ACT_WHO,     /* handle: answer with lines about the account */
    GW_ACT_COMMAND, /* parent, command: one of ops->commands ("!hide a3") */
    GW_ACT_KIND_MAX,
};

/* The bit of an action kind in gw_adapter_ops.actions. */
#define GW_ACT_BIT(k) (1u << (k))

/* What the core knows of a stored post an action refers to. */
struct gw_post_ref {
    const char *id;        /* network id */
    const char *author;    /* handle */
    const char *author_id; /* stable id */
    enum gw_audience audience;
    const char *cw;              /* may be NULL */
    const char *conversation;    /* may be NULL */
    const char *const *mentions; /* other participants, handles */
    int nmentions;
    const char *extra; /* the JSON the adapter stored with the event */
};

/*
 * An action, as the core composed it: the text is stripped of IRC
 * formatting and, where the network wants replies to name people
 * (GW_NET_MENTION_REPLIES / _DMS), already starts with "@handle" for the
 * author and the others in the conversation; cw is the one typed with !cw
 * or else the parent's; audience is never wider than the parent's.
 */
struct gw_action {
    uint64_t token; /* pass back to gw_ad_action_done() */
    enum gw_action_kind kind;
    const char *text;
    const char *cw; /* content warning for this post, or NULL */
    enum gw_audience audience;
    const char *handle; /* DM/FOLLOW/WHO target handle, as typed or known */
    const struct gw_post_ref *parent; /* REPLY/FAV/.../THREAD; or NULL */
    const char *idem_key; /* same on every attempt of one outbox item */
    /* An earlier attempt ended in GW_ACT_MAYBE: it may have been made.
     * Look (e.g. at my latest posts) before making it again. */
    bool maybe_sent;
    const char *command; /* GW_ACT_COMMAND: the name in ops->commands */
    /* When the outbox item was queued (epoch ms), the same on every
     * attempt: for ids a network lets the client choose from the time
     * (Bluesky's record keys), so that a retry makes the same one. 0 for
     * queries and checks. */
    int64_t queued_ms;
};

enum gw_action_status {
    GW_ACT_OK = 0,
    GW_ACT_RETRY = 1,       /* transient (network, 5xx, 429): try later */
    GW_ACT_FAILED = 2,      /* permanent: message says why */
    GW_ACT_UNSUPPORTED = 3, /* this network cannot do it */
    /* The request may have reached the network (a timeout after sending)
     * and the network has no idempotency key: retried later with
     * maybe_sent set, so the adapter looks before it sends again. */
    GW_ACT_MAYBE = 4,
};

struct gw_action_result {
    enum gw_action_status status;
    const char *message;   /* error text (the server's own where any) */
    long retry_after_ms;   /* RETRY: at least this long, 0 = back-off */
    const char *result_id; /* network id of what was created */
    /* POST/REPLY/DM: the created post, stored and echoed with a ref. */
    const struct gw_event *created;
    /* WHO (and THREAD, before items): lines to show the user. */
    const char *const *lines;
    int nlines;
    /* THREAD: the posts, in reading order (GW_EV_CONTEXT). The core keeps
     * each (so it has a ref to answer) and shows it as "[ref] nick: text";
     * an item without an id is a note shown as its text ("… 80 earlier
     * posts"). */
    const struct gw_event *items;
    int nitems;
};

/* ---- the ops table ----------------------------------------------------- */

/* What a network is like (gw_adapter_ops.caps). */
enum gw_net_caps {
    GW_NET_STREAMING = 1 << 0, /* real time ("streaming = yes") */
    GW_NET_OAUTH = 1 << 1,     /* "account login" and "account code" */
    GW_NET_CW = 1 << 2,        /* content warnings */
    GW_NET_AUDIENCE = 1 << 3,  /* audiences narrower than public */
    /* A reply must name its author and the others in the thread. */
    GW_NET_MENTION_REPLIES = 1 << 4,
    /* A DM is a post that names its recipients. */
    GW_NET_MENTION_DMS = 1 << 5,
};

struct gw_adapter_status {
    char mode[32];    /* overrides gw_ad_mode() when set */
    char detail[256]; /* more for the "status" line, "" */
};

/*
 * A command of the network's own, typed "!NAME REF" in the account's
 * channel, for what only this network does (Meta's !hide and !unhide). It
 * is stored in the outbox and carried out like any action: act() gets
 * GW_ACT_COMMAND with command = name and parent = the post; check() sees
 * it first. !help lists it.
 */
struct gw_adapter_command {
    const char *name; /* lowercase, no '!' */
    const char *help; /* "!hide REF - hide a comment from everyone else" */
    /* About a person, not a post: "!NAME nick" (Bluesky's !accept); act()
     * gets handle = the person's handle (a nick the gateway gave out is
     * looked up) and no parent. */
    bool person;
};

struct gw_adapter_ops {
    int abi_version;     /* GW_ADAPTER_ABI */
    const char *name;    /* network name in the config: "mastodon" */
    const char *summary; /* one line for "help account add" */
    unsigned caps;       /* GW_NET_* */
    unsigned actions;    /* GW_ACT_BIT() of every action it can do */
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
    /* Free priv: the runtime has already cancelled every request, stream
     * and timer of this account. Required. */
    void (*stop)(struct gw_adapter *ad);
    /* Carry out an action; call gw_ad_action_done() exactly once with
     * a.token (now or later). Return < 0 instead (and never call done)
     * only for a bug such as an unknown kind. Only called while ready and
     * for kinds in .actions. May be NULL (no actions). */
    int (*act)(struct gw_adapter *ad, const struct gw_action *a);
    /* Can this action go? Called before it is queued (while the account
     * is ready), so the user hears at once rather than from a failed
     * outbox item later: the length as the network counts it ("too long:
     * 612 characters, the server allows 500"), a messaging window that has
     * closed, a target the network will refuse. 0, or < 0 with err (the
     * action is not queued). token is 0 and idem_key NULL here. May be
     * NULL. */
    int (*check)(struct gw_adapter *ad, const struct gw_action *a, char *err,
                 size_t errlen);
    /* OAuth: "account login NAME" and "account code NAME CODE". May be
     * NULL when the network signs in with configured secrets only. */
    int (*login)(struct gw_adapter *ad);
    int (*code)(struct gw_adapter *ad, const char *code);
    /* More for "status" than the runtime knows. May be NULL. */
    void (*status)(struct gw_adapter *ad, struct gw_adapter_status *st);
    /* Before each request of a family: 0 to send it, < 0 to refuse it
     * (then gw_ad_request() returns UV_ENOSPC and status shows why).
     * Networks that bill per request (X) keep their budget here. May be
     * NULL. */
    int (*budget)(struct gw_adapter *ad, const char *family, char *why,
                  size_t whylen);
    /* Why this network cannot do an action it lacks (one not in .actions),
     * in words for the person who asked ("LinkedIn has no public API for
     * messages"). May be NULL, and may return NULL: the generic answer. */
    const char *(*why_not)(enum gw_action_kind kind);
    /* Commands of this network's own, ended by a NULL name; NULL for none.
     * Set GW_ACT_BIT(GW_ACT_COMMAND) in .actions too. */
    const struct gw_adapter_command *commands;
};

/* One account's instance. The core owns it. */
struct gw_adapter {
    const struct gw_adapter_ops *ops;
    void *priv;         /* the adapter's, from start() to stop() */
    struct gateway *gw; /* opaque to adapters */
    char *name;         /* account name */
    void *core;         /* the core's per-account data */
    struct gw_rt *rt;   /* the runtime's per-account data */
};

/* ---- upcalls: the core's side ----------------------------------------- */

/* Effective setting: gateway.conf, then what the store holds (tokens from
 * OAuth), else NULL. Borrowed until the next reload. */
const char *gw_ad_setting(struct gw_adapter *ad, const char *key);
/* Persist a setting in the store (tokens, app registration); value NULL
 * removes. */
int gw_ad_setting_store(struct gw_adapter *ad, const char *key,
                        const char *value);

/*
 * Hand an event to the core. It is committed to the store (and given a
 * ref) before it is shown. Returns 0 when new, 1 when it was already
 * stored (and is not shown again), < 0 when it could not be stored: then
 * the adapter must not move its cursor past it.
 */
int gw_ad_deliver(struct gw_adapter *ad, const struct gw_event *ev);

/*
 * cb runs once everything delivered so far is committed (rc 0) or could
 * not be (rc < 0): a webhook answers 200 only then. Runs from the loop,
 * never inside this call.
 */
typedef void (*gw_ad_commit_cb)(struct gw_adapter *ad, void *arg, int rc);
void gw_ad_after_commit(struct gw_adapter *ad, gw_ad_commit_cb cb, void *arg);

/* Group deliveries and cursor moves into one transaction (a page of
 * back-fill). Nesting is fine. */
void gw_ad_batch_begin(struct gw_adapter *ad);
void gw_ad_batch_end(struct gw_adapter *ad);

/* Cursors: get gives 0 and a malloc'd *value, or UV_ENOENT. A cursor set
 * is stored in the same transaction as the events delivered before it. */
int gw_ad_cursor_get(struct gw_adapter *ad, const char *name, char **value);
int gw_ad_cursor_set(struct gw_adapter *ad, const char *name,
                     const char *value);

/* How many accounts of this account's network the gateway has (this one
 * included, enabled or not): a network whose webhook URL is one per app
 * tells them apart by name only when there are several. */
int gw_ad_network_accounts(struct gw_adapter *ad);

/* Network id already stored for this account (any kind)? */
bool gw_ad_seen(struct gw_adapter *ad, const char *network_id);

/* A line in the control channel about this account ("mastodon: ..."). */
void gw_ad_notice(struct gw_adapter *ad, const char *fmt, ...) GW_PRINTF(2, 3);
/* A warning in the log (never on IRC): what was dropped and why. A few a
 * minute are written; more are counted and the count said with the next,
 * so a hostile server cannot flood the log. */
void gw_ad_log(struct gw_adapter *ad, const char *fmt, ...) GW_PRINTF(2, 3);

/* ---- the runtime ------------------------------------------------------- */

/*
 * Signed in as me_handle: actions that waited in the outbox go out now.
 * me_id is the author_id my own posts carry in events (NULL if unknown):
 * the nick my handle gives is kept for me, never given to a stranger
 * named like me on another server.
 */
void gw_ad_ready(struct gw_adapter *ad, const char *me_id,
                 const char *me_handle);
/* Not (or no longer) able to act: signing in again (signed_out false) or
 * refused until someone signs in (true). Actions wait in the outbox; the
 * person who asks is told why. */
void gw_ad_not_ready(struct gw_adapter *ad, bool signed_out, const char *why);
bool gw_ad_is_ready(const struct gw_adapter *ad);
/* The account has stopped: new work is refused with UV_ECANCELED. */
bool gw_ad_stopped(const struct gw_adapter *ad);

/* What "status" shows: the mode ("streaming", "polling", "connecting")
 * and the last problem ("" clears it). */
void gw_ad_mode(struct gw_adapter *ad, const char *mode);
void gw_ad_detail(struct gw_adapter *ad, const char *fmt, ...) GW_PRINTF(2, 3);

/* The outcome of an action; exactly once per gw_action.token. */
void gw_ad_action_done(struct gw_adapter *ad, uint64_t token,
                       const struct gw_action_result *r);

/* HTTP. cb runs exactly once, unless the account stops first: then
 * free_arg(arg) runs instead (when given). < 0 when it could not start
 * (UV_ENOSPC: the budget hook refused it); then neither runs. */
typedef void (*gw_ad_http_cb)(struct gw_adapter *ad, void *arg,
                              const struct gw_http_response *r);
typedef void (*gw_ad_free_fn)(void *arg);
struct gw_ad_request {
    struct gw_http_opts http; /* copied: nothing needs to outlive the call */
    const char *family;       /* rate-limit family; NULL: "default" */
    gw_ad_free_fn free_arg;
};
int gw_ad_request(struct gw_adapter *ad, const struct gw_ad_request *rq,
                  gw_ad_http_cb cb, void *arg);
/* How long a response asks us to wait: Retry-After, else the rate-limit
 * reset of a 429 or of a spent window; 0 when it says nothing; at most an
 * hour. */
long gw_ad_retry_after_ms(const struct gw_http_response *r);

/* Hold a family until until_ms (a usage header, a daily quota): its
 * requests wait; status says why and for how long. Holds only grow, except
 * that this replaces the minute the runtime holds a family for after a 429
 * that names no time (no Retry-After, no reset header): a network without
 * such headers probes on its own schedule. */
void gw_ad_hold(struct gw_adapter *ad, const char *family, int64_t until_ms,
                const char *why);

/* SSE streams that reconnect by themselves; closing is allowed anywhere,
 * even inside the stream's own callbacks. */
struct gw_ad_stream;
typedef void (*gw_ad_event_cb)(struct gw_adapter *ad, void *arg,
                               const struct gw_sse_event *ev);
typedef void (*gw_ad_state_cb)(struct gw_adapter *ad, void *arg,
                               enum gw_sse_state state,
                               const struct gw_http_response *resp);
int gw_ad_stream_open(struct gw_adapter *ad, const char *family,
                      const struct gw_sse_opts *o, gw_ad_event_cb on_event,
                      gw_ad_state_cb on_state, void *arg,
                      struct gw_ad_stream **out);
void gw_ad_stream_close(struct gw_ad_stream *s);

/* One-shot timers; cb runs once unless stopped. NULL is fine to stop;
 * not after cb has run. */
struct gw_ad_timer;
typedef void (*gw_ad_timer_cb)(struct gw_adapter *ad, void *arg);
struct gw_ad_timer *gw_ad_timer_start(struct gw_adapter *ad, uint64_t ms,
                                      gw_ad_timer_cb cb, void *arg);
void gw_ad_timer_stop(struct gw_ad_timer *t);
/* The same for a timer kept in a slot of the adapter's: set stops the one
 * there and starts a new one (NULL after a stop); clear stops it and sets
 * the slot to NULL. A callback that runs should clear its own slot first
 * (set it to NULL): the timer is gone once it has run. */
void gw_ad_timer_set(struct gw_adapter *ad, struct gw_ad_timer **slot,
                     uint64_t ms, gw_ad_timer_cb cb, void *arg);
void gw_ad_timer_clear(struct gw_ad_timer **slot);

/* ---- webhooks: what a network pushes (Meta, LinkedIn) ----------------- */

/*
 * One HTTP request to the [webhook] listener (gateway/webhook/), as a
 * handler sees it. Opaque; read it with the functions below, which copy
 * nothing and stay valid until the handler has answered it. The body is
 * the exact bytes received (signatures are computed over them; check them
 * with gw_hmac_sha256_ok() from gw_util.h), NUL-terminated after its
 * length, at most GW_WEBHOOK_BODY_MAX (512 KiB, gw_limits.h): a larger one
 * is refused with 413 before any handler sees it.
 */
struct gw_webhook_req;

/*
 * A handler, registered per path with gw_ad_webhook(). It is offered every
 * request to its path and answers 0 ("not mine": wrong verify token, a
 * signature made with another secret) without responding, or 1: it takes
 * the request and calls gw_ad_webhook_respond() exactly once, now or later
 * (after gw_ad_after_commit(), say). Several accounts may register one
 * path (two Pages of one Meta app share its callback URL): every handler
 * is offered the request, and the answer is the first non-2xx of those
 * that took it, else the first 2xx. When none takes it the listener
 * answers 403 and logs that once a minute, not once per request; a path
 * nobody registered gets 404. A request still unanswered when its account
 * stops is answered 503, so the network sends it again. Handlers run as
 * adapter code (priv stays valid while they run) and never after the
 * account has stopped; every response closes its connection.
 */
typedef int (*gw_ad_webhook_cb)(struct gw_adapter *ad, void *arg,
                                struct gw_webhook_req *rq);
/*
 * Receive requests to path ("/facebook": the part after [webhook]
 * public_url's path, which the listener also accepts with that prefix)
 * until the account stops. 0, UV_ENOTSUP when no [webhook] is configured
 * (poll instead), UV_EINVAL for a path that is not "/" and [A-Za-z0-9_-/].
 */
int gw_ad_webhook(struct gw_adapter *ad, const char *path, gw_ad_webhook_cb cb,
                  void *arg);
/* [webhook] public_url + path: what to enter in the network's dashboard;
 * NULL when public_url is not set. malloc'd. */
char *gw_ad_webhook_url(struct gw_adapter *ad, const char *path);

const char *gw_webhook_method(const struct gw_webhook_req *rq); /* "POST" */
const char *gw_webhook_path(const struct gw_webhook_req *rq);   /* no query */
/* A query parameter, percent-decoded ("hub.challenge"); NULL when absent. */
const char *gw_webhook_query(const struct gw_webhook_req *rq, const char *name);
/* A header, by case-insensitive name; NULL when absent. */
const char *gw_webhook_header(const struct gw_webhook_req *rq,
                              const char *name);
const char *gw_webhook_body(const struct gw_webhook_req *rq, size_t *len);
/* Answer (once per take); body may be NULL. After this rq is gone for the
 * caller. A client that has gone away meanwhile is no error. */
void gw_ad_webhook_respond(struct gw_webhook_req *rq, int status,
                           const char *content_type, const char *body,
                           size_t len);

/* ---- the networks this build knows (adapters/registry.c) --------------- */

const struct gw_adapter_ops *gw_adapter_find(const char *network);
/* The registry's networks in order, NULL after the last. */
const struct gw_adapter_ops *gw_adapter_at(size_t i);
/* "mastodon, bluesky, x" into buf. */
void gw_adapter_names(char *buf, size_t size);

#endif
