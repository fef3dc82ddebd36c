"""LinkedIn end to end: a real ./parley, the mock LinkedIn API
(tests/mock_linkedin.py) and an IRC client, as a Page's community manager
would use them."""
import hashlib
import hmac
import http.client
import json
import os
import re
import signal
import socket
import sqlite3
import time
import urllib.request

import pytest

from mock_linkedin import MockLinkedIn, restli_encode

SERVER_TIME = ["server-time", "message-tags", "echo-message"]


@pytest.fixture
def li():
    m = MockLinkedIn().start()
    yield m
    m.stop()


def account_conf(m, name="li", token=True, extra=""):
    return ("[account %s]\nnetwork = linkedin\norganization = %s\n"
            "api_base = %s\noauth_base = %s\npoll_seconds = 5\n%s%s\n"
            % (name, m.org_urn, m.base_url, m.base_url,
               "token = %s\n" % (m.token if token is True else token)
               if token else "", extra))


def start(parley_factory, m, extra="", **kw):
    p = parley_factory(conf_extra=account_conf(m, extra=extra), **kw)
    p.start()
    return p


def connect(p, nick="me", caps=SERVER_TIME, channel="#li"):
    c = p.client()
    c.welcome(nick, caps=caps)
    c.expect(lambda m: m.command == "366" and m.params[1] == channel)
    return c


def expect_post(c, text, channel="#li", timeout=15):
    return c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == channel
                    and m.params[1].startswith("[") and text in m.params[1],
                    timeout=timeout,
                    what="a line with %r in %s" % (text, channel))


def expect_notice(c, text, timeout=15):
    return c.expect(lambda m: m.command == "NOTICE" and text in m.params[-1],
                    timeout=timeout, what="a notice with %r" % text)


def expect_control(c, text, timeout=15):
    return c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] ==
                    "&parley" and text in m.params[1], timeout=timeout,
                    what="a line in &parley with %r" % text)


def ref_of(msg):
    mo = re.match(r"\[([0-9a-z]+)\] ", msg.params[1])
    assert mo, msg
    return mo.group(1)


def status_line(c, account="li"):
    c.say("&parley", "status")
    line = expect_control(c, "%s (linkedin)" % account)
    return line.params[1]


def requests_to(m, pattern, method=None):
    return [r for r in list(m.requests) if re.search(pattern, r.path)
            and (method is None or r.method == method)]


def wait_signed_in(m, timeout=15):
    assert m.wait_for(lambda: requests_to(m, r"^/rest/organizations/"),
                      timeout=timeout), "parley never asked for the Page"


def test_comment_and_mention_arrive_from_their_authors(parley_factory, li):
    p = start(parley_factory, li)
    c = connect(p)
    com = li.add_comment("Jane Doe", "is the webinar recorded?")
    men = li.add_mention("John Roe", "what do you think of this?")
    line = expect_post(c, "is the webinar recorded?")
    assert line.prefix == "jane-doe!jane-doe@linkedin"
    assert line.tags["msgid"] == ref_of(line)
    assert line.tags["time"][:19] == time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(com["created"]["time"] / 1000))
    mention = expect_post(c, "what do you think of this?")
    assert mention.nick == "john-roe"
    # The Page's own name in front of the mention is dropped.
    assert "Parley Test Co" not in mention.params[1]
    assert ref_of(mention) != ref_of(line)
    c.send("WHOIS jane-doe")
    who = c.expect("311")
    assert who.params[-1] == "Jane Doe"
    extra = []
    while True:
        m = c.expect(lambda m: m.command in ("320", "318"))
        if m.command == "318":
            break
        extra.append(m.params[-1])
    assert any("profile: https://www.linkedin.com/in/jane-doe/" in e
               for e in extra), extra
    c.say("#li", "!open %s" % ref_of(mention))
    opened = expect_notice(c, "linkedin.com/feed/update/")
    assert restli_encode(men["share"]) in opened.params[-1]
    # Each person was named once, each post read once.
    assert len(requests_to(li, r"^/rest/people/")) == 2
    assert len(requests_to(li, r"^/rest/posts/")) == 1
    # Every request carried the version and the protocol.
    for r in li.requests:
        if r.path.startswith("/rest/"):
            assert re.match(r"^\d{6}$", r.headers["linkedin-version"])
            assert r.headers["x-restli-protocol-version"] == "2.0.0"


