/*
 * The team inbox against the network "test" and a fake front-end: claims
 * (and taking a teammate's), !done, !pending (bounded, by nick), !history,
 * the double-answer guard (answered minutes ago, or being answered right
 * now), a DM reply answering the whole conversation, "parley: REF text",
 * the people a team may answer by name present again after a restart, and
 * playback that never shows a teammate's DM as the reader's own.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakefront.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "testnet.h"

#define ACCOUNT_T                                                              \
    "[account t]\nnetwork = test\nready = yes\nme = me@test.example\n"

static struct testgw g;

static void setup(void)
{
    testgw_start(&g, ACCOUNT_T);
}

static void teardown(void)
{
    testgw_stop(&g);
}

static void event(enum gw_event_kind kind, const char *id, const char *who,
                  const char *text)
{
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.id = id;
    ev.author = who;
    ev.text = text;
    ev.audience = kind == GW_EV_DM ? GW_AUD_MENTIONED : GW_AUD_PUBLIC;
    ck_assert_int_eq(testnet_deliver_ev(testgw_net(&g, "t"), &ev), 0);
    testgw_run(&g, 0);
}

/* The ref of the first shown line containing s. */
static const char *ref_of(const char *s)
{
    static char ref[4][16];
    static int turn;
    char *out = ref[turn++ % 4];
    const struct fake_line *l = fakefront_shown(&g.front, s);
    ck_assert_msg(l != NULL, "not shown: %s", s);
    size_t n = strcspn(l->text + 1, "]");
    ck_assert_uint_lt(n, 16);
    memcpy(out, l->text + 1, n);
    out[n] = '\0';
    return out;
}

static void say(const char *nick, const char *place, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(const char *nick, const char *place, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    testgw_say(&g, nick, place, line);
}

/* The latest told line containing s, or NULL. */
static const char *told(const char *s)
{
    for (int i = g.front.ntold - 1; i >= 0; i--)
        if (strstr(g.front.told[i], s) != NULL)
            return g.front.told[i];
    return NULL;
}

static bool has_actions(void *arg)
{
    return testgw_net(&g, "t")->nacts >= *(int *)arg;
}

static void wait_actions(int n)
{
    ck_assert_msg(testgw_run_until(&g, has_actions, &n, 3000),
                  "the network got %d actions, not %d",
                  testgw_net(&g, "t")->nacts, n);
}

static enum gw_post_state state_of(const char *ref)
{
    struct gw_post p;
    ck_assert_int_eq(gw_store_post_by_ref(g.gw.store, ref, &p), 0);
    enum gw_post_state st = p.state;
    gw_post_free(&p);
    return st;
}

/* ---- claims ------------------------------------------------------------- */

START_TEST(test_claim_done_pending)
{
    event(GW_EV_MENTION, "1", "alice@x.org", "first ask");
    event(GW_EV_MENTION, "2", "bob@y.org", "second ask");
    char a[16], b[16], line[64];
    snprintf(a, sizeof(a), "%s", ref_of("first ask"));
    snprintf(b, sizeof(b), "%s", ref_of("second ask"));
    say("ann", "#t", "!claim %s", a);
    snprintf(line, sizeof(line), "[%s] claimed by ann", a);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, line));
    say("ben", "#t", "!done %s", b);
    snprintf(line, sizeof(line), "[%s] marked done by ben", b);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, line));
    say("ben", "#t", "!pending");
    snprintf(line, sizeof(line), "[%s]", a);
    const char *t = told(line);
    ck_assert_ptr_nonnull(t);
    /* People by their nicks, with the network and the claimer. */
    ck_assert_ptr_nonnull(strstr(t, " test mention alice, claimed by ann"));
    ck_assert_ptr_null(strstr(t, "alice@x.org"));
    snprintf(line, sizeof(line), "[%s] ", b);
    ck_assert_ptr_null(told(line));
}
END_TEST

/* Taking a teammate's claim asks first; then the previous holder is named
 * in the channel. */
