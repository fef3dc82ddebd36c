"""Tests of tests/mockframe, through a small demo network mock (stdlib
clients only).

Run: /usr/bin/python3 -m pytest -q tests/mocktest
"""

import http.client
import json
import os
import re
import socket
import ssl
import sys
import threading
import time

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS_DIR)

from mockframe import (HTTPError, HeaderStyle, MockServer,  # noqa: E402
                       RateLimiter, Remote, certs, dumps, spawn, sse_event)

ISO_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
# The three spellings the networks use (design notes, social-apis.md).
MASTODON = HeaderStyle("X-RateLimit-Limit", "X-RateLimit-Remaining",
                       "X-RateLimit-Reset", reset_format="iso")
X_API = HeaderStyle("x-rate-limit-limit", "x-rate-limit-remaining",
                    "x-rate-limit-reset")
BLUESKY = HeaderStyle("RateLimit-Limit", "RateLimit-Remaining",
                      "RateLimit-Reset", policy="RateLimit-Policy")


class Demo(MockServer):
    """A network mock as small as one can be: items behind a rate limit,
    an echo, a stream and one control method."""
    server_name = "demo"
    CONTROL = MockServer.CONTROL + ("say",)
    STATE = MockServer.STATE + ("said",)

    def __init__(self, style=X_API, limit=100, window=900, **kw):
        MockServer.__init__(self, **kw)
        self.said = []
        self.limiter = RateLimiter(limit, window, style,
                                   body={"errors": [{"code": 88}]})
        self.route("GET", r"/items/(\d+)", self.item)
        self.route("GET", r"/peek", lambda call: (200, {"peek": True}))
        self.route("POST", r"/echo", self.echo)
        self.route("GET", r"/boom", self.boom)
        self.route("GET", r"/text", lambda call: (
            200, "plain words", [("Content-Type", "text/plain")]))
        self.route("GET", r"/events", self.events)

    def ratelimit(self, call):
        if call.path.startswith(("/items", "/peek")):
            return (self.limiter, call.headers.get("authorization", "anon"),
                    call.path != "/peek")
        return None

    def say(self, text, kind=None):
        with self._lock:
            self.said.append(text)
        for s in self.open_streams(kind):
            s.push(sse_event("said", dumps({"text": text})))
        return {"said": text}

    def item(self, call, n):
        if n == "0":
            raise HTTPError(404, {"error": "no such item"})
        return 200, {"id": n}

    def echo(self, call):
        return 200, {"got": call.json()}, [("X-Echo", "1")]

    def boom(self, call):
        raise RuntimeError("a bug in the mock")

    def events(self, call):
        q = {k: v[0] for k, v in call.query.items()}
        return self.stream(call, kind=q.get("kind"), preamble=b": hi\n\n",
                           heartbeat=b": hb\n\n",
                           interval=float(q.get("hb", "5")),
                           framing=q.get("framing", "chunked"))


@pytest.fixture(params=[False, True], ids=["thread", "loop"])
def m(request):
    # every test twice: streams served by a thread each, and by one loop
    mock = Demo()
    mock.stream_loop = request.param
    mock.start()
    yield mock
    mock.stop()


def conn(m, timeout=5, ctx=None):
    if m.base_url.startswith("https"):
        ctx = ctx or ssl.create_default_context(cafile=m.ca_file)
        return http.client.HTTPSConnection("127.0.0.1", m.port,
                                           timeout=timeout, context=ctx)
    return http.client.HTTPConnection("127.0.0.1", m.port, timeout=timeout)


def call(m, method, path, body=None, headers=None, timeout=5):
    """(status, response, body bytes)."""
    c = conn(m, timeout)
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, r, data


def open_stream(m, query=""):
    c = conn(m)
    c.request("GET", "/events" + query)
    r = c.getresponse()
    assert r.status == 200
    return c, r


def read_event(r):
    """The next event or comment block as text; '' at a graceful end."""
    lines = []
    while True:
        line = r.readline()
        if not line:
            return "".join(lines)
        if line == b"\n":
            return "".join(lines)
        lines.append(line.decode())


