/*
 * Events from adapters: each is committed to the store (with its ref) in
 * the group transaction, then shown. A cursor an adapter moves is stored
 * in the same transaction as the events before it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

/* An after-commit callback (gw_ad_after_commit). */
struct gw_commit_wait {
    struct gw_commit_wait *next;
    struct gw_account *a;
    gw_ad_commit_cb cb;
    void *arg;
};

static const char *kind_name(enum gw_event_kind k)
{
    switch (k) {
    case GW_EV_MENTION:
        return "mention";
    case GW_EV_REPLY:
        return "reply";
    case GW_EV_QUOTE:
        return "quote";
    case GW_EV_DM:
        return "dm";
    case GW_EV_EDIT:
        return "edit";
    case GW_EV_DELETE:
        return "delete";
    case GW_EV_FAV:
        return "fav";
    case GW_EV_BOOST:
        return "boost";
    case GW_EV_FOLLOW:
        return "follow";
    case GW_EV_OWN:
        return "own";
    case GW_EV_CONTEXT:
        return "context";
    }
    return "unknown";
}

static bool field_ok(const char *s, size_t max)
{
    return s && *s && strlen(s) <= max;
}

/* Body of a post as shown: ref, CW, text, then media with their
 * descriptions. */
static char *post_body(const struct gw_event *ev, const char *ref)
{
    struct gw_buf b;
    gw_buf_init(&b, 2 * 1024 * 1024);
    if (ref)
        gw_buf_printf(&b, "[%s] ", ref);
    if (ev->kind == GW_EV_QUOTE)
        gw_buf_puts(&b, "(quote) ");
    if (ev->cw && *ev->cw)
        gw_buf_printf(&b, "[CW: %s] ", ev->cw);
    gw_buf_puts(&b, ev->text ? ev->text : "");
    for (int i = 0; i < ev->nmedia && ev->media; i++) {
        const struct gw_media *m = &ev->media[i];
        if (m->url == NULL)
            continue;
        gw_buf_printf(&b, "\n[%s] %s", m->type && *m->type ? m->type : "media",
                      m->url);
        if (m->alt && *m->alt)
            gw_buf_printf(&b, " (alt: %s)", m->alt);
    }
    return gw_buf_steal(&b);
}

/* The other participants as a JSON array, "" for none. */
static char *mentions_json(const struct gw_event *ev)
{
    if (ev->nmentions <= 0 || ev->mentions == NULL)
        return gw_xstrdup("");
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < ev->nmentions; i++)
        if (ev->mentions[i] != NULL)
            cJSON_AddItemToArray(arr, cJSON_CreateString(ev->mentions[i]));
    char *s = cJSON_PrintUnformatted(arr);
    cJSON_Delete(arr);
    char *out = gw_xstrdup(s != NULL ? s : "");
    cJSON_free(s);
    return out;
}

int gw__deliver_post(struct gw_account *a, const struct gw_event *ev)
{
    struct gw_router *r = a->r;
    if (!field_ok(ev->author, 256))
        return UV_EINVAL;
    /* Open the group first: the nick lookups below then read inside it,
     * not each in a read transaction of its own (which, one event at a
     * time, took a tenth of the time per event). */
    int rc = gw__group_begin(r);
    if (rc < 0)
        return rc;
    bool dm = ev->kind == GW_EV_DM;
    struct gw_who w;
    rc = gw__person_for(a, ev->author_id, ev->author, ev->author_name,
                        ev->author_url, &w);
    if (rc < 0)
        return rc;
    char *mentions = mentions_json(ev);
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    p.account = a->name;
    p.network_id = (char *)ev->id;
    p.kind = (char *)kind_name(ev->kind);
    p.author = (char *)ev->author;
    p.author_id =
        (char *)(ev->author_id && *ev->author_id ? ev->author_id : ev->author);
    p.author_name = (char *)(ev->author_name ? ev->author_name : "");
    p.author_url = (char *)(ev->author_url ? ev->author_url : "");
    p.url = (char *)(ev->url ? ev->url : "");
    p.text = (char *)(ev->text ? ev->text : "");
    p.conversation = (char *)(ev->conversation ? ev->conversation : "");
    p.in_reply_to = (char *)(ev->in_reply_to ? ev->in_reply_to : "");
    p.target = dm ? w.nick : a->channel;
    p.extra = (char *)(ev->extra ? ev->extra : "");
    p.audience = (int)ev->audience;
    p.cw = (char *)(ev->cw ? ev->cw : "");
    p.mentions = mentions;
    p.created_ms = ev->created_ms ? ev->created_ms : gw_now_ms();
    p.state = ev->kind == GW_EV_OWN ? GW_POST_NONE : GW_POST_OPEN;

    rc = gw_store_post_put(gw__store(r), &p);
    free(mentions);
    if (rc != 0)
        return rc; /* 1: already stored and shown once */
    struct gw_show s;
    memset(&s, 0, sizeof(s));
    s.place = dm ? w.nick : a->channel;
    s.kind = dm ? GW_PLACE_QUERY : GW_PLACE_ACCOUNT;
    s.account = a->name;
    s.prefix = w.prefix;
    s.from = ev->author;
    s.time_ms = p.created_ms;
    s.ref = p.ref;
    s.join = &w; /* a DM's person must be known, a post's present */
    char *body = post_body(ev, p.ref);
    rc = gw__show(r, &s, body);
    free(body);
    return rc;
}

