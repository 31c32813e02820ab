#!/usr/bin/python3
"""bench/bench_rbl.py - rbl verdicts per second with 10 DNS lists on a loopback DNS server.

Starts tests/dns/dnsserver.py (10 zones, every client listed on one of them)
and `sluice start` with the rbl stage in the connect phase, then keeps WINDOW
connect-phase envelopes in flight over the client protocol for SECONDS:
  uncached: every envelope has a new client address (10 lookups each reach
            the DNS server, so its speed is part of the number);
  cached:   addresses from a small warmed-up set (answers from libunbound's cache).
Prints one line per mode: verdicts/s, p50/p99 latency ms. Stops all by PID.
"""
import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(HERE, "..")
sys.path.insert(0, os.path.join(SOURCE, "tests", "e2e"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from sluice_e2e import Client, Gateway, envelope  # noqa: E402
from dnsserver import DnsServer  # noqa: E402

LISTS = 10
# Every client is listed on list0 and on none of the other nine (NXDOMAIN, cached by
# the SOA minimum), as most clients are on most lists.
ZONE = "$TTL 3600\n$NEGTTL 3600\n*.list0.example A 127.0.0.2\n"
CONFIG = """
dns:
  forward: ["%(forward)s"]
stages:
  - name: rbl
    command: [sluice-stage-rbl]
    workers: %(workers)d
    capacity: %(capacity)d
    timeout: 5s
    retries: 0
    options:
      threshold: 100
      timeout: 2s
      lists:
%(lists)s
graphs:
  default:
    connect: [rbl]
"""


def ip_of(n):
    return "10.%d.%d.%d" % ((n >> 16) & 255, (n >> 8) & 255, n & 255)


def run(client, seconds, window, next_ip, count=None):
    sent, done, lat, t_sent, errors = 0, 0, [], {}, 0
    start = time.monotonic()
    end = start + seconds
    while (time.monotonic() < end and sent != count) or sent > done:
        while sent - done < window and time.monotonic() < end and sent != count:
            env = envelope("b%09d" % sent, rcpts=())
            env["client"]["ip"] = next_ip(sent)
            t_sent[client.submit(env, phase="connect")] = time.monotonic()
            sent += 1
        got = client.recv(10000)
        if got is None:
            raise SystemExit("no answer within 10 s")
        done += 1
        lat.append(time.monotonic() - t_sent.pop(got[0]))
        v = got[2]["verdicts"]["rbl"] if got[1] == "ok" else {"error": got[2]}
        if "error" in v or v.get("fields", {}).get("failed") or len(v.get("symbols", {})) != 1:
            errors += 1
    spent = time.monotonic() - start
    lat.sort()
    return done / spent, lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000, errors, done


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--capacity", type=int, default=16)
    args = ap.parse_args()
    lists = "".join("        - {zone: list%d.example, weight: 1}\n" % i for i in range(LISTS))
    with DnsServer(ZONE) as dns:
        gw = Gateway(CONFIG % {"forward": dns.forward, "workers": args.workers,
                               "capacity": args.capacity, "lists": lists}, name="bench-rbl")
        try:
            gw.start({"rbl": args.workers})
            client = Client(gw.front)
            warm = 256
            run(client, 60, args.window, lambda n: ip_of(n % warm), count=warm)  # warm the cache
            for mode, pick in (("uncached", lambda n, base=1 << 20: ip_of(base + n)),
                               ("cached", lambda n: ip_of(n % warm))):
                if mode == "uncached":
                    before = len(dns.queries())
                rate, p50, p99, errors, done = run(client, args.seconds, args.window, pick)
                extra = ""
                if mode == "uncached":
                    extra = " dns_queries=%d" % (len(dns.queries()) - before)
                print("rbl %-8s lists=%d workers=%d capacity=%d window=%d: %.0f verdicts/s "
                      "p50=%.1fms p99=%.1fms verdicts=%d wrong=%d%s"
                      % (mode, LISTS, args.workers, args.capacity, args.window, rate, p50, p99,
                         done, errors, extra), flush=True)
            client.close()
        finally:
            gw.cleanup()


if __name__ == "__main__":
    main()
