/*
 * The team inbox: every incoming mention and DM is open until someone
 * answers it through the gateway or marks it done. Claims put a name on a
 * post (taking a teammate's asks first), !pending lists what is open,
 * !history says who did what, and the double-answer guard holds a second
 * answer to a post someone else answered minutes ago (or is answering right
 * now) until it is confirmed. Every step is logged in the store
 * (inbox_log), so the log survives restarts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_gateway.h"
#include "gw_json.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

/* A second answer within this long of another person's is held. */
#define GUARD_MS (10 * 60 * 1000)
/* !pending lists this many, then says how many more. */
#define PENDING_SHOW 20
/* !history says this many events, then how many more. */
#define HISTORY_SHOW 20
/* Answers held for "!re! REF", per gateway, the oldest forgotten first. */
#define HELD_MAX 32
/* People made present again per account after a restart. */
#define SEAT_MAX    300
#define SEAT_RECENT 200
/* Open DMs of one person answered by one reply at most. */
#define DMS_MAX 100

struct gw_held {
    char person[64];
    char account[64];
    char ref[16];
    char *text;
    int64_t at;
};

/* ---- small words ---------------------------------------------------------
 */

static void clock_of(int64_t ms, char *buf, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%H:%M UTC", &tm);
}

static void age_of(int64_t ms, char *buf, size_t size)
{
    int64_t m = (gw_now_ms() - ms) / 60000;
    if (m < 1)
        snprintf(buf, size, "just now");
    else if (m < 60)
        snprintf(buf, size, "%lld min ago", (long long)m);
    else if (m < 48 * 60)
        snprintf(buf, size, "%lld h ago", (long long)(m / 60));
    else
        snprintf(buf, size, "%lld days ago", (long long)(m / 1440));
}

/* The first words of text on one line, for a notice. */
static void excerpt_of(const char *text, char *buf, size_t size)
{
    char *one = gw_text_one_line(text != NULL ? text : "");
    size_t n = strlen(one);
    size_t cut = gw_text_cut(one, n, size - 4);
    memcpy(buf, one, cut);
    if (cut < n)
        memcpy(buf + cut, "\xE2\x80\xA6", 3), cut += 3;
    buf[cut] = '\0';
    free(one);
}

static bool same_person(const char *a, const char *b)
{
    return a != NULL && b != NULL && gw_strcasecmp(a, b) == 0;
}

static int log_event(struct gw_router *r, const struct gw_post *p,
                     const char *who, const char *what, const char *text)
{
    int rc = gw__group_begin(r);
    if (rc == 0)
        rc = gw_store_inbox_log(gw__store(r), p->id, gw_now_ms(), who, what,
                                text != NULL ? text : "");
    return rc;
}

static void store_failed(struct gw_cmd *x)
{
    gw__cmd_tell(x, "the inbox could not record that: %s",
                 gw_store_errmsg(gw__store(x->r)));
}

/* ---- claims and done -------------------------------------------------- */

static int set_state(struct gw_cmd *x, const struct gw_post *p,
                     enum gw_post_state st, const char *who, const char *what,
                     const char *text)
{
    struct gw_router *r = x->r;
    int rc = gw__group_begin(r);
    if (rc == 0)
        rc = gw_store_post_set_state(gw__store(r), p->id, st, who);
    if (rc == 0)
        rc = log_event(r, p, x->sp->person, what, text);
    if (rc < 0)
        store_failed(x);
    return rc;
}

/* !claim REF [nick] and !claim! REF [nick]: put a name on a post. Taking
 * a teammate's claim, or opening an answered post again, asks first. */
