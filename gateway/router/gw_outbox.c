/*
 * The outbox: every reply, DM and action is committed to the store before
 * anything is sent, handed to its adapter once the account is ready (with
 * an idempotency key that stays the same on every attempt), retried with
 * back-off, and reported where it was asked. The rules that make a reply
 * (gw_compose.h) are applied here, when the action is handed over.
 *
 * !thread and !who are queries: nothing is stored, the answer is lines.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_compose.h"
#include "gw_gateway.h"
#include "gw_json.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

/* Outbox back-off: 1 s doubling to 5 min. */
#define OUTBOX_BACKOFF_MIN_MS 1000
#define OUTBOX_BACKOFF_MAX_MS 300000
/* Items handed over per round: the rest follows when these are done. */
#define OUTBOX_BATCH 100

#define QUERY_TOKEN_BIT (UINT64_C(1) << 62)

/* Sent, but the store refused to record it: the mark is tried again on
 * every round of the outbox until it is written. */
struct gw_unmarked {
    int64_t id;
    char *result;
};

struct gw_query {
    struct gw_query *next;
    uint64_t token;
    bool sent;
    enum gw_action_kind kind;
    char *account;
    char *origin;
    char *handle;
    char *parent_ref;
};

static const char *const action_names[GW_ACT_KIND_MAX] = {
    [GW_ACT_POST] = "post",       [GW_ACT_REPLY] = "reply",
    [GW_ACT_DM] = "dm",           [GW_ACT_FAV] = "fav",
    [GW_ACT_UNFAV] = "unfav",     [GW_ACT_BOOST] = "boost",
    [GW_ACT_UNBOOST] = "unboost", [GW_ACT_DELETE] = "delete",
    [GW_ACT_FOLLOW] = "follow",   [GW_ACT_UNFOLLOW] = "unfollow",
    [GW_ACT_THREAD] = "thread",   [GW_ACT_WHO] = "who",
    [GW_ACT_COMMAND] = "command",
};

const char *gw__action_name(enum gw_action_kind k)
{
    return k > 0 && k < GW_ACT_KIND_MAX ? action_names[k] : "action";
}

enum gw_action_kind gw__action_kind(const char *name)
{
    for (int i = 1; i < GW_ACT_KIND_MAX; i++)
        if (action_names[i] && strcmp(action_names[i], name) == 0)
            return (enum gw_action_kind)i;
    return 0;
}

bool gw__is_query_token(uint64_t token)
{
    return (token & QUERY_TOKEN_BIT) != 0;
}

static bool origin_is_query(const char *origin)
{
    return origin[0] != '#' && origin[0] != '&';
}

/* A bot line, kept in history, to where an action came from. */
static void tell_origin(struct gw_router *r, const char *origin,
                        const char *fmt, ...) GW_PRINTF(3, 4);

static void tell_origin(struct gw_router *r, const char *origin,
                        const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw__bot_line(r, origin, true, "%s", text);
}

/* ---- in flight ------------------------------------------------------------
 */

static bool is_inflight(struct gw_router *r, int64_t id)
{
    for (int i = 0; i < r->ninflight; i++)
        if (r->inflight[i] == id)
            return true;
    return false;
}

bool gw__outbox_busy(struct gw_router *r, int64_t id)
{
    return is_inflight(r, id);
}

static void inflight_add(struct gw_router *r, int64_t id)
{
    if (r->ninflight == r->capinflight) {
        r->capinflight = r->capinflight ? r->capinflight * 2 : 16;
        r->inflight = gw_xrealloc(r->inflight, sizeof(*r->inflight) *
                                                   (size_t)r->capinflight);
    }
    r->inflight[r->ninflight++] = id;
}

static void inflight_del(struct gw_router *r, int64_t id)
{
    for (int i = 0; i < r->ninflight; i++) {
        if (r->inflight[i] == id) {
            r->inflight[i] = r->inflight[--r->ninflight];
            return;
        }
    }
}

