"""Crash campaign: QoS 1 and QoS 2 publishers (MQTT 3.1.1 and 5.0) publish as
fast as the daemon acknowledges while the daemon is killed with SIGKILL at
random moments, many times. After the last restart the stream is read back
from its first offset:

- every acknowledged message is stored, once, in its publisher's partition
  and in the order it was published (no gap in any partition's offsets);
- no batch is corrupt (metric and log);
- every restart was ready within a bound.

What counts as the acknowledgement: PUBACK for QoS 1, PUBREC for QoS 2. The
daemon sends PUBREC only after the commit that stores the message (under the
configured sync policy), so from PUBREC on the message must survive a crash
even if PUBREL/PUBCOMP never happen [MQTT-4.3.3].

The seed of the random kill schedule is printed; TRIB_CRASH_SEED replays a
schedule and TRIB_CRASH_KILLS changes the number of kills (make soak runs
more)."""
import os
import random
import signal
import time
import unittest

from harness import PUBREC, DaemonTest, RawClient, wait_for
from reliability import (EnvDaemon, Publisher, metrics, replay_all, shim_env, storage_config,
                         total_acked)

V311, V5 = 4, 5
KILLS = int(os.environ.get("TRIB_CRASH_KILLS", "15"))
READY_BOUND_S = 60  # generous: ASan build on a loaded 2-core machine

STREAM = '[[stream]]\nname = "rel"\nsubjects = ["rel/#"]\npartitions = 3\n'


