/*
 * The Mastodon account's runtime: requests, signing in, actions and the ops
 * table. Requests, timers and streams go through the adapter runtime
 * (adapter.h), which cancels them when the account stops and keeps rate
 * limits per family; what is left here is Mastodon.
 */
#include "mastodon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* Stock server values, until /api/v2/instance says. */
#define DEFAULT_MAX_CHARS  500
#define DEFAULT_URL_WEIGHT 23

/* poll_seconds: below 5 s a poller spends the 300 requests / 5 min that
 * Mastodon grants an account on nothing but polling. */
#define POLL_MIN_S     5
#define POLL_MAX_S     86400
#define POLL_DEFAULT_S 60

/* ---- small helpers ------------------------------------------------------- */

const char *mastodon__name(const struct mastodon *m)
{
    return m->ad->name != NULL ? m->ad->name : "mastodon";
}

struct mastodon_me mastodon__me(const struct mastodon *m)
{
    struct mastodon_me me = {m->me_id, m->me_acct, m->domain};
    return me;
}

void mastodon__replace(char **slot, const char *value)
{
    gw_xreplace(slot, value);
}

void mastodon__timer_stop(struct gw_ad_timer **slot)
{
    gw_ad_timer_clear(slot);
}

void mastodon__timer(struct mastodon *m, struct gw_ad_timer **slot, uint64_t ms,
                     gw_ad_timer_cb cb)
{
    gw_ad_timer_set(m->ad, slot, ms, cb, m);
}

cJSON *mastodon__body(const struct gw_http_response *r)
{
    if (r == NULL || r->body == NULL || r->body_len == 0)
        return NULL;
    return gw_json_read(r->body, r->body_len);
}

void mastodon__dropped(struct mastodon *m, const char *what, const char *id,
                       int rc, const struct mastodon_event *e)
{
    if (rc >= 0 || rc == MASTODON_IGNORED)
        return;
    gw_ad_log(m->ad, "%s %s from the server was not shown: %s", what,
              id != NULL ? id : "(no id)",
              e->why != NULL ? e->why : "it could not be read");
}

bool mastodon__is_401(const struct gw_http_response *r)
{
    return r->error == 0 && r->status == 401;
}

/* ---- requests ------------------------------------------------------------ */

struct mcall *mastodon__call(mcall_done_cb done)
{
    struct mcall *c = gw_xcalloc(1, sizeof(*c));
    c->done = done;
    return c;
}

static void call_free(void *arg)
{
    struct mcall *c = arg;
    free(c->arg);
    cJSON_Delete(c->keep);
    free(c);
}

static void on_http(struct gw_adapter *ad, void *arg,
                    const struct gw_http_response *r)
{
    struct mcall *c = arg;
    struct mastodon *m = ad->priv;
    /* A session's answers arriving after a new sign-in (a new token) are
     * stale: a 401 there says nothing about the new token. */
    if (c->is_action || c->sessionless || c->gen == m->gen)
        c->done(m, c, r);
    call_free(c);
}

int mastodon__send(struct mastodon *m, struct mcall *c, const char *family,
                   const char *method, const char *url, const char *body,
                   const char *content_type, bool auth, const char *idem)
{
    const char *hdrs[3];
    int nh = 0;
    char *idem_hdr = NULL;
    if (auth && m->auth_hdr != NULL)
        hdrs[nh++] = m->auth_hdr;
    if (idem != NULL) {
        idem_hdr = gw_xasprintf("Idempotency-Key: %s", idem);
        hdrs[nh++] = idem_hdr;
    }
    hdrs[nh] = NULL;
    struct gw_ad_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.http.method = method;
    rq.http.url = url;
    rq.http.headers = hdrs;
    rq.http.body = body;
    rq.http.body_len = body != NULL ? strlen(body) : 0;
    rq.http.content_type = content_type;
    rq.http.ca_file = m->ca_file;
    rq.http.insecure = m->insecure;
    rq.family = family;
    rq.free_arg = call_free;
    c->gen = m->gen;
    int rc = gw_ad_request(m->ad, &rq, on_http, c);
    free(idem_hdr);
    if (rc < 0)
        call_free(c);
    return rc;
}

static char *api_url(const struct mastodon *m, const char *path)
{
    return gw_xasprintf("%s%s", m->base, path);
}

