/*
 * The LinkedIn adapter's pure parts against recorded JSON
 * (tests/fixtures/linkedin, written from Microsoft's Community Management
 * reference and LinkedIn's own SDK): Rest.li URLs, URNs, notifications
 * (hostile ones too), comments, posts and people to events, what an HTTP
 * answer means, OAuth, comment bodies with mentions, the maybe-sent look,
 * webhook checks, the poll window, and the ops table.
 */
#include "linkedin.h"

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

#define ORG "urn:li:organization:2414183"

static cJSON *fixture(const char *name)
{
    return fixture_json("linkedin", name);
}

static struct gw_http_response response(long status, const char *body)
{
    struct gw_http_response r;
    memset(&r, 0, sizeof(r));
    r.status = status;
    r.body = body;
    r.body_len = body != NULL ? strlen(body) : 0;
    r.retry_after_s = -1;
    r.ratelimit_remaining = -1;
    return r;
}

/* A fixture's text as a response body (freed by the caller). */
static char *fixture_body(const char *name)
{
    size_t len;
    return fixture_text("linkedin", name, &len);
}

/* Nothing a remote user sends may break an IRC line. */
static bool text_safe(const char *s)
{
    for (; s != NULL && *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\n') || c == 0x7f)
            return false;
    }
    return true;
}

/* ---- Rest.li URLs and URNs --------------------------------------------- */

/* The examples of LinkedIn's own encoder tests (linkedin-developers/
 * linkedin-api-python-client: tests/clients/restli/utils/encoder_test.py)
 * and of the Community Management pages. */
START_TEST(test_restli_examples)
{
    char *s = linkedin_restli("%u", "urn:li:organization:12345");
    ck_assert_str_eq(s, "urn%3Ali%3Aorganization%3A12345");
    free(s);
    s = linkedin_restli("%u", "abc123");
    ck_assert_str_eq(s, "abc123");
    free(s);
    s = linkedin_restli("List(%u,%u,%u)", "1", "2", "foobar");
    ck_assert_str_eq(s, "List(1,2,foobar)");
    free(s);
    s = linkedin_restli("(k1:%u,k2:%u,k3:List(1,2),k4:(k41:%u))", "v1",
                        "urn:li:app:123", "foobar");
    ck_assert_str_eq(
        s, "(k1:v1,k2:urn%3Ali%3Aapp%3A123,k3:List(1,2),k4:(k41:foobar))");
    free(s);
    s = linkedin_restli("List((k1:%u),List(%u,%u))", "v1", "v2", " t?':,*!");
    ck_assert_str_eq(s, "List((k1:v1),List(v2,%20t%3F%27%3A%2C%2A%21))");
    free(s);
    /* Unreserved characters stay; UTF-8 is encoded byte by byte. */
    s = linkedin_restli("%u", "a-b.c_d~e/\xc3\xa9");
    ck_assert_str_eq(s, "a-b.c_d~e%2F%C3%A9");
    free(s);
}
END_TEST

START_TEST(test_restli_paths)
{
    char *s = linkedin_restli(
        "%s/rest/socialActions/%u/comments", "https://api.linkedin.com",
        "urn:li:comment:(urn:li:activity:6631349431612559360,"
        "6636062862760562688)");
    ck_assert_str_eq(s, "https://api.linkedin.com/rest/socialActions/"
                        "urn%3Ali%3Acomment%3A%28urn%3Ali%3Aactivity%"
                        "3A6631349431612559360%2C6636062862760562688%29/"
                        "comments");
    free(s);
    s = linkedin_restli("/rest/organizationalEntityNotifications?q=criteria"
                        "&organizationalEntity=%u&actions=List(COMMENT,"
                        "SHARE_MENTION)&timeRange=(start:%l,end:%l)",
                        "urn:li:organization:12345", (int64_t)1746177247000,
                        (int64_t)1746263647000);
    ck_assert_str_eq(s, "/rest/organizationalEntityNotifications?q=criteria"
                        "&organizationalEntity=urn%3Ali%3Aorganization%"
                        "3A12345&actions=List(COMMENT,SHARE_MENTION)"
                        "&timeRange=(start:1746177247000,end:1746263647000)");
    free(s);
    s = linkedin_restli("/rest/reactions/(actor:%u,entity:%u)", ORG,
                        "urn:li:activity:1");
    ck_assert_str_eq(s, "/rest/reactions/(actor:urn%3Ali%3Aorganization%"
                        "3A2414183,entity:urn%3Ali%3Aactivity%3A1)");
    free(s);
    s = linkedin_restli("/rest/people/(id:%u) 100%%", "zLqTygBP8S");
    ck_assert_str_eq(s, "/rest/people/(id:zLqTygBP8S) 100%");
    free(s);
    s = linkedin_restli("%u|%s", NULL, NULL);
    ck_assert_str_eq(s, "|");
    free(s);
}
END_TEST

