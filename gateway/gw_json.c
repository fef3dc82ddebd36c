#include "gw_json.h"

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gw_text.h"
#include "gw_util.h"

/*
 * A mention notification is 2.5 KB of JSON and some 120 values. cJSON
 * mallocs every node, key and string on its own and compares "null",
 * "false" and "true" before it looks at any value: parsing and freeing was
 * over a third of the gateway's instructions per mention. gw_json_parse
 * builds the same cJSON tree itself with a strict JSON parser that
 * bump-allocates from one block, and dropping the tree is free.
 *
 * Whatever it does not take (a number that is not plain JSON, \u0000,
 * deep nesting, a tree too big for the block, a syntax error) goes to
 * cJSON_ParseWithLength, so every input parses exactly as with cJSON
 * alone. cJSON then allocates from the same block as far as it fits (its
 * hooks), and frees into it are no-ops.
 */
/*
 * The arena is the one piece of mutable state outside struct gateway:
 * cJSON's allocation hooks are process-wide and take no context, so what
 * they consult must be too. Parley runs one thread.
 */
#define JSON_ARENA_SIZE (64 * 1024)
#define JSON_DEPTH_MAX  64
#define JSON_NUMBER_MAX 64

static struct {
    char *base;
    size_t used;
    bool parsing; /* cJSON is allocating for gw_json_parse */
    bool spilled; /* part of cJSON's tree did not fit: it needs cJSON_Delete */
    bool live;    /* a tree is in the arena */
} arena;

static bool in_arena(const void *p)
{
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)arena.base;
    return arena.base != NULL && a >= b && a < b + JSON_ARENA_SIZE;
}

static void *arena_take(size_t n, size_t align)
{
    size_t at = (arena.used + align - 1) & ~(align - 1);
    if (at > JSON_ARENA_SIZE || n > JSON_ARENA_SIZE - at)
        return NULL;
    arena.used = at + n;
    return arena.base + at;
}

static void *hook_malloc(size_t n)
{
    if (arena.parsing) {
        void *p = arena_take(n, 16); /* malloc's alignment */
        if (p != NULL)
            return p;
        arena.spilled = true;
    }
    return malloc(n);
}

static void hook_free(void *p)
{
    if (!in_arena(p))
        free(p);
}

/* ---- the parser ------------------------------------------------------ */

struct jp {
    const char *p, *end;
    int depth;
};

static void jp_space(struct jp *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
        j->p++;
}

static int hex4(const char *s)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= c - '0';
        else if (c >= 'a' && c <= 'f')
            v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v |= c - 'A' + 10;
        else
            return -1;
    }
    return v;
}

static char *utf8_put(char *o, int cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Decode the escapes of s..q (checked to be whole) into o. */
static bool jp_unescape(const char *s, const char *q, char *o)
{
    while (s < q) {
        if (*s != '\\') {
            *o++ = *s++;
            continue;
        }
        s++;
        char c = *s++;
        switch (c) {
        case '"':
        case '\\':
        case '/':
            *o++ = c;
            break;
        case 'b':
            *o++ = '\b';
            break;
        case 'f':
            *o++ = '\f';
            break;
        case 'n':
            *o++ = '\n';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'u': {
            int cp = q - s >= 4 ? hex4(s) : -1;
            /* \u0000 would cut the string short: cJSON's call. */
            if (cp <= 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
                return false;
            s += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo = q - s >= 6 && s[0] == '\\' && s[1] == 'u' ? hex4(s + 2)
                                                                   : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return false;
                s += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
            o = utf8_put(o, cp);
            break;
        }
        default:
            return false;
        }
    }
    *o = '\0';
    return true;
}

/* At the opening quote. */
static char *jp_string(struct jp *j)
{
    const char *s = ++j->p, *q = memchr(s, '"', (size_t)(j->end - s));
    if (q == NULL)
        return NULL;
    bool escapes = memchr(s, '\\', (size_t)(q - s)) != NULL;
    if (escapes) {
        /* That quote may be an escaped one: walk to the real end. */
        for (q = s; q < j->end && *q != '"'; q++)
            if (*q == '\\' && ++q == j->end)
                return NULL;
        if (q >= j->end)
            return NULL;
    }
    /* Raw control characters are copied as they are, as cJSON does;
     * escapes only ever shrink the text. */
    char *out = arena_take((size_t)(q - s) + 1, 1);
    if (out == NULL)
        return NULL;
    j->p = q + 1;
    if (escapes)
        return jp_unescape(s, q, out) ? out : NULL;
    memcpy(out, s, (size_t)(q - s));
    out[q - s] = '\0';
    return out;
}

static bool digits(struct jp *j)
{
    const char *d = j->p;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > d;
}

/* JSON's number grammar; the value as cJSON computes it (strtod, in the C
 * locale Parley runs in). */
static bool jp_number(struct jp *j, cJSON *n)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-')
        j->p++;
    if (!digits(j))
        return false;
    bool integer = true;
    if (j->p < j->end && *j->p == '.') {
        j->p++;
        if (!digits(j))
            return false;
        integer = false;
    }
    if (j->p < j->end && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->end && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!digits(j))
            return false;
        integer = false;
    }
    size_t len = (size_t)(j->p - s);
    double v;
    if (integer && len <= 15) {
        /* Exact in a double, as strtod would give it. */
        bool neg = *s == '-';
        int64_t u = 0;
        for (const char *c = s + neg; c < j->p; c++)
            u = u * 10 + (*c - '0');
        v = neg ? -(double)u : (double)u;
    } else {
        char buf[JSON_NUMBER_MAX];
        if (len >= sizeof(buf))
            return false;
        memcpy(buf, s, len);
        buf[len] = '\0';
        v = strtod(buf, NULL);
    }
    n->type = cJSON_Number;
    n->valuedouble = v;
    n->valueint = v >= INT_MAX           ? INT_MAX
                  : v <= (double)INT_MIN ? INT_MIN
                                         : (int)v;
    return true;
}

