// The benchmark payload header: what a subscriber needs to measure latency
// and find lost, duplicated and reordered messages. The rest of the payload
// is filler up to the configured size.
//
//   offset 0  u32 magic "TRB1"
//   offset 4  u32 run id (random per loadgen run; other runs' messages are "foreign")
//   offset 8  u32 publisher index
//   offset 12 u32 reserved (0)
//   offset 16 u64 sequence number within the publisher, from 0
//   offset 24 u64 send time, CLOCK_MONOTONIC nanoseconds
//
// Native byte order: only the process that wrote a payload reads it.
// Thread: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace trib::loadgen {

inline constexpr size_t kHeaderBytes = 32;
inline constexpr uint32_t kMagic = 0x31425254;  // "TRB1" little-endian

struct PayloadHeader {
  uint32_t run_id = 0;
  uint32_t publisher = 0;
  uint64_t seq = 0;
  uint64_t sent_ns = 0;
};

// REQUIRES: buf has at least kHeaderBytes.
inline void WriteHeader(char* buf, const PayloadHeader& h) {
  const uint32_t magic = kMagic, reserved = 0;
  std::memcpy(buf, &magic, 4);
  std::memcpy(buf + 4, &h.run_id, 4);
  std::memcpy(buf + 8, &h.publisher, 4);
  std::memcpy(buf + 12, &reserved, 4);
  std::memcpy(buf + 16, &h.seq, 8);
  std::memcpy(buf + 24, &h.sent_ns, 8);
}

// False when the payload is too short or lacks the magic (not ours).
inline bool ReadHeader(std::string_view p, PayloadHeader* h) {
  if (p.size() < kHeaderBytes) return false;
  uint32_t magic;
  std::memcpy(&magic, p.data(), 4);
  if (magic != kMagic) return false;
  std::memcpy(&h->run_id, p.data() + 4, 4);
  std::memcpy(&h->publisher, p.data() + 8, 4);
  std::memcpy(&h->seq, p.data() + 16, 8);
  std::memcpy(&h->sent_ns, p.data() + 24, 8);
  return true;
}

}  // namespace trib::loadgen
