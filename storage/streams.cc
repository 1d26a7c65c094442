// Writer: initializing the environment, loading streams and partitions, and
// stream changes (OpenStreams, EnsureStream, UpdateRetention).

#include <lmdb.h>

#include <algorithm>
#include <cstring>
#include <set>

#include "platform/clock.h"
#include "platform/log.h"
#include "storage/keys.h"
#include "storage/writer.h"

namespace trib::storage {
namespace {

constexpr uint32_t kMaxPartitionsPerStream = 256;

MDB_val Val(const std::string& s) { return MDB_val{s.size(), const_cast<char*>(s.data())}; }

}  // namespace

Status Writer::Init() {
  MDB_txn* txn = nullptr;
  int rc = BeginTxn(&txn);
  if (rc != 0) return MdbStatus(rc, "starting the first transaction");
  const std::pair<const char*, MDB_dbi*> fixed[] = {{"meta", &env_->meta},
                                                    {"cursors", &env_->cursors},
                                                    {"retained", &env_->retained},
                                                    {"sessions", &env_->sessions},
                                                    {"idle_groups", &env_->idle_groups}};
  for (const auto& [name, dbi] : fixed) {
    if (rc == 0) rc = mdb_dbi_open(txn, name, MDB_CREATE, dbi);
  }
  const std::string fkey = kMetaFormatKey;
  MDB_val k = Val(fkey), v;
  if (rc == 0 && (rc = mdb_get(txn, env_->meta, &k, &v)) == MDB_NOTFOUND) {
    uint32_t version = kFormatVersion;
    v = MDB_val{4, &version};
    rc = mdb_put(txn, env_->meta, &k, &v, 0);
  }
  std::vector<std::unique_ptr<StreamState>> loaded;
  Status s = rc == 0 ? Status() : MdbStatus(rc, "initializing storage");
  if (s.ok()) s = LoadStreams(txn, &loaded);
  if (!s.ok()) {
    AbortTxn(txn);
    return s;
  }
  rc = CommitTxn(txn);
  if (rc != 0) return MdbStatus(rc, "initializing storage");
  PublishStreams(&loaded);
  next_retention_mono_ = clock::MonoMs();
  last_sync_mono_ = clock::MonoMs() - options_.sync_interval_ms;
  return Status();
}

Status Writer::LoadStreams(MDB_txn* txn, std::vector<std::unique_ptr<StreamState>>* out) {
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, env_->meta, &c);
  if (rc != 0) return MdbStatus(rc, "reading stream definitions");
  const std::string prefix = kMetaStreamPrefix;
  MDB_val k = Val(prefix), v;
  Status s;
  for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
       rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
    std::string_view key(static_cast<const char*>(k.mv_data), k.mv_size);
    if (key.substr(0, prefix.size()) != prefix) break;
    StreamSpec spec;
    spec.name = std::string(key.substr(prefix.size()));
    StreamId id;
    if (!DecodeStreamDef(std::string_view(static_cast<const char*>(v.mv_data), v.mv_size), &id,
                         &spec)) {
      s = Status(Error::kCorrupt, "stream definition of '" + spec.name + "' is unreadable");
      break;
    }
    out->push_back(NewStream(id, spec));
  }
  mdb_cursor_close(c);
  if (!s.ok()) return s;
  if (rc != 0 && rc != MDB_NOTFOUND) return MdbStatus(rc, "reading stream definitions");
  for (auto& stream : *out) {
    rc = OpenPartitionDbs(txn, stream.get());
    for (size_t i = 0; rc == 0 && i < stream->parts.size(); i++)
      rc = LoadPartition(txn, stream->parts[i].get());
    if (rc != 0) return MdbStatus(rc, "loading stream " + stream->spec.name);
  }
  return Status();
}

std::unique_ptr<StreamState> Writer::NewStream(StreamId id, const StreamSpec& spec) {
  auto s = std::make_unique<StreamState>();
  s->id = id;
  s->spec = spec;
  for (uint32_t n = 0; n < spec.partitions; n++) {
    auto p = std::make_unique<PartitionState>();
    p->stream = id;
    p->partition = n;
    s->parts.push_back(std::move(p));
  }
  return s;
}

