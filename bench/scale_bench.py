#!/usr/bin/python3
"""Scale: one gateway, many Mastodon accounts (issue 15).

For each size (100 accounts, the baseline, then 1,000 by default) one
Parley runs N `[account]` sections against one mock Mastodon instance that
serves N users (tests/mock_mastodon.py, add_users), half of them streaming
and half polling, with one IRC client connected. Measured:

- start-up: from spawning the gateway until every streaming account holds
  its stream and every polling account has polled once;
- resident memory (VmRSS) and memory per account, against a gateway with
  no accounts and the same one client, measured in the same run;
- idle CPU (utime+stime of the gateway) per 10 s over a quiet window: only
  the mock's heartbeats and the polls happen then;
- descriptors open, and the open-files limit the gateway set itself;
- every polling account's polls: each gap between two polls within 10 % of
  its interval (the gap is the interval plus the poll's own round trip).

And the idle memory of a gateway with no accounts, split by /proc/PID/smaps
into what is ours (anonymous memory: heap, stacks; and the private pages of
our own binary) and what are pages of shared libraries (file-backed, clean,
shared with every other process that maps them), with the largest
libraries named.

A status that mentions 100 accounts at once (--scale-fanout; 100 accounts
all streaming, the mock writes the event to each of their streams): per
account, the delay from the mock's write (timed inside the mock process, as
the write returns) to the line reaching the IRC client in that account's
channel, p50/p99, against a status mentioning one account, alternated in
the same run.

Start-up of 1,000 accounts on a store of 1,000,000 posts (dealt over the
accounts, one history line each; bulk-loaded with history_bench.load_store)
against the same start-up on an empty store: wall time and the gateway's
own CPU (the mock, a Python process, takes most of the wall time).

Ratios are against the 100-account run of the same binary in the same run:
per-account memory and per-account idle CPU at N over the same at 100 (1.0
is linear), start-up per account likewise.

The mock runs in a process of its own (multiprocessing, fork) so that its
threads do not share the benchmark's interpreter; it answers over a pipe.
It serves every stream from one thread (mockframe's stream loop) and at
most 16 requests at once, listens with a backlog of 4096 and raises its
open-files limit to the hard one:
that is what lets one mock serve 10,000 accounts (5,000 streams, 5,000
pollers, 10,000 sign-ins at once). Its own CPU in start-up and in the
idle window is reported beside the gateway's.

What a size costs, here (2 cores): 100 and 1,000 accounts about half a
minute each; 10,000 accounts about 2.5 minutes (start-up alone 30-35 s,
most of it the gateway's own CPU) and 270 MB in the gateway.
--scale-client late connects the IRC client once every account runs, none
leaves it out (a gateway that closed the client at registration, "SendQ
exceeded" with 10,000 channels, was measured so); the result says which
was used.

127.0.0.1 only; every process started here is stopped by its PID.
"""

import multiprocessing
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.join(os.path.dirname(HERE), "tests")
sys.path.insert(0, TESTS)
import launch  # noqa: E402 (the tests' way to start parley)

HOST = "127.0.0.1"
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KIB = os.sysconf("SC_PAGE_SIZE") // 1024


class BenchError(Exception):
    pass


def add_arguments(parser):
    g = parser.add_argument_group("scale benchmark")
    g.add_argument("--scale-sizes", default="100,1000",
                   help="account counts; the first is the baseline "
                   "(100,1000)")
    g.add_argument("--scale-poll-seconds", type=int, default=20,
                   help="poll_seconds of the polling half (20)")
    g.add_argument("--scale-window", type=float, default=60.0,
                   help="seconds of the idle window measured (60)")
    g.add_argument("--scale-heartbeat", type=float, default=10.0,
                   help="seconds between the mock's stream heartbeats (10)")
    g.add_argument("--scale-stream-share", type=float, default=0.5,
                   help="share of accounts that stream; the rest poll (0.5)")
    g.add_argument("--scale-gateways", type=int, default=20,
                   help="gateways with no accounts run side by side for "
                   "their summed PSS (20; 0: skip)")
    g.add_argument("--scale-fanout", type=int, default=100,
                   help="accounts one status mentions at once, all "
                   "streaming (100; 0: skip)")
    g.add_argument("--scale-fanout-rounds", type=int, default=20,
                   help="such statuses, each after five mentioning one "
                   "account, the baseline (20)")
    g.add_argument("--scale-start-posts", type=int, default=1000000,
                   help="posts stored before the start-up run (1,000,000; "
                   "0: skip); an empty store is the baseline")
    g.add_argument("--scale-start-accounts", type=int, default=1000,
                   help="accounts of the start-up runs (1,000)")
    g.add_argument("--scale-client", default="early",
                   choices=("early", "late", "none"),
                   help="when the IRC client of the N-account runs "
                   "connects: early (as the gateway listens, so start-up "
                   "includes its welcome), late (once every account runs, "
                   "before the idle window) or none (early)")
    g.add_argument("--scale-baseline-bin", default="",
                   help="another parley (say, built from main's HEAD in a "
                   "temporary directory) run on the same sizes in the same "
                   "run; its figures become a second baseline")


