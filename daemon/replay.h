// Replay positions: where a subscription starts reading a stream.
//
//   earliest | latest | <offset> | offset:<n> | time:<RFC 3339> | <RFC 3339> | -<duration>
//
// MQTT 5 clients put it in a SUBSCRIBE user property `replay`; any client can
// subscribe to `$replay/<position>/<filter>`. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trib {

struct ReplayPosition {
  enum class Kind { kEarliest, kLatest, kOffset, kTime };
  Kind kind = Kind::kLatest;
  uint64_t offset = 0;   // kOffset
  int64_t time_ms = 0;   // kTime: wall clock, ms since the epoch
};

// Parses a position; `now_ms` anchors relative times. Returns "" or why not.
std::string ParseReplayPosition(std::string_view text, int64_t now_ms, ReplayPosition* out);

// Splits "$replay/<position>/<filter>". Returns false when `filter` does not
// start with "$replay/"; *error is set when it does but is malformed.
bool SplitReplayFilter(std::string_view filter, std::string_view* position,
                       std::string_view* rest, std::string* error);

}  // namespace trib
