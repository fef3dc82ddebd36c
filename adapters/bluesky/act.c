/*
 * Actions: posts, replies, DMs, likes, reposts, deletes, follows, and the
 * queries (!thread, !who, !accept). Each is a short chain of XRPC calls
 * held together by a struct bact, freed when its last call is.
 *
 * Records are created with a key chosen here (a TID from the outbox item:
 * its queue time and its idempotency key), so every attempt of one item
 * names the same record: the PDS refuses a second create (it answers 500),
 * and a failed create is checked with getRecord before it is reported, so
 * a retried post is never made twice.
 */
#include "bluesky_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

struct bact {
    struct bsky *b;
    int refs; /* act() itself and each call in flight */
    bool reported;
    uint64_t token;
    enum gw_action_kind kind;
    char *text, *handle;
    char *p_uri, *p_cid, *root_uri, *root_cid, *convo;
    char rkey[14];
    const char *collection;
    int64_t queued_ms;
    bool maybe;
    struct bluesky_facet *facets;
    int nfacets;
    char *target_did;
    char *made_uri, *made_cid;
    /* The first failure, reported when getRecord finds nothing. */
    enum gw_action_status fail_status;
    char *fail_msg;
    long fail_retry_ms;
};

static void act_free(struct bact *x)
{
    bluesky_facets_free(x->facets, x->nfacets);
    char **strs[] = {&x->text,     &x->handle,   &x->p_uri,   &x->p_cid,
                     &x->root_uri, &x->root_cid, &x->convo,   &x->target_did,
                     &x->made_uri, &x->made_cid, &x->fail_msg};
    for (size_t i = 0; i < GW_ARRAY_LEN(strs); i++)
        free(*strs[i]);
    free(x);
}

void bluesky__act_release(struct bact *x)
{
    if (--x->refs == 0)
        act_free(x);
}

static void finish(struct bact *x, enum gw_action_status st, const char *msg,
                   const char *result_id, const struct gw_event *created,
                   char **lines, int nlines, long retry_ms)
{
    if (x->reported)
        return;
    x->reported = true;
    struct gw_action_result res;
    memset(&res, 0, sizeof(res));
    res.status = st;
    res.message = msg;
    res.retry_after_ms = retry_ms;
    res.result_id = result_id;
    res.created = created;
    res.lines = (const char *const *)lines;
    res.nlines = nlines;
    gw_ad_action_done(x->b->ad, x->token, &res);
}

static void fail(struct bact *x, enum gw_action_status st, const char *msg)
{
    finish(x, st, msg, NULL, NULL, NULL, 0, 0);
}

static void failf(struct bact *x, enum gw_action_status st, const char *fmt,
                  ...) GW_PRINTF(3, 4);

static void failf(struct bact *x, enum gw_action_status st, const char *fmt,
                  ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    fail(x, st, msg);
}

/* The answer was not what the step wanted: say what the server said. */
static void fail_response(struct bact *x, const struct gw_http_response *r)
{
    enum gw_action_status st = bluesky_map_status(r);
    if (st == GW_ACT_OK)
        st = GW_ACT_FAILED;
    char *msg = bluesky_error_text(r);
    finish(x, st, msg, NULL, NULL, NULL, 0,
           st == GW_ACT_RETRY ? gw_ad_retry_after_ms(r) : 0);
    free(msg);
}

/* Send a step of x; on failure to start, x is answered RETRY. */
static void step(struct bact *x, bcall_done_cb done, enum bhost host,
                 enum bauth auth, const char *family, const char *method,
                 const char *path, const char *body)
{
    struct bcall *c = bluesky__call(done);
    c->act = x;
    x->refs++;
    if (bluesky__xrpc(x->b, c, host, auth, family, method, path, body) < 0)
        fail(x, GW_ACT_RETRY, "could not start the request");
}

/* GET nsid?param=VALUE (encoded here) and more of the query. */
static void step_get(struct bact *x, bcall_done_cb done, enum bhost host,
                     enum bauth auth, const char *family, const char *pre,
                     const char *value, const char *post)
{
    char *enc = gw_urlencode(value);
    char *path = gw_xasprintf("%s%s%s", pre, enc, post);
    free(enc);
    step(x, done, host, auth, family, "GET", path, NULL);
    free(path);
}

