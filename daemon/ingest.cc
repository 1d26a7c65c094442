// The write path: messages captured by a stream are appended to this loop
// iteration's WriteBatch, submitted once per iteration, and acknowledged and
// delivered only when storage reports the commit (a live_delivery =
// on_receipt stream delivers to plain subscribers on receipt; deliver.cc).
// Acks leave each connection in the order the PUBLISH packets arrived.
#include "daemon/broker.h"
#include "platform/clock.h"
#include "platform/log.h"

namespace trib {
namespace {

// The properties a message keeps: what the publisher set for its receivers.
void ForwardableProperties(const mqtt::Properties& in, bool with_expiry, std::string* out) {
  mqtt::Properties f;
  f.payload_format_indicator = in.payload_format_indicator;
  f.content_type = in.content_type;
  f.response_topic = in.response_topic;
  f.correlation_data = in.correlation_data;
  f.user_properties = in.user_properties;
  if (with_expiry) f.message_expiry_interval = in.message_expiry_interval;
  if (f.empty()) return;
  mqtt::AppendProperties(out, f);
}

bool LookupUserProperty(const void* ctx, std::string_view name, std::string_view* value) {
  const auto* props = static_cast<const mqtt::Properties*>(ctx);
  for (const mqtt::UserProperty& u : props->user_properties) {
    if (u.name == name) {
      *value = u.value;
      return true;
    }
  }
  return false;
}

}  // namespace

std::shared_ptr<Message> Broker::MakeMessage(const mqtt::Publish& p, std::string_view topic,
                                             SubscriberId origin) {
  auto m = std::make_shared<Message>();
  m->topic = std::string(topic);
  m->payload = std::string(p.payload);
  ForwardableProperties(p.props, false, &m->properties);
  m->qos = p.qos;
  m->retain = p.retain;
  m->origin = origin;
  if (p.props.message_expiry_interval)
    m->expires_at_ms = clock::WallMs() + int64_t{*p.props.message_expiry_interval} * 1000;
  return m;
}

void Broker::UpdateRetained(const mqtt::Publish& p, std::string_view topic, const MessagePtr& msg) {
  // [MQTT-3.3.1-6]/[MQTT-3.3.1-7]: an empty retained message clears the topic.
  if (p.payload.empty()) {
    retained_.Erase(topic);
    batch_.DeleteRetained(topic);
    return;
  }
  retained_.Set(topic, msg);
  // Stored form: qos, expiry (wall ms, 8 bytes), property length (4), properties, payload.
  std::string v;
  v.push_back(static_cast<char>(msg->qos));
  for (int i = 7; i >= 0; --i) v.push_back(static_cast<char>((msg->expires_at_ms >> (8 * i)) & 0xFF));
  uint32_t n = static_cast<uint32_t>(msg->properties.size());
  for (int i = 3; i >= 0; --i) v.push_back(static_cast<char>((n >> (8 * i)) & 0xFF));
  v += msg->properties;
  v += msg->payload;
  batch_.PutRetained(topic, v);
}

void Broker::Ingest(Connection* c, const mqtt::Publish& p, std::string_view topic,
                    uint64_t ack_seq) {
  Session* s = c ? c->session : nullptr;
  SubscriberId origin = s ? s->id : 0;
  size_t index = 0;
  bool captured = router_.Match(topic, &index);
  std::shared_ptr<Message> msg;
  if (p.retain || !captured) msg = MakeMessage(p, topic, origin);
  if (p.retain) UpdateRetained(p, topic, msg);
  if (!captured) {
    Route(msg);
    // Not stored, so its id is not worth a session write either.
    if (p.qos == 2 && s) s->Qos2().in.insert(p.packet_id);
    if (ack_seq) CompleteAck(c, ack_seq, mqtt::ReasonCode::kSuccess);
    return;
  }

  StreamRouter::KeyInput in;
  in.client_id = c && c->session ? std::string_view(c->session->client_id) : std::string_view();
  in.topic = topic;
  in.user_property = LookupUserProperty;
  in.ctx = &p.props;
  StreamRouter::Route r = router_.Place(index, in);
  ++stream_in_[index].messages;
  stream_in_[index].bytes += p.payload.size();
  std::string props;
  ForwardableProperties(p.props, true, &props);
  storage::RecordIn rec;
  rec.key = r.key;
  rec.topic = topic;
  rec.payload = p.payload;
  rec.properties = props;
  rec.qos = p.qos;
  rec.retain = p.retain;
  batch_.Append(r.stream, r.partition, rec);

  uint64_t key = PartitionKey(r.stream, r.partition);
  uint32_t seg = 0;
  while (seg < pending_.segments.size() && pending_.segments[seg] != key) ++seg;
  if (seg == pending_.segments.size()) {
    pending_.segments.push_back(key);
    pending_.counts.push_back(0);
  }
  PendingRecord pr;
  pr.conn_id = c ? c->id() : 0;
  pr.ack_seq = ack_seq;
  pr.segment = seg;
  pr.index = pending_.counts[seg]++;
  pr.qos = p.qos;
  pr.packet_id = p.packet_id;
  pr.session = origin;
  if (pending_.records.empty()) pending_.first_seq = next_record_seq_;
  const uint64_t seq = next_record_seq_++;
  // Only keep a copy for delivery when somebody could want it.
  match_subs_.clear();
  match_shared_.clear();
  tree_.Match(topic, &match_subs_, &match_shared_);
  if (!match_subs_.empty() || !match_shared_.empty()) {
    pr.msg = msg ? msg : MakeMessage(p, topic, origin);
    pr.msg->stream = r.stream;
    pr.msg->partition = r.partition;
    pr.msg->on_receipt = on_receipt_[index] != 0;
    if (pr.msg->on_receipt) DeliverOnReceipt(pr.msg, seq, &pr);
  }
  pending_.records.push_back(std::move(pr));
}

void Broker::SubmitPending() {
  PersistQos2Ids();
  if (batch_.empty() || !log_) return;
  pending_.token = next_token_++;
  bool ok = log_->Submit(std::move(batch_), pending_.token);
  batch_ = storage::WriteBatch();
  submitted_.push_back(std::move(pending_));
  pending_ = PendingBatch();
  if (!ok) PauseAllReading();
}

void Broker::PauseAllReading() {
  if (storage_paused_) return;
  storage_paused_ = true;
  LOG_DEBUG("storage queue over its limit: pausing reads");
  for (auto& [id, c] : connections_) c->PauseReading();
}

void Broker::ResumeAllReading() {
  if (!storage_paused_) return;
  storage_paused_ = false;
  LOG_DEBUG("storage queue drained: resuming reads");
  for (auto& [id, c] : connections_) c->ResumeReading();
}

void Broker::ProcessCompletions() {
  if (!log_) return;
  completions_.clear();
  log_->TakeCompletions(&completions_);
  for (const storage::Completion& done : completions_) {
    if (done.token & storage::Log::kForeignTokenBit) {
      if (!done.status.ok()) LOG_WARN("exporter cursor commit failed: %s", done.status.message().c_str());
      continue;
    }
    if (submitted_.empty() || submitted_.front().token != done.token) {
      // Completions come back in submission order; anything else is a bug.
      LOG_ERROR("storage completion %llu out of order", static_cast<unsigned long long>(done.token));
      std::abort();
    }
    PendingBatch batch = std::move(submitted_.front());
    submitted_.pop_front();
    ApplyCompletion(done, batch);
  }
  if (storage_paused_ && !log_->OverLimit()) ResumeAllReading();
}

void Broker::ApplyCompletion(const storage::Completion& done, PendingBatch& batch) {
  ApplyReplicaAcks(done, batch);  // replicate.cc
  if (!done.status.ok()) {
    // Nothing in this batch is durable: no ack may go out. A negative ack
    // would end the client's flow and lose the message, so disconnect the
    // publishers instead: they keep it and resend on their next connection,
    // which also retries storage (README, "Reliability").
    if (!storage_failed_) {
      LOG_ERROR("storage commit failed: %s; not acknowledging, not ready until a commit succeeds",
                done.status.message().c_str());
    }
    storage_failed_ = true;
    storage_failure_ = done.status.message();
    if (!batch.records.empty()) completed_record_seq_ = batch.first_seq + batch.records.size() - 1;
    ++stats_.storage_failures;
    for (const PendingRecord& r : batch.records) {
      if (Connection* c = FindConnection(r.conn_id)) {
        SendDisconnect(c, mqtt::ReasonCode::kUnspecifiedError, "storage failure");
      }
    }
    for (const auto& [conn_id, seq] : batch.qos2_acks) {
      if (Connection* c = FindConnection(conn_id)) {
        SendDisconnect(c, mqtt::ReasonCode::kUnspecifiedError, "storage failure");
      }
    }
    return;
  }
  for (const auto& [conn_id, seq] : batch.qos2_acks) {
    if (Connection* c = FindConnection(conn_id)) CompleteAck(c, seq, mqtt::ReasonCode::kSuccess);
  }
  if (storage_failed_) LOG_NOTICE("storage commits work again; acknowledging and ready");
  storage_failed_ = false;
  stats_.stored += batch.records.size();
  for (const storage::Completion::Segment& seg : done.segments) {
    if (seg.error == storage::Error::kOk && seg.count > 0)
      routed_end_[PartitionKey(seg.stream, seg.partition)] = seg.first_offset + seg.count;
  }
  size_t early_at = 0;
  for (PendingRecord& r : batch.records) {
    const storage::Completion::Segment* seg =
        r.segment < done.segments.size() ? &done.segments[r.segment] : nullptr;
    bool stored = seg && seg->error == storage::Error::kOk;
    const bool id_pending = stored && r.qos == 2 && r.ack_seq && RememberQos2(r.session, r.packet_id);
    Connection* c = r.ack_seq ? FindConnection(r.conn_id) : nullptr;
    if (c) {
      if (id_pending) {
        pending_.qos2_acks.emplace_back(r.conn_id, r.ack_seq);  // PUBREC once the id is stored
      } else if (stored) {
        CompleteAck(c, r.ack_seq, mqtt::ReasonCode::kSuccess);
      } else if (c->version == mqtt::Version::k5) {
        CompleteAck(c, r.ack_seq, mqtt::ReasonCode::kQuotaExceeded);  // on_full = reject
      } else {
        // 3.1.1 has no negative ack: disconnect so the client does not think
        // the message was stored.
        c->Close("storage full (on_full = reject)");
      }
    }
    if (stored && r.msg) {
      r.msg->offset = seg->first_offset + r.index;
      r.msg->timestamp_ms = done.timestamp_ms;
      r.msg->stored = true;
      Route(r.msg, std::span<const SubscriberId>(batch.early.data() + early_at, r.early));
    }
    early_at += r.early;
  }
  if (!batch.records.empty()) completed_record_seq_ = batch.first_seq + batch.records.size() - 1;
}

uint64_t Broker::QueueAck(Connection* c, mqtt::PacketType type, uint16_t pid, bool ready,
                          mqtt::ReasonCode rc) {
  uint64_t seq = c->next_ack_seq++;
  c->Acks().entries.push_back(Connection::AckEntry{seq, pid, type, rc, ready});
  if (ready) SendReadyAcks(c);
  return seq;
}

void Broker::CompleteAck(Connection* c, uint64_t seq, mqtt::ReasonCode rc) {
  // Entries are in sequence order: find it from the head.
  Connection::AckQueue& q = c->Acks();
  for (size_t i = q.head; i < q.entries.size(); ++i) {
    if (q.entries[i].seq == seq) {
      q.entries[i].ready = true;
      q.entries[i].reason = rc;
      break;
    }
  }
  SendReadyAcks(c);
}

bool Broker::RememberQos2(SubscriberId session, uint16_t packet_id) {
  auto it = sessions_by_id_.find(session);
  if (it == sessions_by_id_.end()) return false;
  Session* s = it->second;
  s->Qos2().in.insert(packet_id);
  if (!s->persistent()) return false;
  MarkQos2Dirty(s);
  return true;
}

void Broker::SendReadyAcks(Connection* c) {
  bool sent = false;
  Connection::AckQueue& q = c->Acks();
  while (q.head < q.entries.size() && q.entries[q.head].ready) {
    const Connection::AckEntry a = q.entries[q.head++];
    if (c->state() == Connection::State::kClosing) continue;
    mqtt::EncodeAck(c->out(), c->version, a.type, a.packet_id, a.reason);
    sent = true;
    bool failed = mqtt::IsError(a.reason);
    if (a.type == mqtt::PacketType::kPuback || a.type == mqtt::PacketType::kPubcomp ||
        (a.type == mqtt::PacketType::kPubrec && failed)) {
      if (c->inbound_unacked > 0) --c->inbound_unacked;
    }
  }
  if (q.head == q.entries.size()) {
    q.entries.clear();
    q.head = 0;
  }
  if (sent) c->MarkDirty();
}

void Broker::PublishWill(Session* s) {
  if (!s->will) return;
  MessagePtr will = std::move(s->will->msg);
  s->will.reset();
  if (!AllowPublish(s, will->topic)) return;  // the ACL covers wills too
  LOG_DEBUG("client %s: publishing will on %s", s->client_id.c_str(), will->topic.c_str());
  // Rebuild a Publish view of the will so it takes the normal path.
  mqtt::Publish p;
  p.topic = will->topic;
  p.payload = will->payload;
  p.qos = will->qos;
  p.retain = will->retain;
  mqtt::Properties props;
  if (!will->properties.empty()) {
    mqtt::Status st = mqtt::ParseProperties(will->properties, mqtt::PropertyContext::kPublish, &props);
    if (st.ok()) p.props = props;
  }
  if (will->expires_at_ms) {
    int64_t left = (will->expires_at_ms - clock::WallMs()) / 1000;
    if (left <= 0) return;
    p.props.message_expiry_interval = static_cast<uint32_t>(left);
  }
  Ingest(nullptr, p, will->topic, 0);
}

}  // namespace trib
