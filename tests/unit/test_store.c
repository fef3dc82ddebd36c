/*
 * Unit tests for gw_store: every test gets a fresh /tmp/store-test-XXXXXX
 * directory with a state directory inside it, and removes it afterwards.
 * The database is also poked at directly with sqlite3 where a test needs a
 * state the store itself would never produce (a newer schema, deleted rows,
 * a foreign file, a lock held by another connection).
 */
#include "gw_store.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_util.h"

/* One mkdtemp directory per run, removed by main() even when a failed test
 * (in its own process) skipped its teardown; one subdirectory per test. */
static char run_root[64];
static char tmp_root[96];
static char state_dir[128];
static char db_path[160];
static struct gw_store *st;

/* ---- helpers --------------------------------------------------------- */

static void rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (S_ISDIR(sb.st_mode)) {
        DIR *d = opendir(path);
        if (d) {
            for (;;) {
                /* readdir_r is deprecated; this test is single-threaded. */
                // cppcheck-suppress readdirCalled
                struct dirent *e = readdir(d);
                if (e == NULL)
                    break;
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                    continue;
                char *sub = gw_xasprintf("%s/%s", path, e->d_name);
                rm_tree(sub);
                free(sub);
            }
            closedir(d);
        }
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void setup_dirs(void)
{
    snprintf(tmp_root, sizeof(tmp_root), "%s/t-XXXXXX", run_root);
    ck_assert_ptr_nonnull(mkdtemp(tmp_root));
    snprintf(state_dir, sizeof(state_dir), "%s/state", tmp_root);
    snprintf(db_path, sizeof(db_path), "%s/parley.db", state_dir);
    st = NULL;
}

static void teardown_dirs(void)
{
    gw_store_close(st);
    st = NULL;
    rm_tree(tmp_root);
}

static void setup_open(void)
{
    char err[256];
    setup_dirs();
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_msg(rc == 0, "open: %s", err);
    ck_assert_ptr_nonnull(st);
}

static void reopen(void)
{
    char err[256];
    gw_store_close(st);
    st = NULL;
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_msg(rc == 0, "reopen: %s", err);
}

/* Run SQL on the database through a connection of our own. */
static void sql_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, msg ? msg : "?");
    sqlite3_free(msg);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

static int64_t sql_int(const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    return v;
}

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

/* The whole file, malloc'd; *len set. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
    char *buf = gw_xmalloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static unsigned file_mode(const char *path)
{
    struct stat sb;
    ck_assert_msg(stat(path, &sb) == 0, "stat %s: %s", path, strerror(errno));
    return (unsigned)(sb.st_mode & 07777);
}

static bool exists(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0;
}

static struct gw_post post_of(const char *account, const char *netid,
                              const char *kind, const char *author,
                              const char *target, int64_t created_ms)
{
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    p.account = (char *)account;
    p.network_id = (char *)netid;
    p.kind = (char *)kind;
    p.author = (char *)author;
    p.target = (char *)target;
    p.text = (char *)"hello";
    p.created_ms = created_ms;
    p.state = GW_POST_OPEN;
    return p;
}

static int64_t put(const char *account, const char *netid, const char *kind,
                   const char *author, const char *target, int64_t created)
{
    struct gw_post p = post_of(account, netid, kind, author, target, created);
    int rc = gw_store_post_put(st, &p);
    ck_assert_msg(rc == 0, "put %s: %d %s", netid ? netid : "(null)", rc,
                  gw_store_errmsg(st));
    return p.id;
}

/* ---- open, modes, refusal ------------------------------------------- */

START_TEST(test_open_modes)
{
    /* A permissive umask must not leak into the modes we promise. */
    mode_t old = umask(0);
    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    umask(old);
    ck_assert_msg(rc == 0, "open: %s", err);
    ck_assert_uint_eq(file_mode(state_dir), 0700);
    ck_assert_uint_eq(file_mode(db_path), 0600);

    /* WAL and shared-memory files appear with the first write. */
    ck_assert_int_eq(gw_store_account_add(st, "m", "mastodon"), 0);
    char wal[200], shm[200];
    snprintf(wal, sizeof(wal), "%s-wal", db_path);
    snprintf(shm, sizeof(shm), "%s-shm", db_path);
    ck_assert(exists(wal));
    ck_assert(exists(shm));
    ck_assert_uint_eq(file_mode(wal), 0600);
    ck_assert_uint_eq(file_mode(shm), 0600);
}
END_TEST

START_TEST(test_open_wal_and_ids)
{
    char err[256];
    ck_assert_int_eq(gw_store_open(&st, state_dir, err, sizeof(err)), 0);
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), 0);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);
    ck_assert_int_eq(sql_int("PRAGMA application_id"), 0x50524C59);
    ck_assert_int_eq(sql_int("PRAGMA user_version"), GW_STORE_SCHEMA_VERSION);
}
END_TEST

START_TEST(test_open_existing_dir_and_slash)
{
    char err[256];
    ck_assert_int_eq(mkdir(state_dir, 0750), 0);
    ck_assert_int_eq(chmod(state_dir, 0750), 0);
    char slashed[200];
    snprintf(slashed, sizeof(slashed), "%s//", state_dir);
    ck_assert_int_eq(gw_store_open(&st, slashed, err, sizeof(err)), 0);
    /* An existing directory keeps the mode its owner chose. */
    ck_assert_uint_eq(file_mode(state_dir), 0750);
    ck_assert(exists(db_path));
    ck_assert_uint_eq(file_mode(db_path), 0600);
}
END_TEST

START_TEST(test_open_bad_args)
{
    char err[128] = "";
    struct gw_store *s2 = (struct gw_store *)&err;
    ck_assert_int_eq(gw_store_open(&s2, NULL, err, sizeof(err)), UV_EINVAL);
    ck_assert_ptr_null(s2);
    ck_assert_str_ne(err, "");
    ck_assert_int_eq(gw_store_open(&s2, "", err, sizeof(err)), UV_EINVAL);
    ck_assert_ptr_null(s2);
    ck_assert_int_eq(gw_store_open(NULL, state_dir, NULL, 0), UV_EINVAL);
    /* NULL err buffer is fine on failure too. */
    ck_assert_int_eq(gw_store_open(&s2, "", NULL, 0), UV_EINVAL);
}
END_TEST

START_TEST(test_open_state_dir_is_a_file)
{
    char err[256] = "";
    write_file(state_dir, "x", 1);
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, state_dir) && strstr(err, "not a directory"),
                  "%s", err);
}
END_TEST

START_TEST(test_open_parent_missing)
{
    char err[256] = "", dir[200];
    snprintf(dir, sizeof(dir), "%s/no/such", tmp_root);
    int rc = gw_store_open(&st, dir, err, sizeof(err));
    ck_assert_int_eq(rc, UV_ENOENT);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, dir) != NULL, "%s", err);
}
END_TEST

START_TEST(test_open_db_is_a_directory)
{
    char err[256] = "";
    ck_assert_int_eq(mkdir(state_dir, 0700), 0);
    ck_assert_int_eq(mkdir(db_path, 0700), 0);
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, db_path) && strstr(err, "not a regular file"),
                  "%s", err);
}
END_TEST

START_TEST(test_open_unusable_dir)
{
    char err[256] = "", dir[600];
    /* A name no file system takes: fails the same way for root. */
    int n = snprintf(dir, sizeof(dir), "%s/", tmp_root);
    memset(dir + n, 'x', 300);
    dir[n + 300] = '\0';
    int rc = gw_store_open(&st, dir, err, sizeof(err));
    ck_assert_int_eq(rc, UV_ENAMETOOLONG);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "cannot create state directory") != NULL, "%s",
                  err);
    if (geteuid() == 0)
        return; /* root opens anything: the rest cannot fail */
    ck_assert_int_eq(mkdir(state_dir, 0000), 0);
    rc = gw_store_open(&st, state_dir, err, sizeof(err));
    chmod(state_dir, 0700);
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, db_path) != NULL, "%s", err);
}
END_TEST

START_TEST(test_reopen_keeps_data)
{
    ck_assert_int_eq(gw_store_account_add(st, "work", "mastodon"), 0);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "token", "s3cret"), 0);
    int64_t id1 = put("work", "111", "mention", "a@b", "#work", 1);
    int64_t oid = 0, hid = 0;
    ck_assert_int_eq(
        gw_store_outbox_add(st, "work", "post", "{}", "#work", "me", &oid), 0);
    ck_assert_int_eq(gw_store_history_add(st, "#work", 5, "x", "p", "PRIVMSG",
                                          "line", "", &hid),
                     0);
    ck_assert_int_eq(gw_store_kv_set(st, "k", "v"), 0);
    ck_assert_int_eq(gw_store_cursor_set(st, "work", "notif", "99"), 0);

    reopen();

    struct gw_account_row a;
    ck_assert_int_eq(gw_store_account_get(st, "work", &a), 0);
    ck_assert_str_eq(a.network, "mastodon");
    gw_account_row_free(&a);
    char *v = NULL;
    ck_assert_int_eq(gw_store_setting_get(st, "work", "token", &v), 0);
    ck_assert_str_eq(v, "s3cret");
    free(v);
    ck_assert_int_eq(gw_store_cursor_get(st, "work", "notif", &v), 0);
    ck_assert_str_eq(v, "99");
    free(v);
    ck_assert_int_eq(gw_store_kv_get(st, "k", &v), 0);
    ck_assert_str_eq(v, "v");
    free(v);
    struct gw_post p;
    ck_assert_int_eq(gw_store_post_by_netid(st, "work", "111", &p), 0);
    ck_assert_int_eq(p.id, id1);
    gw_post_free(&p);
    struct gw_outbox_item it;
    ck_assert_int_eq(gw_store_outbox_get(st, oid, &it), 0);
    ck_assert_str_eq(it.action, "post");
    gw_outbox_item_free(&it);
    int64_t last = 0;
    ck_assert_int_eq(gw_store_history_last_id(st, &last), 0);
    ck_assert_int_eq(last, hid);
    /* Ids keep counting up across a restart. */
    int64_t id2 = put("work", "112", "mention", "a@b", "#work", 2);
    ck_assert_int_gt(id2, id1);
}
END_TEST

static void ckpt_done(void *arg, int rc)
{
    int *out = arg;
    *out = rc == 0 ? 1 : rc;
}

static off_t file_size(const char *path)
{
    struct stat sb;
    ck_assert_int_eq(stat(path, &sb), 0);
    return sb.st_size;
}

/*
 * The checkpoint on a worker thread copies the WAL into the database while
 * the loop goes on writing; a second one waits for the first, and one with
 * nothing written since does nothing.
 */
