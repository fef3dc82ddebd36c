/*
 * A front-end for unit tests (gw_frontend.h): it keeps what the router
 * shows, replays and tells, the people it makes known and the places it
 * opens, so a test can check them without an IRC server. And a gateway
 * with a router and no IRC server, on a loop a test drives.
 */
#ifndef FAKEFRONT_H
#define FAKEFRONT_H

#include <stdbool.h>

#include <uv.h>

#include "gw_frontend.h"
#include "gw_gateway.h"
#include "gw_router.h"

struct fake_line {
    char *place, *prefix, *text, *msgid;
    enum gw_place_kind kind;
    bool notice, from_user;
};

#define FAKE_MAX 512

struct fakefront {
    struct gw_frontend fe;
    struct fake_line shown[FAKE_MAX];
    int nshown;
    struct fake_line replayed[FAKE_MAX];
    int nreplayed;
    char *told[FAKE_MAX]; /* "place text" */
    int ntold;
    char *persons[FAKE_MAX]; /* "nick!user@host place" */
    int npersons;
    char *places[64];
    int nplaces;
    const char *taken[8]; /* nicks of people connected */
    const char *readers[8];
};

void fakefront_init(struct fakefront *f);
void fakefront_clear(struct fakefront *f);
/* The first shown line whose "prefix place text" contains s, or NULL. */
const struct fake_line *fakefront_shown(struct fakefront *f, const char *s);
int fakefront_count(struct fakefront *f, const char *s);
/* The first told line containing s, or NULL. */
const char *fakefront_told(struct fakefront *f, const char *s);

/* A gateway of a router, a fake front-end and the test networks, with its
 * state in a fresh temporary directory. */
struct testgw {
    uv_loop_t loop;
    struct gateway gw;
    struct fakefront front;
    char dir[64];
    char conf[96];
};

void testgw_start(struct testgw *t, const char *accounts_ini);
/* Stop and start again on the same state (a restart). */
void testgw_restart(struct testgw *t);
void testgw_stop(struct testgw *t);
/* Run the loop until cond(arg) holds or ms pass; the result of cond. */
bool testgw_run_until(struct testgw *t, bool (*cond)(void *arg), void *arg,
                      int ms);
void testgw_run(struct testgw *t, int ms);
/* Someone typed text in place (as nick). */
void testgw_say(struct testgw *t, const char *nick, const char *place,
                const char *text);
void testgw_say_tagged(struct testgw *t, const char *nick, const char *place,
                       const char *text, const char *reply_to);
struct testnet *testgw_net(struct testgw *t, const char *account);

#endif
