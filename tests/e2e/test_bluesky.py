"""Bluesky end to end, against the reference AT Protocol servers (PLC
directory, PDS, AppView from @atproto/dev-env) running on 127.0.0.1, with a
real ./parley and an IRC client, as a user would use them. DMs go to
tests/mock_bsky_chat.py: the chat service is not open source.

Every account is made fresh by the test that uses it, and Parley signs in
with an app password made for it, as a user would.
"""
import json
import os
import re
import signal
import sqlite3
import sys
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import atproto_net  # noqa: E402
from atproto_net import AtprotoNet, Forwarder, wait_for, xrpc  # noqa: E402
from mock_bsky_chat import MockBskyChat  # noqa: E402

CAPS = ["server-time", "message-tags", "echo-message"]

why_not = atproto_net.installed()
pytestmark = pytest.mark.skipif(
    why_not is not None and os.environ.get("PARLEY_NEED_ATPROTO") != "1",
    reason=why_not or "")


@pytest.fixture(scope="module")
def net():
    n = AtprotoNet().start()
    yield n
    n.stop()


@pytest.fixture
def chat():
    m = MockBskyChat().start()
    yield m
    m.stop()


class Sky(object):
    """A Parley with one Bluesky account (alice) and an IRC client."""

    def __init__(self, net, parley_factory, alice, password=None, extra="",
                 name="sky"):
        self.net = net
        self.alice = alice
        self.name = name
        self.password = password or alice.app_password("parley-%d" %
                                                       int(time.time() * 1e6))
        self.p = parley_factory(conf_extra=net.conf(
            name, alice.handle, self.password, extra))
        self.p.start()
        self.c = None

    def dump(self):
        """What a failing test shows: the IRC lines and the log."""
        lines = [m.raw if hasattr(m, "raw") else repr(m)
                 for m in (self.c.lines if self.c else [])]
        return "\n".join(lines[-40:]) + "\n--- log ---\n" + \
            self.p.logtext()[-4000:]

    def connect(self, nick="me", signed_in=True):
        self.c = self.p.client()
        self.c.welcome(nick, caps=CAPS)
        self.c.expect(lambda m: m.command == "366" and
                      m.params[1] == "#" + self.name)
        if signed_in:
            self.expect_bot("signed in as @" + self.alice.handle)
        return self.c

    def expect(self, pred, timeout, what):
        try:
            return self.c.expect(pred, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError("%s\n%s" % (e, self.dump()))

    def expect_bot(self, text, where="&parley", timeout=20):
        return self.expect(
            lambda m: m.command in ("PRIVMSG", "NOTICE") and
            m.params[0] == where and text in m.params[1],
            timeout, "%r in %s" % (text, where))

    def expect_post(self, text, timeout=20):
        ch = "#" + self.name
        return self.expect(
            lambda m: m.command == "PRIVMSG" and m.params[0] == ch and
            m.params[1].startswith("[") and text in m.params[1],
            timeout, "a post with %r" % text)

    def say(self, text, where=None):
        self.c.say(where or "#" + self.name, text)

    def setting(self, key):
        db = sqlite3.connect(self.p.db)
        try:
            row = db.execute("SELECT value FROM settings WHERE account = ? "
                             "AND key = ?", (self.name, key)).fetchone()
            return row[0] if row else None
        finally:
            db.close()


def ref_of(msg):
    m = re.match(r"\[([0-9a-z]+)\] ", msg.params[1])
    assert m, msg
    return m.group(1)


def thread_replies(acct, uri, n=1, timeout=20):
    """The replies under uri on the AppView, once there are n."""
    def get():
        t = acct.thread(uri)
        r = t and t["thread"].get("replies") or []
        return r if len(r) >= n else None
    return wait_for(get, timeout=timeout)


def appview_post(net, uri):
    st, _, j = xrpc(net.appview, "app.bsky.feed.getPosts",
                    query={"uris": [uri]})
    return j["posts"][0] if st == 200 and j.get("posts") else None


def test_mention_reaches_channel_and_irc_reply_threads(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice)
    s.connect()
    post = bob.post("hey @%s, is the bridge up? https://example.com/a" %
                    alice.handle, mentions={alice.handle: alice.did},
                    facets=[])
    line = s.expect_post("is the bridge up?")
    nick = bob.handle.split(".")[0]
    assert line.nick == nick
    assert line.prefix.startswith("%s!%s@" % (nick, bob.handle))
    ref = ref_of(line)
    # "nick: text" answers that person's latest post, here, as a reply.
    reply = "%s: yes! ask @%s ✨ https://example.com/status" % (nick,
                                                               bob.handle)
    s.say(reply)
    echo = s.expect_post("ask @%s" % bob.handle)
    assert echo.nick == alice.handle.split(".")[0]
    s.expect_bot("[%s] answered by me" % ref, where="#sky")
    replies = thread_replies(bob, post["uri"])
    assert replies, "the reply is not in bob's thread on the AppView"
    rec = replies[0]["post"]["record"]
    assert rec["reply"]["parent"]["uri"] == post["uri"]
    assert rec["reply"]["parent"]["cid"] == post["cid"]
    assert rec["reply"]["root"]["uri"] == post["uri"]
    text = rec["text"].encode("utf-8")
    feats = {f["features"][0]["$type"].split("#")[1]: f
             for f in rec["facets"]}
    m = feats["mention"]
    assert m["features"][0]["did"] == bob.did
    span = text[m["index"]["byteStart"]:m["index"]["byteEnd"]]
    assert span == ("@" + bob.handle).encode()
    lk = feats["link"]
    assert text[lk["index"]["byteStart"]:lk["index"]["byteEnd"]] == \
        b"https://example.com/status"
    assert lk["features"][0]["uri"] == "https://example.com/status"
    # The echo's ref answers the reply too: a reply to it has the same root.
    s.say("!re %s and one more" % ref_of(echo))
    s.expect_post("and one more")
    deep = thread_replies(bob, post["uri"])[0]
    sub = wait_for(lambda: (bob.thread(post["uri"])["thread"]["replies"][0]
                            .get("replies") or None), timeout=20)
    assert sub, deep
    assert sub[0]["post"]["record"]["reply"]["root"]["uri"] == post["uri"]


def test_like_repost_follow_both_ways(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice)
    s.connect()
    s.say("!post a first post from IRC")
    mine = s.expect_post("a first post from IRC")
    rec = wait_for(lambda: alice.posts_by_me())[0]
    ref = {"uri": rec["uri"], "cid": rec["cid"]}
    bob.like(ref)
    bob.repost(ref)
    bob.follow(alice.did)
    c = s.c
    nick = bob.handle.split(".")[0]
    for what in ("favourited [%s]" % ref_of(mine),
                 "boosted [%s]" % ref_of(mine), "followed you"):
        c.expect(lambda m, w=what: m.command == "NOTICE" and
                 m.params[0] == "#sky" and w in m.params[1] and
                 m.nick == nick, timeout=20, what=what)
    # And the other way: alice likes and reposts bob's mention.
    bp = bob.post("@%s thanks for the follow-back" % alice.handle,
                  mentions={alice.handle: alice.did})
    r = ref_of(s.expect_post("follow-back"))
    s.say("!fav " + r)
    s.expect_bot("fav [%s] done" % r, where="#sky")
    s.say("!boost " + r)
    s.expect_bot("boost [%s] done" % r, where="#sky")
    assert wait_for(lambda: (appview_post(net, bp["uri"]) or {})
                    .get("likeCount") == 1 and
                    appview_post(net, bp["uri"]).get("repostCount") == 1,
                    timeout=20)
    s.say("!unfav " + r)
    s.expect_bot("unfav [%s] done" % r, where="#sky")
    assert wait_for(lambda: appview_post(net, bp["uri"])["likeCount"] == 0,
                    timeout=20)
    s.say("!follow " + bob.handle)
    s.expect_bot("follow %s done" % bob.handle, where="#sky")
    follows = alice.ok("com.atproto.repo.listRecords", query={
        "repo": alice.did, "collection": "app.bsky.graph.follow"})
    assert [f["value"]["subject"] for f in follows["records"]] == [bob.did]


def test_300_graphemes_go_301_are_refused(net, parley_factory):
    alice = net.account("alice")
    s = Sky(net, parley_factory, alice)
    s.connect()
    # A family emoji (7 code points), flags, skin tones, combining marks,
    # Hangul: one grapheme each, more code points and bytes than graphemes.
    # (An IRC line holds 512 bytes, so most of the rest is ASCII.)
    odd = (["👨\u200d👩\u200d👧\u200d👦"] + ["🇫🇷"] * 3 + ["👍🏽"] * 3 +
           ["e\u0301"] * 20 + ["a\u0308\u0323"] * 10 + ["가"] * 5)
    units = odd + ["x"] * (300 - len(odd))
    text = "".join(units)
    assert len(text) > 300 and len(text.encode()) < 480
    s.say("!post " + text)
    s.expect_post(odd[0] + "🇫🇷", timeout=20)
    posts = wait_for(lambda: alice.posts_by_me())
    assert [p["value"]["text"] for p in posts] == [text]
    s.say("!post " + text + "!")
    s.expect_bot("not sent: too long: 301 graphemes, Bluesky allows 300",
                 where="#sky")
    # Refused before it was queued: nothing waits to be sent.
    db = sqlite3.connect(s.p.db)
    try:
        assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 1
    finally:
        db.close()
    assert len(alice.posts_by_me()) == 1


def test_session_expiry_refresh_and_restart_without_loss(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice)
    s.connect()
    stored = json.loads(s.setting("session"))
    assert stored["did"] == alice.did
    before = net.counts()
    # Every token the PDS issued is now two hours and more old.
    net.advance_clock(3 * 3600)
    bob.post("after the clock moved, @%s" % alice.handle,
             mentions={alice.handle: alice.did})
    s.expect_post("after the clock moved")
    after = net.counts()
    key = "pds %s com.atproto.server.refreshSession" % alice.did
    assert after.get(key, 0) > before.get(key, 0), "no refreshSession"
    creates = "pds anonymous com.atproto.server.createSession"
    assert wait_for(lambda: json.loads(s.setting("session"))["refresh"] !=
                    stored["refresh"]), "the rotated token was not stored"
    # Restart: what arrives while it is down is shown once, nothing twice.
    s.p.stop()
    bob.post("while you were away 1 @%s" % alice.handle,
             mentions={alice.handle: alice.did})
    bob.post("while you were away 2 @%s" % alice.handle,
             mentions={alice.handle: alice.did})
    n_creates = net.counts().get(creates, 0)
    s.p.start()
    c = s.connect(signed_in=False)
    s.expect_post("while you were away 1")
    s.expect_post("while you were away 2")
    c.collect(4)   # a few polls more: whatever would come twice, would now
    shown = [m.params[1] for m in c.lines if m.command == "PRIVMSG" and
             m.params[0] == "#sky" and m.params[1].startswith("[")]
    assert sum("while you were away 1" in t for t in shown) == 1, shown
    assert sum("after the clock moved" in t for t in shown) <= 1, shown
    # The stored session was refreshed, not a new sign-in.
    assert net.counts().get(creates, 0) == n_creates


def test_app_password_revoked_mid_session(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice, password=None)
    s.connect()
    name = [p["name"] for p in alice.ok(
        "com.atproto.server.listAppPasswords")["passwords"]][0]
    alice.revoke_app_password(name)
    net.advance_clock(3 * 3600)
    bob.post("can you still read this @%s" % alice.handle,
             mentions={alice.handle: alice.did})
    line = s.expect_bot("Bluesky refused the app password for @%s" %
                        alice.handle, timeout=30)
    assert "account set sky app_password NEW, or in gateway.conf" in \
        line.params[1]
    s.say("status", "&parley")
    s.expect_bot("signed out")
    s.say("!post held until I sign in again")
    s.expect_bot("not signed in", where="#sky")
    # A new app password brings it back, and the held post goes out.
    pw = alice.app_password("again")
    s.p.write_conf(net.conf("sky", alice.handle, pw))
    s.p.signal(signal.SIGHUP)
    s.expect_bot("signed in as @" + alice.handle, timeout=30)
    s.expect_post("held until I sign in again", timeout=30)
    s.expect_post("can you still read this", timeout=30)


def test_handle_that_does_not_resolve(net, parley_factory):
    alice = net.account("alice")
    s = Sky(net, parley_factory, alice)
    s.connect()
    s.say("!post hello @nobody-here.test, are you there?")
    s.expect_bot("@nobody-here.test does not resolve to a Bluesky account",
                 where="#sky")
    s.say("!who nobody-here.test")
    s.expect_bot("failed: no such account", where="#sky")
    s.say("!follow nobody-here.test")
    s.expect_bot("does not resolve", where="#sky")
    assert alice.posts_by_me() == []


def test_pds_that_moves(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    pds_port = int(net.pds.rsplit(":", 1)[1])
    a = Forwarder(pds_port)
    b = Forwarder(pds_port)
    try:
        net.move_pds(alice.did, a.url)
        s = Sky(net, parley_factory, alice)
        s.connect()
        net.move_pds(alice.did, b.url)
        a.close()
        bob.post("did you move, @%s?" % alice.handle,
                 mentions={alice.handle: alice.did})
        s.expect_bot("the account's PDS moved from %s to %s" % (a.url, b.url),
                     timeout=40)
        s.expect_post("did you move", timeout=30)
        s.say("!post posted through the new address")
        s.expect_post("through the new address")
    finally:
        a.close()
        b.close()


def test_record_deleted_before_the_reply(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice)
    s.connect()
    post = bob.post("quick, @%s, answer this" % alice.handle,
                    mentions={alice.handle: alice.did})
    ref = ref_of(s.expect_post("answer this"))
    bob.delete(post["uri"])
    assert wait_for(lambda: appview_post(net, post["uri"]) is None,
                    timeout=20)
    s.say("!re %s too late?" % ref)
    s.expect_bot("the post you are answering was deleted; nothing was sent",
                 where="#sky")
    assert alice.posts_by_me() == []


def test_malformed_facets_are_shown_without_them(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice)
    s.connect()
    text = "héllo @%s see example.com/x" % alice.handle
    b = text.encode()
    link_at = b.index(b"example.com/x")

    def link(st, en, uri):
        return {"index": {"byteStart": st, "byteEnd": en},
                "features": [{"$type": "app.bsky.richtext.facet#link",
                              "uri": uri}]}
    facets = [
        link(link_at, link_at + 13, "https://example.com/x/full"),  # good
        link(link_at + 2, link_at + 5, "https://evil.example/"),  # overlaps
        link(2, 3, "https://mid.example/"),         # inside "é"
        link(len(b) - 2, len(b) + 40, "https://past.example/"),  # past end
    ]
    bob.post(text, mentions={alice.handle: alice.did}, facets=facets)
    line = s.expect_post("see https://example.com/x/full")
    assert "héllo @%s" % alice.handle in line.params[1]
    assert "evil" not in line.params[1] and "mid.example" not in \
        line.params[1] and "past.example" not in line.params[1]
    s.c.expect(lambda m: m.command == "PRIVMSG" and
               "3 malformed facets ignored" in m.params[1], timeout=5,
               what="a line that says facets were ignored")


def test_retried_post_is_made_once(net, parley_factory):
    """The answer to createRecord is lost on the way back: the outbox tries
    again, finds the record its key names, and does not post twice."""
    alice = net.account("alice")
    pds_port = int(net.pds.rsplit(":", 1)[1])
    fw = Forwarder(pds_port, swallow=b"com.atproto.repo.createRecord")
    try:
        net.move_pds(alice.did, fw.url)
        s = Sky(net, parley_factory, alice)
        s.connect()
        s.say("!post said once, sent twice")
        s.expect_post("said once, sent twice", timeout=40)
        assert fw.swallowed == 1
        texts = [p["value"]["text"] for p in alice.posts_by_me()]
        assert texts == ["said once, sent twice"]
    finally:
        fw.close()


def test_thread_and_who(net, parley_factory):
    alice, bob = net.account("alice"), net.account("bob")
    s = Sky(net, parley_factory, alice)
    s.connect()
    root = bob.post("root of a thread")
    bob.post("@%s what do you think?" % alice.handle,
             mentions={alice.handle: alice.did},
             reply={"root": root, "parent": root})
    ref = ref_of(s.expect_post("what do you think?"))
    s.say("!thread " + ref)
    s.expect_bot("%s: root of a thread" % bob.handle, where="#sky")
    s.expect_bot("> %s: @%s what do you think?" % (bob.handle, alice.handle),
                 where="#sky")
    s.say("!who " + bob.handle.split(".")[0])
    s.expect_bot("@%s %s" % (bob.handle, bob.did), where="#sky")
    s.expect_bot("https://bsky.app/profile/" + bob.handle, where="#sky")


def test_dms_request_accept_and_answer(net, parley_factory, chat):
    alice, bob = net.account("alice"), net.account("bob")
    chat.add_member(alice.did, alice.handle)
    chat.add_member(bob.did, bob.handle)
    pw = alice.app_password("dm", privileged=True)
    s = Sky(net, parley_factory, alice, password=pw,
            extra="chat_url = %s" % chat.base_url)
    c = s.connect()
    # The first look learns where the log is; then a request comes in.
    assert chat.wait_for(lambda: any(
        r.path.endswith("getLog") for r in chat.requests), timeout=20)
    chat.send(bob.did, alice.did, "psst, can we talk on IRC?", request=True)
    nick = bob.handle.split(".")[0]
    dm = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                  and "can we talk on IRC" in m.params[1], timeout=20,
                  what="the DM as a query")
    assert dm.nick == nick
    assert wait_for(lambda: any(
        m.params[0] == "&parley" and "@%s asks to send you direct messages" %
        bob.handle in m.params[-1] for m in c.lines if m.command in
        ("PRIVMSG", "NOTICE")), timeout=10), "the request was not announced"
    s.say("!accept " + nick, where=nick)
    # In a query the bot answers with a NOTICE to me.
    s.expect_bot("accepted @%s's message request" % bob.handle, where="me")
    s.say("sure, here I am", where=nick)
    assert chat.wait_for(lambda: chat.sent, timeout=20)
    assert chat.sent[0]["text"] == "sure, here I am"
    assert chat.sent[0]["sender"]["did"] == alice.did
    convo = chat.convos[chat.sent[0]["convoId"]]
    assert sorted(convo["members"]) == sorted([alice.did, bob.did])
    assert convo["status"][alice.did] == "accepted"
    # !dm to someone new opens a conversation with them.
    carla = net.account("carla")
    chat.add_member(carla.did, carla.handle)
    s.say("!dm %s hello carla" % carla.handle)
    if not chat.wait_for(lambda: len(chat.sent) == 2, timeout=20):
        s.c.collect(1)
        raise AssertionError("no second DM\n" + s.dump())
    assert carla.did in chat.convos[chat.sent[1]["convoId"]]["members"]
    for r in chat.requests:
        assert r.headers.get("atproto-proxy") == \
            "did:web:api.bsky.chat#bsky_chat"


def test_dms_off_without_dm_access(net, parley_factory, chat):
    alice = net.account("alice")
    s = Sky(net, parley_factory, alice,
            extra="chat_url = %s" % chat.base_url)
    s.connect()
    line = s.expect_bot("DMs are off: this app password has no access to "
                        "direct messages")
    assert "Allow access to your direct messages" in line.params[1]


@pytest.fixture(scope="module")
def limited_net():
    n = AtprotoNet(rate_limits=True).start()
    yield n
    n.stop()


def test_wrong_app_password_says_so(net, parley_factory):
    alice = net.account("alice")
    s = Sky(net, parley_factory, alice, password="aaaa-bbbb-cccc-dddd")
    s.connect(signed_in=False)
    line = s.expect_bot("Bluesky refused the app password for @%s" %
                        alice.handle)
    assert "Invalid identifier or password" in line.params[1]
    s.say("status", "&parley")
    s.expect_bot("signed out")


def test_sign_in_rate_limit_is_honoured(limited_net, parley_factory):
    """The PDS allows 30 sign-ins per 5 minutes per account: with them
    spent, Parley waits for the reset the 429 names, says so, and neither
    gives up nor tries again meanwhile."""
    net = limited_net
    alice = net.account("alice")
    pw = alice.app_password("limited")
    for _ in range(40):
        st, hdrs, j = xrpc(net.pds, "com.atproto.server.createSession",
                           {"identifier": alice.handle, "password": "x"})
        if st == 429:
            break
    assert st == 429, (st, j)
    assert {k.lower() for k in hdrs} >= {"ratelimit-remaining",
                                         "ratelimit-reset", "retry-after"}
    key = "pds anonymous com.atproto.server.createSession"
    s = Sky(net, parley_factory, alice, password=pw)
    s.connect(signed_in=False)
    line = s.expect_bot("cannot sign in: RateLimitExceeded")
    assert "retrying" in line.params[1]
    n = net.counts().get(key, 0)
    s.say("status", "&parley")
    status = s.expect_bot("sky (bluesky)")
    assert "rate limit" in status.params[1], status.params[1]
    assert "signed out" not in status.params[1]
    time.sleep(5)   # what must not happen: another try before the reset
    assert net.counts().get(key, 0) == n


def test_account_added_from_irc(net, parley_factory):
    """account add NAME bluesky handle=... app_password=... in &parley."""
    alice, bob = net.account("alice"), net.account("bob")
    pw = alice.app_password("irc")
    p = parley_factory().start()
    c = p.client()
    c.welcome("me", caps=CAPS)
    c.say("&parley", "account add sky bluesky handle=%s app_password=%s "
          "service=%s plc_url=%s appview=%s poll_seconds=1" % (
              alice.handle, pw, net.pds, net.plc, net.appview))
    c.expect(lambda m: m.command == "PRIVMSG" and
             "signed in as @" + alice.handle in m.params[-1], timeout=20,
             what="signed in")
    # The app password is a secret: never shown back.
    assert not any(pw in m.raw for m in c.lines if m.nick == "parley")
    bob.post("hi @%s from the web" % alice.handle,
             mentions={alice.handle: alice.did})
    c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "#sky" and
             "from the web" in m.params[1], timeout=20, what="the mention")
