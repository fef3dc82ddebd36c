/*
 * Accounts: where their settings come from (gateway.conf first, then the
 * store), starting and stopping their adapters through the runtime, and the
 * upcalls adapters make about their own account.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"

struct gw_account *gw__account(struct gw_router *r, const char *name)
{
    for (struct gw_account *a = r->accounts; a; a = a->next)
        if (gw_strcasecmp(a->name, name) == 0)
            return a;
    return NULL;
}

struct gw_account *gw__account_by_channel(struct gw_router *r,
                                          const char *channel)
{
    for (struct gw_account *a = r->accounts; a; a = a->next)
        if (gw_strcasecmp(a->channel, channel) == 0)
            return a;
    return NULL;
}

const struct gw_adapter_ops *gw__network(struct gw_router *r,
                                         const char *network)
{
    /* Networks a test registered come first (the "test" network). */
    for (const struct gw_adapter_ops *const *p = r->gw->extra_networks;
         p != NULL && *p != NULL; p++)
        if (strcmp((*p)->name, network) == 0)
            return *p;
    return gw_adapter_find(network);
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

bool gw__account_ready(const struct gw_account *a)
{
    return a->running && gw_rt_state(&a->ad) == GW_RT_READY;
}

/* ---- settings ----------------------------------------------------------- */

static void settings_free(struct gw_setting *s, int n)
{
    for (int i = 0; i < n; i++) {
        free(s[i].key);
        free(s[i].value);
    }
    free(s);
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
    settings_free(a->settings, a->nsettings);
    a->settings = NULL;
    a->nsettings = 0;
    const struct gw_conf_account *ca =
        gw_config_account(a->r->gw->cfg, a->name);
    if (ca)
        for (int i = 0; i < ca->nkv; i++)
            settings_put(a, ca->kv[i].key, ca->kv[i].value);
    gw_store_setting_each(gw__store(a->r), a->name, store_setting_cb, a);
    free(a->channel);
    const char *ch = gw__account_setting(a, "channel");
    a->channel = ch ? gw_xstrdup(ch) : gw_xasprintf("#%s", a->name);
    const char *pp = gw__account_setting(a, "post_plain");
    a->post_plain = false;
    if (pp)
        gw_config_parse_bool(pp, &a->post_plain);
}

/* ---- the runtime's news -------------------------------------------------- */

static void rt_state(struct gw_adapter *ad, enum gw_rt_state st)
{
    struct gw_account *a = ad->core;
    if (st == GW_RT_READY) {
        if (gw__people_owner(a, gw_rt_me_id(ad), gw_rt_me(ad)) < 0)
            gw_log(a->r->gw, GW_LOG_WARN, "store: %s",
                   gw_store_errmsg(gw__store(a->r)));
        gw__queries_ready(a->r, a);
        gw__outbox_kick(a->r);
    } else if (st == GW_RT_SIGNED_OUT) {
        gw__queries_drop(a->r, a->name, gw_rt_why(ad));
    }
}

static void rt_action_done(struct gw_adapter *ad, uint64_t token,
                           const struct gw_action_result *res)
{
    struct gw_account *a = ad->core;
    if (gw__is_query_token(token))
        gw__query_done(a->r, token, res);
    else
        gw__outbox_done(a->r, (int64_t)token, res);
}

/* The network answers again: what waited for it goes now, still paced
 * by the outbox. */
static void rt_recovered(struct gw_adapter *ad)
{
    struct gw_account *a = ad->core;
    gw_store_outbox_wake(gw__store(a->r), a->name, gw_now_ms());
    gw__outbox_kick(a->r);
}

static const struct gw_rt_hooks rt_hooks = {
    .state = rt_state,
    .action_done = rt_action_done,
    .recovered = rt_recovered,
};

/* ---- starting and stopping ---------------------------------------------- */

static void account_topic(struct gw_account *a, char *buf, size_t size)
{
    snprintf(buf, size,
             "Parley: %s account '%s'. Type !help for commands; "
             "mentions and replies arrive here, DMs as queries.",
             a->network, a->name);
}

void gw__account_start(struct gw_account *a)
{
    char topic[300];
    if (a->running || !a->enabled || a->r->stopping)
        return;
    account_topic(a, topic, sizeof(topic));
    gw__place_open(a->r, a->channel, GW_PLACE_ACCOUNT, topic);
    gw__inbox_seat(a->r, a, NULL);
    a->ad.ops = a->ops;
    a->ad.gw = a->r->gw;
    a->ad.name = a->name;
    a->ad.core = a;
    a->running = true;
    int rc = gw_rt_start(&a->ad, a->r->gw->loop, a->r->gw->http, &rt_hooks);
    if (rc < 0) {
        a->running = false;
        gw_log(a->r->gw, GW_LOG_WARN, "account %s did not start: %s", a->name,
               uv_strerror(rc));
        return;
    }
    gw_log(a->r->gw, GW_LOG_INFO, "account %s (%s) started", a->name,
           a->network);
}

