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
/* A tree that lives longer (a REST answer kept across requests): plain
 * cJSON, after the same care for \u0000 as gw_json_parse. NULL for
 * nothing or bad JSON. */
cJSON *gw_json_read(const char *s, size_t len);
/*
 * A \u0000 escape decodes into a NUL that cuts the C string it lands in:
 * an acct "ann\u0000@evil.example" would read as "ann", and the rest of a
 * post would vanish. Both parsers above see such escapes as \uFFFD (the
 * replacement character) instead: the text after them stays, and an
 * identity that holds one is visibly not the one it imitates. Returns a
 * malloc'd copy of s with them rewritten, or NULL when there were none.
 */
char *gw_json_unnul(const char *s, size_t len);

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
