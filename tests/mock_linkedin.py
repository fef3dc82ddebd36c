#!/usr/bin/python3
"""A mock of LinkedIn's Community Management API for one Company Page.

Standard library only, built on tests/mockframe.  Typical use:

    sys.path.insert(0, TESTS_DIR)
    from mock_linkedin import MockLinkedIn

    m = MockLinkedIn().start()
    ...  # api_base = oauth_base = m.base_url, token m.token
    c = m.add_comment("Jane Doe", "is this on?")
    assert m.wait_for(lambda: m.created)
    m.stop()

What it imitates (LinkedIn-Version 2026xx, from Microsoft's LinkedIn
Marketing API documentation: Community Management, Rest.li 2.0, error
handling, webhook validation, OAuth 3-legged flow and programmatic refresh
tokens; checked where the pages are silent against LinkedIn's own SDK,
linkedin-developers/linkedin-api-python-client):

* Every /rest/ call needs ``LinkedIn-Version: YYYYMM`` (400
  ``VERSION_MISSING`` without it; 426 ``NONEXISTENT_VERSION`` "Requested
  version YYYYMM01 is not active" for one outside the active range or
  sunset by ``sunset()``), a Bearer token (401 with ``serviceErrorCode``
  65600 invalid, 65601 revoked, 65602 expired) and
  ``X-Restli-Protocol-Version: 2.0.0``.
* Errors are Rest.li's: ``{"status", "serviceErrorCode", "code",
  "message"}``.  OAuth errors are ``{"error", "error_description"}``.
* Rest.li 2.0 URLs: values percent-encoded (a URN's ':' too), the syntax
  ``List(...)`` and ``(key:value,...)`` literal.  A raw reserved character
  inside a value is refused with 400 (a guess at how strict LinkedIn is:
  it makes an encoding bug fail here rather than in production).
* Collections: ``{"elements": [...], "paging": {"start", "count", "links"}}``
  with offset paging (start, count).
* URNs: ``urn:li:organization:N``, ``urn:li:person:ID``,
  ``urn:li:share:N`` / ``urn:li:activity:N`` for posts,
  ``urn:li:comment:(urn:li:activity:N,ID)`` for comments.
* organizationalEntityNotifications?q=criteria (actions, timeRange,
  60-day retention), socialActions/{urn}/comments (get, list, create
  with parentComment, delete), reactions (create, delete), posts/{urn},
  people/(id:X), organizations/N, oauth/v2/authorization and accessToken.
* No rate-limit headers, ever.  A 429 is Rest.li's TOO_MANY_REQUESTS;
  ``set_quota()`` spends a resource's daily allowance ("Resource level
  throttle APPLICATION DAY limit ...").
* Webhooks: ``webhook_delivery()`` builds the POST LinkedIn would send
  (body and X-LI-Signature) and ``challenge()`` the validation answer.

Where the documentation is silent the mock guesses; each guess is marked
"GUESS" below and listed in README.md ("Untested against the real
service").

Test control (thread-safe; also POST /_mock/<name>): add_person,
add_org_post, add_comment, add_mention, edit_comment, delete_comment,
add_notification, sunset, expire_token, revoke, add_token, issue_code,
set_quota, clear_quota, set_refresh_tokens, set_token_lifetime, challenge,
webhook_delivery,
and from the framework fail, clear_failures, clear_requests.
State: comments, created, deleted, reactions, notifications, tokens,
codes, posts, people, sunset_versions (info: token, org_urn, client_id,
client_secret, redirect_uri).

CLI: mock_linkedin.py --port-file F [--info-file F.json] [--tls]
"""

import hashlib
import hmac
import re
import secrets
import sys
import time
import urllib.parse

from mockframe import HTTPError, MockServer, Request, dumps, serve_main

__all__ = ["MockLinkedIn", "Request", "restli_decode", "restli_encode"]

DAY_MS = 86400000
RETENTION_MS = 60 * DAY_MS
TOKEN_LIFETIME_S = 60 * 86400          # "all access tokens ... 60-day"
REFRESH_LIFETIME_S = 365 * 86400
CODE_LIFETIME_S = 30 * 60              # "a 30-minute lifespan"
# GUESS: the Comments API names no limit; the LinkedIn site stops at 1250.
COMMENT_MAX = 1250
# The versions this mock answers: a year of monthly versions.  GUESS: the
# real active range moves monthly; a test that needs a refusal calls
# sunset().
ACTIVE_FROM = "202512"
ACTIVE_TO = "202612"
SCOPES_NEEDED = {"rw_organization_admin", "r_organization_social_feed",
                 "w_organization_social_feed"}
ACTIONS = ("LIKE", "COMMENT", "SHARE", "SHARE_MENTION", "ADMIN_COMMENT",
           "COMMENT_EDIT", "COMMENT_DELETE")
RESERVED = set("(),:'")


def now_ms():
    return int(time.time() * 1000)


# --------------------------------------------------------------------------
# Rest.li 2.0 encoding (as linkedin-api-python-client's encoder does it)
# --------------------------------------------------------------------------

