/*
 * DMs in: chat.bsky.convo.getLog through the PDS (the atproto-proxy header
 * sends it on to the chat service), polled with the rev of the last entry
 * handled, as the official app does. The first read without a position
 * only learns where the log is: history is not replayed.
 *
 * A message names its sender by DID only; the handle comes from the
 * entry's relatedProfiles or, failing that, from getConvo, whose answer is
 * kept per conversation. Message requests (a conversation whose status is
 * "request") are announced once, with the command that accepts them.
 *
 * An app password made without "Allow access to your direct messages" is
 * refused by the PDS ("Bad token method"): that is said once and DMs stay
 * off until the settings change.
 */
#include "bluesky_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* getConvo lookups per round; the rest waits for the next poll. */
#define LOOKUPS_MAX 8
/* The smallest TID: below every rev the log can hold. */
#define TID_MIN "2222222222222"

void bluesky__chat_stop(struct bsky *b)
{
    cJSON_Delete(b->chat_log);
    b->chat_log = NULL;
    b->chat_busy = false;
    b->chat_waits = 0;
}

struct bconvo *bluesky__convo(struct bsky *b, const char *id)
{
    for (int i = 0; id != NULL && i < b->nconvos; i++)
        if (strcmp(b->convos[i].id, id) == 0)
            return &b->convos[i];
    return NULL;
}

/* Remember a ConvoView: the other member (of a direct conversation) and
 * whether it is a request to me. */
struct bconvo *bluesky__convo_put(struct bsky *b, const cJSON *view)
{
    const char *id = gw_json_str(view, "id");
    if (id == NULL || *id == '\0' || strlen(id) > 128)
        return NULL;
    struct bconvo *c = bluesky__convo(b, id);
    if (c == NULL) {
        if (b->nconvos == CONVOS_MAX) {
            /* The oldest goes; a later message looks it up again. */
            free(b->convos[0].id);
            free(b->convos[0].peer_did);
            free(b->convos[0].peer_handle);
            memmove(&b->convos[0], &b->convos[1],
                    (CONVOS_MAX - 1) * sizeof(b->convos[0]));
            b->nconvos--;
        }
        c = &b->convos[b->nconvos++];
        memset(c, 0, sizeof(*c));
        c->id = gw_xstrdup(id);
    }
    const char *status = gw_json_str(view, "status");
    c->request = status != NULL && strcmp(status, "request") == 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, gw_json_arr(view, "members"))
    {
        const char *did = gw_json_str(m, "did");
        const char *handle = gw_json_str(m, "handle");
        if (!bluesky_did_valid(did) ||
            (b->did != NULL && strcmp(did, b->did) == 0))
            continue;
        bluesky__replace(&c->peer_did, did);
        if (bluesky_handle_valid(handle)) {
            char *h = gw_xstrdup(handle);
            gw_strlower(h);
            free(c->peer_handle);
            c->peer_handle = h;
        }
        break;
    }
    return c;
}

static void chat_off(struct bsky *b, const char *why)
{
    b->chat_off = true;
    bluesky__chat_stop(b);
    gw_ad_notice(b->ad, "DMs are off: %s", why);
}

/* The handle of did from an entry's relatedProfiles, or the convo's. */
static const char *handle_in(const cJSON *entry, const struct bconvo *c,
                             const char *did)
{
    const cJSON *p;
    cJSON_ArrayForEach(p, gw_json_arr(entry, "relatedProfiles"))
    {
        const char *d = gw_json_str(p, "did");
        const char *h = gw_json_str(p, "handle");
        if (d != NULL && strcmp(d, did) == 0 && bluesky_handle_valid(h))
            return h;
    }
    if (c != NULL && c->peer_did != NULL && strcmp(c->peer_did, did) == 0)
        return c->peer_handle;
    return NULL;
}

static const char *entry_type(const cJSON *e)
{
    const char *t = gw_json_str(e, "$type");
    const char *hash = t != NULL ? strchr(t, '#') : NULL;
    return hash != NULL ? hash + 1 : "";
}

static int rev_sort(const void *pa, const void *pb)
{
    const cJSON *const *a = pa, *const *c = pb;
    return bluesky_rev_cmp(gw_json_str(*a, "rev"), gw_json_str(*c, "rev"));
}

