#include "gw_router.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "gw_gateway.h"
#include "gw_ircd.h"
#include "gw_limits.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

/* Lines replayed to a client that reconnects; the rest is summarised. */
#define PLAYBACK_MAX 200
/* Lines shown to a nick that never connected before. */
#define PLAYBACK_NEW 50
/* Outbox back-off: 1 s doubling to 5 min. */
#define OUTBOX_BACKOFF_MIN_MS 1000
#define OUTBOX_BACKOFF_MAX_MS 300000

struct gw_query {
    struct gw_query *next;
    uint64_t token;
    char *account;
    char *origin;
    bool origin_is_query;
};

struct gw_ad_timer {
    struct gw_ad_timer *next;
    uv_timer_t timer;
    struct gw_router *r;
    gw_ad_timer_cb cb;
    void *arg;
    bool stopped;
};

#define QUERY_TOKEN_BIT (UINT64_C(1) << 62)

static void outbox_schedule(struct gw_router *r);
static void outbox_dispatch_due(struct gw_router *r);

/* ---- small helpers ------------------------------------------------- */

static struct gw_ircd *ircd(struct gw_router *r)
{
    return r->gw->ircd;
}

static struct gw_store *store(struct gw_router *r)
{
    return r->gw->store;
}

void gw__control_say(struct gw_router *r, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    char *clean = gw_text_sanitize(text, strlen(text));
    gw_ircd_bot_say(ircd(r), r->gw->cfg->control_channel, "%s", clean);
    free(clean);
}

struct gw_account *gw__router_account(struct gw_router *r, const char *name)
{
    for (struct gw_account *a = r->accounts; a; a = a->next)
        if (gw_strcasecmp(a->name, name) == 0)
            return a;
    return NULL;
}

struct gw_account *gw__router_account_by_channel(struct gw_router *r,
                                                 const char *channel)
{
    for (struct gw_account *a = r->accounts; a; a = a->next)
        if (gw_strcasecmp(a->channel, channel) == 0)
            return a;
    return NULL;
}

const char *gw__account_setting(const struct gw_account *a, const char *key)
{
    for (int i = 0; i < a->nsettings; i++)
        if (strcmp(a->settings[i].key, key) == 0)
            return a->settings[i].value;
    return NULL;
}

int gw__account_config_line(const struct gw_account *a, const char *key)
{
    const struct gw_conf_account *ca =
        gw_config_account(a->r->gw->cfg, a->name);
    if (ca == NULL)
        return 0;
    for (int i = 0; i < ca->nkv; i++)
        if (strcmp(ca->kv[i].key, key) == 0)
            return ca->kv[i].line;
    return 0;
}

static void settings_clear(struct gw_account *a)
{
    for (int i = 0; i < a->nsettings; i++) {
        free(a->settings[i].key);
        free(a->settings[i].value);
    }
    free(a->settings);
    a->settings = NULL;
    a->nsettings = 0;
}

static void settings_put(struct gw_account *a, const char *key,
                         const char *value)
{
    for (int i = 0; i < a->nsettings; i++)
        if (strcmp(a->settings[i].key, key) == 0)
            return; /* the first source wins: config before store */
    a->settings = gw_xrealloc(a->settings, sizeof(*a->settings) *
                                               (size_t)(a->nsettings + 1));
    a->settings[a->nsettings].key = gw_xstrdup(key);
    a->settings[a->nsettings].value = gw_xstrdup(value);
    a->nsettings++;
}

static void store_setting_cb(void *arg, const char *key, const char *value)
{
    struct gw_account *a = arg;
    if (key[0] != '_')
        settings_put(a, key, value);
}

/* Config keys first, then the store: gateway.conf is the user's word. */
static void settings_build(struct gw_account *a)
{
    settings_clear(a);
    const struct gw_conf_account *ca =
        gw_config_account(a->r->gw->cfg, a->name);
    if (ca)
        for (int i = 0; i < ca->nkv; i++)
            settings_put(a, ca->kv[i].key, ca->kv[i].value);
    gw_store_setting_each(store(a->r), a->name, store_setting_cb, a);
    free(a->channel);
    const char *ch = gw__account_setting(a, "channel");
    a->channel = ch ? gw_xstrdup(ch) : gw_xasprintf("#%s", a->name);
    const char *pp = gw__account_setting(a, "post_plain");
    a->post_plain = false;
    if (pp)
        gw_config_parse_bool(pp, &a->post_plain);
}

static void account_topic(struct gw_account *a, char *buf, size_t size)
{
    snprintf(buf, size,
             "Parley: %s account '%s'. Type !help for commands; "
             "mentions and replies arrive here, DMs as queries.",
             a->network, a->name);
}

void gw__router_account_start(struct gw_account *a)
{
    char topic[300];
    if (a->running || !a->enabled || a->r->stopping)
        return;
    account_topic(a, topic, sizeof(topic));
    if (gw_ircd_channel_open(ircd(a->r), a->channel, topic, 0) < 0) {
        gw__control_say(a->r, "%s: cannot open channel %s", a->name,
                        a->channel);
        return;
    }
    a->ad.ops = a->ops;
    a->ad.priv = NULL;
    a->ad.gw = a->r->gw;
    a->ad.name = a->name;
    a->ad.core = a;
    a->running = true;
    if (a->ops->start(&a->ad) < 0) {
        a->running = false;
        gw_log(a->r->gw, GW_LOG_WARN, "account %s did not start", a->name);
        return;
    }
    gw_log(a->r->gw, GW_LOG_INFO, "account %s (%s) started", a->name,
           a->network);
    gw__router_outbox_kick(a->r);
}

static void fail_queries_of(struct gw_router *r, const char *account);

static void inflight_drop_account(struct gw_router *r, const char *account);

void gw__router_account_stop(struct gw_account *a)
{
    if (!a->running)
        return;
    a->ops->stop(&a->ad);
    a->running = false;
    a->ad.priv = NULL;
    /* Actions in flight stay pending in the outbox and are sent again
     * (with the same idempotency key) when the account comes back. */
    struct gw_router *r = a->r;
    inflight_drop_account(r, a->name);
    fail_queries_of(r, a->name);
}

static bool is_inflight(struct gw_router *r, int64_t id)
{
    for (int i = 0; i < r->ninflight; i++)
        if (r->inflight[i] == id)
            return true;
    return false;
}

static void inflight_del(struct gw_router *r, int64_t id)
{
    for (int i = 0; i < r->ninflight; i++) {
        if (r->inflight[i] == id) {
            r->inflight[i] = r->inflight[--r->ninflight];
            return;
        }
    }
}

static void inflight_drop_account(struct gw_router *r, const char *account)
{
    for (int i = 0; i < r->ninflight;) {
        struct gw_outbox_item it;
        memset(&it, 0, sizeof(it));
        if (gw_store_outbox_get(store(r), r->inflight[i], &it) == 0 &&
            gw_strcasecmp(it.account, account) == 0) {
            r->inflight[i] = r->inflight[--r->ninflight];
        } else {
            i++;
        }
        gw_outbox_item_free(&it);
    }
}

void gw__router_account_refresh(struct gw_account *a, bool restart)
{
    char *old_channel = gw_xstrdup(a->channel);
    bool was = a->running;
    if (restart && was) {
        gw__router_account_stop(a);
        inflight_drop_account(a->r, a->name);
    }
    settings_build(a);
    if (gw_strcasecmp(old_channel, a->channel) != 0)
        gw_ircd_channel_close(ircd(a->r), old_channel, "Account moved");
    free(old_channel);
    if (restart && was)
        gw__router_account_start(a);
}

struct gw_account *gw__router_account_load(struct gw_router *r,
                                           const char *name)
{
    struct gw_account_row row;
    memset(&row, 0, sizeof(row));
    if (gw_store_account_get(store(r), name, &row) < 0)
        return NULL;
    const struct gw_adapter_ops *ops = gw_adapter_find(row.network);
    if (ops == NULL) {
        gw__control_say(r,
                        "account %s: network '%s' is not known to this "
                        "build; it stays stored but off",
                        row.name, row.network);
        gw_account_row_free(&row);
        return NULL;
    }
    struct gw_account *a = gw_xcalloc(1, sizeof(*a));
    a->r = r;
    a->name = gw_xstrdup(row.name);
    a->network = gw_xstrdup(row.network);
    a->enabled = row.enabled;
    a->ops = ops;
    a->from_config = gw_config_account(r->gw->cfg, row.name) != NULL;
    a->channel = gw_xstrdup("");
    gw_account_row_free(&row);
    settings_build(a);
    a->next = r->accounts;
    r->accounts = a;
    return a;
}

static void account_free(struct gw_account *a)
{
    settings_clear(a);
    free(a->name);
    free(a->network);
    free(a->channel);
    free(a->cw_next);
    free(a->cursor_name);
    free(a->cursor_value);
    free(a);
}

void gw__router_account_drop(struct gw_account *a)
{
    struct gw_router *r = a->r;
    gw__router_account_stop(a);
    inflight_drop_account(r, a->name);
    gw_ircd_channel_close(ircd(r), a->channel, "Account removed");
    for (struct gw_account **pp = &r->accounts; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    account_free(a);
}

/* ---- nicks for network people -------------------------------------- */

static void sanitize_ident(const char *in, size_t n, char *out, size_t size,
                           bool host)
{
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < size; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (isalnum(ch) || ch == '-' || ch == '.' || (host && ch == ':') ||
            (!host && ch == '_'))
            out[j++] = (char)ch;
        else if (ch < 0x80 || (ch & 0xC0) == 0xC0)
            out[j++] = host ? '-' : '_';
    }
    if (j == 0)
        out[j++] = host ? 'x' : 'u';
    out[j] = '\0';
}

static void nick_base(const char *s, size_t n, char *out, size_t size)
{
    static const char special[] = "[]\\`_^{|}-";
    size_t j = 0;
    for (size_t i = 0; i < n && j + 1 < size && j < GW_NICK_MAX; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (isalnum(ch) || (ch && strchr(special, ch)))
            out[j++] = (char)ch;
        else if (ch == '.')
            out[j++] = '_';
        else if (ch < 0x80 || (ch & 0xC0) == 0xC0)
            out[j++] = '_';
    }
    out[j] = '\0';
    if (j == 0 || isdigit((unsigned char)out[0]) || out[0] == '-') {
        char tmp[GW_NICK_MAX + 2];
        snprintf(tmp, sizeof(tmp), "_%s", out);
        tmp[GW_NICK_MAX] = '\0';
        gw_strlcpy(out, tmp, size);
    }
}

