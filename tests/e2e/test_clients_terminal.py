"""Parley with real terminal IRC clients: irssi under tmux, and WeeChat
headless.  What a user sees and types, against the mock Mastodon server."""
import re
import time

import pytest

from realclients import (Irssi, WeeChat, have, iso_seconds, past_iso,
                         wait_until)
from test_mastodon import start, wait_posted, wait_stream


def replies_to(mock, status_id):
    return [x for x in list(mock.posted)
            if x["params"].get("in_reply_to_id") == status_id]


@pytest.mark.skipif(not (have("irssi") and have("tmux")),
                    reason="irssi and tmux are needed (scripts/deps.sh test)")
def test_irssi_sees_mention_and_replies(parley_factory, mock, tmp_path):
    p = start(parley_factory, mock)
    with Irssi(tmp_path, p.port, nick="tester").start() as irssi:
        screen = irssi.tmux
        # Registered: the welcome reached irssi's status window.
        screen.wait_screen(r"Welcome to Parley, tester", timeout=15)
        # Auto-joined: irssi has a #masto window to go to.
        irssi.goto("#masto")
        screen.wait_screen(r"tester \[.*\] has joined #masto")
        wait_stream(mock)

        n = mock.add_mention("alice@example.social",
                             "are you there, irssi user?")
        sid = n["status"]["id"]
        m = screen.wait_screen(
            r"<\s*alice> \[([0-9a-z]+)\] .*are you there, irssi user\?")
        ref = m.group(1)

        screen.type("alice: hello from irssi")
        post = wait_posted(mock, 1)
        assert post["params"]["in_reply_to_id"] == sid, post["params"]
        text = post["params"]["status"]
        assert "hello from irssi" in text
        assert text.startswith("@alice@example.social "), text
        assert "alice:" not in text, "the IRC addressing must not leak"
        # The accepted reply comes back with its own ref, and the mention
        # is marked answered.
        echo = screen.wait_screen(
            r"<\s*me> \[([0-9a-z]+)\] @alice@example.social hello from irssi")
        assert echo.group(1) != ref
        screen.wait_screen(r"\[%s\] answered by tester" % re.escape(ref))
        time.sleep(0.3)
        assert len(replies_to(mock, sid)) == 1, mock.posted
        assert irssi.tmux.pane_alive(), "irssi exited:\n" + screen.screen()
    assert p.proc.poll() is None, "parley died:\n" + p.logtext()


@pytest.mark.skipif(not have("weechat-headless"),
                    reason="weechat-headless is needed (scripts/deps.sh test)")
def test_weechat_server_time_and_reply(parley_factory, mock, tmp_path):
    p = start(parley_factory, mock)
    wc = WeeChat(tmp_path, p.port, nick="tester",
                 on_usr1="/msg -server parley #masto "
                         "alice: hello from weechat")
    with wc.start():
        wc.wait_log("#masto", lambda r: "has joined #masto" in r[2]
                    and r[1] == "-->", timeout=15, what="its own join")
        caps = wc.wait_log("server",
                           lambda r: "capability" in r[2]
                           and "enabled" in r[2], what="CAP ACK")
        assert "server-time" in caps[2], caps
        wait_stream(mock)

        # Two hours old: a client showing its receive time instead of the
        # server-time tag would log the current time.
        created = past_iso(2 * 3600 + 123)
        n = mock.add_mention("alice@example.social",
                             "weechat, what time is it?", created_at=created)
        sid = n["status"]["id"]
        row = wc.wait_log("#masto", lambda r: "what time is it" in r[2],
                          what="the mention")
        logged, nick, message = row
        assert nick == "alice", row
        assert re.match(r"\[[0-9a-z]+\] ", message), row
        ref = message[1:message.index("]")]
        assert logged.replace(" ", "T") == n["status"]["created_at"][:19], \
            (row, n["status"]["created_at"])
        assert iso_seconds(created) == iso_seconds(
            n["status"]["created_at"])

        wc.usr1()  # /msg #masto alice: hello from weechat
        post = wait_posted(mock, 1)
        assert post["params"]["in_reply_to_id"] == sid, post["params"]
        assert post["params"]["status"].startswith("@alice@example.social ")
        assert "hello from weechat" in post["params"]["status"]
        echo = wc.wait_log("#masto", lambda r: r[1] == "me" and
                           "hello from weechat" in r[2],
                           what="the echo of the reply")
        assert not echo[2].startswith("[%s]" % ref), echo
        wc.wait_log("#masto", lambda r: ("[%s] answered by tester" % ref)
                    in r[2], what="the answered notice")
        # Shown once: no line of the mention is logged twice.
        time.sleep(0.3)
        shown = [r for r in wc.log_lines("#masto")
                 if "what time is it" in r[2]]
        assert len(shown) == 1, shown
        assert len(replies_to(mock, sid)) == 1, mock.posted
        assert wc.proc.poll() is None
    assert p.proc.poll() is None, "parley died:\n" + p.logtext()