int Writer::OpenPartitionDbs(MDB_txn* txn, StreamState* s) {
  for (auto& p : s->parts) {
    int rc = mdb_dbi_open(txn, DataDbName(s->id, p->partition).c_str(), MDB_CREATE, &p->data_dbi);
    if (rc == 0)
      rc = mdb_dbi_open(txn, TimeDbName(s->id, p->partition).c_str(), MDB_CREATE, &p->time_dbi);
    if (rc != 0) return rc;
  }
  return 0;
}

// Start, end, timestamps and bytes of a partition from its first and last
// batches, its end marker and its time index.
int Writer::LoadPartition(MDB_txn* txn, PartitionState* p) {
  PartitionWork w;
  MDB_cursor* c = nullptr;
  int rc = mdb_cursor_open(txn, p->data_dbi, &c);
  if (rc != 0) return rc;
  MDB_val k, v;
  BatchHeader h;
  bool have = false;
  if (mdb_cursor_get(c, &k, &v, MDB_FIRST) == 0 && k.mv_size == 8) {
    have = true;
    w.info.start_offset = GetBE64(k.mv_data);
    if (PeekHeader(v.mv_data, v.mv_size, &h)) w.info.first_timestamp_ms = h.first_ts;
  }
  if (have && mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8) {
    const uint64_t base = GetBE64(k.mv_data);
    uint32_t count = 1;
    if (CheckBatch(v.mv_data, v.mv_size, &h) == nullptr) {
      count = h.count;
      w.info.last_timestamp_ms = h.first_ts;
    } else {
      LOG_ERROR("storage: last batch of stream %u partition %u (offset %llu) is corrupt", p->stream,
                p->partition, static_cast<unsigned long long>(base));
      if (PeekHeader(v.mv_data, v.mv_size, &h) && h.count > 0 && h.count <= v.mv_size)
        count = h.count;
    }
    w.info.end_offset = base + count;
  }
  mdb_cursor_close(c);
  const std::string mk = EndMarkerKey(p->stream, p->partition);
  k = Val(mk);
  if (mdb_get(txn, env_->meta, &k, &v) == 0 && v.mv_size == 16) {
    uint64_t end;
    int64_t ts;
    std::memcpy(&end, v.mv_data, 8);
    std::memcpy(&ts, static_cast<const char*>(v.mv_data) + 8, 8);
    w.info.end_offset = std::max(w.info.end_offset, end);
    w.info.last_timestamp_ms = std::max(w.info.last_timestamp_ms, ts);
  }
  if (!have) w.info.start_offset = w.info.end_offset;
  if ((rc = mdb_cursor_open(txn, p->time_dbi, &c)) != 0) return rc;
  if (mdb_cursor_get(c, &k, &v, MDB_LAST) == 0 && k.mv_size == 8) {
    w.has_index = true;
    w.last_index_ts = TimeFromKey(GetBE64(k.mv_data));
  }
  mdb_cursor_close(c);
  p->work = w;
  if ((rc = RefreshBytes(txn, p)) != 0) return rc;
  p->committed = p->work;
  p->info = p->work.info;
  p->life_first_offset = w.info.end_offset;
  last_ts_ = std::max(last_ts_, w.info.last_timestamp_ms);
  return 0;
}

void Writer::PublishStreams(std::vector<std::unique_ptr<StreamState>>* created) {
  for (auto& s : *created) catalog_->Add(std::move(s));
  created->clear();
}

void Writer::RunControl(ControlOp* op) {
  if (failed_) {
    op->status = Status(Error::kClosed, "the storage writer failed");
    return;
  }
  if (op->kind == ControlOp::Kind::kUpdateRetention) {
    op->status = UpdateRetention(op);
    return;
  }
  if (op->kind == ControlOp::Kind::kEnsureStream) {
    if (StreamState* s = catalog_->GetByName(op->specs[0].name)) {
      op->id = s->id;
      if (s->spec.partitions != op->specs[0].partitions) {
        op->status = Status(Error::kConfigChanged, "stream '" + s->spec.name + "' exists with " +
                                                       std::to_string(s->spec.partitions) +
                                                       " partitions, not " +
                                                       std::to_string(op->specs[0].partitions));
      }
      return;
    }
  }
  std::vector<StreamId> ids;
  op->status = OpenStreams(op->specs, &ids);
  if (op->status.ok() && !ids.empty()) op->id = ids[0];
}

