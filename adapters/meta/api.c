/*
 * The Meta account's runtime: requests (with Graph's errors and usage
 * headers turned into holds), signing in, actions, the messaging window,
 * status, and the two ops tables. Polling is poll.c, webhooks hook.c,
 * OAuth oauth.c.
 */
#include "meta_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"
#include "gw_text.h"

#define GRAPH_FB "https://graph.facebook.com/v25.0"
#define GRAPH_IG "https://graph.instagram.com/v25.0"
#define AUTH_IG  "https://api.instagram.com"
/* Meta's own page for apps without a web server: the code is in the
 * address bar afterwards. */
#define REDIRECT_DEFAULT "https://www.facebook.com/connect/login_success.html"

#define POLL_DEFAULT_S 60
/* With webhooks the poller is a safety net for what a delivery missed. */
#define POLL_HOOKED_S  900
#define BACKOFF_MIN_MS 5000
#define BACKOFF_MAX_MS 300000

/* ---- helpers ------------------------------------------------------------- */

const char *meta__name(const struct meta *m)
{
    return m->ad->name != NULL ? m->ad->name : "meta";
}

struct meta_me meta__me(const struct meta *m)
{
    struct meta_me me = {m->net, m->me_id, m->me_handle};
    return me;
}

void meta__replace(char **slot, const char *value)
{
    char *v = value != NULL ? gw_xstrdup(value) : NULL;
    free(*slot);
    *slot = v;
}

void meta__store(struct meta *m, const char *key, const char *value)
{
    int rc = gw_ad_setting_store(m->ad, key, value);
    if (rc < 0)
        gw_ad_notice(m->ad, "could not store %s (%s)", key, uv_strerror(rc));
}

char *meta__url(const struct meta *m, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    gw_buf_puts(&b, m->base);
    gw_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return gw_buf_steal(&b);
}

const char *meta__name_of(struct meta *m, const char *id)
{
    for (int i = 0; i < NAMES_MAX; i++)
        if (m->names[i].id != NULL && strcmp(m->names[i].id, id) == 0)
            return m->names[i].name;
    return NULL;
}

void meta__name_keep(struct meta *m, const char *id, const char *name)
{
    if (id == NULL || name == NULL || meta__name_of(m, id) != NULL)
        return;
    int i = m->names_next;
    m->names_next = (m->names_next + 1) % NAMES_MAX;
    meta__replace(&m->names[i].id, id);
    meta__replace(&m->names[i].name, name);
}

char *meta__error_text(const struct gw_http_response *r)
{
    struct meta_error e;
    if (r->error != 0)
        return gw_xstrdup(r->errmsg != NULL && *r->errmsg
                              ? r->errmsg
                              : uv_strerror(r->error));
    if (meta_error_parse(r->body, r->body_len, &e) == 0) {
        if (e.trace[0] != '\0')
            return gw_xasprintf("%s (code %ld/%ld, fbtrace_id %s)", e.message,
                                e.code, e.subcode, e.trace);
        return gw_xasprintf("%s (code %ld/%ld)", e.message, e.code, e.subcode);
    }
    return gw_xasprintf("HTTP %ld", r->status);
}

/* ---- requests ------------------------------------------------------------ */

struct mreq *meta__req(mreq_cb done, const char *family)
{
    struct mreq *q = gw_xcalloc(1, sizeof(*q));
    q->done = done;
    q->family = family;
    return q;
}

static void req_free(void *arg)
{
    struct mreq *q = arg;
    if (q->job != NULL)
        meta__job_drop(q->job);
    free(q->a);
    free(q->b);
    free(q->c);
    meta_call_free(&q->call);
    free(q);
}

