/*
 * The people of the networks and their nicks. A person is (network, author
 * id): the id never changes, the handle may. Their nick is derived once from
 * the handle, kept in the store, and never given to anyone else, so a person
 * keeps it across restarts and bouncers see stable nicks.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_text.h"

/* Nicks tried for one person before giving up on a clean one. */
#define NICK_TRIES 1000
/* People remembered in memory (a direct-mapped cache in front of the
 * store): the same few hundred people write most mentions, and the store
 * lookup was a tenth of the work per event. */
#define PEOPLE_CACHE 4096

struct person_slot {
    char *network;
    char *author_id;
    char *handle;
    char nick[GW_NICK_MAX + 1];
};

struct gw_people {
    struct person_slot slots[PEOPLE_CACHE];
};

static size_t person_hash(const char *network, const char *author_id)
{
    size_t h = 5381;
    for (const char *p = network; *p; p++)
        h = h * 33 + (unsigned char)*p;
    for (const char *p = author_id; *p; p++)
        h = h * 33 + (unsigned char)*p;
    return h % PEOPLE_CACHE;
}

static void slot_clear(struct person_slot *sl)
{
    free(sl->network);
    free(sl->author_id);
    free(sl->handle);
    memset(sl, 0, sizeof(*sl));
}

static struct person_slot *slot_of(struct gw_router *r, const char *network,
                                   const char *author_id)
{
    if (r->people == NULL)
        r->people = gw_xcalloc(1, sizeof(*r->people));
    return &r->people->slots[person_hash(network, author_id)];
}

static bool slot_is(const struct person_slot *sl, const char *network,
                    const char *author_id)
{
    return sl->network != NULL && strcmp(sl->network, network) == 0 &&
           strcmp(sl->author_id, author_id) == 0;
}

static void slot_set(struct person_slot *sl, const char *network,
                     const char *author_id, const char *handle,
                     const char *nick)
{
    slot_clear(sl);
    sl->network = gw_xstrdup(network);
    sl->author_id = gw_xstrdup(author_id);
    sl->handle = gw_xstrdup(handle);
    gw_strlcpy(sl->nick, nick, sizeof(sl->nick));
}

/* What the store may have lost (a group that failed to commit) or changed
 * behind the cache: it starts again from the store. */
void gw__people_forget(struct gw_router *r)
{
    if (r->people == NULL)
        return;
    for (size_t i = 0; i < PEOPLE_CACHE; i++)
        slot_clear(&r->people->slots[i]);
    free(r->people);
    r->people = NULL;
}

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

/*
 * A handle's two parts: "alice@example.social" is alice of example.social;
 * a DNS-style handle "alice.bsky.social" is alice of bsky.social; "alice"
 * alone has no domain (*dom NULL).
 */
static size_t handle_split(const char *handle, const char **dom)
{
    const char *at = strchr(handle, '@');
    if (at == NULL)
        at = strchr(handle, '.');
    *dom = at != NULL && at[1] != '\0' ? at + 1 : NULL;
    return at != NULL ? (size_t)(at - handle) : strlen(handle);
}

/* Is nick free for this person: nobody connected holds it, and no other
 * person has it? */
static bool nick_free(struct gw_router *r, const char *nick,
                      const char *network, const char *author_id)
{
    if (gw__nick_taken(r, nick))
        return false;
    struct gw_person_row o;
    memset(&o, 0, sizeof(o));
    if (gw_store_person_by_nick(gw__store(r), nick, &o) < 0)
        return true;
    bool mine =
        strcmp(o.network, network) == 0 && strcmp(o.author_id, author_id) == 0;
    gw_person_row_free(&o);
    return mine;
}

/* The first free nick: the handle's local part; on a clash local_domain;
 * then numbered. */