/* The account stopped: what it held is still pending in the store. */
void gw__outbox_drop_account(struct gw_router *r, const char *account)
{
    for (int i = 0; i < r->ninflight;) {
        struct gw_outbox_item it;
        memset(&it, 0, sizeof(it));
        if (gw_store_outbox_get(gw__store(r), r->inflight[i], &it) == 0 &&
            gw_strcasecmp(it.account, account) == 0)
            r->inflight[i] = r->inflight[--r->ninflight];
        else
            i++;
        gw_outbox_item_free(&it);
    }
}

/* ---- composing ------------------------------------------------------------
 */

/* A parent post as adapters see it, with the mentions it stored. */
struct parent {
    struct gw_post p;
    struct gw_post_ref ref;
    cJSON *mentions;
    const char **handles;
};

static void parent_free(struct parent *pa)
{
    gw_post_free(&pa->p);
    cJSON_Delete(pa->mentions);
    free(pa->handles);
    memset(pa, 0, sizeof(*pa));
}

static int parent_load(struct gw_router *r, const char *ref, struct parent *pa)
{
    memset(pa, 0, sizeof(*pa));
    if (gw_store_post_by_ref(gw__store(r), ref, &pa->p) < 0)
        return UV_ENOENT;
    struct gw_post *p = &pa->p;
    pa->ref.id = p->network_id;
    pa->ref.author = p->author;
    pa->ref.author_id = p->author_id;
    pa->ref.audience = (enum gw_audience)p->audience;
    pa->ref.cw = p->cw[0] ? p->cw : NULL;
    pa->ref.conversation = p->conversation;
    pa->ref.extra = p->extra;
    pa->mentions = cJSON_Parse(p->mentions);
    int n = cJSON_IsArray(pa->mentions) ? cJSON_GetArraySize(pa->mentions) : 0;
    if (n > 0) {
        pa->handles = gw_xcalloc((size_t)n, sizeof(char *));
        const cJSON *it;
        cJSON_ArrayForEach(it, pa->mentions)
        {
            if (cJSON_IsString(it) && pa->ref.nmentions < n)
                pa->handles[pa->ref.nmentions++] = it->valuestring;
        }
        pa->ref.mentions = pa->handles;
    }
    return 0;
}

/*
 * The action for an outbox entry, with the rules applied: a reply (and, on
 * networks where a DM is a post, a DM) names the people it answers; it keeps
 * the parent's content warning unless it has its own; it is never read by
 * more people than its parent. *text is what a->text points to.
 */
static void compose(struct gw_account *a, struct gw_action *act,
                    const struct parent *pa, const char *cw_typed,
                    enum gw_audience requested, char **text)
{
    unsigned caps = a->ops->caps;
    const struct gw_post_ref *p = pa != NULL ? &pa->ref : NULL;
    bool mention =
        (act->kind == GW_ACT_REPLY && (caps & GW_NET_MENTION_REPLIES)) ||
        (act->kind == GW_ACT_DM && (caps & GW_NET_MENTION_DMS));
    *text = NULL;
    if (mention) {
        int n = 0;
        const char **hs =
            gw_xcalloc((size_t)(p != NULL ? p->nmentions : 0) + 2, sizeof(*hs));
        if (act->kind == GW_ACT_DM && act->handle != NULL)
            hs[n++] = act->handle;
        if (p != NULL) {
            hs[n++] = p->author;
            for (int i = 0; i < p->nmentions; i++)
                hs[n++] = p->mentions[i];
        }
        *text = gw_compose_mentions(act->text, hs, n, gw_rt_me(&a->ad));
        free(hs);
        act->text = *text;
    }
    if (caps & GW_NET_CW)
        act->cw = cw_typed != NULL && *cw_typed           ? cw_typed
                  : p != NULL && act->kind != GW_ACT_POST ? p->cw
                                                          : NULL;
    switch (act->kind) {
    case GW_ACT_POST:
        act->audience = requested != GW_AUD_UNKNOWN ? requested : GW_AUD_PUBLIC;
        break;
    case GW_ACT_REPLY:
        act->audience = gw_audience_narrow(
            p != NULL ? p->audience : GW_AUD_UNKNOWN, requested);
        break;
    case GW_ACT_DM:
        act->audience = GW_AUD_MENTIONED;
        break;
    default:
        break;
    }
}

