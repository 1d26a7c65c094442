// Token bucket pacing: the long-run rate, the burst, debt from a record larger
// than the balance, and "0 means unlimited".

#include <cstdint>

#include "bridge/token_bucket.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::bridge;

static constexpr int64_t kSec = 1000000000;

static void test_bucket_unlimited_never_delays(void**) {
  TokenBucket b(0, 0, 0);
  assert_true(b.unlimited());
  for (int i = 0; i < 1000; i++) b.Take(0, 1 << 20);
  assert_int_equal(b.DelayNs(0), 0);
}

static void test_bucket_starts_full_with_default_burst(void**) {
  TokenBucket b(100000, 0, 0);  // burst = rate / 5 = 20000
  assert_int_equal(b.DelayNs(0), 0);
  b.Take(0, 20000);
  assert_int_equal(b.DelayNs(0), 0);  // balance exactly 0: may send
  b.Take(0, 1);
  assert_true(b.DelayNs(0) > 0);
  TokenBucket small(1000, 0, 0);  // burst floor is 4 KiB
  small.Take(0, 4096);
  assert_int_equal(small.DelayNs(0), 0);
}

static void test_bucket_debt_sets_the_delay(void**) {
  TokenBucket b(1000, 1000, 0);  // 1000 B/s, 1000 B burst
  b.Take(0, 1500);               // a record larger than the balance is still sent
  // 500 bytes of debt at 1000 B/s: 0.5 s.
  assert_int_equal(b.DelayNs(0), kSec / 2);
  assert_int_equal(b.DelayNs(kSec / 4), kSec / 4);
  assert_int_equal(b.DelayNs(kSec / 2), 0);
}

static void test_bucket_refill_is_capped_by_burst(void**) {
  TokenBucket b(1000, 2000, 0);
  b.Take(0, 2000);
  // An hour idle refills only the burst.
  assert_int_equal(b.DelayNs(3600 * kSec), 0);
  assert_true(b.tokens() <= 2000.0);
  b.Take(3600 * kSec, 2000);
  assert_int_equal(b.DelayNs(3600 * kSec), 0);
  b.Take(3600 * kSec, 1);
  assert_true(b.DelayNs(3600 * kSec) > 0);
}

// A sender that sends 300-byte records whenever allowed, for 60 simulated
// seconds at 10 KB/s, moves at most burst + rate * T + one record.
static void test_bucket_long_run_rate(void**) {
  const uint64_t rate = 10000, burst = 2000, rec = 300;
  TokenBucket b(rate, burst, 0);
  int64_t now = 0;
  uint64_t sent = 0;
  while (now < 60 * kSec) {
    int64_t d = b.DelayNs(now);
    if (d > 0) {
      now += d;
      continue;
    }
    b.Take(now, rec);
    sent += rec;
  }
  assert_true(sent <= burst + rate * 60 + rec);
  assert_true(sent >= rate * 60 - rec);  // and it does not under-use the link
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bucket_unlimited_never_delays),
      cmocka_unit_test(test_bucket_starts_full_with_default_burst),
      cmocka_unit_test(test_bucket_debt_sets_the_delay),
      cmocka_unit_test(test_bucket_refill_is_capped_by_burst),
      cmocka_unit_test(test_bucket_long_run_rate),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
