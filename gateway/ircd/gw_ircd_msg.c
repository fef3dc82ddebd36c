/*
 * Messages: PRIVMSG, NOTICE and TAGMSG to channels, clients, puppets and the
 * bot; the bot's own lines; batches and labeled-response; and the command
 * table that dispatch looks each line up in.
 */
#include "gw_ircd_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_numerics.h"
#include "gw_router.h"

static void next_msgid(struct gw_ircd *d, char *buf, size_t size)
{
    char n[16];
    gw_base36(++d->msg_counter, n, sizeof(n));
    snprintf(buf, size, "%s-%s", d->msgid_base, n);
}

static void bot_vsay(struct gw_ircd *d, struct gw_client *only,
                     const char *command, const char *target, const char *fmt,
                     va_list ap)
{
    char text[4096];
    char prefix[128];
    char msgid[48];
    vsnprintf(text, sizeof(text), fmt, ap);
    snprintf(prefix, sizeof(prefix), "%s!%s@%s", BOT_NICK, BOT_NICK,
             gw_ircd_server_name(d));
    /* One PRIVMSG per line of text. */
    char *save = text;
    while (save) {
        char *nl = strchr(save, '\n');
        if (nl)
            *nl = '\0';
        if (*save) {
            struct gw_out o;
            memset(&o, 0, sizeof(o));
            next_msgid(d, msgid, sizeof(msgid));
            o.prefix = prefix;
            o.command = command;
            o.params[0] = target;
            o.params[1] = save;
            o.nparams = 2;
            o.msgid = msgid;
            if (only)
                gw_ircd_send(only, &o);
            else
                gw_ircd_send_channel(d, target, &o, NULL);
        }
        save = nl ? nl + 1 : NULL;
    }
}

void gw_ircd_bot_say(struct gw_ircd *d, const char *channel, const char *fmt,
                     ...)
{
    va_list ap;
    va_start(ap, fmt);
    bot_vsay(d, NULL, "PRIVMSG", channel, fmt, ap);
    va_end(ap);
}

void gw_ircd_bot_notice(struct gw_client *c, const char *target,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bot_vsay(c->d, c, "NOTICE", target, fmt, ap);
    va_end(ap);
}

/* ---- PRIVMSG, NOTICE, TAGMSG --------------------------------------- */

/* Tell the router what c said to a place it keeps, a person or the bot;
 * or, record only, to a place of ours (a channel people made, or the
 * conversation of two people here) that is history all the same. */
static void said(struct gw_client *c, const struct gw_irc_msg *m,
                 const struct gw_out *o, const char *place, bool record_only)
{
    struct gw_ircd_speaker s;
    gw_ircd__speaker(c, &s);
    const char *reply_to = gw_ircmsg_tag(m, "+draft/reply");
    if (reply_to == NULL)
        reply_to = gw_ircmsg_tag(m, "+reply");
    bool tagmsg = strcmp(o->command, "TAGMSG") == 0;
    struct gw_said said = {
        .place = place,
        .text = tagmsg ? NULL : m->params[1], /* as typed, never masked */
        .notice = strcmp(o->command, "NOTICE") == 0,
        .msgid = o->msgid,
        .reply_to = reply_to,
        .react = gw_ircmsg_tag(m, "+draft/react"),
        .time_ms = o->time_ms,
    };
    if (record_only)
        gw_router_record(c->d->gw->router, &s.sp, &said);
    else
        gw_router_said(c->d->gw->router, &s.sp, &said);
}

