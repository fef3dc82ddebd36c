/*
 * The team inbox's log: who claimed, took, answered or closed a post, and
 * when. !history reads it; the double-answer guard asks it who answered
 * last. Rows are only ever added.
 */
#include "gw_store.h"

#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

#define EVENT_COLS "time_ms, who, what, text"

/* This file's statements; gw_store.c prepares them at open (see enum
 * gw_store__sid). */
const char *const gw_store__inbox_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__INBOX_LOG] = "INSERT INTO inbox_log (post_id, time_ms, who, "
                            "what, text) VALUES (?1, ?2, ?3, ?4, ?5)",
    [GW_STORE__INBOX_HISTORY] = "SELECT " EVENT_COLS " FROM inbox_log "
                                "WHERE post_id = ?1 ORDER BY id LIMIT ?2",
    [GW_STORE__INBOX_LAST] = "SELECT " EVENT_COLS " FROM inbox_log "
                             "WHERE post_id = ?1 AND what = ?2 "
                             "ORDER BY id DESC LIMIT 1",
};

static void event_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_inbox_event *e = elem;
    e->time_ms = sqlite3_column_int64(s, 0);
    e->who = gw_store__col_str(s, 1);
    e->what = gw_store__col_str(s, 2);
    e->text = gw_store__col_str(s, 3);
}

static void event_clear(void *elem)
{
    struct gw_inbox_event *e = elem;
    free(e->who);
    free(e->what);
    free(e->text);
    memset(e, 0, sizeof(*e));
}

void gw_inbox_events_free(struct gw_inbox_event *rows, int n)
{
    for (int i = 0; i < n; i++)
        event_clear(&rows[i]);
    free(rows);
}

int gw_store_inbox_log(struct gw_store *st, int64_t post_id, int64_t time_ms,
                       const char *who, const char *what, const char *text)
{
    if (st == NULL || who == NULL || what == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__INBOX_LOG];
    sqlite3_bind_int64(s, 1, post_id);
    sqlite3_bind_int64(s, 2, time_ms);
    gw_store__bind_text(s, 3, who);
    gw_store__bind_text(s, 4, what);
    gw_store__bind_text(s, 5, text);
    return gw_store__run(st, GW_STORE__INBOX_LOG, "writing the inbox log");
}

int gw_store_inbox_history(struct gw_store *st, int64_t post_id, int limit,
                           struct gw_inbox_event **rows)
{
    void *arr;
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    sqlite3_stmt *s = st->stmts[GW_STORE__INBOX_HISTORY];
    sqlite3_bind_int64(s, 1, post_id);
    sqlite3_bind_int(s, 2, limit);
    int n = gw_store__collect(
        st, GW_STORE__INBOX_HISTORY, "reading the inbox log",
        sizeof(struct gw_inbox_event), event_fill, event_clear, &arr);
    *rows = arr;
    return n;
}

int gw_store_inbox_last(struct gw_store *st, int64_t post_id, const char *what,
                        struct gw_inbox_event *out)
{
    struct gw_inbox_event *rows = NULL;
    if (st == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[GW_STORE__INBOX_LAST];
    sqlite3_bind_int64(s, 1, post_id);
    gw_store__bind_text(s, 2, what);
    void *arr;
    int n = gw_store__collect(st, GW_STORE__INBOX_LAST, "reading the inbox log",
                              sizeof(struct gw_inbox_event), event_fill,
                              event_clear, &arr);
    rows = arr;
    if (n < 0)
        return n;
    if (n == 0) {
        free(rows);
        return UV_ENOENT;
    }
    *out = rows[0];
    free(rows);
    return 0;
}
