// Writer: the thread that owns every LMDB write transaction of a Log.
//
// Owned by Log::Impl. Submit/OverLimit/TakeCompletions/Flush/Control are
// thread-safe; everything else runs on the writer thread. A round takes every
// queued WriteBatch, appends each partition's records in submission order as
// batches, applies cursor/retained/session writes, runs a bounded retention
// step and commits once; storage/FORMAT.md says how it syncs and what it does
// on MDB_MAP_FULL. Failures become failed completions (and log lines), never
// exceptions or crashes.
#pragma once

#include <condition_variable>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/batch.h"
#include "storage/env.h"
#include "storage/state.h"

struct MDB_val;  // <lmdb.h>: typedef struct MDB_val {...} MDB_val

namespace trib::storage {

constexpr int kRetentionBatchesPerCommit = 64;
constexpr int64_t kTimeIndexIntervalMs = 1000;
constexpr int64_t kCheckpointIntervalMs = 1000;
constexpr int kMaxFullAttempts = 32;
// Pages of the map that appends leave to deletions (at least; 1/64 of the map
// when that is more).
constexpr uint64_t kDeleteReservePages = 32;

// A stream change run on the writer thread; Writer::Control blocks until done.
struct ControlOp {
  enum class Kind { kOpenStreams, kEnsureStream, kUpdateRetention } kind = Kind::kOpenStreams;
  std::vector<StreamSpec> specs;  // kOpenStreams; kEnsureStream uses specs[0]
  StreamId stream = 0;            // kUpdateRetention
  int64_t max_age_ms = 0;
  uint64_t max_bytes = 0;
  OnFull on_full = OnFull::kDropOldest;
  // Results.
  Status status;
  StreamId id = 0;
  bool done = false;
};

class Writer {
 public:
  Writer(const Options& options, Env* env, Catalog* catalog, Counters* counters);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  // Starts the thread, which initializes the environment and loads the
  // streams; returns that result (on failure the thread has stopped).
  Status Start();
  // Commits and syncs everything queued, then stops the thread.
  void Stop();

  bool Submit(std::unique_ptr<WriteBatch::Rep> rep, uint64_t token);
  bool OverLimit() const;
  void TakeCompletions(std::vector<Completion>* out);
  void Flush();
  void Control(ControlOp* op);

  int64_t WallMs() const;
  int64_t MonoMs() const;

 private:
  struct Item {
    std::unique_ptr<WriteBatch::Rep> rep;
    uint64_t token = 0;
    uint64_t seq = 0;
    size_t bytes = 0;
    Error error = Error::kOk;  // the whole submission failed
    std::string message;
  };
  struct SegRef {
    uint32_t ordinal;
    uint32_t item;
    uint32_t seg;
  };
  struct Pending {  // completions waiting for a sync
    std::vector<Completion> completions;
    uint64_t last_seq = 0;
  };

  // writer.cc: thread, queue, sync and completions.
  void Run(std::promise<Status>* started);
  void Loop();
  bool ReadyToTake(int64_t now_mono) const;
  void TakeRound(std::vector<Item>* items);
  void AfterCommit(Pending&& round, bool committed);
  void SyncAndRelease();
  int SyncHook();
  void Release(Pending* p, const Status& failure);
  void DecQueued(size_t bytes);
  void RetentionTick();

  // apply.cc: one round of appends and writes.
  void RunRound(std::vector<Item>* items, Pending* out, bool* committed);
  void Validate(std::vector<Item>* items);
  int TryRound(std::vector<Item>* items, int64_t ts, bool* committed);
  bool OverAppendLimit(MDB_txn* txn);
  // Pages in use as seen by `txn` (computed once per transaction).
  uint64_t TxnUsedPages(MDB_txn* txn);
  int AppendAll(MDB_txn* txn, std::vector<Item>* items, int64_t ts);
  int WritePartition(MDB_txn* txn, PartitionState* p, std::vector<Item>* items, const SegRef* refs,
                     size_t n, int64_t ts);
  int PutBatch(MDB_txn* txn, PartitionState* p, uint32_t count, int64_t ts);
  // An AppendBatch segment: duplicate, trimmed, or stored as is (after a gap).
  int PutRawBatch(MDB_txn* txn, PartitionState* p, WriteBatch::Rep::Seg* seg);
  // Stores the value at the partition's end offset (or at `base` past a gap)
  // and does the bookkeeping every stored batch needs.
  int StoreValue(MDB_txn* txn, PartitionState* p, uint64_t base, MDB_val* value, unsigned flags,
                 uint32_t count, int64_t ts, size_t body_bytes);
  void ValidateRaw(WriteBatch::Rep::Seg* seg);
  int ApplyOps(MDB_txn* txn, WriteBatch::Rep* rep);
  int DeleteCursors(MDB_txn* txn, const std::string& consumer);
  int BeginTxn(MDB_txn** txn);
  // Commits; on success publishes the touched partitions and counters, on
  // failure rolls them back. The transaction is gone either way. `durable`
  // makes LMDB write the meta page synchronously (FORMAT.md, "Durability");
  // otherwise it reaches the disk with the next fdatasync.
  // Also publishes the pages in use (Counters::used_pages), so that readers
  // of the figure (admin API, $SYS) need no read transaction.
  int CommitTxn(MDB_txn* txn, bool durable = false);
  bool QueueEmpty() const;
  void AbortTxn(MDB_txn* txn);
  void BuildCompletions(std::vector<Item>* items, int64_t ts, Pending* out);
  int64_t NextTimestamp();