static void deliver_message(struct gw_client *c, struct gw_irc_msg *m,
                            const char *target, bool notice, bool tagmsg)
{
    struct gw_ircd *d = c->d;
    const char *text = tagmsg ? NULL : m->params[1];
    char prefix[256], msgid[48];
    gw_client_prefix(c, prefix, sizeof(prefix));
    next_msgid(d, msgid, sizeof(msgid));
    /* Client-only tags (+...) travel with the message. */
    struct gw_irc_tag ctags[GW_IRC_TAG_COUNT_MAX];
    int nctags = 0;
    for (int i = 0; i < m->ntags; i++)
        if (m->tags[i].key[0] == '+')
            ctags[nctags++] = m->tags[i];
    struct gw_out o;
    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.command = tagmsg ? "TAGMSG" : notice ? "NOTICE" : "PRIVMSG";
    o.params[0] = target;
    o.nparams = 1;
    if (!tagmsg) {
        o.params[1] = text;
        o.nparams = 2;
    }
    o.msgid = msgid;
    o.time_ms = gw_now_ms(); /* the same in every copy and in history */
    o.tags = ctags;
    o.ntags = nctags;
    o.account = c->account;
    /* A secret typed to the bot or in the control channel is shown to
     * nobody, the speaker's echo and other sessions included: they all see
     * it masked. The router gets the line as it was typed. */
    char masked[GW_IRC_LINE_MAX * 2];
    if (text &&
        gw_router_mask(d->gw->router, target, text, masked, sizeof(masked)))
        o.params[1] = masked;

    if (target[0] == '#' || target[0] == '&') {
        struct gw_channel *ch = gw_ircd__find_channel(d, target);
        if (ch == NULL) {
            if (!notice)
                gw_ircd__numeric(c, ERR_NOSUCHCHANNEL, "%s :No such channel",
                                 target);
            return;
        }
        /* +n (always so in the gateway's channels): members only. */
        bool member = gw_ircd__is_member(ch, c);
        if (!member &&
            ((ch->flags & GW_CHAN_MANAGED) || (ch->modes & GW_CMODE_N))) {
            if (!notice)
                gw_ircd__numeric(c, ERR_CANNOTSENDTOCHAN,
                                 "%s :Cannot send to channel (join it first)",
                                 ch->name);
            return;
        }
        o.params[0] = ch->name;
        struct gw_render_cache rc;
        memset(&rc, 0, sizeof(rc));
        for (int i = 0; i < ch->nmembers; i++) {
            struct gw_client *to = ch->members[i];
            if (tagmsg && !(to->caps & GW_CAP_MESSAGE_TAGS))
                continue;
            if (to != c || (c->caps & GW_CAP_ECHO_MESSAGE))
                gw_ircd__cache_send(d, &rc, &o, to);
        }
        if (!member && (c->caps & GW_CAP_ECHO_MESSAGE))
            gw_ircd__cache_send(d, &rc, &o, c);
        gw_ircd__cache_free(&rc);
        /* TAGMSG reaches the router too (text NULL): a reaction is an
         * action on the network. */
        if (ch->flags & GW_CHAN_MANAGED) {
            said(c, m, &o, ch->name, false);
        } else {
            char key[GW_IRCD_HISTORY_KEY_MAX];
            snprintf(key, sizeof(key), ",%s", ch->name);
            said(c, m, &o, key, true);
        }
        return;
    }
    /* The person's other sessions see what this one sent. */
    for (struct gw_client *sib = d->clients; sib; sib = sib->next)
        if (gw_ircd__same_person(sib, c) &&
            (!tagmsg || (sib->caps & GW_CAP_MESSAGE_TAGS)))
            gw_ircd_send(sib, &o);
    struct gw_puppet *pup = gw_ircd__find_puppet(d, target);
    struct gw_client *to = gw_ircd__find_client(d, target);
    /* A conversation keeps a person around. */
    if (pup)
        gw_ircd__puppet_touch(d, pup);
    /* A person who quit for quiet is still known to the router. */
    if (gw_strcasecmp(target, BOT_NICK) == 0 || pup ||
        (to == NULL && gw_router_person_back(d->gw->router, target))) {
        if (c->caps & GW_CAP_ECHO_MESSAGE)
            gw_ircd_send(c, &o);
        said(c, m, &o, target, false);
        return;
    }
    if (to == NULL || !to->registered) {
        if (!notice)
            gw_ircd__numeric(c, ERR_NOSUCHNICK, "%s :No such nick/channel",
                             target);
        return;
    }
    o.params[0] = to->nick;
    /* Every session of the person gets it. */
    for (struct gw_client *t = d->clients; t; t = t->next) {
        if (t != c && t->registered && !t->closing &&
            gw_strcasecmp(t->nick, to->nick) == 0 &&
            (!tagmsg || (t->caps & GW_CAP_MESSAGE_TAGS)) &&
            !gw_ircd__same_person(t, c))
            gw_ircd_send(t, &o);
    }
    /* To oneself: delivered as to anyone (the other sessions had theirs
     * above). labeled-response labels only the echo, so this copy goes
     * past the capture. */
    if (gw_strcasecmp(to->nick, c->nick) == 0 &&
        (!tagmsg || (c->caps & GW_CAP_MESSAGE_TAGS))) {
        bool capturing = c->capturing;
        c->capturing = false;
        gw_ircd_send(c, &o);
        c->capturing = capturing;
    }
    if (c->caps & GW_CAP_ECHO_MESSAGE)
        gw_ircd_send(c, &o);
    if (text) {
        char key[GW_IRCD_HISTORY_KEY_MAX];
        gw_ircd__query_key(c->nick, to->nick, key, sizeof(key));
        said(c, m, &o, key, true);
    }
    if (to->away && !notice && !tagmsg)
        gw_ircd__numeric(c, RPL_AWAY, "%s :%s", to->nick, to->away);
}

