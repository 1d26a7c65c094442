// The peer exporter's Sink: Tributary to Tributary. Stored batches travel as
// they are (already compressed, CRC included) in MQTT 5 QoS 1 PUBLISH
// packets to the upstream's $replicate/<origin>/<stream>/<partition>; the
// upstream daemon (daemon/replicate.cc) appends them with the origin's
// offsets and PUBACKs after its commit. The wire contract is in
// storage/FORMAT.md, "Replication on the wire".
#include <algorithm>
#include <cstdint>

#include "bridge/mqtt_link.h"
#include "storage/batch.h"

namespace trib::bridge {
namespace {

constexpr uint32_t kDefaultWindow = 16;                // messages in flight
// Payload per PUBLISH: room for the largest stored batch (kMaxBatchBody) or
// for many small ones. Measured: 1 MiB messages drained at about half the
// rate, stalling ~100 ms at a time in Paho's write path (bench/RESULTS.md).
constexpr size_t kMaxMessageBytes = storage::kMaxBatchBody + (size_t{64} << 10);
constexpr size_t kPacketOverhead = 1024;  // fixed header, topic, properties (a bound)
constexpr size_t kFrameHeader = 8;        // the base offset before each batch

void PutBE64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = static_cast<char>(v & 0xFF);
}

class PeerSink final : public MqttLink {
 public:
  PeerSink(const ExporterOptions& o, std::string uri, bool tls)
      : MqttLink(o, std::move(uri), tls, MQTTVERSION_5,
                 o.max_inflight ? o.max_inflight : kDefaultWindow) {}

  bool BatchMode() const override { return true; }
  // About one message's payload, within what the upstream's CONNACK allows.
  size_t MaxBatchBytes() const override {
    if (upstream_max_packet_ == 0) return kMaxMessageBytes;
    const size_t allowed = upstream_max_packet_ > 2 * kPacketOverhead
                               ? upstream_max_packet_ - kPacketOverhead
                               : kPacketOverhead;
    return std::min(kMaxMessageBytes, allowed);
  }
  SendResult Send(const PartitionRef&, std::span<const storage::Record>, uint64_t, uint32_t*,
                  std::string* error) override {
    *error = "the peer kind sends stored batches";
    return SendResult::kFailed;
  }
  SendResult SendBatches(const PartitionRef& part, std::span<const storage::RawBatch> batches,
                         uint64_t id, uint32_t* taken, std::string* error) override;
  uint64_t WireBytes(const PartitionRef& part, const storage::Record& r) const override {
    return part.target.size() + r.payload.size();  // not used in batch mode
  }
};

Sink::SendResult PeerSink::SendBatches(const PartitionRef& part,
                                       std::span<const storage::RawBatch> batches, uint64_t id,
                                       uint32_t* taken, std::string* error) {
  const size_t limit = MaxBatchBytes();
  size_t bytes = 0, n = 0;
  while (n < batches.size() && (n == 0 || bytes + kFrameHeader + batches[n].bytes.size() <= limit)) {
    bytes += kFrameHeader + batches[n].bytes.size();
    n++;
  }
  if (bytes > limit) {
    // Only a single oversized batch gets here: the upstream would refuse it.
    *error = "a stored batch of " + std::to_string(batches[0].bytes.size()) +
             " bytes at offset " + std::to_string(batches[0].base_offset) +
             " is larger than the upstream accepts (" + std::to_string(limit) +
             "); raise its limits.max_packet_size";
    return SendResult::kFailed;
  }
  std::string payload(bytes, '\0');
  char* p = payload.data();
  for (size_t i = 0; i < n; i++) {
    PutBE64(p, batches[i].base_offset);
    std::copy(batches[i].bytes.begin(), batches[i].bytes.end(), p + kFrameHeader);
    p += kFrameHeader + batches[i].bytes.size();
  }
  using P = ::mqtt::property;
  ::mqtt::properties props;
  try {  // Paho's property constructors may throw
    props.add(P(P::USER_PROPERTY, "tributary-partitions", std::to_string(part.partitions)));
    props.add(P(P::USER_PROPERTY, "tributary-base", std::to_string(batches[0].base_offset)));
  } catch (const std::exception& e) {
    *error = std::string("properties: ") + e.what();
    return SendResult::kFailed;
  }
  if (!Publish(part.target, ::mqtt::binary_ref(std::move(payload)), false, std::move(props), id,
               error))
    return SendResult::kFailed;
  *taken = static_cast<uint32_t>(n);
  return SendResult::kOk;
}

}  // namespace

Result<std::unique_ptr<Sink>> NewPeerSink(const ExporterOptions& options) {
  if (options.mqtt_version != 5)
    return Result<std::unique_ptr<Sink>>(Error::kInvalid, "the peer kind speaks MQTT 5 only");
  bool tls = false;
  auto uri = LinkUri(options, &tls);
  if (!uri.ok()) return uri.status();
  return std::unique_ptr<Sink>(new PeerSink(options, std::move(uri.value()), tls));
}

}  // namespace trib::bridge
