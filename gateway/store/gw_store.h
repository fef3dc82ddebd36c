/*
 * The store: one SQLite database (WAL) at state_dir/parley.db holding
 * accounts and their settings, posts with their refs, network cursors, the
 * outbox of outbound actions, IRC channel history and small key/values.
 *
 * gw_store owns the single sqlite3 connection and its prepared statements.
 * Every function runs on the loop thread and is short. Strings handed in are
 * copied; strings handed out in structs are owned by the struct and freed
 * with the matching *_free() (which accept NULL / zeroed structs).
 * Functions return 0 (or a count, or 1 where documented) on success and a
 * negative UV_* code on failure; the human reason is in gw_store_errmsg().
 */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct gw_store;

/* Schema version this build writes; a newer database is refused. */
#define GW_STORE_SCHEMA_VERSION 6

/*
 * Open or create state_dir (mode 0700) and state_dir/parley.db (0600),
 * enable WAL, run migrations. On failure *out is NULL and err holds a
 * sentence a user can act on ("state/parley.db is not a Parley database",
 * "... was written by a newer Parley (schema 7, this build knows 1)").
 */
int gw_store_open(struct gw_store **out, const char *state_dir, char *err,
                  size_t errlen);
void gw_store_close(struct gw_store *st);
/* How many accounts state_dir/parley.db holds, read only and without
 * creating or migrating anything (for --check-config). UV_ENOENT when there
 * is no database yet. */
int gw_store_peek_accounts(const char *state_dir, int *count);
const char *gw_store_errmsg(const struct gw_store *st);

/* Copy the WAL into the database (PASSIVE) if anything was written since
 * the last time; call it from a timer, outside transactions. 1 when it
 * checkpointed, 0 when there was nothing to do. */
int gw_store_checkpoint(struct gw_store *st);
/* The same on a libuv worker thread, with a connection of its own, so
 * that the loop never waits for the checkpoint's fsyncs; cb(arg, rc) on
 * the loop thread when it is done (rc < 0: gw_store_errmsg says why).
 * Returns 1 when started, 0 when there was nothing to do or one is
 * running already, < 0 when it could not start. The store must not be
 * closed before cb has run (uv_run returns only after it has). */
typedef void (*gw_store_ckpt_cb)(void *arg, int rc);
int gw_store_checkpoint_bg(struct gw_store *st, uv_loop_t *loop,
                           gw_store_ckpt_cb cb, void *arg);

/* Group several writes into one transaction (nesting is counted). */
int gw_store_begin(struct gw_store *st);
int gw_store_commit(struct gw_store *st);
int gw_store_rollback(struct gw_store *st);

/* ---- accounts ------------------------------------------------------- */

struct gw_account_row {
    char *name;    /* unique, as typed ("mastodon", "work") */
    char *network; /* "mastodon", "bluesky", "x", "test" */
    bool enabled;
    int64_t created_ms;
};
void gw_account_row_free(struct gw_account_row *r);

/* UV_EEXIST if the name is taken. */
int gw_store_account_add(struct gw_store *st, const char *name,
                         const char *network);
/* Deletes the account and its settings and cursors (posts stay, so refs
 * keep resolving). UV_ENOENT if unknown. */
int gw_store_account_del(struct gw_store *st, const char *name);
int gw_store_account_enable(struct gw_store *st, const char *name, bool on);
/* 0 and *out filled, or UV_ENOENT. */
int gw_store_account_get(struct gw_store *st, const char *name,
                         struct gw_account_row *out);
/* All accounts ordered by name; *rows is malloc'd (free each and the array
 * with gw_account_rows_free). Returns the count. */
int gw_store_account_list(struct gw_store *st, struct gw_account_row **rows);
void gw_account_rows_free(struct gw_account_row *rows, int n);

/* Per-account settings (base_url, token, channel, ...). value NULL deletes.
 * get: 0 and *value malloc'd, or UV_ENOENT. */
int gw_store_setting_set(struct gw_store *st, const char *account,
                         const char *key, const char *value);
int gw_store_setting_get(struct gw_store *st, const char *account,
                         const char *key, char **value);
/* Calls cb for each setting of the account, ordered by key. */
typedef void (*gw_store_kv_cb)(void *arg, const char *key, const char *value);
int gw_store_setting_each(struct gw_store *st, const char *account,
                          gw_store_kv_cb cb, void *arg);

/* ---- posts and refs ------------------------------------------------- */

