/*
 * Internals of the IRC server (gateway/ircd/), shared by its files and by
 * nothing else: the structs behind the public header's opaque pointers, and
 * the functions one file of the server calls in another.
 *
 *   gw_ircd.c         start and stop, listeners, accepting, the sweep timer
 *   gw_ircd_conn.c    a connection: input, flood pacing, output queues,
 *                     rendering per capability set, closing
 *   gw_ircd_reg.c     registration: PASS, NICK, USER, CAP, SASL, welcome
 *   gw_ircd_auth.c    failed logins: the table of addresses that failed,
 *                     and holding a verdict until its address may try
 *   gw_ircd_chan.c    channels, their members and their commands
 *   gw_ircd_msg.c     PRIVMSG, NOTICE, TAGMSG, the bot's lines, batches,
 *                     labeled-response, the command table and dispatch
 *   gw_ircd_info.c    queries: WHO, WHOIS, LIST, ISON, USERHOST, AWAY, ...
 *   gw_ircd_puppet.c  nicks: clients by nick, puppets and their LRU
 *   gw_ircd_front.c   the server as the router's front-end (gw_frontend.h),
 *                     and the speakers it hands the router
 *   gw_ircd_history.c CHATHISTORY, MARKREAD, client certificates
 */
#ifndef GW_IRCD_INT_H
#define GW_IRCD_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "gw_frontend.h"
#include "gw_ircd.h"
#include "gw_ircmsg.h"
#include "gw_limits.h"
#include "gw_router.h"
#include "gw_users.h"
#include "gw_util.h"

struct gw_tls_conn;
struct gw_tls_ctx;

#define PARLEY_VERSION_STR "parley-0.1"
#define BOT_NICK           GW_BOT_NICK

/* Read buffer shared by all clients (data is consumed before the next). */
#define SHARED_READ 65536

/* Input held for one client: an incomplete line plus one read's worth
 * (reading stops while a client is over its flood budget, so this is the
 * most it can ever need). */
#define INBUF_MAX (SHARED_READ + 2 * GW_IRC_WIRE_MAX)

struct gw_puppet {
    struct gw_puppet *newer, *older; /* all puppets, by last activity */
    struct gw_name_link by_nick;     /* in d->puppet_nicks */
    struct gw_channel *chans[4];     /* channels it is in (a person is seen
                                        by one or two accounts) */
    int slots[4]; /* its index in chans[i]->puppets: leaving is O(1) */
    int nchans;
    char nick[GW_NICK_MAX + 1];
    char *user;
    char *host;
    char *realname;
    char *whois; /* lines separated by '\n' */
};

struct gw_listener {
    uv_tcp_t tcp;
    struct gw_ircd *d;
    struct gw_listener *next;
    bool tls;
};

/* What a client whose login must wait (gw_ircd_auth.c) is waiting for. */
enum gw_held {
    GW_HELD_NONE = 0,
    GW_HELD_REGISTER, /* the PASS check of its registration */
    GW_HELD_SASL,     /* the check of its SASL PLAIN blob (in c->sasl) */
    GW_HELD_CHECK,    /* a user's password is being checked (gw_users) */
};

/* One connection. Owned by the ircd; freed in the tcp close callback. */
struct gw_client {
    uv_tcp_t tcp;
    struct gw_ircd *d;
    struct gw_client *next, *prev;   /* all clients */
    struct gw_client *fnext, *fprev; /* clients with output to flush */
    struct gw_client *tnext;         /* paused clients (throttle list) */
    uint64_t id;
    char nick[GW_NICK_MAX + 1]; /* "*" until NICK */
    char user[16];
    char host[64];
    char *realname;
    char *away;
    char *pass;
    unsigned caps;
    int cap_version;
    bool cap_negotiating;
    bool has_nick, has_user, registered, sasl_ok, closing, in_flush;
    bool sasl_external; /* AUTHENTICATE EXTERNAL in progress */
    int sasl_failures;  /* 904s so far: GW_SASL_FAILURES_MAX closes */
    enum gw_held held;  /* a login verdict waiting for its address */
    bool sendq_full;    /* over the hard limit: closed before the
                           loop sleeps (gw_ircd__on_prepare) */
    uint64_t mark;      /* send_peers() generation: already sent to */
    char *account;      /* SASL authcid, for account-tag/extended-join;
                           the user's name when user_login */
    bool user_login;    /* signed in as a [user] (per-person logins) */
    bool admin;         /* may manage accounts and users */
    struct gw_users_check *check; /* the password check in flight */
    struct gw_tls_conn *tls;      /* NULL on plaintext listeners */
    char *label;                  /* labeled-response: label of the command */
    struct gw_buf capture;        /* what the labeled command answered */
    bool capturing;
    bool paused, in_throttle, writing, skipping;
    size_t skipped;
    struct gw_buf sasl;
    struct gw_buf in;       /* unprocessed input */
    struct gw_buf out;      /* queued, not yet handed to uv_write */
    struct gw_buf inflight; /* handed to uv_write, untouched until its cb */
    uv_write_t wreq;
    int64_t soft_since; /* over the soft limit since, 0 = not */
    int64_t last_rx, ping_sent, connected, closing_since;
    int64_t flood_us;
    struct gw_channel **chans;
    int nchans, capchans;
    /* Registered, its channels still being joined as it reads them
     * (gw_ircd__arrive): the next one to look at, and stored lines wait
     * for its playback meanwhile. */
    bool arriving;
    struct gw_channel *arrive_next;
};

