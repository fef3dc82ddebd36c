"""What established IRC servers do and Parley must do too, checked against
the RFCs, Modern IRC (modern.ircdocs.horse) and the IRCv3 specifications:
registration edge cases, labels, size limits, channel operators, WHO
masks, away-notify, MARKREAD, history for every conversation."""
import sqlite3
import time

import test_ircv3

LABELS = ["labeled-response", "batch", "message-tags"]


def test_user_with_empty_realname_gets_461(parley):
    c = parley.client()
    c.send("NICK empty")
    c.send("USER empty 0 * :")
    assert c.expect(lambda m: m.command in ("461", "001")).command == "461"
    c.send("USER empty 0 *")
    assert c.expect(lambda m: m.command in ("461", "001")).command == "461"
    c.send("USER empty 0 * :Real Name")
    c.expect("001")
    d = parley.client()
    d.send("NICK :")
    assert d.expect(lambda m: m.command in ("431", "432")).command == "431"
    # The class: an empty required parameter is a missing one.
    d.send("PASS :")
    assert d.expect("461").params[1] == "PASS"
    for line in ("JOIN :", "PART :", "KICK #x :", "MODE :", "INVITE : #x"):
        c.send(line)
        got = c.expect(lambda m: m.command in ("461", "403", "401", "ACK"))
        assert got.command == "461", (line, got.raw)


def test_non_utf8_registration_is_answered(parley):
    c = parley.client()
    c.send(b"NICK caf\xe9")
    bad = c.expect(lambda m: m.command in ("432", "001", "FAIL"))
    assert bad.command == "432", bad
    c.send("NICK cafe")
    c.send(b"USER cafe 0 * :Ren\xe9e")
    c.expect("001")
    c.send("WHOIS cafe")
    assert c.expect("311").params[-1].startswith("Ren")


def labeled(c, line, seconds=0.5):
    c.send(line)
    return c.collect(seconds)


def test_every_reply_to_a_labeled_command_is_labeled(parley):
    c = parley.client()
    c.welcome("lab", caps=LABELS + ["echo-message"])
    c.collect(0.3)
    cases = {
        "bad": "@label=bad PING " + " ".join("p%d" % i for i in range(20)),
        "long": "@label=long PING :" + "y" * 600,
        "tags": "@label=tags;+big=" + "x" * 5000 + " PING :t",
        "nul": b"@label=nul PING :a\x00b",
        "utf": b"@label=utf PRIVMSG &parley :caf\xe9",
        "again": "@label=again USER x 0 * :x",
        "unknown": "@label=unknown NONEXISTENT",
        "few": "@label=few JOIN",
    }
    for label, line in cases.items():
        got = labeled(c, line)
        assert len(got) == 1, (label, [m.raw for m in got])
        assert got[0].tags.get("label") == label, (label, got[0].raw)
    # A message to oneself: the echo carries the label, the delivered copy
    # does not (labeled-response), and both arrive.
    got = [m for m in labeled(c, "@label=me PRIVMSG lab :to me")
           if m.command == "PRIVMSG"]
    assert len(got) == 2, [m.raw for m in got]
    assert sorted(m.tags.get("label", "") for m in got) == ["", "me"]
    plain = parley.client()
    plain.welcome("plain")
    plain.say("plain", "myself")
    assert plain.expect("PRIVMSG").params == ["plain", "myself"]


def test_client_tags_over_4094_bytes_get_417(parley):
    c = parley.client()
    c.welcome("tagger", caps=["message-tags"])
    # Tag data is what lies between '@' and the space: "+a=" and the value.
    c.send("@+a=" + "x" * 4091 + " PING :fits")
    assert c.expect(lambda m: m.command in ("PONG", "417")).command == "PONG"
    for n in (4092, 6000, 8100):
        c.send("@+a=" + "x" * n + " PING :over%d" % n)
        got = c.expect(lambda m: m.command in ("PONG", "417"))
        assert got.command == "417", (n, got.raw)
    c.send("PING :" + "y" * 600)
    assert c.expect(lambda m: m.command in ("PONG", "417")).command == "417"
    c.send("PING :still")
    assert c.expect("PONG").params[-1] == "still"


def names_of(c, channel):
    c.send("NAMES " + channel)
    got = c.expect(lambda m: m.command == "353" and m.params[2] == channel)
    c.expect(lambda m: m.command == "366")
    return got.params[3].split()


