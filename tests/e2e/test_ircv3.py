"""IRCv3 capabilities, each checked the way a modern client uses it."""
import datetime
import time

from test_mastodon import start

ALL = ["message-tags", "server-time", "echo-message", "batch",
       "labeled-response", "userhost-in-names", "extended-join",
       "away-notify", "account-tag", "setname", "invite-notify",
       "standard-replies", "draft/chathistory", "draft/read-marker"]


def test_every_advertised_cap_can_be_requested(parley):
    c = parley.client()
    c.send("CAP LS 302")
    c.send("NICK capper")
    c.send("USER capper 0 * :x")
    ls = c.expect("CAP")
    offered = [x.split("=")[0] for x in ls.params[2].split()]
    for cap in ALL:
        assert cap in offered
    c.send("CAP REQ :" + " ".join(offered))
    assert c.expect("CAP").params[1] == "ACK"
    c.send("CAP END")
    c.expect("001")


def test_labeled_response(parley):
    c = parley.client()
    c.welcome("lab", caps=["labeled-response", "batch", "message-tags"])
    c.send("@label=one PING :x")
    pong = c.expect("PONG")
    assert pong.tags.get("label") == "one"
    c.send("@label=two WHOIS parley")
    start = c.expect("BATCH")
    assert start.tags.get("label") == "two"
    assert start.params[0].startswith("+") and start.params[1] == \
        "labeled-response"
    bid = start.params[0][1:]
    inner = []
    while True:
        m = c.expect(lambda m: True)
        if m.command == "BATCH":
            assert m.params[0] == "-" + bid
            break
        assert m.tags.get("batch") == bid
        inner.append(m.command)
    assert inner[0] == "311" and inner[-1] == "318"
    c.send("@label=three PONG :nothing-to-say")
    ack = c.expect("ACK")
    assert ack.tags.get("label") == "three"


def test_tags_escapes_and_tagmsg(parley):
    a = parley.client()
    a.welcome("tagger", caps=["message-tags", "echo-message"])
    b = parley.client()
    b.welcome("tagsee", caps=["message-tags"])
    plain = parley.client()
    plain.welcome("plain")
    value = "semi\\:colon\\sspace\\\\back"
    a.send("@+example/x=%s PRIVMSG &parley :tagged" % value)
    got = b.expect(lambda m: m.command == "PRIVMSG" and m.params[1] ==
                   "tagged")
    assert got.tags["+example/x"] == "semi;colon space\\back"
    assert got.tags.get("msgid")
    echo = a.expect(lambda m: m.command == "PRIVMSG" and m.params[1] ==
                    "tagged")
    assert echo.tags["msgid"] == got.tags["msgid"]
    a.send("@+typing=active TAGMSG &parley")
    t = b.expect("TAGMSG")
    assert t.tags["+typing"] == "active" and t.nick == "tagger"
    lines = plain.collect(0.5)
    assert not any(m.command == "TAGMSG" for m in lines)
    assert any(m.command == "PRIVMSG" and not m.raw.startswith("@")
               for m in lines)


def test_join_caps_and_names(parley):
    a = parley.client()
    a.welcome("watcher", caps=["extended-join", "userhost-in-names",
                               "away-notify"])
    a.send("JOIN #v3")
    names = a.expect(lambda m: m.command == "353" and m.params[2] == "#v3")
    assert "watcher!watcher@127.0.0.1" in names.params[3]
    b = parley.client()
    b.welcome("joiner", sasl=("joiner-account", "anything"))
    b.send("AWAY :out to lunch")
    b.send("JOIN #v3")
    join = a.expect(lambda m: m.command == "JOIN" and m.nick == "joiner" and
                    m.params[0] == "#v3")
    assert join.params[1] == "joiner-account"
    assert join.params[2] == "Test User joiner"
    away = a.expect("AWAY")
    assert away.nick == "joiner" and away.params[0] == "out to lunch"
    b.send("AWAY")
    back = a.expect("AWAY")
    assert back.params == []