/* POST body (deleted here) to nsid, with the access token. */
static void step_post(struct bact *x, bcall_done_cb done, enum bhost host,
                      const char *family, const char *nsid, cJSON *body)
{
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    step(x, done, host, AUTH_ACCESS, family, "POST", nsid, json);
    cJSON_free(json);
}

/* The JSON of a successful answer; otherwise x is answered and NULL. */
static cJSON *step_body(struct bact *x, const struct gw_http_response *r)
{
    if (bluesky_map_status(r) != GW_ACT_OK) {
        fail_response(x, r);
        return NULL;
    }
    cJSON *j = bluesky__body(r);
    if (j == NULL)
        fail(x, GW_ACT_FAILED, "the server's answer is not JSON");
    return j;
}

/* ---- creating and deleting records --------------------------------------- */

static void created_ok(struct bact *x)
{
    if (x->kind != GW_ACT_POST && x->kind != GW_ACT_REPLY) {
        finish(x, GW_ACT_OK, NULL, x->made_uri, NULL, NULL, 0, 0);
        return;
    }
    struct bsky *b = x->b;
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = GW_EV_OWN;
    ev.id = x->made_uri;
    ev.author_id = b->did;
    ev.author = b->me_handle;
    ev.text = x->text;
    char *url = bluesky_post_url(x->made_uri);
    ev.url = url;
    ev.in_reply_to = x->p_uri;
    ev.conversation = x->root_uri != NULL ? x->root_uri
                      : x->p_uri != NULL  ? x->p_uri
                                          : x->made_uri;
    ev.audience = GW_AUD_PUBLIC;
    ev.created_ms = x->queued_ms;
    cJSON *ex = cJSON_CreateObject();
    cJSON_AddStringToObject(ex, "uri", x->made_uri);
    cJSON_AddStringToObject(ex, "cid", x->made_cid);
    if (x->p_uri != NULL) {
        cJSON_AddStringToObject(ex, "root_uri",
                                x->root_uri != NULL ? x->root_uri : x->p_uri);
        cJSON_AddStringToObject(ex, "root_cid",
                                x->root_cid != NULL ? x->root_cid : x->p_cid);
    }
    char *extra = cJSON_PrintUnformatted(ex);
    cJSON_Delete(ex);
    ev.extra = extra;
    finish(x, GW_ACT_OK, NULL, x->made_uri, &ev, NULL, 0, 0);
    cJSON_free(extra);
    free(url);
}

static bool take_made(struct bact *x, const cJSON *j)
{
    const char *uri = gw_json_str(j, "uri");
    const char *cid = gw_json_str(j, "cid");
    char d[256], c[256], k[256];
    if (bluesky_at_uri(uri, d, c, k) < 0 || cid == NULL)
        return false;
    bluesky__replace(&x->made_uri, uri);
    bluesky__replace(&x->made_cid, cid);
    return true;
}

static void on_get_record(struct bsky *b, struct bcall *c,
                          const struct gw_http_response *r);

static void get_record(struct bact *x)
{
    char *d = gw_urlencode(x->b->did);
    char *path = gw_xasprintf("com.atproto.repo.getRecord?repo=%s&collection="
                              "%s&rkey=%s",
                              d, x->collection, x->rkey);
    free(d);
    step(x, on_get_record, HOST_PDS, AUTH_ACCESS, FAM_READ, "GET", path, NULL);
    free(path);
}

static void create_send(struct bact *x, cJSON *record);

