/*
 * The Bluesky adapter (AT Protocol over XRPC): sign-in with an app password
 * (createSession, refreshSession), the PDS taken from the DID document,
 * notifications by polling listNotifications, DMs from chat.bsky.convo
 * (getLog through the PDS's atproto-proxy), posts as records with facets
 * and strong refs. The account's runtime lives behind bluesky_ops (api.c:
 * session and ops; poll.c: notifications; chat.c: DMs; act.c: actions);
 * what this header adds are the pure pieces it is built from (convert.c:
 * JSON in; compose.c: records out), exported so that unit tests can check
 * them against recorded JSON: none of them calls the core or keeps state.
 *
 * Ownership: every char * returned here is malloc'd and freed by the
 * caller; struct bluesky_event owns its strings and is released with
 * bluesky_event_free() (which accepts a zeroed struct).
 */
#ifndef GW_BLUESKY_H
#define GW_BLUESKY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "adapter.h"

extern const struct gw_adapter_ops bluesky_ops;

/* bluesky_notification_to_event(): valid, but not something we show. */
#define BLUESKY_IGNORED 1

/* A post is at most 300 graphemes and 3000 bytes (app.bsky.feed.post);
 * a chat message 1000 graphemes and 10000 bytes (chat.bsky.convo.defs). */
#define BLUESKY_POST_GRAPHEMES 300
#define BLUESKY_POST_BYTES     3000
#define BLUESKY_DM_GRAPHEMES   1000
#define BLUESKY_DM_BYTES       10000

/* A converted event. ev's pointers borrow from the storage below. */
struct bluesky_event {
    struct gw_event ev;
    struct gw_strs strs;    /* owned strings ev points into */
    struct gw_media *media; /* owned array behind ev.media */
    int bad_facets;         /* facets that were ignored (out of range...) */
};
void bluesky_event_free(struct bluesky_event *e);

/*
 * One element of listNotifications.notifications to an event:
 *  - mention, reply, quote: MENTION, REPLY (QUOTE) with id = the post's
 *    at:// URI, author_id the DID, author the handle, text rendered by
 *    bluesky_render_post(), in_reply_to the parent's URI, conversation the
 *    thread root's URI, extra {"uri","cid","root_uri","root_cid"} (the
 *    strong refs a reply needs);
 *  - like, repost: FAV, BOOST with id = the notification's URI, target_id =
 *    reasonSubject (my post);
 *  - follow: FOLLOW with id = the notification's URI.
 * Other reasons give BLUESKY_IGNORED; a malformed item (no URI, no author
 * DID or handle, a record of the wrong type) UV_EINVAL. cdn: base of image
 * URLs ("https://cdn.bsky.app"), NULL when the AppView's CDN is not known.
 * out is always initialised: call bluesky_event_free() whatever the result.
 */
int bluesky_notification_to_event(const cJSON *n, const char *cdn,
                                  struct bluesky_event *out);

/*
 * A post record's text as IRC shows it: facets applied (a link's text
 * replaced by its full URI, mentions and tags as written), then the embed
 * as text lines: "[image: alt]", "[video: alt]", "[link: title] uri",
 * "[quote] https://bsky.app/profile/DID/post/RKEY". Facets whose byte
 * range is out of the text, inverted, overlapping an earlier one or not on
 * UTF-8 boundaries are ignored and counted in e->bad_facets. With e and a
 * cdn, images go to e's media with a CDN URL instead of a text line.
 * Sanitised; never NULL. e may be NULL.
 */
char *bluesky_render_post(const cJSON *record, const char *author_did,
                          const char *cdn, struct bluesky_event *e);

/* "https://bsky.app/profile/DID/post/RKEY" for an app.bsky.feed.post URI,
 * NULL for anything else. */
char *bluesky_post_url(const char *uri);

/*
 * The parts of "at://DID/COLLECTION/RKEY" (each copied into the caller's
 * buffer, which must hold 256 bytes). 0 or UV_EINVAL.
 */
int bluesky_at_uri(const char *uri, char *did, char *collection, char *rkey);

/* A DID of the methods we can resolve: did:plc:<24 base32> or
 * did:web:<host>. */
bool bluesky_did_valid(const char *did);
/* A handle: ASCII labels of [A-Za-z0-9-] separated by dots, at least two
 * labels, at most 253 bytes; a leading '@' is allowed. */
bool bluesky_handle_valid(const char *h);

/* The "#atproto_pds" AtprotoPersonalDataServer endpoint of a DID
 * document, when it is an http(s) URL; NULL otherwise. */
char *bluesky_pds_endpoint(const cJSON *did_doc, const char *did);

/* iat and exp (epoch seconds) of a JWT's payload, without verifying it
 * (the server does that); UV_EINVAL when it has none. */
