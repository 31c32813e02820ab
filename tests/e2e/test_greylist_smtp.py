#!/usr/bin/python3
"""tests/e2e/test_greylist_smtp.py - swaks gets 451 at RCPT, then 250 after the delay.

Two whole gateways (sluice start: smtpd, broker, sluice-stage-greylist), each
with its own smtpd port, share one SQLite greylist store (the stage's
`store:` option), as two MX hosts would. The graph greylists at RCPT with a
4 s delay. Loopback is all of 127.0.0.0/8 and nothing in the config allows
it: network_v4 is 32, so every 127.0.0.x address swaks connects from
(--local-interface) is a client network of its own. A fail-open of the rcpt
phase would also give 250 (after phase_timeout, 10 s), so every session must
be answered within 8 s, no log may say "action=fail-open", and some tests
ask the store what it holds. No SPF bypass for loopback clients (spf_history
is on; lookups go to tests/dns/dnsserver.py). Skipped (exit 77) while
sluice-smtpd or the stage is not built, or swaks is missing.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, SOURCE, Gateway, main  # noqa: E402
from smtpd_e2e import free_port, port_open, wait_for  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from dnsserver import DnsServer  # noqa: E402

DELAY = 4  # s: two swaks runs on a loaded 2-core machine fit well inside it

ZONE = """
spf.example        TXT "v=spf1 ip4:127.0.0.20/30 -all"
"""

CONFIG = """
dns:
  forward: ["%(forward)s"]
stages:
  - name: greylist
    command: [sluice-stage-greylist]
    workers: 1
    capacity: 4
    timeout: 5s
    options:
      delay: %(delay)ds
      retry_window: 1h
      auto_allow: 2
      network_v4: 32
      spf_history: 2
      store: "sqlite:%(store)s"
  - name: example
    command: [sluice-stage-example]
graphs:
  default:
    rcpt: [greylist]
    content: [example]
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx%(n)d.example
  relay_domains: [example.com]
  phase_timeout: 10s
