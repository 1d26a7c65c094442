// DISCONNECT decoding and encoding.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_disconnect_311(void** state) {
  Fx& f = F(state);
  assert_ok(DecodeDisconnect(0, "", Version::k311, &f.disconnect));
  assert_malformed(DecodeDisconnect(0, B({0x00}), Version::k311, &f.disconnect));
  assert_malformed(DecodeDisconnect(1, "", Version::k311, &f.disconnect));  // [MQTT-2.2.2-2]
  EncodeDisconnect(&f.out, Version::k311, ReasonCode::kServerShuttingDown, "bye");
  assert_bytes(f.out, B({0xE0, 0x00}));  // 3.1.1 has no reason code
}

static void test_disconnect_5_forms(void** state) {
  Fx& f = F(state);
  assert_ok(DecodeDisconnect(0, "", Version::k5, &f.disconnect));  // 3.14.2.1: 0x00
  assert_int_equal(static_cast<int>(f.disconnect.reason), 0);
  assert_ok(DecodeDisconnect(0, B({0x04}), Version::k5, &f.disconnect));
  assert_int_equal(static_cast<int>(f.disconnect.reason), 0x04);
  f.wire = B({0xE0, 0x0B,                    // DISCONNECT, remaining length 11
              0x00,                          // normal disconnection
              0x09,                          // property length 9
              0x11, 0x00, 0x00, 0x00, 0x00,  //   session expiry 0
              0x1F, 0x00, 0x01, 'x'});       //   reason string "x"
  assert_ok(DecodeDisconnect(0, Body(f), Version::k5, &f.disconnect));
  assert_int_equal(*f.disconnect.props.session_expiry_interval, 0);
  assert_sv_equal(*f.disconnect.props.reason_string, "x");
  EncodeDisconnect(&f.out, Version::k5, f.disconnect);
  assert_bytes(f.out, f.wire);
}

static void test_disconnect_5_encode_helpers(void** state) {
  Fx& f = F(state);
  EncodeDisconnect(&f.out, Version::k5, ReasonCode::kNormalDisconnection);
  EncodeDisconnect(&f.out, Version::k5, ReasonCode::kSessionTakenOver);
  EncodeDisconnect(&f.out, Version::k5, ReasonCode::kMalformedPacket, "bad");
  assert_bytes(f.out, B({0xE0, 0x00,        // normal: 2 bytes
                         0xE0, 0x01, 0x8E,  // reason only
                         0xE0, 0x08, 0x81, 0x06, 0x1F, 0x00, 0x03, 'b', 'a', 'd'}));
}

// 3.14.2.1: only the listed reason codes; 3.14.2.2: property rules.
static void test_disconnect_5_errors(void** state) {
  Fx& f = F(state);
  assert_protocol_error(DecodeDisconnect(0, B({0x01}), Version::k5, &f.disconnect));
  assert_protocol_error(DecodeDisconnect(0, B({0x84}), Version::k5, &f.disconnect));
  assert_malformed(DecodeDisconnect(0, B({0x00, 0x03, 0x23, 0x00, 0x01}), Version::k5,
                                    &f.disconnect));  // topic alias
  assert_malformed(DecodeDisconnect(0, B({0x00, 0x04, 0x1F, 0x00}), Version::k5,
                                    &f.disconnect));  // overrun
  assert_malformed(DecodeDisconnect(0, B({0x00, 0x00, 0x00}), Version::k5, &f.disconnect));
  assert_protocol_error(
      DecodeDisconnect(0, B({0x00, 0x08, 0x1F, 0x00, 0x01, 'a', 0x1F, 0x00, 0x01, 'b'}),
                       Version::k5, &f.disconnect));  // reason string twice
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_disconnect_311),
      MQTT_TEST(test_disconnect_5_forms),
      MQTT_TEST(test_disconnect_5_encode_helpers),
      MQTT_TEST(test_disconnect_5_errors),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
