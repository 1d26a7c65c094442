// TopicTree: the MQTT matching rules, subscribe/unsubscribe bookkeeping,
// shared groups, pruning, and a randomized cross-check against a naive matcher.

#include "daemon/topic_tree.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/topic/match_cases.h"

#include "tests/unit/cmocka_cpp.h"  // last

using trib::SharedMatch;
using trib::SubMatch;
using trib::SubOptions;
using trib::SubscriberId;
using trib::TopicTree;
using trib::test::kMatchCases;
using trib::test::NaiveMatch;
using trib::test::NaiveMatchLevels;
using trib::test::SplitLevels;

namespace {

// Lives in cmocka's state so a failing test (which longjmps) still frees it.
struct Fixture {
  TopicTree tree;
  std::vector<SubMatch> subs;
  std::vector<SharedMatch> shared;
  std::vector<std::string> filters;
  std::vector<std::string> topics;
  std::vector<std::vector<std::string_view>> filter_levels;  // SplitLevels(filters[i])

  void MatchTopic(std::string_view topic) {
    subs.clear();
    shared.clear();
    tree.Match(topic, &subs, &shared);
  }
  std::vector<SubscriberId> SortedIds() const {
    std::vector<SubscriberId> ids;
    for (const SubMatch& m : subs) ids.push_back(m.subscriber);
    std::sort(ids.begin(), ids.end());
    return ids;
  }
};

SubOptions Qos(uint8_t qos, uint32_t subscription_id = 0) {
  SubOptions o;
  o.qos = qos;
  o.subscription_id = subscription_id;
  return o;
}

}  // namespace

static int Setup(void** state) {
  *state = new Fixture();
  return 0;
}

static int Teardown(void** state) {
  delete static_cast<Fixture*>(*state);
  return 0;
}

static Fixture& F(void** state) { return *static_cast<Fixture*>(*state); }

// Every case's filter is subscribed by its own subscriber (the case index) in
// one tree, so each case also checks that no other filter leaks into it.
static void test_match_table(void** state) {
  Fixture& f = F(state);
  const size_t n = std::size(kMatchCases);
  for (size_t i = 0; i < n; ++i) {
    assert_true(f.tree.Subscribe(kMatchCases[i].filter, i, Qos(1)));
  }
  for (size_t i = 0; i < n; ++i) {
    const auto& c = kMatchCases[i];
    f.MatchTopic(c.topic);
    const std::vector<SubscriberId> ids = f.SortedIds();
    const bool found = std::binary_search(ids.begin(), ids.end(), i);
    if (found != c.matches) {
      fail_msg("filter \"%s\" topic \"%s\": expected %s", c.filter, c.topic,
               c.matches ? "match" : "no match");
    }
    for (SubscriberId id : ids) {
      assert_true(NaiveMatch(kMatchCases[id].filter, c.topic));
    }
    assert_true(std::adjacent_find(ids.begin(), ids.end()) == ids.end());
    assert_int_equal(f.shared.size(), 0);
  }
}

static void test_overlapping_filters_of_one_subscriber_each_match(void** state) {
  Fixture& f = F(state);
  assert_true(f.tree.Subscribe("a/+", 7, Qos(0, 1)));
  assert_true(f.tree.Subscribe("a/#", 7, Qos(1, 2)));
  assert_true(f.tree.Subscribe("a/b", 7, Qos(2, 3)));
  assert_true(f.tree.Subscribe("#", 7, Qos(1, 4)));
  assert_true(f.tree.Subscribe("a/c", 7, Qos(1, 5)));
  assert_int_equal(f.tree.subscription_count(), 5);
  f.MatchTopic("a/b");
  assert_int_equal(f.subs.size(), 4);
  std::set<uint32_t> ids;
  for (const SubMatch& m : f.subs) {
    assert_int_equal(m.subscriber, 7);
    ids.insert(m.options.subscription_id);
    // Each entry carries the options of its own filter.
    assert_int_equal(m.options.qos, m.options.subscription_id == 1   ? 0
                                    : m.options.subscription_id == 3 ? 2
                                                                     : 1);
  }
  assert_true((ids == std::set<uint32_t>{1, 2, 3, 4}));
}

