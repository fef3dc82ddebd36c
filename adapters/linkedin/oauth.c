/*
 * Signing in with LinkedIn's 3-legged OAuth: print the authorization
 * address (the app's registered redirect_uri, a state, the Community
 * Management scopes), exchange the code the user pastes back for a token
 * (60 days; with a refresh token where LinkedIn gave the app refresh
 * tokens), refresh it before it runs out, and otherwise say a week ahead,
 * once a day, when to sign in again.
 */
#include "linkedin_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

static void store_setting(struct linkedin *m, const char *key,
                          const char *value)
{
    int rc = gw_ad_setting_store(m->ad, key, value);
    if (rc < 0)
        gw_ad_notice(m->ad, "could not store %s (%s)", key, uv_strerror(rc));
}

static void store_ms(struct linkedin *m, const char *key, int64_t ms)
{
    char buf[32];
    snprintf(buf, sizeof(buf), "%" PRId64, ms);
    store_setting(m, key, ms > 0 ? buf : NULL);
}

static bool have_app(struct linkedin *m)
{
    const char *missing = m->client_id == NULL       ? "client_id"
                          : m->client_secret == NULL ? "client_secret"
                          : m->redirect_uri == NULL  ? "redirect_uri"
                                                     : NULL;
    if (missing == NULL)
        return true;
    gw_ad_notice(m->ad,
                 "%s is not set: 'account set %s %s ...' with the value "
                 "from your LinkedIn app's Auth tab (developer portal)",
                 missing, linkedin__name(m), missing);
    return false;
}

int linkedin__login(struct gw_adapter *ad)
{
    struct linkedin *m = ad->priv;
    if (!have_app(m))
        return UV_EINVAL;
    char state[33];
    if (gw_random_hex(state, sizeof(state)) < 0) {
        gw_ad_notice(ad, "could not make a random state; try again");
        return UV_EIO;
    }
    store_setting(m, "oauth_state", state);
    char *url =
        linkedin_authorize_url(m->oauth, m->client_id, m->redirect_uri, state);
    gw_ad_notice(ad, "to sign in, open this address in a browser as an "
                     "administrator of the Page:");
    gw_ad_notice(ad, "%s", url);
    gw_ad_notice(ad,
                 "LinkedIn then sends the browser to %s?code=...: paste that "
                 "whole address (or the code) here: account code %s "
                 "<address>",
                 m->redirect_uri, linkedin__name(m));
    free(url);
    return 0;
}

/* A new token from an accessToken answer: stored, then a new session. */
static int take_token(struct linkedin *m, const struct gw_http_response *r)
{
    cJSON *j = linkedin__body(r);
    struct linkedin_token t;
    int rc = linkedin_token_parse(j, gw_now_ms(), &t);
    cJSON_Delete(j);
    if (rc < 0) {
        linkedin_token_free(&t);
        return rc;
    }
    linkedin__set_token(m, t.access);
    store_setting(m, "token", t.access);
    m->expires_ms = t.expires_ms;
    store_ms(m, "token_expires", t.expires_ms);
    /* A refresh keeps the refresh token unless LinkedIn sends a new one. */
    if (t.refresh != NULL) {
        gw_xreplace(&m->refresh, t.refresh);
        m->refresh_expires_ms = t.refresh_expires_ms;
        store_setting(m, "refresh_token", t.refresh);
        store_ms(m, "refresh_expires", t.refresh_expires_ms);
    }
    linkedin_token_free(&t);
    return 0;
}

static void on_token(struct linkedin *m, struct lcall *c,
                     const struct gw_http_response *r)
{
    (void)c;
    if (r->error == 0 && r->status >= 200 && r->status < 300 &&
        take_token(m, r) == 0) {
        store_setting(m, "oauth_state", NULL);
        char day[16] = "an unknown day";
        if (m->expires_ms > 0)
            linkedin_format_day(m->expires_ms, day, sizeof(day));
        gw_ad_notice(m->ad, "signed in; the sign-in lasts until %s%s", day,
                     m->refresh != NULL ? " and renews itself" : "");
        m->announce = true;
        linkedin__session_restart(m);
        return;
    }
    char *err = r->error == 0 && r->status >= 200 && r->status < 300
                    ? gw_xstrdup("the answer had no access token")
                    : linkedin_error_text(r);
    gw_ad_notice(m->ad,
                 "LinkedIn refused the code: %s; run account login %s for a "
                 "new one (a code lasts 30 minutes and works once)",
                 err, linkedin__name(m));
    free(err);
}

int linkedin__code(struct gw_adapter *ad, const char *paste)
{
    struct linkedin *m = ad->priv;
    if (!have_app(m))
        return UV_EINVAL;
    char *code = NULL, *state = NULL, err[256];
    char *p = gw_xstrdup(paste != NULL ? paste : "");
    gw_trim(p);
    int rc = linkedin_code_from_paste(p, &code, &state, err, sizeof(err));
    free(p);
    if (rc < 0) {
        if (err[0] != '\0')
            gw_ad_notice(ad, "LinkedIn did not sign you in: %s", err);
        else
            gw_ad_notice(ad, "that is not an authorization code or the "
                             "address LinkedIn sent the browser to");
        return UV_EINVAL;
    }
    const char *want = gw_ad_setting(ad, "oauth_state");
    if (state != NULL && (want == NULL || !gw_secret_eq(state, want))) {
        gw_ad_notice(ad,
                     "that address belongs to another sign-in; run "
                     "\"account login %s\" and use the new one",
                     linkedin__name(m));
        free(code);
        free(state);
        return UV_EINVAL;
    }
    free(state);
    char *form = linkedin_code_form(code, m->client_id, m->client_secret,
                                    m->redirect_uri);
    char *url = linkedin_restli("%s/oauth/v2/accessToken", m->oauth);
    rc = linkedin__send_form(m, linkedin__call(on_token), url, form);
    if (rc < 0)
        gw_ad_notice(ad, "could not reach LinkedIn (%s)", uv_strerror(rc));
    free(url);
    free(form);
    free(code);
    return rc;
}

