"""Malformed and forbidden packets against the real tributaryd, built by hand as
annotated bytes: the offending connection is closed (MQTT 5.0: after DISCONNECT
0x81 Malformed Packet or 0x82 Protocol Error [MQTT-4.13.1-1]; MQTT 3.1.1: closed
without an answer [MQTT-4.8.0-1]), and the daemon keeps serving everyone else.

Spec references: [MQTT-x.y.z-n] from MQTT 3.1.1 / 5.0."""
import struct
import unittest

from harness import (CONNACK, STREAM_CONFIG, MqttTest, enc_str, enc_varint, packet)

V311, V5 = 4, 5
MALFORMED, PROTOCOL_ERROR = 0x81, 0x82


def props5(v):
    """An empty property block in 5.0, nothing in 3.1.1."""
    return b"\x00" if v == V5 else b""


class Malformed(MqttTest):
    def setUp(self):
        super().setUp()
        self.d = self.daemon(STREAM_CONFIG).start()
        # A healthy pair that must keep working after every bad client.
        self.watch = self.client(self.d.port, V5, "healthy-sub")
        self.watch.subscribe(("healthy/#", 1), expect=[1])
        self.pub = self.client(self.d.port, V311, "healthy-pub")
        self.n = 0

    def still_serving(self):
        self.n += 1
        self.pub.publish("healthy/t", b"ok-%d" % self.n, qos=1)
        (m,) = self.watch.messages(1)
        self.assertEqual(m.payload, b"ok-%d" % self.n)
        self.assertIsNone(self.d.proc.poll(), "tributaryd died")

    def rejects(self, v, data, rc5=(MALFORMED,), connected=True, cid=None):
        """Send `data` (after CONNECT when connected) and expect the close; 5.0
        connected clients must get DISCONNECT with a code in rc5 first."""
        if connected:
            c = self.client(self.d.port, v, cid or "bad-%d-%d" % (v, self.n))
        else:
            c = self.rawsock(self.d.port, v)
        c.send(data)
        disc = c.expect_close(3)
        if v == V5 and connected:
            self.assertIsNotNone(disc, "no DISCONNECT before close")
            self.assertIn(disc.rc, rc5)
        else:
            self.assertIsNone(disc)
        self.still_serving()

    def both(self, make, rc5=(MALFORMED,)):
        for v in (V311, V5):
            with self.subTest(version=v):
                self.rejects(v, make(v), rc5)

    # -- fixed header ----------------------------------------------------------------
    def test_remaining_length_over_four_bytes(self):
        # 3.1.1 2.2.3 / 5.0 1.5.5 [MQTT-1.5.5-1]: the Remaining Length is at most
        # four bytes; a fifth continuation byte is malformed.
        self.both(lambda v: b"\x30" + b"\xff\xff\xff\xff\x7f")  # PUBLISH, RL with 5 bytes

    def test_remaining_length_shorter_than_content(self):
        # A PUBLISH whose topic length points past the end of the packet is malformed.
        self.both(lambda v: b"\x30\x04" + b"\x00\x10ab")  # RL 4, topic length 16 but 2 bytes

    def test_reserved_flags_wrong(self):
        # [MQTT-2.2.2-2]: reserved fixed-header flags must be as specified, else
        # malformed: SUBSCRIBE [MQTT-3.8.1-1], UNSUBSCRIBE [MQTT-3.10.1-1] and PUBREL
        # [MQTT-3.6.1-1] need 0010; PINGREQ needs 0000.
        for label, make in (
                ("SUBSCRIBE flags 0", lambda v: packet(8, 0, b"\x00\x01" + props5(v) + enc_str("a") + b"\x00")),
                ("UNSUBSCRIBE flags 0", lambda v: packet(10, 0, b"\x00\x01" + props5(v) + enc_str("a"))),
                ("PUBREL flags 0", lambda v: packet(6, 0, b"\x00\x01")),
                ("PINGREQ flags 1", lambda v: b"\xc1\x00")):
            with self.subTest(packet=label):
                self.both(make)

    def test_publish_qos3(self):
        # [MQTT-3.3.1-4]: both QoS bits set is malformed.
        self.both(lambda v: packet(3, 0x06, enc_str("q/3") + b"\x00\x01" + props5(v) + b"x"))

    def test_connect_reserved_flag(self):
        # [MQTT-3.1.2-3]: CONNECT with the reserved flag bit 0 set is malformed: close
        # (no CONNACK is required).
        for v in (V311, V5):
            with self.subTest(version=v):
                body = enc_str("MQTT") + bytes([v, 0x03]) + struct.pack(">H", 60) + props5(v) + enc_str("rsv")
                self.rejects(v, packet(1, 0, body), connected=False)

    def test_v311_password_without_username(self):
        # 3.1.1 [MQTT-3.1.2-22]: Password Flag 1 with User Name Flag 0 is malformed.
        body = enc_str("MQTT") + bytes([4, 0x42]) + struct.pack(">H", 60) + enc_str("pw") + enc_str("secret")
        self.rejects(V311, packet(1, 0, body), connected=False)

    # -- topic names -------------------------------------------------------------------
    def test_wildcard_in_topic_name(self):
        # [MQTT-3.3.2-2]: the Topic Name in a PUBLISH must not contain wildcards.
        # 5.0: DISCONNECT 0x81, or 0x90 Topic Name invalid (3.3.2.1).
        for topic in ("a/+/b", "a/#", "#"):
            with self.subTest(topic=topic):
                self.both(lambda v: packet(3, 0x02, enc_str(topic) + b"\x00\x01" + props5(v) + b"x"),
                          rc5=(MALFORMED, 0x90))

    def test_invalid_utf8_topic(self):
        # [MQTT-1.5.3-1]: ill-formed UTF-8 (here a lone continuation byte, an
        # overlong '/', and an encoded UTF-16 surrogate) is malformed;
        # [MQTT-1.5.3-2]: U+0000 is not allowed.
        for label, raw in (("continuation", b"a/\x80"), ("overlong", b"a\xc0\xafb"),
                           ("surrogate", b"a/\xed\xa0\x80"), ("nul", b"a\x00b")):
            with self.subTest(topic=label):
                self.both(lambda v: packet(3, 0x00, struct.pack(">H", len(raw)) + raw + props5(v) + b"x"))

    def test_invalid_utf8_client_id(self):
        # [MQTT-1.5.3-1] in CONNECT: the connection is closed (5.0 may answer CONNACK
        # 0x81 first; a success CONNACK is never sent).
        for v in (V311, V5):
            with self.subTest(version=v):
                body = enc_str("MQTT") + bytes([v, 0x02]) + struct.pack(">H", 60) + props5(v) + b"\x00\x02\xff\xfe"
                c = self.rawsock(self.d.port, v)
                c.send(packet(1, 0, body))
                try:
                    p = c.recv(3)
                    self.assertEqual((p.type, p.rc), (CONNACK, 0x81 if v == V5 else p.rc))
                    self.assertNotEqual(p.rc, 0)
                except Exception as e:  # closed without CONNACK: also fine
                    self.assertIn("closed", str(e))
                self.assertIsNone(c.expect_close(3))
                self.still_serving()

    def test_empty_topic_without_alias(self):
        # 3.1.1 [MQTT-4.7.3-1]: topic names are at least one character: malformed.
        # 5.0 3.3.2.3.4: an empty topic with no Topic Alias is a Protocol Error.
        for v, rc in ((V311, None), (V5, (PROTOCOL_ERROR, MALFORMED))):
            with self.subTest(version=v):
                self.rejects(v, packet(3, 0x00, enc_str("") + props5(v) + b"x"), rc5=rc)

    # -- packet contents ---------------------------------------------------------------
    def test_packet_id_zero(self):
        # [MQTT-2.3.1-1]: QoS > 0 PUBLISH, SUBSCRIBE and UNSUBSCRIBE need a non-zero
        # packet identifier.
        for label, make in (
                ("PUBLISH", lambda v: packet(3, 0x02, enc_str("p/0") + b"\x00\x00" + props5(v) + b"x")),
                ("SUBSCRIBE", lambda v: packet(8, 2, b"\x00\x00" + props5(v) + enc_str("s/0") + b"\x01"))):
            with self.subTest(packet=label):
                self.both(make, rc5=(MALFORMED, PROTOCOL_ERROR))

    def test_subscribe_without_filters(self):
        # 3.1.1 [MQTT-3.8.3-3] / 5.0 [MQTT-3.8.3-2]: a SUBSCRIBE with no filter is a
        # protocol violation; 3.1.1 [MQTT-3.10.3-2]: same for UNSUBSCRIBE.
        self.both(lambda v: packet(8, 2, b"\x00\x07" + props5(v)), rc5=(MALFORMED, PROTOCOL_ERROR))
        self.both(lambda v: packet(10, 2, b"\x00\x08" + props5(v)), rc5=(MALFORMED, PROTOCOL_ERROR))

    def test_subscription_options_reserved(self):
        # 3.1.1 [MQTT-3.8.3-4]: requested QoS 3 or reserved bits set: malformed.
        # 5.0 [MQTT-3.8.3-5]: reserved bits 6-7 set: malformed (0x81); 3.8.3.1: QoS 3
        # and Retain Handling 3 are Protocol Errors (0x82).
        for label, opts, rc in (("qos3", 0x03, PROTOCOL_ERROR), ("reserved bits", 0xC1, MALFORMED),
                                ("retain handling 3", 0x31, PROTOCOL_ERROR)):
            with self.subTest(options=label):
                self.both(lambda v: packet(8, 2, b"\x00\x09" + props5(v) + enc_str("o/x") + bytes([opts])),
                          rc5=(rc,))

    def test_v5_unknown_property(self):
        # 5.0 2.2.2.2: a property identifier that does not exist, or one not
        # allowed in the packet (Session Expiry in PUBLISH), is malformed.
        for label, props in (("id 0x7f", b"\x02\x7f\x00"), ("session expiry in PUBLISH", b"\x05\x11\x00\x00\x00\x01")):
            with self.subTest(property=label):
                self.rejects(V5, packet(3, 0x00, enc_str("up/x") + props + b"x"))

    def test_v5_duplicate_property(self):
        # 5.0 2.2.2.2: a property that may appear once appearing twice is a
        # Protocol Error (here Content Type twice).
        props = b"\x03\x00\x01a" * 2
        self.rejects(V5, packet(3, 0x00, enc_str("dp/x") + enc_varint(len(props)) + props + b"x"),
                     rc5=(PROTOCOL_ERROR, MALFORMED))

    def test_client_sends_server_only_packets(self):
        # CONNACK, SUBACK, UNSUBACK and PINGRESP go from server to client only;
        # from a client they are a protocol violation (3.1.1: close).
        for label, data in (("CONNACK", b"\x20\x02\x00\x00"), ("SUBACK", b"\x90\x03\x00\x01\x00"),
                            ("PINGRESP", b"\xd0\x00"), ("reserved type 0", b"\x00\x00")):
            with self.subTest(packet=label):
                self.both(lambda v: data, rc5=(MALFORMED, PROTOCOL_ERROR))

    # -- garbage -----------------------------------------------------------------------
    def test_garbage_bytes_closed_daemon_keeps_serving(self):
        # Random bytes instead of MQTT, before and after CONNECT, and an HTTP request:
        # closed, never a crash; the others keep working.
        junk = bytes((i * 151 + 7) % 256 for i in range(4096))
        for label, data, connected in (("junk first", junk, False), ("junk after connect", junk, True),
                                       ("http", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", False)):
            for v in (V311, V5):
                with self.subTest(case=label, version=v):
                    c = self.client(self.d.port, v, "junk%d" % v) if connected else self.rawsock(self.d.port, v)
                    try:
                        c.send(data)
                    except OSError:
                        pass  # already closed by the broker
                    try:
                        c.expect_close(3)
                    except AssertionError as e:
                        if "still open" in str(e):
                            raise
                    self.still_serving()
        self.assertIsNone(self.d.proc.poll())
        self.assertEqual(self.d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
