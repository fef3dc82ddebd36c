#!/usr/bin/python3
"""HTTP(S) server for tests/unit/test_http.c.

Usage: http_test_server.py --port-file F [--tls-dir D]

Binds 127.0.0.1 on port 0 and writes "PORT" (or "PORT TLS_PORT" with
--tls-dir, after generating a self-signed certificate D/cert.pem for
127.0.0.1 and localhost) to F. Exits when its stdin reaches EOF, so it dies
with the test process that started it. Standard library only.

Endpoints (query parameter k= names a hit counter, so tests stay apart):
  /json                     200 JSON
  /echo                     any method: JSON of method, path, headers, body
  /status?code=N&body=B     status N with body B (&retry=S: Retry-After)
  /headers?case=NAME        canned header sets (retry, ratelimit, link ...)
  /raw?h=Name:Value&h=...   200 with exactly those headers
  /huge-headers?n=N         N headers of 1000 bytes each
  /retry-date?in=N          503, Retry-After as an HTTP date N s from now
  /big?n=N[&chunked=1]      N bytes of 'x'
  /gzip                     gzip-encoded body
  /hang                     reads the request, never answers
  /redirect?n=N             N redirects, then /json
  /redirect-headers         302 with rate-limit/link headers, then /json
  /redirect-ftp             302 to an ftp:// URL
  /redirect-away            307 to this server as http://localhost (another
                            origin)
  /redirect-port            302 to another port of 127.0.0.1
  /hits?k=K                 {"count": N} for counter K
  /sse/...                  server-sent event streams, see do_sse()
"""

import argparse
import gzip
import json
import os
import socket
import ssl
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from mockframe import certs  # noqa: E402 (test certificates)

HITS = {}
HITS_LOCK = threading.Lock()


def hit(key):
    with HITS_LOCK:
        HITS[key] = HITS.get(key, 0) + 1
        return HITS[key]


def hits(key):
    with HITS_LOCK:
        return HITS.get(key, 0)


CANNED = {
    "mastodon": [
        ("X-RateLimit-Limit", "300"),
        ("X-RateLimit-Remaining", "299"),
        ("X-RateLimit-Reset", "2026-05-02T09:20:00.000000Z"),
    ],
    "x": [
        ("x-rate-limit-limit", "15"),
        ("x-rate-limit-remaining", "14"),
        ("x-rate-limit-reset", "1777713600"),
    ],
    "bluesky": [
        ("RateLimit-Remaining", "2999"),
        ("RateLimit-Reset", "1777713601"),
    ],
    "link": [
        ("Link", '<https://h/api/v1/notifications?max_id=1>; rel="next", '
                 '<https://h/api/v1/notifications?min_id=9>; rel="prev"'),
    ],
    "link-odd": [
        ("Link", '<https://h/a?x=1,2>; title="a, b; c"; rel=next'),
        ("Link", '<https://h/b>; rel="previous last"'),
    ],
    "retry": [("Retry-After", "3")],
    "multi": [("X-Test", "first"), ("x-test", "second"),
              ("X-Spaces", "  padded value  ")],
}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def query(self):
        q = parse_qs(urlsplit(self.path).query)
        return {k: v[0] for k, v in q.items()}

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, code, body=b"", ctype="application/json", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def route(self):
        path = urlsplit(self.path).path
        q = self.query()
        if "k" in q and path != "/hits":
            hit(q["k"] + ":" + path)
        if path.startswith("/sse/"):
            return self.do_sse(path, q)
        if path == "/json":
            return self.reply(200, '{"hello":"world","n":42}')
        if path == "/echo":
            body = self.read_body()
            return self.reply(200, json.dumps({
                "method": self.command,
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body.decode("latin-1"),
            }))
        if path == "/slow":
            # held long enough that requests sent together overlap, each
            # on a connection of its own
            time.sleep(int(q.get("ms", "200")) / 1000.0)
            return self.reply(200, "{}")
        if path == "/status":
            extra = [("Retry-After", q["retry"])] if "retry" in q else []
            return self.reply(int(q.get("code", "200")), q.get("body", ""),
                              "text/plain", headers=extra)
        if path == "/headers":
            case = q.get("case", "")
            code = 503 if case == "retry" else 200
            return self.reply(code, "{}", headers=CANNED.get(case, []))
        if path == "/raw":
            # /raw?h=Name:Value&h=... sends those headers verbatim.
            pairs = parse_qs(urlsplit(self.path).query).get("h", [])
            return self.reply(200, "{}", headers=[
                tuple(x.split(":", 1)) for x in pairs])
        if path == "/huge-headers":
            n = int(q.get("n", "100"))
            return self.reply(200, "{}", headers=[
                ("X-Filler-%d" % i, "f" * 1000) for i in range(n)])
        if path == "/retry-date":
            when = time.time() + int(q.get("in", "0"))
            return self.reply(503, "busy", "text/plain", [
                ("Retry-After", formatdate(when, usegmt=True))])
        if path == "/big":
            n = int(q.get("n", "0"))
            if q.get("chunked"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                left = n
                while left > 0:
                    c = min(left, 65536)
                    self.wfile.write(b"%x\r\n" % c + b"x" * c + b"\r\n")
                    left -= c
                self.wfile.write(b"0\r\n\r\n")
                return None
            return self.reply(200, b"x" * n, "text/plain")
        if path == "/gzip":
            body = gzip.compress(b"squeezed " * 100)
            if "gzip" not in self.headers.get("Accept-Encoding", ""):
                return self.reply(406, "no gzip offered", "text/plain")
            return self.reply(200, body, "text/plain",
                              [("Content-Encoding", "gzip")])
        if path == "/hang":
            time.sleep(60)
            return None
        if path == "/redirect":
            n = int(q.get("n", "0"))
            if n <= 0:
                return self.reply(200, '{"redirected":true}')
            return self.reply(302, "", None,
                              [("Location", "/redirect?n=%d" % (n - 1))])
        if path == "/redirect-headers":
            return self.reply(302, "", None, [
                ("Location", "/json"),
                ("X-RateLimit-Remaining", "1"),
                ("Retry-After", "99"),
                ("Link", '<https://h/old>; rel="next"')])
        if path == "/redirect-away":
            # The same server under another name: another origin.
            port = self.server.server_address[1]
            return self.reply(307, "", None, [
                ("Location", "http://localhost:%d/json" % port)])
        if path == "/redirect-port":
            return self.reply(302, "", None,
                              [("Location", "http://127.0.0.1:1/json")])
        if path == "/redirect-ftp":
            return self.reply(302, "", None,
                              [("Location", "ftp://127.0.0.1/x")])
        if path == "/hits":
            key = q.get("k", "") + ":" + q.get("path", "")
            return self.reply(200, json.dumps({"count": hits(key)}))
        return self.reply(404, '{"error":"not found"}')

    # ---- server-sent events ----

    def sse_start(self, ctype="text/event-stream"):
        self.send_response(200)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

    def send_raw(self, data):
        self.wfile.write(data if isinstance(data, bytes) else data.encode())
        self.wfile.flush()

    def do_sse(self, path, q):
        key = q.get("k", "") + ":" + path
        n = hits(key)
        last = self.headers.get("Last-Event-ID")
        if path == "/sse/basic":
            ctype = q.get("ctype", "text/event-stream")
            self.sse_start(None if ctype == "none" else ctype)
            pieces = [
                b"\xef\xbb\xbf: hello, a comment\n",
                b"event: update\ndata: line1\ndata: line2\n\n",
                b"data: crlf\r\n\r\n",
                b"data: cr\r\r",
                b"id: 7\nevent: notification\ndata: {\"x\":1}\n\n",
                b"data:nospace\n",
                b"\n",
                b"da", b"ta: spl", b"it\r", b"\n\r\n",
                b"data: m1\r", b"\ndata: m2\r\n\r", b"\n",
                b"data: end\n\n",
            ]
            for p in pieces:
                self.send_raw(p)
                time.sleep(0.01)
            time.sleep(30)
            return None
        if path == "/sse/reconnect":
            self.sse_start()
            self.send_raw("retry: 10\nid: %d\ndata: conn %d last=%s\n\n"
                          % (n, n, last or "none"))
            return None
        if path == "/sse/stall":
            self.sse_start()
            self.send_raw("data: conn %d last=%s\n\n" % (n, last or "none"))
            time.sleep(30)
            return None
        if path == "/sse/heartbeat":
            self.sse_start()
            for _ in range(8):
                self.send_raw(":thump\n")
                time.sleep(0.1)
            self.send_raw("data: done conn %d\n\n" % n)
            time.sleep(30)
            return None
        if path == "/sse/status":
            code = int(q.get("code", "401"))
            self.reply(code, '{"error":"unauthorized"}')
            return None
        if path == "/sse/ratelimited":
            if n == 1:
                return self.reply(429, '{"error":"slow down"}', headers=[
                    ("Retry-After", "1")])
            self.sse_start()
            self.send_raw("data: ok conn %d\n\n" % n)
            time.sleep(30)
            return None
        if path == "/sse/endless":
            self.sse_start()
            if n > 1:
                self.send_raw("data: ok conn %d\n\n" % n)
                time.sleep(30)
                return None
            # One line that never ends, until the client hangs up.
            self.send_raw("data: ")
            try:
                for _ in range(2000):
                    self.send_raw("x" * 4096)
                    time.sleep(0.001)
            except OSError:
                pass
            return None
        if path == "/sse/big":
            self.sse_start()
            self.send_raw("data: " + "y" * int(q.get("n", "5000")) + "\n\n")
            self.send_raw("data: small\n\n")
            time.sleep(30)
            return None
        return self.reply(404, "no such stream", "text/plain")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512

    def handle_error(self, request, client_address):
        # Clients hang up on purpose in these tests (cancel, timeouts).
        pass


def serve(srv):
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--tls-dir")
    args = ap.parse_args()

    plain = Server(("127.0.0.1", 0), Handler)
    ports = [str(plain.server_address[1])]
    serve(plain)
    if args.tls_dir:
        cert, key, _ = certs.self_signed(args.tls_dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        tls = Server(("127.0.0.1", 0), Handler)
        # The handshake happens in the handler thread, so a client that
        # rejects the certificate cannot stall the accept loop.
        tls.socket = ctx.wrap_socket(tls.socket, server_side=True,
                                     do_handshake_on_connect=False)
        ports.append(str(tls.server_address[1]))
        serve(tls)

    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(ports) + "\n")
    os.rename(tmp, args.port_file)

    # Live as long as the parent: its end of our stdin closes when it exits.
    while sys.stdin.buffer.read(4096):
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
