/*
 * The IRC server: listeners, clients, registration (PASS/NICK/USER, CAP,
 * SASL PLAIN), channels shared by every connected client, and virtual users
 * ("puppets") that stand for people on the networks.
 *
 * The ircd knows nothing about networks. It hands the router the events
 * that concern it (a client finished registering, a message to a managed
 * channel, to a puppet or to the bot) and gives the router ways to speak:
 * open managed channels, add puppets, send lines. struct gw_ircd owns every
 * client and channel; pointers to them are valid until the callback that
 * received them returns.
 */
#ifndef GW_IRCD_H
#define GW_IRCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gw_ircmsg.h"
#include "gw_util.h"

struct gateway;
struct gw_ircd;
struct gw_client;

/* Capabilities a client negotiated (bit set). */
enum gw_cap {
    GW_CAP_MESSAGE_TAGS = 1 << 0,
    GW_CAP_SERVER_TIME = 1 << 1,
    GW_CAP_ECHO_MESSAGE = 1 << 2,
    GW_CAP_SASL = 1 << 3,
    GW_CAP_CAP_NOTIFY = 1 << 4,
    GW_CAP_MULTI_PREFIX = 1 << 5,
    GW_CAP_BATCH = 1 << 6,
    GW_CAP_LABELED_RESPONSE = 1 << 7,
    GW_CAP_USERHOST_IN_NAMES = 1 << 8,
    GW_CAP_EXTENDED_JOIN = 1 << 9,
    GW_CAP_AWAY_NOTIFY = 1 << 10,
    GW_CAP_ACCOUNT_TAG = 1 << 11,
    GW_CAP_SETNAME = 1 << 12,
    GW_CAP_INVITE_NOTIFY = 1 << 13,
    GW_CAP_STANDARD_REPLIES = 1 << 14,
    GW_CAP_CHATHISTORY = 1 << 15,
    GW_CAP_READ_MARKER = 1 << 16,
};

/* A line to send; formatted once per set of client capabilities. */
struct gw_out {
    const char *prefix;  /* NULL: the server name */
    const char *command; /* "PRIVMSG" */
    const char *params[GW_IRC_PARAMS_MAX];
    int nparams;
    int64_t time_ms;               /* server-time; 0: now */
    const char *msgid;             /* NULL: none */
    const struct gw_irc_tag *tags; /* client tags (+draft/reply, ...) */
    int ntags;
    /* Replace params[0] by each recipient's own nick (a query from a
     * puppet to "you", delivered to every client). */
    bool to_each_nick;
    const char *account; /* account-tag of the sender, NULL: none */
    const char *batch;   /* batch id (single recipient), NULL: none */
    /* A line from the store: a client still arriving gets it in its
     * playback instead. */
    bool stored;
};

enum gw_chan_flags {
    GW_CHAN_MANAGED = 1 << 0, /* opened by the router; every client joins */
    GW_CHAN_CONTROL = 1 << 1, /* the control channel */
};

int gw_ircd_start(struct gateway *gw, struct gw_ircd **out, char *err,
                  size_t errlen);
/* Say goodbye to every client and close every handle (async). */
void gw_ircd_stop(struct gw_ircd *d, const char *reason);
void gw_ircd_free(struct gw_ircd *d);
/* SIGHUP: load tls_cert and tls_key again for new connections; on failure
 * the old certificate stays and err says why. */
int gw_ircd_tls_reload(struct gw_ircd *d, char *err, size_t errlen);

/* The bot's nick ("parley"). */
const char *gw_ircd_bot(const struct gw_ircd *d);
const char *gw_ircd_server_name(const struct gw_ircd *d);
int gw_ircd_client_count(const struct gw_ircd *d);

/* Managed channels: every registered client is joined now and on
 * registration. Opening an open channel updates its topic. */
int gw_ircd_channel_open(struct gw_ircd *d, const char *name, const char *topic,
                         unsigned flags);
