"""Facebook Pages and Instagram end to end: a real ./parley, the mock Graph
API (tests/mock_meta.py), webhook POSTs signed as Meta signs them, and an
IRC client, as a user would use them."""
import re
import socket
import sqlite3
import time

import pytest

from mock_meta import MockMeta, sign, webhook_post

SECRET = "mock-app-secret"
VERIFY = "verify-me-please"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def meta():
    m = MockMeta().start()
    yield m
    m.stop()


def fb_conf(m, name="fb", extra="", token=True):
    return ("[account %s]\nnetwork = facebook\nbase_url = %s/v25.0\n"
            "page_id = %s\napp_id = %s\napp_secret = %s\nverify_token = %s\n"
            "%s%s\n" % (name, m.base_url, m.page_id, m.app_id, SECRET, VERIFY,
                        "token = %s\n" % m.page_token if token else "", extra))


def ig_conf(m, name="ig", extra="", token=True):
    return ("[account %s]\nnetwork = instagram\nbase_url = %s/v25.0\n"
            "ig_user_id = %s\npage_id = %s\napp_id = %s\napp_secret = %s\n"
            "verify_token = %s\n%s%s\n"
            % (name, m.base_url, m.ig_id, m.page_id, m.app_id, SECRET, VERIFY,
               "token = %s\n" % m.page_token if token else "", extra))


class Gw(object):
    """parley with a [webhook] listener and the mock's accounts."""

    def __init__(self, factory, m, accounts, hook=True, poll=5):
        self.hook_port = free_port() if hook else None
        extra = ""
        if hook:
            extra = ("[webhook]\nlisten = 127.0.0.1:%d\n"
                     "public_url = https://parley.example.org/hooks\n"
                     % self.hook_port)
        self.conf = extra + "".join(
            a + "poll_seconds = %d\n" % poll for a in accounts)
        self.p = factory(conf_extra=self.conf)
        self.p.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.hook_port, path)

    def post(self, path, payload, **kw):
        kw.setdefault("secret", SECRET)
        return webhook_post(self.url(path), payload, **kw)

    def client(self, channels=("#fb",)):
        c = self.p.client()
        c.welcome("me", caps=["server-time", "message-tags", "echo-message"])
        left = set(channels)
        while left:
            m = c.expect(lambda m: m.command == "366" and m.params[1] in left)
            left.discard(m.params[1])
        return c