static void test_resubscribe_replaces_options(void** state) {
  Fixture& f = F(state);
  assert_true(f.tree.Subscribe("x/y", 1, Qos(0, 10)));
  SubOptions o = Qos(2, 11);
  o.no_local = true;
  o.retain_as_published = true;
  o.retain_handling = 2;
  assert_false(f.tree.Subscribe("x/y", 1, o));
  assert_int_equal(f.tree.subscription_count(), 1);
  f.MatchTopic("x/y");
  assert_int_equal(f.subs.size(), 1);
  assert_int_equal(f.subs[0].options.qos, 2);
  assert_int_equal(f.subs[0].options.subscription_id, 11);
  assert_true(f.subs[0].options.no_local);
  assert_true(f.subs[0].options.retain_as_published);
  assert_int_equal(f.subs[0].options.retain_handling, 2);
}

// Past the size where a filter's subscribers get an index, replace and remove
// must still find the right entry.
static void test_many_subscribers_on_one_filter(void** state) {
  Fixture& f = F(state);
  for (SubscriberId s = 1; s <= 1000; ++s) assert_true(f.tree.Subscribe("hot/+", s, Qos(0)));
  assert_false(f.tree.Subscribe("hot/+", 500, Qos(2)));
  for (SubscriberId s = 1; s <= 1000; s += 2) assert_true(f.tree.Unsubscribe("hot/+", s));
  assert_false(f.tree.Unsubscribe("hot/+", 1));
  f.MatchTopic("hot/x");
  assert_int_equal(f.subs.size(), 500);
  std::vector<SubscriberId> ids = f.SortedIds();
  for (size_t i = 0; i < ids.size(); ++i) assert_int_equal(ids[i], 2 * (i + 1));
  for (const SubMatch& m : f.subs) assert_int_equal(m.options.qos, m.subscriber == 500 ? 2 : 0);
  for (SubscriberId s = 2; s <= 1000; s += 2) assert_true(f.tree.Unsubscribe("hot/+", s));
  assert_int_equal(f.tree.subscription_count(), 0);
  assert_int_equal(f.tree.node_count(), 0);
}

static void test_unsubscribe_unknown_returns_false_and_changes_nothing(void** state) {
  Fixture& f = F(state);
  assert_false(f.tree.Unsubscribe("never/seen", 1));
  assert_int_equal(f.tree.node_count(), 0);
  assert_true(f.tree.Subscribe("a/b/c", 1, Qos(0)));
  const size_t nodes = f.tree.node_count();
  assert_int_equal(nodes, 3);
  assert_false(f.tree.Unsubscribe("a/b/c", 2));  // another subscriber
  assert_false(f.tree.Unsubscribe("a/b", 1));    // a prefix of the filter
  assert_false(f.tree.Unsubscribe("a/b/c/d", 1));
  assert_false(f.tree.Unsubscribe("a/+/c", 1));
  assert_false(f.tree.UnsubscribeShared("g", "a/b/c", 1));  // not shared
  assert_int_equal(f.tree.node_count(), nodes);
  assert_int_equal(f.tree.subscription_count(), 1);
  assert_true(f.tree.Unsubscribe("a/b/c", 1));
  assert_false(f.tree.Unsubscribe("a/b/c", 1));
  assert_int_equal(f.tree.node_count(), 0);
  f.MatchTopic("a/b/c");
  assert_int_equal(f.subs.size(), 0);
}

static void test_shared_groups_match_once_per_group_and_filter(void** state) {
  Fixture& f = F(state);
  assert_true(f.tree.SubscribeShared("g1", "s/+", 1, Qos(0)));
  assert_true(f.tree.SubscribeShared("g1", "s/+", 2, Qos(1)));
  assert_true(f.tree.SubscribeShared("g1", "s/+", 3, Qos(2)));
  assert_true(f.tree.SubscribeShared("g2", "s/+", 4, Qos(1)));
  assert_true(f.tree.SubscribeShared("g1", "s/#", 5, Qos(1)));
  assert_false(f.tree.SubscribeShared("g1", "s/+", 2, Qos(2)));  // replace
  assert_true(f.tree.Subscribe("s/+", 6, Qos(0)));               // plain, same filter
  assert_int_equal(f.tree.subscription_count(), 6);

  f.MatchTopic("s/x");
  assert_int_equal(f.subs.size(), 1);
  assert_int_equal(f.subs[0].subscriber, 6);
  std::map<std::pair<std::string, std::string>, std::map<SubscriberId, uint8_t>> got;
  for (const SharedMatch& m : f.shared) {
    auto& members = got[{std::string(m.group), std::string(m.filter)}];
    assert_true(members.empty());  // one SharedMatch per (group, filter)
    for (const SubMatch& s : *m.members) members[s.subscriber] = s.options.qos;
  }
  using Members = std::map<SubscriberId, uint8_t>;
  assert_int_equal(got.size(), 3);
  assert_true((got[{"g1", "s/+"}] == Members{{1, 0}, {2, 2}, {3, 2}}));
  assert_true((got[{"g2", "s/+"}] == Members{{4, 1}}));
  assert_true((got[{"g1", "s/#"}] == Members{{5, 1}}));

  // A group disappears with its last member; the others stay.
  assert_false(f.tree.UnsubscribeShared("g3", "s/+", 4));
  assert_false(f.tree.UnsubscribeShared("g2", "s/+", 1));
  assert_true(f.tree.UnsubscribeShared("g2", "s/+", 4));
  assert_true(f.tree.UnsubscribeShared("g1", "s/+", 2));
  f.MatchTopic("s");
  assert_int_equal(f.shared.size(), 1);  // "s/#" matches its parent level
  f.MatchTopic("s/y");
  assert_int_equal(f.shared.size(), 2);
  for (const SharedMatch& m : f.shared) {
    assert_string_equal(std::string(m.group).c_str(), "g1");
    assert_int_equal(m.members->size(), m.filter == "s/+" ? 2 : 1);
  }
  assert_true(f.tree.UnsubscribeShared("g1", "s/+", 1));
  assert_true(f.tree.UnsubscribeShared("g1", "s/+", 3));
  assert_true(f.tree.UnsubscribeShared("g1", "s/#", 5));
  assert_true(f.tree.Unsubscribe("s/+", 6));
  assert_int_equal(f.tree.subscription_count(), 0);
  assert_int_equal(f.tree.node_count(), 0);
}