/* GET base+path in the read family. */
static int get(struct mastodon *m, struct mcall *c, const char *path)
{
    char *url = api_url(m, path);
    int rc = mastodon__send(m, c, FAM_READ, "GET", url, NULL, NULL, true, NULL);
    free(url);
    return rc;
}

/* ---- signing out --------------------------------------------------------- */

/* The token was refused: say so once and stop every retry. Actions wait in
 * the outbox until someone signs in again. */
void mastodon__signed_out(struct mastodon *m, const struct gw_http_response *r)
{
    if (m->signed_out)
        return;
    char *err = mastodon_error_text(r);
    m->signed_out = true;
    m->signed_in = false;
    m->bf_running = false;
    m->bf_again = false;
    mastodon__timer_stop(&m->t_signin);
    mastodon__timer_stop(&m->t_backfill);
    mastodon__stream_retire(m);
    gw_ad_detail(m->ad, "the server refused the token (401): %s", err);
    char *why = gw_xasprintf("the server refused the token; run account "
                             "login %s",
                             mastodon__name(m));
    gw_ad_not_ready(m->ad, true, why);
    free(why);
    gw_ad_notice(m->ad,
                 "the server refused the token (401): %s; run account "
                 "login %s",
                 err, mastodon__name(m));
    free(err);
}

/* ---- signing in ---------------------------------------------------------- */

static void signin_start(struct mastodon *m);

static void on_t_signin(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct mastodon *m = arg;
    m->t_signin = NULL;
    signin_start(m);
}

static void signin_retry(struct mastodon *m, const char *why)
{
    m->signin_failures++;
    if (m->signed_in) {
        /* Resumed from the last session: still streaming, still able to
         * queue; only the check waits. */
        gw_ad_detail(m->ad, "checking the sign-in: %s; retrying", why);
        mastodon__timer(m, &m->t_signin,
                        (uint64_t)gw_backoff_next(&m->signin_backoff),
                        on_t_signin);
        return;
    }
    gw_ad_detail(m->ad, "cannot sign in: %s", why);
    gw_ad_not_ready(m->ad, false, why);
    /* Loud at first (someone may be watching), then ever more rarely. */
    if ((m->signin_failures & (m->signin_failures - 1)) == 0)
        gw_ad_notice(m->ad, "cannot sign in: %s; retrying", why);
    mastodon__timer(m, &m->t_signin,
                    (uint64_t)gw_backoff_next(&m->signin_backoff), on_t_signin);
}

/* ---- the last session ---------------------------------------------------- */

/* A token's fingerprint (FNV-1a): the session kept is only resumed with the
 * token it was made with. Not a secret's hash in any strong sense; it only
 * tells tokens apart. */
static void token_mark(const char *token, char out[17])
{
    uint64_t h = 1469598103934665603ULL;
    for (const unsigned char *p = (const unsigned char *)token; *p; p++)
        h = (h ^ *p) * 1099511628211ULL;
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* What sign-in learnt, kept for the next start: the stream, which costs no
 * REST budget, opens at once with it, even while verify_credentials waits
 * for a spent rate-limit window. */
static void session_save(struct mastodon *m)
{
    char mark[17];
    token_mark(m->token, mark);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "token", mark);
    cJSON_AddStringToObject(o, "base", m->base);
    cJSON_AddStringToObject(o, "id", m->me_id);
    cJSON_AddStringToObject(o, "acct", m->me_raw);
    cJSON_AddStringToObject(o, "domain", m->domain != NULL ? m->domain : "");
    cJSON_AddStringToObject(o, "stream",
                            m->stream_base != NULL ? m->stream_base : "");
    cJSON_AddNumberToObject(o, "max_chars", (double)m->max_chars);
    cJSON_AddNumberToObject(o, "url_weight", (double)m->url_weight);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s != NULL && gw_ad_cursor_set(m->ad, SESSION_CURSOR, s) < 0)
        gw_ad_log(m->ad, "could not keep the session for the next start");
    cJSON_free(s);
}

