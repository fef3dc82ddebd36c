/*
 * gw_http against a real server: tests/unit/http_test_server.py, started
 * once by main() as a child process (HTTP and HTTPS with a self-signed
 * certificate made by the openssl CLI). Every loop test ends with every
 * handle closed and uv_loop_close() == 0.
 */
#include "gw_http.h"

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "gw_limits.h"
#include "gw_util.h"
#include "testserver.h"

#define SECRET "SECRET-TOKEN-4711"

static int g_port;
static int g_tls_port;
static char g_cert[128];

/* ---- harness ------------------------------------------------------------ */

struct harness {
    uv_loop_t loop;
    uv_timer_t watchdog; /* fails the test if it runs too long */
    uv_timer_t aux;      /* for tests that need to wait or act later */
    struct gw_http *h;
    struct gw_sse *sse[4];
    int pending; /* responses still expected */
    int seq;     /* order of callbacks */
    bool timed_out;
    bool finished;
};

static void t_finish(struct harness *t)
{
    if (t->finished)
        return;
    t->finished = true;
    for (size_t i = 0; i < GW_ARRAY_LEN(t->sse); i++) {
        gw_sse_close(t->sse[i]);
        t->sse[i] = NULL;
    }
    gw_http_free(t->h);
    t->h = NULL;
    uv_close((uv_handle_t *)&t->watchdog, NULL);
    uv_close((uv_handle_t *)&t->aux, NULL);
}

static void on_watchdog(uv_timer_t *w)
{
    struct harness *t = w->data;
    t->timed_out = true;
    t_finish(t);
}

static void t_init(struct harness *t, uint64_t watchdog_ms)
{
    memset(t, 0, sizeof(*t));
    ck_assert_int_eq(uv_loop_init(&t->loop), 0);
    ck_assert_int_eq(gw_http_new(&t->h, &t->loop), 0);
    ck_assert_ptr_nonnull(t->h);
    uv_timer_init(&t->loop, &t->watchdog);
    t->watchdog.data = t;
    uv_timer_init(&t->loop, &t->aux);
    t->aux.data = t;
    uv_timer_start(&t->watchdog, on_watchdog, watchdog_ms, 0);
}

static void t_run(struct harness *t)
{
    uv_run(&t->loop, UV_RUN_DEFAULT);
    ck_assert_msg(!t->timed_out, "test timed out");
    ck_assert(t->finished);
    ck_assert_int_eq(uv_loop_close(&t->loop), 0);
}

static char *url(const char *path)
{
    return gw_xasprintf("http://127.0.0.1:%d%s", g_port, path);
}

/* A port nobody listens on: bind, read the number, close. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- response capture --------------------------------------------------- */

struct resp {
    struct harness *t;
    int called;
    int seq;
    long status;
    int error;
    char *errmsg;
    char *body;
    size_t body_len;
    long retry_after_s;
    long ratelimit_remaining;
    int64_t reset_ms;
    char *link_next;
    char *link_prev;
    char *content_type;
    char *http_version;
    char *x_test;   /* gw_http_response_header("X-TEST") */
    char *x_spaces; /* gw_http_response_header("x-spaces") */
    int active_in_cb;
    void (*then)(struct resp *r); /* runs inside the callback */
    struct gw_http_req *req;
};

static char *dup0(const char *s)
{
    return s ? gw_xstrdup(s) : NULL;
}

static void resp_free(struct resp *r)
{
    free(r->errmsg);
    free(r->body);
    free(r->link_next);
    free(r->link_prev);
    free(r->content_type);
    free(r->http_version);
    free(r->x_test);
    free(r->x_spaces);
    memset(r, 0, sizeof(*r));
}

static void on_resp(void *arg, const struct gw_http_response *g)
{
    struct resp *r = arg;
    struct harness *t = r->t;
    r->called++;
    r->seq = ++t->seq;
    r->status = g->status;
    r->error = g->error;
    r->errmsg = dup0(g->errmsg);
    r->body = gw_xstrndup(g->body, g->body_len);
    r->body_len = g->body_len;
    ck_assert_int_eq(g->body[g->body_len], '\0');
    r->retry_after_s = g->retry_after_s;
    r->ratelimit_remaining = g->ratelimit_remaining;
    r->reset_ms = g->ratelimit_reset_ms;
    r->link_next = dup0(g->link_next);
    r->link_prev = dup0(g->link_prev);
    r->content_type = dup0(g->content_type);
    r->http_version = dup0(g->http_version);
    r->x_test = dup0(gw_http_response_header(g, "X-TEST"));
    r->x_spaces = dup0(gw_http_response_header(g, "x-spaces"));
    r->active_in_cb = gw_http_active(t->h);
    if (r->then)
        r->then(r);
    if (--t->pending == 0)
        t_finish(t);
}

static struct gw_http_req *get(struct harness *t, struct resp *r,
                               const char *path, struct gw_http_opts *o)
{
    struct gw_http_opts def = {0};
    char *u = path[0] == '/' ? url(path) : gw_xstrdup(path);
    if (o == NULL)
        o = &def;
    o->url = u;
    r->t = t;
    struct gw_http_req *req = NULL;
    int rc = gw_http_request(t->h, o, on_resp, r, &req);
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_nonnull(req);
    t->pending++;
    free(u);
    o->url = NULL;
    r->req = req;
    return req;
}

/* One request, run to completion. */
static void fetch(struct resp *r, const char *path, struct gw_http_opts *o)
{
    struct harness t;
    t_init(&t, 10000);
    get(&t, r, path, o);
    t_run(&t);
    ck_assert_int_eq(r->called, 1);
}

/* ---- plain requests ----------------------------------------------------- */

START_TEST(test_get_json)
{
    struct harness t;
    struct resp r = {0};
    t_init(&t, 5000);
    get(&t, &r, "/json", NULL);
    ck_assert_int_eq(gw_http_active(t.h), 1);
    t_run(&t);
    ck_assert_int_eq(r.called, 1);
    ck_assert_int_eq(r.error, 0);
    ck_assert_str_eq(r.errmsg, "");
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"hello\":\"world\",\"n\":42}");
    ck_assert_uint_eq(r.body_len, strlen(r.body));
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_str_eq(r.http_version, "1.1");
    ck_assert_int_eq(r.retry_after_s, -1);
    ck_assert_int_eq(r.ratelimit_remaining, -1);
    ck_assert(r.reset_ms == 0);
    ck_assert_ptr_null(r.link_next);
    ck_assert_ptr_null(r.link_prev);
    ck_assert_int_eq(r.active_in_cb, 0);
    resp_free(&r);
}
END_TEST

static cJSON *parse_echo(const struct resp *r)
{
    cJSON *j = cJSON_ParseWithLength(r->body, r->body_len);
    ck_assert_ptr_nonnull(j);
    return j;
}