  // retention.cc: retention, on_full and partition bookkeeping.
  void Touch(PartitionState* p);
  void PublishTouched(int64_t now_mono);
  void RollbackTouched();
  int RefreshBytes(MDB_txn* txn, PartitionState* p);
  int DeleteHead(MDB_txn* txn, PartitionState* p, uint64_t* records, size_t* value_bytes);
  bool AgeExceeded(const PartitionState* p, const StreamSpec& spec, int64_t now_wall,
                   int64_t now_mono) const;
  bool RetentionNeeded() const;
  // Deletes at most `budget` head batches that retention allows; *batches
  // counts them.
  int RetentionStep(MDB_txn* txn, int budget, int* batches);
  uint64_t StreamBytes(const StreamState* s) const;
  PartitionState* OldestHead(const std::vector<StreamState*>& streams) const;
  int RetentionTxn(int budget);  // returns batches deleted (committed)
  void HandleFull(std::vector<Item>* items, int attempt);
  uint64_t DropTxn(const std::vector<StreamState*>& streams, size_t need);
  void Nudge();

  // streams.cc: initialization and stream changes.
  Status Init();
  Status LoadStreams(MDB_txn* txn, std::vector<std::unique_ptr<StreamState>>* out);
  int OpenPartitionDbs(MDB_txn* txn, StreamState* s);
  int LoadPartition(MDB_txn* txn, PartitionState* p);
  void RunControl(ControlOp* op);
  Status OpenStreams(const std::vector<StreamSpec>& specs, std::vector<StreamId>* ids);
  Status UpdateRetention(ControlOp* op);
  std::unique_ptr<StreamState> NewStream(StreamId id, const StreamSpec& spec);
  void PublishStreams(std::vector<std::unique_ptr<StreamState>>* created);

  const Options options_;
  Env* const env_;
  Catalog* const catalog_;
  Counters* const counters_;
  std::thread thread_;

  // Shared with callers, under mu_.
  mutable std::mutex mu_;
  std::condition_variable work_cv_;  // wakes the writer
  std::condition_variable done_cv_;  // wakes Flush and Control callers
  std::vector<Item> queue_;
  std::deque<ControlOp*> control_;
  std::vector<Completion> completions_;
  uint64_t next_seq_ = 1;
  uint64_t done_seq_ = 0;
  int flush_waiters_ = 0;
  bool stop_ = false;
  bool running_ = false;
  std::atomic<size_t> queued_bytes_{0};

  // Writer thread only.
  std::vector<Item> round_;
  std::vector<SegRef> refs_;
  std::vector<Chunk> chunks_;
  std::vector<PartitionState*> touched_;
  std::string raw_, zbuf_;
  Compressor compressor_;
  Pending unsynced_;           // committed, waiting for the next fdatasync
  bool wrote_ = false;         // the open transaction changed something
  bool meta_sync_ = false;     // MDB_NOMETASYNC is off (the env opens with it on)
  bool last_durable_ = false;  // the last successful commit synced its meta page
  uint64_t txn_records_ = 0, txn_bytes_ = 0, txn_retained_ = 0, txn_dropped_ = 0;
  uint64_t txn_rep_batches_ = 0, txn_rep_dups_ = 0, txn_rep_gaps_ = 0;
  static constexpr uint64_t kUsedUnknown = ~uint64_t{0};
  uint64_t txn_used_pages_ = kUsedUnknown;  // TxnUsedPages of the open transaction
  std::string trimmed_, validate_scratch_;
  int64_t last_ts_ = 0;
  int64_t last_sync_mono_ = 0;
  int64_t next_retention_mono_ = 0;
  int64_t last_drop_log_mono_ = INT64_MIN / 2;
  bool failed_ = false;  // a fatal LMDB error: everything fails with kClosed
  // Set by RunRound when a commit failed for another reason than a full map:
  // its fdatasync may have been the one to fail.
  Status commit_failure_;
};

}  // namespace trib::storage
