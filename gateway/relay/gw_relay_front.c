/*
 * A relay as one of the router's front-ends (gw_frontend.h). The router's
 * lines for the accounts a relay carries go to its channels (DMs only to
 * its dm_channel), worded by the bot; what teammates type there goes to
 * the router as if said in the account's own channel: commands ("!re a3
 * text", "!pending"), "parley: a3 text" and "alice: text". Plain talk
 * stays on the team's network: it is not passed on, stored or repeated.
 *
 * A relay channel may carry several accounts. A line naming a post (by
 * ref) or a person (by nick) goes to that post's or person's account; any
 * other command to the first account in `accounts`; !pending asks each.
 */
#include "gw_relay_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_text.h"

static struct gw_relay *relay_of(struct gw_frontend *fe)
{
    return fe->priv;
}

/* Which of the relay's accounts shows its lines in place, or NULL. */
static const char *account_by_place(struct gw_relay *rl, const char *place)
{
    struct gw_router *r = rl->gw->router;
    for (int i = 0; i < rl->cfg.naccount_names; i++) {
        const char *p = gw_router_account_place(r, rl->cfg.account_names[i]);
        if (p != NULL && gw_strcasecmp(p, place) == 0)
            return rl->cfg.account_names[i];
    }
    return NULL;
}

/* Is this line for ch: an account channel's line for a channel carrying
 * accounts, a DM for the dm_channel? *dm says which. */
static bool line_for(struct gw_relay *rl, struct relay_chan *ch,
                     const struct gw_line *l, bool *dm)
{
    *dm = false;
    if (l->from_user)
        return false; /* said by a user: never repeated by the bot */
    if (l->kind == GW_PLACE_ACCOUNT)
        return ch->accounts && account_by_place(rl, l->place) != NULL;
    if (l->kind != GW_PLACE_QUERY || !ch->dms)
        return false;
    /* Played back, a query's line names no account: its person does. */
    char account[64], place[GW_CHANNEL_MAX + 1];
    const char *acct = l->account;
    if (acct == NULL &&
        gw_router_person_place(rl->gw->router, l->place, account,
                               sizeof(account), place, sizeof(place)) == 0)
        acct = account;
    *dm = acct != NULL && gw_relay__carries(rl, acct);
    return *dm;
}

static void front_show(struct gw_frontend *fe, const struct gw_line *l)
{
    struct gw_relay *rl = relay_of(fe);
    for (int i = 0; i < rl->nchans; i++) {
        struct relay_chan *ch = &rl->chans[i];
        bool dm;
        /* A channel we are not in catches up from the store at its JOIN. */
        if (ch->joined && line_for(rl, ch, l, &dm))
            gw_relay__queue_line(rl, ch, l, dm);
    }
}

static void front_replay(struct gw_frontend *fe, void *who,
                         const struct gw_line *l)
{
    struct gw_relay *rl = relay_of(fe);
    struct relay_who *w = who;
    bool dm;
    if (w->nick == NULL && line_for(rl, w->chan, l, &dm))
        gw_relay__queue_line(rl, w->chan, l, dm);
}

static void front_tell(struct gw_frontend *fe, void *who, const char *place,
                       const char *text)
{
    (void)place;
    struct gw_relay *rl = relay_of(fe);
    struct relay_who *w = who;
    if (w->nick != NULL)
        gw_relay__queue_tell(rl, w->nick, text);
    else
        gw_relay__queue_say(rl, w->chan, true, text);
}

static void front_person(struct gw_frontend *fe, const struct gw_person *p,
                         const char *place)
{
    (void)fe;
    (void)p;
    (void)place;
}

static int front_place_open(struct gw_frontend *fe, const char *place,
                            enum gw_place_kind kind, const char *topic)
{
    (void)fe;
    (void)place;
    (void)kind;
    (void)topic;
    return 0;
}

static void front_place_close(struct gw_frontend *fe, const char *place,
                              const char *reason)
{
    (void)fe;
    (void)place;
    (void)reason;
}

/* Nicks on the team's network are theirs, not the gateway's. */
static bool front_nick_taken(struct gw_frontend *fe, const char *nick)
{
    (void)fe;
    (void)nick;
    return false;
}

static void front_flush(struct gw_frontend *fe)
{
    gw_relay__pump(relay_of(fe));
}

