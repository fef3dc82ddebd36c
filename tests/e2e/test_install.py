"""`make install` as a new user's first day: into a DESTDIR, then the
installed binary started with the installed configuration by an
unprivileged user, and a client connected to it."""
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from conftest import ROOT
from ircclient import Client


def make_install(destdir, prefix="/usr"):
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    r = subprocess.run(["make", "-s", "-C", ROOT, "install",
                        "DESTDIR=" + destdir, "PREFIX=" + prefix],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def as_user():
    """The command prefix that runs a program as an unprivileged user: none
    when the tests already run as one."""
    if os.geteuid() != 0:
        return [], os.geteuid(), os.getegid()
    u = pwd.getpwnam("nobody")
    return (["setpriv", "--reuid=%d" % u.pw_uid, "--regid=%d" % u.pw_gid,
             "--clear-groups", "--"], u.pw_uid, u.pw_gid)


@pytest.fixture
def destdir():
    # Not under pytest's tmp_path: that is private to the user running the
    # tests, and the service's user must reach the files.
    d = tempfile.mkdtemp(prefix="parley-install-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_install_runs_as_a_service_would(destdir):
    make_install(destdir)
    conf = os.path.join(destdir, "etc/parley/gateway.conf")
    unit = os.path.join(destdir, "usr/lib/systemd/system/parley.service")
    binary = os.path.join(destdir, "usr/bin/parley")
    for f in (conf, unit, binary,
              os.path.join(destdir, "usr/share/man/man8/parley.8")):
        assert os.path.exists(f), f
    text = open(conf).read()
    assert re.search(r"^state_dir = /var/lib/parley\b", text, re.M), \
        "the state lives in /var/lib/parley, not under /etc"
    u = open(unit).read()
    assert "ExecStart=/usr/bin/parley -c /etc/parley/gateway.conf" in u
    assert "DynamicUser=yes" in u and "StateDirectory=parley" in u

    prefix, uid, gid = as_user()
    # The installed file as it is: valid.
    r = subprocess.run(prefix + [binary, "--check-config", "-c", conf],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr

    # What systemd's StateDirectory= does: the directory, the user's own.
    state = os.path.join(destdir, "var/lib/parley")
    os.makedirs(state)
    os.chmod(state, 0o700)
    if os.geteuid() == 0:
        os.chown(state, uid, gid)
    # The admin's edits: this test's state directory and a free port.
    text = text.replace("state_dir = /var/lib/parley",
                        "state_dir = %s" % state, 1)
    text = re.sub(r"^listen = 127\.0\.0\.1:6667", "listen = 127.0.0.1:0",
                  text, count=1, flags=re.M)
    with open(conf, "w") as f:
        f.write(text)

    proc = subprocess.Popen(prefix + [binary, "-c", conf],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 15
        log = []
        while port is None and time.time() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            log.append(line)
            m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        assert port, "".join(log)
        c = Client(port)
        c.welcome("newuser")
        c.say("&parley", "status")
        assert any("account" in l or "no accounts" in l.lower()
                   for l in c.bot_lines(seconds=1.0))
        c.close()
        assert os.path.exists(os.path.join(state, "parley.db"))
        if os.geteuid() == 0:
            assert os.stat(os.path.join(state, "parley.db")).st_uid == uid
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0

    # Installing again never overwrites the configuration.
    out = make_install(destdir)
    assert "kept" in out
    assert open(conf).read() == text