static void nick_derive(struct gw_router *r, const char *network,
                        const char *author_id, const char *handle, char *out,
                        size_t size)
{
    const char *dom = NULL;
    size_t locallen = handle_split(handle, &dom);
    char base[GW_NICK_MAX + 1], cand[GW_NICK_MAX + 1];
    nick_base(handle, locallen, base, sizeof(base));
    gw_strlcpy(cand, base, sizeof(cand));
    for (int n = 0; n <= NICK_TRIES; n++) {
        if (n == 1 && dom != NULL) {
            const char *dot = strchr(dom, '.');
            size_t dl = dot ? (size_t)(dot - dom) : strlen(dom);
            char d[GW_NICK_MAX + 1];
            nick_base(dom, dl, d, sizeof(d));
            int room = (int)GW_NICK_MAX - 1 - (int)strlen(d);
            snprintf(cand, sizeof(cand), "%.*s_%s", room > 0 ? room : 1, base,
                     d[0] == '_' ? d + 1 : d);
        } else if (n >= 2) {
            char num[16];
            snprintf(num, sizeof(num), "%d", n);
            snprintf(cand, sizeof(cand), "%.*s%s",
                     (int)(GW_NICK_MAX - strlen(num)), base, num);
        }
        if (nick_free(r, cand, network, author_id))
            break;
    }
    gw_strlcpy(out, cand, size);
}

/*
 * The account's owner holds the nick their handle gives, unless someone
 * connected holds it. A stranger given it before (named like the owner on
 * another server, seen before the owner ever signed in) moves to a nick of
 * their own, once; a notice in the control channel says so.
 */
int gw__people_owner(struct gw_account *a, const char *me_id,
                     const char *handle)
{
    struct gw_router *r = a->r;
    struct gw_store *st = gw__store(r);
    if (me_id == NULL || *me_id == '\0' || handle == NULL || *handle == '\0')
        return 0;
    const char *dom = NULL;
    char base[GW_NICK_MAX + 1];
    nick_base(handle, handle_split(handle, &dom), base, sizeof(base));
    if (gw__nick_taken(r, base))
        return 0;
    struct gw_person_row own, holder;
    memset(&own, 0, sizeof(own));
    memset(&holder, 0, sizeof(holder));
    bool have_own = gw_store_person_get(st, a->network, me_id, &own) == 0;
    bool mine = have_own && gw_strcasecmp(own.nick, base) == 0;
    gw_person_row_free(&own);
    if (mine)
        return 0;
    int rc = gw__group_begin(r);
    if (rc < 0)
        return rc;
    bool moved = gw_store_person_by_nick(st, base, &holder) == 0;
    if (moved) {
        /* The nick is unique in the store: the stranger lets go of it
         * first, under a name no nick can be. */
        char *tmp = gw_xasprintf(" %s %s", holder.network, holder.author_id);
        rc = gw_store_person_put(st, holder.network, holder.author_id,
                                 holder.handle, tmp);
        free(tmp);
    }
    if (rc == 0)
        rc = gw_store_person_put(st, a->network, me_id, handle, base);
    char other[GW_NICK_MAX + 1] = "";
    if (rc == 0 && moved) {
        nick_derive(r, holder.network, holder.author_id, holder.handle, other,
                    sizeof(other));
        rc = gw_store_person_put(st, holder.network, holder.author_id,
                                 holder.handle, other);
    }
    gw__people_forget(r);
    if (rc == 0 && moved)
        gw__bot_line(r, r->gw->cfg->control_channel, true,
                     "%s is the nick of %s's owner (%s) now; %s (%s on %s) "
                     "is %s",
                     base, a->name, handle, base, holder.handle, holder.network,
                     other);
    gw_person_row_free(&holder);
    return rc;
}

int gw__person_for(struct gw_account *a, const char *author_id,
                   const char *handle, const char *name, const char *url,
                   struct gw_who *out)
{
    struct gw_router *r = a->r;
    struct gw_store *st = gw__store(r);
    out->nick[0] = '\0';
    if (author_id == NULL || *author_id == '\0')
        author_id = handle;
    struct person_slot *sl = slot_of(r, a->network, author_id);
    if (slot_is(sl, a->network, author_id) && strcmp(sl->handle, handle) == 0 &&
        !gw__nick_taken(r, sl->nick)) {
        gw_strlcpy(out->nick, sl->nick, sizeof(out->nick));
    } else {
        struct gw_person_row row;
        memset(&row, 0, sizeof(row));
        bool known =
            gw_store_person_get(st, a->network, author_id, &row) == 0 &&
            !gw__nick_taken(r, row.nick); /* a user took it: find another */
        if (known)
            gw_strlcpy(out->nick, row.nick, sizeof(out->nick));
        else
            nick_derive(r, a->network, author_id, handle, out->nick,
                        sizeof(out->nick));
        if (!known || strcmp(row.handle, handle) != 0) {
            int rc = gw_store_person_put(st, a->network, author_id, handle,
                                         out->nick);
            if (rc < 0) {
                gw_person_row_free(&row);
                return rc;
            }
        }
        gw_person_row_free(&row);
        slot_set(sl, a->network, author_id, handle, out->nick);
    }