/* Inbox state of a post. */
enum gw_post_state {
    GW_POST_NONE = 0, /* not part of the inbox (own posts, notices) */
    GW_POST_OPEN = 1,
    GW_POST_CLAIMED = 2,
    GW_POST_DONE = 3,
};

struct gw_post {
    int64_t id;         /* row id; the ref is gw_base36(id) */
    char ref[16];       /* "a3" */
    char *account;      /* account name */
    char *network_id;   /* the network's id, as a string, never a number */
    char *kind;         /* mention reply quote dm own ... (router's words) */
    char *author;       /* handle "alice@example.social" */
    char *author_id;    /* the author's stable id on the network */
    char *author_name;  /* display name, may be "" */
    char *author_url;   /* profile URL, may be "" */
    char *url;          /* the post's URL, may be "" */
    char *text;         /* rendered plain text */
    char *conversation; /* network conversation/thread id, may be "" */
    char *in_reply_to;  /* network id of the parent, may be "" */
    char *target;       /* IRC target it was shown in: "#mastodon", "alice" */
    char *extra;        /* the adapter's own JSON */
    int audience;       /* enum gw_audience */
    char *cw;           /* content warning, may be "" */
    char *mentions;     /* the others in the thread: a JSON array, or "" */
    int64_t created_ms; /* the post's own time */
    int64_t stored_ms;  /* when Parley stored it */
    enum gw_post_state state;
    char *claimer;     /* who claimed it, may be "" */
    char *answered_by; /* who answered or marked it done, may be "" */
};
void gw_post_free(struct gw_post *p);

/*
 * Store a post unless (account, network_id, kind) is already stored.
 * Allocates the next ref from the one counter (never reused, even after a
 * rollback or a delete). Returns 0 when inserted, 1 when it already existed;
 * either way p->id, p->ref and p->stored_ms are set from the row.
 * NULL string fields are stored as "".
 */
int gw_store_post_put(struct gw_store *st, struct gw_post *p);
/* 0 and *out filled, or UV_ENOENT. ref is case-insensitive. */
int gw_store_post_by_ref(struct gw_store *st, const char *ref,
                         struct gw_post *out);
int gw_store_post_by_netid(struct gw_store *st, const char *account,
                           const char *network_id, struct gw_post *out);
/* Latest post by an author (their id, case-insensitive) shown in target. */
int gw_store_post_latest_by(struct gw_store *st, const char *target,
                            const char *author, struct gw_post *out);
/* Update inbox state; who may be NULL. */
int gw_store_post_set_state(struct gw_store *st, int64_t id,
                            enum gw_post_state state, const char *who);
int gw_store_post_set_text(struct gw_store *st, int64_t id, const char *text);
/* Open and claimed posts, oldest first, at most limit; *rows malloc'd.
 * account NULL = all accounts. Returns the count. */
int gw_store_post_pending(struct gw_store *st, const char *account, int limit,
                          struct gw_post **rows);
void gw_post_rows_free(struct gw_post *rows, int n);
int gw_store_post_pending_count(struct gw_store *st, const char *account,
                                int64_t *count);
/* An author's open (or claimed) DMs on account up to post id upto, oldest
 * first, at most limit: a reply in the conversation answers them all. */
int gw_store_post_open_dms(struct gw_store *st, const char *account,
                           const char *author_id, int64_t upto, int limit,
                           struct gw_post **rows);
int gw_store_post_count(struct gw_store *st, int64_t *count);

/* ---- the team inbox's log ------------------------------------------- */

struct gw_inbox_event {
    int64_t time_ms;
    char *who;  /* the person who did it */
    char *what; /* "claimed", "answered", "done", "reopened" ... */
    char *text; /* what was answered, whom it was given to, or "" */
};
void gw_inbox_events_free(struct gw_inbox_event *rows, int n);
int gw_store_inbox_log(struct gw_store *st, int64_t post_id, int64_t time_ms,
                       const char *who, const char *what, const char *text);
/* A post's log, oldest first, at most limit; returns the count. */
int gw_store_inbox_history(struct gw_store *st, int64_t post_id, int limit,
                           struct gw_inbox_event **rows);
/* The latest event of kind what for a post: 0, or UV_ENOENT. */
int gw_store_inbox_last(struct gw_store *st, int64_t post_id, const char *what,
                        struct gw_inbox_event *out);

/* ---- cursors -------------------------------------------------------- */

/* Where an adapter is in a network stream ("notifications" -> "1234").
 * get: 0 and *value malloc'd, or UV_ENOENT. */
