/*
 * The router against the network "test" (testnet.c) and a fake front-end
 * (fakefront.c): refs, replies in every style, the rules a reply follows,
 * the outbox and each outcome, the ready state, capabilities, the inbox,
 * catching up, and the people's nicks. No HTTP, no IRC server.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "fakefront.h"
#include "gw_router_int.h"
#include "gw_store.h"
#include "gw_store_int.h"
#include "testnet.h"

#define ACCOUNT_T                                                              \
    "[account t]\nnetwork = test\nready = yes\nme = me@test.example\n"
#define ACCOUNT_P "[account p]\nnetwork = plain\nready = yes\nme = me\n"

static struct testgw g;

static void setup_t(void)
{
    testgw_start(&g, ACCOUNT_T);
}

static void teardown(void)
{
    testgw_stop(&g);
}

struct want {
    struct testnet *tn;
    int n;
};

static bool has_actions(void *arg)
{
    struct want *w = arg;
    return w->tn->nacts >= w->n;
}

/* Run until the network has been handed n actions. */
static void wait_actions(struct testnet *tn, int n, int ms)
{
    struct want w = {tn, n};
    ck_assert_msg(testgw_run_until(&g, has_actions, &w, ms),
                  "the network got %d actions, not %d", tn->nacts, n);
}

/* The ref of the first shown line containing s ("[a3] ..." -> "a3"). */
static const char *ref_of(const char *s)
{
    static char ref[16];
    const struct fake_line *l = fakefront_shown(&g.front, s);
    ck_assert_msg(l != NULL, "not shown: %s", s);
    ck_assert_int_eq(l->text[0], '[');
    size_t n = strcspn(l->text + 1, "]");
    ck_assert_uint_lt(n, sizeof(ref));
    memcpy(ref, l->text + 1, n);
    ref[n] = '\0';
    return ref;
}

static void mention_from(struct testnet *tn, const char *id, const char *who,
                         const char *text, const char *const *mentions,
                         int nmentions, const char *cw, enum gw_audience aud)
{
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = GW_EV_MENTION;
    ev.id = id;
    ev.author = who;
    ev.text = text;
    ev.mentions = mentions;
    ev.nmentions = nmentions;
    ev.cw = cw;
    ev.audience = aud;
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    testgw_run(&g, 0);
}

/* ---- showing ------------------------------------------------------------ */

START_TEST(test_mention_shown_once_with_ref)
{
    struct testnet *tn = testgw_net(&g, "t");
    ck_assert_int_eq(testnet_deliver(tn, GW_EV_MENTION, "1", "alice@x.org",
                                     "loved the talk"),
                     0);
    /* Stored in the group, shown only once it commits. */
    ck_assert_int_eq(g.front.nshown, 0);
    testgw_run(&g, 0);
    const struct fake_line *l = fakefront_shown(&g.front, "loved the talk");
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l->place, "#t");
    ck_assert_str_eq(l->prefix, "alice!alice@x.org");
    ck_assert_str_eq(l->msgid, ref_of("loved the talk"));
    ck_assert_int_eq(l->kind, GW_PLACE_ACCOUNT);
    /* The person was made present in the channel first. */
    ck_assert_str_eq(g.front.persons[0], "alice!alice@x.org #t");
    /* The same event again: stored already, not shown again. */
    ck_assert_int_eq(testnet_deliver(tn, GW_EV_MENTION, "1", "alice@x.org",
                                     "loved the talk"),
                     1);
    testgw_run(&g, 0);
    ck_assert_int_eq(fakefront_count(&g.front, "loved the talk"), 1);
}
END_TEST

static void sleep_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

/*
 * A long burst is shown in slices: an event that comes when the group has
 * been open for a while commits what the group holds first, so the first
 * events of a burst do not wait for the last. A batch (a poll's events and
 * its cursor) is never cut, however long it takes.
 */