# ---- /proc ---------------------------------------------------------------


def status_kib(pid, key="VmRSS:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def run_ns(pid):
    """CPU time of every thread of pid, in ns (schedstat: finer than the
    10 ms ticks of /proc/PID/stat, which a quiet 100-account gateway spends
    only a few of per 10 s)."""
    total = 0
    for t in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def nofile_soft(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                return line.split()[3]
    return "?"


def smaps_split(pid, binary):
    """Resident KiB by kind, from /proc/PID/smaps: anon (heap, stacks,
    anonymous maps), ours_file (our binary's pages), lib_private (dirty
    pages of libraries: their relocated and written data, private to us),
    lib_shared (clean library pages, shareable with every process mapping
    the same file), and the largest libraries."""
    out = {"anon_kib": 0, "ours_file_kib": 0, "lib_private_kib": 0,
           "lib_shared_kib": 0, "rss_kib": 0}
    libs = {}
    name, rss, dirty, anon = None, 0, 0, 0
    binary = os.path.realpath(binary)

    def flush():
        if name is None:
            return
        out["rss_kib"] += rss
        file_rss = rss - anon
        if not name.startswith("/"):
            # [heap], [stack], anonymous maps: ours; the kernel's [vdso]
            # pages are nobody's to save
            out["anon_kib"] += anon
            return
        if os.path.realpath(name) == binary:
            out["ours_file_kib"] += rss
            return
        # a library's pages we wrote (relocations, its data) are Anonymous
        # copies: private to us but not our doing
        base = os.path.basename(name)
        libs[base] = libs.get(base, 0) + rss
        out["lib_private_kib"] += anon + min(dirty, max(0, file_rss))
        out["lib_shared_kib"] += max(0, file_rss - dirty)

    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            if "-" in parts[0] and not parts[0].endswith(":"):
                flush()
                name = parts[5] if len(parts) > 5 else ""
                rss = dirty = anon = 0
            elif parts[0] == "Rss:":
                rss = int(parts[1])
            elif parts[0] == "Private_Dirty:":
                dirty = int(parts[1])
            elif parts[0] == "Anonymous:":
                anon = int(parts[1])
    flush()
    out["largest_libs_kib"] = dict(sorted(libs.items(),
                                          key=lambda kv: -kv[1])[:6])
    return out


# ---- the mock, in a process of its own ------------------------------------


def _watch_writes(marks):
    """Wrap the mock's stream writes (in the mock's process only) so that
    each write of an event carrying a marker is timed as it leaves for the
    socket: marks[(marker, token)] = time.monotonic() after the write
    (CLOCK_MONOTONIC, the same clock in every process of the machine)."""
    from mockframe import streams

    orig = streams.Stream._write

    def timed(self, w, data):
        orig(self, w, data)
        if b"fanmark" in data:
            t = time.monotonic()
            i = data.find(b"fanmark")
            mark = data[i:i + 16].split(b" ", 1)[0].split(b"<", 1)[0]
            marks[(mark.decode("ascii", "replace"), self.token)] = t

    streams.Stream._write = timed


def _mock_main(conn, n, heartbeat):
    from mock_mastodon import MockMastodon
    # one descriptor per stream and per kept-alive connection: 10,000
    # accounts hold more than the usual soft limit
    raise_nofile()
    # a thread per connection that is not a stream, up to one per account;
    # none of them goes deep
    threading.stack_size(512 * 1024)
    marks = {}
    _watch_writes(marks)
    m = MockMastodon(heartbeat_seconds=heartbeat)
    # thousands of streams: one thread serves them all, not one each (they
    # woke up in turn after the one interpreter lock, and at 10,000 accounts
    # the mock no longer answered)
    m.stream_loop = True
    # every account signs in at once at start: a backlog of 256 overflowed
    # and the connections waited for SYN retries
    m.listen_backlog = 4096
    # and then 10,000 threads each with a request would fight for the
    # interpreter lock (minutes of system time): serve 16 at once
    m.max_active = 16
    m.start()
    tokens = m.add_users(n, pattern="u{i}")
    conn.send((m.base_url, tokens))
    while True:
        try:
            cmd, arg = conn.recv()
        except EOFError:
            break
        if cmd == "streams":
            conn.send(m.stream_count())
        elif cmd == "polls":
            want = set(arg)
            times = {}
            with m._lock:
                reqs = list(m.requests)
            for r in reqs:
                if r.method != "GET" or r.path != "/api/v1/notifications":
                    continue
                tok = r.headers.get("authorization", "")[7:]
                if tok in want:
                    times.setdefault(tok, []).append(r.time)
            conn.send(times)
        elif cmd == "polled":
            # how many of arg have polled at least once
            want = set(arg)
            seen = set()
            with m._lock:
                reqs = list(m.requests)
            for r in reqs:
                if r.path == "/api/v1/notifications":
                    tok = r.headers.get("authorization", "")[7:]
                    if tok in want:
                        seen.add(tok)
            conn.send(len(seen))
        elif cmd == "mention":
            # one status mentioning every token in arg[0], text arg[1]
            tokens, text = arg
            m.mention_users(tokens, text=text)
            conn.send(len(tokens))
        elif cmd == "marks":
            # when each write carrying marker arg left for its stream
            conn.send({tok: t for (mk, tok), t in list(marks.items())
                       if mk == arg})
        elif cmd == "stop":
            break
    m.stop()
    conn.send("stopped")


class Mock:
    def __init__(self, n, heartbeat):
        ctx = multiprocessing.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_mock_main, args=(child, n, heartbeat),
                                daemon=True)
        self.proc.start()
        if not self.conn.poll(60):
            raise BenchError("the mock did not start")
        self.base_url, self.tokens = self.conn.recv()

    def ask(self, cmd, arg=None):
        self.conn.send((cmd, arg))
        if not self.conn.poll(120):
            raise BenchError("the mock did not answer %s" % cmd)
        return self.conn.recv()

    def stop(self):
        if self.proc.is_alive():
            try:
                self.ask("stop")
            except (BenchError, OSError):
                pass
            self.proc.join(20)
        if self.proc.is_alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.join()


# ---- one IRC client --------------------------------------------------------


class Client:
    """Registers, then drains what the gateway sends and answers PING, so
    the connection stays as an idle user's would."""

    def __init__(self, port, marks=None, welcome_timeout=30):
        # marks: {(marker, channel): time.monotonic() the line was read}
        # for every PRIVMSG carrying "fanmark"
        self.marks = marks
        self.sock = socket.create_connection((HOST, port), 10)
        self.sock.sendall(b"NICK bench\r\nUSER bench 0 * :bench\r\n")
        self.welcomed = threading.Event()
        self.closed = threading.Event()
        self.error = ""         # the ERROR line, if the gateway closed us
        self.bytes = 0
        self.stop = False
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        deadline = time.monotonic() + welcome_timeout
        while not self.welcomed.wait(0.2):
            if self.closed.is_set() or time.monotonic() > deadline:
                self.close()
                raise BenchError("no IRC welcome%s" % (
                    ": " + self.error if self.error else ""))

    def _read(self):
        buf = b""
        self.sock.settimeout(1.0)
        while not self.stop:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                self.closed.set()
                return
            if not data:
                self.closed.set()
                return
            self.bytes += len(data)
            buf += data
            *lines, buf = buf.split(b"\r\n")
            now = time.monotonic()
            for line in lines:
                if self.marks is not None and b"fanmark" in line:
                    parts = line.split(b" ", 3)
                    if len(parts) == 4 and parts[1] == b"PRIVMSG":
                        i = parts[3].find(b"fanmark")
                        mark = parts[3][i:].split(b" ", 1)[0]
                        self.marks[(mark.decode(), parts[2].decode())] = now
                if b" 001 " in line:
                    self.welcomed.set()
                if line.startswith(b"ERROR"):
                    self.error = line.decode("utf-8", "replace")
                if line.startswith(b"PING"):
                    try:
                        self.sock.sendall(b"PONG" + line[4:] + b"\r\n")
                    except OSError:
                        return

    def close(self):
        self.stop = True
        try:
            self.sock.close()
        except OSError:
            pass
        self.t.join(3)


# ---- runs ------------------------------------------------------------------


def accounts_conf(base_url, tokens, nstream, poll_s):
    out = []
    for i, tok in enumerate(tokens):
        out.append("[account a%d]\nnetwork = mastodon\nbase_url = %s\n"
                   "token = %s\n" % (i, base_url, tok))
        if i >= nstream:
            out.append("streaming = no\npoll_seconds = %d\n" % poll_s)
        out.append("\n")
    return "".join(out)


def start_parley(workdir, binary, conf):
    p = launch.Parley(workdir, binary, log_level="info", conf_extra=conf)
    t0 = time.monotonic()
    try:
        p.start(timeout=60)
    except launch.ParleyError as e:
        raise BenchError(str(e))
    return p, t0


def wait_until(pred, timeout, what, p=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return time.monotonic()
        if p is not None and not p.alive():
            raise BenchError("Parley exited while waiting for %s:\n%s" %
                             (what, p.logtext(40)))
        time.sleep(0.05)
    raise BenchError("timed out waiting for %s" % what)


def measure_empty(root, binary, settle=3.0):
    d = tempfile.mkdtemp(prefix="scale-empty-", dir=root)
    p, _ = start_parley(d, binary, "")
    c = None
    try:
        c = Client(p.port)
        time.sleep(settle)
        split = smaps_split(p.pid, binary)
        split["vmrss_kib"] = status_kib(p.pid)
        split["fds"] = open_fds(p.pid)
        return split
    finally:
        if c is not None:
            c.close()
        p.stop()
        shutil.rmtree(d, ignore_errors=True)


def pss_kib(pid):
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1])
    return 0


