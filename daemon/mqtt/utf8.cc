// UTF-8 validation: an eight-bytes-at-a-time ASCII fast path (topics and client
// ids are nearly always ASCII), then a byte-wise check of multi-byte sequences
// following the well-formed table of Unicode 15, section 3.9 (Table 3-7).

#include "daemon/mqtt/utf8.h"

#include <cstdint>
#include <cstring>

namespace trib::mqtt {

namespace {

constexpr uint64_t kOnes = 0x0101010101010101ull;
constexpr uint64_t kHighs = 0x8080808080808080ull;

// True if none of the 8 bytes is 0x00 or >= 0x80.
inline bool PlainAscii8(const unsigned char* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  const uint64_t has_zero = (v - kOnes) & ~v & kHighs;
  return ((v & kHighs) | has_zero) == 0;
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const unsigned char* end = p + s.size();
  while (p < end) {
    if (end - p >= 8 && PlainAscii8(p)) {
      p += 8;
      continue;
    }
    const unsigned char c = *p;
    if (c < 0x80) {
      if (c == 0) return false;  // [MQTT-1.5.4-2]
      ++p;
      continue;
    }
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates U+D800..U+DFFF [MQTT-1.5.4-1]
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return false;  // continuation byte, overlong C0/C1, or F5..FF
    }
    if (static_cast<size_t>(end - p) < n) return false;
    if (p[1] < lo || p[1] > hi) return false;
    for (size_t i = 2; i < n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
    }
    p += n;
  }
  return true;
}

}  // namespace trib::mqtt
