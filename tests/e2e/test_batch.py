#!/usr/bin/python3
"""tests/e2e/test_batch.py - batched jobs between the broker and stage workers.

A capacity-1 C worker asks for batches (READY's batch frame, the stage's
`batch:`): the broker hands it several jobs in one JOBS message and it answers
them in one DONES (broker/README.md, "Batches"). These tests run the real
processes: batched C workers beside the unbatched Python example (and the
Python example with --batch) in one graph; 1,000 messages through two batched workers with a kill -9 of one in
the middle (none lost, each answered exactly once); a slow batch keeps its
worker alive and no job times out for having waited behind the others; and a
hostile worker (a Python DEALER here) sending malformed DONES is dropped, its
job re-dispatched, and the broker goes on.
"""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

import msgpack
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, Client, Gateway, envelope, main, message  # noqa: E402

PROTO = b"SLW1"


def run_window(test, gw, c, prefix, total, window, deadline_s, on_result=None):
    """Submit TOTAL messages keeping WINDOW in flight; {queue id: [envelope, ...]}."""
    results, sent, got = {}, 0, 0
    deadline = time.monotonic() + deadline_s
    while got < total and time.monotonic() < deadline:
        while sent < total and sent - got < window:
            c.submit(envelope("%s%05d" % (prefix, sent)), message())
            sent += 1
        r = c.recv(200)
        if r is None:
            continue
        test.assertEqual(r[1], "ok", r)
        got += 1
        results.setdefault(r[2]["id"], []).append(r[2])
        if on_result:
            on_result(got)
    return results


