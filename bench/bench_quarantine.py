#!/usr/bin/python3
"""bench/bench_quarantine.py - sluice-quarantine at 1,000,000 stored messages.

1. Fills a fresh store with ROWS quarantine rows in one SQLite transaction
   (the schema made by sluice-quarantine itself on a first start): MAILBOXES
   mailboxes over DOMAINS domains, times spread over DAYS days, mailboxes
   skewed (weight 1/(rank+10): the busiest holds about 2%), senders,
   subjects, classifications and scores drawn at random. Message files are
   not written: listing reads the index only.
2. Starts sluice-quarantine on it, logs in as a user (the busiest mailbox),
   a domain admin (the biggest domain) and an admin, and times GET
   /api/messages with per_page=50: the first page, a deep page (the middle
   of that role's whole list: the API's total is capped), a search (q=, a
   word in about 1 subject in 50) and a search that matches nothing (the
   worst case: every row in scope is read; SCAN_REQS requests), REQS
   requests each over one keep-alive connection, at most CASE_S seconds per
   case: p50/p99 in ms.
3. Ingest: `sluice start` (broker, a score stage that calls everything spam,
   the action stage) on the same store, INGEST messages submitted through
   the client protocol (WINDOW in flight) and quarantined: messages/s from
   the first submit to the last result, then the index row count checked.

Every process is started here and stopped by PID; every wait is bounded.
Usage: /usr/bin/python3 bench/bench_quarantine.py
  env: ROWS=1000000 MAILBOXES=2000 DOMAINS=4 DAYS=30 REQS=200 SCAN_REQS=20 CASE_S=60
       INGEST=2000 WINDOW=100 SLUICE_BIN=build/bin KEEP=0 (keep the folder)
"""
import base64
import hashlib
import http.client
import json
import os
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from sluice_e2e import Client, Gateway, envelope, free_port, message  # noqa: E402
from test_delivery import config, example_score  # noqa: E402

BIN = os.environ.get("SLUICE_BIN") or os.path.join(ROOT, "build", "bin")
ROWS = int(os.environ.get("ROWS", 1000000))
MAILBOXES = int(os.environ.get("MAILBOXES", 2000))
DOMAINS = int(os.environ.get("DOMAINS", 4))
DAYS = int(os.environ.get("DAYS", 30))
REQS = int(os.environ.get("REQS", 200))
SCAN_REQS = int(os.environ.get("SCAN_REQS", 20))
CASE_S = float(os.environ.get("CASE_S", 60))
INGEST = int(os.environ.get("INGEST", 2000))
WINDOW = int(os.environ.get("WINDOW", 100))
PASSWORD = "bench-password-1"
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
WORDS = ("invoice offer cheap pills winner account verify urgent meeting report loan crypto "
         "bitcoin package delivery prize lottery password update security bank refund free "
         "discount viagra casino dating replica watches seo ranking").split()
CLASSES = (("spam", 90), ("virus", 4), ("banned", 3), ("bad-header", 2), ("oversized", 1))


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def ulid(ms, rnd):
    """A ULID-shaped id (48-bit time, 80 random bits) in Crockford base32."""
    v = (ms << 80) | rnd.getrandbits(80)
    return "".join(CROCKFORD[(v >> (5 * i)) & 31] for i in range(25, -1, -1))


def pw_hash(password):
    """The format of quarantine/qr_pw.c: scrypt$N$r$p$salt_b64$hash_b64."""
    salt = os.urandom(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=16384, r=8, p=1, maxmem=64 << 20,
                         dklen=32)
    return "scrypt$16384$8$1$%s$%s" % (base64.b64encode(salt).decode(),
                                       base64.b64encode(key).decode())


def mailboxes():
    return ["u%d@d%d.example" % (i, i % DOMAINS) for i in range(MAILBOXES)]


