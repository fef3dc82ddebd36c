/*
 * What the Page does on LinkedIn: reply to a comment (a nested comment,
 * parentComment set), comment on a post that mentioned it, like and unlike,
 * delete its own comment. LinkedIn takes no idempotency key, so a reply
 * whose first attempt may have arrived (GW_ACT_MAYBE) is looked for among
 * the thread's comments before it is sent again.
 */
#include "linkedin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* Longest comment, in characters (Java's: UTF-16 code units). A guess: the
 * Comments API documents none; the LinkedIn site stops at 1,250. */
#define COMMENT_MAX 1250
/* Comments read per page when looking for a reply that may exist. */
#define LOOK_COUNT 100
/* Pages looked at before deciding it was not made. */
#define LOOK_PAGES 10

const char *linkedin__why_not(enum gw_action_kind kind)
{
    switch (kind) {
    case GW_ACT_DM:
        return "LinkedIn has no public API for messages, to read or to "
               "send; answer in the comments instead (!re REF text)";
    case GW_ACT_POST:
        return "Parley answers comments and mentions of the Page; new Page "
               "posts are made on LinkedIn itself";
    case GW_ACT_FOLLOW:
    case GW_ACT_UNFOLLOW:
        return "a Page cannot follow members on LinkedIn";
    case GW_ACT_BOOST:
    case GW_ACT_UNBOOST:
        return "reposting is not offered for Pages here";
    default:
        return NULL;
    }
}

/* ---- results ------------------------------------------------------------- */

static void act_result(struct linkedin *m, uint64_t token,
                       enum gw_action_status status, const char *msg,
                       long retry_ms, const char *result_id,
                       const struct gw_event *created)
{
    gw_ad_action_done(m->ad, token,
                      &(struct gw_action_result){.status = status,
                                                 .message = msg,
                                                 .retry_after_ms = retry_ms,
                                                 .result_id = result_id,
                                                 .created = created});
}

static void act_failed(struct linkedin *m, uint64_t token,
                       enum gw_action_status status, const char *msg)
{
    act_result(m, token, status, msg, 0, NULL, NULL);
}

/* Report an answer that is not 2xx (or a transport error). What concerns
 * the whole account (a refused token or version, a 429) leaves the action
 * waiting: it goes once the account can act again. */
static void act_fail(struct linkedin *m, struct lcall *c,
                     const struct gw_http_response *r, bool creates)
{
    enum gw_action_status st = linkedin_map_status(r, creates);
    if (linkedin__account_trouble(m, c, r))
        st = GW_ACT_RETRY;
    else if (st == GW_ACT_OK)
        st = GW_ACT_FAILED; /* a 2xx we could not use */
    long retry = 0;
    int64_t until = linkedin__held_until(m, c->family);
    if (st != GW_ACT_FAILED && until > 0)
        retry = (long)(until - gw_now_ms());
    char *msg = linkedin_error_text(r);
    act_result(m, c->token, st, msg, retry, NULL, NULL);
    free(msg);
}

static struct lcall *act_call(const struct gw_action *a, lcall_done_cb done)
{
    struct lcall *c = linkedin__call(done);
    c->is_action = true;
    c->token = a->token;
    c->kind = a->kind;
    return c;
}

static void act_send(struct linkedin *m, struct lcall *c, const char *family,
                     const char *method, const char *url, const char *body)
{
    uint64_t token = c->token;
    if (linkedin__send(m, c, family, method, url, body) < 0)
        act_failed(m, token, GW_ACT_RETRY, "could not start the request");
}

static bool ok_2xx(const struct gw_http_response *r)
{
    return r->error == 0 && r->status >= 200 && r->status < 300;
}

/* ---- what a stored post is ----------------------------------------------- */

