/*
 * The [webhook] listener on libh2o (see gw_webhook.h). h2o owns the
 * connections and the HTTP; an exchange here is our copy of one request,
 * alive until every handler that took it has answered, whether or not the
 * client is still there: h2o frees its request when the client goes, and
 * a guard in the request's memory pool tells us so.
 */
#include "gw_webhook.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <h2o.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gw_gateway.h"
#include "gw_limits.h"
#include "gw_runtime.h"
#include "gw_util.h"

#define QUERY_MAX 32

struct wh_reg {
    struct wh_reg *next;
    struct gw_adapter *ad;
    char path[128];
    gw_ad_webhook_cb cb;
    void *arg;
};

struct wh_exchange;

/* One taker's handle on an exchange (what adapters see). */
struct gw_webhook_req {
    struct wh_exchange *x;
    struct gw_adapter *ad;
    bool answered;
};

struct wh_kv {
    char *name;
    char *value;
};

/* Lives in the h2o request's pool; its dispose runs when h2o frees the
 * request (answered, or the client went away). */
struct wh_guard {
    struct wh_exchange *x;
};

struct wh_exchange {
    struct wh_exchange *next, *prev;
    struct gw_webhook *wh;
    h2o_req_t *req; /* NULL once h2o has freed it */
    struct wh_guard *guard;
    char method[16];
    char *path;
    struct wh_kv query[QUERY_MAX];
    int nquery;
    struct wh_kv hdrs[GW_WEBHOOK_HEADERS_MAX];
    int nhdrs;
    char *body;
    size_t body_len;
    struct gw_webhook_req slots[GW_WEBHOOK_TAKERS_MAX];
    int nslots;
    int pending; /* takers yet to answer, +1 while offering */
    int status;  /* the answer so far; 0 = none */
    char *ctype;
    char *resp;
    size_t resp_len;
};

struct wh_conn {
    uv_tcp_t tcp; /* first: h2o's close callback gets its address */
    struct gw_webhook *wh;
};

struct gw_webhook {
    uv_loop_t *loop;
    const struct gateway *gw;
    uv_tcp_t listener;
    bool listening;
    char *public_url; /* without a trailing '/' */
    char *prefix;     /* public_url's path, "" for none */
    SSL_CTX *ssl;
    h2o_globalconf_t config;
    h2o_context_t ctx;
    h2o_accept_ctx_t accept;
    bool ctx_live;
    bool config_live;
    struct wh_reg *regs;
    struct wh_exchange *xs;
    int conns;
    bool stopping;
    bool freed_pending; /* gw_webhook_free came before the last close */
    long requests, refused, pending;
    long refused_unlogged;
    int64_t refused_logged_ms;
    char refused_path[128];
};

struct wh_handler {
    h2o_handler_t super;
    struct gw_webhook *wh;
};

static void exchange_finish(struct wh_exchange *x);

/* ---- requests as handlers see them --------------------------------------- */

const char *gw_webhook_method(const struct gw_webhook_req *rq)
{
    return rq->x->method;
}

const char *gw_webhook_path(const struct gw_webhook_req *rq)
{
    return rq->x->path;
}

const char *gw_webhook_query(const struct gw_webhook_req *rq, const char *name)
{
    for (int i = 0; i < rq->x->nquery; i++)
        if (strcmp(rq->x->query[i].name, name) == 0)
            return rq->x->query[i].value;
    return NULL;
}

const char *gw_webhook_header(const struct gw_webhook_req *rq, const char *name)
{
    const char *v = NULL;
    for (int i = 0; i < rq->x->nhdrs; i++)
        if (gw_strcasecmp(rq->x->hdrs[i].name, name) == 0)
            v = rq->x->hdrs[i].value;
    return v;
}

const char *gw_webhook_body(const struct gw_webhook_req *rq, size_t *len)
{
    if (len != NULL)
        *len = rq->x->body_len;
    return rq->x->body;
}

void gw_ad_webhook_respond(struct gw_webhook_req *rq, int status,
                           const char *content_type, const char *body,
                           size_t len)
{
    if (rq == NULL || rq->answered)
        return;
    struct wh_exchange *x = rq->x;
    rq->answered = true;
    bool ok = status >= 200 && status < 300;
    bool have_ok = x->status >= 200 && x->status < 300;
    /* The first failure wins over any success: the network must send it
     * again for the account that could not keep it. */
    if (x->status == 0 || (have_ok && !ok)) {
        x->status = status;
        free(x->ctype);
        free(x->resp);
        x->ctype = content_type != NULL ? gw_xstrdup(content_type) : NULL;
        x->resp = len > 0 ? gw_xstrndup(body, len) : NULL;
        x->resp_len = len > 0 ? len : 0;
    }
    if (--x->pending == 0)
        exchange_finish(x);
}

