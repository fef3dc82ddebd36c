/*
 * Bluesky JSON in: notifications, chat messages, DID documents and JWTs to
 * what the core needs, and the lines of !thread and !who. Pure: nothing
 * here calls the core or keeps state.
 *
 * Everything a remote server sends is checked for type before use: a
 * facet's byte range is data from another user's client, not a promise.
 */
#include "bluesky.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

/* Texts we build stay far below this; it only bounds gw_buf. */
#define TEXT_MAX (1024 * 1024)
/* A line of !thread or !who; an IRC line holds about 400 bytes of text. */
#define LINE_BYTES       300
#define THREAD_PARENTS   20
#define THREAD_LINES_MAX 60
#define BIO_LINES_MAX    8
#define FACETS_MAX       256
#define IMAGES_MAX       4

/* ---- owned strings ------------------------------------------------------ */

static const char *keep(struct bluesky_event *e, char *s)
{
    return gw_strs_keep(&e->strs, s);
}

static const char *keep_dup(struct bluesky_event *e, const char *s)
{
    return gw_strs_dup(&e->strs, s);
}

void bluesky_event_free(struct bluesky_event *e)
{
    if (e == NULL)
        return;
    gw_strs_free(&e->strs);
    free(e->media);
    memset(e, 0, sizeof(*e));
}

/* ---- identifiers -------------------------------------------------------- */

static bool is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z');
}

