// Writer: partition bookkeeping, retention (age, bytes, wall-clock jumps) and
// what happens on MDB_MAP_FULL (storage/FORMAT.md, "Retention", "Storage full").

#include <lmdb.h>

#include <algorithm>
#include <cstring>

#include "platform/clock.h"
#include "platform/log.h"
#include "storage/keys.h"
#include "storage/writer.h"

namespace trib::storage {
namespace {

constexpr int kFullRetentionBatches = 4 * kRetentionBatchesPerCommit;
constexpr int kMaxDropBatches = 4096;
constexpr size_t kFullSlackBytes = size_t{64} << 10;

// How far apart a partition's monotonic checkpoints are: fine enough that the
// age bound is off by at most 1/512 of max_age (and never under 1 s).
int64_t CheckpointSpan(const StreamSpec& spec) {
  if (spec.max_age_ms <= 0) return 60000;
  return std::max<int64_t>(kCheckpointIntervalMs, spec.max_age_ms / 512);
}

}  // namespace

void Writer::Touch(PartitionState* p) {
  if (p->touched) return;
  p->touched = true;
  touched_.push_back(p);
}

void Writer::PublishTouched(int64_t now_mono) {
  for (PartitionState* p : touched_) {
    PartitionWork& w = p->work;
    std::deque<Checkpoint>& cps = p->checkpoints;
    if (w.txn_first_append != UINT64_MAX &&
        (cps.empty() || now_mono - cps.back().mono_ms >= cps.back().span_ms)) {
      cps.push_back({w.txn_first_append, now_mono, CheckpointSpan(catalog_->Get(p->stream)->spec)});
    }
    w.txn_first_append = UINT64_MAX;
    while (cps.size() >= 2 && cps[1].offset <= w.info.start_offset) cps.pop_front();
    p->committed = w;
    {
      std::lock_guard<std::mutex> lock(p->mu);
      p->info = w.info;
    }
    p->touched = false;
  }
  touched_.clear();
}

void Writer::RollbackTouched() {
  for (PartitionState* p : touched_) {
    p->work = p->committed;
    p->touched = false;
  }
  touched_.clear();
}

int Writer::RefreshBytes(MDB_txn* txn, PartitionState* p) {
  uint64_t pages = 0;
  for (MDB_dbi dbi : {p->data_dbi, p->time_dbi}) {
    MDB_stat st;
    int rc = mdb_stat(txn, dbi, &st);
    if (rc != 0) return rc;
    pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
  }
  p->work.info.bytes = pages * env_->page_size();
  return 0;
}

// Deletes the first batch of the partition, its time-index entries, and keeps
// an end marker when the partition becomes empty (offsets are never reused).
int Writer::DeleteHead(MDB_txn* txn, PartitionState* p, uint64_t* records, size_t* value_bytes) {
  Touch(p);
  PartitionWork& w = p->work;
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, p->data_dbi, &c);
  if (rc != 0) return rc;
  MDB_val k, v;
  rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  const uint64_t base = rc == 0 && k.mv_size == 8 ? GetBE64(k.mv_data) : 0;
  *value_bytes = rc == 0 ? v.mv_size : 0;
  BatchHeader deleted;  // its count, not the distance to the next batch (a gap may follow)
  const bool counted = rc == 0 && PeekHeader(v.mv_data, v.mv_size, &deleted);
  if (rc == 0) rc = mdb_cursor_del(c, 0);
  if (rc == 0) rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
  uint64_t new_start = w.info.end_offset;
  if (rc == 0) {
    new_start = k.mv_size == 8 ? GetBE64(k.mv_data) : new_start;
    BatchHeader h;
    w.info.first_timestamp_ms = PeekHeader(v.mv_data, v.mv_size, &h) ? h.first_ts : 0;
  } else if (rc == MDB_NOTFOUND) {
    w.info.first_timestamp_ms = 0;
    rc = 0;
  }
  mdb_cursor_close(c);
  if (rc != 0) return rc;
  *records = new_start > base ? new_start - base : 0;
  if (counted) *records = std::min<uint64_t>(*records, deleted.count);
  w.info.start_offset = new_start;
  wrote_ = true;
  if (new_start == w.info.end_offset) {
    const std::string mk = EndMarkerKey(p->stream, p->partition);
    char buf[16];
    std::memcpy(buf, &w.info.end_offset, 8);
    std::memcpy(buf + 8, &w.info.last_timestamp_ms, 8);
    MDB_val mkey{mk.size(), const_cast<char*>(mk.data())}, mval{16, buf};
    rc = mdb_put(txn, env_->meta, &mkey, &mval, 0);
    if (rc != 0) return rc;
  }
  rc = mdb_cursor_open(txn, p->time_dbi, &c);
  if (rc != 0) return rc;
  while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0 && v.mv_size == 8 &&
         GetBE64(v.mv_data) < new_start) {
    if ((rc = mdb_cursor_del(c, 0)) != 0) break;
  }
  mdb_cursor_close(c);
  if (rc != 0 && rc != MDB_NOTFOUND) return rc;
  if (rc == MDB_NOTFOUND) w.has_index = false;
  return RefreshBytes(txn, p);
}

