/*
 * The router's frame: its lifecycle, the front-ends it shows lines through,
 * the group transaction (every line is stored before anyone sees it), and
 * catching people up when they arrive.
 */
#include "gw_router.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

/* Lines replayed to someone who comes back; the rest is summarised. */
#define PLAYBACK_MAX 200
/* Lines shown to a reader never seen before. */
#define PLAYBACK_NEW 50

/* A show waiting for the group transaction to commit: its own copies. */
struct gw_pending {
    struct gw_pending *next;
    struct gw_line l; /* text and msgid per line below */
    char **lines;
    char **msgids;
    int64_t *seqs; /* history ids, 0 when not kept */
    int nlines;
    /* The person to make present first: strings of their own, only as
     * long as they are (a struct gw_who is 1.7 KiB, mostly empty). */
    bool has_join;
    struct gw_person join;
    char *place, *account, *prefix, *from;
};

struct gw_store *gw__store(struct gw_router *r)
{
    return r->gw->store;
}

/* ---- front-ends --------------------------------------------------------- */

void gw_router_attach(struct gw_router *r, struct gw_frontend *fe)
{
    fe->next = r->fronts;
    r->fronts = fe;
    char topic[256];
    snprintf(topic, sizeof(topic),
             "Parley control: type 'help' here. Accounts: 'account list', "
             "'account add NAME NETWORK ...'.");
    fe->ops->place_open(fe, r->gw->cfg->control_channel, GW_PLACE_CONTROL,
                        topic);
    for (struct gw_account *a = r->accounts; a != NULL; a = a->next)
        if (a->running) {
            char t[300];
            snprintf(t, sizeof(t),
                     "Parley: %s account '%s'. Type !help for commands; "
                     "mentions and replies arrive here, DMs as queries.",
                     a->network, a->name);
            fe->ops->place_open(fe, a->channel, GW_PLACE_ACCOUNT, t);
            gw__inbox_seat(r, a, fe);
        }
}

void gw_router_detach(struct gw_router *r, struct gw_frontend *fe)
{
    for (struct gw_frontend **pp = &r->fronts; *pp; pp = &(*pp)->next) {
        if (*pp == fe) {
            *pp = fe->next;
            return;
        }
    }
}

void gw__place_open(struct gw_router *r, const char *place,
                    enum gw_place_kind kind, const char *topic)
{
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
        fe->ops->place_open(fe, place, kind, topic);
}

void gw__place_close(struct gw_router *r, const char *place, const char *reason)
{
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
        fe->ops->place_close(fe, place, reason);
}

bool gw__nick_taken(struct gw_router *r, const char *nick)
{
    if (gw_strcasecmp(nick, GW_BOT_NICK) == 0)
        return true;
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
        if (fe->ops->nick_taken(fe, nick))
            return true;
    return false;
}

void gw__person_known(struct gw_router *r, const struct gw_who *w)
{
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
        fe->ops->person(fe, &w->p, NULL);
}

static bool is_channel(const char *place)
{
    return place[0] == '#' || place[0] == '&';
}

enum gw_place_kind gw__place_kind(struct gw_router *r, const char *place)
{
    /* A front-end's conversation between two of its people (its history
     * key has a comma, which no nick or channel name has): not ours. */
    if (strchr(place, ',') != NULL)
        return 0;
    if (gw_strcasecmp(place, r->gw->cfg->control_channel) == 0)
        return GW_PLACE_CONTROL;
    if (is_channel(place))
        return gw__account_by_channel(r, place) != NULL ? GW_PLACE_ACCOUNT : 0;
    if (gw_strcasecmp(place, GW_BOT_NICK) == 0)
        return GW_PLACE_BOT;
    return GW_PLACE_QUERY;
}

enum gw_place_kind gw_router_place(struct gw_router *r, const char *place)
{
    enum gw_place_kind k = gw__place_kind(r, place);
    return k == GW_PLACE_QUERY ? 0 : k;
}

