/*
 * Response headers: kept by libcurl's header callback as "name\0value\0"
 * pairs of the final response, looked up by name, and parsed into what
 * struct gw_http_response carries (Retry-After, rate limits, Link).
 */
#include "gw_http_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

bool gw__http_all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

int64_t gw__http_digits(const char *s, const char **end)
{
    int64_t v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9') {
        if (v < INT64_MAX / 10 - 10)
            v = v * 10 + (*p - '0');
        p++;
    }
    if (end)
        *end = p;
    return p == s ? -1 : v;
}

/* ---- the header callback ---------------------------------------------- */

static const char *hdr_find(const struct gw_buf *b, const char *name);

/* Does the redirect just heard keep to the origin first asked? When not,
 * the transfer ends with an error that names where it was sent. */
static bool redirect_stays(struct gw_http_req *r)
{
    const char *loc = hdr_find(&r->hdrs, "location");
    if (loc == NULL)
        return true; /* not a redirect curl follows */
    char *here = NULL;
    curl_easy_getinfo(r->easy, CURLINFO_EFFECTIVE_URL, &here);
    CURLU *u = curl_url();
    char *next = NULL;
    if (u != NULL && here != NULL &&
        curl_url_set(u, CURLUPART_URL, here, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, loc, 0) == CURLUE_OK)
        curl_url_get(u, CURLUPART_URL, &next, 0);
    char origin[sizeof(r->origin)];
    bool ok = next != NULL &&
              gw__http_origin(next, origin, sizeof(origin)) == 0 &&
              strcmp(origin, r->origin) == 0;
    if (!ok) {
        r->abort_err = UV_EPROTO;
        snprintf(r->abort_text, sizeof(r->abort_text),
                 "the server redirected to %.200s; only redirects within %s "
                 "are followed",
                 next != NULL &&
                         gw__http_origin(next, origin, sizeof(origin)) == 0
                     ? origin
                     : "an address that is not a URL",
                 r->origin);
        r->abort_msg = r->abort_text;
    }
    curl_free(next);
    curl_url_cleanup(u);
    return ok;
}

size_t gw__http_on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct gw_http_req *r = ud;
    size_t total = size * nitems;
    size_t len = total;

    if (r->sse)
        gw__sse_heard(r->sse);
    /* A new status line starts a new response: anything kept so far came
     * from a redirect or a 1xx and does not describe the final answer. */
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        gw_buf_reset(&r->hdrs);
        r->hdr_done = false;
        r->hdr_status = 0;
        const char *sp = memchr(buf, ' ', len);
        if (sp && (size_t)(sp - buf) + 4 <= len) {
            long code = 0;
            int i;
            for (i = 1; i <= 3 && sp[i] >= '0' && sp[i] <= '9'; i++)
                code = code * 10 + (sp[i] - '0');
            if (i == 4)
                r->hdr_status = code;
        }
        return total;
    }
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len == 0) {
        r->hdr_done = true;
        if (r->hdr_status >= 300 && r->hdr_status < 400 && !redirect_stays(r))
            return 0; /* curl aborts before it follows */
        if (r->sse && r->hdr_status >= 200 && r->hdr_status < 300) {
            r->stream_ok = true;
            gw__sse_connected(r->sse);
        }
        return total;
    }
    /* Trailers and junk with NUL bytes are not kept. */
    if (r->hdr_done || memchr(buf, '\0', len))
        return total;

    int rc = 0;
    if (is_ows(buf[0])) {
        /* obs-fold: a continuation of the previous header's value. */
        size_t i = 0;
        while (i < len && is_ows(buf[i]))
            i++;
        if (r->hdrs.len == 0 || i == len)
            return total;
        r->hdrs.data[r->hdrs.len - 1] = ' ';
        rc = gw_buf_append(&r->hdrs, buf + i, len - i);
        if (rc == 0)
            rc = gw_buf_append(&r->hdrs, "", 1);
    } else {
        const char *colon = memchr(buf, ':', len);
        if (colon == NULL || colon == buf)
            return total;
        size_t nl = (size_t)(colon - buf);
        while (nl && is_ows(buf[nl - 1]))
            nl--;
        const char *v = colon + 1;
        const char *end = buf + len;
        while (v < end && is_ows(*v))
            v++;
        while (end > v && is_ows(end[-1]))
            end--;
        size_t need = nl + 1 + (size_t)(end - v) + 1;
        if (r->hdrs.len + need > r->hdrs.max) {
            rc = UV_ENOBUFS;
        } else {
            gw_buf_append(&r->hdrs, buf, nl);
            gw_buf_append(&r->hdrs, "", 1);
            gw_buf_append(&r->hdrs, v, (size_t)(end - v));
            gw_buf_append(&r->hdrs, "", 1);
        }
    }
    if (rc < 0) {
        r->abort_err = UV_E2BIG;
        r->abort_msg = "response headers too large";
        return 0;
    }
    return total;
}

