/*
 * Bluesky out: record keys, facets found in what people type, the records
 * and chat messages built from it, lengths as the network counts them,
 * and what an XRPC answer means for an action. Pure.
 */
#include "bluesky.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_json.h"

#define ERROR_TEXT_BYTES 300
#define FACETS_OUT_MAX   100

/* ---- record keys -------------------------------------------------------- */

static const char b32sort[] = "234567abcdefghijklmnopqrstuvwxyz";

void bluesky_tid(int64_t us, unsigned clock_id, char out[14])
{
    uint64_t v =
        ((uint64_t)us & ((UINT64_C(1) << 53) - 1)) << 10 | (clock_id & 1023u);
    for (int i = 12; i >= 0; i--) {
        out[i] = b32sort[v & 31];
        v >>= 5;
    }
    out[13] = '\0';
}

/* FNV-1a: spreads the key's bits; nothing here needs to be secret. */
static uint64_t fnv1a(const char *s)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (; s != NULL && *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= UINT64_C(1099511628211);
    }
    return h;
}

void bluesky_tid_for(int64_t queued_ms, const char *idem_key, char out[14])
{
    uint64_t h = fnv1a(idem_key);
    int64_t us = queued_ms * 1000 + (int64_t)(h % 1000);
    bluesky_tid(us, (unsigned)(h >> 20) & 1023u, out);
}

/* ---- facets ------------------------------------------------------------- */

void bluesky_facets_free(struct bluesky_facet *f, int n)
{
    for (int i = 0; i < n; i++) {
        free(f[i].value);
        free(f[i].did);
    }
    free(f);
}

static bool handle_byte(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '-';
}

static bool opens_word(const char *s, size_t i)
{
    return i == 0 || s[i - 1] == ' ' || s[i - 1] == '\n' || s[i - 1] == '(' ||
           s[i - 1] == '\t';
}

static void facet_add(struct bluesky_facet **out, int *n, int *cap,
                      enum bluesky_facet_kind kind, size_t start, size_t end,
                      char *value)
{
    if (*n == *cap) {
        *cap = *cap > 0 ? *cap * 2 : 8;
        *out = gw_xrealloc(*out, (size_t)*cap * sizeof(**out));
    }
    struct bluesky_facet *f = &(*out)[(*n)++];
    memset(f, 0, sizeof(*f));
    f->kind = kind;
    f->start = start;
    f->end = end;
    f->value = value;
}

int bluesky_facets_find(const char *text, struct bluesky_facet **out)
{
    *out = NULL;
    int n = 0, cap = 0;
    size_t len = text != NULL ? strlen(text) : 0, i = 0;
    int32_t before = -1;
    while (i < len && n < FACETS_OUT_MAX) {
        size_t u = gw_text_url_at(text + i, len - i, before);
        if (u > 0 && opens_word(text, i)) {
            /* Punctuation that ends a sentence is not part of the link,
             * nor a ')' that closes a parenthesis opened before it. */
            while (u > 0 && strchr(".,;:!?\"'", text[i + u - 1]) != NULL)
                u--;
            int open = 0;
            for (size_t k = 0; k < u; k++)
                open += text[i + k] == '(' ? 1 : text[i + k] == ')' ? -1 : 0;
            while (u > 0 && text[i + u - 1] == ')' && open < 0) {
                u--;
                open++;
            }
            facet_add(out, &n, &cap, BLUESKY_FACET_LINK, i, i + u,
                      gw_xstrndup(text + i, u));
            i += u;
            before = 'x';
            continue;
        }
        if (text[i] == '@' && opens_word(text, i)) {
            size_t e = i + 1;
            while (e < len && handle_byte(text[e]))
                e++;
            while (e > i + 1 && (text[e - 1] == '.' || text[e - 1] == '-'))
                e--;
            char *h = gw_xstrndup(text + i + 1, e - i - 1);
            if (bluesky_handle_valid(h)) {
                gw_strlower(h);
                facet_add(out, &n, &cap, BLUESKY_FACET_MENTION, i, e, h);
                i = e;
                before = 'x';
                continue;
            }
            free(h);
        }
        i += gw_utf8_next(text + i, len - i, &before);
    }
    return n;
}