static void on_created(struct bsky *b, struct bcall *c,
                       const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    if (bluesky_map_status(r) == GW_ACT_OK) {
        cJSON *j = bluesky__body(r);
        bool ok = take_made(x, j);
        cJSON_Delete(j);
        if (ok)
            created_ok(x);
        else
            fail(x, GW_ACT_FAILED, "the server's answer named no record");
        return;
    }
    /* An earlier attempt may have made it: the same key cannot be made
     * twice, so look before saying it failed. */
    x->fail_status = bluesky_map_status(r);
    x->fail_msg = bluesky_error_text(r);
    x->fail_retry_ms = gw_ad_retry_after_ms(r);
    if (r->error != 0 && r->error != UV_ECANCELED) {
        /* It may have arrived: look next time, before sending again. */
        x->fail_status = GW_ACT_MAYBE;
    }
    if (r->error == UV_ECANCELED) {
        finish(x, GW_ACT_RETRY, x->fail_msg, NULL, NULL, NULL, 0, 0);
        return;
    }
    get_record(x);
}

static void on_get_record(struct bsky *b, struct bcall *c,
                          const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    cJSON *j = bluesky_map_status(r) == GW_ACT_OK ? bluesky__body(r) : NULL;
    bool found =
        j != NULL && gw_json_obj(j, "value") != NULL && take_made(x, j);
    cJSON_Delete(j);
    if (found) {
        created_ok(x);
        return;
    }
    if (x->fail_msg == NULL) {
        /* maybe_sent and not there: make it now. */
        create_send(x, NULL);
        return;
    }
    finish(x, x->fail_status, x->fail_msg, NULL, NULL, NULL, 0,
           x->fail_retry_ms);
}

/* The record to create, kept until it is sent (it is built again for a
 * send after a look: it depends only on x). */
static cJSON *record_for(struct bact *x)
{
    char when[32];
    gw_format_time(x->queued_ms, when, sizeof(when));
    if (x->kind == GW_ACT_POST || x->kind == GW_ACT_REPLY) {
        struct bluesky_reply_refs refs = {x->p_uri, x->p_cid, x->root_uri,
                                          x->root_cid};
        return bluesky_post_record(x->text, x->queued_ms, x->facets, x->nfacets,
                                   x->kind == GW_ACT_REPLY ? &refs : NULL);
    }
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "$type", x->collection);
    if (x->kind == GW_ACT_FOLLOW) {
        cJSON_AddStringToObject(rec, "subject", x->target_did);
    } else {
        cJSON *s = cJSON_AddObjectToObject(rec, "subject");
        cJSON_AddStringToObject(s, "uri", x->p_uri);
        cJSON_AddStringToObject(s, "cid", x->p_cid);
    }
    cJSON_AddStringToObject(rec, "createdAt", when);
    return rec;
}

static void create_send(struct bact *x, cJSON *record)
{
    if (record == NULL)
        record = record_for(x);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "repo", x->b->did);
    cJSON_AddStringToObject(body, "collection", x->collection);
    cJSON_AddStringToObject(body, "rkey", x->rkey);
    cJSON_AddItemToObject(body, "record", record);
    step_post(x, on_created, HOST_PDS, FAM_WRITE,
              "com.atproto.repo.createRecord", body);
}

/* Create x's record, or find the one an earlier attempt made. */
static void create(struct bact *x)
{
    if (x->maybe)
        get_record(x);
    else
        create_send(x, NULL);
}

static void on_deleted(struct bsky *b, struct bcall *c,
                       const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    if (bluesky_map_status(r) == GW_ACT_OK)
        finish(x, GW_ACT_OK, NULL, x->p_uri, NULL, NULL, 0, 0);
    else
        fail_response(x, r);
}

static void delete_record(struct bact *x, const char *uri)
{
    char did[256], coll[256], rkey[256];
    if (bluesky_at_uri(uri, did, coll, rkey) < 0 ||
        strcmp(did, x->b->did) != 0) {
        fail(x, GW_ACT_FAILED, "that record is not this account's");
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "repo", did);
    cJSON_AddStringToObject(body, "collection", coll);
    cJSON_AddStringToObject(body, "rkey", rkey);
    step_post(x, on_deleted, HOST_PDS, FAM_WRITE,
              "com.atproto.repo.deleteRecord", body);
}

/* ---- handles to DIDs ----------------------------------------------------- */

static void after_mentions(struct bact *x);
static void next_mention(struct bact *x);

