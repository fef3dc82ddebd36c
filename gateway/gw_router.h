/*
 * The router: the only place where networks and IRC meet. It owns the
 * account instances (adapters), turns social events into IRC lines (nick
 * mapping, refs, channels, queries), turns what IRC users type into
 * outbound actions through the outbox, and answers the control channel.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stdbool.h>

#include "gw_ircmsg.h"

struct gateway;
struct gw_router;
struct gw_client;

int gw_router_start(struct gateway *gw, struct gw_router **out, char *err,
                    size_t errlen);
/* Stop every adapter and timer (async close of handles). */
void gw_router_stop(struct gw_router *r);
void gw_router_free(struct gw_router *r);
/* The configuration changed: start, stop or restart accounts. */
void gw_router_reload(struct gw_router *r);

/* ---- called by the ircd --------------------------------------------- */

/* A client has registered: join it to the managed channels and catch it
 * up. */
void gw_router_client_ready(struct gw_router *r, struct gw_client *c);
/* A client is going away. */
void gw_router_client_gone(struct gw_router *r, struct gw_client *c);
/* Was nick given to a person of a network? Then true, and a person who
 * had quit for quiet is an IRC user again (not in any channel). */
bool gw_router_revive_nick(struct gw_router *r, const char *nick);
/*
 * A PRIVMSG or NOTICE from a client to a managed channel, the bot or a
 * puppet (the ircd has already shown it to the other clients in a
 * channel). m is the whole parsed line (for client tags); text is NULL
 * for a TAGMSG.
 */
void gw_router_message(struct gw_router *r, struct gw_client *c,
                       const struct gw_irc_msg *m, const char *target,
                       const char *text, bool notice, const char *msgid);

/* SASL EXTERNAL: the account a client certificate stands for (0), or
 * UV_ENOENT. A certificate becomes known when its owner registers once
 * with the password over TLS. */
int gw_router_certfp(struct gw_router *r, const char *fp, char *account,
                     size_t size);
void gw_router_certfp_remember(struct gw_router *r, const char *fp,
                               const char *account);

/* CHATHISTORY (draft/chathistory) and MARKREAD (draft/read-marker),
 * served from the store. */
void gw_router_chathistory(struct gw_router *r, struct gw_client *c,
                           const struct gw_irc_msg *m);
void gw_router_markread(struct gw_router *r, struct gw_client *c,
                        const struct gw_irc_msg *m);
/* A client with draft/read-marker joined channel: tell it its marker. */
void gw_router_markread_join(struct gw_router *r, struct gw_client *c,
                             const char *channel);

#endif
