#include "gw_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>
#include <uv.h>

#include "adapter.h"
#include "gw_limits.h"
#include "gw_util.h"

/* inih's line buffer (Debian builds it with INI_MAX_LINE 200). */
#define LINE_MAX_BYTES 196

struct parse_state {
    struct gw_config *cfg;
    const char *file;
    FILE *fp;
    int line;      /* line the handler is looking at */
    int next_line; /* line the reader reads next */
    char *linebuf;
    size_t linecap;
    struct gw_buf errors;
    int nerrors;
    /* which [gateway]/[irc] keys were seen, to catch duplicates */
    struct gw_conf_kv *seen;
    int nseen;
    char section[128];
    int section_line;
    enum {
        SEC_NONE,
        SEC_GATEWAY,
        SEC_IRC,
        SEC_ACCOUNT,
        SEC_RELAY,
        SEC_USER,
        SEC_WEBHOOK
    } kind;
};

static void errorf(struct parse_state *ps, int line, const char *fmt, ...)
    GW_PRINTF(3, 4);

static void errorf(struct parse_state *ps, int line, const char *fmt, ...)
{
    va_list ap;
    if (ps->nerrors++ >= 20)
        return;
    if (ps->errors.len)
        gw_buf_puts(&ps->errors, "\n");
    gw_buf_printf(&ps->errors, "%s:%d: ", ps->file, line);
    va_start(ap, fmt);
    gw_buf_vprintf(&ps->errors, fmt, ap);
    va_end(ap);
}

bool gw_config_valid_user_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 30 || !isalpha((unsigned char)name[0]))
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
    }
    return true;
}

const struct gw_conf_user *gw_config_user(const struct gw_config *cfg,
                                          const char *name)
{
    for (int i = 0; i < cfg->nusers; i++)
        if (gw_strcasecmp(cfg->users[i].name, name) == 0)
            return &cfg->users[i];
    return NULL;
}

bool gw_config_valid_account_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (!isalnum(c) && c != '-' && c != '_')
            return false;
    }
    return true;
}

int gw_config_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < GW_ARRAY_LEN(yes); i++) {
        if (gw_strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (gw_strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return UV_EINVAL;
}

static bool is_loopback(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (strcmp(host, "localhost") == 0)
        return true;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false;
}

static int parse_addr(const char *s, struct gw_conf_addr *a, char *err,
                      size_t errlen)
{
    const char *colon;
    size_t hostlen;
    const char *host = s;
    memset(a, 0, sizeof(*a));
    if (*s == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "'%s' is not [ipv6]:port", s);
            return UV_EINVAL;
        }
        host = s + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "'%s' has no :port", s);
            return UV_EINVAL;
        }
        hostlen = (size_t)(colon - s);
        if (memchr(s, ':', hostlen)) {
            snprintf(err, errlen,
                     "IPv6 address '%s' needs brackets: [addr]:port", s);
            return UV_EINVAL;
        }
    }
    if (hostlen == 0 || hostlen >= sizeof(a->host)) {
        snprintf(err, errlen, "'%s' has no valid host", s);
        return UV_EINVAL;
    }
    memcpy(a->host, host, hostlen);
    a->host[hostlen] = '\0';
    if (strcmp(a->host, "localhost") == 0)
        gw_strlcpy(a->host, "127.0.0.1", sizeof(a->host));
    long port;
    if (gw_parse_long(colon + 1, 0, 65535, &port) < 0) {
        snprintf(err, errlen, "'%s' has no valid port (0-65535)", s);
        return UV_EINVAL;
    }
    a->port = (int)port;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, a->host, &a4) != 1 &&
        inet_pton(AF_INET6, a->host, &a6) != 1) {
        snprintf(err, errlen,
                 "'%s' is not an IP address (use 127.0.0.1, ::1, "
                 "0.0.0.0 or ::)",
                 a->host);
        return UV_EINVAL;
    }
    a->loopback = is_loopback(a->host);
    return 0;
}

