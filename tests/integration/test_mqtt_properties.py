"""MQTT 5.0 PUBLISH properties and flow control through the real tributaryd:
pass-through of Payload Format Indicator, Content Type, Response Topic,
Correlation Data and User Properties; Message Expiry; Topic Aliases from the
client; Receive Maximum; Maximum Packet Size in both directions. Each runs with
a stream capturing the topics and with none (in-memory delivery).

Spec references: MQTT 5.0 normative statements [MQTT-x.y.z-n]."""
import time
import unittest

from harness import NO_STREAM_CONFIG, STREAM_CONFIG, MqttTest

V311, V5 = 4, 5
CONFIGS = (("stream", STREAM_CONFIG), ("nostream", NO_STREAM_CONFIG))


class Properties(MqttTest):
    def test_application_properties_passed_through(self):
        # [MQTT-3.3.2-4] Payload Format Indicator, [MQTT-3.3.2-20] Content Type,
        # [MQTT-3.3.2-15] Response Topic, [MQTT-3.3.2-16] Correlation Data,
        # [MQTT-3.3.2-17]/[MQTT-3.3.2-18] User Properties (all, in order) are sent
        # unaltered to every subscriber.
        props = {"payload_format": 1, "content_type": "application/json; v=2",
                 "response_topic": "reply/to/me", "correlation_data": b"\x00\x01corr\xff",
                 "user": [("k", "v1"), ("k", "v2"), ("\u00e9t\u00e9", "\u2603"), ("", "")]}
        for name, config in CONFIGS:
            for qos in (0, 1, 2):
                with self.subTest(config=name, qos=qos):
                    d = self.daemon(config).start()
                    sub = self.client(d.port, V5, "psub")
                    sub.subscribe(("props/#", 2), expect=[2])
                    pub = self.client(d.port, V5, "ppub")
                    pub.publish("props/q", b'{"a":1}', qos=qos, props=props)
                    (m,) = sub.messages(1)
                    self.assertEqual(m.payload, b'{"a":1}')
                    got = dict(m.props)
                    got.pop("subscription_id", None)
                    self.assertEqual(got, props)
                    # A 3.1.1 subscriber gets the same message, without properties.
                    old = self.client(d.port, V311, "psub311")
                    old.subscribe(("props/#", 1), expect=[1])
                    pub.publish("props/q", b"x", qos=1, props=props)
                    (m,) = old.messages(1)
                    self.assertEqual((m.payload, m.props), (b"x", {}))

    def test_message_expiry_remaining_interval_decremented(self):
        # [MQTT-3.3.2-6]: the Message Expiry Interval sent on is the received value
        # minus the time the message waited in the server.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                sub = self.client(d.port, V5, "exp-sub", clean=False, props={"session_expiry": 300})
                sub.subscribe(("exp/#", 1), expect=[1])
                sub.close()
                time.sleep(0.3)
                pub = self.client(d.port, V5, "exp-pub")
                pub.publish("exp/a", b"long", qos=1, props={"message_expiry": 100})
                pub.publish("exp/b", b"noexp", qos=1)
                time.sleep(2.2)
                sub = self.client(d.port, V5, "exp-sub", clean=False, props={"session_expiry": 300})
                ms = sub.messages(2)
                self.assertEqual([m.payload for m in ms], [b"long", b"noexp"])
                self.assertIn(ms[0].props.get("message_expiry"), (97, 98))
                self.assertNotIn("message_expiry", ms[1].props)

    def test_expired_message_not_delivered_after_reconnect(self):
        # [MQTT-3.3.2-5]: once the Message Expiry Interval has passed, the message
        # is not delivered to a subscriber that was not connected in time.
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, subscriber_version=v):
                    d = self.daemon(config).start()
                    sprops = {"session_expiry": 300} if v == V5 else None
                    sub = self.client(d.port, v, "xs", clean=False, props=sprops)
                    sub.subscribe(("xp/#", 1), expect=[1])
                    sub.close()
                    time.sleep(0.3)
                    pub = self.client(d.port, V5, "xp")
                    pub.publish("xp/short", b"dies", qos=1, props={"message_expiry": 1})
                    pub.publish("xp/long", b"lives", qos=1, props={"message_expiry": 60})
                    time.sleep(2.5)
                    sub = self.client(d.port, v, "xs", clean=False, props=sprops)
                    (m,) = sub.messages(1)
                    self.assertEqual(m.payload, b"lives")
                    sub.no_message(0.5)

    def test_retained_message_expires(self):
        # [MQTT-3.3.2-5] applies to retained messages too: after expiry a new
        # subscriber gets nothing.
        d = self.daemon(STREAM_CONFIG).start()
        pub = self.client(d.port, V5, "rxp")
        pub.publish("rx/a", b"brief", qos=1, retain=True, props={"message_expiry": 1})
        pub.publish("rx/b", b"stays", qos=1, retain=True, props={"message_expiry": 100})
        time.sleep(2.2)
        s = self.client(d.port, V5, "rxs")
        s.subscribe(("rx/#", 1), expect=[1])
        (m,) = s.messages(1)
        self.assertEqual((m.topic, m.payload), ("rx/b", b"stays"))
        self.assertIn(m.props.get("message_expiry"), (97, 98))
        s.no_message(0.4)

    # -- topic aliases ------------------------------------------------------------
    def test_topic_alias_from_client(self):
        # 3.3.2.3.4: a PUBLISH with a topic and Topic Alias sets the mapping; a
        # later PUBLISH with an empty topic and the alias uses it; an alias can be
        # remapped. Aliases are per connection: the subscriber sees the full topic
        # and no Topic Alias property (it advertised no Topic Alias Maximum).
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                sub = self.client(d.port, V5, "asub")
                sub.subscribe(("al/#", 1), expect=[1])
                pub = self.client(d.port, V5, "apub")
                pub.publish("al/one", b"1", qos=1, props={"topic_alias": 1})
                pub.publish("", b"2", qos=1, props={"topic_alias": 1})
                pub.publish("al/two", b"3", qos=0, props={"topic_alias": 1})
                pub.publish("", b"4", qos=1, props={"topic_alias": 1})
                ms = sub.messages(4)
                self.assertEqual([(m.topic, m.payload) for m in ms],
                                 [("al/one", b"1"), ("al/one", b"2"), ("al/two", b"3"), ("al/two", b"4")])
                self.assertTrue(all("topic_alias" not in m.props for m in ms))

    def test_topic_alias_above_maximum_disconnect_0x94(self):
        # [MQTT-3.3.2-9]: a Topic Alias above the server's Topic Alias Maximum:
        # DISCONNECT 0x94 Topic Alias invalid (3.3.2.3.4). [MQTT-3.3.2-8]: alias 0 is
        # not permitted either: 0x94 or 0x82 Protocol Error (both readings exist).
        d = self.daemon(STREAM_CONFIG).start()
        c = self.rawsock(d.port, V5)
        amax = c.connect("alx").props.get("topic_alias_maximum", 0)
        for alias in (amax + 1, 0):
            with self.subTest(alias=alias):
                c = self.client(d.port, V5, "alx%d" % alias)
                c.send(c.publish_packet("al/x", b"x", qos=1, pid=1, props={"topic_alias": alias}))
                disc = c.expect_close(3)
                self.assertIsNotNone(disc, "no DISCONNECT")
                self.assertIn(disc.rc, (0x94,) if alias else (0x94, 0x82))

    def test_unknown_topic_alias_disconnect_0x82(self):
        # 3.3.2.3.4: an empty topic with an alias that has no mapping is a Protocol
        # Error (DISCONNECT 0x82).
        d = self.daemon(STREAM_CONFIG).start()
        c = self.client(d.port, V5, "alunk")
        c.send(c.publish_packet("", b"x", qos=0, props={"topic_alias": 3}))
        disc = c.expect_close(3)
        self.assertIsNotNone(disc, "no DISCONNECT")
        self.assertEqual(disc.rc, 0x82)

    # -- flow control -------------------------------------------------------------
    def test_receive_maximum_exceeded_disconnect_0x93(self):
        # 3.3.4 / 4.9: the client must not send more QoS > 0 PUBLISH than the
        # server's Receive Maximum without acknowledgement; the server answers
        # a violation with DISCONNECT 0x93 Receive Maximum exceeded.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config + '\n[limits]\nmax_inflight = 3\n').start()
                c = self.rawsock(d.port, V5)
                self.assertEqual(c.connect("rmx").props.get("receive_maximum"), 3)
                # QoS 2 stays in flight until PUBREL, so the server cannot have
                # completed any of them: the 4th exceeds the maximum.
                burst = b"".join(c.publish_packet("rm/x", b"%d" % i, qos=2, pid=i + 1) for i in range(8))
                c.send(burst)
                disc = c.expect_close(5)
                self.assertIsNotNone(disc, "no DISCONNECT")
                self.assertEqual(disc.rc, 0x93)

    def test_receive_maximum_qos1_burst_disconnect_0x93(self):
        # The same with QoS 1 sent in one burst without reading PUBACKs (stored
        # messages are acknowledged only after commit, so they are all in flight).
        d = self.daemon(STREAM_CONFIG + '\n[limits]\nmax_inflight = 2\n').start()
        c = self.rawsock(d.port, V5)
        c.connect("rmx1")
        c.send(b"".join(c.publish_packet("rm/y", b"p%d" % i, qos=1, pid=i + 1) for i in range(50)))
        disc = c.expect_close(5)
        self.assertIsNotNone(disc, "no DISCONNECT")
        self.assertEqual(disc.rc, 0x93)

    def test_server_respects_client_receive_maximum(self):
        # [MQTT-3.3.4-9]: the server does not send more QoS > 0 PUBLISH than the
        # client's Receive Maximum before they are acknowledged; the rest follow.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                sub = self.client(d.port, V5, "crm", props={"receive_maximum": 2})
                sub.subscribe(("crm/#", 1), expect=[1])
                pub = self.client(d.port, V5, "crmpub")
                for i in range(6):
                    pub.publish("crm/a", b"%d" % i, qos=1)
                first = sub.messages(2, ack=False)
                sub.no_message(0.5)
                sub.ack(first[0])
                sub.ack(first[1])
                rest = sub.messages(4)
                self.assertEqual([m.payload for m in first + rest], [b"%d" % i for i in range(6)])

    def test_client_maximum_packet_size_respected(self):
        # [MQTT-3.1.2-24]: the server does not send a packet larger than the
        # client's Maximum Packet Size; [MQTT-3.1.2-25]: it discards such a message
        # (as if sent) and carries on with the next ones.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                small = self.client(d.port, V5, "small", props={"maximum_packet_size": 128})
                small.subscribe(("mps/#", 1), expect=[1])
                big = self.client(d.port, V5, "big")
                big.subscribe(("mps/#", 1), expect=[1])
                pub = self.client(d.port, V5, "mpspub")
                pub.publish("mps/a", b"x" * 200, qos=1)
                pub.publish("mps/a", b"fits", qos=1)
                (m,) = small.messages(1)
                self.assertEqual(m.payload, b"fits")
                self.assertEqual([m.payload for m in big.messages(2)], [b"x" * 200, b"fits"])
                self.assertTrue(small.is_open(0.2))

    def test_packet_over_server_maximum_disconnect_0x95(self):
        # 5.0 [MQTT-3.2.2-15] / 4.13: a packet larger than the server's Maximum
        # Packet Size: DISCONNECT 0x95 Packet too large. 3.1.1: the connection is closed.
        d = self.daemon(STREAM_CONFIG + '[limits]\nmax_packet_size = "1KiB"\n').start()
        other = self.client(d.port, V5, "mps-other")
        for v in (V5, V311):
            with self.subTest(version=v):
                c = self.client(d.port, v, "toolarge%d" % v)
                c.send(c.publish_packet("big/x", b"y" * 2000, qos=1, pid=1))
                disc = c.expect_close(3)
                if v == V5:
                    self.assertIsNotNone(disc, "no DISCONNECT")
                    self.assertEqual(disc.rc, 0x95)
                else:
                    self.assertIsNone(disc)
        self.assertTrue(other.is_open(0.1))
        other.publish("ok/x", b"z" * 900, qos=1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
