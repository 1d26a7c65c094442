// Consumer groups over stream partitions: a shared subscription
// $share/<group>/<filter> whose filter covers stream topics. Each partition is
// owned by one live member (ConsumerGroup, daemon/groups.h). The owner gets the
// partition's records live while it keeps up, and from the log (reads on the
// thread pool, the same path as sessions) when it does not; its
// acknowledgements advance the group's committed cursor, which every tick
// writes through the normal WriteBatch.
//
// Rebalancing: every join or leave recomputes the assignment. A partition
// whose owner left moves at once and restarts at the committed cursor: only
// unacknowledged records are delivered again, in order. A partition taken from
// a live owner first gets nothing new, and moves once the owner acknowledged
// what it has in flight (no redelivery), or after kRevokeTimeoutMs.
#include <algorithm>
#include <optional>

#include "daemon/broker.h"
#include "daemon/mqtt/topic.h"
#include "platform/clock.h"
#include "platform/log.h"

namespace trib {
namespace {

// How long a live member may take to acknowledge the records in flight of a
// partition that is moving away from it.
constexpr int64_t kRevokeTimeoutMs = 5000;

}  // namespace

ConsumerGroup* Broker::FindGroup(std::string_view group, std::string_view filter) {
  if (groups_.empty()) return nullptr;
  group_key_.assign(group);
  group_key_.push_back('\0');
  group_key_.append(filter);
  auto it = group_ids_.find(group_key_);
  return it == group_ids_.end() ? nullptr : groups_[it->second].get();
}

ConsumerGroup* Broker::EnsureGroup(const Subscription& sub, const ReplayPosition* start,
                                   std::string* why) {
  if (ConsumerGroup* g = FindGroup(sub.group, sub.filter)) {
    if (start) {
      LOG_INFO("consumer group %s on %s exists: it continues from its cursor, not the replay position",
               sub.group.c_str(), sub.filter.c_str());
    }
    return g;
  }
  std::vector<ReplayTarget> targets;
  *why = ReplayTargets(sub.filter, start ? *start : ReplayPosition{}, &targets);
  if (!why->empty()) return nullptr;
  if (targets.empty()) {
    if (start) *why = "the filter matches no stream, so there is nothing to replay";
    return nullptr;  // no stream topics: plain round-robin
  }
  uint32_t id = next_group_id_++;
  auto g = std::make_unique<ConsumerGroup>(id, sub.group, sub.filter);
  // The start position is a default until the stored cursors are known: a
  // group that existed before resumes from its cursor, whatever `start` says.
  for (const ReplayTarget& t : targets) {
    auto stream = static_cast<storage::StreamId>(t.key >> 32);
    auto part = static_cast<uint32_t>(t.key);
    StreamName(stream);  // cached for the admin view
    g->AddPartition(stream, part, t.next, t.time_ms);
  }
  LOG_INFO("consumer group %s on %s: %zu partition(s)", sub.group.c_str(), sub.filter.c_str(),
           targets.size());
  ConsumerGroup* raw = g.get();
  group_ids_[sub.group + '\0' + sub.filter] = id;
  groups_[id] = std::move(g);
  batch_.DeleteIdleGroup(raw->cursor_name());  // back: its cursors no longer expire
  ++group_generation_;
  LoadGroupCursors(raw);
  return raw;
}

// The cursors database is small and hot, but an LMDB read may still touch the
// disk: the loop never does it (DESIGN.md), the thread pool does.
struct Broker::GroupCursorWork {
  storage::Log* log;
  uint32_t group;
  std::string consumer;
  std::vector<uint64_t> keys;
  std::vector<std::optional<uint64_t>> found;  // per key
  storage::Status status;
};

void Broker::LoadGroupCursors(ConsumerGroup* g) {
  if (g->cursors_loading || stopping_) return;
  std::vector<uint64_t> keys;
  for (const GroupPartition& p : g->partitions())
    if (p.cursor_pending) keys.push_back(p.key());
  if (keys.empty()) return;
  g->cursors_loading = true;
  auto w = std::make_unique<GroupCursorWork>();
  w->log = log_.get();
  w->group = g->id();
  w->consumer = g->cursor_name();
  w->keys = std::move(keys);
  OnPool(std::move(w), &Broker::FinishGroupCursors, [](GroupCursorWork* w) {
    for (uint64_t key : w->keys) {
      auto c = w->log->GetCursor(w->consumer, static_cast<storage::StreamId>(key >> 32),
                                 static_cast<uint32_t>(key));
      if (c.ok()) {
        w->found.emplace_back(c.value());
      } else if (c.status().code() == storage::Error::kNotFound) {
        w->found.emplace_back(std::nullopt);
      } else {
        w->status = c.status();
        return;
      }
    }
  });
}

void Broker::FinishGroupCursors(GroupCursorWork* w) {
  auto git = groups_.find(w->group);
  if (git == groups_.end()) return;  // dropped meanwhile
  ConsumerGroup* g = git->second.get();
  g->cursors_loading = false;
  if (!w->status.ok()) {
    // Nothing is read or stored for these partitions meanwhile; TickGroups
    // tries again.
    LOG_ERROR("consumer group %s: reading its stored cursors failed: %s", g->group().c_str(),
          w->status.message().c_str());
    return;
  }
  size_t restored = 0;
  for (size_t i = 0; i < w->keys.size(); ++i) {
    GroupPartition* p = g->Find(w->keys[i]);
    if (!p || !p->cursor_pending) continue;
    restored += w->found[i].has_value();
    ConsumerGroup::CursorLoaded(*p, w->found[i]);
    StartGroupRead(g, *p);
  }
  if (restored)
    LOG_INFO("consumer group %s on %s: %zu partition(s) resume from the committed cursor",
         g->group().c_str(), g->filter().c_str(), restored);
}

void Broker::GroupSubscribed(Session* s, const Subscription& sub, bool added) {
  std::string why;
  ConsumerGroup* g = EnsureGroup(sub, nullptr, &why);
  if (!g) {
    if (!why.empty()) LOG_WARN("consumer group %s: %s", sub.group.c_str(), why.c_str());
    return;
  }
  if (added) ++g->subscribers;
  if (s->conn && g->Join(s->id, s->client_id, sub.options)) {
    s->Flow().groups.push_back(g->id());
    Rebalance(g);
  }
}

void Broker::GroupUnsubscribed(Session* s, const Subscription& sub) {
  ConsumerGroup* g = FindGroup(sub.group, sub.filter);
  if (!g) return;
  if (g->Leave(s->id)) {
    std::vector<uint32_t>& ids = s->Flow().groups;
    ids.erase(std::remove(ids.begin(), ids.end(), g->id()), ids.end());
    Rebalance(g);
  }
  if (--g->subscribers <= 0) DropGroup(g);
}

void Broker::JoinGroups(Session* s) {
  for (const auto& [key, sub] : s->View().subscriptions) {
    if (sub.group.empty()) continue;
    ConsumerGroup* g = FindGroup(sub.group, sub.filter);
    if (g && g->Join(s->id, s->client_id, sub.options)) {
      s->Flow().groups.push_back(g->id());
      Rebalance(g);
    }
  }
}

void Broker::LeaveGroups(Session* s) {
  SessionFlow* flow = s->FlowIfAny();
  if (!flow) return;  // in no group, nothing in flight
  std::vector<uint32_t> ids;
  ids.swap(flow->groups);
  for (uint32_t id : ids) {
    auto it = groups_.find(id);
    if (it != groups_.end() && it->second->Leave(s->id)) Rebalance(it->second.get());
  }
  if (s->conn) return;
  // Offline: its partitions went to other members, which get the records this
  // session had not acknowledged; resending them on its return would only
  // duplicate them. QoS 2 flows stay: the client may hold their packet ids.
  flow->inflight.remove_if([](const OutFlight& f) { return f.d.group != 0 && f.d.qos == 1; });
}

void Broker::DropGroup(ConsumerGroup* g) {
  CommitGroupCursors(g);  // the cursor stays in storage for the group's return ...
  // ... until limits.group_cursor_expiry from now (ExpireIdleGroups).
  batch_.PutIdleGroup(g->cursor_name(), clock::WallMs());
  ++group_generation_;
  LOG_INFO("consumer group %s on %s: no subscriber left", g->group().c_str(), g->filter().c_str());
  group_ids_.erase(g->group() + '\0' + g->filter());
  groups_.erase(g->id());  // frees g
}

struct Broker::IdleGroupWork {
  storage::Log* log;
  uint64_t generation;
  std::vector<std::pair<std::string, int64_t>> idle;  // cursor consumer, idle since (wall ms)
  storage::Status status;
};

void Broker::ExpireIdleGroups(int64_t now_ms) {
  const int64_t expiry = cfg_.limits.group_cursor_expiry_ms;
  // A quarter of the expiry between sweeps, from 1 s to 1 h: the table is
  // small (one entry per departed group), the sweep cheap.
  const int64_t interval = std::clamp<int64_t>(expiry / 4, 1000, 3600 * 1000);
  if (expiry <= 0 || idle_sweep_running_ || stopping_ || now_ms - idle_sweep_last_ms_ < interval)
    return;
  idle_sweep_last_ms_ = now_ms;
  idle_sweep_running_ = true;
  auto w = std::make_unique<IdleGroupWork>();
  w->log = log_.get();
  w->generation = group_generation_;
  OnPool(std::move(w), &Broker::FinishIdleGroups, [](IdleGroupWork* w) {
    w->status = w->log->ForEachIdleGroup([w](std::string_view name, int64_t since_ms) {
      w->idle.emplace_back(std::string(name), since_ms);
    });
  });
}

void Broker::FinishIdleGroups(IdleGroupWork* w) {
  idle_sweep_running_ = false;
  if (!w->status.ok()) {
    LOG_ERROR("reading the idle consumer groups failed: %s", w->status.message().c_str());
    return;
  }
  // A group came or went while the table was read: the next sweep decides.
  if (w->generation != group_generation_ || stopping_) return;
  const int64_t expiry = cfg_.limits.group_cursor_expiry_ms;
  const int64_t now = clock::WallMs();
  if (expiry <= 0) return;
  for (const auto& [name, since] : w->idle) {
    IdleGroupVerdict v = JudgeIdleGroup(since, now, expiry);
    if (v == IdleGroupVerdict::kKeep) continue;
    bool live = false;
    for (const auto& [id, g] : groups_) live |= g->cursor_name() == name;
    if (live) continue;  // cannot happen with an unchanged generation; cheap to be sure
    if (v == IdleGroupVerdict::kRestamp) {
      LOG_NOTICE("consumer group cursors %s: departure time predates a set clock; counting from now",
                 name.c_str());
      batch_.PutIdleGroup(name, now);
      continue;
    }
    batch_.DeleteCursors(name);
    batch_.DeleteIdleGroup(name);
    ++stats_.group_cursors_expired;
    LOG_NOTICE("consumer group cursors %s expired: no subscriber for %lld s", name.c_str(),
               static_cast<long long>((now - since) / 1000));
  }
}

void Broker::Rebalance(ConsumerGroup* g) {
  std::vector<SubscriberId> target = g->Assignment();
  const int64_t now = clock::MonoMs();
  std::vector<GroupPartition>& parts = g->partitions();
  for (size_t i = 0; i < parts.size(); ++i) {
    GroupPartition& p = parts[i];
    if (target[i] == p.owner) {
      p.next_owner = 0;  // stays: a pending move is called off
      p.revoke_deadline_ms = 0;
      continue;
    }
    if (p.owner && g->Member(p.owner) && !p.unacked.empty()) {
      // The owner is alive with records in flight: let it finish them first.
      p.next_owner = target[i];
      if (!p.revoking()) p.revoke_deadline_ms = now + kRevokeTimeoutMs;
      continue;
    }
    MoveGroupPartition(g, p, target[i]);
  }
  LOG_INFO("consumer group %s on %s: %zu member(s), partitions rebalanced", g->group().c_str(),
           g->filter().c_str(), g->members().size());
  for (const GroupMember& m : g->members()) {
    auto it = sessions_by_id_.find(m.id);
    if (it != sessions_by_id_.end()) PumpGroups(it->second);
  }
}

void Broker::MoveGroupPartition(ConsumerGroup* g, GroupPartition& p, SubscriberId owner) {
  auto end = routed_end_.find(p.key());
  ConsumerGroup::Move(p, owner, end == routed_end_.end() ? 0 : end->second);
  const GroupMember* m = owner ? g->Member(owner) : nullptr;
  LOG_DEBUG("consumer group %s: %s/%u goes to %s from offset %llu", g->group().c_str(),
            StreamName(p.stream).c_str(), p.partition, m ? m->client_id.c_str() : "nobody",
            static_cast<unsigned long long>(p.committed));
  if (owner) StartGroupRead(g, p);
}

bool Broker::GroupDelivery(const ConsumerGroup* g, const GroupPartition& p, const GroupMember& m,
                           std::string_view topic, uint8_t qos, bool retain, Delivery* d) {
  if (!mqtt::TopicMatches(g->filter(), topic)) return false;
  if (m.options.check_read && !AllowRead(m.id, topic)) return false;
  d->qos = std::min(m.options.qos, qos);
  d->retain = m.options.retain_as_published && retain;
  if (m.options.subscription_id) d->subscription_ids.push_back(m.options.subscription_id);
  d->stream_meta = m.options.stream_meta;
  d->group = g->id();
  d->group_epoch = p.epoch;
  return true;
}

void Broker::GroupOffer(ConsumerGroup* g, const MessagePtr& msg) {
  GroupPartition* p = g->Find(PartitionKey(msg->stream, msg->partition));
  if (!p || msg->offset < p->pos.next) return;  // already sent from the log
  // Nobody owns it, or it is moving: the next owner reads from the cursor.
  if (!p->owner || p->revoking()) return;
  if (p->pos.lagging || msg->offset > p->pos.next) {
    p->pos.lagging = true;  // records before this one are still to be read
    p->pos.live_end = std::max(p->pos.live_end, msg->offset + 1);
    StartGroupRead(g, *p);
    return;
  }
  auto it = sessions_by_id_.find(p->owner);
  const GroupMember* m = g->Member(p->owner);
  if (it == sessions_by_id_.end() || !m) return;
  Session* s = it->second;
  Delivery d;
  if (!GroupDelivery(g, *p, *m, msg->topic, msg->qos, msg->retain, &d)) {
    p->pos.next = msg->offset + 1;
    ConsumerGroup::Settle(*p);
    return;
  }
  if (!s->View().queue.empty() || !CanSend(s, d.qos)) {
    p->pos.lagging = true;  // read it back from the log when there is room
    p->pos.live_end = std::max(p->pos.live_end, msg->offset + 1);
    return;
  }
  d.msg = msg;
  p->pos.next = msg->offset + 1;
  bool awaits_ack = d.qos > 0;
  awaits_ack = Send(s, std::move(d)) && awaits_ack;
  if (awaits_ack) ConsumerGroup::Sent(*p, msg->offset);
  ConsumerGroup::Settle(*p);  // QoS 0, or not sent (expired): consumed now
}

void Broker::GroupAcked(const Delivery& d) {
  auto it = groups_.find(d.group);
  if (it == groups_.end()) return;
  ConsumerGroup* g = it->second.get();
  const Message& m = *d.msg;
  GroupPartition* p = g->Find(PartitionKey(m.stream, m.partition));
  if (!p || !ConsumerGroup::Acked(*p, d.group_epoch, m.offset)) return;
  if (p->revoking() && p->unacked.empty()) MoveGroupPartition(g, *p, p->next_owner);
}

void Broker::PumpGroups(Session* s) {
  for (uint32_t id : s->View().groups) {
    auto it = groups_.find(id);
    if (it == groups_.end()) continue;
    for (GroupPartition& p : it->second->partitions()) {
      if (p.owner == s->id && !p.revoking() && p.pos.lagging && !p.pos.reading)
        StartGroupRead(it->second.get(), p);
    }
  }
}

void Broker::StartGroupRead(ConsumerGroup* g, GroupPartition& p) {
  if (!p.owner || p.revoking() || p.cursor_pending) return;
  auto it = sessions_by_id_.find(p.owner);
  if (it != sessions_by_id_.end()) StartRead(it->second, p.key(), p.pos, g->id(), p.epoch);
}

void Broker::FinishGroupRead(uint32_t group, uint64_t key, uint32_t epoch,
                             storage::Result<storage::ReadResult>& r) {
  auto git = groups_.find(group);
  if (git == groups_.end()) return;
  ConsumerGroup* g = git->second.get();
  GroupPartition* p = g->Find(key);
  if (!p || p->epoch != epoch) return;  // moved meanwhile: the new owner reads on its own
  p->pos.reading = false;
  if (!p->owner || p->revoking()) return;
  auto sit = sessions_by_id_.find(p->owner);
  const GroupMember* m = g->Member(p->owner);
  if (sit == sessions_by_id_.end() || !m) return;
  const GroupRead gr{g, p, m};
  auto [match, sent] = GroupReadCallbacks(&gr);
  size_t index = 0;
  ReadEnd end = DeliverRead(sit->second, key, p->pos, r, match, sent, &index);
  // The time is found: Settle moves the group's start (committed) to it.
  if (!p->pos.from_time_ms) p->start_time_ms = 0;
  ConsumerGroup::Settle(*p);
  if (end == ReadEnd::kFull) KeepAhead(p->pos, r, index);
  if (end == ReadEnd::kMore) StartGroupRead(g, *p);
}

std::pair<Broker::RecordMatch, Broker::RecordSent> Broker::GroupReadCallbacks(const GroupRead* r) {
  return {[this, r](const storage::Record& rec, Delivery* d) {
            return GroupDelivery(r->g, *r->p, *r->m, rec.topic, rec.qos, rec.retain, d);
          },
          [r](uint64_t offset, bool awaits_ack) {
            if (awaits_ack) ConsumerGroup::Sent(*r->p, offset);
          }};
}

bool Broker::SendGroupAhead(Session* s, uint64_t key, Position& pos, uint32_t group, uint32_t epoch) {
  auto git = groups_.find(group);
  ConsumerGroup* g = git == groups_.end() ? nullptr : git->second.get();
  GroupPartition* p = g ? g->Find(key) : nullptr;
  const GroupMember* m = g ? g->Member(s->id) : nullptr;
  if (!p || !m || p->epoch != epoch || &p->pos != &pos || p->owner != s->id || p->revoking()) {
    pos.ahead.reset();  // the partition moved: its new owner reads for itself
    return false;
  }
  const GroupRead gr{g, p, m};
  auto [match, sent] = GroupReadCallbacks(&gr);
  const bool done = SendAhead(s, key, pos, match, sent);
  ConsumerGroup::Settle(*p);
  return done;
}

void Broker::TickGroups(int64_t now_ms) {
  for (auto& [id, g] : groups_) {
    LoadGroupCursors(g.get());  // retries a failed lookup; nothing to do otherwise
    for (GroupPartition& p : g->partitions()) {
      if (!p.revoking() || now_ms < p.revoke_deadline_ms) continue;
      const GroupMember* m = g->Member(p.owner);
      LOG_NOTICE("consumer group %s: %s did not acknowledge %zu record(s) of %s/%u within %lld ms; "
                 "moving the partition (they will be delivered again)",
                 g->group().c_str(), m ? m->client_id.c_str() : "a member", p.unacked.size(),
                 StreamName(p.stream).c_str(), p.partition, static_cast<long long>(kRevokeTimeoutMs));
      MoveGroupPartition(g.get(), p, p.next_owner);
    }
    CommitGroupCursors(g.get());
    LoadGroupHeads(g.get());
  }
}

struct Broker::GroupHeadWork {
  storage::Log* log;
  uint32_t group;
  std::vector<std::pair<uint64_t, uint64_t>> heads;  // (partition key, offset)
  std::vector<int64_t> timestamps;                   // per head; 0: not found
};

void Broker::LoadGroupHeads(ConsumerGroup* g) {
  if (g->heads_loading || stopping_) return;
  std::vector<std::pair<uint64_t, uint64_t>> heads;
  for (const GroupPartition& p : g->partitions()) {
    auto end = routed_end_.find(p.key());
    const bool lagging = end != routed_end_.end() && end->second > p.committed;
    if (lagging && !p.cursor_pending && p.head_offset != p.committed)
      heads.emplace_back(p.key(), p.committed);
  }
  if (heads.empty()) return;
  g->heads_loading = true;
  auto w = std::make_unique<GroupHeadWork>();
  w->log = log_.get();
  w->group = g->id();
  w->heads = std::move(heads);
  OnPool(std::move(w), &Broker::FinishGroupHeads, [](GroupHeadWork* w) {
    for (const auto& [key, offset] : w->heads) {
      auto r = w->log->Read(static_cast<storage::StreamId>(key >> 32), static_cast<uint32_t>(key),
                            offset, 1, 1);
      w->timestamps.push_back(r.ok() && !r->records.empty() ? r->records[0].timestamp_ms : 0);
    }
  });
}

void Broker::FinishGroupHeads(GroupHeadWork* w) {
  auto git = groups_.find(w->group);
  if (git == groups_.end()) return;  // dropped meanwhile
  git->second->heads_loading = false;
  for (size_t i = 0; i < w->heads.size(); ++i) {
    GroupPartition* p = git->second->Find(w->heads[i].first);
    if (!p) continue;
    p->head_offset = w->heads[i].second;
    p->head_timestamp_ms = w->timestamps[i];
  }
}

double Broker::GroupLagSeconds(const GroupPartition& p, uint64_t end_offset) const {
  if (end_offset <= p.committed || p.head_timestamp_ms == 0) return 0;
  // Until the lookup for a moved cursor lands, the previous head (an older
  // record) stands in: the figure is at most one tick behind.
  return std::max<double>(0, (clock::WallMs() - p.head_timestamp_ms) / 1000.0);
}

void Broker::CommitGroupCursors(ConsumerGroup* g) {
  for (GroupPartition& p : g->partitions()) {
    if ((p.stored_valid && p.stored == p.committed) || p.start_time_ms || p.cursor_pending)
      continue;
    batch_.CommitCursor(g->cursor_name(), p.stream, p.partition, p.committed);
    p.stored = p.committed;
    p.stored_valid = true;
  }
}

void Broker::CommitAllGroupCursors() {
  for (auto& [id, g] : groups_) CommitGroupCursors(g.get());
}

}  // namespace trib
