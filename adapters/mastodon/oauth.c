/*
 * Signing in with OAuth, out of band: register Parley as an app with the
 * server (once per server), print the authorize address, exchange the code
 * the user pastes back for a token.
 */
#include "mastodon_int.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define OOB_URI_ENC "urn%3Aietf%3Awg%3Aoauth%3A2.0%3Aoob"
#define FORM        "application/x-www-form-urlencoded"

static void notice_authorize(struct mastodon *m)
{
    char *url = mastodon_authorize_url(m->base, m->client_id);
    gw_ad_notice(m->ad, "to sign in, open this address in a browser:");
    gw_ad_notice(m->ad, "%s", url);
    gw_ad_notice(m->ad, "then: account code %s <code>", mastodon__name(m));
    free(url);
}

static void store_setting(struct mastodon *m, const char *key,
                          const char *value)
{
    int rc = gw_ad_setting_store(m->ad, key, value);
    if (rc < 0)
        gw_ad_notice(m->ad, "could not store %s (%s)", key, uv_strerror(rc));
}

static void on_app(struct mastodon *m, struct mcall *c,
                   const struct gw_http_response *r)
{
    (void)c;
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = mastodon_error_text(r);
        gw_ad_detail(m->ad, "app registration failed: %s", err);
        gw_ad_notice(m->ad, "could not register Parley with %s: %s", m->base,
                     err);
        free(err);
        return;
    }
    cJSON *j = mastodon__body(r);
    const char *id = gw_json_str(j, "client_id");
    const char *secret = gw_json_str(j, "client_secret");
    if (!gw_printable_word(id, 1024) || !gw_printable_word(secret, 1024)) {
        cJSON_Delete(j);
        gw_ad_notice(m->ad,
                     "could not register Parley with %s: unexpected "
                     "answer",
                     m->base);
        return;
    }
    mastodon__replace(&m->client_id, id);
    mastodon__replace(&m->client_secret, secret);
    mastodon__replace(&m->app_base, m->base);
    cJSON_Delete(j);
    store_setting(m, "client_id", m->client_id);
    store_setting(m, "client_secret", m->client_secret);
    store_setting(m, "app_base_url", m->app_base);
    notice_authorize(m);
}

/* Send a login step: it stays valid across sessions (sessionless). */
static int auth_send(struct mastodon *m, mcall_done_cb done, const char *path,
                     const char *body)
{
    struct mcall *c = mastodon__call(done);
    c->sessionless = true;
    char *url = gw_xasprintf("%s%s", m->base, path);
    int rc =
        mastodon__send(m, c, FAM_AUTH, "POST", url, body, FORM, false, NULL);
    free(url);
    if (rc < 0)
        gw_ad_notice(m->ad, "could not reach %s (%s)", m->base,
                     uv_strerror(rc));
    return rc;
}

static int register_app(struct mastodon *m)
{
    return auth_send(m, on_app, "/api/v1/apps",
                     "client_name=Parley&redirect_uris=" OOB_URI_ENC
                     "&scopes=read%20write%20follow");
}

static void forget_app(struct mastodon *m)
{
    mastodon__replace(&m->client_id, NULL);
    mastodon__replace(&m->client_secret, NULL);
    mastodon__replace(&m->app_base, NULL);
    store_setting(m, "client_id", NULL);
    store_setting(m, "client_secret", NULL);
    store_setting(m, "app_base_url", NULL);
}

static void on_token(struct mastodon *m, struct mcall *c,
                     const struct gw_http_response *r)
{
    (void)c;
    cJSON *j = mastodon__body(r);
    if (mastodon_map_status(r->status, r->error) == GW_ACT_OK) {
        const char *tok = gw_json_str(j, "access_token");
        if (!gw_printable_word(tok, 4096)) {
            gw_ad_notice(m->ad, "the server's answer had no token");
        } else {
            mastodon__set_token(m, tok);
            store_setting(m, "token", tok);
            m->announce = true;
            gw_ad_notice(m->ad, "signed in; connecting");
            mastodon__session_restart(m);
        }
        cJSON_Delete(j);
        return;
    }
    const char *code = gw_json_str(j, "error");
    char *err = mastodon_error_text(r);
    if (code != NULL && strcmp(code, "invalid_client") == 0) {
        /* Servers before 4.3 purge apps nobody signed in with. */
        gw_ad_notice(m->ad,
                     "the server no longer knows Parley's registration "
                     "(%s); registering again: open the new address and run "
                     "account code again",
                     err);
        forget_app(m);
        (void)register_app(m);
    } else {
        gw_ad_notice(m->ad,
                     "the server refused the code: %s; run account login "
                     "%s for a new one",
                     err, mastodon__name(m));
    }
    free(err);
    cJSON_Delete(j);
}

int mastodon__login(struct gw_adapter *ad)
{
    struct mastodon *m = ad->priv;
    if (m->client_id != NULL && m->client_secret != NULL &&
        m->app_base != NULL && strcmp(m->app_base, m->base) == 0) {
        notice_authorize(m);
        return 0;
    }
    return register_app(m);
}

int mastodon__code(struct gw_adapter *ad, const char *code)
{
    struct mastodon *m = ad->priv;
    char *c = gw_xstrdup(code != NULL ? code : "");
    gw_trim(c);
    if (!gw_printable_word(c, 1024)) {
        free(c);
        gw_ad_notice(ad, "that is not an authorization code");
        return UV_EINVAL;
    }
    if (m->client_id == NULL || m->client_secret == NULL) {
        free(c);
        gw_ad_notice(ad, "run \"account login %s\" first", mastodon__name(m));
        return UV_EINVAL;
    }
    char *ec = mastodon_urlencode(c);
    char *eid = mastodon_urlencode(m->client_id);
    char *esec = mastodon_urlencode(m->client_secret);
    char *body = gw_xasprintf("grant_type=authorization_code&code=%s"
                              "&client_id=%s&client_secret=%s"
                              "&redirect_uri=%s&scope=read%%20write%%20follow",
                              ec, eid, esec, OOB_URI_ENC);
    free(ec);
    free(eid);
    free(esec);
    free(c);
    int rc = auth_send(m, on_token, "/oauth/token", body);
    free(body);
    return rc;
}
