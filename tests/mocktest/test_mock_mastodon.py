"""Self-test of tests/mock_mastodon.py (stdlib clients only).

Run: /usr/bin/python3 -m pytest -q tests/mocktest
"""

import base64
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS_DIR)

from mock_mastodon import MockMastodon, count_length, render_text  # noqa

INT64_MAX = 9223372036854775807
OOB = "urn:ietf:wg:oauth:2.0:oob"
ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

class Resp(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def header(self, name):
        return self.headers.get(name)


def call(m, method, path, data=None, token="test-token", headers=None,
         form=None, ctx=None):
    hdrs = dict(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form, doseq=True).encode()
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    elif isinstance(data, (dict, list)):
        data = json.dumps(data).encode()
        hdrs.setdefault("Content-Type", "application/json")
    if token:
        hdrs["Authorization"] = "Bearer " + token
    url = path if path.startswith("http") else m.base_url + path
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    if ctx is None and m.tls:
        ctx = ssl.create_default_context(cafile=m.ca_file)
    try:
        with urllib.request.urlopen(req, timeout=10, context=ctx) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


def links(resp):
    out = {}
    for part in (resp.header("Link") or "").split(", "):
        mo = re.match(r'^<([^>]+)>; rel="(\w+)"$', part)
        if mo:
            out[mo.group(2)] = mo.group(1)
    return out


class SSE(object):
    """Minimal raw-socket SSE client that also checks HTTP framing."""

    def __init__(self, m, path="/api/v1/streaming/user", token="test-token"):
        self.sock = socket.create_connection(("127.0.0.1", m.port),
                                             timeout=5)
        if m.tls:
            ctx = ssl.create_default_context(cafile=m.ca_file)
            self.sock = ctx.wrap_socket(self.sock,
                                        server_hostname="127.0.0.1")
        auth = "Authorization: Bearer %s\r\n" % token if token else ""
        self.sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s"
                           "Accept: text/event-stream\r\n\r\n"
                           % (path, auth)).encode())
        raw = b""
        while b"\r\n\r\n" not in raw:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("no response headers")
            raw += d
        head, self.raw = raw.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {}
        for ln in lines[1:]:
            k, v = ln.split(":", 1)
            self.headers[k.strip().lower()] = v.strip()
        self.chunked = "chunked" in self.headers.get("transfer-encoding", "")
        self.buf = b""
        self.eof = False
        self.terminated = False      # saw the final 0-length chunk
        self.pending = {}

    def _dechunk(self):
        if not self.chunked:
            self.buf += self.raw
            self.raw = b""
            return
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i], 16)
            if size == 0:
                self.terminated = True
                self.raw = b""
                return
            if len(self.raw) < i + 2 + size + 2:
                return
            assert self.raw[i + 2 + size:i + 4 + size] == b"\r\n"
            self.buf += self.raw[i + 2:i + 2 + size]
            self.raw = self.raw[i + 4 + size:]

    def _fill(self, deadline):
        self.sock.settimeout(max(0.01, deadline - time.time()))
        try:
            d = self.sock.recv(1 << 20)
        except socket.timeout:
            return False
        except (ConnectionResetError, ssl.SSLError):
            d = b""
        if not d:
            self.eof = True
            return False
        self.raw += d
        self._dechunk()
        return True

    def next(self, timeout=5, skip_comments=True):
        """('comment', text) | ('event', name, data) | None (EOF/timeout)"""
        deadline = time.time() + timeout
        self._dechunk()
        while True:
            while b"\n" in self.buf:
                line, self.buf = self.buf.split(b"\n", 1)
                line = line.decode("utf-8")
                if line.startswith(":"):
                    if not skip_comments:
                        return ("comment", line[1:])
                    continue
                if line == "":
                    if self.pending:
                        ev = self.pending
                        self.pending = {}
                        return ("event", ev.get("event", "message"),
                                "\n".join(ev.get("data", [])))
                    continue
                k, _, v = line.partition(":")
                v = v[1:] if v.startswith(" ") else v
                if k == "data":
                    self.pending.setdefault("data", []).append(v)
                else:
                    self.pending[k] = v
            if self.eof or self.terminated or time.time() >= deadline:
                return None
            self._fill(deadline)

    def events(self, n, timeout=5):
        out = []
        deadline = time.time() + timeout
        while len(out) < n:
            item = self.next(max(0.01, deadline - time.time()))
            if item is None:
                break
            out.append(item)
        return out

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


@pytest.fixture(params=[False, True], ids=["thread", "loop"])
def m(request):
    # every test twice: streams served by a thread each, and by one loop
    mock = MockMastodon()
    mock.stream_loop = request.param
    mock.start()
    yield mock
    mock.stop()


# --------------------------------------------------------------------------
# auth, apps, OAuth
# --------------------------------------------------------------------------

