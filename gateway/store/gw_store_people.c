/*
 * The people of the networks and the nicks Parley gave them: one row per
 * (network, author id), the nick unique among them (ASCII case folded, as
 * IRC compares nicks here).
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
