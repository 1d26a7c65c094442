"""SUBSCRIBE / UNSUBSCRIBE in the real tributaryd, MQTT 3.1.1 and 5.0: wildcard
matching (+ and #), the $-topic rule, invalid filters, UNSUBACK codes, shared
subscriptions ($share/<group>/<filter>) and the SUBACK/UNSUBACK wire format.

Spec references: [MQTT-x.y.z-n] from MQTT 3.1.1 / 5.0."""
import collections
import unittest

from harness import (PUBLISH, SUBACK, NO_STREAM_CONFIG, STREAM_CONFIG, MqttTest, enc_str, packet)

V311, V5 = 4, 5
CONFIGS = (("stream", STREAM_CONFIG), ("nostream", NO_STREAM_CONFIG))

# filter -> topics (of TOPICS) it must match [MQTT-4.7.1-1..3], 4.7.2 ($ topics).
TOPICS = ["a", "a/b", "a/b/c", "a/c", "b/b", "/a", "a/", "$data/x", "$other/a/b"]
MATCHES = {
    "#": ["a", "a/b", "a/b/c", "a/c", "b/b", "/a", "a/"],
    "a/#": ["a", "a/b", "a/b/c", "a/c", "a/"],
    "a/+": ["a/b", "a/c", "a/"],
    "+/b": ["a/b", "b/b"],
    "+": ["a"],
    "+/+": ["a/b", "a/c", "b/b", "/a", "a/"],
    "/+": ["/a"],
    "a/b/c": ["a/b/c"],
    "+/#": ["a", "a/b", "a/b/c", "a/c", "b/b", "/a", "a/"],
    "$data/#": ["$data/x"],
    "$other/+/b": ["$other/a/b"],
    "+/a/b": [],
}


