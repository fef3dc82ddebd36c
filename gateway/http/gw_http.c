/*
 * Transfers: libcurl's multi interface on the libuv loop. Each request is
 * an easy handle in one of two multi handles (streams, requests: see struct
 * gw_http_pool); curl's sockets are watched by uv_poll_t and each multi
 * handle's timeout by a uv_timer_t, and every user callback runs after
 * curl_multi_socket_action has returned, never inside it.
 */
#include "gw_http_int.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_limits.h"

#include <sys/socket.h>

/*
 * Local limits and defaults. They only make sense next to the curl code, so
 * they live here rather than in gw_limits.h; each says why it is what it is.
 */

/* All header lines of one response together. Real APIs send a few KB; a
 * server that sends more is broken or hostile, and the transfer is aborted. */
#define HDR_MAX ((size_t)64 * 1024)
/* The body of a non-2xx answer to a stream request is kept for on_state,
 * truncated here: it is an error message, not data. */
#define SSE_ERRBODY_MAX    ((size_t)64 * 1024)
#define DEFAULT_CONNECT_MS 10000L
#define DEFAULT_TIMEOUT_MS 60000L
#define MAX_REDIRS         5L
/* Idle connections kept for reuse, beyond one per stream and one per
 * request running. curl's default bound is four per easy handle alive, and
 * every stream is one for good, so with many streams nothing idle was ever
 * closed: 500 streaming and 500 polling accounts on one instance kept ~500
 * idle REST connections, a descriptor and a server slot each, that curl
 * also looked through on every request. Polls and posts of thousands of
 * accounts need a handful at once; 32 leaves room for bursts to several
 * instances. Streams have a multi handle, and so a cache, of their own
 * (struct gw_http_pool). */
#define IDLE_CONNS_MAX 32L
/* Requests running at once (streams not counted); the others wait in
 * h->queued, in order, and their time-outs start when they do. Thousands
 * of accounts on one instance signing in together opened a connection
 * each, and every new one looked through all of them for one to reuse.
 * Not curl's own per-host limit: its queue is a list that every finished
 * transfer walks (most of the start-up CPU at 10,000 accounts). 64 was
 * too few: 1,000 accounts started in 2.6 s instead of 1.5 against the
 * scale benchmark's mock. */
#define REQS_RUNNING_MAX 256
/* Debian's hashed system CA directory; with CURLOPT_CAINFO pointing at a
 * private CA, CAPATH keeps the public roots trusted too. */
#define SYSTEM_CAPATH "/etc/ssl/certs"

/* One uv_poll_t per socket curl asks us to watch; freed in its close cb. */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct gw_http_pool *pool;
    struct sock_ctx *prev;
    struct sock_ctx *next;
};

static void after_action(struct gw_http *h);

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

bool gw__http_has_header(const char *const *list, const char *name)
{
    size_t n = strlen(name);
    for (; list && *list; list++) {
        if (gw_strncasecmp(*list, name, n) == 0 &&
            ((*list)[n] == ':' || (*list)[n] == ';'))
            return true;
    }
    return false;
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
    case CURLE_OUT_OF_MEMORY:
        return UV_ENOMEM;
    default:
        return UV_EIO;
    }
}

const char *gw__http_version_name(CURL *e)
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

/* Our own socket(): curl says only "Couldn't connect to server" when
 * socket() fails, and CURLINFO_OS_ERRNO stays 0, so a gateway out of
 * descriptors looked like a server that was down. Here errno is seen. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *a)
{
    struct gw_http_req *r = clientp;
    (void)purpose;
    curl_socket_t fd = socket(a->family, a->socktype, a->protocol);
    if (fd == CURL_SOCKET_BAD)
        r->sock_errno = errno;
    return fd;
}

static bool out_of_fds(int err)
{
    return err == EMFILE || err == ENFILE;
}

/* Record how the transfer ended; the easy handle is already detached. */
static void req_finish(struct gw_http_req *r, CURLcode cc)
{
    r->result = cc;
    if (cc != CURLE_OK && r->abort_err == 0 && out_of_fds(r->sock_errno)) {
        r->error = r->sock_errno == EMFILE ? UV_EMFILE : UV_ENFILE;
        (void)snprintf(r->errmsg, sizeof(r->errmsg),
                       "no connection to %s: out of file descriptors (%s)",
                       r->origin,
                       r->sock_errno == EMFILE
                           ? "this process reached its open files limit"
                           : "the system's file table is full");
    } else if (r->abort_err) {
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
    if (r->h->short_cb != NULL &&
        (r->error == UV_EMFILE || r->error == UV_ENFILE ||
         cc == CURLE_OUT_OF_MEMORY))
        r->h->short_cb(r->h->short_arg,
                       cc == CURLE_OUT_OF_MEMORY ? UV_ENOMEM : UV_EMFILE,
                       r->errmsg);
    r->status = 0;
    if (r->error == 0) {
        long code = 0;
        if (curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code) ==
            CURLE_OK)
            r->status = code;
    }
}

