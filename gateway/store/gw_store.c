#include "gw_store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_util.h"

/* "PRLY": lets us tell our database from any other SQLite file. */
#define STORE_APPLICATION_ID 0x50524C59

/*
 * How long a statement waits for a lock held by another connection. Only
 * another process (a second parley, the sqlite3 shell) can hold one, and the
 * loop must not stall behind it, so this stays short: the caller sees
 * UV_EBUSY and tries again later.
 */
#define STORE_BUSY_TIMEOUT_MS 100

#define STORE_ERR_MAX 512

/*
 * Migration i (1-based) brings user_version i-1 to i, inside one
 * transaction. Append new entries; never edit a released one.
 */
static const char *const migrations[] = {
    /* 1: the first schema. */
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;"
    "INSERT INTO meta (key, value)"
    "  VALUES ('created', strftime('%Y-%m-%dT%H:%M:%SZ', 'now'));"
    /* Account names become channel names, which IRC compares without
     * case, so "Work" and "work" are the same account. */
    "CREATE TABLE accounts ("
    "  name TEXT PRIMARY KEY NOT NULL COLLATE NOCASE,"
    "  network TEXT NOT NULL,"
    "  enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),"
    "  created_ms INTEGER NOT NULL"
    ");"
    "CREATE TABLE settings ("
    "  account TEXT NOT NULL COLLATE NOCASE"
    "    REFERENCES accounts (name) ON DELETE CASCADE ON UPDATE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (account, key)"
    ") WITHOUT ROWID;"
    /* AUTOINCREMENT, not a plain rowid: a rowid may be reused after the
     * highest row is deleted, and a ref must never point at two posts.
     * network_id is NULL when the network gave none, so such posts are
     * never mistaken for each other by the UNIQUE constraint. */
    "CREATE TABLE posts ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account TEXT NOT NULL COLLATE NOCASE,"
    "  network_id TEXT,"
    "  kind TEXT NOT NULL,"
    "  author TEXT NOT NULL COLLATE NOCASE,"
    "  author_name TEXT NOT NULL,"
    "  author_url TEXT NOT NULL,"
    "  url TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  conversation TEXT NOT NULL,"
    "  in_reply_to TEXT NOT NULL,"
    "  target TEXT NOT NULL COLLATE NOCASE,"
    "  extra TEXT NOT NULL,"
    "  created_ms INTEGER NOT NULL,"
    "  stored_ms INTEGER NOT NULL,"
    "  state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 3),"
    "  claimer TEXT NOT NULL DEFAULT '',"
    "  answered_by TEXT NOT NULL DEFAULT '',"
    "  UNIQUE (account, network_id, kind)"
    ");"
    "CREATE INDEX posts_latest ON posts (target, author, id);"
    "CREATE INDEX posts_pending ON posts (created_ms, id)"
    "  WHERE state IN (1, 2);"
    "CREATE TABLE cursors ("
    "  account TEXT NOT NULL COLLATE NOCASE,"
    "  name TEXT NOT NULL,"
    "  value TEXT NOT NULL,"
    "  PRIMARY KEY (account, name)"
    ") WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  account TEXT NOT NULL COLLATE NOCASE,"
    "  action TEXT NOT NULL,"
    "  payload TEXT NOT NULL,"
    "  idem_key TEXT NOT NULL UNIQUE,"
    "  origin TEXT NOT NULL,"
    "  who TEXT NOT NULL,"
    "  error TEXT NOT NULL DEFAULT '',"
    "  result TEXT NOT NULL DEFAULT '',"
    "  state INTEGER NOT NULL DEFAULT 0 CHECK (state BETWEEN 0 AND 2),"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL,"
    "  next_ms INTEGER NOT NULL"
    ");"
    "CREATE INDEX outbox_pending ON outbox (next_ms) WHERE state = 0;"
    /* AUTOINCREMENT: ids are playback positions that clients remember. */
    "CREATE TABLE history ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  target TEXT NOT NULL COLLATE NOCASE,"
    "  time_ms INTEGER NOT NULL,"
    "  msgid TEXT NOT NULL,"
    "  prefix TEXT NOT NULL,"
    "  command TEXT NOT NULL,"
    "  text TEXT NOT NULL,"
    "  tags TEXT NOT NULL"
    ");"
    "CREATE INDEX history_target ON history (target, id);"
    "CREATE TABLE kv ("
    "  key TEXT PRIMARY KEY NOT NULL,"
    "  value TEXT NOT NULL"
    ") WITHOUT ROWID;",
    /* 2: CHATHISTORY looks lines up by msgid and by time. */
    "CREATE INDEX history_msgid ON history (msgid);"
    "CREATE INDEX history_target_time ON history (target, time_ms);",
    /* 3: "latest post by this author here" from a table with one row per
     * (target, author) instead of an index over every post: authors
     * interleave, so that index took each new post at a random leaf and a
     * burst of posts dirtied (and wrote to the WAL) a page per post; the
     * table stays a few pages per thousand authors. Posts are never
     * deleted and their target and author never change, so
     * gw_store_post_put keeping it on insert is all it takes (in C: a
     * trigger made every insert a statement with a journal of its own).
     * Keys are stored lower(), ASCII as NOCASE folds, and compared
     * bytewise, which SQLite does much faster than NOCASE. */
    "CREATE TABLE posts_last ("
    "  target TEXT NOT NULL,"
    "  author TEXT NOT NULL,"
    "  id INTEGER NOT NULL,"
    "  PRIMARY KEY (target, author)"
    ") WITHOUT ROWID;"
    "INSERT INTO posts_last (target, author, id)"
    "  SELECT lower(target), lower(author), max(id) FROM posts"
    "  GROUP BY lower(target), lower(author);"
    "DROP INDEX posts_latest;",
};

_Static_assert(GW_ARRAY_LEN(migrations) == GW_STORE_SCHEMA_VERSION,
               "one migration per schema version");

#define POST_COLS                                                              \
    "id, account, network_id, kind, author, author_name, author_url, url, "    \
    "text, conversation, in_reply_to, target, extra, created_ms, stored_ms, "  \
    "state, claimer, answered_by"

#define OUTBOX_COLS                                                            \
    "id, account, action, payload, idem_key, origin, who, error, result, "     \
    "state, attempts, created_ms, next_ms"

#define HISTORY_COLS "id, target, time_ms, msgid, prefix, command, text, tags"

