"""PUBLISH end to end through the real tributaryd: QoS 0/1/2 in both directions,
with a stream capturing the topics (stored in LMDB, acked after commit) and with
no stream (in-memory delivery), MQTT 3.1.1 and 5.0; DUP, QoS 2 de-duplication,
overlapping subscriptions, No Local, retained messages (also across a restart).

Spec references: [MQTT-x.y.z-n] from MQTT 3.1.1 / 5.0 ("3.1.1:" / "5.0:" when the
numbering differs)."""
import unittest

from harness import (PUBACK, PUBCOMP, PUBREC, PUBREL, NO_STREAM_CONFIG, STREAM_CONFIG,
                     MqttTest, run)

V311, V5 = 4, 5
BINARY = bytes(range(256)) + b"\x00tail"
CONFIGS = (("stream", STREAM_CONFIG), ("nostream", NO_STREAM_CONFIG))


class Publish(MqttTest):
    def _roundtrip_all_qos(self, config):
        # [MQTT-3.3.5-1] (3.1.1) / [MQTT-3.3.4-1] (5.0): a subscriber receives each
        # message with the QoS it was published with, capped by the subscription's
        # QoS ([MQTT-3.8.4-6] 3.1.1 / 5.0 3.8.4); payload bytes are unaltered.
        d = self.daemon(config).start()
        for pv in (V311, V5):
            for sv in (V311, V5):
                sub = self.client(d.port, sv, "sub-%d-%d" % (pv, sv))
                sub.subscribe(("rt/%d/%d/+" % (pv, sv), 2), expect=[2])
                pub = self.client(d.port, pv, "pub-%d-%d" % (pv, sv))
                for qos in (0, 1, 2):
                    with self.subTest(pub=pv, sub=sv, qos=qos):
                        payload = BINARY + bytes([qos])
                        ack = pub.publish("rt/%d/%d/q%d" % (pv, sv, qos), payload, qos=qos)
                        if qos:
                            self.assertEqual(ack.rc, 0)  # PUBACK / PUBCOMP success
                        (m,) = sub.messages(1)
                        self.assertEqual((m.topic, m.qos, m.retain, m.dup, m.payload),
                                         ("rt/%d/%d/q%d" % (pv, sv, qos), qos, False, False, payload))
                sub.no_message(0.2)
                # Downgrade: a QoS 0 subscription gets QoS 0 whatever was published.
                low = self.client(d.port, sv, "low-%d-%d" % (pv, sv))
                low.subscribe("dg/%d/%d" % (pv, sv), expect=[0])
                pub.publish("dg/%d/%d" % (pv, sv), b"down", qos=2)
                (m,) = low.messages(1)
                self.assertEqual((m.qos, m.pid, m.payload), (0, None, b"down"))

    def test_qos012_roundtrip_with_stream(self):
        self._roundtrip_all_qos(STREAM_CONFIG)

    def test_qos012_roundtrip_without_stream(self):
        self._roundtrip_all_qos(NO_STREAM_CONFIG)

    def test_order_kept_per_topic_both_configs(self):
        # 5.0 [MQTT-4.6.0-5]/[MQTT-4.6.0-6], 3.1.1 [MQTT-4.6.0-6]: messages on one
        # topic reach a subscriber in the order they were published.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                sub = self.client(d.port, V5, "osub")
                sub.subscribe(("ord/x", 1), expect=[1])
                pub = self.client(d.port, V311, "opub")
                for i in range(50):
                    pub.publish("ord/x", b"m%03d" % i, qos=1, wait=False)
                acks = [pub.expect(PUBACK).pid for _ in range(50)]
                self.assertEqual(acks, list(range(1, 51)))
                got = [m.payload for m in sub.messages(50, timeout=15)]
                self.assertEqual(got, [b"m%03d" % i for i in range(50)])

    def test_dup_flag_from_publisher_not_propagated(self):
        # [MQTT-3.3.1-3]: the DUP flag of an outgoing PUBLISH is set independently
        # of the incoming one: a first delivery carries DUP 0.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                for v in (V311, V5):
                    sub = self.client(d.port, v, "dsub%d" % v)
                    sub.subscribe(("dup/%d" % v, 1), expect=[1])
                    pub = self.client(d.port, v, "dpub%d" % v)
                    ack = pub.publish("dup/%d" % v, b"d1", qos=1, dup=True)
                    self.assertEqual(ack.rc, 0)
                    (m,) = sub.messages(1)
                    self.assertEqual((m.dup, m.qos, m.payload), (False, 1, b"d1"))

    def test_qos2_duplicate_publish_delivered_once(self):
        # 3.1.1 [MQTT-4.3.3-2] / 5.0 4.3.3 (Method B): until PUBREL, a QoS 2 PUBLISH
        # re-sent with the same packet id (DUP 1) is acknowledged with PUBREC again
        # but not delivered onwards a second time.
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, version=v):
                    d = self.daemon(config).start()
                    sub = self.client(d.port, v, "q2sub")
                    sub.subscribe(("q2/dup", 2), expect=[2])
                    pub = self.client(d.port, v, "q2pub")
                    pub.send(pub.publish_packet("q2/dup", b"once", qos=2, pid=7))
                    self.assertEqual(pub.expect(PUBREC).pid, 7)
                    pub.send(pub.publish_packet("q2/dup", b"once", qos=2, pid=7, dup=True))
                    self.assertEqual(pub.expect(PUBREC).pid, 7)
                    pub.send(pub.ack_packet(PUBREL, 7))
                    comp = pub.expect(PUBCOMP)
                    self.assertEqual((comp.pid, comp.rc), (7, 0))
                    (m,) = sub.messages(1)
                    self.assertEqual((m.payload, m.qos), (b"once", 2))
                    sub.no_message(0.5)
                    # The id is free again after PUBCOMP: a new message with id 7 is delivered.
                    pub.publish("q2/dup", b"again", qos=2, pid=7)
                    (m,) = sub.messages(1)
                    self.assertEqual(m.payload, b"again")

    def test_v311_overlapping_subscriptions_highest_qos_once(self):
        # 3.1.1 [MQTT-3.3.5-1]: overlapping subscriptions: one copy is delivered,
        # with the maximum QoS of the matching subscriptions.
        d = self.daemon(STREAM_CONFIG).start()
        sub = self.client(d.port, V311, "ov311")
        sub.subscribe(("ov/#", 0), ("ov/+/x", 2), ("ov/a/x", 1), expect=[0, 2, 1])
        pub = self.client(d.port, V311, "ovpub")
        pub.publish("ov/a/x", b"hi", qos=2)
        (m,) = sub.messages(1)
        self.assertEqual((m.qos, m.payload), (2, b"hi"))
        sub.no_message(0.5)

    def test_v5_overlapping_subscriptions_both_identifiers_once(self):
        # 5.0 [MQTT-3.3.4-2]: highest QoS of the matching subscriptions;
        # [MQTT-3.3.4-3]/[MQTT-3.3.4-4]: a single copy carries the Subscription
        # Identifiers of all matching subscriptions.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                sub = self.client(d.port, V5, "ov5")
                sub.subscribe(("ov/#", 0), props={"subscription_id": 11}, expect=[0])
                sub.subscribe(("ov/+/x", 1), props={"subscription_id": 22}, expect=[1])
                sub.subscribe(("ov/a/+", 0), expect=[0])  # no identifier
                pub = self.client(d.port, V5, "ovpub5")
                pub.publish("ov/a/x", b"ids", qos=1)
                (m,) = sub.messages(1)
                self.assertEqual((m.qos, m.payload), (1, b"ids"))
                self.assertEqual(sorted(m.props.get("subscription_id", [])), [11, 22])
                sub.no_message(0.5)
                # A message matching only the first one carries only 11.
                pub.publish("ov/b", b"one", qos=1)
                (m,) = sub.messages(1)
                self.assertEqual((m.qos, m.props.get("subscription_id")), (0, [11]))

    def test_v5_no_local(self):
        # 5.0 [MQTT-3.8.3-3]: with No Local, messages are not forwarded to the
        # connection with the publisher's client id; others still get them.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                me = self.client(d.port, V5, "nl-me")
                me.subscribe(("nl/t", 1 | 4), expect=[1])
                other = self.client(d.port, V5, "nl-other")
                other.subscribe(("nl/t", 1), expect=[1])
                me.publish("nl/t", b"mine", qos=1)
                (m,) = other.messages(1)
                self.assertEqual(m.payload, b"mine")
                me.no_message(0.5)
                other.publish("nl/t", b"theirs", qos=1)
                (m,) = me.messages(1)
                self.assertEqual(m.payload, b"theirs")

    # -- retained messages -------------------------------------------------------
    def test_retained_stored_replaced_and_cleared(self):
        # [MQTT-3.3.1-5]: a retained message is stored and replaces the previous one;
        # [MQTT-3.3.1-6]/[MQTT-3.3.1-8] (3.1.1): a new subscription receives it with
        # RETAIN 1; [MQTT-3.3.1-10]/[MQTT-3.3.1-11] (3.1.1), 5.0 [MQTT-3.3.1-6]/[-7]:
        # a zero-byte retained message clears it and is not stored.
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, version=v):
                    d = self.daemon(config).start()
                    pub = self.client(d.port, v, "rpub")
                    pub.publish("ret/a", b"first", qos=1, retain=True)
                    pub.publish("ret/a", b"second", qos=1, retain=True)
                    pub.publish("ret/b", b"bee", qos=0, retain=True)
                    s1 = self.client(d.port, v, "rs1")
                    s1.subscribe(("ret/+", 1), expect=[1])
                    got = {m.topic: m for m in s1.messages(2)}
                    self.assertEqual(sorted(got), ["ret/a", "ret/b"])
                    self.assertEqual((got["ret/a"].payload, got["ret/a"].retain, got["ret/a"].qos),
                                     (b"second", True, 1))
                    self.assertEqual((got["ret/b"].payload, got["ret/b"].retain, got["ret/b"].qos),
                                     (b"bee", True, 0))
                    s1.no_message(0.3)
                    # Clearing: the empty retained message is delivered to the existing
                    # subscriber (as a normal message), then nothing is stored.
                    pub.publish("ret/a", b"", qos=1, retain=True)
                    (m,) = s1.messages(1)
                    self.assertEqual((m.topic, m.payload), ("ret/a", b""))
                    s2 = self.client(d.port, v, "rs2")
                    s2.subscribe(("ret/#", 1), expect=[1])
                    (m,) = s2.messages(1)
                    self.assertEqual((m.topic, m.payload, m.retain), ("ret/b", b"bee", True))
                    s2.no_message(0.5)

    def test_retain_flag_on_live_delivery(self):
        # 3.1.1 [MQTT-3.3.1-9]: RETAIN 0 when delivered to an established
        # subscription. 5.0 [MQTT-3.3.1-12]: Retain As Published 0 -> RETAIN 0;
        # [MQTT-3.3.1-13]: Retain As Published 1 -> RETAIN as published.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                s311 = self.client(d.port, V311, "l311")
                s311.subscribe(("live/r", 1), expect=[1])
                s5 = self.client(d.port, V5, "l5")
                s5.subscribe(("live/r", 1), expect=[1])
                s5rap = self.client(d.port, V5, "l5rap")
                s5rap.subscribe(("live/r", 1 | 8), expect=[1])
                pub = self.client(d.port, V5, "lpub")
                pub.publish("live/r", b"R", qos=1, retain=True)
                pub.publish("live/r", b"N", qos=1, retain=False)
                for c, want in ((s311, [False, False]), (s5, [False, False]), (s5rap, [True, False])):
                    ms = c.messages(2)
                    self.assertEqual([m.payload for m in ms], [b"R", b"N"])
                    self.assertEqual([m.retain for m in ms], want)

    def test_v5_retain_handling_0_1_2(self):
        # 5.0 [MQTT-3.3.1-9]: Retain Handling 0: retained messages sent at every
        # subscribe; [MQTT-3.3.1-10]: 1: only if the subscription did not exist;
        # [MQTT-3.3.1-11]: 2: never sent at subscribe.
        d = self.daemon(STREAM_CONFIG).start()
        pub = self.client(d.port, V5, "rhpub")
        pub.publish("rh/x", b"kept", qos=1, retain=True)
        for rh, first, again in ((0, 1, 1), (1, 1, 0), (2, 0, 0)):
            with self.subTest(retain_handling=rh):
                c = self.client(d.port, V5, "rh%d" % rh)
                for n in (first, again):
                    c.subscribe(("rh/#", 1 | (rh << 4)), expect=[1])
                    if n:
                        (m,) = c.messages(1)
                        self.assertEqual((m.topic, m.payload, m.retain), ("rh/x", b"kept", True))
                    c.no_message(0.4)

    def _retained_survive_restart(self, config):
        # [MQTT-3.3.1-5]: the server stores retained messages; Tributary keeps them
        # in LMDB, so they survive SIGTERM and a restart on the same data directory.
        d = self.daemon(config).start()
        pub = self.client(d.port, V5, "rspub")
        pub.publish("keep/1", b"one", qos=1, retain=True, props={"content_type": "text/x"})
        pub.publish("keep/2", BINARY, qos=2, retain=True)
        pub.publish("keep/3", b"gone", qos=1, retain=True)
        pub.publish("keep/3", b"", qos=1, retain=True)
        pub.close()
        self.assertEqual(d.stop(), 0)
        d.start()
        for v in (V311, V5):
            s = self.client(d.port, v, "rsub%d" % v)
            s.subscribe(("keep/#", 2), expect=[2])
            got = {m.topic: m for m in s.messages(2)}
            self.assertEqual(sorted(got), ["keep/1", "keep/2"])
            self.assertEqual((got["keep/1"].payload, got["keep/1"].qos, got["keep/1"].retain), (b"one", 1, True))
            self.assertEqual((got["keep/2"].payload, got["keep/2"].qos), (BINARY, 2))
            if v == V5:
                self.assertEqual(got["keep/1"].props.get("content_type"), "text/x")
            s.no_message(0.3)

    def test_retained_survive_restart_with_stream(self):
        self._retained_survive_restart(STREAM_CONFIG)

    def test_retained_survive_restart_without_stream(self):
        self._retained_survive_restart(NO_STREAM_CONFIG)

    # -- real clients ------------------------------------------------------------
    def test_mosquitto_clients_both_versions(self):
        # The command-line clients interoperate: mosquitto_pub -> mosquitto_sub at
        # QoS 1 and 2, MQTT 3.1.1 and 5, with and without a stream.
        for name, config in CONFIGS:
            d = self.daemon(config).start()
            for v in ("mqttv311", "mqttv5"):
                for q in ("1", "2"):
                    with self.subTest(config=name, version=v, qos=q):
                        topic = "cli/%s/%s" % (v, q)
                        pub = run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(d.port), "-V", v,
                                   "-q", q, "-r", "-t", topic, "-m", "hello " + topic])
                        self.assertEqual(pub.returncode, 0, pub.stderr)
                        sub = run(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(d.port), "-V", v,
                                   "-q", q, "-t", topic, "-C", "1", "-W", "5", "-v"])
                        self.assertEqual(sub.returncode, 0, sub.stderr)
                        self.assertEqual(sub.stdout, "%s hello %s\n" % (topic, topic))


if __name__ == "__main__":
    unittest.main(verbosity=2)