class Daemon:
    """sluice-quarantine -c CONFIG, stopped by PID."""

    def __init__(self, config, port, log_path):
        self.port = port
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen([os.path.join(BIN, "sluice-quarantine"), "-c", config],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("sluice-quarantine exited %s (log %s)" % (self.proc.returncode,
                                                                           log_path))
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/healthz")
                if c.getresponse().status == 200:
                    c.close()
                    return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("sluice-quarantine did not answer /healthz in 60 s")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()


def fill(db_path):
    """ROWS rows in one transaction; returns (seconds, {mailbox: rows}, {domain: rows})."""
    rnd = random.Random(20261123)
    boxes = mailboxes()
    weights = [1.0 / (k + 10) for k in range(MAILBOXES)]
    senders = ["%s%d@%s.example.net" % (rnd.choice(WORDS), i, rnd.choice(WORDS))
               for i in range(5000)]
    classes = [c for c, w in CLASSES for _ in range(w)]
    now = int(time.time() * 1000)
    span = DAYS * 86400 * 1000
    times = sorted(now - rnd.randrange(span) for _ in range(ROWS))
    rcpts = rnd.choices(boxes, weights=weights, k=ROWS)
    per_box, per_dom = {}, {}
    for r in rcpts:
        per_box[r] = per_box.get(r, 0) + 1
        d = r.split("@")[1]
        per_dom[d] = per_dom.get(d, 0) + 1
    qdir = os.path.join(os.path.dirname(db_path), "quarantine", "msg")

    def rows():
        for i in range(ROWS):
            qid = ulid(times[i], rnd)
            cls = rnd.choice(classes)
            subject = "%s %s %s #%d" % (rnd.choice(WORDS).capitalize(), rnd.choice(WORDS),
                                        rnd.choice(WORDS), rnd.randrange(100000))
            yield (qid, rcpts[i], times[i], rnd.choice(senders), subject, cls,
                   round(rnd.uniform(10, 40), 3), "BENCH_SYMBOL(%.1f)" % rnd.uniform(1, 9),
                   "%s/%s.eml" % (qdir, qid), rcpts[i].rsplit("@", 1)[1].lower())

    t0 = time.monotonic()
    db = sqlite3.connect(db_path, timeout=60)
    db.execute("BEGIN")
    # rcpt_domain as lib/sl_quarstore.c's sl_quarstore_index writes it
    db.executemany("INSERT INTO quarantine (id, rcpt, time_ms, sender, subject, classification,"
                   " score, reason, path, rcpt_domain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   rows())
    busiest_box = max(per_box, key=per_box.get)
    busiest_dom = max(per_dom, key=per_dom.get)
    h = pw_hash(PASSWORD)
    for login, role, scope in ((busiest_box, "user", busiest_box),
                               ("dadmin@" + busiest_dom, "domain", busiest_dom),
                               ("admin@example.org", "admin", "")):
        db.execute("INSERT INTO quarantine_user (login, role, scope, pw) VALUES (?, ?, ?, ?)",
                   (login, role, scope, h))
    db.commit()
    db.execute("ANALYZE")
    db.close()
    return time.monotonic() - t0, per_box, per_dom, busiest_box, busiest_dom


class Session:
    def __init__(self, port, login):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = json.dumps({"login": login, "password": PASSWORD})
        self.conn.request("POST", "/api/login", body=body,
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        data = r.read()
        if r.status != 200:
            raise SystemExit("login %s: %d %s" % (login, r.status, data[:200]))
        cookie = r.getheader("Set-Cookie").split(";")[0]
        self.headers = {"Cookie": cookie}

    def get(self, path):
        t0 = time.perf_counter()
        self.conn.request("GET", path, headers=self.headers)
        r = self.conn.getresponse()
        data = r.read()
        ms = (time.perf_counter() - t0) * 1000
        if r.status != 200:
            raise SystemExit("GET %s: %d %s" % (path, r.status, data[:200]))
        return ms, json.loads(data)

    def close(self):
        self.conn.close()


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def time_case(sess, path, reqs):
    times, deadline = [], time.monotonic() + CASE_S
    doc = None
    while len(times) < reqs and time.monotonic() < deadline:
        ms, doc = sess.get(path)
        times.append(ms)
    return times, doc


def bench_listing(port, users):
    """[(role, case, total, n, p50, p99)] for each role and case; USERS are
    (role, login, rows in scope). "total" is the API's, capped (API.md)."""
    out = []
    for role, login, rows in users:
        sess = Session(port, login)
        deep = max(1, rows // 50 // 2)  # the middle of the whole list, not of the capped total
        cases = (("first page", "/api/messages?page=1&per_page=50", REQS, True),
                 ("deep page %d" % deep, "/api/messages?page=%d&per_page=50" % deep, REQS, True),
                 ("search q=lottery", "/api/messages?q=lottery&page=1&per_page=50", REQS, True),
                 ("search no match", "/api/messages?q=qqnomatch&page=1&per_page=50", SCAN_REQS,
                  False))
        for case, path, reqs, rows_expected in cases:
            times, doc = time_case(sess, path, reqs)
            if (len(doc["messages"]) > 0) != rows_expected:
                raise SystemExit("%s %s: %d rows" % (role, case, len(doc["messages"])))
            out.append((role, case, doc["total"], len(times), statistics.median(times),
                        pct(times, 99)))
            log("%-7s %-18s total=%-8d n=%-4d p50=%.1f ms p99=%.1f ms" % out[-1])
        sess.close()
    return out


def gateway_config(dir_, run, quarantine_port=None):
    """test_delivery's gateway (a score stage calling everything spam, the
    action stage; delivery routes that nothing uses) in DIR_; with
    QUARANTINE_PORT, the quarantine: section too."""
    head = ("data_dir: %s/data\nrun_dir: %s/%s\nlog:\n  level: warn\nbroker:\n"
            "  frontend: ipc://%s/front.sock\n  backend: ipc://%s/back.sock\n"
            % (dir_, dir_, run, dir_, dir_))
    extra = ""
    if quarantine_port:
        # retention above DAYS, or the daemon's first purge would delete the older rows
        extra = "quarantine:\n  listen: 127.0.0.1:%d\n  retention: %dd\n" % (quarantine_port,
                                                                             DAYS + 30)
    return head + config(free_port(26000, 26999), example_score(20), extra=extra)


def bench_ingest(dir_, boxes):
    """Messages/s through broker, score stage and action stage into quarantine."""
    body = gateway_config("$DIR", "run-ingest")
    gw = Gateway(body, name="bench-quarantine", full=True)
    # Gateway made its own folder; point it at the bench store instead.
    with open(gw.config, "w") as f:
        f.write(body.replace("$DIR", dir_))
    gw.front = "ipc://%s/front.sock" % dir_
    db = sqlite3.connect(os.path.join(dir_, "data", "sluice.db"), timeout=60)
    before = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
    try:
        gw.start({"score": 1, "action": 1}, timeout=60)
        client = Client(gw.front)
        rnd = random.Random(7)
        raw = message(subject="ingest bench", size=5000)
        sent = done = ok = 0
        t0 = time.monotonic()
        deadline = t0 + 600
        while done < INGEST and time.monotonic() < deadline:
            while sent < INGEST and sent - done < WINDOW:
                qid = ulid(int(time.time() * 1000), rnd)
                client.submit(envelope(qid, rcpts=(rnd.choice(boxes),), size=len(raw)), raw)
                sent += 1
            r = client.recv(timeout_ms=30000)
            if r is None:
                break
            done += 1
            ok += r[1] == "ok"
        secs = time.monotonic() - t0
        client.close()
    finally:
        gw.stop()
        shutil.rmtree(gw.dir, ignore_errors=True)
    after = db.execute("SELECT COUNT(*) FROM quarantine").fetchone()[0]
    db.close()
    return done, ok, secs, after - before


def main():
    for prog in ("sluice", "sluice-quarantine", "sluice-broker", "sluice-stage-action",
                 "sluice-stage-example", "sluice-delivery"):
        if not os.access(os.path.join(BIN, prog), os.X_OK):
            raise SystemExit("no %s/%s: build first" % (BIN, prog))
    dir_ = tempfile.mkdtemp(prefix="sluice-bench-quarantine-", dir="/var/tmp")
    port = free_port(27000, 27999)
    config = os.path.join(dir_, "sluice.yaml")
    with open(config, "w") as f:
        f.write(gateway_config(dir_, "run", port))
    daemon = None
    try:
        log("folder", dir_)
        Daemon(config, port, os.path.join(dir_, "quarantine.log")).stop()  # the schema
        secs, per_box, per_dom, box, dom = fill(os.path.join(dir_, "data", "sluice.db"))
        log("filled %d rows in %.1f s (%.0f rows/s); busiest mailbox %s (%d), domain %s (%d)"
            % (ROWS, secs, ROWS / secs, box, per_box[box], dom, per_dom[dom]))
        daemon = Daemon(config, port, os.path.join(dir_, "quarantine.log"))
        listing = bench_listing(port, (("user", box, per_box[box]),
                                       ("domain", "dadmin@" + dom, per_dom[dom]),
                                       ("admin", "admin@example.org", ROWS)))
        daemon.stop()
        daemon = None
        done, ok, isecs, added = bench_ingest(dir_, mailboxes())
        size = os.path.getsize(os.path.join(dir_, "data", "sluice.db"))
        print("# sluice-quarantine, %d rows (%d mailboxes, %d domains, %d days); store %.0f MB;"
              " fill %.1f s" % (ROWS, MAILBOXES, DOMAINS, DAYS, size / 1e6, secs))
        print("%-7s %-18s %9s %5s %9s %9s" % ("role", "case", "total", "n", "p50_ms", "p99_ms"))
        for row in listing:
            print("%-7s %-18s %9d %5d %9.1f %9.1f" % row)
        print("ingest: %d submitted, %d results (%d ok), %d rows added, %.1f s: %.0f msgs/s"
              % (INGEST, done, ok, added, isecs, done / isecs if isecs else 0))
    finally:
        if daemon:
            daemon.stop()
        if os.environ.get("KEEP") == "1":
            log("kept", dir_)
        else:
            shutil.rmtree(dir_, ignore_errors=True)


if __name__ == "__main__":
    main()