int gw_config_parse_addrs(const char *s, struct gw_conf_addr **out, int *n,
                          char *err, size_t errlen)
{
    char *copy = gw_xstrdup(s);
    char *p = copy;
    struct gw_conf_addr *v = NULL;
    int count = 0, rc = 0;
    while (p != NULL) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (isspace((unsigned char)*p))
            p++;
        size_t len = strlen(p);
        while (len && isspace((unsigned char)p[len - 1]))
            p[--len] = '\0';
        if (len) {
            v = gw_xrealloc(v, sizeof(*v) * (size_t)(count + 1));
            rc = parse_addr(p, &v[count], err, errlen);
            if (rc < 0)
                break;
            count++;
        }
        p = comma ? comma + 1 : NULL;
    }
    free(copy);
    if (rc == 0 && count == 0) {
        snprintf(err, errlen, "no address given");
        rc = UV_EINVAL;
    }
    if (rc < 0) {
        free(v);
        return rc;
    }
    free(*out);
    *out = v;
    *n = count;
    return 0;
}

bool gw_config_common_account_key(const char *key)
{
    static const char *const keys[] = {
        "network", "channel",    "post_plain", "streaming", "poll_seconds",
        "tls_ca",  "tls_verify", "base_url",   "token",     "handle"};
    for (size_t i = 0; i < GW_ARRAY_LEN(keys); i++)
        if (strcmp(key, keys[i]) == 0)
            return true;
    return false;
}

const struct gw_conf_account *gw_config_account(const struct gw_config *cfg,
                                                const char *name)
{
    for (int i = 0; i < cfg->naccounts; i++)
        if (gw_strcasecmp(cfg->accounts[i].name, name) == 0)
            return &cfg->accounts[i];
    return NULL;
}

const char *gw_conf_account_get(const struct gw_conf_account *a,
                                const char *key)
{
    for (int i = 0; i < a->nkv; i++)
        if (strcmp(a->kv[i].key, key) == 0)
            return a->kv[i].value;
    return NULL;
}

static void set_str(char **dst, const char *v)
{
    free(*dst);
    *dst = gw_xstrdup(v);
}

static bool seen_before(struct parse_state *ps, const char *key)
{
    for (int i = 0; i < ps->nseen; i++) {
        if (strcmp(ps->seen[i].key, key) == 0) {
            errorf(ps, ps->line, "'%s' is already set on line %d", key,
                   ps->seen[i].line);
            return true;
        }
    }
    ps->seen =
        gw_xrealloc(ps->seen, sizeof(*ps->seen) * (size_t)(ps->nseen + 1));
    ps->seen[ps->nseen].key = gw_xstrdup(key);
    ps->seen[ps->nseen].value = NULL;
    ps->seen[ps->nseen].line = ps->line;
    ps->nseen++;
    return false;
}

static void gateway_key(struct parse_state *ps, const char *key,
                        const char *value)
{
    struct gw_config *cfg = ps->cfg;
    if (strcmp(key, "state_dir") == 0) {
        if (*value == '\0')
            errorf(ps, ps->line, "state_dir must not be empty");
        else
            set_str(&cfg->state_dir, value);
    } else if (strcmp(key, "log_level") == 0) {
        static const char *const names[] = {"error", "warn", "info", "debug"};
        for (size_t i = 0; i < GW_ARRAY_LEN(names); i++) {
            if (gw_strcasecmp(value, names[i]) == 0) {
                cfg->log_level = (enum gw_log_level)i;
                return;
            }
        }
        errorf(ps, ps->line,
               "log_level '%s' is not one of error, warn, info, debug", value);
    } else {
        errorf(ps, ps->line,
               "unknown key '%s' in [gateway] (known: "
               "state_dir, log_level)",
               key);
    }
}

bool gw_config_valid_channel(const char *s, const char *types)
{
    size_t n = strlen(s);
    if (n < 2 || n > GW_CHANNEL_MAX || strchr(types, s[0]) == NULL)
        return false;
    for (size_t i = 1; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == ',' || c == 7 || c == ':')
            return false;
    }
    return true;
}

