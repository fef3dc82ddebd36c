/*
 * The LinkedIn account's runtime: requests (every one carries the pinned
 * LinkedIn-Version and X-Restli-Protocol-Version: 2.0.0), signing in as the
 * Page, what an answer means for the whole account (a refused token, a
 * sunset API version, a 429 without any reset time), settings, status and
 * the ops table. Requests, timers and holds go through the adapter runtime
 * (adapter.h).
 */
#include "linkedin_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define API_BASE   "https://api.linkedin.com"
#define OAUTH_BASE "https://www.linkedin.com"

/* poll_seconds: the Development tier grants an app 500 calls a day and a
 * member 100; a poll costs one call plus two per new comment, so the
 * default polls every five minutes. */
#define POLL_MIN_S     5
#define POLL_MAX_S     86400
#define POLL_DEFAULT_S 300

#define BACKOFF_MIN_MS 5000
#define BACKOFF_MAX_MS 3600000
/* A refused API version does not come back by itself; look again now and
 * then in case LinkedIn's answer was a mistake. */
#define VERSION_RETRY_MS (6 * 3600000LL)

/* ---- small helpers ------------------------------------------------------- */

const char *linkedin__name(const struct linkedin *m)
{
    return m->ad->name != NULL ? m->ad->name : "linkedin";
}

cJSON *linkedin__body(const struct gw_http_response *r)
{
    if (r == NULL || r->error != 0 || r->body == NULL || r->body_len == 0)
        return NULL;
    return cJSON_ParseWithLength(r->body, r->body_len);
}

/* ---- limits -------------------------------------------------------------- */

static struct limit *limit_of(struct linkedin *m, const char *family)
{
    for (int i = 0; i < NFAMS; i++)
        if (strcmp(m->fams[i], family) == 0)
            return &m->limits[i];
    return &m->limits[0];
}

int64_t linkedin__held_until(const struct linkedin *m, const char *family)
{
    for (int i = 0; i < NFAMS; i++)
        if (strcmp(m->fams[i], family) == 0)
            return m->limits[i].until > gw_now_ms() ? m->limits[i].until : 0;
    return 0;
}

/*
 * A 429. LinkedIn publishes no rate-limit headers and no Retry-After: its
 * limits are per endpoint and day, reset at 00:00 UTC. So the family is
 * held and probed, first after a poll interval, then twice as long each
 * time, never past midnight UTC; a 429 that names the daily limit holds
 * until midnight at once.
 */
static void limited(struct linkedin *m, const char *family,
                    const struct gw_http_response *r)
{
    int64_t now = gw_now_ms();
    int64_t midnight = linkedin_next_utc_midnight(now);
    struct limit *l = limit_of(m, family);
    long step = l->step_ms > 0 ? l->step_ms * 2 : m->poll_ms;
    if (step > BACKOFF_MAX_MS * 24)
        step = BACKOFF_MAX_MS * 24;
    l->step_ms = step;
    int64_t until = linkedin_day_limit(r) ? midnight : now + step;
    if (until > midnight)
        until = midnight;
    l->until = until;
    char at[32], why[96];
    gw_format_time(until, at, sizeof(at));
    snprintf(why, sizeof(why),
             "429 (LinkedIn names no reset): next probe %.5s UTC, daily "
             "reset 00:00 UTC",
             at + 11);
    gw_ad_hold(m->ad, family, until, why);
}

static void limit_clear(struct linkedin *m, const char *family)
{
    struct limit *l = limit_of(m, family);
    l->step_ms = 0;
    l->until = 0;
}

/* ---- requests ------------------------------------------------------------ */

struct lcall *linkedin__call(lcall_done_cb done)
{
    struct lcall *c = gw_xcalloc(1, sizeof(*c));
    c->done = done;
    return c;
}

static void call_free(void *arg)
{
    struct lcall *c = arg;
    for (size_t i = 0; i < GW_ARRAY_LEN(c->s); i++)
        free(c->s[i]);
    free(c);
}

static void on_http(struct gw_adapter *ad, void *arg,
                    const struct gw_http_response *r)
{
    struct lcall *c = arg;
    struct linkedin *m = ad->priv;
    if (r->error == 0 && r->status >= 200 && r->status < 300)
        limit_clear(m, c->family);
    /* A session's answers arriving after a new sign-in (a new token) are
     * stale: a 401 there says nothing about the new token. Actions always
     * hear back: their outbox item waits for it. */
    if (c->is_action || c->sessionless || c->gen == m->gen)
        c->done(m, c, r);
    call_free(c);
}

