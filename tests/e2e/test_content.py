#!/usr/bin/python3
"""tests/e2e/test_content.py - the mime, av-a (ClamAV) and av-b (YARA) stages end to end.

`sluice start` runs the graph [mime, [av-a, av-b]] with the shipped signatures
and rules (copied into the test's folder so reloads can change them);
messages built at test time (tests/e2e/content_msgs.py: EICAR variants,
bombs, banned files) and the third-party corpus under SLUICE_CORPUS go in;
the tests assert symbols, part paths, class hints, limits and bounded time.
Tests that need the corpus skip with a message when it is absent.
"""
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import content_msgs as cm  # noqa: E402
from sluice_e2e import BIN, CORPUS, SOURCE, Client, Gateway, envelope, main  # noqa: E402

GRAPH = """
stages:
  - name: mime
    command: [sluice-stage-mime]
    timeout: 30s
    capacity: 2
  - name: av-a
    command: [sluice-stage-av-a]
    timeout: 30s
    capacity: 2
    options:
      sigs: $DIR/sigs
      reload_check: 200ms
  - name: av-b
    command: [sluice-stage-av-b]
    timeout: 30s
    capacity: 2
    options:
      rules: $DIR/rules
      reload_check: 200ms
graphs:
  default:
    content: [mime, [av-a, av-b]]
"""
WORKERS = {"mime": 1, "av-a": 1, "av-b": 1}


def have_stages():
    return all(os.path.exists(os.path.join(BIN, "sluice-stage-" + s)) for s in WORKERS)


