/*
 * The X account's runtime: requests (sent again once after a refreshed
 * token), signing in, actions, the budget hook and the ops table. Requests
 * and timers go through the adapter runtime (adapter.h), which cancels
 * them when the account stops and holds a family on a 429.
 */
#include "x_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define DEFAULT_BASE      "https://api.x.com"
#define DEFAULT_AUTHORIZE "https://x.com/i/oauth2/authorize"
#define DEFAULT_REDIRECT  "http://127.0.0.1/callback"

/* X's mentions allow 300 requests per 15 minutes, DM lookups 15: once a
 * minute keeps both, and the budget and the headers slow it further. */
#define POLL_MIN_S     5
#define POLL_MAX_S     86400
#define POLL_DEFAULT_S 60
#define POST_TIMEOUT_S 30
#define USER_FIELDS    "user.fields=username,name,protected"
#define OWN_TWEET_FIELDS                                                       \
    "tweet.fields=referenced_tweets,entities,note_tweet,created_at,"           \
    "conversation_id,author_id"

/* ---- small helpers ------------------------------------------------------- */

const char *x__name(const struct xacc *x)
{
    return x->ad->name != NULL ? x->ad->name : "x";
}

struct x_me x__me(const struct xacc *x)
{
    struct x_me me = {x->me_id, x->me_name};
    return me;
}

void x__replace(char **slot, const char *value)
{
    char *v = value != NULL ? gw_xstrdup(value) : NULL;
    free(*slot);
    *slot = v;
}

void x__timer_stop(struct gw_ad_timer **slot)
{
    gw_ad_timer_stop(*slot);
    *slot = NULL;
}

void x__timer(struct xacc *x, struct gw_ad_timer **slot, uint64_t ms,
              gw_ad_timer_cb cb)
{
    x__timer_stop(slot);
    *slot = gw_ad_timer_start(x->ad, ms, cb, x);
}

