"""Self-test of tests/mock_linkedin.py (stdlib clients only).

Run: /usr/bin/python3 -m pytest -q tests/mocktest/test_mock_linkedin.py
"""

import hashlib
import hmac
import http.client
import json
import os
import sys
import time
import urllib.parse

import pytest

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TESTS_DIR)

from mock_linkedin import (MockLinkedIn, RestliError, restli_decode,  # noqa
                           restli_encode)

VERSION = "202607"


class Resp(object):
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self):
        return json.loads(self.body.decode("utf-8"))


def call(m, method, path, body=None, token="test-token", version=VERSION,
         protocol="2.0.0", form=None, headers=None):
    hdrs = dict(headers or {})
    if token:
        hdrs["Authorization"] = "Bearer " + token
    if version:
        hdrs["LinkedIn-Version"] = version
    if protocol:
        hdrs["X-Restli-Protocol-Version"] = protocol
    data = None
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    elif body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", m.port, timeout=10)
    try:
        c.request(method, path, body=data, headers=hdrs)
        r = c.getresponse()
        return Resp(r.status, {k.lower(): v for k, v in r.getheaders()},
                    r.read())
    finally:
        c.close()


def enc(v):
    return restli_encode(v)


@pytest.fixture
def m():
    mock = MockLinkedIn().start()
    yield mock
    mock.stop()


def notes_path(m, start=0, count=10, actions=("COMMENT", "SHARE_MENTION"),
               time_range=None):
    path = ("/rest/organizationalEntityNotifications?q=criteria"
            "&organizationalEntity=%s&actions=%s&start=%d&count=%d"
            % (enc(m.org_urn), enc(list(actions)), start, count))
    if time_range is not None:
        path += "&timeRange=%s" % enc({"start": time_range[0],
                                       "end": time_range[1]})
    return path


# ---- Rest.li encoding -------------------------------------------------------

def test_restli_encoding_matches_linkedins_sdk_examples():
    # linkedin-developers/linkedin-api-python-client: encoder_test.py
    assert restli_encode("urn:li:organization:12345") == \
        "urn%3Ali%3Aorganization%3A12345"
    assert restli_encode([1, 2, "foobar"]) == "List(1,2,foobar)"
    assert restli_encode({"k1": "v1", "k2": "urn:li:app:123",
                          "k3": [1, 2], "k4": {"k41": "foobar"}}) == \
        "(k1:v1,k2:urn%3Ali%3Aapp%3A123,k3:List(1,2),k4:(k41:foobar))"
    assert restli_encode([{"k1": "v1"}, ["v2", " t?':,*!"]]) == \
        "List((k1:v1),List(v2,%20t%3F%27%3A%2C%2A%21))"
    assert restli_decode("List((k1:v1),List(v2,%20t%3F%27%3A%2C%2A%21))") \
        == [{"k1": "v1"}, ["v2", " t?':,*!"]]
    assert restli_decode("(start:1,end:2)") == {"start": "1", "end": "2"}
    with pytest.raises(RestliError):
        restli_decode("urn:li:organization:1")


# ---- headers, tokens, errors ------------------------------------------------

def test_version_header_is_required_and_sunset_versions_refused(m):
    path = "/rest/organizations/%d" % m.org_id
    r = call(m, "GET", path, version=None)
    assert r.status == 400 and r.json["code"] == "VERSION_MISSING"
    r = call(m, "GET", path, version="202301")
    assert r.status == 426 and r.json["code"] == "NONEXISTENT_VERSION"
    assert "20230101 is not active" in r.json["message"]
    assert call(m, "GET", path).status == 200
    m.sunset(VERSION)
    r = call(m, "GET", path)
    assert r.status == 426 and r.json["status"] == 426
    r = call(m, "GET", path, version="garbage")
    assert r.status == 426


