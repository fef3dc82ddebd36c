/*
 * The adapter runtime: what every network adapter needs and none should
 * write again. See adapters/adapter.h for the promises and gw_runtime.h
 * for the core's side.
 *
 * Re-entrancy is handled by counting adapter frames (depth): every call
 * into adapter code goes through enter()/leave(). A stop while adapter code
 * is on the stack cancels everything at once but frees the adapter's priv
 * only when the last frame has unwound, so an adapter never has to check
 * whether it still exists after an upcall.
 */
#include "gw_runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_http.h"
#include "gw_util.h"
#include "gw_webhook.h"

/* Families of endpoints an account uses; more than a network needs. */
#define FAMILIES_MAX 8
/* A 429 that says nothing about when to come back. */
#define HOLD_DEFAULT_MS 60000
/* A server asking for more than an hour is more likely wrong than right. */
#define RETRY_AFTER_MAX_MS 3600000L
/* gw_ad_log: lines a minute per account before the rest are only counted. */
#define LOG_PER_MINUTE 10

struct family {
    char name[16];
    int64_t hold_until_ms;
    bool guessed; /* the hold is HOLD_DEFAULT_MS: the 429 named no time */
    char why[96];
    long remaining; /* last rate-limit header, -1: never seen */
    int64_t day;    /* the UTC day of "today" */
    long today;     /* requests sent that day */
};

/* One request, in flight (rt->active) or waiting for a hold (rt->waiting).
 * The options are a deep copy: they may be sent long after the call. */
struct rt_req {
    struct rt_req *next, *prev;
    struct gw_rt *rt; /* NULL once cancelled */
    struct gw_http_req *req;
    int fam;
    gw_ad_http_cb cb;
    void *arg;
    gw_ad_free_fn free_arg;
    struct gw_http_opts o;
    struct gw_strs strs; /* owned copies behind o */
    const char **hdrs;
};

struct gw_ad_timer {
    struct gw_ad_timer *next, *prev;
    uv_timer_t h;
    struct gw_rt *rt;
    gw_ad_timer_cb cb;
    void *arg;
    void (*internal)(struct gw_rt *rt); /* the runtime's own timers */
};

struct gw_ad_stream {
    struct gw_ad_stream *next, *prev;
    struct gw_rt *rt;
    int fam;
    struct gw_sse *sse;
    gw_ad_event_cb on_event;
    gw_ad_state_cb on_state;
    void *arg;
};

/* An action result reported inside ops->act(), kept until act() returns:
 * a deep copy, its strings and arrays in allocs. */
struct rt_done {
    struct rt_done *next;
    uint64_t token;
    struct gw_action_result res;
    struct gw_event ev;
    void **allocs;
    int nallocs;
};

struct gw_rt {
    struct gw_adapter *ad;
    uv_loop_t *loop;
    struct gw_http *http;
    const struct gw_rt_hooks *hooks;
    struct rt_req *active, *waiting;
    struct gw_ad_stream *streams;
    struct gw_ad_timer *timers;
    struct gw_ad_timer *t_hold, *t_done;
    struct rt_done *dones, **dones_tail;
    struct family fam[FAMILIES_MAX];
    int nfam;
    enum gw_rt_state state;
    char me[256];
    char me_id[256];
    char why[256];
    char mode[32];
    char detail[256];
    int64_t log_minute; /* gw_ad_log's budget: this minute, */
    int logged;         /* the lines written in it, */
    long unlogged;      /* and those only counted */
    int depth;          /* adapter frames on the stack */
    int in_act;         /* ops->act() frames on the stack */
    long failing;       /* requests failed since the last success */
    bool stopped;
};

static struct gw_rt *rt_of(const struct gw_adapter *ad)
{
    return ad != NULL ? ad->rt : NULL;
}

static bool live(const struct gw_rt *rt)
{
    return rt != NULL && !rt->stopped;
}

/* ---- adapter frames ------------------------------------------------------ */

static void enter(struct gw_rt *rt)
{
    rt->depth++;
}

