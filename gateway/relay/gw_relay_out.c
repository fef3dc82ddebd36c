/*
 * What the bot says, and how fast: lines are worded for a channel where
 * the bot cannot take the author's nick ("[a3] alice@example.social:
 * ..."), split so that each fits in 512 bytes as the server relays it to
 * the others (with the bot's own nick!user@host in front), and queued. A
 * token bucket lets them out at a pace the server accepts. A full queue
 * never drops silently: what did not fit is counted and the channel gets
 * one line saying how much (the store has it all; !pending lists what is
 * open).
 */
#include "gw_relay_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_text.h"

/* Until the server has told us our user@host, assume one this long: a
 * ten-character ident and a 63-byte host, the most servers allow. */
#define USERHOST_GUESS 75

/* ---- the bucket --------------------------------------------------------- */

void gw_relay_bucket_init(struct gw_relay_bucket *b, int lines, int seconds,
                          int64_t now_ms)
{
    b->cap = lines > 0 ? lines : 1;
    b->per_ms = b->cap / (1000.0 * (seconds > 0 ? seconds : 1));
    b->tokens = b->cap;
    b->last_ms = now_ms;
}

static void refill(struct gw_relay_bucket *b, int64_t now_ms)
{
    if (now_ms > b->last_ms) {
        b->tokens += (double)(now_ms - b->last_ms) * b->per_ms;
        if (b->tokens > b->cap)
            b->tokens = b->cap;
    }
    b->last_ms = now_ms;
}

bool gw_relay_bucket_take(struct gw_relay_bucket *b, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens < 1.0)
        return false;
    b->tokens -= 1.0;
    return true;
}

void gw_relay_bucket_charge(struct gw_relay_bucket *b, int64_t now_ms)
{
    refill(b, now_ms);
    b->tokens -= 1.0;
}

int64_t gw_relay_bucket_wait(struct gw_relay_bucket *b, int64_t now_ms)
{
    refill(b, now_ms);
    if (b->tokens >= 1.0)
        return 0;
    /* Rounded up, so that the token is there when the timer fires. */
    return (int64_t)((1.0 - b->tokens) / b->per_ms) + 1;
}

/* ---- wording and splitting ---------------------------------------------- */

size_t gw_relay_budget(const char *nick, const char *userhost,
                       const char *command, const char *target)
{
    size_t uh =
        userhost != NULL && *userhost ? strlen(userhost) : USERHOST_GUESS;
    /* ":" nick "!" userhost " " command " " target " :" ... "\r\n" */
    size_t over = 1 + strlen(nick) + 1 + uh + 1 + strlen(command) + 1 +
                  strlen(target) + 2 + 2;
    return over + 64 < GW_IRC_LINE_MAX ? GW_IRC_LINE_MAX - over : 64;
}

/* "[a3] rest": the ref and where the rest starts, or false. */
static bool leading_ref(const char *text, char *ref, size_t size,
                        const char **rest)
{
    if (text[0] != '[')
        return false;
    size_t n = strspn(text + 1, "0123456789abcdefghijklmnopqrstuvwxyz");
    if (n == 0 || n >= size || text[1 + n] != ']' || text[2 + n] != ' ')
        return false;
    memcpy(ref, text + 1, n);
    ref[n] = '\0';
    *rest = text + 3 + n;
    return true;
}

char *gw_relay_format(const struct gw_line *l, bool dm)
{
    char ref[32];
    const char *rest = NULL;
    const char *dmtag = dm ? "(DM) " : "";
    if (l->from == NULL)
        return gw_xasprintf("%s%s", dmtag, l->text);
    if (leading_ref(l->text, ref, sizeof(ref), &rest))
        return gw_xasprintf("[%s] %s%s: %s", ref, dmtag, l->from, rest);
    /* A post's later lines carry its ref in their msgid ("a3.2"). */
    const char *dot = l->msgid != NULL ? strchr(l->msgid, '.') : NULL;
    if (dot != NULL && !l->notice && (size_t)(dot - l->msgid) < sizeof(ref))
        return gw_xasprintf("[%.*s] %s", (int)(dot - l->msgid), l->msgid,
                            l->text);
    return gw_xasprintf("%s%s: %s", dmtag, l->from, l->text);
}

/* ---- the queues --------------------------------------------------------- */