static bool jp_word(struct jp *j, const char *w, size_t len)
{
    if ((size_t)(j->end - j->p) < len || memcmp(j->p, w, len) != 0)
        return false;
    j->p += len;
    return true;
}

static cJSON *jp_value(struct jp *j);

/* An object or an array, linked as cJSON links them. */
static bool jp_container(struct jp *j, cJSON *n)
{
    bool object = *j->p == '{';
    char close = object ? '}' : ']';
    n->type = object ? cJSON_Object : cJSON_Array;
    if (++j->depth > JSON_DEPTH_MAX)
        return false;
    j->p++;
    jp_space(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return true;
    }
    cJSON *last = NULL;
    for (;;) {
        char *key = NULL;
        if (object) {
            if (j->p >= j->end || *j->p != '"' || (key = jp_string(j)) == NULL)
                return false;
            jp_space(j);
            if (j->p >= j->end || *j->p != ':')
                return false;
            j->p++;
            jp_space(j);
        }
        cJSON *item = jp_value(j);
        if (item == NULL)
            return false;
        item->string = key;
        if (last == NULL) {
            n->child = item;
        } else {
            last->next = item;
            item->prev = last;
        }
        last = item;
        jp_space(j);
        if (j->p >= j->end)
            return false;
        if (*j->p == close)
            break;
        if (*j->p != ',')
            return false;
        j->p++;
        jp_space(j);
    }
    j->p++;
    n->child->prev = last;
    j->depth--;
    return true;
}

static cJSON *jp_value(struct jp *j)
{
    if (j->p >= j->end)
        return NULL;
    cJSON *n = arena_take(sizeof(*n), _Alignof(cJSON));
    if (n == NULL)
        return NULL;
    memset(n, 0, sizeof(*n));
    bool ok;
    switch (*j->p) {
    case '"':
        n->type = cJSON_String;
        ok = (n->valuestring = jp_string(j)) != NULL;
        break;
    case '{':
    case '[':
        ok = jp_container(j, n);
        break;
    case 't':
        n->type = cJSON_True;
        n->valueint = 1;
        ok = jp_word(j, "true", 4);
        break;
    case 'f':
        n->type = cJSON_False;
        ok = jp_word(j, "false", 5);
        break;
    case 'n':
        n->type = cJSON_NULL;
        ok = jp_word(j, "null", 4);
        break;
    default:
        ok = jp_number(j, n);
    }
    return ok ? n : NULL;
}

/* ---- the interface --------------------------------------------------- */

char *gw_json_unnul(const char *s, size_t len)
{
    char *out = NULL;
    const char *p = s, *end = s + len;
    while (p != NULL && p < end) {
        p = memchr(p, '\\', (size_t)(end - p));
        if (p == NULL || end - p < 6)
            break;
        /* An escape is a backslash that is not itself escaped: count the
         * run of backslashes and look only after an odd one. */
        const char *q = p;
        while (q < end && *q == '\\')
            q++;
        if (((q - p) & 1) == 1 && end - (q - 1) >= 6 &&
            memcmp(q - 1, "\\u0000", 6) == 0) {
            if (out == NULL) {
                out = gw_xmalloc(len + 1);
                memcpy(out, s, len);
                out[len] = '\0';
            }
            memcpy(out + (q - 1 - s), "\\uFFFD", 6);
        }
        p = q;
    }
    return out;
}

