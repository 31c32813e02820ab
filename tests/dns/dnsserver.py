#!/usr/bin/python3
"""tests/dns/dnsserver.py - a small DNS server on loopback for the tests.

Serves the records of one or more zone files (format in tests/dns/README.md)
over UDP and TCP on one loopback port, chosen at start when --port is 0, and
misbehaves on purpose where the file says so: SERVFAIL, no answer at all
(a timeout for the resolver), an answer only after a delay, raw record bytes.
Every query may be logged one line each ("qname qtype"), so that a test can
count what reached the server (did the resolver's cache answer?).

As a program (what the C unit tests fork and exec):
    /usr/bin/python3 tests/dns/dnsserver.py --zone FILE [--zone FILE...]
        [--port 0] [--address 127.0.0.1] [--port-file PATH] [--log PATH]
It writes the port to --port-file (atomically) and "port N" on stdout, reloads
its zone files on SIGHUP and exits on SIGTERM.

As a module (what the Python end-to-end tests use):
    with DnsServer(zone_text) as dns:   # or DnsServer(path=FILE)
        dns.forward                     # "127.0.0.1@PORT", for dns.forward
        dns.queries()                   # [(qname, qtype), ...] seen so far

Debian's python3-dnslib parses and builds the packets; the rest is here.
"""
import argparse
import os
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

from dnslib import CLASS, QTYPE, RCODE, RD, RR, SOA, DNSError, DNSRecord

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
CNAME_CHAIN_MAX = 8          # CNAMEs followed inside the served data
UDP_PLAIN_MAX = 512          # RFC 1035 4.2.1: without EDNS
DELAY_MAX_MS = 600000        # a delay longer than ten minutes is a typo


class ZoneError(Exception):
    pass


def _name(text):
    """Absolute, lower-case owner name without the trailing dot ("" is the root)."""
    text = text.strip().rstrip(".").lower()
    return text


def _parent_names(name):
    """name, then each parent up to the root: a.b.c -> a.b.c, b.c, c, ''."""
    labels = name.split(".") if name else []
    for i in range(len(labels) + 1):
        yield ".".join(labels[i:])


