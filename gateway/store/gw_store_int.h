/*
 * Store internals shared by the files of gateway/store/. Nothing outside
 * this folder includes it.
 *
 *   gw_store.c           open and close, schema and migrations, pragmas,
 *                        checkpoints, transactions, errors
 *   gw_store_stmt.c      running prepared statements (bind, step, read)
 *   gw_store_accounts.c  accounts, settings, cursors, small key/values
 *   gw_store_posts.c     posts, refs, inbox state, latest post by author
 *   gw_store_outbox.c    the outbox of outbound actions
 *   gw_store_history.c   IRC channel history
 *   gw_store_people.c    the people of the networks and their nicks
 *   gw_store_inbox.c     the team inbox's log: who did what to a post
 *   gw_store_users.c     people who sign in, added on IRC
 */
#ifndef GW_STORE_INT_H
#define GW_STORE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "gw_store.h"
#include "gw_util.h"

#define GW_STORE_ERR_MAX 512

/*
 * Every prepared statement, by file. This enum is the one list of them:
 * gw_store.c prepares each at open and finalizes each at close. The SQL
 * text stands in the file that binds its parameters, in that file's table
 * (gw_store__*_sql below), so that "?3" and the code that binds it are
 * read together; gw_store.c checks at open that each statement has exactly
 * one text.
 */
enum gw_store__sid {
    /* gw_store.c */
    GW_STORE__BEGIN,
    GW_STORE__COMMIT,
    GW_STORE__ROLLBACK,
    /* gw_store_accounts.c */
    GW_STORE__ACCOUNT_ADD,
    GW_STORE__ACCOUNT_DEL,
    GW_STORE__ACCOUNT_DEL_CURSORS,
    GW_STORE__ACCOUNT_ENABLE,
    GW_STORE__ACCOUNT_GET,
    GW_STORE__ACCOUNT_LIST,
    GW_STORE__SETTING_SET,
    GW_STORE__SETTING_DEL,
    GW_STORE__SETTING_GET,
    GW_STORE__SETTING_EACH,
    GW_STORE__ACCOUNT_EXISTS,
    GW_STORE__CURSOR_GET,
    GW_STORE__CURSOR_SET,
    GW_STORE__CURSOR_DEL,
    GW_STORE__KV_GET,
    GW_STORE__KV_SET,
    GW_STORE__KV_DEL,
    /* gw_store_posts.c */
    GW_STORE__POST_FIND,
    GW_STORE__POST_INSERT,
    GW_STORE__POST_LAST_UPDATE,
    GW_STORE__POST_LAST_INSERT,
    GW_STORE__POST_SEQ_UPDATE,
    GW_STORE__POST_SEQ_INSERT,
    GW_STORE__POST_BY_ID,
    GW_STORE__POST_BY_NETID,
    GW_STORE__POST_LATEST_BY,
    GW_STORE__POST_SET_STATE,
    GW_STORE__POST_SET_TEXT,
    GW_STORE__POST_PENDING,
    GW_STORE__POST_PENDING_COUNT,
    GW_STORE__POST_OPEN_DMS,
    GW_STORE__POST_COUNT,
    /* gw_store_outbox.c */
    GW_STORE__OUTBOX_ADD,
    GW_STORE__OUTBOX_GET,
    GW_STORE__OUTBOX_STATE,
    GW_STORE__OUTBOX_DUE,
    GW_STORE__OUTBOX_NEXT,
    GW_STORE__OUTBOX_LIST,
    GW_STORE__OUTBOX_RETRY,
    GW_STORE__OUTBOX_SENT,
    GW_STORE__OUTBOX_FAILED,
    GW_STORE__OUTBOX_REQUEUE,
    GW_STORE__OUTBOX_DEPTH,
    GW_STORE__OUTBOX_WAKE,
    GW_STORE__OUTBOX_FOR_PARENT,
    /* gw_store_history.c */
    GW_STORE__HISTORY_ADD,
    GW_STORE__HISTORY_AFTER,
    GW_STORE__HISTORY_BEFORE,
    GW_STORE__HISTORY_SINCE,
    GW_STORE__HISTORY_COUNT,
    GW_STORE__HISTORY_LAST,
    GW_STORE__HISTORY_FIND,
    GW_STORE__HISTORY_PAGE,
    GW_STORE__HISTORY_PAGE_DESC,
    GW_STORE__HISTORY_PRUNE,
    GW_STORE__HISTORY_TARGETS,
    /* gw_store_people.c */
    GW_STORE__PERSON_GET,
    GW_STORE__PERSON_BY_NICK,
    GW_STORE__PERSON_PUT,
    GW_STORE__PEOPLE_OPEN,
    /* gw_store_inbox.c */
    GW_STORE__INBOX_LOG,
    GW_STORE__INBOX_HISTORY,
    GW_STORE__INBOX_LAST,
    /* gw_store_users.c */
    GW_STORE__USER_GET,
    GW_STORE__USER_PUT,
    GW_STORE__USER_DEL,
    GW_STORE__USER_LIST,
    GW_STORE__USER_COUNT,
    GW_STORE__STMT_COUNT
};

