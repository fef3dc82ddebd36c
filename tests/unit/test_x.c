/*
 * The X adapter's pure parts against recorded JSON (tests/fixtures/x/,
 * written from X's OpenAPI types and docs) and a conformance table for the
 * weighted length, written from twitter-text's v3 rules.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "gw_util.h"
#include "x.h"

static const struct x_me ME = {"1500000000000000000", "gw_bridge"};

/* tests/fixtures/x/NAME from the repository root (make), or from
 * $PARLEY_FIXTURES. */
static cJSON *load(const char *name)
{
    const char *dir = getenv("PARLEY_FIXTURES");
    char *path = gw_xasprintf("%s/%s", dir ? dir : "tests/fixtures/x", name);
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "fixture %s not found", path);
    free(path);
    char *buf = gw_xmalloc(1 << 20);
    size_t n = fread(buf, 1, (1 << 20) - 1, f);
    fclose(f);
    buf[n] = '\0';
    cJSON *j = cJSON_Parse(buf);
    free(buf);
    ck_assert_msg(j != NULL, "fixture %s is not JSON", name);
    return j;
}

static const cJSON *item(const cJSON *page, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(page, "data"), i);
}

static int conv(const cJSON *page, int i, struct x_event *e)
{
    return x_post_to_event(item(page, i), cJSON_GetObjectItem(page, "includes"),
                           cJSON_GetObjectItem(page, "errors"), &ME, false, e);
}

/* ---- the weighted length: a conformance table ---------------------------
 */

#define FAMILY                                                                 \
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"
#define FLAG_JP   "\xF0\x9F\x87\xAF\xF0\x9F\x87\xB5"
#define THUMBS    "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD"
#define KEYCAP1   "1\xEF\xB8\x8F\xE2\x83\xA3"
#define COPY      "\xC2\xA9"
#define COPY_EMJ  "\xC2\xA9\xEF\xB8\x8F"
#define NIHON     "\xE6\x97\xA5\xE6\x9C\xAC"
#define E_ACUTE_D "e\xCC\x81"
#define EM_DASH   "\xE2\x80\x94" /* U+2014: inside 2010-201F */
#define PRIME     "\xE2\x80\xB2" /* U+2032: inside 2032-2037 */
#define BULLET_OP "\xE2\x80\xB8" /* U+2038: just past it */
#define EURO      "\xE2\x82\xAC" /* U+20AC */
#define HANGUL    "\xEA\xB0\x80" /* U+AC00 */
#define GEORGIAN  "\xE1\x83\xBF" /* U+10FF: the last light one */
#define HANGUL_J  "\xE1\x84\x80" /* U+1100: the first heavy one */
#define SMILE     "\xF0\x9F\x98\x80"

static const struct {
    const char *text;
    long want;
} LENGTHS[] = {
    {"", 0},
    {"hello", 5},
    {"hello world", 11},
    {NIHON, 4}, /* CJK weighs 2 */
    {"a" NIHON "b", 6},
    {HANGUL, 2},
    {GEORGIAN, 1},
    {HANGUL_J, 2},
    {EM_DASH PRIME, 2},
    {BULLET_OP, 2},
    {EURO, 2},
    {E_ACUTE_D, 1}, /* NFC first */
    {SMILE, 2},
    {FAMILY, 2}, /* one emoji sequence */
    {FLAG_JP, 2},
    {THUMBS, 2},
    {KEYCAP1, 2},
    {COPY, 1},                   /* text style: light */
    {COPY_EMJ, 2},               /* emoji style */
    {"https://example.org", 23}, /* every URL is 23 */
    {"http://a.b/very/long/path/that/goes/on/and/on/and/on/and/on", 23},
    {"see https://example.org.", 28}, /* the stop is counted */
    {"(https://example.org)", 25},
    {"https://en.wikipedia.org/wiki/Foo_(bar)", 23},
    {"xhttps://example.org", 20}, /* glued: not a URL */
    {"a https://x.com b https://y.org c", 53},
    {"line\nbreak", 10},
};

