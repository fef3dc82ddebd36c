/*
 * What people type: in the control channel and to the bot (commands), in
 * an account channel ("nick: text", "!re a3 text", +draft/reply, plain talk
 * that stays among people), and in a query with a person of a network (a
 * DM). Whoever speaks is a gw_speaker, whatever front-end they came from.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

void gw__cmd_tell(struct gw_cmd *x, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw__tell(x->sp, x->origin, "%s", text);
}

static void enqueue(struct gw_cmd *x, enum gw_action_kind kind,
                    const char *text, const char *handle,
                    const char *parent_ref)
{
    struct gw_enqueue e = {x->a, x->sp,  x->origin,  kind,
                           text, handle, parent_ref, NULL};
    gw__enqueue(&e);
}

static void query(struct gw_cmd *x, enum gw_action_kind kind,
                  const char *handle, const char *parent_ref)
{
    struct gw_enqueue e = {x->a, x->sp,  x->origin,  kind,
                           NULL, handle, parent_ref, NULL};
    gw__query(&e);
}

/* Find a post by ref, answering the user when it is not there. */
bool gw__cmd_post(struct gw_cmd *x, const char *ref, struct gw_post *p)
{
    memset(p, 0, sizeof(*p));
    if (ref == NULL || *ref == '\0') {
        gw__cmd_tell(x, "which post? give its ref, like a3");
        return false;
    }
    if (ref[0] == '[') {
        /* People copy "[a3]" from the channel. */
        char tmp[32];
        gw_strlcpy(tmp, ref + 1, sizeof(tmp));
        char *close = strchr(tmp, ']');
        if (close)
            *close = '\0';
        return gw__cmd_post(x, tmp, p);
    }
    if (gw_store_post_by_ref(gw__store(x->r), ref, p) < 0) {
        gw__cmd_tell(x, "[%s] is not a known post", ref);
        return false;
    }
    if (gw_strcasecmp(p->account, x->a->name) != 0) {
        gw__cmd_tell(x, "[%s] belongs to account %s; use it in %s", p->ref,
                     p->account, x->a->channel);
        gw_post_free(p);
        return false;
    }
    return true;
}

/* The handle behind a nick the gateway gave out, or what was typed. */
static char *handle_of(struct gw_cmd *x, const char *who)
{
    char *handle = NULL;
    struct gw_person_row row;
    memset(&row, 0, sizeof(row));
    if (strchr(who, '@') == NULL &&
        gw_store_person_by_nick(gw__store(x->r), who, &row) == 0 &&
        strcmp(row.network, x->a->network) == 0) {
        handle = row.handle;
        row.handle = NULL;
    }
    gw_person_row_free(&row);
    return handle != NULL ? handle : gw_xstrdup(who[0] == '@' ? who + 1 : who);
}

/* Lines !open says at most: the whole of any real post, not a whole
 * hostile one (the URL has the rest). */
#define OPEN_LINES 40

struct open_lines {
    struct gw_cmd *x;
    int n;
};

static int open_line(void *arg, const char *line, size_t len)
{
    struct open_lines *o = arg;
    if (o->n++ < OPEN_LINES)
        gw__cmd_tell(o->x, "%.*s", (int)len, line);
    return 0;
}

/* !open: where the post is, and all of its text (a post is cut to
 * GW_POST_LINES where it is shown). */
static void cmd_open(struct gw_cmd *x, const struct gw_post *p)
{
    char nick[GW_NICK_MAX + 1];
    gw__nick_of(x->r, x->a->network, p->author_id, p->author, nick,
                sizeof(nick));
    gw__cmd_tell(x, "[%s] %s: %s", p->ref, nick,
                 p->url[0] ? p->url : "(no URL known)");
    struct open_lines o = {x, 0};
    gw_text_split(p->text, 400, open_line, &o);
    if (o.n > OPEN_LINES)
        gw__cmd_tell(x, "\xE2\x80\xA6 %d more lines%s%s", o.n - OPEN_LINES,
                     p->url[0] ? " at " : "", p->url);
}

