#!/usr/bin/python3
"""stages/example-python/example.py - the example stage as a Python worker.

Proof that a stage can be written in any language: this file speaks the worker
protocol of broker/README.md with Debian's python3-zmq and python3-msgpack and
nothing else from Sluice. It flags mail with a null envelope sender, like the
C example, under the symbol PYEXAMPLE_NULL_SENDER, and reports whether it got
the body. Name it in sluice.yaml:

    stages:
      - name: pyexample
        command: [sluice-stage-example-python]

Options (the supervisor passes them): --broker ENDPOINT, --name NAME,
--capacity N (this worker scans one message at a time whatever N says),
--heartbeat MS, -c FILE (ignored: the endpoint comes from --broker), --needs LIST.
Tests: tests/e2e/test_pipeline.py
"""
import argparse
import os
import signal
import socket
import sys
import time

import msgpack
import zmq

VERSION = "example-python/1.0"
PROTO = b"SLW1"


def log(text):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    sys.stderr.write("%s sluice-stage-pyexample[%d]: %s\n" % (stamp, os.getpid(), text))
    sys.stderr.flush()


def scan(env, body, name):
    """One message: the envelope (a dict), the body (bytes or None) -> verdict dict."""
    symbols = {}
    if env.get("mail_from", "") == "":
        symbols["PYEXAMPLE_NULL_SENDER"] = {"score": 0.1, "info": "bounce or DSN"}
    return {
        "stage": name,
        "version": VERSION,
        "symbols": symbols,
        "fields": {"got_body": bool(body), "body_bytes": len(body or b""),
                   "rcpt_count": len(env.get("rcpts", []))},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--name", default="pyexample")
    ap.add_argument("--capacity", type=int, default=1)
    ap.add_argument("--needs", default="envelope")
    ap.add_argument("--heartbeat", type=int, default=1000, help="broker.heartbeat in ms")
    ap.add_argument("-c", "--config")
    args = ap.parse_args()
    label = "%s:%d" % (socket.gethostname(), os.getpid())
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    ctx = zmq.Context()
    heartbeat = args.heartbeat / 1000.0
    backoff = 0.25
    while not stop:
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(args.broker)
        ready = [PROTO, b"READY", args.name.encode(), b"1", args.needs.encode(),
                 VERSION.encode(), label.encode()]
        sock.send_multipart(ready)
        last_recv = last_sent = time.monotonic()
        log("stage ready name=%s broker=%s" % (args.name, args.broker))
        while not stop:
            if sock.poll(int(heartbeat * 250)):
                frames = sock.recv_multipart()
                last_recv = time.monotonic()
                backoff = 0.25
                if len(frames) < 2 or frames[0] != PROTO:
                    log("broker message ignored reason=\"bad framing\"")
                    continue
                cmd = frames[1]
                if cmd == b"JOB" and len(frames) >= 6:
                    job, needs, env_raw = frames[2], frames[4], frames[5]
                    body = frames[6] if needs.startswith(b"body") and len(frames) > 6 else None
                    t0 = time.monotonic()
                    try:
                        env = msgpack.unpackb(env_raw, raw=False, max_bin_len=0,
                                              max_str_len=1 << 20, max_array_len=20000,
                                              max_map_len=20000)
                        verdict = scan(env, body, args.name)
                    except Exception as exc:  # a bad envelope is reported, never fatal
                        verdict = {"stage": args.name, "version": VERSION,
                                   "error": "scan failed: %s" % type(exc).__name__}
                    verdict["ms"] = (time.monotonic() - t0) * 1000.0
                    verdict["worker"] = label
                    sock.send_multipart([PROTO, b"DONE", job, msgpack.packb(verdict)])
                    last_sent = time.monotonic()
                elif cmd == b"BYE":
                    reason = frames[2] if len(frames) > 2 else b""
                    log("broker said BYE reason=\"%s\"" % reason.decode("ascii", "replace"))
                    if reason == b"unknown stage":
                        return 1
                    sock.send_multipart(ready)
                    last_sent = time.monotonic()
            now = time.monotonic()
            if now - last_recv > 3 * heartbeat:
                log("broker silent; reconnecting in %.2fs" % backoff)
                sock.close()
                time.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                break
            if now - last_sent >= heartbeat:
                sock.send_multipart([PROTO, b"HB"])
                last_sent = now
        else:
            sock.send_multipart([PROTO, b"BYE"])
            sock.close()
    ctx.term()
    return 0


if __name__ == "__main__":
    sys.exit(main())