cJSON *x__body(const struct gw_http_response *r)
{
    if (r == NULL || r->body == NULL || r->body_len == 0)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

void x__store(struct xacc *x, const char *key, const char *value)
{
    int rc = gw_ad_setting_store(x->ad, key, value);
    if (rc < 0 && rc != UV_ECANCELED)
        gw_ad_notice(x->ad, "could not store %s (%s)", key, uv_strerror(rc));
}

void x__budget_save(struct xacc *x)
{
    char *js = x_budget_save(&x->budget);
    (void)gw_ad_cursor_set(x->ad, CURSOR_BUDGET, js);
    free(js);
}

/* ---- requests ------------------------------------------------------------ */

struct xcall *x__call(xcall_done_cb done, const char *family,
                      const char *method, const char *url)
{
    struct xcall *c = gw_xcalloc(1, sizeof(*c));
    c->done = done;
    c->family = family;
    c->method = gw_xstrdup(method);
    c->url = gw_xstrdup(url);
    return c;
}

void x__call_free(struct xcall *c)
{
    if (c == NULL)
        return;
    free(c->method);
    free(c->url);
    free(c->body);
    free(c->ctype);
    free(c->arg);
    x_post_free(&c->post);
    free(c);
}

static void call_free_arg(void *arg)
{
    x__call_free(arg);
}

/* Wait for a new access token: refreshed while this request waits. */
static bool park(struct xacc *x, struct xcall *c)
{
    if (c->sessionless || c->replayed || x->refresh == NULL || x->signed_out)
        return false;
    c->replayed = true;
    if (c->tok_seq != x->tok_seq && !x->refreshing) {
        /* Refreshed since it was sent (a poll racing a reply): the new
         * token will do. Another refresh would spend the rotated refresh
         * token for nothing, and one cut short by a stop would leave the
         * store holding a spent one. */
        (void)x__send(x, c);
        return true;
    }
    c->next = x->parked;
    x->parked = c;
    x__refresh(x);
    return true;
}

static void on_http(struct gw_adapter *ad, void *arg,
                    const struct gw_http_response *r)
{
    struct xcall *c = arg;
    struct xacc *x = ad->priv;
    x__note_limits(x, c->family, r);
    /* An expired token: refresh and send it again, once, so that a reply
     * in the middle of an expiry simply goes out. */
    if (r->error == 0 && r->status == 401 && park(x, c))
        return;
    if (c->is_action || c->sessionless || c->gen == x->gen)
        c->done(x, c, r);
    x__call_free(c);
}

static bool token_fresh(const struct xacc *x)
{
    return x->expires_ms == 0 || x->expires_ms - gw_now_ms() > 60000;
}

int x__send(struct xacc *x, struct xcall *c)
{
    if (!c->sessionless && x->refresh != NULL && !x->signed_out &&
        (x->refreshing || !token_fresh(x)) && !c->replayed) {
        /* Sent once the refresh is in: an expired token would only earn
         * a 401 (and a request spent). */
        c->replayed = true;
        c->next = x->parked;
        x->parked = c;
        x__refresh(x);
        return 0;
    }
    const char *hdrs[3];
    int nh = 0;
    char *auth = NULL;
    if (!c->sessionless && x->access != NULL) {
        auth = gw_xasprintf("Authorization: Bearer %s", x->access);
        hdrs[nh++] = auth;
    } else if (c->sessionless && x->client_secret != NULL) {
        /* A confidential client authenticates with Basic. */
        char *pair = gw_xasprintf("%s:%s", x->client_id, x->client_secret);
        char *b = gw_base64url(pair, strlen(pair));
        size_t n = strlen(b);
        char *std = gw_xmalloc(n + 4);
        for (size_t i = 0; i < n; i++)
            std[i] = b[i] == '-' ? '+' : b[i] == '_' ? '/' : b[i];
        while (n % 4 != 0)
            std[n++] = '=';
        std[n] = '\0';
        auth = gw_xasprintf("Authorization: Basic %s", std);
        hdrs[nh++] = auth;
        free(std);
        free(b);
        free(pair);
    }
    hdrs[nh] = NULL;
    struct gw_ad_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.http.method = c->method;
    rq.http.url = c->url;
    rq.http.headers = hdrs;
    rq.http.body = c->body;
    rq.http.body_len = c->body != NULL ? strlen(c->body) : 0;
    rq.http.content_type = c->ctype;
    rq.http.ca_file = x->ca_file;
    rq.http.insecure = x->insecure;
    rq.http.timeout_ms = c->timeout_ms;
    rq.family = c->family;
    rq.free_arg = call_free_arg;
    c->gen = x->gen;
    c->tok_seq = x->tok_seq;
    int rc = gw_ad_request(x->ad, &rq, on_http, c);
    free(auth);
    if (rc < 0)
        x__call_free(c);
    return rc;
}

/* The parked requests go out with the new token, or fail with why. */
void x__tokens_set(struct xacc *x, const char *access, const char *refresh,
                   int64_t expires_ms)
{
    x__replace(&x->access, access);
    x->tok_seq++;
    if (refresh != NULL)
        x__replace(&x->refresh, refresh);
    x->expires_ms = expires_ms;
}

/* base + the pieces of a path (NULL ends them early). */
static char *url_of(const struct xacc *x, const char *p1, const char *p2,
                    const char *p3, const char *p4)
{
    return gw_xasprintf("%s%s%s%s%s", x->base, p1, p2 ? p2 : "",
                        p2 && p3 ? p3 : "", p2 && p3 && p4 ? p4 : "");
}

/* ---- signing in and out -------------------------------------------------- */

void x__signed_out(struct xacc *x, const char *why)
{
    if (x->signed_out)
        return;
    x->signed_out = true;
    x->signed_in = false;
    x__poll_stop(x);
    x__timer_stop(&x->t_signin);
    x__timer_stop(&x->t_refresh);
    char *full =
        gw_xasprintf("%s; sign in again: account login %s", why, x__name(x));
    gw_ad_detail(x->ad, "%s", why);
    gw_ad_not_ready(x->ad, true, full);
    gw_ad_notice(x->ad, "%s", full);
    free(full);
}

static void signin_start(struct xacc *x);

static void on_t_signin(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct xacc *x = arg;
    x->t_signin = NULL;
    signin_start(x);
}

static void signin_retry(struct xacc *x, const char *why, long at_least)
{
    x->signin_failures++;
    gw_ad_detail(x->ad, "cannot sign in: %s", why);
    gw_ad_not_ready(x->ad, false, why);
    if ((x->signin_failures & (x->signin_failures - 1)) == 0)
        gw_ad_notice(x->ad, "cannot sign in: %s; retrying", why);
    long d = gw_backoff_next(&x->signin_backoff);
    x__timer(x, &x->t_signin, (uint64_t)(d > at_least ? d : at_least),
             on_t_signin);
}

static void on_me(struct xacc *x, struct xcall *c,
                  const struct gw_http_response *r)
{
    (void)c;
    if (r->error == 0 && r->status == 401) {
        char *err = x_error_text(r);
        char *why = gw_xasprintf("X refused the token (%s)", err);
        x__signed_out(x, why);
        free(why);
        free(err);
        return;
    }
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = x_error_text(r);
        if (x_is_tier_error(r)) {
            char *why = gw_xasprintf("X does not let this app read the "
                                     "account: %s",
                                     err);
            x__signed_out(x, why);
            free(why);
        } else {
            signin_retry(x, err, gw_ad_retry_after_ms(r));
        }
        free(err);
        return;
    }
    cJSON *j = x__body(r);
    const cJSON *d = gw_json_obj(j, "data");
    const char *id = x_json_id(d, "id");
    const char *un = gw_json_str(d, "username");
    if (id == NULL || !x_username_valid(un)) {
        cJSON_Delete(j);
        signin_retry(x, "unexpected answer to /2/users/me", 0);
        return;
    }
    x__replace(&x->me_id, id);
    x__replace(&x->me_name, un);
    cJSON_Delete(j);
    x->signed_in = true;
    gw_ad_detail(x->ad, "%s", "");
    if (x->announce || x->signin_failures > 0)
        gw_ad_notice(x->ad, "signed in as @%s", x->me_name);
    x->announce = false;
    x->signin_failures = 0;
    gw_backoff_reset(&x->signin_backoff);
    gw_ad_ready(x->ad, x->me_id, x->me_name);
    x__poll_start(x);
}

