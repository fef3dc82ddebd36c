#include "gw_http.h"

#include <assert.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "gw_limits.h"
#include "gw_util.h"

/*
 * Local limits and defaults. They only make sense next to the curl code, so
 * they live here rather than in gw_limits.h; each says why it is what it is.
 */

/* All header lines of one response together. Real APIs send a few KB; a
 * server that sends more is broken or hostile, and the transfer is aborted. */
#define HDR_MAX ((size_t)64 * 1024)
/* The body of a non-2xx answer to a stream request is kept for on_state,
 * truncated here: it is an error message, not data. */
#define SSE_ERRBODY_MAX ((size_t)64 * 1024)
/* Stream bytes received in one curl_multi_socket_action wait here until the
 * action returns, because user callbacks must not run inside libcurl's
 * callbacks. curl reads at most ~1.6 MB per action, so this is never hit by
 * an honest server. */
#define SSE_PENDING_MAX        ((size_t)GW_HTTP_BODY_MAX)
#define DEFAULT_CONNECT_MS     10000L
#define DEFAULT_TIMEOUT_MS     60000L
#define DEFAULT_STALL_MS       90000L
#define DEFAULT_BACKOFF_MIN_MS 1000L
#define DEFAULT_BACKOFF_MAX_MS 60000L
/* A connection that stayed up this long was healthy: the next reconnect
 * starts again from the minimum delay. */
#define SSE_STABLE_MS 30000
/* A server-sent "retry:" may lower the minimum delay only down to this (or
 * the caller's minimum when that is already lower). */
#define SSE_RETRY_FLOOR_MS 1000L
/* Retry-After is honoured up to an hour; beyond that it is a broken server,
 * and the stream keeps trying once an hour rather than never. */
#define RETRY_AFTER_CAP_S 3600L
#define MAX_REDIRS        5L
/* Debian's hashed system CA directory; with CURLOPT_CAINFO pointing at a
 * private CA, CAPATH keeps the public roots trusted too. */
#define SYSTEM_CAPATH "/etc/ssl/certs"

enum req_state {
    REQ_RUNNING,    /* attached to the multi handle */
    REQ_DONE,       /* finished, waiting in h->done for its callback */
    REQ_DELIVERING, /* its callback is running; in no list */
};

struct req_list {
    struct gw_http_req *head;
    struct gw_http_req *tail;
};

/*
 * One transfer. Owned by its gw_http from gw_http_request() until its
 * callback has returned, then freed by req_free(). Stream connections are
 * requests too, with sse set and an internal callback.
 */
struct gw_http_req {
    struct gw_http *h;
    CURL *easy;
    struct curl_slist *hdr_list; /* request headers, owned */
    char *body_copy;             /* request body, owned */
    gw_http_cb cb;
    void *arg;
    struct gw_sse *sse; /* stream this connection serves, or NULL */
    enum req_state state;
    struct gw_http_req *prev; /* in h->running or h->done */
    struct gw_http_req *next;
    struct gw_buf body; /* response body, capped */
    struct gw_buf hdrs; /* "name\0value\0" of the latest response */
    long hdr_status;    /* from the latest status line */
    bool hdr_done;      /* blank line after the headers seen */
    bool stream_ok;     /* stream: 2xx headers done, body is SSE */
    int abort_err;      /* why a callback of ours aborted, or 0 */
    const char *abort_msg;
    CURLcode result;
    long status; /* set when the transfer ends */
    int error;
    char errbuf[CURL_ERROR_SIZE];       /* CURLOPT_ERRORBUFFER */
    char errmsg[CURL_ERROR_SIZE + 160]; /* what the callback sees */
};

/* One uv_poll_t per socket curl asks us to watch; freed in its close cb. */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct gw_http *h;
    struct sock_ctx *prev;
    struct sock_ctx *next;
};

/*
 * The client. Created by gw_http_new(), released from the timer's close
 * callback after gw_http_free().
 */
struct gw_http {
    uv_loop_t *loop;
    CURLM *multi;            /* NULL once gw_http_free() cleaned it up */
    uv_timer_t timer;        /* CURLMOPT_TIMERFUNCTION's timer */
    struct req_list running; /* requests attached to multi */
    struct req_list done;    /* finished, callback not yet run */
    struct sock_ctx *socks;  /* polls currently open */
    struct gw_sse *streams;  /* every stream not yet closed */
    int nreqs;               /* user requests whose callback is pending */
    int nstreams;            /* streams not closed and not FAILED */
    bool closing;            /* gw_http_free() was called */
};

struct gw_sse_parser {
    size_t max_event;
    gw_sse_event_cb cb;
    void *arg;
    struct gw_buf line;  /* the line being read, capped */
    struct gw_buf data;  /* data: lines joined with '\n' */
    struct gw_buf event; /* event: field */
    struct gw_buf id;    /* last event ID buffer; survives dispatches */
    bool has_data;       /* a data: line was seen (data may still be "") */
    bool line_overflow;  /* the current line went past the cap */
    bool oversized;      /* the current event went past max_event */
    bool skip_lf;        /* last byte was CR: a following LF ends nothing */
    bool dropped;        /* an event was dropped during this feed */
    bool halt;           /* stream closed: stop dispatching */
    unsigned bom;        /* BOM bytes matched so far; 3 when past the start */
    void (*on_retry)(void *arg, long ms); /* stream hook for "retry:" */
};

enum sse_phase {
    SSE_CONNECTING, /* request in flight, no 2xx headers yet */
    SSE_OPEN,       /* CONNECTED was reported */
    SSE_WAITING,    /* reconnect timer running */
    SSE_FAILED,     /* permanent failure, waiting for gw_sse_close() */
};

/*
 * A self-reconnecting stream. Owned by the caller: gw_sse_close() frees it
 * (from the timer's close callback, so a stream closed inside one of its own
 * callbacks stays valid until that callback has unwound).
 */