/* Usage headers: slow the poller before Meta throttles us. */
static void note_usage(struct meta *m, const struct gw_http_response *r)
{
    const char *app = gw_http_response_header(r, "x-app-usage");
    const char *buc = gw_http_response_header(r, "x-business-use-case-usage");
    struct meta_usage u;
    if ((app == NULL && buc == NULL) || meta_usage_parse(app, buc, &u) < 0)
        return;
    m->usage = u;
    m->usage_ms = gw_now_ms();
    int pct = u.app_pct > u.buc_pct ? u.app_pct : u.buc_pct;
    if (pct >= USAGE_SLOW_PCT || u.regain_min > 0) {
        int64_t wait =
            u.regain_min > 0 ? u.regain_min * 60000 : THROTTLE_HOLD_MS;
        char why[96];
        snprintf(why, sizeof(why), "Meta usage at %d%%%s%s", pct,
                 u.buc_type[0] ? " of " : "", u.buc_type);
        gw_ad_hold(m->ad, FAM_READ, gw_now_ms() + wait, why);
        if (pct >= 100 || u.regain_min > 0) {
            gw_ad_hold(m->ad, FAM_CONV, gw_now_ms() + wait, why);
            m->throttled_until = gw_now_ms() + wait;
        }
    }
}

/* A throttling error holds the family that met it (and the poller). */
static void note_error(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r)
{
    struct meta_error e;
    if (r->error != 0 || r->status < 400 ||
        meta_error_parse(r->body, r->body_len, &e) < 0)
        return;
    if (meta_error_throttle(e.code)) {
        int64_t wait =
            m->usage.regain_min > 0 && gw_now_ms() - m->usage_ms < 5000
                ? m->usage.regain_min * 60000
                : THROTTLE_HOLD_MS;
        char why[120];
        snprintf(why, sizeof(why), "Meta throttled (code %ld): %.80s", e.code,
                 e.message);
        int64_t until = gw_now_ms() + wait;
        gw_ad_hold(m->ad, q->family, until, why);
        if (strcmp(q->family, FAM_READ) != 0)
            gw_ad_hold(m->ad, FAM_READ, until, why);
        m->throttled_until = until;
        gw_ad_detail(m->ad, "%s", why);
    } else if (meta_error_token(&e) && !q->sessionless && q->gen == m->gen) {
        char *msg = meta__error_text(r);
        meta__signed_out(m, msg);
        free(msg);
    }
}

static void on_http(struct gw_adapter *ad, void *arg,
                    const struct gw_http_response *r)
{
    struct mreq *q = arg;
    struct meta *m = ad->priv;
    note_usage(m, r);
    note_error(m, q, r);
    if (q->is_action || q->sessionless || q->gen == m->gen) {
        cJSON *body = r->error == 0 && r->body_len > 0
                          ? cJSON_ParseWithLength(r->body, r->body_len)
                          : NULL;
        q->done(m, q, r, body);
        cJSON_Delete(body);
    }
    req_free(q);
}

int meta__send(struct meta *m, struct mreq *q, const char *method,
               const char *url, const char *body, bool json)
{
    const char *hdrs[2] = {NULL, NULL};
    if (m->auth_hdr != NULL && !q->sessionless)
        hdrs[0] = m->auth_hdr;
    /* The Conversations API: 2 requests a second, so space them. */
    if (strcmp(q->family, FAM_CONV) == 0) {
        int64_t now = gw_now_ms();
        int64_t next = m->conv_last_ms + CONV_SPACING_MS;
        if (next > now)
            gw_ad_hold(m->ad, FAM_CONV, next,
                       "Conversations API: 2 requests a second");
        m->conv_last_ms = next > now ? next : now;
    }
    struct gw_ad_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.http.method = method;
    rq.http.url = url;
    rq.http.headers = hdrs;
    rq.http.body = body;
    rq.http.body_len = body != NULL ? strlen(body) : 0;
    rq.http.content_type =
        body == NULL
            ? NULL
            : (json ? "application/json" : "application/x-www-form-urlencoded");
    rq.http.ca_file = m->ca_file;
    rq.http.insecure = m->insecure;
    rq.family = q->family;
    rq.free_arg = req_free;
    q->gen = m->gen;
    int rc = gw_ad_request(m->ad, &rq, on_http, q);
    if (rc < 0)
        req_free(q);
    return rc;
}

