/*
 * Channels: the managed ones the router opens (every client joins them) and
 * the ones clients make; membership, what members see of each other (JOIN,
 * PART, QUIT, NAMES, TOPIC), and the channel commands.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_gateway.h"
#include "gw_numerics.h"
#include "gw_router.h"

struct gw_channel *gw_ircd__find_channel(struct gw_ircd *d, const char *name)
{
    struct gw_name_link *l = gw_names_find(&d->channel_names, name);
    return l != NULL ? gw_container_of(l, struct gw_channel, by_name) : NULL;
}

static void send_channel(struct gw_ircd *d, struct gw_channel *ch,
                         const struct gw_out *o, const struct gw_client *except)
{
    struct gw_render_cache rc;
    memset(&rc, 0, sizeof(rc));
    for (int i = 0; i < ch->nmembers; i++)
        if (ch->members[i] != except)
            gw_ircd__cache_send(d, &rc, o, ch->members[i]);
    gw_ircd__cache_free(&rc);
}

void gw_ircd_send_channel(struct gw_ircd *d, const char *channel,
                          const struct gw_out *o,
                          const struct gw_client *except)
{
    struct gw_channel *ch = gw_ircd__find_channel(d, channel);
    if (ch)
        send_channel(d, ch, o, except);
}

static bool valid_channel_name(const char *n)
{
    size_t len = strlen(n);
    if (len < 2 || len > GW_CHANNEL_MAX || (n[0] != '#' && n[0] != '&'))
        return false;
    for (size_t i = 1; i < len; i++) {
        unsigned char ch = (unsigned char)n[i];
        if (ch <= ' ' || ch == ',' || ch == 7)
            return false;
    }
    return true;
}

static struct gw_channel *channel_new(struct gw_ircd *d, const char *name)
{
    struct gw_channel *ch = gw_xcalloc(1, sizeof(*ch));
    gw_strlcpy(ch->name, name, sizeof(ch->name));
    ch->created_ms = gw_now_ms();
    ch->modes = GW_CMODE_N | GW_CMODE_T;
    /* Append: clients join in the order channels were opened, so the
     * control channel comes first. */
    gw_names_add(&d->channel_names, &ch->by_name, ch->name);
    ch->prev = d->last_channel;
    *(d->last_channel ? &d->last_channel->next : &d->channels) = ch;
    d->last_channel = ch;
    return ch;
}

void gw_ircd__channel_free(struct gw_ircd *d, struct gw_channel *ch)
{
    for (struct gw_client *c = d->clients; c; c = c->next)
        if (c->arrive_next == ch)
            c->arrive_next = ch->next;
    gw_names_del(&d->channel_names, &ch->by_name);
    *(ch->prev ? &ch->prev->next : &d->channels) = ch->next;
    *(ch->next ? &ch->next->prev : &d->last_channel) = ch->prev;
    for (int i = 0; i < ch->npuppets; i++) {
        struct gw_puppet *p = ch->puppets[i];
        for (int j = 0; j < p->nchans; j++) {
            if (p->chans[j] == ch) {
                p->nchans--;
                p->chans[j] = p->chans[p->nchans];
                p->slots[j] = p->slots[p->nchans];
                break;
            }
        }
    }
    free(ch->topic);
    free(ch->members);
    free(ch->mflags);
    free(ch->puppets);
    free(ch);
}

static int member_index(const struct gw_channel *ch, const struct gw_client *c)
{
    for (int i = 0; i < ch->nmembers; i++)
        if (ch->members[i] == c)
            return i;
    return -1;
}

bool gw_ircd__is_member(const struct gw_channel *ch, const struct gw_client *c)
{
    return member_index(ch, c) >= 0;
}

unsigned gw_ircd__member_flags(const struct gw_channel *ch,
                               const struct gw_client *c)
{
    int i = member_index(ch, c);
    return i >= 0 ? ch->mflags[i] : 0;
}

const char *gw_ircd__prefix(const struct gw_client *c, unsigned flags)
{
    if ((flags & GW_MEMBER_OP) && (flags & GW_MEMBER_VOICE) &&
        (c->caps & GW_CAP_MULTI_PREFIX))
        return "@+";
    if (flags & GW_MEMBER_OP)
        return "@";
    return (flags & GW_MEMBER_VOICE) ? "+" : "";
}