struct gw_sse {
    struct gw_http *h;        /* NULL once detached by gw_http_free() */
    uv_timer_t timer;         /* stall watchdog or reconnect delay */
    struct gw_http_opts http; /* deep copy of the caller's options */
    char **hdr_copy;          /* owned strings behind http.headers */
    long stall_ms;
    long bmin;      /* current minimum delay ("retry:") */
    long bmin_orig; /* the caller's minimum */
    long bmax;
    unsigned attempt; /* reconnects since the last good one */
    uint64_t rng;     /* xorshift state for jitter */
    gw_sse_event_cb on_event;
    gw_sse_state_cb on_state;
    void *arg;
    struct gw_sse_parser *parser;
    struct gw_http_req *req; /* current connection, or NULL */
    struct gw_buf pending;   /* received, not yet parsed */
    enum sse_phase phase;
    bool work;              /* pending or connected_pending is set */
    bool connected_pending; /* 2xx headers arrived, not yet reported */
    bool got_event;         /* this connection dispatched an event */
    bool closing;           /* gw_sse_close() was called */
    bool detached;          /* gw_http_free() was called */
    bool timer_closed;      /* the timer's close callback has run */
    uint64_t last_rx;       /* loop time of the last byte received */
    uint64_t connected_at;  /* loop time of CONNECTED */
    struct gw_sse *prev;    /* in h->streams */
    struct gw_sse *next;
};

/*
 * The response handed to a callback, plus what gw_http_response_header()
 * needs. pub.internal points back here while the callback runs, so the
 * header lookup recognises our responses and returns NULL for one the
 * caller built itself (internal NULL).
 */
struct delivery {
    struct gw_http_response pub;
    const struct gw_buf *hdrs; /* may be NULL */
    char *link_next;
    char *link_prev;
};

static void after_action(struct gw_http *h);
static void stream_req_done(void *arg, const struct gw_http_response *r);
static void stream_disconnected(struct gw_sse *s,
                                const struct gw_http_response *resp,
                                CURLcode cc);

/* ---- small helpers ---------------------------------------------------- */

