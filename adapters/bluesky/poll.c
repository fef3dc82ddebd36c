/*
 * Notifications in: listNotifications, polled. There is no push channel
 * for them, and the cursor pages backwards in time, so the position kept
 * is a high-water mark: the newest notification delivered (its indexedAt
 * and URI). A poll reads the newest page; when every item on it is newer
 * than the mark, it reads older pages until it reaches the mark. Items of
 * the newest page that the store has not seen are delivered even when they
 * sort below the mark: a post's indexedAt can be its own (earlier)
 * createdAt, and such a post would otherwise never be shown.
 *
 * One request per account per poll when nothing older is missing.
 */
#include "bluesky_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define PAGE_LIMIT 50
/* Beyond this many pages since the last poll the oldest are skipped, with
 * a notice: 500 notifications is a day off for a popular account. */
#define PAGES_MAX 10

void bluesky__poll_load(struct bsky *b)
{
    char *v = NULL;
    if (gw_ad_cursor_get(b->ad, CURSOR_NOTIF, &v) == 0 && v != NULL) {
        char *sp = strchr(v, ' ');
        long long ms = 0;
        if (sp != NULL) {
            *sp = '\0';
            char *end = NULL;
            ms = strtoll(v, &end, 10);
            if (end != NULL && *end == '\0' && ms > 0 &&
                strncmp(sp + 1, "at://", 5) == 0) {
                b->hwm_ms = ms;
                bluesky__replace(&b->hwm_uri, sp + 1);
            }
        }
    }
    free(v);
}

static void pages_free(struct bsky *b)
{
    for (int i = 0; i < b->npages; i++)
        cJSON_Delete(b->pages[i]);
    free(b->pages);
    b->pages = NULL;
    b->npages = 0;
}

void bluesky__poll_stop(struct bsky *b)
{
    gw_ad_timer_stop(b->t_poll);
    b->t_poll = NULL;
    b->polling = false;
    pages_free(b);
}

static int64_t item_ms(const cJSON *n)
{
    int64_t ms = 0;
    const char *t = gw_json_str(n, "indexedAt");
    if (t == NULL || gw_parse_time(t, &ms) < 0)
        return 0;
    return ms;
}

/* Newer than the mark? Equal times with another URI count as newer: the
 * store tells the ones it has. */
static bool newer(const struct bsky *b, const cJSON *n)
{
    const char *uri = gw_json_str(n, "uri");
    int64_t ms = item_ms(n);
    if (b->hwm_uri != NULL && uri != NULL && strcmp(uri, b->hwm_uri) == 0)
        return false;
    return ms >= b->hwm_ms;
}

static int mark(struct bsky *b, const cJSON *n)
{
    int64_t ms = item_ms(n);
    const char *uri = gw_json_str(n, "uri");
    if (ms < b->hwm_ms || uri == NULL)
        return 0;
    char *v = gw_xasprintf("%lld %s", (long long)ms, uri);
    int rc = gw_ad_cursor_set(b->ad, CURSOR_NOTIF, v);
    free(v);
    if (rc < 0)
        return rc;
    b->hwm_ms = ms;
    bluesky__replace(&b->hwm_uri, uri);
    return 0;
}

static void on_t_poll(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct bsky *b = arg;
    b->t_poll = NULL;
    bluesky__poll_start(b);
}

static long interval(const struct bsky *b)
{
    if (b->active_until_ms > gw_now_ms() && b->poll_ms > ACTIVE_POLL_MS)
        return ACTIVE_POLL_MS;
    return b->poll_ms;
}

static void poll_end(struct bsky *b, bool ok, long retry_ms)
{
    b->polling = false;
    pages_free(b);
    if (!b->signed_in)
        return;
    bool active = b->active_until_ms > gw_now_ms();
    if (b->polls++ % CHAT_EVERY == 0 || active)
        bluesky__chat_poll(b);
    long d = interval(b);
    if (ok) {
        gw_backoff_reset(&b->poll_backoff);
    } else {
        d = gw_backoff_next(&b->poll_backoff);
        if (retry_ms > d)
            d = retry_ms;
    }
    bluesky__timer(b, &b->t_poll, (uint64_t)d, on_t_poll);
}

struct cand {
    const cJSON *n;
    int64_t ms;
    int order; /* position in the fetch: later is older */
};

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *c = pb;
    if (a->ms != c->ms)
        return a->ms < c->ms ? -1 : 1;
    return a->order > c->order ? -1 : a->order < c->order;
}

/* Deliver what the pages hold, oldest first; the mark moves with each
 * item in the same transaction. false when the store refused one. */
