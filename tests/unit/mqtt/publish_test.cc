// PUBLISH decoding and encoding, both versions.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static Status DecodeP(Fx& f, Version v) {
  std::string_view body = Body(f);
  return DecodePublish(f.frame.flags, body, v, &f.publish);
}

static void test_publish_311_qos0(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x07,                 // PUBLISH, QoS 0, remaining length 7
              0x00, 0x03, 'a', '/', 'b',  // topic "a/b"
              'h', 'i'});                 // payload (no packet id at QoS 0)
  assert_ok(DecodeP(f, Version::k311));
  assert_sv_equal(f.publish.topic, "a/b");
  assert_sv_equal(f.publish.payload, "hi");
  assert_int_equal(f.publish.qos, 0);
  assert_false(f.publish.retain);
  assert_false(f.publish.dup);
  assert_int_equal(f.publish.packet_id, 0);
  // Zero copy: the views point into the input.
  assert_ptr_equal(f.publish.topic.data(), f.wire.data() + 4);
}

static void test_publish_311_qos2_retain_dup_empty_payload(void** state) {
  Fx& f = F(state);
  f.wire = B({0x3D, 0x05,       // PUBLISH, DUP=1, QoS 2, RETAIN=1
              0x00, 0x01, 't',  // topic "t"
              0x12, 0x34});     // packet id 0x1234, empty payload
  assert_ok(DecodeP(f, Version::k311));
  assert_int_equal(f.publish.qos, 2);
  assert_true(f.publish.retain);
  assert_true(f.publish.dup);
  assert_int_equal(f.publish.packet_id, 0x1234);
  assert_int_equal(f.publish.payload.size(), 0);
}

static const std::string kV5Qos1 =
    B({0x32, 0x1A,                               // PUBLISH QoS 1, remaining length 26
       0x00, 0x01, 't',                          // topic "t"
       0x00, 0x0A,                               // packet id 10
       0x13,                                     // property length 19
       0x01, 0x01,                               //   payload format indicator: UTF-8
       0x02, 0x00, 0x00, 0x00, 0x3C,             //   message expiry 60 s
       0x23, 0x00, 0x03,                         //   topic alias 3
       0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  //   user property k=v
       0x0B, 0x05,                               //   subscription identifier 5
       'x'});                                    // payload

static void test_publish_5_qos1_with_properties(void** state) {
  Fx& f = F(state);
  f.wire = kV5Qos1;
  assert_ok(DecodeP(f, Version::k5));
  assert_sv_equal(f.publish.topic, "t");
  assert_int_equal(f.publish.packet_id, 10);
  assert_sv_equal(f.publish.payload, "x");
  const Properties& p = f.publish.props;
  assert_int_equal(*p.payload_format_indicator, 1);
  assert_int_equal(*p.message_expiry_interval, 60);
  assert_int_equal(*p.topic_alias, 3);
  assert_int_equal(p.user_properties.size(), 1);
  assert_sv_equal(p.user_properties[0].name, "k");
  assert_sv_equal(p.user_properties[0].value, "v");
  assert_int_equal(p.subscription_identifiers.size(), 1);
  assert_int_equal(p.subscription_identifiers[0], 5);
  assert_int_equal(p.raw.size(), 19);
  assert_ptr_equal(p.raw.data(), f.wire.data() + 8);
}

static void test_publish_5_reuse_keeps_capacity_and_clears(void** state) {
  Fx& f = F(state);
  f.wire = kV5Qos1;
  assert_ok(DecodeP(f, Version::k5));
  const UserProperty* buf = f.publish.props.user_properties.data();
  // The same struct again, now for a packet without properties.
  f.wire = B({0x30, 0x05, 0x00, 0x01, 'u', 0x00, 'z'});  // QoS 0, topic "u", no props, "z"
  assert_ok(DecodeP(f, Version::k5));
  assert_true(f.publish.props.empty());
  assert_false(f.publish.props.topic_alias.has_value());
  assert_int_equal(f.publish.props.user_properties.size(), 0);
  assert_true(f.publish.props.user_properties.capacity() >= 1);
  assert_ptr_equal(f.publish.props.user_properties.data(), buf);
  assert_sv_equal(f.publish.payload, "z");
}

// [MQTT-3.3.1-2] The DUP flag MUST be set to 0 for all QoS 0 messages.
static void test_publish_dup_with_qos0_is_malformed_MQTT_3_3_1_2(void** state) {
  Fx& f = F(state);
  f.wire = B({0x38, 0x03, 0x00, 0x01, 't'});
  assert_malformed(DecodeP(f, Version::k311));
  assert_malformed(DecodeP(f, Version::k5));
}