static const char *jstr(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

START_TEST(test_post_echo)
{
    struct resp r = {0};
    char body[] = "{\"status\":\"hello \\u00e9\"}";
    const char *hdrs[] = {"Authorization: Bearer " SECRET, "X-Custom: yes",
                          NULL};
    struct gw_http_opts o = {
        .method = "POST",
        .headers = hdrs,
        .body = body,
        .body_len = strlen(body),
        .content_type = "application/json",
    };
    struct harness t;
    t_init(&t, 5000);
    get(&t, &r, "/echo", &o);
    /* The body was copied: scribbling on ours changes nothing. */
    memset(body, 'Z', strlen(body));
    t_run(&t);

    ck_assert_int_eq(r.status, 200);
    cJSON *j = parse_echo(&r);
    ck_assert_str_eq(jstr(j, "method", NULL), "POST");
    ck_assert_str_eq(jstr(j, "headers", "content-type"), "application/json");
    ck_assert_str_eq(jstr(j, "headers", "x-custom"), "yes");
    ck_assert_str_eq(jstr(j, "headers", "authorization"), "Bearer " SECRET);
    ck_assert_str_eq(jstr(j, "headers", "content-length"), "25");
    ck_assert_ptr_null(jstr(j, "headers", "expect"));
    ck_assert_str_eq(jstr(j, "body", NULL), "{\"status\":\"hello \\u00e9\"}");
    cJSON_Delete(j);
    resp_free(&r);
}
END_TEST

START_TEST(test_methods)
{
    static const char *const methods[] = {"PUT", "DELETE", "PATCH"};
    for (size_t i = 0; i < GW_ARRAY_LEN(methods); i++) {
        struct resp r = {0};
        struct gw_http_opts o = {
            .method = methods[i], .body = "a=1&b=2", .body_len = 7};
        fetch(&r, "/echo", &o);
        cJSON *j = parse_echo(&r);
        ck_assert_str_eq(jstr(j, "method", NULL), methods[i]);
        ck_assert_str_eq(jstr(j, "body", NULL), "a=1&b=2");
        cJSON_Delete(j);
        resp_free(&r);
    }
    /* POST without a body still sends Content-Length: 0. */
    struct resp r = {0};
    struct gw_http_opts o = {.method = "POST"};
    fetch(&r, "/echo", &o);
    cJSON *j = parse_echo(&r);
    ck_assert_str_eq(jstr(j, "method", NULL), "POST");
    ck_assert_str_eq(jstr(j, "headers", "content-length"), "0");
    cJSON_Delete(j);
    resp_free(&r);
    /* A body of embedded NULs arrives intact. */
    struct gw_http_opts o2 = {
        .method = "POST", .body = "a\0b\0c", .body_len = 5};
    fetch(&r, "/echo", &o2);
    j = parse_echo(&r);
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(j, "body");
    ck_assert(cJSON_IsString(b));
    ck_assert_int_eq(memcmp(b->valuestring, "a\0b\0c", 5), 0);
    cJSON_Delete(j);
    resp_free(&r);
    /* HEAD: status and headers, no body. */
    struct gw_http_opts o3 = {.method = "HEAD"};
    fetch(&r, "/json", &o3);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert_str_eq(r.content_type, "application/json");
    resp_free(&r);
}
END_TEST

START_TEST(test_404_with_body)
{
    struct resp r = {0};
    fetch(&r, "/nope", NULL);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.status, 404);
    ck_assert_str_eq(r.body, "{\"error\":\"not found\"}");
    resp_free(&r);
}
END_TEST

START_TEST(test_retry_after_seconds)
{
    struct resp r = {0};
    fetch(&r, "/headers?case=retry", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(r.retry_after_s, 3);
    resp_free(&r);
}
END_TEST

START_TEST(test_retry_after_date)
{
    struct resp r = {0};
    fetch(&r, "/retry-date?in=5", NULL);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_ge(r.retry_after_s, 4);
    ck_assert_int_le(r.retry_after_s, 6);
    resp_free(&r);
    /* A date in the past means "now", never a negative delay. */
    fetch(&r, "/retry-date?in=-100", NULL);
    ck_assert_int_eq(r.retry_after_s, 0);
    resp_free(&r);
}
END_TEST

START_TEST(test_ratelimit_headers)
{
    /* 2026-05-02T09:20:00Z */
    const int64_t want = 1777713600000LL;
    struct resp r = {0};
    fetch(&r, "/headers?case=mastodon", NULL);
    ck_assert_int_eq(r.ratelimit_remaining, 299);
    ck_assert(r.reset_ms == want);
    resp_free(&r);
    fetch(&r, "/headers?case=x", NULL);
    ck_assert_int_eq(r.ratelimit_remaining, 14);
    ck_assert(r.reset_ms == want);
    resp_free(&r);
    fetch(&r, "/headers?case=bluesky", NULL);
    ck_assert_int_eq(r.ratelimit_remaining, 2999);
    ck_assert(r.reset_ms == want + 1000);
    resp_free(&r);
}
END_TEST

START_TEST(test_odd_header_values)
{
    struct resp r = {0};
    /* The obsolete HTTP-date forms, both in the past: 0, not negative. */
    fetch(&r, "/raw?h=Retry-After:Sunday,%2006-Nov-94%2008:49:37%20GMT", NULL);
    ck_assert_int_eq(r.retry_after_s, 0);
    resp_free(&r);
    fetch(&r, "/raw?h=Retry-After:Sun%20Nov%20%206%2008:49:37%201994", NULL);
    ck_assert_int_eq(r.retry_after_s, 0);
    resp_free(&r);
    /* Junk is "absent", never a guess. */
    fetch(&r,
          "/raw?h=Retry-After:soon&h=X-RateLimit-Remaining:lots"
          "&h=X-RateLimit-Reset:tomorrow&h=Link:%3Cunterminated",
          NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(r.retry_after_s, -1);
    ck_assert_int_eq(r.ratelimit_remaining, -1);
    ck_assert(r.reset_ms == 0);
    ck_assert_ptr_null(r.link_next);
    resp_free(&r);
    /* A small reset number is seconds from now (IETF RateLimit draft). */
    int64_t before = gw_now_ms();
    fetch(&r, "/raw?h=X-RateLimit-Reset:60&h=X-RateLimit-Remaining:0", NULL);
    ck_assert_int_eq(r.ratelimit_remaining, 0);
    ck_assert(r.reset_ms >= before + 59000 && r.reset_ms <= before + 62000);
    resp_free(&r);
    /* The AT Protocol's rate limiter (xrpc-server rate-limiter-http.js):
     * RateLimit-* without X-, the reset in epoch seconds, and Retry-After
     * on its 429s. */
    char path[200];
    snprintf(path, sizeof(path),
             "/raw?h=RateLimit-Limit:30&h=RateLimit-Remaining:0"
             "&h=RateLimit-Reset:%lld&h=RateLimit-Policy:30;w=300"
             "&h=Retry-After:120",
             (long long)(gw_now_ms() / 1000 + 120));
    fetch(&r, path, NULL);
    ck_assert_int_eq(r.ratelimit_remaining, 0);
    ck_assert(r.reset_ms >= before + 118000 && r.reset_ms <= before + 122000);
    ck_assert_int_eq(r.retry_after_s, 120);
    resp_free(&r);
    /* Headers over 64 KB in total: the transfer is refused. */
    fetch(&r, "/huge-headers?n=100", NULL);
    ck_assert_int_eq(r.error, UV_E2BIG);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.errmsg, "response headers too large");
    resp_free(&r);
    fetch(&r, "/huge-headers?n=20", NULL);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);
}
END_TEST

START_TEST(test_link_header)
{
    struct resp r = {0};
    fetch(&r, "/headers?case=link", NULL);
    ck_assert_str_eq(r.link_next, "https://h/api/v1/notifications?max_id=1");
    ck_assert_str_eq(r.link_prev, "https://h/api/v1/notifications?min_id=9");
    resp_free(&r);
    /* Commas inside the URL and a quoted title; two Link headers; an
     * unquoted rel; rel lists with several types. */
    fetch(&r, "/headers?case=link-odd", NULL);
    ck_assert_str_eq(r.link_next, "https://h/a?x=1,2");
    ck_assert_str_eq(r.link_prev, "https://h/b");
    resp_free(&r);
}
END_TEST

