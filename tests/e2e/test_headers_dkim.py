#!/usr/bin/python3
"""tests/e2e/test_headers_dkim.py - DKIM signed by python3-dkim, verified by the headers stage.

Keys are made in the test (RSA 2048 with openssl, ed25519 with python3-nacl),
published on the loopback DNS server, and messages signed by Debian's
python3-dkim with rsa-sha256 and ed25519-sha256, relaxed and simple, with and
without l=. sluice-headers-check (the stage's code) must pass each one, fail
a tampered body or header, honour l= and report a missing key as permerror
and an unreachable one as temperror. The corpus comparison is
tests/dkim/compare.py, run here too when the corpus is present.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, CORPUS, SOURCE, main  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "dkim"))
from dnsdata import rsa_key, txt_line  # noqa: E402
try:
    import dkim
    import nacl.signing
    from dnsserver import DnsServer
except ImportError as e:  # reported as a skip below
    dkim = None
    IMPORT_ERROR = str(e)

CHECK = os.path.join(BIN, "sluice-headers-check")
MESSAGE = (b"From: Alice <alice@signed.example>\r\nTo: bob@example.org\r\n"
           b"Subject: signed by python3-dkim\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
           b"Message-ID: <dkim-test@signed.example>\r\n\r\n"
           b"Hello,\r\n\r\nthis body is  signed.\r\n\r\n\r\n")


class DkimSignTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if dkim is None:
            raise unittest.SkipTest("missing %s (python3-dkim, python3-nacl, python3-dnslib)"
                                    % IMPORT_ERROR)
        if not os.path.exists(CHECK):
            raise unittest.SkipTest("sluice-headers-check not built")
        cls.dir = tempfile.mkdtemp(prefix="sluice-dkim-")
        cls.rsa_private, der = rsa_key(cls.dir)
        seed = nacl.signing.SigningKey.generate()
        cls.ed_private = base64.b64encode(bytes(seed))
        ed_public = base64.b64encode(bytes(seed.verify_key)).decode()
        zone = "\n".join([
            txt_line("rsa._domainkey.signed.example",
                     "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()),
            txt_line("ed._domainkey.signed.example", "v=DKIM1; k=ed25519; p=" + ed_public),
            "slow._domainkey.signed.example. TIMEOUT",
        ]) + "\n"
        cls.dns = DnsServer(zone).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def sign(self, message, alg="rsa", canon=(b"relaxed", b"relaxed"), length=False,
             selector=None):
        key = self.rsa_private if alg == "rsa" else self.ed_private
        sig = dkim.sign(message, (selector or alg).encode(), b"signed.example", key,
                        canonicalize=canon, length=length,
                        signature_algorithm=b"rsa-sha256" if alg == "rsa" else b"ed25519-sha256",
                        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
        return sig + message

    def verify(self, *messages):
        """[[result per signature] per message] from the stage's code."""
        paths = []
        for i, m in enumerate(messages):
            p = os.path.join(self.dir, "m%d.eml" % i)
            with open(p, "wb") as f:
                f.write(m)
            paths.append(p)
        r = subprocess.run([CHECK, "--dns", self.dns.forward, "--timeout", "1500", "--ip",
                            "192.0.2.1", "--helo", "mx.signed.example", "--from",
                            "alice@signed.example"] + paths, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        docs = [json.loads(line) for line in r.stdout.splitlines()]
        return [[s["result"] for s in d["verdict"]["fields"]["dkim"]] for d in docs], docs

    def test_every_algorithm_and_canonicalization_passes(self):
        combos = [(alg, (h, b), length) for alg in ("rsa", "ed")
                  for h, b in ((b"relaxed", b"relaxed"), (b"simple", b"simple"),
                               (b"relaxed", b"simple"), (b"simple", b"relaxed"))
                  for length in (False, True)]
        signed = [self.sign(MESSAGE, alg, canon, length) for alg, canon, length in combos]
        # python3-dkim agrees with itself on every one (the test's own sanity check)
        for m in signed:
            self.assertTrue(dkim.verify(m, dnsfunc=self.dnsfunc), m[:300])
        results, docs = self.verify(*signed)
        for combo, res, doc in zip(combos, results, docs):
            self.assertEqual(res, ["pass"], "%s: %s" % (combo, doc["verdict"]["fields"]["dkim"]))
            self.assertIn("DKIM_PASS", doc["verdict"]["symbols"])
            self.assertIn("dkim=pass", doc["verdict"]["fields"]["auth_results"])
        algs = {d["verdict"]["fields"]["dkim"][0]["algorithm"] for d in docs}
        self.assertEqual(algs, {"rsa-sha256", "ed25519-sha256"})

    def dnsfunc(self, name, timeout=5):
        """python3-dkim's key lookup, asking the same loopback server."""
        from dnslib import DNSRecord
        q = DNSRecord.question(name.decode().rstrip("."), "TXT")
        a = DNSRecord.parse(q.send("127.0.0.1", self.dns.port, timeout=3))
        txt = [b"".join(rr.rdata.data) for rr in a.rr if rr.rtype == 16]
        return txt[0] if txt else None

    def test_tampered_body_and_header_fail(self):
        for alg in ("rsa", "ed"):
            m = self.sign(MESSAGE, alg)
            body = m.replace(b"this body is  signed.", b"this body is changed.")
            header = m.replace(b"Subject: signed by python3-dkim", b"Subject: signed by someone")
            results, docs = self.verify(m, body, header)
            self.assertEqual(results, [["pass"], ["fail"], ["fail"]], alg)
            self.assertIn("DKIM_INVALID", docs[1]["verdict"]["symbols"])
            self.assertIn("body hash", docs[1]["verdict"]["fields"]["dkim"][0]["why"])

    def test_length_tag(self):
        """l= covers what was signed: appended text passes, a change inside fails."""
        for canon in ((b"relaxed", b"relaxed"), (b"simple", b"simple")):
            with_l = self.sign(MESSAGE, "rsa", canon, length=True)
            without_l = self.sign(MESSAGE, "rsa", canon, length=False)
            appended = b"\r\n-- \r\nAppended by a mailing list.\r\n"
            results, _ = self.verify(with_l + appended, without_l + appended,
                                     with_l.replace(b"Hello", b"Howdy"))
            self.assertEqual(results, [["pass"], ["fail"], ["fail"]], canon)

    def test_two_signatures_and_key_problems(self):
        both = self.sign(self.sign(MESSAGE, "rsa"), "ed")
        nokey = self.sign(MESSAGE, "rsa", selector="missing")
        slow = self.sign(MESSAGE, "rsa", selector="slow")
        results, docs = self.verify(both, nokey, slow)
        self.assertEqual(results, [["pass", "pass"], ["permerror"], ["temperror"]])
        self.assertIn("DKIM_PERMERROR", docs[1]["verdict"]["symbols"])
        self.assertIn("DKIM_TEMPERROR", docs[2]["verdict"]["symbols"])

    def test_corpus_agrees_with_python3_dkim(self):
        if not os.path.isdir(os.path.join(CORPUS, "dkim")):
            self.skipTest("no DKIM corpus at %s (set SLUICE_CORPUS)" % CORPUS)
        r = subprocess.run(["/usr/bin/python3", os.path.join(SOURCE, "tests", "dkim", "compare.py")],
                           capture_output=True, text=True, timeout=1200,
                           env=dict(os.environ, SLUICE_BIN=BIN, SLUICE_SOURCE=SOURCE))
        print(r.stdout.splitlines()[-1] if r.stdout else r.stderr[-500:])
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-1000:])


if __name__ == "__main__":
    main()