def measure_many(root, binary, k, settle=3.0):
    """k gateways with no accounts side by side, one client each (one per
    team or tenant): their summed PSS, in which a shared library page
    counts once across all of them, against one gateway's."""
    ps, cs = [], []
    try:
        for i in range(k):
            d = tempfile.mkdtemp(prefix="scale-many-%d-" % i, dir=root)
            p, _ = start_parley(d, binary, "")
            ps.append((p, d))
            cs.append(Client(p.port))
        time.sleep(settle)
        total = sum(pss_kib(p.pid) for p, _ in ps)
        rss = sum(status_kib(p.pid) for p, _ in ps)
        return {"gateways": k, "pss_sum_kib": total, "rss_sum_kib": rss,
                "pss_per_gateway_kib": round(total / k, 1)}
    finally:
        for c in cs:
            c.close()
        for p, d in ps:
            p.stop()
            shutil.rmtree(d, ignore_errors=True)


def measure_n(root, binary, n, a, progress):
    nstream = int(round(n * a.scale_stream_share))
    mock = Mock(n, a.scale_heartbeat)
    d = tempfile.mkdtemp(prefix="scale-%d-" % n, dir=root)
    p = c = None
    try:
        poll_toks = mock.tokens[nstream:]
        conf = accounts_conf(mock.base_url, mock.tokens, nstream,
                             a.scale_poll_seconds)
        # the mock's threads come and go: its whole-process ticks keep the
        # time of those that ended, schedstat of the live ones would not
        mock_cpu0 = cpu_s(mock.proc.pid)
        p, t0 = start_parley(d, binary, conf)
        t_listen = time.monotonic() - t0
        client_error = ""
        t_welcome = None

        def connect():
            # while thousands of accounts sign in, the welcome can take a
            # while; a gateway that closes the client instead (10,000
            # channel joins overflowing its send queue) is measured without
            try:
                return Client(p.port, welcome_timeout=30 + n * 0.03), ""
            except BenchError as e:
                progress("  %d accounts: %s; measuring without a client" %
                         (n, e))
                return None, str(e)

        if a.scale_client == "early":
            c, client_error = connect()
            t_welcome = time.monotonic() - t0
        t_streams = wait_until(lambda: mock.ask("streams") >= nstream,
                               120 + n * 0.2, "%d streams" % nstream, p) - t0
        t_polled = wait_until(
            lambda: mock.ask("polled", poll_toks) >= len(poll_toks),
            120 + n * 0.2, "a first poll of every polling account", p) - t0
        if a.scale_client == "late":
            t1 = time.monotonic()
            c, client_error = connect()
            t_welcome = time.monotonic() - t1
        if t_welcome is not None and not client_error:
            progress("  %d accounts: the client (%s) welcomed %.2fs after %s"
                     % (n, a.scale_client, t_welcome,
                        "spawn" if a.scale_client == "early" else
                        "it connected"))
        # the gateway's own share of start-up: the rest is the mock (Python)
        # and waiting on it
        startup_cpu = run_ns(p.pid) / 1e9
        # the mock shares the machine's cores: a busy mock answers late,
        # which shows as start-up and as polls out of time
        mock_startup_cpu = cpu_s(mock.proc.pid) - mock_cpu0
        progress("  %d accounts: listening %.2fs, streams %.2fs, polls "
                 "%.2fs; the gateway's CPU until then %.2fs, the mock's "
                 "%.2fs" % (n, t_listen, t_streams, t_polled, startup_cpu,
                            mock_startup_cpu))
        time.sleep(5)   # let the first round of polls and joins settle
        cpu0, w0, ns0 = cpu_s(p.pid), time.monotonic(), run_ns(p.pid)
        mcpu0 = cpu_s(mock.proc.pid)
        win_start = time.time()
        time.sleep(a.scale_window)
        cpu1, w1, ns1 = cpu_s(p.pid), time.monotonic(), run_ns(p.pid)
        mcpu1 = cpu_s(mock.proc.pid)
        rss = status_kib(p.pid)
        hwm = status_kib(p.pid, "VmHWM:")
        fds = open_fds(p.pid)
        limit = nofile_soft(p.pid)
        streams_end = mock.ask("streams")
        times = mock.ask("polls", poll_toks)
        # poll punctuality: gaps between polls that began in the window
        worst, gaps, late = 0.0, 0, 0
        shortest, longest = None, None
        want = float(a.scale_poll_seconds)
        for tok in poll_toks:
            ts = sorted(times.get(tok, []))
            for x, y in zip(ts, ts[1:]):
                if x < win_start - want:
                    continue
                dev = abs((y - x) - want) / want
                gaps += 1
                worst = max(worst, dev)
                # early or late: which way the worst went
                shortest = y - x if shortest is None else min(shortest, y - x)
                longest = y - x if longest is None else max(longest, y - x)
                if dev > 0.10:
                    late += 1
        never = sum(1 for tok in poll_toks
                    if len([t for t in times.get(tok, [])
                            if t >= win_start]) == 0)
        errors = [x for x in p.logtext().splitlines()
                  if "[error]" in x][:5]
        return {
            "accounts": n, "streaming": nstream, "polling": len(poll_toks),
            "listen_s": round(t_listen, 3),
            "client": a.scale_client,
            "welcome_s": None if t_welcome is None else round(t_welcome, 3),
            "client_error": client_error,
            "startup_s": round(max(t_streams, t_polled), 3),
            "startup_cpu_s": round(startup_cpu, 3),
            "streams_s": round(t_streams, 3), "first_polls_s":
            round(t_polled, 3),
            "rss_kib": rss, "hwm_kib": hwm, "fds": fds,
            "nofile_soft": limit,
            "idle_cpu_ms_per_10s": round((ns1 - ns0) / 1e6 /
                                         ((w1 - w0) / 10), 2),
            "idle_cpu_ticks_ms_per_10s": round((cpu1 - cpu0) * 1000 /
                                               ((w1 - w0) / 10), 1),
            "mock_startup_cpu_s": round(mock_startup_cpu, 3),
            "mock_idle_cpu_ms_per_10s": round((mcpu1 - mcpu0) * 1000 /
                                              ((w1 - w0) / 10), 1),
            "streams_at_end": streams_end,
            "poll_gaps": gaps, "poll_gaps_late": late,
            "poll_worst_dev_pct": round(worst * 100, 1),
            "poll_gap_min_s": None if shortest is None else
            round(shortest, 2),
            "poll_gap_max_s": None if longest is None else round(longest, 2),
            "polling_never_polled": never, "errors": errors,
        }
    finally:
        if c is not None:
            c.close()
        if p is not None:
            p.stop(timeout=60)
        mock.stop()
        shutil.rmtree(d, ignore_errors=True)


