/*
 * parley: an IRC gateway for social networks. This file only parses the
 * command line, loads the configuration and runs the loop.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "gw_config.h"
#include "gw_gateway.h"
#include "gw_store.h"
#include "gw_users.h"

#define PARLEY_VERSION "0.1.0"

/* Read one line from stdin (without echo on a terminal), print its
 * Argon2id hash. */
static int hash_password(void)
{
    struct termios old, quiet;
    bool tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fprintf(stderr, "password: ");
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char pw[GW_PASSWORD_MAX + 2];
    bool got = fgets(pw, sizeof(pw), stdin) != NULL;
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fprintf(stderr, "\n");
    }
    size_t n = got ? strcspn(pw, "\r\n") : 0;
    int rc = 1;
    if (!got || n == 0) {
        fprintf(stderr, "parley: no password given\n");
    } else if (pw[n] == '\0' && n > GW_PASSWORD_MAX) {
        fprintf(stderr, "parley: a password is at most %d bytes\n",
                GW_PASSWORD_MAX);
    } else {
        pw[n] = '\0';
        char hash[256];
        if (gw_users_init() == 0 &&
            gw_users_hash(pw, hash, sizeof(hash)) == 0) {
            printf("%s\n", hash);
            rc = 0;
        } else {
            fprintf(stderr, "parley: could not hash the password\n");
        }
    }
    memset(pw, 0, sizeof(pw));
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parley [-c FILE] [--check-config] [--hash-password]\n"
            "              [--version] [--help]\n"
            "\n"
            "An IRC gateway for social networks: mentions, replies and DMs\n"
            "as IRC channels and queries.\n"
            "\n"
            "  -c, --config FILE   configuration (default: gateway.conf)\n"
            "  -t, --check-config  validate the configuration and exit\n"
            "  --hash-password     read a password, print its hash for a\n"
            "                      [user NAME] section's password_hash\n"
            "  -V, --version       print the version and exit\n"
            "  -h, --help          this help\n"
            "\n"
            "Signals: SIGHUP reloads the configuration; SIGTERM and SIGINT\n"
            "stop gracefully.\n");
}

int main(int argc, char **argv)
{
    const char *path = "gateway.conf";
    int check = 0;
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, 't'},
        {"hash-password", no_argument, NULL, 'H'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "c:tVh", opts, NULL)) != -1) {
        switch (ch) {
        case 'c':
            path = optarg;
            break;
        case 't':
            check = 1;
            break;
        case 'H':
            return hash_password();
        case 'V':
            printf("parley %s (libuv %s, %s)\n", PARLEY_VERSION,
                   uv_version_string(), curl_version());
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "parley: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    if (gw_users_init() < 0) {
        fprintf(stderr, "parley: libsodium could not start\n");
        return 1;
    }
    struct gw_config *cfg = NULL;
    char err[8192];
    if (gw_config_load(path, &cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    if (check) {
        /* Accounts added in &parley live in the store, not in this file. */
        int stored = 0;
        bool have = gw_store_peek_accounts(cfg->state_dir, &stored) == 0;
        printf("%s: configuration OK (%d account%s in this file", path,
               cfg->naccounts, cfg->naccounts == 1 ? "" : "s");
        if (have)
            printf("; %d in %s/parley.db, with those added in &parley", stored,
                   cfg->state_dir);
        printf(")\n");
        gw_config_free(cfg);
        return 0;
    }

    /* A client that vanishes mid-write must not kill the daemon. */
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "parley: cannot initialise libcurl\n");
        gw_config_free(cfg);
        return 1;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct gateway gw;
    int rc = gw_gateway_start(&gw, &loop, cfg, path, err, sizeof(err));
    if (rc < 0) {
        fprintf(stderr, "parley: %s\n", err);
        gw_gateway_stop(&gw);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    gw_gateway_free(&gw);
    int closed = uv_loop_close(&loop);
    curl_global_cleanup();
    if (closed != 0)
        fprintf(stderr, "parley: warning: handles left open at exit\n");
    return rc < 0 ? 1 : 0;
}
