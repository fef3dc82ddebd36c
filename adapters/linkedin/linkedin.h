/*
 * The LinkedIn adapter: a Company Page's comments and mentions through the
 * Community Management API (Rest.li protocol 2.0, versioned /rest/ APIs).
 * The account's runtime lives behind linkedin_ops (api.c, poll.c, act.c,
 * oauth.c); what this header adds are the pure pieces it is built from
 * (restli.c: URLs and URNs; convert.c: JSON in; compose.c: requests out;
 * webhook.c: LinkedIn's webhook checks), exported so that unit tests can
 * check them against recorded JSON: none of them calls the core, touches
 * the network or keeps state.
 *
 * LinkedIn has no public API for messages: the adapter cannot read or send
 * them, and says so when asked.
 *
 * Ownership: every char * returned here is malloc'd and freed by the
 * caller; the structs own their strings and are released with their
 * _free() function (which accepts a zeroed struct).
 */
#ifndef GW_LINKEDIN_H
#define GW_LINKEDIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "adapter.h"

extern const struct gw_adapter_ops linkedin_ops;

/*
 * The API version every request asks for, in ONE place. LinkedIn releases a
 * version a month and sunsets each about a year later; a sunset version is
 * answered 426 NONEXISTENT_VERSION and the account stops with a notice
 * saying so. To move it: read the migration notes of every month in
 * between (learn.microsoft.com/linkedin/marketing/versioning), check the
 * endpoints used here (organizationalEntityNotifications, socialActions
 * comments, reactions, posts, people, organizations) and the scopes below
 * against them, change this string, and run the tests (the mock answers
 * whatever version this names).
 */
#define LINKEDIN_VERSION "202607"
/* The Community Management scopes of that version (renamed in 2023 from
 * r_/w_organization_social); they move with LINKEDIN_VERSION. */
#define LINKEDIN_SCOPES                                                        \
    "rw_organization_admin r_organization_social_feed "                        \
    "w_organization_social_feed"

/* ---- Rest.li URLs and URNs (restli.c) ----------------------------------- */

/*
 * The one way a LinkedIn URL is built. fmt is written in Rest.li 2.0
 * syntax, which stays literal ("List(", "(start:", ",", ")"); every value
 * goes in through a conversion:
 *   %u  a value (a URN, an id, a word): percent-encoded, everything but
 *       RFC 3986 unreserved characters ("urn:li:organization:1" becomes
 *       "urn%3Ali%3Aorganization%3A1"), as Rest.li 2.0 wants values;
 *   %s  trusted text copied as it is (the base URL);
 *   %l  an int64_t in decimal (times, offsets);
 *   %%  a '%'.
 * Any other conversion is a bug (assert). Never NULL.
 */
char *linkedin_restli(const char *fmt, ...);

/* A URN as LinkedIn writes them: "urn:li:TYPE:ID", ID either a word of
 * [A-Za-z0-9_-] or a tuple "(...)" of printable characters; at most 256
 * bytes. */
bool linkedin_urn_valid(const char *urn);
/* "person" for "urn:li:person:abc" into buf (NUL-terminated, "" when urn is
 * not valid); the ID part is returned (borrowed from urn), NULL when not
 * valid. */
const char *linkedin_urn_split(const char *urn, char *type, size_t typelen);

/* A comment URN taken apart. LinkedIn writes the thread both as
 * "urn:li:comment:(urn:li:activity:1,2)" and "urn:li:comment:(activity:1,
 * 2)" (in notifications); urn is always the first form. */
struct linkedin_comment_ref {
    char *urn;    /* canonical comment URN */
    char *object; /* the thread: "urn:li:activity:1" (or share/ugcPost) */
    char *id;     /* the comment's own id: "2" */
};
/* 0, or UV_EINVAL when urn is not a comment URN of that shape. */
int linkedin_comment_ref(const char *urn, struct linkedin_comment_ref *out);
void linkedin_comment_ref_free(struct linkedin_comment_ref *c);

/* The next 00:00 UTC after now_ms (when LinkedIn's daily limits reset). */
int64_t linkedin_next_utc_midnight(int64_t now_ms);
/* "2027-01-31" for a time (UTC), into buf of at least 11 bytes. */
void linkedin_format_day(int64_t ms, char *buf, size_t size);