START_TEST(test_checkpoint_in_the_background)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", 1000 + i);
        put("work", id, "mention", "a@b", "#work", i);
    }
    /* The posts are in the WAL only: the database file has not grown. */
    off_t before = file_size(db_path);
    int done = 0;
    ck_assert_int_eq(gw_store_checkpoint_bg(st, &loop, ckpt_done, &done), 1);
    ck_assert_int_eq(gw_store_checkpoint_bg(st, &loop, ckpt_done, &done), 0);
    /* Writes go on meanwhile, on the loop's connection. */
    int64_t during = put("work", "2000", "mention", "a@b", "#work", 1);
    ck_assert_int_gt(during, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(done, 1);
    /* They are in the database file now. */
    ck_assert_int_gt(file_size(db_path), before);
    /* What was written meanwhile makes the next one run; after it,
     * nothing new: nothing to do. */
    done = 0;
    ck_assert_int_eq(gw_store_checkpoint_bg(st, &loop, ckpt_done, &done), 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(done, 1);
    ck_assert_int_eq(gw_store_checkpoint_bg(st, &loop, ckpt_done, &done), 0);
    struct gw_post p;
    ck_assert_int_eq(gw_store_post_by_netid(st, "work", "2000", &p), 0);
    gw_post_free(&p);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

/* After a restart an account's channel shows the people it has open
 * posts from: the most recently heard from when there are too many, oldest
 * first, however many open posts are stored. */
START_TEST(test_people_open_newest)
{
    ck_assert_int_eq(gw_store_account_add(st, "work", "mastodon"), 0);
    for (int i = 0; i < 60; i++) {
        char netid[16], who[32];
        snprintf(netid, sizeof(netid), "%d", 500 + i);
        snprintf(who, sizeof(who), "p%d@x.org", i);
        ck_assert_int_eq(gw_store_person_put(st, "mastodon", who, who, who), 0);
        struct gw_post p = post_of("work", netid, "mention", who, "#work", i);
        p.author_id = who;
        ck_assert_int_eq(gw_store_post_put(st, &p), 0);
    }
    struct gw_person_row *rows = NULL;
    int n = gw_store_people_open(st, "work", "mastodon", 0, 10, &rows);
    ck_assert_int_eq(n, 10);
    for (int i = 0; i < n; i++) {
        char want[32];
        snprintf(want, sizeof(want), "p%d@x.org", 50 + i);
        ck_assert_str_eq(rows[i].author_id, want);
    }
    gw_person_rows_free(rows, n);
}
END_TEST

START_TEST(test_migrations_idempotent)
{
    ck_assert_int_eq(gw_store_account_add(st, "a", "test"), 0);
    int64_t tables = sql_int("SELECT count(*) FROM sqlite_master");
    for (int i = 0; i < 3; i++)
        reopen();
    ck_assert_int_eq(sql_int("PRAGMA user_version"), GW_STORE_SCHEMA_VERSION);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master"), tables);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM meta"), 1);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM accounts"), 1);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
    gw_store_close(st);
    st = NULL;
    sql_exec("PRAGMA user_version = 7");
    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "newer") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "schema 7") != NULL, "%s", err);
    ck_assert_msg(strstr(err, db_path) != NULL, "%s", err);
    /* Refusing did not touch it. */
    ck_assert_int_eq(sql_int("PRAGMA user_version"), 7);
}
END_TEST

static void check_garbage(const void *bytes, size_t len)
{
    char err[256] = "";
    ck_assert_int_eq(mkdir(state_dir, 0700), 0);
    write_file(db_path, bytes, len);
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, db_path) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "not a Parley database") != NULL, "%s", err);
    size_t n = 0;
    char *after = read_file(db_path, &n);
    ck_assert_uint_eq(n, len);
    ck_assert(memcmp(after, bytes, len) == 0);
    free(after);
}

START_TEST(test_garbage_short_refused)
{
    static const char junk[] = "this is not a database\n";
    check_garbage(junk, sizeof(junk) - 1);
}
END_TEST

START_TEST(test_garbage_long_refused)
{
    char *junk = gw_xmalloc(20000);
    for (size_t i = 0; i < 20000; i++)
        junk[i] = (char)(i * 131 + 7);
    check_garbage(junk, 20000);
    free(junk);
}
END_TEST

START_TEST(test_corrupt_refused)
{
    for (int i = 0; i < 200; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        put("a", id, "mention", "x@y", "#a", i);
    }
    gw_store_close(st);
    st = NULL;
    /* Scribble over the schema page behind the file header. */
    size_t len = 0;
    char *db = read_file(db_path, &len);
    ck_assert_uint_gt(len, 4096);
    memset(db + 100, 0xA5, 4096 - 100);
    write_file(db_path, db, len);
    free(db);

    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, db_path) != NULL, "%s", err);
    ck_assert_msg(strstr(err, "damaged") != NULL, "%s", err);
}
END_TEST

START_TEST(test_corrupt_data_pages_no_crash)
{
    for (int i = 0; i < 2000; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", i);
        put("a", id, "mention", "x@y", "#a", i);
    }
    gw_store_close(st);
    st = NULL;
    size_t len = 0;
    char *db = read_file(db_path, &len);
    ck_assert_uint_gt(len, 8 * 4096);
    /* Leave page 1 (header and schema) alone; wreck the rest. */
    for (size_t i = 4096; i < len; i++)
        db[i] = (char)(i * 7);
    write_file(db_path, db, len);
    free(db);

    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    if (rc < 0) {
        ck_assert_msg(strstr(err, db_path) != NULL, "%s", err);
        return;
    }
    /* Whatever each call says, it says it without crashing. */
    struct gw_post p;
    rc = gw_store_post_by_ref(st, "a", &p);
    if (rc == 0)
        gw_post_free(&p);
    else
        ck_assert_str_ne(gw_store_errmsg(st), "");
    struct gw_post *rows = NULL;
    rc = gw_store_post_pending(st, NULL, 100, &rows);
    if (rc > 0)
        gw_post_rows_free(rows, rc);
    int64_t n = 0;
    gw_store_post_count(st, &n);
    struct gw_post q = post_of("a", "new", "mention", "x@y", "#a", 1);
    gw_store_post_put(st, &q);
}
END_TEST

START_TEST(test_foreign_sqlite_refused)
{
    ck_assert_int_eq(mkdir(state_dir, 0700), 0);
    sql_exec("CREATE TABLE notes (t TEXT); INSERT INTO notes VALUES ('x')");
    size_t len0 = 0;
    char *before = read_file(db_path, &len0);
    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(st);
    ck_assert_msg(strstr(err, "not a Parley database") != NULL, "%s", err);
    ck_assert_msg(strstr(err, db_path) != NULL, "%s", err);
    /* Not even switched to WAL. */
    size_t len1 = 0;
    char *after = read_file(db_path, &len1);
    ck_assert_uint_eq(len0, len1);
    ck_assert(memcmp(before, after, len0) == 0);
    free(before);
    free(after);
}
END_TEST

START_TEST(test_foreign_application_id_refused)
{
    ck_assert_int_eq(mkdir(state_dir, 0700), 0);
    sql_exec("PRAGMA application_id = 305419896"); /* 0x12345678 */
    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(err, "not a Parley database") != NULL, "%s", err);
    ck_assert_msg(strstr(err, "0x12345678") != NULL, "%s", err);
}
END_TEST

START_TEST(test_foreign_user_version_refused)
{
    ck_assert_int_eq(mkdir(state_dir, 0700), 0);
    sql_exec("PRAGMA user_version = 1");
    char err[256] = "";
    int rc = gw_store_open(&st, state_dir, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(err, "not a Parley database") != NULL, "%s", err);
}
END_TEST

START_TEST(test_empty_file_is_new_database)
{
    char err[256] = "";
    ck_assert_int_eq(mkdir(state_dir, 0700), 0);
    write_file(db_path, "", 0);
    ck_assert_int_eq(gw_store_open(&st, state_dir, err, sizeof(err)), 0);
    ck_assert_int_eq(gw_store_account_add(st, "a", "test"), 0);
}
END_TEST

/* A kill -9 right after a store call returns loses nothing. */
START_TEST(test_survives_kill9)
{
    gw_store_close(st);
    st = NULL;
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct gw_store *c = NULL;
        char err[256];
        if (gw_store_open(&c, state_dir, err, sizeof(err)) != 0)
            _exit(3);
        struct gw_post p = post_of("a", "42", "mention", "x@y", "#a", 1);
        if (gw_store_post_put(c, &p) != 0)
            _exit(4);
        if (gw_store_account_add(c, "a", "test") != 0)
            _exit(5);
        raise(SIGKILL);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
                  "child status %d", status);
    reopen();
    struct gw_post p;
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "42", &p), 0);
    gw_post_free(&p);
    struct gw_account_row a;
    ck_assert_int_eq(gw_store_account_get(st, "a", &a), 0);
    gw_account_row_free(&a);
}
END_TEST

/* ---- accounts and settings ------------------------------------------ */

START_TEST(test_accounts)
{
    struct gw_account_row a, *rows = NULL;
    int64_t t0 = gw_now_ms();
    ck_assert_int_eq(gw_store_account_list(st, &rows), 0);
    ck_assert_ptr_null(rows);

    ck_assert_int_eq(gw_store_account_add(st, "work", "mastodon"), 0);
    ck_assert_int_eq(gw_store_account_add(st, "bsky", "bluesky"), 0);
    ck_assert_int_eq(gw_store_account_add(st, "work", "x"), UV_EEXIST);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "work"));
    /* Names become channel names: case does not make a new account. */
    ck_assert_int_eq(gw_store_account_add(st, "WORK", "x"), UV_EEXIST);
    ck_assert_int_eq(gw_store_account_add(st, "", "x"), UV_EINVAL);
    ck_assert_int_eq(gw_store_account_add(st, "n", ""), UV_EINVAL);
    ck_assert_int_eq(gw_store_account_add(st, NULL, "x"), UV_EINVAL);
    ck_assert_int_eq(gw_store_account_add(st, "n", NULL), UV_EINVAL);

    ck_assert_int_eq(gw_store_account_get(st, "work", &a), 0);
    ck_assert_str_eq(a.name, "work");
    ck_assert_str_eq(a.network, "mastodon");
    ck_assert(a.enabled);
    ck_assert_int_ge(a.created_ms, t0);
    ck_assert_int_le(a.created_ms, gw_now_ms());
    gw_account_row_free(&a);
    ck_assert_int_eq(gw_store_account_get(st, "Work", &a), 0);
    ck_assert_str_eq(a.name, "work");
    gw_account_row_free(&a);
    ck_assert_int_eq(gw_store_account_get(st, "nope", &a), UV_ENOENT);
    ck_assert_ptr_null(a.name);

    ck_assert_int_eq(gw_store_account_enable(st, "work", false), 0);
    ck_assert_int_eq(gw_store_account_get(st, "work", &a), 0);
    ck_assert(!a.enabled);
    gw_account_row_free(&a);
    ck_assert_int_eq(gw_store_account_enable(st, "work", true), 0);
    ck_assert_int_eq(gw_store_account_get(st, "work", &a), 0);
    ck_assert(a.enabled);
    gw_account_row_free(&a);
    ck_assert_int_eq(gw_store_account_enable(st, "nope", true), UV_ENOENT);

    ck_assert_int_eq(gw_store_account_add(st, "alpha", "x"), 0);
    int n = gw_store_account_list(st, &rows);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(rows[0].name, "alpha");
    ck_assert_str_eq(rows[1].name, "bsky");
    ck_assert_str_eq(rows[2].name, "work");
    ck_assert_str_eq(rows[1].network, "bluesky");
    gw_account_rows_free(rows, n);

    ck_assert_int_eq(gw_store_account_del(st, "nope"), UV_ENOENT);
    ck_assert_int_eq(gw_store_account_del(st, "bsky"), 0);
    ck_assert_int_eq(gw_store_account_get(st, "bsky", &a), UV_ENOENT);
    ck_assert_int_eq(gw_store_account_del(st, "bsky"), UV_ENOENT);
    n = gw_store_account_list(st, &rows);
    ck_assert_int_eq(n, 2);
    gw_account_rows_free(rows, n);
    /* The name can be used again. */
    ck_assert_int_eq(gw_store_account_add(st, "bsky", "bluesky"), 0);
}
END_TEST