void gw__bot_prefix(struct gw_router *r, char *buf, size_t size)
{
    snprintf(buf, size, "%s!%s@%s", GW_BOT_NICK, GW_BOT_NICK,
             r->gw->cfg->server_name);
}

/* ---- showing ------------------------------------------------------------ */

struct collect {
    struct gw_pending *p;
    const char *ref;
    int more; /* lines of a post past GW_POST_LINES, counted, not kept */
};

static int collect_line(void *arg, const char *line, size_t len)
{
    struct collect *c = arg;
    struct gw_pending *p = c->p;
    /* A post is what a stranger wrote: 100,000 characters must not become
     * 200 lines in every client. The rest is a !open away. */
    if (c->ref != NULL && p->nlines >= GW_POST_LINES) {
        c->more++;
        return 0;
    }
    char msgid[48];
    if (c->ref != NULL && p->nlines == 0)
        gw_strlcpy(msgid, c->ref, sizeof(msgid));
    else if (c->ref != NULL)
        snprintf(msgid, sizeof(msgid), "%s.%d", c->ref, p->nlines + 1);
    else
        gw_random_hex(msgid, 17);
    p->lines = gw_xrealloc(p->lines, sizeof(char *) * (size_t)(p->nlines + 1));
    p->msgids =
        gw_xrealloc(p->msgids, sizeof(char *) * (size_t)(p->nlines + 1));
    p->seqs = gw_xrealloc(p->seqs, sizeof(int64_t) * (size_t)(p->nlines + 1));
    p->seqs[p->nlines] = 0;
    p->lines[p->nlines] = gw_xstrndup(line, len);
    p->msgids[p->nlines] = gw_xstrdup(msgid);
    p->nlines++;
    return 0;
}

/* Bytes of text that fit in one IRC line after ":prefix PRIVMSG target :"
 * as a client will receive it; a query is addressed to the reader's nick,
 * which may be as long as any. */
static size_t line_budget(const struct gw_show *s)
{
    size_t tlen = strlen(s->place);
    if (!is_channel(s->place) && tlen < GW_NICK_MAX)
        tlen = GW_NICK_MAX;
    size_t overhead =
        1 + strlen(s->prefix) + 1 + strlen("PRIVMSG") + 1 + tlen + 2 + 2;
    return overhead < 400 ? GW_IRC_LINE_MAX - overhead : 100;
}

static void pending_free(struct gw_pending *p)
{
    for (int i = 0; i < p->nlines; i++) {
        free(p->lines[i]);
        free(p->msgids[i]);
    }
    free(p->lines);
    free(p->msgids);
    free(p->seqs);
    free(p->place);
    free(p->account);
    free(p->prefix);
    free(p->from);
    if (p->has_join) {
        free((char *)p->join.nick);
        free((char *)p->join.user);
        free((char *)p->join.host);
        free((char *)p->join.realname);
        free((char *)p->join.whois);
    }
    free(p);
}

static void pending_send(struct gw_router *r, struct gw_pending *p)
{
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next) {
        if (p->has_join)
            fe->ops->person(fe, &p->join, p->place);
        for (int i = 0; i < p->nlines; i++) {
            p->l.text = p->lines[i];
            p->l.msgid = p->msgids[i];
            p->l.seq = p->seqs[i];
            fe->ops->show(fe, &p->l);
        }
    }
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? gw_xstrdup(s) : NULL;
}

/* Split, record in history (inside the group) and queue for after the
 * commit. With store false (it failed), show at once instead. */
