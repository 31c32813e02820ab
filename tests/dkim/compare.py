#!/usr/bin/python3
"""tests/dkim/compare.py - the headers stage's DKIM verdicts beside python3-dkim's.

For every signed message of the corpus's DKIM test data (dkimpy, mail-dkim-perl
with FAKE_DNS.dat, stalwart-mail-auth, mimekit, crymap-real-messages) the key
records are served by tests/dns/dnsserver.py on loopback and the message goes
through `sluice-headers-check` (the stage's own code: libopendkim, keys over
sl_dns); python3-dkim verifies the same bytes with the same records (through
its dnsfunc hook, in this process). Per signature, pass or not, they must
agree; disagreements are listed and must be in KNOWN (explained in
tests/dkim/README.md).

  compare.py [--verbose]          exit 0 when every disagreement is known
Environment: SLUICE_BIN, SLUICE_SOURCE, SLUICE_CORPUS. Exit 77 to skip.
"""
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("SLUICE_SOURCE") or os.path.join(HERE, "..", "..")
BIN = os.environ.get("SLUICE_BIN") or os.path.join(SOURCE, "build", "bin")
CORPUS = os.environ.get("SLUICE_CORPUS") or os.path.join(SOURCE, "..", "shared", "corpus")
DKIM = os.path.join(CORPUS, "dkim")
sys.path.insert(0, os.path.join(SOURCE, "tests", "dns"))
from dnsdata import txt_line  # noqa: E402  (tests/dkim/dnsdata.py, beside this file)

# "dataset/file" -> reason; a disagreement listed here is explained in README.md
KNOWN = {}
with open(os.path.join(HERE, "known-disagreements.txt")) as f:
    for line in f:
        if line.strip() and not line.startswith("#"):
            key, _, why = line.partition(" ")
            KNOWN[key] = why.strip()


def read(path):
    with open(path, "rb") as f:
        return f.read()