START_TEST(test_long_burst_shown_in_slices)
{
    struct testnet *tn = testgw_net(&g, "t");
    ck_assert_int_eq(
        testnet_deliver(tn, GW_EV_MENTION, "1", "alice@x.org", "burst one"), 0);
    ck_assert_int_eq(g.front.nshown, 0);
    sleep_ms(15);
    ck_assert_int_eq(
        testnet_deliver(tn, GW_EV_MENTION, "2", "alice@x.org", "burst two"), 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "burst one"));
    ck_assert_ptr_null(fakefront_shown(&g.front, "burst two"));
    sleep_ms(15);
    ck_assert_int_eq(
        testnet_deliver(tn, GW_EV_MENTION, "3", "alice@x.org", "burst three"),
        0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "burst one"));
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "burst two"));
    ck_assert_ptr_null(fakefront_shown(&g.front, "burst three"));
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "burst three"));

    gw_ad_batch_begin(tn->ad);
    ck_assert_int_eq(
        testnet_deliver(tn, GW_EV_MENTION, "4", "alice@x.org", "batch one"), 0);
    sleep_ms(15);
    ck_assert_int_eq(
        testnet_deliver(tn, GW_EV_MENTION, "5", "alice@x.org", "batch two"), 0);
    ck_assert_ptr_null(fakefront_shown(&g.front, "batch one"));
    gw_ad_batch_end(tn->ad);
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "batch one"));
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "batch two"));
    ck_assert_int_eq(fakefront_count(&g.front, "burst"), 3);
}
END_TEST

START_TEST(test_dm_is_a_query)
{
    struct testnet *tn = testgw_net(&g, "t");
    ck_assert_int_eq(
        testnet_deliver(tn, GW_EV_DM, "d1", "bob@y.org", "psst, a secret"), 0);
    testgw_run(&g, 0);
    const struct fake_line *l = fakefront_shown(&g.front, "psst");
    ck_assert_ptr_nonnull(l);
    ck_assert_str_eq(l->place, "bob");
    ck_assert_int_eq(l->kind, GW_PLACE_QUERY);
    ck_assert_int_eq(l->from_user, false);
}
END_TEST

/* ---- replying ----------------------------------------------------------- */

/* !re: the reply names the author and the others (not me), keeps the
 * parent's content warning and never reaches more people than it. */
START_TEST(test_reply_follows_the_rules)
{
    struct testnet *tn = testgw_net(&g, "t");
    const char *others[] = {"carol@z.org", "me@test.example"};
    mention_from(tn, "1", "alice@x.org", "films?", others, 2, "film ending",
                 GW_AUD_FOLLOWERS);
    char line[64];
    snprintf(line, sizeof(line), "!re %s the butler", ref_of("films?"));
    testgw_say(&g, "you", "#t", line);
    wait_actions(tn, 1, 2000);
    struct testnet_action *a = &tn->acts[0];
    ck_assert_int_eq(a->kind, GW_ACT_REPLY);
    ck_assert_str_eq(a->text, "@alice@x.org @carol@z.org the butler");
    ck_assert_str_eq(a->cw, "film ending");
    ck_assert_int_eq(a->audience, GW_AUD_FOLLOWERS);
    ck_assert_str_eq(a->parent_id, "1");
    ck_assert_ptr_nonnull(a->idem_key);
    ck_assert_int_eq(a->maybe_sent, false);
}
END_TEST

/* A network without those rules gets the text as typed. */
START_TEST(test_plain_network_gets_plain_text)
{
    testgw_stop(&g);
    testgw_start(&g, ACCOUNT_P);
    struct testnet *tn = testgw_net(&g, "p");
    mention_from(tn, "1", "alice", "hello", NULL, 0, "cw", GW_AUD_FOLLOWERS);
    testgw_say(&g, "you", "#p", "alice: hi back");
    wait_actions(tn, 1, 2000);
    ck_assert_str_eq(tn->acts[0].text, "hi back");
    ck_assert_ptr_null(tn->acts[0].cw);
    /* A command the network cannot do says so before anything waits. */
    char line[64];
    snprintf(line, sizeof(line), "!boost %s", ref_of("hello"));
    testgw_say(&g, "you", "#p", line);
    ck_assert_ptr_nonnull(
        fakefront_told(&g.front, "plain cannot boost (a plain account)"));
    /* With the network's own reason where it gives one. */
    testgw_say(&g, "you", "#p", "!dm alice are you there?");
    ck_assert_ptr_nonnull(fakefront_told(
        &g.front, "plain cannot dm: the plain network has no messages"));
    int64_t depth = -1;
    gw_store_outbox_depth(g.gw.store, "p", &depth);
    ck_assert_int_eq(depth, 1); /* the reply only */
}
END_TEST

/* A network's own command ("!zap REF") goes through the outbox to act()
 * with its name; !help lists it; another network does not know it. */
