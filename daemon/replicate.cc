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
#include <cstring>

#include "daemon/broker.h"
#include "platform/log.h"

namespace trib {
namespace {

constexpr std::string_view kReplicatePrefix = "$replicate/";
constexpr size_t kMaxOrigin = 64;
constexpr size_t kMaxStream = 64;
constexpr uint32_t kMaxPartitions = 1024;
constexpr size_t kFrameHeader = 8;  // base offset, u64 big-endian, before each batch
constexpr size_t kBatchHeader = 32;
// Pending segments of replicated batches carry this key: no (stream,
// partition) of ordinary appends has it, so Ingest never merges into them.
constexpr uint64_t kReplicaSegmentKey = ~uint64_t{0};

struct Target {
  std::string_view origin, stream;
  uint32_t partition = 0;
};

bool ValidOrigin(std::string_view s) {  // node_id rules (config.cc), bounded
  if (s.empty() || s.size() > kMaxOrigin || s[0] == '$') return false;
  for (char ch : s) {
    if (ch == '/' || ch == '+' || ch == '#' || ch == '.' || static_cast<unsigned char>(ch) <= ' ')
      return false;
  }
  return true;
}

bool ValidStream(std::string_view s) {  // stream name rules (config.cc)
  if (s.empty() || s.size() > kMaxStream) return false;
  for (char ch : s) {
    if (!isalnum(static_cast<unsigned char>(ch)) && ch != '_' && ch != '-') return false;
  }
  return true;
}

bool ParseNumber(std::string_view s, uint64_t max, uint64_t* out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char ch : s) {
    if (ch < '0' || ch > '9') return false;
    v = v * 10 + static_cast<uint64_t>(ch - '0');
  }
  if (v > max) return false;
  *out = v;
  return true;
}

bool ParseTopic(std::string_view topic, Target* t) {
  std::string_view rest = topic.substr(kReplicatePrefix.size());
  size_t a = rest.find('/');
  if (a == std::string_view::npos) return false;
  size_t b = rest.find('/', a + 1);
  if (b == std::string_view::npos || rest.find('/', b + 1) != std::string_view::npos) return false;
  t->origin = rest.substr(0, a);
  t->stream = rest.substr(a + 1, b - a - 1);
  uint64_t p = 0;
  if (!ValidOrigin(t->origin) || !ValidStream(t->stream) ||
      !ParseNumber(rest.substr(b + 1), kMaxPartitions - 1, &p))
    return false;
  t->partition = static_cast<uint32_t>(p);
  return true;
}

uint64_t GetBE64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}
uint32_t GetLE32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Splits the payload into frames. Only the framing is checked here; the
// storage writer checks each batch (magic, lengths, CRC, records).
bool SplitFrames(std::string_view payload, std::vector<ReplicaFrame>* out) {
  out->clear();
  while (!payload.empty()) {
    if (payload.size() < kFrameHeader + kBatchHeader) return false;
    const char* p = payload.data();
    const uint64_t body = GetLE32(p + kFrameHeader + 16);
    const uint64_t len = kBatchHeader + body;
    if (len > payload.size() - kFrameHeader) return false;
    ReplicaFrame f;
    f.base = GetBE64(p);
    f.count = GetLE32(p + kFrameHeader + 4);
    f.bytes = payload.substr(kFrameHeader, len);
    if (f.count == 0 || f.base > UINT64_MAX - f.count) return false;
    if (!out->empty() && f.base < out->back().base + out->back().count) return false;
    out->push_back(f);
    payload.remove_prefix(kFrameHeader + len);
  }
  return !out->empty();
}

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
  LOG_WARN("client %s: replication to %.*s refused (reason 0x%02x): %s", c->client_id.c_str(),
           static_cast<int>(topic.size()), topic.data(), static_cast<unsigned>(rc), why);
  CompleteAck(c, ack_seq, rc);
}

void Broker::HandleReplicate(Connection* c, const mqtt::Publish& p, std::string_view topic) {
  if (c->version != mqtt::Version::k5) {
    // 3.1.1 cannot carry a reason code or the partition count.
    LOG_WARN("client %s: $replicate needs MQTT 5; closing", c->client_id.c_str());
    c->Close("$replicate over MQTT 3.1.1");
    return;
  }
  if (p.qos != 1) {
    if (p.qos == 2) {
      QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, true,
               mqtt::ReasonCode::kImplementationSpecificError);
      LOG_WARN("client %s: $replicate needs QoS 1 (got 2)", c->client_id.c_str());
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
  Target t;
  if (!ParseTopic(topic, &t))
    return RefuseReplica(c, seq, mqtt::ReasonCode::kTopicNameInvalid,
                         "expected $replicate/<origin>/<stream>/<partition>", topic);
  uint64_t partitions = 0;
  bool have_count = false;
  for (const mqtt::UserProperty& u : p.props.user_properties) {
    if (u.name == "tributary-partitions")
      have_count = ParseNumber(u.value, kMaxPartitions, &partitions) && partitions > 0;
  }
  if (!have_count)
    return RefuseReplica(c, seq, mqtt::ReasonCode::kImplementationSpecificError,
                         "no valid tributary-partitions user property", topic);
  if (t.partition >= partitions)
    return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                         "partition out of the announced partition count", topic);
  if (!SplitFrames(p.payload, &frames_))
    return RefuseReplica(c, seq, mqtt::ReasonCode::kPayloadFormatInvalid,
                         "payload is not a sequence of stored batches", topic);

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
    } else if (SplitFrames(m.payload, &frames_)) {
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
