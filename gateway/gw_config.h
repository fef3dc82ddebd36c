/*
 * gateway.conf: INI parsed with libinih. Every key of the contract, the
 * documented defaults, and errors as "file:line: message". Unknown sections
 * and keys are errors. A loaded config is immutable; a reload builds a new
 * one and the gateway swaps it in.
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

enum gw_log_level {
    GW_LOG_ERROR = 0,
    GW_LOG_WARN = 1,
    GW_LOG_INFO = 2,
    GW_LOG_DEBUG = 3,
};

struct gw_conf_addr {
    char host[64]; /* "127.0.0.1", "::1", "0.0.0.0" */
    int port;
    bool loopback;
};

/* A key = value with the line it came from. */
struct gw_conf_kv {
    char *key;
    char *value;
    int line;
};

struct gw_conf_account {
    char *name;
    int line; /* the [account NAME] line */
    char *network;
    char *channel; /* "#" + name unless set */
    bool post_plain;
    struct gw_conf_kv *kv; /* every key as written, network included */
    int nkv;
};

/* One channel a relay joins, with its key ("#chan key" in channels). */
struct gw_conf_relay_chan {
    char *name;
    char *key; /* NULL for none */
};

/*
 * [relay NAME]: a client connection to another IRC network (see
 * gateway/relay). Every string is owned; NULL when not given.
 */
struct gw_conf_relay {
    char *name;
    int line;
    char *server; /* host:port as written */
    char *host;   /* parsed from server */
    int port;
    bool tls;        /* default: port 6697 */
    char *tls_ca;    /* a PEM file trusted too, relative to the file */
    bool tls_verify; /* default yes */
    char *nick;
    char *password; /* server password (PASS) */
    char *sasl_user;
    char *sasl_password;
    char *nickserv_password;
    char *channels; /* as written */
    struct gw_conf_relay_chan *chans;
    int nchans;
    char *accounts; /* as written */
    char **account_names;
    int naccount_names;
    char *dm_channel;      /* DMs go only there; NULL: nowhere */
    int flood_lines;       /* burst: lines sent at once at most */
    int flood_seconds;     /* ... and flood_lines per flood_seconds after it */
    struct gw_conf_kv *kv; /* every key as written, for errors and reload */
    int nkv;
};

/* [user NAME]: a person who signs in as themself. */
struct gw_conf_user {
    char *name;
    int line;
    char *password_hash; /* $argon2id$..., from parley --hash-password */
    bool admin;          /* may add accounts and users */
};

struct gw_config {
    char *path;
    /* [gateway] */
    char *state_dir;
    enum gw_log_level log_level;
    /* [irc] */
    struct gw_conf_addr *listen;
    int nlisten;
    int listen_line; /* where listen was set, for errors; 0 = default */
    struct gw_conf_addr *tls_listen;
    int ntls_listen;
    char *tls_cert;
    char *tls_key;
    char *password; /* "" = none */
    char *server_name;
    char *control_channel;
    int max_clients;      /* registered clients */
    int max_unregistered; /* connections still registering */
    int ping_seconds; /* PING after this much silence, close after as much */
    int history_days; /* history older than this is pruned; 0: kept */
    bool autojoin_control; /* clients join the control channel on connect */
    /* [webhook]: pushed events (Meta, LinkedIn); no listener when
     * nwebhook_listen is 0. */
    struct gw_conf_addr *webhook_listen;
    int nwebhook_listen;
    int webhook_line;         /* the [webhook] line, for errors; 0 = none */
    char *webhook_public_url; /* what the networks call, NULL = not set */
    char *webhook_tls_cert;   /* serve TLS itself (no proxy in front) */
    char *webhook_tls_key;
    /* [account NAME] and [relay NAME] */
    struct gw_conf_account *accounts;
    int naccounts;
    struct gw_conf_relay *relays;
    int nrelays;
    /* [user NAME] */
    struct gw_conf_user *users;
    int nusers;
};

/*
 * Parse path. On error returns < 0, *out NULL and err holds every problem
 * found, one "file:line: message" per line. Relative state_dir and TLS
 * paths are taken relative to the directory of the file.
 */
int gw_config_load(const char *path, struct gw_config **out, char *err,
                   size_t errlen);
void gw_config_free(struct gw_config *cfg);

const struct gw_conf_account *gw_config_account(const struct gw_config *cfg,
                                                const char *name);
/* Value of key in an account section, or NULL. */
const char *gw_conf_account_get(const struct gw_conf_account *a,
                                const char *key);
/* Parse "host:port", "[v6]:port" or a comma-separated list of them. */
int gw_config_parse_addrs(const char *s, struct gw_conf_addr **out, int *n,
                          char *err, size_t errlen);
/* Account names: letters, digits, '-', '_', 1..32 chars. */
bool gw_config_valid_account_name(const char *name);
/* User names: letters, digits, '-', '_', 1..30 chars, a letter first (a
 * user's name is their nick where they have no other). */
bool gw_config_valid_user_name(const char *name);
const struct gw_conf_user *gw_config_user(const struct gw_config *cfg,
                                          const char *name);
/* Keys every account accepts, whatever its network. */
bool gw_config_common_account_key(const char *key);
struct gw_adapter_ops;
/* Check one account setting (common keys and the network's own); 0 or
 * UV_EINVAL with a sentence in err. */
int gw_config_check_account_kv(const struct gw_adapter_ops *ops,
                               const char *key, const char *value, char *err,
                               size_t errlen);
/* A [relay] key: stored, or UV_EINVAL with a sentence in err. */
int gw_conf_relay_set(struct gw_conf_relay *r, const char *key,
                      const char *value, int line, char *err, size_t errlen);
/* The section as a whole, once read: defaults, required keys, paths
 * relative to dir. 0, or UV_EINVAL with the line and a sentence. */
int gw_conf_relay_check(struct gw_conf_relay *r, const char *dir, int *line,
                        char *err, size_t errlen);
void gw_conf_relay_free(struct gw_conf_relay *r);
/* Do two sections describe the same connection (a reload keeps it)? */
bool gw_conf_relay_same(const struct gw_conf_relay *a,
                        const struct gw_conf_relay *b);
/* Is s a channel name of one of the types given ("#&")? */
bool gw_config_valid_channel(const char *s, const char *types);
/* yes/no/true/false/on/off/1/0 */
int gw_config_parse_bool(const char *s, bool *out);

#endif