START_TEST(test_account_del_cascades)
{
    char *v = NULL;
    ck_assert_int_eq(gw_store_account_add(st, "work", "mastodon"), 0);
    ck_assert_int_eq(gw_store_account_add(st, "other", "mastodon"), 0);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "token", "t"), 0);
    ck_assert_int_eq(gw_store_setting_set(st, "other", "token", "o"), 0);
    ck_assert_int_eq(gw_store_cursor_set(st, "work", "notif", "5"), 0);
    ck_assert_int_eq(gw_store_cursor_set(st, "other", "notif", "6"), 0);
    int64_t id = put("work", "1", "mention", "a@b", "#work", 1);

    ck_assert_int_eq(gw_store_account_del(st, "WORK"), 0);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "token", &v), UV_ENOENT);
    ck_assert_int_eq(gw_store_cursor_get(st, "work", "notif", &v), UV_ENOENT);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM settings"), 1);
    /* Others untouched; posts stay so refs keep resolving. */
    ck_assert_int_eq(gw_store_setting_get(st, "other", "token", &v), 0);
    ck_assert_str_eq(v, "o");
    free(v);
    ck_assert_int_eq(gw_store_cursor_get(st, "other", "notif", &v), 0);
    free(v);
    struct gw_post p;
    char ref[16];
    gw_base36((uint64_t)id, ref, sizeof(ref));
    ck_assert_int_eq(gw_store_post_by_ref(st, ref, &p), 0);
    ck_assert_str_eq(p.account, "work");
    gw_post_free(&p);
    /* A re-added account starts without the old settings. */
    ck_assert_int_eq(gw_store_account_add(st, "work", "mastodon"), 0);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "token", &v), UV_ENOENT);
}
END_TEST

struct each_ctx {
    int n;
    char keys[8][32];
    char values[8][32];
};

static void each_cb(void *arg, const char *key, const char *value)
{
    struct each_ctx *c = arg;
    if (c->n < 8) {
        gw_strlcpy(c->keys[c->n], key, sizeof(c->keys[0]));
        gw_strlcpy(c->values[c->n], value, sizeof(c->values[0]));
    }
    c->n++;
}

/* Calls back into the store while the iteration is going on. */
static void each_reentrant_cb(void *arg, const char *key, const char *value)
{
    struct each_ctx *c = arg;
    (void)value;
    char *v = NULL;
    ck_assert_int_eq(gw_store_setting_get(st, "work", key, &v), 0);
    free(v);
    ck_assert_int_eq(gw_store_setting_set(st, "work", key, "changed"), 0);
    ck_assert_int_eq(gw_store_setting_each(st, "other", each_cb, c), 0);
    c->n++;
}

START_TEST(test_settings)
{
    char *v = (char *)"junk";
    ck_assert_int_eq(gw_store_account_add(st, "work", "mastodon"), 0);
    ck_assert_int_eq(gw_store_account_add(st, "other", "mastodon"), 0);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "token", &v), UV_ENOENT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "token", "a"), 0);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "token", "b"), 0);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "token", &v), 0);
    ck_assert_str_eq(v, "b");
    free(v);
    ck_assert_int_eq(
        gw_store_setting_set(st, "work", "base_url", "https://example.social"),
        0);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "channel", "#w"), 0);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "empty", ""), 0);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "empty", &v), 0);
    ck_assert_str_eq(v, "");
    free(v);
    /* Keys are case-sensitive. */
    ck_assert_int_eq(gw_store_setting_get(st, "work", "TOKEN", &v), UV_ENOENT);
    /* Unknown account. */
    ck_assert_int_eq(gw_store_setting_set(st, "nope", "token", "x"), UV_ENOENT);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "nope"));

    struct each_ctx c;
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(gw_store_setting_each(st, "work", each_cb, &c), 4);
    ck_assert_int_eq(c.n, 4);
    ck_assert_str_eq(c.keys[0], "base_url");
    ck_assert_str_eq(c.values[0], "https://example.social");
    ck_assert_str_eq(c.keys[1], "channel");
    ck_assert_str_eq(c.keys[2], "empty");
    ck_assert_str_eq(c.keys[3], "token");
    ck_assert_str_eq(c.values[3], "b");
    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(gw_store_setting_each(st, "other", each_cb, &c), 0);
    ck_assert_int_eq(c.n, 0);

    /* NULL deletes; deleting what is not there says so. */
    ck_assert_int_eq(gw_store_setting_set(st, "work", "channel", NULL), 0);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "channel", &v),
                     UV_ENOENT);
    ck_assert_int_eq(gw_store_setting_set(st, "work", "channel", NULL),
                     UV_ENOENT);

    memset(&c, 0, sizeof(c));
    ck_assert_int_eq(gw_store_setting_each(st, "work", each_reentrant_cb, &c),
                     3);
    ck_assert_int_eq(c.n, 3);
    ck_assert_int_eq(gw_store_setting_get(st, "work", "token", &v), 0);
    ck_assert_str_eq(v, "changed");
    free(v);
}
END_TEST

/* ---- posts ----------------------------------------------------------- */

START_TEST(test_post_put_and_dedupe)
{
    struct gw_post p = post_of("work", "109876", "mention", "alice@ex.social",
                               "#work", 1700000000000);
    p.author_name = (char *)"Alice";
    p.url = (char *)"https://ex.social/@alice/109876";
    p.extra = (char *)"{\"cw\":\"spoiler\"}";
    int64_t t0 = gw_now_ms();
    ck_assert_int_eq(gw_store_post_put(st, &p), 0);
    ck_assert_int_gt(p.id, 0);
    char ref[16];
    gw_base36((uint64_t)p.id, ref, sizeof(ref));
    ck_assert_str_eq(p.ref, ref);
    ck_assert_int_ge(p.stored_ms, t0);
    int64_t id = p.id, stored = p.stored_ms;

    /* Same (account, network_id, kind): same row, nothing new. */
    struct gw_post q = post_of("work", "109876", "mention", "other@x", "#x", 5);
    q.text = (char *)"different text";
    ck_assert_int_eq(gw_store_post_put(st, &q), 1);
    ck_assert_int_eq(q.id, id);
    ck_assert_str_eq(q.ref, ref);
    ck_assert_int_eq(q.stored_ms, stored);
    int64_t count = 0;
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, 1);

    /* The stored row is the first one, with NULLs as "". */
    struct gw_post r;
    ck_assert_int_eq(gw_store_post_by_ref(st, ref, &r), 0);
    ck_assert_int_eq(r.id, id);
    ck_assert_str_eq(r.ref, ref);
    ck_assert_str_eq(r.account, "work");
    ck_assert_str_eq(r.network_id, "109876");
    ck_assert_str_eq(r.kind, "mention");
    ck_assert_str_eq(r.author, "alice@ex.social");
    ck_assert_str_eq(r.author_name, "Alice");
    ck_assert_str_eq(r.author_url, "");
    ck_assert_str_eq(r.url, "https://ex.social/@alice/109876");
    ck_assert_str_eq(r.text, "hello");
    ck_assert_str_eq(r.conversation, "");
    ck_assert_str_eq(r.in_reply_to, "");
    ck_assert_str_eq(r.target, "#work");
    ck_assert_str_eq(r.extra, "{\"cw\":\"spoiler\"}");
    ck_assert_int_eq(r.created_ms, 1700000000000);
    ck_assert_int_eq(r.stored_ms, stored);
    ck_assert_int_eq(r.state, GW_POST_OPEN);
    ck_assert_str_eq(r.claimer, "");
    ck_assert_str_eq(r.answered_by, "");
    gw_post_free(&r);
    gw_post_free(&r); /* zeroed: harmless */

    /* Other kind or other account: a new post. */
    int64_t k = put("work", "109876", "reply", "a@b", "#work", 1);
    int64_t o = put("other", "109876", "mention", "a@b", "#other", 1);
    ck_assert_int_gt(k, id);
    ck_assert_int_gt(o, k);
    /* A duplicate does not burn a ref. */
    struct gw_post d = post_of("work", "109876", "reply", "a@b", "#w", 1);
    ck_assert_int_eq(gw_store_post_put(st, &d), 1);
    int64_t n = put("work", "next", "mention", "a@b", "#work", 1);
    ck_assert_int_eq(n, o + 1);
}
END_TEST

START_TEST(test_post_without_network_id)
{
    /* No network id: nothing to deduplicate on, each is its own post. */
    struct gw_post a = post_of("work", NULL, "notice", "", "#work", 1);
    struct gw_post b = post_of("work", "", "notice", "", "#work", 1);
    struct gw_post c = post_of("work", "", "notice", "", "#work", 1);
    ck_assert_int_eq(gw_store_post_put(st, &a), 0);
    ck_assert_int_eq(gw_store_post_put(st, &b), 0);
    ck_assert_int_eq(gw_store_post_put(st, &c), 0);
    ck_assert_int_ne(a.id, b.id);
    ck_assert_int_ne(b.id, c.id);
    struct gw_post r;
    ck_assert_int_eq(gw_store_post_by_ref(st, b.ref, &r), 0);
    ck_assert_str_eq(r.network_id, "");
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_by_netid(st, "work", "", &r), UV_ENOENT);

    /* All-NULL post: stored with "" everywhere. */
    struct gw_post z;
    memset(&z, 0, sizeof(z));
    ck_assert_int_eq(gw_store_post_put(st, &z), 0);
    ck_assert_int_eq(gw_store_post_by_ref(st, z.ref, &r), 0);
    ck_assert_str_eq(r.account, "");
    ck_assert_str_eq(r.text, "");
    ck_assert_int_eq(r.state, GW_POST_NONE);
    gw_post_free(&r);
}
END_TEST

START_TEST(test_post_by_ref)
{
    struct gw_post r;
    int64_t id = 0;
    /* Reach two-digit refs. */
    for (int i = 0; i < 40; i++) {
        char nid[16];
        snprintf(nid, sizeof(nid), "n%d", i);
        id = put("a", nid, "mention", "x@y", "#a", i);
    }
    ck_assert_int_eq(id, 40);
    ck_assert_int_eq(gw_store_post_by_ref(st, "14", &r), 0); /* 40 */
    ck_assert_int_eq(r.id, 40);
    ck_assert_str_eq(r.ref, "14");
    ck_assert_str_eq(r.network_id, "n39");
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_by_ref(st, "z", &r), 0);
    ck_assert_int_eq(r.id, 35);
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_by_ref(st, "Z", &r), 0);
    ck_assert_int_eq(r.id, 35);
    ck_assert_str_eq(r.ref, "z");
    gw_post_free(&r);

    static const char *const garbage[] = {
        "",
        "a-3",
        " a",
        "a ",
        "[a]",
        "a3!",
        "é",
        "0a",
        "00",
        "zzzzzzzzzzzzzz", /* 14 digits: past int64 */
        "1y2p0ij32e8e8",  /* 2^63: one past INT64_MAX */
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(garbage); i++) {
        ck_assert_msg(gw_store_post_by_ref(st, garbage[i], &r) == UV_EINVAL,
                      "ref \"%s\"", garbage[i]);
        ck_assert_ptr_null(r.text);
    }
    ck_assert_int_eq(gw_store_post_by_ref(st, NULL, &r), UV_EINVAL);
    ck_assert_int_eq(gw_store_post_by_ref(st, "0", &r), UV_ENOENT);
    ck_assert_int_eq(gw_store_post_by_ref(st, "15", &r), UV_ENOENT);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "15"));
    /* INT64_MAX itself parses and is simply unknown. */
    ck_assert_int_eq(gw_store_post_by_ref(st, "1y2p0ij32e8e7", &r), UV_ENOENT);
}
END_TEST