static bool session_resume(struct mastodon *m)
{
    char *s = NULL;
    if (gw_ad_cursor_get(m->ad, SESSION_CURSOR, &s) < 0 || s == NULL) {
        free(s);
        return false;
    }
    cJSON *j = gw_json_read(s, strlen(s));
    free(s);
    char mark[17];
    token_mark(m->token, mark);
    const char *tok = gw_json_str(j, "token");
    const char *base = gw_json_str(j, "base");
    const char *id = mastodon_json_id(j, "id");
    const char *acct = gw_json_str(j, "acct");
    const char *domain = gw_json_str(j, "domain");
    const char *stream = gw_json_str(j, "stream");
    bool ok = tok != NULL && strcmp(tok, mark) == 0 && base != NULL &&
              strcmp(base, m->base) == 0 && id != NULL &&
              mastodon_handle_valid(acct) && domain != NULL &&
              *domain != '\0' && stream != NULL &&
              (*stream == '\0' || gw_text_url_ok(stream));
    if (ok) {
        mastodon__replace(&m->me_id, id);
        mastodon__replace(&m->me_raw, acct);
        mastodon__replace(&m->domain, domain);
        free(m->stream_base);
        m->stream_base = *stream != '\0' ? gw_xstrdup(stream) : NULL;
        m->max_chars = gw_json_long(j, "max_chars", m->max_chars, 1, 1000000);
        m->url_weight = gw_json_long(j, "url_weight", m->url_weight, 0, 10000);
    }
    cJSON_Delete(j);
    return ok;
}

/* Signed in (or resumed): ready, and what waited goes. */
static void signed_in(struct mastodon *m)
{
    free(m->me_acct);
    m->me_acct = mastodon_handle_full(m->me_raw, m->domain);
    m->signed_in = true;
    /* My posts carry my full acct, lowercased, as their author id. */
    char *me_author = m->me_acct != NULL ? gw_xstrdup(m->me_acct) : NULL;
    if (me_author != NULL)
        gw_strlower(me_author);
    gw_ad_ready(m->ad, me_author, m->me_acct);
    free(me_author);
}

static void on_instance(struct mastodon *m, struct mcall *c,
                        const struct gw_http_response *r)
{
    (void)c;
    if (mastodon__is_401(r)) {
        mastodon__signed_out(m, r);
        return;
    }
    /* Old servers lack /api/v2/instance: the defaults do. */
    cJSON *j = NULL;
    if (mastodon_map_status(r->status, r->error) == GW_ACT_OK)
        j = mastodon__body(r);
    struct mastodon_instance in;
    mastodon_instance_parse(j, &in);
    cJSON_Delete(j);
    m->max_chars = in.max_characters;
    m->url_weight = in.url_weight;
    if (in.domain != NULL)
        mastodon__replace(&m->domain, in.domain);
    free(m->stream_base);
    m->stream_base = NULL;
    if (in.streaming_base != NULL) {
        char *sh = mastodon_url_host(in.streaming_base);
        char *bh = mastodon_url_host(m->base);
        /* Same host: keep our own scheme and port (a proxy in front). */
        if (sh != NULL && bh != NULL && gw_strcasecmp(sh, bh) != 0)
            m->stream_base = gw_xstrdup(in.streaming_base);
        free(sh);
        free(bh);
    }
    mastodon_instance_free(&in);

    signed_in(m);
    session_save(m);
    gw_ad_detail(m->ad, "%s", "");
    if (m->announce || m->signin_failures > 0)
        gw_ad_notice(m->ad, "signed in as @%s",
                     m->me_acct != NULL ? m->me_acct : "?");
    m->announce = false;
    m->signin_failures = 0;
    gw_backoff_reset(&m->signin_backoff);
    mastodon__backfill_start(m);
}

static void on_verify(struct mastodon *m, struct mcall *c,
                      const struct gw_http_response *r)
{
    (void)c;
    if (mastodon__is_401(r)) {
        mastodon__signed_out(m, r);
        return;
    }
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = mastodon_error_text(r);
        signin_retry(m, err);
        free(err);
        return;
    }
    cJSON *j = mastodon__body(r);
    const char *id = mastodon_json_id(j, "id");
    const char *acct = gw_json_str(j, "acct");
    if (id == NULL || !mastodon_handle_valid(acct)) {
        cJSON_Delete(j);
        signin_retry(m, "unexpected answer to verify_credentials");
        return;
    }
    mastodon__replace(&m->me_id, id);
    mastodon__replace(&m->me_raw, acct + (*acct == '@'));
    cJSON_Delete(j);
    if (get(m, mastodon__call(on_instance), "/api/v2/instance") < 0)
        signin_retry(m, "could not start a request");
}

