// ConsumerGroup's pure rules: the sticky balanced assignment, membership order,
// acknowledgement tracking (contiguous committed prefix, stale epochs) and
// moving a partition back to the committed cursor.

#include "daemon/groups.h"

#include <algorithm>
#include <map>
#include <memory>
#include <random>
#include <vector>

#include "tests/unit/cmocka_cpp.h"  // last

using trib::AssignPartitions;
using trib::ConsumerGroup;
using trib::GroupPartition;
using trib::IdleGroupVerdict;
using trib::JudgeIdleGroup;
using trib::PartitionKey;
using trib::SubOptions;
using trib::SubscriberId;

namespace {

// Lives in cmocka's state so a failing test (which longjmps) still frees it.
struct Fixture {
  ConsumerGroup group{7, "workers", "sensors/#"};
};

int Setup(void** state) {
  *state = new Fixture();
  return 0;
}

int Teardown(void** state) {
  delete static_cast<Fixture*>(*state);
  return 0;
}

std::map<SubscriberId, size_t> Counts(const std::vector<SubscriberId>& owners) {
  std::map<SubscriberId, size_t> c;
  for (SubscriberId o : owners) ++c[o];
  return c;
}

// Every member holds floor(P/n) or ceil(P/n) partitions and nobody else holds any.
void AssertBalanced(const std::vector<SubscriberId>& members, const std::vector<SubscriberId>& owners) {
  std::map<SubscriberId, size_t> c = Counts(owners);
  size_t lo = owners.size() / members.size();
  size_t hi = lo + (owners.size() % members.size() ? 1 : 0);
  for (SubscriberId m : members) {
    assert_true(c[m] >= lo && c[m] <= hi);
    c.erase(m);
  }
  assert_true(c.empty());
}

}  // namespace

static void test_assignment_without_members_is_empty(void**) {
  std::vector<SubscriberId> out = AssignPartitions({}, {5, 0, 5});
  assert_true(out == std::vector<SubscriberId>({0, 0, 0}));
}

static void test_three_members_four_partitions_balanced(void**) {
  std::vector<SubscriberId> out = AssignPartitions({1, 2, 3}, {0, 0, 0, 0});
  AssertBalanced({1, 2, 3}, out);
  assert_true(out == std::vector<SubscriberId>({1, 2, 3, 1}));  // deterministic
}

static void test_join_moves_only_what_balance_needs(void**) {
  // Two members hold two partitions each; a third joins: exactly one moves.
  std::vector<SubscriberId> before = {1, 2, 1, 2};
  std::vector<SubscriberId> after = AssignPartitions({1, 2, 3}, before);
  AssertBalanced({1, 2, 3}, after);
  size_t moved = 0;
  for (size_t i = 0; i < before.size(); ++i) moved += before[i] != after[i];
  assert_int_equal(moved, 1);
}

static void test_leave_moves_only_the_leavers_partitions(void**) {
  std::vector<SubscriberId> before = {1, 2, 3, 1};
  std::vector<SubscriberId> after = AssignPartitions({1, 3}, before);
  AssertBalanced({1, 3}, after);
  assert_int_equal(after[0], 1);
  assert_int_equal(after[2], 3);
  assert_int_equal(after[3], 1);
  assert_int_equal(after[1], 3);  // 2's partition goes to the member with fewer
}

static void test_random_assignments_stay_balanced_and_sticky(void**) {
  std::mt19937 rng(42);
  for (int round = 0; round < 500; ++round) {
    size_t parts = 1 + rng() % 24, n = 1 + rng() % 8;
    std::vector<SubscriberId> members;
    for (size_t m = 0; m < n; ++m) members.push_back(100 + m);
    std::vector<SubscriberId> current(parts);
    for (SubscriberId& c : current) c = rng() % 3 ? 100 + rng() % (n + 2) : 0;  // some gone
    std::vector<SubscriberId> out = AssignPartitions(members, current);
    AssertBalanced(members, out);
    // Sticky: a partition whose current owner is a member within its share keeps it,
    // so the number kept is at least what balance allows per member.
    std::map<SubscriberId, size_t> had;
    for (SubscriberId c : current) {
      if (std::find(members.begin(), members.end(), c) != members.end()) ++had[c];
    }
    size_t lo = parts / n, kept = 0, could = 0;
    for (size_t i = 0; i < parts; ++i) kept += out[i] == current[i] && current[i] != 0;
    for (const auto& [m, k] : had) could += std::min(k, lo);
    assert_true(kept >= could);
    assert_true(AssignPartitions(members, current) == out);  // deterministic
  }
}