START_TEST(weighted_length_table)
{
    for (size_t i = 0; i < sizeof(LENGTHS) / sizeof(LENGTHS[0]); i++)
        ck_assert_msg(x_text_length(LENGTHS[i].text) == LENGTHS[i].want,
                      "%zu: \"%s\" is %ld, want %ld", i, LENGTHS[i].text,
                      x_text_length(LENGTHS[i].text), LENGTHS[i].want);
}
END_TEST

START_TEST(length_limit)
{
    char err[200];
    char *t = gw_xmalloc(300 * 3 + 1);
    t[0] = '\0';
    for (int i = 0; i < 140; i++)
        strcat(t, "\xE6\x97\xA5"); /* NOLINT: bounded above */
    ck_assert_int_eq(x_check_length(t, false, err, sizeof(err)), 0);
    strcat(t, "a"); /* NOLINT */
    ck_assert_int_eq(x_check_length(t, false, err, sizeof(err)), UV_EMSGSIZE);
    ck_assert_msg(strncmp(err, "too long: 281, X allows 280", 27) == 0, "%s",
                  err);
    ck_assert_int_eq(x_check_length(t, true, err, sizeof(err)), 0);
    ck_assert_int_eq(x_check_length("  ", false, err, sizeof(err)), UV_EINVAL);
    memset(t, 'a', 280);
    t[280] = '\0';
    ck_assert_int_eq(x_check_length(t, false, err, sizeof(err)), 0);
    free(t);
}
END_TEST

/* ---- ids ----------------------------------------------------------------- */

START_TEST(ids)
{
    ck_assert(x_id_valid("18446744073709551617"));
    ck_assert(!x_id_valid(""));
    ck_assert(!x_id_valid("12a"));
    ck_assert(!x_id_valid("-1"));
    ck_assert(!x_id_valid(NULL));
    ck_assert(!x_id_valid("123456789012345678901234567890123"));
    ck_assert(x_conv_id_valid("1500000000000000000-2244994945"));
    ck_assert(!x_conv_id_valid("1-2-"));
    ck_assert(!x_conv_id_valid("-12"));
    ck_assert_int_lt(x_id_cmp("9223372036854775807", "18446744073709551617"),
                     0);
    ck_assert_int_gt(x_id_cmp("20", "3"), 0);
    ck_assert_int_eq(x_id_cmp("007", "7"), 0);
    ck_assert(x_username_valid("@gw_bridge"));
    ck_assert(!x_username_valid("toolongusername_xx"));
    ck_assert(!x_username_valid("bad name"));
}
END_TEST

/* ---- JSON in ------------------------------------------------------------- */

