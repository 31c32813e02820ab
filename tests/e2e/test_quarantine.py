#!/usr/bin/python3
"""tests/e2e/test_quarantine.py - sluice-quarantine end to end: SMTP in, HTTP API, CLI, release out.

One gateway (`sluice start`: smtpd, broker, a score stage that scores every
message 12, the action stage, sluice-delivery and sluice-quarantine) takes
three messages over SMTP (smtplib into sluice-smtpd); all are quarantined.
The test then talks to the API as a user would: login, list, view, raw
download, release (the mail must arrive at the downstream SMTP server),
scope (other mailboxes are 404), CSRF, login throttling, retention purge,
and the `sluice quarantine` commands. Waits are bounded; processes are
stopped by PID (Gateway.stop).
"""
import http.client
import json
import os
import smtplib
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, Gateway, free_port, main, sluice  # noqa: E402
from sluice_downstream import HAVE_AIOSMTPD, Downstream  # noqa: E402

PASSWORD = "correct horse battery"
USERS = [("alice@example.com", "user"), ("bob@example.com", "user"),
         ("carol@other.org", "user"), ("postmaster@example.com", "domain"),
         ("root@ops.test", "admin")]


def config(down, smtp, qport):
    return """
stages:
  - name: score
    command: [sluice-stage-example, --score, "12"]
  - name: action
    command: [sluice-stage-action]
    on_error: tempfail
graphs:
  default:
    content: [score, action]
policy:
  defaults: {tag_score: 5, quarantine_score: 10}
  domains:
    - name: example.com
      route: "smtp:[127.0.0.1]:%d"
      tls: none
    - name: other.org
      route: "smtp:[127.0.0.1]:%d"
      tls: none
smtpd:
  listen: ["127.0.0.1:%d"]
  hostname: mx.sluice.test
  relay_domains: [example.com, other.org]
delivery:
  default_route: "smtp:[127.0.0.1]:%d"
  retry_min: 1s
  retry_max: 2s
  idle_timeout: 500ms
quarantine:
  listen: 127.0.0.1:%d
  retention: 14d
  purge_interval: 1s
""" % (down, down, smtp, down, qport)


HTML_MAIL = (
    "From: Spammer <spam@bad.example>\r\n"
    "To: <alice@example.com>\r\n"
    "Subject: <script>alert(1)</script>\r\n"
    "Message-ID: <q1-%d@bad.example>\r\n"
    "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><body><p>Win <a href=\"https://evil.example/claim\">here</a>:"
    " https://evil.example/x?y=1</p><script>alert(2)</script>"
    "<p>&lt;b&gt;not bold&lt;/b&gt; www.tracker.example/t</p></body></html>\r\n")


def plain_mail(rcpt, subject):
    return ("From: <news@sender.example>\r\nTo: <%s>\r\nSubject: %s\r\n"
            "Message-ID: <%s-%d@sender.example>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n"
            "Hello, see http://sender.example/offer\r\n" % (rcpt, subject, subject,
                                                           time.time_ns()))


