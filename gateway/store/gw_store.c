/*
 * The store's connection: opening and closing the database, the schema and
 * its migrations, pragmas, WAL checkpoints, transactions and the error
 * message. What is stored lives in the other files of this folder (see
 * gw_store_int.h).
 */
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

#include "gw_store_int.h"
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
    /* 4: networks beyond Mastodon. A person is (network, author id): the
     * id never changes (a DID, a numeric id), the handle may, so nicks
     * move from the key/values (keyed by handle) to a table keyed by both;
     * posts keep the author's id and what the core's reply rules need
     * (audience, content warning, the others in the thread), which lived
     * in Mastodon's own JSON; posts_last is keyed by author id (for
     * Mastodon, the lower-cased acct it was keyed by); an outbox entry
     * remembers that an attempt may have been made. */
    "ALTER TABLE posts ADD COLUMN author_id TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE posts ADD COLUMN audience INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE posts ADD COLUMN cw TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE posts ADD COLUMN mentions TEXT NOT NULL DEFAULT '';"
    "UPDATE posts SET author_id = lower(author);"
    "UPDATE posts SET"
    "  cw = coalesce(json_extract(extra, '$.cw'), ''),"
    "  mentions = coalesce(json_extract(extra, '$.mentions'), ''),"
    "  audience = CASE json_extract(extra, '$.visibility')"
    "    WHEN 'public' THEN 1 WHEN 'unlisted' THEN 2"
    "    WHEN 'private' THEN 3 WHEN 'direct' THEN 4 ELSE 0 END"
    "  WHERE json_valid(extra);"
    "ALTER TABLE outbox ADD COLUMN maybe INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE people ("
    "  network TEXT NOT NULL,"
    "  author_id TEXT NOT NULL,"
    "  handle TEXT NOT NULL,"
    "  nick TEXT NOT NULL,"
    "  PRIMARY KEY (network, author_id)"
    ") WITHOUT ROWID;"
    "CREATE UNIQUE INDEX people_nick ON people (lower(nick));"
    "INSERT OR IGNORE INTO people (network, author_id, handle, nick)"
    "  SELECT 'mastodon', lower(h.value), h.value, n.value"
    "  FROM kv h JOIN kv n ON n.key = 'nick-of:' || lower(h.value)"
    "  WHERE h.key LIKE 'handle-of:%';"
    "DELETE FROM kv WHERE key LIKE 'nick-of:%' OR key LIKE 'handle-of:%';",
    /* 5: the team inbox's log (!history): claims, takes, answers, done. */
    "CREATE TABLE inbox_log ("
    "  id INTEGER PRIMARY KEY,"
    "  post_id INTEGER NOT NULL,"
    "  time_ms INTEGER NOT NULL,"
    "  who TEXT NOT NULL,"
    "  what TEXT NOT NULL,"
    "  text TEXT NOT NULL DEFAULT ''"
    ");"
    "CREATE INDEX inbox_log_post ON inbox_log (post_id, id);",
    /* 6: people who sign in, added on IRC (user add); [user] sections in
     * gateway.conf come first. Only Argon2id hashes are kept. */
    "CREATE TABLE users ("
    "  name TEXT NOT NULL PRIMARY KEY COLLATE NOCASE,"
    "  hash TEXT NOT NULL,"
    "  admin INTEGER NOT NULL DEFAULT 0,"
    "  created_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;",
};

_Static_assert(GW_ARRAY_LEN(migrations) == GW_STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* ---- WAL checkpoints ------------------------------------------------- */

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
    st->commits++;
    if (pages > WAL_PAGES_MAX &&
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL,
                                  NULL) == SQLITE_OK)
        st->wal_pages = 0;
    return SQLITE_OK;
}

int gw_store_checkpoint(struct gw_store *st)
{
    if (st == NULL || st->wal_pages == 0 || st->depth > 0 || st->ckpt_busy)
        return 0;
    int rc = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                       NULL, NULL);
    if (rc != SQLITE_OK)
        return gw_store__db_fail(st, rc, "checkpointing the WAL");
    st->wal_pages = 0;
    return 1;
}