def test_auth_required_and_revoke(m):
    r = call(m, "GET", "/api/v1/notifications", token=None)
    assert r.status == 401
    assert r.json == {"error": "The access token is invalid"}
    assert 'error="invalid_token"' in r.header("WWW-Authenticate")
    assert call(m, "GET", "/api/v1/notifications", token="nope").status == 401
    assert call(m, "GET", "/api/v1/notifications").status == 200
    # public endpoints
    for p in ("/api/v1/instance", "/api/v2/instance"):
        assert call(m, "GET", p, token=None).status == 200
    assert call(m, "POST", "/api/v1/apps", token=None,
                form={"client_name": "x",
                      "redirect_uris": OOB}).status == 200
    # access_token query parameter is accepted like on a real server
    assert call(m, "GET", "/api/v1/accounts/verify_credentials"
                "?access_token=test-token", token=None).status == 200
    m.revoke()
    r = call(m, "GET", "/api/v1/accounts/verify_credentials")
    assert r.status == 401
    assert r.json["error"] == "The access token is invalid"


def test_verify_credentials_shape(m):
    r = call(m, "GET", "/api/v1/accounts/verify_credentials")
    a = r.json
    assert a["acct"] == "me" and a["username"] == "me"
    assert a["url"] == "https://mastodon.test/@me"
    for k in ("id", "display_name", "bot", "note", "avatar", "source"):
        assert k in a
    assert isinstance(a["id"], str) and int(a["id"]) > INT64_MAX


def test_oauth_flow(m):
    r = call(m, "POST", "/api/v1/apps", token=None,
             data={"client_name": "Parley", "redirect_uris": OOB,
                   "scopes": "read write", "website": "https://x.example"})
    assert r.status == 200
    app = r.json
    for k in ("id", "name", "client_id", "client_secret", "redirect_uri",
              "redirect_uris", "scopes"):
        assert k in app
    assert app["redirect_uris"] == [OOB]
    assert app["scopes"] == ["read", "write"]
    assert app["client_secret_expires_at"] == 0

    # the authorize page shows the code
    q = urllib.parse.urlencode({"response_type": "code",
                                "client_id": app["client_id"],
                                "redirect_uri": OOB, "scope": "read write"})
    r = call(m, "GET", "/oauth/authorize?" + q, token=None)
    assert r.status == 200
    assert r.header("Content-Type").startswith("text/html")
    code = re.search(r'class="oauth-code" readonly type="text" '
                     r'value="([^"]+)"', r.body.decode()).group(1)
    assert code == m.last_code

    tok_form = {"grant_type": "authorization_code", "code": code,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"], "redirect_uri": OOB}
    bad = dict(tok_form, client_secret="wrong")
    r = call(m, "POST", "/oauth/token", token=None, form=bad)
    assert r.status == 401 and r.json["error"] == "invalid_client"
    r = call(m, "POST", "/oauth/token", token=None,
             form=dict(tok_form, code="bogus"))
    assert r.status == 400 and r.json["error"] == "invalid_grant"
    assert r.json["error_description"]
    r = call(m, "POST", "/oauth/token", token=None, form=tok_form)
    assert r.status == 200
    t = r.json
    assert t["token_type"] == "Bearer" and t["scope"] == "read write"
    assert isinstance(t["created_at"], int)
    # single use
    r = call(m, "POST", "/oauth/token", token=None, form=tok_form)
    assert r.status == 400 and r.json["error"] == "invalid_grant"
    # the new token works; a code pasted by the "user" (issue_code) too,
    # here sent as JSON
    assert call(m, "GET", "/api/v1/accounts/verify_credentials",
                token=t["access_token"]).status == 200
    code2 = m.issue_code()
    r = call(m, "POST", "/oauth/token", token=None,
             data=dict(tok_form, code=code2))
    assert r.status == 200
    assert r.json["access_token"] != t["access_token"]
    # wrong redirect_uri is refused
    r = call(m, "POST", "/oauth/token", token=None,
             form=dict(tok_form, code=m.issue_code(),
                       redirect_uri="https://evil.example/cb"))
    assert r.status == 400 and r.json["error"] == "invalid_grant"


def test_oauth_scopes_pkce_and_redirect(m):
    app = call(m, "POST", "/api/v1/apps", token=None,
               form={"client_name": "ro",
                     "redirect_uris[]": ["https://cb.example/x", OOB],
                     "scopes": "read"}).json
    verifier = "v" * 50
    chal = base64.urlsafe_b64encode(hashlib.sha256(
        verifier.encode()).digest()).rstrip(b"=").decode()
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": app["client_id"],
        "redirect_uri": "https://cb.example/x", "state": "s1",
        "code_challenge": chal, "code_challenge_method": "S256"})
    conn = http.client.HTTPConnection("127.0.0.1", m.port, timeout=5)
    conn.request("GET", "/oauth/authorize?" + q)
    r = conn.getresponse()
    r.read()
    assert r.status == 302
    loc = urllib.parse.urlsplit(r.getheader("Location"))
    lq = urllib.parse.parse_qs(loc.query)
    assert loc.netloc == "cb.example" and lq["state"] == ["s1"]
    form = {"grant_type": "authorization_code", "code": lq["code"][0],
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "redirect_uri": "https://cb.example/x"}
    r = call(m, "POST", "/oauth/token", token=None,
             form=dict(form, code_verifier="wrong"))
    assert r.status == 400
    # the failed attempt did not consume the code
    r = call(m, "POST", "/oauth/token", token=None,
             form=dict(form, code_verifier=verifier))
    assert r.status == 200
    ro = r.json["access_token"]
    assert call(m, "GET", "/api/v1/notifications", token=ro).status == 200
    r = call(m, "POST", "/api/v1/statuses", token=ro, form={"status": "x"})
    assert r.status == 403
    assert r.json["error"] == "This action is outside the authorized scopes"
    # revoking via the API
    r = call(m, "POST", "/oauth/revoke", token=None,
             form={"client_id": app["client_id"],
                   "client_secret": app["client_secret"], "token": ro})
    assert r.status == 200
    assert call(m, "GET", "/api/v1/notifications", token=ro).status == 401
    # app validation
    r = call(m, "POST", "/api/v1/apps", token=None, form={"client_name": "x"})
    assert r.status == 422