static bool ok(const struct gw_http_response *r)
{
    return r->error == 0 && r->status >= 200 && r->status < 300;
}

/* ---- signing in and out -------------------------------------------------- */

void meta__signed_out(struct meta *m, const char *why)
{
    if (m->signed_out)
        return;
    m->signed_out = true;
    m->signed_in = false;
    gw_ad_timer_stop(m->t_signin);
    gw_ad_timer_stop(m->t_poll);
    m->t_signin = m->t_poll = NULL;
    m->polling = false;
    gw_ad_detail(m->ad, "Meta refused the token: %s", why);
    char *w = gw_xasprintf("Meta refused the token; run account login %s",
                           meta__name(m));
    gw_ad_not_ready(m->ad, true, w);
    free(w);
    gw_ad_notice(m->ad, "Meta refused the token (%s); run account login %s",
                 why, meta__name(m));
}

static void signin_start(struct meta *m);

static void on_t_signin(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct meta *m = arg;
    m->t_signin = NULL;
    signin_start(m);
}

static void signin_retry(struct meta *m, const char *why)
{
    m->signin_failures++;
    gw_ad_detail(m->ad, "cannot sign in: %s", why);
    gw_ad_not_ready(m->ad, false, why);
    if ((m->signin_failures & (m->signin_failures - 1)) == 0)
        gw_ad_notice(m->ad, "cannot sign in: %s; retrying", why);
    gw_ad_timer_stop(m->t_signin);
    m->t_signin = gw_ad_timer_start(
        m->ad, (uint64_t)gw_backoff_next(&m->backoff), on_t_signin, m);
}

static void on_me(struct meta *m, struct mreq *q,
                  const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (m->signed_out)
        return;
    if (!ok(r)) {
        char *err = meta__error_text(r);
        signin_retry(m, err);
        free(err);
        return;
    }
    const char *id = meta_json_id(j, "id");
    const char *name =
        gw_json_str(j, m->net == META_FACEBOOK ? "name" : "username");
    if (id == NULL || strcmp(id, m->me_id) != 0 || name == NULL) {
        signin_retry(m, "Graph did not answer with this account's id");
        return;
    }
    char *one = gw_text_one_line(name);
    meta__replace(&m->me_handle, one);
    free(one);
    m->signed_in = true;
    gw_ad_detail(m->ad, "%s", "");
    if (m->announce || m->signin_failures > 0)
        gw_ad_notice(m->ad, "signed in as %s", m->me_handle);
    m->announce = false;
    m->signin_failures = 0;
    gw_backoff_reset(&m->backoff);
    gw_ad_ready(m->ad, m->me_id, m->me_handle);
    meta__hook_register(m);
    meta__refresh_check(m);
    meta__poll_start(m, 0);
}

static void signin_start(struct meta *m)
{
    if (m->signed_out)
        return;
    char *url = meta__url(m, "/%s?fields=%s", m->me_id,
                          m->net == META_FACEBOOK ? "id,name" : "id,username");
    if (meta__send(m, meta__req(on_me, FAM_READ), "GET", url, NULL, false) < 0)
        signin_retry(m, "could not start a request");
    free(url);
}

void meta__set_token(struct meta *m, const char *token)
{
    meta__replace(&m->token, token);
    free(m->auth_hdr);
    m->auth_hdr = gw_xasprintf("Authorization: Bearer %s", token);
}

void meta__session_restart(struct meta *m)
{
    m->gen++;
    gw_ad_timer_stop(m->t_signin);
    gw_ad_timer_stop(m->t_poll);
    m->t_signin = m->t_poll = NULL;
    m->polling = false;
    m->signed_in = m->signed_out = false;
    m->signin_failures = 0;
    gw_backoff_reset(&m->backoff);
    gw_ad_not_ready(m->ad, false, "signing in");
    signin_start(m);
}

