/*
 * Registration: PASS, NICK, USER, CAP negotiation and SASL (PLAIN, and
 * EXTERNAL on TLS), then the welcome, ISUPPORT and MOTD.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "gw_gateway.h"
#include "gw_numerics.h"
#include "gw_router.h"
#include "gw_tls.h"

/* In the order of enum gw_cap's bits. */
static const char *const cap_names[] = {
    "message-tags",
    "server-time",
    "echo-message",
    "sasl",
    "cap-notify",
    "multi-prefix",
    "batch",
    "labeled-response",
    "userhost-in-names",
    "extended-join",
    "away-notify",
    "account-tag",
    "setname",
    "invite-notify",
    "standard-replies",
    "draft/chathistory",
    "draft/read-marker",
};

void gw_ircd__send_isupport(struct gw_client *c)
{
    gw_ircd__numeric(
        c, RPL_ISUPPORT,
        "AWAYLEN=%d CASEMAPPING=ascii CHANLIMIT=#&: CHANMODES=,,,nt "
        "CHANNELLEN=%d CHANTYPES=#& MAXTARGETS=%d MODES=%d NETWORK=Parley "
        "NICKLEN=%d PREFIX=(ov)@+ :are supported by this server",
        GW_AWAY_MAX, GW_CHANNEL_MAX, GW_TARGETS_MAX, GW_MODES_MAX, GW_NICK_MAX);
    gw_ircd__numeric(
        c, RPL_ISUPPORT,
        "TARGMAX=PRIVMSG:%d,NOTICE:%d,TAGMSG:%d,KICK:%d,NAMES:1,WHOIS:1 "
        "TOPICLEN=%d UTF8ONLY NAMELEN=%d CHATHISTORY=%d "
        "MSGREFTYPES=msgid,timestamp :are supported by this server",
        GW_TARGETS_MAX, GW_TARGETS_MAX, GW_TARGETS_MAX, GW_TARGETS_MAX,
        GW_TOPIC_MAX, GW_REALNAME_MAX, GW_CHATHISTORY_MAX);
}

void gw_ircd__send_motd(struct gw_client *c)
{
    const char *ctl = c->d->gw->cfg->control_channel;
    gw_ircd__numeric(c, RPL_MOTDSTART, ":- %s Message of the day -",
                     gw_ircd_server_name(c->d));
    gw_ircd__numeric(c, RPL_MOTD,
                     ":- Parley: your social networks' conversations on "
                     "IRC.");
    if (c->d->gw->cfg->autojoin_control)
        gw_ircd__numeric(c, RPL_MOTD, ":- Type 'help' in %s to get started.",
                         ctl);
    else
        gw_ircd__numeric(c, RPL_MOTD,
                         ":- Type '/msg %s help' (or /join %s) to get "
                         "started.",
                         BOT_NICK, ctl);
    gw_ircd__numeric(c, RPL_ENDOFMOTD, ":End of /MOTD command.");
}

static bool password_ok(const struct gw_ircd *d, const char *given)
{
    const char *want = d->gw->cfg->password;
    if (want[0] == '\0')
        return true;
    if (given == NULL)
        return false;
    size_t a = strlen(want), b = strlen(given);
    /* Constant time for equal lengths; length itself is not secret. */
    return a == b && CRYPTO_memcmp(want, given, a) == 0;
}

/* ---- per-person logins ------------------------------------------------- */

/* Signed in as user name (as defined): sessions of one person are those
 * signed in as them. */
static void signed_in_as(struct gw_client *c, const char *name)
{
    bool admin = false;
    char canon[32];
    if (!gw_users_find(c->d->gw, name, canon, sizeof(canon), &admin))
        gw_strlcpy(canon, name, sizeof(canon));
    free(c->account);
    c->account = gw_xstrdup(canon);
    c->user_login = true;
    c->admin = admin;
    gw_ircd__auth_ok(c);
}

static void try_register(struct gw_client *c);