static void test_shared_and_dollar_rule(void** state) {
  Fixture& f = F(state);
  assert_true(f.tree.SubscribeShared("g", "#", 1, Qos(0)));
  assert_true(f.tree.SubscribeShared("g", "$SYS/#", 2, Qos(0)));
  f.MatchTopic("$SYS/broker/uptime");
  assert_int_equal(f.shared.size(), 1);
  assert_int_equal((*f.shared[0].members)[0].subscriber, 2);
}

// Memory must not grow with churn: every node goes away with its last subscription.
static void test_churn_prunes_every_node(void** state) {
  Fixture& f = F(state);
  const int kFilters = 100000;
  for (int i = 0; i < kFilters; ++i) {
    f.filters.push_back("c/" + std::to_string(i % 97) + "/" + std::to_string(i) +
                        (i % 3 == 0   ? "/+"
                         : i % 3 == 1 ? "/#"
                                      : ""));
  }
  for (int i = 0; i < kFilters; ++i) {
    if (i % 10 == 0) {
      assert_true(f.tree.SubscribeShared("grp", f.filters[i], i, Qos(1)));
    } else {
      assert_true(f.tree.Subscribe(f.filters[i], i, Qos(1)));
    }
  }
  assert_int_equal(f.tree.subscription_count(), kFilters);
  assert_true(f.tree.node_count() > static_cast<size_t>(kFilters));
  for (int i = kFilters - 1; i >= 0; --i) {
    if (i % 10 == 0) {
      assert_true(f.tree.UnsubscribeShared("grp", f.filters[i], i));
    } else {
      assert_true(f.tree.Unsubscribe(f.filters[i], i));
    }
  }
  assert_int_equal(f.tree.subscription_count(), 0);
  assert_int_equal(f.tree.node_count(), 0);
}

// Pruning stops at the first node that still holds something.
static void test_partial_prune_keeps_shared_prefix(void** state) {
  Fixture& f = F(state);
  assert_true(f.tree.Subscribe("a/b", 1, Qos(0)));
  assert_true(f.tree.Subscribe("a/b/c/d", 1, Qos(0)));
  assert_true(f.tree.Subscribe("a/+/c", 2, Qos(0)));
  assert_int_equal(f.tree.node_count(), 6);  // a, b, c, d, +, c
  assert_true(f.tree.Unsubscribe("a/b/c/d", 1));
  assert_int_equal(f.tree.node_count(), 4);  // a, b, +, c
  assert_true(f.tree.Unsubscribe("a/b", 1));
  assert_int_equal(f.tree.node_count(), 3);  // a, +, c
  f.MatchTopic("a/b/c");
  assert_int_equal(f.subs.size(), 1);
  assert_int_equal(f.subs[0].subscriber, 2);
}

static void test_match_appends_to_output(void** state) {
  Fixture& f = F(state);
  assert_true(f.tree.Subscribe("t", 9, Qos(0)));
  f.subs.push_back(SubMatch{1, Qos(0)});
  f.tree.Match("t", &f.subs, &f.shared);
  assert_int_equal(f.subs.size(), 2);
  assert_int_equal(f.subs[0].subscriber, 1);
  assert_int_equal(f.subs[1].subscriber, 9);
}

