/*
 * Facebook Pages and Instagram professional accounts, through Meta's Graph
 * API (graph.facebook.com, graph.instagram.com), the Messenger Platform's
 * Send and Conversations APIs and Meta's webhooks. Two networks share this
 * folder: facebook_ops and instagram_ops (api.c) differ in their ids,
 * endpoints, limits and what they can do.
 *
 * This header holds the pure pieces (convert.c: Graph JSON in; compose.c:
 * requests out, limits, errors, usage headers, the messaging window),
 * exported for the unit tests: none of them calls the core, touches the
 * network or keeps state. Every char * returned is malloc'd and freed by
 * the caller; struct meta_event owns its strings (meta_event_free, which
 * accepts a zeroed struct).
 */
#ifndef GW_META_H
#define GW_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "adapter.h"

extern const struct gw_adapter_ops facebook_ops;
extern const struct gw_adapter_ops instagram_ops;

enum meta_net {
    META_FACEBOOK = 1,
    META_INSTAGRAM,
};

/* Where a stored post lives; kept in its extra JSON as "s", because how
 * to answer it depends on it. */
#define META_S_FB_POST    "fb_post"    /* a post on the Page (or tagging it) */
#define META_S_FB_COMMENT "fb_comment" /* a comment on a Page post */
#define META_S_IG_COMMENT "ig_comment" /* a comment on my media */
#define META_S_IG_MENTION "ig_mention" /* a comment elsewhere naming me */
#define META_S_IG_CAPTION "ig_caption" /* a caption naming or tagging me */
#define META_S_DM         "dm"         /* Messenger or Instagram Direct */

/* Who "I" am: the Page id (Facebook) or the Instagram user id. */
struct meta_me {
    enum meta_net net;
    const char *id;
    const char *handle; /* Page name or IG username, may be NULL */
};

#define META_EVENT_STRS 24

/* A converted event; ev's pointers borrow from strs. */
struct meta_event {
    struct gw_event ev;
    char *strs[META_EVENT_STRS];
    int nstrs;
    struct gw_media media[1];
};
void meta_event_free(struct meta_event *e);

/* mastodon-like result codes of the converters. */
#define META_IGNORED 1 /* valid, but nothing to show (my own, an echo) */

/*
 * A Page comment (GET /{post-id}/comments with fields id, message,
 * from{id,name}, created_time, parent{id}, permalink_url, attachment) on
 * post_id: REPLY to the parent comment or to the post; OWN when it is the
 * Page's. Attachments Parley cannot show become "[photo] URL" or, without
 * a URL, "[sticker: see PERMALINK]".
 * 0, META_IGNORED or UV_EINVAL; out is always initialised.
 */
int meta_fb_comment(const cJSON *c, const char *post_id,
                    const struct meta_me *me, struct meta_event *out);
/* A post on the Page or tagging it (GET /{page-id}/tagged, or a visitor's
 * post in the feed): MENTION. */
int meta_fb_post(const cJSON *p, const struct meta_me *me,
                 struct meta_event *out);
/*
 * One entry.changes[] of a "page" webhook: field "feed" with item
 * "comment" (verb add: REPLY, edited: EDIT, remove: DELETE) or item
 * "post"/"status" by someone else (MENTION); field "mention" (MENTION).
 * time_s: the entry's time, for values without created_time.
 */
int meta_fb_change(const cJSON *change, int64_t time_s,
                   const struct meta_me *me, struct meta_event *out);

/*
 * An Instagram comment (GET /{media-id}/comments or .../replies with
 * fields id, text, timestamp, username, from{id,username}, parent_id) on
 * media_id: REPLY to its parent or to the media; OWN when it is mine.
 */
int meta_ig_comment(const cJSON *c, const char *media_id,
                    const struct meta_me *me, struct meta_event *out);
/* One entry.changes[] of an "instagram" webhook, field "comments" or
 * "live_comments". Field "mentions" needs a fetch: see meta_ig_mention_*. */
int meta_ig_change(const cJSON *change, int64_t time_s,
                   const struct meta_me *me, struct meta_event *out);
/* The media_id and comment_id (NULL for a caption) of a "mentions"
 * change; UV_EINVAL when it is not one. Borrowed from change. */
int meta_ig_mention_ids(const cJSON *change, const char **media_id,
                        const char **comment_id);
/* The answer to GET /{ig-user-id}?fields=mentioned_comment.comment_id(X)
 * {...} or mentioned_media.media_id(X){...}: MENTION. media_id is the one
 * the webhook named. */
int meta_ig_mentioned(const cJSON *answer, const char *media_id,
                      const char *comment_id, const struct meta_me *me,
                      struct meta_event *out);
/* Media I am tagged in (GET /{ig-user-id}/tags): MENTION. */
int meta_ig_tagged(const cJSON *media, const struct meta_me *me,
                   struct meta_event *out);

/*
 * A message of the Conversations API (fields id, created_time, from,
 * message, attachments) in conversation conv_id: DM, or META_IGNORED for
 * my own. A webhook "messaging" item (sender, recipient, timestamp,
 * message{mid,text,attachments,is_echo,is_deleted}): DM, DELETE for an
 * unsent message, META_IGNORED for echoes, reads, deliveries, reactions.
 * sender_name: the person's name when known, else the id is shown.
 */