static int request(struct linkedin *m, struct lcall *c, const char *family,
                   const char *method, const char *url, const char *body,
                   const char *content_type, const char *const *hdrs)
{
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
    gw_strlcpy(c->family, family, sizeof(c->family));
    c->gen = m->gen;
    int rc = gw_ad_request(m->ad, &rq, on_http, c);
    if (rc < 0)
        call_free(c);
    return rc;
}

int linkedin__send(struct linkedin *m, struct lcall *c, const char *family,
                   const char *method, const char *url, const char *body)
{
    const char *hdrs[] = {
        m->auth_hdr != NULL ? m->auth_hdr : "Authorization: Bearer -",
        "LinkedIn-Version: " LINKEDIN_VERSION,
        "X-Restli-Protocol-Version: 2.0.0",
        NULL,
    };
    return request(m, c, family, method, url, body,
                   body != NULL ? "application/json" : NULL, hdrs);
}

int linkedin__send_form(struct linkedin *m, struct lcall *c, const char *url,
                        const char *form)
{
    const char *hdrs[] = {NULL};
    c->sessionless = true;
    return request(m, c, FAM_AUTH, "POST", url, form,
                   "application/x-www-form-urlencoded", hdrs);
}

/* ---- what an answer means for the account -------------------------------- */

/* The token was refused: say so once and stop every retry. Actions wait in
 * the outbox until someone signs in again. */
void linkedin__signed_out(struct linkedin *m, const char *why)
{
    if (m->signed_out)
        return;
    m->signed_out = true;
    m->signed_in = false;
    gw_ad_timer_clear(&m->t_signin);
    linkedin__poll_stop(m);
    gw_ad_detail(m->ad, "%s", why);
    char *nr = gw_xasprintf("%s; run account login %s", why, linkedin__name(m));
    gw_ad_not_ready(m->ad, true, nr);
    free(nr);
    gw_ad_notice(m->ad, "%s; run \"account login %s\"", why, linkedin__name(m));
}

static void signin_start(struct linkedin *m);

static void on_t_signin(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct linkedin *m = arg;
    m->t_signin = NULL;
    signin_start(m);
}

static void version_refused(struct linkedin *m,
                            const struct gw_http_response *r)
{
    /* Asked again later in any case; said once. */
    gw_ad_timer_set(m->ad, &m->t_signin, VERSION_RETRY_MS, on_t_signin, m);
    if (m->version_bad)
        return;
    char *err = linkedin_error_text(r);
    m->version_bad = true;
    m->signed_in = false;
    linkedin__poll_stop(m);
    char *why = gw_xasprintf("LinkedIn refuses API version %s, which this "
                             "Parley speaks (%s): it needs a newer Parley",
                             LINKEDIN_VERSION, err);
    gw_ad_detail(m->ad, "%s", why);
    gw_ad_not_ready(m->ad, true, why);
    gw_ad_notice(m->ad, "%s; nothing is read or sent until then", why);
    free(why);
    free(err);
}

bool linkedin__account_trouble(struct linkedin *m, struct lcall *c,
                               const struct gw_http_response *r)
{
    if (r->error != 0)
        return false;
    if (r->status == 401) {
        if (!c->sessionless && c->gen != m->gen)
            return true; /* sent with a token replaced since */
        char code[64];
        linkedin_error_code(r, code, sizeof(code));
        if (strcmp(code, "EXPIRED_ACCESS_TOKEN") == 0 &&
            linkedin__try_refresh(m))
            return true;
        char *err = linkedin_error_text(r);
        char *why = gw_xasprintf("LinkedIn refused the token: %s", err);
        linkedin__signed_out(m, why);
        free(why);
        free(err);
        return true;
    }
    if (linkedin_version_refused(r)) {
        version_refused(m, r);
        return true;
    }
    if (r->status == 429) {
        limited(m, c->family, r);
        return true;
    }
    return false;
}

/* ---- signing in ---------------------------------------------------------- */

static void signin_retry(struct linkedin *m, const char *why)
{
    m->signin_failures++;
    gw_ad_detail(m->ad, "cannot sign in: %s", why);
    gw_ad_not_ready(m->ad, false, why);
    /* Loud at first (someone may be watching), then ever more rarely. */
    if ((m->signin_failures & (m->signin_failures - 1)) == 0)
        gw_ad_notice(m->ad, "cannot sign in: %s; retrying", why);
    gw_ad_timer_set(m->ad, &m->t_signin,
                    (uint64_t)gw_backoff_next(&m->signin_backoff), on_t_signin,
                    m);
}

