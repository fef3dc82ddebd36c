"""MockServer: the HTTP side every network mock shares.

A network mock subclasses MockServer, registers handlers with route() and
fills in a few hooks (prepare, ratelimit, fault_body, not_found,
json_headers, info).  The server brings the rest: HTTP/1.1 on 127.0.0.1
(optionally TLS with a certificate made at start), the request log, JSON
answers, streams, rate-limit windows, scripted faults and the control
endpoint under /_mock/.
"""

import http.client
import json
import re
import shutil
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from . import certs
from .streams import (Stream, StreamLoop, peer_closed, set_reset_on_close,
                      shutdown)

CONTROL_PREFIX = "/_mock/"
MAX_BODY = 64 * 1024 * 1024

# One entry of the request log: query is parse_qs() of the query string,
# headers a dict with lower-case names, body bytes, time Unix seconds.
Request = namedtuple("Request", "method path query headers body time")

FAULT_ACTIONS = ("respond", "close", "reset", "hang", "partial", "redirect",
                 "delay")


def dumps(obj):
    """Compact JSON with raw UTF-8, as Rails and most APIs send it."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def plain(v):
    """v as fresh JSON-ready data: sets become lists sorted the way decimal
    string ids sort as numbers, log entries dicts, bytes text."""
    if isinstance(v, Request):
        return plain(v._asdict())
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (set, frozenset)):
        return sorted((plain(x) for x in v), key=lambda x: (len(str(x)),
                                                            str(x)))
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def wait_for(predicate, timeout=5, interval=0.01):
    """Poll predicate() until truthy; return its last value (falsy on
    timeout, so `assert wait_for(...)` reads well)."""
    deadline = time.time() + timeout
    while True:
        v = predicate()
        if v or time.time() >= deadline:
            return v
        time.sleep(interval)


class HTTPError(Exception):
    """Raise from a handler (or prepare) to answer with status and body (a
    dict or list is sent as JSON, a str or bytes as text/html)."""

    def __init__(self, status, body, headers=None):
        Exception.__init__(self, status, body)
        self.status = status
        self.body = body
        self.headers = list((headers or {}).items())


class Call(object):
    """One request, as hooks and handlers see it.  Networks hang their own
    attributes on it in prepare() (parameters, the caller's token)."""

    def __init__(self, conn, body):
        split = urllib.parse.urlsplit(conn.path)
        self.conn = conn                # the BaseHTTPRequestHandler
        self.method = conn.command
        self.target = conn.path         # path and query, as sent
        self.path = split.path
        self.qs = split.query
        self.query = urllib.parse.parse_qs(split.query,
                                           keep_blank_values=True)
        self.headers = {k.lower(): v for k, v in conn.headers.items()}
        self.body = body
        self.time = time.time()
        self.limiter = None
        self.ratelimit_headers = []     # added to whatever is answered
        self.cut = None                 # a "partial" fault's body length

    def json(self):
        """The body as JSON; a 400 when it is not."""
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError as e:
            raise HTTPError(400, {"error": "bad JSON body: %s" % e})

    def record(self):
        return Request(self.method, self.path, self.query, self.headers,
                       self.body, self.time)


class MockServer(object):
    server_name = "mock"    # the Server header
    # What the control endpoint may call (POST /_mock/NAME, JSON keyword
    # arguments) and read (GET /_mock/NAME); subclasses extend both.
    CONTROL = ("fail", "clear_failures", "clear_requests", "drop_streams",
               "stream_count")
    STATE = ("requests", "stream_connects", "base_url", "ca_file")

    def __init__(self, tls=False, port=0, verbose=False):
        """tls: False, True (a self-signed certificate made at start) or a
        certs.Cert to serve.  port 0 picks a free one."""
        self.tls = tls
        self.verbose = verbose
        self._port = port
        self._lock = threading.RLock()
        self._routes = []
        self._faults = []
        self._fault_ids = 0
        self._streams = []
        # how often an idle stream looks for a peer that went away
        self.stream_tick = 0.2
        # serve plain streams from one thread (streams.StreamLoop), not a
        # thread each; for a mock holding thousands of them
        self.stream_loop = False
        self._loop = None
        # the listen backlog: thousands of clients connecting at once need
        # more than the default (the kernel caps it at net.core.somaxconn)
        self.listen_backlog = 256
        # at most this many requests served at once (None: no bound); a
        # connection waiting for its next request holds no place.  Ten
        # thousand clients asking at once otherwise wake ten thousand
        # threads that fight for the interpreter lock, in the kernel.
        # Requests that wait (hang, delay, a stream not on the loop) keep
        # their place: a bound is for mocks that script none of them.
        self.max_active = None
        self._active = None
        self._conns = set()
        self._stopping = threading.Event()
        self._server = None
        self._thread = None
        self._tmpdir = None
        self.requests = []
        self.stream_connects = 0
        self.port = None
        self.base_url = None
        self.ca_file = None
        self.key_file = None

    # ------------------------------------------------------------------
    # hooks for the network
    # ------------------------------------------------------------------

    def prepare(self, call):
        """Parse what the handlers need (parameters, the token); runs
        before routing and may raise HTTPError."""

    def ratelimit(self, call):
        """(limiter, key, count) for this request, or None for no limit;
        count False shows the window without spending from it."""
        return None

    def fault_body(self, status):
        """The body of a scripted failure that names none."""
        return {"error": http.client.responses.get(status, "Error")}

    def not_found(self, call):
        raise HTTPError(404, {"error": "Not Found"})

    def json_headers(self):
        """Extra headers on every JSON answer."""
        return []

    def info(self):
        """What a test running the mock in another process needs."""
        return {"port": self.port, "base_url": self.base_url,
                "ca_file": self.ca_file}

    def route(self, method, pattern, handler):
        """Send `method` requests whose whole path matches the regex
        `pattern` to handler(call, *groups).  HEAD is served as GET.  The
        handler returns (status, body) or (status, body, [(name, value)]),
        or None when it answered itself (a stream)."""
        self._routes.append((method.upper(), re.compile(pattern), handler))

    # ------------------------------------------------------------------
    # lifecycle
    # ------------------------------------------------------------------

    def start(self):
        self._stopping.clear()
        self._active = threading.BoundedSemaphore(self.max_active) \
            if self.max_active else None
        self._server = _HTTPServer(self, ("127.0.0.1", self._port))
        self.port = self._server.server_address[1]
        scheme = "http"
        if self.tls:
            scheme = "https"
            cert = self.tls
            if not isinstance(cert, certs.Cert):
                self._tmpdir = tempfile.mkdtemp(prefix="mock-tls-")
                cert = certs.self_signed(self._tmpdir)
            self.ca_file, self.key_file = cert.ca, cert.key
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cert.cert, cert.key)
            ctx.set_alpn_protocols(["http/1.1"])
            # handshake in the connection's own thread, never in accept()
            self._server.socket = ctx.wrap_socket(
                self._server.socket, server_side=True,
                do_handshake_on_connect=False)
        self.base_url = "%s://127.0.0.1:%d" % (scheme, self.port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
            name="%s-accept" % self.server_name, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop accepting, end every connection, join every thread."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            streams = list(self._streams)
            conns = list(self._conns)
        for s in streams:
            s.drop()
        # wakes handlers waiting for the next keep-alive request
        for c in conns:
            shutdown(c)
        self._server.server_close()
        # Handler threads are daemons (a mock never stopped must not hold
        # the interpreter), which server_close() does not join: join them
        # here, or one still unwinding outlives stop() on a busy machine.
        self._server.join_handlers(timeout=10)
        self._thread.join()
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.join(10)
        self._server = None
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _conn_opened(self, sock):
        with self._lock:
            self._conns.add(sock)
        # a connection stop() did not see yet must not hold up its join
        if self._stopping.is_set():
            shutdown(sock)

    def _conn_closed(self, sock):
        with self._lock:
            self._conns.discard(sock)

    # ------------------------------------------------------------------
    # control
    # ------------------------------------------------------------------

    def wait_for(self, predicate, timeout=5, interval=0.01):
        return wait_for(predicate, timeout, interval)

    def snapshot(self, name):
        """JSON-ready copy of a state attribute (what GET /_mock/NAME
        answers)."""
        with self._lock:
            return plain(getattr(self, name))

    def clear_requests(self):
        with self._lock:
            del self.requests[:]    # in place: callers may hold the list

    def fail(self, path_regex, status=None, times=None, seconds=None,
             retry_after=None, body=None, method=None, action=None,
             delay=0, cut=0, location=None, headers=None):
        """Script a failure for requests whose path matches path_regex
        (re.search), only `method` ones when given: for the next `times`
        of them and/or the next `seconds`; with neither, until
        clear_failures().  action is one of
          respond   answer status (503) with body (default fault_body()),
                    headers and Retry-After: retry_after;
          close     close the connection without an answer (status=0 is
                    the same);
          reset     close it with a TCP reset;
          hang      read the request and never answer (until the client
                    gives up or the server stops);
          partial   the real answer, but only `cut` bytes of its body,
                    then the connection closes;
          redirect  status (307) to `location` + the request's path and
                    query (another origin, say);
          delay     the real answer, after `delay` seconds.
        delay also holds back any other action.  Returns the rule (a dict);
        its "hits" counts the requests it caught."""
        if action is None:
            action = "close" if status == 0 else "respond"
        if action not in FAULT_ACTIONS:
            raise ValueError("action must be one of %s" % (FAULT_ACTIONS,))
        re.compile(path_regex)      # a bad pattern fails here, not later
        if status is None:
            status = 307 if action == "redirect" else 503
        if action == "redirect" and not location:
            raise ValueError("a redirect needs a location")
        with self._lock:
            self._fault_ids += 1
            rule = {"id": self._fault_ids, "pattern": path_regex,
                    "method": method.upper() if method else None,
                    "action": action, "status": int(status),
                    "body": body, "headers": headers or {},
                    "retry_after": retry_after, "delay": float(delay),
                    "cut": int(cut), "location": location,
                    "times": times, "hits": 0,
                    "until": time.time() + seconds
                    if seconds is not None else None}
            self._faults.append(rule)
        return rule

    def clear_failures(self):
        with self._lock:
            self._faults = []

    def _match_fault(self, call):
        now = time.time()
        with self._lock:
            for rule in list(self._faults):
                if rule["until"] is not None and now >= rule["until"]:
                    self._faults.remove(rule)
                    continue
                if rule["method"] and rule["method"] != call.method:
                    continue
                if not re.search(rule["pattern"], call.path):
                    continue
                rule["hits"] += 1
                if rule["times"] is not None:
                    rule["times"] -= 1
                    if rule["times"] <= 0:
                        self._faults.remove(rule)
                return dict(rule)
        return None

    # ------------------------------------------------------------------
    # streams
    # ------------------------------------------------------------------

    def stream(self, call, kind=None, token=None, headers=(),
               content_type="text/event-stream", preamble=b"",
               heartbeat=None, interval=5.0, framing="chunked",
               fragment=None):
        """Answer call with a stream and serve it until it ends; returns
        None, which is what the handler returns.  preamble is written
        first, heartbeat every `interval` seconds; framing "chunked" or
        "close" (no length: the body ends when the connection does);
        fragment splits every write into pieces of that many bytes."""
        if framing not in ("chunked", "close"):
            raise ValueError("framing must be 'chunked' or 'close'")
        conn = call.conn
        s = Stream(conn.request, kind, token, framing == "chunked",
                   fragment)
        conn.send_response(200)
        conn.send_header("Content-Type", content_type)
        for k, v in list(headers) + call.ratelimit_headers:
            conn.send_header(k, v)
        if s.chunked:
            conn.send_header("Transfer-Encoding", "chunked")
        else:
            conn.send_header("Connection", "close")
        conn.end_headers()
        conn.close_connection = True
        with self._lock:
            self._streams.append(s)
            self.stream_connects += 1
            loop = None
            if self.stream_loop and not fragment and \
                    not isinstance(conn.request, ssl.SSLSocket):
                if self._loop is None:
                    self._loop = StreamLoop(
                        self._stopping, self._stream_done,
                        "%s-streams" % self.server_name)
                loop = self._loop
        if loop is not None:
            # the loop owns the socket now: the handler's thread ends
            # without closing it
            conn.server.hand_off(conn.request)
            loop.add(s, preamble, heartbeat, interval if heartbeat else 3600)
            return None
        try:
            s.run(conn.wfile, preamble, heartbeat,
                  interval if heartbeat else 3600, self._stopping,
                  self.stream_tick)
        finally:
            with self._lock:
                if s in self._streams:
                    self._streams.remove(s)

    def _stream_done(self, s):
        with self._lock:
            if s in self._streams:
                self._streams.remove(s)

    def open_streams(self, kind=None):
        with self._lock:
            return [s for s in self._streams
                    if not s.closed and kind in (None, s.kind)]

    def drop_streams(self, rst=False):
        """Cut every open stream (no final chunk; rst=True sends a TCP
        reset).  Returns how many were dropped."""
        streams = self.open_streams()
        for s in streams:
            s.drop(rst)
        return len(streams)

    def stream_count(self):
        return len(self.open_streams())

    # ------------------------------------------------------------------
    # serving a request
    # ------------------------------------------------------------------

    def _serve(self, conn):
        try:
            body = _read_body(conn)
        except (ValueError, OSError):
            conn.close_connection = True
            return _write(conn, 400, [("Content-Type", "text/plain")],
                          b"bad request")
        call = Call(conn, body)
        if call.path.startswith(CONTROL_PREFIX):
            return self._control(call)
        with self._lock:
            self.requests.append(call.record())
        wait = None
        rl = self.ratelimit(call)
        if rl is not None:
            call.limiter, key, count = rl
            call.ratelimit_headers, wait = call.limiter.take(key, count)
        # scripted faults come first: they model a proxy or load balancer
        rule = self._match_fault(call)
        if rule is not None and self._apply_fault(call, rule):
            return
        if wait is not None:
            status, body, call.ratelimit_headers = call.limiter.throttled(
                call.ratelimit_headers, wait)
            return self.respond(call, status, body)
        try:
            self.prepare(call)
            result = self._route(call)
            if result is None:
                return
            status, payload, headers = (tuple(result) + ([],))[:3]
        except HTTPError as e:
            status, payload, headers = e.status, e.body, e.headers
        except Exception as e:  # a mock bug must not kill the connection
            if self.verbose:
                traceback.print_exc()
            status, payload, headers = 500, {
                "error": "mock internal error: %r" % (e,)}, []
        self.respond(call, status, payload, headers)

    def _route(self, call):
        method = "GET" if call.method == "HEAD" else call.method
        for m, rx, handler in self._routes:
            if m == method:
                mo = rx.fullmatch(call.path)
                if mo:
                    return handler(call, *mo.groups())
        return self.not_found(call)

    def respond(self, call, status, payload, headers=()):
        """Answer call: payload str/bytes as text/html, anything else as
        JSON; a Content-Type in headers wins."""
        headers = list(headers)
        ctype = [v for k, v in headers if k.lower() == "content-type"]
        headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        if isinstance(payload, (bytes, str)):
            data = payload.encode("utf-8") if isinstance(payload, str) \
                else payload
            head = [("Content-Type",
                     ctype[-1] if ctype else "text/html; charset=utf-8")]
        else:
            # handlers return live objects that other threads change
            with self._lock:
                data = dumps(payload).encode("utf-8", "surrogatepass")
            head = [("Content-Type", ctype[-1] if ctype
                     else "application/json; charset=utf-8")] + \
                self.json_headers()
        _write(call.conn, status, head + call.ratelimit_headers + headers,
               data, call.cut)

    def _apply_fault(self, call, rule):
        """Carry out a fault rule; False when the real answer should
        follow (delay, partial)."""
        if rule["delay"]:
            self._stopping.wait(rule["delay"])
        action, conn = rule["action"], call.conn
        if action == "respond":
            status = rule["status"]
            if status == 429 and call.limiter is not None:
                call.ratelimit_headers = call.limiter.exhausted_headers(
                    call.ratelimit_headers)
            headers = list(rule["headers"].items())
            if rule["retry_after"] is not None:
                headers.append(("Retry-After", str(rule["retry_after"])))
            body = rule["body"]
            self.respond(call, status, self.fault_body(status)
                         if body is None else body, headers)
        elif action == "redirect":
            self.respond(call, rule["status"], "", [
                ("Location", rule["location"].rstrip("/") + call.target)])
        elif action == "close":
            conn.close_connection = True
            shutdown(conn.request)
        elif action == "reset":
            conn.close_connection = True
            set_reset_on_close(conn.request)
            conn.rfile.close()      # else close() leaves the fd open
            conn.request.close()
        elif action == "hang":
            conn.close_connection = True
            while not self._stopping.wait(0.2):
                if peer_closed(conn.request):
                    break
        elif action == "partial":
            call.cut = rule["cut"]
            return False
        else:
            return False
        return True

    def _control(self, call):
        name = call.path[len(CONTROL_PREFIX):]
        try:
            if call.method == "GET" and name in self.STATE:
                result = self.snapshot(name)
            elif call.method == "POST" and name in self.CONTROL:
                kwargs = json.loads(call.body.decode("utf-8")) \
                    if call.body.strip() else {}
                if not isinstance(kwargs, dict):
                    raise TypeError("body must be a JSON object")
                result = getattr(self, name)(**kwargs)
                with self._lock:
                    result = plain(result)
            else:
                return self.respond(call, 404, {
                    "error": "no such control method: %s" % name})
        except Exception as e:
            return self.respond(call, 400, {"error": "%s: %s" % (
                type(e).__name__, e)})
        self.respond(call, 200, result)


# --------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------

def _read_body(conn):
    te = (conn.headers.get("Transfer-Encoding") or "").lower()
    if "chunked" in te:
        chunks = []
        while True:
            line = conn.rfile.readline(65537)
            if not line:
                raise ValueError("truncated chunked body")
            size = int(line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while conn.rfile.readline(65537) not in (b"\r\n", b"\n",
                                                         b""):
                    pass
                break
            chunks.append(conn.rfile.read(size))
            conn.rfile.readline(65537)
        return b"".join(chunks)
    n = conn.headers.get("Content-Length")
    if n is None:
        return b""
    n = int(n)
    if n < 0 or n > MAX_BODY:
        raise ValueError("bad Content-Length")
    return conn.rfile.read(n) if n else b""


def _write(conn, status, headers, body, cut=None):
    """The whole answer; with cut, the head promises all of body but only
    cut bytes follow before the connection closes."""
    conn.send_response(status)
    for k, v in headers:
        conn.send_header(k, v)
    conn.send_header("Content-Length", str(len(body)))
    conn.end_headers()
    if cut is not None:
        body = body[:cut]
        conn.close_connection = True
    if conn.command != "HEAD" and body:
        conn.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, mock, addr):
        self.mock = mock
        self.request_queue_size = mock.listen_backlog
        self._handlers = set()
        self._handlers_lock = threading.Lock()
        self._handed_off = set()
        ThreadingHTTPServer.__init__(self, addr, _Handler)

    def hand_off(self, request):
        """request's socket outlives its handler (a StreamLoop closes it)."""
        with self._handlers_lock:
            self._handed_off.add(request)

    def shutdown_request(self, request):
        with self._handlers_lock:
            if request in self._handed_off:
                self._handed_off.discard(request)
                return
        ThreadingHTTPServer.shutdown_request(self, request)

    def process_request(self, request, client_address):
        t = threading.Thread(target=self._handle, daemon=True,
                             args=(request, client_address))
        with self._handlers_lock:
            self._handlers.add(t)
        t.start()

    def _handle(self, request, client_address):
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._handlers_lock:
                self._handlers.discard(threading.current_thread())

    def join_handlers(self, timeout):
        deadline = time.time() + timeout
        with self._handlers_lock:
            threads = list(self._handlers)
        for t in threads:
            t.join(max(0.0, deadline - time.time()))

    def handle_error(self, request, client_address):
        # Clients hang up on purpose in tests (timeouts, dropped streams).
        if self.mock.verbose:
            ThreadingHTTPServer.handle_error(self, request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 75  # nginx-like keepalive; also bounds a stuck TLS handshake

    def version_string(self):
        return self.server.mock.server_name

    def log_message(self, fmt, *args):
        if self.server.mock.verbose:
            sys.stderr.write("%s: %s\n" % (self.server.mock.server_name,
                                           fmt % args))

    def setup(self):
        mock = self.server.mock
        # registered before the TLS handshake, so stop() can end a client
        # that never completes it; finish() does not run when setup fails
        mock._conn_opened(self.request)
        try:
            BaseHTTPRequestHandler.setup(self)
            if isinstance(self.request, ssl.SSLSocket):
                self.request.do_handshake()
        except BaseException:
            mock._conn_closed(self.request)
            raise

    def finish(self):
        try:
            BaseHTTPRequestHandler.finish(self)
        finally:
            self.server.mock._conn_closed(self.request)

    def handle_one_request(self):
        active = self.server.mock._active
        if active is None:
            return BaseHTTPRequestHandler.handle_one_request(self)
        # wait for the request's first byte before taking a place
        try:
            if not self.rfile.peek(1):
                self.close_connection = True
                return
        except OSError:     # the keep-alive timeout, or the peer gone
            self.close_connection = True
            return
        with active:
            BaseHTTPRequestHandler.handle_one_request(self)

    def do_GET(self):
        self.server.mock._serve(self)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

