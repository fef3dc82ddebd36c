/*
 * The Mastodon adapter's pure parts against recorded JSON: notifications to
 * events, reply composition and visibility, id order, error mapping, URLs,
 * instance limits, !thread and !who lines, setting checks.
 */
#include "mastodon.h"

#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "fixture.h"
#include "gw_json.h"
#include "gw_util.h"

#define ELLIPSIS "\xE2\x80\xA6"

static const struct mastodon_me ME = {"42", "gw@mastodon.example",
                                      "mastodon.example"};

/* ---- fixtures ----------------------------------------------------------- */

static cJSON *fixture(const char *name)
{
    return fixture_json("mastodon", name);
}

/* Convert a notification fixture; the caller frees e and the JSON. */
static int convert(const char *name, struct mastodon_event *e, cJSON **json)
{
    *json = fixture(name);
    return mastodon_notification_to_event(*json, &ME, e);
}

static int64_t iso(const char *s)
{
    int64_t ms = 0;
    ck_assert_int_eq(gw_parse_time(s, &ms), 0);
    return ms;
}

/* Nothing a remote user sends may break an IRC line. */
static bool one_line_safe(const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

static bool text_safe(const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return false;
    }
    return true;
}

/* ---- notifications to events -------------------------------------------- */

START_TEST(test_mention)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("mention.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.id, "112345678901234567");
    ck_assert_str_eq(e.ev.author, "alice@example.social");
    ck_assert_str_eq(e.ev.author_name, "Alice");
    ck_assert_str_eq(e.ev.author_url, "https://example.social/@alice");
    ck_assert_str_eq(e.ev.url,
                     "https://example.social/@alice/112345678901234567");
    /* The leading mention of me is dropped; a shortened link is shown in
     * full. */
    ck_assert_str_eq(
        e.ev.text,
        "is the bridge up? see https://example.org/a/very/long/path");
    ck_assert_ptr_null(e.ev.cw);
    ck_assert_int_eq(e.ev.audience, GW_AUD_PUBLIC);
    ck_assert_str_eq(e.ev.author_id, e.ev.author);
    ck_assert_ptr_null(e.ev.in_reply_to);
    ck_assert_ptr_null(e.ev.target_id);
    ck_assert_int_eq(e.ev.nmentions, 0); /* only me was mentioned */
    ck_assert_int_eq(e.ev.nmedia, 0);
    ck_assert(e.ev.created_ms == iso("2026-05-02T09:14:07.300Z"));

    /* The core keeps audience, cw and mentions: nothing is left for the
     * adapter's own JSON. */
    ck_assert_int_eq(e.ev.nmentions, 0);
    ck_assert_ptr_null(e.ev.extra);
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_dm)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("dm.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_DM);
    ck_assert_str_eq(e.ev.id, "112345679000000001");
    ck_assert_str_eq(e.ev.author, "bob@other.example");
    ck_assert_str_eq(e.ev.author_name, "Bob B.");
    ck_assert_str_eq(e.ev.text, "psst, a secret");
    ck_assert_int_eq(e.ev.audience, GW_AUD_MENTIONED);
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_reply)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("reply.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_REPLY);
    ck_assert_str_eq(e.ev.in_reply_to, "112345600000000000");
    ck_assert_int_eq(e.ev.audience, GW_AUD_UNLISTED);
    /* carol's link points at her actor id, not her profile URL: still
     * recognised as her; a plain-text "@gw" later on is kept. */
    ck_assert_str_eq(e.ev.text, "@carol@third.example agreed, thanks @gw");
    ck_assert_int_eq(e.ev.nmentions, 1);
    ck_assert_str_eq(e.ev.mentions[0], "carol@third.example");
    ck_assert_int_eq(e.ev.nmentions, 1);
    ck_assert_str_eq(e.ev.mentions[0], "carol@third.example");
    mastodon_event_free(&e);
    cJSON_Delete(j);

    /* The same status when I am not known yet: a plain mention, and my own
     * handle counts as another participant. */
    j = fixture("reply.json");
    struct mastodon_me anon = {NULL, NULL, "mastodon.example"};
    ck_assert_int_eq(mastodon_notification_to_event(j, &anon, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_int_eq(e.ev.nmentions, 2);
    ck_assert_str_eq(e.ev.mentions[0], "gw@mastodon.example");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

/* Each person once, in the order the server listed them, me left out; a
 * local acct is completed with the instance's domain first. */
START_TEST(test_mentions_once_each)
{
    cJSON *st = cJSON_Parse(
        "{\"id\": \"9\", \"content\": \"<p>hi all</p>\","
        " \"account\": {\"id\": \"1\", \"acct\": \"a@example.social\"},"
        " \"mentions\": [{\"acct\": \"Bob@x.example\"},"
        "   {\"acct\": \"zed@y.example\"}, {\"acct\": \"bob@X.example\"},"
        "   {\"acct\": \"gw\"}, {\"acct\": \"amy\"},"
        "   {\"acct\": \"zed@y.example\"},"
        "   {\"acct\": \"AMY@mastodon.example\"}, {\"acct\": "
        "\"cy@z.example\"}]}");
    ck_assert_ptr_nonnull(st);
    struct mastodon_event e;
    ck_assert_int_eq(mastodon_status_to_event(st, GW_EV_MENTION, &ME, &e), 0);
    ck_assert_int_eq(e.ev.nmentions, 4);
    ck_assert_str_eq(e.ev.mentions[0], "Bob@x.example");
    ck_assert_str_eq(e.ev.mentions[1], "zed@y.example");
    ck_assert_str_eq(e.ev.mentions[2], "amy@mastodon.example");
    ck_assert_str_eq(e.ev.mentions[3], "cy@z.example");
    mastodon_event_free(&e);
    cJSON_Delete(st);
}
END_TEST

START_TEST(test_reply_to_someone_else_is_a_mention)
{
    struct mastodon_event e;
    cJSON *j;
    /* in_reply_to_account_id "1234" is not me. */
    ck_assert_int_eq(convert("cw.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION);
    ck_assert_str_eq(e.ev.in_reply_to, "99");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_favourite_and_reblog)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("favourite.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_FAV);
    ck_assert_str_eq(e.ev.id, "34975535");
    ck_assert_str_eq(e.ev.target_id, "103186046267791694");
    ck_assert_str_eq(e.ev.author, "fan@cybre.space");
    ck_assert_str_eq(e.ev.author_name, "A Fan");
    ck_assert_str_eq(e.ev.text, "my own words");
    ck_assert_str_eq(e.ev.url,
                     "https://mastodon.example/@gw/103186046267791694");
    ck_assert(e.ev.created_ms == iso("2026-05-02T07:29:18.903Z"));
    mastodon_event_free(&e);
    cJSON_Delete(j);

    ck_assert_int_eq(convert("reblog.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_BOOST);
    ck_assert_str_eq(e.ev.id, "34975536");
    ck_assert_str_eq(e.ev.target_id, "103186046267791694");
    ck_assert_str_eq(e.ev.author, "booster@cybre.space");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_follow)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("follow.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_FOLLOW);
    ck_assert_str_eq(e.ev.id, "34975600");
    ck_assert_str_eq(e.ev.author, "newfan@example.social");
    ck_assert_ptr_null(e.ev.author_name); /* "" is no name */
    ck_assert_str_eq(e.ev.text, "");
    ck_assert_ptr_null(e.ev.target_id);
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_update_is_an_edit_keyed_by_edit_time)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("update.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_EDIT);
    ck_assert_str_eq(e.ev.id, "112345678901234567"); /* the status */
    ck_assert_str_eq(e.ev.text, "typo fixed");
    ck_assert(e.ev.created_ms == iso("2026-05-02T11:00:00.000Z"));
    cJSON *x = cJSON_Parse(e.ev.extra);
    ck_assert_str_eq(cJSON_GetObjectItem(x, "edited_at")->valuestring,
                     "2026-05-02T11:00:00.000Z");
    ck_assert_ptr_null(cJSON_GetObjectItem(x, "visibility"));
    cJSON_Delete(x);
    mastodon_event_free(&e);
    cJSON_Delete(j);

    /* The stream's status.update payload is a bare Status. */
    j = fixture("status_update.json");
    ck_assert_int_eq(mastodon_status_to_event(j, GW_EV_EDIT, &ME, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_EDIT);
    ck_assert_str_eq(e.ev.id, "109348677773283527");
    ck_assert_str_eq(e.ev.text, "edited");
    ck_assert_str_eq(e.ev.author, "admin@mastodon.example");
    ck_assert(e.ev.created_ms == iso("2022-11-15T16:07:29.023Z"));
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_media_with_alt_text)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("media.json", &e, &j), 0);
    ck_assert_str_eq(e.ev.text, "look at these"); /* no URLs in the text */
    ck_assert_int_eq(e.ev.nmedia, 2);
    ck_assert_str_eq(e.ev.media[0].url,
                     "https://files.example.social/media_attachments/files/"
                     "022/345/792/original/57859aede991da25.jpeg");
    ck_assert_str_eq(e.ev.media[0].alt, "A cat asleep on a keyboard");
    ck_assert_str_eq(e.ev.media[0].type, "image");
    /* No local copy yet: the remote URL. */
    ck_assert_str_eq(e.ev.media[1].url, "https://cdn.other.example/v.mp4");
    ck_assert_ptr_null(e.ev.media[1].alt);
    ck_assert_str_eq(e.ev.media[1].type, "video");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_poll)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("poll.json", &e, &j), 0);
    ck_assert_str_eq(e.ev.text, "which one?\n[poll] yes / no really / maybe");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_content_warning)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("cw.json", &e, &j), 0);
    ck_assert_str_eq(e.ev.cw, "film ending"); /* one line */
    ck_assert_str_eq(e.ev.text, "spoilers inside");
    ck_assert_int_eq(e.ev.audience, GW_AUD_FOLLOWERS);
    ck_assert_str_eq(e.ev.cw, "film ending");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

/* A visibility word of another server ("local") is kept by the adapter
 * for itself; its audience is unknown to the core. */
START_TEST(test_odd_visibility_kept)
{
    cJSON *st = cJSON_Parse(
        "{\"id\":\"5\",\"content\":\"<p>hi</p>\",\"visibility\":\"local\","
        "\"account\":{\"id\":\"1\",\"acct\":\"a\"}}");
    struct mastodon_event e;
    ck_assert_int_eq(mastodon_status_to_event(st, GW_EV_OWN, &ME, &e), 0);
    ck_assert_int_eq(e.ev.audience, GW_AUD_UNKNOWN);
    ck_assert_str_eq(e.ev.extra, "{\"visibility\":\"local\"}");
    mastodon_event_free(&e);
    cJSON_Delete(st);
}
END_TEST

START_TEST(test_custom_emoji_and_local_author_with_20_digit_id)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("emoji.json", &e, &j), 0);
    /* 20 digits: more than a double or an int64 keeps. */
    ck_assert_str_eq(e.ev.id, "112345678901234567890");
    ck_assert_str_eq(e.ev.author, "bob@mastodon.example"); /* local */
    ck_assert_str_eq(e.ev.author_name, ":blobcat: Bob");
    ck_assert_str_eq(e.ev.text, "hello :blobcat: & friends");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_quote)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("quote.json", &e, &j), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_QUOTE);
    ck_assert_str_eq(e.ev.id, "112345690000000400");
    ck_assert_str_eq(e.ev.target_id, "103186046267791694");
    ck_assert_str_eq(e.ev.text, "this, exactly");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_unknown_type_ignored)
{
    struct mastodon_event e;
    cJSON *j;
    ck_assert_int_eq(convert("unknown.json", &e, &j), MASTODON_IGNORED);
    ck_assert_str_eq(mastodon_json_id(j, "id"), "34976500");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_own_status)
{
    struct mastodon_event e;
    cJSON *j = fixture("own_status.json");
    ck_assert_int_eq(mastodon_status_to_event(j, GW_EV_OWN, &ME, &e), 0);
    ck_assert_int_eq(e.ev.kind, GW_EV_OWN);
    ck_assert_str_eq(e.ev.id, "112345699999999999");
    ck_assert_str_eq(e.ev.author, "gw@mastodon.example");
    ck_assert_str_eq(e.ev.text, "@alice@example.social yes, it is up");
    ck_assert_str_eq(e.ev.in_reply_to, "112345678901234567");
    ck_assert_int_eq(e.ev.nmentions, 1);
    ck_assert_str_eq(e.ev.mentions[0], "alice@example.social");
    mastodon_event_free(&e);
    cJSON_Delete(j);
}
END_TEST

