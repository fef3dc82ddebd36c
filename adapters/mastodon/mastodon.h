/*
 * The Mastodon adapter (client API v1/v2: notifications, statuses, SSE
 * streaming, OAuth out-of-band), for Mastodon and the servers that speak its
 * API (GoToSocial, Pleroma, Akkoma). The account's runtime lives behind
 * mastodon_ops (api.c, stream.c, oauth.c); what this header adds are the
 * pure pieces it is built from (convert.c: JSON in; compose.c: posts out),
 * exported so that unit tests can check them against recorded JSON: none of
 * them calls the core, touches the network or keeps state.
 *
 * Ownership: every char * returned here is malloc'd and freed by the caller;
 * struct mastodon_event and struct mastodon_post own their strings and are
 * released with their _free() function (which accepts a zeroed struct).
 */
#ifndef GW_MASTODON_H
#define GW_MASTODON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "adapter.h"

extern const struct gw_adapter_ops mastodon_ops;

/* mastodon_notification_to_event(): the item is valid but not shown. */
#define MASTODON_IGNORED 1

/* Who "I" am, for telling replies and DMs apart and completing handles. */
struct mastodon_me {
    const char *id;     /* my account id, NULL when not known yet */
    const char *acct;   /* my full handle "me@host", may be NULL */
    const char *domain; /* the server's domain, for local "user" handles */
};

/* A converted event. ev's pointers borrow from the storage below. */
struct mastodon_event {
    struct gw_event ev;
    struct gw_strs strs;    /* owned strings ev points into */
    struct gw_media *media; /* owned array behind ev.media */
    const char **mentions;  /* owned array behind ev.mentions */
    const char *why;        /* UV_EINVAL: what was wrong, for the log */
};

/*
 * A Notification (GET /api/v1/notifications or the stream's "notification"
 * payload) to an event:
 *  - mention: DM when status.visibility is "direct", REPLY when
 *    status.in_reply_to_account_id is my id, else MENTION; quote: QUOTE
 *    (target_id = the quoted post when given); update: EDIT of the status;
 *    for these id is the status id;
 *  - favourite/reblog: FAV/BOOST, id = notification id, target_id = my
 *    status, text and url those of my status;
 *  - follow: FOLLOW, id = notification id, text "".
 * Returns 0 when out holds an event, MASTODON_IGNORED for types that are not
 * shown, UV_EINVAL when the item is malformed (an id that is not a string,
 * a missing account or status, wrong types). out is always initialised:
 * call mastodon_event_free() whatever the result.
 */
int mastodon_notification_to_event(const cJSON *n, const struct mastodon_me *me,
                                   struct mastodon_event *out);

/*
 * A Status to an event of the given kind (OWN for my posts, EDIT for
 * "status.update"). Text is status.content rendered as plain text, mention
 * links turned into full handles from status.mentions[] (matched by URL, or
 * by host and user name when the link is the actor id), the leading run of
 * mentions of me dropped (every reply starts with one), a "[poll] a / b"
 * line appended for polls; media go to ev.media with their descriptions as
 * alt. ev.author and ev.author_id: the full acct. ev.audience from the
 * visibility. ev.mentions: every mentioned full handle but mine. For EDIT,
 * created_ms is edited_at (the core keys each edit by id and time). ev.extra
 * is JSON {"visibility","cw","mentions":[...],"author_id", "edited_at"} with
 * the fields that are present. 0 or UV_EINVAL; out is always initialised.
 */
int mastodon_status_to_event(const cJSON *st, enum gw_event_kind kind,
                             const struct mastodon_me *me,
                             struct mastodon_event *out);

void mastodon_event_free(struct mastodon_event *e);

/*
 * Ids: a JSON string of 1..64 characters from [A-Za-z0-9_-] (Mastodon's are
 * decimal, GoToSocial's ULIDs, Pleroma's flake ids). A number is refused:
 * 20-digit ids do not survive a double.
 */
bool mastodon_id_valid(const char *s);
/* obj[key] when it is a valid id, else NULL. Borrowed from obj. */
const char *mastodon_json_id(const cJSON *obj, const char *key);
/*
 * Order of ids without converting them to numbers: leading zeros aside, the
 * longer is the bigger, then lexicographic. <0, 0, >0 like strcmp.
 */
int mastodon_id_cmp(const char *a, const char *b);

/*
 * The items of a notifications page with valid ids, oldest first (pages
 * arrive newest first; the order on the wire is not trusted). Returns the
 * count and a malloc'd array of borrowed pointers into page in *items
 * (NULL when 0); < 0 when page is not an array.
 */
int mastodon_page_sorted(const cJSON *page, const cJSON ***items);

/*
 * A handle as users type it ("@alice@host", "alice@host", "alice"):
 * user[@domain], user from [A-Za-z0-9_.-] or UTF-8, domain from
 * [A-Za-z0-9.-:] or UTF-8 (valid, without C1 controls), leading '@'
 * optional. mastodon_handle_full()
 * drops the '@' and appends "@domain" when there is none (domain may be
 * NULL); NULL when the handle is invalid.
 */