static void message_cmd(struct gw_client *c, struct gw_irc_msg *m, bool notice,
                        bool tagmsg)
{
    const char *cmd = tagmsg ? "TAGMSG" : notice ? "NOTICE" : "PRIVMSG";
    if (!tagmsg && (m->nparams < 2 || m->params[1][0] == '\0')) {
        if (!notice)
            gw_ircd__numeric(c, ERR_NOTEXTTOSEND, ":No text to send");
        return;
    }
    char *copy = gw_xstrdup(m->params[0]);
    int n = 0;
    for (char *p = copy; p;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma++ = '\0';
        if (*p) {
            if (++n > GW_TARGETS_MAX) {
                gw_ircd__numeric(c, ERR_TOOMANYTARGETS,
                                 "%s :Too many targets for %s", p, cmd);
                break;
            }
            deliver_message(c, m, p, notice, tagmsg);
            if (c->closing)
                break;
        }
        p = comma;
    }
    free(copy);
}

static void cmd_privmsg(struct gw_client *c, struct gw_irc_msg *m)
{
    message_cmd(c, m, false, false);
}

static void cmd_notice(struct gw_client *c, struct gw_irc_msg *m)
{
    message_cmd(c, m, true, false);
}

static void cmd_tagmsg(struct gw_client *c, struct gw_irc_msg *m)
{
    message_cmd(c, m, false, true);
}

static void cmd_chathistory(struct gw_client *c, struct gw_irc_msg *m)
{
    gw_ircd__chathistory(c, m);
}

static void cmd_markread(struct gw_client *c, struct gw_irc_msg *m)
{
    gw_ircd__markread(c, m);
}

static void cmd_not_here(struct gw_client *c, struct gw_irc_msg *m)
{
    if (gw_strcasecmp(m->command, "OPER") == 0)
        gw_ircd__numeric(c, ERR_NOOPERHOST, ":No O-lines for your host");
    else
        gw_ircd__numeric(c, ERR_NOPRIVILEGES,
                         ":Permission Denied- You're not an IRC operator");
}

/* ---- batches and labeled-response ---------------------------------- */

/* Write one captured line with an extra tag ("label=x" or "batch=y"). */
static void write_tagged(struct gw_client *c, const char *line, size_t len,
                         const char *key, const char *value)
{
    char esc[1024], buf[GW_IRC_WIRE_MAX + 64];
    if (gw_ircmsg_escape_tag(esc, sizeof(esc), value) < 0)
        return;
    int n;
    if (len > 0 && line[0] == '@')
        n = snprintf(buf, sizeof(buf), "@%s=%s;%.*s", key, esc, (int)len - 1,
                     line + 1);
    else
        n = snprintf(buf, sizeof(buf), "@%s=%s %.*s", key, esc, (int)len, line);
    if (n > 0 && (size_t)n < sizeof(buf))
        gw_ircd__write(c, buf, (size_t)n);
}

static void next_batch_id(struct gw_ircd *d, char *buf, size_t size)
{
    char n[16];
    gw_base36(++d->msg_counter, n, sizeof(n));
    snprintf(buf, size, "b%s", n);
}

void gw_ircd_batch_start(struct gw_client *c, char *id, size_t idsize,
                         const char *type, const char *param)
{
    next_batch_id(c->d, id, idsize);
    if (param)
        gw_ircd__printf(c, ":%s BATCH +%s %s %s", gw_ircd_server_name(c->d), id,
                        type, param);
    else
        gw_ircd__printf(c, ":%s BATCH +%s %s", gw_ircd_server_name(c->d), id,
                        type);
}

