#!/usr/bin/python3
"""tests/e2e/test_score.py - the score stage behind mime and url.

`sluice start` runs the graph [mime, url, score] with the shipped default
rules and weight overrides in the config; messages built here and the
SpamAssassin test messages from the corpus (SLUICE_CORPUS; skipped with a
message when absent) go in with `sluice submit`. The tests assert the rule
symbols, meta rules over the url stage's symbols, and that the envelope's
score is the sum of every stage's symbol weights with the overrides applied.
"""
import glob
import math
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, CORPUS, SOURCE, Gateway, main  # noqa: E402

CONFIG = """
stages:
  - name: mime
    command: [sluice-stage-mime]
    timeout: 30s
  - name: url
    command: [sluice-stage-url]
    timeout: 30s
  - name: score
    command: [sluice-stage-score]
    timeout: 30s
    capacity: 2
    options:
      rules: %(rules)s
      weights: {URL_PHISHING: 9, SC_CLICK_HERE: 0.25}
      bayes: {store: "sqlite:$DIR/bayes.db", autolearn_spam: 500}
graphs:
  default:
    content: [mime, url, score]
"""

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
WEIGHTS = {"URL_PHISHING": 9, "SC_CLICK_HERE": 0.25}


def eml(body, subject="hello", ctype="text/plain", extra=""):
    head = ("From: Someone <someone@sender.example>\r\nTo: <rcpt@example.com>\r\n"
            "Subject: %s\r\nMessage-ID: <%d@e2e.example>\r\n"
            "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n%sMIME-Version: 1.0\r\n"
            "Content-Type: %s; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            % (subject, abs(hash(body + subject)), extra, ctype))
    return head.encode() + body.encode("utf-8") + b"\r\n"


SPAM_WORDS = ["replica", "watches", "cheapest", "rolex", "discount", "shipping"]
HAM_WORDS = ["kernel", "patch", "compile", "mailing", "release", "debian"]


def bayes_msg(spam, i):
    w = SPAM_WORDS if spam else HAM_WORDS
    return eml("%s %s %s and %s item%d\r\n" % (w[i % 6], w[(i + 1) % 6], w[(i + 2) % 6],
                                              w[(i + 3) % 6], i), "%s %s" % (w[i % 6], w[(i + 4) % 6]))


def learn(gw):
    """Trains Bayes before the start with `sluice learn` :
    25 spam messages as a maildir, 25 ham as an mbox."""
    maildir = gw.path("spam")
    for sub in ("cur", "new"):
        os.makedirs(os.path.join(maildir, sub))
    with open(gw.path("ham.mbox"), "wb") as mbox:
        for i in range(25):
            with open(os.path.join(maildir, "new", "%d.eml" % i), "wb") as f:
                f.write(bayes_msg(True, i))
            mbox.write(b"From x@example.com Mon Nov 23 12:00:00 2026\n" + bayes_msg(False, i)
                       + b"\n")
    store = "sqlite:" + gw.path("bayes.db")
    cmd = [os.path.join(BIN, "sluice"), "learn"]
    for mode, path in (("--spam", maildir), ("--ham", gw.path("ham.mbox"))):
        r = subprocess.run(cmd + ["--store", store, mode, path], capture_output=True,
                           text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("sluice learn %s: %s" % (mode, r.stderr))
    r = subprocess.run(cmd + ["--store", store, "--stats"], capture_output=True, text=True,
                       timeout=60)
    if "spam 25\nham 25\n" not in r.stdout:
        raise AssertionError("sluice learn --stats: %s %s" % (r.stdout, r.stderr))


def setUpModule():
    for name in ("sluice-stage-score", "sluice", "sluice-stage-url",
                 "sluice-stage-mime"):
        if not os.path.exists(os.path.join(BIN, name)):
            raise unittest.SkipTest("%s not built (PCRE2/libpsl/libidn2/GMime missing)" % name)


class Score(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rules = os.path.join(SOURCE, "stages", "score", "rules")
        cls.gw = Gateway(CONFIG % {"rules": rules}, name="score")
        try:
            learn(cls.gw)
            cls.gw.start({"mime": 1, "url": 1, "score": 1}, timeout=60)
        except Exception:
            cls.gw.cleanup()
            raise
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()


    def scan(self, data, label):
        Score.n += 1
        path = self.gw.path("m%d.eml" % Score.n)
        with open(path, "wb") as f:
            f.write(data)
        rc, doc, err = self.gw.submit(path, timeout=120)
        self.assertEqual(rc, 0, "%s: %s\n%s" % (label, err, self.gw.tail()))
        score = doc["verdicts"]["score"]
        self.assertNotIn("error", score, "%s: %s" % (label, score))
        return doc

    def assert_sum(self, doc, label):
        """The envelope score is every symbol's weight, overrides applied."""
        total = 0.0
        for stage, v in doc["verdicts"].items():
            for name, sym in v["symbols"].items():
                total += sym["score"] if stage == "score" else WEIGHTS.get(name, sym["score"])
        self.assertAlmostEqual(doc["score"], total, places=3, msg="%s: %s" % (label, doc))

    def test_gtube(self):
        doc = self.scan(eml("test " + GTUBE + "\r\n"), "gtube")
        self.assertIn("SC_GTUBE", doc["verdicts"]["score"]["symbols"])
        self.assertGreaterEqual(doc["score"], 1000)
        self.assertEqual(doc["verdicts"]["score"]["fields"]["autolearn"], "spam")
        self.assert_sum(doc, "gtube")

    def test_phishing_lure_meta_and_overrides(self):
        body = ('<p>Dear customer, please verify your account today. Click here:</p>'
                '<a href="http://login.evil.example/x">https://www.mybank.example/</a>')
        doc = self.scan(eml(body, "URGENT: account suspended", "text/html"), "lure")
        url, score = doc["verdicts"]["url"], doc["verdicts"]["score"]
        self.assertIn("URL_PHISHING", url["symbols"])
        self.assertEqual(url["symbols"]["URL_PHISHING"]["score"], 5)  # the stage's own weight
        for sym in ("SC_VERIFY_ACCOUNT", "SC_SUBJ_URGENT", "SC_CLICK_HERE", "SC_PHISH_LURE"):
            self.assertIn(sym, score["symbols"], sym)
        self.assertEqual(score["symbols"]["SC_CLICK_HERE"]["score"], 0.25)  # weights: override
        self.assertIn("verify your account", score["symbols"]["SC_VERIFY_ACCOUNT"]["info"])
        self.assert_sum(doc, "lure")
        self.assertGreater(doc["score"], 15)

    def test_hidden_html_and_uri_rules(self):
        body = ('<div style="display:none">invisible</div>Get it: '
                '<a href="http://files.example.top/setup.exe">download</a>')
        doc = self.scan(eml(body, "files", "text/html"), "uri")
        syms = doc["verdicts"]["score"]["symbols"]
        for sym in ("SC_HTML_HIDDEN", "SC_URI_EXECUTABLE", "SC_URI_SUSPECT_TLD"):
            self.assertIn(sym, syms, "%s: %s" % (sym, syms))
        self.assert_sum(doc, "uri")

    def test_clean_message_scores_low(self):
        doc = self.scan(eml("Hi Ann,\r\n\r\nthe minutes of Tuesday's meeting are attached to "
                            "the wiki page. See you on Friday.\r\n\r\nBob\r\n", "Meeting notes",
                            extra="List-Id: <team.example.com>\r\n"),
                        "clean")
        self.assertLessEqual(doc["score"], 0.0, doc["verdicts"]["score"])
        self.assert_sum(doc, "clean")

    def test_bayes_after_learning(self):
        """bayes.weight: logodds (the default): one BAYES_LOGODDS symbol weighing
        2 x log10(p / (1 - p)) within [-6, +8]; no band symbols."""
        spam = self.scan(bayes_msg(True, 100), "bayes spam")
        ham = self.scan(bayes_msg(False, 100), "bayes ham")
        for doc, label in ((spam, "spam"), (ham, "ham")):
            score = doc["verdicts"]["score"]
            self.assertIn("BAYES_LOGODDS", score["symbols"], score)
            for band in ("BAYES_SPAM", "BAYES_PROBABLE_SPAM", "BAYES_HAM"):
                self.assertNotIn(band, score["symbols"], score)
            p = min(max(score["fields"]["bayes_p"], 1e-12), 1 - 1e-12)
            want = min(max(2 * math.log10(p / (1 - p)), -6), 8)
            self.assertAlmostEqual(score["symbols"]["BAYES_LOGODDS"]["score"], want, places=3,
                                   msg="%s: %s" % (label, score))
            self.assertIn("p=", score["symbols"]["BAYES_LOGODDS"]["info"])
            self.assert_sum(doc, "bayes " + label)
        self.assertGreater(spam["verdicts"]["score"]["fields"]["bayes_p"], 0.99)
        self.assertLess(ham["verdicts"]["score"]["fields"]["bayes_p"], 0.05)
        self.assertGreater(spam["verdicts"]["score"]["symbols"]["BAYES_LOGODDS"]["score"], 3.9)
        self.assertLess(ham["verdicts"]["score"]["symbols"]["BAYES_LOGODDS"]["score"], -2.5)

    def test_spamassassin_testdata(self):
        base = os.path.join(CORPUS, "spamassassin-testdata")
        if not os.path.isdir(base):
            self.skipTest("corpus not found at %s (set SLUICE_CORPUS)" % base)
        means = {}
        for label in ("spam", "nice"):
            files = sorted(f for f in glob.glob(os.path.join(base, label, "*")) if os.path.isfile(f))
            self.assertGreater(len(files), 20, label)
            scores = []
            for path in files:
                with open(path, "rb") as f:
                    doc = self.scan(f.read(), path)
                self.assert_sum(doc, path)
                scores.append(doc["score"])
            means[label] = sum(scores) / len(scores)
        print("  mean score: spam %.2f, nice %.2f" % (means["spam"], means["nice"]),
              file=sys.stderr)
        self.assertGreater(means["spam"], means["nice"] + 1.0, means)


class BayesBands(unittest.TestCase):
    """bayes.weight: bands, and a logodds scale/clamp of the operator's."""

    def run_with(self, bayes_opts, name):
        rules = os.path.join(SOURCE, "stages", "score", "rules")
        gw = Gateway((CONFIG % {"rules": rules}).replace("autolearn_spam: 500", bayes_opts),
                     name=name)
        try:
            learn(gw)
            gw.start({"mime": 1, "url": 1, "score": 1}, timeout=60)
            docs = []
            for i, spam in ((0, True), (1, False)):
                path = gw.path("m%d.eml" % i)
                with open(path, "wb") as f:
                    f.write(bayes_msg(spam, 100))
                rc, doc, err = gw.submit(path, timeout=120)
                self.assertEqual(rc, 0, "%s\n%s" % (err, gw.tail()))
                docs.append(doc["verdicts"]["score"])
            return docs
        finally:
            gw.cleanup()

    def test_bands(self):
        spam, ham = self.run_with("weight: bands", "score-bands")
        self.assertEqual(spam["symbols"]["BAYES_SPAM"]["score"], 5, spam)
        self.assertEqual(ham["symbols"]["BAYES_HAM"]["score"], -3, ham)
        self.assertNotIn("BAYES_LOGODDS", spam["symbols"], spam)

    def test_logodds_scale_and_clamp(self):
        spam, ham = self.run_with("weight: logodds, scale: 10, min: -2, max: 3",
                                 "score-clamp")
        self.assertAlmostEqual(spam["symbols"]["BAYES_LOGODDS"]["score"], 3, places=6, msg=spam)
        self.assertAlmostEqual(ham["symbols"]["BAYES_LOGODDS"]["score"], -2, places=6, msg=ham)


if __name__ == "__main__":
    main()
