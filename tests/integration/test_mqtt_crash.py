"""Crash safety through MQTT: a publisher sends QoS 1 as fast as it can while the
daemon is killed with SIGKILL; after a restart on the same data directory, the
persistent subscribers (MQTT 3.1.1 and 5.0, offline during the run) receive
every message whose PUBACK the publisher got, in log order, without duplicates.

This is DESIGN.md's rule "a crash never loses an acknowledged message" seen from
the outside: [MQTT-4.3.2-2]/[MQTT-4.3.2-3] (PUBACK means the receiver owns the
message) plus 3.1.1 [MQTT-3.1.2-4] / 5.0 [MQTT-3.1.2-5] (session state survives)."""
import signal
import threading
import time
import unittest

from harness import PUBACK, PUBCOMP, PUBREC, PUBREL, Closed, MqttTest, RawClient

V311, V5 = 4, 5
WINDOW = 32  # below the default receive maximum (64)


class Publisher(threading.Thread):
    """Publishes "p-000000", "p-000001", ... at QoS 1 with a window of WINDOW
    in-flight messages until the connection breaks; records what was acked."""

    def __init__(self, port, version):
        super().__init__(daemon=True)
        self.c = RawClient(port, version, timeout=5)
        self.c.connect("crash-pub", clean=True)
        self.acked = []  # payload numbers, in PUBACK order
        self.sent = 0
        self.bad_acks = []
        self.stop_at = time.monotonic() + 60
        self.error = None

    def run(self):
        inflight = {}  # pid -> number
        try:
            while time.monotonic() < self.stop_at:
                while len(inflight) < WINDOW:
                    pid = self.c.pid()
                    inflight[pid] = self.sent
                    self.c.publish("crash/%d" % (self.sent % 4), b"p-%06d" % self.sent, qos=1, pid=pid, wait=False)
                    self.sent += 1
                ack = self.c.expect(PUBACK, 5)
                if ack.rc != 0:
                    self.bad_acks.append(ack)
                    continue
                self.acked.append(inflight.pop(ack.pid))
        except (Closed, OSError, AssertionError) as e:
            self.error = e  # the daemon died under us: expected


