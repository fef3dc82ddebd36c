"""A team on Parley's own server: two teammates, one Mastodon account, the
inbox they share (claims, the double-answer guard, DMs answered as a
conversation, replies by name after a restart)."""
import re
import time

from test_mastodon import (connect, expect_post, ref_of, start, wait_posted,
                           wait_stream)


def notice(c, text, timeout=10):
    return c.expect(lambda m: m.command == "NOTICE" and text in m.params[-1],
                    timeout=timeout, what="a notice with %r" % text)


def test_claims_and_the_double_answer_guard(parley_factory, mock):
    p = start(parley_factory, mock)
    ann = connect(p, nick="ann")
    bob = connect(p, nick="bob")
    wait_stream(mock)
    mock.add_mention("alice@example.social", "who takes this?")
    ref = ref_of(expect_post(ann, "who takes this?"))
    expect_post(bob, "who takes this?")

    bob.say("#masto", "!claim %s" % ref)
    notice(ann, "[%s] claimed by bob" % ref)
    ann.say("#masto", "!claim %s" % ref)
    notice(ann, "[%s] is claimed by bob since " % ref)
    ann.say("#masto", "!claim! %s" % ref)
    # The previous holder reads it, with their nick in it.
    notice(bob, "[%s] claimed by ann (taken, was bob's)" % ref)

    ann.say("#masto", "alice: on it")
    wait_posted(mock, 1)
    notice(bob, "[%s] answered by ann" % ref)
    bob.say("#masto", "alice: me too")
    notice(bob, "[%s] was answered by ann" % ref)
    time.sleep(1)
    assert len(mock.posted) == 1, "the second answer is held"
    bob.say("#masto", "!re! %s" % ref)
    st = wait_posted(mock, 2)["status"]
    assert "me too" in st["content"]
    assert st["in_reply_to_id"] == mock.posted[0]["status"]["in_reply_to_id"]

    bob.say("#masto", "!history %s" % ref)
    lines = [m.params[-1] for m in bob.collect(1.5) if m.command == "NOTICE"]
    text = "\n".join(lines)
    assert re.search(r"bob claimed", text), text
    assert re.search(r"ann claimed", text), text
    assert re.search(r"ann answered: on it", text), text
    assert re.search(r"bob answered: me too", text), text


def test_dm_conversation_answered_and_seen_by_the_team(parley_factory, mock):
    p = start(parley_factory, mock)
    ann = connect(p, nick="ann")
    bob = connect(p, nick="bob")
    wait_stream(mock)
    mock.add_dm("dee@example.social", "hello?")
    mock.add_dm("dee@example.social", "anyone?")
    ann.expect(lambda m: m.command == "PRIVMSG" and "anyone?" in m.params[1])
    ann.say("dee", "yes, here")
    st = wait_posted(mock, 1)["status"]
    assert st["visibility"] == "direct"
    # Bob sees what ann wrote, and that both DMs are answered.
    m = bob.expect(lambda m: m.command == "NOTICE" and "ann wrote:" in
                   m.params[-1] and "yes, here" in m.params[-1])
    assert re.match(r"\[[0-9a-z]+\] ann wrote: ", m.params[-1])
    notice(bob, "answered by ann (and [")
    bob.say("#masto", "!pending")
    notice(bob, "nothing is waiting for an answer")


def test_reply_by_name_after_a_restart(parley_factory, mock):
    p = start(parley_factory, mock)
    ann = connect(p, nick="ann")
    wait_stream(mock)
    mock.add_mention("carol@example.social", "still open")
    ref = ref_of(expect_post(ann, "still open"))
    p.stop()
    p.start()
    ann = p.client()
    ann.register("ann", caps=["server-time", "message-tags"])
    names = ann.expect(lambda m: m.command == "353" and m.params[2] ==
                       "#masto")
    assert "carol" in names.params[3].split(), names
    ann.say("#masto", "carol: answered after the restart")
    st = wait_posted(mock, 1)["status"]
    carol_status = [s for s in mock.statuses.values()
                    if "still open" in s.get("content", "")][0]
    assert st["in_reply_to_id"] == carol_status["id"]
    notice(ann, "[%s] answered by ann" % ref)