START_TEST(test_big_network_ids)
{
    static const char *const ids[] = {
        "1234567890123456789",     /* 19 digits */
        "9223372036854775807",     /* INT64_MAX */
        "9223372036854775808",     /* past it */
        "18446744073709551616000", /* past uint64 */
        "0123",                    /* leading zero is not 123 */
        "123",
        "1.0",
        "at://did:plc:abc/app.bsky.feed.post/3k2a",
    };
    int64_t got[GW_ARRAY_LEN(ids)];
    for (size_t i = 0; i < GW_ARRAY_LEN(ids); i++)
        got[i] = put("a", ids[i], "mention", "x@y", "#a", 1);
    for (size_t i = 0; i < GW_ARRAY_LEN(ids); i++) {
        struct gw_post r;
        ck_assert_int_eq(gw_store_post_by_netid(st, "a", ids[i], &r), 0);
        ck_assert_str_eq(r.network_id, ids[i]);
        ck_assert_int_eq(r.id, got[i]);
        gw_post_free(&r);
    }
    ck_assert_int_eq(
        sql_int("SELECT count(*) FROM posts WHERE typeof(network_id) = 'text'"),
        (int64_t)GW_ARRAY_LEN(ids));
}
END_TEST

START_TEST(test_post_by_netid)
{
    struct gw_post r;
    int64_t m = put("a", "7", "mention", "x@y", "#a", 1);
    put("a", "7", "quote", "x@y", "#a", 1);
    put("b", "7", "mention", "x@y", "#b", 1);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "7", &r), 0);
    ck_assert_int_eq(r.id, m); /* the first stored of its kinds */
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_by_netid(st, "b", "7", &r), 0);
    ck_assert_str_eq(r.account, "b");
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "8", &r), UV_ENOENT);
    ck_assert_int_eq(gw_store_post_by_netid(st, "c", "7", &r), UV_ENOENT);
    ck_assert_int_eq(gw_store_post_by_netid(st, NULL, "7", &r), UV_EINVAL);
}
END_TEST

START_TEST(test_post_latest_by)
{
    struct gw_post r;
    put("a", "1", "mention", "alice@ex.social", "#work", 10);
    int64_t two = put("a", "2", "reply", "alice@ex.social", "#work", 5);
    int64_t other = put("a", "3", "mention", "alice@ex.social", "#other", 20);
    put("a", "4", "mention", "bob@ex.social", "#work", 30);

    ck_assert_int_eq(
        gw_store_post_latest_by(st, "#work", "alice@ex.social", &r), 0);
    ck_assert_int_eq(r.id, two);
    gw_post_free(&r);
    ck_assert_int_eq(
        gw_store_post_latest_by(st, "#WORK", "Alice@EX.social", &r), 0);
    ck_assert_int_eq(r.id, two);
    gw_post_free(&r);
    ck_assert_int_eq(
        gw_store_post_latest_by(st, "#other", "alice@ex.social", &r), 0);
    ck_assert_int_eq(r.id, other);
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_latest_by(st, "#work", "carol@x", &r),
                     UV_ENOENT);
    ck_assert_int_eq(
        gw_store_post_latest_by(st, "#none", "alice@ex.social", &r), UV_ENOENT);
    /* Handles are compared whole, not as prefixes or patterns. */
    ck_assert_int_eq(gw_store_post_latest_by(st, "#work", "alice", &r),
                     UV_ENOENT);
    ck_assert_int_eq(gw_store_post_latest_by(st, "#work", "%", &r), UV_ENOENT);
}
END_TEST

/* What schema 5 added, taken away again. */
#define UNDO_SCHEMA_5                                                          \
    "DROP TABLE users;"                                                        \
    "DROP TABLE inbox_log;"

/* What schemas 4 and 5 added, taken away again: a database as schema 3
 * left it. */
#define UNDO_SCHEMA_4                                                          \
    UNDO_SCHEMA_5                                                              \
    "ALTER TABLE posts DROP COLUMN author_id;"                                 \
    "ALTER TABLE posts DROP COLUMN audience;"                                  \
    "ALTER TABLE posts DROP COLUMN cw;"                                        \
    "ALTER TABLE posts DROP COLUMN mentions;"                                  \
    "ALTER TABLE outbox DROP COLUMN maybe;"                                    \
    "DROP TABLE people;"

/* A schema 2 database (posts_latest was an index then) opens, migrates,
 * and answers from the posts it already held. */
START_TEST(test_post_latest_by_migrated)
{
    struct gw_post r;
    put("a", "1", "mention", "alice@ex.social", "#work", 10);
    int64_t two = put("a", "2", "reply", "alice@ex.social", "#work", 5);
    gw_store_close(st);
    st = NULL;
    sql_exec(UNDO_SCHEMA_4 "DROP TABLE posts_last;"
                           "CREATE INDEX posts_latest ON posts (target, "
                           "author, id);"
                           "PRAGMA user_version = 2;");
    reopen();
    ck_assert_int_eq(sql_int("PRAGMA user_version"), GW_STORE_SCHEMA_VERSION);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM sqlite_master "
                             "WHERE name = 'posts_latest'"),
                     0);
    ck_assert_int_eq(
        gw_store_post_latest_by(st, "#work", "alice@ex.social", &r), 0);
    ck_assert_int_eq(r.id, two);
    gw_post_free(&r);
    int64_t three = put("a", "3", "mention", "Alice@ex.social", "#WORK", 1);
    ck_assert_int_eq(
        gw_store_post_latest_by(st, "#work", "alice@ex.social", &r), 0);
    ck_assert_int_eq(r.id, three);
    gw_post_free(&r);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM posts_last"), 1);
}
END_TEST

/* A schema 3 database: the nicks Mastodon people had (kept by handle in
 * the key/values) and what replies need of a post (kept in Mastodon's own
 * JSON) move to where schema 4 keeps them, so nobody's nick changes and a
 * reply to an old post still keeps its audience and content warning. */
START_TEST(test_migrate_people_and_reply_rules)
{
    struct gw_post p = post_of("m", "1", "mention", "Alice@Ex.Social", "#m", 9);
    p.extra = "{\"visibility\":\"private\",\"cw\":\"birds\","
              "\"mentions\":[\"bob@x.org\"]}";
    ck_assert_int_eq(gw_store_post_put(st, &p), 0);
    p = post_of("m", "2", "mention", "carol@x.org", "#m", 10);
    p.extra = "not json";
    ck_assert_int_eq(gw_store_post_put(st, &p), 0);
    ck_assert_int_eq(gw_store_kv_set(st, "nick-of:alice@ex.social", "alice"),
                     0);
    ck_assert_int_eq(gw_store_kv_set(st, "handle-of:alice", "Alice@Ex.Social"),
                     0);
    ck_assert_int_eq(gw_store_kv_set(st, "seen:me/me", "7"), 0);
    gw_store_close(st);
    st = NULL;
    sql_exec(UNDO_SCHEMA_4 "PRAGMA user_version = 3;");
    reopen();
    ck_assert_int_eq(sql_int("PRAGMA user_version"), GW_STORE_SCHEMA_VERSION);

    struct gw_person_row who;
    memset(&who, 0, sizeof(who));
    ck_assert_int_eq(gw_store_person_by_nick(st, "ALICE", &who), 0);
    ck_assert_str_eq(who.network, "mastodon");
    ck_assert_str_eq(who.author_id, "alice@ex.social");
    ck_assert_str_eq(who.handle, "Alice@Ex.Social");
    gw_person_row_free(&who);
    char *v = NULL;
    ck_assert_int_eq(gw_store_kv_get(st, "handle-of:alice", &v), UV_ENOENT);
    ck_assert_int_eq(gw_store_kv_get(st, "seen:me/me", &v), 0);
    free(v);

    struct gw_post r;
    ck_assert_int_eq(gw_store_post_by_netid(st, "m", "1", &r), 0);
    ck_assert_str_eq(r.author_id, "alice@ex.social");
    ck_assert_int_eq(r.audience, 3); /* GW_AUD_FOLLOWERS */
    ck_assert_str_eq(r.cw, "birds");
    ck_assert_str_eq(r.mentions, "[\"bob@x.org\"]");
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_by_netid(st, "m", "2", &r), 0);
    ck_assert_int_eq(r.audience, 0);
    ck_assert_str_eq(r.cw, "");
    gw_post_free(&r);
    /* The author's latest post is found by the id the handle became. */
    ck_assert_int_eq(gw_store_post_latest_by(st, "#m", "alice@ex.social", &r),
                     0);
    ck_assert_str_eq(r.network_id, "1");
    gw_post_free(&r);
}
END_TEST

/* People: one nick each, unique whatever its case; a handle may change. */
START_TEST(test_people)
{
    struct gw_person_row w;
    memset(&w, 0, sizeof(w));
    ck_assert_int_eq(gw_store_person_get(st, "bluesky", "did:plc:a", &w),
                     UV_ENOENT);
    ck_assert_int_eq(gw_store_person_put(st, "bluesky", "did:plc:a",
                                         "ann.bsky.social", "ann"),
                     0);
    ck_assert_int_eq(gw_store_person_put(st, "x", "12", "ann", "Ann"),
                     UV_EEXIST);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "Ann"));
    ck_assert_int_eq(gw_store_person_put(st, "x", "12", "ann", "ann_x"), 0);
    ck_assert_int_eq(gw_store_person_put(st, "bluesky", "did:plc:a",
                                         "ann.example.org", "ann"),
                     0);
    ck_assert_int_eq(gw_store_person_get(st, "bluesky", "did:plc:a", &w), 0);
    ck_assert_str_eq(w.handle, "ann.example.org");
    ck_assert_str_eq(w.nick, "ann");
    gw_person_row_free(&w);
    ck_assert_int_eq(gw_store_person_by_nick(st, "ANN_X", &w), 0);
    ck_assert_str_eq(w.network, "x");
    ck_assert_str_eq(w.author_id, "12");
    gw_person_row_free(&w);
    ck_assert_int_eq(gw_store_person_by_nick(st, "nobody", &w), UV_ENOENT);
}
END_TEST

