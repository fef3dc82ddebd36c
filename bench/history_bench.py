#!/usr/bin/python3
"""History at scale: CHATHISTORY and playback on connect over a large store.

The issue: "CHATHISTORY LATEST 100 on a store of 1,000,000 posts (time per
request), and playback on connect of 10,000 unseen posts (time and memory);
aim: both under 50 ms, memory flat."

For each store (a small baseline and the large one) the benchmark lets
parley create its state directory (one account, so #bench exists), stops
it, bulk-loads posts and their history lines straight into parley.db with
sqlite3 (the same rows the gateway writes: msgid = base-36 post ref, text
"[ref] ..."), sets read positions (kv 'seen:<nick>/<user>'), then runs one
parley per store side by side and measures from IRC clients on 127.0.0.1:

- CHATHISTORY LATEST #bench * 100: send to BATCH end, per request, the
  requests alternating between the two stores (same machine conditions);
- CHATHISTORY BEFORE paging (msgid of the oldest line of the last page);
- playback on connect with N unseen lines: CAP END to the last played line
  (Parley plays back at most 200 and says how many there were), RSS and
  peak RSS around it; then CHATHISTORY AFTER paging through all N, 100 per
  request, as a chathistory client catches up;
- playback with far larger backlogs (only the newest 200 are read, so
  time and memory should not grow with the backlog);
- during each playback, another client PINGs in a closed loop: its worst
  wait is how long the event loop was blocked for everyone;
- RSS after the tests against RSS right after start;
- EXPLAIN QUERY PLAN of the history queries (taken from
  gateway/store/gw_store_history.c) and their time in Python's sqlite3 (the
  same SQLite library), to tell database time from gateway time.

    /usr/bin/python3 bench/history_bench.py --parley ./parley [--quick]
"""

import argparse
import collections
import os
import re
import shutil
import socket
import sqlite3
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests"))
from run import machine as run_machine  # noqa: E402 (after the flag above)
from ircclient import parse  # noqa: E402 (the tests' IRC line parser)
import launch  # noqa: E402 (the tests' way to start parley)
STORE_C = os.path.join(ROOT, "gateway", "store", "gw_store_history.c")

CHANNEL = "#bench"
ACCOUNT = "bench"
CAPS = "batch server-time message-tags draft/chathistory"
AIM_MS = 50.0
PLAYBACK_NOTICE = re.compile(r"(\d+) lines arrived while you were away; "
                             r"showing the last (\d+)")

ACCOUNT_CONF = """[account bench]
network = mastodon
base_url = http://127.0.0.1:9
token = x
streaming = no
poll_seconds = 86400
"""


def add_arguments(parser):
    g = parser.add_argument_group("history benchmark")
    g.add_argument("--history-posts", type=int, default=1000000,
                   help="posts in the large store (1000000)")
    g.add_argument("--history-small", type=int, default=1000,
                   help="posts in the baseline store (1000)")
    g.add_argument("--history-unseen", type=int, default=10000,
                   help="unseen lines for the playback test (10000)")
    g.add_argument("--history-requests", type=int, default=200,
                   help="CHATHISTORY LATEST requests timed (200)")
    g.add_argument("--history-pages", type=int, default=50,
                   help="CHATHISTORY BEFORE pages (50)")
    g.add_argument("--history-samples", type=int, default=3,
                   help="playback connections with the same backlog (3)")
    g.add_argument("--history-stress", default="100000,all",
                   help="larger playback backlogs, comma-separated counts "
                   "or 'all'; '' for none (100000,all)")
    g.add_argument("--history-keep", action="store_true",
                   help="keep the temporary directory")


def opt(args, name, default):
    v = getattr(args, name, None)
    return default if v is None else v


# ---- small helpers ---------------------------------------------------------


def base36(v):
    if v < 0:
        raise ValueError("base36 of a negative number")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        out = digits[v % 36] + out
        v //= 36
        if v == 0:
            return out


def machine():
    m = run_machine()
    m["sqlite"] = sqlite3.sqlite_version
    return m


def proc_mem(pid):
    """VmRSS and VmHWM (peak RSS) in KiB."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                key = line.split(":", 1)[0]
                if key in ("VmRSS", "VmHWM"):
                    out[key] = int(line.split()[1])
    except OSError:
        pass
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def proc_cpu_ms(pid):
    """User + system CPU time of pid in ms."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        return ticks * 1000.0 / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def stats(ms):
    if not ms:
        return {"n": 0}
    s = sorted(ms)

    def pct(p):
        return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]

    return {"n": len(s), "p50": round(pct(50), 3), "p95": round(pct(95), 3),
            "max": round(s[-1], 3), "min": round(s[0], 3),
            "mean": round(sum(s) / len(s), 3)}


# ---- parley ----------------------------------------------------------------


