/*
 * Unit tests for the IRC server's command table (gateway/ircd/gw_ircd_msg.c):
 * dispatch trusts it for parameter bounds and for what may run before
 * registration, so a wrong entry is a wrong answer or a skipped password.
 */
#include "gw_ircd_int.h"

#include <check.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

START_TEST(test_bounds)
{
    size_t n;
    const struct gw_ircd_cmd *cmds = gw_ircd__cmds(&n);
    ck_assert_uint_gt(n, 0);
    for (size_t i = 0; i < n; i++) {
        const struct gw_ircd_cmd *cmd = &cmds[i];
        ck_assert_ptr_nonnull(cmd->fn);
        ck_assert_msg(cmd->min_params >= 0, "%s: min < 0", cmd->name);
        ck_assert_msg(cmd->min_params <= cmd->max_params, "%s: min %d > max %d",
                      cmd->name, cmd->min_params, cmd->max_params);
        /* The parser never gives more; a larger max would be a promise
         * dispatch cannot keep. */
        ck_assert_msg(cmd->max_params <= GW_IRC_PARAMS_MAX, "%s: max %d",
                      cmd->name, cmd->max_params);
    }
}
END_TEST

/* Names are upper case (the lookup ignores case, the 461 reply echoes the
 * table's name) and unique (a second entry would never be reached). */
START_TEST(test_names)
{
    size_t n;
    const struct gw_ircd_cmd *cmds = gw_ircd__cmds(&n);
    for (size_t i = 0; i < n; i++) {
        const char *name = cmds[i].name;
        ck_assert_uint_gt(strlen(name), 0);
        for (const char *p = name; *p; p++)
            ck_assert_msg(isupper((unsigned char)*p), "%s", name);
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(gw_strcasecmp(cmds[j].name, name) != 0, "%s twice",
                          name);
    }
}
END_TEST

START_TEST(test_find)
{
    size_t n;
    const struct gw_ircd_cmd *cmds = gw_ircd__cmds(&n);
    for (size_t i = 0; i < n; i++)
        ck_assert_ptr_eq(gw_ircd__cmd_find(cmds[i].name), &cmds[i]);
    const struct gw_ircd_cmd *pm = gw_ircd__cmd_find("privmsg");
    ck_assert_ptr_nonnull(pm);
    ck_assert_str_eq(pm->name, "PRIVMSG");
    ck_assert_ptr_eq(gw_ircd__cmd_find("PrivMsg"), pm);
    ck_assert_ptr_null(gw_ircd__cmd_find("PRIVMS"));
    ck_assert_ptr_null(gw_ircd__cmd_find("PRIVMSGX"));
    ck_assert_ptr_null(gw_ircd__cmd_find(""));
}
END_TEST

/* Before registration only these may run: any other command would be a
 * way round the password. */
START_TEST(test_before_registration)
{
    static const char *const open[] = {"PASS",         "NICK", "USER", "CAP",
                                       "AUTHENTICATE", "PING", "PONG", "QUIT"};
    size_t n;
    const struct gw_ircd_cmd *cmds = gw_ircd__cmds(&n);
    for (size_t i = 0; i < n; i++) {
        bool listed = false;
        for (size_t j = 0; j < GW_ARRAY_LEN(open); j++)
            listed |= strcmp(cmds[i].name, open[j]) == 0;
        ck_assert_msg(cmds[i].need_reg != listed, "%s: need_reg %d",
                      cmds[i].name, cmds[i].need_reg);
    }
    for (size_t j = 0; j < GW_ARRAY_LEN(open); j++)
        ck_assert_ptr_nonnull(gw_ircd__cmd_find(open[j]));
}
END_TEST

static Suite *ircd_cmds_suite(void)
{
    Suite *s = suite_create("ircd_cmds");
    TCase *t = tcase_create("table");
    tcase_add_test(t, test_bounds);
    tcase_add_test(t, test_names);
    tcase_add_test(t, test_find);
    tcase_add_test(t, test_before_registration);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ircd_cmds_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
