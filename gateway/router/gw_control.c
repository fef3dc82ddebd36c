/*
 * The control channel (&parley) and queries with the bot: help, accounts,
 * status, the outbox. Everything said here is stored at once; there is no
 * "save".
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_users.h"

struct ctl {
    struct gw_router *r;
    const struct gw_speaker *sp;
    const char *place; /* the control channel, or the bot's query */
};

static void say(struct ctl *x, const char *fmt, ...) GW_PRINTF(2, 3);

static void say(struct ctl *x, const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (gw_strcasecmp(x->place, x->r->gw->cfg->control_channel) == 0)
        gw__control_say(x->r, "%s", text);
    else
        gw__tell(x->sp, x->place, "%s", text);
}

struct help {
    const char *cmd;
    const char *usage;
    const char *text;
};

static const struct help helps[] = {
    {"help", "help [COMMAND]", "this help; 'help account' for accounts"},
    {"account", "account list|add|set|del|on|off|login|code ...",
     "manage social accounts; 'help account add' and so on for each"},
    {"account list", "account list",
     "every account: network, channel, "
     "on/off, settings (secrets hidden)"},
    {"account add", "account add NAME NETWORK [@you@host] [key=value ...]",
     "add an account, e.g. 'account add social mastodon @me@example.social' "
     "then 'account login social'. Keys for every network: channel, "
     "streaming, poll_seconds, post_plain, tls_ca, tls_verify; the "
     "networks and their own keys follow"},
    {"account set", "account set NAME KEY VALUE",
     "change a setting (stored at once; the account restarts). Keys set in "
     "gateway.conf are changed there"},
    {"account del", "account del NAME",
     "remove an account added here (its posts stay, refs keep working)"},
    {"account on", "account on NAME", "start an account"},
    {"account off", "account off NAME", "stop an account (stays stored)"},
    {"account login", "account login NAME",
     "sign in with OAuth: prints a URL to open; then 'account code NAME "
     "CODE'"},
    {"account code", "account code NAME CODE",
     "finish the OAuth sign-in with the code the server showed"},
    {"user", "user list|add|passwd|del ...",
     "who may sign in (per-person logins): 'user add NAME PASSWORD "
     "[admin]', 'user passwd [NAME] PASSWORD', 'user del NAME'; each signs "
     "in with SASL PLAIN as NAME or PASS NAME:password. The first user "
     "added is an admin; only admins change accounts and users"},
    {"status", "status",
     "per account: signed in as, streaming or polling, "
     "last event, rate limit left, outbox depth"},
    {"outbox", "outbox", "actions waiting to be sent, and those that failed"},
    {"retry", "retry ID", "send a failed outbox action again"},
};

/* Each network this build knows: what it is and the keys it takes. */
static void help_networks(struct ctl *x)
{
    const struct gw_adapter_ops *ops;
    for (size_t i = 0; (ops = gw_adapter_at(i)) != NULL; i++) {
        char keys[512];
        size_t n = 0;
        keys[0] = '\0';
        for (const char *const *k = ops->keys; k && *k && n < sizeof(keys); k++)
            n += (size_t)snprintf(keys + n, sizeof(keys) - n, "%s%s",
                                  n ? ", " : "", *k);
        say(x, "%s: %s. Keys: %s", ops->name,
            ops->summary ? ops->summary : ops->name, keys);
    }
}