START_TEST(test_urns)
{
    char type[32];
    ck_assert_str_eq(linkedin_urn_split(ORG, type, sizeof(type)), "2414183");
    ck_assert_str_eq(type, "organization");
    ck_assert(linkedin_urn_valid("urn:li:person:zLqTygBP8S"));
    ck_assert(linkedin_urn_valid("urn:li:comment:(urn:li:activity:1,2)"));
    ck_assert(linkedin_urn_valid("urn:li:ugcPost:7429953213384187904"));
    const char *bad[] = {
        NULL,
        "",
        "urn:li:",
        "urn:li::1",
        "urn:li:person:",
        "urn:x:person:1",
        "urn:li:person:a b",
        "urn:li:person:a\r\nb",
        "urn:li:comment:(urn:li:activity:1,2",
        "urn:li:comment:(urn:li:activity:1,2))",
        "urn:li:comment:(a b,2)",
        "urn:li:person:a/../b",
        "urn:li:per son:1",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
        ck_assert_msg(!linkedin_urn_valid(bad[i]), "%s", bad[i]);
    char longer[300];
    memset(longer, 'a', sizeof(longer));
    memcpy(longer, "urn:li:person:", 14);
    longer[sizeof(longer) - 1] = '\0';
    ck_assert(!linkedin_urn_valid(longer));
    ck_assert_ptr_null(linkedin_urn_split("nope", type, sizeof(type)));
    ck_assert_str_eq(type, "");
}
END_TEST

START_TEST(test_comment_refs)
{
    struct linkedin_comment_ref r;
    /* The notification's short form and the full one name one comment. */
    ck_assert_int_eq(
        linkedin_comment_ref("urn:li:comment:(activity:7094637247890620418,"
                             "7094977717598625792)",
                             &r),
        0);
    ck_assert_str_eq(r.urn, "urn:li:comment:(urn:li:activity:"
                            "7094637247890620418,7094977717598625792)");
    ck_assert_str_eq(r.object, "urn:li:activity:7094637247890620418");
    ck_assert_str_eq(r.id, "7094977717598625792");
    linkedin_comment_ref_free(&r);
    ck_assert_int_eq(
        linkedin_comment_ref("urn:li:comment:(urn:li:ugcPost:9,10)", &r), 0);
    ck_assert_str_eq(r.object, "urn:li:ugcPost:9");
    linkedin_comment_ref_free(&r);
    const char *bad[] = {
        "urn:li:share:1",
        "urn:li:comment:1",
        "urn:li:comment:(urn:li:activity:1)",
        "urn:li:comment:(urn:li:activity:1,)",
        "urn:li:comment:(urn:li:activity:1,2.5)",
        "urn:li:comment:(urn:li:comment:(urn:li:activity:1,2),3)",
        "urn:li:comment:(bogus,3)",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        ck_assert_msg(linkedin_comment_ref(bad[i], &r) == UV_EINVAL, "%s",
                      bad[i]);
        ck_assert_ptr_null(r.urn);
        linkedin_comment_ref_free(&r);
    }
}
END_TEST

START_TEST(test_days)
{
    /* 2026-12-03T15:00:00Z */
    int64_t t = 1796310000000;
    ck_assert_int_eq(linkedin_next_utc_midnight(t), 1796342400000);
    ck_assert_int_eq(linkedin_next_utc_midnight(1796342400000),
                     1796342400000 + 86400000);
    char day[16];
    linkedin_format_day(t, day, sizeof(day));
    ck_assert_str_eq(day, "2026-12-03");
}
END_TEST

/* ---- notifications ------------------------------------------------------ */

START_TEST(test_notifications_page)
{
    cJSON *page = fixture("notifications.json");
    struct linkedin_note *notes = NULL;
    int elements = 0, bad = 0;
    int n = linkedin_notes_page(page, &notes, &elements, &bad);
    ck_assert_int_eq(n, 6);
    ck_assert_int_eq(elements, 6);
    ck_assert_int_eq(bad, 0);
    /* Oldest first, whatever the order on the wire. */
    for (int i = 1; i < n; i++)
        ck_assert(notes[i - 1].at <= notes[i].at);
    const struct linkedin_note *c = &notes[0];
    ck_assert_str_eq(c->id, "5603453321");
    ck_assert_int_eq(c->action, LINKEDIN_COMMENT);
    ck_assert_str_eq(c->activity, "urn:li:comment:(urn:li:activity:"
                                  "7094637247890620418,7094977717598625792)");
    ck_assert_str_eq(c->source_post, "urn:li:activity:7094637247890620418");
    ck_assert_str_eq(c->org, ORG);
    ck_assert_int_eq(c->at, 1691574506310);
    ck_assert_str_eq(c->text, "Commenting as Sumit...");
    ck_assert_str_eq(c->owner, "urn:li:person:zLqTygBP8S");
    ck_assert_int_eq(notes[1].action, LINKEDIN_ADMIN_COMMENT);
    ck_assert_int_eq(notes[2].action, LINKEDIN_COMMENT_EDIT);
    ck_assert_ptr_null(notes[2].text);
    ck_assert_int_eq(notes[3].action, LINKEDIN_OTHER); /* LIKE */
    ck_assert_ptr_null(notes[3].activity);
    ck_assert_int_eq(notes[4].action, LINKEDIN_COMMENT_DELETE);
    /* The example of the reference (social-apis.md 5.4). */
    ck_assert_int_eq(notes[5].action, LINKEDIN_SHARE_MENTION);
    ck_assert_str_eq(notes[5].id, "4406044");
    ck_assert_str_eq(notes[5].activity, "urn:li:share:7324001234567890000");
    linkedin_notes_free(notes, n);
    cJSON_Delete(page);
}
END_TEST

/* Malformed elements are skipped and counted; none takes the page down. */
START_TEST(test_hostile_notifications)
{
    cJSON *page = fixture("hostile_notifications.json");
    struct linkedin_note *notes = NULL;
    int elements = 0, bad = 0;
    int n = linkedin_notes_page(page, &notes, &elements, &bad);
    ck_assert_int_eq(elements, 16);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(bad, 14);
    /* A numeric string id is an id; a time that is not a number is 0. */
    ck_assert_str_eq(notes[0].id, "13");
    ck_assert_int_eq(notes[0].at, 0);
    ck_assert_ptr_null(notes[0].owner); /* "nobody" is not a URN */
    ck_assert_str_eq(notes[1].id, "14");
    ck_assert_int_eq(notes[1].action, LINKEDIN_OTHER);
    linkedin_notes_free(notes, n);
    cJSON_Delete(page);
    /* Not a page at all. */
    cJSON *arr = cJSON_Parse("[1,2]");
    ck_assert_int_eq(linkedin_notes_page(arr, &notes, &elements, &bad),
                     UV_EINVAL);
    ck_assert_ptr_null(notes);
    cJSON_Delete(arr);
    ck_assert_int_eq(linkedin_notes_page(NULL, &notes, &elements, &bad),
                     UV_EINVAL);
    cJSON *empty = cJSON_Parse("{\"elements\": []}");
    ck_assert_int_eq(linkedin_notes_page(empty, &notes, &elements, &bad), 0);
    ck_assert_ptr_null(notes);
    cJSON_Delete(empty);
}
END_TEST

/* ---- comments, posts, people, events ------------------------------------ */

static void person(struct linkedin_person *p, const char *file, const char *urn)
{
    cJSON *j = fixture(file);
    ck_assert_int_eq(linkedin_person_parse(j, urn, p), 0);
    cJSON_Delete(j);
}

START_TEST(test_comment_to_reply)
{
    cJSON *j = fixture("comment.json");
    struct linkedin_item it;
    ck_assert_int_eq(linkedin_comment_parse(j, &it), 0);
    cJSON_Delete(j);
    ck_assert_str_eq(it.urn, "urn:li:comment:(urn:li:activity:"
                             "7094637247890620418,7094977717598625792)");
    ck_assert_str_eq(it.object, "urn:li:share:7094637247487995904");
    ck_assert_ptr_null(it.parent);
    ck_assert_str_eq(it.actor, "urn:li:person:zLqTygBP8S");
    /* CR LF becomes a line break; IRC colour codes go. */
    ck_assert_str_eq(it.text, "Is the recording online?\nThanks 4red");
    ck_assert(text_safe(it.text));
    ck_assert_int_eq(it.created_ms, 1691574506310);
    ck_assert_int_eq(it.modified_ms, 1691574508000);

    struct linkedin_person who;
    person(&who, "person.json", it.actor);
    ck_assert_str_eq(who.name, "Jane Doe");
    ck_assert_str_eq(who.handle, "jane-doe");
    ck_assert_str_eq(who.url, "https://www.linkedin.com/in/jane-doe/");

    struct linkedin_event e;
    linkedin_item_event(&it, GW_EV_REPLY, &who, &e);
    ck_assert_int_eq(e.ev.kind, GW_EV_REPLY);
    ck_assert_str_eq(e.ev.id, it.urn);
    ck_assert_str_eq(e.ev.author_id, "urn:li:person:zLqTygBP8S");
    ck_assert_str_eq(e.ev.author, "jane-doe");
    ck_assert_str_eq(e.ev.author_name, "Jane Doe");
    ck_assert_str_eq(e.ev.in_reply_to, "urn:li:share:7094637247487995904");
    ck_assert_str_eq(e.ev.conversation, "urn:li:share:7094637247487995904");
    ck_assert_int_eq(e.ev.audience, GW_AUD_PUBLIC);
    ck_assert_int_eq(e.ev.created_ms, 1691574506310);
    ck_assert_str_eq(e.ev.url,
                     "https://www.linkedin.com/feed/update/urn%3Ali%3Ashare%"
                     "3A7094637247487995904/?commentUrn=urn%3Ali%3Acomment%"
                     "3A%28urn%3Ali%3Aactivity%3A7094637247890620418%"
                     "2C7094977717598625792%29");
    struct linkedin_extra x;
    ck_assert_int_eq(linkedin_extra_parse(e.ev.extra, &x), 0);
    ck_assert_str_eq(x.object, "urn:li:share:7094637247487995904");
    ck_assert_str_eq(x.comment, it.urn);
    ck_assert_ptr_null(x.parent);
    ck_assert_str_eq(x.actor, "urn:li:person:zLqTygBP8S");
    linkedin_extra_free(&x);
    linkedin_event_free(&e);
    /* An edit is keyed by its own time. */
    linkedin_item_event(&it, GW_EV_EDIT, &who, &e);
    ck_assert_int_eq(e.ev.created_ms, 1691574508000);
    linkedin_event_free(&e);
    linkedin_person_free(&who);
    linkedin_item_free(&it);
}
END_TEST

START_TEST(test_nested_comment)
{
    cJSON *j = fixture("comment_nested.json");
    struct linkedin_item it;
    ck_assert_int_eq(linkedin_comment_parse(j, &it), 0);
    cJSON_Delete(j);
    ck_assert_str_eq(it.parent, "urn:li:comment:(urn:li:activity:"
                                "7094637247890620418,7094977717598625792)");
    ck_assert_int_eq(it.modified_ms, it.created_ms);
    struct linkedin_person org;
    person(&org, "organization.json", ORG);
    ck_assert_str_eq(org.name, "Parley Test Co");
    ck_assert_str_eq(org.url, "https://www.linkedin.com/company/"
                              "parley-test-co/");
    struct linkedin_event e;
    linkedin_item_event(&it, GW_EV_OWN, &org, &e);
    ck_assert_str_eq(e.ev.in_reply_to, it.parent);
    struct linkedin_extra x;
    ck_assert_int_eq(linkedin_extra_parse(e.ev.extra, &x), 0);
    ck_assert_str_eq(x.parent, it.parent);
    ck_assert_str_eq(x.actor, ORG);
    linkedin_extra_free(&x);
    linkedin_event_free(&e);
    linkedin_person_free(&org);
    linkedin_item_free(&it);
}
END_TEST

START_TEST(test_bad_comments)
{
    const char *bad[] = {
        "{}",
        "[]",
        "{\"commentUrn\":\"urn:li:comment:(urn:li:activity:1,2)\","
        "\"actor\":\"urn:li:person:a\"}",
        "{\"commentUrn\":\"urn:li:comment:(urn:li:activity:1,2)\","
        "\"message\":{\"text\":\"x\"}}",
        "{\"commentUrn\":\"urn:li:share:1\",\"actor\":\"urn:li:person:a\","
        "\"message\":{\"text\":\"x\"}}",
        "{\"commentUrn\":7,\"actor\":\"urn:li:person:a\","
        "\"message\":{\"text\":\"x\"}}",
        "{\"commentUrn\":\"urn:li:comment:(urn:li:activity:1,2)\","
        "\"actor\":\"jane\",\"message\":{\"text\":\"x\"}}",
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        cJSON *j = cJSON_Parse(bad[i]);
        struct linkedin_item it;
        ck_assert_msg(linkedin_comment_parse(j, &it) == UV_EINVAL, "%s",
                      bad[i]);
        linkedin_item_free(&it);
        ck_assert_int_eq(linkedin_post_parse(j, ORG, &it), UV_EINVAL);
        linkedin_item_free(&it);
        cJSON_Delete(j);
    }
    ck_assert_int_eq(linkedin_extra_parse(NULL, &(struct linkedin_extra){0}),
                     UV_EINVAL);
    struct linkedin_extra x;
    ck_assert_int_eq(linkedin_extra_parse("{\"object\":\"nope\"}", &x),
                     UV_EINVAL);
    linkedin_extra_free(&x);
}
END_TEST

START_TEST(test_mention_post)
{
    cJSON *j = fixture("post_mention.json");
    struct linkedin_item it;
    ck_assert_int_eq(linkedin_post_parse(j, "urn:li:organization:1", &it), 0);
    ck_assert_str_eq(it.urn, "urn:li:share:7324001234567890000");
    ck_assert_str_eq(it.object, it.urn);
    ck_assert_str_eq(it.actor, "urn:li:person:a1B2c3D4");
    /* Another Page's mention in front stays. */
    ck_assert_str_eq(it.text, "@Parley Test Co what do you think of "
                              "#webinars? (asking for a friend) @Ann");
    ck_assert_int_eq(it.created_ms, 1746177247000);
    linkedin_item_free(&it);
    /* Mine is dropped, with the space after it. */
    ck_assert_int_eq(linkedin_post_parse(j, ORG, &it), 0);
    cJSON_Delete(j);
    ck_assert_str_eq(it.text, "what do you think of #webinars? (asking for a "
                              "friend) @Ann");
    struct linkedin_person fb;
    linkedin_person_fallback(it.actor, &fb);
    struct linkedin_event e;
    linkedin_item_event(&it, GW_EV_MENTION, &fb, &e);
    ck_assert_ptr_null(e.ev.in_reply_to);
    ck_assert_str_eq(e.ev.url, "https://www.linkedin.com/feed/update/"
                               "urn%3Ali%3Ashare%3A7324001234567890000/");
    linkedin_event_free(&e);
    linkedin_person_free(&fb);
    linkedin_item_free(&it);
}
END_TEST

START_TEST(test_little_text)
{
    struct {
        const char *in, *out;
    } cases[] = {
        {"plain", "plain"},
        {"a \\(b\\) c\\\\d", "a (b) c\\d"},
        {"@[Unclosed](urn:li:person:1", "@[Unclosed](urn:li:person:1"},
        {"@[Name](http://x) y", "@[Name](http://x) y"},
        {"{hashtag|\\#|open", "{hashtag|#|open"},
        {"trailing \\", "trailing \\"},
        {"", ""},
    };
    for (size_t i = 0; i < GW_ARRAY_LEN(cases); i++) {
        char *s = linkedin_little_text(cases[i].in);
        ck_assert_str_eq(s, cases[i].out);
        free(s);
    }
    char *s = linkedin_little_text(NULL);
    ck_assert_str_eq(s, "");
    free(s);
}
END_TEST

START_TEST(test_people)
{
    struct linkedin_person p;
    /* Names from the localized maps, sanitised; a vanity name that is not
     * one gives the URN's handle. */
    person(&p, "person_localized_only.json", "urn:li:person:q9");
    ck_assert_str_eq(p.name, "Zo\xc3\xa9 Martin");
    ck_assert_str_eq(p.handle, "person-q9");
    ck_assert_ptr_null(p.url);
    linkedin_person_free(&p);
    cJSON *j = fixture("person_private.json");
    ck_assert_int_eq(linkedin_person_parse(j, "urn:li:person:x", &p),
                     UV_EINVAL);
    linkedin_person_free(&p);
    cJSON_Delete(j);
    linkedin_person_fallback("urn:li:person:x-Y_1", &p);
    ck_assert_str_eq(p.name, "LinkedIn member");
    ck_assert_str_eq(p.handle, "person-x-Y_1");
    linkedin_person_free(&p);
    linkedin_person_fallback("urn:li:organization:5", &p);
    ck_assert_str_eq(p.name, "LinkedIn Page");
    ck_assert_str_eq(p.handle, "org-5");
    linkedin_person_free(&p);
    linkedin_person_fallback("garbage", &p);
    ck_assert_str_eq(p.handle, "member");
    linkedin_person_free(&p);
}
END_TEST

/* ---- HTTP outcomes ------------------------------------------------------ */

START_TEST(test_map_status)
{
    struct gw_http_response r = response(201, "");
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_OK);
    r.status = 429;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_RETRY);
    r.status = 502;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_MAYBE);
    ck_assert_int_eq(linkedin_map_status(&r, false), GW_ACT_RETRY);
    r.status = 401;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_FAILED);
    r.status = 422;
    ck_assert_int_eq(linkedin_map_status(&r, false), GW_ACT_FAILED);
    /* A transport error: made or not? Only a refused connection says. */
    r.status = 0;
    r.error = UV_ETIMEDOUT;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_MAYBE);
    r.error = UV_EIO;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_MAYBE);
    r.error = UV_ECONNREFUSED;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_RETRY);
    r.error = UV_EPROTO;
    ck_assert_int_eq(linkedin_map_status(&r, true), GW_ACT_RETRY);
    r.error = UV_ETIMEDOUT;
    ck_assert_int_eq(linkedin_map_status(&r, false), GW_ACT_RETRY);
}
END_TEST

