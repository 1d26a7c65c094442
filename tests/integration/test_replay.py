"""Replay over MQTT: a subscription starts at earliest, latest, an offset, a
time (RFC 3339) or a relative time; MQTT 5 with the `replay` subscription user
property, any version with `$replay/<position>/<filter>`. Deliveries carry
stream, partition, offset and timestamp when asked (`stream-meta`). Bad or
out-of-range positions get a SUBACK failure and a logged reason."""
import re
import time
import unittest
import urllib.request

from harness import PUBLISH, MqttTest, raw, wait_for

STREAM = '[[stream]]\nname = "telemetry"\nsubjects = ["sensors/#"]\n'


def rfc3339(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


class Replay(MqttTest):
    def fill(self, d, n, start=0):
        pub = self.client(d.port, 5, "filler-%d" % start)
        for i in range(start, start + n):
            pub.publish("sensors/a", "r%d" % i, qos=1)
        return pub

    def drain(self, c, n):
        out = []
        for _ in range(n):
            p = c.expect(PUBLISH)
            if p.qos:
                c.send(c.ack_packet(4, p.pid))  # PUBACK
            out.append(p)
        return out

    def subscribe_replay(self, c, version, position, flt="sensors/#", meta=False):
        if version == 5 and not position.startswith("$"):
            props = {"user": [("replay", position)] + ([("stream-meta", "true")] if meta else [])}
            return c.subscribe((flt, 1), props=props)
        return c.subscribe(("$replay/%s/%s" % (position, flt), 1))

    def test_positions_both_versions(self):
        d = self.daemon(STREAM).start()
        self.fill(d, 10)
        time.sleep(0.05)  # timestamps have millisecond resolution: keep r9 strictly older
        mid = int(time.time() * 1000)
        time.sleep(0.05)
        self.fill(d, 5, start=10)
        for v in (4, 5):
            for position, want in (("earliest", range(0, 15)), ("offset:7", range(7, 15)), ("12", range(12, 15)),
                                   ("time:" + rfc3339(mid), range(10, 15)), (rfc3339(mid), range(10, 15)),
                                   ("-1h", range(0, 15))):
                with self.subTest(version=v, position=position):
                    c = self.client(d.port, v, "r-%d-%s" % (v, position.replace(":", "")))
                    self.assertEqual(self.subscribe_replay(c, v, position).rcs, [1])
                    got = [p.payload.decode() for p in self.drain(c, len(want))]
                    self.assertEqual(got, ["r%d" % i for i in want])
                    self.assertTrue(c.is_open(0.3))  # nothing more
                    c.close()

    def test_latest_then_live(self):
        d = self.daemon(STREAM).start()
        pub = self.fill(d, 3)
        c = self.client(d.port, 4, "latest")
        self.assertEqual(self.subscribe_replay(c, 4, "latest").rcs, [1])
        pub.publish("sensors/a", "live", qos=1)
        self.assertEqual(c.expect(PUBLISH).payload, b"live")

    def test_stream_meta_user_properties(self):
        d = self.daemon(STREAM).start()
        self.fill(d, 3)
        c = self.client(d.port, 5, "meta")
        self.assertEqual(self.subscribe_replay(c, 5, "offset:1", meta=True).rcs, [1])
        got = self.drain(c, 2)
        for i, p in enumerate(got, start=1):
            up = dict(p.props.get("user", []))
            self.assertEqual(up.get("stream"), "telemetry")
            self.assertEqual(up.get("partition"), "0")
            self.assertEqual(up.get("offset"), str(i))
            self.assertGreater(int(up.get("timestamp")), 1_600_000_000_000)

    def read_ahead_bytes(self, d):
        text = urllib.request.urlopen("http://%s/metrics" % d.addresses["admin"], timeout=10).read().decode()
        return int(float(re.search(r"^tributary_read_ahead_bytes (\S+)$", text, re.M).group(1)))

    def test_read_ahead_window_by_window_and_a_new_position(self):
        # One read takes more records than a QoS 1 window of 10; the rest is
        # held (counted in tributary_read_ahead_bytes) and sent as acks come.
        d = self.daemon(STREAM).start()
        pub = self.fill(d, 300)
        c = self.client(d.port, 5, "window", props={"receive_maximum": 10})
        self.assertEqual(self.subscribe_replay(c, 5, "earliest").rcs, [1])
        first = [c.expect(PUBLISH) for _ in range(10)]
        self.assertTrue(c.is_open(0.3))
        self.assertEqual([p.payload.decode() for p in first], ["r%d" % i for i in range(10)])
        self.assertGreater(self.read_ahead_bytes(d), 0)
        # A new position while records are held: delivery starts there.
        self.assertEqual(self.subscribe_replay(c, 5, "offset:5").rcs, [1])
        for p in first:
            c.send(c.ack_packet(4, p.pid))
        got = [p.payload.decode() for p in self.drain(c, 295)]
        self.assertEqual(got, ["r%d" % i for i in range(5, 300)])
        self.assertTrue(c.is_open(0.3))  # nothing more
        wait_for(lambda: self.read_ahead_bytes(d) == 0, 10, "held reads to be released")
        pub.publish("sensors/a", "live", qos=1)  # caught up: live again
        self.assertEqual(c.expect(PUBLISH).payload, b"live")

    def test_read_ahead_is_given_back_while_a_session_is_offline(self):
        d = self.daemon(STREAM).start()
        self.fill(d, 200)
        props = {"receive_maximum": 10, "session_expiry": 300}
        c = self.client(d.port, 5, "away", clean=False, props=props)
        self.assertEqual(self.subscribe_replay(c, 5, "earliest").rcs, [1])
        for _ in range(10):
            c.expect(PUBLISH)  # not acknowledged
        self.assertGreater(self.read_ahead_bytes(d), 0)
        c.close()
        wait_for(lambda: self.read_ahead_bytes(d) == 0, 10, "the offline session to give back its read")
        c = self.client(d.port, 5, "away", clean=False, props=props)
        got = [p.payload.decode() for p in self.drain(c, 200)]  # the 10 unacknowledged come again first
        self.assertEqual(got, ["r%d" % i for i in range(200)])
        self.assertTrue(c.is_open(0.3))

    def test_bad_positions_refused_with_reason(self):
        d = self.daemon(STREAM).start()
        self.fill(d, 3)
        for v, fail in ((4, 0x80), (5, 0x83)):
            for position in ("bogus", "offset:999", "2999-01-01T00:00:00Z", "time:yesterday"):
                with self.subTest(version=v, position=position):
                    c = self.client(d.port, v, "bad-%d" % v)
                    self.assertEqual(self.subscribe_replay(c, v, position).rcs, [fail])
                    c.close()
        wait_for(lambda: "past the end of every partition" in d.output(), 5, "reason logged")
        self.assertIn('got "bogus"', d.output())
        # A replay on topics no stream captures is refused too.
        c = self.client(d.port, 4, "nostream")
        self.assertEqual(c.subscribe(("$replay/earliest/other/#", 1)).rcs, [0x80])


if __name__ == "__main__":
    unittest.main(verbosity=2)