static void on_handle(struct bsky *b, struct bcall *c,
                      const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    const char *h = c->arg;
    enum gw_action_status st = bluesky_map_status(r);
    cJSON *j = st == GW_ACT_OK ? bluesky__body(r) : NULL;
    const char *did = gw_json_str(j, "did");
    if (!bluesky_did_valid(did)) {
        cJSON_Delete(j);
        if (st == GW_ACT_RETRY) {
            fail_response(x, r);
            return;
        }
        char *err = bluesky_error_text(r);
        failf(x, GW_ACT_FAILED,
              "@%s does not resolve to a Bluesky account (%s); nothing was "
              "sent",
              h, err);
        free(err);
        return;
    }
    if (x->target_did == NULL && x->handle != NULL &&
        gw_strcasecmp(x->handle, h) == 0)
        x->target_did = gw_xstrdup(did);
    for (int i = 0; i < x->nfacets; i++)
        if (x->facets[i].kind == BLUESKY_FACET_MENTION &&
            x->facets[i].did == NULL && strcmp(x->facets[i].value, h) == 0)
            x->facets[i].did = gw_xstrdup(did);
    cJSON_Delete(j);
    next_mention(x);
}

static void resolve(struct bact *x, const char *handle)
{
    struct bcall *c = bluesky__call(on_handle);
    c->act = x;
    c->arg = gw_xstrdup(handle);
    c->free_arg = free;
    x->refs++;
    char *enc = gw_urlencode(handle);
    char *path =
        gw_xasprintf("com.atproto.identity.resolveHandle?handle=%s", enc);
    free(enc);
    if (bluesky__xrpc(x->b, c, HOST_APPVIEW, AUTH_NONE, FAM_APPVIEW, "GET",
                      path, NULL) < 0)
        fail(x, GW_ACT_RETRY, "could not start the request");
    free(path);
}

/* Resolve the next mention (and then the target) that has no DID yet. */
static void next_mention(struct bact *x)
{
    for (int i = 0; i < x->nfacets; i++) {
        if (x->facets[i].kind == BLUESKY_FACET_MENTION &&
            x->facets[i].did == NULL) {
            resolve(x, x->facets[i].value);
            return;
        }
    }
    if (x->handle != NULL && x->target_did == NULL) {
        resolve(x, x->handle);
        return;
    }
    after_mentions(x);
}

/* ---- posts and replies --------------------------------------------------- */

static void on_parent(struct bsky *b, struct bcall *c,
                      const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    cJSON *j = step_body(x, r);
    if (j == NULL)
        return;
    const cJSON *post = cJSON_GetArrayItem(gw_json_arr(j, "posts"), 0);
    const char *cid = gw_json_str(post, "cid");
    if (post == NULL || cid == NULL) {
        cJSON_Delete(j);
        fail(x, GW_ACT_FAILED,
             "the post you are answering was deleted; nothing was sent");
        return;
    }
    /* The current version's refs: the thread may have been re-rooted
     * since we stored it. */
    bluesky__replace(&x->p_cid, cid);
    const cJSON *root =
        gw_json_obj(gw_json_obj(gw_json_obj(post, "record"), "reply"), "root");
    const char *ru = gw_json_str(root, "uri"), *rc = gw_json_str(root, "cid");
    if (ru != NULL && rc != NULL) {
        bluesky__replace(&x->root_uri, ru);
        bluesky__replace(&x->root_cid, rc);
    }
    cJSON_Delete(j);
    create(x);
}

static void dm_start(struct bact *x);
static void accept_start(struct bact *x);
static void unfollow_start(struct bact *x);

static void after_mentions(struct bact *x)
{
    switch (x->kind) {
    case GW_ACT_REPLY: {
        step_get(x, on_parent, HOST_APPVIEW, AUTH_NONE, FAM_APPVIEW,
                 "app.bsky.feed.getPosts?uris=", x->p_uri, "");
        break;
    }
    case GW_ACT_DM:
        dm_start(x);
        break;
    case GW_ACT_COMMAND:
        accept_start(x);
        break;
    case GW_ACT_UNFOLLOW:
        unfollow_start(x);
        break;
    default:
        create(x);
        break;
    }
}