def restli_encode(value):
    """A value in Rest.li 2.0 URL syntax: strings percent-encoded with
    nothing safe, lists as List(...), dicts as (k:v,...) sorted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return urllib.parse.quote(value, safe="")
    if isinstance(value, (list, tuple)):
        return "List(%s)" % ",".join(restli_encode(v) for v in value)
    if isinstance(value, dict):
        return "(%s)" % ",".join("%s:%s" % (restli_encode(k),
                                            restli_encode(v))
                                 for k, v in sorted(value.items()))
    return str(value)


class RestliError(ValueError):
    pass


def restli_decode(text):
    """Parse a Rest.li 2.0 value: List(...) to a list, (k:v,...) to a dict,
    anything else percent-decoded.  A reserved character left raw inside a
    plain value is an error."""
    value, rest = _decode(text, 0, top=True)
    if rest != len(text):
        raise RestliError("trailing characters in %r" % (text,))
    return value


def _decode(s, i, top=False):
    if s.startswith("List(", i):
        items, i = [], i + 5
        if s.startswith(")", i):
            return items, i + 1
        while True:
            v, i = _decode(s, i)
            items.append(v)
            if s.startswith(",", i):
                i += 1
            elif s.startswith(")", i):
                return items, i + 1
            else:
                raise RestliError("bad list in %r" % (s,))
    if s.startswith("(", i):
        out, i = {}, i + 1
        if s.startswith(")", i):
            return out, i + 1
        while True:
            j = s.find(":", i)
            if j < 0:
                raise RestliError("bad map in %r" % (s,))
            key = urllib.parse.unquote(s[i:j])
            v, i = _decode(s, j + 1)
            out[key] = v
            if s.startswith(",", i):
                i += 1
            elif s.startswith(")", i):
                return out, i + 1
            else:
                raise RestliError("bad map in %r" % (s,))
    j = i
    while j < len(s) and s[j] not in ",)" and not (top is False and
                                                    s[j] == ":"):
        if s[j] in RESERVED:
            raise RestliError("reserved character %r not encoded in %r"
                              % (s[j], s))
        j += 1
    return urllib.parse.unquote(s[i:j]), j


def _utf16_len(s):
    return len(s.encode("utf-16-le")) // 2


def _err(status, code, message, service=None):
    body = {"status": status, "code": code, "message": message}
    if service is not None:
        body["serviceErrorCode"] = service
    return HTTPError(status, body)


def _oauth_err(status, error, desc):
    return HTTPError(status, {"error": error, "error_description": desc})


# --------------------------------------------------------------------------
# the mock
# --------------------------------------------------------------------------

class MockLinkedIn(MockServer):
    server_name = "LinkedIn"
    CONTROL = MockServer.CONTROL + (
        "add_person", "add_org_post", "add_comment", "add_mention",
        "edit_comment", "delete_comment", "add_notification", "sunset",
        "expire_token", "revoke", "add_token", "issue_code", "set_quota",
        "clear_quota", "set_refresh_tokens", "set_token_lifetime",
        "challenge", "webhook_delivery")
    STATE = MockServer.STATE + (
        "comments", "created", "deleted", "reactions", "notifications",
        "tokens", "codes", "posts", "people", "sunset_versions")

    def __init__(self, tls=False, port=0, verbose=False, org_id=2414183,
                 org_name="Parley Test Co", org_vanity="parley-test-co",
                 token="test-token", client_id="test-client",
                 client_secret="test-secret",
                 redirect_uri="https://parley.example/linkedin/callback",
                 refresh_tokens=False):
        MockServer.__init__(self, tls=tls, port=port, verbose=verbose)
        self.org_id = int(org_id)
        self.org_urn = "urn:li:organization:%d" % self.org_id
        self.org = {"id": self.org_id, "localizedName": org_name,
                    "vanityName": org_vanity,
                    "name": {"localized": {"en_US": org_name},
                             "preferredLocale": {"country": "US",
                                                 "language": "en"}},
                    "$URN": self.org_urn}
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = [redirect_uri]
        self.refresh_tokens = refresh_tokens
        self.token_lifetime = TOKEN_LIFETIME_S
        self.token = token
        self._seq = 7300000000000000000
        self._note_seq = 5600000000
        self.people = {}          # person id -> People API answer
        self.posts = {}           # share/activity URN -> Post
        self._activity = {}       # share URN <-> activity URN
        self.comments = {}        # comment URN -> Comment
        self.deleted = []         # comment URNs deleted through the API
        self.created = []         # comments created through the API
        self.reactions = []       # [actor, root]
        self.notifications = []   # as organizationalEntityNotifications
        self.tokens = {}          # token -> record
        self.codes = {}           # code -> record
        self.sunset_versions = []
        self.quotas = {}          # resource -> calls left today
        self.tokens[token] = self._token_record(
            token, TOKEN_LIFETIME_S, SCOPES_NEEDED, admin=True)
        self.admin_post = self.add_org_post("Our first post")
        self._add_routes()

    # ------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------

    def _next_id(self):
        with self._lock:
            self._seq += 1
            return str(self._seq)

    @staticmethod
    def _token_record(token, lifetime, scopes, admin=True, refresh=None):
        return {"token": token, "expires_at": time.time() + lifetime,
                "scopes": sorted(scopes), "admin": admin, "revoked": False,
                "refresh": refresh}

    def add_person(self, name="Jane Doe", vanity=None, private=False,
                   person_id=None):
        """A member; returns their URN.  private: the People API answers
        {"id": "private"}, as for members outside the network."""
        first, _, last = name.partition(" ")
        pid = person_id or "p" + secrets.token_hex(5)
        if vanity is None:
            vanity = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        with self._lock:
            if private:
                self.people[pid] = {"id": "private"}
            else:
                self.people[pid] = {
                    "id": pid, "localizedFirstName": first,
                    "localizedLastName": last, "vanityName": vanity,
                    "firstName": {"localized": {"en_US": first}},
                    "lastName": {"localized": {"en_US": last}}}
        return "urn:li:person:%s" % pid

    def _person_urn(self, who):
        """A URN, or a name for whom a person is made (once)."""
        if who.startswith("urn:li:"):
            return who
        with self._lock:
            for pid, p in self.people.items():
                full = ("%s %s" % (p.get("localizedFirstName", ""),
                                   p.get("localizedLastName", ""))).strip()
                if full == who:
                    return "urn:li:person:%s" % pid
        return self.add_person(who)

    def add_org_post(self, text="A post of the Page"):
        """A post by the Page: {"share", "activity"} URNs."""
        sid, aid = self._next_id(), self._next_id()
        share, activity = "urn:li:share:%s" % sid, "urn:li:activity:%s" % aid
        t = now_ms()
        post = {"id": share, "author": self.org_urn, "commentary": text,
                "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
                "createdAt": t, "publishedAt": t, "lastModifiedAt": t,
                "distribution": {"feedDistribution": "MAIN_FEED"}}
        with self._lock:
            self.posts[share] = post
            self.posts[activity] = post
            self._activity[share] = activity
            self._activity[activity] = activity
        return {"share": share, "activity": activity}

    def _notify(self, action, source_post, generated, at=None,
                decorated=None):
        with self._lock:
            self._note_seq += 1
            n = {"notificationId": self._note_seq, "action": action,
                 "organizationalEntity": self.org_urn,
                 "sourcePost": source_post,
                 "lastModifiedAt": at if at is not None else now_ms()}
            if generated is not None:
                n["generatedActivity"] = generated
            if decorated is not None:
                n["decoratedGeneratedActivity"] = {"comment": decorated}
            self.notifications.append(n)
            return n

    def add_notification(self, raw):
        """A notification exactly as given (hostile and odd ones)."""
        with self._lock:
            self.notifications.append(raw)
        return raw

    def _make_comment(self, actor, activity, text, parent=None,
                      attributes=None):
        cid = self._next_id()
        urn = "urn:li:comment:(%s,%s)" % (activity, cid)
        t = now_ms()
        post = self.posts.get(activity)
        c = {"actor": actor, "agent": actor, "commentUrn": urn, "id": cid,
             "$URN": urn, "object": post["id"] if post else activity,
             "created": {"actor": actor, "time": t},
             "lastModified": {"actor": actor, "time": t},
             "message": {"text": text, "attributes": attributes or []},
             "likesSummary": {"totalLikes": 0, "likedByCurrentUser": False},
             "commentsSummary": {"totalFirstLevelComments": 0,
                                 "aggregatedTotalComments": 0}}
        if parent:
            c["parentComment"] = parent
        with self._lock:
            self.comments[urn] = c
        return c

    def add_comment(self, who="Jane Doe", text="hello", post=None,
                    parent=None, notify=True, decorated=False,
                    short_urn=True):
        """A member's comment on a Page post (the first one unless post
        names a share or activity URN), nested under parent when given,
        with its COMMENT notification.  short_urn: the notification names
        the comment as "urn:li:comment:(activity:N,ID)", as LinkedIn's do."""
        actor = self._person_urn(who)
        post = post or self.admin_post["activity"]
        activity = self._activity.get(post, post)
        c = self._make_comment(actor, activity, text, parent)
        if notify:
            gen = c["commentUrn"]
            if short_urn:
                gen = gen.replace("(urn:li:", "(", 1)
            dec = None
            if decorated:
                dec = {"owner": actor, "text": text,
                       "entity": c["commentUrn"], "object": activity}
            self._notify("COMMENT", activity, gen,
                         at=c["created"]["time"], decorated=dec)
        return c

    def add_mention(self, who="John Roe", text="what do you think?"):
        """A member's post that mentions the Page ("little text"), with its
        SHARE_MENTION notification."""
        actor = self._person_urn(who)
        sid, aid = self._next_id(), self._next_id()
        share, activity = "urn:li:share:%s" % sid, "urn:li:activity:%s" % aid
        t = now_ms()
        name = self.org["localizedName"]
        commentary = "@[%s](%s) %s" % (name, self.org_urn,
                                       text.replace("(", "\\(")
                                       .replace(")", "\\)"))
        post = {"id": share, "author": actor, "commentary": commentary,
                "visibility": "PUBLIC", "lifecycleState": "PUBLISHED",
                "createdAt": t, "publishedAt": t, "lastModifiedAt": t}
        with self._lock:
            self.posts[share] = post
            self.posts[activity] = post
            self._activity[share] = activity
            self._activity[activity] = activity
        self._notify("SHARE_MENTION", activity, share, at=t)
        return {"share": share, "activity": activity, "post": post}

    def edit_comment(self, urn, text):
        with self._lock:
            c = self.comments[urn]
            t = max(now_ms(), c["lastModified"]["time"] + 1)
            c["message"] = {"text": text, "attributes": []}
            c["lastModified"] = {"actor": c["actor"], "time": t}
        self._notify("COMMENT_EDIT", urn.split("(")[1].split(",")[0], urn,
                     at=t)
        return c

    def delete_comment(self, urn, notify=True):
        with self._lock:
            c = self.comments.pop(urn)
        if notify:
            self._notify("COMMENT_DELETE", urn.split("(")[1].split(",")[0],
                         urn, at=max(now_ms(), c["lastModified"]["time"]))
        return c

    def sunset(self, version):
        """LinkedIn stops serving version (426 NONEXISTENT_VERSION)."""
        with self._lock:
            if version not in self.sunset_versions:
                self.sunset_versions.append(version)
        return self.sunset_versions

    def expire_token(self, token=None):
        with self._lock:
            self.tokens[token or self.token]["expires_at"] = time.time() - 1

    def revoke(self, token=None):
        with self._lock:
            self.tokens[token or self.token]["revoked"] = True

    def add_token(self, token=None, lifetime=TOKEN_LIFETIME_S, admin=True):
        token = token or "tok-" + secrets.token_hex(8)
        with self._lock:
            self.tokens[token] = self._token_record(
                token, lifetime, SCOPES_NEEDED, admin=admin)
        return token

    def set_refresh_tokens(self, enabled=True):
        self.refresh_tokens = bool(enabled)
        return self.refresh_tokens

    def set_token_lifetime(self, seconds=TOKEN_LIFETIME_S):
        """expires_in of the tokens issued from now on."""
        self.token_lifetime = int(seconds)
        return self.token_lifetime

    def issue_code(self, state="", redirect_uri=None, scope=None,
                   lifetime=None):
        """What the browser step yields: a code for the app (as if an
        administrator had signed in and allowed it)."""
        code = "code-" + secrets.token_hex(8)
        with self._lock:
            self.codes[code] = {
                "redirect_uri": redirect_uri or self.redirect_uris[0],
                "scope": sorted(scope or SCOPES_NEEDED), "state": state,
                "expires_at": time.time() + CODE_LIFETIME_S, "used": False,
                "lifetime": lifetime or self.token_lifetime}
        return code

    def set_quota(self, resource, remaining=0):
        """resource ("notifications", "comments", "reactions", "people",
        "organizations", "posts") has `remaining` calls left today; then
        429 with the daily-limit message."""
        with self._lock:
            self.quotas[resource] = int(remaining)

    def clear_quota(self, resource=None):
        with self._lock:
            if resource is None:
                self.quotas.clear()
            else:
                self.quotas.pop(resource, None)

    def challenge(self, code):
        """LinkedIn's webhook validation: what the endpoint must answer."""
        mac = hmac.new(self.client_secret.encode(), code.encode(),
                       hashlib.sha256).hexdigest()
        return {"challengeCode": code, "challengeResponse": mac}

    def webhook_delivery(self, ids=None):
        """The POST LinkedIn would send a webhook for these notifications
        (all when None): {"body": text, "signature": X-LI-Signature}.

        GUESS: Microsoft's pages give the validation and the signature but
        show no pushed body for ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS:
        the mock sends {"type": ..., "notifications": [...]} with elements
        shaped as the pull finder's plus the subscribing admin, at most
        ten per POST.  Whether LinkedIn retries a POST answered 503 is not
        said either; the tests send it again themselves."""
        with self._lock:
            notes = [dict(n, subscriber="urn:li:person:admin")
                     for n in self.notifications
                     if ids is None or n.get("notificationId") in ids]
        body = dumps({"type": "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS",
                      "notifications": notes[:10]})
        sig = hmac.new(self.client_secret.encode(),
                       b"hmacsha256=" + body.encode("utf-8"),
                       hashlib.sha256).hexdigest()
        return {"body": body, "signature": sig}

    # ------------------------------------------------------------------
    # framework hooks
    # ------------------------------------------------------------------

    def fault_body(self, status):
        if status == 429:
            return {"status": 429, "serviceErrorCode": 101,
                    "code": "TOO_MANY_REQUESTS",
                    "message": "Resource level throttle limit for calls to "
                               "this resource is reached."}
        if status >= 500:
            return {"status": status, "code": "INTERNAL_SERVER_ERROR",
                    "message": "Internal Server Error"}
        return {"status": status, "message": "Error"}

    def not_found(self, call):
        raise _err(404, "NOT_FOUND", "No virtual resource found")

    def json_headers(self):
        return [("x-li-uuid", secrets.token_hex(8)),
                ("x-restli-protocol-version", "2.0.0")]

    def info(self):
        return dict(MockServer.info(self), token=self.token,
                    org_urn=self.org_urn, client_id=self.client_id,
                    client_secret=self.client_secret,
                    redirect_uri=self.redirect_uris[0])

    def prepare(self, call):
        call.rest = call.path.startswith("/rest/")
        call.raw_query = {}
        for part in call.qs.split("&") if call.qs else []:
            k, _, v = part.partition("=")
            call.raw_query[urllib.parse.unquote(k)] = v
        if not call.rest:
            return
        version = call.headers.get("linkedin-version")
        if not version:
            raise _err(400, "VERSION_MISSING",
                       "A version must be present. Please specify a version "
                       "by adding the LinkedIn-Version header.")
        m = re.match(r"^(\d{6})(\.\d{2})?$", version)
        if (not m or not ACTIVE_FROM <= m.group(1) <= ACTIVE_TO or
                version in self.sunset_versions or
                m.group(1) in self.sunset_versions):
            raise _err(426, "NONEXISTENT_VERSION",
                       "Requested version %s01 is not active"
                       % (m.group(1) if m else version))
        # GUESS: LinkedIn falls back to protocol 1.0 without the header,
        # which reads these URLs differently; the mock refuses instead.
        if call.headers.get("x-restli-protocol-version") != "2.0.0":
            raise _err(400, "ILLEGAL_ARGUMENT",
                       "X-Restli-Protocol-Version 2.0.0 is required")
        call.tok = self._auth(call)

    def _auth(self, call):
        m = re.match(r"^Bearer (\S+)$", call.headers.get("authorization", ""))
        if not m:
            raise _err(401, "INVALID_ACCESS_TOKEN", "Empty oauth2 access "
                       "token", 65600)
        rec = self.tokens.get(m.group(1))
        if rec is None:
            raise _err(401, "INVALID_ACCESS_TOKEN", "Invalid access token",
                       65600)
        if rec["revoked"]:
            raise _err(401, "REVOKED_ACCESS_TOKEN", "The token used in the "
                       "request has been revoked by the user", 65601)
        if rec["expires_at"] <= time.time():
            raise _err(401, "EXPIRED_ACCESS_TOKEN", "The token used in the "
                       "request has expired", 65602)
        return rec

    def _quota(self, resource):
        with self._lock:
            left = self.quotas.get(resource)
            if left is None:
                return
            if left <= 0:
                raise _err(429, "TOO_MANY_REQUESTS",
                           "Resource level throttle APPLICATION DAY limit "
                           "for calls to this resource is reached.", 101)
            self.quotas[resource] = left - 1

    @staticmethod
    def _key(segment):
        """A path segment: a Rest.li 2.0 key (an encoded URN, a number, a
        (k:v) map)."""
        try:
            return restli_decode(segment)
        except RestliError as e:
            raise _err(400, "ILLEGAL_ARGUMENT", "Invalid key: %s" % e)

    @staticmethod
    def _param(call, name, required=True):
        raw = call.raw_query.get(name)
        if raw is None:
            if required:
                raise _err(400, "ILLEGAL_ARGUMENT",
                           "Parameter '%s' is required" % name)
            return None
        try:
            return restli_decode(raw)
        except RestliError as e:
            raise _err(400, "ILLEGAL_ARGUMENT",
                       "Invalid value for param '%s': %s" % (name, e))

    def _int_param(self, call, name, default):
        v = self._param(call, name, required=False)
        if v is None:
            return default
        try:
            return int(v)
        except (TypeError, ValueError):
            raise _err(400, "ILLEGAL_ARGUMENT",
                       "Invalid value for param '%s'" % name)

    def _admin(self, call):
        if not call.tok.get("admin"):
            raise _err(403, "ACCESS_DENIED", "Not enough permissions to "
                       "access: the member is not an ADMINISTRATOR of %s"
                       % self.org_urn, 100)

    # ------------------------------------------------------------------
    # routing
    # ------------------------------------------------------------------

    def _add_routes(self):
        seg = r"([^/]+)"
        for method, pattern, handler in [
            ("GET", r"/rest/organizations/" + seg, self._r_org),
            ("GET", r"/rest/people/" + seg, self._r_person),
            ("GET", r"/rest/organizationalEntityNotifications",
             self._r_notifications),
            ("GET", r"/rest/posts/" + seg, self._r_post),
            ("GET", r"/rest/socialActions/" + seg + r"/comments/" + seg,
             self._r_comment),
            ("DELETE", r"/rest/socialActions/" + seg + r"/comments/" + seg,
             self._r_delete_comment),
            ("GET", r"/rest/socialActions/" + seg + r"/comments",
             self._r_comments),
            ("POST", r"/rest/socialActions/" + seg + r"/comments",
             self._r_create_comment),
            ("POST", r"/rest/reactions", self._r_react),
            ("DELETE", r"/rest/reactions/" + seg, self._r_unreact),
            ("GET", r"/oauth/v2/authorization", self._r_authorize),
            ("POST", r"/oauth/v2/accessToken", self._r_access_token),
        ]:
            self.route(method, pattern, handler)

    # ------------------------------------------------------------------
    # handlers
    # ------------------------------------------------------------------

    def _r_org(self, call, key):
        self._quota("organizations")
        oid = self._key(key)
        if str(oid) != str(self.org_id):
            raise _err(404, "NOT_FOUND", "Organization %s not found" % oid)
        return 200, dict(self.org)

    def _r_person(self, call, key):
        self._quota("people")
        k = self._key(key)
        if not isinstance(k, dict) or "id" not in k:
            raise _err(400, "ILLEGAL_ARGUMENT", "Expected a key (id:...)")
        with self._lock:
            p = self.people.get(k["id"])
        if p is None:
            raise _err(404, "NOT_FOUND", "Member %s not found" % k["id"])
        return 200, dict(p)

    def _r_notifications(self, call):
        self._quota("notifications")
        if self._param(call, "q") != "criteria":
            raise _err(400, "ILLEGAL_ARGUMENT", "Unknown finder")
        entity = self._param(call, "organizationalEntity")
        if entity != self.org_urn:
            raise _err(403, "ACCESS_DENIED", "Not enough permissions to "
                       "access organization %s" % entity, 100)
        self._admin(call)
        actions = self._param(call, "actions", required=False)
        if actions is not None:
            if not isinstance(actions, list) or any(a not in ACTIONS
                                                    for a in actions):
                raise _err(400, "ILLEGAL_ARGUMENT", "Invalid actions")
        tr = self._param(call, "timeRange", required=False)
        now = now_ms()
        # Without a timeRange: everything kept (the mock dates an edit made
        # within the same millisecond a millisecond later).
        lo, hi = now - RETENTION_MS, float("inf")
        if tr is not None:
            if not isinstance(tr, dict):
                raise _err(400, "ILLEGAL_ARGUMENT", "Invalid timeRange")
            try:
                lo = max(lo, int(tr.get("start", lo)))
                hi = int(tr.get("end", hi))
            except (TypeError, ValueError):
                raise _err(400, "ILLEGAL_ARGUMENT", "Invalid timeRange")
        start = self._int_param(call, "start", 0)
        count = self._int_param(call, "count", 10)
        if start < 0 or count < 1:
            raise _err(400, "ILLEGAL_ARGUMENT", "Invalid paging")
        with self._lock:
            picked = []
            for n in self.notifications:
                t = n.get("lastModifiedAt")
                if not isinstance(t, int):
                    picked.append(n)      # hostile ones: always served
                    continue
                # GUESS: start inclusive, end exclusive.
                if not lo <= t < hi:
                    continue
                if actions is not None and n.get("action") not in actions:
                    continue
                picked.append(n)
            # GUESS: newest first.
            picked.sort(key=lambda n: (
                n.get("lastModifiedAt")
                if isinstance(n.get("lastModifiedAt"), int) else 0,
                n.get("notificationId")
                if isinstance(n.get("notificationId"), int) else 0),
                reverse=True)
            page = [dict(n) for n in picked[start:start + count]]
        links = []
        if start + count < len(picked):
            links.append({"rel": "next", "type": "application/json",
                          "href": "/rest/organizationalEntityNotifications"
                                  "?start=%d&count=%d" % (start + count,
                                                          count)})
        return 200, {"elements": page,
                     "paging": {"start": start, "count": count,
                                "links": links}}

    def _r_post(self, call, key):
        self._quota("posts")
        urn = self._key(key)
        with self._lock:
            p = self.posts.get(urn)
        if p is None:
            raise _err(404, "NOT_FOUND", "Post %s not found" % urn)
        return 200, dict(p)

    def _thread_of(self, target):
        """The activity a comment URN or post URN belongs to."""
        if target.startswith("urn:li:comment:("):
            return target[len("urn:li:comment:("):].split(",")[0]
        return self._activity.get(target, target)

    def _r_comment(self, call, key, cid):
        self._quota("comments")
        target = self._key(key)
        cid = self._key(cid)
        urn = "urn:li:comment:(%s,%s)" % (self._thread_of(target), cid)
        with self._lock:
            c = self.comments.get(urn)
        if c is None:
            raise _err(404, "NOT_FOUND", "Comment %s not found" % urn)
        return 200, dict(c)

    def _r_comments(self, call, key):
        self._quota("comments")
        target = self._key(key)
        start = self._int_param(call, "start", 0)
        count = self._int_param(call, "count", 10)
        with self._lock:
            if target.startswith("urn:li:comment:"):
                items = [c for c in self.comments.values()
                         if c.get("parentComment") == target]
            else:
                act = self._thread_of(target)
                if act not in self.posts:
                    raise _err(404, "NOT_FOUND", "Post %s not found" % target)
                items = [c for c in self.comments.values()
                         if c["commentUrn"].startswith(
                             "urn:li:comment:(%s," % act)
                         and "parentComment" not in c]
            # GUESS: oldest first.
            items.sort(key=lambda c: c["created"]["time"])
            page = [dict(c) for c in items[start:start + count]]
        return 200, {"elements": page,
                     "paging": {"start": start, "count": count,
                                "total": len(items), "links": []}}

    def _r_create_comment(self, call, key):
        self._quota("comments")
        target = self._key(key)
        body = call.json()
        actor = body.get("actor")
        obj = body.get("object")
        msg = body.get("message")
        parent = body.get("parentComment")
        if actor != self.org_urn:
            raise _err(403, "ACCESS_DENIED", "Not enough permissions to "
                       "comment as %s" % actor, 100)
        self._admin(call)
        if not isinstance(msg, dict) or not isinstance(msg.get("text"), str) \
                or not msg["text"].strip():
            raise _err(422, "UNPROCESSABLE_ENTITY",
                       "message.text is required")
        text = msg["text"]
        if _utf16_len(text) > COMMENT_MAX:
            raise _err(422, "UNPROCESSABLE_ENTITY", "message.text is longer "
                       "than %d characters" % COMMENT_MAX)
        act = self._thread_of(target)
        with self._lock:
            post = self.posts.get(act)
            if post is None or obj not in (post["id"], act):
                raise _err(400, "ILLEGAL_ARGUMENT", "object %r is not the "
                           "post of %s" % (obj, target))
            if target.startswith("urn:li:comment:"):
                # GUESS: a nested comment's parentComment is the comment in
                # the path, and LinkedIn nests one level only.
                pc = self.comments.get(target)
                if pc is None:
                    raise _err(404, "NOT_FOUND", "Comment %s not found"
                               % target)
                if parent != target:
                    raise _err(400, "ILLEGAL_ARGUMENT", "parentComment must "
                               "be %s" % target)
                if "parentComment" in pc:
                    raise _err(400, "ILLEGAL_ARGUMENT", "Cannot reply to a "
                               "nested comment")
            elif parent is not None:
                raise _err(400, "ILLEGAL_ARGUMENT", "parentComment needs the "
                           "comment in the path")
        attrs = msg.get("attributes") or []
        for a in attrs:
            ok = (isinstance(a, dict) and isinstance(a.get("start"), int) and
                  isinstance(a.get("length"), int) and a["start"] >= 0 and
                  a["length"] > 0 and
                  a["start"] + a["length"] <= _utf16_len(text) and
                  isinstance(a.get("value"), dict) and len(a["value"]) == 1)
            if ok:
                kind, ent = list(a["value"].items())[0]
                ok = (kind, list(ent)) in (
                    ("com.linkedin.common.MemberAttributedEntity",
                     ["member"]),
                    ("com.linkedin.common.CompanyAttributedEntity",
                     ["company"]))
            if not ok:
                raise _err(422, "UNPROCESSABLE_ENTITY",
                           "Invalid attribute %r" % (a,))
        c = self._make_comment(actor, act, text, parent, attrs)
        with self._lock:
            self.created.append(dict(c, target=target))
        # GUESS: a comment made as the Page is notified as ADMIN_COMMENT.
        self._notify("ADMIN_COMMENT", act,
                     c["commentUrn"].replace("(urn:li:", "(", 1),
                     at=c["created"]["time"])
        return 201, dict(c), [("x-restli-id", c["id"])]

    def _r_delete_comment(self, call, key, cid):
        self._quota("comments")
        target = self._key(key)
        cid = self._key(cid)
        actor = self._param(call, "actor")
        urn = "urn:li:comment:(%s,%s)" % (self._thread_of(target), cid)
        with self._lock:
            c = self.comments.get(urn)
            if c is None:
                raise _err(404, "NOT_FOUND", "Comment %s not found" % urn)
            if actor != c["actor"] or actor != self.org_urn:
                raise _err(403, "ACCESS_DENIED", "Not enough permissions to "
                           "delete %s" % urn, 100)
            del self.comments[urn]
            self.deleted.append(urn)
        return 204, ""

    def _r_react(self, call):
        self._quota("reactions")
        actor = self._param(call, "actor")
        body = call.json()
        root = body.get("root")
        if actor != self.org_urn:
            raise _err(403, "ACCESS_DENIED", "Not enough permissions", 100)
        if body.get("reactionType") not in ("LIKE", "PRAISE", "EMPATHY",
                                            "INTEREST", "APPRECIATION",
                                            "ENTERTAINMENT"):
            raise _err(422, "UNPROCESSABLE_ENTITY", "Invalid reactionType")
        with self._lock:
            if root not in self.comments and root not in self.posts:
                raise _err(404, "NOT_FOUND", "No such entity %s" % root)
            if [actor, root] in self.reactions:
                # GUESS: a second reaction is a conflict.
                raise _err(409, "CONFLICT", "Reaction already exists")
            self.reactions.append([actor, root])
        return 201, {"root": root, "reactionType": body["reactionType"],
                     "created": {"actor": actor, "time": now_ms()}}, \
            [("x-restli-id", restli_encode({"actor": actor,
                                            "entity": root}))]

    def _r_unreact(self, call, key):
        self._quota("reactions")
        k = self._key(key)
        if not isinstance(k, dict) or set(k) != {"actor", "entity"}:
            raise _err(400, "ILLEGAL_ARGUMENT", "Expected (actor:,entity:)")
        with self._lock:
            pair = [k["actor"], k["entity"]]
            if pair not in self.reactions:
                raise _err(404, "NOT_FOUND", "No such reaction")
            self.reactions.remove(pair)
        return 204, ""

    # ---- OAuth -------------------------------------------------------

    def _r_authorize(self, call):
        """The browser step, for a member already signed in who allows the
        app: 302 to redirect_uri with code and state (or error)."""
        q = {k: v[0] for k, v in call.query.items()}
        redirect = q.get("redirect_uri")
        if q.get("client_id") != self.client_id or \
                redirect not in self.redirect_uris:
            return 400, "<html><body>The redirect_uri does not match the " \
                        "registered value</body></html>"
        sep = "&" if "?" in redirect else "?"
        if q.get("response_type") != "code":
            loc = redirect + sep + urllib.parse.urlencode({
                "error": "unsupported_response_type",
                "error_description": "response_type must be code"})
            return 302, "", [("Location", loc)]
        scopes = set(q.get("scope", "").split())
        if not SCOPES_NEEDED <= scopes:
            loc = redirect + sep + urllib.parse.urlencode({
                "error": "unauthorized_scope_error",
                "error_description": "Scope %s is not authorized for your "
                "application" % " ".join(sorted(SCOPES_NEEDED - scopes)),
                "state": q.get("state", "")})
            return 302, "", [("Location", loc)]
        code = self.issue_code(q.get("state", ""), redirect, scopes)
        loc = redirect + sep + urllib.parse.urlencode(
            {"code": code, "state": q.get("state", "")})
        return 302, "", [("Location", loc)]

    def _r_access_token(self, call):
        ctype = call.headers.get("content-type", "").split(";")[0].strip()
        if ctype != "application/x-www-form-urlencoded":
            raise _oauth_err(400, "invalid_request",
                             "Content-Type must be "
                             "application/x-www-form-urlencoded")
        form = {k: v[0] for k, v in urllib.parse.parse_qs(
            call.body.decode("utf-8", "replace"),
            keep_blank_values=True).items()}
        if form.get("client_id") != self.client_id or \
                form.get("client_secret") != self.client_secret:
            raise _oauth_err(401, "invalid_client",
                             "Client authentication failed")
        grant = form.get("grant_type")
        lifetime = self.token_lifetime
        scopes = SCOPES_NEEDED
        if grant == "authorization_code":
            with self._lock:
                rec = self.codes.get(form.get("code", ""))
                bad = (rec is None or rec["used"] or
                       rec["expires_at"] <= time.time() or
                       rec["redirect_uri"] != form.get("redirect_uri"))
                if not bad:
                    rec["used"] = True
            if bad:
                raise _oauth_err(400, "invalid_request",
                                 "Unable to retrieve access token: appid/"
                                 "redirect uri/code verifier does not match "
                                 "authorization code. Or authorization code "
                                 "expired. Or external member binding exists")
            lifetime = rec["lifetime"]
            scopes = set(rec["scope"])
        elif grant == "refresh_token":
            with self._lock:
                old = [t for t in self.tokens.values()
                       if t.get("refresh") and
                       t["refresh"]["token"] == form.get("refresh_token")]
            if not old or old[0]["refresh"]["expires_at"] <= time.time():
                raise _oauth_err(400, "invalid_request",
                                 "The provided authorization grant or refresh "
                                 "token is invalid, expired or revoked.")
        else:
            raise _oauth_err(400, "unsupported_grant_type",
                             "grant_type is not supported")
        token = "AQ" + secrets.token_urlsafe(24)
        out = {"access_token": token, "expires_in": int(lifetime),
               "scope": ",".join(sorted(scopes))}
        refresh = None
        if grant == "refresh_token":
            refresh = old[0]["refresh"]
        elif self.refresh_tokens:
            refresh = {"token": "RQ" + secrets.token_urlsafe(24),
                       "expires_at": time.time() + REFRESH_LIFETIME_S}
        if refresh is not None:
            out["refresh_token"] = refresh["token"]
            # "the TTL of the refresh token is not reset by its use"
            out["refresh_token_expires_in"] = int(refresh["expires_at"] -
                                                  time.time())
        with self._lock:
            self.tokens[token] = self._token_record(token, lifetime, scopes,
                                                    refresh=refresh)
        return 200, out


def main(argv=None):
    def make(a):
        return MockLinkedIn(tls=a.tls, verbose=a.verbose, port=a.port)

    return serve_main(make, argv, "Mock LinkedIn Community Management API")


if __name__ == "__main__":
    sys.exit(main())