def test_account_tag_setname_invite(parley):
    a = parley.client()
    a.welcome("seer", caps=["account-tag", "setname", "invite-notify"])
    b = parley.client()
    b.welcome("doer", sasl=("doer-acct", "x"), caps=["setname"])
    a.send("JOIN #room")
    a.expect(lambda m: m.command == "366" and m.params[1] == "#room")
    b.send("JOIN #room")
    b.expect(lambda m: m.command == "366" and m.params[1] == "#room")
    b.say("#room", "hello")
    msg = a.expect(lambda m: m.command == "PRIVMSG" and m.params[1] ==
                   "hello")
    assert msg.tags.get("account") == "doer-acct"
    b.send("SETNAME :A New Name")
    mine = b.expect("SETNAME")
    assert mine.params[0] == "A New Name"
    theirs = a.expect("SETNAME")
    assert theirs.nick == "doer" and theirs.params[0] == "A New Name"
    b.send("SETNAME :" + "x" * 300)
    fail = b.expect("FAIL")
    assert fail.params[:2] == ["SETNAME", "INVALID_REALNAME"]
    c = parley.client()
    c.welcome("guest")
    b.send("INVITE guest #room")
    assert b.expect("341").params[1:3] == ["guest", "#room"]
    inv = c.expect("INVITE")
    assert inv.nick == "doer" and inv.params == ["guest", "#room"]
    note = a.expect("INVITE")
    assert note.params == ["guest", "#room"]


def history_client(parley, nick="hist", user=None):
    c = parley.client()
    c.welcome(nick, caps=["batch", "server-time", "message-tags",
                          "draft/chathistory", "echo-message"])
    return c


def read_batch(c):
    start = c.expect(lambda m: m.command == "BATCH" and
                     m.params[0].startswith("+"))
    bid = start.params[0][1:]
    lines = []
    while True:
        m = c.expect(lambda m: True)
        if m.command == "BATCH" and m.params[0] == "-" + bid:
            return start, lines
        assert m.tags.get("batch") == bid, m
        lines.append(m)


def just_before(ts):
    """The server-time timestamp one millisecond before ts."""
    t = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    t -= datetime.timedelta(milliseconds=1)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def test_chathistory_paging(parley):
    c = history_client(parley)
    # What people say in an account channel is history.
    c.say("&parley", "account add log mastodon @me@social.invalid "
          "streaming=no")
    c.expect(lambda m: m.command == "366" and m.params[1] == "#log")
    for i in range(30):
        c.say("#log", "line %02d" % i)
    echoes = [c.expect(lambda m: m.command == "PRIVMSG" and
                       m.params[0] == "#log" and m.params[1] ==
                       "line %02d" % i) for i in range(30)]
    ids = [e.tags["msgid"] for e in echoes]
    c.send("CHATHISTORY LATEST #log * 10")
    start, lines = read_batch(c)
    assert start.params[1:] == ["chathistory", "#log"]
    assert [m.params[1] for m in lines] == ["line %02d" % i
                                            for i in range(20, 30)]
    assert [m.tags["msgid"] for m in lines] == ids[20:]
    assert all("time" in m.tags for m in lines)
    c.send("CHATHISTORY BEFORE #log msgid=%s 5" % ids[20])
    _, lines = read_batch(c)
    assert [m.params[1] for m in lines] == ["line %02d" % i
                                            for i in range(15, 20)]
    c.send("CHATHISTORY AFTER #log msgid=%s 3" % ids[27])
    _, lines = read_batch(c)
    assert [m.params[1] for m in lines] == ["line 28", "line 29"]
    c.send("CHATHISTORY AFTER #log msgid=%s 3" % ids[29])
    _, lines = read_batch(c)
    assert lines == []
    c.send("CHATHISTORY BEFORE #log msgid=%s 5" % ids[0])
    _, lines = read_batch(c)
    assert lines == []
    c.send("CHATHISTORY AROUND #log msgid=%s 4" % ids[10])
    _, lines = read_batch(c)
    assert [m.params[1] for m in lines] == ["line 09", "line 10", "line 11",
                                            "line 12"][:len(lines)]
    assert "line 10" in [m.params[1] for m in lines] and len(lines) == 4
    c.send("CHATHISTORY BETWEEN #log msgid=%s msgid=%s 100" % (ids[3],
                                                              ids[7]))
    _, lines = read_batch(c)
    assert [m.params[1] for m in lines] == ["line 04", "line 05", "line 06"]
    c.send("CHATHISTORY BETWEEN #log msgid=%s msgid=%s 2" % (ids[7], ids[3]))
    _, lines = read_batch(c)
    assert [m.params[1] for m in lines] == ["line 05", "line 06"]
    ts = lines[0].tags["time"]
    # LATEST after a timestamp: the lines after it, excluding its own time
    # (the chathistory draft); a line's echo carries the time it is kept
    # with.
    t25 = echoes[25].tags["time"]
    c.send("CHATHISTORY LATEST #log timestamp=%s 100" % just_before(t25))
    _, lines = read_batch(c)
    texts = [m.params[1] for m in lines]
    assert "line 25" in texts and texts[-1] == "line 29", texts
    c.send("CHATHISTORY LATEST #log msgid=%s 100" % ids[25])
    _, lines = read_batch(c)
    assert [m.params[1] for m in lines] == ["line %02d" % i
                                            for i in range(26, 30)]
    c.send("CHATHISTORY LATEST #log * 1000")
    _, lines = read_batch(c)
    assert len(lines) <= 100
    c.send("CHATHISTORY LATEST #nope * 10")
    fail = c.expect("FAIL")
    assert fail.params[:2] == ["CHATHISTORY", "INVALID_TARGET"]
    c.send("CHATHISTORY BEFORE #log bogus=1 10")
    fail = c.expect("FAIL")
    assert fail.params[1] == "INVALID_MSGREFTYPE"
    c.send("CHATHISTORY LATEST #log")
    assert c.expect("FAIL").params[1] == "NEED_MORE_PARAMS"
    c.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
           "timestamp=2100-01-01T00:00:00.000Z 10")
    start, lines = read_batch(c)
    assert start.params[1] == "draft/chathistory-targets"
    assert any(m.params[1] == "#log" for m in lines)
    assert ts


