/*
 * People and logins (see gw_users.h): [user] sections, then the store's
 * users; passwords hashed and checked with Argon2id on libuv's thread pool.
 */
#include "gw_users.h"

#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "gw_gateway.h"
#include "gw_store.h"
#include "gw_util.h"

/*
 * A check for a name that is no user runs against this hash (of a random
 * string nobody knows, with the same cost), so that "no such user" takes as
 * long as "wrong password" and the two cannot be told apart.
 */
static const char nobody_hash[] =
    "$argon2id$v=19$m=65536,t=2,p=1$oLcp+jCeV+ADMA1fesCNOQ$"
    "wu3EHD8jXBcMBpryajs/fdxFR3oHHbh73bk/Zf1khwo";

struct gw_users_check {
    uv_work_t work;
    struct gateway *gw;
    gw_users_cb cb;
    void *arg;
    char name[32];
    char hash[crypto_pwhash_STRBYTES];
    char password[GW_PASSWORD_MAX + 1];
    bool known;     /* name is a user */
    bool set;       /* hash the password (user add), not check it */
    bool admin;     /* for set */
    bool cancelled; /* the callback must not run */
    int rc;
};

int gw_users_init(void)
{
    return sodium_init() < 0 ? UV_EIO : 0;
}

bool gw_users_find(struct gateway *gw, const char *name, char *canon,
                   size_t size, bool *admin)
{
    const struct gw_conf_user *cu = gw_config_user(gw->cfg, name);
    if (cu != NULL) {
        if (canon != NULL)
            gw_strlcpy(canon, cu->name, size);
        if (admin != NULL)
            *admin = cu->admin;
        return true;
    }
    struct gw_user_row u;
    if (gw->store == NULL || gw_store_user_get(gw->store, name, &u) < 0)
        return false;
    if (canon != NULL)
        gw_strlcpy(canon, u.name, size);
    if (admin != NULL)
        *admin = u.admin;
    gw_user_row_free(&u);
    return true;
}

bool gw_users_enabled(struct gateway *gw)
{
    int64_t n = 0;
    return gw->cfg->nusers > 0 ||
           (gw->store != NULL && gw_store_user_count(gw->store, &n) == 0 &&
            n > 0);
}

/* The hash a check compares with: the file's, else the store's. */
static bool hash_of(struct gateway *gw, const char *name, char *canon,
                    size_t csize, char *hash, size_t hsize)
{
    const struct gw_conf_user *cu = gw_config_user(gw->cfg, name);
    if (cu != NULL) {
        gw_strlcpy(canon, cu->name, csize);
        gw_strlcpy(hash, cu->password_hash, hsize);
        return true;
    }
    struct gw_user_row u;
    if (gw->store == NULL || gw_store_user_get(gw->store, name, &u) < 0)
        return false;
    gw_strlcpy(canon, u.name, csize);
    gw_strlcpy(hash, u.hash, hsize);
    gw_user_row_free(&u);
    return true;
}

/* On a thread of the pool: nothing of the gateway is touched here. */
static void work(uv_work_t *w)
{
    struct gw_users_check *c = w->data;
    size_t plen = strlen(c->password);
    if (c->set) {
        c->rc = crypto_pwhash_str(c->hash, c->password, plen,
                                  crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                  crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
                    ? 0
                    : UV_ENOMEM;
    } else {
        int ok = crypto_pwhash_str_verify(c->hash, c->password, plen);
        c->rc = ok == 0 && c->known ? 0 : UV_EACCES;
    }
    sodium_memzero(c->password, sizeof(c->password));
}

static void after(uv_work_t *w, int status)
{
    struct gw_users_check *c = w->data;
    int rc = status < 0 ? status : c->rc;
    if (rc == 0 && c->set && !c->cancelled) {
        if (gw_store_user_put(c->gw->store, c->name, c->hash, c->admin) < 0)
            rc = UV_EIO;
    }
    sodium_memzero(c->hash, sizeof(c->hash));
    if (!c->cancelled && c->cb != NULL)
        c->cb(c->arg, rc, c->name);
    free(c);
}

static struct gw_users_check *
check_new(struct gateway *gw, const char *password, gw_users_cb cb, void *arg)
{
    if (password == NULL || strlen(password) > GW_PASSWORD_MAX)
        return NULL;
    struct gw_users_check *c = gw_xcalloc(1, sizeof(*c));
    c->work.data = c;
    c->gw = gw;
    c->cb = cb;
    c->arg = arg;
    gw_strlcpy(c->password, password, sizeof(c->password));
    return c;
}

int gw_users_check(struct gateway *gw, const char *name, const char *password,
                   gw_users_cb cb, void *arg, struct gw_users_check **out)
{
    *out = NULL;
    struct gw_users_check *c = check_new(gw, password, cb, arg);
    if (c == NULL)
        return UV_EINVAL;
    c->known = name != NULL && hash_of(gw, name, c->name, sizeof(c->name),
                                       c->hash, sizeof(c->hash));
    if (!c->known) {
        gw_strlcpy(c->name, name != NULL ? name : "", sizeof(c->name));
        gw_strlcpy(c->hash, nobody_hash, sizeof(c->hash));
    }
    int rc = uv_queue_work(gw->loop, &c->work, work, after);
    if (rc < 0) {
        sodium_memzero(c, sizeof(*c));
        free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void gw_users_cancel(struct gw_users_check *c)
{
    if (c != NULL)
        c->cancelled = true;
}

int gw_users_set(struct gateway *gw, const char *name, const char *password,
                 bool admin, gw_users_cb cb, void *arg)
{
    if (gw_config_user(gw->cfg, name) != NULL)
        return UV_EPERM;
    if (!gw_config_valid_user_name(name))
        return UV_EINVAL;
    struct gw_users_check *c = check_new(gw, password, cb, arg);
    if (c == NULL)
        return UV_EINVAL;
    c->set = true;
    c->admin = admin;
    /* A user who exists keeps the name as first written. */
    if (!gw_users_find(gw, name, c->name, sizeof(c->name), NULL))
        gw_strlcpy(c->name, name, sizeof(c->name));
    int rc = uv_queue_work(gw->loop, &c->work, work, after);
    if (rc < 0) {
        sodium_memzero(c, sizeof(*c));
        free(c);
    }
    return rc;
}

int gw_users_del(struct gateway *gw, const char *name)
{
    if (gw_config_user(gw->cfg, name) != NULL)
        return UV_EPERM;
    return gw_store_user_del(gw->store, name);
}

int gw_users_hash(const char *password, char *out, size_t size)
{
    if (size < crypto_pwhash_STRBYTES || strlen(password) > GW_PASSWORD_MAX)
        return UV_EINVAL;
    return crypto_pwhash_str(out, password, strlen(password),
                             crypto_pwhash_OPSLIMIT_INTERACTIVE,
                             crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0
               ? 0
               : UV_ENOMEM;
}
