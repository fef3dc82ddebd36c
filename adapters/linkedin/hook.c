/*
 * LinkedIn's webhooks on the gateway's [webhook] listener: the validation
 * GET (challengeCode, answered with the HMAC of the client secret), POSTs
 * signed with X-LI-Signature, and the notifications they carry handed to
 * the poller's queue (linkedin__notes_take), so that a comment pushed and
 * the same comment polled are one event, de-duplicated by notificationId.
 *
 * A POST is answered 200 only once every note it carried has been handled
 * (read, delivered, remembered in the window) and committed; if the run
 * that handles them fails, 503, and LinkedIn or the next poll brings them
 * again. A job waits for the ids of its notes, not for positions in the
 * queue: a poll and a webhook may carry the same note, and whichever
 * handles it first answers for both.
 */
#include "linkedin_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

/* One POST waiting for its notes. A body is at most GW_WEBHOOK_BODY_MAX
 * and no notification is smaller than 64 bytes, so ids never outgrow
 * what the body itself holds. */
struct linkedin_hook {
    struct linkedin_hook *next;
    struct linkedin *m;
    struct gw_webhook_req *rq;
    char (*ids)[24]; /* notificationIds not yet handled */
    int nids;
    bool committing; /* all handled: waiting for the store */
};

static void respond(struct gw_webhook_req *rq, int status, const char *type,
                    const char *text)
{
    gw_ad_webhook_respond(rq, status, type, text, strlen(text));
}

static void hook_unlink(struct linkedin_hook *h)
{
    struct linkedin_hook **pp = &h->m->hooks;
    while (*pp != NULL && *pp != h)
        pp = &(*pp)->next;
    if (*pp == h)
        *pp = h->next;
    free(h->ids);
    free(h);
}

static void on_committed(struct gw_adapter *ad, void *arg, int rc)
{
    (void)ad;
    struct linkedin_hook *h = arg;
    if (rc == 0) {
        respond(h->rq, 200, "text/plain; charset=utf-8", "OK");
    } else {
        gw_ad_detail(h->m->ad,
                     "webhook: the store failed (%s); answered 503 so that "
                     "LinkedIn sends it again",
                     uv_strerror(rc));
        respond(h->rq, 503, "text/plain; charset=utf-8",
                "not stored; send it again");
    }
    hook_unlink(h);
}

static void hook_commit(struct linkedin_hook *h)
{
    h->committing = true;
    gw_ad_after_commit(h->m->ad, on_committed, h);
}

void linkedin__hook_note_done(struct linkedin *m, const char *id)
{
    struct linkedin_hook *next;
    for (struct linkedin_hook *h = m->hooks; h != NULL; h = next) {
        next = h->next;
        if (h->committing)
            continue;
        for (int i = 0; i < h->nids; i++) {
            if (strcmp(h->ids[i], id) == 0) {
                memmove(h->ids[i], h->ids[i + 1],
                        sizeof(*h->ids) * (size_t)(h->nids - i - 1));
                h->nids--;
                break;
            }
        }
        if (h->nids == 0)
            hook_commit(h);
    }
}

void linkedin__hooks_fail(struct linkedin *m, const char *why)
{
    struct linkedin_hook *next;
    for (struct linkedin_hook *h = m->hooks; h != NULL; h = next) {
        next = h->next;
        if (h->committing)
            continue;
        gw_ad_detail(m->ad,
                     "webhook: %s; answered 503 so that LinkedIn sends "
                     "it again",
                     why);
        respond(h->rq, 503, "text/plain; charset=utf-8", why);
        hook_unlink(h);
    }
}

/* The account stops: the listener has answered what waited already. */
void linkedin__hooks_free(struct linkedin *m)
{
    while (m->hooks != NULL)
        hook_unlink(m->hooks);
}

/* The notes of this Page that the window has not handled yet; the others
 * are counted in *foreign (another Page of the same app) and dropped. */
static int keep_ours(struct linkedin *m, struct linkedin_note *notes, int n,
                     int *foreign)
{
    int k = 0;
    *foreign = 0;
    for (int i = 0; i < n; i++) {
        if (notes[i].org == NULL || strcmp(notes[i].org, m->org) != 0) {
            (*foreign)++;
            linkedin_note_free(&notes[i]);
            continue;
        }
        notes[k++] = notes[i];
    }
    return k;
}

