// Log reads: records, time lookups, partition info, cursors, retained
// messages and sessions. Each call uses one short read transaction.

#include <lmdb.h>

#include <cstring>
#include <optional>

#include "platform/log.h"
#include "storage/batch.h"
#include "storage/keys.h"
#include "storage/log_impl.h"

namespace trib::storage {
namespace {

MDB_val Val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }
uint64_t KeyOffset(const MDB_val& k) { return k.mv_size == 8 ? GetBE64(k.mv_data) : 0; }

// A read cursor on one partition's batches.
class BatchCursor {
 public:
  BatchCursor(MDB_txn* txn, MDB_dbi dbi) { rc_ = mdb_cursor_open(txn, dbi, &c_); }
  ~BatchCursor() {
    if (c_ != nullptr) mdb_cursor_close(c_);
  }
  BatchCursor(const BatchCursor&) = delete;
  BatchCursor& operator=(const BatchCursor&) = delete;
  int rc() const { return rc_; }
  // Moves to the batch holding `offset` (the greatest key <= offset). Returns
  // MDB_NOTFOUND when the partition is empty, or *below with the first key
  // when every batch starts after `offset`.
  int Seek(uint64_t offset, bool* below) {
    *below = false;
    char kb[8];
    PutBE64(kb, offset);
    k_ = MDB_val{8, kb};
    int rc = mdb_cursor_get(c_, &k_, &v_, MDB_SET_RANGE);
    if (rc == 0 && KeyOffset(k_) == offset) return 0;
    if (rc == MDB_NOTFOUND) return mdb_cursor_get(c_, &k_, &v_, MDB_LAST);
    if (rc != 0) return rc;
    rc = mdb_cursor_get(c_, &k_, &v_, MDB_PREV);
    if (rc == MDB_NOTFOUND) {
      *below = true;
      return mdb_cursor_get(c_, &k_, &v_, MDB_FIRST);
    }
    return rc;
  }
  int Next() { return mdb_cursor_get(c_, &k_, &v_, MDB_NEXT); }
  int Prev() { return mdb_cursor_get(c_, &k_, &v_, MDB_PREV); }
  uint64_t base() const { return KeyOffset(k_); }
  const void* data() const { return v_.mv_data; }
  size_t size() const { return v_.mv_size; }

 private:
  MDB_cursor* c_ = nullptr;
  int rc_ = 0;
  MDB_val k_{}, v_{};
};

struct Placed {  // a record copied into the result buffer
  uint64_t offset;
  int64_t ts;
  size_t pos, len;
};

void BuildRecords(ReadResult* out, const std::vector<Placed>& placed) {
  const std::string& buf = out->buffers[0];
  out->records.reserve(placed.size());
  for (const Placed& p : placed) {
    RecordReader reader(std::string_view(buf.data() + p.pos, p.len));
    RecordView v;
    if (!reader.Next(&v)) continue;  // copied from a checked batch: cannot happen
    Record r;
    r.offset = p.offset;
    r.timestamp_ms = p.ts;
    r.key = v.key;
    r.topic = v.topic;
    r.payload = v.payload;
    r.properties = v.properties;
    r.qos = v.qos;
    r.retain = v.retain;
    out->records.push_back(r);
  }
}

}  // namespace

namespace {

// Collects records for one Read call within its limits.
class Collector {
 public:
  Collector(uint64_t from, size_t max_records, size_t max_bytes)
      : max_records_(max_records), max_bytes_(max_bytes) {
    out_.next_offset = from;
    out_.buffers.emplace_back();
  }
  bool full() const { return full_ || placed_.size() >= max_records_; }
  // Takes the wanted records of one batch. Returns nullptr, or why the batch
  // is corrupt (records taken before the bad spot stay taken).
  const char* TakeBatch(uint64_t base, const void* data, size_t size, bool verified) {
    BatchHeader h;
    if (const char* why = CheckBatch(data, size, &h, !verified)) return why;
    std::string_view body;
    if (const char* why = BatchBody(data, h, &scratch_, &body)) return why;
    RecordReader reader(body);
    RecordView v;
    for (uint32_t i = 0; i < h.count; i++) {
      const uint64_t off = base + i;
      if (off < out_.next_offset) {
        if (!reader.Skip()) return "malformed record";
        continue;
      }
      if (!reader.Next(&v)) return "malformed record";
      if (placed_.size() >= max_records_ ||
          (!placed_.empty() && bytes_ + v.encoded.size() > max_bytes_)) {
        full_ = true;
        return nullptr;
      }
      placed_.push_back(
          {off, RecordTime(h.first_ts, v.ts_delta), out_.buffers[0].size(), v.encoded.size()});
      out_.buffers[0].append(v.encoded);
      bytes_ += v.encoded.size();
      out_.next_offset = off + 1;
    }
    return reader.position() == body.data() + body.size() ? nullptr : "record count mismatch";
  }
  void Skip(uint64_t base, uint64_t next) {
    const uint64_t skip_from = std::max(base, out_.next_offset);
    if (next <= skip_from) return;
    out_.skipped += next - skip_from;
    out_.next_offset = next;
  }
  ReadResult Finish() {
    BuildRecords(&out_, placed_);
    return std::move(out_);
  }