def test_instance_configuration():
    m = MockMastodon(max_characters=1234).start()
    try:
        v2 = call(m, "GET", "/api/v2/instance", token=None).json
        st = v2["configuration"]["statuses"]
        assert st["max_characters"] == 1234
        assert st["characters_reserved_per_url"] == 23
        assert v2["configuration"]["urls"]["streaming"] == \
            "ws://127.0.0.1:%d" % m.port
        v1 = call(m, "GET", "/api/v1/instance", token=None).json
        assert v1["configuration"]["statuses"]["max_characters"] == 1234
    finally:
        m.stop()


# --------------------------------------------------------------------------
# notifications, pagination, ids
# --------------------------------------------------------------------------

def test_ids_are_big_strings(m):
    n = m.add_mention("alice@example.social", "hi")
    r = call(m, "GET", "/api/v1/notifications")
    text = r.body.decode()
    # every "id" in the raw JSON is a quoted string of >= 19 digits
    ids = re.findall(r'"id":("?)(\d+)', text)
    assert ids
    for quote, digits in ids:
        assert quote == '"' and len(digits) >= 19
        assert int(digits) > INT64_MAX
    sid = n["status"]["id"]
    assert int(sid) > INT64_MAX
    r = call(m, "GET", "/api/v1/statuses/" + sid)
    assert r.status == 200 and r.json["id"] == sid
    r = call(m, "GET", "/api/v1/notifications/" + n["id"])
    assert r.status == 200 and r.json["status"]["id"] == sid
    assert call(m, "GET", "/api/v1/notifications/1").status == 404


def test_entity_shapes(m):
    n = m.add_mention(
        "alice@example.social", "look", display_name="Alice A.",
        media=[{"url": "https://files.example/a.png", "description": "alt"},
               "https://files.example/b.mp4"],
        emojis=["blobcat"], poll=["yes", "no"], bot=True)
    st = call(m, "GET", "/api/v1/statuses/" + n["status"]["id"]).json
    assert st["account"]["display_name"] == "Alice A."
    assert st["account"]["bot"] is True
    assert st["account"]["url"] == "https://example.social/@alice"
    ma = st["media_attachments"]
    assert [(x["type"], x["url"], x["description"]) for x in ma] == [
        ("image", "https://files.example/a.png", "alt"),
        ("video", "https://files.example/b.mp4", None)]
    assert all(isinstance(x["id"], str) and x["preview_url"] for x in ma)
    assert st["emojis"][0]["shortcode"] == "blobcat"
    assert st["emojis"][0]["url"].startswith("https://")
    assert [o["title"] for o in st["poll"]["options"]] == ["yes", "no"]
    assert st["poll"]["options"][0]["votes_count"] == 0
    raw = m.add_mention("bob@other.example", html="<p>raw <b>html</b></p>")
    assert raw["status"]["content"] == "<p>raw <b>html</b></p>"
    assert raw["status"]["mentions"][0]["acct"] == "me"
    f = m.add_follow("carol@x.example")
    assert f["type"] == "follow" and "status" not in f
    r = call(m, "GET", "/.well-known/webfinger?resource=acct:me@mastodon.test",
             token=None)
    assert r.header("Content-Type") == "application/jrd+json; charset=utf-8"
    assert r.json["subject"] == "acct:me@mastodon.test"