class Api:
    """One browser: a session cookie and its CSRF token."""

    def __init__(self, port):
        self.port = port
        self.cookie = None
        self.csrf = None

    def call(self, method, path, body=None, csrf=True, raw=False):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        headers = {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if csrf and self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        conn.close()
        if raw:
            return r.status, payload, hdrs
        doc = json.loads(payload) if hdrs.get("content-type") == "application/json" else None
        return r.status, doc, hdrs

    def login(self, login, password=PASSWORD):
        status, doc, hdrs = self.call("POST", "/api/login", {"login": login, "password": password})
        if status == 200:
            self.cookie = hdrs["set-cookie"].split(";")[0]
            self.csrf = doc["csrf"]
        return status, doc, hdrs


@unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed")
class QuarantineTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for prog in ("sluice-quarantine", "sluice-smtpd", "sluice-delivery",
                     "sluice-stage-action", "sluice-stage-example"):
            if not os.access(os.path.join(BIN, prog), os.X_OK):
                raise unittest.SkipTest("%s is not built" % prog)
        cls.down = Downstream()
        cls.down.start()
        cls.smtp, cls.qport = free_port(), free_port()
        cls.gw = Gateway(config(cls.down.port, cls.smtp, cls.qport), name="quarantine")
        try:
            cls.gw.start({"score": 1, "action": 1})
            for login, role in USERS:
                pw = cls.gw.path("pw")
                with open(pw, "w") as f:
                    f.write(PASSWORD + "\n")
                r = sluice("quarantine", "-c", cls.gw.config, "user", "add", login, "--role",
                           role, "--password-file", pw)
                assert r.returncode == 0, r.stderr
            cls.wait_port(cls.smtp)
            cls.wait_port(cls.qport)
            cls.sent = {}
            with smtplib.SMTP("127.0.0.1", cls.smtp, timeout=20) as s:
                s.sendmail("spam@bad.example", ["alice@example.com"], HTML_MAIL.encode())
                for rcpt in ("bob@example.com", "carol@other.org"):
                    s.sendmail("news@sender.example", [rcpt], plain_mail(rcpt, rcpt.split("@")[0]))
            cls.admin = Api(cls.qport)
            assert cls.admin.login("root@ops.test")[0] == 200
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                status, doc, _ = cls.admin.call("GET", "/api/messages")
                if status == 200 and doc["total"] >= 3:
                    break
                time.sleep(0.2)
            cls.ids = {m["rcpt"]: m["id"] for m in doc["messages"]}
            assert len(cls.ids) == 3, (doc, cls.gw.tail())
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.down.stop()

    @classmethod
    def wait_port(cls, port):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.connect()
                return
            except OSError:
                time.sleep(0.1)
            finally:
                conn.close()
        raise AssertionError("port %d never opened:\n%s" % (port, cls.gw.tail()))

    def user(self, login):
        api = Api(self.qport)
        status, doc, hdrs = api.login(login)
        self.assertEqual(status, 200, doc)
        self.assertIn("HttpOnly", hdrs["set-cookie"])
        self.assertIn("SameSite=Strict", hdrs["set-cookie"])
        return api

    def db(self):
        return sqlite3.connect(os.path.join(self.gw.dir, "data", "sluice.db"), timeout=10)

    # --- tests run in name order; t9 (throttling) blocks this IP's logins, so it is last ---

    def test_t1_listed_for_its_user_and_inert(self):
        alice = self.user("alice@example.com")
        status, payload, hdrs = alice.call("GET", "/api/messages", raw=True)
        self.assertEqual(status, 200)
        for h in ("cache-control", "x-content-type-options", "referrer-policy", "x-frame-options"):
            self.assertIn(h, hdrs)
        self.assertNotIn(b"<script>", payload)  # escaped in the JSON text itself
        doc = json.loads(payload)
        self.assertEqual(doc["total"], 1)
        m = doc["messages"][0]
        self.assertEqual((m["rcpt"], m["sender"], m["classification"]),
                         ("alice@example.com", "spam@bad.example", "spam"))
        self.assertEqual(m["subject"], "<script>alert(1)</script>")
        self.assertIsNone(m["released_ms"])
        status, v, _ = alice.call("GET", "/api/messages/%s" % m["id"])
        self.assertEqual(status, 200, v)
        self.assertIn("[link: evil.example]", v["text"])
        self.assertIn("[link: www.tracker.example]", v["text"])
        self.assertNotIn("https://", v["text"])
        self.assertNotIn("alert(2)", v["text"])
        self.assertNotIn("<", v["text"].replace("<b>not bold</b>", ""))
        self.assertIn(["Subject", "<script>alert(1)</script>"], v["headers"])
        # raw: the file the action stage wrote, byte for byte: the message as sent,
        # below the Received header smtpd put on top
        status, raw, hdrs = alice.call("GET", "/api/messages/%s/raw" % m["id"], raw=True)
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["content-type"], "message/rfc822")
        self.assertIn('filename="%s.eml"' % m["id"], hdrs["content-disposition"])
        with open(os.path.join(self.gw.dir, "data", "quarantine", "msg", m["id"] + ".eml"),
                  "rb") as f:
            self.assertEqual(raw, f.read())
        self.assertTrue(raw.endswith(HTML_MAIL.encode()), raw[-200:])

    def test_t2_scope(self):
        alice = self.user("alice@example.com")
        bob_id = self.ids["bob@example.com"]
        for path in ("/api/messages/%s" % bob_id, "/api/messages/%s/raw" % bob_id,
                     "/api/messages/%s?rcpt=bob@example.com" % bob_id):
            status, doc, _ = alice.call("GET", path)
            self.assertEqual(status, 404, path)
        item = {"items": [{"id": bob_id, "rcpt": "bob@example.com"}]}
        for verb in ("release", "delete", "report"):
            status, doc, _ = alice.call("POST", "/api/messages/" + verb, item)
            self.assertEqual(status, 200)
            self.assertEqual(doc["errors"][0]["error"], "no such message", (verb, doc))
        status, doc, _ = alice.call("GET", "/api/messages?rcpt=bob@example.com")
        self.assertEqual(doc["total"], 0)
        dom = self.user("postmaster@example.com")
        status, doc, _ = dom.call("GET", "/api/messages")
        self.assertEqual(sorted(m["rcpt"] for m in doc["messages"]),
                         ["alice@example.com", "bob@example.com"])
        status, doc, _ = dom.call("GET", "/api/messages/%s" % self.ids["carol@other.org"])
        self.assertEqual(status, 404)
        status, doc, _ = self.admin.call("GET", "/api/messages")
        self.assertEqual(doc["total"], 3)
        # bob's message is untouched
        status, doc, _ = self.admin.call("GET", "/api/messages?rcpt=bob@example.com")
        self.assertIsNone(doc["messages"][0]["released_ms"])
        status, doc, _ = Api(self.qport).call("GET", "/api/messages")
        self.assertEqual(status, 401)

    def test_t3_csrf(self):
        alice = self.user("alice@example.com")
        item = {"items": [{"id": self.ids["alice@example.com"], "rcpt": "alice@example.com"}]}
        status, doc, _ = alice.call("POST", "/api/messages/release", item, csrf=False)
        self.assertEqual((status, doc), (403, {"error": "csrf"}))
        alice.csrf = "0" * 64
        status, doc, _ = alice.call("POST", "/api/messages/release", item)
        self.assertEqual(status, 403)

    def test_t4_release_reaches_downstream_once(self):
        alice = self.user("alice@example.com")
        item = {"items": [{"id": self.ids["alice@example.com"], "rcpt": "alice@example.com"}]}
        status, doc, _ = alice.call("POST", "/api/messages/release",
                                    dict(item, allow_sender=True, learn_ham=True))
        self.assertEqual((status, doc), (200, {"released": 1, "errors": []}))
        # allow_sender put the sender on alice's allow list; learn_ham trained Bayes
        status, doc, _ = alice.call("GET", "/api/lists")
        self.assertEqual(doc, {"allow": ["spam@bad.example"], "block": []})
        bayes = sqlite3.connect(os.path.join(self.gw.dir, "data", "bayes.db"), timeout=10)
        self.addCleanup(bayes.close)
        self.assertEqual(bayes.execute("SELECT messages FROM bayes_total WHERE class = 'ham'")
                         .fetchall(), [(1,)])
        got = [m for m in self.down.wait(1, timeout=30) if m[1] == ["alice@example.com"]]
        self.assertEqual(len(got), 1, self.gw.tail())
        self.assertTrue(got[0][2].endswith(HTML_MAIL.encode()))
        status, doc, _ = alice.call("POST", "/api/messages/release", item)
        self.assertEqual(doc["released"], 0)
        self.assertEqual(doc["errors"][0]["error"], "already released")
        status, doc, _ = alice.call("GET", "/api/messages?released=1")
        self.assertEqual(doc["total"], 1)
        self.assertIsInstance(doc["messages"][0]["released_ms"], int)

    def test_t5_me_lists_digest(self):
        bob = self.user("bob@example.com")
        status, doc, _ = bob.call("PUT", "/api/digest",
                                  {"digest": "weekly", "digest_hour": 6, "digest_wday": 2})
        self.assertEqual(status, 200, doc)
        status, doc, _ = bob.call("GET", "/api/me")
        self.assertEqual((doc["login"], doc["role"], doc["digest"], doc["digest_hour"]),
                         ("bob@example.com", "user", "weekly", 6))
        status, doc, _ = bob.call("POST", "/api/lists",
                                  {"kind": "allow", "address": "friend@sender.example",
                                   "add": True})
        self.assertEqual(status, 200, doc)
        status, doc, _ = bob.call("GET", "/api/lists")
        self.assertEqual(doc, {"allow": ["friend@sender.example"], "block": []})
        status, doc, _ = bob.call("POST", "/api/lists", {"kind": "allow", "address": "a b"})
        self.assertEqual(status, 400)
        status, doc, _ = bob.call("POST", "/api/messages/release", None)
        self.assertEqual(status, 400)
        status, doc, _ = bob.call("GET", "/api/trace")
        self.assertEqual(status, 403)
        status, doc, _ = self.admin.call("GET", "/api/trace?rcpt=bob@example.com")
        self.assertEqual((status, doc["total"]), (200, 1))
        self.assertEqual(doc["rows"][0]["action"], "quarantine")
        status, doc, _ = self.admin.call("GET", "/api/stats?days=2")
        self.assertEqual(status, 200)
        self.assertEqual(sum(d["counts"].get("spam", 0) for d in doc["days"]), 3)
        status, body, hdrs = Api(self.qport).call("GET", "/healthz", raw=True)
        self.assertEqual((status, body), (200, b"ok\n"))

    def test_t6_purge_by_retention(self):
        carol_id, bob_id = self.ids["carol@other.org"], self.ids["bob@example.com"]
        path = os.path.join(self.gw.dir, "data", "quarantine", "msg", carol_id + ".eml")
        self.assertTrue(os.path.exists(path))
        with self.db() as db:
            db.execute("UPDATE quarantine SET time_ms = ? WHERE id = ?",
                       (int(time.time() * 1000) - 15 * 86400 * 1000, carol_id))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and os.path.exists(path):
            time.sleep(0.2)
        self.assertFalse(os.path.exists(path), self.gw.tail())
        status, doc, _ = self.admin.call("GET", "/api/messages")
        self.assertEqual(sorted(m["id"] for m in doc["messages"]),
                         sorted([self.ids["alice@example.com"], bob_id]))
        self.assertTrue(os.path.exists(path.replace(carol_id, bob_id)))

    def test_t7_cli(self):
        bob_id = self.ids["bob@example.com"]
        r = sluice("quarantine", "-c", self.gw.config, "list", "--rcpt", "bob@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(bob_id, r.stdout)
        self.assertNotIn(self.ids["alice@example.com"], r.stdout)
        r = sluice("quarantine", "-c", self.gw.config, "show", bob_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("subject: bob", r.stdout)
        self.assertIn("[link: sender.example]", r.stdout)
        r = sluice("quarantine", "-c", self.gw.config, "release", bob_id, "--rcpt",
                   "bob@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(m[1] == ["bob@example.com"] for m in self.down.snapshot()):
                break
            time.sleep(0.2)
        self.assertTrue(any(m[1] == ["bob@example.com"] for m in self.down.snapshot()),
                        self.gw.tail())
        r = sluice("quarantine", "-c", self.gw.config, "release", bob_id)
        self.assertEqual(r.returncode, 1)
        self.assertIn("already released", r.stderr)
        r = sluice("quarantine", "-c", self.gw.config, "delete", bob_id)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = sluice("quarantine", "-c", self.gw.config, "show", bob_id)
        self.assertEqual(r.returncode, 1)
        r = sluice("quarantine", "-c", self.gw.config, "user", "list")
        self.assertIn("postmaster@example.com\tdomain\texample.com", r.stdout)

    def test_t9_login_throttled(self):
        api = Api(self.qport)
        for i in range(5):
            status, doc, _ = api.login("carol@other.org", "wrong password %d" % i)
            self.assertEqual((status, doc), (401, {"error": "login failed"}))
        status, doc, hdrs = api.login("carol@other.org", PASSWORD)
        self.assertEqual(status, 429, doc)
        self.assertGreater(int(hdrs["retry-after"]), 0)
        # an unknown login gets the same reply as a wrong password (here: throttled by IP)
        status, doc, _ = api.login("nobody@example.com", "x")
        self.assertEqual(status, 429)


if __name__ == "__main__":
    main()