static cJSON *facets_json(const struct bluesky_facet *f, int nf)
{
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < nf; i++) {
        if (f[i].kind == BLUESKY_FACET_MENTION && f[i].did == NULL)
            continue;
        cJSON *o = cJSON_CreateObject();
        cJSON *idx = cJSON_AddObjectToObject(o, "index");
        cJSON_AddNumberToObject(idx, "byteStart", (double)f[i].start);
        cJSON_AddNumberToObject(idx, "byteEnd", (double)f[i].end);
        cJSON *feats = cJSON_AddArrayToObject(o, "features");
        cJSON *ft = cJSON_CreateObject();
        if (f[i].kind == BLUESKY_FACET_MENTION) {
            cJSON_AddStringToObject(ft, "$type",
                                    "app.bsky.richtext.facet#mention");
            cJSON_AddStringToObject(ft, "did", f[i].did);
        } else {
            cJSON_AddStringToObject(ft, "$type",
                                    "app.bsky.richtext.facet#link");
            cJSON_AddStringToObject(ft, "uri", f[i].value);
        }
        cJSON_AddItemToArray(feats, ft);
        cJSON_AddItemToArray(arr, o);
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(arr);
        return NULL;
    }
    return arr;
}

static void add_ref(cJSON *parent, const char *name, const char *uri,
                    const char *cid)
{
    cJSON *r = cJSON_AddObjectToObject(parent, name);
    cJSON_AddStringToObject(r, "uri", uri);
    cJSON_AddStringToObject(r, "cid", cid);
}

cJSON *bluesky_post_record(const char *text, int64_t created_ms,
                           const struct bluesky_facet *f, int nf,
                           const struct bluesky_reply_refs *reply)
{
    char when[32];
    gw_format_time(created_ms, when, sizeof(when));
    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "$type", "app.bsky.feed.post");
    cJSON_AddStringToObject(rec, "text", text);
    cJSON_AddStringToObject(rec, "createdAt", when);
    cJSON *facets = facets_json(f, nf);
    if (facets != NULL)
        cJSON_AddItemToObject(rec, "facets", facets);
    if (reply != NULL && reply->parent_uri != NULL &&
        reply->parent_cid != NULL) {
        cJSON *r = cJSON_AddObjectToObject(rec, "reply");
        bool root = reply->root_uri != NULL && reply->root_cid != NULL;
        add_ref(r, "root", root ? reply->root_uri : reply->parent_uri,
                root ? reply->root_cid : reply->parent_cid);
        add_ref(r, "parent", reply->parent_uri, reply->parent_cid);
    }
    return rec;
}

cJSON *bluesky_message_input(const char *text, const struct bluesky_facet *f,
                             int nf)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "text", text);
    cJSON *facets = facets_json(f, nf);
    if (facets != NULL)
        cJSON_AddItemToObject(m, "facets", facets);
    return m;
}

/* ---- limits ------------------------------------------------------------- */

int bluesky_check_length(const char *text, long max_graphemes, long max_bytes,
                         char *err, size_t errlen)
{
    long g = gw_text_graphemes(text != NULL ? text : "");
    size_t bytes = text != NULL ? strlen(text) : 0;
    if (g > max_graphemes) {
        snprintf(err, errlen, "too long: %ld graphemes, Bluesky allows %ld", g,
                 max_graphemes);
        return UV_EMSGSIZE;
    }
    if ((long)bytes > max_bytes) {
        snprintf(err, errlen, "too long: %zu bytes, Bluesky allows %ld", bytes,
                 max_bytes);
        return UV_EMSGSIZE;
    }
    return 0;
}

/* ---- answers ------------------------------------------------------------ */

enum gw_action_status bluesky_map_status(const struct gw_http_response *r)
{
    if (r->error != 0 || r->status == 0)
        return GW_ACT_RETRY;
    if (r->status >= 200 && r->status < 300)
        return GW_ACT_OK;
    if (r->status == 408 || r->status == 429 || r->status >= 500)
        return GW_ACT_RETRY;
    return GW_ACT_FAILED;
}

const char *bluesky_error_name(const struct gw_http_response *r, char *buf,
                               size_t size)
{
    if (r->error != 0 || r->body == NULL || r->body_len == 0)
        return NULL;
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    const char *e = gw_json_str(j, "error");
    const char *out = NULL;
    if (e != NULL && gw_printable_word(e, 100)) {
        gw_strlcpy(buf, e, size);
        out = buf;
    }
    cJSON_Delete(j);
    return out;
}

char *bluesky_error_text(const struct gw_http_response *r)
{
    return gw_json_error_line(r, "message", ERROR_TEXT_BYTES);
}
