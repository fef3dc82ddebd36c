/*
 * History for modern clients: CHATHISTORY (draft/chathistory) and MARKREAD
 * (draft/read-marker), both served from the store (the router keeps the
 * history; this file reads it), and the client certificates that stand
 * for accounts (SASL EXTERNAL). Lines are ordered by
 * their history id, the order in which Parley showed them; a timestamp
 * reference means "the first line at or after that time".
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_gateway.h"
#include "gw_limits.h"
#include "gw_router.h"
#include "gw_store.h"

static struct gw_store *store(struct gw_ircd *d)
{
    return d->gw->store;
}

static bool is_channel(const char *t)
{
    return t[0] == '#' || t[0] == '&';
}

void gw_ircd__query_key(const char *a, const char *b, char *buf, size_t size)
{
    /* One key for both directions: the two nicks in order, lower case. */
    char x[GW_NICK_MAX + 1], y[GW_NICK_MAX + 1];
    gw_strlcpy(x, a, sizeof(x));
    gw_strlcpy(y, b, sizeof(y));
    gw_strlower(x);
    gw_strlower(y);
    bool swap = strcmp(x, y) > 0;
    snprintf(buf, size, "%s,%s", swap ? y : x, swap ? x : y);
}

/* Is target one of the router's (the bot, a person of the networks)
 * rather than someone here? A person who quit for quiet is known again. */
static bool router_person(struct gw_ircd *d, const char *target)
{
    return gw_strcasecmp(target, BOT_NICK) == 0 ||
           gw_ircd_is_puppet(d, target) ||
           gw_router_person_back(d->gw->router, target);
}

/* Where target's history is kept for c: a channel, the nick of the bot or
 * of a person of the networks, or the conversation of c with someone
 * here. False when c may not read it: a channel it is not in. */
static bool history_key(struct gw_client *c, const char *target, char *key,
                        size_t size)
{
    struct gw_ircd *d = c->d;
    if (is_channel(target)) {
        struct gw_channel *ch = gw_ircd__find_channel(d, target);
        if (ch == NULL || !gw_ircd__is_member(ch, c))
            return false;
        snprintf(key, size, "%s%s", (ch->flags & GW_CHAN_MANAGED) ? "" : ",",
                 ch->name);
        gw_strlower(key);
    } else if (router_person(d, target)) {
        gw_strlcpy(key, target, size);
        gw_strlower(key);
    } else {
        gw_ircd__query_key(c->nick, target, key, size);
    }
    return true;
}

/* The other one of a conversation key ("alice,bob" for alice: "bob"), or
 * NULL when it is not c's. */
static const char *other_of(const struct gw_client *c, const char *key,
                            char *buf, size_t size)
{
    const char *comma = strchr(key, ',');
    if (comma == NULL)
        return NULL;
    size_t n = strlen(c->nick);
    if ((size_t)(comma - key) == n && gw_strncasecmp(key, c->nick, n) == 0)
        gw_strlcpy(buf, comma + 1, size);
    else if (gw_strcasecmp(comma + 1, c->nick) == 0)
        snprintf(buf, size, "%.*s", (int)(comma - key), key);
    else
        return NULL;
    return buf;
}

/* May c see that key has history (CHATHISTORY TARGETS)? As whom: the
 * channel, the person, or the other one of its conversation. */
static const char *target_of(struct gw_client *c, const char *key, char *buf,
                             size_t size)
{
    const char *chan = key[0] == ',' ? key + 1 : key;
    if (is_channel(chan))
        return gw_ircd_is_member(c->d, chan, c) ? chan : NULL;
    if (strchr(key, ','))
        return other_of(c, key, buf, size);
    return key;
}

enum ref_kind { REF_NONE, REF_MSGID, REF_TIME, REF_BAD };

struct ref {
    enum ref_kind kind;
    const char *msgid;
    int64_t time_ms;
};

static struct ref parse_ref(const char *s)
{
    struct ref r = {REF_BAD, NULL, 0};
    if (strcmp(s, "*") == 0) {
        r.kind = REF_NONE;
    } else if (strncmp(s, "msgid=", 6) == 0 && s[6]) {
        r.kind = REF_MSGID;
        r.msgid = s + 6;
    } else if (strncmp(s, "timestamp=", 10) == 0 &&
               gw_parse_time(s + 10, &r.time_ms) == 0) {
        r.kind = REF_TIME;
    }
    return r;
}

/*
 * Where a reference stands in the history, as the bounds of what lies
 * after it (*lo) and before it (*hi), both exclusive: a msgid is its own
 * line (time and id), a timestamp every line at that time. UV_ENOENT: an
 * unknown msgid.
 */