@pytest.mark.skipif(not (have("irssi") and have("tmux")),
                    reason="irssi and tmux are needed (scripts/deps.sh test)")
def test_irssi_dm_opens_query_and_answer_stays_direct(parley_factory, mock,
                                                      tmp_path):
    p = start(parley_factory, mock)
    with Irssi(tmp_path, p.port, nick="tester").start() as irssi:
        screen = irssi.tmux
        screen.wait_screen(r"Welcome to Parley, tester", timeout=15)
        wait_stream(mock)
        n = mock.add_dm("bob@other.example", "psst, irssi, a secret")
        # irssi opens a query window for bob by itself.
        irssi.goto("bob")
        screen.wait_screen(r"<\s*bob> .*psst, irssi, a secret")
        screen.type("got it, bob")
        post = wait_posted(mock, 1)
        assert post["params"]["visibility"] == "direct", post["params"]
        assert post["params"]["in_reply_to_id"] == n["status"]["id"]
        assert "@bob@other.example" in post["params"]["status"]
        assert "got it, bob" in post["params"]["status"]
        # Nothing of the DM leaked into the public channel window.
        irssi.goto("#masto")
        time.sleep(0.3)
        assert "psst" not in screen.screen()
        assert "got it, bob" not in screen.screen()
        time.sleep(0.3)
        assert len(mock.posted) == 1, mock.posted
        assert irssi.tmux.pane_alive(), "irssi exited:\n" + screen.screen()
    assert p.proc.poll() is None, "parley died:\n" + p.logtext()


@pytest.mark.skipif(not have("weechat-headless"),
                    reason="weechat-headless is needed (scripts/deps.sh test)")
def test_weechat_reconnect_plays_back_missed_posts_once(parley_factory, mock,
                                                        tmp_path):
    """Mentions that arrive while the client is away are played back on
    reconnect with their own time (WeeChat logs them at created_at), and
    what the client had already seen is not sent again."""
    p = start(parley_factory, mock)
    # Another user of the gateway: when it has a post, Parley has stored it.
    watcher = p.client()
    watcher.welcome("watcher")
    wc = WeeChat(tmp_path, p.port, nick="tester")
    with wc.start():
        wc.wait_log("#masto", lambda r: "has joined #masto" in r[2],
                    timeout=15, what="its own join")
        wait_stream(mock)
        mock.add_mention("alice@example.social", "seen before quitting")
        wc.wait_log("#masto", lambda r: "seen before quitting" in r[2])
        closed = p.logtext().count(" closing: ")
        wc.stop()  # SIGTERM: /quit
        assert wc.proc.returncode is not None
    assert wait_until(lambda: p.logtext().count(" closing: ") > closed, 10), \
        "parley did not notice WeeChat quitting:\n" + p.logtext()

    away = {}
    for text, ago in (("missed one", 5400), ("missed two", 1800)):
        n = mock.add_mention("carol@third.example", text,
                             created_at=past_iso(ago))
        away[text] = n["status"]["created_at"]
        watcher.expect(lambda m, t=text: m.command == "PRIVMSG"
                       and t in m.params[-1], what=text)

    # Same home: WeeChat appends to the same log files.
    wc2 = WeeChat(tmp_path, p.port, nick="tester")
    with wc2.start():
        def joins():
            return [r for r in wc2.log_lines("#masto")
                    if r[1] == "-->" and r[2].startswith("tester ")]
        assert wait_until(lambda: len(joins()) >= 2, 15), \
            wc2.log_lines("#masto")
        for text, created in away.items():
            row = wc2.wait_log("#masto", lambda r, t=text: t in r[2],
                               what=text)
            assert row[1] == "carol", row
            assert row[0].replace(" ", "T") == created[:19], (row, created)
        mock.add_mention("alice@example.social", "live after reconnect")
        wc2.wait_log("#masto", lambda r: "live after reconnect" in r[2])
        time.sleep(0.5)
        rows = [r for r in wc2.log_lines("#masto") if r[1] != "--"
                and re.match(r"\[[0-9a-z]+\] ", r[2])]
        texts = [r[2] for r in rows]
        assert len(texts) == len(set(texts)) == 4, "\n".join(texts)
    watcher.close()
    assert p.proc.poll() is None, "parley died:\n" + p.logtext()
