// Back-off: each delay lies in [ceiling/2, ceiling], the ceiling doubles from
// min up to max and stays there, Reset starts over, and jitter spreads delays.

#include <cstdint>
#include <set>

#include "bridge/backoff.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::bridge;

static void test_backoff_sequence_within_bounds(void**) {
  for (uint64_t seed = 1; seed <= 50; seed++) {
    Backoff b(100, 30000, seed);
    for (int n = 0; n < 40; n++) {
      int64_t ceiling = b.CeilingMs(n);
      int64_t d = b.NextMs();
      if (d < ceiling / 2 || d > ceiling)
        fail_msg("attempt %d: %lld not in [%lld, %lld]", n, (long long)d, (long long)ceiling / 2,
                 (long long)ceiling);
      assert_true(d <= 30000);
      assert_true(d >= 50);
    }
  }
}

static void test_backoff_ceiling_doubles_then_caps(void**) {
  Backoff b(100, 30000, 1);
  const int64_t expect[] = {100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000};
  for (int n = 0; n < 11; n++) assert_int_equal(b.CeilingMs(n), expect[n]);
  assert_int_equal(b.CeilingMs(1000), 30000);  // no overflow for a long outage
}

static void test_backoff_reset_starts_over(void**) {
  Backoff b(100, 30000, 7);
  for (int i = 0; i < 20; i++) (void)b.NextMs();
  assert_int_equal(b.attempts(), 20);
  b.Reset();
  assert_int_equal(b.attempts(), 0);
  int64_t d = b.NextMs();
  assert_true(d >= 50 && d <= 100);
}

static void test_backoff_jitter_spreads_delays(void**) {
  std::set<int64_t> seen;
  for (uint64_t seed = 1; seed <= 20; seed++) {
    Backoff b(1000, 30000, seed);
    seen.insert(b.NextMs());
  }
  assert_true(seen.size() > 10);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_backoff_sequence_within_bounds),
      cmocka_unit_test(test_backoff_ceiling_doubles_then_caps),
      cmocka_unit_test(test_backoff_reset_starts_over),
      cmocka_unit_test(test_backoff_jitter_spreads_delays),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
