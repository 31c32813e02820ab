#!/usr/bin/python3
"""tests/e2e/smtpd_direction_stage.py - a content stage that records directions.

Runs the Python example worker (stages/example-python/example.py) with a scan
function that appends "queue-id direction mail_from" for every message to
DIR/directions, so test_smtpd_outbound.py sees which direction smtpd gave
the envelope. DIR is the folder of the config file the supervisor passes with -c.
"""
import importlib.util
import os
import sys

SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..")
spec = importlib.util.spec_from_file_location(
    "example", os.path.join(SOURCE, "stages", "example-python", "example.py"))
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
FLAG_DIR = os.path.dirname(os.path.abspath(sys.argv[sys.argv.index("-c") + 1]))


def scan(env, body, name):
    with open(os.path.join(FLAG_DIR, "directions"), "a") as f:
        f.write("%s %s %s\n" % (env.get("id"), env.get("direction", "in"),
                                env.get("mail_from") or "<>"))
    return {"stage": name, "version": "direction-test/1", "symbols": {}, "fields": {}}


example.scan = scan
sys.exit(example.main())
