"""Hostile and clumsy clients at the door: wrong passwords, connections
that never register, and secrets typed where teammates read."""
import base64
import socket
import sqlite3
import time

PASSWORD = "right-horse"


def wrong_pass(p, nick, password="hunter2x"):
    """One registration with a wrong PASS; returns how long the answer
    took."""
    c = p.client(timeout=40)
    t0 = time.time()
    res = c.register(nick, password=password)
    assert res.command == "464", res
    took = time.time() - t0
    c.wait_closed()
    c.close()
    return took


def test_wrong_passwords_are_throttled(parley_factory):
    p = parley_factory(irc_extra="password = " + PASSWORD).start()
    # A few mistakes cost nothing.
    free = [wrong_pass(p, "typo%d" % i) for i in range(3)]
    assert max(free) < 1.0, free
    # Then every further guess from this address waits longer.
    slow = [wrong_pass(p, "guess%d" % i) for i in range(2)]
    assert slow[0] >= 0.8 and slow[1] >= 1.6, slow
    # Guesses on parallel connections queue behind each other.
    clients = [p.client(timeout=40) for _ in range(4)]
    t0 = time.time()
    for i, c in enumerate(clients):
        c.send("PASS hunter2x")
        c.send("NICK par%d" % i)
        c.send("USER par 0 * :x")
    answered = 0
    deadline = t0 + 3.0
    for c in clients:
        try:
            c.expect("464", timeout=max(0.1, deadline - time.time()))
            answered += 1
        except AssertionError:
            pass
    assert answered <= 1, "%d wrong passwords answered in 3 s" % answered
    for c in clients:
        c.close()
    # The right password still gets in, after the wait.
    ok = p.client(timeout=40)
    assert ok.register("owner", password=PASSWORD).command == "001"
    # Each failure is logged with where it came from, never with what was
    # typed.
    log = p.logtext()
    assert "login failed" in log and "127.0.0.1" in log, log
    assert "hunter2x" not in log, "a password in the log"


def sasl_blob(user, password):
    return base64.b64encode(
        ("%s\0%s\0%s" % (user, user, password)).encode()).decode()


def sasl_tries(p, nick, passwords):
    """A client that negotiates sasl and tries each password in turn;
    returns it and the answer (903 or 904) to the last."""
    c = p.client(timeout=40)
    c.send("CAP LS 302")
    c.send("NICK " + nick)
    c.send("USER s 0 * :x")
    c.expect(lambda m: m.command == "CAP" and m.params[1] == "LS")
    c.send("CAP REQ :sasl")
    c.expect(lambda m: m.command == "CAP" and m.params[1] == "ACK")
    for password in passwords:
        c.send("AUTHENTICATE PLAIN")
        c.expect(lambda m: m.command == "AUTHENTICATE")
        c.send("AUTHENTICATE " + sasl_blob(nick, password))
        res = c.expect(lambda m: m.command in ("903", "904"))
    return c, res


def test_failed_sasl_closes_after_three(parley_factory):
    p = parley_factory(irc_extra="password = " + PASSWORD).start()
    c, res = sasl_tries(p, "sasser", ["wrong0", "wrong1", "wrong2"])
    assert res.command == "904"
    c.wait_closed()
    assert c.lines[-1].command == "ERROR", c.lines[-1]
    assert [m.command for m in c.lines].count("904") == 3
    # Two mistakes, then the right password: in.
    d, res = sasl_tries(p, "careful", ["wrong", "wronger", PASSWORD])
    assert res.command == "903"
    d.send("CAP END")
    d.expect("001")
    assert "wronger" not in p.logtext()


def test_idle_unregistered_connections_lock_nobody_out(parley_factory):
    p = parley_factory(irc_extra="max_clients = 5\nmax_unregistered = 10")
    p.start()
    member = p.client()
    member.welcome("member")
    idle = [socket.create_connection(("127.0.0.1", p.port))
            for _ in range(40)]
    time.sleep(0.5)
    # The oldest idle connections made room for the newer ones.
    closed = 0
    for s in idle[:30]:
        s.settimeout(5)
        data = b""
        try:
            while not data.endswith(b"\n"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            pass
        if b"ERROR" in data:
            closed += 1
    assert closed == 30, closed
    # A real client gets in at once.
    c = p.client()
    c.welcome("real")
    member.send("PING :alive")
    member.expect("PONG")
    for s in idle:
        s.close()


def bot_said(c, text, seconds=1.0):
    return [m for m in c.collect(seconds)
            if m.command == "PRIVMSG" and text in m.params[-1]]


SECRETS = ["tok3nvalue", "s3tvalue", "cl13ntsecret", "c0devalue",
           "apppassw0rd"]


def test_secrets_typed_in_control_channel_reach_nobody(parley_factory):
    p = parley_factory().start()
    alice = p.client()
    alice.welcome("alice", caps=["echo-message", "message-tags",
                                 "server-time", "batch",
                                 "draft/chathistory"])
    bob = p.client()
    bob.welcome("bob", caps=["message-tags", "server-time", "batch",
                             "draft/chathistory"])
    phone = p.client()
    phone.send("NICK alice")
    phone.send("USER phone 0 * :x")
    phone.expect("001")
    lines = [
        "account add work mastodon @me@social.invalid streaming=no "
        "token=tok3nvalue",
        "account set work token s3tvalue",
        "account set work client_secret cl13ntsecret",
        "account code work c0devalue",
        "!account set work app_password apppassw0rd",
    ]
    for line in lines:
        alice.say("&parley", line)
    alice.collect(2)
    seen_by_bob = " ".join(m.raw for m in bob.collect(1))
    seen_by_phone = " ".join(m.raw for m in phone.collect(0.5))
    echoes = [m.params[1] for m in alice.lines
              if m.command == "PRIVMSG" and m.nick == "alice"]
    for secret in SECRETS:
        assert secret not in seen_by_bob
        assert secret not in seen_by_phone
        assert not any(secret in e for e in echoes), echoes
    assert "account set work token ********" in echoes, echoes
    assert any("token=********" in e for e in echoes), echoes
    assert "account code work ********" in echoes, echoes
    # The command itself took effect.
    alice.say("&parley", "account list")
    assert any("token=(hidden)" in m.params[1] for m in alice.collect(1)
               if m.command == "PRIVMSG" and m.nick == "parley")
    # In a query with the bot: works, the echo and the other session see
    # it masked.
    alice.say("parley", "account set work token qu3rysecret")
    got = alice.collect(1)
    assert any(m.nick == "parley" and "token set" in m.params[1]
               for m in got), [m.raw for m in got]
    assert any(m.nick == "alice" and
               m.params[1] == "account set work token ********"
               for m in got), [m.raw for m in got]
    assert "qu3rysecret" not in " ".join(m.raw for m in phone.collect(0.5))
    assert "qu3rysecret" not in " ".join(m.raw for m in got)
    # Not in history, not in playback, not in the log, not in the store.
    for target in ("&parley", "parley"):
        bob.send("CHATHISTORY LATEST %s * 100" % target)
    hist = " ".join(m.raw for m in bob.collect(1))
    late = p.client()
    late.welcome("late")
    replay = " ".join(m.raw for m in late.collect(1))
    p.stop()
    db = sqlite3.connect(p.db)
    rows = " ".join(r[0] for r in db.execute("SELECT text FROM history"))
    db.close()
    for secret in SECRETS + ["qu3rysecret"]:
        assert secret not in hist
        assert secret not in replay
        assert secret not in p.logtext()
        assert secret not in rows
