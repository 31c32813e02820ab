#!/usr/bin/python3
"""tests/e2e/test_cli.py - the `sluice` command as an operator meets it.

check-config explains mistakes with file:line; the example config is valid,
each stage's own options included (every Sluice C stage runs its set-up once
with --check); status and submit say clearly when no gateway is running.
"""
import os
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import SOURCE, main, sluice  # noqa: E402


class CliTest(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def example(self, edit=lambda text: text):
        """etc/sluice.yaml with its data and run folders in a temporary one."""
        d = tempfile.mkdtemp(prefix="sluice-cli-")
        self.addCleanup(shutil.rmtree, d, ignore_errors=True)
        with open(os.path.join(SOURCE, "etc", "sluice.yaml")) as f:
            text = f.read().replace("/var/lib/sluice", d + "/data").replace("/run/sluice", d + "/run")
        return self.write(edit(text))

    def test_example_config_is_valid(self):
        r = sluice("check-config", self.example(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("ok", r.stdout)
        # the stages' own set-up ran: signatures, rules and stores loaded
        for stage in ("rbl", "mime", "av-a", "av-b", "headers", "action"):
            self.assertIn("stage %s: ok" % stage, r.stdout)

    def test_stage_options_are_checked(self):
        path = self.example(lambda text: text.replace(
            "    command: sluice-stage-av-b\n",
            "    command: sluice-stage-av-b\n    options: {rules_dir: /nowhere}\n", 1))
        r = sluice("check-config", path, timeout=300)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("rules_dir", r.stderr)                      # the stage names the key
        self.assertIn("stage av-b: its set-up failed", r.stderr)
        self.assertIn("stage options are wrong", r.stderr)
        # --no-stages checks the file alone
        r = sluice("check-config", "--no-stages", path)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_docker_config_is_valid(self):
        # its paths are the container's: the file alone
        r = sluice("check-config", "--no-stages", os.path.join(SOURCE, "docker", "sluice.yaml"))
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_mistakes_are_explained_with_file_and_line(self):
        path = self.write("""data_dir: /tmp/x
stages:
  - name: example
    wokers: 2
  - name: example
graphs:
  default:
    content: [example, missing]
""")
        r = sluice("check-config", path)
        self.assertEqual(r.returncode, 1)
        base = os.path.basename(path)
        self.assertRegex(r.stderr, r"%s:4: .*wokers" % base)     # typo'd key, its line
        self.assertRegex(r.stderr, r"%s:5: .*example" % base)    # duplicate stage name
        self.assertRegex(r.stderr, r"%s:8: .*missing" % base)    # undefined stage in graph

    def test_yaml_syntax_error(self):
        path = self.write("stages:\n  - name: [unclosed\n")
        r = sluice("check-config", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn(os.path.basename(path) + ":", r.stderr)

    def test_status_without_gateway(self):
        d = tempfile.mkdtemp()
        path = self.write("""run_dir: %s
broker:
  frontend: ipc://%s/none.sock
stages:
  - name: example
graphs:
  default:
    content: [example]
""" % (d, d))
        r = sluice("status", "-c", path, timeout=20)
        self.assertEqual(r.returncode, 1)
        self.assertIn("does not answer", r.stderr)

    def test_usage(self):
        r = sluice()
        self.assertEqual(r.returncode, 2)
        for cmd in ("start", "status", "submit", "check-config"):
            self.assertIn(cmd, r.stderr)
        r = sluice("frobnicate")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command", r.stderr)


if __name__ == "__main__":
    main()
