/*
 * The Bluesky adapter's pure parts against JSON recorded from the reference
 * servers (tests/fixtures/bluesky: listNotifications, getPostThread,
 * getProfile, a DID document and a session from @atproto/dev-env) and made
 * by hand from the lexicons (embeds, the chat log, hostile notifications):
 * events, facets both ways, record keys, records, lengths, tokens, errors,
 * the lines of !thread and !who, settings.
 */
#include "bluesky.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "gw_json.h"
#include "gw_util.h"

#define ALICE "did:plc:ragtjsm2j2vknwkz3zp4oxrd"

/* ---- fixtures ----------------------------------------------------------- */

static cJSON *fixture(const char *name)
{
    const char *dirs[] = {getenv("PARLEY_FIXTURES"), "tests/fixtures/bluesky",
                          "../../tests/fixtures/bluesky"};
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        if (dirs[i] == NULL)
            continue;
        char *path = gw_xasprintf("%s/%s", dirs[i], name);
        FILE *f = fopen(path, "rb");
        free(path);
        if (f == NULL)
            continue;
        struct gw_buf b;
        gw_buf_init(&b, 4 * 1024 * 1024);
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
            ck_assert_int_eq(gw_buf_append(&b, chunk, n), 0);
        fclose(f);
        cJSON *j = cJSON_ParseWithLength(b.data, b.len);
        gw_buf_free(&b);
        ck_assert_msg(j != NULL, "fixture %s is not JSON", name);
        return j;
    }
    ck_abort_msg("fixture %s not found", name);
    return NULL;
}

static const cJSON *nth(const cJSON *j, const char *arr, int i)
{
    const cJSON *it = cJSON_GetArrayItem(gw_json_arr(j, arr), i);
    ck_assert_ptr_nonnull(it);
    return it;
}

/* ---- notifications ------------------------------------------------------ */