static void signin_start(struct xacc *x)
{
    if (x->signed_out)
        return;
    x__timer_stop(&x->t_signin);
    char *url = gw_xasprintf("%s/2/users/me?" USER_FIELDS, x->base);
    int rc = x__send(x, x__call(on_me, FAM_LOOKUP, "GET", url));
    free(url);
    if (rc == UV_ENOSPC)
        signin_retry(x, "the budget refused the request", 60000);
    else if (rc < 0)
        signin_retry(x, "could not start a request", 0);
}

void x__session_restart(struct xacc *x)
{
    x->gen++;
    x__poll_stop(x);
    x__timer_stop(&x->t_signin);
    x->signed_in = false;
    x->signed_out = false;
    x->signin_failures = 0;
    x->mentions_off = x->dms_off = false;
    gw_backoff_reset(&x->signin_backoff);
    gw_ad_detail(x->ad, "%s", "");
    gw_ad_not_ready(x->ad, false, "signing in");
    signin_start(x);
}

/* ---- actions ------------------------------------------------------------- */

static void act_result(struct xacc *x, uint64_t token,
                       enum gw_action_status status, const char *msg,
                       long retry_ms, const char *result_id,
                       const struct gw_event *created, const char *const *lines,
                       int nlines)
{
    struct gw_action_result res;
    memset(&res, 0, sizeof(res));
    res.status = status;
    res.message = msg;
    res.retry_after_ms = retry_ms;
    res.result_id = result_id;
    res.created = created;
    res.lines = lines;
    res.nlines = nlines;
    gw_ad_action_done(x->ad, token, &res);
}

static void act_failed(struct xacc *x, uint64_t token,
                       enum gw_action_status status, const char *msg)
{
    act_result(x, token, status, msg, 0, NULL, NULL, NULL, 0);
}

/* A response that is not 2xx: X's own words, and whether to try again. A
 * tier that lacks the endpoint is final; so is a refused token (the
 * outbox keeps the action until someone signs in again). */
static void act_fail(struct xacc *x, struct xcall *c,
                     const struct gw_http_response *r)
{
    enum gw_action_status st = x_map_status(r->status, r->error);
    if (st == GW_ACT_OK)
        st = GW_ACT_FAILED;
    char *err = x_error_text(r);
    char *msg = err;
    if (x_is_tier_error(r)) {
        msg = gw_xasprintf("X's access tier for this app does not allow it: "
                           "%s",
                           err);
        free(err);
    } else if (r->error == 0 && r->status == 401) {
        if (c->gen == x->gen && !x->signed_out) {
            char *why = gw_xasprintf("X refused the token (%s)", err);
            x__signed_out(x, why);
            free(why);
        }
        st = GW_ACT_RETRY;
    }
    act_result(x, c->token, st, msg,
               st == GW_ACT_RETRY ? gw_ad_retry_after_ms(r) : 0, NULL, NULL,
               NULL, 0);
    free(msg);
}

static struct xcall *act_call(const struct gw_action *a, xcall_done_cb done,
                              const char *family, const char *method,
                              const char *url)
{
    struct xcall *c = x__call(done, family, method, url);
    c->is_action = true;
    c->token = a->token;
    c->kind = a->kind;
    return c;
}

static void act_send(struct xacc *x, struct xcall *c)
{
    uint64_t token = c->token;
    int rc = x__send(x, c);
    if (rc == UV_ENOSPC)
        act_failed(x, token, GW_ACT_FAILED,
                   "the account's budget is spent (status says how much); "
                   "it comes back at midnight UTC");
    else if (rc < 0)
        act_failed(x, token, GW_ACT_RETRY, "could not start the request");
}

static void set_json(struct xcall *c, char *json)
{
    c->body = gw_xstrdup(json != NULL ? json : "{}");
    c->ctype = gw_xstrdup("application/json");
    cJSON_free(json);
}

/* The post as it now exists, for the channel: mine, with its address. */
static void done_created(struct xacc *x, struct xcall *c, const char *id,
                         const char *note)
{
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    char *url = NULL;
    ev.id = id;
    ev.author_id = x->me_id;
    ev.author = x->me_name;
    ev.text = c->post.text != NULL ? c->post.text : "";
    if (c->kind == GW_ACT_DM) {
        ev.kind = GW_EV_DM;
        ev.audience = GW_AUD_MENTIONED;
        ev.conversation = c->post.dm_conv;
    } else {
        ev.kind = GW_EV_OWN;
        ev.audience = GW_AUD_PUBLIC;
        ev.in_reply_to = c->post.reply_to;
        url = gw_xasprintf("https://x.com/%s/status/%s",
                           x->me_name ? x->me_name : "i", id);
        ev.url = url;
    }
    act_result(x, c->token, GW_ACT_OK, note, 0, id, &ev, NULL, 0);
    free(url);
    if (c->kind == GW_ACT_REPLY || c->kind == GW_ACT_DM)
        x__poll_wake(x); /* answers to answers come fast */
}

static void tweet_send(struct xacc *x, struct xcall *c);

