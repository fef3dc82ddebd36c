/*
 * Signing in: Facebook Login (a Page, or an Instagram account linked to
 * one) and Instagram Login (graph.instagram.com). Neither has an
 * out-of-band flow: the dialog redirects to redirect_uri (Meta's own
 * login_success page by default) with ?code=... in the address, which
 * the user pastes into "account code".
 *
 * Facebook: code -> short-lived user token -> long-lived user token ->
 * /me/accounts -> the Page's token, which does not expire. Instagram
 * Login: code -> short-lived token -> 60-day token, refreshed once it is
 * a day old (Meta refuses younger ones), long before it expires.
 */
#include "meta_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define DAY_MS (24LL * 3600 * 1000)

static bool answered(const struct gw_http_response *r)
{
    return r->error == 0 && r->status >= 200 && r->status < 300;
}

static void refused(struct meta *m, const char *step,
                    const struct gw_http_response *r)
{
    char *e = meta__error_text(r);
    gw_ad_notice(m->ad,
                 "sign-in failed at %s: %s; run account login %s "
                 "for a new code",
                 step, e, meta__name(m));
    free(e);
}

/* A login step: no Authorization header (tokens travel as parameters,
 * as the reference shows) and valid across sessions. */
static int step(struct meta *m, mreq_cb cb, const char *method, char *url,
                const char *body, const char *a)
{
    struct mreq *q = meta__req(cb, FAM_AUTH);
    q->sessionless = true;
    q->a = a != NULL ? gw_xstrdup(a) : NULL;
    int rc = meta__send(m, q, method, url, body, false);
    if (rc < 0)
        gw_ad_notice(m->ad, "could not reach Meta (%s)", uv_strerror(rc));
    free(url);
    return rc;
}

static void signed_in_with(struct meta *m, const char *token)
{
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)(gw_now_ms() / 1000));
    meta__set_token(m, token);
    meta__store(m, "token", token);
    meta__store(m, "token_time", now);
    m->announce = true;
    gw_ad_notice(m->ad, "signed in; connecting");
    meta__session_restart(m);
}

/* ---- Facebook Login ------------------------------------------------------ */

static void on_accounts(struct meta *m, struct mreq *q,
                        const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    if (!answered(r)) {
        refused(m, "/me/accounts", r);
        return;
    }
    const cJSON *p;
    cJSON_ArrayForEach(p, gw_json_arr(j, "data"))
    {
        const char *id = meta_json_id(p, "id");
        const char *ig =
            meta_json_id(gw_json_obj(p, "instagram_business_account"), "id");
        const char *tok = gw_json_str(p, "access_token");
        bool mine = m->net == META_FACEBOOK
                        ? id != NULL && strcmp(id, m->me_id) == 0
                        : (ig != NULL && strcmp(ig, m->me_id) == 0) ||
                              (id != NULL && m->page_id != NULL &&
                               strcmp(id, m->page_id) == 0);
        if (!mine || !gw_printable_word(tok, 4096))
            continue;
        if (m->net == META_INSTAGRAM && id != NULL) {
            meta__replace(&m->page_id, id);
            meta__store(m, "page_id", id);
        }
        signed_in_with(m, tok);
        return;
    }
    gw_ad_notice(m->ad,
                 "signed in, but the Page %s is not among the Pages this "
                 "login may manage; sign in as one of its admins and allow "
                 "it in the dialog",
                 m->net == META_FACEBOOK ? m->me_id
                                         : "linked to this Instagram account");
}

static void on_long_lived(struct meta *m, struct mreq *q,
                          const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    const char *tok = gw_json_str(j, "access_token");
    if (!answered(r) || !gw_printable_word(tok, 4096)) {
        refused(m, "the long-lived token", r);
        return;
    }
    char *t = meta_urlencode(tok);
    step(m, on_accounts, "GET",
         meta__url(m,
                   "/me/accounts?fields=id,name,access_token,"
                   "instagram_business_account&limit=100&access_token=%s",
                   t),
         NULL, NULL);
    free(t);
}

static void on_fb_code(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    const char *tok = gw_json_str(j, "access_token");
    if (!answered(r) || !gw_printable_word(tok, 4096)) {
        refused(m, "the code", r);
        return;
    }
    char *id = meta_urlencode(m->app_id);
    char *sec = meta_urlencode(m->app_secret);
    char *t = meta_urlencode(tok);
    step(m, on_long_lived, "GET",
         meta__url(m,
                   "/oauth/access_token?grant_type=fb_exchange_token"
                   "&client_id=%s&client_secret=%s&fb_exchange_token=%s",
                   id, sec, t),
         NULL, NULL);
    free(id);
    free(sec);
    free(t);
}

/* ---- Instagram Login ----------------------------------------------------- */

static void on_ig_long(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    const char *tok = gw_json_str(j, "access_token");
    if (!answered(r) || !gw_printable_word(tok, 4096)) {
        refused(m, "the 60-day token", r);
        return;
    }
    signed_in_with(m, tok);
}

