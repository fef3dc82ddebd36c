"""Descriptors and memory: the open-files limit is raised at start, and
running out of descriptors is said in the log, the control channel and
`status` once, not buried in sign-in retries that never say why."""
import re
import signal
import time

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