static int on_post(struct linkedin *m, struct gw_webhook_req *rq)
{
    size_t len = 0;
    const char *body = gw_webhook_body(rq, &len);
    if (!linkedin_webhook_verify(body, len,
                                 gw_webhook_header(rq, "x-li-signature"),
                                 m->client_secret))
        return 0; /* not signed with this account's client secret */
    struct linkedin_note *notes = NULL;
    int bad = 0;
    int n = linkedin_webhook_parse(body, len, &notes, &bad);
    if (n < 0) {
        gw_ad_detail(m->ad, "webhook: a signed body that is not a "
                            "notification (answered 400)");
        respond(rq, 400, "text/plain; charset=utf-8",
                "not an organization social action notification");
        return 1;
    }
    if (bad > 0)
        gw_ad_detail(m->ad, "webhook: skipped %d malformed notification%s", bad,
                     bad == 1 ? "" : "s");
    int foreign = 0;
    n = keep_ours(m, notes, n, &foreign);
    if (foreign > 0)
        gw_ad_detail(m->ad,
                     "webhook: %d notification%s for another Page than %s",
                     foreign, foreign == 1 ? "" : "s", m->org);
    if (!m->signed_in) {
        /* Nothing can be read now. LinkedIn keeps notifications for 60
         * days and the window covers them: the first poll once signed in
         * reads them, so a redelivery would add nothing. */
        linkedin_notes_free(notes, n);
        gw_ad_detail(m->ad, "webhook: not signed in; the next poll reads "
                            "what it carried");
        respond(rq, 200, "text/plain; charset=utf-8", "OK");
        return 1;
    }
    struct linkedin_hook *h = gw_xcalloc(1, sizeof(*h));
    h->m = m;
    h->rq = rq;
    h->ids = gw_xcalloc((size_t)n + 1, sizeof(*h->ids));
    for (int i = 0; i < n; i++)
        if (!linkedin_window_seen(&m->win, notes[i].id))
            gw_strlcpy(h->ids[h->nids++], notes[i].id, sizeof(*h->ids));
    h->next = m->hooks;
    m->hooks = h;
    if (h->nids == 0) {
        /* All handled before (a redelivery, or polled first): 200 once
         * what handled them is committed. */
        linkedin_notes_free(notes, n);
        hook_commit(h);
        return 1;
    }
    linkedin__notes_take(m, notes, n);
    return 1;
}

static int on_hook(struct gw_adapter *ad, void *arg, struct gw_webhook_req *rq)
{
    (void)ad;
    struct linkedin *m = arg;
    const char *method = gw_webhook_method(rq);
    if (m->client_secret == NULL)
        return 0;
    if (strcmp(method, "GET") == 0) {
        const char *code = gw_webhook_query(rq, "challengeCode");
        char *json = code != NULL
                         ? linkedin_webhook_challenge(code, m->client_secret)
                         : NULL;
        if (json == NULL)
            return 0;
        gw_ad_detail(m->ad, "LinkedIn validated the webhook");
        respond(rq, 200, "application/json", json);
        free(json);
        return 1;
    }
    if (strcmp(method, "POST") == 0)
        return on_post(m, rq);
    return 0;
}

void linkedin__hook_register(struct linkedin *m)
{
    if (m->hooked)
        return;
    if (linkedin_webhook_path(linkedin__name(m),
                              gw_ad_network_accounts(m->ad) > 1, m->hook_path,
                              sizeof(m->hook_path)) < 0) {
        gw_ad_notice(m->ad,
                     "webhook not registered: the account name %s cannot "
                     "be a path (letters, digits, - and _ only)",
                     linkedin__name(m));
        return;
    }
    int rc = gw_ad_webhook(m->ad, m->hook_path, on_hook, m);
    if (rc == UV_ENOTSUP)
        return; /* no [webhook]: polling only */
    if (rc < 0) {
        gw_ad_notice(m->ad, "webhook not registered: %s", uv_strerror(rc));
        return;
    }
    m->hooked = true;
    if (m->client_secret == NULL)
        gw_ad_notice(m->ad, "webhooks need client_secret (LinkedIn signs "
                            "with it); until it is set every delivery is "
                            "refused");
    /* Webhooks carry the news now: the poller becomes a safety net. */
    if (!m->poll_set)
        m->poll_ms = LINKEDIN_POLL_HOOKED_S * 1000L;
    char *url = gw_ad_webhook_url(m->ad, m->hook_path);
    gw_ad_detail(m->ad, "webhook at %s", url != NULL ? url : m->hook_path);
    free(url);
}