START_TEST(test_errors)
{
    char code[64];
    char *body = fixture_body("error_expired.json");
    struct gw_http_response r = response(401, body);
    char *t = linkedin_error_text(&r);
    ck_assert_str_eq(t, "The token used in the request has expired "
                        "(EXPIRED_ACCESS_TOKEN, HTTP 401)");
    free(t);
    ck_assert_str_eq(linkedin_error_code(&r, code, sizeof(code)),
                     "EXPIRED_ACCESS_TOKEN");
    ck_assert(!linkedin_version_refused(&r));
    free(body);

    body = fixture_body("error_version.json");
    r = response(426, body);
    ck_assert(linkedin_version_refused(&r));
    r.status = 400; /* the code alone says so too */
    ck_assert(linkedin_version_refused(&r));
    free(body);
    r = response(400, "{\"status\":400,\"code\":\"VERSION_MISSING\"}");
    ck_assert(linkedin_version_refused(&r));

    body = fixture_body("error_day_limit.json");
    r = response(429, body);
    ck_assert(linkedin_day_limit(&r));
    r.status = 403;
    ck_assert(!linkedin_day_limit(&r));
    free(body);
    r = response(429, "{\"message\":\"Resource level throttle limit for "
                      "calls to this resource is reached.\"}");
    ck_assert(!linkedin_day_limit(&r));

    body = fixture_body("error_oauth.json");
    r = response(400, body);
    t = linkedin_error_text(&r);
    ck_assert_ptr_nonnull(strstr(t, "invalid_request: Unable to retrieve"));
    free(t);
    free(body);

    /* Not JSON, a hostile message, a transport error. */
    r = response(502, "<html>bad gateway</html>");
    t = linkedin_error_text(&r);
    ck_assert_str_eq(t, "HTTP 502");
    free(t);
    r = response(400, "{\"message\":\"line\\r\\nPRIVMSG #x :pwned\"}");
    t = linkedin_error_text(&r);
    ck_assert_ptr_null(strchr(t, '\n'));
    ck_assert_ptr_null(strchr(t, '\r'));
    free(t);
    r = response(0, NULL);
    r.error = UV_ETIMEDOUT;
    r.errmsg = "Timeout was reached";
    t = linkedin_error_text(&r);
    ck_assert_str_eq(t, "Timeout was reached");
    free(t);
    ck_assert_str_eq(linkedin_error_code(&r, code, sizeof(code)), "");
}
END_TEST