static void queue_init(struct relay_queue *q, int max)
{
    q->head = NULL;
    q->tail = &q->head;
    q->n = 0;
    q->max = max;
}

void gw_relay__queue_init(struct gw_relay *rl)
{
    queue_init(&rl->lines, GW_RELAY_QUEUE_MAX);
    queue_init(&rl->tells, GW_RELAY_TELL_MAX);
}

static void item_free(struct relay_item *it)
{
    free(it->target);
    free(it->text);
    free(it);
}

static struct relay_item *queue_pop(struct relay_queue *q)
{
    struct relay_item *it = q->head;
    if (it == NULL)
        return NULL;
    q->head = it->next;
    if (q->head == NULL)
        q->tail = &q->head;
    q->n--;
    return it;
}

static void queue_push(struct relay_queue *q, struct relay_item *it)
{
    it->next = NULL;
    *q->tail = it;
    q->tail = &it->next;
    q->n++;
}

void gw_relay__queue_clear(struct gw_relay *rl)
{
    struct relay_item *it;
    while ((it = queue_pop(&rl->lines)) != NULL)
        item_free(it);
    while ((it = queue_pop(&rl->tells)) != NULL)
        item_free(it);
    rl->tells_dropped = 0;
    for (int i = 0; i < rl->nchans; i++)
        rl->chans[i].dropped = rl->chans[i].dropped_lines = 0;
}

int gw_relay__queued(const struct gw_relay *rl)
{
    return rl->lines.n + rl->tells.n;
}

struct split {
    struct gw_relay *rl;
    struct relay_chan *ch;
    bool notice;
    bool post;
    int n;
};

static int push_piece(void *arg, const char *line, size_t len)
{
    struct split *sp = arg;
    struct gw_relay *rl = sp->rl;
    if (rl->lines.n >= rl->lines.max) {
        /* Counted, never lost: the store has it, and the channel hears how
         * much it missed once the queue has room again. */
        if (sp->post && sp->n == 0)
            sp->ch->dropped++;
        else if (sp->n == 0)
            sp->ch->dropped_lines++;
        sp->n++;
        return 1;
    }
    struct relay_item *it = gw_xcalloc(1, sizeof(*it));
    it->chan = sp->ch;
    it->target = gw_xstrdup(sp->ch->name);
    it->text = gw_xstrndup(line, len);
    it->notice = sp->notice;
    it->post = sp->post && sp->n == 0;
    queue_push(&rl->lines, it);
    sp->n++;
    return 0;
}

static void queue_text(struct gw_relay *rl, struct relay_chan *ch, bool notice,
                       bool post, const char *text, int64_t seq)
{
    size_t budget = gw_relay_budget(rl->nick, rl->userhost,
                                    notice ? "NOTICE" : "PRIVMSG", ch->name);
    struct split sp = {rl, ch, notice, post, 0};
    struct relay_item **before = rl->lines.tail;
    gw_text_split(text, budget, push_piece, &sp);
    /* The read position moves once the whole line is out: its seq goes on
     * the last piece that was queued. */
    if (seq > 0 && *before != NULL) {
        struct relay_item *last = *before;
        while (last->next != NULL)
            last = last->next;
        last->seq = seq;
    }
    gw_relay__pump(rl);
}

void gw_relay__queue_line(struct gw_relay *rl, struct relay_chan *ch,
                          const struct gw_line *l, bool dm)
{
    char *text = gw_relay_format(l, dm);
    char *clean = gw_text_sanitize(text, strlen(text));
    bool post = l->from != NULL && l->msgid != NULL &&
                strchr(l->msgid, '.') == NULL && !l->notice;
    queue_text(rl, ch, l->notice, post, clean, l->seq);
    free(clean);
    free(text);
}

void gw_relay__queue_say(struct gw_relay *rl, struct relay_chan *ch,
                         bool notice, const char *text)
{
    char *clean = gw_text_sanitize(text, strlen(text));
    queue_text(rl, ch, notice, false, clean, 0);
    free(clean);
}

struct tell_split {
    struct gw_relay *rl;
    const char *nick;
};