/* ---- handing items over ---------------------------------------------------
 */

static void outbox_schedule(struct gw_router *r);

static void item_failed(struct gw_router *r, int64_t id, const char *why)
{
    if (gw_store_outbox_failed(gw__store(r), id, why) < 0)
        gw_log(r->gw, GW_LOG_ERROR, "outbox %lld: could not record \"%s\": %s",
               (long long)id, why, gw_store_errmsg(gw__store(r)));
}

static void outbox_dispatch(struct gw_router *r, struct gw_outbox_item *it)
{
    struct gw_account *a = gw__account(r, it->account);
    if (a == NULL) {
        item_failed(r, it->id, "the account was removed");
        return;
    }
    if (!gw__account_ready(a) || is_inflight(r, it->id))
        return; /* waits for the account */
    cJSON *pl = cJSON_Parse(it->payload);
    enum gw_action_kind kind = gw__action_kind(it->action);
    if (pl == NULL || kind == 0) {
        cJSON_Delete(pl);
        item_failed(r, it->id, "unreadable outbox entry");
        return;
    }
    const char *parent_ref = gw_json_str(pl, "parent");
    struct parent pa;
    memset(&pa, 0, sizeof(pa));
    if (parent_ref != NULL && parent_load(r, parent_ref, &pa) < 0) {
        cJSON_Delete(pl);
        item_failed(r, it->id, "the post is not known");
        tell_origin(r, it->origin, "%s: [%s] is not known", it->who,
                    parent_ref);
        return;
    }
    struct gw_action act;
    memset(&act, 0, sizeof(act));
    act.token = (uint64_t)it->id;
    act.kind = kind;
    act.text = gw_json_str(pl, "text");
    act.handle = gw_json_str(pl, "handle");
    act.parent = parent_ref != NULL ? &pa.ref : NULL;
    act.idem_key = it->idem_key;
    act.maybe_sent = it->maybe;
    act.queued_ms = it->created_ms;
    act.command = gw_json_str(pl, "command");
    char *text = NULL;
    compose(a, &act, parent_ref != NULL ? &pa : NULL, gw_json_str(pl, "cw"),
            (enum gw_audience)gw_json_long(pl, "audience", 0, 0, 4), &text);
    inflight_add(r, it->id);
    if (gw_rt_act(&a->ad, &act) < 0) {
        inflight_del(r, it->id);
        item_failed(r, it->id, "the network adapter refused it");
    }
    free(text);
    parent_free(&pa);
    cJSON_Delete(pl);
}

void gw__outbox_free(struct gw_router *r)
{
    free(r->inflight);
    for (int i = 0; i < r->nunmarked; i++)
        free(r->unmarked[i].result);
    free(r->unmarked);
}

static void marks_retry(struct gw_router *r)
{
    for (int i = 0; i < r->nunmarked;) {
        struct gw_unmarked *u = &r->unmarked[i];
        int rc = gw_store_outbox_sent(gw__store(r), u->id, u->result);
        if (rc < 0 && rc != UV_EINVAL && rc != UV_ENOENT) {
            i++;
            continue;
        }
        inflight_del(r, u->id);
        free(u->result);
        r->unmarked[i] = r->unmarked[--r->nunmarked];
    }
}

