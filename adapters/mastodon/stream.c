/*
 * Notifications in: the user stream over SSE, and back-fill over REST (at
 * start, when the stream connects again, and as polling when there is no
 * stream). The cursor is the newest notification id handled; it only moves
 * past what the core has stored.
 */
#include "mastodon_int.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

static void backfill_page(struct mastodon *m);

void mastodon__stream_retire(struct mastodon *m)
{
    m->sse_connected = false;
    gw_ad_stream_close(m->stream);
    m->stream = NULL;
}

static void on_t_backfill(struct gw_adapter *ad, void *arg)
{
    (void)ad;
    struct mastodon *m = arg;
    m->t_backfill = NULL;
    mastodon__backfill_start(m);
}

/* Bring the cursor forward to id (never back). */
static int cursor_move(struct mastodon *m, const char *id)
{
    if (m->cursor != NULL && mastodon_id_cmp(id, m->cursor) <= 0)
        return 0;
    int rc = gw_ad_cursor_set(m->ad, CURSOR_NAME, id);
    if (rc < 0)
        return rc;
    mastodon__replace(&m->cursor, id);
    return 0;
}

/* A stream event failed to store: later stream events must not move the
 * cursor past it until a back-fill has fetched it again. */
static void stream_store_failed(struct mastodon *m)
{
    m->cursor_frozen = true;
    gw_ad_detail(m->ad, "could not store an event; will fetch it again");
    if (m->bf_running)
        m->bf_again = true;
    else if (m->t_backfill == NULL)
        mastodon__timer(m, &m->t_backfill, BACKOFF_MIN_MS, on_t_backfill);
}

static void stream_notification(struct mastodon *m, const cJSON *j)
{
    const char *id = mastodon_json_id(j, "id");
    if (id == NULL)
        return;
    struct mastodon_me me = mastodon__me(m);
    struct mastodon_event e;
    int rc = mastodon_notification_to_event(j, &me, &e);
    mastodon__dropped(m, "notification", id, rc, &e);
    if (rc == 0 && gw_ad_deliver(m->ad, &e.ev) < 0) {
        mastodon_event_free(&e);
        stream_store_failed(m);
        return;
    }
    mastodon_event_free(&e);
    /* During a back-fill only the back-fill moves the cursor: it may still
     * be delivering older items. */
    if (!m->bf_running && !m->cursor_frozen)
        (void)cursor_move(m, id);
}

static void stream_status(struct mastodon *m, const cJSON *j, bool edit)
{
    const char *id = mastodon_json_id(j, "id");
    if (id == NULL)
        return;
    if (edit) {
        /* The home stream carries edits of every followed account's posts;
         * only those of posts we hold matter. */
        if (!gw_ad_seen(m->ad, id))
            return;
    } else {
        /* "update": new posts in my home timeline; I want only mine (made
         * elsewhere), not my boosts. */
        const char *aid = mastodon_json_id(gw_json_obj(j, "account"), "id");
        const char *vis = gw_json_str(j, "visibility");
        const cJSON *reblog = gw_json_get(j, "reblog");
        if (m->me_id == NULL || aid == NULL || strcmp(aid, m->me_id) != 0 ||
            (reblog != NULL && !cJSON_IsNull(reblog)))
            return;
        /* An own post would be shown in the channel: never a DM. */
        if (vis == NULL || strcmp(vis, "direct") == 0)
            return;
    }
    struct mastodon_me me = mastodon__me(m);
    struct mastodon_event e;
    int rc =
        mastodon_status_to_event(j, edit ? GW_EV_EDIT : GW_EV_OWN, &me, &e);
    mastodon__dropped(m, "status", id, rc, &e);
    if (rc == 0)
        (void)gw_ad_deliver(m->ad, &e.ev);
    mastodon_event_free(&e);
}

static void stream_delete(struct mastodon *m, const char *data)
{
    char id[72];
    size_t len = strlen(data);
    while (len > 0 && (data[len - 1] == ' ' || data[len - 1] == '\n' ||
                       data[len - 1] == '"'))
        len--;
    while (len > 0 && (*data == ' ' || *data == '"')) {
        data++;
        len--;
    }
    if (len == 0 || len >= sizeof(id))
        return;
    memcpy(id, data, len);
    id[len] = '\0';
    if (!mastodon_id_valid(id) || !gw_ad_seen(m->ad, id))
        return;
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = GW_EV_DELETE;
    ev.id = id;
    ev.text = "";
    (void)gw_ad_deliver(m->ad, &ev);
}

