// Variable Byte Integer (MQTT 5 section 1.5.5; the 3.1.1 Remaining Length
// encoding, section 2.2.3): 7 bits per byte, least significant group first,
// the high bit set on every byte but the last, at most four bytes.
//
// Thread: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "daemon/mqtt/types.h"

namespace trib::mqtt {

enum class VarintResult : uint8_t { kOk, kNeedMore, kMalformed };

// Decodes a Variable Byte Integer from data[0..len). On kOk sets *value and
// *used (1..4). kNeedMore: the bytes end before the last byte of the integer.
// kMalformed: a fifth byte would be needed, or the encoding is not minimal
// (a trailing 0x00 group, [MQTT-1.5.5-1]).
VarintResult DecodeVarint(const uint8_t* data, size_t len, uint32_t* value, size_t* used);

// The number of bytes EncodeVarint writes for `v` (1..4).
// REQUIRES: v <= kMaxVarint.
constexpr size_t VarintSize(uint32_t v) {
  return v < 128u ? 1 : v < 16384u ? 2 : v < 2097152u ? 3 : 4;
}

// Writes `v` at `p` and returns the position after it.
// REQUIRES: v <= kMaxVarint; p has room for VarintSize(v) bytes.
inline uint8_t* WriteVarint(uint8_t* p, uint32_t v) {
  while (v >= 128) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}

// Appends `v` to `out`. REQUIRES: v <= kMaxVarint.
void AppendVarint(std::string* out, uint32_t v);

}  // namespace trib::mqtt