static void list_push(struct req_list *l, struct gw_http_req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

static void list_unlink(struct req_list *l, struct gw_http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
}

static bool has_crlf(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static bool all_digits(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
    }
    return true;
}

/* Leading decimal digits, saturating; -1 when there are none. */
static int64_t parse_digits(const char *s, const char **end)
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

/* Is the header name `name` among the "Name: value" strings? */
static bool has_header(const char *const *list, const char *name)
{
    size_t n = strlen(name);
    for (; list && *list; list++) {
        if (gw_strncasecmp(*list, name, n) == 0 &&
            ((*list)[n] == ':' || (*list)[n] == ';'))
            return true;
    }
    return false;
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
    if (all_digits(v)) {
        int64_t s = parse_digits(v, NULL);
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
    int64_t n = parse_digits(v, &end);
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

static void delivery_init(struct delivery *d, long status, int error,
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
        int64_t n = v ? parse_digits(v, NULL) : -1;
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

static void delivery_push(struct delivery *d)
{
    d->pub.internal = d;
}

static void delivery_pop(struct delivery *d)
{
    d->pub.internal = NULL;
    free(d->link_next);
    free(d->link_prev);
    d->link_next = d->link_prev = NULL;
}

/* ---- requests --------------------------------------------------------- */

static int map_curl(CURLcode c)
{
    switch (c) {
    case CURLE_OK:
        return 0;
    case CURLE_OPERATION_TIMEDOUT:
        return UV_ETIMEDOUT;
    case CURLE_COULDNT_CONNECT:
        return UV_ECONNREFUSED;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return UV_EAI_NONAME;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_USE_SSL_FAILED:
        return UV_EPROTO;
    case CURLE_FILESIZE_EXCEEDED:
        return UV_E2BIG;
    default:
        return UV_EIO;
    }
}

static const char *http_version_name(CURL *e)
{
    long v = 0;
    if (curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v) != CURLE_OK)
        return "";
    switch (v) {
    case CURL_HTTP_VERSION_1_0:
        return "1.0";
    case CURL_HTTP_VERSION_1_1:
        return "1.1";
    case CURL_HTTP_VERSION_2_0:
        return "2";
    case CURL_HTTP_VERSION_3:
        return "3";
    default:
        return "";
    }
}

/* Record how the transfer ended; the easy handle is already detached. */
static void req_finish(struct gw_http_req *r, CURLcode cc)
{
    r->result = cc;
    if (r->abort_err) {
        r->error = r->abort_err;
        gw_strlcpy(r->errmsg, r->abort_msg, sizeof(r->errmsg));
    } else if (cc == CURLE_FILESIZE_EXCEEDED) {
        r->error = UV_E2BIG;
        gw_strlcpy(r->errmsg, "response too large", sizeof(r->errmsg));
    } else if (cc != CURLE_OK) {
        r->error = map_curl(cc);
        size_t n = strnlen(r->errbuf, sizeof(r->errbuf));
        while (n && (r->errbuf[n - 1] == '\n' || r->errbuf[n - 1] == '\r'))
            n--;
        if (n)
            (void)snprintf(r->errmsg, sizeof(r->errmsg), "%s: %.*s",
                           curl_easy_strerror(cc), (int)n, r->errbuf);
        else
            gw_strlcpy(r->errmsg, curl_easy_strerror(cc), sizeof(r->errmsg));
    }
    r->status = 0;
    if (r->error == 0) {
        long code = 0;
        if (curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code) ==
            CURLE_OK)
            r->status = code;
    }
}

static void req_free(struct gw_http_req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdr_list);
    free(r->body_copy);
    gw_buf_free(&r->body);
    gw_buf_free(&r->hdrs);
    free(r);
}

/* Take r out of the multi handle or the done queue; no callback. Never
 * called for a request whose callback is running (it is in no list). */
static void req_detach(struct gw_http_req *r)
{
    struct gw_http *h = r->h;
    if (r->state == REQ_RUNNING) {
        if (h->multi)
            curl_multi_remove_handle(h->multi, r->easy);
        list_unlink(&h->running, r);
    } else {
        assert(r->state == REQ_DONE);
        list_unlink(&h->done, r);
    }
}

/* Run r's callback exactly once, then free r. */
static void req_deliver(struct gw_http_req *r)
{
    struct gw_http *h = r->h;
    struct delivery d;
    const char *version = r->error == 0 ? http_version_name(r->easy) : "";

    r->state = REQ_DELIVERING;
    if (r->sse == NULL)
        h->nreqs--;
    delivery_init(&d, r->status, r->error, r->error ? r->errmsg : "", &r->body,
                  &r->hdrs, version);
    delivery_push(&d);
    r->cb(r->arg, &d.pub);
    delivery_pop(&d);
    req_free(r);
}

void gw_http_cancel(struct gw_http_req *r)
{
    if (r == NULL || r->state == REQ_DELIVERING)
        return;
    req_detach(r);
    r->status = 0;
    r->error = UV_ECANCELED;
    gw_strlcpy(r->errmsg, "request cancelled", sizeof(r->errmsg));
    gw_buf_reset(&r->body);
    gw_buf_reset(&r->hdrs);
    req_deliver(r);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct gw_http_req *r = ud;
    size_t total = size * nitems;
    size_t len = total;

    if (r->sse)
        r->sse->last_rx = uv_now(r->h->loop);
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
        if (r->sse && r->hdr_status >= 200 && r->hdr_status < 300) {
            r->stream_ok = true;
            r->sse->connected_pending = true;
            r->sse->work = true;
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

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct gw_http_req *r = ud;
    size_t len = size * nmemb;
    struct gw_sse *s = r->sse;

    if (s) {
        s->last_rx = uv_now(r->h->loop);
        if (r->stream_ok) {
            if (gw_buf_append(&s->pending, p, len) < 0) {
                r->abort_err = UV_ENOBUFS;
                r->abort_msg = "stream data arrived faster than it was read";
                return 0;
            }
            s->work = true;
            return len;
        }
        size_t room = r->body.max - r->body.len;
        gw_buf_append(&r->body, p, len < room ? len : room);
        return len;
    }
    if (gw_buf_append(&r->body, p, len) < 0) {
        r->abort_err = UV_E2BIG;
        r->abort_msg = "response too large";
        return 0;
    }
    return len;
}

static int opts_check(const struct gw_http_opts *o)
{
    if (o == NULL || o->url == NULL)
        return UV_EINVAL;
    if (gw_strncasecmp(o->url, "http://", 7) != 0 &&
        gw_strncasecmp(o->url, "https://", 8) != 0)
        return UV_EINVAL;
    /* CR or LF anywhere would let a value smuggle in a header line. */
    if (has_crlf(o->url) || has_crlf(o->method) || has_crlf(o->content_type))
        return UV_EINVAL;
    if (o->method) {
        if (*o->method == '\0')
            return UV_EINVAL;
        for (const char *m = o->method; *m; m++) {
            if (*m <= ' ' || *m >= 127)
                return UV_EINVAL;
        }
    }
    for (const char *const *hp = o->headers; hp && *hp; hp++) {
        if (has_crlf(*hp) || strpbrk(*hp, ":;") == NULL)
            return UV_EINVAL;
    }
    if (o->body == NULL && o->body_len != 0)
        return UV_EINVAL;
    return 0;
}

#define SETOPT(e, opt, val) (bad |= curl_easy_setopt(e, opt, val) != CURLE_OK)

static int req_start(struct gw_http *h, const struct gw_http_opts *o,
                     const char *const *extra, bool stream, gw_http_cb cb,
                     void *arg, struct gw_sse *sse, struct gw_http_req **out)
{
    struct gw_http_req *r = gw_xcalloc(1, sizeof(*r));
    bool bad = false;
    const char *method = o->method ? o->method : "GET";
    size_t max_body = o->max_body ? o->max_body : (size_t)GW_HTTP_BODY_MAX;

    r->h = h;
    r->cb = cb;
    r->arg = arg;
    r->sse = sse;
    gw_buf_init(&r->body, stream ? SSE_ERRBODY_MAX : max_body);
    gw_buf_init(&r->hdrs, HDR_MAX);
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        req_free(r);
        return UV_ENOMEM;
    }
    CURL *e = r->easy;

    struct curl_slist *l = NULL;
    for (const char *const *hp = o->headers; hp && *hp; hp++)
        l = curl_slist_append(l, *hp);
    for (const char *const *hp = extra; hp && *hp; hp++)
        l = curl_slist_append(l, *hp);
    if (o->content_type) {
        char *ct = gw_xasprintf("Content-Type: %s", o->content_type);
        l = curl_slist_append(l, ct);
        free(ct);
    }
    /* curl sends "Expect: 100-continue" for large bodies and then waits a
     * second for servers that never answer it; APIs do not need it. */
    if (o->body && !has_header(o->headers, "Expect"))
        l = curl_slist_append(l, "Expect:");
    r->hdr_list = l;

    SETOPT(e, CURLOPT_URL, o->url);
    SETOPT(e, CURLOPT_PRIVATE, (void *)r);
    SETOPT(e, CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SETOPT(e, CURLOPT_FOLLOWLOCATION, 1L);
    SETOPT(e, CURLOPT_MAXREDIRS, MAX_REDIRS);
    SETOPT(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    SETOPT(e, CURLOPT_ACCEPT_ENCODING, "");
    SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    SETOPT(e, CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
    SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS,
           o->connect_timeout_ms > 0 ? o->connect_timeout_ms
                                     : DEFAULT_CONNECT_MS);
    SETOPT(e, CURLOPT_TIMEOUT_MS,
           stream ? 0L
                  : (o->timeout_ms > 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS));
    /* Refuse early when Content-Length already says too much; the write
     * callback enforces the cap on decoded bytes either way. A HEAD answer
     * announces the size of a body that never comes. */
    if (!stream && strcmp(method, "HEAD") != 0)
        SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max_body);
    SETOPT(e, CURLOPT_HEADERFUNCTION, on_header);
    SETOPT(e, CURLOPT_HEADERDATA, (void *)r);
    SETOPT(e, CURLOPT_WRITEFUNCTION, on_body);
    SETOPT(e, CURLOPT_WRITEDATA, (void *)r);
    if (r->hdr_list)
        SETOPT(e, CURLOPT_HTTPHEADER, r->hdr_list);
    if (o->insecure) {
        SETOPT(e, CURLOPT_SSL_VERIFYPEER, 0L);
        SETOPT(e, CURLOPT_SSL_VERIFYHOST, 0L);
    } else {
        SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
        SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
        if (o->ca_file) {
            SETOPT(e, CURLOPT_CAINFO, o->ca_file);
            SETOPT(e, CURLOPT_CAPATH, SYSTEM_CAPATH);
        }
    }

    if (o->body) {
        r->body_copy = gw_xmalloc(o->body_len + 1);
        memcpy(r->body_copy, o->body, o->body_len);
        r->body_copy[o->body_len] = '\0';
        SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->body_len);
        SETOPT(e, CURLOPT_POSTFIELDS, r->body_copy);
    }
    /* POST goes through curl's own method logic so that a 303 after a POST
     * becomes a GET, as browsers and APIs expect; other methods with a body
     * keep their name across redirects. */
    if (strcmp(method, "GET") == 0 && o->body == NULL) {
        SETOPT(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        SETOPT(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "POST") == 0) {
        if (o->body == NULL) {
            SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
            SETOPT(e, CURLOPT_POSTFIELDS, "");
        }
    } else {
        SETOPT(e, CURLOPT_CUSTOMREQUEST, method);
    }

    if (bad) {
        req_free(r);
        return UV_EINVAL;
    }
    r->state = REQ_RUNNING;
    list_push(&h->running, r);
    if (curl_multi_add_handle(h->multi, e) != CURLM_OK) {
        list_unlink(&h->running, r);
        req_free(r);
        return UV_EIO;
    }
    if (out)
        *out = r;
    return 0;
}

int gw_http_request(struct gw_http *h, const struct gw_http_opts *o,
                    gw_http_cb cb, void *arg, struct gw_http_req **out)
{
    if (h == NULL || cb == NULL)
        return UV_EINVAL;
    if (h->closing)
        return UV_ECANCELED;
    int rc = opts_check(o);
    if (rc < 0)
        return rc;
    struct gw_http_req *r = NULL;
    rc = req_start(h, o, NULL, false, cb, arg, NULL, &r);
    if (rc < 0)
        return rc;
    h->nreqs++;
    if (out)
        *out = r;
    return 0;
}

int gw_http_active(const struct gw_http *h)
{
    return h ? h->nreqs + h->nstreams : 0;
}

/* ---- the curl <-> libuv glue (style.md item 21) ----------------------- */

static void on_sock_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void sock_close(struct sock_ctx *c)
{
    struct gw_http *h = c->h;
    if (c->prev)
        c->prev->next = c->next;
    else
        h->socks = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_poll_stop(&c->poll);
    uv_close((uv_handle_t *)&c->poll, on_sock_closed);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    struct sock_ctx *c = p->data;
    struct gw_http *h = c->h;
    curl_socket_t fd = c->fd;
    int flags = 0;
    int running = 0;

    /* libuv reports EBADF and friends through status and stops the poll;
     * curl must hear about it or the transfer waits for its timeout. */
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    if (h->multi == NULL)
        return;
    /* c may be closed by curl's socket callback during this call. */
    curl_multi_socket_action(h->multi, fd, flags, &running);
    after_action(h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    struct gw_http *h = userp;
    struct sock_ctx *c = socketp;
    (void)easy;

    if (h->multi == NULL && what != CURL_POLL_REMOVE)
        return 0;
    if (what == CURL_POLL_REMOVE) {
        /* curl may hand the same fd back later (curl/curl#9799); that
         * simply makes a new context. */
        if (c) {
            sock_close(c);
            if (h->multi)
                curl_multi_assign(h->multi, fd, NULL);
        }
        return 0;
    }
    if (c == NULL) {
        c = gw_xcalloc(1, sizeof(*c));
        int rc = uv_poll_init_socket(h->loop, &c->poll, fd);
        if (rc == UV_EEXIST) {
            /* A context of ours still watches this fd number, so curl
             * closed the old socket without a REMOVE and the number came
             * back: that context is stale. */
            for (struct sock_ctx *o = h->socks; o; o = o->next) {
                if (o->fd == fd) {
                    sock_close(o);
                    break;
                }
            }
            rc = uv_poll_init_socket(h->loop, &c->poll, fd);
        }
        if (rc < 0) {
            free(c);
            return -1;
        }
        c->poll.data = c;
        c->fd = fd;
        c->h = h;
        c->next = h->socks;
        if (h->socks)
            h->socks->prev = c;
        h->socks = c;
        curl_multi_assign(h->multi, fd, c);
    }
    int ev = 0;
    if (what & CURL_POLL_IN)
        ev |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        ev |= UV_WRITABLE;
    if (uv_poll_start(&c->poll, ev, on_poll) < 0)
        return -1;
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    struct gw_http *h = t->data;
    int running = 0;
    if (h->multi == NULL)
        return;
    curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    after_action(h);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct gw_http *h = userp;
    (void)multi;
    if (h->multi == NULL || h->closing)
        return 0;
    /* Never call curl from here (it recurses on 0), and never arm 0 ms:
     * libuv 1.44 reruns a 0 ms timer re-armed from its own callback in the
     * same pass, which can starve socket I/O. */
    if (timeout_ms < 0)
        uv_timer_stop(&h->timer);
    else
        uv_timer_start(&h->timer, on_timeout,
                       (uint64_t)(timeout_ms < 1 ? 1 : timeout_ms), 0);
    return 0;
}

static void stream_flush(struct gw_sse *s);

/*
 * After every curl_multi_socket_action: collect every finished transfer
 * (whatever running_handles says), then run user callbacks, none of which
 * may run inside a curl callback. Streams first, so that events received
 * together with the end of a connection come before its DISCONNECTED.
 */
static void after_action(struct gw_http *h)
{
    for (;;) {
        int left = 0;
        if (h->multi == NULL)
            break;
        CURLMsg *m = curl_multi_info_read(h->multi, &left);
        if (m == NULL)
            break;
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *e = m->easy_handle;
        CURLcode cc = m->data.result;
        void *priv = NULL;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
        struct gw_http_req *r = priv;
        curl_multi_remove_handle(h->multi, e);
        if (r == NULL)
            continue;
        list_unlink(&h->running, r);
        req_finish(r, cc);
        r->state = REQ_DONE;
        list_push(&h->done, r);
    }
    for (;;) {
        struct gw_sse *s = h->streams;
        while (s && !s->work)
            s = s->next;
        if (h->closing || s == NULL)
            break;
        stream_flush(s);
    }
    while (!h->closing && h->done.head) {
        struct gw_http_req *r = h->done.head;
        list_unlink(&h->done, r);
        req_deliver(r);
    }
}

/* ---- client lifetime -------------------------------------------------- */

int gw_http_new(struct gw_http **out, uv_loop_t *loop)
{
    if (out == NULL || loop == NULL)
        return UV_EINVAL;
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return UV_EIO;
    struct gw_http *h = gw_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->multi = curl_multi_init();
    if (h->multi == NULL)
        goto fail;
    bool bad = false;
    bad |= curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION, on_socket) !=
           CURLM_OK;
    bad |=
        curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, (void *)h) != CURLM_OK;
    bad |= curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION, on_timer_set) !=
           CURLM_OK;
    bad |=
        curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, (void *)h) != CURLM_OK;
    if (bad)
        goto fail;
    if (uv_timer_init(loop, &h->timer) < 0)
        goto fail;
    h->timer.data = h;
    *out = h;
    return 0;
