#!/usr/bin/python3
"""Mastodon benchmarks: Parley against BitlBee's Mastodon plugin, same
workloads, same run, same load generator (bench/masto_blaster.py, run as a
process of its own and driven over its control channel).

1. Added delay: mentions sent one at a time on the SSE stream at a fixed
   rate, after a warm-up from the same senders; from right after the
   event's bytes leave the generator's sendall to the moment the IRC
   client's reader thread receives the PRIVMSG line with that event's
   sequence number (perf_counter_ns on both sides: CLOCK_MONOTONIC).
   The harness's own floor (generator straight into the reader, no
   gateway) is measured too.
2. Throughput: bursts written at full speed; mentions per second from the
   first byte sent until the IRC client has every one of them (each
   sequence number checked, exactly once); best of a few rounds, all
   rounds kept. Parley's SQLite database must hold every mention sent.
3. Memory (VmRSS): idle after sign-in, after the big bursts, per new
   sender (minus a known-sender control round); for Parley also idle
   after a restart with everything stored.
4. CPU seconds (utime+stime) per 1,000 mentions during the bursts.

BitlBee's plugin refuses plain http, so the headline comparison is both
gateways over https (a self-signed certificate from the generator;
BitlBee does not verify it, Parley is given it as tls_ca). Parley over
plain http is measured too, as an extra column.

Standard library only; 127.0.0.1 only; every process started here is
stopped by its PID; temporary directories are removed.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
import launch  # noqa: E402 (the tests' way to start parley)
BLASTER = os.path.join(HERE, "masto_blaster.py")
SEQ_TAG = "qx7"   # masto_blaster.SEQ_TAG: 8 digits follow in every mention

HOST = "127.0.0.1"
MARK = SEQ_TAG.encode()
SEQ_RE = re.compile(re.escape(MARK) + rb"(\d{8})")
CLK = os.sysconf("SC_CLK_TCK")
NEW_SENDER_OFFSET = 1000000   # sender names never used by the other phases


class BenchError(Exception):
    pass


def add_arguments(parser):
    g = parser.add_argument_group("mastodon benchmark")
    g.add_argument("--bitlbee", default=shutil.which("bitlbee") or
                   "/usr/sbin/bitlbee", help="bitlbee binary (baseline)")
    g.add_argument("--masto-latency-n", type=int, default=1000,
                   help="mentions sent one at a time for the delay (1000)")
    g.add_argument("--masto-latency-rate", type=float, default=200.0,
                   help="mentions per second in the delay test (200)")
    g.add_argument("--masto-burst-small", type=int, default=2000)
    g.add_argument("--masto-burst-big", type=int, default=100000)
    g.add_argument("--masto-rounds", type=int, default=2,
                   help="rounds of the big burst (the small one gets one "
                   "more); the best is reported (2)")
    g.add_argument("--masto-senders", type=int, default=2000,
                   help="distinct senders in the bursts (2000)")
    g.add_argument("--masto-new-senders", type=int, default=5000,
                   help="new senders for the per-sender memory (5000)")
    g.add_argument("--masto-gateways", default="bitlbee,parley,parley_http",
                   help="which of bitlbee, parley (https), parley_http "
                   "(plain http, an extra column) to run")


def sizes(args):
    s = {
        "lat_n": args.masto_latency_n, "lat_rate": args.masto_latency_rate,
        "small": args.masto_burst_small, "big": args.masto_burst_big,
        "rounds": max(1, args.masto_rounds),
        "senders": args.masto_senders, "new": args.masto_new_senders,
    }
    if getattr(args, "quick", False):
        s.update(lat_n=min(s["lat_n"], 200), small=min(s["small"], 500),
                 big=min(s["big"], 5000), senders=min(s["senders"], 200),
                 new=min(s["new"], 500), rounds=1)
    s["warmup"] = min(100, s["lat_n"])
    s["lat_senders"] = min(50, s["senders"])
    return s


# ---- processes -----------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def mem_kib(pid):
    """VmRSS and, from smaps_rollup, what of it is private to the process
    (USS: not shared library pages other processes also map) and its
    proportional share (PSS)."""
    out = {"rss_kib": rss_kib(pid)}
    keys = {"Pss:": "pss_kib", "Private_Clean:": "priv", "Private_Dirty:":
            "priv", "Anonymous:": "anon_kib"}
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                k = line.split()[0] if line.strip() else ""
                if k in keys:
                    name = keys[k]
                    out[name] = out.get(name, 0) + int(line.split()[1])
    except OSError:
        pass
    if "priv" in out:
        out["uss_kib"] = out.pop("priv")
    return out


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def stop_pid(proc, timeout=10):
    """SIGTERM our own child by its PID, SIGKILL if it lingers."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class BatchRef:
    def __init__(self, d):
        self.id = d["batch"]
        self.first_seq = d["first_seq"]
        self.n = d["n"]
        self.senders = d["senders"]
        self.bytes = d["bytes"]

    def seqs(self):
        return range(self.first_seq, self.first_seq + self.n)


