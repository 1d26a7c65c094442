// PUBACK / PUBREC / PUBREL / PUBCOMP decoding and encoding.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static Status DecodeA(Fx& f, Version v) {
  std::string_view body = Body(f);
  return DecodeAck(f.frame.type, f.frame.flags, body, v, &f.ack);
}

static void test_ack_311_all_four(void** state) {
  Fx& f = F(state);
  const int firsts[] = {0x40, 0x50, 0x62, 0x70};  // PUBACK, PUBREC, PUBREL (flags 0010), PUBCOMP
  const PacketType types[] = {PacketType::kPuback, PacketType::kPubrec, PacketType::kPubrel,
                              PacketType::kPubcomp};
  for (int i = 0; i < 4; ++i) {
    f.wire = B({firsts[i], 0x02, 0x12, 0x34});  // packet id 0x1234
    assert_ok(DecodeA(f, Version::k311));
    assert_int_equal(static_cast<int>(f.ack.type), static_cast<int>(types[i]));
    assert_int_equal(f.ack.packet_id, 0x1234);
    f.out.clear();
    EncodeAck(&f.out, Version::k311, types[i], 0x1234);
    assert_bytes(f.out, f.wire);
  }
}

// 3.4.2.1: in 5.0 a two-byte body means Success without properties, three
// bytes a reason code without properties.
static void test_ack_5_short_forms(void** state) {
  Fx& f = F(state);
  f.wire = B({0x40, 0x02, 0x00, 0x09});
  assert_ok(DecodeA(f, Version::k5));
  assert_int_equal(static_cast<int>(f.ack.reason), 0);
  f.wire = B({0x50, 0x03, 0x00, 0x09, 0x10});  // PUBREC: no matching subscribers
  assert_ok(DecodeA(f, Version::k5));
  assert_int_equal(static_cast<int>(f.ack.reason), 0x10);
  f.wire = B({0x40, 0x04, 0x00, 0x09, 0x97, 0x00});  // quota exceeded, empty properties
  assert_ok(DecodeA(f, Version::k5));
  assert_int_equal(static_cast<int>(f.ack.reason), 0x97);
  assert_true(f.ack.props.empty());
}

static void test_ack_5_with_reason_string_round_trip(void** state) {
  Fx& f = F(state);
  f.wire = B({0x40, 0x0A,                         // PUBACK, remaining length 10
              0x00, 0x05,                         // packet id 5
              0x87,                               // not authorized
              0x06,                               // property length 6
              0x1F, 0x00, 0x03, 'a', 'c', 'l'});  // reason string "acl"
  assert_ok(DecodeA(f, Version::k5));
  assert_int_equal(static_cast<int>(f.ack.reason), 0x87);
  assert_sv_equal(*f.ack.props.reason_string, "acl");
  EncodeAck(&f.out, Version::k5, f.ack);
  assert_bytes(f.out, f.wire);
}

static void test_ack_encode_fast_path(void** state) {
  Fx& f = F(state);
  EncodeAck(&f.out, Version::k5, PacketType::kPuback, 1);
  EncodeAck(&f.out, Version::k5, PacketType::kPubrel, 2, ReasonCode::kPacketIdentifierNotFound);
  EncodeAck(&f.out, Version::k311, PacketType::kPubrec, 3, ReasonCode::kQuotaExceeded);
  assert_bytes(f.out, B({0x40, 0x02, 0x00, 0x01,        // 5.0 success: 4 bytes
                         0x62, 0x03, 0x00, 0x02, 0x92,  // 5.0 with a reason
                         0x50, 0x02, 0x00, 0x03}));     // 3.1.1 has no reason code
}

// [MQTT-3.6.1-1] PUBREL fixed-header flags MUST be 0010; the others 0000
// [MQTT-2.2.2-2].
static void test_ack_flags_MQTT_3_6_1_1(void** state) {
  Fx& f = F(state);
  const std::string body = B({0x00, 0x01});
  assert_malformed(DecodeAck(PacketType::kPubrel, 0x00, body, Version::k311, &f.ack));
  assert_malformed(DecodeAck(PacketType::kPuback, 0x02, body, Version::k5, &f.ack));
  assert_ok(DecodeAck(PacketType::kPubrel, 0x02, body, Version::k5, &f.ack));
}

static void test_ack_311_length_must_be_2(void** state) {
  Fx& f = F(state);
  f.wire = B({0x40, 0x03, 0x00, 0x01, 0x00});
  assert_malformed(DecodeA(f, Version::k311));
  f.wire = B({0x40, 0x01, 0x00});
  assert_malformed(DecodeA(f, Version::k311));
  assert_malformed(DecodeA(f, Version::k5));
}

// [MQTT-2.3.1-1]: packet identifiers are non-zero.
static void test_ack_packet_id_zero_MQTT_2_3_1_1(void** state) {
  Fx& f = F(state);
  f.wire = B({0x70, 0x02, 0x00, 0x00});
  assert_protocol_error(DecodeA(f, Version::k311));
  assert_protocol_error(DecodeA(f, Version::k5));
}

// [MQTT-3.4.2-1], [MQTT-3.6.2-1]: only the listed reason codes.
static void test_ack_reason_not_allowed_MQTT_3_4_2_1(void** state) {
  Fx& f = F(state);
  f.wire = B({0x40, 0x03, 0x00, 0x01, 0x92});  // PUBACK cannot say "packet id not found"
  assert_protocol_error(DecodeA(f, Version::k5));
  f.wire = B({0x62, 0x03, 0x00, 0x01, 0x10});  // PUBREL cannot say "no matching subscribers"
  assert_protocol_error(DecodeA(f, Version::k5));
  f.wire = B({0x40, 0x03, 0x00, 0x01, 0x03});  // not a reason code at all
  assert_protocol_error(DecodeA(f, Version::k5));
}

static void test_ack_property_errors(void** state) {
  Fx& f = F(state);
  f.wire = B({0x40, 0x05, 0x00, 0x01, 0x00, 0x02, 0x1F});  // property length past the end
  assert_malformed(DecodeA(f, Version::k5));
  f.wire = B({0x40, 0x07, 0x00, 0x01, 0x00, 0x03, 0x23, 0x00, 0x01});  // topic alias
  assert_malformed(DecodeA(f, Version::k5));
  f.wire = B({0x40, 0x07, 0x00, 0x01, 0x00, 0x02, 0x1F, 0x00, 0x00});  // a byte left over
  assert_malformed(DecodeA(f, Version::k5));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_ack_311_all_four),
      MQTT_TEST(test_ack_5_short_forms),
      MQTT_TEST(test_ack_5_with_reason_string_round_trip),
      MQTT_TEST(test_ack_encode_fast_path),
      MQTT_TEST(test_ack_flags_MQTT_3_6_1_1),
      MQTT_TEST(test_ack_311_length_must_be_2),
      MQTT_TEST(test_ack_packet_id_zero_MQTT_2_3_1_1),
      MQTT_TEST(test_ack_reason_not_allowed_MQTT_3_4_2_1),
      MQTT_TEST(test_ack_property_errors),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
