// Broker: owns the event loop and every piece of broker state: listeners,
// connections, sessions, the topic tree, retained messages, the storage log.
//
// Created by main(); Run() blocks until SIGINT/SIGTERM (or a fatal error) and
// returns the process exit code. Thread: everything runs on the loop thread;
// other threads (the storage writer, the thread pool doing log reads) reach it
// only through uv_async / uv_queue_work completions.
//
// The write path is batched end to end: a socket read yields many packets;
// every PUBLISH that a stream captures is appended to one WriteBatch per loop
// iteration, submitted once (uv_check); the storage writer commits all queued
// batches at once; completions come back through one uv_async, and the acks
// due on each connection go out in one write.
//
// The member functions are spread over files named after what they handle:
// broker.cc (lifecycle, timers), handle_connect.cc, handle_publish.cc,
// handle_ack.cc, handle_subscribe.cc, handle_disconnect.cc, ingest.cc
// (storage glue), deliver.cc (routing to sessions), group_delivery.cc
// (consumer groups over stream partitions), sessions.cc (persistence, expiry,
// wills).
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <nlohmann/json_fwd.hpp>
#include <functional>
#include <memory>
#include <type_traits>
#include <set>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "bridge/exporter.h"
#include "daemon/admin_http.h"
#include "daemon/auth/acl.h"
#include "daemon/auth/password_file.h"
#include "daemon/config.h"
#include "daemon/connection.h"
#include "daemon/groups.h"
#include "daemon/listener.h"
#include "daemon/message.h"
#include "daemon/mqtt/ack.h"
#include "daemon/mqtt/connect.h"
#include "daemon/mqtt/disconnect.h"
#include "daemon/mqtt/frame.h"
#include "daemon/mqtt/publish.h"
#include "daemon/mqtt/subscribe.h"
#include "daemon/replay.h"
#include "daemon/replicate_wire.h"
#include "daemon/retained_tree.h"
#include "daemon/session.h"
#include "daemon/stream_router.h"
#include "daemon/topic_tree.h"
#include "platform/fs.h"
#include "platform/systemd.h"
#include "platform/tls.h"
#include "storage/log.h"

namespace trib {

// Broker-wide counters (exported by the admin API once it exists).
struct BrokerStats {
  uint64_t connections_accepted = 0;
  uint64_t connections_refused = 0;
  uint64_t messages_in = 0;
  uint64_t bytes_in = 0;
  uint64_t messages_out = 0;
  uint64_t stored = 0;
  uint64_t malformed = 0;
  uint64_t dropped_queue = 0;
  uint64_t expired = 0;
  uint64_t tls_handshake_failures = 0;
  uint64_t tls_buffer_bytes_released = 0;  // idle TLS record buffer pages given back
  uint64_t delivered_on_receipt = 0;       // stream records sent before their commit
  uint64_t group_cursors_expired = 0;      // consumer groups whose cursors expired
  uint64_t auth_failures = 0;
  uint64_t acl_denials = 0;
  uint64_t rate_limited = 0;
  uint64_t replicated_records = 0;      // stored from $replicate (duplicates not counted)
  uint64_t replication_duplicates = 0;  // $replicate messages acked at once: already stored
  uint64_t replication_refused = 0;     // $replicate messages acked with an error
  uint64_t storage_failures = 0;        // storage submissions that failed (nothing of them acked)
};

class Broker {
 public:
  explicit Broker(config::Config cfg);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Where SIGHUP re-reads the configuration from ("" = built-in defaults).
  void SetConfigPath(std::string path) { config_path_ = std::move(path); }
  // A file written once listeners are bound: one "kind address" line each.
  void SetReadyFile(std::string path) { ready_file_ = std::move(path); }

  // Runs until stopped. Returns 0 after a clean stop, 1 on a runtime failure.
  int Run();

  uv_loop_t* loop() { return &loop_; }
  const config::Config& config() const { return cfg_; }

