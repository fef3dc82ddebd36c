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
