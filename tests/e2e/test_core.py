"""The core as an IRC user meets it: registration, channels, the control
channel, limits, configuration, signals and the store."""
import os
import signal
import socket
import stat
import subprocess
import time

import pytest

from conftest import BIN


def test_registration_without_cap(parley):
    c = parley.client()
    c.send("NICK alice")
    c.send("USER alice 0 * :Alice")
    welcome = c.expect("001")
    assert welcome.params[0] == "alice"
    for num in ("002", "003", "004"):
        c.expect(num)
    isupport = c.expect("005")
    assert "CASEMAPPING=ascii" in isupport.raw and "CHANTYPES=#&" in isupport.raw
    c.expect("376")  # end of MOTD
    join = c.expect("JOIN")
    assert join.params[0] == "&parley" and join.nick == "alice"
    topic = c.expect("332")
    assert "help" in topic.params[2]
    names = c.expect("353")
    assert "@parley" in names.params[3].split() and "alice" in names.params[3]
    # No tags without message-tags or server-time.
    assert not any(m.raw.startswith("@") for m in c.lines)


def test_registration_with_cap_302(parley):
    c = parley.client()
    c.send("CAP LS 302")
    c.send("NICK bob")
    c.send("USER bob 0 * :Bob")
    ls = c.expect("CAP")
    caps = ls.params[2].split()
    for want in ("message-tags", "server-time", "echo-message", "sasl=PLAIN",
                 "cap-notify", "multi-prefix"):
        assert want in caps
    # Registration waits for CAP END.
    assert not any(m.command == "001" for m in c.collect(0.3))
    c.send("CAP REQ :server-time message-tags bogus-cap")
    nak = c.expect("CAP")
    assert nak.params[1] == "NAK"
    c.send("CAP REQ :server-time message-tags echo-message")
    ack = c.expect("CAP")
    assert ack.params[1] == "ACK"
    c.send("CAP END")
    c.expect("001")
    c.expect(lambda m: m.command == "366")
    c.say("&parley", "hello world")
    echo = c.expect(lambda m: m.command == "PRIVMSG" and m.nick == "bob")
    assert "time" in echo.tags and echo.tags["time"].endswith("Z")
    assert "msgid" in echo.tags
    c.send("CAP LIST")
    lst = c.expect("CAP")
    assert set(lst.params[2].split()) >= {"server-time", "message-tags",
                                          "echo-message"}


def test_sasl_plain_success_and_failure(parley_factory):
    p = parley_factory(irc_extra="password = s3cret").start()
    ok = p.client()
    res = ok.register("sam", sasl=("sam", "s3cret"))
    assert res.command == "001"
    assert any(m.command == "900" for m in ok.lines)
    bad = p.client()
    res = bad.register("eve", sasl=("eve", "wrong"))
    assert res.command == "904"
    # Without a valid password the registration is refused.
    res = bad.expect(lambda m: m.command in ("001", "464"))
    assert res.command == "464"
    bad.wait_closed()
    assert any(m.command == "ERROR" for m in bad.lines)


def test_pass_password(parley_factory):
    p = parley_factory(irc_extra="password = s3cret").start()
    good = p.client()
    assert good.register("good", password="s3cret").command == "001"
    wrong = p.client()
    assert wrong.register("wrong", password="nope").command == "464"
    wrong.wait_closed()
    missing = p.client()
    assert missing.register("missing").command == "464"


def test_two_clients_share_channels(parley):
    a = parley.client()
    a.welcome("alice")
    b = parley.client()
    b.welcome("bob")
    a.expect(lambda m: m.command == "JOIN" and m.nick == "bob")
    a.send("JOIN #team")
    a.expect(lambda m: m.command == "366" and m.params[1] == "#team")
    b.send("JOIN #team")
    names = b.expect(lambda m: m.command == "353" and m.params[2] == "#team")
    assert set(names.params[3].split()) == {"@alice", "bob"}, "creator: @"
    a.expect(lambda m: m.command == "JOIN" and m.nick == "bob")
    b.say("#team", "hi alice")
    got = a.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "#team")
    assert got.nick == "bob" and got.params[1] == "hi alice"
    a.say("bob", "private hello")
    got = b.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "bob")
    assert got.params[1] == "private hello" and got.nick == "alice"
    b.send("PART #team :bye")
    part = a.expect("PART")
    assert part.nick == "bob" and part.params == ["#team", "bye"]
    b.send("QUIT :gone")
    quit_ = a.expect("QUIT")
    assert quit_.nick == "bob" and "gone" in quit_.params[0]