static void finish(struct gw_rt *rt)
{
    struct gw_adapter *ad = rt->ad;
    ad->ops->stop(ad);
    ad->priv = NULL;
    ad->rt = NULL;
    free(rt);
}

/* End of an adapter frame. rt may be gone afterwards. */
static void leave(struct gw_rt *rt)
{
    if (--rt->depth == 0 && rt->stopped)
        finish(rt);
}

/* ---- families and limits ------------------------------------------------- */

static int family_index(struct gw_rt *rt, const char *name)
{
    if (name == NULL || *name == '\0')
        name = "default";
    for (int i = 0; i < rt->nfam; i++)
        if (strcmp(rt->fam[i].name, name) == 0)
            return i;
    if (rt->nfam == FAMILIES_MAX)
        return 0; /* an adapter with too many shares the first one */
    struct family *f = &rt->fam[rt->nfam];
    memset(f, 0, sizeof(*f));
    gw_strlcpy(f->name, name, sizeof(f->name));
    f->remaining = -1;
    return rt->nfam++;
}

static bool held(const struct gw_rt *rt, int fam, int64_t now)
{
    return rt->fam[fam].hold_until_ms > now;
}

static void hold_arm(struct gw_rt *rt);

/* Holds only grow, with one exception: a hold the runtime guessed (a 429
 * that named no time) gives way to the adapter's own (replace), which
 * knows its network's limits better than a minute does. */
static void hold(struct gw_rt *rt, int fam, int64_t until, const char *why,
                 bool guess, bool replace)
{
    struct family *f = &rt->fam[fam];
    if (!(replace && f->guessed) && until <= f->hold_until_ms)
        return;
    f->hold_until_ms = until;
    f->guessed = guess;
    gw_strlcpy(f->why, why, sizeof(f->why));
    hold_arm(rt);
}

long gw_ad_retry_after_ms(const struct gw_http_response *r)
{
    int64_t now = gw_now_ms();
    long ms = 0;
    if (r->retry_after_s >= 0) {
        ms = r->retry_after_s > RETRY_AFTER_MAX_MS / 1000
                 ? RETRY_AFTER_MAX_MS
                 : r->retry_after_s * 1000;
    } else if ((r->status == 429 || r->ratelimit_remaining == 0) &&
               r->ratelimit_reset_ms > now) {
        int64_t d = r->ratelimit_reset_ms - now;
        ms = d > RETRY_AFTER_MAX_MS ? RETRY_AFTER_MAX_MS : (long)d;
    }
    return ms;
}

/* What a response says about its family's limits and about the network. */
static void note_response(struct gw_rt *rt, int fam,
                          const struct gw_http_response *r)
{
    if (r == NULL || r->error == UV_ECANCELED)
        return;
    int64_t now = gw_now_ms();
    struct family *f = &rt->fam[fam];
    if (r->ratelimit_remaining >= 0)
        f->remaining = r->ratelimit_remaining;
    /* A 429's Retry-After says when this limit lets go, even when the
     * window's own headers say the window is spent until later. */
    if (r->error == 0 && r->status == 429) {
        long ms = gw_ad_retry_after_ms(r);
        hold(rt, fam, now + (ms > 0 ? ms : HOLD_DEFAULT_MS), "rate limited",
             ms <= 0, false);
    } else if (r->ratelimit_remaining == 0 && r->ratelimit_reset_ms > now) {
        hold(rt, fam, r->ratelimit_reset_ms, "rate limit spent", false, false);
    }
    if (r->error != 0 || r->status >= 500) {
        rt->failing++;
    } else if (r->status >= 200 && r->status < 300 && rt->failing > 0) {
        rt->failing = 0;
        if (rt->hooks->recovered != NULL)
            rt->hooks->recovered(rt->ad);
    }
}

/* ---- timers -------------------------------------------------------------- */

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void timer_unlink(struct gw_ad_timer *t)
{
    if (t->prev != NULL)
        t->prev->next = t->next;
    else
        t->rt->timers = t->next;
    if (t->next != NULL)
        t->next->prev = t->prev;
    t->next = t->prev = NULL;
}

