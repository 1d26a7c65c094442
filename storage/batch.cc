// Batch and record encoding; see batch.h and storage/FORMAT.md.

#include "storage/batch.h"

#include <zstd.h>

#include <cstring>

#include "storage/crc32c.h"

namespace trib::storage {
namespace {

constexpr char kMagic0 = 'T';
constexpr char kMagic1 = 'B';
constexpr int kZstdLevel = 1;  // fast; edge gateways have little CPU to spare

void Put32(char* p, uint32_t v) { std::memcpy(p, &v, 4); }
void Put64(char* p, uint64_t v) { std::memcpy(p, &v, 8); }
uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

void WriteHeader(char* dst, uint8_t flags, uint32_t count, int64_t ts, uint32_t body_len,
                 uint32_t raw_len) {
  dst[0] = kMagic0;
  dst[1] = kMagic1;
  dst[2] = static_cast<char>(kBatchVersion);
  dst[3] = static_cast<char>(flags);
  Put32(dst + 4, count);
  Put64(dst + 8, static_cast<uint64_t>(ts));
  Put32(dst + 16, body_len);
  Put32(dst + 20, raw_len);
  Put32(dst + 28, 0);
}

// Reads one length-prefixed field; false when it passes `end`.
bool GetField(const uint8_t** p, const uint8_t* end, std::string_view* out) {
  uint64_t n;
  if (!GetVarint(p, end, &n) || n > static_cast<uint64_t>(end - *p)) return false;
  *out = std::string_view(reinterpret_cast<const char*>(*p), n);
  *p += n;
  return true;
}

}  // namespace

void AppendRecord(std::string* out, const RecordIn& r, int64_t ts_delta) {
  const uint64_t zts = ZigZag(ts_delta);
  const size_t inner = 1 + VarintLength(zts) + VarintLength(r.key.size()) + r.key.size() +
                       VarintLength(r.topic.size()) + r.topic.size() +
                       VarintLength(r.properties.size()) + r.properties.size() +
                       VarintLength(r.payload.size()) + r.payload.size();
  const size_t old = out->size();
  out->resize(old + VarintLength(inner) + inner);
  char* p = out->data() + old;
  p = EncodeVarint(p, inner);
  *p++ = static_cast<char>((r.qos & 3) | (r.retain ? 4 : 0));
  p = EncodeVarint(p, zts);
  for (std::string_view f : {r.key, r.topic, r.properties, r.payload}) {
    p = EncodeVarint(p, f.size());
    if (!f.empty()) std::memcpy(p, f.data(), f.size());
    p += f.size();
  }
}

bool PeekHeader(const void* value, size_t size, BatchHeader* h) {
  const auto* p = static_cast<const uint8_t*>(value);
  if (size < kBatchHeaderBytes || p[0] != kMagic0 || p[1] != kMagic1) return false;
  h->flags = p[3];
  h->count = Get32(p + 4);
  h->first_ts = static_cast<int64_t>(Get64(p + 8));
  h->body_len = Get32(p + 16);
  h->raw_len = Get32(p + 20);
  h->crc = Get32(p + 24);
  return true;
}

const char* CheckBatch(const void* value, size_t size, BatchHeader* h, bool verify_crc) {
  const auto* p = static_cast<const uint8_t*>(value);
  if (!PeekHeader(value, size, h)) return "bad magic or short value";
  if (p[2] != kBatchVersion) return "unknown batch version";
  if ((h->flags & ~kCompressionMask) != 0 || (h->flags & kCompressionMask) > kFlagZstd)
    return "unknown flags";
  if (size - kBatchHeaderBytes != h->body_len) return "body length mismatch";
  if (h->count == 0) return "empty batch";
  if (h->raw_len > kMaxRawBody) return "raw length too large";
  if (h->count > h->raw_len / kMinRecordBytes) return "more records than the body can hold";
  if ((h->flags & kCompressionMask) == 0 && h->raw_len != h->body_len) return "raw length mismatch";
  if (!verify_crc) return nullptr;
  uint32_t crc = Crc32cExtend(0, p, 24);
  crc = Crc32cExtend(crc, p + kBatchHeaderBytes, h->body_len);
  if (crc != h->crc) return "CRC mismatch";
  return nullptr;
}

const char* BatchBody(const void* value, const BatchHeader& h, std::string* scratch,
                      std::string_view* body) {
  const char* stored = static_cast<const char*>(value) + kBatchHeaderBytes;
  if ((h.flags & kCompressionMask) == 0) {
    *body = std::string_view(stored, h.body_len);
    return nullptr;
  }
  unsigned long long content = ZSTD_getFrameContentSize(stored, h.body_len);
  if (content != h.raw_len) return "zstd frame size mismatch";
  thread_local std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(),
                                                                       ZSTD_freeDCtx);
  if (!dctx) return "zstd context allocation failed";
  scratch->resize(h.raw_len);
  size_t n = ZSTD_decompressDCtx(dctx.get(), scratch->data(), h.raw_len, stored, h.body_len);
  if (ZSTD_isError(n) || n != h.raw_len) return "zstd decompression failed";
  *body = std::string_view(*scratch);
  return nullptr;
}

void EncodeBatch(char* dst, std::span<const Chunk> chunks, uint32_t count, int64_t ts) {
  size_t len = 0;
  char* body = dst + kBatchHeaderBytes;
  for (const Chunk& c : chunks) {
    std::memcpy(body + len, c.data, c.size);
    len += c.size;
  }
  WriteHeader(dst, 0, count, ts, static_cast<uint32_t>(len), static_cast<uint32_t>(len));
  uint32_t crc = Crc32cExtend(0, dst, 24);
  Put32(dst + 24, Crc32cExtend(crc, body, len));
}

