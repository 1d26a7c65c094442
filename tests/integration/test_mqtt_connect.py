"""CONNECT / CONNACK against the real tributaryd, MQTT 3.1.1 and 5.0, with a raw
socket client so the exact bytes and reason codes are checked.

Spec references: MQTT 3.1.1 (OASIS 2014) and MQTT 5.0 (OASIS 2019) normative
statements, written [MQTT-x.y.z-n]; "3.1.1:" or "5.0:" says which document
when the numbers differ."""
import struct
import time
import unittest

from harness import (AUTH, CONNACK, PINGREQ, PINGRESP, PUBLISH, STREAM_CONFIG, MqttTest, enc_str,
                     packet)

V311, V5 = 4, 5


class Connect(MqttTest):
    def start(self, config=STREAM_CONFIG):
        return self.daemon(config).start()

    # -- accepted ---------------------------------------------------------------
    def test_v311_accepted_connack_exact_bytes(self):
        # 3.1.1 [MQTT-3.2.2-1]..[MQTT-3.2.2-3]: a new clean session is acknowledged
        # with Session Present 0 and return code 0: exactly 20 02 00 00.
        d = self.start()
        c = self.rawsock(d.port, V311)
        c.send(c.connect_packet("acc311", clean=True))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.body, b"\x00\x00")
        self.assertTrue(c.is_open())

    def test_v5_accepted_connack_properties(self):
        # 5.0 [MQTT-3.2.2-1]: CONNACK with reason 0 and the server's limits:
        # Receive Maximum (3.2.2.3.3), Maximum Packet Size (3.2.2.3.6) and Topic
        # Alias Maximum (3.2.2.3.8) taken from [limits].
        d = self.start(STREAM_CONFIG + '[limits]\nmax_inflight = 10\nmax_packet_size = "4KiB"\n')
        c = self.rawsock(d.port, V5)
        ack = c.connect("acc5", clean=True, keepalive=30)
        self.assertEqual(ack.rc, 0)
        self.assertEqual(ack.session_present, 0)
        self.assertEqual(ack.props.get("receive_maximum"), 10)
        self.assertEqual(ack.props.get("maximum_packet_size"), 4096)
        self.assertGreaterEqual(ack.props.get("topic_alias_maximum", 0), 1)
        # The client chose its id, so none is assigned [MQTT-3.2.2-16 is only for empty ids].
        self.assertNotIn("assigned_client_id", ack.props)
        # Keep-alive 30 is within max_keepalive (10m): no Server Keep Alive.
        self.assertNotIn("server_keep_alive", ack.props)

    def test_v5_session_expiry_capped_by_server(self):
        # 5.0 3.2.2.3.2: a server that grants a different Session Expiry Interval
        # than asked says so in CONNACK.
        d = self.start(STREAM_CONFIG + '[limits]\nmax_session_expiry = "1h"\n')
        c = self.rawsock(d.port, V5)
        ack = c.connect("cap5", clean=True, props={"session_expiry": 0xFFFFFFFF})
        self.assertEqual(ack.props.get("session_expiry"), 3600)

    # -- refused versions -------------------------------------------------------
    def test_v311_mqisdp_level3_refused_rc1_then_closed(self):
        # 3.1.1 [MQTT-3.1.2-2]: an unsupported protocol level gets CONNACK return
        # code 0x01 and the connection is closed. MQTT 3.1 ("MQIsdp", level 3):
        body = enc_str("MQIsdp") + bytes([3, 0x02]) + struct.pack(">H", 60) + enc_str("old31")
        c = self.rawsock(self.start().port, V311)
        c.send(packet(1, 0, body))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.body, b"\x00\x01")
        self.assertIsNone(c.expect_close(3))

    def test_v5_level6_refused_0x84_then_closed(self):
        # 5.0 [MQTT-3.1.2-2]: protocol version not 5 (and not otherwise supported):
        # CONNACK 0x84 (Unsupported Protocol Version), then close.
        c = self.rawsock(self.start().port, V5)
        c.send(c.connect_packet("lvl6", level=6))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.rc, 0x84, ack)
        self.assertIsNone(c.expect_close(3))

    def test_v311_empty_client_id_clean0_refused_rc2(self):
        # 3.1.1 [MQTT-3.1.3-8]: zero-byte client id with CleanSession 0 ->
        # CONNACK 0x02 (identifier rejected), then close.
        c = self.rawsock(self.start().port, V311)
        c.send(c.connect_packet("", clean=False))
        ack = c.expect(CONNACK)
        self.assertEqual(ack.body, b"\x00\x02")
        self.assertIsNone(c.expect_close(3))

    def test_v311_empty_client_id_clean1_accepted(self):
        # 3.1.1 [MQTT-3.1.3-6], [MQTT-3.1.3-7]: zero-byte id with CleanSession 1 is
        # accepted and the server assigns a unique id (invisible in 3.1.1).
        d = self.start()
        for _ in range(2):
            c = self.rawsock(d.port, V311)
            self.assertEqual(c.connect("", clean=True).body, b"\x00\x00")
        # Both connections stay up: two distinct assigned ids, no takeover.
        self.assertTrue(all(c.is_open(0.2) for c in self.clients))

    def test_v5_empty_client_id_gets_assigned_identifier(self):
        # 5.0 [MQTT-3.1.3-6], [MQTT-3.2.2-16]: the server assigns an id and
        # returns it in the Assigned Client Identifier property; ids are unique.
        d = self.start()
        ids = []
        for _ in range(2):
            c = self.rawsock(d.port, V5)
            ack = c.connect("", clean=True)
            self.assertEqual(ack.rc, 0)
            self.assertTrue(ack.props.get("assigned_client_id"), ack)
            ids.append(ack.props["assigned_client_id"])
        self.assertNotEqual(ids[0], ids[1])
        self.assertTrue(all(c.is_open(0.2) for c in self.clients))

    # -- packet order -----------------------------------------------------------
    def _first_packet_not_connect(self, v):
        # [MQTT-3.1.0-1]: the first packet from the client MUST be CONNECT; the
        # server closes without answering.
        d = self.start()
        for first in (packet(PINGREQ, 0, b""),
                      packet(PUBLISH, 0, enc_str("a/b") + (b"\x00" if v == V5 else b"") + b"x")):
            c = self.rawsock(d.port, v)
            c.send(first)
            self.assertIsNone(c.expect_close(3), "broker answered a non-CONNECT first packet")

    def test_v311_first_packet_not_connect_closed(self):
        self._first_packet_not_connect(V311)

    def test_v5_first_packet_not_connect_closed(self):
        self._first_packet_not_connect(V5)

    def test_v311_second_connect_closes(self):
        # 3.1.1 [MQTT-3.1.0-2]: a second CONNECT is a protocol violation: close.
        c = self.rawsock(self.start().port, V311)
        c.connect("twice311")
        c.send(c.connect_packet("twice311"))
        self.assertIsNone(c.expect_close(3))

    def test_v5_second_connect_disconnect_0x82(self):
        # 5.0 [MQTT-3.1.0-2], [MQTT-4.13.1-1]: a second CONNECT is a Protocol
        # Error: DISCONNECT 0x82, then close.
        c = self.rawsock(self.start().port, V5)
        c.connect("twice5")
        c.send(c.connect_packet("twice5"))
        disc = c.expect_close(3)
        self.assertIsNotNone(disc, "no DISCONNECT before close")
        self.assertEqual(disc.rc, 0x82)

    # -- keep-alive ---------------------------------------------------------------
    def _silent_after_connect(self, v):
        d = self.start()
        c = self.rawsock(d.port, v)
        c.connect("ka%d" % v, keepalive=1)
        t0 = time.monotonic()
        disc = c.expect_close(6)
        elapsed = time.monotonic() - t0
        # [MQTT-3.1.2-24]: closed after 1.5 x keep-alive without a packet; allow
        # the 0.5 s tick plus scheduling on a loaded machine (ASan build) up to
        # 4 s, and not before ~1.5 s (measured from CONNACK).
        self.assertGreaterEqual(elapsed, 1.3)
        self.assertLessEqual(elapsed, 4.0)
        return disc

    def test_v311_keepalive_silent_client_closed(self):
        self.assertIsNone(self._silent_after_connect(V311))

    def test_v5_keepalive_silent_client_disconnect_0x8d(self):
        # 5.0 [MQTT-3.1.2-22] + reason code 0x8D Keep Alive timeout.
        disc = self._silent_after_connect(V5)
        self.assertIsNotNone(disc, "no DISCONNECT before close")
        self.assertEqual(disc.rc, 0x8D)

    def test_pingreq_keeps_connection_alive_both_versions(self):
        # [MQTT-3.12.4-1]: PINGRESP (exactly d0 00) to each PINGREQ; a client that
        # pings within the keep-alive is not disconnected.
        d = self.start()
        for v in (V311, V5):
            c = self.rawsock(d.port, v)
            c.connect("ping%d" % v, keepalive=1)
            for _ in range(6):
                time.sleep(0.5)
                c.send(b"\xc0\x00")
                p = c.recv(2)
                self.assertEqual((p.type, p.body), (PINGRESP, b""))
            self.assertTrue(c.is_open(0.1))

    def test_v5_server_keep_alive(self):
        # 5.0 [MQTT-3.2.2-21], [MQTT-3.2.2-22]: a client asking for keep-alive 0
        # (or more than max_keepalive) is told the Server Keep Alive and must use it.
        d = self.start(STREAM_CONFIG + '[limits]\nmax_keepalive = "30s"\n')
        for asked, told in ((0, 30), (100, 30), (20, None)):
            c = self.rawsock(d.port, V5)
            ack = c.connect("ska%d" % asked, keepalive=asked)
            self.assertEqual(ack.props.get("server_keep_alive"), told, "asked %d" % asked)

    def test_v5_server_keep_alive_is_enforced(self):
        # The server keep-alive replaces the client's 0 [MQTT-3.2.2-22]: with
        # max_keepalive 1s, a client asking for 0 that goes silent is closed.
        d = self.start(STREAM_CONFIG + '[limits]\nmax_keepalive = "1s"\n')
        c = self.rawsock(d.port, V5)
        ack = c.connect("ska-enf", keepalive=0)
        self.assertEqual(ack.props.get("server_keep_alive"), 1)
        disc = c.expect_close(5)
        self.assertIsNotNone(disc)
        self.assertEqual(disc.rc, 0x8D)

    # -- connect timeout ----------------------------------------------------------
    def test_connect_timeout_closes_silent_socket(self):
        # 5.0 section 3.1.4 / 3.1.1 section 3.1: a server SHOULD close a connection
        # that does not send CONNECT within a reasonable time (connect_timeout).
        d = self.start(STREAM_CONFIG + '[limits]\nconnect_timeout = "1s"\n')
        silent = self.rawsock(d.port)
        partial = self.rawsock(d.port)
        partial.send(b"\x10\x20\x00\x04MQ")  # half a CONNECT
        t0 = time.monotonic()
        self.assertIsNone(silent.expect_close(5))
        self.assertIsNone(partial.expect_close(5))
        self.assertLessEqual(time.monotonic() - t0, 4.5)  # 1 s + tick + a loaded machine
        # A client that completes CONNECT in time is not affected.
        ok = self.client(d.port, V5, "in-time", keepalive=60)
        time.sleep(1.5)
        self.assertTrue(ok.is_open(0.2))

    # -- authentication -----------------------------------------------------------
    def test_v5_auth_method_in_connect_refused_0x8c(self):
        # 5.0 [MQTT-4.12.0-1]: a server that does not support the Authentication
        # Method answers CONNACK 0x8C (Bad authentication method) and closes.
        c = self.rawsock(self.start().port, V5)
        c.send(c.connect_packet("authm", props={"auth_method": "SCRAM-SHA-1", "auth_data": b"xyz"}))
        ack = c.expect(CONNACK)
        self.assertEqual((ack.rc, ack.session_present), (0x8C, 0))
        self.assertIsNone(c.expect_close(3))

    def test_v5_auth_packet_without_method_is_protocol_error(self):
        # 5.0 4.12: AUTH with no Authentication Method in CONNECT is a Protocol
        # Error: DISCONNECT 0x82 [MQTT-4.13.1-1].
        c = self.rawsock(self.start().port, V5)
        c.connect("noauth")
        c.send(packet(AUTH, 0, b"\x18\x00"))  # AUTH reason 0x18 Continue, no properties
        disc = c.expect_close(3)
        self.assertIsNotNone(disc)
        self.assertEqual(disc.rc, 0x82)


if __name__ == "__main__":
    unittest.main(verbosity=2)