@unittest.skipUnless(have_stages(), "content stages not built (libgmime/libclamav/libyara missing)")
class ContentTest(unittest.TestCase):
    gw = None

    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(GRAPH, name="content")
        shutil.copytree(os.path.join(SOURCE, "stages", "av-a", "sigs"), cls.gw.path("sigs"))
        shutil.copytree(os.path.join(SOURCE, "stages", "av-b", "rules"), cls.gw.path("rules"))
        try:
            cls.gw.start(WORKERS, timeout=60)
        except Exception:
            cls.gw.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def submit(self, data, label="m"):
        path = self.gw.path("%s.eml" % label.replace(" ", "_").replace("/", "_"))
        with open(path, "wb") as f:
            f.write(data)
        t0 = time.monotonic()
        rc, doc, err = self.gw.submit(path, timeout=120)
        self.assertEqual(rc, 0, "%s: %s\n%s" % (label, err, self.gw.tail()))
        v = doc["verdicts"]
        for name in WORKERS:
            self.assertIn(name, v, label)
            self.assertNotIn("error", v[name], "%s: %s" % (label, v[name]))
        return v, time.monotonic() - t0

    def test_eicar_caught_by_both_engines_with_part_path(self):
        for label, (data, where) in cm.eicar_variants().items():
            with self.subTest(label):
                v, _ = self.submit(data, label)
                for stage, sym in (("av-a", "AV_A_VIRUS"), ("av-b", "AV_B_YARA_MATCH")):
                    self.assertIn(sym, v[stage]["symbols"], "%s %s: %s" % (label, stage, v[stage]))
                    self.assertEqual(v[stage]["fields"]["class_hint"], "virus")
                    parts = [h["part"] for h in v[stage]["fields"]["viruses"]]
                    self.assertTrue(any(p.endswith(where) for p in parts),
                                    "%s %s: no hit in a part ending %r: %s" % (label, stage,
                                                                               where, parts))

    def test_clean_message_is_clean(self):
        v, _ = self.submit(cm.with_attachment("clean", "notes.txt", b"nothing to see\n",
                                              "text/plain"), "clean")
        for stage in WORKERS:
            self.assertNotIn("class_hint", v[stage]["fields"], stage)
        self.assertEqual(v["mime"]["fields"]["parts_found"], 2)
        self.assertEqual(v["av-a"]["fields"]["objects"], 3)  # raw message + 2 parts
        self.assertEqual(v["av-b"]["fields"]["detections"], 0)

    def test_limits_stop_bombs_in_bounded_time(self):
        cases = {
            "42-style zip bomb": (cm.zip_bomb(), "compression ratio"),
            "1000-level multipart": (cm.nested_multipart(1000), "nesting over depth_max"),
            "100000 empty members": (cm.many_members(100000), "archive_members_max"),
        }
        for label, (data, why) in cases.items():
            with self.subTest(label):
                v, seconds = self.submit(data, label)
                mime = v["mime"]
                self.assertIn("MIME_UNSCANNABLE", mime["symbols"], "%s: %s" % (label, mime))
                self.assertIn(why, mime["symbols"]["MIME_UNSCANNABLE"]["info"])
                self.assertEqual(mime["fields"]["class_hint"], "banned")
                self.assertLess(mime["fields"]["decoded_bytes"], 256 << 20)
                self.assertLess(seconds, 60, label)
                print("  %-22s %5.2fs mime %.0fms av-a %.0fms av-b %.0fms: %s" % (
                    label, seconds, mime["ms"], v["av-a"]["ms"], v["av-b"]["ms"],
                    mime["symbols"]["MIME_UNSCANNABLE"]["info"][:80]), file=sys.stderr)

    def test_banned_files_per_default_policy(self):
        for label, (data, symbol) in cm.policy_cases().items():
            with self.subTest(label):
                v, _ = self.submit(data, label)
                mime = v["mime"]
                banned = [s for s in mime["symbols"] if s.startswith("MIME_BANNED")]
                if symbol is None:
                    self.assertEqual(banned, [], "%s: %s" % (label, mime["symbols"]))
                    self.assertNotIn("class_hint", mime["fields"], label)
                    for stage in ("av-a", "av-b"):
                        self.assertEqual(v[stage]["fields"]["detections"], 0, (label, stage))
                else:
                    self.assertIn(symbol, banned, "%s: %s" % (label, mime["symbols"]))
                    self.assertEqual(mime["fields"]["class_hint"], "banned")
        # The auto-run macro is also what av-b's shipped rule looks for.
        v, _ = self.submit(cm.policy_cases()["docm with AutoOpen"][0], "docm-yara")
        self.assertIn("AV_B_YARA_MATCH", v["av-b"]["symbols"])

    def test_parts_metadata_in_envelope(self):
        data, _ = cm.eicar_variants()["zip in zip in rfc822"]
        path = self.gw.path("meta.eml")
        with open(path, "wb") as f:
            f.write(data)
        rc, doc, err = self.gw.submit(path)
        self.assertEqual(rc, 0, err)
        parts = doc.get("parts", [])
        self.assertTrue(parts, doc.keys())
        last = [p for p in parts if p["path"].endswith("zip:eicar.com")]
        self.assertEqual(len(last), 1, [p["path"] for p in parts])
        p = last[0]
        self.assertEqual(p["size"], 68)
        self.assertEqual(p["name"], "eicar.com")
        self.assertTrue(p["member"])
        self.assertEqual(len(p["sha256"]), 64)
        for key in ("declared_type", "true_type", "depth"):
            self.assertIn(key, p)

    def test_clamav_testfiles_detected(self):
        tarball = os.path.join(CORPUS, "clamav-testfiles", "clamav-testfiles.tar.xz")
        if not os.path.exists(tarball):
            self.skipTest("corpus absent: %s (set SLUICE_CORPUS)" % tarball)
        work = tempfile.mkdtemp(prefix="sluice-ctf-")
        self.addCleanup(shutil.rmtree, work, True)
        with tarfile.open(tarball) as t:
            t.extractall(work)
        files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(work) for f in fs)
        missed, rows = [], []
        for f in files:
            with open(f, "rb") as fh:
                data = fh.read()
            v, _ = self.submit(cm.with_attachment("ctf", os.path.basename(f), data), "ctf")
            a = v["av-a"]
            names = sorted({h["name"] for h in a["fields"].get("viruses", [])})
            rows.append((os.path.basename(f), "AV_A_VIRUS" in a["symbols"], ",".join(names),
                         "AV_B_YARA_MATCH" in v["av-b"]["symbols"],
                         v["mime"]["fields"]["parts_found"]))
            if "AV_A_VIRUS" not in a["symbols"]:
                missed.append(os.path.basename(f))
        print("\n  clamav-testfiles: %d files, av-a detected %d" % (len(files),
                                                                    len(files) - len(missed)),
              file=sys.stderr)
        for r in rows:
            print("  %-26s av-a=%-5s %-40s av-b=%-5s parts=%d" % r, file=sys.stderr)
        self.assertEqual(missed, [], "av-a missed %d of %d" % (len(missed), len(files)))


