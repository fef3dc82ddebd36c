/*
 * Queries and personal state: WHO, WHOIS, LIST, ISON, USERHOST, MOTD,
 * LUSERS, VERSION, AWAY and SETNAME.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_numerics.h"
#include "gw_router.h"

static void who_reply(struct gw_client *c, const char *mask, const char *nick,
                      const char *user, const char *host, const char *realname,
                      bool away, const char *prefix)
{
    gw_ircd__numeric(c, RPL_WHOREPLY, "%s %s %s %s %s %s%s :0 %s", mask, user,
                     host, gw_ircd_server_name(c->d), nick, away ? "G" : "H",
                     prefix, realname);
}

/* IRC masks: '*' is any run, '?' any one character, ASCII case ignored. */
static bool mask_match(const char *mask, const char *s)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*mask == '*') {
            star = mask++;
            resume = s;
        } else if (*mask == '?' || gw_strncasecmp(mask, s, 1) == 0) {
            mask++;
            s++;
        } else if (star) {
            mask = star + 1;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*mask == '*')
        mask++;
    return *mask == '\0';
}

/* Modern IRC: a WHO mask is matched against the nick, user name, host and
 * real name; "0" means everyone. */
static bool who_matches(const char *mask, const char *nick, const char *user,
                        const char *host, const char *realname)
{
    return strcmp(mask, "0") == 0 || mask_match(mask, nick) ||
           mask_match(mask, user) || mask_match(mask, host) ||
           mask_match(mask, realname ? realname : "");
}

/* Is o a session of a person listed already (an earlier one in the list)? */
static bool earlier_session(const struct gw_ircd *d, const struct gw_client *o)
{
    for (const struct gw_client *e = d->clients; e && e != o; e = e->next)
        if (gw_ircd__same_person(e, o))
            return true;
    return false;
}

static void who_channel(struct gw_client *c, struct gw_channel *ch)
{
    if (ch->flags & GW_CHAN_MANAGED)
        who_reply(c, ch->name, BOT_NICK, BOT_NICK, gw_ircd_server_name(c->d),
                  "Parley control bot", false, "@");
    for (int i = 0; i < ch->nmembers; i++) {
        struct gw_client *o = ch->members[i];
        /* Sessions of one person are one user, as in NAMES. */
        bool dup = false;
        for (int j = 0; j < i && !dup; j++)
            dup = gw_strcasecmp(ch->members[j]->nick, o->nick) == 0;
        if (!dup)
            who_reply(c, ch->name, o->nick, o->user, o->host,
                      o->realname ? o->realname : "", o->away != NULL,
                      gw_ircd__prefix(c, ch->mflags[i]));
    }
    for (int i = 0; i < ch->npuppets; i++) {
        struct gw_puppet *p = ch->puppets[i];
        who_reply(c, ch->name, p->nick, p->user, p->host, p->realname, false,
                  "");
    }
}

void gw_ircd__cmd_who(struct gw_client *c, struct gw_irc_msg *m)
{
    struct gw_ircd *d = c->d;
    const char *mask = m->nparams > 0 ? m->params[0] : "*";
    struct gw_channel *ch = gw_ircd__find_channel(d, mask);
    if (ch) {
        who_channel(c, ch);
        gw_ircd__numeric(c, RPL_ENDOFWHO, "%s :End of /WHO list", mask);
        return;
    }
    /* Every user that matches: people here, the bot, people of the
     * networks, up to GW_WHO_REPLIES_MAX. */
    int n = 0;
    for (struct gw_client *o = d->clients; o && n < GW_WHO_REPLIES_MAX;
         o = o->next) {
        if (!o->registered || o->closing ||
            !who_matches(mask, o->nick, o->user, o->host, o->realname) ||
            earlier_session(d, o))
            continue;
        who_reply(c, "*", o->nick, o->user, o->host,
                  o->realname ? o->realname : "", o->away != NULL, "");
        n++;
    }
    if (n < GW_WHO_REPLIES_MAX &&
        who_matches(mask, BOT_NICK, BOT_NICK, gw_ircd_server_name(d),
                    "Parley control bot")) {
        who_reply(c, "*", BOT_NICK, BOT_NICK, gw_ircd_server_name(d),
                  "Parley control bot", false, "");
        n++;
    }
    for (struct gw_puppet *p = d->puppets; p && n < GW_WHO_REPLIES_MAX;
         p = p->older) {
        if (!who_matches(mask, p->nick, p->user, p->host, p->realname))
            continue;
        who_reply(c, "*", p->nick, p->user, p->host, p->realname, false, "");
        n++;
    }
    gw_ircd__numeric(c, RPL_ENDOFWHO, "%s :End of /WHO list", mask);
}