def test_reply_to_a_comment_is_nested_under_it(parley_factory, li):
    com = li.add_comment("Jane Doe", "can I get the slides?")
    p = start(parley_factory, li)
    c = connect(p)
    ref = ref_of(expect_post(c, "can I get the slides?"))
    c.say("#li", "jane-doe: here they are, @jane-doe https://example.org/s")
    assert li.wait_for(lambda: li.created, timeout=15)
    made = li.created[0]
    assert made["target"] == com["commentUrn"]
    assert made["parentComment"] == com["commentUrn"]
    assert made["object"] == li.admin_post["share"]
    assert made["actor"] == li.org_urn
    # The known @handle became her name, linked to her.
    assert made["message"]["text"] == \
        "here they are, Jane Doe https://example.org/s"
    assert made["message"]["attributes"] == [{
        "start": 15, "length": 8, "value": {
            "com.linkedin.common.MemberAttributedEntity": {
                "member": com["actor"]}}}]
    echo = expect_post(c, "here they are")
    assert echo.nick == "parley-test-co"
    expect_notice(c, "[%s] answered by me" % ref)
    # LinkedIn notifies the Page's own comment too (ADMIN_COMMENT): it is
    # not shown a second time.
    assert li.wait_for(lambda: len(requests_to(
        li, r"^/rest/socialActions/.*/comments/%s$" % made["id"])) >= 1,
        timeout=15)
    time.sleep(1)
    assert not [m for m in c.collect(1) if m.command == "PRIVMSG" and
                "here they are" in m.params[-1]]
    # A reply to her reply joins the same thread (LinkedIn nests once).
    nested = li.add_comment("Jane Doe", "thanks!", parent=com["commentUrn"])
    ref2 = ref_of(expect_post(c, "thanks!"))
    c.say("#li", "!re %s you are welcome" % ref2)
    assert li.wait_for(lambda: len(li.created) == 2, timeout=15)
    assert li.created[1]["parentComment"] == com["commentUrn"]
    assert nested["commentUrn"] != com["commentUrn"]


def test_comment_on_a_post_that_mentions_the_page(parley_factory, li):
    men = li.add_mention("John Roe", "shout-out to the team")
    p = start(parley_factory, li)
    c = connect(p)
    ref = ref_of(expect_post(c, "shout-out to the team"))
    c.say("#li", "!re %s thank you John" % ref)
    assert li.wait_for(lambda: li.created, timeout=15)
    made = li.created[0]
    assert made["target"] == men["share"]
    assert "parentComment" not in made
    assert made["object"] == men["share"]
    expect_post(c, "thank you John")


def test_like_unlike_and_delete_own_comment(parley_factory, li):
    com = li.add_comment("Jane Doe", "like me")
    p = start(parley_factory, li)
    c = connect(p)
    ref = ref_of(expect_post(c, "like me"))
    c.say("#li", "!fav %s" % ref)
    assert li.wait_for(lambda: [li.org_urn, com["commentUrn"]] in
                       li.reactions, timeout=15)
    c.say("#li", "!unfav %s" % ref)
    assert li.wait_for(lambda: not li.reactions, timeout=15)
    # Her comment is not the Page's to delete: refused at once.
    c.say("#li", "!delete %s" % ref)
    expect_notice(c, "only the Page's own comments can be deleted")
    c.say("#li", "jane-doe: noted")
    mine = ref_of(expect_post(c, "noted"))
    c.say("#li", "!delete %s" % mine)
    assert li.wait_for(lambda: li.deleted, timeout=15)
    assert li.deleted[0] == li.created[0]["commentUrn"]


def test_edits_and_deletes_show_as_notices(parley_factory, li):
    com = li.add_comment("Jane Doe", "grate work")
    p = start(parley_factory, li)
    c = connect(p)
    ref = ref_of(expect_post(c, "grate work"))
    li.edit_comment(com["commentUrn"], "great work")
    edit = expect_notice(c, "edited:")
    assert "[%s]" % ref in edit.params[-1]
    assert "great work" in edit.params[-1]
    assert edit.nick == "jane-doe"
    li.delete_comment(com["commentUrn"])
    gone = expect_notice(c, "was deleted by its author")
    assert "[%s]" % ref in gone.params[-1]


