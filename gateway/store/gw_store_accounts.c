/*
 * Accounts and their settings, the adapters' cursors, and the small
 * key/values (read positions, app registrations).
 */
#include "gw_store.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

/* This file's statements; gw_store.c prepares them at open (see enum
 * gw_store__sid). */
const char *const gw_store__account_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__ACCOUNT_ADD] = "INSERT INTO accounts (name, network, enabled, "
                              "created_ms) VALUES (?1, ?2, 1, ?3)",
    [GW_STORE__ACCOUNT_DEL] = "DELETE FROM accounts WHERE name = ?1",
    [GW_STORE__ACCOUNT_DEL_CURSORS] = "DELETE FROM cursors WHERE account = ?1",
    [GW_STORE__ACCOUNT_ENABLE] =
        "UPDATE accounts SET enabled = ?2 WHERE name = ?1",
    [GW_STORE__ACCOUNT_GET] = "SELECT name, network, enabled, created_ms "
                              "FROM accounts WHERE name = ?1",
    [GW_STORE__ACCOUNT_LIST] = "SELECT name, network, enabled, created_ms "
                               "FROM accounts ORDER BY name",
    [GW_STORE__SETTING_SET] = "INSERT INTO settings (account, key, value) "
                              "VALUES (?1, ?2, ?3) ON CONFLICT (account, key) "
                              "DO UPDATE SET value = excluded.value",
    [GW_STORE__SETTING_DEL] =
        "DELETE FROM settings WHERE account = ?1 AND key = ?2",
    [GW_STORE__SETTING_GET] = "SELECT value FROM settings "
                              "WHERE account = ?1 AND key = ?2",
    [GW_STORE__SETTING_EACH] =
        "SELECT key, value FROM settings WHERE account = ?1 "
        "ORDER BY key",
    [GW_STORE__ACCOUNT_EXISTS] = "SELECT 1 FROM accounts WHERE name = ?1",
    [GW_STORE__CURSOR_GET] = "SELECT value FROM cursors "
                             "WHERE account = ?1 AND name = ?2",
    [GW_STORE__CURSOR_SET] = "INSERT INTO cursors (account, name, value) "
                             "VALUES (?1, ?2, ?3) ON CONFLICT (account, name) "
                             "DO UPDATE SET value = excluded.value",
    [GW_STORE__CURSOR_DEL] =
        "DELETE FROM cursors WHERE account = ?1 AND name = ?2",
    [GW_STORE__KV_GET] = "SELECT value FROM kv WHERE key = ?1",
    [GW_STORE__KV_SET] =
        "INSERT INTO kv (key, value) VALUES (?1, ?2) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    [GW_STORE__KV_DEL] = "DELETE FROM kv WHERE key = ?1",
};

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
    r->name = gw_store__col_str(s, 0);
    r->network = gw_store__col_str(s, 1);
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
        return gw_store__fail(st, UV_EINVAL,
                              "an account needs a name and a network");
    sqlite3_stmt *s = st->stmts[GW_STORE__ACCOUNT_ADD];
    gw_store__bind_text(s, 1, name);
    gw_store__bind_text(s, 2, network);
    sqlite3_bind_int64(s, 3, gw_now_ms());
    int rc = sqlite3_step(s);
    int ret = 0;
    int ext = rc == SQLITE_DONE ? SQLITE_OK : sqlite3_extended_errcode(st->db);
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
        ret = gw_store__fail(st, UV_EEXIST,
                             "there is already an account named %s", name);
    else if (rc != SQLITE_DONE)
        ret = gw_store__db_fail(st, rc, "adding an account");
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
    gw_store__bind_text(st->stmts[GW_STORE__ACCOUNT_DEL], 1, name);
    rc = gw_store__run(st, GW_STORE__ACCOUNT_DEL, "deleting an account");
    if (rc == 0 && sqlite3_changes(st->db) == 0) {
        /* Nothing was written, so the caller's transaction is intact. */
        gw_store_commit(st);
        return gw_store__fail(st, UV_ENOENT, "there is no account named %s",
                              name);
    }
    if (rc == 0) {
        gw_store__bind_text(st->stmts[GW_STORE__ACCOUNT_DEL_CURSORS], 1, name);
        rc = gw_store__run(st, GW_STORE__ACCOUNT_DEL_CURSORS,
                           "deleting an account's cursors");
    }
    if (rc < 0) {
        char keep[GW_STORE_ERR_MAX];
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
    sqlite3_stmt *s = st->stmts[GW_STORE__ACCOUNT_ENABLE];
    gw_store__bind_text(s, 1, name);
    sqlite3_bind_int(s, 2, on ? 1 : 0);
    int rc = gw_store__run(st, GW_STORE__ACCOUNT_ENABLE, "enabling an account");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return gw_store__fail(st, UV_ENOENT, "there is no account named %s",
                              name);
    return rc;
}

