"""Mastodon end to end: a real ./parley, the mock Mastodon server and an IRC
client, as a user would use them."""
import os
import re
import sqlite3
import time

from mock_mastodon import MockMastodon

SERVER_TIME = ["server-time", "message-tags", "echo-message"]


def account_conf(mock, name="masto", extra=""):
    return ("[account %s]\nnetwork = mastodon\nbase_url = %s\ntoken = %s\n%s\n"
            % (name, mock.base_url, mock.token, extra))


def start(parley_factory, mock, extra="", **kw):
    p = parley_factory(conf_extra=account_conf(mock, extra=extra), **kw)
    p.start()
    return p


def connect(p, nick="me", caps=SERVER_TIME):
    c = p.client()
    c.welcome(nick, caps=caps)
    c.expect(lambda m: m.command == "366" and m.params[1] == "#masto")
    return c


def wait_stream(mock, n=1):
    assert mock.wait_for(lambda: mock.stream_count() >= n, timeout=10), \
        "parley did not open the stream"


def channel_posts(c, seconds=1.0, channel="#masto"):
    return [m for m in c.collect(seconds)
            if m.command == "PRIVMSG" and m.params[0] == channel]


def expect_post(c, text, channel="#masto", timeout=10):
    """A post shown by the gateway (with its [ref]), not a user's own line."""
    return c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == channel
                    and m.params[1].startswith("[") and text in m.params[1],
                    timeout=timeout,
                    what="a line with %r in %s" % (text, channel))


def ref_of(msg):
    m = re.match(r"\[([0-9a-z]+)\] ", msg.params[1])
    assert m, msg
    return m.group(1)


def wait_posted(mock, n=1, timeout=15):
    assert mock.wait_for(lambda: len(mock.posted) >= n, timeout=timeout), \
        "the network did not receive a post (posted=%r)" % mock.posted
    return mock.posted[n - 1]