/* ---- actions ------------------------------------------------------------- */

static void done(struct meta *m, uint64_t token, enum gw_action_status st,
                 const char *msg, long retry_ms, const char *id,
                 const struct gw_event *created)
{
    struct gw_action_result res;
    memset(&res, 0, sizeof(res));
    res.status = st;
    res.message = msg;
    res.retry_after_ms = retry_ms;
    res.result_id = id;
    res.created = created;
    gw_ad_action_done(m->ad, token, &res);
}

/* A failed exchange as an outcome: throttling, 5xx and Graph's transient
 * errors come back; a request that may have been made (no answer) is
 * MAYBE, so that the next attempt looks first. */
static void act_fail(struct meta *m, struct mreq *q,
                     const struct gw_http_response *r)
{
    char *msg = meta__error_text(r);
    struct meta_error e;
    bool graph =
        r->error == 0 && meta_error_parse(r->body, r->body_len, &e) == 0;
    enum gw_action_status st = GW_ACT_FAILED;
    long retry = 0;
    if (r->error != 0)
        st = q->call.sends ? GW_ACT_MAYBE : GW_ACT_RETRY;
    else if (graph && meta_error_throttle(e.code))
        st = GW_ACT_RETRY, retry = THROTTLE_HOLD_MS;
    else if (graph && meta_error_window(&e)) {
        char *w = gw_xasprintf("not sent: %s; outside the 24-hour window Meta "
                               "takes only messages tagged HUMAN_AGENT (7 "
                               "days), which Parley does not send",
                               e.message);
        free(msg);
        msg = w;
    } else if (graph && meta_error_token(&e) && q->gen != m->gen)
        st = GW_ACT_RETRY; /* sent with a token replaced since */
    else if (graph && meta_error_token(&e))
        st = GW_ACT_RETRY; /* waits in the outbox for a new sign-in */
    else if (r->status >= 500 || r->status == 429 || (graph && e.transient) ||
             (graph && (e.code == 1 || e.code == 2)))
        st = GW_ACT_RETRY, retry = gw_ad_retry_after_ms(r);
    done(m, q->token, st, msg, retry, NULL, NULL);
    free(msg);
}

static void created_event(struct meta *m, struct mreq *q, const char *id,
                          struct meta_event *e)
{
    memset(e, 0, sizeof(*e));
    e->ev.kind = GW_EV_OWN;
    e->ev.id = id;
    e->ev.author_id = m->me_id;
    e->ev.author = m->me_handle != NULL ? m->me_handle : m->me_id;
    e->ev.text = q->c != NULL ? q->c : "";
    e->ev.in_reply_to = q->a;
    e->ev.conversation = q->b;
    e->ev.audience = q->kind == GW_ACT_DM ? GW_AUD_MENTIONED : GW_AUD_PUBLIC;
    e->ev.created_ms = gw_now_ms();
}

static void on_act(struct meta *m, struct mreq *q,
                   const struct gw_http_response *r, cJSON *j)
{
    if (!ok(r)) {
        act_fail(m, q, r);
        return;
    }
    const char *id = meta_json_id(j, "id");
    if (id == NULL)
        id = meta_json_id(j, "message_id");
    if (q->kind != GW_ACT_REPLY && q->kind != GW_ACT_DM) {
        done(m, q->token, GW_ACT_OK, NULL, 0, q->a, NULL);
        return;
    }
    if (id == NULL) {
        done(m, q->token, GW_ACT_OK, "sent; Meta's answer had no id", 0, NULL,
             NULL);
        return;
    }
    struct meta_event e;
    created_event(m, q, id, &e);
    done(m, q->token, GW_ACT_OK, NULL, 0, id, &e.ev);
}