START_TEST(test_network_commands)
{
    struct testnet *tn = testgw_net(&g, "t");
    mention_from(tn, "1", "alice@x.org", "zap this", NULL, 0, NULL,
                 GW_AUD_PUBLIC);
    char line[64];
    snprintf(line, sizeof(line), "!zap %s", ref_of("zap this"));
    testgw_say(&g, "you", "#t", line);
    wait_actions(tn, 1, 2000);
    ck_assert_int_eq(tn->acts[0].kind, GW_ACT_COMMAND);
    ck_assert_str_eq(tn->acts[0].command, "zap");
    ck_assert_str_eq(tn->acts[0].parent_id, "1");
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    char want[64];
    snprintf(want, sizeof(want), "zap [%s] done", ref_of("zap this"));
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));
    testgw_say(&g, "you", "#t", "!zap");
    ck_assert_ptr_nonnull(fakefront_told(&g.front, "which post?"));
    testgw_say(&g, "you", "#t", "!help");
    ck_assert_ptr_nonnull(fakefront_told(&g.front, "!zap REF - the test"));
    testgw_stop(&g);
    testgw_start(&g, ACCOUNT_P);
    testgw_say(&g, "you", "#p", "!zap 1");
    ck_assert_ptr_nonnull(fakefront_told(&g.front, "unknown command !zap"));
}
END_TEST

/* Every way of replying reaches the network as a reply to that post. */
START_TEST(test_reply_styles)
{
    struct testnet *tn = testgw_net(&g, "t");
    mention_from(tn, "1", "alice@x.org", "first", NULL, 0, NULL, GW_AUD_PUBLIC);
    mention_from(tn, "2", "alice@x.org", "second", NULL, 0, NULL,
                 GW_AUD_PUBLIC);
    char first[16];
    snprintf(first, sizeof(first), "%s", ref_of("first"));
    /* nick: text -> her latest post here. */
    testgw_say(&g, "you", "#t", "alice: one");
    /* +draft/reply -> that post. */
    testgw_say_tagged(&g, "you", "#t", "two", first);
    /* !reply with "[ref]" copied from the channel. */
    char line[64];
    snprintf(line, sizeof(line), "!reply [%s] three", first);
    testgw_say(&g, "you", "#t", line);
    /* Plain talk stays among people. */
    testgw_say(&g, "you", "#t", "just talking");
    wait_actions(tn, 3, 2000);
    testgw_run(&g, 50);
    ck_assert_int_eq(tn->nacts, 3);
    ck_assert_str_eq(tn->acts[0].parent_id, "2");
    ck_assert_str_eq(tn->acts[0].text, "@alice@x.org one");
    ck_assert_str_eq(tn->acts[1].parent_id, "1");
    ck_assert_str_eq(tn->acts[2].parent_id, "1");
    ck_assert_str_eq(tn->acts[2].text, "@alice@x.org three");
}
END_TEST

/* The network made it: echoed with its own ref, the parent answered. */
START_TEST(test_reply_ok_echo_and_inbox)
{
    struct testnet *tn = testgw_net(&g, "t");
    mention_from(tn, "1", "alice@x.org", "question", NULL, 0, NULL,
                 GW_AUD_PUBLIC);
    char ref[16];
    snprintf(ref, sizeof(ref), "%s", ref_of("question"));
    testgw_say(&g, "you", "#t", "alice: answer");
    wait_actions(tn, 1, 2000);
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    const struct fake_line *echo = fakefront_shown(&g.front, "answer");
    ck_assert_ptr_nonnull(echo);
    ck_assert_str_eq(echo->place, "#t");
    ck_assert_ptr_nonnull(strstr(echo->prefix, "me!"));
    char want[64];
    snprintf(want, sizeof(want), "[%s] answered by you", ref);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));
    struct gw_post p;
    ck_assert_int_eq(gw_store_post_by_ref(g.gw.store, ref, &p), 0);
    ck_assert_int_eq(p.state, GW_POST_DONE);
    ck_assert_str_eq(p.answered_by, "you");
    gw_post_free(&p);
}
END_TEST

/* ---- the outbox --------------------------------------------------------- */

