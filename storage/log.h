// The durable, partitioned log: Tributary's storage surface.
//
// A Log owns one LMDB environment in a data directory. It holds streams, each
// split into partitions; a partition is an append-only sequence of records
// addressed by offset (0, 1, 2, ... never reused). Records are stored in
// batches: all records appended to one partition in one commit.
// It also holds cursors ((consumer, stream, partition) -> next offset), retained
// MQTT messages and persistent MQTT session state. storage/FORMAT.md is the
// on-disk format.
//
// Threads:
//  - One writer thread, owned by the Log, runs every write transaction. Callers
//    build a WriteBatch on their own thread (no locks) and Submit() it; the
//    writer takes everything queued, commits it in one transaction, syncs per
//    policy, then queues a Completion per submission and calls Options::notify.
//    The caller drains completions with TakeCompletions() on its own thread
//    (the daemon: from a uv_async callback on its loop).
//  - Every other method is thread-safe; reads use short LMDB read transactions
//    and never block the writer.
//
// Durability and visibility: an appended record is visible to readers and its
// offset is known once its Completion is queued; it is durable at that moment
// under sync=always and sync=interval (the completion waits for the fsync), and
// survives a process crash (not a power loss) under sync=none.
//
// Failure: a call that can fail returns a Status. Bad bytes on disk are
// reported (Error::kCorrupt, a log line and a counter), never a crash.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/status.h"

namespace trib::storage {

enum class Error {
  kOk = 0,
  kInvalid,        // bad argument (unknown stream, partition out of range, ...)
  kNotFound,       // no such cursor / session / offset
  kOutOfRange,     // offset below the partition's start or above its end
  kCorrupt,        // a stored batch failed its CRC or could not be decoded
  kFormat,         // the environment has an unknown or newer format version
  kConfigChanged,  // a stream's stored definition conflicts with the config
  kIo,             // an OS or LMDB error (message says which)
  kFull,           // storage full and the stream's policy is on_full=reject
  kClosed,         // the log is closed or the writer failed
};
const char* ErrorName(Error e);

using Status = BasicStatus<Error>;
template <class T>
using Result = BasicResult<T, Error>;

enum class SyncPolicy { kAlways, kInterval, kNone };
enum class OnFull { kDropOldest, kReject };
enum class Compression { kNone, kZstd };

using StreamId = uint32_t;

struct StreamSpec {
  std::string name;
  uint32_t partitions = 1;
  int64_t max_age_ms = 0;  // 0: no age limit
  uint64_t max_bytes = 0;  // 0: no per-stream limit (the storage budget still applies)
  OnFull on_full = OnFull::kDropOldest;
  Compression compression = Compression::kNone;
};

struct Options {
  std::string dir;                         // must exist; the caller holds its lock
  uint64_t map_bytes = uint64_t{1} << 30;  // the whole storage budget
  SyncPolicy sync = SyncPolicy::kAlways;
  int64_t sync_interval_ms = 100;
  // Past this many bytes queued and not yet committed, OverLimit() turns true.
  size_t max_queue_bytes = size_t{64} << 20;
  // Called on the writer thread after completions were queued, and when the
  // queue drops back under its limit. Must be cheap and must not call the Log
  // (the daemon passes a uv_async_send).
  std::function<void()> notify;
  // How often the idle writer looks for retention work (sooner while a
  // backlog remains).
  int64_t retention_interval_ms = 1000;

  // Test hooks; leave empty in production.
  // Called at each point where the log relies on an fsync having succeeded
  // (after a commit's own fdatasync, after each mdb_env_sync). A non-zero
  // return (an errno) makes the log treat that sync as failed.
  std::function<int()> fsync_hook_for_test;
  // Replace the wall clock (record timestamps, retention age) and the
  // monotonic clock, both in ms.
  std::function<int64_t()> wall_ms_for_test;
  std::function<int64_t()> mono_ms_for_test;
};

class Writer;  // storage-internal

// One record to append. Views: the bytes are copied by WriteBatch::Append.
struct RecordIn {
  std::string_view key;
  std::string_view topic;
  std::string_view payload;
  std::string_view properties;  // the MQTT 5 property block as received; opaque here
  uint8_t qos = 0;
  bool retain = false;
};

// One record read back. Views into the ReadResult that returned it.
struct Record {
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;  // the broker's wall clock at append (monotone per partition)
  std::string_view key;
  std::string_view topic;
  std::string_view payload;
  std::string_view properties;
  uint8_t qos = 0;
  bool retain = false;
};

// Everything one caller wants committed together. Built without locks on the
// caller's thread, then handed to Log::Submit. Appends to the same partition
// get consecutive offsets in the order they were added.
class WriteBatch {
 public:
  WriteBatch();
  ~WriteBatch();
  WriteBatch(WriteBatch&&) noexcept;
  WriteBatch& operator=(WriteBatch&&) noexcept;

