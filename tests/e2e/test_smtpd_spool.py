"""tests/e2e/test_smtpd_spool.py - the durable spool: nothing that got a 250 is lost.

1. smtpd alone (no broker) takes mail into its spool; `sluice start` on the
   same data_dir later submits every entry again and the spool empties.
2. While 20 clients send 2,000 messages, smtpd, the broker and the stage worker are
   killed with SIGKILL at random moments (the supervisor restarts them);
   afterwards every queue id that got a 250 has reached the end of the
   pipeline (the example stage's --record file).
3. A spool that cannot be written gives 451 4.3.0, never 250.
"""
import os
import random
import re
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main  # noqa: E402
from smtpd_e2e import (Raw, Smtpd, free_port, read_record, recording_stage, require,  # noqa: E402
                       send_many, slurp, started, wait_for)

# on_error: tempfail: a message whose worker died is held and retried, not
# passed on unrecorded.
CONFIG = recording_stage("capacity: 4\non_error: tempfail\nretries: 3") + """
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.test
  relay_domains: [example.com]
  per_ip_connections: 1000
  per_ip_rate: 1000000
"""


require("sluice", "sluice-smtpd", "sluice-stage-example")


class Spool(unittest.TestCase):
    def make_gateway(self):
        self.port = free_port()
        gw = Gateway(CONFIG % {"port": self.port}, name=self.id().split(".")[-1],
                     broker="message_timeout: 3s")
        self.addCleanup(gw.cleanup)
        return gw

    def spool_entries(self, gw):
        try:
            return [n for n in os.listdir(gw.path("data/spool"))
                    if n not in ("tmp", "archive", "replica")]
        except FileNotFoundError:
            return []

    def wait_recorded(self, gw, qids, timeout):
        ok = wait_for(lambda: set(qids) <= set(read_record(gw.path("record")))
                      and not self.spool_entries(gw), timeout, step=0.25)
        missing = set(qids) - set(read_record(gw.path("record")))
        self.assertTrue(ok, "%d of %d never reached the pipeline's end (%s); spool holds %d\n%s"
                        % (len(missing), len(qids), " ".join(sorted(missing)[:5]),
                           len(self.spool_entries(gw)), gw.tail(80)))

    def test_resubmit_on_start(self):
        gw = self.make_gateway()
        alone = Smtpd(folder=gw.dir, port=self.port, name="alone")
        # same data_dir as the gateway; graph as in the gateway's config
        self.addCleanup(alone.stop)
        alone.start()
        accepted, failed = send_many(self.port, 30, sessions=3)
        self.assertEqual((len(accepted), failed), (30, 0))
        self.assertEqual(sorted(accepted), sorted(self.spool_entries(gw)))
        time.sleep(2)  # no broker: nothing answers, nothing is dropped
        self.assertEqual(len(self.spool_entries(gw)), 30)
        alone.stop()
        gw.start({"example": 1})
        self.assertTrue(wait_for(lambda: "spool entries=30 action=resubmit" in slurp(gw.log_path),
                                 15), gw.tail())
        self.wait_recorded(gw, accepted, 60)

    def test_kill9_during_load(self):
        gw = started(self.make_gateway(), {"example": 1}, self.port)
        result = {}

        def sender():
            result["accepted"], result["failed"] = send_many(self.port, 2000, sessions=20,
                                                             per_session=10, deadline_s=240)

        t = threading.Thread(target=sender)
        t.start()
        rng = random.Random(int(time.time()))
        kills = []
        victims = ["smtpd", "broker", "stage example#1"]
        # Short gaps: on an idle machine the 2,000 messages take only a few seconds,
        # and the test wants at least one kill of each process while they flow.
        # One kill of each process at least, even when a fast machine has sent
        # everything before the third (the kills then hit mail still in the
        # pipeline, which must come out all the same).
        stop_killing = time.monotonic() + 120
        while time.monotonic() < stop_killing and (
                len(kills) < len(victims) or (t.is_alive() and len(kills) < 12)):
            time.sleep(rng.uniform(0.05, 0.25))
            label = victims[len(kills) % len(victims)]
            pid = wait_for(lambda: gw.pids().get(label), 10)
            if pid and (t.is_alive() or len(kills) < len(victims)):
                try:
                    os.kill(pid, signal.SIGKILL)
                    kills.append(label)
                except ProcessLookupError:
                    pass
                # wait for the supervisor to restart it before the next kill
                wait_for(lambda: gw.pids().get(label) not in (None, pid), 10)
        t.join(timeout=300)
        self.assertFalse(t.is_alive())
        accepted = result["accepted"]
        self.assertEqual(len(accepted), 2000, "failed attempts %d" % result["failed"])
        self.assertGreaterEqual(len(kills), 3, kills)
        self.wait_recorded(gw, accepted, 180)

    def test_unwritable_spool_gives_451(self):
        d = Smtpd(name="full")
        self.addCleanup(d.cleanup)
        d.start()
        tmp = os.path.join(d.spool, "tmp")
        os.rmdir(tmp)
        with open(tmp, "w") as f:  # a file where the tmp folder was: every create fails
            f.write("x")
        r = Raw(d.port)
        r.begin_data()
        r.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        self.assertEqual(r.reply(), "451 4.3.0 Error: queue file write error, try again later")
        self.assertTrue(d.wait_log('spool write failed client=127.0.0.1 reason="cannot create spool file"'))
        self.assertEqual(d.entries(), [])


if __name__ == "__main__":
    main()
