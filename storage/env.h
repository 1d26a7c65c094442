// Env: the LMDB environment of one Log, its fixed databases and a pool of
// read transactions.
//
// Owned by Log::Impl. Open() runs once on the opening thread; the read-txn
// calls are thread-safe; the fixed database handles are set by the writer's
// first transaction before any reader runs. Failures come back as Status
// (LMDB codes mapped by MdbStatus), never as a crash.
#pragma once

#include <mutex>
#include <string>
#include <vector>

#include "storage/log.h"

struct MDB_env;
struct MDB_txn;
typedef unsigned int MDB_dbi;  // as in <lmdb.h>, which only storage/*.cc include

namespace trib::storage {

// Maps an LMDB or errno code to a Status (MDB_MAP_FULL -> kFull, else kIo).
Status MdbStatus(int rc, const std::string& what);

class Env {
 public:
  Env() = default;
  ~Env();
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;

  // Opens (creating) the environment and refuses an unknown or newer format
  // with kFormat; only reads the data file.
  Status Open(const Options& options);
  MDB_env* env() const { return env_; }
  size_t page_size() const { return page_size_; }

  // A read transaction from the pool (renewed) or a new one. Returns an LMDB code.
  int BeginRead(MDB_txn** out) const;
  void EndRead(MDB_txn* txn) const;

  MDB_dbi meta = 0, cursors = 0, retained = 0, sessions = 0, idle_groups = 0;

 private:
  Status CheckFormat();

  MDB_env* env_ = nullptr;
  size_t page_size_ = 4096;
  mutable std::mutex pool_mu_;
  mutable std::vector<MDB_txn*> pool_;
};

// A read transaction for one call; check ok() before use.
class ReadTxn {
 public:
  explicit ReadTxn(const Env& env) : env_(env) { rc_ = env.BeginRead(&txn_); }
  ~ReadTxn() {
    if (txn_ != nullptr) env_.EndRead(txn_);
  }
  ReadTxn(const ReadTxn&) = delete;
  ReadTxn& operator=(const ReadTxn&) = delete;
  bool ok() const { return rc_ == 0; }
  int rc() const { return rc_; }
  MDB_txn* get() const { return txn_; }

 private:
  const Env& env_;
  MDB_txn* txn_ = nullptr;
  int rc_ = 0;
};

}  // namespace trib::storage
