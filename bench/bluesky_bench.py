#!/usr/bin/python3
"""Bluesky benchmarks, against the reference AT Protocol servers running on
127.0.0.1 (tests/atproto_net.py: PostgreSQL, PLC, PDS, AppView):

1. Mention-to-IRC delay: from createRecord returning for a post by bob
   that mentions alice, to the PRIVMSG reaching alice's IRC client through
   Parley; at the default poll interval (20 s; each post at a random
   moment of the poll cycle) and at 1 s. Baseline, same run: a client
   polling listNotifications every 50 ms without a gateway, which is as
   soon as the AppView can tell anyone.
2. Requests per account per poll: several accounts polled by one Parley;
   every XRPC request the PDS and the AppView saw from each account
   (counted by the servers) divided by its listNotifications calls. The
   aim is one. With the PDS's limit of 3,000 requests per 5 minutes per
   IP, that gives the accounts one Parley can poll at the default interval.

Standard library only; every process started here is stopped by its PID.
"""
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

import atproto_net  # noqa: E402
import launch  # noqa: E402
from ircclient import Client  # noqa: E402
from mock_bsky_chat import MockBskyChat  # noqa: E402

PDS_LIMIT_PER_5MIN = 3000   # per IP, bsky-docs rate-limits.md


def add_arguments(parser):
    g = parser.add_argument_group("bluesky benchmark")
    g.add_argument("--bsky-samples", type=int, default=5,
                   help="mentions timed at the default poll interval (5)")
    g.add_argument("--bsky-fast-samples", type=int, default=10,
                   help="mentions timed at 1 s and by the baseline (10)")
    g.add_argument("--bsky-accounts", type=int, default=5,
                   help="accounts for requests per poll (5)")
    g.add_argument("--bsky-seconds", type=float, default=20.0,
                   help="how long those accounts are watched (20)")


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


def summary(v):
    return {"n": len(v), "p50_s": round(statistics.median(v), 3),
            "mean_s": round(statistics.mean(v), 3),
            "max_s": round(max(v), 3)}


class Gateway(object):
    def __init__(self, net, binary, accounts, poll, extra=""):
        self.tmp = tempfile.mkdtemp(prefix="parley-bsky-bench-")
        conf = ""
        for i, (acct, pw) in enumerate(accounts):
            conf += net.conf("sky%d" % i, acct.handle, pw,
                             extra).replace("poll_seconds = 1",
                                            "poll_seconds = %d" % poll)
        self.p = launch.Parley(self.tmp, binary=binary,
                               conf_extra=conf).start()
        self.c = Client(self.p.port, timeout=60)
        self.c.welcome("me")
        n = len(accounts)
        self.c.expect(lambda m: sum(
            1 for x in self.c.lines if x.command == "PRIVMSG" and
            "signed in as" in x.params[-1]) >= n, timeout=60,
            what="%d accounts signed in" % n)

    def wait_post(self, text, timeout):
        m = self.c.expect(lambda m: m.command == "PRIVMSG" and
                          text in m.params[-1], timeout=timeout,
                          what="the mention %r" % text)
        return m

    def stop(self):
        self.c.close()
        self.p.finish()


def time_parley(net, gw, alice, bob, n, spread, progress, label):
    out = []
    for i in range(n):
        # A random moment of the poll cycle, not the one right after it.
        time.sleep(random.uniform(0, spread))
        text = "bench %s %d %d" % (label, i, random.randrange(10 ** 9))
        bob.post("@%s %s" % (alice.handle, text),
                 mentions={alice.handle: alice.did})
        t0 = time.monotonic()
        gw.wait_post(text, timeout=spread + 60)
        out.append(time.monotonic() - t0)
        progress("%s: mention %d after %.2f s" % (label, i + 1, out[-1]))
    return out


def time_floor(net, alice, bob, n):
    """A client polling listNotifications every 50 ms."""
    out = []
    for i in range(n):
        text = "floor %d %d" % (i, random.randrange(10 ** 9))
        bob.post("@%s %s" % (alice.handle, text),
                 mentions={alice.handle: alice.did})
        t0 = time.monotonic()

        def seen():
            j = alice.ok("app.bsky.notification.listNotifications",
                         query={"limit": 5})
            return any(text in (x.get("record") or {}).get("text", "")
                       for x in j["notifications"])
        if not atproto_net.wait_for(seen, timeout=30, interval=0.05):
            raise atproto_net.NetError("the AppView never showed %r" % text)
        out.append(time.monotonic() - t0)
    return out


