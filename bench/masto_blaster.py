#!/usr/bin/python3
"""A minimal fake Mastodon server tuned for speed: a load generator.

It answers the few REST calls a gateway makes to sign in (Parley and
BitlBee's Mastodon plugin) and serves /api/v1/streaming/user as
server-sent events. Mention notifications are pre-serialised into one
bytes blob (same entity shapes as tests/mock_mastodon.py: Account, Status,
Notification, string ids, HTML content with an h-card mention) and written
with sendall in big chunks when told to, so the generator outpaces the
gateway it measures; the faithful tests/mock_mastodon.py builds events one
by one and tops out near 30,000 per second.

Each mention's text carries a sequence number ("qx7" and 8 digits) so the
IRC side can tell which event a line belongs to.

In-process use:

    b = Blaster(tls=True).start()          # b.base_url, b.token, b.ca_file
    batch = b.prepare(1000, senders=50)    # sequence numbers 0..999
    b.wait_stream(10)
    t = b.fire(batch)                      # full speed: {t_first_ns, ...}
    stamps = b.fire_paced(batch, rate=200) # one at a time, send stamps
    b.stop()

or standalone with a line-based control channel on 127.0.0.1, which is
how bench/mastodon_bench.py runs it (a process of its own, so that the
generator and the benchmark's IRC reader never share an interpreter lock):

    masto_blaster.py [--tls] [--token T] [--cert-dir D] --info-file F.json

F.json gets {"port", "base_url", "token", "ca_file", "control_port",
"pid"}. Control commands on 127.0.0.1:control_port, one per line, each
answered by one JSON line (stamps are time.perf_counter_ns, which is
CLOCK_MONOTONIC and so comparable across processes):
    prepare N SENDERS [SENDER_OFFSET]   -> {"batch": id, "first_seq", "n"}
    free BATCH
    wait_stream SECONDS | has_stream    -> {"ok": bool}
    drop_stream
    fire BATCH                          -> {"t_first_ns", "t_last_ns", ...}
    fire_paced BATCH RATE               -> {"stamps_ns": [...]}
    stats                               -> request counts, streams
    quit
Standard library only; binds 127.0.0.1 only.
"""

import argparse
import itertools
import json
import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests"))
from mockframe import certs  # noqa: E402 (test certificates)

HOST = "127.0.0.1"
SEQ_TAG = "qx7"          # followed by 8 digits in every mention's text
ID_BASE = 110000000000000000   # realistic 18-digit snowflakes, < 2**63
ACCOUNT_ID_BASE = 100000000000000000
ME_ID = "109000000000000001"
CHUNK = 256 * 1024
MAX_HEADER = 65536


