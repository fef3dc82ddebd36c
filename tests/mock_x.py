#!/usr/bin/python3
"""A mock of the X API v2 (the parts a user's gateway uses), on mockframe.

    from mock_x import MockX
    m = MockX().start()        # m.base_url; m.client_id
    tok = m.add_token()        # an access token and a refresh token
    m.add_mention("alice", "is the bridge up?")
    ...
    m.stop()

Shapes follow X's OpenAPI description (xdevplatform/twitter-api-typescript-
sdk src/gen/openapi-types.ts): responses are {data, includes{users, tweets,
media}, errors[Problem], meta{newest_id, oldest_id, result_count,
next_token}}; ids are decimal strings; a Problem is {title, detail, type,
status} plus resource fields; a resource X cannot show is left out of
includes and named in errors[] beside data, with status 200.

What is guessed (the references do not say; README lists it too):
* the DM event and DM send shapes come from X's docs pages, not the OpenAPI
  types of that repository (which predate DMs);
* a refresh token that was used or revoked gets 400 {"error":
  "invalid_grant", "error_description": ...} (RFC 6749's word; X's own
  answer has been reported as "invalid_request" too);
* the 429 body and the absence of Retry-After; rate-limit windows are
  fixed 15-minute windows per token and endpoint family;
* the weighted-length check of POST /2/tweets uses the same twitter-text
  v3 rules as the gateway (every http(s) URL 23, no bare domains);
* search/recent matches "conversation_id:ID" only.

Ids start above 2**63 (id_start): a client that stores them in an int64
or a double breaks at once.

Test control (thread-safe; also POST /_mock/<name>): add_user, add_token,
expire_token, revoke_refresh, authorize, add_mention, add_post, add_dm,
delete_post, set_tier_block, slow_posts, set_ratelimit, and from the
framework fail, clear_failures, clear_requests.  State: posts, posted,
dms_sent, likes, retweets, following, requests, tokens.
"""

import base64
import hashlib
import os
import re
import secrets
import sys
import time
import unicodedata
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from mockframe import (HTTPError, HeaderStyle, MockServer,  # noqa: E402
                       RateLimiter, serve_main)

__all__ = ["MockX", "weighted_length"]

WINDOW = 900
STYLE = HeaderStyle("x-rate-limit-limit", "x-rate-limit-remaining",
                    "x-rate-limit-reset")
# Requests per 15 minutes per user token (X's published table).
LIMITS = {"mentions": 300, "dm_events": 15, "tweets_post": 100,
          "lookup": 900, "own": 900, "write": 50, "dm_post": 15,
          "search": 300}
PROBLEM_TYPE = "https://api.twitter.com/2/problems/"
SCOPES = ("tweet.read tweet.write users.read dm.read dm.write like.write "
          "follows.write offline.access")

DUPLICATE = ("You are not allowed to create a Tweet with duplicate "
             "content.")
TOO_LONG = ("Your Tweet text is too long. For more information on how "
            "Twitter determines text length see "
            "https://github.com/twitter/twitter-text.")
TIER = ("When authenticating requests to the Twitter API v2 endpoints, you "
        "must use keys and tokens from a Twitter developer App that is "
        "attached to a Project. You can create a project via the developer "
        "portal.")


def _iso(t=None):
    t = time.time() if t is None else t
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % (int(t * 1000) % 1000)


def problem(status, title, detail, type_="about:blank", **extra):
    body = {"title": title, "detail": detail, "type": type_,
            "status": status}
    body.update(extra)
    return HTTPError(status, body)


# --------------------------------------------------------------------------
# twitter-text v3, as the check of POST /2/tweets counts
# --------------------------------------------------------------------------

_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_URL = re.compile(r"(?<![\w@$#])https?://\S+", re.IGNORECASE)


def _is_emoji_start(ch, nxt):
    cp = ord(ch)
    if ch in "0123456789#*" and nxt in ("\u20e3", "\ufe0f"):
        return True
    pict = (0x1F000 <= cp <= 0x1FAFF or 0x2600 <= cp <= 0x27BF or
            0x1F1E6 <= cp <= 0x1F1FF or cp in (0x00A9, 0x00AE, 0x203C,
                                                0x2049, 0x2122, 0x2139))
    if not pict:
        return False
    light = any(lo <= cp <= hi for lo, hi in _LIGHT)
    return not light or nxt == "\ufe0f"