/* ---- exchanges ------------------------------------------------------------
 */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decoding, '+' as space (forms and Meta's hub.* parameters). */
static char *url_decode(const char *s, size_t n)
{
    char *out = gw_xmalloc(n + 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
            hexval(s[i + 2]) >= 0) {
            char c = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
            out[o++] = c == '\0' ? '?' : c;
            i += 2;
        } else {
            out[o++] = s[i] == '+' ? ' ' : s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void parse_query(struct wh_exchange *x, const char *q, size_t n)
{
    size_t i = 0;
    while (i < n && x->nquery < QUERY_MAX) {
        size_t end = i;
        while (end < n && q[end] != '&')
            end++;
        size_t eq = i;
        while (eq < end && q[eq] != '=')
            eq++;
        if (end > i) {
            struct wh_kv *kv = &x->query[x->nquery++];
            kv->name = url_decode(q + i, eq - i);
            kv->value = eq < end ? url_decode(q + eq + 1, end - eq - 1)
                                 : gw_xstrdup("");
        }
        i = end + 1;
    }
}

static void exchange_free(struct wh_exchange *x)
{
    for (int i = 0; i < x->nquery; i++) {
        free(x->query[i].name);
        free(x->query[i].value);
    }
    for (int i = 0; i < x->nhdrs; i++) {
        free(x->hdrs[i].name);
        free(x->hdrs[i].value);
    }
    free(x->path);
    free(x->body);
    free(x->ctype);
    free(x->resp);
    free(x);
}

static void guard_dispose(void *p)
{
    struct wh_guard *g = p;
    if (g->x != NULL) {
        g->x->req = NULL; /* the client went away first */
        g->x->guard = NULL;
    }
}

static void send_now(h2o_req_t *req, int status, const char *ctype,
                     const char *body, size_t len)
{
    static const char *const reasons[] = {[0] = "OK",
                                          [1] = "Bad Request",
                                          [2] = "Forbidden",
                                          [3] = "Not Found",
                                          [4] = "Method Not Allowed",
                                          [5] = "Service Unavailable",
                                          [6] = "Error"};
    int r;
    switch (status) {
    case 400:
        r = 1;
        break;
    case 403:
        r = 2;
        break;
    case 404:
        r = 3;
        break;
    case 405:
        r = 4;
        break;
    case 503:
        r = 5;
        break;
    default:
        r = status >= 200 && status < 300 ? 0 : 6;
    }
    req->res.status = status;
    req->res.reason = reasons[r];
    /* One exchange per connection: Meta opens a new one per delivery
     * anyway, and no idle keep-alive connection can hold a stop up. */
    req->http1_is_persistent = 0;
    if (ctype == NULL)
        ctype = "text/plain; charset=utf-8";
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   ctype, strlen(ctype));
    if (body == NULL) {
        body = reasons[r];
        len = strlen(body);
    }
    h2o_send_inline(req, body, len);
}

static void log_refused(struct gw_webhook *wh, const char *path)
{
    int64_t now = gw_now_ms();
    wh->refused++;
    wh->refused_unlogged++;
    gw_strlcpy(wh->refused_path, path, sizeof(wh->refused_path));
    if (wh->refused_logged_ms != 0 &&
        now - wh->refused_logged_ms < GW_WEBHOOK_LOG_EVERY_MS)
        return;
    gw_log(wh->gw, GW_LOG_WARN,
           "webhook: refused %ld request(s) (403) since the last report, the "
           "latest to %s: no account accepted its signature or verify token",
           wh->refused_unlogged, wh->refused_path);
    wh->refused_unlogged = 0;
    wh->refused_logged_ms = now;
}

static void exchange_finish(struct wh_exchange *x)
{
    struct gw_webhook *wh = x->wh;
    if (x->status == 0)
        x->status = 403;
    if (x->status == 403)
        log_refused(wh, x->path);
    wh->requests++;
    wh->pending--;
    if (x->prev != NULL)
        x->prev->next = x->next;
    else
        wh->xs = x->next;
    if (x->next != NULL)
        x->next->prev = x->prev;
    if (x->guard != NULL)
        x->guard->x = NULL;
    h2o_req_t *req = x->req;
    if (req != NULL)
        send_now(req, x->status, x->ctype, x->resp, x->resp_len);
    exchange_free(x);
}

/* The part of path that handlers registered: public_url's path is
 * optional (a proxy may or may not strip it). */
static const char *local_path(const struct gw_webhook *wh, const char *path)
{
    size_t n = strlen(wh->prefix);
    if (n > 0 && strncmp(path, wh->prefix, n) == 0 &&
        (path[n] == '/' || path[n] == '\0'))
        return path[n] == '\0' ? "/" : path + n;
    return path;
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct gw_webhook *wh = ((struct wh_handler *)self)->wh;
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    char *path = gw_xstrndup(req->path.base, plen);
    const char *lp = local_path(wh, path);
    bool known = false;
    for (struct wh_reg *r = wh->regs; r != NULL && !known; r = r->next)
        known = strcmp(r->path, lp) == 0;
    if (wh->stopping || wh->pending >= GW_WEBHOOK_PENDING_MAX) {
        free(path);
        send_now(req, 503, NULL, NULL, 0);
        return 0;
    }
    if (!known) {
        free(path);
        send_now(req, 404, NULL, NULL, 0);
        return 0;
    }
    struct wh_exchange *x = gw_xcalloc(1, sizeof(*x));
    x->wh = wh;
    x->req = req;
    x->path = path;
    size_t ml = req->method.len < sizeof(x->method) - 1 ? req->method.len
                                                        : sizeof(x->method) - 1;
    memcpy(x->method, req->method.base, ml);
    if (req->query_at != SIZE_MAX)
        parse_query(x, req->path.base + req->query_at + 1,
                    req->path.len - req->query_at - 1);
    for (size_t i = 0;
         i < req->headers.size && x->nhdrs < GW_WEBHOOK_HEADERS_MAX; i++) {
        const h2o_header_t *h = &req->headers.entries[i];
        x->hdrs[x->nhdrs].name = gw_xstrndup(h->name->base, h->name->len);
        x->hdrs[x->nhdrs].value = gw_xstrndup(h->value.base, h->value.len);
        x->nhdrs++;
    }
    if (req->entity.base != NULL) {
        x->body = gw_xmalloc(req->entity.len + 1);
        memcpy(x->body, req->entity.base, req->entity.len);
        x->body[req->entity.len] = '\0';
        x->body_len = req->entity.len;
    } else {
        x->body = gw_xstrdup("");
    }
    x->guard =
        h2o_mem_alloc_shared(&req->pool, sizeof(*x->guard), guard_dispose);
    x->guard->x = x;
    x->next = wh->xs;
    if (wh->xs != NULL)
        wh->xs->prev = x;
    wh->xs = x;
    wh->pending++;

    /* Offer it to every handler of the path; pending holds one extra count
     * while offering, so that a handler answering at once does not end the
     * exchange before the others have seen it. */
    x->pending = 1;
    for (struct wh_reg *r = wh->regs; r != NULL; r = r->next) {
        if (strcmp(r->path, lp) != 0 || x->nslots == GW_WEBHOOK_TAKERS_MAX)
            continue;
        struct gw_webhook_req *slot = &x->slots[x->nslots];
        slot->x = x;
        slot->ad = r->ad;
        slot->answered = false;
        x->pending++;
        int taken = gw_rt_webhook(r->ad, r->cb, r->arg, slot);
        if (taken) {
            x->nslots++;
        } else if (!slot->answered) {
            x->pending--;
        } else {
            x->nslots++; /* answered although it said no: counts */
        }
    }
    if (--x->pending == 0)
        exchange_finish(x);
    return 0;
}

/* ---- registrations --------------------------------------------------------
 */

static bool path_ok(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n >= sizeof(((struct wh_reg *)0)->path) || p[0] != '/')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '/'))
            return false;
    }
    return true;
}

