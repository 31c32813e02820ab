#!/usr/bin/python3
"""tests/e2e/test_quarantine_digest.py - quarantine digests and their release links, end to end.

`sluice start` runs the broker, a score stage that calls everything spam, the
action stage (which quarantines it), sluice-delivery towards a real SMTP
server on loopback (aiosmtpd, sluice_downstream.py) and sluice-quarantine.
A spam is quarantined for u@example.com, who has a daily digest at the
current hour (users made with `sluice quarantine user add --password-stdin`,
the schedule set through PUT /api/digest as the dashboard does); the test waits
for the digest to arrive downstream (the daemon runs qr_digest_tick every
digest_interval, 2s here), reads its text and html parts as a mail
client would, has the next tick rewrite it as after a crash before the digest
was recorded (same Message-ID, same link), and then uses the link the way a
user does: GET shows a page
and releases nothing; POST releases (the original message arrives
downstream); a second POST is 410 "already used"; a forged token (one
signature byte changed) is refused, and a well-signed but expired one is 410.
Waits are bounded; processes are stopped by PID (Gateway.stop).
"""
import base64
import email
import email.policy
import hashlib
import hmac
import http.client
import json
import os
import re
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, Gateway, free_port, main, message, sluice  # noqa: E402
from sluice_downstream import HAVE_AIOSMTPD, Downstream  # noqa: E402
from test_delivery import config, example_score  # noqa: E402

SUBJECT = "<b>Cheap</b> & \"quoted\" pills"
SENDER = "spammer@example.net"
RCPT = "u@example.com"
DIGEST_FROM = "quarantine@example.org"
MANY_RCPT = "v@example.com"  # a weekly digest, this hour and weekday
MANY = 250
DIGEST_INTERVAL_S = 2
DIGEST_WAIT_S = 30  # ticks every DIGEST_INTERVAL_S; slack for a loaded machine
PASSWORD = "digest-test-pw"
LINK_TTL_S = 7 * 86400  # digest_link_ttl default


def quarantine_config(ds_port, http_port):
    """test_delivery's gateway (a score stage at 20: spam; the action stage;
    delivery to the sink) plus sluice-quarantine."""
    return config(ds_port, example_score(20), extra="quarantine:\n  listen: 127.0.0.1:%d\n"
                  "  digest_from: %s\n  digest_interval: %ds\n"
                  % (http_port, DIGEST_FROM, DIGEST_INTERVAL_S))


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(secret, payload):
    """A token as quarantine/API.md defines it, signed with SECRET."""
    mac = hmac.new(secret, payload.encode(), hashlib.sha256).digest()
    return b64url(payload.encode()) + "." + b64url(mac)


