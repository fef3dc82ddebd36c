/*
 * Relays: Parley as a bot in channels of another IRC network, the
 * router's second front-end (gw_frontend.h). Each [relay NAME] section is
 * one connection, made with libircclient and driven by the gateway's one
 * libuv loop. The relays belong to struct gateway; each relay owns its
 * connection, its queue of lines and its timers, and frees them in its
 * handles' close callbacks.
 *
 * The pure parts (the token bucket, the line budget, how a line is
 * worded) are declared here too, for the unit tests.
 */
#ifndef GW_RELAY_H
#define GW_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gateway;
struct gw_relays;
struct gw_line;

/* Start every [relay] of the configuration; they attach to the router. */
int gw_relays_start(struct gateway *gw, struct gw_relays **out, char *err,
                    size_t errlen);
/* The configuration in gw->cfg changed: keep relays whose section did not,
 * restart those that did, start new ones, stop removed ones. */
void gw_relays_reload(struct gw_relays *rs);
/* QUIT every connection and close every handle (asynchronously). */
void gw_relays_stop(struct gw_relays *rs, const char *reason);
/* After the loop has run dry. NULL-safe. */
void gw_relays_free(struct gw_relays *rs);

/*
 * A token bucket: cap tokens at most, refilled at cap per period_ms. A
 * line takes one; a command sent outside the queue (JOIN, PONG's
 * neighbours) is charged and may leave the bucket in debt.
 */
struct gw_relay_bucket {
    double tokens;
    double cap;
    double per_ms;
    int64_t last_ms;
};
void gw_relay_bucket_init(struct gw_relay_bucket *b, int lines, int seconds,
                          int64_t now_ms);
bool gw_relay_bucket_take(struct gw_relay_bucket *b, int64_t now_ms);
void gw_relay_bucket_charge(struct gw_relay_bucket *b, int64_t now_ms);
/* Milliseconds until a token is there (0: now). */
int64_t gw_relay_bucket_wait(struct gw_relay_bucket *b, int64_t now_ms);

/*
 * Bytes of text that fit in one line as the server relays it to the
 * others: ":nick!userhost COMMAND target :text\r\n" within 512 bytes.
 * userhost NULL: not known yet, so a generous one is assumed.
 */
size_t gw_relay_budget(const char *nick, const char *userhost,
                       const char *command, const char *target);
/*
 * A shown line as the bot says it: "[a3] alice@example.social: text" for
 * the first line of a post (its ref moves in front), "[a3] text" for the
 * lines after it, "from: text" for a person's notice, the text alone for
 * the bot's. dm marks a direct message. The caller frees the result.
 */
char *gw_relay_format(const struct gw_line *l, bool dm);

#endif