int gw_webhook_register(struct gw_webhook *wh, struct gw_adapter *ad,
                        const char *path, gw_ad_webhook_cb cb, void *arg)
{
    if (wh == NULL || wh->stopping)
        return UV_ENOTSUP;
    if (path == NULL || !path_ok(path) || cb == NULL)
        return UV_EINVAL;
    struct wh_reg *r = gw_xcalloc(1, sizeof(*r));
    r->ad = ad;
    gw_strlcpy(r->path, path, sizeof(r->path));
    r->cb = cb;
    r->arg = arg;
    struct wh_reg **pp = &wh->regs;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = r;
    return 0;
}

void gw_webhook_forget(struct gw_webhook *wh, struct gw_adapter *ad)
{
    if (wh == NULL)
        return;
    struct wh_reg **pp = &wh->regs;
    while (*pp != NULL) {
        struct wh_reg *r = *pp;
        if (r->ad == ad) {
            *pp = r->next;
            free(r);
        } else {
            pp = &r->next;
        }
    }
    /* Answering may finish (and free) an exchange: walk from the start
     * again after each answer. */
    bool again = true;
    while (again) {
        again = false;
        for (struct wh_exchange *x = wh->xs; x != NULL && !again; x = x->next) {
            for (int i = 0; i < x->nslots; i++) {
                struct gw_webhook_req *s = &x->slots[i];
                if (s->ad == ad && !s->answered) {
                    gw_ad_webhook_respond(s, 503, NULL, "account stopped\n",
                                          16);
                    again = true;
                    break;
                }
            }
        }
    }
}

