/*
 * Posts and their refs: storing each once, finding one by ref, by network
 * id or as an author's latest in a target, and the inbox state (open,
 * claimed, done).
 */
#include "gw_store.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

#define POST_COLS                                                              \
    "id, account, network_id, kind, author, author_name, author_url, url, "    \
    "text, conversation, in_reply_to, target, extra, created_ms, stored_ms, "  \
    "state, claimer, answered_by, author_id, audience, cw, mentions"

/* This file's statements; gw_store.c prepares them at open (see enum
 * gw_store__sid). */
const char *const gw_store__post_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__POST_FIND] =
        "SELECT id, stored_ms FROM posts "
        "WHERE account = ?1 AND network_id = ?2 AND kind = ?3",
    [GW_STORE__POST_INSERT] =
        "INSERT INTO posts (account, network_id, kind, author, author_name, "
        "author_url, url, text, conversation, in_reply_to, target, extra, "
        "created_ms, stored_ms, state, claimer, answered_by, author_id, "
        "audience, cw, mentions) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
        "?15, ?16, ?17, ?18, ?19, ?20, ?21) "
        "ON CONFLICT (account, network_id, kind) DO NOTHING",
    /* Ids only grow: the newest post is the one just inserted. */
    [GW_STORE__POST_LAST_UPDATE] =
        "UPDATE posts_last SET id = ?3 "
        "WHERE target = lower(?1) AND author = lower(?2)",
    [GW_STORE__POST_LAST_INSERT] =
        "INSERT INTO posts_last (target, author, id) "
        "VALUES (lower(?1), lower(?2), ?3)",
    [GW_STORE__POST_SEQ_UPDATE] = "UPDATE sqlite_sequence SET seq = ?1 "
                                  "WHERE name = 'posts' AND seq < ?1",
    [GW_STORE__POST_SEQ_INSERT] =
        "INSERT INTO sqlite_sequence (name, seq) "
        "SELECT 'posts', ?1 WHERE NOT EXISTS "
        "(SELECT 1 FROM sqlite_sequence WHERE name = 'posts')",
    [GW_STORE__POST_BY_ID] = "SELECT " POST_COLS " FROM posts WHERE id = ?1",
    [GW_STORE__POST_BY_NETID] = "SELECT " POST_COLS " FROM posts "
                                "WHERE account = ?1 AND network_id = ?2 "
                                "ORDER BY id LIMIT 1",
    [GW_STORE__POST_LATEST_BY] =
        "SELECT " POST_COLS " FROM posts WHERE id = "
        "(SELECT id FROM posts_last "
        "WHERE target = lower(?1) AND author = lower(?2))",
    /* Claiming names the claimer, done names who answered, reopening
     * clears both; GW_POST_NONE leaves the names alone. */
    [GW_STORE__POST_SET_STATE] =
        "UPDATE posts SET state = ?2, "
        "claimer = CASE ?2 WHEN 2 THEN ?3 WHEN 1 THEN '' ELSE claimer END, "
        "answered_by = CASE ?2 WHEN 3 THEN ?3 WHEN 1 THEN '' "
        "ELSE answered_by END WHERE id = ?1",
    [GW_STORE__POST_SET_TEXT] = "UPDATE posts SET text = ?2 WHERE id = ?1",
    [GW_STORE__POST_PENDING] = "SELECT " POST_COLS " FROM posts "
                               "WHERE state IN (1, 2) "
                               "AND (?1 IS NULL OR account = ?1) "
                               "ORDER BY created_ms, id LIMIT ?2",
    [GW_STORE__POST_PENDING_COUNT] = "SELECT count(*) FROM posts "
                                     "WHERE state IN (1, 2) "
                                     "AND (?1 IS NULL OR account = ?1)",
    [GW_STORE__POST_OPEN_DMS] = "SELECT " POST_COLS " FROM posts "
                                "WHERE state IN (1, 2) AND account = ?1 "
                                "AND kind = 'dm' AND author_id = ?2 "
                                "AND id <= ?3 ORDER BY id LIMIT ?4",
    [GW_STORE__POST_COUNT] = "SELECT count(*) FROM posts",
};

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
    free(p->author_id);
    free(p->cw);
    free(p->mentions);
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
    p->account = gw_store__col_str(s, 1);
    p->network_id = gw_store__col_str(s, 2);
    p->kind = gw_store__col_str(s, 3);
    p->author = gw_store__col_str(s, 4);
    p->author_name = gw_store__col_str(s, 5);
    p->author_url = gw_store__col_str(s, 6);
    p->url = gw_store__col_str(s, 7);
    p->text = gw_store__col_str(s, 8);
    p->conversation = gw_store__col_str(s, 9);
    p->in_reply_to = gw_store__col_str(s, 10);
    p->target = gw_store__col_str(s, 11);
    p->extra = gw_store__col_str(s, 12);
    p->created_ms = sqlite3_column_int64(s, 13);
    p->stored_ms = sqlite3_column_int64(s, 14);
    p->state = post_state(sqlite3_column_int64(s, 15));
    p->claimer = gw_store__col_str(s, 16);
    p->answered_by = gw_store__col_str(s, 17);
    p->author_id = gw_store__col_str(s, 18);
    p->audience = sqlite3_column_int(s, 19);
    p->cw = gw_store__col_str(s, 20);
    p->mentions = gw_store__col_str(s, 21);
}

