/*
 * The Meta adapters' pure parts against JSON written from Meta's
 * references (tests/fixtures/meta/): Page and Instagram comments from REST
 * and webhooks, mentions, messages, Graph errors, usage headers, what
 * actions become, text limits, the messaging window, the login URL, and
 * hostile or malformed input.
 */
#include "meta.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "gw_util.h"

static const struct meta_me FB = {META_FACEBOOK, "106295678901234",
                                  "Parley Shop"};
static const struct meta_me IG = {META_INSTAGRAM, "17841405309211844",
                                  "parleyshop"};

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ck_assert_int_eq(gw_buf_append(&b, chunk, n), 0);
    fclose(f);
    return b.data != NULL ? gw_buf_steal(&b) : gw_xstrdup("");
}

static cJSON *fixture(const char *name)
{
    const char *dirs[] = {getenv("PARLEY_FIXTURES"), "tests/fixtures/meta",
                          "../../tests/fixtures/meta"};
    for (size_t i = 0; i < GW_ARRAY_LEN(dirs); i++) {
        if (dirs[i] == NULL)
            continue;
        char *path = gw_xasprintf("%s/%s", dirs[i], name);
        char *text = slurp(path);
        free(path);
        if (text == NULL)
            continue;
        cJSON *j = cJSON_Parse(text);
        free(text);
        ck_assert_msg(j != NULL, "fixture %s is not JSON", name);
        return j;
    }
    ck_abort_msg("fixture %s not found", name);
    return NULL;
}

static const cJSON *item(const cJSON *j, const char *arr, int i)
{
    return cJSON_GetArrayItem(cJSON_GetObjectItem(j, arr), i);
}

static const cJSON *change(const cJSON *hook, int i)
{
    return cJSON_GetArrayItem(
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(cJSON_GetObjectItem(hook, "entry"), 0),
            "changes"),
        i);
}

/* No control byte, no IRC formatting; a text may keep '\n', which the
 * core turns into a line of its own (never a raw IRC line). */
static void assert_clean_text(const char *s, bool newlines)
{
    for (const char *p = s; p != NULL && *p != '\0'; p++)
        ck_assert_msg(((unsigned char)*p >= 0x20 && *p != 0x7f) ||
                          (newlines && *p == '\n'),
                      "control byte in '%s'", s);
}

static void assert_clean(const char *s)
{
    assert_clean_text(s, false);
}