def requests_per_poll(net, binary, k, seconds, progress):
    """Counted by the servers: the PDS and the AppView per account (the
    token's subject), the chat mock by its request log."""
    chat = MockBskyChat().start()
    accts = []
    for i in range(k):
        a = net.account("poll")
        chat.add_member(a.did, a.handle)
        accts.append((a, a.app_password("bench", privileged=True)))
    gw = Gateway(net, binary, accts, poll=2, extra="chat_url = %s" %
                 chat.base_url)
    try:
        time.sleep(4)   # sign-in, DID documents, the first look at DMs
        before = net.counts()
        chat_before = len(chat.requests)
        t0 = time.monotonic()
        time.sleep(seconds)
        after = net.counts()
        chat_n = len(chat.requests) - chat_before
        elapsed = time.monotonic() - t0
    finally:
        gw.stop()
        chat.stop()
    dids = set(a.did for a, _ in accts)
    total = polls = 0
    for key, v in after.items():
        where, sub, nsid = key.split(" ", 2)
        if sub not in dids:
            continue
        d = v - before.get(key, 0)
        total += d
        if nsid == "app.bsky.notification.listNotifications":
            polls += d
    r = {"accounts": k, "seconds": round(elapsed, 1), "poll_s": 2,
         "polls": polls, "requests": total, "chat_requests": chat_n,
         "requests_per_poll": round(total / polls, 3) if polls else None,
         "chat_per_poll": round(chat_n / polls, 3) if polls else None}
    progress("%d accounts, %.0f s: %d polls, %d requests to the PDS and "
             "AppView, %d to the chat service" % (k, elapsed, polls, total,
                                                  chat_n))
    return r


def run(args):
    why = atproto_net.installed()
    if why:
        print("bluesky: skipped: " + why)
        return {"ok": True, "skipped": why}
    binary = getattr(args, "parley", None) or launch.BIN
    quick = getattr(args, "quick", False)
    n_slow = 2 if quick else args.bsky_samples
    n_fast = 3 if quick else args.bsky_fast_samples

    def progress(msg):
        print("  " + msg, flush=True)

    net = atproto_net.AtprotoNet().start()
    res = {"ok": True}
    try:
        alice, bob = net.account("alice"), net.account("bob")
        res["floor"] = summary(time_floor(net, alice, bob, n_fast))
        progress("baseline (listNotifications every 50 ms): p50 %.3f s" %
                 res["floor"]["p50_s"])
        for poll, n, key in ((1, n_fast, "parley_1s"),
                             (20, n_slow, "parley_20s")):
            gw = Gateway(net, binary,
                         [(alice, alice.app_password("b%d" % poll))], poll)
            try:
                time.sleep(1)
                res[key] = summary(time_parley(
                    net, gw, alice, bob, n, poll, progress,
                    "poll %d s" % poll))
            finally:
                gw.stop()
        res["per_poll"] = requests_per_poll(net, binary, args.bsky_accounts,
                                            3 if quick else args.bsky_seconds,
                                            progress)
    finally:
        net.stop()

    f = res["floor"]
    rpp = res["per_poll"]["requests_per_poll"] or 0
    cpp = res["per_poll"]["chat_per_poll"] or 0
    per_hour = 3600 / 20.0 * (rpp + cpp)
    accounts = int(PDS_LIMIT_PER_5MIN * 12 / per_hour) if per_hour else 0
    res["per_hour_default"] = round(per_hour, 1)
    res["accounts_within_pds_limit"] = accounts
    print("")
    print("| figure | Parley | baseline | ratio |")
    print("|---|---|---|---|")
    for key, label in (("parley_1s", "mention to IRC, poll 1 s, p50"),
                       ("parley_20s", "mention to IRC, poll 20 s (default), "
                        "mean")):
        v = res[key]["p50_s"] if key == "parley_1s" else res[key]["mean_s"]
        print("| %s | %.2f s | %.2f s (50 ms poller) | %.1fx |" % (
            label, v, f["p50_s"], v / f["p50_s"] if f["p50_s"] else 0))
    print("| requests per account per poll, notifications | %.2f | 1 (aim) "
          "| %.2fx |" % (rpp, rpp))
    print("| requests per account per poll, DMs (every 3rd poll) | %.2f | "
          "| |" % cpp)
    print("| requests per account per hour at 20 s, with DMs | %.0f | 36000 "
          "/ h per IP (PDS limit) | %d accounts |" % (per_hour, accounts))
    res["ok"] = rpp <= 1.0 + 1e-9
    return res


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--parley", default=None)
    ap.add_argument("--quick", action="store_true")
    add_arguments(ap)
    r = run(ap.parse_args())
    sys.exit(0 if r.get("ok") else 1)