static void timer_fire(uv_timer_t *h)
{
    struct gw_ad_timer *t = h->data;
    struct gw_rt *rt = t->rt;
    timer_unlink(t);
    uv_close((uv_handle_t *)&t->h, timer_closed);
    if (t->internal != NULL) {
        t->internal(rt);
        return;
    }
    enter(rt);
    t->cb(rt->ad, t->arg);
    leave(rt);
}

static struct gw_ad_timer *timer_new(struct gw_rt *rt, uint64_t ms)
{
    struct gw_ad_timer *t = gw_xcalloc(1, sizeof(*t));
    t->rt = rt;
    uv_timer_init(rt->loop, &t->h);
    t->h.data = t;
    t->next = rt->timers;
    if (rt->timers != NULL)
        rt->timers->prev = t;
    rt->timers = t;
    uv_timer_start(&t->h, timer_fire, ms, 0);
    return t;
}

struct gw_ad_timer *gw_ad_timer_start(struct gw_adapter *ad, uint64_t ms,
                                      gw_ad_timer_cb cb, void *arg)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt) || cb == NULL)
        return NULL;
    struct gw_ad_timer *t = timer_new(rt, ms);
    t->cb = cb;
    t->arg = arg;
    return t;
}

void gw_ad_timer_stop(struct gw_ad_timer *t)
{
    if (t == NULL || uv_is_closing((uv_handle_t *)&t->h))
        return;
    timer_unlink(t);
    uv_close((uv_handle_t *)&t->h, timer_closed);
}

void gw_ad_timer_clear(struct gw_ad_timer **slot)
{
    gw_ad_timer_stop(*slot);
    *slot = NULL;
}

void gw_ad_timer_set(struct gw_adapter *ad, struct gw_ad_timer **slot,
                     uint64_t ms, gw_ad_timer_cb cb, void *arg)
{
    gw_ad_timer_clear(slot);
    *slot = gw_ad_timer_start(ad, ms, cb, arg);
}

static void internal_timer(struct gw_rt *rt, struct gw_ad_timer **slot,
                           uint64_t ms, void (*fn)(struct gw_rt *rt))
{
    gw_ad_timer_stop(*slot);
    *slot = timer_new(rt, ms);
    (*slot)->internal = fn;
}

/* ---- requests ------------------------------------------------------------ */

static const char *keep(struct rt_req *q, const char *s)
{
    return gw_strs_dup(&q->strs, s);
}

static void req_free(struct rt_req *q)
{
    gw_strs_free(&q->strs);
    free(q->hdrs);
    free((char *)q->o.body);
    free(q);
}

static void req_unlink(struct rt_req **list, struct rt_req *q)
{
    if (q->prev != NULL)
        q->prev->next = q->next;
    else if (*list == q)
        *list = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    q->next = q->prev = NULL;
}

static void req_link(struct rt_req **list, struct rt_req *q)
{
    q->prev = NULL;
    q->next = *list;
    if (*list != NULL)
        (*list)->prev = q;
    *list = q;
}

static void on_http(void *arg, const struct gw_http_response *r)
{
    struct rt_req *q = arg;
    struct gw_rt *rt = q->rt;
    q->req = NULL;
    if (rt == NULL) { /* cancelled by a stop */
        if (q->free_arg != NULL)
            q->free_arg(q->arg);
        req_free(q);
        return;
    }
    req_unlink(&rt->active, q);
    enter(rt);
    note_response(rt, q->fam, r);
    q->cb(rt->ad, q->arg, r);
    req_free(q);
    leave(rt);
}

static void count_request(struct family *f)
{
    int64_t day = gw_now_ms() / 86400000;
    if (f->day != day) {
        f->day = day;
        f->today = 0;
    }
    f->today++;
}

static int req_send(struct gw_rt *rt, struct rt_req *q)
{
    req_link(&rt->active, q);
    count_request(&rt->fam[q->fam]);
    int rc = gw_http_request(rt->http, &q->o, on_http, q, &q->req);
    if (rc < 0)
        req_unlink(&rt->active, q);
    return rc;
}