static void irc_key(struct parse_state *ps, const char *key, const char *value)
{
    struct gw_config *cfg = ps->cfg;
    char err[256];
    if (strcmp(key, "listen") == 0) {
        cfg->listen_line = ps->line;
        if (*value == '\0') {
            free(cfg->listen);
            cfg->listen = NULL;
            cfg->nlisten = 0;
        } else if (gw_config_parse_addrs(value, &cfg->listen, &cfg->nlisten,
                                         err, sizeof(err)) < 0) {
            errorf(ps, ps->line, "listen: %s", err);
        }
    } else if (strcmp(key, "tls_listen") == 0) {
        if (*value &&
            gw_config_parse_addrs(value, &cfg->tls_listen, &cfg->ntls_listen,
                                  err, sizeof(err)) < 0)
            errorf(ps, ps->line, "tls_listen: %s", err);
    } else if (strcmp(key, "tls_cert") == 0) {
        set_str(&cfg->tls_cert, value);
    } else if (strcmp(key, "tls_key") == 0) {
        set_str(&cfg->tls_key, value);
    } else if (strcmp(key, "password") == 0) {
        set_str(&cfg->password, value);
    } else if (strcmp(key, "server_name") == 0) {
        size_t n = strlen(value);
        bool ok = n > 0 && n <= 63 && strchr(value, '.') != NULL;
        for (size_t i = 0; ok && i < n; i++)
            ok = isalnum((unsigned char)value[i]) || value[i] == '.' ||
                 value[i] == '-';
        if (!ok)
            errorf(ps, ps->line,
                   "server_name '%s' must be a host name with a "
                   "dot (letters, digits, '-', '.')",
                   value);
        else
            set_str(&cfg->server_name, value);
    } else if (strcmp(key, "control_channel") == 0) {
        if (!gw_config_valid_channel(value, "&#"))
            errorf(ps, ps->line,
                   "control_channel '%s' must start with & or # "
                   "and contain no spaces or commas",
                   value);
        else
            set_str(&cfg->control_channel, value);
    } else if (strcmp(key, "max_clients") == 0) {
        long v;
        if (gw_parse_long(value, 1, GW_CLIENTS_MAX, &v) < 0)
            errorf(ps, ps->line, "max_clients must be a number from 1 to %d",
                   GW_CLIENTS_MAX);
        else
            cfg->max_clients = (int)v;
    } else if (strcmp(key, "max_unregistered") == 0) {
        long v;
        if (gw_parse_long(value, 1, GW_CLIENTS_MAX, &v) < 0)
            errorf(ps, ps->line,
                   "max_unregistered must be a number from 1 to %d",
                   GW_CLIENTS_MAX);
        else
            cfg->max_unregistered = (int)v;
    } else if (strcmp(key, "ping_seconds") == 0) {
        long v;
        if (gw_parse_long(value, 5, 3600, &v) < 0)
            errorf(ps, ps->line,
                   "ping_seconds must be a number from 5 to 3600");
        else
            cfg->ping_seconds = (int)v;
    } else if (strcmp(key, "history_days") == 0) {
        long v;
        if (gw_parse_long(value, 0, 36500, &v) < 0)
            errorf(ps, ps->line,
                   "history_days must be a number from 0 (keep "
                   "everything) to 36500");
        else
            cfg->history_days = (int)v;
    } else if (strcmp(key, "autojoin_control") == 0) {
        if (gw_config_parse_bool(value, &cfg->autojoin_control) < 0)
            errorf(ps, ps->line, "autojoin_control must be yes or no, not '%s'",
                   value);
    } else {
        errorf(ps, ps->line,
               "unknown key '%s' in [irc] (known: listen, "
               "tls_listen, tls_cert, tls_key, password, server_name, "
               "control_channel, max_clients, max_unregistered, "
               "ping_seconds, history_days, autojoin_control)",
               key);
    }
}

static bool http_url(const char *v)
{
    const char *host = NULL;
    if (strncmp(v, "https://", 8) == 0)
        host = v + 8;
    else if (strncmp(v, "http://", 7) == 0)
        host = v + 7;
    if (host == NULL || *host == '\0' || *host == '/')
        return false;
    for (const char *p = v; *p != '\0'; p++)
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return false;
    return true;
}

