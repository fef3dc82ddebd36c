"""Per-person logins: with [user] sections each person signs in as
themself, a session joins a person only when it signed in as them, claims
and answers name who signed in, and only admins change accounts and users.
"""
import subprocess

from conftest import BIN
from test_mastodon import account_conf, expect_post, ref_of, wait_stream


def hash_of(password):
    r = subprocess.run([BIN, "--hash-password"], input=password + "\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("$argon2id$"), r.stdout
    return r.stdout.strip()


def users_conf(admin="ann", **people):
    return "".join("[user %s]\npassword_hash = %s\n%s" %
                   (name, hash_of(pw), "admin = yes\n" if name == admin
                    else "") for name, pw in people.items())


def start(parley_factory, mock=None, **people):
    extra = users_conf(**people)
    if mock is not None:
        extra = account_conf(mock) + extra
    return parley_factory(conf_extra=extra).start()


def signed_in(p, nick, user, password, how="sasl"):
    c = p.client()
    if how == "sasl":
        res = c.register(nick, sasl=(user, password))
    else:
        res = c.register(nick, password="%s:%s" % (user, password))
    assert res.command == "001", res
    c.expect(lambda m: m.command == "366" and m.params[1] == "&parley")
    return c


def test_each_person_signs_in_as_themself(parley_factory):
    p = start(parley_factory, ann="pw-ann", bob="pw-bob")
    ann = signed_in(p, "ann", "ann", "pw-ann")
    signed_in(p, "bob", "bob", "pw-bob", how="pass")
    # A wrong password, and none at all, are refused.
    c = p.client()
    assert c.register("eve", password="ann:nope").command == "464"
    c.wait_closed()
    c = p.client()
    assert c.register("eve").command == "464"
    c.wait_closed()
    # The shared nick is no credential: bob, signed in, cannot be ann.
    c = p.client()
    assert c.register("ann", password="bob:pw-bob").command == "433"
    c.send("NICK bob2")
    assert c.expect(lambda m: m.command in ("001", "433")).command == "001"
    # A second device of ann's is ann: one person, not a new JOIN.
    phone = signed_in(p, "ann", "ANN", "pw-ann", how="pass")
    ann.say("&parley", "from the desk")
    phone.expect(lambda m: m.command == "PRIVMSG" and
                 m.params[1] == "from the desk")
    assert not [m for m in ann.collect(0.5) if m.command == "JOIN"
                and m.nick == "ann"]


def test_claims_name_the_person_and_admins_manage(parley_factory, mock):
    p = start(parley_factory, mock, ann="pw-ann", bob="pw-bob")
    ann = signed_in(p, "annie", "ann", "pw-ann")
    ann.expect(lambda m: m.command == "366" and m.params[1] == "#masto")
    bob = signed_in(p, "bobby", "bob", "pw-bob", how="pass")
    wait_stream(mock)
    mock.add_mention("alice@example.social", "claim me")
    ref = ref_of(expect_post(ann, "claim me"))
    ann.say("#masto", "!claim %s" % ref)
    ann.expect(lambda m: m.command == "NOTICE" and
               m.params[-1] == "[%s] claimed by ann" % ref)

    # Bob is no admin: accounts and users are not his to change.
    bob.say("&parley", "account del masto")
    bob.expect(lambda m: "only an admin" in m.params[-1])
    bob.say("&parley", "user add carol pw-carol")
    bob.expect(lambda m: "only an admin" in m.params[-1])
    # Ann is: carol may sign in, and nobody saw her password.
    ann.say("&parley", "user add carol pw-carol")
    bob.expect(lambda m: "carol may sign in now (added by ann)" in
               m.params[-1], timeout=15)
    seen = [m.raw for m in bob.lines + ann.lines]
    assert not any("pw-carol" in r for r in seen), seen
    carol = signed_in(p, "carol", "carol", "pw-carol")
    # Carol changes her own password (in a query with the bot); the old
    # one no longer works. Bob's is gateway.conf's to change.
    carol.say("parley", "user passwd new-carol")
    carol.expect(lambda m: "carol's password was changed by carol" in
                 m.params[-1], timeout=15)
    c = p.client()
    assert c.register("carol3", password="carol:pw-carol").command == "464"
    signed_in(p, "carol4", "carol", "new-carol", how="pass")
    bob.say("parley", "user passwd new-bob")
    bob.expect(lambda m: "defined in gateway.conf" in m.params[-1])
