// Log::Impl: what a Log owns. Shared by log.cc (writes, streams, stats) and
// read.cc (reads).
#pragma once

#include <memory>

#include "storage/env.h"
#include "storage/log.h"
#include "storage/state.h"
#include "storage/writer.h"

namespace trib::storage {

struct Log::Impl {
  Options options;
  Env env;
  Catalog catalog;
  Counters counters;
  VerifiedBatches verified;
  std::unique_ptr<Writer> writer;  // last: stopped before the env closes
};

}  // namespace trib::storage

namespace trib::storage {

// Pages in use (every database's pages plus the two meta pages), for Stats.
uint64_t UsedPages(const Env& env, const Catalog& catalog);
// The same, as seen by a transaction (the writer's, before it commits).
uint64_t UsedPagesIn(MDB_txn* txn, const Env& env, const Catalog& catalog);

}  // namespace trib::storage
