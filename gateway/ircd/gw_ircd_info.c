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
                      bool away, bool op)
{
    gw_ircd__numeric(c, RPL_WHOREPLY, "%s %s %s %s %s %s%s :0 %s", mask, user,
                     host, gw_ircd_server_name(c->d), nick, away ? "G" : "H",
                     op ? "@" : "", realname);
}

void gw_ircd__cmd_who(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *mask = m->nparams > 0 ? m->params[0] : "*";
    struct gw_channel *ch = gw_ircd__find_channel(c->d, mask);
    if (ch) {
        if (ch->flags & GW_CHAN_MANAGED)
            who_reply(c, ch->name, BOT_NICK, BOT_NICK,
                      gw_ircd_server_name(c->d), "Parley control bot", false,
                      true);
        for (int i = 0; i < ch->nmembers; i++) {
            struct gw_client *o = ch->members[i];
            who_reply(c, ch->name, o->nick, o->user, o->host,
                      o->realname ? o->realname : "", o->away != NULL, false);
        }
        for (int i = 0; i < ch->npuppets; i++) {
            struct gw_puppet *p = ch->puppets[i];
            who_reply(c, ch->name, p->nick, p->user, p->host, p->realname,
                      false, false);
        }
    } else {
        struct gw_client *o = gw_ircd__find_client(c->d, mask);
        struct gw_puppet *p = gw_ircd__find_puppet(c->d, mask);
        if (o && o->registered)
            who_reply(c, "*", o->nick, o->user, o->host,
                      o->realname ? o->realname : "", o->away != NULL, false);
        else if (p)
            who_reply(c, "*", p->nick, p->user, p->host, p->realname, false,
                      false);
        else if (gw_strcasecmp(mask, BOT_NICK) == 0)
            who_reply(c, "*", BOT_NICK, BOT_NICK, gw_ircd_server_name(c->d),
                      "Parley control bot", false, false);
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
        if (o)
            in = gw_ircd__is_member(ch, o);
        for (int i = 0; p && !in && i < ch->npuppets; i++)
            in = ch->puppets[i] == p;
        if (in && len + strlen(ch->name) + 2 < sizeof(list))
            len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
                                    len ? " " : "", ch->name);
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