static void act_send(struct meta *m, struct mreq *q)
{
    char *url = meta__url(m, "%s", q->call.path);
    uint64_t token = q->token;
    if (meta__send(m, q, q->call.method, url, q->call.body, q->call.json) < 0)
        done(m, token, GW_ACT_RETRY, "could not start the request", 0, NULL,
             NULL);
    free(url);
}

/* maybe_sent: is my reply already under the parent? */
static void on_look(struct meta *m, struct mreq *q,
                    const struct gw_http_response *r, cJSON *j)
{
    if (!ok(r)) {
        act_fail(m, q, r);
        return;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, gw_json_arr(j, "data"))
    {
        const char *from = meta_json_id(gw_json_obj(c, "from"), "id");
        const char *text =
            gw_json_str(c, m->net == META_FACEBOOK ? "message" : "text");
        const char *id = meta_json_id(c, "id");
        if (id != NULL && from != NULL && text != NULL &&
            strcmp(from, m->me_id) == 0 && strcmp(text, q->c) == 0) {
            struct meta_event e;
            created_event(m, q, id, &e);
            done(m, q->token, GW_ACT_OK, NULL, 0, id, &e.ev);
            return;
        }
    }
    struct mreq *s = meta__req(on_act, FAM_WRITE);
    s->is_action = true;
    s->token = q->token;
    s->kind = q->kind;
    s->call = q->call;
    memset(&q->call, 0, sizeof(q->call));
    s->a = q->a, s->b = q->b, s->c = q->c;
    q->a = q->b = q->c = NULL;
    act_send(m, s);
}

static struct meta_ids ids_of(const struct meta *m)
{
    struct meta_ids ids;
    ids.net = m->net;
    ids.me = m->me_id;
    ids.dm_from =
        m->page_id != NULL ? m->page_id : (m->ig_login ? m->me_id : NULL);
    return ids;
}

static int meta_act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct meta *m = ad->priv;
    struct meta_ids ids = ids_of(m);
    char err[300];
    struct mreq *q = meta__req(on_act, FAM_WRITE);
    q->is_action = true;
    q->token = a->token;
    q->kind = a->kind;
    if (meta_compose(&ids, a, &q->call, err, sizeof(err)) < 0 ||
        meta_check_length(m->net, a, err, sizeof(err)) < 0) {
        done(m, a->token, GW_ACT_FAILED, err, 0, NULL, NULL);
        req_free(q);
        return 0;
    }
    if (a->parent != NULL) {
        q->a = gw_xstrdup(a->parent->id);
        q->b = a->parent->conversation != NULL
                   ? gw_xstrdup(a->parent->conversation)
                   : NULL;
    }
    q->c = a->text != NULL ? gw_xstrdup(a->text) : NULL;
    /* Graph has no idempotency key: after an attempt that may have made
     * the comment, look under the parent before making it again. */
    if (a->maybe_sent && a->kind == GW_ACT_REPLY && q->call.sends &&
        !q->call.json) {
        q->done = on_look;
        q->family = FAM_READ;
        char *url =
            meta__url(m, "/%s/%s?fields=id,%s,from&limit=100", a->parent->id,
                      m->net == META_FACEBOOK ? "comments" : "replies",
                      m->net == META_FACEBOOK ? "message" : "text,username");
        uint64_t token = q->token;
        if (meta__send(m, q, "GET", url, NULL, false) < 0)
            done(m, token, GW_ACT_RETRY, "could not start the request", 0, NULL,
                 NULL);
        free(url);
        return 0;
    }
    act_send(m, q);
    return 0;
}

/* When did this person last write? The parent's time (the core gives the
 * latest DM of that person as the parent), or what we saw since. */
static int64_t last_inbound(const struct gw_action *a)
{
    if (a->parent == NULL || a->parent->extra == NULL)
        return 0;
    cJSON *x = cJSON_Parse(a->parent->extra);
    const char *s = gw_json_str(x, "s");
    const char *t = gw_json_str(x, "t");
    long long v = 0;
    if (s != NULL && strcmp(s, META_S_DM) == 0 && t != NULL)
        v = strtoll(t, NULL, 10);
    cJSON_Delete(x);
    return v;
}

