// The upstream side of the peer exporter: PUBLISH to
// $replicate/<origin>/<stream>/<partition> carries stored batches of another
// Tributary (storage/FORMAT.md, "Replication on the wire"). They are appended
// to the stream "<origin>.<stream>" (created on first sight with the
// sender's partition count) through this loop iteration's WriteBatch, with
// the origin's offsets, and PUBACKed after the commit; a message the
// partition already has is acknowledged at once. Such messages never reach
// subscribers. Refusals get a PUBACK reason code and a log line.
//
// Thread: loop only. Creating a stream is a storage transaction, so it runs
// on libuv's thread pool while the messages for that stream wait here.
#include <algorithm>

#include "daemon/broker.h"
#include "daemon/replicate_wire.h"
#include "storage/batch.h"
#include "platform/log.h"

namespace trib {
namespace {

// Pending segments of replicated batches carry this key: no (stream,
// partition) of ordinary appends has it, so Ingest never merges into them.
constexpr uint64_t kReplicaSegmentKey = ~uint64_t{0};

}  // namespace

// A replicated stream as the loop knows it; while `creating`, messages for
// it wait in `waiting` (their acks are queued, in order).
struct Broker::ReplicaStream {
  storage::StreamId id = 0;
  uint32_t partitions = 0;
  bool creating = false;
  struct Waiting {
    uint64_t conn_id;
    uint64_t ack_seq;
    uint32_t partition;
    std::string payload;
  };
  std::vector<Waiting> waiting;
};

// At startup: streams created by replication get the configured [replication]
// retention, also when it changed since they were created.
std::string Broker::ApplyReplicationRetention() {
  for (const auto& [id, spec] : log_->ListStreams()) {
    if (spec.name.find('.') == std::string::npos) continue;
    if (spec.max_age_ms == cfg_.replication.max_age_ms &&
        spec.max_bytes == cfg_.replication.max_bytes)
      continue;
    storage::Status st = log_->UpdateRetention(id, cfg_.replication.max_age_ms,
                                               cfg_.replication.max_bytes, spec.on_full);
    if (!st.ok()) return "replication: retention of " + spec.name + ": " + st.message();
  }
  return "";
}

bool Broker::IsReplicateTopic(std::string_view topic) {
  return topic.substr(0, kReplicatePrefix.size()) == kReplicatePrefix;
}

void Broker::RefuseReplica(Connection* c, uint64_t ack_seq, mqtt::ReasonCode rc, const char* why,
                           std::string_view topic) {
  ++stats_.replication_refused;
  LOG_WARN("client %s: replication to %.*s refused (reason 0x%02x): %s", c->client_name(),
           static_cast<int>(topic.size()), topic.data(), static_cast<unsigned>(rc), why);
  CompleteAck(c, ack_seq, rc);
}

void Broker::HandleReplicate(Connection* c, const mqtt::Publish& p, std::string_view topic) {
  if (c->version != mqtt::Version::k5) {
    // 3.1.1 cannot carry a reason code or the partition count.
    LOG_WARN("client %s: $replicate needs MQTT 5; closing", c->client_name());
    c->Close("$replicate over MQTT 3.1.1");
    return;
  }
  if (p.qos != 1) {
    if (p.qos == 2) {
      QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, true,
               mqtt::ReasonCode::kImplementationSpecificError);
      LOG_WARN("client %s: $replicate needs QoS 1 (got 2)", c->client_name());
      return;
    }
    SendDisconnect(c, mqtt::ReasonCode::kImplementationSpecificError, "$replicate needs QoS 1");
    return;
  }
  const uint64_t seq = QueueAck(c, mqtt::PacketType::kPuback, p.packet_id, false);
  if (!cfg_.replication.enabled)
    return RefuseReplica(c, seq, mqtt::ReasonCode::kNotAuthorized,
                         "replication is off here ([replication] enabled = false)", topic);
  if (!AllowPublish(c->session, topic))
    return RefuseReplica(c, seq, mqtt::ReasonCode::kNotAuthorized, "denied by the ACL", topic);
  ReplicaTarget t;
  if (!ParseReplicaTopic(topic, &t))
    return RefuseReplica(c, seq, mqtt::ReasonCode::kTopicNameInvalid,
                         "expected $replicate/<origin>/<stream>/<partition>", topic);
  uint64_t partitions = 0;
  bool have_count = false;
  for (const mqtt::UserProperty& u : p.props.user_properties) {
    if (u.name == "tributary-partitions")
      have_count = ParseNumber(u.value, kMaxReplicaPartitions, &partitions) && partitions > 0;
  }
  if (!have_count)
    return RefuseReplica(c, seq, mqtt::ReasonCode::kImplementationSpecificError,
                         "no valid tributary-partitions user property", topic);
  if (t.partition >= partitions)
    return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                         "partition out of the announced partition count", topic);
  if (!SplitReplicaFrames(p.payload, &frames_))
    return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                         "payload is not a sequence of stored batches", topic);
  // What a batch header claims decides what the writer allocates before it
  // can check the body: a decompressed size above what this daemon accepts in
  // one packet (batches hold 256 KiB of records, or one bigger record) or a
  // timestamp outside [1970, year 285,000] is refused here.
  const uint64_t max_raw = std::max<uint64_t>(storage::kMaxBatchBody, cfg_.limits.max_packet_size);
  for (const ReplicaFrame& f : frames_) {
    storage::BatchHeader h;
    if (!storage::PeekHeader(f.bytes.data(), f.bytes.size(), &h))
      return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                           "a frame does not hold a stored batch", topic);
    if (h.raw_len > max_raw)
      return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                           "a batch decompresses to more than this daemon accepts "
                           "(256 KiB, or limits.max_packet_size when larger)", topic);
    if (h.first_ts < 0 || h.first_ts > kMaxReplicaTimestampMs)
      return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                           "a batch's timestamp is out of range", topic);
  }

  std::string name = std::string(t.origin) + "." + std::string(t.stream);
  ReplicaStream* rs = FindReplicaStream(name, static_cast<uint32_t>(partitions));
  if (rs->creating) {
    rs->waiting.push_back({c->id(), seq, t.partition, std::string(p.payload)});
    return;
  }
  if (rs->partitions != partitions) {
    std::string why = "stream " + name + " has " + std::to_string(rs->partitions) +
                      " partitions here, the sender has " + std::to_string(partitions);
    return RefuseReplica(c, seq, mqtt::ReasonCode::kImplementationSpecificError, why.c_str(),
                         topic);
  }
  AppendReplica(c, seq, rs->id, t.partition);
}