static void on_pass_checked(void *arg, int rc, const char *name)
{
    struct gw_client *c = arg;
    c->check = NULL;
    c->held = GW_HELD_NONE;
    free(c->pass);
    c->pass = NULL;
    if (rc < 0) {
        gw_ircd__auth_failed(c, "PASS", name);
        gw_ircd__numeric(c, ERR_PASSWDMISMATCH,
                         ":Password incorrect (PASS name:password, or SASL "
                         "PLAIN as name)");
        gw_ircd__close(c, "Bad password");
        return;
    }
    signed_in_as(c, name);
    try_register(c);
    gw_ircd__resume(c);
}

/*
 * With [user] sections every connection signs in as a person: SASL PLAIN
 * as NAME, or PASS NAME:password (the name may be left to USER's: PASS
 * password alone). True when the check has started (c waits for it) or c
 * is closed; false when c may register.
 */
static bool user_login_needed(struct gw_client *c)
{
    if (c->user_login)
        return false;
    if (gw_ircd__auth_wait(c, GW_HELD_REGISTER))
        return true;
    const char *pw = c->pass != NULL ? c->pass : "";
    char name[64];
    const char *colon = strchr(pw, ':');
    if (colon != NULL && (size_t)(colon - pw) < sizeof(name)) {
        memcpy(name, pw, (size_t)(colon - pw));
        name[colon - pw] = '\0';
        pw = colon + 1;
    } else {
        gw_strlcpy(name, c->user, sizeof(name));
    }
    if (c->pass == NULL ||
        gw_users_check(c->d->gw, name, pw, on_pass_checked, c, &c->check) < 0) {
        gw_ircd__auth_failed(c, c->pass ? "PASS" : "no PASS", name);
        gw_ircd__numeric(c, ERR_PASSWDMISMATCH,
                         ":Password incorrect (sign in as a person: PASS "
                         "name:password, or SASL PLAIN as name)");
        gw_ircd__close(c, "Bad password");
        return true;
    }
    c->held = GW_HELD_CHECK;
    return true;
}

/* A nick held by a registered client signed in as someone else is not
 * this one's: 433, as any server says, and registration waits for
 * another NICK. */
static bool nick_is_someone_elses(struct gw_client *c)
{
    for (struct gw_client *o = c->d->clients; o; o = o->next) {
        if (o == c || !o->registered || o->closing ||
            gw_strcasecmp(o->nick, c->nick) != 0)
            continue;
        if (!c->user_login || !o->user_login ||
            gw_strcasecmp(o->account, c->account) != 0) {
            gw_ircd__numeric(c, ERR_NICKNAMEINUSE,
                             "%s :Nickname is already in use", c->nick);
            c->has_nick = false;
            return true;
        }
    }
    return false;
}

static void try_register(struct gw_client *c)
{
    struct gw_ircd *d = c->d;
    if (c->registered || !c->has_nick || !c->has_user || c->cap_negotiating ||
        c->held)
        return;
    if (gw_users_enabled(d->gw)) {
        if (user_login_needed(c) || nick_is_someone_elses(c))
            return;
    } else if (!c->sasl_ok && d->gw->cfg->password[0]) {
        if (gw_ircd__auth_wait(c, GW_HELD_REGISTER))
            return;
        if (!password_ok(d, c->pass)) {
            gw_ircd__auth_failed(c, c->pass ? "PASS" : "no PASS", c->nick);
            gw_ircd__numeric(c, ERR_PASSWDMISMATCH, ":Password incorrect");
            gw_ircd__close(c, "Bad password");
            return;
        }
        gw_ircd__auth_ok(c);
    }
    /* Connections still registering have a bound of their own; this one
     * counts against max_clients from now on. */
    if (d->nregistered >= d->gw->cfg->max_clients) {
        gw_ircd__close(c, "Too many connections");
        return;
    }
    c->registered = true;
    d->nregistered++;
    d->nwaiting--;
    const char *fp = c->tls ? gw_tls_peer_fingerprint(c->tls) : NULL;
    if (fp && c->user_login)
        gw_ircd__certfp_remember(d, fp, c->account);
    else if (fp && d->gw->cfg->password[0] &&
             (password_ok(d, c->pass) || (c->sasl_ok && c->account)))
        gw_ircd__certfp_remember(d, fp, c->account ? c->account : c->nick);
    char date[32];
    gw_format_time(d->gw->started_ms, date, sizeof(date));
    gw_ircd__numeric(c, RPL_WELCOME, ":Welcome to Parley, %s!%s@%s", c->nick,
                     c->user, c->host);
    gw_ircd__numeric(c, RPL_YOURHOST, ":Your host is %s, running version %s",
                     gw_ircd_server_name(d), PARLEY_VERSION_STR);
    gw_ircd__numeric(c, RPL_CREATED, ":This server was created %s", date);
    gw_ircd__numeric(c, RPL_MYINFO, "%s %s i ntov ov", gw_ircd_server_name(d),
                     PARLEY_VERSION_STR);
    gw_ircd__send_isupport(c);
    gw_ircd__numeric(c, RPL_LUSERCLIENT,
                     ":There are %d users and 0 services on 1 server",
                     d->nregistered);
    gw_ircd__send_motd(c);
    c->arriving = true;
    c->arrive_next = d->channels;
    gw_ircd__arrive(c);
}