/* What a member holds in a channel (PREFIX=(ov)@+). In a channel of the
 * gateway (&parley, an account's) the bot is the operator and every team
 * member has voice; in the others the creator is the operator. */
enum { GW_MEMBER_OP = 1, GW_MEMBER_VOICE = 2 };
/* Channel modes of the channels people make (CHANMODES=,,,nt). */
enum { GW_CMODE_N = 1, GW_CMODE_T = 2 };

struct gw_channel {
    struct gw_channel *next, *prev;
    struct gw_name_link by_name; /* in d->channel_names */
    char name[GW_CHANNEL_MAX + 1];
    char *topic;
    char topic_by[160];
    int64_t topic_ms, created_ms;
    unsigned flags;
    unsigned modes; /* GW_CMODE_*; the gateway's own are always +nt */
    struct gw_client **members;
    unsigned char *mflags; /* GW_MEMBER_* of members[i] */
    int nmembers, capmembers;
    struct gw_puppet **puppets;
    int npuppets, cappuppets;
};

struct gw_ircd {
    struct gateway *gw;
    struct gw_frontend fe; /* how the router sees this server */
    struct gw_listener *listeners;
    struct gw_client *clients;
    struct gw_client *flush;
    struct gw_client *throttled;
    struct gw_channel *channels, *last_channel; /* in the order opened */
    /* Channels by name: one lookup per line shown, and a gateway may hold
     * thousands of account channels. */
    struct gw_names channel_names;
    struct gw_puppet *puppets, *oldest; /* newest first */
    /* Puppets by lower-case nick: one lookup per incoming post, and there
     * are as many puppets as people who ever wrote to us. */
    struct gw_names puppet_nicks;
    int nclients, nregistered;
    int nwaiting;              /* open and not registered yet */
    struct gw_auth_host *auth; /* GW_AUTH_HOSTS_MAX addresses that failed */
    uint64_t next_id;
    uint64_t msg_counter;
    uint64_t mark_gen;
    uv_prepare_t prepare;
    uv_timer_t sweep;
    uv_timer_t throttle;
    int open_handles; /* prepare, sweep, throttle, listeners, clients */
    bool stopping;
    char *read_buf;             /* SHARED_READ bytes */
    struct gw_tls_ctx *tls_ctx; /* NULL without tls_listen */
    bool read_busy;
    char msgid_base[16];
};

struct gw_ircd_cmd {
    const char *name;
    void (*fn)(struct gw_client *c, struct gw_irc_msg *m);
    /* Fewer than min_params is answered 461. Parameters past max_params
     * are dropped before fn runs: they mean nothing to the command, and
     * servers have always ignored them. */
    int min_params, max_params;
    bool need_reg; /* answered 451 before registration */
    /* An empty parameter among the first min_params is 461 too (USER's
     * realname, JOIN :), unless the command answers it itself (NICK: 431,
     * SETNAME: FAIL, PING: an empty token is a token). */
    bool empty_ok;
};

/* The capabilities that change how a line is written: a client's variant
 * picks one of V_COUNT renderings of a struct gw_out. */
enum { V_TIME = 1, V_TAGS = 2, V_ACCOUNT = 4, V_COUNT = 8 };

/* One line rendered once per variant, for every recipient of a send. */
struct gw_render_cache {
    char *line[V_COUNT];
    int len[V_COUNT];
};