def test_pagination_and_link_header(m):
    ns = [m.add_mention("u%d@example.social" % i, "n%d" % i)
          for i in range(7)]
    fav = m.add_favourite(ns[0]["status"]["id"], "fan@example.social")
    ids = [n["id"] for n in ns]
    r = call(m, "GET", "/api/v1/notifications")
    got = [n["id"] for n in r.json]
    assert got == [fav["id"]] + ids[::-1]
    r = call(m, "GET", "/api/v1/notifications?limit=3&types[]=mention")
    assert [n["id"] for n in r.json] == ids[::-1][:3]
    assert r.header("Link") == (
        '<{b}/api/v1/notifications?limit=3&max_id={mx}&types%5B%5D=mention>;'
        ' rel="next", <{b}/api/v1/notifications?limit=3&min_id={mn}'
        '&types%5B%5D=mention>; rel="prev"').format(
            b=m.base_url, mx=ids[4], mn=ids[6])
    # follow rel=next twice: older pages
    nxt = call(m, "GET", links(r)["next"])
    assert [n["id"] for n in nxt.json] == [ids[3], ids[2], ids[1]]
    last = call(m, "GET", links(nxt)["next"])
    assert [n["id"] for n in last.json] == [ids[0]]
    empty = call(m, "GET", links(last)["next"])
    assert empty.json == [] and empty.header("Link") is None
    # min_id: the page immediately newer than the cursor, newest first
    r = call(m, "GET", "/api/v1/notifications?types[]=mention&limit=2"
             "&min_id=" + ids[1])
    assert [n["id"] for n in r.json] == [ids[3], ids[2]]
    # since_id: the newest page above the cursor
    r = call(m, "GET", "/api/v1/notifications?types[]=mention&limit=2"
             "&since_id=" + ids[1])
    assert [n["id"] for n in r.json] == [ids[6], ids[5]]
    # max_id + min_id together
    r = call(m, "GET", "/api/v1/notifications?types[]=mention&min_id=%s"
             "&max_id=%s" % (ids[1], ids[4]))
    assert [n["id"] for n in r.json] == [ids[3], ids[2]]
    # prev link from the oldest page goes forward again
    r = call(m, "GET", links(last)["prev"])
    assert [n["id"] for n in r.json] == [ids[3], ids[2], ids[1]]
    # exclude_types, scalar types ignored (Rails strong params)
    r = call(m, "GET", "/api/v1/notifications?exclude_types[]=mention")
    assert [n["id"] for n in r.json] == [fav["id"]]
    r = call(m, "GET", "/api/v1/notifications?types=mention")
    assert len(r.json) == 8
    # limit rules
    assert call(m, "GET", "/api/v1/notifications?limit=0").json == []
    assert len(call(m, "GET", "/api/v1/notifications?limit=-2").json) == 2
    # shape
    n = call(m, "GET", "/api/v1/notifications?limit=1&types[]=mention").json[0]
    assert set(("id", "type", "created_at", "account", "status")) <= set(n)
    assert ISO_MS.match(n["created_at"])
    st = n["status"]
    for k in ("id", "created_at", "in_reply_to_id", "in_reply_to_account_id",
              "sensitive", "spoiler_text", "visibility", "language", "uri",
              "url", "content", "account", "mentions", "media_attachments",
              "tags", "emojis", "poll", "favourited", "reblogged",
              "edited_at", "reblog"):
        assert k in st, k
    assert st["mentions"][0] == {"id": m.me["id"], "username": "me",
                                 "url": "https://mastodon.test/@me",
                                 "acct": "me"}


def test_pagination_limit_cap_and_digit_boundary():
    # ids cross from 19 to 20 digits: a string comparison would break here
    m = MockMastodon(id_start=9999999999999999990).start()
    try:
        ns = m.add_mentions(100, stream=False)
        lens = {len(n["id"]) for n in ns}
        assert lens == {19, 20}
        ids = [n["id"] for n in ns]
        assert sorted(ids) != ids     # string order differs from id order
        assert len(m.me["id"]) == 19
        r = call(m, "GET", "/api/v1/notifications?limit=500")
        assert len(r.json) == 80
        assert [n["id"] for n in r.json] == [n["id"] for n in ns[::-1][:80]]
        r = call(m, "GET", "/api/v1/notifications?min_id=%s&limit=3"
                 % m.me["id"])
        assert [n["id"] for n in r.json] == [ns[2]["id"], ns[1]["id"],
                                            ns[0]["id"]]
        assert call(m, "GET", "/api/v1/notifications").json.__len__() == 40
    finally:
        m.stop()


def test_conversations_and_context(m):
    root = m.add_mention("alice@example.social", "root")
    # my reply, then a DM thread
    r = call(m, "POST", "/api/v1/statuses",
             form={"status": "@alice@example.social reply",
                   "in_reply_to_id": root["status"]["id"]})
    mine = r.json
    reply2 = m.add_mention("alice@example.social", "again",
                           in_reply_to_id=mine["id"])
    ctx = call(m, "GET", "/api/v1/statuses/%s/context" % mine["id"]).json
    assert [s["id"] for s in ctx["ancestors"]] == [root["status"]["id"]]
    assert [s["id"] for s in ctx["descendants"]] == [reply2["status"]["id"]]
    assert mine["in_reply_to_account_id"] == root["account"]["id"]

    dm = m.add_dm("bob@other.example", "secret")
    assert dm["type"] == "mention"
    assert dm["status"]["visibility"] == "direct"
    convs = call(m, "GET", "/api/v1/conversations").json
    assert len(convs) == 1
    c = convs[0]
    assert c["unread"] is True
    assert [a["acct"] for a in c["accounts"]] == ["bob@other.example"]
    assert c["last_status"]["id"] == dm["status"]["id"]
    r = call(m, "POST", "/api/v1/statuses",
             form={"status": "@bob@other.example psst",
                   "visibility": "direct",
                   "in_reply_to_id": dm["status"]["id"]})
    convs2 = call(m, "GET", "/api/v1/conversations")
    assert [x["id"] for x in convs2.json] == [c["id"]]
    assert convs2.json[0]["last_status"]["id"] == r.json["id"]
    assert 'rel="next"' in convs2.header("Link")