def read_data(r):
    """The next block that is not a heartbeat."""
    while True:
        block = read_event(r)
        if block != ": hb\n":
            return block


# --------------------------------------------------------------------------
# routing, JSON, request log
# --------------------------------------------------------------------------

def test_routes_json_and_errors(m):
    status, r, body = call(m, "GET", "/items/7")
    assert status == 200 and json.loads(body) == {"id": "7"}
    assert r.getheader("Content-Type") == "application/json; charset=utf-8"
    assert r.getheader("Server").startswith("demo")
    assert call(m, "GET", "/items/0")[0] == 404
    assert call(m, "GET", "/items/x")[0] == 404         # whole path only
    assert call(m, "GET", "/nowhere")[0] == 404
    assert call(m, "DELETE", "/items/7")[0] == 404      # method matters
    status, r, body = call(m, "HEAD", "/items/7")
    assert status == 200 and body == b""
    assert int(r.getheader("Content-Length")) > 0
    status, _, body = call(m, "GET", "/boom")
    assert status == 500 and b"a bug in the mock" in body
    status, r, body = call(m, "GET", "/text")
    assert (status, body) == (200, b"plain words")
    assert r.getheader("Content-Type") == "text/plain"
    status, r, body = call(m, "POST", "/echo", body=b"{nope")
    assert status == 400


def test_max_active_idle_keepalive_holds_no_place():
    m = Demo()
    m.max_active = 1
    m.start()
    try:
        idle = conn(m)                      # kept alive, then quiet
        idle.request("GET", "/items/1")
        assert idle.getresponse().read() == b'{"id":"1"}'
        assert call(m, "GET", "/items/2")[0] == 200
        idle.request("GET", "/items/3")     # and again on the same one
        assert idle.getresponse().read() == b'{"id":"3"}'
        idle.close()
    finally:
        m.stop()


def test_request_log(m):
    t0 = time.time()
    status, r, body = call(m, "POST", "/echo?a=1&a=2&b=",
                           body=dumps({"x": "\u00e9"}).encode(),
                           headers={"X-Test": "yes",
                                    "Content-Type": "application/json"})
    assert status == 200 and r.getheader("X-Echo") == "1"
    assert json.loads(body) == {"got": {"x": "\u00e9"}}
    req = m.requests[-1]
    assert (req.method, req.path) == ("POST", "/echo")
    assert req.query == {"a": ["1", "2"], "b": [""]}
    assert req.headers["x-test"] == "yes"
    assert json.loads(req.body) == {"x": "\u00e9"}
    assert t0 <= req.time <= time.time()
    # chunked request bodies are read whole
    c = conn(m)
    c.request("POST", "/echo", body=iter([b'{"n":', b"1}"]),
              encode_chunked=True, headers={"Transfer-Encoding": "chunked"})
    assert json.loads(c.getresponse().read()) == {"got": {"n": 1}}
    c.close()
    assert m.requests[-1].body == b'{"n":1}'
    log = m.requests
    m.clear_requests()
    assert log == [] and m.requests is log


# --------------------------------------------------------------------------
# TLS and certificates
# --------------------------------------------------------------------------

