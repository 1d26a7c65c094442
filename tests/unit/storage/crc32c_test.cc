// CRC32C: known vectors (RFC 3720 B.4 and the usual check value), and the
// hardware and table implementations agreeing on random data.

#include <cstring>
#include <random>
#include <string>

#include "storage/crc32c.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;

static void test_crc32c_check_value(void**) {
  assert_int_equal(Crc32c("123456789", 9), 0xE3069283u);
  assert_int_equal(Crc32cSoftwareForTest(0, "123456789", 9), 0xE3069283u);
  assert_int_equal(Crc32c("", 0), 0u);
}

static void test_crc32c_rfc3720_vectors(void**) {
  unsigned char buf[32];
  std::memset(buf, 0, sizeof buf);
  assert_int_equal(Crc32c(buf, 32), 0x8A9136AAu);
  std::memset(buf, 0xFF, sizeof buf);
  assert_int_equal(Crc32c(buf, 32), 0x62A8AB43u);
  for (int i = 0; i < 32; i++) buf[i] = static_cast<unsigned char>(i);
  assert_int_equal(Crc32c(buf, 32), 0x46DD794Eu);
  for (int i = 0; i < 32; i++) buf[i] = static_cast<unsigned char>(31 - i);
  assert_int_equal(Crc32c(buf, 32), 0x113FDB5Cu);
}

static void test_crc32c_extend_equals_whole(void**) {
  const std::string s = "The quick brown fox jumps over the lazy dog, many times over.";
  for (size_t cut = 0; cut <= s.size(); cut++) {
    uint32_t part = Crc32cExtend(Crc32c(s.data(), cut), s.data() + cut, s.size() - cut);
    assert_int_equal(part, Crc32c(s.data(), s.size()));
  }
}

static void test_crc32c_hardware_matches_table(void**) {
  std::mt19937 rng(42);
  std::string data(4099, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t off = 0; off < 9; off++) {
    for (size_t len : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{63}, size_t{4090}}) {
      uint32_t sw = Crc32cSoftwareForTest(0x1234, data.data() + off, len);
      uint32_t hw = 0;
      if (Crc32cHardwareForTest(0x1234, data.data() + off, len, &hw)) assert_int_equal(hw, sw);
      assert_int_equal(Crc32cExtend(0x1234, data.data() + off, len), sw);
    }
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crc32c_check_value),
      cmocka_unit_test(test_crc32c_rfc3720_vectors),
      cmocka_unit_test(test_crc32c_extend_equals_whole),
      cmocka_unit_test(test_crc32c_hardware_matches_table),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