static int show_prepare(struct gw_router *r, const struct gw_show *s,
                        const char *text, bool store)
{
    struct gw_pending *p = gw_xcalloc(1, sizeof(*p));
    p->place = gw_xstrdup(s->place);
    p->account = dup_or_null(s->account);
    p->prefix = gw_xstrdup(s->prefix);
    p->from = dup_or_null(s->from);
    p->l.place = p->place;
    p->l.kind = s->kind;
    p->l.account = p->account;
    p->l.prefix = p->prefix;
    p->l.from = p->from;
    p->l.notice = s->notice;
    p->l.from_user = s->from_user;
    p->l.time_ms = s->time_ms ? s->time_ms : gw_now_ms();
    if (s->join != NULL) {
        p->join.nick = gw_xstrdup(s->join->nick);
        p->join.user = gw_xstrdup(s->join->user);
        p->join.host = gw_xstrdup(s->join->host);
        p->join.realname = gw_xstrdup(s->join->realname);
        p->join.whois = gw_xstrdup(s->join->whois);
        p->has_join = true;
    }
    char *clean = gw_text_sanitize(text, strlen(text));
    struct collect c = {p, s->ref, 0};
    gw_text_split(clean, line_budget(s), collect_line, &c);
    free(clean);
    if (c.more > 0) {
        /* The last kept line gives way to the note, so a post is never
         * more than GW_POST_LINES lines. */
        p->nlines--;
        free(p->lines[p->nlines]);
        free(p->msgids[p->nlines]);
        char note[128];
        snprintf(note, sizeof(note), "\xE2\x80\xA6 %d more lines: !open %s",
                 c.more + 1, s->ref);
        collect_line(&c, note, strlen(note));
    }
    if (!store) {
        pending_send(r, p);
        pending_free(p);
        return 0;
    }
    char target[GW_CHANNEL_MAX + 1];
    gw_strlcpy(target, s->place, sizeof(target));
    gw_strlower(target);
    int64_t last = 0;
    for (int i = 0; i < p->nlines; i++) {
        int rc = gw_store_history_add(
            gw__store(r), target, p->l.time_ms, p->msgids[i], p->prefix,
            s->notice ? "NOTICE" : "PRIVMSG", p->lines[i], "", &last);
        if (rc < 0) {
            pending_free(p);
            return rc;
        }
        p->seqs[i] = last;
    }
    if (last)
        r->group_seen = last;
    *r->pending_tail = p;
    r->pending_tail = &p->next;
    return 0;
}

int gw__show(struct gw_router *r, const struct gw_show *s, const char *text)
{
    int rc = gw__group_begin(r);
    if (rc < 0)
        return rc;
    return show_prepare(r, s, text, true);
}

/* A line from the bot: stored when it can be (and asked to), said anyway
 * when not. */
static void bot_vline(struct gw_router *r, const char *place, bool notice,
                      bool store, const char *fmt, va_list ap)
{
    char text[4096], prefix[256];
    vsnprintf(text, sizeof(text), fmt, ap);
    gw__bot_prefix(r, prefix, sizeof(prefix));
    struct gw_show s;
    memset(&s, 0, sizeof(s));
    s.place = place;
    s.kind = gw__place_kind(r, place);
    s.prefix = prefix;
    s.notice = notice;
    if (!store || gw__show(r, &s, text) < 0)
        show_prepare(r, &s, text, false);
}

void gw__bot_line(struct gw_router *r, const char *place, bool notice,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bot_vline(r, place, notice, true, fmt, ap);
    va_end(ap);
}

void gw_router_alert(struct gw_router *r, const char *fmt, ...)
{
    if (r == NULL || r->stopping)
        return;
    va_list ap;
    va_start(ap, fmt);
    bot_vline(r, r->gw->cfg->control_channel, false, true, fmt, ap);
    va_end(ap);
}

/* Answers in the control channel are for who is there now: they are not
 * kept (they may name settings, and playback would repeat them). */
void gw__control_say(struct gw_router *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bot_vline(r, r->gw->cfg->control_channel, false, false, fmt, ap);
    va_end(ap);
}

void gw__tell(const struct gw_speaker *sp, const char *place, const char *fmt,
              ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    char *clean = gw_text_sanitize(text, strlen(text));
    sp->fe->ops->tell(sp->fe, sp->who, place, clean);
    free(clean);
}

/* ---- the group transaction ---------------------------------------------- */