def test_channel_operators(parley):
    alice = parley.client()
    alice.welcome("alice", caps=["multi-prefix"])
    bob = parley.client()
    bob.welcome("bob")
    carol = parley.client()
    carol.welcome("carol")
    isupport = " ".join(m.raw for m in alice.lines if m.command == "005")
    assert "PREFIX=(ov)@+" in isupport
    alice.send("JOIN #ops")
    names = alice.expect(lambda m: m.command == "353")
    assert names.params[3].split() == ["@alice"], "the creator gets @"
    for c in (bob, carol):
        c.send("JOIN #ops")
        c.expect(lambda m: m.command == "366" and m.params[1] == "#ops")
    assert set(names_of(bob, "#ops")) == {"@alice", "bob", "carol"}
    # Only operators change modes.
    bob.send("MODE #ops +o bob")
    assert bob.expect(lambda m: m.command in ("482", "MODE")).command == "482"
    alice.send("MODE #ops +v bob")
    mode = carol.expect("MODE")
    assert mode.nick == "alice" and mode.params == ["#ops", "+v", "bob"]
    assert "+bob" in names_of(carol, "#ops")
    alice.send("MODE #ops +v alice")
    alice.expect(lambda m: m.command == "MODE" and m.params[2] == "alice")
    # multi-prefix: every prefix, highest first; without it, the highest.
    assert "@+alice" in names_of(alice, "#ops")
    assert "@alice" in names_of(bob, "#ops")
    alice.send("WHO #ops")
    flags = {}
    while True:
        m = alice.expect(lambda m: m.command in ("352", "315"))
        if m.command == "315":
            break
        flags[m.params[5]] = m.params[6]
    assert flags == {"alice": "H@+", "bob": "H+", "carol": "H"}, flags
    bob.send("WHOIS alice")
    chans = bob.expect("319").params[-1].split()
    assert "@#ops" in chans, chans
    # Topic: +t by default, operators only; -t lets anyone.
    bob.send("TOPIC #ops :mine")
    assert bob.expect(lambda m: m.command in ("482", "TOPIC")).command == "482"
    alice.send("MODE #ops -t")
    carol.expect(lambda m: m.command == "MODE" and m.params[1] == "-t")
    bob.send("TOPIC #ops :mine")
    assert carol.expect("TOPIC").params[1] == "mine"
    alice.send("MODE #ops")
    assert alice.expect("324").params[2] == "+n"
    # -n: outsiders may speak.
    dave = parley.client()
    dave.welcome("dave")
    dave.say("#ops", "knock knock")
    assert dave.expect(lambda m: m.command in ("404", "ERROR", "PONG"),
                       timeout=2).command == "404"
    alice.send("MODE #ops -n")
    carol.expect(lambda m: m.command == "MODE" and m.params[1] == "-n")
    dave.say("#ops", "knock knock")
    assert carol.expect("PRIVMSG").params == ["#ops", "knock knock"]
    alice.send("MODE #ops +x")
    assert alice.expect("472").params[1] == "x"
    # Operators kick; the kicked person is gone, everyone saw it.
    alice.send("MODE #ops +o bob")
    carol.expect(lambda m: m.command == "MODE" and m.params[1] == "+o")
    bob.send("KICK #ops carol :out")
    kick = carol.expect("KICK")
    assert kick.nick == "bob" and kick.params == ["#ops", "carol", "out"]
    alice.expect("KICK")
    assert "carol" not in names_of(alice, "#ops")
    carol.send("KICK #ops alice")
    assert carol.expect(lambda m: m.command in ("442", "482")).command == "442"
    bob.send("KICK #ops nobody")
    assert bob.expect(lambda m: m.command in ("441", "401")).command in (
        "441", "401")
    alice.send("MODE #ops -o bob")
    bob.expect(lambda m: m.command == "MODE" and m.params[1] == "-o")
    bob.send("KICK #ops alice")
    assert bob.expect("482")
    # The gateway's own channels: the bot holds @, team members +v, and
    # their modes are the gateway's.
    assert set(names_of(alice, "&parley")) >= {"@parley", "+alice", "+bob"}
    alice.send("MODE &parley +o bob")
    assert alice.expect("482")
    alice.send("KICK &parley bob")
    assert alice.expect("482")


def test_who_masks(parley):
    names = ["alice", "alfred", "bob"]
    clients = []
    for n in names:
        c = parley.client()
        c.welcome(n)
        clients.append(c)
    phone = parley.client()
    phone.send("NICK alice")
    phone.send("USER phone 0 * :x")
    phone.expect("001")
    c = clients[2]

    def who(mask):
        c.send("WHO " + mask)
        got = []
        while True:
            m = c.expect(lambda m: m.command in ("352", "315"))
            if m.command == "315":
                assert m.params[1] == mask
                return got
            got.append(m.params[5])

    assert sorted(who("al*")) == ["alfred", "alice"]
    assert sorted(who("*")) == ["alfred", "alice", "bob", "parley"]
    assert who("b?b") == ["bob"]
    assert who("nobody*") == []
    # A person with two sessions is one user in a channel's WHO.
    assert sorted(who("&parley")) == ["alfred", "alice", "bob", "parley"]


