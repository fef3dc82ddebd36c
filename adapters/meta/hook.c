/*
 * Meta's webhooks: GET verification (hub.challenge for the right
 * hub.verify_token), POSTs signed with X-Hub-Signature-256 (HMAC-SHA256 of
 * the exact bytes with the app secret), entries for this account turned
 * into events. A POST is answered 200 only once what it carried is
 * committed to the store; anything else makes Meta send it again, and
 * redeliveries are dropped by the store (comment id, mid).
 *
 * Instagram mentions carry ids only and Meta keeps no copy: they are
 * fetched before the answer. A Messenger sender's name is fetched once.
 */
#include "meta_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"
#include "gw_text.h"

/* Events one POST may carry: past the body bound (GW_WEBHOOK_BODY_MAX,
 * 512 KiB) no change is smaller than 64 bytes, so this is never reached by
 * a body the listener takes; if it is, the POST is refused, not cut. */
#define JOB_EVENTS_MAX 8192

/* One POST being handled. */
struct job {
    struct job *next, *prev; /* m->jobs */
    struct meta *m;
    struct gw_webhook_req *rq;
    int waiting; /* fetches out, +1 while the body is read */
    bool failed; /* a fetch failed: answer 503 */
    char why[160];
    struct meta_event **evs; /* grown as entries come; each its own
                                allocation (ev.media points into it) */
    int cap;
    int n;
    unsigned gen;
};

static void job_finish(struct job *jb);

static void respond(struct gw_webhook_req *rq, int status, const char *text)
{
    gw_ad_webhook_respond(rq, status, "text/plain; charset=utf-8", text,
                          strlen(text));
}

static void job_free(struct job *jb)
{
    if (jb->prev != NULL)
        jb->prev->next = jb->next;
    else
        jb->m->jobs = jb->next;
    if (jb->next != NULL)
        jb->next->prev = jb->prev;
    for (int i = 0; i < jb->n; i++)
        meta_event_free(jb->evs[i]);
    for (int i = 0; i < jb->cap && jb->evs[i] != NULL; i++)
        free(jb->evs[i]);
    free(jb->evs);
    free(jb);
}

/* Room for one more event (jb->n counts those kept); NULL past the
 * bound, and then the whole POST is answered 503. */
static struct meta_event *job_slot(struct job *jb)
{
    if (jb->n == JOB_EVENTS_MAX) {
        jb->failed = true;
        snprintf(jb->why, sizeof(jb->why), "more than %d events in one POST",
                 JOB_EVENTS_MAX);
        return NULL;
    }
    if (jb->n == jb->cap) {
        int cap = jb->cap == 0 ? 8 : jb->cap * 2;
        jb->evs = gw_xrealloc(jb->evs, sizeof(*jb->evs) * (size_t)cap);
        memset(jb->evs + jb->cap, 0,
               sizeof(*jb->evs) * (size_t)(cap - jb->cap));
        jb->cap = cap;
    }
    if (jb->evs[jb->n] == NULL)
        jb->evs[jb->n] = gw_xcalloc(1, sizeof(**jb->evs));
    return jb->evs[jb->n];
}

static void on_committed(struct gw_adapter *ad, void *arg, int rc)
{
    (void)ad;
    struct job *jb = arg;
    if (rc == 0) {
        respond(jb->rq, 200, "EVENT_RECEIVED");
    } else {
        gw_ad_detail(jb->m->ad,
                     "webhook: the store failed (%s); Meta will "
                     "send it again",
                     uv_strerror(rc));
        respond(jb->rq, 503, "not stored; send it again");
    }
    job_free(jb);
}