START_TEST(test_fb_comments)
{
    cJSON *j = fixture("fb_comments.json");
    const char *post = "106295678901234_1234567890";
    struct meta_event e;

    ck_assert_int_eq(meta_fb_comment(item(j, "data", 0), post, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_REPLY);
    ck_assert_str_eq(e.ev.id, "1234567890_1111111111111111");
    ck_assert_str_eq(e.ev.author_id, "6789012345678901");
    ck_assert_str_eq(e.ev.author, "Alice Example");
    ck_assert_str_eq(e.ev.in_reply_to, post);
    ck_assert_str_eq(e.ev.conversation, post);
    ck_assert_int_eq(e.ev.created_ms, 1795635600000LL);
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "\"s\":\"fb_comment\""));
    meta_event_free(&e);

    /* A reply names its parent comment; "+0100" is an offset. */
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 1), post, &FB, &e), 0);
    ck_assert_str_eq(e.ev.in_reply_to, "1234567890_1111111111111111");
    ck_assert_int_eq(e.ev.created_ms, 1795635930000LL - 3600000LL);
    meta_event_free(&e);

    /* The Page's own comment. */
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 2), post, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_OWN);
    meta_event_free(&e);

    /* A sticker: nothing to show but where to see it. */
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 3), post, &FB, &e), 0);
    ck_assert_str_eq(e.ev.text, "[sticker: see https://www.facebook.com/"
                                "106295678901234_1234567890?comment_id="
                                "4444444444444444]");
    meta_event_free(&e);

    /* A photo comes as media; no "from" still makes a person. */
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 4), post, &FB, &e), 0);
    ck_assert_int_eq(e.ev.nmedia, 1);
    ck_assert_str_eq(e.ev.media[0].url, "https://scontent.example/p.jpg");
    ck_assert_str_eq(e.ev.author, "someone");
    ck_assert_str_eq(e.ev.author_id, "1234567890_5555555555555555");
    meta_event_free(&e);

    /* An id that is a JSON number is refused (it would not survive). */
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 5), post, &FB, &e),
                     UV_EINVAL);
    meta_event_free(&e);

    /* Hostile text: no line breaks, no formatting, no NUL. */
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 6), post, &FB, &e), 0);
    assert_clean_text(e.ev.text, true);
    assert_clean(e.ev.author);
    ck_assert_int_eq(e.ev.created_ms, 0);
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_comment(NULL, post, &FB, &e), UV_EINVAL);
    meta_event_free(&e);
    ck_assert_int_eq(meta_fb_comment(item(j, "data", 0), "bad post!", &FB, &e),
                     UV_EINVAL);
    meta_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_fb_hook)
{
    cJSON *j = fixture("fb_feed_hook.json");
    struct meta_event e;
    int64_t t = 1764099600;

    ck_assert_int_eq(meta_fb_change(change(j, 0), t, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_REPLY);
    ck_assert_str_eq(e.ev.id, "1234567890_8888888888888888");
    /* parent_id is the post for a top-level comment. */
    ck_assert_str_eq(e.ev.in_reply_to, "106295678901234_1234567890");
    ck_assert_str_eq(e.ev.text, "Love it!");
    ck_assert_str_eq(e.ev.url, "https://www.facebook.com/"
                               "106295678901234_1234567890");
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 1), t, &FB, &e), 0);
    ck_assert_str_eq(e.ev.in_reply_to, "1234567890_8888888888888888");
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 2), t, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_EDIT);
    ck_assert_str_eq(e.ev.text, "replying, fixed");
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 3), t, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_DELETE);
    ck_assert_str_eq(e.ev.id, "1234567890_9999999999999999");
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 4), t, &FB, &e), META_IGNORED);
    meta_event_free(&e);

    /* A visitor's post on the Page addresses it. */
    ck_assert_int_eq(meta_fb_change(change(j, 5), t, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.author, "Visitor");
    ck_assert_int_eq(e.ev.created_ms, 1764099800000LL);
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 6), t, &FB, &e), META_IGNORED);
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 7), t, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.id, "444_555");
    ck_assert_str_eq(e.ev.author, "Cara");
    meta_event_free(&e);

    ck_assert_int_eq(meta_fb_change(change(j, 8), t, &FB, &e), UV_EINVAL);
    meta_event_free(&e);
    ck_assert_int_eq(meta_fb_change(change(j, 9), t, &FB, &e), META_IGNORED);
    meta_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_ig)
{
    cJSON *j = fixture("ig_comments.json");
    const char *media = "17918195224117851";
    struct meta_event e;
    const cJSON *top = item(j, "data", 0);
    ck_assert_int_eq(meta_ig_comment(top, media, &IG, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_REPLY);
    ck_assert_str_eq(e.ev.author, "carla.photo");
    ck_assert_str_eq(e.ev.author_id, "17841400000000001");
    ck_assert_str_eq(e.ev.in_reply_to, media);
    ck_assert_str_eq(e.ev.author_url, "https://www.instagram.com/carla.photo/");
    meta_event_free(&e);
    const cJSON *replies = cJSON_GetObjectItem(
        cJSON_GetObjectItem((cJSON *)top, "replies"), "data");
    ck_assert_int_eq(
        meta_ig_comment(cJSON_GetArrayItem(replies, 0), media, &IG, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_OWN);
    meta_event_free(&e);
    /* No "from": the username stands in for the id. */
    ck_assert_int_eq(
        meta_ig_comment(cJSON_GetArrayItem(replies, 1), media, &IG, &e), 0);
    ck_assert_str_eq(e.ev.author_id, "dan.insta");
    ck_assert_str_eq(e.ev.in_reply_to, "17865799348089039");
    meta_event_free(&e);
    ck_assert_int_eq(meta_ig_comment(item(j, "data", 1), media, &IG, &e),
                     UV_EINVAL);
    meta_event_free(&e);
    cJSON_Delete(j);

    j = fixture("ig_hook.json");
    ck_assert_int_eq(meta_ig_change(change(j, 0), 1764099600, &IG, &e), 0);
    ck_assert_str_eq(e.ev.text, "webhook comment");
    ck_assert_str_eq(e.ev.conversation, media);
    ck_assert_int_eq(e.ev.created_ms, 1764099600000LL);
    meta_event_free(&e);
    const char *mid, *cid;
    ck_assert_int_eq(meta_ig_mention_ids(change(j, 1), &mid, &cid), 0);
    ck_assert_str_eq(mid, media);
    ck_assert_str_eq(cid, "17894227972186120");
    ck_assert_int_eq(meta_ig_mention_ids(change(j, 2), &mid, &cid), 0);
    ck_assert_ptr_null(cid);
    ck_assert_int_eq(meta_ig_mention_ids(change(j, 0), &mid, &cid), UV_EINVAL);
    ck_assert_int_eq(meta_ig_change(change(j, 3), 1, &IG, &e), META_IGNORED);
    meta_event_free(&e);
    cJSON_Delete(j);

    cJSON *t = cJSON_Parse("{\"id\":\"17918195224117853\",\"caption\":\"hi\","
                           "\"media_type\":\"CAROUSEL_ALBUM\",\"username\":"
                           "\"zoe\",\"permalink\":\"https://instagram.com/p/"
                           "X/\",\"timestamp\":\"2026-11-25T19:40:00+0000\"}");
    ck_assert_int_eq(meta_ig_tagged(t, &IG, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.text,
                     "hi [carousel_album: see https://instagram.com/p/X/]");
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "\"s\":\"ig_caption\""));
    meta_event_free(&e);
    cJSON_ReplaceItemInObject(t, "username", cJSON_CreateString("ParleyShop"));
    ck_assert_int_eq(meta_ig_tagged(t, &IG, &e), META_IGNORED);
    meta_event_free(&e);
    cJSON_Delete(t);

    j = fixture("ig_mentioned.json");
    ck_assert_int_eq(meta_ig_mentioned(cJSON_GetObjectItem(j, "comment"), media,
                                       "17894227972186120", &IG, &e),
                     0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.text, "@parleyshop have a look");
    ck_assert_str_eq(e.ev.url, "https://www.instagram.com/p/ABC/");
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "\"s\":\"ig_mention\""));
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "\"b\":\"17894227972186120\""));
    meta_event_free(&e);
    /* A video caption: IRC cannot show it, the link can. */
    ck_assert_int_eq(meta_ig_mentioned(cJSON_GetObjectItem(j, "caption"),
                                       "17918195224117852", NULL, &IG, &e),
                     0);
    ck_assert_str_eq(e.ev.text, "with @parleyshop [video: see "
                                "https://www.instagram.com/p/DEF/]");
    meta_event_free(&e);
    ck_assert_int_eq(meta_ig_mentioned(cJSON_GetObjectItem(j, "caption"), media,
                                       "1", &IG, &e),
                     UV_EINVAL);
    meta_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_messages)
{
    cJSON *j = fixture("conversations.json");
    const cJSON *conv = item(j, "data", 0);
    const cJSON *msgs = cJSON_GetObjectItem(
        cJSON_GetObjectItem((cJSON *)conv, "messages"), "data");
    struct meta_event e;
    ck_assert_int_eq(meta_message(cJSON_GetArrayItem(msgs, 0),
                                  "t_10161600000000000", &FB, &e),
                     META_IGNORED);
    meta_event_free(&e);
    ck_assert_int_eq(meta_message(cJSON_GetArrayItem(msgs, 1),
                                  "t_10161600000000000", &FB, &e),
                     0);
    ck_assert_int_eq(e.ev.kind, GW_EV_DM);
    ck_assert_str_eq(e.ev.id, "m_1");
    ck_assert_str_eq(e.ev.author, "Alice Example");
    ck_assert_int_eq(e.ev.audience, GW_AUD_MENTIONED);
    ck_assert_int_eq(e.ev.nmedia, 1);
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "\"s\":\"dm\""));
    ck_assert_ptr_nonnull(strstr(e.ev.extra, "\"t\":\"1795635600000\""));
    meta_event_free(&e);
    ck_assert_int_eq(meta_message(cJSON_GetArrayItem(msgs, 2), "t_1", &FB, &e),
                     UV_EINVAL);
    meta_event_free(&e);
    cJSON_Delete(j);

    j = fixture("messaging_hook.json");
    const cJSON *items = cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(j, "entry"), 0), "messaging");
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 0), "Alice", &FB, &e), 0);
    ck_assert_str_eq(e.ev.id, "m_1457764197618_41d102a3e1ae206a38");
    ck_assert_str_eq(e.ev.author, "Alice");
    ck_assert_str_eq(e.ev.author_id, "6789012345678901");
    ck_assert_int_eq(e.ev.created_ms, 1764099600000LL);
    meta_event_free(&e);
    /* Without a name the id is shown. */
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 0), NULL, &FB, &e), 0);
    ck_assert_str_eq(e.ev.author, "6789012345678901");
    meta_event_free(&e);
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 1), NULL, &FB, &e),
        META_IGNORED);
    meta_event_free(&e);
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 2), NULL, &FB, &e),
        META_IGNORED);
    meta_event_free(&e);
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 3), NULL, &FB, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_DELETE);
    meta_event_free(&e);
    /* Audio: a link; a fallback without one: nothing lost, nothing bogus. */
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 4), NULL, &FB, &e), 0);
    ck_assert_int_eq(e.ev.nmedia, 1);
    ck_assert_str_eq(e.ev.media[0].url, "https://cdn.example/a.mp4");
    meta_event_free(&e);
    ck_assert_int_eq(
        meta_messaging(cJSON_GetArrayItem(items, 5), NULL, &FB, &e), UV_EINVAL);
    meta_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

