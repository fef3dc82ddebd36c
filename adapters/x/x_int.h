/*
 * The X account's runtime, shared by api.c (requests, sign-in, actions,
 * the ops table), poll.c (mentions and DMs, the budget's pace) and oauth.c
 * (PKCE sign-in and token refresh). Nothing else includes it.
 */
#ifndef GW_X_INT_H
#define GW_X_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "x.h"

#define CURSOR_MENTIONS "mentions"
#define CURSOR_DMS      "dm_events"
#define CURSOR_BUDGET   "budget"

#define BACKOFF_MIN_MS 5000
#define BACKOFF_MAX_MS 300000

/* Rate-limit families: X limits each endpoint on its own (mentions 300,
 * DM lookups 15, posting 100 per 15 minutes), and a 429 on one must not
 * hold the others. "own" (my latest posts, looked at before a post is
 * sent again) is never refused by the budget: a reply must not wait on
 * it. */
#define FAM_MENTIONS "mentions"
#define FAM_DMS      "dms"
#define FAM_LOOKUP   "lookup"
#define FAM_OWN      "own"
#define FAM_WRITE    "write"
#define FAM_AUTH     "auth"

struct xacc;
struct xcall;

typedef void (*xcall_done_cb)(struct xacc *x, struct xcall *c,
                              const struct gw_http_response *r);

/* A request, kept whole so that it can be sent again after a refresh. */
struct xcall {
    xcall_done_cb done;
    unsigned gen;     /* sign-in generation when sent */
    bool sessionless; /* token requests: no bearer, valid across sessions */
    bool replayed;    /* already sent again after a 401 and a refresh */
    unsigned tok_seq; /* which access token it carried */
    bool is_action;
    uint64_t token;
    enum gw_action_kind kind;
    char *method, *url, *body, *ctype;
    const char *family;
    long timeout_ms;
    char *arg;          /* post, user or conversation id */
    struct x_post post; /* POST/REPLY/DM */
    bool looked;        /* my latest posts were looked at already */
    struct xcall *next; /* waiting for a refresh */
};

/* Per-account state, priv of the gw_adapter from start() to stop(). */
struct xacc {
    struct gw_adapter *ad;
    char *base;      /* API base, no trailing '/' */
    char *authorize; /* the authorize page */
    char *redirect;  /* redirect_uri registered with the app */
    char *client_id, *client_secret;
    char *access, *refresh; /* never logged, never in a notice */
    int64_t expires_ms;     /* when the access token ends, 0 unknown */
    char *ca_file;
    bool insecure;
    bool long_posts;
    long base_poll_ms;
    long post_timeout_ms;

    char *me_id, *me_name;
    unsigned gen;
    bool signed_in, signed_out;
    bool announce;
    int signin_failures;
    struct gw_backoff signin_backoff;

    /* refresh */
    unsigned tok_seq; /* bumped whenever the access token changes */
    bool refreshing;
    struct xcall *parked; /* requests waiting for a new access token */

    /* polling */
    char *cur_mentions, *cur_dms;
    bool polling;      /* a poll is in flight */
    bool mentions_off; /* the tier lacks it: said once, not asked */
    bool dms_off;
    cJSON *pages[8]; /* a poll's pages, newest first */
    int npages;
    char *newest;        /* the first page's meta.newest_id */
    int poll_requests;   /* requests of the poll in flight */
    long per_poll;       /* requests the last poll took */
    long posts_per_poll; /* posts the last polls read, smoothed */
    struct gw_backoff poll_backoff;
    struct gw_ad_timer *t_poll, *t_signin, *t_refresh;
    long rl_rem_m, rl_lim_m, rl_rem_d, rl_lim_d;
    int64_t rl_reset_m, rl_reset_d;
    long interval_ms; /* the pace chosen last */
    int64_t dms_due;  /* DMs have a window of their own (15 a quarter) */

    /* budget */
    struct x_budget budget;
    bool said_low, said_spent;
};

/* api.c */
const char *x__name(const struct xacc *x);
struct x_me x__me(const struct xacc *x);
void x__replace(char **slot, const char *value);
void x__timer(struct xacc *x, struct gw_ad_timer **slot, uint64_t ms,
              gw_ad_timer_cb cb);
void x__timer_stop(struct gw_ad_timer **slot);
struct xcall *x__call(xcall_done_cb done, const char *family,
                      const char *method, const char *url);
/* Send c (which the request then owns); < 0 when it could not start,
 * and then c is freed. */
int x__send(struct xacc *x, struct xcall *c);
void x__call_free(struct xcall *c);
cJSON *x__body(const struct gw_http_response *r);
void x__signed_out(struct xacc *x, const char *why);
void x__session_restart(struct xacc *x);
void x__store(struct xacc *x, const char *key, const char *value);
void x__budget_save(struct xacc *x);

/* poll.c */
void x__poll_start(struct xacc *x);
void x__poll_stop(struct xacc *x);
void x__poll_wake(struct xacc *x);
void x__note_limits(struct xacc *x, const char *family,
                    const struct gw_http_response *r);

/* oauth.c */
int x__login(struct gw_adapter *ad);
int x__code(struct gw_adapter *ad, const char *code);
/* Get a new access token with the refresh token; parked requests go out
 * when it comes. */
void x__refresh(struct xacc *x);
void x__tokens_set(struct xacc *x, const char *access, const char *refresh,
                   int64_t expires_ms);

#endif