def weighted_length(text):
    """The weighted length twitter-text v3 gives: NFC; each URL 23 (its
    trailing punctuation counted apart); emoji sequences 2; other code
    points 1 in the light ranges, else 2."""
    t = unicodedata.normalize("NFC", text)
    n, i = 0, 0
    while i < len(t):
        m = _URL.match(t, i) if (i == 0 or not (t[i - 1].isalnum() or
                                                t[i - 1] in "_@$#")) \
            else None
        if m:
            url = m.group(0)
            while len(url) > 8 and url[-1] in ".,:;!?'\"":
                url = url[:-1]
            if len(url) > 8 and url[-1] == ")" and "(" not in url:
                url = url[:-1]
            n += 23
            i += len(url)
            continue
        ch = t[i]
        nxt = t[i + 1] if i + 1 < len(t) else ""
        if _is_emoji_start(ch, nxt):
            j = i + 1
            # the sequence: modifiers, joiners and what they join, tags
            while j < len(t) and (t[j] in "\ufe0f\u20e3\u200d" or
                                  0x1F3FB <= ord(t[j]) <= 0x1F3FF or
                                  0xE0020 <= ord(t[j]) <= 0xE007F or
                                  (t[j - 1] == "\u200d") or
                                  (0x1F1E6 <= ord(ch) <= 0x1F1FF and
                                   j == i + 1 and
                                   0x1F1E6 <= ord(t[j]) <= 0x1F1FF)):
                j += 1
            n += 2
            i = j
            continue
        cp = ord(ch)
        n += 1 if any(lo <= cp <= hi for lo, hi in _LIGHT) else 2
        i += 1
    return n


# --------------------------------------------------------------------------
# the mock
# --------------------------------------------------------------------------

