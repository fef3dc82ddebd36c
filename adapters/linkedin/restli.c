/*
 * LinkedIn URLs and URNs. Rest.li 2.0 wants every value in a URL
 * percent-encoded (a URN's ':' included) while its own syntax, List(...)
 * and (key:value,...), stays literal: linkedin_restli() keeps the two apart
 * so that no caller encodes by hand. Pure.
 */
#include "linkedin.h"

#include <assert.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define URN_MAX 256

static bool unreserved(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

static void put_value(struct gw_buf *b, const char *v)
{
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        if (unreserved(*p))
            gw_buf_append(b, p, 1);
        else
            gw_buf_printf(b, "%%%02X", *p);
    }
}

char *linkedin_restli(const char *fmt, ...)
{
    struct gw_buf b;
    /* URLs are a few hundred bytes; a long one is a bug, not an input. */
    gw_buf_init(&b, 64 * 1024);
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f != '\0'; f++) {
        if (*f != '%') {
            gw_buf_append(&b, f, 1);
            continue;
        }
        f++;
        switch (*f) {
        case 'u': {
            const char *v = va_arg(ap, const char *);
            put_value(&b, v != NULL ? v : "");
            break;
        }
        case 's': {
            const char *v = va_arg(ap, const char *);
            gw_buf_puts(&b, v != NULL ? v : "");
            break;
        }
        case 'l':
            gw_buf_printf(&b, "%" PRId64, va_arg(ap, int64_t));
            break;
        case '%':
            gw_buf_append(&b, "%", 1);
            break;
        default:
            assert(!"linkedin_restli: unknown conversion");
            va_end(ap);
            gw_buf_free(&b);
            return gw_xstrdup("");
        }
    }
    va_end(ap);
    return b.data != NULL ? gw_buf_steal(&b) : gw_xstrdup("");
}

static bool word_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
           (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

const char *linkedin_urn_split(const char *urn, char *type, size_t typelen)
{
    if (typelen > 0)
        type[0] = '\0';
    if (urn == NULL || strncmp(urn, "urn:li:", 7) != 0 || strlen(urn) > URN_MAX)
        return NULL;
    const char *t = urn + 7;
    size_t tl = 0;
    while (word_char((unsigned char)t[tl]))
        tl++;
    if (tl == 0 || t[tl] != ':' || t[tl + 1] == '\0')
        return NULL;
    const char *id = t + tl + 1;
    if (*id == '(') {
        /* A tuple: balanced parentheses, printable, nothing after it. */
        int depth = 0;
        const char *p = id;
        for (; *p != '\0'; p++) {
            unsigned char c = (unsigned char)*p;
            if (c <= 0x20 || c >= 0x7f)
                return NULL;
            if (c == '(')
                depth++;
            else if (c == ')' && --depth == 0)
                break;
        }
        if (depth != 0 || p[0] != ')' || p[1] != '\0')
            return NULL;
    } else {
        for (const char *p = id; *p != '\0'; p++)
            if (!word_char((unsigned char)*p))
                return NULL;
    }
    if (typelen > 0) {
        size_t n = tl < typelen - 1 ? tl : typelen - 1;
        memcpy(type, t, n);
        type[n] = '\0';
    }
    return id;
}

bool linkedin_urn_valid(const char *urn)
{
    char type[32];
    return linkedin_urn_split(urn, type, sizeof(type)) != NULL;
}

void linkedin_comment_ref_free(struct linkedin_comment_ref *c)
{
    if (c == NULL)
        return;
    free(c->urn);
    free(c->object);
    free(c->id);
    memset(c, 0, sizeof(c[0]));
}

int linkedin_comment_ref(const char *urn, struct linkedin_comment_ref *out)
{
    memset(out, 0, sizeof(*out));
    char type[32];
    const char *id = linkedin_urn_split(urn, type, sizeof(type));
    if (id == NULL || strcmp(type, "comment") != 0 || *id != '(')
        return UV_EINVAL;
    const char *comma = strrchr(id, ',');
    if (comma == NULL)
        return UV_EINVAL;
    char *thread = gw_xstrndup(id + 1, (size_t)(comma - id - 1));
    char *cid = gw_xstrndup(comma + 1, strlen(comma + 1) - 1);
    /* Notifications shorten the thread to "activity:N". */
    char *object = strncmp(thread, "urn:", 4) == 0
                       ? gw_xstrdup(thread)
                       : gw_xasprintf("urn:li:%s", thread);
    free(thread);
    char otype[32];
    bool ok = linkedin_urn_split(object, otype, sizeof(otype)) != NULL &&
              strcmp(otype, "comment") != 0 && *cid != '\0';
    for (const char *p = cid; ok && *p != '\0'; p++)
        ok = word_char((unsigned char)*p);
    if (!ok) {
        free(object);
        free(cid);
        return UV_EINVAL;
    }
    out->urn = gw_xasprintf("urn:li:comment:(%s,%s)", object, cid);
    out->object = object;
    out->id = cid;
    return 0;
}

int64_t linkedin_next_utc_midnight(int64_t now_ms)
{
    const int64_t day = 86400000;
    return (now_ms / day + 1) * day;
}

void linkedin_format_day(int64_t ms, char *buf, size_t size)
{
    char full[32];
    gw_format_time(ms, full, sizeof(full));
    full[10] = '\0';
    gw_strlcpy(buf, full, size);
}
