"""Persistent sessions in the real tributaryd, MQTT 3.1.1 and 5.0: messages queued
while a subscriber is away arrive in order when it comes back (Session Present 1),
also across a daemon restart; Clean Start and Session Expiry end sessions;
unacknowledged messages are re-sent with DUP; session takeover.

Spec references: [MQTT-x.y.z-n] from MQTT 3.1.1 / 5.0."""
import time
import unittest

from harness import PUBCOMP, PUBREC, PUBREL, NO_STREAM_CONFIG, STREAM_CONFIG, MqttTest

V311, V5 = 4, 5
CONFIGS = (("stream", STREAM_CONFIG), ("nostream", NO_STREAM_CONFIG))


def persistent(v, expiry=300):
    """Connect arguments for a session that outlives its connection."""
    return dict(clean=False, props={"session_expiry": expiry} if v == V5 else None)


class Session(MqttTest):
    def reconnect(self, port, v, cid, expect_present, **kw):
        c = self.rawsock(port, v)
        args = persistent(v)
        args.update(kw)
        ack = c.connect(cid, **args)
        self.assertEqual(ack.session_present, expect_present, "Session Present for %s" % cid)
        return c

    def test_queued_while_away_delivered_in_order(self):
        # 3.1.1 [MQTT-3.1.2-4]/[MQTT-3.1.2-5], 5.0 [MQTT-3.1.2-5]: the session (its
        # subscriptions and QoS 1/2 messages) is kept after the connection closes;
        # [MQTT-3.2.2-2]: Session Present 1 on resumption; [MQTT-4.6.0-6]: order kept.
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, version=v):
                    d = self.daemon(config).start()
                    sub = self.rawsock(d.port, v)
                    self.assertEqual(sub.connect("away", **persistent(v)).session_present, 0)
                    sub.subscribe(("away/#", 2), expect=[2])
                    sub.disconnect()
                    pub = self.client(d.port, V5, "awaypub")
                    for i in range(20):
                        pub.publish("away/%d" % (i % 3), b"msg-%02d" % i, qos=1 + i % 2)
                    sub = self.reconnect(d.port, v, "away", 1)
                    ms = sub.messages(20, timeout=10)
                    self.assertEqual([m.payload for m in ms], [b"msg-%02d" % i for i in range(20)])
                    self.assertEqual([m.qos for m in ms], [1 + i % 2 for i in range(20)])
                    self.assertEqual([m.topic for m in ms], ["away/%d" % (i % 3) for i in range(20)])
                    sub.no_message(0.3)
                    # Live delivery continues on the resumed session.
                    pub.publish("away/live", b"now", qos=1)
                    (m,) = sub.messages(1)
                    self.assertEqual(m.payload, b"now")

    def test_clean_start_discards_session(self):
        # 3.1.1 [MQTT-3.1.2-6] / 5.0 [MQTT-3.1.2-4]: Clean Start 1 discards an
        # existing session: Session Present 0, no queued messages, no subscriptions.
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM_CONFIG).start()
                sub = self.rawsock(d.port, v)
                sub.connect("cs", **persistent(v))
                sub.subscribe(("cs/#", 1), expect=[1])
                sub.disconnect()
                pub = self.client(d.port, v, "cspub")
                pub.publish("cs/a", b"queued", qos=1)
                c = self.rawsock(d.port, v)
                self.assertEqual(c.connect("cs", clean=True).session_present, 0)
                c.no_message(0.5)
                pub.publish("cs/a", b"after", qos=1)
                c.no_message(0.5)

    def test_v5_session_expiry_zero_ends_with_connection(self):
        # 5.0 3.1.2.11.2: Session Expiry Interval absent or 0:
        # the session ends when the connection closes.
        d = self.daemon(STREAM_CONFIG).start()
        sub = self.rawsock(d.port, V5)
        sub.connect("se0", clean=False)
        sub.subscribe(("se0/#", 1), expect=[1])
        sub.disconnect()
        pub = self.client(d.port, V5, "se0pub")
        pub.publish("se0/a", b"lost", qos=1)
        c = self.reconnect(d.port, V5, "se0", 0)
        c.no_message(0.5)

    def test_v5_session_expires_after_interval(self):
        # 5.0 3.1.2.11.2: the server discards the session when the Session Expiry
        # Interval has passed since the connection closed.
        d = self.daemon(STREAM_CONFIG).start()
        sub = self.rawsock(d.port, V5)
        sub.connect("se1", clean=False, props={"session_expiry": 1})
        sub.subscribe(("se1/#", 1), expect=[1])
        sub.disconnect()
        time.sleep(2.5)
        c = self.reconnect(d.port, V5, "se1", 0)
        c.no_message(0.3)

    def test_v5_disconnect_can_set_session_expiry(self):
        # 5.0 3.14.2.2.2: the client may set the Session Expiry Interval on
        # DISCONNECT (here from 300 to 0: the session ends now).
        d = self.daemon(STREAM_CONFIG).start()
        sub = self.rawsock(d.port, V5)
        sub.connect("sed", clean=False, props={"session_expiry": 300})
        sub.subscribe(("sed/#", 1), expect=[1])
        sub.disconnect(rc=0, props={"session_expiry": 0})
        time.sleep(0.3)
        self.reconnect(d.port, V5, "sed", 0)

    def test_unacked_qos1_resent_with_dup_same_packet_id(self):
        # 3.1.1 [MQTT-4.4.0-1] / 5.0 [MQTT-4.4.0-1]: on resumption the server re-sends
        # unacknowledged PUBLISH with the original packet id and DUP 1 [MQTT-3.3.1-1].
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, version=v):
                    d = self.daemon(config).start()
                    sub = self.rawsock(d.port, v)
                    sub.connect("dupr", **persistent(v))
                    sub.subscribe(("dupr/#", 1), expect=[1])
                    pub = self.client(d.port, v, "duprpub")
                    pub.publish("dupr/a", b"unacked", qos=1)
                    (first,) = sub.messages(1, ack=False)
                    self.assertEqual((first.dup, first.payload), (False, b"unacked"))
                    sub.close()
                    time.sleep(0.2)
                    sub = self.reconnect(d.port, v, "dupr", 1)
                    (again,) = sub.messages(1)
                    self.assertEqual((again.dup, again.pid, again.qos, again.payload),
                                     (True, first.pid, 1, b"unacked"))
                    sub.no_message(0.4)

    def test_unacked_qos2_pubrel_resent(self):
        # [MQTT-4.4.0-1]: an unacknowledged PUBREL is re-sent on resumption with the
        # original packet id, and the PUBLISH is not sent again (4.3.3: after
        # PUBREC the receiver owns the message).
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM_CONFIG).start()
                sub = self.rawsock(d.port, v)
                sub.connect("relr", **persistent(v))
                sub.subscribe(("relr/#", 2), expect=[2])
                pub = self.client(d.port, v, "relrpub")
                pub.publish("relr/a", b"two", qos=2)
                (m,) = sub.messages(1, ack=False)
                sub.send(sub.ack_packet(PUBREC, m.pid))
                rel = sub.expect(PUBREL)
                self.assertEqual((rel.pid, rel.flags), (m.pid, 2))
                sub.close()
                time.sleep(0.2)
                sub = self.reconnect(d.port, v, "relr", 1)
                rel = sub.recv(5)
                self.assertEqual((rel.type, rel.pid), (PUBREL, m.pid), rel)
                sub.send(sub.ack_packet(PUBCOMP, m.pid))
                sub.no_message(0.5)

    def test_session_survives_sigterm_restart_with_stream(self):
        # Tributary keeps sessions and stream records in LMDB: a persistent
        # subscriber gets, after SIGTERM and a restart on the same data directory,
        # every QoS 1 message acknowledged while it was away, in order.
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM_CONFIG).start()
                sub = self.rawsock(d.port, v)
                sub.connect("rst", **persistent(v))
                sub.subscribe(("rst/#", 1), expect=[1])
                sub.disconnect()
                pub = self.rawsock(d.port, V5)
                pub.connect("rstpub")
                for i in range(10):
                    pub.publish("rst/x", b"before-%d" % i, qos=1)
                pub.close()
                self.assertEqual(d.stop(), 0)
                d.start()
                pub = self.client(d.port, V5, "rstpub2")
                for i in range(5):
                    pub.publish("rst/x", b"after-%d" % i, qos=1)
                sub = self.reconnect(d.port, v, "rst", 1)
                got = [m.payload for m in sub.messages(15, timeout=10)]
                self.assertEqual(got, [b"before-%d" % i for i in range(10)] + [b"after-%d" % i for i in range(5)])
                sub.no_message(0.3)

    def test_subscriptions_survive_sigterm_restart_without_stream(self):
        # Session state (subscriptions) is persistent even for topics in no stream:
        # after a restart the resumed session (Session Present 1) receives new
        # messages without subscribing again.
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(NO_STREAM_CONFIG).start()
                sub = self.rawsock(d.port, v)
                sub.connect("rsn", **persistent(v))
                sub.subscribe(("rsn/#", 1), expect=[1])
                sub.disconnect()
                self.assertEqual(d.stop(), 0)
                d.start()
                sub = self.reconnect(d.port, v, "rsn", 1)
                pub = self.client(d.port, V5, "rsnpub")
                pub.publish("rsn/y", b"live", qos=1)
                (m,) = sub.messages(1)
                self.assertEqual((m.topic, m.payload, m.qos), ("rsn/y", b"live", 1))

    def test_session_takeover(self):
        # 3.1.1 [MQTT-3.1.4-2] / 5.0 [MQTT-3.1.4-3]: a second connection with the
        # same client id takes over: the first is closed, in 5.0 after DISCONNECT
        # 0x8E Session taken over. The session continues on the new connection.
        for v in (V311, V5):
            with self.subTest(version=v):
                d = self.daemon(STREAM_CONFIG).start()
                first = self.rawsock(d.port, v)
                first.connect("twin", **persistent(v))
                first.subscribe(("twin/#", 1), expect=[1])
                second = self.reconnect(d.port, v, "twin", 1)
                disc = first.expect_close(3)
                if v == V5:
                    self.assertIsNotNone(disc, "no DISCONNECT")
                    self.assertEqual(disc.rc, 0x8E)
                else:
                    self.assertIsNone(disc)
                pub = self.client(d.port, v, "twinpub")
                pub.publish("twin/a", b"to-second", qos=1)
                (m,) = second.messages(1)
                self.assertEqual(m.payload, b"to-second")
                self.assertTrue(second.is_open(0.2))


if __name__ == "__main__":
    unittest.main(verbosity=2)
