/*
 * The Mastodon account's runtime, shared by api.c (requests, sign-in,
 * actions, the ops table), stream.c (the user stream and back-fill) and
 * oauth.c (app registration and sign-in). Nothing else includes it.
 */
#ifndef GW_MASTODON_INT_H
#define GW_MASTODON_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "mastodon.h"

#define CURSOR_NAME "notifications"
/* The last sign-in's findings (api.c, session_save). */
#define SESSION_CURSOR "session"
/* One page of notifications; the API's default, and half its maximum. */
#define PAGE_LIMIT     40
#define BACKOFF_MIN_MS 5000
#define BACKOFF_MAX_MS 300000

/* Rate-limit families: Mastodon limits posting apart from reading (30
 * statuses per 30 minutes against 300 requests per 5), and the stream
 * does not draw on either. */
#define FAM_READ   "read"
#define FAM_WRITE  "write"
#define FAM_STREAM "stream"
#define FAM_AUTH   "auth"

struct mastodon;
struct mcall;

typedef void (*mcall_done_cb)(struct mastodon *m, struct mcall *c,
                              const struct gw_http_response *r);

/* What a request needs when its answer comes. */
struct mcall {
    mcall_done_cb done;
    unsigned gen;     /* session generation when sent */
    bool sessionless; /* login steps: valid across sessions */
    bool is_action;
    uint64_t token;
    enum gw_action_kind kind;
    char *arg;     /* status id, account id or handle */
    bool searched; /* lookup fell back to /api/v2/search */
    cJSON *keep;   /* !thread: the status, until the context arrives */
};

/* Per-account state, priv of the gw_adapter from start() to stop(). */
struct mastodon {
    struct gw_adapter *ad;
    char *base;        /* API base URL, no trailing '/' */
    char *domain;      /* domain of local handles */
    char *stream_base; /* streaming host when it differs, else NULL */
    char *token;       /* never logged, never in a notice */
    char *auth_hdr;    /* "Authorization: Bearer <token>" */
    char *ca_file;     /* tls_ca */
    bool insecure;     /* tls_verify = no */
    bool want_stream;  /* streaming = yes */
    long poll_ms;
    char *client_id, *client_secret, *app_base; /* OAuth app */

    char *me_id;   /* my account id */
    char *me_raw;  /* acct as verify_credentials gave it */
    char *me_acct; /* my full handle */
    long max_chars, url_weight;
    char *cursor; /* newest notification id handled */

    unsigned gen;    /* bumped on every new sign-in */
    bool signed_in;  /* verify_credentials answered */
    bool signed_out; /* no token, or it was refused: no retries */
    bool announce;   /* say "signed in as" when it happens */
    int signin_failures;
    struct gw_backoff signin_backoff;

    bool bf_running;    /* a back-fill is in progress */
    bool bf_again;      /* another one was asked for meanwhile */
    bool cursor_frozen; /* a stream event failed to store */
    struct gw_backoff bf_backoff;

    struct gw_ad_stream *stream;
    bool sse_connected;
    bool stream_off; /* streaming unavailable: polling */

    struct gw_ad_timer *t_signin, *t_backfill;
};

/* api.c */
const char *mastodon__name(const struct mastodon *m);
struct mastodon_me mastodon__me(const struct mastodon *m);
void mastodon__replace(char **slot, const char *value);
void mastodon__timer(struct mastodon *m, struct gw_ad_timer **slot, uint64_t ms,
                     gw_ad_timer_cb cb);
void mastodon__timer_stop(struct gw_ad_timer **slot);
struct mcall *mastodon__call(mcall_done_cb done);
/* Send c (which the request then owns); < 0 when it could not start, and
 * then c is freed. family: FAM_*; body NULL for none. */
int mastodon__send(struct mastodon *m, struct mcall *c, const char *family,
                   const char *method, const char *url, const char *body,
                   const char *content_type, bool auth, const char *idem);
cJSON *mastodon__body(const struct gw_http_response *r);
/* Log an item the server sent that could not be shown (rc from a
 * conversion); MASTODON_IGNORED is a type we skip on purpose, not logged. */
void mastodon__dropped(struct mastodon *m, const char *what, const char *id,
                       int rc, const struct mastodon_event *e);
bool mastodon__is_401(const struct gw_http_response *r);
void mastodon__signed_out(struct mastodon *m, const struct gw_http_response *r);
void mastodon__session_restart(struct mastodon *m);
void mastodon__set_token(struct mastodon *m, const char *token);

/* stream.c */
void mastodon__backfill_start(struct mastodon *m);
/* Open the stream now if it should be and is not. */
void mastodon__stream_start(struct mastodon *m);
void mastodon__stream_retire(struct mastodon *m);

/* oauth.c */
int mastodon__login(struct gw_adapter *ad);
int mastodon__code(struct gw_adapter *ad, const char *code);

#endif
