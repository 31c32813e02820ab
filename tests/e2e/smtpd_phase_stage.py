#!/usr/bin/python3
"""tests/e2e/smtpd_phase_stage.py - a connect/rcpt phase stage for the smtpd tests.

Runs the Python example worker (stages/example-python/example.py) with a
different scan function that answers the way rbl and greylist will, through
the verdict field smtp_reply (smtpd/README.md, "Connect and rcpt phases"):

  connect phase (no recipients): "554 5.7.1 ..." while DIR/reject-connect exists
  rcpt phase: local part "block..." -> 550 5.7.1, "grey..." -> 451 4.7.1,
              "slow..." -> answers after 3 s (smtpd's phase_timeout fails open)
DIR is the folder of the config file the supervisor passes with -c.
"""
import importlib.util
import os
import sys
import time

SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(os.path.dirname(__file__), "..", "..")
spec = importlib.util.spec_from_file_location(
    "example", os.path.join(SOURCE, "stages", "example-python", "example.py"))
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
FLAG_DIR = os.path.dirname(os.path.abspath(sys.argv[sys.argv.index("-c") + 1]))


def scan(env, body, name):
    fields = {}
    rcpts = env.get("rcpts", [])
    if not rcpts:
        if os.path.exists(os.path.join(FLAG_DIR, "reject-connect")):
            fields["smtp_reply"] = "554 5.7.1 Service unavailable; client listed by test"
    else:
        local = rcpts[0].split("@")[0]
        if local.startswith("block"):
            fields["smtp_reply"] = "550 5.7.1 Recipient blocked by test"
        elif local.startswith("grey"):
            fields["smtp_reply"] = "451 4.7.1 Greylisted by test, try again later"
        elif local.startswith("slow"):
            time.sleep(3)
    return {"stage": name, "version": "phase-test/1", "symbols": {}, "fields": fields}


example.scan = scan
sys.exit(example.main())