static void on_org(struct linkedin *m, struct lcall *c,
                   const struct gw_http_response *r)
{
    if (linkedin__account_trouble(m, c, r)) {
        if (r->status == 429)
            signin_start(m); /* waits in the runtime for the probe */
        return;
    }
    if (r->error != 0 || r->status < 200 || r->status >= 300) {
        char *err = linkedin_error_text(r);
        char *why =
            r->status == 403
                ? gw_xasprintf("the signed-in member may not manage %s "
                               "(an ADMINISTRATOR of the Page must sign "
                               "in): %s",
                               m->org, err)
                : gw_xasprintf("%s", err);
        signin_retry(m, why);
        free(why);
        free(err);
        return;
    }
    cJSON *j = linkedin__body(r);
    struct linkedin_person org;
    if (linkedin_person_parse(j, m->org, &org) < 0)
        linkedin_person_fallback(m->org, &org);
    cJSON_Delete(j);
    gw_xreplace(&m->me_name, org.name);
    gw_xreplace(&m->me_handle, org.handle);
    linkedin__person_keep(m, &org, false);
    linkedin_person_free(&org);
    m->signed_in = true;
    m->version_bad = false;
    gw_ad_detail(m->ad, "%s", "");
    if (m->announce || m->signin_failures > 0)
        gw_ad_notice(m->ad, "signed in as the Page %s (%s)", m->me_name,
                     m->me_handle);
    m->announce = false;
    m->signin_failures = 0;
    gw_backoff_reset(&m->signin_backoff);
    gw_ad_ready(m->ad, m->org, m->me_handle);
    linkedin__hook_register(m);
    linkedin__expiry_check(m);
    linkedin__poll_start(m);
}

static void signin_start(struct linkedin *m)
{
    if (m->signed_out)
        return;
    gw_ad_timer_clear(&m->t_signin);
    char *url = linkedin_restli("%s/rest/organizations/%u", m->api, m->org_id);
    if (linkedin__send(m, linkedin__call(on_org), FAM_READ, "GET", url, NULL) <
        0)
        signin_retry(m, "could not start a request");
    free(url);
}

void linkedin__set_token(struct linkedin *m, const char *token)
{
    gw_xreplace(&m->token, token);
    free(m->auth_hdr);
    m->auth_hdr = gw_xasprintf("Authorization: Bearer %s", token);
}

/* A new token: drop everything of the old session and sign in again. */
void linkedin__session_restart(struct linkedin *m)
{
    m->gen++;
    gw_ad_timer_clear(&m->t_signin);
    linkedin__poll_stop(m);
    m->signed_in = false;
    m->signed_out = false;
    m->version_bad = false;
    m->signin_failures = 0;
    gw_backoff_reset(&m->signin_backoff);
    gw_ad_detail(m->ad, "%s", "");
    gw_ad_not_ready(m->ad, false, "signing in");
    signin_start(m);
}

/* ---- settings ------------------------------------------------------------ */

/* "urn:li:organization:N" to N; NULL when it is not that. */
static char *org_id_of(const char *urn)
{
    static const char pfx[] = "urn:li:organization:";
    if (urn == NULL || strncmp(urn, pfx, sizeof(pfx) - 1) != 0)
        return NULL;
    const char *id = urn + sizeof(pfx) - 1;
    size_t n = strlen(id);
    if (n == 0 || n > 19 || strspn(id, "0123456789") != n)
        return NULL;
    return gw_xstrdup(id);
}

/* An http(s) base URL without its trailing '/'; NULL when not one. */
/* The common keys (streaming, poll_seconds, tls_verify, ...) are checked
 * by the core already. */