/* ---- DMs ----------------------------------------------------------------- */

static void on_sent(struct bsky *b, struct bcall *c,
                    const struct gw_http_response *r)
{
    struct bact *x = c->act;
    if (bluesky_map_status(r) != GW_ACT_OK) {
        if (r->error != 0 && r->error != UV_ECANCELED) {
            /* No idempotency key for chat: it may have been sent. */
            char *msg = bluesky_error_text(r);
            finish(x, GW_ACT_MAYBE, msg, NULL, NULL, NULL, 0, 0);
            free(msg);
            return;
        }
        if (r->error == 0 && r->status == 400 &&
            bluesky__err_is(r, "InvalidToken")) {
            fail(x, GW_ACT_FAILED,
                 "this app password has no access to direct messages");
            return;
        }
        fail_response(x, r);
        return;
    }
    cJSON *j = bluesky__body(r);
    struct bluesky_event e;
    if (bluesky_message_to_event(j, x->convo, b->me_handle, &e) == 0) {
        e.ev.kind = GW_EV_OWN;
        finish(x, GW_ACT_OK, NULL, e.ev.id, &e.ev, NULL, 0, 0);
    } else {
        finish(x, GW_ACT_OK, "sent; the server's answer was not a message",
               NULL, NULL, NULL, 0, 0);
    }
    bluesky_event_free(&e);
    cJSON_Delete(j);
}

static void dm_send(struct bact *x)
{
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "convoId", x->convo);
    cJSON_AddItemToObject(
        body, "message", bluesky_message_input(x->text, x->facets, x->nfacets));
    step_post(x, on_sent, HOST_CHAT, FAM_CHAT, "chat.bsky.convo.sendMessage",
              body);
}

/* maybe_sent: is the message among the convo's latest, from me, since it
 * was queued? */
static void on_messages(struct bsky *b, struct bcall *c,
                        const struct gw_http_response *r)
{
    struct bact *x = c->act;
    cJSON *j = bluesky_map_status(r) == GW_ACT_OK ? bluesky__body(r) : NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, gw_json_arr(j, "messages"))
    {
        const char *text = gw_json_str(m, "text");
        const char *from = gw_json_str(gw_json_obj(m, "sender"), "did");
        int64_t at = 0;
        if (text != NULL && from != NULL && strcmp(from, b->did) == 0 &&
            strcmp(text, x->text) == 0 &&
            gw_parse_time(gw_json_str(m, "sentAt"), &at) == 0 &&
            at >= x->queued_ms - 1000) {
            struct bluesky_event e;
            if (bluesky_message_to_event(m, x->convo, b->me_handle, &e) == 0) {
                e.ev.kind = GW_EV_OWN;
                finish(x, GW_ACT_OK, NULL, e.ev.id, &e.ev, NULL, 0, 0);
            }
            bluesky_event_free(&e);
            cJSON_Delete(j);
            if (!x->reported)
                finish(x, GW_ACT_OK, NULL, NULL, NULL, NULL, 0, 0);
            return;
        }
    }
    cJSON_Delete(j);
    dm_send(x);
}

static void dm_ready(struct bact *x)
{
    if (!x->maybe) {
        dm_send(x);
        return;
    }
    step_get(x, on_messages, HOST_CHAT, AUTH_ACCESS, FAM_CHAT,
             "chat.bsky.convo.getMessages?convoId=", x->convo, "&limit=20");
}

static void on_convo_for(struct bsky *b, struct bcall *c,
                         const struct gw_http_response *r)
{
    struct bact *x = c->act;
    if (bluesky_map_status(r) != GW_ACT_OK) {
        if (r->error == 0 && r->status == 400 &&
            bluesky__err_is(r, "InvalidToken")) {
            fail(x, GW_ACT_FAILED,
                 "this app password has no access to direct messages");
            return;
        }
        fail_response(x, r);
        return;
    }
    cJSON *j = bluesky__body(r);
    struct bconvo *cv = bluesky__convo_put(b, gw_json_obj(j, "convo"));
    cJSON_Delete(j);
    if (cv == NULL) {
        fail(x, GW_ACT_FAILED, "the chat service named no conversation");
        return;
    }
    bluesky__replace(&x->convo, cv->id);
    if (x->kind == GW_ACT_COMMAND)
        accept_start(x);
    else
        dm_ready(x);
}