def pct(xs, q):
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(q / 100.0 * (len(xs) - 1))))]


def measure_fanout(root, binary, n, rounds, progress):
    """One status mentioning n accounts at once (all streaming), against a
    status mentioning one account, alternated in the same run: per account,
    the delay from the mock's write of the event to its stream to the line
    reaching the IRC client in that account's channel."""
    mock = Mock(n, 30.0)
    d = tempfile.mkdtemp(prefix="scale-fanout-", dir=root)
    p = c = None
    got = {}
    chan = {tok: "#a%d" % i for i, tok in enumerate(mock.tokens)}
    try:
        conf = accounts_conf(mock.base_url, mock.tokens, n, 20)
        p, _ = start_parley(d, binary, conf)
        c = Client(p.port, got)
        wait_until(lambda: mock.ask("streams") >= n, 120 + n * 0.2,
                   "%d streams" % n, p)
        time.sleep(2)

        def one(mark, toks):
            mock.ask("mention", (toks, "%s hello from the bench" % mark))
            want = [(mark, chan[t]) for t in toks]
            wait_until(lambda: all(k in got for k in want), 30,
                       "%s on %d channels" % (mark, len(toks)), p)
            sent = mock.ask("marks", mark)
            delays = [(got[(mark, chan[t])] - sent[t]) * 1000 for t in toks
                      if t in sent]
            spread = (max(sent.values()) - min(sent.values())) * 1000
            last = (max(got[k] for k in want) - min(sent.values())) * 1000
            return delays, spread, last

        # warm-up: the sender joins every channel once
        one("fanmark0w", mock.tokens)
        one("fanmark0v", mock.tokens[:1])
        single, fan, spreads, lasts = [], [], [], []
        cpu_fan = []
        for r in range(rounds):
            for k in range(5):
                dl, _, _ = one("fanmark%ds%d" % (r, k),
                               [mock.tokens[(r * 5 + k) % n]])
                single += dl
                time.sleep(0.05)
            time.sleep(0.2)
            ns0 = run_ns(p.pid)
            dl, spread, last = one("fanmark%df" % r, mock.tokens)
            cpu_fan.append((run_ns(p.pid) - ns0) / 1e6)
            fan += dl
            spreads.append(spread)
            lasts.append(last)
            time.sleep(0.2)
        res = {
            "accounts": n, "rounds": rounds,
            "single_p50_ms": round(pct(single, 50), 3),
            "single_p99_ms": round(pct(single, 99), 3),
            "fan_p50_ms": round(pct(fan, 50), 3),
            "fan_p99_ms": round(pct(fan, 99), 3),
            "fan_max_ms": round(max(fan), 3),
            "fan_samples": len(fan), "single_samples": len(single),
            "mock_write_spread_p50_ms": round(pct(spreads, 50), 2),
            "first_write_to_last_line_p50_ms": round(pct(lasts, 50), 2),
            # the gateway's CPU (all threads) over one fan-out, from the
            # request to the mock until the last line was read: the idle
            # heartbeats of the other streams in that time are in it too
            "gateway_cpu_per_fanout_ms_p50": round(pct(cpu_fan, 50), 2),
        }
        res["p99_vs_single"] = ratio(res["fan_p99_ms"],
                                     res["single_p99_ms"])
        res["p50_vs_single"] = ratio(res["fan_p50_ms"],
                                     res["single_p50_ms"])
        res["ok"] = len(fan) == rounds * n
        progress("  a mention reaching %d accounts: p50 %.2f ms, p99 %.2f "
                 "ms; reaching one: p50 %.2f ms, p99 %.2f ms" % (
                     n, res["fan_p50_ms"], res["fan_p99_ms"],
                     res["single_p50_ms"], res["single_p99_ms"]))
        return res
    finally:
        if c is not None:
            c.close()
        if p is not None:
            p.stop(timeout=60)
        mock.stop()
        shutil.rmtree(d, ignore_errors=True)


