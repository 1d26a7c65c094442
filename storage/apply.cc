// Writer: one round of appends, cursor/retained/session writes and its commit.

#include <lmdb.h>

#include <algorithm>
#include <cstring>

#include "platform/clock.h"
#include "platform/log.h"
#include "storage/keys.h"
#include "storage/log_impl.h"
#include "storage/writer.h"

namespace trib::storage {
namespace {

MDB_val Val(const void* data, size_t size) { return MDB_val{size, const_cast<void*>(data)}; }
MDB_val Val(const std::string& s) { return Val(s.data(), s.size()); }

}  // namespace

int64_t Writer::NextTimestamp() {
  last_ts_ = std::max(WallMs(), last_ts_);
  return last_ts_;
}

void Writer::RunRound(std::vector<Item>* items, Pending* out, bool* committed) {
  Validate(items);
  const int64_t ts = NextTimestamp();
  int rc = MDB_MAP_FULL;
  for (int attempt = 0; attempt < kMaxFullAttempts && rc == MDB_MAP_FULL; attempt++) {
    rc = TryRound(items, ts, committed);
    if (rc == MDB_MAP_FULL) HandleFull(items, attempt);
  }
  if (rc != 0) {
    Status s = MdbStatus(rc, "storage commit");
    LOG_ERROR("storage: %s; failing %zu submissions", s.message().c_str(), items->size());
    if (rc == MDB_PANIC) failed_ = true;
    if (rc != MDB_MAP_FULL) commit_failure_ = s;  // AfterCommit: what waited for its sync
    for (Item& it : *items) {
      if (it.error != Error::kOk) continue;
      it.error = s.code();
      it.message = s.message();
    }
  }
  BuildCompletions(items, ts, out);
}

void Writer::Validate(std::vector<Item>* items) {
  for (Item& it : *items) {
    if (it.rep->max_record > kMaxRecordBytes) {
      it.error = Error::kInvalid;
      it.message = "record larger than " + std::to_string(kMaxRecordBytes) + " bytes";
    }
    for (WriteBatch::Rep::Seg& seg : it.rep->segs) {
      seg.error = Error::kOk;
      seg.duplicates = 0;
      StreamState* s = catalog_->Get(seg.stream);
      const bool bad_part = s != nullptr && seg.partition >= s->parts.size();
      if (seg.raw && (s == nullptr || bad_part)) {
        // A replicated batch fails alone: the rest of the submission is fine.
        seg.error = Error::kInvalid;
        LOG_WARN("storage: replicated batch for stream %u partition %u refused: no such %s",
                 seg.stream, seg.partition, s == nullptr ? "stream" : "partition");
      } else if (s == nullptr) {
        it.error = Error::kInvalid;
        it.message = "unknown stream id " + std::to_string(seg.stream);
      } else if (bad_part) {
        it.error = Error::kInvalid;
        it.message = "partition " + std::to_string(seg.partition) + " out of range (stream " +
                     s->spec.name + " has " + std::to_string(s->parts.size()) + ")";
      } else {
        seg.part = s->parts[seg.partition].get();
        if (seg.raw) ValidateRaw(&seg);
      }
    }
  }
}

// Checked once per submission, before any transaction, so that MAP_FULL
// retries do not check it again.
void Writer::ValidateRaw(WriteBatch::Rep::Seg* seg) {
  BatchHeader h;
  const char* why = ValidateBatch(seg->data, &h, &validate_scratch_);
  if (why == nullptr && seg->base > UINT64_MAX - h.count) why = "base offset overflows";
  if (why == nullptr) return;
  seg->error = Error::kCorrupt;
  LOG_WARN("storage: replicated batch for stream %u partition %u at offset %llu refused (%s)",
           seg->stream, seg->partition, static_cast<unsigned long long>(seg->base), why);
}

int Writer::BeginTxn(MDB_txn** txn) {
  wrote_ = false;
  txn_records_ = txn_bytes_ = txn_retained_ = txn_dropped_ = 0;
  txn_rep_batches_ = txn_rep_dups_ = txn_rep_gaps_ = 0;
  txn_used_pages_ = kUsedUnknown;
  return mdb_txn_begin(env_->env(), nullptr, 0, txn);
}

void Writer::AbortTxn(MDB_txn* txn) {
  mdb_txn_abort(txn);
  RollbackTouched();
}

int Writer::CommitTxn(MDB_txn* txn, bool durable) {
  durable = durable && options_.sync != SyncPolicy::kNone;
  if (options_.sync != SyncPolicy::kNone && durable != meta_sync_) {
    mdb_env_set_flags(env_->env(), MDB_NOMETASYNC, durable ? 0 : 1);  // writer thread only
    meta_sync_ = durable;
  }
  const uint64_t used = TxnUsedPages(txn);
  const int64_t t0 = clock::MonoNs();
  const int rc = mdb_txn_commit(txn);
  last_durable_ = rc == 0 && durable;
  if (last_durable_) last_sync_mono_ = clock::MonoMs();
  counters_->commit_us.Add(static_cast<uint64_t>((clock::MonoNs() - t0) / 1000));
  if (rc != 0) {
    RollbackTouched();
    return rc;
  }
  PublishTouched(MonoMs());
  counters_->used_pages.store(used, std::memory_order_relaxed);
  counters_->commits++;
  counters_->records_appended += txn_records_;
  counters_->bytes_appended += txn_bytes_;
  counters_->retention_deleted_records += txn_retained_;
  counters_->dropped_records += txn_dropped_;
  counters_->replicated_batches += txn_rep_batches_;
  counters_->replicated_duplicates += txn_rep_dups_;
  counters_->replicated_gaps += txn_rep_gaps_;
  return 0;
}

int Writer::TryRound(std::vector<Item>* items, int64_t ts, bool* committed) {
  *committed = false;
  MDB_txn* txn = nullptr;
  int rc = BeginTxn(&txn);
  if (rc != 0) return rc;
  rc = AppendAll(txn, items, ts);
  for (Item& it : *items) {
    if (rc == 0 && it.error == Error::kOk) rc = ApplyOps(txn, it.rep.get());
  }
  int batches = 0;
  if (rc == 0) rc = RetentionStep(txn, kRetentionBatchesPerCommit, &batches);
  if (rc == 0 && txn_records_ > 0 && OverAppendLimit(txn)) rc = MDB_MAP_FULL;
  if (rc != 0 || !wrote_) {
    if (rc == 0) counters_->replicated_duplicates += txn_rep_dups_;  // all of it was known
    AbortTxn(txn);
    return rc;
  }
  // sync=always: when more work is queued, the next commit's fdatasync
  // carries this meta page; when not, LMDB writes it synchronously.
  const bool durable = options_.sync == SyncPolicy::kInterval ||
                       (options_.sync == SyncPolicy::kAlways && QueueEmpty());
  rc = CommitTxn(txn, durable);
  *committed = rc == 0;
  return rc;
}

// Appends may fill the map only up to a reserve that deletions need: LMDB
// copies pages on write, so deleting the oldest batch of a completely full map
// fails with MDB_MAP_FULL too, and nothing (retention, drop_oldest) could ever
// free space again. A round whose appends would eat into the reserve is
// treated as full (storage/FORMAT.md, "Storage full").
bool Writer::OverAppendLimit(MDB_txn* txn) {
  const uint64_t map_pages = options_.map_bytes / env_->page_size();
  const uint64_t reserve = std::max<uint64_t>(kDeleteReservePages, map_pages / 64);
  return TxnUsedPages(txn) + reserve > map_pages;
}

uint64_t Writer::TxnUsedPages(MDB_txn* txn) {
  // Nothing changes the transaction between the append-limit check and the
  // commit, so one count serves both.
  if (txn_used_pages_ == kUsedUnknown) txn_used_pages_ = UsedPagesIn(txn, *env_, *catalog_);
  return txn_used_pages_;
}

int Writer::AppendAll(MDB_txn* txn, std::vector<Item>* items, int64_t ts) {
  refs_.clear();
  for (uint32_t i = 0; i < items->size(); i++) {
    Item& it = (*items)[i];
    if (it.error != Error::kOk) continue;
    for (uint32_t s = 0; s < it.rep->segs.size(); s++) {
      const WriteBatch::Rep::Seg& seg = it.rep->segs[s];
      if (seg.error == Error::kOk && seg.count > 0) refs_.push_back({seg.part->ordinal, i, s});
    }
  }
  std::stable_sort(refs_.begin(), refs_.end(),
                   [](const SegRef& a, const SegRef& b) { return a.ordinal < b.ordinal; });
  for (size_t b = 0; b < refs_.size();) {
    size_t e = b;
    while (e < refs_.size() && refs_[e].ordinal == refs_[b].ordinal) e++;
    PartitionState* p = catalog_->parts()[refs_[b].ordinal];
    int rc = WritePartition(txn, p, items, &refs_[b], e - b, ts);
    if (rc != 0) return rc;
    b = e;
  }
  return 0;
}

// Concatenates the segments' encoded records into batches of at most
// kMaxBatchBody (a bigger record is a batch of its own).
int Writer::WritePartition(MDB_txn* txn, PartitionState* p, std::vector<Item>* items,
                           const SegRef* refs, size_t n, int64_t ts) {
  Touch(p);
  chunks_.clear();
  size_t body = 0;
  uint32_t count = 0;
  for (size_t r = 0; r < n; r++) {
    WriteBatch::Rep::Seg& seg = (*items)[refs[r].item].rep->segs[refs[r].seg];
    if (seg.raw) {  // records before it go first, in a batch of their own
      int rc = count > 0 ? PutBatch(txn, p, count, ts) : 0;
      if (rc == 0) rc = PutRawBatch(txn, p, &seg);
      if (rc != 0) return rc;
      body = 0;
      count = 0;
      continue;
    }
    seg.first = p->work.info.end_offset + count;
    const char* d = seg.data.data();
    size_t left = seg.data.size();
    uint32_t left_count = seg.count;
    while (left > 0) {
      if (body + left <= kMaxBatchBody) {
        chunks_.push_back({d, left});
        body += left;
        count += left_count;
        break;
      }
      size_t take = 0;
      uint32_t take_n = 0;
      while (take < left) {
        const size_t span = RecordSpan(d + take, d + left);
        if (span == 0) return EINVAL;  // our own encoding: cannot happen
        if (body + take + span > kMaxBatchBody && body + take > 0) break;
        take += span;
        take_n++;
      }
      if (take > 0) chunks_.push_back({d, take});
      count += take_n;
      d += take;
      left -= take;
      left_count -= take_n;
      int rc = PutBatch(txn, p, count, ts);
      if (rc != 0) return rc;
      body = 0;
      count = 0;
    }
  }
  if (count > 0) {
    int rc = PutBatch(txn, p, count, ts);
    if (rc != 0) return rc;
  }
  return RefreshBytes(txn, p);
}

// Writes chunks_ as one batch at the partition's end offset.
int Writer::PutBatch(MDB_txn* txn, PartitionState* p, uint32_t count, int64_t ts) {
  size_t body = 0;
  for (const Chunk& c : chunks_) body += c.size;
  int rc = 0;
  if (catalog_->Get(p->stream)->spec.compression == Compression::kZstd) {
    raw_.clear();
    for (const Chunk& c : chunks_) raw_.append(c.data, c.size);
    if (compressor_.Encode(raw_, count, ts, &zbuf_)) {
      MDB_val v = Val(zbuf_);
      rc = StoreValue(txn, p, p->work.info.end_offset, &v, MDB_APPEND, count, ts, body);
      chunks_.clear();
      return rc;
    }
  }
  MDB_val v{kBatchHeaderBytes + body, nullptr};
  rc = StoreValue(txn, p, p->work.info.end_offset, &v, MDB_APPEND | MDB_RESERVE, count, ts, body);
  if (rc == 0) EncodeBatch(static_cast<char*>(v.mv_data), chunks_, count, ts);
  chunks_.clear();
  return rc;
}

// A replicated batch keeps its base offset and timestamps. Records the
// partition already has are duplicates (a re-send after a lost ack): a batch
// wholly below the end is ignored, one that straddles it is trimmed to its
// new records. A base above the end leaves a gap (FORMAT.md, "Replicated
// batches").
int Writer::PutRawBatch(MDB_txn* txn, PartitionState* p, WriteBatch::Rep::Seg* seg) {
  Touch(p);
  const uint64_t end = p->work.info.end_offset;
  BatchHeader h;
  (void)PeekHeader(seg->data.data(), seg->data.size(), &h);  // validated
  seg->first = seg->base;
  if (seg->base + h.count <= end) {
    seg->duplicates = h.count;
    txn_rep_dups_ += h.count;
    return 0;
  }
  std::string_view value = seg->data;
  uint64_t base = seg->base;
  if (base < end) {
    const auto skip = static_cast<uint32_t>(end - base);
    if (!TrimBatch(value, skip, &compressor_, &trimmed_)) return EINVAL;  // validated: cannot happen
    value = trimmed_;
    (void)PeekHeader(value.data(), value.size(), &h);
    base = end;
    seg->duplicates = skip;
    txn_rep_dups_ += skip;
  } else if (base > end) {
    txn_rep_gaps_++;
    LOG_WARN("storage: stream %u partition %u: replicated batch at offset %llu leaves offsets "
             "%llu..%llu empty (the origin no longer had them)",
             p->stream, p->partition, static_cast<unsigned long long>(base),
             static_cast<unsigned long long>(end), static_cast<unsigned long long>(base - 1));
  }
  MDB_val v = Val(value.data(), value.size());
  int rc = StoreValue(txn, p, base, &v, MDB_APPEND, h.count, h.first_ts, h.raw_len);
  if (rc == 0) txn_rep_batches_++;
  return rc;
}

// Puts one batch value under `base` and keeps the partition's bookkeeping:
// start and timestamps, a time-index entry when the last one is a second
// old, the end offset and the transaction's counters.
int Writer::StoreValue(MDB_txn* txn, PartitionState* p, uint64_t base, MDB_val* value,
                       unsigned flags, uint32_t count, int64_t ts, size_t body_bytes) {
  PartitionWork& w = p->work;
  char kbuf[8];
  PutBE64(kbuf, base);
  MDB_val key = Val(kbuf, 8);
  int rc = mdb_put(txn, p->data_dbi, &key, value, flags);
  if (rc != 0) return rc;
  wrote_ = true;
  if (w.info.start_offset == w.info.end_offset) {  // empty: this batch is the head
    w.info.start_offset = base;
    w.info.first_timestamp_ms = ts;
  }
  if (w.txn_first_append == UINT64_MAX) w.txn_first_append = base;
  if (!w.has_index || ts >= w.last_index_ts + kTimeIndexIntervalMs) {
    char tk[8], tv[8];
    PutBE64(tk, TimeKey(ts));
    PutBE64(tv, base);
    MDB_val k = Val(tk, 8), v = Val(tv, 8);
    rc = mdb_put(txn, p->time_dbi, &k, &v, MDB_APPEND);
    if (rc != 0 && rc != MDB_KEYEXIST) return rc;
    w.has_index = true;
    w.last_index_ts = ts;
  }
  w.info.end_offset = base + count;
  w.info.last_timestamp_ms = std::max(w.info.last_timestamp_ms, ts);
  txn_records_ += count;
  txn_bytes_ += body_bytes;
  return 0;
}

int Writer::ApplyOps(MDB_txn* txn, WriteBatch::Rep* rep) {
  using Kind = WriteBatch::Rep::OpKind;
  for (const WriteBatch::Rep::Op& op : rep->ops) {
    int rc = 0;
    if (op.kind == Kind::kCursor) {
      std::string key = CursorKey(op.name, op.stream, op.partition);
      char vbuf[8];
      PutBE64(vbuf, op.offset);
      MDB_val k = Val(key), v = Val(vbuf, 8);
      rc = mdb_put(txn, env_->cursors, &k, &v, 0);
    } else if (op.kind == Kind::kDeleteCursors) {
      rc = DeleteCursors(txn, op.name);
    } else {
      const bool retained = op.kind == Kind::kPutRetained || op.kind == Kind::kDeleteRetained;
      const bool idle = op.kind == Kind::kPutIdleGroup || op.kind == Kind::kDeleteIdleGroup;
      const bool put = op.kind == Kind::kPutRetained || op.kind == Kind::kPutSession ||
                       op.kind == Kind::kPutIdleGroup;
      MDB_dbi dbi = retained ? env_->retained : idle ? env_->idle_groups : env_->sessions;
      std::string key = NameKey(op.name);
      MDB_val k = Val(key);
      if (put) {
        std::string value = NameValue(op.name, op.value);
        MDB_val v = Val(value);
        rc = mdb_put(txn, dbi, &k, &v, 0);
      } else {
        rc = mdb_del(txn, dbi, &k, nullptr);
        if (rc == MDB_NOTFOUND) rc = 0;
      }
    }
    if (rc != 0) return rc;
    wrote_ = true;
  }
  return 0;
}

int Writer::DeleteCursors(MDB_txn* txn, const std::string& consumer) {
  const std::string prefix = CursorPrefix(consumer);
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, env_->cursors, &c);
  if (rc != 0) return rc;
  MDB_val k = Val(prefix), v;
  rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  while (rc == 0 && k.mv_size >= prefix.size() &&
         std::memcmp(k.mv_data, prefix.data(), prefix.size()) == 0) {
    rc = mdb_cursor_del(c, 0);
    k = Val(prefix);  // seek again: simpler than LMDB's cursor state after a delete
    if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
  }
  mdb_cursor_close(c);
  return rc == MDB_NOTFOUND ? 0 : rc;
}

void Writer::BuildCompletions(std::vector<Item>* items, int64_t ts, Pending* out) {
  for (Item& it : *items) {
    Completion c;
    c.token = it.token;
    c.timestamp_ms = ts;
    if (it.error != Error::kOk) c.status = Status(it.error, it.message);
    c.segments.reserve(it.rep->segs.size());
    for (const WriteBatch::Rep::Seg& seg : it.rep->segs) {
      Completion::Segment s;
      s.stream = seg.stream;
      s.partition = seg.partition;
      s.count = seg.count;
      s.error = it.error != Error::kOk ? it.error : seg.error;
      s.first_offset = s.error == Error::kOk ? seg.first : 0;
      s.duplicates = s.error == Error::kOk ? seg.duplicates : 0;
      c.segments.push_back(s);
    }
    out->completions.push_back(std::move(c));
    out->last_seq = std::max(out->last_seq, it.seq);
  }
}

}  // namespace trib::storage