/* The parent's extra, or a message for the user in err. */
static int parent_extra(const struct gw_action *a, struct linkedin_extra *x,
                        char *err, size_t errlen)
{
    if (a->parent == NULL || linkedin_extra_parse(a->parent->extra, x) < 0) {
        snprintf(err, errlen,
                 "that post did not come from this LinkedIn "
                 "account");
        return UV_EINVAL;
    }
    return 0;
}

/* ---- comments ------------------------------------------------------------ */

/* The comment just made (or found), as the event the core echoes. */
static void report_comment(struct linkedin *m, uint64_t token,
                           const struct linkedin_item *it)
{
    const struct linkedin_person *me = linkedin__person(m, m->org);
    struct linkedin_person fb;
    if (me == NULL) {
        linkedin_person_fallback(m->org, &fb);
        if (m->me_handle != NULL)
            gw_xreplace(&fb.handle, m->me_handle);
        if (m->me_name != NULL)
            gw_xreplace(&fb.name, m->me_name);
        me = &fb;
    }
    struct linkedin_event e;
    linkedin_item_event(it, GW_EV_OWN, me, &e);
    act_result(m, token, GW_ACT_OK, NULL, 0, it->urn, &e.ev);
    linkedin_event_free(&e);
    if (me == &fb)
        linkedin_person_free(&fb);
}

static void on_created(struct linkedin *m, struct lcall *c,
                       const struct gw_http_response *r)
{
    if (!ok_2xx(r)) {
        act_fail(m, c, r, true);
        return;
    }
    /* 201: the comment in the body, its id in x-restli-id. */
    cJSON *j = linkedin__body(r);
    struct linkedin_item it;
    int rc = linkedin_comment_parse(j, &it);
    cJSON_Delete(j);
    const char *id = NULL;
    if (rc < 0) {
        linkedin_item_free(&it);
        id = gw_http_response_header(r, "x-restli-id");
        char *urn = NULL;
        struct linkedin_comment_ref ref;
        if (id != NULL && strncmp(id, "urn:li:comment:", 15) == 0)
            urn = gw_xstrdup(id);
        else if (id != NULL)
            urn = gw_xasprintf("urn:li:comment:(%s,%s)", c->s[3], id);
        if (urn != NULL && linkedin_comment_ref(urn, &ref) == 0) {
            it.urn = ref.urn;
            it.object = gw_xstrdup(c->s[3]);
            it.parent = c->s[1] != NULL ? gw_xstrdup(c->s[1]) : NULL;
            it.actor = gw_xstrdup(m->org);
            it.text = gw_xstrdup(c->s[2]);
            it.created_ms = it.modified_ms = gw_now_ms();
            ref.urn = NULL;
            linkedin_comment_ref_free(&ref);
            rc = 0;
        }
        free(urn);
    }
    if (rc < 0)
        act_result(m, c->token, GW_ACT_OK,
                   "commented; LinkedIn's answer did not say which comment", 0,
                   NULL, NULL);
    else
        report_comment(m, c->token, &it);
    linkedin_item_free(&it);
}

/* s[0] target URN (the path), s[1] parentComment or NULL, s[2] the text
 * as sent, s[3] the object, s[4] the body: a resend after a look sends the
 * very body composed first (its mention ranges included). */
static void send_comment(struct linkedin *m, struct lcall *c)
{
    char *url =
        linkedin_restli("%s/rest/socialActions/%u/comments", m->api, c->s[0]);
    char *body = gw_xstrdup(c->s[4]);
    act_send(m, c, FAM_WRITE, "POST", url, body);
    free(body);
    free(url);
}

static struct lcall *call_clone(const struct lcall *c, lcall_done_cb done)
{
    struct lcall *n = linkedin__call(done);
    n->is_action = c->is_action;
    n->token = c->token;
    n->kind = c->kind;
    n->n = c->n;
    for (size_t i = 0; i < GW_ARRAY_LEN(c->s); i++)
        n->s[i] = c->s[i] != NULL ? gw_xstrdup(c->s[i]) : NULL;
    return n;
}

