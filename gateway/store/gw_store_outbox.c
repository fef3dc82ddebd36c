/*
 * The outbox: what a person asked to send, stored (and synced) before it is
 * sent, then marked sent, retried or failed.
 */
#include "gw_store.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

#define OUTBOX_COLS                                                            \
    "id, account, action, payload, idem_key, origin, who, error, result, "     \
    "state, attempts, created_ms, next_ms, maybe"

/* This file's statements; gw_store.c prepares them at open (see enum
 * gw_store__sid). */
const char *const gw_store__outbox_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__OUTBOX_ADD] =
        "INSERT INTO outbox (account, action, payload, idem_key, "
        "origin, who, created_ms, next_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    [GW_STORE__OUTBOX_GET] = "SELECT " OUTBOX_COLS " FROM outbox WHERE id = ?1",
    [GW_STORE__OUTBOX_STATE] = "SELECT state FROM outbox WHERE id = ?1",
    [GW_STORE__OUTBOX_DUE] =
        "SELECT " OUTBOX_COLS " FROM outbox "
        "WHERE state = 0 AND next_ms <= ?1 ORDER BY id LIMIT ?2",
    [GW_STORE__OUTBOX_NEXT] = "SELECT min(next_ms) FROM outbox WHERE state = 0",
    [GW_STORE__OUTBOX_FOR_PARENT] =
        "SELECT " OUTBOX_COLS " FROM outbox WHERE state = 0 "
        "AND account = ?1 AND action IN ('reply', 'dm') "
        "AND json_valid(payload) AND "
        "lower(json_extract(payload, '$.parent')) = lower(?2) "
        "ORDER BY id LIMIT ?3",
    [GW_STORE__OUTBOX_LIST] = "SELECT " OUTBOX_COLS " FROM outbox "
                              "WHERE state IN (0, 2) ORDER BY id LIMIT ?1",
    [GW_STORE__OUTBOX_RETRY] =
        "UPDATE outbox SET attempts = attempts + 1, "
        "next_ms = ?2, error = ?3, maybe = max(maybe, ?4) "
        "WHERE id = ?1 AND state = 0",
    [GW_STORE__OUTBOX_SENT] =
        "UPDATE outbox SET state = 1, attempts = attempts + 1, "
        "result = ?2 WHERE id = ?1 AND state = 0",
    [GW_STORE__OUTBOX_FAILED] =
        "UPDATE outbox SET state = 2, attempts = attempts + 1, "
        "error = ?2 WHERE id = ?1 AND state = 0",
    /* A failed item starts again; a waiting one keeps its count. */
    [GW_STORE__OUTBOX_REQUEUE] =
        "UPDATE outbox SET attempts = CASE state WHEN 2 THEN 0 "
        "ELSE attempts END, state = 0, next_ms = ?2 "
        "WHERE id = ?1 AND state IN (0, 2)",
    [GW_STORE__OUTBOX_WAKE] = "UPDATE outbox SET next_ms = ?2 "
                              "WHERE state = 0 AND account = ?1 "
                              "AND next_ms > ?2",
    [GW_STORE__OUTBOX_DEPTH] = "SELECT count(*) FROM outbox WHERE state = 0 "
                               "AND (?1 IS NULL OR account = ?1)",
};

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
    it->account = gw_store__col_str(s, 1);
    it->action = gw_store__col_str(s, 2);
    it->payload = gw_store__col_str(s, 3);
    it->idem_key = gw_store__col_str(s, 4);
    it->origin = gw_store__col_str(s, 5);
    it->who = gw_store__col_str(s, 6);
    it->error = gw_store__col_str(s, 7);
    it->result = gw_store__col_str(s, 8);
    it->state = outbox_state(sqlite3_column_int64(s, 9));
    attempts = sqlite3_column_int64(s, 10);
    it->attempts = attempts < 0         ? 0
                   : attempts > INT_MAX ? INT_MAX
                                        : (int)attempts;
    it->created_ms = sqlite3_column_int64(s, 11);
    it->next_ms = sqlite3_column_int64(s, 12);
    it->maybe = sqlite3_column_int64(s, 13) != 0;
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
        return gw_store__fail(st, UV_EINVAL,
                              "an outbox item needs an account and an "
                              "action");
    /* The contract is "committed when this returns, then send": inside a
     * transaction it would not be, and a crash could send twice. */
    if (st->depth > 0)
        return gw_store__fail(
            st, UV_EBUSY, "outbox items cannot be added inside a transaction");
    if (gw_random_hex(key, sizeof(key)) < 0)
        return gw_store__fail(st, UV_EIO,
                              "no randomness for an idempotency key");
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_ADD];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, action);
    gw_store__bind_text(s, 3, payload ? payload : "{}");
    gw_store__bind_text(s, 4, key);
    gw_store__bind_text(s, 5, origin);
    gw_store__bind_text(s, 6, who);
    sqlite3_bind_int64(s, 7, gw_now_ms());
    /* What a person typed exists nowhere else: it is on the disk, not only
     * in the OS's cache, before anything is sent. */
    const char *what = "queueing an outbound action";
    int rc = gw_store__exec(st, "PRAGMA synchronous=FULL", what);
    if (rc == 0)
        rc = gw_store__run(st, GW_STORE__OUTBOX_ADD, what);
    if (rc == 0 && id)
        *id = sqlite3_last_insert_rowid(st->db);
    int rc2 = gw_store__exec(st, "PRAGMA synchronous=NORMAL", what);
    return rc < 0 ? rc : rc2;
}

