"""The relay end to end: a real ./parley, the mock Mastodon, and real IRC
servers (ngircd and InspIRCd from Debian, tests/ircservers.py) in which
test clients play the team."""
import os
import re
import signal
import time

import pytest

import ircservers
from ircclient import Client
from mockframe import certs

CHAN = "#team"


def account_conf(mock, name="masto"):
    return ("[account %s]\nnetwork = mastodon\nbase_url = %s\ntoken = %s\n"
            % (name, mock.base_url, mock.token))


def relay_conf(server, tls=False, extra="", channels=CHAN, port=None):
    if port is None:
        port = server.tls_port if tls else server.port
    return ("[relay team]\nserver = 127.0.0.1:%d\ntls = %s\nnick = parley\n"
            "channels = %s\naccounts = masto\n%s\n"
            % (port, "yes" if tls else "no", channels, extra))


def start(parley_factory, mock, server, tls=False, extra="", **kw):
    conf = account_conf(mock) + relay_conf(server, tls, extra, **kw)
    p = parley_factory(conf_extra=conf).start()
    return p


def teammate(server, nick="bob", chan=CHAN, key=None):
    c = Client(server.port)
    c.register(nick)
    c.send("JOIN %s%s" % (chan, " " + key if key else ""))
    c.expect(lambda m: m.command == "366")
    return c


def bot_joined(c, nick="parley", timeout=20):
    return c.expect(lambda m: m.command == "JOIN" and m.nick == nick,
                    timeout=timeout, what="%s joining" % nick)


def bot_says(c, text, timeout=20, nick="parley"):
    return c.expect(lambda m: m.command in ("PRIVMSG", "NOTICE")
                    and m.nick == nick and text in m.params[-1],
                    timeout=timeout, what="the bot saying %r" % text)


def ref_in(msg):
    m = re.match(r"\[([0-9a-z]+)\] ", msg.params[-1])
    assert m, msg
    return m.group(1)


def wait_posted(mock, n, timeout=15):
    assert mock.wait_for(lambda: len(mock.posted) >= n, timeout=timeout), \
        "the network got %d posts, wanted %d" % (len(mock.posted), n)
    return mock.posted[n - 1]


def wait_stream(mock):
    assert mock.wait_for(lambda: mock.stream_count() >= 1, timeout=10)


@pytest.fixture(params=["ngircd", "inspircd"])
def tls_server(request, tmp_path):
    cls = ircservers.Ngircd if request.param == "ngircd" else \
        ircservers.InspIRCd
    s = cls(tmp_path, tls=True).start()
    yield s
    s.stop()


@pytest.fixture
def ngircd(tmp_path):
    s = ircservers.Ngircd(tmp_path).start()
    yield s
    s.stop()


@pytest.fixture
def inspircd(tmp_path):
    s = ircservers.InspIRCd(tmp_path).start()
    yield s
    s.stop()


def test_joins_over_tls_and_relays_a_mention(parley_factory, mock,
                                             tls_server):
    bob = teammate(tls_server)
    p = start(parley_factory, mock, tls_server, tls=True,
              extra="tls_ca = %s" % tls_server.cert.ca)
    bot_joined(bob)
    wait_stream(mock)
    mock.add_mention("alice@example.social", "loved the talk, slides?")
    line = bot_says(bob, "loved the talk")
    assert re.match(r"^\[[0-9a-z]+\] alice@example\.social: "
                    r"loved the talk, slides\?$", line.params[1]), line
    assert line.params[0] == CHAN
    # status on Parley's own server says where the relay is
    me = p.client()
    me.welcome("me")
    me.say("&parley", "status")
    lines = me.bot_lines(seconds=1.5)
    relay = [t for t in lines if t.startswith("relay team:")]
    assert relay and "over TLS as parley" in relay[0] and CHAN in relay[0], \
        lines


