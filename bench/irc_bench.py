"""IRC-core benchmarks: Parley against ngircd, same workloads, same run.

1. Registration rate: N clients register with a bounded number in flight.
2. PRIVMSG fan-out: receivers + senders in one channel; delivered lines/s,
   every line checked (count, content, per-sender order), plus latency at a
   fixed offered rate.
3. Memory: RSS idle and with N idle registered clients; KiB per client.
4. Idle CPU: CPU time and wake-ups over an idle window with ~100 clients.
Extras: time to process a mass disconnect, and each server's stock flood
control as a plain client sees it.

Standard library only. One selector loop drives every client socket, so the
client side costs one CPU at most; the tables say when it was the limit.
"""

import errno
import operator
import os
import pwd
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests"))
import launch  # noqa: E402 (the tests' way to start parley)

HOST = "127.0.0.1"
RECV = 262144
CHAN = "#bench"
TOKEN = b" PRIVMSG " + CHAN.encode() + b" :"
PAYLOAD = 56  # bytes of text after the sequence fields: a typical chat line
REG, DRAIN, COUNT, CONNECTING, PARKED = 0, 1, 2, 3, 4
LINE_RE = re.compile(rb":s(\d+) (\d{7}) (\d{16}) [a-z]+\r\n")
TS_RE = re.compile(rb":s\d+ \d{7} (\d{16}) ")
USERS_RE = re.compile(rb" 251 \S+ :There are (\d+) users")
REFUSED_RE = re.compile(rb"(?m)^(?::\S+ (?:4\d\d|5\d\d) |ERROR :)")
CLK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


def add_arguments(parser):
    g = parser.add_argument_group("irc benchmark")
    g.add_argument("--ngircd", default=shutil.which("ngircd") or
                   "/usr/sbin/ngircd", help="ngircd binary (baseline)")
    g.add_argument("--irc-clients", type=int, default=1000,
                   help="clients for registration and memory (1000)")
    g.add_argument("--irc-inflight", type=int, default=50,
                   help="registrations in flight at once (50)")
    g.add_argument("--irc-inflight-low", type=int, default=8,
                   help="second registration round, below ngircd's listen "
                   "backlog of 10 (8)")
    g.add_argument("--irc-receivers", type=int, default=100)
    g.add_argument("--irc-senders", type=int, default=5)
    g.add_argument("--irc-messages", type=int, default=20000,
                   help="messages per closed-loop fan-out round (20000)")
    g.add_argument("--irc-rounds", type=int, default=3,
                   help="closed-loop fan-out rounds; the median is shown")
    g.add_argument("--irc-window", type=int, default=1000,
                   help="closed-loop fan-out: lines in flight per receiver")
    g.add_argument("--irc-paced-rate", type=int, default=2000,
                   help="messages/s offered in the paced fan-out (2000)")
    g.add_argument("--irc-paced-seconds", type=float, default=4.0)
    g.add_argument("--irc-idle-seconds", type=float, default=10.0)
    g.add_argument("--irc-flood-seconds", type=float, default=3.0)


# ---- servers -------------------------------------------------------------


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def proc_stat(pid):
    """RSS, peak RSS, CPU seconds and context switches of a process."""
    st = {"rss_kib": 0, "hwm_kib": 0, "vol_ctx": 0, "invol_ctx": 0}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k == "VmRSS":
                st["rss_kib"] = int(v.split()[0])
            elif k == "VmHWM":
                st["hwm_kib"] = int(v.split()[0])
    # Every thread's switches: Parley's loop thread is the main one, but
    # libuv's pool threads would count as wake-ups too.
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches"):
                        st["vol_ctx"] += int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches"):
                        st["invol_ctx"] += int(line.split()[1])
        except FileNotFoundError:
            pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    st["cpu_s"] = (int(fields[11]) + int(fields[12])) / CLK
    return st