fail:
    if (h->multi)
        curl_multi_cleanup(h->multi);
    free(h);
    curl_global_cleanup();
    return UV_EIO;
}

static void on_http_timer_closed(uv_handle_t *handle)
{
    free(handle->data);
    curl_global_cleanup();
}

static void stream_detach(struct gw_sse *s);

void gw_http_free(struct gw_http *h)
{
    if (h == NULL || h->closing)
        return;
    h->closing = true;
    /* Callbacks below may cancel other requests or close streams, so take
     * one item at a time from the head of each list. */
    while (h->streams)
        stream_detach(h->streams);
    for (;;) {
        struct gw_http_req *r = h->done.head ? h->done.head : h->running.head;
        if (r == NULL)
            break;
        /* Stream connections went with their streams above. (The analyzer
         * cannot see that gw_http_cancel unlinked r, so that the head
         * moved on; it assumes r->next may be r itself.) */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
        assert(r->sse == NULL);
        gw_http_cancel(r);
    }
    CURLM *m = h->multi;
    h->multi = NULL;
    curl_multi_cleanup(m);
    while (h->socks)
        sock_close(h->socks);
    uv_timer_stop(&h->timer);
    uv_close((uv_handle_t *)&h->timer, on_http_timer_closed);
}

/* ---- SSE parser ------------------------------------------------------- */

