/*
 * Signing in with OAuth 2.0, Authorization Code with PKCE (S256): "account
 * login" prints the authorize address with a fresh verifier's challenge,
 * "account code" takes the code (or the whole address X sent the browser
 * to) and trades it for tokens. X rotates refresh tokens: each refresh
 * returns a new one and voids the old, so the new one is stored before
 * the access token that came with it is used.
 */
#include "x_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define FORM "application/x-www-form-urlencoded"

/* What X's token endpoint answers: the tokens, stored first. */
static int take_tokens(struct xacc *x, const struct gw_http_response *r)
{
    cJSON *j = x__body(r);
    const char *acc = gw_json_str(j, "access_token");
    const char *ref = gw_json_str(j, "refresh_token");
    long exp = gw_json_long(j, "expires_in", 0, 0, 365L * 86400);
    if (!gw_printable_word(acc, 4096) ||
        (ref != NULL && !gw_printable_word(ref, 4096))) {
        cJSON_Delete(j);
        return UV_EINVAL;
    }
    int64_t until = exp > 0 ? gw_now_ms() + exp * 1000 : 0;
    char until_s[32];
    snprintf(until_s, sizeof(until_s), "%lld", (long long)until);
    /* The old refresh token is void from now on: the new one is written
     * to the store before anything uses what came with it. */
    if (ref != NULL)
        x__store(x, "refresh_token", ref);
    x__store(x, "token", acc);
    x__store(x, "token_expires", until_s);
    x__tokens_set(x, acc, ref, until);
    const char *seen = gw_ad_setting(x->ad, "refresh_token");
    if (ref != NULL && seen != NULL && strcmp(seen, ref) != 0)
        gw_ad_notice(x->ad, "refresh_token is set in gateway.conf, which "
                            "wins over the new one X just gave: remove it "
                            "there, or the next start cannot sign in");
    cJSON_Delete(j);
    return 0;
}

static void flush_parked(struct xacc *x, bool ok)
{
    struct xcall *list = x->parked;
    x->parked = NULL;
    /* Oldest first, as they were asked for. */
    struct xcall *rev = NULL;
    while (list != NULL) {
        struct xcall *n = list->next;
        list->next = rev;
        rev = list;
        list = n;
    }
    while (rev != NULL) {
        struct xcall *c = rev;
        rev = c->next;
        c->next = NULL;
        if (ok) {
            (void)x__send(x, c);
            continue;
        }
        struct gw_http_response r;
        memset(&r, 0, sizeof(r));
        r.status = 401;
        r.body = "";
        r.errmsg = "";
        r.retry_after_s = -1;
        r.ratelimit_remaining = -1;
        if (c->is_action || c->gen == x->gen)
            c->done(x, c, &r);
        x__call_free(c);
    }
}

static void on_t_refresh(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct xacc *x = arg;
    x->t_refresh = NULL;
    x->refreshing = false;
    x__refresh(x);
}

static void on_refresh(struct xacc *x, struct xcall *c,
                       const struct gw_http_response *r)
{
    (void)c;
    if (!x->refreshing)
        return;
    if (x_map_status(r->status, r->error) == GW_ACT_OK &&
        take_tokens(x, r) == 0) {
        x->refreshing = false;
        gw_backoff_reset(&x->signin_backoff);
        flush_parked(x, true);
        return;
    }
    char *code = x_oauth_error(r);
    char *err = x_error_text(r);
    if (r->error == 0 && r->status >= 400 && r->status < 500 &&
        r->status != 408 && r->status != 429) {
        /* invalid_grant: the refresh token was used or revoked. Say it
         * once; no loop of refreshes. */
        x->refreshing = false;
        x__replace(&x->refresh, NULL);
        x__store(x, "refresh_token", NULL);
        char *why = gw_xasprintf("X refused to refresh the sign-in (%s)",
                                 code != NULL ? code : err);
        x__signed_out(x, why);
        free(why);
        flush_parked(x, false);
    } else {
        /* The network or X failed: the token is still good to try again.
         * (If X did rotate it and the answer was lost, the next try says
         * invalid_grant, and the user is asked to sign in.) */
        long d = gw_backoff_next(&x->signin_backoff);
        long ra = gw_ad_retry_after_ms(r);
        gw_ad_detail(x->ad, "refreshing the sign-in failed: %s; retrying", err);
        x__timer(x, &x->t_refresh, (uint64_t)(ra > d ? ra : d), on_t_refresh);
    }
    free(code);
    free(err);
}