START_TEST(test_claim_conflict_asks_first)
{
    event(GW_EV_MENTION, "1", "alice@x.org", "contested");
    const char *r = ref_of("contested");
    say("bob", "#t", "!claim %s", r);
    say("ann", "#t", "!claim %s", r);
    char want[96];
    snprintf(want, sizeof(want), "[%s] is claimed by bob since ", r);
    ck_assert_ptr_nonnull(told(want));
    snprintf(want, sizeof(want), "!claim! %s to take it", r);
    ck_assert_ptr_nonnull(told(want));
    struct gw_post p;
    ck_assert_int_eq(gw_store_post_by_ref(g.gw.store, r, &p), 0);
    ck_assert_str_eq(p.claimer, "bob");
    gw_post_free(&p);

    say("ann", "#t", "!claim! %s", r);
    snprintf(want, sizeof(want), "[%s] claimed by ann (taken, was bob's)", r);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));
    /* Given to someone else by name. */
    say("ann", "#t", "!claim! %s carol", r);
    snprintf(want, sizeof(want), "[%s] claimed by carol (given, was ann's)", r);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));

    say("ann", "#t", "!history %s", r);
    ck_assert_ptr_nonnull(told(" bob claimed"));
    ck_assert_ptr_nonnull(told(" ann claimed"));
    ck_assert_ptr_nonnull(told(" ann gave it to carol"));
    snprintf(want, sizeof(want), "[%s] mention from alice arrived at ", r);
    ck_assert_ptr_nonnull(told(want));
}
END_TEST

/* ---- the double-answer guard ------------------------------------------- */

START_TEST(test_second_answer_is_held)
{
    struct testnet *tn = testgw_net(&g, "t");
    event(GW_EV_MENTION, "1", "alice@x.org", "one question");
    const char *r = ref_of("one question");
    say("ann", "#t", "alice: ann's answer");
    wait_actions(1);
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    ck_assert_int_eq(state_of(r), GW_POST_DONE);
    /* The one who answered may add to it without being asked. */
    say("ann", "#t", "alice: ann adds");
    wait_actions(2);
    ck_assert_ptr_nonnull(strstr(tn->acts[1].text, "ann adds"));
    testnet_answer(tn, 1, GW_ACT_OK, NULL);
    testgw_run(&g, 0);

    /* Bob, a minute later, in every style: held, nothing sent. */
    say("bob", "#t", "alice: bob's answer");
    say("bob", "#t", "!re %s bob again", r);
    testgw_say_tagged(&g, "bob", "#t", "bob tagged", r);
    testgw_run(&g, 100);
    ck_assert_int_eq(tn->nacts, 2);
    char want[96];
    snprintf(want, sizeof(want),
             "[%s] was answered by ann just now: \"ann adds\"", r);
    ck_assert_msg(told(want) != NULL, "%s", g.front.told[g.front.ntold - 1]);
    snprintf(want, sizeof(want), "!re! %s to send it too", r);
    ck_assert_ptr_nonnull(told(want));

    /* Confirmed: the last held answer goes. */
    say("bob", "#t", "!re! %s", r);
    wait_actions(3);
    ck_assert_str_eq(tn->acts[2].text, "@alice@x.org bob tagged");
    /* Once only; then a confirmation needs its own text. */
    say("bob", "#t", "!re! %s", r);
    ck_assert_ptr_nonnull(told("no answer of yours to"));
    say("bob", "#t", "!re! %s bob's last word", r);
    wait_actions(4);
}
END_TEST

/* Two people answering at once: the second waits for a word. */
START_TEST(test_answer_in_flight_holds_the_second)
{
    struct testnet *tn = testgw_net(&g, "t");
    event(GW_EV_MENTION, "1", "alice@x.org", "hot question");
    const char *r = ref_of("hot question");
    say("ann", "#t", "!re %s first", r);
    wait_actions(1); /* handed over, not answered yet */
    say("bob", "#t", "!re %s second", r);
    testgw_run(&g, 100);
    ck_assert_int_eq(tn->nacts, 1);
    char want[96];
    snprintf(want, sizeof(want),
             "[%s] is being answered by ann right now: \"first\"", r);
    ck_assert_ptr_nonnull(told(want));
}
END_TEST

/* ---- DMs --------------------------------------------------------------- */

/* A reply in the query answers the conversation; the team sees it. */
START_TEST(test_dm_reply_answers_the_conversation)
{
    struct testnet *tn = testgw_net(&g, "t");
    event(GW_EV_DM, "d1", "dee@x.org", "hello?");
    event(GW_EV_DM, "d2", "dee@x.org", "anyone there?");
    char r1[16], r2[16];
    snprintf(r1, sizeof(r1), "%s", ref_of("hello?"));
    snprintf(r2, sizeof(r2), "%s", ref_of("anyone there?"));
    say("ann", "dee", "yes, here");
    wait_actions(1);
    ck_assert_int_eq(tn->acts[0].kind, GW_ACT_DM);
    ck_assert_str_eq(tn->acts[0].parent_id, "d2");
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    ck_assert_int_eq(state_of(r1), GW_POST_DONE);
    ck_assert_int_eq(state_of(r2), GW_POST_DONE);
    char want[96];
    snprintf(want, sizeof(want), "[%s] answered by ann (and [%s])", r2, r1);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));
    /* What ann wrote, with its ref, for everyone in the query. */
    const struct fake_line *l = fakefront_shown(&g.front, "ann wrote: ");
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l->place, "dee");
    ck_assert_ptr_nonnull(strstr(l->text, "yes, here"));
    say("ann", "#t", "!pending");
    ck_assert_ptr_nonnull(told("nothing is waiting"));
}
END_TEST