static bool is_dm(const struct gw_action *a)
{
    if (a->kind == GW_ACT_DM)
        return true;
    if (a->kind != GW_ACT_REPLY || a->parent == NULL ||
        a->parent->extra == NULL)
        return false;
    return strstr(a->parent->extra, "\"s\":\"dm\"") != NULL;
}

static int meta_check(struct gw_adapter *ad, const struct gw_action *a,
                      char *err, size_t errlen)
{
    struct meta *m = ad->priv;
    if (is_dm(a)) {
        int rc = meta_window_check(last_inbound(a), gw_now_ms(), err, errlen);
        if (rc < 0)
            return rc;
    }
    if (a->kind == GW_ACT_REPLY || a->kind == GW_ACT_DM ||
        a->kind == GW_ACT_COMMAND) {
        struct meta_ids ids = ids_of(m);
        struct meta_call c;
        int rc = meta_compose(&ids, a, &c, err, errlen);
        meta_call_free(&c);
        if (rc < 0)
            return rc;
    }
    return meta_check_length(m->net, a, err, errlen);
}

/* ---- settings ------------------------------------------------------------ */

static int check_setting(const char *key, const char *value, char *err,
                         size_t errlen)
{
    if (key == NULL)
        return 0;
    if (value == NULL)
        value = "";
    if (strcmp(key, "page_id") == 0 || strcmp(key, "ig_user_id") == 0 ||
        strcmp(key, "app_id") == 0) {
        for (const char *p = value; *p != '\0'; p++)
            if (*p < '0' || *p > '9')
                return gw_setting_fail(
                    err, errlen, "must be a numeric id, as Meta shows it");
        if (*value == '\0' || strlen(value) > 32)
            return gw_setting_fail(err, errlen,
                                   "must be a numeric id, as Meta shows it");
    } else if (strcmp(key, "login") == 0) {
        if (strcmp(value, "facebook") != 0 && strcmp(value, "instagram") != 0)
            return gw_setting_fail(
                err, errlen,
                "must be facebook (a Page-linked account) or "
                "instagram (Instagram Login)");
    } else if (strcmp(key, "base_url") == 0 || strcmp(key, "auth_url") == 0 ||
               strcmp(key, "redirect_uri") == 0) {
        if ((strncmp(value, "https://", 8) != 0 &&
             strncmp(value, "http://", 7) != 0) ||
            !gw_printable_word(value, 1024))
            return gw_setting_fail(err, errlen,
                                   "must be an http:// or https:// URL");
    } else if (strcmp(key, "token") == 0 || strcmp(key, "app_secret") == 0 ||
               strcmp(key, "verify_token") == 0 ||
               strcmp(key, "token_time") == 0) {
        if (!gw_printable_word(value, 4096))
            return gw_setting_fail(err, errlen,
                                   "must be printable characters without "
                                   "spaces");
    }
    return 0;
}

/* ---- ops ----------------------------------------------------------------- */

static char *strip_slash(const char *s)
{
    char *v = gw_xstrdup(s);
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        v[--n] = '\0';
    return v;
}

/* base without a trailing "/vNN.N". */
static char *root_of(const char *base)
{
    char *r = gw_xstrdup(base);
    char *slash = strrchr(r, '/');
    if (slash != NULL && slash[1] == 'v' && slash[2] >= '0' && slash[2] <= '9')
        *slash = '\0';
    return r;
}

static void priv_free(struct meta *m)
{
    meta__jobs_free(m);
    free(m->base);
    free(m->root);
    free(m->auth_base);
    free(m->me_id);
    free(m->page_id);
    free(m->me_handle);
    free(m->token);
    free(m->auth_hdr);
    free(m->app_id);
    free(m->app_secret);
    free(m->verify_token);
    free(m->redirect_uri);
    free(m->ca_file);
    for (int i = 0; i < NAMES_MAX; i++) {
        free(m->names[i].id);
        free(m->names[i].name);
    }
    free(m);
}

