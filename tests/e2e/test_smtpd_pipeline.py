"""tests/e2e/test_smtpd_pipeline.py - sluice-smtpd in the whole gateway.

`sluice start` runs broker, an example stage that records every queue id it
sees (--record), and sluice-smtpd. Real clients (swaks, smtplib, Postfix's
smtp-source) send mail; every queue id that got a 250 must reach the end of
the pipeline, and the spool must empty as results come back.
"""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main  # noqa: E402
from smtpd_e2e import (Raw, free_port, read_record, recording_stage, require,  # noqa: E402
                       send_many, slurp, started, wait_for)

CONFIG = recording_stage("capacity: 8") + """
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.test
  relay_domains: [example.com]
  per_ip_connections: 100
  per_ip_rate: 100000
%(smtpd)s
spool:
  archive: %(archive)s
"""


require("sluice", "sluice-smtpd", "sluice-stage-example")


class SmtpdPipeline(unittest.TestCase):
    def gateway(self, smtpd="", archive="no"):
        self.port = free_port()
        gw = Gateway(CONFIG % {"port": self.port, "smtpd": smtpd, "archive": archive},
                     name=self.id().split(".")[-1], broker="message_timeout: 5s")
        self.addCleanup(gw.cleanup)
        started(gw, {"example": 1}, self.port)
        self.spool = gw.path("data/spool")
        return gw

    def spool_entries(self):
        return [n for n in os.listdir(self.spool) if n not in ("tmp", "archive", "replica")]

    def assert_all_recorded(self, gw, qids, timeout=60):
        record = gw.path("record")
        ok = wait_for(lambda: set(qids) <= set(read_record(record)) and not self.spool_entries(),
                      timeout, step=0.2)
        missing = set(qids) - set(read_record(record))
        self.assertTrue(ok, "missing %d of %d, spool %d\n%s" % (
            len(missing), len(qids), len(self.spool_entries()), gw.tail()))

    def test_clients(self):
        gw = self.gateway()
        qids = []
        for extra in ([], ["--pipeline"]):
            out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.port,
                                  "--to", "bob@example.com", "--from", "s@b.test"] + extra,
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stdout)
            qids += re.findall(r"queued as (\w+)", out.stdout)
        r = Raw(self.port)
        r.cmd("EHLO raw.test")
        r.cmd("MAIL FROM:<a@b.test>")
        r.cmd("RCPT TO:<bob@example.com>")
        r.send(b"BDAT 20 LAST\r\nSubject: bdat\r\n\r\nx\r\n")
        qids.append(r.reply().split()[-1])
        r.close()
        accepted, _ = send_many(self.port, 10, sessions=2)
        qids += accepted
        self.assertEqual(len(qids), 13)
        self.assert_all_recorded(gw, qids)
        released = lambda: all("%s: released status=ok" % q in slurp(gw.log_path)  # noqa: E731
                               for q in qids)
        self.assertTrue(wait_for(released, 10), gw.tail())
        self.assertNotIn("reject client", slurp(gw.log_path))

    def test_smtp_source_1000_over_20_sessions(self):
        if not os.path.exists("/usr/sbin/smtp-source"):
            self.skipTest("postfix smtp-source not installed")
        gw = self.gateway()
        out = subprocess.run(["/usr/sbin/smtp-source", "-s", "20", "-m", "1000", "-l", "5120",
                              "-f", "sender@b.test", "-t", "rcpt@example.com", "-M", "source.test",
                              "127.0.0.1:%d" % self.port], capture_output=True, text=True,
                             timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        log = lambda: slurp(gw.log_path)  # noqa: E731
        ok = wait_for(lambda: len(re.findall(r"(\w+): queued client=", log())) >= 1000, 60)
        qids = re.findall(r"(\w+): queued client=", log())
        self.assertTrue(ok and len(qids) == 1000, len(qids))
        self.assert_all_recorded(gw, qids, timeout=120)

    def test_archive(self):
        gw = self.gateway(archive="yes")
        accepted, _ = send_many(self.port, 5, sessions=1)
        self.assert_all_recorded(gw, accepted)
        archive = os.path.join(self.spool, "archive")
        self.assertTrue(wait_for(lambda: set(accepted) <= set(os.listdir(archive)), 10))


if __name__ == "__main__":
    main()