// A filter may legally have tens of thousands of levels; neither matching nor
// tearing the tree down may recurse once per level.
static void test_very_deep_filter(void** state) {
  Fixture& f = F(state);
  std::string deep = "d";
  for (int i = 0; i < 30000; ++i) deep += "/d";
  assert_true(f.tree.Subscribe(deep, 1, Qos(0)));
  assert_true(f.tree.Subscribe(deep + "/#", 2, Qos(0)));
  f.MatchTopic(deep);
  assert_int_equal(f.subs.size(), 2);
  assert_int_equal(f.tree.node_count(), 30002);
  // Left in the tree on purpose: Teardown destroys it.
}

// ~2000 random filters (a fifth of them shared) against ~2000 random topics,
// compared with the naive matcher; then again after removing half.
static void test_random_cross_check_against_naive(void** state) {
  Fixture& f = F(state);
  trib::test::RandomTopics gen(20240601);
  const size_t kCount = 2000;
  for (size_t i = 0; i < kCount; ++i) f.filters.push_back(gen.Filter());
  for (size_t i = 0; i < kCount; ++i) f.topics.push_back(gen.Topic());
  for (const std::string& filter : f.filters) f.filter_levels.push_back(SplitLevels(filter));
  auto is_shared = [](size_t i) { return i % 5 == 0; };
  auto group = [](size_t i) { return std::string(1, static_cast<char>('p' + i % 3)); };
  std::vector<bool> live(kCount, true);
  for (size_t i = 0; i < kCount; ++i) {
    if (is_shared(i)) {
      assert_true(f.tree.SubscribeShared(group(i), f.filters[i], i, Qos(0)));
    } else {
      assert_true(f.tree.Subscribe(f.filters[i], i, Qos(0)));
    }
  }
  size_t matched_total = 0;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& topic : f.topics) {
      f.MatchTopic(topic);
      const std::vector<std::string_view> topic_levels = SplitLevels(topic);
      std::vector<SubscriberId> want_plain, want_shared, got_shared;
      for (size_t i = 0; i < kCount; ++i) {
        if (live[i] && NaiveMatchLevels(f.filter_levels[i], topic_levels)) {
          (is_shared(i) ? want_shared : want_plain).push_back(i);
        }
      }
      std::set<std::pair<std::string_view, std::string_view>> seen;
      for (const SharedMatch& m : f.shared) {
        assert_true(seen.insert({m.group, m.filter}).second);
        assert_false(m.members->empty());
        for (const SubMatch& s : *m.members) {
          assert_true(NaiveMatch(m.filter, topic));
          assert_true(m.filter == f.filters[s.subscriber]);
          assert_true(m.group == group(s.subscriber));
          got_shared.push_back(s.subscriber);
        }
      }
      std::sort(got_shared.begin(), got_shared.end());
      if (f.SortedIds() != want_plain || got_shared != want_shared) {
        fail_msg("round %d topic \"%s\": got %zu plain / %zu shared, want %zu / %zu", round,
                 topic.c_str(), f.subs.size(), got_shared.size(), want_plain.size(),
                 want_shared.size());
      }
      matched_total += want_plain.size() + want_shared.size();
    }
    for (size_t i = 0; round == 0 && i < kCount; i += 2) {
      const bool removed = is_shared(i) ? f.tree.UnsubscribeShared(group(i), f.filters[i], i)
                                        : f.tree.Unsubscribe(f.filters[i], i);
      assert_true(removed);
      live[i] = false;
    }
  }
  assert_true(matched_total > kCount);  // the generator must produce real overlap
  for (size_t i = 1; i < kCount; i += 2) {
    const bool removed = is_shared(i) ? f.tree.UnsubscribeShared(group(i), f.filters[i], i)
                                      : f.tree.Unsubscribe(f.filters[i], i);
    assert_true(removed);
  }
  assert_int_equal(f.tree.subscription_count(), 0);
  assert_int_equal(f.tree.node_count(), 0);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_match_table, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_overlapping_filters_of_one_subscriber_each_match, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_resubscribe_replaces_options, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_many_subscribers_on_one_filter, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_unsubscribe_unknown_returns_false_and_changes_nothing,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_shared_groups_match_once_per_group_and_filter, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_shared_and_dollar_rule, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_churn_prunes_every_node, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_partial_prune_keeps_shared_prefix, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_match_appends_to_output, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_very_deep_filter, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_random_cross_check_against_naive, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
