/*
 * [relay NAME] sections: the keys of a relay into another IRC network,
 * their defaults and their checks. Kept apart from gw_config.c because a
 * relay has twice as many keys as any other section.
 */
#include "gw_config.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "gw_limits.h"
#include "gw_util.h"

static const char *const relay_keys[] = {
    "server",   "tls",        "tls_ca",        "tls_verify",        "nick",
    "password", "sasl_user",  "sasl_password", "nickserv_password", "channels",
    "accounts", "dm_channel", "flood_lines",   "flood_seconds",
};

static const char *kv_get(const struct gw_conf_relay *r, const char *key,
                          int *line)
{
    for (int i = 0; i < r->nkv; i++)
        if (strcmp(r->kv[i].key, key) == 0) {
            if (line != NULL)
                *line = r->kv[i].line;
            return r->kv[i].value;
        }
    return NULL;
}

int gw_conf_relay_set(struct gw_conf_relay *r, const char *key,
                      const char *value, int line, char *err, size_t errlen)
{
    bool known = false;
    for (size_t i = 0; i < GW_ARRAY_LEN(relay_keys) && !known; i++)
        known = strcmp(key, relay_keys[i]) == 0;
    if (!known) {
        snprintf(err, errlen,
                 "unknown key '%s' in [relay %s] (known: server, tls, "
                 "tls_ca, tls_verify, nick, password, sasl_user, "
                 "sasl_password, nickserv_password, channels, accounts, "
                 "dm_channel, flood_lines, flood_seconds)",
                 key, r->name);
        return UV_EINVAL;
    }
    int first = 0;
    if (kv_get(r, key, &first) != NULL) {
        snprintf(err, errlen, "'%s' is already set on line %d", key, first);
        return UV_EINVAL;
    }
    r->kv = gw_xrealloc(r->kv, sizeof(*r->kv) * (size_t)(r->nkv + 1));
    r->kv[r->nkv].key = gw_xstrdup(key);
    r->kv[r->nkv].value = gw_xstrdup(value);
    r->kv[r->nkv].line = line;
    r->nkv++;
    return 0;
}

/* host:port, [v6]:port; a name is resolved when the relay connects. */
static int parse_server(struct gw_conf_relay *r, const char *s, char *err,
                        size_t errlen)
{
    const char *host = s, *colon;
    size_t hl;
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "server '%s' is not [ipv6]:port", s);
            return UV_EINVAL;
        }
        host = s + 1;
        hl = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        hl = colon != NULL ? (size_t)(colon - s) : 0;
    }
    long port;
    if (colon == NULL || hl == 0 || hl > 253 ||
        gw_parse_long(colon + 1, 1, 65535, &port) < 0) {
        snprintf(err, errlen, "server '%s' must be host:port (port 1-65535)",
                 s);
        return UV_EINVAL;
    }
    for (size_t i = 0; i < hl; i++) {
        unsigned char c = (unsigned char)host[i];
        if (!isalnum(c) && c != '.' && c != '-' && c != ':' && c != '_') {
            snprintf(err, errlen, "server '%s' has an invalid host name", s);
            return UV_EINVAL;
        }
    }
    r->host = gw_xstrndup(host, hl);
    r->port = (int)port;
    return 0;
}

/* A nick as IRC servers take it: a letter or special first, then letters,
 * digits, specials and '-'. */
static bool valid_nick(const char *s)
{
    static const char special[] = "[]\\`_^{|}";
    size_t n = strlen(s);
    if (n == 0 || n > GW_NICK_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = isalpha(c) || strchr(special, c) != NULL ||
                  (i > 0 && (isdigit(c) || c == '-'));
        if (!ok)
            return false;
    }
    return true;
}