int gw__group_begin(struct gw_router *r)
{
    if (r->group_open)
        return 0;
    int rc = gw_store_begin(gw__store(r));
    if (rc == 0) {
        r->group_open = true;
        r->group_since_ns = uv_hrtime();
    }
    return rc;
}

/*
 * One commit per loop iteration makes a burst cheap, but every event of
 * the iteration then waits for the last one: a post that reached a
 * thousand accounts would be shown in each channel only once all thousand
 * (0.1 ms each) were stored. Past this much time the group commits before
 * it takes another event, so the wait is bounded while a burst still
 * shares few commits. Each commit writes a few index pages again: at 2 ms
 * a burst of 100,000 mentions on one stream went 6 % slower.
 */
#define GROUP_SLICE_NS (10 * 1000 * 1000)

void gw__group_slice(struct gw_router *r)
{
    if (r->group_open && r->batch_depth == 0 &&
        uv_hrtime() - r->group_since_ns >= GROUP_SLICE_NS)
        gw__group_flush(r);
}

struct seen_mark {
    struct gw_router *r;
    int64_t id;
};

static void mark_seen_cb(void *arg, const char *reader)
{
    struct seen_mark *m = arg;
    char key[160], val[32];
    snprintf(key, sizeof(key), "seen:%s", reader);
    gw_strlower(key);
    snprintf(val, sizeof(val), "%lld", (long long)m->id);
    gw_store_kv_set(gw__store(m->r), key, val);
}

/*
 * Readers present are about to see history up to id: their read positions
 * move in the same transaction, so a crash right after can neither lose a
 * line for them nor play it back twice.
 */
static void mark_seen(struct gw_router *r, int64_t id)
{
    struct seen_mark m = {r, id};
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
        if (fe->ops->each_reader != NULL)
            fe->ops->each_reader(fe, mark_seen_cb, &m);
}

static void on_checkpoint(uv_timer_t *t);

/*
 * Commit the group and only then show what it stored: nothing reaches
 * anyone that a crash could take back. Also called before anything that
 * must not run inside a transaction (the outbox).
 */
void gw__group_flush(struct gw_router *r)
{
    if (!r->group_open) {
        if (r->waits != NULL)
            gw__commit_waits_run(r, 0);
        return;
    }
    if (r->group_seen) {
        mark_seen(r, r->group_seen);
        r->group_seen = 0;
    }
    /* A cursor that fails to store only lags: what it passed is fetched
     * again and found already stored. */
    /* Walked only when one is held: with thousands of accounts every
     * commit walked them all. */
    for (struct gw_account *a = r->accounts; a && r->cursors_held > 0;
         a = a->next)
        gw__cursor_write(a);
    r->group_open = false;
    int rc = gw_store_commit(gw__store(r));
    struct gw_pending *p = r->pending;
    r->pending = NULL;
    r->pending_tail = &r->pending;
    if (rc < 0) {
        gw_log(r->gw, GW_LOG_ERROR,
               "store: could not commit events (%s); "
               "they will be fetched again",
               gw_store_errmsg(gw__store(r)));
        gw__people_forget(r); /* nicks it stored are gone again */
    }
    while (p) {
        struct gw_pending *next = p->next;
        if (rc == 0)
            pending_send(r, p);
        pending_free(p);
        p = next;
    }
    gw__commit_waits_run(r, rc);
    if (rc == 0) {
        for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next)
            if (fe->ops->flush != NULL)
                fe->ops->flush(fe);
        /* Checkpoint a second after writing, not while writing; an idle
         * gateway arms no timer at all. */
        if (!uv_is_active((uv_handle_t *)&r->checkpoint_timer))
            uv_timer_start(&r->checkpoint_timer, on_checkpoint, 1000, 0);
    }
}

void gw_router_commit(struct gw_router *r)
{
    gw__group_flush(r);
}

static void checkpointed(void *arg, int rc)
{
    struct gw_router *r = arg;
    if (rc < 0)
        gw_log(r->gw, GW_LOG_WARN, "store: %s", gw_store_errmsg(gw__store(r)));
}