# --------------------------------------------------------------------------
# posting
# --------------------------------------------------------------------------

def test_post_idempotency_and_recording(m):
    h = {"Idempotency-Key": "abc-123", "X-Custom": "Yes"}
    r1 = call(m, "POST", "/api/v1/statuses", headers=h,
              form={"status": "hello world", "visibility": "unlisted",
                    "spoiler_text": "cw", "language": "de"})
    assert r1.status == 200
    r2 = call(m, "POST", "/api/v1/statuses", headers=h,
              form={"status": "something else"})
    assert r2.status == 200
    assert r1.json["id"] == r2.json["id"]
    assert len(m.posted) == 1
    assert m.idempotent_replays == 1
    p = m.posted[0]
    assert p["idempotency_key"] == "abc-123"
    assert p["headers"]["x-custom"] == "Yes"
    assert p["params"]["status"] == "hello world"
    st = r1.json
    assert st["visibility"] == "unlisted" and st["spoiler_text"] == "cw"
    assert st["sensitive"] is True and st["language"] == "de"
    assert st["content"] == "<p>hello world</p>"
    assert st["account"]["acct"] == "me"
    r3 = call(m, "POST", "/api/v1/statuses",
              headers={"Idempotency-Key": "other"},
              form={"status": "hello world"})
    assert r3.json["id"] != r1.json["id"]
    assert len(m.posted) == 2
    assert set(m.statuses) >= {r1.json["id"], r3.json["id"]}


def test_post_validation(m):
    r = call(m, "POST", "/api/v1/statuses", form={"status": ""})
    assert r.status == 422
    assert r.json == {"error": "Validation failed: Text can't be blank"}
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": " \n\t"}).status == 422
    r = call(m, "POST", "/api/v1/statuses", form={"status": "x" * 501})
    assert r.status == 422 and "character limit of 500" in r.json["error"]
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "x" * 500}).status == 200
    # code points, not bytes
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "\u00e9" * 500}).status == 200
    # spoiler text counts too
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "x" * 499,
                      "spoiler_text": "ab"}).status == 422
    # a long URL counts as 23
    url = "https://example.com/" + "a" * 600
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "x" * 476 + " " + url}).status == 200
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "x" * 477 + " " + url}).status == 422
    # remote mention counts as @user
    assert count_length("@bob@very.long.domain.example hi") == len("@bob hi")
    r = call(m, "POST", "/api/v1/statuses",
             form={"status": "hi", "in_reply_to_id": "12345678901234567890"})
    assert r.status == 404
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "hi", "visibility": "bogus"}).status == 422
    # nothing invalid got recorded
    assert len(m.posted) == 3