void gw__outbox_dispatch_due(struct gw_router *r)
{
    struct gw_outbox_item *items = NULL;
    marks_retry(r);
    int n =
        gw_store_outbox_due(gw__store(r), gw_now_ms(), OUTBOX_BATCH, &items);
    for (int i = 0; i < n && !r->stopping; i++)
        outbox_dispatch(r, &items[i]);
    gw_outbox_items_free(items, n > 0 ? n : 0);
    outbox_schedule(r);
}

static void on_outbox_timer(uv_timer_t *t)
{
    gw__outbox_dispatch_due(t->data);
}

static void outbox_schedule(struct gw_router *r)
{
    int64_t next;
    if (r->stopping)
        return;
    if (gw_store_outbox_next_time(gw__store(r), &next) < 0) {
        uv_timer_stop(&r->outbox_timer);
        return;
    }
    int64_t delay = next - gw_now_ms();
    if (delay < 0)
        delay = 0;
    /* Items whose account is not ready would spin the timer at 0 ms; the
     * account's readiness kicks the outbox itself. */
    if (delay < 1000)
        delay = 1000;
    uv_timer_start(&r->outbox_timer, on_outbox_timer, (uint64_t)delay, 0);
}

void gw__outbox_kick(struct gw_router *r)
{
    if (r->stopping)
        return;
    gw__group_flush(r); /* the outbox commits on its own */
    gw__outbox_dispatch_due(r);
}

/* Failed: pending again; pending (waiting for a retry): due now. */
int gw__outbox_retry(struct gw_router *r, int64_t id)
{
    int rc = gw_store_outbox_requeue(gw__store(r), id);
    if (rc == 0)
        gw__outbox_kick(r);
    return rc;
}

/* ---- outcomes -------------------------------------------------------------
 */

static void record_undo(struct gw_router *r, const char *account,
                        const char *who, const char *ref)
{
    char key[256];
    snprintf(key, sizeof(key), "undo:%s:%s", account, who);
    gw_strlower(key);
    gw_store_kv_set(gw__store(r), key, ref);
}

/* What the network made, shown with its own ref where it was asked. */
static void echo_created(struct gw_router *r, struct gw_account *a,
                         const struct gw_outbox_item *it,
                         const struct gw_event *created)
{
    struct gw_event ev = *created;
    ev.kind = GW_EV_OWN;
    bool dm =
        gw__action_kind(it->action) == GW_ACT_DM || origin_is_query(it->origin);
    if (ev.id == NULL)
        return;
    if (!dm) {
        if (gw__deliver_post(a, &ev) < 0)
            return;
        struct gw_post p;
        memset(&p, 0, sizeof(p));
        if (gw_store_post_by_netid(gw__store(r), a->name, ev.id, &p) == 0)
            record_undo(r, a->name, it->who, p.ref);
        gw_post_free(&p);
        return;
    }
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    p.account = a->name;
    p.network_id = (char *)ev.id;
    p.kind = "own";
    p.author = (char *)(ev.author ? ev.author : "");
    p.author_id = (char *)(ev.author_id ? ev.author_id : p.author);
    p.text = (char *)(ev.text ? ev.text : "");
    p.target = it->origin;
    p.extra = (char *)(ev.extra ? ev.extra : "");
    p.created_ms = ev.created_ms ? ev.created_ms : gw_now_ms();
    p.url = (char *)(ev.url ? ev.url : "");
    if (gw_store_post_put(gw__store(r), &p) == 0) {
        record_undo(r, a->name, it->who, p.ref);
        /* A query is the team's too: they see what was said in it, and
         * by whom, with the DM's own ref. */
        tell_origin(r, it->origin, "[%s] %s wrote: %s", p.ref, it->who, p.text);
    }
}