void gw_ircd_channel_close(struct gw_ircd *d, const char *name,
                           const char *reason);
bool gw_ircd_channel_exists(struct gw_ircd *d, const char *name);

/*
 * Puppets: virtual users. A puppet with this nick is created or updated;
 * whois lines are shown by WHOIS (e.g. the display name and profile URL).
 * Returns 0, or UV_EEXIST when a real client holds the nick.
 */
int gw_ircd_puppet_set(struct gw_ircd *d, const char *nick, const char *user,
                       const char *host, const char *realname,
                       const char *whois);
/* Put a puppet in a channel (JOIN is shown once). */
int gw_ircd_puppet_join(struct gw_ircd *d, const char *nick,
                        const char *channel);
/* Keep at most keep puppets: the ones not heard from for longest quit
 * (their nicks stay mapped in the store and come back when they speak). */
void gw_ircd_puppets_trim(struct gw_ircd *d, size_t keep);
/* Is the nick taken by a client or a puppet (case-insensitive)? */
bool gw_ircd_nick_taken(struct gw_ircd *d, const char *nick);
bool gw_ircd_is_puppet(struct gw_ircd *d, const char *nick);

/* Send to every member of channel (except one client, may be NULL). */
void gw_ircd_send_channel(struct gw_ircd *d, const char *channel,
                          const struct gw_out *o,
                          const struct gw_client *except);
/* Send to every registered client. */
void gw_ircd_send_all(struct gw_ircd *d, const struct gw_out *o);
void gw_ircd_send(struct gw_client *c, const struct gw_out *o);

/* The bot says something in a channel, or to one client as a NOTICE. */
void gw_ircd_bot_say(struct gw_ircd *d, const char *channel, const char *fmt,
                     ...) GW_PRINTF(3, 4);
void gw_ircd_bot_notice(struct gw_client *c, const char *target,
                        const char *fmt, ...) GW_PRINTF(3, 4);
/* A NOTICE from the server to one client (target: its nick). */
void gw_ircd_server_notice(struct gw_client *c, const char *fmt, ...)
    GW_PRINTF(2, 3);

/* Write queued output to the sockets now (it is otherwise written just
 * before the loop waits for I/O). */
void gw_ircd_flush(struct gw_ircd *d);

/* Call cb for every registered client. */
typedef void (*gw_ircd_client_cb)(void *arg, struct gw_client *c);
void gw_ircd_each_client(struct gw_ircd *d, gw_ircd_client_cb cb, void *arg);

/* Batches for one client (needs the batch capability): start fills id. */
void gw_ircd_batch_start(struct gw_client *c, char *id, size_t idsize,
                         const char *type, const char *param);
void gw_ircd_batch_end(struct gw_client *c, const char *id);
/* A standard reply: ":server FAIL command code [context] :text". */
void gw_ircd_fail(struct gw_client *c, const char *command, const char *code,
                  const char *context, const char *fmt, ...) GW_PRINTF(5, 6);
/* A line from the server to one client (MARKREAD, CHATHISTORY TARGETS). */
void gw_ircd_server_line(struct gw_client *c, const char *fmt, ...)
    GW_PRINTF(2, 3);
bool gw_ircd_is_member(struct gw_ircd *d, const char *channel,
                       const struct gw_client *c);
/* nick!user@host of the client. */
void gw_client_prefix(const struct gw_client *c, char *buf, size_t size);
/* Is b another session of a's person (same nick)? a == b counts too. */
bool gw_client_same_person(const struct gw_client *a,
                           const struct gw_client *b);

const char *gw_client_nick(const struct gw_client *c);
/* The USER name: with the nick it names one device's read position. */
const char *gw_client_user(const struct gw_client *c);
unsigned gw_client_caps(const struct gw_client *c);
/* Stable id of this connection, for per-client state in the router. */
uint64_t gw_client_id(const struct gw_client *c);

#endif
