/*
 * HTTP on the event loop: libcurl's multi interface driven by libuv
 * (CURLMOPT_SOCKETFUNCTION + uv_poll_t, CURLMOPT_TIMERFUNCTION + uv_timer_t,
 * curl_multi_socket_action). Never a blocking call.
 *
 * struct gw_http owns the CURLM, its timer and every request in flight.
 * A request's callback runs exactly once: with the response, or with
 * error UV_ECANCELED when it was cancelled or the gw_http was freed.
 * Tokens in Authorization headers never reach a log line: this file logs
 * nothing but method, host and status.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct gw_http;
struct gw_http_req;
struct gw_sse;

struct gw_http_response {
    long status;        /* HTTP status, 0 when the transfer failed */
    int error;          /* 0, or a negative UV_* code for transport errors */
    const char *errmsg; /* human text for error != 0 (curl's), else "" */
    const char *body;   /* NUL-terminated (NUL not counted) */
    size_t body_len;
    /* Parsed headers; -1 / 0 / NULL when absent. */
    long retry_after_s;         /* Retry-After (seconds or HTTP date) */
    long ratelimit_remaining;   /* X-RateLimit-Remaining / x-rate-limit-* */
    int64_t ratelimit_reset_ms; /* epoch ms; ISO-8601 or epoch seconds */
    const char *link_next;      /* Link: <...>; rel="next" */
    const char *link_prev;      /* Link: <...>; rel="prev" */
    const char *content_type;
    const char *http_version; /* "1.1", "2" */
    const void *internal;     /* gw_http's own; NULL in a response
                                 built elsewhere (tests) */
};

/* Case-insensitive lookup of a response header's value (last one wins);
 * NULL when absent. Valid only during the callback. */
const char *gw_http_response_header(const struct gw_http_response *r,
                                    const char *name);

typedef void (*gw_http_cb)(void *arg, const struct gw_http_response *r);

struct gw_http_opts {
    const char *method;         /* "GET" when NULL */
    const char *url;            /* http:// or https:// */
    const char *const *headers; /* NULL-terminated "Name: value" list */
    const char *body;           /* copied; NULL for none */
    size_t body_len;
    const char *content_type; /* e.g. "application/json" */
    long connect_timeout_ms;  /* 0: 10 s */
    long timeout_ms;          /* 0: 60 s; streams use their own */
    size_t max_body;          /* 0: GW_HTTP_BODY_MAX */
    const char *ca_file;      /* trust this CA too (PEM), NULL for none */
    bool insecure;            /* skip verification: only if the account
                                 says so explicitly */
};

int gw_http_new(struct gw_http **out, uv_loop_t *loop);
/* Cancel everything (callbacks run with UV_ECANCELED), clean up curl and
 * close the timer; memory is released from close callbacks, so run the loop
 * afterwards until it is empty. NULL is fine. */
void gw_http_free(struct gw_http *h);

/* Start a request. On success *out (if not NULL) is a handle valid until
 * the callback runs. If this returns < 0 the callback never runs. */
int gw_http_request(struct gw_http *h, const struct gw_http_opts *o,
                    gw_http_cb cb, void *arg, struct gw_http_req **out);
/* The callback runs now, with UV_ECANCELED. */
void gw_http_cancel(struct gw_http_req *r);

/* A transfer could not open a socket because the process or the system
 * is out of descriptors (err UV_EMFILE), or curl ran out of memory
 * (UV_ENOMEM); `what` says which request, without its query or token.
 * The transfer's own callback gets the same error as usual. */
typedef void (*gw_http_short_cb)(void *arg, int err, const char *what);
void gw_http_on_short(struct gw_http *h, gw_http_short_cb cb, void *arg);

/* Number of requests and streams in flight (for status and tests). */
int gw_http_active(const struct gw_http *h);

/* ---- server-sent events --------------------------------------------- */

struct gw_sse_event {
    const char *event; /* "message" when the stream sent no event: field */
    const char *data;  /* data: lines joined with "\n" */
    const char *id;    /* last id: seen, "" when none */
};

enum gw_sse_state {
    GW_SSE_CONNECTED = 1,    /* 2xx and the stream is open */
    GW_SSE_DISCONNECTED = 2, /* dropped or stalled; will reconnect */
    GW_SSE_FAILED = 3,       /* permanent (401/403/404/410, other 4xx);
                                no more reconnects; resp says why */
};

typedef void (*gw_sse_event_cb)(void *arg, const struct gw_sse_event *ev);
/* resp is the response that ended the connection (status, errmsg, body)
 * for DISCONNECTED/FAILED, the opening response for CONNECTED. */
typedef void (*gw_sse_state_cb)(void *arg, enum gw_sse_state state,
                                const struct gw_http_response *resp);

struct gw_sse_opts {
    struct gw_http_opts http; /* timeout_ms is ignored: streams are long */
    long stall_ms;            /* no byte (heartbeats count) for this long:
                                 reconnect; 0: 90 s */
    long backoff_min_ms;      /* first reconnect delay; 0: 1 s */
    long backoff_max_ms;      /* cap; 0: 60 s. Delays double with jitter. */
};

/* Open a stream that reconnects by itself until gw_sse_close(). */
int gw_sse_open(struct gw_http *h, const struct gw_sse_opts *o,
                gw_sse_event_cb on_event, gw_sse_state_cb on_state, void *arg,
                struct gw_sse **out);
/* Stop and free; no callback runs after this returns. */
void gw_sse_close(struct gw_sse *s);

/* The SSE field parser alone (for unit tests and fuzzing). */
struct gw_sse_parser;
struct gw_sse_parser *gw_sse_parser_new(size_t max_event, gw_sse_event_cb cb,
                                        void *arg);
/* Feed bytes; calls cb per complete event. UV_ENOBUFS when one event
 * exceeds max_event (the event is dropped, parsing continues). */
int gw_sse_parser_feed(struct gw_sse_parser *p, const char *data, size_t len);
void gw_sse_parser_free(struct gw_sse_parser *p);

#endif