static void job_finish(struct job *jb)
{
    struct meta *m = jb->m;
    if (jb->failed) {
        gw_ad_detail(m->ad,
                     "webhook: %s; answered 503 so that Meta sends it "
                     "again",
                     jb->why);
        respond(jb->rq, 503, jb->why);
        job_free(jb);
        return;
    }
    gw_ad_batch_begin(m->ad);
    for (int i = 0; i < jb->n; i++) {
        if (gw_ad_deliver(m->ad, &jb->evs[i]->ev) < 0) {
            gw_ad_batch_end(m->ad);
            gw_ad_detail(m->ad, "webhook: an event could not be stored; "
                                "answered 503 so that Meta sends it again");
            respond(jb->rq, 503, "not stored; send it again");
            job_free(jb);
            return;
        }
    }
    gw_ad_batch_end(m->ad);
    gw_ad_after_commit(m->ad, on_committed, jb);
}

static void fetch_done(struct job *jb)
{
    if (--jb->waiting == 0)
        job_finish(jb);
}

/* The account stopped with a fetch out: the webhook core has answered
 * 503 already; the job goes with its last request. */
void meta__job_drop(void *job)
{
    struct job *jb = job;
    if (--jb->waiting == 0)
        job_free(jb);
}

static void on_mention(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    struct job *jb = q->job;
    q->job = NULL;
    struct meta_error e;
    if (r->error == 0 && r->status >= 200 && r->status < 300) {
        struct meta_me me = meta__me(m);
        struct meta_event *slot = job_slot(jb);
        struct meta_event tmp;
        int rc = meta_ig_mentioned(j, q->a, q->b, &me, slot ? slot : &tmp);
        if (rc == 0 && slot != NULL)
            jb->n++;
        else
            meta_event_free(slot ? slot : &tmp);
    } else if (r->error == 0 &&
               meta_error_parse(r->body, r->body_len, &e) == 0 &&
               e.code == 100) {
        /* Deleted before we asked: nothing to keep, nothing to redo. */
        gw_ad_detail(m->ad, "webhook: a mention was deleted before it could "
                            "be read");
    } else {
        char *t = meta__error_text(r);
        jb->failed = true;
        snprintf(jb->why, sizeof(jb->why), "could not read a mention: %s", t);
        free(t);
    }
    fetch_done(jb);
}

static void on_profile(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    struct job *jb = q->job;
    q->job = NULL;
    const char *name = gw_json_str(j, "name");
    if (name == NULL)
        name = gw_json_str(j, "username");
    if (r->error == 0 && r->status == 200 && name != NULL) {
        meta__name_keep(m, q->a, name);
        /* The events of this sender wait in the job: name them now. */
        for (int i = 0; i < jb->n; i++) {
            struct meta_event *e = jb->evs[i];
            if (e->ev.kind == GW_EV_DM && e->ev.author_id != NULL &&
                strcmp(e->ev.author_id, q->a) == 0 &&
                e->nstrs < META_EVENT_STRS) {
                char *one = gw_xstrdup(name);
                gw_text_truncate(one, 200);
                e->strs[e->nstrs++] = one;
                e->ev.author = e->ev.author_name = one;
            }
        }
    }
    /* No name: the id stands in, nothing is lost. */
    fetch_done(jb);
}

static void job_fetch(struct job *jb, mreq_cb cb, char *url, const char *a,
                      const char *b)
{
    struct meta *m = jb->m;
    struct mreq *q = meta__req(cb, FAM_READ);
    /* Answered whatever happens to the session: the POST waits for it. */
    q->is_action = true;
    q->job = jb;
    q->a = a != NULL ? gw_xstrdup(a) : NULL;
    q->b = b != NULL ? gw_xstrdup(b) : NULL;
    jb->waiting++;
    if (meta__send(m, q, "GET", url, NULL, false) < 0) {
        jb->waiting--;
        jb->failed = true;
        snprintf(jb->why, sizeof(jb->why), "could not start a request");
    }
    free(url);
}

static bool fetching_profile(struct job *jb, const char *id)
{
    for (int i = 0; i < jb->n; i++)
        if (jb->evs[i]->ev.kind == GW_EV_DM && jb->evs[i]->ev.author_id &&
            strcmp(jb->evs[i]->ev.author_id, id) == 0)
            return true;
    return false;
}