namespace {

// CheckBatch with the CRC, BatchBody, then every record; appends the records
// to *out unless it is null. Returns nullptr or why the batch is corrupt.
const char* DecodeRecords(const void* data, size_t size, BatchHeader* h, std::string* scratch,
                          std::vector<RecordView>* out) {
  if (const char* why = CheckBatch(data, size, h)) return why;
  std::string_view body;
  if (const char* why = BatchBody(data, *h, scratch, &body)) return why;
  RecordReader reader(body);
  RecordView v;
  uint32_t n = 0;
  if (out != nullptr) out->reserve(h->count);
  while (n <= h->count && reader.Next(&v)) {
    if (out != nullptr) out->push_back(v);
    n++;
  }
  if (reader.failed()) return "malformed record";
  if (n != h->count || reader.position() != body.data() + body.size())
    return "record count mismatch";
  return nullptr;
}

}  // namespace

const char* ValidateBatch(std::string_view value, BatchHeader* h, std::string* scratch) {
  return DecodeRecords(value.data(), value.size(), h, scratch, nullptr);
}

const char* DecodeBatch(const void* data, size_t size, BatchHeader* h, std::string* scratch,
                        std::vector<RecordView>* out) {
  out->clear();
  return DecodeRecords(data, size, h, scratch, out);
}

bool TrimBatch(std::string_view value, uint32_t skip, Compressor* zstd, std::string* out) {
  BatchHeader h;
  std::string scratch;
  std::string_view body;
  if (CheckBatch(value.data(), value.size(), &h, false) != nullptr ||
      BatchBody(value.data(), h, &scratch, &body) != nullptr || skip == 0 || skip >= h.count)
    return false;
  RecordReader reader(body);
  for (uint32_t i = 0; i < skip; i++) {
    if (!reader.Skip()) return false;
  }
  std::string raw;
  RecordView v;
  int64_t first_ts = 0;
  uint32_t n = 0;
  while (reader.Next(&v)) {
    const int64_t ts = RecordTime(h.first_ts, v.ts_delta);
    if (n == 0) first_ts = ts;
    RecordIn r{v.key, v.topic, v.payload, v.properties, v.qos, v.retain};
    AppendRecord(&raw, r, RecordDelta(ts, first_ts));
    n++;
  }
  if (reader.failed() || n != h.count - skip) return false;
  if ((h.flags & kCompressionMask) == kFlagZstd && zstd->Encode(raw, n, first_ts, out)) return true;
  out->resize(kBatchHeaderBytes + raw.size());
  const Chunk chunk{raw.data(), raw.size()};
  EncodeBatch(out->data(), std::span<const Chunk>(&chunk, 1), n, first_ts);
  return true;
}

struct Compressor::Rep {
  ZSTD_CCtx* cctx = ZSTD_createCCtx();
  ~Rep() { ZSTD_freeCCtx(cctx); }
};

Compressor::Compressor() : rep_(std::make_unique<Rep>()) {}
Compressor::~Compressor() = default;

bool Compressor::Encode(std::string_view raw, uint32_t count, int64_t ts, std::string* out) {
  if (rep_->cctx == nullptr || raw.size() > kMaxRawBody) return false;
  const size_t bound = ZSTD_compressBound(raw.size());
  out->resize(kBatchHeaderBytes + bound);
  char* body = out->data() + kBatchHeaderBytes;
  size_t n = ZSTD_compressCCtx(rep_->cctx, body, bound, raw.data(), raw.size(), kZstdLevel);
  if (ZSTD_isError(n) || n >= raw.size()) return false;
  out->resize(kBatchHeaderBytes + n);
  char* dst = out->data();
  WriteHeader(dst, kFlagZstd, count, ts, static_cast<uint32_t>(n),
              static_cast<uint32_t>(raw.size()));
  uint32_t crc = Crc32cExtend(0, dst, 24);
  Put32(dst + 24, Crc32cExtend(crc, dst + kBatchHeaderBytes, n));
  return true;
}

size_t RecordSpan(const char* p, const char* end) {
  const auto* u = reinterpret_cast<const uint8_t*>(p);
  const auto* e = reinterpret_cast<const uint8_t*>(end);
  uint64_t len;
  if (!GetVarint(&u, e, &len) || len == 0 || len > static_cast<uint64_t>(e - u)) return 0;
  return static_cast<size_t>(reinterpret_cast<const char*>(u) - p) + len;
}

bool RecordReader::Skip() {
  if (failed_ || p_ == end_) return false;
  const size_t span = RecordSpan(p_, end_);
  if (span == 0) {
    failed_ = true;
    return false;
  }
  p_ += span;
  return true;
}

bool RecordReader::Next(RecordView* out) {
  if (failed_ || p_ == end_) return false;
  const size_t span = RecordSpan(p_, end_);
  if (span == 0) {
    failed_ = true;
    return false;
  }
  const auto* u = reinterpret_cast<const uint8_t*>(p_);
  const auto* rec_end = u + span;
  uint64_t len, zts;
  GetVarint(&u, rec_end, &len);  // checked by RecordSpan
  const uint8_t attrs = *u++;
  bool ok = (attrs & ~7u) == 0 && (attrs & 3) != 3 && GetVarint(&u, rec_end, &zts) &&
            GetField(&u, rec_end, &out->key) && GetField(&u, rec_end, &out->topic) &&
            GetField(&u, rec_end, &out->properties) && GetField(&u, rec_end, &out->payload) &&
            u == rec_end;
  if (!ok) {
    failed_ = true;
    return false;
  }
  out->ts_delta = UnZigZag(zts);
  out->qos = attrs & 3;
  out->retain = (attrs & 4) != 0;
  out->encoded = std::string_view(p_, span);
  p_ += span;
  return true;
}

}  // namespace trib::storage