/* Line cap: one event's worth of value plus room for the field name. */
#define SSE_LINE_SLACK 64

struct gw_sse_parser *gw_sse_parser_new(size_t max_event, gw_sse_event_cb cb,
                                        void *arg)
{
    if (max_event == 0)
        max_event = (size_t)GW_SSE_EVENT_MAX;
    struct gw_sse_parser *p = gw_xcalloc(1, sizeof(*p));
    p->max_event = max_event;
    p->cb = cb;
    p->arg = arg;
    gw_buf_init(&p->line, max_event + SSE_LINE_SLACK);
    gw_buf_init(&p->data, max_event);
    gw_buf_init(&p->event, max_event);
    gw_buf_init(&p->id, max_event);
    return p;
}

void gw_sse_parser_free(struct gw_sse_parser *p)
{
    if (p == NULL)
        return;
    gw_buf_free(&p->line);
    gw_buf_free(&p->data);
    gw_buf_free(&p->event);
    gw_buf_free(&p->id);
    free(p);
}

static void parser_clear_event(struct gw_sse_parser *p)
{
    gw_buf_reset(&p->data);
    gw_buf_reset(&p->event);
    p->has_data = false;
    p->oversized = false;
}

/* A new connection: partial lines and events are gone, the ID stays. */
static void parser_restart(struct gw_sse_parser *p)
{
    parser_clear_event(p);
    gw_buf_reset(&p->line);
    p->line_overflow = false;
    p->skip_lf = false;
    p->bom = 0;
    p->halt = false;
}

static void parser_oversized(struct gw_sse_parser *p)
{
    if (!p->oversized) {
        p->dropped = true;
        p->oversized = true;
    }
    gw_buf_reset(&p->data);
    gw_buf_reset(&p->event);
}

static void parser_dispatch(struct gw_sse_parser *p)
{
    if (p->oversized || !p->has_data) {
        parser_clear_event(p);
        return;
    }
    struct gw_sse_event ev = {
        .event = p->event.len ? p->event.data : "message",
        .data = p->data.data ? p->data.data : "",
        .id = p->id.data ? p->id.data : "",
    };
    if (p->cb)
        p->cb(p->arg, &ev);
    parser_clear_event(p);
}

