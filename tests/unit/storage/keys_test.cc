// Key encodings: offsets sort numerically, long MQTT names round trip, cursor
// keys of one consumer share a prefix, stream definitions round trip.

#include <string>

#include "storage/keys.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;

static void test_keys_offsets_sort_as_numbers(void**) {
  char a[8], b[8];
  PutBE64(a, 255);
  PutBE64(b, 256);
  assert_true(std::string(a, 8) < std::string(b, 8));
  assert_true(GetBE64(b) == 256);
  assert_true(TimeKey(-5) < TimeKey(0) && TimeKey(0) < TimeKey(1700000000000));
  assert_true(TimeFromKey(TimeKey(-5)) == -5);
}

static void test_keys_long_names_round_trip(void**) {
  std::string shortname(kMaxShortName, 's');
  assert_true(NameKey(shortname) == shortname);
  std::string long1(70000, 'a'), long2(70000, 'a');
  long2[69999] = 'b';  // same prefix, different name
  std::string k1 = NameKey(long1), k2 = NameKey(long2);
  assert_int_equal(k1.size(), kLongNameKey);
  assert_true(k1 != k2);
  assert_true(k1.size() <= 511);
  std::string stored = NameValue(long1, "value");
  std::string_view name, value;
  assert_true(SplitNameValue(k1, stored, &name, &value));
  assert_true(name == long1 && value == "value");
  assert_false(SplitNameValue(k1, "\xFF", &name, &value));  // truncated varint
}

static void test_keys_cursor_keys_share_consumer_prefix(void**) {
  std::string p = CursorPrefix("exporter-a");
  std::string k = CursorKey("exporter-a", 3, 7);
  assert_true(k.compare(0, p.size(), p) == 0);
  StreamId s;
  uint32_t part;
  assert_true(ParseCursorKey(k, p.size(), &s, &part));
  assert_int_equal(s, 3);
  assert_int_equal(part, 7);
  // "exporter" must not match the keys of "exporter-a".
  std::string p2 = CursorPrefix("exporter");
  assert_false(k.compare(0, p2.size(), p2) == 0);
}

static void test_keys_stream_definition_round_trip(void**) {
  StreamSpec spec;
  spec.partitions = 12;
  spec.max_age_ms = 86400000;
  spec.max_bytes = 1 << 30;
  spec.on_full = OnFull::kReject;
  spec.compression = Compression::kZstd;
  std::string v = EncodeStreamDef(9, spec);
  StreamSpec got;
  StreamId id;
  assert_true(DecodeStreamDef(v, &id, &got));
  assert_int_equal(id, 9);
  assert_int_equal(got.partitions, 12);
  assert_true(got.max_age_ms == 86400000 && got.max_bytes == (1u << 30));
  assert_true(got.on_full == OnFull::kReject && got.compression == Compression::kZstd);
  assert_false(DecodeStreamDef(v.substr(1), &id, &got));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keys_offsets_sort_as_numbers),
      cmocka_unit_test(test_keys_long_names_round_trip),
      cmocka_unit_test(test_keys_cursor_keys_share_consumer_prefix),
      cmocka_unit_test(test_keys_stream_definition_round_trip),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
