#!/usr/bin/python3
"""tests/e2e/test_delivery.py - action stage, policy store and sluice-delivery, end to end.

Each test runs `sluice start` (broker, stages, the action stage and
sluice-delivery) against a real SMTP server on loopback (aiosmtpd, see
sluice_downstream.py), puts mail in with `sluice submit` or the client
protocol (or swaks through sluice-smtpd when it is built), and asserts what
the downstream received, byte for byte, and what the message log and the
queue say. Waits are bounded; processes are stopped by PID.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, Client, Gateway, envelope, main, message, sluice  # noqa: E402
from sluice_downstream import HAVE_AIOSMTPD, Downstream, free_port  # noqa: E402

FAKE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fake_stage.py")


def config(port, score_stage, extra_policy="", delivery="", extra=""):
    """A gateway: SCORE_STAGE (a stages: entry named 'score'), then action."""
    return """
stages:
%s
  - name: action
    command: [sluice-stage-action]
    on_error: tempfail
graphs:
  default:
    content: [score, action]
policy:
  defaults: {tag_score: 5, quarantine_score: 10, subject_tag: "[SPAM]"}
  domains:
    - name: example.com
      route: "smtp:[127.0.0.1]:%d"
      tls: none
%s
delivery:
  default_route: "smtp:[127.0.0.1]:%d"
  retry_min: 1s
  retry_max: 2s
  idle_timeout: 500ms