class Parley(launch.Parley):
    """tests/launch.py's Parley with the bench account."""

    def __init__(self, binary, workdir):
        launch.Parley.__init__(self, workdir, binary,
                               conf_extra=ACCOUNT_CONF, log_level="info")

    def start_timed(self, timeout=60):
        """Start and wait for "Parley started"; returns the ms it took."""
        t0 = time.perf_counter()
        self.start(timeout)
        self.wait_log("Parley started", timeout)
        self.t_started = time.perf_counter()
        return (self.t_started - t0) * 1000.0


# ---- IRC client ------------------------------------------------------------


class Client:
    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.lines = collections.deque()
        self.bytes_in = 0

    def send(self, line):
        self.sock.sendall(line.encode() + b"\r\n")

    def msg(self):
        """The next line, parsed; answers server PINGs on the way."""
        while True:
            while not self.lines:
                data = self.sock.recv(1 << 18)
                if not data:
                    raise RuntimeError("connection closed by parley")
                self.bytes_in += len(data)
                self.buf += data
                parts = self.buf.split(b"\n")
                self.buf = parts.pop()
                self.lines.extend(parts)
            m = parse(self.lines.popleft().rstrip(b"\r")
                      .decode("utf-8", "replace"))
            if m[2] == "PING":
                self.send("PONG :" + (m[3][0] if m[3] else ""))
                continue
            return m

    def expect(self, pred):
        while True:
            m = self.msg()
            if pred(m):
                return m

    def register(self, nick, caps=CAPS):
        """Negotiate caps; returns perf_counter() at the moment CAP END is
        sent (registration completes on it)."""
        self.send("CAP LS 302")
        self.send("NICK " + nick)
        self.send("USER %s 0 * :history bench" % nick)
        self.expect(lambda m: m[2] == "CAP" and len(m[3]) >= 3 and
                    m[3][1] == "LS" and m[3][2] != "*")
        self.send("CAP REQ :" + caps)
        ack = self.expect(lambda m: m[2] == "CAP" and m[3][1] in
                          ("ACK", "NAK"))
        if ack[3][1] != "ACK":
            raise RuntimeError("caps refused: %r" % (ack,))
        t0 = time.perf_counter()
        self.send("CAP END")
        return t0

    def sync(self, token="sync"):
        """Everything parley sent before this point is read."""
        self.send("PING :" + token)
        self.expect(lambda m: m[2] == "PONG" and m[3] and m[3][-1] == token)

    def chathistory(self, line):
        """(ms from sending line to the BATCH end, [msgids in the batch])."""
        t0 = time.perf_counter()
        self.send(line)
        batch = None
        ids = []
        while True:
            tags, _, cmd, params = self.msg()
            if cmd == "BATCH" and params:
                if params[0].startswith("+") and batch is None and \
                        len(params) > 1 and params[1] == "chathistory":
                    batch = params[0][1:]
                elif batch is not None and params[0] == "-" + batch:
                    return (time.perf_counter() - t0) * 1000.0, ids
            elif cmd == "FAIL":
                raise RuntimeError("CHATHISTORY failed: %r" % (params,))
            elif batch is not None and tags.get("batch") == batch and \
                    cmd in ("PRIVMSG", "NOTICE"):
                ids.append(tags.get("msgid", ""))

    def close(self):
        try:
            self.send("QUIT :bench done")
        except OSError:
            pass
        self.sock.close()


# ---- the store -------------------------------------------------------------


def prepare_state(binary, workdir):
    """Let parley create state/ with the bench account and channel."""
    p = Parley(binary, workdir)
    p.start_timed()
    code = p.stop()
    if code != 0:
        raise RuntimeError("parley exited %s on SIGTERM:\n%s"
                           % (code, p.logtext()))
    return p