  // ---- Called by Connection (loop thread) ----
  std::string& read_buffer() { return read_buffer_; }
  uint32_t max_packet_size() const { return static_cast<uint32_t>(cfg_.limits.max_packet_size); }
  void OnPacket(Connection* c, const mqtt::Frame& f, std::string_view body);
  // A decoding or protocol failure: DISCONNECT with the reason (5.0) or a
  // plain close (3.1.1), logged with client id and address.
  void ProtocolFailure(Connection* c, const mqtt::Status& s);
  void OnPeerClosed(Connection* c, const char* why);
  void OnConnectionClosing(Connection* c);
  void OnConnectionClosed(Connection* c);
  void OnWritable(Connection* c);
  void MarkDirty(Connection* c) { dirty_.push_back(c->id()); }
  void OnTlsFailure(Connection* c, const std::string& why, bool after_handshake);
  void OnTlsBuffersReleased(size_t bytes) { stats_.tls_buffer_bytes_released += bytes; }

 private:
  // broker_admin.cc: the admin API's content
  HttpResponse HandleAdmin(const HttpRequest& req);
  std::string Metrics() const;
  nlohmann::json GroupsJson() const;
  std::string GroupMetrics() const;

  // security.cc: TLS contexts, passwords, ACLs, rate limits
  std::string LoadSecurity(const config::Config& cfg, bool reload);
  bool Authenticate(Connection* c, const mqtt::Connect& p, std::string* user, const char** why,
                    mqtt::ReasonCode* rc);
  bool AllowPublish(const Session* s, std::string_view topic);
  bool AllowSubscribe(const Session* s, std::string_view filter, bool* check_read);
  bool AllowRead(SubscriberId id, std::string_view topic);
  bool ChargeRate(Connection* c);

  // sys_topics.cc: $SYS/broker/... figures every mqtt.sys_interval
  void MaybePublishSys(int64_t now_ms);

  // exporters.cc: log shipping threads
  std::string StartExporters();
  std::string StartExporter(const config::ExporterConfig& e);
  void StopExporters();
  void ReloadExporters(const std::vector<config::ExporterConfig>& next, std::vector<std::string>* changed);
  void OnExporterStopped(const std::string& name);

  // broker.cc: lifecycle
  std::string Start();
  std::string OpenStorage();
  void WriteReadyFile();
  void BeginShutdown(const char* why);
  void FinishShutdown();
  void Reload();
  void CloseHandles();
  void Accept(uv_stream_t* server, const config::ListenerConfig& l, tls::Context* tls);
  void Tick();
  void EndOfIteration();
  Connection* FindConnection(uint64_t id);
  static void OnSignal(uv_signal_t* s, int signum);
  static void OnShutdownTimeout(uv_timer_t* t);
  static void OnTick(uv_timer_t* t);
  static void OnCheck(uv_check_t* c);
  static void OnStorageAsync(uv_async_t* a);

  // handle_*.cc: one per packet kind
  void HandleConnect(Connection* c, std::string_view body, uint8_t flags);
  // client_id: as the CONNECT gave it, for the log ("" when not decoded).
  void RefuseConnect(Connection* c, mqtt::Version v, mqtt::ReasonCode rc, const char* why,
                     std::string_view client_id = {});
  void HandlePublish(Connection* c, uint8_t flags, std::string_view body);
  void HandleAck(Connection* c, mqtt::PacketType type, uint8_t flags, std::string_view body);
  void HandleSubscribe(Connection* c, uint8_t flags, std::string_view body);
  void HandleUnsubscribe(Connection* c, uint8_t flags, std::string_view body);
  void HandleDisconnect(Connection* c, uint8_t flags, std::string_view body);
  void SendDisconnect(Connection* c, mqtt::ReasonCode rc, const char* why);

