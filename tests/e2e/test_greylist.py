#!/usr/bin/python3
"""tests/e2e/test_greylist.py - the greylist stage with the real gateway, rcpt phase.

Two gateways (`sluice start` each: broker + greylist workers) share one
SQLite store, as two smtpd hosts would; the first runs two greylist workers.
Rcpt-phase envelopes (one recipient each) go in over the client protocol;
the tests assert on the verdict: 451 fields on the first attempt, a pass after
the (2 s) delay, at once for an auto-allowed network, bypasses (SPF through
tests/dns/dnsserver.py), and that a triplet deferred through one gateway
passes through the other.
"""
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import BIN, SOURCE, Client, Gateway, envelope, main  # noqa: E402

sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from dnsserver import DnsServer  # noqa: E402

ZONE = """
spf.example        TXT "v=spf1 ip4:198.18.0.0/16 -all"
nohistory.example  TXT "v=spf1 ip4:198.18.0.0/16 -all"
"""

CONFIG = """
dns:
  forward: ["%(forward)s"]
stages:
  - name: greylist
    command: [sluice-stage-greylist]
    workers: %(workers)d
    capacity: 2
    timeout: 5s
    options:
      delay: 2s
      retry_window: 1h
      auto_allow: 2
      store: "sqlite:%(store)s"
      allow: [198.51.100.0/24]
      providers: ["2001:db8:feed::/48"]
      optout_domains: [optout.example]
      optout_mailboxes: [postmaster@example.com]
graphs:
  default:
    rcpt: [greylist]
"""


def setUpModule():
    if not os.path.exists(os.path.join(BIN, "sluice-stage-greylist")):
        raise unittest.SkipTest("sluice-stage-greylist not built")


