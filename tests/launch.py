"""Start Parley for tests and benchmarks: one way for both.

    p = Parley(workdir, conf_extra="[account m]\\nnetwork = mastodon\\n...")
    p.start()                   # waits until it listens; p.port
    p.wait_log("Parley started")
    p.signal(signal.SIGHUP)
    assert p.stop() == 0        # SIGTERM and wait
    p.assert_clean()            # no sanitizer reports in its log

The binary is $PARLEY_BIN, else ./parley at the top of the tree, unless
one is given.  Its stderr is kept in memory (p.log, p.logtext()).
"""

import os
import re
import resource
import signal
import socket
import subprocess
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("PARLEY_BIN", os.path.join(ROOT, "parley"))

# What ASan, UBSan and libuv's handle check print: any of them fails a run.
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "runtime error:",
                     "ERROR: LeakSanitizer", "handles left open")


class ParleyError(AssertionError):
    """Parley did not start, stop or log as expected.  An AssertionError,
    so pytest reports it as a failed check."""


class Parley(object):
    """One gateway: its directory (gateway.conf, state/), its process and
    its log.  listen "host:0" learns the port from the "listening on" log
    line, which needs log_level info or debug; with a fixed port, start()
    waits until the port takes connections."""

    def __init__(self, workdir, binary=None, conf_extra="", irc_extra="",
                 gateway_extra="", listen="127.0.0.1:0", log_level="debug"):
        self.workdir = str(workdir)
        self.binary = binary or BIN
        self.conf = os.path.join(self.workdir, "gateway.conf")
        self.state = os.path.join(self.workdir, "state")
        self.db = os.path.join(self.state, "parley.db")
        self.listen = listen
        self.log_level = log_level
        self.proc = None
        self.port = None
        self.log = []
        self.log_lock = threading.Lock()
        self._reader_thread = None
        self.write_conf(conf_extra, irc_extra, gateway_extra)

    def write_conf(self, conf_extra="", irc_extra="", gateway_extra=""):
        """(Re)write gateway.conf; extra text goes into [gateway], [irc] and
        after them (account, relay and user sections)."""
        with open(self.conf, "w") as f:
            f.write("[gateway]\nstate_dir = state\nlog_level = %s\n%s\n"
                    "[irc]\nlisten = %s\n%s\n%s\n"
                    % (self.log_level, gateway_extra, self.listen, irc_extra,
                       conf_extra))

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def _reader(self, proc):
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.log_lock:
                self.log.append(line)

    def start(self, timeout=10, nofile=None):
        """Run parley and wait until it listens; returns self.  nofile:
        (soft, hard) open-files limit to start it with."""
        self.log = []
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")

        def limits():
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, nofile)

        self.proc = subprocess.Popen([self.binary, "-c", self.conf],
                                     cwd=self.workdir, preexec_fn=limits,
                                     stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        self._reader_thread = threading.Thread(
            target=self._reader, args=(self.proc,), daemon=True)
        self._reader_thread.start()
        host, port = self.listen.split(",")[0].strip().rsplit(":", 1)
        host, port = host.strip("[]"), int(port)
        try:
            if port:
                self._wait(lambda: _connectable(host, port), timeout,
                           "a listener on port %d" % port)
                self.port = port
            else:
                line = self.wait_log(r"listening on .*:(\d+)$", timeout)
                self.port = int(re.search(r":(\d+)$", line).group(1))
        except ParleyError:
            if self.alive():
                self.kill9()
            raise
        return self

    def _wait(self, found, timeout, what):
        """Poll found() until it gives something; fail when parley exits or
        the time runs out first."""
        deadline = time.time() + timeout
        while True:
            v = found()
            if v:
                return v
            if self.proc.poll() is not None:
                self._reader_thread.join(2)     # its last words
                v = found()
                if v:
                    return v
                raise ParleyError("parley exited with status %s before %s:"
                                  "\n%s" % (self.proc.returncode, what,
                                            self.logtext()))
            if time.time() >= deadline:
                raise ParleyError("no %s within %ss:\n%s"
                                  % (what, timeout, self.logtext()))
            time.sleep(0.005)

    def wait_log(self, pattern, timeout=10):
        """The first line of this run's log that matches the regex
        pattern, waiting for it to come."""
        rx = re.compile(pattern)
        seen = [0]

        def find():
            with self.log_lock:
                new = self.log[seen[0]:]
            seen[0] += len(new)
            return next((line for line in new if rx.search(line)), None)

        return self._wait(find, timeout, "log line matching %r" % pattern)

    def logtext(self, last=None):
        """The log of this run, or its last `last` lines."""
        with self.log_lock:
            lines = self.log if last is None else self.log[-last:]
            return "\n".join(lines)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """Graceful stop (SIGTERM); returns the exit status.  If parley
        does not stop in time it is killed and ParleyError raised."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise ParleyError("parley did not stop on SIGTERM:\n"
                              + self.logtext())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def assert_clean(self):
        """Sanitizer reports fail the run that produced them."""
        text = self.logtext()
        for bad in SANITIZER_REPORTS:
            assert bad not in text, text

    def finish(self):
        """The end of a test: stop parley if it still runs (it must exit
        0), then no sanitizer reports."""
        if self.alive():
            code = self.stop()
            assert code == 0, self.logtext()
        self.assert_clean()


def _connectable(host, port):
    try:
        socket.create_connection((host, port), 0.2).close()
        return True
    except OSError:
        return False