/* ---- OAuth -------------------------------------------------------------- */

START_TEST(test_tokens)
{
    cJSON *j = fixture("token.json");
    struct linkedin_token t;
    ck_assert_int_eq(linkedin_token_parse(j, 1000, &t), 0);
    ck_assert_str_eq(t.access, "AQXdSP_W41_UPs5ioT_t8HESyODB4FqbkJ8LrV_5mff4g"
                               "PODzOYR");
    ck_assert_ptr_nonnull(t.refresh);
    ck_assert_int_eq(t.expires_ms, 1000 + 5184000LL * 1000);
    ck_assert_int_eq(t.refresh_expires_ms, 1000 + 525600LL * 1000);
    linkedin_token_free(&t);
    cJSON_Delete(j);
    j = fixture("token_no_refresh.json");
    ck_assert_int_eq(linkedin_token_parse(j, 0, &t), 0);
    ck_assert_ptr_null(t.refresh);
    ck_assert_int_eq(t.refresh_expires_ms, 0);
    linkedin_token_free(&t);
    cJSON_Delete(j);
    const char *bad[] = {"{}", "{\"access_token\":\"a b\"}",
                         "{\"access_token\":5}", "[]"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        j = cJSON_Parse(bad[i]);
        ck_assert_int_eq(linkedin_token_parse(j, 0, &t), UV_EINVAL);
        linkedin_token_free(&t);
        cJSON_Delete(j);
    }
}
END_TEST

