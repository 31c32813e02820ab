#!/usr/bin/python3
"""tests/e2e/test_rbl_smtp.py - swaks gets 554 at connect from a listed client.

The whole gateway (sluice start: smtpd, broker, sluice-stage-rbl) on
loopback, the lists served by tests/dns/dnsserver.py. Loopback is all of
127.0.0.0/8, so swaks connects from 127.0.0.7 (listed on two lists whose
weights cross the threshold), 127.0.0.8 (listed on one, under the threshold)
and 127.0.0.9 (not listed). The timeouts are generous: a slow lookup on a
loaded machine (the ASan build) must not pass for "not listed". Skipped (exit 77) while sluice-smtpd is not built
or does not yet turn the rbl verdict's smtp_code/smtp_reply into its reply.
"""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, SOURCE, Gateway, main  # noqa: E402
from smtpd_e2e import free_port, port_open, wait_for  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from dnsserver import DnsServer  # noqa: E402

ZONE = """
7.0.0.127.zen.example      A 127.0.0.2
7.0.0.127.extra.example    A 127.0.0.2
8.0.0.127.zen.example      A 127.0.0.2
"""

CONFIG = """
dns:
  forward: ["%(forward)s"]
stages:
  - name: rbl
    command: [sluice-stage-rbl]
    timeout: 10s
    options:
      threshold: 5
      timeout: 5s
      lists:
        - {zone: zen.example, weight: 3}
        - {zone: extra.example, weight: 3}
  - name: example
    command: [sluice-stage-example]
graphs:
  default:
    connect: [rbl]
    content: [example]
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.example
  relay_domains: [example.com]
  phase_timeout: 15s
"""


def setUpModule():
    smtpd = os.path.join(BIN, "sluice-smtpd")
    if not os.path.exists(smtpd) or not os.path.exists(os.path.join(BIN, "sluice-stage-rbl")):
        raise unittest.SkipTest("sluice-smtpd or sluice-stage-rbl not built")
    with open(smtpd, "rb") as f:
        code = f.read()
    if b"smtp_reply" not in code and b"smtp_code" not in code:
        raise unittest.SkipTest("sluice-smtpd does not honour smtp_code/smtp_reply yet")
    if shutil.which("swaks") is None:
        raise unittest.SkipTest("swaks not installed")


def swaks(port, source):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(port),
                        "--local-interface", source, "--quit-after", "CONNECT",
                        "--timeout", "10"], capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


class RblSmtp(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONE).start()
        cls.port = free_port()
        cls.gw = Gateway(CONFIG % {"forward": cls.dns.forward, "port": cls.port}, name="rblsmtp")
        try:
            cls.gw.start({"rbl": 1, "example": 1})
            if not wait_for(lambda: port_open(cls.port), 15):
                raise AssertionError(cls.gw.tail())
        except Exception:
            cls.gw.cleanup()
            cls.dns.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.dns.cleanup()

    def test_threshold_crossed_554(self):
        out = swaks(self.port, "127.0.0.7")
        self.assertIn("<** 554 5.7.1 Service unavailable; client [127.0.0.7] blocked using "
                      "zen.example, extra.example", out, out + self.gw.tail())

    def test_under_threshold_greeted(self):
        out = swaks(self.port, "127.0.0.8")
        self.assertIn("<-  220 ", out, out + self.gw.tail())
        # the reply, not the text: the port number in swaks's "Trying" line may hold 554
        self.assertNotRegex(out, r"(?m)^<\*\* 554 ")

    def test_unlisted_greeted(self):
        out = swaks(self.port, "127.0.0.9")
        self.assertIn("<-  220 ", out, out + self.gw.tail())


if __name__ == "__main__":
    main()