class BatchBase(unittest.TestCase):
    """Helpers: a gateway and client, fake and C workers, results."""

    def gateway(self, body, workers, **kw):
        gw = Gateway(body, name=self.id().split(".")[-1], **kw)
        self.addCleanup(gw.cleanup)
        gw.start(workers)
        c = Client(gw.front)
        self.addCleanup(c.close)
        return gw, c

    def external(self, stage, extra="", **kw):
        """A gateway whose one stage STAGE runs no worker of its own: the test
        brings them. EXTRA: more lines of the stage's entry."""
        return self.gateway("""
stages:
  - name: %s
    command: [sluice-stage-example]
    workers: 0
%sgraphs:
  default:
    content: [%s]
""" % (stage, extra, stage), {}, **kw)

    def fake_worker(self, gw, stage, batch, needs="envelope"):
        """A FakeWorker for STAGE, registered (the stage shows one worker)."""
        w = FakeWorker(gw.back, stage, batch=batch, needs=needs)
        self.addCleanup(w.close)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (gw.stage_status(stage) or {}).get("workers") != 1:
            w.idle(0.1)
        return w

    def good_worker(self, gw, stage):
        """A C worker for STAGE started by the test (stopped by PID at cleanup)."""
        log = open(gw.path("good-worker.log"), "w")
        proc = subprocess.Popen([os.path.join(BIN, "sluice-stage-example"), "--broker", gw.back,
                                 "--name", stage, "--heartbeat", "200"],
                                stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(stop_pid, proc, log)

    def results(self, c, total, w=None):
        """{queue id: result} for TOTAL results (30 s at most); W heartbeats meanwhile."""
        got = {}
        deadline = time.monotonic() + 30
        while len(got) < total and time.monotonic() < deadline:
            if w is not None and not w.closed:
                w.idle(0.05)  # alive, heartbeating, never answering
            r = c.recv(50)
            if r is not None:
                got[r[2]["id"]] = r
        return got



class BatchTest(BatchBase):
    def test_batched_c_and_unbatched_python_in_one_graph(self):
        gw, c = self.gateway("""
stages:
  - name: cfirst
    command: [sluice-stage-example, --sleep, "1"]
    workers: 2
  - name: py
    command: [sluice-stage-example-python]
  - name: cbody
    command: [sluice-stage-example, --needs, body, --sleep, "2"]
    batch: 8
  - name: pybatch
    command: [sluice-stage-example-python, --batch, "8", --needs, body]
graphs:
  default:
    content: [cfirst, [py, cbody], pybatch]
""", {"cfirst": 2, "py": 1, "cbody": 1, "pybatch": 1})
        total = 600
        results = run_window(self, gw, c, "mixed", total, 64, 120)
        self.assertEqual(len(results), total, gw.tail())
        for qid, docs in results.items():
            self.assertEqual(len(docs), 1, qid)
            v = docs[0]["verdicts"]
            self.assertEqual(sorted(v), ["cbody", "cfirst", "py", "pybatch"], qid)
            for name in v:
                self.assertNotIn("error", v[name], (qid, name, v[name]))
            self.assertTrue(v["cbody"]["fields"]["got_body"], v["cbody"])
            self.assertFalse(v["cfirst"]["fields"]["got_body"], v["cfirst"])
            self.assertFalse(v["py"]["fields"]["got_body"], v["py"])
            self.assertTrue(v["pybatch"]["fields"]["got_body"], v["pybatch"])
        # Slower than the client (1 and 2 ms a message), the C stages have jobs
        # queued: their workers took them in JOBS; the Python example never asked.
        self.assertGreater(gw.stage_status("cfirst")["batched"], 0, gw.stage_status("cfirst"))
        self.assertGreater(gw.stage_status("cbody")["batched"], 0, gw.stage_status("cbody"))
        self.assertEqual(gw.stage_status("py")["batched"], 0, gw.stage_status("py"))
        self.assertEqual(gw.stage_status("py")["done"], total)
        # The Python example asks for batches with --batch (the contract for any language).
        self.assertGreater(gw.stage_status("pybatch")["batched"], 0, gw.stage_status("pybatch"))
        log = gw.tail(400)
        self.assertRegex(log, r"worker ready stage=cbody .*batch=8 ")
        self.assertRegex(log, r"worker ready stage=py .*batch=1 ")

    def test_thousand_messages_kill9_one_batched_worker(self):
        gw, c = self.gateway("""
stages:
  - name: work
    command: [sluice-stage-example, --sleep, "2", --record, $DIR/record]
    workers: 2
    timeout: 10s
graphs:
  default:
    content: [work]
""", {"work": 2})
        total, killed = 1000, []

        def kill_one(got):
            if not killed and got >= 300:
                pid = gw.pids().get("stage work#1")
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)

        results = run_window(self, gw, c, "batchkill", total, 100, 180, kill_one)
        self.assertEqual(len(killed), 1)
        self.assertEqual(len(results), total, "lost %d messages\n%s" % (total - len(results),
                                                                       gw.tail()))
        dup = [q for q, docs in results.items() if len(docs) != 1]
        self.assertEqual(dup, [], "answered more than once")
        errors = [q for q, docs in results.items() if "error" in docs[0]["verdicts"]["work"]]
        self.assertEqual(errors, [], gw.tail())
        st = gw.stage_status("work")
        self.assertGreater(st["batched"], 0, st)
        self.assertGreaterEqual(st["crashes"], 1, st)  # the killed worker held messages
        # Re-dispatched jobs carry no death of their own: a batch's death blames nobody.
        with open(gw.path("record")) as f:
            recorded = set(f.read().split())
        self.assertEqual(len(recorded & set(results)), total)
        by_worker = {}
        for docs in results.values():
            w = docs[0]["verdicts"]["work"]["worker"]
            by_worker[w] = by_worker.get(w, 0) + 1
        self.assertGreaterEqual(len(by_worker), 2, by_worker)  # the restarted one worked too

    def test_slow_batch_no_timeout_for_waiting(self):
        # 16 jobs of 250 ms each on one worker: 4 s for the batch, 600 ms timeout per
        # job, 200 ms heartbeat. Every job answers, none times out, the worker lives.
        gw, c = self.gateway("""
stages:
  - name: slow
    command: [sluice-stage-example, --sleep, "250"]
    timeout: 600ms
    retries: 0
graphs:
  default:
    content: [slow]
""", {"slow": 1})
        total = 16
        for i in range(total):
            c.submit(envelope("slowb%04d" % i), message())
        got = {}
        deadline = time.monotonic() + 60
        while len(got) < total and time.monotonic() < deadline:
            r = c.recv(1000)
            if r is not None:
                self.assertEqual(r[1], "ok", r)
                got[r[2]["id"]] = r[2]["verdicts"]["slow"]
        self.assertEqual(len(got), total, gw.tail())
        for qid, v in got.items():
            self.assertNotIn("error", v, (qid, v))
            self.assertEqual(v["attempts"], 1, v)
        st = gw.stage_status("slow")
        self.assertEqual((st["timeouts"], st["crashes"], st["workers"]), (0, 0, 1), st)
        self.assertNotIn("heartbeat lost", gw.tail(300))

    def test_stuck_job_hands_back_the_jobs_behind_it(self):
        # A batched worker (a Python DEALER here) takes 6 jobs and hangs on the
        # first. That one times out after 1 s; the 5 waiting behind it never
        # started there, so they go back to the queue at once (no attempt
        # counted) and a C worker started afterwards answers all 6.
        gw, c = self.external("quick", "    timeout: 1s\n    retries: 1\n")
        w = self.fake_worker(gw, "quick", 8)
        t0 = time.monotonic()
        for i in range(6):
            c.submit(envelope("stuck%04d" % i), message())
        held = w.collect_jobs(6, 10)
        self.assertEqual(len(held), 6, gw.tail())
        self.good_worker(gw, "quick")
        got = self.results(c, 6, w)
        self.assertEqual(len(got), 6, gw.tail())
        self.assertLess(time.monotonic() - t0, 20)
        attempts = sorted(r[2]["verdicts"]["quick"]["attempts"] for r in got.values())
        for r in got.values():
            self.assertEqual(r[1], "ok", r)
            self.assertNotIn("error", r[2]["verdicts"]["quick"], r)
        # One job timed out at the stuck worker and was retried; the others ran once.
        self.assertEqual(attempts, [1, 1, 1, 1, 1, 2], attempts)
        st = gw.stage_status("quick")
        self.assertEqual(st["timeouts"], 1, st)
        self.assertIn("waited behind a job that timed out", gw.tail(400))

    def test_death_holding_a_batch_blames_nobody(self):
        # poison_limit 1: one death of a worker holding a message fails it. A
        # worker that dies holding 4 jobs cannot say which one killed it, so
        # none is failed: each goes alone to a good worker and passes.
        gw, c = self.external("quick", broker="poison_limit: 1")
        w = self.fake_worker(gw, "quick", 4)
        for i in range(4):
            c.submit(envelope("blame%04d" % i), message())
        self.assertEqual(len(w.collect_jobs(4, 10)), 4, gw.tail())
        w.close()  # dies silently, holding 4: the broker notices by heartbeat loss
        self.good_worker(gw, "quick")
        got = self.results(c, 4)
        self.assertEqual(len(got), 4, gw.tail())
        for r in got.values():
            self.assertEqual(r[1], "ok", r)
            self.assertNotIn("error", r[2]["verdicts"]["quick"], r[2]["verdicts"]["quick"])
        self.assertEqual(gw.stage_status("quick")["crashes"], 4)

    def test_large_bodies_are_not_piled_on_one_worker(self):
        # Beyond the job it scans, a batched worker gets more only while the bodies
        # it holds stay under 4 MB: 8 messages of 1.5 MB make 3 held, not 8.
        gw, c = self.external("big")
        w = self.fake_worker(gw, "big", 16, needs="body")
        body = message(size=1500000)
        for i in range(8):
            c.submit(envelope("big%04d" % i), body)
        held = w.collect_jobs(8, 3)
        self.assertEqual(len(held), 3, gw.tail())
        v = verdict("big")
        w.send([PROTO, b"DONES", b"3"] + sum(([b"2", j, v] for j in held), []))
        more = w.collect_jobs(8, 3)
        self.assertEqual(len(more), 3, gw.tail())

    def test_c_client_through_batched_workers(self):
        # lib/sl_client, as smtpd submits: 3,000 messages at window 64 through two
        # batched stages (one with 2 workers, one with the body), every result ok.
        gw, c = self.gateway("""
stages:
  - name: a
    command: [sluice-stage-example]
    workers: 2
  - name: b
    command: [sluice-stage-example, --needs, body]
graphs:
  default:
    content: [a, b]
""", {"a": 2, "b": 1})
        r = subprocess.run([os.path.join(BIN, "sluice-bench-pipeline"), "--endpoint", gw.front,
                            "--size", "5000", "--count", "3000", "--window", "64",
                            "--seconds", "60"], capture_output=True, text=True, timeout=120)
        kv = dict(x.split("=", 1) for x in r.stdout.split() if "=" in x)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual((kv.get("msgs"), kv.get("errors")), ("3000", "0"), r.stdout)
        self.assertEqual(gw.stage_status("b")["done"], 3000)
        self.assertEqual(gw.stage_status("a")["done"], 3000)