static void cmd_help(struct ctl *x, const char *topic)
{
    if (topic && *topic) {
        bool found = false;
        size_t tl = strlen(topic);
        for (size_t i = 0; i < GW_ARRAY_LEN(helps); i++) {
            if (gw_strncasecmp(helps[i].cmd, topic, tl) == 0 &&
                (helps[i].cmd[tl] == '\0' || helps[i].cmd[tl] == ' ')) {
                say(x, "%s - %s", helps[i].usage, helps[i].text);
                found = true;
            }
        }
        if (found && gw_strncasecmp(topic, "account add", 11) == 0)
            help_networks(x);
        if (!found)
            say(x, "no help for '%s'; 'help' lists the commands", topic);
        return;
    }
    say(x, "Commands here (no '!' needed): help [COMMAND], account list, "
           "account add NAME NETWORK ..., account set NAME KEY VALUE, account "
           "del NAME, account on|off NAME, account login NAME, account code "
           "NAME CODE, user list|add|passwd|del, status, outbox, retry ID.");
    say(x, "In account channels: !re REF text, 'nick: text', !post, !dm, "
           "!fav, !boost, !delete, !undo, !cw, !thread, !open, !who, !follow, "
           "!claim, !done, !pending, !history, !help.");
}

/* Keys whose values are secrets, whatever the network calls them
 * (token, access_token, client_secret, app_password, an OAuth PKCE
 * verifier kept between "account login" and "account code"): hiding a harmless
 * value costs nothing, showing a secret cannot be taken back. */
static bool secret_key(const char *key)
{
    char k[64];
    gw_strlcpy(k, key, sizeof(k));
    gw_strlower(k);
    return strstr(k, "token") != NULL || strstr(k, "secret") != NULL ||
           strstr(k, "password") != NULL || strstr(k, "passwd") != NULL ||
           strstr(k, "verifier") != NULL;
}

/* ---- secrets in what people type ------------------------------------- */

#define MASK "********"

/* The word of text at or after *pos (words split at spaces, as
 * gw_next_word splits commands): [*start, *end). */
static bool word_at(const char *text, size_t *pos, size_t *start, size_t *end)
{
    size_t p = *pos;
    while (text[p] == ' ')
        p++;
    *start = p;
    while (text[p] != '\0' && text[p] != ' ')
        p++;
    *end = *pos = p;
    return *end > *start;
}

static bool word_is(const char *text, size_t start, size_t end,
                    const char *want)
{
    return end - start == strlen(want) &&
           gw_strncasecmp(text + start, want, end - start) == 0;
}

/* Copy text[from, to) to out, then the mask: at most size - 1 bytes. */
static void put(char *out, size_t size, size_t *n, const char *from, size_t len,
                bool mask)
{
    int w = snprintf(out + *n, size - *n, "%.*s%s", (int)len, from,
                     mask ? MASK : "");
    if (w > 0)
        *n = *n + (size_t)w < size ? *n + (size_t)w : size - 1;
}

/*
 * The commands of the control channel that carry secrets: "account code
 * NAME CODE", "account set NAME KEY VALUE" for a secret key, and "account
 * add NAME NETWORK key=value ..." with secret keys. Their secrets become
 * the mask; everything else stays as typed.
 */