static bool deliver_pages(struct bsky *b)
{
    int total = 0;
    for (int p = 0; p < b->npages; p++)
        total += cJSON_GetArraySize(gw_json_arr(b->pages[p], "notifications"));
    if (total == 0)
        return true;
    struct cand *cs = gw_xcalloc((size_t)total, sizeof(*cs));
    int n = 0, order = 0;
    for (int p = 0; p < b->npages; p++) {
        const cJSON *it;
        cJSON_ArrayForEach(it, gw_json_arr(b->pages[p], "notifications"))
        {
            order++;
            const char *uri = gw_json_str(it, "uri");
            if (uri == NULL || (p > 0 && !newer(b, it)) ||
                gw_ad_seen(b->ad, uri))
                continue;
            cs[n].n = it;
            cs[n].ms = item_ms(it);
            cs[n].order = order;
            n++;
        }
    }
    qsort(cs, (size_t)n, sizeof(*cs), cand_cmp);
    bool ok = true;
    int unreadable = 0;
    char first_bad[128] = "";
    gw_ad_batch_begin(b->ad);
    for (int i = 0; i < n && ok; i++) {
        struct bluesky_event e;
        int rc = bluesky_notification_to_event(cs[i].n, b->cdn, &e);
        if (rc == 0 && gw_ad_deliver(b->ad, &e.ev) < 0)
            ok = false;
        if (rc < 0 && unreadable++ == 0)
            snprintf(first_bad, sizeof(first_bad), "%s",
                     gw_json_str(cs[i].n, "uri"));
        bluesky_event_free(&e);
        if (ok && mark(b, cs[i].n) < 0)
            ok = false;
    }
    gw_ad_batch_end(b->ad);
    free(cs);
    if (unreadable > 0)
        gw_ad_notice(b->ad,
                     "%d notification%s could not be read (a missing author "
                     "or record, or the wrong types) and %s skipped: %s",
                     unreadable, unreadable > 1 ? "s" : "",
                     unreadable > 1 ? "were" : "was", first_bad);
    if (!ok)
        gw_ad_detail(b->ad, "could not store a notification; will retry");
    return ok;
}

static void poll_page(struct bsky *b, const char *cursor);

static void on_page(struct bsky *b, struct bcall *c,
                    const struct gw_http_response *r)
{
    (void)c;
    if (!b->polling)
        return;
    if (bluesky_map_status(r) != GW_ACT_OK) {
        char *err = bluesky_error_text(r);
        gw_ad_detail(b->ad, "reading notifications failed: %s", err);
        free(err);
        poll_end(b, false, gw_ad_retry_after_ms(r));
        return;
    }
    cJSON *j = bluesky__body(r);
    const cJSON *items = gw_json_arr(j, "notifications");
    if (items == NULL) {
        cJSON_Delete(j);
        gw_ad_detail(b->ad, "reading notifications: the answer has no list");
        poll_end(b, false, 0);
        return;
    }
    b->pages = gw_xrealloc(b->pages, (size_t)(b->npages + 1) * sizeof(cJSON *));
    b->pages[b->npages++] = j;
    bool all_newer = cJSON_GetArraySize(items) > 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        if (!newer(b, it))
            all_newer = false;
    }
    const char *cursor = gw_json_str(j, "cursor");
    if (b->hwm_ms > 0 && all_newer && cursor != NULL && *cursor != '\0') {
        if (b->npages < PAGES_MAX) {
            poll_page(b, cursor);
            return;
        }
        gw_ad_notice(b->ad,
                     "more than %d notifications since the last look; the "
                     "oldest of them are not shown",
                     PAGES_MAX * PAGE_LIMIT);
    }
    poll_end(b, deliver_pages(b), 0);
}

static void poll_page(struct bsky *b, const char *cursor)
{
    char *path;
    if (cursor != NULL) {
        char *enc = gw_urlencode(cursor);
        path = gw_xasprintf("app.bsky.notification.listNotifications?limit=%d"
                            "&cursor=%s",
                            PAGE_LIMIT, enc);
        free(enc);
    } else {
        path = gw_xasprintf("app.bsky.notification.listNotifications?limit=%d",
                            PAGE_LIMIT);
    }
    int rc = bluesky__xrpc(b, bluesky__call(on_page), HOST_PDS, AUTH_ACCESS,
                           FAM_READ, "GET", path, NULL);
    free(path);
    if (rc < 0) {
        gw_ad_detail(b->ad, "could not start a request");
        poll_end(b, false, 0);
    }
}

void bluesky__poll_active(struct bsky *b)
{
    b->active_until_ms = gw_now_ms() + ACTIVE_FOR_MS;
    if (b->poll_ms > ACTIVE_POLL_MS && b->signed_in && !b->polling)
        bluesky__timer(b, &b->t_poll, ACTIVE_POLL_MS, on_t_poll);
}

void bluesky__poll_start(struct bsky *b)
{
    if (!b->signed_in || b->signed_out || b->polling)
        return;
    gw_ad_timer_stop(b->t_poll);
    b->t_poll = NULL;
    b->polling = true;
    poll_page(b, NULL);
}