START_TEST(test_post_state_and_text)
{
    struct gw_post r;
    int64_t id = put("a", "1", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_post_set_state(st, id, GW_POST_CLAIMED, "bob"),
                     0);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "1", &r), 0);
    ck_assert_int_eq(r.state, GW_POST_CLAIMED);
    ck_assert_str_eq(r.claimer, "bob");
    ck_assert_str_eq(r.answered_by, "");
    gw_post_free(&r);

    ck_assert_int_eq(gw_store_post_set_state(st, id, GW_POST_DONE, "carol"), 0);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "1", &r), 0);
    ck_assert_int_eq(r.state, GW_POST_DONE);
    ck_assert_str_eq(r.claimer, "bob");
    ck_assert_str_eq(r.answered_by, "carol");
    gw_post_free(&r);

    /* Reopening forgets who had it. */
    ck_assert_int_eq(gw_store_post_set_state(st, id, GW_POST_OPEN, NULL), 0);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "1", &r), 0);
    ck_assert_int_eq(r.state, GW_POST_OPEN);
    ck_assert_str_eq(r.claimer, "");
    ck_assert_str_eq(r.answered_by, "");
    gw_post_free(&r);

    ck_assert_int_eq(gw_store_post_set_state(st, id, GW_POST_DONE, NULL), 0);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "1", &r), 0);
    ck_assert_str_eq(r.answered_by, "");
    gw_post_free(&r);

    ck_assert_int_eq(gw_store_post_set_state(st, id + 100, GW_POST_DONE, "x"),
                     UV_ENOENT);
    ck_assert_int_eq(
        gw_store_post_set_state(st, id, (enum gw_post_state)9, "x"), UV_EINVAL);
    ck_assert_int_eq(
        gw_store_post_set_state(st, id, (enum gw_post_state) - 1, "x"),
        UV_EINVAL);

    ck_assert_int_eq(gw_store_post_set_text(st, id, "edited"), 0);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "1", &r), 0);
    ck_assert_str_eq(r.text, "edited");
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_set_text(st, id, NULL), 0);
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "1", &r), 0);
    ck_assert_str_eq(r.text, "");
    gw_post_free(&r);
    ck_assert_int_eq(gw_store_post_set_text(st, id + 100, "x"), UV_ENOENT);
}
END_TEST

START_TEST(test_post_pending_order)
{
    struct gw_post *rows = NULL;
    ck_assert_int_eq(gw_store_post_pending(st, NULL, 10, &rows), 0);
    ck_assert_ptr_null(rows);

    int64_t late = put("a", "1", "mention", "x@y", "#a", 3000);
    int64_t early = put("b", "2", "dm", "x@y", "x", 1000);
    int64_t mid = put("a", "3", "mention", "x@y", "#a", 2000);
    int64_t done = put("a", "4", "mention", "x@y", "#a", 500);
    struct gw_post own = post_of("a", "5", "own", "me@y", "#a", 100);
    own.state = GW_POST_NONE;
    ck_assert_int_eq(gw_store_post_put(st, &own), 0);
    int64_t same = put("a", "6", "mention", "x@y", "#a", 2000);
    ck_assert_int_eq(gw_store_post_set_state(st, done, GW_POST_DONE, "z"), 0);
    ck_assert_int_eq(gw_store_post_set_state(st, mid, GW_POST_CLAIMED, "z"), 0);

    int n = gw_store_post_pending(st, NULL, 10, &rows);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(rows[0].id, early);
    ck_assert_int_eq(rows[1].id, mid);
    ck_assert_int_eq(rows[1].state, GW_POST_CLAIMED);
    ck_assert_int_eq(rows[2].id, same); /* same time: stored order */
    ck_assert_int_eq(rows[3].id, late);
    gw_post_rows_free(rows, n);

    n = gw_store_post_pending(st, "a", 10, &rows);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(rows[0].id, mid);
    gw_post_rows_free(rows, n);
    n = gw_store_post_pending(st, NULL, 2, &rows);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(rows[1].id, mid);
    gw_post_rows_free(rows, n);
    ck_assert_int_eq(gw_store_post_pending(st, NULL, 0, &rows), 0);
    ck_assert_ptr_null(rows);
    ck_assert_int_eq(gw_store_post_pending(st, NULL, -5, &rows), 0);
    ck_assert_int_eq(gw_store_post_pending(st, "zzz", 10, &rows), 0);
}
END_TEST

START_TEST(test_refs_never_reused_after_delete)
{
    put("a", "1", "mention", "x@y", "#a", 1);
    put("a", "2", "mention", "x@y", "#a", 1);
    int64_t last = put("a", "3", "mention", "x@y", "#a", 1);
    /* Behind the store's back, as a cleanup job or a person might. */
    gw_store_close(st);
    st = NULL;
    sql_exec("DELETE FROM posts");
    reopen();
    int64_t count = -1;
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, 0);
    int64_t next = put("a", "4", "mention", "x@y", "#a", 1);
    ck_assert_int_gt(next, last);
    /* Deleting while the store is open changes nothing either. */
    sql_exec("DELETE FROM posts");
    int64_t after = put("a", "5", "mention", "x@y", "#a", 1);
    ck_assert_int_gt(after, next);
    /* And the old post's ref no longer resolves to anything. */
    struct gw_post r;
    char ref[16];
    gw_base36((uint64_t)last, ref, sizeof(ref));
    ck_assert_int_eq(gw_store_post_by_ref(st, ref, &r), UV_ENOENT);
}
END_TEST

START_TEST(test_refs_never_reused_after_rollback)
{
    int64_t a = put("a", "1", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_begin(st), 0);
    int64_t b = put("a", "2", "mention", "x@y", "#a", 1);
    int64_t c = put("a", "3", "mention", "x@y", "#a", 1);
    ck_assert_int_gt(c, b);
    ck_assert_int_eq(gw_store_rollback(st), 0);
    struct gw_post r;
    ck_assert_int_eq(gw_store_post_by_netid(st, "a", "2", &r), UV_ENOENT);
    /* The refs b and c may have been shown already: never hand them out
     * again, inside a transaction or not. */
    int64_t d = put("a", "4", "mention", "x@y", "#a", 1);
    ck_assert_int_gt(d, c);
    ck_assert_int_eq(gw_store_begin(st), 0);
    int64_t e = put("a", "5", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_rollback(st), 0);
    ck_assert_int_eq(gw_store_begin(st), 0);
    int64_t f = put("a", "6", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_commit(st), 0);
    ck_assert_int_gt(f, e);
    ck_assert_int_gt(e, d);
    ck_assert_int_gt(d, a);
    reopen();
    int64_t g = put("a", "7", "mention", "x@y", "#a", 1);
    ck_assert_int_gt(g, f);
}
END_TEST

START_TEST(test_hostile_strings)
{
    static const char *const texts[] = {
        "'; DROP TABLE posts; --",
        "\"quoted\" 'single' `back`",
        "line1\nline2\r\n\001ACTION\001",
        "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x80\xae",
        "%s%s%n%x",
        "\xff\xfe invalid utf-8 \xc3",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(texts); i++) {
        struct gw_post p =
            post_of(texts[i], texts[i], texts[i], texts[i], texts[i], 1);
        p.text = (char *)texts[i];
        ck_assert_int_eq(gw_store_post_put(st, &p), 0);
        struct gw_post r;
        ck_assert_int_eq(gw_store_post_by_ref(st, p.ref, &r), 0);
        ck_assert_str_eq(r.text, texts[i]);
        ck_assert_str_eq(r.network_id, texts[i]);
        ck_assert_str_eq(r.author, texts[i]);
        gw_post_free(&r);
        ck_assert_int_eq(gw_store_kv_set(st, texts[i], texts[i]), 0);
        char *v = NULL;
        ck_assert_int_eq(gw_store_kv_get(st, texts[i], &v), 0);
        ck_assert_str_eq(v, texts[i]);
        free(v);
    }
    int64_t count = 0;
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, (int64_t)GW_ARRAY_LEN(texts));

    /* A large body (a long thread's JSON) round-trips. */
    size_t big = 2 * 1024 * 1024;
    char *text = gw_xmalloc(big + 1);
    for (size_t i = 0; i < big; i++)
        text[i] = (char)('a' + i % 26);
    text[big] = '\0';
    struct gw_post p = post_of("a", "big", "mention", "x@y", "#a", 1);
    p.extra = text;
    ck_assert_int_eq(gw_store_post_put(st, &p), 0);
    struct gw_post r;
    ck_assert_int_eq(gw_store_post_by_ref(st, p.ref, &r), 0);
    ck_assert_uint_eq(strlen(r.extra), big);
    ck_assert(memcmp(r.extra, text, big) == 0);
    gw_post_free(&r);
    free(text);
}
END_TEST

/* ---- cursors and key/values ----------------------------------------- */