def test_post_body_encodings_and_html(m):
    m.add_account("alice@example.social")
    r = call(m, "POST", "/api/v1/statuses",
             data={"status": "@alice@example.social 1 < 2 & \"q\" 'x'\n"
                   "line2\n\nhttps://example.org/x #Tag",
                   "media_ids": ["111", "222"], "sensitive": True})
    assert r.status == 200
    st = r.json
    assert st["content"] == (
        '<p><span class="h-card" translate="no"><a href="https://example.'
        'social/@alice" class="u-url mention">@<span>alice</span></a></span>'
        ' 1 &lt; 2 &amp; &quot;q&quot; &#39;x&#39;<br />line2</p><p>'
        '<a href="https://example.org/x" target="_blank" rel="nofollow '
        'noopener" translate="no"><span class="invisible">https://</span>'
        '<span class="">example.org/x</span><span class="invisible"></span>'
        '</a> <a href="https://mastodon.test/tags/tag" class="mention '
        'hashtag" rel="tag">#<span>Tag</span></a></p>')
    assert [x["acct"] for x in st["mentions"]] == ["alice@example.social"]
    assert len(st["media_attachments"]) == 2
    assert st["tags"][0]["name"] == "tag"
    assert m.posted[-1]["params"]["media_ids"] == ["111", "222"]
    # form arrays
    r = call(m, "POST", "/api/v1/statuses",
             data=b"status=x&media_ids%5B%5D=5&media_ids%5B%5D=6",
             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert m.posted[-1]["params"]["media_ids"] == ["5", "6"]
    # multipart/form-data
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"status\"\r\n\r\n"
            b"multi \xc3\xa9\r\n--XyZ\r\nContent-Disposition: form-data; "
            b"name=\"visibility\"\r\n\r\nprivate\r\n--XyZ--\r\n")
    r = call(m, "POST", "/api/v1/statuses", data=body, headers={
        "Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status == 200
    assert r.json["content"] == "<p>multi \u00e9</p>"
    assert r.json["visibility"] == "private"
    # unknown bare @user stays text, unknown remote gets resolved
    html, mentions, _ = render_text("@nobody hi @new@far.example",
                                    m._resolver())
    assert html.startswith("<p>@nobody hi <span class=\"h-card\"")
    assert [x["acct"] for x in mentions] == ["new@far.example"]
    # long link gets the ellipsis span
    html, _, _ = render_text("https://example.com/" + "b" * 40)
    assert '<span class="ellipsis">example.com/' + "b" * 18 in html


def test_actions(m):
    n = m.add_mention("alice@example.social", "fav me")
    sid = n["status"]["id"]
    r = call(m, "POST", "/api/v1/statuses/%s/favourite" % sid)
    assert r.json["favourited"] is True and r.json["favourites_count"] == 1
    assert sid in m.favourited
    r = call(m, "POST", "/api/v1/statuses/%s/unfavourite" % sid)
    assert r.json["favourited"] is False and sid not in m.favourited
    r = call(m, "POST", "/api/v1/statuses/%s/reblog" % sid)
    assert r.status == 200
    assert r.json["reblog"]["id"] == sid and r.json["reblogged"] is True
    assert r.json["reblog"]["reblogged"] is True and sid in m.reblogged
    r = call(m, "POST", "/api/v1/statuses/%s/unreblog" % sid)
    assert r.json["id"] == sid and r.json["reblogged"] is False
    dm = m.add_dm("alice@example.social", "private")
    assert call(m, "POST", "/api/v1/statuses/%s/reblog"
                % dm["status"]["id"]).status == 403
    assert call(m, "POST",
                "/api/v1/statuses/12345678901234567890/favourite"
                ).status == 404
    # accounts
    r = call(m, "GET", "/api/v1/accounts/lookup?acct=alice@example.social")
    aid = r.json["id"]
    assert r.json["acct"] == "alice@example.social"
    assert call(m, "GET", "/api/v1/accounts/lookup?acct=zed@nowhere.example"
                ).status == 404
    r = call(m, "POST", "/api/v1/accounts/%s/follow" % aid)
    assert r.json["following"] is True and aid in m.followed
    r = call(m, "POST", "/api/v1/accounts/%s/unfollow" % aid)
    assert r.json["following"] is False and aid not in m.followed
    # delete: only mine, returns source text, then 404
    mine = call(m, "POST", "/api/v1/statuses", form={"status": "bye"}).json
    assert call(m, "DELETE", "/api/v1/statuses/" + sid).status == 404
    r = call(m, "DELETE", "/api/v1/statuses/" + mine["id"])
    assert r.status == 200 and r.json["text"] == "bye"
    assert call(m, "GET", "/api/v1/statuses/" + mine["id"]).status == 404
    # deleting a mention removes its notification from REST
    m.delete_status(sid)
    ids = [x["id"] for x in call(m, "GET", "/api/v1/notifications").json]
    assert n["id"] not in ids
    # edit
    n2 = m.add_mention("alice@example.social", "old text")
    st = m.edit_status(n2["status"]["id"], "new text")
    assert st["edited_at"] and "new text" in st["content"]
    assert "@<span>me</span>" in st["content"]


# --------------------------------------------------------------------------
# streaming
# --------------------------------------------------------------------------

def test_sse_events(m):
    assert call(m, "GET", "/api/v1/streaming/health", token=None).body == b"OK"
    user = SSE(m)
    notif = SSE(m, "/api/v1/streaming/user/notification")
    direct = SSE(m, "/api/v1/streaming/direct")
    assert user.status == 200 and user.chunked
    assert user.headers["content-type"] == "text/event-stream"
    assert user.next(skip_comments=False) == ("comment", ")")
    assert m.wait_for(lambda: m.stream_count() == 3)
    assert m.stream_connects == 3

    n = m.add_mention("alice@example.social", "ping \u00e9 \U0001F600",
                      spoiler_text="cw")
    ev = user.next()
    assert ev[0] == "event" and ev[1] == "notification"
    assert "\n" not in ev[2]
    payload = json.loads(ev[2])
    assert payload["id"] == n["id"] and payload["type"] == "mention"
    assert payload["status"]["spoiler_text"] == "cw"
    assert "\U0001F600" in ev[2]          # raw UTF-8, like Oj
    assert notif.next()[1] == "notification"

    dm = m.add_dm("bob@other.example", "dm")
    assert json.loads(user.next()[2])["status"]["visibility"] == "direct"
    assert notif.next()[1] == "notification"
    ev = direct.next()
    assert ev[1] == "conversation"
    assert json.loads(ev[2])["last_status"]["id"] == dm["status"]["id"]

    m.edit_status(n["status"]["id"], "edited")
    ev = user.next()
    assert ev[1] == "status.update"
    assert json.loads(ev[2])["edited_at"]
    m.delete_status(n["status"]["id"])
    assert user.next() == ("event", "delete", n["status"]["id"])

    # my own post comes back as an update without viewer fields
    r = call(m, "POST", "/api/v1/statuses", form={"status": "mine"})
    ev = user.next()
    assert ev[1] == "update"
    up = json.loads(ev[2])
    assert up["id"] == r.json["id"] and "favourited" not in up
    # nothing leaked to the notification-only stream
    assert notif.next(timeout=0.3) is None
    for s in (user, notif, direct):
        s.close()
    assert m.wait_for(lambda: m.stream_count() == 0, timeout=3) is True


@pytest.mark.parametrize("loop", [False, True], ids=["thread", "loop"])
def test_sse_auth_disabled_heartbeat_and_close_framing(loop):
    m = MockMastodon(heartbeat_seconds=0.2, sse_framing="close")
    m.stream_loop = loop
    m.start()
    try:
        s = SSE(m, token=None)
        assert s.status == 401
        assert json.loads(s.raw or s.sock.recv(1000))["error"] == \
            "Missing access token"
        s.close()
        assert SSE(m, token="bad").status == 401
        s = SSE(m)
        assert not s.chunked
        items = [s.next(timeout=2, skip_comments=False) for _ in range(3)]
        assert items == [("comment", ")"), ("comment", "thump"),
                         ("comment", "thump")]
        m.set_streaming(False)
        assert s.next(timeout=2) is None and s.eof
        r = call(m, "GET", "/api/v1/streaming/user")
        assert r.status == 404 and r.json["error"] == "Streaming is disabled"
        assert call(m, "GET", "/api/v1/streaming/health").status == 404
    finally:
        m.stop()


def test_drop_streams_and_revoke(m):
    s = SSE(m)
    s.next(skip_comments=False)
    assert m.wait_for(lambda: m.stream_count() == 1)
    assert m.drop_streams() == 1
    assert s.next(timeout=3) is None
    assert s.eof and not s.terminated     # cut off, no final chunk
    assert m.stream_count() == 0
    # missed events are available via REST (backfill)
    n = m.add_mention(text="while away")
    s2 = SSE(m)
    r = call(m, "GET", "/api/v1/notifications?min_id=" + m.me["id"])
    assert n["id"] in [x["id"] for x in r.json]
    assert m.wait_for(lambda: m.stream_count() == 1)
    m.revoke()
    assert s2.next(timeout=3) is None and s2.terminated   # graceful end
    s.close()
    s2.close()


def test_bulk_mentions_stream_and_rest(m):
    s = SSE(m)
    s.next(skip_comments=False)
    assert m.wait_for(lambda: m.stream_count() == 1)
    t0 = time.time()
    ns = m.add_mentions(2000, text="bulk {i}")
    evs = s.events(2000, timeout=10)
    assert len(evs) == 2000
    assert [json.loads(e[2])["id"] for e in evs] == [n["id"] for n in ns]
    assert time.time() - t0 < 8
    # page through all of them with Link rel=next
    seen = []
    url = "/api/v1/notifications?limit=80"
    while url:
        r = call(m, "GET", url)
        seen.extend(x["id"] for x in r.json)
        url = links(r).get("next") if r.json else None
    assert seen == [n["id"] for n in ns[::-1]]
    s.close()


# --------------------------------------------------------------------------
# failures, rate limits, transport
# --------------------------------------------------------------------------

def test_fail_injection(m):
    h = m.fail(r"^/api/v1/statuses$", status=503, times=2, retry_after=7,
               method="POST")
    assert call(m, "GET", "/api/v1/notifications").status == 200
    for _ in range(2):
        r = call(m, "POST", "/api/v1/statuses", form={"status": "x"})
        assert r.status == 503 and r.header("Retry-After") == "7"
        assert b"nginx" in r.body
    assert h["hits"] == 2
    assert call(m, "POST", "/api/v1/statuses",
                form={"status": "x"}).status == 200
    assert len(m.posted) == 1
    m.fail("/notifications", status=429, seconds=0.3, retry_after=1)
    r = call(m, "GET", "/api/v1/notifications")
    assert r.status == 429 and r.json == {"error": "Too many requests"}
    assert r.header("X-RateLimit-Remaining") == "0"
    time.sleep(0.35)
    assert call(m, "GET", "/api/v1/notifications").status == 200
    m.fail("/verify_credentials", status=0, times=1)
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError,
                        urllib.error.URLError)):
        call(m, "GET", "/api/v1/accounts/verify_credentials")
    m.fail("/streaming/user", status=502, times=1, body={"error": "gw"})
    s = SSE(m)
    assert s.status == 502
    s.close()
    assert SSE(m).status == 200