class BlasterProc:
    """bench/masto_blaster.py in its own process, driven over its control
    channel (one JSON line per command)."""

    def __init__(self, root, tls, cert_dir):
        self.dir = tempfile.mkdtemp(prefix="blaster-", dir=root)
        info = os.path.join(self.dir, "info.json")
        argv = [sys.executable, BLASTER, "--info-file", info,
                "--cert-dir", cert_dir]
        if tls:
            argv.append("--tls")
        self.log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while not os.path.exists(info):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                stop_pid(self.proc)
                raise BenchError("the load generator did not start")
            time.sleep(0.02)
        with open(info) as f:
            d = json.load(f)
        self.port = d["port"]
        self.base_url = d["base_url"]
        self.token = d["token"]
        self.ca_file = d["ca_file"]
        self.ctl = socket.create_connection((HOST, d["control_port"]), 10)
        self.ctl.settimeout(None)
        self.f = self.ctl.makefile("rwb", buffering=0)
        self.pid = self.proc.pid

    def cmd(self, *words):
        self.f.write((" ".join(str(w) for w in words) + "\n").encode())
        line = self.f.readline()
        if not line:
            raise BenchError("the load generator went away")
        out = json.loads(line)
        if isinstance(out, dict) and "error" in out:
            raise BenchError("load generator: %s" % out["error"])
        return out

    def prepare(self, n, senders, sender_offset=0):
        return BatchRef(self.cmd("prepare", n, senders, sender_offset))

    def free(self, batch):
        self.cmd("free", batch.id)

    def wait_stream(self, timeout):
        return self.cmd("wait_stream", timeout)["ok"]

    def drop_stream(self):
        self.cmd("drop_stream")

    def fire(self, batch):
        return self.cmd("fire", batch.id)

    def fire_paced(self, batch, rate):
        return self.cmd("fire_paced", batch.id, rate)["stamps_ns"]

    def stats(self):
        return self.cmd("stats")

    def stop(self):
        if self.proc is None:
            return
        try:
            self.cmd("quit")
            self.proc.wait(5)
        except (OSError, BenchError, ValueError, subprocess.TimeoutExpired):
            pass
        try:
            self.ctl.close()
        except OSError:
            pass
        stop_pid(self.proc)
        self.proc = None
        self.log.close()


class Reader:
    """One connection read in a tight loop by its own thread.

    Counts lines carrying a sequence number (MARK + 8 digits), and stamps
    each sequence number's first arrival (perf_counter_ns right after the
    recv that completed its line) while `stamping` is on. Answers PING."""

    def __init__(self, sock):
        self.sock = sock
        self.count = 0
        self.target = None
        self.t_done = None
        self.done = threading.Event()
        self.stamping = False
        self.arrivals = {}
        self.keep = False
        self.kept = []
        self.text = []            # everything, while setting up
        self.text_on = True
        self.closed = False
        self._partial = b""
        self._wlock = threading.Lock()
        self._t = threading.Thread(target=self._run, name="bench-reader",
                                   daemon=True)
        self._t.start()

    @classmethod
    def irc(cls, port):
        s = socket.create_connection((HOST, port), timeout=10)
        s.settimeout(None)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        return cls(s)

    def send(self, line):
        with self._wlock:
            self.sock.sendall(line.encode("utf-8") + b"\r\n")

    def _run(self):
        recv = self.sock.recv
        pc = time.perf_counter_ns
        while True:
            try:
                data = recv(1 << 20)
            except (OSError, ValueError):
                break
            t = pc()
            if not data:
                break
            buf = self._partial + data if self._partial else data
            cut = buf.rfind(b"\n") + 1
            if cut == 0:
                self._partial = buf
                continue
            lines, self._partial = buf[:cut], buf[cut:]
            n = lines.count(MARK)
            if n:
                if self.stamping:
                    arr = self.arrivals
                    for m in SEQ_RE.finditer(lines):
                        s = int(m.group(1))
                        if s not in arr:
                            arr[s] = t
                if self.keep:
                    self.kept.append(lines)
            if self.text_on:
                self.text.append(lines)
            if b"PING" in lines:
                for ln in lines.split(b"\r\n"):
                    if ln.startswith(b"PING"):
                        try:
                            with self._wlock:
                                self.sock.sendall(b"PONG" + ln[4:] + b"\r\n")
                        except OSError:
                            pass
            if n:
                self.count += n
                if self.target is not None and self.count >= self.target \
                        and self.t_done is None:
                    self.t_done = t
                    self.done.set()
        self.closed = True
        self.done.set()

    def wait_text(self, pattern, timeout, what):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if rx.search(b"".join(self.text)):
                return True
            if self.closed:
                break
            time.sleep(0.02)
        raise BenchError("no %s within %ss; got:\n%s" % (
            what, timeout,
            b"".join(self.text)[-2000:].decode("utf-8", "replace")))

    def quiet(self):
        """Setting up is over: stop keeping every line."""
        self.text_on = False
        self.text = []

    def expect(self, target):
        """Arm the counter for `target` more lines."""
        self.t_done = None
        self.done.clear()
        self.target = self.count + target

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._t.join(2)


