/*
 * gateway/gw_res.c: when a shortage is said aloud (first time, then at
 * most once per GW_RES_TELL_MS however often it recurs), what `status`
 * says, and the memory test on made-up figures.
 */
#include "gw_limits.h"
#include "gw_res.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define MIB ((uint64_t)1024 * 1024)

START_TEST(test_note_tells_once_per_period)
{
    struct gw_res res;
    memset(&res, 0, sizeof(res));
    int64_t t = 1000000;
    ck_assert(gw_res_note(&res, GW_RES_FDS, "first", t));
    ck_assert(!gw_res_note(&res, GW_RES_FDS, "again", t + 10));
    ck_assert(!gw_res_note(&res, GW_RES_FDS, "again", t + GW_RES_TELL_MS - 1));
    /* The other kind has its own clock. */
    ck_assert(gw_res_note(&res, GW_RES_MEMORY, "mem", t + 20));
    ck_assert(gw_res_note(&res, GW_RES_FDS, "later", t + GW_RES_TELL_MS));
    const struct gw_res_short *s = &res.shortage[GW_RES_FDS];
    ck_assert_uint_eq(s->count, 4);
    ck_assert_int_eq(s->first_ms, t);
    ck_assert_int_eq(s->last_ms, t + GW_RES_TELL_MS);
    ck_assert_str_eq(s->what, "later");
}
END_TEST

START_TEST(test_status_names_shortages)
{
    struct gw_res res;
    memset(&res, 0, sizeof(res));
    res.nofile = 4096;
    char buf[768];
    gw_res_status(&res, 5000, buf, sizeof(buf));
    ck_assert_ptr_nonnull(strstr(buf, "of 4096 allowed"));
    ck_assert_ptr_nonnull(strstr(buf, "nothing has run short"));
    gw_res_note(&res, GW_RES_FDS, "no connection to x", 2000);
    gw_res_status(&res, 5000, buf, sizeof(buf));
    ck_assert_ptr_nonnull(
        strstr(buf, "SHORT OF FILE DESCRIPTORS: 1 time(s), last 3s ago "
                    "(no connection to x)"));
    ck_assert_ptr_null(strstr(buf, "nothing has run short"));
    /* A small buffer is cut, never overrun. */
    char small[24];
    gw_res_status(&res, 5000, small, sizeof(small));
    ck_assert_uint_lt(strlen(small), sizeof(small));
}
END_TEST

START_TEST(test_memory_low)
{
    char why[200];
    /* 8 GiB machine with 4 GiB available: fine. */
    ck_assert(!gw_res_memory_low(4096 * MIB, 8192 * MIB, 0, 100 * MIB, why,
                                 sizeof(why)));
    /* Below the 64 MiB floor. */
    ck_assert(gw_res_memory_low(60 * MIB, 8192 * MIB, 0, 100 * MIB, why,
                                sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "60 MiB available of 8192 MiB"));
    /* Below 1/50 of a large machine (1 TiB: floor ~20 GiB). */
    ck_assert(gw_res_memory_low(10240 * MIB, 1024 * 1024 * MIB, 0, MIB, why,
                                sizeof(why)));
    /* No cgroup limit: UINT64_MAX is "none". */
    ck_assert(!gw_res_memory_low(4096 * MIB, 8192 * MIB, UINT64_MAX, 100 * MIB,
                                 why, sizeof(why)));
    /* 95 MiB resident of a 100 MiB cgroup: past 90 %. */
    ck_assert(gw_res_memory_low(4096 * MIB, 8192 * MIB, 100 * MIB, 95 * MIB,
                                why, sizeof(why)));
    ck_assert_ptr_nonnull(strstr(why, "its control group"));
    ck_assert(!gw_res_memory_low(4096 * MIB, 8192 * MIB, 100 * MIB, 50 * MIB,
                                 why, sizeof(why)));
}
END_TEST

START_TEST(test_open_fds_counts)
{
    int n = gw_res_open_fds();
    /* stdin, stdout, stderr at least. */
    ck_assert_int_ge(n, 3);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("res");
    TCase *tc = tcase_create("res");
    tcase_add_test(tc, test_note_tells_once_per_period);
    tcase_add_test(tc, test_status_names_shortages);
    tcase_add_test(tc, test_memory_low);
    tcase_add_test(tc, test_open_fds_counts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
