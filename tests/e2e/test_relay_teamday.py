"""A team's day through the relay, scripted: the team lives in its own
channel on InspIRCd, Parley sits there as a bot. Three teammates answer
mentions and DMs in every style the relay takes (nick: text, !re,
parley: REF text, !done, a reply by name in the DM channel), some
contested, some late across a graceful restart with the network failing
and a kill -9 in a burst. At the end nothing is unseen, lost, misrouted,
doubled or left open, and each answer is recorded under who gave it.
"""
import re
import time

import pytest

import ircservers
from ircclient import Client
from test_relay import account_conf, relay_conf, wait_stream
from test_teamday import check_the_day, wait_taken

TEAM = ("ann", "bob", "cat")
N_MENTIONS = 45
N_DMS = 12          # from 4 people, 3 each
N_LATE = 30         # a second burst, cut by kill -9
CHAN, DMCHAN = "#team", "#team-dm"


def member(server, nick):
    c = Client(server.port, timeout=30)
    c.register(nick)
    for ch in (CHAN, DMCHAN):
        c.send("JOIN %s" % ch)
        c.expect(lambda m: m.command == "366" and m.params[1] == ch)
    return c


class Watcher:
    """A teammate who only reads: every line the bot says, in order,
    kept whole (expect() elsewhere would swallow lines)."""

    def __init__(self, server):
        self.c = member(server, "eve")
        self.lines = []

    def read(self, seconds):
        for m in self.c.collect(seconds):
            if m.command == "QUIT" and m.nick == "parley":
                raise AssertionError("the bot quit: %s" % m.raw)
            if m.command == "PRIVMSG" and m.nick == "parley":
                self.lines.append(m)

    def refs(self, want, timeout=90):
        """text -> ref of each post whose text is in want: each shown
        exactly once, in the channel it belongs to."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = {}
            for m in self.lines:
                g = re.match(r"\[([0-9a-z]+)\] (?:\(DM\) )?\S+: (.*)$",
                             m.params[1])
                if g and g.group(2) in want:
                    assert g.group(2) not in found, "shown twice: %r" % m.raw
                    found[g.group(2)] = (g.group(1), m.params[0])
            if len(found) == len(want):
                return found
            self.read(0.5)
        missing = set(want) - set(found)
        raise AssertionError("never shown: %s" % sorted(missing)[:5])

    def joined(self, timeout=30):
        self.c.expect(lambda m: m.command == "JOIN" and m.nick == "parley"
                      and m.params[0] == CHAN, timeout=timeout,
                      what="the bot joining")


@pytest.fixture
def server(tmp_path):
    # Flood limits raised, as in the 200-burst test, so that the day does
    # not take minutes; the relay is told to keep under them.
    s = ircservers.InspIRCd(tmp_path, commandrate=50000, threshold=50).start()
    yield s
    s.stop()


def test_a_team_day_through_the_relay(parley_factory, mock, server):
    team = {n: member(server, n) for n in TEAM}
    eve = Watcher(server)
    conf = account_conf(mock) + relay_conf(
        server, extra="dm_channel = %s\nflood_lines = 10\nflood_seconds = 1"
        % DMCHAN)
    p = parley_factory(conf_extra=conf).start()
    eve.joined()
    wait_stream(mock)

    mentions, dms = {}, {}
    for i in range(N_MENTIONS):
        n = mock.add_mention("u%d@example.social" % i, "m%d asks" % i)
        mentions[i] = n["status"]["id"]
    for k in range(N_DMS):
        n = mock.add_dm("dm%d@example.social" % (k % 4), "d%d psst" % k)
        dms.setdefault(k % 4, []).append(n["status"]["id"])
    seen = eve.refs({"m%d asks" % i for i in range(N_MENTIONS)} |
                    {"d%d psst" % k for k in range(N_DMS)})
    ref = {i: seen["m%d asks" % i][0] for i in range(N_MENTIONS)}
    for i in range(N_MENTIONS):
        assert seen["m%d asks" % i][1] == CHAN
    for k in range(N_DMS):
        assert seen["d%d psst" % k][1] == DMCHAN, "a DM in the team channel"

    def answer(i):
        c = team[TEAM[i % 3]]
        style = i % 4
        if style == 0:
            c.say(CHAN, "u%d: thanks %d" % (i, i))
        elif style == 1:
            c.say(CHAN, "!re %s thanks %d" % (ref[i], i))
        elif style == 2:
            c.say(CHAN, "parley: %s thanks %d" % (ref[i], i))
        else:
            c.say(CHAN, "!done %s" % ref[i])

    half = N_MENTIONS // 2
    for i in range(half):
        answer(i)
    # Contested: a second teammate answers what another just answered;
    # held with a notice to them, and confirmed for the even ones.
    contested = [i for i in range(0, half, 5) if i % 4 != 3]
    for i in contested:
        other = team[TEAM[(i + 1) % 3]]
        other.say(CHAN, "!re %s me too %d" % (ref[i], i))
        other.expect(lambda m: m.command == "NOTICE" and m.nick == "parley"
                     and "!re! %s" % ref[i] in m.params[-1], timeout=30,
                     what="the double-answer notice for [%s]" % ref[i])
        if i % 2 == 0:
            other.say(CHAN, "!re! %s" % ref[i])
    # DMs: each person's conversation answered once, by name, in the DM
    # channel.
    for k in range(4):
        team[TEAM[k % 3]].say(DMCHAN, "dm%d: got it %d" % (k, k))
    # Team talk never leaves IRC.
    team["bob"].say(CHAN, "lunch at noon?")

    # Late: the network fails posting; the rest wait in the outbox across a
    # graceful restart.
    assert mock.wait_for(lambda: len(mock.posted) >= 1, timeout=30)
    mock.fail(r"^/api/v1/statuses$", status=503, method="POST")
    for i in range(half, N_MENTIONS):
        answer(i)
    wait_taken(p, sum(1 for i in range(N_MENTIONS) if i % 4 != 3) +
               sum(1 for i in contested if i % 2 == 0) + 4)
    p.stop()
    mock.clear_failures()
    p.start()
    eve.joined()
    wait_stream(mock)

    # A second burst, cut by kill -9; the bot comes back and the channel
    # gets what it had not yet said, once.
    late = {}
    for i in range(N_LATE):
        n = mock.add_mention("late%d@example.social" % i, "l%d asks" % i)
        late[i] = n["status"]["id"]
    time.sleep(0.3)
    p.kill9()
    p.start()
    eve.joined()
    wait_stream(mock)
    seen = eve.refs({"l%d asks" % i for i in range(N_LATE)})
    for i in range(N_LATE):
        team[TEAM[(i + 2) % 3]].say(
            CHAN, "!re %s late %d" % (seen["l%d asks" % i][0], i))

    day = {"mentions": mentions, "late": late, "dms": dms,
           "contested": contested, "first": lambda i: TEAM[i % 3],
           "second": lambda i: TEAM[(i + 1) % 3],
           "late_by": lambda i: TEAM[(i + 2) % 3]}
    check_the_day(p, mock, day)
    assert not any("lunch" in st["status"]["content"] for st in mock.posted)
    # Nothing left open.
    team["ann"].say(CHAN, "!pending")
    team["ann"].expect(lambda m: m.nick == "parley" and
                       "nothing is waiting for an answer" in m.params[-1],
                       timeout=30, what="an empty !pending")