static void test_members_sorted_by_client_id(void** state) {
  ConsumerGroup& g = static_cast<Fixture*>(*state)->group;
  assert_true(g.Join(3, "c", SubOptions{}));
  assert_true(g.Join(1, "a", SubOptions{}));
  assert_true(g.Join(2, "b", SubOptions{}));
  SubOptions q1;
  q1.qos = 1;
  assert_false(g.Join(2, "b", q1));  // known: options updated, no rebalance due
  assert_int_equal(g.Member(2)->options.qos, 1);
  assert_string_equal(g.members()[0].client_id.c_str(), "a");
  assert_string_equal(g.members()[2].client_id.c_str(), "c");
  assert_true(g.Leave(1));
  assert_false(g.Leave(1));
  assert_null(g.Member(1));
  assert_string_equal(g.cursor_name().c_str(), "g/workers/sensors/#");
}

static void test_partitions_sorted_and_found(void** state) {
  ConsumerGroup& g = static_cast<Fixture*>(*state)->group;
  g.AddPartition(2, 1, 10);
  g.AddPartition(1, 3, 0);
  g.AddPartition(2, 0, 5);
  assert_int_equal(g.partitions()[0].stream, 1);
  assert_int_equal(g.partitions()[1].partition, 0);
  GroupPartition* p = g.Find(PartitionKey(2, 1));
  assert_non_null(p);
  assert_int_equal(p->committed, 10);
  assert_int_equal(p->pos.next, 10);
  assert_true(p->pos.lagging);  // a new owner reads from the cursor first
  assert_null(g.Find(PartitionKey(3, 0)));
}

static void test_stored_cursor_replaces_the_default_start(void** state) {
  ConsumerGroup& g = static_cast<Fixture*>(*state)->group;
  g.AddPartition(1, 0, 500, 1700000000000);  // a new group would start at a time
  g.AddPartition(1, 1, 500, 1700000000000);
  GroupPartition& known = *g.Find(PartitionKey(1, 0));
  GroupPartition& fresh = *g.Find(PartitionKey(1, 1));
  assert_true(known.cursor_pending);
  assert_false(known.stored_valid);  // nothing is stored before the lookup ends
  ConsumerGroup::CursorLoaded(known, 42);  // the group existed: its cursor wins
  assert_false(known.cursor_pending);
  assert_int_equal(known.committed, 42);
  assert_int_equal(known.pos.next, 42);
  assert_true(known.stored_valid);
  assert_int_equal(known.stored, 42);
  assert_int_equal(known.start_time_ms, 0);
  assert_int_equal(known.pos.from_time_ms, 0);
  ConsumerGroup::CursorLoaded(fresh, std::nullopt);  // new: the default start stands
  assert_false(fresh.cursor_pending);
  assert_int_equal(fresh.committed, 500);
  assert_false(fresh.stored_valid);
  assert_int_equal(fresh.start_time_ms, 1700000000000);
  assert_int_equal(fresh.pos.from_time_ms, 1700000000000);
}

static void test_committed_is_the_contiguous_acked_prefix(void** state) {
  ConsumerGroup& g = static_cast<Fixture*>(*state)->group;
  g.AddPartition(1, 0, 100);
  GroupPartition& p = *g.Find(PartitionKey(1, 0));
  ConsumerGroup::Move(p, 9, 100);
  for (uint64_t o = 100; o < 105; ++o) {
    p.pos.next = o + 1;
    ConsumerGroup::Sent(p, o);
  }
  ConsumerGroup::Settle(p);
  assert_int_equal(p.committed, 100);
  assert_true(ConsumerGroup::Acked(p, p.epoch, 101));  // out of order: no progress yet
  assert_int_equal(p.committed, 100);
  assert_true(ConsumerGroup::Acked(p, p.epoch, 100));
  assert_int_equal(p.committed, 102);
  assert_false(ConsumerGroup::Acked(p, p.epoch, 101));  // twice: ignored
  assert_false(ConsumerGroup::Acked(p, p.epoch, 777));  // unknown: ignored
  assert_true(ConsumerGroup::Acked(p, p.epoch, 104));
  assert_true(ConsumerGroup::Acked(p, p.epoch, 103));
  assert_int_equal(p.committed, 102);  // 102 still waits
  assert_true(ConsumerGroup::Acked(p, p.epoch, 102));
  assert_int_equal(p.committed, 105);
  assert_true(p.unacked.empty());
  // A skipped record (no ack needed) moves the cursor once nothing waits before it.
  p.pos.next = 106;
  ConsumerGroup::Settle(p);
  assert_int_equal(p.committed, 106);
}