static void chat_done(struct bsky *b)
{
    cJSON_Delete(b->chat_log);
    b->chat_log = NULL;
    b->chat_busy = false;
}

static int cursor_move(struct bsky *b, const char *rev)
{
    if (rev == NULL ||
        (b->chat_cursor != NULL && bluesky_rev_cmp(rev, b->chat_cursor) <= 0))
        return 0;
    int rc = gw_ad_cursor_set(b->ad, CURSOR_CHAT, rev);
    if (rc == 0)
        bluesky__replace(&b->chat_cursor, rev);
    return rc;
}

/* The log, in rev order, once every sender is known. */
static void log_process(struct bsky *b)
{
    const cJSON *logs = gw_json_arr(b->chat_log, "logs");
    int total = cJSON_GetArraySize(logs);
    const cJSON **v = gw_xcalloc((size_t)(total > 0 ? total : 1), sizeof(*v));
    int n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, logs)
    {
        const char *rev = gw_json_str(e, "rev");
        if (rev != NULL && (b->chat_cursor == NULL ||
                            bluesky_rev_cmp(rev, b->chat_cursor) > 0))
            v[n++] = e;
    }
    qsort(v, (size_t)n, sizeof(*v), rev_sort);
    bool ok = true;
    gw_ad_batch_begin(b->ad);
    for (int i = 0; i < n && ok; i++) {
        const char *type = entry_type(v[i]);
        const char *cid = gw_json_str(v[i], "convoId");
        struct bconvo *c = bluesky__convo(b, cid);
        if (strcmp(type, "logCreateMessage") == 0) {
            const cJSON *msg = gw_json_obj(v[i], "message");
            const char *sender = gw_json_str(gw_json_obj(msg, "sender"), "did");
            if (sender != NULL && b->did != NULL &&
                strcmp(sender, b->did) != 0) {
                struct bluesky_event ev;
                int rc = bluesky_message_to_event(
                    msg, cid, handle_in(v[i], c, sender), &ev);
                if (rc == 0 && gw_ad_deliver(b->ad, &ev.ev) < 0)
                    ok = false;
                if (rc < 0)
                    gw_ad_notice(b->ad, "a DM could not be read (rev %s)",
                                 gw_json_str(v[i], "rev"));
                bluesky_event_free(&ev);
            }
        }
        if (c != NULL && c->request && !c->notified && c->peer_handle) {
            c->notified = true;
            gw_ad_notice(b->ad,
                         "@%s asks to send you direct messages (a message "
                         "request); accept with !accept %s (in the query "
                         "or the account's channel)",
                         c->peer_handle, c->peer_handle);
        }
        if (ok && cursor_move(b, gw_json_str(v[i], "rev")) < 0)
            ok = false;
    }
    gw_ad_batch_end(b->ad);
    free(v);
    if (!ok)
        gw_ad_detail(b->ad, "could not store a DM; will retry");
    chat_done(b);
}

static void on_convo(struct bsky *b, struct bcall *c,
                     const struct gw_http_response *r)
{
    (void)c;
    if (b->chat_log == NULL)
        return;
    cJSON *j = bluesky_map_status(r) == GW_ACT_OK ? bluesky__body(r) : NULL;
    (void)bluesky__convo_put(b, gw_json_obj(j, "convo"));
    cJSON_Delete(j);
    if (--b->chat_waits == 0)
        log_process(b);
}

/* Look up the conversations whose other member we do not know yet. */
static void lookups(struct bsky *b)
{
    const cJSON *e;
    const char *asked[LOOKUPS_MAX];
    int nasked = 0;
    b->chat_waits = 1; /* held until every lookup is sent */
    cJSON_ArrayForEach(e, gw_json_arr(b->chat_log, "logs"))
    {
        const char *cid = gw_json_str(e, "convoId");
        const char *type = entry_type(e);
        if (cid == NULL || strlen(cid) > 128 || bluesky__convo(b, cid) != NULL)
            continue;
        bool begin = strcmp(type, "logBeginConvo") == 0;
        const char *sender = gw_json_str(
            gw_json_obj(gw_json_obj(e, "message"), "sender"), "did");
        bool unknown_sender = strcmp(type, "logCreateMessage") == 0 &&
                              sender != NULL && b->did != NULL &&
                              strcmp(sender, b->did) != 0 &&
                              handle_in(e, NULL, sender) == NULL;
        if (!begin && !unknown_sender)
            continue;
        bool dup = false;
        for (int i = 0; i < nasked; i++)
            dup = dup || strcmp(asked[i], cid) == 0;
        if (dup || nasked == LOOKUPS_MAX)
            continue;
        asked[nasked++] = cid;
        char *enc = gw_urlencode(cid);
        char *path = gw_xasprintf("chat.bsky.convo.getConvo?convoId=%s", enc);
        free(enc);
        b->chat_waits++;
        if (bluesky__xrpc(b, bluesky__call(on_convo), HOST_CHAT, AUTH_ACCESS,
                          FAM_CHAT, "GET", path, NULL) < 0)
            b->chat_waits--;
        free(path);
    }
    if (--b->chat_waits == 0)
        log_process(b);
}

