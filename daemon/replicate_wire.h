// The wire format of $replicate messages (storage/FORMAT.md, "Replication on
// the wire"): the topic $replicate/<origin>/<stream>/<partition> and a payload
// of frames (u64 BE base offset, then one stored batch). Pure functions of the
// bytes a peer sent, apart from the broker (daemon/replicate.cc), so that the
// fuzz target (tests/fuzz/fuzz_replicate.cc) can feed them anything.
//
// Thread: pure functions, any thread.
// Failure: a false return; nothing here logs or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace trib {

constexpr std::string_view kReplicatePrefix = "$replicate/";
constexpr uint32_t kMaxReplicaPartitions = 1024;
// A replicated batch's first timestamp must lie in [0, this] (ms; year ~285,000):
// storage adds intervals to it and subtracts it from the clock.
constexpr int64_t kMaxReplicaTimestampMs = int64_t{1} << 53;

// Where a $replicate message goes: views into its topic.
struct ReplicaTarget {
  std::string_view origin, stream;
  uint32_t partition = 0;
};

// One stored batch in a $replicate message: a view into the payload.
struct ReplicaFrame {
  uint64_t base = 0;
  uint32_t count = 0;
  std::string_view bytes;
};

// The node_id rules, shared by the configuration (config.cc) and the upstream
// side: 1-64 bytes, no leading '$', none of '/', '+', '#', '.' or control
// characters and spaces (streams upstream are named "<origin>.<stream>").
constexpr size_t kMaxOrigin = 64;
inline bool ValidOriginChar(char ch) {
  return ch != '/' && ch != '+' && ch != '#' && ch != '.' && static_cast<unsigned char>(ch) > ' ';
}
inline bool ValidOrigin(std::string_view s) {
  if (s.empty() || s.size() > kMaxOrigin || s[0] == '$') return false;
  for (char ch : s) {
    if (!ValidOriginChar(ch)) return false;
  }
  return true;
}
// Stream name rules (config.cc): 1-64 of [A-Za-z0-9_-].
bool ValidStream(std::string_view s);
// A decimal number of 1-10 digits, at most `max`.
bool ParseNumber(std::string_view s, uint64_t max, uint64_t* out);
// Splits $replicate/<origin>/<stream>/<partition>; false when the topic does
// not have that form or a part breaks its rule (the partition must be below
// kMaxReplicaPartitions).
bool ParseReplicaTopic(std::string_view topic, ReplicaTarget* t);
// Splits the payload into frames (at least one). Only the framing is checked
// here: each batch's header must fit and its body length must stay inside the
// payload, counts are > 0 and bases increase (each at least the previous base
// + count). The storage writer checks each batch (magic, lengths, CRC, records).
bool SplitReplicaFrames(std::string_view payload, std::vector<ReplicaFrame>* out);

}  // namespace trib