static void test_move_restarts_at_committed_and_ignores_stale_acks(void** state) {
  ConsumerGroup& g = static_cast<Fixture*>(*state)->group;
  g.AddPartition(1, 0, 0);
  GroupPartition& p = *g.Find(PartitionKey(1, 0));
  ConsumerGroup::Move(p, 1, 0);
  uint32_t old_epoch = p.epoch;
  for (uint64_t o = 0; o < 4; ++o) {
    p.pos.next = o + 1;
    ConsumerGroup::Sent(p, o);
  }
  p.pos.lagging = false;
  assert_true(ConsumerGroup::Acked(p, old_epoch, 0));
  assert_int_equal(p.committed, 1);
  ConsumerGroup::Move(p, 2, 50);  // 1..3 were not acknowledged: they go again
  assert_int_equal(p.owner, 2);
  assert_int_not_equal(p.epoch, old_epoch);
  assert_int_equal(p.pos.next, 1);
  assert_true(p.pos.lagging);
  assert_int_equal(p.pos.live_end, 50);
  assert_true(p.unacked.empty());
  assert_false(ConsumerGroup::Acked(p, old_epoch, 1));  // from the previous owner
  assert_int_equal(p.committed, 1);
  ConsumerGroup::Settle(p);
  assert_int_equal(p.committed, 1);  // never moves down, never past what was acked
}

static void test_assignment_prefers_incoming_owner_while_revoking(void** state) {
  ConsumerGroup& g = static_cast<Fixture*>(*state)->group;
  g.Join(1, "a", SubOptions{});
  g.Join(2, "b", SubOptions{});
  g.AddPartition(1, 0, 0);
  g.AddPartition(1, 1, 0);
  GroupPartition& p0 = g.partitions()[0];
  GroupPartition& p1 = g.partitions()[1];
  p0.owner = 1;
  p1.owner = 1;
  p1.next_owner = 2;  // moving from a to b
  p1.revoke_deadline_ms = 1;
  std::vector<SubscriberId> want = {1, 2};
  assert_true(g.Assignment() == want);
}

static void test_idle_group_expiry_needs_a_set_clock(void**) {
  const int64_t day = 86400000, t2026 = 1796000000000;  // a time in 2026
  const int64_t t1970 = 5 * 60 * 1000;                  // 5 min after boot on an unset clock
  // The normal case: kept until the expiry, expired at and after it.
  assert_true(JudgeIdleGroup(t2026, t2026 + day, 7 * day) == IdleGroupVerdict::kKeep);
  assert_true(JudgeIdleGroup(t2026, t2026 + 7 * day, 7 * day) == IdleGroupVerdict::kExpire);
  // Left while the clock said 1970, judged once NTP set it: counted again from now.
  assert_true(JudgeIdleGroup(t1970, t2026, 7 * day) == IdleGroupVerdict::kRestamp);
  // The clock is not set now: nothing expires, whatever the stamps say.
  assert_true(JudgeIdleGroup(t1970, t1970 + 30 * day, 7 * day) == IdleGroupVerdict::kKeep);
  assert_true(JudgeIdleGroup(t2026, t1970, 7 * day) == IdleGroupVerdict::kKeep);
  // A clock set back (but plausible) makes the group look younger: kept.
  assert_true(JudgeIdleGroup(t2026, t2026 - day, 7 * day) == IdleGroupVerdict::kKeep);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_assignment_without_members_is_empty),
      cmocka_unit_test(test_three_members_four_partitions_balanced),
      cmocka_unit_test(test_join_moves_only_what_balance_needs),
      cmocka_unit_test(test_leave_moves_only_the_leavers_partitions),
      cmocka_unit_test(test_random_assignments_stay_balanced_and_sticky),
      cmocka_unit_test(test_idle_group_expiry_needs_a_set_clock),
      cmocka_unit_test_setup_teardown(test_members_sorted_by_client_id, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_partitions_sorted_and_found, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_stored_cursor_replaces_the_default_start, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_committed_is_the_contiguous_acked_prefix, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_move_restarts_at_committed_and_ignores_stale_acks, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_assignment_prefers_incoming_owner_while_revoking, Setup,
                                      Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