static const char *const account_help[] = {
    "!re REF text (or !reply) - reply to a post; 'nick: text' replies to "
    "nick's latest post here",
    "!post text - a new public post; !cw text - content warning for your "
    "next post",
    "!dm nick text - a direct message; in a query, just type",
    "!fav REF, !unfav REF, !boost REF, !unboost REF, !delete REF, !undo",
    "!thread REF, !open REF, !who nick, !follow nick, !unfollow nick",
    "!claim REF [nick], !done REF, !pending, !history REF - the shared "
    "inbox; !claim! REF takes a teammate's claim",
    "!re! REF [text] - answer what a teammate answered minutes ago (the "
    "answer the guard held, without text)",
};

/* A reply to post p: a DM thread is answered with a DM, in that thread.
 * A second answer to what a teammate answered is held unless forced. */
static void reply_to(struct gw_cmd *x, const struct gw_post *p,
                     const char *text, bool force)
{
    if (!force && gw__inbox_guard(x, p, text))
        return;
    bool dm = strcmp(p->kind, "dm") == 0;
    enqueue(x, dm ? GW_ACT_DM : GW_ACT_REPLY, text, dm ? p->author : NULL,
            p->ref);
}

static void account_command(struct gw_cmd *x, char *line)
{
    char *rest = line + 1;
    char *cmd = gw_next_word(&rest);
    if (cmd == NULL)
        return;
    gw_strlower(cmd);
    struct gw_post p;
    const struct gw_adapter_command *own = x->a->ops->commands;
    while (own != NULL && own->name != NULL && strcmp(own->name, cmd) != 0)
        own++;
    if (strcmp(cmd, "help") == 0) {
        for (size_t i = 0; i < GW_ARRAY_LEN(account_help); i++)
            gw__cmd_tell(x, "%s", account_help[i]);
        for (own = x->a->ops->commands; own != NULL && own->name; own++)
            gw__cmd_tell(x, "%s", own->help);
    } else if (strcmp(cmd, "post") == 0) {
        if (*rest == '\0')
            gw__cmd_tell(x, "usage: !post text");
        else
            enqueue(x, GW_ACT_POST, rest, NULL, NULL);
    } else if (strcmp(cmd, "re") == 0 || strcmp(cmd, "reply") == 0 ||
               strcmp(cmd, "re!") == 0 || strcmp(cmd, "reply!") == 0) {
        bool force = cmd[strlen(cmd) - 1] == '!';
        char *ref = gw_next_word(&rest);
        if (ref == NULL || (*rest == '\0' && !force)) {
            gw__cmd_tell(x, "usage: !re REF text");
        } else if (gw__cmd_post(x, ref, &p)) {
            /* "!re! a3" alone sends the answer the guard held. */
            char *held = *rest == '\0' ? gw__inbox_take_held(x, p.ref) : NULL;
            if (*rest == '\0' && held == NULL)
                gw__cmd_tell(x,
                             "no answer of yours to [%s] is held; !re! %s "
                             "text",
                             p.ref, p.ref);
            else
                reply_to(x, &p, held != NULL ? held : rest, force);
            free(held);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "dm") == 0) {
        char *who = gw_next_word(&rest);
        if (who == NULL || *rest == '\0') {
            gw__cmd_tell(x, "usage: !dm nick-or-handle text");
            return;
        }
        char *handle = handle_of(x, who);
        enqueue(x, GW_ACT_DM, rest, handle, NULL);
        free(handle);
    } else if (strcmp(cmd, "fav") == 0 || strcmp(cmd, "unfav") == 0 ||
               strcmp(cmd, "boost") == 0 || strcmp(cmd, "unboost") == 0 ||
               strcmp(cmd, "delete") == 0) {
        char *ref = gw_next_word(&rest);
        if (gw__cmd_post(x, ref, &p)) {
            enqueue(x, gw__action_kind(cmd), NULL, NULL, p.ref);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "undo") == 0) {
        char key[256], *ref = NULL;
        snprintf(key, sizeof(key), "undo:%s:%s", x->a->name, x->sp->person);
        gw_strlower(key);
        if (gw_store_kv_get(gw__store(x->r), key, &ref) < 0) {
            gw__cmd_tell(x, "you have no post to undo in %s", x->a->name);
            return;
        }
        gw_store_kv_set(gw__store(x->r), key, NULL);
        enqueue(x, GW_ACT_DELETE, NULL, NULL, ref);
        free(ref);
    } else if (strcmp(cmd, "cw") == 0) {
        free(x->a->cw_next);
        x->a->cw_next = *rest ? gw_xstrdup(rest) : NULL;
        gw__cmd_tell(x,
                     *rest ? "your next post gets the content warning: %s"
                           : "%scontent warning cleared",
                     rest);
    } else if (strcmp(cmd, "thread") == 0) {
        char *ref = gw_next_word(&rest);
        if (gw__cmd_post(x, ref, &p)) {
            query(x, GW_ACT_THREAD, NULL, p.ref);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "open") == 0) {
        char *ref = gw_next_word(&rest);
        if (gw__cmd_post(x, ref, &p)) {
            cmd_open(x, &p);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "who") == 0 || strcmp(cmd, "follow") == 0 ||
               strcmp(cmd, "unfollow") == 0) {
        char *who = gw_next_word(&rest);
        if (who == NULL) {
            gw__cmd_tell(x, "usage: !%s nick-or-handle", cmd);
            return;
        }
        char *handle = handle_of(x, who);
        if (strcmp(cmd, "who") == 0)
            query(x, GW_ACT_WHO, handle, NULL);
        else
            enqueue(x, gw__action_kind(cmd), NULL, handle, NULL);
        free(handle);
    } else if (strcmp(cmd, "claim") == 0 || strcmp(cmd, "claim!") == 0) {
        gw__inbox_claim(x, rest, cmd[5] == '!');
    } else if (strcmp(cmd, "done") == 0) {
        gw__inbox_done(x, rest);
    } else if (strcmp(cmd, "pending") == 0) {
        gw__inbox_pending(x);
    } else if (strcmp(cmd, "history") == 0) {
        gw__inbox_history(x, rest);
    } else if (own != NULL && own->name != NULL && own->person) {
        /* The network's own, about a person ("!accept bob"). */
        char *who = gw_next_word(&rest);
        if (who == NULL) {
            gw__cmd_tell(x, "usage: %s", own->help);
            return;
        }
        char *handle = handle_of(x, who);
        struct gw_enqueue e = {x->a, x->sp,  x->origin, GW_ACT_COMMAND,
                               NULL, handle, NULL,      own->name};
        gw__enqueue(&e);
        free(handle);
    } else if (own != NULL && own->name != NULL) {
        /* The network's own: after the core's, so it never hides one. */
        char *ref = gw_next_word(&rest);
        if (gw__cmd_post(x, ref, &p)) {
            struct gw_enqueue e = {x->a, x->sp, x->origin, GW_ACT_COMMAND,
                                   NULL, NULL,  p.ref,     own->name};
            gw__enqueue(&e);
            gw_post_free(&p);
        }
    } else {
        gw__cmd_tell(x, "unknown command !%s; !help lists them", cmd);
    }
}