START_TEST(test_cursors)
{
    char *v = (char *)"junk";
    ck_assert_int_eq(gw_store_cursor_get(st, "a", "notif", &v), UV_ENOENT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(gw_store_cursor_set(st, "a", "notif", "100"), 0);
    ck_assert_int_eq(gw_store_cursor_set(st, "a", "home", "5"), 0);
    ck_assert_int_eq(gw_store_cursor_set(st, "b", "notif", "200"), 0);
    ck_assert_int_eq(gw_store_cursor_get(st, "a", "notif", &v), 0);
    ck_assert_str_eq(v, "100");
    free(v);
    ck_assert_int_eq(
        gw_store_cursor_set(st, "a", "notif", "111111111111111111111111"), 0);
    ck_assert_int_eq(gw_store_cursor_get(st, "a", "notif", &v), 0);
    ck_assert_str_eq(v, "111111111111111111111111");
    free(v);
    ck_assert_int_eq(gw_store_cursor_get(st, "b", "notif", &v), 0);
    ck_assert_str_eq(v, "200");
    free(v);
    ck_assert_int_eq(gw_store_cursor_get(st, "a", "home", &v), 0);
    ck_assert_str_eq(v, "5");
    free(v);
    ck_assert_int_eq(gw_store_cursor_set(st, "a", "home", NULL), 0);
    ck_assert_int_eq(gw_store_cursor_get(st, "a", "home", &v), UV_ENOENT);
    ck_assert_int_eq(gw_store_cursor_get(st, NULL, "home", &v), UV_EINVAL);
}
END_TEST

START_TEST(test_kv)
{
    char *v = (char *)"junk";
    ck_assert_int_eq(gw_store_kv_get(st, "read:#a", &v), UV_ENOENT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(gw_store_kv_set(st, "read:#a", "12"), 0);
    ck_assert_int_eq(gw_store_kv_set(st, "app:https://x", "{\"id\":1}"), 0);
    ck_assert_int_eq(gw_store_kv_get(st, "read:#a", &v), 0);
    ck_assert_str_eq(v, "12");
    free(v);
    ck_assert_int_eq(gw_store_kv_set(st, "read:#a", "13"), 0);
    ck_assert_int_eq(gw_store_kv_get(st, "read:#a", &v), 0);
    ck_assert_str_eq(v, "13");
    free(v);
    ck_assert_int_eq(gw_store_kv_get(st, "READ:#a", &v), UV_ENOENT);
    ck_assert_int_eq(gw_store_kv_set(st, "read:#a", NULL), 0);
    ck_assert_int_eq(gw_store_kv_get(st, "read:#a", &v), UV_ENOENT);
    ck_assert_int_eq(gw_store_kv_set(st, "read:#a", NULL), 0);
    ck_assert_int_eq(gw_store_kv_get(st, "app:https://x", &v), 0);
    ck_assert_str_eq(v, "{\"id\":1}");
    free(v);
    ck_assert_int_eq(gw_store_kv_set(st, NULL, "x"), UV_EINVAL);
    ck_assert_int_eq(gw_store_kv_get(st, NULL, &v), UV_EINVAL);
}
END_TEST

/* ---- outbox ---------------------------------------------------------- */

static bool is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return false;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return false;
    return true;
}

START_TEST(test_outbox_lifecycle)
{
    struct gw_outbox_item it, *items = NULL;
    int64_t t0 = gw_now_ms(), ms = 0, depth = -1;
    int64_t a = 0, b = 0, c = 0;

    ck_assert_int_eq(gw_store_outbox_next_time(st, &ms), UV_ENOENT);
    ck_assert_int_eq(gw_store_outbox_due(st, t0, 10, &items), 0);
    ck_assert_ptr_null(items);

    ck_assert_int_eq(gw_store_outbox_add(st, "work", "reply",
                                         "{\"text\":\"hi\"}", "#work", "alice",
                                         &a),
                     0);
    ck_assert_int_eq(
        gw_store_outbox_add(st, "work", "fav", "{}", "#work", "bob", &b), 0);
    ck_assert_int_eq(
        gw_store_outbox_add(st, "bsky", "dm", NULL, "carol", "carol", &c), 0);
    ck_assert_int_gt(b, a);
    ck_assert_int_gt(c, b);

    ck_assert_int_eq(gw_store_outbox_get(st, a, &it), 0);
    ck_assert_int_eq(it.id, a);
    ck_assert_str_eq(it.account, "work");
    ck_assert_str_eq(it.action, "reply");
    ck_assert_str_eq(it.payload, "{\"text\":\"hi\"}");
    ck_assert_str_eq(it.origin, "#work");
    ck_assert_str_eq(it.who, "alice");
    ck_assert_str_eq(it.error, "");
    ck_assert_str_eq(it.result, "");
    ck_assert_int_eq(it.state, GW_OUTBOX_PENDING);
    ck_assert_int_eq(it.attempts, 0);
    ck_assert_int_ge(it.created_ms, t0);
    ck_assert_int_eq(it.next_ms, it.created_ms);
    ck_assert_msg(is_hex32(it.idem_key), "key %s", it.idem_key);
    char key_a[40];
    gw_strlcpy(key_a, it.idem_key, sizeof(key_a));
    gw_outbox_item_free(&it);
    ck_assert_int_eq(gw_store_outbox_get(st, b, &it), 0);
    ck_assert_str_ne(it.idem_key, key_a);
    gw_outbox_item_free(&it);
    ck_assert_int_eq(gw_store_outbox_get(st, c, &it), 0);
    ck_assert_str_eq(it.payload, "{}");
    gw_outbox_item_free(&it);
    ck_assert_int_eq(gw_store_outbox_get(st, c + 1, &it), UV_ENOENT);

    int64_t now = gw_now_ms();
    int n = gw_store_outbox_due(st, now, 10, &items);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(items[0].id, a);
    ck_assert_int_eq(items[2].id, c);
    gw_outbox_items_free(items, n);
    n = gw_store_outbox_due(st, now, 2, &items);
    ck_assert_int_eq(n, 2);
    gw_outbox_items_free(items, n);
    ck_assert_int_eq(gw_store_outbox_due(st, t0 - 1000, 10, &items), 0);

    ck_assert_int_eq(gw_store_outbox_depth(st, "work", &depth), 0);
    ck_assert_int_eq(depth, 2);
    ck_assert_int_eq(gw_store_outbox_depth(st, NULL, &depth), 0);
    ck_assert_int_eq(depth, 3);
    ck_assert_int_eq(gw_store_outbox_depth(st, "none", &depth), 0);
    ck_assert_int_eq(depth, 0);

    /* a: a transient failure, retried later with the same key. */
    ck_assert_int_eq(
        gw_store_outbox_retry_at(st, a, now + 60000, "HTTP 503", false), 0);
    ck_assert_int_eq(gw_store_outbox_get(st, a, &it), 0);
    ck_assert_int_eq(it.attempts, 1);
    ck_assert_int_eq(it.next_ms, now + 60000);
    ck_assert_str_eq(it.error, "HTTP 503");
    ck_assert_str_eq(it.idem_key, key_a);
    ck_assert_int_eq(it.state, GW_OUTBOX_PENDING);
    ck_assert_int_eq(it.maybe, false);
    gw_outbox_item_free(&it);
    n = gw_store_outbox_due(st, now, 10, &items);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(items[0].id, b);
    gw_outbox_items_free(items, n);
    /* A timeout after sending: the attempt may have been made, and that
     * stays known whatever the next attempt says. */
    ck_assert_int_eq(
        gw_store_outbox_retry_at(st, a, now + 120000, "timeout", true), 0);
    ck_assert_int_eq(
        gw_store_outbox_retry_at(st, a, now + 120000, "429", false), 0);
    ck_assert_int_eq(gw_store_outbox_get(st, a, &it), 0);
    ck_assert_int_eq(it.maybe, true);
    ck_assert_int_eq(it.attempts, 3);
    ck_assert_str_eq(it.idem_key, key_a);
    gw_outbox_item_free(&it);

    /* b: sent. */
    ck_assert_int_eq(gw_store_outbox_sent(st, b, "110000000000000001"), 0);
    ck_assert_int_eq(gw_store_outbox_get(st, b, &it), 0);
    ck_assert_int_eq(it.state, GW_OUTBOX_SENT);
    ck_assert_str_eq(it.result, "110000000000000001");
    ck_assert_int_eq(it.attempts, 1);
    gw_outbox_item_free(&it);
    ck_assert_int_eq(gw_store_outbox_sent(st, b, "x"), UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "sent"));
    ck_assert_int_eq(gw_store_outbox_retry_at(st, b, now, "x", false),
                     UV_EINVAL);
    ck_assert_int_eq(gw_store_outbox_failed(st, b, "x"), UV_EINVAL);
    ck_assert_int_eq(gw_store_outbox_requeue(st, b), UV_ENOENT);

    /* c: "retry ID" while it waits: due now, its attempts kept. */
    ck_assert_int_eq(gw_store_outbox_retry_at(st, c, now + 99000, "x", false),
                     0);
    ck_assert_int_eq(gw_store_outbox_requeue(st, c), 0);
    ck_assert_int_eq(gw_store_outbox_get(st, c, &it), 0);
    ck_assert_int_le(it.next_ms, gw_now_ms());
    ck_assert_int_eq(it.attempts, 1);
    gw_outbox_item_free(&it);
    /* Then failed for good, and requeued by "retry ID" below. */
    ck_assert_int_eq(gw_store_outbox_failed(st, c, "422 too long"), 0);
    ck_assert_int_eq(gw_store_outbox_get(st, c, &it), 0);
    ck_assert_int_eq(it.state, GW_OUTBOX_FAILED);
    ck_assert_str_eq(it.error, "422 too long");
    ck_assert_int_eq(it.attempts, 2);
    gw_outbox_item_free(&it);
    ck_assert_int_eq(gw_store_outbox_retry_at(st, c, now, "x", false),
                     UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "failed"));

    /* Only a is pending now (not due yet): next_time says when. */
    ck_assert_int_eq(gw_store_outbox_next_time(st, &ms), 0);
    ck_assert_int_eq(ms, now + 120000);
    ck_assert_int_eq(gw_store_outbox_due(st, now, 10, &items), 0);
    ck_assert_int_eq(gw_store_outbox_depth(st, NULL, &depth), 0);
    ck_assert_int_eq(depth, 1);

    /* list: pending and failed, not sent, oldest first. */
    n = gw_store_outbox_list(st, 10, &items);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(items[0].id, a);
    ck_assert_int_eq(items[1].id, c);
    ck_assert_int_eq(items[1].state, GW_OUTBOX_FAILED);
    gw_outbox_items_free(items, n);
    n = gw_store_outbox_list(st, 1, &items);
    ck_assert_int_eq(n, 1);
    gw_outbox_items_free(items, n);
    ck_assert_int_eq(gw_store_outbox_list(st, 0, &items), 0);

    int64_t before = gw_now_ms();
    ck_assert_int_eq(gw_store_outbox_requeue(st, c), 0);
    ck_assert_int_eq(gw_store_outbox_get(st, c, &it), 0);
    ck_assert_int_eq(it.state, GW_OUTBOX_PENDING);
    ck_assert_int_eq(it.attempts, 0);
    ck_assert_int_ge(it.next_ms, before);
    ck_assert_int_le(it.next_ms, gw_now_ms());
    gw_outbox_item_free(&it);
    n = gw_store_outbox_due(st, gw_now_ms(), 10, &items);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(items[0].id, c);
    gw_outbox_items_free(items, n);
    ck_assert_int_eq(gw_store_outbox_next_time(st, &ms), 0);
    ck_assert_int_le(ms, gw_now_ms());

    ck_assert_int_eq(gw_store_outbox_retry_at(st, 9999, now, "x", false),
                     UV_ENOENT);
    ck_assert_int_eq(gw_store_outbox_sent(st, 9999, "x"), UV_ENOENT);
    ck_assert_int_eq(gw_store_outbox_failed(st, 9999, "x"), UV_ENOENT);
    ck_assert_int_eq(gw_store_outbox_requeue(st, 9999), UV_ENOENT);

    /* The key survives a restart too. */
    reopen();
    ck_assert_int_eq(gw_store_outbox_get(st, a, &it), 0);
    ck_assert_str_eq(it.idem_key, key_a);
    ck_assert_int_eq(it.attempts, 3);
    ck_assert_int_eq(it.maybe, true);
    gw_outbox_item_free(&it);
}
END_TEST

/* The network answers again: an account's waiting items are due now, the
 * others' keep their time. */
START_TEST(test_outbox_wake)
{
    int64_t a, b, next, now = gw_now_ms();
    ck_assert_int_eq(
        gw_store_outbox_add(st, "work", "post", "{}", "#work", "me", &a), 0);
    ck_assert_int_eq(
        gw_store_outbox_add(st, "home", "post", "{}", "#home", "me", &b), 0);
    ck_assert_int_eq(gw_store_outbox_retry_at(st, a, now + 60000, "503", false),
                     0);
    ck_assert_int_eq(gw_store_outbox_retry_at(st, b, now + 60000, "503", false),
                     0);
    ck_assert_int_eq(gw_store_outbox_next_time(st, &next), 0);
    ck_assert_int_ge(next, now + 60000);
    ck_assert_int_eq(gw_store_outbox_wake(st, "WORK", now), 0);
    struct gw_outbox_item *items = NULL;
    int n = gw_store_outbox_due(st, now, 10, &items);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(items[0].id, a);
    gw_outbox_items_free(items, n);
}
END_TEST

START_TEST(test_outbox_add_rules)
{
    int64_t id = -1;
    ck_assert_int_eq(gw_store_outbox_add(st, "", "post", "{}", "#a", "x", &id),
                     UV_EINVAL);
    ck_assert_int_eq(gw_store_outbox_add(st, "a", NULL, "{}", "#a", "x", &id),
                     UV_EINVAL);
    ck_assert_int_eq(id, -1);
    /* NULL id pointer is allowed. */
    ck_assert_int_eq(
        gw_store_outbox_add(st, "a", "post", "{}", NULL, NULL, NULL), 0);
    /* Must be committed when it returns, which a transaction prevents. */
    ck_assert_int_eq(gw_store_begin(st), 0);
    ck_assert_int_eq(gw_store_outbox_add(st, "a", "post", "{}", "#a", "x", &id),
                     UV_EBUSY);
    ck_assert_int_eq(gw_store_commit(st), 0);
    int64_t depth = 0;
    ck_assert_int_eq(gw_store_outbox_depth(st, "a", &depth), 0);
    ck_assert_int_eq(depth, 1);
    /* Many keys, all different. */
    for (int i = 0; i < 200; i++)
        ck_assert_int_eq(
            gw_store_outbox_add(st, "a", "fav", "{}", "#a", "x", NULL), 0);
    ck_assert_int_eq(sql_int("SELECT count(DISTINCT idem_key) FROM outbox"),
                     201);
}
END_TEST