bool bluesky_handle_valid(const char *h)
{
    if (h == NULL)
        return false;
    if (*h == '@')
        h++;
    size_t len = strlen(h), label = 0;
    int labels = 1;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)h[i];
        if (c == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            labels++;
            label = 0;
        } else if (is_alnum(c) || (c == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return labels >= 2 && label > 0 && h[len - 1] != '-';
}

bool bluesky_did_valid(const char *did)
{
    if (did == NULL)
        return false;
    size_t len = strlen(did);
    if (strncmp(did, "did:plc:", 8) == 0) {
        if (len != 32)
            return false;
        for (size_t i = 8; i < len; i++) {
            char c = did[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
                return false;
        }
        return true;
    }
    if (strncmp(did, "did:web:", 8) == 0 && len > 8 && len <= 253 + 8) {
        for (size_t i = 8; i < len; i++) {
            unsigned char c = (unsigned char)did[i];
            if (!is_alnum(c) && c != '.' && c != '-' && c != '%')
                return false;
        }
        return true;
    }
    return false;
}

int bluesky_at_uri(const char *uri, char *did, char *collection, char *rkey)
{
    if (uri == NULL || strncmp(uri, "at://", 5) != 0)
        return UV_EINVAL;
    const char *p = uri + 5;
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 != NULL ? strchr(s1 + 1, '/') : NULL;
    if (s1 == NULL || s2 == NULL || strchr(s2 + 1, '/') != NULL)
        return UV_EINVAL;
    size_t ld = (size_t)(s1 - p), lc = (size_t)(s2 - s1 - 1),
           lr = strlen(s2 + 1);
    if (ld == 0 || ld > 255 || lc == 0 || lc > 255 || lr == 0 || lr > 255)
        return UV_EINVAL;
    memcpy(did, p, ld);
    did[ld] = '\0';
    memcpy(collection, s1 + 1, lc);
    collection[lc] = '\0';
    memcpy(rkey, s2 + 1, lr);
    rkey[lr] = '\0';
    if (!bluesky_did_valid(did))
        return UV_EINVAL;
    for (size_t i = 0; i < lr; i++) {
        unsigned char c = (unsigned char)rkey[i];
        if (!is_alnum(c) && strchr("._:~-", c) == NULL)
            return UV_EINVAL;
    }
    for (size_t i = 0; i < lc; i++) {
        unsigned char c = (unsigned char)collection[i];
        if (!is_alnum(c) && c != '.' && c != '-')
            return UV_EINVAL;
    }
    return 0;
}

char *bluesky_post_url(const char *uri)
{
    char did[256], coll[256], rkey[256];
    if (bluesky_at_uri(uri, did, coll, rkey) < 0 ||
        strcmp(coll, "app.bsky.feed.post") != 0)
        return NULL;
    return gw_xasprintf("https://bsky.app/profile/%s/post/%s", did, rkey);
}

int bluesky_rev_cmp(const char *a, const char *b)
{
    size_t la = a != NULL ? strlen(a) : 0, lb = b != NULL ? strlen(b) : 0;
    if (la != lb)
        return la < lb ? -1 : 1;
    if (la == 0)
        return 0;
    int c = strcmp(a, b);
    return c < 0 ? -1 : c > 0;
}

/* ---- DID documents and tokens ------------------------------------------- */

char *bluesky_pds_endpoint(const cJSON *doc, const char *did)
{
    const char *id = gw_json_str(doc, "id");
    if (id == NULL || (did != NULL && strcmp(id, did) != 0))
        return NULL;
    const cJSON *svc;
    cJSON_ArrayForEach(svc, gw_json_arr(doc, "service"))
    {
        const char *sid = gw_json_str(svc, "id");
        const char *type = gw_json_str(svc, "type");
        const char *ep = gw_json_str(svc, "serviceEndpoint");
        if (sid == NULL || type == NULL || ep == NULL)
            continue;
        /* The id may be relative ("#atproto_pds") or absolute. */
        const char *hash = strchr(sid, '#');
        if (hash == NULL || strcmp(hash, "#atproto_pds") != 0 ||
            strcmp(type, "AtprotoPersonalDataServer") != 0 ||
            !gw_text_url_ok(ep))
            continue;
        char *out = gw_xstrdup(ep);
        size_t n = strlen(out);
        while (n > 8 && out[n - 1] == '/')
            out[--n] = '\0';
        return out;
    }
    return NULL;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-' || c == '+')
        return 62;
    if (c == '_' || c == '/')
        return 63;
    return -1;
}

int bluesky_jwt_times(const char *jwt, int64_t *iat, int64_t *exp)
{
    *iat = *exp = 0;
    const char *p = jwt != NULL ? strchr(jwt, '.') : NULL;
    const char *end = p != NULL ? strchr(p + 1, '.') : NULL;
    if (end == NULL || end - p - 1 > 8192)
        return UV_EINVAL;
    p++;
    size_t n = (size_t)(end - p);
    char *raw = gw_xmalloc(n * 3 / 4 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val(p[i]);
        if (v < 0) {
            if (p[i] == '=')
                break;
            free(raw);
            return UV_EINVAL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            raw[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    cJSON *j = cJSON_ParseWithLength(raw, o);
    free(raw);
    const cJSON *e = gw_json_get(j, "exp"), *i = gw_json_get(j, "iat");
    int rc = UV_EINVAL;
    if (cJSON_IsNumber(e) && e->valuedouble > 0 && e->valuedouble < 1e12) {
        *exp = (int64_t)e->valuedouble;
        if (cJSON_IsNumber(i) && i->valuedouble > 0 &&
            i->valuedouble <= e->valuedouble)
            *iat = (int64_t)i->valuedouble;
        rc = 0;
    }
    cJSON_Delete(j);
    return rc;
}

int64_t bluesky_refresh_in_ms(int64_t iat_s, int64_t exp_s)
{
    int64_t life = iat_s > 0 && exp_s > iat_s ? exp_s - iat_s : 7200;
    int64_t margin = life / 4;
    if (margin < 60)
        margin = 60;
    if (margin > 600)
        margin = 600;
    int64_t in = life - margin;
    return (in > 30 ? in : 30) * 1000;
}

/* ---- rendering ---------------------------------------------------------- */

struct facet_span {
    size_t start, end;
    const char *link; /* the full URI for a link, else NULL */
};

static int span_cmp(const void *pa, const void *pb)
{
    const struct facet_span *a = pa, *b = pb;
    return a->start < b->start ? -1 : a->start > b->start;
}

static bool utf8_boundary(const char *s, size_t len, size_t i)
{
    return i == 0 || i >= len || ((unsigned char)s[i] & 0xc0) != 0x80;
}

/* A byte offset as JSON has it: a whole number in [0, max]. */
static bool offset_of(const cJSON *o, const char *k, size_t max, size_t *out)
{
    const cJSON *v = gw_json_get(o, k);
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
        v->valuedouble > (double)max ||
        v->valuedouble != (double)(size_t)v->valuedouble)
        return false;
    *out = (size_t)v->valuedouble;
    return true;
}

/* The valid facets of a text, sorted; the rest counted in *bad. */
static int facet_spans(const cJSON *facets, const char *text, size_t len,
                       struct facet_span **out, int *bad)
{
    *out = NULL;
    int total = cJSON_IsArray(facets) ? cJSON_GetArraySize(facets) : 0;
    if (total <= 0)
        return 0;
    if (total > FACETS_MAX) {
        *bad += total - FACETS_MAX;
        total = FACETS_MAX;
    }
    struct facet_span *sp = gw_xcalloc((size_t)total, sizeof(*sp));
    int n = 0;
    const cJSON *f;
    cJSON_ArrayForEach(f, facets)
    {
        if (n >= total)
            break;
        const cJSON *idx = gw_json_obj(f, "index");
        size_t st, en;
        if (!offset_of(idx, "byteStart", len, &st) ||
            !offset_of(idx, "byteEnd", len, &en) || st >= en ||
            !utf8_boundary(text, len, st) || !utf8_boundary(text, len, en)) {
            (*bad)++;
            continue;
        }
        const char *link = NULL;
        const cJSON *feat;
        cJSON_ArrayForEach(feat, gw_json_arr(f, "features"))
        {
            const char *type = gw_json_str(feat, "$type");
            const char *uri = gw_json_str(feat, "uri");
            if (type != NULL &&
                strcmp(type, "app.bsky.richtext.facet#link") == 0 &&
                uri != NULL && gw_text_url_ok(uri))
                link = uri;
        }
        sp[n].start = st;
        sp[n].end = en;
        sp[n].link = link;
        n++;
    }
    qsort(sp, (size_t)n, sizeof(*sp), span_cmp);
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (kept > 0 && sp[i].start < sp[kept - 1].end) {
            (*bad)++;
            continue;
        }
        sp[kept++] = sp[i];
    }
    *out = sp;
    return kept;
}

static char *blob_cid(const cJSON *blob)
{
    const char *link = gw_json_str(gw_json_obj(blob, "ref"), "$link");
    if (link == NULL)
        link = gw_json_str(blob, "cid"); /* the legacy blob shape */
    if (link == NULL || strlen(link) > 128)
        return NULL;
    for (const char *p = link; *p; p++)
        if (!is_alnum((unsigned char)*p))
            return NULL;
    return gw_xstrdup(link);
}

static void add_media(struct bluesky_event *e, const char *url, const char *alt)
{
    e->media =
        gw_xrealloc(e->media, (size_t)(e->ev.nmedia + 1) * sizeof(*e->media));
    struct gw_media *m = &e->media[e->ev.nmedia++];
    m->url = keep_dup(e, url);
    m->alt =
        alt != NULL && *alt != '\0' ? keep(e, gw_text_one_line(alt)) : NULL;
    m->type = "image";
    e->ev.media = e->media;
}

static void render_images(struct gw_buf *b, const cJSON *emb, const char *did,
                          const char *cdn, struct bluesky_event *e)
{
    int n = 0;
    const cJSON *img;
    cJSON_ArrayForEach(img, gw_json_arr(emb, "images"))
    {
        if (n++ >= IMAGES_MAX)
            break;
        const char *alt = gw_json_str(img, "alt");
        char *cid = blob_cid(gw_json_obj(img, "image"));
        if (e != NULL && cdn != NULL && cid != NULL && did != NULL) {
            char *url = gw_xasprintf("%s/img/feed_fullsize/plain/%s/%s@jpeg",
                                     cdn, did, cid);
            add_media(e, url, alt);
            free(url);
        } else if (alt != NULL && *alt != '\0') {
            char *a = gw_text_one_line(alt);
            gw_buf_printf(b, "\n[image: %s]", a);
            free(a);
        } else {
            gw_buf_puts(b, "\n[image]");
        }
        free(cid);
    }
}

static void render_quote(struct gw_buf *b, const cJSON *rec)
{
    char *url = bluesky_post_url(gw_json_str(rec, "uri"));
    if (url != NULL)
        gw_buf_printf(b, "\n[quote] %s", url);
    else
        gw_buf_puts(b, "\n[quote]");
    free(url);
}

static void render_embed(struct gw_buf *b, const cJSON *emb, const char *did,
                         const char *cdn, struct bluesky_event *e)
{
    const char *type = gw_json_str(emb, "$type");
    if (type == NULL)
        return;
    if (strcmp(type, "app.bsky.embed.images") == 0) {
        render_images(b, emb, did, cdn, e);
    } else if (strcmp(type, "app.bsky.embed.video") == 0) {
        const char *alt = gw_json_str(emb, "alt");
        char *a = gw_text_one_line(alt != NULL ? alt : "");
        gw_buf_printf(b, *a ? "\n[video: %s]" : "\n[video]%s", a);
        free(a);
    } else if (strcmp(type, "app.bsky.embed.external") == 0) {
        const cJSON *ext = gw_json_obj(emb, "external");
        const char *uri = gw_json_str(ext, "uri");
        char *title = gw_text_one_line(
            gw_json_str(ext, "title") != NULL ? gw_json_str(ext, "title") : "");
        gw_buf_printf(b, "\n[link%s%s] %s", *title ? ": " : "", title,
                      uri != NULL && gw_text_url_ok(uri) ? uri : "");
        free(title);
    } else if (strcmp(type, "app.bsky.embed.record") == 0) {
        render_quote(b, gw_json_obj(emb, "record"));
    } else if (strcmp(type, "app.bsky.embed.recordWithMedia") == 0) {
        render_quote(b, gw_json_obj(gw_json_obj(emb, "record"), "record"));
        render_embed(b, gw_json_obj(emb, "media"), did, cdn, e);
    }
}

char *bluesky_render_post(const cJSON *record, const char *author_did,
                          const char *cdn, struct bluesky_event *e)
{
    const char *text = gw_json_str(record, "text");
    if (text == NULL)
        text = "";
    size_t len = strlen(text);
    int bad = 0;
    struct facet_span *sp = NULL;
    int n = facet_spans(gw_json_arr(record, "facets"), text, len, &sp, &bad);
    struct gw_buf b;
    gw_buf_init(&b, TEXT_MAX);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        gw_buf_append(&b, text + at, sp[i].start - at);
        if (sp[i].link != NULL)
            gw_buf_puts(&b, sp[i].link);
        else
            gw_buf_append(&b, text + sp[i].start, sp[i].end - sp[i].start);
        at = sp[i].end;
    }
    gw_buf_append(&b, text + at, len - at);
    free(sp);
    render_embed(&b, gw_json_obj(record, "embed"), author_did, cdn, e);
    if (e != NULL)
        e->bad_facets += bad;
    char *raw = gw_buf_steal(&b);
    char *clean =
        gw_text_sanitize(raw != NULL ? raw : "", raw != NULL ? strlen(raw) : 0);
    free(raw);
    gw_trim(clean);
    return clean;
}

/* ---- notifications ------------------------------------------------------ */

static int64_t time_of(const char *s)
{
    int64_t ms = 0;
    if (s != NULL && gw_parse_time(s, &ms) == 0)
        return ms;
    return 0;
}

/* The strong refs a reply to this post needs, as the extra JSON. */
static const char *post_extra(struct bluesky_event *e, const char *uri,
                              const char *cid, const cJSON *record)
{
    const cJSON *root = gw_json_obj(gw_json_obj(record, "reply"), "root");
    const char *ru = gw_json_str(root, "uri"), *rc = gw_json_str(root, "cid");
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "uri", uri);
    cJSON_AddStringToObject(x, "cid", cid);
    if (ru != NULL && rc != NULL) {
        cJSON_AddStringToObject(x, "root_uri", ru);
        cJSON_AddStringToObject(x, "root_cid", rc);
    }
    char *s = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    const char *out = keep_dup(e, s);
    cJSON_free(s);
    return out;
}

static int author_of(const cJSON *author, struct bluesky_event *e)
{
    const char *did = gw_json_str(author, "did");
    const char *handle = gw_json_str(author, "handle");
    if (!bluesky_did_valid(did) || !bluesky_handle_valid(handle))
        return UV_EINVAL;
    e->ev.author_id = keep_dup(e, did);
    char *h = gw_xstrdup(handle);
    gw_strlower(h);
    e->ev.author = keep(e, h);
    const char *name = gw_json_str(author, "displayName");
    if (name != NULL) {
        char *n = gw_text_one_line(name);
        if (*n != '\0')
            e->ev.author_name = keep(e, n);
        else
            free(n);
    }
    e->ev.author_url =
        keep(e, gw_xasprintf("https://bsky.app/profile/%s", e->ev.author));
    return 0;
}

int bluesky_notification_to_event(const cJSON *n, const char *cdn,
                                  struct bluesky_event *out)
{
    memset(out, 0, sizeof(*out));
    struct gw_event *ev = &out->ev;
    const char *uri = gw_json_str(n, "uri");
    const char *cid = gw_json_str(n, "cid");
    const char *reason = gw_json_str(n, "reason");
    const cJSON *record = gw_json_obj(n, "record");
    char did[256], coll[256], rkey[256];
    if (reason == NULL || bluesky_at_uri(uri, did, coll, rkey) < 0 ||
        author_of(gw_json_obj(n, "author"), out) < 0)
        return UV_EINVAL;
    ev->id = keep_dup(out, uri);
    ev->audience = GW_AUD_PUBLIC;
    ev->created_ms = time_of(gw_json_str(n, "indexedAt"));
    ev->text = "";
    if (strcmp(reason, "like") == 0 || strcmp(reason, "repost") == 0) {
        const char *subj = gw_json_str(n, "reasonSubject");
        char d2[256], c2[256], r2[256];
        if (bluesky_at_uri(subj, d2, c2, r2) < 0)
            return UV_EINVAL;
        ev->kind = reason[0] == 'l' ? GW_EV_FAV : GW_EV_BOOST;
        ev->target_id = keep_dup(out, subj);
        return 0;
    }
    if (strcmp(reason, "follow") == 0) {
        ev->kind = GW_EV_FOLLOW;
        return 0;
    }
    if (strcmp(reason, "mention") == 0)
        ev->kind = GW_EV_MENTION;
    else if (strcmp(reason, "reply") == 0)
        ev->kind = GW_EV_REPLY;
    else if (strcmp(reason, "quote") == 0)
        ev->kind = GW_EV_QUOTE;
    else
        return BLUESKY_IGNORED;
    const char *type = gw_json_str(record, "$type");
    if (record == NULL || cid == NULL || strlen(cid) > 128 ||
        strcmp(coll, "app.bsky.feed.post") != 0 ||
        (type != NULL && strcmp(type, "app.bsky.feed.post") != 0) ||
        gw_json_str(record, "text") == NULL)
        return UV_EINVAL;
    char *text = bluesky_render_post(record, did, cdn, out);
    if (out->bad_facets > 0) {
        /* Shown without them, and saying so: a link that went nowhere
         * would otherwise look like the author's mistake. */
        char *t = gw_xasprintf("%s\n[%d malformed facet%s ignored]", text,
                               out->bad_facets, out->bad_facets > 1 ? "s" : "");
        free(text);
        text = t;
    }
    ev->text = keep(out, text);
    ev->url = keep(out, bluesky_post_url(uri));
    const cJSON *reply = gw_json_obj(record, "reply");
    const char *parent = gw_json_str(gw_json_obj(reply, "parent"), "uri");
    const char *root = gw_json_str(gw_json_obj(reply, "root"), "uri");
    ev->in_reply_to = keep_dup(out, parent);
    ev->conversation = keep_dup(out, root != NULL ? root : uri);
    int64_t created = time_of(gw_json_str(record, "createdAt"));
    if (created > 0)
        ev->created_ms = created;
    ev->extra = post_extra(out, uri, cid, record);
    return 0;
}

int bluesky_message_to_event(const cJSON *msg, const char *convo_id,
                             const char *sender_handle,
                             struct bluesky_event *out)
{
    memset(out, 0, sizeof(*out));
    const char *type = gw_json_str(msg, "$type");
    const char *id = gw_json_str(msg, "id");
    const char *did = gw_json_str(gw_json_obj(msg, "sender"), "did");
    if (id == NULL || *id == '\0' || strlen(id) > 128 ||
        !bluesky_did_valid(did) || convo_id == NULL || *convo_id == '\0')
        return UV_EINVAL;
    if (type != NULL &&
        strcmp(type, "chat.bsky.convo.defs#deletedMessageView") == 0)
        return BLUESKY_IGNORED;
    if (type != NULL && strcmp(type, "chat.bsky.convo.defs#messageView") != 0)
        return BLUESKY_IGNORED;
    if (gw_json_str(msg, "text") == NULL)
        return UV_EINVAL;
    struct gw_event *ev = &out->ev;
    ev->kind = GW_EV_DM;
    ev->id = keep(out, gw_xasprintf("%s/%s", convo_id, id));
    ev->author_id = keep_dup(out, did);
    char *h =
        gw_xstrdup(bluesky_handle_valid(sender_handle) ? sender_handle : did);
    gw_strlower(h);
    ev->author = keep(out, h);
    ev->author_url =
        keep(out, gw_xasprintf("https://bsky.app/profile/%s", ev->author));
    ev->text = keep(out, bluesky_render_post(msg, did, NULL, out));
    ev->conversation = keep_dup(out, convo_id);
    ev->audience = GW_AUD_MENTIONED;
    ev->created_ms = time_of(gw_json_str(msg, "sentAt"));
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "convo", convo_id);
    char *s = cJSON_PrintUnformatted(x);
    cJSON_Delete(x);
    ev->extra = keep_dup(out, s);
    cJSON_free(s);
    return 0;
}