START_TEST(mention_reply_quote)
{
    cJSON *page = load("mentions.json");
    struct x_event e;
    ck_assert_int_eq(conv(page, 0, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.id, "9223372036854775901");
    ck_assert_str_eq(e.ev.author, "alice");
    ck_assert_str_eq(e.ev.author_id, "2244994945");
    ck_assert_str_eq(e.ev.author_name, "Alice");
    /* @me dropped, t.co undone, &amp; decoded, @carol kept */
    ck_assert_str_eq(e.ev.text, "is the bridge up? https://example.org/a & "
                                "more");
    ck_assert_str_eq(e.ev.url,
                     "https://x.com/alice/status/9223372036854775901");
    ck_assert_int_eq(e.ev.nmentions, 1);
    ck_assert_str_eq(e.ev.mentions[0], "carol");
    ck_assert_int_eq(e.ev.audience, GW_AUD_PUBLIC);
    ck_assert(e.ev.created_ms > 0);
    x_event_free(&e);

    ck_assert_int_eq(conv(page, 1, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_REPLY);
    ck_assert_str_eq(e.ev.in_reply_to, "9223372036854775800");
    ck_assert_str_eq(e.ev.conversation, "9223372036854775800");
    ck_assert_int_eq(e.ev.audience, GW_AUD_FOLLOWERS); /* protected */
    ck_assert_str_eq(e.ev.text, "thanks!");
    x_event_free(&e);

    ck_assert_int_eq(conv(page, 2, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_QUOTE);
    ck_assert_str_eq(e.ev.target_id, "9223372036854775800");
    ck_assert_str_eq(e.ev.text, "look\n[quote] @gw_bridge: my post");
    ck_assert_int_eq(e.ev.nmedia, 1); /* the missing key is skipped */
    ck_assert_str_eq(e.ev.media[0].url, "https://pbs.twimg.com/media/1.jpg");
    ck_assert_str_eq(e.ev.media[0].alt, "a cat on a mat");
    x_event_free(&e);

    const cJSON **items = NULL;
    ck_assert_int_eq(x_items_sorted(cJSON_GetObjectItem(page, "data"), &items),
                     3);
    ck_assert_str_eq(cJSON_GetObjectItem(items[0], "id")->valuestring,
                     "9223372036854775901");
    ck_assert_str_eq(cJSON_GetObjectItem(items[2], "id")->valuestring,
                     "9223372036854775905");
    free(items);
    ck_assert_int_eq(x_posts_in(page), 4);
    cJSON_Delete(page);
}
END_TEST

START_TEST(partial_errors)
{
    cJSON *page = load("partial.json");
    struct x_event e;
    ck_assert_int_eq(conv(page, 0, &e), 0);
    ck_assert_str_eq(e.ev.author, "777");
    ck_assert_str_eq(e.ev.author_id, "777");
    ck_assert_ptr_nonnull(strstr(e.ev.author_name, "deleted"));
    ck_assert_str_eq(e.ev.id, "18446744073709551617"); /* beyond 2^64 */
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 1, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.ev.author_name, "protected"));
    ck_assert_str_eq(e.ev.text, "[withheld in DE, FR] from a shy one");
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 2, &e), 0);
    ck_assert_str_eq(e.ev.text,
                     "quoting\n[quote of a post X did not show: deleted]");
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 3, &e), 0);
    ck_assert_str_eq(e.ev.text, "a long post that goes on and on "
                                "https://example.com/long");
    x_event_free(&e);
    cJSON_Delete(page);
}
END_TEST

START_TEST(hostile)
{
    cJSON *page = load("hostile.json");
    struct x_event e;
    ck_assert_int_eq(conv(page, 0, &e), UV_EINVAL); /* a number id */
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 1, &e), UV_EINVAL);
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 2, &e), UV_EINVAL); /* null text */
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 3, &e), 0);
    ck_assert_ptr_null(strchr(e.ev.text, '\r'));
    ck_assert_ptr_null(strchr(e.ev.text, '\a'));
    ck_assert_ptr_null(strchr(e.ev.text, 0x1b));
    ck_assert_str_eq(e.ev.author, "0"); /* "1e5" is no id */
    x_event_free(&e);
    ck_assert_int_eq(conv(page, 4, &e), 0);
    ck_assert_str_eq(e.ev.author, "1"); /* the username was invalid */
    ck_assert_int_eq(e.ev.nmedia, 0);
    ck_assert_int_eq(e.ev.nmentions, 0);
    ck_assert_str_eq(e.ev.text, "ok");
    x_event_free(&e);
    x_event_free(NULL);
    const cJSON **items = NULL;
    ck_assert_int_eq(x_items_sorted(cJSON_GetObjectItem(page, "meta"), &items),
                     UV_EINVAL);
    ck_assert_int_eq(x_items_sorted(NULL, &items), 0);
    cJSON_Delete(page);
}
END_TEST

START_TEST(dm_events)
{
    cJSON *page = load("dm_events.json");
    const cJSON *inc = cJSON_GetObjectItem(page, "includes");
    struct x_event e;
    ck_assert_int_eq(x_dm_to_event(item(page, 0), inc, NULL, &ME, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_DM);
    ck_assert_str_eq(e.ev.author, "alice");
    ck_assert_str_eq(e.ev.conversation, "1500000000000000000-2244994945");
    ck_assert_str_eq(e.ev.text, "second from alice\n"
                                "https://x.com/i/status/1918234567890123456");
    ck_assert_int_eq(e.ev.audience, GW_AUD_MENTIONED);
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "2244994945"));
    x_event_free(&e);
    ck_assert_int_eq(x_dm_to_event(item(page, 1), inc, NULL, &ME, &e),
                     X_IGNORED);
    x_event_free(&e);
    ck_assert_int_eq(x_dm_to_event(item(page, 2), inc, NULL, &ME, &e), 0);
    ck_assert_str_eq(e.ev.text, "ping me on IRC & soon");
    x_event_free(&e);
    ck_assert_int_eq(x_dm_to_event(item(page, 3), inc, NULL, &ME, &e),
                     X_IGNORED); /* mine */
    x_event_free(&e);
    ck_assert_int_eq(x_dm_to_event(item(page, 4), inc, NULL, &ME, &e),
                     UV_EINVAL);
    x_event_free(&e);
    cJSON_Delete(page);
}
END_TEST