START_TEST(test_header_lookup)
{
    struct resp r = {0};
    fetch(&r, "/headers?case=multi", NULL);
    ck_assert_str_eq(r.x_test, "second");
    ck_assert_str_eq(r.x_spaces, "padded value");
    resp_free(&r);
    /* Outside a callback, or for a response we did not make: NULL. */
    struct gw_http_response fake = {.status = 200, .body = ""};
    ck_assert_ptr_null(gw_http_response_header(&fake, "Content-Type"));
    ck_assert_ptr_null(gw_http_response_header(NULL, "Content-Type"));
}
END_TEST

START_TEST(test_body_too_large)
{
    struct resp r = {0};
    struct gw_http_opts o = {.max_body = 100000};
    fetch(&r, "/big?n=200000", &o);
    ck_assert_int_eq(r.error, UV_E2BIG);
    ck_assert_int_eq(r.status, 0);
    ck_assert_str_eq(r.errmsg, "response too large");
    resp_free(&r);
    /* Without Content-Length the cap is enforced while reading. */
    fetch(&r, "/big?n=200000&chunked=1", &o);
    ck_assert_int_eq(r.error, UV_E2BIG);
    ck_assert_str_eq(r.errmsg, "response too large");
    resp_free(&r);
    /* Exactly the cap is fine. */
    fetch(&r, "/big?n=100000&chunked=1", &o);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 100000);
    resp_free(&r);
}
END_TEST

START_TEST(test_gzip)
{
    struct resp r = {0};
    fetch(&r, "/gzip", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.body_len, 900);
    ck_assert_int_eq(strncmp(r.body, "squeezed squeezed ", 18), 0);
    resp_free(&r);
}
END_TEST

START_TEST(test_timeout)
{
    struct resp r = {0};
    const char *hdrs[] = {"Authorization: Bearer " SECRET, NULL};
    struct gw_http_opts o = {.timeout_ms = 300, .headers = hdrs};
    uint64_t t0 = uv_hrtime();
    fetch(&r, "/hang", &o);
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    ck_assert_int_eq(r.error, UV_ETIMEDOUT);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ge(ms, 250);
    ck_assert_int_lt(ms, 3000);
    ck_assert(strlen(r.errmsg) > 0);
    ck_assert_ptr_null(strstr(r.errmsg, SECRET));
    resp_free(&r);
}
END_TEST

START_TEST(test_refused)
{
    struct resp r = {0};
    const char *hdrs[] = {"Authorization: Bearer " SECRET, NULL};
    struct gw_http_opts o = {.headers = hdrs};
    char *u = gw_xasprintf("http://127.0.0.1:%d/x", closed_port());
    fetch(&r, u, &o);
    free(u);
    ck_assert_int_eq(r.error, UV_ECONNREFUSED);
    ck_assert_int_eq(r.status, 0);
    ck_assert(strlen(r.errmsg) > 0);
    ck_assert_ptr_null(strstr(r.errmsg, SECRET));
    resp_free(&r);
}
END_TEST

struct cancel_ctx {
    struct harness t;
    struct resp a, b, c;
};

static void do_cancel(uv_timer_t *w)
{
    struct cancel_ctx *c = gw_container_of(w, struct cancel_ctx, t.aux);
    ck_assert_int_eq(c->a.called, 0);
    gw_http_cancel(c->a.req);
    /* The callback ran inside gw_http_cancel. */
    ck_assert_int_eq(c->a.called, 1);
}

START_TEST(test_cancel_midflight)
{
    struct cancel_ctx c;
    memset(&c, 0, sizeof(c));
    t_init(&c.t, 5000);
    get(&c.t, &c.a, "/hang", NULL);
    uv_timer_start(&c.t.aux, do_cancel, 100, 0);
    t_run(&c.t);
    ck_assert_int_eq(c.a.called, 1);
    ck_assert_int_eq(c.a.error, UV_ECANCELED);
    ck_assert_int_eq(c.a.status, 0);
    ck_assert_int_eq(c.a.active_in_cb, 0);
    resp_free(&c.a);
}
END_TEST

static struct cancel_ctx *g_cc;

static void a_then(struct resp *r)
{
    struct cancel_ctx *c = g_cc;
    (void)r;
    /* Cancel B from inside A's callback: B's callback runs right here. */
    ck_assert_int_eq(c->b.called, 0);
    gw_http_cancel(c->b.req);
    ck_assert_int_eq(c->b.called, 1);
    /* Cancelling A itself from its own callback is ignored. */
    gw_http_cancel(c->a.req);
    /* And a callback may start a new request. */
    get(&c->t, &c->c, "/json?third", NULL);
}

START_TEST(test_cancel_from_callback)
{
    struct cancel_ctx c;
    memset(&c, 0, sizeof(c));
    g_cc = &c;
    t_init(&c.t, 5000);
    c.a.then = a_then;
    get(&c.t, &c.a, "/json", NULL);
    get(&c.t, &c.b, "/hang", NULL);
    t_run(&c.t);
    ck_assert_int_eq(c.a.called, 1);
    ck_assert_int_eq(c.a.status, 200);
    ck_assert_int_eq(c.b.called, 1);
    ck_assert_int_eq(c.b.error, UV_ECANCELED);
    /* B's callback ran inside A's, so it got the next sequence number
     * before A's callback returned; A's seq was taken first. */
    ck_assert_int_eq(c.a.seq, 1);
    ck_assert_int_eq(c.b.seq, 2);
    ck_assert_int_eq(c.c.called, 1);
    ck_assert_int_eq(c.c.status, 200);
    ck_assert_int_eq(c.c.seq, 3);
    resp_free(&c.a);
    resp_free(&c.b);
    resp_free(&c.c);
}
END_TEST

static void free_then(struct resp *r)
{
    /* gw_http_free cancels everything; new requests are refused. */
    struct gw_http_opts o = {.url = "http://127.0.0.1:1/"};
    struct resp dummy = {0};
    ck_assert_int_eq(gw_http_request(r->t->h, &o, on_resp, &dummy, NULL),
                     UV_ECANCELED);
}

static void do_free(uv_timer_t *w)
{
    struct harness *t = w->data;
    t_finish(t);
}

START_TEST(test_free_with_requests_in_flight)
{
    struct harness t;
    struct resp r[3];
    memset(r, 0, sizeof(r));
    t_init(&t, 5000);
    for (int i = 0; i < 3; i++) {
        r[i].then = free_then;
        get(&t, &r[i], "/hang", NULL);
    }
    ck_assert_int_eq(gw_http_active(t.h), 3);
    uv_timer_start(&t.aux, do_free, 100, 0);
    t_run(&t);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r[i].called, 1);
        ck_assert_int_eq(r[i].error, UV_ECANCELED);
        resp_free(&r[i]);
    }
    /* NULL is fine. */
    gw_http_free(NULL);
    gw_sse_close(NULL);
    gw_http_cancel(NULL);
    ck_assert_int_eq(gw_http_active(NULL), 0);
}
END_TEST

START_TEST(test_concurrent_50)
{
    struct harness t;
    struct resp r[50];
    memset(r, 0, sizeof(r));
    t_init(&t, 10000);
    for (int i = 0; i < 50; i++) {
        char path[32];
        snprintf(path, sizeof(path), "/echo?i=%d", i);
        get(&t, &r[i], path, NULL);
    }
    ck_assert_int_eq(gw_http_active(t.h), 50);
    t_run(&t);
    for (int i = 0; i < 50; i++) {
        char want[32];
        snprintf(want, sizeof(want), "/echo?i=%d", i);
        ck_assert_int_eq(r[i].called, 1);
        ck_assert_int_eq(r[i].status, 200);
        cJSON *j = parse_echo(&r[i]);
        ck_assert_str_eq(jstr(j, "path", NULL), want);
        cJSON_Delete(j);
        resp_free(&r[i]);
    }
}
END_TEST