/* "#a, #b key, &c": channels with optional keys. */
static int parse_channels(struct gw_conf_relay *r, const char *s, char *err,
                          size_t errlen)
{
    char *copy = gw_xstrdup(s), *p = copy;
    int rc = 0;
    while (p != NULL && rc == 0) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        char *name = gw_next_word(&p);
        char *key = gw_next_word(&p);
        if (name != NULL) {
            if (!gw_config_valid_channel(name, "#&") ||
                (p != NULL && *p != '\0')) {
                snprintf(err, errlen,
                         "channels: '%s' is not a channel (with an optional "
                         "key after a space)",
                         name);
                rc = UV_EINVAL;
                break;
            }
            r->chans = gw_xrealloc(r->chans,
                                   sizeof(*r->chans) * (size_t)(r->nchans + 1));
            r->chans[r->nchans].name = gw_xstrdup(name);
            r->chans[r->nchans].key = key != NULL ? gw_xstrdup(key) : NULL;
            r->nchans++;
        }
        p = comma != NULL ? comma + 1 : NULL;
    }
    free(copy);
    if (rc == 0 && r->nchans == 0) {
        snprintf(err, errlen, "channels names no channel");
        rc = UV_EINVAL;
    }
    return rc;
}

static int parse_accounts(struct gw_conf_relay *r, const char *s, char *err,
                          size_t errlen)
{
    char *copy = gw_xstrdup(s), *p = copy;
    for (char *c = copy; *c; c++)
        if (*c == ',')
            *c = ' ';
    char *w;
    while ((w = gw_next_word(&p)) != NULL) {
        if (!gw_config_valid_account_name(w)) {
            snprintf(err, errlen, "accounts: '%s' is not an account name", w);
            free(copy);
            return UV_EINVAL;
        }
        r->account_names =
            gw_xrealloc(r->account_names, sizeof(*r->account_names) *
                                              (size_t)(r->naccount_names + 1));
        r->account_names[r->naccount_names++] = gw_xstrdup(w);
    }
    free(copy);
    if (r->naccount_names == 0) {
        snprintf(err, errlen, "accounts names no account");
        return UV_EINVAL;
    }
    return 0;
}

static int get_bool(const struct gw_conf_relay *r, const char *key, bool dflt,
                    bool *out, int *line, char *err, size_t errlen)
{
    const char *v = kv_get(r, key, line);
    *out = dflt;
    if (v != NULL && gw_config_parse_bool(v, out) < 0) {
        snprintf(err, errlen, "%s must be yes or no, not '%s'", key, v);
        return UV_EINVAL;
    }
    return 0;
}

static int get_int(const struct gw_conf_relay *r, const char *key, long min,
                   long max, int dflt, int *out, int *line, char *err,
                   size_t errlen)
{
    const char *v = kv_get(r, key, line);
    long l = dflt;
    if (v != NULL && gw_parse_long(v, min, max, &l) < 0) {
        snprintf(err, errlen, "%s must be a number from %ld to %ld, not '%s'",
                 key, min, max, v);
        return UV_EINVAL;
    }
    *out = (int)l;
    return 0;
}

static char *dup_kv(const struct gw_conf_relay *r, const char *key)
{
    const char *v = kv_get(r, key, NULL);
    return v != NULL && *v != '\0' ? gw_xstrdup(v) : NULL;
}

