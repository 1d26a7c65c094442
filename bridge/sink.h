// Sink: one upstream as the exporter runner sees it. The runner (one thread)
// decides what to send and when; a Sink only connects, sends, and reports
// acknowledgements. Kinds: mqtt (bridge/mqtt_exporter.cc), kafka
// (bridge/kafka_exporter.cc), both one record per Send; peer
// (bridge/mqtt_peer.cc) works in batch mode: it takes whole stored batches
// per SendBatches (one ack covering many offsets).
//
// Thread: every method runs on the exporter thread, except Wake(), which any
// thread may call. Client-library threads (Paho callbacks) only push events
// into the Sink's own locked queue, which Wait() drains.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bridge/exporter.h"
#include "storage/log.h"

namespace trib::bridge {

// One (stream, partition) being shipped, with its names expanded once.
struct PartitionRef {
  storage::StreamId stream = 0;
  std::string stream_name;
  uint32_t partition = 0;
  std::string target;  // mqtt: expanded topic prefix; kafka: expanded topic name;
                       // peer: $replicate/<origin>/<stream>/<partition>
  uint32_t partitions = 1;  // the stream's partition count
  int64_t priority = 0;     // higher ships first (runner.h)
};

struct SinkEvent {
  // kWarning: the link is degraded but the library keeps trying (status only).
  enum class Kind { kAck, kNack, kLinkDown, kWarning };
  Kind kind = Kind::kAck;
  uint64_t id = 0;    // kAck / kNack: the id given to Send
  std::string error;  // kNack / kLinkDown / kWarning
};

class Sink {
 public:
  enum class SendResult {
    kOk,      // `*taken` records (>= 1) are in flight under `id`
    kFull,    // the client library's queue is full: wait for acks, then retry
    kFailed,  // the link is unusable (*error says why): reconnect
  };

  virtual ~Sink() = default;

  // Opens a fresh link (dropping any old one and everything in flight on
  // it). Returns within about connect_timeout_ms, or soon after *stop turns true.
  virtual bridge::Status Connect(const std::atomic<bool>& stop) = 0;
  // Closes the link within about 1 s; nothing in flight is acknowledged after.
  virtual void Disconnect() = 0;
  // Sends records[0..*taken) of `part` under `id`. mqtt and kafka take one.
  // REQUIRES: !records.empty(), connected, !BatchMode().
  virtual SendResult Send(const PartitionRef& part, std::span<const storage::Record> records,
                          uint64_t id, uint32_t* taken, std::string* error) = 0;
  // Batch mode: the runner reads stored batches (Log::ReadBatches, about
  // MaxBatchBytes() per message) and calls SendBatches instead of Send;
  // Window() then counts messages, not records.
  virtual bool BatchMode() const { return false; }
  virtual size_t MaxBatchBytes() const { return 0; }
  // Sends batches[0..*taken) (at least one; consecutive offsets, no gap) of
  // `part` as one message under `id`. REQUIRES: BatchMode(), connected.
  virtual SendResult SendBatches(const PartitionRef& part,
                                 std::span<const storage::RawBatch> batches, uint64_t id,
                                 uint32_t* taken, std::string* error) {
    (void)part, (void)batches, (void)id, (void)taken;
    *error = "this kind does not send batches";
    return SendResult::kFailed;
  }
  // Waits up to timeout_ms (0: just collect) for events; appends them.
  virtual void Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) = 0;
  // Makes a blocked Wait return soon. Thread-safe.
  virtual void Wake() = 0;
  // How many records may be in flight on the current link (the configured
  // window, lowered by what the upstream announced, e.g. MQTT 5 receive maximum).
  virtual uint32_t Window() const = 0;
  // Bytes a record costs on the wire, for pacing and bytes_sent.
  virtual uint64_t WireBytes(const PartitionRef& part, const storage::Record& r) const = 0;
  // The runner declares the link dead when a record stays unacknowledged this
  // long; 0 when the client library enforces its own delivery timeout.
  virtual int64_t AckTimeoutMs() const = 0;
};

// Factories; each validates the kind-specific options. They live in the
// exporter modules (sink_module.h): Exporter::Create reaches them through
// LoadSinkModule.
Result<std::unique_ptr<Sink>> NewMqttSink(const ExporterOptions& options);
Result<std::unique_ptr<Sink>> NewKafkaSink(const ExporterOptions& options);
Result<std::unique_ptr<Sink>> NewPeerSink(const ExporterOptions& options);

// peer kind: the upstream topic of one partition. A stream that was itself
// replicated here ("<origin>.<stream>") keeps its origin, so a chain
// gateway -> regional -> central stores it as "<origin>.<stream>" everywhere.
std::string ReplicateTopic(std::string_view node_id, std::string_view stream, uint32_t partition);
// peer kind with forward_replicated: the partitions of replicated streams
// ("<origin>.<stream>") in the log that `have` does not hold yet.
std::vector<PartitionRef> NewReplicatedPartitions(const ExporterOptions& options,
                                                  const storage::Log& log,
                                                  const std::vector<PartitionRef>& have);

}  // namespace trib::bridge