def test_mention_arrives_with_ref_nick_and_time(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    n = mock.add_mention("alice@example.social", "loved the talk, slides?",
                         display_name="Alice")
    line = expect_post(c, "loved the talk, slides?")
    assert line.nick == "alice"
    assert line.prefix == "alice!alice@example.social"
    ref = ref_of(line)
    assert line.tags.get("msgid") == ref
    assert line.tags["time"][:19] == n["status"]["created_at"][:19]
    c.send("WHOIS alice")
    whois = [c.expect("311")]
    assert whois[0].params[-1] == "Alice"
    extra = c.expect(lambda m: m.command == "320")
    assert "alice@example.social" in extra.params[-1]


def test_dm_arrives_as_query_and_reply_stays_direct(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    n = mock.add_dm("bob@other.example", "psst, a secret")
    q = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me"
                 and "psst" in m.params[1])
    assert q.nick == "bob"
    c.say("bob", "got it")
    post = wait_posted(mock)
    assert post["params"]["visibility"] == "direct"
    assert post["params"]["in_reply_to_id"] == n["status"]["id"]
    assert "@bob@other.example" in post["params"]["status"]
    assert "got it" in post["params"]["status"]
    assert post["idempotency_key"]


def test_reply_forms(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    n1 = mock.add_mention("alice@example.social", "first question",
                          mentions=["carol@third.example"])
    r1 = ref_of(expect_post(c, "first question"))
    # nick: text
    c.say("#masto", "alice: answer one")
    post = wait_posted(mock, 1)
    assert post["params"]["in_reply_to_id"] == n1["status"]["id"]
    text = post["params"]["status"]
    assert text.startswith("@alice@example.social ")
    assert "@carol@third.example" in text and "answer one" in text
    assert post["params"].get("visibility", "public") == "public"
    # !re REF text
    n2 = mock.add_mention("dave@example.social", "second question",
                          visibility="unlisted")
    r2 = ref_of(expect_post(c, "second question"))
    c.say("#masto", "!re %s answer two" % r2)
    post = wait_posted(mock, 2)
    assert post["params"]["in_reply_to_id"] == n2["status"]["id"]
    assert post["params"]["visibility"] == "unlisted", "never widened"
    # +draft/reply tag
    c.send("@+draft/reply=%s PRIVMSG #masto :answer three" % r1)
    post = wait_posted(mock, 3)
    assert post["params"]["in_reply_to_id"] == n1["status"]["id"]
    assert "answer three" in post["params"]["status"]
    # The accepted reply is echoed with its own ref, and the inbox knows.
    echo = expect_post(c, "answer three")
    assert ref_of(echo) not in (r1, r2)
    c.say("#masto", "!pending")
    notes = [m.params[1] for m in c.collect(1.5) if m.command == "NOTICE"]
    assert not any(("[%s]" % r1) in n and "question" in n for n in notes
                   if "open" in n or "mention" in n), notes


def test_content_warning_kept_on_reply(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.add_mention("alice@example.social", "spoilers inside",
                     spoiler_text="film ending")
    line = expect_post(c, "spoilers inside")
    assert "[CW: film ending]" in line.params[1]
    c.say("#masto", "!re %s no spoilers from me" % ref_of(line))
    post = wait_posted(mock)
    assert post["params"]["spoiler_text"] == "film ending"


def test_actions(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    n = mock.add_mention("alice@example.social", "act on me")
    ref = ref_of(expect_post(c, "act on me"))
    sid = n["status"]["id"]
    c.say("#masto", "!fav " + ref)
    assert mock.wait_for(lambda: sid in mock.favourited)
    c.say("#masto", "!unfav " + ref)
    assert mock.wait_for(lambda: sid not in mock.favourited)
    c.say("#masto", "!boost " + ref)
    assert mock.wait_for(lambda: sid in mock.reblogged)
    c.say("#masto", "!unboost " + ref)
    assert mock.wait_for(lambda: sid not in mock.reblogged)
    c.say("#masto", "!follow alice@example.social")
    alice_id = n["account"]["id"]
    assert mock.wait_for(lambda: alice_id in mock.followed)
    c.say("#masto", "!unfollow alice")
    assert mock.wait_for(lambda: alice_id not in mock.followed)
    c.say("#masto", "!who alice")
    who = c.expect(lambda m: m.command == "NOTICE" and "alice@example.social"
                   in m.params[1])
    assert who
    # The follow and unfollow confirmations name alice too and may arrive
    # after the mock saw the change: wait for the last line of !who (its
    # profile address would otherwise be taken for !open's below).
    c.expect(lambda m: m.command == "NOTICE" and " followers, " in
             m.params[1])
    c.say("#masto", "!thread " + ref)
    thread = c.expect(lambda m: m.command == "NOTICE" and "act on me"
                      in m.params[1])
    # The thread shows refs and nicks, as the channel does, not handles.
    assert thread.params[1].startswith("[%s] alice: " % ref), thread.params[1]
    c.say("#masto", "!open " + ref)
    url = c.expect(lambda m: m.command == "NOTICE" and "http" in m.params[1])
    assert n["status"]["url"] in url.params[1]
    # !cw then !post, then !undo deletes it.
    c.say("#masto", "!cw birds")
    c.say("#masto", "!post a new post")
    post = wait_posted(mock)
    assert post["params"]["spoiler_text"] == "birds"
    assert post["params"].get("in_reply_to_id") in (None, "")
    created = post["status"]["id"]
    expect_post(c, "a new post")
    # The stream may show the post a moment before the POST's answer
    # arrives; !undo knows the post once that answer is in.
    time.sleep(0.5)
    c.say("#masto", "!undo")
    assert mock.wait_for(lambda: created in mock.deleted, timeout=10)


def test_too_long_is_refused_with_count(parley_factory):
    mock = MockMastodon(max_characters=50).start()
    try:
        p = start(parley_factory, mock)
        c = connect(p)
        wait_stream(mock)
        c.say("#masto", "!post " + "x" * 60)
        note = c.expect(lambda m: m.command == "NOTICE" and "too long" in
                        m.params[1], timeout=10)
        assert "60" in note.params[1] and "50" in note.params[1]
        c.say("#masto", "!post see https://example.org/" + "p" * 100)
        wait_posted(mock, 1)  # a URL counts as 23, whatever its length
    finally:
        mock.stop()


def test_notices_for_fav_boost_follow_edit_delete(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    c.say("#masto", "!post my own words")
    post = wait_posted(mock)
    expect_post(c, "my own words")
    sid = post["status"]["id"]
    mock.add_favourite(sid, "fan@example.social")
    fav = c.expect(lambda m: m.command == "NOTICE" and "favourited" in
                   m.params[-1])
    assert fav.nick == "fan"
    mock.add_reblog(sid, "booster@example.social")
    c.expect(lambda m: m.command == "NOTICE" and "boosted" in m.params[-1])
    mock.add_follow("newfan@example.social")
    c.expect(lambda m: m.command == "NOTICE" and "followed you" in
             m.params[-1])
    n = mock.add_mention("alice@example.social", "tpyo here")
    ref = ref_of(expect_post(c, "tpyo here"))
    mock.edit_status(n["status"]["id"], "typo here")
    edit = c.expect(lambda m: m.command == "NOTICE" and "edited" in
                    m.params[-1])
    assert ("[%s]" % ref) in edit.params[-1] and "typo here" in edit.params[-1]
    mock.delete_status(n["status"]["id"])
    gone = c.expect(lambda m: m.command == "NOTICE" and "deleted" in
                    m.params[-1])
    assert ("[%s]" % ref) in gone.params[-1]


def test_oauth_flow(parley_factory, mock):
    p = parley_factory().start()
    c = p.client()
    c.welcome("me")
    c.say("&parley", "account add social mastodon base_url=%s" % mock.base_url)
    c.expect(lambda m: m.command == "PRIVMSG" and "added" in m.params[1])
    c.say("&parley", "account login social")
    url = c.expect(lambda m: m.command == "PRIVMSG" and "/oauth/authorize?"
                   in m.params[1])
    assert "urn" in url.params[1] and "client_id=" in url.params[1]
    assert mock.apps, "an app was registered"
    app = list(mock.apps.values())[0]
    assert "urn:ietf:wg:oauth:2.0:oob" in str(app)
    code = mock.issue_code()
    c.say("&parley", "account code social %s" % code)
    c.expect(lambda m: m.command == "PRIVMSG" and "signed in" in m.params[1],
             timeout=15)
    wait_stream(mock)
    mock.add_mention("alice@example.social", "hello via oauth")
    expect_post(c, "hello via oauth", channel="#social")
    c.say("&parley", "account list")
    lines = c.bot_lines()
    tokens = [t for t in mock.tokens if t != mock.token]
    assert tokens and not any(tokens[0] in l for l in lines)
    assert tokens[0] not in p.logtext()


def test_revoked_token_says_so(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.revoke()
    note = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] ==
                    "&parley" and "401" in m.params[1], timeout=20)
    assert "login" in note.params[1]
    before = len(mock.requests)
    time.sleep(3)
    assert len(mock.requests) - before <= 2, "no retry storm after a 401"


def test_stream_cut_mid_burst_loses_nothing(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.add_mentions(20, text="burst one {i}")
    mock.drop_streams()
    # While the stream is down these exist only in REST.
    for i in range(20):
        mock.add_mention("late%d@example.social" % i, "burst two %d" % i,
                         stream=False)
    seen = []
    deadline = time.time() + 30
    while len(seen) < 40 and time.time() < deadline:
        seen += [m.params[1] for m in channel_posts(c, 0.5)]
    texts = [re.search(r"burst (one|two) \d+", s).group(0) for s in seen]
    want = ["burst one %d" % i for i in range(20)] + \
        ["burst two %d" % i for i in range(20)]
    assert sorted(texts) == sorted(want), "every mention exactly once"
    assert mock.wait_for(lambda: mock.stream_connects >= 2, timeout=10), \
        "the stream was opened again"



def test_kill9_during_burst_loses_nothing(parley_factory, mock):
    p = start(parley_factory, mock)
    connect(p)
    wait_stream(mock)
    mock.add_mentions(300, text="k9 {i}")
    time.sleep(0.05)
    p.kill9()
    for i in range(30):
        mock.add_mention("after%d@example.social" % i, "k9 after %d" % i,
                         stream=False)
    p.start()
    wait_stream(mock, 1)
    db = os.path.join(p.state, "parley.db")

    def stored():
        con = sqlite3.connect(db)
        try:
            rows = con.execute("select network_id from posts where "
                               "kind = 'mention'").fetchall()
        finally:
            con.close()
        return [r[0] for r in rows]

    assert mock.wait_for(lambda: len(stored()) >= 330, timeout=30)
    ids = stored()
    assert len(ids) == len(set(ids)) == 330
    want = {n["status"]["id"] for n in mock.notifications
            if n["type"] == "mention"}
    assert set(ids) == want


def test_reply_during_503_is_posted_once(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    n = mock.add_mention("alice@example.social", "are you there?")
    ref = ref_of(expect_post(c, "are you there?"))
    mock.fail(r"^/api/v1/statuses$", status=503, seconds=30, method="POST")
    c.say("#masto", "!re %s yes, despite the outage" % ref)
    delayed = c.expect(lambda m: m.command == "NOTICE" and "delayed" in
                       m.params[-1], timeout=10)
    assert delayed
    post = wait_posted(mock, 1, timeout=90)
    assert post["params"]["in_reply_to_id"] == n["status"]["id"]
    time.sleep(2)
    assert len(mock.posted) == 1, "posted exactly once"
    attempts = [r for r in mock.requests if r.method == "POST" and
                r.path == "/api/v1/statuses"]
    assert len(attempts) >= 2
    keys = {r.headers.get("idempotency-key") for r in attempts}
    assert len(keys) == 1, "the same idempotency key on every attempt"


def test_429_retry_after_is_honoured(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.fail(r"^/api/v1/statuses$", status=429, times=1, retry_after=4,
              method="POST")
    t0 = time.time()
    c.say("#masto", "!post after the limit")
    wait_posted(mock, 1, timeout=30)
    attempts = [r for r in mock.requests if r.method == "POST" and
                r.path == "/api/v1/statuses"]
    assert len(attempts) == 2
    assert time.time() - t0 >= 3.5, "waited for Retry-After"


def test_429_on_posting_does_not_hold_reading(parley_factory, mock):
    """Holds are per family of endpoints: a 429 on posting keeps the post
    waiting, not the mentions that arrive meanwhile (fetched by REST while
    the stream is down)."""
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.fail(r"^/api/v1/statuses$", status=429, retry_after=120,
              method="POST")
    c.say("#masto", "!post held back")
    assert mock.wait_for(lambda: any(
        r.method == "POST" and r.path == "/api/v1/statuses"
        for r in mock.requests), timeout=10)
    mock.set_streaming(False)
    mock.drop_streams()
    mock.add_mention("alice@example.social", "while the stream was down",
                     stream=False)
    expect_post(c, "while the stream was down", timeout=15)
    c.say("&parley", "status")
    acc = [l for l in c.bot_lines(seconds=1.5)
           if l.startswith("masto (mastodon)")]
    assert acc and "s more" in acc[0], acc
    assert not mock.posted, "the post waits for the limit"


def test_restart_with_rest_budget_spent_still_streams(parley_factory,
                                                     mock):
    """With the REST budget spent, a restart still opens the stream (it
    costs nothing) and mentions arrive; REST catches up, and the outbox
    goes, when the window resets."""
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.add_mention("alice@example.social", "before the restart")
    expect_post(c, "before the restart")
    p.stop()
    assert mock.wait_for(lambda: mock.stream_count() == 0, timeout=10)
    reset_at = time.time() + 8
    mock.set_ratelimit(0, time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                                        time.gmtime(reset_at)))
    p.start()
    c = connect(p)
    assert mock.wait_for(lambda: mock.stream_count() >= 1, timeout=4), \
        "the stream waited for the REST window"
    mock.add_mention("bob@example.social", "while the budget is spent")
    expect_post(c, "while the budget is spent", timeout=4)
    assert time.time() < reset_at
    c.say("&parley", "status")
    acc = [l for l in c.bot_lines(seconds=1)
           if l.startswith("masto (mastodon)")]
    assert acc and "streaming" in acc[0], acc
    # Only REST knows this one; and a reply waits for the window.
    mock.add_mention("carol@example.social", "only by rest", stream=False)
    c.say("#masto", "bob: thanks")
    expect_post(c, "only by rest", timeout=20)
    wait_posted(mock, 1, timeout=20)
    assert time.time() >= reset_at - 1


def test_outbox_goes_as_soon_as_the_network_answers_again(parley_factory,
                                                          mock):
    """A reply that failed a few times during an outage goes as soon as
    any request to the network succeeds again, not after its own grown
    back-off."""
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    rule = mock.fail(r"^/api/v1/statuses$", status=503, times=3,
                     method="POST")
    c.say("#masto", "!post queued in the outage")
    # Three attempts fail (the back-off grows: 2, 4, 8 s ...).
    assert mock.wait_for(lambda: rule["hits"] >= 3, timeout=15)
    t_back = time.time()
    mock.add_account("alice@example.social")
    c.say("#masto", "!who alice@example.social")
    wait_posted(mock, 1, timeout=15)
    assert time.time() - t_back < 4, "posted %.1f s after the network " \
        "answered" % (time.time() - t_back)


def test_hostile_content_is_rendered_safely(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.add_mention("evil@example.social", "hi\r\nPRIVMSG #masto :pwned\r\n"
                     "QUIT :x")
    mock.add_mention("evil@example.social", None,
                     html="<p>a<script>alert(1)</script>b &#39;q&#39; "
                     "&amp; \x03" "4red\x02bold</p>")
    mock.add_mention("big@example.social", "z" * 100_000)
    mock.add_mention("caps@example.social", "end marker")
    expect_post(c, "end marker", timeout=20)
    lines = c.lines
    assert all(len(m.raw.encode()) + 2 <= 512 + 8191 for m in lines)
    for m in lines:
        raw = m.raw
        body = raw.split(" :", 1)[0] if raw.startswith("@") else raw
        assert len(body.encode()) <= 512
        assert "\r" not in raw and "\x00" not in raw
        assert "\x03" not in raw and "\x02" not in raw
    assert not any(m.command == "PRIVMSG" and m.params[1] == "pwned"
                   for m in lines), "no injected line"
    assert not any(m.command == "QUIT" for m in lines)
    texts = [m.params[1] for m in lines if m.command == "PRIVMSG"]
    assert any("'q'" in t and "& " in t for t in texts)
    assert not any("alert(1)" in t or "<script>" in t for t in texts)
    big = [m for m in lines if m.command == "PRIVMSG"
           and m.prefix.startswith("big!")]
    assert 2 <= len(big) <= 8, "a post takes at most 8 lines"
    assert "more lines: !open " in big[-1].params[1]
    ref = big[-1].params[1].rsplit(" ", 1)[1]
    assert big[0].params[1].startswith("[%s]" % ref)
    # !open has the rest (up to 40 lines, then where the whole is).
    c.send("PRIVMSG #masto :!open %s" % ref)
    c.expect(lambda m: m.command == "NOTICE" and "more lines at " in
             m.params[1], what="the end of !open")


def test_identities_from_the_network(parley_factory, mock):
    """A NUL cannot make a stranger pass for someone; names Mastodon would
    not make still arrive under valid nicks; what is dropped is logged."""
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.add_mention("ann@example.social", "the real ann")
    expect_post(c, "the real ann")
    mock.add_mention("ann\x00@evil.example", "i am ann")
    mock.add_mention("bob@example.social", "before\x00after")
    odd = ["a b", "x:y", "a,b", "#m", "a!b", "*"]
    for i, acct in enumerate(odd):
        mock.add_mention(acct + "@odd.example", "odd %d" % i)
    mock.add_mention("carol@example.social", "end marker")
    expect_post(c, "end marker", timeout=20)
    posts = [m for m in c.lines if m.command == "PRIVMSG"]
    assert not any("i am ann" in m.params[1] for m in posts), \
        "an acct with a NUL is refused"
    p.wait_log(r"notification \d+ from the server was not shown: .*NUL")
    real = [m for m in posts if "the real ann" in m.params[1]][0]
    assert real.prefix.startswith("ann!ann@example.social")
    cut = [m for m in posts if "before" in m.params[1]][0]
    assert "after" in cut.params[1], "a NUL does not cut the post"
    nicks = set()
    for i in range(len(odd)):
        m = [m for m in posts if m.params[1].endswith("odd %d" % i)]
        assert m, "odd acct %r vanished" % odd[i]
        nick = m[0].prefix.split("!", 1)[0]
        assert re.fullmatch(r"[A-Za-z_\[\]\\`^{|}][A-Za-z0-9_\[\]\\`^{|}-]*",
                            nick), nick
        nicks.add(nick)
    assert len(nicks) == len(odd), "each person a nick of their own"


def test_owner_nick_is_reserved(parley_factory, mock):
    """A stranger named like the account's owner gets a nick of their own;
    the owner's posts keep the owner's."""
    p = start(parley_factory, mock)
    c = connect(p, nick="watcher")
    wait_stream(mock)
    owner = mock.me["acct"]
    mock.add_mention("%s@evil.example" % owner, "impostor")
    m = expect_post(c, "impostor")
    assert m.prefix.split("!")[0] == "%s_evil" % owner
    c.send("PRIVMSG #masto :!post the owner speaks")
    m = expect_post(c, "the owner speaks")
    assert m.prefix.split("!")[0] == owner


def test_reply_to_old_ref_after_1000_newer_posts(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    first = mock.add_mention("alice@example.social", "the old one")
    ref = ref_of(expect_post(c, "the old one"))
    assert len(first["status"]["id"]) >= 19
    mock.add_mentions(1000, text="newer {i}")
    expect_post(c, "newer 999", timeout=60)
    c.say("#masto", "!re %s still answering" % ref)
    post = wait_posted(mock, 1, timeout=20)
    assert post["params"]["in_reply_to_id"] == first["status"]["id"]


def test_self_signed_https_refused_unless_trusted(parley_factory, tmp_path):
    m = MockMastodon(tls=True).start()
    try:
        p = parley_factory(conf_extra=account_conf(m))
        p.start()
        c = p.client()
        c.welcome("me")
        note = c.expect(lambda x: x.command == "PRIVMSG" and x.params[0] ==
                        "&parley" and ("certificate" in x.params[1].lower() or
                                       "ssl" in x.params[1].lower() or
                                       "tls" in x.params[1].lower()),
                        timeout=20)
        assert note
        assert m.stream_count() == 0
        p.stop()
        p.write_conf(conf_extra=account_conf(m, extra="tls_ca = %s" % m.ca_file))
        p.start()
        wait_stream(m)
        c = p.client()
        c.welcome("me")
        m.add_mention("alice@example.social", "over tls")
        expect_post(c, "over tls")
    finally:
        m.stop()


def test_redirect_to_another_origin_not_followed(parley_factory, mock):
    """An https account whose server redirects to http (or anywhere else)
    does not follow: the token never leaves, the user is told where it was
    sent."""
    m = MockMastodon(tls=True).start()
    try:
        m.fail(r"^/api/v1/", action="redirect", location=mock.base_url)
        p = parley_factory(conf_extra=account_conf(
            m, extra="tls_ca = %s" % m.ca_file))
        p.start()
        c = p.client()
        c.welcome("me")
        c.expect(lambda x: x.command == "PRIVMSG" and x.params[0] ==
                 "&parley" and "redirected to http://127.0.0.1:" in
                 x.params[1] and "only redirects within https://" in
                 x.params[1], timeout=20, what="a notice naming the redirect")
        assert m.requests, "parley asked the https server"
        assert not [r for r in mock.requests if r.path.startswith("/api/")], \
            "nothing reached the http server"
    finally:
        m.stop()


def test_polling_when_streaming_is_off(parley_factory, mock):
    p = start(parley_factory, mock, extra="streaming = no\npoll_seconds = 5")
    c = connect(p)
    mock.add_mention("alice@example.social", "found by polling")
    expect_post(c, "found by polling", timeout=15)
    assert mock.stream_count() == 0


def test_status_shows_account(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    c.say("&parley", "status")
    lines = c.bot_lines(seconds=1.5)
    acc = [l for l in lines if l.startswith("masto (mastodon)")]
    assert acc, lines
    assert "signed in as" in acc[0] and "streaming" in acc[0]
    assert "outbox 0" in acc[0]


def test_endless_stream_line_is_dropped_and_status_tells(parley_factory,
                                                        mock):
    """A stream that sends one line without end is dropped and opened
    again; status then says streaming, with no stale error."""
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    before = mock.stream_connects
    for s in mock.open_streams():
        s.push(b"data: " + b"x" * (10 * 1024 * 1024))
    assert mock.wait_for(lambda: mock.stream_connects > before, timeout=20), \
        "the endless line's stream was never dropped"
    p.wait_log(r"line of more than \d+ bytes")
    wait_stream(mock)
    mock.add_mention("alice@example.social", "after the endless line")
    expect_post(c, "after the endless line", timeout=20)
    c.say("&parley", "status")
    acc = [l for l in c.bot_lines(seconds=1.5)
           if l.startswith("masto (mastodon)")]
    assert acc and "streaming" in acc[0], acc
    assert "line of more than" not in acc[0] and "dropped" not in acc[0], acc


def test_people_not_heard_from_lately_quit_and_come_back(parley_factory,
                                                         mock):
    """Parley keeps at most 4096 people as IRC users (GW_PUPPETS_MAX); the
    one not heard from for longest quits, keeps their nick, can still be
    written to, and joins again when they speak."""
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.add_mention("bob@other.example", "hello all")
    expect_post(c, "hello all")
    n = mock.add_dm("bob@other.example", "first words")
    c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "me")
    crowd = 4096 + 20
    mock.add_mentions(crowd, acct_pattern="crowd{i}@example.social",
                      text="crowd says {i}")
    expect_post(c, "crowd says %d" % (crowd - 1), timeout=60)
    c.send("PING :sync")  # the quits follow the group that caused them
    c.expect("PONG")
    quits = [m for m in c.lines if m.command == "QUIT"]
    assert any(m.nick == "bob" for m in quits), "the quietest went first"
    assert all(m.params[0] == "Not heard from lately" for m in quits)
    assert 20 <= len(quits) <= 22, len(quits)
    assert not any(m.nick == "crowd%d" % (crowd - 1) for m in quits)
    c.send("NAMES #masto")
    names = []
    while True:
        m = c.expect(lambda m: m.command in ("353", "366"))
        if m.command == "366":
            break
        names += m.params[-1].split()
    assert "bob" not in names
    assert 4000 < len(names) <= 4096 + 2, len(names)  # + me, + the bot
    # Still someone: WHOIS answers from the store...
    c.send("WHOIS bob")
    w = c.expect(lambda m: m.command in ("311", "401"))
    assert w.command == "311", w.raw
    assert w.params[2:4] == ["bob", "other.example"], w.raw
    c.expect(lambda m: m.command == "318")
    # ...and the answer is a DM to the same conversation.
    c.say("bob", "still there?")
    post = wait_posted(mock)
    assert post["params"]["visibility"] == "direct"
    assert post["params"]["in_reply_to_id"] == n["status"]["id"]
    # And back, under the same nick, when they speak.
    mock.add_mention("bob@other.example", "back again")
    back = expect_post(c, "back again")
    assert back.nick == "bob"
    assert any(m.command == "JOIN" and m.nick == "bob" for m in c.lines)
    assert p.proc.poll() is None