static void look_page(struct linkedin *m, struct lcall *c);

/* Looking for a reply that may have been made: found, it is reported as
 * made; not found after every page, it is sent. */
static void on_look(struct linkedin *m, struct lcall *c,
                    const struct gw_http_response *r)
{
    if (!ok_2xx(r)) {
        /* Cannot tell: sending could make it twice. */
        act_fail(m, c, r, false);
        return;
    }
    cJSON *j = linkedin__body(r);
    struct linkedin_item it;
    int found = linkedin_find_comment(j, m->org, c->s[1], c->s[2], &it);
    int n = cJSON_GetArraySize(gw_json_arr(j, "elements"));
    cJSON_Delete(j);
    if (found == 0) {
        report_comment(m, c->token, &it);
        linkedin_item_free(&it);
        return;
    }
    if (n >= LOOK_COUNT && c->n + LOOK_COUNT < LOOK_COUNT * LOOK_PAGES) {
        struct lcall *next = call_clone(c, on_look);
        next->n = c->n + LOOK_COUNT;
        look_page(m, next);
        return;
    }
    send_comment(m, call_clone(c, on_created));
}

static void look_page(struct linkedin *m, struct lcall *c)
{
    char *url =
        linkedin_restli("%s/rest/socialActions/%u/comments"
                        "?start=%l&count=%l",
                        m->api, c->s[0], (int64_t)c->n, (int64_t)LOOK_COUNT);
    act_send(m, c, FAM_READ, "GET", url, NULL);
    free(url);
}

static void act_reply(struct linkedin *m, const struct gw_action *a)
{
    char err[256];
    struct linkedin_extra x;
    if (parent_extra(a, &x, err, sizeof(err)) < 0) {
        linkedin_extra_free(&x);
        act_failed(m, a->token, GW_ACT_FAILED, err);
        return;
    }
    /* LinkedIn threads one level deep: a reply to a reply joins the
     * thread of the comment it answers. */
    const char *parent =
        x.comment != NULL ? (x.parent != NULL ? x.parent : x.comment) : NULL;
    const char *target = parent != NULL ? parent : x.object;
    int nknown = 0;
    struct linkedin_mention *known = linkedin__mentions(m, &nknown);
    char *sent = NULL;
    char *body = linkedin_comment_body(m->org, x.object, parent, a->text, known,
                                       nknown, &sent);
    free(known);
    struct lcall *c = act_call(a, a->maybe_sent ? on_look : on_created);
    c->s[0] = gw_xstrdup(target);
    c->s[1] = parent != NULL ? gw_xstrdup(parent) : NULL;
    c->s[2] = sent;
    c->s[3] = gw_xstrdup(x.object);
    c->s[4] = body;
    if (a->maybe_sent)
        look_page(m, c);
    else
        send_comment(m, c);
    linkedin_extra_free(&x);
}

/* ---- likes and deletes --------------------------------------------------- */

static void on_simple(struct linkedin *m, struct lcall *c,
                      const struct gw_http_response *r)
{
    /* Liking what is liked, unliking what is not, deleting what is gone:
     * the state asked for holds, which is what was wanted. */
    bool already =
        r->error == 0 && ((c->kind == GW_ACT_FAV && r->status == 409) ||
                          (c->kind != GW_ACT_FAV && r->status == 404));
    if (!ok_2xx(r) && !already) {
        act_fail(m, c, r, false);
        return;
    }
    act_result(m, c->token, GW_ACT_OK, NULL, 0, c->s[0], NULL);
}