  // ingest.cc: publishes into streams, storage completions, ack ordering
  struct PendingRecord {
    uint64_t conn_id = 0;
    uint64_t ack_seq = 0;     // 0: no ack due (QoS 0, will, ...)
    uint32_t segment = 0;     // index of its (stream, partition) in this batch
    uint32_t index = 0;       // position within that segment
    std::shared_ptr<Message> msg;  // set when it must be delivered after commit
    uint8_t qos = 0;
    uint16_t packet_id = 0;  // QoS 2: remembered in the session once stored
    // Sessions it went to on receipt: the next `early` of PendingBatch::early.
    uint16_t early = 0;
    SubscriberId session = 0;
  };
  struct ReplicaAck {  // one $replicate message: its frames are consecutive segments
    uint64_t conn_id = 0;
    uint64_t ack_seq = 0;
    uint32_t first_segment = 0;
    uint32_t segments = 0;
  };
  struct PendingBatch {
    uint64_t token = 0;
    std::vector<uint64_t> segments;  // PartitionKey, in order of first append
    std::vector<uint32_t> counts;
    std::vector<PendingRecord> records;
    uint64_t first_seq = 0;  // records[i] is record number first_seq + i
    std::vector<SubscriberId> early;  // live_delivery = on_receipt, per record in order
    std::vector<ReplicaAck> replicas;
    // (connection, ack seq): PUBRECs of persistent sessions that wait for this
    // batch, which stores their packet ids (sessions.cc, PersistQos2Ids).
    std::vector<std::pair<uint64_t, uint64_t>> qos2_acks;
  };
  // Routes an accepted application message: into its stream (delivered and
  // acked after commit) or straight to subscribers. Returns false when the
  // message goes to storage and the ack must wait (ack_seq is then used).
  void Ingest(Connection* c, const mqtt::Publish& p, std::string_view topic, uint64_t ack_seq);
  void PublishWill(Session* s);
  std::shared_ptr<Message> MakeMessage(const mqtt::Publish& p, std::string_view topic,
                                       SubscriberId origin);
  void UpdateRetained(const mqtt::Publish& p, std::string_view topic, const MessagePtr& msg);
  uint64_t QueueAck(Connection* c, mqtt::PacketType type, uint16_t pid, bool ready,
                    mqtt::ReasonCode rc = mqtt::ReasonCode::kSuccess);
  void CompleteAck(Connection* c, uint64_t seq, mqtt::ReasonCode rc);
  // An inbound QoS 2 message is stored or delivered: a resend of its packet id
  // is now a duplicate until PUBREL [MQTT-4.3.3-9]. True when the session is
  // persistent: the id must be stored too before the PUBREC goes out, so that
  // a resend after a crash is still recognised.
  bool RememberQos2(SubscriberId session, uint16_t packet_id);
  void MarkQos2Dirty(Session* s);
  // Writes the QoS 2 id sets of the sessions marked dirty into batch_.
  void PersistQos2Ids();
  void SendReadyAcks(Connection* c);
  void SubmitPending();
  void ProcessCompletions();
  void ApplyCompletion(const storage::Completion& done, PendingBatch& batch);
  void PauseAllReading();
  void ResumeAllReading();

