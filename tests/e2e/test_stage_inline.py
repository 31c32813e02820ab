#!/usr/bin/python3
"""tests/e2e/test_stage_inline.py - a C stage scans inline, one lane per capacity.

The stage runtime (lib/sl_stage.c) scans on the thread that owns the
connection: capacity 1 is the main thread, capacity N is N lanes, each a
thread with its own connection. A small heartbeat thread keeps the broker's
liveness honest while a scan runs (see broker/README.md, "Liveness during a
long scan"). These tests check what a user sees: a scan much longer than
three heartbeat intervals still answers once, from the same worker, with no
crash counted; a worker killed in the middle of a long scan is still noticed
and its message re-dispatched; many short messages in a row all come back;
a capacity-3 process is three workers that scan at once, SIGTERM while all
three hold mail hands it back and loses none, and a kill -9 of it blames
none of the three messages it held.
"""
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Client, Gateway, envelope, main, message  # noqa: E402


class StageInlineTest(unittest.TestCase):
    def gateway(self, body, workers, broker=""):
        """A running gateway with BODY (and BROKER's lines), and a client on its frontend."""
        gw = Gateway(body, name=self.id().split(".")[-1], broker=broker)
        self.addCleanup(gw.cleanup)
        gw.start(workers)
        c = Client(gw.front)
        self.addCleanup(c.close)
        return gw, c

    def slow_gateway(self, sleep_ms, timeout):
        """One capacity-1 worker taking SLEEP_MS per message (heartbeat 200 ms)."""
        return self.gateway("""
stages:
  - name: slow
    command: [sluice-stage-example, --sleep, "%d"]
    timeout: %s
graphs:
  default:
    content: [slow]
""" % (sleep_ms, timeout), {"slow": 1})

    def test_long_scan_keeps_the_worker_alive(self):
        # 1.5 s per message against a 200 ms heartbeat: 7 intervals of scanning.
        gw, c = self.slow_gateway(1500, "20s")
        for i in range(2):
            c.submit(envelope("inline%04d" % i), message())
        workers = set()
        for _ in range(2):
            r = c.recv(20000)
            self.assertIsNotNone(r, gw.tail())
            self.assertEqual(r[1], "ok", r)
            v = r[2]["verdicts"]["slow"]
            self.assertNotIn("error", v)
            self.assertEqual(v["attempts"], 1, v)
            self.assertGreaterEqual(v["ms"], 1400, v)
            workers.add(v["worker"])
        self.assertEqual(len(workers), 1, workers)
        st = gw.stage_status("slow")
        self.assertEqual(st["crashes"], 0, st)
        self.assertEqual(st["workers"], 1, st)
        self.assertNotIn("heartbeat lost", gw.tail(200))

    def test_worker_killed_mid_scan_is_noticed(self):
        gw, c = self.slow_gateway(2000, "60s")
        t0 = time.monotonic()
        c.submit(envelope("killmid0001"), message())
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            st = gw.stage_status("slow")
            if st and st["in_flight"] == 1:
                break
            time.sleep(0.05)
        old = gw.pids()["stage slow#1"]
        os.kill(old, signal.SIGKILL)
        r = c.recv(30000)
        self.assertIsNotNone(r, gw.tail())
        self.assertEqual(r[1], "ok", r)
        v = r[2]["verdicts"]["slow"]
        self.assertNotIn("error", v)
        self.assertNotEqual(v["worker"].rsplit(":", 1)[-1], str(old))
        # Noticed by silence (3 x 200 ms), not by the 60 s stage timeout.
        self.assertLess(time.monotonic() - t0, 20)
        self.assertGreaterEqual(gw.stage_status("slow")["crashes"], 1)

    def test_many_short_messages(self):
        gw, c = self.gateway("""
stages:
  - name: a
    command: [sluice-stage-example]
  - name: b
    command: [sluice-stage-example, --needs, body]
graphs:
  default:
    content: [a, b]
""", {"a": 1, "b": 1})
        total, window, sent, got = 300, 16, 0, {}
        deadline = time.monotonic() + 60
        while len(got) < total and time.monotonic() < deadline:
            while sent < total and sent - len(got) < window:
                c.submit(envelope("short%05d" % sent), message())
                sent += 1
            r = c.recv(5000)
            self.assertIsNotNone(r, gw.tail())
            self.assertEqual(r[1], "ok", r)
            got[r[2]["id"]] = r[2]
        self.assertEqual(len(got), total)
        for doc in got.values():
            self.assertFalse(doc["verdicts"]["a"]["fields"]["got_body"], doc["verdicts"]["a"])
            self.assertTrue(doc["verdicts"]["b"]["fields"]["got_body"], doc["verdicts"]["b"])

    def lanes_gateway(self, count, broker=""):
        """One process of capacity 3 (batch 1, 1.5 s per message) and COUNT
        messages submitted, once its three lanes hold one each and the rest
        wait in the queue. Returns the gateway, the client and the pid."""
        gw, c = self.gateway("""
stages:
  - name: lanes
    command: [sluice-stage-example, --sleep, "1500"]
    capacity: 3
    batch: 1
    timeout: 30s
graphs:
  default:
    content: [lanes]
""", {"lanes": 3}, broker=broker)
        for i in range(count):
            c.submit(envelope("lane%04d" % i), message())
        want, seen = (3, count - 3), None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen = gw.stage_status("lanes")
            if seen and (seen["in_flight"], seen["queued"]) == want:
                break
            time.sleep(0.02)
        self.assertEqual((seen["in_flight"], seen["queued"]), want, seen)
        return gw, c, gw.pids()["stage lanes#1"]

    def collect(self, c, count):
        """Every answer for COUNT messages (60 s at most), by queue id."""
        got, deadline = {}, time.monotonic() + 60
        while len(got) < count and time.monotonic() < deadline:
            r = c.recv(2000)
            if r is not None:
                got[r[2]["id"]] = r
        return got

    def test_capacity_is_lanes(self):
        # Six messages: three lanes each hold one and three wait in the queue.
        gw, c, pid = self.lanes_gateway(6)
        st = gw.stage_status("lanes")
        self.assertEqual((st["workers"], st["capacity"]), (3, 3), st)
        log = gw.tail(400)
        for k in range(3):
            self.assertRegex(log, r"worker ready stage=lanes worker=[^ ]*:%d/%d capacity=1 "
                             r"batch=1" % (pid, k))
        # SIGTERM with three held: the process finishes or hands back what it
        # holds, exits, is restarted, and every message comes back ok.
        os.kill(pid, signal.SIGTERM)
        got = self.collect(c, 6)
        self.assertEqual(sorted(got), ["lane%04d" % i for i in range(6)], gw.tail())
        for r in got.values():
            self.assertEqual(r[1], "ok", r)
            self.assertNotIn("error", r[2]["verdicts"]["lanes"], r)
        self.assertNotEqual(gw.pids()["stage lanes#1"], pid)
        self.assertIn("stage stopped name=lanes", gw.tail(400))
        self.assertEqual(gw.stage_status("lanes")["crashes"], 0, gw.tail())

    def test_killed_process_blames_no_lane(self):
        # poison_limit 1: one death names a message poison. A capacity-3
        # process killed while each lane holds one message died holding three:
        # nobody knows which killed it, so none is blamed and all three come
        # back ok (each retried alone), as with one worker holding three.
        gw, c, pid = self.lanes_gateway(3, broker="poison_limit: 1")
        os.kill(pid, signal.SIGKILL)
        got = self.collect(c, 3)
        self.assertEqual(sorted(got), ["lane%04d" % i for i in range(3)], gw.tail())
        for r in got.values():
            self.assertEqual(r[1], "ok", r)
            v = r[2]["verdicts"]["lanes"]
            self.assertNotIn("error", v, v)
            self.assertNotEqual(v["worker"].rsplit(":", 1)[-1], str(pid), v)
        self.assertIn("heartbeat lost by its process", gw.tail(400))

if __name__ == "__main__":
    main()
