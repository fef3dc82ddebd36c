/*
 * The X (Twitter) adapter, API v2: mentions and DMs by polling (X has no
 * stream a user token may open), posts, replies, quotes, DMs, likes,
 * reposts, follows, OAuth 2.0 Authorization Code with PKCE, and a budget
 * per account because X bills reads. The runtime lives behind x_ops
 * (api.c, poll.c, oauth.c); this header adds the pure pieces it is built
 * from (convert.c: JSON in; text.c: text, posts and problems out),
 * exported for unit tests: none of them calls the core or keeps state.
 *
 * Ownership: every char * returned here is malloc'd and freed by the
 * caller; struct x_event owns its strings and is released with
 * x_event_free() (which accepts a zeroed struct).
 */
#ifndef GW_X_H
#define GW_X_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "adapter.h"

extern const struct gw_adapter_ops x_ops;

/* twitter-text v3 (config/v3.json): 280 weighted characters, a URL weighs
 * 23, code points outside the Latin and punctuation ranges 2. Accounts
 * with long posts (note_tweet) may write up to 25,000. */
#define X_MAX_WEIGHTED 280
#define X_NOTE_MAX     25000
#define X_URL_WEIGHT   23
#define X_DM_MAX       10000
#define X_IGNORED      1

/* ---- ids ----------------------------------------------------------------- */

/* A post, user or DM event id: 1..32 decimal digits. X's ids already pass
 * 2^63 in places; they stay strings and are never converted. */
bool x_id_valid(const char *s);
/* A DM conversation id: digits, or "small-large" for one-to-one. */
bool x_conv_id_valid(const char *s);
/* o[k] when it is a valid id string, else NULL (borrowed). A number is
 * refused: a double keeps 15 digits of 19. */
const char *x_json_id(const cJSON *o, const char *k);
/* Numeric order of two valid ids without converting them. */
int x_id_cmp(const char *a, const char *b);
/* A username as X allows it: 1..15 of [A-Za-z0-9_], '@' optional. */
bool x_username_valid(const char *s);

/* ---- JSON in ------------------------------------------------------------- */

struct x_me {
    const char *id;       /* my user id, NULL when not known yet */
    const char *username; /* without '@', may be NULL */
};

/* A converted event. ev's pointers borrow from the storage below. */
struct x_event {
    struct gw_event ev;
    struct gw_strs strs; /* owned strings ev points into */
    struct gw_media *media;
    const char **mentions;
};

/*
 * A Post (data[] of /2/users/:id/mentions, /2/tweets, ...) to an event.
 * includes and errors are the response's own (either may be NULL): the
 * author comes from includes.users, media from includes.media (alt text
 * kept), a quoted post from includes.tweets; what X left out of includes
 * is named from errors[] ("deleted", "protected", ...) rather than
 * guessed. Text: note_tweet.text when the post is long, t.co links
 * replaced by their expanded_url (media links dropped: the media follow),
 * &amp; &lt; &gt; decoded, the leading mentions of me dropped, withheld
 * posts marked. Kind: REPLY when it answers a post of mine, QUOTE when it
 * quotes one, else MENTION; want_own gives OWN. 0, or UV_EINVAL when the
 * post is malformed (no valid id, no text); out is always initialised.
 */
int x_post_to_event(const cJSON *post, const cJSON *includes,
                    const cJSON *errors, const struct x_me *me, bool want_own,
                    struct x_event *out);
/*
 * A DM event (data[] of /2/dm_events) to a DM event: MessageCreate only
 * (X_IGNORED for joins and leaves, and for messages I sent myself);
 * conversation = dm_conversation_id; extra {"sender_id"}. 0, X_IGNORED or
 * UV_EINVAL; out always initialised.
 */
int x_dm_to_event(const cJSON *dm, const cJSON *includes, const cJSON *errors,
                  const struct x_me *me, struct x_event *out);
void x_event_free(struct x_event *e);

/* The items of data[] with valid ids, oldest first; count and a malloc'd
 * array of borrowed pointers (NULL when 0); < 0 when data is neither an
 * array nor absent. */
int x_items_sorted(const cJSON *data, const cJSON ***items);
/* How many posts a response holds (data[] and includes.tweets): X bills
 * reads per post. */
long x_posts_in(const cJSON *resp);

/* ---- problems ------------------------------------------------------------ */

/* The outcome of an HTTP exchange: transport errors, 408, 429 and 5xx are
 * RETRY; 2xx OK; everything else FAILED. */
enum gw_action_status x_map_status(long status, int error);
/* A POST that may have been carried out even though no answer came: a
 * timeout or a dropped connection after sending, or a 5xx. */
bool x_maybe_made(const struct gw_http_response *r);
/* X's own words: "title: detail" of a problem, else errors[0] (message, or
 * title and detail), else error_description, else "HTTP N", else the
 * transport's message. One sanitised line of at most 300 bytes. */
char *x_error_text(const struct gw_http_response *r);
/* 403 "You are not allowed to create a Tweet with duplicate content." */
bool x_is_duplicate(const struct gw_http_response *r);
/* 403 meaning the app's access tier lacks the endpoint (client-forbidden,
 * client-not-enrolled, "access level"): never retried. */
