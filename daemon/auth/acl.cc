#include "daemon/auth/acl.h"

#include "daemon/auth/file_io.h"
#include "daemon/mqtt/topic.h"

namespace trib::auth {
namespace {

constexpr size_t kMaxFileBytes = 64u << 20;
constexpr uint8_t kReadBit = 1;
constexpr uint8_t kWriteBit = 2;

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first blank-separated word; *rest is what follows, trimmed.
std::string_view FirstWord(std::string_view s, std::string_view* rest) {
  size_t end = 0;
  while (end < s.size() && !IsBlank(s[end])) ++end;
  *rest = Trim(s.substr(end));
  return s.substr(0, end);
}

std::vector<std::string_view> Levels(std::string_view s) {
  std::vector<std::string_view> v;
  for (std::string_view l : mqtt::TopicLevels(s)) v.push_back(l);
  return v;
}

bool IsDollar(std::string_view level) { return !level.empty() && level[0] == '$'; }

// True if every topic `f` matches is also matched by `r` (both valid filters).
bool Covers(std::string_view rule, std::string_view filter) {
  const auto r = Levels(rule), f = Levels(filter);
  for (size_t i = 0;; ++i) {
    if (i == r.size()) return i == f.size();
    // A wildcard first level of the rule never matches '$' topics [MQTT-4.7.2-1].
    const bool dollar_first = i == 0 && IsDollar(f[0]);
    if (r[i] == "#") return !dollar_first;
    if (i == f.size()) return false;
    if (f[i] == "#") return false;
    if (r[i] == "+") {
      if (dollar_first) return false;
      continue;
    }
    if (f[i] == "+" || r[i] != f[i]) return false;
  }
}

// True if some topic is matched by both filters.
bool Overlaps(std::string_view a_filter, std::string_view b_filter) {
  const auto a = Levels(a_filter), b = Levels(b_filter);
  for (size_t i = 0;; ++i) {
    const bool a_end = i == a.size(), b_end = i == b.size();
    if (a_end && b_end) return true;
    if (a_end) return b[i] == "#";  // "x/#" matches "x"
    if (b_end) return a[i] == "#";
    const bool a_wild = a[i] == "+" || a[i] == "#";
    const bool b_wild = b[i] == "+" || b[i] == "#";
    if (i == 0 && ((a_wild && IsDollar(b[0])) || (b_wild && IsDollar(a[0])))) return false;
    if (a[i] == "#" || b[i] == "#") return true;
    if (a_wild || b_wild) continue;
    if (a[i] != b[i]) return false;
  }
}

bool Tainted(std::string_view value) {
  return value.find_first_of("+#/") != std::string_view::npos;
}

// `pattern` with every %u and %c replaced.
std::string Substitute(std::string_view pattern, std::string_view user, std::string_view client) {
  std::string out;
  out.reserve(pattern.size() + user.size() + client.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'u') {
      out += user;
      ++i;
    } else if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'c') {
      out += client;
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

Status LineError(std::string_view source, size_t line, const std::string& why) {
  return Status(Error::kParse, std::string(source) + ":" + std::to_string(line) + ": " + why);
}

}  // namespace

bool Acl::AddRule(std::string_view rest, std::vector<Rule>* to, bool pattern, std::string* why) {
  Rule rule;
  std::string_view after;
  const std::string_view word = FirstWord(rest, &after);
  std::string_view filter = rest;
  rule.access = kReadBit | kWriteBit;
  if (word == "read" || word == "write" || word == "readwrite" || word == "deny") {
    if (after.empty()) {
      *why = "missing topic filter after '" + std::string(word) + "'";
      return false;
    }
    rule.access = word == "read"    ? kReadBit
                  : word == "write" ? kWriteBit
                  : word == "deny"  ? 0
                                    : kReadBit | kWriteBit;
    filter = after;
  }
  if (filter.empty()) {
    *why = "missing topic filter";
    return false;
  }
  const mqtt::Status valid = mqtt::ValidateTopicFilter(filter);
  if (!valid.ok()) {
    *why = "'" + std::string(filter) + "' is not a valid topic filter: " + valid.why();
    return false;
  }
  if (filter.substr(0, 7) == "$share/") {
    *why = "rules cannot name shared subscriptions; write the filter without $share/<group>/";
    return false;
  }
  rule.filter = std::string(filter);
  if (pattern) {
    rule.uses_user = rule.filter.find("%u") != std::string::npos;
    rule.uses_client = rule.filter.find("%c") != std::string::npos;
  }
  to->push_back(std::move(rule));
  return true;
}

BasicResult<Acl, Error> Acl::Parse(std::string_view text, std::string_view source) {
  Acl acl;
  acl.configured_ = true;
  std::vector<Rule>* current = &acl.anonymous_;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line = Trim(line);
    if (line.empty() || line[0] == '#') continue;
    std::string_view rest;
    const std::string_view keyword = FirstWord(line, &rest);
    std::string why;
    if (keyword == "user") {
      if (rest.empty()) return LineError(source, line_no, "'user' needs a user name");
      current = &acl.users_[std::string(rest)];
    } else if (keyword == "topic" || keyword == "pattern") {
      const bool pattern = keyword == "pattern";
      if (!AddRule(rest, pattern ? &acl.patterns_ : current, pattern, &why)) {
        return LineError(source, line_no, why);
      }
    } else {
      return LineError(
          source, line_no,
          "unknown keyword '" + std::string(keyword) + "' (expected user, topic or pattern)");
    }
  }
  return acl;
}

BasicResult<Acl, Error> Acl::Load(const std::string& path) {
  std::string text;
  Status st = ReadWholeFile(path, kMaxFileBytes, &text);
  if (!st.ok()) return st;
  return Parse(text, path);
}

size_t Acl::rule_count() const {
  size_t n = anonymous_.size() + patterns_.size();
  for (const auto& [user, rules] : users_) n += rules.size();
  return n;
}

std::vector<Acl::Applied> Acl::RulesFor(const ClientInfo& who) const {
  std::vector<Applied> out;
  const std::vector<Rule>* base = &anonymous_;
  if (who.username) {
    const auto it = users_.find(std::string(*who.username));
    base = it == users_.end() ? nullptr : &it->second;
  }
  if (base != nullptr) {
    for (const Rule& r : *base) out.push_back(Applied{r.access, r.filter, false});
  }
  const std::string_view user = who.username.value_or("");
  for (const Rule& r : patterns_) {
    if (r.uses_user && !who.username) continue;
    const bool tainted =
        (r.uses_user && Tainted(user)) || (r.uses_client && Tainted(who.client_id));
    if (tainted && r.access != 0) continue;  // an allowing pattern the client could widen
    out.push_back(Applied{r.access, Substitute(r.filter, user, who.client_id), tainted});
  }
  return out;
}

bool Acl::Check(const ClientInfo& who, std::string_view topic_or_filter, Access access) const {
  if (!configured_) return true;
  std::string_view target = topic_or_filter;
  if (access == Access::kSubscribe) {
    mqtt::SharedFilter sf;
    if (!mqtt::ParseShared(topic_or_filter, &sf).ok() || sf.filter.empty()) return false;
    target = sf.filter;
  }
  const uint8_t want = access == Access::kWrite ? kWriteBit : kReadBit;
  bool allowed = false;
  for (const Applied& r : RulesFor(who)) {
    if (r.match_all) return false;  // only deny rules are ever match_all
    const bool hit = access == Access::kSubscribe ? Covers(r.filter, target)
                                                  : mqtt::TopicMatches(r.filter, target);
    if (!hit) continue;
    if (r.access == 0) return false;  // deny wins, wherever it is
    if (r.access & want) allowed = true;
  }
  return allowed;
}

bool Acl::NeedsPerMessageCheck(const ClientInfo& who, std::string_view filter) const {
  if (!configured_) return false;
  mqtt::SharedFilter sf;
  if (!mqtt::ParseShared(filter, &sf).ok()) return true;
  for (const Applied& r : RulesFor(who)) {
    if (r.access == 0 && (r.match_all || Overlaps(r.filter, sf.filter))) return true;
  }
  return false;
}

}  // namespace trib::auth
