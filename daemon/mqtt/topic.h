// Topic names and topic filters (section 4.7 of both specifications) and shared
// subscriptions (MQTT 5 section 4.8.2).
//
// A topic name is what a PUBLISH carries ("sensors/kitchen/temp"); a topic
// filter is what a SUBSCRIBE carries and may hold the wildcards '+' (exactly
// one level) and '#' (this level and everything below, last only). A shared
// subscription filter is "$share/<group>/<filter>"; Tributary accepts it from
// 3.1.1 clients too, as Mosquitto and EMQX do.
//
// Thread: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <string_view>

#include "daemon/mqtt/types.h"

namespace trib::mqtt {

// OK if `topic` is a valid topic name: at least one character [MQTT-4.7.3-1],
// at most 65535 bytes [MQTT-4.7.3-3], no wildcard [MQTT-3.3.2-2], valid UTF-8
// without U+0000 [MQTT-4.7.3-2] (skipped when `check_utf8` is false because the
// caller has already checked). Failures are Malformed Packet: the name breaks
// the packet format, unlike 0x90 Topic Name invalid, which a broker uses for a
// well-formed name it refuses.
Status ValidateTopicName(std::string_view topic, bool check_utf8 = true);

// OK if `filter` is a valid topic filter: the same length and UTF-8 rules, '#'
// only as the whole last level [MQTT-4.7.1-2], '+' only as a whole level
// [MQTT-4.7.1-3], and for "$share/..." the shared-subscription rules below.
// Failures are Malformed Packet.
Status ValidateTopicFilter(std::string_view filter, bool check_utf8 = true);

// The parts of a shared subscription filter.
struct SharedFilter {
  bool shared = false;      // false: not "$share/...", `filter` is the whole input
  std::string_view group;   // the ShareName; empty when !shared
  std::string_view filter;  // the topic filter after "$share/<group>/"
};

// Splits "$share/<group>/<filter>". A filter that does not start with "$share/"
// is not shared (OK, out->shared false). A shared one needs a ShareName of at
// least one character [MQTT-4.8.2-1] without '/', '+' or '#', followed by '/'
// and a non-empty topic filter [MQTT-4.8.2-2]; otherwise Malformed Packet.
// Does not validate the inner filter's wildcards (ValidateTopicFilter does).
Status ParseShared(std::string_view filter, SharedFilter* out);

// True if `topic` (a valid topic name) matches `filter` (a valid, non-shared
// topic filter). A filter starting with a wildcard does not match a topic
// starting with '$' [MQTT-4.7.2-1]; "a/#" matches "a" itself.
bool TopicMatches(std::string_view filter, std::string_view topic);

// True if `s` contains '+' or '#'.
bool HasWildcard(std::string_view s);

// The levels of a topic name or filter, split at '/':
//   for (std::string_view level : TopicLevels("a//b")) ...  // "a", "", "b"
// An empty string has one empty level. The views point into the input.
class TopicLevels {
 public:
  explicit TopicLevels(std::string_view s) : s_(s) {}

  class Iterator {
   public:
    Iterator() = default;  // the end
    Iterator(std::string_view s, size_t begin) : s_(s), begin_(begin) { FindEnd(); }
    std::string_view operator*() const { return s_.substr(begin_, end_ - begin_); }
    Iterator& operator++() {
      if (end_ == s_.size()) {
        begin_ = kDone;
      } else {
        begin_ = end_ + 1;
        FindEnd();
      }
      return *this;
    }
    bool operator==(const Iterator& o) const { return begin_ == o.begin_; }
    bool operator!=(const Iterator& o) const { return begin_ != o.begin_; }

   private:
    static constexpr size_t kDone = static_cast<size_t>(-1);
    void FindEnd() {
      end_ = s_.find('/', begin_);
      if (end_ == std::string_view::npos) end_ = s_.size();
    }
    std::string_view s_;
    size_t begin_ = kDone;
    size_t end_ = 0;
  };

  Iterator begin() const { return Iterator(s_, 0); }
  Iterator end() const { return Iterator(); }

 private:
  std::string_view s_;
};

// The number of levels (one more than the number of '/').
size_t CountTopicLevels(std::string_view s);

}  // namespace trib::mqtt