  // replicate.cc: stored batches from peer exporters on $replicate/...
  struct ReplicaStream;
  std::string ApplyReplicationRetention();
  static bool IsReplicateTopic(std::string_view topic);
  void HandleReplicate(Connection* c, const mqtt::Publish& p, std::string_view topic);
  void RefuseReplica(Connection* c, uint64_t ack_seq, mqtt::ReasonCode rc, const char* why,
                     std::string_view topic);
  ReplicaStream* FindReplicaStream(const std::string& name, uint32_t partitions);
  void FinishReplicaStream(const std::string& name, const storage::Result<storage::StreamId>& r);
  void AppendReplica(Connection* c, uint64_t ack_seq, storage::StreamId stream, uint32_t partition);
  void ApplyReplicaAcks(const storage::Completion& done, const PendingBatch& batch);
  // deliver.cc: from a message to the sessions that subscribed
  // `early`: sessions that had this stream record on receipt (not again).
  void Route(const MessagePtr& msg, std::span<const SubscriberId> early = {});
  // live_delivery = on_receipt: sends a record that is not committed yet to
  // the sessions that subscribed and can take it now, in order with what they
  // got before (match_subs_ holds its matches). Record number `seq`.
  void DeliverOnReceipt(const MessagePtr& msg, uint64_t seq, PendingRecord* pr);
  void UpdateLiveDelivery();  // on_receipt_ from cfg_.streams
  template <typename Fn>
  void ForEachDirect(const MessagePtr& msg, Fn&& fn);
  void Offer(Session* s, Delivery&& d);
  bool CanSend(const Session* s, uint8_t qos) const;
  // Returns false when the message was not sent (expired, over the client's
  // maximum packet size).
  bool Send(Session* s, Delivery&& d, bool dup = false, uint16_t packet_id = 0);
  void Pump(Session* s);
  // Reads partition `key` from p.next on the thread pool, for a session's own
  // subscriptions (group 0) or for a consumer group's partition owned by `s`.
  void StartRead(Session* s, uint64_t key, Position& p, uint32_t group = 0, uint32_t epoch = 0);
  // The highest QoS the reader's subscriptions grant (a group member's, or
  // the session's own).
  uint8_t ReaderQos(const Session* s, uint32_t group) const;
  void FinishCatchUp(SubscriberId sid, uint64_t key, storage::Result<storage::ReadResult>& r);
  // How one catch-up read ended: read on, caught up (live delivery takes
  // over), window full (Pump resumes), or failed.
  enum class ReadEnd { kMore, kLive, kFull, kFailed };
  using RecordMatch = std::function<bool(const storage::Record&, Delivery*)>;
  using RecordSent = std::function<void(uint64_t offset, bool awaits_ack)>;
  ReadEnd DeliverRead(Session* s, uint64_t key, Position& p, storage::Result<storage::ReadResult>& r,
                      const RecordMatch& match, const RecordSent& sent, size_t* index = nullptr);
  // The records of a read from *index on (0 when null); on kFull *index is
  // the first record not sent.
  ReadEnd DeliverRecords(Session* s, uint64_t key, Position& p, const storage::ReadResult& rr,
                         const RecordMatch& match, const RecordSent& sent, size_t* index);
  RecordMatch SessionMatch(const Session* s) const;
  // A session's own lagging partition: keeps what a read left over, and
  // sends from it; SendAhead returns false while records remain.
  void KeepAhead(Position& p, storage::Result<storage::ReadResult>& r, size_t index);
  bool SendAhead(Session* s, uint64_t key, Position& p, const RecordMatch& match,
                 const RecordSent& sent);
  bool MatchSession(const Session* s, std::string_view topic, Delivery* d, uint8_t record_qos,
                    bool record_retain) const;
  void SendRetained(Session* s, const Subscription& sub);
  // Where `pos` is in every stream partition that `filter` can match; "" or
  // why the position is out of range. No targets: the filter covers no stream.
  struct ReplayTarget {
    uint64_t key;
    uint64_t next;
    int64_t time_ms = 0;  // a time position: resolved by the first read (Position)
  };
  std::string ReplayTargets(std::string_view filter, const ReplayPosition& pos,
                            std::vector<ReplayTarget>* out);
  // Moves the session's positions in every stream partition that `filter`
  // can match to `pos`; returns "" or why the position is out of range.
  std::string ApplyReplay(Session* s, std::string_view filter, const ReplayPosition& pos);
  const std::string& StreamName(storage::StreamId id);