bool mastodon_handle_valid(const char *h);
char *mastodon_handle_full(const char *h, const char *domain);

/* The audience a visibility word stands for (GW_AUD_UNKNOWN for words of
 * other servers, such as "local"), and the word for an audience
 * ("unlisted" when unknown: off public timelines, still reaching everyone
 * named). */
enum gw_audience mastodon_audience(const char *visibility);
const char *mastodon_visibility(enum gw_audience a);

/* What POST /api/v1/statuses gets for a POST, REPLY or DM action. */
struct mastodon_post {
    char *text;             /* status, mentions included */
    const char *visibility; /* static string */
    char *spoiler;          /* content warning, NULL for none */
    char *in_reply_to;      /* parent id, NULL for none */
};

/*
 * The post for a POST, REPLY or DM action as the core composed it (the
 * text already names the people it must, the cw and the audience follow
 * the parent's): the visibility word for the audience ("direct" for a DM),
 * the parent's id. 0, or UV_EINVAL with a message for the user in err (an
 * empty text, a reply without a parent, a DM without a recipient).
 */
int mastodon_compose(const struct gw_action *a, struct mastodon_post *out,
                     char *err, size_t errlen);
void mastodon_post_free(struct mastodon_post *p);

/* Length as Mastodon counts it: extended grapheme clusters, every http://
 * or https:// URL as url_weight, a mention "@user@domain" as "@user". */
long mastodon_text_length(const char *s, long url_weight);

/*
 * Length as the server counts it (spoiler_text + text) against max: 0, or
 * UV_EMSGSIZE with "too long: N characters, the server allows M" in err.
 * max <= 0 means no limit.
 */
int mastodon_check_length(const struct mastodon_post *p, long max,
                          long url_weight, char *err, size_t errlen);

/*
 * Outcome of an HTTP exchange for an action: transport errors, 408, 429 and
 * 5xx are RETRY; 2xx OK; 401 and other statuses FAILED.
 */
enum gw_action_status mastodon_map_status(long status, int error);
/*
 * The server's own words for a failure: "error" (plus ": " and
 * "error_description" when given) from a JSON body, else "HTTP N", else the
 * transport's message. One line, sanitised, at most 300 bytes.
 */
char *mastodon_error_text(const struct gw_http_response *r);

/* Percent-encoding of everything but RFC 3986 unreserved characters. */
char *mastodon_urlencode(const char *s);
/*
 * BASE/oauth/authorize?response_type=code&client_id=...&redirect_uri=
 * urn:ietf:wg:oauth:2.0:oob&scope=read+write+follow, client_id encoded.
 */
char *mastodon_authorize_url(const char *base, const char *client_id);
/*
 * A base URL with its trailing '/' removed, when it is http:// or https://
 * with a host and nothing but a path after it; NULL otherwise.
 */
char *mastodon_base_url(const char *url);
/* "https://HOST" from "@me@HOST" (or "me@HOST"); NULL when not a handle
 * with a domain. */
char *mastodon_base_from_handle(const char *handle);
/* The host[:port] of a base URL (malloc'd), NULL when there is none. */
char *mastodon_url_host(const char *url);

/* What GET /api/v2/instance tells us; defaults where it says nothing. */
struct mastodon_instance {
    long max_characters;  /* 500 when absent */
    long url_weight;      /* characters_reserved_per_url, 23 */
    char *domain;         /* NULL when absent */
    char *streaming_base; /* configuration.urls.streaming as http(s) */
};
void mastodon_instance_parse(const cJSON *inst, struct mastodon_instance *out);
void mastodon_instance_free(struct mastodon_instance *in);

/*
 * !thread: the ancestors (the last 20, with a note for those left out), the
 * post and its replies (at most 60 items, with a note for the rest), as
 * GW_EV_CONTEXT events in reading order: the core shows each with its ref
 * and its author's nick. Posts that are no posts are left out. Returns the
 * number of items, or UV_EINVAL when status is not a status; free with
 * mastodon_thread_free() whatever the result.
 */
struct mastodon_thread {
    struct mastodon_event *posts; /* owned: what items point into */
    int nposts;
    struct gw_event *items; /* gw_action_result.items */
    int n;
    char *notes[2];
};
int mastodon_thread(const cJSON *status, const cJSON *context,
                    const struct mastodon_me *me, struct mastodon_thread *out);
void mastodon_thread_free(struct mastodon_thread *t);

/*
 * Lines for the user about an account (!who): name and handle, profile
 * URL, counts, the profile note. Returns the number of lines and a malloc'd
 * array of malloc'd strings in *lines (free with mastodon_lines_free), or
 * UV_EINVAL when the JSON is not usable.
 */
int mastodon_who_lines(const cJSON *account, const char *domain, char ***lines);
void mastodon_lines_free(char **lines, int n);

#endif