START_TEST(test_hostile_items)
{
    cJSON *all = fixture("hostile.json");
    ck_assert(cJSON_IsArray(all));
    const cJSON *it;
    int n = 0;
    cJSON_ArrayForEach(it, all)
    {
        const char *why = cJSON_GetObjectItem(it, "why")->valuestring;
        const char *expect = cJSON_GetObjectItem(it, "expect")->valuestring;
        struct mastodon_event e;
        int rc = mastodon_notification_to_event(cJSON_GetObjectItem(it, "n"),
                                                &ME, &e);
        if (strcmp(expect, "invalid") == 0) {
            ck_assert_msg(rc == UV_EINVAL, "%s: got %d", why, rc);
        } else if (strcmp(expect, "ignored") == 0) {
            ck_assert_msg(rc == MASTODON_IGNORED, "%s: got %d", why, rc);
        } else {
            ck_assert_msg(rc == 0, "%s: got %d", why, rc);
            ck_assert(mastodon_id_valid(e.ev.id));
            ck_assert(one_line_safe(e.ev.author));
            ck_assert(one_line_safe(e.ev.author_name));
            ck_assert(one_line_safe(e.ev.cw));
            ck_assert(text_safe(e.ev.text));
            if (e.ev.extra != NULL) {
                cJSON *x = cJSON_Parse(e.ev.extra);
                ck_assert_ptr_nonnull(x);
                cJSON_Delete(x);
            }
        }
        mastodon_event_free(&e);
        n++;
    }
    ck_assert_int_eq(n, 19);

    /* Spot checks of what survives wrong types. */
    const cJSON *wrong = cJSON_GetObjectItem(cJSON_GetArrayItem(all, 12), "n");
    struct mastodon_event e;
    ck_assert_int_eq(mastodon_notification_to_event(wrong, &ME, &e), 0);
    ck_assert_str_eq(e.ev.id, "12");
    ck_assert_str_eq(e.ev.author, "a@example.social"); /* from the
                                                          notification */
    ck_assert_ptr_null(e.ev.author_name);
    ck_assert_ptr_null(e.ev.author_url); /* javascript: is no URL */
    ck_assert_ptr_null(e.ev.url);
    ck_assert_str_eq(e.ev.text, "");
    ck_assert_int_eq(e.ev.audience, GW_AUD_UNKNOWN);
    ck_assert_ptr_null(e.ev.in_reply_to);       /* a number is no id */
    ck_assert_int_eq(e.ev.kind, GW_EV_MENTION); /* 42 as a number is not me */
    ck_assert_int_eq(e.ev.nmedia, 0);
    ck_assert_int_eq(e.ev.nmentions, 0);
    ck_assert(e.ev.created_ms == 0);
    mastodon_event_free(&e);

    const cJSON *junk = cJSON_GetObjectItem(cJSON_GetArrayItem(all, 13), "n");
    ck_assert_int_eq(mastodon_notification_to_event(junk, &ME, &e), 0);
    ck_assert_int_eq(e.ev.nmentions, 1);
    ck_assert_str_eq(e.ev.mentions[0], "ok@example.org");
    mastodon_event_free(&e);

    const cJSON *ctl = cJSON_GetObjectItem(cJSON_GetArrayItem(all, 14), "n");
    ck_assert_int_eq(mastodon_notification_to_event(ctl, &ME, &e), 0);
    ck_assert_ptr_null(strchr(e.ev.author_name, '\r'));
    ck_assert_ptr_null(strchr(e.ev.author_name, '\n'));
    ck_assert_str_eq(e.ev.cw, "cwbold line");
    mastodon_event_free(&e);
    cJSON_Delete(all);

    /* Not even JSON objects. */
    ck_assert_int_eq(mastodon_notification_to_event(NULL, &ME, &e), UV_EINVAL);
    mastodon_event_free(&e);
    ck_assert_int_eq(mastodon_status_to_event(NULL, GW_EV_OWN, &ME, &e),
                     UV_EINVAL);
    mastodon_event_free(&e);
    ck_assert_int_eq(mastodon_notification_to_event(NULL, NULL, &e), UV_EINVAL);
    mastodon_event_free(&e);
}
END_TEST