START_TEST(test_retry_then_ok_same_key)
{
    struct testnet *tn = testgw_net(&g, "t");
    testgw_say(&g, "you", "#t", "!post hello world");
    wait_actions(tn, 1, 2000);
    testnet_answer(tn, 0, GW_ACT_RETRY, "HTTP 503");
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "is delayed (HTTP 503)"));
    /* Retried after the back-off (1 s), with the same key. */
    wait_actions(tn, 2, 3000);
    ck_assert_str_eq(tn->acts[1].idem_key, tn->acts[0].idem_key);
    /* And the same queue time, for networks that make ids from it. */
    ck_assert_int_gt(tn->acts[0].queued_ms, 0);
    ck_assert_int_eq(tn->acts[1].queued_ms, tn->acts[0].queued_ms);
    ck_assert_int_eq(tn->acts[1].maybe_sent, false);
    testnet_answer(tn, 1, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "hello world"));
    int64_t depth = -1;
    gw_store_outbox_depth(g.gw.store, "t", &depth);
    ck_assert_int_eq(depth, 0);
}
END_TEST

/* It may have been made: the next attempt looks first. */
START_TEST(test_maybe_sent)
{
    struct testnet *tn = testgw_net(&g, "t");
    testgw_say(&g, "you", "#t", "!post maybe");
    wait_actions(tn, 1, 2000);
    testnet_answer(tn, 0, GW_ACT_MAYBE, "timed out after sending");
    wait_actions(tn, 2, 3000);
    ck_assert_int_eq(tn->acts[1].maybe_sent, true);
    /* And it stays known across a restart. */
    testgw_restart(&g);
    tn = testgw_net(&g, "t");
    wait_actions(tn, 1, 3000);
    ck_assert_int_eq(tn->acts[0].maybe_sent, true);
}
END_TEST

START_TEST(test_failed_says_why)
{
    struct testnet *tn = testgw_net(&g, "t");
    testgw_say(&g, "you", "#t", "!post nope");
    wait_actions(tn, 1, 2000);
    testnet_answer(tn, 0, GW_ACT_FAILED, "422 text too long");
    testgw_run(&g, 0);
    const struct fake_line *l =
        fakefront_shown(&g.front, "you: post failed: 422 text too long");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->notice, true);
    struct gw_outbox_item *items = NULL;
    int n = gw_store_outbox_list(g.gw.store, 10, &items);
    ck_assert_int_eq(n, 1);
    ck_assert_int_eq(items[0].state, GW_OUTBOX_FAILED);
    gw_outbox_items_free(items, n);
}
END_TEST

/* The network made it but the store would not record that: it is never
 * handed over again, and the mark is written once the store takes it. */
START_TEST(test_sent_mark_refused_not_sent_twice)
{
    struct testnet *tn = testgw_net(&g, "t");
    testgw_say(&g, "you", "#t", "!post only once");
    wait_actions(tn, 1, 2000);
    sqlite3 *db = g.gw.store->db;
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA query_only = ON", 0, 0, 0),
                     SQLITE_OK);
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 2500); /* two rounds of the outbox */
    ck_assert_int_eq(tn->nacts, 1);
    ck_assert_int_eq(sqlite3_exec(db, "PRAGMA query_only = OFF", 0, 0, 0),
                     SQLITE_OK);
    testgw_run(&g, 1500);
    int64_t depth = -1;
    gw_store_outbox_depth(g.gw.store, "t", &depth);
    ck_assert_int_eq(depth, 0);
    ck_assert_int_eq(tn->nacts, 1);
}
END_TEST

/* Too long for the network: said at once, nothing queued. */
START_TEST(test_too_long_refused_before_queueing)
{
    testgw_stop(&g);
    testgw_start(&g, ACCOUNT_T "max = 10\n");
    testgw_say(&g, "you", "#t", "!post this is far too long for it");
    ck_assert_ptr_nonnull(fakefront_told(
        &g.front, "not sent: too long: 27 characters, the test allows 10"));
    int64_t depth = -1;
    gw_store_outbox_depth(g.gw.store, "t", &depth);
    ck_assert_int_eq(depth, 0);
}
END_TEST

/* ---- ready or not ------------------------------------------------------- */

START_TEST(test_actions_wait_until_ready)
{
    testgw_stop(&g);
    testgw_start(&g, "[account t]\nnetwork = test\n");
    struct testnet *tn = testgw_net(&g, "t");
    testgw_say(&g, "you", "#t", "!post early");
    testgw_run(&g, 50);
    ck_assert_int_eq(tn->nacts, 0);
    testnet_ready(tn);
    wait_actions(tn, 1, 2000);
    ck_assert_str_eq(tn->acts[0].text, "early");
}
END_TEST