/* gw_ircd_conn.c: output to one client. Bytes as they are (CR LF included);
 * over the hard SendQ limit the client is closed from the loop, never under
 * the caller, who may be walking a channel's members. */
void gw_ircd__write(struct gw_client *c, const char *data, size_t len);
void gw_ircd__printf(struct gw_client *c, const char *fmt, ...) GW_PRINTF(2, 3);
/* A numeric reply: ":server NNN nick <rest>" (num from gw_numerics.h). */
void gw_ircd__numeric(struct gw_client *c, const char *num, const char *fmt,
                      ...) GW_PRINTF(3, 4);
/* Write c's queue before the loop next waits (gw_ircd__on_prepare). */
void gw_ircd__flush_add(struct gw_client *c);
void gw_ircd__on_prepare(uv_prepare_t *h);
/* Send o to c, rendered at most once per variant across calls sharing rc
 * (zeroed first, freed with gw_ircd__cache_free). Unregistered and closing
 * clients are skipped. */
void gw_ircd__cache_send(const struct gw_ircd *d, struct gw_render_cache *rc,
                         const struct gw_out *o, struct gw_client *c);
void gw_ircd__cache_free(struct gw_render_cache *rc);
/* gw_ircd_conn.c: a connection's life. */
void gw_ircd__start_reading(struct gw_client *c);
/* Close idempotently: ERROR queued, channels left (others see QUIT), the
 * handle closed once the last bytes are written. */
void gw_ircd__close(struct gw_client *c, const char *reason);
/* Close the handle now, written or not. */
void gw_ircd__really_close(struct gw_client *c);

/* Hold c's input (it is still read, so a peer that leaves is noticed)
 * until gw_ircd__auth_ready(c); then gw_ircd__login_resume(c) runs and its
 * lines go on. */
void gw_ircd__hold(struct gw_client *c, enum gw_held what);
/* A held client (GW_HELD_CHECK) may go on: its waiting lines run now. */
void gw_ircd__resume(struct gw_client *c);

/* gw_ircd_reg.c */
void gw_ircd__send_isupport(struct gw_client *c);
void gw_ircd__send_motd(struct gw_client *c);
/* A held login verdict's turn has come: check the password now. */
void gw_ircd__login_resume(struct gw_client *c, enum gw_held what);

/* gw_ircd_auth.c: failed logins per source address. */
struct gw_auth_host;
/* Must c's login verdict wait for its address (after earlier failures)?
 * Then c is held (what says which verdict) and true is returned. */
bool gw_ircd__auth_wait(struct gw_client *c, enum gw_held what);
/* May a held client's verdict be taken now? */
bool gw_ircd__auth_ready(const struct gw_client *c);
/* A verdict: a wrong password (how: "PASS", "SASL PLAIN"; who: the name
 * tried, may be NULL) is logged and counted against the address; a right
 * one forgets the address's failures. */
void gw_ircd__auth_failed(struct gw_client *c, const char *how,
                          const char *who);
void gw_ircd__auth_ok(struct gw_client *c);
void gw_ircd__auth_free(struct gw_ircd *d);

/* gw_ircd_chan.c */
struct gw_channel *gw_ircd__find_channel(struct gw_ircd *d, const char *name);
bool gw_ircd__is_member(const struct gw_channel *ch, const struct gw_client *c);
/* Is c joined to ch without asking: the gateway's channels, the control
 * channel unless [irc] autojoin_control = no? */
bool gw_ircd__autojoins(const struct gw_client *c, const struct gw_channel *ch);
/* Join the next channels of an arriving client while its queue is short;
 * the playback once every one is joined. */
void gw_ircd__arrive(struct gw_client *c);
/* c joins ch: the members see the JOIN, c gets the topic and NAMES. */
void gw_ircd__channel_join(struct gw_client *c, struct gw_channel *ch);
void gw_ircd__channel_free(struct gw_ircd *d, struct gw_channel *ch);
/* What c holds in ch (GW_MEMBER_*), 0 when nothing or not there. */
unsigned gw_ircd__member_flags(const struct gw_channel *ch,
                               const struct gw_client *c);
/* The prefix of flags as c sees it: all of them ("@+") with multi-prefix,
 * else the highest. */
const char *gw_ircd__prefix(const struct gw_client *c, unsigned flags);
/* c leaves every channel: its peers see one QUIT, unless another session
 * of the person stays. */