static int ref_bounds(struct gw_ircd *d, const char *key, const struct ref *r,
                      struct gw_history_pos *lo, struct gw_history_pos *hi)
{
    if (r->kind == REF_MSGID) {
        int rc = gw_store_history_find(store(d), key, r->msgid, lo);
        *hi = *lo;
        return rc;
    }
    lo->time_ms = hi->time_ms = r->time_ms;
    lo->id = INT64_MAX;
    hi->id = INT64_MIN;
    return 0;
}

static bool pos_less(const struct gw_history_pos *a,
                     const struct gw_history_pos *b)
{
    return a->time_ms < b->time_ms ||
           (a->time_ms == b->time_ms && a->id < b->id);
}

/* Send rows to c in a chathistory batch, each line as it was shown. */
static void send_batch(struct gw_client *c, const char *target,
                       struct gw_history_row *rows, int n)
{
    char id[24];
    gw_ircd_batch_start(c, id, sizeof(id), "chathistory", target);
    for (int i = 0; i < n; i++) {
        struct gw_history_row *h = &rows[i];
        struct gw_out o;
        memset(&o, 0, sizeof(o));
        o.prefix = h->prefix;
        o.command = h->command;
        o.params[0] = h->target;
        o.params[1] = h->text;
        o.nparams = 2;
        o.time_ms = h->time_ms;
        o.msgid = h->msgid;
        o.batch = id;
        size_t nl = strcspn(h->prefix, "!");
        char to[GW_NICK_MAX + 1];
        if (h->target[0] == ',') {
            o.params[0] = target; /* a channel people made */
        } else if (strchr(h->target, ',')) {
            /* A conversation between two people here: each line went to
             * the one who did not say it. */
            const char *comma = strchr(h->target, ',');
            bool first = (size_t)(comma - h->target) == nl &&
                         gw_strncasecmp(h->prefix, h->target, nl) == 0;
            if (first)
                gw_strlcpy(to, comma + 1, sizeof(to));
            else
                snprintf(to, sizeof(to), "%.*s", (int)(comma - h->target),
                         h->target);
            o.params[0] = to;
        } else if (!is_channel(h->target)) {
            /* In a query, what the person (or the bot) said was addressed
             * to the reader; what a user typed was addressed to the
             * person. */
            bool from_them = (nl == strlen(h->target) &&
                              gw_strncasecmp(h->prefix, h->target, nl) == 0) ||
                             (nl == strlen(BOT_NICK) &&
                              strncmp(h->prefix, BOT_NICK, nl) == 0);
            o.to_each_nick = from_them;
        }
        gw_ircd_send(c, &o);
    }
    gw_ircd_batch_end(c, id);
}

static void targets(struct gw_ircd *d, struct gw_client *c,
                    const struct gw_irc_msg *m)
{
    if (m->nparams < 4) {
        gw_ircd_fail(c, "CHATHISTORY", "NEED_MORE_PARAMS", "TARGETS",
                     "TARGETS needs two timestamps and a limit");
        return;
    }
    struct ref a = parse_ref(m->params[1]), b = parse_ref(m->params[2]);
    long limit;
    if (a.kind != REF_TIME || b.kind != REF_TIME ||
        gw_parse_long(m->params[3], 1, 100000, &limit) < 0) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_PARAMS", "TARGETS",
                     "TARGETS takes timestamp=... timestamp=... limit");
        return;
    }
    if (limit > GW_CHATHISTORY_MAX)
        limit = GW_CHATHISTORY_MAX;
    struct gw_history_row *rows = NULL;
    int n = gw_store_history_targets(store(d), a.time_ms, b.time_ms,
                                     (int)limit * 4, &rows);
    char id[24];
    gw_ircd_batch_start(c, id, sizeof(id), "draft/chathistory-targets", NULL);
    int sent = 0;
    for (int i = 0; i < n && sent < limit; i++) {
        char other[GW_NICK_MAX + 1];
        const char *target = target_of(c, rows[i].target, other, sizeof(other));
        if (target == NULL)
            continue;
        char ts[32];
        gw_format_time(rows[i].time_ms, ts, sizeof(ts));
        struct gw_out o;
        memset(&o, 0, sizeof(o));
        o.command = "CHATHISTORY";
        o.params[0] = "TARGETS";
        o.params[1] = target;
        char tsp[48];
        snprintf(tsp, sizeof(tsp), "timestamp=%s", ts);
        o.params[2] = tsp;
        o.nparams = 3;
        o.batch = id;
        gw_ircd_send(c, &o);
        sent++;
    }
    gw_ircd_batch_end(c, id);
    gw_history_rows_free(rows, n > 0 ? n : 0);
}

