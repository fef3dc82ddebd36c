/*
 * Recorded network JSON for unit tests: tests/fixtures/<network>/<name>,
 * found from the repository root (make), from build/ directories, or
 * through PARLEY_FIXTURES (the fixtures root, or one network's folder).
 * A fixture that is missing or not JSON fails the test.
 */
#ifndef FIXTURE_H
#define FIXTURE_H

#include <stddef.h>

#include <cjson/cJSON.h>

/* The file's bytes (malloc'd, NUL-terminated) and their count in *len. */
char *fixture_text(const char *network, const char *name, size_t *len);
/* The file as JSON; free with cJSON_Delete. */
cJSON *fixture_json(const char *network, const char *name);

#endif
