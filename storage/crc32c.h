// CRC32C (Castagnoli), as used by the batch format (storage/FORMAT.md).
//
// Uses the SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time) and a slicing-by-8 table otherwise. Both give the same result.
//
// Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>

namespace trib::storage {

// Extends `crc` (0 for a fresh checksum) with n bytes.
uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t n);
inline uint32_t Crc32c(const void* data, size_t n) { return Crc32cExtend(0, data, n); }

// The two implementations, for tests: the hardware one returns false when the
// CPU lacks SSE4.2.
uint32_t Crc32cSoftwareForTest(uint32_t crc, const void* data, size_t n);
bool Crc32cHardwareForTest(uint32_t crc, const void* data, size_t n, uint32_t* out);

}  // namespace trib::storage
