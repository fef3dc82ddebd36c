/*
 * Relay internals, shared by the relay's files and nothing else:
 *   gw_relay.c        relays: lifecycle, reload, timers, status
 *   gw_relay_conn.c   one connection: DNS, TCP, TLS, the loopback hop that
 *                     libircclient talks through, CAP and SASL
 *   gw_relay_irc.c    what libircclient reports: welcome, nicks, joins,
 *                     kicks, teammates' lines
 *   gw_relay_front.c  the front-end ops, and teammates' lines to the router
 *   gw_relay_out.c    the queue, the token bucket, wording and splitting
 *
 * Why a hop: Debian's libircclient is built without SSL, and it sends
 * NICK and USER the moment its socket connects, before anything we could
 * queue (SASL must come first). So libircclient connects to a port on
 * 127.0.0.1 that accepts only its own connection, and the relay pumps
 * that connection to the server through its own TCP (and TLS) connection,
 * saying CAP LS and doing SASL on the way, and cutting lines libircclient
 * could not take.
 */
#ifndef GW_RELAY_INT_H
#define GW_RELAY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <libircclient.h>
#include <uv.h>

#include "gw_config.h"
#include "gw_frontend.h"
#include "gw_limits.h"
#include "gw_relay.h"
#include "gw_router.h"
#include "gw_util.h"

struct gw_relay;
struct gw_tls_ctx;
struct gw_tls_conn;

/* Whom a tell or a replay is for: a teammate (nick) in a channel, or the
 * channel itself. */
struct relay_who {
    struct relay_chan *chan;
    const char *nick; /* NULL: the channel */
};

/* A channel the bot sits in. */
struct relay_chan {
    char *name;
    char *key;     /* NULL: none */
    bool accounts; /* carries the relay's accounts' channels */
    bool dms;      /* the dm_channel */
    bool joined;
    bool join_sent;
    bool kicked;     /* say so when back */
    char kicker[64]; /* who kicked, and why */
    char kick_reason[128];
    int64_t join_at_ms;   /* (re)join then, 0: not planned */
    char error[128];      /* why we are not in it */
    int dropped;          /* posts that did not fit the queue */
    int dropped_lines;    /* other lines that did not */
    char reader[128];     /* its read position: relay:NAME:#chan */
    struct gw_speaker sp; /* reads itself */
    struct relay_who who;
};

/* A line waiting for the token bucket. */
struct relay_item {
    struct relay_item *next;
    struct relay_chan *chan; /* NULL for a tell */
    char *target;
    char *text;
    bool notice;
    bool post;   /* the first line of a post (counted as one "mention") */
    int64_t seq; /* its history id: the read position moves past it */
};

struct relay_queue {
    struct relay_item *head, **tail;
    int n, max;
};

struct relay_conn;

/* A teammate's services account, as extended-join and account-notify say. */
struct relay_account {
    char nick[GW_NICK_MAX + 1];
    char account[64];
};
#define RELAY_ACCOUNTS_MAX 256

struct gw_relay {
    struct gw_relay *next;
    struct gw_relays *rs;
    struct gateway *gw;
    struct gw_conf_relay cfg; /* a copy: reloads free the configuration */
    struct gw_frontend fe;
    struct gw_tls_ctx *tls;  /* client context when cfg.tls */
    struct relay_conn *conn; /* the connection, NULL between them */
    struct relay_chan *chans;
    int nchans;
    /* Registration and who we are there. */
    bool registered;
    char nick[GW_NICK_MAX + 1]; /* as the server knows us now */
    char userhost[256];         /* user@host, "" until known */
    int nick_tries;             /* alternatives tried at 433 */
    int64_t ison_at_ms;         /* next ISON for our nick */
    struct relay_account accounts[RELAY_ACCOUNTS_MAX];
    int naccounts;
    /* Output. */
    struct relay_queue lines;
    struct relay_queue tells;
    int tells_dropped;
    struct gw_relay_bucket bucket;
    bool send_blocked; /* libircclient's buffer was full: after a write */
    /* Timers: reconnect, send (the bucket), tick (every second: joins,
     * ISON, idle and connect timeouts). */
    uv_timer_t reconnect_timer;
    uv_timer_t send_timer;
    uv_timer_t tick_timer;
    int handles; /* open handles: freed when 0 after stopping */
    struct gw_backoff backoff;
    int64_t attempt_ms;   /* when the connection attempt started */
    int64_t last_rx_ms;   /* last line from the server */
    int64_t ping_sent_ms; /* our PING is unanswered since then, 0 none */
    int64_t up_since_ms;  /* registered since */
    int reconnects;
    char server_name[128];
    char last_error[300];
    bool stopping;
    bool freed_by_close; /* free when the handles are closed */
};

struct gw_relays {
    struct gateway *gw;
    struct gw_relay *list;
};

/* gw_relay.c */
void gw_relay__error(struct gw_relay *rl, const char *fmt, ...) GW_PRINTF(2, 3);
/* The connection went away (or never came): plan the next. */
void gw_relay__conn_gone(struct gw_relay *rl);
struct relay_chan *gw_relay__chan(struct gw_relay *rl, const char *name);
bool gw_relay__carries(const struct gw_relay *rl, const char *account);

/* gw_relay_conn.c */
int gw_relay__connect(struct gw_relay *rl);
/* Close the connection now, saying why (logged, and kept for status). */
void gw_relay__drop(struct gw_relay *rl, const char *why);
/* QUIT, let it go out, then close. */
void gw_relay__quit(struct gw_relay *rl, const char *reason);
/* libircclient's session, NULL when there is none or it is closing. */
irc_session_t *gw_relay__session(struct gw_relay *rl);
/* libircclient may have output: watch its socket for writing. */
void gw_relay__poll_update(struct gw_relay *rl);
bool gw_relay__tls_on(const struct gw_relay *rl);

/* gw_relay_irc.c */
void gw_relay__callbacks(irc_callbacks_t *cb);
/* Send a command outside the queue (JOIN, NICK, ISON), charged to the
 * bucket. */
void gw_relay__raw(struct gw_relay *rl, const char *fmt, ...) GW_PRINTF(2, 3);
void gw_relay__join_due(struct gw_relay *rl, int64_t now);
void gw_relay__ison_due(struct gw_relay *rl, int64_t now);
const char *gw_relay__account_of(struct gw_relay *rl, const char *nick);

/* gw_relay_front.c */
void gw_relay__front_init(struct gw_relay *rl);
/* A teammate said text in chan (PRIVMSG). */
void gw_relay__said(struct gw_relay *rl, struct relay_chan *ch,
                    const char *prefix, const char *text);
/* The bot is in chan now: catch it up. */
void gw_relay__joined(struct gw_relay *rl, struct relay_chan *ch);

/* gw_relay_out.c */
void gw_relay__queue_init(struct gw_relay *rl);
void gw_relay__queue_clear(struct gw_relay *rl);
/* A line of the router's for chan: worded, split, queued. */
void gw_relay__queue_line(struct gw_relay *rl, struct relay_chan *ch,
                          const struct gw_line *l, bool dm);
/* Something the bot says itself (a notice after a KICK): not history. */
void gw_relay__queue_say(struct gw_relay *rl, struct relay_chan *ch,
                         bool notice, const char *text);
/* An answer to one person (NOTICE nick), ahead of channel lines. */
void gw_relay__queue_tell(struct gw_relay *rl, const char *nick,
                          const char *text);
/* Send what the bucket allows now; arm the send timer for the rest. */
void gw_relay__pump(struct gw_relay *rl);
int gw_relay__queued(const struct gw_relay *rl);

#endif