void gw__http_req_free(struct gw_http_req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdr_list);
    free(r->body_copy);
    gw_buf_free(&r->body);
    gw_buf_free(&r->hdrs);
    free(r);
}

static struct gw_http_pool *pool_of(const struct gw_http_req *r)
{
    return &r->h->pools[r->sse != NULL ? GW_POOL_STREAM : GW_POOL_REQ];
}

/* Attach r to its multi handle (running from now on). */
static int req_attach(struct gw_http_req *r)
{
    struct gw_http *h = r->h;
    struct gw_http_pool *pool = pool_of(r);
    /* The bound counts connections in use: one per stream (streams have a
     * pool of their own), one per request, so that while a thousand
     * accounts sign in at once each can reuse its connection for its next
     * request; once it is quiet again, each finished request closes one of
     * the idle ones beyond IDLE_CONNS_MAX. Set here, where every
     * connection starts, so the bound follows the load. */
    (void)curl_multi_setopt(pool->multi, CURLMOPT_MAXCONNECTS,
                            r->sse != NULL
                                ? 1L + (long)h->nstreams
                                : IDLE_CONNS_MAX + (long)h->nattached + 1);
    if (curl_multi_add_handle(pool->multi, r->easy) != CURLM_OK)
        return UV_EIO;
    r->state = REQ_RUNNING;
    list_push(&h->running, r);
    if (r->sse == NULL)
        h->nattached++;
    return 0;
}

/* A request left the multi handle: the next waiting one takes its place.
 * One that cannot be attached fails through its callback, later. */
static void req_detached(struct gw_http *h, struct gw_http_req *r)
{
    if (r->sse != NULL)
        return;
    h->nattached--;
    while (!h->closing && h->queued.head != NULL &&
           h->nattached < REQS_RUNNING_MAX) {
        struct gw_http_req *q = h->queued.head;
        list_unlink(&h->queued, q);
        if (req_attach(q) < 0) {
            req_finish(q, CURLE_OUT_OF_MEMORY);
            q->state = REQ_DONE;
            list_push(&h->done, q);
        }
    }
}

/* Never called for a request whose callback is running (it is in no
 * list). */
