/*
 * The Bluesky account's runtime: requests, the session and the ops table.
 *
 * The session: createSession once with the app password, then only
 * refreshSession (before the access token expires, and when a request
 * says ExpiredToken), storing each rotated refresh token so that a restart
 * does not sign in again either. Signing in is limited to 30 per 5 minutes
 * and 300 a day per account, so a refused session never turns into a loop:
 * a refused password signs the account out until someone changes it, and
 * a second createSession within LOGIN_GAP_MS of the last is not made.
 */
#include "bluesky_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define DEFAULT_SERVICE "https://bsky.social"
#define DEFAULT_PLC     "https://plc.directory"
#define DEFAULT_APPVIEW "https://api.bsky.app"
#define BSKY_CDN        "https://cdn.bsky.app"

#define POLL_MIN_S     1
#define POLL_MAX_S     86400
#define POLL_DEFAULT_S 20

#define LOGIN_GAP_MS (10 * 60 * 1000)

static void login_answered(struct bsky *b)
{
    b->logins[0] = b->logins[1];
    b->logins[1] = b->logins[2];
    b->logins[2] = gw_now_ms();
}
/* A PDS that stops answering is looked up again at most this often. */
#define RESOLVE_GAP_MS 10000

/* ---- small helpers ------------------------------------------------------- */

const char *bluesky__name(const struct bsky *b)
{
    return b->ad->name != NULL ? b->ad->name : "bluesky";
}

void bluesky__replace(char **slot, const char *value)
{
    char *v = value != NULL ? gw_xstrdup(value) : NULL;
    free(*slot);
    *slot = v;
}

static void timer_stop(struct gw_ad_timer **slot)
{
    gw_ad_timer_stop(*slot);
    *slot = NULL;
}

void bluesky__timer(struct bsky *b, struct gw_ad_timer **slot, uint64_t ms,
                    gw_ad_timer_cb cb)
{
    timer_stop(slot);
    *slot = gw_ad_timer_start(b->ad, ms, cb, b);
}