/* The first member whose nick is nick (any of a person's sessions). */
static int member_by_nick(const struct gw_channel *ch, const char *nick)
{
    for (int i = 0; i < ch->nmembers; i++)
        if (gw_strcasecmp(ch->members[i]->nick, nick) == 0)
            return i;
    return -1;
}

/* A person's status is theirs in every session. */
static void set_person_flags(struct gw_channel *ch, const char *nick,
                             unsigned add, unsigned del)
{
    for (int i = 0; i < ch->nmembers; i++)
        if (gw_strcasecmp(ch->members[i]->nick, nick) == 0)
            ch->mflags[i] = (unsigned char)((ch->mflags[i] | add) & ~del);
}

bool gw_ircd_is_member(struct gw_ircd *d, const char *channel,
                       const struct gw_client *c)
{
    struct gw_channel *ch = gw_ircd__find_channel(d, channel);
    return ch && gw_ircd__is_member(ch, c);
}

/* ---- sessions ------------------------------------------------------ */

/*
 * Several connections may share one nick: a person's desk and phone. They
 * are sessions of one user: one entry in NAMES, one JOIN, PART and QUIT for
 * the others to see, and each sees what the other says and reads.
 */
bool gw_ircd__same_person(const struct gw_client *a, const struct gw_client *b)
{
    /* With per-person logins, a nick is not enough: the same person. */
    return a != b && a->registered && b->registered && !a->closing &&
           !b->closing && gw_strcasecmp(a->nick, b->nick) == 0 &&
           a->user_login == b->user_login &&
           (!a->user_login || gw_strcasecmp(a->account, b->account) == 0);
}

bool gw_ircd__sibling_in(const struct gw_channel *ch, const struct gw_client *c)
{
    for (int i = 0; i < ch->nmembers; i++)
        if (gw_ircd__same_person(ch->members[i], c))
            return true;
    return false;
}

static bool has_sibling(const struct gw_client *c)
{
    for (struct gw_client *o = c->d->clients; o; o = o->next)
        if (gw_ircd__same_person(o, c))
            return true;
    return false;
}

/* ---- what members see ---------------------------------------------- */

struct names_acc {
    struct gw_client *c;
    struct gw_channel *ch;
    char line[400];
    size_t len;
};

static void names_add(struct names_acc *n, const char *pfx, const char *nick)
{
    size_t need = strlen(pfx) + strlen(nick) + 1;
    if (n->len && n->len + need > sizeof(n->line) - 1 - strlen(n->ch->name) -
                                      GW_NICK_MAX - 40) {
        gw_ircd__numeric(n->c, RPL_NAMREPLY, "= %s :%s", n->ch->name, n->line);
        n->len = 0;
        n->line[0] = '\0';
    }
    n->len += (size_t)snprintf(n->line + n->len, sizeof(n->line) - n->len,
                               "%s%s%s", n->len ? " " : "", pfx, nick);
}

static void send_names(struct gw_client *c, struct gw_channel *ch)
{
    struct names_acc n;
    n.c = c;
    n.ch = ch;
    n.len = 0;
    n.line[0] = '\0';
    bool uh = c->caps & GW_CAP_USERHOST_IN_NAMES;
    char full[256];
    /* The bot sits (as operator) in every channel the gateway manages. */
    if (ch->flags & GW_CHAN_MANAGED) {
        snprintf(full, sizeof(full), "%s!%s@%s", BOT_NICK, BOT_NICK,
                 gw_ircd_server_name(c->d));
        names_add(&n, "@", uh ? full : BOT_NICK);
    }
    for (int i = 0; i < ch->nmembers; i++) {
        struct gw_client *m = ch->members[i];
        /* Sessions of one person (same nick) are listed once. */
        bool dup = false;
        for (int j = 0; j < i && !dup; j++)
            dup = gw_strcasecmp(ch->members[j]->nick, m->nick) == 0;
        if (dup)
            continue;
        gw_client_prefix(m, full, sizeof(full));
        names_add(&n, gw_ircd__prefix(c, ch->mflags[i]), uh ? full : m->nick);
    }
    for (int i = 0; i < ch->npuppets; i++) {
        gw_ircd__puppet_prefix(ch->puppets[i], full, sizeof(full));
        names_add(&n, "", uh ? full : ch->puppets[i]->nick);
    }
    if (n.len)
        gw_ircd__numeric(c, RPL_NAMREPLY, "= %s :%s", ch->name, n.line);
    gw_ircd__numeric(c, RPL_ENDOFNAMES, "%s :End of /NAMES list", ch->name);
}

