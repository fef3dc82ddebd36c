/*
 * libFuzzer target for gateway/gw_json.c: a differential test against
 * cJSON. Every input must parse to the same tree as cJSON_ParseWithLength
 * gives (types, values, keys, links), or fail where cJSON fails.
 *
 * Built and run by `make fuzz` (longer: make fuzz FUZZ_SECONDS=600).
 */
#include "gw_json.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void same_tree(const cJSON *a, const cJSON *b)
{
    if (a->type != b->type || a->valueint != b->valueint)
        abort();
    if (a->valuedouble != b->valuedouble &&
        !(isnan(a->valuedouble) && isnan(b->valuedouble)))
        abort();
    if ((a->valuestring == NULL) != (b->valuestring == NULL) ||
        (a->valuestring && strcmp(a->valuestring, b->valuestring) != 0))
        abort();
    if ((a->string == NULL) != (b->string == NULL) ||
        (a->string && strcmp(a->string, b->string) != 0))
        abort();
    if ((a->child == NULL) != (b->child == NULL))
        abort();
    const cJSON *x = a->child, *y = b->child;
    if (x && (x->prev == NULL) != (y->prev == NULL))
        abort();
    for (; x && y; x = x->next, y = y->next)
        same_tree(x, y);
    if (x || y)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    cJSON *want = gw_json_read(s, size);
    cJSON *got = gw_json_parse(s, size);
    if ((want == NULL) != (got == NULL))
        abort();
    if (want)
        same_tree(want, got);
    cJSON_Delete(want);
    gw_json_free(got);
    return 0;
}