def measure_startup(root, binary, n, posts, a, progress):
    """Start-up of n accounts (the same mix as measure_n) on a store that
    already holds `posts` posts, dealt out over the n accounts and their
    channels with one history line each (history_bench.load_store, the
    rows the gateway writes); posts=0: a fresh, empty store."""
    nstream = int(round(n * a.scale_stream_share))
    mock = Mock(n, a.scale_heartbeat)
    d = tempfile.mkdtemp(prefix="scale-start-%d-" % posts, dir=root)
    p = c = None
    res = {"accounts": n, "posts": posts}
    try:
        if posts:
            import history_bench
            q, _ = start_parley(d, binary, "")     # creates the schema
            q.stop()
            facts = history_bench.load_store(
                q.db, posts, {}, 0,
                accounts=[("a%d" % i, "#a%d" % i) for i in range(n)])
            res["load_s"] = facts["load_s"]
            res["db_mb"] = facts["db_mb"]
            progress("  loaded %d posts in %.1fs (%.0f MB)" % (
                facts["posts"], facts["load_s"], facts["db_mb"]))
            # a store read back from disk, as after a reboot, is not what
            # is measured here: its pages stay in the page cache
        poll_toks = mock.tokens[nstream:]
        conf = accounts_conf(mock.base_url, mock.tokens, nstream,
                             a.scale_poll_seconds)
        p, t0 = start_parley(d, binary, conf)
        t_listen = time.monotonic() - t0
        cpu_listen = run_ns(p.pid) / 1e9
        c = Client(p.port)
        t_streams = wait_until(lambda: mock.ask("streams") >= nstream,
                               120 + n * 0.2, "%d streams" % nstream, p) - t0
        t_polled = wait_until(
            lambda: mock.ask("polled", poll_toks) >= len(poll_toks),
            120 + n * 0.2, "a first poll of every polling account", p) - t0
        res.update({
            "listen_s": round(t_listen, 3),
            "listen_cpu_s": round(cpu_listen, 3),
            "startup_s": round(max(t_streams, t_polled), 3),
            "startup_cpu_s": round(run_ns(p.pid) / 1e9, 3),
            "rss_kib": status_kib(p.pid),
        })
        progress("  %d accounts, %d posts stored: listening %.2fs (CPU "
                 "%.2fs), every account running %.2fs (CPU %.2fs)" % (
                     n, posts, res["listen_s"], res["listen_cpu_s"],
                     res["startup_s"], res["startup_cpu_s"]))
        return res
    finally:
        if c is not None:
            c.close()
        if p is not None:
            p.stop(timeout=60)
        mock.stop()
        shutil.rmtree(d, ignore_errors=True)