static void send_topic(struct gw_client *c, struct gw_channel *ch, bool empty)
{
    if (ch->topic && ch->topic[0]) {
        gw_ircd__numeric(c, RPL_TOPIC, "%s :%s", ch->name, ch->topic);
        gw_ircd__numeric(c, RPL_TOPICWHOTIME, "%s %s %lld", ch->name,
                         ch->topic_by, (long long)(ch->topic_ms / 1000));
    } else if (empty) {
        gw_ircd__numeric(c, RPL_NOTOPIC, "%s :No topic is set", ch->name);
    }
}

/* JOIN as each member asked for it: extended-join carries the account and
 * real name, and away-notify learns that the joiner is away. */
void gw_ircd__send_join(struct gw_ircd *d, struct gw_channel *ch,
                        const char *prefix, const char *account,
                        const char *realname, const char *away)
{
    struct gw_out plain, ext, aw;
    memset(&plain, 0, sizeof(plain));
    plain.prefix = prefix;
    plain.command = "JOIN";
    plain.params[0] = ch->name;
    plain.nparams = 1;
    ext = plain;
    ext.params[1] = account && *account ? account : "*";
    ext.params[2] = realname && *realname ? realname : "*";
    ext.nparams = 3;
    memset(&aw, 0, sizeof(aw));
    aw.prefix = prefix;
    aw.command = "AWAY";
    aw.params[0] = away;
    aw.nparams = 1;
    size_t nicklen = strcspn(prefix, "!");
    struct gw_render_cache rp, re, ra;
    memset(&rp, 0, sizeof(rp));
    memset(&re, 0, sizeof(re));
    memset(&ra, 0, sizeof(ra));
    for (int i = 0; i < ch->nmembers; i++) {
        struct gw_client *to = ch->members[i];
        if (to->caps & GW_CAP_EXTENDED_JOIN)
            gw_ircd__cache_send(d, &re, &ext, to);
        else
            gw_ircd__cache_send(d, &rp, &plain, to);
        /* Nobody is told about themselves. */
        bool self = strlen(to->nick) == nicklen &&
                    gw_strncasecmp(to->nick, prefix, nicklen) == 0;
        if (away && (to->caps & GW_CAP_AWAY_NOTIFY) && !self)
            gw_ircd__cache_send(d, &ra, &aw, to);
    }
    gw_ircd__cache_free(&rp);
    gw_ircd__cache_free(&re);
    gw_ircd__cache_free(&ra);
}

/*
 * Everyone who shares a channel with c, once (and c itself if self). Walks
 * c's channels with a generation mark rather than every client, so a mass
 * disconnect stays linear.
 */
static void send_peers(struct gw_client *c, const struct gw_out *o,
                       unsigned need_cap, bool self, bool skip_sessions)
{
    struct gw_ircd *d = c->d;
    uint64_t gen = ++d->mark_gen;
    struct gw_render_cache rc;
    memset(&rc, 0, sizeof(rc));
    c->mark = gen;
    if (self && (!need_cap || (c->caps & need_cap)))
        gw_ircd__cache_send(d, &rc, o, c);
    for (int i = 0; i < c->nchans; i++) {
        struct gw_channel *ch = c->chans[i];
        for (int j = 0; j < ch->nmembers; j++) {
            struct gw_client *m = ch->members[j];
            if (m->mark == gen)
                continue;
            m->mark = gen;
            if (!m->registered || (need_cap && !(m->caps & need_cap)) ||
                (skip_sessions && gw_ircd__same_person(m, c)))
                continue;
            gw_ircd__cache_send(d, &rc, o, m);
        }
    }
    gw_ircd__cache_free(&rc);
}