static char *print(const cJSON *j)
{
    return cJSON_PrintUnformatted(j);
}

START_TEST(test_errors_and_usage)
{
    cJSON *j = fixture("errors.json");
    struct meta_error e;
    char *s = print(cJSON_GetObjectItem(j, "throttle"));
    ck_assert_int_eq(meta_error_parse(s, strlen(s), &e), 0);
    ck_assert_int_eq(e.code, 32);
    ck_assert(meta_error_throttle(e.code));
    ck_assert_str_eq(e.trace, "AbCdEf123");
    cJSON_free(s);
    s = print(cJSON_GetObjectItem(j, "buc"));
    ck_assert_int_eq(meta_error_parse(s, strlen(s), &e), 0);
    ck_assert(meta_error_throttle(e.code) && e.transient);
    cJSON_free(s);
    s = print(cJSON_GetObjectItem(j, "token"));
    ck_assert_int_eq(meta_error_parse(s, strlen(s), &e), 0);
    ck_assert(meta_error_token(&e) && e.subcode == 463);
    cJSON_free(s);
    s = print(cJSON_GetObjectItem(j, "window"));
    ck_assert_int_eq(meta_error_parse(s, strlen(s), &e), 0);
    ck_assert(meta_error_window(&e) && !meta_error_throttle(e.code));
    cJSON_free(s);
    s = print(cJSON_GetObjectItem(j, "hostile"));
    ck_assert_int_eq(meta_error_parse(s, strlen(s), &e), 0);
    assert_clean(e.message);
    ck_assert_int_eq(e.code, 0); /* a string is not a code */
    ck_assert_str_eq(e.trace, "");
    cJSON_free(s);
    ck_assert_int_eq(meta_error_parse("<html>", 6, &e), UV_EINVAL);
    ck_assert_int_eq(meta_error_parse(NULL, 0, &e), UV_EINVAL);
    cJSON_Delete(j);
    for (long c = 80001; c <= 80014; c++)
        ck_assert(meta_error_throttle(c));
    ck_assert(!meta_error_throttle(80015) && !meta_error_throttle(100));

    struct meta_usage u;
    ck_assert_int_eq(
        meta_usage_parse("{\"call_count\":28,\"total_time\":25,"
                         "\"total_cputime\":91}",
                         "{\"106295678901234\":[{\"type\":\"pages\","
                         "\"call_count\":100,\"total_cputime\":25,"
                         "\"total_time\":25,"
                         "\"estimated_time_to_regain_access\":19},"
                         "{\"type\":\"messenger\",\"call_count\":3}]}",
                         &u),
        0);
    ck_assert_int_eq(u.app_pct, 91);
    ck_assert_int_eq(u.buc_pct, 100);
    ck_assert_str_eq(u.buc_type, "pages");
    ck_assert_int_eq(u.regain_min, 19);
    ck_assert_int_eq(meta_usage_parse("not json", "[1,2]", &u), UV_EINVAL);
    ck_assert_int_eq(meta_usage_parse(NULL, NULL, &u), UV_EINVAL);
    ck_assert_int_eq(meta_usage_parse("{}", NULL, &u), 0);
    ck_assert_int_eq(u.app_pct, -1);
}
END_TEST

