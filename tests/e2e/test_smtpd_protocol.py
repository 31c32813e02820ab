"""tests/e2e/test_smtpd_protocol.py - the ESMTP dialogue of sluice-smtpd, alone.

Real clients over TCP (swaks, smtplib) and a byte-exact raw client for the
hostile cases: open relay, unknown users, too many recipients, oversized
mail, over-long and bare-LF lines, the SMTP smuggling payloads, early
talkers, timeouts, per-IP limits, too many errors, BDAT, SMTPUTF8, 8BITMIME,
PIPELINING and STARTTLS. Each refusal is checked for its documented reply
(smtpd/README.md) and its log line. No broker runs: accepted mail must sit
in the spool.
"""
import os
import shutil
import smtplib
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import main  # noqa: E402
from smtpd_e2e import BIN, Raw, Smtpd, read_spool, require, selfsigned, wait_for  # noqa: E402

require("sluice-smtpd")


class Protocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Smtpd("""
max_recipients: 3
max_message_size: 20k
max_errors: 6
mailboxes:
  example.org: [alice]
tls_cert: $CERT
tls_key: $KEY
""", name="proto")
        cert, key = selfsigned(os.path.join(cls.d.dir, "tls"))
        with open(cls.d.config) as f:
            text = f.read().replace("$CERT", cert).replace("$KEY", key)
        with open(cls.d.config, "w") as f:
            f.write(text)
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.cleanup()

    def session(self):
        r = Raw(self.d.port)
        self.assertTrue(r.greeting.startswith("220 mx.test"), r.greeting)
        ehlo = r.cmd("EHLO client.test")
        return r, ehlo

    def queued(self, reply):
        self.assertTrue(reply.startswith("250 2.0.0 Ok: queued as "), reply)
        qid = reply.split()[-1]
        self.assertIn(qid, self.d.entries())
        return qid

    def test_ehlo_keywords(self):
        r, ehlo = self.session()
        for kw in ("PIPELINING", "SIZE 20480", "8BITMIME", "ENHANCEDSTATUSCODES", "STARTTLS",
                   "SMTPUTF8", "CHUNKING"):
            self.assertIn(kw, ehlo)
        self.assertEqual(r.cmd("HELO client.test"), "250 mx.test")
        self.assertTrue(r.cmd("VRFY alice").startswith("252 2.5.0"))
        self.assertTrue(r.cmd("EXPN list").startswith("502 5.5.1"))
        self.assertTrue(r.cmd("HELP").startswith("214 2.0.0"))
        self.assertEqual(r.cmd("NOOP"), "250 2.0.0 Ok")
        self.assertEqual(r.cmd("RSET"), "250 2.0.0 Ok")
        self.assertEqual(r.cmd("QUIT"), "221 2.0.0 Bye")
        self.assertTrue(r.closed())

    def test_sequence_errors(self):
        r = Raw(self.d.port)
        self.assertTrue(r.cmd("MAIL FROM:<a@b.test>").startswith("503 5.5.1"))
        r.cmd("EHLO client.test")
        self.assertTrue(r.cmd("RCPT TO:<a@example.com>").startswith("503 5.5.1"))
        self.assertTrue(r.cmd("DATA").startswith("503 5.5.1"))
        self.assertEqual(r.cmd("MAIL FROM:<a@b.test>"), "250 2.1.0 Ok")
        self.assertTrue(r.cmd("MAIL FROM:<a@b.test>").startswith("503 5.5.1 Error: nested"))
        self.assertTrue(r.cmd("DATA").startswith("554 5.5.1 Error: no valid recipients"))
        r.close()

    def test_plain_message_and_received_header(self):
        r, _ = self.session()
        r.cmd("MAIL FROM:<sender@b.test>")
        r.cmd("RCPT TO:<bob@example.com>")
        self.assertTrue(r.cmd("DATA").startswith("354"))
        r.send(b"Subject: hi\r\n\r\n..leading dot\r\nbody\r\n.\r\n")
        qid = self.queued(r.reply())
        env, body = read_spool(os.path.join(self.d.spool, qid))
        self.assertEqual(env["id"], qid)
        self.assertEqual(env["mail_from"], "sender@b.test")
        self.assertEqual(env["rcpts"], ["bob@example.com"])
        self.assertEqual(env["size"], len(body))
        self.assertTrue(body.startswith(b"Received: from client.test ([127.0.0.1])\r\n"
                                        b"\tby mx.test (Sluice) with ESMTP id " + qid.encode()),
                        body[:200])
        self.assertIn(b"\tfor <bob@example.com>; ", body)
        self.assertTrue(body.endswith(b"\r\n\r\n.leading dot\r\nbody\r\n"), body)
        self.assertTrue(self.d.wait_log(qid + ": queued client=127.0.0.1"))

    def test_open_relay_refused(self):
        r, _ = self.session()
        r.cmd("MAIL FROM:<spammer@b.test>")
        self.assertEqual(r.cmd("RCPT TO:<victim@elsewhere.test>"), "550 5.7.1 Relay access denied")
        self.assertEqual(r.cmd("RCPT TO:<x@sub.example.com>"), "550 5.7.1 Relay access denied")
        self.assertEqual(r.cmd("RCPT TO:<x@[192.0.2.1]>"), "550 5.7.1 Relay access denied")
        self.assertTrue(r.cmd("RCPT TO:<a%b@example.com>").startswith("250"))  # local part only
        self.assertTrue(self.d.wait_log('cmd=RCPT reply="550" reason="relay access denied" '
                                        'arg="TO:<victim@elsewhere.test>"'))

    def test_unknown_user(self):
        r, _ = self.session()
        r.cmd("MAIL FROM:<a@b.test>")
        self.assertEqual(r.cmd("RCPT TO:<carol@example.org>"),
                         "550 5.1.1 Recipient address rejected: user unknown")
        self.assertEqual(r.cmd("RCPT TO:<Alice@Example.ORG>"), "250 2.1.5 Ok")
        self.assertEqual(r.cmd("RCPT TO:<postmaster@example.org>"), "250 2.1.5 Ok")
        self.assertTrue(self.d.wait_log('reason="unknown user" arg="TO:<carol@example.org>"'))

    def test_too_many_recipients(self):
        r, _ = self.session()
        r.cmd("MAIL FROM:<a@b.test>")
        for i in range(3):
            self.assertEqual(r.cmd("RCPT TO:<u%d@example.com>" % i), "250 2.1.5 Ok")
        self.assertEqual(r.cmd("RCPT TO:<u9@example.com>"), "452 4.5.3 Error: too many recipients")
        self.assertTrue(self.d.wait_log('reason="too many recipients"'))

    def test_oversized(self):
        r, _ = self.session()
        self.assertEqual(r.cmd("MAIL FROM:<a@b.test> SIZE=30000"),
                         "552 5.3.4 Message size exceeds fixed limit")
        self.assertTrue(self.d.wait_log("declared=30000 limit=20480 classification=oversized"))
        r.cmd("MAIL FROM:<a@b.test> SIZE=100")
        r.cmd("RCPT TO:<bob@example.com>")
        r.cmd("DATA")
        before = self.d.entries()
        r.send(b"Subject: big\r\n\r\n" + (b"x" * 70 + b"\r\n") * 400 + b".\r\n")
        self.assertEqual(r.reply(), "552 5.3.4 Message size exceeds fixed limit")
        self.assertEqual(self.d.entries(), before)
        self.assertTrue(self.d.wait_log("limit=20480 classification=oversized"))
        self.assertEqual(r.cmd("NOOP"), "250 2.0.0 Ok")

    def test_long_and_bare_lf_lines(self):
        r, _ = self.session()
        r.send(b"NOOP " + b"x" * 600 + b"\r\n")
        self.assertEqual(r.reply(), "500 5.5.2 Error: line too long")
        r.send(b"NOOP\n")
        self.assertEqual(r.reply(), "500 5.5.2 Error: bare <LF> received; commands end in <CR><LF>")
        self.assertEqual(r.cmd("NOOP"), "250 2.0.0 Ok")
        r.cmd("MAIL FROM:<a@b.test>")
        r.cmd("RCPT TO:<bob@example.com>")
        r.cmd("DATA")
        r.send(b"Subject: long\r\n\r\n" + b"y" * 1200 + b"\r\n.\r\n")
        self.assertEqual(r.reply(), "550 5.6.0 Message line too long (RFC 5321 4.5.3.1.6)")
        self.assertTrue(self.d.wait_log('reason="command line too long"'))
        self.assertTrue(self.d.wait_log('reason="text line too long"'))

    def smuggle(self, payload, reply):
        r, _ = self.session()
        r.cmd("MAIL FROM:<a@b.test>")
        r.cmd("RCPT TO:<bob@example.com>")
        self.assertTrue(r.cmd("DATA").startswith("354"))
        before = self.d.entries()
        r.send(b"Subject: smuggle\r\n\r\nhello\r\n" + payload +
               b"MAIL FROM:<admin@example.com>\r\nRCPT TO:<victim@example.com>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
        # One reply for the whole thing: the smuggled commands were content.
        self.assertEqual(r.reply(), reply)
        self.assertEqual(r.cmd("NOOP"), "250 2.0.0 Ok")
        self.assertEqual(self.d.entries(), before)
        self.assertNotIn("from=<admin@example.com>", self.d.log())

    def test_smuggling_lf_dot_lf(self):
        self.smuggle(b"\n.\n", "550 5.6.0 Bare <LF> received; lines must end in <CR><LF>")
        self.assertTrue(self.d.wait_log('reason="bare LF in content"'))

    def test_smuggling_cr_dot_cr(self):
        self.smuggle(b"\r.\r", "550 5.6.0 Bare <CR> received; lines must end in <CR><LF>")
        self.assertTrue(self.d.wait_log('reason="bare CR in content"'))

    def test_smuggling_crlf_dot_lf(self):
        self.smuggle(b"\r\n.\n", "550 5.6.0 Bare <LF> received; lines must end in <CR><LF>")

    def test_smuggling_lf_dot_crlf(self):
        self.smuggle(b"\n.\r\n", "550 5.6.0 Bare <LF> received; lines must end in <CR><LF>")

    def test_too_many_errors(self):
        r, _ = self.session()
        for _ in range(5):
            self.assertTrue(r.cmd("BOGUS").startswith("500 5.5.2"))
        self.assertEqual(r.cmd("BOGUS"), "500 5.5.2 Syntax error, command unrecognized")
        self.assertEqual(r.reply(), "421 4.7.0 mx.test Error: too many errors")
        self.assertTrue(r.closed())
        self.assertTrue(self.d.wait_log('reason="too many errors" errors=6'))

    def test_http_client(self):
        r = Raw(self.d.port)
        self.assertEqual(r.cmd("GET / HTTP/1.0"), "421 4.7.0 mx.test Error: this is an SMTP server")
        self.assertTrue(r.closed())
        self.assertTrue(self.d.wait_log('cmd=HTTP reply="421" reason="HTTP command"'))

    def test_bdat(self):
        r, _ = self.session()
        # no transaction: the chunk is read (never taken as commands), then 503
        r.send(b"BDAT 12\r\nNOOP\r\nNOOP\r\n")
        self.assertEqual(r.reply(), "503 5.5.1 Error: no valid transaction for BDAT")
        self.assertEqual(r.cmd("NOOP"), "250 2.0.0 Ok")
        # pipelined: MAIL, RCPT and two chunks in one write
        r.send(b"MAIL FROM:<a@b.test> BODY=8BITMIME\r\nRCPT TO:<bob@example.com>\r\n"
               b"BDAT 22\r\nSubject: chunk\r\n\r\n.x\r\nBDAT 7 LAST\r\nend\r\n\r\n")
        self.assertEqual(r.reply(), "250 2.1.0 Ok")
        self.assertEqual(r.reply(), "250 2.1.5 Ok")
        self.assertEqual(r.reply(), "250 2.0.0 22 octets received")
        qid = self.queued(r.reply())
        _, body = read_spool(os.path.join(self.d.spool, qid))
        self.assertTrue(body.endswith(b"\r\nSubject: chunk\r\n\r\n.x\r\nend\r\n\r\n"), body)
        self.assertTrue(r.cmd("DATA").startswith("503"))  # no transaction any more
        # a bad BDAT size cannot be resynchronised: reply and close
        self.assertEqual(r.cmd("BDAT x"), "501 5.5.4 Syntax: BDAT size [LAST]")
        self.assertTrue(r.closed())

    def test_bdat_bare_lf_refused(self):
        r, _ = self.session()
        r.cmd("MAIL FROM:<a@b.test>")
        r.cmd("RCPT TO:<bob@example.com>")
        r.send(b"BDAT 7 LAST\r\na\n.\nb\r\n")
        self.assertEqual(r.reply(), "550 5.6.0 Bare <LF> received; lines must end in <CR><LF>")

    def test_pipelining(self):
        r, _ = self.session()
        r.send(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<u1@example.com>\r\nRCPT TO:<x@evil.test>\r\n"
               b"RCPT TO:<u2@example.com>\r\nDATA\r\n")
        self.assertEqual([r.reply() for _ in range(5)],
                         ["250 2.1.0 Ok", "250 2.1.5 Ok", "550 5.7.1 Relay access denied",
                          "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"])
        r.send(b"Subject: p\r\n\r\nx\r\n.\r\nQUIT\r\n")
        qid = self.queued(r.reply())
        self.assertEqual(r.reply(), "221 2.0.0 Bye")
        env, _ = read_spool(os.path.join(self.d.spool, qid))
        self.assertEqual(env["rcpts"], ["u1@example.com", "u2@example.com"])

    def test_swaks_pipelining(self):
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.d.port, "--pipeline",
                              "--to", "bob@example.com,alice@example.org", "--from", "s@b.test",
                              "--ehlo", "swaks.test"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("250 2.0.0 Ok: queued as", out.stdout)

    def test_swaks_starttls(self):
        out = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % self.d.port, "--tls",
                              "--to", "bob@example.com", "--from", "s@b.test"],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("TLS started with cipher TLSv1.", out.stdout)
        qid = [l.split()[-1] for l in out.stdout.splitlines() if "queued as" in l][0]
        env, body = read_spool(os.path.join(self.d.spool, qid))
        self.assertTrue(env["client"]["tls_version"].startswith("TLSv1."), env)
        self.assertTrue(env["client"]["tls_cipher"], env)
        self.assertIn(b"\t(using %s with cipher %s)\r\n\tby mx.test (Sluice) with ESMTPS id "
                      % (env["client"]["tls_version"].encode(), env["client"]["tls_cipher"].encode()),
                      body)

    def test_starttls_refuses_old_tls(self):
        out = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.d.port,
                              "-starttls", "smtp", "-tls1_1"], input="", capture_output=True,
                             text=True, timeout=60)
        self.assertNotEqual(out.returncode, 0, out.stdout)

    def test_starttls_injection_discarded(self):
        r, _ = self.session()
        r.send(b"STARTTLS\r\nRSET\r\n")
        self.assertEqual(r.reply(), "220 2.0.0 Ready to start TLS")
        self.assertTrue(self.d.wait_log('discarded=6 reason="data after STARTTLS"'))
        r.close()

    def test_smtplib_smtputf8_and_8bitmime(self):
        with smtplib.SMTP("127.0.0.1", self.d.port, timeout=30) as s:
            s.ehlo("smtplib.test")
            msg = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode()
            refused = s.sendmail("j\u00f6rg@b.test", ["bob@example.com"], msg,
                                 mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            self.assertEqual(refused, {})
            with self.assertRaises(smtplib.SMTPSenderRefused) as cm:
                s.sendmail("j\u00f6rg@b.test".encode().decode("latin1"), ["bob@example.com"], b"x")
            self.assertEqual(cm.exception.smtp_code, 553)
        found = [e for e in self.d.entries()
                 if read_spool(os.path.join(self.d.spool, e))[0].get("mail_from") == "j\u00f6rg@b.test"]
        self.assertEqual(len(found), 1)
        _, body = read_spool(os.path.join(self.d.spool, found[0]))
        self.assertIn("d\u00e9j\u00e0 vu".encode(), body)
        self.assertIn(b"with UTF8SMTP id", body)

    def test_smtplib_many_messages_one_session(self):
        before = len(self.d.entries())
        with smtplib.SMTP("127.0.0.1", self.d.port, timeout=30) as s:
            for i in range(20):
                s.sendmail("a@b.test", ["bob@example.com"], b"Subject: %d\r\n\r\nx\r\n" % i)
        self.assertEqual(len(self.d.entries()), before + 20)


class Timing(unittest.TestCase):
    """Early talkers, timeouts and per-IP limits, each on its own smtpd."""

    def run_smtpd(self, yaml):
        d = Smtpd(yaml, name="timing")
        self.addCleanup(d.cleanup)
        return d.start()

    def test_early_talker(self):
        d = self.run_smtpd("greeting_delay: 500ms")
        r = Raw(d.port, greet=False)
        r.send(b"EHLO eager.test\r\n")
        self.assertEqual(r.reply(),
                         "554 5.5.1 Error: SMTP protocol violation: data sent before greeting")
        self.assertTrue(r.closed())
        self.assertTrue(d.wait_log('cmd=PREGREET reply="554" reason="data before greeting" '
                                   'arg="EHLO eager.test??"'))
        patient = Raw(d.port)  # waits for the greeting: served
        self.assertTrue(patient.greeting.startswith("220 "))

    def test_idle_and_data_timeouts(self):
        d = self.run_smtpd("idle_timeout: 1s\ndata_timeout: 1s")
        r = Raw(d.port)
        t0 = time.monotonic()
        self.assertEqual(r.reply(), "421 4.4.2 mx.test Error: timeout exceeded")
        self.assertTrue(0.8 < time.monotonic() - t0 < 5)
        self.assertTrue(r.closed())
        r = Raw(d.port)
        r.begin_data(helo="slow.test")
        r.send(b"Subject: slow\r\n")
        self.assertEqual(r.reply(), "421 4.4.2 mx.test Error: timeout exceeded")
        self.assertTrue(d.wait_log("timeout client=127.0.0.1 during=command"))
        self.assertTrue(d.wait_log("timeout client=127.0.0.1 during=DATA"))
        self.assertEqual(d.entries(), [])

    def test_per_ip_concurrency(self):
        d = self.run_smtpd("per_ip_connections: 2")
        a, b = Raw(d.port), Raw(d.port)
        c = Raw(d.port, greet=False)
        self.assertEqual(c.reply(), "421 4.7.0 mx.test Error: too many connections from your address")
        self.assertTrue(c.closed())
        self.assertTrue(d.wait_log('reason="too many connections from your address"'))
        a.cmd("QUIT")
        self.assertTrue(a.closed())
        wait_for(lambda: "commands=1 errors=0" in d.log(), 5)
        e = Raw(d.port)  # a slot is free again
        self.assertTrue(e.greeting.startswith("220 "))
        b.close()

    def test_per_ip_rate(self):
        d = self.run_smtpd("per_ip_rate: 3")
        for _ in range(3):
            r = Raw(d.port)
            r.cmd("QUIT")
        r = Raw(d.port, greet=False)
        self.assertEqual(r.reply(),
                         "421 4.7.0 mx.test Error: too many connections per minute from your address")
        self.assertTrue(d.wait_log('reason="too many connections per minute from your address"'))

    def test_sigterm_with_open_sessions(self):
        d = self.run_smtpd("idle_timeout: 1m")
        a = Raw(d.port)
        a.begin_data()
        a.send(b"Subject: half\r\n")
        b = Raw(d.port, greet=False)
        self.assertTrue(wait_for(lambda: d.log().count("connect client=127.0.0.1") == 2, 5))
        d.stop()  # in the ASan build a leaked session fails here
        self.assertEqual(d.proc.returncode, 0)
        self.assertIn("stop signal=15 connections=2", d.log())
        self.assertEqual(d.entries(), [])
        a.close()
        b.close()

    def test_config_errors(self):
        d = Smtpd("max_recipent: 5\nper_ip_rate: lots", name="badcfg")
        self.addCleanup(d.cleanup)
        out = subprocess.run([os.path.join(BIN, "sluice-smtpd"), "-c", d.config, "--check"],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2)
        self.assertIn("max_recipent", out.stderr)
        self.assertIn("per_ip_rate", out.stderr)


if __name__ == "__main__":
    main()