/* AROUND: half before the reference (a msgid's own line included), half
 * after it. */
static int around(struct gw_ircd *d, const char *key, const struct ref *r,
                  long limit, struct gw_history_row **rows)
{
    struct gw_history_pos lo, hi;
    if (ref_bounds(d, key, r, &lo, &hi) < 0)
        return 0;
    struct gw_history_pos upto = lo;
    if (r->kind == REF_MSGID)
        upto.id++;
    struct gw_history_row *a = NULL, *b = NULL;
    long half = limit / 2;
    int na = gw_store_history_page(store(d), key, NULL, &upto,
                                   (int)(limit - half), true, &a);
    int nb =
        gw_store_history_page(store(d), key, &lo, NULL, (int)half, false, &b);
    na = na > 0 ? na : 0;
    nb = nb > 0 ? nb : 0;
    *rows = gw_xcalloc((size_t)(na + nb) + 1, sizeof(**rows));
    memcpy(*rows, a, sizeof(**rows) * (size_t)na);
    memcpy(*rows + na, b, sizeof(**rows) * (size_t)nb);
    free(a);
    free(b);
    return na + nb;
}

/*
 * Lines are paged in the order of their time, then of their id (the order
 * they were stored): a post fetched after a restart keeps its own, older
 * time. A timestamp reference excludes every line at that time; a msgid
 * reference excludes its own line (AROUND includes it).
 */
void gw_ircd__chathistory(struct gw_client *c, const struct gw_irc_msg *m)
{
    struct gw_ircd *d = c->d;
    if (m->nparams == 0) {
        /* Standard replies, as the draft asks, rather than 461. */
        gw_ircd_fail(c, "CHATHISTORY", "NEED_MORE_PARAMS", NULL,
                     "Missing parameters");
        return;
    }
    gw_router_commit(d->gw->router);
    const char *sub = m->params[0];
    if (gw_strcasecmp(sub, "TARGETS") == 0) {
        targets(d, c, m);
        return;
    }
    bool between = gw_strcasecmp(sub, "BETWEEN") == 0;
    int need = between ? 5 : 4;
    static const char *const subs[] = {"LATEST", "BEFORE", "AFTER", "AROUND",
                                       "BETWEEN"};
    bool known = false;
    for (size_t i = 0; i < GW_ARRAY_LEN(subs); i++)
        known |= gw_strcasecmp(sub, subs[i]) == 0;
    if (!known) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_PARAMS", sub,
                     "Unknown subcommand");
        return;
    }
    if (m->nparams < need) {
        gw_ircd_fail(c, "CHATHISTORY", "NEED_MORE_PARAMS", sub,
                     "Missing parameters");
        return;
    }
    const char *target = m->params[1];
    long limit;
    if (gw_parse_long(m->params[need - 1], 1, 100000, &limit) < 0) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_PARAMS", sub,
                     "The limit must be a positive number");
        return;
    }
    if (limit > GW_CHATHISTORY_MAX)
        limit = GW_CHATHISTORY_MAX;
    struct ref a = parse_ref(m->params[2]);
    struct ref b = between ? parse_ref(m->params[3]) : a;
    bool latest_cmd = gw_strcasecmp(sub, "LATEST") == 0;
    if (a.kind == REF_BAD || b.kind == REF_BAD ||
        (a.kind == REF_NONE && !latest_cmd) ||
        (between && b.kind == REF_NONE)) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_MSGREFTYPE", sub,
                     "References are msgid=..., timestamp=... or * (LATEST)");
        return;
    }
    char key[GW_IRCD_HISTORY_KEY_MAX];
    if (!history_key(c, target, key, sizeof(key))) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_TARGET", sub,
                     "No history for %s", target);
        return;
    }

    struct gw_history_pos alo, ahi, blo, bhi;
    const struct gw_history_pos *after = NULL, *before = NULL;
    bool newest = false; /* take the last limit lines of the range */
    int n = 0;
    struct gw_history_row *rows = NULL;
    if (gw_strcasecmp(sub, "AROUND") == 0) {
        n = around(d, key, &a, limit, &rows);
        goto send;
    }
    if (a.kind != REF_NONE && ref_bounds(d, key, &a, &alo, &ahi) < 0)
        goto send; /* an unknown msgid: nothing around it */
    if (latest_cmd) {
        newest = true;
        after = a.kind != REF_NONE ? &alo : NULL;
    } else if (gw_strcasecmp(sub, "BEFORE") == 0) {
        newest = true;
        before = &ahi;
    } else if (gw_strcasecmp(sub, "AFTER") == 0) {
        after = &alo;
    } else { /* BETWEEN */
        if (ref_bounds(d, key, &b, &blo, &bhi) < 0)
            goto send;
        /* Reversed bounds ask for the newest lines first, but batches are
         * always oldest first. */
        newest = pos_less(&blo, &alo);
        after = newest ? &blo : &alo;
        before = newest ? &ahi : &bhi;
    }
    n = gw_store_history_page(store(d), key, after, before, (int)limit, newest,
                              &rows);