static char *setting(struct gw_adapter *ad, const char *key)
{
    const char *v = gw_ad_setting(ad, key);
    return v != NULL && *v != '\0' ? gw_xstrdup(v) : NULL;
}

static int meta_start(struct gw_adapter *ad, enum meta_net net)
{
    struct meta *m = gw_xcalloc(1, sizeof(*m));
    m->ad = ad;
    m->net = net;
    m->backoff.min_ms = BACKOFF_MIN_MS;
    m->backoff.max_ms = BACKOFF_MAX_MS;
    const char *idkey = net == META_FACEBOOK ? "page_id" : "ig_user_id";
    m->me_id = setting(ad, idkey);
    if (!meta_id_valid(m->me_id)) {
        gw_ad_notice(ad, "set %s: the %s's numeric id", idkey,
                     net == META_FACEBOOK ? "Page" : "Instagram account");
        free(m->me_id);
        free(m);
        return UV_EINVAL;
    }
    ad->priv = m;
    m->page_id =
        net == META_FACEBOOK ? gw_xstrdup(m->me_id) : setting(ad, "page_id");
    const char *login = gw_ad_setting(ad, "login");
    m->ig_login = net == META_INSTAGRAM && login != NULL &&
                  strcmp(login, "instagram") == 0;
    char *base = setting(ad, "base_url");
    m->base =
        strip_slash(base != NULL ? base : (m->ig_login ? GRAPH_IG : GRAPH_FB));
    free(base);
    m->root = root_of(m->base);
    char *auth = setting(ad, "auth_url");
    m->auth_base = strip_slash(auth != NULL ? auth : AUTH_IG);
    free(auth);
    m->app_id = setting(ad, "app_id");
    m->app_secret = setting(ad, "app_secret");
    m->verify_token = setting(ad, "verify_token");
    m->redirect_uri = setting(ad, "redirect_uri");
    if (m->redirect_uri == NULL)
        m->redirect_uri = gw_xstrdup(REDIRECT_DEFAULT);
    m->ca_file = setting(ad, "tls_ca");
    const char *tv = gw_ad_setting(ad, "tls_verify");
    m->insecure = tv != NULL && gw_strcasecmp(tv, "no") == 0;
    long poll = 0;
    const char *ps = gw_ad_setting(ad, "poll_seconds");
    if (ps == NULL || gw_parse_long(ps, 5, 86400, &poll) < 0)
        poll = 0; /* default, decided once we know about webhooks */
    m->poll_ms = poll * 1000;
    gw_ad_mode(ad, "polling");

    const char *token = gw_ad_setting(ad, "token");
    if (token == NULL || *token == '\0' || !gw_printable_word(token, 4096)) {
        m->signed_out = true;
        char *why =
            gw_xasprintf("not signed in; run account login %s", meta__name(m));
        gw_ad_not_ready(ad, true, why);
        free(why);
        gw_ad_notice(ad, "not signed in; run \"account login %s\"",
                     meta__name(m));
        return 0;
    }
    meta__set_token(m, token);
    signin_start(m);
    return 0;
}

/* The poll interval: poll_seconds, else 60 s, or 15 min behind webhooks. */
long meta__poll_interval(const struct meta *m)
{
    if (m->poll_ms > 0)
        return m->poll_ms;
    return (m->hooked ? POLL_HOOKED_S : POLL_DEFAULT_S) * 1000L;
}

static int facebook_start(struct gw_adapter *ad)
{
    return meta_start(ad, META_FACEBOOK);
}

static int instagram_start(struct gw_adapter *ad)
{
    return meta_start(ad, META_INSTAGRAM);
}

static void meta_stop(struct gw_adapter *ad)
{
    if (ad->priv != NULL)
        priv_free(ad->priv);
}