/* "COMMAND [param]" from c to its peers (see send_peers). */
void gw_ircd__peers_say(struct gw_client *c, const char *command,
                        const char *param, unsigned need_cap, bool self,
                        bool skip_sessions)
{
    char prefix[256];
    gw_client_prefix(c, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = command;
    o.params[0] = param;
    o.nparams = param ? 1 : 0;
    send_peers(c, &o, need_cap, self, skip_sessions);
}

/* ---- membership ---------------------------------------------------- */

void gw_ircd__channel_join(struct gw_client *c, struct gw_channel *ch)
{
    if (gw_ircd__is_member(ch, c))
        return;
    if (ch->nmembers == ch->capmembers) {
        ch->capmembers = ch->capmembers ? ch->capmembers * 2 : 4;
        ch->members = gw_xrealloc(ch->members, sizeof(*ch->members) *
                                                   (size_t)ch->capmembers);
        ch->mflags = gw_xrealloc(ch->mflags, (size_t)ch->capmembers);
    }
    /* The gateway's channels: the team has voice (the bot is the
     * operator). Others: the person's status, or @ for the creator. */
    int sib = member_by_nick(ch, c->nick);
    unsigned char flags = 0;
    if (ch->flags & GW_CHAN_MANAGED)
        flags = GW_MEMBER_VOICE;
    else if (sib >= 0 && gw_ircd__same_person(ch->members[sib], c))
        flags = ch->mflags[sib];
    else if (ch->nmembers == 0)
        flags = GW_MEMBER_OP;
    ch->mflags[ch->nmembers] = flags;
    ch->members[ch->nmembers++] = c;
    if (c->nchans == c->capchans) {
        c->capchans = c->capchans ? c->capchans * 2 : 4;
        c->chans =
            gw_xrealloc(c->chans, sizeof(*c->chans) * (size_t)c->capchans);
    }
    c->chans[c->nchans++] = ch;
    char prefix[256];
    gw_client_prefix(c, prefix, sizeof(prefix));
    if (gw_ircd__sibling_in(ch, c)) {
        /* The others already see this person here. */
        gw_ircd__printf(c, ":%s JOIN %s", prefix, ch->name);
    } else {
        gw_ircd__send_join(c->d, ch, prefix, c->account, c->realname, c->away);
    }
    send_topic(c, ch, false);
    if (c->caps & GW_CAP_READ_MARKER)
        gw_ircd__markread_join(c, ch->name);
    send_names(c, ch);
}

/* Remove c from ch without telling anyone. */
static void channel_remove(struct gw_client *c, struct gw_channel *ch)
{
    int i = member_index(ch, c);
    if (i >= 0) {
        ch->nmembers--;
        ch->members[i] = ch->members[ch->nmembers];
        ch->mflags[i] = ch->mflags[ch->nmembers];
    }
    for (i = 0; i < c->nchans; i++) {
        if (c->chans[i] == ch) {
            c->chans[i] = c->chans[--c->nchans];
            break;
        }
    }
    if (ch->nmembers == 0 && !(ch->flags & GW_CHAN_MANAGED))
        gw_ircd__channel_free(c->d, ch);
}

/* c's "COMMAND #channel params..." to everyone in ch, c included. */
static void channel_say(struct gw_client *c, struct gw_channel *ch,
                        const char *command, const char *const *params,
                        int nparams)
{
    char prefix[256];
    gw_client_prefix(c, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = command;
    o.params[0] = ch->name;
    o.nparams = 1;
    for (int i = 0; i < nparams && o.nparams < GW_IRC_PARAMS_MAX; i++)
        o.params[o.nparams++] = params[i];
    send_channel(c->d, ch, &o, NULL);
}

static void channel_part(struct gw_client *c, struct gw_channel *ch,
                         const char *reason)
{
    channel_say(c, ch, "PART", &reason, reason && *reason ? 1 : 0);
    /* A person leaves with all their sessions. */
    for (int i = 0; i < ch->nmembers;) {
        if (gw_ircd__same_person(ch->members[i], c) && ch->nmembers > 1)
            channel_remove(ch->members[i], ch);
        else
            i++;
    }
    channel_remove(c, ch);
}

int gw_ircd_channel_open(struct gw_ircd *d, const char *name, const char *topic,
                         unsigned flags)
{
    if (!valid_channel_name(name))
        return UV_EINVAL;
    struct gw_channel *ch = gw_ircd__find_channel(d, name);
    bool fresh = ch == NULL;
    if (fresh)
        ch = channel_new(d, name);
    /* People's own channel becomes the gateway's: its modes now, and its
     * operators are members like everyone. */
    if (!(ch->flags & GW_CHAN_MANAGED)) {
        ch->modes = GW_CMODE_N | GW_CMODE_T;
        for (int i = 0; i < ch->nmembers; i++)
            ch->mflags[i] = GW_MEMBER_VOICE;
    }
    ch->flags |= flags | GW_CHAN_MANAGED;
    if (topic && (ch->topic == NULL || strcmp(ch->topic, topic) != 0)) {
        free(ch->topic);
        ch->topic = gw_xstrdup(topic);
        snprintf(ch->topic_by, sizeof(ch->topic_by), "%s!%s@%s", BOT_NICK,
                 BOT_NICK, gw_ircd_server_name(d));
        ch->topic_ms = gw_now_ms();
        if (!fresh) {
            char prefix[128];
            snprintf(prefix, sizeof(prefix), "%s!%s@%s", BOT_NICK, BOT_NICK,
                     gw_ircd_server_name(d));
            struct gw_out o;
            memset(&o, 0, sizeof(o));
            o.prefix = prefix;
            o.command = "TOPIC";
            o.params[0] = ch->name;
            o.params[1] = ch->topic;
            o.nparams = 2;
            send_channel(d, ch, &o, NULL);
        }
    }
    for (struct gw_client *c = d->clients; c; c = c->next)
        if (c->registered && !c->closing && gw_ircd__autojoins(c, ch))
            gw_ircd__channel_join(c, ch);
    return 0;
}

bool gw_ircd__autojoins(const struct gw_client *c, const struct gw_channel *ch)
{
    if (!(ch->flags & GW_CHAN_MANAGED))
        return false;
    return !(ch->flags & GW_CHAN_CONTROL) || c->d->gw->cfg->autojoin_control;
}

void gw_ircd_channel_close(struct gw_ircd *d, const char *name,
                           const char *reason)
{
    struct gw_channel *ch = gw_ircd__find_channel(d, name);
    if (ch == NULL)
        return;
    ch->flags &= ~(unsigned)GW_CHAN_MANAGED;
    while (ch->nmembers > 0) {
        struct gw_client *c = ch->members[0];
        bool last = ch->nmembers == 1;
        channel_part(c, ch, reason);
        if (last)
            return; /* freed by channel_remove */
    }
    gw_ircd__channel_free(d, ch);
}

bool gw_ircd_channel_exists(struct gw_ircd *d, const char *name)
{
    return gw_ircd__find_channel(d, name) != NULL;
}

/* QUIT goes once to everybody who shares a channel with c. */
void gw_ircd__part_all(struct gw_client *c, const char *quit_reason)
{
    if (has_sibling(c)) {
        /* Another session of this person stays: nobody sees a QUIT. */
        while (c->nchans > 0)
            channel_remove(c, c->chans[0]);
        return;
    }
    gw_ircd__peers_say(c, "QUIT", quit_reason, 0, false, false);
    while (c->nchans > 0)
        channel_remove(c, c->chans[0]);
}

/* ---- commands ------------------------------------------------------ */

void gw_ircd__cmd_join(struct gw_client *c, struct gw_irc_msg *m)
{
    if (strcmp(m->params[0], "0") == 0) {
        while (c->nchans > 0)
            channel_part(c, c->chans[0], "Left all channels");
        return;
    }
    char *copy = gw_xstrdup(m->params[0]);
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p) {
            struct gw_channel *ch = gw_ircd__find_channel(c->d, p);
            if (!valid_channel_name(p)) {
                gw_ircd__numeric(c, ERR_BADCHANNAME, "%s :Illegal channel name",
                                 p);
            } else if (ch == NULL && p[0] == '&') {
                gw_ircd__numeric(c, ERR_NOSUCHCHANNEL,
                                 "%s :No such channel (& channels belong to "
                                 "the gateway)",
                                 p);
            } else if (ch == NULL && c->nchans >= 64) {
                gw_ircd__numeric(c, ERR_TOOMANYCHANNELS,
                                 "%s :You have joined too many channels", p);
            } else {
                if (ch == NULL)
                    ch = channel_new(c->d, p);
                gw_ircd__channel_join(c, ch);
            }
        }
        p = comma;
    }
    free(copy);
}

