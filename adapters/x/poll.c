/*
 * Mentions and DMs in, by polling: X has no stream a user's token may
 * open. A poll reads /2/users/:id/mentions from since_id (every page
 * before anything is shown, oldest first; the cursor moves in the same
 * transaction as the posts), then /2/dm_events down to the newest event
 * already handled (X offers no since_id there). The pace comes from what
 * X's headers say is left of each window and from the account's budget,
 * whichever is slower; a reply asks for a poll soon after, since answers
 * come fast.
 */
#include "x_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define MENTION_PAGES_MAX 8 /* X serves the newest 800 mentions only */
#define DM_PAGES_MAX      4
#define WAKE_MS           5000
#define TWEET_QUERY                                                            \
    "tweet.fields=created_at,author_id,conversation_id,in_reply_to_user_id,"   \
    "referenced_tweets,entities,note_tweet,attachments,withheld"               \
    "&expansions=author_id,referenced_tweets.id,referenced_tweets.id."         \
    "author_id,attachments.media_keys"                                         \
    "&user.fields=username,name,protected"                                     \
    "&media.fields=url,preview_image_url,alt_text,type"
#define DM_QUERY                                                               \
    "event_types=MessageCreate&dm_event.fields=id,text,event_type,"            \
    "created_at,sender_id,dm_conversation_id,attachments,referenced_tweets,"   \
    "entities&expansions=sender_id,attachments.media_keys"                     \
    "&user.fields=username,name,protected"                                     \
    "&media.fields=url,preview_image_url,alt_text,type"

static void poll_mentions(struct xacc *x, const char *next);
static void poll_dms(struct xacc *x, const char *next);
static void poll_end(struct xacc *x, bool ok, long retry_ms);

void x__note_limits(struct xacc *x, const char *family,
                    const struct gw_http_response *r)
{
    if (r->error != 0 || r->ratelimit_remaining < 0 || family == NULL)
        return;
    long lim = -1;
    const char *l = gw_http_response_header(r, "x-rate-limit-limit");
    if (l != NULL && gw_parse_long(l, 0, 1000000000, &lim) < 0)
        lim = -1;
    if (strcmp(family, FAM_MENTIONS) == 0) {
        x->rl_rem_m = r->ratelimit_remaining;
        x->rl_lim_m = lim;
        x->rl_reset_m = r->ratelimit_reset_ms;
    } else if (strcmp(family, FAM_DMS) == 0) {
        x->rl_rem_d = r->ratelimit_remaining;
        x->rl_lim_d = lim;
        x->rl_reset_d = r->ratelimit_reset_ms;
    }
}

/* DM lookups have a window of 15 requests a quarter hour against 300 for
 * mentions: they are read when their own pace says, not every poll. */
static bool dms_due(const struct xacc *x)
{
    return !x->dms_off && gw_now_ms() >= x->dms_due;
}

static void pages_drop(struct xacc *x)
{
    for (int i = 0; i < x->npages; i++)
        cJSON_Delete(x->pages[i]);
    x->npages = 0;
    free(x->newest);
    x->newest = NULL;
}

static void on_t_poll(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct xacc *x = arg;
    x->t_poll = NULL;
    x__poll_start(x);
}

void x__poll_stop(struct xacc *x)
{
    x__timer_stop(&x->t_poll);
    x->polling = false;
    pages_drop(x);
}

void x__poll_start(struct xacc *x)
{
    if (!x->signed_in || x->signed_out || x->polling)
        return;
    x__timer_stop(&x->t_poll);
    x->polling = true;
    x->poll_requests = 0;
    pages_drop(x);
    if (!x->mentions_off)
        poll_mentions(x, NULL);
    else if (dms_due(x))
        poll_dms(x, NULL);
    else
        poll_end(x, true, 0);
}

void x__poll_wake(struct xacc *x)
{
    if (x->polling || !x->signed_in || x->said_low || x->said_spent)
        return;
    x__timer(x, &x->t_poll, WAKE_MS, on_t_poll);
}

/* A failure of one endpoint: the tier that lacks it is said once and the
 * endpoint left alone; anything else is retried with back-off. */
