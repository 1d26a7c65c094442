// The $replicate wire format; see replicate_wire.h.

#include "daemon/replicate_wire.h"

#include <cctype>
#include <cstring>

namespace trib {
namespace {

constexpr size_t kMaxStream = 64;
constexpr size_t kFrameHeader = 8;  // base offset, u64 big-endian, before each batch
constexpr size_t kBatchHeader = 32;

uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint32_t GetLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

}  // namespace

bool ValidStream(std::string_view s) {
  if (s.empty() || s.size() > kMaxStream) return false;
  for (char ch : s) {
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') return false;
  }
  return true;
}

bool ParseNumber(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

bool ParseReplicaTopic(std::string_view topic, ReplicaTarget* t) {
  if (topic.substr(0, kReplicatePrefix.size()) != kReplicatePrefix) return false;
  std::string_view rest = topic.substr(kReplicatePrefix.size());
  size_t a = rest.find('/');
  if (a == std::string_view::npos) return false;
  size_t b = rest.find('/', a + 1);
  if (b == std::string_view::npos || rest.find('/', b + 1) != std::string_view::npos) return false;
  t->origin = rest.substr(0, a);
  t->stream = rest.substr(a + 1, b - a - 1);
  uint64_t p = 0;
  if (!ValidOrigin(t->origin) || !ValidStream(t->stream) ||
      !ParseNumber(rest.substr(b + 1), kMaxReplicaPartitions - 1, &p))
    return false;
  t->partition = static_cast<uint32_t>(p);
  return true;
}

bool SplitReplicaFrames(std::string_view payload, std::vector<ReplicaFrame>* out) {
  out->clear();
  while (!payload.empty()) {
    if (payload.size() < kFrameHeader + kBatchHeader) return false;
    const char* p = payload.data();
    const uint64_t body = GetLE32(p + kFrameHeader + 16);
    const uint64_t len = kBatchHeader + body;
    if (len > payload.size() - kFrameHeader) return false;
    ReplicaFrame f;
    f.base = GetBE64(p);
    f.count = GetLE32(p + kFrameHeader + 4);
    f.bytes = payload.substr(kFrameHeader, len);
    if (f.count == 0 || f.base > UINT64_MAX - f.count) return false;
    if (!out->empty() && f.base < out->back().base + out->back().count) return false;
    out->push_back(f);
    payload.remove_prefix(kFrameHeader + len);
  }
  return !out->empty();
}

}  // namespace trib