/* ---- header store ----------------------------------------------------- */

/* Walk "name\0value\0" pairs; returns the next offset or 0 at the end. */
static size_t hdr_next(const struct gw_buf *b, size_t off, const char **name,
                       const char **value)
{
    if (b == NULL || b->data == NULL || off >= b->len)
        return 0;
    *name = b->data + off;
    *value = *name + strlen(*name) + 1;
    return (size_t)(*value - b->data) + strlen(*value) + 1;
}

static const char *hdr_find(const struct gw_buf *b, const char *name)
{
    const char *found = NULL, *n, *v;
    size_t off = 0;
    for (;;) {
        off = hdr_next(b, off, &n, &v);
        if (off == 0)
            break;
        if (gw_strcasecmp(n, name) == 0)
            found = v;
    }
    return found;
}

const char *gw_http_response_header(const struct gw_http_response *r,
                                    const char *name)
{
    if (r == NULL || name == NULL || r->internal == NULL)
        return NULL;
    const struct delivery *d = r->internal;
    return &d->pub == r ? hdr_find(d->hdrs, name) : NULL;
}

/* ---- header value parsers --------------------------------------------- */

static int month_index(const char *m)
{
    static const char names[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    for (int i = 0; i < 12; i++) {
        if (strcmp(m, names[i]) == 0)
            return i + 1;
    }
    return 0;
}

/*
 * HTTP-date (RFC 9110 5.6.7): IMF-fixdate, and the obsolete RFC 850 and
 * asctime forms recipients must accept. Built into ISO-8601 and handed to
 * gw_parse_time so there is one calendar conversion in the code base.
 */
static int parse_http_date(const char *s, int64_t *ms)
{
    char mon[4] = "";
    int d = 0, y = 0, hh = 0, mm = 0, ss = 0, n = 0;
    size_t len = strlen(s);

    /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
    int got = sscanf(s, "%*[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d GMT%n", &d,
                     mon, &y, &hh, &mm, &ss, &n);
    if (got != 6 || (size_t)n != len) {
        /* RFC 850: "Sunday, 06-Nov-94 08:49:37 GMT" */
        n = 0;
        got = sscanf(s, "%*[A-Za-z], %2d-%3[A-Za-z]-%2d %2d:%2d:%2d GMT%n", &d,
                     mon, &y, &hh, &mm, &ss, &n);
        if (got == 6 && (size_t)n == len)
            y += y < 70 ? 2000 : 1900;
    }
    if (got != 6 || (size_t)n != len) {
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        n = 0;
        got = sscanf(s, "%*[A-Za-z] %3[A-Za-z] %2d %2d:%2d:%2d %4d%n", mon, &d,
                     &hh, &mm, &ss, &y, &n);
    }
    if (got != 6 || (size_t)n != len)
        return UV_EINVAL;
    int mo = month_index(mon);
    if (mo == 0 || y < 1970 || y > 9999)
        return UV_EINVAL;
    char iso[32];
    (void)snprintf(iso, sizeof(iso), "%04d-%02d-%02dT%02d:%02d:%02dZ", y, mo, d,
                   hh, mm, ss);
    return gw_parse_time(iso, ms);
}

static long parse_retry_after(const char *v, int64_t now_ms)
{
    if (v == NULL)
        return -1;
    if (gw__http_all_digits(v)) {
        int64_t s = gw__http_digits(v, NULL);
        return s > LONG_MAX ? LONG_MAX : (long)s;
    }
    int64_t t;
    if (parse_http_date(v, &t) < 0)
        return -1;
    if (t <= now_ms)
        return 0;
    int64_t secs = (t - now_ms + 999) / 1000;
    return secs > LONG_MAX ? LONG_MAX : (long)secs;
}

/*
 * X-RateLimit-Reset: Mastodon sends an ISO-8601 time, Bluesky and X send
 * epoch seconds, and the IETF RateLimit draft sends seconds from now. A
 * number below 1e9 (2001) cannot be an epoch, so it is taken as a delta; a
 * number of 1e12 or more is already milliseconds.
 */
static int64_t parse_reset(const char *v, int64_t now_ms)
{
    if (v == NULL)
        return 0;
    const char *end;
    int64_t n = gw__http_digits(v, &end);
    if (n >= 0 && (*end == '\0' || *end == '.' || is_ows(*end))) {
        if (n >= 1000000000000LL)
            return n;
        if (n >= 1000000000LL)
            return n * 1000;
        return now_ms + n * 1000;
    }
    int64_t t;
    if (gw_parse_time(v, &t) < 0)
        return 0;
    return t;
}

static bool rel_has(const char *v, size_t len, const char *want)
{
    size_t wl = strlen(want);
    size_t i = 0;
    while (i < len) {
        while (i < len && is_ows(v[i]))
            i++;
        size_t st = i;
        while (i < len && !is_ows(v[i]))
            i++;
        if (i - st == wl && gw_strncasecmp(v + st, want, wl) == 0)
            return true;
    }
    return false;
}

/*
 * RFC 8288 Link: <uri>; param=value; rel="next prev", <uri2>; ...
 * Quoted values may hold commas and semicolons, so this scans rather than
 * splits. The first link with each relation wins.
 */
static void parse_link(const char *p, char **next, char **prev)
{
    for (;;) {
        while (is_ows(*p) || *p == ',')
            p++;
        if (*p != '<') {
            p = strchr(p, ',');
            if (p == NULL)
                return;
            continue;
        }
        const char *us = p + 1;
        const char *ue = strchr(us, '>');
        if (ue == NULL)
            return;
        p = ue + 1;
        bool is_next = false, is_prev = false;
        for (;;) {
            while (is_ows(*p))
                p++;
            if (*p != ';')
                break;
            p++;
            while (is_ows(*p))
                p++;
            const char *ns = p;
            while (*p && *p != '=' && *p != ';' && *p != ',' && !is_ows(*p))
                p++;
            size_t nl = (size_t)(p - ns);
            while (is_ows(*p))
                p++;
            const char *vs = NULL;
            size_t vl = 0;
            if (*p == '=') {
                p++;
                while (is_ows(*p))
                    p++;
                if (*p == '"') {
                    vs = ++p;
                    while (*p && *p != '"') {
                        if (*p == '\\' && p[1])
                            p++;
                        p++;
                    }
                    vl = (size_t)(p - vs);
                    if (*p == '"')
                        p++;
                } else {
                    vs = p;
                    while (*p && *p != ';' && *p != ',' && !is_ows(*p))
                        p++;
                    vl = (size_t)(p - vs);
                }
            }
            if (vs && nl == 3 && gw_strncasecmp(ns, "rel", 3) == 0) {
                is_next = is_next || rel_has(vs, vl, "next");
                is_prev = is_prev || rel_has(vs, vl, "prev") ||
                          rel_has(vs, vl, "previous");
            }
        }
        if (is_next && *next == NULL)
            *next = gw_xstrndup(us, (size_t)(ue - us));
        if (is_prev && *prev == NULL)
            *prev = gw_xstrndup(us, (size_t)(ue - us));
        while (*p && *p != ',')
            p++;
        if (*p == '\0')
            return;
    }
}

/* ---- deliveries ------------------------------------------------------- */

void gw__http_delivery_init(struct delivery *d, long status, int error,
                            const char *errmsg, const struct gw_buf *body,
                            const struct gw_buf *hdrs, const char *version)
{
    memset(d, 0, sizeof(*d));
    d->pub.status = status;
    d->pub.error = error;
    d->pub.errmsg = errmsg ? errmsg : "";
    d->pub.body = body && body->data ? body->data : "";
    d->pub.body_len = body && body->data ? body->len : 0;
    d->pub.retry_after_s = -1;
    d->pub.ratelimit_remaining = -1;
    d->pub.ratelimit_reset_ms = 0;
    d->pub.http_version = version ? version : "";
    d->hdrs = hdrs;

    int64_t now = gw_now_ms();
    d->pub.retry_after_s =
        parse_retry_after(hdr_find(hdrs, "Retry-After"), now);
    static const char *const remaining[] = {"X-RateLimit-Remaining",
                                            "X-Rate-Limit-Remaining",
                                            "RateLimit-Remaining"};
    static const char *const reset[] = {
        "X-RateLimit-Reset", "X-Rate-Limit-Reset", "RateLimit-Reset"};
    for (size_t i = 0; i < GW_ARRAY_LEN(remaining); i++) {
        const char *v = hdr_find(hdrs, remaining[i]);
        int64_t n = v ? gw__http_digits(v, NULL) : -1;
        if (n >= 0) {
            d->pub.ratelimit_remaining = n > LONG_MAX ? LONG_MAX : (long)n;
            break;
        }
    }
    for (size_t i = 0; i < GW_ARRAY_LEN(reset); i++) {
        int64_t t = parse_reset(hdr_find(hdrs, reset[i]), now);
        if (t > 0) {
            d->pub.ratelimit_reset_ms = t;
            break;
        }
    }
    const char *n, *v;
    size_t off = 0;
    for (;;) {
        off = hdr_next(hdrs, off, &n, &v);
        if (off == 0)
            break;
        if (gw_strcasecmp(n, "Link") == 0)
            parse_link(v, &d->link_next, &d->link_prev);
    }
    d->pub.link_next = d->link_next;
    d->pub.link_prev = d->link_prev;
    d->pub.content_type = hdr_find(hdrs, "Content-Type");
}

void gw__http_delivery_push(struct delivery *d)
{
    d->pub.internal = d;
}

void gw__http_delivery_pop(struct delivery *d)
{
    d->pub.internal = NULL;
    free(d->link_next);
    free(d->link_prev);
    d->link_next = d->link_prev = NULL;
}