static void act_like(struct linkedin *m, const struct gw_action *a)
{
    char err[256];
    struct linkedin_extra x;
    if (parent_extra(a, &x, err, sizeof(err)) < 0) {
        linkedin_extra_free(&x);
        act_failed(m, a->token, GW_ACT_FAILED, err);
        return;
    }
    const char *root = x.comment != NULL ? x.comment : x.object;
    struct lcall *c = act_call(a, on_simple);
    c->s[0] = gw_xstrdup(root);
    if (a->kind == GW_ACT_FAV) {
        char *url =
            linkedin_restli("%s/rest/reactions?actor=%u", m->api, m->org);
        char *body = linkedin_reaction_body(root);
        act_send(m, c, FAM_WRITE, "POST", url, body);
        free(body);
        free(url);
    } else {
        char *url = linkedin_restli("%s/rest/reactions/(actor:%u,entity:%u)",
                                    m->api, m->org, root);
        act_send(m, c, FAM_WRITE, "DELETE", url, NULL);
        free(url);
    }
    linkedin_extra_free(&x);
}

static int own_comment(const struct linkedin *m, const struct gw_action *a,
                       struct linkedin_extra *x,
                       struct linkedin_comment_ref *ref, char *err,
                       size_t errlen)
{
    memset(ref, 0, sizeof(*ref));
    if (parent_extra(a, x, err, errlen) < 0)
        return UV_EINVAL;
    if (x->comment == NULL || x->actor == NULL ||
        strcmp(x->actor, m->org) != 0 ||
        linkedin_comment_ref(x->comment, ref) < 0) {
        snprintf(err, errlen,
                 "only the Page's own comments can be deleted "
                 "from here");
        return UV_EINVAL;
    }
    return 0;
}

static void act_delete(struct linkedin *m, const struct gw_action *a)
{
    char err[256];
    struct linkedin_extra x;
    struct linkedin_comment_ref ref;
    if (own_comment(m, a, &x, &ref, err, sizeof(err)) < 0) {
        act_failed(m, a->token, GW_ACT_FAILED, err);
    } else {
        struct lcall *c = act_call(a, on_simple);
        c->s[0] = gw_xstrdup(ref.urn);
        char *url =
            linkedin_restli("%s/rest/socialActions/%u/comments/%u?actor=%u",
                            m->api, ref.object, ref.id, m->org);
        act_send(m, c, FAM_WRITE, "DELETE", url, NULL);
        free(url);
    }
    linkedin_comment_ref_free(&ref);
    linkedin_extra_free(&x);
}

int linkedin__act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct linkedin *m = ad->priv;
    switch (a->kind) {
    case GW_ACT_REPLY:
        act_reply(m, a);
        return 0;
    case GW_ACT_FAV:
    case GW_ACT_UNFAV:
        act_like(m, a);
        return 0;
    case GW_ACT_DELETE:
        act_delete(m, a);
        return 0;
    default:
        return UV_EINVAL;
    }
}

int linkedin__check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                    size_t errlen)
{
    struct linkedin *m = ad->priv;
    struct linkedin_extra x;
    struct linkedin_comment_ref ref;
    int rc = 0;
    switch (a->kind) {
    case GW_ACT_REPLY:
        if (a->text == NULL || gw_blank(a->text)) {
            snprintf(err, errlen, "nothing to send: the text is empty");
            return UV_EINVAL;
        }
        if (linkedin_text_length(a->text) > COMMENT_MAX) {
            snprintf(err, errlen,
                     "too long: %ld characters, a LinkedIn comment takes %d",
                     linkedin_text_length(a->text), COMMENT_MAX);
            return UV_EMSGSIZE;
        }
        rc = parent_extra(a, &x, err, errlen);
        linkedin_extra_free(&x);
        return rc;
    case GW_ACT_FAV:
    case GW_ACT_UNFAV:
        rc = parent_extra(a, &x, err, errlen);
        linkedin_extra_free(&x);
        return rc;
    case GW_ACT_DELETE:
        rc = own_comment(m, a, &x, &ref, err, errlen);
        linkedin_comment_ref_free(&ref);
        linkedin_extra_free(&x);
        return rc;
    default:
        return 0;
    }
}
