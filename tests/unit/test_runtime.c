/*
 * The adapter runtime (gateway/runtime) with a probe adapter against
 * tests/unit/http_test_server.py: rate-limit holds per family, requests
 * cancelled on stop, an adapter stopped inside its own callback, action
 * results deferred out of act(), the network coming back, the budget hook,
 * streams closed from their own callbacks, and what status says.
 */
#include "gw_runtime.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_http.h"
#include "testserver.h"

static struct testserver srv;

/* ---- the probe adapter ----------------------------------------------------
 */

struct probe {
    int done;           /* request callbacks that ran */
    long status[16];    /* their statuses, in order */
    uint64_t at_ms[16]; /* loop time of each */
    char family[16][16];
    int events;
    bool stop_in_cb; /* stop the account inside the next callback */
    bool touched_after_stop;
    int budget_left; /* < 0: no budget */
};

/* What the probe's own stop() leaves behind, for the test to read. */
struct probe_log {
    int stops;
    int frees;
    bool stop_after_cb;
    bool in_cb;
};

static struct probe_log plog;
static uv_loop_t loop;
static struct gw_http *http;
static struct gw_adapter ad;

/* What the runtime tells the core. */
static char hook_log[512];
static int recovered;

static void logf_hook(const char *s)
{
    size_t n = strlen(hook_log);
    snprintf(hook_log + n, sizeof(hook_log) - n, "%s;", s);
}

static void hk_state(struct gw_adapter *a, enum gw_rt_state st)
{
    (void)a;
    logf_hook(st == GW_RT_READY ? "ready" : "not-ready");
}

static void hk_done(struct gw_adapter *a, uint64_t token,
                    const struct gw_action_result *r)
{
    (void)a;
    char b[64];
    snprintf(b, sizeof(b), "done %llu %s", (unsigned long long)token,
             r->message ? r->message : "");
    logf_hook(b);
}

static void hk_recovered(struct gw_adapter *a)
{
    (void)a;
    recovered++;
}

static const struct gw_rt_hooks hooks = {hk_state, hk_done, hk_recovered};

static int probe_start(struct gw_adapter *a)
{
    struct probe *p = gw_xcalloc(1, sizeof(*p));
    p->budget_left = -1;
    a->priv = p;
    return 0;
}

static void probe_stop(struct gw_adapter *a)
{
    plog.stops++;
    plog.stop_after_cb = !plog.in_cb;
    free(a->priv);
}

static int probe_act(struct gw_adapter *a, const struct gw_action *act)
{
    struct gw_action_result r = {.status = GW_ACT_FAILED, .message = "sync"};
    logf_hook("act-begin");
    gw_ad_action_done(a, act->token, &r);
    logf_hook("act-end");
    return 0;
}

static int probe_budget(struct gw_adapter *a, const char *family, char *why,
                        size_t whylen)
{
    struct probe *p = a->priv;
    if (p->budget_left < 0)
        return 0;
    if (p->budget_left == 0) {
        snprintf(why, whylen, "budget for %s spent for today", family);
        return -1;
    }
    p->budget_left--;
    return 0;
}

static const struct gw_adapter_ops probe_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "probe",
    .start = probe_start,
    .stop = probe_stop,
    .act = probe_act,
    .budget = probe_budget,
};

static void on_resp(struct gw_adapter *a, void *arg,
                    const struct gw_http_response *r)
{
    struct probe *p = a->priv;
    plog.in_cb = true;
    if (p->done < 16) {
        p->status[p->done] = r->status;
        p->at_ms[p->done] = uv_now(&loop);
        gw_strlcpy(p->family[p->done], arg ? (const char *)arg : "",
                   sizeof(p->family[0]));
    }
    p->done++;
    if (p->stop_in_cb) {
        p->stop_in_cb = false;
        gw_rt_stop(a);
        /* Still ours until this callback returns. */
        p->touched_after_stop = true;
        /* And nothing new starts any more. */
        struct gw_ad_request rq = {.http.url = "http://127.0.0.1:1/"};
        ck_assert_int_eq(gw_ad_request(a, &rq, on_resp, NULL), UV_ECANCELED);
    }
    plog.in_cb = false;
}

