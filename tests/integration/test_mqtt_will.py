"""Will messages in the real tributaryd, MQTT 3.1.1 and 5.0: published when the
connection ends abnormally, not after a normal DISCONNECT, published after a 5.0
DISCONNECT 0x04, delayed by the 5.0 Will Delay Interval and cancelled by a
reconnect within it, retained wills, will properties.

Spec references: [MQTT-x.y.z-n] from MQTT 3.1.1 / 5.0."""
import time
import unittest

from harness import NO_STREAM_CONFIG, STREAM_CONFIG, MqttTest

V311, V5 = 4, 5
CONFIGS = (("stream", STREAM_CONFIG), ("nostream", NO_STREAM_CONFIG))


class Will(MqttTest):
    def test_abnormal_close_publishes_will(self):
        # [MQTT-3.1.2-8]: the will is published when the network connection is
        # closed without DISCONNECT, with its QoS and payload.
        for name, config in CONFIGS:
            for v in (V311, V5):
                with self.subTest(config=name, version=v):
                    d = self.daemon(config).start()
                    watcher = self.client(d.port, V5, "watch")
                    watcher.subscribe(("will/#", 2), expect=[2])
                    dying = self.client(d.port, v, "dying",
                                        will={"topic": "will/dying", "payload": b"gone\x00!", "qos": 1})
                    dying.close()  # TCP FIN, no DISCONNECT
                    (m,) = watcher.messages(1, timeout=5)
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     ("will/dying", b"gone\x00!", 1, False))
                    watcher.no_message(0.3)

    def test_normal_disconnect_discards_will(self):
        # 3.1.1 [MQTT-3.1.2-10] / 5.0 [MQTT-3.1.2-10], [MQTT-3.14.4-3]: after a
        # DISCONNECT (5.0: reason 0x00) the will is deleted and not published.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                watcher = self.client(d.port, V5, "watch")
                watcher.subscribe(("will/#", 1), expect=[1])
                for v in (V311, V5):
                    c = self.client(d.port, v, "polite%d" % v, will={"topic": "will/p", "payload": b"no"})
                    c.disconnect(rc=0 if v == V5 else None)
                watcher.no_message(1.0)

    def test_v5_disconnect_with_will_message_0x04(self):
        # 5.0 3.14.2.1: reason 0x04 "Disconnect with Will Message": the will is
        # published ([MQTT-3.1.2-8] applies; [MQTT-3.14.4-3] only discards on 0x00).
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                watcher = self.client(d.port, V5, "watch")
                watcher.subscribe(("will/#", 1), expect=[1])
                c = self.client(d.port, V5, "w04", will={"topic": "will/04", "payload": b"asked", "qos": 1})
                c.disconnect(rc=0x04)
                (m,) = watcher.messages(1, timeout=5)
                self.assertEqual((m.topic, m.payload, m.qos), ("will/04", b"asked", 1))

    def test_will_after_keepalive_timeout(self):
        # [MQTT-3.1.2-8]: a keep-alive timeout closes the connection abnormally,
        # so the will is published.
        d = self.daemon(STREAM_CONFIG).start()
        watcher = self.client(d.port, V5, "watch")
        watcher.subscribe(("will/#", 1), expect=[1])
        self.client(d.port, V311, "silent", keepalive=1, will={"topic": "will/ka", "payload": b"timeout"})
        (m,) = watcher.messages(1, timeout=5)
        self.assertEqual((m.topic, m.payload), ("will/ka", b"timeout"))

    def test_retained_will(self):
        # [MQTT-3.1.2-17] (3.1.1) / 5.0 [MQTT-3.1.2-15]: Will Retain 1: the will is
        # published as a retained message.
        d = self.daemon(STREAM_CONFIG).start()
        c = self.client(d.port, V311, "rw", will={"topic": "will/ret", "payload": b"R", "qos": 1, "retain": True})
        c.close()
        time.sleep(0.5)
        late = self.client(d.port, V5, "late")
        late.subscribe(("will/ret", 1), expect=[1])
        (m,) = late.messages(1, timeout=5)
        self.assertEqual((m.payload, m.retain, m.qos), (b"R", True, 1))

    def test_v5_will_properties_passed_through(self):
        # 5.0 3.1.3.2: will properties (content type, response topic, correlation
        # data, user properties) are sent with the will message.
        d = self.daemon(STREAM_CONFIG).start()
        watcher = self.client(d.port, V5, "watch")
        watcher.subscribe(("will/#", 1), expect=[1])
        wprops = {"content_type": "text/plain", "response_topic": "r/t",
                  "correlation_data": b"\x01\x02", "user": [("why", "test")]}
        c = self.client(d.port, V5, "wp", will={"topic": "will/props", "payload": b"P", "qos": 1, "props": wprops})
        c.close()
        (m,) = watcher.messages(1, timeout=5)
        got = dict(m.props)
        got.pop("subscription_id", None)
        self.assertEqual(got, wprops)

    def test_v5_will_delay_published_after_delay(self):
        # 5.0 3.1.3.2.2: with a Will Delay Interval the will is published when the
        # delay has passed (or the session ends, whichever is first).
        d = self.daemon(STREAM_CONFIG).start()
        watcher = self.client(d.port, V5, "watch")
        watcher.subscribe(("will/#", 1), expect=[1])
        c = self.client(d.port, V5, "wd", clean=False, props={"session_expiry": 60},
                        will={"topic": "will/delay", "payload": b"late", "props": {"will_delay": 2}})
        t0 = time.monotonic()
        c.close()
        watcher.no_message(1.2)
        (m,) = watcher.messages(1, timeout=5)
        self.assertEqual(m.payload, b"late")
        self.assertGreaterEqual(time.monotonic() - t0, 1.8)

    def test_v5_will_delay_cancelled_by_reconnect(self):
        # 5.0 [MQTT-3.1.3-9]: a new connection with the same client id before the
        # Will Delay Interval has passed means the will is not sent.
        for name, config in CONFIGS:
            with self.subTest(config=name):
                d = self.daemon(config).start()
                watcher = self.client(d.port, V5, "watch")
                watcher.subscribe(("will/#", 1), expect=[1])
                c = self.client(d.port, V5, "wdc", clean=False, props={"session_expiry": 60},
                                will={"topic": "will/cancel", "payload": b"never", "props": {"will_delay": 2}})
                c.close()
                time.sleep(0.5)
                again = self.client(d.port, V5, "wdc", clean=False, props={"session_expiry": 60})
                watcher.no_message(3.0)
                again.disconnect()

    def test_v5_will_delay_ends_with_session(self):
        # 5.0 3.1.3.2.2: the will is published when the session ends, even if the
        # Will Delay Interval is longer (session expiry 1 s, will delay 30 s).
        d = self.daemon(STREAM_CONFIG).start()
        watcher = self.client(d.port, V5, "watch")
        watcher.subscribe(("will/#", 1), expect=[1])
        c = self.client(d.port, V5, "wse", props={"session_expiry": 1},
                        will={"topic": "will/sess", "payload": b"ended", "props": {"will_delay": 30}})
        c.close()
        (m,) = watcher.messages(1, timeout=5)
        self.assertEqual(m.payload, b"ended")

    def test_session_takeover_publishes_will_v311(self):
        # 3.1.1 [MQTT-3.1.4-2]: a takeover closes the old connection abnormally,
        # so its will is published.
        d = self.daemon(STREAM_CONFIG).start()
        watcher = self.client(d.port, V5, "watch")
        watcher.subscribe(("will/#", 1), expect=[1])
        self.client(d.port, V311, "dup-id", will={"topic": "will/to", "payload": b"taken"})
        self.client(d.port, V311, "dup-id")
        (m,) = watcher.messages(1, timeout=5)
        self.assertEqual(m.payload, b"taken")


if __name__ == "__main__":
    unittest.main(verbosity=2)