/* On a worker thread, beside the writes: its fsyncs took a millisecond or
 * more of the loop every second while posts came in, and much more on a
 * slow disk; the posts that came meanwhile waited. */
static void on_checkpoint(uv_timer_t *t)
{
    struct gw_router *r = t->data;
    if (gw_store_checkpoint_bg(gw__store(r), r->gw->loop, checkpointed, r) < 0)
        checkpointed(r, -1);
}

static void on_group_prepare(uv_prepare_t *h)
{
    gw__group_flush(h->data);
}

/* History retention is looked at every ten minutes, and while a run finds
 * old lines, every 100 ms, GW_HISTORY_PRUNE_BATCH at a time: a first run
 * over years of history never holds the loop for long. */
#define PRUNE_EVERY_MS (10 * 60 * 1000)
#define PRUNE_AGAIN_MS 100
#define PRUNE_FIRST_MS 2000

static void on_prune(uv_timer_t *t)
{
    struct gw_router *r = t->data;
    int days = r->gw->cfg->history_days;
    uint64_t next = PRUNE_EVERY_MS;
    if (days > 0) {
        int64_t before = gw_now_ms() - (int64_t)days * 24 * 3600 * 1000;
        int deleted = 0;
        /* Its own statement, never inside the group of the message path. */
        gw__group_flush(r);
        if (gw_store_history_prune(gw__store(r), before, GW_HISTORY_PRUNE_BATCH,
                                   &deleted) < 0)
            gw_log(r->gw, GW_LOG_WARN, "store: %s",
                   gw_store_errmsg(gw__store(r)));
        else if (deleted > 0)
            next = PRUNE_AGAIN_MS;
        if (deleted > 0)
            gw_log(r->gw, GW_LOG_DEBUG,
                   "history: %d lines older than %d days pruned", deleted,
                   days);
    }
    uv_timer_start(t, on_prune, next, 0);
}

/* ---- what front-ends tell us -------------------------------------------- */

void gw_router_said(struct gw_router *r, const struct gw_speaker *sp,
                    const struct gw_said *m)
{
    if (!r->stopping)
        gw__commands_said(r, sp, m);
}

void gw_router_record(struct gw_router *r, const struct gw_speaker *sp,
                      const struct gw_said *m)
{
    char place[128];
    int64_t id = 0;
    if (r->stopping || m->text == NULL || gw__group_begin(r) < 0)
        return;
    gw_strlcpy(place, m->place, sizeof(place));
    gw_strlower(place);
    if (gw_store_history_add(
            gw__store(r), place, m->time_ms ? m->time_ms : gw_now_ms(),
            m->msgid ? m->msgid : "", sp->prefix,
            m->notice ? "NOTICE" : "PRIVMSG", m->text, "", &id) == 0)
        r->group_seen = id;
}

bool gw_router_person_back(struct gw_router *r, const char *nick)
{
    char *handle = NULL, *author_id = NULL;
    struct gw_account *a = NULL;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    if (gw__person_by_nick(r, nick, &handle, &author_id, &a, &p) < 0)
        return false;
    if (a != NULL) {
        struct gw_who w;
        if (gw__person_for(a, author_id, handle, p.author_name, p.author_url,
                           &w) == 0)
            gw__person_known(r, &w);
    }
    gw_post_free(&p);
    free(handle);
    free(author_id);
    return true;
}

/* ---- arriving and leaving ----------------------------------------------- */

static void seen_key(const struct gw_speaker *sp, char *buf, size_t size)
{
    snprintf(buf, size, "seen:%s", sp->reader);
    gw_strlower(buf);
}

static void save_seen(struct gw_router *r, const struct gw_speaker *sp)
{
    int64_t last = 0;
    char key[160], val[32];
    if (sp->reader == NULL || gw_store_history_last_id(gw__store(r), &last) < 0)
        return;
    seen_key(sp, key, sizeof(key));
    snprintf(val, sizeof(val), "%lld", (long long)last);
    gw_store_kv_set(gw__store(r), key, val);
}