/* "nick: text" replies to nick's latest post in this channel. True when
 * the line was meant that way (answered or not). */
static bool nick_reply(struct gw_cmd *x, char *line)
{
    char *colon = strchr(line, ':');
    if (colon == NULL || colon == line || colon[1] != ' ' ||
        (size_t)(colon - line) > GW_NICK_MAX)
        return false;
    *colon = '\0';
    if (gw_strcasecmp(line, GW_BOT_NICK) == 0) {
        /* "parley: a3 text", as a relay's team addresses the bot. */
        *colon = ':';
        char *rest = colon + 2;
        char *ref = gw_next_word(&rest);
        struct gw_post p;
        if (ref == NULL || *rest == '\0')
            gw__cmd_tell(x, "usage: %s: REF text", GW_BOT_NICK);
        else if (gw__cmd_post(x, ref, &p)) {
            reply_to(x, &p, rest, false);
            gw_post_free(&p);
        }
        return true;
    }
    struct gw_person_row row;
    memset(&row, 0, sizeof(row));
    bool person = gw_store_person_by_nick(gw__store(x->r), line, &row) == 0 &&
                  strcmp(row.network, x->a->network) == 0;
    if (person) {
        struct gw_post p;
        memset(&p, 0, sizeof(p));
        if (gw_store_post_latest_by(gw__store(x->r), x->a->channel,
                                    row.author_id, &p) == 0)
            reply_to(x, &p, colon + 2, false);
        else
            gw__cmd_tell(x, "%s has no post here to reply to; use !re REF",
                         line);
        gw_post_free(&p);
    }
    gw_person_row_free(&row);
    *colon = ':';
    return person;
}