%s
%s
""" % (score_stage, port, extra_policy, port, delivery, extra)


def example_score(score):
    return """  - name: score
    command: [sluice-stage-example, --score, "%s"]""" % score


@unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed")
class DeliveryTest(unittest.TestCase):
    def setUp(self):
        if not os.access(os.path.join(BIN, "sluice-delivery"), os.X_OK):
            self.skipTest("sluice-delivery is not built")

    def downstream(self, port=None, start=True):
        ds = Downstream(port)
        if start:
            ds.start()
        self.addCleanup(ds.stop)
        return ds

    def gateway(self, body, workers=None):
        gw = Gateway(body, name=self.id().split(".")[-1])
        self.addCleanup(gw.cleanup)
        return gw.start(workers or {"score": 1, "action": 1})

    def eml(self, gw, data, name="m.eml"):
        path = gw.path(name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def submit_ok(self, gw, path, *args):
        rc, doc, err = gw.submit(path, *args)
        self.assertEqual(rc, 0, err + gw.tail())
        return doc

    def log_json(self, gw, *args):
        r = sluice("log", "-c", gw.config, "--json", *args)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def queue_json(self, gw):
        r = sluice("queue", "-c", gw.config, "list", "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)

    def wait_for(self, what, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        self.fail("timed out waiting for %s" % what)

    # --- the byte-identical rule ---

    def test_delivered_bytes_are_original_plus_added_headers(self):
        ds = self.downstream()
        ar = "mx.sluice.test; spf=pass smtp.mailfrom=example.net; dkim=none"
        gw = self.gateway(config(ds.port, """  - name: score
    command: [%s, --field, "auth_results=%s"]""" % (FAKE, ar)))
        original = message(subject="byte check", size=3000)
        # a line starting with a dot survives dot-stuffing both ways
        original = original.replace(b"Hello from", b".leading dot\r\nHello from")
        doc = self.submit_ok(gw, self.eml(gw, original), "--from", "s@example.net", "--to",
                             "a@example.com")
        self.assertEqual(doc["actions"], ["deliver"])
        self.assertEqual(doc["classification"], "clean")
        got = ds.wait(1)
        self.assertEqual(len(got), 1, gw.tail())
        mail_from, rcpts, content = got[0]
        self.assertEqual((mail_from, rcpts), ("s@example.net", ["a@example.com"]))
        self.assertEqual(content, b"Authentication-Results: " + ar.encode() + b"\r\n" + original)
        # the message log has the record; --id shows it with the verdict trail
        log = self.log_json(gw, "--id", doc["id"])
        rec = log["records"][0]
        self.assertEqual((rec["rcpt"], rec["action"], rec["classification"]),
                         ("a@example.com", "deliver", "clean"))
        self.assertEqual(rec["subject"], "byte check")
        self.assertEqual(rec["relay_ip"], "127.0.0.1")
        self.assertEqual(rec["size"], len(original))
        self.assertTrue(rec["message_id"].endswith("@e2e.example.net>"), rec)
        self.wait_for("delivery status in the log", lambda: self.log_json(
            gw, "--id", doc["id"])["records"][0]["delivery"] == "sent")
        self.assertEqual(log["trail"]["verdicts"]["score"]["version"], "fake/1.0")
        r = sluice("log", "-c", gw.config, "--id", doc["id"])
        self.assertRegex(r.stdout, r"(?m)^verdict trail:\n  score version=fake/1\.0 rules=- "
                                   r"ms=[0-9.]+ worker=\S+ attempts=\d+$")
        self.assertEqual(self.queue_json(gw), [])

    # --- policy: tag, quarantine, drop; changes apply without restart ---

    def test_high_score_tags_quarantines_drops_per_policy(self):
        ds = self.downstream()
        gw = self.gateway(config(ds.port, example_score(7)))
        original = message(subject="cheap pills")
        path = self.eml(gw, original)
        doc = self.submit_ok(gw, path, "--from", "s@example.net", "--to", "a@example.com")
        self.assertEqual((doc["actions"], doc["classification"]), (["tag"], "spam"))
        got = ds.wait(1)
        self.assertEqual(len(got), 1, gw.tail())
        want = (b"X-Sluice-Score: 7.00\r\n"
                b"X-Sluice-Status: spam score=7.00 symbols: EXAMPLE_SCORE(7.00)\r\n"
                + original.replace(b"Subject: cheap", b"Subject: [SPAM] cheap", 1))
        self.assertEqual(got[0][2], want)

        # quarantine from 6 on: the next message, no restart
        r = sluice("policy", "add", "default", "--quarantine-score", "6", "-c", gw.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.submit_ok(gw, path, "--from", "s@example.net", "--to", "a@example.com")
        self.assertEqual(doc["actions"], ["quarantine"])
        held = os.path.join(gw.dir, "data", "quarantine", "msg", doc["id"] + ".eml")
        with open(held, "rb") as f:
            self.assertEqual(f.read(), original)
        rec = self.log_json(gw, "--id", doc["id"])["records"][0]
        self.assertEqual(rec["destination"], "quarantine:" + held)

        # drop from 6.5 on
        r = sluice("policy", "add", "default", "--drop-score", "6.5", "-c", gw.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = self.submit_ok(gw, path, "--from", "s@example.net", "--to", "a@example.com")
        self.assertEqual(doc["actions"], ["drop"])
        time.sleep(1.5)
        self.assertEqual(len(ds.snapshot()), 1)  # nothing more was delivered
        spam = self.log_json(gw, "--classification", "spam")["records"]
        self.assertEqual(sorted(r["action"] for r in spam), ["drop", "quarantine", "tag"])
        self.assertEqual(self.log_json(gw, "--classification", "clean")["records"], [])

    def test_two_recipients_with_different_policies(self):
        ds = self.downstream()
        gw = self.gateway(config(ds.port, example_score(7), extra_policy="""
      mailboxes:
        - address: boss@example.com
          policy: {quarantine_score: 6}
        - address: eve@example.com
          policy: {subject_tag: "[junk]"}"""))
        original = message(subject="offer")
        doc = self.submit_ok(gw, self.eml(gw, original), "--from", "s@example.net", "--to",
                             "a@example.com", "--to", "boss@example.com", "--to",
                             "eve@example.com")
        self.assertEqual(doc["actions"], ["tag", "quarantine", "tag"])
        got = ds.wait(2)
        self.assertEqual(len(got), 2, gw.tail())
        by_rcpt = {tuple(m[1]): m[2] for m in got}
        self.assertIn(b"Subject: [SPAM] offer", by_rcpt[("a@example.com",)])
        self.assertIn(b"Subject: [junk] offer", by_rcpt[("eve@example.com",)])
        self.assertTrue(os.path.exists(os.path.join(gw.dir, "data", "quarantine", "msg",
                                                    doc["id"] + ".eml")))
        recs = {r["rcpt"]: r["action"] for r in self.log_json(gw, "--id", doc["id"])["records"]}
        self.assertEqual(recs, {"a@example.com": "tag", "boss@example.com": "quarantine",
                                "eve@example.com": "tag"})
        self.assertEqual([r["rcpt"] for r in self.log_json(
            gw, "--rcpt", "boss@example.com")["records"]], ["boss@example.com"])

    def test_virus_hint_and_allow_list(self):
        ds = self.downstream()
        gw = self.gateway(config(ds.port, """  - name: score
    command: [%s, --field, class_hint=virus, --field, virus=Eicar-Test]"""
                                 % FAKE, extra_policy="""
  allow: [friend@example.net]"""))
        path = self.eml(gw, message())
        doc = self.submit_ok(gw, path, "--from", "friend@example.net", "--to", "a@example.com")
        # the allow list never lets a virus through
        self.assertEqual((doc["classification"], doc["actions"]), ("virus", ["quarantine"]))
        rec = self.log_json(gw, "--id", doc["id"])["records"][0]
        self.assertEqual(rec["virus"], "Eicar-Test")

    # --- retries, bounces, restarts ---

    def test_451_twice_then_250_is_delivered_after_retries(self):
        ds = self.downstream()
        ds.defer_data = 2
        gw = self.gateway(config(ds.port, example_score(0)))
        original = message(subject="retry me")
        doc = self.submit_ok(gw, self.eml(gw, original), "--from", "s@example.net", "--to",
                             "a@example.com")
        queued = self.wait_for("a deferral in sluice queue", lambda: [
            q for q in self.queue_json(gw) if q["attempts"] >= 1 and "451" in q["reason"]])
        self.assertEqual(queued[0]["id"], doc["id"])
        got = ds.wait(1, timeout=30)
        self.assertEqual(len(got), 1, gw.tail())
        self.assertEqual(got[0][2], original)
        self.assertEqual(ds.deferred, 2)
        self.wait_for("empty queue", lambda: self.queue_json(gw) == [])
        # the log's delivery column is written in batches (every 200 ms)
        self.wait_for("delivery=sent in the log", lambda: self.log_json(
            gw, "--id", doc["id"])["records"][0]["delivery"] == "sent")

    def test_550_for_one_of_two_recipients_gives_one_delivery_and_one_dsn(self):
        ds = self.downstream()
        ds.fail_rcpt["b@example.com"] = "550 5.1.1 <b@example.com>: no such user"
        gw = self.gateway(config(ds.port, example_score(0)))
        original = message(subject="to two")
        doc = self.submit_ok(gw, self.eml(gw, original), "--from", "s@example.net", "--to",
                             "a@example.com", "--to", "b@example.com")
        got = ds.wait(2)
        self.assertEqual(len(got), 2, gw.tail())
        mail = [m for m in got if m[0] == "s@example.net"]
        dsn = [m for m in got if m[0] in ("", "<>")]  # aiosmtpd shows <> as it came
        self.assertEqual(len(mail), 1)
        self.assertEqual((mail[0][1], mail[0][2]), (["a@example.com"], original))
        self.assertEqual(len(dsn), 1)
        self.assertEqual(dsn[0][1], ["s@example.net"])
        text = dsn[0][2].decode()
        self.assertIn("Content-Type: multipart/report; report-type=delivery-status", text)
        self.assertIn("Final-Recipient: rfc822; b@example.com", text)
        self.assertIn("Action: failed", text)
        self.assertIn("Status: 5.1.1", text)
        self.assertIn("Subject: to two", text)  # the original header comes back
        self.assertNotIn("Hello from the end-to-end tests", text)  # the body does not
        self.wait_for("delivery results in the log", lambda: {
            r["rcpt"]: r["delivery"] for r in self.log_json(gw, "--id", doc["id"])["records"]}
            == {"a@example.com": "sent", "b@example.com": "bounced"})
        # never a bounce for a null sender
        self.submit_ok(gw, self.eml(gw, original, "n.eml"), "--from", "", "--to",
                       "b@example.com")
        time.sleep(2)
        self.assertEqual(len(ds.snapshot()), 2)
        self.assertEqual(self.queue_json(gw), [])

    def test_downstream_down_across_restart_of_every_process(self):
        port = free_port()
        ds = self.downstream(port, start=False)
        gw = Gateway(config(port, example_score(0)), name="restart")
        self.addCleanup(gw.cleanup)
        gw.start({"score": 1, "action": 1})
        original = message(subject="patience")
        doc = self.submit_ok(gw, self.eml(gw, original), "--from", "s@example.net", "--to",
                             "a@example.com")
        q = self.wait_for("a deferral", lambda: [x for x in self.queue_json(gw)
                                                 if x["attempts"] >= 1])
        self.assertIn("refused", q[0]["reason"])
        old = gw.pids()
        self.assertEqual(gw.stop(), 0)
        for label, pid in old.items():
            self.assertFalse(os.path.exists("/proc/%d/cmdline" % pid) and
                             open("/proc/%d/cmdline" % pid, "rb").read(), label)
        self.assertEqual([x["id"] for x in self.queue_json(gw)], [doc["id"]])
        gw.start({"score": 1, "action": 1})
        ds.start()
        # sluice-delivery may still be starting: flush as soon as it runs
        self.wait_for("sluice queue flush", lambda: sluice(
            "queue", "flush", "-c", gw.config).returncode == 0)
        got = ds.wait(1, timeout=30)
        self.assertEqual(len(got), 1, gw.tail())
        self.assertEqual(got[0][2], original)
        self.wait_for("empty queue", lambda: self.queue_json(gw) == [])

    def test_queue_delete(self):
        port = free_port()
        gw = self.gateway(config(port, example_score(0)))
        doc = self.submit_ok(gw, self.eml(gw, message()), "--from", "s@example.net", "--to",
                             "a@example.com")
        self.wait_for("queued", lambda: self.queue_json(gw))
        r = sluice("queue", "delete", doc["id"], "-c", gw.config)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.queue_json(gw), [])
        r = sluice("queue", "delete", doc["id"], "-c", gw.config)
        self.assertEqual(r.returncode, 1)

    # --- TLS policy ---

    def test_tls_policies(self):
        if shutil.which("openssl") is None:
            self.skipTest("openssl is not installed")
        import ssl
        work = tempfile.mkdtemp(prefix="sluice-e2e-tls-")
        self.addCleanup(shutil.rmtree, work, True)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
                        "-keyout", key, "-out", cert], check=True, capture_output=True,
                       timeout=60)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        tls = Downstream(tls_context=ctx).start()  # offers STARTTLS as "localhost"
        self.addCleanup(tls.stop)
        plain = self.downstream()
        gw = self.gateway(config(plain.port, example_score(0), extra_policy="""
    - name: verified.test
      route: "smtp:[localhost]:%d"
      tls: verify
    - name: wrongname.test
      route: "smtp:[127.0.0.1]:%d"
      tls: verify
    - name: mustencrypt.test
      route: "smtp:[127.0.0.1]:%d"
      tls: encrypt""" % (tls.port, tls.port, plain.port), delivery="  tls_ca_file: %s" % cert))
        path = self.eml(gw, message())
        for rcpt in ("a@verified.test", "b@wrongname.test", "c@mustencrypt.test"):
            self.submit_ok(gw, path, "--from", "s@example.net", "--to", rcpt)
        got = tls.wait(1)
        self.assertEqual([m[1] for m in got], [["a@verified.test"]], gw.tail())
        self.assertRegex(gw.tail(200), r"sent to=a@verified\.test .* tls=\"TLSv1\.[23] ")
        reasons = self.wait_for("two deferrals", lambda: (lambda q: q if len(q) == 2 else None)(
            [x["reason"] for x in self.queue_json(gw) if x["attempts"] >= 1]))
        text = " ".join(reasons)
        self.assertRegex(text, r"b@wrongname\.test: TLS handshake .* failed: .*mismatch")
        self.assertIn("c@mustencrypt.test: TLS is required", text)
        self.assertEqual(plain.snapshot(), [])

    # --- MX routes through lib/sl_dns ---

    def test_mx_route(self):
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "dns"))
        try:
            from dnsserver import DnsServer
        except ImportError as exc:
            self.skipTest("tests/dns/dnsserver.py unusable: %s" % exc)
        ds = self.downstream()
        # names under .example: libunbound answers .test itself (RFC 6761 local zone)
        dns = DnsServer("""