START_TEST(test_recorded_notifications)
{
    cJSON *j = fixture("list_notifications.json");
    const enum gw_event_kind want[] = {
        GW_EV_FOLLOW, GW_EV_BOOST,   GW_EV_FAV,    GW_EV_MENTION,
        GW_EV_QUOTE,  GW_EV_MENTION, GW_EV_MENTION};
    const char *mine = NULL;
    for (int i = 0; i < 7; i++) {
        const cJSON *n = nth(j, "notifications", i);
        struct bluesky_event e;
        ck_assert_int_eq(bluesky_notification_to_event(n, NULL, &e), 0);
        ck_assert_int_eq(e.ev.kind, want[i]);
        ck_assert_str_eq(e.ev.author, "bob2.test");
        ck_assert_str_eq(e.ev.author_id,
                         gw_json_str(gw_json_obj(n, "author"), "did"));
        ck_assert_str_eq(e.ev.id, gw_json_str(n, "uri"));
        ck_assert_str_eq(e.ev.author_url, "https://bsky.app/profile/bob2.test");
        ck_assert_int_gt(e.ev.created_ms, 0);
        if (e.ev.kind == GW_EV_FAV || e.ev.kind == GW_EV_BOOST) {
            ck_assert_str_eq(e.ev.target_id, gw_json_str(n, "reasonSubject"));
            mine = gw_json_str(n, "reasonSubject");
        }
        bluesky_event_free(&e);
    }
    /* The reply to my post: refs for an answer, the thread's root. */
    struct bluesky_event e;
    ck_assert_int_eq(
        bluesky_notification_to_event(nth(j, "notifications", 5), NULL, &e), 0);
    ck_assert_str_eq(e.ev.text, "@alice1.test replying to you");
    ck_assert_str_eq(e.ev.in_reply_to, mine);
    ck_assert_str_eq(e.ev.conversation, mine);
    cJSON *x = cJSON_Parse(e.ev.extra);
    ck_assert_str_eq(gw_json_str(x, "uri"), e.ev.id);
    ck_assert_str_eq(gw_json_str(x, "root_uri"), mine);
    ck_assert_ptr_nonnull(gw_json_str(x, "cid"));
    ck_assert_ptr_nonnull(gw_json_str(x, "root_cid"));
    cJSON_Delete(x);
    ck_assert(strncmp(e.ev.url, "https://bsky.app/profile/did:plc:", 33) == 0);
    bluesky_event_free(&e);
    /* A quote shows what it quotes as a link; an external embed as one. */
    ck_assert_int_eq(
        bluesky_notification_to_event(nth(j, "notifications", 4), NULL, &e), 0);
    ck_assert_ptr_nonnull(strstr(e.ev.text,
                                 "quoting you\n[quote] "
                                 "https://bsky.app/profile/did:plc:"));
    bluesky_event_free(&e);
    ck_assert_int_eq(
        bluesky_notification_to_event(nth(j, "notifications", 3), NULL, &e), 0);
    ck_assert_str_eq(e.ev.text, "pictures @alice1.test\n[link: An article] "
                                "https://example.com/article");
    ck_assert_ptr_null(e.ev.in_reply_to);
    ck_assert_str_eq(e.ev.conversation, e.ev.id);
    bluesky_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_hostile_notifications)
{
    cJSON *j = fixture("hostile_notifications.json");
    const cJSON *n;
    int seen = 0;
    cJSON_ArrayForEach(n, gw_json_arr(j, "notifications"))
    {
        const char *expect = gw_json_str(n, "expect");
        const char *why = gw_json_str(n, "why");
        struct bluesky_event e;
        int rc = bluesky_notification_to_event(n, NULL, &e);
        if (strcmp(expect, "EINVAL") == 0)
            ck_assert_msg(rc == UV_EINVAL, "%s: %d", why, rc);
        else if (strcmp(expect, "IGNORED") == 0)
            ck_assert_msg(rc == BLUESKY_IGNORED, "%s: %d", why, rc);
        else
            ck_assert_msg(rc == 0, "%s: %d", why, rc);
        if (rc == 0) {
            /* Kept: the good link, the text; dropped: every bad facet and
             * the control characters; and it says so. */
            ck_assert_str_eq(e.ev.text, "h\xC3\xA9llo world see "
                                        "https://example.com/full\n"
                                        "[7 malformed facets ignored]");
            ck_assert_int_eq(e.bad_facets, 7);
            ck_assert_str_eq(e.ev.author, "alice.bsky.social");
            ck_assert_str_eq(e.ev.author_name, "Alice");
        }
        bluesky_event_free(&e);
        seen++;
    }
    ck_assert_int_eq(seen, 9);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_embeds)
{
    cJSON *j = fixture("embeds.json");
    struct bluesky_event e;
    memset(&e, 0, sizeof(e));
    /* With the CDN: images are media with their alt text. */
    char *t = bluesky_render_post(gw_json_obj(j, "images"), ALICE,
                                  "https://cdn.bsky.app", &e);
    ck_assert_str_eq(t, "two pictures");
    ck_assert_int_eq(e.ev.nmedia, 2);
    ck_assert_str_eq(e.ev.media[0].url,
                     "https://cdn.bsky.app/img/feed_fullsize/plain/" ALICE
                     "/bafkreiabc123@jpeg");
    ck_assert_str_eq(e.ev.media[0].alt, "a cat on a mat");
    ck_assert_ptr_null(e.ev.media[1].alt);
    free(t);
    bluesky_event_free(&e);
    /* Without it (another AppView): lines of text. */
    t = bluesky_render_post(gw_json_obj(j, "images"), ALICE, NULL, NULL);
    ck_assert_str_eq(t, "two pictures\n[image: a cat on a mat]\n[image]");
    free(t);
    t = bluesky_render_post(gw_json_obj(j, "video"), ALICE, NULL, NULL);
    ck_assert_str_eq(t, "a clip\n[video: waves]");
    free(t);
    t = bluesky_render_post(gw_json_obj(j, "external"), ALICE, NULL, NULL);
    ck_assert_str_eq(t, "read this\n[link: An article] "
                        "https://example.com/article");
    free(t);
    t = bluesky_render_post(gw_json_obj(j, "record_with_media"), ALICE, NULL,
                            NULL);
    ck_assert_str_eq(t, "look\n[quote] https://bsky.app/profile/" ALICE
                        "/post/3lbzbqj2mz22k\n[image: chart]");
    free(t);
    /* No record at all: empty, never NULL. */
    t = bluesky_render_post(NULL, NULL, NULL, NULL);
    ck_assert_str_eq(t, "");
    free(t);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_chat_messages)
{
    cJSON *j = fixture("chat_log.json");
    const cJSON *msg = gw_json_obj(nth(j, "logs", 1), "message");
    struct bluesky_event e;
    ck_assert_int_eq(
        bluesky_message_to_event(msg, "3ksrqt7eebs2b", "Alice.bsky.social", &e),
        0);
    ck_assert_int_eq(e.ev.kind, GW_EV_DM);
    ck_assert_str_eq(e.ev.id, "3ksrqt7eebs2b/3lbzc4m2gyc2a");
    ck_assert_str_eq(e.ev.author, "alice.bsky.social");
    ck_assert_str_eq(e.ev.author_id, ALICE);
    ck_assert_str_eq(e.ev.text, "ping me on IRC https://ex.am/ple?full=1");
    ck_assert_str_eq(e.ev.conversation, "3ksrqt7eebs2b");
    ck_assert_int_eq(e.ev.audience, GW_AUD_MENTIONED);
    cJSON *x = cJSON_Parse(e.ev.extra);
    ck_assert_str_eq(gw_json_str(x, "convo"), "3ksrqt7eebs2b");
    cJSON_Delete(x);
    bluesky_event_free(&e);
    /* No handle known: the DID stands in. */
    ck_assert_int_eq(bluesky_message_to_event(msg, "c", NULL, &e), 0);
    ck_assert_str_eq(e.ev.author, ALICE);
    bluesky_event_free(&e);
    /* Deleted: not shown; without a convo or a sender: refused. */
    ck_assert_int_eq(
        bluesky_message_to_event(gw_json_obj(nth(j, "logs", 2), "message"), "c",
                                 NULL, &e),
        BLUESKY_IGNORED);
    bluesky_event_free(&e);
    ck_assert_int_eq(bluesky_message_to_event(msg, NULL, NULL, &e), UV_EINVAL);
    bluesky_event_free(&e);
    ck_assert_int_eq(bluesky_message_to_event(nth(j, "logs", 0), "c", NULL, &e),
                     UV_EINVAL);
    bluesky_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

/* ---- identity and sessions ---------------------------------------------- */

START_TEST(test_did_documents)
{
    cJSON *doc = fixture("did_doc.json");
    const char *did = gw_json_str(doc, "id");
    char *pds = bluesky_pds_endpoint(doc, did);
    ck_assert(strncmp(pds, "http://localhost:", 17) == 0);
    free(pds);
    /* Someone else's document is not ours. */
    ck_assert_ptr_null(bluesky_pds_endpoint(doc, ALICE));
    cJSON *svc = cJSON_GetArrayItem(gw_json_arr(doc, "service"), 0);
    cJSON_ReplaceItemInObject(svc, "serviceEndpoint",
                              cJSON_CreateString("https://pds.example/"));
    pds = bluesky_pds_endpoint(doc, did);
    ck_assert_str_eq(pds, "https://pds.example");
    free(pds);
    cJSON_ReplaceItemInObject(svc, "serviceEndpoint",
                              cJSON_CreateString("javascript:alert(1)"));
    ck_assert_ptr_null(bluesky_pds_endpoint(doc, did));
    cJSON_ReplaceItemInObject(svc, "serviceEndpoint",
                              cJSON_CreateString("https://pds.example"));
    cJSON_ReplaceItemInObject(svc, "type", cJSON_CreateString("Other"));
    ck_assert_ptr_null(bluesky_pds_endpoint(doc, did));
    ck_assert_ptr_null(bluesky_pds_endpoint(NULL, did));
    cJSON_Delete(doc);
}
END_TEST

START_TEST(test_session_tokens)
{
    cJSON *s = fixture("create_session.json");
    int64_t iat, exp;
    ck_assert_int_eq(bluesky_jwt_times(gw_json_str(s, "accessJwt"), &iat, &exp),
                     0);
    ck_assert_int_eq(exp - iat, 7200); /* the reference PDS: two hours */
    ck_assert_int_eq(bluesky_refresh_in_ms(iat, exp), (7200 - 600) * 1000);
    ck_assert_int_eq(
        bluesky_jwt_times(gw_json_str(s, "refreshJwt"), &iat, &exp), 0);
    ck_assert_int_eq(exp - iat, 90 * 86400);
    /* Short lives: a quarter before, at least a minute, never below 30 s. */
    ck_assert_int_eq(bluesky_refresh_in_ms(1000, 1400), 300 * 1000);
    ck_assert_int_eq(bluesky_refresh_in_ms(1000, 1060), 30 * 1000);
    /* No iat: two hours assumed. */
    ck_assert_int_eq(bluesky_refresh_in_ms(0, 5000), (7200 - 600) * 1000);
    const char *bad[] = {
        NULL, "", "abc", "a.b", "a.!!!.c", "a.bnVsbA.c", "a.eyJleHAiOiJ4In0.c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bluesky_jwt_times(bad[i], &iat, &exp) == UV_EINVAL, "%s",
                      bad[i] ? bad[i] : "NULL");
    cJSON_Delete(s);
}
END_TEST

START_TEST(test_identifiers)
{
    ck_assert(bluesky_handle_valid("alice.bsky.social"));
    ck_assert(bluesky_handle_valid("@alice.test"));
    ck_assert(bluesky_handle_valid("x-1.y"));
    const char *bad[] = {NULL,       "",        "alice",        "alice.",
                         ".alice.b", "a..b",    "-a.b",         "a-.b",
                         "a b.c",    "a\r\n.c", "\xC3\xA9.com", "a_b.c"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(!bluesky_handle_valid(bad[i]), "%zu", i);
    ck_assert(bluesky_did_valid(ALICE));
    ck_assert(bluesky_did_valid("did:web:example.com"));
    ck_assert(!bluesky_did_valid("did:plc:short"));
    ck_assert(!bluesky_did_valid("did:plc:RAGTJSM2J2VKNWKZ3ZP4OXRD"));
    ck_assert(!bluesky_did_valid("did:web:a/b"));
    ck_assert(!bluesky_did_valid("did:key:z6Mk"));
    char d[256], c[256], k[256];
    ck_assert_int_eq(bluesky_at_uri("at://" ALICE
                                    "/app.bsky.feed.post/3lbzbqj2mz22k",
                                    d, c, k),
                     0);
    ck_assert_str_eq(d, ALICE);
    ck_assert_str_eq(c, "app.bsky.feed.post");
    ck_assert_str_eq(k, "3lbzbqj2mz22k");
    ck_assert_int_eq(bluesky_at_uri("https://x/y/z", d, c, k), UV_EINVAL);
    ck_assert_int_eq(bluesky_at_uri("at://" ALICE "/a.b", d, c, k), UV_EINVAL);
    ck_assert_int_eq(bluesky_at_uri("at://" ALICE "/a.b/c/d", d, c, k),
                     UV_EINVAL);
    ck_assert_int_eq(bluesky_at_uri("at://did:x:y/a.b/c", d, c, k), UV_EINVAL);
    ck_assert_int_eq(bluesky_at_uri("at://" ALICE "/a.b/c d", d, c, k),
                     UV_EINVAL);
    char *u = bluesky_post_url("at://" ALICE "/app.bsky.feed.post/3k");
    ck_assert_str_eq(u, "https://bsky.app/profile/" ALICE "/post/3k");
    free(u);
    ck_assert_ptr_null(bluesky_post_url("at://" ALICE "/app.bsky.feed.like/3"));
}
END_TEST

/* ---- record keys -------------------------------------------------------- */

START_TEST(test_tids)
{
    char a[14], b[14];
    bluesky_tid(0, 0, a);
    ck_assert_str_eq(a, "2222222222222");
    /* Sortable as strings, as the spec wants. */
    bluesky_tid(INT64_C(1700000000000000), 5, a);
    bluesky_tid(INT64_C(1700000000000001), 0, b);
    ck_assert_int_eq(strlen(a), 13);
    ck_assert_int_lt(strcmp(a, b), 0);
    ck_assert_int_lt(bluesky_rev_cmp(a, b), 0);
    ck_assert(a[0] >= '2' && a[0] <= 'j');
    /* One outbox item, one key, on every attempt; another item, another. */
    bluesky_tid_for(INT64_C(1796311569000), "0123abcd", a);
    bluesky_tid_for(INT64_C(1796311569000), "0123abcd", b);
    ck_assert_str_eq(a, b);
    bluesky_tid_for(INT64_C(1796311569000), "0123abce", b);
    ck_assert_str_ne(a, b);
    ck_assert_int_eq(bluesky_rev_cmp("3lb", "3lbz"), -1);
    ck_assert_int_eq(bluesky_rev_cmp("3lbz", "3lbz"), 0);
    ck_assert_int_eq(bluesky_rev_cmp(NULL, "3"), -1);
}
END_TEST

/* ---- facets out --------------------------------------------------------- */

START_TEST(test_facets_found)
{
    const char *text = "\xF0\x9F\x8E\x89 hi @Alice.test and (@bob.bsky.social)"
                       ", mail a@b.com https://example.com/x. see "
                       "(https://w.org/a_(b)) @nodot @end.test.";
    struct bluesky_facet *f = NULL;
    int n = bluesky_facets_find(text, &f);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(f[0].kind, BLUESKY_FACET_MENTION);
    ck_assert_str_eq(f[0].value, "alice.test");
    ck_assert_int_eq(f[0].start, 8); /* after 4 bytes of emoji and " hi " */
    ck_assert_int_eq(f[0].end, 19);
    ck_assert_str_eq(f[1].value, "bob.bsky.social");
    ck_assert_int_eq(text[f[1].start], '@');
    ck_assert_int_eq(f[2].kind, BLUESKY_FACET_LINK);
    ck_assert_str_eq(f[2].value, "https://example.com/x");
    ck_assert_str_eq(f[3].value, "https://w.org/a_(b)");
    ck_assert_str_eq(f[4].value, "end.test");
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(
            memcmp(text + f[i].start + (f[i].kind == BLUESKY_FACET_MENTION),
                   f[i].value, strlen(f[i].value)) == 0 ||
                f[i].kind == BLUESKY_FACET_MENTION,
            1);
    bluesky_facets_free(f, n);
    ck_assert_int_eq(bluesky_facets_find("", &f), 0);
    ck_assert_ptr_null(f);
    ck_assert_int_eq(bluesky_facets_find(NULL, &f), 0);
}
END_TEST

START_TEST(test_records)
{
    struct bluesky_facet *f = NULL;
    const char *text = "thanks @bob.test https://example.com/s";
    int n = bluesky_facets_find(text, &f);
    ck_assert_int_eq(n, 2);
    /* An unresolved mention gets no facet; a resolved one its DID. */
    cJSON *rec = bluesky_post_record(text, INT64_C(1796311569123), f, n, NULL);
    ck_assert_int_eq(cJSON_GetArraySize(gw_json_arr(rec, "facets")), 1);
    cJSON_Delete(rec);
    f[0].did = gw_xstrdup(ALICE);
    struct bluesky_reply_refs refs = {"at://p", "cidp", NULL, NULL};
    rec = bluesky_post_record(text, INT64_C(1796311569123), f, n, &refs);
    ck_assert_str_eq(gw_json_str(rec, "$type"), "app.bsky.feed.post");
    ck_assert_str_eq(gw_json_str(rec, "text"), text);
    ck_assert_str_eq(gw_json_str(rec, "createdAt"), "2026-12-03T15:26:09.123Z");
    const cJSON *m = nth(rec, "facets", 0);
    ck_assert_int_eq(
        gw_json_long(gw_json_obj(m, "index"), "byteStart", -1, 0, 9999), 7);
    ck_assert_int_eq(
        gw_json_long(gw_json_obj(m, "index"), "byteEnd", -1, 0, 9999), 16);
    ck_assert_str_eq(gw_json_str(nth(m, "features", 0), "did"), ALICE);
    ck_assert_str_eq(gw_json_str(nth(m, "features", 0), "$type"),
                     "app.bsky.richtext.facet#mention");
    const cJSON *l = nth(rec, "facets", 1);
    ck_assert_str_eq(gw_json_str(nth(l, "features", 0), "uri"),
                     "https://example.com/s");
    /* No root known: the parent is the root. */
    const cJSON *reply = gw_json_obj(rec, "reply");
    ck_assert_str_eq(gw_json_str(gw_json_obj(reply, "root"), "uri"), "at://p");
    ck_assert_str_eq(gw_json_str(gw_json_obj(reply, "parent"), "cid"), "cidp");
    cJSON_Delete(rec);
    struct bluesky_reply_refs deep = {"at://p", "cidp", "at://r", "cidr"};
    rec = bluesky_post_record("x", 0, NULL, 0, &deep);
    reply = gw_json_obj(rec, "reply");
    ck_assert_str_eq(gw_json_str(gw_json_obj(reply, "root"), "cid"), "cidr");
    ck_assert_ptr_null(gw_json_get(rec, "facets"));
    cJSON_Delete(rec);
    cJSON *msg = bluesky_message_input(text, f, n);
    ck_assert_str_eq(gw_json_str(msg, "text"), text);
    ck_assert_int_eq(cJSON_GetArraySize(gw_json_arr(msg, "facets")), 2);
    cJSON_Delete(msg);
    bluesky_facets_free(f, n);
}
END_TEST

/* 300 graphemes of emoji sequences, flags and combining marks pass; one
 * more does not; bytes are limited too. */
START_TEST(test_lengths)
{
    const char *units[] = {
        "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91"
        "\xA7",                             /* family: 5 code points */
        "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7", /* a flag */
        "e\xCC\x81",                        /* e + combining acute */
        "\xF0\x9F\x91\x8D\xF0\x9F\x8F\xBD", /* thumbs up, skin tone */
        "\xEA\xB0\x80",                     /* Hangul syllable */
        "x"};
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    for (int i = 0; i < 300; i++)
        gw_buf_puts(&b, units[i % 6]);
    char err[128] = "";
    ck_assert_int_eq(bluesky_check_length(b.data, 300, 3000, err, sizeof(err)),
                     0);
    gw_buf_puts(&b, "!");
    ck_assert_int_eq(bluesky_check_length(b.data, 300, 3000, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_str_eq(err, "too long: 301 graphemes, Bluesky allows 300");
    gw_buf_reset(&b);
    for (int i = 0; i < 200; i++)
        gw_buf_puts(&b, units[0]);
    ck_assert_int_eq(bluesky_check_length(b.data, 300, 3000, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_str_eq(err, "too long: 3600 bytes, Bluesky allows 3000");
    gw_buf_free(&b);
    ck_assert_int_eq(bluesky_check_length(NULL, 300, 3000, err, sizeof(err)),
                     0);
}
END_TEST

/* ---- answers ------------------------------------------------------------ */

static struct gw_http_response resp(long status, const char *body)
{
    struct gw_http_response r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.body = body;
    r.body_len = strlen(body);
    r.retry_after_s = -1;
    r.ratelimit_remaining = -1;
    return r;
}

START_TEST(test_errors)
{
    cJSON *j = fixture("error_invalid_record.json");
    char *body = cJSON_PrintUnformatted(j);
    struct gw_http_response r = resp(400, body);
    char *t = bluesky_error_text(&r);
    ck_assert_str_eq(t, "InvalidRequest: Invalid app.bsky.feed.post record: "
                        "Expected string value type (got 1) at "
                        "$.record.text");
    free(t);
    char name[64];
    ck_assert_str_eq(bluesky_error_name(&r, name, sizeof(name)),
                     "InvalidRequest");
    ck_assert_int_eq(bluesky_map_status(&r), GW_ACT_FAILED);
    cJSON_free(body);
    cJSON_Delete(j);
    r = resp(400, "{\"error\":\"ExpiredToken\",\"message\":\"Token has "
                  "expired\"}");
    ck_assert_str_eq(bluesky_error_name(&r, name, sizeof(name)),
                     "ExpiredToken");
    r = resp(502, "<html>bad gateway\r\nQUIT</html>");
    t = bluesky_error_text(&r);
    ck_assert_str_eq(t, "HTTP 502");
    free(t);
    ck_assert_ptr_null(bluesky_error_name(&r, name, sizeof(name)));
    ck_assert_int_eq(bluesky_map_status(&r), GW_ACT_RETRY);
    r = resp(429, "{}");
    ck_assert_int_eq(bluesky_map_status(&r), GW_ACT_RETRY);
    r = resp(200, "{}");
    ck_assert_int_eq(bluesky_map_status(&r), GW_ACT_OK);
    r = resp(0, "");
    r.error = UV_ETIMEDOUT;
    r.errmsg = "Operation timed out";
    ck_assert_int_eq(bluesky_map_status(&r), GW_ACT_RETRY);
    t = bluesky_error_text(&r);
    ck_assert_str_eq(t, "Operation timed out");
    free(t);
    r = resp(400, "{\"error\":\"Bad\\r\\nName\",\"message\":\"m\"}");
    ck_assert_ptr_null(bluesky_error_name(&r, name, sizeof(name)));
}
END_TEST

/* ---- lines -------------------------------------------------------------- */

START_TEST(test_thread_and_who_lines)
{
    cJSON *j = fixture("thread.json");
    char **lines = NULL;
    int n = bluesky_thread_lines(gw_json_obj(j, "thread"), &lines);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(lines[0], "alice1.test: my own post");
    ck_assert_str_eq(lines[1], "> bob2.test: @alice1.test replying to you");
    bluesky_lines_free(lines, n);
    ck_assert_int_eq(bluesky_thread_lines(NULL, &lines), UV_EINVAL);
    cJSON_Delete(j);
    j = fixture("profile.json");
    n = bluesky_who_lines(j, &lines);
    ck_assert_int_ge(n, 3);
    ck_assert_str_eq(lines[0], "@bob2.test did:plc:oz5m3w2zuih3ng7vbp2oomxv");
    ck_assert_str_eq(lines[1], "https://bsky.app/profile/bob2.test");
    ck_assert_ptr_nonnull(strstr(lines[2], "4 posts"));
    bluesky_lines_free(lines, n);
    cJSON_ReplaceItemInObject(j, "handle", cJSON_CreateString("bad handle"));
    ck_assert_int_eq(bluesky_who_lines(j, &lines), UV_EINVAL);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_ops_and_settings)
{
    ck_assert_int_eq(bluesky_ops.abi_version, GW_ADAPTER_ABI);
    ck_assert_str_eq(bluesky_ops.name, "bluesky");
    /* Replies thread by refs: the core adds no @mentions. */
    ck_assert(!(bluesky_ops.caps & GW_NET_MENTION_REPLIES));
    for (int k = GW_ACT_POST; k < GW_ACT_KIND_MAX; k++)
        ck_assert_msg(bluesky_ops.actions & GW_ACT_BIT(k), "action %d", k);
    ck_assert_str_eq(bluesky_ops.commands[0].name, "accept");
    ck_assert(bluesky_ops.commands[0].person);
    const char *want[] = {"handle",  "app_password", "service",
                          "plc_url", "appview",      "chat_url"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (const char *const *k = bluesky_ops.keys; *k != NULL; k++)
            found = found || strcmp(*k, want[i]) == 0;
        ck_assert_msg(found, "key %s", want[i]);
    }
    char err[200];
    const char *good[][2] = {{"handle", "alice.bsky.social"},
                             {"handle", ALICE},
                             {"app_password", "abcd-efgh-ijkl-mnop"},
                             {"service", "https://bsky.social"},
                             {"plc_url", "http://127.0.0.1:2582/"},
                             {"appview", "https://api.bsky.app"},
                             {"poll_seconds", "1"}};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(bluesky_ops.check_setting(good[i][0], good[i][1], err,
                                                sizeof(err)) == 0,
                      "%s=%s", good[i][0], good[i][1]);
    const char *bad[][2] = {
        {"handle", "alice"},           {"handle", "@me@mastodon.social"},
        {"app_password", "two words"}, {"app_password", ""},
        {"service", "ftp://x"},        {"service", "https://"},
        {"plc_url", "https://x/?q"},   {"poll_seconds", "0"}};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(bluesky_ops.check_setting(bad[i][0], bad[i][1], err,
                                                sizeof(err)) == UV_EINVAL,
                      "%s=%s", bad[i][0], bad[i][1]);
        ck_assert(err[0] != '\0');
    }
}
END_TEST

static Suite *bluesky_suite(void)
{
    Suite *s = suite_create("bluesky");
    TCase *in = tcase_create("in");
    tcase_add_test(in, test_recorded_notifications);
    tcase_add_test(in, test_hostile_notifications);
    tcase_add_test(in, test_embeds);
    tcase_add_test(in, test_chat_messages);
    tcase_add_test(in, test_did_documents);
    tcase_add_test(in, test_session_tokens);
    tcase_add_test(in, test_identifiers);
    suite_add_tcase(s, in);
    TCase *out = tcase_create("out");
    tcase_add_test(out, test_tids);
    tcase_add_test(out, test_facets_found);
    tcase_add_test(out, test_records);
    tcase_add_test(out, test_lengths);
    tcase_add_test(out, test_errors);
    tcase_add_test(out, test_thread_and_who_lines);
    tcase_add_test(out, test_ops_and_settings);
    suite_add_tcase(s, out);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(bluesky_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
