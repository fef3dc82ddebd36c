/*
 * The LinkedIn account's runtime, shared by api.c (requests, signing in,
 * limits, the ops table), poll.c (notifications, the window, people),
 * act.c (comments, likes, deletes) and oauth.c (sign-in, refresh, expiry).
 * Nothing else includes it.
 */
#ifndef GW_LINKEDIN_INT_H
#define GW_LINKEDIN_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "linkedin.h"

/* Rate-limit families. LinkedIn limits each endpoint per day apart, so a
 * 429 on notifications holds only them: comments are still fetched and
 * replies still sent. */
#define FAM_NOTES "notes"
#define FAM_READ  "read"
#define FAM_WRITE "write"
#define FAM_AUTH  "auth"
#define NFAMS     4

/* poll_seconds unset behind a webhook: the poller is a safety net for
 * what a delivery missed (as Meta's). */
#define LINKEDIN_POLL_HOOKED_S 900

#define DAY_MS  86400000LL
#define WEEK_MS (7 * DAY_MS)

/* People named, cached for at most a day: LinkedIn's terms allow caching
 * other members' profile data for 24 hours, not storing it. */
#define PEOPLE_MAX    256
#define PEOPLE_TTL_MS DAY_MS
#define NOBODY_TTL_MS 3600000 /* a profile LinkedIn would not show */

struct linkedin;
struct lcall;
struct linkedin_hook;

typedef void (*lcall_done_cb)(struct linkedin *m, struct lcall *c,
                              const struct gw_http_response *r);

/* What a request needs when its answer comes. */
struct lcall {
    lcall_done_cb done;
    unsigned gen;     /* session generation when sent */
    bool sessionless; /* sign-in steps: valid across sessions */
    bool is_action;
    uint64_t token;
    enum gw_action_kind kind;
    char family[8];
    char *s[5]; /* what the step needs: URNs, texts, a body */
    long n;     /* an offset, when the step pages */
};

/* 429 back-off of one family: LinkedIn says nothing about when to come
 * back, so the adapter probes, ever more rarely, until 00:00 UTC. */
struct limit {
    long step_ms;
    int64_t until;
};

struct person_slot {
    struct linkedin_person p;
    int64_t at;    /* when it was learned */
    bool fallback; /* LinkedIn would not name them */
};

/* Per-account state, priv of the gw_adapter from start() to stop(). */
struct linkedin {
    struct gw_adapter *ad;
    char *api;    /* API base, https://api.linkedin.com */
    char *oauth;  /* OAuth base, https://www.linkedin.com */
    char *org;    /* urn:li:organization:N */
    char *org_id; /* N */
    char *client_id, *client_secret, *redirect_uri;
    char *token;    /* never logged, never in a notice */
    char *auth_hdr; /* "Authorization: Bearer <token>" */
    char *refresh;  /* refresh token, NULL when the app has none */
    int64_t expires_ms, refresh_expires_ms;
    char *ca_file;
    bool insecure;
    long poll_ms;
    bool poll_set; /* poll_seconds was given: webhooks do not change it */

    bool hooked; /* a webhook path is registered (hook.c) */
    char hook_path[80];
    struct linkedin_hook *hooks; /* POSTs waiting for their notes */

    char *me_name;   /* the Page's name */
    char *me_handle; /* its vanityName */

    unsigned gen;     /* bumped on every new token */
    bool signed_in;   /* the organization answered */
    bool signed_out;  /* no token, or it was refused: no retries */
    bool refreshing;  /* a refresh is in flight */
    bool version_bad; /* LinkedIn refuses LINKEDIN_VERSION */
    bool announce;    /* say "signed in" when it happens */
    int signin_failures;
    struct gw_backoff signin_backoff;
    struct gw_ad_timer *t_signin, *t_poll, *t_expiry;

    /* Polling: the window and the notes of the run in progress. */
    struct linkedin_window win;
    bool polling;
    int64_t poll_end;            /* the run asks up to here */
    long page_start;             /* offset of the page being read */
    bool more_pages;             /* the page was full */
    bool poll_due;               /* the timer fired during webhook notes */
    struct linkedin_note *queue; /* the page's unseen notes */
    int nqueue, iqueue;
    struct linkedin_item job; /* the note's comment or post, once read */
    int skipped;              /* notes of this run that could not be read */
    int poll_failures;        /* runs failed since the last that ended well */
    struct gw_backoff poll_backoff;

    const char *fams[NFAMS];
    struct limit limits[NFAMS];

    struct person_slot people[PEOPLE_MAX];
    int npeople;
};

/* api.c */
const char *linkedin__name(const struct linkedin *m);
struct lcall *linkedin__call(lcall_done_cb done);
/* Send c (which the request then owns) to the API; < 0 when it could not
 * start, and then c is freed. url is whole (linkedin_restli). */
int linkedin__send(struct linkedin *m, struct lcall *c, const char *family,
                   const char *method, const char *url, const char *body);
/* The same to the OAuth host: a form, no token, no version. */
int linkedin__send_form(struct linkedin *m, struct lcall *c, const char *url,
                        const char *form);
cJSON *linkedin__body(const struct gw_http_response *r);
/*
 * What every answer may mean for the whole account: a refused token
 * (401), a refused API version (426), a 429 (the family is held and
 * probed). True when it was one of those and has been dealt with.
 */
bool linkedin__account_trouble(struct linkedin *m, struct lcall *c,
                               const struct gw_http_response *r);
void linkedin__signed_out(struct linkedin *m, const char *why);
void linkedin__set_token(struct linkedin *m, const char *token);
void linkedin__session_restart(struct linkedin *m);
/* The next probe of a held family, 0 when it is not held. */
int64_t linkedin__held_until(const struct linkedin *m, const char *family);

/* poll.c */
void linkedin__poll_start(struct linkedin *m);
void linkedin__poll_stop(struct linkedin *m);
void linkedin__poll_later(struct linkedin *m, long ms);
/* Notes from a webhook (or any source): handled as a poll's would be. */
void linkedin__notes_take(struct linkedin *m, struct linkedin_note *notes,
                          int n);
const struct linkedin_person *linkedin__person(const struct linkedin *m,
                                               const char *urn);
void linkedin__person_keep(struct linkedin *m, const struct linkedin_person *p,
                           bool fallback);
/* The people a reply may name, for linkedin_comment_body(); *n entries
 * borrowed from the cache. */
struct linkedin_mention *linkedin__mentions(const struct linkedin *m, int *n);

/* hook.c */
void linkedin__hook_register(struct linkedin *m);
/* Note id has been handled (delivered, skipped or seen before): a POST
 * that waited only for it and others handled is answered once committed. */
void linkedin__hook_note_done(struct linkedin *m, const char *id);
/* The run handling their notes stopped: every POST still waiting gets 503. */
void linkedin__hooks_fail(struct linkedin *m, const char *why);
/* The account stops: what waits is dropped unanswered (the listener has
 * answered it). */
void linkedin__hooks_free(struct linkedin *m);

/* act.c */
int linkedin__act(struct gw_adapter *ad, const struct gw_action *a);
int linkedin__check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                    size_t errlen);
const char *linkedin__why_not(enum gw_action_kind kind);

/* oauth.c */
int linkedin__login(struct gw_adapter *ad);
int linkedin__code(struct gw_adapter *ad, const char *code);
/* At start and every day: warn a week before the token runs out (once a
 * day at most), refresh it where the app has refresh tokens. */
void linkedin__expiry_check(struct linkedin *m);
/* A 401 on an expired token: refresh when possible; false when not. */
bool linkedin__try_refresh(struct linkedin *m);

#endif