/* Edits, deletes, favourites, boosts and follows: one NOTICE each, stored
 * under their own id so that a replay shows them once. */
static int deliver_notice(struct gw_account *a, const struct gw_event *ev)
{
    struct gw_router *r = a->r;
    /* As in gw__deliver_post: the lookups below read inside the group. */
    int rc = gw__group_begin(r);
    if (rc < 0)
        return rc;
    struct gw_post target;
    memset(&target, 0, sizeof(target));
    const char *about_id = (ev->kind == GW_EV_FAV || ev->kind == GW_EV_BOOST)
                               ? ev->target_id
                               : ev->id;
    bool known = about_id && gw_store_post_by_netid(gw__store(r), a->name,
                                                    about_id, &target) == 0;
    struct gw_who w;
    char prefix[256];
    bool person = ev->author && *ev->author;
    if (person) {
        rc = gw__person_for(a, ev->author_id, ev->author, ev->author_name,
                            ev->author_url, &w);
        if (rc < 0) {
            gw_post_free(&target);
            return rc;
        }
        gw_strlcpy(prefix, w.prefix, sizeof(prefix));
    } else {
        gw__bot_prefix(r, prefix, sizeof(prefix));
    }

    char idbuf[300];
    const char *netid = ev->id;
    if (ev->kind == GW_EV_EDIT || ev->kind == GW_EV_DELETE) {
        /* One id is edited many times: key each edit by its time. */
        snprintf(idbuf, sizeof(idbuf), "%s#%lld", ev->id,
                 (long long)ev->created_ms);
        netid = idbuf;
    }
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    p.account = a->name;
    p.network_id = (char *)netid;
    p.kind = (char *)kind_name(ev->kind);
    p.author = (char *)(ev->author ? ev->author : "");
    p.author_id = (char *)(ev->author_id ? ev->author_id : p.author);
    p.text = (char *)(ev->text ? ev->text : "");
    p.in_reply_to = (char *)(about_id ? about_id : "");
    p.target = known && target.target ? target.target : a->channel;
    p.created_ms = ev->created_ms ? ev->created_ms : gw_now_ms();
    p.state = GW_POST_NONE;

    char *excerpt = gw_text_one_line(ev->text ? ev->text : "");
    excerpt[gw_text_cut(excerpt, strlen(excerpt), 200)] = '\0';
    char reftxt[40] = "";
    if (known)
        snprintf(reftxt, sizeof(reftxt), "[%s] ", target.ref);
    char text[1024];
    switch (ev->kind) {
    case GW_EV_EDIT:
        snprintf(text, sizeof(text), "%sedited: %s", reftxt, excerpt);
        break;
    case GW_EV_DELETE:
        snprintf(text, sizeof(text), "%swas deleted by its author",
                 known ? reftxt : "a post ");
        break;
    case GW_EV_FAV:
        snprintf(text, sizeof(text), "favourited %s%s", reftxt, excerpt);
        break;
    case GW_EV_BOOST:
        snprintf(text, sizeof(text), "boosted %s%s", reftxt, excerpt);
        break;
    case GW_EV_FOLLOW:
        snprintf(text, sizeof(text), "%s followed you",
                 ev->author ? ev->author : "someone");
        break;
    default:
        text[0] = '\0';
    }
    free(excerpt);

    rc = gw_store_post_put(gw__store(r), &p);
    if (rc == 0 && known && ev->kind == GW_EV_EDIT && ev->text)
        rc = gw_store_post_set_text(gw__store(r), target.id, ev->text);
    if (rc != 0) {
        gw_post_free(&target);
        return rc;
    }
    bool query = known && target.target && target.target[0] != '#' &&
                 target.target[0] != '&';
    struct gw_show s;
    memset(&s, 0, sizeof(s));
    s.place = query ? target.target : a->channel;
    s.kind = query ? GW_PLACE_QUERY : GW_PLACE_ACCOUNT;
    s.account = a->name;
    s.prefix = prefix;
    s.from = person ? ev->author : NULL;
    s.notice = true;
    s.time_ms = p.created_ms;
    /* Known to the front-ends (for WHOIS), present nowhere new. */
    if (person)
        s.join = query ? &w : NULL;
    rc = gw__show(r, &s, text);
    if (rc == 0 && person && !query)
        gw__person_known(r, &w);
    gw_post_free(&target);
    return rc;
}