static int check_setting(const char *key, const char *value, char *err,
                         size_t errlen)
{
    if (key == NULL)
        return 0;
    if (value == NULL)
        value = "";
    if (strcmp(key, "organization") == 0) {
        char *id = org_id_of(value);
        free(id);
        if (id == NULL)
            return gw_setting_fail(
                err, errlen,
                "organization must be urn:li:organization:N, "
                "N the number in the address of the Page's "
                "admin view");
    } else if (strcmp(key, "api_base") == 0 || strcmp(key, "oauth_base") == 0 ||
               strcmp(key, "redirect_uri") == 0) {
        char *b = gw_text_base_url(value);
        free(b);
        if (b == NULL)
            return gw_setting_fail(err, errlen,
                                   "must be an http:// or https:// address");
    } else if (strcmp(key, "token") == 0 || strcmp(key, "client_id") == 0 ||
               strcmp(key, "client_secret") == 0) {
        if (!gw_printable_word(value, 4096))
            return gw_setting_fail(err, errlen,
                                   "must be printable characters without "
                                   "spaces");
    } else if (strcmp(key, "post_plain") == 0) {
        if (gw_strcasecmp(value, "yes") == 0 ||
            gw_strcasecmp(value, "true") == 0 ||
            gw_strcasecmp(value, "on") == 0 || strcmp(value, "1") == 0)
            return gw_setting_fail(
                err, errlen,
                "post_plain must be no for LinkedIn: Parley "
                "answers comments and mentions of a Page, it "
                "makes no new posts");
    }
    return 0;
}

/* A stored time in epoch ms (oauth.c writes them), 0 when absent. */
static int64_t setting_ms(struct gw_adapter *ad, const char *key)
{
    long v = 0;
    const char *s = gw_ad_setting(ad, key);
    if (s == NULL || gw_parse_long(s, 0, LONG_MAX, &v) < 0)
        return 0;
    return (int64_t)v;
}

/* ---- ops ----------------------------------------------------------------- */

static void priv_free(struct linkedin *m)
{
    free(m->api);
    free(m->oauth);
    free(m->org);
    free(m->org_id);
    free(m->client_id);
    free(m->client_secret);
    free(m->redirect_uri);
    free(m->token);
    free(m->auth_hdr);
    free(m->refresh);
    free(m->ca_file);
    free(m->me_name);
    free(m->me_handle);
    linkedin__hooks_free(m);
    linkedin__poll_stop(m);
    linkedin_window_free(&m->win);
    for (int i = 0; i < m->npeople; i++)
        linkedin_person_free(&m->people[i].p);
    free(m);
}

static char *setting_dup(struct gw_adapter *ad, const char *key)
{
    const char *v = gw_ad_setting(ad, key);
    return v != NULL && *v != '\0' ? gw_xstrdup(v) : NULL;
}

static int linkedin_start(struct gw_adapter *ad)
{
    const char *org = gw_ad_setting(ad, "organization");
    char *org_id = org_id_of(org);
    if (org_id == NULL) {
        gw_ad_notice(ad, "no Page: set organization=urn:li:organization:N "
                         "(N is in the address of the Page's admin view)");
        return UV_EINVAL;
    }
    struct linkedin *m = gw_xcalloc(1, sizeof(*m));
    m->ad = ad;
    ad->priv = m;
    m->org = gw_xstrdup(org);
    m->org_id = org_id;
    m->fams[0] = FAM_NOTES;
    m->fams[1] = FAM_READ;
    m->fams[2] = FAM_WRITE;
    m->fams[3] = FAM_AUTH;
    const char *api = gw_ad_setting(ad, "api_base");
    const char *oauth = gw_ad_setting(ad, "oauth_base");
    m->api = gw_text_base_url(api != NULL ? api : API_BASE);
    m->oauth = gw_text_base_url(oauth != NULL ? oauth : OAUTH_BASE);
    if (m->api == NULL)
        m->api = gw_xstrdup(API_BASE);
    if (m->oauth == NULL)
        m->oauth = gw_xstrdup(OAUTH_BASE);
    m->client_id = setting_dup(ad, "client_id");
    m->client_secret = setting_dup(ad, "client_secret");
    m->redirect_uri = setting_dup(ad, "redirect_uri");
    m->ca_file = setting_dup(ad, "tls_ca");
    const char *tv = gw_ad_setting(ad, "tls_verify");
    m->insecure = tv != NULL && gw_strcasecmp(tv, "no") == 0;
    long poll = POLL_DEFAULT_S;
    const char *ps = gw_ad_setting(ad, "poll_seconds");
    m->poll_set =
        ps != NULL && gw_parse_long(ps, POLL_MIN_S, POLL_MAX_S, &poll) == 0;
    if (!m->poll_set)
        poll = POLL_DEFAULT_S;
    m->poll_ms = poll * 1000;
    m->signin_backoff.min_ms = BACKOFF_MIN_MS;
    m->signin_backoff.max_ms = BACKOFF_MAX_MS;
    m->poll_backoff.min_ms = BACKOFF_MIN_MS;
    m->poll_backoff.max_ms =
        m->poll_ms < BACKOFF_MAX_MS ? m->poll_ms : BACKOFF_MAX_MS;
    gw_ad_mode(ad, "polling");

    char *cur = NULL;
    if (gw_ad_cursor_get(ad, "window", &cur) == 0 &&
        linkedin_window_parse(cur, &m->win) < 0)
        gw_ad_notice(ad, "the stored polling window was unreadable; "
                         "starting a new one");
    free(cur);

    const char *token = gw_ad_setting(ad, "token");
    m->expires_ms = setting_ms(ad, "token_expires");
    m->refresh = setting_dup(ad, "refresh_token");
    m->refresh_expires_ms = setting_ms(ad, "refresh_expires");
    if (token == NULL || *token == '\0' || !gw_printable_word(token, 4096)) {
        linkedin__signed_out(m, token == NULL || *token == '\0'
                                    ? "not signed in"
                                    : "the token set has spaces or control "
                                      "characters");
        return 0;
    }
    linkedin__set_token(m, token);
    if (m->expires_ms > 0 && m->expires_ms <= gw_now_ms() &&
        !linkedin__try_refresh(m)) {
        char day[16], *why;
        linkedin_format_day(m->expires_ms, day, sizeof(day));
        why = gw_xasprintf("the LinkedIn sign-in expired on %s", day);
        linkedin__signed_out(m, why);
        free(why);
        return 0;
    }
    gw_ad_not_ready(ad, false, "signing in");
    if (!m->refreshing)
        signin_start(m);
    return 0;
}