static bool endpoint_failed(struct xacc *x, const struct gw_http_response *r,
                            bool dms)
{
    char *err = x_error_text(r);
    if (r->error == 0 && r->status == 401) {
        char *why = gw_xasprintf("X refused the token (%s)", err);
        x__signed_out(x, why);
        free(why);
        free(err);
        return false;
    }
    if (r->error == 0 && r->status == 403) {
        gw_ad_notice(x->ad,
                     "X does not let this app read %s: %s; Parley stops "
                     "asking for them until you sign in again",
                     dms ? "direct messages" : "mentions", err);
        if (dms)
            x->dms_off = true;
        else
            x->mentions_off = true;
        free(err);
        return true;
    }
    gw_ad_detail(x->ad, "reading %s failed: %s", dms ? "DMs" : "mentions", err);
    free(err);
    return false;
}

static bool poll_send(struct xacc *x, const char *family, const char *url,
                      xcall_done_cb done)
{
    int rc = x__send(x, x__call(done, family, "GET", url));
    if (rc == 0) {
        x->poll_requests++;
        return true;
    }
    if (rc != UV_ENOSPC)
        gw_ad_detail(x->ad, "could not start a request (%s)", uv_strerror(rc));
    poll_end(x, rc == UV_ENOSPC, 0);
    return false;
}

/* ---- mentions ------------------------------------------------------------ */

/* Every page is in: show them oldest first, then move the cursor, all in
 * one transaction. Anything delivered before a crash is delivered again
 * and the store keeps it once. */
static bool mentions_deliver(struct xacc *x)
{
    struct x_me me = x__me(x);
    bool failed = false;
    long posts = 0;
    gw_ad_batch_begin(x->ad);
    for (int p = x->npages - 1; p >= 0 && !failed; p--) {
        const cJSON *page = x->pages[p];
        const cJSON *inc = gw_json_obj(page, "includes");
        const cJSON *errs = gw_json_arr(page, "errors");
        const cJSON **items = NULL;
        int n = x_items_sorted(gw_json_get(page, "data"), &items);
        posts += x_posts_in(page);
        for (int i = 0; i < n && !failed; i++) {
            const char *id = x_json_id(items[i], "id");
            if (x->cur_mentions != NULL && x_id_cmp(id, x->cur_mentions) <= 0)
                continue; /* older than since_id: X or a proxy ignored it */
            struct x_event e;
            int rc = x_post_to_event(items[i], inc, errs, &me, false, &e);
            if (rc == 0)
                failed = gw_ad_deliver(x->ad, &e.ev) < 0;
            x_event_free(&e);
        }
        free(items);
    }
    x->budget.posts_month += posts;
    x->posts_per_poll = (x->posts_per_poll * 3 + (posts > 0 ? posts : 1)) / 4;
    if (x->posts_per_poll < 1)
        x->posts_per_poll = 1;
    if (!failed && x->newest != NULL &&
        (x->cur_mentions == NULL || x_id_cmp(x->newest, x->cur_mentions) > 0)) {
        if (gw_ad_cursor_set(x->ad, CURSOR_MENTIONS, x->newest) < 0)
            failed = true;
        else
            x__replace(&x->cur_mentions, x->newest);
    }
    x__budget_save(x);
    gw_ad_batch_end(x->ad);
    pages_drop(x);
    return !failed;
}

static void on_mentions(struct xacc *x, struct xcall *c,
                        const struct gw_http_response *r)
{
    (void)c;
    if (!x->polling)
        return;
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        bool off = endpoint_failed(x, r, false);
        if (x->signed_out)
            return;
        pages_drop(x);
        if (off && dms_due(x))
            poll_dms(x, NULL);
        else
            poll_end(x, off, gw_ad_retry_after_ms(r));
        return;
    }
    cJSON *j = x__body(r);
    const cJSON *data = gw_json_get(j, "data");
    if (!cJSON_IsObject(j) || (data != NULL && !cJSON_IsArray(data))) {
        cJSON_Delete(j);
        gw_ad_detail(x->ad, "reading mentions: X's answer is not a page");
        pages_drop(x);
        poll_end(x, false, 0);
        return;
    }
    const cJSON *meta = gw_json_obj(j, "meta");
    if (x->npages == 0) {
        const char *nid = x_json_id(meta, "newest_id");
        const cJSON **items = NULL;
        int n = x_items_sorted(data, &items);
        /* newest_id, or the newest post when X left meta out. */
        if (nid == NULL && n > 0)
            nid = x_json_id(items[n - 1], "id");
        free(items);
        x__replace(&x->newest, nid);
    }
    x->pages[x->npages++] = j;
    const char *next = gw_json_str(meta, "next_token");
    /* A first start shows the newest few only, no replay of history. */
    if (next != NULL && gw_printable_word(next, 512) &&
        x->cur_mentions != NULL && x->npages < MENTION_PAGES_MAX) {
        char *keep = gw_xstrdup(next);
        poll_mentions(x, keep);
        free(keep);
        return;
    }
    if (!mentions_deliver(x)) {
        gw_ad_detail(x->ad, "could not store a mention; will fetch it again");
        poll_end(x, false, 0);
        return;
    }
    if (dms_due(x))
        poll_dms(x, NULL);
    else
        poll_end(x, true, 0);
}

