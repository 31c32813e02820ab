"""tests/e2e/sluice_downstream.py - a real SMTP server on loopback for delivery tests.

Downstream(port=None) runs Python's aiosmtpd (Debian python3-aiosmtpd) on
127.0.0.1, on a free port chosen in 26000-26999 unless one is given (a test
that needs "down, then up on the same port" picks the port first and starts
later). Every accepted message is kept as (mail_from, rcpts, content bytes
exactly as received, dot-unstuffed). Scripted failures:
  fail_rcpt   {address: "550 5.1.1 ..."}   RCPT answer for those recipients
  defer_data  N                            the first N DATA commands get 451
PIPELINING is advertised, so the client's pipelined path is the one tested;
with tls_context (an ssl.SSLContext) STARTTLS is offered too.
Everything runs in aiosmtpd's own thread; stop() is bounded.
"""
import threading
import time
from sluice_e2e import free_port as _free_port  # noqa: E402

try:
    from aiosmtpd.controller import Controller
    HAVE_AIOSMTPD = True
except ImportError:  # the tests skip with a reason
    HAVE_AIOSMTPD = False


def free_port():
    """A free port on 127.0.0.1 in 26000-26999 (see sluice_e2e.free_port)."""
    return _free_port(26000, 26999)


class _Handler:
    def __init__(self, owner):
        self.owner = owner

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        responses.insert(len(responses) - 1, "250-PIPELINING")
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.owner.fail_rcpt.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.owner.lock:
            if self.owner.defer_data > 0:
                self.owner.defer_data -= 1
                self.owner.deferred += 1
                return "451 4.3.0 try again later (scripted)"
            self.owner.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                        bytes(envelope.original_content or envelope.content)))
        return "250 2.0.0 accepted"


class Downstream:
    def __init__(self, port=None, tls_context=None):
        self.port = port or free_port()
        self.tls_context = tls_context  # ssl.SSLContext: offer STARTTLS
        self.messages = []
        self.fail_rcpt = {}
        self.defer_data = 0
        self.deferred = 0
        self.lock = threading.Lock()
        self.controller = None

    def start(self):
        extra = {"tls_context": self.tls_context} if self.tls_context else {}
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port,
                                     ready_timeout=10, **extra)
        self.controller.start()
        return self

    def stop(self):
        if self.controller:
            self.controller.stop()
            self.controller = None

    def wait(self, count, timeout=30):
        """Wait until COUNT messages have arrived; returns the list."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.05)
        with self.lock:
            return list(self.messages)

    def snapshot(self):
        with self.lock:
            return list(self.messages)