static void post_clear(void *elem)
{
    gw_post_free(elem);
}

/* Fill *out from the single-row statement id: 0, UV_ENOENT or an error. */
static int post_one(struct gw_store *st, enum gw_store__sid id,
                    const char *what, struct gw_post *out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW)
        post_fill(s, out);
    else if (rc == SQLITE_DONE)
        ret = UV_ENOENT;
    else
        ret = gw_store__db_fail(st, rc, what);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

/* 1 and id/stored set when (account, network_id, kind) is stored, else 0. */
static int post_find(struct gw_store *st, const char *account,
                     const char *netid, const char *kind, int64_t *id,
                     int64_t *stored)
{
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_FIND];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, netid);
    gw_store__bind_text(s, 3, kind);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s, 0);
        *stored = sqlite3_column_int64(s, 1);
        ret = 1;
    } else if (rc != SQLITE_DONE) {
        ret = gw_store__db_fail(st, rc, "looking up a post");
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
    sqlite3_bind_int64(st->stmts[GW_STORE__POST_SEQ_UPDATE], 1, st->post_hw);
    int rc = gw_store__run(st, GW_STORE__POST_SEQ_UPDATE,
                           "advancing the ref counter");
    if (rc == 0) {
        sqlite3_bind_int64(st->stmts[GW_STORE__POST_SEQ_INSERT], 1,
                           st->post_hw);
        rc = gw_store__run(st, GW_STORE__POST_SEQ_INSERT,
                           "advancing the ref counter");
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

/* Who wrote it, by what never changes; the handle where no id was given. */
static const char *post_author_id(const struct gw_post *p)
{
    return p->author_id != NULL && *p->author_id ? p->author_id : p->author;
}

static int post_last_run(struct gw_store *st, enum gw_store__sid sid,
                         const struct gw_post *p, int64_t id)
{
    gw_store__bind_text(st->stmts[sid], 1, p->target);
    gw_store__bind_text(st->stmts[sid], 2, post_author_id(p));
    sqlite3_bind_int64(st->stmts[sid], 3, id);
    return gw_store__run(st, sid, "storing a post");
}

/* An UPDATE that nearly always finds its row, else an INSERT: an UPSERT
 * looked the key up three times. */
static int post_last_set(struct gw_store *st, const struct gw_post *p,
                         int64_t id)
{
    int rc = post_last_run(st, GW_STORE__POST_LAST_UPDATE, p, id);
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = post_last_run(st, GW_STORE__POST_LAST_INSERT, p, id);
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
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_INSERT];
    gw_store__bind_text(s, 1, p->account);
    gw_store__bind_text_or_null(s, 2, netid);
    gw_store__bind_text(s, 3, p->kind);
    gw_store__bind_text(s, 4, p->author);
    gw_store__bind_text(s, 5, p->author_name);
    gw_store__bind_text(s, 6, p->author_url);
    gw_store__bind_text(s, 7, p->url);
    gw_store__bind_text(s, 8, p->text);
    gw_store__bind_text(s, 9, p->conversation);
    gw_store__bind_text(s, 10, p->in_reply_to);
    gw_store__bind_text(s, 11, p->target);
    gw_store__bind_text(s, 12, p->extra);
    sqlite3_bind_int64(s, 13, p->created_ms);
    sqlite3_bind_int64(s, 14, stored);
    sqlite3_bind_int(s, 15, (int)post_state(p->state));
    gw_store__bind_text(s, 16, p->claimer);
    gw_store__bind_text(s, 17, p->answered_by);
    gw_store__bind_text(s, 18, post_author_id(p));
    sqlite3_bind_int(s, 19, p->audience);
    gw_store__bind_text(s, 20, p->cw);
    gw_store__bind_text(s, 21, p->mentions);
    rc = gw_store__run(st, GW_STORE__POST_INSERT, "storing a post");
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
        return gw_store__fail(st, UV_EIO,
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
        return gw_store__fail(st, UV_EINVAL, "\"%s\" is not a ref",
                              ref ? ref : "");
    sqlite3_bind_int64(st->stmts[GW_STORE__POST_BY_ID], 1, id);
    int rc = post_one(st, GW_STORE__POST_BY_ID, "reading a post", out);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "there is no post %s", ref);
    return rc;
}

int gw_store_post_by_netid(struct gw_store *st, const char *account,
                           const char *network_id, struct gw_post *out)
{
    if (st == NULL || account == NULL || network_id == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_BY_NETID];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, network_id);
    int rc = post_one(st, GW_STORE__POST_BY_NETID, "reading a post", out);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "account %s has no post %s", account,
                       network_id);
    return rc;
}

