/*
 * People and logins: who may sign in ([user NAME] sections of gateway.conf
 * first, then users an admin added on IRC, kept in the store), their
 * passwords checked as Argon2id hashes (libsodium's crypto_pwhash, Debian's
 * libsodium), and who is an admin.
 *
 * A check costs ~70 ms and 64 MiB by design, so it runs on libuv's thread
 * pool, never on the loop: a client waits for its answer, the others do
 * not. With no users at all the gateway password (if any) admits one
 * person, as before.
 */
#ifndef GW_USERS_H
#define GW_USERS_H

#include <stdbool.h>
#include <stddef.h>

struct gateway;
struct gw_users_check;

/* Longest password taken: more is refused, not cut. */
#define GW_PASSWORD_MAX 256

/* Are there users (in the file or the store)? */
bool gw_users_enabled(struct gateway *gw);
/* Is name a user? Then true, their name as defined in canon (size >= 31)
 * and whether they are an admin. */
bool gw_users_find(struct gateway *gw, const char *name, char *canon,
                   size_t size, bool *admin);

/* rc: 0 when the password is theirs, UV_EACCES when not (or no such
 * user: the same answer, after the same time), < 0 for other errors.
 * name is the user's name as defined. */
typedef void (*gw_users_cb)(void *arg, int rc, const char *name);
/* Check a password off the loop; cb runs on the loop later, exactly once,
 * unless cancelled first. */
int gw_users_check(struct gateway *gw, const char *name, const char *password,
                   gw_users_cb cb, void *arg, struct gw_users_check **out);
/* The callback will not run (its arg may be freed now). */
void gw_users_cancel(struct gw_users_check *c);

/* Set a user's password (adding them), off the loop; cb(arg, rc, name)
 * once it is stored. A user of gateway.conf is changed there, not here:
 * UV_EPERM. */
int gw_users_set(struct gateway *gw, const char *name, const char *password,
                 bool admin, gw_users_cb cb, void *arg);
/* Remove a user added on IRC: 0, UV_ENOENT, or UV_EPERM for one of the
 * file. */
int gw_users_del(struct gateway *gw, const char *name);

/* An Argon2id hash of password in crypto_pwhash_str's form (blocking: for
 * `parley --hash-password`). 0, or < 0. */
int gw_users_hash(const char *password, char *out, size_t size);
/* libsodium once per process, before any of the above. */
int gw_users_init(void);

#endif