/* My latest posts, to see whether an earlier attempt was made after all. */
static void on_own(struct xacc *x, struct xcall *c,
                   const struct gw_http_response *r)
{
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(x, c, r);
        return;
    }
    cJSON *j = x__body(r);
    x->budget.posts_month += x_posts_in(j);
    const char *id = x_find_own(j, c->post.text, c->post.reply_to);
    if (id != NULL) {
        char *keep = gw_xstrdup(id);
        cJSON_Delete(j);
        /* Made by an earlier attempt: said once, sent once. */
        gw_ad_notice(x->ad,
                     "that post was made already (https://x.com/%s/status/"
                     "%s); it was not sent again",
                     x->me_name, keep);
        done_created(x, c, keep, "it was posted already");
        free(keep);
        return;
    }
    cJSON_Delete(j);
    if (c->arg != NULL) {
        /* X said duplicate, and it is not among my latest posts. */
        char *msg = gw_xasprintf("X refused it as a duplicate of an earlier "
                                 "post of yours (%s); change the text to "
                                 "post it",
                                 c->arg);
        act_failed(x, c->token, GW_ACT_FAILED, msg);
        free(msg);
        return;
    }
    /* Not made: send it now, in a fresh call that owns the post. */
    struct xcall *n = x__call(NULL, FAM_WRITE, "POST", "");
    n->is_action = true;
    n->token = c->token;
    n->kind = c->kind;
    n->post = c->post;
    n->looked = true;
    memset(&c->post, 0, sizeof(c->post));
    tweet_send(x, n);
}

static void own_lookup(struct xacc *x, struct xcall *from, const char *why)
{
    char *url = gw_xasprintf("%s/2/users/%s/tweets?max_results=10&"
                             "exclude=retweets&" OWN_TWEET_FIELDS,
                             x->base, x->me_id);
    struct xcall *c = x__call(on_own, FAM_OWN, "GET", url);
    free(url);
    c->is_action = true;
    c->token = from->token;
    c->kind = from->kind;
    c->post = from->post;
    memset(&from->post, 0, sizeof(from->post));
    c->arg = why != NULL ? gw_xstrdup(why) : NULL;
    act_send(x, c);
}

static void on_tweet(struct xacc *x, struct xcall *c,
                     const struct gw_http_response *r)
{
    if (x_is_duplicate(r)) {
        char *err = x_error_text(r);
        own_lookup(x, c, err);
        free(err);
        return;
    }
    if (x_maybe_made(r)) {
        char *err = x_error_text(r);
        char *msg = gw_xasprintf("no answer from X (%s); it may have been "
                                 "posted, so Parley looks at your latest "
                                 "posts before it tries again",
                                 err);
        act_result(x, c->token, GW_ACT_MAYBE, msg, gw_ad_retry_after_ms(r),
                   NULL, NULL, NULL, 0);
        free(msg);
        free(err);
        return;
    }
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(x, c, r);
        return;
    }
    cJSON *j = x__body(r);
    const char *id = x_json_id(gw_json_obj(j, "data"), "id");
    if (id == NULL) {
        cJSON_Delete(j);
        act_failed(x, c->token, GW_ACT_OK, "posted; X's answer named no post");
        return;
    }
    char *keep = gw_xstrdup(id);
    cJSON_Delete(j);
    done_created(x, c, keep, NULL);
    free(keep);
}

static void tweet_send(struct xacc *x, struct xcall *c)
{
    free(c->url);
    c->url = gw_xasprintf("%s/2/tweets", x->base);
    c->done = on_tweet;
    set_json(c, x_post_json(&c->post));
    c->timeout_ms = x->post_timeout_ms;
    act_send(x, c);
}

static void on_dm(struct xacc *x, struct xcall *c,
                  const struct gw_http_response *r)
{
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(x, c, r);
        return;
    }
    cJSON *j = x__body(r);
    const cJSON *d = gw_json_obj(j, "data");
    const char *ev = x_json_id(d, "dm_event_id");
    const char *conv = gw_json_str(d, "dm_conversation_id");
    if (x_conv_id_valid(conv))
        x__replace(&c->post.dm_conv, conv);
    char *keep = gw_xstrdup(ev != NULL ? ev : "0");
    cJSON_Delete(j);
    done_created(x, c, keep, NULL);
    free(keep);
}

static void dm_send(struct xacc *x, struct xcall *c)
{
    free(c->url);
    if (c->post.dm_conv != NULL)
        c->url = url_of(x, "/2/dm_conversations/", c->post.dm_conv, "/messages",
                        NULL);
    else
        c->url = url_of(x, "/2/dm_conversations/with/", c->post.dm_user,
                        "/messages", NULL);
    c->done = on_dm;
    set_json(c, x_dm_json(&c->post));
    act_send(x, c);
}

/* A username to its id, then on with the action. */
static void on_user(struct xacc *x, struct xcall *c,
                    const struct gw_http_response *r);

static void user_lookup(struct xacc *x, struct xcall *from, const char *name,
                        const char *fields)
{
    char *enc = x_urlencode(name);
    char *url =
        gw_xasprintf("%s/2/users/by/username/%s?%s", x->base, enc, fields);
    free(enc);
    struct xcall *c = x__call(on_user, FAM_LOOKUP, "GET", url);
    free(url);
    c->is_action = true;
    c->token = from->token;
    c->kind = from->kind;
    c->post = from->post;
    memset(&from->post, 0, sizeof(from->post));
    c->arg = gw_xstrdup(name);
    x__call_free(from);
    act_send(x, c);
}

static void on_simple(struct xacc *x, struct xcall *c,
                      const struct gw_http_response *r)
{
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(x, c, r);
        return;
    }
    act_result(x, c->token, GW_ACT_OK, NULL, 0, c->arg, NULL, NULL, 0);
}

