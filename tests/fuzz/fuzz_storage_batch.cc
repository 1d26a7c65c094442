// Fuzz target: stored batch decoding (storage/batch.h): PeekHeader,
// CheckBatch, ValidateBatch, DecodeBatch, RecordReader and TrimBatch, which
// read a peer's $replicate batches and whatever is on disk.
//
// Input: byte 0 holds flags, the rest is the batch value. Flag bit 0 sets the
// header's body length to the value's, bit 1 writes the right CRC (a peer that
// means harm computes it), bits 2-7 pick how many records TrimBatch drops.
// Invariants:
//   - PeekHeader accepts exactly the values of 32 bytes or more with the magic;
//     CheckBatch accepts nothing PeekHeader refuses, and what it accepts with
//     the CRC it accepts without;
//   - ValidateBatch and DecodeBatch agree, and accept only what CheckBatch
//     accepts; then DecodeBatch yields exactly the header's count of records,
//     which tile the body (each record's fields inside it), and RecordReader's
//     Skip walks the same records;
//   - the decoded records, encoded again, decode to the same records;
//   - TrimBatch of an accepted batch keeps the records after the skipped ones,
//     with the same absolute timestamps.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/batch.h"
#include "tests/fuzz/fuzz_batch.h"
#include "tests/fuzz/fuzz_check.h"

using namespace trib::storage;
using batch_fuzz::Inside;

namespace {

bool SameFields(const RecordView& a, const RecordView& b) {
  return a.key == b.key && a.topic == b.topic && a.properties == b.properties &&
         a.payload == b.payload && a.qos == b.qos && a.retain == b.retain;
}

// The records of an accepted batch: they tile `body`, each field inside its record.
void CheckRecords(std::string_view body, const std::vector<RecordView>& views) {
  const char* at = body.data();
  for (const RecordView& v : views) {
    FUZZ_CHECK(v.encoded.data() == at && Inside(v.encoded, body));
    FUZZ_CHECK(RecordSpan(v.encoded.data(), body.data() + body.size()) == v.encoded.size());
    for (std::string_view f : {v.key, v.topic, v.properties, v.payload}) {
      FUZZ_CHECK(Inside(f, v.encoded));
    }
    FUZZ_CHECK(v.qos <= 2);
    at += v.encoded.size();
  }
  FUZZ_CHECK(at == body.data() + body.size());
  RecordReader skipper(body);
  for (const RecordView& v : views) {
    FUZZ_CHECK(skipper.Skip());
    FUZZ_CHECK(skipper.position() == v.encoded.data() + v.encoded.size());
  }
  FUZZ_CHECK(!skipper.Skip() && !skipper.failed());
}

// Encodes the records again (uncompressed); they must decode to the same records.
void CheckReencode(const BatchHeader& h, const std::vector<RecordView>& views) {
  std::string raw;
  for (const RecordView& v : views) {
    AppendRecord(&raw, RecordIn{v.key, v.topic, v.payload, v.properties, v.qos, v.retain},
                 v.ts_delta);
  }
  std::string value(kBatchHeaderBytes + raw.size(), '\0');
  const Chunk chunk{raw.data(), raw.size()};
  EncodeBatch(value.data(), std::span<const Chunk>(&chunk, 1), h.count, h.first_ts);
  BatchHeader h2;
  std::string scratch;
  std::vector<RecordView> again;
  FUZZ_CHECK(DecodeBatch(value.data(), value.size(), &h2, &scratch, &again) == nullptr);
  FUZZ_CHECK(h2.count == h.count && h2.first_ts == h.first_ts && again.size() == views.size());
  for (size_t i = 0; i < views.size(); i++) {
    FUZZ_CHECK(SameFields(views[i], again[i]) && views[i].ts_delta == again[i].ts_delta);
  }
}

void CheckTrim(std::string_view value, const BatchHeader& h, const std::vector<RecordView>& views,
               uint32_t skip) {
  static Compressor zstd;
  std::string out;
  FUZZ_CHECK(!TrimBatch(value, 0, &zstd, &out));
  FUZZ_CHECK(!TrimBatch(value, h.count, &zstd, &out));
  if (h.count < 2) return;
  skip = 1 + skip % (h.count - 1);
  FUZZ_CHECK(TrimBatch(value, skip, &zstd, &out));
  BatchHeader t;
  std::string scratch;
  std::vector<RecordView> kept;
  FUZZ_CHECK(DecodeBatch(out.data(), out.size(), &t, &scratch, &kept) == nullptr);
  FUZZ_CHECK(t.count == h.count - skip && kept.size() == t.count);
  FUZZ_CHECK((t.flags & kCompressionMask) <= (h.flags & kCompressionMask));
  for (uint32_t i = 0; i < t.count; i++) {
    const RecordView& a = views[skip + i];
    FUZZ_CHECK(SameFields(a, kept[i]));
    FUZZ_CHECK(RecordTime(h.first_ts, a.ts_delta) == RecordTime(t.first_ts, kept[i].ts_delta));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  std::string value(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (value.size() >= kBatchHeaderBytes) {
    if (flags & 1) batch_fuzz::FixBodyLength(value.data(), value.size());
    if (flags & 2) batch_fuzz::FixCrc(value.data(), value.size());
  }

  BatchHeader peek;
  const bool peeked = PeekHeader(value.data(), value.size(), &peek);
  FUZZ_CHECK(peeked == (value.size() >= kBatchHeaderBytes && value[0] == 'T' && value[1] == 'B'));
  BatchHeader h, h_nocrc;
  const char* checked = CheckBatch(value.data(), value.size(), &h);
  const char* checked_nocrc = CheckBatch(value.data(), value.size(), &h_nocrc, false);
  FUZZ_CHECK(peeked || (checked != nullptr && checked_nocrc != nullptr));
  if (checked == nullptr) {
    FUZZ_CHECK(checked_nocrc == nullptr);
    FUZZ_CHECK(h.count == peek.count && h.first_ts == peek.first_ts && h.flags == peek.flags);
    FUZZ_CHECK(h.count > 0 && h.body_len == value.size() - kBatchHeaderBytes);
    FUZZ_CHECK(h.raw_len <= kMaxRawBody);
    FUZZ_CHECK((h.flags & kCompressionMask) != 0 || h.raw_len == h.body_len);
  }

  BatchHeader hv, hd;
  std::string scratch_v, scratch_d;
  std::vector<RecordView> views;
  const char* valid = ValidateBatch(value, &hv, &scratch_v);
  const char* decoded = DecodeBatch(value.data(), value.size(), &hd, &scratch_d, &views);
  FUZZ_CHECK((valid == nullptr) == (decoded == nullptr));
  if (valid != nullptr) {
    FUZZ_CHECK(valid[0] != '\0' && decoded[0] != '\0');
    return 0;
  }
  FUZZ_CHECK(checked == nullptr);
  FUZZ_CHECK(hd.count == h.count && hv.count == h.count && views.size() == h.count);
  const std::string_view body = (h.flags & kCompressionMask) == 0
                                    ? std::string_view(value).substr(kBatchHeaderBytes)
                                    : std::string_view(scratch_d);
  FUZZ_CHECK(body.size() == h.raw_len);
  CheckRecords(body, views);
  CheckReencode(h, views);
  CheckTrim(value, h, views, flags >> 2);
  return 0;
}