def load_store(db, n_posts, seen, unseen_open, accounts=None):
    """Bulk-insert n_posts posts for the bench account and one history line
    each. seen: {key: how many of the newest lines are unseen ('all': every
    line)}. accounts: [(account, channel)] to deal the posts out to in turn
    instead (bench/scale_bench.py). Returns facts about the loaded rows."""
    accounts = accounts or [(ACCOUNT, CHANNEL)]
    t0 = time.perf_counter()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA cache_size=-262144")
    post0 = con.execute("SELECT coalesce(max(id), 0) FROM posts") \
        .fetchone()[0] + 1
    hist0 = con.execute("SELECT coalesce(max(id), 0) FROM history") \
        .fetchone()[0] + 1
    first_hist = con.execute("SELECT coalesce(min(id), 0) FROM history") \
        .fetchone()[0] or hist0
    now_ms = int(time.time() * 1000)
    base_ms = now_ms - n_posts * 1000  # one post a second, up to now
    filler = ("lorem ipsum dolor sit amet consectetur adipiscing elit sed do "
              "eiusmod tempor incididunt ut labore et dolore magna aliqua ut "
              "enim ad minim veniam quis nostrud exercitation ullamco ")

    def post_text(i):
        return ("@bench post %d: " % i + filler)[:200]

    post_sql = ("INSERT INTO posts (id, account, network_id, kind, author, "
                "author_name, author_url, url, text, conversation, "
                "in_reply_to, target, extra, created_ms, stored_ms, state) "
                "VALUES (?, ?, ?, 'mention', ?, ?, ?, ?, ?, ?, '', ?, '', ?, "
                "?, ?)")
    hist_sql = ("INSERT INTO history (id, target, time_ms, msgid, prefix, "
                "command, text, tags) VALUES (?, ?, ?, ?, ?, 'PRIVMSG', ?, "
                "'')")
    chunk = 100000
    for start in range(0, n_posts, chunk):
        end = min(n_posts, start + chunk)
        posts = []
        hist = []
        for i in range(start, end):
            pid = post0 + i
            u = i % 1000
            nid = str(1000000000000000000 + pid)
            t = base_ms + i * 1000
            author = "user%d@example.social" % u
            text = post_text(i)
            state = 1 if i >= n_posts - unseen_open else 3
            account, channel = accounts[i % len(accounts)]
            posts.append((pid, account, nid, author, "User %d" % u,
                          "https://example.social/@user%d" % u,
                          "https://example.social/@user%d/%s" % (u, nid),
                          text, nid, channel, t, t, state))
            ref = base36(pid)
            hist.append((hist0 + i, channel, t, ref,
                         "user%d!user%d@example.social" % (u, u),
                         "[%s] %s" % (ref, text)))
        con.execute("BEGIN")
        con.executemany(post_sql, posts)
        con.executemany(hist_sql, hist)
        con.execute("COMMIT")
    last_hist = hist0 + n_posts - 1
    kv = []
    for key, unseen in seen.items():
        after = first_hist - 1 if unseen == "all" else last_hist - unseen
        kv.append((key, str(after)))
    con.execute("BEGIN")
    con.executemany("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT "
                    "(key) DO UPDATE SET value = excluded.value", kv)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    counts = con.execute("SELECT (SELECT count(*) FROM posts), "
                         "(SELECT count(*) FROM history)").fetchone()
    con.close()
    size = sum(os.path.getsize(db + sfx) for sfx in ("", "-wal")
               if os.path.exists(db + sfx))
    return {"load_s": round(time.perf_counter() - t0, 1),
            "posts": counts[0], "history": counts[1],
            "db_mb": round(size / 1048576.0, 1),
            "first_post": post0, "last_post": post0 + n_posts - 1,
            "first_hist": hist0, "last_hist": last_hist}


def history_queries():
    """The history statements of gateway/store/gw_store_history.c, by name."""
    try:
        with open(STORE_C) as f:
            src = f.read()
    except OSError:
        return {}
    cols = re.search(r'#define HISTORY_COLS\s+"([^"]*)"', src)
    out = {}
    for m in re.finditer(r'\[(GW_STORE__HISTORY_\w+)\]\s*=\s*((?:"[^"]*"|\s|'
                         r'HISTORY_COLS)+),', src):
        sql = ""
        for tok in re.finditer(r'"([^"]*)"|HISTORY_COLS', m.group(2)):
            sql += tok.group(1) if tok.group(1) is not None else \
                (cols.group(1) if cols else "*")
        out[m.group(1)] = sql
    return out


def explain(db, facts, unseen=0, reps=50):
    """Query plans and SQLite-only time (ms per query, Python's sqlite3,
    same library version as parley) for the history statements."""
    qs = history_queries()
    last = facts["last_hist"]
    back = min(10000, facts["last_hist"] - facts["first_hist"])
    mid_ref = base36(max(facts["first_post"], facts["last_post"] - 5000))
    binds = {
        "GW_STORE__HISTORY_RANGE_DESC": (CHANNEL, 0, 2 ** 63 - 1, 100),
        "GW_STORE__HISTORY_RANGE": (CHANNEL, last - back, 2 ** 63 - 1, 100),
        "GW_STORE__HISTORY_FIND": (CHANNEL, mid_ref),
        "GW_STORE__HISTORY_SINCE": (last - back, 200),
        "GW_STORE__HISTORY_COUNT": (last - back,),
        "GW_STORE__HISTORY_LAST": (),
        "GW_STORE__HISTORY_AT": (CHANNEL,
                                 int(time.time() * 1000) - 3600 * 1000),
        "GW_STORE__HISTORY_AFTER": (CHANNEL, last - back, 100),
        "GW_STORE__HISTORY_BEFORE": (CHANNEL, last - back, 100),
    }
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    out = {}
    for name, sql in sorted(qs.items()):
        if name not in binds:
            continue
        b = binds[name]
        # ?1..?N binds positionally in order of number.
        plan = [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + sql, b)]
        con.execute(sql, b).fetchall()  # warm
        t0 = time.perf_counter()
        for _ in range(reps):
            con.execute(sql, b).fetchall()
        ms = (time.perf_counter() - t0) * 1000.0 / reps
        out[name] = {"sql": sql, "plan": plan, "ms": round(ms, 3)}
    con.close()
    return out