static void on_log(struct bsky *b, struct bcall *c,
                   const struct gw_http_response *r)
{
    (void)c;
    if (!b->chat_busy)
        return;
    if (bluesky_map_status(r) != GW_ACT_OK) {
        char *err = bluesky_error_text(r);
        if (r->error == 0 && r->status == 400 &&
            bluesky__err_is(r, "InvalidToken")) {
            char *why =
                gw_xasprintf("this app password has no access to direct "
                             "messages (%s); make one with \"Allow access to "
                             "your direct messages\" and set it with: "
                             "account set %s app_password NEW",
                             err, bluesky__name(b));
            chat_off(b, why);
            free(why);
        } else if (r->error == 0 &&
                   (r->status == 501 || r->status == 404 ||
                    bluesky__err_is(r, "MethodNotImplemented"))) {
            char *why =
                gw_xasprintf("the server has no chat service (%s)", err);
            chat_off(b, why);
            free(why);
        } else {
            /* A chat service that is down is asked ever more rarely, up
             * to every 64th poll (about 20 minutes at 20 s). */
            int shift = b->chat_fails < 5 ? b->chat_fails : 5;
            b->chat_fails++;
            b->chat_next = b->polls + (CHAT_EVERY << shift);
            gw_ad_detail(b->ad, "reading DMs failed: %s", err);
            b->chat_busy = false;
        }
        free(err);
        return;
    }
    b->chat_fails = 0;
    b->chat_next = 0;
    cJSON *j = bluesky__body(r);
    if (gw_json_arr(j, "logs") == NULL) {
        cJSON_Delete(j);
        gw_ad_detail(b->ad, "reading DMs: the answer has no log");
        b->chat_busy = false;
        return;
    }
    if (b->chat_cursor == NULL) {
        /* The first look: from here on. */
        const char *cur = gw_json_str(j, "cursor");
        const cJSON *e;
        const char *max = cur;
        cJSON_ArrayForEach(e, gw_json_arr(j, "logs"))
        {
            const char *rev = gw_json_str(e, "rev");
            if (rev != NULL && bluesky_rev_cmp(rev, max) > 0)
                max = rev;
        }
        /* An empty log: everything from its beginning on is new. */
        (void)cursor_move(b, max != NULL ? max : TID_MIN);
        cJSON_Delete(j);
        b->chat_busy = false;
        return;
    }
    b->chat_log = j;
    lookups(b);
}

void bluesky__chat_poll(struct bsky *b)
{
    if (b->chat_off || b->chat_busy || !b->signed_in || b->polls < b->chat_next)
        return;
    if (b->chat_cursor == NULL) {
        char *v = NULL;
        if (gw_ad_cursor_get(b->ad, CURSOR_CHAT, &v) == 0 && v != NULL &&
            gw_printable_word(v, 128))
            b->chat_cursor = v;
        else
            free(v);
    }
    char *path;
    if (b->chat_cursor != NULL) {
        char *enc = gw_urlencode(b->chat_cursor);
        path = gw_xasprintf("chat.bsky.convo.getLog?cursor=%s", enc);
        free(enc);
    } else {
        path = gw_xstrdup("chat.bsky.convo.getLog");
    }
    b->chat_busy = true;
    if (bluesky__xrpc(b, bluesky__call(on_log), HOST_CHAT, AUTH_ACCESS,
                      FAM_CHAT, "GET", path, NULL) < 0)
        b->chat_busy = false;
    free(path);
}