/* ---- posts out ----------------------------------------------------------- */

START_TEST(compose_actions)
{
    char err[200];
    struct x_post p;
    struct gw_post_ref parent = {.id = "9223372036854775901",
                                 .author = "alice",
                                 .author_id = "2244994945"};
    struct gw_action a = {
        .kind = GW_ACT_REPLY, .text = "yes", .parent = &parent};
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), 0);
    char *js = x_post_json(&p);
    ck_assert_str_eq(js, "{\"text\":\"yes\",\"reply\":{\"in_reply_to_tweet_"
                         "id\":\"9223372036854775901\"}}");
    cJSON_free(js);
    x_post_free(&p);

    a.kind = GW_ACT_POST;
    a.parent = NULL;
    a.text = "look https://twitter.com/alice/status/123?s=20";
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.quote_id, "123");
    ck_assert_str_eq(p.text, "look");
    x_post_free(&p);
    a.text = "see https://x.com/alice/status/12x";
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), 0);
    ck_assert_ptr_null(p.quote_id);
    x_post_free(&p);

    a.kind = GW_ACT_REPLY;
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), UV_EINVAL);

    /* DMs: a DM thread answers in its conversation, else by user id, else
     * by username */
    struct gw_post_ref dm = {.id = "1",
                             .author = "alice",
                             .author_id = "2244994945",
                             .conversation = "1-2244994945"};
    a.kind = GW_ACT_DM;
    a.text = "hi";
    a.parent = &dm;
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.dm_conv, "1-2244994945");
    x_post_free(&p);
    a.parent = &parent;
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.dm_user, "2244994945");
    x_post_free(&p);
    a.parent = NULL;
    a.handle = "@carol";
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.dm_name, "carol");
    js = x_dm_json(&p);
    ck_assert_str_eq(js, "{\"text\":\"hi\"}");
    cJSON_free(js);
    x_post_free(&p);
    a.handle = "no such one";
    ck_assert_int_eq(x_compose(&a, false, &p, err, sizeof(err)), UV_EINVAL);
}
END_TEST

START_TEST(find_own)
{
    cJSON *j = load("own_tweets.json");
    ck_assert_str_eq(x_find_own(j, "@alice see https://example.org/zz", "200"),
                     "300");
    ck_assert_ptr_null(
        x_find_own(j, "@alice see https://example.org/zz", "201"));
    ck_assert_str_eq(x_find_own(j, "fish & chips", "201"), "299");
    ck_assert_str_eq(x_find_own(j, "fish & chips", NULL), "298");
    ck_assert_ptr_null(x_find_own(j, "fish", NULL));
    ck_assert_ptr_null(x_find_own(NULL, "fish", NULL));
    cJSON_Delete(j);
}
END_TEST

/* A response with this body and status. */
static struct gw_http_response resp(long status, const char *body)
{
    struct gw_http_response r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.body = body;
    r.body_len = strlen(body);
    r.errmsg = "";
    return r;
}

static char *section(const cJSON *j, const char *k)
{
    return cJSON_PrintUnformatted(cJSON_GetObjectItem(j, k));
}

