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

/* May c read target's history? Channels it is in; queries with people of
 * the networks and with the bot (the gateway is shared by its users). */
static bool may_read(struct gw_ircd *d, struct gw_client *c, const char *target)
{
    if (is_channel(target))
        return gw_ircd_is_member(d, target, c);
    return gw_ircd_is_puppet(d, target) || gw_strcasecmp(target, BOT_NICK) == 0;
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
 * The history id a reference points at. For a time, the first line at or
 * after it (*found false when there is none: "after the end"). For a msgid,
 * UV_ENOENT when unknown.
 */
static int ref_id(struct gw_ircd *d, const char *target, const struct ref *ref,
                  int64_t *id, bool *found)
{
    *found = true;
    if (ref->kind == REF_MSGID)
        return gw_store_history_find(store(d), target, ref->msgid, id);
    int rc = gw_store_history_at(store(d), target, ref->time_ms, id);
    if (rc == UV_ENOENT) {
        *found = false;
        return gw_store_history_last_id(store(d), id) == 0 ? 0 : rc;
    }
    return rc;
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
        /* In a query, what the person (or the bot) said was addressed to
         * the reader; what a user typed was addressed to the person. */
        if (!is_channel(h->target)) {
            size_t nl = strcspn(h->prefix, "!");
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
        if (!may_read(d, c, rows[i].target))
            continue;
        char ts[32];
        gw_format_time(rows[i].time_ms, ts, sizeof(ts));
        struct gw_out o;
        memset(&o, 0, sizeof(o));
        o.command = "CHATHISTORY";
        o.params[0] = "TARGETS";
        o.params[1] = rows[i].target;
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
        (a.kind == REF_NONE && !latest_cmd)) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_MSGREFTYPE", sub,
                     "References are msgid=..., timestamp=... or * (LATEST)");
        return;
    }
    if (!may_read(d, c, target)) {
        gw_ircd_fail(c, "CHATHISTORY", "INVALID_TARGET", sub,
                     "No history for %s", target);
        return;
    }
    char t[GW_CHANNEL_MAX + 1];
    gw_strlcpy(t, target, sizeof(t));
    gw_strlower(t);

    int64_t after = 0, before = 0; /* exclusive bounds; 0: none */
    bool newest = false;           /* take the last limit rows of the range */
    int64_t id = 0;
    bool found = true;
    int n = 0;
    struct gw_history_row *rows = NULL;
    if (latest_cmd) {
        newest = true;
        if (a.kind != REF_NONE) {
            if (ref_id(d, t, &a, &id, &found) < 0)
                goto send;
            /* LATEST after a reference: lines newer than it. */
            after = found ? (a.kind == REF_MSGID ? id : id - 1) : id;
        }
    } else if (gw_strcasecmp(sub, "BEFORE") == 0) {
        newest = true;
        if (ref_id(d, t, &a, &id, &found) < 0)
            goto send;
        before = found ? id : id + 1;
    } else if (gw_strcasecmp(sub, "AFTER") == 0) {
        if (ref_id(d, t, &a, &id, &found) < 0 || !found)
            goto send;
        after = a.kind == REF_MSGID ? id : id - 1;
        if (a.kind == REF_TIME) {
            /* Strictly after the time: skip lines at exactly it. */
            struct ref next = a;
            next.time_ms++;
            if (ref_id(d, t, &next, &id, &found) < 0 || !found)
                goto send;
            after = id - 1;
        }
    } else if (gw_strcasecmp(sub, "AROUND") == 0) {
        if (ref_id(d, t, &a, &id, &found) < 0)
            goto send;
        /* Half before (the reference included), half after. */
        struct gw_history_row *lo = NULL, *hi = NULL;
        long half = limit / 2;
        int nlo = gw_store_history_range(store(d), t, 0, id + 1,
                                         (int)(limit - half), true, &lo);
        int nhi =
            gw_store_history_range(store(d), t, id, 0, (int)half, false, &hi);
        nlo = nlo > 0 ? nlo : 0;
        nhi = nhi > 0 ? nhi : 0;
        rows = gw_xcalloc((size_t)(nlo + nhi) + 1, sizeof(*rows));
        memcpy(rows, lo, sizeof(*rows) * (size_t)nlo);
        memcpy(rows + nlo, hi, sizeof(*rows) * (size_t)nhi);
        free(lo);
        free(hi);
        n = nlo + nhi;
        goto send;
    } else { /* BETWEEN */
        int64_t ia, ib;
        bool fa, fb;
        if (ref_id(d, t, &a, &ia, &fa) < 0 || ref_id(d, t, &b, &ib, &fb) < 0)
            goto send;
        if (!fa)
            ia++;
        if (!fb)
            ib++;
        /* Reversed bounds ask for the newest lines first, but batches are
         * always oldest first. */
        newest = ia > ib;
        after = ia < ib ? ia : ib;
        before = ia < ib ? ib : ia;
        if (a.kind == REF_TIME && ia < ib)
            after = ia - 1;
        if (b.kind == REF_TIME && ib < ia)
            after = ib - 1;
    }
    n = gw_store_history_range(store(d), t, after, before, (int)limit, newest,
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
