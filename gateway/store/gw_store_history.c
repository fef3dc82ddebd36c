/*
 * IRC channel history: the lines shown, for playback on connect and for
 * CHATHISTORY.
 */
#include "gw_store.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

#define HISTORY_COLS "id, target, time_ms, msgid, prefix, command, text, tags"

/* This file's statements; gw_store.c prepares them at open (see enum
 * gw_store__sid). */
const char *const gw_store__history_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__HISTORY_ADD] =
        "INSERT INTO history (target, time_ms, msgid, prefix, "
        "command, text, tags) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [GW_STORE__HISTORY_AFTER] =
        "SELECT " HISTORY_COLS " FROM history "
        "WHERE target = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    [GW_STORE__HISTORY_BEFORE] = "SELECT " HISTORY_COLS " FROM history "
                                 "WHERE target = ?1 AND id < ?2 "
                                 "ORDER BY id DESC LIMIT ?3",
    [GW_STORE__HISTORY_SINCE] = "SELECT " HISTORY_COLS " FROM history "
                                "WHERE id > ?1 ORDER BY id DESC LIMIT ?2",
    /* History rows are never deleted and AUTOINCREMENT never reuses an id,
     * so the id gap is the count; count(*) would read every row. */
    [GW_STORE__HISTORY_COUNT] = "SELECT max(coalesce(max(id), 0) - ?1, 0) "
                                "FROM history",
    [GW_STORE__HISTORY_LAST] = "SELECT coalesce(max(id), 0) FROM history",
    [GW_STORE__HISTORY_FIND] = "SELECT id FROM history WHERE msgid = ?2 "
                               "AND target = ?1 ORDER BY id LIMIT 1",
    [GW_STORE__HISTORY_AT] = "SELECT min(id) FROM history WHERE target = ?1 "
                             "AND time_ms >= ?2",
    [GW_STORE__HISTORY_RANGE] = "SELECT " HISTORY_COLS " FROM history WHERE "
                                "target = ?1 AND id > ?2 AND id < ?3 "
                                "ORDER BY id LIMIT ?4",
    [GW_STORE__HISTORY_RANGE_DESC] =
        "SELECT " HISTORY_COLS " FROM history WHERE "
        "target = ?1 AND id > ?2 AND id < ?3 "
        "ORDER BY id DESC LIMIT ?4",
    [GW_STORE__HISTORY_TARGETS] =
        "SELECT max(id), target, max(time_ms) AS t, '', "
        "'', '', '', '' FROM history WHERE time_ms > ?1 "
        "AND time_ms < ?2 GROUP BY target ORDER BY t "
        "LIMIT ?3",
};

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
    r->target = gw_store__col_str(s, 1);
    r->time_ms = sqlite3_column_int64(s, 2);
    r->msgid = gw_store__col_str(s, 3);
    r->prefix = gw_store__col_str(s, 4);
    r->command = gw_store__col_str(s, 5);
    r->text = gw_store__col_str(s, 6);
    r->tags = gw_store__col_str(s, 7);
}

static int history_list(struct gw_store *st, enum gw_store__sid id,
                        struct gw_history_row **rows)
{
    void *arr;
    int n = gw_store__collect(st, id, "reading history",
                              sizeof(struct gw_history_row), history_fill,
                              history_clear, &arr);
    *rows = arr;
    return n;
}

/* For statements that select newest first to take the latest rows: hand
 * them out oldest first. */
static int history_list_newest(struct gw_store *st, enum gw_store__sid id,
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
        return gw_store__fail(st, UV_EINVAL, "a history line needs a target");
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_ADD];
    gw_store__bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, time_ms);
    gw_store__bind_text(s, 3, msgid);
    gw_store__bind_text(s, 4, prefix);
    gw_store__bind_text(s, 5, command ? command : "PRIVMSG");
    gw_store__bind_text(s, 6, text);
    gw_store__bind_text(s, 7, tags);
    int rc = gw_store__run(st, GW_STORE__HISTORY_ADD, "storing history");
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
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_AFTER];
    gw_store__bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, after_id);
    sqlite3_bind_int(s, 3, limit);
    return history_list(st, GW_STORE__HISTORY_AFTER, rows);
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
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_BEFORE];
    gw_store__bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, before_id == 0 ? INT64_MAX : before_id);
    sqlite3_bind_int(s, 3, limit);
    return history_list_newest(st, GW_STORE__HISTORY_BEFORE, rows);
}

int gw_store_history_since(struct gw_store *st, int64_t after_id, int limit,
                           struct gw_history_row **rows)
{
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_SINCE];
    sqlite3_bind_int64(s, 1, after_id);
    sqlite3_bind_int(s, 2, limit);
    return history_list_newest(st, GW_STORE__HISTORY_SINCE, rows);
}

int gw_store_history_count_since(struct gw_store *st, int64_t after_id,
                                 int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    sqlite3_bind_int64(st->stmts[GW_STORE__HISTORY_COUNT], 1, after_id);
    return gw_store__query_int(st, GW_STORE__HISTORY_COUNT, "counting history",
                               count);
}

int gw_store_history_last_id(struct gw_store *st, int64_t *id)
{
    if (st == NULL || id == NULL)
        return UV_EINVAL;
    return gw_store__query_int(st, GW_STORE__HISTORY_LAST, "reading history",
                               id);
}

int gw_store_history_find(struct gw_store *st, const char *target,
                          const char *msgid, int64_t *id)
{
    if (st == NULL || target == NULL || msgid == NULL || id == NULL)
        return UV_EINVAL;
    gw_store__bind_text(st->stmts[GW_STORE__HISTORY_FIND], 1, target);
    gw_store__bind_text(st->stmts[GW_STORE__HISTORY_FIND], 2, msgid);
    return gw_store__query_int(st, GW_STORE__HISTORY_FIND, "reading history",
                               id);
}

int gw_store_history_at(struct gw_store *st, const char *target,
                        int64_t time_ms, int64_t *id)
{
    if (st == NULL || target == NULL || id == NULL)
        return UV_EINVAL;
    gw_store__bind_text(st->stmts[GW_STORE__HISTORY_AT], 1, target);
    sqlite3_bind_int64(st->stmts[GW_STORE__HISTORY_AT], 2, time_ms);
    return gw_store__query_int(st, GW_STORE__HISTORY_AT, "reading history", id);
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
    enum gw_store__sid id =
        latest ? GW_STORE__HISTORY_RANGE_DESC : GW_STORE__HISTORY_RANGE;
    sqlite3_stmt *s = st->stmts[id];
    gw_store__bind_text(s, 1, target);
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
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_TARGETS];
    sqlite3_bind_int64(s, 1, from_ms < to_ms ? from_ms : to_ms);
    sqlite3_bind_int64(s, 2, from_ms < to_ms ? to_ms : from_ms);
    sqlite3_bind_int(s, 3, limit);
    return history_list(st, GW_STORE__HISTORY_TARGETS, rows);
}
