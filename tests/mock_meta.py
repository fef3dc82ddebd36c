#!/usr/bin/python3
"""A mock of Meta's Graph API for one Facebook Page and one Instagram
professional account (standard library only, on tests/mockframe).

    sys.path.insert(0, TESTS_DIR)
    from mock_meta import MockMeta, webhook_post

    m = MockMeta().start()
    # Facebook: base_url = m.base_url, page_id = m.page_id, token = m.page_token
    c = m.add_fb_comment("Alice Example", "is the shop open?")
    ...
    m.stop()

What it imitates, from Meta's references (Graph API v25, Messenger
Platform, Instagram Platform), as far as they say:

* One host serves what lives on four of Meta's: graph.facebook.com
  (``/v25.0/...``), graph.instagram.com (``/access_token``,
  ``/refresh_access_token`` at the root), api.instagram.com
  (``/oauth/access_token``) and the dialog's code exchange.
* Ids are numeric strings (Page posts ``PAGE_POST``, comments
  ``POST_COMMENT``), message ids ``m_...``; times are Graph's
  ``2026-11-25T19:40:00+0000``.  Lists are ``{"data": [...], "paging": {}}``.
* Auth: ``Authorization: Bearer`` or ``access_token``; a bad token gets
  400 ``{"error": {"message", "type": "OAuthException", "code": 190,
  "fbtrace_id"}}``.  Unknown objects: 400 code 100 subcode 33.
* Usage headers on every Graph answer: ``X-App-Usage`` and
  ``X-Business-Use-Case-Usage`` (``{"<page id>": [{"type": "pages",
  "call_count", "total_cputime", "total_time",
  "estimated_time_to_regain_access"}]}``), set with ``set_usage``.
  Throttling is a Graph error (``throttle(code, times)``: 4, 17, 32, 613,
  80001...), HTTP 400 as Graph sends them, never a bare 429.
* Send API: ``POST /{page-id}/messages`` JSON with ``recipient.id``,
  ``messaging_type`` (required here; ``RESPONSE``) and ``message.text``;
  outside 24 hours of the person's last message: code 10 subcode 2018278;
  over 2,000 characters (Instagram: 1,000 bytes): code 100.  Answers
  ``{"recipient_id", "message_id"}``.
* Comments: ``POST /{post-or-comment}/comments`` (Page),
  ``POST /{ig-comment}/replies``, ``POST /{ig-user}/mentions`` with
  ``media_id``, ``comment_id``, ``message``; all answer ``{"id"}``.
  ``DELETE /{comment}``, ``POST|DELETE /{id}/likes`` and ``POST
  /{comment}`` with ``is_hidden`` (Page) or ``hide`` (Instagram) answer
  ``{"success": true}``.
* ``/{post}/comments`` honours ``since`` (Unix seconds, inclusive) and
  ``filter=stream`` (replies too, flat); Instagram's ``/{media}/comments``
  has no ``since`` and nests ``replies``.
* Mentions: ``GET /{ig-user}?fields=mentioned_comment.comment_id(X){...}``
  and ``mentioned_media.media_id(X){...}``.

Guesses where the references are silent (also listed in the README under
"Untested against the real service"): the exact body of the Page
``mention`` webhook field; whether Conversations API message ids equal the
webhook's ``mid`` (assumed yes); the Page comment length limit (8,000);
whether ``conversations`` accepts ``messages.limit(N){...}`` expansion
(the Graph field-expansion syntax says it should).

Webhooks: ``webhook_post(url, payload, secret)`` signs a body as Meta does
(``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the exact bytes>``);
``signature=`` overrides it (wrong or missing).
"""

import hashlib
import hmac
import http.client
import itertools
import json
import secrets
import sys
import time
import urllib.parse

from mockframe import HTTPError, MockServer, serve_main

GRAPH = "/v25.0"
WINDOW = 24 * 3600


def graph_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime(t))


