// RetainedTree: exact-topic storage, filter matching with the MQTT rules,
// pruning on erase, and a randomized cross-check against a naive matcher.

#include "daemon/retained_tree.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tests/unit/topic/match_cases.h"

#include "tests/unit/cmocka_cpp.h"  // last

using trib::RetainedTree;
using trib::test::kMatchCases;
using trib::test::NaiveMatchLevels;
using trib::test::SplitLevels;

namespace {

using Value = std::shared_ptr<const std::string>;  // like the broker's MessagePtr
using Hits = std::vector<std::pair<std::string_view, const Value*>>;

// Lives in cmocka's state so a failing test (which longjmps) still frees it.
struct Fixture {
  RetainedTree<Value> tree;
  Hits hits;
  std::vector<std::string> topics;
  std::vector<std::string> filters;

  void Set(std::string_view topic) {
    tree.Set(topic, std::make_shared<const std::string>("v:" + std::string(topic)));
  }
  // The topics `filter` matches, sorted; checks each value belongs to its topic.
  std::vector<std::string> MatchFilter(std::string_view filter) {
    hits.clear();
    tree.Match(filter, &hits);
    std::vector<std::string> out;
    for (const auto& [topic, value] : hits) {
      if (**value != "v:" + std::string(topic)) fail_msg("wrong value for %s", (*value)->c_str());
      out.emplace_back(topic);
    }
    std::sort(out.begin(), out.end());
    return out;
  }
};

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

// Every topic of the table is stored in one tree; each filter must return its
// case's topic exactly when the case says so, and nothing it should not match.
static void test_match_table(void** state) {
  Fixture& f = F(state);
  for (const auto& c : kMatchCases) f.Set(c.topic);
  for (const auto& c : kMatchCases) {
    const std::vector<std::string> got = f.MatchFilter(c.filter);
    const bool found = std::binary_search(got.begin(), got.end(), std::string(c.topic));
    if (found != c.matches) {
      fail_msg("filter \"%s\" topic \"%s\": expected %s", c.filter, c.topic,
               c.matches ? "match" : "no match");
    }
    for (const std::string& t : got) {
      assert_true(trib::test::NaiveMatch(c.filter, t));
    }
    assert_true(std::adjacent_find(got.begin(), got.end()) == got.end());
  }
}

static void test_set_find_replace_erase(void** state) {
  Fixture& f = F(state);
  assert_null(f.tree.Find("a"));
  f.Set("a/b");
  f.Set("a");
  f.Set("/");
  assert_int_equal(f.tree.size(), 3);
  assert_string_equal((*f.tree.Find("a/b"))->c_str(), "v:a/b");
  assert_string_equal((*f.tree.Find("/"))->c_str(), "v:/");
  assert_null(f.tree.Find("a/"));
  assert_null(f.tree.Find(""));
  assert_null(f.tree.Find("a/b/c"));

  f.tree.Set("a/b", std::make_shared<const std::string>("new"));
  assert_int_equal(f.tree.size(), 3);
  assert_string_equal((*f.tree.Find("a/b"))->c_str(), "new");

  assert_false(f.tree.Erase("a/c"));
  assert_false(f.tree.Erase("a/b/c"));
  assert_false(f.tree.Erase(""));  // the node for "/"'s first level holds no value
  assert_true(f.tree.Erase("a"));  // an interior node: its child stays
  assert_false(f.tree.Erase("a"));
  assert_null(f.tree.Find("a"));
  assert_string_equal((*f.tree.Find("a/b"))->c_str(), "new");
  assert_int_equal(f.tree.size(), 2);
  assert_int_equal(f.tree.node_count(), 4);  // a, b, "", ""
}

static void test_wildcards_and_dollar_topics(void** state) {
  Fixture& f = F(state);
  for (const char* t : {"sport", "sport/tennis", "sport/tennis/p1", "sports", "$SYS/uptime", "$SYS",
                        "a/$b", "/x"}) {
    f.Set(t);
  }
  using V = std::vector<std::string>;
  assert_true((f.MatchFilter("#") ==
               V{"/x", "a/$b", "sport", "sport/tennis", "sport/tennis/p1", "sports"}));
  assert_true((f.MatchFilter("sport/#") == V{"sport", "sport/tennis", "sport/tennis/p1"}));
  assert_true((f.MatchFilter("+") == V{"sport", "sports"}));
  assert_true((f.MatchFilter("+/+") == V{"/x", "a/$b", "sport/tennis"}));
  assert_true((f.MatchFilter("$SYS/#") == V{"$SYS", "$SYS/uptime"}));
  assert_true((f.MatchFilter("$SYS/+") == V{"$SYS/uptime"}));
  assert_true((f.MatchFilter("+/uptime") == V{}));
  assert_true((f.MatchFilter("sport/tennis/p1/#") == V{"sport/tennis/p1"}));
  assert_true((f.MatchFilter("nothing/#") == V{}));
}

// Memory must not grow with churn: every node goes away with its last topic.
static void test_erase_prunes_every_node(void** state) {
  Fixture& f = F(state);
  const int kTopics = 100000;
  for (int i = 0; i < kTopics; ++i) {
    f.topics.push_back("r/" + std::to_string(i % 101) + "/" + std::to_string(i) +
                       (i % 2 ? "/leaf" : ""));
    f.Set(f.topics.back());
  }
  assert_int_equal(f.tree.size(), kTopics);
  assert_true(f.tree.node_count() > static_cast<size_t>(kTopics));
  for (const std::string& t : f.topics) assert_true(f.tree.Erase(t));
  assert_int_equal(f.tree.size(), 0);
  assert_int_equal(f.tree.node_count(), 0);
  assert_true(f.MatchFilter("#").empty());
}

// A topic may legally have tens of thousands of levels; neither matching nor
// tearing the tree down may recurse once per level.
static void test_very_deep_topic(void** state) {
  Fixture& f = F(state);
  std::string deep = "d";
  for (int i = 0; i < 30000; ++i) deep += "/d";
  f.Set(deep);
  assert_int_equal(f.MatchFilter("#").size(), 1);
  assert_int_equal(f.MatchFilter("d/#").size(), 1);
  assert_int_equal(f.MatchFilter(deep).size(), 1);
  assert_int_equal(f.tree.node_count(), 30001);
  // Left in the tree on purpose: Teardown destroys it.
}

// ~2000 random topics against ~2000 random filters, compared with the naive
// matcher; then again after erasing half of the topics.
static void test_random_cross_check_against_naive(void** state) {
  Fixture& f = F(state);
  trib::test::RandomTopics gen(7);
  const size_t kCount = 2000;
  for (size_t i = 0; i < kCount; ++i) f.topics.push_back(gen.Topic());
  for (size_t i = 0; i < kCount; ++i) f.filters.push_back(gen.Filter());
  std::set<std::string> live(f.topics.begin(), f.topics.end());
  for (const std::string& t : f.topics) f.Set(t);
  assert_int_equal(f.tree.size(), live.size());
  size_t matched_total = 0;
  for (int round = 0; round < 2; ++round) {
    std::vector<std::pair<std::string, std::vector<std::string_view>>> stored;
    for (const std::string& t : live) stored.emplace_back(t, SplitLevels(t));
    for (const std::string& filter : f.filters) {
      const std::vector<std::string_view> filter_levels = SplitLevels(filter);
      std::vector<std::string> want;
      for (const auto& [topic, levels] : stored) {
        if (NaiveMatchLevels(filter_levels, levels)) want.push_back(topic);
      }
      if (f.MatchFilter(filter) != want) {
        fail_msg("round %d filter \"%s\": got %zu topics, want %zu", round, filter.c_str(),
                 f.hits.size(), want.size());
      }
      matched_total += want.size();
    }
    for (size_t i = 0; round == 0 && i < kCount; i += 2) {
      assert_int_equal(f.tree.Erase(f.topics[i]), live.erase(f.topics[i]) == 1);
    }
    assert_int_equal(f.tree.size(), live.size());
  }
  assert_true(matched_total > kCount);  // the generator must produce real overlap
  for (const std::string& t : f.topics) f.tree.Erase(t);
  assert_int_equal(f.tree.size(), 0);
  assert_int_equal(f.tree.node_count(), 0);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_match_table, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_set_find_replace_erase, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_wildcards_and_dollar_topics, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_erase_prunes_every_node, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_very_deep_topic, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_random_cross_check_against_naive, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