/* Who holds this nick in the store's nick map? */
static bool nick_mapped_to_other(struct gw_router *r, const char *nick,
                                 const char *handle)
{
    char key[96], *owner = NULL;
    char lower[GW_NICK_MAX + 1];
    gw_strlcpy(lower, nick, sizeof(lower));
    gw_strlower(lower);
    snprintf(key, sizeof(key), "handle-of:%s", lower);
    if (gw_store_kv_get(store(r), key, &owner) < 0)
        return false;
    bool other = gw_strcasecmp(owner, handle) != 0;
    free(owner);
    return other;
}

/*
 * The IRC nick for a network handle: the local part made IRC-safe; on a
 * clash local_domain, then numbered. Stored both ways, so a person keeps
 * their nick across restarts and bouncers see stable nicks.
 */
static void nick_for(struct gw_router *r, const char *handle, char *out,
                     size_t size)
{
    char key[600], *stored = NULL;
    char lower[512];
    gw_strlcpy(lower, handle, sizeof(lower));
    gw_strlower(lower);
    snprintf(key, sizeof(key), "nick-of:%s", lower);
    if (gw_store_kv_get(store(r), key, &stored) == 0) {
        bool client_has_it = gw_ircd_nick_taken(ircd(r), stored) &&
                             !gw_ircd_is_puppet(ircd(r), stored);
        if (!client_has_it) {
            gw_strlcpy(out, stored, size);
            free(stored);
            return;
        }
        free(stored);
    }
    const char *at = strchr(handle, '@');
    size_t locallen = at ? (size_t)(at - handle) : strlen(handle);
    char base[GW_NICK_MAX + 1], cand[GW_NICK_MAX + 1];
    nick_base(handle, locallen, base, sizeof(base));
    gw_strlcpy(cand, base, sizeof(cand));
    for (int n = 0;; n++) {
        if (n == 1 && at) {
            const char *dom = at + 1;
            const char *dot = strchr(dom, '.');
            size_t dl = dot ? (size_t)(dot - dom) : strlen(dom);
            char d[GW_NICK_MAX + 1];
            nick_base(dom, dl, d, sizeof(d));
            snprintf(cand, sizeof(cand), "%.*s_%s",
                     (int)(GW_NICK_MAX - 1 - strlen(d) > 0
                               ? GW_NICK_MAX - 1 - strlen(d)
                               : 1),
                     base, d[0] == '_' ? d + 1 : d);
        } else if (n >= 2) {
            char num[16];
            snprintf(num, sizeof(num), "%d", n);
            snprintf(cand, sizeof(cand), "%.*s%s",
                     (int)(GW_NICK_MAX - strlen(num)), base, num);
        }
        bool taken = gw_ircd_nick_taken(ircd(r), cand) &&
                     !gw_ircd_is_puppet(ircd(r), cand);
        if (!taken && !nick_mapped_to_other(r, cand, handle))
            break;
        if (n > 1000)
            break;
    }
    gw_strlcpy(out, cand, size);
    char ckey[96];
    gw_strlcpy(lower, cand, sizeof(lower));
    gw_strlower(lower);
    snprintf(ckey, sizeof(ckey), "handle-of:%s", lower);
    gw_store_kv_set(store(r), key, cand);
    gw_store_kv_set(store(r), ckey, handle);
}

/* Make (or refresh) the puppet for an author; fills nick and prefix. */
static int puppet_for(struct gw_account *a, const char *handle,
                      const char *name, const char *url, char *nick,
                      size_t nsize, char *prefix, size_t psize)
{
    struct gw_router *r = a->r;
    nick_for(r, handle, nick, nsize);
    const char *at = strchr(handle, '@');
    size_t locallen = at ? (size_t)(at - handle) : strlen(handle);
    char user[64], host[128];
    sanitize_ident(handle, locallen, user, sizeof(user), false);
    if (at)
        sanitize_ident(at + 1, strlen(at + 1), host, sizeof(host), true);
    else
        gw_strlcpy(host, a->network, sizeof(host));
    char whois[1024];
    char *cname = gw_text_sanitize(name ? name : "", name ? strlen(name) : 0);
    for (char *p = cname; *p; p++)
        if (*p == '\n')
            *p = ' ';
    snprintf(whois, sizeof(whois), "is %s on %s (account %s)\n%s%s", handle,
             a->network, a->name, url && *url ? "profile: " : "",
             url && *url ? url : "");
    char *cwhois = gw_text_sanitize(whois, strlen(whois));
    int rc = gw_ircd_puppet_set(ircd(r), nick, user, host, cname, cwhois);
    free(cname);
    free(cwhois);
    snprintf(prefix, psize, "%s!%s@%s", nick, user, host);
    return rc;
}

/*
 * The person behind a nick the gateway gave out: their handle, the account
 * that last saw them (by their latest post in the query or the account's
 * channel; the only account when there is one; else NULL) and, when out is
 * given, that post. UV_ENOENT when the nick was never a person's.
 */
static int person_by_nick(struct gw_router *r, const char *nick, char **handle,
                          struct gw_account **acct, struct gw_post *out)
{
    char key[96], lower[GW_NICK_MAX + 1];
    *handle = NULL;
    *acct = NULL;
    if (strlen(nick) > GW_NICK_MAX)
        return UV_ENOENT;
    gw_strlcpy(lower, nick, sizeof(lower));
    gw_strlower(lower);
    snprintf(key, sizeof(key), "handle-of:%s", lower);
    if (gw_store_kv_get(store(r), key, handle) < 0)
        return UV_ENOENT;
    /* Their latest post, in the query or else in an account channel. */
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    bool found = gw_store_post_latest_by(store(r), lower, *handle, &p) == 0;
    for (struct gw_account *a = r->accounts; a && !found; a = a->next)
        found = gw_store_post_latest_by(store(r), a->channel, *handle, &p) == 0;
    if (found)
        *acct = gw__router_account(r, p.account);
    if (*acct && out)
        *out = p;
    else
        gw_post_free(&p);
    if (*acct == NULL && r->accounts && r->accounts->next == NULL)
        *acct = r->accounts;
    return 0;
}

/* ---- showing things on IRC ------------------------------------------ */

struct show {
    struct gw_router *r;
    const char *target; /* channel, or the puppet nick of a query */
    bool query;         /* to every client, addressed to its nick */
    const char *prefix;
    const char *command;
    int64_t time_ms;
    const char *ref; /* msgid base */
    int n;           /* lines so far */
    /* Collected lines, shown after the transaction commits. */
    char **lines;
    char **msgids;
    int nlines;
};

static int collect_line(void *arg, const char *line, size_t len)
{
    struct show *s = arg;
    char msgid[48];
    if (s->ref && s->n == 0)
        gw_strlcpy(msgid, s->ref, sizeof(msgid));
    else if (s->ref)
        snprintf(msgid, sizeof(msgid), "%s.%d", s->ref, s->n + 1);
    else
        gw_random_hex(msgid, 17);
    s->n++;
    s->lines = gw_xrealloc(s->lines, sizeof(char *) * (size_t)(s->nlines + 1));
    s->msgids =
        gw_xrealloc(s->msgids, sizeof(char *) * (size_t)(s->nlines + 1));
    s->lines[s->nlines] = gw_xstrndup(line, len);
    s->msgids[s->nlines] = gw_xstrdup(msgid);
    s->nlines++;
    return 0;
}

static size_t line_budget(const struct show *s)
{
    size_t tlen = strlen(s->target);
    if (s->query && tlen < GW_NICK_MAX)
        tlen = GW_NICK_MAX;
    size_t overhead =
        1 + strlen(s->prefix) + 1 + strlen(s->command) + 1 + tlen + 2 + 2;
    return overhead < 400 ? GW_IRC_LINE_MAX - overhead : 100;
}

struct seen_mark {
    struct gw_router *r;
    int64_t id;
};

static void mark_seen_cb(void *arg, struct gw_client *c)
{
    struct seen_mark *m = arg;
    char key[96], val[32];
    snprintf(key, sizeof(key), "seen:%s/%s", gw_client_nick(c),
             gw_client_user(c));
    gw_strlower(key);
    snprintf(val, sizeof(val), "%lld", (long long)m->id);
    gw_store_kv_set(store(m->r), key, val);
}

/*
 * Connected clients are about to see history up to id: their read
 * positions move in the same transaction, so a crash right after can
 * neither lose a line for them nor play it back twice.
 */
static void mark_seen(struct gw_router *r, int64_t id)
{
    struct seen_mark m = {r, id};
    gw_ircd_each_client(r->gw->ircd, mark_seen_cb, &m);
}

/* Split text into lines and record each in history (inside the caller's
 * transaction). */
static int show_prepare(struct show *s, const char *text)
{
    char *clean = gw_text_sanitize(text, strlen(text));
    gw_text_split(clean, line_budget(s), collect_line, s);
    free(clean);
    char hist_target[128];
    gw_strlcpy(hist_target, s->target, sizeof(hist_target));
    gw_strlower(hist_target);
    int64_t last = 0;
    for (int i = 0; i < s->nlines; i++) {
        int rc = gw_store_history_add(store(s->r), hist_target, s->time_ms,
                                      s->msgids[i], s->prefix, s->command,
                                      s->lines[i], "", &last);
        if (rc < 0)
            return rc;
    }
    if (last)
        s->r->group_seen = last;
    return 0;
}

static void show_send(struct show *s)
{
    for (int i = 0; i < s->nlines; i++) {
        struct gw_out o;
        memset(&o, 0, sizeof(o));
        o.prefix = s->prefix;
        o.command = s->command;
        o.params[0] = s->target;
        o.params[1] = s->lines[i];
        o.nparams = 2;
        o.time_ms = s->time_ms;
        o.msgid = s->msgids[i];
        if (s->query) {
            o.to_each_nick = true;
            gw_ircd_send_all(ircd(s->r), &o);
        } else {
            gw_ircd_send_channel(ircd(s->r), s->target, &o, NULL);
        }
    }
}