int gw_store_cursor_get(struct gw_store *st, const char *account,
                        const char *name, char **value);
int gw_store_cursor_set(struct gw_store *st, const char *account,
                        const char *name, const char *value);

/* ---- outbox --------------------------------------------------------- */

enum gw_outbox_state {
    GW_OUTBOX_PENDING = 0, /* waiting to be sent (or retried at next_ms) */
    GW_OUTBOX_SENT = 1,    /* the network accepted it */
    GW_OUTBOX_FAILED = 2,  /* permanent failure, reported; "retry ID" */
};

struct gw_outbox_item {
    int64_t id;
    char *account;
    char *action;   /* "post", "reply", "dm", "fav", ... */
    char *payload;  /* JSON object the router built */
    char *idem_key; /* random, fixed at insert: same key on every attempt */
    char *origin;   /* IRC target to report to ("#mastodon", "alice") */
    char *who;      /* IRC nick that asked */
    char *error;    /* last error text, "" */
    char *result;   /* network id of what was created, "" */
    enum gw_outbox_state state;
    int attempts;
    bool maybe; /* an attempt may have been made: look before sending */
    int64_t created_ms;
    int64_t next_ms; /* not before this time */
};
void gw_outbox_item_free(struct gw_outbox_item *it);
void gw_outbox_items_free(struct gw_outbox_item *items, int n);

/* Insert a pending item (idem_key generated here); *id set. Committed
 * before this returns: the caller may then send. */
int gw_store_outbox_add(struct gw_store *st, const char *account,
                        const char *action, const char *payload,
                        const char *origin, const char *who, int64_t *id);
int gw_store_outbox_get(struct gw_store *st, int64_t id,
                        struct gw_outbox_item *out);
/* Pending items with next_ms <= now, oldest first, at most limit. */
int gw_store_outbox_due(struct gw_store *st, int64_t now_ms, int limit,
                        struct gw_outbox_item **items);
/* Earliest next_ms among pending items, or UV_ENOENT when none. */
int gw_store_outbox_next_time(struct gw_store *st, int64_t *ms);
/* Pending replies and DMs answering the post with ref parent, oldest
 * first: someone is answering it right now. */
int gw_store_outbox_for_parent(struct gw_store *st, const char *account,
                               const char *parent, int limit,
                               struct gw_outbox_item **items);
/* Pending and failed items (not sent ones), oldest first. */
int gw_store_outbox_list(struct gw_store *st, int limit,
                         struct gw_outbox_item **items);
/* Record an attempt that will be retried at next_ms (attempts += 1);
 * maybe: it may have been made (kept once set). */
int gw_store_outbox_retry_at(struct gw_store *st, int64_t id, int64_t next_ms,
                             const char *error, bool maybe);
/* The network answers again: an account's pending items waiting later
 * than now are due now. */
int gw_store_outbox_wake(struct gw_store *st, const char *account,
                         int64_t now_ms);
int gw_store_outbox_sent(struct gw_store *st, int64_t id, const char *result);
int gw_store_outbox_failed(struct gw_store *st, int64_t id, const char *error);
/* Due now: a failed item pending again (attempts reset), a pending one
 * without waiting for its retry. UV_ENOENT if sent or unknown. */
int gw_store_outbox_requeue(struct gw_store *st, int64_t id);
/* Pending items of one account (for status). */
int gw_store_outbox_depth(struct gw_store *st, const char *account,
                          int64_t *count);

/* ---- channel history ------------------------------------------------ */

struct gw_history_row {
    int64_t id;      /* increasing; the playback position */
    char *target;    /* "#mastodon", or a nick for queries (lower case) */
    int64_t time_ms; /* server-time of the line */
    char *msgid;     /* "a3" for posts, generated for others */
    char *prefix;    /* "alice!alice@example.social" */
    char *command;   /* PRIVMSG or NOTICE */
    char *text;      /* one line */
    char *tags;      /* extra client tags, escaped wire form, may be "" */
};
void gw_history_rows_free(struct gw_history_row *rows, int n);

int gw_store_history_add(struct gw_store *st, const char *target,
                         int64_t time_ms, const char *msgid, const char *prefix,
                         const char *command, const char *text,
                         const char *tags, int64_t *id);
/* Rows of target with id > after_id, oldest first, at most limit. */
int gw_store_history_after(struct gw_store *st, const char *target,
                           int64_t after_id, int limit,
                           struct gw_history_row **rows);