def stop_pid(proc, log):
    """SIGTERM, then SIGKILL after 10 s: a process the test started, by PID; then
    its LOG must hold no sanitizer report (the ASan/UBSan build)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    log.close()
    with open(log.name, errors="replace") as f:
        text = f.read()
    for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
        assert marker not in text, "sanitizer report in %s:\n%s" % (log.name, text[-3000:])


class FakeWorker:
    """A worker from Python: READY (with a batch frame), heartbeats, raw frames."""

    def __init__(self, endpoint, stage, batch=4, capacity=1, needs="envelope"):
        self.endpoint, self.stage, self.batch, self.capacity = endpoint, stage, batch, capacity
        self.needs = needs
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.DEALER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(endpoint)
        self.last_sent = 0.0
        self.closed = False
        self.ready()

    def ready(self):
        frames = [PROTO, b"READY", self.stage.encode(), str(self.capacity).encode(),
                  self.needs.encode(),
                  b"fake/1", ("%s:%d-fake" % (socket.gethostname(), os.getpid())).encode()]
        if self.batch:
            frames.append(str(self.batch).encode())
        self.send(frames)

    def send(self, frames):
        self.sock.send_multipart(frames)
        self.last_sent = time.monotonic()

    def recv(self, timeout_s):
        """The next message that is not HB, heartbeating meanwhile; None on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if time.monotonic() - self.last_sent > 0.1:
                self.send([PROTO, b"HB"])
            if self.sock.poll(50):
                f = self.sock.recv_multipart()
                if f[:2] != [PROTO, b"HB"]:
                    return f
        return None

    def idle(self, seconds):
        """Heartbeat for SECONDS, dropping whatever the broker sends."""
        self.recv(seconds)

    def collect_jobs(self, want, timeout_s):
        """Job ids from JOB and JOBS messages until WANT are here or the time is up."""
        jobs = []
        deadline = time.monotonic() + timeout_s
        while len(jobs) < want and time.monotonic() < deadline:
            f = self.recv(max(0.05, deadline - time.monotonic()))
            if f is None:
                break
            jobs.extend(parse_jobs(f))
        return jobs

    def close(self):
        if not self.closed:
            self.closed = True
            self.sock.close()
            self.ctx.term()


