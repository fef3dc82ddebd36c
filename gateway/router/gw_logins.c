/*
 * The control channel's "user" commands: who may sign in (per-person
 * logins). An admin adds and removes people and sets their passwords; a
 * person changes their own. Passwords are hashed off the loop (gw_users),
 * never shown (gw_router_mask hides them as they are typed) and never
 * stored but as a hash. With no users at all, whoever has the gateway
 * password may add the first one, who becomes an admin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_users.h"

struct said_after {
    struct gw_router *r;
    char by[64];
    char what[32];
};

static void tell(const struct gw_speaker *sp, const char *place,
                 const char *text)
{
    gw__tell(sp, place, "%s", text);
}

/* Hashing is done: the control channel hears of it (the one who asked may
 * be gone by now). */
static void on_set(void *arg, int rc, const char *name)
{
    struct said_after *a = arg;
    if (!a->r->stopping) {
        if (rc < 0)
            gw__control_say(a->r, "could not %s %s: %s", a->what, name,
                            rc == UV_EIO ? gw_store_errmsg(gw__store(a->r))
                                         : uv_strerror(rc));
        else if (strcmp(a->what, "add") == 0)
            gw__control_say(a->r,
                            "%s may sign in now (added by %s): SASL "
                            "PLAIN as %s, or PASS %s:password",
                            name, a->by, name, name);
        else
            gw__control_say(a->r, "%s's password was changed by %s", name,
                            a->by);
    }
    free(a);
}

static bool may_manage(struct gw_router *r, const struct gw_speaker *sp)
{
    return sp->admin || !gw_users_enabled(r->gw);
}

static void user_list(struct gw_router *r, const struct gw_speaker *sp,
                      const char *place)
{
    const struct gw_config *cfg = r->gw->cfg;
    char line[512];
    int n = 0;
    for (int i = 0; i < cfg->nusers; i++, n++) {
        snprintf(line, sizeof(line), "%s%s (gateway.conf)", cfg->users[i].name,
                 cfg->users[i].admin ? ", admin" : "");
        tell(sp, place, line);
    }
    struct gw_user_row *rows = NULL;
    int m = gw_store_user_list(gw__store(r), &rows);
    for (int i = 0; i < m; i++) {
        if (gw_config_user(cfg, rows[i].name) != NULL)
            continue; /* the file's word wins */
        snprintf(line, sizeof(line), "%s%s", rows[i].name,
                 rows[i].admin ? ", admin" : "");
        tell(sp, place, line);
        n++;
    }
    gw_user_rows_free(rows, m > 0 ? m : 0);
    if (n == 0)
        tell(sp, place,
             "no users: whoever has the gateway password is the one person "
             "here. 'user add NAME PASSWORD' starts per-person logins");
}

static void user_set(struct gw_router *r, const struct gw_speaker *sp,
                     const char *place, const char *name, const char *password,
                     bool admin, const char *what)
{
    struct said_after *a = gw_xcalloc(1, sizeof(*a));
    a->r = r;
    gw_strlcpy(a->by, sp->person, sizeof(a->by));
    gw_strlcpy(a->what, what, sizeof(a->what));
    int rc = gw_users_set(r->gw, name, password, admin, on_set, a);
    if (rc == 0)
        return;
    free(a);
    char text[256];
    if (rc == UV_EPERM)
        snprintf(text, sizeof(text),
                 "%s is defined in gateway.conf: change it there "
                 "(parley --hash-password)",
                 name);
    else if (strlen(password) > GW_PASSWORD_MAX)
        snprintf(text, sizeof(text), "a password is at most %d bytes",
                 GW_PASSWORD_MAX);
    else
        snprintf(text, sizeof(text),
                 "a user name is 1-30 letters, digits, '-' or '_', a letter "
                 "first");
    tell(sp, place, text);
}

void gw__users_command(struct gw_router *r, const struct gw_speaker *sp,
                       const char *place, char *rest)
{
    char *sub = gw_next_word(&rest);
    char text[256];
    if (sub == NULL || gw_strcasecmp(sub, "list") == 0) {
        user_list(r, sp, place);
        return;
    }
    gw_strlower(sub);
    char *a1 = gw_next_word(&rest);
    char *a2 = gw_next_word(&rest);
    char *a3 = gw_next_word(&rest);
    if (strcmp(sub, "passwd") == 0 && a1 != NULL && a2 == NULL) {
        /* Their own. */
        if (!gw_users_find(r->gw, sp->person, NULL, 0, NULL)) {
            tell(sp, place, "you did not sign in as a user");
            return;
        }
        user_set(r, sp, place, sp->person, a1, false, "passwd");
        return;
    }
    if (!may_manage(r, sp)) {
        tell(sp, place, "only an admin may do that");
        return;
    }
    if (strcmp(sub, "add") == 0 && a1 != NULL && a2 != NULL) {
        bool admin = a3 != NULL && gw_strcasecmp(a3, "admin") == 0;
        /* The first person can only be the one who manages the rest. */
        if (!gw_users_enabled(r->gw))
            admin = true;
        if (gw_users_find(r->gw, a1, NULL, 0, NULL)) {
            snprintf(text, sizeof(text),
                     "%s is a user already; 'user passwd %s PASSWORD' "
                     "changes the password",
                     a1, a1);
            tell(sp, place, text);
            return;
        }
        user_set(r, sp, place, a1, a2, admin, "add");
    } else if (strcmp(sub, "passwd") == 0 && a1 != NULL && a2 != NULL) {
        bool admin = false;
        char canon[32];
        if (!gw_users_find(r->gw, a1, canon, sizeof(canon), &admin)) {
            snprintf(text, sizeof(text), "there is no user %s", a1);
            tell(sp, place, text);
            return;
        }
        user_set(r, sp, place, canon, a2, admin, "passwd");
    } else if (strcmp(sub, "del") == 0 && a1 != NULL) {
        if (gw_strcasecmp(a1, sp->person) == 0) {
            tell(sp, place, "you cannot remove yourself; ask another admin");
            return;
        }
        int rc = gw_users_del(r->gw, a1);
        if (rc == UV_EPERM)
            snprintf(text, sizeof(text),
                     "%s is defined in gateway.conf: remove it there", a1);
        else if (rc == UV_ENOENT)
            snprintf(text, sizeof(text), "there is no user %s", a1);
        else if (rc < 0)
            snprintf(text, sizeof(text), "could not remove %s: %s", a1,
                     gw_store_errmsg(gw__store(r)));
        if (rc < 0) {
            tell(sp, place, text);
            return;
        }
        gw__control_say(r,
                        "%s was removed by %s (sessions already signed in "
                        "stay until they leave)",
                        a1, sp->person);
    } else {
        tell(sp, place,
             "usage: user list | user add NAME PASSWORD [admin] | user "
             "passwd [NAME] PASSWORD | user del NAME");
    }
}