/* Joins go on while less than this is queued for the client. */
#define ARRIVE_QUEUE (GW_CLIENT_SENDQ_SOFT / 2)

/*
 * Every managed channel is joined at registration, as fast as the client
 * reads: with thousands of accounts the JOIN, TOPIC and NAMES lines alone
 * passed the hard send queue, and the client was closed before its first
 * word. Until the last channel is joined the client is arriving: stored
 * lines are not sent to it and its read position stays, so the playback
 * that ends the arrival shows each of them once, whether its channel was
 * joined before the line came or after.
 */
void gw_ircd__arrive(struct gw_client *c)
{
    struct gw_ircd *d = c->d;
    while (c->arriving && !c->closing && c->arrive_next != NULL) {
        if (c->out.len + c->inflight.len >= ARRIVE_QUEUE)
            return; /* on_write comes back */
        struct gw_channel *ch = c->arrive_next;
        c->arrive_next = ch->next;
        if (gw_ircd__autojoins(c, ch) || gw_ircd__sibling_in(ch, c))
            gw_ircd__channel_join(c, ch);
    }
    if (!c->arriving || c->closing)
        return;
    /* What is stored but not shown yet is shown now, still without this
     * client: its playback below has it. */
    gw_router_commit(d->gw->router);
    if (c->closing)
        return;
    c->arriving = false;
    struct gw_ircd_speaker s;
    gw_ircd__speaker(c, &s);
    gw_router_arrived(d->gw->router, &s.sp);
}

void gw_ircd__cmd_pass(struct gw_client *c, struct gw_irc_msg *m)
{
    if (c->registered) {
        gw_ircd__numeric(c, ERR_ALREADYREGISTERED, ":You may not reregister");
        return;
    }
    free(c->pass);
    c->pass = gw_xstrdup(m->params[0]);
}

static void announce_nick(struct gw_client *c, const char *newnick)
{
    gw_ircd__peers_say(c, "NICK", newnick, 0, true, true);
}