/* The latest limit rows of target with id < before_id (0 = no bound),
 * returned oldest first. */
int gw_store_history_before(struct gw_store *st, const char *target,
                            int64_t before_id, int limit,
                            struct gw_history_row **rows);
/* The newest limit rows of any target with id > after_id, oldest first
 * (playback: the latest of what a client missed). Targets with a comma
 * (a front-end's own places, see gw_router_record) are left out, here and
 * in the count. */
int gw_store_history_since(struct gw_store *st, int64_t after_id, int limit,
                           struct gw_history_row **rows);
int gw_store_history_count_since(struct gw_store *st, int64_t after_id,
                                 int64_t *count);
int gw_store_history_last_id(struct gw_store *st, int64_t *id);
/* A place in a target's history, which CHATHISTORY pages through in the
 * order of time, then id (a line stored late may carry an older time). */
struct gw_history_pos {
    int64_t time_ms;
    int64_t id;
};
/* The row of target with this msgid: 0 and *pos, or UV_ENOENT. */
int gw_store_history_find(struct gw_store *st, const char *target,
                          const char *msgid, struct gw_history_pos *pos);
/* Rows of target strictly between after and before (NULL: no bound) in the
 * order of time, then id, handed out in that order; latest: the last limit
 * rows of that range, else the first limit. */
int gw_store_history_page(struct gw_store *st, const char *target,
                          const struct gw_history_pos *after,
                          const struct gw_history_pos *before, int limit,
                          bool latest, struct gw_history_row **rows);
/* Delete the oldest rows (by id) while they are older than before_ms, at
 * most max of them; *deleted says how many went. A row newer than that
 * keeps the ones after it until it is old too. */
int gw_store_history_prune(struct gw_store *st, int64_t before_ms, int max,
                           int *deleted);
/* One row per target with lines between the two times (exclusive), with
 * the target's latest time_ms, ordered by it. Only target and time_ms are
 * filled. */
int gw_store_history_targets(struct gw_store *st, int64_t from_ms,
                             int64_t to_ms, int limit,
                             struct gw_history_row **rows);

/* ---- people of the networks ---------------------------------------- */

/* A person is (network, author_id); their nick is unique (ASCII case
 * folded) among people. */
struct gw_person_row {
    char *network;
    char *author_id;
    char *handle; /* as last seen */
    char *nick;
};
void gw_person_row_free(struct gw_person_row *p);
/* 0 and *out filled, or UV_ENOENT. */
int gw_store_person_get(struct gw_store *st, const char *network,
                        const char *author_id, struct gw_person_row *out);
int gw_store_person_by_nick(struct gw_store *st, const char *nick,
                            struct gw_person_row *out);
/* Insert or update; UV_EEXIST when another person holds the nick. */
int gw_store_person_put(struct gw_store *st, const char *network,
                        const char *author_id, const char *handle,
                        const char *nick);
/* The people an account's channel should show after a restart: those with
 * posts still open there (among its newest 8 * limit open ones), and the
 * authors of its last `recent` posts; the limit most recently heard from,
 * listed oldest first. Returns the count; *rows malloc'd. */
int gw_store_people_open(struct gw_store *st, const char *account,
                         const char *network, int recent, int limit,
                         struct gw_person_row **rows);
void gw_person_rows_free(struct gw_person_row *rows, int n);

/* ---- people who sign in (user add) --------------------------------- */

struct gw_user_row {
    char *name;
    char *hash; /* Argon2id, crypto_pwhash_str's form */
    bool admin;
};
void gw_user_row_free(struct gw_user_row *u);
void gw_user_rows_free(struct gw_user_row *rows, int n);
/* 0 and *out filled, or UV_ENOENT; names compare case-insensitively. */
int gw_store_user_get(struct gw_store *st, const char *name,
                      struct gw_user_row *out);
/* Insert or replace. */
int gw_store_user_put(struct gw_store *st, const char *name, const char *hash,
                      bool admin);
/* 0, or UV_ENOENT when there was none. */
int gw_store_user_del(struct gw_store *st, const char *name);
/* Every user, by name; returns the count. */
int gw_store_user_list(struct gw_store *st, struct gw_user_row **rows);
int gw_store_user_count(struct gw_store *st, int64_t *count);

/* ---- small key/values (read positions, app registrations) ----------- */

int gw_store_kv_get(struct gw_store *st, const char *key, char **value);
int gw_store_kv_set(struct gw_store *st, const char *key, const char *value);

#endif