static void on_sse_event(struct gw_adapter *ad, void *arg,
                         const struct gw_sse_event *ev)
{
    (void)arg;
    struct mastodon *m = ad->priv;
    if (m->signed_out || ev == NULL || ev->event == NULL || ev->data == NULL)
        return;
    if (strcmp(ev->event, "delete") == 0) {
        stream_delete(m, ev->data);
    } else if (strcmp(ev->event, "notifications_merged") == 0) {
        mastodon__backfill_start(m);
    } else if (strcmp(ev->event, "notification") == 0 ||
               strcmp(ev->event, "update") == 0 ||
               strcmp(ev->event, "status.update") == 0) {
        cJSON *j = gw_json_parse(ev->data, strlen(ev->data));
        if (cJSON_IsObject(j)) {
            if (ev->event[0] == 'n')
                stream_notification(m, j);
            else
                stream_status(m, j, ev->event[0] == 's');
        }
        gw_json_free(j);
    }
}

static void on_sse_state(struct gw_adapter *ad, void *arg,
                         enum gw_sse_state state,
                         const struct gw_http_response *resp)
{
    (void)arg;
    struct mastodon *m = ad->priv;
    if (m->signed_out)
        return;
    switch (state) {
    case GW_SSE_CONNECTED:
        m->sse_connected = true;
        gw_ad_detail(m->ad, "%s", "");
        /* Whatever arrived while the stream was down. */
        mastodon__backfill_start(m);
        break;
    case GW_SSE_DISCONNECTED: {
        m->sse_connected = false;
        char *err = resp != NULL ? mastodon_error_text(resp)
                                 : gw_xstrdup("connection lost");
        gw_ad_detail(m->ad, "stream dropped (%s); reconnecting", err);
        gw_ad_log(m->ad, "stream dropped (%s); reconnecting", err);
        free(err);
        /* Keep fetching by polling until the stream is back. */
        if (!m->bf_running && m->t_backfill == NULL)
            mastodon__timer(m, &m->t_backfill, (uint64_t)m->poll_ms,
                            on_t_backfill);
        break;
    }
    case GW_SSE_FAILED:
    default:
        if (resp != NULL && mastodon__is_401(resp)) {
            mastodon__signed_out(m, resp);
            break;
        }
        char *err =
            resp != NULL ? mastodon_error_text(resp) : gw_xstrdup("failed");
        m->stream_off = true;
        mastodon__stream_retire(m);
        gw_ad_detail(m->ad, "streaming unavailable (%s); polling", err);
        gw_ad_notice(m->ad,
                     "streaming is not available (%s); polling every %ld s "
                     "instead",
                     err, m->poll_ms / 1000);
        free(err);
        mastodon__backfill_start(m);
        break;
    }
}

static void open_stream(struct mastodon *m)
{
    if (m->stream != NULL || m->stream_off)
        return;
    char *url = gw_xasprintf("%s/api/v1/streaming/user",
                             m->stream_base != NULL ? m->stream_base : m->base);
    const char *hdrs[2] = {m->auth_hdr, NULL};
    struct gw_sse_opts o;
    memset(&o, 0, sizeof(o));
    o.http.url = url;
    o.http.headers = hdrs;
    o.http.ca_file = m->ca_file;
    o.http.insecure = m->insecure;
    int rc = gw_ad_stream_open(m->ad, FAM_STREAM, &o, on_sse_event,
                               on_sse_state, m, &m->stream);
    free(url);
    if (rc < 0) {
        m->stream = NULL;
        m->stream_off = true;
        gw_ad_detail(m->ad, "streaming could not start; polling");
        gw_ad_notice(m->ad,
                     "streaming could not start (%s); polling every %ld s",
                     uv_strerror(rc), m->poll_ms / 1000);
    }
}

void mastodon__stream_start(struct mastodon *m)
{
    if (m->want_stream && !m->stream_off && !m->signed_out)
        open_stream(m);
}

/* ---- back-fill ----------------------------------------------------------- */