static void ckpt_work(uv_work_t *req)
{
    struct gw_store *st = req->data;
    st->ckpt_rc = sqlite3_wal_checkpoint_v2(
        st->ckpt_db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
}

static void ckpt_after(uv_work_t *req, int status)
{
    struct gw_store *st = req->data;
    st->ckpt_busy = false;
    int rc = 0;
    if (status < 0) {
        rc = gw_store__fail(st, status, "checkpointing the WAL: %s",
                            uv_strerror(status));
    } else if (st->ckpt_rc == SQLITE_BUSY) {
        /* another checkpoint ran: the next one catches up */
    } else if (st->ckpt_rc != SQLITE_OK) {
        rc = gw_store__fail(st, UV_EIO, "checkpointing the WAL: %s",
                            sqlite3_errmsg(st->ckpt_db));
    } else if (st->commits == st->ckpt_commits) {
        st->wal_pages = 0; /* nothing came after what it copied */
    }
    if (st->ckpt_cb != NULL)
        st->ckpt_cb(st->ckpt_arg, rc);
}

int gw_store_checkpoint_bg(struct gw_store *st, uv_loop_t *loop,
                           gw_store_ckpt_cb cb, void *arg)
{
    if (st == NULL || st->wal_pages == 0 || st->ckpt_busy)
        return 0;
    if (st->ckpt_db == NULL) {
        /* NOMUTEX: one worker at a time uses it; uv_queue_work orders the
         * hand-overs. It never writes, so it never checkpoints itself. */
        int rc =
            sqlite3_open_v2(st->path, &st->ckpt_db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
        if (rc != SQLITE_OK) {
            rc = gw_store__fail(
                st, UV_EIO, "opening %s to checkpoint it: %s", st->path,
                st->ckpt_db ? sqlite3_errmsg(st->ckpt_db) : "out of memory");
            sqlite3_close(st->ckpt_db);
            st->ckpt_db = NULL;
            return rc;
        }
        /* A connection learns the file is in WAL mode when it first reads
         * it; until then a checkpoint is a no-op that says SQLITE_OK. */
        (void)sqlite3_exec(st->ckpt_db, "PRAGMA schema_version", NULL, NULL,
                           NULL);
    }
    st->ckpt_req.data = st;
    st->ckpt_cb = cb;
    st->ckpt_arg = arg;
    st->ckpt_commits = st->commits;
    int rc = uv_queue_work(loop, &st->ckpt_req, ckpt_work, ckpt_after);
    if (rc < 0)
        return gw_store__fail(st, rc, "checkpointing the WAL: %s",
                              uv_strerror(rc));
    st->ckpt_busy = true;
    return 1;
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

int gw_store__fail(struct gw_store *st, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(st->err, sizeof(st->err), fmt, ap);
    va_end(ap);
    return code;
}

int gw_store__db_fail(struct gw_store *st, int rc, const char *what)
{
    return gw_store__fail(st, map_rc(rc), "%s: %s (%s)", what,
                          sqlite3_errmsg(st->db), st->path);
}

/* ---- open and close -------------------------------------------------- */

static int make_state_dir(struct gw_store *st, const char *dir)
{
    struct stat sb;

    if (mkdir(dir, 0700) == 0) {
        /* mkdir's mode passes through the umask; make it exactly 0700. */
        if (chmod(dir, 0700) != 0)
            return gw_store__fail(st, uv_translate_sys_error(errno),
                                  "cannot set the mode of %s: %s", dir,
                                  strerror(errno));
        return 0;
    }
    if (errno != EEXIST)
        return gw_store__fail(st, uv_translate_sys_error(errno),
                              "cannot create state directory %s: %s", dir,
                              strerror(errno));
    /* An existing directory keeps the mode its owner gave it. */
    if (stat(dir, &sb) != 0)
        return gw_store__fail(st, uv_translate_sys_error(errno),
                              "cannot use %s: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return gw_store__fail(st, UV_ENOTDIR,
                              "%s exists and is not a directory", dir);
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
            return gw_store__fail(st, uv_translate_sys_error(e),
                                  "cannot set the mode of %s: %s", st->path,
                                  strerror(e));
        return 0;
    }
    if (errno != EEXIST)
        return gw_store__fail(st, uv_translate_sys_error(errno),
                              "cannot create %s: %s", st->path,
                              strerror(errno));
    if (stat(st->path, &sb) != 0)
        return gw_store__fail(st, uv_translate_sys_error(errno),
                              "cannot use %s: %s", st->path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return gw_store__fail(st, UV_EINVAL, "%s is not a regular file",
                              st->path);
    return 0;
}

/* A failure while reading a file we have not yet recognised. */
static int open_fail(struct gw_store *st, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
        return gw_store__fail(
            st, UV_EINVAL,
            "%s is not a Parley database (not even a SQLite one: %s); "
            "move it away or set state_dir to another directory",
            st->path, sqlite3_errmsg(st->db));
    case SQLITE_CORRUPT:
        return gw_store__fail(
            st, UV_EIO,
            "%s is damaged (%s); restore it from a backup or move it "
            "away",
            st->path, sqlite3_errmsg(st->db));
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return gw_store__fail(
            st, UV_EBUSY,
            "%s is locked by another process (%s); is another parley "
            "running on this state_dir?",
            st->path, sqlite3_errmsg(st->db));
    default:
        return gw_store__fail(st, map_rc(rc), "cannot open %s: %s", st->path,
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
        return gw_store__fail(
            st, UV_EINVAL,
            "%s is not a Parley database (it belongs to another "
            "program, application_id 0x%08" PRIx32 ")",
            st->path, (uint32_t)app);
    if (app == 0 && (*version != 0 || objects != 0))
        return gw_store__fail(st, UV_EINVAL,
                              "%s is not a Parley database (it holds another "
                              "program's tables)",
                              st->path);
    if (*version > GW_STORE_SCHEMA_VERSION)
        return gw_store__fail(
            st, UV_EINVAL,
            "%s was written by a newer Parley (schema %" PRId64
            ", this build knows %d); upgrade Parley",
            st->path, *version, GW_STORE_SCHEMA_VERSION);
    if (*version < 0)
        return gw_store__fail(
            st, UV_EINVAL, "%s is not a Parley database (schema %" PRId64 ")",
            st->path, *version);
    return 0;
}

int gw_store__exec(struct gw_store *st, const char *sql, const char *what)
{
    char *msg = NULL;
    int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
    if (rc == SQLITE_OK)
        return 0;
    int ret = gw_store__fail(st, map_rc(rc), "%s: %s (%s)", what,
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
        rc = gw_store__fail(
            st, UV_EIO,
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
    return gw_store__exec(st,
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
        int rc = gw_store__exec(st, "BEGIN IMMEDIATE", "starting a migration");
        if (rc < 0)
            return rc;
        /* Another process may have migrated while we were not locked. */
        rc = pragma_int(st, "PRAGMA user_version", &now);
        if (rc == 0 && now >= v) {
            rc = gw_store__exec(st, "COMMIT", "finishing a migration");
            if (rc < 0)
                return rc;
            continue;
        }
        if (rc == 0) {
            char what[64];
            snprintf(what, sizeof(what), "migrating to schema %" PRId64, v);
            rc = gw_store__exec(st, migrations[v - 1], what);
        }
        if (rc == 0) {
            snprintf(sql, sizeof(sql),
                     "PRAGMA application_id=%d; PRAGMA user_version=%" PRId64
                     ";",
                     STORE_APPLICATION_ID, v);
            rc = gw_store__exec(st, sql, "recording the schema version");
        }
        if (rc == 0)
            rc = gw_store__exec(st, "COMMIT", "finishing a migration");
        if (rc < 0) {
            if (!sqlite3_get_autocommit(st->db))
                sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
            return rc;
        }
    }
    return 0;
}

/* The statements of this file (the transactions below); the others' SQL
 * stands with the code that binds it. */
static const char *const txn_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__BEGIN] = "BEGIN IMMEDIATE",
    [GW_STORE__COMMIT] = "COMMIT",
    [GW_STORE__ROLLBACK] = "ROLLBACK",
};

/* Each file's table; stmt_sql() picks the one text of each statement. */
static const char *const *const stmt_tables[] = {
    txn_sql,
    gw_store__account_sql,
    gw_store__post_sql,
    gw_store__outbox_sql,
    gw_store__history_sql,
    gw_store__people_sql,
    gw_store__inbox_sql,
    gw_store__users_sql,
};

/* The one text of statement i, or NULL when none or several files give
 * one (a mistake in the source that every open would show at once). */
static const char *stmt_sql(int i)
{
    const char *sql = NULL;
    for (size_t t = 0; t < GW_ARRAY_LEN(stmt_tables); t++) {
        if (stmt_tables[t][i] == NULL)
            continue;
        if (sql)
            return NULL;
        sql = stmt_tables[t][i];
    }
    return sql;
}

static int prepare_all(struct gw_store *st)
{
    for (int i = 0; i < GW_STORE__STMT_COUNT; i++) {
        const char *sql = stmt_sql(i);
        if (sql == NULL)
            return gw_store__fail(st, UV_EINVAL,
                                  "statement %d has no SQL text, or two "
                                  "(a bug in Parley)",
                                  i);
        int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                    &st->stmts[i], NULL);
        if (rc != SQLITE_OK)
            return gw_store__fail(st, UV_EINVAL,
                                  "%s does not have the schema this Parley "
                                  "expects (%s)",
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
            rc = gw_store__fail(st, UV_ENOMEM, "cannot open %s: out of memory",
                                st->path);
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
    for (int i = 0; i < GW_STORE__STMT_COUNT; i++)
        sqlite3_finalize(st->stmts[i]);
    /* Before the main connection: the last one closed checkpoints and
     * removes the WAL. */
    if (st->ckpt_db != NULL)
        sqlite3_close(st->ckpt_db);
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
        return gw_store__fail(st, UV_EINVAL, "transactions nested too deep");
    if (st->depth == 0) {
        int rc = gw_store__run(st, GW_STORE__BEGIN, "starting a transaction");
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
        return gw_store__fail(st, UV_EINVAL, "commit without a transaction");
    if (--st->depth > 0)
        return 0;
    if (st->doomed) {
        st->doomed = false;
        if (!sqlite3_get_autocommit(st->db))
            gw_store__run(st, GW_STORE__ROLLBACK, "rolling back");
        st->seq_dirty = true;
        return gw_store__fail(
            st, UV_ECANCELED,
            "the transaction was rolled back by an inner level; "
            "nothing of it was stored");
    }
    if (sqlite3_get_autocommit(st->db)) {
        /* SQLite rolls back by itself after some errors (disk full, I/O). */
        st->seq_dirty = true;
        return gw_store__fail(st, UV_EIO,
                              "the transaction was rolled back after an error; "
                              "nothing of it was stored (%s)",
                              st->path);
    }
    int rc = gw_store__run(st, GW_STORE__COMMIT, "committing");
    if (rc < 0) {
        /* Do not leave the transaction open behind the caller's back. */
        if (!sqlite3_get_autocommit(st->db)) {
            char keep[GW_STORE_ERR_MAX];
            gw_strlcpy(keep, st->err, sizeof(keep));
            gw_store__run(st, GW_STORE__ROLLBACK, "rolling back");
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
        return gw_store__fail(st, UV_EINVAL, "rollback without a transaction");
    st->depth--;
    if (!sqlite3_get_autocommit(st->db))
        rc = gw_store__run(st, GW_STORE__ROLLBACK, "rolling back");
    st->seq_dirty = true;
    if (st->depth > 0) {
        /*
         * The whole transaction is lost now. Keep one open until the
         * outermost level ends, so the outer levels' remaining writes are
         * discarded with it instead of being committed one by one.
         */
        st->doomed = true;
        if (rc == 0)
            rc = gw_store__run(st, GW_STORE__BEGIN, "restarting a transaction");
    } else {
        st->doomed = false;
    }
    return rc;
}

int gw_store_peek_accounts(const char *state_dir, int *count)
{
    char *path = gw_xasprintf("%s/parley.db", state_dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    free(path);
    int ret = UV_ENOENT;
    if (rc == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM accounts", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
        *count = sqlite3_column_int(s, 0);
        ret = 0;
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return ret;
}
