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
    /* Playback: the router's places only. A target with a comma is a
     * front-end's own (a channel people made, a conversation between two
     * people), read through CHATHISTORY alone. */
    [GW_STORE__HISTORY_SINCE] = "SELECT " HISTORY_COLS " FROM history "
                                "WHERE id > ?1 AND instr(target, ',') = 0 "
                                "ORDER BY id DESC LIMIT ?2",
    /* What playback would show since a reader's position: the rows are
     * read, so the count stops at 100,000 (a reader away for that long is
     * told "100000 lines"; the scan stays a few milliseconds). */
    [GW_STORE__HISTORY_COUNT] =
        "SELECT count(*) FROM (SELECT 1 FROM history WHERE id > ?1 AND "
        "instr(target, ',') = 0 LIMIT 100000)",
    [GW_STORE__HISTORY_LAST] = "SELECT coalesce(max(id), 0) FROM history",
    [GW_STORE__HISTORY_FIND] = "SELECT time_ms, id FROM history WHERE "
                               "msgid = ?2 AND target = ?1 ORDER BY id "
                               "LIMIT 1",
    /* A page of a target's history in the order of time, then id: lines
     * stored later may carry an older time (posts fetched after a restart
     * keep their own), so an id range would skip some of them. */
    [GW_STORE__HISTORY_PAGE] =
        "SELECT " HISTORY_COLS " FROM history WHERE target = ?1 AND "
        "(time_ms, id) > (?2, ?3) AND (time_ms, id) < (?4, ?5) "
        "ORDER BY time_ms, id LIMIT ?6",
    [GW_STORE__HISTORY_PAGE_DESC] =
        "SELECT " HISTORY_COLS " FROM history WHERE target = ?1 AND "
        "(time_ms, id) > (?2, ?3) AND (time_ms, id) < (?4, ?5) "
        "ORDER BY time_ms DESC, id DESC LIMIT ?6",
    /* The oldest rows by id, while they are older than ?1, at most ?2 of
     * them: a rowid range, so it never scans the table. */
    [GW_STORE__HISTORY_PRUNE] =
        "DELETE FROM history WHERE id < coalesce("
        "(SELECT id FROM history WHERE id >= (SELECT min(id) FROM history) "
        "AND id < (SELECT min(id) FROM history) + ?2 AND time_ms >= ?1 "
        "ORDER BY id LIMIT 1), (SELECT min(id) FROM history) + ?2)",
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
                          const char *msgid, struct gw_history_pos *pos)
{
    if (st == NULL || target == NULL || msgid == NULL || pos == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_FIND];
    gw_store__bind_text(s, 1, target);
    gw_store__bind_text(s, 2, msgid);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        pos->time_ms = sqlite3_column_int64(s, 0);
        pos->id = sqlite3_column_int64(s, 1);
    } else if (rc == SQLITE_DONE) {
        ret = UV_ENOENT;
    } else {
        ret = gw_store__db_fail(st, rc, "reading history");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int gw_store_history_page(struct gw_store *st, const char *target,
                          const struct gw_history_pos *after,
                          const struct gw_history_pos *before, int limit,
                          bool latest, struct gw_history_row **rows)
{
    if (st == NULL || target == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    if (limit <= 0)
        return 0;
    enum gw_store__sid id =
        latest ? GW_STORE__HISTORY_PAGE_DESC : GW_STORE__HISTORY_PAGE;
    sqlite3_stmt *s = st->stmts[id];
    gw_store__bind_text(s, 1, target);
    sqlite3_bind_int64(s, 2, after ? after->time_ms : INT64_MIN);
    sqlite3_bind_int64(s, 3, after ? after->id : INT64_MIN);
    sqlite3_bind_int64(s, 4, before ? before->time_ms : INT64_MAX);
    sqlite3_bind_int64(s, 5, before ? before->id : INT64_MAX);
    sqlite3_bind_int(s, 6, limit);
    return latest ? history_list_newest(st, id, rows)
                  : history_list(st, id, rows);
}

int gw_store_history_prune(struct gw_store *st, int64_t before_ms, int max,
                           int *deleted)
{
    if (st == NULL || max <= 0)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__HISTORY_PRUNE];
    sqlite3_bind_int64(s, 1, before_ms);
    sqlite3_bind_int(s, 2, max);
    int rc = gw_store__run(st, GW_STORE__HISTORY_PRUNE, "pruning history");
    if (deleted)
        *deleted = rc == 0 ? sqlite3_changes(st->db) : 0;
    return rc;
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
