/*
 * Nicks: clients by nick, and puppets, the virtual users that stand for
 * people on the networks: a hash by nick, and a list by last activity so
 * that the ones not heard from for longest can be let go.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

/* The client holding nick; a registered session is preferred. */
struct gw_client *gw_ircd__find_client(struct gw_ircd *d, const char *nick)
{
    struct gw_client *found = NULL;
    for (struct gw_client *c = d->clients; c; c = c->next) {
        if (c->has_nick && !c->closing && gw_strcasecmp(c->nick, nick) == 0) {
            if (c->registered)
                return c;
            found = c;
        }
    }
    return found;
}

struct gw_puppet *gw_ircd__find_puppet(struct gw_ircd *d, const char *nick)
{
    struct gw_name_link *l = gw_names_find(&d->puppet_nicks, nick);
    return l != NULL ? gw_container_of(l, struct gw_puppet, by_nick) : NULL;
}

static void puppet_unlink(struct gw_ircd *d, struct gw_puppet *p)
{
    *(p->newer ? &p->newer->older : &d->puppets) = p->older;
    *(p->older ? &p->older->newer : &d->oldest) = p->newer;
    p->newer = p->older = NULL;
}

static void puppet_push(struct gw_ircd *d, struct gw_puppet *p)
{
    p->older = d->puppets;
    *(d->puppets ? &d->puppets->newer : &d->oldest) = p;
    d->puppets = p;
}

/* The person was heard from: the last to be let go. */
void gw_ircd__puppet_touch(struct gw_ircd *d, struct gw_puppet *p)
{
    if (d->puppets != p) {
        puppet_unlink(d, p);
        puppet_push(d, p);
    }
}

bool gw_ircd_nick_taken(struct gw_ircd *d, const char *nick)
{
    return gw_strcasecmp(nick, BOT_NICK) == 0 ||
           gw_ircd__find_client(d, nick) || gw_ircd__find_puppet(d, nick);
}

bool gw_ircd_is_puppet(struct gw_ircd *d, const char *nick)
{
    return gw_ircd__find_puppet(d, nick) != NULL;
}

bool gw_ircd__valid_nick(const char *n)
{
    static const char special[] = "[]\\`_^{|}";
    size_t len = strlen(n);
    if (len == 0 || len > GW_NICK_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)n[i];
        bool alpha = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
        bool digit = ch >= '0' && ch <= '9';
        if (alpha || strchr(special, ch) != NULL ||
            (i > 0 && (digit || ch == '-')))
            continue;
        return false;
    }
    return true;
}

int gw_ircd_puppet_set(struct gw_ircd *d, const char *nick, const char *user,
                       const char *host, const char *realname,
                       const char *whois)
{
    if (gw_ircd__find_client(d, nick) || gw_strcasecmp(nick, BOT_NICK) == 0)
        return UV_EEXIST;
    if (!gw_ircd__valid_nick(nick))
        return UV_EINVAL;
    struct gw_puppet *p = gw_ircd__find_puppet(d, nick);
    if (p == NULL) {
        p = gw_xcalloc(1, sizeof(*p));
        gw_strlcpy(p->nick, nick, sizeof(p->nick));
        puppet_push(d, p);
        gw_names_add(&d->puppet_nicks, &p->by_nick, p->nick);
    } else {
        gw_ircd__puppet_touch(d, p);
    }
    /* The same person posts again and again: copy only what changed. */
    const char *vals[4] = {user, host, realname ? realname : "",
                           whois ? whois : ""};
    char **slots[4] = {&p->user, &p->host, &p->realname, &p->whois};
    for (int i = 0; i < 4; i++) {
        if (*slots[i] == NULL || strcmp(*slots[i], vals[i]) != 0) {
            free(*slots[i]);
            *slots[i] = gw_xstrdup(vals[i]);
        }
    }
    return 0;
}

