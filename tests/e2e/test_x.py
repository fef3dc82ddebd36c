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


def conf(mx, tok=None, extra="", name="x"):
    tok = tok or mx.add_token()
    return ("[account %s]\nnetwork = x\nbase_url = %s\nclient_id = %s\n"
            "token = %s\nrefresh_token = %s\npoll_seconds = 5\n%s\n"
            % (name, mx.base_url, mx.client_id, tok["access_token"],
               tok["refresh_token"], extra))


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
