// Topic name and filter validation, matching and $share parsing.

#include "daemon/mqtt/topic.h"

#include <cstring>

#include "daemon/mqtt/utf8.h"

namespace trib::mqtt {

namespace {

constexpr std::string_view kSharePrefix = "$share/";

Status CheckLengthAndUtf8(std::string_view s, bool check_utf8) {
  if (s.empty()) return Malformed("empty topic");                           // [MQTT-4.7.3-1]
  if (s.size() > 65535) return Malformed("topic longer than 65535 bytes");  // [MQTT-4.7.3-3]
  if (check_utf8 && !IsValidUtf8(s)) {
    return Malformed("topic is not valid UTF-8");  // [MQTT-1.5.4-1], [MQTT-4.7.3-2]
  }
  return Status::Ok();
}

// Wildcard placement in a (non-shared) filter.
Status CheckWildcards(std::string_view f) {
  for (size_t i = 0; i < f.size(); ++i) {
    const char c = f[i];
    if (c != '+' && c != '#') continue;
    const bool starts_level = i == 0 || f[i - 1] == '/';
    const bool ends_level = i + 1 == f.size() || f[i + 1] == '/';
    if (!starts_level || !ends_level) {
      return Malformed(c == '#' ? "'#' not a whole level"    // [MQTT-4.7.1-2]
                                : "'+' not a whole level");  // [MQTT-4.7.1-3]
    }
    if (c == '#' && i + 1 != f.size()) return Malformed("'#' not last");  // [MQTT-4.7.1-2]
  }
  return Status::Ok();
}

}  // namespace

bool HasWildcard(std::string_view s) {
  // Two memchr scans: string_view::find_first_of tests every byte against the
  // set one at a time, which made it the slowest step of PUBLISH decoding.
  if (s.empty()) return false;  // data() may be null
  return std::memchr(s.data(), '+', s.size()) != nullptr ||
         std::memchr(s.data(), '#', s.size()) != nullptr;
}

Status ValidateTopicName(std::string_view topic, bool check_utf8) {
  Status st = CheckLengthAndUtf8(topic, check_utf8);
  if (!st.ok()) return st;
  if (HasWildcard(topic)) return Malformed("wildcard in topic name");  // [MQTT-3.3.2-2]
  return Status::Ok();
}

Status ParseShared(std::string_view filter, SharedFilter* out) {
  *out = SharedFilter{};
  out->filter = filter;
  if (filter.substr(0, kSharePrefix.size()) != kSharePrefix) return Status::Ok();
  std::string_view rest = filter.substr(kSharePrefix.size());
  const size_t slash = rest.find('/');
  std::string_view group = rest.substr(0, slash);
  if (group.empty()) return Malformed("empty share name");  // [MQTT-4.8.2-1]
  if (HasWildcard(group)) {
    return Malformed("wildcard in share name");  // [MQTT-4.8.2-2]
  }
  if (slash == std::string_view::npos || slash + 1 == rest.size()) {
    return Malformed("share name not followed by a topic filter");  // [MQTT-4.8.2-2]
  }
  out->shared = true;
  out->group = group;
  out->filter = rest.substr(slash + 1);
  return Status::Ok();
}

Status ValidateTopicFilter(std::string_view filter, bool check_utf8) {
  Status st = CheckLengthAndUtf8(filter, check_utf8);
  if (!st.ok()) return st;
  SharedFilter sf;
  st = ParseShared(filter, &sf);
  if (!st.ok()) return st;
  return CheckWildcards(sf.filter);
}

bool TopicMatches(std::string_view f, std::string_view t) {
  // [MQTT-4.7.2-1]: "#" and "+/..." do not match "$SYS/..." and the like.
  if (!t.empty() && t[0] == '$' && !f.empty() && (f[0] == '+' || f[0] == '#')) return false;
  size_t fi = 0, ti = 0;
  for (;;) {
    if (fi < f.size() && f[fi] == '#') return true;  // the rest of the topic, whatever it is
    size_t fe = f.find('/', fi);
    if (fe == std::string_view::npos) fe = f.size();
    size_t te = t.find('/', ti);
    if (te == std::string_view::npos) te = t.size();
    const std::string_view fl = f.substr(fi, fe - fi);
    if (fl != "+" && fl != t.substr(ti, te - ti)) return false;
    const bool f_end = fe == f.size();
    const bool t_end = te == t.size();
    if (f_end || t_end) {
      // "a/#" also matches "a": the parent level [MQTT-4.7.1-2].
      return f_end ? t_end : f.substr(fe) == "/#";
    }
    fi = fe + 1;
    ti = te + 1;
  }
}

size_t CountTopicLevels(std::string_view s) {
  size_t n = 1;
  for (char c : s) n += c == '/';
  return n;
}

}  // namespace trib::mqtt