void gw__account_stop(struct gw_account *a)
{
    if (!a->running)
        return;
    gw_rt_stop(&a->ad);
    a->running = false;
    /* Actions in flight stay pending in the outbox and are sent again
     * (with the same idempotency key) when the account comes back. */
    gw__outbox_drop_account(a->r, a->name);
    gw__queries_drop(a->r, a->name, NULL);
    gw__commit_waits_drop(a->r, a);
}

void gw__account_refresh(struct gw_account *a, bool restart)
{
    char *old_channel = gw_xstrdup(a->channel);
    bool was = a->running;
    if (restart && was)
        gw__account_stop(a);
    settings_build(a);
    if (gw_strcasecmp(old_channel, a->channel) != 0)
        gw__place_close(a->r, old_channel, "Account moved");
    free(old_channel);
    if (restart && was)
        gw__account_start(a);
}

struct gw_account *gw__account_load(struct gw_router *r, const char *name)
{
    struct gw_account_row row;
    memset(&row, 0, sizeof(row));
    if (gw_store_account_get(gw__store(r), name, &row) < 0)
        return NULL;
    const struct gw_adapter_ops *ops = gw__network(r, row.network);
    if (ops == NULL) {
        char known[256];
        gw_adapter_names(known, sizeof(known));
        gw__control_say(r,
                        "account %s: network '%s' is not known to this "
                        "build (it knows: %s); it stays stored but off",
                        row.name, row.network, known);
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
    settings_free(a->settings, a->nsettings);
    free(a->name);
    free(a->network);
    free(a->channel);
    free(a->cw_next);
    if (a->cursor_name != NULL)
        a->r->cursors_held--;
    free(a->cursor_name);
    free(a->cursor_value);
    free(a);
}

void gw__account_drop(struct gw_account *a)
{
    struct gw_router *r = a->r;
    gw__account_stop(a);
    gw__place_close(r, a->channel, "Account removed");
    for (struct gw_account **pp = &r->accounts; *pp; pp = &(*pp)->next) {
        if (*pp == a) {
            *pp = a->next;
            break;
        }
    }
    account_free(a);
}

void gw__accounts_load(struct gw_router *r)
{
    const struct gw_config *cfg = r->gw->cfg;
    struct gw_store *st = gw__store(r);
    /* One transaction: a commit per account was most of the time before
     * a gateway of 10,000 accounts listened. */
    bool tx = gw_store_begin(st) == 0;
    /* Config accounts get a store row too: it holds their tokens, cursors
     * and on/off state. */
    for (int i = 0; i < cfg->naccounts; i++) {
        const struct gw_conf_account *ca = &cfg->accounts[i];
        struct gw_account_row row;
        memset(&row, 0, sizeof(row));
        if (gw_store_account_get(st, ca->name, &row) < 0) {
            gw_store_account_add(st, ca->name, ca->network);
        } else if (strcmp(row.network, ca->network) != 0) {
            gw_log(r->gw, GW_LOG_WARN,
                   "account %s changed network from %s "
                   "to %s; its stored sign-in is dropped",
                   ca->name, row.network, ca->network);
            gw_store_account_del(st, ca->name);
            gw_store_account_add(st, ca->name, ca->network);
        }
        gw_account_row_free(&row);
        gw_store_setting_set(st, ca->name, "_source", "config");
    }
    struct gw_account_row *rows = NULL;
    int n = gw_store_account_list(st, &rows);
    for (int i = 0; i < n; i++) {
        if (gw__account(r, rows[i].name))
            continue;
        char *src = NULL;
        gw_store_setting_get(st, rows[i].name, "_source", &src);
        bool was_config = src && strcmp(src, "config") == 0;
        free(src);
        if (was_config && gw_config_account(cfg, rows[i].name) == NULL) {
            /* Removed from gateway.conf: removed. */
            gw_log(r->gw, GW_LOG_INFO,
                   "account %s is no longer in the "
                   "configuration; removing it",
                   rows[i].name);
            gw_store_account_del(st, rows[i].name);
            continue;
        }
        gw__account_load(r, rows[i].name);
    }
    gw_account_rows_free(rows, n > 0 ? n : 0);
    if (tx && gw_store_commit(st) < 0)
        gw_log(r->gw, GW_LOG_WARN, "store: %s", gw_store_errmsg(st));
}

void gw_router_reload(struct gw_router *r)
{
    const struct gw_config *cfg = r->gw->cfg;
    /* Accounts that left the config go; changed ones restart; new ones
     * start. People stay connected throughout. */
    struct gw_account *a = r->accounts;
    while (a) {
        struct gw_account *next = a->next;
        if (a->from_config && gw_config_account(cfg, a->name) == NULL) {
            gw__control_say(r,
                            "account %s was removed from the "
                            "configuration",
                            a->name);
            char *name = gw_xstrdup(a->name);
            gw__account_drop(a);
            gw_store_account_del(gw__store(r), name);
            free(name);
        }
        a = next;
    }
    gw__accounts_load(r);
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
        settings_free(old, nold);
        if (!same) {
            if (gw_strcasecmp(old_channel, a->channel) != 0)
                gw__place_close(r, old_channel, "Account moved");
            if (a->running) {
                gw__control_say(r, "account %s changed; restarting it",
                                a->name);
                gw__account_stop(a);
            }
        }
        free(old_channel);
        gw__account_start(a);
    }
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
    gw__outbox_free(r);
    gw__inbox_free(r);
    gw__people_forget(r);
    free(r);
}

