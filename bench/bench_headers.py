#!/usr/bin/python3
"""bench/bench_headers.py - headers-stage messages/s on signed mail beside python3-dkim.

N messages (half rsa-sha256 2048-bit, half ed25519-sha256; relaxed/relaxed)
are signed with python3-dkim; the loopback DNS server holds the two keys, an
SPF record and a DMARC record for the signing domain. Then, in one run:
  stage-inproc  sluice-headers-check --repeat R: the stage's code (SPF + DKIM
                + DMARC + sanity, DNS through sl_dns/libunbound, cached after
                the first round), one thread
  stage-broker  sluice-stage-headers behind the broker (sluice start), the
                messages pushed WINDOW at a time over the client protocol
  python3-dkim  dkim.verify() on the same bytes, keys from an in-memory dict
                (no DNS at all), DKIM only, one thread
Prints one line per mode: messages/s (and p50/p99 ms for the broker run).
"""
import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(HERE, "..")
BIN = os.environ.get("SLUICE_BIN") or os.path.join(SOURCE, "build", "bin")
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "dkim"))
import dkim  # noqa: E402
import nacl.signing  # noqa: E402
from dnsserver import DnsServer  # noqa: E402
from sluice_e2e import Client, Gateway, envelope  # noqa: E402
from dnsdata import rsa_key, txt_line  # noqa: E402

PSL = "/usr/share/publicsuffix/public_suffix_list.dat"
CONFIG = """
dns:
  forward: ["%(forward)s"]
stages:
  - name: headers
    command: sluice-stage-headers
    capacity: %(capacity)d
    timeout: 30s
    options:
      hostname: mx.bench.example
      psl_file: %(psl)s
graphs:
  default:
    content: [headers]
"""


def make_messages(tmp, n):
    rsa, der = rsa_key(tmp)
    seed = nacl.signing.SigningKey.generate()
    records = {
        "rsa._domainkey.bench.example": "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode(),
        "ed._domainkey.bench.example": "v=DKIM1; k=ed25519; p="
        + base64.b64encode(bytes(seed.verify_key)).decode(),
        "bench.example": "v=spf1 ip4:192.0.2.0/24 -all",
        "_dmarc.bench.example": "v=DMARC1; p=reject",
    }
    body = "".join("Line %d of a plain text body, about seventy characters long, padding.\r\n"
                   % i for i in range(60))
    paths, blobs = [], []
    for i in range(n):
        msg = ("From: Bench <bench@bench.example>\r\nTo: rcpt@example.org\r\n"
               "Subject: benchmark message %d\r\nDate: %s\r\nMessage-ID: <%d@bench.example>\r\n"
               "\r\n%s" % (i, time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()), i,
                           body)).encode()
        alg = "rsa" if i % 2 == 0 else "ed"
        sig = dkim.sign(msg, alg.encode(), b"bench.example",
                        rsa if alg == "rsa" else base64.b64encode(bytes(seed)),
                        signature_algorithm=b"rsa-sha256" if alg == "rsa" else b"ed25519-sha256",
                        canonicalize=(b"relaxed", b"relaxed"))
        blobs.append(sig + msg)
        p = os.path.join(tmp, "m%04d.eml" % i)
        with open(p, "wb") as f:
            f.write(blobs[-1])
        paths.append(p)
    return records, paths, blobs


def bench_inproc(forward, paths, seconds):
    args = [os.path.join(BIN, "sluice-headers-check"), "--dns", forward, "--ip", "192.0.2.1",
            "--helo", "mx.bench.example", "--from", "bench@bench.example",
            "--set", "psl_file=" + PSL]
    subprocess.run(args + ["--repeat", "1"] + paths, check=True, capture_output=True)  # warm
    rounds = 1
    while True:
        r = subprocess.run(args + ["--repeat", str(rounds)] + paths, check=True,
                           capture_output=True, text=True)
        fields = dict(kv.split("=") for kv in r.stdout.split())
        if float(fields["seconds"]) >= seconds or rounds >= 1000:
            return float(fields["per_second"]), int(fields["messages"])
        rounds *= 2


def bench_broker(forward, blobs, seconds, window, capacity):
    gw = Gateway(CONFIG % {"forward": forward, "capacity": capacity, "psl": PSL},
                 name="bench-headers")
    try:
        gw.start({"headers": 1}, timeout=30)
        client = Client(gw.front)
        sent = done = 0
        t_sent, lat = {}, []
        start = time.monotonic()
        end = start + seconds
        passes = 0
        while time.monotonic() < end or sent > done:
            while sent - done < window and time.monotonic() < end:
                env = envelope("hb%08d" % sent, mail_from="bench@bench.example")
                env["client"].update(ip="192.0.2.1", helo="mx.bench.example")
                req = client.submit(env, blobs[sent % len(blobs)])
                t_sent[req] = time.monotonic()
                sent += 1
            got = client.recv(timeout_ms=30000)
            if got is None:
                raise RuntimeError("no answer in 30 s")
            req, status, doc = got
            lat.append(time.monotonic() - t_sent.pop(req))
            done += 1
            if status == "ok":
                v = doc["verdicts"]["headers"]
                passes += all(s["result"] == "pass" for s in v["fields"]["dkim"])
        elapsed = time.monotonic() - start
        client.close()
        lat.sort()
        return done / elapsed, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, \
            passes, done
    finally:
        gw.cleanup()


def bench_dkimpy(records, blobs, seconds):
    def dnsfunc(name, timeout=5):
        return records[name.decode().rstrip(".")].encode()
    n, ok = 0, 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        ok += bool(dkim.verify(blobs[n % len(blobs)], dnsfunc=dnsfunc))
        n += 1
    return n / (time.monotonic() - start), ok, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=8)
    ap.add_argument("--window", type=int, default=32)
    ap.add_argument("--capacity", type=int, default=2)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sluice-bench-headers-")
    try:
        records, paths, blobs = make_messages(tmp, a.messages)
        zone = "$TTL 3600\n" + "\n".join(txt_line(k, v) for k, v in records.items()) + "\n"
        size = sum(len(b) for b in blobs) // len(blobs)
        print("messages: %d signed (rsa-sha256 2048 / ed25519-sha256), %d bytes each"
              % (len(blobs), size))
        with DnsServer(zone) as dns:
            rate, n = bench_inproc(dns.forward, paths, a.seconds)
            print("stage-inproc   %8.1f messages/s  (%d messages, 1 thread, SPF+DKIM+DMARC)"
                  % (rate, n))
            rate, p50, p99, passes, done = bench_broker(dns.forward, blobs, a.seconds, a.window,
                                                        a.capacity)
            print("stage-broker   %8.1f messages/s  p50 %.1f ms p99 %.1f ms  (capacity %d, "
                  "window %d, %d/%d DKIM pass)" % (rate, p50, p99, a.capacity, a.window, passes,
                                                   done))
        rate, ok, n = bench_dkimpy(records, blobs, a.seconds)
        print("python3-dkim   %8.1f messages/s  (%d/%d pass, 1 thread, DKIM only, no DNS)"
              % (rate, ok, n))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
