/*
 * The people of the networks and the nicks Parley gave them: one row per
 * (network, author id), the nick unique among them (ASCII case folded, as
 * IRC compares nicks here).
 */
#include "gw_store.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "gw_store_int.h"
#include "gw_util.h"

/* This file's statements; gw_store.c prepares them at open (see enum
 * gw_store__sid). */
const char *const gw_store__people_sql[GW_STORE__STMT_COUNT] = {
    [GW_STORE__PERSON_GET] = "SELECT network, author_id, handle, nick "
                             "FROM people WHERE network = ?1 "
                             "AND author_id = ?2",
    [GW_STORE__PERSON_BY_NICK] = "SELECT network, author_id, handle, nick "
                                 "FROM people WHERE lower(nick) = lower(?1)",
    [GW_STORE__PERSON_PUT] =
        "INSERT INTO people (network, author_id, handle, nick) "
        "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (network, author_id) "
        "DO UPDATE SET handle = excluded.handle, nick = excluded.nick",
    /* Only rows of the partial index (open posts) and the id range of the
     * newest posts are read, whatever the store's size. */
    [GW_STORE__PEOPLE_OPEN] =
        "SELECT network, author_id, handle, nick FROM ("
        " SELECT pe.network, pe.author_id, pe.handle, pe.nick, o.last "
        " FROM people pe "
        " JOIN (SELECT author_id, max(id) AS last FROM ("
        "   SELECT author_id, id FROM ("
        "    SELECT author_id, id FROM posts INDEXED BY posts_pending "
        "    WHERE state IN (1, 2) AND account = ?1 "
        "    ORDER BY created_ms DESC, id DESC LIMIT ?5) "
        "   UNION ALL "
        "   SELECT author_id, id FROM posts WHERE account = ?1 "
        "   AND id > (SELECT coalesce(max(id), 0) FROM posts) - ?3 "
        "   AND kind IN ('mention', 'reply', 'quote', 'dm')) "
        "  GROUP BY author_id) o ON o.author_id = pe.author_id "
        " WHERE pe.network = ?2 ORDER BY o.last DESC LIMIT ?4) "
        "ORDER BY last",
};

void gw_person_row_free(struct gw_person_row *p)
{
    if (p == NULL)
        return;
    free(p->network);
    free(p->author_id);
    free(p->handle);
    free(p->nick);
    memset(p, 0, sizeof(*p));
}

static int person_one(struct gw_store *st, enum gw_store__sid id,
                      struct gw_person_row *out)
{
    sqlite3_stmt *s = st->stmts[id];
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_ROW) {
        out->network = gw_store__col_str(s, 0);
        out->author_id = gw_store__col_str(s, 1);
        out->handle = gw_store__col_str(s, 2);
        out->nick = gw_store__col_str(s, 3);
    } else if (rc == SQLITE_DONE) {
        ret = UV_ENOENT;
    } else {
        ret = gw_store__db_fail(st, rc, "looking up a person");
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}

int gw_store_person_get(struct gw_store *st, const char *network,
                        const char *author_id, struct gw_person_row *out)
{
    sqlite3_stmt *s = st->stmts[GW_STORE__PERSON_GET];
    gw_store__bind_text(s, 1, network);
    gw_store__bind_text(s, 2, author_id);
    return person_one(st, GW_STORE__PERSON_GET, out);
}

int gw_store_person_by_nick(struct gw_store *st, const char *nick,
                            struct gw_person_row *out)
{
    sqlite3_stmt *s = st->stmts[GW_STORE__PERSON_BY_NICK];
    gw_store__bind_text(s, 1, nick);
    return person_one(st, GW_STORE__PERSON_BY_NICK, out);
}

static void person_fill(sqlite3_stmt *s, void *elem)
{
    struct gw_person_row *p = elem;
    p->network = gw_store__col_str(s, 0);
    p->author_id = gw_store__col_str(s, 1);
    p->handle = gw_store__col_str(s, 2);
    p->nick = gw_store__col_str(s, 3);
}

static void person_clear(void *elem)
{
    gw_person_row_free(elem);
}

void gw_person_rows_free(struct gw_person_row *rows, int n)
{
    for (int i = 0; i < n; i++)
        gw_person_row_free(&rows[i]);
    free(rows);
}

int gw_store_people_open(struct gw_store *st, const char *account,
                         const char *network, int recent, int limit,
                         struct gw_person_row **rows)
{
    void *arr;
    if (st == NULL || rows == NULL)
        return UV_EINVAL;
    *rows = NULL;
    sqlite3_stmt *s = st->stmts[GW_STORE__PEOPLE_OPEN];
    gw_store__bind_text(s, 1, account);
    gw_store__bind_text(s, 2, network);
    sqlite3_bind_int(s, 3, recent);
    sqlite3_bind_int(s, 4, limit);
    /* The newest open posts only: a start-up read every open post of the
     * account (227,000 after a benchmark: 17 MiB more resident, kept). */
    sqlite3_bind_int(s, 5,
                     limit > 0 && limit < INT_MAX / 8 ? limit * 8 : limit);
    int n = gw_store__collect(st, GW_STORE__PEOPLE_OPEN, "listing people",
                              sizeof(struct gw_person_row), person_fill,
                              person_clear, &arr);
    *rows = arr;
    return n;
}

int gw_store_person_put(struct gw_store *st, const char *network,
                        const char *author_id, const char *handle,
                        const char *nick)
{
    sqlite3_stmt *s = st->stmts[GW_STORE__PERSON_PUT];
    gw_store__bind_text(s, 1, network);
    gw_store__bind_text(s, 2, author_id);
    gw_store__bind_text(s, 3, handle);
    gw_store__bind_text(s, 4, nick);
    int rc = sqlite3_step(s);
    int ret = 0;
    if (rc == SQLITE_CONSTRAINT)
        ret = gw_store__fail(st, UV_EEXIST, "the nick %s is taken", nick);
    else if (rc != SQLITE_DONE)
        ret = gw_store__db_fail(st, rc, "storing a person");
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return ret;
}
