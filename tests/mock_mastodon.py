#!/usr/bin/python3
"""A faithful, in-process mock of a Mastodon server (client API + streaming).

Standard library only.  Typical use from a test:

    sys.path.insert(0, TESTS_DIR)
    from mock_mastodon import MockMastodon

    m = MockMastodon().start()
    ...  # point the gateway at m.base_url with token m.token
    n = m.add_mention("alice@example.social", "is the bridge up?")
    assert m.wait_for(lambda: m.posted)
    m.stop()

What it imitates (Mastodon 4.3/4.4 behaviour, checked against
mastodon/mastodon and mastodon/documentation):

* Ids are decimal *strings*.  By default they start at 9999999999999999900:
  every id exceeds 2**63 (no client may store them in an int64) and after
  100 ids they grow from 19 to 20 digits, so a client comparing ids as plain
  strings breaks early.  Pass ``id_start`` to change this.
* Auth: ``Authorization: Bearer`` (or ``access_token`` parameter), 401
  ``{"error":"The access token is invalid"}``.  OAuth scopes are enforced
  ("read"/"write"/"follow"/"profile" cover their sub-scopes): a token only
  works for what it was granted.  The initial token has "read write follow
  push".
* Pagination exactly as Rails does it: ``max_id``/``since_id``/``min_id``,
  ``limit`` (``limit=0`` or ``limit=abc`` gives an empty page, as on a real
  server), ``types[]``/``exclude_types[]`` (a scalar ``types=mention`` is
  ignored, as Rails' strong parameters drop it), ``Link`` header with
  ``rel="next"`` (max_id) and ``rel="prev"`` (min_id), query keys sorted,
  ``types%5B%5D=`` encoding.
* Rate limits: ``X-RateLimit-Limit/Remaining/Reset`` on every response,
  per token, 300 per 5-minute window; at 0 remaining the next request gets
  429 ``{"error":"Too many requests"}`` until the reset time.  Benchmarks that
  need more: ``MockMastodon(ratelimit_limit=10**9)`` or ``set_ratelimit``.
* Status length: code points of ``spoiler_text + status``, every http(s)
  URL counts 23, a remote mention ``@user@domain`` counts as ``@user``.
* Posting renders HTML like TextFormatter (paragraphs, ``<br />``, h-card
  mentions, hashtags, shortened links with invisible/ellipsis spans) and
  resolves ``@user@domain`` mentions (unknown remote accounts are created, as
  if WebFinger succeeded; unknown bare ``@user`` stays plain text).
* Your own new status is also pushed as an ``update`` on the user stream (it
  lands in your home timeline), as a real server does.  Streamed ``update``
  and ``status.update`` payloads carry no viewer fields (favourited,
  reblogged, muted, bookmarked, pinned): the real server renders them without
  a current user.
* ``configuration.urls.streaming`` is ``ws://127.0.0.1:PORT`` (``wss://`` with
  TLS), i.e. the same host in the scheme a real server uses.
* Streaming: ``/api/v1/streaming/user``, ``/user/notification``,
  ``/direct``, ``/api/v1/streaming?stream=...``; ``:)`` first, ``:thump``
  heartbeats every ``heartbeat_seconds``; events are sent only to connected
  streams (missed ones must be back-filled through REST).  No WebSocket.
* Rate-limit 429s carry no Retry-After, as Rack::Attack's do not.

Built on tests/mockframe (HTTP, TLS, streams, rate-limit windows,
scripted faults, the request log and the control endpoint); this file holds
only what is Mastodon.

Test control (all thread-safe; also ``POST /_mock/<name>`` with a JSON object
of keyword arguments, answering JSON; ``GET /_mock/<attribute>`` returns the
state attributes listed below):  add_account, add_mention, add_mentions,
add_dm, add_status, add_favourite, add_reblog, add_follow, edit_status,
delete_status, set_streaming, set_ratelimit, revoke, issue_code, add_token,
add_user, add_users, mention_users (more users on this one instance, each
token acting for its own account with its own notifications and streams:
one mock serves the many accounts of one gateway), and from the framework fail (see MockServer.fail: status, close, reset,
hang, partial body, redirect, delay), clear_failures, clear_requests,
drop_streams, stream_count.
State: statuses, posted, favourited, reblogged, followed, notifications,
conversations, accounts, requests, stream_connects, tokens, apps.

CLI:  mock_mastodon.py --port-file F [--tls] [--no-streaming]
      [--info-file F.json] [--max-characters N] [--token T] [--acct A]
runs until SIGTERM/SIGINT.  The port file holds the port number only; the
info file holds {"port", "base_url", "ca_file", "token"} as JSON.
"""

import base64
import collections
import email.parser
import email.policy
import hashlib
import json
import re
import secrets
import sys
import time
import urllib.parse

from mockframe import (HTTPError, HeaderStyle, MockServer, RateLimiter,
                       Request, dumps, serve_main, sse_event)

__all__ = ["MockMastodon", "Request", "render_text", "count_length"]

OOB = "urn:ietf:wg:oauth:2.0:oob"
VIEWER_KEYS = ("favourited", "reblogged", "muted", "bookmarked", "pinned")
ALL_SCOPES = "read write follow push"
RL_PERIOD = 300

ERR_TOKEN = "The access token is invalid"
ERR_NOT_FOUND = "Record not found"
ERR_REPLY_NOT_FOUND = ("The post you are trying to reply to does not appear "
                       "to exist.")
ERR_SCOPE = "This action is outside the authorized scopes"
ERR_INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client "
    "authentication included, or unsupported authentication method.")
ERR_INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not "
    "match the redirection URI used in the authorization request, or was "
    "issued to another client.")

HTTP_REASONS = {
    500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Temporarily Unavailable", 504: "Gateway Time-out",
}


# --------------------------------------------------------------------------
# helpers: time, escaping, text formatting, length counting
# --------------------------------------------------------------------------