void gw_ircd__part_all(struct gw_client *c, const char *quit_reason);
/* Are a and b two sessions (a != b) of one person: same nick, both
 * registered and open? */
bool gw_ircd__same_person(const struct gw_client *a, const struct gw_client *b);
/* Is another session of c's person in ch? */
bool gw_ircd__sibling_in(const struct gw_channel *ch,
                         const struct gw_client *c);
/* JOIN of prefix to ch's members, as each asked (extended-join,
 * away-notify). */
void gw_ircd__send_join(struct gw_ircd *d, struct gw_channel *ch,
                        const char *prefix, const char *account,
                        const char *realname, const char *away);
/* "COMMAND [param]" from c to everyone who shares a channel with it, once;
 * need_cap: only to clients with it; self: c too; skip_sessions: not to
 * c's other sessions. */
void gw_ircd__peers_say(struct gw_client *c, const char *command,
                        const char *param, unsigned need_cap, bool self,
                        bool skip_sessions);

/* gw_ircd_msg.c: one input line (NUL-terminated at len), labeled-response
 * included. */
void gw_ircd__dispatch(struct gw_client *c, char *line, size_t len);
/* 417 for a line too long to parse (labeled when its tags say so). */
void gw_ircd__too_long(struct gw_client *c, const char *line, size_t len);
/* The command named name (any case); NULL: there is none. */
const struct gw_ircd_cmd *gw_ircd__cmd_find(const char *name);
/* The whole command table (count entries). */
const struct gw_ircd_cmd *gw_ircd__cmds(size_t *count);

/* gw_ircd_puppet.c */
/* The client holding nick; a registered session is preferred. */
struct gw_client *gw_ircd__find_client(struct gw_ircd *d, const char *nick);
struct gw_puppet *gw_ircd__find_puppet(struct gw_ircd *d, const char *nick);
/* RFC 2812 nick syntax, at most GW_NICK_MAX bytes. */
bool gw_ircd__valid_nick(const char *n);
/* The person was heard from: the last puppet to be let go. */
void gw_ircd__puppet_touch(struct gw_ircd *d, struct gw_puppet *p);
void gw_ircd__puppet_prefix(const struct gw_puppet *p, char *buf, size_t size);
void gw_ircd__puppet_free(struct gw_puppet *p);

/* Command handlers, each in the file of its job; the table that calls
 * them is in gw_ircd_msg.c. */
void gw_ircd__cmd_ping(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_pong(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_quit(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_pass(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_nick(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_user(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_cap(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_authenticate(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_join(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_part(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_names(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_topic(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_mode(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_invite(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_kick(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_who(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_whois(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_list(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_away(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_setname(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_motd(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_lusers(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_version(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_ison(struct gw_client *c, struct gw_irc_msg *m);
void gw_ircd__cmd_userhost(struct gw_client *c, struct gw_irc_msg *m);

/* ---- the router's front-end (gw_ircd_front.c) ------------------------ */

/* A client as the router sees it; the strings live in the struct. */
struct gw_ircd_speaker {
    struct gw_speaker sp;
    char prefix[256];
    char reader[GW_NICK_MAX + 20];
};
void gw_ircd__speaker(struct gw_client *c, struct gw_ircd_speaker *s);
void gw_ircd__front_init(struct gw_ircd *d);

/* ---- history (gw_ircd_history.c) --------------------------------------- */

/* History of the server's own places, kept by the router under names
 * with a comma (in no nick or channel name, so never one of its places):
 * a conversation between two people here under both nicks ("alice,bob",
 * lower case, in order), a channel people made as ",#name". */
#define GW_IRCD_HISTORY_KEY_MAX (2 * GW_NICK_MAX + 2)
void gw_ircd__query_key(const char *a, const char *b, char *buf, size_t size);
void gw_ircd__chathistory(struct gw_client *c, const struct gw_irc_msg *m);
void gw_ircd__markread(struct gw_client *c, const struct gw_irc_msg *m);
/* A client with draft/read-marker joined channel: tell it its marker. */
void gw_ircd__markread_join(struct gw_client *c, const char *channel);
/* SASL EXTERNAL: the account a client certificate stands for (0), or
 * UV_ENOENT. A certificate becomes known when its owner registers once
 * with the password over TLS. */
int gw_ircd__certfp(struct gw_ircd *d, const char *fp, char *account,
                    size_t size);
void gw_ircd__certfp_remember(struct gw_ircd *d, const char *fp,
                              const char *account);

#endif