enum sid {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_ACCOUNT_ADD,
    S_ACCOUNT_DEL,
    S_ACCOUNT_DEL_CURSORS,
    S_ACCOUNT_ENABLE,
    S_ACCOUNT_GET,
    S_ACCOUNT_LIST,
    S_SETTING_SET,
    S_SETTING_DEL,
    S_SETTING_GET,
    S_SETTING_EACH,
    S_ACCOUNT_EXISTS,
    S_POST_FIND,
    S_POST_INSERT,
    S_POST_LAST_UPDATE,
    S_POST_LAST_INSERT,
    S_POST_SEQ_UPDATE,
    S_POST_SEQ_INSERT,
    S_POST_BY_ID,
    S_POST_BY_NETID,
    S_POST_LATEST_BY,
    S_POST_SET_STATE,
    S_POST_SET_TEXT,
    S_POST_PENDING,
    S_POST_COUNT,
    S_CURSOR_GET,
    S_CURSOR_SET,
    S_CURSOR_DEL,
    S_OUTBOX_ADD,
    S_OUTBOX_GET,
    S_OUTBOX_STATE,
    S_OUTBOX_DUE,
    S_OUTBOX_NEXT,
    S_OUTBOX_LIST,
    S_OUTBOX_RETRY,
    S_OUTBOX_SENT,
    S_OUTBOX_FAILED,
    S_OUTBOX_REQUEUE,
    S_OUTBOX_DEPTH,
    S_HISTORY_ADD,
    S_HISTORY_AFTER,
    S_HISTORY_BEFORE,
    S_HISTORY_SINCE,
    S_HISTORY_COUNT,
    S_HISTORY_LAST,
    S_HISTORY_FIND,
    S_HISTORY_AT,
    S_HISTORY_RANGE,
    S_HISTORY_RANGE_DESC,
    S_HISTORY_TARGETS,
    S_KV_GET,
    S_KV_SET,
    S_KV_DEL,
    S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_ACCOUNT_ADD] = "INSERT INTO accounts (name, network, enabled, "
                      "created_ms) VALUES (?1, ?2, 1, ?3)",
    [S_ACCOUNT_DEL] = "DELETE FROM accounts WHERE name = ?1",
    [S_ACCOUNT_DEL_CURSORS] = "DELETE FROM cursors WHERE account = ?1",
    [S_ACCOUNT_ENABLE] = "UPDATE accounts SET enabled = ?2 WHERE name = ?1",
    [S_ACCOUNT_GET] = "SELECT name, network, enabled, created_ms "
                      "FROM accounts WHERE name = ?1",
    [S_ACCOUNT_LIST] = "SELECT name, network, enabled, created_ms "
                       "FROM accounts ORDER BY name",
    [S_SETTING_SET] = "INSERT INTO settings (account, key, value) "
                      "VALUES (?1, ?2, ?3) ON CONFLICT (account, key) "
                      "DO UPDATE SET value = excluded.value",
    [S_SETTING_DEL] = "DELETE FROM settings WHERE account = ?1 AND key = ?2",
    [S_SETTING_GET] = "SELECT value FROM settings "
                      "WHERE account = ?1 AND key = ?2",
    [S_SETTING_EACH] = "SELECT key, value FROM settings WHERE account = ?1 "
                       "ORDER BY key",
    [S_ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE name = ?1",
    [S_POST_FIND] = "SELECT id, stored_ms FROM posts "
                    "WHERE account = ?1 AND network_id = ?2 AND kind = ?3",
    [S_POST_INSERT] =
        "INSERT INTO posts (account, network_id, kind, author, author_name, "
        "author_url, url, text, conversation, in_reply_to, target, extra, "
        "created_ms, stored_ms, state, claimer, answered_by) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17) "
        "ON CONFLICT (account, network_id, kind) DO NOTHING",
    /* Ids only grow: the newest post is the one just inserted. */
    [S_POST_LAST_UPDATE] = "UPDATE posts_last SET id = ?3 "
                           "WHERE target = lower(?1) AND author = lower(?2)",
    [S_POST_LAST_INSERT] = "INSERT INTO posts_last (target, author, id) "
                           "VALUES (lower(?1), lower(?2), ?3)",
    [S_POST_SEQ_UPDATE] = "UPDATE sqlite_sequence SET seq = ?1 "
                          "WHERE name = 'posts' AND seq < ?1",
    [S_POST_SEQ_INSERT] =
        "INSERT INTO sqlite_sequence (name, seq) "
        "SELECT 'posts', ?1 WHERE NOT EXISTS "
        "(SELECT 1 FROM sqlite_sequence WHERE name = 'posts')",
    [S_POST_BY_ID] = "SELECT " POST_COLS " FROM posts WHERE id = ?1",
    [S_POST_BY_NETID] = "SELECT " POST_COLS " FROM posts "
                        "WHERE account = ?1 AND network_id = ?2 "
                        "ORDER BY id LIMIT 1",
    [S_POST_LATEST_BY] = "SELECT " POST_COLS " FROM posts WHERE id = "
                         "(SELECT id FROM posts_last "
                         "WHERE target = lower(?1) AND author = lower(?2))",
    /* Claiming names the claimer, done names who answered, reopening
     * clears both; GW_POST_NONE leaves the names alone. */
    [S_POST_SET_STATE] =
        "UPDATE posts SET state = ?2, "
        "claimer = CASE ?2 WHEN 2 THEN ?3 WHEN 1 THEN '' ELSE claimer END, "
        "answered_by = CASE ?2 WHEN 3 THEN ?3 WHEN 1 THEN '' "
        "ELSE answered_by END WHERE id = ?1",
    [S_POST_SET_TEXT] = "UPDATE posts SET text = ?2 WHERE id = ?1",
    [S_POST_PENDING] = "SELECT " POST_COLS " FROM posts "
                       "WHERE state IN (1, 2) "
                       "AND (?1 IS NULL OR account = ?1) "
                       "ORDER BY created_ms, id LIMIT ?2",
    [S_POST_COUNT] = "SELECT count(*) FROM posts",
    [S_CURSOR_GET] = "SELECT value FROM cursors "
                     "WHERE account = ?1 AND name = ?2",
    [S_CURSOR_SET] = "INSERT INTO cursors (account, name, value) "
                     "VALUES (?1, ?2, ?3) ON CONFLICT (account, name) "
                     "DO UPDATE SET value = excluded.value",
    [S_CURSOR_DEL] = "DELETE FROM cursors WHERE account = ?1 AND name = ?2",
    [S_OUTBOX_ADD] = "INSERT INTO outbox (account, action, payload, idem_key, "
                     "origin, who, created_ms, next_ms) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    [S_OUTBOX_GET] = "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1",
    [S_OUTBOX_STATE] = "SELECT state FROM outbox WHERE id = ?1",
    [S_OUTBOX_DUE] = "SELECT " OUTBOX_COLS " FROM outbox "
                     "WHERE state = 0 AND next_ms <= ?1 ORDER BY id LIMIT ?2",
    [S_OUTBOX_NEXT] = "SELECT min(next_ms) FROM outbox WHERE state = 0",
    [S_OUTBOX_LIST] = "SELECT " OUTBOX_COLS " FROM outbox "
                      "WHERE state IN (0, 2) ORDER BY id LIMIT ?1",
    [S_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1, "
                       "next_ms = ?2, error = ?3 WHERE id = ?1 AND state = 0",
    [S_OUTBOX_SENT] = "UPDATE outbox SET state = 1, attempts = attempts + 1, "
                      "result = ?2 WHERE id = ?1 AND state = 0",
    [S_OUTBOX_FAILED] = "UPDATE outbox SET state = 2, attempts = attempts + 1, "
                        "error = ?2 WHERE id = ?1 AND state = 0",
    [S_OUTBOX_REQUEUE] = "UPDATE outbox SET state = 0, attempts = 0, "
                         "next_ms = ?2 WHERE id = ?1 AND state = 2",
    [S_OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE state = 0 "
                       "AND (?1 IS NULL OR account = ?1)",
    [S_HISTORY_ADD] = "INSERT INTO history (target, time_ms, msgid, prefix, "
                      "command, text, tags) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [S_HISTORY_AFTER] = "SELECT " HISTORY_COLS " FROM history "
                        "WHERE target = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    [S_HISTORY_BEFORE] = "SELECT " HISTORY_COLS " FROM history "
                         "WHERE target = ?1 AND id < ?2 "
                         "ORDER BY id DESC LIMIT ?3",
    [S_HISTORY_SINCE] = "SELECT " HISTORY_COLS " FROM history "
                        "WHERE id > ?1 ORDER BY id DESC LIMIT ?2",
    /* History rows are never deleted and AUTOINCREMENT never reuses an id,
     * so the id gap is the count; count(*) would read every row. */
    [S_HISTORY_COUNT] = "SELECT max(coalesce(max(id), 0) - ?1, 0) "
                        "FROM history",
    [S_HISTORY_LAST] = "SELECT coalesce(max(id), 0) FROM history",
    [S_HISTORY_FIND] = "SELECT id FROM history WHERE msgid = ?2 "
                       "AND target = ?1 ORDER BY id LIMIT 1",
    [S_HISTORY_AT] = "SELECT min(id) FROM history WHERE target = ?1 "
                     "AND time_ms >= ?2",
    [S_HISTORY_RANGE] = "SELECT " HISTORY_COLS " FROM history WHERE "
                        "target = ?1 AND id > ?2 AND id < ?3 "
                        "ORDER BY id LIMIT ?4",
    [S_HISTORY_RANGE_DESC] = "SELECT " HISTORY_COLS " FROM history WHERE "
                             "target = ?1 AND id > ?2 AND id < ?3 "
                             "ORDER BY id DESC LIMIT ?4",
    [S_HISTORY_TARGETS] = "SELECT max(id), target, max(time_ms) AS t, '', "
                          "'', '', '', '' FROM history WHERE time_ms > ?1 "
                          "AND time_ms < ?2 GROUP BY target ORDER BY t "
                          "LIMIT ?3",
    [S_KV_GET] = "SELECT value FROM kv WHERE key = ?1",
    [S_KV_SET] = "INSERT INTO kv (key, value) VALUES (?1, ?2) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [S_KV_DEL] = "DELETE FROM kv WHERE key = ?1",
};

struct gw_store {
    sqlite3 *db;
    char *path;                   /* state_dir/parley.db, for messages */
    sqlite3_stmt *stmts[S_COUNT]; /* prepared at open, finalized at close */
    int depth;                    /* gw_store_begin nesting */
    bool doomed;                  /* an inner level rolled back */
    bool seq_dirty;               /* a rollback may have rewound posts ids */
    int64_t post_hw;              /* highest post id handed out */
    int wal_pages;                /* frames in the WAL since a checkpoint */
    char err[STORE_ERR_MAX];      /* last error, for gw_store_errmsg */
};

/*
 * Checkpoints copy the WAL into the database and fsync twice. SQLite's
 * automatic one runs inside whichever commit crosses 1000 pages, which put
 * a few milliseconds on every 80th or so message shown. Instead the owner
 * checkpoints from a timer (gw_store_checkpoint); this hook only counts and
 * keeps the WAL bounded when writes never pause.
 */
#define WAL_PAGES_MAX 16384

static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    struct gw_store *st = arg;
    st->wal_pages = pages;
    if (pages > WAL_PAGES_MAX &&
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL) == SQLITE_OK)
        st->wal_pages = 0;
    return SQLITE_OK;
}

