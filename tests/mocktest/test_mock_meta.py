"""Self-test of tests/mock_meta.py (stdlib clients only): the shapes the
end-to-end tests rely on, as Meta's references describe them.

Run: /usr/bin/python3 -m pytest -q tests/mocktest
"""

import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS_DIR)

from mock_meta import MockMeta, sign, webhook_post  # noqa


@pytest.fixture
def m():
    mock = MockMeta().start()
    yield mock
    mock.stop()


def call(m, method, path, token=None, params=None, body=None, json_body=None):
    url = m.base_url + path
    if params:
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
    headers = {}
    data = None
    if token:
        headers["Authorization"] = "Bearer " + token
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif body is not None:
        data = urllib.parse.urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read()), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), dict(e.headers)


def test_errors_are_graph_shaped(m):
    st, body, _ = call(m, "GET", "/v25.0/%s" % m.page_id, token="nope")
    assert st == 400
    e = body["error"]
    assert e["code"] == 190 and e["type"] == "OAuthException"
    assert e["fbtrace_id"] and isinstance(e["message"], str)
    st, body, _ = call(m, "GET", "/v25.0/999999", token=m.page_token)
    assert st == 400 and body["error"]["code"] == 100
    assert body["error"]["error_subcode"] == 33


def test_usage_headers_and_throttling(m):
    m.set_usage(app=12, buc=88, regain=4)
    st, body, h = call(m, "GET", "/v25.0/%s" % m.page_id, token=m.page_token)
    assert st == 200 and body == {"id": m.page_id, "name": "Parley Shop"}
    app = json.loads(h["X-App-Usage"])
    assert app["call_count"] == 12
    buc = json.loads(h["X-Business-Use-Case-Usage"])
    ent = buc[m.page_id][0]
    assert ent["type"] == "pages" and ent["call_count"] == 88
    assert ent["estimated_time_to_regain_access"] == 4
    m.throttle(code=80001, times=1, path="/feed")
    st, body, h = call(m, "GET", "/v25.0/%s/feed" % m.page_id,
                        token=m.page_token)
    assert st == 400 and body["error"]["code"] == 80001
    assert "X-Business-Use-Case-Usage" in h
    st, body, _ = call(m, "GET", "/v25.0/%s/feed" % m.page_id,
                       token=m.page_token)
    assert st == 200 and body["data"]


def test_page_comments_since_and_replies(m):
    old = m.add_fb_comment("Old", "older", ago=3600)
    new = m.add_fb_comment("New", "newer")
    reply = m.add_fb_comment("Rep", "a reply", parent=new["id"])
    post = m.first_post
    st, body, _ = call(m, "GET", "/v25.0/%s/comments" % post,
                       token=m.page_token,
                       params={"filter": "stream",
                               "since": int(time.time()) - 60})
    ids = [c["id"] for c in body["data"]]
    assert old["id"] not in ids and new["id"] in ids and reply["id"] in ids
    got = [c for c in body["data"] if c["id"] == reply["id"]][0]
    assert got["parent"]["id"] == new["id"]
    assert got["created_time"].endswith("+0000")
    assert not any(k.startswith("_") for k in got)
    st, body, _ = call(m, "GET", "/v25.0/%s/comments" % post,
                       token=m.page_token)
    assert reply["id"] not in [c["id"] for c in body["data"]]
    # a reply to a reply joins the top-level comment, as Graph does
    st, body, _ = call(m, "POST", "/v25.0/%s/comments" % reply["id"],
                       token=m.page_token, body={"message": "hello"})
    assert st == 200 and set(body) == {"id"}
    assert m.comments[body["id"]]["parent"]["id"] == new["id"]


