#!/usr/bin/python3
"""tests/e2e/test_headers.py - the headers stage in the real pipeline: SPF, DKIM, DMARC, sanity.

`sluice start` runs the broker and sluice-stage-headers (its options: map,
dns.forward at the loopback DNS server); messages go in through the client
protocol with the client address, HELO and sender of each case, and the final
envelope's headers verdict is checked: DMARC p=reject, p=quarantine and p=none
domains with aligned and unaligned SPF and DKIM (relaxed alignment, sp=, pct=),
the dmarc_action field the action stage applies, Authentication-Results, and
the header sanity symbols.
"""
import base64
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, CORPUS, SOURCE, Client, Gateway, envelope, main  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "dkim"))
from dnsdata import rsa_key, txt_line as txt  # noqa: E402
try:
    import dkim
    from dnsserver import DnsServer
except ImportError as e:
    dkim = None
    IMPORT_ERROR = str(e)

GOOD_IP = "192.0.2.10"      # in every test domain's SPF record
BAD_IP = "198.51.100.7"     # in none
PSL = os.path.join(CORPUS, "publicsuffix", "public_suffix_list.dat")
if not os.path.exists(PSL):
    PSL = "/usr/share/publicsuffix/public_suffix_list.dat"

CONFIG = """
dns:
  forward: ["%(forward)s"]
  timeout: 2s
stages:
  - name: headers
    command: sluice-stage-headers
    timeout: 20s
    options:
      hostname: mx.sluice.example
      protected_domains: [corp.example]
      date_future: 1d
      psl_file: %(psl)s
      scores:
        SPF_FAIL: 2.5
  - name: action
    command: sluice-stage-action
graphs:
  default:
    content: [headers, action]
"""


def zone(dkim_public):
    spf = "v=spf1 ip4:%s -all" % GOOD_IP
    lines = [txt(d, spf) for d in ("reject.example", "mail.reject.example", "quarantine.example",
                                   "none.example", "pct.example", "other.example",
                                   "sub.org.example", "nodmarc.example", "corp.example")]
    lines += [
        txt("_dmarc.reject.example", "v=DMARC1; p=reject; rua=mailto:d@reject.example"),
        txt("_dmarc.quarantine.example", "v=DMARC1; p=quarantine"),
        txt("_dmarc.none.example", "v=DMARC1; p=none"),
        txt("_dmarc.pct.example", "v=DMARC1; p=reject; pct=0"),
        txt("_dmarc.org.example", "v=DMARC1; p=none; sp=reject"),
        txt("_dmarc.corp.example", "v=DMARC1; p=reject"),
        txt("sel._domainkey.reject.example", "v=DKIM1; k=rsa; p=" + dkim_public),
    ]
    return "\n".join(lines) + "\n"


def message(from_hdr, subject="test", date=None):
    date = date or time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    return ("From: %s\r\nTo: <bob@example.com>\r\nSubject: %s\r\nDate: %s\r\n"
            "Message-ID: <%d@sluice.example>\r\n\r\nHello.\r\n"
            % (from_hdr, subject, date, time.time_ns())).encode()


class HeadersPipelineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if dkim is None:
            raise unittest.SkipTest("missing %s (python3-dkim, python3-dnslib)" % IMPORT_ERROR)
        if not os.path.exists(os.path.join(BIN, "sluice-stage-headers")):
            raise unittest.SkipTest("sluice-stage-headers not built")
        tmp = tempfile.mkdtemp(prefix="sluice-headers-key-")
        cls.key, der = rsa_key(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        cls.dns = DnsServer(zone(base64.b64encode(der).decode())).start()
        cls.gw = Gateway(CONFIG % {"forward": cls.dns.forward, "psl": PSL}, name="headers")
        try:
            cls.gw.start({"headers": 1, "action": 1}, timeout=30)
        except Exception:
            cls.gw.cleanup()
            cls.dns.stop()
            raise
        cls.client = Client(cls.gw.front)

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        cls.gw.cleanup()
        cls.dns.stop()

    def scan(self, body, ip=GOOD_IP, mail_from="a@reject.example", helo="mx.reject.example",
             auth=None):
        env = envelope("H%d" % time.time_ns(), mail_from=mail_from)
        env["client"].update(ip=ip, helo=helo)
        if auth:
            env["client"]["auth_user"] = auth
        self.client.submit(env, body)
        got = self.client.recv(timeout_ms=30000)
        self.assertIsNotNone(got, "no result in 30s\n" + self.gw.tail())
        _, status, doc = got
        self.assertEqual(status, "ok", doc)
        self.last = doc
        v = doc["verdicts"]["headers"]
        self.assertNotIn("error", v, self.gw.tail())
        return v

    def sign(self, body, domain=b"reject.example"):
        return dkim.sign(body, b"sel", domain, self.key,
                         include_headers=[b"from", b"to", b"subject", b"date"]) + body

    def assertDmarc(self, v, result, policy, action):
        d = v["fields"]["dmarc"]
        self.assertEqual((d["result"], d["policy"]), (result, policy), d)
        self.assertEqual(v["fields"].get("dmarc_action"), action, v["fields"])

    def test_reject_policy(self):
        # aligned SPF pass
        v = self.scan(message("Alice <alice@reject.example>"))
        self.assertDmarc(v, "pass", "reject", None)
        self.assertIn("SPF_PASS", v["symbols"])
        self.assertIn("DMARC_PASS", v["symbols"])
        # SPF fail, no DKIM: reject
        v = self.scan(message("<alice@reject.example>"), ip=BAD_IP)
        self.assertDmarc(v, "fail", "reject", "reject")
        self.assertEqual(v["symbols"]["SPF_FAIL"]["score"], 2.5)  # options: scores:
        self.assertEqual(v["symbols"]["DMARC_POLICY_REJECT"]["score"], 5.0)
        # SPF fail but an aligned DKIM pass
        v = self.scan(self.sign(message("<alice@reject.example>")), ip=BAD_IP)
        self.assertDmarc(v, "pass", "reject", None)
        self.assertEqual([s["result"] for s in v["fields"]["dkim"]], ["pass"])
        # SPF pass for another domain: not aligned
        v = self.scan(message("<alice@reject.example>"), mail_from="b@other.example")
        self.assertEqual(v["fields"]["spf"]["result"], "pass")
        self.assertDmarc(v, "fail", "reject", "reject")
        # DKIM pass for another domain: not aligned
        v = self.scan(self.sign(message("<alice@other.example>")), ip=BAD_IP,
                      mail_from="a@other.example")
        self.assertEqual(v["fields"]["dmarc"]["domain"], "other.example")
        self.assertEqual(v["fields"]["dmarc"]["result"], "none")  # other.example has no record

    def test_relaxed_alignment_and_subdomain_policy(self):
        v = self.scan(message("<alice@reject.example>"), mail_from="bounce@mail.reject.example")
        self.assertDmarc(v, "pass", "reject", None)
        self.assertEqual(v["fields"]["spf"]["domain"], "mail.reject.example")
        v = self.scan(message("<alice@sub.org.example>"), ip=BAD_IP,
                      mail_from="a@sub.org.example")
        self.assertDmarc(v, "fail", "reject", "reject")  # sp=reject of org.example

    def test_quarantine_none_pct(self):
        v = self.scan(message("<q@quarantine.example>"), ip=BAD_IP, mail_from="q@quarantine.example")
        self.assertDmarc(v, "fail", "quarantine", "quarantine")
        self.assertIn("DMARC_POLICY_QUARANTINE", v["symbols"])
        v = self.scan(message("<n@none.example>"), ip=BAD_IP, mail_from="n@none.example")
        self.assertDmarc(v, "fail", "none", None)
        self.assertIn("DMARC_POLICY_NONE", v["symbols"])
        v = self.scan(message("<n@none.example>"), mail_from="n@none.example")
        self.assertDmarc(v, "pass", "none", None)
        # pct=0: not sampled, so the next-least-strict policy applies (RFC 7489 6.6.4)
        v = self.scan(message("<p@pct.example>"), ip=BAD_IP, mail_from="p@pct.example")
        self.assertDmarc(v, "fail", "reject", "quarantine")
        self.assertEqual(v["fields"]["dmarc"]["pct"], 0)
        v = self.scan(message("<x@nodmarc.example>"), ip=BAD_IP, mail_from="x@nodmarc.example")
        self.assertDmarc(v, "none", "", None)
        self.assertIn("DMARC_NONE", v["symbols"])

    def test_action_stage_applies_dmarc(self):
        # After the queue a DMARC reject can only be held: quarantine, not delivery.
        self.scan(message("<alice@reject.example>"), ip=BAD_IP)
        self.assertEqual(self.last["actions"], ["quarantine"], self.last)
        self.scan(message("<q@quarantine.example>"), ip=BAD_IP, mail_from="q@quarantine.example")
        self.assertEqual(self.last["actions"], ["quarantine"])
        # p=none, and an aligned pass, are delivered
        self.scan(message("<n@none.example>"), ip=BAD_IP, mail_from="n@none.example")
        self.assertIn(self.last["actions"], (["deliver"], ["tag"]))
        self.scan(message("Alice <alice@reject.example>"))
        self.assertEqual(self.last["actions"], ["deliver"])
        self.assertEqual(self.last["classification"], "clean")

    def test_outbound_or_authenticated_mail_gets_no_dmarc_action(self):
        v = self.scan(message("<alice@reject.example>"), ip=BAD_IP, auth="alice")
        self.assertDmarc(v, "fail", "reject", None)

    def test_authentication_results(self):
        v = self.scan(self.sign(message("<alice@reject.example>")), ip=BAD_IP)
        ar = v["fields"]["auth_results"]
        self.assertTrue(ar.startswith("mx.sluice.example;\r\n\t"), ar)
        for part in ("spf=fail", "smtp.mailfrom=a@reject.example", "dkim=pass",
                     "header.d=reject.example", "header.s=sel", "header.a=rsa-sha256",
                     "dmarc=pass", "header.from=reject.example", "smtp.helo=mx.reject.example"):
            self.assertIn(part, ar)
        self.assertNotIn("\n\n", ar)

    def test_header_sanity(self):
        v = self.scan(message("CEO <ceo@corp.example>"), ip=BAD_IP, mail_from="ceo@corp.example")
        self.assertIn("HEADERS_FORGED_INTERNAL", v["symbols"])
        v = self.scan(message("CEO <ceo@corp.example>"), mail_from="ceo@corp.example")
        self.assertNotIn("HEADERS_FORGED_INTERNAL", v["symbols"])  # SPF pass from our own host
        v = self.scan(message('"ceo@corp.example" <x@other.example>'), mail_from="x@other.example")
        self.assertIn("HEADERS_DISPLAY_SPOOF", v["symbols"])
        v = self.scan(message("<a@reject.example>", date="Mon, 1 Jan 2035 00:00:00 +0000"))
        self.assertIn("HEADERS_DATE_FUTURE", v["symbols"])
        v = self.scan(message("<a@reject.example>", date="Mon, 1 Jan 2001 00:00:00 +0000"))
        self.assertIn("HEADERS_DATE_PAST", v["symbols"])
        v = self.scan(b"Subject: no from\r\n\r\nbody\r\n")
        self.assertIn("HEADERS_FROM_MISSING", v["symbols"])
        self.assertIn("HEADERS_DATE_MISSING", v["symbols"])


if __name__ == "__main__":
    main()