def test_numerics_for_errors(parley):
    c = parley.client()
    c.send("PRIVMSG #x :too early")
    assert c.expect(lambda m: m.command in ("451",)).command == "451"
    c.send("NICK 1bad")
    assert c.expect("432").params[1] == "1bad"
    c.send("NICK parley")
    assert c.expect("433").params[1] == "parley"
    c.welcome("carol")
    c.send("FOO bar")
    assert c.expect("421").params[1] == "FOO"
    c.send("PRIVMSG nobody :hello")
    assert c.expect("401").params[1] == "nobody"
    c.send("JOIN")
    assert c.expect("461").params[1] == "JOIN"
    c.send("PART #notthere")
    assert c.expect("403").params[1] == "#notthere"
    c.send("JOIN &mine")
    assert c.expect("403").params[1] == "&mine"
    c.send("USER again 0 * :x")
    assert c.expect("462")
    c.send("PRIVMSG #nojoin :x")
    assert c.expect(lambda m: m.command in ("403", "404"))
    c.send("WHOIS parley")
    assert c.expect("311").params[1] == "parley"
    c.expect("318")
    c.send("MODE &parley")
    assert c.expect("324").params[2] == "+nt"
    c.send("MODE &parley +m")
    assert c.expect("482")
    c.send("TOPIC &parley :mine now")
    assert c.expect("482")
    c.send("WHO &parley")
    who = [c.expect("352"), c.expect("352")]
    assert {w.params[5] for w in who} == {"parley", "carol"}
    c.expect("315")
    c.send("LIST")
    entry = c.expect("322")
    assert entry.params[1] == "&parley"
    c.expect("323")
    c.send("AWAY :lunch")
    c.expect("306")
    c.send("AWAY")
    c.expect("305")
    c.send("PING :tok123")
    pong = c.expect("PONG")
    assert pong.params[-1] == "tok123"


def test_extra_parameters_are_ignored(parley):
    """Parameters past the most a command takes are dropped, not merged
    into the last one it reads."""
    a = parley.client()
    a.welcome("alice")
    b = parley.client()
    b.welcome("bob")
    a.send("PRIVMSG bob hello there")
    got = b.expect(lambda m: m.command == "PRIVMSG" and m.params[0] == "bob")
    assert got.params[1] == "hello"
    # USERHOST takes five nicks: bob, sixth, is not looked up.
    a.send("USERHOST x1 x2 x3 x4 x5 bob")
    assert a.expect("302").params[-1] == ""
    a.send("USERHOST bob x1")
    assert a.expect("302").params[-1].startswith("bob=+")
    a.send("PING tok extra")
    assert a.expect("PONG").params[-1] == "tok"


def test_nick_change_seen_by_others(parley):
    a = parley.client()
    a.welcome("alice")
    b = parley.client()
    b.welcome("bob")
    b.send("NICK robert")
    mine = b.expect("NICK")
    assert mine.nick == "bob" and mine.params[0] == "robert"
    other = a.expect("NICK")
    assert other.nick == "bob" and other.params[0] == "robert"
    a.send("NICK robert")
    assert a.expect("433")


def test_control_channel_help_and_accounts(parley):
    c = parley.client()
    c.welcome("alice")
    c.say("&parley", "help")
    lines = c.bot_lines()
    assert any("account add" in l for l in lines)
    c.say("&parley", "help account add")
    assert any("account add NAME NETWORK" in l for l in c.bot_lines())
    c.say("&parley", "account list")
    assert any("no accounts" in l for l in c.bot_lines())
    c.say("&parley", "account add work nosuchnet")
    assert any("not known" in l for l in c.bot_lines())
    c.say("&parley", "account add 'bad name' mastodon")
    assert any("letters, digits" in l for l in c.bot_lines())
    c.say("&parley", "account add work mastodon base_url=ftp://x")
    assert c.bot_lines(), "a bad base_url gets an answer"
    # An account with a handle but no token: stored, off the network until
    # it signs in.
    c.say("&parley", "account add work mastodon @me@social.invalid streaming=no")
    lines = c.bot_lines(seconds=2)
    assert any("account work added" in l for l in lines), lines
    join = [m for m in c.lines if m.command == "JOIN" and m.params[0] == "#work"]
    assert join, "joined to the account channel"
    c.say("&parley", "account list")
    lines = c.bot_lines()
    assert any(l.startswith("work: mastodon in #work") for l in lines), lines
    c.say("&parley", "account set work poll_seconds 2")
    assert any("must be a number" in l for l in c.bot_lines())
    c.say("&parley", "account set work token abc123secret")
    lines = c.bot_lines(seconds=2)
    assert any("token set" in l for l in lines)
    c.say("&parley", "account list")
    lines = c.bot_lines()
    assert not any("abc123secret" in l for l in lines)
    assert any("token=(hidden)" in l for l in lines)
    c.say("&parley", "status")
    lines = c.bot_lines(seconds=2)
    assert any(l.startswith("Parley: up") for l in lines)
    assert any(l.startswith("work (mastodon)") for l in lines), lines
    c.say("&parley", "account off work")
    assert any("work is off" in l for l in c.bot_lines())
    c.say("&parley", "outbox")
    assert any("empty" in l for l in c.bot_lines())
    c.say("&parley", "account del work")
    assert any("account work removed" in l for l in c.bot_lines())
    part = [m for m in c.lines if m.command == "PART" and m.params[0] == "#work"]
    assert part
    assert "abc123secret" not in parley.logtext()