static void convo_for(struct bact *x)
{
    step_get(x, on_convo_for, HOST_CHAT, AUTH_ACCESS, FAM_CHAT,
             "chat.bsky.convo.getConvoForMembers?members=", x->target_did, "");
}

static void dm_start(struct bact *x)
{
    if (x->convo != NULL)
        dm_ready(x);
    else if (x->target_did != NULL)
        convo_for(x);
    else
        fail(x, GW_ACT_FAILED, "no recipient for the direct message");
}

static void on_accepted(struct bsky *b, struct bcall *c,
                        const struct gw_http_response *r)
{
    struct bact *x = c->act;
    if (bluesky_map_status(r) != GW_ACT_OK) {
        fail_response(x, r);
        return;
    }
    struct bconvo *cv = bluesky__convo(b, x->convo);
    if (cv != NULL)
        cv->request = false;
    char *line = gw_xasprintf("accepted @%s's message request: their "
                              "messages now arrive as any other",
                              x->handle);
    finish(x, GW_ACT_OK, NULL, x->convo, NULL, &line, 1, 0);
    free(line);
}

static void accept_start(struct bact *x)
{
    if (x->convo == NULL) {
        convo_for(x);
        return;
    }
    struct bconvo *cv = bluesky__convo(x->b, x->convo);
    if (cv != NULL && !cv->request) {
        char *line =
            gw_xasprintf("@%s's messages are already accepted", x->handle);
        finish(x, GW_ACT_OK, NULL, x->convo, NULL, &line, 1, 0);
        free(line);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "convoId", x->convo);
    step_post(x, on_accepted, HOST_CHAT, FAM_CHAT,
              "chat.bsky.convo.acceptConvo", body);
}

/* ---- undoing: unlike, unrepost, unfollow --------------------------------- */

static void on_viewer(struct bsky *b, struct bcall *c,
                      const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    cJSON *j = step_body(x, r);
    if (j == NULL)
        return;
    const cJSON *view = x->kind == GW_ACT_UNFOLLOW
                            ? j
                            : cJSON_GetArrayItem(gw_json_arr(j, "posts"), 0);
    const char *field = x->kind == GW_ACT_UNFAV     ? "like"
                        : x->kind == GW_ACT_UNBOOST ? "repost"
                                                    : "following";
    const char *uri = gw_json_str(gw_json_obj(view, "viewer"), field);
    if (view == NULL) {
        fail(x, GW_ACT_FAILED,
             x->kind == GW_ACT_UNFOLLOW ? "no such account"
                                        : "the post was deleted");
    } else if (uri == NULL) {
        finish(x, GW_ACT_OK, NULL, NULL, NULL, NULL, 0,
               0); /* nothing to undo */
    } else {
        delete_record(x, uri);
    }
    cJSON_Delete(j);
}

static void unfollow_start(struct bact *x)
{
    step_get(x, on_viewer, HOST_PDS, AUTH_ACCESS, FAM_READ,
             "app.bsky.actor.getProfile?actor=", x->target_did, "");
}

/* ---- queries ------------------------------------------------------------- */

static void on_lines(struct bsky *b, struct bcall *c,
                     const struct gw_http_response *r)
{
    (void)b;
    struct bact *x = c->act;
    if (bluesky_map_status(r) != GW_ACT_OK) {
        if (r->error == 0 && r->status == 400 &&
            (bluesky__err_is(r, "NotFound") || x->kind == GW_ACT_WHO)) {
            char *err = bluesky_error_text(r);
            failf(x, GW_ACT_FAILED, "%s (%s)",
                  x->kind == GW_ACT_THREAD ? "the post was deleted"
                                           : "no such account",
                  err);
            free(err);
            return;
        }
        fail_response(x, r);
        return;
    }
    cJSON *j = bluesky__body(r);
    char **lines = NULL;
    int n = x->kind == GW_ACT_THREAD
                ? bluesky_thread_lines(gw_json_obj(j, "thread"), &lines)
                : bluesky_who_lines(j, &lines);
    cJSON_Delete(j);
    if (n < 0) {
        fail(x, GW_ACT_FAILED, "unexpected answer");
        return;
    }
    finish(x, GW_ACT_OK, NULL, NULL, NULL, lines, n, 0);
    bluesky_lines_free(lines, n);
}