mx.example MX 20 backup.mx.example.
mx.example MX 10 mail.mx.example.
mail.mx.example A 127.0.0.1
backup.mx.example A 192.0.2.1
nomx.example A 127.0.0.1
gone.example NXDOMAIN
""").start()
        self.addCleanup(dns.stop)
        gw = self.gateway(config(ds.port, example_score(0), extra_policy="""
    - {name: mx.example, route: mx, tls: none}
    - {name: nomx.example, route: mx, tls: none}
    - {name: gone.example, route: mx, tls: none}""", delivery="  mx_port: %d\n  connect_timeout: 1s"
                                 % ds.port, extra="dns:\n  forward: [%s]" % dns.forward))
        path = self.eml(gw, message())
        for rcpt in ("a@mx.example", "b@nomx.example", "c@gone.example"):
            self.submit_ok(gw, path, "--from", "s@example.net", "--to", rcpt)
        got = ds.wait(3)
        self.assertEqual(sorted(m[1][0] for m in got),
                         ["a@mx.example", "b@nomx.example", "s@example.net"], gw.tail())
        dsn = [m[2].decode() for m in got if m[1] == ["s@example.net"]][0]
        self.assertIn("Final-Recipient: rfc822; c@gone.example", dsn)
        self.assertIn("Status: 5.1.2", dsn)
        self.assertRegex(gw.tail(200), r"sent to=a@mx\.example relay=mx:mx\.example:")

    # --- durability ---

    def test_kill9_delivery_during_1000_messages(self):
        ds = self.downstream()
        gw = self.gateway(config(ds.port, example_score(0), delivery="  concurrency: 10\n"
                                 "  connections: 10"), {"score": 1, "action": 1})
        c = Client(gw.front)
        self.addCleanup(c.close)
        total, window, sent, ok = 1000, 200, 0, 0
        kills, killed_at = 0, []
        deadline = time.monotonic() + 240
        ids = {}
        while len(self.unique(ds, ids)) < total and time.monotonic() < deadline:
            while sent < total and sent - ok < window:
                body = message(subject="n%d" % sent)
                c.submit(envelope("k%05d" % sent, rcpts=("a@example.com",)), body)
                sent += 1
            r = c.recv(50)
            if r is not None:
                self.assertEqual(r[1], "ok", r)
                ok += 1
            have = len(ds.snapshot())
            if kills < 2 and have >= (kills + 1) * 300:
                pid = gw.pids().get("delivery")
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    killed_at.append(have)
        got = ds.snapshot()
        unique = self.unique(ds, ids)
        self.assertEqual(kills, 2)
        self.assertEqual(len(unique), total, "lost %d\n%s" % (total - len(unique), gw.tail()))
        duplicates = len(got) - len(unique)
        # at most what was in flight: one message per connection per kill
        self.assertLessEqual(duplicates, 2 * 10, duplicates)
        self.wait_for("empty queue", lambda: self.queue_json(gw) == [], timeout=30)

    @staticmethod
    def unique(ds, ids):
        for m in ds.snapshot():
            for line in m[2].split(b"\r\n"):
                if line.startswith(b"Subject: "):
                    ids[line] = True
                    break
        return ids

    # --- the admin commands ---

    def test_domain_mailbox_policy_commands(self):
        port = free_port()
        gw = self.gateway(config(port, example_score(0)))
        cfg = ("-c", gw.config)

        def run(*args, rc=0):
            r = sluice(*(args + cfg))
            self.assertEqual(r.returncode, rc, r.stdout + r.stderr)
            return r.stdout + r.stderr

        run("domain", "add", "example.org", "--route", "smtp:[192.0.2.1]:2525", "--tls",
            "verify")
        self.assertRegex(run("domain", "list"), r"example\.org\tsmtp:\[192\.0\.2\.1\]:2525\tverify")
        self.assertIn("tls: verify", run("domain", "show", "example.org"))
        self.assertIn("tls", run("domain", "add", "bad.org", "--tls", "sometimes", rc=1))
        self.assertIn("route", run("domain", "add", "bad.org", "--route", "smtp:[x]:99999", rc=1))
        run("mailbox", "add", "Alice@Example.org")
        self.assertIn("alice@example.org", run("mailbox", "list", "example.org"))
        run("policy", "add", "example.org", "--tag-score", "3", "--subject-tag", "[S]",
            "--block", "spammer.net")
        run("policy", "add", "alice@example.org", "--virus", "drop")
        out = run("policy", "show", "alice@example.org")
        self.assertIn("tag_score: 3.00", out)       # from the domain
        self.assertIn("virus: drop", out)           # from the mailbox
        self.assertIn("quarantine_score: 10.00", out)  # from the defaults (YAML)
        self.assertIn("route: smtp:[192.0.2.1]:2525", out)
        self.assertIn("action must be", run("policy", "add", "example.org", "--virus", "kill",
                                            rc=1))
        self.assertIn("score must be", run("policy", "add", "example.org", "--tag-score", "x",
                                           rc=1))
        self.assertIn("example.org", run("policy", "list"))
        run("policy", "remove", "alice@example.org")
        self.assertIn("virus: quarantine", run("policy", "show", "alice@example.org"))
        run("mailbox", "remove", "alice@example.org")
        run("domain", "remove", "example.org")
        self.assertIn("no such domain", run("domain", "remove", "example.org", rc=1))
        r = sluice("check-config", gw.config)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_policy_section_is_refused_with_file_and_line(self):
        port = free_port()
        gw = Gateway(config(port, example_score(0)).replace(
            "tag_score: 5", "tag_score: lots").replace("retry_min: 1s", "retry_mni: 1s"),
            name="badpolicy")
        self.addCleanup(gw.cleanup)
        r = subprocess.run([os.path.join(BIN, "sluice-delivery"), "-c", gw.config],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"sluice\.yaml:\d+: .*retry_mni")
        r = subprocess.run([os.path.join(BIN, "sluice-stage-action"), "-c", gw.config,
                            "--broker", "ipc://%s/none.sock" % gw.dir],
                           capture_output=True, text=True, timeout=20)
        self.assertNotEqual(r.returncode, 0)
        self.assertRegex(r.stderr, r"sluice\.yaml:\d+: .*tag_score.*score must be a number")


@unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed")
class SwaksTest(unittest.TestCase):
    """swaks -> sluice-smtpd -> pipeline -> sluice-delivery -> downstream."""

    def test_swaks_through_smtpd(self):
        if not os.access(os.path.join(BIN, "sluice-smtpd"), os.X_OK):
            self.skipTest("sluice-smtpd is not built yet (issue 3)")
        if shutil.which("swaks") is None:
            self.skipTest("swaks is not installed")
        ds = Downstream().start()
        self.addCleanup(ds.stop)
        listen = free_port()
        gw = Gateway(config(ds.port, example_score(0), extra="""
smtpd:
  listen: ["127.0.0.1:%d"]
  hostname: mx.sluice.test
  relay_domains: [example.com]
""" % listen), name="swaks")
        self.addCleanup(gw.cleanup)
        gw.start({"score": 1, "action": 1})
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(listen),
                                "--quit-after", "CONNECT"], capture_output=True, timeout=10)
            if r.returncode == 0:
                break
            time.sleep(0.2)
        body = message(subject="via swaks")
        path = gw.path("m.eml")
        with open(path, "wb") as f:
            f.write(body)
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(listen),
                            "--from", "s@example.net", "--to", "a@example.com",
                            "--data", "@" + path], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + gw.tail())
        got = ds.wait(1, timeout=30)
        self.assertEqual(len(got), 1, gw.tail())
        # smtpd adds its Received header on top; the rest is the message as swaks
        # sent it (swaks ends the DATA with one more CRLF of its own)
        content = got[0][2]
        self.assertTrue(content.startswith(b"Received: "), content[:200])
        at = content.index(b"\r\nFrom: <sender@example.net>") + 2
        self.assertIn(content[at:], (body, body + b"\r\n"))


if __name__ == "__main__":
    main()