def ratio(x, base):
    return round(x / base, 2) if base else None


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def run(args):
    sizes = [int(x) for x in args.scale_sizes.split(",") if x.strip()]
    if args.quick:
        args.scale_gateways = min(args.scale_gateways, 5)
        sizes = [min(s, 50) if i == 0 else min(s, 200)
                 for i, s in enumerate(sizes)]
        args.scale_window = min(args.scale_window, 25.0)
        args.scale_poll_seconds = min(args.scale_poll_seconds, 10)
        args.scale_fanout = min(args.scale_fanout, 20)
        args.scale_fanout_rounds = min(args.scale_fanout_rounds, 3)
        args.scale_start_posts = min(args.scale_start_posts, 20000)
        args.scale_start_accounts = min(args.scale_start_accounts, 200)
    hard = raise_nofile()

    def progress(msg):
        print(msg, flush=True)

    root = tempfile.mkdtemp(prefix="parley-scale-")
    res = {"sizes": sizes, "poll_seconds": args.scale_poll_seconds,
           "window_s": args.scale_window,
           "heartbeat_s": args.scale_heartbeat,
           "stream_share": args.scale_stream_share, "nofile_hard": hard,
           # other work on the machine skews every figure here: say so
           "loadavg_at_start": os.getloadavg()}
    bins = [("parley", args.parley)]
    if args.scale_baseline_bin:
        bins.append(("baseline_bin", os.path.abspath(args.scale_baseline_bin)))
    try:
        for key, binary in bins:
            progress("  %s: gateway with no accounts, one client ..." % key)
            one = {"binary": binary, "empty": measure_empty(root, binary),
                   "runs": []}
            for n in sizes:
                progress("  %s: %d accounts ..." % (key, n))
                one["runs"].append(measure_n(root, binary, n, args,
                                             progress))
            if args.scale_gateways > 0:
                progress("  %s: %d gateways side by side ..." %
                         (key, args.scale_gateways))
                one["many"] = measure_many(root, binary, args.scale_gateways)
            derive(one)
            res[key] = one
        if args.scale_fanout > 0:
            progress("  a mention reaching %d accounts at once ..." %
                     args.scale_fanout)
            res["fanout"] = measure_fanout(root, args.parley,
                                           args.scale_fanout,
                                           args.scale_fanout_rounds, progress)
        if args.scale_start_posts > 0:
            n = args.scale_start_accounts
            progress("  start-up of %d accounts, empty store, then %d posts "
                     "stored ..." % (n, args.scale_start_posts))
            st = {"empty": measure_startup(root, args.parley, n, 0, args,
                                           progress),
                  "loaded": measure_startup(root, args.parley, n,
                                            args.scale_start_posts, args,
                                            progress)}
            st["wall_vs_empty"] = ratio(st["loaded"]["startup_s"],
                                        st["empty"]["startup_s"])
            st["cpu_vs_empty"] = ratio(st["loaded"]["startup_cpu_s"],
                                       st["empty"]["startup_cpu_s"])
            res["startup"] = st
    finally:
        shutil.rmtree(root, ignore_errors=True)
    ok = all(r["ok"] for key, _ in bins for r in res[key]["runs"])
    ok = ok and res.get("fanout", {}).get("ok", True)
    if "baseline_bin" in res:
        for r, b in zip(res["parley"]["runs"], res["baseline_bin"]["runs"]):
            r["vs_baseline_bin"] = {
                k: ratio(r[k], b[k]) for k in (
                    "rss_per_account_kib", "idle_cpu_ms_per_10s",
                    "startup_s", "fds")}
    res["loadavg_at_end"] = os.getloadavg()
    print_tables(res)
    print("  load average (1, 5, 15 min) at start %s, at end %s" % (
        "/".join("%.2f" % x for x in res["loadavg_at_start"]),
        "/".join("%.2f" % x for x in res["loadavg_at_end"])))
    res["ok"] = ok
    return res