START_TEST(test_oauth_urls_and_forms)
{
    char *u = linkedin_authorize_url("https://www.linkedin.com", "78bw hum",
                                     "https://x.example/cb?a=1", "s1");
    ck_assert_str_eq(u, "https://www.linkedin.com/oauth/v2/authorization?"
                        "response_type=code&client_id=78bw%20hum&redirect_uri="
                        "https%3A%2F%2Fx.example%2Fcb%3Fa%3D1&state=s1&scope="
                        "rw_organization_admin%20r_organization_social_feed%"
                        "20w_organization_social_feed");
    free(u);
    u = linkedin_code_form("c&d", "id", "se=cret", "https://x/cb");
    ck_assert_str_eq(u, "grant_type=authorization_code&code=c%26d&redirect_uri="
                        "https%3A%2F%2Fx%2Fcb&client_id=id&client_secret="
                        "se%3Dcret");
    free(u);
    u = linkedin_refresh_form("r+1", "id", "s");
    ck_assert_str_eq(u, "grant_type=refresh_token&refresh_token=r%2B1"
                        "&client_id=id&client_secret=s");
    free(u);
}
END_TEST

START_TEST(test_code_from_paste)
{
    char *code, *state, err[128];
    ck_assert_int_eq(
        linkedin_code_from_paste("AQTk9x", &code, &state, err, sizeof(err)), 0);
    ck_assert_str_eq(code, "AQTk9x");
    ck_assert_ptr_null(state);
    free(code);
    ck_assert_int_eq(
        linkedin_code_from_paste("https://x.example/cb?code=AQ%2Bz_1&state="
                                 "abc#frag",
                                 &code, &state, err, sizeof(err)),
        0);
    ck_assert_str_eq(code, "AQ+z_1");
    ck_assert_str_eq(state, "abc");
    free(code);
    free(state);
    ck_assert_int_eq(
        linkedin_code_from_paste("https://x.example/cb?error=user_cancelled_"
                                 "login&error_description=The+member+"
                                 "declined%0D%0Ato+log+in",
                                 &code, &state, err, sizeof(err)),
        UV_EINVAL);
    ck_assert_str_eq(err, "user_cancelled_login: The member declined to log "
                          "in");
    ck_assert_ptr_null(code);
    const char *bad[] = {"two words", "", "https://x/cb?state=1",
                         "https://x/cb?code=%00", "https://x/cb?code="};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        ck_assert_msg(linkedin_code_from_paste(bad[i], &code, &state, err,
                                               sizeof(err)) == UV_EINVAL,
                      "%s", bad[i]);
        ck_assert_ptr_null(code);
        free(state);
    }
    ck_assert_int_eq(
        linkedin_code_from_paste(NULL, &code, &state, err, sizeof(err)),
        UV_EINVAL);
}
END_TEST

