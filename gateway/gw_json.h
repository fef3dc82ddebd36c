/*
 * Short-lived JSON trees: a stream event is parsed, read and dropped in one
 * go, hundreds of times a second.
 */
#ifndef GW_JSON_H
#define GW_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * cJSON_ParseWithLength for a tree that lives briefly: it is built in a
 * reusable arena. Free it with gw_json_free before the next gw_json_parse
 * can reuse the arena; a tree parsed while another is alive simply uses
 * malloc. Every other cJSON call works as before.
 */
cJSON *gw_json_parse(const char *s, size_t len);
void gw_json_free(cJSON *j);

#endif
