// Variable Byte Integers (section 1.5.5 / 2.2.3).

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static VarintResult Dec(const std::string& s, uint32_t* v, size_t* used) {
  return DecodeVarint(reinterpret_cast<const uint8_t*>(s.data()), s.size(), v, used);
}

// The boundaries of Table 1-1 (5.0) / Table 2.4 (3.1.1).
static void test_varint_table_boundaries(void** state) {
  Fx& f = F(state);
  const std::pair<uint32_t, std::string> cases[] = {
      {0, B({0x00})},
      {127, B({0x7F})},
      {128, B({0x80, 0x01})},
      {16383, B({0xFF, 0x7F})},
      {16384, B({0x80, 0x80, 0x01})},
      {2097151, B({0xFF, 0xFF, 0x7F})},
      {2097152, B({0x80, 0x80, 0x80, 0x01})},
      {268435455, B({0xFF, 0xFF, 0xFF, 0x7F})},
  };
  for (const auto& [value, bytes] : cases) {
    f.out.clear();
    AppendVarint(&f.out, value);
    assert_bytes(f.out, bytes);
    assert_int_equal(VarintSize(value), bytes.size());
    uint32_t v = 1;
    size_t used = 0;
    assert_int_equal(static_cast<int>(Dec(bytes + "xyz", &v, &used)),
                     static_cast<int>(VarintResult::kOk));
    assert_int_equal(v, value);
    assert_int_equal(used, bytes.size());
  }
}

static void test_varint_need_more(void** state) {
  (void)state;
  uint32_t v;
  size_t used;
  assert_int_equal(static_cast<int>(Dec("", &v, &used)), static_cast<int>(VarintResult::kNeedMore));
  assert_int_equal(static_cast<int>(Dec(B({0x80, 0x80, 0x80}), &v, &used)),
                   static_cast<int>(VarintResult::kNeedMore));
}

static void test_varint_malformed(void** state) {
  (void)state;
  uint32_t v;
  size_t used;
  // A fifth byte would be needed.
  assert_int_equal(static_cast<int>(Dec(B({0x80, 0x80, 0x80, 0x80, 0x01}), &v, &used)),
                   static_cast<int>(VarintResult::kMalformed));
  assert_int_equal(static_cast<int>(Dec(B({0xFF, 0xFF, 0xFF, 0xFF}), &v, &used)),
                   static_cast<int>(VarintResult::kMalformed));
  // [MQTT-1.5.5-1] not the minimum number of bytes.
  assert_int_equal(static_cast<int>(Dec(B({0x80, 0x00}), &v, &used)),
                   static_cast<int>(VarintResult::kMalformed));
  assert_int_equal(static_cast<int>(Dec(B({0xFF, 0x80, 0x00}), &v, &used)),
                   static_cast<int>(VarintResult::kMalformed));
}

static void test_varint_write_matches_append(void** state) {
  Fx& f = F(state);
  for (uint32_t v = 0; v < 300000; v += 97) {
    uint8_t buf[4];
    const uint8_t* end = WriteVarint(buf, v);
    f.out.clear();
    AppendVarint(&f.out, v);
    assert_int_equal(static_cast<size_t>(end - buf), VarintSize(v));
    assert_memory_equal(buf, f.out.data(), f.out.size());
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_varint_table_boundaries),
      MQTT_TEST(test_varint_need_more),
      MQTT_TEST(test_varint_malformed),
      MQTT_TEST(test_varint_write_matches_append),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