def graph_error(status, code, message, subcode=None,
                etype="OAuthException"):
    e = {"message": message, "type": etype, "code": code,
         "fbtrace_id": "A" + secrets.token_hex(10)}
    if subcode is not None:
        e["error_subcode"] = subcode
    return HTTPError(status, {"error": e})


def sign(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body,
                                hashlib.sha256).hexdigest()


def webhook_post(url, payload, secret=None, signature=None, method="POST"):
    """POST payload (bytes, str or JSON-able) to url as Meta would; returns
    (status, body)."""
    if isinstance(payload, (dict, list)):
        body = json.dumps(payload).encode()
    elif isinstance(payload, str):
        body = payload.encode()
    else:
        body = payload
    u = urllib.parse.urlsplit(url)
    headers = {"Content-Type": "application/json",
               "User-Agent": "facebookexternalua"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature
    elif secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        try:
            conn.request(method, u.path + ("?" + u.query if u.query else ""),
                         body=body if method == "POST" else None,
                         headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            # A server that refuses a body answers before it has read it
            # all (a 413) and closes: the answer is still there to read.
            pass
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    except (ConnectionError, OSError) as e:
        return 0, str(e)
    finally:
        conn.close()


class MockMeta(MockServer):
    server_name = "mock-graph"
    CONTROL = MockServer.CONTROL + (
        "add_fb_comment", "add_fb_post", "add_tagged", "add_dm",
        "add_ig_comment", "add_ig_mention", "add_ig_tag", "set_usage", "throttle",
        "issue_code")
    STATE = MockServer.STATE + ("comments", "sent", "posted", "deleted",
                                "likes", "hidden", "tokens")

    def __init__(self, **kw):
        MockServer.__init__(self, **kw)
        self._ids = itertools.count(int(time.time()) * 1000)
        self.page_id = "106295678901234"
        self.page_name = "Parley Shop"
        self.ig_id = "17841405309211844"
        self.ig_username = "parleyshop"
        self.app_id = "1234567890"
        self.app_secret = "mock-app-secret"
        self.page_token = "EAAPAGE" + secrets.token_hex(8)
        self.ig_token = "IGQVJ" + secrets.token_hex(8)
        self.tokens = {self.page_token: "page", self.ig_token: "ig"}
        self.codes = {}
        self.posts = {}        # Page post id -> post
        self.media = {}        # IG media id -> media
        self.comments = {}     # id -> comment (Page or IG), with "_on"
        self.tagged = []       # posts tagging the Page
        self.tags = []         # media the IG account is tagged in
        self.others_media = {}  # media of other accounts (mentions)
        self.conversations = {"messenger": {}, "instagram": {}}
        self.people = {}       # PSID / IGSID -> name
        self.sent = []         # Send API calls that succeeded
        self.posted = []       # comments and replies made through the API
        self.deleted = []
        self.likes = []
        self.hidden = []       # (comment id, hidden?) in order
        self.refreshed = 0
        self.usage = {"app": 5, "buc": 5, "regain": 0}
        self.throttles = []    # [code, times, path substring]
        self.add_fb_post("Welcome to the shop!")
        self.add_ig_media("Our new mugs")
        self._routes_init()

    def _id(self):
        return str(next(self._ids))

    # ------------------------------------------------------------------
    # test control
    # ------------------------------------------------------------------

    def info(self):
        d = MockServer.info(self)
        d.update(page_id=self.page_id, ig_id=self.ig_id,
                 page_token=self.page_token, ig_token=self.ig_token,
                 app_id=self.app_id, app_secret=self.app_secret)
        return d

    def add_fb_post(self, message, author=None, ago=0):
        with self._lock:
            pid = "%s_%s" % (self.page_id, self._id())
            frm = author or {"id": self.page_id, "name": self.page_name}
            p = {"id": pid, "message": message, "from": frm,
                 "created_time": graph_time(time.time() - ago),
                 "permalink_url": "https://www.facebook.com/%s" % pid,
                 "_t": time.time() - ago}
            self.posts[pid] = p
            self.first_post = self.first_post if hasattr(
                self, "first_post") else pid
            return p

    def _person(self, name, uid=None):
        uid = uid or self._id()
        self.people[uid] = name
        return uid

    def add_fb_comment(self, name, message, post_id=None, parent=None,
                       ago=0, uid=None, attachment=None):
        """A comment by name on a Page post (the first by default), or a
        reply to comment parent."""
        with self._lock:
            post_id = post_id or self.first_post
            if parent is not None:
                post_id = self.comments[parent]["_on"]
            uid = self._person(name, uid)
            t = time.time() - ago
            cid = "%s_%s" % (post_id.split("_")[-1], self._id())
            c = {"id": cid, "message": message,
                 "from": {"id": uid, "name": name},
                 "created_time": graph_time(t),
                 "permalink_url": "https://www.facebook.com/%s?comment_id=%s"
                 % (post_id, cid),
                 "_on": post_id, "_t": t, "_net": "fb"}
            if parent is not None:
                c["parent"] = {"id": parent}
            if attachment is not None:
                c["attachment"] = attachment
            self.comments[cid] = c
            return c

    def add_tagged(self, name, message):
        with self._lock:
            uid = self._person(name)
            pid = "%s_%s" % (uid, self._id())
            p = {"id": pid, "message": message,
                 "from": {"id": uid, "name": name},
                 "created_time": graph_time(time.time()),
                 "permalink_url": "https://www.facebook.com/%s" % pid}
            self.tagged.append(p)
            return p

    def add_ig_media(self, caption):
        with self._lock:
            mid = self._id()
            m = {"id": mid, "caption": caption, "media_type": "IMAGE",
                 "permalink": "https://www.instagram.com/p/%s/" % mid,
                 "timestamp": graph_time(time.time()),
                 "username": self.ig_username}
            self.media[mid] = m
            self.first_media = getattr(self, "first_media", mid)
            return m

    def add_ig_tag(self, username, caption, media_type="VIDEO"):
        """username tags the IG account in their media."""
        with self._lock:
            mid = self._id()
            m = {"id": mid, "caption": caption, "media_type": media_type,
                 "username": username,
                 "permalink": "https://www.instagram.com/p/%s/" % mid,
                 "timestamp": graph_time(time.time())}
            self.tags.append(m)
            return m

    def add_ig_comment(self, username, text, media_id=None, parent=None,
                       ago=0):
        with self._lock:
            media_id = media_id or self.first_media
            if parent is not None:
                media_id = self.comments[parent]["_on"]
            uid = self._person(username)
            t = time.time() - ago
            cid = self._id()
            c = {"id": cid, "text": text, "timestamp": graph_time(t),
                 "username": username,
                 "from": {"id": uid, "username": username},
                 "_on": media_id, "_t": t, "_net": "ig"}
            if parent is not None:
                c["parent_id"] = parent
            self.comments[cid] = c
            return c

    def add_ig_mention(self, username, text, caption=False):
        """Someone names the IG account in a comment on their own media
        (or in its caption); returns {media_id, comment_id?} as the
        webhook's value carries them."""
        with self._lock:
            mid = self._id()
            self.others_media[mid] = {
                "id": mid, "caption": text if caption else "a photo",
                "media_type": "IMAGE", "username": username,
                "permalink": "https://www.instagram.com/p/%s/" % mid,
                "timestamp": graph_time(time.time())}
            if caption:
                return {"media_id": mid}
            cid = self._id()
            self.comments[cid] = {
                "id": cid, "text": text, "timestamp": graph_time(time.time()),
                "username": username, "_on": mid, "_t": time.time(),
                "_net": "ig_other"}
            return {"media_id": mid, "comment_id": cid}

    def add_dm(self, name, text, platform="messenger", ago=0, uid=None):
        """A person writes to the Page (or the IG account); returns the
        message with its conversation and sender ids."""
        with self._lock:
            uid = uid or next((k for k, v in self.people.items()
                               if v == name and k.startswith("99")),
                              None) or self._person(name, "99" + self._id())
            self.people[uid] = name
            convs = self.conversations[platform]
            conv = convs.get(uid)
            if conv is None:
                conv = convs[uid] = {"id": "t_" + self._id(), "messages": []}
            t = time.time() - ago
            frm = {"id": uid, "name": name} if platform == "messenger" else \
                {"id": uid, "username": name}
            me = {"id": self.page_id, "name": self.page_name} \
                if platform == "messenger" else \
                {"id": self.ig_id, "username": self.ig_username}
            msg = {"id": "m_" + secrets.token_urlsafe(16), "message": text,
                   "created_time": graph_time(t), "from": frm,
                   "to": {"data": [me]}, "_t": t}
            conv["messages"].insert(0, msg)
            conv["updated_time"] = graph_time(t)
            conv["_last_in"] = max(conv.get("_last_in", 0), t)
            return {"message": msg, "sender": uid, "conversation": conv["id"],
                    "mid": msg["id"], "timestamp": int(t * 1000)}

    def set_usage(self, app=None, buc=None, regain=None):
        with self._lock:
            if app is not None:
                self.usage["app"] = app
            if buc is not None:
                self.usage["buc"] = buc
            if regain is not None:
                self.usage["regain"] = regain
            return dict(self.usage)

    def throttle(self, code=32, times=1, path="", method=None):
        """The next `times` Graph calls (of `method`, when given) whose path
        holds `path` fail with throttling error `code`."""
        with self._lock:
            self.throttles.append([code, times, path, method])
            return True

    def issue_code(self, kind="facebook"):
        with self._lock:
            code = "AQ" + secrets.token_urlsafe(12)
            self.codes[code] = kind
            return code

    # ------------------------------------------------------------------
    # framework hooks
    # ------------------------------------------------------------------

    def prepare(self, call):
        call.params = {k: v[-1] for k, v in call.query.items()}
        ctype = call.headers.get("content-type", "")
        call.jbody = None
        if call.body and "json" in ctype:
            call.jbody = call.json()
        elif call.body:
            for k, v in urllib.parse.parse_qs(call.body.decode(),
                                              keep_blank_values=True).items():
                call.params[k] = v[-1]
        auth = call.headers.get("authorization", "")
        call.token = auth[7:] if auth.startswith("Bearer ") else \
            call.params.get("access_token")
        with self._lock:
            for t in self.throttles:
                if t[1] > 0 and t[2] in call.path and \
                        t[3] in (None, call.method) and \
                        "access_token" not in call.path:
                    t[1] -= 1
                    raise graph_error(400, t[0], {
                        4: "Application request limit reached",
                        17: "User request limit reached",
                        32: "Page request limit reached",
                        613: "Calls to this api have exceeded the rate "
                             "limit."}.get(t[0], "Rate limit reached"),
                        etype="OAuthException")

    def json_headers(self):
        u = self.usage
        buc = {self.page_id: [{
            "type": "pages", "call_count": u["buc"],
            "total_cputime": max(1, u["buc"] // 2), "total_time": u["buc"],
            "estimated_time_to_regain_access": u["regain"]}]}
        return [("X-App-Usage", json.dumps({
                    "call_count": u["app"], "total_cputime": 1,
                    "total_time": 1})),
                ("X-Business-Use-Case-Usage", json.dumps(buc)),
                ("x-fb-trace-id", secrets.token_hex(6))]

    def not_found(self, call):
        raise graph_error(400, 100, "Unknown path components: %s"
                          % call.path, etype="GraphMethodException")

    def fault_body(self, status):
        return {"error": {"message": "An unknown error occurred",
                          "type": "OAuthException", "code": 1,
                          "is_transient": True,
                          "fbtrace_id": "A" + secrets.token_hex(10)}}

    # ------------------------------------------------------------------
    # routes
    # ------------------------------------------------------------------

    def _routes_init(self):
        g = GRAPH
        self.route("GET", g + r"/oauth/access_token", self.oauth_token)
        self.route("GET", g + r"/me/accounts", self.me_accounts)
        self.route("POST", r"/oauth/access_token", self.ig_code)
        self.route("GET", r"/access_token", self.ig_exchange)
        self.route("GET", r"/refresh_access_token", self.ig_refresh)
        self.route("GET", g + r"/([0-9_]+)/feed", self.feed)
        self.route("GET", g + r"/([0-9_]+)/tagged", self.get_tagged)
        self.route("GET", g + r"/([0-9_]+)/comments", self.get_comments)
        self.route("POST", g + r"/([0-9_]+)/comments", self.post_comment)
        self.route("GET", g + r"/([0-9]+)/media", self.get_media)
        self.route("GET", g + r"/([0-9]+)/tags", self.get_tags)
        self.route("GET", g + r"/([0-9]+)/replies", self.get_replies)
        self.route("POST", g + r"/([0-9]+)/replies", self.post_reply)
        self.route("POST", g + r"/([0-9]+)/mentions", self.post_mention)
        self.route("GET", g + r"/([0-9]+)/conversations", self.get_convs)
        self.route("POST", g + r"/([0-9]+)/messages", self.post_message)
        self.route("POST", g + r"/([0-9_]+)/likes", self.like)
        self.route("DELETE", g + r"/([0-9_]+)/likes", self.like)
        self.route("DELETE", g + r"/([0-9_]+)", self.delete)
        self.route("POST", g + r"/([0-9_]+)", self.update_comment)
        self.route("GET", g + r"/([0-9_]+)", self.get_node)

    def _auth(self, call, kind=None):
        t = self.tokens.get(call.token)
        if t is None or (kind is not None and t != kind):
            raise graph_error(400, 190, "Invalid OAuth access token - "
                              "Cannot parse access token")
        return t

    def _page(self, lst, call):
        n = int(call.params.get("limit", "25") or 25)
        return {"data": lst[:n], "paging": {}}

    @staticmethod
    def _public(o):
        return {k: v for k, v in o.items() if not k.startswith("_")}

    # -- OAuth ----------------------------------------------------------

    def oauth_token(self, call):
        p = call.params
        if p.get("client_id") != self.app_id or \
                p.get("client_secret") != self.app_secret:
            raise graph_error(400, 101, "Error validating application. "
                              "Invalid application ID.")
        if p.get("grant_type") == "fb_exchange_token":
            if self.tokens.get(p.get("fb_exchange_token")) != "short":
                raise graph_error(400, 190, "Invalid OAuth access token.")
            t = "EAALONG" + secrets.token_hex(8)
            self.tokens[t] = "user"
            return 200, {"access_token": t, "token_type": "bearer",
                         "expires_in": 5183944}
        code = p.get("code")
        if self.codes.pop(code, None) != "facebook" or not \
                p.get("redirect_uri"):
            raise graph_error(400, 100, "Invalid verification code format.",
                              subcode=36007)
        t = "EAASHORT" + secrets.token_hex(8)
        self.tokens[t] = "short"
        return 200, {"access_token": t, "token_type": "bearer",
                     "expires_in": 5183}

    def me_accounts(self, call):
        self._auth(call, "user")
        self.page_token = "EAAPAGE" + secrets.token_hex(8)
        self.tokens[self.page_token] = "page"
        return 200, {"data": [{
            "id": self.page_id, "name": self.page_name,
            "access_token": self.page_token,
            "instagram_business_account": {"id": self.ig_id},
            "category": "Shopping & retail",
            "tasks": ["ANALYZE", "ADVERTISE", "MODERATE", "CREATE_CONTENT",
                      "MANAGE"]}], "paging": {}}

    def ig_code(self, call):
        p = call.params
        if p.get("client_id") != self.app_id or \
                p.get("client_secret") != self.app_secret or \
                p.get("grant_type") != "authorization_code":
            raise HTTPError(400, {"error_type": "OAuthException",
                                  "code": 400,
                                  "error_message": "Invalid client"})
        if self.codes.pop(p.get("code"), None) != "instagram":
            raise HTTPError(400, {"error_type": "OAuthException",
                                  "code": 400, "error_message":
                                  "This authorization code has expired"})
        t = "IGSHORT" + secrets.token_hex(8)
        self.tokens[t] = "igshort"
        return 200, {"data": [{"access_token": t, "user_id": self.ig_id,
                               "permissions": "instagram_business_basic,"
                               "instagram_business_manage_comments,"
                               "instagram_business_manage_messages"}]}

    def ig_exchange(self, call):
        p = call.params
        if p.get("grant_type") != "ig_exchange_token" or \
                p.get("client_secret") != self.app_secret or \
                self.tokens.get(p.get("access_token")) != "igshort":
            raise graph_error(400, 190, "Invalid OAuth access token.")
        self.ig_token = "IGQVJ" + secrets.token_hex(8)
        self.tokens[self.ig_token] = "ig"
        return 200, {"access_token": self.ig_token, "token_type": "bearer",
                     "expires_in": 5184000}

    def ig_refresh(self, call):
        p = call.params
        if p.get("grant_type") != "ig_refresh_token" or \
                self.tokens.get(p.get("access_token")) != "ig":
            raise graph_error(400, 190, "Invalid OAuth access token.")
        # The old token keeps working until it expires (the reference says
        # nothing of revoking it; a guess).
        self.ig_token = "IGQVJ" + secrets.token_hex(8)
        self.tokens[self.ig_token] = "ig"
        self.refreshed += 1
        return 200, {"access_token": self.ig_token, "token_type": "bearer",
                     "expires_in": 5184000}

    # -- reading --------------------------------------------------------

    def feed(self, call, page):
        self._auth(call)
        if page != self.page_id:
            raise graph_error(400, 100, "Object does not exist", 33)
        with self._lock:
            posts = sorted(self.posts.values(), key=lambda p: -p["_t"])
            return 200, self._page([self._public(p) for p in posts], call)

    def get_tagged(self, call, page):
        self._auth(call)
        with self._lock:
            return 200, self._page(list(reversed(self.tagged)), call)

    def _children(self, parent):
        return sorted((c for c in self.comments.values()
                       if c.get("parent", {}).get("id") == parent
                       or c.get("parent_id") == parent),
                      key=lambda c: c["_t"])

    def get_comments(self, call, oid):
        self._auth(call)
        with self._lock:
            if oid in self.posts:
                cs = [c for c in self.comments.values() if c["_on"] == oid]
                if call.params.get("filter") != "stream":
                    cs = [c for c in cs if "parent" not in c]
                since = call.params.get("since")
                if since:
                    cs = [c for c in cs if c["_t"] >= int(since)]
                cs.sort(key=lambda c: c["_t"])
                return 200, self._page([self._public(c) for c in cs], call)
            if oid in self.media:
                out = []
                for c in sorted(self.comments.values(),
                                key=lambda c: c["_t"]):
                    if c["_on"] != oid or "parent_id" in c:
                        continue
                    d = self._public(c)
                    rs = [self._public(r) for r in self._children(c["id"])]
                    if rs:
                        d["replies"] = {"data": rs}
                    out.append(d)
                return 200, self._page(out, call)
            if oid in self.comments:   # a comment's replies (Page)
                return 200, self._page(
                    [self._public(c) for c in self._children(oid)], call)
        raise graph_error(400, 100, "Object with ID '%s' does not exist" % oid,
                          33, "GraphMethodException")

    def get_media(self, call, uid):
        self._auth(call)
        with self._lock:
            ms = sorted(self.media.values(), key=lambda m: m["timestamp"],
                        reverse=True)
            return 200, self._page(ms, call)

    def get_tags(self, call, uid):
        self._auth(call)
        with self._lock:
            return 200, self._page(list(reversed(self.tags)), call)

    def get_replies(self, call, cid):
        self._auth(call)
        with self._lock:
            if cid not in self.comments:
                raise graph_error(400, 100, "Object does not exist", 33)
            return 200, self._page(
                [self._public(c) for c in self._children(cid)], call)

    def get_convs(self, call, owner):
        self._auth(call)
        platform = call.params.get("platform", "messenger")
        if platform not in self.conversations:
            raise graph_error(400, 100, "(#100) platform must be one of "
                              "messenger, instagram")
        with self._lock:
            out = []
            for conv in sorted(self.conversations[platform].values(),
                               key=lambda c: c.get("updated_time", ""),
                               reverse=True):
                out.append({"id": conv["id"],
                            "updated_time": conv.get("updated_time"),
                            "messages": {"data": [
                                self._public(m)
                                for m in conv["messages"][:10]]}})
            return 200, self._page(out, call)

    def get_node(self, call, oid):
        self._auth(call)
        fields = call.params.get("fields", "")
        with self._lock:
            if oid == self.page_id:
                return 200, {"id": oid, "name": self.page_name}
            if oid == self.ig_id and "mentioned_comment" in fields:
                cid = fields.split("comment_id(")[1].split(")")[0]
                c = self.comments.get(cid)
                if c is None:
                    raise graph_error(400, 100, "Object does not exist", 33)
                m = self.others_media.get(c["_on"], {})
                return 200, {"mentioned_comment": {
                    "id": cid, "text": c["text"], "timestamp": c["timestamp"],
                    "username": c["username"],
                    "media": {"id": m.get("id"),
                              "permalink": m.get("permalink")}},
                    "id": oid}
            if oid == self.ig_id and "mentioned_media" in fields:
                mid = fields.split("media_id(")[1].split(")")[0]
                m = self.others_media.get(mid)
                if m is None:
                    raise graph_error(400, 100, "Object does not exist", 33)
                return 200, {"mentioned_media": dict(m), "id": oid}
            if oid == self.ig_id:
                return 200, {"id": oid, "username": self.ig_username}
            if oid in self.people:
                return 200, {"id": oid, "name": self.people[oid]}
        raise graph_error(400, 100, "Object with ID '%s' does not exist" % oid,
                          33, "GraphMethodException")

    # -- writing --------------------------------------------------------

    def _new_comment(self, call, on, parent, net, text_key):
        msg = call.params.get("message", "")
        if not msg:
            raise graph_error(400, 100, "(#100) Missing message")
        t = time.time()
        cid = self._id()
        if net == "fb":
            cid = "%s_%s" % (on.split("_")[-1], cid)
            c = {"id": cid, "message": msg, "created_time": graph_time(t),
                 "from": {"id": self.page_id, "name": self.page_name}}
            if parent:
                c["parent"] = {"id": parent}
        else:
            c = {"id": cid, "text": msg, "timestamp": graph_time(t),
                 "username": self.ig_username,
                 "from": {"id": self.ig_id, "username": self.ig_username}}
            if parent:
                c["parent_id"] = parent
        c.update({"_on": on, "_t": t, "_net": net})
        self.comments[cid] = c
        self.posted.append({"id": cid, "on": parent or on,
                            "message": msg, "params": dict(call.params)})
        return 200, {"id": cid}

    def post_comment(self, call, oid):
        self._auth(call, "page")
        with self._lock:
            if oid in self.posts:
                return self._new_comment(call, oid, None, "fb", "message")
            c = self.comments.get(oid)
            if c is not None and c["_net"] == "fb":
                # Graph keeps two levels: a reply to a reply joins its
                # top-level comment.
                top = c.get("parent", {}).get("id", oid)
                return self._new_comment(call, c["_on"], top, "fb", "message")
        raise graph_error(400, 100, "(#100) Object with ID '%s' does not "
                          "exist" % oid, 33)

    def post_reply(self, call, cid):
        self._auth(call)
        with self._lock:
            c = self.comments.get(cid)
            if c is None or c["_net"] != "ig":
                raise graph_error(400, 100, "Object does not exist", 33)
            if len(call.params.get("message", "")) > 300:
                raise graph_error(400, 100, "(#100) The comment is too long")
            return self._new_comment(call, c["_on"], cid, "ig", "text")

    def post_mention(self, call, uid):
        self._auth(call)
        with self._lock:
            mid = call.params.get("media_id")
            if uid != self.ig_id or mid not in self.others_media:
                raise graph_error(400, 100, "(#100) Invalid media_id")
            cid = call.params.get("comment_id")
            if cid is not None and cid not in self.comments:
                raise graph_error(400, 100, "(#100) Invalid comment_id")
            return self._new_comment(call, mid, cid, "ig", "text")

    def post_message(self, call, owner):
        self._auth(call)
        b = call.jbody or {}
        rid = (b.get("recipient") or {}).get("id")
        text = (b.get("message") or {}).get("text", "")
        with self._lock:
            platform = "messenger" if owner == self.page_id and \
                rid in self.conversations["messenger"] else "instagram"
            conv = self.conversations[platform].get(rid)
            if conv is None:
                raise graph_error(400, 100, "(#100) No matching user found",
                                  2018001)
            if platform == "messenger" and \
                    b.get("messaging_type") not in ("RESPONSE", "UPDATE",
                                                    "MESSAGE_TAG"):
                raise graph_error(400, 100, "(#100) param messaging_type "
                                  "must be one of RESPONSE, UPDATE, "
                                  "MESSAGE_TAG")
            if time.time() - conv.get("_last_in", 0) > WINDOW and \
                    b.get("tag") != "HUMAN_AGENT":
                raise graph_error(400, 10, "(#10) This message is sent "
                                  "outside of allowed window.", 2018278)
            if platform == "messenger" and len(text) > 2000 or \
                    platform == "instagram" and \
                    len(text.encode("utf-8")) > 1000:
                raise graph_error(400, 100, "(#100) Length of param "
                                  "message[text] must be less than or equal "
                                  "to %d" % (2000 if platform == "messenger"
                                             else 1000))
            mid = "m_" + secrets.token_urlsafe(16)
            me = {"id": self.page_id, "name": self.page_name}
            conv["messages"].insert(0, {
                "id": mid, "message": text, "from": me,
                "created_time": graph_time(time.time()), "_t": time.time()})
            self.sent.append({"owner": owner, "platform": platform,
                              "recipient": rid, "text": text, "body": b})
            return 200, {"recipient_id": rid, "message_id": mid}

    def like(self, call, oid):
        self._auth(call, "page")
        with self._lock:
            if oid not in self.comments and oid not in self.posts:
                raise graph_error(400, 100, "Object does not exist", 33)
            self.likes.append((call.method, oid))
            return 200, {"success": True}

    def update_comment(self, call, oid):
        """POST /{comment}: is_hidden=true|false (Page), hide=true|false
        (Instagram)."""
        self._auth(call)
        with self._lock:
            c = self.comments.get(oid)
            key = "is_hidden" if c is not None and c["_net"] == "fb" \
                else "hide"
            v = call.params.get(key)
            if c is None or v not in ("true", "false"):
                raise graph_error(400, 100, "(#100) Invalid parameter")
            c["_hidden"] = v == "true"
            self.hidden.append((oid, c["_hidden"]))
            return 200, {"success": True}

    def delete(self, call, oid):
        self._auth(call)
        with self._lock:
            if oid not in self.comments:
                raise graph_error(400, 100, "Object with ID '%s' does not "
                                  "exist" % oid, 33)
            del self.comments[oid]
            self.deleted.append(oid)
            return 200, {"success": True}


def main(argv=None):
    return serve_main(lambda a: MockMeta(tls=a.tls, verbose=a.verbose), argv,
                      "A mock of Meta's Graph API (tests/mock_meta.py)")


if __name__ == "__main__":
    sys.exit(main())