def crlf(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


def record_text(raw):
    """A key record as stored in a data file: quotes and line breaks dropped."""
    text = raw.decode("latin-1").strip()
    if text.startswith('"'):
        text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', text))
    return re.sub(r"\s*\n\s*", "", text)


def pem_record(path):
    lines = [l for l in read(path).decode().splitlines() if l and not l.startswith("-----")]
    return "v=DKIM1; k=rsa; p=" + "".join(lines)


# --- the datasets: (name, records {name: text or marker}, [(file, bytes, time)]) ---

def dkimpy():
    d = os.path.join(DKIM, "dkimpy")
    test = record_text(read(os.path.join(d, "test.txt")))
    records = {
        "test._domainkey.example.com": test,
        "test._domainkey.football.example.com": test,
        "brisbane._domainkey.football.example.com":
            "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
        "test._domainkey.example.net":
            "v=DKIM1; k=ed25519; p=yi50DjK5O9pqbFpNHklsv9lqaS0ArSYu02qp1S0DW1Y=",
        "sed._domainkey.test.ex": record_text(read(os.path.join(d, "eximtest.dns"))),
        "20120113._domainkey.gmail.com": (
            "k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA1Kd87/UeJjenpabgbFwh+eBCsSTrqmw"
            "IYYvywlbhbqoo2DymndFkbjOVIPIldNs/m40KF+yzMn1skyoxcTUGCQs8g3FgD2Ap3ZB5DekAo5wMmk4wimD"
            "O+U8QzI3SD07y2+07wlNWwIt8svnxgdxGkVbbhzY8i+RQ9DpSVpPbF7ykQxtKXkv/ahW3KjViiAH+ghvvIhk"
            "x4xYSIc9oSwVmAl5OctMEeWUwg8Istjqz8BZeTWbf41fbNhte7Y+YqZOwq1Sd0DbvYAD9NOZK9vlfuac0598"
            "HY+vtSBczUiKERHv1yRbcaQtZFh5wtiRrN04BLUTD21MycBX5jYchHjPY/wIDAQAB"),
    }
    files = ["rfc6376.signed.msg", "test2.message", "ed25519test2.msg", "test.message.baddomain"]
    return records, [(f, read(os.path.join(d, f)), 0) for f in files]


def perl():
    d = os.path.join(DKIM, "mail-dkim-perl")
    records = {}
    for line in read(os.path.join(d, "FAKE_DNS.dat")).decode("latin-1").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, value = line.strip().partition(" ")
        value = value.strip()
        records[name] = ("TIMEOUT" if "timed out" in value else "SERVFAIL" if "SERVFAIL" in value
                         else "NXDOMAIN" if value == "NXDOMAIN" else record_text(value.encode("latin-1")))
    files = sorted(os.listdir(os.path.join(d, "corpus")))
    return records, [(f, read(os.path.join(d, "corpus", f)), 0) for f in files]


def stalwart():
    d = os.path.join(DKIM, "stalwart-mail-auth")
    records, msgs = {}, []
    for f in sorted(os.listdir(d)):
        head, _, body = read(os.path.join(d, f)).partition(b"\n\n")
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(" ")
            records[name] = value.strip()
        msgs.append((f, body, 1667843664))
    return records, msgs


def mimekit():
    d = os.path.join(DKIM, "mimekit")
    records = {"20120113._domainkey.gmail.com": pem_record(os.path.join(d, "gmail.pub"))}
    records.update(crymap()[0])  # the RFC 8463 example keys
    files = [("gmail.msg", 0), ("related.msg", 0), ("multipart-no-end-boundary.msg", 0),
             ("rfc8463-example.msg", 1528637900)]
    return records, [(f, read(os.path.join(d, f)), t) for f, t in files]


def crymap():
    d = os.path.join(DKIM, "crymap-real-messages")
    records = {}
    for line in read(os.path.join(d, "dns-txt-records.tsv")).decode().splitlines()[1:]:
        name, rtype, _, value = line.split("\t", 3)
        if rtype == "TXT":
            records[name] = value
    times = {"dkim-amazoncojp-2x-rsa-sha256.eml": 1694481247, "rfc-8463.eml": 1528637900}
    msgs = [(f, read(os.path.join(d, f)), times.get(f, 0))
            for f in sorted(os.listdir(d)) if f.endswith(".eml")]
    return records, msgs


DATASETS = [("dkimpy", dkimpy), ("mail-dkim-perl", perl), ("stalwart-mail-auth", stalwart),
            ("mimekit", mimekit), ("crymap-real-messages", crymap)]


def zone(records):
    lines = []
    for name, value in records.items():
        owner = name.rstrip(".") + "."
        if value in ("TIMEOUT", "SERVFAIL", "NXDOMAIN"):
            lines.append("%s %s" % (owner, value))
            continue
        lines.append(txt_line(owner, value))
    return "\n".join(lines) + "\n"


def dkimpy_verdicts(message, records, when):
    """[True/False per DKIM-Signature] from python3-dkim with RECORDS as its DNS."""
    import dkim

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        value = records.get(name.rstrip("."))
        if value is None or value in ("TIMEOUT", "SERVFAIL", "NXDOMAIN"):
            return None
        return value.encode("latin-1")

    real_time = time.time
    if when:
        time.time = lambda: float(when)
    try:
        d = dkim.DKIM(message)
        n = sum(1 for h in d.headers if h[0].lower() == b"dkim-signature")
        out = []
        for i in range(n):
            try:
                out.append(bool(d.verify(idx=i, dnsfunc=dnsfunc)))
            except Exception:  # dkimpy raises on some malformed input: not a pass
                out.append(False)
        return out
    except Exception:
        return []
    finally:
        time.time = real_time


def stage_verdicts(path, forward, when):
    args = [os.path.join(BIN, "sluice-headers-check"), "--dns", forward, "--timeout", "1500",
            "--ip", "192.0.2.1", "--helo", "mail.example.org", "--from", "a@example.org"]
    if when:
        args += ["--time", str(when)]
    r = subprocess.run(args + [path], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        return None, r.stderr[-300:]
    doc = json.loads(r.stdout)
    sigs = doc["verdict"]["fields"]["dkim"]
    return [s["result"] == "pass" for s in sigs], sigs


def main():
    verbose = "--verbose" in sys.argv
    try:
        import dkim  # noqa: F401
        from dnsserver import DnsServer
    except ImportError as e:
        print("skip: %s (python3-dkim, python3-dnslib)" % e)
        return 77
    if not os.path.isdir(DKIM):
        print("skip: no DKIM test data at %s (set SLUICE_CORPUS)" % DKIM)
        return 77
    tmp = os.path.join("/tmp", "sluice-dkim-compare-%d" % os.getpid())
    os.makedirs(tmp, exist_ok=True)
    total = agree = known = 0
    unexpected = []
    for name, load in DATASETS:
        records, msgs = load()
        with DnsServer(zone(records)) as dns:
            for f, data, when in msgs:
                data = crlf(data)
                path = os.path.join(tmp, f)
                with open(path, "wb") as out:
                    out.write(data)
                theirs = dkimpy_verdicts(data, records, when)
                ours, detail = stage_verdicts(path, dns.forward, when)
                key = "%s/%s" % (name, f)
                total += 1
                same = ours == theirs
                if same:
                    agree += 1
                elif key in KNOWN:
                    known += 1
                else:
                    unexpected.append(key)
                if verbose or not same:
                    why = "" if same else KNOWN.get(key, "UNEXPLAINED")
                    print("%-5s %-55s dkimpy=%s stage=%s %s" % (
                        "same" if same else "DIFF", key, theirs, ours, why))
                    if not same and verbose:
                        print("      stage detail: %s" % json.dumps(detail)[:400])
                os.unlink(path)
    os.rmdir(tmp)
    print("dkim: %d messages, %d agree with python3-dkim, %d known disagreements, %d unexplained"
          % (total, agree, known, len(unexpected)))
    if unexpected:
        print("unexplained: " + " ".join(unexpected))
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