/* Sockets this process holds (the test server's pipe is not one). */
static int open_sockets(void)
{
    int n = 0;
    char path[64], link[64];
    for (int fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        ssize_t len = readlink(path, link, sizeof(link) - 1);
        if (len > 0 && strncmp(link, "socket:", 7) == 0)
            n++;
    }
    return n;
}

#define IDLE_BURST   60
#define IDLE_AFTER   40
#define IDLE_STREAMS 20

static void idle_next(struct resp *r);

struct idle_run {
    struct resp seq[IDLE_AFTER];
    int next;
};
static struct idle_run g_idle;
static int g_burst_seen; /* sockets open when the burst had ended */
static int g_idle_seen;  /* ... and after the quiet requests */
static struct gw_sse *g_idle_streams[IDLE_STREAMS];

/* Quiet again: one request at a time, each started from the last one's
 * callback. */
static void idle_next(struct resp *r)
{
    if (g_idle.next >= IDLE_AFTER) {
        g_idle_seen = open_sockets();
        for (int i = 0; i < IDLE_STREAMS; i++) {
            gw_sse_close(g_idle_streams[i]);
            g_idle_streams[i] = NULL;
        }
        return;
    }
    struct resp *n = &g_idle.seq[g_idle.next++];
    n->then = idle_next;
    get(r->t, n, "/json", NULL);
}

static void burst_done(struct resp *r)
{
    if (r->t->pending == 1) { /* the last of the burst */
        g_burst_seen = open_sockets();
        idle_next(r);
    }
}

/* With streams open, a burst opens a connection per request; once it is
 * quiet, finished requests close the idle ones beyond the bound. (curl's
 * own default is four per easy handle alive, streams included, so with
 * streams open none was ever closed.) */
START_TEST(test_idle_connections_bounded)
{
    struct harness t;
    static struct resp burst[IDLE_BURST];
    memset(burst, 0, sizeof(burst));
    memset(&g_idle, 0, sizeof(g_idle));
    int before = open_sockets();
    t_init(&t, 20000);
    for (int i = 0; i < IDLE_STREAMS; i++) {
        struct gw_sse_opts o = {.backoff_min_ms = 20, .backoff_max_ms = 200};
        char *u = url("/sse/stall");
        o.http.url = u;
        ck_assert_int_eq(
            gw_sse_open(t.h, &o, NULL, NULL, NULL, &g_idle_streams[i]), 0);
        free(u);
    }
    for (int i = 0; i < IDLE_BURST; i++) {
        burst[i].then = burst_done;
        get(&t, &burst[i], "/slow?ms=300", NULL);
    }
    t_run(&t);
    ck_assert_int_eq(g_idle.next, IDLE_AFTER);
    for (int i = 0; i < IDLE_BURST; i++) {
        ck_assert_int_eq(burst[i].status, 200);
        resp_free(&burst[i]);
    }
    for (int i = 0; i < IDLE_AFTER; i++) {
        ck_assert_int_eq(g_idle.seq[i].status, 200);
        resp_free(&g_idle.seq[i]);
    }
    /* Counted in the callbacks: t_finish frees the client, and its
     * connections, right after the last one. */
    /* The streams, 32 idle at most, the socketpair each of curl's two
     * multi handles (streams, requests) keeps for its wake-ups, and one for
     * slack. Without the bound: 82. */
    ck_assert_int_le(g_idle_seen - before, IDLE_STREAMS + 32 + 4 + 1);
    ck_assert_int_ge(g_burst_seen - before, IDLE_BURST / 2);
}
END_TEST

#define QUEUE_N 300

static int g_queue_socks;

static void queue_note(struct resp *r)
{
    if (r->seq % 10 == 0) {
        int n = open_sockets();
        if (n > g_queue_socks)
            g_queue_socks = n;
    }
}

/*
 * Past 256 requests at once the others wait their turn, on the connections
 * the first ones leave; one cancelled while it waits is answered at once,
 * and only once.
 */
START_TEST(test_requests_past_the_bound_wait_their_turn)
{
    struct harness t;
    static struct resp rs[QUEUE_N];
    static struct gw_http_req *reqs[QUEUE_N];
    memset(rs, 0, sizeof(rs));
    g_queue_socks = 0;
    int before = open_sockets();
    t_init(&t, 60000);
    for (int i = 0; i < QUEUE_N; i++) {
        rs[i].then = queue_note;
        reqs[i] = get(&t, &rs[i], "/slow?ms=300", NULL);
    }
    gw_http_cancel(reqs[QUEUE_N - 1]);
    ck_assert_int_eq(rs[QUEUE_N - 1].called, 1);
    ck_assert_int_eq(rs[QUEUE_N - 1].error, UV_ECANCELED);
    t_run(&t);
    for (int i = 0; i < QUEUE_N - 1; i++) {
        ck_assert_msg(rs[i].status == 200, "request %d: %ld %s", i,
                      rs[i].status, rs[i].errmsg ? rs[i].errmsg : "");
        resp_free(&rs[i]);
    }
    ck_assert_int_eq(rs[QUEUE_N - 1].called, 1);
    resp_free(&rs[QUEUE_N - 1]);
    /* Each of the first 256 on a connection of its own, then reused. */
    ck_assert_int_le(g_queue_socks - before, 256 + 4 + 1);
    ck_assert_int_ge(g_queue_socks - before, 200);
}
END_TEST

START_TEST(test_redirects)
{
    struct resp r = {0};
    fetch(&r, "/redirect?n=3", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"redirected\":true}");
    resp_free(&r);
    /* More than five hops is an error. */
    fetch(&r, "/redirect?n=8", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.error, UV_EIO);
    resp_free(&r);
    /* Only http and https are followed. */
    fetch(&r, "/redirect-ftp", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_ne(r.error, 0);
    resp_free(&r);
    /* Never to another origin: another host name, another port. */
    fetch(&r, "/redirect-away", NULL);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.error, UV_EPROTO);
    ck_assert_msg(strstr(r.errmsg, "redirected to http://localhost:") != NULL,
                  "%s", r.errmsg);
    resp_free(&r);
    fetch(&r, "/redirect-port", NULL);
    ck_assert_int_eq(r.error, UV_EPROTO);
    ck_assert_msg(strstr(r.errmsg, "http://127.0.0.1:1;") != NULL, "%s",
                  r.errmsg);
    resp_free(&r);
    /* Headers of the redirect response itself do not leak through. */
    fetch(&r, "/redirect-headers", NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"hello\":\"world\",\"n\":42}");
    ck_assert_int_eq(r.ratelimit_remaining, -1);
    ck_assert_int_eq(r.retry_after_s, -1);
    ck_assert_ptr_null(r.link_next);
    resp_free(&r);
}
END_TEST

static void never_called(void *arg, const struct gw_http_response *r)
{
    (void)arg;
    (void)r;
    ck_abort_msg("callback ran for a request that was refused");
}

START_TEST(test_invalid_args)
{
    struct harness t;
    t_init(&t, 5000);
    struct gw_http_opts o = {.url = "ftp://127.0.0.1/"};
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    o.url = NULL;
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    o.url = "http://127.0.0.1/\r\nX-Evil: 1";
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    const char *bad[] = {"X-A: 1\r\nX-Evil: 2", NULL};
    o.url = "http://127.0.0.1/";
    o.headers = bad;
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    const char *noval[] = {"JustAName", NULL};
    o.headers = noval;
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    o.headers = NULL;
    o.method = "GE T";
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    o.method = NULL;
    o.content_type = "text/plain\nX-Evil: 1";
    ck_assert_int_eq(gw_http_request(t.h, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    o.content_type = NULL;
    ck_assert_int_eq(gw_http_request(t.h, &o, NULL, NULL, NULL), UV_EINVAL);
    ck_assert_int_eq(gw_http_request(NULL, &o, never_called, NULL, NULL),
                     UV_EINVAL);
    struct gw_sse_opts so = {.http = {.url = "file:///etc/passwd"}};
    struct gw_sse *s = NULL;
    ck_assert_int_eq(gw_sse_open(t.h, &so, NULL, NULL, NULL, &s), UV_EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(gw_http_active(t.h), 0);
    t_finish(&t);
    t_run(&t);
}
END_TEST

/* ---- HTTPS -------------------------------------------------------------- */

START_TEST(test_https_self_signed)
{
    char *u = gw_xasprintf("https://127.0.0.1:%d/json", g_tls_port);
    struct resp r = {0};

    fetch(&r, u, NULL);
    ck_assert_int_eq(r.error, UV_EPROTO);
    ck_assert_int_eq(r.status, 0);
    ck_assert(strlen(r.errmsg) > 0);
    resp_free(&r);

    struct gw_http_opts o = {.ca_file = g_cert};
    fetch(&r, u, &o);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"hello\":\"world\",\"n\":42}");
    resp_free(&r);

    struct gw_http_opts o2 = {.insecure = true};
    fetch(&r, u, &o2);
    ck_assert_int_eq(r.error, 0);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);

    struct gw_http_opts o3 = {.ca_file = "/nonexistent/ca.pem"};
    fetch(&r, u, &o3);
    ck_assert_int_eq(r.error, UV_EPROTO);
    resp_free(&r);
    free(u);
}
END_TEST

/* ---- SSE parser --------------------------------------------------------- */

struct evlog {
    struct gw_buf b;
    int n;
};

static void log_event(void *arg, const struct gw_sse_event *ev)
{
    struct evlog *l = arg;
    l->n++;
    gw_buf_printf(&l->b, "%s|%s|%s;", ev->event, ev->data, ev->id);
}

static const char corpus[] = "\xEF\xBB\xBF"
                             ": comment\n"
                             "event: a\ndata: 1\ndata: 2\n\n"
                             "data: crlf\r\n\r\n"
                             "data: m1\r\ndata: m2\r\n\r\n"
                             "data: c1\rdata: c2\r\r"
                             "data: cr\r\r"
                             "id: 5\r\ndata: x\n\n"
                             "data:nospace\n\n"
                             "data:  lead\n\n"
                             "event: skipped\n\n"
                             "data\n\n"
                             "id\ndata: noid\n\n"
                             "foo: bar\nretry: 10\ndata: last\n\n"
                             "data: incomplete";

static const char corpus_want[] = "a|1\n2|;"
                                  "message|crlf|;"
                                  "message|m1\nm2|;"
                                  "message|c1\nc2|;"
                                  "message|cr|;"
                                  "message|x|5;"
                                  "message|nospace|5;"
                                  "message| lead|5;"
                                  "message||5;"
                                  "message|noid|;"
                                  "message|last|;";

static char *parse_in_chunks(const char *data, size_t len, size_t max,
                             unsigned seed, int *nev)
{
    struct evlog l = {.n = 0};
    gw_buf_init(&l.b, 1 << 20);
    struct gw_sse_parser *p = gw_sse_parser_new(max, log_event, &l);
    size_t i = 0;
    unsigned x = seed;
    while (i < len) {
        size_t n = len - i;
        if (seed == 1) {
            n = 1;
        } else if (seed > 1) {
            x = x * 1103515245u + 12345u;
            n = 1 + (x >> 16) % 7;
            if (n > len - i)
                n = len - i;
        }
        int rc = gw_sse_parser_feed(p, data + i, n);
        ck_assert(rc == 0 || rc == UV_ENOBUFS);
        i += n;
    }
    gw_sse_parser_free(p);
    if (nev)
        *nev = l.n;
    return gw_buf_steal(&l.b);
}

START_TEST(test_parser_chunking)
{
    size_t len = sizeof(corpus) - 1;
    char *whole = parse_in_chunks(corpus, len, 0, 0, NULL);
    ck_assert_str_eq(whole, corpus_want);
    char *bytes = parse_in_chunks(corpus, len, 0, 1, NULL);
    ck_assert_str_eq(bytes, corpus_want);
    for (unsigned seed = 2; seed < 40; seed++) {
        char *some = parse_in_chunks(corpus, len, 0, seed, NULL);
        ck_assert_str_eq(some, corpus_want);
        free(some);
    }
    free(whole);
    free(bytes);
}
END_TEST

START_TEST(test_parser_oversized)
{
    struct evlog l = {.n = 0};
    gw_buf_init(&l.b, 4096);
    struct gw_sse_parser *p = gw_sse_parser_new(16, log_event, &l);
    /* Exactly 16 bytes of data: delivered. */
    const char *a = "data: 0123456789abcdef\n\n";
    ck_assert_int_eq(gw_sse_parser_feed(p, a, strlen(a)), 0);
    /* 17: dropped, and the caller hears about it. */
    const char *b = "data: 0123456789abcdefg\n\n";
    ck_assert_int_eq(gw_sse_parser_feed(p, b, strlen(b)), UV_ENOBUFS);
    /* Over the limit only once the lines are joined: dropped too. */
    const char *c = "data: 01234567\ndata: 89abcdef\n\n";
    ck_assert_int_eq(gw_sse_parser_feed(p, c, strlen(c)), UV_ENOBUFS);
    /* Event name counts as well. */
    const char *d = "event: 0123456789\ndata: 0123456789\n\n";
    ck_assert_int_eq(gw_sse_parser_feed(p, d, strlen(d)), UV_ENOBUFS);
    /* And parsing carries on. */
    const char *e = "data: ok\n\n";
    ck_assert_int_eq(gw_sse_parser_feed(p, e, strlen(e)), 0);
    ck_assert_str_eq(l.b.data, "message|0123456789abcdef|;message|ok|;");
    gw_sse_parser_free(p);
    gw_buf_free(&l.b);
}
END_TEST

START_TEST(test_parser_long_line)
{
    struct evlog l = {.n = 0};
    gw_buf_init(&l.b, 4096);
    struct gw_sse_parser *p = gw_sse_parser_new(100, log_event, &l);
    char chunk[4096];
    memset(chunk, 'z', sizeof(chunk));
    int dropped = 0;
    ck_assert_int_eq(gw_sse_parser_feed(p, "data: ", 6), 0);
    for (int i = 0; i < 256; i++)
        dropped += gw_sse_parser_feed(p, chunk, sizeof(chunk)) == UV_ENOBUFS;
    /* Whether an over-long line was a comment is known at its end, so
     * that is when the drop is reported. */
    ck_assert_int_eq(dropped, 0);
    ck_assert_int_eq(gw_sse_parser_feed(p, "\n\ndata: after\n\n", 15),
                     UV_ENOBUFS);
    /* A huge comment is harmless and not an error. */
    ck_assert_int_eq(gw_sse_parser_feed(p, ":", 1), 0);
    for (int i = 0; i < 256; i++)
        ck_assert_int_eq(gw_sse_parser_feed(p, chunk, sizeof(chunk)), 0);
    ck_assert_int_eq(gw_sse_parser_feed(p, "\ndata: end\n\n", 12), 0);
    ck_assert_str_eq(l.b.data, "message|after|;message|end|;");
    gw_sse_parser_free(p);
    gw_buf_free(&l.b);
}
END_TEST

START_TEST(test_parser_bom)
{
    int n;
    /* A BOM split over feeds is still skipped. */
    const char *s1 = "\xEF\xBB\xBF"
                     "data: a\n\n";
    char *r1 = parse_in_chunks(s1, strlen(s1), 0, 1, &n);
    ck_assert_str_eq(r1, "message|a|;");
    free(r1);
    /* Only at the very start: a second one is part of a field name. */
    const char *s2 = "\xEF\xBB\xBF"
                     "data: a\n\n\xEF\xBB\xBF"
                     "data: b\n\n";
    char *r2 = parse_in_chunks(s2, strlen(s2), 0, 0, &n);
    ck_assert_str_eq(r2, "message|a|;");
    free(r2);
    /* Half a BOM is text, so this line's field is not "data". */
    const char *s3 = "\xEF\xBB"
                     "data: x\n\ndata: y\n\n";
    char *r3 = parse_in_chunks(s3, strlen(s3), 0, 1, &n);
    ck_assert_str_eq(r3, "message|y|;");
    free(r3);
    /* No BOM at all. */
    char *r4 = parse_in_chunks("data: z\n\n", 9, 0, 0, &n);
    ck_assert_str_eq(r4, "message|z|;");
    free(r4);
}
END_TEST

START_TEST(test_parser_fields)
{
    /* An id holding NUL is ignored; the previous id stays. */
    const char s1[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n";
    char *r1 = parse_in_chunks(s1, sizeof(s1) - 1, 0, 0, NULL);
    ck_assert_str_eq(r1, "message|a|1;message|b|1;");
    free(r1);
    /* The id survives events that do not set it, and an empty id clears
     * it; an id without an event still updates the buffer. */
    const char *s2 = "id: 9\n\ndata: a\n\nid:\ndata: b\n\n";
    char *r2 = parse_in_chunks(s2, strlen(s2), 0, 0, NULL);
    ck_assert_str_eq(r2, "message|a|9;message|b|;");
    free(r2);
    /* Data with colons; only one leading space is removed; a trailing
     * blank line without a preceding data line dispatches nothing. */
    const char *s3 = "data: a: b\ndata:   c\n\n\n\n";
    char *r3 = parse_in_chunks(s3, strlen(s3), 0, 0, NULL);
    ck_assert_str_eq(r3, "message|a: b\n  c|;");
    free(r3);
    /* Event names do not leak into the next event. */
    const char *s4 = "event: x\ndata: 1\n\ndata: 2\n\n";
    char *r4 = parse_in_chunks(s4, strlen(s4), 0, 0, NULL);
    ck_assert_str_eq(r4, "x|1|;message|2|;");
    free(r4);
}
END_TEST

START_TEST(test_parser_nul_event)
{
    /* Found by tests/fuzz/fuzz_sse.c: an event name holding NUL reached the
     * callback cut at the NUL, even as "". It is ignored, as an id holding
     * NUL is, and the event keeps the name it had. */
    const char s1[] = "event:\0x\ndata: a\n\n"
                      "event: up\ndata: b\nevent: x\0y\n\n";
    char *r1 = parse_in_chunks(s1, sizeof(s1) - 1, 0, 0, NULL);
    ck_assert_str_eq(r1, "message|a|;up|b|;");
    free(r1);
}
END_TEST

START_TEST(test_parser_fuzz)
{
    /* Hostile bytes: nothing may crash or grow without bound. */
    size_t len = 200000;
    char *junk = gw_xmalloc(len);
    unsigned x = 12345;
    static const char alphabet[] = "data:evntid\r\n \xEF\xBB\xBF:xyz";
    for (size_t i = 0; i < len; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (x >> 24) & 1 ? alphabet[(x >> 16) % (sizeof(alphabet) - 1)]
                                : (char)(x >> 16);
    }
    int n1, n2;
    char *a = parse_in_chunks(junk, len, 64, 0, &n1);
    char *b = parse_in_chunks(junk, len, 64, 7, &n2);
    ck_assert_int_eq(n1, n2);
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    free(junk);
    gw_sse_parser_free(NULL);
}
END_TEST

/* ---- SSE streams -------------------------------------------------------- */

struct sse_rec {
    struct harness t;
    struct gw_buf events; /* "event|data|id;" */
    int nevents;
    char states[64]; /* C, D, F per state callback */
    size_t nstates;
    int errors[16]; /* error of each DISCONNECTED/FAILED */
    long statuses[16];
    uint64_t when[16]; /* loop time of each DISCONNECTED */
    int ndisc;
    long retry_after[16];
    char *fail_body;
    char *ctype; /* Content-Type of the CONNECTED response */
    char *cache_control;
    uint64_t event_at; /* loop time of the last event */
    int active_on_fail;
    /* When to stop. */
    int stop_after_events;
    int stop_after_disconnects;
    bool stop_on_connected;
    bool stop_on_failed;
    bool free_on_event;
    void (*after_failed)(struct sse_rec *r);
};

static void rec_stop(struct sse_rec *r)
{
    gw_sse_close(r->t.sse[0]);
    r->t.sse[0] = NULL;
    t_finish(&r->t);
}

static void rec_event(void *arg, const struct gw_sse_event *ev)
{
    struct sse_rec *r = arg;
    ck_assert_msg(!r->t.finished, "event after close");
    r->nevents++;
    r->event_at = uv_now(&r->t.loop);
    gw_buf_printf(&r->events, "%s|%s|%s;", ev->event, ev->data, ev->id);
    if (r->free_on_event) {
        /* Shut the whole client down from inside an event. */
        gw_http_free(r->t.h);
        r->t.h = NULL;
        return;
    }
    if (r->stop_after_events && r->nevents == r->stop_after_events)
        rec_stop(r);
}

static void rec_state(void *arg, enum gw_sse_state st,
                      const struct gw_http_response *resp)
{
    struct sse_rec *r = arg;
    ck_assert_msg(!r->t.finished || st == GW_SSE_FAILED, "state after close");
    ck_assert_uint_lt(r->nstates, sizeof(r->states) - 1);
    r->states[r->nstates++] = st == GW_SSE_CONNECTED      ? 'C'
                              : st == GW_SSE_DISCONNECTED ? 'D'
                                                          : 'F';
    if (st == GW_SSE_CONNECTED) {
        ck_assert_int_eq(resp->error, 0);
        ck_assert_int_ge(resp->status, 200);
        ck_assert_int_lt(resp->status, 300);
        free(r->ctype);
        free(r->cache_control);
        r->ctype = dup0(resp->content_type);
        r->cache_control = dup0(gw_http_response_header(resp, "cache-control"));
        if (r->stop_on_connected)
            rec_stop(r);
        return;
    }
    if (r->ndisc < 16) {
        r->errors[r->ndisc] = resp->error;
        r->statuses[r->ndisc] = resp->status;
        r->when[r->ndisc] = uv_now(&r->t.loop);
        r->retry_after[r->ndisc] = resp->retry_after_s;
        r->ndisc++;
    }
    if (st == GW_SSE_FAILED) {
        free(r->fail_body);
        r->fail_body = gw_xstrndup(resp->body, resp->body_len);
        r->active_on_fail = r->t.h ? gw_http_active(r->t.h) : -1;
        if (r->after_failed)
            r->after_failed(r);
        else if (r->stop_on_failed)
            rec_stop(r);
        return;
    }
    if (r->stop_after_disconnects && r->ndisc == r->stop_after_disconnects)
        rec_stop(r);
}

static void rec_init(struct sse_rec *r)
{
    memset(r, 0, sizeof(*r));
    t_init(&r->t, 8000);
    gw_buf_init(&r->events, 1 << 20);
}

static void rec_open(struct sse_rec *r, const char *path, struct gw_sse_opts *o)
{
    struct gw_sse_opts def = {.backoff_min_ms = 20, .backoff_max_ms = 200};
    if (o == NULL)
        o = &def;
    char *u = path[0] == '/' ? url(path) : gw_xstrdup(path);
    o->http.url = u;
    int rc = gw_sse_open(r->t.h, o, rec_event, rec_state, r, &r->t.sse[0]);
    free(u);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(gw_http_active(r->t.h), 1);
}

static void rec_done(struct sse_rec *r)
{
    gw_buf_free(&r->events);
    free(r->fail_body);
    free(r->ctype);
    free(r->cache_control);
}

static const char basic_want[] = "update|line1\nline2|;"
                                 "message|crlf|;"
                                 "message|cr|;"
                                 "notification|{\"x\":1}|7;"
                                 "message|nospace|7;"
                                 "message|split|7;"
                                 "message|m1\nm2|7;"
                                 "message|end|7;";

START_TEST(test_sse_basic)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 8;
    rec_open(&r, "/sse/basic", NULL);
    t_run(&r.t);
    ck_assert_str_eq(r.events.data, basic_want);
    ck_assert_str_eq(r.states, "C");
    ck_assert_str_eq(r.ctype, "text/event-stream");
    ck_assert_str_eq(r.cache_control, "no-cache");
    rec_done(&r);
}
END_TEST

START_TEST(test_sse_other_content_types)
{
    static const char *const q[] = {"/sse/basic?ctype=none",
                                    "/sse/basic?ctype=application/json"};
    for (size_t i = 0; i < GW_ARRAY_LEN(q); i++) {
        struct sse_rec r;
        rec_init(&r);
        r.stop_after_events = 8;
        rec_open(&r, q[i], NULL);
        t_run(&r.t);
        ck_assert_str_eq(r.events.data, basic_want);
        ck_assert_str_eq(r.states, "C");
        rec_done(&r);
    }
}
END_TEST

START_TEST(test_sse_reconnect_last_event_id)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 3;
    rec_open(&r, "/sse/reconnect?k=lei", NULL);
    t_run(&r.t);
    ck_assert_str_eq(r.events.data, "message|conn 1 last=none|1;"
                                    "message|conn 2 last=1|2;"
                                    "message|conn 3 last=2|3;");
    ck_assert_str_eq(r.states, "CDCDC");
    /* A clean close by the server: status 200, no transport error. */
    ck_assert_int_eq(r.errors[0], 0);
    ck_assert_int_eq(r.statuses[0], 200);
    rec_done(&r);
}
END_TEST