static void meta_status(struct gw_adapter *ad, struct gw_adapter_status *st)
{
    struct meta *m = ad->priv;
    gw_strlcpy(st->mode,
               !m->signed_in ? "connecting"
                             : (m->hooked ? "webhook+polling" : "polling"),
               sizeof(st->mode));
    size_t n = 0;
    if (m->usage_ms != 0) {
        n += (size_t)snprintf(st->detail, sizeof(st->detail), "usage:");
        if (m->usage.app_pct >= 0)
            n += (size_t)snprintf(st->detail + n, sizeof(st->detail) - n,
                                  " app %d%%", m->usage.app_pct);
        if (m->usage.buc_pct >= 0 && n < sizeof(st->detail))
            n += (size_t)snprintf(
                st->detail + n, sizeof(st->detail) - n, " %s %d%%",
                m->usage.buc_type[0] ? m->usage.buc_type : "business",
                m->usage.buc_pct);
        if (m->usage.regain_min > 0 && n < sizeof(st->detail))
            n += (size_t)snprintf(st->detail + n, sizeof(st->detail) - n,
                                  " (full; regain in %ld min)",
                                  m->usage.regain_min);
    }
    if (m->hooked && n < sizeof(st->detail)) {
        char *url = gw_ad_webhook_url(ad, m->hook_path);
        snprintf(st->detail + n, sizeof(st->detail) - n, "%swebhook %s",
                 n > 0 ? "; " : "", url != NULL ? url : m->hook_path);
        free(url);
    }
}

static const struct gw_adapter_command meta_commands[] = {
    {"hide",
     "!hide REF - hide a comment on your post from everyone but its "
     "author (and, on Facebook, their friends)",
     false},
    {"unhide", "!unhide REF - show a hidden comment again", false},
    {NULL, NULL, false},
};

static const char *const facebook_keys[] = {
    "page_id",      "app_id",     "app_secret", "verify_token",
    "redirect_uri", "token_time", NULL,
};

static const char *const instagram_keys[] = {
    "ig_user_id", "page_id",      "login",        "auth_url",   "app_id",
    "app_secret", "verify_token", "redirect_uri", "token_time", NULL,
};

const struct gw_adapter_ops facebook_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "facebook",
    .summary = "a Facebook Page (not a personal profile), through a Meta app: "
               "account add NAME facebook page_id=ID app_id=ID "
               "app_secret=SECRET",
    .caps = GW_NET_OAUTH,
    .actions = GW_ACT_BIT(GW_ACT_REPLY) | GW_ACT_BIT(GW_ACT_DM) |
               GW_ACT_BIT(GW_ACT_DELETE) | GW_ACT_BIT(GW_ACT_FAV) |
               GW_ACT_BIT(GW_ACT_UNFAV) | GW_ACT_BIT(GW_ACT_COMMAND),
    .keys = facebook_keys,
    .check_setting = check_setting,
    .start = facebook_start,
    .stop = meta_stop,
    .act = meta_act,
    .check = meta_check,
    .login = meta__login,
    .code = meta__code,
    .status = meta_status,
    .commands = meta_commands,
};

const struct gw_adapter_ops instagram_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "instagram",
    .summary = "an Instagram professional (business or creator) account, not "
               "a personal one: account add NAME instagram ig_user_id=ID "
               "app_id=ID app_secret=SECRET [page_id=ID | login=instagram]",
    .caps = GW_NET_OAUTH,
    .actions = GW_ACT_BIT(GW_ACT_REPLY) | GW_ACT_BIT(GW_ACT_DM) |
               GW_ACT_BIT(GW_ACT_DELETE) | GW_ACT_BIT(GW_ACT_COMMAND),
    .keys = instagram_keys,
    .check_setting = check_setting,
    .start = instagram_start,
    .stop = meta_stop,
    .act = meta_act,
    .check = meta_check,
    .login = meta__login,
    .code = meta__code,
    .status = meta_status,
    .commands = meta_commands,
};
