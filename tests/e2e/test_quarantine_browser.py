#!/usr/bin/python3
"""tests/e2e/test_quarantine_browser.py - the quarantine dashboard in a real browser.

`sluice start` runs the whole gateway: sluice-smtpd, a score stage that
scores every message 12, the action stage (quarantine from 10), delivery to
a downstream SMTP sink on loopback (aiosmtpd) and sluice-quarantine with its
dashboard (quarantine/web/). Users are made with `sluice quarantine user
add`, mail goes in over SMTP, and headless Chromium, driven through
chromedriver over the W3C WebDriver protocol (webdriver.py), does what an
operator does: log in, list, search and filter, view a hostile message (it
must stay inert), release from the message and from the list (the mail must
reach the sink), bulk delete, save digest settings and an allow entry (still
there after a reload); a second user must not see the first one's mail, an
admin gets the trace and the chart, and a throttled login says how long to
wait. Any CSP violation or script error in the console fails. A screenshot of each step is kept under
$SLUICE_ARTEFACTS or ./artefacts/quarantine/ and its path printed.
Skips (77) without chromium, chromedriver, aiosmtpd or the binaries.
"""
import json
import os
import smtplib
import subprocess
import sys
import unittest
import urllib.error
import urllib.request
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, Gateway, main  # noqa: E402
from smtpd_e2e import free_port, require, started, wait_for  # noqa: E402
from sluice_downstream import HAVE_AIOSMTPD, Downstream  # noqa: E402
from test_delivery import config, example_score  # noqa: E402
from webdriver import Browser, Chromedriver, find_programs  # noqa: E402

CHROMIUM, CHROMEDRIVER = find_programs()
require("sluice", "sluice-smtpd", "sluice-delivery", "sluice-quarantine", "sluice-stage-action",
        "sluice-stage-example",
        reason=None if CHROMIUM and CHROMEDRIVER and HAVE_AIOSMTPD else
        "needs chromium, chromium-driver and python3-aiosmtpd (scripts/deps.extra); found "
        "chromium=%s chromedriver=%s aiosmtpd=%s" % (CHROMIUM, CHROMEDRIVER, HAVE_AIOSMTPD))

# the rest is test_delivery's gateway: score 12, quarantine from 10, delivery downstream
FRONT_AND_QUARANTINE = """
smtpd:
  listen: ["127.0.0.1:%(smtp)d"]
  hostname: mx.test
  relay_domains: [example.com]
quarantine:
  listen: "127.0.0.1:%(http)d"
"""

ALICE, BOB, ADMIN = "alice@example.com", "bob@example.com", "admin@example.com"
PASSWORDS = {ALICE: "alice-Secret-1", BOB: "bob-Secret-2", ADMIN: "admin-Secret-3"}
XSS_SUBJECT = '<script>window.__xss=1</script><img src=x onerror="window.__xss=2">'
XSS_TEXT = ('Dear user, <script>window.__xss=5</script><img src=x onerror="window.__xss=6">'
            ' see http://evil.test/p\n')
XSS_FILE = '<img src=x onerror="window.__xss=7">.pdf'
XSS_HTML = ('<html><body><p>Dear <b>user</b></p><script>window.__xss=3</script>'
            '<img src="x" onerror="window.__xss=4"><a href="http://evil.test/p">click</a>'
            '</body></html>')
# what the page must not have: a run script, an alert, or an element from the mail
INERT_CHECK = """
return {xss: typeof window.__xss, scripts: document.scripts.length,
        imgs: document.querySelectorAll('main img, main script, main iframe').length,
        links: document.querySelectorAll('#msg-text a, #msg-meta a, #msg-header-rows a').length};
"""


def artefact_dir():
    path = os.environ.get("SLUICE_ARTEFACTS") or os.path.join(os.getcwd(), "artefacts",
                                                               "quarantine")
    os.makedirs(path, exist_ok=True)
    return path