static void front_status(struct gw_frontend *fe, char *buf, size_t size)
{
    struct gw_relay *rl = relay_of(fe);
    char chans[300] = "", out[200] = "";
    size_t n = 0, o = 0;
    for (int i = 0; i < rl->nchans; i++) {
        struct relay_chan *ch = &rl->chans[i];
        if (ch->joined && n < sizeof(chans))
            n += (size_t)snprintf(chans + n, sizeof(chans) - n, "%s%s",
                                  n ? " " : "", ch->name);
        else if (!ch->joined && o < sizeof(out))
            o += (size_t)snprintf(
                out + o, sizeof(out) - o, "%s%s%s%s%s", o ? ", " : "", ch->name,
                ch->error[0] ? " (" : "", ch->error, ch->error[0] ? ")" : "");
    }
    if (rl->registered)
        snprintf(buf, size,
                 "relay %s: connected to %s%s as %s (%s%s); in %s%s%s; "
                 "queue %d lines, %d answers; last error: %s",
                 rl->cfg.name, rl->cfg.server, rl->cfg.tls ? " over TLS" : "",
                 rl->nick,
                 gw_strcasecmp(rl->nick, rl->cfg.nick) == 0 ? "its nick"
                                                            : "wants ",
                 gw_strcasecmp(rl->nick, rl->cfg.nick) == 0 ? "" : rl->cfg.nick,
                 chans[0] ? chans : "no channel", out[0] ? "; not in " : "",
                 out, rl->lines.n, rl->tells.n,
                 rl->last_error[0] ? rl->last_error : "none");
    else
        snprintf(buf, size,
                 "relay %s: not connected to %s (%s; %d reconnects); "
                 "last error: %s",
                 rl->cfg.name, rl->cfg.server,
                 rl->conn != NULL ? "connecting" : "waiting to reconnect",
                 rl->reconnects, rl->last_error[0] ? rl->last_error : "none");
}

static const struct gw_frontend_ops relay_front_ops = {
    .name = "relay",
    .show = front_show,
    .replay = front_replay,
    .tell = front_tell,
    .person = front_person,
    .place_open = front_place_open,
    .place_close = front_place_close,
    .nick_taken = front_nick_taken,
    .each_reader = NULL, /* each channel moves its own read position */
    .flush = front_flush,
    .status = front_status,
};

void gw_relay__front_init(struct gw_relay *rl)
{
    rl->fe.ops = &relay_front_ops;
    rl->fe.priv = rl;
    for (int i = 0; i < rl->nchans; i++) {
        struct relay_chan *ch = &rl->chans[i];
        snprintf(ch->reader, sizeof(ch->reader), "relay:%s:%s", rl->cfg.name,
                 ch->name);
        ch->who.chan = ch;
        ch->who.nick = NULL;
        ch->sp.fe = &rl->fe;
        ch->sp.who = &ch->who;
        ch->sp.person = GW_BOT_NICK;
        ch->sp.prefix = GW_BOT_NICK;
        ch->sp.reader = ch->reader;
        ch->sp.reads_itself = true;
    }
}

void gw_relay__joined(struct gw_relay *rl, struct relay_chan *ch)
{
    gw_router_arrived(rl->gw->router, &ch->sp);
    gw_relay__pump(rl);
}

/* ---- what teammates say ------------------------------------------------- */

/* Commands whose first word is a post's ref. */
static bool takes_ref(const char *cmd)
{
    static const char *const cmds[] = {"re",     "reply",  "re!",    "reply!",
                                       "fav",    "unfav",  "boost",  "unboost",
                                       "delete", "thread", "open",   "claim",
                                       "claim!", "done",   "history"};
    for (size_t i = 0; i < GW_ARRAY_LEN(cmds); i++)
        if (gw_strcasecmp(cmd, cmds[i]) == 0)
            return true;
    return false;
}

/* Commands whose first word is a person. */
static bool takes_person(const char *cmd)
{
    static const char *const cmds[] = {"dm", "who", "follow", "unfollow"};
    for (size_t i = 0; i < GW_ARRAY_LEN(cmds); i++)
        if (gw_strcasecmp(cmd, cmds[i]) == 0)
            return true;
    return false;
}

/* The place of the first account carried that runs. */
static const char *default_place(struct gw_relay *rl)
{
    for (int i = 0; i < rl->cfg.naccount_names; i++) {
        const char *p =
            gw_router_account_place(rl->gw->router, rl->cfg.account_names[i]);
        if (p != NULL)
            return p;
    }
    return NULL;
}

struct said_ctx {
    struct gw_relay *rl;
    struct relay_chan *ch;
    struct gw_speaker sp;
    struct relay_who who;
};

static void say_to(struct said_ctx *x, const char *place, const char *text)
{
    struct gw_said m;
    memset(&m, 0, sizeof(m));
    m.place = place;
    m.text = text;
    gw_router_said(x->rl->gw->router, &x->sp, &m);
}

static void tell(struct said_ctx *x, const char *text)
{
    gw_relay__queue_tell(x->rl, x->who.nick, text);
}