def test_control_in_query_with_bot(parley):
    c = parley.client()
    c.welcome("alice")
    c.say("parley", "help")
    got = c.expect(lambda m: m.nick == "parley" and m.params[0] == "alice")
    assert "account" in got.params[1]


def test_account_settings_survive_kill9(parley_factory):
    p = parley_factory().start()
    c = p.client()
    c.welcome("alice")
    c.say("&parley", "account add keep mastodon @me@social.invalid streaming=no")
    assert any("added" in l for l in c.bot_lines(seconds=2))
    p.kill9()
    p.start()
    c = p.client()
    c.welcome("alice")
    c.expect(lambda m: m.command == "366" and m.params[1] == "#keep")
    c.say("&parley", "account list")
    lines = c.bot_lines()
    assert any(l.startswith("keep: mastodon in #keep") for l in lines), lines


def test_state_dir_modes(parley):
    st = os.stat(parley.state)
    assert stat.S_IMODE(st.st_mode) == 0o700
    db = os.path.join(parley.state, "parley.db")
    assert stat.S_IMODE(os.stat(db).st_mode) == 0o600


def test_100kb_without_newline(parley):
    other = parley.client()
    other.welcome("other")
    bad = parley.client()
    bad.welcome("flooder")
    try:
        bad.send_raw(b"PRIVMSG &parley :" + b"x" * 100_000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    too_long = bad.expect(lambda m: m.command in ("417", "ERROR"))
    assert too_long.command == "417"
    bad.wait_closed()
    assert "too long" in bad.lines[-1].raw.lower()
    other.say("&parley", "still here?")
    other.send("PING :alive")
    assert other.expect("PONG").params[-1] == "alive"


def test_binary_garbage(parley):
    other = parley.client()
    other.welcome("other")
    junk = parley.client()
    payload = bytes(range(256)) * 40 + b"\r\n\x00\x01NICK \xff\xfe\r\n"
    try:
        junk.send_raw(payload)
        junk.send_raw(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" * 2000)
    except (BrokenPipeError, ConnectionResetError):
        pass
    junk.collect(1)
    # The gateway is alive and serving.
    other.send("PING :ok")
    assert other.expect("PONG").params[-1] == "ok"
    fresh = parley.client()
    fresh.welcome("fresh")


def test_invalid_utf8_rejected(parley):
    c = parley.client()
    c.welcome("alice", caps=["message-tags"])
    c.send(b"PRIVMSG &parley :caf\xe9")
    fail = c.expect(lambda m: m.command == "FAIL")
    assert fail.params[1] == "INVALID_UTF8"


def test_burst_of_10000_privmsgs(parley):
    rx = parley.client()
    rx.welcome("rx")
    rx.send("JOIN #burst")
    rx.expect(lambda m: m.command == "366" and m.params[1] == "#burst")
    tx = parley.client()
    tx.welcome("tx")
    tx.send("JOIN #burst")
    tx.expect(lambda m: m.command == "366" and m.params[1] == "#burst")
    n = 10000
    blob = b"".join(b"PRIVMSG #burst :message %d\r\n" % i for i in range(n))
    tx.send_raw(blob)
    seen = []
    deadline = time.time() + 60
    while len(seen) < n and time.time() < deadline:
        for m in rx.collect(0.5):
            if m.command == "PRIVMSG" and m.params[0] == "#burst":
                seen.append(m.params[1])
    assert len(seen) == n
    assert seen == ["message %d" % i for i in range(n)]
    tx.send("PING :after")
    assert tx.expect("PONG", timeout=30).params[-1] == "after"


def test_client_that_never_reads(parley):
    slow = parley.client(rcvbuf=4096)
    slow.welcome("slow")
    slow.send("JOIN #busy")
    slow.expect(lambda m: m.command == "366" and m.params[1] == "#busy")
    fast = parley.client()
    fast.welcome("fast")
    fast.send("JOIN #busy")
    fast.expect(lambda m: m.command == "366" and m.params[1] == "#busy")
    talker = parley.client()
    talker.welcome("talker")
    talker.send("JOIN #busy")
    talker.expect(lambda m: m.command == "366" and m.params[1] == "#busy")
    line = "y" * 400
    total = 8000
    received = 0
    quit_seen = False
    for chunk in range(0, total, 500):
        talker.send_raw(b"".join(("PRIVMSG #busy :%d %s\r\n" % (i, line)).encode()
                                 for i in range(chunk, chunk + 500)))
        for m in fast.collect(0.05):
            if m.command == "PRIVMSG":
                received += 1
            if m.command == "QUIT" and m.nick == "slow":
                quit_seen = True
    deadline = time.time() + 60
    while (received < total or not quit_seen) and time.time() < deadline:
        for m in fast.collect(0.5):
            if m.command == "PRIVMSG":
                received += 1
            if m.command == "QUIT" and m.nick == "slow":
                quit_seen = True
                assert "SendQ" in m.params[0]
    assert received == total, "the reading client got every line"
    assert quit_seen, "the client that never reads was disconnected"


def test_client_limit(parley_factory):
    p = parley_factory(irc_extra="max_clients = 2").start()
    a = p.client()
    a.welcome("a")
    b = p.client()
    b.welcome("b")
    c = p.client()
    c.wait_closed()
    assert "Too many connections" in c.lines[-1].raw
    a.send("PING :x")
    a.expect("PONG")


def test_silent_client_is_pinged_then_dropped(parley_factory):
    p = parley_factory(irc_extra="ping_seconds = 5").start()
    alive = p.client()
    alive.welcome("alive")
    dead = p.client()
    dead.auto_pong = False
    dead.welcome("dead")
    # alive answers every PING; dead reads but never answers.
    quit_ = alive.expect(lambda m: m.command == "QUIT" and
                         m.prefix.startswith("dead!"), timeout=20)
    assert "Ping timeout" in quit_.params[0]
    dead.wait_closed(timeout=5)
    cmds = [m.command for m in dead.lines]
    assert "PING" in cmds
    assert "Ping timeout" in dead.lines[-1].raw, dead.lines[-1].raw
    assert any(m.command == "PING" for m in alive.lines), "alive was pinged"
    alive.send("PING :still")
    alive.expect("PONG")


def test_ipv6_listen(parley_factory):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        s = socket.socket(socket.AF_INET6)
        s.bind(("::1", 0))
        s.close()
    except OSError:
        pytest.skip("no ::1 on this machine")
    p = parley_factory(listen="[::1]:0").start()
    c = p.client(host="::1")
    c.welcome("six")


def run_check(tmp_path, text):
    conf = tmp_path / "bad.conf"
    conf.write_text(text)
    return subprocess.run([BIN, "--check-config", "-c", str(conf)],
                          capture_output=True, text=True, timeout=20)


@pytest.mark.parametrize("text,line,words", [
    ("[gateway]\nstate_dir = s\nbogus = 1\n", 3, "unknown key 'bogus'"),
    ("[gateway]\n[nowhere]\n", 2, "unknown section [nowhere]"),
    ("[irc]\nlisten = 127.0.0.1\n", 2, "no :port"),
    ("[irc]\nlisten = 127.0.0.1:99999\n", 2, "port"),
    ("[gateway]\nlog_level = loud\n", 2, "log_level"),
    ("[account m]\nnetwork = nosuch\n", 2, "not known"),
    ("[account m]\nnetwork = mastodon\nstreaming = maybe\n", 3, "yes or no"),
    ("[account m]\nnetwork = mastodon\nwhat = x\n", 3, "unknown key 'what'"),
    ("[account m]\nnetwork = mastodon\npoll_seconds = 1\n", 3, "poll_seconds"),
    ("[irc]\nping_seconds = 2\n", 2, "ping_seconds must be"),
    ("[irc]\nlisten = 127.0.0.1:1\nlisten = 127.0.0.1:2\n", 3, "already set"),
    ("just garbage\n", 1, ""),
    ("[account m]\nnetwork = mastodon\nbase_url = gopher://x\n", 3, ""),
])
def test_bad_configuration_lines(tmp_path, text, line, words):
    r = run_check(tmp_path, text)
    assert r.returncode != 0
    assert ("bad.conf:%d:" % line) in r.stderr, r.stderr
    assert words in r.stderr


def test_public_listen_needs_password(tmp_path):
    r = run_check(tmp_path, "[irc]\nlisten = 0.0.0.0:6667\n")
    assert r.returncode != 0 and "password" in r.stderr
    r = run_check(tmp_path, "[irc]\nlisten = 0.0.0.0:6667\npassword = x\n")
    assert r.returncode == 0, r.stderr


def test_default_config_is_valid():
    conf = os.path.join(os.path.dirname(BIN) if os.path.basename(
        os.path.dirname(BIN)) != "asan" else ".", "gateway.conf")
    root = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    r = subprocess.run([BIN, "--check-config", "-c",
                        os.path.join(root, "gateway.conf")],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr + conf


def test_help_and_version():
    r = subprocess.run([BIN, "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--check-config" in r.stdout
    r = subprocess.run([BIN, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("parley ")
    r = subprocess.run([BIN, "--nope"], capture_output=True, text=True)
    assert r.returncode == 2


def test_sighup_reload_keeps_clients(parley_factory):
    p = parley_factory().start()
    c = p.client()
    c.welcome("alice")
    p.write_conf(conf_extra="[account late]\nnetwork = mastodon\n"
                 "handle = @me@social.invalid\nstreaming = no\n")
    p.signal(signal.SIGHUP)
    join = c.expect(lambda m: m.command == "JOIN" and m.params[0] == "#late")
    assert join.nick == "alice"
    # A broken config is refused and the running one kept.
    with open(p.conf, "a") as f:
        f.write("nonsense_key = 1\n")
    p.signal(signal.SIGHUP)
    p.wait_log("reload refused")
    c.send("PING :still")
    assert c.expect("PONG").params[-1] == "still"
    # Removing the account from the file removes it.
    p.write_conf()
    p.signal(signal.SIGHUP)
    part = c.expect(lambda m: m.command == "PART" and m.params[0] == "#late")
    assert part.nick == "alice"


def test_sigterm_is_graceful(parley_factory):
    p = parley_factory().start()
    c = p.client()
    c.welcome("alice")
    assert p.stop() == 0
    c.wait_closed()
    assert any(m.command == "ERROR" and "shutting down" in m.raw
               for m in c.lines)


def test_corrupt_database_is_refused(parley_factory):
    p = parley_factory()
    os.makedirs(p.state, mode=0o700, exist_ok=True)
    with open(os.path.join(p.state, "parley.db"), "wb") as f:
        f.write(b"this is not a database" * 100)
    proc = subprocess.run([BIN, "-c", p.conf], capture_output=True, text=True,
                          timeout=20)
    assert proc.returncode != 0
    assert "parley.db" in proc.stderr
    assert "AddressSanitizer" not in proc.stderr


def test_many_clients_that_never_read(parley):
    """Several slow readers in one channel go over their send queue in the
    same fan-out; each is dropped, nobody else notices, the server lives."""
    slow = []
    for i in range(12):
        s = parley.client(rcvbuf=4096)
        s.welcome("slow%d" % i)
        s.send("JOIN #crowd")
        s.expect(lambda m: m.command == "366" and m.params[1] == "#crowd")
        slow.append(s)
    fast = parley.client()
    fast.welcome("fast")
    fast.send("JOIN #crowd")
    fast.expect(lambda m: m.command == "366" and m.params[1] == "#crowd")
    talkers = []
    for i in range(3):
        t = parley.client()
        t.welcome("talk%d" % i)
        t.send("JOIN #crowd")
        t.expect(lambda m: m.command == "366" and m.params[1] == "#crowd")
        talkers.append(t)
    line = "z" * 400
    total = 0
    for chunk in range(6):
        for t in talkers:
            t.send_raw(b"".join(("PRIVMSG #crowd :%d %s\r\n" % (i, line))
                                .encode() for i in range(400)))
            total += 400
        fast.collect(0.05)
        for t in talkers:  # they read what the others say: not slow
            t.collect(0.01)

    def seen(command):
        return [m for m in fast.lines if m.command == command]

    deadline = time.time() + 60
    while ((len(seen("PRIVMSG")) < total or len(seen("QUIT")) < len(slow))
           and time.time() < deadline):
        fast.collect(0.5)
        for t in talkers:
            t.collect(0.01)
    assert len(seen("PRIVMSG")) == total
    assert {m.nick for m in seen("QUIT")} == {"slow%d" % i for i in range(12)}
    fresh = parley.client()
    fresh.welcome("fresh")


def test_second_gateway_on_same_state_refuses(parley):
    proc = subprocess.run([BIN, "-c", parley.conf], capture_output=True,
                          text=True, timeout=20, cwd=parley.workdir)
    assert proc.returncode != 0
    assert "already running" in proc.stderr
    c = parley.client()
    c.welcome("still")