class Dashboard(unittest.TestCase):
    """One gateway and one browser for the whole class; the tests run in name order."""

    loads = 0

    @classmethod
    def setUpClass(cls):
        cls.shots = artefact_dir()
        cls.down = Downstream().start()
        cls.smtp_port = free_port()
        cls.http_port = next(p for p in (free_port() for _ in range(20)) if p != cls.smtp_port)
        cls.base = "http://127.0.0.1:%d" % cls.http_port
        extra = FRONT_AND_QUARANTINE % {"smtp": cls.smtp_port, "http": cls.http_port}
        cls.gw = Gateway(config(cls.down.port, example_score(12), extra=extra), name="qbrowser")
        cls.driver = cls.browser = None
        try:
            started(cls.gw, {"score": 1, "action": 1}, cls.smtp_port)
            ok = wait_for(lambda: cls.http("GET", "/healthz")[0] == 200, 15, step=0.1)
            if not ok:
                raise AssertionError("sluice-quarantine not answering:\n" + cls.gw.tail())
            for login, role in ((ALICE, "user"), (BOB, "user"), (ADMIN, "admin")):
                r = cls.user_add(login, role)
                if r.returncode != 0:
                    raise AssertionError("user add %s: %s" % (login, r.stderr))
            cls.ids = cls.send_mail()
            cls.driver = Chromedriver(CHROMEDRIVER,
                                      os.path.join(cls.shots, "chromedriver.log")).start()
            cls.browser = Browser(cls.driver, CHROMIUM)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if cls.browser:
                cls.browser.quit()
        finally:
            if cls.driver:
                cls.driver.stop()
            cls.gw.cleanup()
            cls.down.stop()

    def tearDown(self):
        # a blocked inline script or style (the CSP) or an uncaught error in app.js
        bad = [e["message"] for e in self.browser.console()
               if e.get("source") in ("security", "javascript")]
        self.assertEqual(bad, [], "the browser console has errors")

    # --- helpers ---

    @classmethod
    def user_add(cls, login, role):
        return subprocess.run([os.path.join(BIN, "sluice"), "quarantine", "user", "add", login,
                               "--role", role, "--password-stdin", "-c", cls.gw.config],
                              input=PASSWORDS[login] + "\n", capture_output=True, text=True,
                              timeout=30)

    @classmethod
    def http(cls, method, path, body=None, cookie=None, csrf=None):
        """(status, headers, parsed JSON or text) of one request to the daemon."""
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        if csrf:
            headers["X-CSRF-Token"] = csrf
        req = urllib.request.Request(cls.base + path, method=method, headers=headers,
                                     data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                status, hdrs, data = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, hdrs, data = e.code, e.headers, e.read()
        except OSError:
            return 0, {}, None
        try:
            return status, hdrs, json.loads(data)
        except ValueError:
            return status, hdrs, data.decode(errors="replace")

    @classmethod
    def send_mail(cls):
        """Alice gets three invoices and a hostile message, Bob one private message.
        Waits until all five are in the quarantine; returns {subject: queue id}."""
        mails = [(ALICE, "invoice %d" % i, "Your invoice number %d.\n" % i, None)
                 for i in (1, 2, 3)]
        mails += [(ALICE, XSS_SUBJECT, XSS_TEXT, XSS_HTML),
                  (BOB, "bob private", "For Bob only.\n", None)]
        with smtplib.SMTP("127.0.0.1", cls.smtp_port, timeout=20) as s:
            s.ehlo("client.test")
            for rcpt, subject, text, html in mails:
                m = EmailMessage()
                m["From"] = "Sender <sender@partner.test>"
                m["To"] = rcpt
                m["Subject"] = subject
                m.set_content(text)
                if html:
                    m.add_alternative(html, subtype="html")
                    m.add_attachment(b"%PDF-1.4\n%%EOF\n", maintype="application",
                                     subtype="pdf", filename=XSS_FILE)
                s.send_message(m, from_addr="sender@partner.test", to_addrs=[rcpt])
        # the admin sees every row once the action stage has indexed them
        cookie, _ = cls.api_login(ADMIN)
        rows = wait_for(lambda: (lambda r: r[2]["messages"] if r[0] == 200 and
                                 r[2]["total"] >= len(mails) else None)(
            cls.http("GET", "/api/messages?per_page=200", cookie=cookie)), 30, step=0.2)
        if not rows:
            raise AssertionError("mail not quarantined:\n" + cls.gw.tail())
        return {r["subject"]: r["id"] for r in rows}

    @classmethod
    def api_login(cls, login):
        status, hdrs, doc = cls.http("POST", "/api/login",
                                     {"login": login, "password": PASSWORDS[login]})
        if status != 200:
            raise AssertionError("login %s: %s %s" % (login, status, doc))
        cookie = hdrs.get("Set-Cookie", "").split(";")[0]
        return cookie, doc["csrf"]

    def shot(self, name):
        path = self.browser.screenshot(os.path.join(self.shots, name + ".png"))
        print("screenshot: %s" % path)
        return path

    def visible(self, css):
        return self.browser.wait_visible(css)

    def text(self, css):
        return self.browser.text(self.browser.find(css))

    def subjects(self):
        return sorted(self.browser.execute(
            "return Array.prototype.map.call(document.querySelectorAll("
            "'#msg-rows [data-testid=row-open]'), function (a) { return a.textContent; });"))

    def wait_subjects(self, want, what):
        try:
            self.browser.wait(what, lambda: self.subjects() == sorted(want), timeout=10)
        except AssertionError as e:
            raise AssertionError("%s; the list shows %r" % (e, self.subjects())) from None

    def filter(self, **values):
        """Sets the list's filter inputs (min_score, max_score, since, until) and searches."""
        for name, value in values.items():
            self.browser.execute("document.getElementById(arguments[0]).value = arguments[1];",
                                 "filter-" + name.replace("_", "-"), value)
        self.browser.click(self.browser.find("#search-submit"))

    def login(self, who):
        """Shows WHO's list: keeps WHO's session, else logs out and in as WHO."""
        b = self.browser
        Dashboard.loads += 1  # a new query string: a real page load, not a hash change
        b.get(self.base + "/?load=%d#/list" % Dashboard.loads)
        view = b.wait("the login form or the list", lambda: b.execute(
            "return document.body.getAttribute('data-view');"))
        if view != "login":
            if self.text("#who").split(" ")[0] == who:
                self.visible("#view-list")
                b.wait("the list to load", lambda: self.text("#page-info"))
                return
            self.logout()
        user = self.visible("#login-user")
        b.clear(user)
        b.send_keys(user, who)
        b.send_keys(b.find("#login-password"), PASSWORDS[who])
        b.click(b.find("#login-submit"))
        self.visible("#view-list")
        b.wait("the list to load", lambda: self.text("#page-info"))

    def logout(self):
        self.browser.click(self.browser.find("#logout"))
        self.visible("#view-login")

    def assert_inert(self):
        state = self.browser.execute(INERT_CHECK)
        self.assertEqual(state["xss"], "undefined", "a script from the mail ran")
        self.assertEqual(state["scripts"], 1, "only app.js may be a script")
        self.assertEqual(state["imgs"], 0, "an element from the mail got into the page")
        self.assertEqual(state["links"], 0, "the message text has a clickable link")
        self.assertIsNone(self.browser.alert_text())

    # --- the steps, in order ---

    def test_01_login(self):
        b = self.browser
        b.get(self.base + "/")
        self.visible("#login-form")
        self.shot("01-login")
        b.send_keys(b.find("#login-user"), ALICE)
        b.send_keys(b.find("#login-password"), "wrong password")
        b.click(b.find("#login-submit"))
        err = self.visible("#login-error")
        self.assertEqual(b.text(err), "Wrong address or password.")
        self.shot("01-login-failed")
        self.login(ALICE)
        self.assertEqual(self.text("#who"), ALICE)
        self.assertEqual(b.find_all("#nav-trace:not([hidden])"), [])  # not an admin

    def test_02_list_and_search(self):
        self.login(ALICE)
        want = ["invoice 1", "invoice 2", "invoice 3", XSS_SUBJECT]
        self.wait_subjects(want, "alice's four messages")
        self.assertEqual(self.text("#page-info"), "1\u20134 of 4")
        self.shot("02-list")
        b = self.browser
        b.send_keys(b.find("#search-q"), "INVOICE")
        b.click(b.find("#search-submit"))
        self.wait_subjects(want[:3], "the search for 'invoice'")
        self.shot("03-search")
        b.click(b.find("#search-reset"))
        self.wait_subjects(want, "all four after reset")
        # filters: score range, class, date range (set as the date picker would)
        self.filter(min_score="12.5")
        self.wait_subjects([], "nothing scored over 12.5")
        self.assertTrue(b.prop(b.find("#list-empty"), "hidden") is False)
        self.filter(min_score="11", max_score="12")
        self.wait_subjects(want, "all four scored 12")
        b.click(b.find("#filter-class option[value=virus]"))
        self.wait_subjects([], "no virus")
        b.click(b.find("#filter-class option[value=spam]"))
        self.wait_subjects(want, "all four are spam")
        today = b.execute("var d = new Date(); return [d.getFullYear(), d.getMonth() + 1,"
                          " d.getDate()].map(function (n) { return n < 10 ? '0' + n : n; })"
                          ".join('-');")
        self.filter(since=today, until=today)
        self.wait_subjects(want, "all four came today")
        self.filter(since="2020-01-01", until="2020-01-31")
        self.wait_subjects([], "nothing in January 2020")
        b.click(b.find("#search-reset"))
        self.wait_subjects(want, "all four after reset")

    def test_03_hostile_message_is_inert(self):
        self.login(ALICE)
        b = self.browser
        b.get(self.base + "/#/message/%s/%s" % (self.ids[XSS_SUBJECT], ALICE))
        self.visible("#view-message")
        b.wait("the subject", lambda: self.text("#msg-subject") == XSS_SUBJECT)
        # the mail's markup is shown as text, its URL neutralised
        shown = self.text("#msg-text")
        self.assertIn('<script>window.__xss=5</script><img src=x onerror="window.__xss=6">',
                      shown)
        self.assertIn("[link: evil.test]", shown)
        self.assertNotIn("http://evil.test", shown)
        self.assertIn(XSS_FILE, self.text("[data-testid=attachment]"))
        self.assertEqual(self.text("[data-testid=meta-recipient]"), ALICE)
        self.assert_inert()
        self.shot("04-hostile-message")
        # and the list, where the subject is a link text
        b.click(b.find("#msg-back"))
        self.visible("#view-list")
        self.wait_subjects(["invoice 1", "invoice 2", "invoice 3", XSS_SUBJECT], "the list")
        self.assert_inert()

    def test_04_release_reaches_downstream(self):
        self.login(ALICE)
        b = self.browser
        self.wait_subjects(["invoice 1", "invoice 2", "invoice 3", XSS_SUBJECT], "the list")
        link = [e for e in b.find_all("#msg-rows [data-testid=row-open]")
                if b.text(e) == "invoice 1"][0]
        b.click(link)
        self.visible("#view-message")
        b.wait("invoice 1 on show", lambda: self.text("#msg-subject") == "invoice 1")
        self.assertTrue(self.text("#msg-trail").find("EXAMPLE") >= 0 or
                        self.text("#msg-trail-none"), "no verdict trail shown")
        b.click(b.find("#release-allow-sender"))  # test_06 finds it on the allow list
        b.click(b.find("#msg-release"))
        b.wait("'Released.'", lambda: "Released" in self.text("#msg-status"))
        got = self.down.wait(1, timeout=30)
        self.assertEqual(len(got), 1, self.gw.tail())
        mail_from, rcpts, content = got[0]
        self.assertEqual((mail_from, rcpts), ("sender@partner.test", [ALICE]))
        self.assertIn(b"Subject: invoice 1\r\n", content)
        b.wait("the released date", lambda: self.text("[data-testid=meta-released]"))
        self.assertFalse(b.prop(b.find("#msg-release"), "disabled") is False)
        self.shot("05-released")
        b.click(b.find("#msg-back"))
        self.wait_subjects(["invoice 2", "invoice 3", XSS_SUBJECT], "the unreleased list")

    def test_05_bulk_delete(self):
        self.login(ALICE)
        b = self.browser
        self.wait_subjects(["invoice 2", "invoice 3", XSS_SUBJECT], "the list")
        for row in b.find_all("#msg-rows [data-testid=msg-row]"):
            if b.text(b.find_in(row, "[data-testid=row-open]")) in ("invoice 2", "invoice 3"):
                b.click(b.find_in(row, "[data-testid=row-select]"))
        self.assertEqual(self.text("#selected-count"), "2 selected")
        b.click(b.find("#bulk-delete"))  # arms
        self.assertEqual(self.text("#bulk-delete"), "Click again to delete")
        self.shot("06-bulk-delete-confirm")
        b.click(b.find("#bulk-delete"))
        self.wait_subjects([XSS_SUBJECT], "the list after the delete")
        b.wait("the notice", lambda: "Deleted 2" in self.text("#notice"))
        self.shot("06-bulk-deleted")
        # the released one is still there, under "released: yes"
        b.click(b.find("#filter-released option[value='1']"))
        self.wait_subjects(["invoice 1"], "the released list")
        self.assertIn("released", self.text("[data-testid=row-released]"))

    def test_05b_row_release(self):
        self.login(ALICE)
        b = self.browser
        self.wait_subjects([XSS_SUBJECT], "the list")
        b.click(b.find("#msg-rows [data-testid=row-release]"))
        self.wait_subjects([], "an empty list")
        b.wait("the notice", lambda: "Released 1 message" in self.text("#notice"))
        got = self.down.wait(2, timeout=30)
        self.assertEqual(len(got), 2, self.gw.tail())
        self.assertIn(b"\r\nSubject: " + XSS_SUBJECT.encode() + b"\r\n", got[1][2])
        self.shot("06-row-released")

    def test_06_digest_settings_survive_reload(self):
        self.login(ALICE)
        b = self.browser
        b.click(b.find("#nav-settings"))
        self.visible("#digest-form")
        b.click(b.find("#digest-mode option[value=weekly]"))
        b.click(b.find("#digest-wday option[value='3']"))
        b.click(b.find("#digest-hour option[value='9']"))
        b.click(b.find("#digest-save"))
        b.wait("'Saved'", lambda: self.text("#digest-status").startswith("Saved"))
        self.assertEqual(self.text("#digest-status"), "Saved: every Wednesday at 09:00 UTC.")
        allow = b.find("#allow-input")
        b.send_keys(allow, "friend@partner.test")
        b.click(b.find("#allow-add"))
        b.wait("the allow entry", lambda: "friend@partner.test" in self.text("#allow-list"))
        b.refresh()
        self.visible("#digest-form")
        b.wait("the saved schedule", lambda: b.execute(
            "return [document.getElementById('digest-mode').value,"
            " document.getElementById('digest-wday').value,"
            " document.getElementById('digest-hour').value];") == ["weekly", "3", "9"])
        b.wait("the allow entry after reload",
               lambda: "friend@partner.test" in self.text("#allow-list"))
        # "allow this sender from now on" when releasing in test_04
        self.assertIn("sender@partner.test", self.text("#allow-list"))
        self.shot("07-settings")
        # what the server has, not only what the page shows
        cookie, _ = self.api_login(ALICE)
        me = self.http("GET", "/api/me", cookie=cookie)[2]
        self.assertEqual((me["digest"], me["digest_hour"], me["digest_wday"]), ("weekly", 9, 3))

    def test_07_other_user_sees_only_own_mail(self):
        self.login(ALICE)
        self.logout()
        self.login(BOB)
        b = self.browser
        self.wait_subjects(["bob private"], "bob's one message")
        self.shot("08-bob-list")
        b.get(self.base + "/#/message/%s/%s" % (self.ids[XSS_SUBJECT], ALICE))
        b.wait("the not-found notice", lambda: "not found" in self.text("#notice"))
        self.assertEqual(self.text("#msg-subject"), "")
        self.shot("08-bob-cannot-open-alice")
        # nor by naming himself as the recipient of Alice's message
        b.execute("document.getElementById('notice').hidden = true;")
        b.get(self.base + "/#/message/%s/%s" % (self.ids["invoice 1"], BOB))
        b.wait("the not-found notice", lambda: "not found" in self.text("#notice"))
        self.assertEqual(self.text("#msg-subject"), "")

    def test_08_admin_trace_and_chart(self):
        self.login(ADMIN)
        b = self.browser
        b.click(self.visible("#nav-trace"))
        self.visible("#trace-form")
        b.send_keys(b.find("#trace-rcpt"), BOB)
        b.click(b.find("#trace-submit"))
        b.wait("bob's trace row", lambda: len(b.find_all("#trace-rows tr")) == 1)
        self.assertIn(self.ids["bob private"], self.text("#trace-rows"))
        self.shot("09-trace")
        b.click(b.find("#nav-stats"))
        self.visible("#stats-chart")
        bars = b.wait("the chart's bars", lambda: b.execute(
            "return Array.prototype.map.call(document.querySelectorAll("
            "'#stats-chart svg rect[data-testid=stats-bar]'), function (r) {"
            " return [r.getAttribute('data-class'), +r.getAttribute('data-count')]; });"))
        self.assertEqual(sum(n for c, n in bars if c == "spam"), 5)
        self.shot("10-stats")

    def test_09_throttled_login_says_when(self):
        b = self.browser
        self.logout()
        user = self.visible("#login-user")
        message = None
        for _ in range(7):
            b.clear(user)
            b.send_keys(user, "nobody@example.com")
            b.send_keys(b.find("#login-password"), "wrong")
            b.click(b.find("#login-submit"))
            b.wait("a login answer", lambda: self.text("#login-error"))
            message = self.text("#login-error")
            if message.startswith("too many"):
                break
        self.assertRegex(message, r"^too many attempts, try again in \d+ s$")
        self.shot("11-throttled")


if __name__ == "__main__":
    main()