class MockX(MockServer):
    server_name = "tsa_b"
    CONTROL = MockServer.CONTROL + (
        "add_user", "add_token", "expire_token", "revoke_refresh",
        "authorize", "add_mention", "add_post", "add_dm", "delete_post",
        "set_tier_block", "slow_posts", "set_ratelimit", "stall_next_page")
    STATE = MockServer.STATE + ("posts", "posted", "dms_sent", "likes",
                                "retweets", "following", "tokens")

    def __init__(self, tls=False, id_start=9223372036854775900,
                 me="gw_bridge", client_id="parley-test-client",
                 long_posts=False, limits=None, **kw):
        MockServer.__init__(self, tls=tls, **kw)
        self._next_id = id_start
        self.client_id = client_id
        self.long_posts = long_posts
        self.users = {}         # id -> user
        self.by_name = {}       # lower username -> id
        self.hidden = {}        # user id -> "deleted" | "protected"
        self.posts = {}         # id -> post (X's Post object + _extra)
        self.posted = []        # bodies of POST /2/tweets that were made
        self.dm_events = []     # X's DmEvent objects
        self.dms_sent = []      # {"conversation", "participant", "text"}
        self.likes, self.retweets, self.following = set(), set(), set()
        self.tokens = {}        # access token -> {"user", "expires"}
        self.refresh = {}       # refresh token -> user id
        self.codes = {}         # code -> what authorize saw
        self.blocked = []       # path regexes answered with a tier 403
        self.post_delay = []    # seconds to stall the next posts' answers
        self.stall_page = 0     # seconds to stall the next mentions page 2+
        self.limiters = {k: RateLimiter(v, WINDOW, STYLE, body={
            "title": "Too Many Requests", "detail": "Too Many Requests",
            "type": "about:blank", "status": 429}, retry_after=False)
            for k, v in dict(LIMITS, **(limits or {})).items()}
        self.me = self.add_user(me, "Gateway Bridge")
        self._routes_add()

    # ------------------------------------------------------------------
    # ids, users, tokens
    # ------------------------------------------------------------------

    def _id(self):
        with self._lock:
            self._next_id += 1
            return str(self._next_id)

    def add_user(self, username, name=None, protected=False, hidden=None,
                 description=""):
        """A user; hidden "deleted" or "protected" leaves them out of
        includes with a problem in errors[] (what X does for an author it
        will not show)."""
        with self._lock:
            uid = self.by_name.get(username.lower())
            if uid is None:
                uid = self._id()
                self.users[uid] = {
                    "id": uid, "username": username,
                    "name": name or username, "protected": protected,
                    "description": description,
                    "created_at": "2012-03-04T05:06:07.000Z",
                    "public_metrics": {"followers_count": 12,
                                       "following_count": 34,
                                       "tweet_count": 56,
                                       "listed_count": 0}}
                self.by_name[username.lower()] = uid
            if hidden:
                self.hidden[uid] = hidden
            return dict(self.users[uid])

    def add_token(self, user=None, expires_in=7200):
        """A signed-in session: {"access_token", "refresh_token"}."""
        uid = self.me["id"] if user is None else self.by_name[user.lower()]
        with self._lock:
            at, rt = "at-" + secrets.token_hex(8), "rt-" + \
                secrets.token_hex(8)
            self.tokens[at] = {"user": uid,
                               "expires": time.time() + expires_in}
            self.refresh[rt] = uid
            return {"access_token": at, "refresh_token": rt,
                    "expires_in": expires_in}

    def expire_token(self, token=None):
        """Every access token (or one) answers 401 from now on."""
        with self._lock:
            for t, v in self.tokens.items():
                if token is None or t == token:
                    v["expires"] = 0

    def revoke_refresh(self):
        with self._lock:
            self.refresh.clear()

    def authorize(self, url, approve=True):
        """What X's authorize page does when the user approves: checks the
        request and returns the address the browser is sent to."""
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
        one = {k: v[0] for k, v in q.items()}
        for k in ("response_type", "client_id", "redirect_uri", "scope",
                  "state", "code_challenge", "code_challenge_method"):
            if k not in one:
                raise ValueError("authorize: %s missing" % k)
        if one["response_type"] != "code" or \
                one["code_challenge_method"] != "S256" or \
                one["client_id"] != self.client_id:
            raise ValueError("authorize: bad request %r" % one)
        if set(one["scope"].split()) != set(SCOPES.split()):
            raise ValueError("authorize: scopes %r" % one["scope"])
        sep = "&" if "?" in one["redirect_uri"] else "?"
        if not approve:
            return "%s%serror=access_denied&state=%s" % (
                one["redirect_uri"], sep, one["state"])
        code = "code-" + secrets.token_hex(8)
        with self._lock:
            self.codes[code] = dict(one, time=time.time())
        return "%s%sstate=%s&code=%s" % (one["redirect_uri"], sep,
                                          urllib.parse.quote(one["state"]),
                                          code)

    # ------------------------------------------------------------------
    # content
    # ------------------------------------------------------------------

    def _post(self, author_id, text, reply_to=None, quote=None, media=None,
              note=False, withheld=None, conversation=None):
        pid = self._id()
        post = {"id": pid, "text": text, "author_id": author_id,
                "created_at": _iso(), "edit_history_tweet_ids": [pid],
                "conversation_id": conversation or pid}
        ents = {}
        ments = []
        for m in re.finditer(r"(?<!\w)@(\w{1,15})", text):
            uid = self.by_name.get(m.group(1).lower())
            ments.append(dict({"start": m.start(), "end": m.end(),
                               "username": m.group(1)},
                              **({"id": uid} if uid else {})))
        if ments:
            ents["mentions"] = ments
        urls = []
        for m in re.finditer(r"https?://\S+", text):
            urls.append({"start": m.start(), "end": m.end(),
                         "url": "https://t.co/" + secrets.token_hex(5),
                         "expanded_url": m.group(0),
                         "display_url": m.group(0).split("//", 1)[1][:25]})
        refs = []
        if reply_to:
            parent = self.posts[reply_to]
            refs.append({"type": "replied_to", "id": reply_to})
            post["in_reply_to_user_id"] = parent["author_id"]
            post["conversation_id"] = parent["conversation_id"]
        if quote:
            refs.append({"type": "quoted", "id": quote})
            urls.append({"start": len(text), "end": len(text) + 23,
                         "url": "https://t.co/" + secrets.token_hex(5),
                         "expanded_url": "https://x.com/i/status/" + quote})
        if media:
            keys = []
            for i, m in enumerate(media):
                key = "3_%s%d" % (pid, i)
                keys.append(key)
                post.setdefault("_media", []).append(dict(
                    {"media_key": key, "type": m.get("type", "photo"),
                     "url": "https://pbs.twimg.com/media/%s%d.jpg" % (pid, i)},
                    **({"alt_text": m["alt"]} if m.get("alt") else {})))
            post["attachments"] = {"media_keys": keys}
            urls.append({"start": len(text), "end": len(text) + 23,
                         "url": "https://t.co/m" + secrets.token_hex(4),
                         "expanded_url": "https://x.com/i/photo",
                         "media_key": keys[0]})
        # X writes t.co links into the text, and appends one for media and
        # quotes.
        shown = text
        for u in urls:
            if u["start"] < len(text):
                shown = shown.replace(u["expanded_url"], u["url"], 1)
            else:
                shown += " " + u["url"]
        if urls:
            ents["urls"] = urls
        if refs:
            post["referenced_tweets"] = refs
        if ents:
            post["entities"] = ents
        x_escaped = shown.replace("&", "&amp;").replace("<", "&lt;") \
            .replace(">", "&gt;")
        if note:
            post["note_tweet"] = {"text": text, "entities": ents}
            post["text"] = x_escaped[:270] + "…"
        else:
            post["text"] = x_escaped
        if withheld:
            post["withheld"] = {"copyright": False,
                                "country_codes": list(withheld),
                                "scope": "tweet"}
        with self._lock:
            self.posts[pid] = post
        return post

    def add_mention(self, username="alice", text=None, reply_to=None,
                    quote=None, media=None, note=False, withheld=None,
                    hidden=None, name=None, drop_quote=None):
        """A post by username that mentions me (or answers reply_to, one of
        my posts).  hidden: "deleted"/"protected" keeps the author out of
        includes; drop_quote: the quoted post is left out of includes with
        this problem title."""
        u = self.add_user(username, name, hidden=hidden)
        if text is None:
            text = "hello"
        if not reply_to and "@" + self.me["username"] not in text:
            text = "@%s %s" % (self.me["username"], text)
        p = self._post(u["id"], text, reply_to=reply_to, quote=quote,
                       media=media, note=note, withheld=withheld)
        if drop_quote:
            p["_drop_quote"] = drop_quote
        p["_mention"] = True
        return p

    def add_post(self, username=None, text="a post", reply_to=None):
        """Any post (mine when username is None)."""
        uid = self.me["id"] if username is None else \
            self.add_user(username)["id"]
        return self._post(uid, text, reply_to=reply_to)

    def add_dm(self, username="alice", text="hi", conversation=None):
        u = self.add_user(username)
        a, b = sorted((int(u["id"]), int(self.me["id"])))
        ev = {"id": self._id(), "event_type": "MessageCreate", "text": text,
              "sender_id": u["id"],
              "dm_conversation_id": conversation or "%d-%d" % (a, b),
              "created_at": _iso()}
        with self._lock:
            self.dm_events.append(ev)
        return ev

    def delete_post(self, id):
        with self._lock:
            return self.posts.pop(id, None) is not None

    def set_tier_block(self, pattern):
        """Answer requests whose path matches with the 403 an app gets when
        its access tier lacks the endpoint."""
        with self._lock:
            self.blocked.append(re.compile(pattern))

    def slow_posts(self, seconds, times=1):
        """The next POST /2/tweets are made, then answered only after
        seconds (the client gives up first: "made, but no answer")."""
        with self._lock:
            self.post_delay.extend([seconds] * times)

    def stall_next_page(self, seconds=30):
        """The next request for a second (or later) page of mentions is
        answered only after seconds: a poll caught in the middle."""
        with self._lock:
            self.stall_page = seconds

    def set_ratelimit(self, family, remaining, reset=None, limit=None):
        self.limiters[family].set(remaining, reset, limit=limit)

    # ------------------------------------------------------------------
    # framework hooks
    # ------------------------------------------------------------------

    def _family(self, call):
        p, m = call.path, call.method
        if p.endswith("/mentions"):
            return "mentions"
        if p == "/2/dm_events":
            return "dm_events"
        if p == "/2/tweets" and m == "POST":
            return "tweets_post"
        if "/dm_conversations/" in p:
            return "dm_post"
        if p.startswith("/2/tweets/search"):
            return "search"
        if re.match(r"^/2/users/\d+/tweets$", p):
            return "own"
        if m in ("POST", "DELETE"):
            return "write"
        return "lookup"

    def ratelimit(self, call):
        if call.path.startswith("/2/oauth2/"):
            return None
        return (self.limiters[self._family(call)],
                call.headers.get("authorization", ""), True)

    def fault_body(self, status):
        return {"title": {500: "Internal Server Error",
                          503: "Service Unavailable"}.get(status, "Error"),
                "detail": "Something went wrong", "type": "about:blank",
                "status": status}

    def not_found(self, call):
        raise problem(404, "Not Found Error", "Sorry, that page does not "
                      "exist.")

    def info(self):
        return dict(MockServer.info(self), client_id=self.client_id)

    def _user_of(self, call):
        m = re.match(r"^Bearer\s+(\S+)$",
                     call.headers.get("authorization", ""))
        tok = self.tokens.get(m.group(1)) if m else None
        if tok is None or tok["expires"] < time.time():
            raise problem(401, "Unauthorized", "Unauthorized")
        for rx in self.blocked:
            if rx.search(call.path):
                raise HTTPError(403, {
                    "client_id": self.client_id, "detail": TIER,
                    "registration_url": "https://developer.twitter.com/en/"
                    "docs/projects/overview",
                    "title": "Client Forbidden",
                    "required_enrollment": "Appropriate Level of API Access",
                    "reason": "client-not-enrolled",
                    "type": PROBLEM_TYPE + "client-forbidden"})
        return tok["user"]

    # ------------------------------------------------------------------
    # routes
    # ------------------------------------------------------------------

    def _routes_add(self):
        r = self.route
        r("POST", r"/2/oauth2/token", self._r_token)
        r("GET", r"/2/users/me", self._r_me)
        r("GET", r"/2/users/(\d+)/mentions", self._r_mentions)
        r("GET", r"/2/users/(\d+)/tweets", self._r_user_tweets)
        r("GET", r"/2/users/by/username/(\w+)", self._r_by_username)
        r("POST", r"/2/tweets", self._r_create)
        r("DELETE", r"/2/tweets/(\d+)", self._r_delete)
        r("GET", r"/2/tweets/search/recent", self._r_search)
        r("POST", r"/2/users/(\d+)/likes", self._r_like)
        r("DELETE", r"/2/users/(\d+)/likes/(\d+)", self._r_unlike)
        r("POST", r"/2/users/(\d+)/retweets", self._r_retweet)
        r("DELETE", r"/2/users/(\d+)/retweets/(\d+)", self._r_unretweet)
        r("POST", r"/2/users/(\d+)/following", self._r_follow)
        r("DELETE", r"/2/users/(\d+)/following/(\d+)", self._r_unfollow)
        r("GET", r"/2/dm_events", self._r_dm_events)
        r("POST", r"/2/dm_conversations/with/(\d+)/messages",
          self._r_dm_with)
        r("POST", r"/2/dm_conversations/([\d-]+)/messages", self._r_dm_conv)

    # -- OAuth 2.0 -------------------------------------------------------

    def _r_token(self, call):
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            call.body.decode("utf-8", "replace")).items()}
        client = form.get("client_id")
        auth = call.headers.get("authorization", "")
        if auth.startswith("Basic "):
            client = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        if client != self.client_id:
            raise HTTPError(401, {"error": "invalid_client",
                                  "error_description": "Missing valid "
                                  "authorization header"})
        grant = form.get("grant_type")
        with self._lock:
            if grant == "authorization_code":
                c = self.codes.pop(form.get("code", ""), None)
                verifier = form.get("code_verifier", "")
                challenge = base64.urlsafe_b64encode(hashlib.sha256(
                    verifier.encode()).digest()).rstrip(b"=").decode()
                if c is None or c["redirect_uri"] != form.get(
                        "redirect_uri") or c["code_challenge"] != challenge \
                        or time.time() - c["time"] > 30:
                    raise HTTPError(400, {
                        "error": "invalid_request",
                        "error_description": "Value passed for the "
                        "authorization code was invalid."})
                uid = self.me["id"]
            elif grant == "refresh_token":
                uid = self.refresh.pop(form.get("refresh_token", ""), None)
                if uid is None:
                    raise HTTPError(400, {
                        "error": "invalid_grant",
                        "error_description": "Value passed for the token "
                        "was invalid."})
            else:
                raise HTTPError(400, {"error": "unsupported_grant_type"})
            at, rt = "at-" + secrets.token_hex(8), "rt-" + \
                secrets.token_hex(8)
            self.tokens[at] = {"user": uid, "expires": time.time() + 7200}
            self.refresh[rt] = uid
        return 200, {"token_type": "bearer", "expires_in": 7200,
                     "access_token": at, "scope": SCOPES,
                     "refresh_token": rt}

    # -- reading ---------------------------------------------------------

    def _r_me(self, call):
        uid = self._user_of(call)
        return 200, {"data": self._public_user(self.users[uid])}

    @staticmethod
    def _public_user(u):
        return {k: v for k, v in u.items()
                if k in ("id", "username", "name", "protected")}

    def _expand(self, posts, full_users=False):
        """includes and errors for a list of posts, as X builds them."""
        users, tweets, media, errors = {}, {}, [], []

        def user(uid):
            if uid in self.hidden:
                how = self.hidden[uid]
                errors.append({
                    "value": uid, "resource_id": uid,
                    "resource_type": "user", "parameter": "author_id",
                    "section": "includes",
                    "title": ("Authorization Error" if how == "protected"
                              else "Not Found Error"),
                    "detail": ("Sorry, you are not authorized to see the "
                               "user with id: [%s]." % uid
                               if how == "protected" else
                               "Could not find user with id: [%s]." % uid),
                    "type": PROBLEM_TYPE + ("not-authorized-for-resource"
                                            if how == "protected"
                                            else "resource-not-found")})
            elif uid in self.users:
                users[uid] = self._public_user(self.users[uid])

        for p in posts:
            user(p["author_id"])
            for ref in p.get("referenced_tweets", []):
                q = self.posts.get(ref["id"])
                if q is None or (ref["type"] == "quoted" and
                                 p.get("_drop_quote")):
                    errors.append({
                        "value": ref["id"], "resource_id": ref["id"],
                        "resource_type": "tweet",
                        "parameter": "referenced_tweets.id",
                        "section": "includes",
                        "title": p.get("_drop_quote") or "Not Found Error",
                        "detail": "Could not find tweet with "
                        "referenced_tweets.id: [%s]." % ref["id"],
                        "type": PROBLEM_TYPE + "resource-not-found"})
                    continue
                tweets[q["id"]] = self._public_post(q)
                user(q["author_id"])
            media.extend(p.get("_media", []))
        inc = {}
        if users:
            inc["users"] = list(users.values())
        if tweets:
            inc["tweets"] = list(tweets.values())
        if media:
            inc["media"] = media
        return inc, errors

    @staticmethod
    def _public_post(p):
        return {k: v for k, v in p.items() if not k.startswith("_")}

    def _page(self, call, items, lo=5, hi=100):
        """A newest-first page of items with X's meta and next_token."""
        q = {k: v[0] for k, v in call.query.items()}
        try:
            n = int(q.get("max_results", "10"))
        except ValueError:
            n = -1
        if not lo <= n <= hi:
            raise HTTPError(400, {"errors": [{
                "parameters": {"max_results": [q.get("max_results")]},
                "message": "The `max_results` query parameter value [%s] is "
                "not between %d and %d" % (q.get("max_results"), lo, hi)}],
                "title": "Invalid Request", "detail": "One or more "
                "parameters to your request was invalid.",
                "type": PROBLEM_TYPE + "invalid-request"})
        start = 0
        if q.get("pagination_token"):
            try:
                start = int(q["pagination_token"], 36)
            except ValueError:
                raise problem(400, "Invalid Request", "bad pagination_token")
        page = items[start:start + n]
        meta = {"result_count": len(page)}
        if page:
            meta["newest_id"] = page[0]["id"]
            meta["oldest_id"] = page[-1]["id"]
        if start + n < len(items):
            meta["next_token"] = _b36(start + n)
        return page, meta

    def _r_mentions(self, call, uid):
        me = self._user_of(call)
        if uid != me:
            raise problem(403, "Forbidden", "You can only read your own "
                          "mentions with this token.")
        since = call.query.get("since_id", [None])[0]
        with self._lock:
            stall, self.stall_page = (self.stall_page, 0) \
                if "pagination_token" in call.query else (0, self.stall_page)
        if stall:
            self._stopping.wait(stall)
        with self._lock:
            items = sorted((p for p in self.posts.values()
                            if p.get("_mention") and
                            (since is None or int(p["id"]) > int(since))),
                           key=lambda p: -int(p["id"]))[:800]
            page, meta = self._page(call, items)
            inc, errors = self._expand(page)
            out = {"meta": meta}
            if page:
                out["data"] = [self._public_post(p) for p in page]
            if inc:
                out["includes"] = inc
            if errors:
                out["errors"] = errors
        return 200, out

    def _r_user_tweets(self, call, uid):
        self._user_of(call)
        with self._lock:
            items = sorted((p for p in self.posts.values()
                            if p["author_id"] == uid),
                           key=lambda p: -int(p["id"]))
            page, meta = self._page(call, items)
            out = {"meta": meta}
            if page:
                out["data"] = [self._public_post(p) for p in page]
        return 200, out

    def _r_by_username(self, call, name):
        self._user_of(call)
        uid = self.by_name.get(name.lower())
        if uid is None or self.hidden.get(uid) == "deleted":
            return 200, {"errors": [{
                "value": name, "detail": "Could not find user with "
                "username: [%s]." % name, "title": "Not Found Error",
                "resource_type": "user", "parameter": "username",
                "resource_id": name,
                "type": PROBLEM_TYPE + "resource-not-found"}]}
        return 200, {"data": dict(self.users[uid])}

    def _r_search(self, call):
        self._user_of(call)
        q = call.query.get("query", [""])[0]
        m = re.match(r"^conversation_id:(\d+)$", q)
        if not m:
            raise problem(400, "Invalid Request", "unsupported query")
        with self._lock:
            items = sorted((p for p in self.posts.values()
                            if p["conversation_id"] == m.group(1)),
                           key=lambda p: -int(p["id"]))
            page, meta = self._page(call, items, 10, 100)
            inc, errors = self._expand(page)
            out = {"meta": meta}
            if page:
                out["data"] = [self._public_post(p) for p in page]
            if inc:
                out["includes"] = inc
            if errors:
                out["errors"] = errors
        return 200, out

    def _r_dm_events(self, call):
        me = self._user_of(call)
        with self._lock:
            items = sorted((e for e in self.dm_events
                            if me in e["dm_conversation_id"].split("-") or
                            e["sender_id"] == me),
                           key=lambda e: -int(e["id"]))
            page, meta = self._page(call, items, 1, 100)
            users = {}
            for e in page:
                u = self.users.get(e["sender_id"])
                if u and e["sender_id"] not in self.hidden:
                    users[u["id"]] = self._public_user(u)
            out = {"meta": {k: v for k, v in meta.items()
                            if k in ("result_count", "next_token")}}
            if page:
                out["data"] = [dict(e) for e in page]
            if users:
                out["includes"] = {"users": list(users.values())}
        return 200, out

    # -- writing ---------------------------------------------------------

    def _r_create(self, call):
        me = self._user_of(call)
        body = call.json()
        text = body.get("text", "")
        reply = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        quote = body.get("quote_tweet_id")
        if not text and not quote:
            raise problem(400, "Invalid Request", "One or more parameters "
                          "to your request was invalid.")
        limit = 25000 if self.long_posts else 280
        if weighted_length(text) > limit:
            raise problem(403, "Forbidden", TOO_LONG)
        with self._lock:
            if reply and reply not in self.posts:
                raise problem(403, "Forbidden", "You attempted to reply to "
                              "a Tweet that is deleted or not visible to "
                              "you.")
            for p in self.posts.values():
                if p["author_id"] == me and text and \
                        p.get("_sent_text") == text:
                    raise problem(403, "Forbidden", DUPLICATE)
            post = self._post(me, text, reply_to=reply, quote=quote,
                              note=weighted_length(text) > 280)
            post["_sent_text"] = text
            self.posted.append(dict(body, id=post["id"]))
            delay = self.post_delay.pop(0) if self.post_delay else 0
        if delay:
            self._stopping.wait(delay)
        return 201, {"data": {"id": post["id"], "text": text,
                              "edit_history_tweet_ids": [post["id"]]}}

    def _r_delete(self, call, pid):
        me = self._user_of(call)
        with self._lock:
            p = self.posts.get(pid)
            if p is None or p["author_id"] != me:
                raise problem(403, "Forbidden", "You are not allowed to "
                              "delete this Tweet.")
            del self.posts[pid]
        return 200, {"data": {"deleted": True}}

    def _own(self, call, uid):
        me = self._user_of(call)
        if uid != me:
            raise problem(403, "Forbidden", "You are not permitted to "
                          "perform this action.")
        return me

    def _tweet_arg(self, call):
        tid = call.json().get("tweet_id")
        if tid not in self.posts:
            raise problem(404, "Not Found Error", "Could not find tweet "
                          "with id: [%s]." % tid)
        return tid

    def _r_like(self, call, uid):
        self._own(call, uid)
        with self._lock:
            self.likes.add(self._tweet_arg(call))
        return 200, {"data": {"liked": True}}

    def _r_unlike(self, call, uid, tid):
        self._own(call, uid)
        with self._lock:
            self.likes.discard(tid)
        return 200, {"data": {"liked": False}}

    def _r_retweet(self, call, uid):
        self._own(call, uid)
        with self._lock:
            self.retweets.add(self._tweet_arg(call))
        return 200, {"data": {"retweeted": True}}

    def _r_unretweet(self, call, uid, tid):
        self._own(call, uid)
        with self._lock:
            self.retweets.discard(tid)
        return 200, {"data": {"retweeted": False}}

    def _r_follow(self, call, uid):
        self._own(call, uid)
        target = call.json().get("target_user_id")
        if target not in self.users:
            raise problem(400, "Invalid Request", "The `target_user_id` "
                          "query parameter value is not valid")
        with self._lock:
            self.following.add(target)
        return 200, {"data": {"following": True, "pending_follow": False}}

    def _r_unfollow(self, call, uid, target):
        self._own(call, uid)
        with self._lock:
            self.following.discard(target)
        return 200, {"data": {"following": False}}

    def _dm(self, call, conv, participant):
        me = self._user_of(call)
        text = call.json().get("text", "")
        if not text:
            raise problem(400, "Invalid Request", "text is required")
        ev = {"id": self._id(), "event_type": "MessageCreate", "text": text,
              "sender_id": me, "dm_conversation_id": conv,
              "created_at": _iso()}
        with self._lock:
            self.dm_events.append(ev)
            self.dms_sent.append({"conversation": conv,
                                  "participant": participant, "text": text})
        return 201, {"data": {"dm_conversation_id": conv,
                              "dm_event_id": ev["id"]}}

    def _r_dm_with(self, call, pid):
        if pid not in self.users:
            raise problem(400, "Invalid Request", "participant_id is not "
                          "valid")
        a, b = sorted((int(pid), int(self.me["id"])))
        return self._dm(call, "%d-%d" % (a, b), pid)

    def _r_dm_conv(self, call, conv):
        with self._lock:
            known = any(e["dm_conversation_id"] == conv
                        for e in self.dm_events)
        if not known:
            raise problem(403, "Forbidden", "You cannot send messages to "
                          "this conversation.")
        return self._dm(call, conv, None)


def _b36(n):
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + s
        if n == 0:
            return s


def main():
    return serve_main(lambda a: MockX(tls=a.tls, verbose=a.verbose,
                                      port=a.port),
                      description="A mock X API v2 server.")


if __name__ == "__main__":
    sys.exit(main())
