/*
 * The network "test": an adapter that unit tests script. It delivers what
 * a test tells it to, keeps every action the core hands it, and answers
 * each one when the test says how. With it the router's behaviour (refs,
 * replies, the outbox and its outcomes, the inbox, playback, the ready
 * state) is tested once for every network, without HTTP.
 *
 * Settings: ready = yes (signed in at start, as me), me = HANDLE,
 * max = N (the longest text it takes). Its own command: !ping NICK.
 */
#ifndef TESTNET_H
#define TESTNET_H

#include <stdbool.h>
#include <stdint.h>

#include "adapter.h"

/* Like Mastodon: content warnings, audiences, replies that name people. */
extern const struct gw_adapter_ops testnet_ops;
/* Like X: none of that, and no boosts or DMs. */
extern const struct gw_adapter_ops testnet_plain_ops;

struct testnet_action {
    uint64_t token;
    enum gw_action_kind kind;
    char *text, *cw, *handle, *parent_id, *idem_key;
    char *command; /* GW_ACT_COMMAND */
    enum gw_audience audience;
    bool maybe_sent;
    bool answered;
    int64_t queued_ms;
};

#define TESTNET_ACTIONS_MAX 64

struct testnet {
    struct gw_adapter *ad;
    struct testnet_action acts[TESTNET_ACTIONS_MAX];
    int nacts;
    long max;
    int made; /* posts created, for their ids */
    bool stopped_once;
};

struct testnet *testnet_of(struct gw_adapter *ad);
void testnet_ready(struct testnet *t);
void testnet_signed_out(struct testnet *t, const char *why);
/* A post by author (handle; id = the handle lower-cased unless given). */
int testnet_deliver(struct testnet *t, enum gw_event_kind kind, const char *id,
                    const char *author, const char *text);
int testnet_deliver_ev(struct testnet *t, const struct gw_event *ev);
/* Answer action i: OK (creating a post "made-N" with the action's text),
 * RETRY, FAILED, MAYBE. */
void testnet_answer(struct testnet *t, int i, enum gw_action_status st,
                    const char *msg);

#endif