void gw__inbox_claim(struct gw_cmd *x, char *rest, bool force)
{
    struct gw_post p;
    char *ref = gw_next_word(&rest);
    if (!gw__cmd_post(x, ref, &p))
        return;
    char *to = gw_next_word(&rest);
    const char *claimer = to != NULL ? to : x->sp->person;
    char when[32], ago[32];
    if (p.state == GW_POST_NONE) {
        gw__cmd_tell(x, "[%s] is not in the inbox (only mentions and DMs are)",
                     p.ref);
    } else if (p.state == GW_POST_CLAIMED && same_person(p.claimer, claimer)) {
        gw__cmd_tell(x, "[%s] is %s already", p.ref,
                     to != NULL ? "claimed by them" : "yours");
    } else if (!force &&
               (p.state == GW_POST_CLAIMED || p.state == GW_POST_DONE)) {
        struct gw_inbox_event e;
        bool done = p.state == GW_POST_DONE;
        bool known =
            gw_store_inbox_last(gw__store(x->r), p.id,
                                done ? "answered" : "claimed", &e) == 0;
        if (!known && done)
            known = gw_store_inbox_last(gw__store(x->r), p.id, "done", &e) == 0;
        clock_of(known ? e.time_ms : p.stored_ms, when, sizeof(when));
        if (done)
            gw__cmd_tell(x,
                         "[%s] was answered by %s at %s; !claim! %s to open "
                         "it again",
                         p.ref, p.answered_by[0] ? p.answered_by : "someone",
                         when, p.ref);
        else
            gw__cmd_tell(x,
                         "[%s] is claimed by %s since %s; !claim! %s to take "
                         "it",
                         p.ref, p.claimer, when, p.ref);
        if (known) {
            free(e.who);
            free(e.what);
            free(e.text);
        }
    } else {
        char *before =
            p.state == GW_POST_CLAIMED ? gw_xstrdup(p.claimer) : NULL;
        if (set_state(x, &p, GW_POST_CLAIMED, claimer,
                      to != NULL ? "gave" : "claimed", claimer) == 0) {
            age_of(p.created_ms, ago, sizeof(ago));
            if (before != NULL && !same_person(before, claimer))
                /* Named in the channel: the previous holder hears of it. */
                gw__bot_line(x->r, p.target, true,
                             "[%s] claimed by %s (%s, "
                             "was %s's)",
                             p.ref, claimer, to != NULL ? "given" : "taken",
                             before);
            else if (to != NULL)
                gw__bot_line(x->r, p.target, true,
                             "[%s] claimed by %s (given by %s)", p.ref, claimer,
                             x->sp->person);
            else
                gw__bot_line(x->r, p.target, true, "[%s] claimed by %s", p.ref,
                             claimer);
        }
        free(before);
    }
    gw_post_free(&p);
}

/* !done REF: answered elsewhere, or nothing to answer. */
void gw__inbox_done(struct gw_cmd *x, char *rest)
{
    struct gw_post p;
    char *ref = gw_next_word(&rest);
    if (!gw__cmd_post(x, ref, &p))
        return;
    if (p.state == GW_POST_NONE)
        gw__cmd_tell(x, "[%s] is not in the inbox", p.ref);
    else if (p.state == GW_POST_DONE)
        gw__cmd_tell(x, "[%s] is done already (%s)", p.ref,
                     p.answered_by[0] ? p.answered_by : "answered");
    else if (set_state(x, &p, GW_POST_DONE, x->sp->person, "done", NULL) == 0)
        gw__bot_line(x->r, p.target, true, "[%s] marked done by %s", p.ref,
                     x->sp->person);
    gw_post_free(&p);
}

/* ---- what is open ------------------------------------------------------ */

void gw__inbox_pending(struct gw_cmd *x)
{
    struct gw_store *st = gw__store(x->r);
    struct gw_post *rows = NULL;
    int n = gw_store_post_pending(st, x->a->name, PENDING_SHOW, &rows);
    if (n < 0) {
        store_failed(x);
        return;
    }
    if (n == 0) {
        gw__cmd_tell(x, "nothing is waiting for an answer in %s", x->a->name);
        free(rows);
        return;
    }
    int64_t now = gw_now_ms();
    for (int i = 0; i < n; i++) {
        struct gw_post *p = &rows[i];
        int64_t age = (now - p->created_ms) / 60000;
        char agebuf[32];
        if (age < 60)
            snprintf(agebuf, sizeof(agebuf), "%lldm", (long long)age);
        else if (age < 48 * 60)
            snprintf(agebuf, sizeof(agebuf), "%lldh", (long long)(age / 60));
        else
            snprintf(agebuf, sizeof(agebuf), "%lldd", (long long)(age / 1440));
        char excerpt[160];
        excerpt_of(p->text, excerpt, sizeof(excerpt));
        char nick[GW_NICK_MAX + 1];
        gw__nick_of(x->r, x->a->network, p->author_id, p->author, nick,
                    sizeof(nick));
        gw__cmd_tell(x, "[%s] %s %s %s %s%s%s: %s", p->ref, agebuf,
                     x->a->network, p->kind, nick,
                     p->state == GW_POST_CLAIMED ? ", claimed by " : "",
                     p->state == GW_POST_CLAIMED ? p->claimer : "", excerpt);
    }
    int64_t total = n;
    if (n == PENDING_SHOW &&
        gw_store_post_pending_count(st, x->a->name, &total) == 0 && total > n)
        gw__cmd_tell(x, "\xE2\x80\xA6 and %lld more (oldest first)",
                     (long long)(total - n));
    gw_post_rows_free(rows, n);
}

