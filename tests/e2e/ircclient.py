"""A small, strict IRC client for end-to-end tests (standard library only)."""
import base64
import re
import socket
import time


def parse(line):
    """Split a raw IRC line into (tags, prefix, command, params)."""
    tags = {}
    if line.startswith("@"):
        raw, line = line[1:].split(" ", 1)
        for item in raw.split(";"):
            k, _, v = item.partition("=")
            v = (v.replace("\\:", ";").replace("\\s", " ").replace("\\r", "\r")
                 .replace("\\n", "\n").replace("\\\\", "\\"))
            tags[k] = v
    prefix = None
    if line.startswith(":"):
        prefix, line = line[1:].split(" ", 1)
    params = []
    while line:
        if line.startswith(":"):
            params.append(line[1:])
            break
        part, _, line = line.partition(" ")
        if part:
            params.append(part)
        line = line.lstrip(" ") if not line.startswith(" :") else line[1:]
    command = params.pop(0) if params else ""
    return tags, prefix, command, params


class Msg:
    def __init__(self, raw):
        self.raw = raw
        self.tags, self.prefix, self.command, self.params = parse(raw)
        self.nick = self.prefix.split("!")[0] if self.prefix else None

    def __repr__(self):
        return "Msg(%r)" % self.raw


class Client:
    def __init__(self, port, host="127.0.0.1", rcvbuf=None, timeout=10,
                 tls=None):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname=host)
        self.buf = b""
        self.lines = []  # every line received, in order
        self.pending = []  # received and not yet consumed by expect()
        self.closed = False
        self.timeout = timeout
        self.nick = None
        self.auto_pong = True

    def send(self, line):
        data = line if isinstance(line, bytes) else line.encode()
        self.sock.sendall(data + (b"" if data.endswith(b"\n") else b"\r\n"))

    def send_raw(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.time()
        if remaining <= 0:
            return False
        self.sock.settimeout(min(remaining, 1.0))
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return True
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        if not data:
            self.closed = True
            return False
        self.buf += data
        while b"\n" in self.buf:
            raw, self.buf = self.buf.split(b"\n", 1)
            text = raw.rstrip(b"\r").decode("utf-8", "replace")
            msg = Msg(text)
            if msg.command == "PING" and self.auto_pong:
                self.send("PONG :" + (msg.params[0] if msg.params else ""))
            self.lines.append(msg)
            self.pending.append(msg)
        return True

    def expect(self, pred, timeout=None, what=None):
        """Return the first pending message matching pred (a command name, a
        regex on the raw line prefixed with 're:', or a callable)."""
        if isinstance(pred, str):
            if pred.startswith("re:"):
                rx = re.compile(pred[3:])
                test = lambda m: rx.search(m.raw)
            else:
                cmd = pred
                test = lambda m: m.command == cmd
        else:
            test = pred
        deadline = time.time() + (timeout or self.timeout)
        while True:
            for i, m in enumerate(self.pending):
                if test(m):
                    del self.pending[: i + 1]
                    return m
            if self.closed or not self._fill(deadline):
                raise AssertionError(
                    "did not get %s; last lines: %s"
                    % (what or pred, [m.raw for m in self.lines[-15:]]))

    def collect(self, seconds):
        """Read for a while; return what arrived."""
        deadline = time.time() + seconds
        while time.time() < deadline and not self.closed and self._fill(deadline):
            pass
        got, self.pending = self.pending, []
        return got

    def wait_closed(self, timeout=10):
        deadline = time.time() + timeout
        while not self.closed:
            if not self._fill(deadline) and not self.closed:
                raise AssertionError("connection still open")
        return True

    def register(self, nick="alice", password=None, caps=None, sasl=None):
        """Register; caps: a list to request with CAP LS 302 first;
        sasl: (user, password) to authenticate with SASL PLAIN."""
        self.nick = nick
        if caps is not None or sasl is not None:
            self.send("CAP LS 302")
        if password is not None:
            self.send("PASS " + password)
        self.send("NICK " + nick)
        self.send("USER %s 0 * :Test User %s" % (nick, nick))
        if caps is not None or sasl is not None:
            self.expect(lambda m: m.command == "CAP" and m.params[1] == "LS")
            want = list(caps or [])
            if sasl is not None and "sasl" not in want:
                want.append("sasl")
            if want:
                self.send("CAP REQ :" + " ".join(want))
                ack = self.expect("CAP")
                assert ack.params[1] == "ACK", ack
            if sasl is not None:
                self.send("AUTHENTICATE PLAIN")
                self.expect(lambda m: m.command == "AUTHENTICATE")
                blob = base64.b64encode(
                    ("%s\0%s\0%s" % (sasl[0], sasl[0], sasl[1])).encode()).decode()
                self.send("AUTHENTICATE " + blob)
                res = self.expect(lambda m: m.command in ("903", "904"))
                if res.command == "904":
                    self.send("CAP END")
                    return res
            self.send("CAP END")
        return self.expect(lambda m: m.command in ("001", "464", "433", "432"))

    def welcome(self, nick="alice", **kw):
        """Register and wait until joined to the control channel."""
        res = self.register(nick, **kw)
        assert res.command == "001", res
        self.expect(lambda m: m.command == "366" and m.params[1] == "&parley")
        return res

    def say(self, target, text):
        self.send("PRIVMSG %s :%s" % (target, text))

    def bot_lines(self, target="&parley", seconds=1.0):
        return [m.params[1] for m in self.collect(seconds)
                if m.nick == "parley" and m.params and m.params[0] == target]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass
