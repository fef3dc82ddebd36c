/*
 * The [webhook] listener (gateway/webhook) on a real loop, with libcurl
 * (gw_http) as the network's side: a request is answered only when its
 * handler answers (after a commit, say), paths nobody registered get 404,
 * requests nobody takes 403, bodies past the bound 413, a request still
 * waiting when its account stops 503; several accounts on one path; the
 * HMAC-SHA256 helpers against RFC 4231.
 */
#include "gw_webhook.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "gw_gateway.h"
#include "gw_http.h"
#include "gw_limits.h"
#include "gw_runtime.h"
#include "gw_util.h"

static uv_loop_t loop;
static struct gw_http *http;
static struct gw_webhook *wh;
static struct gateway fake_gw;
static uv_timer_t tick;

/* ---- a probe account --------------------------------------------------- */

static int probe_start(struct gw_adapter *a)
{
    a->priv = a;
    return 0;
}

static void probe_stop(struct gw_adapter *a)
{
    a->priv = NULL;
}

static const struct gw_adapter_ops probe_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "probe",
    .start = probe_start,
    .stop = probe_stop,
};

static void hk_state(struct gw_adapter *a, enum gw_rt_state st)
{
    (void)a;
    (void)st;
}

static void hk_done(struct gw_adapter *a, uint64_t t,
                    const struct gw_action_result *r)
{
    (void)a;
    (void)t;
    (void)r;
}

static const struct gw_rt_hooks hooks = {hk_state, hk_done, NULL};

static struct gw_adapter ad1, ad2;

/* What a handler does with what it is offered. */
struct behaviour {
    int take;    /* 0: not mine */
    int status;  /* its answer */
    bool later;  /* answer from a timer (a commit), not at once */
    int offered; /* requests it saw */
    struct gw_webhook_req *held;
    char body[64];   /* the body it saw */
    char header[64]; /* X-Test */
    char query[64];  /* ?q= */
};

static struct behaviour b1, b2;
static uv_timer_t later_timer;
static uint64_t answered_at;

static void on_later(uv_timer_t *t)
{
    struct behaviour *b = t->data;
    answered_at = uv_now(&loop);
    gw_ad_webhook_respond(b->held, b->status, NULL, "late", 4);
    b->held = NULL;
}

static int handler(struct gw_adapter *a, void *arg, struct gw_webhook_req *rq)
{
    (void)a;
    struct behaviour *b = arg;
    b->offered++;
    size_t len = 0;
    const char *body = gw_webhook_body(rq, &len);
    gw_strlcpy(b->body, body, sizeof(b->body));
    const char *h = gw_webhook_header(rq, "x-test");
    gw_strlcpy(b->header, h != NULL ? h : "", sizeof(b->header));
    const char *q = gw_webhook_query(rq, "q");
    gw_strlcpy(b->query, q != NULL ? q : "", sizeof(b->query));
    if (!b->take)
        return 0;
    if (b->later) {
        b->held = rq;
        later_timer.data = b;
        uv_timer_start(&later_timer, on_later, 300, 0);
        return 1;
    }
    gw_ad_webhook_respond(rq, b->status, NULL, "now", 3);
    return 1;
}

/* ---- the network's side ------------------------------------------------ */

struct reply {
    bool done;
    long status;
    char body[64];
    uint64_t at;
};

static void on_reply(void *arg, const struct gw_http_response *r)
{
    struct reply *rp = arg;
    rp->done = true;
    rp->status = r->status;
    rp->at = uv_now(&loop);
    gw_strlcpy(rp->body, r->body != NULL ? r->body : "", sizeof(rp->body));
}

static const char *ca_file;       /* trust this (TLS test) */
static struct gw_webhook *target; /* where send_req goes; wh by default */

static void send_req(const char *method, const char *path, const char *body,
                     size_t len, struct reply *rp)
{
    char url[256];
    snprintf(url, sizeof(url), "%s://127.0.0.1:%d%s",
             ca_file != NULL ? "https" : "http",
             gw_webhook_port(target != NULL ? target : wh), path);
    /* A client that waits for the go-ahead (Expect: 100-continue) sees
     * the 413; one that sends blindly may see the connection closed
     * mid-upload instead. Either way no handler sees the body. */
    const char *hdrs[] = {"X-Test: yes",
                          len > 65536 ? "Expect: 100-continue" : NULL, NULL};
    struct gw_http_opts o;
    memset(&o, 0, sizeof(o));
    o.method = method;
    o.url = url;
    o.headers = hdrs;
    o.body = body;
    o.body_len = len;
    o.content_type = body != NULL ? "application/json" : NULL;
    o.ca_file = ca_file;
    memset(rp, 0, sizeof(*rp));
    ck_assert_int_eq(gw_http_request(http, &o, on_reply, rp, NULL), 0);
}