START_TEST(test_sse_stall)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 2;
    struct gw_sse_opts o = {
        .stall_ms = 300, .backoff_min_ms = 20, .backoff_max_ms = 100};
    rec_open(&r, "/sse/stall?k=stall", &o);
    t_run(&r.t);
    ck_assert_str_eq(r.events.data, "message|conn 1 last=none|;"
                                    "message|conn 2 last=none|;");
    ck_assert_str_eq(r.states, "CDC");
    ck_assert_int_eq(r.errors[0], UV_ETIMEDOUT);
    ck_assert_int_eq(r.statuses[0], 0);
    rec_done(&r);
}
END_TEST

/* A line that never ends is not an open stream: it is dropped once far
 * longer than any event, and the stream reconnects. */
START_TEST(test_sse_endless_line)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 1;
    struct gw_sse_opts o = {.http = {.max_body = 1024},
                            .stall_ms = 5000,
                            .backoff_min_ms = 20,
                            .backoff_max_ms = 100};
    rec_open(&r, "/sse/endless?k=endless", &o);
    t_run(&r.t);
    ck_assert_str_eq(r.events.data, "message|ok conn 2|;");
    ck_assert_str_eq(r.states, "CDC");
    ck_assert_int_eq(r.errors[0], UV_E2BIG);
    rec_done(&r);
}
END_TEST