/* ---- notifications (convert.c) ------------------------------------------ */

enum linkedin_action {
    LINKEDIN_OTHER = 0, /* an action this adapter does not show */
    LINKEDIN_COMMENT,
    LINKEDIN_SHARE_MENTION,
    LINKEDIN_ADMIN_COMMENT,
    LINKEDIN_COMMENT_EDIT,
    LINKEDIN_COMMENT_DELETE,
};

/* One element of organizationalEntityNotifications (or of a webhook's
 * "notifications"). */
struct linkedin_note {
    char *id; /* notificationId, as decimal text */
    enum linkedin_action action;
    char *org;         /* organizationalEntity */
    char *source_post; /* sourcePost, may be NULL */
    char *activity;    /* generatedActivity (canonical when a comment) */
    int64_t at;        /* lastModifiedAt, epoch ms */
    /* decoratedGeneratedActivity.comment, when LinkedIn sent it: then the
     * comment need not be fetched. */
    char *text;  /* may be NULL */
    char *owner; /* may be NULL */
};

/*
 * An element to a note. 0; UV_EINVAL when it is malformed (no usable
 * notificationId, an unknown-typed field, an action this adapter shows
 * without a valid generatedActivity); out is always initialised.
 */
int linkedin_note_parse(const cJSON *el, struct linkedin_note *out);
void linkedin_note_free(struct linkedin_note *n);

/*
 * A page of notes: the valid ones in *notes (malloc'd array, oldest first;
 * free with linkedin_notes_free), their count returned; *elements is the
 * number of elements on the page (paging goes on while it equals the count
 * asked for), *bad the malformed ones skipped. UV_EINVAL when page has no
 * "elements" array.
 */
int linkedin_notes_page(const cJSON *page, struct linkedin_note **notes,
                        int *elements, int *bad);
void linkedin_notes_free(struct linkedin_note *notes, int n);

/* ---- comments, posts and people (convert.c) ----------------------------- */

/* A comment (socialActions/.../comments) or a post (posts), as far as the
 * adapter needs it. */
struct linkedin_item {
    char *urn;    /* the comment URN, or the post URN */
    char *object; /* the thread (post) a comment is on; a post: itself */
    char *parent; /* parentComment of a nested comment, else NULL */
    char *actor;  /* its author: a person or organization URN */
    char *text;   /* plain text (little text rendered), sanitised */
    int64_t created_ms;
    int64_t modified_ms; /* lastModified, else created */
};

/* A Comment object to an item: 0 or UV_EINVAL (no commentUrn or id, no
 * actor, no message). out is always initialised. */
int linkedin_comment_parse(const cJSON *c, struct linkedin_item *out);
/* A Post (GET /rest/posts/{urn}) to an item: 0 or UV_EINVAL. A mention of
 * me (a URN) in front of the text is dropped: in my own inbox it says
 * nothing and buries the text. */
int linkedin_post_parse(const cJSON *p, const char *me,
                        struct linkedin_item *out);
void linkedin_item_free(struct linkedin_item *it);

/* Posts API "little text" to plain text: "@[Name](urn:li:...)" becomes
 * "@Name", "{hashtag|\#|tag}" becomes "#tag", backslash escapes are
 * dropped. Never NULL. */
char *linkedin_little_text(const char *s);

/* Who wrote something: a person or an organization. */
struct linkedin_person {
    char *urn;
    char *name;   /* "Jane Doe", "Acme Inc." */
    char *handle; /* vanityName, else "TYPE-ID" */
    char *url;    /* profile or Page URL, may be NULL */
};
/*
 * A people or organizations answer for urn to a person: 0, or UV_EINVAL
 * when it names nobody (a private profile answers {"id":"private"}); then
 * use linkedin_person_fallback().
 */
int linkedin_person_parse(const cJSON *j, const char *urn,
                          struct linkedin_person *out);
/* What is shown when LinkedIn will not name someone: handle "person-ID",
 * name "LinkedIn member" (an organization: "org-ID", "LinkedIn Page"). */
void linkedin_person_fallback(const char *urn, struct linkedin_person *out);
void linkedin_person_free(struct linkedin_person *p);

