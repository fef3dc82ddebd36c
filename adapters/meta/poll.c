/*
 * The poller: what works without a public URL, and the safety net behind
 * webhooks. One round asks for the Page's recent posts and their new
 * comments (a "since" high-water mark per post), posts tagging the Page,
 * Instagram media and their comments, media I am tagged in, and the
 * Messenger or Instagram conversations. Everything delivered is
 * de-duplicated by the store (comment id, message id), so a webhook and a
 * poll that see the same comment show it once.
 */
#include "meta_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* The newest posts or media whose comments are read each round. */
#define WINDOW_POSTS 10
/* Events one answer may hold (a page of comments with their replies). */
#define EVENTS_MAX 512

static void round_done(struct meta *m);

static void on_t_poll(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct meta *m = arg;
    m->t_poll = NULL;
    meta__poll_start(m, 0);
}

/* A request of this round has ended. */
static void step_done(struct meta *m)
{
    if (--m->poll_pending == 0)
        round_done(m);
}

static void round_done(struct meta *m)
{
    m->polling = false;
    m->last_poll_ms = gw_now_ms();
    uint64_t next = (uint64_t)meta__poll_interval(m);
    if (m->poll_failed)
        next = (uint64_t)gw_backoff_next(&m->backoff) < next
                   ? (uint64_t)gw_backoff_next(&m->backoff)
                   : next;
    else
        gw_backoff_reset(&m->backoff);
    gw_ad_timer_stop(m->t_poll);
    m->t_poll = gw_ad_timer_start(m->ad, next, on_t_poll, m);
}

static void get(struct meta *m, mreq_cb cb, const char *family, char *url,
                const char *a)
{
    struct mreq *q = meta__req(cb, family);
    q->a = a != NULL ? gw_xstrdup(a) : NULL;
    m->poll_pending++;
    if (meta__send(m, q, "GET", url, NULL, false) < 0) {
        m->poll_failed = true;
        m->poll_pending--;
    }
    free(url);
}

/* An answer that is not usable: count it and say so in status. */
static bool answer_ok(struct meta *m, const struct gw_http_response *r,
                      const cJSON *j, const char *what)
{
    if (r->error == 0 && r->status >= 200 && r->status < 300 &&
        cJSON_IsArray(gw_json_arr(j, "data")))
        return true;
    if (r->error == 0 && r->status >= 200 && r->status < 300) {
        gw_ad_detail(m->ad, "%s: unexpected answer", what);
    } else {
        char *e = meta__error_text(r);
        gw_ad_detail(m->ad, "%s: %s", what, e);
        free(e);
    }
    m->poll_failed = true;
    return false;
}

static int by_time(const void *a, const void *b)
{
    const struct meta_event *x = a, *y = b;
    return (x->ev.created_ms > y->ev.created_ms) -
           (x->ev.created_ms < y->ev.created_ms);
}

/*
 * Deliver what an answer held, oldest first, and move the cursor to the
 * newest one stored; not past one that failed to store.
 */
static void deliver_all(struct meta *m, struct meta_event *evs, int n,
                        const char *cursor)
{
    qsort(evs, (size_t)n, sizeof(*evs), by_time);
    int64_t newest = 0;
    bool failed = false;
    gw_ad_batch_begin(m->ad);
    for (int i = 0; i < n; i++) {
        int rc = gw_ad_deliver(m->ad, &evs[i].ev);
        if (rc < 0) {
            failed = true;
            m->poll_failed = true;
            break;
        }
        if (evs[i].ev.created_ms > newest)
            newest = evs[i].ev.created_ms;
    }
    if (!failed && cursor != NULL && newest > 0) {
        char v[24];
        snprintf(v, sizeof(v), "%lld", (long long)(newest / 1000));
        gw_ad_cursor_set(m->ad, cursor, v);
    }
    gw_ad_batch_end(m->ad);
    for (int i = 0; i < n; i++)
        meta_event_free(&evs[i]);
}

static long long cursor_of(struct meta *m, const char *name)
{
    char *v = NULL;
    long long s = 0;
    if (gw_ad_cursor_get(m->ad, name, &v) == 0 && v != NULL)
        s = strtoll(v, NULL, 10);
    free(v);
    return s > 0 ? s : 0;
}