static void backfill_end(struct mastodon *m, bool ok, long retry_ms)
{
    m->bf_running = false;
    if (m->signed_out)
        return;
    if (ok) {
        gw_backoff_reset(&m->bf_backoff);
        /* Recovered; a dropped stream keeps its own word. */
        if (m->stream == NULL || m->sse_connected)
            gw_ad_detail(m->ad, "%s", "");
        if (!m->bf_again)
            m->cursor_frozen = false;
    }
    if (m->bf_again) {
        m->bf_again = false;
        mastodon__backfill_start(m);
        return;
    }
    if (m->want_stream && !m->stream_off && m->stream == NULL)
        open_stream(m);
    if (!ok) {
        long d = gw_backoff_next(&m->bf_backoff);
        if (retry_ms > d)
            d = retry_ms;
        mastodon__timer(m, &m->t_backfill, (uint64_t)d, on_t_backfill);
    } else if (!m->sse_connected) {
        mastodon__timer(m, &m->t_backfill, (uint64_t)m->poll_ms, on_t_backfill);
    }
}

static void on_backfill(struct mastodon *m, struct mcall *c,
                        const struct gw_http_response *r)
{
    (void)c;
    if (!m->bf_running)
        return;
    if (mastodon__is_401(r)) {
        mastodon__signed_out(m, r);
        return;
    }
    if (mastodon_map_status(r->status, r->error) != GW_ACT_OK) {
        char *err = mastodon_error_text(r);
        gw_ad_detail(m->ad, "fetching notifications failed: %s", err);
        free(err);
        backfill_end(m, false, gw_ad_retry_after_ms(r));
        return;
    }
    cJSON *j = mastodon__body(r);
    const cJSON **items = NULL;
    int n = mastodon_page_sorted(j, &items);
    if (n < 0) {
        cJSON_Delete(j);
        gw_ad_detail(m->ad, "fetching notifications: the answer is not a list");
        backfill_end(m, false, 0);
        return;
    }
    bool first = m->cursor == NULL;
    bool empty = cJSON_GetArraySize(j) == 0;
    char *prev = m->cursor != NULL ? gw_xstrdup(m->cursor) : NULL;
    bool failed = false;
    struct mastodon_me me = mastodon__me(m);
    if (n > 0) {
        gw_ad_batch_begin(m->ad);
        for (int i = 0; i < n; i++) {
            const char *id = mastodon_json_id(items[i], "id");
            if (m->cursor != NULL && mastodon_id_cmp(id, m->cursor) <= 0)
                continue; /* a server that ignored min_id */
            struct mastodon_event e;
            int rc = mastodon_notification_to_event(items[i], &me, &e);
            mastodon__dropped(m, "notification", id, rc, &e);
            if (rc == 0)
                failed = gw_ad_deliver(m->ad, &e.ev) < 0;
            mastodon_event_free(&e);
            /* Unknown types and malformed items are passed over too. */
            if (failed || cursor_move(m, id) < 0) {
                failed = true;
                break;
            }
        }
        gw_ad_batch_end(m->ad);
    }
    bool progress = m->cursor != NULL &&
                    (prev == NULL || mastodon_id_cmp(m->cursor, prev) > 0);
    free(prev);
    free(items);
    cJSON_Delete(j);
    if (failed) {
        gw_ad_detail(m->ad, "could not store a notification; will retry");
        backfill_end(m, false, 0);
    } else if (first || n == 0 || !progress) {
        /* First start: the newest page only, no replay of all history.
         * With nothing at all yet, everything from now on is new: "0" is
         * below every id, so later back-fills page from the start. */
        if (first && empty && cursor_move(m, "0") < 0) {
            backfill_end(m, false, 0);
            return;
        }
        backfill_end(m, true, 0);
    } else {
        backfill_page(m);
    }
}

static void backfill_page(struct mastodon *m)
{
    char *url;
    if (m->cursor != NULL)
        url = gw_xasprintf("%s/api/v1/notifications?min_id=%s&limit=%d",
                           m->base, m->cursor, PAGE_LIMIT);
    else
        url = gw_xasprintf("%s/api/v1/notifications?limit=%d", m->base,
                           PAGE_LIMIT);
    int rc = mastodon__send(m, mastodon__call(on_backfill), FAM_READ, "GET",
                            url, NULL, NULL, true, NULL);
    free(url);
    if (rc < 0) {
        gw_ad_detail(m->ad, "could not start a request");
        backfill_end(m, false, 0);
    }
}

/* A back-fill: pages from the cursor up. A request held by a rate limit
 * waits in the runtime; the stream goes on meanwhile. */
void mastodon__backfill_start(struct mastodon *m)
{
    if (m->signed_out || !m->signed_in)
        return;
    if (m->bf_running) {
        m->bf_again = true;
        return;
    }
    mastodon__timer_stop(&m->t_backfill);
    m->bf_running = true;
    backfill_page(m);
}