static void count_free(void *arg)
{
    (void)arg;
    plog.frees++;
    if (ad.priv == NULL)
        plog.stops += 100; /* free_arg after stop() would be a bug */
}

static int get(const char *family, const char *path, gw_ad_free_fn free_arg)
{
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", srv.port, path);
    struct gw_ad_request rq;
    memset(&rq, 0, sizeof(rq));
    rq.http.url = url;
    rq.family = family;
    rq.free_arg = free_arg;
    return gw_ad_request(&ad, &rq, on_resp, (void *)family);
}

static struct probe *P(void)
{
    return ad.priv;
}

/* Run the loop until n callbacks ran (or ms passed). */
static bool run_until_done(int n, int ms)
{
    uint64_t end = uv_now(&loop) + (uint64_t)ms;
    while (P() != NULL && P()->done < n && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    return P() != NULL && P()->done >= n;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static uv_timer_t tick;

static void setup(void)
{
    memset(&plog, 0, sizeof(plog));
    hook_log[0] = '\0';
    recovered = 0;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    ck_assert_int_eq(gw_http_new(&http, &loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 20, 20); /* run_until_done never sleeps
                                               for long */
    memset(&ad, 0, sizeof(ad));
    ad.ops = &probe_ops;
    ad.name = "probe";
    ck_assert_int_eq(gw_rt_start(&ad, &loop, http, &hooks), 0);
    ck_assert_ptr_nonnull(ad.rt);
}

static void teardown(void)
{
    gw_rt_stop(&ad);
    gw_http_free(http);
    uv_close((uv_handle_t *)&tick, NULL);
    while (uv_run(&loop, UV_RUN_NOWAIT) != 0)
        ;
    uv_loop_close(&loop);
}

/* ---- tests ----------------------------------------------------------------
 */

/* A 429 on writing holds writing for its Retry-After; reading goes on. */
START_TEST(test_holds_per_family)
{
    ck_assert_int_eq(get("write", "/status?code=429&retry=2", NULL), 0);
    ck_assert(run_until_done(1, 5000));
    ck_assert_int_eq(P()->status[0], 429);
    uint64_t t429 = P()->at_ms[0];
    ck_assert_int_eq(get("write", "/json", NULL), 0);
    ck_assert_int_eq(get("read", "/json", NULL), 0);
    ck_assert(run_until_done(2, 5000));
    ck_assert_str_eq(P()->family[1], "read");
    ck_assert_uint_lt(P()->at_ms[1] - t429, 1000);
    struct gw_rt_status st;
    gw_rt_status(&ad, &st);
    ck_assert_msg(strstr(st.holds, "write: rate limited") != NULL, "%s",
                  st.holds);
    ck_assert(strstr(st.holds, "read") == NULL);
    ck_assert(run_until_done(3, 5000));
    ck_assert_str_eq(P()->family[2], "write");
    ck_assert_int_eq(P()->status[2], 200);
    ck_assert_uint_ge(P()->at_ms[2] - t429, 1900);
    gw_rt_status(&ad, &st);
    ck_assert_str_eq(st.holds, "");
    ck_assert_int_eq(st.requests_today, 3);
}
END_TEST

/* A 429 that names no time holds its family for a guessed minute, which
 * the adapter's own hold replaces, even with a shorter one; a hold the
 * network named is never shortened. */
START_TEST(test_adapter_hold_replaces_a_guess)
{
    ck_assert_int_eq(get("write", "/status?code=429", NULL), 0);
    ck_assert(run_until_done(1, 5000));
    struct gw_rt_status st;
    gw_rt_status(&ad, &st);
    ck_assert_msg(strstr(st.holds, "write: rate limited, 60 s more") != NULL,
                  "%s", st.holds);
    gw_ad_hold(&ad, "write", gw_now_ms() + 1000, "probing");
    gw_rt_status(&ad, &st);
    ck_assert_msg(strstr(st.holds, "write: probing, 1 s more") != NULL, "%s",
                  st.holds);
    uint64_t t0 = uv_now(&loop);
    ck_assert_int_eq(get("write", "/json", NULL), 0);
    ck_assert(run_until_done(2, 5000));
    ck_assert_int_eq(P()->status[1], 200);
    ck_assert_uint_ge(P()->at_ms[1] - t0, 900);
    ck_assert_uint_lt(P()->at_ms[1] - t0, 3000);
    /* The adapter's hold is not a guess: a later one only extends it. */
    gw_ad_hold(&ad, "write", gw_now_ms() + 20000, "probing again");
    gw_ad_hold(&ad, "write", gw_now_ms() + 500, "shorter");
    gw_rt_status(&ad, &st);
    ck_assert_msg(strstr(st.holds, "write: probing again") != NULL, "%s",
                  st.holds);
    /* A Retry-After is the network's word: not shortened either. */
    ck_assert_int_eq(get("read", "/status?code=429&retry=30", NULL), 0);
    ck_assert(run_until_done(3, 5000));
    gw_ad_hold(&ad, "read", gw_now_ms() + 500, "shorter");
    gw_rt_status(&ad, &st);
    ck_assert_msg(strstr(st.holds, "read: rate limited") != NULL, "%s",
                  st.holds);
}
END_TEST

static int timer_runs;

static void on_timer(struct gw_adapter *a, void *arg)
{
    (void)a;
    struct gw_ad_timer **slot = arg;
    *slot = NULL; /* the timer is gone once it has run */
    timer_runs++;
}

/* A timer in a slot: set replaces the one there, clear stops it. */
START_TEST(test_timer_slots)
{
    static struct gw_ad_timer *slot;
    timer_runs = 0;
    slot = NULL;
    gw_ad_timer_set(&ad, &slot, 50, on_timer, &slot);
    ck_assert_ptr_nonnull(slot);
    struct gw_ad_timer *first = slot;
    gw_ad_timer_set(&ad, &slot, 20, on_timer, &slot);
    ck_assert_ptr_ne(slot, first);
    uint64_t end = uv_now(&loop) + 500;
    while (timer_runs == 0 && uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    /* Only the second ran: setting stopped the first. */
    ck_assert_int_eq(timer_runs, 1);
    ck_assert_ptr_null(slot);
    gw_ad_timer_set(&ad, &slot, 20, on_timer, &slot);
    gw_ad_timer_clear(&slot);
    ck_assert_ptr_null(slot);
    gw_ad_timer_clear(&slot); /* twice is fine */
    end = uv_now(&loop) + 200;
    while (uv_now(&loop) < end)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(timer_runs, 1);
}
END_TEST

/* A stop cancels what is in flight or waiting: no callback, the argument
 * freed, and the adapter's stop() runs once. */
START_TEST(test_stop_cancels)
{
    ck_assert_int_eq(get("read", "/hang", count_free), 0);
    ck_assert_int_eq(get("write", "/status?code=429&retry=30", NULL), 0);
    ck_assert(run_until_done(1, 5000));
    ck_assert_int_eq(get("write", "/json", count_free), 0); /* held */
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(plog.frees, 0);
    gw_rt_stop(&ad);
    ck_assert_int_eq(plog.frees, 2);
    ck_assert_int_eq(plog.stops, 1);
    ck_assert_int_eq(P() == NULL ? 1 : P()->done, 1);
    ck_assert_ptr_null(ad.priv);
    ck_assert_ptr_null(ad.rt);
    uv_run(&loop, UV_RUN_NOWAIT);
}
END_TEST

/* An adapter stopped inside its own callback keeps its priv until the
 * callback returns. */
START_TEST(test_stop_inside_callback)
{
    P()->stop_in_cb = true;
    ck_assert_int_eq(get("read", "/json", NULL), 0);
    uint64_t end = uv_now(&loop) + 5000;
    while (ad.rt != NULL && uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    ck_assert_ptr_null(ad.rt);
    ck_assert_int_eq(plog.stops, 1);
    ck_assert(plog.stop_after_cb);
}
END_TEST

/* A result given inside act() reaches the core after act() returned. */
START_TEST(test_done_inside_act_is_deferred)
{
    gw_ad_ready(&ad, "1", "me");
    struct gw_action a = {.token = 7, .kind = GW_ACT_POST, .text = "x"};
    ck_assert_int_eq(gw_rt_act(&ad, &a), 0);
    ck_assert_str_eq(hook_log, "ready;act-begin;act-end;");
    for (int i = 0; i < 5; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_str_eq(hook_log, "ready;act-begin;act-end;done 7 sync;");
}
END_TEST

/* Failures, then a success: the core hears that the network is back. */
START_TEST(test_recovered)
{
    ck_assert_int_eq(get("read", "/status?code=503", NULL), 0);
    ck_assert(run_until_done(1, 5000));
    ck_assert_int_eq(recovered, 0);
    ck_assert_int_eq(get("read", "/json", NULL), 0);
    ck_assert(run_until_done(2, 5000));
    ck_assert_int_eq(recovered, 1);
    ck_assert_int_eq(get("read", "/json", NULL), 0);
    ck_assert(run_until_done(3, 5000));
    ck_assert_int_eq(recovered, 1);
}
END_TEST

START_TEST(test_budget)
{
    P()->budget_left = 1;
    ck_assert_int_eq(get("read", "/json", NULL), 0);
    ck_assert_int_eq(get("read", "/json", NULL), UV_ENOSPC);
    struct gw_rt_status st;
    gw_rt_status(&ad, &st);
    ck_assert_str_eq(st.detail, "budget for read spent for today");
    ck_assert(run_until_done(1, 5000));
}
END_TEST

static void ev_close(struct gw_adapter *a, void *arg,
                     const struct gw_sse_event *ev)
{
    (void)ev;
    struct gw_ad_stream **s = arg;
    P()->events++;
    gw_ad_stream_close(*s);
    *s = NULL;
    (void)a;
}

/* A stream closed inside its own event callback: no event after, no
 * crash (ASan watches), and a stop afterwards has nothing left to close. */
START_TEST(test_stream_closed_in_callback)
{
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/sse/basic", srv.port);
    struct gw_sse_opts o;
    memset(&o, 0, sizeof(o));
    o.http.url = url;
    static struct gw_ad_stream *s;
    ck_assert_int_eq(
        gw_ad_stream_open(&ad, "stream", &o, ev_close, NULL, &s, &s), 0);
    uint64_t end = uv_now(&loop) + 3000;
    while (uv_now(&loop) < end) {
        uv_run(&loop, UV_RUN_ONCE);
        uv_update_time(&loop);
    }
    ck_assert_int_eq(P()->events, 1);
    ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_ready_and_mode)
{
    struct gw_rt_status st;
    gw_rt_status(&ad, &st);
    ck_assert_str_eq(st.mode, "connecting");
    ck_assert_int_eq(gw_rt_state(&ad), GW_RT_STARTING);
    gw_ad_not_ready(&ad, true, "the token was refused");
    gw_rt_status(&ad, &st);
    ck_assert_str_eq(st.mode, "signed out");
    ck_assert_str_eq(st.detail, "the token was refused");
    ck_assert_str_eq(gw_rt_me(&ad), "");
    gw_ad_ready(&ad, "9", "me@x.org");
    gw_ad_mode(&ad, "streaming");
    gw_rt_status(&ad, &st);
    ck_assert_str_eq(st.mode, "streaming");
    ck_assert_str_eq(gw_rt_me(&ad), "me@x.org");
    ck_assert_str_eq(hook_log, "not-ready;ready;");
}
END_TEST

int main(void)
{
    if (testserver_start(&srv) != 0) {
        fprintf(stderr, "test_runtime: the test server did not start\n");
        testserver_stop(&srv);
        return 1;
    }
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_holds_per_family);
    tcase_add_test(tc, test_adapter_hold_replaces_a_guess);
    tcase_add_test(tc, test_timer_slots);
    tcase_add_test(tc, test_stop_cancels);
    tcase_add_test(tc, test_stop_inside_callback);
    tcase_add_test(tc, test_done_inside_act_is_deferred);
    tcase_add_test(tc, test_recovered);
    tcase_add_test(tc, test_budget);
    tcase_add_test(tc, test_stream_closed_in_callback);
    tcase_add_test(tc, test_ready_and_mode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    testserver_stop(&srv);
    return failed ? 1 : 0;
}
