"""Real IRC servers for the relay's tests and benchmark: ngircd (plain and
TLS) and InspIRCd 3, from Debian's packages, each with a configuration made
here in a temporary directory, on free 127.0.0.1 ports.

    s = Ngircd(tmpdir, tls=True).start()     # s.port, s.tls_port, s.cert
    s.kill(); s.start()                      # the same ports again
    s.stop()
    s.log()                                  # what the server wrote

Only the processes started here are ever signalled, by their PID.  The
certificate is self-signed and made by tests/mockframe/certs.py.

Flood limits are the servers' defaults unless given: ngircd has no setting
for them; InspIRCd's <connect> takes commandrate (millicommands a second),
threshold and fakelag, and with fakelag="no" (as here) a client over the
threshold is killed with "Excess Flood", which is what the tests look for.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from mockframe import certs

NGIRCD = shutil.which("ngircd") or "/usr/sbin/ngircd"
INSPIRCD = shutil.which("inspircd") or "/usr/sbin/inspircd"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class IrcServer(object):
    """One server process: its directory, ports, configuration and log."""

    name = "ircd"

    def __init__(self, directory, tls=False):
        self.dir = os.path.join(str(directory), self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.cert = certs.self_signed(self.dir) if tls else None
        self.proc = None
        self.logfile = os.path.join(self.dir, "server.log")
        self.write_config()

    def write_config(self):
        raise NotImplementedError

    def write_motd(self):
        motd = os.path.join(self.dir, "motd")
        with open(motd, "w") as f:
            f.write("test server\n")
        return motd

    def command(self):
        raise NotImplementedError

    def start(self, timeout=10):
        out = open(self.logfile, "ab")
        self.proc = subprocess.Popen(self.command(), cwd=self.dir,
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.STDOUT)
        out.close()
        deadline = time.time() + timeout
        ports = [p for p in (self.port, self.tls_port) if p]
        while not all(_listening(p) for p in ports):
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited (%s):\n%s" % (
                    self.name, self.proc.returncode, self.log()))
            if time.time() > deadline:
                self.kill()
                raise RuntimeError("%s did not listen:\n%s"
                                   % (self.name, self.log()))
            time.sleep(0.05)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        """SIGKILL, as a crash or a pulled plug would."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self):
        if self.alive():
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self):
        try:
            with open(self.logfile, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


class Ngircd(IrcServer):
    name = "ngircd"

    def write_config(self):
        self.conf = os.path.join(self.dir, "ngircd.conf")
        motd = self.write_motd()
        ssl = ""
        if self.tls_port:
            ssl = ("[SSL]\nCertFile = %s\nKeyFile = %s\nPorts = %d\n"
                   % (self.cert.cert, self.cert.key, self.tls_port))
        with open(self.conf, "w") as f:
            f.write("""[Global]
Name = irc.ngircd.test
Info = Parley test server
Listen = 127.0.0.1
Ports = %d
MotdFile = %s
PidFile = %s
[Limits]
MaxNickLength = 30
MaxConnectionsIP = 0
PingTimeout = 120
PongTimeout = 60
[Options]
DNS = no
Ident = no
PAM = no
OperCanUseMode = yes
%s
[Operator]
Name = oper
Password = operpass
""" % (self.port, motd, os.path.join(self.dir, "ngircd.pid"), ssl))

    def command(self):
        return [NGIRCD, "-n", "-f", self.conf]


class InspIRCd(IrcServer):
    name = "inspircd"

    def __init__(self, directory, tls=False, commandrate=1000, threshold=10,
                 fakelag=False):
        self.commandrate = commandrate
        self.threshold = threshold
        self.fakelag = fakelag
        IrcServer.__init__(self, directory, tls)

    def write_config(self):
        self.conf = os.path.join(self.dir, "inspircd.conf")
        motd = self.write_motd()
        tls = ""
        if self.tls_port:
            tls = ("""<module name="ssl_gnutls">
<sslprofile name="main" provider="gnutls" certfile="%s" keyfile="%s"
            dhfile="" hash="sha256" requestclientcert="no">
<bind address="127.0.0.1" port="%d" type="clients" sslprofile="main">
""" % (self.cert.cert, self.cert.key, self.tls_port))
        with open(self.conf, "w") as f:
            f.write("""<server name="irc.inspircd.test" description="Parley test"
        network="Test">
<admin name="test" nick="test" email="test@example.org">
<bind address="127.0.0.1" port="%d" type="clients">
%s
<connect allow="*" timeout="60" threshold="%d" commandrate="%d"
         fakelag="%s" pingfreq="120" hardsendq="1048576" softsendq="8192"
         recvq="8192" localmax="100" globalmax="100" resolvehostnames="no"
         useident="no">
<files motd="%s">
<pid file="%s">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default"
     target="%s">
<options prefixquit="Quit: " syntaxhints="no" announcets="yes">
<performance netbuffersize="10240" somaxconn="128" softlimit="1024"
             quietbursts="yes">
<security hideserver="" userstats="Pu" flatlinks="no" hidesplits="no"
          hidebans="no" maxtargets="20">
<limits maxnick="30" maxchan="64" maxkey="30">
<module name="cap">
<module name="ircv3">
<module name="sapart">
<module name="sakick">
<class name="all" commands="*" usermodes="*" chanmodes="*">
<type name="Admin" classes="all">
<oper name="oper" password="operpass" host="*@*" type="Admin">
""" % (self.port, tls, self.threshold, self.commandrate,
       "yes" if self.fakelag else "no", motd,
       os.path.join(self.dir, "inspircd.pid"),
       os.path.join(self.dir, "ircd.log")))

    def command(self):
        return [INSPIRCD, "--nofork", "--runasroot", "--config=" + self.conf]

    def log(self):
        text = IrcServer.log(self)
        try:
            with open(os.path.join(self.dir, "ircd.log"), "rb") as f:
                text += f.read().decode("utf-8", "replace")
        except OSError:
            pass
        return text
