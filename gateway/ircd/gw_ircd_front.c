/*
 * The IRC server as one of the router's front-ends (gw_frontend.h): the
 * router's lines become PRIVMSGs and NOTICEs, its places managed channels,
 * the people of the networks puppets; and a client becomes a speaker when
 * it tells the router something.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <string.h>

#include "gw_gateway.h"

static struct gw_ircd *ircd_of(struct gw_frontend *fe)
{
    return fe->priv;
}

static bool is_channel(const char *place)
{
    return place[0] == '#' || place[0] == '&';
}

/* The line as IRC sends it. In a query the person (or the bot) writes to
 * each reader by their own nick; a reader's own line was written to the
 * person. */
static void out_of(const struct gw_line *l, struct gw_out *o)
{
    memset(o, 0, sizeof(*o));
    o->prefix = l->prefix;
    o->command = l->notice ? "NOTICE" : "PRIVMSG";
    o->params[0] = l->place;
    o->params[1] = l->text;
    o->nparams = 2;
    o->time_ms = l->time_ms;
    o->msgid = l->msgid;
    o->to_each_nick =
        (l->kind == GW_PLACE_QUERY || l->kind == GW_PLACE_BOT) && !l->from_user;
}

static void front_show(struct gw_frontend *fe, const struct gw_line *l)
{
    struct gw_ircd *d = ircd_of(fe);
    struct gw_out o;
    out_of(l, &o);
    o.stored = true;
    if (is_channel(l->place))
        gw_ircd_send_channel(d, l->place, &o, NULL);
    else
        gw_ircd_send_all(d, &o);
}

static void front_replay(struct gw_frontend *fe, void *who,
                         const struct gw_line *l)
{
    /* Not in the channel (autojoin_control = no): not its lines either. */
    if (is_channel(l->place) && !gw_ircd_is_member(ircd_of(fe), l->place, who))
        return;
    struct gw_out o;
    out_of(l, &o);
    gw_ircd_send(who, &o);
}

static void front_tell(struct gw_frontend *fe, void *who, const char *place,
                       const char *text)
{
    (void)fe;
    struct gw_client *c = who;
    /* In a query with the bot, the bot answers the reader by name. */
    const char *target =
        gw_strcasecmp(place, BOT_NICK) == 0 ? gw_client_nick(c) : place;
    gw_ircd_bot_notice(c, target, "%s", text);
}

static void front_person(struct gw_frontend *fe, const struct gw_person *p,
                         const char *place)
{
    struct gw_ircd *d = ircd_of(fe);
    if (gw_ircd_puppet_set(d, p->nick, p->user, p->host, p->realname,
                           p->whois) < 0)
        return; /* a client holds the nick */
    if (place != NULL && is_channel(place))
        gw_ircd_puppet_join(d, p->nick, place);
}

static int front_place_open(struct gw_frontend *fe, const char *place,
                            enum gw_place_kind kind, const char *topic)
{
    return gw_ircd_channel_open(ircd_of(fe), place, topic,
                                kind == GW_PLACE_CONTROL ? GW_CHAN_CONTROL : 0);
}

static void front_place_close(struct gw_frontend *fe, const char *place,
                              const char *reason)
{
    gw_ircd_channel_close(ircd_of(fe), place, reason);
}

static bool front_nick_taken(struct gw_frontend *fe, const char *nick)
{
    struct gw_ircd *d = ircd_of(fe);
    return gw_ircd_nick_taken(d, nick) && !gw_ircd_is_puppet(d, nick);
}

/* Read positions are per nick and USER name: a person's desk and phone
 * (same nick, different user names) each catch up on what they missed. */
static void reader_of(const struct gw_client *c, char *buf, size_t size)
{
    size_t n = strlen(c->nick), u = strlen(c->user);
    if (n + 1 + u + 1 > size)
        n = u = 0;
    memcpy(buf, c->nick, n);
    buf[n] = '/';
    memcpy(buf + n + 1, c->user, u);
    buf[n + 1 + u] = '\0';
}

static void front_each_reader(struct gw_frontend *fe, gw_reader_cb cb,
                              void *arg)
{
    struct gw_ircd *d = ircd_of(fe);
    char reader[sizeof(((struct gw_ircd_speaker *)0)->reader)];
    for (struct gw_client *c = d->clients; c; c = c->next) {
        /* An arriving client has not seen these lines: its playback will
         * show them. */
        if (!c->registered || c->closing || c->arriving)
            continue;
        reader_of(c, reader, sizeof(reader));
        cb(arg, reader);
    }
}

static void front_flush(struct gw_frontend *fe)
{
    struct gw_ircd *d = ircd_of(fe);
    /* Every person of the turn has been shown: now the least recently
     * heard from may go. */
    gw_ircd_puppets_trim(d, GW_PUPPETS_MAX);
    gw_ircd_flush(d);
}

static void front_status(struct gw_frontend *fe, char *buf, size_t size)
{
    struct gw_ircd *d = ircd_of(fe);
    snprintf(buf, size, "IRC: %d client(s) connected", d->nregistered);
}

static const struct gw_frontend_ops ircd_front_ops = {
    .name = "irc",
    .show = front_show,
    .replay = front_replay,
    .tell = front_tell,
    .person = front_person,
    .place_open = front_place_open,
    .place_close = front_place_close,
    .nick_taken = front_nick_taken,
    .each_reader = front_each_reader,
    .flush = front_flush,
    .status = front_status,
};

void gw_ircd__front_init(struct gw_ircd *d)
{
    d->fe.ops = &ircd_front_ops;
    d->fe.priv = d;
}

void gw_ircd__speaker(struct gw_client *c, struct gw_ircd_speaker *s)
{
    memset(s, 0, sizeof(*s));
    gw_client_prefix(c, s->prefix, sizeof(s->prefix));
    reader_of(c, s->reader, sizeof(s->reader));
    s->sp.fe = &c->d->fe;
    s->sp.who = c;
    /* Claims and answers name the person who signed in. */
    s->sp.person = c->user_login ? c->account : c->nick;
    s->sp.admin = c->user_login ? c->admin : !gw_users_enabled(c->d->gw);
    s->sp.prefix = s->prefix;
    s->sp.reader = s->reader;
}