bool gw_router_mask(struct gw_router *r, const char *place, const char *text,
                    char *masked, size_t size)
{
    enum gw_place_kind kind = gw__place_kind(r, place);
    if ((kind != GW_PLACE_CONTROL && kind != GW_PLACE_BOT) || text == NULL ||
        size == 0)
        return false;
    size_t pos = 0, s, e, n = 0;
    if (!word_at(text, &pos, &s, &e))
        return false;
    if (text[s] == '!')
        s++;
    if (word_is(text, s, e, "user") || word_is(text, s, e, "users")) {
        /* "user add NAME PASSWORD [admin]", "user passwd [NAME] PASSWORD":
         * the password is the word after the name, or the only one. */
        size_t vs, ve, ws, we;
        if (!word_at(text, &pos, &s, &e))
            return false;
        bool add = word_is(text, s, e, "add");
        if (!add && !word_is(text, s, e, "passwd"))
            return false;
        if (!word_at(text, &pos, &vs, &ve))
            return false;
        if (word_at(text, &pos, &ws, &we)) {
            vs = ws;
            ve = we;
        } else if (add) {
            return false;
        }
        put(masked, size, &n, text, vs, true);
        put(masked, size, &n, text + ve, strlen(text + ve), false);
        return true;
    }
    if (!word_is(text, s, e, "account") && !word_is(text, s, e, "acc"))
        return false;
    if (!word_at(text, &pos, &s, &e))
        return false;
    bool code = word_is(text, s, e, "code"), set = word_is(text, s, e, "set");
    bool add = word_is(text, s, e, "add");
    size_t ks, ke, vs, ve;
    if (code) {
        /* NAME, then the rest is the code. */
        if (!word_at(text, &pos, &s, &e) || !word_at(text, &pos, &vs, &ve))
            return false;
    } else if (set) {
        char key[64];
        if (!word_at(text, &pos, &s, &e) || !word_at(text, &pos, &ks, &ke))
            return false;
        snprintf(key, sizeof(key), "%.*s", (int)(ke - ks), text + ks);
        /* "token=VALUE" typed by habit: the value is after the '='. */
        char *eq = strchr(key, '=');
        if (eq != NULL && eq[1] != '\0') {
            *eq = '\0';
            if (!secret_key(key))
                return false;
            put(masked, size, &n, text, ks + (size_t)(eq - key) + 1, true);
            return true;
        }
        if (!secret_key(key) || !word_at(text, &pos, &vs, &ve))
            return false;
    }
    if (code || set) {
        put(masked, size, &n, text, vs, true);
        return true;
    }
    if (!add || !word_at(text, &pos, &s, &e) || !word_at(text, &pos, &s, &e))
        return false;
    /* key=value words: each secret value is masked where it stands; so is
     * a word after a secret key typed without its '=' ("token abc"). */
    size_t copied = 0;
    bool any = false, after_key = false;
    while (word_at(text, &pos, &s, &e)) {
        const char *eq = memchr(text + s, '=', e - s);
        char key[64];
        bool bare_value = after_key && eq == NULL;
        snprintf(key, sizeof(key), "%.*s",
                 (int)((eq ? (size_t)(eq - text) : e) - s), text + s);
        after_key = eq == NULL && secret_key(key);
        if (bare_value) {
            vs = s;
        } else if (eq != NULL && (size_t)(eq + 1 - text) < e &&
                   secret_key(key)) {
            vs = (size_t)(eq + 1 - text);
        } else {
            continue;
        }
        put(masked, size, &n, text + copied, vs - copied, true);
        copied = e;
        any = true;
    }
    if (any)
        put(masked, size, &n, text + copied, strlen(text + copied), false);
    return any;
}

static void account_list(struct ctl *x)
{
    struct gw_router *r = x->r;
    if (r->accounts == NULL) {
        say(x, "no accounts yet: 'account add NAME mastodon @you@host'");
        return;
    }
    for (struct gw_account *a = r->accounts; a; a = a->next) {
        char settings[1024];
        size_t len = 0;
        settings[0] = '\0';
        for (int i = 0; i < a->nsettings; i++) {
            const struct gw_setting *s = &a->settings[i];
            if (strcmp(s->key, "network") == 0 ||
                strcmp(s->key, "channel") == 0)
                continue;
            len += (size_t)snprintf(settings + len, sizeof(settings) - len,
                                    "%s%s=%s", len ? " " : "", s->key,
                                    secret_key(s->key) ? "(hidden)" : s->value);
            if (len >= sizeof(settings))
                break;
        }
        say(x, "%s: %s in %s, %s%s%s%s", a->name, a->network, a->channel,
            a->enabled ? (a->running ? "on" : "on (not running)") : "off",
            a->from_config ? ", from gateway.conf" : "", len ? "; " : "",
            settings);
    }
}

static const struct gw_adapter_ops *network_ops(struct ctl *x,
                                                const char *network)
{
    const struct gw_adapter_ops *ops = gw__network(x->r, network);
    if (ops == NULL) {
        char known[256];
        gw_adapter_names(known, sizeof(known));
        say(x, "network '%s' is not known (this build knows: %s)", network,
            known);
    }
    return ops;
}

