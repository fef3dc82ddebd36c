/*
 * People who sign in, added on IRC by an admin (user add): a name, an
 * Argon2id hash and whether they may manage accounts and users. [user]
 * sections in gateway.conf are not here: the file is read, not copied.
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
const char *const gw_store__users_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__USER_GET] = "SELECT name, hash, admin FROM users "
                           "WHERE name = ?1",
    [GW_STORE__USER_PUT] =
        "INSERT INTO users (name, hash, admin, created_ms) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (name) DO UPDATE SET "
        "hash = excluded.hash, admin = excluded.admin",
    [GW_STORE__USER_DEL] = "DELETE FROM users WHERE name = ?1",
    [GW_STORE__USER_LIST] = "SELECT name, hash, admin FROM users "
                            "ORDER BY name",
    [GW_STORE__USER_COUNT] = "SELECT count(*) FROM users",
};

void gw_user_row_free(struct gw_user_row *u)
{
    if (u == NULL)
        return;
    free(u->name);
    free(u->hash);
    memset(u, 0, sizeof(*u));
}

static void user_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_user_row *u = elem;
    u->name = gw_store__col_str(s, 0);
    u->hash = gw_store__col_str(s, 1);
    u->admin = sqlite3_column_int(s, 2) != 0;
}

static void user_clear(void *elem)
{
    gw_user_row_free(elem);
}

void gw_user_rows_free(struct gw_user_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        gw_user_row_free(&rows[i]);
    free(rows);
}

int gw_store_user_get(struct gw_store *st, const char *name,
                      struct gw_user_row *out)
{
    void *arr;
    memset(out, 0, sizeof(*out));
    gw_store__bind_text(st->stmts[GW_STORE__USER_GET], 1, name);
    int n = gw_store__collect(st, GW_STORE__USER_GET, "reading a user",
                              sizeof(struct gw_user_row), user_fill, user_clear,
                              &arr);
    struct gw_user_row *rows = arr;
    if (n <= 0) {
        free(rows);
        return n < 0 ? n : UV_ENOENT;
    }
    *out = rows[0];
    free(rows);
    return 0;
}

int gw_store_user_put(struct gw_store *st, const char *name, const char *hash,
                      bool admin)
{
    sqlite3_stmt *s = st->stmts[GW_STORE__USER_PUT];
    gw_store__bind_text(s, 1, name);
    gw_store__bind_text(s, 2, hash);
    sqlite3_bind_int(s, 3, admin ? 1 : 0);
    sqlite3_bind_int64(s, 4, gw_now_ms());
    return gw_store__run(st, GW_STORE__USER_PUT, "storing a user");
}

int gw_store_user_del(struct gw_store *st, const char *name)
{
    gw_store__bind_text(st->stmts[GW_STORE__USER_DEL], 1, name);
    int rc = gw_store__run(st, GW_STORE__USER_DEL, "removing a user");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return UV_ENOENT;
    return rc;
}

int gw_store_user_list(struct gw_store *st, struct gw_user_row **rows)
{
    void *arr;
    int n = gw_store__collect(st, GW_STORE__USER_LIST, "listing users",
                              sizeof(struct gw_user_row), user_fill, user_clear,
                              &arr);
    *rows = arr;
    return n;
}

int gw_store_user_count(struct gw_store *st, int64_t *count)
{
    return gw_store__query_int(st, GW_STORE__USER_COUNT, "counting users",
                               count);
}