static void show_free(struct show *s)
{
    for (int i = 0; i < s->nlines; i++) {
        free(s->lines[i]);
        free(s->msgids[i]);
    }
    free(s->lines);
    free(s->msgids);
}

static void on_checkpoint(uv_timer_t *t);

/* A show waiting for the group transaction to commit. */
struct gw_pending {
    struct gw_pending *next;
    struct show s;
    char *join_nick; /* puppet to join to s.target first, or NULL */
    char *target, *prefix, *command, *ref;
};

/* Open the group transaction if it is not open yet. */
static int group_begin(struct gw_router *r)
{
    if (r->group_open)
        return 0;
    int rc = gw_store_begin(store(r));
    if (rc == 0)
        r->group_open = true;
    return rc;
}

static void pending_free(struct gw_pending *p)
{
    show_free(&p->s);
    free(p->join_nick);
    free(p->target);
    free(p->prefix);
    free(p->command);
    free(p->ref);
    free(p);
}

/* Queue a prepared show (its strings are copied) until the commit. */
static void group_queue(struct gw_router *r, struct show *s,
                        const char *join_nick)
{
    struct gw_pending *p = gw_xcalloc(1, sizeof(*p));
    p->s = *s;
    p->target = gw_xstrdup(s->target);
    p->prefix = gw_xstrdup(s->prefix);
    p->command = gw_xstrdup(s->command);
    p->ref = s->ref ? gw_xstrdup(s->ref) : NULL;
    p->s.target = p->target;
    p->s.prefix = p->prefix;
    p->s.command = p->command;
    p->s.ref = p->ref;
    p->join_nick = join_nick ? gw_xstrdup(join_nick) : NULL;
    memset(s, 0, sizeof(*s)); /* the lines now belong to p */
    *r->pending_tail = p;
    r->pending_tail = &p->next;
}

/* Store the cursor the adapter last moved (in the open transaction). */
static int cursor_write(struct gw_account *a)
{
    if (a->cursor_name == NULL)
        return 0;
    int rc = gw_store_cursor_set(store(a->r), a->name, a->cursor_name,
                                 a->cursor_value);
    if (rc < 0)
        gw_log(a->r->gw, GW_LOG_WARN,
               "%s: could not store the stream position (%s); "
               "events after it will be fetched again",
               a->name, gw_store_errmsg(store(a->r)));
    free(a->cursor_name);
    free(a->cursor_value);
    a->cursor_name = a->cursor_value = NULL;
    return rc;
}

/*
 * Commit the group and only then show what it stored: nothing reaches IRC
 * that a crash could take back. Also called before anything that must not
 * run inside a transaction (the outbox).
 */
static void group_flush(struct gw_router *r)
{
    if (!r->group_open)
        return;
    /* Connected clients are about to see everything the group holds: their
     * read positions move in the same transaction, once per group. */
    if (r->group_seen) {
        mark_seen(r, r->group_seen);
        r->group_seen = 0;
    }
    /* A cursor that fails to store only lags: what it passed is fetched
     * again and found already stored. */
    for (struct gw_account *a = r->accounts; a; a = a->next)
        cursor_write(a);
    r->group_open = false;
    int rc = gw_store_commit(store(r));
    struct gw_pending *p = r->pending;
    r->pending = NULL;
    r->pending_tail = &r->pending;
    if (rc < 0)
        gw_log(r->gw, GW_LOG_ERROR,
               "store: could not commit events (%s); "
               "they will be fetched again",
               gw_store_errmsg(store(r)));
    while (p) {
        struct gw_pending *next = p->next;
        if (rc == 0) {
            if (p->join_nick)
                gw_ircd_puppet_join(ircd(r), p->join_nick, p->target);
            show_send(&p->s);
        }
        pending_free(p);
        p = next;
    }
    if (rc == 0) {
        /* Every puppet of the group has been shown: now the least recently
         * heard from may go. */
        gw_ircd_puppets_trim(ircd(r), GW_PUPPETS_MAX);
        gw_ircd_flush(ircd(r));
        /* Checkpoint a second after writing, not while writing; an idle
         * gateway arms no timer at all. */
        if (!uv_is_active((uv_handle_t *)&r->checkpoint_timer))
            uv_timer_start(&r->checkpoint_timer, on_checkpoint, 1000, 0);
    }
}

void gw__router_group_flush(struct gw_router *r)
{
    group_flush(r);
}

static void on_checkpoint(uv_timer_t *t)
{
    struct gw_router *r = t->data;
    /* Events delivered from curl's timers share this phase of the loop,
     * so the group is often open here: waiting for it to be closed skipped
     * every checkpoint while a stream was busy, and the WAL grew until
     * the hook's emergency checkpoint. Commit it now instead; it was about
     * to be. */
    group_flush(r);
    if (gw_store_checkpoint(store(r)) < 0)
        gw_log(r->gw, GW_LOG_WARN, "store: %s", gw_store_errmsg(store(r)));
}

static void on_group_prepare(uv_prepare_t *h)
{
    group_flush(h->data);
}

/* Show text now (and record it), outside any post. */
static void show_text(struct gw_router *r, const char *target, bool query,
                      const char *prefix, const char *command, const char *text)
{
    struct show s;
    memset(&s, 0, sizeof(s));
    s.r = r;
    s.target = target;
    s.query = query;
    s.prefix = prefix;
    s.command = command;
    s.time_ms = gw_now_ms();
    if (group_begin(r) < 0 || show_prepare(&s, text) < 0) {
        /* Not stored: still worth saying. */
        show_send(&s);
        show_free(&s);
        return;
    }
    group_queue(r, &s, NULL);
}

static void bot_prefix(struct gw_router *r, char *buf, size_t size)
{
    snprintf(buf, size, "%s!%s@%s", gw_ircd_bot(ircd(r)), gw_ircd_bot(ircd(r)),
             gw_ircd_server_name(ircd(r)));
}

/* ---- events from adapters ------------------------------------------- */

static const char *kind_name(enum gw_event_kind k)
{
    switch (k) {
    case GW_EV_MENTION:
        return "mention";
    case GW_EV_REPLY:
        return "reply";
    case GW_EV_QUOTE:
        return "quote";
    case GW_EV_DM:
        return "dm";
    case GW_EV_EDIT:
        return "edit";
    case GW_EV_DELETE:
        return "delete";
    case GW_EV_FAV:
        return "fav";
    case GW_EV_BOOST:
        return "boost";
    case GW_EV_FOLLOW:
        return "follow";
    case GW_EV_OWN:
        return "own";
    }
    return "unknown";
}

static bool field_ok(const char *s, size_t max)
{
    return s && *s && strlen(s) <= max;
}

/* Body of a post as shown: CW, text, then media with their descriptions. */
static char *post_body(const struct gw_event *ev, const char *ref)
{
    struct gw_buf b;
    gw_buf_init(&b, 2 * 1024 * 1024);
    if (ref)
        gw_buf_printf(&b, "[%s] ", ref);
    if (ev->kind == GW_EV_QUOTE)
        gw_buf_puts(&b, "(quote) ");
    if (ev->cw && *ev->cw)
        gw_buf_printf(&b, "[CW: %s] ", ev->cw);
    gw_buf_puts(&b, ev->text ? ev->text : "");
    for (int i = 0; i < ev->nmedia && ev->media; i++) {
        const struct gw_media *m = &ev->media[i];
        if (m->url == NULL)
            continue;
        gw_buf_printf(&b, "\n[%s] %s", m->type && *m->type ? m->type : "media",
                      m->url);
        if (m->alt && *m->alt)
            gw_buf_printf(&b, " (alt: %s)", m->alt);
    }
    return gw_buf_steal(&b);
}

static int deliver_post(struct gw_account *a, const struct gw_event *ev)
{
    struct gw_router *r = a->r;
    char nick[GW_NICK_MAX + 1], prefix[256];
    if (!field_ok(ev->author, 256))
        return UV_EINVAL;
    /* Open the group first: the nick map lookups below then read inside
     * it, not each in a read transaction of its own (which, one event at a
     * time, took a tenth of the time per event). */
    int rc = group_begin(r);
    if (rc < 0)
        return rc;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    bool dm = ev->kind == GW_EV_DM;
    puppet_for(a, ev->author, ev->author_name, ev->author_url, nick,
               sizeof(nick), prefix, sizeof(prefix));
    p.account = a->name;
    p.network_id = (char *)ev->id;
    p.kind = (char *)kind_name(ev->kind);
    p.author = (char *)ev->author;
    p.author_name = (char *)(ev->author_name ? ev->author_name : "");
    p.author_url = (char *)(ev->author_url ? ev->author_url : "");
    p.url = (char *)(ev->url ? ev->url : "");
    p.text = (char *)(ev->text ? ev->text : "");
    p.conversation = (char *)(ev->conversation ? ev->conversation : "");
    p.in_reply_to = (char *)(ev->in_reply_to ? ev->in_reply_to : "");
    p.target = dm ? nick : a->channel;
    p.extra = (char *)(ev->extra ? ev->extra : "");
    p.created_ms = ev->created_ms ? ev->created_ms : gw_now_ms();
    p.state = ev->kind == GW_EV_OWN ? GW_POST_NONE : GW_POST_OPEN;

    rc = gw_store_post_put(store(r), &p);
    if (rc != 0)
        return rc; /* 1: already stored and shown once */
    struct show s;
    memset(&s, 0, sizeof(s));
    s.r = r;
    s.target = dm ? nick : a->channel;
    s.query = dm;
    s.prefix = prefix;
    s.command = "PRIVMSG";
    s.time_ms = p.created_ms;
    s.ref = p.ref;
    char *body = post_body(ev, p.ref);
    rc = show_prepare(&s, body);
    free(body);
    if (rc < 0) {
        show_free(&s);
        return rc;
    }
    group_queue(r, &s, dm ? NULL : nick);
    return 0;
}

/* Edits, deletes, favourites, boosts and follows: one NOTICE each, stored
 * under their own id so that a replay shows them once. */