int gw_conf_relay_check(struct gw_conf_relay *r, const char *dir, int *line,
                        char *err, size_t errlen)
{
    *line = r->line;
    const char *server = kv_get(r, "server", line);
    const char *nick = kv_get(r, "nick", NULL);
    const char *chans = kv_get(r, "channels", NULL);
    const char *accts = kv_get(r, "accounts", NULL);
    if (server == NULL || nick == NULL || chans == NULL || accts == NULL) {
        *line = r->line;
        snprintf(err, errlen,
                 "[relay %s] needs server, nick, channels and accounts",
                 r->name);
        return UV_EINVAL;
    }
    r->server = gw_xstrdup(server);
    if (parse_server(r, server, err, errlen) < 0)
        return UV_EINVAL;
    kv_get(r, "nick", line);
    if (!valid_nick(nick)) {
        snprintf(err, errlen,
                 "nick '%s' is not an IRC nick (a letter first, at most %d)",
                 nick, GW_NICK_MAX);
        return UV_EINVAL;
    }
    r->nick = gw_xstrdup(nick);
    kv_get(r, "channels", line);
    r->channels = gw_xstrdup(chans);
    if (parse_channels(r, chans, err, errlen) < 0)
        return UV_EINVAL;
    kv_get(r, "accounts", line);
    r->accounts = gw_xstrdup(accts);
    if (parse_accounts(r, accts, err, errlen) < 0)
        return UV_EINVAL;
    const char *dm = kv_get(r, "dm_channel", line);
    if (dm != NULL && *dm != '\0') {
        if (!gw_config_valid_channel(dm, "#&")) {
            snprintf(err, errlen, "dm_channel '%s' is not a channel", dm);
            return UV_EINVAL;
        }
        r->dm_channel = gw_xstrdup(dm);
    }
    if (get_bool(r, "tls", r->port == 6697, &r->tls, line, err, errlen) < 0 ||
        get_bool(r, "tls_verify", true, &r->tls_verify, line, err, errlen) <
            0 ||
        get_int(r, "flood_lines", 1, 100, GW_RELAY_FLOOD_LINES, &r->flood_lines,
                line, err, errlen) < 0 ||
        get_int(r, "flood_seconds", 1, 3600, GW_RELAY_FLOOD_SECONDS,
                &r->flood_seconds, line, err, errlen) < 0)
        return UV_EINVAL;
    const char *ca = kv_get(r, "tls_ca", line);
    if (ca != NULL && *ca != '\0')
        r->tls_ca = ca[0] == '/' || dir[0] == '\0'
                        ? gw_xstrdup(ca)
                        : gw_xasprintf("%s/%s", dir, ca);
    if (!r->tls && (r->tls_ca != NULL || kv_get(r, "tls_verify", line))) {
        snprintf(err, errlen, "tls_ca and tls_verify need tls = yes");
        return UV_EINVAL;
    }
    r->password = dup_kv(r, "password");
    r->sasl_user = dup_kv(r, "sasl_user");
    r->sasl_password = dup_kv(r, "sasl_password");
    r->nickserv_password = dup_kv(r, "nickserv_password");
    if ((r->sasl_user == NULL) != (r->sasl_password == NULL)) {
        kv_get(r, r->sasl_user ? "sasl_user" : "sasl_password", line);
        snprintf(err, errlen, "sasl_user and sasl_password go together");
        return UV_EINVAL;
    }
    if (r->sasl_user != NULL && r->nickserv_password != NULL) {
        kv_get(r, "nickserv_password", line);
        snprintf(err, errlen,
                 "nickserv_password and sasl_user: give one way to "
                 "identify");
        return UV_EINVAL;
    }
    return 0;
}

void gw_conf_relay_free(struct gw_conf_relay *r)
{
    free(r->name);
    free(r->server);
    free(r->host);
    free(r->tls_ca);
    free(r->nick);
    free(r->password);
    free(r->sasl_user);
    free(r->sasl_password);
    free(r->nickserv_password);
    free(r->channels);
    for (int i = 0; i < r->nchans; i++) {
        free(r->chans[i].name);
        free(r->chans[i].key);
    }
    free(r->chans);
    free(r->accounts);
    for (int i = 0; i < r->naccount_names; i++)
        free(r->account_names[i]);
    free(r->account_names);
    free(r->dm_channel);
    for (int i = 0; i < r->nkv; i++) {
        free(r->kv[i].key);
        free(r->kv[i].value);
    }
    free(r->kv);
    memset(r, 0, sizeof(*r));
}

bool gw_conf_relay_same(const struct gw_conf_relay *a,
                        const struct gw_conf_relay *b)
{
    if (gw_strcasecmp(a->name, b->name) != 0 || a->nkv != b->nkv)
        return false;
    for (int i = 0; i < a->nkv; i++) {
        const char *v = kv_get(b, a->kv[i].key, NULL);
        if (v == NULL || strcmp(v, a->kv[i].value) != 0)
            return false;
    }
    return true;
}