static void account_add(struct ctl *x, char *rest)
{
    struct gw_router *r = x->r;
    char *name = gw_next_word(&rest);
    char *network = gw_next_word(&rest);
    if (name == NULL || network == NULL) {
        say(x, "usage: account add NAME NETWORK [@you@host] [key=value ...]");
        return;
    }
    if (!gw_config_valid_account_name(name)) {
        say(x, "account names are 1-32 letters, digits, '-' or '_'");
        return;
    }
    const struct gw_adapter_ops *ops = network_ops(x, network);
    if (ops == NULL)
        return;
    if (gw__account(r, name)) {
        say(x, "account %s already exists", name);
        return;
    }
    /* Check everything before storing anything. */
    char *copy = gw_xstrdup(rest);
    char *p = copy, *w, err[300];
    bool ok = true;
    char channel[64];
    snprintf(channel, sizeof(channel), "#%s", name);
    while (ok && (w = gw_next_word(&p)) != NULL) {
        const char *key, *value;
        char *eq = strchr(w, '=');
        if (w[0] == '@' && eq == NULL) {
            key = "handle";
            value = w;
        } else if (eq == NULL) {
            say(x, "'%s' is not key=value or @you@host", w);
            ok = false;
            break;
        } else {
            *eq = '\0';
            key = w;
            value = eq + 1;
        }
        if (gw_config_check_account_kv(ops, key, value, err, sizeof(err)) < 0) {
            say(x, "%s", err);
            ok = false;
        }
        if (strcmp(key, "channel") == 0)
            gw_strlcpy(channel, value, sizeof(channel));
    }
    free(copy);
    if (!ok)
        return;
    if (gw__account_by_channel(r, channel) ||
        gw_strcasecmp(channel, r->gw->cfg->control_channel) == 0) {
        say(x, "channel %s is already used; add channel=#other", channel);
        return;
    }
    struct gw_store *st = r->gw->store;
    gw_store_begin(st);
    int rc = gw_store_account_add(st, name, network);
    p = rest;
    while (rc == 0 && (w = gw_next_word(&p)) != NULL) {
        char *eq = strchr(w, '=');
        if (eq == NULL) {
            rc = gw_store_setting_set(st, name, "handle", w);
        } else {
            *eq = '\0';
            rc = gw_store_setting_set(st, name, w, eq + 1);
        }
    }
    if (rc == 0)
        rc = gw_store_setting_set(st, name, "_source", "irc");
    if (rc == 0)
        rc = gw_store_commit(st);
    if (rc < 0) {
        gw_store_rollback(st);
        say(x, "could not store account %s: %s", name, gw_store_errmsg(st));
        return;
    }
    struct gw_account *a = gw__account_load(r, name);
    if (a == NULL)
        return;
    say(x, "account %s added (%s, channel %s)", a->name, a->network,
        a->channel);
    gw__account_start(a);
}

static struct gw_account *need_account(struct ctl *x, const char *name)
{
    if (name == NULL) {
        say(x, "which account? 'account list' shows them");
        return NULL;
    }
    struct gw_account *a = gw__account(x->r, name);
    if (a == NULL)
        say(x, "no account named '%s'; 'account list' shows them", name);
    return a;
}