void gw_ircd__puppet_prefix(const struct gw_puppet *p, char *buf, size_t size)
{
    snprintf(buf, size, "%s!%s@%s", p->nick, p->user, p->host);
}

int gw_ircd_puppet_join(struct gw_ircd *d, const char *nick,
                        const char *channel)
{
    struct gw_puppet *p = gw_ircd__find_puppet(d, nick);
    struct gw_channel *ch = gw_ircd__find_channel(d, channel);
    if (p == NULL || ch == NULL)
        return UV_ENOENT;
    for (int i = 0; i < p->nchans; i++)
        if (p->chans[i] == ch)
            return 0;
    if (p->nchans < (int)GW_ARRAY_LEN(p->chans)) {
        p->slots[p->nchans] = ch->npuppets;
        p->chans[p->nchans++] = ch;
    } else {
        for (int i = 0; i < ch->npuppets; i++)
            if (ch->puppets[i] == p)
                return 0;
    }
    if (ch->npuppets == ch->cappuppets) {
        ch->cappuppets = ch->cappuppets ? ch->cappuppets * 2 : 8;
        ch->puppets = gw_xrealloc(ch->puppets, sizeof(*ch->puppets) *
                                                   (size_t)ch->cappuppets);
    }
    ch->puppets[ch->npuppets++] = p;
    char prefix[256];
    gw_ircd__puppet_prefix(p, prefix, sizeof(prefix));
    gw_ircd__send_join(d, ch, prefix, NULL, p->realname, NULL);
    return 0;
}

void gw_ircd__puppet_free(struct gw_puppet *p)
{
    free(p->user);
    free(p->host);
    free(p->realname);
    free(p->whois);
    free(p);
}

/* Take p out of ch->puppets at index i; the last entry moves into its
 * place, and that puppet's slot follows it. */
static void channel_drop_puppet(struct gw_channel *ch, int i)
{
    struct gw_puppet *moved = ch->puppets[--ch->npuppets];
    ch->puppets[i] = moved;
    for (int j = 0; j < moved->nchans; j++)
        if (moved->chans[j] == ch)
            moved->slots[j] = i;
}

/* p leaves every channel and quits in the eyes of each client that shared
 * one with it (once per client), then is freed. */
static void puppet_quit(struct gw_ircd *d, struct gw_puppet *p,
                        const char *reason)
{
    char prefix[256];
    gw_ircd__puppet_prefix(p, prefix, sizeof(prefix));
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = "QUIT";
    o.params[0] = reason;
    o.nparams = 1;
    struct gw_render_cache rc;
    memset(&rc, 0, sizeof(rc));
    uint64_t gen = ++d->mark_gen;
    bool overflow = p->nchans == (int)GW_ARRAY_LEN(p->chans);
    for (struct gw_channel *ch = d->channels; ch; ch = ch->next) {
        int at = -1;
        for (int j = 0; j < p->nchans; j++)
            if (p->chans[j] == ch)
                at = p->slots[j];
        /* Past four channels a puppet is not tracked: look for it. */
        for (int i = 0; at < 0 && overflow && i < ch->npuppets; i++)
            if (ch->puppets[i] == p)
                at = i;
        if (at < 0)
            continue;
        channel_drop_puppet(ch, at);
        for (int i = 0; i < ch->nmembers; i++) {
            struct gw_client *m = ch->members[i];
            if (m->mark != gen) {
                m->mark = gen;
                gw_ircd__cache_send(d, &rc, &o, m);
            }
        }
    }
    gw_ircd__cache_free(&rc);
    puppet_unlink(d, p);
    gw_names_del(&d->puppet_nicks, &p->by_nick);
    gw_ircd__puppet_free(p);
}

void gw_ircd_puppets_trim(struct gw_ircd *d, size_t keep)
{
    while (d->puppet_nicks.n > keep && d->oldest)
        puppet_quit(d, d->oldest, "Not heard from lately");
}