int gw_store_outbox_get(struct gw_store *st, int64_t id,
                        struct gw_outbox_item *out)
{
    if (st == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_GET];
    sqlite3_bind_int64(s, 1, id);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        outbox_fill(s, out);
    else if (rc == SQLITE_DONE)
        ret = gw_store__fail(st, UV_ENOENT, "there is no outbox item %" PRId64,
                             id);
    else
        ret = gw_store__db_fail(st, rc, "reading an outbox item");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

static int outbox_list_of(struct gw_store *st, enum gw_store__sid id,
                          struct gw_outbox_item **items)
{
    void *arr;
    int n = gw_store__collect(st, id, "listing the outbox",
                              sizeof(struct gw_outbox_item), outbox_fill,
                              outbox_clear, &arr);
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
    sqlite3_bind_int64(st->stmts[GW_STORE__OUTBOX_DUE], 1, now_ms);
    sqlite3_bind_int(st->stmts[GW_STORE__OUTBOX_DUE], 2, limit);
    return outbox_list_of(st, GW_STORE__OUTBOX_DUE, items);
}

int gw_store_outbox_next_time(struct gw_store *st, int64_t *ms)
{
    if (st == NULL || ms == NULL)
        return UV_EINVAL;
    int rc = gw_store__query_int(st, GW_STORE__OUTBOX_NEXT,
                                 "reading the outbox", ms);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "the outbox has nothing pending");
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
    sqlite3_bind_int(st->stmts[GW_STORE__OUTBOX_LIST], 1, limit);
    return outbox_list_of(st, GW_STORE__OUTBOX_LIST, items);
}

int gw_store_outbox_for_parent(struct gw_store *st, const char *account,
                               const char *parent, int limit,
                               struct gw_outbox_item **items)
{
    if (st == NULL || items == NULL)
        return UV_EINVAL;
    *items = NULL;
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_FOR_PARENT];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, parent);
    sqlite3_bind_int(s, 3, limit);
    return outbox_list_of(st, GW_STORE__OUTBOX_FOR_PARENT, items);
}

/* After an UPDATE ... WHERE state = 0 changed nothing: say why. */
static int outbox_not_pending(struct gw_store *st, int64_t id)
{
    int64_t state;
    sqlite3_bind_int64(st->stmts[GW_STORE__OUTBOX_STATE], 1, id);
    int rc = gw_store__query_int(st, GW_STORE__OUTBOX_STATE,
                                 "reading an outbox item", &state);
    if (rc == UV_ENOENT)
        return gw_store__fail(st, UV_ENOENT, "there is no outbox item %" PRId64,
                              id);
    if (rc < 0)
        return rc;
    return gw_store__fail(st, UV_EINVAL,
                          "outbox item %" PRId64 " is %s, not pending", id,
                          state == GW_OUTBOX_SENT ? "sent" : "failed");
}

static int outbox_update(struct gw_store *st, enum gw_store__sid sid,
                         int64_t id)
{
    int rc = gw_store__run(st, sid, "updating an outbox item");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return outbox_not_pending(st, id);
    return rc;
}

int gw_store_outbox_retry_at(struct gw_store *st, int64_t id, int64_t next_ms,
                             const char *error, bool maybe)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_RETRY];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, next_ms);
    gw_store__bind_text(s, 3, error);
    sqlite3_bind_int(s, 4, maybe ? 1 : 0);
    return outbox_update(st, GW_STORE__OUTBOX_RETRY, id);
}

int gw_store_outbox_wake(struct gw_store *st, const char *account,
                         int64_t now_ms)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_WAKE];
    gw_store__bind_text(s, 1, account);
    sqlite3_bind_int64(s, 2, now_ms);
    return gw_store__run(st, GW_STORE__OUTBOX_WAKE, "waking the outbox");
}

int gw_store_outbox_sent(struct gw_store *st, int64_t id, const char *result)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_SENT];
    sqlite3_bind_int64(s, 1, id);
    gw_store__bind_text(s, 2, result);
    return outbox_update(st, GW_STORE__OUTBOX_SENT, id);
}

int gw_store_outbox_failed(struct gw_store *st, int64_t id, const char *error)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_FAILED];
    sqlite3_bind_int64(s, 1, id);
    gw_store__bind_text(s, 2, error);
    return outbox_update(st, GW_STORE__OUTBOX_FAILED, id);
}

int gw_store_outbox_requeue(struct gw_store *st, int64_t id)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__OUTBOX_REQUEUE];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int64(s, 2, gw_now_ms());
    int rc = gw_store__run(st, GW_STORE__OUTBOX_REQUEUE,
                           "requeueing an outbox item");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return gw_store__fail(st, UV_ENOENT,
                              "there is no unsent outbox item %" PRId64, id);
    return rc;
}

int gw_store_outbox_depth(struct gw_store *st, const char *account,
                          int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    gw_store__bind_text_or_null(st->stmts[GW_STORE__OUTBOX_DEPTH], 1, account);
    return gw_store__query_int(st, GW_STORE__OUTBOX_DEPTH,
                               "counting the outbox", count);
}
