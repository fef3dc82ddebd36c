/*
 * The router: the only place where networks and people meet. It owns the
 * accounts (each an adapter behind adapters/adapter.h), stores every event
 * before it shows it through the front-ends (gw_frontend.h), and turns what
 * people type into actions through the outbox, or answers it.
 *
 * This header is what front-ends call. They speak of people and places, not
 * of networks; the router speaks to them only through their ops table.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_frontend.h"
#include "gw_util.h"

/* The bot's name, the same in every front-end. */
#define GW_BOT_NICK "parley"
/* Lines a post takes at most where it is shown; !open shows the rest. */
#define GW_POST_LINES 8

struct gateway;
struct gw_router;

int gw_router_start(struct gateway *gw, struct gw_router **out, char *err,
                    size_t errlen);
/* Stop every account and timer (async close of handles). */
void gw_router_stop(struct gw_router *r);
void gw_router_free(struct gw_router *r);
/* The configuration changed: start, stop or restart accounts. */
void gw_router_reload(struct gw_router *r);
/* Something every operator must hear (descriptors or memory ran short):
 * said in the control channel and kept in its history, so that someone
 * who connects later still learns it. NULL r is fine (before start). */
void gw_router_alert(struct gw_router *r, const char *fmt, ...) GW_PRINTF(2, 3);

/* ---- for front-ends ---------------------------------------------------- */

/* A front-end joins: it is told every place that is open. */
void gw_router_attach(struct gw_router *r, struct gw_frontend *fe);
void gw_router_detach(struct gw_router *r, struct gw_frontend *fe);

/* Someone who speaks through a front-end. */
struct gw_speaker {
    struct gw_frontend *fe;
    void *who;          /* the front-end's own, for tell() and replay() */
    const char *person; /* their name: who asked, claimed, answered */
    const char *prefix; /* nick!user@host, as their lines are kept */
    const char *reader; /* their read position, NULL for none */
    bool admin;         /* may manage accounts and users */
    /* The front-end moves the read position itself, with gw_router_read()
     * as lines really go out (a relay that paces its output); arrived
     * and left then leave it where it is. */
    bool reads_itself;
};

/* What they said. */
struct gw_said {
    const char *place; /* a channel, or a nick for a query */
    const char *text;  /* NULL: no text (a reaction) */
    bool notice;       /* NOTICEs are never acted on */
    const char *msgid;
    const char *reply_to; /* the post it answers (+draft/reply), or NULL */
    const char *react;    /* a reaction (+draft/react), or NULL */
    int64_t time_ms;      /* the time it was shown with; 0: now. History
                             keeps it, so a client's CHATHISTORY reference
                             to what it saw finds the same line */
};

/*
 * A line to a place the router keeps (the control channel, an account's
 * channel), the bot or a person of a network. The front-end has already
 * shown it to the others present.
 */
void gw_router_said(struct gw_router *r, const struct gw_speaker *sp,
                    const struct gw_said *m);
/*
 * A line said in a place the router does not keep (a channel people made,
 * a conversation between two people of the front-end) is kept in the
 * history all the same: it is the team's chat too. m->place is the
 * front-end's name for it and has a comma in it (no nick or channel name
 * has one), so it is never taken for one of the router's places and never
 * played back; the front-end reads it (CHATHISTORY).
 */
void gw_router_record(struct gw_router *r, const struct gw_speaker *sp,
                      const struct gw_said *m);
/* Someone is here (registered): show them what they missed. */
void gw_router_arrived(struct gw_router *r, const struct gw_speaker *sp);
/* Someone left: remember how far they read. */
void gw_router_left(struct gw_router *r, const struct gw_speaker *sp);
/* Was nick given to a person of a network? Then true, and they are known
 * to the front-ends again (a person who had quit for quiet). */
bool gw_router_person_back(struct gw_router *r, const char *nick);
/* Is place one the router keeps, and of which kind? 0 when not. */
enum gw_place_kind gw_router_place(struct gw_router *r, const char *place);
/* A reader that reads itself has seen every line up to seq (gw_line.seq):
 * kept with the next commit. */
void gw_router_read(struct gw_router *r, const struct gw_speaker *sp,
                    int64_t seq);
/* The place an account's lines are shown in (its channel), or NULL when
 * no such account runs. */
const char *gw_router_account_place(struct gw_router *r, const char *account);
/*
 * For a front-end whose one place carries several accounts: the account
 * and place of the post ref (a DM's place is its person's query), or of
 * the person nick (by their latest post). 0, or UV_ENOENT when there is
 * no such post or person, or the account is not known (account "").
 */
int gw_router_post_place(struct gw_router *r, const char *ref, char *account,
                         size_t asize, char *place, size_t psize);
int gw_router_person_place(struct gw_router *r, const char *nick, char *account,
                           size_t asize, char *place, size_t psize);
/* Commit what the router holds open before a front-end writes the store
 * itself (a read marker), so that the two never share a transaction. */
void gw_router_commit(struct gw_router *r);
/*
 * Does text, said in place, carry a secret (a token, a password, an OAuth
 * code typed in the control channel or to the bot)? Then true, and masked
 * holds the text with each secret replaced by "********" (cut to size):
 * what anyone, the speaker's own echo included, is shown instead. The
 * router still gets the text itself through gw_router_said.
 */
bool gw_router_mask(struct gw_router *r, const char *place, const char *text,
                    char *masked, size_t size);

#endif