# ---- measurements ----------------------------------------------------------


def hist_client(p, nick):
    return hist_client_port(p.port, nick)


def hist_client_port(port, nick):
    c = Client(port)
    c.register(nick)
    c.expect(lambda m: m[2] == "366" and len(m[3]) > 1 and
             m[3][1].lower() == CHANNEL)
    c.sync()
    return c


class Side:
    """One store under test: its parley, client and results."""

    def __init__(self, label, n_posts):
        self.label = label
        self.n_posts = n_posts
        self.p = None
        self.c = None
        self.facts = None
        self.res = {"posts": n_posts}
        self.checks = {}
        self.last_ref = None
        self.oldest = None


def post_of(msgid):
    return int(msgid, 36)


def latest_round(sides, n):
    """n CHATHISTORY LATEST requests per side, alternating between the
    sides so that both see the same machine conditions."""
    times = {s.label: [] for s in sides}
    for s in sides:
        s.checks["latest"] = True
        s.cpu0 = proc_cpu_ms(s.p.proc.pid)
        s.wall0 = 0.0
    for _ in range(n):
        for s in sides:
            ms, ids = s.c.chathistory("CHATHISTORY LATEST %s * 100" % CHANNEL)
            times[s.label].append(ms)
            s.wall0 += ms
            if len(ids) != min(100, s.n_posts) or ids[-1] != s.last_ref:
                s.checks["latest"] = False
    for s in sides:
        st = stats(times[s.label])
        st["server_cpu_ms_per_request"] = round(
            (proc_cpu_ms(s.p.proc.pid) - s.cpu0) / n, 3)
        st["requests_per_s"] = round(n / (s.wall0 / 1000.0), 1)
        s.res["latest"].update(st)


