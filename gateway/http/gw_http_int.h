/*
 * gw_http internals shared by the files of gateway/http/: gw_http.c (the
 * transfers and their libuv glue), gw_http_headers.c (response headers and
 * what is parsed from them) and gw_sse.c (streams and their parser).
 * Nothing else includes it.
 */
#ifndef GW_HTTP_INT_H
#define GW_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>
#include <uv.h>

#include "gw_http.h"
#include "gw_util.h"

enum req_state {
    REQ_QUEUED,     /* waiting in h->queued for a place (REQS_RUNNING_MAX) */
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
 * callback has returned, then freed by gw__http_req_free(). Stream
 * connections are requests too, with sse set and an internal callback.
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
    char abort_text[256]; /* abort_msg when it had to be written */
    char origin[300];     /* "scheme://host:port" asked: redirects stay */
    int sock_errno;       /* errno of the latest socket() that failed, or 0 */
    CURLcode result;
    long status; /* set when the transfer ends */
    int error;
    char errbuf[CURL_ERROR_SIZE];       /* CURLOPT_ERRORBUFFER */
    char errmsg[CURL_ERROR_SIZE + 160]; /* what the callback sees */
};

struct sock_ctx;

/*
 * The client. Created by gw_http_new(), released from the timer's close
 * callback after gw_http_free().
 */
/*
 * A multi handle and its timer. curl looks for a connection to reuse among
 * every connection to the host, busy or not, and a stream holds its
 * connection for as long as it runs: with 5,000 streams on one instance,
 * each of 250 polls a second walked 5,000 busy connections (idle CPU grew
 * with accounts squared). Streams and requests keep apart.
 */
enum { GW_POOL_REQ, GW_POOL_STREAM, GW_POOLS };

struct gw_http_pool {
    struct gw_http *h;
    CURLM *multi;     /* NULL once gw_http_free() cleaned it up */
    uv_timer_t timer; /* CURLMOPT_TIMERFUNCTION's timer */
};

struct gw_http {
    uv_loop_t *loop;
    struct gw_http_pool pools[GW_POOLS];
    int timers_open;         /* the pools' timers not closed yet */
    struct req_list queued;  /* requests waiting for a place, in order */
    int nattached;           /* requests (not streams) attached */
    struct req_list running; /* requests attached to multi */
    struct req_list done;    /* finished, callback not yet run */
    struct sock_ctx *socks;  /* polls currently open */
    struct gw_sse *streams;  /* every stream not yet closed */
    /* Streams with bytes or a CONNECTED to hand over, oldest first, so that
     * a socket event costs what it brought, not a walk over every stream. */
    struct gw_sse *wake_head;
    struct gw_sse **wake_end;  /* &wake_head, or the last one's wake_next */
    int nreqs;                 /* user requests whose callback is pending */
    int nstreams;              /* streams not closed and not FAILED */
    bool closing;              /* gw_http_free() was called */
    gw_http_short_cb short_cb; /* descriptors or memory ran out */
    void *short_arg;
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

/* ---- gw_http.c: transfers --------------------------------------------- */

/* Start a transfer; extra is a NULL-terminated list of more request
 * headers, stream says it is a stream connection (no total timeout, body
 * kept only as an error message). */
int gw__http_req_start(struct gw_http *h, const struct gw_http_opts *o,
                       const char *const *extra, bool stream, gw_http_cb cb,
                       void *arg, struct gw_sse *sse, struct gw_http_req **out);
/* Take r out of the multi handle or the done queue; no callback. */
void gw__http_req_detach(struct gw_http_req *r);
void gw__http_req_free(struct gw_http_req *r);
/* 0, or UV_EINVAL for options that must not reach curl. */
int gw__http_opts_check(const struct gw_http_opts *o);
/* Is the header name `name` among the "Name: value" strings? */
bool gw__http_has_header(const char *const *list, const char *name);
/* "1.1", "2", ... of the transfer, "" when unknown. */
const char *gw__http_version_name(CURL *e);

/* "scheme://host:port" of url (the port always written), or -1. */
int gw__http_origin(const char *url, char *out, size_t size);

/* ---- gw_http_headers.c: response headers ------------------------------ */

/* CURLOPT_HEADERFUNCTION: keeps the final response's headers in r->hdrs. */
size_t gw__http_on_header(char *buf, size_t size, size_t nitems, void *ud);
/* Fill d from a finished (or stream-opening) response; parses hdrs. */
void gw__http_delivery_init(struct delivery *d, long status, int error,
                            const char *errmsg, const struct gw_buf *body,
                            const struct gw_buf *hdrs, const char *version);
/* While pushed, gw_http_response_header() answers for d->pub. */
void gw__http_delivery_push(struct delivery *d);
void gw__http_delivery_pop(struct delivery *d);
bool gw__http_all_digits(const char *s);
/* Leading decimal digits, saturating; -1 when there are none. */
int64_t gw__http_digits(const char *s, const char **end);

/* ---- gw_sse.c: what a stream hears from its connection ---------------- */

/* A byte arrived (heartbeats count): the stall timer starts over. */
void gw__sse_heard(struct gw_sse *s);
/* 2xx headers are complete: CONNECTED is reported from the next flush. */
void gw__sse_connected(struct gw_sse *s);
/* Stream bytes from curl, parsed at the next flush; UV_ENOBUFS when more
 * is waiting than one action can honestly bring. */
int gw__sse_data(struct gw_sse *s, const char *p, size_t len);
/* Outside curl's callbacks: hand over what streams received, in the
 * order they were woken. */
void gw__sse_flush_all(struct gw_http *h);
/* gw_http_free() with the stream still open: stop it for good, report. */
void gw__sse_detach(struct gw_sse *s);

#endif