static void whois_channels(struct gw_client *c, const char *nick,
                           struct gw_client *o, struct gw_puppet *p)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (struct gw_channel *ch = c->d->channels; ch; ch = ch->next) {
        bool in = false;
        unsigned flags = 0;
        if (o) {
            in = gw_ircd__is_member(ch, o);
            flags = gw_ircd__member_flags(ch, o);
        }
        for (int i = 0; p && !in && i < ch->npuppets; i++)
            in = ch->puppets[i] == p;
        if (in && len + strlen(ch->name) + 4 < sizeof(list))
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s%s",
                                    len ? " " : "", gw_ircd__prefix(c, flags),
                                    ch->name);
    }
    if (len)
        gw_ircd__numeric(c, RPL_WHOISCHANNELS, "%s :%s", nick, list);
}

void gw_ircd__cmd_whois(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *nick = m->params[m->nparams > 1 ? 1 : 0];
    struct gw_client *o = gw_ircd__find_client(c->d, nick);
    struct gw_puppet *p = gw_ircd__find_puppet(c->d, nick);
    /* Someone who quit for quiet is still someone. */
    if (o == NULL && p == NULL && gw_strcasecmp(nick, BOT_NICK) != 0 &&
        gw_router_person_back(c->d->gw->router, nick))
        p = gw_ircd__find_puppet(c->d, nick);
    if (o && o->registered) {
        gw_ircd__numeric(c, RPL_WHOISUSER, "%s %s %s * :%s", o->nick, o->user,
                         o->host, o->realname ? o->realname : "");
        whois_channels(c, o->nick, o, NULL);
        gw_ircd__numeric(c, RPL_WHOISSERVER, "%s %s :Parley gateway", o->nick,
                         gw_ircd_server_name(c->d));
        if (o->away)
            gw_ircd__numeric(c, RPL_AWAY, "%s :%s", o->nick, o->away);
        gw_ircd__numeric(c, RPL_ENDOFWHOIS, "%s :End of /WHOIS list", o->nick);
    } else if (p) {
        gw_ircd__numeric(c, RPL_WHOISUSER, "%s %s %s * :%s", p->nick, p->user,
                         p->host, p->realname);
        whois_channels(c, p->nick, NULL, p);
        gw_ircd__numeric(c, RPL_WHOISSERVER, "%s %s :Parley gateway", p->nick,
                         gw_ircd_server_name(c->d));
        char *lines = gw_xstrdup(p->whois);
        for (char *l = lines; l && *l;) {
            char *nl = strchr(l, '\n');
            if (nl)
                *nl++ = '\0';
            if (*l)
                gw_ircd__numeric(c, RPL_WHOISSPECIAL, "%s :%s", p->nick, l);
            l = nl;
        }
        free(lines);
        gw_ircd__numeric(c, RPL_ENDOFWHOIS, "%s :End of /WHOIS list", p->nick);
    } else if (gw_strcasecmp(nick, BOT_NICK) == 0) {
        gw_ircd__numeric(c, RPL_WHOISUSER, "%s %s %s * :Parley control bot",
                         BOT_NICK, BOT_NICK, gw_ircd_server_name(c->d));
        gw_ircd__numeric(c, RPL_WHOISSERVER, "%s %s :Parley gateway", BOT_NICK,
                         gw_ircd_server_name(c->d));
        gw_ircd__numeric(c, RPL_ENDOFWHOIS, "%s :End of /WHOIS list", BOT_NICK);
    } else {
        gw_ircd__numeric(c, ERR_NOSUCHNICK, "%s :No such nick/channel", nick);
        gw_ircd__numeric(c, RPL_ENDOFWHOIS, "%s :End of /WHOIS list", nick);
    }
}

