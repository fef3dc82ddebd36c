/*
 * The relay's pure parts (gw_relay.h): the token bucket that paces the
 * bot, the line budget that keeps every relayed line within 512 bytes as
 * the server sends it on, and how the bot words a line.
 */
#include "gw_relay.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_frontend.h"
#include "gw_text.h"

START_TEST(test_bucket)
{
    struct gw_relay_bucket b;
    /* 5 lines at once, then 5 per 10 s: one every 2 s. */
    gw_relay_bucket_init(&b, 5, 10, 1000);
    for (int i = 0; i < 5; i++)
        ck_assert(gw_relay_bucket_take(&b, 1000));
    ck_assert(!gw_relay_bucket_take(&b, 1000));
    ck_assert_int_eq(gw_relay_bucket_wait(&b, 1000), 2001);
    ck_assert(!gw_relay_bucket_take(&b, 2999));
    ck_assert(gw_relay_bucket_take(&b, 3000));
    /* A long pause refills to the burst, never beyond. */
    int n = 0;
    while (gw_relay_bucket_take(&b, 1000000))
        n++;
    ck_assert_int_eq(n, 5);
    /* Commands outside the queue are charged: the bucket owes. */
    gw_relay_bucket_charge(&b, 1000000);
    gw_relay_bucket_charge(&b, 1000000);
    ck_assert_int_eq(gw_relay_bucket_wait(&b, 1000000), 6001);
    /* Over a long run, no more than the rate: 60 s gives 30 + 5. */
    gw_relay_bucket_init(&b, 5, 10, 0);
    n = 0;
    for (int64_t t = 0; t <= 60000; t += 10)
        while (gw_relay_bucket_take(&b, t))
            n++;
    ck_assert_int_eq(n, 35);
}
END_TEST

START_TEST(test_budget)
{
    /* ":parley!~parley@127.0.0.1 PRIVMSG #team :" + text + CRLF */
    size_t b =
        gw_relay_budget("parley", "~parley@127.0.0.1", "PRIVMSG", "#team");
    ck_assert_uint_eq(b, 512 - strlen(":parley!~parley@127.0.0.1 PRIVMSG "
                                      "#team :\r\n"));
    /* Not known yet: a generous user@host is assumed. */
    size_t guess = gw_relay_budget("parley", NULL, "PRIVMSG", "#team");
    ck_assert_uint_lt(guess, b);
    ck_assert_uint_ge(b - guess, 50);
    /* Whatever the names, a line keeps room for text. */
    char longhost[500];
    memset(longhost, 'h', sizeof(longhost) - 1);
    longhost[sizeof(longhost) - 1] = '\0';
    ck_assert_uint_eq(gw_relay_budget("p", longhost, "NOTICE", "#x"), 64);
}
END_TEST

static struct gw_line line(const char *text, const char *from,
                           const char *msgid, bool notice)
{
    struct gw_line l;
    memset(&l, 0, sizeof(l));
    l.text = text;
    l.from = from;
    l.msgid = msgid;
    l.notice = notice;
    return l;
}

START_TEST(test_format)
{
    struct gw_line l =
        line("[a3] loved the talk", "alice@example.social", "a3", false);
    char *t = gw_relay_format(&l, false);
    ck_assert_str_eq(t, "[a3] alice@example.social: loved the talk");
    free(t);
    t = gw_relay_format(&l, true);
    ck_assert_str_eq(t, "[a3] (DM) alice@example.social: loved the talk");
    free(t);
    /* A post's second line: its ref again, not the author. */
    l = line("and the slides", "alice@example.social", "a3.2", false);
    t = gw_relay_format(&l, false);
    ck_assert_str_eq(t, "[a3] and the slides");
    free(t);
    /* A person's notice; the bot's own line as it is. */
    l = line("favourited [a1] hello", "bob@x.org", "ff00", true);
    t = gw_relay_format(&l, false);
    ck_assert_str_eq(t, "bob@x.org: favourited [a1] hello");
    free(t);
    l = line("[a3] answered by carol", NULL, "ff01", true);
    t = gw_relay_format(&l, false);
    ck_assert_str_eq(t, "[a3] answered by carol");
    free(t);
    /* Text that only looks like a ref is not moved. */
    l = line("[A3] shouting", "x@y.z", "b1", false);
    t = gw_relay_format(&l, false);
    ck_assert_str_eq(t, "x@y.z: [A3] shouting");
    free(t);
}
END_TEST

struct count {
    size_t budget;
    int n;
};

static int check_piece(void *arg, const char *s, size_t len)
{
    struct count *c = arg;
    (void)s;
    ck_assert_uint_le(len, c->budget);
    c->n++;
    return 0;
}

/* The budget and the splitter together: a long post never makes a line
 * the server would cut. */
START_TEST(test_split_fits)
{
    char text[3000];
    size_t off = 0;
    for (int i = 0; off + 12 < sizeof(text); i++)
        off += (size_t)snprintf(text + off, sizeof(text) - off, "w%05d ", i);
    struct count c = {gw_relay_budget("parley_", NULL, "PRIVMSG", "#team"), 0};
    gw_text_split(text, c.budget, check_piece, &c);
    ck_assert_int_ge(c.n, 3000 / 512);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("relay");
    TCase *tc = tcase_create("pure");
    tcase_add_test(tc, test_bucket);
    tcase_add_test(tc, test_budget);
    tcase_add_test(tc, test_format);
    tcase_add_test(tc, test_split_fits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