cJSON *bluesky__body(const struct gw_http_response *r)
{
    if (r == NULL || r->error != 0 || r->body == NULL || r->body_len == 0)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

bool bluesky__err_is(const struct gw_http_response *r, const char *name)
{
    char buf[128];
    const char *e = bluesky_error_name(r, buf, sizeof(buf));
    return e != NULL && strcmp(e, name) == 0;
}

/* ---- requests ------------------------------------------------------------ */

struct bcall *bluesky__call(bcall_done_cb done)
{
    struct bcall *c = gw_xcalloc(1, sizeof(*c));
    c->done = done;
    return c;
}

static void call_free(void *arg)
{
    struct bcall *c = arg;
    if (c->act != NULL)
        bluesky__act_release(c->act);
    if (c->free_arg != NULL)
        c->free_arg(c->arg);
    free(c->method);
    free(c->path);
    free(c->body);
    free(c);
}

/* A response that says the access token is no good (expired, or refused
 * before its time): worth one refresh. */
static bool token_refused(const struct gw_http_response *r)
{
    if (r->error != 0)
        return false;
    if (r->status == 401)
        return true;
    return r->status == 400 && (bluesky__err_is(r, "ExpiredToken") ||
                                bluesky__err_is(r, "InvalidToken"));
}

static void session_refresh(struct bsky *b);
static void pds_check(struct bsky *b);
static int call_send(struct bsky *b, struct bcall *c);

static void on_http(struct gw_adapter *ad, void *arg,
                    const struct gw_http_response *r)
{
    struct bcall *c = arg;
    struct bsky *b = ad->priv;
    /* A PDS that stops answering may have moved: its DID document says. */
    if (c->host == HOST_PDS && r->error != 0 && r->error != UV_ECANCELED) {
        if (++b->pds_failures >= 2)
            pds_check(b);
    } else if (c->host == HOST_PDS) {
        b->pds_failures = 0;
    }
    if (c->auth == AUTH_ACCESS && !c->retried && token_refused(r) &&
        !b->signed_out) {
        /* Sent again with the next token; a second refusal is final. */
        c->retried = true;
        if (c->gen == b->gen || b->refreshing || b->logging_in ||
            !b->signed_in) {
            c->next = b->wait;
            b->wait = c;
            session_refresh(b);
            return;
        }
        /* A token newer than the one it carried is already here. */
        if (call_send(b, c) == 0)
            return;
    }
    /* Every answer reaches its step, whatever session it was sent in: a
     * poll or a read that found nothing to say would otherwise never end.
     * A refused old token was sent again above. */
    c->done(b, c, r);
    call_free(c);
}

static char *url_for(const struct bsky *b, enum bhost host, const char *path)
{
    const char *base = NULL;
    switch (host) {
    case HOST_PDS:
        base = b->pds != NULL ? b->pds : b->service;
        break;
    case HOST_SERVICE:
        base = b->service;
        break;
    case HOST_APPVIEW:
        base = b->appview;
        break;
    case HOST_CHAT:
        base = b->chat_url != NULL ? b->chat_url
               : b->pds != NULL    ? b->pds
                                   : b->service;
        break;
    case HOST_URL:
        return gw_xstrdup(path);
    }
    return gw_xasprintf("%s/xrpc/%s", base, path);
}

static int call_send(struct bsky *b, struct bcall *c)
{
    const char *hdrs[3];
    int nh = 0;
    char *auth = NULL;
    if (c->auth == AUTH_ACCESS && b->access != NULL)
        hdrs[nh++] = auth = gw_xasprintf("Authorization: Bearer %s", b->access);
    else if (c->auth == AUTH_REFRESH && b->refresh != NULL)
        hdrs[nh++] = auth =
            gw_xasprintf("Authorization: Bearer %s", b->refresh);
    if (c->host == HOST_CHAT)
        hdrs[nh++] = "atproto-proxy: " CHAT_PROXY;
    hdrs[nh] = NULL;
    char *url = url_for(b, c->host, c->path);
    struct gw_ad_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.http.method = c->method;
    rq.http.url = url;
    rq.http.headers = hdrs;
    rq.http.body = c->body;
    rq.http.body_len = c->body != NULL ? strlen(c->body) : 0;
    rq.http.content_type = c->body != NULL ? "application/json" : NULL;
    rq.http.ca_file = b->ca_file;
    rq.family = c->family;
    rq.free_arg = call_free;
    c->gen = b->gen;
    int rc = gw_ad_request(b->ad, &rq, on_http, c);
    free(url);
    free(auth);
    return rc;
}

int bluesky__xrpc(struct bsky *b, struct bcall *c, enum bhost host,
                  enum bauth auth, const char *family, const char *method,
                  const char *path, const char *body)
{
    c->host = host;
    c->auth = auth;
    c->family = family;
    c->method = gw_xstrdup(method);
    c->path = gw_xstrdup(path);
    c->body = body != NULL ? gw_xstrdup(body) : NULL;
    int rc = call_send(b, c);
    if (rc < 0)
        call_free(c);
    return rc;
}

/* The requests that waited for a new token go now, or learn that there
 * is none. */
static void wait_flush(struct bsky *b, bool ok)
{
    struct bcall *list = b->wait;
    b->wait = NULL;
    while (list != NULL) {
        struct bcall *c = list;
        list = c->next;
        c->next = NULL;
        if (ok && call_send(b, c) == 0)
            continue;
        struct gw_http_response r;
        memset(&r, 0, sizeof(r));
        r.error = UV_ECANCELED;
        r.errmsg = "not signed in";
        r.body = "";
        r.retry_after_s = -1;
        r.ratelimit_remaining = -1;
        c->done(b, c, &r);
        call_free(c);
    }
}

/* ---- the session --------------------------------------------------------- */

static void login_start(struct bsky *b);
static void refresh_start(struct bsky *b);
static void resolve_start(struct bsky *b, bool checking);

/* Which settings a stored session belongs to: another handle, password or
 * service must not reuse it. FNV-1a, as good as needed to tell apart. */
static char *session_for(const struct bsky *b)
{
    uint64_t h = UINT64_C(14695981039346656037);
    const char *parts[3] = {b->handle, b->password, b->service};
    for (int i = 0; i < 3; i++) {
        for (const char *p = parts[i]; *p != '\0'; p++) {
            h ^= (unsigned char)*p;
            h *= UINT64_C(1099511628211);
        }
        h ^= 0xff;
        h *= UINT64_C(1099511628211);
    }
    return gw_xasprintf("%016llx", (unsigned long long)h);
}

static void session_store(struct bsky *b)
{
    cJSON *s = cJSON_CreateObject();
    char *fp = session_for(b);
    cJSON_AddStringToObject(s, "for", fp);
    free(fp);
    cJSON_AddStringToObject(s, "did", b->did);
    cJSON_AddStringToObject(s, "refresh", b->refresh);
    if (b->pds != NULL)
        cJSON_AddStringToObject(s, "pds", b->pds);
    char *json = cJSON_PrintUnformatted(s);
    cJSON_Delete(s);
    if (gw_ad_setting_store(b->ad, SESSION_KEY, json) < 0)
        gw_ad_detail(b->ad, "could not store the session; the next start "
                            "signs in again");
    cJSON_free(json);
}

static void signed_out(struct bsky *b, const char *why)
{
    if (b->signed_out)
        return;
    b->signed_out = true;
    b->signed_in = false;
    timer_stop(&b->t_signin);
    timer_stop(&b->t_refresh);
    bluesky__poll_stop(b);
    bluesky__chat_stop(b);
    gw_ad_setting_store(b->ad, SESSION_KEY, NULL);
    gw_ad_detail(b->ad, "%s", why);
    char *not = gw_xasprintf("%s; give it a new app password (account set "
                             "%s app_password NEW, or in gateway.conf)",
                             why, bluesky__name(b));
    gw_ad_not_ready(b->ad, true, not );
    gw_ad_notice(b->ad, "%s", not );
    free(not );
    wait_flush(b, false);
}

static void on_t_signin(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct bsky *b = arg;
    b->t_signin = NULL;
    if (b->refresh != NULL)
        refresh_start(b);
    else
        login_start(b);
}

static void signin_retry(struct bsky *b, const char *why, long retry_ms)
{
    b->signin_failures++;
    gw_ad_detail(b->ad, "cannot sign in: %s", why);
    if (!b->signed_in)
        gw_ad_not_ready(b->ad, false, why);
    /* Loud at first (someone may be watching), then ever more rarely. */
    if ((b->signin_failures & (b->signin_failures - 1)) == 0)
        gw_ad_notice(b->ad, "cannot sign in: %s; retrying", why);
    long d = gw_backoff_next(&b->signin_backoff);
    if (retry_ms > d)
        d = retry_ms;
    bluesky__timer(b, &b->t_signin, (uint64_t)d, on_t_signin);
}

static void on_t_refresh(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct bsky *b = arg;
    b->t_refresh = NULL;
    session_refresh(b);
}

/* Tokens from createSession or refreshSession. */
static int session_take(struct bsky *b, const cJSON *j)
{
    const char *access = gw_json_str(j, "accessJwt");
    const char *refresh = gw_json_str(j, "refreshJwt");
    const char *did = gw_json_str(j, "did");
    const char *handle = gw_json_str(j, "handle");
    if (!gw_printable_word(access, 8192) || !gw_printable_word(refresh, 8192) ||
        !bluesky_did_valid(did))
        return UV_EINVAL;
    if (b->did != NULL && strcmp(b->did, did) != 0)
        b->hwm_ms = 0; /* another account: its own high-water mark */
    bluesky__replace(&b->access, access);
    bluesky__replace(&b->refresh, refresh);
    bluesky__replace(&b->did, did);
    if (bluesky_handle_valid(handle)) {
        char *h = gw_xstrdup(handle);
        gw_strlower(h);
        free(b->me_handle);
        b->me_handle = h;
    } else if (b->me_handle == NULL) {
        b->me_handle = gw_xstrdup(did); /* handle.invalid: the DID will do */
    }
    b->gen++;
    int64_t iat, exp;
    if (bluesky_jwt_times(access, &iat, &exp) < 0)
        iat = exp = 0;
    bluesky__timer(b, &b->t_refresh, (uint64_t)bluesky_refresh_in_ms(iat, exp),
                   on_t_refresh);
    session_store(b);
    return 0;
}

static void go_ready(struct bsky *b)
{
    /* Not while signed out (an answer that was on its way when it was
     * refused) or while a session is still being made. */
    if (b->signed_out || b->access == NULL || b->logging_in || b->refreshing)
        return;
    bool was = b->signed_in;
    b->signed_in = true;
    b->signin_failures = 0;
    gw_backoff_reset(&b->signin_backoff);
    gw_ad_detail(b->ad, "%s", "");
    if (!was) {
        if (b->announce)
            gw_ad_notice(b->ad, "signed in as @%s (%s) at %s", b->me_handle,
                         b->did, b->pds != NULL ? b->pds : b->service);
        b->announce = false;
        gw_ad_ready(b->ad, b->did, b->me_handle);
    }
    wait_flush(b, true);
    bluesky__poll_start(b);
}

/* ---- the DID document: where the account's PDS is ------------------------ */

static void on_did_doc(struct bsky *b, struct bcall *c,
                       const struct gw_http_response *r)
{
    bool checking = c->arg != NULL;
    b->resolving = false;
    b->resolve_ms = gw_now_ms();
    cJSON *doc = bluesky_map_status(r) == GW_ACT_OK ? bluesky__body(r) : NULL;
    char *pds = bluesky_pds_endpoint(doc, b->did);
    cJSON_Delete(doc);
    if (pds == NULL) {
        char *err = r->status == 200 ? gw_xstrdup("no PDS in it")
                                     : bluesky_error_text(r);
        gw_ad_detail(b->ad, "could not read the DID document of %s (%s)%s",
                     b->did, err,
                     b->pds != NULL ? "; keeping the PDS we know" : "");
        free(err);
    } else {
        bool moved = b->pds != NULL && strcmp(b->pds, pds) != 0;
        bool changed = b->pds == NULL || moved;
        if (moved)
            gw_ad_notice(b->ad, "the account's PDS moved from %s to %s", b->pds,
                         pds);
        bluesky__replace(&b->pds, pds);
        free(pds);
        if (changed)
            session_store(b);
        /* Tokens belong to the PDS that issued them: ask the new one. */
        if (moved && b->signed_in) {
            refresh_start(b);
            return;
        }
    }
    /* A sign-in that found this lookup under way waited for it. */
    if (!checking || !b->signed_in)
        go_ready(b);
}

static void resolve_start(struct bsky *b, bool checking)
{
    if (b->resolving || b->did == NULL)
        return;
    char *url;
    if (strncmp(b->did, "did:web:", 8) == 0)
        url = gw_xasprintf("https://%s/.well-known/did.json", b->did + 8);
    else
        url = gw_xasprintf("%s/%s", b->plc, b->did);
    struct bcall *c = bluesky__call(on_did_doc);
    c->arg = checking ? gw_xstrdup("check") : NULL;
    c->free_arg = free;
    b->resolving = true;
    if (bluesky__xrpc(b, c, HOST_URL, AUTH_NONE, FAM_DID, "GET", url, NULL) <
        0) {
        b->resolving = false;
        if (!checking)
            go_ready(b);
    }
    free(url);
}

static void pds_check(struct bsky *b)
{
    int64_t now = gw_now_ms();
    if (b->resolving || now - b->resolve_ms < RESOLVE_GAP_MS)
        return;
    gw_ad_detail(b->ad, "the PDS %s does not answer; looking it up again",
                 b->pds != NULL ? b->pds : "?");
    resolve_start(b, true);
}

/* ---- createSession and refreshSession ------------------------------------ */

static void on_login(struct bsky *b, struct bcall *c,
                     const struct gw_http_response *r)
{
    (void)c;
    b->logging_in = false;
    enum gw_action_status st = bluesky_map_status(r);
    if (st == GW_ACT_OK) {
        login_answered(b);
        cJSON *j = bluesky__body(r);
        int rc = session_take(b, j);
        cJSON_Delete(j);
        if (rc < 0) {
            signin_retry(b, "unexpected answer to createSession", 0);
            return;
        }
        resolve_start(b, false);
        return;
    }
    if (st == GW_ACT_RETRY) {
        char *err = bluesky_error_text(r);
        signin_retry(b, err, gw_ad_retry_after_ms(r));
        free(err);
        return;
    }
    login_answered(b);
    char *err = bluesky_error_text(r);
    char *why = gw_xasprintf("Bluesky refused the app password for @%s (%s)",
                             b->handle, err);
    signed_out(b, why);
    free(why);
    free(err);
}

static void login_start(struct bsky *b)
{
    if (b->signed_out || b->logging_in)
        return;
    /* Three sign-ins in LOGIN_GAP_MS whose sessions were all refused: a
     * fourth would only spend the server's login limit. */
    if (b->logins[0] != 0 && gw_now_ms() - b->logins[0] < LOGIN_GAP_MS) {
        signed_out(b, "the server keeps refusing new sessions; not signing "
                      "in again in a loop");
        return;
    }
    bluesky__replace(&b->access, NULL);
    bluesky__replace(&b->refresh, NULL);
    cJSON *body = cJSON_CreateObject();
    cJSON_AddStringToObject(body, "identifier", b->handle);
    cJSON_AddStringToObject(body, "password", b->password);
    char *json = cJSON_PrintUnformatted(body);
    cJSON_Delete(body);
    b->logging_in = true;
    /* The PDS when we know it (after a move it is the one that knows the
     * account), else the entryway. */
    int rc = bluesky__xrpc(
        b, bluesky__call(on_login), b->pds != NULL ? HOST_PDS : HOST_SERVICE,
        AUTH_NONE, FAM_AUTH, "POST", "com.atproto.server.createSession", json);
    cJSON_free(json);
    if (rc < 0) {
        b->logging_in = false;
        signin_retry(b, "could not start a request", 0);
    }
}

static void on_refresh(struct bsky *b, struct bcall *c,
                       const struct gw_http_response *r)
{
    (void)c;
    b->refreshing = false;
    enum gw_action_status st = bluesky_map_status(r);
    if (st == GW_ACT_OK) {
        cJSON *j = bluesky__body(r);
        int rc = session_take(b, j);
        cJSON_Delete(j);
        if (rc == 0) {
            if (b->pds == NULL || !b->signed_in)
                resolve_start(b, false);
            else
                go_ready(b);
            return;
        }
    } else if (st == GW_ACT_RETRY) {
        char *err = bluesky_error_text(r);
        signin_retry(b, err, gw_ad_retry_after_ms(r));
        free(err);
        return;
    }
    /* The refresh token is dead (expired, revoked, or rotated away): one
     * sign-in with the app password. */
    char *err = bluesky_error_text(r);
    gw_ad_detail(b->ad, "the session ended (%s); signing in again", err);
    free(err);
    gw_ad_setting_store(b->ad, SESSION_KEY, NULL);
    login_start(b);
}

static void refresh_start(struct bsky *b)
{
    if (b->signed_out || b->refreshing || b->logging_in)
        return;
    if (b->refresh == NULL) {
        login_start(b);
        return;
    }
    timer_stop(&b->t_refresh);
    b->refreshing = true;
    /* No body: the PDS refuses one here. */
    if (bluesky__xrpc(b, bluesky__call(on_refresh), HOST_PDS, AUTH_REFRESH,
                      FAM_AUTH, "POST", "com.atproto.server.refreshSession",
                      NULL) < 0) {
        b->refreshing = false;
        signin_retry(b, "could not start a request", 0);
    }
}

static void session_refresh(struct bsky *b)
{
    refresh_start(b);
}

/* ---- settings ------------------------------------------------------------ */

static int check_setting(const char *key, const char *value, char *err,
                         size_t errlen)
{
    if (key == NULL)
        return 0;
    if (value == NULL)
        value = "";
    if (strcmp(key, "handle") == 0) {
        if (!bluesky_handle_valid(value) && !bluesky_did_valid(value))
            return gw_setting_fail(err, errlen,
                                   "must be a handle such as alice.bsky.social "
                                   "(or a DID)");
    } else if (strcmp(key, "app_password") == 0) {
        if (!gw_printable_word(value, 256))
            return gw_setting_fail(err, errlen,
                                   "must be an app password (Settings, "
                                   "Privacy and security, App passwords), "
                                   "like abcd-efgh-ijkl-mnop");
    } else if (strcmp(key, "service") == 0 || strcmp(key, "plc_url") == 0 ||
               strcmp(key, "appview") == 0 || strcmp(key, "chat_url") == 0) {
        char *b = gw_text_base_url(value);
        bool ok = b != NULL;
        free(b);
        if (!ok)
            return gw_setting_fail(err, errlen,
                                   "must be an http:// or https:// URL with a "
                                   "host");
    } else if (strcmp(key, "poll_seconds") == 0) {
        long v;
        if (gw_parse_long(value, POLL_MIN_S, POLL_MAX_S, &v) < 0)
            return gw_setting_fail(err, errlen,
                                   "poll_seconds must be a number from 1 "
                                   "to 86400");
    } else if (strcmp(key, "streaming") == 0) {
        if (gw_strcasecmp(value, "yes") != 0 && gw_strcasecmp(value, "no") != 0)
            return gw_setting_fail(err, errlen, "must be yes or no");
    } else if (strcmp(key, "tls_ca") == 0) {
        if (*value == '\0')
            return gw_setting_fail(err, errlen, "must name a PEM file");
    }
    return 0;
}

static char *setting_url(struct gw_adapter *ad, const char *key,
                         const char *dflt)
{
    const char *v = gw_ad_setting(ad, key);
    char *u = v != NULL && *v != '\0' ? gw_text_base_url(v) : NULL;
    return u != NULL ? u : dflt != NULL ? gw_xstrdup(dflt) : NULL;
}

/* ---- ops ----------------------------------------------------------------- */

static void priv_free(struct bsky *b)
{
    while (b->wait != NULL) {
        struct bcall *c = b->wait;
        b->wait = c->next;
        call_free(c);
    }
    /* The runtime has stopped every timer: only memory is left. */
    for (int i = 0; i < b->npages; i++)
        cJSON_Delete(b->pages[i]);
    free(b->pages);
    cJSON_Delete(b->chat_log);
    for (int i = 0; i < b->nconvos; i++) {
        free(b->convos[i].id);
        free(b->convos[i].peer_did);
        free(b->convos[i].peer_handle);
    }
    char **strs[] = {&b->handle,  &b->password,  &b->service, &b->plc,
                     &b->appview, &b->chat_url,  &b->ca_file, &b->cdn,
                     &b->did,     &b->me_handle, &b->pds,     &b->access,
                     &b->refresh, &b->auth_hdr,  &b->hwm_uri, &b->chat_cursor};
    for (size_t i = 0; i < GW_ARRAY_LEN(strs); i++)
        free(*strs[i]);
    free(b);
}

/* A session stored by an earlier run for these settings: refresh it rather
 * than signing in. */
static void session_load(struct bsky *b)
{
    const char *s = gw_ad_setting(b->ad, SESSION_KEY);
    cJSON *j = s != NULL ? cJSON_Parse(s) : NULL;
    char *fp = session_for(b);
    const char *f = gw_json_str(j, "for");
    const char *did = gw_json_str(j, "did");
    const char *refresh = gw_json_str(j, "refresh");
    const char *pds = gw_json_str(j, "pds");
    if (f != NULL && strcmp(f, fp) == 0 && bluesky_did_valid(did) &&
        gw_printable_word(refresh, 8192)) {
        bluesky__replace(&b->did, did);
        bluesky__replace(&b->refresh, refresh);
        char *p = gw_text_base_url(pds);
        free(b->pds);
        b->pds = p;
    }
    free(fp);
    cJSON_Delete(j);
}

static int bluesky_start(struct gw_adapter *ad)
{
    const char *handle = gw_ad_setting(ad, "handle");
    const char *password = gw_ad_setting(ad, "app_password");
    if (handle == NULL ||
        (!bluesky_handle_valid(handle) && !bluesky_did_valid(handle))) {
        gw_ad_notice(ad, "no handle: set handle (alice.bsky.social)");
        return UV_EINVAL;
    }
    struct bsky *b = gw_xcalloc(1, sizeof(*b));
    b->ad = ad;
    ad->priv = b;
    b->handle = gw_xstrdup(handle + (*handle == '@'));
    gw_strlower(b->handle);
    b->service = setting_url(ad, "service", DEFAULT_SERVICE);
    b->plc = setting_url(ad, "plc_url", DEFAULT_PLC);
    b->appview = setting_url(ad, "appview", DEFAULT_APPVIEW);
    b->chat_url = setting_url(ad, "chat_url", NULL);
    if (strcmp(b->appview, DEFAULT_APPVIEW) == 0)
        b->cdn = gw_xstrdup(BSKY_CDN);
    const char *ca = gw_ad_setting(ad, "tls_ca");
    if (ca != NULL && *ca != '\0')
        b->ca_file = gw_xstrdup(ca);
    long poll = POLL_DEFAULT_S;
    const char *ps = gw_ad_setting(ad, "poll_seconds");
    if (ps != NULL && gw_parse_long(ps, POLL_MIN_S, POLL_MAX_S, &poll) < 0)
        poll = POLL_DEFAULT_S;
    b->poll_ms = poll * 1000;
    b->signin_backoff.min_ms = b->poll_backoff.min_ms = BACKOFF_MIN_MS;
    b->signin_backoff.max_ms = BACKOFF_MAX_MS;
    b->poll_backoff.max_ms =
        b->poll_ms > BACKOFF_MIN_MS ? b->poll_ms * 4 : BACKOFF_MIN_MS * 4;
    b->announce = true;
    bluesky__poll_load(b);

    if (password == NULL || !gw_printable_word(password, 256)) {
        b->signed_out = true;
        char *why = gw_xasprintf("no app password; set one with: account set "
                                 "%s app_password xxxx-xxxx-xxxx-xxxx",
                                 bluesky__name(b));
        gw_ad_not_ready(ad, true, why);
        gw_ad_notice(ad, "%s", why);
        free(why);
        return 0;
    }
    b->password = gw_xstrdup(password);
    gw_ad_not_ready(ad, false, "signing in");
    session_load(b);
    if (b->refresh != NULL)
        refresh_start(b);
    else
        login_start(b);
    return 0;
}

/* The runtime has cancelled every request and timer already. */
static void bluesky_stop(struct gw_adapter *ad)
{
    if (ad->priv != NULL)
        priv_free(ad->priv);
}

static void bluesky_status(struct gw_adapter *ad, struct gw_adapter_status *st)
{
    struct bsky *b = ad->priv;
    const char *mode = b->signed_out  ? "signed out"
                       : b->signed_in ? "polling"
                                      : "connecting";
    gw_strlcpy(st->mode, mode, sizeof(st->mode));
    if (b->signed_in)
        snprintf(st->detail, sizeof(st->detail), "every %ld s%s; DMs %s",
                 b->poll_ms / 1000,
                 b->active_until_ms > gw_now_ms() ? " (5 s while active)" : "",
                 b->chat_off ? "off" : "on");
}

static const char *const bluesky_keys[] = {
    "handle", "app_password", "service", "plc_url", "appview", "chat_url", NULL,
};

static const struct gw_adapter_command bluesky_commands[] = {
    {"accept", "!accept nick - accept a DM request from nick", true},
    {NULL, NULL, false},
};

const struct gw_adapter_ops bluesky_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "bluesky",
    .summary =
        "Bluesky and other AT Protocol services: account add NAME "
        "bluesky handle=you.bsky.social app_password=xxxx-xxxx-xxxx-xxxx",
    .caps = 0,
    .actions = GW_ACT_BIT(GW_ACT_POST) | GW_ACT_BIT(GW_ACT_REPLY) |
               GW_ACT_BIT(GW_ACT_DM) | GW_ACT_BIT(GW_ACT_FAV) |
               GW_ACT_BIT(GW_ACT_UNFAV) | GW_ACT_BIT(GW_ACT_BOOST) |
               GW_ACT_BIT(GW_ACT_UNBOOST) | GW_ACT_BIT(GW_ACT_DELETE) |
               GW_ACT_BIT(GW_ACT_FOLLOW) | GW_ACT_BIT(GW_ACT_UNFOLLOW) |
               GW_ACT_BIT(GW_ACT_THREAD) | GW_ACT_BIT(GW_ACT_WHO) |
               GW_ACT_BIT(GW_ACT_COMMAND),
    .keys = bluesky_keys,
    .commands = bluesky_commands,
    .check_setting = check_setting,
    .start = bluesky_start,
    .stop = bluesky_stop,
    .act = bluesky__act,
    .check = bluesky__check,
    .status = bluesky_status,
};
