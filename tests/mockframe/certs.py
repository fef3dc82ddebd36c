"""Test certificates, made at run time with the openssl command line tool.

The standard library cannot create certificates and PyPI is out of reach,
so this shells out to openssl (a test dependency already, see
scripts/deps.sh).  Every file is written under a temporary name and renamed
into place, so a second process making the same file never reads half of
one.

    c = self_signed(d)                  # d/cert.pem, d/key.pem; c.ca is the
                                        # file a client trusts (the cert)
    ca = authority(d)                   # d/ca.pem, d/ca.key
    c = signed_by(ca, d, cn="client")   # leaf signed by ca; c.ca == ca.cert
"""

import collections
import os
import subprocess

# cert: PEM certificate; key: its PEM private key; ca: what a client loads
# to trust cert (the cert itself when self-signed, else the authority's).
Cert = collections.namedtuple("Cert", "cert key ca")

LOCAL_SAN = "IP:127.0.0.1,DNS:localhost"
# Short-lived on purpose: these exist for one test run.
DAYS = 3


def _openssl(directory, cert, key, subject_args):
    cert = os.path.join(directory, cert)
    key = os.path.join(directory, key)
    tag = ".%d.tmp" % os.getpid()
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
         "ec_paramgen_curve:prime256v1", "-nodes", "-days", str(DAYS),
         "-keyout", key + tag, "-out", cert + tag] + subject_args,
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.replace(key + tag, key)
    os.replace(cert + tag, cert)
    return cert, key


def _subject(cn, san):
    args = ["-subj", "/CN=" + cn]
    if san:
        args += ["-addext", "subjectAltName=" + san]
    return args


def self_signed(directory, cert="cert.pem", key="key.pem", cn="127.0.0.1",
                san=LOCAL_SAN):
    """A self-signed certificate for cn (and san, None for none)."""
    c, k = _openssl(directory, cert, key, _subject(cn, san))
    return Cert(c, k, c)


def authority(directory, cert="ca.pem", key="ca.key",
              cn="Parley test CA"):
    """A certificate authority (openssl's default req extensions make it
    CA:TRUE) to sign leaves with signed_by()."""
    c, k = _openssl(directory, cert, key, ["-subj", "/CN=" + cn])
    return Cert(c, k, c)


def signed_by(ca, directory, cert="cert.pem", key="key.pem",
              cn="127.0.0.1", san=LOCAL_SAN):
    """A leaf certificate for cn signed by the authority ca (a Cert)."""
    # -CA turns req into a small CA (OpenSSL 3.0); basicConstraints is
    # given so the leaf cannot be mistaken for another authority.
    c, k = _openssl(directory, cert, key, _subject(cn, san) + [
        "-CA", ca.cert, "-CAkey", ca.key,
        "-addext", "basicConstraints=critical,CA:FALSE"])
    return Cert(c, k, ca.cert)
