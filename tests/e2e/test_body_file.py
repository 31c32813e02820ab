#!/usr/bin/python3
"""tests/e2e/test_body_file.py - a body handed over as a file, not through the sockets.

On one host a submitter may name a range of a file instead of sending the body
(broker/README.md, "Body by file"): smtpd does so with its spool file. The
broker holds the file open, gives the reference to C stages (they said
`body-file` in READY and map the range) and reads the bytes itself for every
other worker. These tests check what a user sees: every stage, C or Python,
mapped or in the frame, gets exactly the same bytes (same length, same CRC-32),
an EICAR inside the range is caught; a file unlinked after SUBMIT still
completes, because the broker holds it open and resends in the frame; a
reference that is malformed, points at nothing, past the end, outside
broker.body_file_dirs or through a symbolic link is refused with a reason; and
smtpd hands its spool file over, on first submission and when it submits
spooled mail again at start (the broker counts it; the spool is the default
body_file_dirs).
"""
import os
import smtplib
import sys
import time
import unittest
import zlib

import msgpack

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Client, Gateway, envelope, free_port, main, message  # noqa: E402
from smtpd_e2e import Smtpd, read_record, require, send_many, wait_for  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"

require("sluice", "sluice-broker", "sluice-stage-example", "sluice-stage-av-b",
        "sluice-stage-example-python", "sluice-smtpd")

GRAPH = """
stages:
  - name: ex-file
    command: [sluice-stage-example, --needs, body, --crc]
  - name: ex-inband
    command: [sluice-stage-example, --needs, body, --body-inband, --crc]
  - name: ex-py
    command: [sluice-stage-example-python, --needs, body]
  - name: av-b
    command: [sluice-stage-av-b]
    options: {rules: %s/stages/av-b/rules, reload_check: 0}
  - name: slow
    command: [sluice-stage-example, --sleep, "600"]
graphs:
  default:
    content: [[ex-file, ex-inband, ex-py, av-b]]
  slow:
    content: [slow, ex-file]
""" % SRC


def read(path):
    with open(path) as f:
        return f.read()


def submit_file(c, env, ref, body=b"", graph="default"):
    """SUBMIT with the body left in a file: REF is "OFFSET LENGTH PATH"."""
    req = str(c.next).encode()
    c.next += 1
    c.sock.send_multipart([b"SLC1", b"SUBMIT", req, graph.encode(), b"content",
                           msgpack.packb(env), body, ref.encode()])
    return req


def eicar_message():
    return (b"From: <a@example.net>\r\nTo: <b@example.com>\r\nSubject: file\r\n"
            b"Message-ID: <bodyfile@example.net>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n"
            b"\r\nBefore the test string.\r\n" + EICAR + b"\r\n" + b"padding line\r\n" * 400)


class BodyFile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(GRAPH, name="bodyfile", broker="body_file_dirs: [$DIR/files]")
        os.mkdir(cls.gw.path("files"))
        cls.gw.start({"ex-file": 1, "ex-inband": 1, "ex-py": 1, "av-b": 1, "slow": 1}, timeout=60)
        cls.c = Client(cls.gw.front)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.gw.cleanup()

    def write(self, name, data):
        path = self.gw.path(os.path.join("files", name))
        with open(path, "wb") as f:
            f.write(data)
        return path

    def result(self, timeout=20000):
        r = self.c.recv(timeout)
        self.assertIsNotNone(r, self.gw.tail())
        return r

    def test_ready_lines_say_who_maps(self):
        log = read(self.gw.log_path)
        self.assertRegex(log, r"worker ready stage=ex-file .*needs=body-file ")
        self.assertRegex(log, r"worker ready stage=av-b .*needs=body-file,parts ")
        self.assertRegex(log, r"worker ready stage=ex-inband .*needs=body ")
        self.assertRegex(log, r"worker ready stage=ex-py .*needs=body ")

    def test_a_range_reaches_every_stage_byte_for_byte(self):
        msg = eicar_message()
        head, tail = b"H" * 5000, b"T" * 777  # the range sits inside a larger file
        path = self.write("range.bin", head + msg + tail)
        before = self.gw.status()["body_files"]
        submit_file(self.c, envelope("bodyfile0001"), "%d %d %s" % (len(head), len(msg), path))
        r = self.result()
        self.assertEqual(r[1], "ok", r)
        v = r[2]["verdicts"]
        for stage in ("ex-file", "ex-inband", "ex-py"):
            self.assertNotIn("error", v[stage], v[stage])
            self.assertEqual(v[stage]["fields"]["body_bytes"], len(msg), (stage, v[stage]))
            self.assertEqual(v[stage]["fields"]["body_crc32"], zlib.crc32(msg), (stage, v[stage]))
        self.assertNotIn("error", v["av-b"], v["av-b"])
        self.assertGreaterEqual(v["av-b"]["fields"]["detections"], 1, v["av-b"])
        self.assertEqual(self.gw.status()["body_files"], before + 1)

    def test_unlinked_after_submit_still_completes(self):
        # The slow stage holds the message 600 ms; the file goes away meanwhile.
        msg = message("unlinked", size=20000)
        path = self.write("unlinked.eml", msg)
        submit_file(self.c, envelope("bodyfile0002"), "0 %d %s" % (len(msg), path),
                    graph="slow")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (self.gw.stage_status("slow") or {}).get(
                "in_flight") != 1:
            time.sleep(0.02)
        os.unlink(path)
        r = self.result()
        self.assertEqual(r[1], "ok", r)
        v = r[2]["verdicts"]["ex-file"]
        self.assertNotIn("error", v, v)
        self.assertEqual(v["fields"]["body_crc32"], zlib.crc32(msg), v)
        self.assertEqual(v["attempts"], 1, v)
        self.assertIn("resend=in-frame", self.gw.tail(400))

    def test_bad_references_are_refused_with_a_reason(self):
        msg = message("bad refs")
        path = self.write("ok.eml", msg)
        os.makedirs(self.gw.path("files/sub"), exist_ok=True)
        link = self.gw.path("files/link.eml")
        if not os.path.lexists(link):
            os.symlink(path, link)
        cases = [
            ("0 %d relative/path.eml" % len(msg), b"", "absolute path"),
            ("0 %d %s" % (len(msg), self.gw.path("files/missing.eml")), b"", "no such file"),
            ("0 %d %s" % (len(msg), self.gw.config), b"", "not inside broker.body_file_dirs"),
            ("0 %d /etc/passwd" % len(msg), b"", "not inside broker.body_file_dirs"),
            ("0 %d %s" % (len(msg), link), b"", "symbolic link"),
            ("0 %d %s" % (len(msg) + 1, path), b"", "past the end"),
            ("%d 1 %s" % (len(msg), path), b"", "past the end"),
            ("0 %d %s" % (len(msg), self.gw.path("files/sub")), b"", "not a regular file"),
            ("x 1 %s" % path, b"", "OFFSET LENGTH PATH"),
            ("0 %d %s/files/../sluice.yaml" % (len(msg), self.gw.dir), b"", '".."'),
            ("0 %d %s" % (len(msg), path), b"body too", "both given"),
            ("99999999999999999999 1 %s" % path, b"", "OFFSET LENGTH PATH"),
        ]
        for i, (ref, body, why) in enumerate(cases):
            submit_file(self.c, envelope("badref%04d" % i), ref, body=body)
            r = self.result()
            self.assertEqual(r[1], "error", (ref, r))
            self.assertIn(why, r[2], (ref, r))
        # and the broker goes on working
        submit_file(self.c, envelope("bodyfile0003"), "0 %d %s" % (len(msg), path))
        r = self.result()
        self.assertEqual(r[1], "ok", r)
        self.assertEqual(r[2]["verdicts"]["ex-file"]["fields"]["body_crc32"], zlib.crc32(msg))