START_TEST(problems)
{
    cJSON *j = load("problems.json");
    char *dup = section(j, "duplicate"), *tier = section(j, "tier");
    char *rl = section(j, "ratelimit"), *v1 = section(j, "v1");
    char *oa = section(j, "oauth"), *bad = section(j, "hostile");
    struct gw_http_response r = resp(403, dup);
    ck_assert(x_is_duplicate(&r));
    ck_assert(!x_is_tier_error(&r));
    char *t = x_error_text(&r);
    ck_assert_str_eq(t, "Forbidden: You are not allowed to create a Tweet "
                        "with duplicate content.");
    free(t);
    r = resp(403, tier);
    ck_assert(x_is_tier_error(&r));
    ck_assert(!x_is_duplicate(&r));
    t = x_error_text(&r);
    ck_assert_ptr_nonnull(strstr(t, "Client Forbidden: When"));
    ck_assert_ptr_nonnull(strstr(t, "client-not-enrolled"));
    free(t);
    r = resp(429, rl);
    ck_assert_int_eq(x_map_status(r.status, 0), GW_ACT_RETRY);
    r = resp(429, v1);
    t = x_error_text(&r);
    ck_assert_str_eq(t, "Rate limit exceeded");
    free(t);
    r = resp(400, oa);
    t = x_oauth_error(&r);
    ck_assert_str_eq(t, "invalid_grant");
    free(t);
    r = resp(500, bad);
    t = x_error_text(&r);
    ck_assert_str_eq(t, "HTTP 500"); /* control characters are not shown */
    free(t);
    ck_assert(x_maybe_made(&r));
    r = resp(0, "");
    r.error = UV_ETIMEDOUT;
    r.errmsg = "Operation timed out";
    ck_assert(x_maybe_made(&r));
    r.error = UV_ECONNREFUSED;
    ck_assert(!x_maybe_made(&r));
    ck_assert_int_eq(x_map_status(201, 0), GW_ACT_OK);
    ck_assert_int_eq(x_map_status(404, 0), GW_ACT_FAILED);
    cJSON_free(dup);
    cJSON_free(tier);
    cJSON_free(rl);
    cJSON_free(v1);
    cJSON_free(oa);
    cJSON_free(bad);
    cJSON_Delete(j);
}
END_TEST

/* ---- OAuth --------------------------------------------------------------- */

START_TEST(oauth)
{
    char *ch = x_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    ck_assert_str_eq(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    char *url = x_authorize_url("https://x.com/i/oauth2/authorize", "cid",
                                "http://127.0.0.1/callback", "st", ch);
    ck_assert_str_eq(
        url, "https://x.com/i/oauth2/authorize?response_type=code&client_id="
             "cid&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback&scope=tweet."
             "read%20tweet.write%20users.read%20dm.read%20dm.write%20like."
             "write%20follows.write%20offline.access&state=st&code_"
             "challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_"
             "challenge_method=S256");
    free(url);
    free(ch);
    char *v = x_pkce_verifier();
    ck_assert_int_eq(strlen(v), 43);
    free(v);

    char err[200], *code, *state;
    ck_assert_int_eq(x_code_parse(" abc123 ", &code, &state, err, sizeof(err)),
                     0);
    ck_assert_str_eq(code, "abc123");
    ck_assert_ptr_null(state);
    free(code);
    ck_assert_int_eq(x_code_parse("http://127.0.0.1/callback?state=s%201&"
                                  "code=Zm9v",
                                  &code, &state, err, sizeof(err)),
                     0);
    ck_assert_str_eq(code, "Zm9v");
    ck_assert_ptr_null(state); /* "s 1" is no state word: dropped */
    free(code);
    ck_assert_int_eq(x_code_parse("http://127.0.0.1/callback?code=Q&state=ab",
                                  &code, &state, err, sizeof(err)),
                     0);
    ck_assert_str_eq(state, "ab");
    free(code);
    free(state);
    ck_assert_int_eq(x_code_parse("http://127.0.0.1/callback?error=access_"
                                  "denied&state=ab",
                                  &code, &state, err, sizeof(err)),
                     UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "access_denied"));
    ck_assert_int_eq(x_code_parse("http://127.0.0.1/callback?state=ab", &code,
                                  &state, err, sizeof(err)),
                     UV_EINVAL);
    ck_assert_int_eq(x_code_parse("", &code, &state, err, sizeof(err)),
                     UV_EINVAL);
}
END_TEST

/* ---- the budget ---------------------------------------------------------- */

#define DAY 86400000LL