send:
    send_batch(c, target, rows, n > 0 ? n : 0);
    gw_history_rows_free(rows, n > 0 ? n : 0);
}

/* ---- read markers ---------------------------------------------------- */

static void marker_key(const struct gw_client *c, const char *target, char *buf,
                       size_t size)
{
    snprintf(buf, size, "markread:%s:%s", gw_client_nick(c), target);
    gw_strlower(buf);
}

static void send_marker(struct gw_client *c, const char *target, const char *ts)
{
    if (ts)
        gw_ircd_server_line(c, "MARKREAD %s timestamp=%s", target, ts);
    else
        gw_ircd_server_line(c, "MARKREAD %s *", target);
}

struct marker_walk {
    struct gw_client *from;
    const char *target;
    const char *ts;
};

static void marker_to_sessions(void *arg, struct gw_client *c)
{
    struct marker_walk *w = arg;
    if (gw_client_same_person(w->from, c) &&
        (gw_client_caps(c) & GW_CAP_READ_MARKER))
        send_marker(c, w->target, w->ts);
}

void gw_ircd__markread(struct gw_client *c, const struct gw_irc_msg *m)
{
    struct gw_ircd *d = c->d;
    if (m->nparams == 0) {
        gw_ircd_fail(c, "MARKREAD", "NEED_MORE_PARAMS", NULL,
                     "Missing parameters");
        return;
    }
    const char *target = m->params[0];
    if (strlen(target) > GW_CHANNEL_MAX || strchr(target, ',')) {
        gw_ircd_fail(c, "MARKREAD", "INVALID_PARAMS", target, "Invalid target");
        return;
    }
    char key[160], *cur = NULL;
    marker_key(c, target, key, sizeof(key));
    gw_store_kv_get(store(d), key, &cur);
    if (m->nparams < 2) {
        send_marker(c, target, cur);
        free(cur);
        return;
    }
    struct ref ref = parse_ref(m->params[1]);
    if (ref.kind != REF_TIME) {
        gw_ircd_fail(c, "MARKREAD", "INVALID_PARAMS", target,
                     "Expected timestamp=YYYY-MM-DDThh:mm:ss.sssZ");
        free(cur);
        return;
    }
    int64_t cur_ms = 0;
    if (cur && gw_parse_time(cur, &cur_ms) == 0 && cur_ms >= ref.time_ms) {
        /* Markers only move forward; tell the client where it is. */
        send_marker(c, target, cur);
        free(cur);
        return;
    }
    free(cur);
    char ts[32];
    gw_format_time(ref.time_ms, ts, sizeof(ts));
    gw_router_commit(d->gw->router);
    if (gw_store_kv_set(store(d), key, ts) < 0) {
        gw_ircd_fail(c, "MARKREAD", "INTERNAL_ERROR", target,
                     "Could not store the marker");
        return;
    }
    struct marker_walk w = {c, target, ts};
    gw_ircd_each_client(d, marker_to_sessions, &w);
}

void gw_ircd__markread_join(struct gw_client *c, const char *channel)
{
    struct gw_ircd *d = c->d;
    char key[160], *cur = NULL;
    marker_key(c, channel, key, sizeof(key));
    gw_store_kv_get(store(d), key, &cur);
    send_marker(c, channel, cur);
    free(cur);
}

/* ---- client certificates ------------------------------------------- */

int gw_ircd__certfp(struct gw_ircd *d, const char *fp, char *account,
                    size_t size)
{
    char key[128], *val = NULL;
    snprintf(key, sizeof(key), "certfp:%s", fp);
    if (gw_store_kv_get(store(d), key, &val) < 0)
        return UV_ENOENT;
    gw_strlcpy(account, val, size);
    free(val);
    return 0;
}

void gw_ircd__certfp_remember(struct gw_ircd *d, const char *fp,
                              const char *account)
{
    char key[128];
    snprintf(key, sizeof(key), "certfp:%s", fp);
    gw_router_commit(d->gw->router);
    gw_store_kv_set(store(d), key, account);
}
