"""Long-lived streaming responses (server-sent events and the like).

A handler answers with MockServer.stream(call, ...); that writes the
response head, registers a Stream and then runs the stream's loop in the
handler's own thread until the stream ends, is dropped, the peer goes away
or the server stops.  Other threads push bytes into it.

With MockServer.stream_loop set, plain (not TLS, not fragmented) streams
are served instead by one StreamLoop thread for all of them, and the
handler's thread ends: a mock holding thousands of streams (the scale
benchmark) would otherwise hold thousands of threads waking up in turn,
all after the one interpreter lock.
"""

import heapq
import select
import selectors
import socket
import ssl
import struct
import threading
import time


def sse_event(name=None, data="", id=None):
    """One server-sent event as bytes; multi-line data becomes several data:
    lines, as the SSE format requires."""
    out = []
    if id is not None:
        out.append("id: %s\n" % id)
    if name is not None:
        out.append("event: %s\n" % name)
    for line in str(data).split("\n"):
        out.append("data: %s\n" % line)
    return ("".join(out) + "\n").encode("utf-8", "surrogatepass")


def shutdown(sock):
    """shutdown(2) on the fd; SSLSocket.shutdown would also detach the TLS
    object under a thread that may be writing through it."""
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def set_reset_on_close(sock):
    """Make close() send a TCP RST instead of a FIN (SO_LINGER, zero)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))


def peer_closed(sock):
    """True once the client has closed its end (or the socket is gone)."""
    try:
        r, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    if not r:
        return False
    old = sock.gettimeout()
    try:
        sock.settimeout(0.01)
        return sock.recv(1) == b""
    except (socket.timeout, ssl.SSLWantReadError):
        return False
    except OSError:
        return True
    finally:
        try:
            sock.settimeout(old)
        except OSError:
            pass


class Stream(object):
    """One open streaming response.  kind and token are the network's to
    use (what the client subscribed to, who it is); push() queues bytes,
    end() finishes gracefully (final chunk), drop() cuts the connection."""

    def __init__(self, sock, kind=None, token=None, chunked=True,
                 fragment=None):
        self.loop = None        # the StreamLoop serving it, if one does
        self.sock = sock
        self.kind = kind
        self.token = token
        self.chunked = chunked
        # write every piece in slices of this many bytes (hostile framing)
        self.fragment = fragment
        self.cond = threading.Condition()
        self.pending = []
        self.closed = False     # ended by the server (graceful)
        self.dropped = False    # cut off abruptly

    def push(self, data):
        with self.cond:
            if not self.closed:
                self.pending.append(data)
                self.cond.notify()
        self._kick()

    def end(self):
        with self.cond:
            self.closed = True
            self.cond.notify()
        self._kick()

    def drop(self, rst=False):
        with self.cond:
            self.closed = True
            self.dropped = True
            self.cond.notify()
        self._kick()
        try:
            if rst:
                set_reset_on_close(self.sock)
        except OSError:
            pass
        shutdown(self.sock)

    def _kick(self):
        if self.loop is not None:
            self.loop.kick(self)

    def _write(self, w, data):
        frag = self.fragment
        pieces = [data] if not frag else [
            data[i:i + frag] for i in range(0, len(data), frag)]
        for piece in pieces:
            if self.chunked:
                w.write(b"%x\r\n" % len(piece) + piece + b"\r\n")
            else:
                w.write(piece)
            if frag:
                time.sleep(0.002)

    def run(self, w, preamble, heartbeat, interval, stopping, tick=0.2):
        """The loop: write what is pushed, a heartbeat every interval
        seconds, until the stream ends or the peer or the server goes.
        Every `tick` seconds without news it looks whether the peer has
        gone; a mock holding thousands of streams makes that rarer so that
        its own wake-ups do not crowd out the gateway it measures."""
        try:
            if preamble:
                self._write(w, preamble)
            next_hb = time.time() + interval
            while not stopping.is_set():
                with self.cond:
                    if not self.pending and not self.closed:
                        self.cond.wait(
                            max(0.0, min(tick, next_hb - time.time())))
                    data = self.pending
                    self.pending = []
                    closed, dropped = self.closed, self.dropped
                if dropped:
                    break
                if data:
                    self._write(w, b"".join(data))
                if closed:
                    if self.chunked:
                        w.write(b"0\r\n\r\n")
                    break
                if heartbeat and time.time() >= next_hb:
                    self._write(w, heartbeat)
                    next_hb = time.time() + interval
                if peer_closed(self.sock):
                    break
        except (OSError, ValueError):
            pass
        finally:
            self.closed = True


class _Out(object):
    """What Stream._write writes to under a StreamLoop: sends at once what
    the socket takes and keeps the rest for when it is writable."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.failed = False

    def write(self, data):
        self.buf += data
        self.flush()

    def flush(self):
        while self.buf and not self.failed:
            try:
                n = self.sock.send(self.buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self.failed = True
                return
            del self.buf[:n]


class StreamLoop(object):
    """One thread serving every stream handed to it: pushed bytes,
    heartbeats, a peer going away, the end.  Writes never block it (a
    stream's unsent bytes wait for its socket to be writable)."""

    def __init__(self, stopping, on_done, name="streams"):
        # on_done(stream) once a stream's socket is closed
        self.stopping = stopping
        self.on_done = on_done
        self.sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self.lock = threading.Lock()
        self.new = []           # (stream, preamble, heartbeat, interval)
        self.kicked = set()
        self.woken = False
        self.done = False
        self.live = {}          # stream: [out, heartbeat, interval, next]
        self.beats = []         # heap of (when, seq, stream)
        self.seq = 0
        self.thread = threading.Thread(target=self._run, name=name,
                                       daemon=True)
        self.thread.start()

    def add(self, s, preamble, heartbeat, interval):
        s.loop = self
        with self.lock:
            done = self.done
            if not done:
                self.new.append((s, preamble, heartbeat, interval))
        if done:    # the server stopped under this stream's handler
            s.closed = True
            _close_sock(s.sock)
            self.on_done(s)
        else:
            self._wake()

    def kick(self, s):
        with self.lock:
            self.kicked.add(s)
        self._wake()

    def _wake(self):
        with self.lock:
            if self.woken:
                return
            self.woken = True
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def join(self, timeout):
        self._wake()
        self.thread.join(timeout)

    def _run(self):
        try:
            while not self.stopping.is_set():
                timeout = 0.5
                if self.beats:
                    timeout = max(0.0, min(timeout,
                                           self.beats[0][0] - time.time()))
                for key, mask in self.sel.select(timeout):
                    if key.data is None:
                        try:
                            while self._wake_r.recv(4096):
                                pass
                        except OSError:
                            pass
                        continue
                    self._ready(key.data, mask)
                with self.lock:
                    self.woken = False
                    new, self.new = self.new, []
                    kicked, self.kicked = self.kicked, set()
                for s, preamble, heartbeat, interval in new:
                    self._start(s, preamble, heartbeat, interval)
                for s in kicked:
                    if s in self.live:
                        self._pending(s)
                self._heartbeats()
        finally:
            for s in list(self.live):
                self._close(s)
            with self.lock:
                self.done = True
                new, self.new = self.new, []
            for s, _, _, _ in new:
                s.closed = True
                _close_sock(s.sock)
                self.on_done(s)
            self.sel.close()
            self._wake_r.close()
            self._wake_w.close()

    def _start(self, s, preamble, heartbeat, interval):
        try:
            s.sock.setblocking(False)
        except OSError:
            pass
        out = _Out(s.sock)
        # out, heartbeat, interval, next heartbeat, events waited for
        self.live[s] = [out, heartbeat, interval, time.time() + interval,
                        selectors.EVENT_READ]
        try:
            self.sel.register(s.sock, selectors.EVENT_READ, s)
        except (OSError, ValueError):
            self._close(s)
            return
        if heartbeat:
            self._schedule(s)
        if preamble:
            s._write(out, preamble)
        self._pending(s)

    def _schedule(self, s):
        self.seq += 1
        heapq.heappush(self.beats, (self.live[s][3], self.seq, s))

    def _ready(self, s, mask):
        if s not in self.live:
            return
        if mask & selectors.EVENT_READ:
            # a stream's client sends nothing more: this is it going away
            try:
                data = s.sock.recv(4096)
            except (BlockingIOError, InterruptedError):
                data = None
            except OSError:
                data = b""
            if data == b"":
                self._close(s)
                return
        if mask & selectors.EVENT_WRITE:
            self.live[s][0].flush()
        self._settle(s)

    def _pending(self, s):
        out = self.live[s][0]
        with s.cond:
            data = s.pending
            s.pending = []
            closed, dropped = s.closed, s.dropped
        if dropped:
            self._close(s)
            return
        if data:
            s._write(out, b"".join(data))
        if closed and not getattr(s, "_ending", False):
            s._ending = True
            if s.chunked:
                out.write(b"0\r\n\r\n")
        self._settle(s)

    def _heartbeats(self):
        now = time.time()
        while self.beats and self.beats[0][0] <= now:
            when, _, s = heapq.heappop(self.beats)
            st = self.live.get(s)
            if st is None or st[3] != when or s.closed:
                continue
            s._write(st[0], st[1])
            st[3] = time.time() + st[2]
            self._schedule(s)
            self._settle(s)

    def _settle(self, s):
        """Close a stream that failed or has ended and sent everything;
        else wait for writability only while bytes are waiting."""
        st = self.live.get(s)
        if st is None:
            return
        out = st[0]
        if out.failed or (getattr(s, "_ending", False) and not out.buf):
            self._close(s)
            return
        events = selectors.EVENT_READ
        if out.buf:
            events |= selectors.EVENT_WRITE
        if events == st[4]:
            return
        st[4] = events
        try:
            self.sel.modify(s.sock, events, s)
        except (OSError, ValueError, KeyError):
            self._close(s)

    def _close(self, s):
        if self.live.pop(s, None) is None:
            return
        s.closed = True
        try:
            self.sel.unregister(s.sock)
        except (OSError, ValueError, KeyError):
            pass
        _close_sock(s.sock)
        self.on_done(s)


def _close_sock(sock):
    try:
        socket.socket.shutdown(sock, socket.SHUT_WR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