class Subscribe(MqttTest):
    def test_wildcards_and_dollar_topics(self):
        # (Topics starting with "$" other than $SYS are used, since clients may not
        # publish to $SYS.) [MQTT-4.7.1-2] "#" matches the parent and any number of levels;
        # [MQTT-4.7.1-3] '+' matches exactly one level (also an empty one);
        # [MQTT-4.7.2-1] filters starting with a wildcard do not match topics
        # starting with '$'.
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, version=v):
                    d = self.daemon(config).start()
                    subs = {}
                    for i, flt in enumerate(MATCHES):
                        c = self.client(d.port, v, "w%d" % i)
                        c.subscribe((flt, 1), expect=[1])
                        subs[flt] = c
                    pub = self.client(d.port, v, "wpub")
                    for t in TOPICS:
                        pub.publish(t, t.encode(), qos=1)
                    for flt, c in subs.items():
                        want = MATCHES[flt]
                        got = [m.topic for m in c.messages(len(want))]
                        self.assertEqual(got, want, flt)
                        self.assertEqual([m.payload.decode() for m in c.queued if m.type == PUBLISH], [])
                    for flt, c in subs.items():
                        c.no_message(0.05)

    def test_v5_invalid_filter_is_malformed_disconnect_0x81(self):
        # [MQTT-4.7.1-1]: '#' must be last and alone in its level, '+' must occupy a
        # whole level. A filter that breaks these rules is not "correctly formed"
        # (0x8F is for well-formed filters the server refuses), so the SUBSCRIBE is
        # a Malformed Packet: DISCONNECT 0x81 [MQTT-4.13.1-1]. Other clients go on.
        d = self.daemon(STREAM_CONFIG).start()
        for bad in ("a/#/b", "a#", "a/b+", "$share/g", "$share/g+/x", "$share//x"):
            with self.subTest(filter=bad):
                c = self.client(d.port, V5, "inv5")
                c.send(packet(8, 2, b"\x00\x07\x00" + enc_str("ok/+") + b"\x01" + enc_str(bad) + b"\x01"))
                dis = c.expect_close()
                self.assertIsNotNone(dis, "no DISCONNECT before close")
                self.assertEqual(dis.rc, 0x81)
        other = self.client(d.port, V5, "still-served")
        self.assertEqual(other.subscribe(("ok/+", 1)).rcs, [1])

    def test_v311_invalid_filter_closes_connection(self):
        # 3.1.1 [MQTT-4.7.1-1], [MQTT-4.7.1-2]: an invalid filter is a protocol
        # violation, and 3.1.1 closes without a reply [MQTT-4.8.0-1].
        d = self.daemon(STREAM_CONFIG).start()
        c = self.client(d.port, V311, "inv311")
        c.send(packet(8, 2, b"\x00\x07" + enc_str("x/y") + b"\x02" + enc_str("a/#/b") + b"\x01"))
        self.assertIsNone(c.expect_close())
        other = self.client(d.port, V311, "still-served")
        self.assertEqual(other.subscribe(("x/y", 2)).rcs, [2])

    def test_suback_exact_bytes(self):
        # [MQTT-3.8.4-1]/[MQTT-3.9.2-1]: SUBACK with the SUBSCRIBE's packet id and
        # one granted QoS per filter, in order [MQTT-3.8.4-6]/[MQTT-3.9.3-1].
        d = self.daemon(STREAM_CONFIG).start()
        c = self.client(d.port, V311, "sb311")
        c.send(packet(8, 2, b"\x12\x34" + enc_str("s/0") + b"\x00" + enc_str("s/1") + b"\x01" +
                      enc_str("s/2") + b"\x02"))
        self.assertEqual(c.expect(SUBACK).body, b"\x12\x34\x00\x01\x02")
        c5 = self.client(d.port, V5, "sb5")
        c5.send(packet(8, 2, b"\xab\xcd\x00" + enc_str("s/0") + b"\x02"))
        self.assertEqual(c5.expect(SUBACK).body, b"\xab\xcd\x00\x02")

    def test_unsubscribe_stops_delivery_and_unsuback_codes(self):
        # [MQTT-3.10.4-1]: after UNSUBSCRIBE the server stops adding messages for it;
        # [MQTT-3.10.4-4]/[MQTT-3.10.4-5]: UNSUBACK with the same packet id, also when
        # no filter matched; 5.0 3.11.3: 0x00 per removed filter, 0x11 "No
        # subscription existed" per unknown one.
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM_CONFIG).start()
                c = self.client(d.port, v, "uns")
                c.subscribe(("u/a", 1), ("u/b", 1), expect=[1, 1])
                ack = c.unsubscribe("u/a", "u/nothing")
                self.assertEqual(ack.rcs, [0x00, 0x11] if v == V5 else [])
                self.assertEqual(len(ack.body), 2 + (3 if v == V5 else 0))
                pub = self.client(d.port, v, "unspub")
                pub.publish("u/a", b"no", qos=1)
                pub.publish("u/b", b"yes", qos=1)
                (m,) = c.messages(1)
                self.assertEqual((m.topic, m.payload), ("u/b", b"yes"))
                c.no_message(0.3)

    def test_resubscribe_replaces_subscription(self):
        # [MQTT-3.8.4-3]: a SUBSCRIBE for an existing filter replaces it (new QoS);
        # messages are not duplicated.
        d = self.daemon(STREAM_CONFIG).start()
        c = self.client(d.port, V5, "resub")
        c.subscribe(("rs/x", 0), expect=[0])
        c.subscribe(("rs/x", 2), expect=[2])
        pub = self.client(d.port, V5, "rspub")
        pub.publish("rs/x", b"q2", qos=2)
        (m,) = c.messages(1)
        self.assertEqual((m.qos, m.payload), (2, b"q2"))
        c.no_message(0.4)

    def test_shared_subscription_round_robin(self):
        # 5.0 4.8.2: a shared subscription delivers each message to exactly one
        # member of the group; Tributary spreads them over the members. A normal
        # subscriber on the same filter still gets every message. On stream
        # topics the group is a consumer group (test_groups.py): the stream "t"
        # has one partition, so its one owner gets every record, in order.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                members = []
                for i in range(3):
                    c = self.client(d.port, V5 if i < 2 else V311, "sh%d" % i)
                    c.subscribe(("$share/grp/sh/#", 1), expect=[1])
                    members.append(c)
                plain = self.client(d.port, V5, "plain")
                plain.subscribe(("sh/#", 1), expect=[1])
                pub = self.client(d.port, V5, "shpub", props={"receive_maximum": 100})
                n = 30
                for i in range(n):
                    pub.publish("sh/k%d" % (i % 5), b"%02d" % i, qos=1)
                self.assertEqual(sorted(m.payload for m in plain.messages(n)), [b"%02d" % i for i in range(n)])
                got = collections.Counter()
                per_member = []
                for c in members:
                    mine = []
                    while True:
                        try:
                            (m,) = c.messages(1, timeout=1.0)
                        except AssertionError:
                            break
                        mine.append(m.payload)
                    per_member.append(mine)
                    got.update(mine)
                self.assertEqual(sorted(got), [b"%02d" % i for i in range(n)])
                self.assertEqual(set(got.values()), {1}, "a message went to two members")
                if name == "stream":
                    self.assertEqual(sorted(len(mine) for mine in per_member), [0, 0, n])
                    self.assertIn([b"%02d" % i for i in range(n)], per_member)
                    continue
                for mine in per_member:
                    self.assertGreater(len(mine), 0, "a member got nothing: %r" % per_member)

    def test_shared_subscription_no_retained_at_subscribe(self):
        # 5.0 3.3.1.3 / 4.8.2: retained messages are sent when a new non-shared
        # subscription is made, not to a shared subscription.
        d = self.daemon(STREAM_CONFIG).start()
        pub = self.client(d.port, V5, "shr")
        pub.publish("shr/x", b"r", qos=1, retain=True)
        c = self.client(d.port, V5, "shm")
        c.subscribe(("$share/g/shr/#", 1), expect=[1])
        c.no_message(0.5)

    def test_v5_no_local_on_shared_subscription_is_protocol_error(self):
        # 5.0 [MQTT-3.8.3-4]: No Local 1 on a shared subscription is a Protocol
        # Error: DISCONNECT 0x82.
        d = self.daemon(STREAM_CONFIG).start()
        c = self.client(d.port, V5, "shnl")
        c.send(packet(8, 2, b"\x00\x05\x00" + enc_str("$share/g/x") + b"\x05"))
        disc = c.expect_close(3)
        self.assertIsNotNone(disc, "no DISCONNECT")
        self.assertEqual(disc.rc, 0x82)


if __name__ == "__main__":
    unittest.main(verbosity=2)