START_TEST(test_sse_heartbeats_keep_alive)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 1;
    struct gw_sse_opts o = {
        .stall_ms = 300, .backoff_min_ms = 20, .backoff_max_ms = 100};
    rec_open(&r, "/sse/heartbeat?k=hb", &o);
    t_run(&r.t);
    /* 800 ms of comments only, with a 300 ms stall timer: no reconnect. */
    ck_assert_str_eq(r.events.data, "message|done conn 1|;");
    ck_assert_str_eq(r.states, "C");
    rec_done(&r);
}
END_TEST

static struct resp g_hits;

static void check_hits(uv_timer_t *w)
{
    struct harness *t = w->data;
    memset(&g_hits, 0, sizeof(g_hits));
    get(t, &g_hits, "/hits?k=fail401&path=/sse/status", NULL);
}

static void after_401(struct sse_rec *r)
{
    /* Wait well past several backoff periods, then ask the server how
     * often it was asked. */
    uv_timer_start(&r->t.aux, check_hits, 300, 0);
}

START_TEST(test_sse_failed_no_reconnect)
{
    struct sse_rec r;
    rec_init(&r);
    r.after_failed = after_401;
    rec_open(&r, "/sse/status?code=401&k=fail401", NULL);
    t_run(&r.t);
    ck_assert_str_eq(r.states, "F");
    ck_assert_int_eq(r.statuses[0], 401);
    ck_assert_int_eq(r.errors[0], 0);
    ck_assert_str_eq(r.fail_body, "{\"error\":\"unauthorized\"}");
    ck_assert_int_eq(r.active_on_fail, 0);
    ck_assert_int_eq(g_hits.status, 200);
    ck_assert_str_eq(g_hits.body, "{\"count\": 1}");
    resp_free(&g_hits);
    rec_done(&r);

    static const int codes[] = {400, 403, 404, 410, 422};
    for (size_t i = 0; i < GW_ARRAY_LEN(codes); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sse/status?code=%d", codes[i]);
        rec_init(&r);
        r.stop_on_failed = true;
        rec_open(&r, path, NULL);
        t_run(&r.t);
        ck_assert_str_eq(r.states, "F");
        ck_assert_int_eq(r.statuses[0], codes[i]);
        rec_done(&r);
    }
}
END_TEST

START_TEST(test_sse_transient_statuses_reconnect)
{
    static const int codes[] = {408, 500, 503};
    for (size_t i = 0; i < GW_ARRAY_LEN(codes); i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sse/status?code=%d", codes[i]);
        struct sse_rec r;
        rec_init(&r);
        r.stop_after_disconnects = 2;
        rec_open(&r, path, NULL);
        t_run(&r.t);
        ck_assert_str_eq(r.states, "DD");
        ck_assert_int_eq(r.statuses[0], codes[i]);
        ck_assert_int_eq(r.statuses[1], codes[i]);
        rec_done(&r);
    }
}
END_TEST

START_TEST(test_sse_retry_after)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 1;
    rec_open(&r, "/sse/ratelimited?k=ra", NULL);
    t_run(&r.t);
    ck_assert_str_eq(r.states, "DC");
    ck_assert_int_eq(r.statuses[0], 429);
    ck_assert_int_eq(r.retry_after[0], 1);
    ck_assert_str_eq(r.events.data, "message|ok conn 2|;");
    /* Backoff alone would be 10-20 ms; Retry-After: 1 wins. */
    ck_assert_uint_ge(r.event_at - r.when[0], 1000);
    rec_done(&r);
}
END_TEST

START_TEST(test_sse_oversized_event)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_events = 1;
    struct gw_sse_opts o = {.http = {.max_body = 1024},
                            .backoff_min_ms = 20,
                            .backoff_max_ms = 100};
    rec_open(&r, "/sse/big?n=5000", &o);
    t_run(&r.t);
    ck_assert_str_eq(r.events.data, "message|small|;");
    ck_assert_str_eq(r.states, "C");
    rec_done(&r);
}
END_TEST

static void stop_quiet(uv_timer_t *w)
{
    t_finish(w->data);
}