// The wall clock says the head batch is too old; for a batch this process
// appended, the monotonic clock must agree (FORMAT.md, "Retention").
bool Writer::AgeExceeded(const PartitionState* p, const StreamSpec& spec, int64_t now_wall,
                         int64_t now_mono) const {
  const PartitionWork& w = p->work;
  if (spec.max_age_ms <= 0 || w.info.start_offset >= w.info.end_offset) return false;
  if (now_wall - w.info.first_timestamp_ms <= spec.max_age_ms) return false;
  const uint64_t base = w.info.start_offset;
  if (base < p->life_first_offset) return true;
  const Checkpoint* cp = nullptr;
  for (const Checkpoint& c : p->checkpoints) {
    if (c.offset > base) break;
    cp = &c;
  }
  if (cp == nullptr) return false;
  return now_mono - (cp->mono_ms + cp->span_ms) > spec.max_age_ms;
}

uint64_t Writer::StreamBytes(const StreamState* s) const {
  uint64_t total = 0;
  for (const auto& p : s->parts) total += p->work.info.bytes;
  return total;
}

PartitionState* Writer::OldestHead(const std::vector<StreamState*>& streams) const {
  PartitionState* best = nullptr;
  for (StreamState* s : streams) {
    for (const auto& p : s->parts) {
      const PartitionInfo& i = p->work.info;
      if (i.start_offset >= i.end_offset) continue;
      if (best == nullptr || i.first_timestamp_ms < best->work.info.first_timestamp_ms)
        best = p.get();
    }
  }
  return best;
}

bool Writer::RetentionNeeded() const {
  const int64_t now_wall = WallMs(), now_mono = MonoMs();
  for (size_t id = 0; id < catalog_->stream_count(); id++) {
    const StreamState* s = catalog_->Get(static_cast<StreamId>(id));
    if (s == nullptr) continue;
    if (s->spec.max_bytes > 0 && StreamBytes(s) > s->spec.max_bytes &&
        OldestHead({const_cast<StreamState*>(s)}))
      return true;
    for (const auto& p : s->parts) {
      if (AgeExceeded(p.get(), s->spec, now_wall, now_mono)) return true;
    }
  }
  return false;
}

int Writer::RetentionStep(MDB_txn* txn, int budget, int* batches) {
  const int64_t now_wall = WallMs(), now_mono = MonoMs();
  uint64_t records = 0;
  size_t value_bytes = 0;
  for (size_t id = 0; id < catalog_->stream_count() && *batches < budget; id++) {
    StreamState* s = catalog_->Get(static_cast<StreamId>(id));
    if (s == nullptr) continue;
    for (const auto& p : s->parts) {
      while (*batches < budget && AgeExceeded(p.get(), s->spec, now_wall, now_mono)) {
        int rc = DeleteHead(txn, p.get(), &records, &value_bytes);
        if (rc != 0) return rc;
        txn_retained_ += records;
        ++*batches;
      }
    }
    while (s->spec.max_bytes > 0 && *batches < budget && StreamBytes(s) > s->spec.max_bytes) {
      PartitionState* p = OldestHead({s});
      if (p == nullptr) break;
      int rc = DeleteHead(txn, p, &records, &value_bytes);
      if (rc != 0) return rc;
      txn_retained_ += records;
      ++*batches;
    }
  }
  return 0;
}

int Writer::RetentionTxn(int budget) {
  MDB_txn* txn = nullptr;
  int rc = BeginTxn(&txn);
  if (rc != 0) return 0;
  int batches = 0;
  rc = RetentionStep(txn, budget, &batches);
  if (rc != 0 || !wrote_) {
    if (rc != 0) LOG_WARN("storage: retention failed: %s", mdb_strerror(rc));
    AbortTxn(txn);
    return 0;
  }
  rc = CommitTxn(txn);
  if (rc != 0) LOG_WARN("storage: retention commit failed: %s", mdb_strerror(rc));
  return rc == 0 ? batches : 0;
}