def test_instagram_comments_mentions_and_tokens(m):
    c = m.add_ig_comment("carla", "nice")
    r = m.add_ig_comment("dan", "agreed", parent=c["id"])
    st, body, _ = call(m, "GET", "/v25.0/%s/comments" % m.first_media,
                       token=m.page_token)
    top = body["data"][0]
    assert top["id"] == c["id"] and top["replies"]["data"][0]["id"] == r["id"]
    st, body, _ = call(m, "POST", "/v25.0/%s/replies" % c["id"],
                       token=m.page_token, body={"message": "x" * 301})
    assert st == 400
    ids = m.add_ig_mention("olga", "@parleyshop hi")
    st, body, _ = call(
        m, "GET", "/v25.0/%s" % m.ig_id, token=m.page_token,
        params={"fields": "mentioned_comment.comment_id(%s){id,text,"
                "timestamp,username,media{id,permalink}}" % ids["comment_id"]})
    mc = body["mentioned_comment"]
    assert mc["text"] == "@parleyshop hi" and mc["username"] == "olga"
    assert mc["media"]["id"] == ids["media_id"]
    st, body, _ = call(m, "POST", "/v25.0/%s/mentions" % m.ig_id,
                       token=m.page_token,
                       body={"media_id": ids["media_id"],
                             "comment_id": ids["comment_id"],
                             "message": "thanks"})
    assert st == 200 and "id" in body
    # Instagram Login: code -> short token -> 60-day token -> refresh
    code = m.issue_code("instagram")
    req = urllib.request.Request(
        m.base_url + "/oauth/access_token", method="POST",
        data=urllib.parse.urlencode({
            "client_id": m.app_id, "client_secret": m.app_secret,
            "grant_type": "authorization_code",
            "redirect_uri": "https://x/", "code": code}).encode())
    with urllib.request.urlopen(req) as resp:
        short = json.loads(resp.read())["data"][0]["access_token"]
    st, body, _ = call(m, "GET", "/access_token", params={
        "grant_type": "ig_exchange_token", "client_secret": m.app_secret,
        "access_token": short})
    assert st == 200 and body["expires_in"] == 5184000
    st, body, _ = call(m, "GET", "/refresh_access_token", params={
        "grant_type": "ig_refresh_token", "access_token": body["access_token"]})
    assert st == 200 and m.refreshed == 1


def test_facebook_login_and_send_api(m):
    code = m.issue_code("facebook")
    base = {"client_id": m.app_id, "client_secret": m.app_secret}
    st, body, _ = call(m, "GET", "/v25.0/oauth/access_token",
                       params=dict(base, code=code, redirect_uri="https://x"))
    assert st == 200
    st, body, _ = call(m, "GET", "/v25.0/oauth/access_token", params=dict(
        base, grant_type="fb_exchange_token",
        fb_exchange_token=body["access_token"]))
    assert st == 200 and body["expires_in"] > 5000000
    st, body, _ = call(m, "GET", "/v25.0/me/accounts",
                       params={"access_token": body["access_token"]})
    page = body["data"][0]
    assert page["id"] == m.page_id
    assert page["instagram_business_account"]["id"] == m.ig_id
    token = page["access_token"]
    d = m.add_dm("Alice", "hi")
    msg = {"recipient": {"id": d["sender"]}, "message": {"text": "hello"}}
    st, body, _ = call(m, "POST", "/v25.0/%s/messages" % m.page_id,
                       token=token, json_body=msg)
    assert st == 400 and "messaging_type" in body["error"]["message"]
    msg["messaging_type"] = "RESPONSE"
    st, body, _ = call(m, "POST", "/v25.0/%s/messages" % m.page_id,
                       token=token, json_body=msg)
    assert st == 200 and body["recipient_id"] == d["sender"]
    assert body["message_id"].startswith("m_")
    old = m.add_dm("Bob", "long ago", ago=25 * 3600)
    msg["recipient"]["id"] = old["sender"]
    st, body, _ = call(m, "POST", "/v25.0/%s/messages" % m.page_id,
                       token=token, json_body=msg)
    assert (body["error"]["code"], body["error"]["error_subcode"]) == \
        (10, 2018278)
    st, body, _ = call(m, "GET", "/v25.0/%s/conversations" % m.page_id,
                       token=token, params={"platform": "messenger"})
    msgs = body["data"][0]["messages"]["data"]
    assert msgs[0]["message"] == "hello"   # newest first
    assert all(x["created_time"].endswith("+0000") and "from" in x
               and x["id"].startswith("m_") and "_t" not in x for x in msgs)


class _Sink(http.server.BaseHTTPRequestHandler):
    got = []

    def do_POST(self):
        n = int(self.headers["Content-Length"])
        _Sink.got.append((self.headers.get("X-Hub-Signature-256"),
                          self.rfile.read(n)))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"EVENT_RECEIVED")

    def log_message(self, *a):
        pass


def test_webhook_client_signs_like_meta():
    srv = http.server.HTTPServer(("127.0.0.1", 0), _Sink)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    url = "http://127.0.0.1:%d/hook" % srv.server_address[1]
    try:
        st, text = webhook_post(url, {"object": "page", "entry": []}, "s3")
        assert (st, text) == (200, "EVENT_RECEIVED")
        sig, body = _Sink.got[-1]
        want = hmac.new(b"s3", body, hashlib.sha256).hexdigest()
        assert sig == "sha256=" + want == sign(body, "s3")
        webhook_post(url, b"raw", signature="sha256=00")
        assert _Sink.got[-1] == ("sha256=00", b"raw")
        webhook_post(url, b"raw")
        assert _Sink.got[-1][0] is None
    finally:
        srv.shutdown()
        srv.server_close()
