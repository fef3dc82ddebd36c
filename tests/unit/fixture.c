/* Recorded network JSON for unit tests (fixture.h). */
#include "fixture.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "gw_util.h"

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    struct gw_buf b;
    gw_buf_init(&b, 16 * 1024 * 1024);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ck_assert_int_eq(gw_buf_append(&b, chunk, n), 0);
    fclose(f);
    *len = b.len;
    return b.data != NULL ? gw_buf_steal(&b) : gw_xstrdup("");
}

char *fixture_text(const char *network, const char *name, size_t *len)
{
    const char *env = getenv("PARLEY_FIXTURES");
    char *paths[] = {
        env != NULL ? gw_xasprintf("%s/%s/%s", env, network, name) : NULL,
        env != NULL ? gw_xasprintf("%s/%s", env, name) : NULL,
        gw_xasprintf("tests/fixtures/%s/%s", network, name),
        gw_xasprintf("../fixtures/%s/%s", network, name),
        gw_xasprintf("../../tests/fixtures/%s/%s", network, name),
    };
    char *text = NULL;
    for (size_t i = 0; i < GW_ARRAY_LEN(paths); i++) {
        if (text == NULL && paths[i] != NULL)
            text = read_file(paths[i], len);
        free(paths[i]);
    }
    ck_assert_msg(text != NULL, "fixture %s/%s not found (set PARLEY_FIXTURES)",
                  network, name);
    return text;
}

cJSON *fixture_json(const char *network, const char *name)
{
    size_t len = 0;
    char *text = fixture_text(network, name, &len);
    cJSON *j = cJSON_ParseWithLength(text, len);
    free(text);
    ck_assert_msg(j != NULL, "fixture %s/%s is not JSON", network, name);
    return j;
}