// Checks everything first, so that a refused list changes nothing.
static Status CheckSpecs(const std::vector<StreamSpec>& specs, const Catalog& catalog,
                         unsigned* new_dbs) {
  std::set<std::string> seen;
  *new_dbs = 0;
  for (const StreamSpec& spec : specs) {
    if (spec.name.empty() || spec.name.size() > kMaxStreamName)
      return Status(Error::kInvalid, "stream name must be 1 to " + std::to_string(kMaxStreamName) +
                                         " bytes: '" + spec.name + "'");
    if (spec.partitions == 0 || spec.partitions > kMaxPartitionsPerStream)
      return Status(Error::kInvalid, "stream '" + spec.name + "': partitions must be 1 to " +
                                         std::to_string(kMaxPartitionsPerStream));
    if (!seen.insert(spec.name).second)
      return Status(Error::kInvalid, "stream '" + spec.name + "' is listed twice");
    const StreamState* s = catalog.GetByName(spec.name);
    if (s != nullptr && s->spec.partitions != spec.partitions) {
      return Status(
          Error::kConfigChanged,
          "stream '" + spec.name + "' is stored with " + std::to_string(s->spec.partitions) +
              " partitions but the configuration asks for " + std::to_string(spec.partitions) +
              "; the partition count of a stream cannot change (keys would move)");
    }
    if (s == nullptr) *new_dbs += 2 * spec.partitions;
  }
  if (catalog.db_count() + *new_dbs + kFixedDbs > kMaxDbs)
    return Status(Error::kInvalid, "too many partitions: at most " +
                                       std::to_string((kMaxDbs - kFixedDbs) / 2) + " in all");
  return Status();
}

Status Writer::OpenStreams(const std::vector<StreamSpec>& specs, std::vector<StreamId>* ids) {
  unsigned new_dbs;
  Status s = CheckSpecs(specs, *catalog_, &new_dbs);
  if (!s.ok()) return s;
  MDB_txn* txn = nullptr;
  int rc = BeginTxn(&txn);
  if (rc != 0) return MdbStatus(rc, "opening streams");
  std::vector<std::unique_ptr<StreamState>> created;
  std::vector<std::pair<StreamState*, StreamSpec>> updated;
  for (const StreamSpec& spec : specs) {
    StreamState* existing = catalog_->GetByName(spec.name);
    StreamId id =
        existing ? existing->id : static_cast<StreamId>(catalog_->stream_count() + created.size());
    ids->push_back(id);
    if (existing == nullptr) {
      created.push_back(NewStream(id, spec));
      rc = OpenPartitionDbs(txn, created.back().get());
      for (size_t i = 0; rc == 0 && i < spec.partitions; i++)
        rc = LoadPartition(txn, created.back()->parts[i].get());
    } else {
      updated.emplace_back(existing, spec);
    }
    const std::string key = kMetaStreamPrefix + spec.name, def = EncodeStreamDef(id, spec);
    MDB_val k = Val(key), v = Val(def);
    if (rc == 0) rc = mdb_put(txn, env_->meta, &k, &v, 0);
    if (rc != 0) break;
  }
  if (rc != 0) {
    AbortTxn(txn);
    return MdbStatus(rc, "opening streams");
  }
  if ((rc = CommitTxn(txn, true)) != 0) return MdbStatus(rc, "opening streams");
  AfterCommit(Pending(), true);  // durable: releases what waited for a sync
  for (auto& [stream, spec] : updated) catalog_->SetSpec(stream, spec);
  PublishStreams(&created);
  return Status();
}

Status Writer::UpdateRetention(ControlOp* op) {
  StreamState* s = catalog_->Get(op->stream);
  if (s == nullptr)
    return Status(Error::kInvalid, "unknown stream id " + std::to_string(op->stream));
  StreamSpec spec = s->spec;
  spec.max_age_ms = op->max_age_ms;
  spec.max_bytes = op->max_bytes;
  spec.on_full = op->on_full;
  MDB_txn* txn = nullptr;
  int rc = BeginTxn(&txn);
  if (rc != 0) return MdbStatus(rc, "updating retention");
  const std::string key = kMetaStreamPrefix + spec.name, def = EncodeStreamDef(s->id, spec);
  MDB_val k = Val(key), v = Val(def);
  rc = mdb_put(txn, env_->meta, &k, &v, 0);
  if (rc == 0)
    rc = CommitTxn(txn, true);
  else
    AbortTxn(txn);
  if (rc != 0) return MdbStatus(rc, "updating retention");
  AfterCommit(Pending(), true);
  catalog_->SetSpec(s, spec);
  next_retention_mono_ = 0;  // apply the new limits soon
  return Status();
}

}  // namespace trib::storage
