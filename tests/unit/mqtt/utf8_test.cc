// UTF-8 validation as MQTT strings require it (section 1.5.4).

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_utf8_accepts_well_formed(void** state) {
  (void)state;
  assert_true(IsValidUtf8(""));
  assert_true(IsValidUtf8("plain ascii topic/with/levels"));
  assert_true(IsValidUtf8("\xC3\xA9"));          // U+00E9
  assert_true(IsValidUtf8("\xE2\x82\xAC"));      // U+20AC
  assert_true(IsValidUtf8("\xF0\x9D\x84\x9E"));  // U+1D11E
  assert_true(IsValidUtf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF
  assert_true(IsValidUtf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  assert_true(IsValidUtf8("\xEE\x80\x80"));      // U+E000, just above them
  assert_true(IsValidUtf8("\x01\x1F\x7F"));      // control characters: SHOULD NOT only
  assert_true(
      IsValidUtf8("abcdefgh\xC3\xA9"
                  "abcdefghijk\xE2\x82\xAC"));
}

// [MQTT-1.5.4-3] A BOM is a character like any other: not stripped, not refused.
static void test_utf8_accepts_bom_MQTT_1_5_4_3(void** state) {
  (void)state;
  assert_true(
      IsValidUtf8("\xEF\xBB\xBF"
                  "topic"));
}

// [MQTT-1.5.4-1] ill-formed UTF-8 and surrogates U+D800..U+DFFF.
static void test_utf8_rejects_ill_formed_and_surrogates_MQTT_1_5_4_1(void** state) {
  (void)state;
  assert_false(IsValidUtf8("\xED\xA0\x80"));  // U+D800
  assert_false(IsValidUtf8("\xED\xBF\xBF"));  // U+DFFF
  assert_false(IsValidUtf8("\xC0\xAF"));      // overlong '/'
  assert_false(IsValidUtf8("\xC1\xBF"));
  assert_false(IsValidUtf8("\xE0\x80\xAF"));      // overlong
  assert_false(IsValidUtf8("\xF0\x80\x80\xAF"));  // overlong
  assert_false(IsValidUtf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  assert_false(IsValidUtf8("\xF5\x80\x80\x80"));
  assert_false(IsValidUtf8("\xFF"));
  assert_false(IsValidUtf8("\x80"));  // lone continuation byte
  assert_false(IsValidUtf8("\xC3"));  // cut sequence
  assert_false(IsValidUtf8("\xE2\x82"));
  assert_false(IsValidUtf8("\xE2\x28\xA1"));              // bad continuation
  assert_false(IsValidUtf8("abcdefghijklmnop\xE2\x82"));  // after the fast path
}

// [MQTT-1.5.4-2] no U+0000, wherever it is.
static void test_utf8_rejects_nul_MQTT_1_5_4_2(void** state) {
  (void)state;
  for (size_t pos = 0; pos < 20; ++pos) {
    std::string s(20, 'a');
    s[pos] = '\0';
    if (IsValidUtf8(s)) {
      print_error("NUL at %zu accepted\n", pos);
      fail();
    }
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_utf8_accepts_well_formed),
      MQTT_TEST(test_utf8_accepts_bom_MQTT_1_5_4_3),
      MQTT_TEST(test_utf8_rejects_ill_formed_and_surrogates_MQTT_1_5_4_1),
      MQTT_TEST(test_utf8_rejects_nul_MQTT_1_5_4_2),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