class SmtpdHandsItsSpoolFile(unittest.TestCase):
    def send(self, broker=""):
        """A gateway with smtpd; four messages through it; (gateway, log text)."""
        port = free_port()
        gw = Gateway("""
stages:
  - name: ex-file
    command: [sluice-stage-example, --needs, body, --crc, --record, $DIR/seen]
  - name: ex-py
    command: [sluice-stage-example-python, --needs, body]
graphs:
  default:
    content: [[ex-file, ex-py]]
smtpd:
  listen: ["127.0.0.1:%d"]
  hostname: mx.test
  relay_domains: [example.com]
""" % port, name="bodyfile-smtpd", broker=broker)
        self.addCleanup(gw.cleanup)
        gw.start({"ex-file": 1, "ex-py": 1}, timeout=60)
        deadline = time.monotonic() + 20
        while True:
            try:
                s = smtplib.SMTP("127.0.0.1", port, timeout=10)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        with s:
            # three over broker.body_file_min (16k), one under it (goes in the frame)
            for i, size in enumerate((30000, 30000, 30000, 2000)):
                s.sendmail("a@example.net", ["b@example.com"],
                           message("smtpd %d" % i, size=size))
        seen = gw.path("seen")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(seen) and len(read(seen).split()) >= 4:
                break
            time.sleep(0.1)
        self.assertEqual(len(read(seen).split()), 4, gw.tail())
        return gw, read(gw.log_path)

    def test_smtpd_submits_the_spool_range(self):
        gw, log = self.send()
        self.assertEqual(gw.status()["body_files"], 3, gw.tail())
        self.assertNotIn("body file refused", log)
        self.assertNotIn("body sent in the frame", log)

    def test_no_body_file_dirs_means_bodies_in_the_frame(self):
        # the broker refuses the references already sent (1..3 of the three
        # large ones, as the refusals race the submits); smtpd resends each in
        # the frame and sends every later body so: nothing is lost
        gw, log = self.send(broker="body_file_dirs: []")
        self.assertEqual(gw.status()["body_files"], 0, gw.tail())
        self.assertIn(log.count("resend=in-frame"), (1, 2, 3), log)
        self.assertEqual(log.count("bodies go in the frame from now on"), 1, log)

    def test_resubmitted_spool_entries_go_by_file(self):
        # accepted with no broker running, then submitted again on start: the
        # resubmission knows the body's place from the file it loaded
        port = free_port()
        gw = Gateway("""
stages:
  - name: example
    command: [sluice-stage-example, --needs, body, --crc, --record, $DIR/record]
graphs:
  default:
    content: [example]
smtpd:
  listen: ["127.0.0.1:%d"]
  hostname: mx.test
  relay_domains: [example.com]
""" % port, name="bodyfile-resubmit")
        self.addCleanup(gw.cleanup)
        alone = Smtpd(folder=gw.dir, port=port, name="alone")
        self.addCleanup(alone.stop)
        alone.start()
        accepted, failed = send_many(port, 4, sessions=1, size=40000)
        self.assertEqual((len(accepted), failed), (4, 0))
        alone.stop()
        gw.start({"example": 1})
        self.assertTrue(wait_for(lambda: set(accepted) <= set(read_record(gw.path("record"))),
                                 30), gw.tail())
        self.assertEqual(gw.status()["body_files"], 4, gw.tail())
        self.assertNotIn("body sent in the frame", read(gw.log_path))


if __name__ == "__main__":
    main()
