/*
 * Unit tests for gw_config: defaults, every section, file:line errors,
 * addresses, and the account checks shared with the control channel.
 */
#include "gw_config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "adapter.h"
#include "gw_limits.h"
#include "gw_util.h"

static char dir[64];
static char path[128];
static char err[8192];

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static struct gw_config *load_ok(const char *text)
{
    struct gw_config *cfg = NULL;
    write_conf(text);
    int rc = gw_config_load(path, &cfg, err, sizeof(err));
    ck_assert_msg(rc == 0, "unexpected error: %s", err);
    ck_assert_ptr_nonnull(cfg);
    return cfg;
}

/* Loading must fail with "path:line:" and the given words in the text. */
static void load_bad(const char *text, int line, const char *words)
{
    struct gw_config *cfg = (struct gw_config *)1;
    write_conf(text);
    err[0] = '\0';
    int rc = gw_config_load(path, &cfg, err, sizeof(err));
    ck_assert_int_lt(rc, 0);
    ck_assert_ptr_null(cfg);
    char want[200];
    snprintf(want, sizeof(want), "%s:%d: ", path, line);
    ck_assert_msg(strstr(err, want) != NULL, "wanted '%s' in '%s'", want, err);
    ck_assert_msg(strstr(err, words) != NULL, "wanted '%s' in '%s'", words,
                  err);
}

static void setup(void)
{
    gw_strlcpy(dir, "/tmp/config-test-XXXXXX", sizeof(dir));
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/gateway.conf", dir);
}

static void teardown(void)
{
    unlink(path);
    rmdir(dir);
}

START_TEST(defaults)
{
    struct gw_config *cfg = load_ok("");
    char want[160];
    snprintf(want, sizeof(want), "%s/state", dir);
    ck_assert_str_eq(cfg->state_dir, want);
    ck_assert_int_eq(cfg->log_level, GW_LOG_INFO);
    ck_assert_int_eq(cfg->nlisten, 1);
    ck_assert_str_eq(cfg->listen[0].host, "127.0.0.1");
    ck_assert_int_eq(cfg->listen[0].port, 6667);
    ck_assert(cfg->listen[0].loopback);
    ck_assert_str_eq(cfg->password, "");
    ck_assert_str_eq(cfg->server_name, "parley.localhost");
    ck_assert_str_eq(cfg->control_channel, "&parley");
    ck_assert_int_eq(cfg->naccounts, 0);
    ck_assert_int_eq(cfg->max_unregistered, 64);
    ck_assert_int_eq(cfg->history_days, 365);
    ck_assert(cfg->autojoin_control);
    gw_config_free(cfg);
}
END_TEST

START_TEST(full_file)
{
    struct gw_config *cfg =
        load_ok("; comment\n"
                "[gateway]\n"
                "state_dir = /var/lib/parley ; inline comment\n"
                "log_level = debug\n"
                "[irc]\n"
                "listen = 127.0.0.1:7000, [::1]:7001\n"
                "password = hunter2\n"
                "server_name = irc.example.org\n"
                "control_channel = &ctl\n"
                "max_clients = 10\n"
                "max_unregistered = 5\n"
                "history_days = 0\n"
                "autojoin_control = no\n"
                "[account work]\n"
                "network = mastodon\n"
                "base_url = https://social.example\n"
                "token = abc\n"
                "post_plain = yes\n"
                "streaming = no\n"
                "poll_seconds = 30\n"
                "[account home]\n"
                "network = mastodon\n"
                "handle = @me@home.example\n"
                "channel = #house\n"
                "[relay team]\n"
                "server = irc.example.org:6667\n"
                "nick = parley\n"
                "channels = #social\n"
                "accounts = work\n");
    ck_assert_str_eq(cfg->state_dir, "/var/lib/parley");
    ck_assert_int_eq(cfg->log_level, GW_LOG_DEBUG);
    ck_assert_int_eq(cfg->nlisten, 2);
    ck_assert_str_eq(cfg->listen[1].host, "::1");
    ck_assert_int_eq(cfg->listen[1].port, 7001);
    ck_assert(cfg->listen[1].loopback);
    ck_assert_str_eq(cfg->password, "hunter2");
    ck_assert_str_eq(cfg->control_channel, "&ctl");
    ck_assert_int_eq(cfg->max_clients, 10);
    ck_assert_int_eq(cfg->max_unregistered, 5);
    ck_assert_int_eq(cfg->history_days, 0);
    ck_assert(!cfg->autojoin_control);
    ck_assert_int_eq(cfg->naccounts, 2);
    const struct gw_conf_account *w = gw_config_account(cfg, "WORK");
    ck_assert_ptr_nonnull(w);
    ck_assert_str_eq(w->channel, "#work");
    ck_assert(w->post_plain);
    ck_assert_str_eq(gw_conf_account_get(w, "token"), "abc");
    ck_assert_int_eq(w->line, 14);
    const struct gw_conf_account *h = gw_config_account(cfg, "home");
    ck_assert_str_eq(h->channel, "#house");
    ck_assert(!h->post_plain);
    ck_assert_int_eq(cfg->nrelays, 1);
    ck_assert_str_eq(cfg->relays[0].channels, "#social");
    gw_config_free(cfg);
}
END_TEST