static void poll_mentions(struct xacc *x, const char *next)
{
    struct gw_buf b;
    gw_buf_init(&b, 4096);
    (void)gw_buf_printf(&b,
                        "%s/2/users/%s/mentions?max_results=%d&" TWEET_QUERY,
                        x->base, x->me_id, x->cur_mentions != NULL ? 100 : 5);
    if (x->cur_mentions != NULL)
        (void)gw_buf_printf(&b, "&since_id=%s", x->cur_mentions);
    if (next != NULL) {
        char *e = x_urlencode(next);
        (void)gw_buf_printf(&b, "&pagination_token=%s", e);
        free(e);
    }
    (void)poll_send(x, FAM_MENTIONS, b.data, on_mentions);
    gw_buf_free(&b);
}

/* ---- DMs ----------------------------------------------------------------- */

static bool dms_deliver(struct xacc *x)
{
    struct x_me me = x__me(x);
    bool failed = false;
    char *newest = x->cur_dms != NULL ? gw_xstrdup(x->cur_dms) : NULL;
    gw_ad_batch_begin(x->ad);
    for (int p = x->npages - 1; p >= 0 && !failed; p--) {
        const cJSON *page = x->pages[p];
        const cJSON *inc = gw_json_obj(page, "includes");
        const cJSON *errs = gw_json_arr(page, "errors");
        const cJSON **items = NULL;
        int n = x_items_sorted(gw_json_get(page, "data"), &items);
        for (int i = 0; i < n && !failed; i++) {
            const char *id = x_json_id(items[i], "id");
            if (x->cur_dms != NULL && x_id_cmp(id, x->cur_dms) <= 0)
                continue;
            struct x_event e;
            if (x_dm_to_event(items[i], inc, errs, &me, &e) == 0)
                failed = gw_ad_deliver(x->ad, &e.ev) < 0;
            x_event_free(&e);
            if (!failed && (newest == NULL || x_id_cmp(id, newest) > 0))
                x__replace(&newest, id);
        }
        free(items);
    }
    if (!failed && newest != NULL &&
        (x->cur_dms == NULL || x_id_cmp(newest, x->cur_dms) > 0)) {
        if (gw_ad_cursor_set(x->ad, CURSOR_DMS, newest) < 0)
            failed = true;
        else
            x__replace(&x->cur_dms, newest);
    }
    free(newest);
    x__budget_save(x);
    gw_ad_batch_end(x->ad);
    pages_drop(x);
    return !failed;
}

/* Newest first, no since_id: a page that reaches what was handled ends
 * the paging. */
static bool reached_cursor(const struct xacc *x, const cJSON *data)
{
    const cJSON *it;
    if (x->cur_dms == NULL)
        return true; /* a first start: the newest page only */
    cJSON_ArrayForEach(it, data)
    {
        const char *id = x_json_id(it, "id");
        if (id != NULL && x_id_cmp(id, x->cur_dms) <= 0)
            return true;
    }
    return false;
}

static void on_dms(struct xacc *x, struct xcall *c,
                   const struct gw_http_response *r)
{
    (void)c;
    if (!x->polling)
        return;
    if (x_map_status(r->status, r->error) != GW_ACT_OK) {
        bool off = endpoint_failed(x, r, true);
        if (x->signed_out)
            return;
        pages_drop(x);
        poll_end(x, off, gw_ad_retry_after_ms(r));
        return;
    }
    cJSON *j = x__body(r);
    const cJSON *data = gw_json_get(j, "data");
    if (!cJSON_IsObject(j) || (data != NULL && !cJSON_IsArray(data))) {
        cJSON_Delete(j);
        gw_ad_detail(x->ad, "reading DMs: X's answer is not a page");
        pages_drop(x);
        poll_end(x, false, 0);
        return;
    }
    x->pages[x->npages++] = j;
    const char *next = gw_json_str(gw_json_obj(j, "meta"), "next_token");
    if (next != NULL && gw_printable_word(next, 512) &&
        !reached_cursor(x, data) && x->npages < DM_PAGES_MAX) {
        char *keep = gw_xstrdup(next);
        poll_dms(x, keep);
        free(keep);
        return;
    }
    bool ok = dms_deliver(x);
    if (!ok)
        gw_ad_detail(x->ad, "could not store a DM; will fetch it again");
    int64_t now = gw_now_ms();
    x->dms_due = now + x_ratelimit_interval(x->rl_rem_d, x->rl_reset_d, now);
    poll_end(x, ok, 0);
}