/* Each file's SQL, indexed by statement; NULL for the others' statements. */
extern const char *const gw_store__account_sql[GW_STORE__STMT_COUNT];
extern const char *const gw_store__post_sql[GW_STORE__STMT_COUNT];
extern const char *const gw_store__outbox_sql[GW_STORE__STMT_COUNT];
extern const char *const gw_store__history_sql[GW_STORE__STMT_COUNT];
extern const char *const gw_store__people_sql[GW_STORE__STMT_COUNT];
extern const char *const gw_store__inbox_sql[GW_STORE__STMT_COUNT];
extern const char *const gw_store__users_sql[GW_STORE__STMT_COUNT];

struct gw_store {
    sqlite3 *db;
    char *path; /* state_dir/parley.db, for messages */
    /* prepared at open, finalized at close */
    sqlite3_stmt *stmts[GW_STORE__STMT_COUNT];
    int depth;        /* gw_store_begin nesting */
    bool doomed;      /* an inner level rolled back */
    bool seq_dirty;   /* a rollback may have rewound posts ids */
    int64_t post_hw;  /* highest post id handed out */
    int wal_pages;    /* frames in the WAL since a checkpoint */
    uint64_t commits; /* WAL commits so far (the hook counts) */
    /* Background checkpoints (gw_store_checkpoint_bg): a connection of
     * their own, used by one libuv worker at a time. */
    sqlite3 *ckpt_db;
    uv_work_t ckpt_req;
    bool ckpt_busy;
    int ckpt_rc;
    uint64_t ckpt_commits; /* commits when the running one started */
    gw_store_ckpt_cb ckpt_cb;
    void *ckpt_arg;
    char err[GW_STORE_ERR_MAX]; /* last error, for gw_store_errmsg */
};

/* ---- errors (gw_store.c) --------------------------------------------- */

/* Set the message gw_store_errmsg returns; returns code. */
int gw_store__fail(struct gw_store *st, int code, const char *fmt, ...)
    GW_PRINTF(3, 4);
/* An SQLite failure while doing `what`: keep SQLite's words and the file. */
int gw_store__db_fail(struct gw_store *st, int rc, const char *what);
/* Run SQL text that returns no rows (pragmas, migrations). */
int gw_store__exec(struct gw_store *st, const char *sql, const char *what);

/* ---- statements (gw_store_stmt.c) ------------------------------------ */

/* Bind v, NULL as "" (the statement binds SQLITE_STATIC: v must outlive
 * the step). */
void gw_store__bind_text(sqlite3_stmt *s, int i, const char *v);
/* NULL stays NULL: the statement decides what a missing value means. */
void gw_store__bind_text_or_null(sqlite3_stmt *s, int i, const char *v);
/* Column i as a malloc'd string, NULL as "". */
char *gw_store__col_str(sqlite3_stmt *s, int i);

/* Each of these steps the statement, then resets it and clears its
 * bindings (see gw_store_stmt.c for why). */
int gw_store__run(struct gw_store *st, enum gw_store__sid id, const char *what);
int gw_store__query_int(struct gw_store *st, enum gw_store__sid id,
                        const char *what, int64_t *out);
int gw_store__query_str(struct gw_store *st, enum gw_store__sid id,
                        const char *what, char **out);

typedef void (*gw_store__fill_fn)(sqlite3_stmt *s, void *elem);
typedef void (*gw_store__clear_fn)(void *elem);
int gw_store__collect(struct gw_store *st, enum gw_store__sid id,
                      const char *what, size_t elem, gw_store__fill_fn fill,
                      gw_store__clear_fn clear, void **out);

#endif