/* [webhook]: one address, an https public_url, paths beside the file,
 * per-account secrets named where they belong; file:line errors. */
START_TEST(webhook_section)
{
    struct gw_config *cfg =
        load_ok("[webhook]\nlisten = 127.0.0.1:8448\n"
                "public_url = https://parley.example.org/hooks\n"
                "tls_cert = c.pem\ntls_key = /k.pem\n"
                "[account fb]\nnetwork = facebook\npage_id = 106295678901234\n"
                "app_secret = s3cret\nverify_token = v\n");
    ck_assert_int_eq(cfg->nwebhook_listen, 1);
    ck_assert_int_eq(cfg->webhook_listen[0].port, 8448);
    ck_assert_str_eq(cfg->webhook_public_url,
                     "https://parley.example.org/hooks");
    ck_assert_str_eq(cfg->webhook_tls_key, "/k.pem");
    ck_assert_ptr_nonnull(strstr(cfg->webhook_tls_cert, "/c.pem"));
    gw_config_free(cfg);
    cfg = load_ok("[irc]\nlisten = 127.0.0.1:6667\n");
    ck_assert_int_eq(cfg->nwebhook_listen, 0);
    gw_config_free(cfg);
    load_bad("[webhook]\npublic_url = https://x.example/\n", 1, "needs listen");
    load_bad("[webhook]\nlisten = 127.0.0.1:1\nverify_token = x\n", 3,
             "belong in each [account]");
    load_bad("[webhook]\nlisten = 127.0.0.1:1\npublic_url = ftp://x\n", 3,
             "https://");
    load_bad("[webhook]\nlisten = 127.0.0.1:1,127.0.0.1:2\n", 2, "one address");
    load_bad("[webhook]\nlisten = 127.0.0.1:1\ntls_cert = c.pem\n", 1,
             "go together");
    load_bad("[webhook]\nlisten = 127.0.0.1:6667\n", 1, "also an [irc] listen");
    load_bad("[webhook]\nlisten = 127.0.0.1:1\n[webhook]\n", 3, "given twice");
    load_bad("[account fb]\nnetwork = facebook\npage_id = abc\n", 3,
             "numeric id");
    load_bad("[account ig]\nnetwork = instagram\nlogin = tiktok\n", 3,
             "must be facebook");
}
END_TEST

