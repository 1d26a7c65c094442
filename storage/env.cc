// Env: opening the environment, the format check and the read-txn pool.

#include "storage/env.h"

#include <lmdb.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "platform/log.h"
#include "storage/keys.h"

namespace trib::storage {
namespace {

constexpr unsigned kMaxReaders = 256;
constexpr size_t kMaxPooledTxns = 16;

thread_local bool t_reads_forbidden = false;

void ReportForbiddenRead() {
  static std::atomic<bool> reported{false};
  if (!reported.exchange(true))
    LOG_ERROR("storage: a log read on the event loop thread (a bug: it may wait for the disk)");
#ifndef NDEBUG
  abort();
#endif
}

}  // namespace

void ForbidReadsOnThisThread() { t_reads_forbidden = true; }

Status MdbStatus(int rc, const std::string& what) {
  if (rc == 0) return Status();
  Error code = rc == MDB_MAP_FULL ? Error::kFull : Error::kIo;
  return Status(code, what + ": " + mdb_strerror(rc));
}

Env::~Env() {
  for (MDB_txn* t : pool_) mdb_txn_abort(t);
  pool_.clear();
  if (env_ != nullptr) mdb_env_close(env_);
}

Status Env::Open(const Options& options) {
  int rc = mdb_env_create(&env_);
  if (rc != 0) return MdbStatus(rc, "mdb_env_create");
  mdb_env_set_mapsize(env_, options.map_bytes);
  mdb_env_set_maxdbs(env_, kMaxDbs);
  mdb_env_set_maxreaders(env_, kMaxReaders);
  unsigned flags = MDB_NOTLS | (options.sync == SyncPolicy::kNone ? MDB_NOSYNC : MDB_NOMETASYNC);
  rc = mdb_env_open(env_, options.dir.c_str(), flags, 0640);
  if (rc == MDB_INVALID || rc == MDB_VERSION_MISMATCH) {
    return Status(Error::kFormat,
                  "storage in " + options.dir +
                      " is not an LMDB environment this build can read: " + mdb_strerror(rc));
  }
  if (rc != 0) return MdbStatus(rc, "opening storage in " + options.dir);
  int dead = 0;
  mdb_reader_check(env_, &dead);  // slots of a crashed process would pin old pages
  MDB_stat st;
  if (mdb_env_stat(env_, &st) == 0) page_size_ = st.ms_psize;
  return CheckFormat();
}

// Reads meta/format in a read transaction. An empty environment is fine (the
// writer initializes it); anything else must be ours and not newer.
Status Env::CheckFormat() {
  MDB_txn* txn = nullptr;
  int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
  if (rc != 0) return MdbStatus(rc, "read transaction");
  MDB_dbi dbi;
  Status s;
  rc = mdb_dbi_open(txn, "meta", 0, &dbi);
  if (rc == MDB_NOTFOUND) {
    MDB_stat st;
    mdb_stat(txn, 1 /* MAIN_DBI */, &st);
    if (st.ms_entries != 0) s = Status(Error::kFormat, "not a Tributary environment (no meta)");
  } else if (rc == MDB_INCOMPATIBLE) {
    s = Status(Error::kFormat, "not a Tributary environment (meta is not a database)");
  } else if (rc != 0) {
    s = MdbStatus(rc, "opening meta");
  } else {
    MDB_val key{std::strlen(kMetaFormatKey), const_cast<char*>(kMetaFormatKey)}, val;
    rc = mdb_get(txn, dbi, &key, &val);
    uint32_t version = 0;
    if (rc == 0 && val.mv_size == 4) std::memcpy(&version, val.mv_data, 4);
    if (rc != 0 || val.mv_size != 4 || version == 0) {
      s = Status(Error::kFormat, "storage format version missing or unreadable in meta");
    } else if (version > kFormatVersion) {
      s = Status(Error::kFormat, "storage format version " + std::to_string(version) +
                                     " is newer than this build supports (" +
                                     std::to_string(kFormatVersion) + "); refusing to open");
    } else if (version != kFormatVersion) {
      s = Status(Error::kFormat, "unknown storage format version " + std::to_string(version));
    }
  }
  mdb_txn_abort(txn);  // also closes the handle opened above
  return s;
}

int Env::BeginRead(MDB_txn** out) const {
  if (t_reads_forbidden) ReportForbiddenRead();
  *out = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool_mu_);
    if (!pool_.empty()) {
      *out = pool_.back();
      pool_.pop_back();
    }
  }
  if (*out != nullptr) {
    int rc = mdb_txn_renew(*out);
    if (rc == 0) return 0;
    mdb_txn_abort(*out);
    *out = nullptr;
  }
  return mdb_txn_begin(env_, nullptr, MDB_RDONLY, out);
}

void Env::EndRead(MDB_txn* txn) const {
  mdb_txn_reset(txn);
  std::lock_guard<std::mutex> lock(pool_mu_);
  if (pool_.size() < kMaxPooledTxns) {
    pool_.push_back(txn);
    return;
  }
  mdb_txn_abort(txn);
}

}  // namespace trib::storage
