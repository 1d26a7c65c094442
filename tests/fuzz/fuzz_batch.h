// Shared code of the fuzz targets that feed stored batches (storage/batch.h):
// a hostile peer computes the CRC of what it sends, so the targets can put a
// right CRC (and body length) into fuzzed bytes to get past those checks.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

#include "storage/batch.h"
#include "storage/crc32c.h"

namespace batch_fuzz {

inline uint32_t Le32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Makes the header's body length match the value's size. REQUIRES: size >= 32.
inline void FixBodyLength(char* value, size_t size) {
  const uint32_t body = static_cast<uint32_t>(size - trib::storage::kBatchHeaderBytes);
  std::memcpy(value + 16, &body, 4);
}

// Writes the CRC32C the format wants (header bytes 0..23, then the body).
// REQUIRES: size >= 32.
inline void FixCrc(char* value, size_t size) {
  using trib::storage::kBatchHeaderBytes;
  uint32_t crc = trib::storage::Crc32cExtend(0, value, 24);
  crc = trib::storage::Crc32cExtend(crc, value + kBatchHeaderBytes, size - kBatchHeaderBytes);
  std::memcpy(value + 24, &crc, 4);
}

// `a` lies inside `outer`.
inline bool Inside(std::string_view a, std::string_view outer) {
  return a.data() >= outer.data() && a.data() + a.size() <= outer.data() + outer.size();
}

}  // namespace batch_fuzz