int bluesky_jwt_times(const char *jwt, int64_t *iat, int64_t *exp);
/* How long after it was issued to refresh a session whose access token
 * has these times: before expiry by a quarter of its life, at least a
 * minute and at most ten (two hours when the token does not say). From the
 * token's own life, not its exp: the server's clock may differ from ours. */
int64_t bluesky_refresh_in_ms(int64_t iat_s, int64_t exp_s);

/*
 * A chat.bsky.convo.defs#messageView as a DM event: id = the message id,
 * conversation = convo_id, author the sender (handle from sender_handle,
 * NULL: the DID), text rendered with its facets. 0, BLUESKY_IGNORED (a
 * deleted message), or UV_EINVAL.
 */
int bluesky_message_to_event(const cJSON *msg, const char *convo_id,
                             const char *sender_handle,
                             struct bluesky_event *out);

/* Order of TIDs and chat revs (base32-sortable strings of one length). */
int bluesky_rev_cmp(const char *a, const char *b);

/*
 * A TID (13 characters of base32-sortable, plus NUL) for a record key:
 * microseconds since the epoch and a 10-bit clock id.
 * bluesky_tid_for() derives one from an outbox item, so that every
 * attempt creates the same record: its time from when the item was queued
 * (plus a few microseconds taken from the key) and its clock id from the
 * key.
 */
void bluesky_tid(int64_t us, unsigned clock_id, char out[14]);
void bluesky_tid_for(int64_t queued_ms, const char *idem_key, char out[14]);

/* ---- what goes out ------------------------------------------------------ */

enum bluesky_facet_kind { BLUESKY_FACET_MENTION = 1, BLUESKY_FACET_LINK };

/* A facet found in outgoing text: a byte range and what it stands for. */
struct bluesky_facet {
    enum bluesky_facet_kind kind;
    size_t start, end; /* UTF-8 byte offsets, end exclusive */
    char *value;       /* MENTION: the handle (no '@'); LINK: the URI */
    char *did;         /* MENTION: filled in once resolved */
};
void bluesky_facets_free(struct bluesky_facet *f, int n);

/*
 * The facets of text, in order: "@handle" (after the start, a space or an
 * opening parenthesis; a valid handle with a dot; a trailing dot is not
 * part of it) and http(s) URLs (up to a space, without trailing
 * punctuation). Returns the count and a malloc'd array in *out (NULL when
 * 0).
 */
int bluesky_facets_find(const char *text, struct bluesky_facet **out);

/* Strong refs a reply carries. */
struct bluesky_reply_refs {
    const char *parent_uri, *parent_cid;
    const char *root_uri, *root_cid;
};

/*
 * The app.bsky.feed.post record for text: createdAt, facets (mentions
 * whose did is set, and links), reply refs when given. A cJSON object the
 * caller deletes.
 */
cJSON *bluesky_post_record(const char *text, int64_t created_ms,
                           const struct bluesky_facet *f, int nf,
                           const struct bluesky_reply_refs *reply);
/* chat.bsky.convo.defs#messageInput for text, with the same facets. */
cJSON *bluesky_message_input(const char *text, const struct bluesky_facet *f,
                             int nf);

/*
 * Length as the network counts it: graphemes (libutf8proc's extended
 * grapheme clusters) and bytes against the limits. 0, or UV_EMSGSIZE with
 * "too long: N graphemes, Bluesky allows M" (or the bytes) in err.
 */
int bluesky_check_length(const char *text, long max_graphemes, long max_bytes,
                         char *err, size_t errlen);

/* Outcome of an XRPC exchange for an action: transport errors, 408, 429
 * and 5xx RETRY; 2xx OK; anything else FAILED. */
enum gw_action_status bluesky_map_status(const struct gw_http_response *r);
/* The XRPC error name of a response ("ExpiredToken"), NULL when none;
 * copied into buf. */
const char *bluesky_error_name(const struct gw_http_response *r, char *buf,
                               size_t size);
/* "Name: message" from an XRPC error body, else "HTTP N", else the
 * transport's text; one sanitised line of at most 300 bytes. */
char *bluesky_error_text(const struct gw_http_response *r);

/*
 * Lines for !thread (from getPostThread's thread: the parents, the post,
 * its replies; "handle: text" each) and !who (from getProfile). Return the
 * count and a malloc'd array of malloc'd lines (free with
 * bluesky_lines_free), or UV_EINVAL when the JSON is not usable.
 */
int bluesky_thread_lines(const cJSON *thread, char ***lines);
int bluesky_who_lines(const cJSON *profile, char ***lines);
void bluesky_lines_free(char **lines, int n);

#endif