    const char *dom = NULL;
    size_t locallen = handle_split(handle, &dom);
    const char *at = strchr(handle, '@');
    if (at == NULL) /* DNS-style and bare handles: all of it is the user */
        locallen = strlen(handle);
    sanitize_ident(handle, locallen, out->user, sizeof(out->user), false);
    if (at != NULL)
        sanitize_ident(at + 1, strlen(at + 1), out->host, sizeof(out->host),
                       true);
    else
        gw_strlcpy(out->host, a->network, sizeof(out->host));
    char *cname = gw_text_one_line(name ? name : "");
    gw_strlcpy(out->realname, cname, sizeof(out->realname));
    free(cname);
    char whois[1024];
    snprintf(whois, sizeof(whois), "is %s on %s (account %s)\n%s%s", handle,
             a->network, a->name, url && *url ? "profile: " : "",
             url && *url ? url : "");
    char *cwhois = gw_text_sanitize(whois, strlen(whois));
    gw_strlcpy(out->whois, cwhois, sizeof(out->whois));
    free(cwhois);
    snprintf(out->prefix, sizeof(out->prefix), "%s!%s@%s", out->nick, out->user,
             out->host);
    out->p.nick = out->nick;
    out->p.user = out->user;
    out->p.host = out->host;
    out->p.realname = out->realname;
    out->p.whois = out->whois;
    return 0;
}

int gw__person_by_nick(struct gw_router *r, const char *nick, char **handle,
                       char **author_id, struct gw_account **acct,
                       struct gw_post *post)
{
    *handle = NULL;
    *acct = NULL;
    if (author_id != NULL)
        *author_id = NULL;
    if (strlen(nick) > GW_NICK_MAX)
        return UV_ENOENT;
    struct gw_person_row row;
    memset(&row, 0, sizeof(row));
    if (gw_store_person_by_nick(gw__store(r), nick, &row) < 0)
        return UV_ENOENT;
    /* Their latest post, in the query or else in an account channel of
     * their network. */
    char lower[GW_NICK_MAX + 1];
    gw_strlcpy(lower, nick, sizeof(lower));
    gw_strlower(lower);
    struct gw_post p;
    memset(&p, 0, sizeof(p));
    bool found =
        gw_store_post_latest_by(gw__store(r), lower, row.author_id, &p) == 0;
    for (struct gw_account *a = r->accounts; a && !found; a = a->next)
        found = strcmp(a->network, row.network) == 0 &&
                gw_store_post_latest_by(gw__store(r), a->channel, row.author_id,
                                        &p) == 0;
    if (found)
        *acct = gw__account(r, p.account);
    if (*acct != NULL && post != NULL)
        *post = p;
    else
        gw_post_free(&p);
    if (*acct == NULL) {
        /* The only account of their network. */
        struct gw_account *only = NULL;
        int n = 0;
        for (struct gw_account *a = r->accounts; a; a = a->next)
            if (strcmp(a->network, row.network) == 0) {
                only = a;
                n++;
            }
        if (n == 1)
            *acct = only;
    }
    *handle = row.handle;
    row.handle = NULL;
    if (author_id != NULL) {
        *author_id = row.author_id;
        row.author_id = NULL;
    }
    gw_person_row_free(&row);
    return 0;
}

void gw__nick_of(struct gw_router *r, const char *network,
                 const char *author_id, const char *handle, char *out,
                 size_t size)
{
    struct person_slot *sl = slot_of(r, network, author_id);
    if (slot_is(sl, network, author_id)) {
        gw_strlcpy(out, sl->nick, size);
        return;
    }
    struct gw_person_row row;
    memset(&row, 0, sizeof(row));
    if (gw_store_person_get(gw__store(r), network, author_id, &row) == 0)
        gw_strlcpy(out, row.nick, size);
    else
        gw_strlcpy(out, handle, size);
    gw_person_row_free(&row);
}