static int token_request(struct xacc *x, xcall_done_cb done, const char *form)
{
    char *url = gw_xasprintf("%s/2/oauth2/token", x->base);
    struct xcall *c = x__call(done, FAM_AUTH, "POST", url);
    free(url);
    c->sessionless = true;
    c->ctype = gw_xstrdup(FORM);
    char *cid = x_urlencode(x->client_id);
    c->body = gw_xasprintf("%s&client_id=%s", form, cid);
    free(cid);
    return x__send(x, c);
}

void x__refresh(struct xacc *x)
{
    if (x->refreshing || x->refresh == NULL || x->signed_out)
        return;
    if (x->client_id == NULL) {
        x__signed_out(x, "the sign-in ran out and client_id is not set");
        flush_parked(x, false);
        return;
    }
    x->refreshing = true;
    char *rt = x_urlencode(x->refresh);
    char *form = gw_xasprintf("grant_type=refresh_token&refresh_token=%s", rt);
    free(rt);
    int rc = token_request(x, on_refresh, form);
    free(form);
    if (rc < 0) {
        x->refreshing = false;
        gw_ad_detail(x->ad, "could not start a token refresh (%s)",
                     uv_strerror(rc));
        x__timer(x, &x->t_refresh, BACKOFF_MIN_MS, on_t_refresh);
        x->refreshing = true;
    }
}

static void on_code(struct xacc *x, struct xcall *c,
                    const struct gw_http_response *r)
{
    (void)c;
    if (x_map_status(r->status, r->error) == GW_ACT_OK &&
        take_tokens(x, r) == 0) {
        x__store(x, "code_verifier", NULL);
        x__store(x, "oauth_state", NULL);
        x->announce = true;
        gw_ad_notice(x->ad, "signed in; connecting");
        x__session_restart(x);
        return;
    }
    char *code = x_oauth_error(r);
    char *err = x_error_text(r);
    gw_ad_notice(x->ad,
                 "X refused the code (%s); codes last 30 seconds: run "
                 "account login %s for a new one",
                 code != NULL ? code : err, x__name(x));
    free(code);
    free(err);
}

int x__login(struct gw_adapter *ad)
{
    struct xacc *x = ad->priv;
    if (x->client_id == NULL) {
        gw_ad_notice(ad,
                     "set your app's client ID first: account set %s "
                     "client_id ID (from the X developer console)",
                     x__name(x));
        return UV_EINVAL;
    }
    char *verifier = x_pkce_verifier();
    char state[25];
    if (verifier == NULL || gw_random_hex(state, sizeof(state)) < 0) {
        free(verifier);
        gw_ad_notice(ad, "could not make a sign-in secret");
        return UV_EIO;
    }
    x__store(x, "code_verifier", verifier);
    x__store(x, "oauth_state", state);
    char *challenge = x_pkce_challenge(verifier);
    char *url = x_authorize_url(x->authorize, x->client_id, x->redirect, state,
                                challenge);
    gw_ad_notice(ad, "to sign in, open this address in a browser:");
    gw_ad_notice(ad, "%s", url);
    gw_ad_notice(ad,
                 "then paste the address X sends you to (%s?...): "
                 "account code %s <address or code>",
                 x->redirect, x__name(x));
    free(url);
    free(challenge);
    free(verifier);
    return 0;
}

int x__code(struct gw_adapter *ad, const char *input)
{
    struct xacc *x = ad->priv;
    char *code = NULL, *state = NULL, err[200];
    if (x_code_parse(input, &code, &state, err, sizeof(err)) < 0) {
        gw_ad_notice(ad, "%s", err);
        return UV_EINVAL;
    }
    const char *verifier = gw_ad_setting(ad, "code_verifier");
    const char *want = gw_ad_setting(ad, "oauth_state");
    int rc = UV_EINVAL;
    if (x->client_id == NULL || !gw_printable_word(verifier, 256)) {
        gw_ad_notice(ad, "run \"account login %s\" first", x__name(x));
    } else if (state != NULL && want != NULL && strcmp(state, want) != 0) {
        /* Another sign-in's answer, or someone else's: refused (RFC 6749
         * section 10.12). */
        gw_ad_notice(ad,
                     "that address belongs to another sign-in; run "
                     "account login %s again",
                     x__name(x));
    } else {
        char *ec = x_urlencode(code);
        char *ru = x_urlencode(x->redirect);
        char *ev = x_urlencode(verifier);
        char *form = gw_xasprintf("grant_type=authorization_code&code=%s"
                                  "&redirect_uri=%s&code_verifier=%s",
                                  ec, ru, ev);
        rc = token_request(x, on_code, form);
        if (rc < 0)
            gw_ad_notice(ad, "could not reach X (%s)", uv_strerror(rc));
        free(form);
        free(ec);
        free(ru);
        free(ev);
    }
    free(code);
    free(state);
    return rc;
}
