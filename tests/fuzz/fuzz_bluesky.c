/*
 * libFuzzer target for the Bluesky decoder: whatever JSON a PDS, an
 * AppView or the chat service (or anyone in the middle) may send, decoded
 * as a notification, a chat message, a post record with its facets and
 * embeds, a thread, a profile and a DID document; the raw bytes also as a
 * JWT and as text typed on IRC (facets out, lengths). The seeds are
 * tests/fixtures/bluesky/.
 *
 * Besides no crash, no leak and no undefined behaviour: event text is
 * valid UTF-8 with no control characters but "\n", names and handles are
 * one clean line, every facet found in typed text lies inside it on UTF-8
 * boundaries. Built and run by `make fuzz`.
 */
#include "bluesky.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "gw_ircmsg.h"
#include "gw_json.h"
#include "gw_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_text(const char *s, bool breaks)
{
    if (s == NULL)
        return;
    check(gw_utf8_valid(s, strlen(s)));
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++)
        check(!((*p < 0x20 && !(breaks && *p == '\n')) || *p == 0x7f));
}

static void check_event(const struct bluesky_event *e)
{
    const struct gw_event *ev = &e->ev;
    check_text(ev->text, true);
    check_text(ev->author, false);
    check_text(ev->author_name, false);
    check(ev->author == NULL || bluesky_handle_valid(ev->author) ||
          bluesky_did_valid(ev->author));
    for (int i = 0; i < ev->nmedia; i++) {
        check_text(ev->media[i].url, false);
        check_text(ev->media[i].alt, false);
    }
}

static void one(const cJSON *it)
{
    struct bluesky_event e;
    if (bluesky_notification_to_event(it, "https://cdn.example", &e) == 0)
        check_event(&e);
    bluesky_event_free(&e);
    if (bluesky_message_to_event(gw_json_obj(it, "message"), "c", "a.b", &e) ==
        0)
        check_event(&e);
    bluesky_event_free(&e);
    memset(&e, 0, sizeof(e));
    char *t = bluesky_render_post(it, "did:plc:ragtjsm2j2vknwkz3zp4oxrd",
                                  "https://cdn.example", &e);
    check_text(t, true);
    free(t);
    bluesky_event_free(&e);
    char **lines = NULL;
    int n = bluesky_thread_lines(gw_json_obj(it, "thread"), &lines);
    for (int i = 0; i < n; i++)
        check_text(lines[i], false);
    bluesky_lines_free(lines, n > 0 ? n : 0);
    n = bluesky_who_lines(it, &lines);
    for (int i = 0; i < n; i++)
        check_text(lines[i], false);
    bluesky_lines_free(lines, n > 0 ? n : 0);
    char *pds = bluesky_pds_endpoint(it, NULL);
    check(pds == NULL || strncmp(pds, "http", 4) == 0);
    free(pds);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = gw_xstrndup((const char *)data, size);
    int64_t iat, exp;
    (void)bluesky_jwt_times(s, &iat, &exp);
    if (gw_utf8_valid(s, strlen(s))) {
        struct bluesky_facet *f = NULL;
        size_t len = strlen(s);
        int n = bluesky_facets_find(s, &f);
        for (int i = 0; i < n; i++) {
            check(f[i].start < f[i].end && f[i].end <= len);
            check(((unsigned char)s[f[i].start] & 0xc0) != 0x80);
            check(f[i].end == len ||
                  ((unsigned char)s[f[i].end] & 0xc0) != 0x80);
        }
        cJSON *rec = bluesky_post_record(s, 0, f, n, NULL);
        cJSON_Delete(rec);
        bluesky_facets_free(f, n);
        char err[128];
        (void)bluesky_check_length(s, 300, 3000, err, sizeof(err));
    }
    free(s);
    cJSON *j = gw_json_parse((const char *)data, size);
    if (cJSON_IsArray(j)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, j)
        {
            one(it);
        }
    } else if (j != NULL) {
        one(j);
        const cJSON *it;
        cJSON_ArrayForEach(it, gw_json_arr(j, "notifications"))
        {
            one(it);
        }
        cJSON_ArrayForEach(it, gw_json_arr(j, "logs"))
        {
            one(it);
        }
    }
    gw_json_free(j);
    return 0;
}
