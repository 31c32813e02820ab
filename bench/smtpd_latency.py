#!/usr/bin/python3
"""bench/smtpd_latency.py - added latency of an SMTP server: end of DATA -> reply.

One session over a raw socket (loopback), COUNT messages of SIZE bytes back to
back (MAIL, RCPT, DATA, content). For each message the clock starts just before
the final "<CRLF>.<CRLF>" is sent (the content itself has been sent already) and
stops when the whole reply has been read: what the server adds between the end
of the message and its 250 (for sluice-smtpd: checks, spool write with fsync of
file and folder, the reply). Bounded by COUNT and --deadline seconds.
Prints one line on stdout:
  sent=N accepted=A refused=R p50_ms=X p90_ms=Y p99_ms=Z max_ms=M seconds=S
Usage: smtpd_latency.py --port PORT [--host 127.0.0.1] [--count 500] [--size 5120]
       [--deadline 120] [--rcpt rcpt@example.com] [--sender probe@example.net]
"""
import argparse
import socket
import sys
import time


def build_body(size, i):
    head = ("From: <probe@example.net>\r\nTo: <rcpt@example.com>\r\n"
            "Subject: latency probe %d\r\nMessage-ID: <probe-%d@bench.test>\r\n\r\n" % (i, i))
    line = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789\r\n"
    n = max(1, (size - len(head)) // len(line))
    return (head + line * n).encode()  # ends in CRLF; no line starts with "."


class Conn:
    def __init__(self, host, port, timeout):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def reply(self):
        """(code, text) of one possibly multi-line reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.s.recv(65536)
                if not chunk:
                    raise OSError("connection closed")
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line)
            if len(line) < 4 or line[3:4] != b"-":
                return int(line[:3]), b"\n".join(lines).decode(errors="replace")

    def cmd(self, text):
        self.s.sendall(text.encode() + b"\r\n")
        return self.reply()


def pct(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(-(-p * len(sorted_ms) // 100)) - 1))  # nearest rank
    return sorted_ms[k]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=500)
    ap.add_argument("--size", type=int, default=5120)
    ap.add_argument("--deadline", type=float, default=120)
    ap.add_argument("--sender", default="probe@example.net")
    ap.add_argument("--rcpt", default="rcpt@example.com")
    a = ap.parse_args()

    t_start = time.monotonic()
    end = t_start + a.deadline
    lat, sent, refused = [], 0, 0
    c = Conn(a.host, a.port, timeout=30)
    code, _ = c.reply()
    if code != 220:
        sys.exit("greeting %d" % code)
    code, _ = c.cmd("EHLO probe.bench.test")
    if code != 250:
        sys.exit("EHLO %d" % code)
    for i in range(a.count):
        if time.monotonic() >= end:
            break
        body = build_body(a.size, i)
        sent += 1
        if c.cmd("MAIL FROM:<%s>" % a.sender)[0] != 250 or c.cmd("RCPT TO:<%s>" % a.rcpt)[0] != 250:
            refused += 1
            c.cmd("RSET")
            continue
        if c.cmd("DATA")[0] != 354:
            refused += 1
            c.cmd("RSET")
            continue
        c.s.sendall(body)
        t0 = time.perf_counter()
        c.s.sendall(b".\r\n")          # body ends in CRLF: this completes <CRLF>.<CRLF>
        code, _ = c.reply()
        t1 = time.perf_counter()
        if code == 250:
            lat.append((t1 - t0) * 1000.0)
        else:
            refused += 1
    try:
        c.cmd("QUIT")
    except OSError:
        pass
    lat.sort()
    print("sent=%d accepted=%d refused=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f seconds=%.2f"
          % (sent, len(lat), refused, pct(lat, 50), pct(lat, 90), pct(lat, 99),
             lat[-1] if lat else float("nan"), time.monotonic() - t_start))


if __name__ == "__main__":
    main()