  void Append(StreamId stream, uint32_t partition, const RecordIn& record);
  // Appends one stored batch as it is (replication: a batch read with
  // Log::ReadBatches on another node), keeping its base offset and its
  // records' timestamps. The bytes are copied. The writer checks the header
  // and the CRC (a bad batch fails its segment with kCorrupt and stores
  // nothing), ignores the records the partition already has (the segment
  // reports them as `duplicates`), and accepts a base above the partition's
  // end (a gap: the origin no longer had those offsets); storage/FORMAT.md,
  // "Replicated batches". Each call is a segment of its own in the Completion.
  void AppendBatch(StreamId stream, uint32_t partition, uint64_t base_offset,
                   std::string_view bytes);
  void CommitCursor(std::string_view consumer, StreamId stream, uint32_t partition,
                    uint64_t next_offset);
  void DeleteCursors(std::string_view consumer);  // every cursor of that consumer
  void PutRetained(std::string_view topic, std::string_view value);
  void DeleteRetained(std::string_view topic);
  void PutSession(std::string_view client_id, std::string_view value);
  void DeleteSession(std::string_view client_id);
  // A consumer group (by its cursor consumer name) that has had no
  // subscriber since `since_ms` (wall clock); the broker expires the cursors
  // of groups idle for longer than limits.group_cursor_expiry.
  void PutIdleGroup(std::string_view consumer, int64_t since_ms);
  void DeleteIdleGroup(std::string_view consumer);

  bool empty() const;
  size_t bytes() const;  // approximate memory held
  void Clear();

 private:
  friend class Log;
  friend class Writer;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// What happened to one submitted WriteBatch.
struct Completion {
  uint64_t token = 0;  // the value passed to Submit
  // OK when everything in the batch was committed. On a failure of the whole
  // transaction (I/O, closed) nothing in it was committed.
  Status status;
  // One per (stream, partition) the batch appended to, in order of the first
  // append to it. An OK segment holds `count` records starting at
  // `first_offset`. A segment refused by on_full=reject has error kFull and was
  // not stored; the rest of the batch may still have been committed.
  // AppendBatch segments: `first_offset` is the batch's base offset, `count`
  // its record count, and `duplicates` how many of its first records the
  // partition already had (not stored again); error kCorrupt or kInvalid
  // (bad header or CRC, wrong partition) means nothing of it was stored.
  struct Segment {
    StreamId stream = 0;
    uint32_t partition = 0;
    uint64_t first_offset = 0;
    uint32_t count = 0;
    Error error = Error::kOk;
    uint32_t duplicates = 0;
  };
  std::vector<Segment> segments;
  int64_t timestamp_ms = 0;  // the timestamp given to the appended records
};

// Records read from one partition. Owns the memory the Records point into.
struct ReadResult {
  std::vector<Record> records;
  uint64_t next_offset = 0;  // where the next read should start
  // Offsets skipped because their batch was corrupt (reported and counted).
  uint64_t skipped = 0;
  std::vector<std::string> buffers;  // owned bytes; do not touch
};

// Stored batches of one partition, as they are on disk (replication).
struct RawBatch {
  uint64_t base_offset = 0;
  uint32_t count = 0;
  int64_t first_timestamp_ms = 0;
  std::string_view bytes;  // the whole stored value (header and body); view into RawBatches
};
struct RawBatches {
  std::vector<RawBatch> batches;  // increasing base offsets; gaps are possible
  uint64_t next_offset = 0;       // where the next read should start
  uint64_t skipped = 0;           // offsets skipped because their batch was corrupt
  std::string buffer;             // owned bytes; do not touch
};

struct PartitionInfo {
  uint64_t start_offset = 0;  // first offset still stored
  uint64_t end_offset = 0;    // the offset the next append gets
  uint64_t bytes = 0;         // LMDB pages (data and time index) of this partition, in bytes
  int64_t first_timestamp_ms = 0;
  int64_t last_timestamp_ms = 0;
};

struct Stats {
  uint64_t commits = 0;
  uint64_t records_appended = 0;
  uint64_t bytes_appended = 0;
  uint64_t fsyncs = 0;
  uint64_t retention_deleted_records = 0;
  uint64_t dropped_records = 0;   // on_full=drop_oldest deletions beyond retention
  uint64_t rejected_records = 0;  // on_full=reject refusals
  uint64_t corrupt_batches = 0;
  uint64_t replicated_batches = 0;    // AppendBatch batches stored (whole or trimmed)
  uint64_t replicated_duplicates = 0; // AppendBatch records ignored: already stored
  uint64_t replicated_gaps = 0;       // AppendBatch batches that started past the end
  uint64_t map_bytes = 0;
  uint64_t used_bytes = 0;
  // Latency histograms, cumulative counts per upper bound in microseconds.
  static constexpr int kBuckets = 12;
  static constexpr uint64_t kBucketUs[kBuckets] = {50,    100,   250,    500,    1000,   2500,
                                                   5000,  10000, 25000,  50000,  100000, 1000000};
  uint64_t commit_us_buckets[kBuckets + 1] = {};  // last: +Inf
  uint64_t commit_us_sum = 0;
  uint64_t fsync_us_buckets[kBuckets + 1] = {};
  uint64_t fsync_us_sum = 0;
};

// Stable partition choice: XXH3 of the key, modulo the partition count.
uint32_t PartitionFor(std::string_view key, uint32_t partitions);

// The calling thread (the broker's event loop) must never wait for the disk:
// from this call on, a read transaction begun on it is a bug. It is logged
// (once), and fatal in builds with assertions (not NDEBUG), so that the tests,
// which run such a build, find any such read.
void ForbidReadsOnThisThread();

class Log {
 public:
  // Opens (creating if needed) the environment in options.dir and starts the
  // writer. Refuses an unknown or newer format with kFormat, touching nothing.
  static Result<std::unique_ptr<Log>> Open(const Options& options);
  // Drains the queue (commits and syncs what was submitted), stops the writer.
  ~Log();