/* ---- what goes out ------------------------------------------------------ */

static cJSON *parsed(char *json)
{
    cJSON *j = cJSON_Parse(json);
    free(json);
    ck_assert_ptr_nonnull(j);
    return j;
}

START_TEST(test_comment_body)
{
    const struct linkedin_mention known[] = {
        {"jane-doe", "Jane Doe", "urn:li:person:zLqTygBP8S"},
        {"parley-test-co", "Parley Test Co", ORG},
        {"nobody", "", "urn:li:person:n"}, /* no name: not linked */
        {"broken", "Broken", "not a urn"}, /* no URN: not linked */
    };
    char *sent = NULL;
    cJSON *b = parsed(linkedin_comment_body(
        ORG, "urn:li:share:1", "urn:li:comment:(urn:li:activity:2,3)",
        "\xf0\x9f\x91\x8b @Jane-Doe. ask @parley-test-co, mail "
        "me@jane-doe, @stranger @nobody @broken",
        known, (int)GW_ARRAY_LEN(known), &sent));
    ck_assert_str_eq(gw_json_str(b, "actor"), ORG);
    ck_assert_str_eq(gw_json_str(b, "object"), "urn:li:share:1");
    ck_assert_str_eq(gw_json_str(b, "parentComment"),
                     "urn:li:comment:(urn:li:activity:2,3)");
    const cJSON *msg = gw_json_obj(b, "message");
    const char *want = "\xf0\x9f\x91\x8b Jane Doe. ask Parley Test Co, mail "
                       "me@jane-doe, @stranger @nobody @broken";
    ck_assert_str_eq(gw_json_str(msg, "text"), want);
    ck_assert_str_eq(sent, want);
    free(sent);
    const cJSON *attrs = gw_json_arr(msg, "attributes");
    ck_assert_int_eq(cJSON_GetArraySize(attrs), 2);
    /* The emoji is two UTF-16 units: Jane starts at 3, not 2 or 5. */
    const cJSON *a0 = cJSON_GetArrayItem(attrs, 0);
    ck_assert_int_eq(gw_json_long(a0, "start", -1, -1, 1000), 3);
    ck_assert_int_eq(gw_json_long(a0, "length", -1, -1, 1000), 8);
    ck_assert_str_eq(
        gw_json_str(gw_json_obj(gw_json_obj(a0, "value"),
                                "com.linkedin.common.MemberAttributedEntity"),
                    "member"),
        "urn:li:person:zLqTygBP8S");
    const cJSON *a1 = cJSON_GetArrayItem(attrs, 1);
    ck_assert_int_eq(gw_json_long(a1, "start", -1, -1, 1000), 17);
    ck_assert_int_eq(gw_json_long(a1, "length", -1, -1, 1000), 14);
    ck_assert_str_eq(
        gw_json_str(gw_json_obj(gw_json_obj(a1, "value"),
                                "com.linkedin.common.CompanyAttributedEntity"),
                    "company"),
        ORG);
    cJSON_Delete(b);
    /* A top-level comment, nobody known: no attributes, no parent. */
    b = parsed(linkedin_comment_body(ORG, "urn:li:share:1", NULL, "hi @x", NULL,
                                     0, NULL));
    ck_assert_ptr_null(gw_json_get(b, "parentComment"));
    ck_assert_ptr_null(gw_json_get(gw_json_obj(b, "message"), "attributes"));
    cJSON_Delete(b);
    b = parsed(linkedin_reaction_body("urn:li:activity:9"));
    ck_assert_str_eq(gw_json_str(b, "root"), "urn:li:activity:9");
    ck_assert_str_eq(gw_json_str(b, "reactionType"), "LIKE");
    cJSON_Delete(b);
    ck_assert_int_eq(linkedin_text_length("a\xf0\x9f\x91\x8b\xc3\xa9"), 4);
    ck_assert_int_eq(linkedin_text_length(NULL), 0);
}
END_TEST

START_TEST(test_find_comment)
{
    cJSON *page = fixture("comments_page.json");
    struct linkedin_item it;
    /* By the Page, under that parent, with that text. */
    ck_assert_int_eq(
        linkedin_find_comment(page, ORG, "urn:li:comment:(urn:li:activity:1,9)",
                              "Yes, here it is", &it),
        0);
    ck_assert_str_eq(it.urn, "urn:li:comment:(urn:li:activity:1,12)");
    linkedin_item_free(&it);
    ck_assert_int_eq(
        linkedin_find_comment(page, ORG, NULL, "Yes, here it is", &it), 0);
    ck_assert_str_eq(it.urn, "urn:li:comment:(urn:li:activity:1,11)");
    linkedin_item_free(&it);
    ck_assert_int_eq(linkedin_find_comment(page, ORG, NULL, "Yes", &it),
                     UV_ENOENT);
    ck_assert_int_eq(linkedin_find_comment(page, "urn:li:person:other", NULL,
                                           "Yes, here it is", &it),
                     UV_ENOENT);
    cJSON_Delete(page);
    ck_assert_int_eq(linkedin_find_comment(NULL, ORG, NULL, "x", &it),
                     UV_ENOENT);
}
END_TEST

/* ---- webhooks ----------------------------------------------------------- */

START_TEST(test_webhook_challenge)
{
    /* Expected values from Python's hmac over the same bytes. */
    char *j = linkedin_webhook_challenge("f4a4bb0c-c4f2-4f8c-8c87-9a7b0d4b7c0e",
                                         "client-secret-1");
    cJSON *c = parsed(j);
    ck_assert_str_eq(gw_json_str(c, "challengeCode"),
                     "f4a4bb0c-c4f2-4f8c-8c87-9a7b0d4b7c0e");
    ck_assert_str_eq(gw_json_str(c, "challengeResponse"),
                     "842128e98818798da0f8720600fe8d2eb0c492d1ee73173e3de4"
                     "545141f534ce");
    cJSON_Delete(c);
    ck_assert_ptr_null(linkedin_webhook_challenge("a b", "s"));
    ck_assert_ptr_null(linkedin_webhook_challenge("", "s"));
    ck_assert_ptr_null(linkedin_webhook_challenge("abc", NULL));
}
END_TEST