void gw_ircd__cmd_list(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    gw_ircd__numeric(c, RPL_LISTSTART, "Channel :Users  Name");
    for (struct gw_channel *ch = c->d->channels; ch; ch = ch->next)
        gw_ircd__numeric(c, RPL_LIST, "%s %d :%s", ch->name,
                         ch->nmembers + ch->npuppets +
                             ((ch->flags & GW_CHAN_MANAGED) ? 1 : 0),
                         ch->topic ? ch->topic : "");
    gw_ircd__numeric(c, RPL_LISTEND, ":End of /LIST");
}

void gw_ircd__cmd_away(struct gw_client *c, struct gw_irc_msg *m)
{
    free(c->away);
    c->away = NULL;
    if (m->nparams > 0 && m->params[0][0]) {
        size_t n = strlen(m->params[0]);
        if (n > GW_AWAY_MAX)
            n = gw_utf8_cut(m->params[0], GW_AWAY_MAX);
        c->away = gw_xstrndup(m->params[0], n);
        gw_ircd__numeric(c, RPL_NOWAWAY, ":You have been marked as being away");
    } else {
        gw_ircd__numeric(c, RPL_UNAWAY,
                         ":You are no longer marked as being away");
    }
    gw_ircd__peers_say(c, "AWAY", c->away, GW_CAP_AWAY_NOTIFY, false, false);
}

void gw_ircd__cmd_setname(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *name = m->params[0];
    size_t n = strlen(name);
    if (n == 0 || n > GW_REALNAME_MAX) {
        gw_ircd__printf(c,
                        ":%s FAIL SETNAME INVALID_REALNAME :Real name must "
                        "be 1 to %d bytes",
                        gw_ircd_server_name(c->d), GW_REALNAME_MAX);
        return;
    }
    free(c->realname);
    c->realname = gw_xstrdup(name);
    gw_ircd__peers_say(c, "SETNAME", c->realname, GW_CAP_SETNAME, true, false);
}

void gw_ircd__cmd_motd(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    gw_ircd__send_motd(c);
}

void gw_ircd__cmd_lusers(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    gw_ircd__numeric(c, RPL_LUSERCLIENT,
                     ":There are %d users and 0 services on 1 server",
                     c->d->nregistered);
    gw_ircd__numeric(c, RPL_LUSERME, ":I have %d clients and 0 servers",
                     c->d->nregistered);
}

void gw_ircd__cmd_version(struct gw_client *c, struct gw_irc_msg *m)
{
    (void)m;
    gw_ircd__numeric(c, RPL_VERSION, "%s %s :Parley IRC gateway",
                     PARLEY_VERSION_STR, gw_ircd_server_name(c->d));
    gw_ircd__send_isupport(c);
}

void gw_ircd__cmd_ison(struct gw_client *c, struct gw_irc_msg *m)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; i < m->nparams; i++) {
        char *save = NULL;
        char *copy = gw_xstrdup(m->params[i]);
        for (char *p = strtok_r(copy, " ", &save); p;
             p = strtok_r(NULL, " ", &save)) {
            if (gw_ircd_nick_taken(c->d, p) &&
                len + strlen(p) + 2 < sizeof(list))
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                        len ? " " : "", p);
        }
        free(copy);
    }
    gw_ircd__numeric(c, RPL_ISON, ":%s", list);
}

void gw_ircd__cmd_userhost(struct gw_client *c, struct gw_irc_msg *m)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    /* At most five nicks: the command table's max_params. */
    for (int i = 0; i < m->nparams; i++) {
        struct gw_client *o = gw_ircd__find_client(c->d, m->params[i]);
        struct gw_puppet *p = gw_ircd__find_puppet(c->d, m->params[i]);
        if (o && len < 300)
            len += (size_t)snprintf(list + len, sizeof(list) - len,
                                    "%s%s=%c%s@%s", len ? " " : "", o->nick,
                                    o->away ? '-' : '+', o->user, o->host);
        else if (p && len < 300)
            len +=
                (size_t)snprintf(list + len, sizeof(list) - len, "%s%s=+%s@%s",
                                 len ? " " : "", p->nick, p->user, p->host);
    }
    gw_ircd__numeric(c, RPL_USERHOST, ":%s", list);
}