def test_protocol_header_and_tokens(m):
    path = "/rest/organizations/%d" % m.org_id
    assert call(m, "GET", path, protocol=None).status == 400
    r = call(m, "GET", path, token=None)
    assert r.status == 401 and r.json["serviceErrorCode"] == 65600
    r = call(m, "GET", path, token="nope")
    assert r.json["code"] == "INVALID_ACCESS_TOKEN"
    m.expire_token()
    r = call(m, "GET", path)
    assert r.status == 401 and r.json == {
        "status": 401, "serviceErrorCode": 65602,
        "code": "EXPIRED_ACCESS_TOKEN",
        "message": "The token used in the request has expired"}
    t = m.add_token()
    m.revoke(t)
    assert call(m, "GET", path, token=t).json["code"] == \
        "REVOKED_ACCESS_TOKEN"


def test_no_ratelimit_headers_and_429_body(m):
    path = "/rest/organizations/%d" % m.org_id
    r = call(m, "GET", path)
    assert not [h for h in r.headers if "ratelimit" in h or
                h == "retry-after"]
    m.fail(r"^/rest/organizations/", status=429, times=1)
    r = call(m, "GET", path)
    assert r.status == 429 and r.json["code"] == "TOO_MANY_REQUESTS"
    assert "retry-after" not in r.headers
    m.set_quota("organizations", 1)
    assert call(m, "GET", path).status == 200
    r = call(m, "GET", path)
    assert r.status == 429 and "DAY limit" in r.json["message"]
    m.clear_quota()
    assert call(m, "GET", path).status == 200


def test_raw_urn_in_a_path_is_refused(m):
    act = m.admin_post["activity"]
    c = m.add_comment("Jane Doe", "hi")
    assert call(m, "GET", "/rest/socialActions/%s/comments/%s"
                % (enc(act), c["id"])).status == 200
    r = call(m, "GET", "/rest/socialActions/%s/comments/%s" % (act, c["id"]))
    assert r.status == 400 and r.json["code"] == "ILLEGAL_ARGUMENT"


# ---- notifications -------------------------------------------------------------

def test_notifications_filter_page_and_window(m):
    c1 = m.add_comment("Jane Doe", "first")
    men = m.add_mention("John Roe", "look (here)")
    c2 = m.add_comment("Jane Doe", "second", parent=c1["commentUrn"])
    r = call(m, "GET", notes_path(m))
    assert r.status == 200
    els = r.json["elements"]
    assert [e["action"] for e in els] == ["COMMENT", "SHARE_MENTION",
                                          "COMMENT"]
    assert els[2]["generatedActivity"].startswith("urn:li:comment:(activity:")
    assert els[1]["generatedActivity"] == men["share"]
    assert all(isinstance(e["notificationId"], int) for e in els)
    assert r.json["paging"]["start"] == 0
    r = call(m, "GET", notes_path(m, count=2))
    assert len(r.json["elements"]) == 2
    assert r.json["paging"]["links"][0]["rel"] == "next"
    r2 = call(m, "GET", notes_path(m, start=2, count=2))
    assert len(r2.json["elements"]) == 1
    ids = {e["notificationId"] for e in r.json["elements"] +
           r2.json["elements"]}
    assert len(ids) == 3
    r = call(m, "GET", notes_path(m, actions=["SHARE_MENTION"]))
    assert len(r.json["elements"]) == 1
    t = c2["created"]["time"]
    r = call(m, "GET", notes_path(m, time_range=(t + 1, t + 1000)))
    assert r.json["elements"] == []
    # the wrong organization, a raw URN
    r = call(m, "GET", notes_path(m).replace(enc(m.org_urn),
                                             enc("urn:li:organization:1")))
    assert r.status == 403
    r = call(m, "GET", notes_path(m).replace(enc(m.org_urn), m.org_urn))
    assert r.status == 400


def test_edit_and_delete_notifications(m):
    c = m.add_comment("Jane Doe", "tpyo")
    m.edit_comment(c["commentUrn"], "typo")
    m.delete_comment(c["commentUrn"])
    els = call(m, "GET", notes_path(m, actions=ACTIONS3)).json["elements"]
    assert [e["action"] for e in els] == ["COMMENT_DELETE", "COMMENT_EDIT",
                                          "COMMENT"]
    r = call(m, "GET", "/rest/socialActions/%s/comments/%s"
             % (enc(m.admin_post["activity"]), c["id"]))
    assert r.status == 404


