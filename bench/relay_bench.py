"""The relay: how long a mention takes to reach a team channel on another
IRC network, and how many lines a minute the bot sustains there under each
server's default flood limits, beside the server's own pacing limit.

Baselines, measured in the same run: the same mention to a client of
Parley's own IRC server (latency), and the server's own limit (ngircd:
a client flooding its own channel, measured; InspIRCd: its <connect>
commandrate, 1 line a second by default, with which a flooder is killed).
"""

import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
sys.path[:0] = [TESTS, os.path.join(TESTS, "e2e")]

import ircservers  # noqa: E402
import launch  # noqa: E402
from ircclient import Client  # noqa: E402
from mock_mastodon import MockMastodon  # noqa: E402


def add_arguments(parser):
    parser.add_argument("--relay-samples", type=int, default=10,
                        help="mentions timed one by one per server")
    parser.add_argument("--relay-lines", type=int, default=40,
                        help="mentions in the sustained-rate burst")


def _teammate(port, chan="#team"):
    c = Client(port, timeout=30)
    c.register("bob")
    c.send("JOIN " + chan)
    c.expect("366")
    return c


def _wait_text(c, text, nick, timeout=60):
    c.expect(lambda m: m.nick == nick and m.params
             and text in m.params[-1], timeout=timeout,
             what=repr(text))
    return time.time()


def _latencies(mock, client, nick, samples, gap):
    out = []
    for i in range(samples):
        text = "latency probe %d %f" % (i, time.time())
        t0 = time.time()
        mock.add_mention("alice@example.social", text)
        out.append(_wait_text(client, text, nick) - t0)
        time.sleep(gap)
    return out


def _rate(mock, client, n, tag):
    mock.add_mentions(n, text=tag + " {i} end")
    times = []
    deadline = time.time() + n * 3 + 30
    while len(times) < n and time.time() < deadline:
        for m in client.collect(0.5):
            if m.nick == "parley" and m.params and tag in m.params[-1]:
                times.append(time.time())
    if len(times) < 6:
        return 0.0, len(times)
    # Past the bucket's burst: the sustained rate.
    steady = times[5:]
    per_s = (len(steady) - 1) / max(steady[-1] - steady[0], 1e-9)
    return per_s * 60, len(times)


def _ngircd_bound(d, n=40):
    s = ircservers.Ngircd(d).start()
    try:
        a = _teammate(s.port)
        b = Client(s.port, timeout=30)
        b.register("reader")
        b.send("JOIN #team")
        b.expect("366")
        a.send_raw(b"".join(b"PRIVMSG #team :flood %d\r\n" % i
                            for i in range(n)))
        times = []
        deadline = time.time() + n + 30
        while len(times) < n and time.time() < deadline:
            for m in b.collect(0.5):
                if m.command == "PRIVMSG" and "flood" in m.params[-1]:
                    times.append(time.time())
        steady = times[5:]
        return (len(steady) - 1) / max(steady[-1] - steady[0], 1e-9) * 60
    finally:
        s.stop()


def run(args):
    samples = getattr(args, "relay_samples", 10)
    lines = getattr(args, "relay_lines", 40)
    if getattr(args, "quick", False):
        samples, lines = 3, 12
    parley_bin = getattr(args, "parley", None) or launch.BIN
    result = {"ok": True, "servers": {}}
    d = tempfile.mkdtemp(prefix="relay-bench-")
    bounds = {"ngircd": _ngircd_bound(d), "inspircd": 60.0}
    for name, cls in (("ngircd", ircservers.Ngircd),
                      ("inspircd", ircservers.InspIRCd)):
        sd = os.path.join(d, "relay-" + name)
        os.makedirs(sd)
        server = cls(sd).start()
        mock = MockMastodon(ratelimit_limit=10 ** 9).start()
        p = None
        try:
            bob = _teammate(server.port)
            conf = ("[account masto]\nnetwork = mastodon\nbase_url = %s\n"
                    "token = %s\n[relay team]\nserver = 127.0.0.1:%d\n"
                    "nick = parley\nchannels = #team\naccounts = masto\n"
                    % (mock.base_url, mock.token, server.port))
            p = launch.Parley(sd, binary=parley_bin, conf_extra=conf,
                              log_level="info").start()
            bob.expect(lambda m: m.command == "JOIN" and m.nick == "parley",
                       timeout=30)
            me = Client(p.port, timeout=30)
            me.register("me")
            me.expect(lambda m: m.command == "366" and m.params[1] == "#masto",
                      timeout=30)
            assert mock.wait_for(lambda: mock.stream_count() >= 1, 10)
            relay = _latencies(mock, bob, "parley", samples, 1.5)
            direct = _latencies(mock, me, "alice", samples, 0.2)
            rate, got = _rate(mock, bob, lines, "sustained")
            quit = any(m.command == "QUIT" and m.nick == "parley"
                       for m in bob.lines)
            r = {
                "relay_latency_ms_median": statistics.median(relay) * 1000,
                "direct_latency_ms_median": statistics.median(direct) * 1000,
                "latency_ratio": statistics.median(relay) /
                max(statistics.median(direct), 1e-9),
                "relay_lines_per_min": rate,
                "server_bound_lines_per_min": bounds[name],
                "rate_ratio_to_bound": rate / bounds[name],
                "burst_delivered": got, "burst_sent": lines,
                "bot_quit": quit,
            }
            if got < lines or quit:
                result["ok"] = False
            result["servers"][name] = r
        finally:
            if p is not None:
                p.stop()
            mock.stop()
            server.stop()
    print("relay (2 cores; pacing defaults: 5 lines, then 5 per 6 s)")
    print("%-9s %12s %12s %7s %10s %10s %7s" % (
        "server", "relay ms", "direct ms", "ratio", "lines/min",
        "bound/min", "ratio"))
    for name, r in result["servers"].items():
        print("%-9s %12.1f %12.1f %7.1f %10.1f %10.1f %7.2f" % (
            name, r["relay_latency_ms_median"],
            r["direct_latency_ms_median"], r["latency_ratio"],
            r["relay_lines_per_min"], r["server_bound_lines_per_min"],
            r["rate_ratio_to_bound"]))
    return result