def test_restart_mid_window_loses_and_doubles_nothing(parley_factory, li):
    p = start(parley_factory, li)
    c = connect(p)
    wait_signed_in(li)
    first = li.add_comment("Ann One", "comment one")
    second = li.add_comment("Bob Two", "comment two")
    li.add_comment("Cy Three", "comment three")
    # The second comment cannot be read: the window stops there.
    li.fail(r"/comments/%s$" % second["id"], action="hang")
    shown = [expect_post(c, "comment one").params[1]]
    assert li.wait_for(lambda: requests_to(li, r"/comments/%s$"
                                           % second["id"]), timeout=15)
    shown += [m.params[1] for m in c.collect(0.5) if m.command == "PRIVMSG"
              and m.params[0] == "#li" and "comment " in m.params[1]]
    assert p.stop() == 0
    li.clear_failures()
    p.start()
    # The same person again: what they saw is not played back.
    c2 = connect(p)
    deadline = time.time() + 20
    while time.time() < deadline and len(shown) < 3:
        shown += [m.params[1] for m in c2.collect(1) if m.command ==
                  "PRIVMSG" and m.params[0] == "#li" and "comment " in
                  m.params[1]]
    texts = sorted(re.sub(r"^\[\w+\] ", "", s) for s in shown)
    # Played back or new, each exactly once.
    assert texts == ["comment one", "comment three", "comment two"], shown
    # The first comment was not even read again: its notification is
    # remembered in the stored window.
    assert len(requests_to(li, r"/comments/%s$" % first["id"])) == 1
    db = sqlite3.connect(os.path.join(p.state, "parley.db"))
    try:
        rows = db.execute("select network_id from posts where account = "
                          "'li' and kind = 'reply'").fetchall()
    finally:
        db.close()
    assert len(rows) == len(set(rows)) == 3


def test_429_holds_the_family_and_probes(parley_factory, li):
    notes = r"^/rest/organizationalEntityNotifications"
    li.fail(notes, status=429, times=1)
    p = start(parley_factory, li)
    c = connect(p)
    assert li.wait_for(lambda: requests_to(li, notes), timeout=15)
    time.sleep(0.3)
    line = status_line(c)
    assert "held: notes: 429 (LinkedIn names no reset)" in line, line
    assert "LinkedIn publishes no rate-limit headers" in line
    # Reading comments is another family: not held.
    assert "read:" not in line.split("held:")[1].split(";")[0]
    # The probe comes after a poll interval, as a new poll, and reads all.
    li.add_comment("Jane Doe", "after the limit")
    expect_post(c, "after the limit", timeout=20)
    assert len(requests_to(li, notes)) == 2
    # A daily limit holds until 00:00 UTC, and says so; the like waits.
    com = li.add_comment("Jane Doe", "like later")
    ref = ref_of(expect_post(c, "like later"))
    li.set_quota("reactions", 0)
    c.say("#li", "!fav %s" % ref)
    expect_notice(c, "delayed")
    line = status_line(c)
    assert "write: 429 (LinkedIn names no reset): next probe 00:00 UTC" \
        in line, line
    assert [li.org_urn, com["commentUrn"]] not in li.reactions
    c.say("&parley", "outbox")
    out = expect_control(c, "pending fav on li")
    assert "next try in" in out.params[1]


def test_expired_token_says_so_and_waits(parley_factory, li):
    com = li.add_comment("Jane Doe", "before expiry")
    p = start(parley_factory, li)
    c = connect(p)
    ref = ref_of(expect_post(c, "before expiry"))
    li.expire_token()
    note = expect_control(c, "LinkedIn refused the token", timeout=20)
    assert "expired" in note.params[1] and "account login li" in note.params[1]
    before = len(li.requests)
    c.say("#li", "!re %s still there?" % ref)
    expect_notice(c, "not signed in")
    time.sleep(6)
    assert len(li.requests) - before <= 1, "no retries after a 401"
    assert "signed out" in status_line(c)
    assert not li.created
    # A new token: what waited is sent.
    fresh = li.add_token()
    p.write_conf(conf_extra=account_conf(li, token=fresh))
    p.signal(signal.SIGHUP)
    assert li.wait_for(lambda: li.created, timeout=20)
    assert li.created[0]["parentComment"] == com["commentUrn"]


def test_sunset_version_is_named_and_stops_everything(parley_factory, li):
    p = start(parley_factory, li)
    c = connect(p)
    wait_signed_in(li)
    sent = li.requests[0].headers["linkedin-version"]
    li.sunset(sent)
    note = expect_control(c, "refuses API version %s" % sent, timeout=20)
    assert "newer Parley" in note.params[1]
    assert "NONEXISTENT_VERSION" in note.params[1]
    before = len(li.requests)
    time.sleep(6)
    assert len(li.requests) == before, "no polling with a refused version"
    assert "refuses API version" in status_line(c)


