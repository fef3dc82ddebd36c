/*
 * Helpers of gateway/gw_util.c that adapters use: gw_hmac_sha256_hex and
 * gw_secret_eq (the RFC 4231 vectors, an empty key and message,
 * comparisons of unequal lengths) and gw_xreplace.
 */
#include "gw_util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_rfc4231)
{
    char out[GW_HMAC_HEX_SIZE];
    /* RFC 4231, test case 2. */
    const char *data = "what do ya want for nothing?";
    gw_hmac_sha256_hex("Jefe", 4, data, strlen(data), out);
    ck_assert_str_eq(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839d"
                          "ec58b964ec3843");
    /* Test case 1: a key of twenty 0x0b bytes. */
    unsigned char key[20];
    memset(key, 0x0b, sizeof(key));
    gw_hmac_sha256_hex(key, sizeof(key), "Hi There", 8, out);
    ck_assert_str_eq(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726"
                          "e9376c2e32cff7");
    /* Test case 6: a key longer than the block is hashed first. */
    unsigned char big[131];
    memset(big, 0xaa, sizeof(big));
    const char *m6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    gw_hmac_sha256_hex(big, sizeof(big), m6, strlen(m6), out);
    ck_assert_str_eq(out, "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546"
                          "040f0ee37f54");
}
END_TEST

START_TEST(test_empty_key_and_message)
{
    char out[GW_HMAC_HEX_SIZE];
    gw_hmac_sha256_hex(NULL, 0, NULL, 0, out);
    ck_assert_str_eq(out, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6"
                          "c712144292c5ad");
    ck_assert_uint_eq(strlen(out), 64);
}
END_TEST

START_TEST(test_secret_eq)
{
    ck_assert(gw_secret_eq("abc", "abc"));
    ck_assert(gw_secret_eq("", ""));
    ck_assert(!gw_secret_eq("abc", "abd"));
    ck_assert(!gw_secret_eq("abc", "abcd"));
    ck_assert(!gw_secret_eq("abcd", "abc"));
    ck_assert(!gw_secret_eq(NULL, "abc"));
    ck_assert(!gw_secret_eq("abc", NULL));
    ck_assert(!gw_secret_eq(NULL, NULL));
}
END_TEST

START_TEST(test_xreplace)
{
    char *slot = NULL;
    gw_xreplace(&slot, "one");
    ck_assert_str_eq(slot, "one");
    gw_xreplace(&slot, slot + 1); /* a value inside the slot itself */
    ck_assert_str_eq(slot, "ne");
    gw_xreplace(&slot, NULL);
    ck_assert_ptr_null(slot);
}
END_TEST

struct named {
    char name[16];
    struct gw_name_link link;
};

/* Found by any case of its name, through the resizes, and gone once
 * deleted. */
START_TEST(test_names)
{
    static struct named v[300];
    struct gw_names t = {0};
    ck_assert_ptr_null(gw_names_find(&t, "#a0"));
    for (int i = 0; i < 300; i++) {
        snprintf(v[i].name, sizeof(v[i].name), "#A%d", i);
        gw_names_add(&t, &v[i].link, v[i].name);
    }
    ck_assert_uint_eq(t.n, 300);
    for (int i = 0; i < 300; i++) {
        char want[16];
        snprintf(want, sizeof(want), "#a%d", i);
        struct gw_name_link *l = gw_names_find(&t, want);
        ck_assert_ptr_eq(l, &v[i].link);
        ck_assert_ptr_eq(gw_container_of(l, struct named, link), &v[i]);
    }
    for (int i = 0; i < 300; i += 2)
        gw_names_del(&t, &v[i].link);
    ck_assert_uint_eq(t.n, 150);
    ck_assert_ptr_null(gw_names_find(&t, "#a10"));
    ck_assert_ptr_eq(gw_names_find(&t, "#A11"), &v[11].link);
    ck_assert_ptr_null(gw_names_find(&t, "#a300"));
    gw_names_free(&t);
    ck_assert_ptr_null(gw_names_find(&t, "#a11"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util_helpers");
    TCase *tc = tcase_create("hmac");
    tcase_add_test(tc, test_rfc4231);
    tcase_add_test(tc, test_empty_key_and_message);
    tcase_add_test(tc, test_secret_eq);
    tcase_add_test(tc, test_xreplace);
    tcase_add_test(tc, test_names);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