static void done_ok(struct gw_router *r, struct gw_account *a,
                    const struct gw_outbox_item *it, const cJSON *pl,
                    const struct gw_action_result *res)
{
    enum gw_action_kind k = gw__action_kind(it->action);
    const char *result = res->result_id ? res->result_id : "";
    if (gw_store_outbox_sent(gw__store(r), it->id, result) < 0) {
        /* Still pending in the store: never hand it over again, and write
         * the mark as soon as the store takes it. Only a crash before then
         * sends it again (with the same idempotency key). */
        gw_log(r->gw, GW_LOG_ERROR,
               "outbox %lld: sent, but could not record it (%s); trying "
               "again",
               (long long)it->id, gw_store_errmsg(gw__store(r)));
        r->unmarked = gw_xrealloc(r->unmarked, sizeof(*r->unmarked) *
                                                   (size_t)(r->nunmarked + 1));
        r->unmarked[r->nunmarked].id = it->id;
        r->unmarked[r->nunmarked].result = gw_xstrdup(result);
        r->nunmarked++;
        inflight_add(r, it->id);
    }
    if (res->created != NULL && a != NULL)
        echo_created(r, a, it, res->created);
    const char *parent = gw_json_str(pl, "parent");
    if (parent != NULL) {
        struct gw_post pp;
        memset(&pp, 0, sizeof(pp));
        if ((k == GW_ACT_REPLY || k == GW_ACT_DM) && a != NULL &&
            gw_store_post_by_ref(gw__store(r), parent, &pp) == 0) {
            gw__inbox_answered(r, a, &pp, it->who, gw_json_str(pl, "text"),
                               it->origin);
        } else if (k != GW_ACT_REPLY && k != GW_ACT_DM && k != GW_ACT_POST) {
            const char *cmd = gw_json_str(pl, "command");
            tell_origin(r, it->origin, "%s: %s [%s] done", it->who,
                        cmd != NULL ? cmd : it->action, parent);
        }
        gw_post_free(&pp);
    } else if (k == GW_ACT_COMMAND && res->nlines > 0) {
        /* A network's own command says itself what it did. */
        for (int i = 0; i < res->nlines; i++)
            tell_origin(r, it->origin, "%s: %s", it->who, res->lines[i]);
    } else if (k == GW_ACT_FOLLOW || k == GW_ACT_UNFOLLOW ||
               k == GW_ACT_COMMAND) {
        const char *h = gw_json_str(pl, "handle");
        const char *cmd = gw_json_str(pl, "command");
        tell_origin(r, it->origin, "%s: %s %s done", it->who,
                    cmd != NULL ? cmd : it->action, h ? h : "");
    }
}

static void done_retry(struct gw_router *r, const struct gw_outbox_item *it,
                       const struct gw_action_result *res, const char *msg)
{
    if (it->attempts + 1 >= GW_OUTBOX_ATTEMPTS_MAX) {
        item_failed(r, it->id, msg);
        tell_origin(r, it->origin,
                    "%s: %s failed after %d attempts: %s "
                    "(outbox %lld; 'retry %lld' in %s)",
                    it->who, it->action, it->attempts + 1, msg,
                    (long long)it->id, (long long)it->id,
                    r->gw->cfg->control_channel);
        return;
    }
    int64_t backoff = OUTBOX_BACKOFF_MIN_MS;
    for (int i = 0; i < it->attempts && backoff < OUTBOX_BACKOFF_MAX_MS; i++)
        backoff *= 2;
    if (backoff > OUTBOX_BACKOFF_MAX_MS)
        backoff = OUTBOX_BACKOFF_MAX_MS;
    if (res->retry_after_ms > backoff)
        backoff = res->retry_after_ms;
    bool maybe = res->status == GW_ACT_MAYBE || it->maybe;
    if (gw_store_outbox_retry_at(gw__store(r), it->id, gw_now_ms() + backoff,
                                 msg, maybe) < 0)
        gw_log(r->gw, GW_LOG_ERROR, "outbox %lld: could not record a retry: %s",
               (long long)it->id, gw_store_errmsg(gw__store(r)));
    if (it->attempts == 0)
        tell_origin(r, it->origin,
                    "%s: %s is delayed (%s); it stays in "
                    "the outbox and is retried",
                    it->who, it->action, msg[0] ? msg : "temporary failure");
}