START_TEST(test_signed_out_says_so_and_waits)
{
    struct testnet *tn = testgw_net(&g, "t");
    testnet_signed_out(tn, "the token was refused");
    testgw_say(&g, "you", "#t", "!post later");
    ck_assert_ptr_nonnull(fakefront_told(
        &g.front, "account t is not signed in (the token was refused); the "
                  "post waits in the outbox"));
    testgw_run(&g, 50);
    ck_assert_int_eq(tn->nacts, 0);
    testnet_ready(tn);
    wait_actions(tn, 1, 2000);
}
END_TEST

/* ---- queries ------------------------------------------------------------ */

START_TEST(test_thread_lines)
{
    struct testnet *tn = testgw_net(&g, "t");
    mention_from(tn, "1", "alice@x.org", "a thread", NULL, 0, NULL,
                 GW_AUD_PUBLIC);
    char line[64];
    snprintf(line, sizeof(line), "!thread %s", ref_of("a thread"));
    testgw_say(&g, "you", "#t", line);
    wait_actions(tn, 1, 2000);
    ck_assert_int_eq(tn->acts[0].kind, GW_ACT_THREAD);
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    /* Each post with its ref and its author's nick, not raw handles: the
     * post asked about keeps its ref, the stranger's answer gets one. */
    char want[64];
    snprintf(want, sizeof(want), "#t [%s] alice: a thread", ref_of("a thread"));
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));
    const struct fake_line *l =
        fakefront_shown(&g.front, "zed: [CW: spoiler] an answer");
    ck_assert_ptr_nonnull(l);
    ck_assert_int_eq(l->notice, true);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "#t ... 3 more replies"));
    /* Nothing of a query waits in the outbox. */
    int64_t depth = -1;
    gw_store_outbox_depth(g.gw.store, "t", &depth);
    ck_assert_int_eq(depth, 0);
    /* That answer can be answered by its ref. */
    char ref[16];
    size_t n = strcspn(l->text + 1, "]");
    memcpy(ref, l->text + 1, n);
    ref[n] = '\0';
    snprintf(line, sizeof(line), "!re %s thanks", ref);
    testgw_say(&g, "you", "#t", line);
    wait_actions(tn, 2, 2000);
    ck_assert_str_eq(tn->acts[1].parent_id, "ctx-1");
    ck_assert_str_eq(tn->acts[1].text, "@zed@q.org thanks");
}
END_TEST

/* A network's own command about a person reaches it as GW_ACT_COMMAND
 * with the person's handle, answered like !who; a network without it
 * says so. */
START_TEST(test_network_command)
{
    struct testnet *tn = testgw_net(&g, "t");
    mention_from(tn, "1", "alice@x.org", "hello", NULL, 0, NULL, GW_AUD_PUBLIC);
    testgw_say(&g, "you", "#t", "!help");
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_told(&g.front, "!ping nick - answers"));
    testgw_say(&g, "you", "#t", "!ping alice now");
    wait_actions(tn, 1, 2000);
    ck_assert_int_eq(tn->acts[0].kind, GW_ACT_COMMAND);
    ck_assert_str_eq(tn->acts[0].command, "ping");
    ck_assert_str_eq(tn->acts[0].handle, "alice@x.org");
    testnet_answer(tn, 0, GW_ACT_OK, NULL);
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "you: line one"));
    int64_t depth = -1;
    gw_store_outbox_depth(g.gw.store, "t", &depth);
    ck_assert_int_eq(depth, 0);
    /* Another network's command is unknown here. */
    testgw_say(&g, "you", "#t", "!accept alice");
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_told(&g.front, "unknown command !accept"));
    ck_assert_int_eq(tn->nacts, 1);
}
END_TEST

/* ---- the inbox ---------------------------------------------------------- */

/* ---- people ------------------------------------------------------------- */

/* One nick per (network, author id): a handle that changes keeps it; a
 * second person with the same name gets another; a connected person's nick
 * is never given out. */