@unittest.skipUnless(HAVE_AIOSMTPD, "python3-aiosmtpd is not installed")
class DigestTest(unittest.TestCase):
    def setUp(self):
        for prog in ("sluice-quarantine", "sluice-delivery", "sluice-stage-action"):
            if not os.access(os.path.join(BIN, prog), os.X_OK):
                self.skipTest("%s is not built" % prog)

    def http(self, method, path, port):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            r = conn.getresponse()
            return r.status, r.read().decode("utf-8", "replace"), dict(r.getheaders())
        finally:
            conn.close()

    def add_user(self, gw, login, role):
        """`sluice quarantine user add` with the password on stdin."""
        with open(gw.path("pw-stdin"), "w+") as f:
            f.write(PASSWORD + "\n")
            f.seek(0)
            r = sluice("quarantine", "-c", gw.config, "user", "add", login, "--role", role,
                       "--password-stdin", stdin=f)
        self.assertEqual(r.returncode, 0, r.stderr)

    def set_digest(self, port, login, digest, hour, wday):
        """Logs LOGIN in and sets its digest schedule, as the dashboard does."""
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("POST", "/api/login", body=json.dumps(
                {"login": login, "password": PASSWORD}).encode(),
                headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            doc = json.loads(r.read())
            self.assertEqual(r.status, 200, doc)
            cookie = r.getheader("Set-Cookie").split(";")[0]
            conn.request("PUT", "/api/digest", body=json.dumps(
                {"digest": digest, "digest_hour": hour, "digest_wday": wday}).encode(),
                headers={"Content-Type": "application/json", "Cookie": cookie,
                         "X-CSRF-Token": doc["csrf"]})
            r = conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, 200, body)
        finally:
            conn.close()

    def wait_http(self, port, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.http("GET", "/healthz", port)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.fail("sluice-quarantine did not answer /healthz")

    def test_digest_then_release_link(self):
        ds = Downstream().start()
        self.addCleanup(ds.stop)
        http_port = free_port(27000, 27999)
        gw = Gateway(quarantine_config(ds.port, http_port), name="digest")
        self.addCleanup(gw.cleanup)
        gw.start({"score": 1, "action": 1})
        self.wait_http(http_port)

        # 1. a spam for u@example.com is quarantined (nothing goes downstream)
        spam = message(subject=SUBJECT, sender=SENDER, rcpt=RCPT, size=2000)
        path = gw.path("spam.eml")
        with open(path, "wb") as f:
            f.write(spam)
        rc, doc, err = gw.submit(path, "--from", SENDER, "--to", RCPT)
        self.assertEqual(rc, 0, err + gw.tail())
        self.assertEqual(doc["actions"], ["quarantine"], doc)
        qid = doc["id"]

        # 2. v@example.com first gets more rows than a digest lists (index rows
        # only: the digest reads no message file), then the users are made
        # with the CLI and choose their schedule through the API: u@ and v@
        # (role user) a digest at this hour (UTC), daily and weekly; a domain
        # admin gets no digest whatever its schedule.
        db = sqlite3.connect(os.path.join(gw.dir, "data", "sluice.db"), timeout=10)
        self.addCleanup(db.close)
        hour = time.gmtime().tm_hour
        slot_s = int(time.time()) // 86400 * 86400 + hour * 3600
        with db:
            now_ms = int(time.time() * 1000)
            db.executemany("INSERT INTO quarantine (id, rcpt, time_ms, sender, subject,"
                           " classification, score, reason, path, rcpt_domain) VALUES (?, ?, ?,"
                           " ?, ?, 'spam', 15.5, 'X', '/nonexistent', 'example.com')",
                           [("01M8MANY%018d" % i, MANY_RCPT, now_ms - 1000 * (i + 1),
                             "s%d@example.net" % i, "bulk %d" % i) for i in range(MANY)])
        for login, role in ((RCPT, "user"), ("d@example.com", "domain"), (MANY_RCPT, "user")):
            self.add_user(gw, login, role)
        self.set_digest(http_port, "d@example.com", "daily", hour, 0)
        self.set_digest(http_port, RCPT, "daily", hour, 0)
        self.set_digest(http_port, MANY_RCPT, "weekly", hour, (time.gmtime().tm_wday + 1) % 7)
        # (a digest may already have gone out: digest_interval is short)
        self.assertEqual([m for m in ds.snapshot() if m[0] != DIGEST_FROM], [],
                         "the spam was delivered instead of quarantined")

        # 3. the digests arrive downstream
        got = ds.wait(2, timeout=DIGEST_WAIT_S)
        self.assertEqual(len(got), 2, "no digests within %ss\n%s" % (DIGEST_WAIT_S, gw.tail()))
        by_rcpt = {m[1][0]: m for m in got}
        self.assertEqual(sorted(by_rcpt), [RCPT, MANY_RCPT])
        self.check_many(by_rcpt[MANY_RCPT][2], http_port)
        mail_from, rcpts, content = by_rcpt[RCPT]
        self.assertEqual((mail_from, rcpts), (DIGEST_FROM, [RCPT]))
        msg = email.message_from_bytes(content, policy=email.policy.default)
        self.assertEqual(msg["Subject"], "Quarantine digest: 1 new message")
        self.assertEqual(msg["To"], RCPT)
        self.assertEqual(msg["From"], DIGEST_FROM)
        self.assertIsNotNone(msg["Date"])
        self.assertRegex(msg["Message-ID"], r"^<.+@.+>$")
        self.assertEqual(msg.get_content_type(), "multipart/alternative")
        for line in content.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
        text = msg.get_body(("plain",)).get_content()
        html = msg.get_body(("html",)).get_content()
        self.assertIn(SUBJECT, text)
        self.assertIn(SENDER, text)
        self.assertIn("spam", text)
        self.assertIn("&lt;b&gt;Cheap&lt;/b&gt; &amp; &quot;quoted&quot; pills", html)
        self.assertNotIn("<b>Cheap", html)
        links = re.findall(r"http://127\.0\.0\.1:%d/r/([A-Za-z0-9_.-]+)" % http_port, text)
        self.assertEqual(len(links), 1, text)
        self.assertIn('href="http://127.0.0.1:%d/r/%s"' % (http_port, links[0]), html)
        token = links[0]
        # the expiry depends on the schedule slot only: digest_link_ttl after it
        head = token.split(".")[0]
        payload = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)).decode()
        self.assertEqual(payload.split("|")[:3], [qid, RCPT, str(slot_s + LINK_TTL_S)], payload)
        with db:
            row = db.execute("SELECT last_digest_ms FROM quarantine_user WHERE login = ?",
                             (RCPT,)).fetchone()
        self.assertGreater(row[0], 0, "last_digest_ms not recorded")

        # 3b. a crash after the digest was queued but before it was recorded
        # (no tokens, last_digest_ms not set): the next tick writes the same
        # digest again, with the same Message-ID and the very same link
        with db:
            db.execute("UPDATE quarantine_user SET last_digest_ms = 0 WHERE login = ?", (RCPT,))
            db.execute("DELETE FROM quarantine_token WHERE rcpt = ?", (RCPT,))
        got = ds.wait(3, timeout=DIGEST_WAIT_S)
        self.assertEqual(len(got), 3, "no rewritten digest\n%s" % gw.tail())
        again = email.message_from_bytes(got[2][2], policy=email.policy.default)
        self.assertEqual(got[2][1], [RCPT])
        self.assertEqual(again["Message-ID"], msg["Message-ID"])
        self.assertEqual(re.findall(r"/r/([A-Za-z0-9_.-]+)",
                                    again.get_body(("plain",)).get_content()), [token])

        # 4. GET shows the message and a button, and releases nothing
        status, page, headers = self.http("GET", "/r/" + token, http_port)
        self.assertEqual(status, 200, page)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/html"), headers)
        self.assertIn('method="post"', page)
        self.assertIn("&lt;b&gt;Cheap&lt;/b&gt;", page)
        self.assertNotIn("<b>Cheap", page)
        self.assertNotIn("<script", page.lower())
        time.sleep(3)
        self.assertEqual(len(ds.snapshot()), 3, "GET released the message")

        # 5. a forged token: one byte of the signature changed
        head, sig = token.split(".")
        forged = head + "." + ("A" if sig[5] != "A" else "B").join([sig[:5], sig[6:]])
        status, page, _ = self.http("POST", "/r/" + forged, http_port)
        self.assertEqual(status, 400, page)
        # ... and of the payload
        forged = ("A" if head[3] != "A" else "B").join([head[:3], head[4:]]) + "." + sig
        self.assertEqual(self.http("POST", "/r/" + forged, http_port)[0], 400)
        # overlong and garbage
        self.assertEqual(self.http("POST", "/r/" + "A" * 3000, http_port)[0], 400)
        self.assertEqual(self.http("POST", "/r/%00%ff..", http_port)[0], 400)
        self.assertEqual(len(ds.snapshot()), 3, "a forged token released the message")

        # 6. POST releases: the original message arrives downstream for u@example.com
        status, page, _ = self.http("POST", "/r/" + token, http_port)
        self.assertEqual(status, 200, page + gw.tail())
        self.assertIn("released", page.lower())
        got = ds.wait(4, timeout=30)
        self.assertEqual(len(got), 4, gw.tail())
        mail_from, rcpts, content = got[3]
        self.assertEqual((mail_from, rcpts), (SENDER, [RCPT]))
        self.assertEqual(content, spam)

        # 7. the link works once
        status, page, _ = self.http("POST", "/r/" + token, http_port)
        self.assertEqual(status, 410, page)
        self.assertIn("already used", page)
        self.assertEqual(self.http("GET", "/r/" + token, http_port)[0], 410)

        # 8. expired: well signed with the daemon's secret, expiry in the past
        with open(os.path.join(gw.dir, "data", "quarantine", "secret"), "rb") as f:
            secret = f.read()
        nonce = "0123456789abcdef0123456789abcdef"
        old = sign(secret, "%s|%s|%d|%s" % (qid, RCPT, int(time.time()) - 60, nonce))
        status, page, _ = self.http("POST", "/r/" + old, http_port)
        self.assertEqual(status, 410, page)
        self.assertIn("expired", page)
        # well signed, in date, but a nonce no digest issued: invalid
        fresh = sign(secret, "%s|%s|%d|%s" % (qid, RCPT, int(time.time()) + 3600, nonce))
        self.assertEqual(self.http("POST", "/r/" + fresh, http_port)[0], 400)

        # 9. no second digest for the same day, and nothing else was delivered
        time.sleep(2)
        self.assertEqual(len(ds.snapshot()), 4)
        self.assertEqual(gw.stop(), 0, gw.tail())

    def check_many(self, content, http_port):
        """The digest of MANY rows: the newest 200 listed with links, then "and N more"."""
        msg = email.message_from_bytes(content, policy=email.policy.default)
        self.assertEqual(msg["Subject"], "Quarantine digest: %d new messages" % MANY)
        text = msg.get_body(("plain",)).get_content().replace("\r\n", "\n")
        html = msg.get_body(("html",)).get_content()
        links = re.findall(r"http://127\.0\.0\.1:%d/r/[A-Za-z0-9_.-]+" % http_port, text)
        self.assertEqual(len(links), 200)
        self.assertEqual(len(set(links)), 200)
        # newest first: rows 0..199 listed, 200.. left for "and N more" (the
        # whole text is not printed on failure: it is 60 KB)
        self.assertTrue("bulk 0\n" in text and "bulk 199\n" in text, "newest rows missing")
        self.assertFalse("bulk 200\n" in text, "more than 200 rows listed")
        self.assertTrue("and %d more: http://127.0.0.1:%d/" % (MANY - 200, http_port) in text,
                        "no 'and N more' line in the text part")
        self.assertTrue("and %d more" % (MANY - 200) in html, "no 'and N more' in the html part")
        self.assertEqual(html.count(">Release</a>"), 200)


if __name__ == "__main__":
    main()
