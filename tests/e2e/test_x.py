"""X end to end: a real ./parley, the mock X API (tests/mock_x.py) and an
IRC client, as a user would use them."""
import re
import time

import pytest

from mock_x import MockX

CAPS = ["server-time", "message-tags", "echo-message"]
CHAN = "#x"


@pytest.fixture
def mx():
    # DM lookups get X's 15 a quarter hour in the tests that say so; the
    # others poll DMs as often as mentions so that they stay quick.
    m = MockX(limits={"dm_events": 300}).start()
    yield m
    m.stop()


def conf(mx, tok=None, extra="", name="x", tokens=True):
    """Tokens in gateway.conf win over the store, where refreshed ones go:
    tokens=False is what a user who signed in from &parley has."""
    tok = tok or mx.add_token()
    secrets = ("token = %s\nrefresh_token = %s\n"
               % (tok["access_token"], tok["refresh_token"])) if tokens \
        else ""
    return ("[account %s]\nnetwork = x\nbase_url = %s\nclient_id = %s\n"
            "%spoll_seconds = 5\n%s\n"
            % (name, mx.base_url, mx.client_id, secrets, extra))


def start(parley_factory, mx, extra="", tok=None):
    p = parley_factory(conf_extra=conf(mx, tok, extra))
    p.start()
    return p


def connect(p, nick="me"):
    c = p.client()
    c.welcome(nick, caps=CAPS)
    c.expect(lambda m: m.command == "366" and m.params[1] == CHAN)
    return c


def expect_post(c, text, target=CHAN, timeout=15):
    return c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == target
                    and m.params[1].startswith("[")
                    and text in m.params[1], timeout=timeout,
                    what="a line with %r in %s" % (text, target))


def expect_notice(c, pattern, timeout=15):
    rx = re.compile(pattern)
    return c.expect(lambda m: m.command in ("NOTICE", "PRIVMSG") and
                    rx.search(m.params[-1]), timeout=timeout,
                    what="a notice matching %r" % pattern)


def ref_of(msg):
    m = re.match(r"\[([0-9a-z]+)\] ", msg.params[1])
    assert m, msg
    return m.group(1)


def wait_posted(mx, n=1, timeout=15):
    assert mx.wait_for(lambda: len(mx.posted) >= n, timeout=timeout), \
        "X did not receive post %d (posted=%r)" % (n, mx.posted)
    return mx.posted[n - 1]


def requests_to(mx, path_re, method="GET"):
    rx = re.compile(path_re)
    return [r for r in list(mx.requests)
            if r.method == method and rx.search(r.path)]