static void signin_start(struct mastodon *m)
{
    if (m->signed_out)
        return;
    mastodon__timer_stop(&m->t_signin);
    if (get(m, mastodon__call(on_verify),
            "/api/v1/accounts/verify_credentials") < 0)
        signin_retry(m, "could not start a request");
}

void mastodon__set_token(struct mastodon *m, const char *token)
{
    mastodon__replace(&m->token, token);
    free(m->auth_hdr);
    m->auth_hdr = gw_xasprintf("Authorization: Bearer %s", token);
}

/* A new token: drop everything of the old session and sign in again. */
void mastodon__session_restart(struct mastodon *m)
{
    m->gen++;
    mastodon__timer_stop(&m->t_signin);
    mastodon__timer_stop(&m->t_backfill);
    mastodon__stream_retire(m);
    m->signed_in = false;
    m->signed_out = false;
    m->stream_off = !m->want_stream;
    m->bf_running = false;
    m->bf_again = false;
    m->signin_failures = 0;
    gw_backoff_reset(&m->signin_backoff);
    gw_backoff_reset(&m->bf_backoff);
    gw_ad_detail(m->ad, "%s", "");
    gw_ad_not_ready(m->ad, false, "signing in");
    signin_start(m);
}

/* ---- actions ------------------------------------------------------------- */

static void act_result(struct mastodon *m, uint64_t token,
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
    gw_ad_action_done(m->ad, token, &res);
}

static void act_failed(struct mastodon *m, uint64_t token,
                       enum gw_action_status status, const char *msg)
{
    act_result(m, token, status, msg, 0, NULL, NULL, NULL, 0);
}

/* Report a response that is not 2xx (or a transport error). */
static void act_fail(struct mastodon *m, struct mcall *c,
                     const struct gw_http_response *r)
{
    enum gw_action_status st = mastodon_map_status(r->status, r->error);
    if (st == GW_ACT_OK)
        st = GW_ACT_FAILED; /* a 2xx we could not use */
    char *msg = mastodon_error_text(r);
    long retry = 0;
    if (mastodon__is_401(r)) {
        if (c->gen == m->gen && !m->signed_out)
            mastodon__signed_out(m, r);
        else if (c->gen != m->gen)
            st = GW_ACT_RETRY; /* sent with a token replaced since */
    }
    if (st == GW_ACT_RETRY)
        retry = gw_ad_retry_after_ms(r);
    act_result(m, c->token, st, msg, retry, NULL, NULL, NULL, 0);
    free(msg);
}

static struct mcall *act_call(const struct gw_action *a, mcall_done_cb done)
{
    struct mcall *c = mastodon__call(done);
    c->is_action = true;
    c->token = a->token;
    c->kind = a->kind;
    return c;
}

static void act_send(struct mastodon *m, struct mcall *c, const char *family,
                     const char *method, const char *url, const char *body,
                     const char *idem)
{
    uint64_t token = c->token;
    if (mastodon__send(m, c, family, method, url, body,
                       body != NULL ? "application/json" : NULL, true,
                       idem) < 0)
        act_failed(m, token, GW_ACT_RETRY, "could not start the request");
}

static void on_post_done(struct mastodon *m, struct mcall *c,
                         const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, c, r);
        return;
    }
    cJSON *j = mastodon__body(r);
    struct mastodon_me me = mastodon__me(m);
    struct mastodon_event e;
    if (mastodon_status_to_event(j, GW_EV_OWN, &me, &e) == 0)
        act_result(m, c->token, GW_ACT_OK, NULL, 0, e.ev.id, &e.ev, NULL, 0);
    else
        act_result(m, c->token, GW_ACT_OK,
                   "posted; the server's answer was not a status", 0, NULL,
                   NULL, NULL, 0);
    mastodon_event_free(&e);
    cJSON_Delete(j);
}

