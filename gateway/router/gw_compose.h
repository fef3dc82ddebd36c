/*
 * The rules for what goes out, kept once for every network (design.md,
 * "Replying"): a reply names the people it answers where the network needs
 * that, keeps the parent's content warning, and is never read by more
 * people than its parent. Pure functions; the router applies them when it
 * hands an action to an adapter.
 */
#ifndef GW_COMPOSE_H
#define GW_COMPOSE_H

#include <stdbool.h>

#include "adapter.h"

/*
 * A handle as a mention can carry it: [@]user[@domain], user from
 * [A-Za-z0-9_.-] or UTF-8, domain from [A-Za-z0-9.-:] or UTF-8.
 */
bool gw_compose_handle_ok(const char *h);

/*
 * text with "@handle " in front for each handle that can be a mention, is
 * not me (case aside), not a repeat and not already mentioned in text as
 * "@handle" at a word boundary. Handles are written as given, minus a
 * leading '@'. Never NULL; the caller frees it.
 */
char *gw_compose_mentions(const char *text, const char *const *handles,
                          int nhandles, const char *me);

/*
 * The audience of a reply: the parent's, or the requested one when that is
 * narrower. Not knowing the parent's, stay off public timelines but still
 * reach everyone named (UNLISTED), unless something narrower was asked.
 */
enum gw_audience gw_audience_narrow(enum gw_audience parent,
                                    enum gw_audience requested);

/* "public", "unlisted", "followers", "mentioned"; NULL for UNKNOWN. */
const char *gw_audience_name(enum gw_audience a);

#endif