cJSON *gw_json_read(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return NULL;
    char *fixed = gw_json_unnul(s, len);
    cJSON *j = cJSON_ParseWithLength(fixed != NULL ? fixed : s, len);
    free(fixed);
    return j;
}

cJSON *gw_json_parse(const char *s, size_t len)
{
    char *fixed = s != NULL ? gw_json_unnul(s, len) : NULL;
    if (fixed != NULL) {
        cJSON *j = gw_json_parse(fixed, len);
        free(fixed);
        return j;
    }
    if (arena.live)
        return cJSON_ParseWithLength(s, len);
    if (arena.base == NULL) {
        cJSON_Hooks hooks = {hook_malloc, hook_free};
        arena.base = gw_xmalloc(JSON_ARENA_SIZE);
        cJSON_InitHooks(&hooks);
    }
    arena.used = 0;
    arena.spilled = false;
    struct jp j = {s, s + len, 0};
    jp_space(&j);
    cJSON *root = s != NULL ? jp_value(&j) : NULL;
    jp_space(&j);
    if (root == NULL || j.p != j.end) {
        arena.used = 0;
        arena.parsing = true;
        root = cJSON_ParseWithLength(s, len);
        arena.parsing = false;
    }
    arena.live = root != NULL && in_arena(root);
    return root;
}

void gw_json_free(cJSON *j)
{
    if (j == NULL)
        return;
    if (!in_arena(j)) {
        cJSON_Delete(j);
        return;
    }
    if (arena.spilled)
        cJSON_Delete(j);
    arena.live = false;
}

/* cJSON_GetObjectItemCaseSensitive, with the first byte compared before
 * calling strcmp: a Mastodon status has some 25 keys, read about 20 times
 * per post. */
const cJSON *gw_json_get(const cJSON *o, const char *k)
{
    if (!cJSON_IsObject(o))
        return NULL;
    for (const cJSON *c = o->child; c != NULL && c->string != NULL; c = c->next)
        if (c->string[0] == k[0] && strcmp(c->string, k) == 0)
            return c;
    return NULL;
}

const char *gw_json_str(const cJSON *o, const char *k)
{
    const cJSON *v = gw_json_get(o, k);
    if (!cJSON_IsString(v) || v->valuestring == NULL)
        return NULL;
    return v->valuestring;
}

const cJSON *gw_json_obj(const cJSON *o, const char *k)
{
    const cJSON *v = gw_json_get(o, k);
    return cJSON_IsObject(v) ? v : NULL;
}

const cJSON *gw_json_arr(const cJSON *o, const char *k)
{
    const cJSON *v = gw_json_get(o, k);
    return cJSON_IsArray(v) ? v : NULL;
}

long gw_json_long(const cJSON *o, const char *k, long dflt, long min, long max)
{
    const cJSON *v = gw_json_get(o, k);
    if (!cJSON_IsNumber(v))
        return dflt;
    double d = v->valuedouble;
    if (!(d == d))
        return dflt;
    if (d < (double)min)
        return min;
    if (d > (double)max)
        return max;
    return (long)d;
}

char *gw_json_error_line(const struct gw_http_response *r,
                         const char *detail_key, size_t max)
{
    char *msg;
    if (r->error != 0) {
        msg = gw_xstrdup(r->errmsg != NULL && *r->errmsg != '\0'
                             ? r->errmsg
                             : "network error");
    } else {
        cJSON *j = r->body != NULL && r->body_len > 0
                       ? cJSON_ParseWithLength(r->body, r->body_len)
                       : NULL;
        const char *e = gw_json_str(j, "error");
        const char *d = gw_json_str(j, detail_key);
        bool he = e != NULL && *e != '\0', hd = d != NULL && *d != '\0';
        if (he && hd)
            msg = gw_xasprintf("%s: %s", e, d);
        else if (he || hd)
            msg = gw_xstrdup(he ? e : d);
        else
            msg = gw_xasprintf("HTTP %ld", r->status);
        cJSON_Delete(j);
    }
    char *line = gw_text_one_line(msg);
    free(msg);
    gw_text_truncate(line, max);
    return line;
}