static void on_ig_code(struct meta *m, struct mreq *q,
                       const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    /* {access_token, user_id, permissions}, or the same inside "data". */
    const cJSON *d = gw_json_arr(j, "data");
    const cJSON *o = d != NULL ? cJSON_GetArrayItem(d, 0) : j;
    const char *tok = gw_json_str(o, "access_token");
    if (!answered(r) || !gw_printable_word(tok, 4096)) {
        refused(m, "the code", r);
        return;
    }
    char *sec = meta_urlencode(m->app_secret);
    char *t = meta_urlencode(tok);
    step(m, on_ig_long, "GET",
         gw_xasprintf("%s/access_token?grant_type=ig_exchange_token"
                      "&client_secret=%s&access_token=%s",
                      m->root, sec, t),
         NULL, NULL);
    free(sec);
    free(t);
}

/* ---- refresh ------------------------------------------------------------- */

static void on_t_refresh(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct meta *m = arg;
    m->t_refresh = NULL;
    meta__refresh_check(m);
}

static void on_refreshed(struct meta *m, struct mreq *q,
                         const struct gw_http_response *r, cJSON *j)
{
    (void)q;
    const char *tok = gw_json_str(j, "access_token");
    if (!answered(r) || !gw_printable_word(tok, 4096)) {
        char *e = meta__error_text(r);
        gw_ad_detail(m->ad, "token refresh failed: %s", e);
        gw_ad_notice(m->ad,
                     "could not refresh the Instagram token (%s); "
                     "trying again in an hour",
                     e);
        free(e);
        gw_ad_timer_stop(m->t_refresh);
        m->t_refresh = gw_ad_timer_start(m->ad, 3600000, on_t_refresh, m);
        return;
    }
    char now[24];
    snprintf(now, sizeof(now), "%lld", (long long)(gw_now_ms() / 1000));
    meta__set_token(m, tok);
    meta__store(m, "token", tok);
    meta__store(m, "token_time", now);
    gw_ad_notice(m->ad, "refreshed the Instagram token (good for 60 days)");
    gw_ad_timer_stop(m->t_refresh);
    m->t_refresh = gw_ad_timer_start(m->ad, DAY_MS, on_t_refresh, m);
}

void meta__refresh_check(struct meta *m)
{
    if (!m->ig_login || m->token == NULL || m->t_refresh != NULL)
        return;
    const char *tt = gw_ad_setting(m->ad, "token_time");
    long long made = tt != NULL ? strtoll(tt, NULL, 10) : 0;
    int64_t age = made > 0 ? gw_now_ms() - made * 1000 : DAY_MS;
    if (age < DAY_MS) {
        m->t_refresh =
            gw_ad_timer_start(m->ad, (uint64_t)(DAY_MS - age), on_t_refresh, m);
        return;
    }
    char *t = meta_urlencode(m->token);
    step(m, on_refreshed, "GET",
         gw_xasprintf("%s/refresh_access_token?grant_type=ig_refresh_token"
                      "&access_token=%s",
                      m->root, t),
         NULL, NULL);
    free(t);
}

/* ---- the ops ------------------------------------------------------------- */

int meta__login(struct gw_adapter *ad)
{
    struct meta *m = ad->priv;
    if (m->app_id == NULL || m->app_secret == NULL) {
        gw_ad_notice(ad,
                     "set app_id and app_secret first (your Meta app's, "
                     "from its dashboard): account set %s app_id ID",
                     meta__name(m));
        return UV_EINVAL;
    }
    char *url = meta_login_url(m->net, m->ig_login, m->app_id, m->redirect_uri);
    gw_ad_notice(ad, "to sign in, open this address in a browser:");
    gw_ad_notice(ad, "%s", url);
    gw_ad_notice(ad,
                 "then copy the code=... part of the address you land "
                 "on: account code %s <code>",
                 meta__name(m));
    free(url);
    return 0;
}

int meta__code(struct gw_adapter *ad, const char *code)
{
    struct meta *m = ad->priv;
    char *c = gw_xstrdup(code != NULL ? code : "");
    gw_trim(c);
    /* The address bar shows "...?code=XYZ#_=_": take the code alone. */
    char *hash = strchr(c, '#');
    if (hash != NULL)
        *hash = '\0';
    if (!gw_printable_word(c, 2048)) {
        free(c);
        gw_ad_notice(ad, "that is not an authorization code");
        return UV_EINVAL;
    }
    if (m->app_id == NULL || m->app_secret == NULL) {
        free(c);
        gw_ad_notice(ad, "set app_id and app_secret first");
        return UV_EINVAL;
    }
    char *ec = meta_urlencode(c);
    char *id = meta_urlencode(m->app_id);
    char *sec = meta_urlencode(m->app_secret);
    char *ru = meta_urlencode(m->redirect_uri);
    int rc;
    free(c);
    if (m->ig_login) {
        char *body = gw_xasprintf("client_id=%s&client_secret=%s&grant_type="
                                  "authorization_code&redirect_uri=%s&code=%s",
                                  id, sec, ru, ec);
        rc = step(m, on_ig_code, "POST",
                  gw_xasprintf("%s/oauth/access_token", m->auth_base), body,
                  NULL);
        free(body);
    } else {
        rc = step(m, on_fb_code, "GET",
                  meta__url(m,
                            "/oauth/access_token?client_id=%s&redirect_uri=%s"
                            "&client_secret=%s&code=%s",
                            id, ru, sec, ec),
                  NULL, NULL);
    }
    free(ec);
    free(id);
    free(sec);
    free(ru);
    return rc;
}
