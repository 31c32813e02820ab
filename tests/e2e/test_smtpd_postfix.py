"""tests/e2e/test_smtpd_postfix.py - Postfix's own SMTP client relays to sluice-smtpd.

A private Postfix instance (its own config, queue and log folders under the
test's temporary folder; no listener of its own) has relayhost = the
gateway's sluice-smtpd. Mail injected with Postfix's sendmail is relayed over
STARTTLS; every queue id sluice answered must reach the end of the pipeline.
Skipped (77) without Postfix. The instance is stopped by its master's PID.
"""
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main  # noqa: E402
from smtpd_e2e import (free_port, read_record, recording_stage, require, selfsigned,  # noqa: E402
                       slurp, started, wait_for)

CONFIG = recording_stage() + """
smtpd:
  listen: ["127.0.0.1:%(port)d"]
  hostname: mx.test
  relay_domains: [example.com]
  tls_cert: $DIR/tls/smtpd-cert.pem
  tls_key: $DIR/tls/smtpd-key.pem
"""

MAIN_CF = """compatibility_level = 3.6
queue_directory = %(dir)s/pf-queue
data_directory = %(dir)s/pf-data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
mydestination =
relayhost = [127.0.0.1]:%(port)d
inet_interfaces = loopback-only
inet_protocols = ipv4
smtp_tls_security_level = encrypt
maillog_file_prefixes = %(dir)s
maillog_file = %(dir)s/postfix.log
alias_maps =
alias_database =
"""

# No smtp inet listener: this instance only sends.
MASTER_CF = """pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
tlsmgr unix - - n 1000? 1 tlsmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"""


require("sluice", "sluice-smtpd", "sluice-stage-example",
        reason=None if os.path.exists("/usr/sbin/postfix") and os.geteuid() == 0
        else "needs Postfix and root (a private Postfix instance)")


class PostfixRelay(unittest.TestCase):
    def test_postfix_relays_over_starttls(self):
        port = free_port()
        gw = Gateway(CONFIG % {"port": port}, name="postfix")
        self.addCleanup(gw.cleanup)
        selfsigned(gw.path("tls"))
        started(gw, {"example": 1}, port)

        conf = gw.path("pf-conf")
        os.chmod(gw.dir, 0o755)  # Postfix's daemons run as the postfix user
        os.makedirs(conf)
        os.makedirs(gw.path("pf-queue"))
        os.makedirs(gw.path("pf-data"))
        subprocess.run(["chown", "postfix", gw.path("pf-data")], check=True, timeout=10)
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(MAIN_CF % {"dir": gw.dir, "port": port})
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(MASTER_CF)
        subprocess.run(["postfix", "-c", conf, "post-install", "create-missing"],
                       capture_output=True, timeout=60)
        r = subprocess.run(["postfix", "-c", conf, "start"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr + slurp(gw.path("postfix.log")))
        pidfile = gw.path("pf-queue/pid/master.pid")
        self.assertTrue(wait_for(lambda: os.path.exists(pidfile), 10))
        with open(pidfile) as f:
            master = int(f.read().strip())
        self.addCleanup(self.stop_master, master)

        count = 50
        for i in range(count):
            msg = "Subject: relayed %d\nMessage-ID: <%d@relay.test>\n\nbody %d\n" % (i, i, i)
            subprocess.run(["sendmail", "-C", conf, "-f", "sender@b.test", "rcpt@example.com"],
                           input=msg.encode(), check=True, timeout=30)
        log = gw.path("postfix.log")
        sent = lambda: re.findall(r"status=sent \(250 2\.0\.0 Ok: queued as (\w+)\)", slurp(log))  # noqa: E731
        self.assertTrue(wait_for(lambda: len(sent()) == count, 120, step=0.5),
                        slurp(log)[-3000:])
        qids = sent()
        self.assertTrue(wait_for(lambda: set(qids) <= set(read_record(gw.path("record"))), 30))
        self.assertEqual(slurp(gw.log_path).count("starttls client=127.0.0.1 version=TLSv1."),
                         len(re.findall(r"starttls client=127.0.0.1", slurp(gw.log_path))))
        self.assertIn("tls=TLSv1.", slurp(gw.log_path))

    @staticmethod
    def stop_master(pid):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        for _ in range(100):
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


if __name__ == "__main__":
    main()