static int push_tell(void *arg, const char *line, size_t len)
{
    struct tell_split *t = arg;
    struct gw_relay *rl = t->rl;
    if (rl->tells.n >= rl->tells.max) {
        rl->tells_dropped++;
        return 1;
    }
    struct relay_item *it = gw_xcalloc(1, sizeof(*it));
    it->target = gw_xstrdup(t->nick);
    it->text = gw_xstrndup(line, len);
    it->notice = true;
    queue_push(&rl->tells, it);
    return 0;
}

void gw_relay__queue_tell(struct gw_relay *rl, const char *nick,
                          const char *text)
{
    char *clean = gw_text_sanitize(text, strlen(text));
    struct tell_split t = {rl, nick};
    gw_text_split(clean,
                  gw_relay_budget(rl->nick, rl->userhost, "NOTICE", nick),
                  push_tell, &t);
    free(clean);
    gw_relay__pump(rl);
}

/* ---- sending ------------------------------------------------------------ */

/* Lines that did not fit: one line per channel once there is room. */
static void summaries(struct gw_relay *rl)
{
    if (rl->lines.n > rl->lines.max / 2)
        return;
    for (int i = 0; i < rl->nchans; i++) {
        struct relay_chan *ch = &rl->chans[i];
        if (!ch->joined || (ch->dropped == 0 && ch->dropped_lines == 0))
            continue;
        char text[200];
        if (ch->dropped > 0 && ch->dropped_lines > 0)
            snprintf(text, sizeof(text),
                     "%d more mentions and %d other lines did not fit the "
                     "queue: !pending lists what is open",
                     ch->dropped, ch->dropped_lines);
        else if (ch->dropped > 0)
            snprintf(text, sizeof(text), "%d more mentions: !pending",
                     ch->dropped);
        else
            snprintf(text, sizeof(text),
                     "%d more lines did not fit the queue: !pending lists "
                     "what is open",
                     ch->dropped_lines);
        ch->dropped = ch->dropped_lines = 0;
        struct relay_item *it = gw_xcalloc(1, sizeof(*it));
        it->chan = ch;
        it->target = gw_xstrdup(ch->name);
        it->text = gw_xstrdup(text);
        it->notice = true;
        queue_push(&rl->lines, it);
    }
}

static void on_send_timer(uv_timer_t *t)
{
    gw_relay__pump(t->data);
}

/* One item to libircclient; false when its buffer is full (the item is
 * put back and sent after libircclient has written). */
static bool send_item(struct gw_relay *rl, irc_session_t *s,
                      struct relay_item *it)
{
    int rc = it->notice ? irc_cmd_notice(s, it->target, it->text)
                        : irc_cmd_msg(s, it->target, it->text);
    if (rc != 0 && irc_errno(s) == LIBIRC_ERR_NOMEM)
        return false;
    if (it->chan != NULL && it->seq > 0)
        gw_router_read(rl->gw->router, &it->chan->sp, it->seq);
    return true;
}

void gw_relay__pump(struct gw_relay *rl)
{
    irc_session_t *s = gw_relay__session(rl);
    if (s == NULL || !rl->registered || rl->send_blocked)
        return;
    int64_t now = gw_now_ms();
    bool sent = false;
    for (;;) {
        summaries(rl);
        struct relay_queue *q =
            rl->tells.head != NULL ? &rl->tells : &rl->lines;
        struct relay_item *it = q->head;
        if (it == NULL)
            break;
        /* A channel we are not in: its lines wait in the store (the read
         * position has not moved past them) and come back at the JOIN. */
        if (it->chan != NULL && !it->chan->joined) {
            item_free(queue_pop(q));
            continue;
        }
        if (!gw_relay_bucket_take(&rl->bucket, now))
            break;
        if (!send_item(rl, s, it)) {
            rl->bucket.tokens += 1.0;
            rl->send_blocked = true;
            break;
        }
        sent = true;
        item_free(queue_pop(q));
    }
    if (rl->tells.head == NULL && rl->tells_dropped > 0) {
        gw_log(rl->gw, GW_LOG_WARN, "relay %s: %d answers were not sent",
               rl->cfg.name, rl->tells_dropped);
        rl->tells_dropped = 0;
    }
    if (sent)
        gw_relay__poll_update(rl);
    if (!rl->send_blocked && gw_relay__queued(rl) > 0 && !rl->stopping)
        uv_timer_start(&rl->send_timer, on_send_timer,
                       (uint64_t)gw_relay_bucket_wait(&rl->bucket, now), 0);
}
