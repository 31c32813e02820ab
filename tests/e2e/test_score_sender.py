#!/usr/bin/python3
"""tests/e2e/test_score_sender.py - the score stage's sender behaviour.

`sluice start` runs the graph [score] with correspondents and reputation on
and the sender store in the test's folder; envelopes go to the real broker
over the client protocol (sluice_e2e.Client), so the test chooses their
direction ("out" as smtpd sets it for outbound_networks) and, for the
reputation cases, a headers verdict with SPF_PASS as the headers stage would
add it. Asserts what the final envelope says: the symbols and the score.
"""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, SOURCE, Client, Gateway, envelope, main  # noqa: E402

CONFIG = """
stages:
  - name: score
    command: [sluice-stage-score]
    timeout: 30s
    options:
      rules: %(rules)s
      correspondents: true
      correspondent_window: 30d
      reputation: true
      reputation_spam: 5
      sender_store: "sqlite:$DIR/sender.db"
graphs:
  default:
    content: [score]
"""

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def body(sender, rcpt, text):
    return ("From: <%s>\r\nTo: <%s>\r\nSubject: lunch\r\nMessage-ID: <%d@e2e.example>\r\n"
            "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n%s\r\n"
            % (sender, rcpt, time.time_ns(), text)).encode()


def setUpModule():
    for name in ("sluice-stage-score", "sluice"):
        if not os.path.exists(os.path.join(BIN, name)):
            raise unittest.SkipTest("%s not built (PCRE2/libpsl/libidn2 missing)" % name)


class Sender(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rules = os.path.join(SOURCE, "stages", "score", "rules")
        cls.gw = Gateway(CONFIG % {"rules": rules}, name="sender")
        try:
            cls.gw.start({"score": 1}, timeout=60)
            cls.client = Client(cls.gw.front)
        except Exception:
            cls.gw.cleanup()
            raise
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.gw.cleanup()

    def send(self, sender, rcpts, text="Shall we meet on Friday?", direction="in", spf=False,
             headers=None, dry_run=False):
        """One envelope through [score]; returns (score symbols, envelope score).
        HEADERS: symbols of a headers verdict already in the envelope."""
        Sender.n += 1
        env = envelope("sender%04d" % Sender.n, mail_from=sender, rcpts=rcpts)
        env["direction"] = direction
        if spf:
            headers = {"SPF_PASS": 0.0}
        env["verdicts"] = {}
        if headers:
            env["verdicts"]["headers"] = {"symbols": {
                k: {"score": w, "info": sender.split("@")[-1]} for k, w in headers.items()}}
        if dry_run:  # as `sluice replay --dry-run` marks its envelopes
            env["verdicts"]["replay"] = {"fields": {"dry_run": True}}
        req = self.client.submit(env, body(sender, rcpts[0], text))
        got = self.client.recv(30000)
        self.assertIsNotNone(got, "no result\n" + self.gw.tail())
        self.assertEqual(got[0], req)
        self.assertEqual(got[1], "ok", "%s\n%s" % (got[2], self.gw.tail()))
        verdict = got[2]["verdicts"]["score"]
        return verdict["symbols"], got[2]["score"]

    def test_correspondent(self):
        # A dry-run replay of outbound mail teaches nothing.
        self.send("alice@example.com", ["bob@partner.example"], direction="out", dry_run=True)
        known, _ = self.send("bob@partner.example", ["alice@example.com"])
        self.assertNotIn("SENDER_CORRESPONDENT", known, known)
        syms, _ = self.send("alice@example.com", ["bob@partner.example"], direction="out")
        self.assertNotIn("SENDER_CORRESPONDENT", syms)
        known, known_score = self.send("bob@partner.example", ["alice@example.com"])
        stranger, stranger_score = self.send("carol@elsewhere.example", ["alice@example.com"])
        self.assertIn("SENDER_CORRESPONDENT", known, known)
        self.assertEqual(known["SENDER_CORRESPONDENT"]["score"], -3.0)
        self.assertIn("alice@example.com", known["SENDER_CORRESPONDENT"]["info"])
        self.assertNotIn("SENDER_CORRESPONDENT", stranger)
        self.assertAlmostEqual(known_score, stranger_score - 3.0, places=3)
        # Not every recipient knows bob: one score serves all, so no bonus.
        mixed, _ = self.send("bob@partner.example", ["alice@example.com", "dave@example.com"])
        self.assertNotIn("SENDER_CORRESPONDENT", mixed, mixed)
        # The direction matters: bob's inbound mail taught nothing about alice.
        back, _ = self.send("alice@example.com", ["bob@partner.example"])
        self.assertNotIn("SENDER_CORRESPONDENT", back)
        # Case does not.
        upper, _ = self.send("Bob@Partner.Example", ["ALICE@example.com"])
        self.assertIn("SENDER_CORRESPONDENT", upper)

    def test_outbound_ignores_inbound_only_symbols(self):
        """Mail from our own networks is not judged by SPF/DMARC of its client."""
        fail = {"SPF_FAIL": 2.0, "DMARC_POLICY_REJECT": 5.0, "DKIM_INVALID": 1.0}
        _, out = self.send("erin@example.com", ["x@partner.example"], direction="out",
                           headers=fail)
        _, inbound = self.send("erin@example.com", ["x@example.com"], headers=fail)
        self.assertAlmostEqual(inbound - out, 7.0, places=3)

    def test_good_reputation_needs_authentication(self):
        for i in range(5):
            syms, _ = self.send("news@good.example", ["ann@example.com"], spf=True)
            self.assertNotIn("SENDER_REP_GOOD", syms, "message %d: %s" % (i, syms))
        syms, _ = self.send("news@good.example", ["ann@example.com"], spf=True)
        self.assertIn("SENDER_REP_GOOD", syms, syms)
        self.assertEqual(syms["SENDER_REP_GOOD"]["score"], -1.0)
        self.assertIn("messages=5 spam=0", syms["SENDER_REP_GOOD"]["info"])
        # A forger of the same address without SPF or DKIM pass gains nothing.
        forged, _ = self.send("news@good.example", ["ann@example.com"])
        self.assertNotIn("SENDER_REP_GOOD", forged, forged)
        # The null sender never earns a reputation.
        for _ in range(6):
            null, _ = self.send("", ["ann@example.com"], spf=True)
        self.assertNotIn("SENDER_REP_GOOD", null)

    def test_bad_reputation_and_domain_fallback(self):
        for i in range(3):
            syms, score = self.send("promo@bad.example", ["ann@example.com"], "buy " + GTUBE)
            self.assertGreaterEqual(score, 1000)
            self.assertNotIn("SENDER_REP_BAD", syms, "message %d" % i)
        syms, score = self.send("promo@bad.example", ["ann@example.com"], "more " + GTUBE)
        self.assertIn("SENDER_REP_BAD", syms, syms)
        self.assertEqual(syms["SENDER_REP_BAD"]["score"], 2.0)
        self.assertIn("promo@bad.example messages=3 spam=3", syms["SENDER_REP_BAD"]["info"])
        # A new address of that domain: the domain's history speaks for it.
        other, _ = self.send("offers@bad.example", ["ann@example.com"], "another clean text")
        self.assertIn("SENDER_REP_BAD", other, other)
        self.assertIn("bad.example messages=4", other["SENDER_REP_BAD"]["info"])
        fresh, _ = self.send("someone@fresh.example", ["ann@example.com"])
        self.assertNotIn("SENDER_REP_BAD", fresh)


if __name__ == "__main__":
    main()
