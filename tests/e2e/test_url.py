#!/usr/bin/python3
"""tests/e2e/test_url.py - the url stage behind mime, with a loopback DNS server.

`sluice start` runs the graph [mime, url]; tests/dns/dnsserver.py serves a
domain list, an IP list and a SURBL-style bitmask list. Messages built here
(one per URL trick) and rspamd's URL/phishing test messages from the corpus
(SLUICE_CORPUS; skipped with a message when absent) go in with `sluice
submit`; the tests assert the url verdict's symbols, fields and infos.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, CORPUS, SOURCE, Gateway, main  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from dnsserver import DnsServer  # noqa: E402

ZONE = """
$TTL 300
listed.example.dbl.example            A 127.0.1.2
55.2.0.192.ipbl.example               A 127.0.0.2
phish.example.multi.example           A 127.0.0.8
malware.example.multi.example         A 127.0.0.16
garbage.example.dbl.example           A 10.1.2.3
broken.example.dbl.example            SERVFAIL
"""

CONFIG = """
dns:
  forward: ["%(forward)s"]
  timeout: 5s
stages:
  - name: mime
    command: [sluice-stage-mime]
    timeout: 30s
  - name: url
    command: [sluice-stage-url]
    timeout: 30s
    capacity: 2
    options:
      max_urls: 20
      timeout: 2s
      block: [blocked.example]
      brands:
        - {name: paypal, domains: [paypal.com]}
      scores: {URL_SHORTENER: 0.7}
      redirectors_add: [track.partner.example]
      lists:
        - {zone: dbl.example, name: dbl, weight: 6}
        - {zone: ipbl.example, name: ipbl, type: ip, weight: 3}
        - {zone: multi.example, weight: 5, bits: {URL_MULTI_PH: 8, URL_MULTI_MW: 16}}
graphs:
  default:
    content: [mime, url]
