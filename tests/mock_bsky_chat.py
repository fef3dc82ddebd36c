#!/usr/bin/python3
"""A mock of Bluesky's chat service as a client reaches it: the XRPC
procedures and queries of chat.bsky.convo, sent to the PDS with the header
``atproto-proxy: did:web:api.bsky.chat#bsky_chat`` and the account's access
token.  The chat service is not open source and the reference PDS answers
501 for chat.bsky.* without one, so the Bluesky tests point the adapter's
``chat_url`` here while everything else goes to the real local network.

Standard library only:

    from mock_bsky_chat import MockBskyChat
    m = MockBskyChat().start()
    m.add_member(alice_did, "alice.test"); m.add_member(bob_did, "bob.test")
    m.send(bob_did, alice_did, "ping me on IRC", request=True)
    assert m.wait_for(lambda: m.sent)

Shapes follow the chat.bsky.convo lexicons (defs, getLog, getConvo,
getConvoForMembers, getMessages, listConvos, sendMessage, acceptConvo):
``convoView {id, rev, members[profileViewBasic], lastMessage?, muted,
status?, unreadCount}``, ``messageView {$type, id, rev, text, facets?,
sender{did}, sentAt}``, log entries ``#logBeginConvo``,
``#logAcceptConvo``, ``#logCreateMessage {rev, convoId, message,
relatedProfiles?}``.  Errors are XRPC's ``{"error", "message"}`` with 400.

Where the lexicons are silent this mock guesses, and the README lists these
under "untested against the real service":
* getLog without a cursor answers no entries and the current position as
  ``cursor`` (the official app calls it so to learn where the log is);
  with a cursor, the entries whose rev sorts after it.
* revs and ids are TIDs (13 characters of base32-sortable), increasing.
* A missing or different atproto-proxy header: 400 InvalidRequest.
* The token is read, not verified (the PDS that issued it did that): its
  ``sub`` is the caller; scope ``com.atproto.appPass`` (an app password
  without DM access) gets 400 InvalidToken "Bad token method", as the PDS's
  pipethrough answers; an ``exp`` in the past gets 400 ExpiredToken.
* A new conversation opened by someone else is a message request to the
  other member when ``send(..., request=True)``; replying accepts it.
* Text over 10000 bytes or 1000 code points (the lexicon counts
  graphemes) is refused with 400 InvalidRequest.

Test control (thread-safe; also ``POST /_mock/<name>``): add_member, send,
configure; state: sent (messages sent through the API), convos, log.
"""

import base64
import json
import sys
import threading
import time

from mockframe import HTTPError, MockServer, serve_main

PROXY = "did:web:api.bsky.chat#bsky_chat"
B32 = "234567abcdefghijklmnopqrstuvwxyz"


def tid(us, clock=0):
    v = ((us & ((1 << 53) - 1)) << 10) | (clock & 1023)
    out = []
    for _ in range(13):
        out.append(B32[v & 31])
        v >>= 5
    return "".join(reversed(out))


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int((t % 1) * 1000)


def xerr(name, message):
    return HTTPError(400, {"error": name, "message": message})


