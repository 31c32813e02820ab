"""tests/e2e/test_smtpd_phases.py - connect and rcpt phases during the SMTP dialogue.

A Python stage (smtpd_phase_stage.py) serves the graph's connect and rcpt
phases and answers with the verdict field smtp_reply; smtpd must turn it into
554 at connect and 550/451 at RCPT, and fail open (logged) when the stage is
too slow. The content phase runs the C example stage, which records queue ids.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main  # noqa: E402
from smtpd_e2e import Raw, free_port, read_record, require, slurp, started, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIG = """
stages:
  - name: phase
    command: [%(stage)s]
    timeout: 10s
  - name: example
    command: [sluice-stage-example, --record, $DIR/record]
graphs:
  default:
    connect: [phase]
    rcpt: [phase]
    content: [example]
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.test
  relay_domains: [example.com]
  phase_timeout: 1s
"""


require("sluice", "sluice-smtpd", "sluice-stage-example")


class Phases(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        stage = os.path.join(HERE, "smtpd_phase_stage.py")
        cls.gw = started(Gateway(CONFIG % {"port": cls.port, "stage": stage}, name="phases"),
                         {"phase": 1, "example": 1}, cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def test_rcpt_phase(self):
        r = Raw(self.port)
        self.assertTrue(r.greeting.startswith("220 "), r.greeting)
        r.cmd("EHLO phase.test")
        r.cmd("MAIL FROM:<a@b.test>")
        self.assertEqual(r.cmd("RCPT TO:<blocked@example.com>"), "550 5.7.1 Recipient blocked by test")
        self.assertEqual(r.cmd("RCPT TO:<grey@example.com>"),
                         "451 4.7.1 Greylisted by test, try again later")
        self.assertEqual(r.cmd("RCPT TO:<fine@example.com>"), "250 2.1.5 Ok")
        # pipelined: the replies keep their order across the asynchronous lookups
        r.send(b"RCPT TO:<block2@example.com>\r\nRCPT TO:<ok2@example.com>\r\nDATA\r\n")
        self.assertEqual(r.reply(), "550 5.7.1 Recipient blocked by test")
        self.assertEqual(r.reply(), "250 2.1.5 Ok")
        self.assertTrue(r.reply().startswith("354"))
        r.send(b"Subject: phases\r\n\r\nx\r\n.\r\n")
        qid = r.reply().split()[-1]
        self.assertTrue(wait_for(lambda: qid in read_record(self.gw.path("record")), 20))
        log = slurp(self.gw.log_path)
        self.assertIn('reason="rcpt phase" stage=phase to=<blocked@example.com>', log)

    def test_rcpt_phase_timeout_fails_open(self):
        r = Raw(self.port)
        r.cmd("EHLO phase.test")
        r.cmd("MAIL FROM:<a@b.test>")
        self.assertEqual(r.cmd("RCPT TO:<slow@example.com>"), "250 2.1.5 Ok")
        self.assertTrue(wait_for(lambda: "phase timeout client=127.0.0.1 phase=rcpt action=fail-open"
                                 in slurp(self.gw.log_path), 5))

    def test_connect_phase_reject(self):
        flag = self.gw.path("reject-connect")
        open(flag, "w").close()
        try:
            r = Raw(self.port, greet=False)
            self.assertEqual(r.reply(), "554 5.7.1 Service unavailable; client listed by test")
            self.assertTrue(r.closed())
        finally:
            os.unlink(flag)
        r = Raw(self.port)
        self.assertTrue(r.greeting.startswith("220 mx.test"), r.greeting)
        self.assertIn('cmd=CONNECT reply="554" reason="connect phase"', slurp(self.gw.log_path))


if __name__ == "__main__":
    main()