def _iso_ms(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % (int(t * 1000) % 1000)


def _dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def _account(aid, username, acct, host, media_host, created, display=None,
             statuses=1, last_status_at=None):
    """An Account, as tests/mock_mastodon.py builds it."""
    return {
        "id": aid, "username": username, "acct": acct,
        "display_name": display if display is not None
        else username.capitalize(),
        "locked": False, "bot": False, "discoverable": True,
        "indexable": False, "group": False, "created_at": created,
        "note": "<p>A test account on %s</p>" % host,
        "url": "https://%s/@%s" % (host, username),
        "uri": "https://%s/users/%s" % (host, username),
        "avatar": "https://%s/avatars/original/missing.png" % media_host,
        "avatar_static":
            "https://%s/avatars/original/missing.png" % media_host,
        "header": "https://%s/headers/original/missing.png" % media_host,
        "header_static":
            "https://%s/headers/original/missing.png" % media_host,
        "followers_count": 0, "following_count": 0,
        "statuses_count": statuses, "last_status_at": last_status_at,
        "hide_collections": None, "emojis": [], "fields": [],
    }


class Batch:
    """Pre-serialised SSE events: blob plus the end offset of each event."""

    def __init__(self, blob, ends, first_seq, senders, sender_offset):
        self.blob = blob
        self.ends = ends
        self.first_seq = first_seq
        self.n = len(ends)
        self.senders = senders
        self.sender_offset = sender_offset

    def seqs(self):
        return range(self.first_seq, self.first_seq + self.n)


class _Conn:
    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.Lock()   # one writer at a time on a stream
        self.closed = False


class Blaster:
    def __init__(self, tls=False, token="bench-token", acct="me",
                 domain="mastodon.bench", chunked=True,
                 heartbeat_seconds=10.0, cert_dir=None):
        self.tls = tls
        self.token = token
        self.acct = acct
        self.domain = domain
        self.chunked = chunked
        self.heartbeat_seconds = heartbeat_seconds
        self.port = None
        self.base_url = None
        self.ca_file = None
        self._own_dir = None
        self._cert_dir = cert_dir
        self._ctx = None
        self._lsock = None
        self._threads = []
        self._lock = threading.Lock()
        self._stream_cv = threading.Condition(self._lock)
        self._stream = None
        self._stopping = False
        self._next_id = ID_BASE
        self._next_seq = 0
        self.requests = {}        # "METHOD path" -> count
        self.unknown = []         # first few unknown requests, for debugging
        self.stream_connects = 0
        self.auth_failures = 0
        now = time.time()
        self._created_day = _iso_ms(now - now % 86400)
        self.me = _account(ME_ID, acct, acct, domain, domain,
                           self._created_day, display="Gateway User",
                           statuses=0)

    # ---- life cycle ----------------------------------------------------

    def start(self):
        if self.tls:
            self._make_cert()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((HOST, 0))
        s.listen(64)
        s.settimeout(0.2)
        self._lsock = s
        self.port = s.getsockname()[1]
        self.base_url = "%s://%s:%d" % ("https" if self.tls else "http",
                                        HOST, self.port)
        self._spawn(self._accept_loop, "blaster-accept")
        self._spawn(self._heartbeat_loop, "blaster-heartbeat")
        return self

    def stop(self):
        with self._lock:
            self._stopping = True
            st = self._stream
            self._stream = None
            self._stream_cv.notify_all()
        if st is not None:
            self._close(st)
        if self._lsock is not None:
            try:
                self._lsock.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(2)
        if self._own_dir is not None:
            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _spawn(self, fn, name, *a):
        t = threading.Thread(target=fn, args=a, name=name, daemon=True)
        t.start()
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        return t

    def _make_cert(self):
        d = self._cert_dir
        if d is None:
            d = self._own_dir = tempfile.mkdtemp(prefix="blaster-")
        cert = os.path.join(d, "cert.pem")
        key = os.path.join(d, "key.pem")
        if not os.path.exists(cert):
            # the same certificate as tests/mock_mastodon.py serves; the
            # helper renames it into place, so that a second generator
            # never reads half a file
            certs.self_signed(d)
        self.ca_file = cert
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        self._ctx = ctx

    # ---- events --------------------------------------------------------

    def _ids(self, n):
        with self._lock:
            first = self._next_id
            self._next_id += n
        return first

    def prepare(self, n, senders=1, sender_offset=0, first_seq=None,
                words="from the blaster"):
        """Serialise n mention notifications from `senders` distinct
        accounts s{sender_offset}..; sequence numbers continue from the last
        batch unless first_seq is given."""
        n = int(n)
        senders = max(1, int(senders))
        with self._lock:
            if first_seq is None:
                first_seq = self._next_seq
            self._next_seq = max(self._next_seq, first_seq + n)
        now = time.time()
        created = _iso_ms(now)
        day = created[:10]
        d = self.domain
        me_mention = _dumps({"id": ME_ID, "username": self.acct,
                             "url": "https://%s/@%s" % (d, self.acct),
                             "acct": self.acct})
        h_card = ('<p><span class=\\"h-card\\" translate=\\"no\\"><a href=\\"'
                  'https://%s/@%s\\" class=\\"u-url mention\\">@<span>%s'
                  '</span></a></span> ' % (d, self.acct, self.acct))
        # Per sender: the account JSON (appears twice per event) and the
        # pieces of the status URLs.
        accts = []
        for k in range(senders):
            idx = sender_offset + k
            user = "s%d" % idx
            host = "example.social"
            acc = _account(str(ACCOUNT_ID_BASE + idx), user,
                           "%s@%s" % (user, host), host, d,
                           self._created_day, last_status_at=day)
            accts.append((_dumps(acc), user, host))
        # Everything else is fixed text around a few numbers: one %-format
        # per event is what makes 100,000 events take well under a second.
        tmpl = (
            'event: notification\ndata: {"id":"%(nid)d","type":"mention",'
            '"created_at":"' + created + '","group_key":"ungrouped-%(nid)d",'
            '"account":%(acc)s,"status":{"id":"%(sid)d","created_at":"' +
            created + '","in_reply_to_id":null,"in_reply_to_account_id":null,'
            '"sensitive":false,"spoiler_text":"","visibility":"public",'
            '"language":"en","uri":"https://%(host)s/users/%(user)s/statuses/'
            '%(sid)d","url":"https://%(host)s/@%(user)s/%(sid)d",'
            '"replies_count":0,"reblogs_count":0,"favourites_count":0,'
            '"edited_at":null,"favourited":false,"reblogged":false,'
            '"muted":false,"bookmarked":false,"content":"' +
            h_card.replace("%", "%%") + 'mention ' + SEQ_TAG +
            '%(seq)08d ' + words + '</p>","filtered":[],"reblog":null,'
            '"account":%(acc)s,"media_attachments":[],"mentions":[' +
            me_mention.replace("%", "%%") + '],"tags":[],"emojis":[],'
            '"card":null,"poll":null}}\n\n')
        # %(name)s with a dict per event is slow; positional is faster.
        order = []

        def grab(name):
            order.append(name)
            return "%"
        pos = re.sub(r"%\((\w+)\)", lambda m: grab(m.group(1)), tmpl)
        base = self._ids(2 * n)
        parts = []
        ends = []
        off = 0
        for i in range(n):
            acc, user, host = accts[i % senders]
            vals = {"nid": base + 2 * i + 1, "sid": base + 2 * i,
                    "acc": acc, "user": user, "host": host,
                    "seq": first_seq + i}
            ev = (pos % tuple(vals[k] for k in order)).encode("utf-8")
            parts.append(ev)
            off += len(ev)
            ends.append(off)
        return Batch(b"".join(parts), ends, first_seq, senders,
                     sender_offset)

    # ---- firing --------------------------------------------------------

    def wait_stream(self, timeout):
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._stream is None and not self._stopping:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._stream_cv.wait(left)
            return self._stream is not None

    def has_stream(self):
        with self._lock:
            return self._stream is not None

    def _frame(self, piece):
        if self.chunked:
            return b"%x\r\n" % len(piece) + piece + b"\r\n"
        return piece

    def fire(self, batch, chunk=CHUNK):
        """Write the whole batch at full speed. Returns perf_counter_ns
        stamps: before the first byte, after the last sendall."""
        st = self._stream
        if st is None:
            raise RuntimeError("no stream connected")
        mv = memoryview(batch.blob)
        with st.lock:
            t0 = time.perf_counter_ns()
            for off in range(0, len(mv), chunk):
                st.sock.sendall(self._frame(mv[off:off + chunk].tobytes()))
            t1 = time.perf_counter_ns()
        return {"t_first_ns": t0, "t_last_ns": t1, "n": batch.n,
                "bytes": len(batch.blob)}

    def fire_paced(self, batch, rate):
        """One event per sendall at `rate` per second; returns the
        perf_counter_ns stamp taken right after each event's sendall."""
        st = self._stream
        if st is None:
            raise RuntimeError("no stream connected")
        gap = 1e9 / float(rate)
        stamps = []
        blob = batch.blob
        start = 0
        t0 = time.perf_counter_ns()
        for i, end in enumerate(batch.ends):
            due = t0 + int(i * gap)
            while True:
                left = due - time.perf_counter_ns()
                if left <= 0:
                    break
                # sleep most of the gap, spin the last bit for accuracy
                time.sleep(left / 1e9 - 0.0003 if left > 400000 else 0)
            data = self._frame(blob[start:end])
            with st.lock:
                st.sock.sendall(data)
                stamps.append(time.perf_counter_ns())
            start = end
        return stamps

    def drop_stream(self):
        with self._lock:
            st = self._stream
            self._stream = None
        if st is not None:
            self._close(st)

    # ---- HTTP ----------------------------------------------------------

    def _accept_loop(self):
        while not self._stopping:
            try:
                s, _ = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            s.settimeout(None)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._spawn(self._serve, "blaster-conn", s)

    def _heartbeat_loop(self):
        # ":thump\n" keeps a real server's stream alive (Mastodon's
        # streaming server writes exactly that, no blank line: BitlBee's
        # plugin drops the next event after ":thump\n\n"); BitlBee counts
        # any stream byte as a pong.
        while not self._stopping:
            time.sleep(0.5)
            st = self._stream
            if st is None or self.heartbeat_seconds <= 0:
                continue
            if time.monotonic() - getattr(st, "last", 0) < \
                    self.heartbeat_seconds:
                continue
            if st.lock.acquire(timeout=0.1):
                try:
                    st.sock.sendall(self._frame(b":thump\n"))
                    st.last = time.monotonic()
                except OSError:
                    pass
                finally:
                    st.lock.release()

    @staticmethod
    def _close(st):
        st.closed = True
        try:
            st.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            st.sock.close()
        except OSError:
            pass

    def _serve(self, sock):
        if self._ctx is not None:
            try:
                sock.settimeout(10)
                sock = self._ctx.wrap_socket(sock, server_side=True)
                sock.settimeout(None)
            except (OSError, ssl.SSLError):
                sock.close()
                return
        buf = b""
        try:
            while not self._stopping:
                while b"\r\n\r\n" not in buf:
                    if len(buf) > MAX_HEADER:
                        return
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, _ = lines[0].split(" ", 2)
                except ValueError:
                    return
                hdrs = {}
                for ln in lines[1:]:
                    k, _, v = ln.partition(":")
                    hdrs[k.strip().lower()] = v.strip()
                clen = int(hdrs.get("content-length", "0") or 0)
                while len(buf) < clen:
                    data = sock.recv(65536)
                    if not data:
                        return
                    buf += data
                body, buf = buf[:clen], buf[clen:]
                if self._handle(sock, method, target, hdrs, body):
                    return   # the connection became a stream (or closes)
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _respond(self, sock, status, obj, close=False):
        body = _dumps(obj).encode("utf-8")
        reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}.get(
            status, "OK")
        head = ("HTTP/1.1 %d %s\r\nContent-Type: application/json; "
                "charset=utf-8\r\nContent-Length: %d\r\n"
                "X-RateLimit-Limit: 300\r\nX-RateLimit-Remaining: 299\r\n"
                "%s\r\n" % (status, reason, len(body),
                            "Connection: close\r\n" if close else ""))
        sock.sendall(head.encode("latin-1") + body)

    def _authorised(self, hdrs, query):
        auth = hdrs.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip() == self.token
        return ("access_token=" + self.token) in query

    def _handle(self, sock, method, target, hdrs, body):
        path, _, query = target.partition("?")
        key = "%s %s" % (method, path)
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1
        close = hdrs.get("connection", "").lower() == "close"
        if method == "POST" and path == "/api/v1/apps":
            self._respond(sock, 200, {
                "id": "1", "name": "bench", "website": None,
                "redirect_uri": "urn:ietf:wg:oauth:2.0:oob",
                "client_id": "bench-client", "client_secret": "bench-secret",
                "vapid_key": ""}, close)
            return close
        if not self._authorised(hdrs, query):
            with self._lock:
                self.auth_failures += 1
            self._respond(sock, 401, {"error": "The access token is invalid"},
                          close)
            return close
        if path.startswith("/api/v1/streaming"):
            kind = path[len("/api/v1/streaming"):].strip("/")
            if kind == "" and "stream=user" in query:
                kind = "user"
            if kind != "user" or method != "GET":
                self._respond(sock, 404, {"error": "Unknown stream type"},
                              close)
                return close
            return self._open_stream(sock)
        if method == "GET" and path == "/api/v1/accounts/verify_credentials":
            a = dict(self.me)
            a["source"] = {"privacy": "public", "sensitive": False,
                           "language": "en", "note": "", "fields": [],
                           "follow_requests_count": 0}
            self._respond(sock, 200, a, close)
        elif method == "GET" and path in ("/api/v2/instance",
                                          "/api/v1/instance"):
            self._respond(sock, 200, self._instance(path), close)
        elif method == "GET" and (
                path in ("/api/v1/notifications", "/api/v1/timelines/home",
                         "/api/v1/lists", "/api/v1/filters",
                         "/api/v1/conversations", "/api/v2/filters")
                or (path.startswith("/api/v1/accounts/") and
                    path.endswith("/following"))):
            self._respond(sock, 200, [], close)   # nothing new
        elif method == "GET" and path == "/api/v1/markers":
            self._respond(sock, 200, {}, close)
        else:
            with self._lock:
                if len(self.unknown) < 20:
                    self.unknown.append(key)
            self._respond(sock, 404, {"error": "Record not found"}, close)
        return close

    def _instance(self, path):
        d = self.domain
        streaming = self.base_url.replace("http", "ws", 1)
        statuses = {"max_characters": 500, "max_media_attachments": 4,
                    "characters_reserved_per_url": 23}
        if path == "/api/v1/instance":
            return {"uri": d, "title": "Blaster", "short_description": "",
                    "description": "", "email": "admin@" + d,
                    "version": "4.3.0",
                    "urls": {"streaming_api": streaming},
                    "stats": {"user_count": 1, "status_count": 0,
                              "domain_count": 1},
                    "thumbnail": None, "languages": ["en"],
                    "registrations": False, "approval_required": False,
                    "invites_enabled": False,
                    "configuration": {"statuses": statuses},
                    "contact_account": self.me, "rules": []}
        return {"domain": d, "title": "Blaster", "version": "4.3.0",
                "source_url": "https://github.com/mastodon/mastodon",
                "description": "", "usage": {"users": {"active_month": 1}},
                "thumbnail": {"url": "https://%s/preview.png" % d},
                "icon": [], "languages": ["en"],
                "configuration": {"urls": {"streaming": streaming},
                                  "statuses": statuses,
                                  "translation": {"enabled": False}},
                "registrations": {"enabled": False,
                                  "approval_required": False,
                                  "message": None, "url": None},
                "api_versions": {"mastodon": 2},
                "contact": {"email": "admin@" + d, "account": self.me},
                "rules": []}

    def _open_stream(self, sock):
        head = ("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                "Cache-Control: private, no-store\r\n%s\r\n"
                % ("Transfer-Encoding: chunked\r\n" if self.chunked
                   else "Connection: close\r\n"))
        st = _Conn(sock)
        st.last = time.monotonic()
        sock.sendall(head.encode("latin-1") + self._frame(b":)\n"))
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        except OSError:
            pass
        with self._lock:
            old = self._stream
            self._stream = st
            self.stream_connects += 1
            self._stream_cv.notify_all()
        if old is not None:
            self._close(old)
        # Park this thread until the peer goes away; writes come from
        # fire() in the caller's thread.
        try:
            while not st.closed and not self._stopping:
                data = sock.recv(4096)
                if not data:
                    break
        except (OSError, ssl.SSLError, ValueError):
            pass
        with self._lock:
            if self._stream is st:
                self._stream = None
        st.closed = True
        return True

    def stats(self):
        with self._lock:
            return {"requests": dict(self.requests),
                    "unknown": list(self.unknown),
                    "stream_connects": self.stream_connects,
                    "streaming": self._stream is not None,
                    "auth_failures": self.auth_failures}