static struct gw_post_ref parent_ref(const char *id, const char *author_id,
                                     const char *extra)
{
    struct gw_post_ref p;
    memset(&p, 0, sizeof(p));
    p.id = id;
    p.author = "someone";
    p.author_id = author_id;
    p.extra = extra;
    return p;
}

START_TEST(test_compose)
{
    struct meta_ids fb = {META_FACEBOOK, "106295678901234", "106295678901234"};
    struct meta_ids ig = {META_INSTAGRAM, "17841405309211844",
                          "106295678901234"};
    struct meta_call c;
    char err[300];
    struct gw_post_ref p =
        parent_ref("1234567890_1111", "678", "{\"s\":\"fb_comment\"}");
    struct gw_action a;
    memset(&a, 0, sizeof(a));
    a.kind = GW_ACT_REPLY;
    a.text = "thanks & see you";
    a.parent = &p;
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.method, "POST");
    ck_assert_str_eq(c.path, "/1234567890_1111/comments");
    ck_assert_str_eq(c.body, "message=thanks%20%26%20see%20you");
    ck_assert(c.sends && !c.json);
    meta_call_free(&c);

    p = parent_ref("178", "17841400000000001", "{\"s\":\"ig_comment\"}");
    ck_assert_int_eq(meta_compose(&ig, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.path, "/178/replies");
    meta_call_free(&c);

    p = parent_ref("179", "olga",
                   "{\"s\":\"ig_mention\",\"a\":\"17918195224117851\","
                   "\"b\":\"179\"}");
    ck_assert_int_eq(meta_compose(&ig, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.path, "/17841405309211844/mentions");
    ck_assert_str_eq(c.body, "media_id=17918195224117851&comment_id=179&"
                             "message=thanks%20%26%20see%20you");
    meta_call_free(&c);

    /* A reply to a DM is a DM through the Send API. */
    p = parent_ref("m_1", "6789012345678901",
                   "{\"s\":\"dm\",\"a\":\"6789012345678901\",\"t\":\"1\"}");
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.path, "/106295678901234/messages");
    ck_assert(c.json);
    cJSON *b = cJSON_Parse(c.body);
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "recipient"), "id")
            ->valuestring,
        "6789012345678901");
    ck_assert_str_eq(cJSON_GetObjectItem(b, "messaging_type")->valuestring,
                     "RESPONSE");
    ck_assert_str_eq(
        cJSON_GetObjectItem(cJSON_GetObjectItem(b, "message"), "text")
            ->valuestring,
        "thanks & see you");
    cJSON_Delete(b);
    meta_call_free(&c);

    /* A DM to someone who never wrote: refused, with why. */
    a.kind = GW_ACT_DM;
    a.parent = NULL;
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "wrote to it first"));
    meta_call_free(&c);
    /* Instagram through Facebook Login without the Page: no DMs. */
    struct meta_ids ig_nopage = {META_INSTAGRAM, "17841405309211844", NULL};
    a.parent = &p;
    ck_assert_int_eq(meta_compose(&ig_nopage, &a, &c, err, sizeof(err)),
                     UV_ENOTSUP);
    meta_call_free(&c);

    a.kind = GW_ACT_DELETE;
    p = parent_ref("1234567890_1111", "1", "{\"s\":\"fb_comment\"}");
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.method, "DELETE");
    ck_assert_str_eq(c.path, "/1234567890_1111");
    ck_assert(!c.sends);
    meta_call_free(&c);
    a.kind = GW_ACT_FAV;
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.path, "/1234567890_1111/likes");
    meta_call_free(&c);
    ck_assert_int_eq(meta_compose(&ig, &a, &c, err, sizeof(err)), UV_ENOTSUP);
    meta_call_free(&c);
    a.kind = GW_ACT_BOOST;
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), UV_ENOTSUP);
    meta_call_free(&c);
    /* !hide and !unhide: comments only, each network its own word. */
    a.kind = GW_ACT_COMMAND;
    a.command = "hide";
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.path, "/1234567890_1111");
    ck_assert_str_eq(c.body, "is_hidden=true");
    meta_call_free(&c);
    a.command = "unhide";
    p = parent_ref("178", "1", "{\"s\":\"ig_comment\"}");
    ck_assert_int_eq(meta_compose(&ig, &a, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.body, "hide=false");
    meta_call_free(&c);
    p = parent_ref("m_1", "1", "{\"s\":\"dm\"}");
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), UV_ENOTSUP);
    meta_call_free(&c);
    a.command = "explode";
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), UV_ENOTSUP);
    meta_call_free(&c);
    a.command = NULL;
    /* A parent id that could smuggle a path is refused. */
    p = parent_ref("1/../../me", "1", "{}");
    a.kind = GW_ACT_REPLY;
    ck_assert_int_eq(meta_compose(&fb, &a, &c, err, sizeof(err)), UV_EINVAL);
    meta_call_free(&c);
}
END_TEST

