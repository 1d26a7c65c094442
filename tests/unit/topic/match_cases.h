// Shared by topic_tree_test.cc and retained_tree_test.cc: a table of (filter,
// topic, matches) cases, a naive reference matcher and a seeded generator of
// random filters and topics for cross-checking the tries against it.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace trib::test {

struct MatchCase {
  const char* filter;
  const char* topic;
  bool matches;
};

// MQTT 3.1.1 / 5.0 section 4.7; the spec's own examples come first.
inline constexpr MatchCase kMatchCases[] = {
    // 4.7.1.2 multi-level wildcard.
    {"sport/tennis/player1/#", "sport/tennis/player1", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
    {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
    {"sport/tennis/player1/#", "sport/tennis", false},
    {"sport/tennis/player1/#", "sport/tennis/player2", false},
    {"sport/#", "sport", true},
    {"sport/#", "sport/", true},
    {"sport/#", "sports", false},
    {"#", "sport", true},
    {"#", "sport/tennis/player1", true},
    {"#", "/", true},
    {"#", "/finance", true},
    // 4.7.1.3 single-level wildcard.
    {"sport/tennis/+", "sport/tennis/player1", true},
    {"sport/tennis/+", "sport/tennis/player2", true},
    {"sport/tennis/+", "sport/tennis/player1/ranking", false},
    {"sport/tennis/+", "sport/tennis", false},
    {"sport/+", "sport", false},
    {"sport/+", "sport/", true},
    {"+", "sport", true},
    {"+", "/finance", false},
    {"+", "/", false},
    {"+/+", "/finance", true},
    {"+/+", "/", true},
    {"+/+", "sport", false},
    {"/+", "/finance", true},
    {"/+", "/", true},
    {"/+", "finance", false},
    {"+/tennis/#", "sport/tennis/player1", true},
    {"+/tennis/#", "sport/tennis", true},
    {"sport/+/player1", "sport/tennis/player1", true},
    {"sport/+/player1", "sport//player1", true},
    // 4.7.2 topics beginning with $ [MQTT-4.7.2-1].
    {"#", "$SYS/monitor/Clients", false},
    {"#", "$SYS", false},
    {"+", "$SYS", false},
    {"+/#", "$SYS/monitor", false},
    {"+/monitor/Clients", "$SYS/monitor/Clients", false},
    {"$SYS/#", "$SYS/monitor/Clients", true},
    {"$SYS/#", "$SYS", true},
    {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
    {"$SYS/monitor/+", "$SYS/monitor", false},
    {"$SYS/+/Clients", "$SYS/monitor/Clients", true},
    {"a/+", "a/$b", true},  // only the first level is special
    {"a/#", "a/$b/c", true},
    {"+/#", "x$/y", true},
    // Empty levels are real levels.
    {"a//b", "a//b", true},
    {"a/+/b", "a//b", true},
    {"a/b", "a//b", false},
    {"+/+/+", "a//b", true},
    {"a/#", "a//b", true},
    {"a/+", "a/", true},
    {"a", "a/", false},
    {"a/", "a/", true},
    {"a/", "a", false},
    {"/", "/", true},
    {"//", "/", false},
    {"+/+/+", "//", true},
    // Exact levels: case-sensitive, no prefix matching, spaces allowed.
    {"ACCOUNTS", "Accounts", false},
    {"a/b", "a/b", true},
    {"a/b", "a/b/c", false},
    {"a/b/c", "a/b", false},
    {"a b/c", "a b/c", true},
    {"+/+", "a/b/c", false},
    {"+/+/#", "a/b", true},
    {"+/+/#", "a", false},
};

inline std::vector<std::string_view> SplitLevels(std::string_view s) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) break;
    out.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
  out.push_back(s.substr(start));
  return out;
}

// The rules written as plainly as possible, level by level, on split names.
inline bool NaiveMatchLevels(const std::vector<std::string_view>& f,
                             const std::vector<std::string_view>& t) {
  const bool dollar = !t[0].empty() && t[0][0] == '$';
  if (dollar && (f[0] == "+" || f[0] == "#")) return false;
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

inline bool NaiveMatch(std::string_view filter, std::string_view topic) {
  return NaiveMatchLevels(SplitLevels(filter), SplitLevels(topic));
}

// Random names over a small alphabet so that filters and topics collide often.
// Uses raw mt19937 output (its sequence is fixed by the standard; the
// distributions are not), so a failure reproduces on every platform.
class RandomTopics {
 public:
  explicit RandomTopics(uint32_t seed) : rng_(seed) {}

  std::string Topic() { return Build(false); }
  std::string Filter() { return Build(true); }

 private:
  uint32_t Below(uint32_t n) { return rng_() % n; }

  std::string Build(bool filter) {
    static constexpr const char* kLevels[] = {"a", "b", "c", "", "$SYS", "$x", "a$"};
    const uint32_t levels = 1 + Below(5);
    std::string s;
    for (uint32_t i = 0; i < levels; ++i) {
      if (i > 0) s += '/';
      const uint32_t pick = Below(10);
      if (filter && pick == 9 && i + 1 == levels) {
        s += '#';
      } else if (filter && pick >= 7) {
        s += '+';
      } else {
        s += kLevels[Below(7)];
      }
    }
    return s;
  }

  std::mt19937 rng_;
};

}  // namespace trib::test