void gw_ircd__cmd_part(struct gw_client *c, struct gw_irc_msg *m)
{
    char *copy = gw_xstrdup(m->params[0]);
    const char *reason = m->nparams > 1 ? m->params[1] : NULL;
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p) {
            struct gw_channel *ch = gw_ircd__find_channel(c->d, p);
            if (ch == NULL)
                gw_ircd__numeric(c, ERR_NOSUCHCHANNEL, "%s :No such channel",
                                 p);
            else if (!gw_ircd__is_member(ch, c))
                gw_ircd__numeric(c, ERR_NOTONCHANNEL,
                                 "%s :You're not on that channel", p);
            else
                channel_part(c, ch, reason);
        }
        p = comma;
    }
    free(copy);
}

void gw_ircd__cmd_names(struct gw_client *c, struct gw_irc_msg *m)
{
    if (m->nparams == 0) {
        gw_ircd__numeric(c, RPL_ENDOFNAMES, "* :End of /NAMES list");
        return;
    }
    struct gw_channel *ch = gw_ircd__find_channel(c->d, m->params[0]);
    if (ch == NULL)
        gw_ircd__numeric(c, RPL_ENDOFNAMES, "%s :End of /NAMES list",
                         m->params[0]);
    else
        send_names(c, ch);
}

