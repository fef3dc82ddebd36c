/*
 * The Bluesky account's runtime, shared by api.c (requests, the session,
 * the ops table), poll.c (notifications), chat.c (DMs) and act.c
 * (actions). Nothing else includes it.
 */
#ifndef GW_BLUESKY_INT_H
#define GW_BLUESKY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "bluesky.h"

#define CURSOR_NOTIF "notifications"
#define CURSOR_CHAT  "chat"
#define SESSION_KEY  "session" /* stored: {"for","did","refresh","pds"} */

#define BACKOFF_MIN_MS 2000
#define BACKOFF_MAX_MS 300000
/* After an action the account polls this often for a while: someone is
 * in a conversation and waits for the answer. */
#define ACTIVE_POLL_MS 5000
#define ACTIVE_FOR_MS  120000
/* DMs are read on every this-many notification polls (a minute at the
 * default 20 s, the official app's own interval). */
#define CHAT_EVERY 3

/* Rate-limit families: signing in is limited per account (30 per 5
 * minutes), writes by points per hour, and the AppView and the chat
 * service keep their own counts. */
#define FAM_AUTH    "auth"
#define FAM_READ    "read"
#define FAM_WRITE   "write"
#define FAM_APPVIEW "appview"
#define FAM_CHAT    "chat"
#define FAM_DID     "did"

#define CHAT_PROXY "did:web:api.bsky.chat#bsky_chat"

/* Where a request goes. */
enum bhost {
    HOST_PDS = 1, /* the account's PDS, from its DID document */
    HOST_SERVICE, /* where to sign in (service) */
    HOST_APPVIEW, /* public reads (appview) */
    HOST_CHAT,    /* chat.bsky.*: the PDS (or chat_url), proxied */
    HOST_URL,     /* path is a whole URL (DID documents) */
};

/* Which token a request carries. */
enum bauth { AUTH_NONE = 0, AUTH_ACCESS, AUTH_REFRESH };

struct bsky;
struct bcall;
struct bact;

typedef void (*bcall_done_cb)(struct bsky *b, struct bcall *c,
                              const struct gw_http_response *r);

/* A request and what its answer needs; also enough to send it again with
 * a fresh token after ExpiredToken. */
struct bcall {
    struct bcall *next; /* waiting for a refresh */
    bcall_done_cb done;
    unsigned gen; /* session generation when sent */
    enum bhost host;
    enum bauth auth;
    const char *family;
    char *method, *path, *body;
    bool retried;     /* already sent again after a refresh */
    struct bact *act; /* the action this is a step of, or NULL */
    void *arg;        /* owned by the step (free_arg) */
    void (*free_arg)(void *arg);
};

/* A conversation we know, for the sender's handle and requests. */
struct bconvo {
    char *id;
    char *peer_did, *peer_handle;
    bool request;  /* a message request to me */
    bool notified; /* said so once */
};
#define CONVOS_MAX 256

/* Per-account state, priv of the gw_adapter from start() to stop(). */
struct bsky {
    struct gw_adapter *ad;
    char *handle, *password; /* never logged, never in a notice */
    char *service, *plc, *appview, *chat_url, *ca_file;
    char *cdn; /* image CDN, only for Bluesky's own AppView */
    long poll_ms;

    /* The session. */
    char *did, *me_handle, *pds;
    char *access, *refresh, *auth_hdr;
    unsigned gen;       /* bumped on every new session */
    bool signed_in;     /* ready: actions and polls go */
    bool signed_out;    /* refused: no retries until the settings change */
    bool refreshing;    /* a refreshSession is in flight */
    bool logging_in;    /* a createSession is in flight */
    bool announce;      /* say "signed in as" when it happens */
    struct bcall *wait; /* sent again once the refresh is done */
    int64_t logins[3];  /* the last createSessions that got an answer */
    int signin_failures;
    struct gw_backoff signin_backoff;
    int pds_failures;   /* transport errors in a row at the PDS */
    int64_t resolve_ms; /* last DID document fetch */
    bool resolving;     /* a DID document fetch is in flight */
    struct gw_ad_timer *t_signin, *t_refresh;

    /* Notifications. */
    char *hwm_uri; /* newest notification delivered */
    int64_t hwm_ms;
    bool polling;
    cJSON **pages; /* fetched pages not yet delivered */
    int npages;
    int polls;
    int64_t active_until_ms;
    struct gw_backoff poll_backoff;
    struct gw_ad_timer *t_poll;

    /* DMs. */
    bool chat_off; /* no DM access: said once */
    bool chat_busy;
    int chat_fails; /* failed reads in a row: each doubles the wait */
    int chat_next;  /* not before this poll (b->polls) */
    char *chat_cursor;
    cJSON *chat_log; /* a getLog answer waiting for getConvo answers */
    int chat_waits;  /* getConvo answers outstanding */
    struct bconvo convos[CONVOS_MAX];
    int nconvos;
};

/* api.c */
const char *bluesky__name(const struct bsky *b);
void bluesky__replace(char **slot, const char *value);
void bluesky__timer(struct bsky *b, struct gw_ad_timer **slot, uint64_t ms,
                    gw_ad_timer_cb cb);
struct bcall *bluesky__call(bcall_done_cb done);
/* Send c (which the request then owns); < 0 when it could not start, and
 * then c is freed. path is "nsid?query" (HOST_URL: the whole URL); body
 * JSON or NULL. */
int bluesky__xrpc(struct bsky *b, struct bcall *c, enum bhost host,
                  enum bauth auth, const char *family, const char *method,
                  const char *path, const char *body);
cJSON *bluesky__body(const struct gw_http_response *r);
bool bluesky__err_is(const struct gw_http_response *r, const char *name);

/* poll.c */
void bluesky__poll_start(struct bsky *b);
void bluesky__poll_stop(struct bsky *b);
void bluesky__poll_load(struct bsky *b);
/* Someone acted: poll faster for a while. */
void bluesky__poll_active(struct bsky *b);

/* chat.c */
void bluesky__chat_poll(struct bsky *b);
void bluesky__chat_stop(struct bsky *b);
struct bconvo *bluesky__convo(struct bsky *b, const char *id);
struct bconvo *bluesky__convo_put(struct bsky *b, const cJSON *view);

/* act.c */
int bluesky__act(struct gw_adapter *ad, const struct gw_action *a);
int bluesky__check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                   size_t errlen);
/* Drop a reference a call held (api.c frees calls). */
void bluesky__act_release(struct bact *x);

#endif