class Gateway:
    key = label = ""

    def __init__(self, root, blaster):
        self.root = root
        self.blaster = blaster
        self.dir = tempfile.mkdtemp(prefix=self.key + "-", dir=root)
        self.proc = None
        self.port = None
        self.irc = None
        self.logf = None

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        if self.irc is not None:
            self.irc.close()
            self.irc = None
        stop_pid(self.proc, 15)
        if self.logf is not None:
            self.logf.close()
            self.logf = None

    def log_tail(self, n=2000):
        try:
            with open(os.path.join(self.dir, "log"), "rb") as f:
                return f.read()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def _spawn(self, argv):
        self.logf = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(argv, cwd=self.dir,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.logf, stderr=self.logf)

    def _wait_connectable(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("%s exited %s:\n%s" % (
                    self.label, self.proc.returncode, self.log_tail()))
            try:
                socket.create_connection((HOST, self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.02)
        raise BenchError("%s did not listen:\n%s" % (self.label,
                                                     self.log_tail()))

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Parley(Gateway):
    key, label = "parley", "Parley"

    def __init__(self, root, blaster, binary):
        super().__init__(root, blaster)
        self.binary = binary
        self.db = os.path.join(self.dir, "state", "parley.db")
        self.parley = None

    def start(self):
        b = self.blaster
        # log_level warn keeps logging out of the measurements; then the
        # port is fixed, and the launcher waits for it to take connections
        tls_ca = "tls_ca = %s\n" % b.ca_file if b.ca_file else ""
        self.parley = launch.Parley(
            self.dir, self.binary, listen="%s:%d" % (HOST, free_port()),
            log_level="warn",
            conf_extra="[account m]\nnetwork = mastodon\nbase_url = %s\n"
            "token = %s\n%s" % (b.base_url, b.token, tls_ca))
        try:
            self.parley.start()
        except launch.ParleyError as e:
            raise BenchError(str(e))
        self.proc, self.port = self.parley.proc, self.parley.port

    def log_tail(self, n=2000):
        return self.parley.logtext()[-n:] if self.parley else ""

    def sign_in(self):
        irc = self.irc = Reader.irc(self.port)
        irc.send("NICK bench")
        irc.send("USER bench 0 * :bench")
        irc.wait_text(rb" 366 bench #m ", 15, "JOIN of #m")
        if not self.blaster.wait_stream(20):
            raise BenchError("Parley did not open the stream:\n" +
                             self.log_tail())

    def stored_mentions(self):
        con = sqlite3.connect("file:%s?mode=ro" % self.db, uri=True,
                              timeout=10)
        try:
            return con.execute("select count(*) from posts where "
                               "kind = 'mention'").fetchone()[0]
        finally:
            con.close()


class BitlBee(Gateway):
    key, label = "bitlbee", "BitlBee"

    def __init__(self, root, blaster, binary):
        super().__init__(root, blaster)
        self.binary = binary

    def start(self):
        self.port = free_port()
        conf = os.path.join(self.dir, "bitlbee.conf")
        users = os.path.join(self.dir, "users")
        os.makedirs(users, exist_ok=True)
        with open(conf, "w") as f:
            f.write("[settings]\nRunMode = Daemon\nDaemonInterface = %s\n"
                    "DaemonPort = %d\nAuthMode = Open\n[defaults]\n"
                    % (HOST, self.port))
        # -D -n: one process serving every client, in the foreground; its
        # own config and user directory, so nothing of the system's.
        self._spawn([self.binary, "-D", "-n", "-i", HOST, "-p",
                     str(self.port), "-c", conf, "-d", users])
        self._wait_connectable()

    def sign_in(self):
        b = self.blaster
        irc = self.irc = Reader.irc(self.port)
        irc.send("NICK bench")
        irc.send("USER bench 0 * :bench")
        irc.wait_text(rb" 366 bench &bitlbee ", 15, "JOIN of &bitlbee")
        # The plugin keeps its OAuth token in the account's password as
        # "access_token=..." and registers an app unless consumer_key and
        # consumer_secret are set: with both, no browser is needed.
        for cmd in ("account add mastodon @me",
                    "account mastodon set base_url " + b.base_url,
                    "account mastodon set name m",
                    "account mastodon set consumer_key bench-client",
                    "account mastodon set consumer_secret bench-secret",
                    "account mastodon set password access_token=" + b.token,
                    "account mastodon on"):
            irc.send("PRIVMSG &bitlbee :" + cmd)
        irc.wait_text(rb"JOIN :#m\r\n", 15, "JOIN of #m")
        irc.wait_text(rb"Logging in: Logged in", 15, "sign-in")
        if not b.wait_stream(20):
            raise BenchError("BitlBee did not open the stream:\n" +
                             self.log_tail())


# ---- measurements --------------------------------------------------------


def settle_rss(pid, seconds=1.0):
    time.sleep(seconds)
    return rss_kib(pid)


def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    k = (len(sorted_vals) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_vals) - 1)
    return sorted_vals[lo] + (sorted_vals[hi] - sorted_vals[lo]) * (k - lo)


def measure_latency(blaster, reader, batch, rate):
    reader.arrivals = {}
    reader.stamping = True
    reader.expect(batch.n)
    stamps = blaster.fire_paced(batch, rate)
    reader.done.wait(10 + batch.n / 1000.0)
    reader.stamping = False
    delays = []
    missing = 0
    for i, seq in enumerate(batch.seqs()):
        t = reader.arrivals.get(seq)
        if t is None:
            missing += 1
        else:
            delays.append((t - stamps[i]) / 1e6)
    delays.sort()
    out = {"n": batch.n, "rate": rate, "received": len(delays),
           "missing": missing}
    if delays:
        out.update(p50_ms=round(pct(delays, 50), 4),
                   p90_ms=round(pct(delays, 90), 4),
                   p99_ms=round(pct(delays, 99), 4),
                   p999_ms=round(pct(delays, 99.9), 4),
                   max_ms=round(delays[-1], 4),
                   min_ms=round(delays[0], 4),
                   mean_ms=round(statistics.fmean(delays), 4),
                   over_1ms=sum(1 for d in delays if d > 1.0))
    return out


def measure_burst(blaster, reader, batch, timeout, pid=None, verify=True):
    if verify:
        reader.kept = []
        reader.keep = True
    reader.expect(batch.n)
    c0 = cpu_s(pid) if pid else 0
    t = blaster.fire(batch)
    reader.done.wait(timeout)
    c1 = cpu_s(pid) if pid else 0
    reader.keep = False
    out = {"n": batch.n, "senders": batch.senders}
    if verify:
        got = {}
        for chunk in reader.kept:
            for m in SEQ_RE.finditer(chunk):
                s = int(m.group(1))
                got[s] = got.get(s, 0) + 1
        reader.kept = []
        want = set(batch.seqs())
        received = len(want & set(got))
        dups = sum(v - 1 for s, v in got.items() if s in want and v > 1)
        out.update(received=received, duplicates=dups,
                   complete=received == batch.n and not dups)
    if pid:
        out.update(cpu_s=round(c1 - c0, 3),
                   cpu_s_per_1000=round((c1 - c0) * 1000.0 / batch.n, 4))
    out["send_seconds"] = round((t["t_last_ns"] - t["t_first_ns"]) / 1e9, 4)
    if reader.t_done is not None:
        secs = (reader.t_done - t["t_first_ns"]) / 1e9
        out["seconds"] = round(secs, 4)
        out["per_second"] = round(batch.n / secs)
    else:
        out["seconds"] = None
        out["per_second"] = None
    return out


def best_of(rounds):
    """The round with the highest rate (interference from other work on
    the machine only ever slows a round down); all rounds kept."""
    done = [r for r in rounds if r.get("per_second")]
    best = dict(max(done, key=lambda r: r["per_second"]) if done
                else rounds[0])
    best["complete"] = all(r.get("complete") for r in rounds)
    best["rounds"] = [{k: r.get(k) for k in ("per_second", "cpu_s_per_1000",
                                             "received", "complete")}
                      for r in rounds]
    cpus = [r["cpu_s_per_1000"] for r in rounds if "cpu_s_per_1000" in r]
    if cpus:
        best["cpu_s_per_1000"] = round(statistics.median(cpus), 4)
    return best


def run_gateway(gw, batches, sz, progress):
    """The same phases for either gateway; returns its numbers."""
    bl = gw.blaster
    r = {}
    gw.start()
    gw.sign_in()
    r["rss_idle_kib"] = settle_rss(gw.pid, 1.5)
    r["mem_idle"] = mem_kib(gw.pid)
    gw.irc.quiet()
    progress("%s: signed in, idle RSS %.1f MiB" % (gw.label,
                                                    r["rss_idle_kib"] / 1024))

    # Warm-up from the delay test's senders: their first mention makes a
    # new nick (JOIN, user record) in both gateways; the delay test is
    # about the steady state.
    measure_latency(bl, gw.irc, batches["warmup"], sz["lat_rate"])
    r["latency"] = measure_latency(bl, gw.irc, batches["lat"],
                                   sz["lat_rate"])
    progress("%s: delay p50 %s ms p99 %s ms (%d of %d over 1 ms)" % (
        gw.label, r["latency"].get("p50_ms"), r["latency"].get("p99_ms"),
        r["latency"].get("over_1ms", 0), r["latency"]["n"]))

    for name in ("small", "big"):
        rounds = []
        for b in batches[name]:
            if callable(b):
                b = b()   # made just before use: one big blob at a time
            res = measure_burst(bl, gw.irc, b, 30 + b.n / 1000.0, gw.pid)
            bl.free(b)
            rounds.append(res)
            progress("%s: burst of %d: %s/s, %s s CPU per 1000%s" % (
                gw.label, b.n, res["per_second"], res["cpu_s_per_1000"],
                "" if res["complete"] else
                " INCOMPLETE (%d received)" % res["received"]))
        r["burst_" + name] = best_of(rounds)
    r["rss_after_big_kib"] = settle_rss(gw.pid, 1.0)

    # Per sender: mentions from known senders twice (the second round is
    # the control: what as many more stored posts cost without new
    # senders), then as many from senders never seen before.
    res_k1 = measure_burst(bl, gw.irc, batches["known"][0], 60, gw.pid)
    rss_k1 = settle_rss(gw.pid, 1.0)
    res_k2 = measure_burst(bl, gw.irc, batches["known"][1], 60, gw.pid)
    rss_k2 = settle_rss(gw.pid, 1.0)
    res_new = measure_burst(bl, gw.irc, batches["new"], 60, gw.pid)
    rss_new = settle_rss(gw.pid, 1.0)
    # As many again: memory that stops growing at a bound (Parley keeps
    # 4096 people as IRC users) shows here as about 0.
    res_new2 = measure_burst(bl, gw.irc, batches["new2"], 60, gw.pid)
    rss_new2 = settle_rss(gw.pid, 1.0)
    k = batches["new"].n
    control = rss_k2 - rss_k1
    r["senders"] = {
        "new_senders": k, "rss_known1_kib": rss_k1, "rss_known2_kib": rss_k2,
        "rss_new_kib": rss_new,
        "kib_per_sender_raw": round((rss_new - rss_k2) / float(k), 4),
        "kib_per_mention_known": round(control / float(k), 4),
        "kib_per_sender": round((rss_new - rss_k2 - control) / float(k), 4),
        "rss_new2_kib": rss_new2,
        "kib_per_sender_next": round((rss_new2 - rss_new - control) /
                                     float(k), 4),
        "complete": res_k1["complete"] and res_k2["complete"] and
        res_new["complete"] and res_new2["complete"],
        "new_per_second": res_new["per_second"],
        "new_cpu_s_per_1000": res_new["cpu_s_per_1000"]}
    progress("%s: %d new senders: %+.3f KiB each, %d more: %+.3f KiB each "
             "(raw %+.3f; control round from known senders %+.3f KiB per "
             "mention)%s" % (
                 gw.label, k, r["senders"]["kib_per_sender"], k,
                 r["senders"]["kib_per_sender_next"],
                 r["senders"]["kib_per_sender_raw"],
                 r["senders"]["kib_per_mention_known"],
                 "" if r["senders"]["complete"] else " INCOMPLETE: %s" % [
                     (x["received"], x["n"]) for x in (res_k1, res_k2,
                                                       res_new, res_new2)]))
    r["sent"] = (sum(b.n for b in batches["small"] + batches["known"]) +
                 sz["big"] * sz["rounds"] + batches["warmup"].n +
                 batches["lat"].n + batches["new"].n + batches["new2"].n)
    r["alive_at_end"] = gw.alive()
    return r


def parley_restart(gw, progress):
    """Stop, count what is stored, start again on the same state and sign
    in: idle memory must not depend on how much is stored."""
    gw.stop()
    stored = gw.stored_mentions()
    gw.blaster.drop_stream()
    gw.start()
    gw.sign_in()
    rss = settle_rss(gw.pid, 1.5)
    gw.mem_restart = mem_kib(gw.pid)
    gw.irc.quiet()
    progress("Parley: restarted with %d stored mentions, idle RSS %.1f MiB"
             % (stored, rss / 1024))
    return stored, rss


def prepare_all(bl, sz):
    """The same batches, in the same order (so the same sequence numbers
    and sender names), in each generator process."""
    P = sz["senders"]
    return {
        "warmup": bl.prepare(sz["warmup"], sz["lat_senders"]),
        "lat": bl.prepare(sz["lat_n"], sz["lat_senders"]),
        "small": [bl.prepare(sz["small"], P)
                  for _ in range(sz["rounds"] + 1)],
        "known": [bl.prepare(sz["new"], P) for _ in range(2)],
        "new": bl.prepare(sz["new"], sz["new"], NEW_SENDER_OFFSET),
        "new2": bl.prepare(sz["new"], sz["new"], 2 * NEW_SENDER_OFFSET),
        # sequence numbers after all of the above, in every generator
        "big": [lambda: bl.prepare(sz["big"], P)
                for _ in range(sz["rounds"])],
    }


def calibrate(root, sz, progress):
    """The harness without a gateway: the generator's stream read straight
    by the same reader. Its delay is the floor under both gateways' numbers;
    its burst rate is the ceiling the generator can write."""
    out = {}
    for name, tls in (("https", True), ("http", False)):
        bl = BlasterProc(root, tls, root)
        rd = None
        try:
            s = socket.create_connection((HOST, bl.port), timeout=10)
            if tls:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(s)
            s.settimeout(None)
            s.sendall(b"GET /api/v1/streaming/user HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: Bearer " + bl.token.encode() +
                      b"\r\n\r\n")
            if not bl.wait_stream(10):
                raise BenchError("calibration stream did not open")
            rd = Reader(s)
            rd.quiet()
            lat = bl.prepare(min(400, sz["lat_n"]), sz["lat_senders"])
            big = bl.prepare(sz["big"], sz["senders"])
            floor = measure_latency(bl, rd, lat, sz["lat_rate"])
            burst = measure_burst(bl, rd, big, 60, verify=False)
            out[name] = {"delay_p50_ms": floor.get("p50_ms"),
                         "delay_p99_ms": floor.get("p99_ms"),
                         "burst_per_second": burst["per_second"]}
        finally:
            if rd is not None:
                rd.close()
            bl.stop()
        progress("harness alone (%s): delay p50 %s ms p99 %s ms; "
                 "generator writes %s mentions/s" % (
                     name, out[name]["delay_p50_ms"],
                     out[name]["delay_p99_ms"],
                     out[name]["burst_per_second"]))
    return out


# ---- report --------------------------------------------------------------


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu,
            "kernel": platform.release(),
            "date": datetime.datetime.now(datetime.timezone.utc)
            .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "loadavg_start": os.getloadavg()[0]}


