#!/usr/bin/python3
"""tests/e2e/test_headers_spf_suite.py - the RFC 7208 SPF suite against the headers stage.

Runs tests/spf/run_suite.py (each scenario's zone on the loopback DNS server,
each test through sluice-headers-check, the stage's SPF code) and fails on
any failure that tests/spf/known-failures.txt does not explain.
"""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, CORPUS, SOURCE, main  # noqa: E402

SUITE = os.path.join(CORPUS, "spf-suite", "rfc7208-tests.yml")


class SpfSuiteTest(unittest.TestCase):
    def test_rfc7208_suite(self):
        if not os.path.exists(SUITE):
            self.skipTest("no SPF suite at %s (set SLUICE_CORPUS)" % SUITE)
        if not os.path.exists(os.path.join(BIN, "sluice-headers-check")):
            self.skipTest("sluice-headers-check not built")
        r = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tests", "spf", "run_suite.py"),
                            "--suite", SUITE], capture_output=True, text=True, timeout=1200,
                           env=dict(os.environ, SLUICE_BIN=BIN, SLUICE_SOURCE=SOURCE))
        print(r.stdout.splitlines()[-1] if r.stdout else r.stderr[-500:])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-2000:])
        self.assertRegex(r.stdout, r"203 tests, 142 pass")


if __name__ == "__main__":
    main()
