// Key and small-value encodings; see keys.h and storage/FORMAT.md.

#include "storage/keys.h"

#include <xxhash.h>

#include <cstring>

#include "storage/batch.h"

namespace trib::storage {

void PutBE64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = static_cast<char>(v & 0xFF);
}
uint64_t GetBE64(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | b[i];
  return v;
}
void PutBE32(char* p, uint32_t v) {
  for (int i = 3; i >= 0; i--, v >>= 8) p[i] = static_cast<char>(v & 0xFF);
}
uint32_t GetBE32(const void* p) {
  const auto* b = static_cast<const uint8_t*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}
uint64_t TimeKey(int64_t ts) { return static_cast<uint64_t>(ts) ^ (uint64_t{1} << 63); }
int64_t TimeFromKey(uint64_t key) { return static_cast<int64_t>(key ^ (uint64_t{1} << 63)); }

std::string DataDbName(StreamId id, uint32_t partition) {
  return "p/" + std::to_string(id) + "/" + std::to_string(partition);
}
std::string TimeDbName(StreamId id, uint32_t partition) {
  return "t/" + std::to_string(id) + "/" + std::to_string(partition);
}
std::string EndMarkerKey(StreamId id, uint32_t partition) {
  return "e/" + std::to_string(id) + "/" + std::to_string(partition);
}

std::string NameKey(std::string_view name) {
  if (name.size() <= kMaxShortName) return std::string(name);
  std::string key(name.substr(0, kLongNamePrefix));
  key.push_back('\xFF');
  XXH128_hash_t h = XXH3_128bits(name.data(), name.size());
  char buf[16];
  PutBE64(buf, h.high64);
  PutBE64(buf + 8, h.low64);
  key.append(buf, 16);
  return key;
}

bool IsLongNameKey(std::string_view key) { return key.size() == kLongNameKey; }

std::string NameValue(std::string_view name, std::string_view value) {
  if (name.size() <= kMaxShortName) return std::string(value);
  std::string out(VarintLength(name.size()), '\0');
  EncodeVarint(out.data(), name.size());
  out.append(name);
  out.append(value);
  return out;
}

bool SplitNameValue(std::string_view key, std::string_view stored, std::string_view* name,
                    std::string_view* value) {
  if (!IsLongNameKey(key)) {
    *name = key;
    *value = stored;
    return key.size() <= kMaxShortName;
  }
  const auto* p = reinterpret_cast<const uint8_t*>(stored.data());
  const auto* end = p + stored.size();
  uint64_t n;
  if (!GetVarint(&p, end, &n) || n > static_cast<uint64_t>(end - p)) return false;
  *name = std::string_view(reinterpret_cast<const char*>(p), n);
  *value = std::string_view(reinterpret_cast<const char*>(p) + n, end - p - n);
  return true;
}

std::string CursorPrefix(std::string_view consumer) {
  std::string nk = NameKey(consumer);
  std::string out(2, '\0');
  out[0] = static_cast<char>(nk.size() >> 8);
  out[1] = static_cast<char>(nk.size() & 0xFF);
  out.append(nk);
  return out;
}

std::string CursorKey(std::string_view consumer, StreamId stream, uint32_t partition) {
  std::string out = CursorPrefix(consumer);
  char buf[8];
  PutBE32(buf, stream);
  PutBE32(buf + 4, partition);
  out.append(buf, 8);
  return out;
}

bool ParseCursorKey(std::string_view key, size_t prefix_len, StreamId* stream,
                    uint32_t* partition) {
  if (key.size() != prefix_len + 8) return false;
  *stream = GetBE32(key.data() + prefix_len);
  *partition = GetBE32(key.data() + prefix_len + 4);
  return true;
}

namespace {
constexpr size_t kStreamDefBytes = 1 + 4 + 4 + 8 + 8 + 1 + 1;
}

std::string EncodeStreamDef(StreamId id, const StreamSpec& spec) {
  std::string out(kStreamDefBytes, '\0');
  char* p = out.data();
  *p++ = 1;
  std::memcpy(p, &id, 4);
  std::memcpy(p + 4, &spec.partitions, 4);
  std::memcpy(p + 8, &spec.max_age_ms, 8);
  std::memcpy(p + 16, &spec.max_bytes, 8);
  p[24] = spec.on_full == OnFull::kReject ? 1 : 0;
  p[25] = spec.compression == Compression::kZstd ? 1 : 0;
  return out;
}

bool DecodeStreamDef(std::string_view value, StreamId* id, StreamSpec* spec) {
  if (value.size() != kStreamDefBytes || value[0] != 1) return false;
  const char* p = value.data() + 1;
  std::memcpy(id, p, 4);
  std::memcpy(&spec->partitions, p + 4, 4);
  std::memcpy(&spec->max_age_ms, p + 8, 8);
  std::memcpy(&spec->max_bytes, p + 16, 8);
  if (p[24] > 1 || p[25] > 1 || spec->partitions == 0) return false;
  spec->on_full = p[24] ? OnFull::kReject : OnFull::kDropOldest;
  spec->compression = p[25] ? Compression::kZstd : Compression::kNone;
  return true;
}

}  // namespace trib::storage