ACTIONS3 = ("COMMENT", "COMMENT_EDIT", "COMMENT_DELETE")


# ---- reading ---------------------------------------------------------------------

def test_comment_post_and_people(m):
    c = m.add_comment("Jane Doe", "nice post")
    r = call(m, "GET", "/rest/socialActions/%s/comments/%s"
             % (enc(m.admin_post["share"]), c["id"]))
    assert r.status == 200
    assert r.json["message"]["text"] == "nice post"
    assert r.json["commentUrn"] == c["commentUrn"]
    assert r.json["object"] == m.admin_post["share"]
    pid = c["actor"].split(":")[-1]
    r = call(m, "GET", "/rest/people/%s" % enc({"id": pid}))
    assert r.json["localizedFirstName"] == "Jane"
    assert r.json["vanityName"] == "jane-doe"
    priv = m.add_person("Pat Private", private=True)
    r = call(m, "GET", "/rest/people/%s" % enc({"id": priv.split(":")[-1]}))
    assert r.json == {"id": "private"}
    men = m.add_mention("John Roe", "a (question)")
    r = call(m, "GET", "/rest/posts/%s" % enc(men["share"]))
    assert r.json["commentary"] == \
        "@[Parley Test Co](%s) a \\(question\\)" % m.org_urn
    r = call(m, "GET", "/rest/organizations/%d" % m.org_id)
    assert r.json["vanityName"] == "parley-test-co"


# ---- writing ---------------------------------------------------------------------

def test_nested_reply_and_its_rules(m):
    c = m.add_comment("Jane Doe", "question?")
    path = "/rest/socialActions/%s/comments" % enc(c["commentUrn"])
    body = {"actor": m.org_urn, "object": m.admin_post["share"],
            "message": {"text": "Thanks Jane Doe", "attributes": [
                {"start": 7, "length": 8, "value": {
                    "com.linkedin.common.MemberAttributedEntity": {
                        "member": c["actor"]}}}]},
            "parentComment": c["commentUrn"]}
    r = call(m, "POST", path, body)
    assert r.status == 201, r.body
    assert r.headers["x-restli-id"] == r.json["id"]
    assert r.json["parentComment"] == c["commentUrn"]
    assert m.created[0]["target"] == c["commentUrn"]
    # the reply is listed under its parent
    r = call(m, "GET", path)
    assert [e["message"]["text"] for e in r.json["elements"]] == \
        ["Thanks Jane Doe"]
    # parentComment must name the comment of the path
    bad = dict(body, parentComment=None)
    assert call(m, "POST", path, bad).status == 400
    # no reply to a reply
    nested = m.created[0]["commentUrn"]
    r = call(m, "POST", "/rest/socialActions/%s/comments" % enc(nested),
             dict(body, parentComment=nested))
    assert r.status == 400
    # a range outside the text, an unknown entity
    r = call(m, "POST", path, dict(body, message={"text": "hi", "attributes": [
        {"start": 0, "length": 9, "value": {
            "com.linkedin.common.MemberAttributedEntity": {
                "member": c["actor"]}}}]}))
    assert r.status == 422
    # only as the Page, and not empty
    assert call(m, "POST", path, dict(body, actor=c["actor"])).status == 403
    r = call(m, "POST", path, dict(body, message={"text": " "}))
    assert r.status == 422
    # made as the Page: notified as ADMIN_COMMENT
    assert m.notifications[-1]["action"] == "ADMIN_COMMENT"


def test_top_level_comment_reactions_and_delete(m):
    men = m.add_mention("John Roe", "hello Page")
    r = call(m, "POST", "/rest/socialActions/%s/comments" % enc(men["share"]),
             {"actor": m.org_urn, "object": men["share"],
              "message": {"text": "hello John"}})
    assert r.status == 201
    made = r.json
    r = call(m, "POST", "/rest/reactions?actor=%s" % enc(m.org_urn),
             {"root": made["commentUrn"], "reactionType": "LIKE"})
    assert r.status == 201
    r = call(m, "POST", "/rest/reactions?actor=%s" % enc(m.org_urn),
             {"root": made["commentUrn"], "reactionType": "LIKE"})
    assert r.status == 409
    key = enc({"actor": m.org_urn, "entity": made["commentUrn"]})
    assert call(m, "DELETE", "/rest/reactions/%s" % key).status == 204
    assert call(m, "DELETE", "/rest/reactions/%s" % key).status == 404
    path = "/rest/socialActions/%s/comments/%s?actor=%s" % (
        enc(men["activity"]), made["id"], enc(m.org_urn))
    assert call(m, "DELETE", path).status == 204
    assert made["commentUrn"] in m.deleted
    assert call(m, "DELETE", path).status == 404