def test_away_notify_on_join(parley_factory):
    p = parley_factory(irc_extra="autojoin_control = no").start()
    foo = p.client()
    foo.register("foo", caps=["away-notify"])
    foo.send("JOIN #chan")
    foo.expect(lambda m: m.command == "366")
    bar = p.client()
    bar.register("bar", caps=["away-notify"])
    bar.send("AWAY :i'm already away")
    bar.expect("306")
    bar.send("JOIN #chan")
    bar.expect(lambda m: m.command == "366")
    aways = [m for m in foo.collect(1) if m.command == "AWAY"]
    assert len(aways) == 1, [m.raw for m in aways]
    assert aways[0].nick == "bar" and aways[0].params == ["i'm already away"]
    assert not any(m.command == "AWAY" for m in bar.collect(0.3)), \
        "nobody is told about themselves"


def test_markread_and_chathistory_without_parameters(parley):
    c = parley.client()
    c.welcome("reader", caps=["draft/read-marker", "draft/chathistory",
                              "batch", "standard-replies"])
    c.send("MARKREAD")
    fail = c.expect(lambda m: m.command in ("FAIL", "461"))
    assert fail.command == "FAIL"
    assert fail.params[:2] == ["MARKREAD", "NEED_MORE_PARAMS"]
    c.send("CHATHISTORY")
    fail = c.expect(lambda m: m.command in ("FAIL", "461"))
    assert fail.command == "FAIL"
    assert fail.params[:2] == ["CHATHISTORY", "NEED_MORE_PARAMS"]


HIST = ["batch", "server-time", "message-tags", "draft/chathistory"]


def read_batch(c):
    """The lines of the next batch c receives."""
    return test_ircv3.read_batch(c)[1]


def test_history_of_ordinary_channels_and_queries(parley_factory):
    p = parley_factory().start()
    alice = p.client()
    alice.welcome("alice", caps=HIST)
    bob = p.client()
    bob.welcome("bob", caps=HIST)
    carol = p.client()
    carol.welcome("carol", caps=HIST)
    for c in (alice, bob):
        c.send("JOIN #team")
        c.expect(lambda m: m.command == "366" and m.params[1] == "#team")
    alice.say("#team", "team one")
    bob.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "team one")
    bob.say("#team", "team two")
    alice.expect(lambda m: m.command == "PRIVMSG" and
                 m.params[1] == "team two")
    alice.say("bob", "psst bob")
    bob.expect(lambda m: m.command == "PRIVMSG" and m.params[1] == "psst bob")
    bob.say("alice", "psst alice")
    alice.expect(lambda m: m.command == "PRIVMSG" and
                 m.params[1] == "psst alice")
    alice.send("CHATHISTORY LATEST #team * 10")
    assert [m.params[1] for m in read_batch(alice)] == ["team one",
                                                        "team two"]
    bob.send("CHATHISTORY LATEST alice * 10")
    got = read_batch(bob)
    assert [(m.nick, m.params[0], m.params[1]) for m in got] == [
        ("alice", "bob", "psst bob"), ("bob", "alice", "psst alice")]
    alice.send("CHATHISTORY LATEST bob * 10")
    assert [m.params[1] for m in read_batch(alice)] == ["psst bob",
                                                        "psst alice"]
    # Nobody else reads them.
    carol.send("CHATHISTORY LATEST alice * 10")
    assert read_batch(carol) == []
    carol.send("CHATHISTORY LATEST #team * 10")
    assert carol.expect("FAIL").params[1] == "INVALID_TARGET"
    bob.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
             "timestamp=2100-01-01T00:00:00.000Z 10")
    targets = [m.params[1] for m in read_batch(bob)]
    assert "alice" in targets and "#team" in targets, targets
    carol.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z "
               "timestamp=2100-01-01T00:00:00.000Z 10")
    assert [m.params[1] for m in read_batch(carol)] == []
    # Playback on connect shows none of it to someone who was not there.
    dave = p.client()
    dave.welcome("dave")
    assert not any("psst" in m.raw or "team" in m.raw
                   for m in dave.collect(1) if m.command == "PRIVMSG")
    # Kept across a restart.
    p.stop()
    p.start()
    alice = p.client()
    alice.welcome("alice", caps=HIST)
    alice.send("CHATHISTORY LATEST bob * 10")
    assert [m.params[1] for m in read_batch(alice)] == ["psst bob",
                                                        "psst alice"]


