"""Long-lived streaming responses (server-sent events and the like).

A handler answers with MockServer.stream(call, ...); that writes the
response head, registers a Stream and then runs the stream's loop in the
handler's own thread until the stream ends, is dropped, the peer goes away
or the server stops.  Other threads push bytes into it.
"""

import select
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

    def end(self):
        with self.cond:
            self.closed = True
            self.cond.notify()

    def drop(self, rst=False):
        with self.cond:
            self.closed = True
            self.dropped = True
            self.cond.notify()
        try:
            if rst:
                set_reset_on_close(self.sock)
        except OSError:
            pass
        shutdown(self.sock)

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
