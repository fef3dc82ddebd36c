"""A small framework for mock HTTP APIs of social networks (stdlib only).

A network mock is a MockServer subclass that adds its routes and its state;
the framework serves HTTP/1.1 (and TLS) on 127.0.0.1, logs every request,
sends JSON, runs streams, keeps rate-limit windows, plays scripted faults
and exposes a control endpoint under /_mock/.  A minimal one:

    from mockframe import (HTTPError, HeaderStyle, MockServer, RateLimiter,
                           dumps, sse_event)

    class MockChat(MockServer):
        server_name = "chat"
        CONTROL = MockServer.CONTROL + ("add_message",)
        STATE = MockServer.STATE + ("messages",)

        def __init__(self, **kw):
            MockServer.__init__(self, **kw)
            self.messages = []
            self.limiter = RateLimiter(100, 900, HeaderStyle(
                "x-rate-limit-limit", "x-rate-limit-remaining",
                "x-rate-limit-reset"))
            self.route("GET", r"/2/messages", self.list_messages)
            self.route("GET", r"/2/stream", self.open_stream)

        def ratelimit(self, call):
            return self.limiter, call.headers.get("authorization"), True

        def add_message(self, text):
            with self._lock:
                self.messages.append({"text": text})
            for s in self.open_streams():
                s.push(sse_event("message", dumps({"text": text})))
            return self.messages[-1]

        def list_messages(self, call):
            if "authorization" not in call.headers:
                raise HTTPError(401, {"title": "Unauthorized"})
            return 200, {"data": self.messages}

        def open_stream(self, call):
            return self.stream(call, heartbeat=b"\\r\\n", interval=20)

    m = MockChat(tls=True).start()      # m.base_url, m.ca_file
    m.fail("/2/messages", status=503, times=2)
    ...
    m.stop()

Modules: server (MockServer, the request log, faults, control endpoint),
streams (Stream, sse_event), ratelimit (RateLimiter, HeaderStyle), control
(serve_main for a mock's command line, spawn and Remote to run and script
one in another process), certs (test certificates).
"""

from .control import ControlError, Remote, serve_main, spawn, write_atomic
from .ratelimit import HeaderStyle, RateLimiter, iso_us
from .server import (CONTROL_PREFIX, Call, HTTPError, MockServer, Request,
                     dumps, plain, wait_for)
from .streams import Stream, sse_event

__all__ = ["CONTROL_PREFIX", "Call", "ControlError", "HTTPError",
           "HeaderStyle", "MockServer", "RateLimiter", "Remote", "Request",
           "Stream", "dumps", "iso_us", "plain", "serve_main", "spawn",
           "sse_event", "wait_for", "write_atomic"]