int gw_ad_deliver(struct gw_adapter *ad, const struct gw_event *ev)
{
    struct gw_account *a = ad->core;
    if (a == NULL || !a->running || gw_ad_stopped(ad))
        return UV_ECANCELED;
    if (ev == NULL || !field_ok(ev->id, 256))
        return UV_EINVAL;
    gw__group_slice(a->r);
    int rc;
    switch (ev->kind) {
    case GW_EV_MENTION:
    case GW_EV_REPLY:
    case GW_EV_QUOTE:
    case GW_EV_DM:
    case GW_EV_OWN:
        rc = gw__deliver_post(a, ev);
        break;
    case GW_EV_EDIT:
    case GW_EV_DELETE:
    case GW_EV_FAV:
    case GW_EV_BOOST:
    case GW_EV_FOLLOW:
        rc = deliver_notice(a, ev);
        break;
    default:
        return UV_EINVAL;
    }
    if (rc == 0)
        a->last_event_ms = gw_now_ms();
    return rc;
}

/* A post shown for context (!thread): kept with a ref (the one it has if
 * it was stored before) so that it can be answered, shown to nobody. */
int gw__keep_context(struct gw_account *a, const struct gw_event *ev, char *ref,
                     size_t refsize, char *nick, size_t nicksize)
{
    struct gw_router *r = a->r;
    if (!field_ok(ev->id, 256) || !field_ok(ev->author, 256))
        return UV_EINVAL;
    int rc = gw__group_begin(r);
    if (rc < 0)
        return rc;
    struct gw_who w;
    rc = gw__person_for(a, ev->author_id, ev->author, ev->author_name,
                        ev->author_url, &w);
    if (rc < 0)
        return rc;
    gw_strlcpy(nick, w.nick, nicksize);
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    if (gw_store_post_by_netid(gw__store(r), a->name, ev->id, &p) == 0) {
        gw_strlcpy(ref, p.ref, refsize);
        gw_post_free(&p);
        return 0;
    }
    char *mentions = mentions_json(ev);
    p.account = a->name;
    p.network_id = (char *)ev->id;
    p.kind = (char *)kind_name(GW_EV_CONTEXT);
    p.author = (char *)ev->author;
    p.author_id =
        (char *)(ev->author_id && *ev->author_id ? ev->author_id : ev->author);
    p.author_name = (char *)(ev->author_name ? ev->author_name : "");
    p.author_url = (char *)(ev->author_url ? ev->author_url : "");
    p.url = (char *)(ev->url ? ev->url : "");
    p.text = (char *)(ev->text ? ev->text : "");
    p.conversation = (char *)(ev->conversation ? ev->conversation : "");
    p.in_reply_to = (char *)(ev->in_reply_to ? ev->in_reply_to : "");
    p.target = a->channel;
    p.extra = (char *)(ev->extra ? ev->extra : "");
    p.audience = (int)ev->audience;
    p.cw = (char *)(ev->cw ? ev->cw : "");
    p.mentions = mentions;
    p.created_ms = ev->created_ms ? ev->created_ms : gw_now_ms();
    p.state = GW_POST_NONE;
    rc = gw_store_post_put(gw__store(r), &p);
    free(mentions);
    if (rc >= 0)
        gw_strlcpy(ref, p.ref, refsize);
    return rc < 0 ? rc : 0;
}

/* ---- the group, seen from adapters ----------------------------------------
 */

/* Deliveries already share a transaction per loop iteration (the group);
 * a batch simply joins it. */
void gw_ad_batch_begin(struct gw_adapter *ad)
{
    struct gw_account *a = ad->core;
    gw__group_slice(a->r);
    a->r->batch_depth++;
    gw__group_begin(a->r);
}

/* A batch is never cut by gw__group_slice: its cursor may come last. */
void gw_ad_batch_end(struct gw_adapter *ad)
{
    struct gw_account *a = ad->core;
    if (a->r->batch_depth > 0)
        a->r->batch_depth--;
}

void gw_ad_after_commit(struct gw_adapter *ad, gw_ad_commit_cb cb, void *arg)
{
    struct gw_account *a = ad->core;
    struct gw_router *r = a->r;
    struct gw_commit_wait *w = gw_xcalloc(1, sizeof(*w));
    w->a = a;
    w->cb = cb;
    w->arg = arg;
    *r->waits_tail = w;
    r->waits_tail = &w->next;
}

void gw__commit_waits_run(struct gw_router *r, int rc)
{
    struct gw_commit_wait *w = r->waits;
    r->waits = NULL;
    r->waits_tail = &r->waits;
    while (w != NULL) {
        struct gw_commit_wait *next = w->next;
        if (w->a->running && !gw_ad_stopped(&w->a->ad))
            w->cb(&w->a->ad, w->arg, rc);
        free(w);
        w = next;
    }
}

void gw__commit_waits_drop(struct gw_router *r, struct gw_account *a)
{
    struct gw_commit_wait **pp = &r->waits;
    while (*pp != NULL) {
        struct gw_commit_wait *w = *pp;
        if (w->a == a) {
            *pp = w->next;
            free(w);
        } else {
            pp = &w->next;
        }
    }
    r->waits_tail = &r->waits;
    while (*r->waits_tail != NULL)
        r->waits_tail = &(*r->waits_tail)->next;
}

/* ---- cursors ------------------------------------------------------------ */

/* Store the cursor the adapter last moved (in the open transaction). */
int gw__cursor_write(struct gw_account *a)
{
    if (a->cursor_name == NULL)
        return 0;
    int rc = gw_store_cursor_set(gw__store(a->r), a->name, a->cursor_name,
                                 a->cursor_value);
    if (rc < 0)
        gw_log(a->r->gw, GW_LOG_WARN,
               "%s: could not store the stream position (%s); "
               "events after it will be fetched again",
               a->name, gw_store_errmsg(gw__store(a->r)));
    free(a->cursor_name);
    free(a->cursor_value);
    a->cursor_name = a->cursor_value = NULL;
    a->r->cursors_held--;
    return rc;
}

int gw_ad_cursor_get(struct gw_adapter *ad, const char *name, char **value)
{
    struct gw_account *a = ad->core;
    if (a->cursor_name && strcmp(a->cursor_name, name) == 0) {
        *value = a->cursor_value ? gw_xstrdup(a->cursor_value) : NULL;
        return a->cursor_value ? 0 : UV_ENOENT;
    }
    return gw_store_cursor_get(gw__store(a->r), a->name, name, value);
}

int gw_ad_cursor_set(struct gw_adapter *ad, const char *name, const char *value)
{
    struct gw_account *a = ad->core;
    /* In the same transaction as the events it moves past: kept here and
     * stored once, when the group commits (gw__group_flush). */
    int rc = gw__group_begin(a->r);
    if (rc < 0)
        return rc;
    if (a->cursor_name && strcmp(a->cursor_name, name) != 0 &&
        (rc = gw__cursor_write(a)) < 0)
        return rc;
    if (a->cursor_name == NULL) {
        a->cursor_name = gw_xstrdup(name);
        a->r->cursors_held++;
    }
    free(a->cursor_value);
    a->cursor_value = value ? gw_xstrdup(value) : NULL; /* NULL: delete */
    return 0;
}
