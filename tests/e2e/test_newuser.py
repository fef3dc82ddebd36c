"""A new user's first day: the messages of the control channel say what is
true (issue: hardening), and --check-config counts what the store holds."""
import re
import subprocess
import time

from conftest import BIN
from test_mastodon import connect, expect_post, start, wait_posted, wait_stream


def outbox_id(c):
    c.say("&parley", "outbox")
    line = c.expect(lambda m: m.command == "PRIVMSG" and m.params[0] ==
                    "&parley" and re.match(r"\d+: ", m.params[1]))
    return line.params[1].split(":")[0]


def test_retry_sends_a_waiting_item_now(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    mock.fail(r"^/api/v1/statuses$", status=503, times=1, retry_after=300,
              method="POST")
    c.say("#masto", "!post not in five minutes")
    c.expect(lambda m: m.command == "NOTICE" and "delayed" in m.params[1])
    item = outbox_id(c)
    t0 = time.time()
    c.say("&parley", "retry " + item)
    c.expect(lambda m: m.params[-1] == "outbox item %s is waiting; trying it "
             "now" % item)
    wait_posted(mock, timeout=10)
    assert time.time() - t0 < 10
    expect_post(c, "not in five minutes")
    time.sleep(1)  # the stream may show the post before the POST's answer
    c.say("&parley", "retry " + item)
    c.expect(lambda m: m.params[-1] == "outbox item %s was sent already" %
             item)
    c.say("&parley", "retry 999")
    c.expect(lambda m: "there is no outbox item 999" in m.params[-1])


def test_status_says_off_and_login_says_it_starts_over(parley_factory, mock):
    p = start(parley_factory, mock)
    c = connect(p)
    wait_stream(mock)
    c.say("&parley", "account off masto")
    c.expect(lambda m: m.params[-1] == "masto is off")
    c.say("&parley", "status")
    line = c.expect(lambda m: m.params[-1].startswith("masto (mastodon)"))
    assert "off" in line.params[-1] and "not signed in" not in line.params[-1]
    c.say("&parley", "account on masto")
    deadline = time.time() + 15
    while time.time() < deadline:
        c.say("&parley", "status")
        if any("masto (mastodon): signed in as" in t for t in c.bot_lines()):
            break
    c.say("&parley", "account login masto")
    c.expect(lambda m: "masto is signed in as @" in m.params[-1] and
             "signing in again" in m.params[-1], timeout=15)


def test_check_config_counts_accounts_in_the_store(parley_factory, mock):
    p = parley_factory().start()
    c = p.client()
    c.welcome("me")
    c.say("&parley", "account add social mastodon base_url=%s" % mock.base_url)
    c.expect(lambda m: "added" in m.params[-1])
    out = subprocess.run([BIN, "--check-config", "-c", p.conf],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    assert "0 accounts in this file; 1 in" in out.stdout, out.stdout


def test_man_page_lists_every_command(parley_factory, mock):
    """Each command `help` and `!help` name is in parley(8)."""
    from conftest import ROOT
    p = start(parley_factory, mock)
    c = connect(p)
    c.say("&parley", "help")
    control = " ".join(c.bot_lines(seconds=1.0))
    c.say("#masto", "!help")
    channel = " ".join(m.params[1] for m in c.collect(1.0)
                       if m.nick == "parley")
    words = set()
    m = re.search(r"needed\): (.*?)\.(?: |$)", control)
    assert m, control
    for item in m.group(1).split(", "):
        parts = item.split()
        if parts[0] == "account" and len(parts) > 1 and parts[1].islower():
            words |= set("account " + w for w in parts[1].split("|"))
        else:
            words.add(parts[0])
    words |= set(re.findall(r"![a-z]+", control + " " + channel))
    assert "account login" in words and "!pending" in words, words
    man = open(ROOT + "/doc/parley.8").read()
    man = re.sub(r"\\f[BIRP]", "", man).replace("\\-", "-")
    missing = sorted(w for w in words if w not in man)
    assert not missing, "parley(8) lacks %s" % missing
