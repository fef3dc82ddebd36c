#include "fakefront.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw_config.h"
#include "gw_http.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "testnet.h"

static struct fakefront *ff(struct gw_frontend *fe)
{
    return fe->priv;
}

static void keep_line(struct fake_line *to, const struct gw_line *l)
{
    to->place = gw_xstrdup(l->place);
    to->prefix = gw_xstrdup(l->prefix);
    to->text = gw_xstrdup(l->text);
    to->msgid = gw_xstrdup(l->msgid ? l->msgid : "");
    to->kind = l->kind;
    to->notice = l->notice;
    to->from_user = l->from_user;
}

static void ff_show(struct gw_frontend *fe, const struct gw_line *l)
{
    struct fakefront *f = ff(fe);
    ck_assert_int_lt(f->nshown, FAKE_MAX);
    keep_line(&f->shown[f->nshown++], l);
}

static void ff_replay(struct gw_frontend *fe, void *who,
                      const struct gw_line *l)
{
    (void)who;
    struct fakefront *f = ff(fe);
    ck_assert_int_lt(f->nreplayed, FAKE_MAX);
    keep_line(&f->replayed[f->nreplayed++], l);
}

static void ff_tell(struct gw_frontend *fe, void *who, const char *place,
                    const char *text)
{
    (void)who;
    struct fakefront *f = ff(fe);
    ck_assert_int_lt(f->ntold, FAKE_MAX);
    f->told[f->ntold++] = gw_xasprintf("%s %s", place, text);
}

static void ff_person(struct gw_frontend *fe, const struct gw_person *p,
                      const char *place)
{
    struct fakefront *f = ff(fe);
    ck_assert_int_lt(f->npersons, FAKE_MAX);
    f->persons[f->npersons++] = gw_xasprintf("%s!%s@%s %s", p->nick, p->user,
                                             p->host, place ? place : "-");
}

static int ff_place_open(struct gw_frontend *fe, const char *place,
                         enum gw_place_kind kind, const char *topic)
{
    (void)kind;
    (void)topic;
    struct fakefront *f = ff(fe);
    for (int i = 0; i < f->nplaces; i++)
        if (gw_strcasecmp(f->places[i], place) == 0)
            return 0;
    ck_assert_int_lt(f->nplaces, 64);
    f->places[f->nplaces++] = gw_xstrdup(place);
    return 0;
}

static void ff_place_close(struct gw_frontend *fe, const char *place,
                           const char *reason)
{
    (void)reason;
    struct fakefront *f = ff(fe);
    for (int i = 0; i < f->nplaces; i++)
        if (gw_strcasecmp(f->places[i], place) == 0) {
            free(f->places[i]);
            f->places[i] = f->places[--f->nplaces];
            return;
        }
}

static bool ff_nick_taken(struct gw_frontend *fe, const char *nick)
{
    struct fakefront *f = ff(fe);
    for (int i = 0; i < 8 && f->taken[i]; i++)
        if (gw_strcasecmp(f->taken[i], nick) == 0)
            return true;
    return false;
}

static void ff_each_reader(struct gw_frontend *fe, gw_reader_cb cb, void *arg)
{
    struct fakefront *f = ff(fe);
    for (int i = 0; i < 8 && f->readers[i]; i++)
        cb(arg, f->readers[i]);
}

static const struct gw_frontend_ops ff_ops = {
    .name = "fake",
    .show = ff_show,
    .replay = ff_replay,
    .tell = ff_tell,
    .person = ff_person,
    .place_open = ff_place_open,
    .place_close = ff_place_close,
    .nick_taken = ff_nick_taken,
    .each_reader = ff_each_reader,
};

void fakefront_init(struct fakefront *f)
{
    memset(f, 0, sizeof(*f));
    f->fe.ops = &ff_ops;
    f->fe.priv = f;
}

static void line_free(struct fake_line *l)
{
    free(l->place);
    free(l->prefix);
    free(l->text);
    free(l->msgid);
}

void fakefront_clear(struct fakefront *f)
{
    for (int i = 0; i < f->nshown; i++)
        line_free(&f->shown[i]);
    for (int i = 0; i < f->nreplayed; i++)
        line_free(&f->replayed[i]);
    for (int i = 0; i < f->ntold; i++)
        free(f->told[i]);
    for (int i = 0; i < f->npersons; i++)
        free(f->persons[i]);
    f->nshown = f->nreplayed = f->ntold = f->npersons = 0;
}

static bool line_has(const struct fake_line *l, const char *s)
{
    char all[2048];
    snprintf(all, sizeof(all), "%s %s %s", l->prefix, l->place, l->text);
    return strstr(all, s) != NULL;
}

const struct fake_line *fakefront_shown(struct fakefront *f, const char *s)
{
    for (int i = 0; i < f->nshown; i++)
        if (line_has(&f->shown[i], s))
            return &f->shown[i];
    return NULL;
}

int fakefront_count(struct fakefront *f, const char *s)
{
    int n = 0;
    for (int i = 0; i < f->nshown; i++)
        n += line_has(&f->shown[i], s);
    return n;
}

const char *fakefront_told(struct fakefront *f, const char *s)
{
    for (int i = 0; i < f->ntold; i++)
        if (strstr(f->told[i], s) != NULL)
            return f->told[i];
    return NULL;
}

/* ---- a gateway without an IRC server ------------------------------------ */

