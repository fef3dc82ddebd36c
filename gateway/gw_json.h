/*
 * Short-lived JSON trees: a stream event is parsed, read and dropped in one
 * go, hundreds of times a second.
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "gw_http.h"

/*
 * cJSON_ParseWithLength for a tree that lives briefly: it is built in a
 * reusable arena. Free it with gw_json_free before the next gw_json_parse
 * can reuse the arena; a tree parsed while another is alive simply uses
 * malloc. Every other cJSON call works as before.
 */
cJSON *gw_json_parse(const char *s, size_t len);
void gw_json_free(cJSON *j);

/*
 * Reading JSON from a network without trusting a type: each returns NULL
 * (or dflt) when o is not an object, k is missing or the value is of
 * another type. Strings and objects are borrowed from o.
 */
const cJSON *gw_json_get(const cJSON *o, const char *k);
const char *gw_json_str(const cJSON *o, const char *k);
const cJSON *gw_json_obj(const cJSON *o, const char *k);
const cJSON *gw_json_arr(const cJSON *o, const char *k);
/* A number clamped to [min, max]; for counts and limits, never ids (a
 * double keeps 15 digits of an 18-digit id). */
long gw_json_long(const cJSON *o, const char *k, long dflt, long min, long max);

/*
 * A failed response as one line for a user: from a JSON body, "error:
 * detail" (detail_key names the detail: "error_description", "message"),
 * or either alone; else "HTTP N"; for a transport error its own message.
 * Sanitised and cut to at most max bytes; the caller frees it.
 */
char *gw_json_error_line(const struct gw_http_response *r,
                         const char *detail_key, size_t max);

#endif