def test_dm_is_refused_with_the_reason(parley_factory, li):
    li.add_comment("Jane Doe", "hello there")
    p = start(parley_factory, li)
    c = connect(p)
    expect_post(c, "hello there")
    c.say("#li", "!dm jane-doe hi in private")
    note = expect_notice(c, "linkedin cannot dm")
    assert "no public API for messages" in note.params[-1]
    c.say("jane-doe", "hi in private")
    note = expect_notice(c, "linkedin cannot dm")
    assert "no public API for messages" in note.params[-1]
    c.say("&parley", "help account add")
    helped = expect_control(c, "linkedin: ")
    assert "no public API for messages" in helped.params[1]
    assert not li.created
    c.say("#li", "!post a new Page post")
    expect_notice(c, "linkedin cannot post")


def test_sign_in_with_oauth_and_expiry_warning(parley_factory, li):
    p = parley_factory().start()
    c = p.client()
    c.welcome("me")
    li.set_token_lifetime(3 * 86400)
    c.say("&parley", "account add li linkedin organization=%s client_id=%s "
          "client_secret=%s redirect_uri=%s api_base=%s oauth_base=%s "
          "poll_seconds=5" % (li.org_urn, li.client_id, li.client_secret,
                              li.redirect_uris[0], li.base_url, li.base_url))
    expect_control(c, "account li added")
    expect_control(c, "not signed in")
    c.say("&parley", "account login li")
    url = expect_control(c, "/oauth/v2/authorization?").params[1]
    url = url[url.index("http"):]
    assert "scope=rw_organization_admin%20r_organization_social_feed%20" \
        "w_organization_social_feed" in url
    # The browser: LinkedIn sends it on to the redirect_uri with a code.
    req = urllib.request.Request(url)

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *a, **kw):
            return None
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(req, timeout=10)
        assert False, "no redirect"
    except urllib.error.HTTPError as e:
        assert e.code == 302
        back = e.headers["Location"]
    assert back.startswith(li.redirect_uris[0] + "?code=")
    c.say("&parley", "account code li %s" % back)
    signed = expect_control(c, "signed in; the sign-in lasts until")
    day = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 3 * 86400))
    assert day in signed.params[1]
    expect_control(c, "signed in as the Page Parley Test Co")
    warn = expect_control(c, "the LinkedIn sign-in ends on %s (in 3 days)"
                          % day, timeout=20)
    assert "account login li" in warn.params[1]
    assert "sign-in valid until %s: sign in again before then" % day in \
        status_line(c)
    c.say("&parley", "account list")
    listed = expect_control(c, "li: linkedin")
    assert "token_expires=(hidden)" in listed.params[1]
    for t in li.tokens:
        assert t not in p.logtext() and t not in listed.params[1]
    li.add_comment("Jane Doe", "after signing in")
    expect_post(c, "after signing in")
    # Once a day: a restart the same day does not say it again.
    assert p.stop() == 0
    p.start()
    c = p.client()
    c.welcome("me")
    time.sleep(3)
    said = [m.params[1] for m in c.collect(2) if m.command == "PRIVMSG"
            and "sign-in ends on" in m.params[1]]
    assert len(said) <= 1, said   # the first run's line, played back


def test_maybe_sent_reply_is_looked_for_not_doubled(parley_factory, li):
    com = li.add_comment("Jane Doe", "one answer please")
    p = start(parley_factory, li)
    c = connect(p)
    ref = ref_of(expect_post(c, "one answer please"))
    # Made, but the answer is cut: Parley cannot know; it looks first.
    li.fail(r"/rest/socialActions/.*/comments$", action="partial", cut=5,
            times=1, method="POST")
    c.say("#li", "!re %s just one" % ref)
    expect_post(c, "just one", timeout=30)
    assert len(li.created) == 1
    looks = requests_to(li, r"/rest/socialActions/.*/comments$", "GET")
    assert looks, "it looked before sending again"
    assert len(requests_to(li, r"/rest/socialActions/.*/comments$",
                           "POST")) == 1
    # A 502 before LinkedIn made it: looked for, not found, sent once.
    li.fail(r"/rest/socialActions/.*/comments$", status=502, times=1,
            method="POST")
    c.say("#li", "!re %s second answer" % ref)
    expect_post(c, "second answer", timeout=30)
    assert [x["message"]["text"] for x in li.created] == \
        ["just one", "second answer"]
    assert all(x["parentComment"] == com["commentUrn"] for x in li.created)