/* Converters have two shapes; this runs either into the array. */
static void add(struct meta *m, struct meta_event *evs, int *n, int rc,
                struct meta_event *e, long long since_s)
{
    if (rc == 0 && *n < EVENTS_MAX &&
        (since_s == 0 || e->ev.created_ms / 1000 >= since_s)) {
        evs[(*n)++] = *e;
        return;
    }
    if (rc < 0)
        gw_ad_detail(m->ad, "skipped an item Graph sent malformed");
    meta_event_free(e);
}

/* ---- Facebook ------------------------------------------------------------ */

static void on_fb_comments(struct meta *m, struct mreq *q,
                           const struct gw_http_response *r, cJSON *j)
{
    if (answer_ok(m, r, j, "comments")) {
        struct meta_me me = meta__me(m);
        struct meta_event *evs = gw_xcalloc(EVENTS_MAX, sizeof(*evs));
        int n = 0;
        const cJSON *c;
        cJSON_ArrayForEach(c, gw_json_arr(j, "data"))
        {
            struct meta_event e;
            add(m, evs, &n, meta_fb_comment(c, q->a, &me, &e), &e, 0);
        }
        char *cur = gw_xasprintf("c/%s", q->a);
        deliver_all(m, evs, n, cur);
        free(cur);
        free(evs);
    }
    step_done(m);
}

static void on_fb_feed(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (answer_ok(m, r, j, "feed")) {
        struct meta_me me = meta__me(m);
        struct meta_event *evs = gw_xcalloc(EVENTS_MAX, sizeof(*evs));
        int n = 0, posts = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, gw_json_arr(j, "data"))
        {
            const char *id = meta_json_id(p, "id");
            if (id == NULL || posts++ >= WINDOW_POSTS)
                continue;
            /* A visitor's post on the Page is addressed to it. */
            struct meta_event e;
            add(m, evs, &n, meta_fb_post(p, &me, &e), &e, 0);
            char *cur = gw_xasprintf("c/%s", id);
            long long since = cursor_of(m, cur);
            free(cur);
            char sincebuf[40] = "";
            if (since > 0)
                snprintf(sincebuf, sizeof(sincebuf), "&since=%lld", since);
            get(m, on_fb_comments, FAM_READ,
                meta__url(m,
                          "/%s/comments?filter=stream&order=chronological"
                          "&limit=100&fields=id,message,from,created_time,"
                          "parent,permalink_url,attachment%s",
                          id, sincebuf),
                id);
        }
        deliver_all(m, evs, n, NULL);
        free(evs);
    }
    step_done(m);
}

static void on_fb_tagged(struct meta *m, struct mreq *q,
                         const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (answer_ok(m, r, j, "mentions")) {
        struct meta_me me = meta__me(m);
        struct meta_event *evs = gw_xcalloc(EVENTS_MAX, sizeof(*evs));
        int n = 0;
        long long since = cursor_of(m, "tagged");
        const cJSON *p;
        cJSON_ArrayForEach(p, gw_json_arr(j, "data"))
        {
            struct meta_event e;
            add(m, evs, &n, meta_fb_post(p, &me, &e), &e, since);
        }
        deliver_all(m, evs, n, "tagged");
        free(evs);
    }
    step_done(m);
}

/* ---- Instagram ----------------------------------------------------------- */

static void on_ig_comments(struct meta *m, struct mreq *q,
                           const struct gw_http_response *r, cJSON *j)
{
    if (answer_ok(m, r, j, "comments")) {
        struct meta_me me = meta__me(m);
        struct meta_event *evs = gw_xcalloc(EVENTS_MAX, sizeof(*evs));
        int n = 0;
        char *cur = gw_xasprintf("c/%s", q->a);
        long long since = cursor_of(m, cur);
        const cJSON *c;
        cJSON_ArrayForEach(c, gw_json_arr(j, "data"))
        {
            struct meta_event e;
            add(m, evs, &n, meta_ig_comment(c, q->a, &me, &e), &e, since);
            const cJSON *rp;
            cJSON_ArrayForEach(rp,
                               gw_json_arr(gw_json_obj(c, "replies"), "data"))
            {
                add(m, evs, &n, meta_ig_comment(rp, q->a, &me, &e), &e, since);
            }
        }
        deliver_all(m, evs, n, cur);
        free(cur);
        free(evs);
    }
    step_done(m);
}