/*
 * May c change ch (its topic, modes, members)? Only in a channel people
 * made (the gateway's own answer why_not), as a member, and as its
 * operator when op is needed. Otherwise c is told why.
 */
static bool may_change(struct gw_client *c, const struct gw_channel *ch,
                       const char *why_not, bool op)
{
    if (!gw_ircd__is_member(ch, c)) {
        gw_ircd__numeric(c, ERR_NOTONCHANNEL, "%s :You're not on that channel",
                         ch->name);
        return false;
    }
    if (ch->flags & GW_CHAN_MANAGED) {
        gw_ircd__numeric(c, ERR_CHANOPRIVSNEEDED, "%s :%s", ch->name, why_not);
        return false;
    }
    if (op && !(gw_ircd__member_flags(ch, c) & GW_MEMBER_OP)) {
        gw_ircd__numeric(c, ERR_CHANOPRIVSNEEDED,
                         "%s :You're not channel operator", ch->name);
        return false;
    }
    return true;
}

void gw_ircd__cmd_topic(struct gw_client *c, struct gw_irc_msg *m)
{
    struct gw_channel *ch = gw_ircd__find_channel(c->d, m->params[0]);
    if (ch == NULL) {
        gw_ircd__numeric(c, ERR_NOSUCHCHANNEL, "%s :No such channel",
                         m->params[0]);
        return;
    }
    if (m->nparams < 2) {
        send_topic(c, ch, true);
        return;
    }
    if (!may_change(c, ch, "The gateway sets this channel's topic",
                    ch->modes & GW_CMODE_T))
        return;
    size_t tlen = strlen(m->params[1]);
    if (tlen > GW_TOPIC_MAX)
        tlen = gw_utf8_cut(m->params[1], GW_TOPIC_MAX);
    free(ch->topic);
    ch->topic = gw_xstrndup(m->params[1], tlen);
    gw_client_prefix(c, ch->topic_by, sizeof(ch->topic_by));
    ch->topic_ms = gw_now_ms();
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = ch->topic_by;
    o.command = "TOPIC";
    o.params[0] = ch->name;
    o.params[1] = ch->topic;
    o.nparams = 2;
    send_channel(c->d, ch, &o, NULL);
}

static void modes_string(const struct gw_channel *ch, char *buf, size_t size)
{
    unsigned modes =
        (ch->flags & GW_CHAN_MANAGED) ? GW_CMODE_N | GW_CMODE_T : ch->modes;
    snprintf(buf, size, "+%s%s", (modes & GW_CMODE_N) ? "n" : "",
             (modes & GW_CMODE_T) ? "t" : "");
}

/* A mode change as everyone in the channel sees it: "+v-o bob carol". */
struct mode_change {
    char modes[2 * GW_MODES_MAX + 8];
    size_t len;
    char sign;
    const char *args[GW_MODES_MAX];
    int nargs;
};

