// ConsumerGroup: see groups.h.
#include "daemon/groups.h"

#include <algorithm>

namespace trib {

IdleGroupVerdict JudgeIdleGroup(int64_t since_ms, int64_t now_ms, int64_t expiry_ms) {
  constexpr int64_t kClockSetMs = 1577836800000;  // 2020-01-01T00:00:00Z
  if (now_ms < kClockSetMs) return IdleGroupVerdict::kKeep;
  if (since_ms < kClockSetMs) return IdleGroupVerdict::kRestamp;
  return now_ms - since_ms >= expiry_ms ? IdleGroupVerdict::kExpire : IdleGroupVerdict::kKeep;
}

std::vector<SubscriberId> AssignPartitions(const std::vector<SubscriberId>& members,
                                           const std::vector<SubscriberId>& current) {
  std::vector<SubscriberId> out(current.size(), 0);
  const size_t n = members.size();
  if (n == 0) return out;
  const size_t base = current.size() / n;
  size_t extras = current.size() % n;  // members that may hold base + 1
  std::unordered_map<SubscriberId, size_t> slot;
  for (size_t m = 0; m < n; ++m) slot.emplace(members[m], m);
  std::vector<size_t> count(n, 0);
  // Keep partitions where they are while their owner is within its share.
  for (size_t i = 0; i < current.size(); ++i) {
    auto it = slot.find(current[i]);
    if (it == slot.end()) continue;
    size_t& c = count[it->second];
    if (c < base || (c == base && extras > 0)) {
      if (c == base) --extras;
      ++c;
      out[i] = current[i];
    }
  }
  // Give the rest to the members holding the fewest, first in member order.
  for (size_t i = 0; i < current.size(); ++i) {
    if (out[i] != 0) continue;
    size_t best = 0;
    for (size_t m = 1; m < n; ++m) {
      if (count[m] < count[best]) best = m;
    }
    if (count[best] == base) --extras;
    ++count[best];
    out[i] = members[best];
  }
  return out;
}

ConsumerGroup::ConsumerGroup(uint32_t id, std::string group, std::string filter)
    : id_(id), group_(std::move(group)), filter_(std::move(filter)) {
  cursor_name_ = "g/" + group_ + "/" + filter_;
}

void ConsumerGroup::AddPartition(storage::StreamId stream, uint32_t partition, uint64_t start,
                                 int64_t start_time_ms) {
  GroupPartition p;
  p.stream = stream;
  p.partition = partition;
  p.committed = p.stored = p.pos.next = start;
  p.start_time_ms = p.pos.from_time_ms = start_time_ms;
  p.cursor_pending = true;
  p.pos.lagging = true;
  auto at = std::lower_bound(partitions_.begin(), partitions_.end(), p.key(),
                             [](const GroupPartition& a, uint64_t k) { return a.key() < k; });
  partitions_.insert(at, std::move(p));
  index_.clear();
  for (size_t i = 0; i < partitions_.size(); ++i) index_[partitions_[i].key()] = i;
}

GroupPartition* ConsumerGroup::Find(uint64_t key) {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &partitions_[it->second];
}

bool ConsumerGroup::Join(SubscriberId id, const std::string& client_id, const SubOptions& options) {
  for (GroupMember& m : members_) {
    if (m.id == id) {
      m.options = options;
      return false;
    }
  }
  GroupMember m{id, client_id, options};
  auto at = std::lower_bound(members_.begin(), members_.end(), m,
                             [](const GroupMember& a, const GroupMember& b) {
                               return a.client_id != b.client_id ? a.client_id < b.client_id
                                                                 : a.id < b.id;
                             });
  members_.insert(at, std::move(m));
  return true;
}

bool ConsumerGroup::Leave(SubscriberId id) {
  auto it = std::find_if(members_.begin(), members_.end(),
                         [id](const GroupMember& m) { return m.id == id; });
  if (it == members_.end()) return false;
  members_.erase(it);
  return true;
}

const GroupMember* ConsumerGroup::Member(SubscriberId id) const {
  for (const GroupMember& m : members_) {
    if (m.id == id) return &m;
  }
  return nullptr;
}

std::vector<SubscriberId> ConsumerGroup::Assignment() const {
  std::vector<SubscriberId> ids, current;
  ids.reserve(members_.size());
  for (const GroupMember& m : members_) ids.push_back(m.id);
  current.reserve(partitions_.size());
  for (const GroupPartition& p : partitions_) current.push_back(p.revoking() ? p.next_owner : p.owner);
  return AssignPartitions(ids, current);
}

void ConsumerGroup::Sent(GroupPartition& p, uint64_t offset) {
  p.unacked.push_back(GroupPartition::Sent{offset, false});
}

bool ConsumerGroup::Acked(GroupPartition& p, uint32_t epoch, uint64_t offset) {
  if (epoch != p.epoch) return false;
  // Acks come mostly in send order: the entry is usually at the front.
  for (GroupPartition::Sent& s : p.unacked) {
    if (s.offset == offset) {
      if (s.acked) return false;
      s.acked = true;
      Settle(p);
      return true;
    }
    if (s.offset > offset) break;
  }
  return false;
}

void ConsumerGroup::Settle(GroupPartition& p) {
  while (!p.unacked.empty() && p.unacked.front().acked) p.unacked.pop_front();
  uint64_t c = p.unacked.empty() ? p.pos.next : p.unacked.front().offset;
  p.committed = std::max(p.committed, c);
}

void ConsumerGroup::CursorLoaded(GroupPartition& p, std::optional<uint64_t> stored) {
  p.cursor_pending = false;
  if (!stored) return;  // a new group: the default start (and time) stand
  p.committed = p.stored = p.pos.next = *stored;
  p.stored_valid = true;
  p.start_time_ms = p.pos.from_time_ms = 0;
  p.pos.live_end = std::max(p.pos.live_end, *stored);
}

void ConsumerGroup::Move(GroupPartition& p, SubscriberId owner, uint64_t live_end) {
  p.owner = owner;
  p.next_owner = 0;
  p.revoke_deadline_ms = 0;
  ++p.epoch;
  p.unacked.clear();
  p.pos = Position{};
  p.pos.next = p.committed;
  p.pos.from_time_ms = p.start_time_ms;
  p.pos.lagging = true;
  p.pos.live_end = std::max(live_end, p.committed);
}

}  // namespace trib
