/*
 * What libircclient reports about the team's network: the welcome, our
 * nick (433 at registration gives "parley_", and we take "parley" back
 * when its holder goes), channels joined, kicked from or refused, and the
 * teammates' lines in them. Everything we send from here is charged to
 * the relay's token bucket.
 */
#include "gw_relay_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"

/* After a KICK, wait this long before joining again: long enough not to
 * look like a fight, short enough that the team notices no gap. */
#define REJOIN_AFTER_KICK_MS 3000
/* A channel that refused us (banned, full, a wrong key) is tried again. */
#define REJOIN_AFTER_REFUSAL_MS 60000
/* How often ISON asks whether our nick is free again. */
#define ISON_EVERY_MS 10000

static struct gw_relay *relay_of(irc_session_t *s)
{
    return irc_get_ctx(s);
}

static void nick_of(const char *prefix, char *out, size_t size)
{
    size_t n = prefix != NULL ? strcspn(prefix, "!@") : 0;
    if (n >= size)
        n = size - 1;
    if (n > 0)
        memcpy(out, prefix, n);
    out[n] = '\0';
}

static bool is_me(struct gw_relay *rl, const char *prefix)
{
    char n[GW_NICK_MAX + 8];
    nick_of(prefix, n, sizeof(n));
    return gw_strcasecmp(n, rl->nick) == 0;
}