/* A waiting request that can no longer be sent: its callback hears why. */
static void req_fail_late(struct gw_rt *rt, struct rt_req *q, int rc)
{
    struct gw_http_response r;
    memset(&r, 0, sizeof(r));
    r.error = rc;
    r.errmsg = uv_strerror(rc);
    r.body = "";
    r.retry_after_s = -1;
    r.ratelimit_remaining = -1;
    enter(rt);
    q->cb(rt->ad, q->arg, &r);
    req_free(q);
    leave(rt);
}

/* Send what waited for holds that have ended; arm for the next end. The
 * frame held here keeps rt alive while a callback stops the account. */
static void on_hold_timer(struct gw_rt *rt)
{
    rt->t_hold = NULL;
    enter(rt);
    int64_t now = gw_now_ms();
    struct rt_req *q = rt->waiting;
    while (q != NULL && live(rt)) {
        struct rt_req *next = q->next;
        if (!held(rt, q->fam, now)) {
            req_unlink(&rt->waiting, q);
            int rc = req_send(rt, q);
            if (rc < 0)
                req_fail_late(rt, q, rc);
        }
        q = next;
    }
    if (live(rt))
        hold_arm(rt);
    leave(rt);
}

static void hold_arm(struct gw_rt *rt)
{
    if (rt->waiting == NULL)
        return;
    int64_t now = gw_now_ms(), next = 0;
    for (struct rt_req *q = rt->waiting; q != NULL; q = q->next) {
        int64_t until = rt->fam[q->fam].hold_until_ms;
        if (next == 0 || until < next)
            next = until;
    }
    internal_timer(rt, &rt->t_hold, next > now ? (uint64_t)(next - now) : 0,
                   on_hold_timer);
}

int gw_ad_request(struct gw_adapter *ad, const struct gw_ad_request *rq,
                  gw_ad_http_cb cb, void *arg)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return UV_ECANCELED;
    if (rq == NULL || cb == NULL || rq->http.url == NULL)
        return UV_EINVAL;
    int fam = family_index(rt, rq->family);
    const struct gw_adapter_ops *ops = ad->ops;
    if (ops->budget != NULL) {
        char why[200] = "";
        if (ops->budget(ad, rt->fam[fam].name, why, sizeof(why)) < 0) {
            if (why[0] != '\0')
                gw_ad_detail(ad, "%s", why);
            return UV_ENOSPC;
        }
    }
    struct rt_req *q = gw_xcalloc(1, sizeof(*q));
    q->rt = rt;
    q->fam = fam;
    q->cb = cb;
    q->arg = arg;
    q->free_arg = rq->free_arg;
    q->o = rq->http;
    q->o.method = keep(q, rq->http.method);
    q->o.url = keep(q, rq->http.url);
    q->o.content_type = keep(q, rq->http.content_type);
    q->o.ca_file = keep(q, rq->http.ca_file);
    if (rq->http.body != NULL) {
        size_t n = rq->http.body_len;
        char *b = gw_xmalloc(n + 1);
        memcpy(b, rq->http.body, n);
        b[n] = '\0';
        q->o.body = b;
    }
    size_t nh = 0;
    while (rq->http.headers != NULL && rq->http.headers[nh] != NULL)
        nh++;
    q->hdrs = gw_xcalloc(nh + 1, sizeof(*q->hdrs));
    for (size_t i = 0; i < nh; i++)
        q->hdrs[i] = keep(q, rq->http.headers[i]);
    q->o.headers = q->hdrs;
    if (held(rt, fam, gw_now_ms())) {
        req_link(&rt->waiting, q);
        hold_arm(rt);
        return 0;
    }
    int rc = req_send(rt, q);
    if (rc < 0) {
        req_free(q);
        return rc;
    }
    return 0;
}

void gw_ad_hold(struct gw_adapter *ad, const char *family, int64_t until_ms,
                const char *why)
{
    struct gw_rt *rt = rt_of(ad);
    if (live(rt))
        hold(rt, family_index(rt, family), until_ms, why ? why : "held", false,
             true);
}