void gw__outbox_done(struct gw_router *r, int64_t id,
                     const struct gw_action_result *res)
{
    struct gw_outbox_item it;
    memset(&it, 0, sizeof(it));
    inflight_del(r, id);
    gw__group_flush(r); /* the outbox writes on its own */
    if (gw_store_outbox_get(gw__store(r), id, &it) < 0)
        return;
    if (it.state != GW_OUTBOX_PENDING) {
        gw_outbox_item_free(&it);
        return;
    }
    struct gw_account *a = gw__account(r, it.account);
    const char *msg = res->message && *res->message ? res->message : "";
    cJSON *pl = cJSON_Parse(it.payload);
    switch (res->status) {
    case GW_ACT_OK:
        done_ok(r, a, &it, pl, res);
        break;
    case GW_ACT_RETRY:
    case GW_ACT_MAYBE:
        done_retry(r, &it, res, msg);
        break;
    case GW_ACT_FAILED:
    case GW_ACT_UNSUPPORTED: {
        char why[600];
        if (res->status == GW_ACT_UNSUPPORTED)
            snprintf(why, sizeof(why), "%s cannot %s",
                     a ? a->network : "this network", it.action);
        else
            snprintf(why, sizeof(why), "%s", msg[0] ? msg : "failed");
        item_failed(r, id, why);
        tell_origin(r, it.origin, "%s: %s failed: %s (outbox %lld)", it.who,
                    it.action, why, (long long)id);
        break;
    }
    }
    cJSON_Delete(pl);
    gw_outbox_item_free(&it);
    outbox_schedule(r);
}

/* ---- asking ------------------------------------------------------------- */

/* A network that cannot do this says so before anything is queued, with
 * its own reason where it gives one. */
static bool can(const struct gw_enqueue *e)
{
    const struct gw_adapter_ops *ops = e->a->ops;
    if (ops->actions & GW_ACT_BIT(e->kind))
        return true;
    const char *why = ops->why_not != NULL ? ops->why_not(e->kind) : NULL;
    if (why != NULL && *why != '\0')
        gw__tell(e->sp, e->origin, "%s cannot %s: %s", e->a->network,
                 gw__action_name(e->kind), why);
    else
        gw__tell(e->sp, e->origin, "%s cannot %s (a %s account)", e->a->network,
                 gw__action_name(e->kind), e->a->network);
    return false;
}

/* Where an action that cannot go now waits, in words. */
static void tell_waiting(const struct gw_enqueue *e, int64_t id)
{
    struct gw_account *a = e->a;
    const char *what = gw__action_name(e->kind);
    if (!a->running)
        gw__tell(e->sp, e->origin,
                 "account %s is not connected; the %s waits in the outbox "
                 "(%lld)",
                 a->name, what, (long long)id);
    else if (gw_rt_state(&a->ad) == GW_RT_SIGNED_OUT)
        gw__tell(e->sp, e->origin,
                 "account %s is not signed in (%s); the %s waits in the "
                 "outbox (%lld)",
                 a->name, gw_rt_why(&a->ad), what, (long long)id);
}

/* Checked now where the network can tell (the length, a messaging window):
 * the user hears at once, not from a failed outbox item later. */
static bool network_takes(const struct gw_enqueue *e, const char *text,
                          const char *cw)
{
    struct gw_account *a = e->a;
    if (!gw__account_ready(a))
        return true;
    struct parent pa;
    bool have =
        e->parent_ref != NULL && parent_load(a->r, e->parent_ref, &pa) == 0;
    struct gw_action act;
    memset(&act, 0, sizeof(act));
    act.kind = e->kind;
    act.text = text;
    act.handle = e->handle;
    act.parent = have ? &pa.ref : NULL;
    act.command = e->command;
    char *composed = NULL, err[300] = "";
    compose(a, &act, have ? &pa : NULL, cw, GW_AUD_UNKNOWN, &composed);
    int rc = gw_rt_check(&a->ad, &act, err, sizeof(err));
    free(composed);
    if (have)
        parent_free(&pa);
    if (rc < 0 && err[0] != '\0') {
        gw__tell(e->sp, e->origin, "not sent: %s", err);
        return false;
    }
    return true;
}