// [MQTT-3.3.1-4] A PUBLISH packet MUST NOT have both QoS bits set to 1.
static void test_publish_qos3_is_malformed_MQTT_3_3_1_4(void** state) {
  Fx& f = F(state);
  const std::string body = B({0x00, 0x01, 't', 0x00, 0x01});
  assert_malformed(DecodePublish(0x06, body, Version::k311, &f.publish));
  assert_malformed(DecodePublish(0x06, body, Version::k5, &f.publish));
}

// [MQTT-3.3.2-2] The Topic Name in the PUBLISH packet MUST NOT contain wildcards.
static void test_publish_wildcard_topic_is_malformed_MQTT_3_3_2_2(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x05, 0x00, 0x03, 'a', '/', '+'});
  assert_malformed(DecodeP(f, Version::k311));
  f.wire = B({0x30, 0x06, 0x00, 0x03, 'a', '/', '#', 0x00});
  assert_malformed(DecodeP(f, Version::k5));
}

// [MQTT-3.3.2-1], [MQTT-1.5.4-1], [MQTT-4.7.3-2]: topic must be valid UTF-8
// without surrogates or U+0000.
static void test_publish_topic_bad_utf8_is_malformed_MQTT_1_5_4_1(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80});  // encoded surrogate U+D800
  assert_malformed(DecodeP(f, Version::k311));
  f.wire = B({0x30, 0x05, 0x00, 0x03, 'a', 0x00, 'b'});  // U+0000 [MQTT-1.5.4-2]
  assert_malformed(DecodeP(f, Version::k311));
  f.wire = B({0x30, 0x04, 0x00, 0x02, 0xC0, 0x80});  // overlong NUL
  assert_malformed(DecodeP(f, Version::k5));
}

// [MQTT-4.7.3-1] Topic Names MUST be at least one character long (3.1.1); in
// 5.0 a zero-length topic needs a Topic Alias, else Protocol Error (3.3.2.1).
static void test_publish_empty_topic_MQTT_4_7_3_1(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x03, 0x00, 0x00, 'p'});
  assert_malformed(DecodeP(f, Version::k311));
  f.wire = B({0x30, 0x04, 0x00, 0x00, 0x00, 'p'});  // 5.0, no properties
  assert_protocol_error(DecodeP(f, Version::k5));
  f.wire = B({0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00, 0x07, 'p'});  // topic alias 7
  assert_ok(DecodeP(f, Version::k5));
  assert_int_equal(*f.publish.props.topic_alias, 7);
  assert_int_equal(f.publish.topic.size(), 0);
}

// [MQTT-2.3.1-1] PUBLISH with QoS > 0 MUST contain a non-zero Packet Identifier.
static void test_publish_packet_id_zero_is_protocol_error_MQTT_2_3_1_1(void** state) {
  Fx& f = F(state);
  f.wire = B({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00});
  assert_protocol_error(DecodeP(f, Version::k311));
}

static void test_publish_truncated_is_malformed(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x03, 0x00, 0x05, 'a'});  // topic length 5, 1 byte present
  assert_malformed(DecodeP(f, Version::k311));
  f.wire = B({0x32, 0x04, 0x00, 0x01, 't', 0x00});  // packet id cut
  assert_malformed(DecodeP(f, Version::k311));
  f.wire = B({0x30, 0x03, 0x00, 0x01, 't'});  // 5.0: property length missing
  assert_malformed(DecodeP(f, Version::k5));
}

// 2.2.2.1/2.2.2.2: a property length past the end, or a property not allowed
// in PUBLISH, is a Malformed Packet; Topic Alias 0 [MQTT-3.3.2-8] and
// duplicates are Protocol Errors.
static void test_publish_property_errors(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x05, 0x00, 0x01, 't', 0x09, 0x01});  // property length 9 > 1 left
  assert_malformed(DecodeP(f, Version::k5));
  f.wire = B({0x30, 0x09, 0x00, 0x01, 't', 0x05, 0x11, 0, 0, 0, 1});  // session expiry
  assert_malformed(DecodeP(f, Version::k5));
  f.wire = B({0x30, 0x07, 0x00, 0x01, 't', 0x03, 0x23, 0x00, 0x00});  // topic alias 0
  assert_protocol_error(DecodeP(f, Version::k5));
  f.wire = B({0x30, 0x08, 0x00, 0x01, 't', 0x04, 0x01, 0x00, 0x01, 0x01});  // format twice
  assert_protocol_error(DecodeP(f, Version::k5));
  f.wire = B({0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x0B, 0x00});  // subscription id 0
  assert_protocol_error(DecodeP(f, Version::k5));
}

static void test_publish_encode_311_bytes(void** state) {
  Fx& f = F(state);
  PublishOut p;
  p.topic = "a/b";
  p.payload = "hi";
  p.qos = 1;
  p.packet_id = 7;
  p.retain = true;
  p.topic_alias = 9;  // ignored for 3.1.1
  EncodePublish(&f.out, Version::k311, p);
  assert_bytes(f.out, B({0x33, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x07, 'h', 'i'}));
  assert_int_equal(PublishSize(Version::k311, p), f.out.size());
}