class Server:
    key = label = ""

    def __init__(self, binary, root):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix=self.key + "-", dir=root)
        self.proc = None
        self.port = None
        self.log = None

    def argv(self):
        raise NotImplementedError

    def start(self):
        self.port = free_port()
        argv = self.argv()
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen(argv, cwd=self.dir,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"{self.label} exited with status "
                                 f"{self.proc.returncode}:\n{self.log_tail()}")
            try:
                socket.create_connection((HOST, self.port), 0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise BenchError(f"{self.label} is not listening on "
                                     f"{HOST}:{self.port}\n{self.log_tail()}")
                time.sleep(0.02)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stat(self):
        if not self.alive():
            rc = self.proc.returncode
            how = (f"was killed by {signal.Signals(-rc).name}" if rc < 0
                   else f"exited with status {rc}")
            raise BenchError(f"{self.label} {how} during the benchmark:\n"
                             f"{self.log_tail()}")
        return proc_stat(self.proc.pid)

    def log_tail(self, n=15):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None


class ParleyServer(Server):
    key, label = "parley", "Parley"

    def start(self):
        # log_level warn keeps logging out of the measurements; then the
        # port is fixed, and the launcher waits for it to take connections
        self.parley = launch.Parley(self.dir, self.binary,
                                    listen=f"{HOST}:{free_port()}",
                                    log_level="warn",
                                    irc_extra="max_clients = 4096")
        try:
            self.parley.start(15)
        except launch.ParleyError as e:
            raise BenchError(str(e))
        self.proc, self.port = self.parley.proc, self.parley.port

    def log_tail(self, n=15):
        return self.parley.logtext(n)


class NgircdServer(Server):
    key, label = "ngircd", "ngircd"

    def __init__(self, binary, root, penalties=False):
        self.penalties = penalties
        if penalties:
            self.key, self.label = "ngircd_stock", "ngircd (stock)"
        super().__init__(binary, root)

    def argv(self):
        # As root ngircd switches to an unprivileged user (it refuses uid 0)
        # before writing its PID file, so that user needs a directory.
        run = os.path.join(self.dir, "run")
        inc = os.path.join(self.dir, "conf.d")
        os.makedirs(run, exist_ok=True)
        os.makedirs(inc, exist_ok=True)
        ids = ""
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chmod(self.dir, 0o711)
            os.chown(run, nobody.pw_uid, nobody.pw_gid)
            ids = (f"ServerUID = {nobody.pw_uid}\n"
                   f"ServerGID = {nobody.pw_gid}\n")
        conf = os.path.join(self.dir, "ngircd.conf")
        # MaxPenaltyTime = 0 turns ngircd's flood penalties off: with them a
        # client that pipelines gets 3 commands per second, which would make
        # any throughput comparison measure the penalty, not the server.
        penalty = "" if self.penalties else "MaxPenaltyTime = 0\n"
        with open(conf, "w") as f:
            f.write("[Global]\n"
                    "Name = bench.ngircd\n"
                    "Info = benchmark baseline\n"
                    "AdminInfo1 = bench\nAdminInfo2 = bench\n"
                    "AdminEMail = bench@localhost\n"
                    f"Listen = {HOST}\n"
                    f"Ports = {self.port}\n"
                    "MotdPhrase = benchmark\n"
                    f"PidFile = {os.path.join(run, 'ngircd.pid')}\n"
                    + ids +
                    "[Limits]\n"
                    "MaxConnections = 0\n"
                    "MaxConnectionsIP = 0\n"
                    "MaxJoins = 0\n"
                    "MaxNickLength = 30\n"
                    + penalty +
                    "[Options]\n"
                    "DNS = no\n"
                    "Ident = no\n"
                    "PAM = no\n"
                    f"IncludeDir = {inc}\n")
        return [self.binary, "--nodaemon", "--config", conf]


def version_of(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, subprocess.SubprocessError, IndexError):
        return "unknown"


# ---- clients -------------------------------------------------------------


class Conn:
    __slots__ = ("sock", "nick", "mode", "buf", "marker", "t0", "t1", "tail",
                 "count", "want", "done_t", "chunks", "out", "outpos",
                 "writing", "closed", "sid", "last", "token")

    def __init__(self, sock, nick):
        self.sock = sock
        self.nick = nick
        self.mode = REG
        self.buf = bytearray()
        self.marker = b""
        self.t0 = self.t1 = self.done_t = None
        self.tail = b""
        self.count = 0
        self.want = 0
        self.chunks = []
        self.out = b""
        self.outpos = 0
        self.writing = False
        self.closed = False
        self.sid = None
        self.last = b""
        self.token = TOKEN


class Fleet:
    """Client sockets of one server, all driven by one selector."""

    def __init__(self, server):
        self.server = server
        self.port = server.port
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.failures = []
        self.registered = 0
        self.park = False

    def connect(self, nick, extra=b"", marker=None):
        """Start a non-blocking connect; registration goes out once it is
        up. (A blocking connect would stall every other client for a second
        whenever the server's accept queue is full and the SYN is dropped.)
        """
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        c = Conn(s, nick)
        c.t0 = time.perf_counter()
        err = s.connect_ex((HOST, self.port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            raise BenchError(f"{self.server.label}: connect: "
                             f"{os.strerror(err)}")
        c.mode = CONNECTING
        c.out = f"NICK {nick}\r\nUSER {nick} 0 * :bench\r\n".encode() + extra
        c.marker = marker or f" 376 {nick} ".encode()
        c.writing = True
        self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        self.conns.append(c)
        return c

    def _connected(self, c):
        err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self._lost(c, f"connect: {os.strerror(err)}")
            return
        c.mode = REG
        self._flush(c)

    def close(self, conns=None):
        for c in list(conns if conns is not None else self.conns):
            if not c.closed:
                c.closed = True
                try:
                    self.sel.unregister(c.sock)
                except (KeyError, ValueError):
                    pass
                c.sock.close()
        self.conns = [c for c in self.conns if not c.closed]

    def send(self, c, data):
        if c.mode == CONNECTING:
            c.out += data
            return
        if c.outpos < len(c.out):
            c.out = bytes(memoryview(c.out)[c.outpos:]) + data
        else:
            c.out = data
        c.outpos = 0
        self._flush(c)

    def _flush(self, c):
        if c.closed:
            return
        if c.outpos < len(c.out):
            try:
                n = c.sock.send(memoryview(c.out)[c.outpos:c.outpos + RECV])
                c.outpos += n
            except (BlockingIOError, InterruptedError):
                pass
            except OSError as e:
                self._lost(c, f"send: {e}")
                return
        pending = c.outpos < len(c.out)
        if pending != c.writing:
            c.writing = pending
            ev = selectors.EVENT_READ
            if pending:
                ev |= selectors.EVENT_WRITE
            self.sel.modify(c.sock, ev, c)
        if not pending:
            c.out = b""
            c.outpos = 0

    def _lost(self, c, why):
        tail = bytes(c.buf[-300:]).decode("utf-8", "replace") if c.buf else ""
        self.failures.append(f"{c.nick}: {why} {tail!r}" if tail else
                             f"{c.nick}: {why}")
        if c.mode in (REG, CONNECTING):
            c.mode = DRAIN
            self.registered += 1  # counted as finished so phases end
        c.closed = True
        try:
            self.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def _read(self, c, now):
        try:
            data = c.sock.recv(RECV)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._lost(c, f"recv: {e}")
            return
        if not data:
            self._lost(c, "closed by the server")
            return
        mode = c.mode
        if mode == COUNT:
            c.chunks.append((now, data))
            tok = c.token
            tl = len(tok) - 1
            n = data.count(tok)
            if c.tail:
                # A line split between two reads: look across the seam.
                n += (c.tail + data[:tl]).count(tok)
            c.tail = data[-tl:] if len(data) >= tl else (c.tail + data)[-tl:]
            c.count += n
            if c.done_t is None and c.count >= c.want:
                c.done_t = now
        elif mode == REG:
            c.buf += data
            if c.marker in c.buf:
                c.t1 = now
                c.mode = DRAIN
                c.last = bytes(c.buf)
                c.buf = bytearray()
                self.registered += 1
                if self.park and not c.writing:
                    c.mode = PARKED
                    self.sel.unregister(c.sock)
            elif REFUSED_RE.search(c.buf):
                self._lost(c, "refused")
        elif b"PING " in data:
            # Keep-alive from the server; answer so nobody is dropped.
            for line in data.split(b"\r\n"):
                if line.startswith(b"PING "):
                    self.send(c, b"PONG " + line[5:] + b"\r\n")

    def unpark(self):
        for c in self.conns:
            if c.mode == PARKED and not c.closed:
                c.mode = DRAIN
                self.sel.register(c.sock, selectors.EVENT_READ, c)

    def pump(self, until, timeout, tick=None):
        """Run the loop until until() is true; False on timeout."""
        deadline = time.perf_counter() + timeout
        sel = self.sel
        read, write = selectors.EVENT_READ, selectors.EVENT_WRITE
        while True:
            if until():
                return True
            now = time.perf_counter()
            if now >= deadline:
                return False
            wait = min(deadline - now, 0.05)
            if tick is not None:
                w = tick(now)
                if w is not None:
                    wait = min(wait, w)
            if not sel.get_map():
                time.sleep(wait)
                continue
            events = sel.select(wait)
            now = time.perf_counter()
            for key, mask in events:
                c = key.data
                if mask & write:
                    if c.mode == CONNECTING:
                        self._connected(c)
                    else:
                        self._flush(c)
                if mask & read and not c.closed and c.mode != CONNECTING:
                    self._read(c, now)

    def quiet(self, gap=0.3, limit=15.0):
        """Drain until no client got anything for `gap` seconds."""
        end = time.perf_counter() + limit
        while time.perf_counter() < end:
            events = self.sel.select(gap)
            if not events:
                return True
            now = time.perf_counter()
            for key, mask in events:
                c = key.data
                if mask & selectors.EVENT_WRITE:
                    if c.mode == CONNECTING:
                        self._connected(c)
                    else:
                        self._flush(c)
                if (mask & selectors.EVENT_READ and not c.closed and
                        c.mode != CONNECTING):
                    self._read(c, now)
        return False


def listen_overflows():
    """TcpExt ListenOverflows: SYNs dropped because an accept queue was full
    (counts this network namespace, i.e. this benchmark's servers)."""
    try:
        with open("/proc/net/netstat") as f:
            rows = [line.split() for line in f if line.startswith("TcpExt:")]
        return int(rows[1][rows[0].index("ListenOverflows")])
    except (OSError, ValueError, IndexError):
        return None


def pct(values, p):
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def cpu_self():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# ---- 1. registration ------------------------------------------------------


def register_many(fleet, nicks, inflight, extra, marker_fmt, timeout=120):
    """Register clients with at most `inflight` unfinished at once.

    A registered client is not read until the round is over: its share of
    the JOIN broadcasts (under 64 KiB for 1000 members) waits in its kernel
    receive buffer, so the Python client, which would otherwise spend most
    of the round reading those, does not set the pace. The server's work is
    the same: the kernel takes every write at once either way.
    """
    todo = list(reversed(nicks))
    mine = []
    start_registered = fleet.registered

    def done():
        return fleet.registered - start_registered >= len(nicks)

    def tick(now):
        while todo and (len(mine) - (fleet.registered - start_registered)
                        < inflight):
            nick = todo.pop()
            mine.append(fleet.connect(nick, extra,
                                      marker_fmt.format(nick=nick).encode()))
        return None

    ov0 = listen_overflows()
    s0 = fleet.server.stat()["cpu_s"]
    c0 = cpu_self()
    t0 = time.perf_counter()
    fleet.park = True
    try:
        ok = fleet.pump(done, timeout, tick)
    finally:
        fleet.park = False
        fleet.unpark()
    c1 = cpu_self()
    s1 = fleet.server.stat()["cpu_s"]
    if not ok:
        raise BenchError(f"{fleet.server.label}: only "
                         f"{fleet.registered - start_registered} of "
                         f"{len(nicks)} clients registered in {timeout}s")
    ok = [c for c in mine if c.t1 is not None]
    t_end = max((c.t1 for c in ok), default=time.perf_counter())
    lat = [(c.t1 - c.t0) * 1000 for c in ok]
    ov1 = listen_overflows()
    return {
        "client_cpu_share": (c1 - c0) / (t_end - t0) if t_end > t0 else None,
        "server_cpu_ms_per_client": (s1 - s0) * 1000 / max(1, len(ok)),
        "inflight": inflight,
        "listen_overflows": None if ov0 is None else ov1 - ov0,
        "clients": len(nicks),
        "registered": len(ok),
        "failed": len(nicks) - len(ok),
        "seconds": t_end - t0,
        "per_s": len(ok) / (t_end - t0) if t_end > t0 else None,
        "latency_ms_p50": pct(lat, 50),
        "latency_ms_p99": pct(lat, 99),
        "latency_ms_max": max(lat) if lat else None,
    }, mine


_probes = [0]


def mass_disconnect(fleet, conns, label):
    """Close every client at once; time until the server counts one user."""
    cpu0 = fleet.server.stat()["cpu_s"]
    t0 = time.perf_counter()
    fleet.close(conns)
    _probes[0] += 1
    c = fleet.connect(f"probe{_probes[0]}")
    users = None
    deadline = t0 + 120
    while True:
        # The welcome has a 251 with the user count; then LUSERS (251, 255).
        if not fleet.pump(lambda: c.mode != REG, 60) or c.closed:
            raise BenchError(f"{label}: probe client got no answer: "
                             f"{fleet.failures[-1:]}")
        m = USERS_RE.search(c.last)
        users = None if m is None else int(m.group(1))
        if (users is not None and users <= 1) or time.perf_counter() > deadline:
            break
        time.sleep(0.005)
        c.mode = REG
        c.marker = b" 255 "
        fleet.send(c, b"LUSERS\r\n")
    secs = time.perf_counter() - t0
    cpu = fleet.server.stat()["cpu_s"] - cpu0
    fleet.close([c])
    return {"clients": len(conns), "seconds": secs, "users_left": users,
            "server_cpu_s": cpu}


# ---- 2. fan-out -------------------------------------------------------------


def make_lines(sid, first, count, ts_us):
    """Sender sid's messages first..first+count-1, fixed length."""
    pad = "x" * PAYLOAD
    return "".join(f"PRIVMSG {CHAN} :s{sid} {first + i:07d} {ts_us:016d} "
                   f"{pad}\r\n" for i in range(count)).encode()


def setup_fanout(fleet, receivers, senders):
    extra = f"JOIN {CHAN}\r\n".encode()
    marker = " 366 {nick} " + CHAN + " "
    _, rcv = register_many(fleet, [f"r{i}" for i in range(receivers)], 50,
                           extra, marker)
    _, snd = register_many(fleet, [f"s{i}" for i in range(senders)], 50,
                           extra, marker)
    for i, c in enumerate(snd):
        c.sid = i
    if fleet.failures:
        raise BenchError(f"{fleet.server.label}: fan-out set-up failed: "
                         f"{fleet.failures[:3]}")
    fleet.quiet()
    return rcv, snd


def reset_counting(conns, want):
    now = time.perf_counter()
    for c in conns:
        c.mode = COUNT
        c.count = 0
        c.want = want
        c.done_t = now if want == 0 else None
        c.tail = b""
        c.chunks = []


def verify(receivers, per_sender, nsenders, lat=False):
    """Check every receiver got every line once, per-sender order kept."""
    # A stable sort by sender keeps each sender's lines in arrival order.
    sids = sorted(str(s).encode() for s in range(nsenders))
    expected = [(sid, f"{i:07d}".encode())
                for sid in sids for i in range(per_sender)]
    total = per_sender * nsenders
    bad = []
    lost = 0
    latencies = []
    key = operator.itemgetter(0)
    for c in receivers:
        data = b"".join(d for _, d in c.chunks)
        found = [(m[0], m[1]) for m in LINE_RE.findall(data)]
        lines = data.count(b"\r\n")
        ok = (lines == total and len(found) == total and
              sorted(found, key=key) == expected)
        if not ok:
            got = set(found)
            missing = sum(1 for e in expected if e not in got)
            lost += missing
            what = []
            if missing:
                what.append(f"{missing} missing")
            if len(found) - (total - missing) > 0:
                what.append(f"{len(found) - (total - missing)} duplicated")
            if lines != len(found):
                what.append(f"{lines - len(found)} unexpected lines")
            if not what:
                what.append("order broken")
            bad.append(f"{c.nick}: " + ", ".join(what))
        if lat:
            carry = b""
            for t, d in c.chunks:
                buf = carry + d
                cut = buf.rfind(b"\n") + 1
                carry = buf[cut:]
                tus = t * 1e6
                latencies.extend((tus - int(x)) / 1000.0
                                 for x in TS_RE.findall(buf, 0, cut))
    return bad, lost, latencies


def fanout_run(fleet, receivers, senders, nmsg, rate=None, seconds=None,
               window=1000):
    """One fan-out round: closed loop (senders keep at most `window` lines
    in flight to the slowest receiver) or open loop at `rate` msgs/s."""
    srv = fleet.server
    ns = len(senders)
    if rate:
        per_sender = max(1, int(rate * seconds / ns))
    else:
        per_sender = nmsg // ns
    total = per_sender * ns
    reset_counting(receivers, total)
    reset_counting(senders, total - per_sender)
    st0 = srv.stat()
    c0 = cpu_self()
    t0 = time.perf_counter()
    sent = [0] * ns
    if rate:
        step = rate / ns

        def tick(now):
            for c in senders:
                due = min(per_sender, int((now - t0) * step) + 1)
                if due > sent[c.sid]:
                    ts = int(now * 1e6)
                    fleet.send(c, make_lines(c.sid, sent[c.sid],
                                             due - sent[c.sid], ts))
                    sent[c.sid] = due
            return 0.002
    else:
        # Both servers drop a client whose unsent output passes a limit
        # (Parley: 1 MiB, ngircd: 32 KiB beyond the kernel's buffers); a
        # bounded window keeps every receiver well inside both.
        batch = 100
        turn = [0]

        def tick(now):
            low = min(c.count for c in receivers)
            room = window - (sum(sent) - low)
            while room >= batch and sum(sent) < total:
                c = senders[turn[0] % ns]
                turn[0] += 1
                n = min(batch, per_sender - sent[c.sid])
                if n <= 0:
                    continue
                fleet.send(c, make_lines(c.sid, sent[c.sid], n,
                                         int(now * 1e6)))
                sent[c.sid] += n
                room -= n
            return None

    everyone = receivers + senders
    progress = [0, t0]

    def finished():
        if all(c.done_t is not None or c.closed for c in everyone):
            return True
        # Give up when nothing moved for 5 s (lines lost or server stuck).
        n = sum(c.count for c in receivers)
        now = time.perf_counter()
        if n != progress[0]:
            progress[0], progress[1] = n, now
        return (sum(sent) == total and now - progress[1] > 5)

    budget = (seconds or 0) + 120
    fleet.pump(finished, budget, tick)
    t_sent = time.perf_counter()
    st1 = srv.stat()
    c1 = cpu_self()
    ends = [c.done_t for c in receivers if c.done_t is not None]
    t_end = max(ends) if len(ends) == len(receivers) else t_sent
    wall = t_end - t0
    delivered = sum(min(c.count, total) for c in receivers)
    bad, lost, lat = verify([c for c in receivers], per_sender, ns,
                            lat=bool(rate))
    dropped = [f for f in fleet.failures]
    res = {
        "messages": total,
        "receivers": len(receivers),
        "senders": ns,
        "lines_expected": total * len(receivers),
        "lines_delivered": delivered,
        "lines_lost": lost + sum(total - min(c.count, total)
                                 for c in receivers if c.closed),
        "receivers_with_errors": len(bad),
        "errors": bad[:5] + dropped[:5],
        "seconds": wall,
        "lines_per_s": delivered / wall if wall > 0 else None,
        "server_cpu_s": st1["cpu_s"] - st0["cpu_s"],
        "client_cpu_s": c1 - c0,
    }
    res["server_cpu_us_per_1k_lines"] = (
        res["server_cpu_s"] * 1e6 / (delivered / 1000.0) if delivered else None)
    res["client_cpu_share"] = res["client_cpu_s"] / wall if wall > 0 else None
    if rate:
        res["offered_msgs_per_s"] = rate
        res["latency_ms_p50"] = pct(lat, 50)
        res["latency_ms_p99"] = pct(lat, 99)
        res["latency_ms_max"] = max(lat) if lat else None
    for c in everyone:
        c.mode = DRAIN
        c.chunks = []
    fleet.quiet()
    return res


# ---- stock flood control ----------------------------------------------------


def flood_probe(server, seconds):
    """What a plain client that pipelines gets through stock flood control."""
    fleet = Fleet(server)
    try:
        extra = b"JOIN #flood\r\n"
        _, (r, s) = register_many(fleet, ["fr", "fs"], 2, extra,
                                  " 366 {nick} #flood ")
        fleet.quiet(0.2)
        r.mode = COUNT
        r.token = b" PRIVMSG #flood :"
        r.want = 1 << 60
        marks = {}
        seq = [0]
        t0 = time.perf_counter()
        line = "PRIVMSG #flood :flood {:07d} " + "x" * PAYLOAD + "\r\n"

        def tick(now):
            # Keep the sender's socket full for the whole window.
            if s.outpos >= len(s.out) - 65536:
                fleet.send(s, "".join(line.format(seq[0] + i)
                                      for i in range(2000)).encode())
                seq[0] += 2000
            r.chunks = []
            for mark in (0.25, seconds / 2, seconds):
                if mark not in marks and now - t0 >= mark:
                    marks[mark] = r.count
            return 0.01

        fleet.pump(lambda: seconds in marks, seconds + 30, tick)
        half = seconds / 2
        return {
            "window_s": seconds,
            "first_250ms": marks.get(0.25),
            "in_window": marks.get(seconds),
            "sustained_per_s": (marks[seconds] - marks[half]) /
                               (seconds - half),
        }
    finally:
        fleet.close()


# ---- tables -----------------------------------------------------------------


def fmt(v, spec):
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return v
    return format(v, spec)


def table(title, rows, servers, notes=()):
    """rows: (label, better, {key: value}, format spec)."""
    keys = [s.key for s in servers]
    labels = [s.label for s in servers]
    w0 = max([len(r[0]) for r in rows] + [20])
    out = [title]
    head = f"  {'metric':<{w0}}  {'better':<6}"
    for lab in labels:
        head += f"  {lab:>12}"
    if len(keys) == 2:
        head += f"  {'Parley/ngircd':>13}"
    out.append(head)
    for label, better, vals, spec in rows:
        line = f"  {label:<{w0}}  {better:<6}"
        for k in keys:
            line += f"  {fmt(vals.get(k), spec):>12}"
        if len(keys) == 2:
            a, b = vals.get(keys[0]), vals.get(keys[1])
            if (isinstance(a, (int, float)) and isinstance(b, (int, float))
                    and b and a is not None and better in ("higher", "lower")):
                line += f"  {a / b:>12.2f}x"
            else:
                line += f"  {'n/a':>13}"
        out.append(line)
    for n in notes:
        out.append(f"  note: {n}")
    print("\n".join(out))
    print()


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 16
    want = min(want, 1 << 16)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    if soft < need:
        raise BenchError(f"open-file limit is {soft} (hard {hard}); the IRC "
                         f"benchmark needs {need}: raise it with ulimit -n")
    return soft


# ---- entry point ------------------------------------------------------------


def run(args):
    quick = getattr(args, "quick", False)
    n_clients = 200 if quick else args.irc_clients
    n_msgs = 5000 if quick else args.irc_messages
    paced_s = 1.0 if quick else args.irc_paced_seconds
    idle_s = 2.0 if quick else args.irc_idle_seconds
    flood_s = 1.5 if quick else args.irc_flood_seconds
    nrecv, nsend = args.irc_receivers, args.irc_senders
    fd_limit = raise_fd_limit(n_clients + nrecv + nsend + 200)

    root = tempfile.mkdtemp(prefix="parley-bench-")
    servers = [ParleyServer(args.parley, root)]
    ngircd_ok = os.access(args.ngircd, os.X_OK)
    if ngircd_ok:
        servers.append(NgircdServer(args.ngircd, root))
    else:
        print(f"  ngircd not found at {args.ngircd}: Parley only "
              "(`make bench` installs it with scripts/deps.sh)")
    res = {
        "config": {
            "clients": n_clients, "inflight": args.irc_inflight,
            "inflight_low": args.irc_inflight_low,
            "receivers": nrecv, "senders": nsend, "messages": n_msgs,
            "window": args.irc_window, "rounds": args.irc_rounds,
            "paced_rate": args.irc_paced_rate, "paced_seconds": paced_s,
            "idle_seconds": idle_s, "fd_limit": fd_limit,
        },
        "versions": {"parley": version_of([args.parley, "--version"])},
        "registration": {},
        "memory": {}, "disconnect": {}, "fanout": {}, "fanout_paced": {},
        "idle": {}, "flood": {},
    }
    if ngircd_ok:
        res["versions"]["ngircd"] = version_of([args.ngircd, "--version"])
    fleets = {}
    stock = None

    def say(msg):
        print(f"  .. {msg}", flush=True)

    try:
        for s in servers:
            s.start()
        time.sleep(0.5)
        for s in servers:
            st = s.stat()
            res["memory"][s.key] = {"rss_idle_kib": st["rss_kib"]}

        for s in servers:
            fleet = Fleet(s)
            # Parley joins every client to &parley; ngircd clients JOIN it
            # in the same write, so both end in one channel of N members.
            extra = b"" if s.key == "parley" else b"JOIN &parley\r\n"
            reg = res["registration"][s.key] = {}
            r, conns = register_many(fleet, [f"c{i}" for i in range(n_clients)],
                                     args.irc_inflight, extra,
                                     " 366 {nick} &parley ")
            r["failures"] = fleet.failures[:5]
            reg["high"] = r
            say(f"{s.label}: {r['registered']} registrations at "
                f"{r['per_s']:.0f}/s ({args.irc_inflight} in flight)")
            fleet.quiet(0.5)
            time.sleep(0.5)
            fleet.quiet(0.2)
            st = s.stat()
            m = res["memory"][s.key]
            m["rss_with_clients_kib"] = st["rss_kib"]
            m["hwm_kib"] = st["hwm_kib"]
            m["clients"] = len([c for c in conns if not c.closed])
            m["kib_per_client"] = ((st["rss_kib"] - m["rss_idle_kib"]) /
                                   max(1, m["clients"]))
            say(f"{s.label}: {m['kib_per_client']:.1f} KiB per idle client")
            d = mass_disconnect(fleet, conns, s.label)
            res["disconnect"][s.key] = d
            say(f"{s.label}: {d['clients']} disconnects processed in "
                f"{d['seconds']:.2f}s")
            # Same again with fewer in flight than ngircd's accept queue.
            fleet.failures = []
            r, conns = register_many(fleet, [f"d{i}" for i in range(n_clients)],
                                     args.irc_inflight_low, extra,
                                     " 366 {nick} &parley ")
            r["failures"] = fleet.failures[:5]
            reg["low"] = r
            say(f"{s.label}: {r['registered']} registrations at "
                f"{r['per_s']:.0f}/s ({args.irc_inflight_low} in flight)")
            mass_disconnect(fleet, conns, s.label)
            if s.key == "ngircd":
                fleet.failures = []
                r, conns = register_many(
                    fleet, [f"n{i}" for i in range(n_clients)],
                    args.irc_inflight_low, b"", " 376 {nick} ")
                reg["no_channel"] = r
                say(f"ngircd without a channel: {r['per_s']:.0f}/s")
                mass_disconnect(fleet, conns, s.label)
            fleet.failures = []

            rcv, snd = setup_fanout(fleet, nrecv, nsend)
            # The closed loop is short and noisy on a small machine: keep
            # the median of a few rounds (every round is fully checked).
            rounds = []
            for _ in range(1 if quick else args.irc_rounds):
                rounds.append(fanout_run(fleet, rcv, snd, n_msgs,
                                         window=args.irc_window))
                time.sleep(0.5)
            rounds.sort(key=lambda r: r["lines_per_s"] or 0)
            f1 = dict(rounds[len(rounds) // 2])
            f1["rounds_lines_per_s"] = [r["lines_per_s"] for r in rounds]
            f1["rounds_cpu_us_per_1k_lines"] = [
                r["server_cpu_us_per_1k_lines"] for r in rounds]
            f1["server_cpu_us_per_1k_lines"] = statistics.median(
                f1["rounds_cpu_us_per_1k_lines"])
            f1["lines_lost"] = sum(r["lines_lost"] for r in rounds)
            f1["receivers_with_errors"] = max(r["receivers_with_errors"]
                                              for r in rounds)
            f1["errors"] = [e for r in rounds for e in r["errors"]][:10]
            res["fanout"][s.key] = f1
            say(f"{s.label}: fan-out {f1['lines_delivered']} lines at "
                f"{f1['lines_per_s']:.0f}/s, {f1['lines_lost']} lost")
            f2 = fanout_run(fleet, rcv, snd, 0, rate=args.irc_paced_rate,
                            seconds=paced_s)
            res["fanout_paced"][s.key] = f2
            say(f"{s.label}: paced fan-out p99 latency "
                f"{fmt(f2.get('latency_ms_p99'), '.1f')} ms")
            fleets[s.key] = fleet

        # 4. Idle: every server at once, each with its fan-out clients. The
        # clients speak just before, so no keep-alive PING lands inside.
        for key, fleet in fleets.items():
            for c in fleet.conns:
                fleet.send(c, b"PING :idle\r\n")
            fleet.quiet(0.3)
        before = {s.key: s.stat() for s in servers}
        time.sleep(idle_s)
        after = {s.key: s.stat() for s in servers}
        for s in servers:
            b, a = before[s.key], after[s.key]
            res["idle"][s.key] = {
                "clients": len(fleets[s.key].conns),
                "seconds": idle_s,
                "cpu_s": a["cpu_s"] - b["cpu_s"],
                "wakeups": a["vol_ctx"] - b["vol_ctx"],
                "wakeups_per_s": (a["vol_ctx"] - b["vol_ctx"]) / idle_s,
            }
        say("idle window done")

        # Stock flood control, as a plain client that pipelines sees it.
        res["flood"]["parley"] = flood_probe(servers[0], flood_s)
        if ngircd_ok:
            stock = NgircdServer(args.ngircd, root, penalties=True)
            stock.start()
            res["flood"]["ngircd"] = flood_probe(stock, flood_s)
        say("flood probes done")
    finally:
        for fleet in fleets.values():
            fleet.close()
        for s in servers + ([stock] if stock else []):
            s.stop()
        shutil.rmtree(root, ignore_errors=True)

    report(res, servers, n_clients, args)
    res["ok"] = (all(r.get("failed", 0) == 0
                     for reg in res["registration"].values()
                     for r in reg.values()) and
                 all(f.get("lines_lost", 0) == 0 and
                     f.get("receivers_with_errors", 0) == 0
                     for part in ("fanout", "fanout_paced")
                     for f in res[part].values()))
    return res


def report(res, servers, n_clients, args):
    def col(section, field):
        return {k: v.get(field) for k, v in res[section].items()
                if isinstance(v, dict)}

    cfg = res["config"]
    print()

    def reg(which, field):
        return {k: v[which].get(field) for k, v in res["registration"].items()
                if which in v}

    rows = []
    for which, n in (("high", cfg["inflight"]), ("low", cfg["inflight_low"])):
        rows += [(f"{n} in flight: registrations/s", "higher",
                  reg(which, "per_s"), ",.0f"),
                 (f"{n} in flight: latency p50 (ms)", "lower",
                  reg(which, "latency_ms_p50"), ".1f"),
                 (f"{n} in flight: latency p99 (ms)", "lower",
                  reg(which, "latency_ms_p99"), ".1f"),
                 (f"{n} in flight: server CPU ms per client", "lower",
                  reg(which, "server_cpu_ms_per_client"), ".2f"),
                 (f"{n} in flight: SYNs dropped (accept queue)", "lower",
                  reg(which, "listen_overflows"), "d"),
                 (f"{n} in flight: failed", "lower", reg(which, "failed"),
                  "d"),
                 (f"{n} in flight: bench client CPU share", "info",
                  reg(which, "client_cpu_share"), ".0%")]
    notes = ["Parley auto-joins every client to &parley; ngircd clients send "
             "NICK+USER+JOIN &parley in one write, so both do the same work "
             "(a JOIN broadcast to a channel that grows to N members).",
             "ngircd listens with a backlog of 10 (hard-coded): with more "
             "connections in flight the kernel drops SYNs and those clients "
             "wait for the 1 s SYN retransmit; Parley's backlog is 511.",
             "registered clients are read only after the round, so the "
             "Python client is not what limits the rate; server CPU per "
             "client is the steadier comparison."]
    nc = res["registration"].get("ngircd", {}).get("no_channel")
    if nc:
        notes.append(f"ngircd without any channel (done at 376, "
                     f"{cfg['inflight_low']} in flight): "
                     f"{fmt(nc['per_s'], ',.0f')}/s.")
    table(f"1. Registration: {n_clients} clients (done at the 366 of &parley)",
          rows, servers, notes)

    f = res["fanout"]
    any_f = next(iter(f.values()), {})
    table(f"2a. PRIVMSG fan-out, closed loop: {any_f.get('senders')} "
          f"senders x "
          f"{any_f.get('messages', 0) // max(1, any_f.get('senders', 1))} "
          f"messages to {any_f.get('receivers')} receivers in {CHAN} "
          f"(median of {len(any_f.get('rounds_lines_per_s', [1]))} rounds)",
          [("delivered lines/s", "higher", col("fanout", "lines_per_s"),
            ",.0f"),
           ("seconds until all delivered", "lower", col("fanout", "seconds"),
            ".2f"),
           ("server CPU us per 1000 lines", "lower",
            col("fanout", "server_cpu_us_per_1k_lines"), ",.0f"),
           ("lines lost (all rounds)", "lower", col("fanout", "lines_lost"),
            "d"),
           ("receivers with errors", "lower",
            col("fanout", "receivers_with_errors"), "d"),
           ("bench client CPU share", "info",
            col("fanout", "client_cpu_share"), ".0%")],
          servers,
          [f"senders write as fast as the server delivers, keeping at most "
           f"{cfg['window']} lines in flight to the slowest receiver: both "
           "servers drop a client whose unsent output passes a limit "
           "(Parley 1 MiB, ngircd 32 KiB beyond the kernel buffers).",
           "Parley's flood control (5000-line burst, then 5000/s per client) "
           + ("does not bind here: each sender stays within its burst."
              if cfg["messages"] // max(1, cfg["senders"]) <= 5000 else
              "binds here (over 5000 lines per sender): part of its figure.")
           + " ngircd runs with MaxPenaltyTime = 0, see 5.",
           "each receiver's stream is checked line by line: count, content, "
           "and every sender's order.",
           "a client CPU share near 100% means the Python client, not the "
           "server, set the pace: the lines/s figure is then a floor; "
           "server CPU per line is the fairer comparison."])

    table(f"2b. PRIVMSG fan-out, paced: {cfg['paced_rate']} messages/s "
          f"offered for {cfg['paced_seconds']:g}s (same senders/receivers)",
          [("delivered lines/s", "higher", col("fanout_paced", "lines_per_s"),
            ",.0f"),
           ("latency p50 (ms)", "lower",
            col("fanout_paced", "latency_ms_p50"), ".2f"),
           ("latency p99 (ms)", "lower",
            col("fanout_paced", "latency_ms_p99"), ".2f"),
           ("latency max (ms)", "lower",
            col("fanout_paced", "latency_ms_max"), ".2f"),
           ("server CPU us per 1000 lines", "lower",
            col("fanout_paced", "server_cpu_us_per_1k_lines"), ",.0f"),
           ("lines lost", "lower", col("fanout_paced", "lines_lost"), "d")],
          servers,
          ["latency: send time stamped in the line to the receiving client's "
           "read, on one clock; both servers see the same offered load."])

    mem = res["memory"]
    table(f"3. Memory: RSS idle, and with {n_clients} idle registered clients "
          "(each in the one N-member channel)",
          [("RSS idle (KiB)", "lower", col("memory", "rss_idle_kib"), ",d"),
           ("RSS with clients (KiB)", "lower",
            col("memory", "rss_with_clients_kib"), ",d"),
           ("KiB per idle client", "lower", col("memory", "kib_per_client"),
            ".1f"),
           ("peak RSS so far (KiB)", "lower", col("memory", "hwm_kib"), ",d")],
          servers,
          ["target for Parley: under 16 KiB per idle client."
           + (" MET." if mem.get("parley", {}).get("kib_per_client", 99) < 16
              else " NOT MET.")])

    table("4. Idle: CPU and wake-ups over "
          f"{cfg['idle_seconds']:g}s with the fan-out clients connected",
          [("clients connected", "info", col("idle", "clients"), "d"),
           ("CPU seconds", "lower", col("idle", "cpu_s"), ".2f"),
           ("wake-ups/s (voluntary ctx sw)", "lower",
            col("idle", "wakeups_per_s"), ".1f")],
          servers,
          ["CPU time has 1/%d s resolution; 0.00 means under one tick." % CLK])

    table("Extra: mass disconnect: every client of 3. closes at once; time "
          "until LUSERS from a new client counts 1 user",
          [("seconds", "lower", col("disconnect", "seconds"), ".3f"),
           ("server CPU seconds", "lower", col("disconnect", "server_cpu_s"),
            ".2f")],
          servers)

    if res["flood"]:
        fl = res["flood"]
        print("5. Stock flood control, one client pipelining PRIVMSGs for "
              f"{next(iter(fl.values()))['window_s']:g}s (policy, not speed):")
        for key, label in (("parley", "Parley"),
                           ("ngircd", "ngircd (stock config)")):
            if key in fl:
                v = fl[key]
                print(f"  {label:<22} first 250 ms: {v['first_250ms']:>6}   "
                      f"in window: {v['in_window']:>6}   sustained: "
                      f"{v['sustained_per_s']:,.0f}/s")
        print("  note: ngircd's stock penalties (3 commands per read, then 1 s "
              "of penalty) make a pipelining client crawl; the throughput "
              "runs above therefore use an ngircd with MaxPenaltyTime = 0.")
        print()