/* An event and the strings behind it. */
struct linkedin_event {
    struct gw_event ev;
    char *strs[8];
    int nstrs;
};

/*
 * An item to an event of kind (REPLY, MENTION, OWN, EDIT), by who. The id
 * is the item's URN; in_reply_to the parent comment, else the post;
 * conversation the post; created_ms the item's time (for EDIT its
 * lastModified, so that each edit is its own notice). ev.extra is the JSON
 * actions need later: {"object","comment","parent","actor"}. The event
 * points into it and who, which must outlive it.
 */
void linkedin_item_event(const struct linkedin_item *it,
                         enum gw_event_kind kind,
                         const struct linkedin_person *who,
                         struct linkedin_event *out);
void linkedin_event_free(struct linkedin_event *e);

/* What a stored post's extra says (NULL fields when absent). */
struct linkedin_extra {
    char *object;  /* the post a comment is on, or the post itself */
    char *comment; /* the comment URN, NULL for a post */
    char *parent;  /* the comment it answers, for a nested comment */
    char *actor;   /* its author */
};
int linkedin_extra_parse(const char *json, struct linkedin_extra *out);
void linkedin_extra_free(struct linkedin_extra *x);

/* ---- HTTP outcomes (convert.c) ------------------------------------------ */

/*
 * The outcome of an exchange for an action: 2xx OK; 429 RETRY; 401 and
 * other 4xx FAILED; a transport error or 5xx RETRY, except that for a
 * request that creates something (creates) it is MAYBE when the request
 * may have arrived (a timeout, a cut answer, 500/502/503/504), since
 * LinkedIn takes no idempotency key.
 */
enum gw_action_status linkedin_map_status(const struct gw_http_response *r,
                                          bool creates);
/* LinkedIn's own words for a failure: "message (CODE)" from a Rest.li
 * error body, "error: error_description" from an OAuth one, else "HTTP
 * N", or the transport's message. One line, sanitised, at most 300 bytes. */
char *linkedin_error_text(const struct gw_http_response *r);
/* The Rest.li error "code" ("EXPIRED_ACCESS_TOKEN"), or "" (static). */
const char *linkedin_error_code(const struct gw_http_response *r, char *buf,
                                size_t size);
/* A 426, or a VERSION_MISSING / NONEXISTENT_VERSION error. */
bool linkedin_version_refused(const struct gw_http_response *r);
/* A 429 that names a daily limit ("... DAY limit for calls to this
 * resource is reached"): nothing changes before 00:00 UTC. */
bool linkedin_day_limit(const struct gw_http_response *r);

/* ---- OAuth (convert.c, compose.c) --------------------------------------- */

struct linkedin_token {
    char *access;
    char *refresh;              /* NULL: the app has no refresh tokens */
    int64_t expires_ms;         /* 0 when not said */
    int64_t refresh_expires_ms; /* 0 when not said */
};
/* An accessToken answer: 0, or UV_EINVAL without a usable access_token. */
int linkedin_token_parse(const cJSON *j, int64_t now_ms,
                         struct linkedin_token *out);
void linkedin_token_free(struct linkedin_token *t);

/* BASE/oauth/v2/authorization?response_type=code&client_id=..&
 * redirect_uri=..&state=..&scope=LINKEDIN_SCOPES, all encoded. */
char *linkedin_authorize_url(const char *oauth_base, const char *client_id,
                             const char *redirect_uri, const char *state);
/* The form bodies of POST /oauth/v2/accessToken. */
char *linkedin_code_form(const char *code, const char *client_id,
                         const char *client_secret, const char *redirect_uri);
char *linkedin_refresh_form(const char *refresh, const char *client_id,
                            const char *client_secret);
/*
 * What the user pasted after signing in: the code itself, or the whole
 * address LinkedIn sent the browser to ("...?code=C&state=S"). 0 with a
 * malloc'd *code (and *state, NULL when none); UV_EINVAL when there is no
 * code; an "error=" in the address is copied into err.
 */
int linkedin_code_from_paste(const char *paste, char **code, char **state,
                             char *err, size_t errlen);

/* ---- what goes out (compose.c) ------------------------------------------ */

/* Someone a reply may name: "@handle" in the text becomes their name,
 * linked to their URN. */