/* A command ("!re a3 text"): to the place of what it names. */
static void command(struct said_ctx *x, const char *line)
{
    struct gw_relay *rl = x->rl;
    char cmd[32], arg[64], account[64], place[GW_CHANNEL_MAX + 1];
    const char *p = line + 1;
    size_t cl = strcspn(p, " ");
    gw_strlcpy(cmd, p, cl + 1 < sizeof(cmd) ? cl + 1 : sizeof(cmd));
    p += cl;
    while (*p == ' ')
        p++;
    size_t al = strcspn(p, " ");
    gw_strlcpy(arg, p, al + 1 < sizeof(arg) ? al + 1 : sizeof(arg));
    int rc = UV_ENOENT;
    if (arg[0] != '\0' && takes_ref(cmd))
        rc = gw_router_post_place(rl->gw->router, arg, account, sizeof(account),
                                  place, sizeof(place));
    else if (arg[0] != '\0' && takes_person(cmd))
        rc = gw_router_person_place(rl->gw->router, arg, account,
                                    sizeof(account), place, sizeof(place));
    if (rc == 0 && !gw_relay__carries(rl, account)) {
        char t[200];
        snprintf(t, sizeof(t),
                 "%s belongs to account %s, which %s does not "
                 "carry",
                 arg, account, x->ch->name);
        tell(x, t);
        return;
    }
    if (rc == 0) {
        say_to(x, place, line);
        return;
    }
    if (gw_strcasecmp(cmd, "pending") == 0) {
        /* Every account carried here has its own inbox. */
        for (int i = 0; i < rl->cfg.naccount_names; i++) {
            const char *ap = gw_router_account_place(rl->gw->router,
                                                     rl->cfg.account_names[i]);
            if (ap != NULL)
                say_to(x, ap, line);
        }
        return;
    }
    const char *dp = default_place(rl);
    if (dp == NULL) {
        tell(x, "none of the accounts relayed here is running");
        return;
    }
    say_to(x, dp, line);
}

/* "nick: text" to a person of a network, or false (team talk). */
static bool reply_by_nick(struct said_ctx *x, const char *line)
{
    const char *colon = strchr(line, ':');
    if (colon == NULL || colon == line || colon[1] != ' ' ||
        (size_t)(colon - line) > GW_NICK_MAX)
        return false;
    char nick[GW_NICK_MAX + 1], account[64], place[GW_CHANNEL_MAX + 1];
    memcpy(nick, line, (size_t)(colon - line));
    nick[colon - line] = '\0';
    if (strchr(nick, ' ') != NULL ||
        gw_router_person_place(x->rl->gw->router, nick, account,
                               sizeof(account), place, sizeof(place)) < 0 ||
        !gw_relay__carries(x->rl, account))
        return false;
    /* In the DM channel a reply by name is a DM, in that conversation. */
    if (x->ch->dms && !x->ch->accounts) {
        say_to(x, nick, colon + 2);
        return true;
    }
    say_to(x, place, line);
    return true;
}

/* "parley: a3 text" (the bot's nick, whatever it is now): "!re a3 text";
 * "parley: pending": "!pending". Returns the command line to use. */
static char *addressed(struct gw_relay *rl, const char *line)
{
    const char *names[] = {rl->nick, rl->cfg.nick, GW_BOT_NICK};
    for (size_t i = 0; i < GW_ARRAY_LEN(names); i++) {
        size_t n = strlen(names[i]);
        if (n == 0 || gw_strncasecmp(line, names[i], n) != 0 ||
            (line[n] != ':' && line[n] != ',') || line[n + 1] != ' ')
            continue;
        const char *rest = line + n + 2;
        while (*rest == ' ')
            rest++;
        if (*rest == '\0')
            return gw_xstrdup("!help");
        if (rest[0] == '!')
            return gw_xstrdup(rest);
        /* A ref first, then text: a reply. */
        size_t w = strcspn(rest, " ");
        bool ref = w > 0 && rest[w] == ' ';
        for (size_t k = 0; ref && k < w; k++)
            ref = islower((unsigned char)rest[k]) ||
                  isdigit((unsigned char)rest[k]) || rest[k] == '[' ||
                  rest[k] == ']';
        if (ref)
            return gw_xasprintf("!re %s", rest);
        return gw_xasprintf("!%s", rest);
    }
    return NULL;
}

void gw_relay__said(struct gw_relay *rl, struct relay_chan *ch,
                    const char *prefix, const char *text)
{
    char nick[GW_NICK_MAX + 8];
    size_t nl = strcspn(prefix, "!@");
    gw_strlcpy(nick, prefix, nl + 1 < sizeof(nick) ? nl + 1 : sizeof(nick));
    char *line = gw_text_strip_formatting(text);
    gw_trim(line);
    char *cmd = addressed(rl, line);
    struct said_ctx x;
    memset(&x, 0, sizeof(x));
    x.rl = rl;
    x.ch = ch;
    x.who.chan = ch;
    x.who.nick = nick;
    x.sp.fe = &rl->fe;
    x.sp.who = &x.who;
    /* The person who asked, claimed or answered: their services account
     * when the network says it, else their nick there. */
    const char *acct = gw_relay__account_of(rl, nick);
    x.sp.person = acct != NULL ? acct : nick;
    x.sp.prefix = prefix;
    if (cmd != NULL)
        command(&x, cmd);
    else if (line[0] == '!' && isalpha((unsigned char)line[1]))
        command(&x, line);
    else
        reply_by_nick(&x, line);
    free(cmd);
    free(line);
}