 private:
  const size_t max_records_, max_bytes_;
  ReadResult out_;
  std::vector<Placed> placed_;
  std::string scratch_;
  size_t bytes_ = 0;
  bool full_ = false;
};

}  // namespace

// The start and the corrupt-batch handling shared by Read and ReadBatches:
// the partition, a snapshot of its info, one read transaction and a cursor on
// the batch that holds `from`.
class PartitionScan {
 public:
  PartitionScan(const Env& env, const Catalog& catalog, VerifiedBatches& verified,
                Counters& counters)
      : env_(env), catalog_(catalog), verified_(verified), counters_(counters) {}
  // OK, or why the read cannot start (unknown partition, LMDB error, `from`
  // below the partition start: kOutOfRange). After OK, rc() tells whether
  // the cursor stands on a batch (0) or the partition has none from there.
  Status Start(StreamId stream, uint32_t partition, uint64_t from) {
    Status err;
    p_ = catalog_.Find(stream, partition, &err);
    if (p_ == nullptr) return err;
    stream_ = stream;
    partition_ = partition;
    info_ = p_->Snapshot();  // before the txn: the txn sees at least this
    txn_.emplace(env_);
    if (!txn_->ok()) return MdbStatus(txn_->rc(), "read transaction");
    cur_.emplace(txn_->get(), p_->data_dbi);
    if (cur_->rc() != 0) return MdbStatus(cur_->rc(), "read cursor");
    bool below;
    rc_ = cur_->Seek(from, &below);
    if ((rc_ == 0 && below) || (rc_ == MDB_NOTFOUND && from < info_.start_offset)) {
      const uint64_t start = rc_ == 0 ? cur_->base() : info_.start_offset;
      return Status(Error::kOutOfRange, "offset " + std::to_string(from) +
                                            " is below the partition start " +
                                            std::to_string(start));
    }
    return Status();
  }
  int rc() const { return rc_; }
  BatchCursor& cur() { return *cur_; }
  bool Verified() const { return verified_.Contains(p_->ordinal, cur_->base()); }
  void MarkVerified() { verified_.Add(p_->ordinal, cur_->base()); }
  void Next() { rc_ = cur_->Next(); }
  // After Next() past a corrupt batch at `base`: logs and counts it, and
  // returns the first offset after it.
  uint64_t Corrupt(uint64_t base, const char* why) {
    LOG_ERROR("storage: corrupt batch in stream %u partition %u at offset %llu (%s); skipping",
              stream_, partition_, static_cast<unsigned long long>(base), why);
    counters_.corrupt_batches++;
    return rc_ == 0 ? cur_->base() : std::max(info_.end_offset, base + 1);
  }
  Status Done() const {
    return rc_ != 0 && rc_ != MDB_NOTFOUND ? MdbStatus(rc_, "reading batches") : Status();
  }

 private:
  const Env& env_;
  const Catalog& catalog_;
  VerifiedBatches& verified_;
  Counters& counters_;
  const PartitionState* p_ = nullptr;
  StreamId stream_ = 0;
  uint32_t partition_ = 0;
  PartitionInfo info_;
  std::optional<ReadTxn> txn_;
  std::optional<BatchCursor> cur_;
  int rc_ = MDB_NOTFOUND;
};

Result<ReadResult> Log::Read(StreamId stream, uint32_t partition, uint64_t from, size_t max_records,
                             size_t max_bytes) const {
  PartitionScan scan(impl_->env, impl_->catalog, impl_->verified, impl_->counters);
  if (Status s = scan.Start(stream, partition, from); !s.ok()) return s;
  Collector col(from, max_records, max_bytes);
  while (scan.rc() == 0 && !col.full()) {
    BatchCursor& cur = scan.cur();
    const uint64_t base = cur.base();
    const bool verified = scan.Verified();
    const char* why = col.TakeBatch(base, cur.data(), cur.size(), verified);
    if (why == nullptr && !verified) scan.MarkVerified();
    scan.Next();
    if (why != nullptr) col.Skip(base, scan.Corrupt(base, why));
  }
  if (Status s = scan.Done(); !s.ok()) return s;
  return col.Finish();
}

