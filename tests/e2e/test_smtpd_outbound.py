#!/usr/bin/python3
"""tests/e2e/test_smtpd_outbound.py - smtpd as the organisation's smarthost.

`sluice start` with smtpd.outbound_networks [127.0.0.2/32]: a client
connecting from 127.0.0.2 may send to any domain, its envelopes get
direction "out", and the connect and rcpt phases are skipped for it (the
phase stage, smtpd_phase_stage.py, would refuse "block..." recipients and
every connection while DIR/reject-connect exists). A client from 127.0.0.1
is an outside sender: relaying is refused with 550 5.7.1 and its mail is
"in". The content stage (smtpd_direction_stage.py) records each direction.
"""
import os
import socket
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main  # noqa: E402
from smtpd_e2e import Raw, free_port, require, slurp, started, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = """
stages:
  - name: phase
    command: [%(phase)s]
    timeout: 10s
  - name: direction
    command: [%(direction)s]
    timeout: 10s
graphs:
  default:
    connect: [phase]
    rcpt: [phase]
    content: [direction]
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.test
  relay_domains: [example.com]
  outbound_networks: [127.0.0.2/32, "2001:db8::/32"]
  phase_timeout: 2s
"""

require("sluice", "sluice-smtpd")


def connect(port, source):
    """A Raw client whose connection comes from SOURCE (any 127/8 address is local)."""
    r = Raw.__new__(Raw)
    r.sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                      source_address=(source, 0))
    r.buf = b""
    r.greeting = r.reply()
    return r


class Outbound(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        conf = CONFIG % {"port": cls.port, "phase": os.path.join(HERE, "smtpd_phase_stage.py"),
                         "direction": os.path.join(HERE, "smtpd_direction_stage.py")}
        cls.gw = started(Gateway(conf, name="outbound"), {"phase": 1, "direction": 1}, cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def send(self, source, mail_from, rcpts, expect_rcpt):
        r = connect(self.port, source)
        self.assertTrue(r.greeting.startswith("220 "), r.greeting)
        r.cmd("EHLO client.test")
        self.assertTrue(r.cmd("MAIL FROM:<%s>" % mail_from).startswith("250"))
        for rcpt, want in zip(rcpts, expect_rcpt):
            got = r.cmd("RCPT TO:<%s>" % rcpt)
            self.assertTrue(got.startswith(want), "%s from %s: %s" % (rcpt, source, got))
        if not any(w.startswith("250") for w in expect_rcpt):
            r.cmd("QUIT")
            return None
        self.assertTrue(r.cmd("DATA").startswith("354"))
        reply = r.cmd("From: <%s>\r\nTo: <%s>\r\nSubject: hi\r\n\r\nhello\r\n." % (mail_from,
                                                                                  rcpts[0]))
        self.assertTrue(reply.startswith("250 2.0.0 Ok: queued as "), reply)
        r.cmd("QUIT")
        return reply.split()[-1]

    def direction(self, qid):
        path = self.gw.path("directions")
        ok = wait_for(lambda: (qid + " ") in slurp(path), 20)
        self.assertTrue(ok, "%s never reached the content stage\n%s" % (qid, self.gw.tail()))
        for line in slurp(path).splitlines():
            if line.startswith(qid + " "):
                return line.split()[1]
        return None

    def test_outbound_relays_anywhere(self):
        qid = self.send("127.0.0.2", "alice@example.com", ["bob@partner.example"], ["250 2.1.5"])
        self.assertEqual(self.direction(qid), "out")

    def test_inbound_relay_refused(self):
        self.send("127.0.0.1", "mallory@evil.example", ["bob@partner.example"], ["550 5.7.1"])
        self.assertIn("relay access denied", self.gw.tail(200))
        qid = self.send("127.0.0.1", "bob@partner.example", ["alice@example.com"], ["250 2.1.5"])
        self.assertEqual(self.direction(qid), "in")

    def test_outbound_skips_phases(self):
        # The rcpt phase refuses "block..." recipients for outside senders only.
        self.send("127.0.0.1", "x@partner.example", ["blocked@example.com"], ["550 5.7.1"])
        qid = self.send("127.0.0.2", "alice@example.com", ["blocked@example.com",
                                                           "carol@elsewhere.example"],
                        ["250 2.1.5", "250 2.1.5"])
        self.assertEqual(self.direction(qid), "out")
        # The connect phase refuses every outside client while the flag exists.
        flag = self.gw.path("reject-connect")
        open(flag, "w").close()
        try:
            r = connect(self.port, "127.0.0.1")
            self.assertTrue(r.greeting.startswith("554 5.7.1"), r.greeting)
            r = connect(self.port, "127.0.0.2")
            self.assertTrue(r.greeting.startswith("220 "), r.greeting)
            r.cmd("QUIT")
        finally:
            os.unlink(flag)


if __name__ == "__main__":
    main()