START_TEST(test_nicks)
{
    struct testnet *tn = testgw_net(&g, "t");
    g.front.taken[0] = "carol";
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = GW_EV_MENTION;
    ev.id = "1";
    ev.author_id = "did:1";
    ev.author = "ann.bsky.social";
    ev.text = "one";
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    ev.id = "2";
    ev.author_id = "did:1";
    ev.author = "ann.example.org"; /* she changed her handle */
    ev.text = "two";
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    ev.id = "3";
    ev.author_id = "did:2";
    ev.author = "ann.other.net";
    ev.text = "three";
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    ev.id = "4";
    ev.author_id = NULL;
    ev.author = "carol@x.org";
    ev.text = "four";
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    testgw_run(&g, 0);
    ck_assert_str_eq(fakefront_shown(&g.front, "one")->prefix,
                     "ann!ann.bsky.social@test");
    ck_assert_str_eq(fakefront_shown(&g.front, "two")->prefix,
                     "ann!ann.example.org@test");
    ck_assert_str_eq(fakefront_shown(&g.front, "three")->prefix,
                     "ann_other!ann.other.net@test");
    ck_assert_str_eq(fakefront_shown(&g.front, "four")->prefix,
                     "carol_x!carol@x.org");
    /* And after a restart, the same. */
    testgw_restart(&g);
    tn = testgw_net(&g, "t");
    ev.id = "5";
    ev.author_id = "did:2";
    ev.author = "ann.other.net";
    ev.text = "five";
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    testgw_run(&g, 0);
    ck_assert_str_eq(fakefront_shown(&g.front, "five")->prefix,
                     "ann_other!ann.other.net@test");
    ck_assert(gw_router_person_back(g.gw.router, "ANN"));
    ck_assert(!gw_router_person_back(g.gw.router, "nobody"));
}
END_TEST

static void event_from(struct testnet *tn, enum gw_event_kind kind,
                       const char *id, const char *who, const char *text)
{
    struct gw_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = kind;
    ev.id = id;
    ev.author = who;
    ev.author_id = who;
    ev.text = text;
    ev.audience = GW_AUD_PUBLIC;
    ck_assert_int_eq(testnet_deliver_ev(tn, &ev), 0);
    testgw_run(&g, 0);
}

/* The owner's nick is theirs: a stranger named like them on another server
 * gets a nick of their own, even one who was seen first. */
START_TEST(test_owner_nick_reserved)
{
    struct testnet *tn = testgw_net(&g, "t");
    event_from(tn, GW_EV_MENTION, "1", "me@evil.example", "i am you");
    event_from(tn, GW_EV_OWN, "2", "me@test.example", "really me");
    ck_assert_str_eq(fakefront_shown(&g.front, "i am you")->prefix,
                     "me_evil!me@evil.example");
    ck_assert_str_eq(fakefront_shown(&g.front, "really me")->prefix,
                     "me!me@test.example");

    /* Seen before the owner ever signed in: moved once, and said so. */
    testgw_stop(&g);
    testgw_start(&g, "[account t]\nnetwork = test\nme = you@test.example\n");
    tn = testgw_net(&g, "t");
    event_from(tn, GW_EV_MENTION, "1", "you@evil.example", "first");
    ck_assert_str_eq(fakefront_shown(&g.front, "first")->prefix,
                     "you!you@evil.example");
    testnet_ready(tn);
    testgw_run(&g, 0);
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "you@evil.example on test) "
                                                    "is you_evil"));
    event_from(tn, GW_EV_MENTION, "3", "you@evil.example", "second");
    event_from(tn, GW_EV_OWN, "4", "you@test.example", "mine");
    ck_assert_str_eq(fakefront_shown(&g.front, "second")->prefix,
                     "you_evil!you@evil.example");
    ck_assert_str_eq(fakefront_shown(&g.front, "mine")->prefix,
                     "you!you@test.example");
    /* Stable: after a restart, without a word. */
    testgw_restart(&g);
    tn = testgw_net(&g, "t");
    testnet_ready(tn);
    event_from(tn, GW_EV_MENTION, "5", "you@evil.example", "third");
    ck_assert_str_eq(fakefront_shown(&g.front, "third")->prefix,
                     "you_evil!you@evil.example");
    ck_assert_ptr_null(fakefront_shown(&g.front, "is you_evil"));
}
END_TEST

/* A post of any length takes GW_POST_LINES lines where it is shown; !open
 * has all of it. */
