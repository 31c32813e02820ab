#!/usr/bin/python3
"""tests/e2e/fake_stage.py - a stage with fixed symbols and fields, for delivery tests.

The worker protocol loop is stages/example-python/example.py itself (loaded,
not copied); only its scan function is replaced. Options besides the usual
worker ones:
  --symbol NAME=SCORE   add symbol NAME with SCORE to every message
  --field KEY=VALUE     add stage field KEY (a string): auth_results,
                        class_hint, dmarc_action, virus ...
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(HERE, "..", "..")
spec = importlib.util.spec_from_file_location(
    "sluice_example_stage", os.path.join(SOURCE, "stages", "example-python", "example.py"))
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)

symbols, fields, rest = {}, {}, [sys.argv[0]]
args = iter(sys.argv[1:])
for arg in args:
    if arg == "--symbol":
        name, score = next(args).split("=", 1)
        symbols[name] = {"score": float(score), "info": "fixed by fake_stage.py"}
    elif arg == "--field":
        key, value = next(args).split("=", 1)
        fields[key] = value
    else:
        rest.append(arg)


def scan(env, body, name):
    return {"stage": name, "version": "fake/1.0", "symbols": dict(symbols),
            "fields": dict(fields)}


example.scan = scan
example.VERSION = "fake/1.0"
sys.argv = rest
sys.exit(example.main())
