"""Descriptors and memory: the open-files limit is raised at start, and
running out of descriptors is said in the log, the control channel and
`status` once, not buried in sign-in retries that never say why."""
import re
import signal
import time

from ircclient import Client
from mock_mastodon import MockMastodon


def nofile_of(pid):
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no open files line")


def test_open_files_limit_raised_at_start(parley_factory):
    p = parley_factory()
    p.start(nofile=(256, 4096))
    p.wait_log(r"open files: limit raised from 256 to 4096")
    assert nofile_of(p.pid) == (4096, 4096)
    c = p.client()
    c.welcome("op")
    c.say("&parley", "status")
    lines = c.bot_lines(seconds=1.5)
    res = [x for x in lines if x.startswith("resources:")]
    assert res, lines
    assert re.search(r"\d+ file descriptors open of 4096 allowed", res[0])
    assert "nothing has run short" in res[0]


def test_running_out_of_descriptors_is_said_once_and_shown(parley_factory):
    mock = MockMastodon().start()
    try:
        tokens = mock.add_users(40)
        p = parley_factory()
        # soft == hard: nothing to raise, 40 streams cannot all fit
        p.start(nofile=(40, 40))
        p.wait_log(r"open files: limit 40, already the hard limit")
        c = p.client()
        c.welcome("op")
        conf = "".join(
            "[account a%d]\nnetwork = mastodon\nbase_url = %s\n"
            "token = %s\n\n" % (i, mock.base_url, t)
            for i, t in enumerate(tokens))
        p.write_conf(conf_extra=conf)
        p.signal(signal.SIGHUP)
        alert = c.expect(
            lambda m: m.command == "PRIVMSG" and m.params[0] == "&parley"
            and "out of file descriptors" in m.params[1], timeout=20,
            what="the descriptor alert in &parley")
        assert alert.params[1].startswith("out of file descriptors: ")
        assert "open files limit is 40" in alert.params[1], alert
        p.wait_log(r"\[error\]: out of file descriptors \(\d+ time")
        # the sign-ins that failed say why, not "Couldn't connect"
        p.wait_log(r"cannot sign in: .*out of file descriptors", timeout=10)
        # failures go on (retries), the alert is not repeated
        time.sleep(3)
        c.say("&parley", "status")
        lines = c.bot_lines(seconds=2)
        assert not [x for x in lines
                    if x.startswith("out of file descriptors")], lines
        res = [x for x in lines if x.startswith("resources:")]
        assert res, lines
        m = re.search(r"SHORT OF FILE DESCRIPTORS: (\d+) time", res[0])
        assert m and int(m.group(1)) >= 1, res[0]
        assert re.search(r"(of|all) 40 (file descriptors )?allowed", res[0]), \
            res[0]
        # one alert in the log per minute, however many failures
        errs = [x for x in p.logtext().splitlines()
                if "[error]: out of file descriptors" in x]
        assert len(errs) == 1, errs
        p.stop()
    finally:
        mock.stop()


def test_thousands_of_account_channels_joined_as_the_client_reads(
        parley_factory):
    """3,500 account channels: their JOIN, TOPIC and NAMES lines (over the
    1 MiB hard send queue) go out as the client reads them, instead of
    closing it with "SendQ exceeded" before its first word; a mention that
    comes while it is still joining reaches it once, after the channel's
    JOIN, and it can talk to the gateway meanwhile."""
    n = 3500
    mock = MockMastodon().start()
    try:
        tokens = mock.add_users(n)
        conf = "".join(
            "[account a%d]\nnetwork = mastodon\nbase_url = %s\ntoken = %s\n"
            "%s\n" % (i, mock.base_url, t,
                      "" if i == 0 else "streaming = no\npoll_seconds = 3600\n")
            for i, t in enumerate(tokens))
        p = parley_factory(conf_extra=conf)
        p.start(timeout=60)
        # every account running (its channel open) before the client comes
        def polled():
            with mock._lock:
                return len({r.headers.get("authorization", "")
                            for r in mock.requests
                            if r.path == "/api/v1/notifications"})
        deadline = time.time() + 180
        while (mock.stream_count() < 1 or polled() < n - 1) and \
                time.time() < deadline:
            time.sleep(0.5)
        assert mock.stream_count() >= 1 and polled() >= n - 1
        # a small receive buffer: the gateway's queue, not the kernel's,
        # holds what the client has not read
        c = Client(p.port, rcvbuf=16384, timeout=60)
        assert c.register("bob").command == "001"
        time.sleep(1.0)  # not reading: the joins wait for it
        mock.mention_users([tokens[0]], text="said while you were joining")
        time.sleep(1.5)
        c.send("PING :still-here")
        joined, order = set(), []
        deadline = time.time() + 120
        while len(joined) < n + 1 and time.time() < deadline:
            for m in c.collect(0.5):
                order.append(m)
                if m.command == "JOIN":
                    joined.add(m.params[0].lower())
            assert not c.closed, [m.raw for m in c.lines[-5:]]
        assert len(joined) == n + 1, "joined %d channels of %d" % (
            len(joined), n + 1)
        order += c.collect(3.0)
        assert not [m for m in order if m.command == "ERROR"], \
            [m.raw for m in order if m.command == "ERROR"]
        said = [i for i, m in enumerate(order) if m.command == "PRIVMSG"
                and m.params[0] == "#a0"
                and "said while you were joining" in m.params[1]]
        assert len(said) == 1, [order[i].raw for i in said]
        join_a0 = [i for i, m in enumerate(order)
                   if m.command == "JOIN" and m.params[0] == "#a0"]
        assert join_a0 and join_a0[0] < said[0]
        assert [m for m in order if m.command == "PONG"
                and m.params[-1] == "still-here"], "PING was not answered"
        p.stop()
    finally:
        mock.stop()