/* ---- errors ---------------------------------------------------------- */

static int map_rc(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return UV_EBUSY;
    case SQLITE_FULL:
        return UV_ENOSPC;
    case SQLITE_NOMEM:
        return UV_ENOMEM;
    case SQLITE_READONLY:
        return UV_EROFS;
    case SQLITE_PERM:
    case SQLITE_AUTH:
        return UV_EACCES;
    case SQLITE_TOOBIG:
        return UV_E2BIG;
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
    case SQLITE_RANGE:
        return UV_EINVAL;
    default:
        return UV_EIO;
    }
}

static int fail(struct gw_store *st, int code, const char *fmt, ...)
    GW_PRINTF(3, 4);

static int fail(struct gw_store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
    return code;
}

/* An SQLite failure while doing `what`: keep SQLite's words and the file. */
static int db_fail(struct gw_store *st, int rc, const char *what)
{
    return fail(st, map_rc(rc), "%s: %s (%s)", what, sqlite3_errmsg(st->db),
                st->path);
}

/* ---- statements ------------------------------------------------------ */

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

/* NULL stays NULL: the statement decides what a missing value means. */
static void bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

static char *col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return gw_xstrdup(t ? (const char *)t : "");
}

/*
 * Run a statement that returns no rows and reset it, so that no statement
 * is ever left holding a read snapshot open (which would keep the WAL from
 * being checkpointed).
 */