bool x_is_tier_error(const struct gw_http_response *r);
/* The OAuth error code of a token response ("invalid_grant"), or NULL. */
char *x_oauth_error(const struct gw_http_response *r);

/* ---- text out ------------------------------------------------------------ */

/* Weighted length as twitter-text v3 counts it: NFC first; each http(s)
 * URL 23; an emoji sequence 2; other code points 1 inside the v3 ranges
 * (U+0000-10FF, 2000-200D, 2010-201F, 2032-2037), 2 outside. */
long x_text_length(const char *s);
/* 0, or UV_EMSGSIZE with "too long: N, X allows M" (M is 280, or 25,000
 * with long posts); UV_EINVAL for an empty text. */
int x_check_length(const char *text, bool long_posts, char *err, size_t errlen);

/* What a POST, REPLY or DM action sends. */
struct x_post {
    char *text;     /* may be "" for a bare quote */
    char *reply_to; /* REPLY: the parent post id */
    char *quote_id; /* POST ending in a post's address: quote_tweet_id */
    char *dm_conv;  /* DM: the conversation to answer in */
    char *dm_user;  /* DM: the user id to write to (when known) */
    char *dm_name;  /* DM: the username to look up otherwise */
};
/*
 * The request for a POST, REPLY or DM action: lengths checked, a post
 * whose text ends in https://x.com/USER/status/ID (or twitter.com) becomes
 * a quote of ID. 0, or < 0 with a message for the user in err.
 */
int x_compose(const struct gw_action *a, bool long_posts, struct x_post *out,
              char *err, size_t errlen);
/* The JSON body: POST /2/tweets, or a DM message. cJSON_free() it. */
char *x_post_json(const struct x_post *p);
char *x_dm_json(const struct x_post *p);
void x_post_free(struct x_post *p);
/* In my latest posts (a /2/users/:id/tweets response), the one with this
 * text (compared after expanding t.co links and NFC) and parent (NULL: not
 * a reply): its id, borrowed from resp; NULL when none. */
const char *x_find_own(const cJSON *resp, const char *text, const char *parent);

/* ---- OAuth 2.0 with PKCE ------------------------------------------------- */

/* Percent-encoding of everything but RFC 3986 unreserved characters. */
char *x_urlencode(const char *s);
/* The S256 code_challenge of a verifier (RFC 7636). */
char *x_pkce_challenge(const char *verifier);
/* A new verifier: 43 characters of base64url from 32 random bytes. */
char *x_pkce_verifier(void);
/* AUTHORIZE?response_type=code&client_id=..&redirect_uri=..&scope=..
 * &state=..&code_challenge=..&code_challenge_method=S256 */
char *x_authorize_url(const char *authorize, const char *client_id,
                      const char *redirect_uri, const char *state,
                      const char *challenge);
/* The scopes asked for, space-separated. */
extern const char x_scopes[];
/*
 * What the user pasted after signing in: the code alone, or the whole
 * redirect address (...?state=..&code=..). 0 with *code (and *state when
 * the address had one, else NULL) malloc'd; UV_EINVAL when there is no
 * code, or X sent an error instead (err says which).
 */
int x_code_parse(const char *input, char **code, char **state, char *err,
                 size_t errlen);

/* ---- the budget ---------------------------------------------------------- */

/* Requests per UTC day and posts read per UTC month; 0 = no limit. */
struct x_budget {
    long max_requests_day;
    long max_posts_month;
    long requests_today;
    long posts_month;
    int64_t day;   /* days since the epoch the counts are for */
    int64_t month; /* months since 1970-01 */
};
/* Start a new day or month when now_ms is past the one counted. */
void x_budget_roll(struct x_budget *b, int64_t now_ms);
/* The counters as JSON for a cursor, and back (unknown input: zeroes). */
char *x_budget_save(const struct x_budget *b);
void x_budget_load(struct x_budget *b, const char *json);
/*
 * Milliseconds until the next poll so that polling lasts until the day's
 * (and month's) end: base_ms at least; requests_per_poll and
 * posts_per_poll estimate what one poll costs. *low is set when the budget
 * (not the base) decided. Returns -1 when nothing is left: wait for the
 * next day or month (x_budget_reset_ms).
 */
long x_budget_interval(const struct x_budget *b, int64_t now_ms, long base_ms,
                       long requests_per_poll, long posts_per_poll, bool *low);
/* When the spent budget comes back: the next UTC midnight or month. */
int64_t x_budget_reset_ms(const struct x_budget *b, int64_t now_ms);
/* The rate-limit window's own pace: the reset spread over what remains. */
long x_ratelimit_interval(long remaining, int64_t reset_ms, int64_t now_ms);

/* ---- lines for the user -------------------------------------------------- */

/* !thread: "@user: text" per post of a search or lookup response, oldest
 * first; !who: name, handle, counts, the bio of a user lookup. Count and a
 * malloc'd array (x_lines_free), or UV_EINVAL. */
int x_thread_lines(const cJSON *resp, const struct x_me *me, char ***lines);
int x_who_lines(const cJSON *resp, char ***lines);
void x_lines_free(char **lines, int n);

#endif