"""


def eml(body, ctype="text/plain", sender="someone@sender.example", display=""):
    head = ("From: %s<%s>\r\nTo: <rcpt@example.com>\r\nSubject: links\r\n"
            "Message-ID: <%d@e2e.example>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: %s; charset=utf-8\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n" % (display, sender, abs(hash(body)), ctype))
    return head.encode() + body.encode("utf-8") + b"\r\n"


def setUpModule():
    for name in ("sluice-stage-url", "sluice-stage-mime"):
        if not os.path.exists(os.path.join(BIN, name)):
            raise unittest.SkipTest("%s not built (libpsl/libidn2/GMime missing)" % name)


class Url(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dns = DnsServer(ZONE).start()
        cls.gw = Gateway(CONFIG % {"forward": cls.dns.forward}, name="url")
        try:
            cls.gw.start({"mime": 1, "url": 1}, timeout=60)
        except Exception:
            cls.gw.cleanup()
            cls.dns.cleanup()
            raise
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()
        cls.dns.cleanup()

    def scan(self, data, label):
        Url.n += 1
        path = self.gw.path("m%d.eml" % Url.n)
        with open(path, "wb") as f:
            f.write(data)
        rc, doc, err = self.gw.submit(path, timeout=120)
        self.assertEqual(rc, 0, "%s: %s\n%s" % (label, err, self.gw.tail()))
        url = doc["verdicts"]["url"]
        self.assertNotIn("error", url, "%s: %s" % (label, url))
        return url

    def test_each_trick_has_its_symbol(self):
        cases = [
            ("phishing anchor", eml('<a href="http://evil.example/x">https://www.mybank.example/'
                                    'login</a>', "text/html"), "URL_PHISHING", "mybank.example"),
            ("homograph", eml("visit http://p\u0430ypal.com/ now"), "URL_HOMOGRAPH",
             "xn--pypal-4ve.com"),
            ("punycode homograph", eml("visit http://xn--80ak6aa92e.com/"), "URL_HOMOGRAPH",
             "xn--80ak6aa92e.com"),
            ("shortener", eml("see https://bit.ly/3abcd"), "URL_SHORTENER", "bit.ly"),
            ("numeric ip", eml("see http://192.0.2.9/x"), "URL_NUMERIC_IP", "192.0.2.9"),
            ("decimal ip", eml("see http://3221225993/x"), "URL_OBFUSCATED", "192.0.2.9"),
            ("hxxp", eml("see hxxp://bad[.]example/a"), "URL_OBFUSCATED", "bad.example"),
            ("userinfo", eml("see http://www.paypal.com@evil.example/"), "URL_USERINFO",
             "evil.example"),
            ("form action", eml('<form action="https://collect.example/p"></form>', "text/html"),
             "URL_FORM_ACTION", "collect.example"),
            ("brand mismatch", eml("Please verify: https://secure-login.example/paypal/signin",
                                   display="PayPal Service "), "URL_BRAND_MISMATCH",
             "secure-login.example"),
            ("local block", eml("see http://www.blocked.example/"), "URL_BLOCKLISTED",
             "blocked.example"),
            ("domain list", eml("see http://www.listed.example/a"), "URL_DBL", "listed.example"),
            ("ip list", eml("see http://192.0.2.55/a"), "URL_IPBL", "192.0.2.55"),
            ("bitmask 8", eml("see http://phish.example/"), "URL_MULTI_PH", "phish.example"),
            ("bitmask 16", eml("see http://malware.example/"), "URL_MULTI_MW", "malware.example"),
        ]
        for label, data, symbol, info in cases:
            with self.subTest(label):
                url = self.scan(data, label)
                self.assertIn(symbol, url["symbols"], "%s: %s" % (label, url))
                self.assertIn(info, url["symbols"][symbol]["info"], label)

    def test_weights_and_overrides(self):
        url = self.scan(eml("see https://bit.ly/x http://www.listed.example/"), "weights")
        self.assertAlmostEqual(url["symbols"]["URL_SHORTENER"]["score"], 0.7)
        self.assertAlmostEqual(url["symbols"]["URL_DBL"]["score"], 6)
        self.assertEqual(url["fields"]["url_count"], 2)

    def test_clean_and_lookalikes_do_not_fire(self):
        cases = [
            ("same site text", eml('<a href="https://www.example.org/a">www.example.org</a>',
                                   "text/html")),
            ("same registered domain", eml('<a href="https://mail.example.org/">'
                                           'https://www.example.org/</a>', "text/html")),
            ("prose link text", eml('<a href="https://shop.example/">our shop</a>', "text/html")),
            ("plain idn", eml("see http://b\u00fccher.example/")),
            ("garbage answer", eml("see http://garbage.example/")),
            ("servfail", eml("see http://broken.example/")),
            ("brand from its own domain", eml("log in: https://www.paypal.com/signin",
                                              sender="service@paypal.com")),
        ]
        for label, data in cases:
            with self.subTest(label):
                url = self.scan(data, label)
                self.assertEqual(url["symbols"], {}, "%s: %s" % (label, url))

    def test_click_trackers_are_not_phishing(self):
        """Newsletters: text shows the shop, href goes through the mailer's tracker."""
        cases = [
            ("mailchimp", '<a href="https://shop.us1.list-manage.com/track/click?u=1&id=2">'
                          'www.shop.example</a>', "shop.us1.list-manage.com"),
            ("sendgrid", '<a href="https://u1.ct.sendgrid.net/ls/click?upn=abc">'
                         'https://news.example/today</a>', "u1.ct.sendgrid.net"),
            ("redirectors_add", '<a href="https://track.partner.example/c/1">'
                                'https://www.shop.example/</a>', "track.partner.example"),
        ]
        for label, html, host in cases:
            with self.subTest(label):
                url = self.scan(eml(html, "text/html"), label)
                self.assertNotIn("URL_PHISHING", url["symbols"], "%s: %s" % (label, url))
                self.assertIn("URL_REDIRECTOR", url["symbols"], "%s: %s" % (label, url))
                self.assertAlmostEqual(url["symbols"]["URL_REDIRECTOR"]["score"], 0.1)
                self.assertIn(host, url["symbols"]["URL_REDIRECTOR"]["info"])
        # A look-alike host name on someone else's domain is still phishing.
        url = self.scan(eml('<a href="http://click.evil.example/">www.mybank.example</a>',
                            "text/html"), "look-alike tracker")
        self.assertIn("URL_PHISHING", url["symbols"], url)
        self.assertNotIn("URL_REDIRECTOR", url["symbols"], url)

    def test_sender_own_tracker_is_not_phishing(self):
        """own_domain_trackers (default on): a tracker under the From: domain."""
        html = ('<a href="http://clickthru.online.example/Click?q=8c-x">www.buy.example</a>')
        url = self.scan(eml(html, "text/html", sender="zdnet@newsletter.online.example"),
                        "own tracker")
        self.assertNotIn("URL_PHISHING", url["symbols"], url)
        self.assertIn("URL_REDIRECTOR", url["symbols"], url)
        self.assertAlmostEqual(url["symbols"]["URL_REDIRECTOR"]["score"], 0.1)
        self.assertIn("clickthru.online.example (the From: domain's own)",
                      url["symbols"]["URL_REDIRECTOR"]["info"])
        # The same link from another domain is still phishing.
        url = self.scan(eml(html, "text/html", sender="news@other.example"), "foreign tracker")
        self.assertIn("URL_PHISHING", url["symbols"], url)
        # A phisher's own domain showing a configured brand's site: still phishing,
        # and the brand's login-page check still fires.
        url = self.scan(eml('<a href="https://login.evil.example/signin">www.paypal.com</a>',
                            "text/html", sender="service@evil.example", display="PayPal "),
                        "own domain showing a brand")
        self.assertIn("URL_PHISHING", url["symbols"], url)
        self.assertIn("URL_BRAND_MISMATCH", url["symbols"], url)
        # A bare IP never counts as the sender's own.
        url = self.scan(eml('<a href="http://192.0.2.7/x">www.mybank.example</a>', "text/html",
                            sender="x@[192.0.2.7]"), "ip sender")
        self.assertIn("URL_PHISHING", url["symbols"], url)

    def test_url_limit(self):
        body = " ".join("http://h%d.example/" % i for i in range(60))
        url = self.scan(eml(body), "limit")
        self.assertIn("URL_TOO_MANY", url["symbols"])
        self.assertEqual(url["fields"]["url_count"], 60)
        self.assertEqual(len(url["fields"]["urls"]), 20)

    def test_rspamd_messages(self):
        msgs = os.path.join(CORPUS, "rspamd-testdata", "messages")
        if not os.path.isdir(msgs):
            self.skipTest("corpus not found at %s (set SLUICE_CORPUS)" % msgs)
        cases = [  # rspamd's 114_phishing.robot and URL obfuscation cases
            ("phishing1.eml", "URL_PHISHING", True),
            ("phishing_same_label_cross_tld.eml", "URL_PHISHING", False),
            ("phishing_query_safe.eml", "URL_PHISHING", False),
            ("url_obfuscated_hxxp.eml", "URL_OBFUSCATED", True),
            ("url_suspect_numeric_ip.eml", "URL_NUMERIC_IP", True),
        ]
        for name, symbol, want in cases:
            with self.subTest(name):
                with open(os.path.join(msgs, name), "rb") as f:
                    url = self.scan(f.read(), name)
                self.assertEqual(symbol in url["symbols"], want, "%s: %s" % (name, url))


class UrlOwnTrackersOff(unittest.TestCase):
    """own_domain_trackers: false brings back URL_PHISHING for the sender's tracker."""

    def test_own_tracker_is_phishing_when_off(self):
        gw = Gateway("stages:\n  - name: mime\n    command: [sluice-stage-mime]\n"
                     "  - name: url\n    command: [sluice-stage-url]\n"
                     "    options: {own_domain_trackers: false}\n"
                     "graphs:\n  default:\n    content: [mime, url]\n", name="url-off")
        try:
            gw.start({"mime": 1, "url": 1}, timeout=60)
            path = gw.path("m.eml")
            with open(path, "wb") as f:
                f.write(eml('<a href="http://clickthru.online.example/Click?q=1">'
                            'www.buy.example</a>', "text/html",
                            sender="zdnet@newsletter.online.example"))
            rc, doc, err = gw.submit(path, timeout=120)
            self.assertEqual(rc, 0, "%s\n%s" % (err, gw.tail()))
            self.assertIn("URL_PHISHING", doc["verdicts"]["url"]["symbols"], doc)
        finally:
            gw.cleanup()


if __name__ == "__main__":
    main()