def _get(d, path):
    for k in path.split("."):
        if not isinstance(d, dict) or d.get(k) is None:
            return None
        d = d[k]
    return d


ROWS = [
    # label, path, unit scale, format, which direction is better
    ("idle RSS (MiB)", "rss_idle_kib", 1 / 1024.0, "%.2f", "lower"),
    # the rest is shared-library pages (RssFile); USS and PSS are in the
    # JSON but depend on what else runs (other parley processes share pages)
    ("  of it anonymous (MiB)", "mem_idle.anon_kib", 1 / 1024.0, "%.2f",
     "lower"),
    ("delay p50 (ms)", "latency.p50_ms", 1, "%.3f", "lower"),
    ("delay p99 (ms)", "latency.p99_ms", 1, "%.3f", "lower"),
    ("burst small (mentions/s)", "burst_small.per_second", 1, "%.0f",
     "higher"),
    ("burst big (mentions/s)", "burst_big.per_second", 1, "%.0f", "higher"),
    ("CPU s/1000, small burst", "burst_small.cpu_s_per_1000", 1, "%.4f",
     "lower"),
    ("CPU s/1000, big burst", "burst_big.cpu_s_per_1000", 1, "%.4f",
     "lower"),
    ("RSS after big (MiB)", "rss_after_big_kib", 1 / 1024.0, "%.2f",
     "lower"),
    ("burst new (mentions/s)", "senders.new_per_second", 1, "%.0f",
     "higher"),
    ("KiB per new sender", "senders.kib_per_sender", 1, "%.3f", "lower"),
    ("KiB per sender, next new", "senders.kib_per_sender_next", 1, "%.3f",
     "lower"),
    ("RSS idle, restarted (MiB)", "rss_restart_kib", 1 / 1024.0, "%.2f",
     "lower"),
    ("mentions stored on disk", "stored_mentions", 1, "%.0f", "higher"),
]