/* Who spoke a history line in a query: the person (or the bot), or a user
 * of the gateway? The prefix's nick tells. */
static bool prefix_is(const char *prefix, const char *nick)
{
    size_t nl = strcspn(prefix, "!");
    return nick != NULL && nl == strlen(nick) &&
           gw_strncasecmp(prefix, nick, nl) == 0;
}

static bool from_user(const struct gw_history_row *h)
{
    size_t nl = strcspn(h->prefix, "!");
    bool person = nl == strlen(h->target) &&
                  gw_strncasecmp(h->prefix, h->target, nl) == 0;
    bool bot = nl == strlen(GW_BOT_NICK) &&
               gw_strncasecmp(h->prefix, GW_BOT_NICK, nl) == 0;
    return !person && !bot;
}

/*
 * Who said a replayed line: the person of a network whose nick and
 * user@host the prefix carries (then *from is their handle, to be freed),
 * the bot, or else a user of the gateway (true). The last person looked
 * up is remembered in cache: a burst of posts comes from few people.
 */
struct said_by {
    char nick[GW_NICK_MAX + 1];
    char ident[256]; /* user@host of that person, "" for none */
    char *handle;
};

static bool said_by_user(struct gw_router *r, const char *prefix,
                         struct said_by *cache, const char **from)
{
    *from = NULL;
    size_t nl = strcspn(prefix, "!");
    if (nl == strlen(GW_BOT_NICK) &&
        gw_strncasecmp(prefix, GW_BOT_NICK, nl) == 0)
        return false;
    if (nl > GW_NICK_MAX || prefix[nl] != '!')
        return true;
    if (strlen(cache->nick) != nl || strncmp(cache->nick, prefix, nl) != 0) {
        memcpy(cache->nick, prefix, nl);
        cache->nick[nl] = '\0';
        cache->ident[0] = '\0';
        free(cache->handle);
        cache->handle = NULL;
        struct gw_person_row row;
        memset(&row, 0, sizeof(row));
        if (gw_store_person_by_nick(gw__store(r), cache->nick, &row) == 0) {
            char user[64], host[128];
            gw__person_ident(row.handle, row.network, user, sizeof(user), host,
                             sizeof(host));
            snprintf(cache->ident, sizeof(cache->ident), "%s@%s", user, host);
            cache->handle = row.handle;
            row.handle = NULL;
        }
        gw_person_row_free(&row);
    }
    if (cache->handle != NULL && strcmp(prefix + nl + 1, cache->ident) == 0) {
        *from = cache->handle;
        return false;
    }
    return true;
}

void gw_router_read(struct gw_router *r, const struct gw_speaker *sp,
                    int64_t seq)
{
    if (sp->reader == NULL || seq <= 0 || gw__group_begin(r) < 0)
        return;
    char key[160], val[32];
    seen_key(sp, key, sizeof(key));
    snprintf(val, sizeof(val), "%lld", (long long)seq);
    gw_store_kv_set(gw__store(r), key, val);
}

