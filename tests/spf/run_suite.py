#!/usr/bin/python3
"""tests/spf/run_suite.py - the SPF conformance suite against the headers stage's SPF.

Each scenario of an openspf.org-format suite (default: rfc7208-tests.yml from
the corpus) has its zonedata served by tests/dns/dnsserver.py on loopback;
each test runs `sluice-headers-check --spf-lines` (the stage's own SPF code:
libspf2 over sl_dns), one process per test so that no resolver cache or
"server down" memory carries from one test to the next. A result passes when
it is one of the test's accepted results.

Zone conversion follows pyspf's test driver: an SPF entry is also served as
TXT unless the name has TXT entries of its own; TXT/SPF data goes out as raw
rdata (RAW lines) so that multi-string records and odd bytes arrive exactly.
Expected failures and why: tests/spf/README.md (KNOWN below).

  run_suite.py [--suite FILE] [--only SCENARIO-TEST] [--verbose]
Environment: SLUICE_BIN (build/bin), SLUICE_SOURCE, SLUICE_CORPUS.
Exit: 0 when every failure is a known libspf2 limitation, 1 otherwise, 77 to skip.
"""
import argparse
import ipaddress
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(HERE, "..", "..")
BIN = os.environ.get("SLUICE_BIN") or os.path.join(SOURCE, "build", "bin")
CORPUS = os.environ.get("SLUICE_CORPUS") or os.path.join(SOURCE, "..", "shared", "corpus")
sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
sys.path.insert(0, os.path.join(SOURCE, "tests", "dkim"))
from dnsdata import txt_rdata  # noqa: E402

# test name -> why libspf2 1.2.10 answers otherwise (tests/spf/README.md explains each)
KNOWN = {}
KNOWN_FILE = os.path.join(HERE, "known-failures.txt")
if os.path.exists(KNOWN_FILE):
    with open(KNOWN_FILE) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                name, _, why = line.partition(" ")
                KNOWN[name.strip()] = why.strip()


# libunbound's built-in local zones (RFC 6303 and its defaults) that a test
# zone may put PTR records under: asked of the test server instead
# (sluice-headers-check --unblock-zone, dns.unblock_zones in a config).
BUILTIN_ZONES = ["10.in-addr.arpa.", "127.in-addr.arpa.", "254.169.in-addr.arpa.",
                 "2.0.192.in-addr.arpa.", "100.51.198.in-addr.arpa.", "113.0.203.in-addr.arpa.",
                 "168.192.in-addr.arpa.", "8.b.d.0.1.0.0.2.ip6.arpa.", "d.f.ip6.arpa.",
                 "8.e.f.ip6.arpa.", "9.e.f.ip6.arpa.", "a.e.f.ip6.arpa.", "b.e.f.ip6.arpa."] + \
                ["%d.172.in-addr.arpa." % n for n in range(16, 32)]


def unblock_zones(zonedata):
    """The built-in zones some owner name of ZONEDATA lies under."""
    owners = [n.rstrip(".").lower() + "." for n in zonedata]
    return [z for z in BUILTIN_ZONES if any(o == z or o.endswith("." + z) for o in owners)]


def wire_name(name):
    """Uncompressed wire form of a domain name."""
    out = b""
    for label in name.rstrip(".").split("."):
        b = label.encode("latin-1", "replace")
        if not b or len(b) > 63:
            raise ValueError("bad label")
        out += bytes([len(b)]) + b
    return out + b"\0"


def rdata(rtype, value):
    """(type, rdata bytes) of one zonedata record, or None when it cannot exist."""
    if rtype in ("TXT", "SPF"):
        return rtype, txt_rdata(value)
    if rtype == "A":
        return rtype, ipaddress.IPv4Address(value).packed
    if rtype == "AAAA":
        return rtype, ipaddress.IPv6Address(value).packed
    if rtype == "MX":
        return rtype, int(value[0]).to_bytes(2, "big") + wire_name(value[1])
    if rtype == "PTR":
        return rtype, wire_name(value)
    raise ValueError(rtype)