START_TEST(errors_have_lines)
{
    load_bad("[gateway]\nstate_dir = s\nbogus = 1\n", 3, "unknown key 'bogus'");
    load_bad("\n\n[gateway]\n[nowhere]\n", 4, "unknown section [nowhere]");
    load_bad("[irc]\nlisten = 127.0.0.1\n", 2, "no :port");
    load_bad("[irc]\nlisten = 127.0.0.1:65536\n", 2, "port");
    load_bad("[irc]\nlisten = ::1:6667\n", 2, "brackets");
    load_bad("[irc]\nlisten = example.org:6667\n", 2, "not an IP address");
    load_bad("[gateway]\nlog_level = loud\n", 2, "log_level");
    load_bad("[irc]\nserver_name = nodot\n", 2, "server_name");
    load_bad("[irc]\ncontrol_channel = parley\n", 2, "control_channel");
    load_bad("[irc]\nmax_clients = 0\n", 2, "max_clients");
    load_bad("[irc]\n\nmax_unregistered = 0\n", 3, "max_unregistered");
    load_bad("[irc]\nhistory_days = -1\n", 2, "history_days");
    load_bad("[irc]\nhistory_days = forever\n", 2, "history_days");
    load_bad("[irc]\nautojoin_control = maybe\n", 2, "yes or no");
    load_bad("[irc]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n", 3,
             "already set on line 2");
    load_bad("x = 1\n", 1, "outside any section");
    load_bad("[gateway]\nnot an ini line\n", 2, "");
    load_bad("[account a b]\nnetwork = mastodon\n", 1, "name");
    load_bad("[account m]\nnetwork = nosuch\n", 2, "not known");
    load_bad("[account m]\nchannel = #m\n", 1, "needs network");
    load_bad("[account m]\nnetwork = mastodon\nstreaming = maybe\n", 3,
             "yes or no");
    load_bad("[account m]\nnetwork = mastodon\nwhat = x\n", 3,
             "unknown key 'what'");
    load_bad("[account m]\nnetwork = mastodon\npoll_seconds = 1\n", 3,
             "poll_seconds");
    load_bad("[account m]\nnetwork = mastodon\nchannel = nohash\n", 3,
             "channel");
    load_bad("[account m]\nnetwork = mastodon\n[account m]\nnetwork = "
             "mastodon\n",
             3, "defined twice");
    load_bad("[account a]\nnetwork = mastodon\nchannel = #x\n[account b]\n"
             "network = mastodon\nchannel = #X\n",
             4, "uses channel");
    load_bad("[relay r]\nserver = x:1\n", 1,
             "needs server, nick, channels and accounts");
    load_bad("[relay r]\nwhat = 1\n", 2, "unknown key 'what'");
}
END_TEST

#define RELAY_OK                                                               \
    "[relay r]\nserver = irc.example.org:6697\nnick = parley\n"                \
    "channels = #a, #b key\naccounts = m, n\n"

START_TEST(relay_keys)
{
    struct gw_config *cfg = load_ok(RELAY_OK "sasl_user = bot\n"
                                             "sasl_password = pw\n"
                                             "tls_ca = ca.pem\n"
                                             "dm_channel = #dm\n"
                                             "flood_lines = 3\n");
    const struct gw_conf_relay *r = &cfg->relays[0];
    ck_assert_str_eq(r->host, "irc.example.org");
    ck_assert_int_eq(r->port, 6697);
    ck_assert(r->tls); /* the TLS port */
    ck_assert(r->tls_verify);
    ck_assert_int_eq(r->nchans, 2);
    ck_assert_str_eq(r->chans[1].name, "#b");
    ck_assert_str_eq(r->chans[1].key, "key");
    ck_assert_ptr_null(r->chans[0].key);
    ck_assert_int_eq(r->naccount_names, 2);
    ck_assert_str_eq(r->account_names[1], "n");
    ck_assert_str_eq(r->dm_channel, "#dm");
    ck_assert_int_eq(r->flood_lines, 3);
    ck_assert_int_eq(r->flood_seconds, GW_RELAY_FLOOD_SECONDS);
    ck_assert_ptr_nonnull(strstr(r->tls_ca, "/ca.pem"));
    gw_config_free(cfg);
    cfg = load_ok("[relay r]\nserver = [::1]:6667\nnick = p\n"
                  "channels = #a\naccounts = m\n");
    ck_assert(!cfg->relays[0].tls); /* plain below 6697 */
    ck_assert_str_eq(cfg->relays[0].host, "::1");
    gw_config_free(cfg);
    load_bad(RELAY_OK "tls = perhaps\n", 6, "tls must be yes or no");
    load_bad(RELAY_OK "flood_lines = 0\n", 6, "flood_lines");
    load_bad(RELAY_OK "sasl_user = x\n", 6, "go together");
    load_bad(RELAY_OK "sasl_user = x\nsasl_password = y\n"
                      "nickserv_password = z\n",
             8, "one way");
    load_bad(RELAY_OK "dm_channel = nohash\n", 6, "not a channel");
    load_bad(RELAY_OK "nick = 9lives\n", 6, "already set on line 3");
    load_bad("[relay r]\nserver = nohost\nnick = p\nchannels = #a\n"
             "accounts = m\n",
             2, "host:port");
    load_bad("[relay r]\nserver = h:1\nnick = 9lives\nchannels = #a\n"
             "accounts = m\n",
             3, "not an IRC nick");
    load_bad("[relay r]\nserver = h:1\nnick = p\nchannels = #a x y\n"
             "accounts = m\n",
             4, "not a channel");
    load_bad("[relay r]\nserver = h:1\nnick = p\nchannels = #a\n"
             "accounts = m\ntls = no\ntls_verify = no\n",
             7, "need tls = yes");
}
END_TEST

