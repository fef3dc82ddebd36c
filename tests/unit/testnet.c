#include "testnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#define ME_DEFAULT "me@test.example"

struct testnet *testnet_of(struct gw_adapter *ad)
{
    return ad->priv;
}

static const char *me_of(struct testnet *t)
{
    const char *me = gw_ad_setting(t->ad, "me");
    return me != NULL ? me : ME_DEFAULT;
}

void testnet_ready(struct testnet *t)
{
    gw_ad_ready(t->ad, me_of(t), me_of(t));
}

void testnet_signed_out(struct testnet *t, const char *why)
{
    gw_ad_not_ready(t->ad, true, why);
}

int testnet_deliver_ev(struct testnet *t, const struct gw_event *ev)
{
    return gw_ad_deliver(t->ad, ev);
}

int testnet_deliver(struct testnet *t, enum gw_event_kind kind, const char *id,
                    const char *author, const char *text)
{
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.id = id;
    ev.author = author;
    ev.text = text;
    ev.audience = GW_AUD_PUBLIC;
    return gw_ad_deliver(t->ad, &ev);
}

static char *dup0(const char *s)
{
    return s != NULL ? gw_xstrdup(s) : NULL;
}

static int tn_start(struct gw_adapter *ad)
{
    struct testnet *t = gw_xcalloc(1, sizeof(*t));
    t->ad = ad;
    ad->priv = t;
    const char *max = gw_ad_setting(ad, "max");
    if (max == NULL || gw_parse_long(max, 1, 100000, &t->max) < 0)
        t->max = 0;
    const char *ready = gw_ad_setting(ad, "ready");
    if (ready != NULL && strcmp(ready, "yes") == 0)
        testnet_ready(t);
    return 0;
}

static void tn_stop(struct gw_adapter *ad)
{
    struct testnet *t = ad->priv;
    for (int i = 0; i < t->nacts; i++) {
        struct testnet_action *a = &t->acts[i];
        free(a->text);
        free(a->cw);
        free(a->handle);
        free(a->parent_id);
        free(a->idem_key);
        free(a->command);
    }
    free(t);
}

static int tn_act(struct gw_adapter *ad, const struct gw_action *a)
{
    struct testnet *t = ad->priv;
    if (t->nacts == TESTNET_ACTIONS_MAX)
        return UV_ENOBUFS;
    struct testnet_action *k = &t->acts[t->nacts++];
    k->token = a->token;
    k->kind = a->kind;
    k->text = dup0(a->text);
    k->cw = dup0(a->cw);
    k->handle = dup0(a->handle);
    k->parent_id = dup0(a->parent != NULL ? a->parent->id : NULL);
    k->idem_key = dup0(a->idem_key);
    k->command = dup0(a->command);
    k->audience = a->audience;
    k->maybe_sent = a->maybe_sent;
    k->queued_ms = a->queued_ms;
    return 0;
}

void testnet_answer(struct testnet *t, int i, enum gw_action_status st,
                    const char *msg)
{
    struct testnet_action *k = &t->acts[i];
    struct gw_action_result r;
    memset(&r, 0, sizeof(r));
    r.status = st;
    r.message = msg;
    struct gw_event ev;
    char id[32];
    const char *lines[] = {"line one", "line two"};
    struct gw_event items[3];
    if (st == GW_ACT_OK && k->kind == GW_ACT_THREAD) {
        /* The post asked about, a stranger's answer, a note. */
        memset(items, 0, sizeof(items));
        items[0].kind = items[1].kind = items[2].kind = GW_EV_CONTEXT;
        items[0].id = k->parent_id;
        items[0].author = "alice@x.org";
        items[0].text = "a thread";
        items[1].id = "ctx-1";
        items[1].author = "zed@q.org";
        items[1].cw = "spoiler";
        items[1].text = "an\nanswer";
        items[2].text = "... 3 more replies";
        r.items = items;
        r.nitems = 3;
    } else if (st == GW_ACT_OK &&
               (k->kind == GW_ACT_WHO || k->kind == GW_ACT_COMMAND)) {
        r.lines = lines;
        r.nlines = 2;
    } else if (st == GW_ACT_OK &&
               (k->kind == GW_ACT_POST || k->kind == GW_ACT_REPLY ||
                k->kind == GW_ACT_DM)) {
        snprintf(id, sizeof(id), "made-%d", ++t->made);
        memset(&ev, 0, sizeof(ev));
        ev.kind = GW_EV_OWN;
        ev.id = id;
        ev.author = me_of(t);
        ev.text = k->text;
        ev.cw = k->cw;
        ev.audience = k->audience;
        r.created = &ev;
        r.result_id = id;
    }
    k->answered = true;
    gw_ad_action_done(t->ad, k->token, &r);
}

static int tn_check(struct gw_adapter *ad, const struct gw_action *a, char *err,
                    size_t errlen)
{
    struct testnet *t = ad->priv;
    long n = gw_text_graphemes(a->text);
    if (t->max > 0 && n > t->max) {
        snprintf(err, errlen, "too long: %ld characters, the test allows %ld",
                 n, t->max);
        return UV_EMSGSIZE;
    }
    return 0;
}

static const char *const tn_keys[] = {"ready", "me", "max", NULL};

static const char *plain_why_not(enum gw_action_kind kind)
{
    return kind == GW_ACT_DM ? "the plain network has no messages" : NULL;
}
static const struct gw_adapter_command tn_commands[] = {
    {"zap", "!zap REF - the test network's own command", false},
    {"ping", "!ping nick - answers pong", true},
    {NULL, NULL, false},
};

const struct gw_adapter_ops testnet_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "test",
    .summary = "a network for unit tests",
    .caps = GW_NET_CW | GW_NET_AUDIENCE | GW_NET_MENTION_REPLIES |
            GW_NET_MENTION_DMS,
    .actions = ~0u,
    .keys = tn_keys,
    .commands = tn_commands,
    .start = tn_start,
    .stop = tn_stop,
    .act = tn_act,
    .check = tn_check,
};

const struct gw_adapter_ops testnet_plain_ops = {
    .abi_version = GW_ADAPTER_ABI,
    .name = "plain",
    .summary = "a network for unit tests without audiences or boosts",
    .caps = 0,
    .actions = GW_ACT_BIT(GW_ACT_POST) | GW_ACT_BIT(GW_ACT_REPLY) |
               GW_ACT_BIT(GW_ACT_FAV),
    .keys = tn_keys,
    .start = tn_start,
    .stop = tn_stop,
    .act = tn_act,
    .check = tn_check,
    .why_not = plain_why_not,
};