class MockBskyChat(MockServer):
    server_name = "bsky-chat"
    CONTROL = MockServer.CONTROL + ("add_member", "send", "configure")
    STATE = MockServer.STATE + ("sent", "convos", "log")

    def __init__(self, **kw):
        MockServer.__init__(self, **kw)
        self.members = {}       # did -> handle
        self.convos = {}        # id -> convo
        self.log = []           # every entry, in rev order
        self.sent = []          # messages sent through the API
        self.related_profiles = False
        self._last_us = 0
        self._tidlock = threading.Lock()
        for name in ("getLog", "getConvo", "getConvoForMembers",
                     "getMessages", "listConvos"):
            self.route("GET", r"/xrpc/chat\.bsky\.convo\." + name,
                       getattr(self, "q_" + name))
        for name in ("sendMessage", "acceptConvo"):
            self.route("POST", r"/xrpc/chat\.bsky\.convo\." + name,
                       getattr(self, "p_" + name))

    # ---- helpers ---------------------------------------------------------

    def next_tid(self):
        with self._tidlock:
            us = max(int(time.time() * 1e6), self._last_us + 1)
            self._last_us = us
            return tid(us)

    def fault_body(self, status):
        return {"error": "InternalServerError", "message": "scripted"}

    def not_found(self, call):
        raise HTTPError(501, {"error": "MethodNotImplemented",
                              "message": "Method Not Implemented"})

    def prepare(self, call):
        if call.path.startswith("/_mock/"):
            return
        if call.headers.get("atproto-proxy") != PROXY:
            raise xerr("InvalidRequest", "no atproto-proxy header for chat")
        auth = call.headers.get("authorization", "")
        if not auth.startswith("Bearer "):
            raise HTTPError(401, {"error": "AuthenticationRequired",
                                  "message": "Authentication Required"})
        try:
            payload = auth[7:].split(".")[1]
            payload += "=" * (-len(payload) % 4)
            claims = json.loads(base64.urlsafe_b64decode(payload))
        except (IndexError, ValueError):
            raise HTTPError(401, {"error": "InvalidToken",
                                  "message": "Malformed token"})
        if claims.get("scope") == "com.atproto.appPass":
            raise xerr("InvalidToken", "Bad token method")
        if claims.get("exp", 0) < time.time():
            raise xerr("ExpiredToken", "Token has expired")
        call.viewer = claims.get("sub")
        if call.viewer not in self.members:
            self.members[call.viewer] = "handle.invalid"

    def profile(self, did):
        return {"did": did, "handle": self.members.get(did, "handle.invalid")}

    def view(self, c, viewer):
        last = c["messages"][-1] if c["messages"] else None
        v = {"id": c["id"], "rev": c["rev"],
             "members": [self.profile(d) for d in c["members"]],
             "muted": False, "status": c["status"].get(viewer, "accepted"),
             "unreadCount": 0}
        if last:
            v["lastMessage"] = last
        return v

    def convo_of(self, call, cid):
        with self._lock:
            c = self.convos.get(cid)
            if c is None or call.viewer not in c["members"]:
                raise xerr("InvalidConvo", "Convo not found")
            return c

    def _convo_between(self, a, b, request_for_b=False):
        for c in self.convos.values():
            if sorted(c["members"]) == sorted([a, b]):
                return c, False
        cid = self.next_tid()
        c = {"id": cid, "rev": cid, "members": [a, b], "messages": [],
             "status": {a: "accepted",
                        b: "request" if request_for_b else "accepted"}}
        self.convos[cid] = c
        self._log("logBeginConvo", c)
        return c, True

    def _log(self, kind, c, message=None):
        rev = self.next_tid()
        c["rev"] = rev
        e = {"$type": "chat.bsky.convo.defs#" + kind, "rev": rev,
             "convoId": c["id"]}
        if message is not None:
            e["message"] = message
            if self.related_profiles:
                e["relatedProfiles"] = [self.profile(d)
                                        for d in c["members"]]
        self.log.append((list(c["members"]), e))
        return e

    def _message(self, c, sender, text, facets=None):
        rev = self.next_tid()
        m = {"$type": "chat.bsky.convo.defs#messageView", "id": rev,
             "rev": rev, "text": text, "sender": {"did": sender},
             "sentAt": now_iso()}
        if facets:
            m["facets"] = facets
        c["messages"].append(m)
        self._log("logCreateMessage", c, m)
        return m

    # ---- test control ----------------------------------------------------

    def add_member(self, did, handle):
        with self._lock:
            self.members[did] = handle
        return {"did": did, "handle": handle}

    def send(self, sender, to, text, request=False, facets=None):
        """A message from sender to to, as if sent from another client."""
        with self._lock:
            c, _ = self._convo_between(sender, to, request_for_b=request)
            return self._message(c, sender, text, facets)

    def configure(self, related_profiles=None):
        with self._lock:
            if related_profiles is not None:
                self.related_profiles = bool(related_profiles)
        return {"related_profiles": self.related_profiles}

    # ---- queries ---------------------------------------------------------

    def q_getLog(self, call):
        cursor = call.query.get("cursor", [None])[0]
        with self._lock:
            mine = [e for members, e in self.log if call.viewer in members]
            if cursor is None:
                last = mine[-1]["rev"] if mine else None
                out = {"logs": []}
                if last:
                    out["cursor"] = last
                return 200, out
            logs = [e for e in mine if e["rev"] > cursor][:100]
            out = {"logs": logs}
            out["cursor"] = logs[-1]["rev"] if logs else cursor
            return 200, out

    def q_getConvo(self, call):
        cid = call.query.get("convoId", [""])[0]
        c = self.convo_of(call, cid)
        with self._lock:
            return 200, {"convo": self.view(c, call.viewer)}

    def q_getConvoForMembers(self, call):
        members = call.query.get("members", [])
        if not members or len(members) > 10:
            raise xerr("InvalidRequest", "members must hold 1 to 10 DIDs")
        other = [m for m in members if m != call.viewer]
        if len(other) != 1:
            raise xerr("InvalidRequest", "direct convos only in this mock")
        if not other[0].startswith("did:"):
            raise xerr("InvalidRequest", "members must be DIDs")
        with self._lock:
            if other[0] not in self.members:
                raise xerr("RecipientNotFound", "Recipient not found")
            c, _ = self._convo_between(call.viewer, other[0],
                                       request_for_b=True)
            return 200, {"convo": self.view(c, call.viewer)}

    def q_getMessages(self, call):
        cid = call.query.get("convoId", [""])[0]
        limit = int(call.query.get("limit", ["50"])[0])
        c = self.convo_of(call, cid)
        with self._lock:
            return 200, {"messages": list(reversed(c["messages"]))[:limit]}

    def q_listConvos(self, call):
        status = call.query.get("status", [None])[0]
        with self._lock:
            out = [self.view(c, call.viewer) for c in self.convos.values()
                   if call.viewer in c["members"] and
                   (status is None or c["status"].get(call.viewer) == status)]
            return 200, {"convos": out}

    # ---- procedures ------------------------------------------------------

    def p_sendMessage(self, call):
        body = call.json()
        msg = body.get("message") or {}
        text = msg.get("text")
        if not isinstance(text, str) or not isinstance(body.get("convoId"),
                                                       str):
            raise xerr("InvalidRequest", "convoId and message.text needed")
        if len(text.encode("utf-8")) > 10000 or len(text) > 1000:
            raise xerr("InvalidRequest", "message text too long")
        c = self.convo_of(call, body["convoId"])
        with self._lock:
            if c["status"].get(call.viewer) == "request":
                c["status"][call.viewer] = "accepted"
            m = self._message(c, call.viewer, text, msg.get("facets"))
            self.sent.append(dict(m, convoId=c["id"]))
            return 200, m

    def p_acceptConvo(self, call):
        body = call.json()
        c = self.convo_of(call, body.get("convoId"))
        with self._lock:
            if c["status"].get(call.viewer) != "request":
                return 200, {}
            c["status"][call.viewer] = "accepted"
            e = self._log("logAcceptConvo", c)
            return 200, {"rev": e["rev"]}


def main(argv=None):
    return serve_main(lambda args: MockBskyChat(), argv,
                      "Mock Bluesky chat service")


if __name__ == "__main__":
    sys.exit(main())