/* ---- the parent's refs ------------------------------------------------------
 */

/* uri and cid (and the thread's root) of the post an action is about,
 * from what we stored with it. */
static void parent_refs(struct bact *x, const struct gw_post_ref *p)
{
    if (p == NULL)
        return;
    cJSON *ex = p->extra != NULL ? cJSON_Parse(p->extra) : NULL;
    const char *uri = gw_json_str(ex, "uri");
    const char *cid = gw_json_str(ex, "cid");
    if (uri != NULL && cid != NULL) {
        x->p_uri = gw_xstrdup(uri);
        x->p_cid = gw_xstrdup(cid);
        const char *ru = gw_json_str(ex, "root_uri");
        const char *rc = gw_json_str(ex, "root_cid");
        if (ru != NULL && rc != NULL) {
            x->root_uri = gw_xstrdup(ru);
            x->root_cid = gw_xstrdup(rc);
        }
    }
    const char *convo = gw_json_str(ex, "convo");
    if (convo != NULL)
        x->convo = gw_xstrdup(convo);
    cJSON_Delete(ex);
}

/* The handle of an action, without '@'; NULL when none was given. */
static char *handle_arg(const struct gw_action *a)
{
    const char *h = a->handle;
    if ((h == NULL || *h == '\0') && a->parent != NULL)
        h = a->parent->author;
    if (h == NULL || *h == '\0')
        return NULL;
    char *out = gw_xstrdup(h + (*h == '@'));
    gw_strlower(out);
    return out;
}

/* ---- ops ----------------------------------------------------------------- */

int bluesky__check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                   size_t errlen)
{
    (void)ad;
    struct bact tmp;
    memset(&tmp, 0, sizeof(tmp));
    int rc = 0;
    switch (a->kind) {
    case GW_ACT_POST:
    case GW_ACT_REPLY:
        rc = bluesky_check_length(a->text, BLUESKY_POST_GRAPHEMES,
                                  BLUESKY_POST_BYTES, err, errlen);
        break;
    case GW_ACT_DM:
        rc = bluesky_check_length(a->text, BLUESKY_DM_GRAPHEMES,
                                  BLUESKY_DM_BYTES, err, errlen);
        break;
    default:
        break;
    }
    if (rc < 0 || a->parent == NULL)
        return rc;
    bool needs_ref = a->kind == GW_ACT_REPLY || a->kind == GW_ACT_FAV ||
                     a->kind == GW_ACT_BOOST || a->kind == GW_ACT_UNFAV ||
                     a->kind == GW_ACT_UNBOOST || a->kind == GW_ACT_DELETE;
    parent_refs(&tmp, a->parent);
    if (needs_ref && tmp.p_uri == NULL) {
        snprintf(err, errlen,
                 "that is not a post on Bluesky (a DM or a "
                 "notice); it cannot be answered or liked");
        rc = UV_EINVAL;
    }
    free(tmp.p_uri);
    free(tmp.p_cid);
    free(tmp.root_uri);
    free(tmp.root_cid);
    free(tmp.convo);
    return rc;
}