  // group_delivery.cc: consumer groups, $share/<group>/<filter> on stream topics
  ConsumerGroup* FindGroup(std::string_view group, std::string_view filter);
  // The group of a shared subscription, created when its filter covers stream
  // partitions (null when it covers none: plain round-robin). A new group
  // starts at its stored cursors, else at `start` (null: latest); "" or why
  // `start` cannot be served in *why.
  ConsumerGroup* EnsureGroup(const Subscription& sub, const ReplayPosition* start, std::string* why);
  void GroupSubscribed(Session* s, const Subscription& sub, bool added);
  void GroupUnsubscribed(Session* s, const Subscription& sub);
  void JoinGroups(Session* s);   // the session is connected: join its groups
  void LeaveGroups(Session* s);  // the session goes offline
  void Rebalance(ConsumerGroup* g);
  void MoveGroupPartition(ConsumerGroup* g, GroupPartition& p, SubscriberId owner);
  void GroupOffer(ConsumerGroup* g, const MessagePtr& msg);
  bool GroupDelivery(const ConsumerGroup* g, const GroupPartition& p, const GroupMember& m,
                     std::string_view topic, uint8_t qos, bool retain, Delivery* d);
  void GroupAcked(const Delivery& d);
  void PumpGroups(Session* s);
  void StartGroupRead(ConsumerGroup* g, GroupPartition& p);
  // How a group's read delivers: to the owner `m`, counting what awaits acks.
  // The callbacks hold only `r` (small enough for std::function's inline
  // storage: no allocation per call); it must outlive them.
  struct GroupRead {
    const ConsumerGroup* g;
    GroupPartition* p;
    const GroupMember* m;
  };
  std::pair<RecordMatch, RecordSent> GroupReadCallbacks(const GroupRead* r);
  // SendAhead for the group partition whose position `pos` is: false while
  // records remain, or when `s` no longer owns it (nothing to read then).
  bool SendGroupAhead(Session* s, uint64_t key, Position& pos, uint32_t group, uint32_t epoch);
  void FinishGroupRead(uint32_t group, uint64_t key, uint32_t epoch,
                       storage::Result<storage::ReadResult>& r);
  void TickGroups(int64_t now_ms);  // revocation deadlines, cursor commits
  // Looks up the stored cursors of g's partitions that are cursor_pending, on
  // the thread pool; the result lands in FinishGroupCursors.
  void LoadGroupCursors(ConsumerGroup* g);
  struct GroupCursorWork;
  void FinishGroupCursors(GroupCursorWork* w);
  // Runs work(job) on libuv's thread pool, then (this->*done)(job) on the
  // loop, then frees the job. For the loop's storage reads (DESIGN.md: the
  // loop never waits for the disk).
  template <class Job>
  void OnPool(std::unique_ptr<Job> job, void (Broker::*done)(Job*),
              std::type_identity_t<void (*)(Job*)> work) {
    struct Task {
      uv_work_t req;
      Broker* self;
      std::unique_ptr<Job> job;
      void (Broker::*done)(Job*);
      void (*work)(Job*);
    };
    auto* t = new Task{{}, this, std::move(job), done, work};
    t->req.data = t;
    uv_queue_work(
        &loop_, &t->req, [](uv_work_t* r) { auto* t = static_cast<Task*>(r->data); t->work(t->job.get()); },
        [](uv_work_t* r, int) {
          std::unique_ptr<Task> t(static_cast<Task*>(r->data));
          (t->self->*(t->done))(t->job.get());
        });
  }
  // Timestamps of the oldest unacknowledged record of g's lagging partitions
  // (for lag in seconds), read on the thread pool when `committed` moved.
  void LoadGroupHeads(ConsumerGroup* g);
  struct GroupHeadWork;
  void FinishGroupHeads(GroupHeadWork* w);
  // Seconds since the oldest record p's group has not acknowledged was
  // stored; 0 without lag, and while its timestamp is being looked up.
  double GroupLagSeconds(const GroupPartition& p, uint64_t end_offset) const;
  void CommitGroupCursors(ConsumerGroup* g);
  void CommitAllGroupCursors();
  void DropGroup(ConsumerGroup* g);
  // Deletes the cursors of consumer groups that have had no subscriber for
  // longer than limits.group_cursor_expiry (the idle_groups table, read on
  // the thread pool; the deletes go through the writer like any other).
  void ExpireIdleGroups(int64_t now_ms);
  struct IdleGroupWork;
  void FinishIdleGroups(IdleGroupWork* w);

  // sessions.cc: creation, takeover, persistence, expiry, wills
  Session* FindSession(const std::string& client_id);
  Session* CreateSession(const std::string& client_id);
  void DestroySession(Session* s, bool forget_persisted);
  void Detach(Session* s, bool publish_will_now);
  void PersistSession(Session* s);
  std::vector<SubscriberId> qos2_dirty_;  // sessions for PersistQos2Ids
  void PersistCursors(Session* s);
  void LoadSessions();
  void LoadRetained();
  void ExpireSessions(int64_t now_ms);
  void ResumeSession(Session* s);
  void AddSubscription(Session* s, const Subscription& sub);
  void RemoveSubscription(Session* s, const std::string& key);
  static std::string CursorName(const std::string& client_id) { return "s/" + client_id; }

  config::Config cfg_;
  std::string config_path_;
  std::string ready_file_;
  uv_loop_t loop_{};
  fs::DirLock dir_lock_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  uv_signal_t sigint_{}, sigterm_{}, sighup_{};
  uv_timer_t shutdown_timer_{};
  uv_timer_t tick_{};
  uv_check_t check_{};
  uv_async_t storage_async_{};
  systemd::Watchdog watchdog_;
  bool stopping_ = false;
  bool started_handles_ = false;
  int exit_code_ = 0;

  std::string read_buffer_;
  uint64_t next_conn_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Connection>> connections_;
  std::vector<uint64_t> dirty_;