void gw_ircd__cmd_nick(struct gw_client *c, struct gw_irc_msg *m)
{
    if (m->nparams == 0 || m->params[0][0] == '\0') {
        gw_ircd__numeric(c, ERR_NONICKNAMEGIVEN, ":No nickname given");
        return;
    }
    const char *nick = m->params[0];
    if (!gw_ircd__valid_nick(nick)) {
        gw_ircd__numeric(c, ERR_ERRONEUSNICKNAME, "%s :Erroneous nickname",
                         nick);
        return;
    }
    struct gw_client *other = NULL;
    for (struct gw_client *o = c->d->clients; o; o = o->next)
        if (o != c && o->has_nick && gw_strcasecmp(o->nick, nick) == 0 &&
            (other == NULL || o->registered))
            other = o;
    /* Registering with the nick of a connected person makes this a new
     * session of theirs (a phone next to a desk); taking it later is not
     * allowed. */
    bool join_person = other && other->registered && !c->registered;
    if ((other && !join_person) || gw_ircd__find_puppet(c->d, nick) ||
        gw_strcasecmp(nick, BOT_NICK) == 0) {
        gw_ircd__numeric(c, ERR_NICKNAMEINUSE, "%s :Nickname is already in use",
                         nick);
        return;
    }
    if (strcmp(nick, c->nick) == 0)
        return;
    if (c->registered) {
        char old[GW_NICK_MAX + 1];
        gw_strlcpy(old, c->nick, sizeof(old));
        announce_nick(c, nick);
        /* Every session of the person follows. */
        for (struct gw_client *o = c->d->clients; o; o = o->next) {
            if (o != c && o->registered && gw_strcasecmp(o->nick, old) == 0) {
                char prefix[256];
                gw_client_prefix(o, prefix, sizeof(prefix));
                gw_ircd__printf(o, ":%s NICK %s", prefix, nick);
                gw_strlcpy(o->nick, nick, sizeof(o->nick));
            }
        }
    }
    gw_strlcpy(c->nick, nick, sizeof(c->nick));
    c->has_nick = true;
    try_register(c);
}

void gw_ircd__cmd_user(struct gw_client *c, struct gw_irc_msg *m)
{
    if (c->registered || c->has_user) {
        gw_ircd__numeric(c, ERR_ALREADYREGISTERED, ":You may not reregister");
        return;
    }
    /* The username is cut to something safe for a prefix. */
    size_t j = 0;
    for (const char *p = m->params[0]; *p && j < sizeof(c->user) - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch > ' ' && ch != '@' && ch != '!' && ch < 127)
            c->user[j++] = (char)ch;
    }
    if (j == 0)
        c->user[j++] = 'u';
    c->user[j] = '\0';
    free(c->realname);
    c->realname = gw_xstrdup(m->params[3]);
    c->has_user = true;
    try_register(c);
}

static void cap_list(struct gw_client *c, const char *sub, bool only_enabled)
{
    char list[400];
    size_t len = 0;
    list[0] = '\0';
    for (size_t i = 0; i < GW_ARRAY_LEN(cap_names); i++) {
        if (only_enabled && !(c->caps & (1u << i)))
            continue;
        const char *val = "";
        if (!only_enabled && c->cap_version >= 302 &&
            strcmp(cap_names[i], "sasl") == 0)
            val = c->tls ? "=PLAIN,EXTERNAL" : "=PLAIN";
        len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s%s",
                                len ? " " : "", cap_names[i], val);
    }
    gw_ircd__printf(c, ":%s CAP %s %s :%s", gw_ircd_server_name(c->d), c->nick,
                    sub, list);
}

static int cap_index(const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(cap_names); i++)
        if (strcmp(cap_names[i], name) == 0)
            return (int)i;
    return -1;
}

void gw_ircd__cmd_cap(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *sub = m->params[0];
    if (gw_strcasecmp(sub, "LS") == 0) {
        long v = 0;
        if (m->nparams > 1)
            gw_parse_long(m->params[1], 0, 999, &v);
        if (v > c->cap_version)
            c->cap_version = (int)v;
        if (c->cap_version >= 302)
            c->caps |= GW_CAP_CAP_NOTIFY;
        if (!c->registered)
            c->cap_negotiating = true;
        cap_list(c, "LS", false);
    } else if (gw_strcasecmp(sub, "LIST") == 0) {
        cap_list(c, "LIST", true);
    } else if (gw_strcasecmp(sub, "REQ") == 0) {
        if (m->nparams < 2) {
            gw_ircd__numeric(c, ERR_NEEDMOREPARAMS,
                             "CAP :Not enough parameters");
            return;
        }
        if (!c->registered)
            c->cap_negotiating = true;
        unsigned add = 0, del = 0;
        bool ok = true;
        char *copy = gw_xstrdup(m->params[1]);
        for (char *p = copy; p && *p && ok;) {
            char *sp = strchr(p, ' ');
            if (sp)
                *sp++ = '\0';
            if (*p) {
                bool neg = *p == '-';
                int idx = cap_index(neg ? p + 1 : p);
                if (idx < 0)
                    ok = false;
                else if (neg)
                    del |= 1u << idx;
                else
                    add |= 1u << idx;
            }
            p = sp;
        }
        free(copy);
        if (ok) {
            c->caps = (c->caps | add) & ~del;
            gw_ircd__printf(c, ":%s CAP %s ACK :%s", gw_ircd_server_name(c->d),
                            c->nick, m->params[1]);
        } else {
            gw_ircd__printf(c, ":%s CAP %s NAK :%s", gw_ircd_server_name(c->d),
                            c->nick, m->params[1]);
        }
    } else if (gw_strcasecmp(sub, "END") == 0) {
        if (!c->registered) {
            c->cap_negotiating = false;
            try_register(c);
        }
    } else {
        gw_ircd__numeric(c, ERR_INVALIDCAPCMD, "%s :Invalid CAP command", sub);
    }
}