static void test_publish_encode_5_fields_and_raw_then_decode(void** state) {
  Fx& f = F(state);
  f.ids = {1, 300};
  const std::string raw = B({0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'});
  PublishOut p;
  p.topic = "s/1";
  p.payload = "data";
  p.qos = 2;
  p.packet_id = 0xBEEF;
  p.message_expiry_interval = 3600;
  p.subscription_identifiers = f.ids;
  p.topic_alias = 2;
  p.raw_properties = raw;
  EncodePublish(&f.out, Version::k5, p);
  assert_int_equal(PublishSize(Version::k5, p), f.out.size());
  assert_bytes(f.out, B({0x34, 0x20,                               // QoS 2, remaining length 32
                         0x00, 0x03, 's',  '/',  '1',              // topic
                         0xBE, 0xEF,                               // packet id
                         0x14,                                     // property length 20
                         0x02, 0x00, 0x00, 0x0E, 0x10,             //   message expiry 3600
                         0x0B, 0x01,                               //   subscription id 1
                         0x0B, 0xAC, 0x02,                         //   subscription id 300
                         0x23, 0x00, 0x02,                         //   topic alias 2
                         0x26, 0x00, 0x01, 'k',  0x00, 0x01, 'v',  // user property (raw)
                         'd',  'a',  't',  'a'}));
  f.wire = f.out;
  assert_ok(DecodeP(f, Version::k5));
  assert_int_equal(*f.publish.props.message_expiry_interval, 3600);
  assert_int_equal(f.publish.props.subscription_identifiers.size(), 2);
  assert_int_equal(f.publish.props.subscription_identifiers[1], 300);
  assert_int_equal(*f.publish.props.topic_alias, 2);
  assert_sv_equal(f.publish.payload, "data");
}

static void test_publish_round_trip_through_publish_out(void** state) {
  Fx& f = F(state);
  f.wire = kV5Qos1;
  assert_ok(DecodeP(f, Version::k5));
  EncodePublish(&f.out, Version::k5, ToPublishOut(f.publish));
  assert_bytes(f.out, kV5Qos1);
}

static void test_publish_forwardable_properties_drop_per_delivery_ones(void** state) {
  Fx& f = F(state);
  f.wire = kV5Qos1;
  assert_ok(DecodeP(f, Version::k5));
  AppendForwardableProperties(&f.out, f.publish.props.raw);
  // Message expiry, topic alias and subscription id are gone; order is kept.
  assert_bytes(f.out, B({0x01, 0x01, 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v'}));
}

static void test_publish_encode_appends_many_into_one_buffer(void** state) {
  Fx& f = F(state);
  PublishOut p;
  p.topic = "t";
  p.payload = "p";
  for (int i = 0; i < 100; ++i) EncodePublish(&f.out, Version::k311, p);
  assert_int_equal(f.out.size(), 100 * 6);
  const auto* d = reinterpret_cast<const uint8_t*>(f.out.data());
  size_t off = 0;
  int n = 0;
  while (off < f.out.size()) {
    Frame fr = ReadFrame(d + off, f.out.size() - off, 1000);
    assert_int_equal(static_cast<int>(fr.status), static_cast<int>(FrameStatus::kPacket));
    assert_ok(DecodePublish(fr.flags, FrameBody(d + off, fr), Version::k311, &f.publish));
    off += fr.total_len;
    ++n;
  }
  assert_int_equal(n, 100);
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_publish_311_qos0),
      MQTT_TEST(test_publish_311_qos2_retain_dup_empty_payload),
      MQTT_TEST(test_publish_5_qos1_with_properties),
      MQTT_TEST(test_publish_5_reuse_keeps_capacity_and_clears),
      MQTT_TEST(test_publish_dup_with_qos0_is_malformed_MQTT_3_3_1_2),
      MQTT_TEST(test_publish_qos3_is_malformed_MQTT_3_3_1_4),
      MQTT_TEST(test_publish_wildcard_topic_is_malformed_MQTT_3_3_2_2),
      MQTT_TEST(test_publish_topic_bad_utf8_is_malformed_MQTT_1_5_4_1),
      MQTT_TEST(test_publish_empty_topic_MQTT_4_7_3_1),
      MQTT_TEST(test_publish_packet_id_zero_is_protocol_error_MQTT_2_3_1_1),
      MQTT_TEST(test_publish_truncated_is_malformed),
      MQTT_TEST(test_publish_property_errors),
      MQTT_TEST(test_publish_encode_311_bytes),
      MQTT_TEST(test_publish_encode_5_fields_and_raw_then_decode),
      MQTT_TEST(test_publish_round_trip_through_publish_out),
      MQTT_TEST(test_publish_forwardable_properties_drop_per_delivery_ones),
      MQTT_TEST(test_publish_encode_appends_many_into_one_buffer),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