static void on_user(struct xacc *x, struct xcall *c,
                    const struct gw_http_response *r)
{
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(x, c, r);
        return;
    }
    cJSON *j = x__body(r);
    const char *id = x_json_id(gw_json_obj(j, "data"), "id");
    if (id == NULL) {
        char *err = x_error_text(r);
        char *msg = gw_xasprintf("no such account on X: @%s (%s)", c->arg, err);
        act_failed(x, c->token, GW_ACT_FAILED, msg);
        free(msg);
        free(err);
        cJSON_Delete(j);
        return;
    }
    if (c->kind == GW_ACT_WHO) {
        char **lines = NULL;
        int n = x_who_lines(j, &lines);
        if (n < 0)
            act_failed(x, c->token, GW_ACT_FAILED, "unexpected answer");
        else
            act_result(x, c->token, GW_ACT_OK, NULL, 0, id, NULL,
                       (const char *const *)lines, n);
        x_lines_free(lines, n);
        cJSON_Delete(j);
        return;
    }
    struct xcall *n = x__call(on_simple, FAM_WRITE, "POST", "");
    n->is_action = true;
    n->token = c->token;
    n->kind = c->kind;
    n->arg = gw_xstrdup(id);
    cJSON_Delete(j);
    free(n->url);
    if (c->kind == GW_ACT_DM) {
        n->post = c->post;
        memset(&c->post, 0, sizeof(c->post));
        n->post.dm_user = gw_xstrdup(n->arg);
        n->url = NULL;
        dm_send(x, n);
        return;
    }
    if (c->kind == GW_ACT_FOLLOW) {
        n->url = url_of(x, "/2/users/", x->me_id, "/following", NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "target_user_id", n->arg);
        set_json(n, cJSON_PrintUnformatted(o));
        cJSON_Delete(o);
    } else {
        free(n->method);
        n->method = gw_xstrdup("DELETE");
        n->url = url_of(x, "/2/users/", x->me_id, "/following/", n->arg);
    }
    act_send(x, n);
}

static void act_post(struct xacc *x, const struct gw_action *a)
{
    struct xcall *c = act_call(a, NULL, FAM_WRITE, "POST", "");
    char err[300];
    if (x_compose(a, x->long_posts, &c->post, err, sizeof(err)) < 0) {
        x__call_free(c);
        act_failed(x, a->token, GW_ACT_FAILED, err);
        return;
    }
    if (a->kind == GW_ACT_DM) {
        if (c->post.dm_name != NULL) {
            char *name = gw_xstrdup(c->post.dm_name);
            user_lookup(x, c, name, "user.fields=username");
            free(name);
        } else {
            dm_send(x, c);
        }
        return;
    }
    /* No idempotency key on X: an attempt that may have been made is
     * looked for among my latest posts before it is made again. */
    if (a->maybe_sent) {
        own_lookup(x, c, NULL);
        x__call_free(c);
        return;
    }
    tweet_send(x, c);
}

static void act_post_op(struct xacc *x, const struct gw_action *a)
{
    if (a->parent == NULL || !x_id_valid(a->parent->id)) {
        act_failed(x, a->token, GW_ACT_FAILED, "no such post");
        return;
    }
    const char *pid = a->parent->id;
    struct xcall *c = act_call(a, on_simple, FAM_WRITE, "POST", "");
    c->arg = gw_xstrdup(pid);
    free(c->url);
    if (a->kind == GW_ACT_DELETE) {
        free(c->method);
        c->method = gw_xstrdup("DELETE");
        c->url = url_of(x, "/2/tweets/", pid, NULL, NULL);
    } else if (a->kind == GW_ACT_FAV || a->kind == GW_ACT_BOOST) {
        c->url = url_of(x, "/2/users/", x->me_id,
                        a->kind == GW_ACT_FAV ? "/likes" : "/retweets", NULL);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "tweet_id", pid);
        set_json(c, cJSON_PrintUnformatted(o));
        cJSON_Delete(o);
    } else {
        free(c->method);
        c->method = gw_xstrdup("DELETE");
        c->url =
            url_of(x, "/2/users/", x->me_id,
                   a->kind == GW_ACT_UNFAV ? "/likes/" : "/retweets/", pid);
    }
    act_send(x, c);
}

static void act_person(struct xacc *x, const struct gw_action *a)
{
    const char *h = a->handle;
    if ((h == NULL || *h == '\0') && a->parent != NULL)
        h = a->parent->author;
    if (h != NULL && *h == '@')
        h++;
    if (!x_username_valid(h)) {
        char *msg = gw_xasprintf("not an X username: %s", h ? h : "(none)");
        act_failed(x, a->token, GW_ACT_FAILED, msg);
        free(msg);
        return;
    }
    struct xcall *c = act_call(a, NULL, FAM_LOOKUP, "GET", "");
    user_lookup(x, c, h,
                a->kind == GW_ACT_WHO
                    ? "user.fields=username,name,description,public_metrics,"
                      "created_at,protected"
                    : "user.fields=username");
}