/* A VFS that is the default one with the WAL's syncs counted: what reaches
 * the disk, not only the OS's cache, is what survives a power loss. */
static sqlite3_vfs counting_vfs, *real_vfs;
static sqlite3_io_methods counting_io;
static const sqlite3_io_methods *real_io;
static int syncs;

static int counting_sync(sqlite3_file *f, int flags)
{
    syncs++;
    return real_io->xSync(f, flags);
}

static int counting_open(sqlite3_vfs *vfs, sqlite3_filename name,
                         sqlite3_file *f, int flags, int *out)
{
    (void)vfs;
    int rc = real_vfs->xOpen(real_vfs, name, f, flags, out);
    /* In WAL mode a commit is durable when the WAL is synced. */
    if (rc == SQLITE_OK && f->pMethods && (flags & SQLITE_OPEN_WAL)) {
        if (real_io == NULL) {
            real_io = f->pMethods;
            counting_io = *real_io;
            counting_io.xSync = counting_sync;
        }
        if (f->pMethods == real_io)
            f->pMethods = &counting_io;
    }
    return rc;
}

/* One incoming line, committed as the router commits a group. */
static void incoming_line(struct gw_store *s2)
{
    ck_assert_int_eq(gw_store_begin(s2), 0);
    ck_assert_int_eq(gw_store_history_add(s2, "#a", 2, "m", "p", "PRIVMSG",
                                          "in", NULL, NULL),
                     0);
    ck_assert_int_eq(gw_store_commit(s2), 0);
}

START_TEST(test_outbox_reaches_the_disk)
{
    real_vfs = sqlite3_vfs_find(NULL);
    counting_vfs = *real_vfs;
    counting_vfs.zName = "counting";
    counting_vfs.xOpen = counting_open;
    ck_assert_int_eq(sqlite3_vfs_register(&counting_vfs, 1), SQLITE_OK);
    char dir[sizeof(state_dir) + 8], err[256];
    snprintf(dir, sizeof(dir), "%s/synced", tmp_root);
    struct gw_store *s2 = NULL;
    ck_assert_msg(gw_store_open(&s2, dir, err, sizeof(err)) == 0, "%s", err);
    ck_assert_int_eq(gw_store_history_add(s2, "#a", 1, "m", "p", "PRIVMSG",
                                          "warm", NULL, NULL),
                     0);
    /* Incoming lines: appended to the WAL, no sync (the network still has
     * them, and their cursor rolls back with them). */
    int before = syncs;
    for (int i = 0; i < 5; i++)
        incoming_line(s2);
    ck_assert_int_eq(syncs, before);
    /* What a person typed: synced before gw_store_outbox_add returns. */
    ck_assert_int_eq(
        gw_store_outbox_add(s2, "a", "post", "{}", "#a", "me", NULL), 0);
    ck_assert_int_gt(syncs, before);
    /* And the gateway goes back to not syncing incoming lines. */
    before = syncs;
    incoming_line(s2);
    ck_assert_int_eq(syncs, before);
    gw_store_close(s2);
    sqlite3_vfs_unregister(&counting_vfs);
}
END_TEST

/* ---- history --------------------------------------------------------- */

static int64_t hist(const char *target, int64_t t, const char *text)
{
    int64_t id = 0;
    int rc = gw_store_history_add(st, target, t, "m", "a!a@b", "PRIVMSG", text,
                                  "", &id);
    ck_assert_int_eq(rc, 0);
    return id;
}

START_TEST(test_history)
{
    struct gw_history_row *rows = NULL;
    int64_t last = -1, count = -1;
    ck_assert_int_eq(gw_store_history_last_id(st, &last), 0);
    ck_assert_int_eq(last, 0);
    ck_assert_int_eq(gw_store_history_after(st, "#a", 0, 10, &rows), 0);
    ck_assert_ptr_null(rows);

    int64_t ids[10];
    for (int i = 0; i < 10; i++) {
        char text[16];
        snprintf(text, sizeof(text), "line %d", i);
        ids[i] = hist(i % 2 ? "#b" : "#a", 1000 + i, text);
        if (i)
            ck_assert_int_gt(ids[i], ids[i - 1]);
    }
    int64_t full = 0;
    ck_assert_int_eq(gw_store_history_add(st, "alice", 5, "a3",
                                          "alice!alice@ex.social", "NOTICE",
                                          "hi", "+draft/reply=a1", &full),
                     0);

    /* #a has lines 0 2 4 6 8. */
    int n = gw_store_history_after(st, "#a", 0, 10, &rows);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(rows[0].id, ids[0]);
    ck_assert_str_eq(rows[0].text, "line 0");
    ck_assert_str_eq(rows[0].target, "#a");
    ck_assert_str_eq(rows[0].command, "PRIVMSG");
    ck_assert_str_eq(rows[0].prefix, "a!a@b");
    ck_assert_str_eq(rows[0].msgid, "m");
    ck_assert_str_eq(rows[0].tags, "");
    ck_assert_int_eq(rows[0].time_ms, 1000);
    ck_assert_str_eq(rows[4].text, "line 8");
    gw_history_rows_free(rows, n);
    n = gw_store_history_after(st, "#a", ids[4], 2, &rows);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(rows[0].id, ids[6]);
    ck_assert_int_eq(rows[1].id, ids[8]);
    gw_history_rows_free(rows, n);
    /* Targets compare like IRC names, without case. */
    n = gw_store_history_after(st, "#A", 0, 10, &rows);
    ck_assert_int_eq(n, 5);
    gw_history_rows_free(rows, n);
    n = gw_store_history_after(st, "ALICE", 0, 10, &rows);
    ck_assert_int_eq(n, 1);
    ck_assert_str_eq(rows[0].command, "NOTICE");
    ck_assert_str_eq(rows[0].tags, "+draft/reply=a1");
    ck_assert_str_eq(rows[0].msgid, "a3");
    ck_assert_int_eq(rows[0].time_ms, 5);
    gw_history_rows_free(rows, n);

    /* before: the latest rows under the bound, oldest first. */
    n = gw_store_history_before(st, "#a", 0, 3, &rows);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(rows[0].id, ids[4]);
    ck_assert_int_eq(rows[1].id, ids[6]);
    ck_assert_int_eq(rows[2].id, ids[8]);
    gw_history_rows_free(rows, n);
    n = gw_store_history_before(st, "#a", ids[6], 10, &rows);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(rows[0].id, ids[0]);
    ck_assert_int_eq(rows[2].id, ids[4]);
    gw_history_rows_free(rows, n);
    n = gw_store_history_before(st, "#b", ids[3], 1, &rows);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(rows[0].id, ids[1]);
    gw_history_rows_free(rows, n);
    ck_assert_int_eq(gw_store_history_before(st, "#a", ids[0], 10, &rows), 0);
    ck_assert_int_eq(gw_store_history_before(st, "#none", 0, 10, &rows), 0);

    /* since: all targets, for playback. */
    n = gw_store_history_since(st, ids[7], 10, &rows);
    ck_assert_int_eq(n, 3);
    ck_assert_int_eq(rows[0].id, ids[8]);
    ck_assert_int_eq(rows[1].id, ids[9]);
    ck_assert_int_eq(rows[2].id, full);
    gw_history_rows_free(rows, n);
    /* Over the limit: the newest rows, still oldest first. */
    n = gw_store_history_since(st, 0, 4, &rows);
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(rows[0].id, ids[7]);
    ck_assert_int_eq(rows[3].id, full);
    gw_history_rows_free(rows, n);
    ck_assert_int_eq(gw_store_history_since(st, full, 10, &rows), 0);
    ck_assert_int_eq(gw_store_history_since(st, 0, 0, &rows), 0);

    ck_assert_int_eq(gw_store_history_count_since(st, 0, &count), 0);
    ck_assert_int_eq(count, 11);
    ck_assert_int_eq(gw_store_history_count_since(st, ids[7], &count), 0);
    ck_assert_int_eq(count, 3);
    ck_assert_int_eq(gw_store_history_count_since(st, full, &count), 0);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(gw_store_history_count_since(st, full + 5, &count), 0);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(gw_store_history_last_id(st, &last), 0);
    ck_assert_int_eq(last, full);

    ck_assert_int_eq(
        gw_store_history_add(st, "", 1, "m", "p", "PRIVMSG", "x", "", NULL),
        UV_EINVAL);
    ck_assert_int_eq(
        gw_store_history_add(st, NULL, 1, "m", "p", "PRIVMSG", "x", "", NULL),
        UV_EINVAL);
    ck_assert_int_eq(
        gw_store_history_add(st, "#a", 1, NULL, NULL, NULL, NULL, NULL, NULL),
        0);
}
END_TEST

/* The texts of rows, space-separated, for comparing a page at a glance. */
static const char *texts(struct gw_history_row *rows, int n)
{
    static char buf[256];
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
                                i ? " " : "", rows[i].text);
    gw_history_rows_free(rows, n);
    return buf;
}

/*
 * CHATHISTORY pages by time: a line stored after a restart may carry an
 * older time (a post fetched late keeps its own), and paging by id range
 * from "the first line at or after T" skipped it.
 */
START_TEST(test_history_pages_by_time)
{
    struct gw_history_row *rows = NULL;
    /* Stored in this order: ids 1..6; times not in id order, two equal. */
    hist("#t", 100, "a");
    hist("#t", 300, "c");
    hist("#t", 200, "b"); /* back-filled: older than c, stored after it */
    hist("#t", 400, "d");
    hist("#t", 400, "e");
    hist("#u", 250, "other");
    hist("#t", 150, "late"); /* back-filled after everything */
    /* Everything, in time order. */
    int n = gw_store_history_page(st, "#t", NULL, NULL, 10, false, &rows);
    ck_assert_str_eq(texts(rows, n), "a late b c d e");
    /* BEFORE timestamp=300: every line older than 300, newest three. */
    struct gw_history_pos t300 = {300, 0};
    n = gw_store_history_page(st, "#t", NULL, &t300, 3, true, &rows);
    ck_assert_str_eq(texts(rows, n), "a late b");
    /* AFTER timestamp=150 (strictly): b c d e, not the line at 150. */
    struct gw_history_pos t150 = {150, INT64_MAX};
    n = gw_store_history_page(st, "#t", &t150, NULL, 10, false, &rows);
    ck_assert_str_eq(texts(rows, n), "b c d e");
    /* Paging on from the last row of a page misses nothing, and lines of
     * one millisecond are told apart by id. */
    struct gw_history_pos pos = {INT64_MIN, INT64_MIN};
    char all[64] = "";
    for (int page = 0; page < 4; page++) {
        n = gw_store_history_page(st, "#t", &pos, NULL, 2, false, &rows);
        if (n <= 0)
            break;
        pos.time_ms = rows[n - 1].time_ms;
        pos.id = rows[n - 1].id;
        strncat(all, texts(rows, n), sizeof(all) - strlen(all) - 2);
        strncat(all, "|", sizeof(all) - strlen(all) - 1);
    }
    ck_assert_str_eq(all, "a late|b c|d e|");
    /* A msgid is a position: its time and id. */
    int64_t id = 0;
    ck_assert_int_eq(gw_store_history_add(st, "#t", 250, "x1", "p", "PRIVMSG",
                                          "msg", "", &id),
                     0);
    struct gw_history_pos at;
    ck_assert_int_eq(gw_store_history_find(st, "#t", "x1", &at), 0);
    ck_assert_int_eq(at.time_ms, 250);
    ck_assert_int_eq(at.id, id);
    n = gw_store_history_page(st, "#t", &at, NULL, 10, false, &rows);
    ck_assert_str_eq(texts(rows, n), "c d e");
    n = gw_store_history_page(st, "#t", NULL, &at, 2, true, &rows);
    ck_assert_str_eq(texts(rows, n), "late b");
    ck_assert_int_eq(gw_store_history_find(st, "#t", "nope", &at), UV_ENOENT);
    ck_assert_int_eq(gw_store_history_find(st, "#u", "x1", &at), UV_ENOENT);
    ck_assert_int_eq(
        gw_store_history_page(st, "#none", NULL, NULL, 5, false, &rows), 0);
}
END_TEST