int meta_message(const cJSON *msg, const char *conv_id,
                 const struct meta_me *me, struct meta_event *out);
int meta_messaging(const cJSON *item, const char *sender_name,
                   const struct meta_me *me, struct meta_event *out);

/* Ids: 1..96 of [0-9A-Za-z_.:-] (Graph ids, "123_456", "m_...", IGSIDs). */
bool meta_id_valid(const char *s);
const char *meta_json_id(const cJSON *o, const char *key);
/* "2026-11-25T19:40:00+0000" (Graph's) or ISO-8601 with 'Z'/':' to ms;
 * 0 when not a time. */
int64_t meta_time_ms(const char *s);

/* ---- errors and limits ---------------------------------------------- */

/* Graph's error object: {"error":{"message","type","code","error_subcode",
 * "fbtrace_id","is_transient"}}. */
struct meta_error {
    long code;    /* 0 when the body had none */
    long subcode; /* 0 when none */
    bool transient;
    char message[300]; /* sanitised, one line */
    char trace[64];    /* fbtrace_id, "" */
};
/* 0 when the body holds a Graph error, UV_EINVAL otherwise. */
int meta_error_parse(const char *body, size_t len, struct meta_error *out);
/* Throttling codes: 4, 17, 32, 613, 80001-80014. */
bool meta_error_throttle(long code);
/* A token that no longer works: 190 (and 102, 463, 467 by subcode). */
bool meta_error_token(const struct meta_error *e);
/* Sending outside the messaging window (10/2018278, 551/1545041...). */
bool meta_error_window(const struct meta_error *e);

/* What X-App-Usage and X-Business-Use-Case-Usage say. */
struct meta_usage {
    int app_pct;       /* max of call_count, total_cputime, total_time; -1 */
    int buc_pct;       /* the same over every BUC entry; -1 */
    char buc_type[32]; /* the fullest BUC entry's "type" ("pages", ...) */
    long regain_min;   /* estimated_time_to_regain_access, 0 */
};
/* Either header may be NULL. 0 when one of them parsed. */
int meta_usage_parse(const char *app_usage, const char *buc_usage,
                     struct meta_usage *out);

/* ---- out ------------------------------------------------------------ */

/* One Graph request for an action. */
struct meta_call {
    const char *method; /* static */
    char *path;         /* after the base URL: "/123/comments" */
    char *body;         /* form (application/x-www-form-urlencoded) or JSON */
    bool json;
    bool sends; /* it makes something (a retry may duplicate it) */
};
void meta_call_free(struct meta_call *c);

/* What compose needs besides the action. */
struct meta_ids {
    enum meta_net net;
    const char *me;      /* Page id or IG user id */
    const char *dm_from; /* where DMs are sent from: Page id, or the IG
                            user id for Instagram Login; NULL: no DMs */
};

/*
 * The request for an action: REPLY to a Page post or comment (POST
 * /{id}/comments message=), to an IG comment (POST /{id}/replies), to an
 * IG mention (POST /{ig-user-id}/mentions media_id, comment_id, message);
 * DM (POST /{page-id}/messages, messaging_type RESPONSE); DELETE (DELETE
 * /{comment-id}); FAV/UNFAV (POST/DELETE /{id}/likes, Facebook only);
 * the commands "hide" and "unhide" (POST /{comment-id} is_hidden= on
 * Facebook, hide= on Instagram).
 * 0, or UV_EINVAL / UV_ENOTSUP with a sentence for the user in err.
 */
int meta_compose(const struct meta_ids *ids, const struct gw_action *a,
                 struct meta_call *out, char *err, size_t errlen);

/*
 * The text limit of where an action goes (Messenger 2,000 characters,
 * Instagram Direct 1,000 bytes, Page comments 8,000 characters, Instagram
 * comments 300): 0, or UV_EMSGSIZE with "too long: ..." in err.
 */
int meta_check_length(enum meta_net net, const struct gw_action *a, char *err,
                      size_t errlen);

/* The standard messaging window, and the HUMAN_AGENT tag's. */
#define META_WINDOW_MS      (24LL * 3600 * 1000)
#define META_HUMAN_AGENT_MS (7LL * 24 * 3600 * 1000)
/*
 * May a DM answering a message of last_ms go at now_ms? 0, or UV_EPERM with
 * a sentence in err that says when the window closed and what tag it would
 * take. last_ms 0 (they never wrote): UV_EPERM too.
 */
int meta_window_check(int64_t last_ms, int64_t now_ms, char *err,
                      size_t errlen);

/* Form encoding of everything but RFC 3986 unreserved characters. */
char *meta_urlencode(const char *s);

/*
 * The sign-in address: Facebook Login's dialog (facebook, or instagram
 * with login = facebook) or Instagram Login's (instagram_login), with the
 * permissions the reference names for what Parley does.
 */
char *meta_login_url(enum meta_net net, bool instagram_login,
                     const char *app_id, const char *redirect_uri);

#endif
