#!/usr/bin/python3
"""tests/e2e/test_pipeline.py - the core pipeline with real processes.

`sluice start` runs the broker and the stage workers (C and Python); messages
go in through `sluice submit` or the client protocol; the tests assert on the
final envelopes: verdicts, which worker did what, what the body reached.
"""
import os
import signal
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Client, Gateway, envelope, main, message, sluice  # noqa: E402

STAGES_PARALLEL = """
stages:
  - name: first
    command: [sluice-stage-example]
  - name: bodyseer
    command: [sluice-stage-example, --needs, body, --score, "2.5"]
    counters: [body_bytes]
  - name: pyexample
    command: [sluice-stage-example-python]
  - name: last
    command: [sluice-stage-example]
graphs:
  default:
    content: [first, [bodyseer, pyexample], last]
"""


class PipelineTest(unittest.TestCase):
    def gateway(self, body, workers, **kw):
        gw = Gateway(body, name=self.id().split(".")[-1], **kw)
        self.addCleanup(gw.cleanup)
        return gw.start(workers)

    def test_parallel_group_and_python_stage(self):
        gw = self.gateway(STAGES_PARALLEL, {"first": 1, "bodyseer": 1, "pyexample": 1, "last": 1})
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message(size=5000))
        size = os.path.getsize(eml)
        rc, doc, err = gw.submit(eml, "--from", "", "--to", "a@example.com", "--to",
                                 "b@example.com")
        self.assertEqual(rc, 0, err + gw.tail())
        v = doc["verdicts"]
        self.assertEqual(sorted(v), ["bodyseer", "first", "last", "pyexample"])
        for name in v:
            self.assertNotIn("error", v[name], name)
            self.assertIn("ms", v[name])
            self.assertTrue(v[name]["version"], name)
        # The null sender is flagged by the C and by the Python stage.
        self.assertIn("EXAMPLE_NULL_SENDER", v["first"]["symbols"])
        self.assertIn("PYEXAMPLE_NULL_SENDER", v["pyexample"]["symbols"])
        self.assertEqual(v["bodyseer"]["symbols"]["EXAMPLE_SCORE"]["score"], 2.5)
        # Only the stage that asked for the body received it, whole.
        self.assertTrue(v["bodyseer"]["fields"]["got_body"])
        self.assertEqual(v["bodyseer"]["fields"]["body_bytes"], size)
        for name in ("first", "pyexample", "last"):
            self.assertFalse(v[name]["fields"]["got_body"], name)
        self.assertEqual(doc["rcpts"], ["a@example.com", "b@example.com"])
        self.assertEqual(doc["mail_from"], "")
        # The broker sums the counter fields a stage declares, for status and metrics.
        self.assertEqual(gw.stage_status("bodyseer")["counters"], {"body_bytes": size})
        self.assertEqual(gw.stage_status("first")["counters"], {})

    def test_sender_from_headers_and_status(self):
        gw = self.gateway(STAGES_PARALLEL, {"first": 1, "bodyseer": 1, "pyexample": 1, "last": 1})
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message(sender="alice@example.net", rcpt="bob@example.com"))
        rc, doc, err = gw.submit(eml)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["mail_from"], "alice@example.net")
        self.assertEqual(doc["rcpts"], ["bob@example.com"])
        self.assertNotIn("EXAMPLE_NULL_SENDER", doc["verdicts"]["first"]["symbols"])
        r = sluice("status", "-c", gw.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"(?m)^first\s+1\s+1\s+0\s+0\s+1\s+0")
        self.assertRegex(r.stdout, r"(?m)^pyexample\s+1\s+")

    def test_two_workers_share_the_load(self):
        gw = self.gateway("""
stages:
  - name: slow
    command: [sluice-stage-example, --sleep, "20"]
    workers: 2
graphs:
  default:
    content: [slow]
""", {"slow": 2})
        c = Client(gw.front)
        self.addCleanup(c.close)
        for i in range(60):
            c.submit(envelope("share%04d" % i), message())
        workers = {}
        for _ in range(60):
            r = c.recv(20000)
            self.assertIsNotNone(r, gw.tail())
            self.assertEqual(r[1], "ok")
            w = r[2]["verdicts"]["slow"]["worker"]
            workers[w] = workers.get(w, 0) + 1
        self.assertEqual(len(workers), 2, workers)
        self.assertGreaterEqual(min(workers.values()), 15, workers)

    def test_kill9_worker_redispatch_loses_nothing(self):
        gw = self.gateway("""
stages:
  - name: work
    command: [sluice-stage-example, --sleep, "3", --record, $DIR/record]
    workers: 2
    capacity: 2
    timeout: 10s
graphs:
  default:
    content: [work]
""", {"work": 2})
        c = Client(gw.front)
        self.addCleanup(c.close)
        total, window, sent, results = 1000, 100, 0, {}
        kills = 0
        deadline = time.monotonic() + 180
        while len(results) < total and time.monotonic() < deadline:
            while sent < total and sent - len(results) < window:
                c.submit(envelope("kill%05d" % sent), message())
                sent += 1
            r = c.recv(100)
            if r is not None:
                self.assertEqual(r[1], "ok", r)
                results[r[2]["id"]] = r[2]
            # kill -9 a worker holding messages, three times during the run
            if kills < 3 and len(results) >= (kills + 1) * 200:
                pid = gw.pids().get("stage work#%d" % (kills % 2 + 1))
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
        self.assertEqual(kills, 3)
        self.assertEqual(len(results), total, "lost %d messages\n%s" % (total - len(results),
                                                                       gw.tail()))
        errors = [q for q, e in results.items() if "error" in e["verdicts"]["work"]]
        self.assertEqual(errors, [])
        st = gw.stage_status("work")
        self.assertGreaterEqual(st["crashes"], 1, st)  # a killed worker held messages
        with open(gw.path("record")) as f:
            recorded = set(f.read().split())
        self.assertEqual(len(recorded & set(results)), total)

    def test_always_crashing_stage_gets_error_verdict(self):
        gw = self.gateway("""
stages:
  - name: ok
    command: [sluice-stage-example]
  - name: crasher
    command: [sluice-stage-example, --crash]
graphs:
  default:
    content: [crasher, ok]
""", {"ok": 1, "crasher": 1}, broker="poison_limit: 2")
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message())
        t0 = time.monotonic()
        rc, doc, err = gw.submit(eml, "--timeout", "60")
        self.assertEqual(rc, 0, err + gw.tail())
        self.assertIn("poison", doc["verdicts"]["crasher"]["error"])
        self.assertNotIn("error", doc["verdicts"]["ok"])  # the message went on
        self.assertLess(time.monotonic() - t0, 30)

    def test_full_queue_answers_busy(self):
        gw = self.gateway("""
stages:
  - name: slow
    command: [sluice-stage-example, --sleep, "300"]
    queue_max: 5
    # one job held at a time: the queue, not the worker's batch, takes the load
    batch: 1
graphs:
  default:
    content: [slow]
""", {"slow": 1})
        c = Client(gw.front)
        self.addCleanup(c.close)
        n = 40
        for i in range(n):
            c.submit(envelope("busy%04d" % i), message())
        statuses = {}
        for _ in range(n):
            r = c.recv(30000)
            self.assertIsNotNone(r, gw.tail())
            statuses[r[1]] = statuses.get(r[1], 0) + 1
        self.assertEqual(sum(statuses.values()), n)
        self.assertGreater(statuses.get("busy", 0), 25, statuses)
        self.assertGreaterEqual(statuses.get("ok", 0), 5, statuses)

    def test_timeout_on_error_rules(self):
        gw = self.gateway("""
stages:
  - name: hold
    command: [sluice-stage-example, --sleep, "3000"]
    timeout: 300ms
    retries: 0
    on_error: tempfail
  - name: virusy
    command: [sluice-stage-example, --sleep, "3000"]
    timeout: 300ms
    retries: 1
    on_error: classify:virus
  - name: skip
    command: [sluice-stage-example, --sleep, "3000"]
    timeout: 300ms
    retries: 0
    on_error: pass
graphs:
  default:
    content: [skip]
  hold:
    content: [hold]
  virusy:
    content: [virusy]
""", {"hold": 1, "virusy": 1, "skip": 1})
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message())
        rc, doc, err = gw.submit(eml)
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["verdicts"]["skip"]["error"], "timeout")
        self.assertNotIn("classification", doc)
        rc, doc, err = gw.submit(eml, "--graph", "hold")
        self.assertEqual(rc, 75, err)
        self.assertIn("tempfail", err)
        self.assertEqual(doc["verdicts"]["hold"]["error"], "timeout")
        rc, doc, err = gw.submit(eml, "--graph", "virusy")
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["classification"], "virus")
        self.assertEqual(doc["verdicts"]["virusy"]["attempts"], 2)  # one retry

    def test_unknown_graph_is_an_error(self):
        gw = self.gateway(STAGES_PARALLEL, {"first": 1})
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message())
        rc, doc, err = gw.submit(eml, "--graph", "nope")
        self.assertEqual(rc, 1)
        self.assertIn("unknown graph", err)

    def test_sigterm_stops_every_process(self):
        gw = Gateway(STAGES_PARALLEL, name="sigterm")
        self.addCleanup(gw.cleanup)
        gw.start({"first": 1, "pyexample": 1})
        pids = gw.pids()
        self.assertGreaterEqual(len(pids), 6, pids)
        self.assertEqual(gw.stop(), 0)
        time.sleep(0.2)
        for label, pid in pids.items():
            alive = os.path.exists("/proc/%d" % pid) and "zombie" not in open(
                "/proc/%d/status" % pid).read().lower()
            self.assertFalse(alive, "%s (%d) still running" % (label, pid))

    def test_metrics(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        gw = self.gateway(STAGES_PARALLEL + "metrics:\n  listen: 127.0.0.1:%d\n" % port,
                          {"first": 1, "bodyseer": 1, "pyexample": 1, "last": 1})
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message())
        for _ in range(3):
            self.assertEqual(gw.submit(eml)[0], 0)
        url = "http://127.0.0.1:%d/metrics" % port
        deadline = time.monotonic() + 10
        text = ""
        while time.monotonic() < deadline:  # the snapshot is refreshed once a second
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            if 'sluice_stage_done_total{stage="last"} 3' in text:
                break
            time.sleep(0.2)
        self.assertIn('sluice_stage_done_total{stage="last"} 3', text)
        self.assertIn('sluice_stage_workers{stage="pyexample"} 1', text)
        self.assertIn('sluice_messages_total{classification="unclassified"} 3', text)
        self.assertIn('sluice_stage_counter_total{stage="bodyseer",counter="body_bytes"}', text)
        self.assertIn("# TYPE sluice_stage_queued gauge", text)
        self.assertIn('sluice_stage_batched_total{stage="first"} ', text)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen("http://127.0.0.1:%d/other" % port, timeout=5)
        self.assertEqual(cm.exception.code, 404)

    def test_dead_child_is_restarted(self):
        gw = self.gateway(STAGES_PARALLEL, {"first": 1, "pyexample": 1})
        old = gw.pids()["stage pyexample#1"]
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            new = gw.pids().get("stage pyexample#1")
            st = gw.stage_status("pyexample")
            if new and new != old and st and st["workers"] == 1:
                break
            time.sleep(0.1)
        self.assertNotEqual(gw.pids().get("stage pyexample#1"), old)
        eml = gw.path("m.eml")
        with open(eml, "wb") as f:
            f.write(message())
        rc, doc, err = gw.submit(eml)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("error", doc["verdicts"]["pyexample"])


if __name__ == "__main__":
    main()