static void change_add(struct mode_change *mc, char sign, char mode,
                       const char *arg)
{
    if (mc->len + 3 > sizeof(mc->modes))
        return;
    if (mc->sign != sign)
        mc->modes[mc->len++] = mc->sign = sign;
    mc->modes[mc->len++] = mode;
    mc->modes[mc->len] = '\0';
    if (arg)
        mc->args[mc->nargs++] = arg;
}

/* +o/-o/+v/-v nick: a person's status in every session. */
static void member_mode(struct gw_client *c, struct gw_channel *ch,
                        struct mode_change *mc, char sign, char mode,
                        const char *nick)
{
    int i = member_by_nick(ch, nick);
    if (i < 0) {
        if (gw_ircd__find_client(c->d, nick) ||
            gw_ircd__find_puppet(c->d, nick))
            gw_ircd__numeric(c, ERR_USERNOTINCHANNEL,
                             "%s %s :They aren't on that channel", nick,
                             ch->name);
        else
            gw_ircd__numeric(c, ERR_NOSUCHNICK, "%s :No such nick/channel",
                             nick);
        return;
    }
    unsigned flag = mode == 'o' ? GW_MEMBER_OP : GW_MEMBER_VOICE;
    bool has = ch->mflags[i] & flag;
    if (has == (sign == '+'))
        return; /* already so: not a change */
    set_person_flags(ch, nick, sign == '+' ? flag : 0, sign == '-' ? flag : 0);
    change_add(mc, sign, mode, ch->members[i]->nick);
}

static void channel_mode(struct gw_client *c, struct gw_channel *ch,
                         struct gw_irc_msg *m)
{
    const char *req = m->params[1];
    char buf[16];
    if (m->nparams == 1) {
        modes_string(ch, buf, sizeof(buf));
        gw_ircd__numeric(c, RPL_CHANNELMODEIS, "%s %s", ch->name, buf);
        gw_ircd__numeric(c, RPL_CREATIONTIME, "%s %lld", ch->name,
                         (long long)(ch->created_ms / 1000));
        return;
    }
    /* The lists clients ask for on joining: there are none. */
    if (strcmp(req, "b") == 0 || strcmp(req, "+b") == 0) {
        gw_ircd__numeric(c, RPL_ENDOFBANLIST, "%s :End of channel ban list",
                         ch->name);
        return;
    }
    if (strcmp(req, "e") == 0 || strcmp(req, "I") == 0) {
        gw_ircd__numeric(
            c, req[0] == 'e' ? RPL_ENDOFEXCEPTLIST : RPL_ENDOFINVITELIST,
            "%s :End of list", ch->name);
        return;
    }
    if (!may_change(c, ch, "The gateway sets this channel's modes", true))
        return;
    struct mode_change mc;
    memset(&mc, 0, sizeof(mc));
    char sign = '+';
    int arg = 2;
    for (const char *p = req; *p; p++) {
        unsigned bit = *p == 'n' ? GW_CMODE_N : *p == 't' ? GW_CMODE_T : 0;
        if (*p == '+' || *p == '-') {
            sign = *p;
        } else if (bit) {
            if (((ch->modes & bit) != 0) != (sign == '+')) {
                ch->modes ^= bit;
                change_add(&mc, sign, *p, NULL);
            }
        } else if (*p == 'o' || *p == 'v') {
            /* Past MODES=, or without its nick: ignored, as servers do. */
            if (arg < m->nparams && mc.nargs < GW_MODES_MAX)
                member_mode(c, ch, &mc, sign, *p, m->params[arg++]);
        } else {
            gw_ircd__numeric(c, ERR_UNKNOWNMODE,
                             "%c :is unknown mode char to me", *p);
        }
    }
    if (mc.len == 0)
        return;
    const char *params[1 + GW_MODES_MAX] = {mc.modes};
    for (int i = 0; i < mc.nargs; i++)
        params[1 + i] = mc.args[i];
    channel_say(c, ch, "MODE", params, 1 + mc.nargs);
}