/* ---- the gateway's side ---------------------------------------------------
 */

static struct gw_webhook *webhook_of(struct gw_adapter *ad)
{
    return ad != NULL && ad->gw != NULL ? ad->gw->webhook : NULL;
}

int gw_ad_webhook(struct gw_adapter *ad, const char *path, gw_ad_webhook_cb cb,
                  void *arg)
{
    if (gw_ad_stopped(ad))
        return UV_ECANCELED;
    struct gw_webhook *wh = webhook_of(ad);
    if (wh == NULL)
        return UV_ENOTSUP;
    return gw_webhook_register(wh, ad, path, cb, arg);
}

char *gw_ad_webhook_url(struct gw_adapter *ad, const char *path)
{
    struct gw_webhook *wh = webhook_of(ad);
    if (wh == NULL || wh->public_url == NULL || path == NULL)
        return NULL;
    return gw_xasprintf("%s%s", wh->public_url, path);
}

/* ---- connections ----------------------------------------------------------
 */

static void dispose_ctx(struct gw_webhook *wh)
{
    if (!wh->ctx_live)
        return;
    wh->ctx_live = false;
    h2o_context_dispose(&wh->ctx);
}

static void on_conn_closed(uv_handle_t *h)
{
    struct wh_conn *c = (struct wh_conn *)h;
    struct gw_webhook *wh = c->wh;
    free(c);
    wh->conns--;
    if (wh->stopping && wh->conns == 0 && !wh->listening)
        dispose_ctx(wh);
}

static void on_plain_closed(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct gw_webhook *wh = listener->data;
    if (status < 0)
        return;
    struct wh_conn *c = gw_xcalloc(1, sizeof(*c));
    c->wh = wh;
    uv_tcp_init(wh->loop, &c->tcp);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 || wh->stopping ||
        wh->conns >= GW_WEBHOOK_CONNS_MAX) {
        uv_close((uv_handle_t *)&c->tcp, on_plain_closed);
        return;
    }
    wh->conns++;
    h2o_socket_t *sock =
        h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_conn_closed);
    h2o_accept(&wh->accept, sock);
}

static int tls_setup(struct gw_webhook *wh, const struct gw_webhook_conf *c,
                     char *err, size_t errlen)
{
    wh->ssl = SSL_CTX_new(TLS_server_method());
    if (wh->ssl == NULL) {
        snprintf(err, errlen, "[webhook]: cannot create a TLS context");
        return UV_EIO;
    }
    SSL_CTX_set_min_proto_version(wh->ssl, TLS1_2_VERSION);
    ERR_clear_error();
    if (SSL_CTX_use_certificate_chain_file(wh->ssl, c->tls_cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(wh->ssl, c->tls_key, SSL_FILETYPE_PEM) !=
            1 ||
        SSL_CTX_check_private_key(wh->ssl) != 1) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        snprintf(err, errlen, "[webhook] tls_cert/tls_key (%s, %s): %s",
                 c->tls_cert, c->tls_key, e);
        return UV_EINVAL;
    }
    return 0;
}

int gw_webhook_new(uv_loop_t *loop, const struct gw_webhook_conf *c,
                   struct gw_webhook **out, char *err, size_t errlen)
{
    *out = NULL;
    struct gw_webhook *wh = gw_xcalloc(1, sizeof(*wh));
    wh->loop = loop;
    wh->gw = c->gw;
    wh->prefix = gw_xstrdup("");
    if (c->public_url != NULL) {
        wh->public_url = gw_xstrdup(c->public_url);
        size_t n = strlen(wh->public_url);
        while (n > 0 && wh->public_url[n - 1] == '/')
            wh->public_url[--n] = '\0';
        const char *host = strstr(wh->public_url, "://");
        const char *slash = host != NULL ? strchr(host + 3, '/') : NULL;
        if (slash != NULL) {
            free(wh->prefix);
            wh->prefix = gw_xstrdup(slash);
        }
    }
    int rc = 0;
    if (c->tls_cert != NULL && c->tls_key != NULL)
        rc = tls_setup(wh, c, err, errlen);
    if (rc < 0)
        goto fail;