/* !history REF: where it came from, and who did what to it. */
void gw__inbox_history(struct gw_cmd *x, char *rest)
{
    struct gw_post p;
    char *ref = gw_next_word(&rest);
    if (!gw__cmd_post(x, ref, &p))
        return;
    char when[32], nick[GW_NICK_MAX + 1];
    clock_of(p.stored_ms, when, sizeof(when));
    gw__nick_of(x->r, x->a->network, p.author_id, p.author, nick, sizeof(nick));
    const char *state = p.state == GW_POST_OPEN      ? "open"
                        : p.state == GW_POST_CLAIMED ? "claimed"
                        : p.state == GW_POST_DONE    ? "done"
                                                     : "not in the inbox";
    gw__cmd_tell(x, "[%s] %s from %s arrived at %s; now %s", p.ref, p.kind,
                 nick, when, state);
    struct gw_inbox_event *ev = NULL;
    int n =
        gw_store_inbox_history(gw__store(x->r), p.id, HISTORY_SHOW + 1, &ev);
    for (int i = 0; i < n && i < HISTORY_SHOW; i++) {
        char excerpt[200];
        excerpt_of(ev[i].text, excerpt, sizeof(excerpt));
        clock_of(ev[i].time_ms, when, sizeof(when));
        if (strcmp(ev[i].what, "answered") == 0)
            gw__cmd_tell(x, "  %s %s answered: %s", when, ev[i].who, excerpt);
        else if (strcmp(ev[i].what, "gave") == 0)
            gw__cmd_tell(x, "  %s %s gave it to %s", when, ev[i].who, excerpt);
        else
            gw__cmd_tell(x, "  %s %s %s", when, ev[i].who,
                         strcmp(ev[i].what, "done") == 0 ? "marked it done"
                                                         : ev[i].what);
    }
    if (n > HISTORY_SHOW)
        gw__cmd_tell(x, "  \xE2\x80\xA6 and more");
    else if (n == 0)
        gw__cmd_tell(x, "  nobody has done anything with it yet");
    gw_inbox_events_free(ev, n > 0 ? n : 0);
    gw_post_free(&p);
}

/* ---- the double-answer guard ------------------------------------------ */

static void hold(struct gw_cmd *x, const struct gw_post *p, const char *text)
{
    struct gw_router *r = x->r;
    if (r->held == NULL)
        r->held = gw_xcalloc(HELD_MAX, sizeof(*r->held));
    struct gw_held *slot = &r->held[0];
    for (int i = 0; i < HELD_MAX; i++) {
        struct gw_held *h = &r->held[i];
        if (h->text == NULL || (same_person(h->person, x->sp->person) &&
                                gw_strcasecmp(h->ref, p->ref) == 0)) {
            slot = h;
            break;
        }
        if (h->at < slot->at)
            slot = h;
    }
    free(slot->text);
    gw_strlcpy(slot->person, x->sp->person, sizeof(slot->person));
    gw_strlcpy(slot->account, x->a->name, sizeof(slot->account));
    gw_strlcpy(slot->ref, p->ref, sizeof(slot->ref));
    slot->text = gw_xstrdup(text);
    slot->at = gw_now_ms();
}

char *gw__inbox_take_held(struct gw_cmd *x, const char *ref)
{
    struct gw_router *r = x->r;
    for (int i = 0; r->held != NULL && i < HELD_MAX; i++) {
        struct gw_held *h = &r->held[i];
        if (h->text != NULL && same_person(h->person, x->sp->person) &&
            gw_strcasecmp(h->ref, ref) == 0 &&
            gw_strcasecmp(h->account, x->a->name) == 0) {
            char *t = h->text;
            memset(h, 0, sizeof(*h));
            return t;
        }
    }
    return NULL;
}