static void act_post(struct mastodon *m, const struct gw_action *a)
{
    struct mastodon_post p;
    char err[256];
    if (mastodon_compose(a, &p, err, sizeof(err)) < 0 ||
        mastodon_check_length(&p, m->max_chars, m->url_weight, err,
                              sizeof(err)) < 0) {
        mastodon_post_free(&p);
        act_failed(m, a->token, GW_ACT_FAILED, err);
        return;
    }
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "status", p.text);
    cJSON_AddStringToObject(body, "visibility", p.visibility);
    if (p.spoiler != NULL)
        cJSON_AddStringToObject(body, "spoiler_text", p.spoiler);
    if (p.in_reply_to != NULL)
        cJSON_AddStringToObject(body, "in_reply_to_id", p.in_reply_to);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    mastodon_post_free(&p);
    if (json == NULL) {
        act_failed(m, a->token, GW_ACT_RETRY, "out of memory");
        return;
    }
    /* The key makes a retried post come back as the one already made. */
    const char *idem =
        a->idem_key != NULL && gw_printable_word(a->idem_key, 200) ? a->idem_key
                                                                   : NULL;
    char *url = api_url(m, "/api/v1/statuses");
    act_send(m, act_call(a, on_post_done), FAM_WRITE, "POST", url, json, idem);
    free(url);
    cJSON_free(json);
}

static void on_simple_done(struct mastodon *m, struct mcall *c,
                           const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, c, r);
        return;
    }
    act_result(m, c->token, GW_ACT_OK, NULL, 0, c->arg, NULL, NULL, 0);
}

static void act_status_op(struct mastodon *m, const struct gw_action *a)
{
    const char *suffix = "";
    const char *method = "POST";
    switch (a->kind) {
    case GW_ACT_FAV:
        suffix = "/favourite";
        break;
    case GW_ACT_UNFAV:
        suffix = "/unfavourite";
        break;
    case GW_ACT_BOOST:
        suffix = "/reblog";
        break;
    case GW_ACT_UNBOOST:
        suffix = "/unreblog";
        break;
    default:
        method = "DELETE";
        break;
    }
    if (a->parent == NULL || !mastodon_id_valid(a->parent->id)) {
        act_failed(m, a->token, GW_ACT_FAILED, "no such post");
        return;
    }
    struct mcall *c = act_call(a, on_simple_done);
    c->arg = gw_xstrdup(a->parent->id);
    char *url =
        gw_xasprintf("%s/api/v1/statuses/%s%s", m->base, a->parent->id, suffix);
    act_send(m, c, FAM_WRITE, method, url,
             strcmp(method, "POST") == 0 ? "{}" : NULL, NULL);
    free(url);
}

static void on_lookup(struct mastodon *m, struct mcall *c,
                      const struct gw_http_response *r);

/* Find the account of a handle: lookup knows only accounts the server has
 * seen; search with resolve=true asks the account's own server. */
static void lookup_send(struct mastodon *m, uint64_t token,
                        enum gw_action_kind kind, const char *handle,
                        bool search)
{
    char *enc, *url;
    if (search) {
        char *at = gw_xasprintf("@%s", handle);
        enc = mastodon_urlencode(at);
        free(at);
        url = gw_xasprintf("%s/api/v2/search?q=%s&type=accounts&resolve=true"
                           "&limit=1",
                           m->base, enc);
    } else {
        enc = mastodon_urlencode(handle);
        url = gw_xasprintf("%s/api/v1/accounts/lookup?acct=%s", m->base, enc);
    }
    free(enc);
    struct mcall *c = mastodon__call(on_lookup);
    c->is_action = true;
    c->token = token;
    c->kind = kind;
    c->arg = gw_xstrdup(handle);
    c->searched = search;
    act_send(m, c, FAM_READ, "GET", url, NULL, NULL);
    free(url);
}

static void on_lookup(struct mastodon *m, struct mcall *c,
                      const struct gw_http_response *r)
{
    if (!c->searched && r->error == 0 && r->status == 404) {
        lookup_send(m, c->token, c->kind, c->arg, true);
        return;
    }
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, c, r);
        return;
    }
    cJSON *j = mastodon__body(r);
    const cJSON *acc = j;
    if (c->searched) {
        acc = NULL;
        const cJSON *arr = gw_json_arr(j, "accounts");
        const cJSON *first = arr != NULL ? cJSON_GetArrayItem(arr, 0) : NULL;
        char *want = mastodon_handle_full(c->arg, m->domain);
        char *got = mastodon_handle_full(gw_json_str(first, "acct"), m->domain);
        if (want != NULL && got != NULL && gw_strcasecmp(want, got) == 0)
            acc = first;
        free(want);
        free(got);
    }
    const char *id = mastodon_json_id(acc, "id");
    if (id == NULL) {
        char *msg = gw_xasprintf("no such account: @%s", c->arg);
        act_failed(m, c->token, GW_ACT_FAILED, msg);
        free(msg);
        cJSON_Delete(j);
        return;
    }
    if (c->kind == GW_ACT_WHO) {
        char **lines = NULL;
        int n = mastodon_who_lines(acc, m->domain, &lines);
        if (n < 0)
            act_failed(m, c->token, GW_ACT_FAILED, "unexpected answer");
        else
            act_result(m, c->token, GW_ACT_OK, NULL, 0, id, NULL,
                       (const char *const *)lines, n);
        mastodon_lines_free(lines, n);
        cJSON_Delete(j);
        return;
    }
    struct mcall *f = mastodon__call(on_simple_done);
    f->is_action = true;
    f->token = c->token;
    f->kind = c->kind;
    f->arg = gw_xstrdup(id);
    char *url = gw_xasprintf("%s/api/v1/accounts/%s/%s", m->base, id,
                             c->kind == GW_ACT_FOLLOW ? "follow" : "unfollow");
    cJSON_Delete(j);
    act_send(m, f, FAM_WRITE, "POST", url, "{}", NULL);
    free(url);
}