class Crash(MqttTest):
    def _crash(self, sync):
        d = self.daemon()
        d.config_text = ('[storage]\ndir = "%s"\nsync = "%s"\n' % (d.data_dir, sync) +
                         '[[stream]]\nname = "t"\nsubjects = ["#"]\n')
        d.start()
        # Persistent subscribers, offline while the publisher runs. The third
        # began its session with Clean Start 1 and an expiry: the session still
        # outlives the connection [MQTT-3.1.2-23] and so the restart (Mosquitto
        # 2.0 saves only sessions whose last CONNECT had Clean Start 0).
        subs = [("crash-sub-4", V311, False), ("crash-sub-5", V5, False), ("crash-sub-5c", V5, True)]
        for name, v, first_clean in subs:
            s = RawClient(d.port, v)
            s.connect(name, clean=first_clean, props={"session_expiry": 3600} if v == V5 else None)
            s.subscribe(("crash/#", 1), expect=[1])
            s.disconnect()
        pub = Publisher(d.port, V5)
        pub.start()
        deadline = time.monotonic() + 30
        while len(pub.acked) < 2000 and time.monotonic() < deadline and pub.is_alive():
            time.sleep(0.01)
        self.assertTrue(pub.is_alive(), "publisher stopped early: %r" % pub.error)
        self.assertGreater(len(pub.acked), 100, "too few acks before the kill")
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        pub.join(15)
        self.assertFalse(pub.is_alive(), "publisher did not notice the kill")
        pub.c.close()
        self.assertEqual(pub.bad_acks, [])
        acked = set(pub.acked)
        self.assertEqual(len(acked), len(pub.acked), "a packet id was acked twice")
        print("sync=%s: sent %d, acked %d before SIGKILL" % (sync, pub.sent, len(acked)))

        d.start()
        for name, v, _ in subs:
            with self.subTest(subscriber=name):
                s = self.rawsock(d.port, v)
                ack = s.connect(name, clean=False, props={"session_expiry": 3600} if v == V5 else None)
                self.assertEqual(ack.session_present, 1)
                got = []
                end = time.monotonic() + 60
                while time.monotonic() < end:
                    try:
                        (m,) = s.messages(1, timeout=3)
                    except AssertionError:
                        break  # 3 s of silence: the backlog is drained
                    self.assertEqual(m.topic, "crash/%d" % (int(m.payload[2:]) % 4))
                    got.append(int(m.payload[2:]))
                missing = sorted(acked - set(got))
                self.assertEqual(missing[:20], [], "%d acknowledged messages lost" % len(missing))
                self.assertEqual(got, sorted(got), "delivered out of log order")
                self.assertEqual(len(got), len(set(got)), "duplicates delivered")
                self.assertLessEqual(max(got), pub.sent - 1)
        self.assertEqual(d.stop(), 0)

    def test_sigkill_mid_stream_sync_always(self):
        self._crash("always")

    def test_sigkill_mid_stream_sync_none(self):
        # sync = "none" skips fsync, but a committed LMDB transaction is in the page
        # cache: a process crash (not a power cut) loses nothing acknowledged.
        self._crash("none")

    def test_qos2_resend_after_sigkill_is_not_stored_twice(self):
        """A persistent session's QoS 2 packet ids awaiting PUBREL survive a
        SIGKILL: PUBREC goes out only once the id is stored with the session, so
        the publisher's resend (DUP) after the restart is recognised and not
        stored again, its PUBREL completes with success, and a new message that
        reuses a released id (DUP clear) is stored."""
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon()
                d.config_text = ('[storage]\ndir = "%s"\nsync = "always"\n' % d.data_dir +
                                 '[[stream]]\nname = "t"\nsubjects = ["q2/#"]\n')
                d.start()
                props = {"session_expiry": 3600} if v == V5 else None
                pub = RawClient(d.port, v)
                pub.connect("q2-pub", clean=False, props=props)
                pub.send(pub.publish_packet("q2/a", b"first", qos=2, pid=7))
                rec = pub.expect(PUBREC)
                self.assertEqual((rec.pid, rec.rc), (7, 0))
                # A second message released before the crash: its id may be reused.
                pub.send(pub.publish_packet("q2/a", b"second", qos=2, pid=8))
                self.assertEqual(pub.expect(PUBREC).pid, 8)
                pub.send(pub.ack_packet(PUBREL, 8))
                self.assertEqual(pub.expect(PUBCOMP).pid, 8)
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(10)
                pub.close()
                d.start()
                pub = RawClient(d.port, v)
                self.assertEqual(pub.connect("q2-pub", clean=False, props=props).session_present, 1)
                # The resend of id 7 (DUP): acknowledged, not stored again.
                pub.send(pub.publish_packet("q2/a", b"first", qos=2, dup=True, pid=7))
                rec = pub.expect(PUBREC)
                self.assertEqual((rec.pid, rec.rc), (7, 0))
                pub.send(pub.ack_packet(PUBREL, 7))
                comp = pub.expect(PUBCOMP)
                self.assertEqual((comp.pid, comp.rc), (7, 0))  # known: not 0x92
                # Id 8 was released: a new message under it (DUP clear) is stored.
                pub.send(pub.publish_packet("q2/a", b"third", qos=2, pid=8))
                self.assertEqual(pub.expect(PUBREC).pid, 8)
                pub.send(pub.ack_packet(PUBREL, 8))
                self.assertEqual(pub.expect(PUBCOMP).pid, 8)
                pub.disconnect()
                sub = self.rawsock(d.port, v)
                sub.connect("q2-sub-%d" % v)
                sub.subscribe(("$replay/earliest/q2/#", 1), expect=[1])
                got = [m.payload for m in sub.messages(3, timeout=5)]
                self.assertEqual(got, [b"first", b"second", b"third"])
                with self.assertRaises(AssertionError):  # and nothing more
                    sub.messages(1, timeout=1)
                self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