static void on_thread(struct xacc *x, struct xcall *c,
                      const struct gw_http_response *r)
{
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(x, c, r);
        return;
    }
    cJSON *j = x__body(r);
    x->budget.posts_month += x_posts_in(j);
    struct x_me me = x__me(x);
    char **lines = NULL;
    int n = x_thread_lines(j, &me, &lines);
    if (n < 0)
        act_failed(x, c->token, GW_ACT_FAILED, "unexpected answer");
    else
        act_result(x, c->token, GW_ACT_OK, NULL, 0, c->arg, NULL,
                   (const char *const *)lines, n);
    x_lines_free(lines, n);
    cJSON_Delete(j);
}

static void act_thread(struct xacc *x, const struct gw_action *a)
{
    if (a->parent == NULL || !x_id_valid(a->parent->id)) {
        act_failed(x, a->token, GW_ACT_FAILED, "no such post");
        return;
    }
    const char *conv = x_id_valid(a->parent->conversation)
                           ? a->parent->conversation
                           : a->parent->id;
    /* Recent search: the last 7 days of the conversation, where the tier
     * has search at all (a 403 says so in X's words). */
    char *url = gw_xasprintf(
        "%s/2/tweets/search/recent?query=conversation_id%%3A%s&max_results=50"
        "&tweet.fields=created_at,author_id,conversation_id,"
        "in_reply_to_user_id,referenced_tweets,entities,note_tweet"
        "&expansions=author_id&" USER_FIELDS,
        x->base, conv);
    struct xcall *c = act_call(a, on_thread, FAM_LOOKUP, "GET", url);
    free(url);
    c->arg = gw_xstrdup(a->parent->id);
    act_send(x, c);
}

/* ---- settings ------------------------------------------------------------ */

static int yesno(const char *v)
{
    if (v == NULL)
        return -1;
    if (gw_strcasecmp(v, "yes") == 0)
        return 1;
    if (gw_strcasecmp(v, "no") == 0)
        return 0;
    return -1;
}

static bool http_url(const char *v)
{
    return gw_text_url_ok(v) && strchr(v, ' ') == NULL &&
           (strncmp(v, "https://", 8) == 0 || strncmp(v, "http://", 7) == 0);
}

static int check_setting(const char *key, const char *value, char *err,
                         size_t errlen)
{
    long v;
    if (key == NULL)
        return 0;
    if (value == NULL)
        value = "";
    if (strcmp(key, "base_url") == 0 || strcmp(key, "authorize_url") == 0 ||
        strcmp(key, "redirect_uri") == 0) {
        if (!http_url(value))
            return gw_setting_fail(err, errlen,
                                   "must be an http:// or https:// address");
    } else if (strcmp(key, "long_posts") == 0 ||
               strcmp(key, "tls_verify") == 0 ||
               strcmp(key, "streaming") == 0) {
        if (yesno(value) < 0)
            return gw_setting_fail(err, errlen, "must be yes or no");
    } else if (strcmp(key, "poll_seconds") == 0) {
        if (gw_parse_long(value, POLL_MIN_S, POLL_MAX_S, &v) < 0)
            return gw_setting_fail(err, errlen,
                                   "must be a whole number of seconds from 5 "
                                   "to 86400");
    } else if (strcmp(key, "timeout_seconds") == 0) {
        if (gw_parse_long(value, 1, 600, &v) < 0)
            return gw_setting_fail(err, errlen,
                                   "must be a whole number of seconds from 1 "
                                   "to 600");
    } else if (strcmp(key, "max_requests_per_day") == 0 ||
               strcmp(key, "max_posts_read_per_month") == 0) {
        if (gw_parse_long(value, 0, 1000000000, &v) < 0)
            return gw_setting_fail(err, errlen,
                                   "must be a whole number (0: no limit)");
    } else if (strcmp(key, "token_expires") == 0) {
        if (gw_parse_long(value, 0, 1L << 52, &v) < 0)
            return gw_setting_fail(err, errlen, "must be epoch milliseconds");
    } else if (strcmp(key, "client_id") == 0 ||
               strcmp(key, "client_secret") == 0 || strcmp(key, "token") == 0 ||
               strcmp(key, "refresh_token") == 0 ||
               strcmp(key, "code_verifier") == 0 ||
               strcmp(key, "oauth_state") == 0) {
        if (!gw_printable_word(value, 4096))
            return gw_setting_fail(err, errlen,
                                   "must be printable characters without "
                                   "spaces");
    } else if (strcmp(key, "tls_ca") == 0) {
        if (*value == '\0')
            return gw_setting_fail(err, errlen, "must name a PEM file");
    }
    return 0;
}

static long setting_long(struct gw_adapter *ad, const char *key, long min,
                         long max, long dflt)
{
    long v;
    const char *s = gw_ad_setting(ad, key);
    if (s == NULL || gw_parse_long(s, min, max, &v) < 0)
        return dflt;
    return v;
}

static char *setting_url(struct gw_adapter *ad, const char *key,
                         const char *dflt)
{
    const char *s = gw_ad_setting(ad, key);
    char *u = gw_xstrdup(s != NULL && http_url(s) ? s : dflt);
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    return u;
}

/* ---- ops ----------------------------------------------------------------- */