/* ---- upcalls ------------------------------------------------------------ */

const char *gw_ad_setting(struct gw_adapter *ad, const char *key)
{
    struct gw_account *a = ad->core;
    return gw__account_setting(a, key);
}

int gw_ad_setting_store(struct gw_adapter *ad, const char *key,
                        const char *value)
{
    struct gw_account *a = ad->core;
    if (gw_ad_stopped(ad))
        return UV_ECANCELED;
    /* A rotated refresh token must be on disk before the access token that
     * came with it is used: the network has spent the old one. So it is
     * written in a transaction of its own, never in the open group (which
     * a later failure could roll back, or a crash lose). */
    gw__group_flush(a->r);
    int rc = gw_store_setting_set(gw__store(a->r), a->name, key, value);
    if (rc == 0) {
        /* Rebuild without a restart: the adapter asked for it itself. */
        char *ch = gw_xstrdup(a->channel);
        settings_build(a);
        free(a->channel);
        a->channel = ch;
    }
    return rc;
}

int gw_ad_network_accounts(struct gw_adapter *ad)
{
    struct gw_account *a = ad->core;
    int n = 0;
    for (struct gw_account *b = a->r->accounts; b != NULL; b = b->next)
        if (strcmp(b->network, a->network) == 0)
            n++;
    return n;
}

bool gw_ad_seen(struct gw_adapter *ad, const char *network_id)
{
    struct gw_account *a = ad->core;
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    bool seen =
        gw_store_post_by_netid(gw__store(a->r), a->name, network_id, &p) == 0;
    gw_post_free(&p);
    return seen;
}

void gw_ad_notice(struct gw_adapter *ad, const char *fmt, ...)
{
    struct gw_account *a = ad->core;
    if (gw_ad_stopped(ad))
        return;
    char text[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    gw_log(a->r->gw, GW_LOG_INFO, "%s: %s", a->name, text);
    /* Kept in the control channel's history: someone who connects later
     * still learns that a token was refused or a server is unreachable. */
    gw__bot_line(a->r, a->r->gw->cfg->control_channel, false, "%s: %s", a->name,
                 text);
}

/* ---- places, for front-ends that carry several accounts ---------------- */

const char *gw_router_account_place(struct gw_router *r, const char *account)
{
    struct gw_account *a = gw__account(r, account);
    return a != NULL && a->running ? a->channel : NULL;
}

int gw_router_post_place(struct gw_router *r, const char *ref, char *account,
                         size_t asize, char *place, size_t psize)
{
    char tmp[32];
    /* People copy "[a3]" from the channel. */
    gw_strlcpy(tmp, ref[0] == '[' ? ref + 1 : ref, sizeof(tmp));
    tmp[strcspn(tmp, "]")] = '\0';
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    if (gw_store_post_by_ref(gw__store(r), tmp, &p) < 0)
        return UV_ENOENT;
    struct gw_account *a = gw__account(r, p.account);
    int rc = UV_ENOENT;
    if (a != NULL) {
        gw_strlcpy(account, a->name, asize);
        gw_strlcpy(place, strcmp(p.kind, "dm") == 0 ? p.target : a->channel,
                   psize);
        rc = 0;
    }
    gw_post_free(&p);
    return rc;
}

int gw_router_person_place(struct gw_router *r, const char *nick, char *account,
                           size_t asize, char *place, size_t psize)
{
    char *handle = NULL;
    struct gw_account *a = NULL;
    if (gw__person_by_nick(r, nick, &handle, NULL, &a, NULL) < 0)
        return UV_ENOENT;
    free(handle);
    if (a == NULL)
        return UV_ENOENT;
    gw_strlcpy(account, a->name, asize);
    gw_strlcpy(place, a->channel, psize);
    return 0;
}
