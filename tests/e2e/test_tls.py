"""The TLS listener: OpenSSL over libuv, certificates reloaded on SIGHUP,
SASL EXTERNAL with client certificates."""
import hashlib
import os
import re
import signal
import socket
import ssl

import pytest

from ircclient import Client
from mockframe import certs


def make_cert(dirpath, name, cn="127.0.0.1"):
    c = certs.self_signed(dirpath, name + ".pem", name + ".key", cn=cn)
    return c.cert, c.key


def tls_port(p):
    line = p.wait_log(r"listening \(TLS\) on")
    return int(re.search(r":(\d+)$", line).group(1))


def context(ca=None, client=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca:
        ctx.load_verify_locations(ca)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if client:
        ctx.load_cert_chain(*client)
    return ctx


@pytest.fixture
def tls_parley(parley_factory, tmp_path):
    cert, key = make_cert(str(tmp_path), "server")
    p = parley_factory(irc_extra="tls_listen = 127.0.0.1:0\ntls_cert = %s\n"
                       "tls_key = %s\npassword = pw" % (cert, key))
    p.start()
    p.tls_port = tls_port(p)
    p.cert = cert
    return p


def test_tls_registration(tls_parley):
    c = Client(tls_parley.tls_port, tls=context(tls_parley.cert))
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    c.welcome("secure", password="pw")
    c.say("&parley", "help")
    assert any("account" in l for l in c.bot_lines())


def test_plaintext_on_tls_port_is_refused(tls_parley):
    raw = socket.create_connection(("127.0.0.1", tls_parley.tls_port), 5)
    raw.sendall(b"NICK x\r\nUSER x 0 * :x\r\n")
    raw.settimeout(5)
    data = b""
    try:
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, socket.timeout):
        pass
    assert b"001" not in data
    assert b"TLS" in data, data
    ok = Client(tls_parley.tls_port, tls=context(tls_parley.cert))
    ok.welcome("after", password="pw")


# Offering TLS 1.0/1.1 on purpose, to see them refused.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_old_tls_versions_refused(tls_parley):
    ctx = context(tls_parley.cert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        Client(tls_parley.tls_port, tls=ctx)


def test_sasl_external(tls_parley, tmp_path):
    client_cert = make_cert(str(tmp_path), "client", cn="me")
    ctx = context(tls_parley.cert, client=client_cert)
    # Unknown certificate: EXTERNAL fails with a reason.
    c = Client(tls_parley.tls_port, tls=ctx)
    c.send("CAP LS 302")
    ls = c.expect("CAP")
    assert "sasl=PLAIN,EXTERNAL" in ls.params[2]
    c.send("CAP REQ :sasl")
    c.expect("CAP")
    c.send("AUTHENTICATE EXTERNAL")
    c.expect("AUTHENTICATE")
    c.send("AUTHENTICATE +")
    fail = c.expect("904")
    assert "not known" in fail.params[-1]
    c.close()
    # Register once with the password while presenting the certificate...
    c = Client(tls_parley.tls_port, tls=ctx)
    c.welcome("certuser", password="pw")
    c.send("QUIT")
    c.close()
    # ...and from then on the certificate is enough.
    c = Client(tls_parley.tls_port, tls=ctx)
    c.send("CAP LS 302")
    c.send("NICK certuser")
    c.send("USER certuser 0 * :x")
    c.expect("CAP")
    c.send("CAP REQ :sasl")
    c.expect("CAP")
    c.send("AUTHENTICATE EXTERNAL")
    c.expect("AUTHENTICATE")
    c.send("AUTHENTICATE +")
    ok = c.expect(lambda m: m.command in ("903", "904"))
    assert ok.command == "903"
    c.send("CAP END")
    assert c.expect(lambda m: m.command in ("001", "464")).command == "001"


def test_certificate_reload_on_sighup(tls_parley, tmp_path):
    def fingerprint():
        s = socket.create_connection(("127.0.0.1", tls_parley.tls_port), 5)
        t = context().wrap_socket(s)
        der = t.getpeercert(binary_form=True)
        t.close()
        return hashlib.sha256(der).hexdigest()

    before = fingerprint()
    old = Client(tls_parley.tls_port, tls=context(tls_parley.cert))
    old.welcome("stays", password="pw")
    newcert, newkey = make_cert(str(tmp_path), "server2")
    os.replace(newcert, tls_parley.cert)
    os.replace(newkey, tls_parley.cert[:-4] + ".key")
    tls_parley.signal(signal.SIGHUP)
    tls_parley.wait_log("configuration reloaded")
    after = fingerprint()
    assert before != after
    old.send("PING :still")
    assert old.expect("PONG").params[-1] == "still"