def ratio(p, b):
    if p is None or b is None or b == 0:
        return None
    return p / b


def print_table(res, sz):
    b, p, h = (res.get(k) or {} for k in ("bitlbee", "parley", "parley_http"))
    head = "%-27s %11s %11s %24s %11s" % (
        "", "BitlBee", "Parley", "Parley/BitlBee", "Parley http")
    print(head)
    for label, path, scale, fmt, better in ROWS:
        if label.startswith("burst small"):
            label = "burst of %d (mentions/s)" % sz["small"]
        elif label.startswith("burst big"):
            label = "burst of %d (mentions/s)" % sz["big"]
        elif label.startswith("burst new"):
            label = "%d new senders (ment./s)" % sz["new"]
        elif label.startswith("KiB per sender, next"):
            label = "KiB per sender, %d more" % sz["new"]
        vals = []
        for d in (b, p, h):
            v = _get(d, path)
            vals.append(None if v is None else v * scale)
        cells = [(fmt % v) if v is not None else "-" for v in vals]
        r = ratio(vals[1], vals[0])
        rs = ("%.2fx" % r) if r is not None else "-"
        rs += " (%s better)" % better
        print("%-27s %11s %11s %24s %11s" % (label, cells[0], cells[1], rs,
                                             cells[2]))