Result<RawBatches> Log::ReadBatches(StreamId stream, uint32_t partition, uint64_t from,
                                    size_t max_bytes) const {
  PartitionScan scan(impl_->env, impl_->catalog, impl_->verified, impl_->counters);
  if (Status s = scan.Start(stream, partition, from); !s.ok()) return s;
  RawBatches out;
  out.next_offset = from;
  BatchHeader h;
  // The batch Start found may end at or before `from` (from is its
  // successor's base, the end, or inside a gap): start with the next one.
  if (scan.rc() == 0 && PeekHeader(scan.cur().data(), scan.cur().size(), &h) &&
      scan.cur().base() + h.count <= from)
    scan.Next();
  struct Span {
    uint64_t base;
    uint32_t count;
    int64_t ts;
    size_t pos, len;
  };
  std::vector<Span> spans;
  while (scan.rc() == 0) {
    BatchCursor& cur = scan.cur();
    const uint64_t base = cur.base();
    if (!spans.empty() && out.buffer.size() + cur.size() > max_bytes) break;
    const bool verified = scan.Verified();
    const char* why = CheckBatch(cur.data(), cur.size(), &h, !verified);
    if (why == nullptr) {
      if (!verified) scan.MarkVerified();
      spans.push_back({base, h.count, h.first_ts, out.buffer.size(), cur.size()});
      out.buffer.append(static_cast<const char*>(cur.data()), cur.size());
      out.next_offset = std::max(out.next_offset, base + h.count);
      scan.Next();
      continue;
    }
    scan.Next();
    const uint64_t next = scan.Corrupt(base, why);
    const uint64_t skip_from = std::max(base, out.next_offset);
    if (next > skip_from) {
      out.skipped += next - skip_from;
      out.next_offset = next;
    }
  }
  if (Status s = scan.Done(); !s.ok()) return s;
  out.batches.reserve(spans.size());
  for (const Span& sp : spans) {
    out.batches.push_back(
        RawBatch{sp.base, sp.count, sp.ts, std::string_view(out.buffer).substr(sp.pos, sp.len)});
  }
  return out;
}

Result<uint64_t> Log::OffsetForTime(StreamId stream, uint32_t partition, int64_t t_ms) const {
  Status err;
  const PartitionState* p = impl_->catalog.Find(stream, partition, &err);
  if (p == nullptr) return err;
  const PartitionInfo info = p->Snapshot();
  ReadTxn txn(impl_->env);
  if (!txn.ok()) return MdbStatus(txn.rc(), "read transaction");
  // The last index entry older than t: every offset before it is older too.
  uint64_t scan_from = 0;
  {
    BatchCursor idx(txn.get(), p->time_dbi);
    if (idx.rc() != 0) return MdbStatus(idx.rc(), "time index cursor");
    bool below;
    const uint64_t tk = TimeKey(t_ms);
    int rc = idx.Seek(tk, &below);  // the greatest key <= tk
    if (rc == 0 && !below && idx.base() == tk) rc = idx.Prev();
    if (rc == 0 && !below && idx.size() == 8) scan_from = GetBE64(idx.data());
  }
  BatchCursor cur(txn.get(), p->data_dbi);
  if (cur.rc() != 0) return MdbStatus(cur.rc(), "read cursor");
  bool below;
  int rc = cur.Seek(scan_from, &below);
  std::vector<RecordView> views;
  std::string scratch;
  while (rc == 0) {
    const uint64_t base = cur.base();
    const void* data = cur.data();
    const size_t size = cur.size();
    BatchHeader next_h;
    rc = cur.Next();
    if (rc == 0 && PeekHeader(cur.data(), cur.size(), &next_h) && next_h.first_ts < t_ms) continue;
    BatchHeader h;
    if (DecodeBatch(data, size, &h, &scratch, &views) != nullptr) continue;  // corrupt: skip
    for (size_t i = 0; i < views.size(); i++) {
      if (RecordTime(h.first_ts, views[i].ts_delta) >= t_ms) return base + i;
    }
    if (rc != 0) return base + views.size();
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return MdbStatus(rc, "reading batches");
  return info.end_offset;
}

Result<PartitionInfo> Log::Info(StreamId stream, uint32_t partition) const {
  Status err;
  const PartitionState* p = impl_->catalog.Find(stream, partition, &err);
  if (p == nullptr) return err;
  return p->Snapshot();
}

Result<uint64_t> Log::GetCursor(std::string_view consumer, StreamId stream,
                                uint32_t partition) const {
  ReadTxn txn(impl_->env);
  if (!txn.ok()) return MdbStatus(txn.rc(), "read transaction");
  const std::string key = CursorKey(consumer, stream, partition);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn.get(), impl_->env.cursors, &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Error::kNotFound, "no cursor");
  if (rc != 0) return MdbStatus(rc, "reading a cursor");
  if (v.mv_size != 8) return Status(Error::kCorrupt, "cursor value is not 8 bytes");
  return GetBE64(v.mv_data);
}