START_TEST(test_long_post_capped)
{
    struct testnet *tn = testgw_net(&g, "t");
    char *big = gw_xmalloc(100001);
    memset(big, 'z', 100000);
    big[100000] = '\0';
    memcpy(big, "start ", 6);
    event_from(tn, GW_EV_MENTION, "1", "big@x.org", big);
    int lines = 0, zs = 0;
    for (int i = 0; i < g.front.nshown; i++)
        if (strncmp(g.front.shown[i].prefix, "big!", 4) == 0) {
            lines++;
            for (const char *p = g.front.shown[i].text; *p; p++)
                zs += *p == 'z';
        }
    ck_assert_int_eq(lines, GW_POST_LINES);
    char want[64];
    snprintf(want, sizeof(want), "more lines: !open %s", ref_of("start"));
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, want));
    ck_assert_int_gt(zs, 6 * 300);
    /* !open: the URL line, then the text (at most 40 lines of it). */
    char line[32];
    snprintf(line, sizeof(line), "!open %s", ref_of("start"));
    int before = g.front.ntold;
    testgw_say(&g, "ann", "#t", line);
    /* Where it is, 40 lines of text, and where the rest is. */
    ck_assert_int_eq(g.front.ntold - before, 1 + 40 + 1);
    ck_assert_ptr_nonnull(strstr(g.front.told[before], "big: (no URL known)"));
    ck_assert_ptr_nonnull(strstr(g.front.told[before + 1], "start"));
    ck_assert_ptr_nonnull(strstr(g.front.told[before + 41], "more lines"));
    free(big);

    /* A short post is whole, with no note. */
    event_from(tn, GW_EV_MENTION, "2", "small@x.org", "short one");
    ck_assert_int_eq(fakefront_count(&g.front, "more lines"), 1);
}
END_TEST

/* ---- catching up -------------------------------------------------------- */

START_TEST(test_catch_up_on_arrival)
{
    struct testnet *tn = testgw_net(&g, "t");
    mention_from(tn, "1", "alice@x.org", "while away", NULL, 0, NULL,
                 GW_AUD_PUBLIC);
    ck_assert_int_eq(testnet_deliver(tn, GW_EV_DM, "d", "bob@y.org", "dm"), 0);
    testgw_run(&g, 0);
    testgw_say(&g, "you", "bob", "my answer");
    struct gw_speaker sp = {&g.front.fe, NULL,  "you", "you!you@127.0.0.1",
                            "you/you",   false, false};
    gw_router_arrived(g.gw.router, &sp);
    ck_assert_int_ge(g.front.nreplayed, 3);
    bool seen_mention = false, seen_answer = false;
    for (int i = 0; i < g.front.nreplayed; i++) {
        struct fake_line *l = &g.front.replayed[i];
        if (strstr(l->text, "while away"))
            seen_mention = true;
        if (strstr(l->text, "my answer")) {
            /* What a user said in a query is theirs, not the person's. */
            ck_assert_int_eq(l->from_user, true);
            seen_answer = true;
        }
    }
    ck_assert(seen_mention && seen_answer);
    /* Read up to here: nothing again next time. */
    gw_router_left(g.gw.router, &sp);
    int before = g.front.nreplayed;
    gw_router_arrived(g.gw.router, &sp);
    ck_assert_int_eq(g.front.nreplayed, before);
}
END_TEST

/* A reader present sees a line and its read position moves with it: a
 * crash after that replays nothing. */
START_TEST(test_read_position_moves_with_lines)
{
    struct testnet *tn = testgw_net(&g, "t");
    g.front.readers[0] = "you/you";
    mention_from(tn, "1", "alice@x.org", "live", NULL, 0, NULL, GW_AUD_PUBLIC);
    struct gw_speaker sp = {&g.front.fe, NULL,  "you", "you!you@127.0.0.1",
                            "you/you",   false, false};
    gw_router_arrived(g.gw.router, &sp);
    ck_assert_int_eq(g.front.nreplayed, 0);
}
END_TEST

/* ---- the control channel ------------------------------------------------ */

START_TEST(test_control_account_add_and_networks)
{
    testgw_say(&g, "you", "&parley", "account add u nosuchnet");
    ck_assert_ptr_nonnull(fakefront_shown(
        &g.front, "network 'nosuchnet' is not known (this build knows: "));
    testgw_say(&g, "you", "&parley", "account add u test ready=yes");
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "account u added (test"));
    struct testnet *tn = testgw_net(&g, "u");
    ck_assert_int_eq(testnet_deliver(tn, GW_EV_MENTION, "9", "zed@q.org", "hi"),
                     0);
    testgw_run(&g, 0);
    ck_assert_str_eq(fakefront_shown(&g.front, "zed!")->place, "#u");
    testgw_say(&g, "you", "&parley", "status");
    ck_assert_ptr_nonnull(
        fakefront_shown(&g.front, "u (test): signed in as @me@test.example"));
}
END_TEST

/* What gw_router_mask makes of a line: the masked text, or "-" when the
 * line carries no secret. */
static const char *masked(const char *place, const char *text)
{
    static char buf[256];
    if (!gw_router_mask(g.gw.router, place, text, buf, sizeof(buf)))
        return "-";
    return buf;
}