int bluesky__act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct bsky *b = ad->priv;
    struct bact *x = gw_xcalloc(1, sizeof(*x));
    x->b = b;
    x->refs = 1;
    x->token = a->token;
    x->kind = a->kind;
    x->queued_ms = a->queued_ms > 0 ? a->queued_ms : gw_now_ms();
    x->maybe = a->maybe_sent;
    x->text = a->text != NULL ? gw_xstrdup(a->text) : NULL;
    bluesky_tid_for(x->queued_ms, a->idem_key != NULL ? a->idem_key : "query",
                    x->rkey);
    parent_refs(x, a->parent);
    if (x->convo == NULL && a->kind == GW_ACT_DM && a->parent != NULL &&
        a->parent->conversation != NULL && a->handle == NULL)
        x->convo = gw_xstrdup(a->parent->conversation);
    if (a->kind != GW_ACT_THREAD && a->kind != GW_ACT_WHO)
        bluesky__poll_active(b);

    switch (a->kind) {
    case GW_ACT_POST:
    case GW_ACT_REPLY:
    case GW_ACT_DM:
        if (x->text == NULL || gw_blank(x->text)) {
            fail(x, GW_ACT_FAILED, "nothing to send: the text is empty");
            break;
        }
        if (a->kind == GW_ACT_REPLY && x->p_uri == NULL) {
            fail(x, GW_ACT_FAILED, "no post to reply to");
            break;
        }
        if (a->kind == GW_ACT_DM && x->convo == NULL) {
            x->handle = handle_arg(a);
            if (bluesky_did_valid(x->handle))
                x->target_did = gw_xstrdup(x->handle);
        }
        x->collection = "app.bsky.feed.post";
        x->nfacets = bluesky_facets_find(x->text, &x->facets);
        next_mention(x);
        break;
    case GW_ACT_FAV:
    case GW_ACT_BOOST:
        if (x->p_uri == NULL) {
            fail(x, GW_ACT_FAILED, "no such post");
            break;
        }
        x->collection = a->kind == GW_ACT_FAV ? "app.bsky.feed.like"
                                              : "app.bsky.feed.repost";
        create(x);
        break;
    case GW_ACT_UNFAV:
    case GW_ACT_UNBOOST: {
        if (x->p_uri == NULL) {
            fail(x, GW_ACT_FAILED, "no such post");
            break;
        }
        step_get(x, on_viewer, HOST_PDS, AUTH_ACCESS, FAM_READ,
                 "app.bsky.feed.getPosts?uris=", x->p_uri, "");
        break;
    }
    case GW_ACT_DELETE:
        if (a->parent == NULL || x->p_uri == NULL)
            fail(x, GW_ACT_FAILED, "no such post");
        else
            delete_record(x, x->p_uri);
        break;
    case GW_ACT_FOLLOW:
    case GW_ACT_UNFOLLOW:
    case GW_ACT_COMMAND:
        if (a->kind == GW_ACT_COMMAND &&
            (a->command == NULL || strcmp(a->command, "accept") != 0)) {
            fail(x, GW_ACT_UNSUPPORTED, "unknown command");
            break;
        }
        x->handle = handle_arg(a);
        if (x->handle == NULL) {
            fail(x, GW_ACT_FAILED, "whom? give a nick or a handle");
        } else if (bluesky_did_valid(x->handle)) {
            x->target_did = gw_xstrdup(x->handle);
            after_mentions(x);
        } else if (!bluesky_handle_valid(x->handle)) {
            failf(x, GW_ACT_FAILED, "not a Bluesky handle: %s", x->handle);
        } else {
            x->collection = "app.bsky.graph.follow";
            next_mention(x);
        }
        break;
    case GW_ACT_THREAD: {
        if (x->p_uri == NULL) {
            fail(x, GW_ACT_FAILED, "that is not a post on Bluesky");
            break;
        }
        step_get(x, on_lines, HOST_APPVIEW, AUTH_NONE, FAM_APPVIEW,
                 "app.bsky.feed.getPostThread?uri=", x->p_uri,
                 "&depth=6&parentHeight=20");
        break;
    }
    case GW_ACT_WHO: {
        x->handle = handle_arg(a);
        if (x->handle == NULL) {
            fail(x, GW_ACT_FAILED, "whom? give a nick or a handle");
            break;
        }
        step_get(x, on_lines, HOST_APPVIEW, AUTH_NONE, FAM_APPVIEW,
                 "app.bsky.actor.getProfile?actor=", x->handle, "");
        break;
    }
    default:
        act_free(x);
        return UV_EINVAL;
    }
    bluesky__act_release(x);
    return 0;
}