def derive(one):
    """Per-account figures, checks, and ratios against the first size."""
    base_rss = one["empty"]["vmrss_kib"]
    for r in one["runs"]:
        n = r["accounts"]
        r["rss_per_account_kib"] = round((r["rss_kib"] - base_rss) / n, 1)
        r["cpu_ms_per_10s_per_1000"] = round(r["idle_cpu_ms_per_10s"] * 1000
                                             / n, 2)
        r["startup_ms_per_account"] = round(r["startup_s"] * 1000 / n, 2)
        r["fds_per_account"] = round(r["fds"] / n, 2)
        r["ok"] = not (r["poll_gaps_late"] or r["polling_never_polled"] or
                       r["streams_at_end"] < r["streaming"] or
                       r["client_error"])
    b = one["runs"][0]
    for r in one["runs"]:
        r["vs_baseline"] = {
            "rss_per_account": ratio(r["rss_per_account_kib"],
                                     b["rss_per_account_kib"]),
            "cpu_per_account": ratio(r["cpu_ms_per_10s_per_1000"],
                                     b["cpu_ms_per_10s_per_1000"]),
            "startup_per_account": ratio(r["startup_ms_per_account"],
                                         b["startup_ms_per_account"]),
            "fds_per_account": ratio(r["fds_per_account"],
                                     b["fds_per_account"]),
        }