def test_read_marker_syncs_sessions(parley):
    desk = parley.client()
    desk.send("CAP LS 302")
    desk.send("CAP REQ :draft/read-marker")
    desk.send("NICK person")
    desk.send("USER desk 0 * :x")
    desk.expect("CAP")
    desk.expect("CAP")
    desk.send("CAP END")
    marker = desk.expect("MARKREAD")
    assert marker.params == ["&parley", "*"], "sent before 366 on join"
    desk.expect(lambda m: m.command == "366")
    phone = parley.client()
    phone.send("CAP LS 302")
    phone.send("CAP REQ :draft/read-marker")
    phone.send("NICK person")
    phone.send("USER phone 0 * :x")
    phone.expect("CAP")
    phone.expect("CAP")
    phone.send("CAP END")
    phone.expect("001")
    phone.expect(lambda m: m.command == "366")
    desk.send("MARKREAD &parley timestamp=2026-01-01T10:00:00.000Z")
    for c in (desk, phone):
        m = c.expect("MARKREAD")
        assert m.params == ["&parley", "timestamp=2026-01-01T10:00:00.000Z"]
    # Markers never move backwards.
    phone.send("MARKREAD &parley timestamp=2025-01-01T10:00:00.000Z")
    m = phone.expect("MARKREAD")
    assert m.params[1] == "timestamp=2026-01-01T10:00:00.000Z"
    phone.send("MARKREAD &parley")
    assert phone.expect("MARKREAD").params[1].startswith("timestamp=2026")
    phone.send("MARKREAD &parley nonsense")
    assert phone.expect("FAIL").params[:2] == ["MARKREAD", "INVALID_PARAMS"]