// The loop's record of a replicated stream; starts creating it in storage
// (off the loop) when the log does not have it.
Broker::ReplicaStream* Broker::FindReplicaStream(const std::string& name, uint32_t partitions) {
  auto it = replica_streams_.find(name);
  if (it != replica_streams_.end()) return it->second.get();
  auto rs = std::make_shared<ReplicaStream>();
  replica_streams_[name] = rs;
  if (auto id = log_->FindStream(name)) {
    rs->id = *id;
    for (const auto& [sid, spec] : log_->ListStreams()) {
      if (sid == *id) rs->partitions = spec.partitions;
    }
    return rs.get();
  }
  rs->creating = true;
  rs->partitions = partitions;
  struct Work {
    uv_work_t req;
    Broker* broker;
    storage::Log* log;
    storage::StreamSpec spec;
    storage::Result<storage::StreamId> result{storage::Error::kClosed, "not run"};
  };
  auto* w = new Work{};
  w->req.data = w;
  w->broker = this;
  w->log = log_.get();
  w->spec.name = name;
  w->spec.partitions = partitions;
  w->spec.max_age_ms = cfg_.replication.max_age_ms;
  w->spec.max_bytes = cfg_.replication.max_bytes;
  LOG_NOTICE("replication: creating stream %s with %u partition(s)", name.c_str(), partitions);
  uv_queue_work(
      &loop_, &w->req,
      [](uv_work_t* req) {
        auto* w = static_cast<Work*>(req->data);
        w->result = w->log->EnsureStream(w->spec);
      },
      [](uv_work_t* req, int) {
        auto* w = static_cast<Work*>(req->data);
        w->broker->FinishReplicaStream(w->spec.name, w->result);
        delete w;
      });
  return rs.get();
}