static void sasl_end(struct gw_client *c)
{
    gw_buf_free(&c->sasl);
    c->sasl.max = 0;
    c->sasl_external = false;
}

/* 904, and a connection that keeps failing is closed: it is guessing. */
static void sasl_failed(struct gw_client *c, const char *why)
{
    sasl_end(c);
    gw_ircd__numeric(c, ERR_SASLFAIL, ":SASL authentication failed%s", why);
    if (++c->sasl_failures >= GW_SASL_FAILURES_MAX)
        gw_ircd__close(c, "Too many failed SASL attempts");
}

static void sasl_logged_in(struct gw_client *c, const char *name)
{
    sasl_end(c);
    c->sasl_ok = true;
    gw_ircd__numeric(c, RPL_LOGGEDIN,
                     "%s!%s@%s %s :You are now logged in as %s", c->nick,
                     c->has_user ? c->user : "*", c->host, name, name);
    gw_ircd__numeric(c, RPL_SASLSUCCESS, ":SASL authentication successful");
}

static void on_sasl_checked(void *arg, int rc, const char *name)
{
    struct gw_client *c = arg;
    c->check = NULL;
    c->held = GW_HELD_NONE;
    if (rc < 0) {
        gw_ircd__auth_failed(c, "SASL PLAIN", name);
        sasl_failed(c, "");
    } else {
        signed_in_as(c, name);
        sasl_logged_in(c, c->account);
    }
    gw_ircd__resume(c);
}

static void sasl_finish(struct gw_client *c)
{
    unsigned char out[GW_SASL_MAX];
    int n = 0;
    /* The blob stays in c->sasl while the verdict waits. */
    if (gw_ircd__auth_wait(c, GW_HELD_SASL))
        return;
    if (c->sasl.len > 0) {
        if (c->sasl.len % 4 != 0 || c->sasl.len / 4 * 3 > sizeof(out)) {
            sasl_failed(c, "");
            return;
        }
        n = EVP_DecodeBlock(out, (const unsigned char *)c->sasl.data,
                            (int)c->sasl.len);
        if (n < 0) {
            sasl_failed(c, "");
            return;
        }
        /* EVP_DecodeBlock counts padding as output bytes. */
        if (c->sasl.len >= 1 && c->sasl.data[c->sasl.len - 1] == '=')
            n--;
        if (c->sasl.len >= 2 && c->sasl.data[c->sasl.len - 2] == '=')
            n--;
    }
    /* authzid NUL authcid NUL password */
    unsigned char *z1 = memchr(out, 0, (size_t)n);
    unsigned char *z2 =
        z1 ? memchr(z1 + 1, 0, (size_t)(out + n - z1 - 1)) : NULL;
    if (z2 == NULL) {
        sasl_failed(c, "");
        return;
    }
    char pass[GW_SASL_MAX];
    size_t plen = (size_t)(out + n - z2 - 1);
    memcpy(pass, z2 + 1, plen);
    pass[plen] = '\0';
    char authcid[64];
    size_t alen = (size_t)(z2 - z1 - 1);
    if (alen >= sizeof(authcid))
        alen = sizeof(authcid) - 1;
    memcpy(authcid, z1 + 1, alen);
    authcid[alen] = '\0';
    if (gw_users_enabled(c->d->gw)) {
        /* A person's password: checked off the loop, the client held. */
        int rc = strlen(pass) == plen
                     ? gw_users_check(c->d->gw, authcid, pass, on_sasl_checked,
                                      c, &c->check)
                     : UV_EINVAL;
        OPENSSL_cleanse(pass, sizeof(pass));
        OPENSSL_cleanse(out, sizeof(out));
        if (rc < 0) {
            gw_ircd__auth_failed(c, "SASL PLAIN", authcid);
            sasl_failed(c, "");
        } else {
            c->held = GW_HELD_CHECK;
        }
        return;
    }
    bool ok = strlen(pass) == plen && password_ok(c->d, pass);
    OPENSSL_cleanse(pass, sizeof(pass));
    OPENSSL_cleanse(out, sizeof(out));
    if (!ok) {
        if (c->d->gw->cfg->password[0])
            gw_ircd__auth_failed(c, "SASL PLAIN", authcid);
        sasl_failed(c, "");
        return;
    }
    if (c->d->gw->cfg->password[0])
        gw_ircd__auth_ok(c);
    free(c->account);
    c->account = gw_xstrdup(authcid[0] ? authcid : c->nick);
    sasl_logged_in(c, c->account);
}