START_TEST(test_webhook_signature)
{
    size_t len;
    char *body = fixture_text("linkedin", "webhook.json", &len);
    const char *sig = "d6cdfba42c7c412cb36cc66af6c7500643b6d7c6ed4cfdc2acf9978"
                      "e1d8434de";
    ck_assert(linkedin_webhook_verify(body, len, sig, "client-secret-1"));
    char upper[80];
    gw_strlcpy(upper, sig, sizeof(upper));
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ck_assert(linkedin_webhook_verify(body, len, upper, "client-secret-1"));
    /* The exact bytes: one more space and it is another body. */
    char *spaced = gw_xasprintf("%s ", body);
    ck_assert(
        !linkedin_webhook_verify(spaced, len + 1, sig, "client-secret-1"));
    free(spaced);
    ck_assert(!linkedin_webhook_verify(body, len, sig, "other-secret"));
    ck_assert(!linkedin_webhook_verify(body, len, "hmacsha256=d6cd", "x"));
    ck_assert(!linkedin_webhook_verify(body, len, NULL, "client-secret-1"));
    ck_assert(!linkedin_webhook_verify(body, len, sig, ""));
    ck_assert(!linkedin_webhook_verify(body, len, sig, NULL));
    free(body);
}
END_TEST

START_TEST(test_webhook_path)
{
    char buf[80];
    /* One account: the app's one URL needs no name. */
    ck_assert_int_eq(linkedin_webhook_path("page", false, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/linkedin");
    ck_assert_int_eq(linkedin_webhook_path(NULL, false, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/linkedin");
    ck_assert_int_eq(
        linkedin_webhook_path("Acme_page-2", true, buf, sizeof(buf)), 0);
    ck_assert_str_eq(buf, "/linkedin/Acme_page-2");
    /* What a listener path cannot hold, or a buffer too small. */
    const char *bad[] = {"", "a/b", "a b", "a.b", "caf\xc3\xa9", "a?b"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++)
        ck_assert_int_eq(linkedin_webhook_path(bad[i], true, buf, sizeof(buf)),
                         UV_EINVAL);
    ck_assert_int_eq(linkedin_webhook_path(NULL, true, buf, sizeof(buf)),
                     UV_EINVAL);
    char long_name[66];
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    ck_assert_int_eq(linkedin_webhook_path(long_name, true, buf, sizeof(buf)),
                     UV_EINVAL);
    long_name[64] = '\0';
    ck_assert_int_eq(linkedin_webhook_path(long_name, true, buf, sizeof(buf)),
                     0);
    char small[13]; /* "/linkedin/ab" and its NUL */
    ck_assert_int_eq(linkedin_webhook_path("abc", true, small, sizeof(small)),
                     UV_EINVAL);
    ck_assert_int_eq(linkedin_webhook_path("ab", true, small, sizeof(small)),
                     0);
    ck_assert_str_eq(small, "/linkedin/ab");
    ck_assert_int_eq(linkedin_webhook_path("x", false, small, 9), UV_EINVAL);
}
END_TEST

START_TEST(test_webhook_payload)
{
    size_t len;
    char *body = fixture_text("linkedin", "webhook.json", &len);
    struct linkedin_note *notes = NULL;
    int bad = 0;
    int n = linkedin_webhook_parse(body, len, &notes, &bad);
    free(body);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(bad, 0);
    /* The same note the poller reads. */
    ck_assert_str_eq(notes[0].id, "5603453321");
    ck_assert_int_eq(notes[0].action, LINKEDIN_COMMENT);
    ck_assert_str_eq(notes[0].activity,
                     "urn:li:comment:(urn:li:activity:7094637247890620418,"
                     "7094977717598625792)");
    ck_assert_str_eq(notes[0].text, "Commenting as Sumit Butola...");
    linkedin_notes_free(notes, n);
    const char *bad_bodies[] = {
        "",
        "{",
        "[]",
        "{\"type\":\"LEAD_ACTION\",\"notifications\":[]}",
        "{\"type\":\"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS\"}",
        "{\"type\":\"ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS\","
        "\"notifications\":{}}"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad_bodies); i++)
        ck_assert_int_eq(linkedin_webhook_parse(bad_bodies[i],
                                                strlen(bad_bodies[i]), &notes,
                                                &bad),
                         UV_EINVAL);
    ck_assert_int_eq(linkedin_webhook_parse(NULL, 0, &notes, &bad), UV_EINVAL);
    const char *mixed = "{\"type\":\"ORGANIZATION_SOCIAL_ACTION_"
                        "NOTIFICATIONS\",\"notifications\":[{\"x\":1},"
                        "{\"notificationId\":3,\"action\":\"LIKE\"}]}";
    n = linkedin_webhook_parse(mixed, strlen(mixed), &notes, &bad);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(bad, 1);
    linkedin_notes_free(notes, n);
}
END_TEST

/* ---- the poll window ---------------------------------------------------- */

START_TEST(test_window)
{
    struct linkedin_window w;
    ck_assert_int_eq(linkedin_window_parse("{\"start\":1700000000000,\"seen\":"
                                           "[[\"5\",1700000000001],"
                                           "[\"6\",1700000000002],"
                                           "[\"x\",1],[7,2],\"junk\","
                                           "[\"8\"]]}",
                                           &w),
                     0);
    ck_assert_int_eq(w.start, 1700000000000);
    ck_assert_int_eq(w.nseen, 3); /* "x" is no id; [7,2] is */
    ck_assert(linkedin_window_seen(&w, "5"));
    ck_assert(linkedin_window_seen(&w, "7"));
    ck_assert(!linkedin_window_seen(&w, "8"));
    ck_assert(!linkedin_window_seen(&w, NULL));
    linkedin_window_add(&w, "5", 9); /* already there */
    ck_assert_int_eq(w.nseen, 3);
    char *s = linkedin_window_format(&w);
    struct linkedin_window w2;
    ck_assert_int_eq(linkedin_window_parse(s, &w2), 0);
    free(s);
    ck_assert_int_eq(w2.start, w.start);
    ck_assert_int_eq(w2.nseen, 3);
    linkedin_window_prune(&w2, 1700000000002);
    ck_assert_int_eq(w2.nseen, 1);
    ck_assert(linkedin_window_seen(&w2, "6"));
    linkedin_window_free(&w2);
    linkedin_window_free(&w);
    /* Bounded: the oldest goes first. */
    memset(&w, 0, sizeof(w));
    for (int i = 0; i < LINKEDIN_SEEN_MAX + 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "%d", 1000 + i);
        linkedin_window_add(&w, id, 1000 + i);
    }
    ck_assert_int_eq(w.nseen, LINKEDIN_SEEN_MAX);
    ck_assert(!linkedin_window_seen(&w, "1009"));
    ck_assert(linkedin_window_seen(&w, "1010"));
    linkedin_window_add(&w, "12345678901234567890123456789", 1); /* long */
    linkedin_window_add(&w, "1a", 1);
    ck_assert(!linkedin_window_seen(&w, "1a"));
    linkedin_window_free(&w);
    const char *bad[] = {NULL,
                         "",
                         "{}",
                         "{\"start\":\"soon\"}",
                         "[1]",
                         "{\"start\":-5}",
                         "{\"start\":1.5}"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad); i++) {
        ck_assert_int_eq(linkedin_window_parse(bad[i], &w), UV_EINVAL);
        ck_assert_int_eq(w.nseen, 0);
        linkedin_window_free(&w);
    }
}
END_TEST

/* ---- the ops table ------------------------------------------------------ */

START_TEST(test_ops)
{
    const struct gw_adapter_ops *ops = gw_adapter_find("linkedin");
    ck_assert_ptr_eq(ops, &linkedin_ops);
    /* No messages: DM is not an action, and the reason is LinkedIn's. */
    ck_assert_uint_eq(ops->actions & GW_ACT_BIT(GW_ACT_DM), 0);
    ck_assert_uint_ne(ops->actions & GW_ACT_BIT(GW_ACT_REPLY), 0);
    ck_assert_ptr_nonnull(
        strstr(ops->why_not(GW_ACT_DM), "no public API for messages"));
    ck_assert_ptr_nonnull(strstr(ops->summary, "no public API for messages"));
    ck_assert_ptr_null(ops->why_not(GW_ACT_REPLY));
    ck_assert_uint_ne(ops->caps & GW_NET_OAUTH, 0);
    /* Replies do not name people in front: LinkedIn threads them. */
    ck_assert_uint_eq(ops->caps & GW_NET_MENTION_REPLIES, 0);
    char err[256];
    ck_assert_int_eq(ops->check_setting("organization", ORG, err, sizeof(err)),
                     0);
    const char *bad_orgs[] = {"2414183",
                              "urn:li:organization:", "urn:li:organization:12a",
                              "urn:li:person:abc"};
    for (size_t i = 0; i < GW_ARRAY_LEN(bad_orgs); i++)
        ck_assert_int_eq(
            ops->check_setting("organization", bad_orgs[i], err, sizeof(err)),
            UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "urn:li:organization:N"));
    ck_assert_int_eq(ops->check_setting("redirect_uri", "https://x.example/cb",
                                        err, sizeof(err)),
                     0);
    ck_assert_int_eq(
        ops->check_setting("api_base", "ftp://x", err, sizeof(err)), UV_EINVAL);
    ck_assert_int_eq(
        ops->check_setting("client_secret", "a b", err, sizeof(err)),
        UV_EINVAL);
    ck_assert_int_eq(ops->check_setting("post_plain", "yes", err, sizeof(err)),
                     UV_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "makes no new posts"));
    ck_assert_int_eq(ops->check_setting("post_plain", "no", err, sizeof(err)),
                     0);
    bool has_org = false;
    for (const char *const *k = ops->keys; *k != NULL; k++)
        has_org |= strcmp(*k, "organization") == 0;
    ck_assert(has_org);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("linkedin");
    TCase *restli = tcase_create("restli");
    tcase_add_test(restli, test_restli_examples);
    tcase_add_test(restli, test_restli_paths);
    tcase_add_test(restli, test_urns);
    tcase_add_test(restli, test_comment_refs);
    tcase_add_test(restli, test_days);
    suite_add_tcase(s, restli);
    TCase *in = tcase_create("in");
    tcase_add_test(in, test_notifications_page);
    tcase_add_test(in, test_hostile_notifications);
    tcase_add_test(in, test_comment_to_reply);
    tcase_add_test(in, test_nested_comment);
    tcase_add_test(in, test_bad_comments);
    tcase_add_test(in, test_mention_post);
    tcase_add_test(in, test_little_text);
    tcase_add_test(in, test_people);
    suite_add_tcase(s, in);
    TCase *http = tcase_create("http");
    tcase_add_test(http, test_map_status);
    tcase_add_test(http, test_errors);
    tcase_add_test(http, test_tokens);
    tcase_add_test(http, test_oauth_urls_and_forms);
    tcase_add_test(http, test_code_from_paste);
    suite_add_tcase(s, http);
    TCase *out = tcase_create("out");
    tcase_add_test(out, test_comment_body);
    tcase_add_test(out, test_find_comment);
    tcase_add_test(out, test_webhook_challenge);
    tcase_add_test(out, test_webhook_signature);
    tcase_add_test(out, test_webhook_payload);
    tcase_add_test(out, test_webhook_path);
    tcase_add_test(out, test_window);
    tcase_add_test(out, test_ops);
    suite_add_tcase(s, out);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
