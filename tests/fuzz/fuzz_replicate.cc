// Fuzz target: the $replicate wire format (daemon/replicate_wire.h): topic
// parsing, payload framing, then each frame's batch through ValidateBatch, as
// the broker and the storage writer take a peer's message.
//
// Input: byte 0 holds flags, then the topic, a 0xFF byte (never in UTF-8),
// and the payload (no 0xFF: all of it is the topic). Flag bit 0 writes the
// right CRC into each frame's batch before it is validated.
// Invariants:
//   - a topic that parses is "$replicate/<origin>/<stream>/<digits>" with the
//     parts' rules holding, and its canonical spelling parses the same;
//   - frames tile the payload (8-byte base, then the batch its header sizes),
//     lie inside it, have counts > 0 and strictly increasing bases that leave
//     room for the previous frame's records;
//   - a frame's batch that validates has the count the framing read.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/replicate_wire.h"
#include "storage/batch.h"
#include "tests/fuzz/fuzz_batch.h"
#include "tests/fuzz/fuzz_check.h"

using namespace trib;
using batch_fuzz::Inside;

namespace {

void CheckTopic(std::string_view topic) {
  ReplicaTarget t;
  if (!ParseReplicaTopic(topic, &t)) return;
  FUZZ_CHECK(topic.substr(0, kReplicatePrefix.size()) == kReplicatePrefix);
  FUZZ_CHECK(Inside(t.origin, topic) && Inside(t.stream, topic));
  FUZZ_CHECK(ValidOrigin(t.origin) && ValidStream(t.stream));
  FUZZ_CHECK(t.partition < kMaxReplicaPartitions);
  const size_t digits_at = kReplicatePrefix.size() + t.origin.size() + t.stream.size() + 2;
  FUZZ_CHECK(t.origin.data() == topic.data() + kReplicatePrefix.size());
  FUZZ_CHECK(t.stream.data() == t.origin.data() + t.origin.size() + 1);
  uint64_t p = 0;
  FUZZ_CHECK(digits_at < topic.size() &&
             ParseNumber(topic.substr(digits_at), kMaxReplicaPartitions - 1, &p) &&
             p == t.partition);
  const std::string canonical = std::string(kReplicatePrefix) + std::string(t.origin) + "/" +
                                std::string(t.stream) + "/" + std::to_string(t.partition);
  ReplicaTarget c;
  FUZZ_CHECK(ParseReplicaTopic(canonical, &c));
  FUZZ_CHECK(c.origin == t.origin && c.stream == t.stream && c.partition == t.partition);
}

uint64_t Be64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void CheckFrames(std::string_view payload, const std::vector<ReplicaFrame>& frames) {
  FUZZ_CHECK(!frames.empty());
  size_t at = 0;
  for (size_t i = 0; i < frames.size(); i++) {
    const ReplicaFrame& f = frames[i];
    FUZZ_CHECK(payload.size() - at >= 8 + trib::storage::kBatchHeaderBytes);
    FUZZ_CHECK(f.bytes.data() == payload.data() + at + 8 && Inside(f.bytes, payload));
    FUZZ_CHECK(f.base == Be64(payload.data() + at));
    FUZZ_CHECK(f.bytes.size() ==
               trib::storage::kBatchHeaderBytes + uint64_t{batch_fuzz::Le32(f.bytes.data() + 16)});
    FUZZ_CHECK(f.count == batch_fuzz::Le32(f.bytes.data() + 4) && f.count > 0);
    if (i > 0) {
      const ReplicaFrame& prev = frames[i - 1];
      FUZZ_CHECK(f.base > prev.base && f.base - prev.base >= prev.count);
    }
    at += 8 + f.bytes.size();
  }
  FUZZ_CHECK(at == payload.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t flags = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t sep = in.find('\xFF');
  const std::string_view topic = in.substr(0, sep);
  CheckTopic(topic);
  uint64_t n = 0;
  if (ParseNumber(topic, kMaxReplicaPartitions, &n)) {  // as tributary-partitions is read
    FUZZ_CHECK(n <= kMaxReplicaPartitions && !topic.empty() && topic.size() <= 10);
  }
  if (sep == std::string_view::npos) return 0;

  std::string payload(in.substr(sep + 1));
  std::vector<ReplicaFrame> frames;
  if (!SplitReplicaFrames(payload, &frames)) return 0;
  CheckFrames(payload, frames);
  std::string scratch;
  for (const ReplicaFrame& f : frames) {
    char* bytes = payload.data() + (f.bytes.data() - payload.data());
    if (flags & 1) batch_fuzz::FixCrc(bytes, f.bytes.size());
    trib::storage::BatchHeader h;
    if (trib::storage::ValidateBatch(f.bytes, &h, &scratch) == nullptr) {
      FUZZ_CHECK(h.count == f.count &&
                 h.body_len + trib::storage::kBatchHeaderBytes == f.bytes.size());
    }
  }
  return 0;
}
