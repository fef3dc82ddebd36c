/*
 * Failed logins. Without a brake, a client answered 21,954 wrong PASSes in
 * 3 s: the password was as good as its length allowed an attacker to try.
 * Each source address that gave a wrong password has an entry here; after
 * a few free mistakes, the next verdict for that address waits until a
 * growing delay after its last failure (gw_limits.h says how long). The
 * client is held, not refused: the right password still gets in, only
 * later. Entries are few (GW_AUTH_HOSTS_MAX), forgotten after a while, and
 * the least recently failed makes room for a new one.
 */
#include "gw_ircd_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw_gateway.h"

struct gw_auth_host {
    char host[64];   /* as in gw_client.host; "" for a free entry */
    int failures;    /* since the address was last forgotten */
    int64_t last_ms; /* the last failure */
    int64_t next_ms; /* no verdict for this address before this */
};

static struct gw_auth_host *table(struct gw_ircd *d)
{
    if (d->auth == NULL)
        d->auth = gw_xcalloc(GW_AUTH_HOSTS_MAX, sizeof(*d->auth));
    return d->auth;
}

static bool forgotten(const struct gw_auth_host *h, int64_t now)
{
    return h->host[0] == '\0' || now - h->last_ms > GW_AUTH_FORGET_MS;
}

/* The entry of host, or NULL when it has none (or it was forgotten). */
static struct gw_auth_host *find(struct gw_ircd *d, const char *host)
{
    if (d->auth == NULL)
        return NULL;
    int64_t now = gw_now_ms();
    for (int i = 0; i < GW_AUTH_HOSTS_MAX; i++) {
        struct gw_auth_host *h = &d->auth[i];
        if (!forgotten(h, now) && strcmp(h->host, host) == 0)
            return h;
    }
    return NULL;
}

/* The entry of host, made from a forgotten one or the least recently
 * failed. */
static struct gw_auth_host *find_or_add(struct gw_ircd *d, const char *host)
{
    struct gw_auth_host *h = find(d, host);
    if (h != NULL)
        return h;
    struct gw_auth_host *t = table(d), *victim = &t[0];
    int64_t now = gw_now_ms();
    for (int i = 0; i < GW_AUTH_HOSTS_MAX; i++) {
        if (forgotten(&t[i], now)) {
            victim = &t[i];
            break;
        }
        if (t[i].last_ms < victim->last_ms)
            victim = &t[i];
    }
    memset(victim, 0, sizeof(*victim));
    gw_strlcpy(victim->host, host, sizeof(victim->host));
    return victim;
}

static int64_t delay_ms(int failures)
{
    if (failures < GW_AUTH_FREE_FAILURES)
        return 0;
    int shift = failures - GW_AUTH_FREE_FAILURES;
    if (shift > 30)
        shift = 30;
    int64_t ms = (int64_t)GW_AUTH_DELAY_MIN_MS << shift;
    return ms > GW_AUTH_DELAY_MAX_MS ? GW_AUTH_DELAY_MAX_MS : ms;
}

bool gw_ircd__auth_ready(const struct gw_client *c)
{
    const struct gw_auth_host *h = find(c->d, c->host);
    return h == NULL || h->next_ms <= gw_now_ms();
}

bool gw_ircd__auth_wait(struct gw_client *c, enum gw_held what)
{
    if (gw_ircd__auth_ready(c))
        return false;
    gw_ircd__hold(c, what);
    return true;
}

/* A name the client chose, fit for a log line: no control characters. */
static void loggable(const char *s, char *buf, size_t size)
{
    size_t j = 0;
    for (; s && *s && j + 1 < size; s++)
        buf[j++] = (unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s;
    buf[j] = '\0';
}

void gw_ircd__auth_failed(struct gw_client *c, const char *how, const char *who)
{
    struct gw_auth_host *h = find_or_add(c->d, c->host);
    int64_t now = gw_now_ms();
    h->failures++;
    h->last_ms = now;
    h->next_ms = now + delay_ms(h->failures);
    char name[64];
    loggable(who, name, sizeof(name));
    gw_log(c->d->gw, GW_LOG_WARN,
           "login failed from %s: wrong password (%s%s%s), %d in a row; "
           "the next attempt from there waits %llds",
           c->host, how, name[0] ? " as " : "", name, h->failures,
           (long long)(delay_ms(h->failures) / 1000));
}

void gw_ircd__auth_ok(struct gw_client *c)
{
    struct gw_auth_host *h = find(c->d, c->host);
    if (h != NULL)
        memset(h, 0, sizeof(*h));
}

void gw_ircd__auth_free(struct gw_ircd *d)
{
    free(d->auth);
    d->auth = NULL;
}