  SubscriberId next_session_id_ = 1;
  // Keyed by a view of the session's own client_id (one copy of the id).
  // Held by Position::ahead of all sessions (declared before the sessions,
  // whose positions count down here when they go).
  size_t read_ahead_bytes_ = 0;
  std::unordered_map<std::string_view, std::unique_ptr<Session>> sessions_;
  std::unordered_map<SubscriberId, Session*> sessions_by_id_;
  TopicTree tree_;
  RetainedTree<MessagePtr> retained_;
  std::unordered_map<std::string, size_t> shared_rr_;
  // Consumer groups by id, and ids by "<group>\0<filter>".
  std::unordered_map<uint32_t, std::unique_ptr<ConsumerGroup>> groups_;
  std::unordered_map<std::string, uint32_t> group_ids_;
  uint32_t next_group_id_ = 1;
  // Bumped whenever a group is created or dropped: an idle-group sweep that
  // saw an older generation does nothing (it may have read a stale table).
  uint64_t group_generation_ = 0;
  bool idle_sweep_running_ = false;
  int64_t idle_sweep_last_ms_ = 0;
  std::string group_key_;  // scratch for lookups
  std::unordered_map<storage::StreamId, std::string> stream_names_;  // round-robin per group/filter

  std::unique_ptr<storage::Log> log_;
  // Cleared before the loop's handles close, so the storage writer never
  // signals a closed uv_async.
  std::shared_ptr<std::atomic<bool>> notify_alive_ = std::make_shared<std::atomic<bool>>(true);
  StreamRouter router_;
  storage::WriteBatch batch_;
  PendingBatch pending_;
  uint64_t next_token_ = 1;
  // Stream records are numbered as they arrive; completed_record_seq_ is the
  // last one whose commit the loop has processed (on_receipt ordering).
  uint64_t next_record_seq_ = 1;
  uint64_t completed_record_seq_ = 0;
  std::vector<uint8_t> on_receipt_;  // index: position in router_
  std::deque<PendingBatch> submitted_;
  // Per partition: one past the last offset the loop has routed (commits
  // processed), the point where an offline session's reading starts.
  std::unordered_map<uint64_t, uint64_t> routed_end_;
  std::vector<storage::Completion> completions_;
  std::unordered_map<std::string, std::shared_ptr<ReplicaStream>> replica_streams_;
  std::unordered_map<uint64_t, uint64_t> replica_end_;  // PartitionKey -> committed end
  std::vector<ReplicaFrame> frames_;                    // scratch of HandleReplicate
  bool storage_paused_ = false;
  bool storage_failed_ = false;
  std::string storage_failure_;  // the last commit failure, for /readyz

  // A message no delivery holds any more, reused by catch-up reads.
  std::shared_ptr<Message> read_scratch_;
  // Scratch space reused by Route().
  std::vector<SubMatch> match_subs_;
  std::vector<SharedMatch> match_shared_;

  BrokerStats stats_;
  struct StreamCounters {
    uint64_t messages = 0;
    uint64_t bytes = 0;
    uint64_t delivered = 0;
  };
  std::vector<StreamCounters> stream_in_;  // index: position in router_
  std::unordered_map<storage::StreamId, size_t> stream_index_;  // id -> position in router_
  std::unique_ptr<AdminHttp> admin_;
  std::vector<std::unique_ptr<bridge::Exporter>> exporters_;
  std::set<std::string> exporters_stopping_;  // stopped by a reload, on the thread pool
  std::vector<std::unique_ptr<tls::Context>> tls_;  // parallel to listeners_; null for plain
  auth::PasswordFile passwords_;
  bool have_passwords_ = false;
  // user -> tls::VerifiedDigest of the last password that passed (security.cc).
  std::unordered_map<std::string, std::string> verified_passwords_;
  auth::Acl acl_;
  int64_t started_ms_ = 0;
  // Message counts sampled every few seconds by the tick, for the rates in
  // /v1/status (over the span between `prev` and now).
  struct RateSample {
    int64_t ms = 0;
    uint64_t in = 0, out = 0;
  };
  RateSample rate_prev_, rate_cur_;
  // Returning freed heap to the system (TrimHeap): when it last ran, and
  // whether a run is on the thread pool now.
  int64_t trim_last_ms_ = 0;
  bool trim_running_ = false;
  uv_work_t trim_req_{};
  void TrimHeap(int64_t now_ms);
  struct {
    int64_t last_ms = 0;
    uint64_t messages_in = 0, messages_out = 0;  // at last_ms, for the rates
    std::unordered_map<std::string, std::string> last_values;  // topic -> value published
  } sys_;
};

}  // namespace trib
