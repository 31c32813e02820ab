#!/usr/bin/python3
"""bench/smtpd_paced.py - a paced SMTP load: a fixed aggregate rate over N sessions, timed.

Open loop, as mail arrives at an MX: message k is due at start + k/RATE, whatever
happened to the ones before it. It goes out on the first of SESSIONS free sessions
(a new connection per message, as smtp-source does: greeting, EHLO, MAIL, RCPT,
DATA, content, QUIT, one command at a time). When every session is busy the
message waits and its lateness (start - due) is recorded: a server that cannot keep
up shows an achieved rate below the offered one and a growing lateness, not a
shorter queue. Every message is a probe: the clock starts when the last byte of
"<CRLF>.<CRLF>" has been handed to the kernel and stops when the whole reply to it
has been read, as bench/smtpd_latency.py measures one session.

One thread and one epoll loop for all sessions (no GIL hand-offs inside a timing);
its own CPU time is printed (gen_cpu_pct, of one core) so that a generator that is
itself the bottleneck shows. Bounded by COUNT messages and --deadline seconds, 30 s
per reply. Loopback only. Prints one line on stdout:
  offered=R sent=N accepted=A refused=F errors=E seconds=S achieved=X p50_ms= p90_ms=
  p99_ms= max_ms= late_p99_ms= late_max_ms= txn_p99_ms= busy_max= gen_cpu_pct=
(achieved = accepted / (time of the last 250 - start); txn = connect -> 250 after DATA)
Usage: smtpd_paced.py --port PORT --rate MSGS_PER_S [--count N] [--sessions 20]
       [--size 5120] [--deadline 120] [--host 127.0.0.1]
"""
import argparse
import errno
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtpd_latency import build_body, pct  # noqa: E402  (the probe's message and percentile)

REPLY_TIMEOUT = 30.0
REPLY_MAX = 64 * 1024  # a reply longer than this is hostile or broken: error

# The steps of one transaction, each ended by the reply it expects (EXPECT); the greeting is
# step 0 (nothing sent), "content" sends the message and its "<CRLF>.<CRLF>" (the timed reply).
STEPS = ("greeting", "ehlo", "mail", "rcpt", "data", "content", "quit")
EXPECT = {"greeting": 220, "ehlo": 250, "mail": 250, "rcpt": 250, "data": 354,
          "content": 250, "quit": 221}


class Session:
    def __init__(self):
        self.sock = None
        self.step = 0
        self.inbuf = b""
        self.out = b""
        self.t_due = self.t_conn = self.t_dot = self.t_reply_deadline = 0.0


