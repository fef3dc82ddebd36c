"""Running a mock in a process of its own, and scripting it from outside.

A mock script's main() is serve_main(): it starts the mock, writes where
it listens to --info-file (and the bare port to --port-file) and serves
until SIGTERM or SIGINT.  spawn() runs such a script and returns a Remote,
which calls the mock's control methods over POST /_mock/NAME and reads its
state over GET /_mock/NAME, so a test reads the same either way:

    m = spawn("tests/mock_mastodon.py", "--no-streaming")
    m.add_mention(text="hi")            # as MockMastodon().add_mention(...)
    assert m.get("posted") == []
    m.stop()
"""

import argparse
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

from .server import CONTROL_PREFIX


def write_atomic(path, text):
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def serve_main(make, argv=None, description=None, add_arguments=None):
    """The command line of a mock script.  make(args) builds the (not yet
    started) mock from the parsed arguments: --port, --tls, --verbose and
    whatever add_arguments(parser) adds.  Returns the exit status."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--port-file", help="gets the port number")
    ap.add_argument("--info-file", help="gets JSON: port, base_url, ...")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    if add_arguments:
        add_arguments(ap)
    a = ap.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    m = make(a).start()
    try:
        if a.info_file:
            write_atomic(a.info_file, json.dumps(m.info()) + "\n")
        # last: a reader that waits for this file finds the info file too
        if a.port_file:
            write_atomic(a.port_file, "%d\n" % m.port)
        while not stop.wait(0.5):
            pass
    finally:
        m.stop()
    return 0


class ControlError(Exception):
    pass


class Remote(object):
    """The control endpoint of a mock at base_url, as Python methods:
    remote.NAME(**kwargs) is POST /_mock/NAME, remote.get(NAME) is
    GET /_mock/NAME."""

    def __init__(self, base_url, ca_file=None, timeout=10):
        self.base_url = base_url
        self.ca_file = ca_file
        self.timeout = timeout
        self.proc = None
        self.info = {"base_url": base_url, "ca_file": ca_file}
        self._dir = None

    def _request(self, method, name, data=None):
        req = urllib.request.Request(
            self.base_url + CONTROL_PREFIX + name, method=method, data=data,
            headers={"Content-Type": "application/json"})
        ctx = None
        if self.base_url.startswith("https"):
            ctx = ssl.create_default_context(cafile=self.ca_file)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout,
                                        context=ctx) as r:
                return json.loads(r.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raise ControlError("%s %s: %s" % (method, name, e.read().decode(
                "utf-8", "replace")))

    def call(self, name, **kwargs):
        return self._request("POST", name, json.dumps(kwargs).encode())

    def get(self, name):
        return self._request("GET", name)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda **kwargs: self.call(name, **kwargs)

    def stop(self, timeout=10):
        """Stop a mock started by spawn() (SIGTERM, then SIGKILL); its exit
        status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        return self.proc.returncode


def spawn(script, *args, timeout=10):
    """Run a mock script (built on serve_main) in a process of its own;
    returns a Remote for it, with .proc and .info (the info file)."""
    d = tempfile.mkdtemp(prefix="mock-proc-")
    path = os.path.join(d, "info.json")
    proc = subprocess.Popen([sys.executable, script, "--info-file", path]
                            + list(args), stdin=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while not os.path.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            shutil.rmtree(d, ignore_errors=True)
            raise ControlError("%s did not start (status %s)"
                               % (script, proc.returncode))
        time.sleep(0.02)
    with open(path) as f:
        info = json.load(f)
    r = Remote(info["base_url"], info.get("ca_file"))
    r.proc, r.info, r._dir = proc, info, d
    return r
