// Runner: the Exporter implementation shared by every kind. It owns the
// exporter thread and drives one Sink through connecting -> connected ->
// backoff, reads the log, keeps the in-flight window, commits cursors and
// keeps the status snapshot.
//
// Record mode (mqtt, kafka): records are read and sent one Send each; the
// window counts records. Batch mode (peer, Sink::BatchMode): stored batches
// are read as they are and sent several per message; the window counts
// messages, one ack covers every offset of its message, and the cursor still
// moves only over the acknowledged prefix.
//
// Priority: partitions are served in levels of equal PartitionRef::priority,
// highest first; a lower level gets window room only while every partition of
// the higher levels is caught up. Within a level, round-robin.
//
// Thread: the public methods are thread-safe; everything else runs on the
// exporter thread. Failure: upstream and storage errors are retried (with
// back-off) forever and reported in Status().
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bridge/ack_window.h"
#include "bridge/backoff.h"
#include "bridge/exporter.h"
#include "bridge/sink.h"
#include "bridge/token_bucket.h"
#include "storage/log.h"

namespace trib::bridge {

class Runner final : public Exporter {
 public:
  // `parts` are the partitions to ship, in the order they are served.
  Runner(const ExporterOptions& options, storage::Log* log, std::unique_ptr<Sink> sink,
         std::vector<PartitionRef> parts);
  ~Runner() override;

  void Start() override;
  void Stop() override;
  ExporterStatus Status() const override;

 private:
  enum class State { kConnecting, kConnected, kBackoff, kStopped };
  struct Part {
    PartitionRef ref;
    AckWindow window;
    uint64_t committed = 0;       // cursor value last submitted
    uint64_t start = 0;           // start offset last seen
    uint64_t end = 0;             // end offset last seen
    int64_t info_ns = 0;          // when `end` was read
    uint64_t head_ts_offset = 0;  // lag: the timestamp of the record at this offset
    int64_t head_ts_ms = 0;
    // Record mode: records read ahead of the window (they start at
    // window.end()), so that a window that frees a few slots at a time does
    // not re-read, and re-skip, the middle of a stored batch for each record.
    storage::ReadResult ahead;
    size_t ahead_pos = 0;
  };
  enum class Fill_ { kIdle, kSent, kBlocked, kFailed };
  struct InFlight {
    uint32_t part;
    uint64_t first;
    uint64_t count;  // offsets covered
    uint32_t units;  // window units: records (record mode) or 1 message (batch mode)
    int64_t sent_ns;
  };

  void Run();
  void LoadCursor(Part& p);
  // Adds partitions of replicated streams created since the last look
  // (options.forward_replicated) and orders the partitions by priority.
  void Discover(int64_t now_ns);
  void OrderByPriority();
  void DoConnect();
  void DoConnected();
  void DoBackoff();
  // Fills the window; returns how long the caller may wait for events.
  int64_t Fill(int64_t now_ns);
  // Sends one read chunk of one partition. kIdle: caught up (or a storage
  // error), kBlocked: the window or the pacer is full, kFailed: the link failed.
  Fill_ FillPartition(Part& p, uint32_t index, int64_t now_ns, uint64_t* room);
  Fill_ FillBatches(Part& p, uint32_t index, int64_t now_ns, uint64_t* room);
  // A read below the partition start: skips what retention deleted. True
  // when it did (the caller reports progress).
  bool SkipExpired(Part& p, int64_t now_ns);
  void AddInFlight(uint64_t id, uint32_t index, Part& p, uint64_t count, uint32_t units,
                   int64_t ts_ms, uint64_t bytes, int64_t now_ns);
  bool RefreshEnd(Part& p, int64_t now_ns, bool force);
  void HandleEvents(const std::vector<SinkEvent>& events);
  void LinkFailed(const std::string& why);
  void CommitCursors(bool force, int64_t now_ns);
  void Drain();
  void SetState(State s, const std::string& error);
  void PublishSnapshot(int64_t now_ns, bool force);
  void WaitMs(int64_t ms);

  const ExporterOptions options_;
  const std::string consumer_;
  storage::Log* const log_;
  const std::unique_ptr<Sink> sink_;
  std::vector<Part> parts_;
  std::vector<uint32_t> order_;   // indices into parts_, highest priority first
  std::vector<size_t> levels_;    // start of each priority level in order_, then order_.size()
  int64_t last_discover_ns_ = 0;

  // Exporter-thread state.
  State state_ = State::kConnecting;
  Backoff backoff_;
  TokenBucket bucket_;
  std::unordered_map<uint64_t, InFlight> inflight_;
  uint64_t inflight_records_ = 0;
  uint64_t inflight_units_ = 0;
  uint64_t next_id_ = 1;
  uint32_t rr_ = 0;
  bool connected_once_ = false;
  bool acked_since_connect_ = false;
  uint64_t acked_since_commit_ = 0;
  int64_t last_commit_ns_ = 0;
  int64_t last_snapshot_ns_ = 0;
  int64_t last_ack_check_ns_ = 0;
  int64_t last_ack_ns_ = 0;  // when the last acknowledgement arrived
  uint64_t commit_seq_ = 0;
  std::string last_error_;
  uint64_t reconnects_ = 0, records_sent_ = 0, records_acked_ = 0, bytes_sent_ = 0, duplicates_ = 0;
  std::vector<SinkEvent> events_;

  // Shared with other threads.
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;  // wakes the back-off wait on Stop
  bool started_ = false;
  bool stopped_ = false;
  std::thread thread_;
  ExporterStatus snapshot_;  // guarded by mu_
};

}  // namespace trib::bridge
