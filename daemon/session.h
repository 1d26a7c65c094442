// Session: the MQTT session state of one client id, which outlives its network
// connection when the client asked for a persistent session.
//
// Holds the subscriptions, the outbound in-flight window (QoS 1/2 messages
// sent and not yet acknowledged), the inbound QoS 2 packet ids awaiting
// PUBREL, a bounded queue for messages that are in no stream, and, per stream
// partition, the position the session has delivered up to. Messages of a
// stream are never queued here: a session that cannot take one marks that
// partition as lagging and later reads it back from the log from its position.
//
// Owned by the Broker (sessions_ map). Thread: loop only.
#pragma once

#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "daemon/message.h"
#include "daemon/topic_tree.h"

namespace trib {

class Connection;

struct Subscription {
  std::string filter;  // without the $share/<group>/ prefix
  std::string group;   // "" for a plain subscription
  SubOptions options;
};

// One message waiting to be sent (or re-sent) to this session.
struct Delivery {
  MessagePtr msg;
  uint8_t qos = 0;
  bool retain = false;
  std::vector<uint32_t> subscription_ids;
  bool stream_meta = false;  // add the record's stream position as user properties
  // Set when a consumer group sent it (daemon/groups.h): its ack advances
  // that group's cursor, unless the partition has moved since (epoch).
  uint32_t group = 0;
  uint32_t group_epoch = 0;
};

struct OutFlight {
  uint16_t packet_id = 0;
  Delivery d;
  bool pubrec_received = false;  // QoS 2: PUBREL sent, waiting for PUBCOMP
};

// How far a session has delivered one stream partition.
// The rest of a log read that did not fit the reader's in-flight window,
// delivered from memory as acknowledgements make room (deliver.cc). Its bytes
// count in *total (the broker's read-ahead budget) while it exists.
struct ReadAhead {
  storage::ReadResult result;
  size_t index = 0;  // the next record to deliver
  size_t bytes = 0;
  size_t* total = nullptr;
  ReadAhead() = default;
  ReadAhead(const ReadAhead&) = delete;
  ReadAhead& operator=(const ReadAhead&) = delete;
  ~ReadAhead() {
    if (total) *total -= bytes;
  }
};

struct Position {
  uint64_t next = 0;     // the next offset to deliver
  bool lagging = false;  // records from `next` on must be read from the log
  bool reading = false;  // a log read is in progress
  // One past the highest offset offered live while lagging: a read that ends
  // below it raced with that commit and must read again before going live.
  uint64_t live_end = 0;
  // Replay from a time (ms since the epoch; 0: none): `next` is the
  // partition's start until the first log read, which finds the offset for
  // this time on the thread pool (the time index may not be in memory).
  int64_t from_time_ms = 0;
  // live_delivery = on_receipt: record number of the last record that went
  // the committed way; nothing is sent on receipt until the loop has
  // processed its commit (so records arrive in log order).
  uint64_t hold_seq = 0;
  std::unique_ptr<ReadAhead> ahead;  // lagging: records read and not sent yet
};

inline uint64_t PartitionKey(storage::StreamId s, uint32_t p) {
  return (uint64_t{s} << 32) | p;
}

// Inbound QoS 2 packet ids awaiting PUBREL, allocated by the first QoS 2
// PUBLISH (most sessions never see one).
struct Qos2Ids {
  std::unordered_set<uint16_t> in;
  // Read back from storage after a restart. Only a resend (DUP set) matches
  // one: the PUBREL that released it may have come after the last write of
  // the set, so a new message may reuse the id.
  std::unordered_set<uint16_t> restored;
};

// What a session needs once it subscribes, has something to deliver, or
// takes QoS 2 messages in.
struct SessionFlow {
  std::map<std::string, Subscription> subscriptions;  // key: the filter as subscribed
  // Lists, not deques: a std::deque allocates on construction.
  std::list<OutFlight> inflight;  // send order
  std::list<Delivery> queue;      // waiting for window space or a connection
  std::unordered_map<uint64_t, Position> positions;
  std::vector<uint32_t> groups;  // consumer groups it is a live member of (ids)
  std::unique_ptr<Qos2Ids> qos2;
};

struct Session {
  SubscriberId id = 0;
  std::string client_id;
  std::string username;        // as authenticated; for ACL checks
  Connection* conn = nullptr;  // null while offline
  int64_t offline_since_ms = 0;  // monotonic, while offline
  // Session Expiry Interval in seconds (0: ends with the connection;
  // 0xFFFFFFFF: never). 3.1.1 clean session=0 maps to "never".
  uint32_t expiry_interval = 0;
  uint16_t last_packet_id = 0;
  bool anonymous = true;
  bool qos2_dirty = false;       // the stored id set is behind (Broker::PersistQos2Ids)
  bool positions_dirty = false;  // cursors changed since last persisted
  bool stored = false;           // has a record in the sessions table

  // Idle sessions are the common case on a gateway (a sensor that only
  // publishes): subscriptions, the outbound window and queue, stream
  // positions, group memberships and QoS 2 ids are allocated by the first use
  // (Flow()), and read through View() without allocating. README,
  // "Reliability": memory per connection.
  SessionFlow& Flow() {
    if (!flow_) flow_ = std::make_unique<SessionFlow>();
    return *flow_;
  }
  SessionFlow* FlowIfAny() { return flow_.get(); }
  const SessionFlow& View() const { return flow_ ? *flow_ : kNoFlow; }

  // Inbound QoS 2 packet ids awaiting PUBREL (SessionFlow::qos2).
  Qos2Ids& Qos2() {
    SessionFlow& f = Flow();
    if (!f.qos2) f.qos2 = std::make_unique<Qos2Ids>();
    return *f.qos2;
  }
  const Qos2Ids* qos2() const { return flow_ ? flow_->qos2.get() : nullptr; }
  bool Qos2Known(uint16_t id) const { return qos2() && qos2()->in.count(id) > 0; }
  bool Qos2TakeRestored(uint16_t id) {
    return flow_ && flow_->qos2 && flow_->qos2->restored.erase(id) > 0;
  }
  // PUBREL: forgets the id; false when it was not known.
  bool Qos2Release(uint16_t id) {
    Qos2Ids* q = flow_ ? flow_->qos2.get() : nullptr;
    return q && (q->in.erase(id) > 0 || q->restored.erase(id) > 0);
  }

  // The will of the current connection (moved here at CONNECT); null: none.
  struct Will {
    MessagePtr msg;
    uint32_t delay = 0;  // seconds
    int64_t due_ms = 0;  // monotonic; 0 = no pending delayed will
  };
  std::unique_ptr<Will> will;

  bool persistent() const { return expiry_interval > 0; }

  // A packet id not in use by the in-flight window [MQTT-2.2.1-3].
  uint16_t NextPacketId() {
    for (;;) {
      if (++last_packet_id == 0) last_packet_id = 1;
      bool used = false;
      for (const OutFlight& f : View().inflight) used |= f.packet_id == last_packet_id;
      if (!used) return last_packet_id;
    }
  }

 private:
  static const SessionFlow kNoFlow;
  std::unique_ptr<SessionFlow> flow_;
};

}  // namespace trib