struct linkedin_mention {
    const char *handle;
    const char *name;
    const char *urn;
};

/*
 * The body of POST socialActions/{target}/comments: {"actor","object",
 * "message":{"text","attributes"},"parentComment"}. Every "@handle" of a
 * known person (case-insensitive, at the start or after a non-word
 * character) is replaced by their name and gets an attribute range (start
 * and length in UTF-16 code units, as LinkedIn's Java counts them) with a
 * MemberAttributedEntity or CompanyAttributedEntity; unknown ones stay as
 * typed. parent NULL for a top-level comment. The text as sent goes to
 * *sent (malloc'd) when it is not NULL, so that a later look can find it.
 */
char *linkedin_comment_body(const char *actor, const char *object,
                            const char *parent, const char *text,
                            const struct linkedin_mention *known, int nknown,
                            char **sent);
/* Characters as LinkedIn counts them: Java's UTF-16 code units. */
long linkedin_text_length(const char *s);
/* {"root": root, "reactionType": "LIKE"} */
char *linkedin_reaction_body(const char *root);

/*
 * The comment a maybe-sent reply made, if a page of comments (a
 * socialActions/{target}/comments answer) holds one by actor with exactly
 * text under parent (NULL: top level): 0 and out filled, else UV_ENOENT.
 */
int linkedin_find_comment(const cJSON *page, const char *actor,
                          const char *parent, const char *text,
                          struct linkedin_item *out);

/* ---- webhooks (webhook.c) ----------------------------------------------- */

/*
 * LinkedIn validates a webhook with GET ?challengeCode=C and wants 200
 * with JSON {"challengeCode": C, "challengeResponse": hex(HMAC-SHA256(
 * key = client secret, msg = C))}. NULL when the code is not printable.
 */
char *linkedin_webhook_challenge(const char *challenge_code,
                                 const char *client_secret);
/*
 * Each POST carries X-LI-Signature: hex(HMAC-SHA256(key = client secret,
 * msg = "hmacsha256=" + the body exactly as received)). True when header
 * matches (hex in either case), compared in constant time.
 */
bool linkedin_webhook_verify(const char *body, size_t len, const char *header,
                             const char *client_secret);
/*
 * A webhook POST body {"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
 * "notifications": [...]} to the notes the poller would have read: the
 * count and *notes as linkedin_notes_page() gives them; UV_EINVAL when the
 * body is not JSON of that type.
 */
int linkedin_webhook_parse(const char *body, size_t len,
                           struct linkedin_note **notes, int *bad);

/*
 * The listener path of an account's webhook into buf: "/linkedin", or
 * "/linkedin/NAME" when several accounts share the listener (each app's
 * validation is answered with its own secret, so each needs its own URL).
 * 0, or UV_EINVAL when NAME is not 1 to 64 of [A-Za-z0-9_-] or buf is too
 * small.
 */
int linkedin_webhook_path(const char *account, bool several, char *buf,
                          size_t size);

/* ---- the poll window (convert.c) ---------------------------------------- */

/* Notes already handled, remembered by notificationId. */
#define LINKEDIN_SEEN_MAX 2000

struct linkedin_seen {
    char id[24];
    int64_t at;
};

/* Where polling stands, kept as the account's "window" cursor. */
struct linkedin_window {
    int64_t start; /* the next poll asks from here (less an overlap) */
    struct linkedin_seen *seen;
    int nseen;
};
/* The cursor's JSON {"start":ms,"seen":[["id",ms],...]}: 0 or UV_EINVAL
 * (then w is empty). */
int linkedin_window_parse(const char *json, struct linkedin_window *w);
char *linkedin_window_format(const struct linkedin_window *w);
bool linkedin_window_seen(const struct linkedin_window *w, const char *id);
/* Remember id; past LINKEDIN_SEEN_MAX the oldest is forgotten (the store
 * still refuses to show its event twice). */
void linkedin_window_add(struct linkedin_window *w, const char *id, int64_t at);
/* Forget the ids of notes older than before_ms: a poll no longer asks for
 * their time. */
void linkedin_window_prune(struct linkedin_window *w, int64_t before_ms);
void linkedin_window_free(struct linkedin_window *w);

#endif
