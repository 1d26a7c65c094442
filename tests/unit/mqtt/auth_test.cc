// AUTH decoding and encoding (MQTT 5 only).

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_auth_continue_round_trip(void** state) {
  Fx& f = F(state);
  f.wire = B({0xF0, 0x0E,                                 // AUTH, remaining length 14
              0x18,                                       // continue authentication
              0x0C,                                       // property length 12
              0x15, 0x00, 0x05, 'S', 'C', 'R', 'A', 'M',  // authentication method
              0x16, 0x00, 0x01, 0x2A});                   // authentication data
  assert_ok(DecodeAuth(0, Body(f), Version::k5, &f.auth));
  assert_int_equal(static_cast<int>(f.auth.reason), 0x18);
  assert_sv_equal(*f.auth.props.authentication_method, "SCRAM");
  assert_sv_equal(*f.auth.props.authentication_data, B({0x2A}));
  EncodeAuth(&f.out, Version::k5, f.auth);
  assert_bytes(f.out, f.wire);
}

static void test_auth_empty_is_success(void** state) {
  Fx& f = F(state);
  assert_ok(DecodeAuth(0, "", Version::k5, &f.auth));
  assert_int_equal(static_cast<int>(f.auth.reason), 0);
  EncodeAuth(&f.out, Version::k5, f.auth);
  assert_bytes(f.out, B({0xF0, 0x00}));
}

static void test_auth_errors(void** state) {
  Fx& f = F(state);
  const std::string ok = B({0x19, 0x04, 0x15, 0x00, 0x01, 'm'});
  assert_ok(DecodeAuth(0, ok, Version::k5, &f.auth));
  assert_malformed(DecodeAuth(0, ok, Version::k311, &f.auth));  // no AUTH in 3.1.1
  assert_malformed(DecodeAuth(1, ok, Version::k5, &f.auth));    // [MQTT-3.15.1-1]
  // [MQTT-3.15.2-1]: only 0x00, 0x18, 0x19.
  assert_protocol_error(
      DecodeAuth(0, B({0x87, 0x04, 0x15, 0x00, 0x01, 'm'}), Version::k5, &f.auth));
  // 3.15.2.2.2: the Authentication Method is required.
  assert_protocol_error(DecodeAuth(0, B({0x18, 0x00}), Version::k5, &f.auth));
  assert_protocol_error(DecodeAuth(0, B({0x18}), Version::k5, &f.auth));
  assert_malformed(DecodeAuth(0, B({0x18, 0x03, 0x11, 0x00, 0x00}), Version::k5, &f.auth));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_auth_continue_round_trip),
      MQTT_TEST(test_auth_empty_is_success),
      MQTT_TEST(test_auth_errors),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
