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
--heartbeat MS, -c FILE (ignored: the endpoint comes from --broker), --needs LIST,
--batch N (1..64, default 1: ask for batches of N jobs in one JOBS message,
answered in one DONES; broker/README.md "Batches").
Tests: tests/e2e/test_pipeline.py, tests/e2e/test_batch.py
"""
import argparse
import os
import signal
import socket
import sys
import time
import zlib

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
                   "body_crc32": zlib.crc32(body or b""),
                   "rcpt_count": len(env.get("rcpts", []))},
    }


def one_job(job, name, label):
    """JOB's frames after the command (job phase needs env [body]...) -> DONE's."""
    job_id, needs, env_raw = job[0], job[2], job[3]
    body = job[4] if needs.startswith(b"body") and len(job) > 4 else None
    t0 = time.monotonic()
    try:
        env = msgpack.unpackb(env_raw, raw=False, max_bin_len=0, max_str_len=1 << 20,
                              max_array_len=20000, max_map_len=20000)
        verdict = scan(env, body, name)
    except Exception as exc:  # a bad envelope is reported, never fatal
        verdict = {"stage": name, "version": VERSION,
                   "error": "scan failed: %s" % type(exc).__name__}
    verdict["ms"] = (time.monotonic() - t0) * 1000.0
    verdict["worker"] = label
    return [job_id, msgpack.packb(verdict)]


def split_batch(frames, min_frames):
    """JOBS n (k frames...){n} -> [job frames, ...], or None when the counts do not
    add up (broker/README.md, "Batches")."""
    def count(raw, low, high):
        if not raw.isdigit() or len(raw) > 9 or not low <= int(raw) <= high:
            raise ValueError(raw)
        return int(raw)
    try:
        n, at, jobs = count(frames[2], 1, 64), 3, []
        for _ in range(n):
            k = count(frames[at], min_frames, len(frames) - at - 1)
            jobs.append(frames[at + 1:at + 1 + k])
            at += 1 + k
    except (IndexError, ValueError):
        return None
    return jobs if at == len(frames) else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--broker", required=True)
    ap.add_argument("--name", default="pyexample")
    ap.add_argument("--capacity", type=int, default=1)
    ap.add_argument("--needs", default="envelope")
    ap.add_argument("--heartbeat", type=int, default=1000, help="broker.heartbeat in ms")
    ap.add_argument("--batch", type=int, default=1,
                    help="jobs taken in one JOBS message, 1..64 (1: JOB only, no batch frame)")
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
        if args.batch > 1:
            ready.append(str(min(args.batch, 64)).encode())
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
                    answer = one_job(frames[2:], args.name, label)
                    sock.send_multipart([PROTO, b"DONE"] + answer)
                    last_sent = time.monotonic()
                elif cmd == b"JOBS" and args.batch > 1:
                    jobs = split_batch(frames, 4)
                    if jobs is None:
                        log("broker message ignored reason=\"malformed JOBS\"")
                        continue
                    out = [PROTO, b"DONES", str(len(jobs)).encode()]
                    for job in jobs:  # one after another, answered together
                        answer = one_job(job, args.name, label)
                        out += [str(len(answer)).encode()] + answer
                    sock.send_multipart(out)
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
