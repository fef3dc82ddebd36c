/*
 * One Facebook Page's or Instagram account's runtime, shared by api.c
 * (requests, signing in, actions, the ops tables), poll.c (the poller),
 * hook.c (webhooks) and oauth.c (Facebook Login, Instagram Login).
 */
#ifndef GW_META_INT_H
#define GW_META_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "meta.h"

/* Rate-limit families. Polling and answering are held apart (a usage
 * warning slows the poller, not the answers); the Conversations API has
 * its own 2 requests/s. */
#define FAM_READ  "read"
#define FAM_WRITE "write"
#define FAM_CONV  "conv"
#define FAM_AUTH  "auth"

/* The Conversations API allows 2 requests a second per Page. */
#define CONV_SPACING_MS 500
/* A throttle that names no time to wait. */
#define THROTTLE_HOLD_MS (5 * 60 * 1000)
/* Usage at or past this percentage holds the poller until Meta says the
 * window has room again (or THROTTLE_HOLD_MS). */
#define USAGE_SLOW_PCT 90

struct meta;
struct mreq;
struct job;

typedef void (*mreq_cb)(struct meta *m, struct mreq *q,
                        const struct gw_http_response *r, cJSON *body);

/* A request in flight and what its answer needs. */
struct mreq {
    mreq_cb done;
    unsigned gen;
    bool sessionless;
    bool is_action;
    const char *family;
    uint64_t token;
    enum gw_action_kind kind;
    char *a, *b, *c; /* ids or text the answer needs */
    struct meta_call call;
    void *job; /* hook.c: the webhook job it feeds */
};

#define NAMES_MAX 64

struct meta {
    struct gw_adapter *ad;
    enum meta_net net;
    bool ig_login;   /* Instagram Login (graph.instagram.com) */
    char *base;      /* Graph base URL with version, no '/' at the end */
    char *root;      /* base without the version (token endpoints) */
    char *auth_base; /* Instagram Login's code exchange host */
    char *me_id;     /* page_id or ig_user_id */
    char *page_id;   /* the Page (Facebook, or IG's linked Page) */
    char *me_handle; /* Page name or IG username */
    char *token;     /* never logged */
    char *auth_hdr;
    char *app_id, *app_secret, *verify_token, *redirect_uri;
    char *ca_file;
    bool insecure;
    long poll_ms;
    bool hooked; /* a webhook path is registered */
    char hook_path[32];

    unsigned gen;
    bool signed_in, signed_out, announce;
    int signin_failures;
    struct gw_backoff backoff;
    struct gw_ad_timer *t_signin, *t_poll, *t_refresh;

    /* poller */
    bool polling;
    int poll_pending; /* requests of this round still out */
    bool poll_failed;
    int64_t last_poll_ms;
    int64_t conv_last_ms;

    /* usage, for status */
    struct meta_usage usage;
    int64_t usage_ms;
    int64_t throttled_until;

    /* names of people who wrote by webhook, by id */
    struct {
        char *id, *name;
    } names[NAMES_MAX];
    int names_next;
    struct job *jobs; /* webhook POSTs being handled (hook.c) */
};

/* api.c */
const char *meta__name(const struct meta *m);
struct meta_me meta__me(const struct meta *m);
struct mreq *meta__req(mreq_cb done, const char *family);
/* GET/POST/DELETE base + path (path may hold a query); < 0 when it could
 * not start, and q is freed. */
int meta__send(struct meta *m, struct mreq *q, const char *method,
               const char *url, const char *body, bool json);
char *meta__url(const struct meta *m, const char *fmt, ...) GW_PRINTF(2, 3);
void meta__replace(char **slot, const char *value);
void meta__store(struct meta *m, const char *key, const char *value);
void meta__set_token(struct meta *m, const char *token);
void meta__session_restart(struct meta *m);
/* A Graph failure as one line for the user (the server's own words). */
char *meta__error_text(const struct gw_http_response *r);
void meta__signed_out(struct meta *m, const char *why);
const char *meta__name_of(struct meta *m, const char *id);
void meta__name_keep(struct meta *m, const char *id, const char *name);

long meta__poll_interval(const struct meta *m);

/* poll.c */
void meta__poll_start(struct meta *m, uint64_t delay_ms);

/* hook.c */
void meta__hook_register(struct meta *m);
void meta__job_drop(void *job);
void meta__jobs_free(struct meta *m);

/* oauth.c */
int meta__login(struct gw_adapter *ad);
int meta__code(struct gw_adapter *ad, const char *code);
void meta__refresh_check(struct meta *m);

#endif
