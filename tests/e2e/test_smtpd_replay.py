"""tests/e2e/test_smtpd_replay.py - `sluice replay` over smtpd's archive.

Mail goes in through sluice-smtpd with spool.archive on; once released, the
archive holds each message with its final envelope. `sluice replay --dry-run
--graph scored` sends them through a graph with one more scoring stage and
must report, per message, old and new verdicts and the difference.
"""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main, sluice  # noqa: E402
from smtpd_e2e import free_port, read_record, require, send_many, started, wait_for  # noqa: E402

CONFIG = """
stages:
  - name: example
    command: [sluice-stage-example, --record, $DIR/record]
  - name: scorer
    command: [sluice-stage-example, --score, "2.5"]
graphs:
  default:
    content: [example]
  scored:
    content: [example, scorer]
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.test
  relay_domains: [example.com]
spool:
  archive: yes
  archive_retention: 1d
"""


require("sluice", "sluice-smtpd", "sluice-stage-example")


class Replay(unittest.TestCase):
    def test_dry_run_shows_changes(self):
        port = free_port()
        gw = Gateway(CONFIG % {"port": port}, name="replay")
        self.addCleanup(gw.cleanup)
        started(gw, {"example": 1, "scorer": 1}, port)
        accepted, _ = send_many(port, 3, sessions=1)
        self.assertEqual(len(accepted), 3)
        archive = gw.path("data/spool/archive")
        self.assertTrue(wait_for(lambda: set(accepted) <= set(os.listdir(archive)), 20), gw.tail())

        r = sluice("replay", "-c", gw.config, "--since", "1h", "--graph", "scored", "--dry-run",
                   timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("replay messages=3 graph=scored dry_run=yes", r.stdout)
        for qid in accepted:
            self.assertRegex(r.stdout, r"%s from=archive old: class=\S+ score=\S+ new: "
                             r"class=\S+ score=\S+ CHANGED\n  \+ scorer.EXAMPLE_SCORE \(2.50\)\n" % qid)
        self.assertEqual(r.stdout.count("  + scorer.EXAMPLE_SCORE (2.50)"), 3, r.stdout)
        self.assertEqual(read_record(gw.path("record")).count(accepted[0]), 2)  # example ran again

        one = sluice("replay", "-c", gw.config, "--id", accepted[0], timeout=120)
        self.assertEqual(one.returncode, 0, one.stdout + one.stderr)
        self.assertIn("replay messages=1 graph=default dry_run=no", one.stdout)
        self.assertIn("%s from=archive" % accepted[0], one.stdout)
        self.assertIn("%s from=archive old: class=none score=- new: class=none score=- unchanged"
                      % accepted[0], one.stdout)
        self.assertTrue(wait_for(lambda: read_record(gw.path("record")).count(accepted[0]) == 3, 10))

    def test_usage_errors(self):
        self.assertEqual(sluice("replay").returncode, 2)
        self.assertEqual(sluice("replay", "--id", "x", "--since", "1h").returncode, 2)
        self.assertEqual(sluice("replay", "--since", "yesterday-ish").returncode, 2)
        self.assertEqual(sluice("replay", "--id", "../etc").returncode, 2)


if __name__ == "__main__":
    main()