def test_mention_arrives_and_reply_goes(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    n = mx.add_mention("alice", "is the bridge up? https://example.org/a",
                       name="Alice A")
    line = expect_post(c, "is the bridge up?")
    assert line.nick == "alice"
    # t.co is undone, the leading @me is dropped
    assert "https://example.org/a" in line.params[1]
    assert "t.co" not in line.params[1]
    assert "@gw_bridge" not in line.params[1]
    assert line.tags["time"][:19] == n["created_at"][:19]
    ref = ref_of(line)
    c.say(CHAN, "!re %s yes, up since noon" % ref)
    post = wait_posted(mx)
    assert post["reply"] == {"in_reply_to_tweet_id": n["id"]}
    # X adds the mentions itself: the text is what was typed
    assert post["text"] == "yes, up since noon"
    echo = expect_post(c, "yes, up since noon")
    assert ref_of(echo) != ref
    # the id beyond 2^63 went out exactly as it came
    assert int(n["id"]) > 2 ** 63
    # answered: the next poll is soon, whatever the pace
    t = time.time()
    assert mx.wait_for(lambda: any(
        r.time > t for r in requests_to(mx, r"/mentions$")), timeout=10)


def test_sign_in_with_pkce_from_parley(parley_factory, mx):
    p = parley_factory(conf_extra="[account x]\nnetwork = x\nbase_url = %s\n"
                       "client_id = %s\npoll_seconds = 5\n"
                       % (mx.base_url, mx.client_id))
    p.start()
    c = connect(p)
    c.say("&parley", "account login x")
    url = expect_notice(c, r"oauth2/authorize\?").params[-1].split()[-1]
    assert "code_challenge_method=S256" in url
    assert "offline.access" in url.replace("%20", " ")
    back = mx.authorize(url)
    c.say("&parley", "account code x %s" % back)
    expect_notice(c, r"signed in as @gw_bridge", timeout=20)
    mx.add_mention("bob", "welcome aboard")
    expect_post(c, "welcome aboard", timeout=20)
    # the tokens are kept, never shown
    c.say("&parley", "account list")
    lines = [m.params[-1] for m in c.collect(1.5)]
    assert not any("at-" in ln or "rt-" in ln for ln in lines), lines


def test_token_refresh_in_the_middle_of_a_reply(parley_factory, mx):
    tok = mx.add_token()
    p = start(parley_factory, mx, tok=tok)
    c = connect(p)
    n = mx.add_mention("alice", "question one")
    ref = ref_of(expect_post(c, "question one"))
    mx.expire_token()
    c.say(CHAN, "!re %s answer one" % ref)
    post = wait_posted(mx)
    assert post["reply"]["in_reply_to_tweet_id"] == n["id"]
    assert len(mx.posted) == 1
    # the old refresh token is spent; the stored new one works after a
    # restart
    assert tok["refresh_token"] not in mx.refresh
    p.stop()
    mx.expire_token()
    p.write_conf(conf(mx, tok, tokens=False))
    p.start()
    c = connect(p)
    mx.add_mention("alice", "question two")
    expect_post(c, "question two", timeout=20)


def test_refused_refresh_says_sign_in_again_once(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    mx.add_mention("alice", "first")
    expect_post(c, "first")
    mx.expire_token()
    mx.revoke_refresh()
    expect_notice(c, r"sign in again: account login x", timeout=20)
    time.sleep(6)
    refreshes = requests_to(mx, r"/oauth2/token$", "POST")
    assert len(refreshes) == 1, "no loop of refreshes"
    notes = [m for m in c.collect(2) if "sign in again" in m.params[-1]]
    assert notes == []


def test_restart_mid_poll_loses_and_repeats_nothing(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    mx.add_mention("alice", "before")
    expect_post(c, "before")
    # 150 new mentions: two pages; the second page hangs, parley dies
    for i in range(150):
        mx.add_mention("user%d" % (i % 7), "batch %03d" % i)
    mx.stall_next_page(30)
    assert mx.wait_for(lambda: requests_to(mx, r"/mentions$") and any(
        "pagination_token" in r.query for r in requests_to(mx, r"/mentions$")),
        timeout=15)
    p.kill9()
    p.start()
    c = connect(p)
    got = []
    deadline = time.time() + 30
    while time.time() < deadline and len(set(got)) < 150:
        for m in c.collect(1):
            if m.command == "PRIVMSG" and m.params[0] == CHAN:
                mm = re.search(r"batch (\d{3})", m.params[1])
                if mm and m.params[1].startswith("["):
                    got.append(mm.group(1))
    live = [g for g in got]
    assert sorted(set(live)) == ["%03d" % i for i in range(150)]
    assert len(live) == len(set(live)), "a mention was shown twice"
    assert live == sorted(live), "oldest first"


def test_post_that_timed_out_but_was_made_is_posted_once(parley_factory, mx):
    p = start(parley_factory, mx, extra="timeout_seconds = 2")
    c = connect(p)
    n = mx.add_mention("alice", "are you there?")
    ref = ref_of(expect_post(c, "are you there?"))
    mx.slow_posts(4)
    c.say(CHAN, "!re %s here I am" % ref)
    expect_notice(c, r"may have been posted", timeout=15)
    # looked at my posts, found it, did not post again
    assert mx.wait_for(lambda: requests_to(mx, r"/users/\d+/tweets$"),
                       timeout=20)
    echo = expect_post(c, "here I am", timeout=20)
    assert echo.params[1].startswith("[")
    time.sleep(2)
    assert len(mx.posted) == 1
    assert mx.posted[0]["reply"]["in_reply_to_tweet_id"] == n["id"]


def test_duplicate_content_refusal(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    mx.add_post(None, "same words", reply_to=None)
    # X remembers posts made elsewhere too: it refuses the same text
    mx.posts[list(mx.posts)[-1]]["_sent_text"] = "same words"
    mx.posts[list(mx.posts)[-1]]["_media"] = []
    c.say(CHAN, "!post fresh words")
    wait_posted(mx, 1)
    expect_post(c, "fresh words")
    # the same post again: X's duplicate 403, and it matches my latest
    c.say(CHAN, "!post fresh words")
    expect_notice(c, r"posted already|already", timeout=15)
    assert len(mx.posted) == 1
    # a duplicate X knows of but that is not among my latest: a clear word
    for i in range(12):
        mx.add_post(None, "filler %d" % i)
    c.say(CHAN, "!post same words")
    expect_notice(c, r"duplicate of an earlier post", timeout=15)
    assert len(mx.posted) == 1


def test_too_long_is_refused_before_queueing(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    mx.add_mention("alice", "hi")
    expect_post(c, "hi")
    c.say(CHAN, "!post " + "\u65e5" * 141)
    expect_notice(c, r"too long: 282, X allows 280")
    c.say(CHAN, "!post https://example.org/" + "a" * 400 + " ok")
    expect_post(c, " ok")
    assert len(mx.posted) == 1


def test_dm_conversations_with_two_people(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    da = mx.add_dm("alice", "psst from alice")
    db = mx.add_dm("bob", "hello from bob")
    qa = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                  and "psst from alice" in m.params[1], timeout=20)
    qb = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                  and "hello from bob" in m.params[1], timeout=20)
    assert qa.nick == "alice" and qb.nick == "bob"
    c.say("alice", "to alice")
    c.say("bob", "to bob")
    assert mx.wait_for(lambda: len(mx.dms_sent) >= 2, timeout=15)
    by = {d["text"]: d for d in mx.dms_sent}
    assert by["to alice"]["conversation"] == da["dm_conversation_id"]
    assert by["to bob"]["conversation"] == db["dm_conversation_id"]
    # a DM to someone who never wrote: looked up by username
    mx.add_user("carol")
    c.say(CHAN, "!dm carol first words")
    assert mx.wait_for(lambda: len(mx.dms_sent) >= 3, timeout=15)
    assert mx.dms_sent[2]["participant"] == mx.by_name["carol"]
    # my own DMs are not shown back as someone else's
    time.sleep(6)
    assert not any("to alice" in m.params[1] and m.nick != "me"
                   for m in c.collect(1) if m.command == "PRIVMSG")


def test_budget_runs_low_polling_slows(parley_factory, mx):
    mx.add_mention("alice", "budget question")
    p = start(parley_factory, mx, extra="max_requests_per_day = 8")
    c = connect(p)
    ref = ref_of(expect_post(c, "budget question"))
    low = expect_notice(c, r"budget runs low \(\d of 8 requests left today\)"
                        r": polling every (\d+) s instead of 5 s", timeout=30)
    every = int(re.search(r"every (\d+) s", low.params[-1]).group(1))
    left = int(re.search(r"\((\d) of 8", low.params[-1]).group(1))
    # the rest of the day's budget sets the pace: what is left of the UTC
    # day over the requests left (at least one a poll), whatever the hour
    until = 86400 - time.time() % 86400
    assert every >= 0.9 * until / left, (every, until, left)
    polls = len(requests_to(mx, r"/mentions$"))
    c.say(CHAN, "!re %s answered" % ref)
    wait_posted(mx)
    time.sleep(8)
    assert len(requests_to(mx, r"/mentions$")) == polls, \
        "no wake-up poll on a budget that runs low"
    assert not [m for m in c.collect(1) if "runs low" in m.params[-1]], \
        "said once"


def test_budget_spent_replies_still_go(parley_factory, mx):
    n = mx.add_mention("alice", "last question")
    p = start(parley_factory, mx, extra="max_requests_per_day = 3")
    c = connect(p)
    ref = ref_of(expect_post(c, "last question"))
    expect_notice(c, r"budget is spent.*replies still go", timeout=30)
    polls = len(requests_to(mx, r"/mentions$"))
    c.say(CHAN, "!re %s still answering" % ref)
    post = wait_posted(mx)
    assert post["reply"]["in_reply_to_tweet_id"] == n["id"]
    c.say(CHAN, "!who alice")
    expect_notice(c, r"budget is spent")
    time.sleep(6)
    assert len(requests_to(mx, r"/mentions$")) == polls
    c.say("&parley", "status")
    st = expect_notice(c, r"spent today")
    assert re.search(r"spent today \d+ of 3 requests", st.params[-1])


def test_actions_and_tier_errors(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    n = mx.add_mention("alice", "like me")
    ref = ref_of(expect_post(c, "like me"))
    c.say(CHAN, "!fav %s" % ref)
    assert mx.wait_for(lambda: n["id"] in mx.likes, timeout=10)
    c.say(CHAN, "!boost %s" % ref)
    assert mx.wait_for(lambda: n["id"] in mx.retweets, timeout=10)
    c.say(CHAN, "!unfav %s" % ref)
    assert mx.wait_for(lambda: n["id"] not in mx.likes, timeout=10)
    c.say(CHAN, "!follow alice")
    assert mx.wait_for(lambda: mx.by_name["alice"] in mx.following,
                       timeout=10)
    c.say(CHAN, "!who alice")
    expect_notice(c, r"followers")
    # quote: a post that ends with a post's address
    c.say(CHAN, "!post look at this https://x.com/alice/status/%s" % n["id"])
    q = wait_posted(mx)
    assert q["quote_tweet_id"] == n["id"] and q["text"] == "look at this"
    mine = ref_of(expect_post(c, "look at this"))
    c.say(CHAN, "!delete %s" % mine)
    assert mx.wait_for(lambda: q["id"] not in mx.posts, timeout=10)
    # a tier without search: X's reason, not retried
    mx.set_tier_block(r"/search/")
    c.say(CHAN, "!thread %s" % ref)
    expect_notice(c, r"access tier.*client-not-enrolled|Client Forbidden")
    time.sleep(3)
    assert len(requests_to(mx, r"/search/")) == 1


def test_hostile_and_partial_answers(parley_factory, mx):
    p = start(parley_factory, mx)
    c = connect(p)
    mx.add_mention("alice", "warm up")
    expect_post(c, "warm up")
    mine = mx.add_post(None, "my own post")
    mx.add_mention("ghost", "from a deleted account", hidden="deleted")
    mx.add_mention("shy", "from a protected account", hidden="protected")
    mx.add_mention("carol", "blocked here", withheld=["DE", "FR"])
    other = mx.add_post("zed", "zed was here")
    mx.add_mention("dave", "look", quote=other["id"],
                   drop_quote="Not Found Error")
    mx.add_mention("erin", "a reply to you", reply_to=mine["id"])
    mx.add_mention("fay", "long " * 100 + "end", note=True)
    mx.add_mention("gil", "pic", media=[{"alt": "a cat on a mat"}])
    line = expect_post(c, "from a deleted account")
    # the numeric id stands in for a handle X did not give
    assert line.nick.startswith("_") and line.nick[1:].isdigit()
    expect_post(c, "from a protected account")
    expect_post(c, "[withheld in DE, FR] blocked here")
    expect_post(c, "look")
    expect_notice(c, r"^\[quote of a post X did not show: deleted\]")
    r = expect_post(c, "a reply to you")
    assert r.nick == "erin"
    expect_notice(c, r"long end$")
    expect_notice(c, r"a cat on a mat")