/* Playback: a teammate's line in a query is not replayed to another
 * reader as their own; the bot's line says who wrote it. */
START_TEST(test_playback_keeps_dms_their_writers)
{
    struct testnet *tn = testgw_net(&g, "t");
    event(GW_EV_DM, "d1", "dee@x.org", "psst");
    say("ann", "dee", "ann here");
    wait_actions(1);
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    struct gw_speaker sp = {&g.front.fe,     NULL,  "newbie", "newbie!n@h",
                            "newbie/newbie", false, false};
    gw_router_arrived(g.gw.router, &sp);
    bool saw_bot = false;
    for (int i = 0; i < g.front.nreplayed; i++) {
        const struct fake_line *l = &g.front.replayed[i];
        ck_assert_msg(!(l->from_user && strcmp(l->place, "dee") == 0),
                      "replayed as the reader's own: %s", l->text);
        saw_bot |= strstr(l->text, "] ann wrote: ") != NULL &&
                   strstr(l->text, "ann here") != NULL;
    }
    ck_assert(saw_bot);
    /* Ann herself gets her own line back. */
    int before = g.front.nreplayed;
    struct gw_speaker ann = {&g.front.fe, NULL,  "ann", "ann!ann@127.0.0.1",
                             "ann/ann2",  false, false};
    gw_router_arrived(g.gw.router, &ann);
    bool own = false;
    for (int i = before; i < g.front.nreplayed; i++)
        own |= g.front.replayed[i].from_user &&
               strcmp(g.front.replayed[i].text, "ann here") == 0;
    ck_assert(own);
}
END_TEST

/* ---- addressing the bot, and after a restart --------------------------- */

START_TEST(test_parley_colon_replies)
{
    struct testnet *tn = testgw_net(&g, "t");
    event(GW_EV_MENTION, "1", "alice@x.org", "via the bot");
    say("ann", "#t", "parley: %s thanks!", ref_of("via the bot"));
    wait_actions(1);
    ck_assert_int_eq(tn->acts[0].kind, GW_ACT_REPLY);
    ck_assert_str_eq(tn->acts[0].parent_id, "1");
}
END_TEST

/* People with open posts are present again after a restart, and "nick:
 * text" answers them whether or not they spoke since. */
START_TEST(test_people_back_after_restart)
{
    event(GW_EV_MENTION, "1", "alice@x.org", "before restart");
    event(GW_EV_MENTION, "2", "zed@x.org", "answered already");
    say("ann", "#t", "!done %s", ref_of("answered already"));
    testgw_restart(&g);
    bool alice = false;
    for (int i = 0; i < g.front.npersons; i++)
        alice |= strncmp(g.front.persons[i], "alice!", 6) == 0 &&
                 strstr(g.front.persons[i], " #t") != NULL;
    ck_assert_msg(alice, "alice is not back in #t");
    say("ann", "#t", "alice: after the restart");
    wait_actions(1);
    ck_assert_str_eq(testgw_net(&g, "t")->acts[0].parent_id, "1");
}
END_TEST

/* !pending is bounded and says how many more. */
START_TEST(test_pending_bounded)
{
    char id[16], text[32];
    for (int i = 0; i < 25; i++) {
        snprintf(id, sizeof(id), "%d", i + 1);
        snprintf(text, sizeof(text), "ask %d", i);
        event(GW_EV_MENTION, id, "alice@x.org", text);
    }
    int before = g.front.ntold;
    say("ann", "#t", "!pending");
    ck_assert_int_eq(g.front.ntold - before, 21);
    ck_assert_ptr_nonnull(strstr(g.front.told[before], "ask 0"));
    ck_assert_ptr_nonnull(strstr(g.front.told[before + 20], "and 5 more"));
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("inbox");
    TCase *tc = tcase_create("inbox");
    tcase_set_timeout(tc, 30);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_claim_done_pending);
    tcase_add_test(tc, test_claim_conflict_asks_first);
    tcase_add_test(tc, test_second_answer_is_held);
    tcase_add_test(tc, test_answer_in_flight_holds_the_second);
    tcase_add_test(tc, test_dm_reply_answers_the_conversation);
    tcase_add_test(tc, test_playback_keeps_dms_their_writers);
    tcase_add_test(tc, test_parley_colon_replies);
    tcase_add_test(tc, test_people_back_after_restart);
    tcase_add_test(tc, test_pending_bounded);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