void gw__enqueue(const struct gw_enqueue *e)
{
    struct gw_account *a = e->a;
    struct gw_router *r = a->r;
    if (!can(e))
        return;
    char *clean = NULL;
    if (e->text) {
        char *stripped = gw_text_strip_formatting(e->text);
        clean = gw_text_sanitize(stripped, strlen(stripped));
        free(stripped);
    }
    bool post = e->kind == GW_ACT_POST || e->kind == GW_ACT_REPLY ||
                e->kind == GW_ACT_DM;
    const char *cw = post ? a->cw_next : NULL;
    if (!network_takes(e, clean, cw)) {
        free(clean);
        return;
    }
    cJSON *pl = cJSON_CreateObject();
    if (clean)
        cJSON_AddStringToObject(pl, "text", clean);
    if (e->handle)
        cJSON_AddStringToObject(pl, "handle", e->handle);
    if (e->parent_ref)
        cJSON_AddStringToObject(pl, "parent", e->parent_ref);
    if (e->command)
        cJSON_AddStringToObject(pl, "command", e->command);
    if (cw) {
        cJSON_AddStringToObject(pl, "cw", cw);
        free(a->cw_next);
        a->cw_next = NULL;
    }
    char *json = cJSON_PrintUnformatted(pl);
    int64_t id = 0;
    gw__group_flush(r); /* the outbox commits on its own */
    int rc =
        gw_store_outbox_add(gw__store(r), a->name, gw__action_name(e->kind),
                            json, e->origin, e->sp->person, &id);
    cJSON_free(json);
    cJSON_Delete(pl);
    free(clean);
    if (rc < 0) {
        gw__tell(e->sp, e->origin,
                 "could not store the %s: %s; nothing was "
                 "sent",
                 gw__action_name(e->kind), gw_store_errmsg(gw__store(r)));
        return;
    }
    tell_waiting(e, id);
    gw__outbox_kick(r);
}

static void query_free(struct gw_query *q)
{
    free(q->account);
    free(q->origin);
    free(q->handle);
    free(q->parent_ref);
    free(q);
}

static void query_send(struct gw_router *r, struct gw_query *q)
{
    struct gw_account *a = gw__account(r, q->account);
    struct parent pa;
    memset(&pa, 0, sizeof(pa));
    if (a == NULL ||
        (q->parent_ref != NULL && parent_load(r, q->parent_ref, &pa) < 0)) {
        struct gw_action_result res = {.status = GW_ACT_FAILED,
                                       .message = "the post is not known"};
        gw__query_done(r, q->token, &res);
        return;
    }
    struct gw_action act;
    memset(&act, 0, sizeof(act));
    act.token = q->token;
    act.kind = q->kind;
    act.handle = q->handle;
    act.parent = q->parent_ref != NULL ? &pa.ref : NULL;
    q->sent = true;
    if (gw_rt_act(&a->ad, &act) < 0) {
        struct gw_action_result res = {.status = GW_ACT_UNSUPPORTED};
        gw__query_done(r, q->token, &res);
    }
    parent_free(&pa);
}