std::vector<Log::CursorEntry> Log::ListCursors(std::string_view consumer) const {
  std::vector<CursorEntry> out;
  ReadTxn txn(impl_->env);
  MDB_cursor* c = nullptr;
  if (!txn.ok() || mdb_cursor_open(txn.get(), impl_->env.cursors, &c) != 0) return out;
  const std::string prefix = CursorPrefix(consumer);
  MDB_val k = Val(prefix), v;
  for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    if (k.mv_size < prefix.size() || std::memcmp(k.mv_data, prefix.data(), prefix.size()) != 0)
      break;
    CursorEntry e;
    std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
    if (v.mv_size != 8 || !ParseCursorKey(key, prefix.size(), &e.stream, &e.partition)) continue;
    e.next_offset = GetBE64(v.mv_data);
    out.push_back(e);
  }
  mdb_cursor_close(c);
  return out;
}

namespace {

Status ForEachName(const Env& env, MDB_dbi dbi, const char* what,
                   const std::function<void(std::string_view, std::string_view)>& fn) {
  ReadTxn txn(env);
  if (!txn.ok()) return MdbStatus(txn.rc(), "read transaction");
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn.get(), dbi, &c);
  if (rc != 0) return MdbStatus(rc, std::string("reading ") + what);
  MDB_val k, v;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    std::string_view name, value;
    if (!SplitNameValue({static_cast<const char*>(k.mv_data), k.mv_size},
                        {static_cast<const char*>(v.mv_data), v.mv_size}, &name, &value)) {
      LOG_ERROR("storage: a stored %s entry is malformed; skipping it", what);
      continue;
    }
    fn(name, value);
  }
  mdb_cursor_close(c);
  return rc == MDB_NOTFOUND ? Status() : MdbStatus(rc, std::string("reading ") + what);
}

}  // namespace

Status Log::ForEachRetained(
    const std::function<void(std::string_view topic, std::string_view value)>& fn) const {
  return ForEachName(impl_->env, impl_->env.retained, "retained", fn);
}

Status Log::ForEachSession(
    const std::function<void(std::string_view client_id, std::string_view value)>& fn) const {
  return ForEachName(impl_->env, impl_->env.sessions, "session", fn);
}

Status Log::ForEachIdleGroup(
    const std::function<void(std::string_view consumer, int64_t since_ms)>& fn) const {
  return ForEachName(impl_->env, impl_->env.idle_groups, "idle group",
                     [&](std::string_view name, std::string_view value) {
                       if (value.size() == 8) fn(name, static_cast<int64_t>(GetBE64(value.data())));
                     });
}

Result<std::string> Log::GetSession(std::string_view client_id) const {
  ReadTxn txn(impl_->env);
  if (!txn.ok()) return MdbStatus(txn.rc(), "read transaction");
  const std::string key = NameKey(client_id);
  MDB_val k = Val(key), v;
  int rc = mdb_get(txn.get(), impl_->env.sessions, &k, &v);
  if (rc == MDB_NOTFOUND) return Status(Error::kNotFound, "no session");
  if (rc != 0) return MdbStatus(rc, "reading a session");
  std::string_view name, value;
  if (!SplitNameValue(key, {static_cast<const char*>(v.mv_data), v.mv_size}, &name, &value) ||
      name != client_id)
    return Status(Error::kCorrupt, "stored session is malformed");
  return std::string(value);
}

uint64_t UsedPagesIn(MDB_txn* txn, const Env& env, const Catalog& catalog) {
  std::vector<MDB_dbi> dbis = catalog.PartitionDbis();
  for (MDB_dbi d : {MDB_dbi{0}, MDB_dbi{1}, env.meta, env.cursors, env.retained, env.sessions,
                    env.idle_groups})
    dbis.push_back(d);
  uint64_t pages = 2;  // the two meta pages
  for (MDB_dbi d : dbis) {
    MDB_stat st;
    if (mdb_stat(txn, d, &st) == 0)
      pages += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
  }
  return pages;
}

uint64_t UsedPages(const Env& env, const Catalog& catalog) {
  ReadTxn txn(env);
  if (!txn.ok()) return 0;
  return UsedPagesIn(txn.get(), env, catalog);
}

}  // namespace trib::storage