int gw_store_account_get(struct gw_store *st, const char *name,
                         struct gw_account_row *out)
{
    if (st == NULL || name == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[GW_STORE__ACCOUNT_GET];
    gw_store__bind_text(s, 1, name);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        account_fill(s, out);
    else if (rc == SQLITE_DONE)
        ret =
            gw_store__fail(st, UV_ENOENT, "there is no account named %s", name);
    else
        ret = gw_store__db_fail(st, rc, "reading an account");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int gw_store_account_list(struct gw_store *st, struct gw_account_row **rows)
{
    void *arr;
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    int n = gw_store__collect(st, GW_STORE__ACCOUNT_LIST, "listing accounts",
                              sizeof(struct gw_account_row), account_fill,
                              account_clear, &arr);
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
        sqlite3_stmt *d = st->stmts[GW_STORE__SETTING_DEL];
        gw_store__bind_text(d, 1, account);
        gw_store__bind_text(d, 2, key);
        int rc = gw_store__run(st, GW_STORE__SETTING_DEL, "deleting a setting");
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            return gw_store__fail(st, UV_ENOENT, "account %s has no setting %s",
                                  account, key);
        return rc;
    }
    sqlite3_stmt *s = st->stmts[GW_STORE__SETTING_SET];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, key);
    gw_store__bind_text(s, 3, value);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE &&
        sqlite3_extended_errcode(st->db) == SQLITE_CONSTRAINT_FOREIGNKEY)
        ret = gw_store__fail(st, UV_ENOENT, "there is no account named %s",
                             account);
    else if (rc != SQLITE_DONE)
        ret = gw_store__db_fail(st, rc, "storing a setting");
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
    sqlite3_stmt *s = st->stmts[GW_STORE__SETTING_GET];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, key);
    int rc = gw_store__query_str(st, GW_STORE__SETTING_GET, "reading a setting",
                                 value);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "account %s has no setting %s", account, key);
    return rc;
}

struct kv_pair {
    char *key;
    char *value;
};

static void kv_fill(sqlite3_stmt *s, void *elem)
{
    struct kv_pair *p = elem;
    p->key = gw_store__col_str(s, 0);
    p->value = gw_store__col_str(s, 1);
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
    gw_store__bind_text(st->stmts[GW_STORE__SETTING_EACH], 1, account);
    /* Read everything first: the callback may call back into the store,
     * which would reset the statement under our feet. */
    int n = gw_store__collect(st, GW_STORE__SETTING_EACH, "listing settings",
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

/* ---- cursors --------------------------------------------------------- */

int gw_store_cursor_get(struct gw_store *st, const char *account,
                        const char *name, char **value)
{
    if (st == NULL || account == NULL || name == NULL || value == NULL)
        return UV_EINVAL;
    *value = NULL;
    sqlite3_stmt *s = st->stmts[GW_STORE__CURSOR_GET];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, name);
    int rc = gw_store__query_str(st, GW_STORE__CURSOR_GET, "reading a cursor",
                                 value);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "account %s has no cursor %s", account, name);
    return rc;
}

int gw_store_cursor_set(struct gw_store *st, const char *account,
                        const char *name, const char *value)
{
    if (st == NULL || account == NULL || name == NULL)
        return UV_EINVAL;
    enum gw_store__sid id = value ? GW_STORE__CURSOR_SET : GW_STORE__CURSOR_DEL;
    sqlite3_stmt *s = st->stmts[id];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, name);
    if (value)
        gw_store__bind_text(s, 3, value);
    return gw_store__run(st, id, "storing a cursor");
}

/* ---- key/values ------------------------------------------------------ */

int gw_store_kv_get(struct gw_store *st, const char *key, char **value)
{
    if (st == NULL || key == NULL || value == NULL)
        return UV_EINVAL;
    *value = NULL;
    gw_store__bind_text(st->stmts[GW_STORE__KV_GET], 1, key);
    int rc =
        gw_store__query_str(st, GW_STORE__KV_GET, "reading a value", value);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "no value stored for %s", key);
    return rc;
}

int gw_store_kv_set(struct gw_store *st, const char *key, const char *value)
{
    if (st == NULL || key == NULL)
        return UV_EINVAL;
    enum gw_store__sid id = value ? GW_STORE__KV_SET : GW_STORE__KV_DEL;
    sqlite3_stmt *s = st->stmts[id];
    gw_store__bind_text(s, 1, key);
    if (value)
        gw_store__bind_text(s, 2, value);
    return gw_store__run(st, id, "storing a value");
}