void gw__query(const struct gw_enqueue *e)
{
    struct gw_router *r = e->a->r;
    struct gw_account *a = e->a;
    if (!can(e))
        return;
    if (!a->running) {
        gw__tell(e->sp, e->origin, "account %s is not connected", a->name);
        return;
    }
    if (gw_rt_state(&a->ad) == GW_RT_SIGNED_OUT) {
        gw__tell(e->sp, e->origin, "account %s is not signed in: %s", a->name,
                 gw_rt_why(&a->ad));
        return;
    }
    struct gw_query *q = gw_xcalloc(1, sizeof(*q));
    q->token = QUERY_TOKEN_BIT | ++r->next_query;
    q->kind = e->kind;
    q->account = gw_xstrdup(a->name);
    q->origin = gw_xstrdup(e->origin);
    q->handle = e->handle ? gw_xstrdup(e->handle) : NULL;
    q->parent_ref = e->parent_ref ? gw_xstrdup(e->parent_ref) : NULL;
    q->next = r->queries;
    r->queries = q;
    /* Signing in: asked as soon as the account is ready. */
    if (gw__account_ready(a))
        query_send(r, q);
}

void gw__queries_ready(struct gw_router *r, struct gw_account *a)
{
    for (struct gw_query *q = r->queries; q != NULL;) {
        struct gw_query *next = q->next;
        if (!q->sent && gw_strcasecmp(q->account, a->name) == 0)
            query_send(r, q); /* may answer and free q at once */
        q = next;
    }
}

/* One post of a thread: "[ref] nick: text" on one line, as the people
 * and refs of the channel, not the network's raw handles. */
static void show_context(struct gw_router *r, struct gw_account *a,
                         const char *origin, const struct gw_event *ev)
{
    if (ev->id == NULL) {
        tell_origin(r, origin, "%s", ev->text ? ev->text : "");
        return;
    }
    char ref[16], nick[GW_NICK_MAX + 1];
    if (gw__keep_context(a, ev, ref, sizeof(ref), nick, sizeof(nick)) < 0) {
        tell_origin(r, origin, "%s: %s", ev->author ? ev->author : "?",
                    ev->text ? ev->text : "");
        return;
    }
    bool cw = ev->cw != NULL && *ev->cw != '\0';
    char *raw = gw_xasprintf("[%s] %s: %s%s%s%s", ref, nick, cw ? "[CW: " : "",
                             cw ? ev->cw : "", cw ? "] " : "",
                             ev->text ? ev->text : "");
    char *line = gw_text_one_line(raw);
    gw_text_truncate(line, GW_CONTEXT_LINE_MAX);
    tell_origin(r, origin, "%s", line);
    free(line);
    free(raw);
}

void gw__query_done(struct gw_router *r, uint64_t token,
                    const struct gw_action_result *res)
{
    struct gw_query *q = NULL;
    for (struct gw_query **pp = &r->queries; *pp; pp = &(*pp)->next) {
        if ((*pp)->token == token) {
            q = *pp;
            *pp = q->next;
            break;
        }
    }
    if (q == NULL)
        return;
    if (res->status == GW_ACT_OK) {
        for (int i = 0; i < res->nlines; i++)
            tell_origin(r, q->origin, "%s", res->lines[i]);
        struct gw_account *a = gw__account(r, q->account);
        for (int i = 0; i < res->nitems && a != NULL; i++)
            show_context(r, a, q->origin, &res->items[i]);
        if (res->nlines == 0 && res->nitems == 0)
            tell_origin(r, q->origin, "(nothing)");
    } else if (res->status == GW_ACT_UNSUPPORTED) {
        tell_origin(r, q->origin, "this network cannot do that");
    } else {
        tell_origin(r, q->origin, "failed: %s",
                    res->message && *res->message ? res->message
                                                  : "try again later");
    }
    query_free(q);
}

/* Queries of an account that stopped or signed out (account NULL: all)
 * are answered with why, or dropped when there is no why. */
void gw__queries_drop(struct gw_router *r, const char *account, const char *why)
{
    struct gw_query **pp = &r->queries;
    while (*pp) {
        struct gw_query *q = *pp;
        if (account == NULL || gw_strcasecmp(q->account, account) == 0) {
            *pp = q->next;
            if (why != NULL && *why != '\0' && !r->stopping)
                tell_origin(r, q->origin, "failed: %s", why);
            query_free(q);
        } else {
            pp = &q->next;
        }
    }
}