static void on_ig_media(struct meta *m, struct mreq *q,
                        const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (answer_ok(m, r, j, "media")) {
        int posts = 0;
        const cJSON *p;
        cJSON_ArrayForEach(p, gw_json_arr(j, "data"))
        {
            const char *id = meta_json_id(p, "id");
            if (id == NULL || posts++ >= WINDOW_POSTS)
                continue;
            /* Instagram's comments edge takes no "since": the cursor
             * filters here, and the store drops what it has. */
            get(m, on_ig_comments, FAM_READ,
                meta__url(m,
                          "/%s/comments?limit=50&fields=id,text,timestamp,"
                          "username,from,parent_id,replies{id,text,timestamp,"
                          "username,from,parent_id}",
                          id),
                id);
        }
    }
    step_done(m);
}

static void on_ig_tags(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (answer_ok(m, r, j, "tags")) {
        struct meta_me me = meta__me(m);
        struct meta_event *evs = gw_xcalloc(EVENTS_MAX, sizeof(*evs));
        int n = 0;
        long long since = cursor_of(m, "tags");
        const cJSON *p;
        cJSON_ArrayForEach(p, gw_json_arr(j, "data"))
        {
            struct meta_event e;
            add(m, evs, &n, meta_ig_tagged(p, &me, &e), &e, since);
        }
        deliver_all(m, evs, n, "tags");
        free(evs);
    }
    step_done(m);
}

/* ---- messages ------------------------------------------------------------ */

static void on_conversations(struct meta *m, struct mreq *q,
                             const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (answer_ok(m, r, j, "conversations")) {
        struct meta_me me = meta__me(m);
        struct meta_event *evs = gw_xcalloc(EVENTS_MAX, sizeof(*evs));
        int n = 0;
        long long since = cursor_of(m, "dm");
        const cJSON *c;
        cJSON_ArrayForEach(c, gw_json_arr(j, "data"))
        {
            const char *cid = meta_json_id(c, "id");
            const cJSON *msg;
            cJSON_ArrayForEach(msg,
                               gw_json_arr(gw_json_obj(c, "messages"), "data"))
            {
                struct meta_event e;
                int rc = meta_message(msg, cid, &me, &e);
                if (rc == 0)
                    meta__name_keep(m, e.ev.author_id, e.ev.author_name);
                add(m, evs, &n, rc, &e, since);
            }
        }
        deliver_all(m, evs, n, "dm");
        free(evs);
    }
    step_done(m);
}

/* ---- a round ------------------------------------------------------------- */

void meta__poll_start(struct meta *m, uint64_t delay_ms)
{
    if (m->signed_out || !m->signed_in)
        return;
    if (delay_ms > 0) {
        gw_ad_timer_stop(m->t_poll);
        m->t_poll = gw_ad_timer_start(m->ad, delay_ms, on_t_poll, m);
        return;
    }
    if (m->polling)
        return;
    gw_ad_timer_stop(m->t_poll);
    m->t_poll = NULL;
    m->polling = true;
    m->poll_failed = false;
    m->poll_pending = 1; /* this function, until it has asked everything */
    const char *conv_from = m->page_id != NULL ? m->page_id : m->me_id;
    if (m->net == META_FACEBOOK) {
        get(m, on_fb_feed, FAM_READ,
            meta__url(m,
                      "/%s/feed?limit=%d&fields=id,message,from,created_time,"
                      "permalink_url",
                      m->me_id, WINDOW_POSTS),
            NULL);
        get(m, on_fb_tagged, FAM_READ,
            meta__url(m,
                      "/%s/tagged?limit=25&fields=id,message,from,"
                      "created_time,permalink_url",
                      m->me_id),
            NULL);
    } else {
        get(m, on_ig_media, FAM_READ,
            meta__url(m,
                      "/%s/media?limit=%d&fields=id,caption,permalink,"
                      "timestamp,media_type",
                      m->me_id, WINDOW_POSTS),
            NULL);
        get(m, on_ig_tags, FAM_READ,
            meta__url(m,
                      "/%s/tags?limit=25&fields=id,caption,permalink,"
                      "timestamp,username,media_type",
                      m->me_id),
            NULL);
    }
    if (m->page_id != NULL || m->ig_login)
        get(m, on_conversations, FAM_CONV,
            meta__url(m,
                      "/%s/conversations?platform=%s&limit=10&fields=id,"
                      "updated_time,messages.limit(10){id,created_time,from,"
                      "to,message,attachments}",
                      conv_from,
                      m->net == META_FACEBOOK ? "messenger" : "instagram"),
            NULL);
    step_done(m);
}
