/*
 * Server-sent events: the field parser (WHATWG HTML, "Parsing an event
 * stream") and the stream on top of it, one gw_http request per connection,
 * which reconnects with backoff, Last-Event-ID and a stall watchdog until
 * gw_sse_close().
 */
#include "gw_http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_limits.h"

/* Stream bytes received in one curl_multi_socket_action wait here until the
 * action returns, because user callbacks must not run inside libcurl's
 * callbacks. curl reads at most ~1.6 MB per action, so this is never hit by
 * an honest server. */
#define SSE_PENDING_MAX        ((size_t)GW_HTTP_BODY_MAX)
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
    size_t line_seen;    /* bytes of the current line, kept or not */
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
    bool woken;             /* in h's wake queue: pending or
                               connected_pending is set */
    bool connected_pending; /* 2xx headers arrived, not yet reported */
    bool got_event;         /* this connection dispatched an event */
    bool closing;           /* gw_sse_close() was called */
    bool detached;          /* gw_http_free() was called */
    bool timer_closed;      /* the timer's close callback has run */
    uint64_t last_rx;       /* loop time of the last byte received */
    uint64_t connected_at;  /* loop time of CONNECTED */
    struct gw_sse *prev;    /* in h->streams */
    struct gw_sse *next;
    struct gw_sse *wake_next; /* in h's wake queue */
};

static void stream_req_done(void *arg, const struct gw_http_response *r);

/* ---- SSE parser ------------------------------------------------------- */

/* Line cap: one event's worth of value plus room for the field name. */
#define SSE_LINE_SLACK 64
/* A line not ended after this many times the longest event is given up
 * on, with its connection. */
#define SSE_LINE_ABANDON 8

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
    p->line_seen = 0;
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
        /* A name holding NUL is ignored, as an id is: the callback would
         * see only what comes before it, "" even. */
        if (p->oversized || memchr(v, '\0', vl) != NULL)
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
            if (gw__http_all_digits(num) && p->on_retry)
                p->on_retry(p->arg, (long)gw__http_digits(num, NULL));
        }
    }
}

static void parser_take(struct gw_sse_parser *p, const char *s, size_t n)
{
    p->line_seen += n;
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
        p->line_seen = 0;
    }
    return p->dropped ? UV_ENOBUFS : 0;
}

/* ---- what the connection tells its stream ----------------------------- */

/*
 * The wake queue: streams with something for their callbacks, which run
 * after curl_multi_socket_action has returned, never inside it. It holds
 * the streams that heard something in one action, so the search in unwake()
 * is short; the flush takes the head, found at once.
 */
static void wake(struct gw_sse *s)
{
    if (s->woken)
        return;
    s->woken = true;
    s->wake_next = NULL;
    *s->h->wake_end = s;
    s->h->wake_end = &s->wake_next;
}

static void unwake(struct gw_sse *s)
{
    struct gw_http *h = s->h;
    if (!s->woken)
        return;
    s->woken = false;
    struct gw_sse **pp = &h->wake_head;
    while (*pp != s)
        pp = &(*pp)->wake_next;
    *pp = s->wake_next;
    if (h->wake_end == &s->wake_next)
        h->wake_end = pp;
    s->wake_next = NULL;
}

void gw__sse_heard(struct gw_sse *s)
{
    s->last_rx = uv_now(s->h->loop);
}

void gw__sse_connected(struct gw_sse *s)
{
    s->connected_pending = true;
    wake(s);
}

int gw__sse_data(struct gw_sse *s, const char *p, size_t len)
{
    int rc = gw_buf_append(&s->pending, p, len);
    if (rc == 0)
        wake(s);
    return rc;
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

static void stream_broken(struct gw_sse *s, int err, const char *msg,
                          CURLcode cc);

/* Report CONNECTED and parse what arrived, outside curl's callbacks. */
static void stream_flush(struct gw_sse *s)
{
    if (s->connected_pending && s->req) {
        struct gw_http_req *r = s->req;
        struct delivery d;
        s->connected_pending = false;
        s->phase = SSE_OPEN;
        s->connected_at = uv_now(s->h->loop);
        gw__http_delivery_init(&d, r->hdr_status, 0, "", NULL, &r->hdrs,
                               gw__http_version_name(r->easy));
        gw__http_delivery_push(&d);
        stream_call_state(s, GW_SSE_CONNECTED, &d.pub);
        gw__http_delivery_pop(&d);
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
        /* An event too big is dropped and the stream goes on; a line far
         * longer than any event, not ended yet, is a server that may never
         * end it and would keep the connection busy and "open" forever. */
        size_t abandon = SSE_LINE_ABANDON * s->parser->line.max;
        if (!s->closing && !s->detached && s->parser->line_seen > abandon &&
            s->req != NULL) {
            char msg[96];
            (void)snprintf(msg, sizeof(msg),
                           "the stream sent a line of more than %zu bytes",
                           abandon);
            stream_broken(s, UV_E2BIG, msg, CURLE_WRITE_ERROR);
        }
    }
}

/* A callback may close any stream or shut the client down, so the queue's
 * head is taken anew each time. */
void gw__sse_flush_all(struct gw_http *h)
{
    while (!h->closing && h->wake_head) {
        struct gw_sse *s = h->wake_head;
        unwake(s);
        stream_flush(s);
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
            gw__http_req_detach(r);
            gw__http_req_free(r);
        }
    }
    gw_buf_reset(&s->pending);
    s->connected_pending = false;
    unwake(s);
}

static void stream_on_timer(uv_timer_t *t);

static int stream_connect(struct gw_sse *s)
{
    const char *extra[5];
    size_t n = 0;
    char *last_id = NULL;

    if (!gw__http_has_header(s->http.headers, "Accept"))
        extra[n++] = "Accept: text/event-stream";
    if (!gw__http_has_header(s->http.headers, "Cache-Control"))
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
    int rc = gw__http_req_start(s->h, &s->http, extra, true, stream_req_done, s,
                                s, &r);
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
            gw__http_delivery_init(&d, 0, rc,
                                   "could not start the stream request", NULL,
                                   NULL, NULL);
            gw__http_delivery_push(&d);
            stream_disconnected(s, &d.pub, CURLE_FAILED_INIT);
            gw__http_delivery_pop(&d);
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
    char msg[96];
    (void)snprintf(msg, sizeof(msg),
                   "stream stalled: no complete line for %ld ms", s->stall_ms);
    stream_broken(s, UV_ETIMEDOUT, msg, CURLE_OPERATION_TIMEDOUT);
}

/* Drop the connection for err (msg says why) and reconnect as after any
 * disconnection. */
static void stream_broken(struct gw_sse *s, int err, const char *msg,
                          CURLcode cc)
{
    stream_drop_req(s);
    struct delivery d;
    gw__http_delivery_init(&d, 0, err, msg, NULL, NULL, NULL);
    gw__http_delivery_push(&d);
    stream_disconnected(s, &d.pub, cc);
    gw__http_delivery_pop(&d);
}

void gw__sse_detach(struct gw_sse *s)
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
        gw__http_delivery_init(&d, 0, UV_ECANCELED, "http client shut down",
                               NULL, NULL, NULL);
        gw__http_delivery_push(&d);
        stream_call_state(s, GW_SSE_FAILED, &d.pub);
        gw__http_delivery_pop(&d);
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
    int rc = gw__http_opts_check(&o->http);
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