void gw_router_arrived(struct gw_router *r, const struct gw_speaker *sp)
{
    if (sp->reader == NULL)
        return;
    char key[160], *val = NULL;
    seen_key(sp, key, sizeof(key));
    int64_t after = 0, last = 0;
    gw_store_history_last_id(gw__store(r), &last);
    long v;
    if (gw_store_kv_get(gw__store(r), key, &val) == 0 &&
        gw_parse_long(val, 0, LONG_MAX, &v) == 0)
        after = v;
    else
        after = last > PLAYBACK_NEW ? last - PLAYBACK_NEW : 0;
    free(val);
    int64_t count = 0;
    gw_store_history_count_since(gw__store(r), after, &count);
    if (count > PLAYBACK_MAX)
        gw__tell(sp, r->gw->cfg->control_channel,
                 "%lld lines arrived while you were away; showing the last "
                 "%d (!pending in an account channel lists what is still "
                 "open)",
                 (long long)count, PLAYBACK_MAX);
    struct gw_history_row *rows = NULL;
    int n = gw_store_history_since(gw__store(r), after, PLAYBACK_MAX, &rows);
    struct said_by cache;
    memset(&cache, 0, sizeof(cache));
    for (int i = 0; i < n; i++) {
        struct gw_history_row *h = &rows[i];
        enum gw_place_kind kind = gw__place_kind(r, h->target);
        if (kind == 0)
            continue; /* a channel that is gone */
        struct gw_account *a = kind == GW_PLACE_ACCOUNT
                                   ? gw__account_by_channel(r, h->target)
                                   : NULL;
        struct gw_line l;
        memset(&l, 0, sizeof(l));
        l.place = h->target;
        l.kind = kind;
        l.account = a != NULL ? a->name : NULL;
        l.prefix = h->prefix;
        l.notice = strcmp(h->command, "NOTICE") == 0;
        l.from_user =
            (kind == GW_PLACE_QUERY || kind == GW_PLACE_BOT) && from_user(h);
        if (kind == GW_PLACE_ACCOUNT || kind == GW_PLACE_QUERY) {
            bool user = said_by_user(r, h->prefix, &cache, &l.from);
            l.from_user = l.from_user || (kind == GW_PLACE_ACCOUNT && user);
        }
        /* What a teammate wrote in a query is theirs: shown to another
         * reader it would read as if that reader had sent it. The bot's
         * "[ref] who wrote: text" tells the others. */
        if (kind != GW_PLACE_ACCOUNT && l.from_user &&
            !prefix_is(h->prefix, sp->person))
            continue;
        l.time_ms = h->time_ms;
        l.msgid = h->msgid;
        l.text = h->text;
        l.seq = h->id;
        sp->fe->ops->replay(sp->fe, sp->who, &l);
    }
    free(cache.handle);
    gw_history_rows_free(rows, n > 0 ? n : 0);
    if (!sp->reads_itself)
        save_seen(r, sp);
}

void gw_router_left(struct gw_router *r, const struct gw_speaker *sp)
{
    if (!sp->reads_itself)
        save_seen(r, sp);
}

/* ---- lifecycle ------------------------------------------------------------
 */

int gw_router_start(struct gateway *gw, struct gw_router **out, char *err,
                    size_t errlen)
{
    (void)err;
    (void)errlen;
    struct gw_router *r = gw_xcalloc(1, sizeof(*r));
    r->gw = gw;
    uv_timer_init(gw->loop, &r->outbox_timer);
    r->outbox_timer.data = r;
    uv_prepare_init(gw->loop, &r->group_prepare);
    r->group_prepare.data = r;
    uv_prepare_start(&r->group_prepare, on_group_prepare);
    r->pending_tail = &r->pending;
    r->waits_tail = &r->waits;
    uv_timer_init(gw->loop, &r->checkpoint_timer);
    r->checkpoint_timer.data = r;
    uv_timer_init(gw->loop, &r->prune_timer);
    r->prune_timer.data = r;
    uv_timer_start(&r->prune_timer, on_prune, PRUNE_FIRST_MS, 0);
    *out = r;
    gw__accounts_load(r);
    for (struct gw_account *a = r->accounts; a; a = a->next)
        gw__account_start(a);
    gw__outbox_dispatch_due(r);
    return 0;
}

void gw_router_stop(struct gw_router *r)
{
    if (r == NULL || r->stopping)
        return;
    for (struct gw_account *a = r->accounts; a; a = a->next)
        gw__account_stop(a);
    r->stopping = true;
    gw__queries_drop(r, NULL, NULL);
    gw__group_flush(r);
    gw__commit_waits_run(r, UV_ECANCELED);
    uv_close((uv_handle_t *)&r->outbox_timer, NULL);
    uv_close((uv_handle_t *)&r->group_prepare, NULL);
    uv_close((uv_handle_t *)&r->checkpoint_timer, NULL);
    uv_close((uv_handle_t *)&r->prune_timer, NULL);
    gw_store_checkpoint(gw__store(r));
}