"""

GREYLISTED = "<** 451 4.7.1 Greylisted, try again in "


def setUpModule():
    for prog in ("sluice-smtpd", "sluice-stage-greylist", "sluice-stage-example"):
        if not os.path.exists(os.path.join(BIN, prog)):
            raise unittest.SkipTest("%s not built" % prog)
    if shutil.which("swaks") is None:
        raise unittest.SkipTest("swaks not installed")


def swaks(port, source, sender, rcpt, data=False):
    """The swaks transcript of one session from SOURCE; (text, seconds taken)."""
    args = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--local-interface", source,
            "--helo", "client.example.net", "--from", sender, "--to", rcpt, "--timeout", "15"]
    if not data:
        args += ["--quit-after", "RCPT"]
    start = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, timeout=40)
    return r.stdout + r.stderr, time.monotonic() - start


class GreylistSmtp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gws = []
        cls.dns = DnsServer(ZONE).start()
        cls.store_dir = tempfile.mkdtemp(prefix="sluice-e2e-greysmtp-store-")
        cls.store = os.path.join(cls.store_dir, "greylist.db")
        try:
            for n in (1, 2):
                port = free_port()
                gw = Gateway(CONFIG % {"delay": DELAY, "store": cls.store, "port": port, "n": n,
                                       "forward": cls.dns.forward}, name="greysmtp%d" % n)
                gw.port = port
                cls.gws.append(gw)
                gw.start({"greylist": 1, "example": 1})
                if not wait_for(lambda: port_open(port), 15):
                    raise AssertionError(gw.tail())
        except Exception:
            for gw in cls.gws:
                gw.cleanup()
            cls.dns.cleanup()
            shutil.rmtree(cls.store_dir, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        for gw in cls.gws:
            gw.cleanup()
        cls.dns.cleanup()
        shutil.rmtree(cls.store_dir, ignore_errors=True)

    def tearDown(self):
        for gw in self.gws:
            with open(gw.log_path, errors="replace") as f:
                self.assertNotIn("action=fail-open", f.read(), gw.tail())

    def rcpt(self, source, sender, rcpt, gw=0, data=False):
        out, took = swaks(self.gws[gw].port, source, sender, rcpt, data)
        # an answer from the stage, never the fail-open after phase_timeout (10 s)
        self.assertLess(took, 8, out + self.gws[gw].tail())
        return out

    def assertGreylisted(self, out, gw=0):
        self.assertIn(GREYLISTED, out, out + self.gws[gw].tail())
        left = int(out.split(GREYLISTED, 1)[1].split()[0])
        self.assertTrue(1 <= left <= DELAY, out)

    def assertAccepted(self, out, gw=0):
        self.assertIn("<-  250 2.1.5", out, out + self.gws[gw].tail())
        self.assertNotIn("<** ", out)

    def triplet(self, network, sender, rcpt):
        """(first_seen, passed) of a triplet in the shared store, or None."""
        with sqlite3.connect(self.store, timeout=10) as db:
            return db.execute("SELECT first_seen, passed FROM greylist_triplet "
                              "WHERE network = ? AND sender = ? AND rcpt = ?",
                              (network, sender, rcpt)).fetchone()

    def test_451_at_rcpt_then_250_after_delay(self):
        args = ("127.0.0.5", "alice@sender.example", "bob@example.com")
        self.assertGreylisted(self.rcpt(*args))
        self.assertGreylisted(self.rcpt(*args))  # too early: deferred again
        self.assertEqual(self.triplet("127.0.0.5/32", *args[1:])[1], 0)
        time.sleep(DELAY + 0.3)
        self.assertAccepted(self.rcpt(*args))
        self.assertEqual(self.triplet("127.0.0.5/32", *args[1:])[1], 1)
        # the whole message now: queued
        out = self.rcpt(*args, data=True)
        self.assertIn("<-  250 2.0.0 Ok: queued as ", out, out + self.gws[0].tail())
        # another recipient is another triplet
        self.assertGreylisted(self.rcpt("127.0.0.5", "alice@sender.example", "carol@example.com"))

    def test_auto_allowed_client_accepted_at_once(self):
        rcpts = ("r1@example.com", "r2@example.com")
        for rcpt in rcpts:
            self.assertGreylisted(self.rcpt("127.0.0.6", "s@sender.example", rcpt))
        time.sleep(DELAY + 0.3)
        for rcpt in rcpts:
            self.assertAccepted(self.rcpt("127.0.0.6", "s@sender.example", rcpt))
        # two passed triplets (auto_allow: 2): a new triplet passes at once, on both hosts
        self.assertAccepted(self.rcpt("127.0.0.6", "new@other.example", "x@example.com"))
        self.assertAccepted(self.rcpt("127.0.0.6", "new2@other.example", "y@example.com", gw=1))
        # auto-allow decides before a triplet is recorded
        self.assertIsNone(self.triplet("127.0.0.6/32", "new@other.example", "x@example.com"))
        # a client next door is not known
        self.assertGreylisted(self.rcpt("127.0.0.16", "new@other.example", "x@example.com"))

    def log(self):
        text = ""
        for gw in self.gws:
            with open(gw.log_path, errors="replace") as f:
                text += f.read()
        return text

    def test_no_spf_bypass_for_loopback(self):
        # libspf2 passes every loopback client whatever the record says, so the
        # stage never bypasses one on SPF (the bypass itself: test_greylist.py)
        first = [("127.0.0.20", "a@spf.example", "h1@example.com"),
                 ("127.0.0.21", "b@spf.example", "h2@example.com")]
        for args in first:
            self.assertGreylisted(self.rcpt(*args))
        time.sleep(DELAY + 0.3)
        for args in first:
            self.assertAccepted(self.rcpt(*args))
        # spf.example has its history (spf_history: 2) and SPF would pass
        self.assertGreylisted(self.rcpt("127.0.0.23", "d@spf.example", "h4@example.com"))
        self.assertNotIn("reason=spf", self.log())

    def test_two_smtpd_share_one_store(self):
        args = ("127.0.0.7", "eve@sender.example", "dave@example.com")
        self.assertGreylisted(self.rcpt(*args, gw=0))
        # the other host knows the first attempt: still too early there
        self.assertGreylisted(self.rcpt(*args, gw=1), gw=1)
        time.sleep(DELAY + 0.3)
        self.assertAccepted(self.rcpt(*args, gw=1), gw=1)
        self.assertAccepted(self.rcpt(*args, gw=0))
        # and the other way round
        args = ("127.0.0.8", "eve@sender.example", "dave@example.com")
        self.assertGreylisted(self.rcpt(*args, gw=1), gw=1)
        time.sleep(DELAY + 0.3)
        self.assertAccepted(self.rcpt(*args, gw=0))


if __name__ == "__main__":
    main()