/* ---- streams ------------------------------------------------------------- */

static void stream_event(void *arg, const struct gw_sse_event *ev)
{
    struct gw_ad_stream *s = arg;
    struct gw_rt *rt = s->rt;
    if (!live(rt) || s->on_event == NULL)
        return;
    enter(rt);
    s->on_event(rt->ad, s->arg, ev); /* may close s */
    leave(rt);
}

static void stream_state(void *arg, enum gw_sse_state state,
                         const struct gw_http_response *resp)
{
    struct gw_ad_stream *s = arg;
    struct gw_rt *rt = s->rt;
    if (!live(rt))
        return;
    enter(rt);
    note_response(rt, s->fam, resp);
    if (s->on_state != NULL)
        s->on_state(rt->ad, s->arg, state, resp); /* may close s */
    leave(rt);
}

int gw_ad_stream_open(struct gw_adapter *ad, const char *family,
                      const struct gw_sse_opts *o, gw_ad_event_cb on_event,
                      gw_ad_state_cb on_state, void *arg,
                      struct gw_ad_stream **out)
{
    struct gw_rt *rt = rt_of(ad);
    if (out != NULL)
        *out = NULL;
    if (!live(rt))
        return UV_ECANCELED;
    struct gw_ad_stream *s = gw_xcalloc(1, sizeof(*s));
    s->rt = rt;
    s->fam = family_index(rt, family);
    s->on_event = on_event;
    s->on_state = on_state;
    s->arg = arg;
    int rc = gw_sse_open(rt->http, o, stream_event, stream_state, s, &s->sse);
    if (rc < 0) {
        free(s);
        return rc;
    }
    count_request(&rt->fam[s->fam]);
    s->next = rt->streams;
    if (rt->streams != NULL)
        rt->streams->prev = s;
    rt->streams = s;
    if (out != NULL)
        *out = s;
    return 0;
}

/* gw_sse_close() is safe inside the stream's own callbacks: it frees the
 * stream from a close callback, after they have unwound. */
void gw_ad_stream_close(struct gw_ad_stream *s)
{
    if (s == NULL)
        return;
    struct gw_rt *rt = s->rt;
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        rt->streams = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    gw_sse_close(s->sse);
    free(s);
}

/* ---- action results ------------------------------------------------------ */

static void *done_alloc(struct rt_done *d, void *p)
{
    d->allocs =
        gw_xrealloc(d->allocs, sizeof(*d->allocs) * (size_t)(d->nallocs + 1));
    d->allocs[d->nallocs++] = p;
    return p;
}

static const char *done_keep(struct rt_done *d, const char *s)
{
    return s != NULL ? done_alloc(d, gw_xstrdup(s)) : NULL;
}

static void done_free(struct rt_done *d)
{
    for (int i = 0; i < d->nallocs; i++)
        free(d->allocs[i]);
    free(d->allocs);
    free(d);
}

static void event_copy(struct rt_done *d, struct gw_event *to,
                       const struct gw_event *e)
{
    *to = *e;
    to->id = done_keep(d, e->id);
    to->author_id = done_keep(d, e->author_id);
    to->author = done_keep(d, e->author);
    to->author_name = done_keep(d, e->author_name);
    to->author_url = done_keep(d, e->author_url);
    to->text = done_keep(d, e->text);
    to->url = done_keep(d, e->url);
    to->cw = done_keep(d, e->cw);
    to->in_reply_to = done_keep(d, e->in_reply_to);
    to->conversation = done_keep(d, e->conversation);
    to->target_id = done_keep(d, e->target_id);
    to->extra = done_keep(d, e->extra);
    if (e->nmedia > 0 && e->media != NULL) {
        struct gw_media *m =
            done_alloc(d, gw_xcalloc((size_t)e->nmedia, sizeof(*m)));
        for (int i = 0; i < e->nmedia; i++) {
            m[i].url = done_keep(d, e->media[i].url);
            m[i].alt = done_keep(d, e->media[i].alt);
            m[i].type = done_keep(d, e->media[i].type);
        }
        to->media = m;
    }
    if (e->nmentions > 0 && e->mentions != NULL) {
        const char **ms =
            done_alloc(d, gw_xcalloc((size_t)e->nmentions, sizeof(*ms)));
        for (int i = 0; i < e->nmentions; i++)
            ms[i] = done_keep(d, e->mentions[i]);
        to->mentions = ms;
    }
}