static void run_until(struct reply *rp, int ms)
{
    uint64_t end = uv_now(&loop) + (uint64_t)ms;
    while (!rp->done && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    ck_assert_msg(rp->done, "no answer");
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void start_probe(struct gw_adapter *a, const char *name)
{
    memset(a, 0, sizeof(*a));
    a->ops = &probe_ops;
    a->name = (char *)name;
    a->gw = &fake_gw;
    ck_assert_int_eq(gw_rt_start(a, &loop, http, &hooks), 0);
}

static void setup(void)
{
    char err[256];
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(gw_http_new(&http, &loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 20, 20);
    uv_timer_init(&loop, &later_timer);
    struct gw_webhook_conf c = {.host = "127.0.0.1",
                                .port = 0,
                                .public_url = "https://x.example/hooks/"};
    ck_assert_int_eq(gw_webhook_new(&loop, &c, &wh, err, sizeof(err)), 0);
    memset(&fake_gw, 0, sizeof(fake_gw));
    fake_gw.webhook = wh;
    memset(&b1, 0, sizeof(b1));
    memset(&b2, 0, sizeof(b2));
    start_probe(&ad1, "one");
    start_probe(&ad2, "two");
}

static void teardown(void)
{
    gw_rt_stop(&ad1);
    gw_rt_stop(&ad2);
    gw_webhook_stop(wh);
    gw_http_free(http);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_close((uv_handle_t *)&later_timer, NULL);
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0)
        ;
    gw_webhook_free(wh);
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0)
        ;
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

/* ---- tests ------------------------------------------------------------- */

/* The answer waits for the handler (the commit); the body arrives exact. */
START_TEST(test_answer_after_commit)
{
    b1.take = 1;
    b1.status = 200;
    b1.later = true;
    ck_assert_int_eq(gw_ad_webhook(&ad1, "/meta", handler, &b1), 0);
    struct reply r;
    const char body[] = "{\"object\":\"page\"}";
    send_req("POST", "/hooks/meta?q=a%20b+c", body, sizeof(body) - 1, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "late");
    ck_assert_uint_ge(r.at, answered_at);
    ck_assert_str_eq(b1.body, body);
    ck_assert_str_eq(b1.header, "yes");
    ck_assert_str_eq(b1.query, "a b c");
    /* Without the public_url's path too (a proxy that strips it). */
    b1.later = false;
    send_req("GET", "/meta", NULL, 0, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "now");
    char *url = gw_ad_webhook_url(&ad1, "/meta");
    ck_assert_str_eq(url, "https://x.example/hooks/meta");
    free(url);
}
END_TEST

START_TEST(test_refusals)
{
    b1.take = 0;
    ck_assert_int_eq(gw_ad_webhook(&ad1, "/meta", handler, &b1), 0);
    ck_assert_int_eq(gw_ad_webhook(&ad1, "bad path", handler, &b1), UV_EINVAL);
    struct reply r;
    send_req("POST", "/meta", "{}", 2, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 403);
    send_req("POST", "/meta", "{}", 2, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 403);
    ck_assert_int_eq(b1.offered, 2);
    send_req("POST", "/elsewhere", "{}", 2, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 404);
    /* One byte past the bound: 413, and no handler sees it. */
    size_t n = GW_WEBHOOK_BODY_MAX + 1;
    char *big = gw_xmalloc(n);
    memset(big, 'x', n);
    send_req("POST", "/meta", big, n, &r);
    free(big);
    run_until(&r, 10000);
    ck_assert_int_eq(r.status, 413);
    ck_assert_int_eq(b1.offered, 2);
    struct gw_webhook_stats st;
    gw_webhook_stats(wh, &st);
    ck_assert_int_eq(st.refused, 2);
    ck_assert_int_eq(st.pending, 0);
}
END_TEST

/* An account that stops with a request in hand: 503, so it comes again. */
START_TEST(test_stop_answers_503)
{
    b1.take = 1;
    b1.status = 200;
    b1.later = true;
    ck_assert_int_eq(gw_ad_webhook(&ad1, "/meta", handler, &b1), 0);
    struct reply r;
    send_req("POST", "/meta", "{}", 2, &r);
    uint64_t end = uv_now(&loop) + 5000;
    while (b1.held == NULL && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_ptr_nonnull(b1.held);
    uv_timer_stop(&later_timer);
    gw_rt_stop(&ad1);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 503);
    /* Its path is gone with it. */
    send_req("POST", "/meta", "{}", 2, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 404);
}
END_TEST

/* Two accounts on one path: every taker answers; a failure wins. */
START_TEST(test_shared_path)
{
    b1.take = 1;
    b1.status = 200;
    b2.take = 1;
    b2.status = 503;
    b2.later = true;
    ck_assert_int_eq(gw_ad_webhook(&ad1, "/meta", handler, &b1), 0);
    ck_assert_int_eq(gw_ad_webhook(&ad2, "/meta", handler, &b2), 0);
    struct reply r;
    send_req("POST", "/meta", "{}", 2, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 503);
    ck_assert_int_eq(b1.offered, 1);
    ck_assert_int_eq(b2.offered, 1);
    /* One says "not mine": the other's answer stands. */
    b2.take = 0;
    send_req("POST", "/meta", "{}", 2, &r);
    run_until(&r, 5000);
    ck_assert_int_eq(r.status, 200);
}
END_TEST

/* tls_cert/tls_key: HTTPS on the listener itself; a bad pair is refused
 * at start with the file names. */
START_TEST(test_tls)
{
    char dir[] = "/tmp/parley-webhook-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cmd[1024], crt[256], key[256], err[512];
    snprintf(crt, sizeof(crt), "%s/w.crt", dir);
    snprintf(key, sizeof(key), "%s/w.key", dir);
    snprintf(cmd, sizeof(cmd),
             "openssl req -x509 -newkey ec -pkeyopt "
             "ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s -days 2 "
             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 "
             ">/dev/null 2>&1",
             key, crt);
    ck_assert_int_eq(system(cmd), 0);
    struct gw_webhook *tls = NULL;
    struct gw_webhook_conf c = {
        .host = "127.0.0.1", .port = 0, .tls_cert = crt, .tls_key = crt};
    ck_assert_int_lt(gw_webhook_new(&loop, &c, &tls, err, sizeof(err)), 0);
    ck_assert_ptr_null(tls);
    ck_assert_ptr_nonnull(strstr(err, "tls_cert/tls_key"));
    c.tls_key = key;
    ck_assert_int_eq(gw_webhook_new(&loop, &c, &tls, err, sizeof(err)), 0);
    b1.take = 1;
    b1.status = 200;
    ck_assert_int_eq(gw_webhook_register(tls, &ad1, "/meta", handler, &b1), 0);
    struct reply r;
    target = tls;
    ca_file = crt;
    send_req("POST", "/meta", "{}", 2, &r);
    run_until(&r, 5000);
    target = NULL;
    ca_file = NULL;
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "now");
    gw_webhook_forget(tls, &ad1);
    gw_webhook_stop(tls);
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0 && gw_webhook_port(tls) > 0)
        ;
    gw_webhook_free(tls);
    unlink(crt);
    unlink(key);
    rmdir(dir);
}
END_TEST