static int deliver_notice(struct gw_account *a, const struct gw_event *ev)
{
    struct gw_router *r = a->r;
    char nick[GW_NICK_MAX + 1], prefix[256];
    /* As in deliver_post: the lookups below read inside the group. */
    int rc = group_begin(r);
    if (rc < 0)
        return rc;
    struct gw_post target;
    memset(&target, 0, sizeof(target));
    const char *about_id = (ev->kind == GW_EV_FAV || ev->kind == GW_EV_BOOST)
                               ? ev->target_id
                               : ev->id;
    bool known = about_id && gw_store_post_by_netid(store(r), a->name, about_id,
                                                    &target) == 0;
    if (ev->author && *ev->author)
        puppet_for(a, ev->author, ev->author_name, ev->author_url, nick,
                   sizeof(nick), prefix, sizeof(prefix));
    else
        bot_prefix(r, prefix, sizeof(prefix));

    char idbuf[300];
    const char *netid = ev->id;
    if (ev->kind == GW_EV_EDIT || ev->kind == GW_EV_DELETE) {
        /* One id is edited many times: key each edit by its time. */
        snprintf(idbuf, sizeof(idbuf), "%s#%lld", ev->id,
                 (long long)ev->created_ms);
        netid = idbuf;
    }
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    p.account = a->name;
    p.network_id = (char *)netid;
    p.kind = (char *)kind_name(ev->kind);
    p.author = (char *)(ev->author ? ev->author : "");
    p.text = (char *)(ev->text ? ev->text : "");
    p.in_reply_to = (char *)(about_id ? about_id : "");
    p.target = known && target.target ? target.target : a->channel;
    p.created_ms = ev->created_ms ? ev->created_ms : gw_now_ms();
    p.state = GW_POST_NONE;

    char *excerpt = gw_text_sanitize(ev->text ? ev->text : "",
                                     ev->text ? strlen(ev->text) : 0);
    for (char *q = excerpt; *q; q++)
        if (*q == '\n')
            *q = ' ';
    if (strlen(excerpt) > 200)
        excerpt[gw_utf8_cut(excerpt, 200)] = '\0';
    char reftxt[40] = "";
    if (known)
        snprintf(reftxt, sizeof(reftxt), "[%s] ", target.ref);
    char text[1024];
    switch (ev->kind) {
    case GW_EV_EDIT:
        snprintf(text, sizeof(text), "%sedited: %s", reftxt, excerpt);
        break;
    case GW_EV_DELETE:
        snprintf(text, sizeof(text), "%swas deleted by its author",
                 known ? reftxt : "a post ");
        break;
    case GW_EV_FAV:
        snprintf(text, sizeof(text), "favourited %s%s", reftxt, excerpt);
        break;
    case GW_EV_BOOST:
        snprintf(text, sizeof(text), "boosted %s%s", reftxt, excerpt);
        break;
    case GW_EV_FOLLOW:
        snprintf(text, sizeof(text), "%s followed you",
                 ev->author ? ev->author : "someone");
        break;
    default:
        text[0] = '\0';
    }
    free(excerpt);

    rc = gw_store_post_put(store(r), &p);
    if (rc == 0 && known && ev->kind == GW_EV_EDIT && ev->text)
        rc = gw_store_post_set_text(store(r), target.id, ev->text);
    if (rc != 0) {
        gw_post_free(&target);
        return rc;
    }
    bool query = known && target.target && target.target[0] != '#' &&
                 target.target[0] != '&';
    struct show s;
    memset(&s, 0, sizeof(s));
    s.r = r;
    s.target = query ? target.target : a->channel;
    s.query = query;
    s.prefix = prefix;
    s.command = "NOTICE";
    s.time_ms = p.created_ms;
    rc = show_prepare(&s, text);
    if (rc < 0)
        show_free(&s);
    else
        group_queue(r, &s, NULL);
    gw_post_free(&target);
    return rc;
}

int gw_ad_deliver(struct gw_adapter *ad, const struct gw_event *ev)
{
    struct gw_account *a = ad->core;
    if (a == NULL || !a->running)
        return UV_ECANCELED;
    if (ev == NULL || !field_ok(ev->id, 256))
        return UV_EINVAL;
    a->last_event_ms = gw_now_ms();
    switch (ev->kind) {
    case GW_EV_MENTION:
    case GW_EV_REPLY:
    case GW_EV_QUOTE:
    case GW_EV_DM:
    case GW_EV_OWN:
        return deliver_post(a, ev);
    case GW_EV_EDIT:
    case GW_EV_DELETE:
    case GW_EV_FAV:
    case GW_EV_BOOST:
    case GW_EV_FOLLOW:
        return deliver_notice(a, ev);
    }
    return UV_EINVAL;
}

/* ---- other upcalls -------------------------------------------------- */

const char *gw_ad_setting(struct gw_adapter *ad, const char *key)
{
    struct gw_account *a = ad->core;
    return gw__account_setting(a, key);
}

int gw_ad_setting_store(struct gw_adapter *ad, const char *key,
                        const char *value)
{
    struct gw_account *a = ad->core;
    int rc = gw_store_setting_set(store(a->r), a->name, key, value);
    if (rc == 0) {
        /* Rebuild without a restart: the adapter asked for it itself. */
        char *ch = gw_xstrdup(a->channel);
        settings_build(a);
        free(a->channel);
        a->channel = ch;
    }
    return rc;
}

/* Deliveries already share a transaction per loop iteration (the group);
 * a batch simply joins it. */
void gw_ad_batch_begin(struct gw_adapter *ad)
{
    struct gw_account *a = ad->core;
    group_begin(a->r);
}

void gw_ad_batch_end(struct gw_adapter *ad)
{
    (void)ad;
}

int gw_ad_cursor_get(struct gw_adapter *ad, const char *name, char **value)
{
    struct gw_account *a = ad->core;
    if (a->cursor_name && strcmp(a->cursor_name, name) == 0) {
        *value = a->cursor_value ? gw_xstrdup(a->cursor_value) : NULL;
        return a->cursor_value ? 0 : UV_ENOENT;
    }
    return gw_store_cursor_get(store(a->r), a->name, name, value);
}

int gw_ad_cursor_set(struct gw_adapter *ad, const char *name, const char *value)
{
    struct gw_account *a = ad->core;
    /* In the same transaction as the events it moves past: kept here and
     * stored once, when the group commits (group_flush). */
    int rc = group_begin(a->r);
    if (rc < 0)
        return rc;
    if (a->cursor_name && strcmp(a->cursor_name, name) != 0 &&
        (rc = cursor_write(a)) < 0)
        return rc;
    if (a->cursor_name == NULL)
        a->cursor_name = gw_xstrdup(name);
    free(a->cursor_value);
    a->cursor_value = value ? gw_xstrdup(value) : NULL; /* NULL: delete */
    return 0;
}

bool gw_ad_seen(struct gw_adapter *ad, const char *network_id)
{
    struct gw_account *a = ad->core;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    bool seen =
        gw_store_post_by_netid(store(a->r), a->name, network_id, &p) == 0;
    gw_post_free(&p);
    return seen;
}

void gw_ad_notice(struct gw_adapter *ad, const char *fmt, ...)
{
    struct gw_account *a = ad->core;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw_log(a->r->gw, GW_LOG_INFO, "%s: %s", a->name, text);
    /* Kept in the control channel's history: a client that connects later
     * still learns that a token was refused or a server is unreachable. */
    char line[2300], prefix[256];
    snprintf(line, sizeof(line), "%s: %s", a->name, text);
    bot_prefix(a->r, prefix, sizeof(prefix));
    show_text(a->r, a->r->gw->cfg->control_channel, false, prefix, "PRIVMSG",
              line);
}

struct gw_http *gw_ad_http(struct gw_adapter *ad)
{
    struct gw_account *a = ad->core;
    return a->r->gw->http;
}

static void ad_timer_closed(uv_handle_t *h)
{
    struct gw_ad_timer *t = h->data;
    t->r->open_handles--;
    free(t);
}

static void ad_timer_unlink(struct gw_ad_timer *t)
{
    for (struct gw_ad_timer **pp = &t->r->timers; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            return;
        }
    }
}

static void ad_timer_fire(uv_timer_t *h)
{
    struct gw_ad_timer *t = h->data;
    ad_timer_unlink(t);
    t->stopped = true;
    uv_close((uv_handle_t *)&t->timer, ad_timer_closed);
    t->cb(t->arg);
}

struct gw_ad_timer *gw_ad_timer_start(struct gw_adapter *ad, uint64_t ms,
                                      gw_ad_timer_cb cb, void *arg)
{
    struct gw_account *a = ad->core;
    struct gw_router *r = a->r;
    struct gw_ad_timer *t = gw_xcalloc(1, sizeof(*t));
    t->r = r;
    t->cb = cb;
    t->arg = arg;
    uv_timer_init(r->gw->loop, &t->timer);
    t->timer.data = t;
    r->open_handles++;
    uv_timer_start(&t->timer, ad_timer_fire, ms, 0);
    t->next = r->timers;
    r->timers = t;
    return t;
}

void gw_ad_timer_stop(struct gw_ad_timer *t)
{
    if (t == NULL || t->stopped)
        return;
    t->stopped = true;
    ad_timer_unlink(t);
    uv_close((uv_handle_t *)&t->timer, ad_timer_closed);
}

/* ---- the outbox ----------------------------------------------------- */

static const char *const action_names[GW_ACT_KIND_MAX] = {
    [GW_ACT_POST] = "post",       [GW_ACT_REPLY] = "reply",
    [GW_ACT_DM] = "dm",           [GW_ACT_FAV] = "fav",
    [GW_ACT_UNFAV] = "unfav",     [GW_ACT_BOOST] = "boost",
    [GW_ACT_UNBOOST] = "unboost", [GW_ACT_DELETE] = "delete",
    [GW_ACT_FOLLOW] = "follow",   [GW_ACT_UNFOLLOW] = "unfollow",
    [GW_ACT_THREAD] = "thread",   [GW_ACT_WHO] = "who",
};

static enum gw_action_kind action_kind(const char *name)
{
    for (int i = 1; i < GW_ACT_KIND_MAX; i++)
        if (action_names[i] && strcmp(action_names[i], name) == 0)
            return (enum gw_action_kind)i;
    return 0;
}