/* A deep copy of a result, for reporting it after act() has returned. */
static struct rt_done *done_copy(uint64_t token,
                                 const struct gw_action_result *r)
{
    struct rt_done *d = gw_xcalloc(1, sizeof(*d));
    d->token = token;
    d->res = *r;
    d->res.message = done_keep(d, r->message);
    d->res.result_id = done_keep(d, r->result_id);
    if (r->created != NULL) {
        event_copy(d, &d->ev, r->created);
        d->res.created = &d->ev;
    }
    if (r->nlines > 0 && r->lines != NULL) {
        const char **ls =
            done_alloc(d, gw_xcalloc((size_t)r->nlines, sizeof(*ls)));
        for (int i = 0; i < r->nlines; i++)
            ls[i] = done_keep(d, r->lines[i]);
        d->res.lines = ls;
    }
    if (r->nitems > 0 && r->items != NULL) {
        struct gw_event *items =
            done_alloc(d, gw_xcalloc((size_t)r->nitems, sizeof(*items)));
        for (int i = 0; i < r->nitems; i++)
            event_copy(d, &items[i], &r->items[i]);
        d->res.items = items;
    }
    return d;
}

static void on_done_timer(struct gw_rt *rt)
{
    rt->t_done = NULL;
    enter(rt);
    while (live(rt) && rt->dones != NULL) {
        struct rt_done *d = rt->dones;
        rt->dones = d->next;
        if (rt->dones == NULL)
            rt->dones_tail = &rt->dones;
        rt->hooks->action_done(rt->ad, d->token, &d->res);
        done_free(d);
    }
    leave(rt);
}

void gw_ad_action_done(struct gw_adapter *ad, uint64_t token,
                       const struct gw_action_result *r)
{
    struct gw_rt *rt = rt_of(ad);
    /* After a stop the outbox item is still pending: it is sent again. */
    if (!live(rt) || r == NULL)
        return;
    if (rt->in_act == 0) {
        rt->hooks->action_done(ad, token, r);
        return;
    }
    struct rt_done *d = done_copy(token, r);
    *rt->dones_tail = d;
    rt->dones_tail = &d->next;
    if (rt->t_done == NULL)
        internal_timer(rt, &rt->t_done, 0, on_done_timer);
}

/* ---- state --------------------------------------------------------------- */

static void set_state(struct gw_rt *rt, enum gw_rt_state st)
{
    bool changed = rt->state != st;
    rt->state = st;
    if (changed && rt->hooks->state != NULL)
        rt->hooks->state(rt->ad, st);
}

void gw_ad_ready(struct gw_adapter *ad, const char *me_id,
                 const char *me_handle)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return;
    gw_strlcpy(rt->me, me_handle != NULL ? me_handle : "", sizeof(rt->me));
    gw_strlcpy(rt->me_id, me_id != NULL ? me_id : "", sizeof(rt->me_id));
    rt->why[0] = '\0';
    set_state(rt, GW_RT_READY);
}

void gw_ad_not_ready(struct gw_adapter *ad, bool signed_out, const char *why)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return;
    gw_strlcpy(rt->why, why != NULL ? why : "", sizeof(rt->why));
    set_state(rt, signed_out ? GW_RT_SIGNED_OUT : GW_RT_STARTING);
}

bool gw_ad_is_ready(const struct gw_adapter *ad)
{
    const struct gw_rt *rt = rt_of(ad);
    return live(rt) && rt->state == GW_RT_READY;
}

bool gw_ad_stopped(const struct gw_adapter *ad)
{
    return !live(rt_of(ad));
}