def test_hostile_notifications_and_text(parley_factory, li):
    li.add_notification({"notificationId": "not a number",
                         "action": "COMMENT"})
    li.add_notification({"notificationId": 1, "action": "COMMENT",
                         "generatedActivity": "urn:li:comment:(garbage",
                         "lastModifiedAt": int(time.time() * 1000)})
    li.add_notification({"notificationId": 2, "action": "LIKE",
                         "lastModifiedAt": int(time.time() * 1000)})
    li.add_comment("Eve Vil", "hi\r\nPRIVMSG #li :pwned\r\n\x03" "4red\x02")
    li.add_comment("Jane Doe", "end marker")
    p = start(parley_factory, li)
    c = connect(p)
    expect_post(c, "end marker", timeout=20)
    lines = c.lines
    assert not any(m.command == "PRIVMSG" and m.params[-1] == "pwned"
                   for m in lines)
    for m in lines:
        assert "\r" not in m.raw and "\x03" not in m.raw
    expect_control(c, "could not be read and were skipped", timeout=20)
    assert p.alive()


# ---- webhooks --------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Hooked(object):
    """parley with a [webhook] listener and one LinkedIn account (more with
    names) signed with the mock app's client secret."""

    def __init__(self, factory, m, names=("li",), poll=3600):
        self.port = free_port()
        conf = ("[webhook]\nlisten = 127.0.0.1:%d\n"
                "public_url = https://parley.example.org/hooks\n\n"
                % self.port)
        for name in names:
            conf += account_conf(
                m, name=name, extra="client_secret = %s\n"
                % m.client_secret).replace(
                    "poll_seconds = 5\n",
                    "poll_seconds = %d\n" % poll if poll else "")
        self.p = factory(conf_extra=conf)
        self.p.start()

    def send(self, path, body=b"", signature=None, method="POST"):
        """(status, text) of a request to the listener as LinkedIn sends
        it: X-LI-Signature when signature is given."""
        if isinstance(body, str):
            body = body.encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-LI-Signature"] = signature
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body if method == "POST" else
                         None, headers=headers)
            r = conn.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            conn.close()

    def deliver(self, m, ids=None, path="/linkedin"):
        d = m.webhook_delivery(ids)
        return self.send(path, d["body"], d["signature"])


def polled(m):
    return len(requests_to(m, r"^/rest/organizationalEntityNotifications"))


def hooked_and_polled(m, c, h):
    """Signed in, the webhook registered and the first poll done: what is
    added from now on arrives by webhook only (poll_seconds 3600)."""
    wait_signed_in(m)
    assert m.wait_for(lambda: polled(m) >= 1, timeout=15), "no first poll"
    time.sleep(0.5)


def test_webhook_validation_and_status(parley_factory, li):
    h = Hooked(parley_factory, li)
    c = connect(h.p)
    hooked_and_polled(li, c, h)
    st = status_line(c)
    assert "webhook https://parley.example.org/hooks/linkedin" in st, st
    assert "webhook+polling" in st, st
    code = "4b3c7e8a-1f2d-4c5b-9a6e-0d1c2b3a4f5e"
    status, text = h.send("/hooks/linkedin?challengeCode=%s" % code,
                          method="GET")
    assert status == 200
    assert json.loads(text) == li.challenge(code)
    # Without the public_url's prefix too, as a proxy may strip it.
    status, text = h.send("/linkedin?challengeCode=abc", method="GET")
    assert (status, json.loads(text)) == (200, li.challenge("abc"))
    # Nothing to answer: not taken, 403; another path: 404.
    assert h.send("/linkedin", method="GET")[0] == 403
    assert h.send("/linkedin-other?challengeCode=a", method="GET")[0] == 404


