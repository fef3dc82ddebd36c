"""A team's day on Parley's own server, scripted: three teammates signed in
as themselves, a hundred and sixty mentions and DMs, answers in every style
(nick: text, !re, +draft/reply, a DM query, !done), some contested, some
late across a graceful restart with the network failing and a kill -9 in a
burst. At the end nothing is unseen, lost, misrouted, doubled or left open.
"""
import os
import re
import sqlite3
import time

from test_mastodon import account_conf, wait_stream
from test_people import users_conf

TEAM = {"ann": "pw-ann", "bob": "pw-bob", "cat": "pw-cat"}
N_MENTIONS = 90
N_DMS = 30          # from 10 people, 3 each
N_LATE = 60         # a second burst, cut by kill -9


def join(p, name):
    c = p.client(timeout=30)
    res = c.register(name, sasl=(name, TEAM[name]),
                     caps=["server-time", "message-tags", "echo-message"])
    assert res.command == "001", res
    c.expect(lambda m: m.command == "366" and m.params[1] == "#masto")
    return c


def refs_seen(clients, want, timeout=60):
    """text -> ref of every shown post whose text is in want, as one
    person sees them over their connections, in order (live, then played
    back): each exactly once."""
    found = {}
    deadline = time.time() + timeout
    clients = list(clients)
    while len(found) < len(want) and time.time() < deadline:
        c = clients[0]
        lines = c.collect(0.3)
        if not lines and len(clients) > 1:
            clients.pop(0)  # that connection is done: the next one
            continue
        for m in lines:
            if m.command != "PRIVMSG" or not m.params[1].startswith("["):
                continue
            g = re.match(r"\[([0-9a-z]+)\] (.*)$", m.params[1])
            if g and g.group(2) in want:
                assert g.group(2) not in found, "shown twice: %r" % m.raw
                found[g.group(2)] = (g.group(1), m)
    missing = set(want) - set(found)
    assert not missing, "never shown: %s" % sorted(missing)[:5]
    return found


def wait_taken(p, n, timeout=60):
    """Until the gateway holds n actions in its outbox. A line typed on IRC
    is the gateway's once it is stored there; one still in flight when the
    gateway stops is the IRC server's to deliver, which no IRC server does
    to someone who left. The day tests what happens to stored answers."""
    def count():
        con = sqlite3.connect(os.path.join(p.state, "parley.db"), timeout=5)
        try:
            return con.execute("select count(*) from outbox").fetchone()[0]
        finally:
            con.close()
    deadline = time.time() + timeout
    while count() < n:
        assert time.time() < deadline, "the outbox holds %d of %d" % (
            count(), n)
        time.sleep(0.2)


def replies_to(mock, status_id):
    return [p["status"] for p in mock.posted
            if p["status"].get("in_reply_to_id") == status_id]


def test_a_team_day(parley_factory, mock):
    p = parley_factory(conf_extra=account_conf(mock) +
                       users_conf(admin="ann", **TEAM)).start()
    team = {n: join(p, n) for n in TEAM}
    ann = team["ann"]
    wait_stream(mock)

    # The morning: mentions, each from a person of their own, and DMs.
    mentions = {}
    for i in range(N_MENTIONS):
        n = mock.add_mention("u%d@example.social" % i, "m%d asks" % i)
        mentions[i] = n["status"]["id"]
    dms = {}
    for k in range(N_DMS):
        who = "dm%d@example.social" % (k % 10)
        n = mock.add_dm(who, "d%d psst" % k)
        dms.setdefault(k % 10, []).append(n["status"]["id"])
    seen = refs_seen([ann], {"m%d asks" % i for i in range(N_MENTIONS)})
    ref = {i: seen["m%d asks" % i][0] for i in range(N_MENTIONS)}

    # Answers in every style, by whoever's turn it is.
    def answer(i):
        c = team[("ann", "bob", "cat")[i % 3]]
        style = i % 4
        if style == 0:
            c.say("#masto", "u%d: thanks %d" % (i, i))
        elif style == 1:
            c.say("#masto", "!re %s thanks %d" % (ref[i], i))
        elif style == 2:
            c.send("@+draft/reply=%s PRIVMSG #masto :thanks %d" % (ref[i], i))
        else:
            c.say("#masto", "!done %s" % ref[i])

    half = N_MENTIONS // 2
    for i in range(half):
        answer(i)
    # Contested: a second teammate answers what another just answered;
    # held, and confirmed for the even ones.
    contested = [i for i in range(0, half, 5) if i % 4 != 3]
    for i in contested:
        other = team[("bob", "cat", "ann")[i % 3]]
        other.say("#masto", "!re %s me too %d" % (ref[i], i))
        other.expect(lambda m: m.command == "NOTICE" and "[%s]" % ref[i] in
                     m.params[-1] and "!re! %s" % ref[i] in m.params[-1],
                     timeout=20)
        if i % 2 == 0:
            other.say("#masto", "!re! %s" % ref[i])

    # DMs: each person's conversation answered once, in the query.
    for k in range(10):
        team[("cat", "ann", "bob")[k % 3]].say("dm%d" % k, "got it %d" % k)

    # Late: the network fails posting; the rest of the answers wait in the
    # outbox across a graceful restart.
    assert mock.wait_for(lambda: len(mock.posted) >= 1, timeout=30)
    mock.fail(r"^/api/v1/statuses$", status=503, method="POST")
    for i in range(half, N_MENTIONS):
        answer(i)
    wait_taken(p, sum(1 for i in range(N_MENTIONS) if i % 4 != 3) +
               sum(1 for i in contested if i % 2 == 0) + 10)
    p.stop()
    mock.clear_failures()
    p.start()
    team = {n: join(p, n) for n in TEAM}
    wait_stream(mock)

    # A second burst, cut by kill -9; then the day goes on.
    late = {}
    for i in range(N_LATE):
        n = mock.add_mention("late%d@example.social" % i, "l%d asks" % i)
        late[i] = n["status"]["id"]
    time.sleep(0.05)
    before = team["ann"]
    p.kill9()
    p.start()
    team = {n: join(p, n) for n in TEAM}
    wait_stream(mock)
    # Nothing of the burst unseen: what ann's first connection did not get
    # before the kill, the read position plays back to her next, once.
    seen = refs_seen([before, team["ann"]],
                     {"l%d asks" % i for i in range(N_LATE)})
    for i in range(N_LATE):
        team[("bob", "cat", "ann")[i % 3]].say(
            "#masto", "!re %s late %d" % (seen["l%d asks" % i][0], i))

    day = {"mentions": mentions, "late": late, "dms": dms,
           "contested": contested,
           "first": lambda i: ("ann", "bob", "cat")[i % 3],
           "second": lambda i: ("bob", "cat", "ann")[i % 3],
           "late_by": lambda i: ("bob", "cat", "ann")[i % 3]}
    check_the_day(p, mock, day)

    # Nothing left open.
    ann = team["ann"]
    ann.say("#masto", "!pending")
    ann.expect(lambda m: m.command == "NOTICE" and
               "nothing is waiting for an answer" in m.params[-1], timeout=20)