START_TEST(budget)
{
    struct x_budget b;
    memset(&b, 0, sizeof(b));
    b.max_requests_day = 100;
    /* 2026-05-02T12:00:00Z */
    int64_t noon = 1777723200000LL;
    x_budget_roll(&b, noon);
    bool low;
    /* 100 requests over 12 hours, 2 a poll: every 864 s */
    ck_assert_int_eq(x_budget_interval(&b, noon, 60000, 2, 1, &low), 864000);
    ck_assert(low);
    ck_assert_int_eq(x_budget_interval(&b, noon, 900000, 2, 1, &low), 900000);
    ck_assert(!low);
    b.requests_today = 99;
    ck_assert_int_eq(x_budget_interval(&b, noon, 60000, 2, 1, &low), -1);
    ck_assert_int_eq(x_budget_reset_ms(&b, noon), noon + DAY / 2);
    /* a new day starts afresh; the saved state comes back */
    x_budget_roll(&b, noon + DAY);
    ck_assert_int_eq(b.requests_today, 0);
    b.requests_today = 7;
    b.posts_month = 70;
    b.max_posts_month = 70;
    char *js = x_budget_save(&b);
    struct x_budget c;
    memset(&c, 0, sizeof(c));
    x_budget_load(&c, js);
    free(js);
    ck_assert_int_eq(c.requests_today, 7);
    ck_assert_int_eq(c.posts_month, 70);
    ck_assert_int_eq(c.day, b.day);
    /* the month's posts are spent: back on June 1st */
    ck_assert_int_eq(x_budget_interval(&b, noon + DAY, 60000, 2, 1, &low), -1);
    ck_assert_int_eq(x_budget_reset_ms(&b, noon + DAY), 1780272000000LL);
    x_budget_roll(&b, 1780272000000LL);
    ck_assert_int_eq(b.posts_month, 0);
    x_budget_load(&c, "not json");
    ck_assert_int_eq(c.requests_today, 0);
    /* the window's pace: 300 left in 15 minutes keeps one back */
    ck_assert_int_eq(x_ratelimit_interval(301, noon + 900000, noon), 3000);
    ck_assert_int_eq(x_ratelimit_interval(0, noon + 5000, noon), 5000);
    ck_assert_int_eq(x_ratelimit_interval(-1, 0, noon), 0);
}
END_TEST

START_TEST(lines)
{
    cJSON *page = load("mentions.json");
    char **l = NULL;
    int n = x_thread_lines(page, &ME, &l);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(l[0], "@alice: is the bridge up? https://example.org/a "
                           "& more");
    x_lines_free(l, n);
    cJSON_Delete(page);
    cJSON *u = cJSON_Parse(
        "{\"data\":{\"id\":\"1\",\"username\":\"alice\",\"name\":\"Alice\\n"
        "A\",\"description\":\"bio\",\"public_metrics\":{\"tweet_count\":5,"
        "\"followers_count\":6,\"following_count\":7}}}");
    n = x_who_lines(u, &l);
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(l[0], "Alice A (@alice), https://x.com/alice");
    ck_assert_str_eq(l[1], "5 posts, 6 followers, 7 following");
    x_lines_free(l, n);
    cJSON_Delete(u);
    u = cJSON_Parse("{\"errors\":[{\"title\":\"Not Found Error\"}]}");
    ck_assert_int_eq(x_who_lines(u, &l), UV_EINVAL);
    cJSON_Delete(u);
}
END_TEST

static Suite *x_suite(void)
{
    Suite *s = suite_create("x");
    TCase *tc = tcase_create("x");
    tcase_add_test(tc, weighted_length_table);
    tcase_add_test(tc, length_limit);
    tcase_add_test(tc, ids);
    tcase_add_test(tc, mention_reply_quote);
    tcase_add_test(tc, partial_errors);
    tcase_add_test(tc, hostile);
    tcase_add_test(tc, dm_events);
    tcase_add_test(tc, compose_actions);
    tcase_add_test(tc, find_own);
    tcase_add_test(tc, problems);
    tcase_add_test(tc, oauth);
    tcase_add_test(tc, budget);
    tcase_add_test(tc, lines);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(x_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