/* Retention: the oldest lines go in batches, a prefix of the ids only. */
START_TEST(test_history_prune)
{
    int64_t first = hist("#t", 10, "old0");
    for (int i = 1; i < 7; i++)
        hist("#t", 10 + i, "old");
    hist("#t", 1000, "new");
    hist("#t", 5, "back-filled old, behind a new line");
    int64_t count = 0, last = 0;
    int deleted = -1;
    ck_assert_int_eq(gw_store_history_prune(st, 500, 3, &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    ck_assert_int_eq(gw_store_history_prune(st, 500, 3, &deleted), 0);
    ck_assert_int_eq(deleted, 3);
    ck_assert_int_eq(gw_store_history_prune(st, 500, 3, &deleted), 0);
    ck_assert_int_eq(deleted, 1);
    /* The new line stops it: what comes after waits until it is old. */
    ck_assert_int_eq(gw_store_history_prune(st, 500, 3, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    struct gw_history_row *rows = NULL;
    int n = gw_store_history_after(st, "#t", 0, 10, &rows);
    ck_assert_str_eq(texts(rows, n), "new back-filled old, behind a new line");
    /* The count of what a reader missed skips what was pruned. */
    ck_assert_int_eq(gw_store_history_count_since(st, first, &count), 0);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(gw_store_history_count_since(st, 0, &count), 0);
    ck_assert_int_eq(count, 2);
    ck_assert_int_eq(gw_store_history_last_id(st, &last), 0);
    ck_assert_int_eq(last, first + 8);
    ck_assert_int_eq(gw_store_history_prune(st, 5000, 10, &deleted), 0);
    ck_assert_int_eq(deleted, 2);
    ck_assert_int_eq(gw_store_history_prune(st, 5000, 10, &deleted), 0);
    ck_assert_int_eq(deleted, 0);
    ck_assert_int_eq(gw_store_history_prune(st, 5000, 0, &deleted), UV_EINVAL);
    ck_assert_int_eq(gw_store_history_count_since(st, 0, &count), 0);
    ck_assert_int_eq(count, 0);
}
END_TEST

/* ---- transactions and errors ---------------------------------------- */

START_TEST(test_transactions_nested)
{
    int64_t count = 0;
    ck_assert_int_eq(gw_store_commit(st), UV_EINVAL);
    ck_assert_int_eq(gw_store_rollback(st), UV_EINVAL);

    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "1", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "2", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_commit(st), 0); /* inner: nothing yet */
    /* Another connection does not see it before the outer commit. */
    ck_assert_int_eq(sql_int("SELECT count(*) FROM posts"), 0);
    ck_assert_int_eq(gw_store_commit(st), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM posts"), 2);

    /* Inner rollback loses everything of the outer transaction, including
     * what the outer levels write afterwards. */
    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "3", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "4", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_rollback(st), 0);
    ck_assert_int_eq(gw_store_kv_set(st, "after", "x"), 0);
    ck_assert_int_eq(gw_store_commit(st), UV_ECANCELED);
    ck_assert_ptr_nonnull(strstr(gw_store_errmsg(st), "rolled back"));
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, 2);
    char *v = NULL;
    ck_assert_int_eq(gw_store_kv_get(st, "after", &v), UV_ENOENT);

    /* Two rollbacks in a row at different levels. */
    ck_assert_int_eq(gw_store_begin(st), 0);
    ck_assert_int_eq(gw_store_begin(st), 0);
    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "5", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_rollback(st), 0);
    ck_assert_int_eq(gw_store_rollback(st), 0);
    ck_assert_int_eq(gw_store_rollback(st), 0);
    ck_assert_int_eq(gw_store_rollback(st), UV_EINVAL);

    /* Everything is normal again afterwards. */
    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "6", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_commit(st), 0);
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, 3);

    /* Uncommitted work is dropped by close, not half-kept. */
    ck_assert_int_eq(gw_store_begin(st), 0);
    put("a", "7", "mention", "x@y", "#a", 1);
    reopen();
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, 3);
}
END_TEST

START_TEST(test_batch_insert)
{
    ck_assert_int_eq(gw_store_begin(st), 0);
    for (int i = 0; i < 5000; i++) {
        char id[24];
        snprintf(id, sizeof(id), "%d", 100000 + i);
        put("a", id, "mention", "x@y", "#a", i);
    }
    ck_assert_int_eq(gw_store_commit(st), 0);
    ck_assert_int_eq(sql_int("SELECT count(*) FROM posts"), 5000);
    ck_assert_int_eq(sql_int("SELECT max(id) FROM posts"), 5000);
}
END_TEST

START_TEST(test_locked_by_other_connection)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
                     SQLITE_OK);
    /* Writes wait a little, then give up with the reason. */
    int rc = gw_store_kv_set(st, "k", "v");
    ck_assert_int_eq(rc, UV_EBUSY);
    ck_assert_msg(strstr(gw_store_errmsg(st), "locked") != NULL, "%s",
                  gw_store_errmsg(st));
    ck_assert_msg(strstr(gw_store_errmsg(st), db_path) != NULL, "%s",
                  gw_store_errmsg(st));
    ck_assert_int_eq(gw_store_begin(st), UV_EBUSY);
    struct gw_post p = post_of("a", "1", "mention", "x@y", "#a", 1);
    ck_assert_int_eq(gw_store_post_put(st, &p), UV_EBUSY);
    /* Reads still work under WAL. */
    int64_t count = -1;
    ck_assert_int_eq(gw_store_post_count(st, &count), 0);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    ck_assert_int_eq(gw_store_kv_set(st, "k", "v"), 0);
    ck_assert_int_eq(gw_store_post_put(st, &p), 0);
}
END_TEST

static void noop_cb(void *arg, const char *key, const char *value)
{
    (void)arg;
    (void)key;
    (void)value;
}

START_TEST(test_null_safety)
{
    gw_store_close(NULL);
    ck_assert_str_ne(gw_store_errmsg(NULL), "");
    gw_post_free(NULL);
    gw_post_rows_free(NULL, 0);
    gw_account_row_free(NULL);
    gw_account_rows_free(NULL, 3);
    gw_outbox_item_free(NULL);
    gw_outbox_items_free(NULL, 2);
    gw_history_rows_free(NULL, 1);
    struct gw_post zp;
    memset(&zp, 0, sizeof(zp));
    gw_post_free(&zp);
    struct gw_outbox_item zo;
    memset(&zo, 0, sizeof(zo));
    gw_outbox_item_free(&zo);

    ck_assert_int_eq(gw_store_begin(NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_post_put(NULL, &zp), UV_EINVAL);
    ck_assert_int_eq(gw_store_post_put(st, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_account_get(st, NULL, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_setting_each(st, "a", NULL, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_setting_each(st, NULL, noop_cb, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_post_count(st, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_outbox_next_time(st, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_history_last_id(NULL, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_store_post_pending(st, NULL, 5, NULL), UV_EINVAL);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc;

    tc = tcase_create("open");
    tcase_add_checked_fixture(tc, setup_dirs, teardown_dirs);
    tcase_add_test(tc, test_open_modes);
    tcase_add_test(tc, test_open_wal_and_ids);
    tcase_add_test(tc, test_open_existing_dir_and_slash);
    tcase_add_test(tc, test_open_bad_args);
    tcase_add_test(tc, test_open_state_dir_is_a_file);
    tcase_add_test(tc, test_open_parent_missing);
    tcase_add_test(tc, test_open_db_is_a_directory);
    tcase_add_test(tc, test_open_unusable_dir);
    tcase_add_test(tc, test_garbage_short_refused);
    tcase_add_test(tc, test_garbage_long_refused);
    tcase_add_test(tc, test_foreign_sqlite_refused);
    tcase_add_test(tc, test_foreign_application_id_refused);
    tcase_add_test(tc, test_foreign_user_version_refused);
    tcase_add_test(tc, test_empty_file_is_new_database);
    suite_add_tcase(s, tc);

    tc = tcase_create("data");
    tcase_add_checked_fixture(tc, setup_open, teardown_dirs);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_reopen_keeps_data);
    tcase_add_test(tc, test_checkpoint_in_the_background);
    tcase_add_test(tc, test_people_open_newest);
    tcase_add_test(tc, test_migrations_idempotent);
    tcase_add_test(tc, test_newer_schema_refused);
    tcase_add_test(tc, test_migrate_people_and_reply_rules);
    tcase_add_test(tc, test_people);
    tcase_add_test(tc, test_corrupt_refused);
    tcase_add_test(tc, test_corrupt_data_pages_no_crash);
    tcase_add_test(tc, test_survives_kill9);
    tcase_add_test(tc, test_accounts);
    tcase_add_test(tc, test_account_del_cascades);
    tcase_add_test(tc, test_settings);
    tcase_add_test(tc, test_post_put_and_dedupe);
    tcase_add_test(tc, test_post_without_network_id);
    tcase_add_test(tc, test_post_by_ref);
    tcase_add_test(tc, test_big_network_ids);
    tcase_add_test(tc, test_post_by_netid);
    tcase_add_test(tc, test_post_latest_by);
    tcase_add_test(tc, test_post_latest_by_migrated);
    tcase_add_test(tc, test_post_state_and_text);
    tcase_add_test(tc, test_post_pending_order);
    tcase_add_test(tc, test_refs_never_reused_after_delete);
    tcase_add_test(tc, test_refs_never_reused_after_rollback);
    tcase_add_test(tc, test_hostile_strings);
    tcase_add_test(tc, test_cursors);
    tcase_add_test(tc, test_kv);
    tcase_add_test(tc, test_outbox_lifecycle);
    tcase_add_test(tc, test_outbox_add_rules);
    tcase_add_test(tc, test_outbox_wake);
    tcase_add_test(tc, test_outbox_reaches_the_disk);
    tcase_add_test(tc, test_history);
    tcase_add_test(tc, test_history_pages_by_time);
    tcase_add_test(tc, test_history_prune);
    tcase_add_test(tc, test_transactions_nested);
    tcase_add_test(tc, test_batch_insert);
    tcase_add_test(tc, test_locked_by_other_connection);
    tcase_add_test(tc, test_null_safety);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    gw_strlcpy(run_root, "/tmp/store-test-XXXXXX", sizeof(run_root));
    if (mkdtemp(run_root) == NULL) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(store_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    rm_tree(run_root);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