def test_replies_from_the_channel_and_plain_talk_stays(parley_factory, mock,
                                                       ngircd):
    bob = teammate(ngircd)
    start(parley_factory, mock, ngircd)
    bot_joined(bob)
    wait_stream(mock)
    n1 = mock.add_mention("alice@example.social", "first question")
    r1 = ref_in(bot_says(bob, "first question"))
    bob.say(CHAN, "!re %s answer one" % r1)
    post = wait_posted(mock, 1)
    assert post["params"]["in_reply_to_id"] == n1["status"]["id"]
    assert "answer one" in post["params"]["status"]
    # The accepted reply comes back into the channel with its own ref.
    bot_says(bob, "answer one")
    n2 = mock.add_mention("carol@example.social", "second question")
    r2 = ref_in(bot_says(bob, "second question"))
    bob.say(CHAN, "carol: answer two")
    post = wait_posted(mock, 2)
    assert post["params"]["in_reply_to_id"] == n2["status"]["id"]
    bob.say(CHAN, "parley: %s answer three" % r1)
    post = wait_posted(mock, 3)
    assert post["params"]["in_reply_to_id"] == n1["status"]["id"]
    assert "answer three" in post["params"]["status"]
    assert r2
    # Team talk, even addressed to a teammate, never leaves IRC.
    bob.say(CHAN, "lunch at noon?")
    bob.say(CHAN, "dave: are you coming?")
    time.sleep(3)
    assert len(mock.posted) == 3
    heard = [m for m in bob.collect(1) if m.nick == "parley"
             and ("lunch" in m.params[-1] or "coming" in m.params[-1])]
    assert heard == []
    # Answers to one person are NOTICEs to that nick.
    bob.say(CHAN, "!re zzzz9 nothing")
    note = bob.expect(lambda m: m.command == "NOTICE" and m.nick == "parley"
                      and m.params[0] == "bob")
    assert "not a known post" in note.params[1]


def test_burst_of_200_arrives_complete_in_order_without_flood(
        parley_factory, mock, tmp_path):
    # InspIRCd kills for flood (fakelag off) past a penalty of 50 commands,
    # taking off 50 once a second; the relay is told a burst of 10, then 10
    # lines a second: at most 20 in any second, registration included.
    s = ircservers.InspIRCd(tmp_path, commandrate=50000, threshold=50).start()
    try:
        bob = teammate(s)
        start(parley_factory, mock, s,
              extra="flood_lines = 10\nflood_seconds = 1")
        bot_joined(bob)
        wait_stream(mock)
        mock.add_mentions(200, text="burst number {i} here")
        seen = []
        deadline = time.time() + 90
        while len(seen) < 200 and time.time() < deadline:
            for m in bob.collect(1):
                if m.command == "QUIT" and m.nick == "parley":
                    raise AssertionError("the bot quit: %s" % m.raw)
                if m.nick == "parley" and "burst number" in m.params[-1]:
                    seen.append(int(re.search(r"burst number (\d+)",
                                              m.params[-1]).group(1)))
        assert len(seen) == 200, (len(seen), seen[-5:])
        assert seen == sorted(seen), "out of order"
        assert len(set(seen)) == 200
        assert "Excess Flood" not in s.log()
    finally:
        s.stop()


def test_server_restart_relays_what_came_meanwhile_once(parley_factory, mock,
                                                        ngircd):
    bob = teammate(ngircd)
    p = start(parley_factory, mock, ngircd)
    bot_joined(bob)
    wait_stream(mock)
    mock.add_mention("alice@example.social", "before the outage")
    bot_says(bob, "before the outage")
    bob.close()
    ngircd.kill()
    p.wait_log(r"relay team: .*reconnecting", 10)
    mock.add_mention("alice@example.social", "during the outage")
    time.sleep(1)
    # Parley waits (stopped) until the teammate is back in the channel,
    # so that it cannot rejoin and replay before anyone listens.
    os.kill(p.pid, signal.SIGSTOP)
    try:
        ngircd.start()
        bob = teammate(ngircd)
    finally:
        os.kill(p.pid, signal.SIGCONT)
    bot_joined(bob, timeout=40)
    line = bot_says(bob, "during the outage", timeout=20)
    assert "alice@example.social" in line.params[1]
    later = bob.collect(4)
    texts = [m.params[-1] for m in later if m.nick == "parley"]
    assert not any("during the outage" in t for t in texts), texts
    assert not any("before the outage" in t for t in texts), texts