static void webhook_key(struct parse_state *ps, const char *key,
                        const char *value)
{
    struct gw_config *cfg = ps->cfg;
    char err[256];
    if (strcmp(key, "listen") == 0) {
        if (*value != '\0' &&
            gw_config_parse_addrs(value, &cfg->webhook_listen,
                                  &cfg->nwebhook_listen, err, sizeof(err)) < 0)
            errorf(ps, ps->line, "listen: %s", err);
        else if (cfg->nwebhook_listen > 1)
            errorf(ps, ps->line, "[webhook] listen takes one address");
    } else if (strcmp(key, "public_url") == 0) {
        if (!http_url(value))
            errorf(ps, ps->line,
                   "public_url '%s' must be an https:// address the "
                   "networks can reach, e.g. https://parley.example.org/hooks",
                   value);
        else
            set_str(&cfg->webhook_public_url, value);
    } else if (strcmp(key, "tls_cert") == 0) {
        set_str(&cfg->webhook_tls_cert, value);
    } else if (strcmp(key, "tls_key") == 0) {
        set_str(&cfg->webhook_tls_key, value);
    } else {
        errorf(ps, ps->line,
               "unknown key '%s' in [webhook] (known: listen, public_url, "
               "tls_cert, tls_key; verify_token and app_secret belong in "
               "each [account])",
               key);
    }
}

static void account_key(struct parse_state *ps, const char *key,
                        const char *value)
{
    struct gw_conf_account *a = &ps->cfg->accounts[ps->cfg->naccounts - 1];
    for (int i = 0; i < a->nkv; i++) {
        if (strcmp(a->kv[i].key, key) == 0) {
            errorf(ps, ps->line, "'%s' is already set on line %d", key,
                   a->kv[i].line);
            return;
        }
    }
    a->kv = gw_xrealloc(a->kv, sizeof(*a->kv) * (size_t)(a->nkv + 1));
    a->kv[a->nkv].key = gw_xstrdup(key);
    a->kv[a->nkv].value = gw_xstrdup(value);
    a->kv[a->nkv].line = ps->line;
    a->nkv++;
}

static void relay_key(struct parse_state *ps, const char *key,
                      const char *value)
{
    struct gw_conf_relay *r = &ps->cfg->relays[ps->cfg->nrelays - 1];
    char err[300];
    if (gw_conf_relay_set(r, key, value, ps->line, err, sizeof(err)) < 0)
        errorf(ps, ps->line, "%s", err);
}

static void user_key(struct parse_state *ps, const char *key, const char *value)
{
    struct gw_conf_user *u = &ps->cfg->users[ps->cfg->nusers - 1];
    if (strcmp(key, "password_hash") == 0) {
        /* Only a hash: a password written here would be read by anyone
         * who can read the file. */
        if (strncmp(value, "$argon2id$", 10) != 0 || strlen(value) > 127)
            errorf(ps, ps->line,
                   "[user %s] password_hash must be an Argon2id hash "
                   "($argon2id$...), as `parley --hash-password` prints",
                   u->name);
        else if (u->password_hash != NULL)
            errorf(ps, ps->line, "'%s' is given twice in [user %s]", key,
                   u->name);
        else
            u->password_hash = gw_xstrdup(value);
    } else if (strcmp(key, "admin") == 0) {
        if (gw_config_parse_bool(value, &u->admin) < 0)
            errorf(ps, ps->line, "admin must be yes or no, not '%s'", value);
    } else {
        errorf(ps, ps->line,
               "unknown key '%s' in [user %s] (known: password_hash, admin)",
               key, u->name);
    }
}