def zone_text(zonedata):
    """dnsserver.py zone lines for one scenario's zonedata, as pyspf's driver
    reads it: an SPF entry is also TXT unless the name has TXT entries (TXT
    "NONE" means none at all, and does not count as TXT data for TIMEOUT); TIMEOUT times out the types not listed before
    it, which our server can only do for a whole name, so a TIMEOUT after TXT
    data is left out (the stage asks TXT only). Names no DNS could hold (a
    label over 63 bytes, blanks) are left out. Records go out as raw rdata
    (RAW lines), so odd bytes and multi-string TXT arrive exactly."""
    lines = []
    for name, records in zonedata.items():
        if (any(len(label) > 63 or not label for label in name.rstrip(".").split("."))
                or len(name) > 253 or re.search(r"\s", name)):
            continue
        owner = name.rstrip(".") + "."
        has_txt = any(isinstance(r, dict) and "TXT" in r for r in records)
        seen = set()
        for r in records:
            if r == "TIMEOUT":
                if "TXT" not in seen:
                    lines.append("%s TIMEOUT" % owner)
                continue
            for rtype, value in r.items():
                if rtype == "TXT" and value == "NONE":
                    continue  # no TXT records (and none made from SPF)
                if rtype == "CNAME":
                    lines.append("%s CNAME %s." % (owner, value.rstrip(".")))
                    seen.add(rtype)
                    continue
                try:
                    rtype, data = rdata(rtype, value)
                except ValueError:
                    continue
                lines.append("%s RAW %s %s" % (owner, rtype, data.hex()))
                seen.add(rtype)
                if rtype == "SPF" and not has_txt:
                    lines.append("%s RAW TXT %s" % (owner, data.hex()))
                    seen.add("TXT")
    return "\n".join(lines) + "\n"


def run_test(forward, zones, test):
    line = "%s\t%s\t%s\n" % (test["host"], test.get("helo", ""), test.get("mailfrom", ""))
    argv = [os.path.join(BIN, "sluice-headers-check"), "--spf-lines", "--dns", forward,
            "--timeout", "3000"]
    for z in zones:
        argv += ["--unblock-zone", z]
    r = subprocess.run(argv, input=line, capture_output=True,
                       text=True, errors="replace", timeout=60)
    out = r.stdout.strip().split("\t", 1)
    return out[0] if out and out[0] else "crash:%d %s" % (r.returncode, r.stderr[-200:]), \
        out[1] if len(out) > 1 else ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default=os.path.join(CORPUS, "spf-suite", "rfc7208-tests.yml"))
    ap.add_argument("--only")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    try:
        import yaml
        from dnsserver import DnsServer
    except ImportError as e:
        print("skip: %s (python3-yaml, python3-dnslib)" % e)
        return 77
    if not os.path.exists(args.suite):
        print("skip: no SPF suite at %s (set SLUICE_CORPUS)" % args.suite)
        return 77
    if not os.path.exists(os.path.join(BIN, "sluice-headers-check")):
        print("skip: no sluice-headers-check in %s" % BIN)
        return 77
    with open(args.suite, "rb") as f:
        scenarios = list(yaml.safe_load_all(f))
    passed = failed = known = 0
    unexpected = []
    for sc in scenarios:
        tests = sc.get("tests", {})
        if args.only and not any(args.only == t for t in tests):
            continue
        zones = unblock_zones(sc.get("zonedata", {}))
        with DnsServer(zone_text(sc.get("zonedata", {}))) as dns:
            for name, test in tests.items():
                if args.only and name != args.only:
                    continue
                want = test["result"] if isinstance(test["result"], list) else [test["result"]]
                got, comment = run_test(dns.forward, zones, test)
                ok = got in want
                exp = test.get("explanation")
                exp_note = ""
                if ok and exp and got == "fail" and comment != exp:
                    exp_note = " (explanation %r, expected %r)" % (comment, exp)
                if ok:
                    passed += 1
                elif name in KNOWN:
                    known += 1
                else:
                    failed += 1
                    unexpected.append(name)
                if args.verbose or not ok:
                    print("%-5s %-28s got %-9s want %-20s %s%s" % (
                        "ok" if ok else "KNOWN" if name in KNOWN else "FAIL", name, got,
                        "|".join(want), KNOWN.get(name, "") if not ok else "", exp_note))
    total = passed + failed + known
    print("%s: %d tests, %d pass, %d known libspf2 failures, %d unexpected failures" % (
        os.path.basename(args.suite), total, passed, known, failed))
    if unexpected:
        print("unexpected: " + " ".join(unexpected))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