class Zone:
    """Records and behaviours by owner name, loaded from zone files."""

    def __init__(self):
        self.records = {}     # name -> [RR]
        self.behaviour = {}   # name -> "SERVFAIL" | "TIMEOUT" | "NXDOMAIN" | "REFUSED"
        self.delay_ms = {}    # name -> ms
        self.names = set()    # every owner name and every parent (empty non-terminals)
        self.negative_ttl = 60

    def load_text(self, text, origin="(text)"):
        ttl = 300
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line.startswith("#") or line.startswith(";"):
                continue
            where = "%s:%d" % (origin, lineno)
            words = line.split(None, 3)
            if words[0] == "$TTL":
                ttl = self._int(words, 1, where)
                continue
            if words[0] == "$NEGTTL":
                self.negative_ttl = self._int(words, 1, where)
                continue
            if len(words) < 2:
                raise ZoneError("%s: expected NAME [TTL] TYPE DATA" % where)
            name = _name(words[0])
            kind = words[1].upper()
            if kind in ("SERVFAIL", "TIMEOUT", "NXDOMAIN", "REFUSED"):
                self.behaviour[name] = kind
                continue
            if kind == "DELAY":
                ms = self._int(words, 2, where)
                if ms > DELAY_MAX_MS:
                    raise ZoneError("%s: delay over %d ms" % (where, DELAY_MAX_MS))
                self.delay_ms[name] = ms
                continue
            rest = line.split(None, 1)[1]
            first = rest.split(None, 1)
            rr_ttl = ttl
            if first[0].isdigit():
                rr_ttl = int(first[0])
                rest = first[1] if len(first) > 1 else ""
            self._add(name, rr_ttl, rest, where)
        return self

    @staticmethod
    def _int(words, i, where):
        try:
            return int(words[i])
        except (IndexError, ValueError):
            raise ZoneError("%s: expected a whole number" % where)

    def _add(self, name, ttl, rest, where):
        parts = rest.split(None, 1)
        rtype = parts[0].upper()
        data = parts[1] if len(parts) > 1 else ""
        owner = (name + ".") if name else "."
        try:
            if rtype == "RAW":
                # RAW TYPE HEX: any bytes as the rdata of type TYPE (malformed on purpose).
                tword, _, hexdata = data.partition(" ")
                code = int(tword) if tword.isdigit() else getattr(QTYPE, tword.upper())
                rrs = [RR(owner, rtype=code, rclass=CLASS.IN, ttl=ttl,
                          rdata=RD(bytes.fromhex(hexdata.replace(" ", ""))))]
            elif rtype == "SPF":
                rrs = RR.fromZone("%s %d IN TXT %s" % (owner, ttl, data))
                for rr in rrs:
                    rr.rtype = QTYPE.SPF
            else:
                rrs = RR.fromZone("%s %d IN %s %s" % (owner, ttl, rtype, data))
        except (DNSError, ValueError, AttributeError, IndexError) as e:
            raise ZoneError("%s: cannot parse %s record: %s" % (where, rtype, e))
        self.records.setdefault(name, []).extend(rrs)
        for parent in _parent_names(name):
            self.names.add(parent)

    def _lookup(self, table, name):
        """Exact entry for NAME, else the nearest wildcard "*.parent" covering it."""
        if name in table:
            return table[name]
        labels = name.split(".")
        for i in range(1, len(labels) + 1):
            wild = ".".join(["*"] + labels[i:]) if labels[i:] else "*"
            if wild in table:
                return table[wild]
        return None

    def delay(self, name):
        return self._lookup(self.delay_ms, name) or 0

    def answer(self, request):
        """The reply for REQUEST, or None for no answer at all."""
        q = request.q
        name = _name(str(q.qname))
        reply = request.reply(ra=1, aa=1)
        act = self._lookup(self.behaviour, name)
        if act == "TIMEOUT":
            return None
        if act == "SERVFAIL":
            reply.header.rcode = RCODE.SERVFAIL
            return reply
        if act == "REFUSED":
            reply.header.rcode = RCODE.REFUSED
            return reply
        if q.qclass != CLASS.IN and q.qclass != 255:
            reply.header.rcode = RCODE.REFUSED
            return reply
        seen = 0
        while act != "NXDOMAIN":
            rrs = self._records(name)
            if rrs is None:
                break
            cname = [rr for rr in rrs if rr.rtype == QTYPE.CNAME]
            if cname and q.qtype not in (QTYPE.CNAME, QTYPE.ANY):
                reply.add_answer(*self._renamed(cname[:1], q.qname if seen == 0 else None))
                seen += 1
                if seen > CNAME_CHAIN_MAX:
                    return reply
                name = _name(str(cname[0].rdata.label))
                act = self._lookup(self.behaviour, name)
                if act in ("TIMEOUT", "SERVFAIL", "REFUSED"):
                    return reply
                continue
            match = [rr for rr in rrs if q.qtype == QTYPE.ANY or rr.rtype == q.qtype]
            if match:
                reply.add_answer(*match)
            else:
                reply.add_auth(self._soa(name))
            return reply
        if seen == 0:
            reply.header.rcode = RCODE.NXDOMAIN
        reply.add_auth(self._soa(name))
        return reply

    def _records(self, name):
        """Records at NAME (wildcard records renamed to NAME); [] for an empty
        non-terminal; None when the name does not exist."""
        if name in self.records:
            return self.records[name]
        if name in self.names:
            return []
        wild = self._lookup(self.records, name)
        if wild is None:
            return None
        owner = (name + ".") if name else "."
        return [RR(owner, rtype=rr.rtype, rclass=rr.rclass, ttl=rr.ttl, rdata=rr.rdata)
                for rr in wild]

    @staticmethod
    def _renamed(rrs, qname):
        if qname is None:
            return rrs
        return [RR(qname, rtype=rr.rtype, rclass=rr.rclass, ttl=rr.ttl, rdata=rr.rdata)
                for rr in rrs]

    def _soa(self, name):
        """SOA for negative answers: the nearest zone apex with an SOA, else the root."""
        for parent in _parent_names(name):
            for rr in self.records.get(parent, []):
                if rr.rtype == QTYPE.SOA:
                    return rr
        ttl = self.negative_ttl
        return RR(".", rtype=QTYPE.SOA, ttl=ttl,
                  rdata=SOA("ns.test.", "hostmaster.test.", (1, 3600, 600, 86400, ttl)))


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        server = self.server.dns
        tcp = self.server.socket_type == socket.SOCK_STREAM
        if tcp:
            data = self._read_tcp()
            if data is None:
                return
        else:
            data, sock = self.request
        try:
            request = DNSRecord.parse(data)
        except (DNSError, IndexError, ValueError):
            return
        qname = _name(str(request.q.qname))
        server.log(qname, QTYPE.get(request.q.qtype, str(request.q.qtype)))
        with server.lock:
            zone = server.zone
        delay = zone.delay(qname)
        if delay:
            time.sleep(delay / 1000.0)
        reply = zone.answer(request)
        if reply is None:
            return
        wire = reply.pack()
        if tcp:
            self.request.sendall(len(wire).to_bytes(2, "big") + wire)
            return
        limit = UDP_PLAIN_MAX
        for rr in request.ar:
            if rr.rtype == QTYPE.OPT:
                limit = max(UDP_PLAIN_MAX, rr.rclass)
        if len(wire) > limit:
            reply = request.reply(ra=1, aa=1)
            reply.header.tc = 1
            wire = reply.pack()
        sock.sendto(wire, self.client_address)

    def _read_tcp(self):
        self.request.settimeout(5)
        buf = b""
        try:
            while len(buf) < 2 or len(buf) < 2 + int.from_bytes(buf[:2], "big"):
                chunk = self.request.recv(65537)
                if not chunk:
                    return None
                buf += chunk
        except OSError:
            return None
        return buf[2:2 + int.from_bytes(buf[:2], "big")]