void Writer::HandleFull(std::vector<Item>* items, int attempt) {
  if (attempt == 0 && RetentionTxn(kFullRetentionBatches) > 0) {
    Nudge();
    return;
  }
  bool rejected = false;
  size_t need = kFullSlackBytes;
  std::vector<StreamState*> involved;
  for (Item& it : *items) {
    if (it.error != Error::kOk) continue;
    for (WriteBatch::Rep::Seg& seg : it.rep->segs) {
      if (seg.error != Error::kOk) continue;
      StreamState* s = catalog_->Get(seg.stream);
      if (s->spec.on_full == OnFull::kReject) {
        seg.error = Error::kFull;
        counters_->rejected_records += seg.count;
        rejected = true;
        continue;
      }
      need += seg.data.size();
      if (std::find(involved.begin(), involved.end(), s) == involved.end()) involved.push_back(s);
    }
    for (const auto& op : it.rep->ops) need += op.name.size() + op.value.size() + 64;
  }
  if (rejected) return;  // retry without them first
  need <<= std::min(attempt, 16);
  size_t freed = involved.empty() ? 0 : DropTxn(involved, need);
  if (freed == 0) {
    std::vector<StreamState*> others;
    for (size_t id = 0; id < catalog_->stream_count(); id++) {
      StreamState* s = catalog_->Get(static_cast<StreamId>(id));
      if (s != nullptr && s->spec.on_full == OnFull::kDropOldest &&
          std::find(involved.begin(), involved.end(), s) == involved.end())
        others.push_back(s);
    }
    freed = DropTxn(others, need);
  }
  if (freed > 0) {
    Nudge();
    return;
  }
  LOG_WARN("storage: full and nothing left to delete; refusing %zu submissions", items->size());
  for (Item& it : *items) {
    if (it.error != Error::kOk) continue;
    it.error = Error::kFull;
    it.message = "storage full: nothing left to delete";
    for (const auto& seg : it.rep->segs) {
      if (seg.error == Error::kOk) counters_->rejected_records += seg.count;
    }
  }
}

// Deletes the oldest batches of `streams` worth about `need` bytes. A delete
// needs a few pages too: when even that hits MAP_FULL, retries with fewer.
uint64_t Writer::DropTxn(const std::vector<StreamState*>& streams, size_t need) {
  int limit = kMaxDropBatches;
  while (limit > 0) {
    MDB_txn* txn = nullptr;
    if (BeginTxn(&txn) != 0) return 0;
    uint64_t freed = 0, records = 0;
    size_t value_bytes = 0;
    int batches = 0, rc = 0;
    while (freed < need && batches < limit) {
      PartitionState* p = OldestHead(streams);
      if (p == nullptr) break;
      rc = DeleteHead(txn, p, &records, &value_bytes);
      if (rc != 0) break;
      txn_dropped_ += records;
      freed += value_bytes + 1;
      batches++;
    }
    if (rc == 0 && batches > 0)
      rc = CommitTxn(txn);
    else
      AbortTxn(txn);
    if (rc == 0) {
      // A ring buffer drops all the time: say so at most once a minute (the
      // counter has the exact numbers).
      const int64_t now = clock::MonoMs();
      if (batches > 0 && now - last_drop_log_mono_ >= 60000) {
        last_drop_log_mono_ = now;
        LOG_WARN(
            "storage: full; dropping the oldest batches of drop_oldest streams (%d now, %llu "
            "records dropped so far)",
            batches, static_cast<unsigned long long>(counters_->dropped_records.load()));
      }
      return freed;
    }
    if (rc != MDB_MAP_FULL) {
      LOG_ERROR("storage: dropping oldest batches failed: %s", mdb_strerror(rc));
      return 0;
    }
    limit = batches / 2;
  }
  return 0;
}

// LMDB reuses pages freed by transaction T only from T+2 on; this tiny write
// is T+1, so that the retry after a deletion can use the space it freed.
void Writer::Nudge() {
  MDB_txn* txn = nullptr;
  if (BeginTxn(&txn) != 0) return;
  MDB_val k{std::strlen(kMetaNudgeKey), const_cast<char*>(kMetaNudgeKey)}, v;
  uint64_t n = 0;
  if (mdb_get(txn, env_->meta, &k, &v) == 0 && v.mv_size == 8) std::memcpy(&n, v.mv_data, 8);
  n++;
  v = MDB_val{8, &n};
  int rc = mdb_put(txn, env_->meta, &k, &v, 0);
  if (rc == 0)
    rc = CommitTxn(txn);
  else
    AbortTxn(txn);
  if (rc != 0) LOG_DEBUG("storage: nudge commit failed: %s", mdb_strerror(rc));
}

}  // namespace trib::storage
