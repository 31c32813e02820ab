"""tests/dkim/dnsdata.py - test keys and zone lines for the headers stage's tests.

Shared by tests/e2e/test_headers*.py, tests/dkim/compare.py,
tests/spf/run_suite.py and bench/bench_headers.py: TXT data as raw rdata for
tests/dns/dnsserver.py (RAW lines carry multi-string records and odd bytes
exactly), and an RSA key pair made with openssl.
"""
import os
import subprocess


def txt_rdata(value):
    """TXT rdata: one or several character-strings (a str or a list of str,
    latin-1 when it fits, as pyspf's suite means it), each cut at 255 bytes."""
    out = b""
    for part in value if isinstance(value, list) else [value]:
        b = part.encode("latin-1") if all(ord(c) < 256 for c in part) else part.encode("utf-8")
        while True:
            out += bytes([min(len(b), 255)]) + b[:255]
            b = b[255:]
            if not b:
                break
    return out


def txt_line(name, value, rtype="TXT"):
    """A dnsserver.py zone line serving VALUE as a TXT (or SPF) record at NAME."""
    return "%s. RAW %s %s" % (name.rstrip("."), rtype, txt_rdata(value).hex())


def rsa_key(folder, bits=2048):
    """(private key PEM, public key DER SubjectPublicKeyInfo), made with openssl in FOLDER."""
    path = os.path.join(folder, "rsa-%d.pem" % bits)
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                    "rsa_keygen_bits:%d" % bits, "-out", path], check=True, capture_output=True)
    with open(path, "rb") as f:
        pem = f.read()
    der = subprocess.run(["openssl", "pkey", "-in", path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return pem, der