/* Called by inih at each new section (we detect it by name change). */
static void begin_section(struct parse_state *ps, const char *section)
{
    struct gw_config *cfg = ps->cfg;
    gw_strlcpy(ps->section, section, sizeof(ps->section));
    ps->section_line = ps->line;
    for (int i = 0; i < ps->nseen; i++)
        free(ps->seen[i].key);
    ps->nseen = 0;
    char word[32] = "", name[96] = "";
    const char *sp = strchr(section, ' ');
    if (sp) {
        size_t wl = (size_t)(sp - section);
        if (wl >= sizeof(word))
            wl = sizeof(word) - 1;
        memcpy(word, section, wl);
        word[wl] = '\0';
        while (*sp == ' ')
            sp++;
        gw_strlcpy(name, sp, sizeof(name));
    } else {
        gw_strlcpy(word, section, sizeof(word));
    }
    if (strcmp(section, "gateway") == 0) {
        ps->kind = SEC_GATEWAY;
    } else if (strcmp(section, "irc") == 0) {
        ps->kind = SEC_IRC;
    } else if (strcmp(section, "webhook") == 0) {
        ps->kind = SEC_WEBHOOK;
        if (cfg->webhook_line != 0)
            errorf(ps, ps->line, "[webhook] is given twice (first on line %d)",
                   cfg->webhook_line);
        cfg->webhook_line = ps->line;
    } else if (strcmp(word, "account") == 0 || strcmp(word, "relay") == 0) {
        bool account = strcmp(word, "account") == 0;
        ps->kind = account ? SEC_ACCOUNT : SEC_RELAY;
        if (!gw_config_valid_account_name(name)) {
            errorf(ps, ps->line,
                   "[%s %s]: the name must be 1-32 letters, "
                   "digits, '-' or '_'",
                   word, name);
        }
        if (account) {
            if (gw_config_account(cfg, name)) {
                errorf(ps, ps->line, "[account %s] is defined twice", name);
            }
            cfg->accounts =
                gw_xrealloc(cfg->accounts, sizeof(*cfg->accounts) *
                                               (size_t)(cfg->naccounts + 1));
            struct gw_conf_account *a = &cfg->accounts[cfg->naccounts++];
            memset(a, 0, sizeof(*a));
            a->name = gw_xstrdup(name);
            a->line = ps->line;
        } else {
            cfg->relays = gw_xrealloc(
                cfg->relays, sizeof(*cfg->relays) * (size_t)(cfg->nrelays + 1));
            struct gw_conf_relay *r = &cfg->relays[cfg->nrelays++];
            memset(r, 0, sizeof(*r));
            r->name = gw_xstrdup(name);
            r->line = ps->line;
        }
    } else if (strcmp(word, "user") == 0) {
        ps->kind = SEC_USER;
        if (!gw_config_valid_user_name(name))
            errorf(ps, ps->line,
                   "[user %s]: the name must be 1-30 letters, digits, '-' or "
                   "'_', a letter first",
                   name);
        else if (gw_config_user(cfg, name))
            errorf(ps, ps->line, "[user %s] is defined twice", name);
        cfg->users = gw_xrealloc(cfg->users, sizeof(*cfg->users) *
                                                 (size_t)(cfg->nusers + 1));
        struct gw_conf_user *u = &cfg->users[cfg->nusers++];
        memset(u, 0, sizeof(*u));
        u->name = gw_xstrdup(name);
        u->line = ps->line;
    } else {
        ps->kind = SEC_NONE;
        errorf(ps, ps->line,
               "unknown section [%s] (known: [gateway], [irc], "
               "[webhook], [account NAME], [relay NAME], [user NAME])",
               section);
    }
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    struct parse_state *ps = user;
    if (strcmp(section, ps->section) != 0 || ps->section_line == 0)
        begin_section(ps, section);
    if (name == NULL)
        return 1;
    switch (ps->kind) {
    case SEC_GATEWAY:
        if (!seen_before(ps, name))
            gateway_key(ps, name, value);
        break;
    case SEC_IRC:
        if (!seen_before(ps, name))
            irc_key(ps, name, value);
        break;
    case SEC_WEBHOOK:
        if (!seen_before(ps, name))
            webhook_key(ps, name, value);
        break;
    case SEC_ACCOUNT:
        account_key(ps, name, value);
        break;
    case SEC_RELAY:
        relay_key(ps, name, value);
        break;
    case SEC_USER:
        user_key(ps, name, value);
        break;
    case SEC_NONE:
        if (ps->section[0] == '\0')
            errorf(ps, ps->line,
                   "'%s' is outside any section (start with "
                   "[gateway] or [irc])",
                   name);
        break;
    }
    return 1;
}