static void close_in_connected(void *arg, enum gw_sse_state st,
                               const struct gw_http_response *resp)
{
    struct sse_rec *r = arg;
    rec_state(arg, st, resp);
    /* Closing from inside on_state: nothing may follow, though events
     * were already on the way; wait a while to be sure. */
    gw_sse_close(r->t.sse[0]);
    r->t.sse[0] = NULL;
    uv_timer_start(&r->t.aux, stop_quiet, 300, 0);
}

START_TEST(test_sse_close_inside_state_cb)
{
    struct sse_rec r;
    rec_init(&r);
    struct gw_sse_opts o = {.backoff_min_ms = 20, .backoff_max_ms = 100};
    char *u = url("/sse/basic");
    o.http.url = u;
    ck_assert_int_eq(
        gw_sse_open(r.t.h, &o, rec_event, close_in_connected, &r, &r.t.sse[0]),
        0);
    free(u);
    t_run(&r.t);
    ck_assert_str_eq(r.states, "C");
    ck_assert_int_eq(r.nevents, 0);
    rec_done(&r);
}
END_TEST

static void never_event(void *arg, const struct gw_sse_event *ev)
{
    (void)arg;
    (void)ev;
    ck_abort_msg("event after gw_sse_close");
}

static void never_state(void *arg, enum gw_sse_state st,
                        const struct gw_http_response *resp)
{
    (void)arg;
    (void)st;
    (void)resp;
    ck_abort_msg("state after gw_sse_close");
}

START_TEST(test_sse_close_at_once)
{
    /* Closed before the loop ever ran: no callback, nothing left open. */
    struct harness t;
    t_init(&t, 5000);
    char *u = url("/sse/basic");
    struct gw_sse_opts o = {.http = {.url = u}};
    struct gw_sse *s = NULL;
    ck_assert_int_eq(gw_sse_open(t.h, &o, never_event, never_state, NULL, &s),
                     0);
    free(u);
    ck_assert_int_eq(gw_http_active(t.h), 1);
    gw_sse_close(s);
    ck_assert_int_eq(gw_http_active(t.h), 0);
    uv_timer_start(&t.aux, stop_quiet, 200, 0);
    t_run(&t);
}
END_TEST

START_TEST(test_sse_backoff)
{
    struct sse_rec r;
    rec_init(&r);
    r.stop_after_disconnects = 5;
    struct gw_sse_opts o = {.backoff_min_ms = 40, .backoff_max_ms = 400};
    char *u = gw_xasprintf("http://127.0.0.1:%d/sse", closed_port());
    rec_open(&r, u, &o);
    free(u);
    t_run(&r.t);
    ck_assert_str_eq(r.states, "DDDDD");
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(r.errors[i], UV_ECONNREFUSED);
    /* Delay n is in [cap/2, cap] with cap = min(40 * 2^n, 400). */
    uint64_t cap = 40;
    for (int i = 1; i < 5; i++) {
        uint64_t gap = r.when[i] - r.when[i - 1];
        ck_assert_uint_ge(gap, cap / 2);
        ck_assert_uint_le(gap, cap + 250);
        cap = cap * 2 > 400 ? 400 : cap * 2;
    }
    rec_done(&r);
}
END_TEST

START_TEST(test_sse_http_free_detaches)
{
    struct sse_rec r;
    rec_init(&r);
    r.free_on_event = true;
    rec_open(&r, "/sse/basic", NULL);
    struct gw_sse *s = r.t.sse[0];
    r.t.sse[0] = NULL; /* closed by hand below, after the loop is gone */
    t_finish(&r.t);
    /* t_finish freed the client before anything arrived: FAILED with
     * UV_ECANCELED, no events. */
    uv_run(&r.t.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&r.t.loop), 0);
    ck_assert_str_eq(r.states, "F");
    ck_assert_int_eq(r.errors[0], UV_ECANCELED);
    ck_assert_int_eq(r.nevents, 0);
    gw_sse_close(s);
    rec_done(&r);

    /* Now from inside on_event. */
    rec_init(&r);
    r.free_on_event = true;
    rec_open(&r, "/sse/basic", NULL);
    s = r.t.sse[0];
    r.t.sse[0] = NULL;
    uv_timer_start(&r.t.aux, stop_quiet, 500, 0);
    t_run(&r.t);
    ck_assert_int_eq(r.nevents, 1);
    ck_assert_str_eq(r.states, "CF");
    ck_assert_int_eq(r.errors[0], UV_ECANCELED);
    gw_sse_close(s);
    rec_done(&r);
}
END_TEST

/* ---- test server -------------------------------------------------------- */

static struct testserver g_srv;

static int start_server(void)
{
    int rc = testserver_start(&g_srv);
    g_port = g_srv.port;
    g_tls_port = g_srv.tls_port;
    gw_strlcpy(g_cert, g_srv.cert, sizeof(g_cert));
    return rc;
}

static void stop_server(void)
{
    testserver_stop(&g_srv);
}

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("requests");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_get_json);
    tcase_add_test(tc, test_post_echo);
    tcase_add_test(tc, test_methods);
    tcase_add_test(tc, test_404_with_body);
    tcase_add_test(tc, test_retry_after_seconds);
    tcase_add_test(tc, test_retry_after_date);
    tcase_add_test(tc, test_ratelimit_headers);
    tcase_add_test(tc, test_link_header);
    tcase_add_test(tc, test_odd_header_values);
    tcase_add_test(tc, test_header_lookup);
    tcase_add_test(tc, test_body_too_large);
    tcase_add_test(tc, test_gzip);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_cancel_midflight);
    tcase_add_test(tc, test_cancel_from_callback);
    tcase_add_test(tc, test_free_with_requests_in_flight);
    tcase_add_test(tc, test_concurrent_50);
    tcase_add_test(tc, test_idle_connections_bounded);
    tcase_add_test(tc, test_requests_past_the_bound_wait_their_turn);
    tcase_add_test(tc, test_redirects);
    tcase_add_test(tc, test_invalid_args);
    tcase_add_test(tc, test_https_self_signed);
    suite_add_tcase(s, tc);

    TCase *tp = tcase_create("sse_parser");
    tcase_add_test(tp, test_parser_chunking);
    tcase_add_test(tp, test_parser_oversized);
    tcase_add_test(tp, test_parser_long_line);
    tcase_add_test(tp, test_parser_bom);
    tcase_add_test(tp, test_parser_fields);
    tcase_add_test(tp, test_parser_nul_event);
    tcase_add_test(tp, test_parser_fuzz);
    suite_add_tcase(s, tp);

    TCase *ts = tcase_create("sse_stream");
    tcase_set_timeout(ts, 30);
    tcase_add_test(ts, test_sse_basic);
    tcase_add_test(ts, test_sse_other_content_types);
    tcase_add_test(ts, test_sse_reconnect_last_event_id);
    tcase_add_test(ts, test_sse_stall);
    tcase_add_test(ts, test_sse_heartbeats_keep_alive);
    tcase_add_test(ts, test_sse_failed_no_reconnect);
    tcase_add_test(ts, test_sse_transient_statuses_reconnect);
    tcase_add_test(ts, test_sse_retry_after);
    tcase_add_test(ts, test_sse_oversized_event);
    tcase_add_test(ts, test_sse_endless_line);
    tcase_add_test(ts, test_sse_close_inside_state_cb);
    tcase_add_test(ts, test_sse_close_at_once);
    tcase_add_test(ts, test_sse_backoff);
    tcase_add_test(ts, test_sse_http_free_detaches);
    suite_add_tcase(s, ts);
    return s;
}

int main(void)
{
    /* The server is on loopback; a proxy from the environment must not
     * get in the way. */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
    signal(SIGPIPE, SIG_IGN);
    if (start_server() != 0) {
        fprintf(stderr, "test_http: test server did not start\n");
        stop_server();
        return 1;
    }
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    stop_server();
    return failed == 0 ? 0 : 1;
}