def print_tables(res):
    print()
    print("Accounts: %d%% streaming, the others polling every %d s; mock "
          "heartbeat %g s; idle window %g s" % (
              round(res["stream_share"] * 100), res["poll_seconds"],
              res["heartbeat_s"], res["window_s"]))
    for key in ("parley", "baseline_bin"):
        if key in res:
            print_one(res[key], "this build" if key == "parley" else
                      "baseline build %s" % res[key]["binary"])
    f = res.get("fanout")
    if f:
        print()
        print("A status mentioning %d accounts at once (%d times, all "
              "streaming), against one mentioning one account (%d times), "
              "same gateway:" % (f["accounts"], f["rounds"],
                                 f["single_samples"]))
        print("  delay per account, mock's write to the IRC line: p50 %.2f "
              "ms, p99 %.2f ms (aim p99 <= 5 ms); one account: p50 %.2f ms, "
              "p99 %.2f ms; ratio p50 x%s, p99 x%s" % (
                  f["fan_p50_ms"], f["fan_p99_ms"], f["single_p50_ms"],
                  f["single_p99_ms"], f["p50_vs_single"],
                  f["p99_vs_single"]))
        print("  the mock's own writes spread over %.1f ms (p50); first "
              "write to last line %.1f ms; the gateway's CPU per such status "
              "%.1f ms" % (f["mock_write_spread_p50_ms"],
                           f["first_write_to_last_line_p50_ms"],
                           f["gateway_cpu_per_fanout_ms_p50"]))
    st = res.get("startup")
    if st:
        e, ld = st["empty"], st["loaded"]
        print()
        print("Start-up of %d accounts: spawn to every stream open and every "
              "poller polled once" % e["accounts"])
        for label, r in (("empty store", e),
                         ("%d posts stored (%.0f MB)" % (
                             ld["posts"], ld.get("db_mb", 0)), ld)):
            print("  %s: listening %.2f s (its CPU %.2f s), every account "
                  "running %.2f s (its CPU %.2f s), RSS %.1f MiB" % (
                      label, r["listen_s"], r["listen_cpu_s"],
                      r["startup_s"], r["startup_cpu_s"],
                      r["rss_kib"] / 1024.0))
        print("  stored / empty: wall x%s, the gateway's CPU x%s (aim: "
              "under 2 s)" % (st["wall_vs_empty"], st["cpu_vs_empty"]))
    if "baseline_bin" in res:
        for r in res["parley"]["runs"]:
            v = r["vs_baseline_bin"]
            print("  %d accounts, this build / baseline build: memory per "
                  "account x%s, idle CPU x%s, start-up x%s, descriptors x%s"
                  % (r["accounts"], v["rss_per_account_kib"],
                     v["idle_cpu_ms_per_10s"], v["startup_s"], v["fds"]))


def print_one(one, label):
    e = one["empty"]
    mib = 1024.0
    print()
    print("[%s]" % label)
    print("Idle gateway, no accounts, one client: VmRSS %.1f MiB" %
          (e["vmrss_kib"] / mib))
    print("  ours: anonymous (heap, stacks) %.1f MiB, our binary's pages "
          "%.1f MiB" % (e["anon_kib"] / mib, e["ours_file_kib"] / mib))
    print("  shared libraries: %.1f MiB shareable (clean), %.1f MiB private "
          "(their written data)" % (e["lib_shared_kib"] / mib,
                                    e["lib_private_kib"] / mib))
    print("  largest libraries (KiB): " + ", ".join(
        "%s %d" % kv for kv in e["largest_libs_kib"].items()))
    m = one.get("many")
    if m:
        print("  %d gateways side by side, no accounts, a client each: PSS "
              "%.1f MiB in all, %.2f MiB each (VmRSS would add up to %.0f "
              "MiB: shared pages counted again in each)" % (
                  m["gateways"], m["pss_sum_kib"] / mib,
                  m["pss_per_gateway_kib"] / mib, m["rss_sum_kib"] / mib))
    hdr = ("accounts", "RSS MiB", "KiB/acct", "idle CPU ms/10s",
           "per 1000 acct", "start-up s", "its CPU s", "fds", "limit",
           "polls late", "worst gap dev", "gaps s")
    print("  " + " | ".join(hdr))
    for r in one["runs"]:
        print("  " + " | ".join(str(x) for x in (
            r["accounts"], "%.1f" % (r["rss_kib"] / mib),
            r["rss_per_account_kib"], r["idle_cpu_ms_per_10s"],
            r["cpu_ms_per_10s_per_1000"], r["startup_s"],
            r["startup_cpu_s"], r["fds"],
            r["nofile_soft"], "%d/%d" % (r["poll_gaps_late"],
                                         r["poll_gaps"]),
            "%.1f%%" % r["poll_worst_dev_pct"],
            "%s-%s" % (r["poll_gap_min_s"], r["poll_gap_max_s"]))))
    print("  the mock (Python, same cores): CPU in start-up " + ", ".join(
        "%d accounts %.2f s" % (r["accounts"], r["mock_startup_cpu_s"])
        for r in one["runs"]) + "; idle, per 10 s " + ", ".join(
        "%d ms" % r["mock_idle_cpu_ms_per_10s"] for r in one["runs"]))
    for r in one["runs"]:
        if r["client_error"]:
            print("  %d accounts: the IRC client (%s) was refused (%s); "
                  "these figures are without a client" % (
                      r["accounts"], r["client"], r["client_error"]))
        elif r["client"] != "early":
            print("  %d accounts: the IRC client %s" % (
                r["accounts"], "connected once every account ran"
                if r["client"] == "late" else "was not connected"))
    b = one["runs"][0]["accounts"]
    for r in one["runs"][1:]:
        v = r["vs_baseline"]
        print("  %d vs %d accounts, per account: memory x%s, idle CPU x%s, "
              "start-up x%s, descriptors x%s (1.0 = linear)" % (
                  r["accounts"], b, v["rss_per_account"],
                  v["cpu_per_account"], v["startup_per_account"],
                  v["fds_per_account"]))


def main(argv=None):
    import argparse
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parley", default=os.path.join(HERE, "..", "parley"))
    ap.add_argument("--quick", action="store_true")
    add_arguments(ap)
    a = ap.parse_args(argv)
    a.parley = os.path.abspath(a.parley)
    r = run(a)
    return 0 if r.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
