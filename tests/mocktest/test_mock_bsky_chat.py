"""The mock chat service answers as the chat.bsky.convo lexicons say, and
refuses what the PDS in front of the real one refuses."""
import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))

from mock_bsky_chat import PROXY, MockBskyChat  # noqa: E402

ALICE = "did:plc:ragtjsm2j2vknwkz3zp4oxrd"
BOB = "did:plc:u5cwb2mwiv2bfq53cjufe6yn"


def jwt(sub, scope="com.atproto.access", exp=None):
    def enc(d):
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(
            b"=").decode()
    return "%s.%s.sig" % (enc({"typ": "at+jwt", "alg": "HS256"}), enc({
        "scope": scope, "sub": sub,
        "exp": exp if exp is not None else time.time() + 3600}))


def call(m, nsid, token, body=None, query=None, proxy=PROXY):
    url = "%s/xrpc/%s" % (m.base_url, nsid)
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    req = urllib.request.Request(url, data=json.dumps(body).encode()
                                 if body is not None else None)
    if body is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    if proxy:
        req.add_header("atproto-proxy", proxy)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def m():
    mock = MockBskyChat().start()
    mock.add_member(ALICE, "alice.test")
    mock.add_member(BOB, "bob.test")
    yield mock
    mock.stop()


def test_refuses_what_the_pds_refuses(m):
    st, j = call(m, "chat.bsky.convo.getLog", jwt(ALICE), proxy=None)
    assert (st, j["error"]) == (400, "InvalidRequest")
    st, j = call(m, "chat.bsky.convo.getLog", None)
    assert (st, j["error"]) == (401, "AuthenticationRequired")
    st, j = call(m, "chat.bsky.convo.getLog",
                 jwt(ALICE, scope="com.atproto.appPass"))
    assert (st, j["error"], j["message"]) == (400, "InvalidToken",
                                              "Bad token method")
    st, j = call(m, "chat.bsky.convo.getLog", jwt(ALICE, exp=1))
    assert (st, j["error"]) == (400, "ExpiredToken")
    st, j = call(m, "chat.bsky.convo.noSuchThing", jwt(ALICE))
    assert (st, j["error"]) == (501, "MethodNotImplemented")
    # A privileged app password reads DMs.
    st, _ = call(m, "chat.bsky.convo.getLog",
                 jwt(ALICE, scope="com.atproto.appPassPrivileged"))
    assert st == 200


def test_log_request_accept_and_send(m):
    a = jwt(ALICE)
    st, j = call(m, "chat.bsky.convo.getLog", a)
    assert st == 200 and j == {"logs": []}
    msg = m.send(BOB, ALICE, "hello", request=True)
    assert set(msg) >= {"$type", "id", "rev", "text", "sender", "sentAt"}
    assert msg["$type"] == "chat.bsky.convo.defs#messageView"
    st, j = call(m, "chat.bsky.convo.getLog", a)
    cursor = j["cursor"]
    assert j["logs"] == []
    st, j = call(m, "chat.bsky.convo.getLog", a,
                 query={"cursor": "2222222222222"})
    kinds = [e["$type"].split("#")[1] for e in j["logs"]]
    assert kinds == ["logBeginConvo", "logCreateMessage"]
    assert j["cursor"] == cursor
    revs = [e["rev"] for e in j["logs"]]
    assert revs == sorted(revs) and all(len(r) == 13 for r in revs)
    cid = j["logs"][1]["convoId"]
    assert j["logs"][1]["message"]["sender"] == {"did": BOB}
    st, j = call(m, "chat.bsky.convo.getConvo", a, query={"convoId": cid})
    convo = j["convo"]
    assert set(convo) >= {"id", "rev", "members", "muted", "unreadCount"}
    assert convo["status"] == "request"
    assert {p["handle"] for p in convo["members"]} == {"alice.test",
                                                      "bob.test"}
    st, j = call(m, "chat.bsky.convo.acceptConvo", a, body={"convoId": cid})
    assert st == 200 and "rev" in j
    st, j = call(m, "chat.bsky.convo.acceptConvo", a, body={"convoId": cid})
    assert (st, j) == (200, {})
    st, j = call(m, "chat.bsky.convo.sendMessage", a, body={
        "convoId": cid, "message": {"text": "hi bob"}})
    assert st == 200 and j["text"] == "hi bob" and j["sender"]["did"] == ALICE
    assert m.sent[0]["convoId"] == cid
    st, j = call(m, "chat.bsky.convo.getMessages", a,
                 query={"convoId": cid, "limit": 1})
    assert [x["text"] for x in j["messages"]] == ["hi bob"]
    # Someone else's conversation does not exist for carla.
    st, j = call(m, "chat.bsky.convo.sendMessage",
                 jwt("did:plc:carlacarlacarlacarlacarl"),
                 body={"convoId": cid, "message": {"text": "x"}})
    assert (st, j["error"]) == (400, "InvalidConvo")


def test_convo_for_members_and_limits(m):
    a = jwt(ALICE)
    st, j = call(m, "chat.bsky.convo.getConvoForMembers", a,
                 query={"members": [BOB]})
    assert st == 200
    cid = j["convo"]["id"]
    st, j2 = call(m, "chat.bsky.convo.getConvoForMembers", a,
                  query={"members": [BOB]})
    assert j2["convo"]["id"] == cid
    st, j = call(m, "chat.bsky.convo.getConvoForMembers", a,
                 query={"members": ["did:plc:nobodynobodynobodynobody"]})
    assert (st, j["error"]) == (400, "RecipientNotFound")
    st, j = call(m, "chat.bsky.convo.sendMessage", a, body={
        "convoId": cid, "message": {"text": "x" * 1001}})
    assert (st, j["error"]) == (400, "InvalidRequest")
    m.configure(related_profiles=True)
    m.send(BOB, ALICE, "with profiles")
    st, j = call(m, "chat.bsky.convo.getLog", a,
                 query={"cursor": "2222222222222"})
    last = j["logs"][-1]
    assert {p["did"] for p in last["relatedProfiles"]} == {ALICE, BOB}
