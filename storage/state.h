// In-memory state shared inside storage/: the contents of a WriteBatch, the
// catalog of streams and partitions, and the statistics counters.
//
// Ownership: Log::Impl owns the Catalog and the Counters. Threads: the writer
// thread is the only one that changes a stream, a partition or the catalog;
// readers take Catalog::mu shared (stream list and specs) and
// PartitionState::mu (its PartitionInfo). Nothing here fails.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/env.h"
#include "storage/log.h"

namespace trib::storage {

struct PartitionState;

struct WriteBatch::Rep {
  // Records for one (stream, partition), already encoded (FORMAT.md "Raw body").
  struct Seg {
    StreamId stream = 0;
    uint32_t partition = 0;
    uint32_t count = 0;
    std::string data;
    // AppendBatch: `data` is one stored batch whose first record has offset
    // `base` (count is 0 when its header is unreadable; the writer refuses it).
    bool raw = false;
    uint64_t base = 0;
    // Filled by the writer.
    PartitionState* part = nullptr;
    uint64_t first = 0;
    Error error = Error::kOk;
    uint32_t duplicates = 0;
  };
  enum class OpKind : uint8_t {
    kCursor,
    kDeleteCursors,
    kPutRetained,
    kDeleteRetained,
    kPutSession,
    kDeleteSession,
    kPutIdleGroup,
    kDeleteIdleGroup
  };
  struct Op {
    OpKind kind;
    StreamId stream = 0;
    uint32_t partition = 0;
    uint64_t offset = 0;
    std::string name;
    std::string value;
  };
  std::vector<Seg> segs;
  std::vector<Op> ops;
  size_t bytes = 0;
  size_t max_record = 0;
  size_t last_seg = 0;  // the segment the previous Append used
};

// The writer's view of a partition; rolled back when a transaction aborts.
struct PartitionWork {
  PartitionInfo info;
  bool has_index = false;
  int64_t last_index_ts = 0;
  uint64_t txn_first_append = UINT64_MAX;  // first offset appended by the open txn
};

// A batch at offset >= `offset` (and below the next checkpoint's) was
// appended before mono_ms + span_ms on the monotonic clock.
struct Checkpoint {
  uint64_t offset;
  int64_t mono_ms;
  int64_t span_ms;
};

struct PartitionState {
  StreamId stream = 0;
  uint32_t partition = 0;
  uint32_t ordinal = 0;  // index in Catalog::parts
  MDB_dbi data_dbi = 0;
  MDB_dbi time_dbi = 0;

  // What readers see (committed state).
  mutable std::mutex mu;
  PartitionInfo info;
  PartitionInfo Snapshot() const {
    std::lock_guard<std::mutex> lock(mu);
    return info;
  }

  // Writer thread only.
  PartitionWork committed, work;
  bool touched = false;
  uint64_t life_first_offset = 0;  // end offset when this process opened the log
  std::deque<Checkpoint> checkpoints;
};

struct StreamState {
  StreamId id = 0;
  StreamSpec spec;  // written by the writer under Catalog::mu (exclusive)
  std::vector<std::unique_ptr<PartitionState>> parts;
};

class Catalog {
 public:
  // Readers.
  const PartitionState* Find(StreamId stream, uint32_t partition, Status* error) const;
  std::optional<StreamId> FindStream(std::string_view name) const;
  std::vector<std::pair<StreamId, StreamSpec>> List() const;
  std::vector<MDB_dbi> PartitionDbis() const;  // data and time index of every partition

  // Writer thread.
  StreamState* Get(StreamId id) const {
    return id < streams_.size() ? streams_[id].get() : nullptr;
  }
  StreamState* GetByName(std::string_view name) const;
  size_t stream_count() const { return streams_.size(); }
  const std::vector<PartitionState*>& parts() const { return parts_; }
  void Add(std::unique_ptr<StreamState> stream);
  void SetSpec(StreamState* stream, const StreamSpec& spec);
  unsigned db_count() const { return static_cast<unsigned>(parts_.size() * 2); }

 private:
  mutable std::shared_mutex mu_;
  std::vector<std::unique_ptr<StreamState>> streams_;  // index = id; may hold nulls
  std::unordered_map<std::string, StreamId> by_name_;
  std::vector<PartitionState*> parts_;
};

// Batches whose CRC a reader already checked, so that reading a big batch a
// few records at a time does not checksum it again each time. Sound because
// a batch never changes once written and offsets are never reused. A
// direct-mapped table of (partition ordinal, base offset); a collision only
// costs a CRC. Thread-safe (atomics).
class VerifiedBatches {
 public:
  bool Contains(uint32_t ordinal, uint64_t base) const {
    const uint64_t k = Key(ordinal, base);
    return k != 0 && slots_[Slot(k)].load(std::memory_order_relaxed) == k;
  }
  void Add(uint32_t ordinal, uint64_t base) {
    const uint64_t k = Key(ordinal, base);
    if (k != 0) slots_[Slot(k)].store(k, std::memory_order_relaxed);
  }

 private:
  static constexpr int kSlotBits = 12;
  static uint64_t Key(uint32_t ordinal, uint64_t base) {
    if (ordinal >= 0xFFFF || base >= (uint64_t{1} << 48)) return 0;  // not cached
    return (uint64_t{ordinal + 1} << 48) | base;
  }
  static size_t Slot(uint64_t k) { return (k * 0x9E3779B97F4A7C15ull) >> (64 - kSlotBits); }
  std::atomic<uint64_t> slots_[size_t{1} << kSlotBits] = {};
};

struct Histogram {
  std::atomic<uint64_t> buckets[Stats::kBuckets + 1] = {};
  std::atomic<uint64_t> sum{0};
  void Add(uint64_t us);
  void CopyTo(uint64_t* out, uint64_t* out_sum) const;
};

struct Counters {
  std::atomic<uint64_t> commits{0}, records_appended{0}, bytes_appended{0}, fsyncs{0};
  std::atomic<uint64_t> retention_deleted_records{0}, dropped_records{0}, rejected_records{0};
  std::atomic<uint64_t> corrupt_batches{0};
  std::atomic<uint64_t> replicated_batches{0}, replicated_duplicates{0}, replicated_gaps{0};
  // Pages in use after the last commit (the writer counts them in its
  // transaction; Log::GetStats reads this instead of opening one).
  std::atomic<uint64_t> used_pages{0};
  Histogram commit_us, fsync_us;
};

}  // namespace trib::storage