static void act_lookup(struct mastodon *m, const struct gw_action *a)
{
    const char *h = a->handle;
    if ((h == NULL || *h == '\0') && a->parent != NULL)
        h = a->parent->author;
    if (h == NULL || *h == '\0') {
        act_failed(m, a->token, GW_ACT_FAILED, "whom? give a handle");
        return;
    }
    if (!mastodon_handle_valid(h)) {
        char *msg = gw_xasprintf("not a handle: %s", h);
        act_failed(m, a->token, GW_ACT_FAILED, msg);
        free(msg);
        return;
    }
    lookup_send(m, a->token, a->kind, h + (*h == '@'), false);
}

static void on_context(struct mastodon *m, struct mcall *c,
                       const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, c, r);
        return;
    }
    cJSON *ctx = mastodon__body(r);
    struct mastodon_me me = mastodon__me(m);
    struct mastodon_thread t;
    if (mastodon_thread(c->keep, ctx, &me, &t) < 0) {
        act_failed(m, c->token, GW_ACT_FAILED, "unexpected answer");
    } else {
        struct gw_action_result res;
        memset(&res, 0, sizeof(res));
        res.status = GW_ACT_OK;
        res.result_id = c->arg;
        res.items = t.items;
        res.nitems = t.n;
        gw_ad_action_done(m->ad, c->token, &res);
    }
    mastodon_thread_free(&t);
    cJSON_Delete(ctx);
}

static void on_thread_status(struct mastodon *m, struct mcall *c,
                             const struct gw_http_response *r)
{
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        act_fail(m, c, r);
        return;
    }
    cJSON *st = mastodon__body(r);
    if (mastodon_json_id(st, "id") == NULL) {
        cJSON_Delete(st);
        act_failed(m, c->token, GW_ACT_FAILED, "unexpected answer");
        return;
    }
    struct mcall *n = mastodon__call(on_context);
    n->is_action = true;
    n->token = c->token;
    n->kind = c->kind;
    n->arg = gw_xstrdup(c->arg);
    n->keep = st;
    char *url = gw_xasprintf("%s/api/v1/statuses/%s/context", m->base, c->arg);
    act_send(m, n, FAM_READ, "GET", url, NULL, NULL);
    free(url);
}