int gw_store_post_latest_by(struct gw_store *st, const char *target,
                            const char *author, struct gw_post *out)
{
    if (st == NULL || target == NULL || author == NULL || out == NULL)
        return UV_EINVAL;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_LATEST_BY];
    gw_store__bind_text(s, 1, target);
    gw_store__bind_text(s, 2, author);
    int rc = post_one(st, GW_STORE__POST_LATEST_BY, "reading a post", out);
    if (rc == UV_ENOENT)
        gw_store__fail(st, rc, "no post by %s in %s", author, target);
    return rc;
}

int gw_store_post_set_state(struct gw_store *st, int64_t id,
                            enum gw_post_state state, const char *who)
{
    if (st == NULL)
        return UV_EINVAL;
    if (state != GW_POST_NONE && state != GW_POST_OPEN &&
        state != GW_POST_CLAIMED && state != GW_POST_DONE)
        return gw_store__fail(st, UV_EINVAL, "unknown post state %d",
                              (int)state);
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_SET_STATE];
    sqlite3_bind_int64(s, 1, id);
    sqlite3_bind_int(s, 2, (int)state);
    gw_store__bind_text(s, 3, who);
    int rc = gw_store__run(st, GW_STORE__POST_SET_STATE, "updating a post");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return gw_store__fail(st, UV_ENOENT,
                              "there is no post with id %" PRId64, id);
    return rc;
}

int gw_store_post_set_text(struct gw_store *st, int64_t id, const char *text)
{
    if (st == NULL)
        return UV_EINVAL;
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_SET_TEXT];
    sqlite3_bind_int64(s, 1, id);
    gw_store__bind_text(s, 2, text);
    int rc = gw_store__run(st, GW_STORE__POST_SET_TEXT, "updating a post");
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        return gw_store__fail(st, UV_ENOENT,
                              "there is no post with id %" PRId64, id);
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
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_PENDING];
    gw_store__bind_text_or_null(s, 1, account);
    sqlite3_bind_int(s, 2, limit);
    int n =
        gw_store__collect(st, GW_STORE__POST_PENDING, "listing pending posts",
                          sizeof(struct gw_post), post_fill, post_clear, &arr);
    *rows = arr;
    return n;
}

int gw_store_post_pending_count(struct gw_store *st, const char *account,
                                int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    gw_store__bind_text_or_null(st->stmts[GW_STORE__POST_PENDING_COUNT], 1,
                                account);
    return gw_store__query_int(st, GW_STORE__POST_PENDING_COUNT,
                               "counting pending posts", count);
}

int gw_store_post_open_dms(struct gw_store *st, const char *account,
                           const char *author_id, int64_t upto, int limit,
                           struct gw_post **rows)
{
    void *arr;
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    sqlite3_stmt *s = st->stmts[GW_STORE__POST_OPEN_DMS];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, author_id);
    sqlite3_bind_int64(s, 3, upto);
    sqlite3_bind_int(s, 4, limit);
    int n =
        gw_store__collect(st, GW_STORE__POST_OPEN_DMS, "listing open DMs",
                          sizeof(struct gw_post), post_fill, post_clear, &arr);
    *rows = arr;
    return n;
}

int gw_store_post_count(struct gw_store *st, int64_t *count)
{
    if (st == NULL || count == NULL)
        return UV_EINVAL;
    return gw_store__query_int(st, GW_STORE__POST_COUNT, "counting posts",
                               count);
}