static void account_set(struct ctl *x, char *rest)
{
    struct gw_account *a = need_account(x, gw_next_word(&rest));
    if (a == NULL)
        return;
    char *key = gw_next_word(&rest);
    if (key == NULL || strchr(key, '=') != NULL) {
        /* Never "unknown key 'token=...'": that would say the value. */
        say(x, "usage: account set NAME KEY VALUE (with a space, not '=')");
        return;
    }
    int line = gw__account_config_line(a, key);
    if (line) {
        say(x,
            "%s of %s is set in %s line %d; change it there and reload "
            "(SIGHUP)",
            key, a->name, x->r->gw->cfg->path, line);
        return;
    }
    if (strcmp(key, "network") == 0) {
        say(x, "the network of an account cannot change; add another "
               "account");
        return;
    }
    char err[300];
    if (*rest &&
        gw_config_check_account_kv(a->ops, key, rest, err, sizeof(err)) < 0) {
        say(x, "%s", err);
        return;
    }
    if (strcmp(key, "channel") == 0 && *rest) {
        struct gw_account *o = gw__account_by_channel(x->r, rest);
        if ((o && o != a) ||
            gw_strcasecmp(rest, x->r->gw->cfg->control_channel) == 0) {
            say(x, "channel %s is already used", rest);
            return;
        }
    }
    int rc = gw_store_setting_set(x->r->gw->store, a->name, key,
                                  *rest ? rest : NULL);
    if (rc == UV_ENOENT && *rest == '\0') {
        say(x, "%s has no %s set", a->name, key);
        return;
    }
    if (rc < 0) {
        say(x, "could not store it: %s", gw_store_errmsg(x->r->gw->store));
        return;
    }
    say(x, "%s: %s %s", a->name, key,
        *rest ? (secret_key(key) ? "set" : rest) : "removed");
    gw__account_refresh(a, true);
    if (!a->running)
        gw__account_start(a);
}

static void account_onoff(struct ctl *x, char *rest, bool on)
{
    struct gw_account *a = need_account(x, gw_next_word(&rest));
    if (a == NULL)
        return;
    if (gw_store_account_enable(x->r->gw->store, a->name, on) < 0) {
        say(x, "could not store it: %s", gw_store_errmsg(x->r->gw->store));
        return;
    }
    a->enabled = on;
    if (on) {
        gw__account_start(a);
        say(x, "%s is on", a->name);
    } else {
        gw__account_stop(a);
        say(x, "%s is off", a->name);
    }
}

static void account_del(struct ctl *x, char *rest)
{
    struct gw_account *a = need_account(x, gw_next_word(&rest));
    if (a == NULL)
        return;
    if (a->from_config) {
        say(x, "%s is defined in %s (line %d); remove it there and reload",
            a->name, x->r->gw->cfg->path,
            gw_config_account(x->r->gw->cfg, a->name)->line);
        return;
    }
    char *name = gw_xstrdup(a->name);
    gw__account_drop(a);
    if (gw_store_account_del(x->r->gw->store, name) < 0)
        say(x, "could not delete %s: %s", name,
            gw_store_errmsg(x->r->gw->store));
    else
        say(x, "account %s removed", name);
    free(name);
}

static void account_login(struct ctl *x, char *rest, bool code)
{
    struct gw_account *a = need_account(x, gw_next_word(&rest));
    if (a == NULL)
        return;
    if (!(a->ops->caps & GW_NET_OAUTH)) {
        say(x,
            "%s accounts sign in with settings (account set %s token "
            "...), not with a login",
            a->network, a->name);
        return;
    }
    if (!a->running) {
        a->enabled = true;
        gw_store_account_enable(x->r->gw->store, a->name, true);
        gw__account_start(a);
    }
    if (!a->running) {
        say(x, "%s could not start; see the messages above", a->name);
        return;
    }
    const char *me = gw_rt_me(&a->ad);
    if (!code && me[0] != '\0')
        say(x,
            "%s is signed in as @%s; signing in again (it stays signed in "
            "as it is until the new sign-in is done)",
            a->name, me[0] == '@' ? me + 1 : me);
    if (code) {
        char *c = gw_next_word(&rest);
        if (c == NULL) {
            say(x, "usage: account code NAME CODE");
            return;
        }
        gw_rt_code(&a->ad, c);
    } else {
        gw_rt_login(&a->ad);
    }
}

