/*
 * People and logins (gw_users): a [user] of the file and one added on IRC
 * sign in with their passwords and nothing else, names compare without
 * case, an unknown name is refused like a wrong password, checks run off
 * the loop and can be cancelled, and the file's users are not changed from
 * IRC.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_config.h"
#include "gw_gateway.h"
#include "gw_store.h"
#include "gw_users.h"

static char dir[64];
static uv_loop_t loop;
static struct gateway gw;

struct answer {
    int calls;
    int rc;
    char name[32];
};

static void on_answer(void *arg, int rc, const char *name)
{
    struct answer *a = arg;
    a->calls++;
    a->rc = rc;
    snprintf(a->name, sizeof(a->name), "%s", name);
}

static void setup(void)
{
    ck_assert_int_eq(gw_users_init(), 0);
    snprintf(dir, sizeof(dir), "/tmp/parley-users-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char hash[256], conf[128], err[2048];
    ck_assert_int_eq(gw_users_hash("pw-ann", hash, sizeof(hash)), 0);
    snprintf(conf, sizeof(conf), "%s/gateway.conf", dir);
    FILE *fp = fopen(conf, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp,
            "[gateway]\nstate_dir = state\n[user ann]\npassword_hash = %s\n"
            "admin = yes\n",
            hash);
    fclose(fp);
    memset(&gw, 0, sizeof(gw));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    gw.loop = &loop;
    ck_assert_msg(gw_config_load(conf, &gw.cfg, err, sizeof(err)) == 0, "%s",
                  err);
    ck_assert_int_eq(
        gw_store_open(&gw.store, gw.cfg->state_dir, err, sizeof(err)), 0);
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    gw_store_close(gw.store);
    gw_config_free(gw.cfg);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    char cmd[96];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

static struct answer check(const char *name, const char *password)
{
    struct answer a = {0};
    struct gw_users_check *c = NULL;
    ck_assert_int_eq(gw_users_check(&gw, name, password, on_answer, &a, &c), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.calls, 1);
    return a;
}

START_TEST(test_file_user_signs_in)
{
    ck_assert(gw_users_enabled(&gw));
    struct answer a = check("ann", "pw-ann");
    ck_assert_int_eq(a.rc, 0);
    ck_assert_str_eq(a.name, "ann");
    a = check("ANN", "pw-ann");
    ck_assert_int_eq(a.rc, 0);
    ck_assert_str_eq(a.name, "ann");
    ck_assert_int_eq(check("ann", "pw-Ann").rc, UV_EACCES);
    ck_assert_int_eq(check("ann", "").rc, UV_EACCES);
    /* No such user: the same answer as a wrong password. */
    ck_assert_int_eq(check("nobody", "pw-ann").rc, UV_EACCES);
    char canon[32];
    bool admin = false;
    ck_assert(gw_users_find(&gw, "Ann", canon, sizeof(canon), &admin));
    ck_assert_str_eq(canon, "ann");
    ck_assert(admin);
    /* Too long is refused, not cut to a prefix that might match. */
    char big[GW_PASSWORD_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    struct gw_users_check *c = NULL;
    ck_assert_int_eq(gw_users_check(&gw, "ann", big, on_answer, NULL, &c),
                     UV_EINVAL);
}
END_TEST

START_TEST(test_users_added_on_irc)
{
    struct answer a = {0};
    ck_assert_int_eq(gw_users_set(&gw, "bob", "pw-bob", false, on_answer, &a),
                     0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.rc, 0);
    ck_assert_int_eq(check("bob", "pw-bob").rc, 0);
    ck_assert_int_eq(check("bob", "pw-ann").rc, UV_EACCES);
    bool admin = true;
    ck_assert(gw_users_find(&gw, "BOB", NULL, 0, &admin));
    ck_assert(!admin);
    /* The store keeps a hash, never the password. */
    struct gw_user_row u;
    ck_assert_int_eq(gw_store_user_get(gw.store, "bob", &u), 0);
    ck_assert_ptr_null(strstr(u.hash, "pw-bob"));
    ck_assert_int_eq(strncmp(u.hash, "$argon2id$", 10), 0);
    gw_user_row_free(&u);
    /* A new password replaces the old. */
    ck_assert_int_eq(gw_users_set(&gw, "Bob", "new-bob", false, on_answer, &a),
                     0);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_str_eq(a.name, "bob");
    ck_assert_int_eq(check("bob", "pw-bob").rc, UV_EACCES);
    ck_assert_int_eq(check("bob", "new-bob").rc, 0);
    /* The file's users are the file's. */
    ck_assert_int_eq(gw_users_set(&gw, "ann", "x", true, on_answer, &a),
                     UV_EPERM);
    ck_assert_int_eq(gw_users_del(&gw, "ann"), UV_EPERM);
    ck_assert_int_eq(gw_users_set(&gw, "1bad", "x", true, on_answer, &a),
                     UV_EINVAL);
    ck_assert_int_eq(gw_users_del(&gw, "bob"), 0);
    ck_assert_int_eq(gw_users_del(&gw, "bob"), UV_ENOENT);
    ck_assert_int_eq(check("bob", "new-bob").rc, UV_EACCES);
}
END_TEST

START_TEST(test_cancelled_check_never_answers)
{
    struct answer a = {0};
    struct gw_users_check *c = NULL;
    ck_assert_int_eq(gw_users_check(&gw, "ann", "pw-ann", on_answer, &a, &c),
                     0);
    gw_users_cancel(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(a.calls, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("users");
    TCase *tc = tcase_create("users");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_file_user_signs_in);
    tcase_add_test(tc, test_users_added_on_irc);
    tcase_add_test(tc, test_cancelled_check_never_answers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