void gw_relay__raw(struct gw_relay *rl, const char *fmt, ...)
{
    irc_session_t *s = gw_relay__session(rl);
    if (s == NULL)
        return;
    char line[GW_IRC_LINE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    gw_relay_bucket_charge(&rl->bucket, gw_now_ms());
    irc_send_raw(s, "%s", line);
    gw_relay__poll_update(rl);
}

const char *gw_relay__account_of(struct gw_relay *rl, const char *nick)
{
    for (int i = 0; i < rl->naccounts; i++)
        if (gw_strcasecmp(rl->accounts[i].nick, nick) == 0)
            return rl->accounts[i].account[0] ? rl->accounts[i].account : NULL;
    return NULL;
}

/* account "*" or "" forgets; the table is bounded, the oldest goes. */
static void account_set(struct gw_relay *rl, const char *nick,
                        const char *account)
{
    for (int i = 0; i < rl->naccounts; i++)
        if (gw_strcasecmp(rl->accounts[i].nick, nick) == 0) {
            rl->accounts[i] = rl->accounts[--rl->naccounts];
            break;
        }
    if (account == NULL || account[0] == '\0' || strcmp(account, "*") == 0)
        return;
    if (rl->naccounts == RELAY_ACCOUNTS_MAX) {
        memmove(rl->accounts, rl->accounts + 1,
                sizeof(rl->accounts[0]) * (RELAY_ACCOUNTS_MAX - 1));
        rl->naccounts--;
    }
    struct relay_account *a = &rl->accounts[rl->naccounts++];
    gw_strlcpy(a->nick, nick, sizeof(a->nick));
    gw_strlcpy(a->account, account, sizeof(a->account));
}

/* ---- channels ----------------------------------------------------------- */

void gw_relay__join_due(struct gw_relay *rl, int64_t now)
{
    if (!rl->registered)
        return;
    for (int i = 0; i < rl->nchans; i++) {
        struct relay_chan *ch = &rl->chans[i];
        if (ch->joined || ch->join_sent || now < ch->join_at_ms)
            continue;
        ch->join_sent = true;
        if (ch->key != NULL)
            gw_relay__raw(rl, "JOIN %s %s", ch->name, ch->key);
        else
            gw_relay__raw(rl, "JOIN %s", ch->name);
    }
}

static void event_join(irc_session_t *s, const char *event, const char *origin,
                       const char **params, unsigned int count)
{
    (void)event;
    struct gw_relay *rl = relay_of(s);
    if (count < 1 || origin == NULL)
        return;
    char nick[GW_NICK_MAX + 8];
    nick_of(origin, nick, sizeof(nick));
    /* extended-join: "JOIN #chan account :realname". */
    if (count >= 2)
        account_set(rl, nick, params[1]);
    if (!is_me(rl, origin))
        return;
    const char *at = strchr(origin, '!');
    if (at != NULL)
        gw_strlcpy(rl->userhost, at + 1, sizeof(rl->userhost));
    struct relay_chan *ch = gw_relay__chan(rl, params[0]);
    if (ch == NULL || ch->joined)
        return;
    ch->joined = true;
    ch->join_sent = false;
    ch->join_at_ms = 0;
    ch->error[0] = '\0';
    gw_log(rl->gw, GW_LOG_INFO, "relay %s: in %s as %s", rl->cfg.name, ch->name,
           rl->nick);
    if (ch->kicked) {
        ch->kicked = false;
        char note[300];
        snprintf(note, sizeof(note),
                 "back after %s kicked me (%s); what arrived meanwhile "
                 "follows",
                 ch->kicker,
                 ch->kick_reason[0] ? ch->kick_reason
                                    : "no "
                                      "reason");
        gw_relay__queue_say(rl, ch, true, note);
    }
    gw_relay__joined(rl, ch);
}

static void left(struct relay_chan *ch, int64_t again_ms)
{
    ch->joined = false;
    ch->join_sent = false;
    ch->join_at_ms = gw_now_ms() + again_ms;
}

static void event_part(irc_session_t *s, const char *event, const char *origin,
                       const char **params, unsigned int count)
{
    (void)event;
    struct gw_relay *rl = relay_of(s);
    struct relay_chan *ch = count >= 1 ? gw_relay__chan(rl, params[0]) : NULL;
    /* We never part on our own: someone made us (SAPART). */
    if (ch != NULL && is_me(rl, origin))
        left(ch, REJOIN_AFTER_KICK_MS);
}

static void event_kick(irc_session_t *s, const char *event, const char *origin,
                       const char **params, unsigned int count)
{
    (void)event;
    struct gw_relay *rl = relay_of(s);
    if (count < 2)
        return;
    struct relay_chan *ch = gw_relay__chan(rl, params[0]);
    if (ch == NULL || gw_strcasecmp(params[1], rl->nick) != 0)
        return;
    nick_of(origin, ch->kicker, sizeof(ch->kicker));
    gw_strlcpy(ch->kick_reason, count >= 3 ? params[2] : "",
               sizeof(ch->kick_reason));
    ch->kicked = true;
    snprintf(ch->error, sizeof(ch->error), "kicked by %s", ch->kicker);
    gw_log(rl->gw, GW_LOG_WARN, "relay %s: kicked from %s by %s (%s)",
           rl->cfg.name, ch->name, ch->kicker, ch->kick_reason);
    left(ch, REJOIN_AFTER_KICK_MS);
}

/* ---- our nick ----------------------------------------------------------- */

/* parley_, parley__, then parley1, parley2... within the nick length. */
static void next_nick(struct gw_relay *rl)
{
    const char *want = rl->cfg.nick;
    char cand[GW_NICK_MAX + 1];
    int t = ++rl->nick_tries;
    if (t <= 2)
        snprintf(cand, sizeof(cand), "%s%s", want, t == 1 ? "_" : "__");
    else
        snprintf(cand, sizeof(cand), "%.*s%d", GW_NICK_MAX - 4, want, t - 2);
    gw_strlcpy(rl->nick, cand, sizeof(rl->nick));
    gw_relay__raw(rl, "NICK %s", cand);
}

void gw_relay__ison_due(struct gw_relay *rl, int64_t now)
{
    if (!rl->registered || gw_strcasecmp(rl->nick, rl->cfg.nick) == 0 ||
        now < rl->ison_at_ms)
        return;
    rl->ison_at_ms = now + ISON_EVERY_MS;
    gw_relay__raw(rl, "ISON %s", rl->cfg.nick);
}

static void take_nick_back(struct gw_relay *rl)
{
    if (rl->registered && gw_strcasecmp(rl->nick, rl->cfg.nick) != 0)
        gw_relay__raw(rl, "NICK %s", rl->cfg.nick);
}

static void event_nick(irc_session_t *s, const char *event, const char *origin,
                       const char **params, unsigned int count)
{
    (void)event;
    struct gw_relay *rl = relay_of(s);
    if (count < 1)
        return;
    char old[GW_NICK_MAX + 8];
    nick_of(origin, old, sizeof(old));
    const char *acct = gw_relay__account_of(rl, old);
    char keep[64] = "";
    if (acct != NULL)
        gw_strlcpy(keep, acct, sizeof(keep));
    account_set(rl, old, NULL);
    account_set(rl, params[0], keep);
    if (gw_strcasecmp(old, rl->nick) == 0) {
        gw_strlcpy(rl->nick, params[0], sizeof(rl->nick));
        gw_log(rl->gw, GW_LOG_INFO, "relay %s: now %s", rl->cfg.name, rl->nick);
    } else if (gw_strcasecmp(old, rl->cfg.nick) == 0) {
        take_nick_back(rl);
    }
}

static void event_quit(irc_session_t *s, const char *event, const char *origin,
                       const char **params, unsigned int count)
{
    (void)event;
    (void)params;
    (void)count;
    struct gw_relay *rl = relay_of(s);
    char nick[GW_NICK_MAX + 8];
    nick_of(origin, nick, sizeof(nick));
    account_set(rl, nick, NULL);
    if (gw_strcasecmp(nick, rl->cfg.nick) == 0)
        take_nick_back(rl);
}

/* ---- the welcome and numerics ------------------------------------------- */

static void event_connect(irc_session_t *s, const char *event,
                          const char *origin, const char **params,
                          unsigned int count)
{
    (void)event;
    struct gw_relay *rl = relay_of(s);
    if (rl->registered)
        return;
    rl->registered = true;
    rl->up_since_ms = gw_now_ms();
    gw_strlcpy(rl->server_name, origin != NULL ? origin : "",
               sizeof(rl->server_name));
    if (count >= 1)
        gw_strlcpy(rl->nick, params[0], sizeof(rl->nick));
    /* "Welcome to the ... Network nick!user@host": who we are, until a
     * JOIN echo says it for sure (a cloak may come in between). */
    if (count >= 2) {
        const char *last = strrchr(params[1], ' ');
        last = last != NULL ? last + 1 : params[1];
        const char *bang = strchr(last, '!');
        if (bang != NULL && strchr(bang, '@') != NULL)
            gw_strlcpy(rl->userhost, bang + 1, sizeof(rl->userhost));
    }
    gw_backoff_reset(&rl->backoff);
    rl->last_error[0] = '\0';
    gw_log(rl->gw, GW_LOG_INFO, "relay %s: connected to %s as %s%s",
           rl->cfg.name, rl->cfg.server, rl->nick, rl->cfg.tls ? " (TLS)" : "");
    if (rl->cfg.nickserv_password != NULL)
        gw_relay__raw(rl, "PRIVMSG NickServ :IDENTIFY %s",
                      rl->cfg.nickserv_password);
    rl->ison_at_ms = gw_now_ms() + ISON_EVERY_MS;
    gw_relay__join_due(rl, gw_now_ms());
}

static void join_refused(struct gw_relay *rl, const char *chan, const char *why)
{
    struct relay_chan *ch = gw_relay__chan(rl, chan);
    if (ch == NULL)
        return;
    gw_strlcpy(ch->error, why, sizeof(ch->error));
    gw_relay__error(rl, "cannot join %s: %s", ch->name, why);
    left(ch, REJOIN_AFTER_REFUSAL_MS);
}

static void event_numeric(irc_session_t *s, unsigned int code,
                          const char *origin, const char **params,
                          unsigned int count)
{
    (void)origin;
    struct gw_relay *rl = relay_of(s);
    const char *last = count > 0 ? params[count - 1] : "";
    switch (code) {
    case 433: /* ERR_NICKNAMEINUSE */
    case 436:
    case 437:
        if (!rl->registered)
            next_nick(rl);
        break;
    case 432: /* ERR_ERRONEUSNICKNAME */
        if (!rl->registered)
            gw_relay__drop(rl, "the server refuses the nick");
        break;
    case 303: /* RPL_ISON: our nick is free when it is not listed */
        if (count >= 2 && gw_strcasecmp(params[1], rl->cfg.nick) != 0)
            take_nick_back(rl);
        break;
    case 396: /* RPL_HOSTHIDDEN: a cloak */
        if (count >= 2 && strchr(rl->userhost, '@') != NULL) {
            char *at = strchr(rl->userhost, '@');
            size_t room =
                sizeof(rl->userhost) - (size_t)(at + 1 - rl->userhost);
            gw_strlcpy(at + 1, params[1], room);
        }
        break;
    case 403: /* no such channel */
    case 405: /* too many channels */
    case 471: /* full */
    case 473: /* invite only */
    case 474: /* banned */
    case 475: /* bad key */
    case 477: /* needs a registered nick */
        if (count >= 2) {
            char why[160];
            snprintf(why, sizeof(why), "%u %s", code, last);
            join_refused(rl, params[1], why);
        }
        break;
    case 464: /* ERR_PASSWDMISMATCH */
        gw_relay__drop(rl, "the server refused the password");
        break;
    default:
        break;
    }
}

/* ---- lines -------------------------------------------------------------- */

static void event_channel(irc_session_t *s, const char *event,
                          const char *origin, const char **params,
                          unsigned int count)
{
    (void)event;
    struct gw_relay *rl = relay_of(s);
    if (count < 2 || origin == NULL || is_me(rl, origin))
        return;
    struct relay_chan *ch = gw_relay__chan(rl, params[0]);
    if (ch != NULL && ch->joined)
        gw_relay__said(rl, ch, origin, params[1]);
}

/* The bot takes commands in its channels only: in private anyone on the
 * network could reach it. */
static void event_privmsg(irc_session_t *s, const char *event,
                          const char *origin, const char **params,
                          unsigned int count)
{
    (void)event;
    (void)params;
    (void)count;
    struct gw_relay *rl = relay_of(s);
    char nick[GW_NICK_MAX + 8];
    nick_of(origin, nick, sizeof(nick));
    if (nick[0] == '\0' || strchr(nick, '.') != NULL)
        return; /* a server */
    char text[300];
    snprintf(text, sizeof(text),
             "I am Parley's relay; I take commands in %s only (try !help "
             "there)",
             rl->nchans > 0 ? rl->chans[0].name : "my channels");
    gw_relay__queue_tell(rl, nick, text);
}

static void event_unknown(irc_session_t *s, const char *event,
                          const char *origin, const char **params,
                          unsigned int count)
{
    struct gw_relay *rl = relay_of(s);
    if (strcmp(event, "ACCOUNT") == 0 && count >= 1) {
        char nick[GW_NICK_MAX + 8];
        nick_of(origin, nick, sizeof(nick));
        account_set(rl, nick, params[0]);
    } else if (strcmp(event, "ERROR") == 0 && count >= 1) {
        gw_relay__error(rl, "the server said: %s", params[0]);
    } else if (strcmp(event, "PONG") == 0) {
        rl->ping_sent_ms = 0;
    }
}

/* CTCP is answered by nobody: libircclient's own answers would bypass the
 * pacing, and a CTCP flood could then get the bot killed. */
static void event_ignore(irc_session_t *s, const char *event,
                         const char *origin, const char **params,
                         unsigned int count)
{
    (void)s;
    (void)event;
    (void)origin;
    (void)params;
    (void)count;
}

void gw_relay__callbacks(irc_callbacks_t *cb)
{
    memset(cb, 0, sizeof(*cb));
    cb->event_connect = event_connect;
    cb->event_nick = event_nick;
    cb->event_quit = event_quit;
    cb->event_join = event_join;
    cb->event_part = event_part;
    cb->event_kick = event_kick;
    cb->event_channel = event_channel;
    cb->event_privmsg = event_privmsg;
    cb->event_unknown = event_unknown;
    cb->event_numeric = event_numeric;
    cb->event_ctcp_req = event_ignore;
    cb->event_ctcp_rep = event_ignore;
    cb->event_ctcp_action = event_ignore;
    cb->event_notice = event_ignore;
    cb->event_channel_notice = event_ignore;
}
