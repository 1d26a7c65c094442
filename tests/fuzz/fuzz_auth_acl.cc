// Fuzz target: the ACL parser and decisions (daemon/auth/acl).
// Input: "<acl text>\xFF<user>\xFF<client id>\xFF<topic or filter>", or
// "<acl text>\xFF<client id>\xFF<topic>" for an anonymous client (0xFF never
// occurs in UTF-8). When the text parses, decisions must keep two properties:
//   - for a filter without wildcards, SUBSCRIBE is allowed exactly when READ is;
//   - an allowed subscription that needs no per-message check may read every
//     topic it matches (checked on one topic built from the filter).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/auth/acl.h"
#include "daemon/mqtt/topic.h"
#include "tests/fuzz/fuzz_check.h"

using namespace trib::auth;

namespace {

// Splits off the text before the next 0xFF; false (and nothing taken) if there is none.
bool NextField(std::string_view* in, std::string_view* field) {
  const size_t sep = in->find('\xFF');
  if (sep == std::string_view::npos) return false;
  *field = in->substr(0, sep);
  in->remove_prefix(sep + 1);
  return true;
}

// A topic name the filter matches: '+' levels become "x", a final '#' is dropped
// with its '/' (or becomes "x" when it is the whole filter).
std::string TopicFor(std::string_view filter) {
  std::string out;
  size_t n = 0;
  for (std::string_view level : trib::mqtt::TopicLevels(filter)) {
    if (level == "#") {
      if (n == 0) out = "x";
      break;
    }
    if (n++) out += '/';
    out += level == "+" ? std::string_view("x") : level;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t sep = in.find('\xFF');
  auto acl = Acl::Parse(in.substr(0, sep), "fuzz");
  if (!acl.ok()) {
    FUZZ_CHECK(acl.status().message().rfind("fuzz:", 0) == 0);
    return 0;
  }
  if (sep == std::string_view::npos) return 0;
  in.remove_prefix(sep + 1);
  std::string_view first, second;
  ClientInfo who;
  if (NextField(&in, &first) && NextField(&in, &second)) {
    who.username = first;
    who.client_id = second;
  } else {
    who.client_id = first;  // "" when there was no separator
  }
  const std::string_view target = in;
  const Acl& a = acl.value();

  if (trib::mqtt::ValidateTopicName(target).ok()) {
    const bool read = a.Check(who, target, Access::kRead);
    (void)a.Check(who, target, Access::kWrite);
    if (target.substr(0, 7) != "$share/" && trib::mqtt::ValidateTopicFilter(target).ok()) {
      FUZZ_CHECK(a.Check(who, target, Access::kSubscribe) == read);
    }
  }
  if (trib::mqtt::ValidateTopicFilter(target).ok()) {
    const bool sub = a.Check(who, target, Access::kSubscribe);
    const bool per_message = a.NeedsPerMessageCheck(who, target);
    trib::mqtt::SharedFilter sf;
    if (sub && !per_message && trib::mqtt::ParseShared(target, &sf).ok()) {
      const std::string topic = TopicFor(sf.filter);
      if (trib::mqtt::ValidateTopicName(topic).ok() && trib::mqtt::TopicMatches(sf.filter, topic)) {
        FUZZ_CHECK(a.Check(who, topic, Access::kRead));
      }
    }
  }
  return 0;
}
