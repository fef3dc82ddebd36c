"""Fixed-window rate limits with per-network header names.

A RateLimiter counts requests per key (whatever the network limits by: a
token, a token and an endpoint family, an address) in windows of `window`
seconds.  Every response gets the window's headers; once nothing remains,
the server answers 429 until the window resets.  A network with limits of
different sizes (X: per endpoint family) uses one RateLimiter per family.
"""

import math
import threading
import time


def iso_us(t):
    """2026-05-02T09:20:00.000000Z: ISO-8601 UTC with microseconds."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%06dZ" % (int(round(t * 1e6)) % 1000000)


class HeaderStyle(object):
    """How a network spells its rate-limit headers.  reset_format is "iso"
    (ISO-8601 with microseconds) or "epoch" (Unix seconds); policy, when
    named, carries "<limit>;w=<window seconds>" (the IETF draft Bluesky
    follows).  A name of None leaves that header out."""

    def __init__(self, limit, remaining, reset, reset_format="epoch",
                 policy=None):
        if reset_format not in ("iso", "epoch"):
            raise ValueError("reset_format must be 'iso' or 'epoch'")
        self.names = (limit, remaining, reset, policy)
        self.reset_format = reset_format

    def headers(self, limit, remaining, reset, window):
        reset_text = (iso_us(reset) if self.reset_format == "iso"
                      else str(int(math.ceil(reset))))
        values = (str(limit), str(max(0, remaining)), reset_text,
                  "%d;w=%d" % (limit, window))
        return [(n, v) for n, v in zip(self.names, values) if n]


class RateLimiter(object):
    """limit requests per window seconds for each key.  Windows are aligned
    to multiples of `window` since the epoch, as Rack::Attack's are (a guess
    for networks that do not say).  body is the JSON (or text) of the 429;
    retry_after adds a Retry-After header to it."""

    def __init__(self, limit, window, style, body=None, retry_after=True):
        self.limit = int(limit)
        self.window = window
        self.style = style
        self.body = body if body is not None else {
            "error": "Too Many Requests"}
        self.retry_after = retry_after
        self._lock = threading.Lock()
        self._windows = {}      # key -> [remaining, reset time]

    def _window_end(self, now):
        return now - (now % self.window) + self.window

    def take(self, key, count=True):
        """Count one request for key (unless count is False).  Returns
        (headers, wait): wait is None when the request may go on, else the
        seconds until the window resets; answer with throttled()."""
        now = time.time()
        with self._lock:
            w = self._windows.get(key)
            if w is None or now >= w[1]:
                w = [self.limit, self._window_end(now)]
                self._windows[key] = w
            wait = None
            if count and w[0] <= 0:
                wait = w[1] - now
            elif count:
                w[0] -= 1
            return self.headers(w[0], w[1]), wait

    def headers(self, remaining, reset):
        return self.style.headers(self.limit, remaining, reset, self.window)

    def exhausted_headers(self, headers):
        """headers (from take) as they read once nothing is left."""
        names = self.style.names
        return [(k, "0" if k == names[1] else v) for k, v in headers]

    def throttled(self, headers, wait):
        """(status, body, headers) of the 429 for a request that take()
        told to wait; headers replace the ones take() gave."""
        headers = self.exhausted_headers(headers)
        if self.retry_after:
            headers.append(("Retry-After", str(max(1, math.ceil(wait)))))
        return 429, self.body, headers

    def set(self, remaining, reset=None, keys=None, limit=None):
        """Force the window of each key (every key seen so far when None):
        `remaining` requests left until `reset` (Unix time; default the end
        of the current window).  limit changes the limit for new windows."""
        with self._lock:
            if limit is not None:
                self.limit = int(limit)
            if reset is None:
                reset = self._window_end(time.time())
            for k in (list(self._windows) if keys is None else keys):
                self._windows[k] = [int(remaining), reset]