# ---- standalone: a small control channel --------------------------------

_batch_ids = itertools.count(1)


def _control(b, conn, batches):
    """One client's commands; True when told to quit."""
    f = conn.makefile("rwb", buffering=0)
    for raw in f:
        words = raw.decode("utf-8", "replace").split()
        if not words:
            continue
        cmd, a = words[0], words[1:]
        try:
            if cmd == "prepare":
                bt = b.prepare(int(a[0]), int(a[1]) if len(a) > 1 else 1,
                               int(a[2]) if len(a) > 2 else 0)
                bid = next(_batch_ids)   # never reused, even after free
                batches[bid] = bt
                out = {"batch": bid, "first_seq": bt.first_seq, "n": bt.n,
                       "senders": bt.senders, "bytes": len(bt.blob)}
            elif cmd == "free":
                batches.pop(int(a[0]), None)
                out = {"ok": True}
            elif cmd == "wait_stream":
                out = {"ok": b.wait_stream(float(a[0]) if a else 10)}
            elif cmd == "has_stream":
                out = {"ok": b.has_stream()}
            elif cmd == "drop_stream":
                b.drop_stream()
                out = {"ok": True}
            elif cmd == "fire":
                out = b.fire(batches[int(a[0])])
            elif cmd == "fire_paced":
                out = {"stamps_ns": b.fire_paced(batches[int(a[0])],
                                                 float(a[1]))}
            elif cmd == "stats":
                out = b.stats()
            elif cmd == "quit":
                f.write(b'{"ok":true}\n')
                return True
            else:
                out = {"error": "unknown command %r" % cmd}
        except Exception as e:  # the control channel reports, never dies
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        f.write((_dumps(out) + "\n").encode())
    return False


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tls", action="store_true")
    p.add_argument("--token", default="bench-token")
    p.add_argument("--cert-dir", default=None,
                   help="where cert.pem/key.pem are (made if missing)")
    p.add_argument("--no-chunked", action="store_true",
                   help="close-delimited SSE instead of chunked")
    p.add_argument("--info-file", required=True)
    args = p.parse_args(argv)
    b = Blaster(tls=args.tls, token=args.token, cert_dir=args.cert_dir,
                chunked=not args.no_chunked).start()
    ctl = socket.socket()
    ctl.bind((HOST, 0))
    ctl.listen(4)
    info = {"port": b.port, "base_url": b.base_url, "token": b.token,
            "ca_file": b.ca_file, "control_port": ctl.getsockname()[1],
            "pid": os.getpid()}
    tmp = args.info_file + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.replace(tmp, args.info_file)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    batches = {}
    try:
        while True:
            conn, _ = ctl.accept()
            with conn:
                if _control(b, conn, batches):
                    break
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        ctl.close()
        b.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