/* A port in use: refused with the address, and nothing leaks or is used
 * after it is freed (the sanitizer build checks). */
START_TEST(test_port_in_use)
{
    char err[256];
    struct gw_webhook *again = NULL;
    struct gw_webhook_conf c = {.host = "127.0.0.1",
                                .port = gw_webhook_port(wh)};
    ck_assert_int_lt(gw_webhook_new(&loop, &c, &again, err, sizeof(err)), 0);
    ck_assert_ptr_null(again);
    ck_assert_ptr_nonnull(strstr(err, "[webhook] listen 127.0.0.1:"));
    c.host = "not-an-address";
    ck_assert_int_lt(gw_webhook_new(&loop, &c, &again, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "not an address"));
    /* What the failed starts left open closes with the loop. */
    for (int i = 0; i < 10; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
}
END_TEST

/* RFC 4231, test case 2. */
START_TEST(test_hmac)
{
    const char *data = "what do ya want for nothing?";
    const char *want = "5bdcc146bf60754e6a042426089575c7"
                       "5a003f089d2739839dec58b964ec3843";
    char out[65];
    gw_hmac_sha256_hex("Jefe", 4, data, strlen(data), out);
    ck_assert_str_eq(out, want);
    ck_assert(gw_hmac_sha256_ok("Jefe", data, strlen(data), want));
    ck_assert(gw_hmac_sha256_ok("Jefe", data, strlen(data),
                                "5BDCC146BF60754E6A042426089575C7"
                                "5A003F089D2739839DEC58B964EC3843"));
    ck_assert(!gw_hmac_sha256_ok("jefe", data, strlen(data), want));
    ck_assert(!gw_hmac_sha256_ok("Jefe", data, strlen(data) - 1, want));
    ck_assert(!gw_hmac_sha256_ok("Jefe", data, strlen(data), "5bdc"));
    ck_assert(!gw_hmac_sha256_ok("Jefe", data, strlen(data), NULL));
    ck_assert(!gw_hmac_sha256_ok("Jefe", data, strlen(data), ""));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("webhook");
    TCase *t = tcase_create("listener");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 30);
    tcase_add_test(t, test_answer_after_commit);
    tcase_add_test(t, test_refusals);
    tcase_add_test(t, test_stop_answers_503);
    tcase_add_test(t, test_shared_path);
    tcase_add_test(t, test_tls);
    tcase_add_test(t, test_port_in_use);
    suite_add_tcase(s, t);
    TCase *h = tcase_create("hmac");
    tcase_add_test(h, test_hmac);
    suite_add_tcase(s, h);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