static void channel_text(struct gw_cmd *x, const struct gw_said *m)
{
    char *line = gw_xstrdup(m->text);
    if (line[0] == '!' && isalpha((unsigned char)line[1])) {
        account_command(x, line);
    } else if (m->reply_to != NULL && *m->reply_to != '\0') {
        struct gw_post p;
        if (gw__cmd_post(x, m->reply_to, &p)) {
            reply_to(x, &p, m->text, false);
            gw_post_free(&p);
        }
    } else if (!nick_reply(x, line) && x->a->post_plain) {
        enqueue(x, GW_ACT_POST, m->text, NULL, NULL);
    }
    free(line);
}

static void query_text(struct gw_cmd *x, const char *text)
{
    if (text[0] == '!' && isalpha((unsigned char)text[1])) {
        char *line = gw_xstrdup(text);
        account_command(x, line);
        free(line);
        return;
    }
    /* Typing in a query answers in the same DM conversation. */
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    char *author_id = NULL, *handle = NULL;
    struct gw_account *a = NULL;
    char target[GW_NICK_MAX + 1];
    gw_strlcpy(target, x->origin, sizeof(target));
    gw_strlower(target);
    if (gw__person_by_nick(x->r, target, &handle, &author_id, &a, NULL) == 0 &&
        gw_store_post_latest_by(gw__store(x->r), target, author_id, &p) == 0 &&
        strcmp(p.kind, "dm") == 0) {
        if (!gw__inbox_guard(x, &p, text))
            enqueue(x, GW_ACT_DM, text, x->dm_handle, p.ref);
    } else
        enqueue(x, GW_ACT_DM, text, x->dm_handle, NULL);
    gw_post_free(&p);
    free(handle);
    free(author_id);
}

/* A reaction (+draft/react with +draft/reply=REF) favourites the post:
 * the network's own way of saying "I like this". */
static void reaction(struct gw_router *r, const struct gw_speaker *sp,
                     const struct gw_said *m)
{
    if (m->react == NULL || *m->react == '\0' || m->reply_to == NULL ||
        *m->reply_to == '\0')
        return;
    struct gw_cmd x;
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.sp = sp;
    x.origin = m->place;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    if (gw_store_post_by_ref(gw__store(r), m->reply_to, &p) < 0)
        return; /* a reaction to a line that is not a post: IRC only */
    x.a = gw__account(r, p.account);
    if (x.a)
        enqueue(&x, GW_ACT_FAV, NULL, NULL, p.ref);
    gw_post_free(&p);
}

/* What people say in account channels and queries is history too, so
 * CHATHISTORY and playback show the whole conversation. */
static void record(struct gw_router *r, const struct gw_speaker *sp,
                   const struct gw_said *m)
{
    gw_router_record(r, sp, m);
}

void gw__commands_said(struct gw_router *r, const struct gw_speaker *sp,
                       const struct gw_said *m)
{
    if (m->text == NULL) {
        reaction(r, sp, m);
        return;
    }
    enum gw_place_kind kind = gw__place_kind(r, m->place);
    if (kind == GW_PLACE_ACCOUNT || kind == GW_PLACE_QUERY)
        record(r, sp, m);
    if (m->notice)
        return; /* NOTICEs never trigger actions (RFC 1459's rule) */
    if (kind == GW_PLACE_CONTROL || kind == GW_PLACE_BOT) {
        gw__control_command(r, sp, m->place, m->text);
        return;
    }
    struct gw_cmd x;
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.sp = sp;
    x.origin = m->place;
    if (kind == GW_PLACE_ACCOUNT) {
        x.a = gw__account_by_channel(r, m->place);
        channel_text(&x, m);
        return;
    }
    if (kind != GW_PLACE_QUERY)
        return;
    /* A query with a person: a DM on the account that last saw them. */
    char *handle = NULL;
    if (gw__person_by_nick(r, m->place, &handle, NULL, &x.a, NULL) < 0) {
        gw__tell(sp, m->place, "%s is not known to the gateway", m->place);
        return;
    }
    if (x.a == NULL) {
        gw__tell(sp, m->place, "no account knows %s", handle);
        free(handle);
        return;
    }
    x.dm_handle = handle;
    query_text(&x, m->text);
    free(handle);
}
