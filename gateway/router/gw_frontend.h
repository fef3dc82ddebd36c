/*
 * The front-end interface: how the router shows things to people. The IRC
 * server (gateway/ircd) implements it, and so does the relay into other
 * IRC networks; the router knows neither, only this table (in the spirit of
 * BitlBee's bee_ui_funcs). A front-end hears what people type and tells the
 * router through gw_router.h.
 *
 * Every line the router shows has been stored first (it is history); a
 * front-end shows it to whoever is present and may drop nothing: what a
 * front-end cannot show now (a relay that is disconnected) it catches up
 * on from the history by its read positions.
 */
#ifndef GW_FRONTEND_H
#define GW_FRONTEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_frontend;

/* What kind of place a line is shown in. */
enum gw_place_kind {
    GW_PLACE_CONTROL = 1, /* the control channel (&parley) */
    GW_PLACE_ACCOUNT,     /* an account's channel (#mastodon) */
    GW_PLACE_QUERY,       /* a conversation with one person of a network */
    GW_PLACE_BOT,         /* a query with the bot */
};

/* A person of a network, as front-ends show them. */
struct gw_person {
    const char *nick; /* unique among people and connected users */
    const char *user; /* IRC-safe user and host: the handle */
    const char *host;
    const char *realname; /* display name, one line */
    const char *whois;    /* lines about them, '\n'-separated */
};

/* One line to show. */
struct gw_line {
    const char *place; /* a channel; for QUERY the person's nick; for BOT
                          the bot's */
    enum gw_place_kind kind;
    const char *account; /* the account it belongs to, NULL for none */
    const char *prefix;  /* nick!user@host of who says it */
    const char *from;    /* who says it as the team knows them (a handle,
                            a user's nick), NULL for the bot */
    bool notice;
    /* In a QUERY or BOT place: said by a user here (to the person), not by
     * the person or the bot (to the user). */
    bool from_user;
    int64_t time_ms;
    const char *msgid;
    const char *text; /* one line, sanitised, within an IRC line */
    /* Its place in the history (increasing), 0 when it is not kept: a
     * front-end that keeps its own read position (gw_router_read) moves
     * it by this. */
    int64_t seq;
};

typedef void (*gw_reader_cb)(void *arg, const char *reader);

/*
 * In replay, a line of an account channel said by a user of the gateway
 * (not by a person of a network or the bot) has from_user set too, and
 * a person's line has from (their handle), as when it was shown.
 */
struct gw_frontend_ops {
    const char *name;
    /* A line for everyone present in its place. */
    void (*show)(struct gw_frontend *fe, const struct gw_line *l);
    /* A line for one reader only (catching up); who: gw_speaker.who. */
    void (*replay)(struct gw_frontend *fe, void *who, const struct gw_line *l);
    /* The bot says text to one person only, where they spoke. */
    void (*tell)(struct gw_frontend *fe, void *who, const char *place,
                 const char *text);
    /* A person of a network is known (place NULL) or about to speak in
     * place (a channel): make them present there. */
    void (*person)(struct gw_frontend *fe, const struct gw_person *p,
                   const char *place);
    /* Places the router keeps open; opening an open one updates its
     * topic. */
    int (*place_open)(struct gw_frontend *fe, const char *place,
                      enum gw_place_kind kind, const char *topic);
    void (*place_close)(struct gw_frontend *fe, const char *place,
                        const char *reason);
    /* Is nick held by someone connected here (so never a person's)? */
    bool (*nick_taken)(struct gw_frontend *fe, const char *nick);
    /* Each reader present now: their read positions move with what they
     * are shown. May be NULL. */
    void (*each_reader)(struct gw_frontend *fe, gw_reader_cb cb, void *arg);
    /* What this turn showed is complete: write it out. May be NULL. */
    void (*flush)(struct gw_frontend *fe);
    /* One line for "status" ("IRC: 3 clients connected"). May be NULL. */
    void (*status)(struct gw_frontend *fe, char *buf, size_t size);
};

struct gw_frontend {
    const struct gw_frontend_ops *ops;
    void *priv;
    struct gw_frontend *next; /* the router's */
};

#endif