def test_rate_limit_headers(m):
    r1 = call(m, "GET", "/api/v1/notifications")
    r2 = call(m, "GET", "/api/v1/notifications")
    assert r1.header("X-RateLimit-Limit") == "300"
    assert int(r2.header("X-RateLimit-Remaining")) == \
        int(r1.header("X-RateLimit-Remaining")) - 1
    assert ISO_US.match(r1.header("X-RateLimit-Reset"))
    assert r1.header("Content-Type") == "application/json; charset=utf-8"
    reset = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                          time.gmtime(time.time() + 3600))
    m.set_ratelimit(1, reset)
    r = call(m, "GET", "/api/v1/notifications")
    assert r.status == 200 and r.header("X-RateLimit-Remaining") == "0"
    assert r.header("X-RateLimit-Reset") == reset
    r = call(m, "GET", "/api/v1/notifications")
    assert r.status == 429 and r.json["error"] == "Too many requests"
    past = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                         time.gmtime(time.time() - 1))
    m.set_ratelimit(0, past)
    r = call(m, "GET", "/api/v1/notifications")
    assert r.status == 200 and r.header("X-RateLimit-Remaining") == "299"


def test_keepalive_and_chunked_request(m):
    conn = http.client.HTTPConnection("127.0.0.1", m.port, timeout=5)
    auth = {"Authorization": "Bearer test-token"}
    socks = set()
    for i in range(3):
        conn.request("GET", "/api/v1/accounts/verify_credentials",
                     headers=auth)
        r = conn.getresponse()
        assert r.status == 200
        json.loads(r.read())
        socks.add(id(conn.sock))
    assert len(socks) == 1
    # a chunked request body
    conn.request("POST", "/api/v1/statuses",
                 body=iter([b"status=chunked", b"+body"]), encode_chunked=True,
                 headers=dict(auth, **{
                     "Content-Type": "application/x-www-form-urlencoded",
                     "Transfer-Encoding": "chunked"}))
    r = conn.getresponse()
    assert r.status == 200
    assert json.loads(r.read())["content"] == "<p>chunked body</p>"
    conn.close()
    # garbage JSON is a 400, not a crash
    r = call(m, "POST", "/api/v1/statuses", data=b"{nope",
             headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert call(m, "GET", "/api/v1/nonexistent").status == 404


def test_control_over_http(m):
    r = call(m, "POST", "/_mock/add_mention", token=None,
             data={"acct": "zoe@example.social", "text": "over http"})
    assert r.status == 200 and r.json["type"] == "mention"
    posted = call(m, "GET", "/_mock/posted", token=None).json
    assert posted == []
    r = call(m, "POST", "/_mock/fail", token=None,
             data={"path_regex": "/instance", "status": 500, "times": 1})
    assert r.status == 200
    assert call(m, "GET", "/api/v2/instance").status == 500
    assert call(m, "GET", "/api/v2/instance").status == 200
    r = call(m, "POST", "/_mock/bogus", token=None, data={})
    assert r.status == 404
    r = call(m, "POST", "/_mock/add_mention", token=None, data={"x": 1})
    assert r.status == 400
    # control requests are not logged as API requests
    assert not any(q.path.startswith("/_mock") for q in m.requests)
    assert any(q.path == "/api/v2/instance" for q in m.requests)


def test_tls_mode():
    m = MockMastodon(tls=True).start()
    try:
        assert m.base_url.startswith("https://127.0.0.1:")
        assert os.path.exists(m.ca_file)
        r = call(m, "GET", "/api/v2/instance", token=None)
        assert r.status == 200
        assert r.json["configuration"]["urls"]["streaming"].startswith(
            "wss://")
        # without the CA the certificate is rejected
        with pytest.raises(urllib.error.URLError):
            call(m, "GET", "/api/v2/instance", token=None,
                 ctx=ssl.create_default_context())
        s = SSE(m)
        assert s.next(skip_comments=False) == ("comment", ")")
        n = m.add_mention(text="over tls")
        assert json.loads(s.next()[2])["id"] == n["id"]
        m.drop_streams()
        assert s.next(timeout=3) is None
        s.close()
        # a client that never finishes the handshake does not block others
        raw = socket.create_connection(("127.0.0.1", m.port))
        assert call(m, "GET", "/api/v1/instance", token=None).status == 200
        raw.close()
    finally:
        m.stop()


def test_cli():
    d = tempfile.mkdtemp(prefix="mockmasto-cli-")
    pf = os.path.join(d, "port")
    inf = os.path.join(d, "info.json")
    p = subprocess.Popen([sys.executable,
                          os.path.join(TESTS_DIR, "mock_mastodon.py"),
                          "--port-file", pf, "--info-file", inf,
                          "--no-streaming"])
    try:
        deadline = time.time() + 10
        while not os.path.exists(pf) and time.time() < deadline:
            time.sleep(0.05)
        port = int(open(pf).read())
        info = json.load(open(inf))
        assert info["port"] == port and info["token"] == "test-token"
        url = "http://127.0.0.1:%d" % port
        with urllib.request.urlopen(url + "/api/v2/instance") as r:
            assert json.load(r)["configuration"]["statuses"][
                "max_characters"] == 500
        req = urllib.request.Request(
            url + "/_mock/add_mention", method="POST",
            data=json.dumps({"text": "cli"}).encode())
        with urllib.request.urlopen(req) as r:
            assert json.load(r)["type"] == "mention"
        req = urllib.request.Request(url + "/api/v1/streaming/user",
                                     headers={"Authorization":
                                              "Bearer test-token"})
        with pytest.raises(urllib.error.HTTPError) as ei:
            urllib.request.urlopen(req)
        assert ei.value.code == 404
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=5) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
