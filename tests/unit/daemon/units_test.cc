// Sizes, durations and bind addresses as written in the configuration.

#include "daemon/units.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::config;

static void test_size_units(void**) {
  uint64_t v = 0;
  assert_string_equal(ParseSize("512", &v).c_str(), "");
  assert_int_equal(v, 512);
  assert_string_equal(ParseSize("64KiB", &v).c_str(), "");
  assert_int_equal(v, 64 * 1024);
  assert_string_equal(ParseSize("1GiB", &v).c_str(), "");
  assert_int_equal(v, 1ull << 30);
  assert_string_equal(ParseSize("3MB", &v).c_str(), "");
  assert_int_equal(v, 3000000);
}

static void test_size_rejects_negative_unknown_and_overflow(void**) {
  uint64_t v = 7;
  assert_string_not_equal(ParseSize("-1MiB", &v).c_str(), "");
  assert_string_not_equal(ParseSize("12 parsecs", &v).c_str(), "");
  assert_string_not_equal(ParseSize("", &v).c_str(), "");
  assert_string_not_equal(ParseSize("99999999999999999999", &v).c_str(), "");
  assert_string_not_equal(ParseSize("99999999999TiB", &v).c_str(), "");
  assert_int_equal(v, 7);  // untouched on error
}

static void test_duration_units(void**) {
  int64_t ms = 0;
  assert_string_equal(ParseDuration("100ms", &ms).c_str(), "");
  assert_int_equal(ms, 100);
  assert_string_equal(ParseDuration("10s", &ms).c_str(), "");
  assert_int_equal(ms, 10000);
  assert_string_equal(ParseDuration("7d", &ms).c_str(), "");
  assert_int_equal(ms, 7 * 86400000ll);
  assert_string_not_equal(ParseDuration("10", &ms).c_str(), "");  // a unit is required
  assert_string_not_equal(ParseDuration("-1s", &ms).c_str(), "");
  assert_string_not_equal(ParseDuration("5 fortnights", &ms).c_str(), "");
}

static void test_bind_addresses(void**) {
  std::string host;
  uint16_t port = 0;
  assert_string_equal(ParseBind("127.0.0.1:1883", &host, &port).c_str(), "");
  assert_string_equal(host.c_str(), "127.0.0.1");
  assert_int_equal(port, 1883);
  assert_string_equal(ParseBind("[::1]:8883", &host, &port).c_str(), "");
  assert_string_equal(host.c_str(), "::1");
  assert_int_equal(port, 8883);
  assert_string_not_equal(ParseBind("127.0.0.1", &host, &port).c_str(), "");
  assert_string_not_equal(ParseBind("127.0.0.1:70000", &host, &port).c_str(), "");
  assert_string_not_equal(ParseBind("example.com:1883", &host, &port).c_str(), "");
  assert_string_not_equal(ParseBind("::1:1883", &host, &port).c_str(), "");
  assert_string_not_equal(ParseBind("1.2.3.4:port", &host, &port).c_str(), "");
}

static void test_format_round_trip(void**) {
  assert_string_equal(FormatSize(1ull << 30).c_str(), "1GiB");
  assert_string_equal(FormatSize(1000).c_str(), "1000B");
  assert_string_equal(FormatDuration(86400000).c_str(), "1d");
  assert_string_equal(FormatDuration(1500).c_str(), "1500ms");
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_size_units),
      cmocka_unit_test(test_size_rejects_negative_unknown_and_overflow),
      cmocka_unit_test(test_duration_units),
      cmocka_unit_test(test_bind_addresses),
      cmocka_unit_test(test_format_round_trip),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
