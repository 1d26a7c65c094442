// PINGREQ / PINGRESP.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_ping_encode_and_decode(void** state) {
  Fx& f = F(state);
  EncodePingreq(&f.out);
  EncodePingresp(&f.out);
  assert_bytes(f.out, B({0xC0, 0x00, 0xD0, 0x00}));
  assert_ok(DecodePing(PacketType::kPingreq, 0, Body(f, f.out.substr(0, 2))));
  assert_int_equal(static_cast<int>(f.frame.type), static_cast<int>(PacketType::kPingreq));
  assert_ok(DecodePing(PacketType::kPingresp, 0, Body(f, f.out.substr(2))));
  assert_int_equal(static_cast<int>(f.frame.type), static_cast<int>(PacketType::kPingresp));
}

static void test_ping_with_body_or_flags_is_malformed(void** state) {
  (void)state;
  assert_malformed(DecodePing(PacketType::kPingreq, 0, "x"));
  assert_malformed(DecodePing(PacketType::kPingresp, 4, ""));  // [MQTT-2.2.2-2]
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_ping_encode_and_decode),
      MQTT_TEST(test_ping_with_body_or_flags_is_malformed),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