START_TEST(long_and_nul_lines)
{
    char text[600];
    memset(text, 0, sizeof(text));
    strcat(text, "[gateway]\nstate_dir = ");
    memset(text + strlen(text), 'a', 300);
    strcat(text, "\n");
    load_bad(text, 2, "too long");
    FILE *f = fopen(path, "w");
    fwrite("[gateway]\nstate_dir = a\0b\n", 1, 26, f);
    fclose(f);
    struct gw_config *cfg = NULL;
    ck_assert_int_lt(gw_config_load(path, &cfg, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, ":2: line contains a NUL byte"));
}
END_TEST

START_TEST(public_listen_needs_password)
{
    load_bad("[irc]\nlisten = 0.0.0.0:6667\n", 2, "password");
    load_bad("[irc]\n\nlisten = 127.0.0.1:6667,[::]:6667\n", 3, "password");
    struct gw_config *cfg =
        load_ok("[irc]\nlisten = 0.0.0.0:6667\npassword = x\n");
    ck_assert(!cfg->listen[0].loopback);
    gw_config_free(cfg);
    cfg = load_ok("[irc]\nlisten = 127.0.0.2:6667\n");
    ck_assert(cfg->listen[0].loopback);
    gw_config_free(cfg);
}
END_TEST

START_TEST(missing_file)
{
    struct gw_config *cfg = NULL;
    ck_assert_int_lt(
        gw_config_load("/nonexistent/x.conf", &cfg, err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent/x.conf: cannot open"));
}
END_TEST

START_TEST(account_checks)
{
    const struct gw_adapter_ops *ops = gw_adapter_find("mastodon");
    ck_assert_ptr_nonnull(ops);
    ck_assert_ptr_null(gw_adapter_find("myspace"));
    ck_assert_int_eq(
        gw_config_check_account_kv(ops, "streaming", "yes", err, sizeof(err)),
        0);
    ck_assert_int_lt(
        gw_config_check_account_kv(ops, "streaming", "maybe", err, sizeof(err)),
        0);
    ck_assert_int_lt(
        gw_config_check_account_kv(ops, "nope", "1", err, sizeof(err)), 0);
    ck_assert_ptr_nonnull(strstr(err, "unknown key 'nope'"));
    ck_assert(gw_config_valid_account_name("work-2_x"));
    ck_assert(!gw_config_valid_account_name(""));
    ck_assert(!gw_config_valid_account_name("a b"));
    ck_assert(!gw_config_valid_account_name("#chan"));
    bool b;
    ck_assert_int_eq(gw_config_parse_bool("On", &b), 0);
    ck_assert(b);
    ck_assert_int_eq(gw_config_parse_bool("0", &b), 0);
    ck_assert(!b);
    ck_assert_int_lt(gw_config_parse_bool("yep", &b), 0);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, full_file);
    tcase_add_test(tc, errors_have_lines);
    tcase_add_test(tc, relay_keys);
    tcase_add_test(tc, long_and_nul_lines);
    tcase_add_test(tc, public_listen_needs_password);
    tcase_add_test(tc, missing_file);
    tcase_add_test(tc, account_checks);
    tcase_add_test(tc, webhook_section);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