def parse_jobs(f):
    """Job ids of a JOB or JOBS message (checked against broker/README.md)."""
    if f[1] == b"JOB":
        assert len(f) >= 6, f
        return [f[2]]
    if f[1] == b"JOBS":
        n, at, ids = int(f[2]), 3, []
        assert 1 <= n <= 64, n
        for _ in range(n):
            k = int(f[at])
            assert k >= 4, k
            ids.append(f[at + 1])
            at += 1 + k
        assert at == len(f), (at, len(f))
        return ids
    return []


def verdict(stage, worker="fake"):
    return msgpack.packb({"stage": stage, "version": "fake/1", "symbols": {}, "fields": {},
                          "ms": 0.1, "worker": worker})


class HostileWorkerTest(BatchBase):
    def test_malformed_dones_drop_the_worker_not_the_broker(self):
        gw, c = self.external("hostile", "    timeout: 30s\n", broker="poison_limit: 100")
        broker_pid = gw.pids()["broker"]
        w = self.fake_worker(gw, "hostile", 4)
        c.submit(envelope("hostile0001"), message())
        f = w.recv(10)
        self.assertIsNotNone(f, gw.tail())
        job = parse_jobs(f)[0]
        v = verdict("hostile")
        bad = [
            ("no count", [PROTO, b"DONES"]),
            ("count zero", [PROTO, b"DONES", b"0"]),
            ("count 65", [PROTO, b"DONES", b"65"] + [b"2", job, v] * 65),
            ("count not a number", [PROTO, b"DONES", b"one", b"2", job, v]),
            ("count with a sign", [PROTO, b"DONES", b"+1", b"2", job, v]),
            ("entry past the end", [PROTO, b"DONES", b"1", b"5", job, v]),
            ("huge entry count", [PROTO, b"DONES", b"1", b"999999999", job, v]),
            ("fewer entries than count", [PROTO, b"DONES", b"2", b"2", job, v]),
            ("entry too small", [PROTO, b"DONES", b"1", b"1", job]),
            ("frame after the last entry", [PROTO, b"DONES", b"1", b"2", job, v, b"extra"]),
        ]
        for label, frames in bad:
            with self.subTest(label):
                w.send(frames)
                # Dropped: the broker forgets the worker and re-dispatches the job;
                # registering again gets the same message back.
                w.ready()
                f = w.recv(10)
                self.assertIsNotNone(f, "%s: job not re-dispatched\n%s" % (label, gw.tail()))
                ids = parse_jobs(f)
                self.assertEqual(len(ids), 1, (label, f[:3]))
                job = ids[0]
                self.assertTrue(os.path.exists("/proc/%d" % broker_pid), label)
        # A well-formed DONES of one answer finishes the message.
        w.send([PROTO, b"DONES", b"1", b"2", job, v])
        r = c.recv(10000)
        self.assertIsNotNone(r, gw.tail())
        self.assertEqual(r[1], "ok", r)
        self.assertNotIn("error", r[2]["verdicts"]["hostile"])
        log = gw.tail(400)
        self.assertIn("DONES refused", log)
        self.assertIn("malformed DONES", log)
        # The credit is per job: 4 jobs go out before an answer, then the next 4
        # leave together in one JOBS when a DONES of 4 comes back.
        for i in range(8):
            c.submit(envelope("credit%04d" % i), message())
        first = w.collect_jobs(4, 10)
        self.assertEqual(len(first), 4, gw.tail())
        self.assertIsNone(w.recv(0.5))  # no fifth job: credit is 4
        w.send([PROTO, b"DONES", b"4"] + sum(([b"2", j, v] for j in first), []))
        f = w.recv(10)
        self.assertIsNotNone(f, gw.tail())
        self.assertEqual(f[1], b"JOBS", f[:3])
        second = parse_jobs(f)
        self.assertEqual(len(second), 4)
        w.send([PROTO, b"DONES", b"4"] + sum(([b"2", j, v] for j in second), []))
        statuses = []
        for _ in range(8):
            r = c.recv(10000)
            self.assertIsNotNone(r, gw.tail())
            statuses.append(r[1])
        self.assertEqual(statuses, ["ok"] * 8)
        st = gw.stage_status("hostile")
        self.assertEqual(st["done"], 9, st)
        self.assertTrue(os.path.exists("/proc/%d" % broker_pid))


if __name__ == "__main__":
    main()
