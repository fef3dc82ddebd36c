/*
 * The core's rules for what goes out (gw_compose.h): who a reply names,
 * and how far its audience may reach.
 */
#include "gw_compose.h"

#include <check.h>
#include <stdlib.h>

START_TEST(test_mentions)
{
    const char *hs[] = {"alice@example.social",
                        "@carol@third.example",
                        "GW@mastodon.example",
                        "alice@example.social",
                        "not a handle",
                        NULL,
                        "dave@x.org"};
    char *t = gw_compose_mentions("hi all", hs, 7, "gw@mastodon.example");
    ck_assert_str_eq(t, "@alice@example.social @carol@third.example "
                        "@dave@x.org hi all");
    free(t);

    /* Already in the text (any case, at a word boundary): not again. */
    const char *two[] = {"alice@example.social", "bob@x.org"};
    t = gw_compose_mentions("thanks @Alice@Example.Social, and you", two, 2,
                            NULL);
    ck_assert_str_eq(t, "@bob@x.org thanks @Alice@Example.Social, and you");
    free(t);
    t = gw_compose_mentions("cc @bob@x.org.", two, 2, NULL);
    ck_assert_str_eq(t, "@alice@example.social cc @bob@x.org.");
    free(t);

    /* A longer handle or an e-mail address is not the same mention. */
    t = gw_compose_mentions("cc @bob@x.org.uk and me@bob@x.org", two + 1, 1,
                            NULL);
    ck_assert_str_eq(t, "@bob@x.org cc @bob@x.org.uk and me@bob@x.org");
    free(t);
    const char *short1[] = {"bob"};
    t = gw_compose_mentions("@bobby hi", short1, 1, NULL);
    ck_assert_str_eq(t, "@bob @bobby hi");
    free(t);

    /* DNS-style handles (Bluesky) are mentions too. */
    const char *dns[] = {"ann.bsky.social", "me.bsky.social"};
    t = gw_compose_mentions("yes", dns, 2, "@me.bsky.social");
    ck_assert_str_eq(t, "@ann.bsky.social yes");
    free(t);

    /* Nothing to add, nothing to say. */
    t = gw_compose_mentions("", two, 2, NULL);
    ck_assert_str_eq(t, "@alice@example.social @bob@x.org");
    free(t);
    t = gw_compose_mentions(NULL, NULL, 0, NULL);
    ck_assert_str_eq(t, "");
    free(t);
}
END_TEST

START_TEST(test_handles)
{
    ck_assert(gw_compose_handle_ok("alice"));
    ck_assert(gw_compose_handle_ok("@alice@example.social"));
    ck_assert(gw_compose_handle_ok("alice@[::1]:3000") == false);
    ck_assert(gw_compose_handle_ok("alice@host:3000"));
    ck_assert(gw_compose_handle_ok("j\xC3\xB6rg@b\xC3\xBC"
                                   "cher.de"));
    ck_assert(!gw_compose_handle_ok(""));
    ck_assert(!gw_compose_handle_ok("@"));
    ck_assert(!gw_compose_handle_ok("a b"));
    ck_assert(!gw_compose_handle_ok("a@"));
    ck_assert(!gw_compose_handle_ok("a@.x"));
    ck_assert(!gw_compose_handle_ok("a\r\nb"));
    ck_assert(!gw_compose_handle_ok(NULL));
}
END_TEST

/* Never wider than the parent; narrower when asked. */
START_TEST(test_audience)
{
    for (int p = GW_AUD_PUBLIC; p <= GW_AUD_MENTIONED; p++) {
        ck_assert_int_eq(gw_audience_narrow(p, GW_AUD_UNKNOWN), p);
        for (int q = GW_AUD_PUBLIC; q <= GW_AUD_MENTIONED; q++)
            ck_assert_int_eq(gw_audience_narrow(p, q), q > p ? q : p);
    }
    /* Not knowing the parent's audience: off public timelines. */
    ck_assert_int_eq(gw_audience_narrow(GW_AUD_UNKNOWN, GW_AUD_UNKNOWN),
                     GW_AUD_UNLISTED);
    ck_assert_int_eq(gw_audience_narrow(GW_AUD_UNKNOWN, GW_AUD_PUBLIC),
                     GW_AUD_UNLISTED);
    ck_assert_int_eq(gw_audience_narrow(GW_AUD_UNKNOWN, GW_AUD_FOLLOWERS),
                     GW_AUD_FOLLOWERS);
    ck_assert_str_eq(gw_audience_name(GW_AUD_FOLLOWERS), "followers");
    ck_assert_ptr_null(gw_audience_name(GW_AUD_UNKNOWN));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("compose");
    TCase *tc = tcase_create("rules");
    tcase_add_test(tc, test_mentions);
    tcase_add_test(tc, test_handles);
    tcase_add_test(tc, test_audience);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