START_TEST(test_limits_and_window)
{
    char err[400];
    struct gw_post_ref dm =
        parent_ref("m_1", "1", "{\"s\":\"dm\",\"a\":\"1\",\"t\":\"1\"}");
    struct gw_post_ref ig_c = parent_ref("1", "1", "{\"s\":\"ig_comment\"}");
    struct gw_action a;
    memset(&a, 0, sizeof(a));
    a.kind = GW_ACT_DM;
    a.parent = &dm;
    char *text = gw_xmalloc(5000);
    /* Messenger counts characters: 2,000 "é" fit, 2,001 do not. */
    text[0] = '\0';
    for (int i = 0; i < 2000; i++)
        strcat(text, "\xc3\xa9");
    a.text = text;
    ck_assert_int_eq(meta_check_length(META_FACEBOOK, &a, err, sizeof(err)), 0);
    strcat(text, "\xc3\xa9");
    ck_assert_int_eq(meta_check_length(META_FACEBOOK, &a, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_str_eq(err, "too long: 2001 characters, a Messenger message "
                          "takes at most 2000");
    /* Instagram Direct counts bytes: 501 "é" are 1,002. */
    text[1002] = '\0';
    ck_assert_int_eq(meta_check_length(META_INSTAGRAM, &a, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_ptr_nonnull(strstr(err, "1002 bytes"));
    text[1000] = '\0';
    ck_assert_int_eq(meta_check_length(META_INSTAGRAM, &a, err, sizeof(err)),
                     0);
    a.kind = GW_ACT_REPLY;
    a.parent = &ig_c;
    memset(text, 'a', 301);
    text[301] = '\0';
    ck_assert_int_eq(meta_check_length(META_INSTAGRAM, &a, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_int_eq(meta_check_length(META_FACEBOOK, &a, err, sizeof(err)), 0);
    free(text);

    int64_t t = 1795635600000LL; /* 2026-11-25T19:40Z */
    ck_assert_int_eq(meta_window_check(t, t + META_WINDOW_MS, err, sizeof(err)),
                     0);
    ck_assert_int_eq(
        meta_window_check(t, t + META_WINDOW_MS + 1, err, sizeof(err)),
        UV_EPERM);
    ck_assert_ptr_nonnull(strstr(err, "closed at 2026-11-26 19:40 UTC"));
    ck_assert_ptr_nonnull(strstr(err, "HUMAN_AGENT"));
    ck_assert_ptr_nonnull(strstr(err, "until 2026-12-02 19:40 UTC"));
    ck_assert_int_eq(
        meta_window_check(t, t + META_HUMAN_AGENT_MS + 1, err, sizeof(err)),
        UV_EPERM);
    ck_assert_ptr_nonnull(strstr(err, "7 days are over"));
    ck_assert_int_eq(meta_window_check(0, t, err, sizeof(err)), UV_EPERM);
}
END_TEST

START_TEST(test_misc)
{
    ck_assert(meta_id_valid("106295678901234_1234567890"));
    ck_assert(meta_id_valid("m_1457764197618_41d102a3e1ae206a38"));
    ck_assert(!meta_id_valid("1/2"));
    ck_assert(!meta_id_valid("1?x=2"));
    ck_assert(!meta_id_valid(""));
    ck_assert(!meta_id_valid(NULL));
    ck_assert_int_eq(meta_time_ms("2026-11-25T19:40:00+0000"), 1795635600000LL);
    ck_assert_int_eq(meta_time_ms("2026-11-25T19:40:00Z"), 1795635600000LL);
    ck_assert_int_eq(meta_time_ms("2026-11-25T21:40:00+02:00"),
                     1795635600000LL);
    ck_assert_int_eq(meta_time_ms("yesterday"), 0);
    char *u = meta_urlencode("a b&c=d/é");
    ck_assert_str_eq(u, "a%20b%26c%3Dd%2F%C3%A9");
    free(u);
    char *url = meta_login_url(META_FACEBOOK, false, "123",
                               "https://www.facebook.com/connect/"
                               "login_success.html");
    ck_assert_ptr_nonnull(strstr(url, "https://www.facebook.com/v25.0/dialog/"
                                      "oauth?client_id=123&redirect_uri="
                                      "https%3A%2F%2Fwww.facebook.com"));
    ck_assert_ptr_nonnull(strstr(url, "pages_messaging"));
    ck_assert_ptr_nonnull(strstr(url, "response_type=code"));
    free(url);
    url = meta_login_url(META_INSTAGRAM, false, "123", "https://x/");
    ck_assert_ptr_nonnull(strstr(url, "instagram_manage_comments"));
    free(url);
    url = meta_login_url(META_INSTAGRAM, true, "123", "https://x/");
    ck_assert_ptr_nonnull(strstr(url, "https://www.instagram.com/oauth/"
                                      "authorize?client_id=123"));
    ck_assert_ptr_nonnull(strstr(url, "instagram_business_manage_messages"));
    free(url);

    char err[200];
    ck_assert_int_eq(
        facebook_ops.check_setting("page_id", "12ab", err, sizeof(err)),
        UV_EINVAL);
    ck_assert_int_eq(facebook_ops.check_setting("page_id", "106295678901234",
                                                err, sizeof(err)),
                     0);
    ck_assert_int_eq(
        instagram_ops.check_setting("login", "twitter", err, sizeof(err)),
        UV_EINVAL);
    ck_assert_int_eq(
        instagram_ops.check_setting("app_secret", "a b", err, sizeof(err)),
        UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(facebook_ops.summary, "not a personal"));
    ck_assert_ptr_nonnull(strstr(instagram_ops.summary, "professional"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("meta");
    TCase *in = tcase_create("in");
    tcase_add_test(in, test_fb_comments);
    tcase_add_test(in, test_fb_hook);
    tcase_add_test(in, test_ig);
    tcase_add_test(in, test_messages);
    suite_add_tcase(s, in);
    TCase *out = tcase_create("out");
    tcase_add_test(out, test_errors_and_usage);
    tcase_add_test(out, test_compose);
    tcase_add_test(out, test_limits_and_window);
    tcase_add_test(out, test_misc);
    suite_add_tcase(s, out);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