class CrashCampaign(DaemonTest):
    def start_daemon(self, sync):
        d = EnvDaemon()
        self.daemons.append(d)
        d.config_text = storage_config(d.data_dir, sync) + STREAM
        d.start()
        return d

    def campaign(self, sync, kills):
        seed = int(os.environ.get("TRIB_CRASH_SEED", str(int(time.time() * 1000) % 1000000)))
        print("crash campaign: sync=%s kills=%d seed=%d (TRIB_CRASH_SEED=%d replays it)" % (sync, kills, seed, seed))
        rng = random.Random(seed)
        d = self.start_daemon(sync)
        port = d.port
        pubs = [Publisher("q1v3", lambda: port, V311, 1, "rel/q1v3"),
                Publisher("q1v5", lambda: port, V5, 1, "rel/q1v5"),
                Publisher("q2v3", lambda: port, V311, 2, "rel/q2v3"),
                Publisher("q2v5", lambda: port, V5, 2, "rel/q2v5")]
        for p in pubs:
            p.start()
        ready_s = []
        try:
            for i in range(kills):
                # A random moment under load: after a random number of new
                # acknowledgements, plus a random pause.
                base = total_acked(pubs)
                need = rng.randint(20, 600)
                wait_for(lambda: total_acked(pubs) >= base + need or d.proc.poll() is not None, 120,
                         "acknowledgements before kill %d" % (i + 1))
                self.assertIsNone(d.proc.poll(), "tributaryd died on its own:\n" + d.output()[-3000:])
                time.sleep(rng.uniform(0, 0.3))
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(30)
                t0 = time.monotonic()
                d.start(wait=False)
                d.wait_ready(READY_BOUND_S)
                ready_s.append(time.monotonic() - t0)
            base = total_acked(pubs)
            wait_for(lambda: total_acked(pubs) >= base + 50, 120, "acknowledgements after the last restart")
        finally:
            for p in pubs:
                p.stop()
            for p in pubs:
                p.join(30)
        for p in pubs:
            self.assertFalse(p.is_alive(), "publisher %s did not stop" % p.name)
            self.assertEqual([e for e in p.errors if e.startswith("unexpected")], [], p.name)
            self.assertEqual(p.rejected, [], "%s: refused messages" % p.name)
        print("restarts ready after (s): %s" % " ".join("%.2f" % s for s in ready_s))
        print("per publisher: " + ", ".join("%s sent %d acked %d connects %d" % (p.name, p.sent, len(p.acked), p.connects)
                                            for p in pubs))
        self.check_log(d, pubs)
        self.assertEqual(d.stop(), 0)

    def check_log(self, d, pubs):
        records, want = replay_all(d, "rel", "rel/#")
        by_part = {}
        stored = {p.name: [] for p in pubs}
        where = {p.name: set() for p in pubs}
        for part, off, topic, payload in records:
            by_part.setdefault(part, []).append(off)
            name, _, n = payload.decode().rpartition("-")
            self.assertIn(name, stored, "a record nobody published: %r" % payload)
            self.assertEqual(topic, "rel/" + name)
            stored[name].append(int(n))
            where[name].add(part)
        for part, (start, end) in want.items():
            self.assertEqual(by_part.get(part, []), list(range(start, end)), "partition %d offsets" % part)
        for p in pubs:
            got = stored[p.name]
            missing = sorted(set(p.acked) - set(got))
            self.assertEqual(missing[:20], [], "%s: %d acknowledged messages lost" % (p.name, len(missing)))
            self.assertEqual(len(got), len(set(got)), "%s: stored twice" % p.name)
            self.assertEqual(got, sorted(got), "%s: stored out of publish order" % p.name)
            self.assertLess(max(got), p.sent)
            self.assertEqual(len(where[p.name]), 1, "%s: records in partitions %r" % (p.name, where[p.name]))
        m = metrics(d)
        self.assertEqual(m.get("tributary_storage_corrupt_batches_total"), 0)
        self.assertNotIn("corrupt", d.output().lower())
        print("log: %d records, all %d acknowledged present" % (len(records), sum(len(p.acked) for p in pubs)))

    def test_sigkill_campaign_sync_always(self):
        self.campaign("always", KILLS)

    def test_sigkill_campaign_sync_interval(self):
        self.campaign("interval", max(3, KILLS // 2))


class Qos2Resend(DaemonTest):
    """A QoS 2 client that loses its connection before PUBREC resends the
    PUBLISH (DUP) on a new connection while the first copy is still being
    committed. A PUBREC for the resend must also wait for a commit: if the
    daemon acknowledged it and then died, the message would be lost."""

    def test_pubrec_for_a_resend_waits_for_the_commit(self):
        for v in (V311, V5):
            with self.subTest(version=v):
                self.resend_during_commit(v)

    def resend_during_commit(self, v):
        d = EnvDaemon()
        self.daemons.append(d)
        trigger = os.path.join(d.workdir, "fsync-trigger")
        shim_log = os.path.join(d.workdir, "fsync-shim.log")
        d.env = shim_env(trigger, shim_log)
        d.config_text = storage_config(d.data_dir, "always") + STREAM
        d.start()
        cid = "q2-resend-%d" % v
        props = {"session_expiry": 3600} if v == V5 else None
        c = RawClient(d.port, v)
        c.connect(cid, clean=False, props=props)
        c.publish("rel/warm", b"warm", qos=1)  # the session's own write is committed by now
        with open(trigger, "w") as f:
            f.write("DELAY 15000\n")  # the next commit's sync takes 15 s
        c.send(c.publish_packet("rel/resend", b"only-copy", qos=2, pid=7))
        wait_for(lambda: os.path.exists(shim_log) and "DELAY" in open(shim_log).read(), 30,
                 "the commit to reach its (slow) sync")
        c.close()  # the connection is lost before PUBREC
        c2 = RawClient(d.port, v)
        ack = c2.connect(cid, clean=False, props=props)
        self.assertEqual(ack.session_present, 1)
        c2.send(c2.publish_packet("rel/resend", b"only-copy", qos=2, pid=7, dup=True))
        try:
            rec = c2.expect(PUBREC, 4)
        except AssertionError:
            rec = None
        # Whatever was acknowledged must survive: die now, mid-sync.
        d.kill()
        c2.close()
        os.unlink(trigger)
        d.start()
        if rec is not None and rec.rc < 0x80:
            records, _ = replay_all(d, "rel", "rel/#", client_id="resend-reader")
            self.assertIn(b"only-copy", [r[3] for r in records],
                          "PUBREC was sent for the resend, but the message is not stored")
        # The client resends again after the restart: now it is stored and acknowledged.
        c3 = RawClient(d.port, v)
        c3.connect(cid, clean=False, props=props)
        rec = c3.publish("rel/resend", b"only-copy", qos=2, pid=7, dup=True)
        self.assertLess(rec.rc, 0x80)
        c3.close()
        records, _ = replay_all(d, "rel", "rel/#", client_id="resend-reader-2")
        self.assertIn(b"only-copy", [r[3] for r in records])
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