/*
 * Found by tests/fuzz/fuzz_mastodon.c: URLs and handles were taken with any
 * bytes above ASCII and reached IRC clients as they were (!open shows a
 * post's URL) though Parley announces UTF8ONLY. Now they must be UTF-8
 * without C1 controls, or they are not taken.
 */
START_TEST(test_urls_and_handles_not_utf8)
{
    ck_assert(mastodon_handle_valid("j\xC3\xB6rg@b\xC3\xBC\x63her.example"));
    ck_assert(!mastodon_handle_valid("j\xF6rg@example.social"));   /* Latin-1 */
    ck_assert(!mastodon_handle_valid("jo@example\xC2\x85social")); /* NEL */
    ck_assert(!mastodon_handle_valid("j\xC3"));                    /* cut */
    ck_assert_ptr_null(mastodon_handle_full("\xFF", "example.social"));

    cJSON *st = cJSON_Parse(
        "{\"id\": \"7\", \"content\": \"<p>hi</p>\","
        " \"url\": \"https://example.social/@a/\xFF\","
        " \"uri\": \"https://example.social/users/a/statuses/7\","
        " \"account\": {\"id\": \"1\", \"acct\": \"a@example.social\","
        "   \"url\": \"https://example.social/@\xC0\xAF\"},"
        " \"mentions\": [{\"acct\": \"b\xE2\x82@example.social\"},"
        "   {\"acct\": \"c\xC3\xA7@example.social\"}],"
        " \"media_attachments\": ["
        "   {\"url\": \"https://example.social/m/\xED\xA0\x80.png\","
        "    \"remote_url\": \"https://elsewhere.example/m.png\"},"
        "   {\"url\": \"https://example.social/m/\xC2\x9B.png\"},"
        "   {\"url\": \"https://example.social/m/\xE2\x9C\x93.png\"}]}");
    ck_assert_ptr_nonnull(st);
    struct mastodon_event e;
    ck_assert_int_eq(mastodon_status_to_event(st, GW_EV_OWN, &ME, &e), 0);
    ck_assert_str_eq(e.ev.url, "https://example.social/users/a/statuses/7");
    ck_assert_ptr_null(e.ev.author_url);
    ck_assert_int_eq(e.ev.nmentions, 1);
    ck_assert_str_eq(e.ev.mentions[0], "c\xC3\xA7@example.social");
    ck_assert_int_eq(e.ev.nmedia, 2);
    ck_assert_str_eq(e.ev.media[0].url, "https://elsewhere.example/m.png");
    ck_assert_str_eq(e.ev.media[1].url,
                     "https://example.social/m/\xE2\x9C\x93.png");
    mastodon_event_free(&e);

    /* An author whose handle is not UTF-8 makes no event. */
    cJSON *acct =
        cJSON_GetObjectItem(cJSON_GetObjectItem(st, "account"), "acct");
    cJSON_SetValuestring(acct, "a\xF0\x9F@example.social");
    ck_assert_int_eq(mastodon_status_to_event(st, GW_EV_OWN, &ME, &e),
                     UV_EINVAL);
    mastodon_event_free(&e);
    cJSON_Delete(st);
}
END_TEST

static int mention_from(const char *json_acct, const char *content,
                        struct mastodon_event *e)
{
    char doc[1024];
    snprintf(doc, sizeof(doc),
             "{\"id\":\"9\",\"type\":\"mention\",\"account\":"
             "{\"id\":\"5\",\"acct\":\"%s\"},\"status\":{\"id\":\"77\","
             "\"content\":\"%s\",\"visibility\":\"public\","
             "\"account\":{\"id\":\"5\",\"acct\":\"%s\"}}}",
             json_acct, content, json_acct);
    cJSON *j = gw_json_parse(doc, strlen(doc));
    ck_assert_ptr_nonnull(j);
    int rc = mastodon_notification_to_event(j, &ME, e);
    gw_json_free(j);
    return rc;
}

/* A \u0000 in an acct must not cut it into someone else's name; in text it
 * must not cut the post. */
START_TEST(test_nul_in_identity_and_text)
{
    struct mastodon_event e;
    ck_assert_int_eq(mention_from("ann\\u0000@evil.example", "<p>hi</p>", &e),
                     UV_EINVAL);
    ck_assert_ptr_nonnull(e.why);
    ck_assert_ptr_nonnull(strstr(e.why, "NUL"));
    mastodon_event_free(&e);

    ck_assert_int_eq(mention_from("bob@x.example", "<p>a\\u0000b end</p>", &e),
                     0);
    ck_assert_str_eq(e.ev.author, "bob@x.example");
    ck_assert_ptr_nonnull(strstr(e.ev.text, "b end"));
    mastodon_event_free(&e);

    /* An escaped backslash before "u0000" is text, not an escape. */
    const char *lit = "{\"a\":\"x\\\\u0000y\"}";
    cJSON *j = gw_json_read(lit, strlen(lit));
    ck_assert_str_eq(gw_json_str(j, "a"), "x\\u0000y");
    cJSON_Delete(j);
    j = gw_json_read("{\"a\":\"x\\u0000y\"}", 17);
    ck_assert_str_eq(gw_json_str(j, "a"), "x\xEF\xBF\xBDy");
    cJSON_Delete(j);
}
END_TEST

/* Accts Mastodon itself would not make still arrive, as they are: a post
 * must not vanish for its author's name. */
START_TEST(test_odd_accts_arrive)
{
    const char *odd[] = {"a b", "x:y", "a,b", "#m", "a!b", "*"};
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        struct mastodon_event e;
        ck_assert_int_eq(mention_from(odd[i], "<p>hello</p>", &e), 0);
        char want[64];
        snprintf(want, sizeof(want), "%s@mastodon.example", odd[i]);
        ck_assert_str_eq(e.ev.author, want);
        ck_assert_str_eq(e.ev.text, "hello");
        mastodon_event_free(&e);
    }
    struct mastodon_event e;
    ck_assert_int_eq(mention_from("", "<p>x</p>", &e), UV_EINVAL);
    ck_assert_ptr_nonnull(e.why);
    mastodon_event_free(&e);
    ck_assert_int_eq(mention_from("a\\u0007b", "<p>x</p>", &e), UV_EINVAL);
    mastodon_event_free(&e);
}
END_TEST

/* Every fixture converted without knowing who I am (me == NULL). */
START_TEST(test_without_me)
{
    const char *names[] = {"mention.json",   "dm.json",     "reply.json",
                           "favourite.json", "follow.json", "media.json",
                           "poll.json",      "emoji.json",  "quote.json"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        cJSON *j = fixture(names[i]);
        struct mastodon_event e;
        ck_assert_int_eq(mastodon_notification_to_event(j, NULL, &e), 0);
        ck_assert_ptr_nonnull(e.ev.author);
        mastodon_event_free(&e);
        cJSON_Delete(j);
    }
}
END_TEST

/* ---- ids and pages ------------------------------------------------------ */

START_TEST(test_id_order)
{
    ck_assert_int_lt(mastodon_id_cmp("99", "100"), 0);
    ck_assert_int_gt(mastodon_id_cmp("100", "99"), 0);
    ck_assert_int_eq(mastodon_id_cmp("100", "100"), 0);
    ck_assert_int_gt(
        mastodon_id_cmp("112345678901234567890", "9223372036854775807"), 0);
    ck_assert_int_lt(
        mastodon_id_cmp("9223372036854775807", "9223372036854775808"), 0);
    ck_assert_int_lt(mastodon_id_cmp("0", "1"), 0);
    ck_assert_int_eq(mastodon_id_cmp("007", "7"), 0);
    /* ULIDs (GoToSocial) order as strings of one length. */
    ck_assert_int_lt(mastodon_id_cmp("01ARZ3NDEKTSV4RRFFQ69G5FAV",
                                     "01BX5ZZKBKACTAV9WEVGEMMVRZ"),
                     0);
}
END_TEST