  // Registers the configured streams. A stream already stored with another
  // partition count is refused (kConfigChanged) and nothing is changed;
  // retention and compression settings are taken from the specs. Streams in
  // storage but not in the list stay stored and readable. Blocks until done.
  Status OpenStreams(const std::vector<StreamSpec>& specs);
  // Creates one stream if missing (e.g. <origin>.<stream> for replication).
  Result<StreamId> EnsureStream(const StreamSpec& spec);
  std::optional<StreamId> FindStream(std::string_view name) const;
  std::vector<std::pair<StreamId, StreamSpec>> ListStreams() const;
  // Changes retention (max_age_ms, max_bytes, on_full) of an open stream.
  Status UpdateRetention(StreamId stream, int64_t max_age_ms, uint64_t max_bytes, OnFull on_full);

  // Tokens with the top bit set (kForeignTokenBit) belong to submitters other
  // than the broker's loop (exporters committing cursors): the broker skips
  // their completions instead of matching them to its own batches.
  static constexpr uint64_t kForeignTokenBit = uint64_t{1} << 63;
  // Queues the batch for the writer; a Completion with this token follows.
  // Never refuses: the caller already holds the bytes. Returns false when the
  // queue is over its limit after this batch: stop reading new input until
  // OverLimit() is false again (notify is called when it drops).
  bool Submit(WriteBatch&& batch, uint64_t token);
  bool OverLimit() const;
  // Moves all queued completions into *out (appends), in commit order.
  void TakeCompletions(std::vector<Completion>* out);

  // Reads committed records of one partition starting at `from` (which may be
  // inside a batch), at most max_records and about max_bytes (at least one
  // record is returned if any exists). `from` past the end returns no records.
  // `from` below the start returns kOutOfRange with the start in the message;
  // callers use Info() to clamp.
  Result<ReadResult> Read(StreamId stream, uint32_t partition, uint64_t from, size_t max_records,
                          size_t max_bytes) const;
  // Reads whole stored batches starting with the one that holds `from` (or
  // the first one after it, across a gap), about max_bytes of them (at least
  // one if any exists), each CRC-checked; corrupt ones are logged, counted
  // and skipped (`skipped`). The first batch may start below `from`. Errors
  // as for Read.
  Result<RawBatches> ReadBatches(StreamId stream, uint32_t partition, uint64_t from,
                                 size_t max_bytes) const;
  // The first offset whose timestamp is >= t (end_offset if none).
  Result<uint64_t> OffsetForTime(StreamId stream, uint32_t partition, int64_t t_ms) const;
  Result<PartitionInfo> Info(StreamId stream, uint32_t partition) const;

  // Committed cursor value; kNotFound if never committed.
  Result<uint64_t> GetCursor(std::string_view consumer, StreamId stream, uint32_t partition) const;
  // All cursors of a consumer: (stream, partition, next_offset).
  struct CursorEntry {
    StreamId stream;
    uint32_t partition;
    uint64_t next_offset;
  };
  std::vector<CursorEntry> ListCursors(std::string_view consumer) const;

  // Retained messages and sessions, read at startup and when needed.
  Status ForEachRetained(const std::function<void(std::string_view topic,
                                                  std::string_view value)>& fn) const;
  Result<std::string> GetSession(std::string_view client_id) const;
  Status ForEachSession(const std::function<void(std::string_view client_id,
                                                 std::string_view value)>& fn) const;
  Status ForEachIdleGroup(
      const std::function<void(std::string_view consumer, int64_t since_ms)>& fn) const;

  Stats GetStats() const;

  // Blocks until everything submitted so far is committed (tests, shutdown).
  void Flush();

 private:
  Log();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trib::storage