def test_webhook_comment_needs_the_signature_and_is_answered(parley_factory,
                                                             li):
    h = Hooked(parley_factory, li)
    c = connect(h.p)
    hooked_and_polled(li, c, h)
    com = li.add_comment("Jane Doe", "pushed to you")
    d = li.webhook_delivery()
    # Unsigned, signed with another secret, signed over other bytes: 403
    # and nothing read or shown.
    assert h.send("/linkedin", d["body"])[0] == 403
    assert h.send("/linkedin", d["body"], "0" * 64)[0] == 403
    assert h.send("/linkedin", d["body"] + " ", d["signature"])[0] == 403
    assert not [m for m in c.collect(1.5) if m.command == "PRIVMSG"
                and "pushed to you" in m.params[-1]]
    assert not requests_to(li, r"/comments/%s$" % com["id"])
    # Signed right: 200 once stored, and the line is there with its ref.
    status, _ = h.send("/linkedin", d["body"], d["signature"].upper())
    assert status == 200
    line = expect_post(c, "pushed to you")
    assert line.prefix == "jane-doe!jane-doe@linkedin"
    ref = ref_of(line)
    # LinkedIn sends it again: 200, not shown again.
    assert h.deliver(li)[0] == 200
    assert not [m for m in c.collect(1.5) if m.command == "PRIVMSG"
                and "pushed to you" in m.params[-1]]
    # The answer reaches LinkedIn, nested under her comment.
    c.say("#li", "!re %s thanks for asking" % ref)
    assert li.wait_for(lambda: li.created, timeout=15)
    assert li.created[0]["parentComment"] == com["commentUrn"]
    assert li.created[0]["message"]["text"] == "thanks for asking"
    # A signed body that is not a notification: 400.
    bad = '{"type": "LEAD_ACTION", "notifications": []}'
    sig = hmac.new(li.client_secret.encode(), b"hmacsha256=" + bad.encode(),
                   hashlib.sha256).hexdigest()
    assert h.send("/linkedin", bad, sig)[0] == 400


def test_webhook_then_poll_show_once(parley_factory, li):
    h = Hooked(parley_factory, li, poll=6)
    c = connect(h.p)
    hooked_and_polled(li, c, h)
    com = li.add_comment("Ann One", "by both ways")
    assert h.deliver(li)[0] == 200
    first = ref_of(expect_post(c, "by both ways"))
    # The next poll brings the same notification: not read, not shown.
    n0 = polled(li)
    assert li.wait_for(lambda: polled(li) > n0, timeout=20), "no poll"
    time.sleep(1)
    assert not [m for m in c.collect(1.5) if m.command == "PRIVMSG"
                and "by both ways" in m.params[-1]]
    assert len(requests_to(li, r"/comments/%s$" % com["id"])) == 1
    # And the other way: polled first, pushed late, shown once.
    com2 = li.add_comment("Bob Two", "polled first")
    second = ref_of(expect_post(c, "polled first", timeout=20))
    assert h.deliver(li)[0] == 200
    assert not [m for m in c.collect(1.5) if m.command == "PRIVMSG"
                and ("polled first" in m.params[-1]
                     or "by both ways" in m.params[-1])]
    assert len(requests_to(li, r"/comments/%s$" % com2["id"])) == 1
    assert first != second
    db = sqlite3.connect(os.path.join(h.p.state, "parley.db"))
    try:
        rows = db.execute("select network_id from posts where account = "
                          "'li' and kind = 'reply'").fetchall()
    finally:
        db.close()
    assert len(rows) == len(set(rows)) == 2


def test_webhook_waits_for_the_store_and_the_read(parley_factory, li):
    h = Hooked(parley_factory, li)
    c = connect(h.p)
    hooked_and_polled(li, c, h)
    com = li.add_comment("Rae Late", "read it later")
    # The comment cannot be read: no 200 until it can, and a 503 when the
    # run gives up, so that LinkedIn sends it again.
    li.fail(r"/comments/%s$" % com["id"], status=500)
    status, _ = h.deliver(li)
    assert status == 503, status
    assert not [m for m in c.collect(1) if "read it later" in m.raw]
    li.clear_failures()
    assert h.deliver(li)[0] == 200
    expect_post(c, "read it later")


def test_several_accounts_have_a_path_each(parley_factory, li):
    h = Hooked(parley_factory, li, names=("li", "li2"))
    c = h.p.client()
    c.welcome("me", caps=SERVER_TIME)
    wait_signed_in(li)
    url = "webhook https://parley.example.org/hooks/linkedin/"
    deadline = time.time() + 20
    st = ""
    # Until both have signed in (each registers its path then).
    while time.time() < deadline and not (url + "li;" in st
                                          and url + "li2;" in st):
        c.say("&parley", "status")
        st = " ".join(c.bot_lines(seconds=0.5))
    assert url + "li;" in st and url + "li2;" in st, st
    status, text = h.send("/linkedin/li2?challengeCode=x", method="GET")
    assert (status, json.loads(text)) == (200, li.challenge("x"))
    assert h.send("/linkedin?challengeCode=x", method="GET")[0] == 404
