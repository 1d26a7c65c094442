// Log and WriteBatch: the public surface of storage/ (log.h). Reads are in
// read.cc; the write path is the Writer (writer.h).

#include "storage/log.h"

#include <lmdb.h>
#include <xxhash.h>

#include "storage/batch.h"
#include "storage/keys.h"
#include "storage/log_impl.h"

namespace trib::storage {

const char* ErrorName(Error e) {
  switch (e) {
    case Error::kOk:
      return "ok";
    case Error::kInvalid:
      return "invalid";
    case Error::kNotFound:
      return "not_found";
    case Error::kOutOfRange:
      return "out_of_range";
    case Error::kCorrupt:
      return "corrupt";
    case Error::kFormat:
      return "format";
    case Error::kConfigChanged:
      return "config_changed";
    case Error::kIo:
      return "io";
    case Error::kFull:
      return "full";
    case Error::kClosed:
      return "closed";
  }
  return "unknown";
}

uint32_t PartitionFor(std::string_view key, uint32_t partitions) {
  if (partitions <= 1) return 0;
  return static_cast<uint32_t>(XXH3_64bits(key.data(), key.size()) % partitions);
}

// --- WriteBatch ---

WriteBatch::WriteBatch() : rep_(std::make_unique<Rep>()) {}
WriteBatch::~WriteBatch() = default;
WriteBatch::WriteBatch(WriteBatch&&) noexcept = default;
WriteBatch& WriteBatch::operator=(WriteBatch&&) noexcept = default;

void WriteBatch::Append(StreamId stream, uint32_t partition, const RecordIn& record) {
  if (!rep_) rep_ = std::make_unique<Rep>();
  Rep& r = *rep_;
  if (r.last_seg >= r.segs.size() || r.segs[r.last_seg].raw ||
      r.segs[r.last_seg].stream != stream || r.segs[r.last_seg].partition != partition) {
    r.last_seg = r.segs.size();
    for (size_t i = 0; i < r.segs.size(); i++) {
      if (!r.segs[i].raw && r.segs[i].stream == stream && r.segs[i].partition == partition)
        r.last_seg = i;
    }
    if (r.last_seg == r.segs.size()) {
      r.segs.emplace_back();
      r.segs.back().stream = stream;
      r.segs.back().partition = partition;
      r.bytes += sizeof(Rep::Seg);
    }
  }
  Rep::Seg& seg = r.segs[r.last_seg];
  const size_t before = seg.data.size();
  AppendRecord(&seg.data, record, 0);
  const size_t n = seg.data.size() - before;
  seg.count++;
  r.bytes += n;
  r.max_record = std::max(r.max_record, n);
}

void WriteBatch::AppendBatch(StreamId stream, uint32_t partition, uint64_t base_offset,
                             std::string_view bytes) {
  if (!rep_) rep_ = std::make_unique<Rep>();
  Rep& r = *rep_;
  Rep::Seg& seg = r.segs.emplace_back();
  seg.stream = stream;
  seg.partition = partition;
  seg.raw = true;
  seg.base = base_offset;
  seg.data.assign(bytes.data(), bytes.size());
  BatchHeader h;
  // The writer checks the whole batch; an unreadable header counts 0 records.
  seg.count = PeekHeader(bytes.data(), bytes.size(), &h) ? h.count : 0;
  r.bytes += sizeof(Rep::Seg) + bytes.size();
  r.last_seg = r.segs.size();  // never extended by Append
}

namespace {
// A template so that it may use the private Rep type its callers hand it.
template <class RepPtr, class Op>
void AddOp(RepPtr* rep, Op op) {
  if (!*rep) *rep = std::make_unique<typename RepPtr::element_type>();
  (*rep)->bytes += sizeof(op) + op.name.size() + op.value.size();
  (*rep)->ops.push_back(std::move(op));
}
}  // namespace

void WriteBatch::CommitCursor(std::string_view consumer, StreamId stream, uint32_t partition,
                              uint64_t next_offset) {
  AddOp(&rep_,
        Rep::Op{Rep::OpKind::kCursor, stream, partition, next_offset, std::string(consumer), {}});
}
void WriteBatch::DeleteCursors(std::string_view consumer) {
  AddOp(&rep_, Rep::Op{Rep::OpKind::kDeleteCursors, 0, 0, 0, std::string(consumer), {}});
}
void WriteBatch::PutRetained(std::string_view topic, std::string_view value) {
  AddOp(&rep_, Rep::Op{Rep::OpKind::kPutRetained, 0, 0, 0, std::string(topic), std::string(value)});
}
void WriteBatch::DeleteRetained(std::string_view topic) {
  AddOp(&rep_, Rep::Op{Rep::OpKind::kDeleteRetained, 0, 0, 0, std::string(topic), {}});
}
void WriteBatch::PutSession(std::string_view client_id, std::string_view value) {
  AddOp(&rep_,
        Rep::Op{Rep::OpKind::kPutSession, 0, 0, 0, std::string(client_id), std::string(value)});
}
void WriteBatch::DeleteSession(std::string_view client_id) {
  AddOp(&rep_, Rep::Op{Rep::OpKind::kDeleteSession, 0, 0, 0, std::string(client_id), {}});
}
void WriteBatch::PutIdleGroup(std::string_view consumer, int64_t since_ms) {
  char buf[8];
  PutBE64(buf, static_cast<uint64_t>(since_ms));
  AddOp(&rep_, Rep::Op{Rep::OpKind::kPutIdleGroup, 0, 0, 0, std::string(consumer),
                       std::string(buf, sizeof buf)});
}
void WriteBatch::DeleteIdleGroup(std::string_view consumer) {
  AddOp(&rep_, Rep::Op{Rep::OpKind::kDeleteIdleGroup, 0, 0, 0, std::string(consumer), {}});
}

bool WriteBatch::empty() const { return !rep_ || (rep_->segs.empty() && rep_->ops.empty()); }
size_t WriteBatch::bytes() const { return rep_ ? rep_->bytes : 0; }
void WriteBatch::Clear() { rep_ = std::make_unique<Rep>(); }

// --- Log ---

Log::Log() = default;

Log::~Log() {
  if (impl_ && impl_->writer) impl_->writer->Stop();
}

Result<std::unique_ptr<Log>> Log::Open(const Options& options) {
  if (options.dir.empty()) return Status(Error::kInvalid, "storage dir is empty");
  std::unique_ptr<Log> log(new Log());
  log->impl_ = std::make_unique<Impl>();
  Impl& impl = *log->impl_;
  impl.options = options;
  Status s = impl.env.Open(options);
  if (!s.ok()) return s;
  impl.counters.used_pages = UsedPages(impl.env, impl.catalog);  // the writer keeps it after
  impl.writer = std::make_unique<Writer>(options, &impl.env, &impl.catalog, &impl.counters);
  s = impl.writer->Start();
  if (!s.ok()) return s;
  return log;
}

Status Log::OpenStreams(const std::vector<StreamSpec>& specs) {
  ControlOp op;
  op.kind = ControlOp::Kind::kOpenStreams;
  op.specs = specs;
  impl_->writer->Control(&op);
  return op.status;
}

Result<StreamId> Log::EnsureStream(const StreamSpec& spec) {
  if (auto id = impl_->catalog.FindStream(spec.name)) {
    for (auto& [sid, s] : impl_->catalog.List()) {
      if (sid == *id && s.partitions == spec.partitions) return *id;
    }
  }
  ControlOp op;
  op.kind = ControlOp::Kind::kEnsureStream;
  op.specs = {spec};
  impl_->writer->Control(&op);
  if (!op.status.ok()) return op.status;
  return op.id;
}

std::optional<StreamId> Log::FindStream(std::string_view name) const {
  return impl_->catalog.FindStream(name);
}

std::vector<std::pair<StreamId, StreamSpec>> Log::ListStreams() const {
  return impl_->catalog.List();
}

Status Log::UpdateRetention(StreamId stream, int64_t max_age_ms, uint64_t max_bytes,
                            OnFull on_full) {
  ControlOp op;
  op.kind = ControlOp::Kind::kUpdateRetention;
  op.stream = stream;
  op.max_age_ms = max_age_ms;
  op.max_bytes = max_bytes;
  op.on_full = on_full;
  impl_->writer->Control(&op);
  return op.status;
}

bool Log::Submit(WriteBatch&& batch, uint64_t token) {
  return impl_->writer->Submit(std::move(batch.rep_), token);
}

bool Log::OverLimit() const { return impl_->writer->OverLimit(); }

void Log::TakeCompletions(std::vector<Completion>* out) { impl_->writer->TakeCompletions(out); }

void Log::Flush() { impl_->writer->Flush(); }

Stats Log::GetStats() const {
  Stats st;
  const Counters& c = impl_->counters;
  st.commits = c.commits;
  st.records_appended = c.records_appended;
  st.bytes_appended = c.bytes_appended;
  st.fsyncs = c.fsyncs;
  st.retention_deleted_records = c.retention_deleted_records;
  st.dropped_records = c.dropped_records;
  st.rejected_records = c.rejected_records;
  st.corrupt_batches = c.corrupt_batches;
  st.replicated_batches = c.replicated_batches;
  st.replicated_duplicates = c.replicated_duplicates;
  st.replicated_gaps = c.replicated_gaps;
  c.commit_us.CopyTo(st.commit_us_buckets, &st.commit_us_sum);
  c.fsync_us.CopyTo(st.fsync_us_buckets, &st.fsync_us_sum);
  MDB_envinfo info;
  if (mdb_env_info(impl_->env.env(), &info) == 0) st.map_bytes = info.me_mapsize;
  st.used_bytes = c.used_pages.load(std::memory_order_relaxed) * impl_->env.page_size();
  return st;
}

}  // namespace trib::storage