def test_playback_is_not_crowded_out_by_other_history(parley_factory):
    """History of channels people made and of private queries is never
    played back; it must not push what is out of playback either."""
    p = parley_factory().start()
    alice = p.client()
    alice.welcome("alice")
    alice.say("&parley", "account add log mastodon @me@social.invalid "
              "streaming=no")
    alice.expect(lambda m: m.command == "366" and m.params[1] == "#log")
    dave = p.client()
    dave.welcome("dave")
    dave.send("QUIT")
    dave.wait_closed()
    alice.say("#log", "for the team")
    alice.send("JOIN #chatter")
    alice.expect(lambda m: m.command == "366" and m.params[1] == "#chatter")
    bob = p.client()
    bob.welcome("bob")
    alice.send_raw(b"".join(b"PRIVMSG #chatter :chat %d\r\n" % i
                            for i in range(250)) +
                   b"PRIVMSG bob :psst\r\nPING :done\r\n")
    alice.expect(lambda m: m.command == "PONG" and m.params[-1] == "done",
                 timeout=30)
    dave = p.client()
    dave.welcome("dave")
    got = dave.collect(1.5)
    texts = [m.params[-1] for m in got if m.command in ("PRIVMSG", "NOTICE")]
    assert "for the team" in texts, texts
    assert not any("while you were away" in t for t in texts), texts
    assert not any(t.startswith("chat ") or t == "psst" for t in texts)


def test_chathistory_pages_by_time(parley_factory):
    """Lines stored late may carry an older time (posts fetched after a
    restart keep their own): BEFORE/AFTER a timestamp go by time."""
    p = parley_factory().start()
    p.stop()
    db = sqlite3.connect(p.db)
    base = int((time.time() - 3600) * 1000)
    for text, t in (("a", 100), ("c", 300), ("b", 200), ("d", 400)):
        db.execute("INSERT INTO history (target, time_ms, msgid, prefix, "
                   "command, text, tags) VALUES ('&parley', ?, ?, "
                   "'x!x@y', 'PRIVMSG', ?, '')",
                   (base + t * 1000, "m" + text, text))
    db.commit()
    db.close()
    p.start()
    c = p.client()
    c.welcome("pager", caps=HIST)

    def ts(t):
        return time.strftime("%Y-%m-%dT%H:%M:%S.000Z",
                             time.gmtime((base + t * 1000) / 1000))

    c.send("CHATHISTORY BEFORE &parley timestamp=%s 10" % ts(250))
    assert [m.params[1] for m in read_batch(c)] == ["a", "b"]
    c.send("CHATHISTORY AFTER &parley timestamp=%s 10" % ts(250))
    assert [m.params[1] for m in read_batch(c)] == ["c", "d"]
    c.send("CHATHISTORY AFTER &parley timestamp=%s 2" % ts(150))
    assert [m.params[1] for m in read_batch(c)] == ["b", "c"]
    c.send("CHATHISTORY BEFORE &parley msgid=mc 10")
    assert [m.params[1] for m in read_batch(c)] == ["a", "b"]
    c.send("CHATHISTORY LATEST &parley * 10")
    assert [m.params[1] for m in read_batch(c)] == ["a", "b", "c", "d"]


def test_history_is_pruned_after_history_days(parley_factory):
    p = parley_factory(irc_extra="history_days = 30").start()
    c = p.client()
    c.welcome("keeper")
    c.send("JOIN #old")
    c.expect(lambda m: m.command == "366")
    c.say("#old", "recent line")
    c.send("PING :sync")
    c.expect("PONG")
    p.stop()
    db = sqlite3.connect(p.db)
    old = int((time.time() - 90 * 86400) * 1000)
    db.execute("UPDATE history SET id = id + 10000")
    for i in range(1200):
        db.execute("INSERT INTO history (id, target, time_ms, msgid, prefix, "
                   "command, text, tags) VALUES (?, '#old', ?, ?, 'a!a@b', "
                   "'PRIVMSG', 'ancient', '')", (i + 1, old + i, "m%d" % i))
    db.commit()
    db.close()
    p.start()
    deadline = time.time() + 20
    while time.time() < deadline:
        db = sqlite3.connect(p.db)
        left = db.execute("SELECT count(*) FROM history WHERE text = "
                          "'ancient'").fetchone()[0]
        recent = db.execute("SELECT count(*) FROM history WHERE text = "
                            "'recent line'").fetchone()[0]
        db.close()
        if left == 0:
            break
        time.sleep(0.5)
    assert left == 0 and recent == 1


def test_autojoin_control_no(parley_factory):
    p = parley_factory(irc_extra="autojoin_control = no").start()
    c = p.client()
    c.register("solo")
    c.expect("376")
    got = c.collect(1)
    assert not any(m.command == "JOIN" and m.params[0] == "&parley"
                   for m in got), [m.raw for m in got]
    c.say("parley", "help")
    assert c.expect(lambda m: m.nick == "parley").params[0] == "solo"
    c.send("JOIN &parley")
    c.expect(lambda m: m.command == "366" and m.params[1] == "&parley")
    c.say("&parley", "status")
    assert c.expect(lambda m: m.nick == "parley" and
                    m.params[0] == "&parley")
