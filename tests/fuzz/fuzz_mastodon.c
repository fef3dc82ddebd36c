/*
 * libFuzzer target for the Mastodon decoder: mastodon_notification_to_event
 * and mastodon_status_to_event, fed whatever JSON a server (or anyone in
 * the middle) may send. The input is parsed as the stream's payloads are
 * (gw_json_parse); an object is decoded, an array item by item, each as a
 * notification and as a status, with and without knowing who "I" am.
 *
 * Besides no crash, no leak and no undefined behaviour, every event must
 * keep what mastodon.h and adapter.h promise: ids are ids, handles are
 * handles, and the strings that become IRC text (names, content warnings,
 * media descriptions and types, URLs, handles) are valid UTF-8 and one
 * line without control characters; the text may hold line breaks ("\n"),
 * and nothing else of the kind. The seeds are tests/fixtures/mastodon/.
 * Built and run by `make fuzz` (longer: make fuzz FUZZ_SECONDS=600).
 */
#include "mastodon.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_ircmsg.h"
#include "gw_json.h"
#include "gw_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct mastodon_me ME = {"42", "gw@mastodon.example",
                                      "mastodon.example"};

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Valid UTF-8 without controls (C0 but the line breaks allowed, DEL, C1)
 * or the Unicode line and paragraph separators, which some clients break
 * lines at. */
static bool clean(const char *s, bool breaks)
{
    if (!gw_utf8_valid(s, strlen(s)))
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++) {
        if ((*p < 0x20 && !(breaks && *p == '\n')) || *p == 0x7f)
            return false;
        if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
            return false;
        if (p[0] == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9))
            return false;
    }
    return true;
}

/* NULL, or one clean line with something in it and no space at its ends
 * (what the decoder makes of names, content warnings and descriptions). */
static void check_line(const char *s)
{
    if (s == NULL)
        return;
    size_t n = strlen(s);
    check(n > 0 && s[0] != ' ' && s[n - 1] != ' ');
    check(clean(s, false));
}

static void check_url(const char *s)
{
    if (s == NULL)
        return;
    check(gw_strncasecmp(s, "http://", 7) == 0 ||
          gw_strncasecmp(s, "https://", 8) == 0);
    check(strlen(s) <= 4096 && strchr(s, ' ') == NULL);
    check(clean(s, false));
}

static void check_id(const char *s, bool required)
{
    check(s != NULL || !required);
    check(s == NULL || mastodon_id_valid(s));
}

static void check_handle(const char *s)
{
    check(mastodon_handle_valid(s));
    check(clean(s, false));
}

static void check_event(const struct mastodon_event *e,
                        const struct mastodon_me *me)
{
    const struct gw_event *ev = &e->ev;

    check(ev->kind >= GW_EV_MENTION && ev->kind <= GW_EV_OWN);
    check_id(ev->id, true);
    check_id(ev->target_id, false);
    check_id(ev->in_reply_to, false);
    check_handle(ev->author);
    check_line(ev->author_name);
    check_url(ev->author_url);
    check_url(ev->url);
    check(ev->text != NULL && clean(ev->text, true));
    check_line(ev->cw);
    check(ev->conversation == NULL || clean(ev->conversation, false));
    check(ev->audience >= GW_AUD_UNKNOWN && ev->audience <= GW_AUD_MENTIONED);
    /* The stable id a nick is kept for: the handle, lower-cased. */
    check(ev->author_id == NULL ||
          gw_strcasecmp(ev->author_id, ev->author) == 0);

    check(ev->nmedia >= 0 && (ev->nmedia == 0 || ev->media != NULL));
    for (int i = 0; i < ev->nmedia; i++) {
        check(ev->media[i].url != NULL);
        check_url(ev->media[i].url);
        check_line(ev->media[i].alt);
        check_line(ev->media[i].type);
    }

    /* Other participants: handles, each once, never me. */
    check(ev->nmentions >= 0 && (ev->nmentions == 0 || ev->mentions != NULL));
    for (int i = 0; i < ev->nmentions; i++) {
        check_handle(ev->mentions[i]);
        check(me == NULL || gw_strcasecmp(ev->mentions[i], me->acct) != 0);
        for (int j = 0; j < i; j++)
            check(gw_strcasecmp(ev->mentions[i], ev->mentions[j]) != 0);
    }

    /* What the adapter stores with the post is JSON it can read back. */
    if (ev->extra != NULL) {
        cJSON *x = cJSON_Parse(ev->extra);
        check(cJSON_IsObject(x));
        cJSON_Delete(x);
    }
}

static void decode(const cJSON *item)
{
    static const struct mastodon_me *const mes[] = {&ME, NULL};
    for (size_t m = 0; m < GW_ARRAY_LEN(mes); m++) {
        struct mastodon_event e;
        int rc = mastodon_notification_to_event(item, mes[m], &e);
        check(rc == 0 || rc == MASTODON_IGNORED || rc == UV_EINVAL);
        if (rc == 0)
            check_event(&e, mes[m]);
        mastodon_event_free(&e);

        static const enum gw_event_kind kinds[] = {GW_EV_OWN, GW_EV_EDIT};
        for (size_t k = 0; k < GW_ARRAY_LEN(kinds); k++) {
            rc = mastodon_status_to_event(item, kinds[k], mes[m], &e);
            check(rc == 0 || rc == UV_EINVAL);
            if (rc == 0) {
                check(e.ev.kind == kinds[k]);
                check_event(&e, mes[m]);
            }
            mastodon_event_free(&e);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cJSON *root = gw_json_parse((const char *)data, size);
    if (root == NULL)
        return 0;
    if (cJSON_IsArray(root)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, root)
        {
            decode(it);
        }
    } else {
        decode(root);
    }
    gw_json_free(root);
    return 0;
}