static void act_thread(struct mastodon *m, const struct gw_action *a)
{
    if (a->parent == NULL || !mastodon_id_valid(a->parent->id)) {
        act_failed(m, a->token, GW_ACT_FAILED, "no such post");
        return;
    }
    struct mcall *c = act_call(a, on_thread_status);
    c->arg = gw_xstrdup(a->parent->id);
    char *url = gw_xasprintf("%s/api/v1/statuses/%s", m->base, a->parent->id);
    act_send(m, c, FAM_READ, "GET", url, NULL, NULL);
    free(url);
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

static int check_setting(const char *key, const char *value, char *err,
                         size_t errlen)
{
    if (key == NULL)
        return 0;
    if (value == NULL)
        value = "";
    if (strcmp(key, "base_url") == 0 || strcmp(key, "app_base_url") == 0) {
        char *b = mastodon_base_url(value);
        bool ok = b != NULL;
        free(b);
        if (!ok)
            return gw_setting_fail(err, errlen,
                                   "must be an http:// or https:// URL with a "
                                   "host, e.g. https://mastodon.social");
    } else if (strcmp(key, "handle") == 0) {
        char *b = mastodon_base_from_handle(value);
        bool ok = b != NULL;
        free(b);
        if (!ok)
            return gw_setting_fail(err, errlen,
                                   "must be a handle with a server, e.g. "
                                   "@me@mastodon.social");
    } else if (strcmp(key, "streaming") == 0 ||
               strcmp(key, "tls_verify") == 0) {
        if (yesno(value) < 0)
            return gw_setting_fail(err, errlen, "must be yes or no");
    } else if (strcmp(key, "poll_seconds") == 0) {
        long v;
        if (gw_parse_long(value, POLL_MIN_S, POLL_MAX_S, &v) < 0)
            return gw_setting_fail(err, errlen,
                                   "poll_seconds must be a number from 5 "
                                   "to 86400");
    } else if (strcmp(key, "token") == 0 || strcmp(key, "client_id") == 0 ||
               strcmp(key, "client_secret") == 0) {
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

/* ---- ops ----------------------------------------------------------------- */

static void priv_free(struct mastodon *m)
{
    free(m->base);
    free(m->domain);
    free(m->stream_base);
    free(m->token);
    free(m->auth_hdr);
    free(m->ca_file);
    free(m->client_id);
    free(m->client_secret);
    free(m->app_base);
    free(m->me_id);
    free(m->me_raw);
    free(m->me_acct);
    free(m->cursor);
    free(m);
}

static int mastodon_start(struct gw_adapter *ad)
{
    struct mastodon *m = gw_xcalloc(1, sizeof(*m));
    m->ad = ad;
    m->max_chars = DEFAULT_MAX_CHARS;
    m->url_weight = DEFAULT_URL_WEIGHT;
    m->signin_backoff.min_ms = m->bf_backoff.min_ms = BACKOFF_MIN_MS;
    m->signin_backoff.max_ms = BACKOFF_MAX_MS;

    const char *base = gw_ad_setting(ad, "base_url");
    const char *handle = gw_ad_setting(ad, "handle");
    if (base != NULL && *base != '\0')
        m->base = mastodon_base_url(base);
    else if (handle != NULL && *handle != '\0')
        m->base = mastodon_base_from_handle(handle);
    if (m->base == NULL) {
        gw_ad_notice(ad, "no server: set base_url (https://host) or handle "
                         "(@me@host)");
        free(m);
        return UV_EINVAL;
    }
    m->domain = mastodon_url_host(m->base);
    ad->priv = m;

    m->want_stream = yesno(gw_ad_setting(ad, "streaming")) != 0;
    long poll = POLL_DEFAULT_S;
    const char *ps = gw_ad_setting(ad, "poll_seconds");
    if (ps != NULL && gw_parse_long(ps, 1, POLL_MAX_S, &poll) < 0)
        poll = POLL_DEFAULT_S;
    if (poll < POLL_MIN_S)
        poll = POLL_MIN_S;
    m->poll_ms = poll * 1000;
    m->bf_backoff.max_ms =
        m->poll_ms < BACKOFF_MAX_MS ? m->poll_ms : BACKOFF_MAX_MS;
    const char *ca = gw_ad_setting(ad, "tls_ca");
    if (ca != NULL && *ca != '\0')
        m->ca_file = gw_xstrdup(ca);
    m->insecure = yesno(gw_ad_setting(ad, "tls_verify")) == 0;
    m->stream_off = !m->want_stream;

    const char *cid = gw_ad_setting(ad, "client_id");
    const char *csec = gw_ad_setting(ad, "client_secret");
    const char *abase = gw_ad_setting(ad, "app_base_url");
    if (gw_printable_word(cid, 1024) && gw_printable_word(csec, 1024) &&
        abase != NULL) {
        m->client_id = gw_xstrdup(cid);
        m->client_secret = gw_xstrdup(csec);
        m->app_base = mastodon_base_url(abase);
    }

    char *cur = NULL;
    if (gw_ad_cursor_get(ad, CURSOR_NAME, &cur) == 0 && mastodon_id_valid(cur))
        m->cursor = cur;
    else
        free(cur);

    const char *token = gw_ad_setting(ad, "token");
    if (token == NULL || *token == '\0') {
        m->signed_out = true;
        char *why = gw_xasprintf("not signed in; run account login %s",
                                 mastodon__name(m));
        gw_ad_not_ready(ad, true, why);
        free(why);
        gw_ad_notice(ad, "not signed in; run \"account login %s\"",
                     mastodon__name(m));
        return 0;
    }
    if (!gw_printable_word(token, 4096)) {
        m->signed_out = true;
        gw_ad_not_ready(ad, true, "the configured token is not valid");
        gw_ad_notice(ad,
                     "the configured token has spaces or control "
                     "characters; run \"account login %s\"",
                     mastodon__name(m));
        return 0;
    }
    mastodon__set_token(m, token);
    if (session_resume(m)) {
        signed_in(m);
        mastodon__stream_start(m);
    }
    signin_start(m);
    return 0;
}

/* The runtime has cancelled every request, timer and stream already. */
static void mastodon_stop(struct gw_adapter *ad)
{
    if (ad->priv != NULL)
        priv_free(ad->priv);
}

static int mastodon_act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct mastodon *m = ad->priv;
    switch (a->kind) {
    case GW_ACT_POST:
    case GW_ACT_REPLY:
    case GW_ACT_DM:
        act_post(m, a);
        return 0;
    case GW_ACT_FAV:
    case GW_ACT_UNFAV:
    case GW_ACT_BOOST:
    case GW_ACT_UNBOOST:
    case GW_ACT_DELETE:
        act_status_op(m, a);
        return 0;
    case GW_ACT_FOLLOW:
    case GW_ACT_UNFOLLOW:
    case GW_ACT_WHO:
        act_lookup(m, a);
        return 0;
    case GW_ACT_THREAD:
        act_thread(m, a);
        return 0;
    default:
        return UV_EINVAL;
    }
}

static int mastodon_check(struct gw_adapter *ad, const struct gw_action *a,
                          char *err, size_t errlen)
{
    struct mastodon *m = ad->priv;
    if (a->kind != GW_ACT_POST && a->kind != GW_ACT_REPLY &&
        a->kind != GW_ACT_DM)
        return 0;
    struct mastodon_post p;
    int rc = mastodon_compose(a, &p, err, errlen);
    if (rc == 0)
        rc =
            mastodon_check_length(&p, m->max_chars, m->url_weight, err, errlen);
    mastodon_post_free(&p);
    return rc;
}

static void mastodon_status(struct gw_adapter *ad, struct gw_adapter_status *st)
{
    struct mastodon *m = ad->priv;
    const char *mode;
    if (!m->signed_in)
        mode = "connecting";
    else if (m->sse_connected)
        mode = "streaming";
    else if (!m->stream_off)
        mode = "connecting";
    else
        mode = "polling";
    gw_strlcpy(st->mode, mode, sizeof(st->mode));
}

static const char *const mastodon_keys[] = {
    "base_url",  "handle",        "token",        "tls_verify",
    "client_id", "client_secret", "app_base_url", NULL,
};

const struct gw_adapter_ops mastodon_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "mastodon",
    .summary = "Mastodon and servers with its API (GoToSocial, Pleroma, "
               "Akkoma): account add NAME mastodon @you@host",
    .caps = GW_NET_STREAMING | GW_NET_OAUTH | GW_NET_CW | GW_NET_AUDIENCE |
            GW_NET_MENTION_REPLIES | GW_NET_MENTION_DMS,
    .actions = GW_ACT_BIT(GW_ACT_POST) | GW_ACT_BIT(GW_ACT_REPLY) |
               GW_ACT_BIT(GW_ACT_DM) | GW_ACT_BIT(GW_ACT_FAV) |
               GW_ACT_BIT(GW_ACT_UNFAV) | GW_ACT_BIT(GW_ACT_BOOST) |
               GW_ACT_BIT(GW_ACT_UNBOOST) | GW_ACT_BIT(GW_ACT_DELETE) |
               GW_ACT_BIT(GW_ACT_FOLLOW) | GW_ACT_BIT(GW_ACT_UNFOLLOW) |
               GW_ACT_BIT(GW_ACT_THREAD) | GW_ACT_BIT(GW_ACT_WHO),
    .keys = mastodon_keys,
    .check_setting = check_setting,
    .start = mastodon_start,
    .stop = mastodon_stop,
    .act = mastodon_act,
    .check = mastodon_check,
    .login = mastodon__login,
    .code = mastodon__code,
    .status = mastodon_status,
};