static void entry_messaging(struct job *jb, const cJSON *items)
{
    struct meta *m = jb->m;
    struct meta_me me = meta__me(m);
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        const char *sid = meta_json_id(gw_json_obj(it, "sender"), "id");
        const char *name = sid != NULL ? meta__name_of(m, sid) : NULL;
        bool ask = sid != NULL && name == NULL && !fetching_profile(jb, sid);
        struct meta_event *slot = job_slot(jb);
        if (slot == NULL)
            break;
        int rc = meta_messaging(it, name, &me, slot);
        if (rc != 0) {
            if (rc < 0)
                gw_ad_detail(m->ad, "webhook: skipped a malformed message");
            meta_event_free(slot);
            continue;
        }
        jb->n++;
        if (ask && slot->ev.kind == GW_EV_DM)
            job_fetch(
                jb, on_profile,
                meta__url(m, "/%s?fields=%s", sid,
                          m->net == META_FACEBOOK ? "name" : "name,username"),
                sid, NULL);
    }
}

static void entry_changes(struct job *jb, const cJSON *changes, int64_t t)
{
    struct meta *m = jb->m;
    struct meta_me me = meta__me(m);
    const cJSON *ch;
    cJSON_ArrayForEach(ch, changes)
    {
        const char *media = NULL, *comment = NULL;
        if (m->net == META_INSTAGRAM &&
            meta_ig_mention_ids(ch, &media, &comment) == 0) {
            char *url =
                comment != NULL
                    ? meta__url(m,
                                "/%s?fields=mentioned_comment.comment_id(%s)"
                                "{id,text,timestamp,username,media{id,"
                                "permalink}}",
                                m->me_id, comment)
                    : meta__url(m,
                                "/%s?fields=mentioned_media.media_id(%s){id,"
                                "caption,media_type,permalink,timestamp,"
                                "username}",
                                m->me_id, media);
            job_fetch(jb, on_mention, url, media, comment);
            continue;
        }
        struct meta_event *slot = job_slot(jb);
        if (slot == NULL)
            break;
        int rc = m->net == META_FACEBOOK ? meta_fb_change(ch, t, &me, slot)
                                         : meta_ig_change(ch, t, &me, slot);
        if (rc == 0) {
            jb->n++;
        } else {
            if (rc < 0)
                gw_ad_detail(m->ad, "webhook: skipped a malformed change");
            meta_event_free(slot);
        }
    }
}

