/*
 * The wake queue between gw_http's transfers and its streams (gw_sse.c):
 * what curl's callbacks hand a stream waits there until the action is
 * over, and only woken streams are visited afterwards. These tests play
 * curl's part through gw_http_int.h, so the order of streams and a stream
 * closed while it waits in the queue are exact, with no server and no
 * timing. The streams point at a port nobody listens on; the loop runs only
 * at the end, after everything is closed.
 */
#include "gw_http_int.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_util.h"

#define NSTREAMS 3

struct wake_test {
    uv_loop_t loop;
    struct gw_http *h;
    struct gw_sse *s[NSTREAMS];
    struct gw_buf log; /* "a:data;" per event, "a:C;" (D, F) per state */
    /* Inside the first event of stream close_from: close these streams
     * (a bit mask), or shut the whole client down. */
    int close_from;
    unsigned close_mask;
    bool free_client;
};

static struct wake_test T;

static int stream_index(void *arg)
{
    return (int)((struct gw_sse **)arg - T.s);
}

static void on_event(void *arg, const struct gw_sse_event *ev)
{
    int i = stream_index(arg);
    gw_buf_printf(&T.log, "%c:%s;", 'a' + i, ev->data);
    if (i != T.close_from)
        return;
    T.close_from = -1;
    for (int k = 0; k < NSTREAMS; k++) {
        if (T.close_mask & (1u << k)) {
            gw_sse_close(T.s[k]);
            T.s[k] = NULL;
        }
    }
    if (T.free_client) {
        gw_http_free(T.h);
        T.h = NULL;
    }
}

static void on_state(void *arg, enum gw_sse_state st,
                     const struct gw_http_response *resp)
{
    (void)resp;
    gw_buf_printf(&T.log, "%c:%c;", 'a' + stream_index(arg),
                  st == GW_SSE_CONNECTED      ? 'C'
                  : st == GW_SSE_DISCONNECTED ? 'D'
                                              : 'F');
}

static void setup(void)
{
    memset(&T, 0, sizeof(T));
    T.close_from = -1;
    gw_buf_init(&T.log, 4096);
    ck_assert_int_eq(uv_loop_init(&T.loop), 0);
    ck_assert_int_eq(gw_http_new(&T.h, &T.loop), 0);
    for (int i = 0; i < NSTREAMS; i++) {
        struct gw_sse_opts o = {.http = {.url = "http://127.0.0.1:9/sse"},
                                .backoff_min_ms = 60000};
        ck_assert_int_eq(
            gw_sse_open(T.h, &o, on_event, on_state, &T.s[i], &T.s[i]), 0);
    }
}

static void teardown(void)
{
    for (int i = 0; i < NSTREAMS; i++)
        gw_sse_close(T.s[i]);
    gw_http_free(T.h);
    uv_run(&T.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&T.loop), 0);
    gw_buf_free(&T.log);
}

/* What on_body does with stream bytes. */
static void feed(int i, const char *text)
{
    ck_assert_int_eq(gw__sse_data(T.s[i], text, strlen(text)), 0);
}

/* One action: each stream named ("ca": c, then a) hears "data: c1" and so
 * on; then what follows every action. */
static void action(const char *names)
{
    for (const char *n = names; *n; n++) {
        char line[16];
        snprintf(line, sizeof(line), "data: %c1\n\n", *n);
        feed(*n - 'a', line);
    }
    gw__sse_flush_all(T.h);
}

static const char *logged(void)
{
    return T.log.data ? T.log.data : "";
}

START_TEST(test_wake_order)
{
    /* Nothing woken: nothing runs, the queue stays empty. */
    gw__sse_flush_all(T.h);
    ck_assert_str_eq(logged(), "");
    ck_assert_ptr_null(T.h->wake_head);

    /* Oldest first; a stream woken again keeps its place. */
    feed(1, "data: b1\n\n");
    feed(0, "data: a1\n\n");
    gw__sse_connected(T.s[2]);
    feed(1, "data: b2\n\n");
    feed(2, "data: c1\n\n");
    gw__sse_flush_all(T.h);
    ck_assert_str_eq(logged(), "b:b1;b:b2;a:a1;c:C;c:c1;");
    ck_assert_ptr_null(T.h->wake_head);
    ck_assert_ptr_eq(T.h->wake_end, &T.h->wake_head);

    /* And it works again once drained. */
    gw_buf_reset(&T.log);
    action("c");
    ck_assert_str_eq(logged(), "c:c1;");
}
END_TEST

START_TEST(test_wake_close_waiting)
{
    /* a's event closes c (the tail) and b (the middle) while both wait. */
    T.close_from = 0;
    T.close_mask = 1u << 1 | 1u << 2;
    action("abc");
    ck_assert_str_eq(logged(), "a:a1;");
    ck_assert_ptr_null(T.h->wake_head);

    /* The queue's end moved off the closed streams: a is heard again. */
    action("a");
    ck_assert_str_eq(logged(), "a:a1;a:a1;");
}
END_TEST

START_TEST(test_wake_close_head_of_rest)
{
    /* c's event closes a, which waits right behind it. */
    T.close_from = 2;
    T.close_mask = 1u << 0;
    action("cab");
    ck_assert_str_eq(logged(), "c:c1;b:b1;");
}
END_TEST

START_TEST(test_wake_client_freed)
{
    /* The client shut down from inside an event: the streams still waiting
     * are detached (FAILED) and never flushed. */
    T.close_from = 0;
    T.free_client = true;
    struct gw_http *h = T.h;
    action("ab");
    ck_assert_ptr_null(T.h);
    /* h is freed only when the loop runs, so it may still be looked at. */
    ck_assert_ptr_null(h->wake_head);
    ck_assert_str_eq(logged(), "a:a1;c:F;b:F;a:F;");
}
END_TEST

static Suite *wake_suite(void)
{
    Suite *s = suite_create("sse_wake");
    TCase *tc = tcase_create("wake");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_wake_order);
    tcase_add_test(tc, test_wake_close_waiting);
    tcase_add_test(tc, test_wake_close_head_of_rest);
    tcase_add_test(tc, test_wake_client_freed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(wake_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