static bool origin_is_query(const char *origin)
{
    return origin[0] != '#' && origin[0] != '&';
}

/* A bot line to where the action came from. */
static void tell_origin(struct gw_router *r, const char *origin,
                        const char *fmt, ...) GW_PRINTF(3, 4);

static void tell_origin(struct gw_router *r, const char *origin,
                        const char *fmt, ...)
{
    char text[2048], prefix[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    bot_prefix(r, prefix, sizeof(prefix));
    bool query = origin_is_query(origin);
    if (query && !gw_ircd_is_puppet(ircd(r), origin)) {
        /* A query with the bot itself. */
        show_text(r, gw_ircd_bot(ircd(r)), true, prefix, "NOTICE", text);
        return;
    }
    if (query) {
        /* Inside a DM query: speak as the bot, but in that window. */
        show_text(r, origin, true, prefix, "NOTICE", text);
        return;
    }
    show_text(r, origin, false, prefix, "NOTICE", text);
}

/* Parse "mentions" and friends out of the adapter's JSON for a post. */
static void post_ref_fill(const struct gw_post *p, struct gw_post_ref *ref)
{
    memset(ref, 0, sizeof(*ref));
    ref->id = p->network_id;
    ref->author = p->author;
    ref->conversation = p->conversation;
    ref->extra = p->extra;
}

static void outbox_done(struct gw_router *r, int64_t id,
                        const struct gw_action_result *res);

static void outbox_dispatch(struct gw_router *r, struct gw_outbox_item *it)
{
    struct gw_account *a = gw__router_account(r, it->account);
    if (a == NULL) {
        gw_store_outbox_failed(store(r), it->id, "the account was removed");
        return;
    }
    if (!a->running || is_inflight(r, it->id))
        return;
    cJSON *pl = cJSON_Parse(it->payload);
    enum gw_action_kind kind = action_kind(it->action);
    if (pl == NULL || kind == 0) {
        cJSON_Delete(pl);
        gw_store_outbox_failed(store(r), it->id, "unreadable outbox entry");
        return;
    }
    const char *text = cJSON_GetStringValue(cJSON_GetObjectItem(pl, "text"));
    const char *cw = cJSON_GetStringValue(cJSON_GetObjectItem(pl, "cw"));
    const char *vis =
        cJSON_GetStringValue(cJSON_GetObjectItem(pl, "visibility"));
    const char *handle =
        cJSON_GetStringValue(cJSON_GetObjectItem(pl, "handle"));
    const char *parent =
        cJSON_GetStringValue(cJSON_GetObjectItem(pl, "parent"));
    struct gw_post pp;
    struct gw_post_ref ref;
    memset(&pp, 0, sizeof(pp));
    bool have_parent = false;
    if (parent) {
        if (gw_store_post_by_ref(store(r), parent, &pp) < 0) {
            cJSON_Delete(pl);
            gw_store_outbox_failed(store(r), it->id, "the post is not known");
            tell_origin(r, it->origin, "%s: [%s] is not known", it->who,
                        parent);
            return;
        }
        post_ref_fill(&pp, &ref);
        have_parent = true;
    }
    struct gw_action act;
    memset(&act, 0, sizeof(act));
    act.token = (uint64_t)it->id;
    act.kind = kind;
    act.text = text;
    act.cw = cw;
    act.visibility = vis;
    act.handle = handle;
    act.parent = have_parent ? &ref : NULL;
    act.idem_key = it->idem_key;
    if (a->ops->act == NULL) {
        struct gw_action_result res;
        memset(&res, 0, sizeof(res));
        res.status = GW_ACT_UNSUPPORTED;
        outbox_done(r, it->id, &res);
    } else {
        if (r->ninflight == r->capinflight) {
            r->capinflight = r->capinflight ? r->capinflight * 2 : 16;
            r->inflight = gw_xrealloc(r->inflight, sizeof(*r->inflight) *
                                                       (size_t)r->capinflight);
        }
        r->inflight[r->ninflight++] = it->id;
        if (a->ops->act(&a->ad, &act) < 0) {
            inflight_del(r, it->id);
            gw_store_outbox_failed(store(r), it->id,
                                   "the network adapter refused it");
        }
    }
    gw_post_free(&pp);
    cJSON_Delete(pl);
}

static void outbox_dispatch_due(struct gw_router *r)
{
    struct gw_outbox_item *items = NULL;
    int n = gw_store_outbox_due(store(r), gw_now_ms(), 100, &items);
    for (int i = 0; i < n && !r->stopping; i++)
        outbox_dispatch(r, &items[i]);
    gw_outbox_items_free(items, n > 0 ? n : 0);
    outbox_schedule(r);
}

static void on_outbox_timer(uv_timer_t *t)
{
    struct gw_router *r = t->data;
    outbox_dispatch_due(r);
}

static void outbox_schedule(struct gw_router *r)
{
    int64_t next;
    if (r->stopping)
        return;
    if (gw_store_outbox_next_time(store(r), &next) < 0) {
        uv_timer_stop(&r->outbox_timer);
        return;
    }
    int64_t delay = next - gw_now_ms();
    if (delay < 0)
        delay = 0;
    /* Items whose account is down would spin the timer at 0 ms. */
    if (delay < 1000)
        delay = 1000;
    uv_timer_start(&r->outbox_timer, on_outbox_timer, (uint64_t)delay, 0);
}

void gw__router_outbox_kick(struct gw_router *r)
{
    if (r->stopping)
        return;
    outbox_dispatch_due(r);
}

int gw__router_outbox_retry(struct gw_router *r, int64_t id)
{
    int rc = gw_store_outbox_requeue(store(r), id);
    if (rc == 0)
        gw__router_outbox_kick(r);
    return rc;
}

static void record_undo(struct gw_router *r, const char *account,
                        const char *who, const char *ref)
{
    char key[256];
    snprintf(key, sizeof(key), "undo:%s:%s", account, who);
    gw_strlower(key);
    gw_store_kv_set(store(r), key, ref);
}

static void outbox_done(struct gw_router *r, int64_t id,
                        const struct gw_action_result *res)
{
    struct gw_outbox_item it;
    memset(&it, 0, sizeof(it));
    inflight_del(r, id);
    if (gw_store_outbox_get(store(r), id, &it) < 0)
        return;
    if (it.state != GW_OUTBOX_PENDING) {
        gw_outbox_item_free(&it);
        return;
    }
    struct gw_account *a = gw__router_account(r, it.account);
    const char *msg = res->message && *res->message ? res->message : "";
    cJSON *pl = cJSON_Parse(it.payload);
    const char *parent =
        pl ? cJSON_GetStringValue(cJSON_GetObjectItem(pl, "parent")) : NULL;
    switch (res->status) {
    case GW_ACT_OK: {
        gw_store_outbox_sent(store(r), id,
                             res->result_id ? res->result_id : "");
        if (res->created && a) {
            /* The echo: what the network made, with its own ref. The
             * created post goes where the action came from. */
            struct gw_event ev = *res->created;
            ev.kind = GW_EV_OWN;
            bool dm = action_kind(it.action) == GW_ACT_DM ||
                      origin_is_query(it.origin);
            if (dm) {
                struct gw_post p;
                memset(&p, 0, sizeof(p));
                p.account = a->name;
                p.network_id = (char *)ev.id;
                p.kind = "own";
                p.author = (char *)(ev.author ? ev.author : "");
                p.text = (char *)(ev.text ? ev.text : "");
                p.target = it.origin;
                p.extra = (char *)(ev.extra ? ev.extra : "");
                p.created_ms = ev.created_ms ? ev.created_ms : gw_now_ms();
                p.url = (char *)(ev.url ? ev.url : "");
                if (gw_store_post_put(store(r), &p) == 0) {
                    record_undo(r, a->name, it.who, p.ref);
                    tell_origin(r, it.origin, "[%s] sent by %s", p.ref, it.who);
                }
            } else if (ev.id && deliver_post(a, &ev) >= 0) {
                struct gw_post p;
                memset(&p, 0, sizeof(p));
                if (gw_store_post_by_netid(store(r), a->name, ev.id, &p) == 0)
                    record_undo(r, a->name, it.who, p.ref);
                gw_post_free(&p);
            }
        }
        if (parent) {
            struct gw_post pp;
            memset(&pp, 0, sizeof(pp));
            enum gw_action_kind k = action_kind(it.action);
            if ((k == GW_ACT_REPLY || k == GW_ACT_DM) &&
                gw_store_post_by_ref(store(r), parent, &pp) == 0 &&
                (pp.state == GW_POST_OPEN || pp.state == GW_POST_CLAIMED)) {
                gw_store_post_set_state(store(r), pp.id, GW_POST_DONE, it.who);
                tell_origin(r, it.origin, "[%s] answered by %s", pp.ref,
                            it.who);
            } else if (k != GW_ACT_REPLY && k != GW_ACT_DM &&
                       k != GW_ACT_POST) {
                tell_origin(r, it.origin, "%s: %s [%s] done", it.who, it.action,
                            parent);
            }
            gw_post_free(&pp);
        } else if (action_kind(it.action) == GW_ACT_FOLLOW ||
                   action_kind(it.action) == GW_ACT_UNFOLLOW) {
            const char *h =
                cJSON_GetStringValue(cJSON_GetObjectItem(pl, "handle"));
            tell_origin(r, it.origin, "%s: %s %s done", it.who, it.action,
                        h ? h : "");
        }
        break;
    }
    case GW_ACT_RETRY: {
        if (it.attempts + 1 >= GW_OUTBOX_ATTEMPTS_MAX) {
            gw_store_outbox_failed(store(r), id, msg);
            tell_origin(r, it.origin,
                        "%s: %s failed after %d attempts: %s "
                        "(outbox %lld; 'retry %lld' in %s)",
                        it.who, it.action, it.attempts + 1, msg, (long long)id,
                        (long long)id, r->gw->cfg->control_channel);
            break;
        }
        int64_t backoff = OUTBOX_BACKOFF_MIN_MS;
        for (int i = 0; i < it.attempts && backoff < OUTBOX_BACKOFF_MAX_MS; i++)
            backoff *= 2;
        if (backoff > OUTBOX_BACKOFF_MAX_MS)
            backoff = OUTBOX_BACKOFF_MAX_MS;
        if (res->retry_after_ms > backoff)
            backoff = res->retry_after_ms;
        gw_store_outbox_retry_at(store(r), id, gw_now_ms() + backoff, msg);
        if (it.attempts == 0)
            tell_origin(r, it.origin,
                        "%s: %s is delayed (%s); it stays in "
                        "the outbox and is retried",
                        it.who, it.action, msg[0] ? msg : "temporary failure");
        break;
    }
    case GW_ACT_FAILED:
    case GW_ACT_UNSUPPORTED: {
        char why[600];
        if (res->status == GW_ACT_UNSUPPORTED)
            snprintf(why, sizeof(why), "%s cannot %s",
                     a ? a->network : "this network", it.action);
        else
            snprintf(why, sizeof(why), "%s", msg[0] ? msg : "failed");
        gw_store_outbox_failed(store(r), id, why);
        tell_origin(r, it.origin, "%s: %s failed: %s (outbox %lld)", it.who,
                    it.action, why, (long long)id);
        break;
    }
    }
    cJSON_Delete(pl);
    gw_outbox_item_free(&it);
    outbox_schedule(r);
}

static void query_done(struct gw_router *r, uint64_t token,
                       const struct gw_action_result *res)
{
    struct gw_query *q = NULL;
    for (struct gw_query **pp = &r->queries; *pp; pp = &(*pp)->next) {
        if ((*pp)->token == token) {
            q = *pp;
            *pp = q->next;
            break;
        }
    }
    if (q == NULL)
        return;
    if (res->status == GW_ACT_OK) {
        for (int i = 0; i < res->nlines; i++)
            tell_origin(r, q->origin, "%s", res->lines[i]);
        if (res->nlines == 0)
            tell_origin(r, q->origin, "(nothing)");
    } else if (res->status == GW_ACT_UNSUPPORTED) {
        tell_origin(r, q->origin, "this network cannot do that");
    } else {
        tell_origin(r, q->origin, "failed: %s",
                    res->message && *res->message ? res->message
                                                  : "try again later");
    }
    free(q->account);
    free(q->origin);
    free(q);
}

static void fail_queries_of(struct gw_router *r, const char *account)
{
    struct gw_query **pp = &r->queries;
    while (*pp) {
        struct gw_query *q = *pp;
        if (account == NULL || gw_strcasecmp(q->account, account) == 0) {
            *pp = q->next;
            free(q->account);
            free(q->origin);
            free(q);
        } else {
            pp = &q->next;
        }
    }
}

void gw_ad_action_done(struct gw_adapter *ad, uint64_t token,
                       const struct gw_action_result *r)
{
    struct gw_account *a = ad->core;
    if (token & QUERY_TOKEN_BIT)
        query_done(a->r, token, r);
    else
        outbox_done(a->r, (int64_t)token, r);
}

/* ---- what IRC users type -------------------------------------------- */

struct ctx {
    struct gw_router *r;
    struct gw_client *c;
    struct gw_account *a;
    const char *origin;    /* channel, or the puppet nick of a query */
    const char *dm_handle; /* in a query: the person's handle */
};

static void tell(struct ctx *x, const char *fmt, ...) GW_PRINTF(2, 3);

static void tell(struct ctx *x, const char *fmt, ...)
{
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw_ircd_bot_notice(x->c, x->origin, "%s", text);
}

static void enqueue(struct ctx *x, enum gw_action_kind kind, const char *text,
                    const char *handle, const char *parent_ref,
                    const char *visibility)
{
    struct gw_router *r = x->r;
    cJSON *pl = cJSON_CreateObject();
    char *clean = NULL;
    if (text) {
        char *stripped = gw_text_strip_formatting(text);
        clean = gw_text_sanitize(stripped, strlen(stripped));
        free(stripped);
        cJSON_AddStringToObject(pl, "text", clean);
    }
    if (handle)
        cJSON_AddStringToObject(pl, "handle", handle);
    if (parent_ref)
        cJSON_AddStringToObject(pl, "parent", parent_ref);
    if (visibility)
        cJSON_AddStringToObject(pl, "visibility", visibility);
    if ((kind == GW_ACT_POST || kind == GW_ACT_REPLY || kind == GW_ACT_DM) &&
        x->a->cw_next) {
        cJSON_AddStringToObject(pl, "cw", x->a->cw_next);
        free(x->a->cw_next);
        x->a->cw_next = NULL;
    }
    char *json = cJSON_PrintUnformatted(pl);
    int64_t id = 0;
    group_flush(r); /* the outbox commits on its own */
    int rc = gw_store_outbox_add(store(r), x->a->name, action_names[kind], json,
                                 x->origin, gw_client_nick(x->c), &id);
    cJSON_free(json);
    cJSON_Delete(pl);
    free(clean);
    if (rc < 0) {
        tell(x, "could not store the %s: %s; nothing was sent",
             action_names[kind], gw_store_errmsg(store(r)));
        return;
    }
    if (!x->a->running)
        tell(x,
             "account %s is not connected; the %s waits in the outbox "
             "(%lld)",
             x->a->name, action_names[kind], (long long)id);
    gw__router_outbox_kick(r);
}

static void query(struct ctx *x, enum gw_action_kind kind, const char *handle,
                  const char *parent_ref)
{
    struct gw_router *r = x->r;
    struct gw_account *a = x->a;
    if (!a->running || a->ops->act == NULL) {
        tell(x, "account %s is not connected", a->name);
        return;
    }
    struct gw_post pp;
    struct gw_post_ref ref;
    memset(&pp, 0, sizeof(pp));
    if (parent_ref) {
        if (gw_store_post_by_ref(store(r), parent_ref, &pp) < 0) {
            tell(x, "[%s] is not a known post", parent_ref);
            return;
        }
        post_ref_fill(&pp, &ref);
    }
    struct gw_query *q = gw_xcalloc(1, sizeof(*q));
    q->token = QUERY_TOKEN_BIT | ++r->next_query;
    q->account = gw_xstrdup(a->name);
    q->origin = gw_xstrdup(x->origin);
    q->next = r->queries;
    r->queries = q;
    struct gw_action act;
    memset(&act, 0, sizeof(act));
    act.token = q->token;
    act.kind = kind;
    act.handle = handle;
    act.parent = parent_ref ? &ref : NULL;
    if (a->ops->act(&a->ad, &act) < 0) {
        struct gw_action_result res;
        memset(&res, 0, sizeof(res));
        res.status = GW_ACT_UNSUPPORTED;
        query_done(r, q->token, &res);
    }
    gw_post_free(&pp);
}

/* Find a post by ref, answering the user when it is not there. */
static bool need_post(struct ctx *x, const char *ref, struct gw_post *p)
{
    memset(p, 0, sizeof(*p));
    if (ref == NULL || *ref == '\0') {
        tell(x, "which post? give its ref, like a3");
        return false;
    }
    if (ref[0] == '[') {
        /* People copy "[a3]" from the channel. */
        char tmp[32];
        gw_strlcpy(tmp, ref + 1, sizeof(tmp));
        char *close = strchr(tmp, ']');
        if (close)
            *close = '\0';
        return need_post(x, tmp, p);
    }
    if (gw_store_post_by_ref(store(x->r), ref, p) < 0) {
        tell(x, "[%s] is not a known post", ref);
        return false;
    }
    if (gw_strcasecmp(p->account, x->a->name) != 0) {
        tell(x, "[%s] belongs to account %s; use it in %s", p->ref, p->account,
             x->a->channel);
        gw_post_free(p);
        return false;
    }
    return true;
}

static void cmd_pending(struct ctx *x)
{
    struct gw_post *rows = NULL;
    int n = gw_store_post_pending(store(x->r), x->a->name, 30, &rows);
    if (n <= 0) {
        tell(x, "nothing is waiting for an answer in %s", x->a->name);
        gw_post_rows_free(rows, n > 0 ? n : 0);
        return;
    }
    int64_t now = gw_now_ms();
    for (int i = 0; i < n; i++) {
        struct gw_post *p = &rows[i];
        int64_t age = (now - p->created_ms) / 60000;
        char agebuf[32];
        if (age < 60)
            snprintf(agebuf, sizeof(agebuf), "%lldm", (long long)age);
        else if (age < 48 * 60)
            snprintf(agebuf, sizeof(agebuf), "%lldh", (long long)(age / 60));
        else
            snprintf(agebuf, sizeof(agebuf), "%lldd", (long long)(age / 1440));
        char excerpt[160];
        gw_strlcpy(excerpt, p->text, sizeof(excerpt));
        excerpt[gw_utf8_cut(excerpt, strlen(excerpt))] = '\0';
        for (char *q = excerpt; *q; q++)
            if (*q == '\n')
                *q = ' ';
        tell(x, "[%s] %s %s %s%s%s: %s", p->ref, agebuf, p->kind, p->author,
             p->state == GW_POST_CLAIMED ? " claimed by " : "",
             p->state == GW_POST_CLAIMED ? p->claimer : "", excerpt);
    }
    gw_post_rows_free(rows, n);
}

static const char *const account_help[] = {
    "!re REF text (or !reply) - reply to a post; 'nick: text' replies to "
    "nick's latest post here",
    "!post text - a new public post; !cw text - content warning for your "
    "next post",
    "!dm nick text - a direct message; in a query, just type",
    "!fav REF, !unfav REF, !boost REF, !unboost REF, !delete REF, !undo",
    "!thread REF, !open REF, !who nick, !follow nick, !unfollow nick",
    "!claim REF, !done REF, !pending - the shared inbox",
};

static void account_command(struct ctx *x, char *line)
{
    char *rest = line + 1;
    char *cmd = gw_next_word(&rest);
    if (cmd == NULL)
        return;
    gw_strlower(cmd);
    struct gw_post p;
    if (strcmp(cmd, "help") == 0) {
        for (size_t i = 0; i < GW_ARRAY_LEN(account_help); i++)
            tell(x, "%s", account_help[i]);
    } else if (strcmp(cmd, "post") == 0) {
        if (*rest == '\0')
            tell(x, "usage: !post text");
        else
            enqueue(x, GW_ACT_POST, rest, NULL, NULL, NULL);
    } else if (strcmp(cmd, "re") == 0 || strcmp(cmd, "reply") == 0) {
        char *ref = gw_next_word(&rest);
        if (ref == NULL || *rest == '\0') {
            tell(x, "usage: !re REF text");
        } else if (need_post(x, ref, &p)) {
            enqueue(x, strcmp(p.kind, "dm") == 0 ? GW_ACT_DM : GW_ACT_REPLY,
                    rest, strcmp(p.kind, "dm") == 0 ? p.author : NULL, p.ref,
                    NULL);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "dm") == 0) {
        char *who = gw_next_word(&rest);
        if (who == NULL || *rest == '\0') {
            tell(x, "usage: !dm nick-or-handle text");
            return;
        }
        char *handle = NULL, key[96];
        char lower[GW_NICK_MAX + 1];
        gw_strlcpy(lower, who, sizeof(lower));
        gw_strlower(lower);
        snprintf(key, sizeof(key), "handle-of:%s", lower);
        if (strchr(who, '@') == NULL &&
            gw_store_kv_get(store(x->r), key, &handle) == 0) {
            enqueue(x, GW_ACT_DM, rest, handle, NULL, NULL);
            free(handle);
        } else {
            enqueue(x, GW_ACT_DM, rest, who[0] == '@' ? who + 1 : who, NULL,
                    NULL);
        }
    } else if (strcmp(cmd, "fav") == 0 || strcmp(cmd, "unfav") == 0 ||
               strcmp(cmd, "boost") == 0 || strcmp(cmd, "unboost") == 0 ||
               strcmp(cmd, "delete") == 0) {
        char *ref = gw_next_word(&rest);
        if (need_post(x, ref, &p)) {
            enqueue(x, action_kind(cmd), NULL, NULL, p.ref, NULL);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "undo") == 0) {
        char key[256], *ref = NULL;
        snprintf(key, sizeof(key), "undo:%s:%s", x->a->name,
                 gw_client_nick(x->c));
        gw_strlower(key);
        if (gw_store_kv_get(store(x->r), key, &ref) < 0) {
            tell(x, "you have no post to undo in %s", x->a->name);
            return;
        }
        gw_store_kv_set(store(x->r), key, NULL);
        enqueue(x, GW_ACT_DELETE, NULL, NULL, ref, NULL);
        free(ref);
    } else if (strcmp(cmd, "cw") == 0) {
        free(x->a->cw_next);
        x->a->cw_next = *rest ? gw_xstrdup(rest) : NULL;
        tell(x,
             *rest ? "your next post gets the content warning: %s"
                   : "%scontent warning cleared",
             rest);
    } else if (strcmp(cmd, "thread") == 0) {
        char *ref = gw_next_word(&rest);
        if (need_post(x, ref, &p)) {
            query(x, GW_ACT_THREAD, NULL, p.ref);
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "open") == 0) {
        char *ref = gw_next_word(&rest);
        if (need_post(x, ref, &p)) {
            tell(x, "[%s] %s", p.ref, p.url[0] ? p.url : "(no URL known)");
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "who") == 0 || strcmp(cmd, "follow") == 0 ||
               strcmp(cmd, "unfollow") == 0) {
        char *who = gw_next_word(&rest);
        if (who == NULL) {
            tell(x, "usage: !%s nick-or-handle", cmd);
            return;
        }
        char *handle = NULL, key[96], lower[GW_NICK_MAX + 1];
        gw_strlcpy(lower, who, sizeof(lower));
        gw_strlower(lower);
        snprintf(key, sizeof(key), "handle-of:%s", lower);
        if (strchr(who, '@') != NULL ||
            gw_store_kv_get(store(x->r), key, &handle) < 0)
            handle = gw_xstrdup(who[0] == '@' ? who + 1 : who);
        if (strcmp(cmd, "who") == 0)
            query(x, GW_ACT_WHO, handle, NULL);
        else
            enqueue(x, action_kind(cmd), NULL, handle, NULL, NULL);
        free(handle);
    } else if (strcmp(cmd, "claim") == 0 || strcmp(cmd, "done") == 0) {
        char *ref = gw_next_word(&rest);
        if (need_post(x, ref, &p)) {
            bool claim = strcmp(cmd, "claim") == 0;
            if (p.state == GW_POST_NONE) {
                tell(x, "[%s] is not in the inbox", p.ref);
            } else if (gw_store_post_set_state(store(x->r), p.id,
                                               claim ? GW_POST_CLAIMED
                                                     : GW_POST_DONE,
                                               gw_client_nick(x->c)) == 0) {
                char prefix[256];
                bot_prefix(x->r, prefix, sizeof(prefix));
                char text[256];
                snprintf(text, sizeof(text), "[%s] %s by %s", p.ref,
                         claim ? "claimed" : "marked done",
                         gw_client_nick(x->c));
                show_text(x->r, p.target, origin_is_query(p.target), prefix,
                          "NOTICE", text);
            }
            gw_post_free(&p);
        }
    } else if (strcmp(cmd, "pending") == 0) {
        cmd_pending(x);
    } else {
        tell(x, "unknown command !%s; !help lists them", cmd);
    }
}

static void channel_text(struct ctx *x, const struct gw_irc_msg *m,
                         const char *text)
{
    char *line = gw_xstrdup(text);
    const char *reply_to = gw_ircmsg_tag(m, "+draft/reply");
    if (reply_to == NULL)
        reply_to = gw_ircmsg_tag(m, "+reply");
    if (line[0] == '!' && isalpha((unsigned char)line[1])) {
        account_command(x, line);
    } else if (reply_to && *reply_to) {
        struct gw_post p;
        if (need_post(x, reply_to, &p)) {
            bool dm = strcmp(p.kind, "dm") == 0;
            enqueue(x, dm ? GW_ACT_DM : GW_ACT_REPLY, text,
                    dm ? p.author : NULL, p.ref, NULL);
            gw_post_free(&p);
        }
    } else {
        /* "nick: text" replies to nick's latest post in this channel. */
        char *colon = strchr(line, ':');
        bool replied = false;
        if (colon && colon > line && colon[1] == ' ' &&
            (size_t)(colon - line) <= GW_NICK_MAX) {
            *colon = '\0';
            if (gw_ircd_is_puppet(ircd(x->r), line)) {
                char *handle = NULL, key[96], lower[GW_NICK_MAX + 1];
                gw_strlcpy(lower, line, sizeof(lower));
                gw_strlower(lower);
                snprintf(key, sizeof(key), "handle-of:%s", lower);
                struct gw_post p;
                memset(&p, 0, sizeof(p));
                if (gw_store_kv_get(store(x->r), key, &handle) == 0 &&
                    gw_store_post_latest_by(store(x->r), x->a->channel, handle,
                                            &p) == 0) {
                    enqueue(x, GW_ACT_REPLY, colon + 2, NULL, p.ref, NULL);
                } else {
                    tell(x, "%s has no post here to reply to; use !re REF",
                         line);
                }
                replied = true;
                gw_post_free(&p);
                free(handle);
            }
            *colon = ':';
        }
        if (!replied && x->a->post_plain)
            enqueue(x, GW_ACT_POST, text, NULL, NULL, NULL);
    }
    free(line);
}

static void query_text(struct ctx *x, const struct gw_irc_msg *m,
                       const char *text)
{
    (void)m;
    if (text[0] == '!' && isalpha((unsigned char)text[1])) {
        char *line = gw_xstrdup(text);
        account_command(x, line);
        free(line);
        return;
    }
    /* Typing in a query answers in the same DM conversation. */
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    char target[GW_NICK_MAX + 1];
    gw_strlcpy(target, x->origin, sizeof(target));
    if (gw_store_post_latest_by(store(x->r), target, x->dm_handle, &p) == 0 &&
        strcmp(p.kind, "dm") == 0)
        enqueue(x, GW_ACT_DM, text, x->dm_handle, p.ref, NULL);
    else
        enqueue(x, GW_ACT_DM, text, x->dm_handle, NULL, NULL);
    gw_post_free(&p);
}

/* A reaction (+draft/react with +draft/reply=REF) favourites the post:
 * the network's own way of saying "I like this". */
static void tagmsg(struct gw_router *r, struct gw_client *c,
                   const struct gw_irc_msg *m, const char *target)
{
    const char *react = gw_ircmsg_tag(m, "+draft/react");
    const char *ref = gw_ircmsg_tag(m, "+draft/reply");
    if (react == NULL || *react == '\0' || ref == NULL || *ref == '\0')
        return;
    struct ctx x;
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.c = c;
    x.origin = target;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    if (gw_store_post_by_ref(store(r), ref, &p) < 0)
        return; /* a reaction to a line that is not a post: IRC only */
    x.a = gw__router_account(r, p.account);
    if (x.a)
        enqueue(&x, GW_ACT_FAV, NULL, NULL, p.ref, NULL);
    gw_post_free(&p);
}

/* What people say in account channels and queries is history too, so
 * CHATHISTORY and playback show the whole conversation. */
static void record_client_line(struct gw_router *r, struct gw_client *c,
                               const char *target, const char *text,
                               bool notice, const char *msgid)
{
    char prefix[256], t[GW_CHANNEL_MAX + 1];
    int64_t id = 0;
    gw_client_prefix(c, prefix, sizeof(prefix));
    gw_strlcpy(t, target, sizeof(t));
    gw_strlower(t);
    if (group_begin(r) < 0)
        return;
    if (gw_store_history_add(store(r), t, gw_now_ms(), msgid ? msgid : "",
                             prefix, notice ? "NOTICE" : "PRIVMSG", text, "",
                             &id) == 0)
        r->group_seen = id;
}

void gw_router_message(struct gw_router *r, struct gw_client *c,
                       const struct gw_irc_msg *m, const char *target,
                       const char *text, bool notice, const char *msgid)
{
    if (r->stopping)
        return;
    if (text == NULL) {
        tagmsg(r, c, m, target);
        return;
    }
    if (gw_strcasecmp(target, r->gw->cfg->control_channel) != 0 &&
        gw_strcasecmp(target, gw_ircd_bot(ircd(r))) != 0)
        record_client_line(r, c, target, text, notice, msgid);
    if (notice)
        return; /* NOTICEs never trigger actions (RFC 1459's rule) */
    if (gw_strcasecmp(target, r->gw->cfg->control_channel) == 0) {
        gw__control_command(r, c, target, text);
        return;
    }
    if (gw_strcasecmp(target, gw_ircd_bot(ircd(r))) == 0) {
        gw__control_command(r, c, gw_ircd_bot(ircd(r)), text);
        return;
    }
    struct ctx x;
    memset(&x, 0, sizeof(x));
    x.r = r;
    x.c = c;
    x.origin = target;
    if (target[0] == '#' || target[0] == '&') {
        x.a = gw__router_account_by_channel(r, target);
        if (x.a)
            channel_text(&x, m, text);
        return;
    }
    /* A query with a puppet: a DM on the account that last saw them. */
    char *handle = NULL;
    if (person_by_nick(r, target, &handle, &x.a, NULL) < 0) {
        gw_ircd_bot_notice(c, target, "%s is not known to the gateway", target);
        return;
    }
    if (x.a == NULL) {
        gw_ircd_bot_notice(c, target, "no account knows %s", handle);
        free(handle);
        return;
    }
    x.dm_handle = handle;
    query_text(&x, m, text);
    free(handle);
}

bool gw_router_revive_nick(struct gw_router *r, const char *nick)
{
    char *handle = NULL;
    struct gw_account *a = NULL;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    if (person_by_nick(r, nick, &handle, &a, &p) < 0)
        return false;
    if (a) {
        char n[GW_NICK_MAX + 1], prefix[256];
        puppet_for(a, handle, p.author_name, p.author_url, n, sizeof(n), prefix,
                   sizeof(prefix));
    }
    gw_post_free(&p);
    free(handle);
    return true;
}

/* ---- clients arriving and leaving ------------------------------------ */

/* Read positions are per nick and USER name: a person's desk and phone
 * (same nick, different user names) each catch up on what they missed. */
static void seen_key(const struct gw_client *c, char *buf, size_t size)
{
    snprintf(buf, size, "seen:%s/%s", gw_client_nick(c), gw_client_user(c));
    gw_strlower(buf);
}

static void save_seen(struct gw_router *r, struct gw_client *c)
{
    int64_t last = 0;
    char key[96], val[32];
    if (gw_store_history_last_id(store(r), &last) < 0)
        return;
    seen_key(c, key, sizeof(key));
    snprintf(val, sizeof(val), "%lld", (long long)last);
    gw_store_kv_set(store(r), key, val);
}

void gw_router_client_ready(struct gw_router *r, struct gw_client *c)
{
    char key[96], *val = NULL;
    seen_key(c, key, sizeof(key));
    int64_t after = 0, last = 0;
    gw_store_history_last_id(store(r), &last);
    long v;
    if (gw_store_kv_get(store(r), key, &val) == 0 &&
        gw_parse_long(val, 0, LONG_MAX, &v) == 0)
        after = v;
    else
        after = last > PLAYBACK_NEW ? last - PLAYBACK_NEW : 0;
    free(val);
    int64_t count = 0;
    gw_store_history_count_since(store(r), after, &count);
    if (count > PLAYBACK_MAX)
        gw_ircd_bot_notice(c, r->gw->cfg->control_channel,
                           "%lld lines arrived while you were away; showing "
                           "the last %d (!pending in an account channel lists "
                           "what is still open)",
                           (long long)count, PLAYBACK_MAX);
    struct gw_history_row *rows = NULL;
    int n = gw_store_history_since(store(r), after, PLAYBACK_MAX, &rows);
    for (int i = 0; i < n; i++) {
        struct gw_history_row *h = &rows[i];
        bool chan = h->target[0] == '#' || h->target[0] == '&';
        if (chan && !gw_ircd_channel_exists(ircd(r), h->target))
            continue;
        struct gw_out o;
        memset(&o, 0, sizeof(o));
        o.prefix = h->prefix;
        o.command = h->command;
        o.params[0] = h->target;
        o.params[1] = h->text;
        o.nparams = 2;
        o.time_ms = h->time_ms;
        o.msgid = h->msgid;
        o.to_each_nick = !chan;
        gw_ircd_send(c, &o);
    }
    gw_history_rows_free(rows, n > 0 ? n : 0);
    save_seen(r, c);
}

void gw_router_client_gone(struct gw_router *r, struct gw_client *c)
{
    save_seen(r, c);
}

/* ---- lifecycle ------------------------------------------------------ */

static void router_handle_closed(uv_handle_t *h)
{
    struct gw_router *r = h->data;
    r->open_handles--;
}

static void load_accounts(struct gw_router *r)
{
    const struct gw_config *cfg = r->gw->cfg;
    /* Config accounts get a store row too: it holds their tokens, cursors
     * and on/off state. */
    for (int i = 0; i < cfg->naccounts; i++) {
        const struct gw_conf_account *ca = &cfg->accounts[i];
        struct gw_account_row row;
        memset(&row, 0, sizeof(row));
        if (gw_store_account_get(store(r), ca->name, &row) < 0) {
            gw_store_account_add(store(r), ca->name, ca->network);
        } else if (strcmp(row.network, ca->network) != 0) {
            gw_log(r->gw, GW_LOG_WARN,
                   "account %s changed network from %s "
                   "to %s; its stored sign-in is dropped",
                   ca->name, row.network, ca->network);
            gw_store_account_del(store(r), ca->name);
            gw_store_account_add(store(r), ca->name, ca->network);
        }
        gw_account_row_free(&row);
        gw_store_setting_set(store(r), ca->name, "_source", "config");
    }
    struct gw_account_row *rows = NULL;
    int n = gw_store_account_list(store(r), &rows);
    for (int i = 0; i < n; i++) {
        if (gw__router_account(r, rows[i].name))
            continue;
        char *src = NULL;
        gw_store_setting_get(store(r), rows[i].name, "_source", &src);
        bool was_config = src && strcmp(src, "config") == 0;
        free(src);
        if (was_config && gw_config_account(cfg, rows[i].name) == NULL) {
            /* Removed from gateway.conf: removed. */
            gw_log(r->gw, GW_LOG_INFO,
                   "account %s is no longer in the "
                   "configuration; removing it",
                   rows[i].name);
            gw_store_account_del(store(r), rows[i].name);
            continue;
        }
        gw__router_account_load(r, rows[i].name);
    }
    gw_account_rows_free(rows, n > 0 ? n : 0);
}

int gw_router_start(struct gateway *gw, struct gw_router **out, char *err,
                    size_t errlen)
{
    (void)err;
    (void)errlen;
    struct gw_router *r = gw_xcalloc(1, sizeof(*r));
    r->gw = gw;
    uv_timer_init(gw->loop, &r->outbox_timer);
    r->outbox_timer.data = r;
    uv_prepare_init(gw->loop, &r->group_prepare);
    r->group_prepare.data = r;
    uv_prepare_start(&r->group_prepare, on_group_prepare);
    r->pending_tail = &r->pending;
    uv_timer_init(gw->loop, &r->checkpoint_timer);
    r->checkpoint_timer.data = r;
    r->open_handles = 3;
    *out = r;
    char topic[256];
    snprintf(topic, sizeof(topic),
             "Parley control: type 'help' here. "
             "Accounts: 'account list', 'account add NAME mastodon "
             "@you@host'.");
    gw_ircd_channel_open(gw->ircd, gw->cfg->control_channel, topic,
                         GW_CHAN_CONTROL);
    load_accounts(r);
    for (struct gw_account *a = r->accounts; a; a = a->next)
        gw__router_account_start(a);
    outbox_dispatch_due(r);
    return 0;
}

void gw_router_reload(struct gw_router *r)
{
    const struct gw_config *cfg = r->gw->cfg;
    /* Accounts that left the config go; changed ones restart; new ones
     * start. IRC clients stay connected throughout. */
    struct gw_account *a = r->accounts;
    while (a) {
        struct gw_account *next = a->next;
        if (a->from_config && gw_config_account(cfg, a->name) == NULL) {
            gw__control_say(r,
                            "account %s was removed from the "
                            "configuration",
                            a->name);
            char *name = gw_xstrdup(a->name);
            gw__router_account_drop(a);
            gw_store_account_del(store(r), name);
            free(name);
        }
        a = next;
    }
    load_accounts(r);
    for (a = r->accounts; a; a = a->next) {
        a->from_config = gw_config_account(cfg, a->name) != NULL;
        /* Compare settings: restart only when something changed. */
        struct gw_setting *old = a->settings;
        int nold = a->nsettings;
        a->settings = NULL;
        a->nsettings = 0;
        char *old_channel = gw_xstrdup(a->channel);
        settings_build(a);
        bool same = nold == a->nsettings;
        for (int i = 0; same && i < nold; i++) {
            const char *v = gw__account_setting(a, old[i].key);
            same = v && strcmp(v, old[i].value) == 0;
        }
        for (int i = 0; i < nold; i++) {
            free(old[i].key);
            free(old[i].value);
        }
        free(old);
        if (!same) {
            if (gw_strcasecmp(old_channel, a->channel) != 0)
                gw_ircd_channel_close(ircd(r), old_channel, "Account moved");
            if (a->running) {
                gw__control_say(r, "account %s changed; restarting it",
                                a->name);
                gw__router_account_stop(a);
                inflight_drop_account(r, a->name);
            }
        }
        free(old_channel);
        gw__router_account_start(a);
    }
}

void gw_router_stop(struct gw_router *r)
{
    if (r == NULL || r->stopping)
        return;
    for (struct gw_account *a = r->accounts; a; a = a->next)
        gw__router_account_stop(a);
    r->stopping = true;
    fail_queries_of(r, NULL);
    while (r->timers)
        gw_ad_timer_stop(r->timers);
    group_flush(r);
    uv_close((uv_handle_t *)&r->outbox_timer, router_handle_closed);
    uv_close((uv_handle_t *)&r->group_prepare, router_handle_closed);
    uv_close((uv_handle_t *)&r->checkpoint_timer, router_handle_closed);
    gw_store_checkpoint(store(r));
}

void gw_router_free(struct gw_router *r)
{
    if (r == NULL)
        return;
    while (r->accounts) {
        struct gw_account *a = r->accounts;
        r->accounts = a->next;
        account_free(a);
    }
    free(r->inflight);
    free(r);
}
