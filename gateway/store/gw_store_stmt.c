/*
 * Running the store's prepared statements: binding text, stepping, reading
 * one value or every row, and always resetting afterwards. The statements
 * themselves are listed in gw_store_int.h.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

void gw_store__bind_text(sqlite3_stmt *s, int i, const char *v)
{
    sqlite3_bind_text(s, i, v ? v : "", -1, SQLITE_STATIC);
}

void gw_store__bind_text_or_null(sqlite3_stmt *s, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, i);
}

char *gw_store__col_str(sqlite3_stmt *s, int i)
{
    const unsigned char *t = sqlite3_column_text(s, i);
    return gw_xstrdup(t ? (const char *)t : "");
}

/*
 * Run a statement that returns no rows and reset it, so that no statement
 * is ever left holding a read snapshot open (which would keep the WAL from
 * being checkpointed).
 */
int gw_store__run(struct gw_store *st, enum gw_store__sid id, const char *what)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = gw_store__db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* One integer from the first row: 0, UV_ENOENT on no row or NULL. */
int gw_store__query_int(struct gw_store *st, enum gw_store__sid id,
                        const char *what, int64_t *out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(s, 0);
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        ret = UV_ENOENT;
    else
        ret = gw_store__db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* One string from the first row: 0 with *out malloc'd, or UV_ENOENT. */
int gw_store__query_str(struct gw_store *st, enum gw_store__sid id,
                        const char *what, char **out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        *out = gw_store__col_str(s, 0);
    else if (rc == SQLITE_DONE)
        ret = UV_ENOENT;
    else
        ret = gw_store__db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/*
 * Step through all rows into a malloc'd array of elem-sized structs. Returns
 * the count (and *out NULL when there are none) or an error, in which case
 * nothing is left allocated.
 */
int gw_store__collect(struct gw_store *st, enum gw_store__sid id,
                      const char *what, size_t elem, gw_store__fill_fn fill,
                      gw_store__clear_fn clear, void **out)
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
        int ret = gw_store__db_fail(st, rc, what);
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
