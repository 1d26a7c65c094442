"""Stream option live_delivery. after_commit (the default): subscribers get a
stream's records only after their commit. on_receipt: plain subscribers get
them as they arrive, while the publisher's acknowledgement still waits for
the commit; subscribers that want the record's offset, consumer groups and
subscribers that fall behind still take the committed way, in log order.

The fsync shim holds every sync for seconds, so "before the commit" is seen
by what arrives first, not by timing the daemon."""
import json
import os
import signal
import subprocess
import unittest

from harness import BIN_DIR, PUBACK, PUBLISH, DaemonTest, RawClient, wait_for
from reliability import EnvDaemon, metrics, shim_env, storage_config

V311, V5 = 4, 5
LOADGEN = os.path.join(BIN_DIR, "loadgen")
STREAMS = ('[[stream]]\nname = "fast"\nsubjects = ["fast/#"]\nlive_delivery = "on_receipt"\n'
           '[[stream]]\nname = "slow"\nsubjects = ["slow/#"]\n')
META = {"user": [("stream-meta", "true")]}


def on_receipt(d):
    return metrics(d)["tributary_messages_delivered_on_receipt_total"]


class LiveDelivery(DaemonTest):
    def held_daemon(self, streams=STREAMS):
        """A daemon whose syncs sleep 3 s each while the trigger file exists."""
        d = EnvDaemon()
        self.daemons.append(d)
        self.trigger = os.path.join(d.workdir, "fsync-trigger")
        d.env = shim_env(self.trigger)
        d.config_text = storage_config(d.data_dir, "always") + streams
        return d.start()

    def hold_commits(self, on=True):
        if on:
            with open(self.trigger, "w") as f:
                f.write("DELAY 3000\n")
        elif os.path.exists(self.trigger):
            os.unlink(self.trigger)

    def test_on_receipt_delivers_before_the_commit_and_acks_after_it(self):
        d = self.held_daemon()
        sub = RawClient(d.port, V311, timeout=30)
        sub.connect("plain")
        sub.subscribe(("fast/#", 1), ("slow/#", 1))
        meta = RawClient(d.port, V5, timeout=30)
        meta.connect("meta")
        meta.subscribe(("fast/#", 1), props=META)
        pub = RawClient(d.port, V5, timeout=30)
        pub.connect("pub")

        self.hold_commits()
        pub.send(pub.publish_packet("fast/a", b"fast-1", qos=1, pid=1))
        got = sub.expect(PUBLISH, 2.5)  # the commit sleeps for 3 s
        self.assertEqual(got.payload, b"fast-1")
        self.assertEqual(pub.queued, [])
        with self.assertRaises(AssertionError):
            pub.expect(PUBACK, 0.2)  # not acknowledged before its commit
        meta.no_message(0.3)  # wants the offset: waits for the commit
        ack = pub.expect(PUBACK, 30)
        self.assertEqual((ack.pid, ack.rc), (1, 0))
        m = meta.expect(PUBLISH, 30)
        self.assertEqual(m.payload, b"fast-1")
        self.assertIn(("offset", "0"), m.props.get("user", []))
        sub.ack(got)
        meta.ack(m)

        # The default: nothing before the commit.
        pub.send(pub.publish_packet("slow/a", b"slow-1", qos=1, pid=2))
        sub.no_message(1.5)
        self.assertEqual(pub.expect(PUBACK, 30).pid, 2)
        self.assertEqual(sub.expect(PUBLISH, 30).payload, b"slow-1")
        self.assertEqual(on_receipt(d), 1)

        # SIGHUP switches a stream over; the log says so.
        self.hold_commits(False)
        d.config_text = storage_config(d.data_dir, "always") + STREAMS.replace(
            'subjects = ["slow/#"]\n', 'subjects = ["slow/#"]\nlive_delivery = "on_receipt"\n')
        d.write_config()
        mark = len(d.output())
        d.signal(signal.SIGHUP)
        wait_for(lambda: "stream slow live_delivery" in d.output()[mark:], 15, "the reload")
        self.hold_commits()
        pub.send(pub.publish_packet("slow/a", b"slow-2", qos=1, pid=3))
        self.assertEqual(sub.expect(PUBLISH, 2.5).payload, b"slow-2")
        self.assertEqual(pub.queued, [])
        self.assertEqual(pub.expect(PUBACK, 30).pid, 3)
        self.hold_commits(False)
        self.assertEqual(on_receipt(d), 2)
        self.assertEqual(d.stop(), 0)

    def test_a_subscriber_that_falls_behind_reads_the_log_in_order(self):
        d = self.daemon(STREAMS).start()
        sub = RawClient(d.port, V5, timeout=30)
        sub.connect("behind", props={"receive_maximum": 5})
        sub.subscribe(("fast/#", 1))
        pub = RawClient(d.port, V5, timeout=30)
        pub.connect("pub")
        pids = []
        out = b""
        for i in range(50):
            pids.append(pub.pid())
            out += pub.publish_packet("fast/a", b"m%02d" % i, qos=1, pid=pids[-1])
        pub.send(out)
        for _ in pids:
            pub.expect(PUBACK)
        # Its window (5) went on receipt; the rest waits for room, then comes
        # from the log, after those and in order.
        first = sub.messages(5, ack=False)
        sub.no_message(0.3)
        self.assertEqual(on_receipt(d), 5)
        for p in first:
            sub.ack(p)
        rest = sub.messages(45)
        self.assertEqual([p.payload for p in first + rest], [b"m%02d" % i for i in range(50)])
        sub.no_message(0.3)
        self.assertEqual(on_receipt(d), 5)
        # Caught up, it gets records on receipt again.
        for i in range(10):
            pub.publish("fast/a", b"n%02d" % i, qos=1)
            self.assertEqual(sub.messages(1)[0].payload, b"n%02d" % i)
        self.assertEqual(on_receipt(d), 15)

    def test_fan_in_loses_nothing_and_keeps_order(self):
        d = self.daemon(STREAMS).start()
        r = subprocess.run([LOADGEN, "--port", str(d.port), "--mqtt", "3", "-P", "8", "-S", "1", "-q", "1",
                            "-w", "64", "-n", "20000", "-t", "fast/{pub}", "-f", "fast/#", "--timeout", "240"],
                           capture_output=True, text=True, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        out = json.loads(r.stdout)
        self.assertEqual((out["acked"], out["received"]), (20000, 20000), out)
        self.assertEqual((out["lost"], out["missing"], out["duplicates"], out["reordered"]), (0, 0, 0, 0), out)
        self.assertGreater(on_receipt(d), 0)

    def test_persistent_session_cursor_counts_what_came_on_receipt(self):
        d = self.daemon(STREAMS).start()
        sub = RawClient(d.port, V311, timeout=30)
        sub.connect("keeper", clean=False)
        sub.subscribe(("fast/#", 1))
        pub = RawClient(d.port, V311, timeout=30)
        pub.connect("pub")
        for i in range(20):
            pub.publish("fast/a", b"k%02d" % i, qos=1)
        got = sub.messages(20, ack=False)
        self.assertEqual([p.payload for p in got], [b"k%02d" % i for i in range(20)])
        for p in got[:10]:
            sub.ack(p)
        sub.no_message(0.3)  # the acks are in
        sub.close()
        self.assertEqual(on_receipt(d), 20)
        self.assertEqual(d.stop(), 0)
        d.start()
        sub = RawClient(d.port, V311, timeout=30)
        self.assertEqual(sub.connect("keeper", clean=False).session_present, 1)
        again = sub.messages(10)
        self.assertEqual([p.payload for p in again], [b"k%02d" % i for i in range(10, 20)])
        sub.no_message(0.5)


if __name__ == "__main__":
    unittest.main()