void gw_ad_log(struct gw_adapter *ad, const char *fmt, ...)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return;
    int64_t minute = gw_now_ms() / 60000;
    if (minute != rt->log_minute) {
        rt->log_minute = minute;
        rt->logged = 0;
    }
    if (rt->logged >= LOG_PER_MINUTE) {
        rt->unlogged++;
        return;
    }
    rt->logged++;
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    char *clean = gw_text_one_line(text);
    if (rt->unlogged > 0)
        gw_log(ad->gw, GW_LOG_WARN, "%s: %s (and %ld more like it not logged)",
               ad->name, clean, rt->unlogged);
    else
        gw_log(ad->gw, GW_LOG_WARN, "%s: %s", ad->name, clean);
    rt->unlogged = 0;
    free(clean);
}

void gw_ad_mode(struct gw_adapter *ad, const char *mode)
{
    struct gw_rt *rt = rt_of(ad);
    if (live(rt))
        gw_strlcpy(rt->mode, mode != NULL ? mode : "", sizeof(rt->mode));
}

void gw_ad_detail(struct gw_adapter *ad, const char *fmt, ...)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rt->detail, sizeof(rt->detail), fmt, ap);
    va_end(ap);
}

/* ---- the core's side ----------------------------------------------------- */

/* Cancel everything in flight or waiting; no callback of them runs. */
static void cancel_all(struct gw_rt *rt)
{
    while (rt->active != NULL) {
        struct rt_req *q = rt->active;
        req_unlink(&rt->active, q);
        q->rt = NULL;
        gw_http_cancel(q->req); /* on_http frees it */
    }
    while (rt->waiting != NULL) {
        struct rt_req *q = rt->waiting;
        req_unlink(&rt->waiting, q);
        if (q->free_arg != NULL)
            q->free_arg(q->arg);
        req_free(q);
    }
    while (rt->streams != NULL)
        gw_ad_stream_close(rt->streams);
    if (rt->ad->gw != NULL)
        gw_webhook_forget(rt->ad->gw->webhook, rt->ad);
    while (rt->timers != NULL)
        gw_ad_timer_stop(rt->timers);
    rt->t_hold = rt->t_done = NULL;
    while (rt->dones != NULL) {
        struct rt_done *d = rt->dones;
        rt->dones = d->next;
        done_free(d);
    }
    rt->dones_tail = &rt->dones;
}

int gw_rt_start(struct gw_adapter *ad, uv_loop_t *loop, struct gw_http *http,
                const struct gw_rt_hooks *hooks)
{
    if (ad->rt != NULL)
        return UV_EBUSY; /* the last run has not unwound yet */
    struct gw_rt *rt = gw_xcalloc(1, sizeof(*rt));
    rt->ad = ad;
    rt->loop = loop;
    rt->http = http;
    rt->hooks = hooks;
    rt->dones_tail = &rt->dones;
    rt->state = GW_RT_STARTING;
    gw_strlcpy(rt->mode, "connecting", sizeof(rt->mode));
    family_index(rt, "default");
    ad->rt = rt;
    ad->priv = NULL;
    enter(rt);
    int rc = ad->ops->start(ad);
    if (rc < 0) {
        /* start() freed what it made; what it began must not run. */
        rt->stopped = true;
        cancel_all(rt);
        ad->rt = NULL;
        ad->priv = NULL;
        free(rt);
        return rc;
    }
    leave(rt);
    return 0;
}

void gw_rt_stop(struct gw_adapter *ad)
{
    struct gw_rt *rt = rt_of(ad);
    if (rt == NULL || rt->stopped)
        return;
    rt->stopped = true;
    cancel_all(rt);
    if (rt->depth == 0)
        finish(rt);
}

bool gw_rt_stopping(const struct gw_adapter *ad)
{
    return ad->rt != NULL && ad->rt->stopped;
}

int gw_rt_act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return UV_ECANCELED;
    if (ad->ops->act == NULL)
        return UV_ENOTSUP;
    enter(rt);
    rt->in_act++;
    int rc = ad->ops->act(ad, a);
    rt->in_act--;
    leave(rt);
    return rc;
}