def _iso_ms(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % (int(t * 1000) % 1000)


def _parse_iso(s):
    m = re.match(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?Z$", s)
    if not m:
        raise ValueError("not an ISO-8601 UTC timestamp: %r" % (s,))
    import calendar
    base = calendar.timegm(tuple(int(x) for x in m.groups()[:6]) +
                           (0, 0, 0))
    return base + (float(m.group(7)) if m.group(7) else 0.0)


def _h(s):
    """ERB::Util.html_escape (Rails escapes ' as &#39;)."""
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#39;"))


def _to_i(v):
    """Ruby String#to_i: leading integer or 0."""
    if v is None:
        return 0
    m = re.match(r"^\s*([+-]?\d+)", str(v))
    return int(m.group(1)) if m else 0


def _present(v):
    return v is not None and not (isinstance(v, str) and v.strip() == "")


def _truthy(v):
    """ActiveModel::Type::Boolean."""
    if isinstance(v, bool):
        return v
    if v is None:
        return False
    return str(v).strip() not in ("", "0", "f", "F", "false", "FALSE",
                                  "off", "OFF", "False")


URL_RE = r"https?://[^\s<>\"'\u00a0]+"
_URL_TRAIL = ".,;:!?)]}'\""
MENTION_RE = r"(?<![=/\w])@([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*(?:@[\w.-]+\w)?)"
HASHTAG_RE = r"(?<![=/\w&#])#(\w*[^\W\d]\w*)"
_ENTITY_RE = re.compile(
    "(?P<url>%s)|(?P<mention>%s)|(?P<tag>%s)" % (URL_RE, MENTION_RE,
                                                 HASHTAG_RE),
    re.IGNORECASE)


def _entities(text):
    """Yield (start, end, kind, value) like twitter-text's extractor."""
    for m in _ENTITY_RE.finditer(text):
        if m.group("url"):
            url = m.group("url")
            while url and url[-1] in _URL_TRAIL:
                # keep a closing paren that balances one in the URL
                if url[-1] == ")" and url.count("(") >= url.count(")"):
                    break
                url = url[:-1]
            if len(url) <= len("https://"):
                continue
            yield m.start(), m.start() + len(url), "url", url
        elif m.group("mention"):
            yield m.start(), m.end(), "mention", m.group(0)[1:]
        else:
            yield m.start(), m.end(), "tag", m.group(0)[1:]


def shortened_link(url):
    prefix = re.match(r"^(https?://(www\.)?|xmpp:)", url)
    prefix = prefix.group(0) if prefix else ""
    rest = url[len(prefix):]
    display, suffix = rest[:30], rest[30:]
    cutoff = len(rest) > 30
    if len(suffix) == 1:  # Mastodon reverts a 1-character truncation
        display, suffix, cutoff = display + suffix, "", False
    return ('<a href="%s" target="_blank" rel="nofollow noopener" '
            'translate="no"><span class="invisible">%s</span>'
            '<span class="%s">%s</span><span class="invisible">%s</span></a>'
            % (_h(url), _h(prefix), "ellipsis" if cutoff else "",
               _h(display), _h(suffix)))


def mention_link(account):
    return ('<span class="h-card" translate="no"><a href="%s" '
            'class="u-url mention">@<span>%s</span></a></span>'
            % (_h(account["url"]), _h(account["username"])))


def _simple_format(html):
    """Rails simple_format(...).delete("\\n")."""
    html = html.replace("\r\n", "\n").replace("\r", "\n")
    paras = re.split(r"\n\n+", html)
    out = []
    for p in paras:
        p = re.sub(r"([^\n]\n)(?=[^\n])", r"\1<br />", p)
        out.append("<p>%s</p>" % p)
    return "".join(out).replace("\n", "")


def render_text(text, resolve_mention=None, tag_url=None):
    """Render plain text like Mastodon's TextFormatter.

    resolve_mention(acct) -> account dict or None.  Returns
    (html, [mentioned account dicts], [tag names]).
    """
    text = text.strip()
    if not text:
        return "", [], []
    out, mentions, tags = [], [], []
    pos = 0
    for start, end, kind, value in _entities(text):
        if start < pos:
            continue
        out.append(_h(text[pos:start]))
        if kind == "url":
            out.append(shortened_link(value))
        elif kind == "mention":
            acc = resolve_mention(value) if resolve_mention else None
            if acc is None:
                out.append(_h(text[start:end]))
            else:
                out.append(mention_link(acc))
                if all(a["id"] != acc["id"] for a in mentions):
                    mentions.append(acc)
        else:
            name = value.lower()
            url = tag_url(name) if tag_url else "#"
            out.append('<a href="%s" class="mention hashtag" rel="tag">'
                       '#<span>%s</span></a>' % (_h(url), _h(value)))
            if name not in tags:
                tags.append(name)
        pos = end
    out.append(_h(text[pos:]))
    return _simple_format("".join(out)), mentions, tags


def count_length(text, spoiler_text="", url_length=23):
    """Mastodon StatusLengthValidator, counting code points."""
    def countable(s):
        if not s or not s.strip():
            return 0
        s = re.sub(URL_RE, lambda m: "x" * url_length, s)
        s = re.sub(MENTION_RE, lambda m: "@" + m.group(1).split("@")[0], s,
                   flags=re.IGNORECASE)
        return len(s)
    return countable(text) + countable(spoiler_text)


# --------------------------------------------------------------------------
# request parameter parsing (Rails-like)
# --------------------------------------------------------------------------

def _rails_set(params, key, value):
    m = re.match(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$", key)
    if not m:
        params[key] = value
        return
    parts = [m.group(1)] + re.findall(r"\[([^\[\]]*)\]", m.group(2))
    cur = params
    for i, p in enumerate(parts):
        if i == len(parts) - 1:
            cur[p] = value
            return
        if parts[i + 1] == "" and i + 1 == len(parts) - 1:
            lst = cur.get(p)
            if not isinstance(lst, list):
                lst = []
                cur[p] = lst
            lst.append(value)
            return
        d = cur.get(p)
        if not isinstance(d, dict):
            d = {}
            cur[p] = d
        cur = d


def _parse_form(qs, params):
    for k, v in urllib.parse.parse_qsl(qs, keep_blank_values=True,
                                       errors="replace"):
        _rails_set(params, k, v)
    return params


def _parse_multipart(ctype, body, params):
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype.encode("latin-1") + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise ValueError("bad multipart body")
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        _rails_set(params, name, payload.decode("utf-8", "replace"))
    return params


def _err(status, message, **extra):
    body = {"error": message}
    body.update(extra)
    return HTTPError(status, body)


# Rack::Attack's headers (mastodon/mastodon:config/initializers/
# rack_attack.rb); its 429 carries no Retry-After.
RATELIMIT_HEADERS = HeaderStyle("X-RateLimit-Limit", "X-RateLimit-Remaining",
                                "X-RateLimit-Reset", reset_format="iso")

# channels: which stream kinds receive an event
_CH_NOTIFICATION = ("user", "user:notification")
_CH_USER = ("user",)
_CH_DIRECT = ("direct",)


# --------------------------------------------------------------------------
# the mock
# --------------------------------------------------------------------------

class MockMastodon(MockServer):
    server_name = "Mastodon"

    def __init__(self, tls=False, streaming=True, max_characters=500,
                 token="test-token", acct="me", domain="mastodon.test",
                 heartbeat_seconds=5.0, id_start=9999999999999999900,
                 ratelimit_limit=300, sse_framing="chunked", verbose=False,
                 port=0):
        MockServer.__init__(self, tls=tls, port=port, verbose=verbose)
        self.streaming = streaming
        self.max_characters = max_characters
        self.token = token
        self.acct = acct
        self.domain = domain
        self.heartbeat_seconds = heartbeat_seconds
        if sse_framing not in ("chunked", "close"):
            raise ValueError("sse_framing must be 'chunked' or 'close'")
        self.sse_framing = sse_framing
        # write every SSE chunk in pieces of this many bytes (hostile
        # framing); read when a stream opens
        self.sse_fragment = None
        self.limiter = RateLimiter(ratelimit_limit, RL_PERIOD,
                                   RATELIMIT_HEADERS,
                                   body={"error": "Too many requests"},
                                   retry_after=False)
        self._next = int(id_start)

        # state (public, see module docstring)
        self.accounts = {}         # id -> Account dict
        self._acct_index = {}      # lowercased acct -> id
        self.statuses = {}         # id -> Status dict (live objects)
        self.deleted = {}          # id -> Status dict
        self.notifications = []    # ascending by id
        self.conversations = {}    # id -> Conversation dict
        self.posted = []
        self.favourited = set()
        self.reblogged = set()
        self.followed = set()      # account ids I follow
        self._followed_by = set()  # account ids following me
        self.apps = {}             # client_id -> app record
        self.tokens = {}           # token -> {"scopes", "user", "client_id"}
        self.codes = {}            # code -> record
        self.last_code = None
        self.markers = {}
        self.idempotent_replays = 0
        self._meta = {}            # status id -> internal bookkeeping
        self._idem = {}            # key -> (status id, time)
        self._reblog_of = {}       # original id -> my reblog wrapper id
        # More users on the same instance (add_user): token -> their
        # Account, and notification id -> whose it is.  Tokens not in
        # _users act for `me`, and so do notifications not in _notif_to.
        self._users = {}
        self._notif_to = {}

        self.tokens[token] = {"scopes": set(ALL_SCOPES.split()),
                              "user": True, "client_id": None}
        self.me = self._make_account(acct, None, display_name="Gateway User")
        self._add_routes()

    @property
    def ratelimit_limit(self):
        return self.limiter.limit

    @property
    def streaming_url(self):
        return self.base_url.replace("http", "ws", 1)

    # ------------------------------------------------------------------
    # entity construction
    # ------------------------------------------------------------------

    def _id(self):
        with self._lock:
            self._next += 1
            return str(self._next)

    def _make_account(self, acct, domain, display_name=None, bot=False,
                      locked=False, note=None):
        username = acct.split("@")[0]
        host = domain or self.domain
        now = time.time()
        a = {
            "id": self._id(),
            "username": username,
            "acct": acct if domain is None else "%s@%s" % (username, domain),
            "display_name": display_name if display_name is not None
            else username.capitalize(),
            "locked": bool(locked),
            "bot": bool(bot),
            "discoverable": True,
            "indexable": False,
            "group": False,
            "created_at": _iso_ms(now - now % 86400),
            "note": note if note is not None
            else "<p>A test account on %s</p>" % _h(host),
            "url": "https://%s/@%s" % (host, username),
            "uri": "https://%s/users/%s" % (host, username),
            "avatar": "https://%s/avatars/original/missing.png" % self.domain,
            "avatar_static":
                "https://%s/avatars/original/missing.png" % self.domain,
            "header": "https://%s/headers/original/missing.png" % self.domain,
            "header_static":
                "https://%s/headers/original/missing.png" % self.domain,
            "followers_count": 0,
            "following_count": 0,
            "statuses_count": 0,
            "last_status_at": None,
            "hide_collections": None,
            "emojis": [],
            "fields": [],
        }
        with self._lock:
            self.accounts[a["id"]] = a
            self._acct_index[a["acct"].lower()] = a["id"]
        return a

    def _split_acct(self, acct):
        acct = acct.lstrip("@").strip()
        if "@" in acct:
            user, dom = acct.split("@", 1)
            if dom.lower() == self.domain.lower():
                return user, None
            return user, dom
        return acct, None

    def _account(self, acct, create=True, display_name=None, bot=False):
        """Find (or create) an account by acct ("user" or "user@domain")."""
        user, dom = self._split_acct(acct)
        key = (user if dom is None else "%s@%s" % (user, dom)).lower()
        with self._lock:
            aid = self._acct_index.get(key)
            if aid is not None:
                a = self.accounts[aid]
                if display_name is not None:
                    a["display_name"] = display_name
                return a
            if not create:
                return None
            return self._make_account(
                user if dom is None else "%s@%s" % (user, dom), dom,
                display_name=display_name, bot=bot)

    def _resolver(self, allow_create_remote=True):
        def resolve(value):
            user, dom = self._split_acct(value)
            if dom is None:
                return self._account(user, create=False)
            return self._account(value, create=allow_create_remote)
        return resolve

    def _tag_url(self, name):
        return "https://%s/tags/%s" % (self.domain, urllib.parse.quote(name))

    def _media(self, item):
        if isinstance(item, str):
            item = {"url": item}
        url = item.get("url", "https://files.example/media/x.png")
        kind = item.get("type")
        if kind is None:
            ext = url.rsplit(".", 1)[-1].lower() if "." in url else ""
            kind = {"png": "image", "jpg": "image", "jpeg": "image",
                    "webp": "image", "gif": "gifv", "mp4": "video",
                    "webm": "video", "mp3": "audio", "ogg": "audio"}.get(
                        ext, "unknown")
        return {
            "id": self._id(), "type": kind, "url": url,
            "preview_url": item.get("preview_url", url),
            "remote_url": item.get("remote_url", url),
            "preview_remote_url": None, "text_url": None,
            "meta": item.get("meta", {}),
            "description": item.get("description"),
            "blurhash": item.get("blurhash"),
        }

    def _emoji(self, item):
        if isinstance(item, str):
            item = {"shortcode": item}
        sc = item["shortcode"]
        url = item.get("url", "https://%s/emoji/%s.png" % (self.domain, sc))
        return {"shortcode": sc, "url": url,
                "static_url": item.get("static_url", url),
                "visible_in_picker": True}

    def _poll(self, spec, expires_in=86400):
        multiple = False
        if isinstance(spec, dict):
            options = spec.get("options") or []
            multiple = _truthy(spec.get("multiple"))
            expires_in = _to_i(spec.get("expires_in")) or expires_in
        else:
            options = list(spec)
        return {
            "id": self._id(),
            "expires_at": _iso_ms(time.time() + expires_in),
            "expired": False, "multiple": multiple, "votes_count": 0,
            "voters_count": 0 if not multiple else None,
            "options": [{"title": str(o), "votes_count": 0} for o in options],
            "emojis": [], "voted": False, "own_votes": [],
        }

    def _make_status(self, account, text="", html=None, visibility="public",
                     in_reply_to_id=None, spoiler_text="", sensitive=None,
                     language="en", media=None, emojis=None, poll=None,
                     prefix_mention=None, extra_mentions=(), created_at=None,
                     application=None):
        """Build and store a Status; caller holds the lock."""
        sid = self._id()
        src = text
        if prefix_mention is not None and not html:
            src = "@%s %s" % (prefix_mention["acct"], text)
        mentions = []
        tags = []
        if html is None:
            html, mentions, tags = render_text(
                src, self._resolver(), self._tag_url)
        for acc in extra_mentions:
            if all(m["id"] != acc["id"] for m in mentions):
                mentions.append(acc)
        if prefix_mention is not None and all(
                m["id"] != prefix_mention["id"] for m in mentions):
            mentions.insert(0, prefix_mention)
        parent = self.statuses.get(in_reply_to_id) if in_reply_to_id else None
        host = account["url"].split("/")[2]
        st = {
            "id": sid,
            "created_at": created_at or _iso_ms(),
            "in_reply_to_id": in_reply_to_id,
            "in_reply_to_account_id":
                parent["account"]["id"] if parent else None,
            "sensitive": bool(sensitive) if sensitive is not None
            else bool(spoiler_text),
            "spoiler_text": spoiler_text or "",
            "visibility": visibility,
            "language": language,
            "uri": "https://%s/users/%s/statuses/%s" % (
                host, account["username"], sid),
            "url": "https://%s/@%s/%s" % (host, account["username"], sid),
            "replies_count": 0,
            "reblogs_count": 0,
            "favourites_count": 0,
            "edited_at": None,
            "favourited": False,
            "reblogged": False,
            "muted": False,
            "bookmarked": False,
            "content": html,
            "filtered": [],
            "reblog": None,
            "account": account,
            "media_attachments": [self._media(x) for x in (media or [])],
            "mentions": [{"id": m["id"], "username": m["username"],
                          "url": m["url"], "acct": m["acct"]}
                         for m in mentions],
            "tags": [{"name": t, "url": self._tag_url(t)} for t in tags],
            "emojis": [self._emoji(e) for e in (emojis or [])],
            "card": None,
            "poll": self._poll(poll) if poll else None,
        }
        if account is self.me:
            st["pinned"] = False
            st["application"] = application or {"name": "Web",
                                                "website": None}
        if visibility == "direct" and "pinned" in st:
            del st["pinned"]
        self.statuses[sid] = st
        self._meta[sid] = {"src": text, "prefix": prefix_mention,
                           "conv": None, "spoiler": spoiler_text or ""}
        if parent:
            parent["replies_count"] += 1
        account["statuses_count"] += 1
        account["last_status_at"] = st["created_at"][:10]
        return st

    def _notification(self, ntype, account, status=None, created_at=None):
        nid = self._id()
        n = {"id": nid, "type": ntype,
             "created_at": created_at or _iso_ms(),
             "group_key": "ungrouped-%s" % nid,
             "account": account}
        if status is not None:
            n["status"] = status
        self.notifications.append(n)
        return n

    def _conversation_for(self, status, participants, unread):
        """Attach a direct status to a conversation (caller holds lock)."""
        conv = None
        parent_id = status.get("in_reply_to_id")
        if parent_id and parent_id in self._meta:
            cid = self._meta[parent_id].get("conv")
            conv = self.conversations.get(cid)
        if conv is None:
            conv = {"id": self._id(), "unread": unread, "accounts": [],
                    "last_status": status}
            self.conversations[conv["id"]] = conv
        for acc in participants:
            if acc is not self.me and all(a["id"] != acc["id"]
                                          for a in conv["accounts"]):
                conv["accounts"].append(acc)
        conv["last_status"] = status
        conv["unread"] = unread
        self._meta[status["id"]]["conv"] = conv["id"]
        return conv

    # ------------------------------------------------------------------
    # streaming fan-out
    # ------------------------------------------------------------------

    @staticmethod
    def _public_status(st):
        out = {k: v for k, v in st.items() if k not in VIEWER_KEYS}
        if st.get("reblog"):
            out["reblog"] = {k: v for k, v in st["reblog"].items()
                             if k not in VIEWER_KEYS}
        return out

    def _emit(self, events, to=None):
        """events: list of (name, payload-string, kinds); caller holds lock
        so that stream order equals creation order.  to: account ids whose
        streams get them (None: the streams of `me`)."""
        streams = self.open_streams()
        if not events or not streams:
            return
        want = to if to is not None else {self.me["id"]}
        encoded = [(sse_event(name, payload), kinds)
                   for name, payload, kinds in events]
        for s in streams:
            if self._user_of(s.token)["id"] not in want:
                continue
            data = b"".join(e for e, kinds in encoded if s.kind in kinds)
            if data:
                s.push(data)

    def _ev_notification(self, n):
        return ("notification", dumps(n), _CH_NOTIFICATION)

    def _ev_update(self, st, name="update"):
        return (name, dumps(self._public_status(st)), _CH_USER)

    def _ev_conversation(self, conv):
        return ("conversation", dumps(conv), _CH_DIRECT)

    # ------------------------------------------------------------------
    # test control API
    # ------------------------------------------------------------------

    def _user_of(self, token):
        """The local account a token acts for."""
        return self._users.get(token, self.me)

    def add_user(self, acct, token=None):
        """Another local user of this instance, with its own token (made up
        when not given), credentials, notifications and streams: one mock,
        many accounts of a gateway.  Returns the token."""
        token = token or secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = {"scopes": set(ALL_SCOPES.split()),
                                  "user": True, "client_id": None}
            self._users[token] = self._make_account(acct, None)
        return token

    def add_users(self, n, pattern="user{i}"):
        """n users at once; returns their tokens in order."""
        return [self.add_user(pattern.format(i=i), "tok-%s" % pattern.format(
            i=i)) for i in range(int(n))]

    def mention_users(self, tokens, acct="alice@example.social",
                      text="hello", stream=True):
        """One public status by `acct` that mentions the users of every
        token in `tokens`; each gets a `mention` notification and, with
        stream, the event on their streams (one write per stream, all
        pushed under one lock, as a server fans out).  Returns the
        notification ids in the order of tokens."""
        with self._lock:
            users = [self._user_of(t) for t in tokens]
            account = self._account(acct)
            st = self._make_status(account, text=text, prefix_mention=users[0],
                                   extra_mentions=users[1:])
            ids, events = [], {}
            for u in users:
                n = self._notification("mention", account, st)
                self._notif_to[n["id"]] = u["id"]
                ids.append(n["id"])
                events[u["id"]] = self._ev_notification(n)
            if stream:
                for s in self.open_streams():
                    ev = events.get(self._user_of(s.token)["id"])
                    if ev is not None and s.kind in ev[2]:
                        s.push(sse_event(ev[0], ev[1]))
            return ids

    def add_account(self, acct, display_name=None, bot=False, locked=False,
                    note=None):
        with self._lock:
            a = self._account(acct, display_name=display_name, bot=bot)
            a["bot"] = bool(bot)
            a["locked"] = bool(locked)
            if note is not None:
                a["note"] = note
            return a

    def _incoming(self, acct, text, html, visibility, in_reply_to_id,
                  spoiler_text, media, display_name, kw):
        account = self._account(acct, display_name=display_name,
                                bot=kw.pop("bot", False))
        extra = [self._account(x) for x in kw.pop("mentions", None) or []]
        st = self._make_status(
            account, text=text, html=html, visibility=visibility,
            in_reply_to_id=in_reply_to_id, spoiler_text=spoiler_text,
            media=media, prefix_mention=self.me, extra_mentions=extra,
            sensitive=kw.pop("sensitive", None),
            language=kw.pop("language", "en"),
            emojis=kw.pop("emojis", None), poll=kw.pop("poll", None),
            created_at=kw.pop("created_at", None))
        if kw:
            raise TypeError("unexpected arguments: %s" % ", ".join(kw))
        return account, st

    def add_mention(self, acct="alice@example.social", text="hello",
                    html=None, visibility="public", in_reply_to_id=None,
                    spoiler_text="", media=None, display_name=None,
                    stream=True, **kw):
        """A status by `acct` mentioning the gateway user, and its `mention`
        notification (REST, and streamed unless stream=False).  Extra
        keywords: bot, mentions (more accts), sensitive, language, emojis,
        poll (list of option titles), created_at."""
        with self._lock:
            account, st = self._incoming(acct, text, html, visibility,
                                         in_reply_to_id, spoiler_text, media,
                                         display_name, kw)
            n = self._notification("mention", account, st)
            events = []
            if account["id"] in self.followed:
                events.append(self._ev_update(st))
            events.append(self._ev_notification(n))
            if visibility == "direct":
                conv = self._conversation_for(
                    st, [account] + [self.accounts[m["id"]]
                                     for m in st["mentions"]], True)
                events.append(self._ev_conversation(conv))
            if stream:
                self._emit(events)
            return n

    def add_dm(self, acct="alice@example.social", text="hello", html=None,
               in_reply_to_id=None, spoiler_text="", media=None,
               display_name=None, stream=True, **kw):
        """A direct message: `mention` notification with a direct status plus
        a `conversation` event on the direct stream."""
        return self.add_mention(acct, text, html, "direct", in_reply_to_id,
                                spoiler_text, media, display_name, stream,
                                **kw)

    def add_mentions(self, n, acct_pattern="user{i}@example.social",
                     text="mention number {i}", visibility="public",
                     stream=True, **kw):
        """Create n mention notifications at once; streamed in one write."""
        out = []
        with self._lock:
            events = []
            for i in range(int(n)):
                account, st = self._incoming(
                    acct_pattern.format(i=i), text.format(i=i), None,
                    visibility, None, "", None, None, dict(kw))
                note = self._notification("mention", account, st)
                events.append(self._ev_notification(note))
                out.append(note)
            if stream:
                self._emit(events)
        return out

    def add_status(self, acct="alice@example.social", text="hello",
                   visibility="public", home=None, stream=True, **kw):
        """A status that does not mention the gateway user.  It is streamed
        as `update` when the author is followed (or home=True)."""
        with self._lock:
            account = self._account(acct)
            st = self._make_status(account, text=text, visibility=visibility,
                                   **kw)
            if home is None:
                home = account["id"] in self.followed
            if stream and home:
                self._emit([self._ev_update(st)])
            return st

    def _my_status(self, status_id):
        st = self.statuses.get(str(status_id))
        if st is None:
            raise KeyError("unknown status %s" % status_id)
        return st

    def add_favourite(self, status_id, acct="alice@example.social",
                      stream=True):
        with self._lock:
            st = self._my_status(status_id)
            account = self._account(acct)
            st["favourites_count"] += 1
            n = self._notification("favourite", account, st)
            if stream:
                self._emit([self._ev_notification(n)])
            return n

    def add_reblog(self, status_id, acct="alice@example.social",
                   stream=True):
        with self._lock:
            st = self._my_status(status_id)
            account = self._account(acct)
            st["reblogs_count"] += 1
            n = self._notification("reblog", account, st)
            if stream:
                self._emit([self._ev_notification(n)])
            return n

    def add_follow(self, acct="alice@example.social", stream=True):
        with self._lock:
            account = self._account(acct)
            self.me["followers_count"] += 1
            self._followed_by.add(account["id"])
            n = self._notification("follow", account)
            if stream:
                self._emit([self._ev_notification(n)])
            return n

    def edit_status(self, id, text, spoiler_text=None, html=None,
                    stream=True):
        """Edit a status: new content, edited_at, `status.update` event."""
        with self._lock:
            st = self._my_status(id)
            meta = self._meta[st["id"]]
            src = text
            if meta.get("prefix") is not None:
                src = "@%s %s" % (meta["prefix"]["acct"], text)
            if html is None:
                html, mentions, tags = render_text(src, self._resolver(),
                                                   self._tag_url)
                if meta.get("prefix") is not None and all(
                        m["id"] != meta["prefix"]["id"] for m in mentions):
                    mentions.insert(0, meta["prefix"])
                st["mentions"] = [{"id": m["id"], "username": m["username"],
                                   "url": m["url"], "acct": m["acct"]}
                                  for m in mentions]
                st["tags"] = [{"name": t, "url": self._tag_url(t)}
                              for t in tags]
            st["content"] = html
            meta["src"] = text
            if spoiler_text is not None:
                st["spoiler_text"] = spoiler_text
                meta["spoiler"] = spoiler_text
            st["edited_at"] = _iso_ms()
            events = [self._ev_update(st, "status.update")]
            if st["id"] in self.reblogged:
                n = self._notification("update", st["account"], st)
                events.append(self._ev_notification(n))
            if stream:
                self._emit(events)
            return st

    def delete_status(self, id, stream=True):
        """Delete any status: `delete` event (bare id); its notifications
        disappear from REST, as on a real server."""
        with self._lock:
            st = self._delete(str(id))
            if st is None:
                raise KeyError("unknown status %s" % id)
            if stream:
                self._emit([("delete", st["id"], _CH_USER)])
            return st

    def _delete(self, sid):
        st = self.statuses.pop(sid, None)
        if st is None:
            return None
        self.deleted[sid] = st
        self.notifications = [n for n in self.notifications
                              if n.get("status") is not st]
        for cid, conv in list(self.conversations.items()):
            if conv["last_status"] is st:
                del self.conversations[cid]
        parent = self.statuses.get(st.get("in_reply_to_id") or "")
        if parent:
            parent["replies_count"] = max(0, parent["replies_count"] - 1)
        st["account"]["statuses_count"] = max(
            0, st["account"]["statuses_count"] - 1)
        self.favourited.discard(sid)
        self.reblogged.discard(sid)
        wid = self._reblog_of.pop(sid, None)
        if wid is not None:
            self._delete(wid)
        return st

    def set_streaming(self, enabled):
        """Turn streaming on/off; turning it off drops open streams."""
        self.streaming = bool(enabled)
        if not enabled:
            self.drop_streams()
        return self.streaming

    def set_ratelimit(self, remaining, reset_iso=None, token=None,
                      limit=None):
        """Set X-RateLimit-Remaining (and Reset, ISO-8601) for `token` (all
        known tokens when None).  When Remaining reaches 0 the server
        answers 429 until Reset."""
        with self._lock:
            keys = [token] if token else list(self.tokens) + ["ip"]
        self.limiter.set(remaining, _parse_iso(reset_iso) if reset_iso
                         else None, keys, limit)

    def revoke(self, token=None):
        """Invalidate `token` (default: every token).  Its streams end, as
        the real streaming server does on a revocation."""
        with self._lock:
            victims = [token] if token else list(self.tokens)
            for t in victims:
                self.tokens.pop(t, None)
        for s in self.open_streams():
            if s.token in victims:
                s.end()
        return len(victims)

    def add_token(self, token=None, scopes=ALL_SCOPES):
        token = token or secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[token] = {"scopes": set(scopes.split()),
                                  "user": True, "client_id": None}
        return token

    def issue_code(self, client_id=None, redirect_uri=None, scope=None):
        """A one-time authorization code, as if the user approved the app
        and pasted the code.  Unbound codes work for any registered app."""
        code = secrets.token_urlsafe(32)
        with self._lock:
            self.codes[code] = {"client_id": client_id,
                                "redirect_uri": redirect_uri,
                                "scope": scope, "expires": time.time() + 600,
                                "challenge": None}
            self.last_code = code
        return code

    CONTROL = MockServer.CONTROL + (
        "add_account", "add_mention", "add_mentions", "add_dm", "add_status",
        "add_favourite", "add_reblog", "add_follow", "edit_status",
        "delete_status", "set_streaming", "set_ratelimit", "revoke",
        "issue_code", "add_token", "add_user", "add_users",
        "mention_users")
    STATE = MockServer.STATE + (
        "statuses", "deleted", "posted", "favourited", "reblogged",
        "followed", "notifications", "conversations", "accounts", "tokens",
        "apps", "token", "last_code", "markers", "idempotent_replays", "me")

    # ------------------------------------------------------------------
    # framework hooks
    # ------------------------------------------------------------------

    def ratelimit(self, call):
        # per token; calls without a valid one share one window (Rack::Attack
        # keys those by address); streams show the window but cost nothing
        token = self._bearer(call)
        return (self.limiter, token if token in self.tokens else "ip",
                not call.path.startswith("/api/v1/streaming"))

    def prepare(self, call):
        call.token = self._bearer(call)
        call.params = _parse_form(call.qs, {})
        if call.method in ("POST", "PUT", "PATCH", "DELETE") and call.body:
            self._parse_body(call.headers.get("content-type", ""), call.body,
                             call.params)

    def not_found(self, call):
        raise _err(404, ERR_NOT_FOUND)

    def json_headers(self):
        return [("Cache-Control",
                 "no-cache, no-store, max-age=0, must-revalidate"),
                ("X-Request-Id", secrets.token_hex(8))]

    def fault_body(self, status):
        """nginx's page for a 5xx (the proxy failed), else the API's
        error."""
        if status >= 500:
            reason = HTTP_REASONS.get(status, "Error")
            return ("<html>\r\n<head><title>%d %s</title></head>\r\n"
                    "<body>\r\n<center><h1>%d %s</h1></center>\r\n"
                    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                    % (status, reason, status, reason))
        return {"error": {401: ERR_TOKEN, 403: "This action is not allowed",
                          404: ERR_NOT_FOUND, 422: "Validation failed",
                          429: "Too many requests"}.get(status, "Error")}

    def info(self):
        return dict(MockServer.info(self), token=self.token)

    def _bearer(self, call):
        m = re.match(r"^\s*Bearer\s+(\S+)\s*$",
                     call.headers.get("authorization", ""), re.IGNORECASE)
        if m:
            return m.group(1)
        for k in ("access_token", "bearer_token"):
            v = call.query.get(k)
            if v and v[0]:
                return v[0]
        return None

    @staticmethod
    def _parse_body(ctype, body, params):
        ct = ctype.split(";")[0].strip().lower()
        try:
            if ct == "application/json" or ct.endswith("+json"):
                obj = json.loads(body.decode("utf-8", "replace"))
                if not isinstance(obj, dict):
                    raise ValueError("JSON body must be an object")
                for k, v in obj.items():
                    if k.endswith("[]") and not isinstance(v, list):
                        v = [v]
                    params[k[:-2] if k.endswith("[]") else k] = v
            elif ct == "multipart/form-data":
                _parse_multipart(ctype, body, params)
            else:
                _parse_form(body.decode("utf-8", "replace"), params)
        except (ValueError, TypeError) as e:
            raise _err(400, "Error while parsing request: %s" % (e,))
        return params

    # ------------------------------------------------------------------
    # auth helpers
    # ------------------------------------------------------------------

    _SCOPE_PARENT = {"read": "read", "write": "write", "follow": "follow",
                     "profile": "profile", "push": "push", "admin": "admin"}

    def _auth(self, ctx, *scopes, user=True):
        tok = ctx.token
        rec = self.tokens.get(tok) if tok else None
        if rec is None:
            raise HTTPError(401, {"error": ERR_TOKEN}, {
                "WWW-Authenticate": 'Bearer realm="Doorkeeper", '
                'error="invalid_token", error_description="%s"' % ERR_TOKEN})
        if scopes:
            have = rec["scopes"]
            ok = False
            for s in scopes:
                if s in have or s.split(":")[0] in have:
                    ok = True
                if s in ("write:follows", "read:follows",
                         "write:blocks", "write:mutes") and "follow" in have:
                    ok = True
                if s == "read:accounts" and "profile" in have:
                    ok = True
            if not ok:
                raise HTTPError(403, {"error": ERR_SCOPE}, {
                    "WWW-Authenticate": 'Bearer realm="Doorkeeper", '
                    'error="insufficient_scope", error_description="%s"'
                    % ERR_SCOPE})
        if user and not rec["user"]:
            raise _err(422, "This method requires an authenticated user")
        return rec

    # ------------------------------------------------------------------
    # routing
    # ------------------------------------------------------------------

    def _add_routes(self):
        S = r"(\d+)"
        table = [
            ("POST", r"/api/v1/apps", self._r_apps),
            ("GET", r"/api/v1/apps/verify_credentials", self._r_app_verify),
            ("GET", r"/oauth/authorize", self._r_authorize),
            ("POST", r"/oauth/authorize", self._r_authorize),
            ("POST", r"/oauth/token", self._r_token),
            ("POST", r"/oauth/revoke", self._r_revoke),
            ("GET", r"/\.well-known/oauth-authorization-server",
             self._r_oauth_meta),
            ("GET", r"/\.well-known/webfinger", self._r_webfinger),
            ("GET", r"/\.well-known/nodeinfo", self._r_nodeinfo_links),
            ("GET", r"/nodeinfo/2\.0", self._r_nodeinfo),
            ("GET", r"/api/v1/instance", self._r_instance_v1),
            ("GET", r"/api/v2/instance", self._r_instance_v2),
            ("GET", r"/api/v1/accounts/verify_credentials",
             self._r_verify_credentials),
            ("GET", r"/api/v1/accounts/lookup", self._r_lookup),
            ("GET", r"/api/v1/accounts/relationships",
             self._r_relationships),
            ("GET", r"/api/v1/accounts/" + S, self._r_account),
            ("POST", r"/api/v1/accounts/%s/follow" % S, self._r_follow),
            ("POST", r"/api/v1/accounts/%s/unfollow" % S, self._r_unfollow),
            ("GET", r"/api/v2/search", self._r_search),
            ("GET", r"/api/v1/notifications", self._r_notifications),
            ("POST", r"/api/v1/notifications/clear", self._r_notif_clear),
            ("GET", r"/api/v1/notifications/" + S, self._r_notification),
            ("POST", r"/api/v1/notifications/%s/dismiss" % S,
             self._r_notif_dismiss),
            ("GET", r"/api/v1/markers", self._r_markers_get),
            ("POST", r"/api/v1/markers", self._r_markers_post),
            ("GET", r"/api/v1/conversations", self._r_conversations),
            ("POST", r"/api/v1/conversations/%s/read" % S,
             self._r_conv_read),
            ("DELETE", r"/api/v1/conversations/" + S, self._r_conv_delete),
            ("POST", r"/api/v1/statuses", self._r_post_status),
            ("GET", r"/api/v1/statuses/" + S, self._r_status),
            ("PUT", r"/api/v1/statuses/" + S, self._r_edit_status),
            ("DELETE", r"/api/v1/statuses/" + S, self._r_delete_status),
            ("GET", r"/api/v1/statuses/%s/context" % S, self._r_context),
            ("GET", r"/api/v1/statuses/%s/source" % S, self._r_source),
            ("POST", r"/api/v1/statuses/%s/favourite" % S, self._r_fav),
            ("POST", r"/api/v1/statuses/%s/unfavourite" % S, self._r_unfav),
            ("POST", r"/api/v1/statuses/%s/reblog" % S, self._r_reblog),
            ("POST", r"/api/v1/statuses/%s/unreblog" % S, self._r_unreblog),
            ("GET", r"/api/v1/streaming.*", self._streaming),
        ]
        for method, pattern, handler in table:
            # Rails routes take a trailing slash
            self.route(method, pattern + "/?", handler)

    # -- OAuth / apps ---------------------------------------------------

    def _r_apps(self, ctx):
        p = ctx.params
        name = p.get("client_name")
        ruris = p.get("redirect_uris")
        if isinstance(ruris, list):
            ruris = [str(x) for x in ruris]
        elif _present(ruris):
            ruris = str(ruris).split()
        if not _present(name):
            raise _err(422, "Validation failed: Application name can't be "
                       "blank")
        if not ruris:
            raise _err(422, "Validation failed: Redirect URI can't be blank")
        for u in ruris:
            if u != OOB and not re.match(r"^[a-z][a-z0-9+.-]*:", u, re.I):
                raise _err(422, "Validation failed: Redirect URI must be an "
                           "absolute URI.")
        scopes = p.get("scopes")
        scopes = (" ".join(scopes) if isinstance(scopes, list)
                  else str(scopes)) if _present(scopes) else "read"
        app = {
            "id": self._id(),
            "name": str(name),
            "website": p.get("website") or None,
            "scopes": scopes.split(),
            "redirect_uri": "\n".join(ruris),
            "redirect_uris": ruris,
            "vapid_key": "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifKqfeGIm7Z-HiTU5T"
                         "9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0TzdZ2M=",
            "client_id": secrets.token_urlsafe(32),
            "client_secret": secrets.token_urlsafe(32),
            "client_secret_expires_at": 0,
        }
        with self._lock:
            self.apps[app["client_id"]] = app
        return 200, app

    def _r_app_verify(self, ctx):
        rec = self._auth(ctx, user=False)
        app = self.apps.get(rec.get("client_id")) or {}
        return 200, {"id": app.get("id", "1"),
                     "name": app.get("name", "test"),
                     "website": app.get("website"),
                     "scopes": sorted(rec["scopes"]),
                     "redirect_uri": app.get("redirect_uri", OOB),
                     "redirect_uris": app.get("redirect_uris", [OOB])}

    def _client_auth(self, ctx):
        p = ctx.params
        cid, secret = p.get("client_id"), p.get("client_secret")
        auth = ctx.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                raw = base64.b64decode(auth[6:].strip()).decode("utf-8")
                cid, secret = [urllib.parse.unquote(x)
                               for x in raw.split(":", 1)]
            except (ValueError, UnicodeDecodeError):
                pass
        app = self.apps.get(cid) if isinstance(cid, str) else None
        if app is None or not isinstance(secret, str) or \
                not secrets.compare_digest(secret, app["client_secret"]):
            raise HTTPError(401, {"error": "invalid_client",
                              "error_description": ERR_INVALID_CLIENT})
        return app

    def _r_authorize(self, ctx):
        p = ctx.params
        app = self.apps.get(p.get("client_id"))
        if app is None:
            return 401, self._html_page(
                "Authorization error", "<p>%s</p>" % _h(ERR_INVALID_CLIENT))
        ruri = p.get("redirect_uri") or app["redirect_uris"][0]
        if ruri not in app["redirect_uris"]:
            return 400, self._html_page(
                "Authorization error",
                "<p>The redirect uri included is not valid.</p>")
        if p.get("response_type") != "code":
            return 400, self._html_page(
                "Authorization error",
                "<p>The authorization server does not support this "
                "response type.</p>")
        scope = p.get("scope") or " ".join(app["scopes"])
        if not set(scope.split()) <= set(app["scopes"]) | \
                self._implied(app["scopes"]):
            return 400, self._html_page(
                "Authorization error",
                "<p>The requested scope is invalid, unknown, or "
                "malformed.</p>")
        code = self.issue_code(app["client_id"], ruri, scope)
        if p.get("code_challenge"):
            if p.get("code_challenge_method", "plain") not in ("S256",
                                                               "plain"):
                return 400, self._html_page(
                    "Authorization error",
                    "<p>The code challenge method must be S256.</p>")
            self.codes[code]["challenge"] = (
                p["code_challenge"], p.get("code_challenge_method", "plain"))
        if ruri != OOB:
            q = {"code": code}
            if p.get("state"):
                q["state"] = p["state"]
            sep = "&" if "?" in ruri else "?"
            return 302, "", [("Location",
                              ruri + sep + urllib.parse.urlencode(q))]
        return 200, self._html_page(
            "Authorization code",
            '<p>Copy this authorization code and paste it to the '
            'application.</p>\n<input class="oauth-code" readonly '
            'type="text" value="%s">\n<pre id="code">%s</pre>' % (code,
                                                                    code))

    @staticmethod
    def _implied(scopes):
        out = set()
        for s in scopes:
            if ":" not in s:
                out.update(x for x in ALL_SUBSCOPES if x.startswith(s + ":"))
        return out

    @staticmethod
    def _html_page(title, inner):
        return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                "<title>%s - Mastodon</title></head>\n<body>\n<h1>%s</h1>\n"
                "%s\n</body></html>\n" % (_h(title), _h(title), inner))

    def _r_token(self, ctx):
        p = ctx.params
        grant = p.get("grant_type")
        if grant not in ("authorization_code", "client_credentials"):
            if not _present(grant):
                raise HTTPError(400, {
                    "error": "invalid_request",
                    "error_description": "Missing required parameter: "
                    "grant_type."})
            raise HTTPError(400, {
                "error": "unsupported_grant_type",
                "error_description": "The authorization grant type is not "
                "supported by the authorization server."})
        app = self._client_auth(ctx)
        if grant == "client_credentials":
            scope = p.get("scope") or "read"
            return 200, self._new_token(app, scope, user=False)
        code = p.get("code")
        with self._lock:
            rec = self.codes.get(code) if isinstance(code, str) else None
            bad = (rec is None or rec["expires"] < time.time() or
                   (rec["client_id"] not in (None, app["client_id"])))
            ruri = p.get("redirect_uri")
            if not bad:
                if rec["redirect_uri"] is not None:
                    bad = ruri != rec["redirect_uri"]
                else:
                    bad = ruri not in app["redirect_uris"]
            if not bad and rec["challenge"] is not None:
                verifier = p.get("code_verifier") or ""
                chal, meth = rec["challenge"]
                if meth == "S256":
                    got = base64.urlsafe_b64encode(hashlib.sha256(
                        verifier.encode()).digest()).rstrip(b"=").decode()
                else:
                    got = verifier
                bad = got != chal
            if bad:
                raise HTTPError(400, {"error": "invalid_grant",
                                  "error_description": ERR_INVALID_GRANT})
            del self.codes[code]
            scope = rec["scope"] or " ".join(app["scopes"])
        return 200, self._new_token(app, scope, user=True)

    def _new_token(self, app, scope, user):
        tok = secrets.token_urlsafe(32)
        with self._lock:
            self.tokens[tok] = {"scopes": set(scope.split()), "user": user,
                                "client_id": app["client_id"]}
        return {"access_token": tok, "token_type": "Bearer", "scope": scope,
                "created_at": int(time.time())}

    def _r_revoke(self, ctx):
        self._client_auth(ctx)
        tok = ctx.params.get("token")
        if isinstance(tok, str) and tok in self.tokens:
            self.revoke(tok)
        return 200, {}

    def _r_oauth_meta(self, ctx):
        b = self.base_url
        return 200, {
            "issuer": b + "/",
            "service_documentation": "https://docs.joinmastodon.org/",
            "authorization_endpoint": b + "/oauth/authorize",
            "token_endpoint": b + "/oauth/token",
            "revocation_endpoint": b + "/oauth/revoke",
            "app_registration_endpoint": b + "/api/v1/apps",
            "scopes_supported": ALL_SCOPES.split() + ["profile"] +
            sorted(ALL_SUBSCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "code_challenge_methods_supported": ["S256"],
            "grant_types_supported": ["authorization_code",
                                      "client_credentials"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic", "client_secret_post"],
        }

    def _r_webfinger(self, ctx):
        res = ctx.params.get("resource") or ""
        m = re.match(r"^(?:acct:)?@?([^@]+)@(.+)$", str(res))
        if not m:
            raise _err(400, "Invalid resource")
        user, dom = m.group(1), m.group(2)
        if dom.lower() not in (self.domain.lower(), "127.0.0.1:%d" %
                               self.port, "localhost:%d" % self.port):
            raise _err(404, ERR_NOT_FOUND)
        a = self._account(user, create=False)
        if a is None:
            raise _err(404, ERR_NOT_FOUND)
        return 200, {
            "subject": "acct:%s@%s" % (a["username"], self.domain),
            "aliases": [a["uri"], a["url"]],
            "links": [
                {"rel": "http://webfinger.net/rel/profile-page",
                 "type": "text/html", "href": a["url"]},
                {"rel": "self", "type": "application/activity+json",
                 "href": a["uri"]}]}, [
                     ("Content-Type", "application/jrd+json; charset=utf-8")]

    def _r_nodeinfo_links(self, ctx):
        return 200, {"links": [{
            "rel": "http://nodeinfo.diaspora.software/ns/schema/2.0",
            "href": self.base_url + "/nodeinfo/2.0"}]}

    def _r_nodeinfo(self, ctx):
        return 200, {"version": "2.0",
                     "software": {"name": "mastodon", "version": "4.3.0"},
                     "protocols": ["activitypub"],
                     "services": {"outbound": [], "inbound": []},
                     "usage": {"users": {"total": 1, "activeMonth": 1,
                                         "activeHalfyear": 1},
                               "localPosts": len(self.posted)},
                     "openRegistrations": False, "metadata": {}}

    # -- instance -------------------------------------------------------

    def _statuses_config(self):
        return {"max_characters": self.max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": 23}

    def _r_instance_v1(self, ctx):
        return 200, {
            "uri": self.domain, "title": "Mock Mastodon",
            "short_description": "A mock server for tests",
            "description": "", "email": "admin@" + self.domain,
            "version": "4.3.0",
            "urls": {"streaming_api": self.streaming_url},
            "stats": {"user_count": 1, "status_count": len(self.statuses),
                      "domain_count": 1},
            "thumbnail": None, "languages": ["en"], "registrations": False,
            "approval_required": False, "invites_enabled": False,
            "configuration": {
                "accounts": {"max_featured_tags": 10},
                "statuses": self._statuses_config(),
                "media_attachments": {
                    "supported_mime_types": ["image/jpeg", "image/png"],
                    "image_size_limit": 16777216,
                    "image_matrix_limit": 33177600,
                    "video_size_limit": 103809024,
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8294400},
                "polls": {"max_options": 4, "max_characters_per_option": 50,
                          "min_expiration": 300,
                          "max_expiration": 2629746}},
            "contact_account": self.me, "rules": []}

    def _r_instance_v2(self, ctx):
        return 200, {
            "domain": self.domain, "title": "Mock Mastodon",
            "version": "4.3.0",
            "source_url": "https://github.com/mastodon/mastodon",
            "description": "A mock server for tests",
            "usage": {"users": {"active_month": 1}},
            "thumbnail": {"url": "https://%s/packs/media/images/preview.png"
                          % self.domain},
            "icon": [],
            "languages": ["en"],
            "configuration": {
                "urls": {"streaming": self.streaming_url,
                         "status": None, "about": self.base_url + "/about",
                         "privacy_policy": None, "terms_of_service": None},
                "vapid": {"public_key": "BCk-QqERU0q-CfYZjcuB6lnyyOYfJ2AifK"
                          "qfeGIm7Z-HiTU5T9eTG5GxVA0_OH5mMlI4UkkDTpaZwozy0Tz"
                          "dZ2M="},
                "accounts": {"max_featured_tags": 10,
                             "max_pinned_statuses": 5},
                "statuses": self._statuses_config(),
                "media_attachments": {
                    "description_limit": 1500,
                    "image_matrix_limit": 33177600,
                    "image_size_limit": 16777216,
                    "supported_mime_types": ["image/jpeg", "image/png",
                                             "image/gif", "video/mp4"],
                    "video_frame_rate_limit": 120,
                    "video_matrix_limit": 8294400,
                    "video_size_limit": 103809024},
                "polls": {"max_options": 4, "max_characters_per_option": 50,
                          "min_expiration": 300,
                          "max_expiration": 2629746},
                "translation": {"enabled": False}},
            "registrations": {"enabled": False, "approval_required": False,
                              "message": None, "url": None},
            "api_versions": {"mastodon": 2},
            "contact": {"email": "admin@" + self.domain,
                        "account": self.me},
            "rules": []}

    # -- accounts -------------------------------------------------------

    def _r_verify_credentials(self, ctx):
        self._auth(ctx, "read:accounts", "profile")
        with self._lock:
            a = dict(self._user_of(ctx.token))
        a["source"] = {"privacy": "public", "sensitive": False,
                       "language": "en", "note": "", "fields": [],
                       "follow_requests_count": 0,
                       "hide_collections": False, "discoverable": True,
                       "indexable": False}
        a["role"] = {"id": "-99", "name": "", "permissions": "0",
                     "color": "", "highlighted": False}
        return 200, a

    def _r_lookup(self, ctx):
        self._auth(ctx, "read:accounts")
        acct = ctx.params.get("acct")
        if not isinstance(acct, str) or not acct.strip():
            raise _err(404, ERR_NOT_FOUND)
        a = self._account(acct, create=False)
        if a is None:
            raise _err(404, ERR_NOT_FOUND)
        return 200, a

    def _r_account(self, ctx, aid):
        self._auth(ctx, "read:accounts")
        a = self.accounts.get(aid)
        if a is None:
            raise _err(404, ERR_NOT_FOUND)
        return 200, a

    def _relationship(self, aid):
        followed_by = aid in self._followed_by
        a = self.accounts[aid]
        following = aid in self.followed
        return {"id": aid, "following": following and not a["locked"],
                "showing_reblogs": following, "notifying": False,
                "languages": None, "followed_by": followed_by,
                "blocking": False, "blocked_by": False, "muting": False,
                "muting_notifications": False,
                "requested": following and a["locked"],
                "requested_by": False, "domain_blocking": False,
                "endorsed": False, "note": ""}

    def _r_relationships(self, ctx):
        self._auth(ctx, "read:follows")
        ids = ctx.params.get("id") or []
        if isinstance(ids, str):
            ids = [ids]
        with self._lock:
            return 200, [self._relationship(i) for i in ids
                         if i in self.accounts]

    def _r_follow(self, ctx, aid):
        self._auth(ctx, "write:follows")
        with self._lock:
            if aid not in self.accounts or aid == self.me["id"]:
                raise _err(404 if aid not in self.accounts else 403,
                           ERR_NOT_FOUND if aid not in self.accounts
                           else "This action is not allowed")
            if aid not in self.followed:
                self.followed.add(aid)
                self.me["following_count"] += 1
                self.accounts[aid]["followers_count"] += 1
            return 200, self._relationship(aid)

    def _r_unfollow(self, ctx, aid):
        self._auth(ctx, "write:follows")
        with self._lock:
            if aid not in self.accounts:
                raise _err(404, ERR_NOT_FOUND)
            if aid in self.followed:
                self.followed.discard(aid)
                self.me["following_count"] -= 1
                self.accounts[aid]["followers_count"] -= 1
            return 200, self._relationship(aid)

    def _r_search(self, ctx):
        self._auth(ctx, "read:search", "read:accounts")
        p = ctx.params
        q = str(p.get("q") or "").strip()
        accounts, statuses = [], []
        typ = p.get("type")
        if typ in (None, "", "accounts"):
            m = re.match(r"^@?([a-z0-9_]+(?:[.-]+[a-z0-9_]+)*)"
                         r"(?:@([\w.-]+\w))?$", q, re.I)
            if m:
                a = self._account(q, create=bool(
                    m.group(2) and _truthy(p.get("resolve"))))
                if a is not None:
                    accounts.append(a)
        if typ in (None, "", "statuses") and q.startswith("http"):
            with self._lock:
                statuses = [s for s in self.statuses.values()
                            if q in (s["url"], s["uri"])]
        return 200, {"accounts": accounts, "statuses": statuses,
                     "hashtags": []}

    # -- pagination -----------------------------------------------------

    def _limit(self, params, default):
        if "limit" not in params:
            return default
        return min(abs(_to_i(params["limit"])), default * 2)

    def _paginate(self, items, key, params, limit):
        """items ascending by key(item) (an int).  Rails
        to_a_paginated_by_id semantics."""
        max_id = params.get("max_id")
        since_id = params.get("since_id")
        min_id = params.get("min_id")
        max_i = _to_i(max_id) if _present(max_id) else None
        if _present(min_id):
            lo = _to_i(min_id)
            sel = []
            for it in items:
                k = key(it)
                if k > lo and (max_i is None or k < max_i):
                    sel.append(it)
                    if len(sel) >= limit:
                        break
            sel.reverse()
            return sel
        since_i = _to_i(since_id) if _present(since_id) else None
        sel = []
        for it in reversed(items):
            if len(sel) >= limit:
                break
            k = key(it)
            if max_i is not None and k >= max_i:
                continue
            if since_i is not None and k <= since_i:
                break
            sel.append(it)
        return sel

    def _link_header(self, path, params, keep, first_id, last_id):
        def url(core):
            pairs = []
            for k in keep:
                v = params.get(k)
                if v is None:
                    continue
                if isinstance(v, list):
                    pairs.append("&".join(
                        "%s=%s" % (urllib.parse.quote(k + "[]", safe=""),
                                   urllib.parse.quote(str(x), safe=""))
                        for x in v))
                elif not isinstance(v, dict):
                    pairs.append("%s=%s" % (urllib.parse.quote(k, safe=""),
                                            urllib.parse.quote(str(v),
                                                               safe="")))
            for k, v in core.items():
                pairs.append("%s=%s" % (k, v))
            pairs = [p for p in pairs if p]
            pairs.sort()
            return "%s%s?%s" % (self.base_url, path, "&".join(pairs))
        return ('<%s>; rel="next", <%s>; rel="prev"'
                % (url({"max_id": last_id}), url({"min_id": first_id})))

    # -- notifications --------------------------------------------------

    def _r_notifications(self, ctx):
        self._auth(ctx, "read:notifications")
        p = ctx.params
        types = p.get("types") if isinstance(p.get("types"), list) else None
        excl = p.get("exclude_types") \
            if isinstance(p.get("exclude_types"), list) else None
        acc = p.get("account_id") if isinstance(p.get("account_id"),
                                                str) else None
        limit = self._limit(p, 40)
        with self._lock:
            mine = self._user_of(ctx.token)["id"]
            items = [n for n in self.notifications
                     if self._notif_to.get(n["id"], self.me["id"]) == mine
                     and (not types or n["type"] in types) and
                     (not excl or n["type"] not in excl) and
                     (not acc or n["account"]["id"] == acc)]
            page = self._paginate(items, lambda n: int(n["id"]), p, limit)
            extra = []
            if page:
                extra.append(("Link", self._link_header(
                    "/api/v1/notifications", p,
                    ("limit", "account_id", "types", "exclude_types"),
                    page[0]["id"], page[-1]["id"])))
            return 200, page, extra

    def _find_notification(self, nid):
        for n in self.notifications:
            if n["id"] == nid:
                return n
        return None

    def _r_notification(self, ctx, nid):
        self._auth(ctx, "read:notifications")
        with self._lock:
            n = self._find_notification(nid)
            if n is None:
                raise _err(404, ERR_NOT_FOUND)
            return 200, n

    def _r_notif_dismiss(self, ctx, nid):
        self._auth(ctx, "write:notifications")
        with self._lock:
            n = self._find_notification(nid)
            if n is None:
                raise _err(404, ERR_NOT_FOUND)
            self.notifications.remove(n)
            return 200, {}

    def _r_notif_clear(self, ctx):
        self._auth(ctx, "write:notifications")
        with self._lock:
            self.notifications = []
        return 200, {}

    def _r_markers_get(self, ctx):
        self._auth(ctx, "read:statuses")
        tl = ctx.params.get("timeline") or []
        if isinstance(tl, str):
            tl = [tl]
        with self._lock:
            return 200, {k: v for k, v in self.markers.items() if k in tl}

    def _r_markers_post(self, ctx):
        self._auth(ctx, "write:statuses")
        p = ctx.params
        with self._lock:
            for tl in ("home", "notifications"):
                v = p.get(tl)
                if isinstance(v, dict) and _present(v.get("last_read_id")):
                    old = self.markers.get(tl)
                    self.markers[tl] = {
                        "last_read_id": str(v["last_read_id"]),
                        "version": (old["version"] + 1) if old else 0,
                        "updated_at": _iso_ms()}
            return 200, dict(self.markers)

    # -- conversations --------------------------------------------------

    def _r_conversations(self, ctx):
        self._auth(ctx, "read:statuses")
        p = ctx.params
        limit = self._limit(p, 20)
        with self._lock:
            items = sorted(self.conversations.values(),
                           key=lambda c: int(c["last_status"]["id"]))
            page = self._paginate(items,
                                  lambda c: int(c["last_status"]["id"]),
                                  p, limit)
            extra = []
            if page:
                extra.append(("Link", self._link_header(
                    "/api/v1/conversations", p, ("limit",),
                    page[0]["last_status"]["id"],
                    page[-1]["last_status"]["id"])))
            return 200, page, extra

    def _r_conv_read(self, ctx, cid):
        self._auth(ctx, "write:conversations")
        with self._lock:
            c = self.conversations.get(cid)
            if c is None:
                raise _err(404, ERR_NOT_FOUND)
            c["unread"] = False
            return 200, c

    def _r_conv_delete(self, ctx, cid):
        self._auth(ctx, "write:conversations")
        with self._lock:
            if self.conversations.pop(cid, None) is None:
                raise _err(404, ERR_NOT_FOUND)
            return 200, {}

    # -- statuses -------------------------------------------------------

    def _get_status(self, sid):
        st = self.statuses.get(sid)
        if st is None:
            raise _err(404, ERR_NOT_FOUND)
        return st

    def _r_status(self, ctx, sid):
        self._auth(ctx, "read:statuses")
        with self._lock:
            return 200, self._get_status(sid)

    def _r_source(self, ctx, sid):
        self._auth(ctx, "read:statuses")
        with self._lock:
            st = self._get_status(sid)
            meta = self._meta[sid]
            return 200, {"id": sid, "text": meta["src"],
                         "spoiler_text": st["spoiler_text"]}

    def _r_context(self, ctx, sid):
        self._auth(ctx, "read:statuses")
        with self._lock:
            st = self._get_status(sid)
            ancestors = []
            cur = st
            seen = {sid}
            while cur.get("in_reply_to_id"):
                pid = cur["in_reply_to_id"]
                parent = self.statuses.get(pid)
                if parent is None or pid in seen:
                    break
                seen.add(pid)
                ancestors.append(parent)
                cur = parent
            ancestors.reverse()
            children = collections.defaultdict(list)
            for s in self.statuses.values():
                if s.get("in_reply_to_id"):
                    children[s["in_reply_to_id"]].append(s)
            descendants = []

            def walk(i):
                for c in sorted(children.get(i, []),
                                key=lambda s: int(s["id"])):
                    if c["id"] in seen:
                        continue
                    seen.add(c["id"])
                    descendants.append(c)
                    walk(c["id"])
            walk(sid)
            return 200, {"ancestors": ancestors, "descendants": descendants}

    def _r_post_status(self, ctx):
        self._auth(ctx, "write:statuses")
        p = ctx.params
        headers = ctx.headers
        key = headers.get("idempotency-key")
        now = time.time()
        with self._lock:
            if key:
                for k, (sid, t) in list(self._idem.items()):
                    if now - t > 3600:
                        del self._idem[k]
                hit = self._idem.get(key)
                if hit is not None:
                    self.idempotent_replays += 1
                    st = self.statuses.get(hit[0])
                    if st is None:
                        raise _err(404, ERR_NOT_FOUND)
                    return 200, st
            text = p.get("status")
            text = "" if text is None else str(text)
            spoiler = p.get("spoiler_text")
            spoiler = "" if spoiler is None else str(spoiler)
            media_ids = p.get("media_ids") or []
            if isinstance(media_ids, str):
                media_ids = [media_ids]
            poll = p.get("poll") if isinstance(p.get("poll"), dict) else None
            if len(media_ids) > 4:
                raise _err(422, "Cannot attach more than 4 files")
            if not text.strip() and not media_ids and not poll:
                raise _err(422, "Validation failed: Text can't be blank")
            vis = p.get("visibility")
            vis = "public" if not _present(vis) else str(vis)
            if vis not in ("public", "unlisted", "private", "direct"):
                raise _err(422, "Validation failed: Visibility is not "
                           "included in the list")
            n = count_length(text.strip(), spoiler)
            if n > self.max_characters:
                raise _err(422, "Validation failed: Text character limit "
                           "of %d exceeded" % self.max_characters)
            reply_to = p.get("in_reply_to_id")
            reply_to = str(reply_to) if _present(reply_to) else None
            if reply_to is not None and reply_to not in self.statuses:
                raise _err(404, ERR_REPLY_NOT_FOUND)
            if poll is not None:
                opts = poll.get("options") or []
                if not isinstance(opts, list) or len(opts) < 2:
                    raise _err(422, "Validation failed: Poll options must "
                               "have at least 2 items")
            lang = p.get("language")
            st = self._make_status(
                self.me, text=text.strip(), visibility=vis,
                in_reply_to_id=reply_to, spoiler_text=spoiler,
                sensitive=_truthy(p.get("sensitive")) or bool(spoiler),
                language=str(lang) if _present(lang) else "en",
                poll=poll)
            st["media_attachments"] = [
                self._media({"url": "https://%s/system/media_attachments/"
                             "files/%s/original/file.png" % (self.domain,
                                                              mid)})
                for mid in media_ids]
            for m in st["media_attachments"]:
                m["remote_url"] = None
            self.posted.append({"status": st, "params": p,
                                "headers": dict(headers),
                                "idempotency_key": key})
            if key:
                self._idem[key] = (st["id"], now)
            events = [self._ev_update(st)]
            if vis == "direct":
                conv = self._conversation_for(
                    st, [self.accounts[m["id"]] for m in st["mentions"]],
                    False)
                events.append(self._ev_conversation(conv))
            self._emit(events)
            return 200, st

    def _r_edit_status(self, ctx, sid):
        self._auth(ctx, "write:statuses")
        p = ctx.params
        with self._lock:
            st = self._get_status(sid)
            if st["account"] is not self.me:
                raise _err(404, ERR_NOT_FOUND)
            text = str(p.get("status") or "")
            spoiler = p.get("spoiler_text")
            if not text.strip():
                raise _err(422, "Validation failed: Text can't be blank")
            if count_length(text, spoiler or "") > self.max_characters:
                raise _err(422, "Validation failed: Text character limit "
                           "of %d exceeded" % self.max_characters)
            return 200, self.edit_status(sid, text.strip(),
                                         spoiler_text=spoiler)

    def _r_delete_status(self, ctx, sid):
        self._auth(ctx, "write:statuses")
        with self._lock:
            st = self._get_status(sid)
            if st["account"] is not self.me:
                raise _err(404, ERR_NOT_FOUND)
            meta = self._meta[sid]
            self._delete(sid)
            self._emit([("delete", sid, _CH_USER)])
            out = dict(st)
            out["text"] = meta["src"]
            return 200, out

    def _r_fav(self, ctx, sid):
        self._auth(ctx, "write:favourites")
        with self._lock:
            st = self._get_status(sid)
            if sid not in self.favourited:
                self.favourited.add(sid)
                st["favourites_count"] += 1
            st["favourited"] = True
            return 200, st

    def _r_unfav(self, ctx, sid):
        self._auth(ctx, "write:favourites")
        with self._lock:
            st = self._get_status(sid)
            if sid in self.favourited:
                self.favourited.discard(sid)
                st["favourites_count"] = max(0, st["favourites_count"] - 1)
            st["favourited"] = False
            return 200, st

    def _r_reblog(self, ctx, sid):
        self._auth(ctx, "write:statuses")
        with self._lock:
            st = self._get_status(sid)
            if st["visibility"] in ("private", "direct"):
                raise _err(403, "This action is not allowed")
            wid = self._reblog_of.get(sid)
            if wid is not None and wid in self.statuses:
                return 200, self.statuses[wid]
            self.reblogged.add(sid)
            st["reblogs_count"] += 1
            st["reblogged"] = True
            vis = ctx.params.get("visibility")
            w = self._make_status(self.me, text="", html="",
                                  visibility=str(vis) if _present(vis)
                                  else "public")
            w["reblog"] = st
            w["reblogged"] = True
            w["language"] = None
            w["content"] = ""
            w["uri"] = "https://%s/users/%s/statuses/%s/activity" % (
                self.domain, self.me["username"], w["id"])
            self._reblog_of[sid] = w["id"]
            self._emit([self._ev_update(w)])
            return 200, w

    def _r_unreblog(self, ctx, sid):
        self._auth(ctx, "write:statuses")
        with self._lock:
            st = self._get_status(sid)
            wid = self._reblog_of.pop(sid, None)
            if sid in self.reblogged:
                self.reblogged.discard(sid)
                st["reblogs_count"] = max(0, st["reblogs_count"] - 1)
            st["reblogged"] = False
            if wid is not None and wid in self.statuses:
                self._delete(wid)
                self._emit([("delete", wid, _CH_USER)])
            return 200, st

    # -- streaming ------------------------------------------------------

    def _streaming(self, ctx):
        if not self.streaming:
            return 404, {"error": "Streaming is disabled"}
        path = ctx.path.rstrip("/")
        if path == "/api/v1/streaming/health":
            return 200, "OK", [("Content-Type", "text/plain")]
        kinds = {"/api/v1/streaming/user": "user",
                 "/api/v1/streaming/user/notification": "user:notification",
                 "/api/v1/streaming/direct": "direct"}
        kind = kinds.get(path)
        if path == "/api/v1/streaming":
            kind = ctx.params.get("stream")
            if (ctx.headers.get("upgrade") or "").lower() == "websocket":
                return 400, {
                    "error": "WebSocket streaming is not implemented by the "
                    "mock; use server-sent events"}
        if kind not in ("user", "user:notification", "direct"):
            return (400 if path == "/api/v1/streaming" else 404,
                    {"error": "Unknown stream type"})
        tok = ctx.token
        if not tok:
            return 401, {"error": "Missing access token"}
        rec = self.tokens.get(tok)
        if rec is None:
            return 401, {"error": "Invalid access token"}
        need = {"user": ("read", "read:statuses", "read:notifications"),
                "user:notification": ("read", "read:notifications"),
                "direct": ("read", "read:statuses")}[kind]
        if not any(s in rec["scopes"] for s in need):
            return 401, {
                "error": "Access token does not have the required scopes"}
        if ctx.method != "GET":
            raise _err(404, ERR_NOT_FOUND)
        return self.stream(ctx, kind, tok,
                           headers=[("Cache-Control", "private, no-store")],
                           preamble=b":)\n", heartbeat=b":thump\n\n",
                           interval=self.heartbeat_seconds,
                           framing=self.sse_framing,
                           fragment=self.sse_fragment)


ALL_SUBSCOPES = {
    "read:accounts", "read:blocks", "read:bookmarks", "read:favourites",
    "read:filters", "read:follows", "read:lists", "read:mutes",
    "read:notifications", "read:search", "read:statuses",
    "write:accounts", "write:blocks", "write:bookmarks",
    "write:conversations", "write:favourites", "write:filters",
    "write:follows", "write:lists", "write:media", "write:mutes",
    "write:notifications", "write:reports", "write:statuses",
}




def main(argv=None):
    def add_arguments(ap):
        ap.add_argument("--no-streaming", action="store_true")
        ap.add_argument("--max-characters", type=int, default=500)
        ap.add_argument("--token", default="test-token")
        ap.add_argument("--acct", default="me")
        ap.add_argument("--domain", default="mastodon.test")
        ap.add_argument("--heartbeat", type=float, default=5.0)
        ap.add_argument("--ratelimit-limit", type=int, default=300)

    def make(a):
        return MockMastodon(tls=a.tls, streaming=not a.no_streaming,
                            max_characters=a.max_characters, token=a.token,
                            acct=a.acct, domain=a.domain,
                            heartbeat_seconds=a.heartbeat,
                            ratelimit_limit=a.ratelimit_limit,
                            verbose=a.verbose, port=a.port)

    return serve_main(make, argv, "Mock Mastodon server", add_arguments)


if __name__ == "__main__":
    sys.exit(main())
