// The acknowledged prefix advances only over contiguous acks, whatever order
// acks arrive in; gaps need no ack; stale and duplicate acks change nothing.

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "bridge/ack_window.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::bridge;

static void test_window_in_order_acks_advance_base(void**) {
  AckWindow w(10);
  for (int i = 0; i < 5; i++) w.Sent(1, 1000 + i);
  assert_int_equal(w.base(), 10);
  assert_int_equal(w.end(), 15);
  assert_int_equal(w.unacked_records(), 5);
  assert_int_equal(w.base_timestamp_ms(), 1000);
  assert_true(w.Ack(10));
  assert_int_equal(w.base(), 11);
  assert_int_equal(w.base_timestamp_ms(), 1001);
  for (uint64_t o = 11; o < 15; o++) assert_true(w.Ack(o));
  assert_int_equal(w.base(), 15);
  assert_int_equal(w.spans(), 0);
  assert_int_equal(w.base_timestamp_ms(), 0);
}

static void test_window_out_of_order_acks_wait_for_the_hole(void**) {
  AckWindow w(0);
  for (int i = 0; i < 6; i++) w.Sent(1, 0);
  assert_true(w.Ack(3));
  assert_true(w.Ack(1));
  assert_true(w.Ack(5));
  assert_int_equal(w.base(), 0);  // 0 still missing
  assert_true(w.Ack(0));
  assert_int_equal(w.base(), 2);  // 0, 1 acked; 2 missing
  assert_true(w.Ack(2));
  assert_int_equal(w.base(), 4);
  assert_true(w.Ack(4));
  assert_int_equal(w.base(), 6);
}

static void test_window_stale_and_duplicate_acks_are_ignored(void**) {
  AckWindow w(100);
  w.Sent(1, 0);
  w.Sent(1, 0);
  assert_true(w.Ack(101));
  assert_false(w.Ack(101));  // duplicate
  assert_false(w.Ack(99));   // before base
  assert_false(w.Ack(500));  // never sent
  assert_int_equal(w.base(), 100);
  assert_true(w.Ack(100));
  assert_false(w.Ack(100));  // already below base
  assert_int_equal(w.base(), 102);
}

static void test_window_multi_record_spans(void**) {
  AckWindow w(0);
  w.Sent(10, 0);           // 0..9, one ack (a peer batch)
  w.Sent(5, 0);            // 10..14
  assert_false(w.Ack(5));  // not a span start
  assert_true(w.Ack(10));
  assert_int_equal(w.base(), 0);
  assert_true(w.Ack(0));
  assert_int_equal(w.base(), 15);
}

static void test_window_gaps_need_no_ack(void**) {
  AckWindow w(0);
  w.Skip(50);  // nothing in flight: jumps
  assert_int_equal(w.base(), 50);
  assert_int_equal(w.end(), 50);
  w.Sent(1, 0);  // 50
  w.Skip(60);    // 51..59 deleted or corrupt
  w.Sent(1, 0);  // 60
  assert_int_equal(w.unacked_records(), 2);
  assert_true(w.Ack(60));
  assert_int_equal(w.base(), 50);
  assert_true(w.Ack(50));
  assert_int_equal(w.base(), 61);
}

static void test_window_reset_rewinds_to_base(void**) {
  AckWindow w(0);
  for (int i = 0; i < 4; i++) w.Sent(1, 0);
  assert_true(w.Ack(0));
  assert_true(w.Ack(2));
  w.Reset(w.base());  // link lost: re-send from 1
  assert_int_equal(w.base(), 1);
  assert_int_equal(w.end(), 1);
  assert_false(w.Ack(2));  // an ack from the old link
  w.Sent(1, 0);
  assert_true(w.Ack(1));
  assert_int_equal(w.base(), 2);
}

// Random ack order over many records: base is always the first unacked offset.
static void test_window_random_order_matches_model(void**) {
  std::mt19937_64 rng(42);
  AckWindow w(1000);
  const int n = 2000;
  for (int i = 0; i < n; i++) w.Sent(1, 0);
  std::vector<uint64_t> order;
  for (int i = 0; i < n; i++) order.push_back(1000 + i);
  std::shuffle(order.begin(), order.end(), rng);
  std::vector<bool> acked(n, false);
  uint64_t expect = 1000;
  for (uint64_t o : order) {
    assert_true(w.Ack(o));
    acked[o - 1000] = true;
    while (expect < 1000 + n && acked[expect - 1000]) expect++;
    assert_int_equal(w.base(), expect);
  }
  assert_int_equal(w.base(), 1000 + n);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window_in_order_acks_advance_base),
      cmocka_unit_test(test_window_out_of_order_acks_wait_for_the_hole),
      cmocka_unit_test(test_window_stale_and_duplicate_acks_are_ignored),
      cmocka_unit_test(test_window_multi_record_spans),
      cmocka_unit_test(test_window_gaps_need_no_ack),
      cmocka_unit_test(test_window_reset_rewinds_to_base),
      cmocka_unit_test(test_window_random_order_matches_model),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