/* inih's reader: one line per call, so we know the line the handler sees. */
static char *reader(char *str, int num, void *stream)
{
    struct parse_state *ps = stream;
    ssize_t n = getline(&ps->linebuf, &ps->linecap, ps->fp);
    if (n < 0)
        return NULL;
    ps->line = ++ps->next_line;
    if (n > 0 && ps->linebuf[n - 1] == '\n')
        n--;
    if (n > 0 && ps->linebuf[n - 1] == '\r')
        n--;
    if (n > LINE_MAX_BYTES || n >= num - 2) {
        errorf(ps, ps->line, "line is too long (%zd bytes, at most %d)", n,
               LINE_MAX_BYTES);
        gw_strlcpy(str, ";", (size_t)num);
        return str;
    }
    if (memchr(ps->linebuf, '\0', (size_t)n)) {
        errorf(ps, ps->line, "line contains a NUL byte");
        gw_strlcpy(str, ";", (size_t)num);
        return str;
    }
    /* Sections are noticed here: inih calls the handler only for keys, and
     * an empty unknown section is an error too. */
    const char *t = ps->linebuf;
    while (t < ps->linebuf + n && (*t == ' ' || *t == '\t'))
        t++;
    if (*t == '[') {
        const char *close = memchr(t, ']', (size_t)(ps->linebuf + n - t));
        if (close) {
            char section[128];
            size_t sl = (size_t)(close - t - 1);
            if (sl >= sizeof(section))
                sl = sizeof(section) - 1;
            memcpy(section, t + 1, sl);
            section[sl] = '\0';
            begin_section(ps, section);
        }
    }
    memcpy(str, ps->linebuf, (size_t)n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

static char *resolve_path(const char *base_dir, const char *p)
{
    if (p[0] == '/' || base_dir[0] == '\0')
        return gw_xstrdup(p);
    return gw_xasprintf("%s/%s", base_dir, p);
}

int gw_config_check_account_kv(const struct gw_adapter_ops *ops,
                               const char *key, const char *value, char *err,
                               size_t errlen)
{
    bool known = gw_config_common_account_key(key);
    for (const char *const *p = ops->keys; !known && p && *p; p++)
        known = strcmp(*p, key) == 0;
    bool b;
    long l;
    if (!known) {
        snprintf(err, errlen, "unknown key '%s' for a %s account", key,
                 ops->name);
    } else if ((strcmp(key, "post_plain") == 0 ||
                strcmp(key, "streaming") == 0 ||
                strcmp(key, "tls_verify") == 0) &&
               gw_config_parse_bool(value, &b) < 0) {
        snprintf(err, errlen, "%s must be yes or no, not '%s'", key, value);
    } else if (strcmp(key, "poll_seconds") == 0 &&
               gw_parse_long(value, 1, 86400, &l) < 0) {
        /* Each network sets its own floor in check_setting (Mastodon's
         * is 5 s); a local test network answers in a second. */
        snprintf(err, errlen,
                 "poll_seconds must be a number from 1 to "
                 "86400, not '%s'",
                 value);
    } else if (strcmp(key, "channel") == 0 &&
               !gw_config_valid_channel(value, "#")) {
        snprintf(err, errlen,
                 "channel '%s' must start with # and contain "
                 "no spaces or commas",
                 value);
    } else if (strcmp(key, "network") != 0 && ops->check_setting &&
               ops->check_setting(key, value, err, errlen) < 0) {
        /* err filled by the adapter */
    } else {
        return 0;
    }
    return UV_EINVAL;
}

static void validate(struct parse_state *ps)
{
    struct gw_config *cfg = ps->cfg;
    char err[256];
    bool public_listen = false;
    for (int i = 0; i < cfg->nlisten; i++)
        public_listen |= !cfg->listen[i].loopback;
    for (int i = 0; i < cfg->ntls_listen; i++)
        public_listen |= !cfg->tls_listen[i].loopback;
    if (public_listen && cfg->password[0] == '\0')
        errorf(ps, cfg->listen_line,
               "[irc] listens on a non-loopback address but has no "
               "password: set password = ... (anyone who can reach the port "
               "could use your accounts)");
    if (cfg->nlisten == 0 && cfg->ntls_listen == 0)
        errorf(ps, cfg->listen_line,
               "[irc] has neither listen nor tls_listen: nobody "
               "could connect");
    if (cfg->ntls_listen && (cfg->tls_cert == NULL || cfg->tls_key == NULL))
        errorf(ps, 0, "[irc] tls_listen needs tls_cert and tls_key");

    if (cfg->webhook_line != 0 && cfg->nwebhook_listen == 0)
        errorf(ps, cfg->webhook_line,
               "[webhook] needs listen = host:port (e.g. 127.0.0.1:8448)");
    if ((cfg->webhook_tls_cert == NULL) != (cfg->webhook_tls_key == NULL))
        errorf(ps, cfg->webhook_line,
               "[webhook] tls_cert and tls_key go together");
    for (int i = 0; i < cfg->nwebhook_listen; i++)
        for (int j = 0; j < cfg->nlisten; j++)
            if (cfg->webhook_listen[i].port != 0 &&
                cfg->webhook_listen[i].port == cfg->listen[j].port &&
                strcmp(cfg->webhook_listen[i].host, cfg->listen[j].host) == 0)
                errorf(ps, cfg->webhook_line,
                       "[webhook] listen %s:%d is also an [irc] listen address",
                       cfg->listen[j].host, cfg->listen[j].port);
    for (int i = 0; i < cfg->naccounts; i++) {
        struct gw_conf_account *a = &cfg->accounts[i];
        const char *net = gw_conf_account_get(a, "network");
        const struct gw_adapter_ops *ops = net ? gw_adapter_find(net) : NULL;
        if (net == NULL) {
            errorf(ps, a->line, "[account %s] needs network = (mastodon, ...)",
                   a->name);
            continue;
        }
        if (ops == NULL) {
            int line = a->line;
            for (int k = 0; k < a->nkv; k++)
                if (strcmp(a->kv[k].key, "network") == 0)
                    line = a->kv[k].line;
            char known[256];
            gw_adapter_names(known, sizeof(known));
            errorf(ps, line, "network '%s' is not known (this build knows: %s)",
                   net, known);
            continue;
        }
        a->network = gw_xstrdup(net);
        for (int k = 0; k < a->nkv; k++) {
            struct gw_conf_kv *kv = &a->kv[k];
            if (gw_config_check_account_kv(ops, kv->key, kv->value, err,
                                           sizeof(err)) < 0)
                errorf(ps, kv->line, "%s", err);
        }
        const char *ch = gw_conf_account_get(a, "channel");
        a->channel = ch ? gw_xstrdup(ch) : gw_xasprintf("#%s", a->name);
        const char *pp = gw_conf_account_get(a, "post_plain");
        a->post_plain = false;
        if (pp)
            gw_config_parse_bool(pp, &a->post_plain);
        for (int j = 0; j < i; j++)
            if (cfg->accounts[j].channel &&
                gw_strcasecmp(cfg->accounts[j].channel, a->channel) == 0)
                errorf(ps, a->line,
                       "[account %s] uses channel %s, like "
                       "[account %s]",
                       a->name, a->channel, cfg->accounts[j].name);
        if (gw_strcasecmp(a->channel, cfg->control_channel) == 0)
            errorf(ps, a->line, "[account %s] cannot use the control channel",
                   a->name);
    }
}

/* Relays are checked once the file's directory is known (tls_ca). */
static void validate_relays(struct parse_state *ps, const char *dir)
{
    struct gw_config *cfg = ps->cfg;
    char err[300];
    for (int i = 0; i < cfg->nrelays; i++) {
        struct gw_conf_relay *r = &cfg->relays[i];
        int line = r->line;
        if (gw_conf_relay_check(r, dir, &line, err, sizeof(err)) < 0)
            errorf(ps, line, "%s", err);
        for (int j = 0; j < i; j++)
            if (gw_strcasecmp(cfg->relays[j].name, r->name) == 0)
                errorf(ps, r->line, "[relay %s] is defined twice", r->name);
    }
    for (int i = 0; i < cfg->nusers; i++)
        if (cfg->users[i].password_hash == NULL)
            errorf(ps, cfg->users[i].line,
                   "[user %s] needs password_hash (parley --hash-password)",
                   cfg->users[i].name);
}

int gw_config_load(const char *path, struct gw_config **out, char *err,
                   size_t errlen)
{
    struct parse_state ps;
    memset(&ps, 0, sizeof(ps));
    *out = NULL;
    ps.file = path;
    ps.fp = fopen(path, "r");
    if (ps.fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return UV_ENOENT;
    }
    struct gw_config *cfg = gw_xcalloc(1, sizeof(*cfg));
    cfg->path = gw_xstrdup(path);
    cfg->state_dir = gw_xstrdup("state");
    cfg->log_level = GW_LOG_INFO;
    cfg->password = gw_xstrdup("");
    cfg->server_name = gw_xstrdup("parley.localhost");
    cfg->control_channel = gw_xstrdup("&parley");
    cfg->max_clients = 1024;
    cfg->max_unregistered = GW_UNREGISTERED_DEFAULT;
    cfg->ping_seconds = 90;
    cfg->history_days = 365;
    cfg->autojoin_control = true;
    gw_config_parse_addrs("127.0.0.1:6667", &cfg->listen, &cfg->nlisten, err,
                          errlen);
    ps.cfg = cfg;
    gw_buf_init(&ps.errors, 16384);

    int rc = ini_parse_stream(reader, &ps, handler, &ps);
    if (rc > 0 && ps.nerrors == 0)
        errorf(&ps, rc, "not an INI line (expected [section] or key = value)");
    else if (rc < 0)
        errorf(&ps, 0, "cannot read the file");
    fclose(ps.fp);
    free(ps.linebuf);
    for (int i = 0; i < ps.nseen; i++)
        free(ps.seen[i].key);
    free(ps.seen);

    if (ps.nerrors == 0)
        validate(&ps);

    /* Relative paths are relative to the config file, not the cwd, so the
     * same file works from systemd and from a shell. */
    char *dir = gw_xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    else
        dir[0] = '\0';
    char *sd = resolve_path(dir, cfg->state_dir);
    free(cfg->state_dir);
    cfg->state_dir = sd;
    if (cfg->tls_cert) {
        char *p = resolve_path(dir, cfg->tls_cert);
        free(cfg->tls_cert);
        cfg->tls_cert = p;
    }
    char **paths[] = {&cfg->tls_key, &cfg->webhook_tls_cert,
                      &cfg->webhook_tls_key};
    for (size_t i = 0; i < GW_ARRAY_LEN(paths); i++) {
        if (*paths[i] != NULL) {
            char *p = resolve_path(dir, *paths[i]);
            free(*paths[i]);
            *paths[i] = p;
        }
    }
    if (ps.nerrors == 0)
        validate_relays(&ps, dir);
    free(dir);

    if (ps.nerrors) {
        if (ps.nerrors > 20)
            gw_buf_printf(&ps.errors, "\n%s: %d more errors", path,
                          ps.nerrors - 20);
        gw_strlcpy(err, ps.errors.data, errlen);
        gw_buf_free(&ps.errors);
        gw_config_free(cfg);
        return UV_EINVAL;
    }
    gw_buf_free(&ps.errors);
    *out = cfg;
    return 0;
}

void gw_config_free(struct gw_config *cfg)
{
    if (cfg == NULL)
        return;
    free(cfg->path);
    free(cfg->state_dir);
    free(cfg->listen);
    free(cfg->tls_listen);
    free(cfg->tls_cert);
    free(cfg->tls_key);
    free(cfg->webhook_listen);
    free(cfg->webhook_public_url);
    free(cfg->webhook_tls_cert);
    free(cfg->webhook_tls_key);
    free(cfg->password);
    free(cfg->server_name);
    free(cfg->control_channel);
    for (int i = 0; i < cfg->naccounts; i++) {
        struct gw_conf_account *a = &cfg->accounts[i];
        free(a->name);
        free(a->network);
        free(a->channel);
        for (int k = 0; k < a->nkv; k++) {
            free(a->kv[k].key);
            free(a->kv[k].value);
        }
        free(a->kv);
    }
    free(cfg->accounts);
    for (int i = 0; i < cfg->nrelays; i++)
        gw_conf_relay_free(&cfg->relays[i]);
    free(cfg->relays);
    for (int i = 0; i < cfg->nusers; i++) {
        free(cfg->users[i].name);
        free(cfg->users[i].password_hash);
    }
    free(cfg->users);
    free(cfg);
}
