"""tests/e2e/sluice_e2e.py - start the real gateway for end-to-end tests.

Gateway(config_yaml) writes a config into a fresh temporary folder (ipc
sockets, data and run dirs inside it), runs `build/bin/sluice start -c` in the
foreground as a child process, waits until every stage has its workers, and
stops it by PID. Client speaks the client protocol of broker/README.md
directly (python3-zmq, python3-msgpack), to push many messages quickly.
Every wait is bounded; every process started is stopped by PID.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

import msgpack
import zmq

BIN = os.environ.get("SLUICE_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..")
CORPUS = os.environ.get("SLUICE_CORPUS") or os.path.join(SOURCE, "..", "shared", "corpus")


def free_port(first=25000, last=26999):
    """A TCP port in FIRST..LAST that is free on 127.0.0.1 right now (random, so
    tests running side by side rarely race for one)."""
    for _ in range(500):
        port = random.randint(first, last)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port in %d-%d" % (first, last))


def sluice(*args, timeout=60, check=False, stdin=None):
    """Run build/bin/sluice ARGS; returns CompletedProcess (text)."""
    return subprocess.run([os.path.join(BIN, "sluice")] + list(args), capture_output=True,
                          text=True, timeout=timeout, check=check, stdin=stdin)


class Gateway:
    """One running `sluice start` in its own temporary folder."""

    def __init__(self, body, heartbeat="200ms", name="gw", broker="", full=False):
        """BODY is appended to a generated head (dirs, broker, and BROKER's
        lines in that section); with FULL it is the whole config. $DIR stands
        for the test's folder in all of it."""
        self.dir = tempfile.mkdtemp(prefix="sluice-e2e-%s-" % name)
        self.front = "ipc://%s/front.sock" % self.dir
        self.back = "ipc://%s/back.sock" % self.dir
        head = ("data_dir: %s/data\nrun_dir: %s/run\nlog:\n  level: info\n"
                "broker:\n  frontend: %s\n  backend: %s\n  heartbeat: %s\n"
                % (self.dir, self.dir, self.front, self.back, heartbeat))
        for line in broker.strip().splitlines():
            head += "  %s\n" % line.strip()
        self.config = os.path.join(self.dir, "sluice.yaml")
        with open(self.config, "w") as f:
            f.write((("" if full else head) + body).replace("$DIR", self.dir))
        self.log_path = os.path.join(self.dir, "sluice.log")
        self.proc = None

    def path(self, name):
        return os.path.join(self.dir, name)

    def start(self, expect_workers=None, timeout=20):
        """Start; wait until each stage NAME has at least expect_workers[NAME] workers."""
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen([os.path.join(BIN, "sluice"), "start", "-c", self.config],
                                    stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("sluice start exited %s:\n%s" % (self.proc.returncode,
                                                                      self.tail()))
            st = self.status()
            if st is not None:
                have = {s["name"]: s["workers"] for s in st["stages"]}
                if all(have.get(k, 0) >= v for k, v in (expect_workers or {}).items()):
                    return self
            time.sleep(0.1)
        raise AssertionError("gateway not ready in %ss:\n%s" % (timeout, self.tail()))

    def status(self):
        r = sluice("status", "-c", self.config, "--json", timeout=10)
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def stage_status(self, name):
        for s in (self.status() or {"stages": []})["stages"]:
            if s["name"] == name:
                return s
        return None

    def pids(self):
        """{'stage example#1': pid, 'broker': pid, ...} from <run_dir>/pids."""
        out = {}
        try:
            with open(os.path.join(self.dir, "run", "pids")) as f:
                for line in f:
                    label, pid = line.rsplit(" ", 1)
                    out[label] = int(pid)
        except FileNotFoundError:
            pass
        return out

    def submit(self, eml_path, *args, timeout=60):
        """sluice submit; returns (exit code, parsed JSON or None, stderr)."""
        r = sluice("submit", "-c", self.config, eml_path, *args, timeout=timeout)
        doc = json.loads(r.stdout) if r.stdout.strip() else None
        return r.returncode, doc, r.stderr

    def tail(self, lines=60):
        try:
            with open(self.log_path) as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc and not self.log.closed:
            self.log.close()
            self.check_sanitizers()
        return self.proc.returncode if self.proc else None

    def check_sanitizers(self):
        """In the ASan/UBSan build a child's report fails the test even when the
        supervisor restarted the child and the test's own checks passed."""
        with open(self.log_path, errors="replace") as f:
            text = f.read()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            if marker in text:
                at = text.index(marker)
                raise AssertionError("sanitizer report in %s:\n%s" % (self.log_path,
                                                                       text[max(0, at - 500):at + 3000]))

    def cleanup(self):
        self.stop()
        if os.environ.get("SLUICE_KEEP_TMP"):
            print("kept", self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def envelope(qid, mail_from="sender@example.net", rcpts=("rcpt@example.com",), size=0):
    return {"v": 1, "id": qid, "received_at": int(time.time() * 1000), "direction": "in",
            "client": {"ip": "127.0.0.1", "port": 40000, "helo": "e2e.example.net"},
            "mail_from": mail_from, "rcpts": list(rcpts), "size": size}


class Client:
    """The client protocol (SLC1) from Python: submit many, collect results."""

    def __init__(self, endpoint):
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.next = 1

    def submit(self, env, body=b"", graph="default", phase="content"):
        req = str(self.next).encode()
        self.next += 1
        self.sock.send_multipart([b"SLC1", b"SUBMIT", req, graph.encode(), phase.encode(),
                                  msgpack.packb(env), body])
        return req

    def recv(self, timeout_ms=10000):
        """(req, status, envelope dict or reason text), or None on timeout."""
        if not self.sock.poll(timeout_ms):
            return None
        f = self.sock.recv_multipart()
        assert f[0] == b"SLC1" and f[1] == b"RESULT", f[:2]
        status = f[3].decode()
        last = msgpack.unpackb(f[4], raw=False) if status in ("ok", "tempfail") else f[4].decode()
        return f[2], status, last

    def close(self):
        self.sock.close()
        self.ctx.term()


def message(subject="test", size=0, sender="sender@example.net", rcpt="rcpt@example.com"):
    """A small RFC 5322 message (bytes), padded to about SIZE bytes."""
    head = ("From: <%s>\r\nTo: <%s>\r\nSubject: %s\r\nMessage-ID: <%s@e2e.example.net>\r\n"
            "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n" % (sender, rcpt, subject,
                                                               time.time_ns()))
    body = "Hello from the end-to-end tests.\r\n"
    while len(head) + len(body) < size:
        body += "0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"
    return (head + body).encode()


def main():
    """unittest main that prints the plain closing line CI reads."""
    prog = unittest.main(exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors)
    passed = r.testsRun - failed - len(r.skipped)
    print("%d passed, %d failed, %d skipped" % (passed, failed, len(r.skipped)))
    if r.testsRun and len(r.skipped) == r.testsRun:
        sys.exit(77)
    sys.exit(1 if failed else 0)