    h2o_config_init(&wh->config);
    wh->config_live = true;
    wh->config.max_request_entity_size = GW_WEBHOOK_BODY_MAX;
    wh->config.http1.req_timeout = GW_WEBHOOK_REQ_TIMEOUT_MS;
    wh->config.handshake_timeout = GW_WEBHOOK_REQ_TIMEOUT_MS;
    h2o_hostconf_t *host = h2o_config_register_host(
        &wh->config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pc = h2o_config_register_path(host, "/", 0);
    struct wh_handler *hd =
        (struct wh_handler *)h2o_create_handler(pc, sizeof(*hd));
    hd->super.on_req = on_req;
    hd->wh = wh;
    h2o_context_init(&wh->ctx, loop, &wh->config);
    wh->ctx_live = true;
    wh->accept.ctx = &wh->ctx;
    wh->accept.hosts = wh->config.hosts;
    wh->accept.ssl_ctx = wh->ssl;

    struct sockaddr_storage ss;
    if (uv_ip4_addr(c->host, c->port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(c->host, c->port, (struct sockaddr_in6 *)&ss) != 0) {
        snprintf(err, errlen, "[webhook] listen: '%s' is not an address",
                 c->host);
        rc = UV_EINVAL;
        goto fail;
    }
    uv_tcp_init(loop, &wh->listener);
    wh->listener.data = wh;
    wh->listening = true;
    rc = uv_tcp_bind(&wh->listener, (const struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&wh->listener, 128, on_accept);
    if (rc < 0) {
        snprintf(err, errlen, "[webhook] listen %s:%d: %s", c->host, c->port,
                 uv_strerror(rc));
        goto fail;
    }
    *out = wh;
    return 0;
fail:
    /* What was opened is closed like at a stop; the loop frees it. */
    wh->stopping = true;
    gw_webhook_stop(wh);
    gw_webhook_free(wh);
    return rc < 0 ? rc : UV_EINVAL;
}

int gw_webhook_port(const struct gw_webhook *wh)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    if (wh == NULL || !wh->listening ||
        uv_tcp_getsockname(&wh->listener, (struct sockaddr *)&ss, &len) != 0)
        return -1;
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* The last of it, once nothing of h2o's or ours is open. */
static void free_now(struct gw_webhook *wh)
{
    dispose_ctx(wh);
    if (wh->config_live)
        h2o_config_dispose(&wh->config);
    if (wh->ssl != NULL)
        SSL_CTX_free(wh->ssl);
    free(wh->public_url);
    free(wh->prefix);
    free(wh);
}

static void on_listener_closed(uv_handle_t *h)
{
    struct gw_webhook *wh = h->data;
    wh->listening = false;
    if (wh->conns == 0)
        dispose_ctx(wh);
    if (wh->freed_pending)
        free_now(wh);
}

void gw_webhook_stop(struct gw_webhook *wh)
{
    if (wh == NULL)
        return;
    wh->stopping = true;
    while (wh->regs != NULL)
        gw_webhook_forget(wh, wh->regs->ad);
    /* Whatever nobody will answer now goes back to the network. */
    while (wh->xs != NULL) {
        struct wh_exchange *x = wh->xs;
        for (int i = 0; i < x->nslots; i++)
            x->slots[i].answered = true;
        x->status = 503;
        free(x->resp);
        x->resp = NULL;
        x->resp_len = 0;
        x->pending = 0;
        exchange_finish(x);
    }
    if (wh->listening && !uv_is_closing((uv_handle_t *)&wh->listener))
        uv_close((uv_handle_t *)&wh->listener, on_listener_closed);
}

void gw_webhook_free(struct gw_webhook *wh)
{
    if (wh == NULL)
        return;
    gw_webhook_stop(wh);
    /* h2o's context may only go once its connections have and its
     * timeouts are empty, and its configuration after it: when the
     * listener's close has run (a start that failed frees before that). */
    if (wh->listening)
        wh->freed_pending = true;
    else
        free_now(wh);
}

void gw_webhook_stats(const struct gw_webhook *wh, struct gw_webhook_stats *st)
{
    memset(st, 0, sizeof(*st));
    if (wh == NULL)
        return;
    st->requests = wh->requests;
    st->refused = wh->refused;
    st->pending = wh->pending;
    st->connections = wh->conns;
}