/* The runtime has cancelled every request, timer and stream already. */
static void linkedin_stop(struct gw_adapter *ad)
{
    if (ad->priv != NULL)
        priv_free(ad->priv);
}

static void linkedin_status(struct gw_adapter *ad, struct gw_adapter_status *st)
{
    struct linkedin *m = ad->priv;
    gw_strlcpy(st->mode,
               !m->signed_in ? "connecting"
                             : (m->hooked ? "webhook+polling" : "polling"),
               sizeof(st->mode));
    size_t n = 0;
    if (m->hooked) {
        char *url = gw_ad_webhook_url(ad, m->hook_path);
        n += (size_t)snprintf(st->detail, sizeof(st->detail), "webhook %s",
                              url != NULL ? url : m->hook_path);
        free(url);
    }
    if (m->expires_ms > 0) {
        char day[16];
        linkedin_format_day(m->expires_ms, day, sizeof(day));
        bool soon = m->expires_ms - gw_now_ms() < WEEK_MS;
        n += (size_t)snprintf(st->detail + n, sizeof(st->detail) - n,
                              "%ssign-in valid until %s%s", n > 0 ? "; " : "",
                              day,
                              m->refresh != NULL ? " (renewed by itself)"
                              : soon             ? ": sign in again before then"
                                                 : "");
    } else if (m->token != NULL) {
        n += (size_t)snprintf(st->detail + n, sizeof(st->detail) - n,
                              "%ssign-in expiry unknown (token set by hand)",
                              n > 0 ? "; " : "");
    }
    for (int i = 0; i < NFAMS && n < sizeof(st->detail); i++) {
        if (m->limits[i].until > gw_now_ms()) {
            snprintf(st->detail + n, sizeof(st->detail) - n,
                     "%sLinkedIn publishes no rate-limit headers: held "
                     "after a 429 and probed, 00:00 UTC at the latest",
                     n > 0 ? "; " : "");
            break;
        }
    }
}

static const char *const linkedin_keys[] = {
    "organization", "client_id",  "client_secret", "redirect_uri", "token",
    "api_base",     "oauth_base", "tls_verify",    NULL,
};

const struct gw_adapter_ops linkedin_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "linkedin",
    .summary = "a LinkedIn Company Page (Community Management API): comments "
               "and mentions, replies and likes; LinkedIn has no public API "
               "for messages, so no DMs: account add NAME linkedin "
               "organization=urn:li:organization:N client_id=.. "
               "client_secret=.. redirect_uri=..",
    .caps = GW_NET_OAUTH,
    .actions = GW_ACT_BIT(GW_ACT_REPLY) | GW_ACT_BIT(GW_ACT_FAV) |
               GW_ACT_BIT(GW_ACT_UNFAV) | GW_ACT_BIT(GW_ACT_DELETE),
    .keys = linkedin_keys,
    .check_setting = check_setting,
    .start = linkedin_start,
    .stop = linkedin_stop,
    .act = linkedin__act,
    .check = linkedin__check,
    .login = linkedin__login,
    .code = linkedin__code,
    .status = linkedin_status,
    .why_not = linkedin__why_not,
};