# ---- OAuth -------------------------------------------------------------------------

def test_oauth_code_flow_and_refresh(m):
    m.set_refresh_tokens(True)
    q = urllib.parse.urlencode({
        "response_type": "code", "client_id": m.client_id,
        "redirect_uri": m.redirect_uris[0], "state": "s1",
        "scope": "rw_organization_admin r_organization_social_feed "
                 "w_organization_social_feed"})
    r = call(m, "GET", "/oauth/v2/authorization?" + q, token=None,
             version=None, protocol=None)
    assert r.status == 302
    loc = urllib.parse.urlparse(r.headers["location"])
    got = dict(urllib.parse.parse_qsl(loc.query))
    assert got["state"] == "s1" and got["code"]
    form = {"grant_type": "authorization_code", "code": got["code"],
            "redirect_uri": m.redirect_uris[0], "client_id": m.client_id,
            "client_secret": m.client_secret}
    r = call(m, "POST", "/oauth/v2/accessToken", token=None, version=None,
             protocol=None, form=form)
    assert r.status == 200, r.body
    tok = r.json
    assert tok["expires_in"] == 5184000 and tok["refresh_token"]
    assert call(m, "GET", "/rest/organizations/%d" % m.org_id,
                token=tok["access_token"]).status == 200
    # a code works once
    r = call(m, "POST", "/oauth/v2/accessToken", token=None, version=None,
             protocol=None, form=form)
    assert r.status == 400 and r.json["error"] == "invalid_request"
    r = call(m, "POST", "/oauth/v2/accessToken", token=None, version=None,
             protocol=None, form={"grant_type": "refresh_token",
                                  "refresh_token": tok["refresh_token"],
                                  "client_id": m.client_id,
                                  "client_secret": m.client_secret})
    assert r.status == 200 and r.json["refresh_token"] == tok["refresh_token"]
    assert r.json["refresh_token_expires_in"] <= \
        tok["refresh_token_expires_in"]
    # missing scopes come back as an error on the redirect
    q2 = q.replace("w_organization_social_feed", "")
    r = call(m, "GET", "/oauth/v2/authorization?" + q2, token=None,
             version=None, protocol=None)
    assert "error=unauthorized_scope_error" in r.headers["location"]


def test_webhook_delivery_is_signed_over_the_exact_body(m):
    m.add_comment("Jane Doe", "pushed")
    d = m.webhook_delivery()
    body = d["body"].encode("utf-8")
    want = hmac.new(m.client_secret.encode(), b"hmacsha256=" + body,
                    hashlib.sha256).hexdigest()
    assert d["signature"] == want
    payload = json.loads(body)
    assert payload["type"] == "ORGANIZATION_SOCIAL_ACTION_NOTIFICATIONS"
    assert payload["notifications"][0]["action"] == "COMMENT"
    ch = m.challenge("f4a4bb0c-c4f2-4f8c-8c87-9a7b0d4b7c0e")
    assert ch["challengeResponse"] == hmac.new(
        m.client_secret.encode(), b"f4a4bb0c-c4f2-4f8c-8c87-9a7b0d4b7c0e",
        hashlib.sha256).hexdigest()


def test_runs_in_its_own_process():
    from mockframe import spawn
    r = spawn(os.path.join(TESTS_DIR, "mock_linkedin.py"))
    try:
        c = r.add_comment(who="Jane Doe", text="over the wire")
        assert c["message"]["text"] == "over the wire"
        assert r.info["org_urn"] == "urn:li:organization:2414183"
        assert len(r.get("notifications")) == 1
    finally:
        assert r.stop() == 0
    time.sleep(0)
