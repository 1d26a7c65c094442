// Batch and record encoding (storage/FORMAT.md, "Batches"): varints, the
// 32-byte batch header with its CRC32C, zstd bodies, and a bounds-checked
// record reader that accepts any bytes.
//
// Thread: values and pure functions, except Compressor (one per thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "storage/log.h"

namespace trib::storage {

constexpr size_t kBatchHeaderBytes = 32;
constexpr size_t kMaxBatchBody = size_t{256} << 10;  // split point for one batch value
constexpr uint8_t kBatchVersion = 1;
constexpr uint8_t kFlagZstd = 1;
constexpr uint8_t kCompressionMask = 3;
constexpr uint32_t kMaxRawBody = uint32_t{1} << 30;    // a decoder refuses more
constexpr size_t kMaxRecordBytes = size_t{256} << 20;  // the MQTT packet limit
// The smallest record: its length, attributes, timestamp delta and four empty
// fields, one byte each. A header claiming more records than its raw body can
// hold at this size is corrupt (readers size their record lists by the count).
constexpr size_t kMinRecordBytes = 7;

// LEB128 varints (at most 10 bytes) and zigzag for signed values.
inline size_t VarintLength(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}
inline char* EncodeVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}
// Reads a varint from [*p, end); false when truncated or longer than 10 bytes.
inline bool GetVarint(const uint8_t** p, const uint8_t* end, uint64_t* v) {
  uint64_t result = 0;
  for (int shift = 0; shift < 70 && *p < end; shift += 7) {
    uint8_t b = *(*p)++;
    result |= uint64_t{b & 0x7Fu} << shift;
    if (b < 0x80) {
      *v = result;
      return true;
    }
  }
  return false;
}
inline uint64_t ZigZag(int64_t v) {
  // All ones for a negative value, zero otherwise, without shifting a signed value.
  uint64_t sign = v < 0 ? ~uint64_t{0} : 0;
  return (static_cast<uint64_t>(v) << 1) ^ sign;
}
inline int64_t UnZigZag(uint64_t v) {
  return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1);
}

// A record's timestamp: its batch's first timestamp plus its delta. Neither
// is bounded (a peer's batch may carry any values), so the sum wraps modulo
// 2^64 rather than overflow; RecordDelta is its inverse.
inline int64_t RecordTime(int64_t first_ts, int64_t delta) {
  return static_cast<int64_t>(static_cast<uint64_t>(first_ts) + static_cast<uint64_t>(delta));
}
inline int64_t RecordDelta(int64_t ts, int64_t first_ts) {
  return static_cast<int64_t>(static_cast<uint64_t>(ts) - static_cast<uint64_t>(first_ts));
}

// Appends one record in the raw-body encoding with the given timestamp delta.
void AppendRecord(std::string* out, const RecordIn& r, int64_t ts_delta);

struct BatchHeader {
  uint8_t flags = 0;
  uint32_t count = 0;
  int64_t first_ts = 0;
  uint32_t body_len = 0;
  uint32_t raw_len = 0;
  uint32_t crc = 0;
};

// Reads the header fields without checking the CRC (the batch may still be
// corrupt). False when the value is too short or the magic is wrong.
bool PeekHeader(const void* value, size_t size, BatchHeader* h);
// Checks magic, version, flags, lengths and (unless verify_crc is false:
// the caller verified this batch before) the CRC. Returns nullptr when the
// batch is sound, else a short reason for logs.
const char* CheckBatch(const void* value, size_t size, BatchHeader* h, bool verify_crc = true);
// The raw body of a checked batch: a view into the value, or for zstd the
// decompressed bytes in *scratch. Returns nullptr or a reason.
const char* BatchBody(const void* value, const BatchHeader& h, std::string* scratch,
                      std::string_view* body);

// Checks a batch that came from outside (replication) as a reader would
// before trusting any of it: CheckBatch with the CRC, then that the body
// decodes into exactly h->count well-formed records. *scratch holds a
// decompressed body. Returns nullptr or a short reason.
const char* ValidateBatch(std::string_view value, BatchHeader* h, std::string* scratch);

// One contiguous piece of raw body (encoded records) to put in a batch.
struct Chunk {
  const char* data;
  size_t size;
};
// Writes a complete uncompressed batch into dst, which has room for
// kBatchHeaderBytes + the chunks' total size.
void EncodeBatch(char* dst, std::span<const Chunk> chunks, uint32_t count, int64_t ts);

// A reusable zstd context for the writer thread.
class Compressor {
 public:
  Compressor();
  ~Compressor();
  Compressor(const Compressor&) = delete;
  Compressor& operator=(const Compressor&) = delete;
  // Builds a complete zstd batch of `raw` in *out. Returns false (out is
  // unspecified) when compression does not make the body smaller.
  bool Encode(std::string_view raw, uint32_t count, int64_t ts, std::string* out);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Builds in *out a batch of the records of `value` (a validated batch) from
// position `skip` (0 < skip < count) on, keeping their timestamps; zstd when
// `value` was zstd and compression helps. False when `value` does not decode.
bool TrimBatch(std::string_view value, uint32_t skip, Compressor* zstd, std::string* out);

// One decoded record: views into the body it came from.
struct RecordView {
  int64_t ts_delta = 0;
  uint8_t qos = 0;
  bool retain = false;
  std::string_view key, topic, properties, payload;
  std::string_view encoded;  // the whole record, length prefix included
};

// Bytes of the record starting at p (length prefix included), or 0 when its
// length prefix is malformed or passes `end`.
size_t RecordSpan(const char* p, const char* end);

// Decodes a whole batch as ValidateBatch checks it, into `out` (views into the
// value or *scratch). Returns nullptr or why the batch is corrupt.
const char* DecodeBatch(const void* data, size_t size, BatchHeader* h, std::string* scratch,
                        std::vector<RecordView>* out);

// Walks the records of a raw body. Next() returns false at the end or on the
// first malformed record; failed() tells which.
class RecordReader {
 public:
  explicit RecordReader(std::string_view body) : p_(body.data()), end_(body.data() + body.size()) {}
  bool Next(RecordView* out);
  // Steps over one record without decoding its fields.
  bool Skip();
  bool failed() const { return failed_; }
  const char* position() const { return p_; }

 private:
  const char* p_;
  const char* end_;
  bool failed_ = false;
};

}  // namespace trib::storage