class Gen:
    def __init__(self, a):
        self.a = a
        self.sel = selectors.DefaultSelector()
        self.free = [Session() for _ in range(a.sessions)]
        self.busy = 0
        self.busy_max = 0
        self.lat, self.late, self.txn = [], [], []
        self.sent = self.refused = self.errors = 0
        self.t_last = 0.0
        self.cmds = {
            "ehlo": b"EHLO paced.bench.test\r\n",
            "mail": b"MAIL FROM:<sender@example.net>\r\n",
            "rcpt": b"RCPT TO:<rcpt@example.com>\r\n",
            "data": b"DATA\r\n",
            "quit": b"QUIT\r\n",
        }
        # one body for all: content generation must not cost the loop per message
        self.content = build_body(a.size, 0) + b".\r\n"

    def start(self, s, t_due, now):
        s.step, s.inbuf, s.out, s.t_due, s.t_conn = 0, b"", b"", t_due, now
        self.late.append((now - t_due) * 1000.0)
        self.sent += 1
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = sock.connect_ex((self.a.host, self.a.port))
            if rc not in (0, errno.EINPROGRESS):
                sock.close()
                raise OSError(rc, os.strerror(rc))
        except OSError:
            self.errors += 1
            self.free.append(s)
            return
        s.sock = sock
        s.t_reply_deadline = now + REPLY_TIMEOUT
        self.busy += 1
        self.busy_max = max(self.busy_max, self.busy)
        self.sel.register(sock, selectors.EVENT_READ, s)

    def finish(self, s, ok):
        if not ok:
            self.errors += 1
        try:
            self.sel.unregister(s.sock)
        except (KeyError, ValueError):
            pass
        s.sock.close()
        s.sock = None
        self.busy -= 1
        self.free.append(s)

    def send(self, s, data):
        s.out += data
        self.flush(s)

    def flush(self, s):
        try:
            while s.out:
                n = s.sock.send(s.out)
                s.out = s.out[n:]
        except BlockingIOError:
            pass
        if STEPS[s.step] == "content" and not s.out and s.t_dot == 0.0:
            s.t_dot = time.perf_counter()  # the whole "<CRLF>.<CRLF>" is in the kernel
        self.sel.modify(s.sock, selectors.EVENT_READ | (selectors.EVENT_WRITE if s.out else 0), s)

    def on_reply(self, s, code, now):
        step = STEPS[s.step]
        if code != EXPECT[step]:
            self.refused += step != "quit"
            self.finish(s, ok=True)  # a 4xx/5xx refusal (counted), not a broken session
            return
        if step == "content":
            self.lat.append((now - (s.t_dot or now)) * 1000.0)
            self.txn.append((now - s.t_conn) * 1000.0)
            self.t_last = now
        if step == "quit":
            self.finish(s, ok=True)
            return
        s.step += 1
        s.t_reply_deadline = now + REPLY_TIMEOUT
        nxt = STEPS[s.step]
        if nxt == "content":
            s.t_dot = 0.0
            self.send(s, self.content)
        else:
            self.send(s, self.cmds[nxt])

    def on_readable(self, s, now):
        try:
            chunk = s.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.finish(s, ok=False)
            return
        if not chunk:
            self.finish(s, ok=False)
            return
        s.inbuf += chunk
        if len(s.inbuf) > REPLY_MAX:
            self.finish(s, ok=False)
            return
        # complete replies only: the last line of a reply has a space (or nothing) after the code
        while s.sock is not None:
            end = s.inbuf.find(b"\r\n")
            if end < 0:
                return
            line, s.inbuf = s.inbuf[:end], s.inbuf[end + 2:]
            if len(line) >= 4 and line[3:4] == b"-":
                continue
            try:
                code = int(line[:3])
            except ValueError:
                self.finish(s, ok=False)
                return
            self.on_reply(s, code, now)

    def run(self):
        a = self.a
        t_start = time.perf_counter()
        cpu0 = time.process_time()
        end = t_start + a.deadline
        interval = 1.0 / a.rate
        k = 0
        while True:
            now = time.perf_counter()
            if now >= end or (k >= a.count and self.busy == 0):
                break
            while k < a.count and self.free and t_start + k * interval <= now:
                self.start(self.free.pop(), t_start + k * interval, now)
                k += 1
            if k < a.count and self.free:
                timeout = max(0.0, t_start + k * interval - now)
            else:
                timeout = 0.05
            for key, mask in self.sel.select(timeout=min(timeout, 0.05)):
                s = key.data
                if s.sock is None:
                    continue
                if mask & selectors.EVENT_WRITE:
                    self.flush(s)
                if mask & selectors.EVENT_READ and s.sock is not None:
                    self.on_readable(s, time.perf_counter())
            now = time.perf_counter()
            for key in list(self.sel.get_map().values()):
                s = key.data
                if s.sock is not None and now > s.t_reply_deadline:
                    self.finish(s, ok=False)
        for key in list(self.sel.get_map().values()):  # deadline passed: give up the rest
            self.finish(key.data, ok=False)
        cpu = time.process_time() - cpu0
        wall = time.perf_counter() - t_start
        span = (self.t_last - t_start) if self.t_last else wall
        self.lat.sort()
        self.late.sort()
        self.txn.sort()
        print("offered=%.1f sent=%d accepted=%d refused=%d errors=%d seconds=%.2f achieved=%.1f "
              "p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f late_p99_ms=%.2f late_max_ms=%.2f "
              "txn_p99_ms=%.2f busy_max=%d gen_cpu_pct=%.0f"
              % (a.rate, self.sent, len(self.lat), self.refused, self.errors, wall,
                 len(self.lat) / span if span > 0 else 0.0,
                 pct(self.lat, 50), pct(self.lat, 90), pct(self.lat, 99),
                 self.lat[-1] if self.lat else float("nan"),
                 pct(self.late, 99), self.late[-1] if self.late else float("nan"),
                 pct(self.txn, 99), self.busy_max, 100.0 * cpu / wall if wall > 0 else 0.0))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, required=True, help="offered messages/s, all sessions")
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=5120)
    ap.add_argument("--deadline", type=float, default=120)
    a = ap.parse_args()
    if not (0 < a.rate <= 100000 and 0 < a.count <= 10000000 and 0 < a.sessions <= 1000
            and 0 < a.size <= 64 * 1024 * 1024 and a.deadline > 0):
        sys.exit("smtpd_paced.py: --rate, --count, --sessions, --size, --deadline out of range")
    Gen(a).run()


if __name__ == "__main__":
    main()