@unittest.skipUnless(have_stages(), "content stages not built")
class ReloadTest(unittest.TestCase):
    def test_clean_cache_option(self):
        sigs = os.path.join(SOURCE, "stages", "av-a", "sigs")
        stage = os.path.join(BIN, "sluice-stage-av-a")
        r = subprocess.run([stage, "--check", "--sigs", sigs, "--cache", "false"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = subprocess.run([stage, "--check", "--sigs", sigs, "--cache", "perhaps"],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("cache: expected true or false", r.stderr)

    def test_reload_under_load_loses_nothing(self):
        gw = Gateway(GRAPH, name="reload")
        self.addCleanup(gw.cleanup)
        shutil.copytree(os.path.join(SOURCE, "stages", "av-a", "sigs"), gw.path("sigs"))
        shutil.copytree(os.path.join(SOURCE, "stages", "av-b", "rules"), gw.path("rules"))
        gw.start(WORKERS, timeout=60)
        marker = b"SLUICE-RELOAD-MARKER-%d" % time.time_ns()
        probe = cm.with_attachment("probe", "probe.bin", marker + b"\n")
        path = gw.path("probe.eml")
        with open(path, "wb") as f:
            f.write(probe)
        # scanned clean first: libclamav's clean-object cache (on by default) must not
        # keep it clean once the new signature is loaded
        rc, doc, err = gw.submit(path)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("AV_A_VIRUS", doc["verdicts"]["av-a"]["symbols"])
        c = Client(gw.front)
        self.addCleanup(c.close)
        total, done, versions = 500, {}, set()
        body = cm.with_attachment("load", "notes.txt", b"ordinary text\n" * 50, "text/plain")
        for i in range(total):
            c.submit(envelope("reload%04d" % i), body)
            if i == 100:
                # New signature and rule while 400 more go in and the first are in flight.
                with open(gw.path("sigs/reload.ndb"), "w") as f:
                    f.write("Sluice.Test.Reload:0:*:%s\n" % marker.hex())
                with open(gw.path("rules/reload.yar"), "w") as f:
                    f.write('rule Sluice_Reload { strings: $m = "%s" condition: $m }\n'
                            % marker.decode())
        deadline = time.monotonic() + 120
        while len(done) < total and time.monotonic() < deadline:
            r = c.recv(10000)
            if r is None:
                continue
            req, status, env = r
            self.assertEqual(status, "ok", env)
            for stage in WORKERS:
                self.assertNotIn("error", env["verdicts"][stage], env["verdicts"][stage])
            versions.add((env["verdicts"]["av-a"].get("rules_version"),
                          env["verdicts"]["av-b"].get("rules_version")))
            done[req] = 1
        self.assertEqual(len(done), total, "lost %d messages\n%s" % (total - len(done), gw.tail()))
        deadline = time.monotonic() + 15
        while True:
            rc, doc, err = gw.submit(path)
            self.assertEqual(rc, 0, err)
            v = doc["verdicts"]
            a = "AV_A_VIRUS" in v["av-a"]["symbols"]
            b = "AV_B_YARA_MATCH" in v["av-b"]["symbols"]
            if (a and b) or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        self.assertTrue(a, v["av-a"])
        self.assertTrue(b, v["av-b"])
        print("\n  reload: %d/%d answered, rules versions seen: %s" % (len(done), total,
                                                                     sorted(versions)),
              file=sys.stderr)


class CorpusTableTest(unittest.TestCase):
    """Every MIME and torture message of the corpus through sluice-mime-scan (ASan in
    the Asan build): no crash, no leak, within limits; prints parts found per folder."""

    def test_mime_corpus_parses(self):
        tool = os.path.join(BIN, "sluice-mime-scan")
        if not os.path.exists(tool):
            self.skipTest("sluice-mime-scan not built")
        roots = [os.path.join(CORPUS, d) for d in ("mime", "rspamd-testdata/messages",
                                                   "spamassassin-testdata")]
        if not os.path.isdir(roots[0]):
            self.skipTest("corpus absent: %s (set SLUICE_CORPUS)" % roots[0])
        files = sorted(os.path.join(dp, f) for r in roots if os.path.isdir(r)
                       for dp, _, fs in os.walk(r) for f in fs
                       if not f.endswith((".json", ".md", ".tsv", ".csv", ".pub", ".key")))
        table = {}
        for i in range(0, len(files), 50):
            batch = files[i:i + 50]
            r = subprocess.run([tool] + batch, capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr[-3000:])
            self.assertNotIn("ERROR: AddressSanitizer", r.stderr)
            for line in r.stdout.splitlines():
                name, rest = line.split(" parts=", 1)
                kv = dict(x.split("=", 1) for x in ("parts=" + rest).split())
                folder = os.path.relpath(os.path.dirname(name), CORPUS)
                t = table.setdefault(folder, [0, 0, 0, 0, 0.0, 0])
                t[0] += 1
                t[1] += int(kv["parts"])
                t[2] = max(t[2], int(kv["depth"]))
                t[3] += int(kv["limits"])
                t[4] = max(t[4], float(kv["ms"]))
                t[5] += int(kv["class"] != "none")
                self.assertLess(float(kv["ms"]), 20000, name)
        print("\n  %-45s %6s %6s %5s %6s %8s %6s" % ("folder", "files", "parts", "depth",
                                                     "limits", "max ms", "class"),
              file=sys.stderr)
        for folder in sorted(table):
            t = table[folder]
            print("  %-45s %6d %6d %5d %6d %8.1f %6d" % (folder, *t), file=sys.stderr)
        self.assertGreater(sum(t[0] for t in table.values()), 100)


if __name__ == "__main__":
    main()
