/*
 * libFuzzer target for the Meta decoders (adapters/meta/convert.c and the
 * error and usage parsers of compose.c), fed whatever a webhook POST or a
 * Graph answer may carry: every converter runs on the input (an object)
 * or on each item (an array), as Facebook and as Instagram.
 *
 * Besides no crash, no leak and no undefined behaviour, every event must
 * keep what meta.h and adapter.h promise: ids are ids, the strings that
 * become IRC text are valid UTF-8 without control characters (the text
 * may hold "\n"), URLs are http(s), and the JSON stored with a post reads
 * back. The seeds are tests/fixtures/meta/. Built and run by `make fuzz`.
 */
#include "meta.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_ircmsg.h"
#include "gw_json.h"
#include "gw_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct meta_me FB = {META_FACEBOOK, "106295678901234",
                                  "Parley Shop"};
static const struct meta_me IG = {META_INSTAGRAM, "17841405309211844",
                                  "parleyshop"};

static void check(int ok)
{
    if (!ok)
        abort();
}

static bool clean(const char *s, bool breaks)
{
    if (!gw_utf8_valid(s, strlen(s)))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++) {
        if ((*p < 0x20 && !(breaks && *p == '\n')) || *p == 0x7f)
            return false;
        if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
            return false;
    }
    return true;
}

static void check_opt(const char *s, bool breaks)
{
    check(s == NULL || clean(s, breaks));
}

static void check_url(const char *s)
{
    if (s == NULL)
        return;
    check(gw_strncasecmp(s, "http://", 7) == 0 ||
          gw_strncasecmp(s, "https://", 8) == 0);
    check(clean(s, false) && strchr(s, ' ') == NULL);
}

static void check_event(int rc, struct meta_event *e)
{
    if (rc == 0) {
        const struct gw_event *ev = &e->ev;
        check(ev->kind >= GW_EV_MENTION && ev->kind <= GW_EV_OWN);
        check(meta_id_valid(ev->id));
        check(ev->in_reply_to == NULL || meta_id_valid(ev->in_reply_to));
        check(ev->author != NULL && *ev->author != '\0');
        check(clean(ev->author, false));
        check_opt(ev->author_id, false);
        check_opt(ev->author_name, false);
        check_url(ev->author_url);
        check_url(ev->url);
        check(ev->text != NULL && clean(ev->text, true));
        for (int i = 0; i < ev->nmedia; i++) {
            check_url(ev->media[i].url);
            check_opt(ev->media[i].type, false);
        }
        if (ev->extra != NULL) {
            cJSON *x = cJSON_Parse(ev->extra);
            check(cJSON_IsObject(x));
            cJSON_Delete(x);
        }
    } else {
        check(rc == META_IGNORED || rc < 0);
    }
    meta_event_free(e);
}

static void decode(const cJSON *it)
{
    const struct meta_me *mes[] = {&FB, &IG};
    for (size_t i = 0; i < GW_ARRAY_LEN(mes); i++) {
        const struct meta_me *me = mes[i];
        struct meta_event e;
        const char *a = NULL, *b = NULL;
        check_event(meta_fb_comment(it, "1_2", me, &e), &e);
        check_event(meta_fb_post(it, me, &e), &e);
        check_event(meta_fb_change(it, 1795635600, me, &e), &e);
        check_event(meta_ig_comment(it, "17918195224117851", me, &e), &e);
        check_event(meta_ig_change(it, 1795635600, me, &e), &e);
        if (meta_ig_mention_ids(it, &a, &b) == 0)
            check(meta_id_valid(a) && (b == NULL || meta_id_valid(b)));
        check_event(meta_ig_mentioned(it, "17918195224117851", "179", me, &e),
                    &e);
        check_event(meta_ig_mentioned(it, "17918195224117851", NULL, me, &e),
                    &e);
        check_event(meta_ig_tagged(it, me, &e), &e);
        check_event(meta_message(it, "t_1", me, &e), &e);
        check_event(meta_messaging(it, "Alice", me, &e), &e);
        check_event(meta_messaging(it, NULL, me, &e), &e);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct meta_error err;
    if (meta_error_parse(s, size, &err) == 0) {
        check(clean(err.message, false));
        check(clean(err.trace, false));
    }
    char *z = gw_xstrndup(s, size);
    struct meta_usage u;
    if (meta_usage_parse(z, z, &u) == 0)
        check(u.regain_min >= 0 && strlen(u.buc_type) < sizeof(u.buc_type));
    free(z);
    cJSON *j = gw_json_parse(s, size);
    if (j == NULL)
        return 0;
    decode(j);
    const cJSON *it;
    cJSON_ArrayForEach(it, j)
    {
        decode(it);
        const cJSON *inner;
        cJSON_ArrayForEach(inner, it) decode(inner);
    }
    gw_json_free(j);
    return 0;
}