class _UDP(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class _TCP(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


class Server:
    """The serving half: zone, sockets, query log."""

    def __init__(self, paths, address="127.0.0.1", port=0, log_path=None):
        self.paths = paths
        self.lock = threading.Lock()
        self.zone = self._load()
        self.log_file = open(log_path, "a", buffering=1) if log_path else None
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        _UDP.address_family = family
        _TCP.address_family = family
        # Port 0: take the kernel's free UDP port, then the same TCP port; retry
        # a few times when another process holds that TCP port.
        for _ in range(20):
            udp = _UDP((address, port), _Handler)
            try:
                tcp = _TCP((address, udp.server_address[1]), _Handler)
                break
            except OSError:
                udp.server_close()
                if port:
                    raise
        else:
            raise OSError("no free port pair")
        self.udp, self.tcp = udp, tcp
        self.port = udp.server_address[1]
        for s in (udp, tcp):
            s.dns = self

    def _load(self):
        zone = Zone()
        for path in self.paths:
            with open(path) as f:
                zone.load_text(f.read(), path)
        return zone

    def reload(self):
        try:
            zone = self._load()
        except (OSError, ZoneError) as e:
            print("dnsserver: reload failed: %s" % e, file=sys.stderr, flush=True)
            return
        with self.lock:
            self.zone = zone

    def log(self, qname, qtype):
        if self.log_file:
            with self.lock:
                self.log_file.write("%s %s\n" % (qname, qtype))

    def serve(self):
        threads = [threading.Thread(target=s.serve_forever, daemon=True)
                   for s in (self.udp, self.tcp)]
        for t in threads:
            t.start()
        return threads

    def shutdown(self):
        for s in (self.udp, self.tcp):
            s.shutdown()
            s.server_close()


class DnsServer:
    """Runs dnsserver.py as a child process for a test; stopped by PID."""

    def __init__(self, text=None, path=None, address="127.0.0.1", timeout=10):
        self.dir = tempfile.mkdtemp(prefix="sluice-dns-")
        self.path = path or os.path.join(self.dir, "zone.txt")
        if text is not None:
            with open(self.path, "w") as f:
                f.write(text)
        self.address = address
        self.timeout = timeout
        self.log_path = os.path.join(self.dir, "queries.log")
        self.proc = None
        self.port = None

    def start(self):
        port_file = os.path.join(self.dir, "port")
        self.proc = subprocess.Popen([PYTHON, os.path.abspath(__file__), "--zone", self.path,
                                      "--address", self.address, "--port-file", port_file,
                                      "--log", self.log_path],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dnsserver exited: %s" % self.proc.stderr.read().decode())
            if os.path.exists(port_file):
                with open(port_file) as f:
                    self.port = int(f.read())
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("dnsserver did not start in %ss" % self.timeout)

    @property
    def forward(self):
        return "%s@%d" % (self.address, self.port)

    def queries(self):
        try:
            with open(self.log_path) as f:
                return [tuple(line.split()) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def reload(self, text):
        with open(self.path, "w") as f:
            f.write(text)
        self.proc.send_signal(signal.SIGHUP)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()

    def cleanup(self):
        self.stop()
        for name in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, name))
        os.rmdir(self.dir)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zone", action="append", required=True, help="zone file (repeatable)")
    ap.add_argument("--address", default="127.0.0.1", help="loopback address to bind")
    ap.add_argument("--port", type=int, default=0, help="0: any free port")
    ap.add_argument("--port-file", help="write the port here once serving")
    ap.add_argument("--log", help="append one line per query: qname qtype")
    args = ap.parse_args()
    if args.address not in ("127.0.0.1", "::1") and not args.address.startswith("127."):
        ap.error("loopback addresses only")
    try:
        server = Server(args.zone, args.address, args.port, args.log)
    except (OSError, ZoneError) as e:
        print("dnsserver: %s" % e, file=sys.stderr)
        return 1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGHUP, lambda *_: server.reload())
    server.serve()
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % server.port)
        os.rename(tmp, args.port_file)
    print("port %d" % server.port, flush=True)
    while not stop.wait(1.0):
        pass
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