static void poll_dms(struct xacc *x, const char *next)
{
    struct gw_buf b;
    gw_buf_init(&b, 4096);
    /* Each DM event read is billed: a small page, more only when all of
     * it is new. */
    (void)gw_buf_printf(&b, "%s/2/dm_events?max_results=%d&" DM_QUERY, x->base,
                        x->cur_dms != NULL ? 20 : 10);
    if (next != NULL) {
        char *e = x_urlencode(next);
        (void)gw_buf_printf(&b, "&pagination_token=%s", e);
        free(e);
    }
    (void)poll_send(x, FAM_DMS, b.data, on_dms);
    gw_buf_free(&b);
}

/* ---- pace ---------------------------------------------------------------- */

static void say_pace(struct xacc *x, long wait, bool low)
{
    struct x_budget *b = &x->budget;
    if (wait < 0) {
        if (!x->said_spent) {
            char t[32];
            gw_format_time(x_budget_reset_ms(b, gw_now_ms()), t, sizeof(t));
            t[16] = '\0';
            gw_ad_notice(x->ad,
                         "the budget is spent (%ld of %ld requests today, "
                         "%ld of %ld posts read this month); reading "
                         "resumes %s UTC, replies still go",
                         b->requests_today, b->max_requests_day, b->posts_month,
                         b->max_posts_month, t);
            x->said_spent = true;
        }
        return;
    }
    x->said_spent = false;
    if (low && !x->said_low) {
        char left[160] = "";
        if (b->max_requests_day > 0)
            snprintf(left, sizeof(left), "%ld of %ld requests left today",
                     b->max_requests_day - b->requests_today,
                     b->max_requests_day);
        if (b->max_posts_month > 0)
            snprintf(left + strlen(left), sizeof(left) - strlen(left),
                     "%s%ld of %ld posts this month", left[0] ? ", " : "",
                     b->max_posts_month - b->posts_month, b->max_posts_month);
        gw_ad_notice(x->ad,
                     "the budget runs low (%s): polling every %ld s instead "
                     "of %ld s",
                     left, (wait + 999) / 1000, x->base_poll_ms / 1000);
        x->said_low = true;
    } else if (!low) {
        x->said_low = false;
    }
}

static void poll_end(struct xacc *x, bool ok, long retry_ms)
{
    x->polling = false;
    if (x->signed_out || !x->signed_in)
        return;
    int64_t now = gw_now_ms();
    x_budget_roll(&x->budget, now);
    if (x->poll_requests > 0)
        x->per_poll = x->poll_requests;
    long per_poll = (x->mentions_off ? 0 : 1) + (x->dms_off ? 0 : 1);
    if (per_poll < x->per_poll)
        per_poll = x->per_poll;
    bool low = false;
    long wait = x_budget_interval(&x->budget, now, x->base_poll_ms, per_poll,
                                  x->posts_per_poll, &low);
    say_pace(x, wait, low);
    if (wait < 0) {
        int64_t at = x_budget_reset_ms(&x->budget, now);
        wait = (long)(at - now) + 1000;
    } else {
        long m = x->mentions_off
                     ? 0
                     : x_ratelimit_interval(x->rl_rem_m, x->rl_reset_m, now);
        if (m > wait)
            wait = m;
        /* With mentions out of reach, DMs set the pace alone. */
        if (x->mentions_off && !x->dms_off && x->dms_due - now > wait)
            wait = (long)(x->dms_due - now);
    }
    if (!ok) {
        long bo = gw_backoff_next(&x->poll_backoff);
        if (retry_ms > bo)
            bo = retry_ms;
        /* A failure never speeds the pace up past the budget's. */
        if (bo > wait)
            wait = bo;
    } else {
        gw_backoff_reset(&x->poll_backoff);
        if (x->mentions_off && x->dms_off)
            return; /* nothing this tier lets us read */
    }
    x->interval_ms = wait;
    x__budget_save(x);
    x__timer(x, &x->t_poll, (uint64_t)wait, on_t_poll);
}
