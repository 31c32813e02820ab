#!/usr/bin/python3
"""tests/e2e/test_example_config.py - etc/sluice.yaml as shipped runs a working gateway.

The example config (also the embedded default and what `make run` starts) is
copied with only its paths and ports moved into a temporary folder and its
DNS pointed at a loopback test server; then real mail goes in over SMTP with
STARTTLS and must come out at the downstream server configured for
example.com, filtered: a clean message delivered with Authentication-Results,
an EICAR attachment held as a virus, a relay attempt refused; the quarantine
dashboard (sluice-quarantine, started by the shipped config) answers /healthz.
"""
import http.client
import os
import re
import smtplib
import ssl
import subprocess
import sys
import time
import unittest
from email import policy
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import SOURCE, Gateway, main, sluice  # noqa: E402
from sluice_downstream import HAVE_AIOSMTPD, Downstream, free_port  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from dnsserver import DnsServer  # noqa: E402

EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def mail(subject, attachment=None):
    m = EmailMessage()
    m["From"] = "Alice <alice@sender.example>"
    m["To"] = "bob@example.com"
    m["Subject"] = subject
    m["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
    m["Message-ID"] = "<%d@sender.example>" % time.time_ns()
    m.set_content("Hello Bob,\nthe figures are attached.\n")
    if attachment:
        m.add_attachment(attachment.encode(), maintype="application",
                         subtype="octet-stream", filename="figures.com")
    return m


@unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed")
class ExampleConfigTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer("$TTL 300\n").start()
        cls.down = Downstream().start()
        cls.smtp_port, cls.metrics_port = free_port(), free_port()
        cls.quarantine_port = free_port()
        with open(os.path.join(SOURCE, "etc", "sluice.yaml")) as f:
            text = f.read()
        moves = [
            ("/var/lib/sluice", "$DIR/data"),
            ("/run/sluice", "$DIR/run"),
            ("127.0.0.1:2525", "127.0.0.1:%d" % cls.smtp_port),
            ("smtp:[127.0.0.1]:2526", "smtp:[127.0.0.1]:%d" % cls.down.port),
            ("127.0.0.1:9710", "127.0.0.1:%d" % cls.metrics_port),
            ("127.0.0.1:9720", "127.0.0.1:%d" % cls.quarantine_port),
            ("forward: []", "forward: [\"127.0.0.1@%d\"]" % cls.dns.port),
            ("user: sluice", "user: root"),
            ("archive: no", "archive: yes"),
        ]
        for old, new in moves:
            assert old in text, "etc/sluice.yaml no longer has %r" % old
            text = text.replace(old, new)
        cls.gw = Gateway(text, name="example", full=True)
        subprocess.run(["sh", os.path.join(SOURCE, "scripts", "selfsigned.sh"),
                        cls.gw.path("data/tls"), "mx.example.com"], check=True,
                       capture_output=True, timeout=60)
        names = ("rbl", "greylist", "mime", "av-a", "av-b", "url", "headers", "score", "action")
        try:
            cls.gw.start({n: 1 for n in names}, timeout=90)
        except Exception:
            cls.gw.cleanup()
            cls.down.stop()
            cls.dns.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.down.stop()
        cls.dns.stop()

    def smtp(self):
        deadline = time.monotonic() + 30
        while True:
            try:
                s = smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        s.ehlo("client.sender.example")
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo("client.sender.example")
        return s

    def test_clean_mail_is_delivered_and_virus_is_held(self):
        before = len(self.down.snapshot())
        s = self.smtp()
        clean = mail("figures")
        code, text = s.sendmail("alice@sender.example", ["bob@example.com"],
                                clean.as_bytes(policy=policy.SMTP)), None
        self.assertEqual(code, {})
        s.sendmail("alice@sender.example", ["bob@example.com"], mail("virus", EICAR).as_bytes(policy=policy.SMTP))
        s.quit()
        got = self.down.wait(before + 1, timeout=60)
        self.assertEqual(len(got), before + 1, self.gw.tail())
        mail_from, rcpts, data = got[-1]
        self.assertEqual(rcpts, ["bob@example.com"])
        self.assertIn(b"Authentication-Results: mx.example.com;", data)
        self.assertRegex(data, rb"Received: from client\.sender\.example \(\[127\.0\.0\.1\]\)\r\n"
                               rb"\t\(using TLSv1\.[23] with cipher \S+\)\r\n\tby mx\.example\.com ")
        self.assertIn(b"Hello Bob,", data)
        self.assertIn(b"Subject: figures", data)
        # The virus never reaches the downstream; the message log says why.
        deadline = time.monotonic() + 60
        out = ""
        while time.monotonic() < deadline:
            out = sluice("log", "-c", self.gw.config, "--classification", "virus").stdout
            if "virus" in out:
                break
            time.sleep(0.5)
        self.assertIn("virus", out, self.gw.tail())
        time.sleep(1)
        self.assertEqual(len(self.down.snapshot()), before + 1)
        self.assertFalse(any(b"EICAR" in m[2] for m in self.down.snapshot()))

    def test_replay_dry_run_delivers_nothing(self):
        before = len(self.down.snapshot())
        s = self.smtp()
        m = mail("replay me")
        s.sendmail("alice@sender.example", ["bob@example.com"], m.as_bytes(policy=policy.SMTP))
        s.quit()
        got = self.down.wait(before + 1, timeout=60)
        self.assertEqual(len(got), before + 1, self.gw.tail())
        qid = re.search(rb"with ESMTPS id (\w+)", got[-1][2]).group(1).decode()
        deadline = time.monotonic() + 30  # archived once the action stage reported
        while time.monotonic() < deadline:
            r = sluice("replay", "-c", self.gw.config, "--id", qid, "--dry-run", timeout=60)
            if r.returncode == 0 and qid in r.stdout:
                break
            time.sleep(0.5)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("dry_run=yes", r.stdout)
        self.assertRegex(r.stdout, r"%s from=archive old: class=clean score=\S+ new: "
                                   r"class=clean score=\S+ unchanged" % qid)
        # The action stage decided without handing over (dedup by queue id alone
        # would also keep the downstream quiet, so look at what it said).
        self.assertRegex(self.gw.tail(400), r"%s: dry-run action rcpt=bob@example.com .*"
                                            r"action=deliver dest=-" % qid)
        time.sleep(2)
        self.assertEqual(len(self.down.snapshot()), before + 1)  # the dry run delivered nothing

    def test_relay_attempt_is_refused(self):
        s = self.smtp()
        s.mail("alice@sender.example")
        code, text = s.rcpt("victim@elsewhere.example")
        s.quit()
        self.assertEqual(code, 550)
        self.assertRegex(text.decode(), r"5\.7\.1")

    def test_status_and_metrics(self):
        r = sluice("status", "-c", self.gw.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        # Every lane of every process alive: a capacity-N process is N workers
        # (the shipped config: rbl 1 x 8, greylist 1 x 4, the rest 1 x 1).
        lanes = {"rbl": 8, "greylist": 4}
        for name in ("rbl", "greylist", "mime", "av-a", "av-b", "url", "headers", "score",
                     "action"):
            n = lanes.get(name, 1)
            self.assertRegex(r.stdout, r"(?m)^%s\s+%d\s+%d\s" % (re.escape(name), n, n))
        # Batches: greylist's own default is 1 (it waits on DNS while smtpd
        # waits on it), mime takes the runtime's 16; neither is set in the file.
        log = self.gw.tail(3000)
        self.assertRegex(log, r"worker ready stage=greylist worker=\S+ capacity=1 batch=1 ")
        self.assertRegex(log, r"worker ready stage=mime worker=\S+ capacity=1 batch=16 ")
        # the quarantine dashboard of the shipped config, on its moved port
        deadline, status = time.monotonic() + 30, None
        while time.monotonic() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.quarantine_port, timeout=5)
                try:
                    conn.request("GET", "/healthz")
                    status = conn.getresponse().status
                finally:
                    conn.close()
                if status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        self.assertEqual(status, 200, "sluice-quarantine did not answer /healthz\n"
                         + self.gw.tail())


if __name__ == "__main__":
    main()