bool gw__inbox_guard(struct gw_cmd *x, const struct gw_post *p,
                     const char *text)
{
    struct gw_store *st = gw__store(x->r);
    char ago[32], excerpt[160];
    struct gw_inbox_event e;
    if (gw_store_inbox_last(st, p->id, "answered", &e) == 0) {
        bool other = !same_person(e.who, x->sp->person) &&
                     gw_now_ms() - e.time_ms < GUARD_MS;
        if (other) {
            age_of(e.time_ms, ago, sizeof(ago));
            excerpt_of(e.text, excerpt, sizeof(excerpt));
            gw__cmd_tell(x,
                         "[%s] was answered by %s %s: \"%s\"; yours is held: "
                         "!re! %s to send it too",
                         p->ref, e.who, ago, excerpt, p->ref);
        }
        free(e.who);
        free(e.what);
        free(e.text);
        if (other) {
            hold(x, p, text);
            return true;
        }
    }
    struct gw_outbox_item *items = NULL;
    int n = gw_store_outbox_for_parent(st, x->a->name, p->ref, 8, &items);
    bool busy = false;
    for (int i = 0; i < n && !busy; i++) {
        if (same_person(items[i].who, x->sp->person))
            continue;
        busy = true;
        cJSON *pl = gw_json_read(items[i].payload, strlen(items[i].payload));
        excerpt_of(gw_json_str(pl, "text"), excerpt, sizeof(excerpt));
        cJSON_Delete(pl);
        gw__cmd_tell(x,
                     "[%s] is being answered by %s right now: \"%s\"; yours "
                     "is held: !re! %s to send it too",
                     p->ref, items[i].who, excerpt, p->ref);
    }
    gw_outbox_items_free(items, n > 0 ? n : 0);
    if (busy)
        hold(x, p, text);
    return busy;
}

/* ---- answered -------------------------------------------------------- */

void gw__inbox_answered(struct gw_router *r, struct gw_account *a,
                        const struct gw_post *parent, const char *who,
                        const char *text, const char *origin)
{
    struct gw_store *st = gw__store(r);
    if (gw__group_begin(r) < 0)
        goto failed;
    bool was_open =
        parent->state == GW_POST_OPEN || parent->state == GW_POST_CLAIMED;
    if (was_open &&
        gw_store_post_set_state(st, parent->id, GW_POST_DONE, who) < 0)
        goto failed;
    if (parent->state != GW_POST_NONE &&
        gw_store_inbox_log(st, parent->id, gw_now_ms(), who, "answered", text) <
            0)
        goto failed;
    /* A reply in a DM conversation answers what that person said in it
     * before, too: nobody answers a DM line by line. */
    char more[256] = "";
    if (strcmp(parent->kind, "dm") == 0) {
        struct gw_post *dms = NULL;
        int n = gw_store_post_open_dms(st, a->name, parent->author_id,
                                       parent->id, DMS_MAX, &dms);
        size_t len = 0;
        for (int i = 0; i < n; i++) {
            if (dms[i].id == parent->id)
                continue;
            if (gw_store_post_set_state(st, dms[i].id, GW_POST_DONE, who) < 0 ||
                gw_store_inbox_log(st, dms[i].id, gw_now_ms(), who, "answered",
                                   text) < 0) {
                gw_post_rows_free(dms, n);
                goto failed;
            }
            if (len + 20 < sizeof(more))
                len +=
                    (size_t)snprintf(more + len, sizeof(more) - len, "%s[%s]",
                                     len ? ", " : " (and ", dms[i].ref);
        }
        if (len > 0 && len + 1 < sizeof(more))
            more[len++] = ')', more[len] = '\0';
        gw_post_rows_free(dms, n > 0 ? n : 0);
    }
    if (was_open || more[0])
        gw__bot_line(r, origin, true, "[%s] answered by %s%s", parent->ref, who,
                     more);
    return;
failed:
    gw_log(r->gw, GW_LOG_ERROR,
           "[%s] answered, but the inbox could not record it: %s", parent->ref,
           gw_store_errmsg(st));
}

/* ---- after a restart -------------------------------------------------- */

void gw__inbox_seat(struct gw_router *r, struct gw_account *a,
                    struct gw_frontend *only)
{
    struct gw_person_row *rows = NULL;
    int n = gw_store_people_open(gw__store(r), a->name, a->network, SEAT_RECENT,
                                 SEAT_MAX, &rows);
    for (int i = 0; i < n; i++) {
        struct gw_who w;
        if (gw__person_for(a, rows[i].author_id, rows[i].handle, NULL, NULL,
                           &w) < 0)
            break;
        for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
            if (only == NULL || fe == only)
                fe->ops->person(fe, &w.p, a->channel);
    }
    gw_person_rows_free(rows, n > 0 ? n : 0);
}

void gw__inbox_free(struct gw_router *r)
{
    for (int i = 0; r->held != NULL && i < HELD_MAX; i++)
        free(r->held[i].text);
    free(r->held);
    r->held = NULL;
}