/* ---- lines for the user ------------------------------------------------- */

struct lines {
    char **v;
    int n, cap;
};

static void line_add(struct lines *l, char *s)
{
    gw_text_truncate(s, LINE_BYTES);
    if (l->n == l->cap) {
        l->cap = l->cap > 0 ? l->cap * 2 : 16;
        l->v = gw_xrealloc(l->v, (size_t)l->cap * sizeof(*l->v));
    }
    l->v[l->n++] = s;
}

void bluesky_lines_free(char **lines, int n)
{
    for (int i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

/* "handle: text" for a PostView, or what stands in for a missing one. */
static char *post_line(const cJSON *node, const char *mark)
{
    const char *type = gw_json_str(node, "$type");
    if (type != NULL && strstr(type, "#notFoundPost") != NULL)
        return gw_xasprintf("%s(deleted post)", mark);
    if (type != NULL && strstr(type, "#blockedPost") != NULL)
        return gw_xasprintf("%s(blocked post)", mark);
    const cJSON *post = gw_json_obj(node, "post");
    const char *handle = gw_json_str(gw_json_obj(post, "author"), "handle");
    const char *did = gw_json_str(gw_json_obj(post, "author"), "did");
    if (post == NULL || !bluesky_handle_valid(handle))
        return NULL;
    char *text =
        bluesky_render_post(gw_json_obj(post, "record"), did, NULL, NULL);
    char *one = gw_text_one_line(text);
    char *line = gw_xasprintf("%s%s: %s", mark, handle, one);
    free(text);
    free(one);
    return line;
}

static void replies_lines(struct lines *l, const cJSON *node, int depth)
{
    const cJSON *r;
    cJSON_ArrayForEach(r, gw_json_arr(node, "replies"))
    {
        if (l->n >= THREAD_LINES_MAX || depth > 6)
            return;
        char mark[16];
        snprintf(mark, sizeof(mark), "%*s", 2 * depth, "");
        char *line = post_line(r, mark);
        if (line != NULL)
            line_add(l, line);
        replies_lines(l, r, depth + 1);
    }
}

int bluesky_thread_lines(const cJSON *thread, char ***lines)
{
    *lines = NULL;
    struct lines l = {0};
    const cJSON *parents[THREAD_PARENTS];
    int np = 0;
    for (const cJSON *p = gw_json_obj(thread, "parent");
         p != NULL && np < THREAD_PARENTS; p = gw_json_obj(p, "parent"))
        parents[np++] = p;
    char *self = post_line(thread, "> ");
    if (self == NULL)
        return UV_EINVAL;
    for (int i = np - 1; i >= 0; i--) {
        char *line = post_line(parents[i], "");
        if (line != NULL)
            line_add(&l, line);
    }
    line_add(&l, self);
    replies_lines(&l, thread, 1);
    *lines = l.v;
    return l.n;
}

int bluesky_who_lines(const cJSON *p, char ***lines)
{
    *lines = NULL;
    const char *handle = gw_json_str(p, "handle");
    const char *did = gw_json_str(p, "did");
    if (!bluesky_handle_valid(handle) || !bluesky_did_valid(did))
        return UV_EINVAL;
    struct lines l = {0};
    const char *name = gw_json_str(p, "displayName");
    char *n1 = gw_text_one_line(name != NULL ? name : "");
    line_add(&l, *n1 ? gw_xasprintf("%s (@%s) %s", n1, handle, did)
                     : gw_xasprintf("@%s %s", handle, did));
    free(n1);
    line_add(&l, gw_xasprintf("https://bsky.app/profile/%s", handle));
    const cJSON *viewer = gw_json_obj(p, "viewer");
    bool following = gw_json_str(viewer, "following") != NULL;
    bool followed = gw_json_str(viewer, "followedBy") != NULL;
    line_add(&l,
             gw_xasprintf("%ld posts, %ld followers, %ld following%s%s",
                          gw_json_long(p, "postsCount", 0, 0, 1000000000),
                          gw_json_long(p, "followersCount", 0, 0, 1000000000),
                          gw_json_long(p, "followsCount", 0, 0, 1000000000),
                          following ? "; you follow them" : "",
                          followed ? "; they follow you" : ""));
    const char *bio = gw_json_str(p, "description");
    if (bio != NULL) {
        char *clean = gw_text_sanitize(bio, strlen(bio));
        char *line = clean;
        int nb = 0;
        while (line != NULL && nb < BIO_LINES_MAX) {
            char *nl = strchr(line, '\n');
            if (nl != NULL)
                *nl = '\0';
            gw_trim(line);
            if (*line != '\0') {
                line_add(&l, gw_xstrdup(line));
                nb++;
            }
            line = nl != NULL ? nl + 1 : NULL;
        }
        free(clean);
    }
    *lines = l.v;
    return l.n;
}