START_TEST(test_secrets_are_masked)
{
    ck_assert_str_eq(masked("&parley", "account set t token abc def"),
                     "account set t token ********");
    ck_assert_str_eq(masked("&PARLEY", "!ACC  set t Client_Secret x"),
                     "!ACC  set t Client_Secret ********");
    ck_assert_str_eq(masked("parley", "account set t access_token x"),
                     "account set t access_token ********");
    ck_assert_str_eq(masked("&parley", "account code t 123-456"),
                     "account code t ********");
    ck_assert_str_eq(masked("&parley", "account add w test @me@h.example "
                                       "token=s1 poll_seconds=60 "
                                       "app_password=s2 token="),
                     "account add w test @me@h.example token=******** "
                     "poll_seconds=60 app_password=******** token=");
    /* Typed by habit with '=', or without it in account add. */
    ck_assert_str_eq(masked("&parley", "account set t token=abc"),
                     "account set t token=********");
    ck_assert_str_eq(masked("&parley", "account add w test token abc x=1"),
                     "account add w test token ******** x=1");
    /* A person's password, added or changed. */
    ck_assert_str_eq(masked("&parley", "user add bob hunter2 admin"),
                     "user add bob ******** admin");
    ck_assert_str_eq(masked("parley", "user passwd hunter2"),
                     "user passwd ********");
    ck_assert_str_eq(masked("&parley", "user passwd bob hunter2"),
                     "user passwd bob ********");
    ck_assert_str_eq(masked("&parley", "user del bob"), "-");
    /* Nothing secret, nothing masked; removing a token shows nothing. */
    ck_assert_str_eq(masked("&parley", "account set t poll_seconds 60"), "-");
    ck_assert_str_eq(masked("&parley", "account set t token"), "-");
    ck_assert_str_eq(masked("&parley", "account code t"), "-");
    ck_assert_str_eq(masked("&parley", "account add w test base_url=x"), "-");
    ck_assert_str_eq(masked("&parley", "my token is abc"), "-");
    /* Only where commands are read: elsewhere it is talk. */
    ck_assert_str_eq(masked("#t", "account set t token abc"), "-");
    ck_assert_str_eq(masked("alice", "account code t 123"), "-");
    /* Cut to the buffer, never past the mask. */
    char small[24];
    ck_assert(gw_router_mask(g.gw.router, "&parley",
                             "account set t token 0123456789", small,
                             sizeof(small)));
    ck_assert_str_eq(small, "account set t token ***");
    /* The command itself still sees the token; the bot never says it. */
    testgw_say(&g, "you", "&parley", "account set t token s3cr3t");
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "t: token set"));
    testgw_say(&g, "you", "&parley", "account set t token=s3cr3t");
    ck_assert_ptr_nonnull(fakefront_shown(&g.front, "with a space, not '='"));
    ck_assert_ptr_null(fakefront_shown(&g.front, "s3cr3t"));
}
END_TEST

static Suite *router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_checked_fixture(tc, setup_t, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_mention_shown_once_with_ref);
    tcase_add_test(tc, test_dm_is_a_query);
    tcase_add_test(tc, test_long_burst_shown_in_slices);
    tcase_add_test(tc, test_reply_follows_the_rules);
    tcase_add_test(tc, test_plain_network_gets_plain_text);
    tcase_add_test(tc, test_reply_styles);
    tcase_add_test(tc, test_reply_ok_echo_and_inbox);
    tcase_add_test(tc, test_retry_then_ok_same_key);
    tcase_add_test(tc, test_maybe_sent);
    tcase_add_test(tc, test_failed_says_why);
    tcase_add_test(tc, test_too_long_refused_before_queueing);
    tcase_add_test(tc, test_sent_mark_refused_not_sent_twice);
    tcase_add_test(tc, test_actions_wait_until_ready);
    tcase_add_test(tc, test_signed_out_says_so_and_waits);
    tcase_add_test(tc, test_thread_lines);
    tcase_add_test(tc, test_network_command);
    tcase_add_test(tc, test_nicks);
    tcase_add_test(tc, test_owner_nick_reserved);
    tcase_add_test(tc, test_long_post_capped);
    tcase_add_test(tc, test_catch_up_on_arrival);
    tcase_add_test(tc, test_read_position_moves_with_lines);
    tcase_add_test(tc, test_control_account_add_and_networks);
    tcase_add_test(tc, test_secrets_are_masked);
    tcase_add_test(tc, test_network_commands);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(router_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
