// CONNACK encoding (broker side) and decoding (client side).

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_connack_311_bytes_and_code_mapping(void** state) {
  Fx& f = F(state);
  Connack c;
  c.session_present = true;
  EncodeConnack(&f.out, Version::k311, c);
  assert_bytes(f.out, B({0x20, 0x02, 0x01, 0x00}));
  const std::pair<ReasonCode, int> cases[] = {{ReasonCode::kUnsupportedProtocolVersion, 1},
                                              {ReasonCode::kClientIdentifierNotValid, 2},
                                              {ReasonCode::kServerUnavailable, 3},
                                              {ReasonCode::kServerBusy, 3},
                                              {ReasonCode::kBadUserNameOrPassword, 4},
                                              {ReasonCode::kNotAuthorized, 5},
                                              {ReasonCode::kBanned, 5}};
  for (auto [rc, want] : cases) {
    f.out.clear();
    c.session_present = false;
    c.reason = rc;
    EncodeConnack(&f.out, Version::k311, c);
    assert_bytes(f.out, B({0x20, 0x02, 0x00, want}));
  }
}

static void test_connack_311_decode(void** state) {
  Fx& f = F(state);
  assert_ok(DecodeConnack(0, B({0x01, 0x00}), Version::k311, &f.connack));
  assert_true(f.connack.session_present);
  assert_ok(DecodeConnack(0, B({0x00, 0x04}), Version::k311, &f.connack));
  assert_int_equal(static_cast<int>(f.connack.reason), 0x86);
  assert_malformed(DecodeConnack(0, B({0x00, 0x06}), Version::k311, &f.connack));  // undefined
  assert_malformed(DecodeConnack(0, B({0x02, 0x00}), Version::k311, &f.connack));  // reserved bit
  assert_malformed(DecodeConnack(0, B({0x00}), Version::k311, &f.connack));
  assert_malformed(DecodeConnack(0, B({0x00, 0x00, 0x00}), Version::k311, &f.connack));
  assert_malformed(DecodeConnack(1, B({0x00, 0x00}), Version::k311, &f.connack));  // flags
}

// [MQTT-3.2.2-4] (3.1.1) / [MQTT-3.2.2-6] (5.0): Session Present MUST be 0
// with a non-zero return code.
static void test_connack_session_present_with_failure_MQTT_3_2_2_4(void** state) {
  Fx& f = F(state);
  assert_protocol_error(DecodeConnack(0, B({0x01, 0x05}), Version::k311, &f.connack));
  assert_protocol_error(DecodeConnack(0, B({0x01, 0x87, 0x00}), Version::k5, &f.connack));
}

static void test_connack_5_all_properties_round_trip(void** state) {
  Fx& f = F(state);
  Connack c;
  c.reason = ReasonCode::kSuccess;
  Properties& p = c.props;
  p.session_expiry_interval = 300;
  p.receive_maximum = 64;
  p.maximum_qos = 1;
  p.retain_available = false;
  p.maximum_packet_size = 1 << 20;
  p.assigned_client_identifier = "auto-1";
  p.topic_alias_maximum = 10;
  p.reason_string = "welcome";
  p.user_properties = {{"node", "gw-1"}};
  p.wildcard_subscription_available = true;
  p.subscription_identifier_available = true;
  p.shared_subscription_available = true;
  p.server_keep_alive = 120;
  p.response_information = "resp/";
  p.server_reference = "other:1883";
  p.authentication_method = "SCRAM";
  p.authentication_data = std::string_view("\x00\x01", 2);
  EncodeConnack(&f.out, Version::k5, c);
  assert_ok(DecodeConnack(0, Body(f, f.out), Version::k5, &f.connack));
  assert_true(f.connack.props == c.props);
  assert_false(f.connack.session_present);
  EncodeConnack(&f.out2, Version::k5, f.connack);
  assert_bytes(f.out2, f.out);
}

static void test_connack_5_refusal_bytes(void** state) {
  Fx& f = F(state);
  Connack c;
  c.reason = ReasonCode::kBadUserNameOrPassword;
  EncodeConnack(&f.out, Version::k5, c);
  assert_bytes(f.out, B({0x20, 0x03, 0x00, 0x86, 0x00}));
}

// A 3.1.1-only server answers a 5.0 CONNECT with a two-byte CONNACK 0x01.
static void test_connack_5_accepts_311_style_refusal(void** state) {
  Fx& f = F(state);
  assert_ok(DecodeConnack(0, B({0x00, 0x01}), Version::k5, &f.connack));
  assert_int_equal(static_cast<int>(f.connack.reason), 0x84);
}

// 3.2.2.2: only the listed CONNACK reason codes; 3.2.2.3: property rules.
static void test_connack_5_errors(void** state) {
  Fx& f = F(state);
  assert_protocol_error(DecodeConnack(0, B({0x00, 0x10, 0x00}), Version::k5, &f.connack));
  assert_protocol_error(DecodeConnack(0, B({0x00, 0x8E, 0x00}), Version::k5, &f.connack));
  assert_malformed(DecodeConnack(0, B({0x00, 0x00, 0x02, 0x01, 0x01}), Version::k5,
                                 &f.connack));  // payload format indicator: not in CONNACK
  assert_protocol_error(DecodeConnack(0, B({0x00, 0x00, 0x02, 0x24, 0x02}), Version::k5,
                                      &f.connack));  // maximum QoS 2
  assert_protocol_error(DecodeConnack(0, B({0x00, 0x00, 0x03, 0x21, 0x00, 0x00}), Version::k5,
                                      &f.connack));  // receive maximum 0
  assert_malformed(DecodeConnack(0, B({0x00, 0x00, 0x05, 0x21}), Version::k5, &f.connack));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_connack_311_bytes_and_code_mapping),
      MQTT_TEST(test_connack_311_decode),
      MQTT_TEST(test_connack_session_present_with_failure_MQTT_3_2_2_4),
      MQTT_TEST(test_connack_5_all_properties_round_trip),
      MQTT_TEST(test_connack_5_refusal_bytes),
      MQTT_TEST(test_connack_5_accepts_311_style_refusal),
      MQTT_TEST(test_connack_5_errors),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