void Broker::FinishReplicaStream(const std::string& name,
                                 const storage::Result<storage::StreamId>& r) {
  auto it = replica_streams_.find(name);
  if (it == replica_streams_.end()) return;
  std::shared_ptr<ReplicaStream> rs = it->second;
  std::vector<ReplicaStream::Waiting> waiting = std::move(rs->waiting);
  rs->waiting.clear();
  rs->creating = false;
  if (!r.ok()) {
    // Forget it, so a later message tries again (e.g. after a restart with
    // room for more partitions).
    replica_streams_.erase(it);
    LOG_ERROR("replication: cannot create stream %s: %s", name.c_str(),
              r.status().message().c_str());
  } else {
    rs->id = r.value();
  }
  for (ReplicaStream::Waiting& m : waiting) {
    Connection* c = FindConnection(m.conn_id);
    if (stopping_ || c == nullptr) continue;  // the sender re-sends after reconnecting
    std::string topic = "$replicate/" + name;
    if (!r.ok()) {
      RefuseReplica(c, m.ack_seq, mqtt::ReasonCode::kImplementationSpecificError,
                    "the stream could not be created", topic);
    } else if (SplitReplicaFrames(m.payload, &frames_)) {
      AppendReplica(c, m.ack_seq, rs->id, m.partition);
    }
  }
}

// Appends frames_ to this iteration's WriteBatch, or acknowledges at once
// when the partition already has all of it (a re-send after a lost ack).
void Broker::AppendReplica(Connection* c, uint64_t ack_seq, storage::StreamId stream,
                           uint32_t partition) {
  const uint64_t key = PartitionKey(stream, partition);
  auto end_it = replica_end_.find(key);
  if (end_it == replica_end_.end()) {
    // First sight in this process: everything stored so far was committed
    // before it started (only this loop appends to replicated streams).
    auto info = log_->Info(stream, partition);
    end_it = replica_end_.emplace(key, info.ok() ? info->end_offset : 0).first;
  }
  const ReplicaFrame& last = frames_.back();
  if (last.base + last.count <= end_it->second) {
    ++stats_.replication_duplicates;
    CompleteAck(c, ack_seq, mqtt::ReasonCode::kSuccess);
    return;
  }
  ReplicaAck ra;
  ra.conn_id = c->id();
  ra.ack_seq = ack_seq;
  ra.first_segment = static_cast<uint32_t>(pending_.segments.size());
  ra.segments = static_cast<uint32_t>(frames_.size());
  for (const ReplicaFrame& f : frames_) {
    batch_.AppendBatch(stream, partition, f.base, f.bytes);
    pending_.segments.push_back(kReplicaSegmentKey);
    pending_.counts.push_back(0);
  }
  pending_.replicas.push_back(ra);
}

void Broker::ApplyReplicaAcks(const storage::Completion& done, const PendingBatch& batch) {
  for (const ReplicaAck& r : batch.replicas) {
    mqtt::ReasonCode rc = mqtt::ReasonCode::kSuccess;
    if (!done.status.ok()) rc = mqtt::ReasonCode::kUnspecifiedError;  // nothing committed
    for (uint32_t i = r.first_segment; i < r.first_segment + r.segments; i++) {
      if (!done.status.ok() || i >= done.segments.size()) break;
      const storage::Completion::Segment& seg = done.segments[i];
      if (seg.error == storage::Error::kOk) {
        uint64_t& end = replica_end_[PartitionKey(seg.stream, seg.partition)];
        end = std::max(end, seg.first_offset + seg.count);
        stats_.replicated_records += seg.count - seg.duplicates;
        continue;
      }
      rc = seg.error == storage::Error::kCorrupt ? mqtt::ReasonCode::kPayloadFormatInvalid
           : seg.error == storage::Error::kFull  ? mqtt::ReasonCode::kQuotaExceeded
                                                 : mqtt::ReasonCode::kImplementationSpecificError;
    }
    Connection* c = FindConnection(r.conn_id);
    if (c == nullptr) continue;
    if (rc != mqtt::ReasonCode::kSuccess) {
      RefuseReplica(c, r.ack_seq, rc, "storage refused the batch (see the storage log line)",
                    "$replicate");
    } else {
      CompleteAck(c, r.ack_seq, rc);
    }
  }
}

}  // namespace trib