static void fmt_ago(int64_t ms, char *buf, size_t size)
{
    if (ms <= 0) {
        gw_strlcpy(buf, "never", size);
        return;
    }
    int64_t s = (gw_now_ms() - ms) / 1000;
    if (s < 0)
        s = 0;
    if (s < 120)
        snprintf(buf, size, "%llds ago", (long long)s);
    else if (s < 7200)
        snprintf(buf, size, "%lldm ago", (long long)(s / 60));
    else
        snprintf(buf, size, "%lldh ago", (long long)(s / 3600));
}

static void cmd_status(struct ctl *x)
{
    struct gw_router *r = x->r;
    char up[32];
    fmt_ago(r->gw->started_ms, up, sizeof(up));
    int64_t posts = 0;
    gw_store_post_count(r->gw->store, &posts);
    say(x, "Parley: up since %s, %lld posts stored", up, (long long)posts);
    char res[768];
    gw_res_status(&r->gw->res, gw_now_ms(), res, sizeof(res));
    say(x, "%s", res);
    for (struct gw_frontend *fe = r->fronts; fe != NULL; fe = fe->next) {
        char line[512] = "";
        if (fe->ops->status != NULL)
            fe->ops->status(fe, line, sizeof(line));
        if (line[0] != '\0')
            say(x, "%s", line);
    }
    if (r->accounts == NULL)
        say(x, "no accounts: 'account add NAME mastodon @you@host'");
    for (struct gw_account *a = r->accounts; a; a = a->next) {
        struct gw_rt_status st;
        memset(&st, 0, sizeof(st));
        st.ratelimit_remaining = -1;
        int64_t depth = 0;
        gw_store_outbox_depth(r->gw->store, a->name, &depth);
        if (!a->running) {
            /* Off is a choice, not a failure to sign in. */
            say(x, "%s (%s): %s; outbox %lld", a->name, a->network,
                a->enabled ? "not running (it could not start; 'account on "
                             "NAME' tries again)"
                           : "off ('account on NAME' starts it)",
                (long long)depth);
            continue;
        }
        gw_rt_status(&a->ad, &st);
        char last[32], rl[32];
        fmt_ago(a->last_event_ms, last, sizeof(last));
        if (st.ratelimit_remaining >= 0)
            snprintf(rl, sizeof(rl), "%ld", st.ratelimit_remaining);
        else
            gw_strlcpy(rl, "unknown", sizeof(rl));
        const char *me = a->running ? gw_rt_me(&a->ad) : "";
        say(x,
            "%s (%s): %s%s%s, %s; last event %s; rate limit left %s; "
            "outbox %lld%s%s%s%s",
            a->name, a->network, me[0] ? "signed in as " : "not signed in",
            me[0] && me[0] != '@' ? "@" : "", me, st.mode[0] ? st.mode : "?",
            last, rl, (long long)depth, st.holds[0] ? "; held: " : "", st.holds,
            st.detail[0] ? "; " : "", st.detail);
    }
}

static void cmd_outbox(struct ctl *x)
{
    struct gw_outbox_item *items = NULL;
    int n = gw_store_outbox_list(x->r->gw->store, 50, &items);
    if (n <= 0) {
        say(x, "the outbox is empty: everything was sent");
        gw_outbox_items_free(items, n > 0 ? n : 0);
        return;
    }
    for (int i = 0; i < n; i++) {
        struct gw_outbox_item *it = &items[i];
        char when[48] = "";
        if (it->state == GW_OUTBOX_PENDING) {
            int64_t in = (it->next_ms - gw_now_ms()) / 1000;
            if (in > 0)
                snprintf(when, sizeof(when), ", next try in %llds",
                         (long long)in);
        }
        say(x, "%lld: %s %s on %s by %s in %s, %d attempt(s)%s%s%s",
            (long long)it->id,
            it->state == GW_OUTBOX_FAILED ? "FAILED" : "pending", it->action,
            it->account, it->who, it->origin, it->attempts, when,
            it->error[0] ? ": " : "", it->error);
    }
    gw_outbox_items_free(items, n);
}