def test_sessions_of_one_person(parley):
    other = parley.client()
    other.welcome("other")
    desk = parley.client()
    desk.welcome("same")
    desk.send("JOIN #shared")
    desk.expect(lambda m: m.command == "366" and m.params[1] == "#shared")
    other.send("JOIN #shared")
    other.expect(lambda m: m.command == "366" and m.params[1] == "#shared")
    phone = parley.client()
    res = phone.register("same")
    assert res.command == "001", "a second session of the same nick"
    phone.expect(lambda m: m.command == "366" and m.params[1] == "#shared")
    lines = other.collect(0.5)
    assert not any(m.command == "JOIN" and m.nick == "same" for m in lines), \
        "no second JOIN for the same person"
    other.send("NAMES #shared")
    names = other.expect(lambda m: m.command == "353")
    assert names.params[3].split().count("@same") == 1
    other.say("same", "to both")
    assert desk.expect(lambda m: m.command == "PRIVMSG").params[1] == "to both"
    assert phone.expect(lambda m: m.command == "PRIVMSG").params[1] == \
        "to both"
    desk.say("other", "from the desk")
    mirror = phone.expect(lambda m: m.command == "PRIVMSG" and m.nick ==
                          "same")
    assert mirror.params == ["other", "from the desk"]
    phone.send("QUIT :phone off")
    phone.wait_closed()
    assert not any(m.command == "QUIT" for m in other.collect(0.5)), \
        "the person is still here"
    desk.send("NICK renamed")
    assert other.expect("NICK").params[0] == "renamed"


def test_reaction_favourites_and_reply_tag(parley_factory, mock):
    p = start(parley_factory, mock)
    c = p.client()
    c.welcome("me", caps=["message-tags", "server-time"])
    assert mock.wait_for(lambda: mock.stream_count() >= 1, timeout=10)
    n = mock.add_mention("alice@example.social", "react to me")
    line = c.expect(lambda m: m.command == "PRIVMSG" and
                    "react to me" in m.params[1])
    ref = line.tags["msgid"]
    c.send("@+draft/react=\U0001F44D;+draft/reply=%s TAGMSG #masto" % ref)
    assert mock.wait_for(lambda: n["status"]["id"] in mock.favourited,
                         timeout=10)


def test_playback_on_reconnect_without_chathistory(parley_factory, mock):
    p = start(parley_factory, mock)
    c = p.client()
    c.welcome("me", caps=["server-time"])
    assert mock.wait_for(lambda: mock.stream_count() >= 1, timeout=10)
    mock.add_mention("alice@example.social", "while here")
    c.expect(lambda m: m.command == "PRIVMSG" and "while here" in
             m.params[1])
    c.send("QUIT")
    c.wait_closed()
    n = mock.add_mention("bob@example.social", "while away")
    time.sleep(1)
    c = p.client()
    c.welcome("me", caps=["server-time"])
    got = c.expect(lambda m: m.command == "PRIVMSG" and "while away" in
                   m.params[1])
    assert got.tags["time"][:19] == n["status"]["created_at"][:19]
    c.collect(1)
    texts = [m.params[1] for m in c.lines if m.command == "PRIVMSG"]
    assert not any("while here" in t for t in texts), "nothing twice"
    assert sum("while away" in t for t in texts) == 1


def test_playback_of_a_long_absence_shows_the_newest(parley_factory, mock):
    p = start(parley_factory, mock)
    c = p.client()
    c.welcome("me", caps=["server-time"])
    assert mock.wait_for(lambda: mock.stream_count() >= 1, timeout=10)
    c.send("QUIT")
    c.wait_closed()
    # Another person stays, so we know when everything has arrived.
    w = p.client()
    w.welcome("watcher")
    for i in range(230):
        mock.add_mention("u%d@example.social" % i, "away number %d" % i)
    w.expect(lambda m: m.command == "PRIVMSG" and
             m.params[1].endswith("away number 229"), timeout=30)
    c = p.client()
    c.welcome("me", caps=["server-time"])
    note = c.expect(lambda m: m.command == "NOTICE" and
                    "while you were away" in m.params[1])
    assert note.params[1].startswith("230 lines arrived"), note.params[1]
    c.expect(lambda m: m.command == "PRIVMSG" and
             m.params[1].endswith("away number 229"), timeout=30)
    got = [int(m.params[1].rsplit(" ", 1)[1]) for m in c.lines
           if m.command == "PRIVMSG" and "away number" in m.params[1]]
    assert got == list(range(30, 230)), "the newest 200, oldest first"