/* ---- refreshing and expiry ----------------------------------------------- */

static void on_refresh(struct linkedin *m, struct lcall *c,
                       const struct gw_http_response *r)
{
    (void)c;
    m->refreshing = false;
    if (r->error == 0 && r->status >= 200 && r->status < 300 &&
        take_token(m, r) == 0) {
        linkedin__session_restart(m);
        return;
    }
    if (r->error != 0 || r->status >= 500) {
        /* Not LinkedIn's no: the old token may still be good. */
        char *err = linkedin_error_text(r);
        gw_ad_detail(m->ad, "could not renew the sign-in: %s", err);
        free(err);
        if (m->expires_ms == 0 || m->expires_ms > gw_now_ms())
            linkedin__session_restart(m);
        else
            linkedin__signed_out(m, "the LinkedIn sign-in expired and could "
                                    "not be renewed");
        return;
    }
    char *err = linkedin_error_text(r);
    char *why = gw_xasprintf("LinkedIn would not renew the sign-in: %s", err);
    /* The refresh token is spent: only a new sign-in helps. */
    gw_xreplace(&m->refresh, NULL);
    store_setting(m, "refresh_token", NULL);
    store_setting(m, "refresh_expires", NULL);
    linkedin__signed_out(m, why);
    free(why);
    free(err);
}

bool linkedin__try_refresh(struct linkedin *m)
{
    if (m->refreshing)
        return true;
    if (m->refresh == NULL || m->client_id == NULL ||
        m->client_secret == NULL ||
        (m->refresh_expires_ms > 0 && m->refresh_expires_ms <= gw_now_ms()))
        return false;
    char *form =
        linkedin_refresh_form(m->refresh, m->client_id, m->client_secret);
    char *url = linkedin_restli("%s/oauth/v2/accessToken", m->oauth);
    m->refreshing = true;
    m->signed_in = false;
    linkedin__poll_stop(m);
    gw_ad_not_ready(m->ad, false, "renewing the LinkedIn sign-in");
    if (linkedin__send_form(m, linkedin__call(on_refresh), url, form) < 0)
        m->refreshing = false;
    free(url);
    free(form);
    return m->refreshing;
}

static void on_t_expiry(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct linkedin *m = arg;
    m->t_expiry = NULL;
    linkedin__expiry_check(m);
}

/* Once a UTC day at most, and not again after a restart the same day. */
static void warn_once_a_day(struct linkedin *m, const char *what, int64_t ends)
{
    char today[16], day[16], *last = NULL;
    int64_t now = gw_now_ms();
    linkedin_format_day(now, today, sizeof(today));
    if (gw_ad_cursor_get(m->ad, "expiry_warned", &last) == 0 &&
        strcmp(last, today) == 0) {
        free(last);
        return;
    }
    free(last);
    linkedin_format_day(ends, day, sizeof(day));
    long days = (long)((ends - now + DAY_MS - 1) / DAY_MS);
    char in[32] = "in less than a day";
    if (days > 1)
        snprintf(in, sizeof(in), "in %ld days", days);
    gw_ad_notice(m->ad,
                 "%s ends on %s (%s): run \"account login %s\" before then, "
                 "as an administrator of the Page",
                 what, day, in, linkedin__name(m));
    gw_ad_cursor_set(m->ad, "expiry_warned", today);
}

void linkedin__expiry_check(struct linkedin *m)
{
    gw_ad_timer_clear(&m->t_expiry);
    if (m->expires_ms <= 0 || m->signed_out)
        return;
    int64_t now = gw_now_ms();
    int64_t left = m->expires_ms - now;
    bool refresh_ok = m->refresh != NULL && (m->refresh_expires_ms <= 0 ||
                                             m->refresh_expires_ms > now);
    if (left < WEEK_MS) {
        if (refresh_ok && linkedin__try_refresh(m))
            return;
        warn_once_a_day(m, "the LinkedIn sign-in", m->expires_ms);
    } else if (refresh_ok && m->refresh_expires_ms > 0 &&
               m->refresh_expires_ms - now < WEEK_MS) {
        /* Refreshing never extends the refresh token itself. */
        warn_once_a_day(m, "the renewal of the LinkedIn sign-in",
                        m->refresh_expires_ms);
    }
    /* Look again tomorrow, or when the last week begins. */
    int64_t next = left > WEEK_MS ? left - WEEK_MS : DAY_MS;
    if (next > DAY_MS)
        next = DAY_MS;
    gw_ad_timer_set(m->ad, &m->t_expiry, (uint64_t)(next > 1000 ? next : 1000),
                    on_t_expiry, m);
}