def before_round(sides, pages):
    """Page back from the newest line, BEFORE msgid=<oldest of the last
    page>, checking that the pages join up; alternating sides."""
    times = {s.label: [] for s in sides}
    for s in sides:
        _, ids = s.c.chathistory("CHATHISTORY LATEST %s * 100" % CHANNEL)
        s.oldest = ids[0] if ids else None
        s.checks["before"] = len(ids) == min(100, s.n_posts)
        s.pages = min(pages, max(0, s.n_posts // 100 - 1))
    for i in range(pages):
        for s in sides:
            if i >= s.pages or s.oldest is None:
                continue
            ms, page = s.c.chathistory("CHATHISTORY BEFORE %s msgid=%s 100"
                                       % (CHANNEL, s.oldest))
            times[s.label].append(ms)
            if len(page) != 100 or \
                    post_of(page[-1]) != post_of(s.oldest) - 1:
                s.checks["before"] = False
            s.oldest = page[0] if page else None
    for s in sides:
        s.res["before"] = stats(times[s.label])


class Watcher(threading.Thread):
    """Another connected client that PINGs in a closed loop: the longest
    wait for a PONG is how long the gateway's event loop stalled for
    everyone while it served something else."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.c = hist_client_port(port, "watch")
        self.stop_flag = threading.Event()
        self.lat = []
        self.error = None

    def run(self):
        n = 0
        try:
            while not self.stop_flag.is_set():
                n += 1
                t0 = time.perf_counter()
                self.c.sync("w%d" % n)
                self.lat.append(((time.perf_counter() - t0) * 1000.0, t0))
                time.sleep(0.001)
        except Exception as e:  # reported, not fatal to the benchmark
            self.error = "%s: %s" % (type(e).__name__, e)

    def finish(self):
        self.stop_flag.set()
        self.join(30)
        self.c.close()
        return max(self.lat) if self.lat else (None, None)


def playback(p, nick, last_ref, expected):
    """Connect with a backlog; times from CAP END. expected: unseen lines
    at load time (the gateway's own notices may add a few)."""
    pid = p.proc.pid
    watcher = Watcher(p.port)
    watcher.start()
    time.sleep(0.05)
    rss0, hwm0 = proc_mem(pid)
    cpu0 = proc_cpu_ms(pid)
    c = Client(p.port)
    t0 = c.register(nick)
    t_welcome = t_join = t_bench = t_last = None
    told = shown = None
    got = 0
    bench_lines = 0
    while True:
        tags, prefix, cmd, params = c.msg()
        now = time.perf_counter()
        if cmd == "001":
            t_welcome = now
        elif cmd == "366" and len(params) > 1 and \
                params[1].lower() == CHANNEL:
            t_join = now
        elif cmd == "NOTICE" and params:
            m = PLAYBACK_NOTICE.search(params[-1])
            if m:
                told, shown = int(m.group(1)), int(m.group(2))
        elif cmd == "PRIVMSG" and t_join is not None:
            got += 1
            t_last = now
            if params and params[0].lower() == CHANNEL:
                bench_lines += 1
                if tags.get("msgid") == last_ref:
                    t_bench = now
        if shown is not None and got >= shown:
            break
        if shown is None and t_bench is not None:
            # No cap notice: everything unseen fits; the rest is drained.
            c.sync()
            break
    bytes_in = c.bytes_in
    rss1, hwm1 = proc_mem(pid)
    cpu1 = proc_cpu_ms(pid)
    stall, stall_at = watcher.finish()

    def ms(t):
        return round((t - t0) * 1000.0, 3) if t else None

    return c, {
        "nick": nick, "unseen_at_load": expected,
        "gateway_says_unseen": told, "lines_played": got,
        "bench_lines_played": bench_lines,
        "ms_to_welcome": ms(t_welcome), "ms_to_joined": ms(t_join),
        "ms_to_last_bench_line": ms(t_bench), "ms_to_last_line": ms(t_last),
        "bytes": bytes_in, "server_cpu_ms": round(cpu1 - cpu0, 1),
        "rss_kb_before": rss0, "rss_kb_after": rss1,
        "peak_rss_kb_before": hwm0, "peak_rss_kb_after": hwm1,
        "others_max_ping_ms": round(stall, 1) if stall else None,
        "s_after_start": round(t0 - p.t_started, 3),
        "worst_ping_s_after_start": round(stall_at - p.t_started, 3)
        if stall_at else None,
        "ok": (t_bench is not None and got > 0 and
               (told is None or told >= expected)),
    }


def catch_up(c, from_post, last_post, unseen):
    """CHATHISTORY AFTER from the last seen line to the newest, 100 at a
    time, as a chathistory client catches up."""
    times = []
    ref = base36(from_post)
    total = 0
    ok = True
    t0 = time.perf_counter()
    want = from_post + 1
    while True:
        ms, page = c.chathistory("CHATHISTORY AFTER %s msgid=%s 100"
                                 % (CHANNEL, ref))
        times.append(ms)
        for msgid in page:
            if msgid != base36(want):
                ok = False
            want += 1
        total += len(page)
        if len(page) < 100 or page[-1] == base36(last_post):
            break
        ref = page[-1]
    wall = (time.perf_counter() - t0) * 1000.0
    return {"requests": len(times), "lines": total,
            "total_ms": round(wall, 1), "per_request": stats(times),
            "ok": ok and total == unseen}


def setup_store(binary, root, side, cfg, full, log):
    """State dir, bulk load and read positions for one side."""
    work = os.path.join(root, side.label)
    os.makedirs(work)
    log("[%s] preparing a store of %d posts" % (side.label, side.n_posts))
    side.p = prepare_state(binary, work)
    side.unseen = min(cfg["unseen"], side.n_posts)
    seen = {"seen:hist/hist": 0}
    side.samples = []
    side.stress = []
    if full:
        side.samples = ["pb%d" % i for i in range(1, cfg["samples"] + 1)]
        for nick in side.samples:
            seen["seen:%s/%s" % (nick, nick)] = side.unseen
        for n in cfg["stress"]:
            if n != "all" and n >= side.n_posts:
                n = "all"
            nick = "pball" if n == "all" else "pb%d" % n
            if nick not in [x[0] for x in side.stress]:
                side.stress.append((nick, n))
                seen["seen:%s/%s" % (nick, nick)] = n
    side.facts = load_store(side.p.db, side.n_posts, seen,
                            side.unseen if full else 0)
    side.res["store"] = side.facts
    side.last_ref = base36(side.facts["last_post"])
    log("[%s] loaded %d posts + %d history lines in %.1fs (%.0f MB)"
        % (side.label, side.facts["posts"], side.facts["history"],
           side.facts["load_s"], side.facts["db_mb"]))


def mem_point(side, name):
    rss, hwm = proc_mem(side.p.proc.pid)
    side.res.setdefault("rss_kb", {})[name] = rss
    side.res.setdefault("peak_rss_kb", {})[name] = hwm


def playback_tests(side, log):
    """Playback on connect (several connections with the same backlog),
    catch-up by CHATHISTORY, then the larger backlogs."""
    f = side.facts
    side.res["playback"] = []
    for i, nick in enumerate(side.samples):
        pc, r = playback(side.p, nick, side.last_ref, side.unseen)
        side.res["playback"].append(r)
        side.checks["playback_%s" % nick] = r["ok"]
        if i == 0:
            cu = catch_up(pc, f["last_post"] - side.unseen, f["last_post"],
                          side.unseen)
            side.res["catch_up"] = cu
            side.checks["catch_up"] = cu["ok"]
        pc.close()
    time.sleep(0.2)
    mem_point(side, "after_playback")
    pb = side.res["playback"][0]
    log("[%s] playback of %d unseen: last line at %.1f ms; catch-up %d "
        "requests in %.0f ms" % (side.label, side.unseen,
                                 pb["ms_to_last_line"] or -1,
                                 side.res["catch_up"]["requests"],
                                 side.res["catch_up"]["total_ms"]))
    side.res["stress"] = []
    for nick, n in side.stress:
        log("[%s] playback with %s unseen" % (side.label, n))
        total = f["last_hist"] - f["first_hist"] + 1
        pc, r = playback(side.p, nick, side.last_ref,
                         total if n == "all" else n)
        pc.close()
        side.res["stress"].append(r)
        side.checks["stress_%s" % nick] = r["ok"]
    if side.stress:
        time.sleep(0.2)
        mem_point(side, "after_stress")


def bench(binary, root, cfg, n_small, n_large, log):
    small = Side("small", n_small)
    large = Side("large", n_large)
    sides = [small, large]
    setup_store(binary, root, small, cfg, False, log)
    setup_store(binary, root, large, cfg, True, log)
    try:
        for s in sides:
            s.res["startup_ms"] = round(s.p.start_timed(), 1)
        time.sleep(0.3)
        for s in sides:
            mem_point(s, "start")
            s.c = hist_client(s.p, "hist")
            ms, _ = s.c.chathistory("CHATHISTORY LATEST %s * 100" % CHANNEL)
            s.res["latest"] = {"first_request_ms": round(ms, 3)}
        latest_round(sides, cfg["requests"])
        before_round(sides, cfg["pages"])
        for s in sides:
            s.c.close()
            s.c = None
            log("[%s] LATEST p50 %.2f ms, BEFORE p50 %.2f ms"
                % (s.label, s.res["latest"]["p50"],
                   s.res["before"].get("p50", 0)))
        time.sleep(0.2)
        for s in sides:
            mem_point(s, "after_chathistory")
        playback_tests(large, log)
    finally:
        for s in sides:
            if s.c is not None:
                s.c.close()
            if s.p.proc is not None:
                try:
                    code = s.p.stop(30)
                except launch.ParleyError:  # killed: no exit code
                    code = None
                s.res["exit_code"] = code
                s.checks["clean_exit"] = code == 0
    for s in sides:
        s.res["queries"] = explain(s.p.db, s.facts,
                                   s.unseen if s.samples else 0)
        s.res["checks"] = s.checks
    return small.res, large.res


# ---- report ----------------------------------------------------------------


def mb(kb):
    return "%.1f MB" % (kb / 1024.0) if kb else "?"


def report(out, m):
    w = print
    w("history benchmark  %s" % m["date"])
    w("machine: %s CPUs, %s; kernel %s; Python %s; SQLite %s; load %s"
      % (m["nproc"], m["cpu"], m["kernel"], m["python"], m["sqlite"],
         m["loadavg"]))
    small, large = out["small"], out["large"]
    w("")
    w("%-44s %14s %14s %8s" % ("", "small store", "large store", "ratio"))

    def row(name, a, b, fmt="%.2f ms"):
        ra = fmt % a if a is not None else "-"
        rb = fmt % b if b is not None else "-"
        ratio = "%.2fx" % (b / a) if a and b is not None else ""
        w("%-44s %14s %14s %8s" % (name, ra, rb, ratio))

    w("%-44s %14d %14d" % ("posts (and history lines)", small["posts"],
                           large["posts"]))
    row("bulk load", small["store"]["load_s"], large["store"]["load_s"],
        "%.1f s")
    row("database size", small["store"]["db_mb"], large["store"]["db_mb"],
        "%.1f MB")
    row("startup (exec to 'Parley started')", small["startup_ms"],
        large["startup_ms"], "%.1f ms")
    row("RSS right after start", small["rss_kb"]["start"] / 1024.0,
        large["rss_kb"]["start"] / 1024.0, "%.1f MB")
    n = large["latest"]["n"]
    w("CHATHISTORY LATEST %s * 100 (%d requests each, send to BATCH end, "
      "alternating stores):" % (CHANNEL, n))
    row("  first request after start", small["latest"]["first_request_ms"],
        large["latest"]["first_request_ms"])
    for k in ("p50", "p95", "max"):
        row("  " + k, small["latest"][k], large["latest"][k])
    row("  parley CPU per request", small["latest"]
        ["server_cpu_ms_per_request"],
        large["latest"]["server_cpu_ms_per_request"])
    row("  requests/s (one client, closed loop)",
        small["latest"]["requests_per_s"], large["latest"]["requests_per_s"],
        "%.0f")
    w("CHATHISTORY BEFORE msgid=<oldest> 100 (%d / %d pages):"
      % (small["before"]["n"], large["before"]["n"]))
    for k in ("p50", "p95", "max"):
        row("  " + k, small["before"].get(k), large["before"].get(k))
    row("RSS after the CHATHISTORY requests",
        small["rss_kb"]["after_chathistory"] / 1024.0,
        large["rss_kb"]["after_chathistory"] / 1024.0, "%.1f MB")
    w("")
    pbs = large.get("playback", [])
    if pbs:
        pb = pbs[0]
        w("Playback on connect, large store, %d unseen lines (%d "
          "connections):" % (pb["unseen_at_load"], len(pbs)))
        w("  gateway says %s unseen, plays %d lines (its cap), then points "
          "at CHATHISTORY / !pending" % (pb["gateway_says_unseen"],
                                         pb["lines_played"]))
        for r in pbs:
            w("  %-6s CAP END -> 001 %.1f ms, -> joined %.1f ms, -> last "
              "played line %.1f ms; %d bytes; parley CPU %.0f ms; another "
              "client's worst PING %.1f ms"
              % (r["nick"], r["ms_to_welcome"] or -1, r["ms_to_joined"] or -1,
                 r["ms_to_last_line"] or -1, r["bytes"], r["server_cpu_ms"],
                 r["others_max_ping_ms"] or -1))
            w("         RSS %s -> %s, peak RSS %s -> %s"
              % (mb(r["rss_kb_before"]), mb(r["rss_kb_after"]),
                 mb(r["peak_rss_kb_before"]), mb(r["peak_rss_kb_after"])))
        cu = large["catch_up"]
        w("  then CHATHISTORY AFTER paging through all %d: %d requests, "
          "%.0f ms total; per request p50 %.2f / p95 %.2f / max %.2f ms"
          % (cu["lines"], cu["requests"], cu["total_ms"],
             cu["per_request"]["p50"], cu["per_request"]["p95"],
             cu["per_request"]["max"]))
        if large.get("stress"):
            w("Playback with larger backlogs (should cost what the "
              "smaller one does):")
            for r in large["stress"]:
                w("  %8s unseen: last played line %.1f ms, parley CPU %.0f ms,"
                  " another client's worst PING %.1f ms,"
                  "\n%18s RSS %s -> %s, peak RSS %s -> %s"
                  % (r["gateway_says_unseen"], r["ms_to_last_line"] or -1,
                     r["server_cpu_ms"], r["others_max_ping_ms"] or -1, "",
                     mb(r["rss_kb_before"]),
                     mb(r["rss_kb_after"]), mb(r["peak_rss_kb_before"]),
                     mb(r["peak_rss_kb_after"])))
        rk, pk = large["rss_kb"], large["peak_rss_kb"]
        w("RSS (large store): right after start %s; after CHATHISTORY %s; "
          "after playback and catch-up %s (peak so far %s)"
          % (mb(rk["start"]), mb(rk["after_chathistory"]),
             mb(rk["after_playback"]), mb(pk["after_playback"])))
        if "after_stress" in rk:
            w("  after the larger backlogs %s (peak %s)"
              % (mb(rk["after_stress"]), mb(pk["after_stress"])))
    w("")
    w("Query plans (large store) and SQLite-only time per query (Python's "
      "sqlite3, same library; small store in brackets):")
    for name, q in sorted(large["queries"].items()):
        sq = small["queries"].get(name)
        w("  %-30s %8.3f ms %10s  %s"
          % (name, q["ms"], "(%.3f)" % sq["ms"] if sq else "",
             " | ".join(q["plan"])))
    w("")
    aims = out["aims"]
    flat = {True: "flat", False: "NOT flat", None: "n/a (one connection)"}
    w("Aim (< %.0f ms, memory flat): LATEST p95 %s; playback %s; memory %s"
      % (AIM_MS, "met" if aims["latest"] else "MISSED",
         "met" if aims["playback"] else "MISSED", flat[aims["memory_flat"]]))
    w("  memory: the first playback %+.1f MB RSS (peak %+.1f MB), later ones "
      "and the larger backlogs %+.1f MB in all; %+.1f MB since start (SQLite's"
      " page cache)"
      % (aims["rss_kb_first_playback"] / 1024.0,
         aims["peak_rss_kb_first_playback"] / 1024.0,
         aims["rss_kb_later_playbacks"] / 1024.0,
         aims["rss_kb_since_start"] / 1024.0))
    w("Notes:")
    w("- CHATHISTORY: every history statement is an index SEARCH (plans "
      "above), so a")
    w("  request costs the same on %d lines as on %d; the client-side "
      "figures include" % (large["store"]["history"],
                           small["store"]["history"]))
    w("  the Python client's parsing (compare parley CPU per request).")
    if pbs:
        w("- Playback: registration, joins and playback run in one event-loop"
          " callback, so")
        w("  001 arrives with the playback, and every other client waits as "
          "long (worst PING).")
        w("  The newest %d lines are read newest first from the id index "
          "(GW_STORE__HISTORY_SINCE)" % pbs[0]["lines_played"])
        w("  and the backlog is counted as an id gap "
          "(GW_STORE__HISTORY_COUNT), so the older unseen")
        w("  rows are never read: the larger backlogs above should cost what "
          "10,000 does.")
    bad = [k for k, v in out["checks"].items() if not v]
    w("checks: %s" % ("all passed" if not bad else "FAILED " + ", ".join(bad)))


def run(args):
    quick = bool(getattr(args, "quick", False))
    binary = os.path.abspath(getattr(args, "parley", None) or
                             os.path.join(ROOT, "parley"))
    n_large = opt(args, "history_posts", 1000000)
    n_small = opt(args, "history_small", 1000)
    stress = [s.strip() for s in
              str(opt(args, "history_stress", "100000,all")).split(",")
              if s.strip()]
    cfg = {
        "unseen": opt(args, "history_unseen", 10000),
        "requests": opt(args, "history_requests", 200),
        "pages": opt(args, "history_pages", 50),
        "samples": max(1, opt(args, "history_samples", 3)),
        "stress": [s if s == "all" else int(s) for s in stress],
    }
    if quick:
        n_large = min(n_large, 50000)
        cfg["unseen"] = min(cfg["unseen"], 5000)
        cfg["requests"] = min(cfg["requests"], 50)
        cfg["pages"] = min(cfg["pages"], 20)
        cfg["samples"] = min(cfg["samples"], 2)
        cfg["stress"] = ["all"] if cfg["stress"] else []
    m = machine()
    root = tempfile.mkdtemp(prefix="hbench-")
    out = {"machine": m, "parley": binary, "quick": quick, "config": cfg}

    def log(s):
        print("  " + s, flush=True)

    t0 = time.monotonic()
    try:
        out["small"], out["large"] = bench(binary, root, cfg, n_small,
                                           n_large, log)
    finally:
        if opt(args, "history_keep", False):
            log("kept " + root)
        else:
            shutil.rmtree(root, ignore_errors=True)
    small, large = out["small"], out["large"]
    out["latest_ratio_p50"] = round(large["latest"]["p50"] /
                                    small["latest"]["p50"], 2)
    pbs = large["playback"]
    rk = large["rss_kb"]
    later = sum(r["rss_kb_after"] - r["rss_kb_before"]
                for r in pbs[1:] + large.get("stress", []))
    out["aims"] = {
        "latest": large["latest"]["p95"] < AIM_MS,
        "playback": max(r["ms_to_last_line"] or 1e9 for r in pbs) < AIM_MS,
        # Flat: connecting again with the same backlog (or a larger one)
        # does not add to RSS (1 MB slack for allocator noise). The
        # CHATHISTORY catch-up between the first and second connections
        # fills SQLite's page cache (bounded by cache_size), so it is
        # measured per playback, not from the first to the last.
        "memory_flat": later <= 1024 if len(pbs) > 1 else None,
        "rss_kb_first_playback": pbs[0]["rss_kb_after"] -
        pbs[0]["rss_kb_before"],
        "peak_rss_kb_first_playback": pbs[0]["peak_rss_kb_after"] -
        pbs[0]["peak_rss_kb_before"],
        "rss_kb_later_playbacks": later,
        "rss_kb_since_start": rk["after_playback"] - rk["start"],
    }
    out["checks"] = {}
    for label in ("small", "large"):
        for k, v in out[label]["checks"].items():
            out["checks"]["%s_%s" % (label, k)] = v
    out["ok"] = all(out["checks"].values())
    out["wall_seconds"] = round(time.monotonic() - t0, 1)
    report(out, m)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parley", default=os.path.join(ROOT, "parley"))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--json", help="also write the results here")
    add_arguments(p)
    args = p.parse_args(argv)
    args.parley = os.path.abspath(args.parley)
    if not os.access(args.parley, os.X_OK):
        print("history_bench: %s is not an executable (make parley)"
              % args.parley, file=sys.stderr)
        return 2
    out = run(args)
    if args.json:
        import json
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2, sort_keys=True)
            f.write("\n")
    return 0 if out.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
