"""Fixtures: start ./parley (or $PARLEY_BIN) on a free loopback port with a
temporary state directory, and connect IRC clients to it."""
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

from ircclient import Client  # noqa: E402
from mock_mastodon import MockMastodon  # noqa: E402

BIN = os.environ.get("PARLEY_BIN", os.path.join(ROOT, "parley"))


class Parley:
    def __init__(self, workdir, conf_extra="", irc_extra="", gateway_extra="",
                 listen="127.0.0.1:0"):
        self.workdir = str(workdir)
        self.conf = os.path.join(self.workdir, "gateway.conf")
        self.state = os.path.join(self.workdir, "state")
        self.listen = listen
        self.write_conf(conf_extra, irc_extra, gateway_extra)
        self.proc = None
        self.port = None
        self.log = []
        self.log_lock = threading.Lock()

    def write_conf(self, conf_extra="", irc_extra="", gateway_extra=""):
        with open(self.conf, "w") as f:
            f.write("[gateway]\nstate_dir = state\nlog_level = debug\n%s\n"
                    "[irc]\nlisten = %s\n%s\n%s\n"
                    % (gateway_extra, self.listen, irc_extra, conf_extra))

    def _reader(self, proc):
        for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.log_lock:
                self.log.append(line)

    def start(self, timeout=10):
        self.log = []
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = subprocess.Popen([BIN, "-c", self.conf], cwd=self.workdir,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=env)
        threading.Thread(target=self._reader, args=(self.proc,),
                         daemon=True).start()
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.log_lock:
                for line in self.log:
                    m = re.search(r"listening on .*:(\d+)$", line)
                    if m:
                        self.port = int(m.group(1))
                        return self
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise AssertionError("parley exited %s:\n%s"
                                     % (self.proc.returncode, self.logtext()))
            time.sleep(0.02)
        raise AssertionError("parley did not start:\n" + self.logtext())

    def logtext(self):
        with self.log_lock:
            return "\n".join(self.log)

    def wait_log(self, pattern, timeout=10):
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.log_lock:
                for line in self.log:
                    if rx.search(line):
                        return line
            time.sleep(0.05)
        raise AssertionError("no log line matching %r:\n%s"
                             % (pattern, self.logtext()))

    def client(self, **kw):
        return Client(self.port, **kw)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=15):
        """Graceful stop; returns the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("parley did not stop on SIGTERM:\n"
                                 + self.logtext())

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def assert_clean(self):
        """Sanitizer reports fail the test that produced them."""
        text = self.logtext()
        for bad in ("ERROR: AddressSanitizer", "runtime error:",
                    "ERROR: LeakSanitizer", "handles left open"):
            assert bad not in text, text


@pytest.fixture
def parley_factory(tmp_path):
    made = []

    def make(**kw):
        p = Parley(tmp_path, **kw)
        made.append(p)
        return p

    yield make
    for p in made:
        if p.proc and p.proc.poll() is None:
            code = p.stop()
            assert code == 0, p.logtext()
        p.assert_clean()


@pytest.fixture
def mock():
    """A mock Mastodon server (tests/mock_mastodon.py) on a free port."""
    m = MockMastodon().start()
    yield m
    m.stop()


@pytest.fixture
def parley(parley_factory):
    return parley_factory().start()
