"""Self-test of tests/mock_x.py (stdlib clients only): the shapes and
behaviours the X end-to-end tests stand on.

Run: /usr/bin/python3 -m pytest -q tests/mocktest
"""
import base64
import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS_DIR)

from mock_x import MockX, weighted_length  # noqa: E402


@pytest.fixture
def mx():
    m = MockX().start()
    yield m
    m.stop()


def call(mx, method, path, token=None, body=None, form=None):
    headers = {}
    data = None
    if token:
        headers["Authorization"] = "Bearer " + token
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(mx.base_url + path, data=data,
                                 headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), json.loads(e.read() or b"null")


def test_mentions_page_shape_and_since_id(mx):
    tok = mx.add_token()["access_token"]
    a = mx.add_mention("alice", "one")
    b = mx.add_mention("bob", "two", hidden="deleted")
    me = mx.me["id"]
    st, h, j = call(mx, "GET", "/2/users/%s/mentions?max_results=5" % me, tok)
    assert st == 200
    assert [p["id"] for p in j["data"]] == [b["id"], a["id"]]
    assert int(a["id"]) > 2 ** 63 and isinstance(a["id"], str)
    assert j["meta"]["newest_id"] == b["id"]
    assert [u["username"] for u in j["includes"]["users"]] == ["alice"]
    assert j["errors"][0]["resource_id"] == b["author_id"]
    assert j["errors"][0]["title"] == "Not Found Error"
    assert h["x-rate-limit-limit"] == "300"
    assert int(h["x-rate-limit-remaining"]) == 299
    assert int(h["x-rate-limit-reset"]) > time.time()
    st, _, j = call(mx, "GET", "/2/users/%s/mentions?max_results=5&since_id=%s"
                    % (me, b["id"]), tok)
    assert j == {"meta": {"result_count": 0}}
    st, _, j = call(mx, "GET", "/2/users/%s/mentions?max_results=1" % me, tok)
    assert st == 400 and j["title"] == "Invalid Request"


def test_pages_and_ratelimit(mx):
    tok = mx.add_token()["access_token"]
    for i in range(7):
        mx.add_mention("u%d" % i, "n%d" % i)
    me = mx.me["id"]
    _, _, j = call(mx, "GET", "/2/users/%s/mentions?max_results=5" % me, tok)
    nt = j["meta"]["next_token"]
    _, _, j2 = call(mx, "GET", "/2/users/%s/mentions?max_results=5&"
                    "pagination_token=%s" % (me, nt), tok)
    assert len(j2["data"]) == 2 and "next_token" not in j2["meta"]
    mx.set_ratelimit("mentions", 0)
    st, h, j = call(mx, "GET", "/2/users/%s/mentions" % me, tok)
    assert st == 429 and j["title"] == "Too Many Requests"
    assert h["x-rate-limit-remaining"] == "0" and "Retry-After" not in h


def test_tokens_refresh_rotation_and_401(mx):
    t = mx.add_token()
    st, _, j = call(mx, "GET", "/2/users/me", t["access_token"])
    assert j["data"]["username"] == "gw_bridge"
    mx.expire_token()
    st, _, j = call(mx, "GET", "/2/users/me", t["access_token"])
    assert st == 401 and j["title"] == "Unauthorized"
    form = {"grant_type": "refresh_token", "client_id": mx.client_id,
            "refresh_token": t["refresh_token"]}
    st, _, j = call(mx, "POST", "/2/oauth2/token", form=form)
    assert st == 200 and j["refresh_token"] != t["refresh_token"]
    assert j["expires_in"] == 7200
    st, _, j2 = call(mx, "POST", "/2/oauth2/token", form=form)
    assert st == 400 and j2["error"] == "invalid_grant"
    st, _, _ = call(mx, "GET", "/2/users/me", j["access_token"])
    assert st == 200


def test_pkce_authorize_and_code(mx):
    verifier = "v" * 43
    ch = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                  ).rstrip(b"=").decode()
    url = ("https://x.com/i/oauth2/authorize?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": mx.client_id,
        "redirect_uri": "http://127.0.0.1/cb", "state": "s1",
        "scope": "tweet.read tweet.write users.read dm.read dm.write "
        "like.write follows.write offline.access",
        "code_challenge": ch, "code_challenge_method": "S256"}))
    back = mx.authorize(url)
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)
    assert q["state"] == ["s1"]
    form = {"grant_type": "authorization_code", "code": q["code"][0],
            "redirect_uri": "http://127.0.0.1/cb", "code_verifier": "w" * 43,
            "client_id": mx.client_id}
    st, _, j = call(mx, "POST", "/2/oauth2/token", form=form)
    assert st == 400   # the wrong verifier spends the code
    back = mx.authorize(url)
    form["code"] = urllib.parse.parse_qs(
        urllib.parse.urlsplit(back).query)["code"][0]
    form["code_verifier"] = verifier
    st, _, j = call(mx, "POST", "/2/oauth2/token", form=form)
    assert st == 200 and j["access_token"]


def test_posting_duplicates_length_tier(mx):
    tok = mx.add_token()["access_token"]
    n = mx.add_mention("alice", "q")
    st, _, j = call(mx, "POST", "/2/tweets", tok, {
        "text": "a", "reply": {"in_reply_to_tweet_id": n["id"]}})
    assert st == 201 and j["data"]["text"] == "a"
    st, _, j = call(mx, "POST", "/2/tweets", tok, {"text": "a"})
    assert st == 403 and "duplicate content" in j["detail"]
    st, _, j = call(mx, "POST", "/2/tweets", tok, {"text": "\u65e5" * 141})
    assert st == 403 and "too long" in j["detail"]
    assert len(mx.posted) == 1
    mx.set_tier_block(r"/search/")
    st, _, j = call(mx, "GET", "/2/tweets/search/recent?query="
                    "conversation_id%3A1", tok)
    assert st == 403 and j["reason"] == "client-not-enrolled"
    assert j["type"].endswith("/client-forbidden")


def test_dms(mx):
    tok = mx.add_token()["access_token"]
    d = mx.add_dm("alice", "hi")
    st, _, j = call(mx, "GET", "/2/dm_events?max_results=10", tok)
    assert j["data"][0]["dm_conversation_id"] == d["dm_conversation_id"]
    assert j["includes"]["users"][0]["username"] == "alice"
    st, _, j = call(mx, "POST", "/2/dm_conversations/%s/messages"
                    % d["dm_conversation_id"], tok, {"text": "yo"})
    assert st == 201 and j["data"]["dm_conversation_id"] == \
        d["dm_conversation_id"]
    st, _, j = call(mx, "POST", "/2/dm_conversations/with/%s/messages"
                    % mx.by_name["alice"], tok, {"text": "yo2"})
    assert st == 201 and [x["text"] for x in mx.dms_sent] == ["yo", "yo2"]


def test_weighted_length():
    assert weighted_length("hello") == 5
    assert weighted_length("\u65e5\u672c") == 4
    assert weighted_length("see https://example.org.") == 28
    assert weighted_length("\U0001F468\u200d\U0001F469\u200d\U0001F467") == 2
    assert weighted_length("e\u0301") == 1