static const struct gw_adapter_ops *const test_networks[] = {
    &testnet_ops, &testnet_plain_ops, NULL};

static void gw_up(struct testgw *t)
{
    char err[512];
    struct gw_config *cfg = NULL;
    int rc = gw_config_load(t->conf, &cfg, err, sizeof(err));
    ck_assert_msg(rc == 0, "config: %s", err);
    struct gateway *gw = &t->gw;
    memset(gw, 0, sizeof(*gw));
    gw->loop = &t->loop;
    gw->cfg = cfg;
    gw->lock_fd = -1;
    gw->log_level = GW_LOG_ERROR;
    gw->extra_networks = test_networks;
    ck_assert_int_eq(
        gw_store_open(&gw->store, cfg->state_dir, err, sizeof(err)), 0);
    ck_assert_int_eq(gw_http_new(&gw->http, &t->loop), 0);
    ck_assert_int_eq(gw_router_start(gw, &gw->router, err, sizeof(err)), 0);
    gw_router_attach(gw->router, &t->front.fe);
    testgw_run(t, 0);
}

static void gw_down(struct testgw *t)
{
    struct gateway *gw = &t->gw;
    gw_router_stop(gw->router);
    gw_router_detach(gw->router, &t->front.fe);
    gw_http_free(gw->http);
    while (uv_run(&t->loop, UV_RUN_NOWAIT) != 0)
        ;
    gw_router_free(gw->router);
    gw_store_close(gw->store);
    gw_config_free(gw->cfg);
}

/* The test networks are not the build's, so gateway.conf cannot name
 * them: their accounts go into the store, as "account add" puts them. */
static void accounts_store(struct testgw *t, const char *ini)
{
    char path[128], err[256];
    snprintf(path, sizeof(path), "%s/state", t->dir);
    struct gw_store *st = NULL;
    ck_assert_int_eq(gw_store_open(&st, path, err, sizeof(err)), 0);
    char *copy = gw_xstrdup(ini), *save = NULL, name[64] = "";
    for (char *line = strtok_r(copy, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        char key[64], value[256];
        if (sscanf(line, "[account %63[^]]]", name) == 1)
            continue;
        if (sscanf(line, "%63s = %255[^\n]", key, value) != 2)
            continue;
        if (strcmp(key, "network") == 0)
            ck_assert_int_eq(gw_store_account_add(st, name, value), 0);
        else
            ck_assert_int_eq(gw_store_setting_set(st, name, key, value), 0);
    }
    free(copy);
    gw_store_close(st);
}

void testgw_start(struct testgw *t, const char *accounts_ini)
{
    memset(t, 0, sizeof(*t));
    snprintf(t->dir, sizeof(t->dir), "/tmp/parley-router-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->conf, sizeof(t->conf), "%s/gateway.conf", t->dir);
    FILE *fp = fopen(t->conf, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "[gateway]\nstate_dir = state\nlog_level = error\n"
                "[irc]\nlisten = 127.0.0.1:6667\n");
    fclose(fp);
    if (accounts_ini != NULL)
        accounts_store(t, accounts_ini);
    uv_loop_init(&t->loop);
    fakefront_init(&t->front);
    gw_up(t);
}

void testgw_restart(struct testgw *t)
{
    gw_down(t);
    fakefront_clear(&t->front);
    gw_up(t);
}

void testgw_stop(struct testgw *t)
{
    gw_down(t);
    fakefront_clear(&t->front);
    for (int i = 0; i < t->front.nplaces; i++)
        free(t->front.places[i]);
    uv_loop_close(&t->loop);
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->dir);
    ck_assert_int_eq(system(cmd), 0);
}

static void on_tick(uv_timer_t *h)
{
    (void)h;
}

bool testgw_run_until(struct testgw *t, bool (*cond)(void *arg), void *arg,
                      int ms)
{
    uv_timer_t tick;
    uv_timer_init(&t->loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    uint64_t end = uv_now(&t->loop) + (uint64_t)ms;
    bool ok = false;
    for (;;) {
        uv_run(&t->loop, UV_RUN_ONCE);
        if (cond != NULL && cond(arg)) {
            ok = true;
            break;
        }
        uv_update_time(&t->loop);
        if (uv_now(&t->loop) >= end)
            break;
    }
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    return ok;
}

void testgw_run(struct testgw *t, int ms)
{
    testgw_run_until(t, NULL, NULL, ms);
}

void testgw_say_tagged(struct testgw *t, const char *nick, const char *place,
                       const char *text, const char *reply_to)
{
    char prefix[128], reader[128];
    snprintf(prefix, sizeof(prefix), "%s!%s@127.0.0.1", nick, nick);
    snprintf(reader, sizeof(reader), "%s/%s", nick, nick);
    struct gw_speaker sp = {&t->front.fe, NULL, nick, prefix,
                            reader,       true, false};
    struct gw_said m = {.place = place, .text = text, .reply_to = reply_to};
    gw_router_said(t->gw.router, &sp, &m);
    testgw_run(t, 0);
}

void testgw_say(struct testgw *t, const char *nick, const char *place,
                const char *text)
{
    testgw_say_tagged(t, nick, place, text, NULL);
}

struct testnet *testgw_net(struct testgw *t, const char *account)
{
    struct gw_account *a = gw__account(t->gw.router, account);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(a->ad.priv);
    return a->ad.priv;
}