static void priv_free(struct xacc *x)
{
    while (x->parked != NULL) {
        struct xcall *c = x->parked;
        x->parked = c->next;
        x__call_free(c);
    }
    for (int i = 0; i < x->npages; i++)
        cJSON_Delete(x->pages[i]);
    free(x->newest);
    free(x->base);
    free(x->authorize);
    free(x->redirect);
    free(x->client_id);
    free(x->client_secret);
    free(x->access);
    free(x->refresh);
    free(x->ca_file);
    free(x->me_id);
    free(x->me_name);
    free(x->cur_mentions);
    free(x->cur_dms);
    free(x);
}

static void load_cursor(struct gw_adapter *ad, const char *name, char **slot)
{
    char *cur = NULL;
    if (gw_ad_cursor_get(ad, name, &cur) == 0 && x_id_valid(cur))
        *slot = cur;
    else
        free(cur);
}

static int x_start(struct gw_adapter *ad)
{
    struct xacc *x = gw_xcalloc(1, sizeof(*x));
    x->ad = ad;
    ad->priv = x;
    x->base = setting_url(ad, "base_url", DEFAULT_BASE);
    x->authorize = setting_url(ad, "authorize_url", DEFAULT_AUTHORIZE);
    const char *ru = gw_ad_setting(ad, "redirect_uri");
    x->redirect =
        gw_xstrdup(ru != NULL && http_url(ru) ? ru : DEFAULT_REDIRECT);
    const char *ca = gw_ad_setting(ad, "tls_ca");
    if (ca != NULL && *ca != '\0')
        x->ca_file = gw_xstrdup(ca);
    x->insecure = yesno(gw_ad_setting(ad, "tls_verify")) == 0;
    x->long_posts = yesno(gw_ad_setting(ad, "long_posts")) == 1;
    long poll = setting_long(ad, "poll_seconds", 1, POLL_MAX_S, POLL_DEFAULT_S);
    x->base_poll_ms = (poll < POLL_MIN_S ? POLL_MIN_S : poll) * 1000;
    x->post_timeout_ms =
        setting_long(ad, "timeout_seconds", 1, 600, POST_TIMEOUT_S) * 1000;
    x->budget.max_requests_day =
        setting_long(ad, "max_requests_per_day", 0, 1000000000, 0);
    x->budget.max_posts_month =
        setting_long(ad, "max_posts_read_per_month", 0, 1000000000, 0);
    x->signin_backoff.min_ms = x->poll_backoff.min_ms = BACKOFF_MIN_MS;
    x->signin_backoff.max_ms = x->poll_backoff.max_ms = BACKOFF_MAX_MS;
    x->rl_rem_m = x->rl_rem_d = x->rl_lim_m = x->rl_lim_d = -1;
    x->posts_per_poll = 1;
    x->per_poll = 2;

    const char *cid = gw_ad_setting(ad, "client_id");
    const char *csec = gw_ad_setting(ad, "client_secret");
    if (gw_printable_word(cid, 1024))
        x->client_id = gw_xstrdup(cid);
    if (gw_printable_word(csec, 1024))
        x->client_secret = gw_xstrdup(csec);

    load_cursor(ad, CURSOR_MENTIONS, &x->cur_mentions);
    load_cursor(ad, CURSOR_DMS, &x->cur_dms);
    char *bj = NULL;
    if (gw_ad_cursor_get(ad, CURSOR_BUDGET, &bj) == 0)
        x_budget_load(&x->budget, bj);
    free(bj);
    x_budget_roll(&x->budget, gw_now_ms());

    const char *tok = gw_ad_setting(ad, "token");
    const char *ref = gw_ad_setting(ad, "refresh_token");
    if (gw_printable_word(tok, 4096))
        x->access = gw_xstrdup(tok);
    if (gw_printable_word(ref, 4096))
        x->refresh = gw_xstrdup(ref);
    x->expires_ms = setting_long(ad, "token_expires", 0, 1L << 52, 0);
    if (x->access == NULL && x->refresh == NULL) {
        x->signed_out = true;
        char *why =
            gw_xasprintf("not signed in; run account login %s", x__name(x));
        gw_ad_not_ready(ad, true, why);
        free(why);
        gw_ad_notice(ad, "not signed in; run \"account login %s\"%s",
                     x__name(x),
                     x->client_id == NULL ? " after setting client_id" : "");
        return 0;
    }
    signin_start(x);
    return 0;
}

static void x_stop(struct gw_adapter *ad)
{
    if (ad->priv != NULL)
        priv_free(ad->priv);
}

static int x_act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct xacc *x = ad->priv;
    if (x->me_id == NULL) {
        act_failed(x, a->token, GW_ACT_RETRY, "not signed in yet");
        return 0;
    }
    switch (a->kind) {
    case GW_ACT_POST:
    case GW_ACT_REPLY:
    case GW_ACT_DM:
        act_post(x, a);
        return 0;
    case GW_ACT_FAV:
    case GW_ACT_UNFAV:
    case GW_ACT_BOOST:
    case GW_ACT_UNBOOST:
    case GW_ACT_DELETE:
        act_post_op(x, a);
        return 0;
    case GW_ACT_FOLLOW:
    case GW_ACT_UNFOLLOW:
    case GW_ACT_WHO:
        act_person(x, a);
        return 0;
    case GW_ACT_THREAD:
        act_thread(x, a);
        return 0;
    default:
        return UV_EINVAL;
    }
}

