// Reason codes, packet type names, 3.1.1 CONNACK mapping, Status.

#include <cstring>

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_types_reason_names(void** state) {
  (void)state;
  assert_string_equal(ReasonName(ReasonCode::kSuccess), "Success");
  assert_string_equal(ReasonName(ReasonCode::kMalformedPacket), "Malformed Packet");
  assert_string_equal(ReasonName(ReasonCode::kProtocolError), "Protocol Error");
  assert_string_equal(ReasonName(ReasonCode::kWildcardSubscriptionsNotSupported),
                      "Wildcard Subscriptions not supported");
  assert_string_equal(ReasonName(static_cast<ReasonCode>(0x03)), "Unknown reason code");
}

// Section 2.4 defines 43 distinct values.
static void test_types_every_reason_code_is_known(void** state) {
  (void)state;
  int known = 0;
  for (int rc = 0; rc < 256; ++rc) known += IsKnownReasonCode(static_cast<uint8_t>(rc));
  assert_int_equal(known, 43);
  assert_true(IsKnownReasonCode(0x80));
  assert_true(IsKnownReasonCode(0x9C));
  assert_true(IsKnownReasonCode(0xA2));
  assert_false(IsKnownReasonCode(0xA3));
  assert_false(IsKnownReasonCode(0x03));
}

static void test_types_packet_type_names(void** state) {
  (void)state;
  assert_string_equal(PacketTypeName(PacketType::kConnect), "CONNECT");
  assert_string_equal(PacketTypeName(PacketType::kUnsuback), "UNSUBACK");
  assert_string_equal(PacketTypeName(PacketType::kAuth), "AUTH");
  assert_string_equal(PacketTypeName(PacketType::kReserved), "RESERVED");
}

static void test_types_connect_return_311_round_trip(void** state) {
  (void)state;
  for (int i = 0; i <= 5; ++i) {
    const auto r = static_cast<ConnectReturn311>(i);
    assert_int_equal(static_cast<int>(ToConnectReturn311(FromConnectReturn311(r))), i);
  }
  assert_int_equal(static_cast<int>(ToConnectReturn311(ReasonCode::kQuotaExceeded)), 3);
}

static void test_types_status(void** state) {
  (void)state;
  Status ok;
  assert_true(ok.ok());
  assert_string_equal(ok.why(), "");
  Status bad = Malformed("x");
  assert_false(bad.ok());
  assert_int_equal(static_cast<int>(bad.code()), 0x81);
  assert_string_equal(bad.why(), "x");
  assert_int_equal(static_cast<int>(ProtocolError("y").code()), 0x82);
  assert_true(IsError(ReasonCode::kUnspecifiedError));
  assert_false(IsError(ReasonCode::kGrantedQos2));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_types_reason_names),
      MQTT_TEST(test_types_every_reason_code_is_known),
      MQTT_TEST(test_types_packet_type_names),
      MQTT_TEST(test_types_connect_return_311_round_trip),
      MQTT_TEST(test_types_status),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