void gw_ircd__cmd_mode(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *target = m->params[0];
    if (target[0] == '#' || target[0] == '&') {
        struct gw_channel *ch = gw_ircd__find_channel(c->d, target);
        if (ch == NULL)
            gw_ircd__numeric(c, ERR_NOSUCHCHANNEL, "%s :No such channel",
                             target);
        else
            channel_mode(c, ch, m);
        return;
    }
    if (gw_strcasecmp(target, c->nick) != 0) {
        if (gw_ircd__find_client(c->d, target) ||
            gw_ircd__find_puppet(c->d, target))
            gw_ircd__numeric(c, ERR_USERSDONTMATCH,
                             ":Can't change mode for other users");
        else
            gw_ircd__numeric(c, ERR_NOSUCHNICK, "%s :No such nick/channel",
                             target);
        return;
    }
    if (m->nparams == 1)
        gw_ircd__numeric(c, RPL_UMODEIS, "+i");
    else
        gw_ircd__numeric(c, ERR_UMODEUNKNOWNFLAG,
                         ":User modes are fixed on this gateway");
}

/* KICK #channel nick[,nick...] [:reason] by a channel operator: every
 * session of the person leaves; everyone there sees it. */
void gw_ircd__cmd_kick(struct gw_client *c, struct gw_irc_msg *m)
{
    struct gw_channel *ch = gw_ircd__find_channel(c->d, m->params[0]);
    if (ch == NULL) {
        gw_ircd__numeric(c, ERR_NOSUCHCHANNEL, "%s :No such channel",
                         m->params[0]);
        return;
    }
    if (!may_change(c, ch, "The gateway decides who is in this channel", true))
        return;
    const char *reason =
        m->nparams > 2 && m->params[2][0] ? m->params[2] : c->nick;
    char *copy = gw_xstrdup(m->params[1]);
    int n = 0;
    for (char *p = copy, *comma; p; p = comma) {
        comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p == '\0')
            continue;
        if (++n > GW_TARGETS_MAX) {
            gw_ircd__numeric(c, ERR_TOOMANYTARGETS,
                             "%s :Too many targets for KICK", p);
            break;
        }
        int i = member_by_nick(ch, p);
        if (i < 0) {
            gw_ircd__numeric(c, ERR_USERNOTINCHANNEL,
                             "%s %s :They aren't on that channel", p, ch->name);
        } else {
            char nick[GW_NICK_MAX + 1];
            gw_strlcpy(nick, ch->members[i]->nick, sizeof(nick));
            const char *params[2] = {nick, reason};
            channel_say(c, ch, "KICK", params, 2);
            /* The last member out frees the channel. */
            bool gone = false;
            while (!gone && (i = member_by_nick(ch, nick)) >= 0) {
                gone = ch->nmembers == 1;
                channel_remove(ch->members[i], ch);
            }
            if (gone)
                break;
        }
    }
    free(copy);
}

void gw_ircd__cmd_invite(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *nick = m->params[0], *chan = m->params[1];
    struct gw_client *to = gw_ircd__find_client(c->d, nick);
    struct gw_channel *ch = gw_ircd__find_channel(c->d, chan);
    if (to == NULL || !to->registered) {
        gw_ircd__numeric(c, ERR_NOSUCHNICK, "%s :No such nick/channel", nick);
        return;
    }
    if (ch == NULL) {
        gw_ircd__numeric(c, ERR_NOSUCHCHANNEL, "%s :No such channel", chan);
        return;
    }
    if (!gw_ircd__is_member(ch, c)) {
        gw_ircd__numeric(c, ERR_NOTONCHANNEL, "%s :You're not on that channel",
                         ch->name);
        return;
    }
    if (gw_ircd__is_member(ch, to)) {
        gw_ircd__numeric(c, ERR_USERONCHANNEL, "%s %s :is already on channel",
                         to->nick, ch->name);
        return;
    }
    gw_ircd__numeric(c, RPL_INVITING, "%s %s", to->nick, ch->name);
    char prefix[256];
    gw_client_prefix(c, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = "INVITE";
    o.params[0] = to->nick;
    o.params[1] = ch->name;
    o.nparams = 2;
    for (struct gw_client *o2 = c->d->clients; o2; o2 = o2->next) {
        bool target = gw_strcasecmp(o2->nick, to->nick) == 0;
        if (o2->registered &&
            (target || ((o2->caps & GW_CAP_INVITE_NOTIFY) &&
                        gw_ircd__is_member(ch, o2) && o2 != c)))
            gw_ircd_send(o2, &o);
    }
}