void gw__http_req_detach(struct gw_http_req *r)
{
    struct gw_http *h = r->h;
    if (r->state == REQ_RUNNING) {
        if (pool_of(r)->multi)
            curl_multi_remove_handle(pool_of(r)->multi, r->easy);
        list_unlink(&h->running, r);
        req_detached(h, r);
    } else if (r->state == REQ_QUEUED) {
        list_unlink(&h->queued, r);
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
    const char *version = r->error == 0 ? gw__http_version_name(r->easy) : "";

    r->state = REQ_DELIVERING;
    if (r->sse == NULL)
        h->nreqs--;
    gw__http_delivery_init(&d, r->status, r->error, r->error ? r->errmsg : "",
                           &r->body, &r->hdrs, version);
    gw__http_delivery_push(&d);
    r->cb(r->arg, &d.pub);
    gw__http_delivery_pop(&d);
    gw__http_req_free(r);
}

void gw_http_cancel(struct gw_http_req *r)
{
    if (r == NULL || r->state == REQ_DELIVERING)
        return;
    gw__http_req_detach(r);
    r->status = 0;
    r->error = UV_ECANCELED;
    gw_strlcpy(r->errmsg, "request cancelled", sizeof(r->errmsg));
    gw_buf_reset(&r->body);
    gw_buf_reset(&r->hdrs);
    req_deliver(r);
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct gw_http_req *r = ud;
    size_t len = size * nmemb;
    struct gw_sse *s = r->sse;

    if (s) {
        /* The watchdog wants lines, not bytes: a server trickling one line
         * that never ends is as stalled as a silent one. */
        if (memchr(p, '\n', len) != NULL || memchr(p, '\r', len) != NULL)
            gw__sse_heard(s);
        if (r->stream_ok) {
            if (gw__sse_data(s, p, len) < 0) {
                r->abort_err = UV_ENOBUFS;
                r->abort_msg = "stream data arrived faster than it was read";
                return 0;
            }
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

int gw__http_opts_check(const struct gw_http_opts *o)
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

int gw__http_origin(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    if (u == NULL)
        return UV_ENOMEM;
    char *scheme = NULL, *host = NULL, *port = NULL;
    int rc = UV_EINVAL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ==
            CURLUE_OK) {
        gw_strlower(host);
        rc = snprintf(out, size, "%s://%s:%s", scheme, host, port) < (int)size
                 ? 0
                 : UV_E2BIG;
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return rc;
}

#define SETOPT(e, opt, val) (bad |= curl_easy_setopt(e, opt, val) != CURLE_OK)

int gw__http_req_start(struct gw_http *h, const struct gw_http_opts *o,
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
        gw__http_req_free(r);
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
    if (o->body && !gw__http_has_header(o->headers, "Expect"))
        l = curl_slist_append(l, "Expect:");
    r->hdr_list = l;

    /* Redirects are followed only where they stay (gw__http_on_header
     * checks each): a token for https://a must never go to http://a or
     * to b, nor a post's text. */
    if (gw__http_origin(o->url, r->origin, sizeof(r->origin)) < 0)
        bad = true;
    SETOPT(e, CURLOPT_URL, o->url);
    SETOPT(e, CURLOPT_PRIVATE, (void *)r);
    SETOPT(e, CURLOPT_ERRORBUFFER, r->errbuf);
    SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    SETOPT(e, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SETOPT(e, CURLOPT_OPENSOCKETDATA, (void *)r);
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
    SETOPT(e, CURLOPT_HEADERFUNCTION, gw__http_on_header);
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
        gw__http_req_free(r);
        return UV_EINVAL;
    }
    if (!stream && h->nattached >= REQS_RUNNING_MAX) {
        r->state = REQ_QUEUED;
        list_push(&h->queued, r);
    } else if (req_attach(r) < 0) {
        gw__http_req_free(r);
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
    int rc = gw__http_opts_check(o);
    if (rc < 0)
        return rc;
    struct gw_http_req *r = NULL;
    rc = gw__http_req_start(h, o, NULL, false, cb, arg, NULL, &r);
    if (rc < 0)
        return rc;
    h->nreqs++;
    if (out)
        *out = r;
    return 0;
}

void gw_http_on_short(struct gw_http *h, gw_http_short_cb cb, void *arg)
{
    h->short_cb = cb;
    h->short_arg = arg;
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
    struct gw_http *h = c->pool->h;
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
    struct gw_http_pool *pool = c->pool;
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
    if (pool->multi == NULL)
        return;
    /* c may be closed by curl's socket callback during this call. */
    curl_multi_socket_action(pool->multi, fd, flags, &running);
    after_action(pool->h);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    struct gw_http_pool *pool = userp;
    struct gw_http *h = pool->h;
    struct sock_ctx *c = socketp;
    (void)easy;

    if (pool->multi == NULL && what != CURL_POLL_REMOVE)
        return 0;
    if (what == CURL_POLL_REMOVE) {
        /* curl may hand the same fd back later (curl/curl#9799); that
         * simply makes a new context. */
        if (c) {
            sock_close(c);
            if (pool->multi)
                curl_multi_assign(pool->multi, fd, NULL);
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
        c->pool = pool;
        c->next = h->socks;
        if (h->socks)
            h->socks->prev = c;
        h->socks = c;
        curl_multi_assign(pool->multi, fd, c);
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
    struct gw_http_pool *pool = t->data;
    int running = 0;
    if (pool->multi == NULL)
        return;
    curl_multi_socket_action(pool->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    after_action(pool->h);
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
    struct gw_http_pool *pool = userp;
    (void)multi;
    if (pool->multi == NULL || pool->h->closing)
        return 0;
    /* Never call curl from here (it recurses on 0), and never arm 0 ms:
     * libuv 1.44 reruns a 0 ms timer re-armed from its own callback in the
     * same pass, which can starve socket I/O. */
    if (timeout_ms < 0)
        uv_timer_stop(&pool->timer);
    else
        uv_timer_start(&pool->timer, on_timeout,
                       (uint64_t)(timeout_ms < 1 ? 1 : timeout_ms), 0);
    return 0;
}

/*
 * After every curl_multi_socket_action: collect every finished transfer
 * (whatever running_handles says), then run user callbacks, none of which
 * may run inside a curl callback. Streams first, so that events received
 * together with the end of a connection come before its DISCONNECTED.
 */
static void after_action(struct gw_http *h)
{
    for (int i = 0; i < GW_POOLS; i++) {
        CURLM *multi = h->pools[i].multi;
        CURLMsg *m;
        int left = 0;
        while (multi != NULL &&
               (m = curl_multi_info_read(multi, &left)) != NULL) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *e = m->easy_handle;
            CURLcode cc = m->data.result;
            void *priv = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            struct gw_http_req *r = priv;
            curl_multi_remove_handle(multi, e);
            if (r == NULL)
                continue;
            list_unlink(&h->running, r);
            req_detached(h, r);
            req_finish(r, cc);
            r->state = REQ_DONE;
            list_push(&h->done, r);
        }
    }
    gw__sse_flush_all(h);
    while (!h->closing && h->done.head) {
        struct gw_http_req *r = h->done.head;
        list_unlink(&h->done, r);
        req_deliver(r);
    }
}

/* ---- client lifetime -------------------------------------------------- */

static int pool_init(struct gw_http *h, struct gw_http_pool *pool)
{
    pool->h = h;
    pool->multi = curl_multi_init();
    if (pool->multi == NULL)
        return UV_ENOMEM;
    bool bad = false;
    bad |= curl_multi_setopt(pool->multi, CURLMOPT_SOCKETFUNCTION, on_socket) !=
           CURLM_OK;
    bad |= curl_multi_setopt(pool->multi, CURLMOPT_SOCKETDATA, (void *)pool) !=
           CURLM_OK;
    bad |= curl_multi_setopt(pool->multi, CURLMOPT_TIMERFUNCTION,
                             on_timer_set) != CURLM_OK;
    bad |= curl_multi_setopt(pool->multi, CURLMOPT_TIMERDATA, (void *)pool) !=
           CURLM_OK;
    bad |= curl_multi_setopt(pool->multi, CURLMOPT_MAXCONNECTS,
                             IDLE_CONNS_MAX) != CURLM_OK;
    if (bad || uv_timer_init(h->loop, &pool->timer) < 0) {
        curl_multi_cleanup(pool->multi);
        pool->multi = NULL;
        return UV_EIO;
    }
    pool->timer.data = pool;
    h->timers_open++;
    return 0;
}

static void on_http_timer_closed(uv_handle_t *handle)
{
    struct gw_http_pool *pool = handle->data;
    struct gw_http *h = pool->h;
    if (--h->timers_open > 0)
        return;
    free(h);
    curl_global_cleanup();
}

int gw_http_new(struct gw_http **out, uv_loop_t *loop)
{
    if (out == NULL || loop == NULL)
        return UV_EINVAL;
    *out = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return UV_EIO;
    struct gw_http *h = gw_xcalloc(1, sizeof(*h));
    h->loop = loop;
    h->wake_end = &h->wake_head;
    if (pool_init(h, &h->pools[GW_POOL_REQ]) < 0)
        goto fail;
    if (pool_init(h, &h->pools[GW_POOL_STREAM]) < 0) {
        /* The first pool's timer is initialised: close it the uv way. */
        curl_multi_cleanup(h->pools[GW_POOL_REQ].multi);
        h->pools[GW_POOL_REQ].multi = NULL;
        h->closing = true;
        uv_close((uv_handle_t *)&h->pools[GW_POOL_REQ].timer,
                 on_http_timer_closed);
        return UV_EIO;
    }
    *out = h;
    return 0;
fail:
    free(h);
    curl_global_cleanup();
    return UV_EIO;
}

void gw_http_free(struct gw_http *h)
{
    if (h == NULL || h->closing)
        return;
    h->closing = true;
    /* Callbacks below may cancel other requests or close streams, so take
     * one item at a time from the head of each list. */
    while (h->streams)
        gw__sse_detach(h->streams);
    for (;;) {
        struct gw_http_req *r = h->done.head     ? h->done.head
                                : h->queued.head ? h->queued.head
                                                 : h->running.head;
        if (r == NULL)
            break;
        /* Stream connections went with their streams above. (The analyzer
         * cannot see that gw_http_cancel unlinked r, so that the head
         * moved on; it assumes r->next may be r itself.) */
        /* NOLINTNEXTLINE(clang-analyzer-unix.Malloc) */
        assert(r->sse == NULL);
        gw_http_cancel(r);
    }
    for (int i = 0; i < GW_POOLS; i++) {
        CURLM *m = h->pools[i].multi;
        h->pools[i].multi = NULL;
        curl_multi_cleanup(m);
    }
    while (h->socks)
        sock_close(h->socks);
    for (int i = 0; i < GW_POOLS; i++) {
        uv_timer_stop(&h->pools[i].timer);
        uv_close((uv_handle_t *)&h->pools[i].timer, on_http_timer_closed);
    }
}