START_TEST(test_id_valid)
{
    ck_assert(mastodon_id_valid("112345678901234567890"));
    ck_assert(mastodon_id_valid("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
    ck_assert(mastodon_id_valid("AfgHjkl_-9"));
    ck_assert(!mastodon_id_valid(NULL));
    ck_assert(!mastodon_id_valid(""));
    ck_assert(!mastodon_id_valid("1 2"));
    ck_assert(!mastodon_id_valid("../1"));
    ck_assert(!mastodon_id_valid("1?x=2"));
    ck_assert(!mastodon_id_valid("1\r\n"));
    char longid[80];
    memset(longid, '1', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    ck_assert(!mastodon_id_valid(longid));

    cJSON *j =
        cJSON_Parse("{\"a\":\"123\",\"b\":123,\"c\":null,\"d\":\"x/y\"}");
    ck_assert_str_eq(mastodon_json_id(j, "a"), "123");
    ck_assert_ptr_null(mastodon_json_id(j, "b"));
    ck_assert_ptr_null(mastodon_json_id(j, "c"));
    ck_assert_ptr_null(mastodon_json_id(j, "d"));
    ck_assert_ptr_null(mastodon_json_id(j, "missing"));
    ck_assert_ptr_null(mastodon_json_id(NULL, "a"));
    cJSON_Delete(j);
}
END_TEST

/* Stream events are parsed into gw_json_parse's arena: a second tree while
 * one is alive, a tree too big for the arena, and every other cJSON use
 * must all still work and free cleanly (ASan checks the frees). */
START_TEST(test_json_arena)
{
    cJSON *a = gw_json_parse("{\"k\":\"v\",\"n\":[1,2]}", 19);
    ck_assert_ptr_nonnull(a);
    cJSON *b = gw_json_parse("{\"k\":\"w\"}", 9);
    ck_assert_ptr_nonnull(b);
    ck_assert_str_eq(cJSON_GetObjectItem(a, "k")->valuestring, "v");
    ck_assert_str_eq(cJSON_GetObjectItem(b, "k")->valuestring, "w");
    cJSON *c = cJSON_CreateObject();
    cJSON_AddStringToObject(c, "x", "y");
    char *printed = cJSON_PrintUnformatted(c);
    ck_assert_str_eq(printed, "{\"x\":\"y\"}");
    cJSON_free(printed);
    cJSON_Delete(c);
    gw_json_free(b);
    gw_json_free(a);
    ck_assert_ptr_null(gw_json_parse("{", 1));

    struct gw_buf big;
    gw_buf_init(&big, 1 << 20);
    gw_buf_puts(&big, "[");
    for (int i = 0; i < 5000; i++)
        gw_buf_printf(&big, "%s\"item number %d\"", i ? "," : "", i);
    gw_buf_puts(&big, "]");
    cJSON *d = gw_json_parse(big.data, big.len);
    ck_assert_int_eq(cJSON_GetArraySize(d), 5000);
    ck_assert_str_eq(cJSON_GetArrayItem(d, 4999)->valuestring,
                     "item number 4999");
    gw_json_free(d);
    gw_buf_free(&big);
    cJSON *e = gw_json_parse("[true]", 6);
    ck_assert(cJSON_IsTrue(cJSON_GetArrayItem(e, 0)));
    gw_json_free(e);
}
END_TEST

/* The usual form is read without sscanf; every form still reads the same. */
START_TEST(test_parse_time_forms)
{
    int64_t ms = 0;
    ck_assert_int_eq(gw_parse_time("2026-11-25T19:40:05.123Z", &ms), 0);
    ck_assert_int_eq(ms, 1795635605123LL);
    ck_assert_int_eq(gw_parse_time("2026-11-25T19:40:05Z", &ms), 0);
    ck_assert_int_eq(ms, 1795635605000LL);
    ck_assert_int_eq(gw_parse_time("2026-11-25T21:40:05+02:00", &ms), 0);
    ck_assert_int_eq(ms, 1795635605000LL);
    /* Not the usual form: sscanf's reading, as before. */
    ck_assert_int_eq(gw_parse_time("2026-11-5T19:40:05Z", &ms), 0);
    ck_assert_int_eq(ms, 1793907605000LL);
    ck_assert_int_eq(gw_parse_time("2026-13-25T19:40:05Z", &ms), UV_EINVAL);
    ck_assert_int_eq(gw_parse_time("2026-11-25T19:40", &ms), UV_EINVAL);
    ck_assert_int_eq(gw_parse_time("2026-11-25T19:40:05Zx", &ms), UV_EINVAL);
    ck_assert_int_eq(gw_parse_time("", &ms), UV_EINVAL);
}
END_TEST

/* Compare two trees field by field, links included. */
static void same_tree(const cJSON *a, const cJSON *b)
{
    ck_assert_int_eq(a->type, b->type);
    ck_assert_int_eq(a->valueint, b->valueint);
    ck_assert(
        a->valuedouble == b->valuedouble ||
        (a->valuedouble != a->valuedouble && b->valuedouble != b->valuedouble));
    ck_assert_int_eq(a->valuestring == NULL, b->valuestring == NULL);
    if (a->valuestring)
        ck_assert_str_eq(a->valuestring, b->valuestring);
    ck_assert_int_eq(a->string == NULL, b->string == NULL);
    if (a->string)
        ck_assert_str_eq(a->string, b->string);
    ck_assert_int_eq(a->child == NULL, b->child == NULL);
    if (a->child) {
        /* cJSON points the first child's prev at the last one. */
        ck_assert_int_eq(a->child->prev == NULL, b->child->prev == NULL);
        const cJSON *x = a->child, *y = b->child;
        for (; x && y; x = x->next, y = y->next)
            same_tree(x, y);
        ck_assert_ptr_null(x);
        ck_assert_ptr_null(y);
    }
}

/* gw_json_parse has a parser of its own for the common case: every input
 * must give what cJSON gives (after the same \u0000 care: gw_json_read),
 * or fail where cJSON fails. */
START_TEST(test_json_same_as_cjson)
{
    static const char *const docs[] = {
        "{\"id\":\"1\",\"n\":-12,\"f\":1.5,\"e\":-2.5e-3,\"E\":1E+2,"
        "\"big\":12345678901234567890,\"i\":2147483648,\"z\":-0,"
        "\"t\":true,\"x\":false,\"u\":null,\"a\":[],\"o\":{},"
        "\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\/ \\b\\f\\n\\r\\t\","
        "\"raw\":\"\xc3\xa9\",\"dup\":1,\"dup\":2}",
        " [ 1 , [ [ ] , { \"k\" : [ \"v\" ] } ] , \"\" ]\r\n",
        "\"just a string\"",
        "42",
        "{\"a\":1}trailing",
        "{\"a\":01}",
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":\"\\u0000x\"}",
        "{\"a\":\"\\ud83d\"}",
        "{\"a\":\"\\ude00\"}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"tab\there\"}",
        "{\"a\":[1,2,]}",
        "{\"a\" 1}",
        "{a:1}",
        "[1 2]",
        "[",
        "",
        "   ",
        "nul",
        "\xef\xbb\xbf{}",
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        cJSON *want = gw_json_read(docs[i], strlen(docs[i]));
        cJSON *got = gw_json_parse(docs[i], strlen(docs[i]));
        ck_assert_msg((want == NULL) == (got == NULL), "%s", docs[i]);
        if (want)
            same_tree(want, got);
        cJSON_Delete(want);
        gw_json_free(got);
    }
    /* Deeper than gw_json_parse goes itself: cJSON's, still the same. */
    struct gw_buf deep;
    gw_buf_init(&deep, 4096);
    for (int i = 0; i < 100; i++)
        gw_buf_puts(&deep, "[");
    for (int i = 0; i < 100; i++)
        gw_buf_puts(&deep, "]");
    cJSON *d = gw_json_parse(deep.data, deep.len);
    ck_assert_ptr_nonnull(d);
    gw_json_free(d);
    gw_buf_free(&deep);
}
END_TEST

START_TEST(test_page_sorted)
{
    cJSON *page = fixture("page.json");
    const cJSON **items = NULL;
    int n = mastodon_page_sorted(page, &items);
    /* The number id, the bad id, null and the bare string are left out. */
    ck_assert_int_eq(n, 3);
    ck_assert_str_eq(mastodon_json_id(items[0], "id"), "99");
    ck_assert_str_eq(mastodon_json_id(items[1], "id"), "100");
    ck_assert_str_eq(mastodon_json_id(items[2], "id"), "101");
    free(items);
    cJSON_Delete(page);

    cJSON *empty = cJSON_Parse("[]");
    ck_assert_int_eq(mastodon_page_sorted(empty, &items), 0);
    ck_assert_ptr_null(items);
    cJSON_Delete(empty);
    cJSON *obj = cJSON_Parse("{\"error\":\"nope\"}");
    ck_assert_int_lt(mastodon_page_sorted(obj, &items), 0);
    ck_assert_ptr_null(items);
    cJSON_Delete(obj);
    ck_assert_int_lt(mastodon_page_sorted(NULL, &items), 0);
}
END_TEST

/* ---- handles and replies ------------------------------------------------ */

START_TEST(test_handles)
{
    ck_assert(mastodon_handle_valid("alice"));
    ck_assert(mastodon_handle_valid("@alice@example.social"));
    ck_assert(mastodon_handle_valid("alice@localhost:3000"));
    ck_assert(mastodon_handle_valid("j.doe-x_1@sub.example.org"));
    ck_assert(!mastodon_handle_valid(NULL));
    ck_assert(!mastodon_handle_valid(""));
    ck_assert(!mastodon_handle_valid("@"));
    ck_assert(!mastodon_handle_valid("alice@"));
    ck_assert(!mastodon_handle_valid("@@example.org"));
    ck_assert(!mastodon_handle_valid("a@b@c"));
    ck_assert(!mastodon_handle_valid("al ice@x.org"));
    ck_assert(!mastodon_handle_valid("alice@x.org/evil"));
    ck_assert(!mastodon_handle_valid("alice\r\n@x.org"));

    char *h = mastodon_handle_full("@alice", "mastodon.example");
    ck_assert_str_eq(h, "alice@mastodon.example");
    free(h);
    h = mastodon_handle_full("bob@other.example", "mastodon.example");
    ck_assert_str_eq(h, "bob@other.example");
    free(h);
    h = mastodon_handle_full("carol", NULL);
    ck_assert_str_eq(h, "carol");
    free(h);
    ck_assert_ptr_null(mastodon_handle_full("bad handle", "x.org"));
}
END_TEST

/* Mastodon's words for an audience, both ways. */
START_TEST(test_visibility)
{
    ck_assert_int_eq(mastodon_audience("public"), GW_AUD_PUBLIC);
    ck_assert_int_eq(mastodon_audience("unlisted"), GW_AUD_UNLISTED);
    ck_assert_int_eq(mastodon_audience("private"), GW_AUD_FOLLOWERS);
    ck_assert_int_eq(mastodon_audience("direct"), GW_AUD_MENTIONED);
    ck_assert_int_eq(mastodon_audience("Public"), GW_AUD_UNKNOWN);
    ck_assert_int_eq(mastodon_audience("local"), GW_AUD_UNKNOWN);
    ck_assert_int_eq(mastodon_audience(NULL), GW_AUD_UNKNOWN);
    const char *v[] = {"public", "unlisted", "private", "direct"};
    for (int i = 0; i < 4; i++)
        ck_assert_str_eq(mastodon_visibility(mastodon_audience(v[i])), v[i]);
    /* Not knowing: off public timelines, still reaching everyone named. */
    ck_assert_str_eq(mastodon_visibility(GW_AUD_UNKNOWN), "unlisted");
}
END_TEST

static struct gw_action reply_action(const char *text,
                                     const struct gw_post_ref *parent)
{
    struct gw_action a;
    memset(&a, 0, sizeof(a));
    a.token = 7;
    a.kind = GW_ACT_REPLY;
    a.text = text;
    a.parent = parent;
    a.idem_key = "k1";
    return a;
}

/* The core composed the action (mentions, cw, audience: test_router); the
 * adapter maps it onto a status. */
START_TEST(test_compose_reply)
{
    struct gw_post_ref ref = {.id = "112345680000000002",
                              .author = "alice@example.social"};
    struct gw_action a = reply_action("@alice@example.social answer one", &ref);
    a.cw = "film ending";
    a.audience = GW_AUD_FOLLOWERS;
    struct mastodon_post p;
    char err[256];
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.text, "@alice@example.social answer one");
    ck_assert_str_eq(p.visibility, "private");
    ck_assert_str_eq(p.spoiler, "film ending");
    ck_assert_str_eq(p.in_reply_to, "112345680000000002");
    mastodon_post_free(&p);

    a.audience = GW_AUD_MENTIONED;
    a.cw = "";
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.visibility, "direct");
    ck_assert_ptr_null(p.spoiler);
    mastodon_post_free(&p);

    struct gw_action r = reply_action("hi", NULL);
    ck_assert_int_eq(mastodon_compose(&r, &p, err, sizeof(err)), UV_EINVAL);
    ck_assert_str_eq(err, "no post to reply to");
    mastodon_post_free(&p);
    struct gw_post_ref bad = {.id = "../../x", .author = "a@b.c"};
    r.parent = &bad;
    ck_assert_int_eq(mastodon_compose(&r, &p, err, sizeof(err)), UV_EINVAL);
    mastodon_post_free(&p);
    r.kind = GW_ACT_FAV;
    ck_assert_int_eq(mastodon_compose(&r, &p, err, sizeof(err)), UV_EINVAL);
    mastodon_post_free(&p);
}
END_TEST

START_TEST(test_compose_dm_and_post)
{
    struct gw_action a;
    struct mastodon_post p;
    char err[256];
    memset(&a, 0, sizeof(a));
    a.kind = GW_ACT_DM;
    a.text = "@bob@other.example got it";
    a.handle = "@bob@other.example";
    a.audience = GW_AUD_PUBLIC; /* a DM is direct whatever is asked */
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.text, "@bob@other.example got it");
    ck_assert_str_eq(p.visibility, "direct");
    ck_assert_ptr_null(p.in_reply_to);
    mastodon_post_free(&p);

    /* Inside a DM thread: in reply to the parent. */
    struct gw_post_ref dm = {.id = "112345679000000001",
                             .author = "bob@other.example"};
    a.parent = &dm;
    a.handle = NULL;
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.in_reply_to, "112345679000000001");
    ck_assert_str_eq(p.visibility, "direct");
    mastodon_post_free(&p);

    a.parent = NULL;
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), UV_EINVAL);
    ck_assert_str_eq(err, "no recipient for the direct message");
    mastodon_post_free(&p);
    a.handle = "bob smith";
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), UV_EINVAL);
    ck_assert_str_eq(err, "not a handle: bob smith");
    mastodon_post_free(&p);

    memset(&a, 0, sizeof(a));
    a.kind = GW_ACT_POST;
    a.text = "hello world";
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.text, "hello world");
    ck_assert_str_eq(p.visibility, "public");
    ck_assert_ptr_null(p.spoiler);
    ck_assert_ptr_null(p.in_reply_to);
    mastodon_post_free(&p);
    a.audience = GW_AUD_FOLLOWERS;
    a.cw = "birds";
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), 0);
    ck_assert_str_eq(p.visibility, "private");
    ck_assert_str_eq(p.spoiler, "birds");
    mastodon_post_free(&p);
    a.text = "  \n ";
    ck_assert_int_eq(mastodon_compose(&a, &p, err, sizeof(err)), UV_EINVAL);
    mastodon_post_free(&p);
}
END_TEST