static void cmd_retry(struct ctl *x, char *rest)
{
    long id;
    char *w = gw_next_word(&rest);
    if (w == NULL || gw_parse_long(w, 1, 0x7fffffffL, &id) < 0) {
        say(x, "usage: retry ID (the number 'outbox' shows)");
        return;
    }
    struct gw_outbox_item it;
    memset(&it, 0, sizeof(it));
    if (gw_store_outbox_get(x->r->gw->store, id, &it) < 0) {
        say(x, "there is no outbox item %ld ('outbox' lists them)", id);
        return;
    }
    enum gw_outbox_state state = it.state;
    gw_outbox_item_free(&it);
    if (state == GW_OUTBOX_SENT)
        say(x, "outbox item %ld was sent already", id);
    else if (gw__outbox_busy(x->r, id))
        say(x, "outbox item %ld is being sent right now", id);
    else if (gw__outbox_retry(x->r, id) < 0)
        say(x, "outbox item %ld could not be queued again: %s", id,
            gw_store_errmsg(x->r->gw->store));
    else if (state == GW_OUTBOX_PENDING)
        say(x, "outbox item %ld is waiting; trying it now", id);
    else
        say(x, "outbox item %ld queued again", id);
}

void gw__control_command(struct gw_router *r, const struct gw_speaker *sp,
                         const char *place, const char *line)
{
    struct ctl x = {r, sp, place};
    /* Commands write settings in transactions of their own. */
    gw__group_flush(r);
    char *copy = gw_xstrdup(line);
    char *rest = copy;
    /* "!help" works too: people type it from habit. */
    if (*rest == '!')
        rest++;
    char *cmd = gw_next_word(&rest);
    if (cmd == NULL) {
        free(copy);
        return;
    }
    gw_strlower(cmd);
    if (strcmp(cmd, "help") == 0) {
        cmd_help(&x, rest);
    } else if (strcmp(cmd, "user") == 0 || strcmp(cmd, "users") == 0) {
        gw__users_command(r, sp, place, rest);
    } else if (strcmp(cmd, "account") == 0 || strcmp(cmd, "acc") == 0) {
        char *sub = gw_next_word(&rest);
        if (sub == NULL)
            sub = "list";
        gw_strlower(sub);
        if (strcmp(sub, "list") != 0 && !sp->admin && gw_users_enabled(r->gw))
            say(&x, "only an admin may change accounts (ask one: 'user "
                    "list' says who)");
        else if (strcmp(sub, "list") == 0)
            account_list(&x);
        else if (strcmp(sub, "add") == 0)
            account_add(&x, rest);
        else if (strcmp(sub, "set") == 0)
            account_set(&x, rest);
        else if (strcmp(sub, "del") == 0 || strcmp(sub, "delete") == 0)
            account_del(&x, rest);
        else if (strcmp(sub, "on") == 0)
            account_onoff(&x, rest, true);
        else if (strcmp(sub, "off") == 0)
            account_onoff(&x, rest, false);
        else if (strcmp(sub, "login") == 0)
            account_login(&x, rest, false);
        else if (strcmp(sub, "code") == 0)
            account_login(&x, rest, true);
        else
            say(&x,
                "unknown: account %s; 'help account' lists the "
                "subcommands",
                sub);
    } else if (strcmp(cmd, "status") == 0) {
        cmd_status(&x);
    } else if (strcmp(cmd, "outbox") == 0) {
        cmd_outbox(&x);
    } else if (strcmp(cmd, "retry") == 0) {
        cmd_retry(&x, rest);
    } else if (gw_strcasecmp(place, r->gw->cfg->control_channel) == 0) {
        /* Talk among people in the control channel is fine; only answer
         * what looks like a mistyped command. */
        if (line[0] == '!' || rest[0] == '\0')
            say(&x, "unknown command '%s'; 'help' lists the commands", cmd);
    } else {
        say(&x, "unknown command '%s'; 'help' lists the commands", cmd);
    }
    free(copy);
}