class Greylist(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gws, cls.clients = [], []
        cls.store_dir = tempfile.mkdtemp(prefix="sluice-e2e-greystore-")
        store = os.path.join(cls.store_dir, "greylist.db")
        cls.dns = DnsServer(ZONE).start()
        conf = {"store": store, "forward": cls.dns.forward}
        first = Gateway(CONFIG % dict(conf, workers=2), name="grey1")
        second = Gateway(CONFIG % dict(conf, workers=1), name="grey2")
        try:
            for gw, n in ((first, 2), (second, 1)):
                cls.gws.append(gw)
                gw.start({"greylist": n})
                cls.clients.append(Client(gw.front))
        except Exception:
            for gw in cls.gws:
                gw.cleanup()
            cls.dns.cleanup()
            shutil.rmtree(cls.store_dir, ignore_errors=True)
            raise
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        for c in cls.clients:
            c.close()
        for gw in cls.gws:
            gw.cleanup()
        cls.dns.cleanup()
        shutil.rmtree(cls.store_dir, ignore_errors=True)

    def rcpt(self, ip, sender, rcpt, gw=0, **extra):
        """The greylist verdict for one RCPT through gateway GW."""
        Greylist.n += 1
        env = envelope("grey%06d" % Greylist.n, mail_from=sender, rcpts=(rcpt,))
        env["client"]["ip"] = ip
        for key, value in extra.items():
            if key == "auth_user":
                env["client"]["auth_user"] = value
            else:
                env[key] = value
        client = self.clients[gw]
        req = client.submit(env, phase="rcpt")
        got = client.recv(10000)
        self.assertIsNotNone(got, self.gws[gw].tail())
        self.assertEqual(got[0], req)
        self.assertEqual(got[1], "ok", got[2])
        v = got[2]["verdicts"]["greylist"]
        self.assertNotIn("error", v, v)
        return v

    def assertDeferred(self, v, max_wait):
        f = v["fields"]
        self.assertEqual(f["greylist"], "defer", v)
        self.assertEqual(f["smtp_code"], 451)
        self.assertTrue(1 <= f["retry_in"] <= max_wait, f)
        self.assertEqual(f["smtp_text"], "4.7.1 Greylisted, try again in %d seconds"
                         % f["retry_in"])
        self.assertEqual(f["smtp_reply"], "451 " + f["smtp_text"])
        self.assertEqual(v["result"]["classification"], "tempfail")

    def assertPassed(self, v, how):
        self.assertEqual(v["fields"]["greylist"], how, v)
        self.assertNotIn("smtp_code", v["fields"])
        self.assertNotIn("classification", v.get("result", {}))

    def test_defer_then_pass_after_delay(self):
        v = self.rcpt("192.0.2.10", "alice@sender.example", "bob@example.com")
        self.assertDeferred(v, 2)
        self.assertEqual(v["fields"]["network"], "192.0.2.0/24")
        self.assertDeferred(self.rcpt("192.0.2.10", "alice@sender.example", "bob@example.com"), 2)
        time.sleep(2.2)
        # the retry comes from another address of the same /24, in other case
        self.assertPassed(self.rcpt("192.0.2.11", "Alice@Sender.example", "bob@example.com"),
                          "pass")
        self.assertPassed(self.rcpt("192.0.2.10", "alice@sender.example", "bob@example.com"),
                          "known")
        # another recipient is another triplet
        self.assertDeferred(self.rcpt("192.0.2.10", "alice@sender.example", "carol@example.com"), 2)

    def test_auto_allowed_client_passes_at_once(self):
        for rcpt in ("r1@example.com", "r2@example.com"):
            self.assertDeferred(self.rcpt("203.0.113.5", "s@sender.example", rcpt), 2)
        time.sleep(2.2)
        for rcpt in ("r1@example.com", "r2@example.com"):
            self.assertPassed(self.rcpt("203.0.113.5", "s@sender.example", rcpt), "pass")
        # two passed triplets (auto_allow: 2): the /24 is known good
        self.assertPassed(self.rcpt("203.0.113.77", "new@other.example", "x@example.com"),
                          "auto-allow")
        self.assertPassed(self.rcpt("203.0.113.77", "new@other.example", "x@example.com", gw=1),
                          "auto-allow")

    def rcpt_many(self, triplets, gw):
        """Verdicts for several RCPTs submitted at once (so both workers get some)."""
        client, reqs = self.clients[gw], {}
        for ip, sender, rcpt in triplets:
            Greylist.n += 1
            env = envelope("grey%06d" % Greylist.n, mail_from=sender, rcpts=(rcpt,))
            env["client"]["ip"] = ip
            reqs[client.submit(env, phase="rcpt")] = (ip, sender, rcpt)
        out = {}
        for _ in triplets:
            got = client.recv(10000)
            self.assertIsNotNone(got, self.gws[gw].tail())
            self.assertEqual(got[1], "ok", got[2])
            out[reqs[got[0]]] = got[2]["verdicts"]["greylist"]
        return out

    def test_two_gateways_share_one_store(self):
        triplets = [("100.64.%d.1" % i, "w%d@s.example" % i, "shared@example.com")
                    for i in range(8)]
        workers = {0: set(), 1: set()}
        first = self.rcpt_many(triplets[:6], 0)
        first.update(self.rcpt_many(triplets[6:], 1))
        for t in triplets:
            self.assertDeferred(first[t], 2)
        for gw, part in ((0, triplets[:6]), (1, triplets[6:])):
            workers[gw].update(first[t]["worker"] for t in part)
        time.sleep(2.2)
        # each retry goes through the other gateway
        second = self.rcpt_many(triplets[6:], 0)
        second.update(self.rcpt_many(triplets[:6], 1))
        for t in triplets:
            self.assertIn(second[t]["fields"]["greylist"], ("pass", "known", "auto-allow"),
                          second[t])
        self.assertEqual(len(workers[0]), 2, workers)  # both workers of the first gateway
        self.assertEqual(len(workers[1]), 1, workers)

    def test_ipv6_network(self):
        v = self.rcpt("2001:db8:1:2::25", "v6@s.example", "v6@example.com")
        self.assertDeferred(v, 2)
        self.assertEqual(v["fields"]["network"], "2001:db8:1:2::/64")

    def test_bypasses(self):
        cases = [
            ("authenticated", dict(ip="192.0.2.50", auth_user="alice")),
            ("allow", dict(ip="198.51.100.9")),
            ("provider", dict(ip="2001:db8:feed:1::9")),
            ("optout", dict(ip="192.0.2.51", rcpt="anyone@OptOut.example")),
            ("optout", dict(ip="192.0.2.52", rcpt="postmaster@example.com")),
            ("dnswl", dict(ip="192.0.2.53", verdicts={"rbl": {"fields": {"allowed": ["wl.example"]}}})),
        ]
        for reason, c in cases:
            extra = {k: v for k, v in c.items() if k not in ("ip", "rcpt")}
            v = self.rcpt(c["ip"], "b@s.example", c.get("rcpt", "by@example.com"), **extra)
            self.assertEqual(v["fields"]["greylist"], "bypass", (reason, v))
            self.assertEqual(v["fields"]["reason"], reason)
        # an rbl verdict without allow listings is no bypass
        v = self.rcpt("192.0.2.54", "b@s.example", "by@example.com",
                      verdicts={"rbl": {"fields": {"allowed": []}}})
        self.assertDeferred(v, 2)

    def test_spf_pass_with_domain_history(self):
        # three passed triplets of spf.example (spf_history: 3 by default), from
        # three networks (one pass each: none is auto-allowed)
        triplets = [("198.18.%d.1" % i, "h%d@spf.example" % i, "spf%d@example.com" % i)
                    for i in (1, 2, 3)]
        for t in triplets:
            self.assertDeferred(self.rcpt(*t), 2)
        # SPF passes, but two passes are no history yet
        self.assertDeferred(self.rcpt("198.18.9.1", "n@spf.example", "new@example.com"), 2)
        time.sleep(2.2)
        for i, t in enumerate(triplets):
            self.assertPassed(self.rcpt(*t, gw=i % 2), "pass")
            if i < 2:  # not yet three
                self.assertDeferred(self.rcpt("198.18.9.2", "m%d@spf.example" % i,
                                              "new@example.com"), 2)
        # a new network, sender and recipient of the domain with an SPF pass: at once
        for gw in (0, 1):
            v = self.rcpt("198.18.9.3", "other@SPF.example", "x%d@example.com" % gw, gw=gw)
            self.assertEqual(v["fields"]["greylist"], "bypass", v)
            self.assertEqual(v["fields"]["reason"], "spf")
        # SPF fail (-all), SPF pass without history, no SPF record at all
        self.assertDeferred(self.rcpt("100.99.0.1", "other@spf.example", "y@example.com"), 2)
        self.assertDeferred(self.rcpt("198.18.9.3", "a@nohistory.example", "y@example.com"), 2)
        self.assertDeferred(self.rcpt("198.18.9.3", "a@norecord.example", "y@example.com"), 2)


if __name__ == "__main__":
    main()