START_TEST(test_length)
{
    struct mastodon_post p;
    char err[256] = "";
    char text[601];
    memset(text, 'x', 600);
    text[600] = '\0';
    memset(&p, 0, sizeof(p));
    p.text = text;
    ck_assert_int_eq(mastodon_check_length(&p, 500, 23, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_str_eq(err, "too long: 600 characters, the server allows 500");
    ck_assert_int_eq(mastodon_check_length(&p, 600, 23, err, sizeof(err)), 0);
    ck_assert_int_eq(mastodon_check_length(&p, 0, 23, err, sizeof(err)), 0);

    /* The content warning counts too. */
    text[590] = '\0';
    p.spoiler = "0123456789a";
    ck_assert_int_eq(mastodon_check_length(&p, 600, 23, err, sizeof(err)),
                     UV_EMSGSIZE);
    ck_assert_str_eq(err, "too long: 601 characters, the server allows 600");

    /* A URL counts as 23 whatever its length. */
    char *url = gw_xasprintf("see https://example.org/%0200d", 0);
    p.text = url;
    p.spoiler = NULL;
    ck_assert_int_eq(mastodon_check_length(&p, 50, 23, err, sizeof(err)), 0);
    free(url);
}
END_TEST

#define E_ACUTE "\xC3\xA9"
#define FAMILY                                                                 \
    "\xF0\x9F\x91\xA8\xE2\x80\x8D\xF0\x9F\x91\xA9\xE2\x80\x8D\xF0\x9F\x91\xA7"
#define FLAG_FR "\xF0\x9F\x87\xAB\xF0\x9F\x87\xB7"

/* Mastodon's count: graphemes, URLs as 23, "@user@domain" as "@user". */
START_TEST(test_text_length)
{
    ck_assert_int_eq(mastodon_text_length("h" E_ACUTE "llo", 23), 5);
    ck_assert_int_eq(mastodon_text_length(FAMILY, 23), 1);
    ck_assert_int_eq(mastodon_text_length(FLAG_FR, 23), 1);

    char url[101];
    memcpy(url, "https://example.com/", 20);
    memset(url + 20, 'x', 80);
    url[100] = '\0';
    ck_assert_int_eq(mastodon_text_length(url, 23), 23);
    char *s = gw_xasprintf("see %s ok", url);
    ck_assert_int_eq(mastodon_text_length(s, 23), 4 + 23 + 3);
    free(s);
    s = gw_xasprintf("%s\n%s", url, url);
    ck_assert_int_eq(mastodon_text_length(s, 23), 23 + 1 + 23);
    free(s);
    ck_assert_int_eq(mastodon_text_length("http://a", 23), 23);
    ck_assert_int_eq(mastodon_text_length("HTTPS://A.B", 23), 23);
    ck_assert_int_eq(mastodon_text_length("http://a", 0), 0);
    ck_assert_int_eq(mastodon_text_length("http:// x", 23), 9);
    ck_assert_int_eq(mastodon_text_length("xhttps://a.b", 23), 12);
    ck_assert_int_eq(mastodon_text_length("(https://a.b/c)", 23), 24);
    /* A URL ends at Unicode spaces too (U+3000). */
    ck_assert_int_eq(mastodon_text_length("https://a.b\xE3\x80\x80"
                                          "ab",
                                          23),
                     26);
    ck_assert_int_eq(mastodon_text_length("@alice@example.social hi", 23), 9);
    ck_assert_int_eq(mastodon_text_length("@alice hi", 23), 9);
    ck_assert_int_eq(mastodon_text_length("hi @a.b@x.org.", 23), 8);
    ck_assert_int_eq(mastodon_text_length("@alice@", 23), 7);
    ck_assert_int_eq(mastodon_text_length("mail a@b.example", 23), 16);
    ck_assert_int_eq(mastodon_text_length("@bob@b\xC3\xBC"
                                          "cher.de",
                                          23),
                     4);
    ck_assert_int_eq(mastodon_text_length("", 23), 0);
    ck_assert_int_eq(mastodon_text_length(NULL, 23), 0);
}
END_TEST

/* ---- HTTP outcomes ------------------------------------------------------ */

static struct gw_http_response resp(long status, const char *body)
{
    struct gw_http_response r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.errmsg = "";
    r.body = body != NULL ? body : "";
    r.body_len = strlen(r.body);
    r.retry_after_s = -1;
    r.ratelimit_remaining = -1;
    return r;
}

START_TEST(test_map_status)
{
    ck_assert_int_eq(mastodon_map_status(200, 0), GW_ACT_OK);
    ck_assert_int_eq(mastodon_map_status(201, 0), GW_ACT_OK);
    ck_assert_int_eq(mastodon_map_status(204, 0), GW_ACT_OK);
    ck_assert_int_eq(mastodon_map_status(0, UV_ECONNREFUSED), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(0, UV_ETIMEDOUT), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(0, 0), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(408, 0), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(429, 0), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(500, 0), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(502, 0), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(503, 0), GW_ACT_RETRY);
    ck_assert_int_eq(mastodon_map_status(400, 0), GW_ACT_FAILED);
    ck_assert_int_eq(mastodon_map_status(401, 0), GW_ACT_FAILED);
    ck_assert_int_eq(mastodon_map_status(403, 0), GW_ACT_FAILED);
    ck_assert_int_eq(mastodon_map_status(404, 0), GW_ACT_FAILED);
    ck_assert_int_eq(mastodon_map_status(422, 0), GW_ACT_FAILED);
    ck_assert_int_eq(mastodon_map_status(302, 0), GW_ACT_FAILED);
}
END_TEST

/* The runtime's reading of how long to wait (gw_ad_retry_after_ms). */
START_TEST(test_retry_after)
{
    int64_t now = gw_now_ms();
    struct gw_http_response r = resp(429, "{\"error\":\"Too many requests\"}");
    r.retry_after_s = 4;
    ck_assert_int_eq(gw_ad_retry_after_ms(&r), 4000);
    r.retry_after_s = -1;
    r.ratelimit_remaining = 0;
    r.ratelimit_reset_ms = now + 90500;
    long ms = gw_ad_retry_after_ms(&r);
    ck_assert_int_le(ms, 90500);
    ck_assert_int_gt(ms, 80000);
    /* A reset that has passed, or none: the core's back-off decides. */
    r.ratelimit_reset_ms = now - 5;
    ck_assert_int_eq(gw_ad_retry_after_ms(&r), 0);
    /* A 503 with a rate-limit window that is not used up waits for
     * nothing but the back-off. */
    r = resp(503, "");
    r.ratelimit_remaining = 250;
    r.ratelimit_reset_ms = now + 200000;
    ck_assert_int_eq(gw_ad_retry_after_ms(&r), 0);
    /* Absurd values are capped at an hour. */
    r.retry_after_s = 999999999;
    ck_assert_int_eq(gw_ad_retry_after_ms(&r), 3600000);
}
END_TEST

START_TEST(test_error_text)
{
    struct gw_http_response r =
        resp(422, "{\"error\":\"Validation failed: Text can't be blank\"}");
    char *t = mastodon_error_text(&r);
    ck_assert_str_eq(t, "Validation failed: Text can't be blank");
    free(t);
    r = resp(401, "{\"error\":\"invalid_grant\",\"error_description\":"
                  "\"The provided authorization grant is invalid.\"}");
    t = mastodon_error_text(&r);
    ck_assert_str_eq(t, "invalid_grant: The provided authorization grant is "
                        "invalid.");
    free(t);
    r = resp(502, "<html><body>Bad Gateway</body></html>");
    t = mastodon_error_text(&r);
    ck_assert_str_eq(t, "HTTP 502");
    free(t);
    r = resp(404, "{\"error\":404}");
    t = mastodon_error_text(&r);
    ck_assert_str_eq(t, "HTTP 404");
    free(t);
    r = resp(0, NULL);
    r.error = UV_ECONNREFUSED;
    r.errmsg = "Couldn't connect to server";
    t = mastodon_error_text(&r);
    ck_assert_str_eq(t, "Couldn't connect to server");
    free(t);
    r.errmsg = NULL;
    t = mastodon_error_text(&r);
    ck_assert_str_eq(t, "network error");
    free(t);

    /* A hostile server cannot start a line of its own or flood one. */
    r = resp(400, "{\"error\":\"bad\\r\\nPRIVMSG #x :pwned\\u0003\"}");
    t = mastodon_error_text(&r);
    ck_assert(one_line_safe(t));
    ck_assert_str_eq(t, "bad PRIVMSG #x :pwned");
    free(t);
    struct gw_buf b;
    gw_buf_init(&b, 1 << 20);
    gw_buf_puts(&b, "{\"error\":\"");
    for (int i = 0; i < 1000; i++)
        gw_buf_puts(&b, "\xC3\xA9");
    gw_buf_puts(&b, "\"}");
    r = resp(400, b.data);
    t = mastodon_error_text(&r);
    ck_assert_uint_le(strlen(t), 300);
    ck_assert_ptr_nonnull(strstr(t, ELLIPSIS));
    free(t);
    gw_buf_free(&b);
}
END_TEST

/* ---- URLs --------------------------------------------------------------- */

START_TEST(test_urls)
{
    char *s = mastodon_urlencode("a b&c=d/\xC3\xA9~_.-Z9");
    ck_assert_str_eq(s, "a%20b%26c%3Dd%2F%C3%A9~_.-Z9");
    free(s);
    s = mastodon_authorize_url("https://mastodon.example", "ab c+&=");
    ck_assert_str_eq(s, "https://mastodon.example/oauth/authorize?"
                        "response_type=code&client_id=ab%20c%2B%26%3D"
                        "&redirect_uri=urn:ietf:wg:oauth:2.0:oob"
                        "&scope=read+write+follow");
    free(s);

    s = mastodon_base_url("https://mastodon.social/");
    ck_assert_str_eq(s, "https://mastodon.social");
    free(s);
    s = mastodon_base_url("http://127.0.0.1:3000");
    ck_assert_str_eq(s, "http://127.0.0.1:3000");
    free(s);
    s = mastodon_base_url("HTTPS://[::1]:8443/social//");
    ck_assert_str_eq(s, "HTTPS://[::1]:8443/social");
    free(s);
    ck_assert_ptr_null(mastodon_base_url("ftp://x.org"));
    ck_assert_ptr_null(mastodon_base_url("https://"));
    ck_assert_ptr_null(mastodon_base_url("https:///path"));
    ck_assert_ptr_null(mastodon_base_url("mastodon.social"));
    ck_assert_ptr_null(mastodon_base_url("https://x.org/?a=b"));
    ck_assert_ptr_null(mastodon_base_url("https://x.org/#f"));
    ck_assert_ptr_null(mastodon_base_url("https://user:pw@x.org"));
    ck_assert_ptr_null(mastodon_base_url("https://x.org/a b"));
    ck_assert_ptr_null(mastodon_base_url("https://x.org\r\n"));
    ck_assert_ptr_null(mastodon_base_url(NULL));

    s = mastodon_base_from_handle("@me@mastodon.social");
    ck_assert_str_eq(s, "https://mastodon.social");
    free(s);
    s = mastodon_base_from_handle("me@localhost:3000");
    ck_assert_str_eq(s, "https://localhost:3000");
    free(s);
    ck_assert_ptr_null(mastodon_base_from_handle("@me"));
    ck_assert_ptr_null(mastodon_base_from_handle("@me@"));
    ck_assert_ptr_null(mastodon_base_from_handle("@me@host/x"));

    s = mastodon_url_host("https://mastodon.example:8443/@gw");
    ck_assert_str_eq(s, "mastodon.example:8443");
    free(s);
    ck_assert_ptr_null(mastodon_url_host("no scheme"));
}
END_TEST

START_TEST(test_instance)
{
    cJSON *j = fixture("instance.json");
    struct mastodon_instance in;
    mastodon_instance_parse(j, &in);
    ck_assert_int_eq(in.max_characters, 5000);
    ck_assert_int_eq(in.url_weight, 23);
    ck_assert_str_eq(in.domain, "mastodon.example");
    ck_assert_str_eq(in.streaming_base, "https://streaming.mastodon.example");
    mastodon_instance_free(&in);
    cJSON_Delete(j);

    /* Nothing said: stock values. */
    mastodon_instance_parse(NULL, &in);
    ck_assert_int_eq(in.max_characters, 500);
    ck_assert_int_eq(in.url_weight, 23);
    ck_assert_ptr_null(in.domain);
    ck_assert_ptr_null(in.streaming_base);
    mastodon_instance_free(&in);

    j = cJSON_Parse("{\"domain\":\"bad domain\",\"configuration\":{"
                    "\"statuses\":{\"max_characters\":\"5000\","
                    "\"characters_reserved_per_url\":-4},"
                    "\"urls\":{\"streaming\":\"ws://127.0.0.1:4000\"}}}");
    mastodon_instance_parse(j, &in);
    ck_assert_int_eq(in.max_characters, 500); /* a string is no number */
    ck_assert_int_eq(in.url_weight, 0);       /* clamped */
    ck_assert_ptr_null(in.domain);
    ck_assert_str_eq(in.streaming_base, "http://127.0.0.1:4000");
    mastodon_instance_free(&in);
    cJSON_Delete(j);

    j = cJSON_Parse("{\"max_toot_chars\":1e999,\"configuration\":[]}");
    mastodon_instance_parse(j, &in);
    ck_assert_int_eq(in.max_characters, 1000000);
    mastodon_instance_free(&in);
    cJSON_Delete(j);
}
END_TEST

/* ---- !thread and !who --------------------------------------------------- */

/* !thread: the posts of the thread as events the core keeps with refs. */
START_TEST(test_thread)
{
    cJSON *st = fixture("thread_status.json");
    cJSON *ctx = fixture("context.json");
    struct mastodon_thread t;
    int n = mastodon_thread(st, ctx, &ME, &t);
    /* The start, the post, two answers; junk and a post without an author
     * are left out. */
    ck_assert_int_eq(n, 4);
    ck_assert_int_eq(t.items[0].kind, GW_EV_CONTEXT);
    ck_assert_str_eq(t.items[0].id, "100");
    ck_assert_str_eq(t.items[0].author, "gw@mastodon.example");
    ck_assert_str_eq(t.items[0].text, "the start");
    ck_assert_str_eq(t.items[1].author, "alice@example.social");
    ck_assert_str_eq(t.items[2].author, "bob@other.example");
    ck_assert_str_eq(t.items[2].cw, "careful");
    ck_assert_str_eq(t.items[2].text, "first\nanswer");
    ck_assert_str_eq(t.items[3].author, "eve@other.example");
    mastodon_thread_free(&t);

    /* No context (it failed, or is empty): the post alone. */
    ck_assert_int_eq(mastodon_thread(st, NULL, &ME, &t), 1);
    mastodon_thread_free(&t);
    ck_assert_int_lt(mastodon_thread(NULL, ctx, &ME, &t), 0);
    mastodon_thread_free(&t);
    cJSON_Delete(st);
    cJSON_Delete(ctx);

    /* A huge thread is cut, and says so. */
    cJSON *big = cJSON_CreateObject();
    cJSON *anc = cJSON_AddArrayToObject(big, "ancestors");
    cJSON *desc = cJSON_AddArrayToObject(big, "descendants");
    for (int i = 0; i < 100; i++) {
        cJSON *a = cJSON_Parse("{\"id\":\"1\",\"content\":\"<p>x</p>\","
                               "\"account\":{\"acct\":\"a\"}}");
        cJSON_AddItemToArray(anc, a);
        cJSON_AddItemToArray(desc, cJSON_Duplicate(a, true));
    }
    st = cJSON_Parse("{\"id\":\"2\",\"content\":\"<p>me</p>\","
                     "\"account\":{\"acct\":\"me\"}}");
    n = mastodon_thread(st, big, &ME, &t);
    ck_assert_int_le(n, 63);
    ck_assert_ptr_null(t.items[0].id);
    ck_assert_str_eq(t.items[0].text, ELLIPSIS " 80 earlier posts");
    ck_assert_ptr_null(t.items[n - 1].id);
    ck_assert_ptr_nonnull(strstr(t.items[n - 1].text, "more replies"));
    mastodon_thread_free(&t);
    cJSON_Delete(st);
    cJSON_Delete(big);
}
END_TEST

START_TEST(test_who_lines)
{
    cJSON *acc = fixture("account.json");
    char **lines = NULL;
    int n = mastodon_who_lines(acc, "mastodon.example", &lines);
    ck_assert_int_eq(n, 5);
    ck_assert_str_eq(lines[0],
                     "Alice \xE2\x9C\xA8 (@alice@example.social) [bot]");
    ck_assert_str_eq(lines[1], "https://example.social/@alice");
    ck_assert_str_eq(lines[2], "1234 followers, 56 following, 7890 posts");
    ck_assert_str_eq(lines[3], "Speaker, #c fan.");
    ck_assert_str_eq(lines[4], "Second paragraph.");
    mastodon_lines_free(lines, n);
    cJSON_Delete(acc);

    acc = cJSON_Parse("{\"acct\":\"bob\",\"display_name\":\"\","
                      "\"followers_count\":\"many\",\"note\":7}");
    n = mastodon_who_lines(acc, "mastodon.example", &lines);
    ck_assert_int_eq(n, 2);
    ck_assert_str_eq(lines[0], "@bob@mastodon.example");
    ck_assert_str_eq(lines[1], "0 followers, 0 following, 0 posts");
    mastodon_lines_free(lines, n);
    cJSON_Delete(acc);

    acc = cJSON_Parse("{\"acct\":\"bad acct\"}");
    ck_assert_int_lt(mastodon_who_lines(acc, NULL, &lines), 0);
    ck_assert_ptr_null(lines);
    cJSON_Delete(acc);
}
END_TEST

/* ---- the ops table and settings ----------------------------------------- */

static int check(const char *key, const char *value)
{
    char err[200] = "";
    int rc = mastodon_ops.check_setting(key, value, err, sizeof(err));
    if (rc < 0)
        ck_assert_msg(err[0] != '\0', "%s: no message", key);
    return rc;
}

START_TEST(test_ops_and_settings)
{
    ck_assert_int_eq(mastodon_ops.abi_version, GW_ADAPTER_ABI);
    ck_assert_str_eq(mastodon_ops.name, "mastodon");
    ck_assert(mastodon_ops.caps & GW_NET_OAUTH);
    ck_assert(mastodon_ops.caps & GW_NET_STREAMING);
    /* Replies and DMs name people on Mastodon: the core writes them. */
    ck_assert(mastodon_ops.caps & GW_NET_MENTION_REPLIES);
    ck_assert(mastodon_ops.caps & GW_NET_MENTION_DMS);
    /* Every action of the core's; Mastodon has no commands of its own. */
    for (int k = GW_ACT_POST; k < GW_ACT_COMMAND; k++)
        ck_assert_msg(mastodon_ops.actions & GW_ACT_BIT(k), "action %d", k);
    ck_assert_ptr_null(mastodon_ops.commands);
    ck_assert_ptr_nonnull(mastodon_ops.check);
    ck_assert_ptr_nonnull(mastodon_ops.start);
    ck_assert_ptr_nonnull(mastodon_ops.stop);
    ck_assert_ptr_nonnull(mastodon_ops.act);
    ck_assert_ptr_nonnull(mastodon_ops.login);
    ck_assert_ptr_nonnull(mastodon_ops.code);
    ck_assert_ptr_nonnull(mastodon_ops.status);
    const char *want[] = {"base_url",    "handle",    "token",
                          "tls_verify",  "client_id", "client_secret",
                          "app_base_url"};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        for (const char *const *k = mastodon_ops.keys; *k != NULL; k++)
            found = found || strcmp(*k, want[i]) == 0;
        ck_assert_msg(found, "key %s", want[i]);
    }

    ck_assert_int_eq(check("base_url", "https://mastodon.social"), 0);
    ck_assert_int_eq(check("base_url", "http://127.0.0.1:3000/"), 0);
    ck_assert_int_eq(check("base_url", "mastodon.social"), UV_EINVAL);
    ck_assert_int_eq(check("base_url", ""), UV_EINVAL);
    ck_assert_int_eq(check("base_url", NULL), UV_EINVAL);
    ck_assert_int_eq(check("handle", "@me@mastodon.social"), 0);
    ck_assert_int_eq(check("handle", "me"), UV_EINVAL);
    ck_assert_int_eq(check("streaming", "yes"), 0);
    ck_assert_int_eq(check("streaming", "NO"), 0);
    ck_assert_int_eq(check("streaming", "maybe"), UV_EINVAL);
    ck_assert_int_eq(check("tls_verify", "no"), 0);
    ck_assert_int_eq(check("tls_verify", "off"), UV_EINVAL);
    ck_assert_int_eq(check("poll_seconds", "5"), 0);
    ck_assert_int_eq(check("poll_seconds", "86400"), 0);
    ck_assert_int_eq(check("poll_seconds", "4"), UV_EINVAL);
    ck_assert_int_eq(check("poll_seconds", "86401"), UV_EINVAL);
    ck_assert_int_eq(check("poll_seconds", "1m"), UV_EINVAL);
    ck_assert_int_eq(check("token", "abcDEF-123_x"), 0);
    ck_assert_int_eq(check("token", "abc def"), UV_EINVAL);
    ck_assert_int_eq(check("token", "abc\r\nX-Evil: 1"), UV_EINVAL);
    ck_assert_int_eq(check("client_secret", ""), UV_EINVAL);
    ck_assert_int_eq(check("tls_ca", "ca.pem"), 0);
    ck_assert_int_eq(check("tls_ca", ""), UV_EINVAL);
    ck_assert_int_eq(check("channel", "#anything"), 0); /* not ours */
}
END_TEST

static Suite *mastodon_suite(void)
{
    Suite *s = suite_create("mastodon");
    TCase *ev = tcase_create("events");
    tcase_add_test(ev, test_mention);
    tcase_add_test(ev, test_dm);
    tcase_add_test(ev, test_reply);
    tcase_add_test(ev, test_reply_to_someone_else_is_a_mention);
    tcase_add_test(ev, test_mentions_once_each);
    tcase_add_test(ev, test_favourite_and_reblog);
    tcase_add_test(ev, test_follow);
    tcase_add_test(ev, test_update_is_an_edit_keyed_by_edit_time);
    tcase_add_test(ev, test_media_with_alt_text);
    tcase_add_test(ev, test_poll);
    tcase_add_test(ev, test_content_warning);
    tcase_add_test(ev, test_odd_visibility_kept);
    tcase_add_test(ev, test_custom_emoji_and_local_author_with_20_digit_id);
    tcase_add_test(ev, test_quote);
    tcase_add_test(ev, test_urls_and_handles_not_utf8);
    tcase_add_test(ev, test_unknown_type_ignored);
    tcase_add_test(ev, test_own_status);
    tcase_add_test(ev, test_hostile_items);
    tcase_add_test(ev, test_without_me);
    tcase_add_test(ev, test_nul_in_identity_and_text);
    tcase_add_test(ev, test_odd_accts_arrive);
    suite_add_tcase(s, ev);

    TCase *ids = tcase_create("ids");
    tcase_add_test(ids, test_id_order);
    tcase_add_test(ids, test_id_valid);
    tcase_add_test(ids, test_page_sorted);
    tcase_add_test(ids, test_json_arena);
    tcase_add_test(ids, test_json_same_as_cjson);
    tcase_add_test(ids, test_parse_time_forms);
    suite_add_tcase(s, ids);

    TCase *out = tcase_create("outbound");
    tcase_add_test(out, test_handles);
    tcase_add_test(out, test_visibility);
    tcase_add_test(out, test_compose_reply);
    tcase_add_test(out, test_compose_dm_and_post);
    tcase_add_test(out, test_length);
    tcase_add_test(out, test_text_length);
    suite_add_tcase(s, out);

    TCase *http = tcase_create("http");
    tcase_add_test(http, test_map_status);
    tcase_add_test(http, test_retry_after);
    tcase_add_test(http, test_error_text);
    tcase_add_test(http, test_urls);
    tcase_add_test(http, test_instance);
    suite_add_tcase(s, http);

    TCase *lines = tcase_create("lines");
    tcase_add_test(lines, test_thread);
    tcase_add_test(lines, test_who_lines);
    tcase_add_test(lines, test_ops_and_settings);
    suite_add_tcase(s, lines);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(mastodon_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