def test_self_signed_certificate_refused_unless_trusted(parley_factory, mock,
                                                        tmp_path):
    s = ircservers.Ngircd(tmp_path, tls=True).start()
    try:
        p = start(parley_factory, mock, s, tls=True)
        line = p.wait_log(r"relay team: TLS handshake failed", 20)
        assert "certificate is not accepted: self-signed certificate" in line
        p.finish()
        # tls_verify = no accepts it (for tests and networks one vouches for)
        bob = teammate(s)
        p2 = parley_factory(conf_extra=account_conf(mock) + relay_conf(
            s, True, "tls_verify = no")).start()
        bot_joined(bob)
        p2.finish()
        # a certificate for another name is refused even when trusted
        other = certs.self_signed(str(tmp_path), cert="other.pem",
                                  key="other.key", cn="other.example",
                                  san="DNS:other.example")
        p3 = parley_factory(conf_extra=account_conf(mock) + relay_conf(
            s, True, "tls_ca = %s" % other.ca)).start()
        line = p3.wait_log(r"relay team: TLS handshake failed", 20)
        assert "not accepted" in line, line
    finally:
        s.stop()


def test_nick_collision_then_back(parley_factory, mock, ngircd):
    holder = teammate(ngircd, nick="parley")
    bob = teammate(ngircd)
    start(parley_factory, mock, ngircd)
    bot_joined(bob, nick="parley_")
    holder.send("QUIT :bye")
    bob.expect(lambda m: m.command == "NICK" and m.nick == "parley_"
               and m.params[0] == "parley", timeout=15)


def test_kick_then_rejoin_with_a_notice(parley_factory, mock, ngircd):
    bob = teammate(ngircd)  # first in: channel operator
    start(parley_factory, mock, ngircd)
    bot_joined(bob)
    bob.send("KICK %s parley :testing" % CHAN)
    bot_joined(bob, timeout=15)
    note = bot_says(bob, "kicked me")
    assert "bob" in note.params[1] and "testing" in note.params[1]


def test_channel_with_a_key(parley_factory, mock, inspircd):
    bob = teammate(inspircd, chan="#locked")
    bob.send("MODE #locked +k sesame")
    bob.expect(lambda m: m.command == "MODE")
    start(parley_factory, mock, inspircd, channels="#locked sesame")
    bot_joined(bob)


def test_dms_only_in_the_dm_channel(parley_factory, mock, ngircd):
    bob = teammate(ngircd)
    carol = teammate(ngircd, nick="carol", chan="#team-dm")
    start(parley_factory, mock, ngircd, extra="dm_channel = #team-dm")
    bot_joined(bob)
    bot_joined(carol)
    time.sleep(0.5)  # the bot hears its own JOIN after carol does
    wait_stream(mock)
    mock.add_dm("dave@example.social", "a secret for you")
    line = bot_says(carol, "a secret for you")
    assert line.params[0] == "#team-dm"
    assert "(DM) dave@example.social:" in line.params[1]
    mock.add_mention("erin@example.social", "a public one")
    bot_says(bob, "a public one")
    assert not any("secret" in m.params[-1] for m in bob.collect(1)
                   if m.nick == "parley")
    # a reply by name in the DM channel stays a DM
    carol.say("#team-dm", "dave: got it")
    post = wait_posted(mock, 1)
    assert post["params"]["visibility"] == "direct"


def test_no_dm_channel_no_dms(parley_factory, mock, ngircd):
    bob = teammate(ngircd)
    start(parley_factory, mock, ngircd)
    bot_joined(bob)
    wait_stream(mock)
    mock.add_dm("dave@example.social", "private words")
    mock.add_mention("erin@example.social", "public words")
    bot_says(bob, "public words")
    assert not any("private" in m.params[-1] for m in bob.lines
                   if m.nick == "parley" and m.params)


def test_long_post_split_within_512_bytes(parley_factory, mock, inspircd):
    bob = teammate(inspircd)
    start(parley_factory, mock, inspircd)
    bot_joined(bob)
    wait_stream(mock)
    words = ["word%03d" % i for i in range(180)]
    mock.add_mention("alice@example.social", " ".join(words))
    got = []
    deadline = time.time() + 20
    while time.time() < deadline and "word179" not in " ".join(got):
        for m in bob.collect(1):
            if m.nick == "parley" and m.command == "PRIVMSG":
                assert len(m.raw.encode()) + 2 <= 512, len(m.raw)
                got.append(m.params[1])
    text = " ".join(got)
    for w in words:
        assert w in text, w
    assert len(got) >= 3