def check_the_day(p, mock, day):
    """What a day must end with, wherever the team worked. day: mentions
    (i -> status id), late (i -> id), dms (person -> ids, answered once by
    name), contested (indexes answered twice when even), first (i -> who
    answered mention i), second (i -> who contested it), late_by (i -> who
    answered late one i). Mention i % 4 == 3 was marked done."""
    mentions, late, dms = day["mentions"], day["late"], day["dms"]
    contested = day["contested"]
    want_posts = (sum(1 for i in mentions if i % 4 != 3) +
                  sum(1 for i in contested if i % 2 == 0) + len(dms) +
                  len(late))
    if not mock.wait_for(lambda: len(mock.posted) >= want_posts,
                         timeout=120):
        short = [i for i in mentions if i % 4 != 3 and
                 len(replies_to(mock, mentions[i])) < 1]
        short += ["late %d" % i for i in late
                  if not replies_to(mock, late[i])]
        short += ["dm %d" % k for k in dms if not replies_to(mock, dms[k][-1])]
        # what the gateway said about the relay and the outbox, to tell
        # a line never received from an answer never sent
        said = [x for x in p.logtext().splitlines()
                if "relay" in x or "outbox" in x][-40:]
        raise AssertionError("posted %d of %d; unanswered: %s\n%s"
                             % (len(mock.posted), want_posts, short,
                                "\n".join(said)))
    time.sleep(2)   # anything doubled would show up now
    assert len(mock.posted) == want_posts

    # Every answer went to the post it answered, once (twice where a
    # contest was confirmed); !done ones got none.
    for i in mentions:
        got = replies_to(mock, mentions[i])
        want = 0 if i % 4 == 3 else 2 if i in contested and i % 2 == 0 \
            else 1
        assert len(got) == want, (i, got)
        for st in got:
            assert "@<span>u%d</span>" % i in st["content"], st
    for i in late:
        assert len(replies_to(mock, late[i])) == 1, i
    # DMs stayed direct, to the right person, in their conversation: the
    # answer went to the latest, and answered the earlier ones with it.
    for k in dms:
        got = replies_to(mock, dms[k][-1])
        assert len(got) == 1, (k, got)
        assert got[0]["visibility"] == "direct"
        assert "@<span>dm%d</span>" % k in got[0]["content"], got
        for earlier in dms[k][:-1]:
            assert not replies_to(mock, earlier)

    # The store holds each post once, answered by the person who answered
    # (who signed in, or who the team's network says), not by a nick.
    con = sqlite3.connect(os.path.join(p.state, "parley.db"))
    try:
        ids = [r[0] for r in con.execute(
            "select network_id from posts where kind in ('mention', 'dm')")]
        who = dict(con.execute(
            "select network_id, answered_by from posts where kind = 'mention'"))
    finally:
        con.close()
    ndms = sum(len(v) for v in dms.values())
    assert len(ids) == len(set(ids)) == len(mentions) + ndms + len(late)
    for i in mentions:
        ok = {day["first"](i)}
        if i in contested and i % 2 == 0:
            ok.add(day["second"](i))
        assert who[mentions[i]] in ok, (i, who[mentions[i]])
    for i in late:
        assert who[late[i]] == day["late_by"](i), (i, who[late[i]])