void gw_ircd_batch_end(struct gw_client *c, const char *id)
{
    gw_ircd__printf(c, ":%s BATCH -%s", gw_ircd_server_name(c->d), id);
}

/*
 * labeled-response: the whole answer to a labeled command comes back as
 * one labeled line, a labeled batch, or a labeled ACK when there was none.
 */
static void label_end(struct gw_client *c)
{
    if (c->label == NULL)
        return;
    char *label = c->label;
    c->label = NULL;
    c->capturing = false;
    struct gw_buf cap = c->capture;
    gw_buf_init(&c->capture, GW_CLIENT_SENDQ_HARD);
    int nlines = 0;
    for (size_t i = 0; i < cap.len; i++)
        if (cap.data[i] == '\n')
            nlines++;
    char id[24];
    bool batch = nlines > 1 && (c->caps & GW_CAP_BATCH);
    if (nlines == 0) {
        gw_ircd__printf(c, "@label=%s :%s ACK", label,
                        gw_ircd_server_name(c->d));
    } else if (batch) {
        next_batch_id(c->d, id, sizeof(id));
        char start[96];
        int n = snprintf(start, sizeof(start), ":%s BATCH +%s labeled-response",
                         gw_ircd_server_name(c->d), id);
        write_tagged(c, start, (size_t)n, "label", label);
        gw_ircd__write(c, "\r\n", 2);
    }
    size_t pos = 0;
    for (int i = 0; i < nlines; i++) {
        char *nl = memchr(cap.data + pos, '\n', cap.len - pos);
        size_t end = (size_t)(nl - cap.data);
        size_t len = end - pos;
        if (len && cap.data[pos + len - 1] == '\r')
            len--;
        if (batch)
            write_tagged(c, cap.data + pos, len, "batch", id);
        else if (i == 0)
            write_tagged(c, cap.data + pos, len, "label", label);
        else
            gw_ircd__write(c, cap.data + pos, len);
        gw_ircd__write(c, "\r\n", 2);
        pos = end + 1;
    }
    if (batch)
        gw_ircd__printf(c, ":%s BATCH -%s", gw_ircd_server_name(c->d), id);
    gw_buf_free(&cap);
    free(label);
}

/* ---- dispatch ------------------------------------------------------ */

/*
 * Every command: handler, fewest and most parameters, needs registration,
 * may a required parameter be empty (see struct gw_ircd_cmd).
 * The most is what the command reads (JOIN: channels and keys; WHOIS:
 * server and nick; CHATHISTORY BETWEEN: five); ANY is for lists of any
 * length.
 */
#define ANY GW_IRC_PARAMS_MAX
static const struct gw_ircd_cmd commands[] = {
    {"PASS", gw_ircd__cmd_pass, 1, 1, false, false},
    {"NICK", gw_ircd__cmd_nick, 0, 1, false, true},
    {"USER", gw_ircd__cmd_user, 4, 4, false, false},
    {"CAP", gw_ircd__cmd_cap, 1, 2, false, false},
    {"AUTHENTICATE", gw_ircd__cmd_authenticate, 1, 1, false, false},
    {"PING", gw_ircd__cmd_ping, 1, 2, false, true},
    {"PONG", gw_ircd__cmd_pong, 0, 2, false, false},
    {"QUIT", gw_ircd__cmd_quit, 0, 1, false, false},
    {"JOIN", gw_ircd__cmd_join, 1, 2, true, false},
    {"PART", gw_ircd__cmd_part, 1, 2, true, false},
    {"NAMES", gw_ircd__cmd_names, 0, 2, true, false},
    {"TOPIC", gw_ircd__cmd_topic, 1, 2, true, false},
    {"WHO", gw_ircd__cmd_who, 0, 2, true, false},
    {"WHOIS", gw_ircd__cmd_whois, 1, 2, true, false},
    {"MODE", gw_ircd__cmd_mode, 1, ANY, true, false},
    {"LIST", gw_ircd__cmd_list, 0, 2, true, false},
    {"AWAY", gw_ircd__cmd_away, 0, 1, true, false},
    {"PRIVMSG", cmd_privmsg, 1, 2, true, false},
    {"NOTICE", cmd_notice, 1, 2, true, false},
    {"TAGMSG", cmd_tagmsg, 1, 1, true, false},
    {"MOTD", gw_ircd__cmd_motd, 0, 1, true, false},
    {"LUSERS", gw_ircd__cmd_lusers, 0, 2, true, false},
    {"VERSION", gw_ircd__cmd_version, 0, 1, true, false},
    {"ISON", gw_ircd__cmd_ison, 1, ANY, true, false},
    {"USERHOST", gw_ircd__cmd_userhost, 1, 5, true, false},
    {"SETNAME", gw_ircd__cmd_setname, 1, 1, true, true},
    {"CHATHISTORY", cmd_chathistory, 0, 5, true, false}, /* FAIL, not 461 */
    {"MARKREAD", cmd_markread, 0, 2, true, false},
    {"INVITE", gw_ircd__cmd_invite, 2, 2, true, false},
    {"KICK", gw_ircd__cmd_kick, 2, 3, true, false},
    {"OPER", cmd_not_here, 2, 2, true, false},
    {"KILL", cmd_not_here, 2, 2, true, false},
    {"SQUIT", cmd_not_here, 1, 2, true, false},
};
#undef ANY

