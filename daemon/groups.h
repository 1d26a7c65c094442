// ConsumerGroup: a shared subscription ($share/<group>/<filter>) whose filter
// covers stream topics, consumed Kafka-style. Each partition of the covered
// streams is owned by one live member at a time, so records of one key keep
// their order; the owner receives the partition's records in log order from
// the group's position; the group's committed cursor (the first offset not
// yet acknowledged; everything below it was acknowledged or skipped) advances
// as the owner acknowledges, and is stored as cursor `g/<group>/<filter>`.
//
// This file holds the state and its pure rules: membership, the sticky
// balanced assignment, acknowledgement tracking and moving a partition to a
// new owner. The broker does the I/O (daemon/group_delivery.cc: live
// delivery, log reads on the thread pool, cursor commits, rebalancing).
//
// Memory: per partition, the offsets sent and not yet acknowledged, so at
// most the owner's in-flight window; records themselves are never queued.
//
// Owned by the Broker (groups_). Thread: loop only. Nothing here fails.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/session.h"
#include "daemon/topic_tree.h"
#include "storage/log.h"

namespace trib {

// A live member: a connected session holding the group's subscription.
struct GroupMember {
  SubscriberId id = 0;
  std::string client_id;
  SubOptions options;  // of its $share subscription
};

// One stream partition as the group consumes it.
struct GroupPartition {
  storage::StreamId stream = 0;
  uint32_t partition = 0;
  SubscriberId owner = 0;  // 0: nobody (no live member)
  // While revoking: the owner gets nothing new, and the partition moves to
  // next_owner once its records in flight are acknowledged or at the deadline.
  SubscriberId next_owner = 0;
  int64_t revoke_deadline_ms = 0;  // monotonic; 0 when not revoking
  uint32_t epoch = 0;              // changes with every move; stale acks are ignored
  Position pos;                    // how far the current owner has been sent
  uint64_t committed = 0;          // the group's cursor: next offset not acknowledged
  uint64_t stored = 0;             // the cursor value last handed to storage
  bool stored_valid = false;       // `stored` holds a value
  // A new group started from a time: `committed` is the partition's start
  // until the first read finds the offset (Position::from_time_ms); the
  // cursor is not stored before that.
  int64_t start_time_ms = 0;
  // The group's stored cursor for this partition is being looked up on the
  // thread pool (Broker::LoadGroupCursors): `committed` is only the default
  // start until then, nothing is read or stored for the partition, and a
  // cursor found replaces it (and the start time).
  bool cursor_pending = false;
  // For lag in seconds: the timestamp of the record at head_offset, looked up
  // on the thread pool (Broker::LoadGroupHeads) when `committed` has moved;
  // 0 while unknown.
  uint64_t head_offset = UINT64_MAX;
  int64_t head_timestamp_ms = 0;
  struct Sent {
    uint64_t offset;
    bool acked;
  };
  std::deque<Sent> unacked;  // sent to the owner in this epoch, waiting for acks, in order

  uint64_t key() const { return PartitionKey(stream, partition); }
  bool revoking() const { return revoke_deadline_ms != 0; }
};

// Which member should own each partition. `members` in their stable order
// (the broker sorts them by client id); `current[i]` is partition i's present
// or incoming owner (0: none). Balanced: every member gets floor(P/n) or
// ceil(P/n) partitions. Sticky: a partition stays with its current owner
// while that owner is within its share, so a join or a leave moves as few
// partitions as balance allows. Deterministic.
std::vector<SubscriberId> AssignPartitions(const std::vector<SubscriberId>& members,
                                           const std::vector<SubscriberId>& current);

// What to do with a group that has had no subscriber since `since_ms` (wall
// clock), at `now_ms`, with limits.group_cursor_expiry `expiry_ms` (> 0).
// A gateway without a battery-backed clock may run on a clock near 1970 until
// NTP sets it: a time before 2020 is no time at all. A departure stamped with
// such a clock is stamped again with the first real one (kRestamp) rather
// than expired at once; while the clock itself is not set, nothing expires.
enum class IdleGroupVerdict { kKeep, kExpire, kRestamp };
IdleGroupVerdict JudgeIdleGroup(int64_t since_ms, int64_t now_ms, int64_t expiry_ms);

class ConsumerGroup {
 public:
  ConsumerGroup(uint32_t id, std::string group, std::string filter);

  uint32_t id() const { return id_; }
  const std::string& group() const { return group_; }
  const std::string& filter() const { return filter_; }
  // The storage consumer name of the group's cursors. A share name holds no
  // '/', so the name is unambiguous.
  const std::string& cursor_name() const { return cursor_name_; }

  // Partitions in (stream, partition) order; added at creation only, with
  // the start a new group gets (an offset, and a time when it replays from
  // one), cursor_pending until CursorLoaded says whether a stored cursor
  // replaces it. REQUIRES: not already added.
  void AddPartition(storage::StreamId stream, uint32_t partition, uint64_t start,
                    int64_t start_time_ms = 0);
  GroupPartition* Find(uint64_t key);
  bool cursors_loading = false;  // a LoadGroupCursors work item is queued
  bool heads_loading = false;    // a LoadGroupHeads work item is queued
  std::vector<GroupPartition>& partitions() { return partitions_; }
  const std::vector<GroupPartition>& partitions() const { return partitions_; }

  // Live membership, kept sorted by client id. Join returns true when the
  // member is new (a rebalance is due); a known member's options are updated.
  bool Join(SubscriberId id, const std::string& client_id, const SubOptions& options);
  bool Leave(SubscriberId id);  // true when it was a member
  const GroupMember* Member(SubscriberId id) const;
  const std::vector<GroupMember>& members() const { return members_; }

  // Target owner of every partition (AssignPartitions over the members, with
  // each partition's incoming owner when revoking, else its owner).
  std::vector<SubscriberId> Assignment() const;

  // Sessions holding the subscription, connected or not: the group's state
  // lives while there is one.
  int subscribers = 0;

  // ---- Acknowledgement tracking of one partition (pure) ----
  // A record at `offset` was sent to the owner and waits for its ack.
  // REQUIRES: offsets are sent in increasing order within an epoch.
  static void Sent(GroupPartition& p, uint64_t offset);
  // The owner acknowledged (epoch, offset). Returns false, changing nothing,
  // when it is from an earlier owner or unknown.
  static bool Acked(GroupPartition& p, uint32_t epoch, uint64_t offset);
  // Drops the acknowledged prefix and moves `committed` up to the first
  // unacknowledged offset, or to pos.next when nothing waits. Never moves it down.
  static void Settle(GroupPartition& p);
  // Hands the partition to `owner` (0: nobody) at the committed cursor: a new
  // epoch, nothing in flight, reading from `committed` up to at least `live_end`.
  static void Move(GroupPartition& p, SubscriberId owner, uint64_t live_end);
  // The stored cursor lookup for p ended: `stored` (if the group has one for
  // the partition) replaces the default start and any start time.
  static void CursorLoaded(GroupPartition& p, std::optional<uint64_t> stored);

 private:
  uint32_t id_;
  std::string group_, filter_, cursor_name_;
  std::vector<GroupPartition> partitions_;
  std::unordered_map<uint64_t, size_t> index_;  // partition key -> position in partitions_
  std::vector<GroupMember> members_;
};

}  // namespace trib
