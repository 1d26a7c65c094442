// Delivery: from a routed message to the sessions that subscribed, within each
// client's in-flight window and output cap. Messages of a stream are never
// queued in memory: a session that cannot take one marks the partition as
// lagging and reads it back from the log (on the thread pool) when it can.
#include <algorithm>

#include "daemon/broker.h"
#include "daemon/mqtt/topic.h"
#include "platform/clock.h"
#include "platform/log.h"

namespace trib {
namespace {

constexpr size_t kCatchUpRecords = 256;
constexpr size_t kCatchUpBytes = 256 * 1024;
// QoS 1/2 reads (a session's own, a consumer group's) take up to this many
// records and keep what the window cannot take (Position::ahead), within
// kReadAheadBudget bytes for all: one read per many window refills instead of
// one each.
constexpr size_t kReadAheadRecords = 1024;
constexpr size_t kReadAheadBudget = 16u << 20;

// Merges one more matching subscription into a delivery: the highest QoS
// [MQTT-3.3.4-2] and every subscription identifier [MQTT-3.3.4-3].
void Merge(const SubOptions& o, const Message& m, Delivery* d, bool* any) {
  uint8_t q = std::min(o.qos, m.qos);
  if (!*any || q > d->qos) d->qos = q;
  // Retain As Published [MQTT-3.3.1-12]/[MQTT-3.3.1-13] for live messages.
  d->retain = d->retain || (o.retain_as_published && m.retain);
  if (o.subscription_id) d->subscription_ids.push_back(o.subscription_id);
  d->stream_meta = d->stream_meta || o.stream_meta;
  *any = true;
}

}  // namespace

// Calls fn(session, delivery) once per session whose own (not shared)
// subscriptions match: match_subs_ as tree_.Match left it.
template <typename Fn>
void Broker::ForEachDirect(const MessagePtr& msg, Fn&& fn) {
  if (match_subs_.empty()) return;
  std::sort(match_subs_.begin(), match_subs_.end(),
            [](const SubMatch& a, const SubMatch& b) { return a.subscriber < b.subscriber; });
  size_t i = 0;
  while (i < match_subs_.size()) {
    SubscriberId id = match_subs_[i].subscriber;
    Delivery d;
    d.msg = msg;
    bool any = false;
    for (; i < match_subs_.size() && match_subs_[i].subscriber == id; ++i) {
      const SubOptions& o = match_subs_[i].options;
      if (o.no_local && msg->origin == id) continue;  // [MQTT-3.8.3-3]
      if (o.check_read && !AllowRead(id, msg->topic)) continue;
      Merge(o, *msg, &d, &any);
    }
    if (!any) continue;
    auto it = sessions_by_id_.find(id);
    if (it != sessions_by_id_.end()) fn(it->second, std::move(d));
  }
}

void Broker::Route(const MessagePtr& msg, std::span<const SubscriberId> early) {
  match_subs_.clear();
  match_shared_.clear();
  tree_.Match(msg->topic, &match_subs_, &match_shared_);
  ForEachDirect(msg, [&](Session* s, Delivery&& d) {
    if (std::find(early.begin(), early.end(), s->id) == early.end()) {
      Offer(s, std::move(d));
      return;
    }
    // It went out on receipt: now it has its offset, the position moves past it.
    Position& p = s->Flow().positions[PartitionKey(msg->stream, msg->partition)];
    if (!p.lagging && p.next <= msg->offset) {
      p.next = msg->offset + 1;
      s->positions_dirty = true;
    }
  });
  // Shared subscriptions: one member per group gets it. A stream record goes
  // to its consumer group's partition owner (group_delivery.cc); anything
  // else round-robin, preferring members that are online and have room
  // [MQTT-4.8.2-...].
  for (const SharedMatch& sm : match_shared_) {
    if (msg->stored) {
      if (ConsumerGroup* g = FindGroup(sm.group, sm.filter)) {
        GroupOffer(g, msg);
        continue;
      }
    }
    std::string key = std::string(sm.group) + '\0' + std::string(sm.filter);
    size_t& rr = shared_rr_[key];
    const auto& members = *sm.members;
    const SubMatch* pick = nullptr;
    for (size_t k = 0; k < members.size(); ++k) {
      const SubMatch& cand = members[(rr + k) % members.size()];
      auto it = sessions_by_id_.find(cand.subscriber);
      if (it == sessions_by_id_.end()) continue;
      if (cand.options.check_read && !AllowRead(cand.subscriber, msg->topic)) continue;
      if (!pick) pick = &cand;
      if (CanSend(it->second, std::min(cand.options.qos, msg->qos))) {
        pick = &cand;
        rr = (rr + k + 1) % members.size();
        break;
      }
    }
    if (!pick) continue;
    Delivery d;
    d.msg = msg;
    d.qos = std::min(pick->options.qos, msg->qos);
    if (pick->options.subscription_id) d.subscription_ids.push_back(pick->options.subscription_id);
    d.retain = pick->options.retain_as_published && msg->retain;
    // Shared deliveries use the in-memory path (the member was chosen now).
    auto it = sessions_by_id_.find(pick->subscriber);
    Session* s = it->second;
    if (CanSend(s, d.qos)) {
      Send(s, std::move(d));
    } else if (s->View().queue.size() < cfg_.limits.max_queued_messages && (s->conn || d.qos > 0)) {
      s->Flow().queue.push_back(std::move(d));
    } else {
      ++stats_.dropped_queue;
    }
  }
}

void Broker::DeliverOnReceipt(const MessagePtr& msg, uint64_t seq, PendingRecord* pr) {
  const uint64_t key = PartitionKey(msg->stream, msg->partition);
  ForEachDirect(msg, [&](Session* s, Delivery&& d) {
    if (d.stream_meta) return;  // wants the record's offset: after the commit
    Position& p = s->Flow().positions[key];
    // Only when nothing of this partition is still on its way to this
    // session the committed way (or from the log): it would be overtaken.
    const bool now = !p.lagging && p.hold_seq <= completed_record_seq_ && s->View().queue.empty() &&
                     CanSend(s, d.qos);
    if (!now || pr->early == UINT16_MAX || !Send(s, std::move(d))) {
      p.hold_seq = seq;  // Offer decides at the commit: send, or read it from the log
      return;
    }
    pending_.early.push_back(s->id);
    ++pr->early;
    ++stats_.delivered_on_receipt;
  });
}

void Broker::UpdateLiveDelivery() {
  on_receipt_.assign(cfg_.streams.size(), 0);
  for (size_t i = 0; i < cfg_.streams.size(); ++i)
    on_receipt_[i] = cfg_.streams[i].live_delivery == config::LiveDelivery::kOnReceipt;
}

bool Broker::CanSend(const Session* s, uint8_t qos) const {
  const Connection* c = s->conn;
  if (!c || c->state() != Connection::State::kConnected) return false;
  if (c->queued_bytes() >= cfg_.limits.max_output_bytes) return false;
  if (qos == 0) return true;
  size_t window = std::min<size_t>(c->receive_max_out, cfg_.limits.max_inflight);
  return s->View().inflight.size() < window;
}

void Broker::Offer(Session* s, Delivery&& d) {
  const Message& m = *d.msg;
  if (m.stored) {
    Position& p = s->Flow().positions[PartitionKey(m.stream, m.partition)];
    if (p.lagging || m.offset < p.next) {
      if (p.lagging) {
        p.live_end = std::max(p.live_end, m.offset + 1);
        StartRead(s, PartitionKey(m.stream, m.partition), p);
      }
      return;  // it will come from the log, or was already delivered
    }
    if (s->View().queue.empty() && CanSend(s, d.qos)) {
      p.next = m.offset + 1;
      s->positions_dirty = true;
      Send(s, std::move(d));
    } else {
      p.next = m.offset;
      p.lagging = true;  // read it back from the log when there is room
      s->positions_dirty = true;
    }
    return;
  }
  if (s->View().queue.empty() && CanSend(s, d.qos)) {
    Send(s, std::move(d));
    return;
  }
  // Not stored: queue, bounded. An offline session keeps only QoS>0
  // [MQTT-3.1.2-5] (QoS 0 may be dropped).
  if ((s->conn || d.qos > 0) && s->View().queue.size() < cfg_.limits.max_queued_messages) {
    s->Flow().queue.push_back(std::move(d));
  } else {
    ++stats_.dropped_queue;
  }
}

bool Broker::Send(Session* s, Delivery&& d, bool dup, uint16_t packet_id) {
  Connection* c = s->conn;
  const Message& m = *d.msg;
  mqtt::PublishOut out;
  out.topic = m.topic;
  out.payload = m.payload;
  out.qos = d.qos;
  out.retain = d.retain;
  out.dup = dup;
  if (m.expires_at_ms) {
    int64_t left = m.expires_at_ms - clock::WallMs();
    if (left <= 0) {  // [MQTT-3.3.2-5]: expired messages are not delivered
      ++stats_.expired;
      return false;
    }
    out.message_expiry_interval = static_cast<uint32_t>((left + 999) / 1000);  // [MQTT-3.3.2-6]
  }
  std::string with_meta;
  if (c->version == mqtt::Version::k5) {
    out.raw_properties = m.properties;
    if (d.stream_meta && m.stored) {
      // The record's place in the log, for consumers that track offsets.
      std::string part = std::to_string(m.partition), off = std::to_string(m.offset),
                  ts = std::to_string(m.timestamp_ms);
      mqtt::Properties meta;
      meta.user_properties = {{"stream", StreamName(m.stream)}, {"partition", part},
                              {"offset", off}, {"timestamp", ts}};
      with_meta = m.properties;
      mqtt::AppendProperties(&with_meta, meta);
      out.raw_properties = with_meta;
    }
    out.subscription_identifiers = d.subscription_ids;
    if (c->max_packet_out && mqtt::PublishSize(c->version, out) > c->max_packet_out) {
      // [MQTT-3.1.2-25]: never send more than the client's Maximum Packet
      // Size; the message is discarded for this client.
      ++stats_.dropped_queue;
      return false;
    }
    // Topic aliases towards the client, up to its Topic Alias Maximum
    // [MQTT-3.3.2-11]: the first message on a topic carries topic and alias,
    // later ones only the alias.
    if (c->topic_alias_max_out > 0) {
      auto& aliases = c->Aliases().out;
      auto it = aliases.find(m.topic);
      if (it != aliases.end()) {
        out.topic_alias = it->second;
        out.topic = std::string_view();
      } else if (aliases.size() < c->topic_alias_max_out) {
        out.topic_alias = static_cast<uint16_t>(aliases.size() + 1);
        aliases.emplace(m.topic, out.topic_alias);
      }
    }
  }
  if (d.qos > 0) {
    out.packet_id = packet_id ? packet_id : s->NextPacketId();
    OutFlight f;
    f.packet_id = out.packet_id;
    mqtt::EncodePublish(c->out(), c->version, out);
    f.d = std::move(d);
    if (!dup) s->Flow().inflight.push_back(std::move(f));
  } else {
    mqtt::EncodePublish(c->out(), c->version, out);
  }
  ++stats_.messages_out;
  if (m.stored || m.on_receipt) {
    auto it = stream_index_.find(m.stream);
    if (it != stream_index_.end()) ++stream_in_[it->second].delivered;
  }
  c->MarkDirty();
  return true;
}

// Fills the window from the queue, then lets lagging partitions read on.
void Broker::Pump(Session* s) {
  while (!s->View().queue.empty() && CanSend(s, s->Flow().queue.front().qos)) {
    Delivery d = std::move(s->Flow().queue.front());
    s->Flow().queue.pop_front();
    Send(s, std::move(d));
  }
  if (!s->View().queue.empty()) return;
  if (SessionFlow* f = s->FlowIfAny()) {
    for (auto& [key, p] : f->positions) {
      if (p.lagging && !p.reading) StartRead(s, key, p);
    }
  }
  if (!s->View().groups.empty()) PumpGroups(s);
}

namespace {
struct ReadWork {
  uv_work_t req;
  Broker* broker;
  storage::Log* log;
  SubscriberId session;
  uint32_t group;  // 0: the session's own subscriptions
  uint32_t epoch;
  uint64_t key;
  uint64_t from;
  int64_t from_time_ms;  // Position::from_time_ms: find the offset first
  size_t max_records;
  storage::Result<storage::ReadResult> result{storage::Error::kClosed, "not run"};
};

// A record read back from the log, as the broker routes messages, into *m
// (whose strings keep their capacity). The stored message expiry becomes an
// absolute time from the record's timestamp; the other properties are
// forwarded as stored.
void FillFromRecord(Message* m, const storage::Record& rec, storage::StreamId stream,
                    uint32_t partition) {
  m->topic.assign(rec.topic);
  m->payload.assign(rec.payload);
  m->properties.clear();
  m->qos = rec.qos;
  m->retain = rec.retain;
  m->expires_at_ms = 0;
  m->origin = 0;
  m->stored = true;
  m->stream = stream;
  m->partition = partition;
  m->offset = rec.offset;
  m->timestamp_ms = rec.timestamp_ms;
  if (!rec.properties.empty()) {
    mqtt::Properties props;
    if (mqtt::ParseProperties(rec.properties, mqtt::PropertyContext::kPublish, &props).ok()) {
      if (props.message_expiry_interval)
        m->expires_at_ms = rec.timestamp_ms + int64_t{*props.message_expiry_interval} * 1000;
      props.message_expiry_interval.reset();
      mqtt::AppendProperties(&m->properties, props);
    }
  }
}
}  // namespace

void Broker::StartRead(Session* s, uint64_t key, Position& p, uint32_t group, uint32_t epoch) {
  if (stopping_ || p.reading || !s->conn || !CanSend(s, 0)) return;
  if (p.ahead) {  // what was read first
    const bool done = group ? SendGroupAhead(s, key, p, group, epoch)
                            : SendAhead(s, key, p, SessionMatch(s), nullptr);
    if (!done) return;  // it fills the window
  }
  // Read once half the in-flight window is free, not at every acknowledgement:
  // a read decodes whole batches, which is wasted on a record or two.
  size_t window = std::min<size_t>(s->conn->receive_max_out, cfg_.limits.max_inflight);
  if (s->View().inflight.size() + std::max<size_t>(1, window / 2) > window) return;
  // A reader whose deliveries wait for acks cannot send more than the free
  // window: the rest of a read is kept for later (within the read-ahead
  // budget) or not read at all.
  size_t max_records = kCatchUpRecords;
  if (ReaderQos(s, group) > 0) {
    max_records = read_ahead_bytes_ < kReadAheadBudget
                      ? kReadAheadRecords
                      : std::min(max_records, window - s->View().inflight.size());
  }
  p.reading = true;
  auto* w = new ReadWork{};
  w->req.data = w;
  w->broker = this;
  w->log = log_.get();
  w->session = s->id;
  w->group = group;
  w->epoch = epoch;
  w->key = key;
  w->from = p.next;
  w->from_time_ms = p.from_time_ms;
  w->max_records = max_records;
  // LMDB reads may touch the disk: they run on libuv's thread pool so the
  // loop never waits for them.
  uv_queue_work(
      &loop_, &w->req,
      [](uv_work_t* req) {
        auto* w = static_cast<ReadWork*>(req->data);
        const auto stream = static_cast<storage::StreamId>(w->key >> 32);
        const auto part = static_cast<uint32_t>(w->key);
        if (w->from_time_ms) {
          auto off = w->log->OffsetForTime(stream, part, w->from_time_ms);
          if (!off.ok()) {
            w->result = storage::Result<storage::ReadResult>(off.status());
            return;
          }
          w->from = std::max(w->from, off.value());
        }
        w->result = w->log->Read(stream, part, w->from, w->max_records, kCatchUpBytes);
      },
      [](uv_work_t* req, int) {
        auto* w = static_cast<ReadWork*>(req->data);
        if (w->group) {
          w->broker->FinishGroupRead(w->group, w->key, w->epoch, w->result);
        } else {
          w->broker->FinishCatchUp(w->session, w->key, w->result);
        }
        delete w;
      });
}

uint8_t Broker::ReaderQos(const Session* s, uint32_t group) const {
  uint8_t q = 0;
  if (group) {
    auto it = groups_.find(group);
    const GroupMember* m = it == groups_.end() ? nullptr : it->second->Member(s->id);
    return m ? m->options.qos : 0;
  }
  for (const auto& [k, sub] : s->View().subscriptions) {
    if (sub.group.empty()) q = std::max(q, sub.options.qos);
  }
  return q;
}

bool Broker::MatchSession(const Session* s, std::string_view topic, Delivery* d,
                          uint8_t record_qos, bool record_retain) const {
  bool any = false;
  for (const auto& [k, sub] : s->View().subscriptions) {
    if (!sub.group.empty() || !mqtt::TopicMatches(sub.filter, topic)) continue;
    if (sub.options.check_read && !const_cast<Broker*>(this)->AllowRead(s->id, topic)) continue;
    uint8_t q = std::min(sub.options.qos, record_qos);
    if (!any || q > d->qos) d->qos = q;
    d->retain = d->retain || (sub.options.retain_as_published && record_retain);
    if (sub.options.subscription_id) d->subscription_ids.push_back(sub.options.subscription_id);
    d->stream_meta = d->stream_meta || sub.options.stream_meta;
    any = true;
  }
  return any;
}

Broker::ReadEnd Broker::DeliverRead(Session* s, uint64_t key, Position& p,
                                    storage::Result<storage::ReadResult>& r,
                                    const RecordMatch& match, const RecordSent& sent, size_t* index) {
  auto sk = static_cast<storage::StreamId>(key >> 32);
  auto part = static_cast<uint32_t>(key);
  if (!r.ok()) {
    if (r.status().code() == storage::Error::kOutOfRange) {
      // Retention removed what this reader had not read: skip to the start.
      auto info = log_->Info(sk, part);
      if (!info.ok()) return ReadEnd::kFailed;
      LOG_INFO("client %s: records %llu..%llu were removed by retention before delivery",
               s->client_id.c_str(), static_cast<unsigned long long>(p.next),
               static_cast<unsigned long long>(info->start_offset));
      p.next = info->start_offset;
      return ReadEnd::kMore;
    }
    LOG_ERROR("client %s: reading the log failed: %s", s->client_id.c_str(), r.status().message().c_str());
    return ReadEnd::kFailed;
  }
  const storage::ReadResult& rr = r.value();
  if (p.from_time_ms) {
    // The read started where the replay time is: records before it are skipped.
    p.next = std::max(p.next, rr.records.empty() ? rr.next_offset : rr.records.front().offset);
    p.from_time_ms = 0;
  }
  if (rr.records.empty()) {
    p.next = std::max(p.next, rr.next_offset);
    if (p.next < p.live_end) return ReadEnd::kMore;  // a commit landed after this read
    p.lagging = false;  // caught up: live delivery takes over
    return ReadEnd::kLive;
  }
  return DeliverRecords(s, key, p, rr, match, sent, index);
}

Broker::ReadEnd Broker::DeliverRecords(Session* s, uint64_t key, Position& p,
                                       const storage::ReadResult& rr, const RecordMatch& match,
                                       const RecordSent& sent, size_t* index) {
  auto sk = static_cast<storage::StreamId>(key >> 32);
  auto part = static_cast<uint32_t>(key);
  for (size_t i = index ? *index : 0; i < rr.records.size(); ++i) {
    const storage::Record& rec = rr.records[i];
    if (rec.offset < p.next) continue;
    Delivery d;
    if (!match(rec, &d)) {
      p.next = rec.offset + 1;
      continue;
    }
    if (!CanSend(s, d.qos)) {  // stays lagging; Pump resumes
      if (index) *index = i;
      return ReadEnd::kFull;
    }
    // A QoS 0 delivery is encoded and dropped at once: its message is reused
    // for the next record instead of being allocated per record.
    std::shared_ptr<Message> m;
    if (read_scratch_.use_count() == 1) m = std::move(read_scratch_);
    if (!m) m = std::make_shared<Message>();
    FillFromRecord(m.get(), rec, sk, part);
    d.msg = m;
    p.next = rec.offset + 1;
    bool awaits_ack = d.qos > 0;
    awaits_ack = Send(s, std::move(d)) && awaits_ack;
    d.msg.reset();
    if (m.use_count() == 1) read_scratch_ = std::move(m);  // nobody kept it
    if (sent) sent(rec.offset, awaits_ack);
  }
  p.next = std::max(p.next, rr.next_offset);
  return ReadEnd::kMore;  // read on while there is room
}

void Broker::FinishCatchUp(SubscriberId sid, uint64_t key, storage::Result<storage::ReadResult>& r) {
  auto it = sessions_by_id_.find(sid);
  if (it == sessions_by_id_.end()) return;
  Session* s = it->second;
  SessionFlow* flow = s->FlowIfAny();
  if (!flow) return;
  auto pit = flow->positions.find(key);
  if (pit == flow->positions.end()) return;
  Position& p = pit->second;
  p.reading = false;
  uint64_t before = p.next;
  size_t index = 0;
  ReadEnd end = DeliverRead(s, key, p, r, SessionMatch(s), nullptr, &index);
  if (p.next != before) s->positions_dirty = true;
  if (end == ReadEnd::kFull) KeepAhead(p, r, index);
  if (end == ReadEnd::kMore) StartRead(s, key, p);
}

Broker::RecordMatch Broker::SessionMatch(const Session* s) const {
  return [this, s](const storage::Record& rec, Delivery* d) {
    return MatchSession(s, rec.topic, d, rec.qos, rec.retain);
  };
}

void Broker::KeepAhead(Position& p, storage::Result<storage::ReadResult>& r, size_t index) {
  if (!r.ok() || index >= r.value().records.size()) return;
  storage::ReadResult& rr = r.value();
  size_t bytes = rr.records.capacity() * sizeof(storage::Record);
  for (const std::string& b : rr.buffers) bytes += b.capacity();
  if (read_ahead_bytes_ + bytes > kReadAheadBudget) return;  // read again when there is room
  auto a = std::make_unique<ReadAhead>();
  a->result = std::move(rr);  // the records' views move with their buffers
  a->index = index;
  a->bytes = bytes;
  a->total = &read_ahead_bytes_;
  read_ahead_bytes_ += bytes;
  p.ahead = std::move(a);
}

bool Broker::SendAhead(Session* s, uint64_t key, Position& p, const RecordMatch& match,
                       const RecordSent& sent) {
  ReadAhead& a = *p.ahead;
  const auto& records = a.result.records;
  while (a.index < records.size() && records[a.index].offset < p.next) ++a.index;
  // Only from where the read left off: if the position moved meanwhile (a
  // new replay), the log is read again from there.
  if (a.index < records.size() && records[a.index].offset == p.next && !p.from_time_ms) {
    const uint64_t before = p.next;
    ReadEnd end = DeliverRecords(s, key, p, a.result, match, sent, &a.index);
    if (p.next != before) s->positions_dirty = true;
    if (end == ReadEnd::kFull) return false;
  }
  p.ahead.reset();
  return true;
}

void Broker::SendRetained(Session* s, const Subscription& sub) {
  std::vector<std::pair<std::string_view, const MessagePtr*>> found;
  retained_.Match(sub.filter, &found);
  int64_t now = clock::WallMs();
  for (const auto& [topic, mp] : found) {
    const MessagePtr& m = *mp;
    if (m->expires_at_ms && m->expires_at_ms <= now) continue;
    if (sub.options.check_read && !AllowRead(s->id, m->topic)) continue;
    Delivery d;
    d.msg = m;
    d.qos = std::min(sub.options.qos, m->qos);
    d.retain = true;  // [MQTT-3.3.1-9]
    if (sub.options.subscription_id) d.subscription_ids.push_back(sub.options.subscription_id);
    // Retained copies take the in-memory path even when a stream stored them.
    if (s->View().queue.empty() && CanSend(s, d.qos)) {
      Send(s, std::move(d));
    } else if (s->View().queue.size() < cfg_.limits.max_queued_messages) {
      s->Flow().queue.push_back(std::move(d));
    }
  }
}

}  // namespace trib