def wait_signed_in(c, account="fb", timeout=15):
    """Until status says the account is signed in (webhooks are registered
    then); returns its status line."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        c.say("&parley", "status")
        lines = [l for l in c.bot_lines(seconds=0.5)
                 if l.startswith(account + " (")]
        if lines and "signed in as" in lines[0]:
            return lines[0]
    raise AssertionError("%s did not sign in" % account)


def expect_post(c, text, channel, timeout=15):
    return c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == channel
                    and m.params[1].startswith("[") and text in m.params[1],
                    timeout=timeout,
                    what="a line with %r in %s" % (text, channel))


def expect_notice(c, text, timeout=10):
    return c.expect(lambda m: m.command in ("NOTICE", "PRIVMSG")
                    and text in m.params[-1], timeout=timeout,
                    what="a notice with %r" % text)


def ref_of(msg):
    mo = re.match(r"\[([0-9a-z]+)\] ", msg.params[1])
    assert mo, msg
    return mo.group(1)


def wait(m, pred, what, timeout=15):
    assert m.wait_for(pred, timeout=timeout), what


def fb_comment_hook(m, c):
    """The Page webhook body for comment c, as Meta sends it."""
    value = {"from": c["from"], "post": {"id": c["_on"],
                                         "status_type": "added_photos"},
             "message": c["message"], "post_id": c["_on"],
             "comment_id": c["id"], "created_time": int(c["_t"]),
             "item": "comment", "verb": "add",
             "parent_id": c.get("parent", {}).get("id", c["_on"])}
    return {"object": "page", "entry": [{
        "id": m.page_id, "time": int(time.time()),
        "changes": [{"field": "feed", "value": value}]}]}


def ig_comment_hook(m, c):
    value = {"from": c["from"], "id": c["id"], "text": c["text"],
             "media": {"id": c["_on"], "media_product_type": "FEED"}}
    if "parent_id" in c:
        value["parent_id"] = c["parent_id"]
    return {"object": "instagram", "entry": [{
        "id": m.ig_id, "time": int(time.time()),
        "changes": [{"field": "comments", "value": value}]}]}


def dm_hook(m, d, obj="page", recipient=None):
    return {"object": obj, "entry": [{
        "id": recipient or m.page_id, "time": d["timestamp"],
        "messaging": [{"sender": {"id": d["sender"]},
                       "recipient": {"id": recipient or m.page_id},
                       "timestamp": d["timestamp"],
                       "message": {"mid": d["mid"],
                                   "text": d["message"]["message"]}}]}]}


# ---- polling ---------------------------------------------------------------

def test_fb_comment_and_reply_round_trip_by_polling(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    com = meta.add_fb_comment("Alice Example", "is the shop open today?")
    line = expect_post(c, "is the shop open today?", "#fb")
    assert line.nick.lower().startswith("alice")
    ref = ref_of(line)
    c.say("#fb", "!re %s yes, until six" % ref)
    wait(meta, lambda: meta.posted, "no comment was posted")
    assert meta.posted[0]["on"] == com["id"]
    assert meta.posted[0]["message"] == "yes, until six"
    echo = expect_post(c, "yes, until six", "#fb")
    assert ref_of(echo) != ref
    # a reply to that comment by someone else is a reply, not a new thread
    meta.add_fb_comment("Bob", "and tomorrow?", parent=com["id"])
    expect_post(c, "and tomorrow?", "#fb")
    # a post that tags the Page is a mention
    meta.add_tagged("Yara", "thanks Parley Shop for the quick fix")
    line = expect_post(c, "quick fix", "#fb")
    assert line.nick.lower().startswith("yara")
    c.say("&parley", "status")
    st = [l for l in c.bot_lines(seconds=1.5) if l.startswith("fb (facebook)")]
    assert st and "polling" in st[0] and "usage:" in st[0], st


def test_ig_comment_reply_and_dm_by_polling(parley_factory, meta):
    g = Gw(parley_factory, meta, [ig_conf(meta)], hook=False)
    c = g.client(("#ig",))
    com = meta.add_ig_comment("carla.photo", "love these mugs!")
    line = expect_post(c, "love these mugs!", "#ig")
    assert line.nick.lower().startswith("carla")
    c.say("#ig", "!re %s thank you!" % ref_of(line))
    wait(meta, lambda: meta.posted, "no reply was posted")
    assert meta.posted[0]["on"] == com["id"]
    # tagged in a video: a placeholder with the permalink
    tag = meta.add_ig_tag("zoe.films", "our trip with @parleyshop mugs")
    expect_post(c, "mugs [video: see %s]" % tag["permalink"], "#ig")
    # a DM arrives as a query and is answered by the Send API
    meta.add_dm("dan.insta", "do you ship abroad?", platform="instagram")
    q = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                 and "ship abroad" in m.params[1], timeout=15)
    c.say(q.nick, "yes, to the EU")
    wait(meta, lambda: meta.sent, "no DM was sent")
    s = meta.sent[0]
    assert s["platform"] == "instagram" and s["text"] == "yes, to the EU"
    assert s["body"]["messaging_type"] == "RESPONSE"


def test_messenger_dm_both_ways_and_window(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    meta.add_dm("Erin Old", "hello from yesterday", ago=26 * 3600)
    old = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                   and "from yesterday" in m.params[1], timeout=15)
    meta.add_dm("Fay New", "are you there?")
    new = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                   and "are you there" in m.params[1], timeout=15)
    c.say(new.nick, "yes, how can we help?")
    wait(meta, lambda: meta.sent, "no DM was sent")
    assert meta.sent[0]["text"] == "yes, how can we help?"
    assert meta.sent[0]["body"]["messaging_type"] == "RESPONSE"
    # outside 24 hours: refused before anything is queued
    c.say(old.nick, "sorry for the delay")
    n = expect_notice(c, "24-hour")
    assert "HUMAN_AGENT" in n.params[-1] and "closed at" in n.params[-1]
    time.sleep(1)
    assert len(meta.sent) == 1
    c.say("&parley", "outbox")
    assert not any("sorry for the delay" in l for l in c.bot_lines())


def test_too_long_for_an_instagram_comment_is_refused(parley_factory, meta):
    # Messenger's 2,000 characters and Instagram Direct's 1,000 bytes do not
    # fit in one IRC line; the unit tests hold those. Instagram comments
    # take 300 characters.
    g = Gw(parley_factory, meta, [ig_conf(meta)], hook=False)
    c = g.client(("#ig",))
    meta.add_ig_comment("gus", "write me an essay")
    ref = ref_of(expect_post(c, "essay", "#ig"))
    c.say("#ig", "!re %s %s" % (ref, "a" * 301))
    n = expect_notice(c, "too long")
    assert "301 characters" in n.params[-1] and "300" in n.params[-1]
    time.sleep(1)
    assert not meta.posted


def test_deleted_comment_and_unshowable_media(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    meta.add_fb_comment("Hana", "", attachment={
        "type": "sticker", "target": {"id": "1"}})
    line = expect_post(c, "[sticker: see https://www.facebook.com/", "#fb")
    assert "comment_id=" in line.params[1]
    com = meta.add_fb_comment("Ivan", "delete me please")
    ref = ref_of(expect_post(c, "delete me please", "#fb"))
    meta.comments.pop(com["id"])  # deleted on Facebook meanwhile
    c.say("#fb", "!re %s ok" % ref)
    n = expect_notice(c, "does not exist", timeout=15)
    assert "code 100" in n.params[-1]


def test_lost_answer_is_looked_for_not_sent_twice(parley_factory, meta):
    # Graph has no idempotency key: an answer lost after the comment was
    # made must not make a second comment.
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    com = meta.add_fb_comment("Uli", "will you answer once?")
    ref = ref_of(expect_post(c, "answer once", "#fb"))
    meta.fail(r"/comments$", method="POST", action="partial", cut=3, times=1)
    c.say("#fb", "!re %s exactly once" % ref)
    expect_post(c, "exactly once", "#fb", timeout=30)
    assert len(meta.posted) == 1, meta.posted
    looks = [r for r in meta.requests if r.method == "GET"
             and r.path.endswith("/%s/comments" % com["id"])]
    assert looks, "parley did not look before sending again"


def test_like_and_delete_on_a_page(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    com = meta.add_fb_comment("Vic", "spam spam spam")
    ref = ref_of(expect_post(c, "spam spam", "#fb"))
    c.say("#fb", "!fav %s" % ref)
    wait(meta, lambda: meta.likes, "no like")
    assert meta.likes[0] == ("POST", com["id"])
    # the network's own commands, listed by !help
    c.say("#fb", "!help")
    assert any("!hide REF" in l for l in c.bot_lines("#fb", seconds=1.5))
    c.say("#fb", "!hide %s" % ref)
    wait(meta, lambda: meta.hidden, "not hidden")
    c.say("#fb", "!unhide %s" % ref)
    wait(meta, lambda: len(meta.hidden) == 2, "not shown again")
    assert meta.hidden == [(com["id"], True), (com["id"], False)]
    expect_notice(c, "unhide [%s] done" % ref)
    c.say("#fb", "!delete %s" % ref)
    wait(meta, lambda: meta.deleted, "not deleted")
    assert meta.deleted == [com["id"]]


def test_instagram_has_no_like(parley_factory, meta):
    g2 = Gw(parley_factory, meta, [ig_conf(meta)], hook=False)
    c2 = g2.client(("#ig",))
    meta.add_ig_comment("wes", "like me")
    ref2 = ref_of(expect_post(c2, "like me", "#ig"))
    c2.say("#ig", "!fav %s" % ref2)
    n = c2.expect(lambda m: m.command in ("NOTICE", "PRIVMSG")
                  and m.nick == "parley" and "fav" in m.params[-1].lower(),
                  timeout=10)
    assert "not" in n.params[-1].lower() or "cannot" in n.params[-1].lower()


# ---- throttling ------------------------------------------------------------

def test_usage_header_slows_the_poller(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    meta.add_fb_comment("Jo", "first")
    expect_post(c, "first", "#fb")
    meta.set_usage(buc=97, regain=3)
    # the next round sees the header and holds reading
    time.sleep(6)
    n0 = len([r for r in meta.requests if "/feed" in r.path])
    time.sleep(7)
    n1 = len([r for r in meta.requests if "/feed" in r.path])
    assert n1 == n0, "parley kept polling at 97%% usage"
    c.say("&parley", "status")
    st = " ".join(c.bot_lines(seconds=1.5))
    assert "pages 97%" in st and "regain in 3 min" in st, st


def test_throttle_error_code_holds_and_retries_later(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], hook=False)
    c = g.client()
    meta.add_fb_comment("Kim", "question")
    ref = ref_of(expect_post(c, "question", "#fb"))
    meta.throttle(code=32, times=1, path="/comments", method="POST")
    n_before = len(meta.requests)
    c.say("#fb", "!re %s answer" % ref)
    time.sleep(3)
    posts = [r for r in meta.requests[n_before:] if r.method == "POST"]
    assert len(posts) == 1, "the throttled reply was retried at once"
    assert not meta.posted
    c.say("&parley", "status")
    st = " ".join(c.bot_lines(seconds=1.5))
    assert "code 32" in st and "s more" in st, st


# ---- webhooks --------------------------------------------------------------

def test_webhook_verification(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)])
    c = g.client()
    st = wait_signed_in(c)
    assert "webhook https://parley.example.org/hooks/facebook" in st, st
    ok = webhook_post(g.url("/hooks/facebook?hub.mode=subscribe&"
                            "hub.verify_token=%s&hub.challenge=1158201444"
                            % VERIFY), b"", method="GET")
    assert ok == (200, "1158201444")
    bad = webhook_post(g.url("/facebook?hub.mode=subscribe&hub.verify_token="
                             "wrong&hub.challenge=1"), b"", method="GET")
    assert bad[0] == 403
    assert webhook_post(g.url("/nothing-here"), b"{}")[0] == 404


def test_webhook_fb_comment_signed_and_bad_input(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], poll=3600)
    c = g.client()
    wait_signed_in(c)
    com = meta.add_fb_comment("Lena", "via webhook!")
    body = fb_comment_hook(meta, com)
    # unsigned and mis-signed: 403, nothing shown
    assert g.post("/facebook", body, secret=None)[0] == 403
    assert g.post("/facebook", body, signature="sha256=" + "0" * 64)[0] == 403
    assert g.post("/facebook", body,
                  signature=sign(b"other bytes", SECRET))[0] == 403
    # 1 MB is refused before anyone reads it
    assert g.post("/facebook", b"x" * (1024 * 1024))[0] == 413
    # a signed body that is not JSON: 400
    assert g.post("/facebook", b"not json")[0] == 400
    # an unknown object and a Page nobody has: 200, ignored
    assert g.post("/facebook", {"object": "whatsapp_business_account",
                                "entry": []})[0] == 200
    other = dict(body, entry=[dict(body["entry"][0], id="999")])
    assert g.post("/facebook", other)[0] == 200
    c.say("&parley", "status")
    st = " ".join(c.bot_lines(seconds=1.5))
    assert "1 entry for 999, not this account's Page" in st, st
    assert not [m for m in c.collect(1) if m.command == "PRIVMSG"
                and "via webhook" in m.params[-1]]
    # signed right: shown once, however often Meta sends it again
    status, text = g.post("/facebook", body)
    assert status == 200 and text == "EVENT_RECEIVED"
    line = expect_post(c, "via webhook!", "#fb")
    assert g.post("/facebook", body)[0] == 200
    assert not [m for m in c.collect(1.5) if "via webhook" in m.raw]
    # refusals were logged once, not once per request
    log = g.p.logtext()
    assert log.count("refused") == 1, log
    # the reply goes out and is found, not duplicated, after a lost answer
    c.say("#fb", "!re %s thanks" % ref_of(line))
    wait(meta, lambda: meta.posted, "no reply")


def test_webhook_batch_and_ig_mention_and_dms(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta), ig_conf(meta)], poll=3600)
    c = g.client(("#fb", "#ig"))
    wait_signed_in(c)
    wait_signed_in(c, "ig")
    c1 = meta.add_fb_comment("Mo", "batched one")
    c2 = meta.add_fb_comment("Ny", "batched two")
    b1, b2 = fb_comment_hook(meta, c1), fb_comment_hook(meta, c2)
    batch = {"object": "page", "entry": b1["entry"] + b2["entry"]}
    assert g.post("/facebook", batch)[0] == 200
    expect_post(c, "batched one", "#fb")
    expect_post(c, "batched two", "#fb")
    # an Instagram mention: ids only; parley fetches the comment
    ids = meta.add_ig_mention("olga.travels", "@parleyshop look at this")
    hook = {"object": "instagram", "entry": [{
        "id": meta.ig_id, "time": int(time.time()),
        "changes": [{"field": "mentions", "value": ids}]}]}
    assert g.post("/instagram", hook)[0] == 200
    line = expect_post(c, "look at this", "#ig")
    c.say("#ig", "!re %s hi Olga" % ref_of(line))
    wait(meta, lambda: meta.posted, "no mention reply")
    p = meta.posted[0]["params"]
    assert p["media_id"] == ids["media_id"]
    assert p["comment_id"] == ids["comment_id"]
    # Messenger DM by webhook, named by a profile lookup, answered
    d = meta.add_dm("Pia Webhook", "hello by webhook")
    assert g.post("/facebook", dm_hook(meta, d))[0] == 200
    q = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                 and "hello by webhook" in m.params[1], timeout=10)
    assert q.nick.lower().startswith("pia")
    c.say(q.nick, "hi Pia")
    wait(meta, lambda: meta.sent, "no DM")
    assert meta.sent[0]["recipient"] == d["sender"]
    # Instagram DM by webhook
    d2 = meta.add_dm("quinn.ig", "ig dm by webhook", platform="instagram")
    assert g.post("/instagram", dm_hook(meta, d2, "instagram",
                                        meta.ig_id))[0] == 200
    q2 = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                  and "ig dm by webhook" in m.params[1], timeout=10)
    c.say(q2.nick, "hi Quinn")
    wait(meta, lambda: len(meta.sent) == 2, "no IG DM")
    assert meta.sent[1]["platform"] == "instagram"


def test_webhook_while_store_fails_is_redelivered(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], poll=3600)
    c = g.client()
    wait_signed_in(c)
    com = meta.add_fb_comment("Rae", "stored later")
    body = fb_comment_hook(meta, com)
    db = sqlite3.connect(g.p.db, timeout=0.1, isolation_level=None)
    db.execute("BEGIN EXCLUSIVE")
    try:
        status, _ = g.post("/facebook", body)
        assert status == 503, status
    finally:
        db.execute("ROLLBACK")
        db.close()
    assert not [m for m in c.collect(1) if "stored later" in m.raw]
    assert g.post("/facebook", body)[0] == 200
    expect_post(c, "stored later", "#fb")


def test_restart_between_webhook_and_poll_shows_once(parley_factory, meta):
    g = Gw(parley_factory, meta, [fb_conf(meta)], poll=5)
    c = g.client()
    wait_signed_in(c)
    com = meta.add_fb_comment("Sam", "only once please")
    assert g.post("/facebook", fb_comment_hook(meta, com))[0] == 200
    first = ref_of(expect_post(c, "only once please", "#fb"))
    c.close()
    assert g.p.stop() == 0
    g.p.start()
    c = g.client()
    n0 = len([r for r in meta.requests if "/comments" in r.path])
    wait(meta, lambda: len([r for r in meta.requests
                            if "/comments" in r.path]) > n0,
         "parley did not poll after the restart")
    time.sleep(1)
    seen = [m for m in c.collect(2) if m.command == "PRIVMSG"
            and "only once please" in m.params[-1]]
    # at most the playback of the stored line, never a second post
    assert {ref_of(m) for m in seen} <= {first}, seen
    db = sqlite3.connect(g.p.db)
    n = db.execute("SELECT count(*) FROM posts WHERE network_id = ?",
                   (com["id"],)).fetchone()[0]
    db.close()
    assert n == 1


# ---- sign-in ---------------------------------------------------------------

def test_facebook_login_exchange(parley_factory, meta):
    p = parley_factory().start()
    c = p.client()
    c.welcome("me")
    c.say("&parley", "account add shop facebook page_id=%s app_id=%s "
          "app_secret=%s verify_token=%s base_url=%s/v25.0"
          % (meta.page_id, meta.app_id, SECRET, VERIFY, meta.base_url))
    c.expect(lambda m: m.command == "PRIVMSG" and "added" in m.params[1])
    c.say("&parley", "help account add")
    h = " ".join(c.bot_lines(seconds=1.5))
    assert "not a personal profile" in h and "professional" in h
    c.say("&parley", "account login shop")
    url = c.expect(lambda m: m.command == "PRIVMSG" and "dialog/oauth" in
                   m.params[1])
    for perm in ("pages_messaging", "pages_manage_engagement",
                 "pages_read_engagement"):
        assert perm in url.params[1]
    code = meta.issue_code("facebook")
    c.say("&parley", "account code shop %s#_=_" % code)
    expect_notice(c, "signed in as Parley Shop", timeout=15)
    meta.add_fb_comment("Tia", "after oauth")
    expect_post(c, "after oauth", "#shop", timeout=70)
    c.say("&parley", "account list")
    lines = " ".join(c.bot_lines())
    assert meta.page_token not in lines and SECRET not in lines
    assert VERIFY not in lines and "(hidden)" in lines
    assert meta.page_token not in p.logtext()


def test_instagram_login_exchange_and_refresh(parley_factory, meta):
    old = int(time.time()) - 30 * 86400
    conf = ("[account igl]\nnetwork = instagram\nlogin = instagram\n"
            "base_url = %s/v25.0\nauth_url = %s\nig_user_id = %s\n"
            "app_id = %s\napp_secret = %s\ntoken = %s\ntoken_time = %d\n"
            "poll_seconds = 5\n"
            % (meta.base_url, meta.base_url, meta.ig_id, meta.app_id, SECRET,
               meta.ig_token, old))
    p = parley_factory(conf_extra=conf).start()
    c = p.client()
    c.welcome("me")
    expect_notice(c, "refreshed the Instagram token", timeout=15)
    assert meta.refreshed == 1
    meta.add_ig_comment("uma", "after refresh")
    expect_post(c, "after refresh", "#igl")
    # a fresh sign-in with Instagram Login
    c.say("&parley", "account login igl")
    url = c.expect(lambda m: m.command == "PRIVMSG" and "instagram.com/oauth"
                   in m.params[1])
    assert "instagram_business_manage_messages" in url.params[1]
    code = meta.issue_code("instagram")
    c.say("&parley", "account code igl %s" % code)
    expect_notice(c, "signed in as parleyshop", timeout=15)
