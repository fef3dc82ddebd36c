"""Real IRC programs for end-to-end tests: irssi and WeeChat (under a private
tmux server or headless) and the ZNC bouncer.

Every program gets its own temporary home, listens (if at all) on 127.0.0.1
only, is started by the test and stopped by its process id; use the classes
as context managers so that a failing test still stops them."""
import calendar
import hashlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from mockframe import wait_for

# ZNC sleeps 30 seconds before starting as root; as root we run it as nobody.
NOBODY = 65534


def free_port():
    """A loopback port nobody listens on right now."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def have(program):
    return shutil.which(program) is not None


def wait_until(predicate, timeout=10.0, interval=0.05):
    """Poll predicate() until it is truthy; return its last value."""
    return wait_for(predicate, timeout, interval)


def iso_seconds(iso):
    """'2026-11-25T19:40:00.123Z' -> seconds since the epoch (UTC)."""
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))


def past_iso(seconds_ago):
    """An ISO-8601 UTC timestamp with milliseconds, seconds_ago in the past
    (so that a client that shows its receive time instead of server-time is
    caught)."""
    t = time.time() - seconds_ago
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % (int(t * 1000) % 1000)


def _alive(pid):
    """True while pid runs (a zombie counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return False


def kill_pid(pid, timeout=5.0):
    """SIGTERM, then SIGKILL; for processes that are not our children."""
    if pid is None or not _alive(pid):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if wait_until(lambda: not _alive(pid), timeout):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    wait_until(lambda: not _alive(pid), timeout)


def stop_proc(proc, timeout=5.0, sig=signal.SIGTERM):
    """Stop a child process by its pid and reap it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------
# tmux: one private server per test, in the foreground (our own child)
# ---------------------------------------------------------------------------

class Tmux:
    def __init__(self, width=200, height=50):
        # A short private directory: a unix socket path has ~107 bytes.
        self.sockdir = tempfile.mkdtemp(prefix="ptmux-", dir="/tmp")
        self.sock = os.path.join(self.sockdir, "s")
        self.width, self.height = width, height
        self.server = None
        self.pane_pid = None
        self.env = None

    def _tmux(self, *args, check=True):
        r = subprocess.run(["tmux", "-S", self.sock] + list(args),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=10, env=self.env)
        if check and r.returncode != 0:
            raise AssertionError("tmux %s: %s" % (args[0], r.stderr.decode()))
        return r.stdout.decode("utf-8", "replace")

    def start(self, command, env=None):
        """Run command (a shell string) in a new session; -D keeps the
        server in the foreground so that it is our child and dies by pid."""
        self.env = dict(os.environ if env is None else env)
        self.env.pop("TMUX", None)
        env = self.env
        self.server = subprocess.Popen(
            ["tmux", "-S", self.sock, "-D", "-f", "/dev/null"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env)
        if not wait_until(lambda: os.path.exists(self.sock), 5):
            raise AssertionError("tmux server did not start")
        out = wait_until(lambda: self._try_new_session(command), 5)
        if not out:
            raise AssertionError("tmux new-session failed")
        self.pane_pid = int(out.strip())
        return self

    def _try_new_session(self, command):
        r = subprocess.run(
            ["tmux", "-S", self.sock, "new-session", "-d", "-P", "-F",
             "#{pane_pid}", "-x", str(self.width), "-y", str(self.height),
             command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            timeout=10, env=self.env)
        return r.stdout.decode() if r.returncode == 0 else None

    def pane_alive(self):
        return self.pane_pid is not None and _alive(self.pane_pid)

    def screen(self):
        """The visible screen, wrapped lines joined."""
        return self._tmux("capture-pane", "-p", "-J", check=False)

    def wait_screen(self, pattern, timeout=10):
        """Poll the screen until the regex matches; return the match."""
        rx = re.compile(pattern, re.M)
        m = wait_until(lambda: rx.search(self.screen()), timeout)
        if not m:
            raise AssertionError("screen never showed %r; it shows:\n%s"
                                 % (pattern, self.screen()))
        return m

    def type(self, text, enter=True):
        self._tmux("send-keys", "-l", text)
        if enter:
            self._tmux("send-keys", "Enter")

    def stop(self):
        kill_pid(self.pane_pid)
        stop_proc(self.server)
        shutil.rmtree(self.sockdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# irssi
# ---------------------------------------------------------------------------

IRSSI_CONFIG = """servers = ( );
chatnets = { };
channels = ( );
settings = {
  core = {
    real_name = "Irssi Tester";
    user_name = "tester";
    nick = "%(nick)s";
    settings_autosave = "no";
  };
  "irc/core" = { cmd_queue_speed = "10msec"; cmds_max_at_once = "50"; };
  "fe-common/core" = {
    autocreate_own_query = "no";
    use_status_window = "yes";
  };
};
"""


class Irssi:
    """irssi in a private tmux server, with a config that knows no other
    server, connected to 127.0.0.1:port.  Its flood queue is shortened: by
    default the connect-time MODE/WHO lines hold a typed line back ~5 s."""

    def __init__(self, workdir, port, nick="tester"):
        self.home = os.path.join(str(workdir), "irssi")
        os.makedirs(self.home, exist_ok=True)
        with open(os.path.join(self.home, "config"), "w") as f:
            f.write(IRSSI_CONFIG % {"nick": nick})
        self.port, self.nick = port, nick
        self.tmux = None

    def start(self):
        env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TZ="UTC",
                   HOME=self.home)
        self.tmux = Tmux()
        try:
            self.tmux.start("exec irssi --home=%s -c 127.0.0.1 -p %d -n %s"
                            % (shlex.quote(self.home), self.port,
                               shlex.quote(self.nick)), env=env)
        except BaseException:
            self.stop()
            raise
        return self

    def goto(self, window, timeout=10):
        """Switch to a channel or query window, once irssi has it (a
        window opened by the server's JOIN or by an incoming message may
        not exist yet: retry until the prompt names it)."""
        rx = re.compile(r"^\s*\[%s\]" % re.escape(window), re.M)
        deadline = time.time() + timeout
        while True:
            self.tmux.type("/window goto %s" % window)
            if wait_until(lambda: rx.search(self.tmux.screen()), 0.5):
                return
            if time.time() >= deadline:
                raise AssertionError("irssi has no window %s:\n%s"
                                     % (window, self.tmux.screen()))

    def stop(self):
        if self.tmux:
            self.tmux.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# WeeChat (headless)
# ---------------------------------------------------------------------------

class WeeChat:
    """weechat-headless with its own --dir, logging every buffer to
    dir/logs (flushed at once, times in UTC as the client shows them).

    The Debian weechat-headless package has no fifo plugin, so commands
    cannot be fed in while it runs; instead `on_usr1` is bound to the
    weechat.signal.sigusr1 option and run when the test sends SIGUSR1."""

    def __init__(self, workdir, port, nick="tester", server="parley",
                 on_usr1=""):
        self.dir = os.path.join(str(workdir), "weechat")
        os.makedirs(self.dir, exist_ok=True)
        self.logs = os.path.join(self.dir, "logs")
        self.port, self.nick, self.server = port, nick, server
        self.on_usr1 = on_usr1
        self.proc = None

    def commands(self):
        cmds = [
            "/set logger.file.flush_delay 0",
            "/set logger.file.path %s" % self.logs,
            '/set logger.file.time_format "%Y-%m-%d %H:%M:%S"',
            "/set irc.server_default.autoreconnect off",
            "/server add %s 127.0.0.1/%d -notls" % (self.server, self.port),
            "/set irc.server.%s.nicks %s" % (self.server, self.nick),
            "/set irc.server.%s.username %s" % (self.server, self.nick),
            # Like irssi, WeeChat paces what it sends (2 s per queued line).
            "/set irc.server.%s.anti_flood_prio_high 0" % self.server,
            "/set irc.server.%s.anti_flood_prio_low 0" % self.server,
        ]
        if self.on_usr1:
            assert ";" not in self.on_usr1 and '"' not in self.on_usr1
            cmds.append('/set weechat.signal.sigusr1 "%s"' % self.on_usr1)
        cmds.append("/connect %s" % self.server)
        return ";".join(cmds)

    def start(self):
        env = dict(os.environ, TZ="UTC", HOME=self.dir, LANG="C.UTF-8",
                   LC_ALL="C.UTF-8")
        self.proc = subprocess.Popen(
            ["weechat-headless", "--dir", self.dir, "-r", self.commands()],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env, cwd=self.dir)
        return self

    def log_path(self, buffer):
        """buffer: a channel or query name, or "server" for the server
        buffer."""
        name = ("server.%s" % self.server if buffer == "server"
                else "%s.%s" % (self.server, buffer))
        return os.path.join(self.logs, "irc.%s.weechatlog" % name)

    def log_lines(self, buffer):
        """[(time 'YYYY-MM-DD HH:MM:SS', prefix, message)] of a buffer."""
        try:
            with open(self.log_path(buffer), encoding="utf-8",
                      errors="replace") as f:
                text = f.read()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            parts = line.split("\t", 2)
            if len(parts) == 3:
                out.append(tuple(parts))
        return out

    def wait_log(self, buffer, predicate, timeout=10, what=None):
        """The first logged line (time, prefix, message) of buffer that
        satisfies predicate."""
        def find():
            for row in self.log_lines(buffer):
                if predicate(row):
                    return row
            return None
        row = wait_until(find, timeout)
        if not row:
            raise AssertionError(
                "WeeChat never logged %s in %s; log:\n%s\nserver log:\n%s"
                % (what or "the line", buffer,
                   "\n".join("\t".join(r) for r in self.log_lines(buffer)),
                   "\n".join("\t".join(r) for r in
                             self.log_lines("server")[-30:])))
        return row

    def usr1(self):
        self.proc.send_signal(signal.SIGUSR1)

    def stop(self):
        stop_proc(self.proc)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


# ---------------------------------------------------------------------------
# ZNC
# ---------------------------------------------------------------------------

ZNC_CONF = """Version = 1.8.2
<Listener l>
    Port = %(port)d
    Host = 127.0.0.1
    IPv4 = true
    IPv6 = false
    SSL = false
    AllowIRC = true
    AllowWeb = false
</Listener>
<User %(user)s>
    <Pass password>
        Method = sha256
        Hash = %(hash)s
        Salt = %(salt)s
    </Pass>
    Admin = true
    Nick = %(nick)s
    AltNick = %(nick)s_
    Ident = %(user)s
    RealName = ZNC Tester
    AutoClearChanBuffer = true
    AutoClearQueryBuffer = true
    ChanBufferSize = 100
    MaxNetworks = 1
    <Network %(network)s>
        Server = 127.0.0.1 %(upstream)d
        FloodRate = -1.00
        FloodBurst = 100
    </Network>
</User>
"""


class Znc:
    """ZNC with a generated znc.conf in its own data directory: one user with
    a password and one network pointing at 127.0.0.1:upstream (flood
    protection off: ZNC's default 1 line/s, burst 4, queues a client's
    first PRIVMSG behind the connect-time WHO/MODEs for seconds).  Runs with
    --debug so that the raw traffic between ZNC and the IRC server is
    recorded (self.log, kept across restarts)."""

    def __init__(self, upstream, user="tester", password="sekrit",
                 network="parley", nick="tester"):
        # Not under pytest's tmp_path: that is 0700 and ZNC may run as nobody.
        self.datadir = tempfile.mkdtemp(prefix="parley-znc-")
        os.chmod(self.datadir, 0o700)
        self.user, self.password, self.network = user, password, network
        self.nick = nick
        self.port = free_port()
        salt = "s4lt" + os.urandom(6).hex()
        digest = hashlib.sha256((password + salt).encode()).hexdigest()
        os.makedirs(os.path.join(self.datadir, "configs"))
        with open(os.path.join(self.datadir, "configs", "znc.conf"), "w") as f:
            f.write(ZNC_CONF % {"port": self.port, "user": user,
                                "hash": digest, "salt": salt, "nick": nick,
                                "network": network, "upstream": upstream})
        self.proc = None
        self.log = []  # every line of ZNC's debug output, all runs
        self.log_lock = threading.Lock()
        self.runs = 0

    def _reader(self, proc, run):
        for raw in proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.log_lock:
                self.log.append((run, line))

    def start(self, timeout=10):
        cmd = ["znc", "--datadir", self.datadir, "--foreground", "--debug"]
        if os.geteuid() == 0:
            if not have("setpriv"):
                raise AssertionError("as root ZNC needs setpriv (util-linux) "
                                     "to drop to nobody")
            for root, dirs, files in os.walk(self.datadir):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), NOBODY, NOBODY)
            os.chown(self.datadir, NOBODY, NOBODY)
            cmd = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY,
                   "--clear-groups", "--"] + cmd
        env = dict(os.environ, HOME=self.datadir, LANG="C.UTF-8", TZ="UTC")
        self.runs += 1
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env)
        threading.Thread(target=self._reader, args=(self.proc, self.runs),
                         daemon=True).start()

        def listening():
            if self.proc.poll() is not None:
                raise AssertionError("znc exited %s:\n%s"
                                     % (self.proc.returncode, self.logtext()))
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return True
            except OSError:
                return False
        if not wait_until(listening, timeout):
            raise AssertionError("znc is not listening:\n" + self.logtext())
        return self

    def logtext(self, run=None):
        with self.log_lock:
            return "\n".join(line for r, line in self.log
                             if run is None or r == run)

    def from_server(self, run=None):
        """Raw lines ZNC received from the IRC server (Parley)."""
        rx = re.compile(r"\) IRC -> ZNC \[(.*)\]$")
        out = []
        with self.log_lock:
            for r, line in self.log:
                m = rx.search(line)
                if m and (run is None or r == run):
                    out.append(m.group(1))
        return out

    def to_server(self, run=None):
        """Raw lines ZNC sent to the IRC server (Parley)."""
        rx = re.compile(r"\) ZNC -> IRC \[(.*)\](?: \(queued\))?$")
        out = []
        with self.log_lock:
            for r, line in self.log:
                m = rx.search(line)
                if m and (run is None or r == run):
                    out.append(m.group(1))
        return out

    def wait_server_line(self, pattern, timeout=10, run=None):
        """Wait until ZNC has received a line from the server matching the
        regex (in this run by default)."""
        rx = re.compile(pattern)
        run = self.runs if run is None else run
        line = wait_until(lambda: next(
            (x for x in self.from_server(run) if rx.search(x)), None),
            timeout)
        if not line:
            raise AssertionError("ZNC never got %r from the server:\n%s"
                                 % (pattern, self.logtext(run)[-6000:]))
        return line

    def password_line(self):
        return "%s/%s:%s" % (self.user, self.network, self.password)

    def kill(self):
        """A crash: SIGKILL, no QUIT sent upstream."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        stop_proc(self.proc)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.cleanup()