const struct gw_ircd_cmd *gw_ircd__cmd_find(const char *name)
{
    for (size_t i = 0; i < GW_ARRAY_LEN(commands); i++)
        if (gw_strcasecmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

const struct gw_ircd_cmd *gw_ircd__cmds(size_t *count)
{
    *count = GW_ARRAY_LEN(commands);
    return commands;
}

/* labeled-response: the label of a line that starts with tags, found in
 * its tag section alone, so that a line the parser refuses (too long, a
 * NUL, too many parameters) still gets its error labeled. */
static bool label_of(const char *line, size_t len, char *label, size_t size)
{
    if (len == 0 || line[0] != '@')
        return false;
    const char *sp = memchr(line, ' ', len);
    size_t tl = sp ? (size_t)(sp - line) : len;
    char buf[GW_IRC_TAGS_MAX + 8];
    if (tl >= GW_IRC_TAGS_MAX || memchr(line, '\0', tl))
        return false;
    memcpy(buf, line, tl);
    memcpy(buf + tl, " X", 3);
    struct gw_irc_msg m;
    if (gw_ircmsg_parse(&m, buf, tl + 2) < 0)
        return false;
    const char *v = gw_ircmsg_tag(&m, "label");
    /* The spec caps labels at 64 bytes; a longer one is not a label. */
    if (v == NULL || *v == '\0' || strlen(v) > 64)
        return false;
    gw_strlcpy(label, v, size);
    return true;
}

/* Capture what c is answered from now until label_end. */
static bool label_begin(struct gw_client *c, const char *line, size_t len)
{
    char label[72];
    if (!(c->caps & GW_CAP_LABELED_RESPONSE) ||
        !label_of(line, len, label, sizeof(label)))
        return false;
    c->label = gw_xstrdup(label);
    gw_buf_init(&c->capture, GW_CLIENT_SENDQ_HARD);
    c->capturing = true;
    return true;
}

void gw_ircd__too_long(struct gw_client *c, const char *line, size_t len)
{
    bool labeled = label_begin(c, line, len);
    gw_ircd__numeric(c, ERR_INPUTTOOLONG, ":Input line was too long");
    if (labeled && !c->closing)
        label_end(c);
}

/* Tag data past '@' and before the space: a client may send 4094 bytes. */
static bool client_tags_too_long(const char *line, size_t len)
{
    if (len == 0 || line[0] != '@')
        return false;
    const char *sp = memchr(line, ' ', len);
    size_t tl = (sp ? (size_t)(sp - line) : len) - 1;
    return tl > GW_IRC_CLIENT_TAGS_MAX;
}

static void dispatch_msg(struct gw_client *c, struct gw_irc_msg *mp, int rc,
                         char *line, size_t len);

void gw_ircd__dispatch(struct gw_client *c, char *line, size_t len)
{
    bool labeled = label_begin(c, line, len);
    struct gw_irc_msg m;
    /* Measured before the parser cuts the line up in place. */
    int rc = client_tags_too_long(line, len) ? GW_IRCMSG_ETAGS
                                             : gw_ircmsg_parse(&m, line, len);
    dispatch_msg(c, &m, rc, line, len);
    if (labeled && !c->closing)
        label_end(c);
}

/*
 * A line that is not UTF-8. Before registration a client has not seen
 * UTF8ONLY yet and may be sending its legacy charset: a NICK is answered
 * 432 (and the client picks another), a USER's real name is repaired
 * (U+FFFD) with a WARN, a PASS is bytes anyway. Anything else is refused
 * (UTF8ONLY: FAIL ... INVALID_UTF8). True when the command may go on.
 */
static bool not_utf8(struct gw_client *c, struct gw_irc_msg *m, char *buf,
                     size_t size)
{
    const char *srv = gw_ircd_server_name(c->d);
    if (gw_strcasecmp(m->command, "PASS") == 0)
        return true;
    if (gw_strcasecmp(m->command, "NICK") == 0 && m->nparams > 0) {
        gw_utf8_repair(buf, size, m->params[0], strlen(m->params[0]));
        gw_ircd__numeric(c, ERR_ERRONEUSNICKNAME,
                         "%s :Erroneous nickname (not UTF-8)", buf);
        return false;
    }
    if (gw_strcasecmp(m->command, "USER") == 0 && !c->registered &&
        m->nparams >= 4) {
        for (int i = 0; i < m->nparams - 1; i++)
            if (!gw_utf8_valid(m->params[i], strlen(m->params[i])))
                m->params[i] = "u"; /* the user name is cut to ASCII */
        gw_utf8_repair(buf, size, m->params[3], strlen(m->params[3]));
        m->params[3] = buf;
        gw_ircd__printf(c,
                        ":%s WARN USER INVALID_UTF8 :Your real name was not "
                        "UTF-8 and was modified",
                        srv);
        return true;
    }
    gw_ircd__printf(c,
                    ":%s FAIL %s INVALID_UTF8 :Message rejected, your IRC "
                    "software must use UTF-8",
                    srv, m->command);
    return false;
}

static void dispatch_msg(struct gw_client *c, struct gw_irc_msg *mp, int rc,
                         char *line, size_t len)
{
    if (rc == GW_IRCMSG_EEMPTY)
        return;
    if (rc == GW_IRCMSG_ETOOLONG || rc == GW_IRCMSG_ETAGS) {
        gw_ircd__numeric(c, ERR_INPUTTOOLONG, ":Input line was too long");
        return;
    }
    if (rc == GW_IRCMSG_ENUL) {
        gw_ircd_server_notice(c, "Ignored a line containing a NUL byte");
        return;
    }
    if (rc < 0) {
        gw_ircd__numeric(c, ERR_UNKNOWNCOMMAND, "* :Malformed line");
        return;
    }
    struct gw_irc_msg m = *mp;
    char repaired[GW_IRC_LINE_MAX * 2];
    if (!gw_utf8_valid(line, len) &&
        !not_utf8(c, &m, repaired, sizeof(repaired)))
        return;
    const struct gw_ircd_cmd *cmd = gw_ircd__cmd_find(m.command);
    if (cmd == NULL) {
        if (c->registered)
            gw_ircd__numeric(c, ERR_UNKNOWNCOMMAND, "%s :Unknown command",
                             m.command);
        else
            gw_ircd__numeric(c, ERR_NOTREGISTERED, ":You have not registered");
        return;
    }
    if (cmd->need_reg && !c->registered) {
        gw_ircd__numeric(c, ERR_NOTREGISTERED, ":You have not registered");
        return;
    }
    bool missing = m.nparams < cmd->min_params;
    for (int i = 0; !missing && !cmd->empty_ok && i < cmd->min_params; i++)
        missing = m.params[i][0] == '\0';
    if (missing) {
        gw_ircd__numeric(c, ERR_NEEDMOREPARAMS, "%s :Not enough parameters",
                         cmd->name);
        return;
    }
    /* Extra parameters are ignored, as servers do (RFC 2812 gives them no
     * meaning); dropping them here means no handler reads past what it
     * takes. */
    if (m.nparams > cmd->max_params)
        m.nparams = cmd->max_params;
    cmd->fn(c, &m);
}
