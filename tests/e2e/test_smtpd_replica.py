"""tests/e2e/test_smtpd_replica.py - spool.replica: a second copy before the 250.

A gateway (`sluice start`: broker and a recording example stage, no smtpd)
does the filtering. Primary smtpds send each accepted message to a peer
smtpd (spool.replica_listen) and answer 250 only after the peer's copy is
durable. Killed primary with its spool deleted: the peer takes the copies
over and they reach the end of the pipeline. Peer down: 451 4.3.0, no 250.
Released by the primary: the peer drops its copy.
"""
import os
import shutil
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from sluice_e2e import Gateway, main  # noqa: E402
from smtpd_e2e import (Raw, Smtpd, free_port, read_record, recording_stage, require,  # noqa: E402
                       send_many, started, wait_for)


require("sluice", "sluice-smtpd", "sluice-stage-example")


class Replica(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = started(Gateway(recording_stage(), name="replica", broker="message_timeout: 3s"),
                         {"example": 1})

    @classmethod
    def tearDownClass(cls):
        cls.gw.cleanup()

    def smtpd(self, spool_yaml, frontend=None, name="node"):
        d = Smtpd(extra_yaml=Smtpd.GRAPH + "spool:\n" + spool_yaml, name=name,
                  frontend=frontend)
        self.addCleanup(d.cleanup)
        return d.start()

    def peer(self, takeover):
        port = free_port()
        peer = self.smtpd("  replica_listen: \"127.0.0.1:%d\"\n  replica_takeover: %s\n"
                          % (port, takeover), frontend=self.gw.front, name="peer")
        return peer, port

    def test_primary_lost_peer_takes_over(self):
        peer, rport = self.peer("2s")
        primary = self.smtpd("  replica: \"127.0.0.1:%d\"\n" % rport, name="primary")
        self.assertTrue(primary.wait_log("replica link up"))
        accepted, failed = send_many(primary.port, 20, sessions=2)
        self.assertEqual((len(accepted), failed), (20, 0))
        self.assertEqual(sorted(os.listdir(os.path.join(peer.spool, "replica"))), sorted(accepted))
        self.assertIn("replica=yes", primary.log())
        primary.stop(signal.SIGKILL)
        shutil.rmtree(primary.spool)  # the primary's disk is gone
        record = self.gw.path("record")
        ok = wait_for(lambda: set(accepted) <= set(read_record(record)), 30, step=0.2)
        self.assertTrue(ok, "missing %d\n%s" % (len(set(accepted) - set(read_record(record))),
                                                peer.log()[-3000:]))
        self.assertIn("replica takeover", peer.log())
        self.assertTrue(wait_for(lambda: not peer.entries() and
                                 not os.listdir(os.path.join(peer.spool, "replica")), 20))

    def test_peer_down_gives_451(self):
        primary = self.smtpd("  replica: \"127.0.0.1:%d\"\n  replica_timeout: 1s\n" % free_port(),
                             name="lonely")
        r = Raw(primary.port)
        r.begin_data()
        r.send(b"Subject: x\r\n\r\nx\r\n.\r\n")
        self.assertEqual(r.reply(), "451 4.3.0 Error: queue file write error, try again later")
        self.assertEqual(primary.entries(), [])
        self.assertTrue(primary.wait_log('reason="replica link down"'))

    def test_release_drops_the_copy(self):
        peer, rport = self.peer("1h")
        primary = self.smtpd("  replica: \"127.0.0.1:%d\"\n" % rport, frontend=self.gw.front,
                             name="primary2")
        self.assertTrue(primary.wait_log("replica link up"))
        accepted, _ = send_many(primary.port, 10, sessions=2)
        self.assertEqual(len(accepted), 10)
        record = self.gw.path("record")
        self.assertTrue(wait_for(lambda: set(accepted) <= set(read_record(record)), 20))
        self.assertTrue(wait_for(lambda: not os.listdir(os.path.join(peer.spool, "replica"))
                                 and not primary.entries(), 20),
                        os.listdir(os.path.join(peer.spool, "replica")))
        self.assertNotIn("replica takeover", peer.log())


if __name__ == "__main__":
    main()