def aims(res):
    """The issue's targets, each with whether this run met it."""
    b = res.get("bitlbee") or {}
    p = res.get("parley") or {}
    out = {}

    def put(name, ok, detail):
        out[name] = {"met": ok, "detail": detail}

    tb, tp = _get(b, "burst_big.per_second"), _get(p, "burst_big.per_second")
    if tb and tp:
        put("throughput_2x_bitlbee", tp >= 2 * tb,
            "%.0f/s vs 2 x %.0f/s" % (tp, tb))
    for q in ("p50_ms", "p99_ms"):
        lb, lp = _get(b, "latency." + q), _get(p, "latency." + q)
        if lb is not None and lp is not None:
            put("delay_" + q + "_not_above", lp <= lb,
                "%.3f ms vs %.3f ms" % (lp, lb))
    ib, ip = b.get("rss_idle_kib"), p.get("rss_idle_kib")
    if ib and ip:
        put("idle_rss_below", ip < ib, "%d KiB vs %d KiB" % (ip, ib))
    rr = p.get("rss_restart_kib")
    if ip and rr:
        # flat: within 512 KiB or 5 % of the fresh idle size
        put("rss_flat_with_stored_posts",
            rr - ip <= max(512, 0.05 * ip),
            "%d KiB restarted with %s stored vs %d KiB fresh" % (
                rr, p.get("stored_mentions"), ip))
    ks = _get(p, "senders.kib_per_sender_next")
    if ks is not None:
        put("rss_flat_with_senders", ks <= 0.1,
            "%.3f KiB per new sender in the second round, %.3f in the first "
            "(BitlBee %s, %s)" % (
                ks, _get(p, "senders.kib_per_sender"),
                _get(b, "senders.kib_per_sender_next"),
                _get(b, "senders.kib_per_sender")))
    if "stored_mentions" in p:
        put("stored_durably", p["stored_mentions"] >= p.get("sent", 0),
            "%s of %s in posts" % (p["stored_mentions"], p.get("sent")))
    return out


