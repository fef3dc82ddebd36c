/*
 * libFuzzer target for the LinkedIn decoders: whatever JSON LinkedIn (or
 * anyone in the middle) may send, as a page of notifications, a webhook
 * body, a comment, a post, a person or an organization, a token answer
 * and the stored poll window; and whatever a user may paste after signing
 * in. Besides no crash, no leak and no undefined behaviour, what becomes
 * IRC text stays clean: names and handles one line, texts without control
 * characters but line breaks, ids and URNs valid, and the JSON stored with
 * an event readable again. The seeds are tests/fixtures/linkedin/. Built
 * and run by `make fuzz`.
 */
#include "linkedin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "gw_json.h"
#include "gw_text.h"
#include "gw_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
    if (!ok)
        abort();
}

static void check_text(const char *s, bool one_line)
{
    check(s != NULL && gw_text_is_clean(s, strlen(s)));
    check(!one_line || strchr(s, '\n') == NULL);
}

static void check_item(const struct linkedin_item *it,
                       const struct linkedin_person *who)
{
    check(linkedin_urn_valid(it->urn) && linkedin_urn_valid(it->object));
    check(linkedin_urn_valid(it->actor));
    check(it->parent == NULL || linkedin_urn_valid(it->parent));
    check_text(it->text, false);
    static const enum gw_event_kind kinds[] = {GW_EV_REPLY, GW_EV_EDIT};
    for (size_t k = 0; k < GW_ARRAY_LEN(kinds); k++) {
        struct linkedin_event e;
        linkedin_item_event(it, kinds[k], who, &e);
        check_text(e.ev.url, true);
        struct linkedin_extra x;
        check(linkedin_extra_parse(e.ev.extra, &x) == 0);
        check(strcmp(x.object, it->object) == 0);
        linkedin_extra_free(&x);
        linkedin_event_free(&e);
    }
}

static void check_person(const struct linkedin_person *p)
{
    check_text(p->name, true);
    check_text(p->handle, true);
    check(*p->handle != '\0' && strchr(p->handle, ' ') == NULL);
    check(p->url == NULL || gw_text_url_ok(p->url));
}

static void decode(const cJSON *j)
{
    struct linkedin_note *notes = NULL;
    int elements = 0, bad = 0;
    int n = linkedin_notes_page(j, &notes, &elements, &bad);
    check(n == UV_EINVAL || (n >= 0 && n + bad == elements));
    for (int i = 0; i < n; i++) {
        check(notes[i].id != NULL && *notes[i].id != '\0');
        check(notes[i].activity == NULL ||
              linkedin_urn_valid(notes[i].activity));
        check(notes[i].text == NULL ||
              gw_text_is_clean(notes[i].text, strlen(notes[i].text)));
    }
    linkedin_notes_free(notes, n > 0 ? n : 0);

    static const char *const urns[] = {"urn:li:person:a1",
                                       "urn:li:organization:7"};
    for (size_t u = 0; u < GW_ARRAY_LEN(urns); u++) {
        struct linkedin_person p;
        if (linkedin_person_parse(j, urns[u], &p) < 0) {
            linkedin_person_free(&p);
            linkedin_person_fallback(urns[u], &p);
        }
        check_person(&p);
        struct linkedin_item it;
        if (linkedin_comment_parse(j, &it) == 0)
            check_item(&it, &p);
        linkedin_item_free(&it);
        if (linkedin_post_parse(j, urns[u], &it) == 0)
            check_item(&it, &p);
        linkedin_item_free(&it);
        linkedin_person_free(&p);
    }
    struct linkedin_token t;
    if (linkedin_token_parse(j, 0, &t) == 0)
        check(gw_printable_word(t.access, 4096));
    linkedin_token_free(&t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = gw_xstrndup((const char *)data, size);
    struct linkedin_note *notes = NULL;
    int bad = 0;
    int n = linkedin_webhook_parse((const char *)data, size, &notes, &bad);
    linkedin_notes_free(notes, n > 0 ? n : 0);
    struct linkedin_window w;
    if (linkedin_window_parse(s, &w) == 0) {
        char *again = linkedin_window_format(&w);
        struct linkedin_window w2;
        check(linkedin_window_parse(again, &w2) == 0 && w2.nseen == w.nseen);
        linkedin_window_free(&w2);
        free(again);
    }
    linkedin_window_free(&w);
    char *plain = linkedin_little_text(s);
    free(plain);
    char *code = NULL, *state = NULL, err[128];
    if (linkedin_code_from_paste(s, &code, &state, err, sizeof(err)) == 0)
        check(gw_printable_word(code, 2048));
    free(code);
    free(state);
    free(s);

    cJSON *root = gw_json_parse((const char *)data, size);
    if (root == NULL)
        return 0;
    decode(root);
    const cJSON *it;
    if (cJSON_IsArray(root)) {
        cJSON_ArrayForEach(it, root)
        {
            decode(it);
        }
    }
    gw_json_free(root);
    return 0;
}