void gw_ircd__cmd_authenticate(struct gw_client *c, struct gw_irc_msg *m)
{
    const char *arg = m->params[0];
    if (c->registered || c->sasl_ok) {
        gw_ircd__numeric(c, ERR_SASLALREADY,
                         ":You have already authenticated using SASL");
        return;
    }
    if (strcmp(arg, "*") == 0) {
        sasl_end(c);
        gw_ircd__numeric(c, ERR_SASLABORTED, ":SASL authentication aborted");
        return;
    }
    if (c->sasl.max == 0) {
        bool external = gw_strcasecmp(arg, "EXTERNAL") == 0 && c->tls;
        if (gw_strcasecmp(arg, "PLAIN") != 0 && !external) {
            gw_ircd__numeric(c, RPL_SASLMECHS,
                             "%s :are available SASL mechanisms",
                             c->tls ? "PLAIN,EXTERNAL" : "PLAIN");
            sasl_failed(c, "");
            return;
        }
        c->sasl_external = external;
        gw_buf_init(&c->sasl, GW_SASL_MAX);
        gw_ircd__printf(c, "AUTHENTICATE +");
        return;
    }
    if (c->sasl_external) {
        /* The certificate is the credential: a known fingerprint. */
        sasl_end(c);
        const char *fp = gw_tls_peer_fingerprint(c->tls);
        char account[64];
        if (fp == NULL ||
            gw_ircd__certfp(c->d, fp, account, sizeof(account)) < 0) {
            sasl_failed(c, fp ? " (this certificate is not known yet: log "
                                "in once with the password over TLS while "
                                "presenting it)"
                              : " (no client certificate)");
            return;
        }
        bool users = gw_users_enabled(c->d->gw);
        if (users && !gw_users_find(c->d->gw, account, NULL, 0, NULL)) {
            sasl_failed(c, " (that certificate's person signs in no more)");
            return;
        }
        if (users) {
            signed_in_as(c, account);
        } else {
            free(c->account);
            c->account = gw_xstrdup(account);
        }
        sasl_logged_in(c, c->account);
        return;
    }
    size_t len = strlen(arg);
    if (strcmp(arg, "+") != 0) {
        if (len > 400 || gw_buf_append(&c->sasl, arg, len) < 0) {
            sasl_end(c);
            gw_ircd__numeric(c, ERR_SASLTOOLONG, ":SASL message too long");
            return;
        }
        if (len == 400)
            return; /* more chunks follow */
    }
    sasl_finish(c);
}

void gw_ircd__login_resume(struct gw_client *c, enum gw_held what)
{
    if (what == GW_HELD_SASL)
        sasl_finish(c);
    else
        try_register(c);
}