def checks(res):
    failed = []
    for key in ("bitlbee", "parley", "parley_http"):
        d = res.get(key)
        if d is None:
            continue
        if "error" in d:
            failed.append("%s: %s" % (key, d["error"].splitlines()[0]))
            continue
        for ph in ("burst_small", "burst_big"):
            if not d[ph]["complete"]:
                failed.append("%s %s: rounds %s" % (key, ph,
                                                    d[ph]["rounds"]))
        if d["latency"]["missing"]:
            failed.append("%s delay test: %d missing" % (
                key, d["latency"]["missing"]))
        if not d["senders"]["complete"]:
            failed.append("%s sender test incomplete" % key)
        if "stored_mentions" in d and d["stored_mentions"] != d["sent"]:
            failed.append("%s: %d mentions stored of %d sent" % (
                key, d["stored_mentions"], d["sent"]))
        if not d.get("alive_at_end", True):
            failed.append("%s died during the run" % key)
    return failed


# ---- driver --------------------------------------------------------------


def run(args):
    sz = sizes(args)
    m = machine()
    print("machine: %d CPUs, %s; kernel %s; %s; load average %.2f" % (
        m["nproc"], m["cpu"], m["kernel"], m["date"], m["loadavg_start"]))
    print("sizes: delay %d at %.0f/s after %d warm-up; bursts %d (x%d) and "
          "%d (x%d) from %d senders; %d new senders" % (
              sz["lat_n"], sz["lat_rate"], sz["warmup"], sz["small"],
              sz["rounds"] + 1, sz["big"], sz["rounds"], sz["senders"],
              sz["new"]))

    def progress(msg):
        print("  " + msg, flush=True)

    have_bitlbee = os.access(args.bitlbee, os.X_OK) and os.path.exists(
        "/usr/lib/bitlbee/mastodon.so")
    wanted = [w.strip() for w in args.masto_gateways.split(",")]
    if "bitlbee" in wanted and not have_bitlbee:
        print("  BitlBee or its Mastodon plugin is missing (make bench "
              "installs bitlbee and bitlbee-plugin-mastodon): baseline "
              "skipped")
    plan = []
    if have_bitlbee and "bitlbee" in wanted:
        plan.append(("bitlbee", True))
    if "parley" in wanted:
        plan.append(("parley", True))
    if "parley_http" in wanted:
        plan.append(("parley_http", False))

    root = tempfile.mkdtemp(prefix="mbench-")
    res = {"machine": m, "sizes": sz,
           "transport": "https for BitlBee and Parley; parley_http: http"}
    try:
        res["harness"] = calibrate(root, sz, progress)
        for key, tls in plan:
            bl = BlasterProc(root, tls, root)
            gw = None
            try:
                t0 = time.monotonic()
                batches = prepare_all(bl, sz)
                progress("%s: events serialised in %.1f s" % (
                    key, time.monotonic() - t0))
                if key == "bitlbee":
                    gw = BitlBee(root, bl, args.bitlbee)
                else:
                    gw = Parley(root, bl, args.parley)
                    gw.label = "Parley" if tls else "Parley/http"
                r = run_gateway(gw, batches, sz, progress)
                if isinstance(gw, Parley):
                    if key == "parley":
                        stored, rss = parley_restart(gw, progress)
                        r["rss_restart_kib"] = rss
                        r["mem_restart"] = gw.mem_restart
                        gw.stop()
                    else:
                        gw.stop()
                        stored = gw.stored_mentions()
                    r["stored_mentions"] = stored
                r["generator"] = bl.stats()
            except BenchError as e:
                print("  %s FAILED: %s" % (key, e))
                r = {"error": str(e)}
            finally:
                if gw is not None:
                    gw.cleanup()
                bl.stop()
            res[key] = r
    finally:
        shutil.rmtree(root, ignore_errors=True)
    m["loadavg_end"] = os.getloadavg()[0]

    ratios = {}
    b, p = res.get("bitlbee") or {}, res.get("parley") or {}
    for _, path, _, _, better in ROWS:
        r = ratio(_get(p, path), _get(b, path))
        if r is not None:
            ratios[path] = {"parley_over_bitlbee": round(r, 4),
                            "better": better}
    res["ratios"] = ratios
    res["aims"] = aims(res)
    failed = checks(res)
    res["ok"] = not failed
    res["checks_failed"] = failed

    print()
    print("Mastodon, %s: %d CPUs, %s, kernel %s; load average %.2f at "
          "start, %.2f at end" % (m["date"], m["nproc"], m["cpu"],
                                  m["kernel"], m["loadavg_start"],
                                  m["loadavg_end"]))
    print("Both over https (BitlBee's plugin requires it); the last column "
          "is Parley over plain http.")
    print_table(res, sz)
    for name in ("https", "http"):
        h = _get(res, "harness." + name)
        if h:
            print("harness alone (%s): delay p50 %s ms, p99 %s ms (in every "
                  "number above); generator %s mentions/s" % (
                      name, h["delay_p50_ms"], h["delay_p99_ms"],
                      h["burst_per_second"]))
    print("aims (from the issue):")
    for name, a in res["aims"].items():
        print("  %-30s %-4s %s" % (name, "met" if a["met"] else "NOT",
                                   a["detail"]))
    gen = _get(res, "harness.https.burst_per_second")
    for key in ("bitlbee", "parley", "parley_http"):
        w = _get(res.get(key) or {}, "burst_big.per_second")
        if gen and w and gen < 2 * w:
            print("  note: %s: the generator's own ceiling (%.0f/s) is under "
                  "twice this rate; it may have been the limit" % (key, gen))
    if m["nproc"] and m["loadavg_start"] > 0.5 * m["nproc"]:
        print("  note: the machine was busy at the start (load average "
              "%.2f on %d CPUs); other work slows rounds down" % (
                  m["loadavg_start"], m["nproc"]))
    if failed:
        print("FAILED checks:")
        for c in failed:
            print("  " + c)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parley", default=os.path.join(HERE, "..", "parley"))
    p.add_argument("--quick", action="store_true")
    add_arguments(p)
    args = p.parse_args(argv)
    args.parley = os.path.abspath(args.parley)
    if not os.access(args.parley, os.X_OK):
        print("%s is not an executable (make parley)" % args.parley,
              file=sys.stderr)
        return 2
    r = run(args)
    return 0 if r.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