static int run(struct gw_store *st, enum sid id, const char *what)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* One integer from the first row: 0, UV_ENOENT on no row or NULL. */
static int query_int(struct gw_store *st, enum sid id, const char *what,
                     int64_t *out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        ret = UV_ENOENT;
    else
        ret = db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* One string from the first row: 0 with *out malloc'd, or UV_ENOENT. */
static int query_str(struct gw_store *st, enum sid id, const char *what,
                     char **out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *out = col_str(s, 0);
    else if (rc == SQLITE_DONE)
        ret = UV_ENOENT;
    else
        ret = db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

typedef void (*row_fill_fn)(sqlite3_stmt *s, void *elem);
typedef void (*row_clear_fn)(void *elem);

/*
 * Step through all rows into a malloc'd array of elem-sized structs. Returns
 * the count (and *out NULL when there are none) or an error, in which case
 * nothing is left allocated.
 */
static int collect(struct gw_store *st, enum sid id, const char *what,
                   size_t elem, row_fill_fn fill, row_clear_fn clear,
                   void **out)
{
    sqlite3_stmt *s = st->stmts[id];
    char *arr = NULL;
    size_t n = 0, cap = 0;
    int rc;

    *out = NULL;
    for (;;) {
        rc = sqlite3_step(s);
        if (rc != SQLITE_ROW || n >= INT_MAX)
            break;
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            arr = gw_xrealloc(arr, cap * elem);
        }
        memset(arr + n * elem, 0, elem);
        fill(s, arr + n * elem);
        n++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        int ret = db_fail(st, rc, what);
        for (size_t i = 0; i < n; i++)
            clear(arr + i * elem);
        free(arr);
        sqlite3_reset(s);
        sqlite3_clear_bindings(s);
        return ret;
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    *out = arr;
    return (int)n;
}

/* ---- open and close -------------------------------------------------- */

static int make_state_dir(struct gw_store *st, const char *dir)
{
    struct stat sb;

    if (mkdir(dir, 0700) == 0) {
        /* mkdir's mode passes through the umask; make it exactly 0700. */
        if (chmod(dir, 0700) != 0)
            return fail(st, uv_translate_sys_error(errno),
                        "cannot set the mode of %s: %s", dir, strerror(errno));
        return 0;
    }
    if (errno != EEXIST)
        return fail(st, uv_translate_sys_error(errno),
                    "cannot create state directory %s: %s", dir,
                    strerror(errno));
    /* An existing directory keeps the mode its owner gave it. */
    if (stat(dir, &sb) != 0)
        return fail(st, uv_translate_sys_error(errno), "cannot use %s: %s", dir,
                    strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return fail(st, UV_ENOTDIR, "%s exists and is not a directory", dir);
    return 0;
}

/*
 * Create the database file ourselves with 0600 before SQLite opens it.
 * SQLite creates -wal and -shm with the mode of the database file, so the
 * tokens in there are never readable by others whatever the umask.
 */
static int make_db_file(struct gw_store *st)
{
    struct stat sb;
    int fd = open(st->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd >= 0) {
        int rc = fchmod(fd, 0600);
        int e = errno;
        close(fd);
        if (rc != 0)
            return fail(st, uv_translate_sys_error(e),
                        "cannot set the mode of %s: %s", st->path, strerror(e));
        return 0;
    }
    if (errno != EEXIST)
        return fail(st, uv_translate_sys_error(errno), "cannot create %s: %s",
                    st->path, strerror(errno));
    if (stat(st->path, &sb) != 0)
        return fail(st, uv_translate_sys_error(errno), "cannot use %s: %s",
                    st->path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return fail(st, UV_EINVAL, "%s is not a regular file", st->path);
    return 0;
}

/* A failure while reading a file we have not yet recognised. */
static int open_fail(struct gw_store *st, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return fail(st, UV_EINVAL,
                    "%s is not a Parley database (not even a SQLite one: %s); "
                    "move it away or set state_dir to another directory",
                    st->path, sqlite3_errmsg(st->db));
    case SQLITE_CORRUPT:
        return fail(st, UV_EIO,
                    "%s is damaged (%s); restore it from a backup or move it "
                    "away",
                    st->path, sqlite3_errmsg(st->db));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return fail(st, UV_EBUSY,
                    "%s is locked by another process (%s); is another parley "
                    "running on this state_dir?",
                    st->path, sqlite3_errmsg(st->db));
    default:
        return fail(st, map_rc(rc), "cannot open %s: %s", st->path,
                    sqlite3_errmsg(st->db));
    }
}

/* Run one SQL text that returns at most one integer. */
static int pragma_int(struct gw_store *st, const char *sql, int64_t *out)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(s, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            *out = 0;
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        rc = open_fail(st, rc);
    sqlite3_finalize(s);
    return rc;
}

/*
 * Refuse anything that is not a Parley database of a schema we know, before
 * writing a single byte to it: switching a foreign file to WAL would already
 * change it.
 */
static int identify(struct gw_store *st, int64_t *version)
{
    int64_t app = 0, objects = 0;
    int rc = pragma_int(st, "PRAGMA application_id", &app);
    if (rc == 0)
        rc = pragma_int(st, "PRAGMA user_version", version);
    if (rc == 0)
        rc = pragma_int(st, "SELECT count(*) FROM sqlite_master", &objects);
    if (rc < 0)
        return rc;
    if (app != 0 && app != STORE_APPLICATION_ID)
        return fail(st, UV_EINVAL,
                    "%s is not a Parley database (it belongs to another "
                    "program, application_id 0x%08" PRIx32 ")",
                    st->path, (uint32_t)app);
    if (app == 0 && (*version != 0 || objects != 0))
        return fail(st, UV_EINVAL,
                    "%s is not a Parley database (it holds another "
                    "program's tables)",
                    st->path);
    if (*version > GW_STORE_SCHEMA_VERSION)
        return fail(st, UV_EINVAL,
                    "%s was written by a newer Parley (schema %" PRId64
                    ", this build knows %d); upgrade Parley",
                    st->path, *version, GW_STORE_SCHEMA_VERSION);
    if (*version < 0)
        return fail(st, UV_EINVAL,
                    "%s is not a Parley database (schema %" PRId64 ")",
                    st->path, *version);
    return 0;
}

static int exec_sql(struct gw_store *st, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int ret = fail(st, map_rc(rc), "%s: %s (%s)", what,
                   msg ? msg : sqlite3_errstr(rc), st->path);
    sqlite3_free(msg);
    return ret;
}

/*
 * WAL with synchronous=NORMAL: a commit is appended to the WAL without an
 * fsync, and the WAL is synced at checkpoints. That is durable across a
 * crash of the process (kill -9, abort, OOM killer), which is the failure we
 * design for: the OS still holds every written page. A power loss or kernel
 * panic may lose the last few transactions (never corrupt the file); FULL
 * would close that gap at the price of one fsync per commit, which would cap
 * ingest at the disk's sync rate. Incoming posts lost that way come back:
 * their cursor rolls back with them and the network still has them. What a
 * person typed does not, so the outbox commits with FULL (see
 * gw_store_outbox_add).
 */
static int configure(struct gw_store *st)
{
    sqlite3_stmt *s = NULL;
    int rc =
        sqlite3_prepare_v2(st->db, "PRAGMA journal_mode=WAL", -1, &s, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
        rc = open_fail(st, rc);
        sqlite3_finalize(s);
        return rc;
    }
    const unsigned char *mode = sqlite3_column_text(s, 0);
    if (mode == NULL || gw_strcasecmp((const char *)mode, "wal") != 0) {
        rc = fail(st, UV_EIO,
                  "cannot switch %s to WAL (journal mode stays %s); put "
                  "state_dir on a local file system",
                  st->path, mode ? (const char *)mode : "unknown");
        sqlite3_finalize(s);
        return rc;
    }
    sqlite3_finalize(s);
    sqlite3_wal_hook(st->db, wal_hook, st);
    /* A bounded page cache: the indexes of a large store stay in memory
     * without memory growing with the store. */
    return exec_sql(st,
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA cache_size=-8192;",
                    "configuring the database");
}

static int migrate(struct gw_store *st, int64_t from)
{
    char sql[128];

    for (int64_t v = from + 1; v <= GW_STORE_SCHEMA_VERSION; v++) {
        int64_t now = 0;
        int rc = exec_sql(st, "BEGIN IMMEDIATE", "starting a migration");
        if (rc < 0)
            return rc;
        /* Another process may have migrated while we were not locked. */
        rc = pragma_int(st, "PRAGMA user_version", &now);
        if (rc == 0 && now >= v) {
            rc = exec_sql(st, "COMMIT", "finishing a migration");
            if (rc < 0)
                return rc;
            continue;
        }
        if (rc == 0) {
            char what[64];
            snprintf(what, sizeof(what), "migrating to schema %" PRId64, v);
            rc = exec_sql(st, migrations[v - 1], what);
        }
        if (rc == 0) {
            snprintf(sql, sizeof(sql),
                     "PRAGMA application_id=%d; PRAGMA user_version=%" PRId64
                     ";",
                     STORE_APPLICATION_ID, v);
            rc = exec_sql(st, sql, "recording the schema version");
        }
        if (rc == 0)
            rc = exec_sql(st, "COMMIT", "finishing a migration");
        if (rc < 0) {
            if (!sqlite3_get_autocommit(st->db))
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

static int prepare_all(struct gw_store *st)
{
    for (int i = 0; i < S_COUNT; i++) {
        int rc =
            sqlite3_prepare_v3(st->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &st->stmts[i], NULL);
        if (rc != SQLITE_OK)
            return fail(st, UV_EINVAL,
                        "%s does not have the schema this Parley expects "
                        "(%s)",
                        st->path, sqlite3_errmsg(st->db));
    }
    return 0;
}

int gw_store_open(struct gw_store **out, const char *state_dir, char *err,
                  size_t errlen)
{
    struct gw_store *st;
    int64_t version = 0;
    int rc;

    if (out == NULL || state_dir == NULL || *state_dir == '\0') {
        if (out)
            *out = NULL;
        if (err && errlen)
            snprintf(err, errlen, "no state directory given");
        return UV_EINVAL;
    }
    *out = NULL;
    st = gw_xcalloc(1, sizeof(*st));
    snprintf(st->err, sizeof(st->err), "no error");

    /* "state/" and "state" name the same file in messages. */
    size_t dirlen = strlen(state_dir);
    while (dirlen > 1 && state_dir[dirlen - 1] == '/')
        dirlen--;
    char *dir = gw_xstrndup(state_dir, dirlen);
    st->path = gw_xasprintf("%s/parley.db", dir);

    rc = make_state_dir(st, dir);
    free(dir);
    if (rc == 0)
        rc = make_db_file(st);
    if (rc < 0)
        goto fail;

    /* SQLite's memory statistics take a global mutex on every malloc and
     * free (dozens per stored post); nothing here reads them. Only
     * possible before SQLite initialises: later opens get a harmless
     * SQLITE_MISUSE, so no flag of our own needs to remember it. */
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    /* NOMUTEX: the connection is only ever used from the loop thread. */
    rc = sqlite3_open_v2(st->path, &st->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (st->db == NULL) {
            rc = fail(st, UV_ENOMEM, "cannot open %s: out of memory", st->path);
            goto fail;
        }
        rc = open_fail(st, rc);
        goto fail;
    }
    sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
    /* Refuse SQL that could corrupt the file (writable_schema and such);
     * we never need it, and a damaged file must not make things worse. */
    sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);

    rc = identify(st, &version);
    if (rc == 0)
        rc = configure(st);
    if (rc == 0)
        rc = migrate(st, version);
    if (rc == 0)
        rc = prepare_all(st);
    if (rc < 0)
        goto fail;

    snprintf(st->err, sizeof(st->err), "no error");
    *out = st;
    return 0;

fail:
    if (err && errlen)
        gw_strlcpy(err, st->err, errlen);
    gw_store_close(st);
    return rc;
}

void gw_store_close(struct gw_store *st)
{
    if (st == NULL)
        return;
    if (st->db && !sqlite3_get_autocommit(st->db))
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    for (int i = 0; i < S_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    /* Plain sqlite3_close, not _v2: a statement we forgot to finalize
     * shows up here as SQLITE_BUSY instead of a silent zombie. */
    if (st->db && sqlite3_close(st->db) != SQLITE_OK)
        fprintf(stderr, "parley: closing %s: %s\n", st->path,
                sqlite3_errmsg(st->db));
    free(st->path);
    free(st);
}

const char *gw_store_errmsg(const struct gw_store *st)
{
    return st ? st->err : "no store";
}

/* ---- transactions ---------------------------------------------------- */

int gw_store_begin(struct gw_store *st)
{
    if (st == NULL)
        return UV_EINVAL;
    if (st->depth == INT_MAX)
        return fail(st, UV_EINVAL, "transactions nested too deep");
    if (st->depth == 0) {
        int rc = run(st, S_BEGIN, "starting a transaction");
        if (rc < 0)
            return rc;
        st->doomed = false;
    }
    st->depth++;
    return 0;
}

int gw_store_commit(struct gw_store *st)
{
    if (st == NULL)
        return UV_EINVAL;
    if (st->depth == 0)
        return fail(st, UV_EINVAL, "commit without a transaction");
    if (--st->depth > 0)
        return 0;
    if (st->doomed) {
        st->doomed = false;
        if (!sqlite3_get_autocommit(st->db))
            run(st, S_ROLLBACK, "rolling back");
        st->seq_dirty = true;
        return fail(st, UV_ECANCELED,
                    "the transaction was rolled back by an inner level; "
                    "nothing of it was stored");
    }
    if (sqlite3_get_autocommit(st->db)) {
        /* SQLite rolls back by itself after some errors (disk full, I/O). */
        st->seq_dirty = true;
        return fail(st, UV_EIO,
                    "the transaction was rolled back after an error; "
                    "nothing of it was stored (%s)",
                    st->path);
    }
    int rc = run(st, S_COMMIT, "committing");
    if (rc < 0) {
        /* Do not leave the transaction open behind the caller's back. */
        if (!sqlite3_get_autocommit(st->db)) {
            char keep[STORE_ERR_MAX];
            gw_strlcpy(keep, st->err, sizeof(keep));
            run(st, S_ROLLBACK, "rolling back");
            gw_strlcpy(st->err, keep, sizeof(st->err));
        }
        st->seq_dirty = true;
    }
    return rc;
}

int gw_store_rollback(struct gw_store *st)
{
    int rc = 0;
    if (st == NULL)
        return UV_EINVAL;
    if (st->depth == 0)
        return fail(st, UV_EINVAL, "rollback without a transaction");
    st->depth--;
    if (!sqlite3_get_autocommit(st->db))
        rc = run(st, S_ROLLBACK, "rolling back");
    st->seq_dirty = true;
    if (st->depth > 0) {
        /*
         * The whole transaction is lost now. Keep one open until the
         * outermost level ends, so the outer levels' remaining writes are
         * discarded with it instead of being committed one by one.
         */
        st->doomed = true;
        if (rc == 0)
            rc = run(st, S_BEGIN, "restarting a transaction");
    } else {
        st->doomed = false;
    }
    return rc;
}

/* ---- accounts -------------------------------------------------------- */

void gw_account_row_free(struct gw_account_row *r)
{
    if (r == NULL)
        return;
    free(r->name);
    free(r->network);
    memset(r, 0, sizeof(*r));
}

void gw_account_rows_free(struct gw_account_row *rows, int n)
{
    if (rows == NULL)
        return;
    for (int i = 0; i < n; i++)
        gw_account_row_free(&rows[i]);
    free(rows);
}

static void account_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_account_row *r = elem;
    r->name = col_str(s, 0);
    r->network = col_str(s, 1);
    r->enabled = sqlite3_column_int(s, 2) != 0;
    r->created_ms = sqlite3_column_int64(s, 3);
}

static void account_clear(void *elem)
{
    gw_account_row_free(elem);
}

int gw_store_account_add(struct gw_store *st, const char *name,
                         const char *network)
{
    if (st == NULL)
        return UV_EINVAL;
    if (name == NULL || *name == '\0' || network == NULL || *network == '\0')
        return fail(st, UV_EINVAL, "an account needs a name and a network");
    sqlite3_stmt *s = st->stmts[S_ACCOUNT_ADD];
    bind_text(s, 1, name);
    bind_text(s, 2, network);
    sqlite3_bind_int64(s, 3, gw_now_ms());
    int rc = sqlite3_step(s);
    int ret = 0;
    int ext = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(st->db);
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
        ret = fail(st, UV_EEXIST, "there is already an account named %s", name);
    else if (rc != SQLITE_DONE)
        ret = db_fail(st, rc, "adding an account");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int gw_store_account_del(struct gw_store *st, const char *name)
{
    if (st == NULL || name == NULL)
        return UV_EINVAL;
    int rc = gw_store_begin(st);
    if (rc < 0)
        return rc;
    bind_text(st->stmts[S_ACCOUNT_DEL], 1, name);
    rc = run(st, S_ACCOUNT_DEL, "deleting an account");
    if (rc == 0 && sqlite3_changes(st->db) == 0) {
        /* Nothing was written, so the caller's transaction is intact. */
        gw_store_commit(st);
        return fail(st, UV_ENOENT, "there is no account named %s", name);
    }
    if (rc == 0) {
        bind_text(st->stmts[S_ACCOUNT_DEL_CURSORS], 1, name);
        rc = run(st, S_ACCOUNT_DEL_CURSORS, "deleting an account's cursors");
    }
    if (rc < 0) {
        char keep[STORE_ERR_MAX];
        gw_strlcpy(keep, st->err, sizeof(keep));
        gw_store_rollback(st);
        gw_strlcpy(st->err, keep, sizeof(st->err));
        return rc;
    }
    return gw_store_commit(st);
}

int gw_store_account_enable(struct gw_store *st, const char *name, bool on)
{
    if (st == NULL || name == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[S_ACCOUNT_ENABLE];
    bind_text(s, 1, name);
    sqlite3_bind_int(s, 2, on ? 1 : 0);
    int rc = run(st, S_ACCOUNT_ENABLE, "enabling an account");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return fail(st, UV_ENOENT, "there is no account named %s", name);
    return rc;
}

int gw_store_account_get(struct gw_store *st, const char *name,
                         struct gw_account_row *out)
{
    if (st == NULL || name == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[S_ACCOUNT_GET];
    bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        account_fill(s, out);
    else if (rc == SQLITE_DONE)
        ret = fail(st, UV_ENOENT, "there is no account named %s", name);
    else
        ret = db_fail(st, rc, "reading an account");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int gw_store_account_list(struct gw_store *st, struct gw_account_row **rows)
{
    void *arr;
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    int n = collect(st, S_ACCOUNT_LIST, "listing accounts",
                    sizeof(struct gw_account_row), account_fill, account_clear,
                    &arr);
    *rows = arr;
    return n;
}

/* ---- settings -------------------------------------------------------- */

int gw_store_setting_set(struct gw_store *st, const char *account,
                         const char *key, const char *value)
{
    if (st == NULL || account == NULL || key == NULL)
        return UV_EINVAL;
    if (value == NULL) {
        sqlite3_stmt *d = st->stmts[S_SETTING_DEL];
        bind_text(d, 1, account);
        bind_text(d, 2, key);
        int rc = run(st, S_SETTING_DEL, "deleting a setting");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            return fail(st, UV_ENOENT, "account %s has no setting %s", account,
                        key);
        return rc;
    }
    sqlite3_stmt *s = st->stmts[S_SETTING_SET];
    bind_text(s, 1, account);
    bind_text(s, 2, key);
    bind_text(s, 3, value);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE &&
        sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = fail(st, UV_ENOENT, "there is no account named %s", account);
    else if (rc != SQLITE_DONE)
        ret = db_fail(st, rc, "storing a setting");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int gw_store_setting_get(struct gw_store *st, const char *account,
                         const char *key, char **value)
{
    if (st == NULL || account == NULL || key == NULL || value == NULL)
        return UV_EINVAL;
    *value = NULL;
    sqlite3_stmt *s = st->stmts[S_SETTING_GET];
    bind_text(s, 1, account);
    bind_text(s, 2, key);
    int rc = query_str(st, S_SETTING_GET, "reading a setting", value);
    if (rc == UV_ENOENT)
        fail(st, rc, "account %s has no setting %s", account, key);
    return rc;
}

struct kv_pair {
    char *key;
    char *value;
};

static void kv_fill(sqlite3_stmt *s, void *elem)
{
    struct kv_pair *p = elem;
    p->key = col_str(s, 0);
    p->value = col_str(s, 1);
}

static void kv_clear(void *elem)
{
    struct kv_pair *p = elem;
    free(p->key);
    free(p->value);
}

int gw_store_setting_each(struct gw_store *st, const char *account,
                          gw_store_kv_cb cb, void *arg)
{
    void *arr;
    if (st == NULL || account == NULL || cb == NULL)
        return UV_EINVAL;
    bind_text(st->stmts[S_SETTING_EACH], 1, account);
    /* Read everything first: the callback may call back into the store,
     * which would reset the statement under our feet. */
    int n = collect(st, S_SETTING_EACH, "listing settings",
                    sizeof(struct kv_pair), kv_fill, kv_clear, &arr);
    if (n < 0)
        return n;
    struct kv_pair *pairs = arr;
    for (int i = 0; i < n; i++)
        cb(arg, pairs[i].key, pairs[i].value);
    for (int i = 0; i < n; i++)
        kv_clear(&pairs[i]);
    free(pairs);
    return n;
}

/* ---- posts ----------------------------------------------------------- */

void gw_post_free(struct gw_post *p)
{
    if (p == NULL)
        return;
    free(p->account);
    free(p->network_id);
    free(p->kind);
    free(p->author);
    free(p->author_name);
    free(p->author_url);
    free(p->url);
    free(p->text);
    free(p->conversation);
    free(p->in_reply_to);
    free(p->target);
    free(p->extra);
    free(p->claimer);
    free(p->answered_by);
    memset(p, 0, sizeof(*p));
}

void gw_post_rows_free(struct gw_post *rows, int n)
{
    if (rows == NULL)
        return;
    for (int i = 0; i < n; i++)
        gw_post_free(&rows[i]);
    free(rows);
}

static enum gw_post_state post_state(int64_t v)
{
    switch (v) {
    case GW_POST_OPEN:
        return GW_POST_OPEN;
    case GW_POST_CLAIMED:
        return GW_POST_CLAIMED;
    case GW_POST_DONE:
        return GW_POST_DONE;
    default:
        return GW_POST_NONE;
    }
}

static void post_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_post *p = elem;
    p->id = sqlite3_column_int64(s, 0);
    gw_base36((uint64_t)p->id, p->ref, sizeof(p->ref));
    p->account = col_str(s, 1);
    p->network_id = col_str(s, 2);
    p->kind = col_str(s, 3);
    p->author = col_str(s, 4);
    p->author_name = col_str(s, 5);
    p->author_url = col_str(s, 6);
    p->url = col_str(s, 7);
    p->text = col_str(s, 8);
    p->conversation = col_str(s, 9);
    p->in_reply_to = col_str(s, 10);
    p->target = col_str(s, 11);
    p->extra = col_str(s, 12);
    p->created_ms = sqlite3_column_int64(s, 13);
    p->stored_ms = sqlite3_column_int64(s, 14);
    p->state = post_state(sqlite3_column_int64(s, 15));
    p->claimer = col_str(s, 16);
    p->answered_by = col_str(s, 17);
}

static void post_clear(void *elem)
{
    gw_post_free(elem);
}

/* Fill *out from the single-row statement id: 0, UV_ENOENT or an error. */
static int post_one(struct gw_store *st, enum sid id, const char *what,
                    struct gw_post *out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        post_fill(s, out);
    else if (rc == SQLITE_DONE)
        ret = UV_ENOENT;
    else
        ret = db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* 1 and id/stored set when (account, network_id, kind) is stored, else 0. */
static int post_find(struct gw_store *st, const char *account,
                     const char *netid, const char *kind, int64_t *id,
                     int64_t *stored)
{
    sqlite3_stmt *s = st->stmts[S_POST_FIND];
    bind_text(s, 1, account);
    bind_text(s, 2, netid);
    bind_text(s, 3, kind);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        *stored = sqlite3_column_int64(s, 1);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = db_fail(st, rc, "looking up a post");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/*
 * A rollback also rewinds sqlite_sequence, so the next post would get an id
 * (a ref) that this process already handed out and may have shown. Push the
 * sequence past the highest id we gave out before inserting again.
 */
static int post_seq_fix(struct gw_store *st)
{
    sqlite3_bind_int64(st->stmts[S_POST_SEQ_UPDATE], 1, st->post_hw);
    int rc = run(st, S_POST_SEQ_UPDATE, "advancing the ref counter");
    if (rc == 0) {
        sqlite3_bind_int64(st->stmts[S_POST_SEQ_INSERT], 1, st->post_hw);
        rc = run(st, S_POST_SEQ_INSERT, "advancing the ref counter");
    }
    if (rc == 0)
        st->seq_dirty = false;
    return rc;
}

static void post_handed_out(struct gw_store *st, struct gw_post *p, int64_t id,
                            int64_t stored)
{
    p->id = id;
    gw_base36((uint64_t)id, p->ref, sizeof(p->ref));
    p->stored_ms = stored;
    if (id > st->post_hw)
        st->post_hw = id;
}

static int post_last_run(struct gw_store *st, enum sid sid,
                         const struct gw_post *p, int64_t id)
{
    bind_text(st->stmts[sid], 1, p->target);
    bind_text(st->stmts[sid], 2, p->author);
    sqlite3_bind_int64(st->stmts[sid], 3, id);
    return run(st, sid, "storing a post");
}

/* An UPDATE that nearly always finds its row, else an INSERT: an UPSERT
 * looked the key up three times. */
static int post_last_set(struct gw_store *st, const struct gw_post *p,
                         int64_t id)
{
    int rc = post_last_run(st, S_POST_LAST_UPDATE, p, id);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = post_last_run(st, S_POST_LAST_INSERT, p, id);
    return rc;
}

int gw_store_post_put(struct gw_store *st, struct gw_post *p)
{
    int64_t id = 0, stored = 0;
    int rc;

    if (st == NULL || p == NULL)
        return UV_EINVAL;
    /* An empty network id cannot tell two posts apart: store it as NULL,
     * which the UNIQUE constraint never matches. */
    const char *netid = p->network_id && *p->network_id ? p->network_id : NULL;

    /*
     * Look first: INSERT ... ON CONFLICT DO NOTHING still draws an id from
     * the AUTOINCREMENT counter, and a duplicate (stream and back-fill
     * overlap all the time) would burn a ref for nothing.
     */
    if (netid) {
        rc = post_find(st, p->account, netid, p->kind, &id, &stored);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            post_handed_out(st, p, id, stored);
            return 1;
        }
    }
    /* SQLite may have rolled back the caller's transaction on its own. */
    if (st->depth > 0 && sqlite3_get_autocommit(st->db))
        st->seq_dirty = true;
    if (st->seq_dirty && st->post_hw > 0) {
        rc = post_seq_fix(st);
        if (rc < 0)
            return rc;
    }

    stored = gw_now_ms();
    sqlite3_stmt *s = st->stmts[S_POST_INSERT];
    bind_text(s, 1, p->account);
    bind_text_or_null(s, 2, netid);
    bind_text(s, 3, p->kind);
    bind_text(s, 4, p->author);
    bind_text(s, 5, p->author_name);
    bind_text(s, 6, p->author_url);
    bind_text(s, 7, p->url);
    bind_text(s, 8, p->text);
    bind_text(s, 9, p->conversation);
    bind_text(s, 10, p->in_reply_to);
    bind_text(s, 11, p->target);
    bind_text(s, 12, p->extra);
    sqlite3_bind_int64(s, 13, p->created_ms);
    sqlite3_bind_int64(s, 14, stored);
    sqlite3_bind_int(s, 15, (int)post_state(p->state));
    bind_text(s, 16, p->claimer);
    bind_text(s, 17, p->answered_by);
    rc = run(st, S_POST_INSERT, "storing a post");
    if (rc < 0)
        return rc;
    if (sqlite3_changes(st->db) == 1) {
        id = sqlite3_last_insert_rowid(st->db);
        rc = post_last_set(st, p, id);
        if (rc < 0)
            return rc;
        post_handed_out(st, p, id, stored);
        return 0;
    }
    /* Another connection stored it between our look and our insert. */
    rc = post_find(st, p->account, netid, p->kind, &id, &stored);
    if (rc < 0)
        return rc;
    if (rc == 0)
        return fail(st, UV_EIO,
                    "storing a post: it was neither inserted nor "
                    "found (%s)",
                    st->path);
    post_handed_out(st, p, id, stored);
    return 1;
}

/* Base 36, either case, canonical (no leading zeros), fits an int64. */
static int parse_ref(const char *ref, int64_t *id)
{
    uint64_t v = 0;
    size_t len;

    if (ref == NULL || *ref == '\0')
        return UV_EINVAL;
    len = strlen(ref);
    if (len > 13 || (ref[0] == '0' && len > 1))
        return UV_EINVAL;
    for (size_t i = 0; i < len; i++) {
        char c = ref[i];
        unsigned d;
        if (c >= '0' && c <= '9')
            d = (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'z')
            d = (unsigned)(c - 'a') + 10;
        else if (c >= 'A' && c <= 'Z')
            d = (unsigned)(c - 'A') + 10;
        else
            return UV_EINVAL;
        if (v > ((uint64_t)INT64_MAX - d) / 36)
            return UV_EINVAL;
        v = v * 36 + d;
    }
    *id = (int64_t)v;
    return 0;
}

int gw_store_post_by_ref(struct gw_store *st, const char *ref,
                         struct gw_post *out)
{
    int64_t id;
    if (st == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    if (parse_ref(ref, &id) < 0)
        return fail(st, UV_EINVAL, "\"%s\" is not a ref", ref ? ref : "");
    sqlite3_bind_int64(st->stmts[S_POST_BY_ID], 1, id);
    int rc = post_one(st, S_POST_BY_ID, "reading a post", out);
    if (rc == UV_ENOENT)
        fail(st, rc, "there is no post %s", ref);
    return rc;
}

int gw_store_post_by_netid(struct gw_store *st, const char *account,
                           const char *network_id, struct gw_post *out)
{
    if (st == NULL || account == NULL || network_id == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[S_POST_BY_NETID];
    bind_text(s, 1, account);
    bind_text(s, 2, network_id);
    int rc = post_one(st, S_POST_BY_NETID, "reading a post", out);
    if (rc == UV_ENOENT)
        fail(st, rc, "account %s has no post %s", account, network_id);
    return rc;
}

int gw_store_post_latest_by(struct gw_store *st, const char *target,
                            const char *author, struct gw_post *out)
{
    if (st == NULL || target == NULL || author == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[S_POST_LATEST_BY];
    bind_text(s, 1, target);
    bind_text(s, 2, author);
    int rc = post_one(st, S_POST_LATEST_BY, "reading a post", out);
    if (rc == UV_ENOENT)
        fail(st, rc, "no post by %s in %s", author, target);
    return rc;
}

int gw_store_post_set_state(struct gw_store *st, int64_t id,
                            enum gw_post_state state, const char *who)
{
    if (st == NULL)
        return UV_EINVAL;
    if (state != GW_POST_NONE && state != GW_POST_OPEN &&
        state != GW_POST_CLAIMED && state != GW_POST_DONE)
        return fail(st, UV_EINVAL, "unknown post state %d", (int)state);
    sqlite3_stmt *s = st->stmts[S_POST_SET_STATE];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, (int)state);
    bind_text(s, 3, who);
    int rc = run(st, S_POST_SET_STATE, "updating a post");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return fail(st, UV_ENOENT, "there is no post with id %" PRId64, id);
    return rc;
}

int gw_store_post_set_text(struct gw_store *st, int64_t id, const char *text)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[S_POST_SET_TEXT];
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, text);
    int rc = run(st, S_POST_SET_TEXT, "updating a post");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return fail(st, UV_ENOENT, "there is no post with id %" PRId64, id);
    return rc;
}

int gw_store_post_pending(struct gw_store *st, const char *account, int limit,
                          struct gw_post **rows)
{
    void *arr;
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = st->stmts[S_POST_PENDING];
    bind_text_or_null(s, 1, account);
    sqlite3_bind_int(s, 2, limit);
    int n = collect(st, S_POST_PENDING, "listing pending posts",
                    sizeof(struct gw_post), post_fill, post_clear, &arr);
    *rows = arr;
    return n;
}

int gw_store_post_count(struct gw_store *st, int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    return query_int(st, S_POST_COUNT, "counting posts", count);
}

/* ---- cursors --------------------------------------------------------- */

int gw_store_cursor_get(struct gw_store *st, const char *account,
                        const char *name, char **value)
{
    if (st == NULL || account == NULL || name == NULL || value == NULL)
        return UV_EINVAL;
    *value = NULL;
    sqlite3_stmt *s = st->stmts[S_CURSOR_GET];
    bind_text(s, 1, account);
    bind_text(s, 2, name);
    int rc = query_str(st, S_CURSOR_GET, "reading a cursor", value);
    if (rc == UV_ENOENT)
        fail(st, rc, "account %s has no cursor %s", account, name);
    return rc;
}

int gw_store_cursor_set(struct gw_store *st, const char *account,
                        const char *name, const char *value)
{
    if (st == NULL || account == NULL || name == NULL)
        return UV_EINVAL;
    enum sid id = value ? S_CURSOR_SET : S_CURSOR_DEL;
    sqlite3_stmt *s = st->stmts[id];
    bind_text(s, 1, account);
    bind_text(s, 2, name);
    if (value)
        bind_text(s, 3, value);
    return run(st, id, "storing a cursor");
}

/* ---- outbox ---------------------------------------------------------- */

void gw_outbox_item_free(struct gw_outbox_item *it)
{
    if (it == NULL)
        return;
    free(it->account);
    free(it->action);
    free(it->payload);
    free(it->idem_key);
    free(it->origin);
    free(it->who);
    free(it->error);
    free(it->result);
    memset(it, 0, sizeof(*it));
}

void gw_outbox_items_free(struct gw_outbox_item *items, int n)
{
    if (items == NULL)
        return;
    for (int i = 0; i < n; i++)
        gw_outbox_item_free(&items[i]);
    free(items);
}

static enum gw_outbox_state outbox_state(int64_t v)
{
    switch (v) {
    case GW_OUTBOX_PENDING:
        return GW_OUTBOX_PENDING;
    case GW_OUTBOX_SENT:
        return GW_OUTBOX_SENT;
    default:
        return GW_OUTBOX_FAILED;
    }
}

static void outbox_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_outbox_item *it = elem;
    int64_t attempts;
    it->id = sqlite3_column_int64(s, 0);
    it->account = col_str(s, 1);
    it->action = col_str(s, 2);
    it->payload = col_str(s, 3);
    it->idem_key = col_str(s, 4);
    it->origin = col_str(s, 5);
    it->who = col_str(s, 6);
    it->error = col_str(s, 7);
    it->result = col_str(s, 8);
    it->state = outbox_state(sqlite3_column_int64(s, 9));
    attempts = sqlite3_column_int64(s, 10);
    it->attempts = attempts < 0         ? 0
                   : attempts > INT_MAX ? INT_MAX
                                        : (int)attempts;
    it->created_ms = sqlite3_column_int64(s, 11);
    it->next_ms = sqlite3_column_int64(s, 12);
}

static void outbox_clear(void *elem)
{
    gw_outbox_item_free(elem);
}

int gw_store_outbox_add(struct gw_store *st, const char *account,
                        const char *action, const char *payload,
                        const char *origin, const char *who, int64_t *id)
{
    char key[33];

    if (st == NULL)
        return UV_EINVAL;
    if (account == NULL || *account == '\0' || action == NULL ||
        *action == '\0')
        return fail(st, UV_EINVAL,
                    "an outbox item needs an account and an "
                    "action");
    /* The contract is "committed when this returns, then send": inside a
     * transaction it would not be, and a crash could send twice. */
    if (st->depth > 0)
        return fail(st, UV_EBUSY,
                    "outbox items cannot be added inside a transaction");
    if (gw_random_hex(key, sizeof(key)) < 0)
        return fail(st, UV_EIO, "no randomness for an idempotency key");
    sqlite3_stmt *s = st->stmts[S_OUTBOX_ADD];
    bind_text(s, 1, account);
    bind_text(s, 2, action);
    bind_text(s, 3, payload ? payload : "{}");
    bind_text(s, 4, key);
    bind_text(s, 5, origin);
    bind_text(s, 6, who);
    sqlite3_bind_int64(s, 7, gw_now_ms());
    /* What a person typed exists nowhere else: it is on the disk, not only
     * in the OS's cache, before anything is sent. */
    const char *what = "queueing an outbound action";
    int rc = exec_sql(st, "PRAGMA synchronous=FULL", what);
    if (rc == 0)
        rc = run(st, S_OUTBOX_ADD, what);
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(st->db);
    int rc2 = exec_sql(st, "PRAGMA synchronous=NORMAL", what);
    return rc < 0 ? rc : rc2;
}

int gw_store_outbox_get(struct gw_store *st, int64_t id,
                        struct gw_outbox_item *out)
{
    if (st == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[S_OUTBOX_GET];
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        outbox_fill(s, out);
    else if (rc == SQLITE_DONE)
        ret = fail(st, UV_ENOENT, "there is no outbox item %" PRId64, id);
    else
        ret = db_fail(st, rc, "reading an outbox item");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

static int outbox_list_of(struct gw_store *st, enum sid id,
                          struct gw_outbox_item **items)
{
    void *arr;
    int n = collect(st, id, "listing the outbox", sizeof(struct gw_outbox_item),
                    outbox_fill, outbox_clear, &arr);
    *items = arr;
    return n;
}

int gw_store_outbox_due(struct gw_store *st, int64_t now_ms, int limit,
                        struct gw_outbox_item **items)
{
    if (st == NULL || items == NULL)
        return UV_EINVAL;
    *items = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_bind_int64(st->stmts[S_OUTBOX_DUE], 1, now_ms);
    sqlite3_bind_int(st->stmts[S_OUTBOX_DUE], 2, limit);
    return outbox_list_of(st, S_OUTBOX_DUE, items);
}

int gw_store_outbox_next_time(struct gw_store *st, int64_t *ms)
{
    if (st == NULL || ms == NULL)
        return UV_EINVAL;
    int rc = query_int(st, S_OUTBOX_NEXT, "reading the outbox", ms);
    if (rc == UV_ENOENT)
        fail(st, rc, "the outbox has nothing pending");
    return rc;
}

int gw_store_outbox_list(struct gw_store *st, int limit,
                         struct gw_outbox_item **items)
{
    if (st == NULL || items == NULL)
        return UV_EINVAL;
    *items = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_bind_int(st->stmts[S_OUTBOX_LIST], 1, limit);
    return outbox_list_of(st, S_OUTBOX_LIST, items);
}

/* After an UPDATE ... WHERE state = 0 changed nothing: say why. */
static int outbox_not_pending(struct gw_store *st, int64_t id)
{
    int64_t state;
    sqlite3_bind_int64(st->stmts[S_OUTBOX_STATE], 1, id);
    int rc = query_int(st, S_OUTBOX_STATE, "reading an outbox item", &state);
    if (rc == UV_ENOENT)
        return fail(st, UV_ENOENT, "there is no outbox item %" PRId64, id);
    if (rc < 0)
        return rc;
    return fail(st, UV_EINVAL, "outbox item %" PRId64 " is %s, not pending", id,
                state == GW_OUTBOX_SENT ? "sent" : "failed");
}

static int outbox_update(struct gw_store *st, enum sid sid, int64_t id)
{
    int rc = run(st, sid, "updating an outbox item");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return outbox_not_pending(st, id);
    return rc;
}

int gw_store_outbox_retry_at(struct gw_store *st, int64_t id, int64_t next_ms,
                             const char *error)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[S_OUTBOX_RETRY];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, next_ms);
    bind_text(s, 3, error);
    return outbox_update(st, S_OUTBOX_RETRY, id);
}

int gw_store_outbox_sent(struct gw_store *st, int64_t id, const char *result)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[S_OUTBOX_SENT];
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, result);
    return outbox_update(st, S_OUTBOX_SENT, id);
}

int gw_store_outbox_failed(struct gw_store *st, int64_t id, const char *error)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[S_OUTBOX_FAILED];
    sqlite3_bind_int64(s, 1, id);
    bind_text(s, 2, error);
    return outbox_update(st, S_OUTBOX_FAILED, id);
}

int gw_store_outbox_requeue(struct gw_store *st, int64_t id)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[S_OUTBOX_REQUEUE];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, gw_now_ms());
    int rc = run(st, S_OUTBOX_REQUEUE, "requeueing an outbox item");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return fail(st, UV_ENOENT, "there is no failed outbox item %" PRId64,
                    id);
    return rc;
}

int gw_store_outbox_depth(struct gw_store *st, const char *account,
                          int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    bind_text_or_null(st->stmts[S_OUTBOX_DEPTH], 1, account);
    return query_int(st, S_OUTBOX_DEPTH, "counting the outbox", count);
}

/* ---- history --------------------------------------------------------- */

static void history_clear(void *elem)
{
    struct gw_history_row *r = elem;
    free(r->target);
    free(r->msgid);
    free(r->prefix);
    free(r->command);
    free(r->text);
    free(r->tags);
    memset(r, 0, sizeof(*r));
}

void gw_history_rows_free(struct gw_history_row *rows, int n)
{
    if (rows == NULL)
        return;
    for (int i = 0; i < n; i++)
        history_clear(&rows[i]);
    free(rows);
}

static void history_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_history_row *r = elem;
    r->id = sqlite3_column_int64(s, 0);
    r->target = col_str(s, 1);
    r->time_ms = sqlite3_column_int64(s, 2);
    r->msgid = col_str(s, 3);
    r->prefix = col_str(s, 4);
    r->command = col_str(s, 5);
    r->text = col_str(s, 6);
    r->tags = col_str(s, 7);
}

static int history_list(struct gw_store *st, enum sid id,
                        struct gw_history_row **rows)
{
    void *arr;
    int n = collect(st, id, "reading history", sizeof(struct gw_history_row),
                    history_fill, history_clear, &arr);
    *rows = arr;
    return n;
}

/* For statements that select newest first to take the latest rows: hand
 * them out oldest first. */
static int history_list_newest(struct gw_store *st, enum sid id,
                               struct gw_history_row **rows)
{
    int n = history_list(st, id, rows);
    for (int i = 0, j = n - 1; i < j; i++, j--) {
        struct gw_history_row t = (*rows)[i];
        (*rows)[i] = (*rows)[j];
        (*rows)[j] = t;
    }
    return n;
}

int gw_store_history_add(struct gw_store *st, const char *target,
                         int64_t time_ms, const char *msgid, const char *prefix,
                         const char *command, const char *text,
                         const char *tags, int64_t *id)
{
    if (st == NULL)
        return UV_EINVAL;
    if (target == NULL || *target == '\0')
        return fail(st, UV_EINVAL, "a history line needs a target");
    sqlite3_stmt *s = st->stmts[S_HISTORY_ADD];
    bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, time_ms);
    bind_text(s, 3, msgid);
    bind_text(s, 4, prefix);
    bind_text(s, 5, command ? command : "PRIVMSG");
    bind_text(s, 6, text);
    bind_text(s, 7, tags);
    int rc = run(st, S_HISTORY_ADD, "storing history");
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(st->db);
    return rc;
}

int gw_store_history_after(struct gw_store *st, const char *target,
                           int64_t after_id, int limit,
                           struct gw_history_row **rows)
{
    if (st == NULL || target == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = st->stmts[S_HISTORY_AFTER];
    bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int(s, 3, limit);
    return history_list(st, S_HISTORY_AFTER, rows);
}

int gw_store_history_before(struct gw_store *st, const char *target,
                            int64_t before_id, int limit,
                            struct gw_history_row **rows)
{
    if (st == NULL || target == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = st->stmts[S_HISTORY_BEFORE];
    bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, before_id == 0 ? INT64_MAX : before_id);
    sqlite3_bind_int(s, 3, limit);
    return history_list_newest(st, S_HISTORY_BEFORE, rows);
}

int gw_store_history_since(struct gw_store *st, int64_t after_id, int limit,
                           struct gw_history_row **rows)
{
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = st->stmts[S_HISTORY_SINCE];
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit);
    return history_list_newest(st, S_HISTORY_SINCE, rows);
}

int gw_store_history_count_since(struct gw_store *st, int64_t after_id,
                                 int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    sqlite3_bind_int64(st->stmts[S_HISTORY_COUNT], 1, after_id);
    return query_int(st, S_HISTORY_COUNT, "counting history", count);
}

int gw_store_history_last_id(struct gw_store *st, int64_t *id)
{
    if (st == NULL || id == NULL)
        return UV_EINVAL;
    return query_int(st, S_HISTORY_LAST, "reading history", id);
}

int gw_store_history_find(struct gw_store *st, const char *target,
                          const char *msgid, int64_t *id)
{
    if (st == NULL || target == NULL || msgid == NULL || id == NULL)
        return UV_EINVAL;
    bind_text(st->stmts[S_HISTORY_FIND], 1, target);
    bind_text(st->stmts[S_HISTORY_FIND], 2, msgid);
    return query_int(st, S_HISTORY_FIND, "reading history", id);
}

int gw_store_history_at(struct gw_store *st, const char *target,
                        int64_t time_ms, int64_t *id)
{
    if (st == NULL || target == NULL || id == NULL)
        return UV_EINVAL;
    bind_text(st->stmts[S_HISTORY_AT], 1, target);
    sqlite3_bind_int64(st->stmts[S_HISTORY_AT], 2, time_ms);
    return query_int(st, S_HISTORY_AT, "reading history", id);
}

int gw_store_history_range(struct gw_store *st, const char *target,
                           int64_t after_id, int64_t before_id, int limit,
                           bool latest, struct gw_history_row **rows)
{
    if (st == NULL || target == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    enum sid id = latest ? S_HISTORY_RANGE_DESC : S_HISTORY_RANGE;
    sqlite3_stmt *s = st->stmts[id];
    bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int64(s, 3, before_id <= 0 ? INT64_MAX : before_id);
    sqlite3_bind_int(s, 4, limit);
    return latest ? history_list_newest(st, id, rows)
                  : history_list(st, id, rows);
}

int gw_store_history_targets(struct gw_store *st, int64_t from_ms,
                             int64_t to_ms, int limit,
                             struct gw_history_row **rows)
{
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = st->stmts[S_HISTORY_TARGETS];
    sqlite3_bind_int64(s, 1, from_ms < to_ms ? from_ms : to_ms);
    sqlite3_bind_int64(s, 2, from_ms < to_ms ? to_ms : from_ms);
    sqlite3_bind_int(s, 3, limit);
    return history_list(st, S_HISTORY_TARGETS, rows);
}

int gw_store_checkpoint(struct gw_store *st)
{
    if (st == NULL || st->wal_pages == 0 || st->depth > 0)
        return 0;
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                       NULL, NULL);
    if (rc != SQLITE_OK)
        return db_fail(st, rc, "checkpointing the WAL");
    st->wal_pages = 0;
    return 1;
}

/* ---- key/values ------------------------------------------------------ */

int gw_store_kv_get(struct gw_store *st, const char *key, char **value)
{
    if (st == NULL || key == NULL || value == NULL)
        return UV_EINVAL;
    *value = NULL;
    bind_text(st->stmts[S_KV_GET], 1, key);
    int rc = query_str(st, S_KV_GET, "reading a value", value);
    if (rc == UV_ENOENT)
        fail(st, rc, "no value stored for %s", key);
    return rc;
}

int gw_store_kv_set(struct gw_store *st, const char *key, const char *value)
{
    if (st == NULL || key == NULL)
        return UV_EINVAL;
    enum sid id = value ? S_KV_SET : S_KV_DEL;
    sqlite3_stmt *s = st->stmts[id];
    bind_text(s, 1, key);
    if (value)
        bind_text(s, 2, value);
    return run(st, id, "storing a value");
}