static int x_check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                   size_t errlen)
{
    struct xacc *x = ad->priv;
    if (a->kind != GW_ACT_POST && a->kind != GW_ACT_REPLY &&
        a->kind != GW_ACT_DM)
        return 0;
    struct x_post p;
    int rc = x_compose(a, x->long_posts, &p, err, errlen);
    x_post_free(&p);
    return rc;
}

/* Reads are what X bills; a post, a like or a DM always goes. */
static bool budgeted(const char *family)
{
    return strcmp(family, FAM_MENTIONS) == 0 || strcmp(family, FAM_DMS) == 0 ||
           strcmp(family, FAM_LOOKUP) == 0;
}

static int x_budget(struct gw_adapter *ad, const char *family, char *why,
                    size_t whylen)
{
    struct xacc *x = ad->priv;
    struct x_budget *b = &x->budget;
    x_budget_roll(b, gw_now_ms());
    if (budgeted(family)) {
        if (b->max_requests_day > 0 &&
            b->requests_today >= b->max_requests_day) {
            snprintf(why, whylen,
                     "the day's budget is spent (%ld of %ld requests); "
                     "reading resumes at midnight UTC, posting goes on",
                     b->requests_today, b->max_requests_day);
            return UV_ENOSPC;
        }
        if (b->max_posts_month > 0 && b->posts_month >= b->max_posts_month) {
            snprintf(why, whylen,
                     "the month's budget is spent (%ld of %ld posts "
                     "read); reading resumes next month, posting goes on",
                     b->posts_month, b->max_posts_month);
            return UV_ENOSPC;
        }
    }
    b->requests_today++;
    return 0;
}

static void limit_text(char *buf, size_t size, const char *what, long rem,
                       long lim, int64_t reset)
{
    if (rem < 0) {
        buf[0] = '\0';
        return;
    }
    char t[32] = "";
    if (reset > 0) {
        gw_format_time(reset, t, sizeof(t));
        t[16] = '\0';
    }
    if (lim >= 0)
        snprintf(buf, size, "; %s %ld of %ld left until %s", what, rem, lim,
                 t + 11);
    else
        snprintf(buf, size, "; %s %ld left until %s", what, rem, t + 11);
}

static void x_status(struct gw_adapter *ad, struct gw_adapter_status *st)
{
    struct xacc *x = ad->priv;
    const char *mode = x->signed_out   ? "signed out"
                       : !x->signed_in ? "connecting"
                                       : "polling";
    gw_strlcpy(st->mode, mode, sizeof(st->mode));
    struct x_budget *b = &x->budget;
    x_budget_roll(b, gw_now_ms());
    char req[64], posts[64], lm[80], ld[80];
    if (b->max_requests_day > 0)
        snprintf(req, sizeof(req), "%ld of %ld", b->requests_today,
                 b->max_requests_day);
    else
        snprintf(req, sizeof(req), "%ld", b->requests_today);
    if (b->max_posts_month > 0)
        snprintf(posts, sizeof(posts), "%ld of %ld", b->posts_month,
                 b->max_posts_month);
    else
        snprintf(posts, sizeof(posts), "%ld", b->posts_month);
    limit_text(lm, sizeof(lm), "mentions", x->rl_rem_m, x->rl_lim_m,
               x->rl_reset_m);
    limit_text(ld, sizeof(ld), "DMs", x->rl_rem_d, x->rl_lim_d, x->rl_reset_d);
    snprintf(st->detail, sizeof(st->detail),
             "spent today %s requests, this month %s posts read; every %ld "
             "s%s%s",
             req, posts, x->interval_ms / 1000, lm, ld);
}

static const char *const x_keys[] = {
    "client_id",
    "client_secret",
    "redirect_uri",
    "base_url",
    "authorize_url",
    "token",
    "refresh_token",
    "token_expires",
    "code_verifier",
    "oauth_state",
    "long_posts",
    "max_requests_per_day",
    "max_posts_read_per_month",
    "timeout_seconds",
    "tls_verify",
    NULL,
};

const struct gw_adapter_ops x_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "x",
    .summary = "X (Twitter), API v2 with your own app: account add NAME x "
               "client_id=ID, then account login NAME",
    /* X puts the @names of a thread into a reply itself: no
     * GW_NET_MENTION_REPLIES. */
    .caps = GW_NET_OAUTH,
    .actions = GW_ACT_BIT(GW_ACT_POST) | GW_ACT_BIT(GW_ACT_REPLY) |
               GW_ACT_BIT(GW_ACT_DM) | GW_ACT_BIT(GW_ACT_FAV) |
               GW_ACT_BIT(GW_ACT_UNFAV) | GW_ACT_BIT(GW_ACT_BOOST) |
               GW_ACT_BIT(GW_ACT_UNBOOST) | GW_ACT_BIT(GW_ACT_DELETE) |
               GW_ACT_BIT(GW_ACT_FOLLOW) | GW_ACT_BIT(GW_ACT_UNFOLLOW) |
               GW_ACT_BIT(GW_ACT_THREAD) | GW_ACT_BIT(GW_ACT_WHO),
    .keys = x_keys,
    .check_setting = check_setting,
    .start = x_start,
    .stop = x_stop,
    .act = x_act,
    .check = x_check,
    .login = x__login,
    .code = x__code,
    .status = x_status,
    .budget = x_budget,
};