static void parser_line(struct gw_sse_parser *p, const char *l, size_t len)
{
    if (p->line_overflow) {
        /* Too long to be part of a valid event; a huge comment is harmless,
         * anything else spoils the event it belongs to. */
        if (len == 0 || l[0] != ':')
            parser_oversized(p);
        return;
    }
    if (len == 0) {
        parser_dispatch(p);
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', len);
    size_t fl = colon ? (size_t)(colon - l) : len;
    const char *v = colon ? colon + 1 : l + len;
    if (colon && v < l + len && *v == ' ')
        v++;
    size_t vl = (size_t)(l + len - v);

    if (fl == 4 && memcmp(l, "data", 4) == 0) {
        if (p->oversized)
            return;
        size_t add = vl + (p->has_data ? 1 : 0);
        if (p->data.len + p->event.len + add > p->max_event) {
            parser_oversized(p);
            return;
        }
        if (p->has_data)
            gw_buf_append(&p->data, "\n", 1);
        gw_buf_append(&p->data, v, vl);
        p->has_data = true;
    } else if (fl == 5 && memcmp(l, "event", 5) == 0) {
        if (p->oversized)
            return;
        if (p->data.len + vl > p->max_event) {
            parser_oversized(p);
            return;
        }
        gw_buf_reset(&p->event);
        gw_buf_append(&p->event, v, vl);
    } else if (fl == 2 && memcmp(l, "id", 2) == 0) {
        if (memchr(v, '\0', vl) == NULL && vl <= p->id.max) {
            gw_buf_reset(&p->id);
            gw_buf_append(&p->id, v, vl);
            if (p->id.data == NULL)
                gw_buf_append(&p->id, "", 0);
        }
    } else if (fl == 5 && memcmp(l, "retry", 5) == 0) {
        char num[16];
        if (vl > 0 && vl < sizeof(num)) {
            memcpy(num, v, vl);
            num[vl] = '\0';
            if (all_digits(num) && p->on_retry)
                p->on_retry(p->arg, (long)parse_digits(num, NULL));
        }
    }
}

static void parser_take(struct gw_sse_parser *p, const char *s, size_t n)
{
    if (n == 0 || p->line_overflow)
        return;
    size_t room = p->line.max - p->line.len;
    if (n > room) {
        /* Keep the start, so a comment can still be told from a field. */
        gw_buf_append(&p->line, s, room);
        p->line_overflow = true;
        return;
    }
    gw_buf_append(&p->line, s, n);
}

int gw_sse_parser_feed(struct gw_sse_parser *p, const char *data, size_t len)
{
    static const unsigned char bom[3] = {0xEF, 0xBB, 0xBF};
    size_t i = 0, lf = 0;

    if (p == NULL || (data == NULL && len))
        return UV_EINVAL;
    p->dropped = false;
    while (i < len && !p->halt) {
        if (p->bom < 3) {
            if ((unsigned char)data[i] == bom[p->bom]) {
                p->bom++;
                i++;
                continue;
            }
            /* Not a BOM after all: the bytes matched so far are text. */
            parser_take(p, (const char *)bom, p->bom);
            p->bom = 3;
        }
        if (p->skip_lf) {
            p->skip_lf = false;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        /* The line ends at the first CR or LF: memchr for both, the LF
         * looked up again only once passed, so a stream of bare CRs stays
         * linear. */
        if (lf <= i) {
            const char *f = memchr(data + i, '\n', len - i);
            lf = f ? (size_t)(f - data) : len;
        }
        const char *cr = memchr(data + i, '\r', lf - i);
        size_t k = cr ? (size_t)(cr - data) : lf;
        if (k == len) {
            parser_take(p, data + i, k - i);
            break;
        }
        p->skip_lf = data[k] == '\r';
        if (p->line.len == 0 && !p->line_overflow && k - i <= p->line.max) {
            /* The whole line is in this chunk: no copy into p->line. */
            parser_line(p, data + i, k - i);
        } else {
            parser_take(p, data + i, k - i);
            parser_line(p, p->line.data ? p->line.data : "", p->line.len);
        }
        i = k + 1;
        gw_buf_reset(&p->line);
        p->line_overflow = false;
    }
    return p->dropped ? UV_ENOBUFS : 0;
}

/* ---- SSE streams ------------------------------------------------------ */

static uint64_t stream_rand(struct gw_sse *s)
{
    uint64_t x = s->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    s->rng = x;
    return x;
}

static void stream_call_state(struct gw_sse *s, enum gw_sse_state st,
                              const struct gw_http_response *resp)
{
    if (s->on_state && !s->closing)
        s->on_state(s->arg, st, resp);
}

static void stream_on_parsed(void *arg, const struct gw_sse_event *ev)
{
    struct gw_sse *s = arg;
    if (s->closing || s->detached) {
        s->parser->halt = true;
        return;
    }
    s->got_event = true;
    if (s->on_event)
        s->on_event(s->arg, ev);
    if (s->closing || s->detached)
        s->parser->halt = true;
}

static void stream_on_retry(void *arg, long ms)
{
    struct gw_sse *s = arg;
    long floor =
        s->bmin_orig < SSE_RETRY_FLOOR_MS ? s->bmin_orig : SSE_RETRY_FLOOR_MS;
    if (ms < floor)
        ms = floor;
    if (ms > s->bmax)
        ms = s->bmax;
    s->bmin = ms;
}

/* Report CONNECTED and parse what arrived, outside curl's callbacks. */
static void stream_flush(struct gw_sse *s)
{
    s->work = false;
    if (s->connected_pending && s->req) {
        struct gw_http_req *r = s->req;
        struct delivery d;
        s->connected_pending = false;
        s->phase = SSE_OPEN;
        s->connected_at = uv_now(s->h->loop);
        delivery_init(&d, r->hdr_status, 0, "", NULL, &r->hdrs,
                      http_version_name(r->easy));
        delivery_push(&d);
        stream_call_state(s, GW_SSE_CONNECTED, &d.pub);
        delivery_pop(&d);
        if (s->closing || s->detached)
            return;
    }
    if (s->pending.len) {
        /* Parse from a buffer of our own: a callback may close the stream
         * or shut the client down, and either resets s->pending. */
        struct gw_buf in = s->pending;
        gw_buf_init(&s->pending, in.max);
        gw_sse_parser_feed(s->parser, in.data, in.len);
        if (!s->closing && !s->detached && s->pending.data == NULL) {
            gw_buf_reset(&in);
            s->pending = in;
        } else {
            gw_buf_free(&in);
        }
    }
}

static void stream_timer_closed(uv_handle_t *handle)
{
    struct gw_sse *s = handle->data;
    s->timer_closed = true;
    if (!s->closing)
        return;
    gw_sse_parser_free(s->parser);
    gw_buf_free(&s->pending);
    for (size_t i = 0; s->hdr_copy && s->hdr_copy[i]; i++)
        free(s->hdr_copy[i]);
    free(s->hdr_copy);
    free((char *)s->http.method);
    free((char *)s->http.url);
    free((char *)s->http.body);
    free((char *)s->http.content_type);
    free((char *)s->http.ca_file);
    free(s);
}

static void stream_unlink(struct gw_sse *s)
{
    struct gw_http *h = s->h;
    if (s->prev)
        s->prev->next = s->next;
    else
        h->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    if (s->phase != SSE_FAILED)
        h->nstreams--;
}

static void stream_drop_req(struct gw_sse *s)
{
    if (s->req) {
        struct gw_http_req *r = s->req;
        s->req = NULL;
        if (r->state != REQ_DELIVERING) {
            req_detach(r);
            req_free(r);
        }
    }
    gw_buf_reset(&s->pending);
    s->connected_pending = false;
    s->work = false;
}

static void stream_on_timer(uv_timer_t *t);

static int stream_connect(struct gw_sse *s)
{
    const char *extra[5];
    size_t n = 0;
    char *last_id = NULL;

    if (!has_header(s->http.headers, "Accept"))
        extra[n++] = "Accept: text/event-stream";
    if (!has_header(s->http.headers, "Cache-Control"))
        extra[n++] = "Cache-Control: no-cache";
    if (s->parser->id.len) {
        last_id = gw_xasprintf("Last-Event-ID: %s", s->parser->id.data);
        extra[n++] = last_id;
    }
    extra[n] = NULL;

    parser_restart(s->parser);
    gw_buf_reset(&s->pending);
    s->got_event = false;
    s->connected_pending = false;
    s->phase = SSE_CONNECTING;
    s->last_rx = uv_now(s->h->loop);

    struct gw_http_req *r = NULL;
    int rc = req_start(s->h, &s->http, extra, true, stream_req_done, s, s, &r);
    free(last_id);
    if (rc < 0)
        return rc;
    s->req = r;
    uv_timer_start(&s->timer, stream_on_timer, (uint64_t)s->stall_ms, 0);
    return 0;
}

static uint64_t stream_delay(struct gw_sse *s, long retry_after_s)
{
    uint64_t cap = (uint64_t)s->bmin;
    for (unsigned i = 0; i < s->attempt && cap < (uint64_t)s->bmax; i++)
        cap *= 2;
    if (cap > (uint64_t)s->bmax)
        cap = (uint64_t)s->bmax;
    if (s->attempt < 64)
        s->attempt++;
    /* Equal jitter: never less than half the cap, so a fleet of clients
     * spreads out without anyone hammering the server at zero delay. */
    uint64_t half = cap / 2;
    uint64_t d = cap - half + stream_rand(s) % (half + 1);
    if (retry_after_s > 0) {
        long ra = retry_after_s < RETRY_AFTER_CAP_S ? retry_after_s
                                                    : RETRY_AFTER_CAP_S;
        if (d < (uint64_t)ra * 1000)
            d = (uint64_t)ra * 1000;
    }
    return d ? d : 1;
}

/* The connection ended and the stream will try again (or has failed). */
static void stream_disconnected(struct gw_sse *s,
                                const struct gw_http_response *resp,
                                CURLcode cc)
{
    struct gw_http *h = s->h;
    long st = resp->status;
    bool permanent =
        (resp->error == 0 && st >= 400 && st < 500 && st != 408 && st != 429) ||
        cc == CURLE_UNSUPPORTED_PROTOCOL || cc == CURLE_URL_MALFORMAT ||
        cc == CURLE_TOO_MANY_REDIRECTS;

    uv_timer_stop(&s->timer);
    if (permanent) {
        s->phase = SSE_FAILED;
        h->nstreams--;
        stream_call_state(s, GW_SSE_FAILED, resp);
        return;
    }
    uint64_t now = uv_now(h->loop);
    if (s->got_event ||
        (s->phase == SSE_OPEN && now - s->connected_at >= SSE_STABLE_MS))
        s->attempt = 0;
    uint64_t delay = stream_delay(s, resp->retry_after_s);
    s->phase = SSE_WAITING;
    stream_call_state(s, GW_SSE_DISCONNECTED, resp);
    if (s->closing || s->detached)
        return;
    uv_timer_start(&s->timer, stream_on_timer, delay, 0);
}

static void stream_req_done(void *arg, const struct gw_http_response *r)
{
    struct gw_sse *s = arg;
    CURLcode cc = s->req ? s->req->result : CURLE_OK;
    s->req = NULL;
    if (s->closing || s->detached)
        return;
    stream_disconnected(s, r, cc);
}

static void stream_on_timer(uv_timer_t *t)
{
    struct gw_sse *s = t->data;
    if (s->closing || s->detached)
        return;
    if (s->phase == SSE_WAITING) {
        int rc = stream_connect(s);
        if (rc < 0) {
            struct delivery d;
            delivery_init(&d, 0, rc, "could not start the stream request", NULL,
                          NULL, NULL);
            delivery_push(&d);
            stream_disconnected(s, &d.pub, CURLE_FAILED_INIT);
            delivery_pop(&d);
        }
        return;
    }
    if (s->phase != SSE_CONNECTING && s->phase != SSE_OPEN)
        return;
    uint64_t now = uv_now(s->h->loop);
    uint64_t idle = now - s->last_rx;
    if (idle < (uint64_t)s->stall_ms) {
        uv_timer_start(&s->timer, stream_on_timer, (uint64_t)s->stall_ms - idle,
                       0);
        return;
    }
    stream_drop_req(s);
    char msg[96];
    (void)snprintf(msg, sizeof(msg),
                   "stream stalled: nothing received for %ld ms", s->stall_ms);
    struct delivery d;
    delivery_init(&d, 0, UV_ETIMEDOUT, msg, NULL, NULL, NULL);
    delivery_push(&d);
    stream_disconnected(s, &d.pub, CURLE_OPERATION_TIMEDOUT);
    delivery_pop(&d);
}

/* gw_http_free() with the stream still open: stop it for good, report. */
static void stream_detach(struct gw_sse *s)
{
    bool was_open = s->phase != SSE_FAILED;
    stream_drop_req(s);
    stream_unlink(s);
    s->parser->halt = true;
    s->detached = true;
    s->h = NULL;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, stream_timer_closed);
    if (was_open) {
        struct delivery d;
        delivery_init(&d, 0, UV_ECANCELED, "http client shut down", NULL, NULL,
                      NULL);
        delivery_push(&d);
        stream_call_state(s, GW_SSE_FAILED, &d.pub);
        delivery_pop(&d);
    }
}

static char *dup_or_null(const char *s)
{
    return s ? gw_xstrdup(s) : NULL;
}

int gw_sse_open(struct gw_http *h, const struct gw_sse_opts *o,
                gw_sse_event_cb on_event, gw_sse_state_cb on_state, void *arg,
                struct gw_sse **out)
{
    if (h == NULL || o == NULL)
        return UV_EINVAL;
    if (h->closing)
        return UV_ECANCELED;
    int rc = opts_check(&o->http);
    if (rc < 0)
        return rc;

    struct gw_sse *s = gw_xcalloc(1, sizeof(*s));
    s->h = h;
    s->on_event = on_event;
    s->on_state = on_state;
    s->arg = arg;
    s->http = o->http;
    s->http.method = dup_or_null(o->http.method);
    s->http.url = gw_xstrdup(o->http.url);
    s->http.content_type = dup_or_null(o->http.content_type);
    s->http.ca_file = dup_or_null(o->http.ca_file);
    if (o->http.body) {
        char *b = gw_xmalloc(o->http.body_len + 1);
        memcpy(b, o->http.body, o->http.body_len);
        b[o->http.body_len] = '\0';
        s->http.body = b;
    }
    size_t nh = 0;
    while (o->http.headers && o->http.headers[nh])
        nh++;
    s->hdr_copy = gw_xcalloc(nh + 1, sizeof(char *));
    for (size_t i = 0; i < nh; i++)
        s->hdr_copy[i] = gw_xstrdup(o->http.headers[i]);
    s->http.headers = (const char *const *)s->hdr_copy;
    s->http.timeout_ms = 0;

    s->stall_ms = o->stall_ms > 0 ? o->stall_ms : DEFAULT_STALL_MS;
    s->bmin_orig =
        o->backoff_min_ms > 0 ? o->backoff_min_ms : DEFAULT_BACKOFF_MIN_MS;
    s->bmax =
        o->backoff_max_ms > 0 ? o->backoff_max_ms : DEFAULT_BACKOFF_MAX_MS;
    if (s->bmax < s->bmin_orig)
        s->bmax = s->bmin_orig;
    s->bmin = s->bmin_orig;
    s->rng =
        uv_hrtime() ^ ((uint64_t)(uintptr_t)s << 16) ^ 0x9E3779B97F4A7C15ULL;
    if (s->rng == 0)
        s->rng = 1;
    /* http.max_body, when set, is the largest event this stream accepts. */
    s->parser = gw_sse_parser_new(o->http.max_body ? o->http.max_body
                                                   : (size_t)GW_SSE_EVENT_MAX,
                                  stream_on_parsed, s);
    s->parser->on_retry = stream_on_retry;
    gw_buf_init(&s->pending, SSE_PENDING_MAX);

    rc = uv_timer_init(h->loop, &s->timer);
    if (rc < 0) {
        s->closing = true;
        s->timer.data = s;
        stream_timer_closed((uv_handle_t *)&s->timer);
        return rc;
    }
    s->timer.data = s;
    s->next = h->streams;
    if (h->streams)
        h->streams->prev = s;
    h->streams = s;
    h->nstreams++;
    rc = stream_connect(s);
    if (rc < 0) {
        /* The callbacks never run when open fails. */
        stream_unlink(s);
        s->closing = true;
        uv_close((uv_handle_t *)&s->timer, stream_timer_closed);
        return rc;
    }
    if (out)
        *out = s;
    return 0;
}

void gw_sse_close(struct gw_sse *s)
{
    if (s == NULL || s->closing)
        return;
    if (s->detached) {
        s->closing = true;
        if (s->timer_closed)
            stream_timer_closed((uv_handle_t *)&s->timer);
        return;
    }
    stream_drop_req(s);
    stream_unlink(s);
    s->parser->halt = true;
    s->closing = true;
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, stream_timer_closed);
}