def test_tls_self_signed():
    m = Demo(tls=True).start()
    try:
        assert m.base_url == "https://127.0.0.1:%d" % m.port
        assert call(m, "GET", "/items/1")[0] == 200
        for name in ("127.0.0.1", "localhost"):     # both in the SAN
            s = socket.create_connection(("127.0.0.1", m.port), 5)
            ssl.create_default_context(cafile=m.ca_file).wrap_socket(
                s, server_hostname=name).close()
        with pytest.raises(ssl.SSLCertVerificationError):
            call_ctx = ssl.create_default_context()     # system CAs only
            conn(m, ctx=call_ctx).request("GET", "/items/1")
        # plain HTTP on the TLS port gets nothing served
        s = socket.create_connection(("127.0.0.1", m.port), 5)
        s.sendall(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" not in s.recv(1000)
        s.close()
    finally:
        m.stop()


def test_tls_leaf_signed_by_authority(tmp_path):
    ca = certs.authority(str(tmp_path))
    leaf = certs.signed_by(ca, str(tmp_path), cn="localhost")
    assert leaf.ca == ca.cert and leaf.cert != ca.cert
    other = certs.authority(str(tmp_path), "other.pem", "other.key")
    m = Demo(tls=leaf).start()
    try:
        assert m.ca_file == ca.cert
        assert call(m, "GET", "/items/1")[0] == 200
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx = ssl.create_default_context(cafile=other.cert)
            conn(m, ctx=ctx).request("GET", "/items/1")
    finally:
        m.stop()
    assert os.path.exists(leaf.cert)    # given certificates are left alone


# --------------------------------------------------------------------------
# streams
# --------------------------------------------------------------------------

def test_stream_events_heartbeat_and_end(m):
    c, r = open_stream(m, "?hb=0.2&kind=a")
    assert r.getheader("Transfer-Encoding") == "chunked"
    assert r.getheader("Content-Type") == "text/event-stream"
    assert read_event(r) == ": hi\n"
    assert m.wait_for(lambda: m.stream_count() == 1)
    assert m.stream_connects == 1
    m.say("one\ntwo", kind="a")
    assert read_data(r) == 'event: said\ndata: {"text":"one\\ntwo"}\n'
    assert read_event(r) == ": hb\n"        # nothing pushed for 0.2 s
    m.say("not for kind a", kind="b")
    for s in m.open_streams():
        s.end()
    assert read_data(r) == ""               # final chunk: a clean end
    assert m.wait_for(lambda: m.stream_count() == 0)
    c.close()


def test_stream_drop_close_framing_and_peer_gone(m):
    c, r = open_stream(m)
    read_event(r)
    assert m.wait_for(lambda: m.stream_count() == 1)
    assert m.drop_streams() == 1
    with pytest.raises(http.client.IncompleteRead):     # no final chunk
        r.read()
    c.close()
    c, r = open_stream(m, "?framing=close")
    assert r.getheader("Transfer-Encoding") is None
    assert r.getheader("Connection") == "close"
    assert read_event(r) == ": hi\n"
    m.say("x")
    assert read_event(r).startswith("event: said\n")
    m.drop_streams(rst=True)
    assert m.wait_for(lambda: m.stream_count() == 0)
    c.close()
    # a client that goes away is noticed without any push
    c, r = open_stream(m)
    read_event(r)
    assert m.wait_for(lambda: m.stream_count() == 1)
    c.close()
    assert m.wait_for(lambda: m.stream_count() == 0, timeout=3)


# --------------------------------------------------------------------------
# rate limits
# --------------------------------------------------------------------------

@pytest.mark.parametrize("style", [MASTODON, X_API, BLUESKY],
                         ids=["mastodon", "x", "bluesky"])
def test_ratelimit_headers_and_429(style):
    m = Demo(style=style, limit=2, window=900).start()
    try:
        names = [n for n in style.names if n]
        _, r1, _ = call(m, "GET", "/items/1")
        sent = dict(r1.getheaders())        # names exactly as sent
        assert all(n in sent for n in names)
        limit, remaining, reset = style.names[:3]
        assert sent[limit] == "2" and sent[remaining] == "1"
        if style is MASTODON:
            assert ISO_US.match(sent[reset])
        else:
            epoch = int(sent[reset])
            assert epoch % 900 == 0 and 0 < epoch - time.time() <= 900
        if style is BLUESKY:
            assert sent["RateLimit-Policy"] == "2;w=900"
        assert call(m, "GET", "/peek")[1].getheader(remaining) == "1"
        assert call(m, "GET", "/items/1")[1].getheader(remaining) == "0"
        status, r, body = call(m, "GET", "/items/1")
        assert status == 429 and json.loads(body) == {"errors": [{"code": 88}]}
        assert r.getheader(remaining) == "0"
        assert 0 < int(r.getheader("Retry-After")) <= 900
        # another key has its own window; unlimited paths are untouched
        hdr = {"Authorization": "Bearer other"}
        assert call(m, "GET", "/items/1", headers=hdr)[0] == 200
        _, r, _ = call(m, "GET", "/text")
        assert r.getheader(remaining) is None
    finally:
        m.stop()


def test_ratelimit_set_and_window_reset():
    m = Demo(limit=5, window=1).start()
    try:
        call(m, "GET", "/items/1")
        m.limiter.set(0)                    # every key seen so far
        assert call(m, "GET", "/items/1")[0] == 429
        reset = int(time.time()) + 100
        m.limiter.set(3, reset=reset, keys=["anon"], limit=9)
        _, r, _ = call(m, "GET", "/items/1")
        assert r.getheader("x-rate-limit-remaining") == "2"
        assert r.getheader("x-rate-limit-reset") == str(reset)
        assert r.getheader("x-rate-limit-limit") == "9"
        m.limiter.set(0, reset=time.time() + 0.3)
        assert call(m, "GET", "/items/1")[0] == 429
        time.sleep(0.35)                    # a new window, full again
        _, r, _ = call(m, "GET", "/items/1")
        assert r.status == 200 and r.getheader("x-rate-limit-remaining") \
            == "8"
    finally:
        m.stop()


# --------------------------------------------------------------------------
# faults
# --------------------------------------------------------------------------

def test_fault_respond_times_seconds_method(m):
    rule = m.fail(r"^/items/", status=503, times=2, retry_after=4,
                  body={"error": "busy"}, headers={"X-Fault": "1"})
    for _ in range(2):
        status, r, body = call(m, "GET", "/items/1")
        assert (status, json.loads(body)) == (503, {"error": "busy"})
        assert r.getheader("Retry-After") == "4"
        assert r.getheader("X-Fault") == "1"
        # the rate-limit window is still shown (and was spent)
        assert r.getheader("x-rate-limit-remaining") is not None
    assert rule["hits"] == 2
    assert call(m, "GET", "/items/1")[0] == 200
    m.fail("/echo", status=500, method="POST", seconds=0.3)
    assert call(m, "GET", "/items/1")[0] == 200         # other path
    assert call(m, "POST", "/echo", body=b"{}")[0] == 500
    time.sleep(0.35)
    assert call(m, "POST", "/echo", body=b"{}")[0] == 200
    m.fail("/items")                                    # until cleared
    assert call(m, "GET", "/items/1")[0] == 503
    m.clear_failures()
    assert call(m, "GET", "/items/1")[0] == 200
    m.fail("/peek", status=429)
    _, r, _ = call(m, "GET", "/peek")
    assert r.status == 429 and r.getheader("x-rate-limit-remaining") == "0"
    with pytest.raises(ValueError):
        m.fail("/x", action="explode")


def test_fault_close_and_reset(m):
    m.fail("/items", status=0, times=1)
    with pytest.raises(http.client.RemoteDisconnected):
        call(m, "GET", "/items/1")
    m.fail("/items", action="reset", times=1)
    s = socket.create_connection(("127.0.0.1", m.port), 5)
    s.sendall(b"GET /items/1 HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(ConnectionResetError):   # a FIN would read b""
        s.recv(100)
    s.close()
    assert call(m, "GET", "/items/1")[0] == 200


def test_fault_hang_partial_redirect_delay(m):
    m.fail("/items", action="hang", times=1)
    t0 = time.time()
    with pytest.raises(socket.timeout):
        call(m, "GET", "/items/1", timeout=0.5)
    assert time.time() - t0 >= 0.5
    m.fail("/items", action="partial", cut=4, times=1)
    c = conn(m)
    c.request("GET", "/items/12")
    r = c.getresponse()
    assert r.status == 200
    with pytest.raises(http.client.IncompleteRead) as ei:
        r.read()
    assert ei.value.partial == b'{"id'
    c.close()
    m.fail("/items", action="redirect", location="http://127.0.0.1:9/",
           times=1)
    status, r, _ = call(m, "GET", "/items/1?x=1")
    assert status == 307
    assert r.getheader("Location") == "http://127.0.0.1:9/items/1?x=1"
    m.fail("/items", action="delay", delay=0.3, times=1)
    t0 = time.time()
    assert call(m, "GET", "/items/1")[0] == 200
    assert time.time() - t0 >= 0.3


# --------------------------------------------------------------------------
# control endpoint, Remote, a mock in another process
# --------------------------------------------------------------------------

def test_control_over_http(m):
    def post(name, obj):
        return call(m, "POST", "/_mock/" + name, body=dumps(obj).encode())

    status, _, body = post("say", {"text": "hello"})
    assert (status, json.loads(body)) == (200, {"said": "hello"})
    assert json.loads(call(m, "GET", "/_mock/said")[2]) == ["hello"]
    status, _, body = post("fail", {"path_regex": "/items", "status": 502,
                                    "times": 1})
    assert status == 200 and json.loads(body)["id"] >= 1
    assert call(m, "GET", "/items/1")[0] == 502
    assert call(m, "GET", "/items/1")[0] == 200
    assert post("nope", {})[0] == 404
    assert call(m, "GET", "/_mock/_lock")[0] == 404     # not state
    assert post("say", {"bogus": 1})[0] == 400
    assert post("say", [1])[0] == 400
    log = json.loads(call(m, "GET", "/_mock/requests")[2])
    assert [x["path"] for x in log] == ["/items/1", "/items/1"]
    assert not any(r.path.startswith("/_mock") for r in m.requests)
    r = Remote(m.base_url)
    assert r.say(text="again") == {"said": "again"}
    assert r.get("said") == ["hello", "again"]
    assert r.stream_count() == 0


DEMO_SCRIPT = """
import sys
sys.path.insert(0, %r)
sys.path.insert(0, %r)
from mockframe import serve_main
from test_mockframe import Demo
sys.exit(serve_main(lambda a: Demo(tls=a.tls, port=a.port)))
"""


def test_spawned_mock_is_scripted_remotely(tmp_path):
    script = tmp_path / "demo_mock.py"
    script.write_text(DEMO_SCRIPT % (TESTS_DIR, os.path.dirname(
        os.path.abspath(__file__))))
    r = spawn(str(script), "--tls")
    try:
        assert r.info["base_url"].startswith("https://127.0.0.1:")
        assert r.say(text="from afar") == {"said": "from afar"}
        assert r.get("said") == ["from afar"]
        r.fail(path_regex="/items", status=500, times=1)
        ctx = ssl.create_default_context(cafile=r.info["ca_file"])
        c = http.client.HTTPSConnection("127.0.0.1", r.info["port"],
                                        timeout=5, context=ctx)
        c.request("GET", "/items/1")
        assert c.getresponse().status == 500
        c.close()
    finally:
        assert r.stop() == 0


# --------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------

@pytest.mark.parametrize("loop", [False, True], ids=["tls", "loop"])
def test_stop_ends_everything_and_joins_threads(loop):
    before = set(threading.enumerate())
    # a stream loop serves plain streams only
    m = Demo(tls=not loop)
    m.stream_loop = loop
    m.start()
    port = m.port
    keepalive = conn(m)                     # idle keep-alive connection
    keepalive.request("GET", "/items/1")
    keepalive.getresponse().read()
    stream, r = open_stream(m)
    read_event(r)
    m.fail("/items", action="hang")
    hung = conn(m, timeout=30)
    hung.request("GET", "/items/2")
    silent = socket.create_connection(("127.0.0.1", port))  # no handshake
    assert m.wait_for(lambda: m.stream_count() == 1)
    time.sleep(0.2)                         # the hang is under way
    t0 = time.time()
    m.stop()
    assert time.time() - t0 < 3
    assert set(threading.enumerate()) <= before
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), 1)
    for c in (keepalive, stream, hung, silent):
        c.close()
    m.stop()                                # a second stop is harmless
