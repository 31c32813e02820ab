"""tests/e2e/smtpd_e2e.py - helpers for the sluice-smtpd end-to-end tests.

Smtpd runs build/bin/sluice-smtpd alone (no broker: it must accept, spool and
keep retrying) in a fresh temporary folder on a free loopback port in
25000-25999. Raw is a byte-exact SMTP client for the hostile cases that
smtplib and swaks refuse to send. read_spool() parses a spool file
(format: smtpd/smtpd_spool.h). Every wait is bounded; processes are stopped
by PID.
"""
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import msgpack
from sluice_e2e import free_port as _free_port  # noqa: E402

BIN = os.environ.get("SLUICE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..")


def require(*programs, reason=None):
    """Exits 77 (skipped, for ctest) unless every program is built in BIN and
    REASON (a text saying what else is missing) is None."""
    missing = [p for p in programs if not os.path.exists(os.path.join(BIN, p))]
    if missing or reason:
        print("skipped: %s" % (reason or "not built: " + " ".join(missing)))
        sys.exit(77)


def free_port():
    """A free port on 127.0.0.1 in 25000-25999 (see sluice_e2e.free_port)."""
    return _free_port(25000, 25999)


def wait_for(pred, timeout, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def selfsigned(folder, host="mx.test"):
    subprocess.run([os.path.join(SOURCE, "scripts", "selfsigned.sh"), folder, host],
                   check=True, capture_output=True, timeout=60)
    return os.path.join(folder, "smtpd-cert.pem"), os.path.join(folder, "smtpd-key.pem")


def read_spool(path):
    """(envelope dict, body bytes) of one spool or archive file."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"SLSPOOL1", "bad magic in %s" % path
    env_len, body_len = struct.unpack(">IQ", data[8:20])
    assert 20 + env_len + body_len == len(data), "lengths do not match in %s" % path
    env = msgpack.unpackb(data[20:20 + env_len], raw=False)
    return env, data[20 + env_len:]


class Smtpd:
    """One sluice-smtpd with its own config, spool and log."""

    GRAPH = ("stages:\n  - name: example\n    workers: 0\n"
             "graphs:\n  default:\n    content: [example]\n")

    def __init__(self, smtpd_yaml="", extra_yaml=GRAPH, name="smtpd", folder=None, port=None,
                 frontend=None):
        self.dir = folder or tempfile.mkdtemp(prefix="sluice-e2e-%s-" % name)
        self.own_dir = folder is None
        self.port = port or free_port()
        self.config = os.path.join(self.dir, "sluice.yaml" if self.own_dir else "smtpd-alone.yaml")
        self.log_path = os.path.join(self.dir, "smtpd-%d.log" % self.port)
        text = ("data_dir: %s/data\nrun_dir: %s/run\n"
                "broker:\n  frontend: %s\n  message_timeout: 2s\n"
                "smtpd:\n  listen: [\"127.0.0.1:%d\"]\n  hostname: mx.test\n"
                "  relay_domains: [example.com, example.org]\n"
                % (self.dir, self.dir, frontend or "ipc://%s/run/nobroker.sock" % self.dir,
                   self.port))
        for line in smtpd_yaml.strip("\n").splitlines():
            text += "  %s\n" % line
        text += extra_yaml.replace("$DIR", self.dir)
        os.makedirs(os.path.join(self.dir, "data"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "run"), exist_ok=True)
        with open(self.config, "w") as f:
            f.write(text)
        self.proc = None

    @property
    def spool(self):
        return os.path.join(self.dir, "data", "spool")

    def entries(self, sub=""):
        d = os.path.join(self.spool, sub) if sub else self.spool
        try:
            return sorted(n for n in os.listdir(d) if n not in ("tmp", "archive", "replica"))
        except FileNotFoundError:
            return []

    def start(self, timeout=10):
        self.logf = open(self.log_path, "a")
        self.proc = subprocess.Popen([os.path.join(BIN, "sluice-smtpd"), "-c", self.config],
                                     stdout=self.logf, stderr=subprocess.STDOUT)
        if not wait_for(self._listening, timeout):
            self.stop()
            raise AssertionError("smtpd not listening:\n" + self.log())
        return self

    def _listening(self):
        if self.proc.poll() is not None:
            raise AssertionError("smtpd exited %s:\n%s" % (self.proc.returncode, self.log()))
        return "ready hostname=" in self.log()

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def wait_log(self, text, timeout=5):
        return wait_for(lambda: text in self.log(), timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc and not self.logf.closed:
            self.logf.close()
            check_sanitizers(self.log_path)

    def cleanup(self):
        self.stop()
        if not self.own_dir:
            return
        if os.environ.get("SLUICE_KEEP_TMP"):
            print("kept", self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def check_sanitizers(path):
    """Fails when the log at PATH holds an ASan/LSan/UBSan report (the check of
    sluice_e2e.Gateway, for a log of our own)."""
    from sluice_e2e import Gateway

    class _Log:
        log_path = path
    Gateway.check_sanitizers(_Log())


class Raw:
    """Byte-exact SMTP client: send anything, read whole replies."""

    def __init__(self, port, timeout=10, greet=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.greeting = self.reply() if greet else None

    def send(self, data):
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed; buffered %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """One whole (possibly multi-line) reply, as its lines joined by newlines."""
        lines = [self.line()]
        while len(lines[-1]) > 3 and lines[-1][3] == "-":
            lines.append(self.line())
        return "\n".join(lines)

    def cmd(self, text):
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def begin_data(self, rcpt="bob@example.com", helo="client.test", mail_from="a@b.test"):
        """EHLO, MAIL, RCPT and DATA; returns the reply to DATA."""
        self.cmd("EHLO " + helo)
        self.cmd("MAIL FROM:<%s>" % mail_from)
        self.cmd("RCPT TO:<%s>" % rcpt)
        return self.cmd("DATA")

    def closed(self, timeout=5):
        """True when the server closes the connection within TIMEOUT."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except ConnectionResetError:
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()

    def __del__(self):
        self.sock.close()


def recording_stage(options=""):
    """stages: and graphs: for one example stage that appends each queue id to
    $DIR/record (the end of the pipeline); OPTIONS are more keys of the stage."""
    text = ("stages:\n  - name: example\n"
            "    command: [sluice-stage-example, --record, $DIR/record]\n")
    for line in options.strip("\n").splitlines():
        text += "    %s\n" % line.strip()
    return text + "graphs:\n  default:\n    content: [example]\n"


def started(gateway, workers, port=None, timeout=15):
    """Starts GATEWAY (a sluice_e2e.Gateway), waits for its smtpd on PORT when
    given; cleans it up and re-raises when it does not come up."""
    try:
        gateway.start(workers)
        if port is not None and not wait_for(lambda: port_open(port), timeout):
            raise AssertionError("smtpd not listening on %d:\n%s" % (port, gateway.tail()))
    except Exception:
        gateway.cleanup()
        raise
    return gateway


def send_one(s, i, size, mail_from, rcpt):
    """One message over an open smtplib session; its queue id, or None when refused."""
    body = (b"Subject: msg %d\r\nMessage-ID: <%d@e2e.test>\r\n\r\n" % (i, i) +
            (b"0123456789" * 7 + b"\r\n") * max(1, size // 72))
    code, _ = s.mail(mail_from)
    if code != 250:
        s.rset()
        return None
    code, _ = s.rcpt(rcpt)
    if code != 250:
        s.rset()
        return None
    code, resp = s.data(body)
    if code != 250:
        return None
    return resp.decode().split()[-1]


def send_many(port, count, sessions=20, size=5000, mail_from="sender@b.test",
              rcpt="rcpt@example.com", deadline_s=300, per_session=50):
    """COUNT messages over SESSIONS parallel smtplib clients, each reconnecting
    after PER_SESSION messages or any failure (smtpd may be killed meanwhile).
    Returns (queue ids that got a 250, failed attempts)."""
    import smtplib
    import threading
    lock = threading.Lock()
    todo = list(range(count))
    accepted, failures = [], [0]
    deadline = time.monotonic() + deadline_s

    def worker():
        s = None
        sent = 0
        while time.monotonic() < deadline:
            with lock:
                if not todo:
                    break
                i = todo.pop()
            try:
                if s is None:
                    s = smtplib.SMTP("127.0.0.1", port, timeout=30)
                    s.ehlo("e2e.test")
                    sent = 0
                qid = send_one(s, i, size, mail_from, rcpt)
                sent += 1
                if qid is None:
                    raise smtplib.SMTPException("refused")
                with lock:
                    accepted.append(qid)
                i = None  # taken: never send it again
                if sent >= per_session:
                    s.quit()
                    s = None
            except (OSError, smtplib.SMTPException):
                with lock:
                    failures[0] += 1
                    if i is not None:
                        todo.append(i)
                try:
                    if s is not None:
                        s.close()
                except OSError:
                    pass
                s = None
                time.sleep(0.1)
        if s is not None:
            try:
                s.quit()
            except (OSError, smtplib.SMTPException):
                pass

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=deadline_s + 60)
    return accepted, failures[0]


def slurp(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def read_record(path):
    try:
        with open(path) as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def port_open(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False