static int on_post(struct meta *m, struct gw_webhook_req *rq)
{
    size_t len = 0;
    const char *body = gw_webhook_body(rq, &len);
    const char *sig = gw_webhook_header(rq, "x-hub-signature-256");
    if (m->app_secret == NULL || sig == NULL ||
        strncmp(sig, "sha256=", 7) != 0 ||
        !gw_hmac_sha256_ok(m->app_secret, body, len, sig + 7))
        return 0; /* not signed with this account's app secret */
    cJSON *j = cJSON_ParseWithLength(body, len);
    const char *object = gw_json_str(j, "object");
    const char *want = m->net == META_FACEBOOK ? "page" : "instagram";
    if (object == NULL || !cJSON_IsArray(gw_json_arr(j, "entry"))) {
        cJSON_Delete(j);
        gw_ad_detail(m->ad, "webhook: a signed body that is not a Meta "
                            "event (answered 400)");
        respond(rq, 400, "not a webhook event");
        return 1;
    }
    if (strcmp(object, want) != 0) {
        /* Signed by our app, so Meta's; but not for this kind of
         * account. 200: sending it again would not change that. */
        gw_ad_detail(m->ad,
                     "webhook: ignored an event for object \"%.40s\" "
                     "(this account takes \"%s\")",
                     object, want);
        cJSON_Delete(j);
        respond(rq, 200, "ignored");
        return 1;
    }
    struct job *jb = gw_xcalloc(1, sizeof(*jb));
    jb->m = m;
    jb->next = m->jobs;
    if (m->jobs != NULL)
        m->jobs->prev = jb;
    m->jobs = jb;
    jb->rq = rq;
    jb->waiting = 1;
    int foreign = 0;
    char foreign_id[40] = "";
    const cJSON *ent;
    cJSON_ArrayForEach(ent, gw_json_arr(j, "entry"))
    {
        const char *id = meta_json_id(ent, "id");
        if (id == NULL || strcmp(id, m->me_id) != 0) {
            /* Another Page of the same app (its account takes it), or one
             * nobody here has: the answer is 200 either way. */
            foreign++;
            gw_strlcpy(foreign_id, id != NULL ? id : "?", sizeof(foreign_id));
            continue;
        }
        const cJSON *t = gw_json_get(ent, "time");
        int64_t ts = cJSON_IsNumber(t) ? (int64_t)t->valuedouble : 0;
        if (ts > 100000000000LL)
            ts /= 1000; /* messaging entries carry milliseconds */
        entry_changes(jb, gw_json_arr(ent, "changes"), ts);
        entry_messaging(jb, gw_json_arr(ent, "messaging"));
    }
    if (foreign > 0)
        gw_ad_detail(m->ad,
                     "webhook: %d entr%s for %s, not this account's "
                     "%s %s",
                     foreign, foreign == 1 ? "y" : "ies", foreign_id,
                     m->net == META_FACEBOOK ? "Page" : "account", m->me_id);
    cJSON_Delete(j);
    fetch_done(jb);
    return 1;
}

static int on_hook(struct gw_adapter *ad, void *arg, struct gw_webhook_req *rq)
{
    (void)ad;
    struct meta *m = arg;
    const char *method = gw_webhook_method(rq);
    if (strcmp(method, "GET") == 0) {
        const char *mode = gw_webhook_query(rq, "hub.mode");
        const char *tok = gw_webhook_query(rq, "hub.verify_token");
        const char *challenge = gw_webhook_query(rq, "hub.challenge");
        if (m->verify_token == NULL || mode == NULL || tok == NULL ||
            challenge == NULL || strcmp(mode, "subscribe") != 0 ||
            strcmp(tok, m->verify_token) != 0 ||
            !gw_printable_word(challenge, 256))
            return 0;
        gw_ad_notice(m->ad, "Meta verified the webhook");
        respond(rq, 200, challenge);
        return 1;
    }
    if (strcmp(method, "POST") == 0)
        return on_post(m, rq);
    return 0;
}

/* The account stops: the webhook core has answered what waited (503);
 * what is left of the jobs goes. */
void meta__jobs_free(struct meta *m)
{
    while (m->jobs != NULL)
        job_free(m->jobs);
}

void meta__hook_register(struct meta *m)
{
    if (m->hooked)
        return;
    snprintf(m->hook_path, sizeof(m->hook_path), "/%s",
             m->net == META_FACEBOOK ? "facebook" : "instagram");
    int rc = gw_ad_webhook(m->ad, m->hook_path, on_hook, m);
    if (rc == UV_ENOTSUP)
        return; /* no [webhook]: polling only */
    if (rc < 0) {
        gw_ad_notice(m->ad, "webhook not registered: %s", uv_strerror(rc));
        return;
    }
    m->hooked = true;
    if (m->app_secret == NULL || m->verify_token == NULL)
        gw_ad_notice(m->ad,
                     "webhooks need app_secret (to check Meta's signatures) "
                     "and verify_token (for the dashboard's check); until "
                     "both are set every delivery is refused");
    char *url = gw_ad_webhook_url(m->ad, m->hook_path);
    gw_ad_detail(m->ad, "webhook at %s", url != NULL ? url : m->hook_path);
    free(url);
}