int gw_rt_check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                size_t errlen)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt) || ad->ops->check == NULL)
        return 0;
    enter(rt);
    int rc = ad->ops->check(ad, a, err, errlen);
    leave(rt);
    return rc;
}

static int call_login(struct gw_adapter *ad, const char *code, bool is_code)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return UV_ECANCELED;
    int (*login)(struct gw_adapter *) = ad->ops->login;
    int (*fn)(struct gw_adapter *, const char *) = ad->ops->code;
    if ((is_code ? (void *)fn : (void *)login) == NULL)
        return UV_ENOTSUP;
    enter(rt);
    int rc = is_code ? fn(ad, code) : login(ad);
    leave(rt);
    return rc;
}

int gw_rt_login(struct gw_adapter *ad)
{
    return call_login(ad, NULL, false);
}

int gw_rt_code(struct gw_adapter *ad, const char *code)
{
    return call_login(ad, code, true);
}

int gw_rt_webhook(struct gw_adapter *ad, gw_ad_webhook_cb cb, void *arg,
                  struct gw_webhook_req *rq)
{
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return 0;
    enter(rt);
    int rc = cb(ad, arg, rq);
    leave(rt);
    return rc;
}

enum gw_rt_state gw_rt_state(const struct gw_adapter *ad)
{
    const struct gw_rt *rt = rt_of(ad);
    return live(rt) ? rt->state : GW_RT_STARTING;
}

const char *gw_rt_me(const struct gw_adapter *ad)
{
    const struct gw_rt *rt = rt_of(ad);
    return live(rt) && rt->state == GW_RT_READY ? rt->me : "";
}

const char *gw_rt_me_id(const struct gw_adapter *ad)
{
    const struct gw_rt *rt = rt_of(ad);
    return live(rt) && rt->state == GW_RT_READY ? rt->me_id : "";
}

const char *gw_rt_why(const struct gw_adapter *ad)
{
    const struct gw_rt *rt = rt_of(ad);
    return live(rt) ? rt->why : "";
}

void gw_rt_status(struct gw_adapter *ad, struct gw_rt_status *st)
{
    memset(st, 0, sizeof(*st));
    st->ratelimit_remaining = -1;
    struct gw_rt *rt = rt_of(ad);
    if (!live(rt))
        return;
    if (rt->state == GW_RT_SIGNED_OUT)
        gw_strlcpy(st->mode, "signed out", sizeof(st->mode));
    else
        gw_strlcpy(st->mode, rt->mode, sizeof(st->mode));
    int64_t now = gw_now_ms(), day = now / 86400000;
    size_t hl = 0;
    for (int i = 0; i < rt->nfam; i++) {
        const struct family *f = &rt->fam[i];
        if (f->remaining >= 0 && (st->ratelimit_remaining < 0 ||
                                  f->remaining < st->ratelimit_remaining))
            st->ratelimit_remaining = f->remaining;
        if (f->day == day)
            st->requests_today += f->today;
        if (f->hold_until_ms > now && hl < sizeof(st->holds))
            hl += (size_t)snprintf(
                st->holds + hl, sizeof(st->holds) - hl, "%s%s: %s, %lld s more",
                hl > 0 ? "; " : "", f->name, f->why,
                (long long)((f->hold_until_ms - now + 999) / 1000));
    }
    const char *detail = rt->detail;
    if (detail[0] == '\0' && rt->state != GW_RT_READY)
        detail = rt->why;
    gw_strlcpy(st->detail, detail, sizeof(st->detail));
    if (ad->ops->status != NULL) {
        struct gw_adapter_status more;
        memset(&more, 0, sizeof(more));
        enter(rt);
        ad->ops->status(ad, &more);
        leave(rt);
        if (more.mode[0] != '\0' && rt->state != GW_RT_SIGNED_OUT)
            gw_strlcpy(st->mode, more.mode, sizeof(st->mode));
        if (more.detail[0] != '\0') {
            size_t n = strlen(st->detail);
            snprintf(st->detail + n, sizeof(st->detail) - n, "%s%s",
                     n > 0 ? "; " : "", more.detail);
        }
    }
}
