// Writer: the thread, its queue, syncing and completions. The transaction
// work is in apply.cc, retention.cc and streams.cc.

#include "storage/writer.h"

#include <lmdb.h>

#include <cstring>

#include "platform/clock.h"
#include "platform/log.h"

namespace trib::storage {

Writer::Writer(const Options& options, Env* env, Catalog* catalog, Counters* counters)
    : options_(options), env_(env), catalog_(catalog), counters_(counters) {}

Writer::~Writer() { Stop(); }

int64_t Writer::WallMs() const {
  return options_.wall_ms_for_test ? options_.wall_ms_for_test() : clock::WallMs();
}
int64_t Writer::MonoMs() const {
  return options_.mono_ms_for_test ? options_.mono_ms_for_test() : clock::MonoMs();
}

Status Writer::Start() {
  std::promise<Status> started;
  std::future<Status> result = started.get_future();
  thread_ = std::thread([this, &started] { Run(&started); });
  Status s = result.get();
  if (!s.ok()) thread_.join();
  return s;
}

void Writer::Run(std::promise<Status>* started) {
  Status s = Init();
  const bool ok = s.ok();
  if (ok) {
    std::lock_guard<std::mutex> lock(mu_);
    running_ = true;
  }
  started->set_value(std::move(s));  // `started` is gone after this
  if (ok) Loop();
}

void Writer::Stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_one();
  thread_.join();
}

bool Writer::Submit(std::unique_ptr<WriteBatch::Rep> rep, uint64_t token) {
  if (!rep) rep = std::make_unique<WriteBatch::Rep>();
  Item item;
  item.bytes = rep->bytes + sizeof(WriteBatch::Rep);
  item.rep = std::move(rep);
  item.token = token;
  const size_t total = queued_bytes_.fetch_add(item.bytes) + item.bytes;
  {
    std::lock_guard<std::mutex> lock(mu_);
    item.seq = next_seq_++;
    queue_.push_back(std::move(item));
  }
  work_cv_.notify_one();
  return total <= options_.max_queue_bytes;
}

bool Writer::QueueEmpty() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.empty();
}

bool Writer::OverLimit() const { return queued_bytes_.load() > options_.max_queue_bytes; }

void Writer::TakeCompletions(std::vector<Completion>* out) {
  std::lock_guard<std::mutex> lock(mu_);
  if (out->empty()) {
    out->swap(completions_);
    return;
  }
  for (Completion& c : completions_) out->push_back(std::move(c));
  completions_.clear();
}

void Writer::Flush() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = next_seq_ - 1;
  if (done_seq_ >= target || !running_) return;
  flush_waiters_++;
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return done_seq_ >= target || !running_; });
  flush_waiters_--;
}

void Writer::Control(ControlOp* op) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!running_) {
    op->status = Status(Error::kClosed, "the log is closed");
    return;
  }
  control_.push_back(op);
  work_cv_.notify_one();
  done_cv_.wait(lock, [&] { return op->done || !running_; });
  if (!op->done) op->status = Status(Error::kClosed, "the log is closed");
}

// sync=interval takes the queue at most once per interval; the other policies
// take it as soon as anything is there (group commit: whatever queued while
// the previous commit ran goes into the next).
bool Writer::ReadyToTake(int64_t now_mono) const {
  if (queue_.empty()) return false;
  if (options_.sync != SyncPolicy::kInterval || stop_ || flush_waiters_ > 0) return true;
  return now_mono >= last_sync_mono_ + options_.sync_interval_ms;
}

void Writer::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const int64_t now = clock::MonoMs();
    if (!control_.empty()) {
      ControlOp* op = control_.front();
      control_.pop_front();
      lock.unlock();
      RunControl(op);
      lock.lock();
      op->done = true;
      done_cv_.notify_all();
    } else if (ReadyToTake(now)) {
      round_.swap(queue_);
      lock.unlock();
      TakeRound(&round_);
      lock.lock();
    } else if (!unsynced_.completions.empty()) {
      lock.unlock();
      SyncAndRelease();
      lock.lock();
    } else if (stop_) {
      break;
    } else if (now >= next_retention_mono_) {
      lock.unlock();
      RetentionTick();
      lock.lock();
    } else {
      int64_t wake = next_retention_mono_;
      if (!queue_.empty()) wake = std::min(wake, last_sync_mono_ + options_.sync_interval_ms);
      work_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(1, wake - now)));
    }
  }
  lock.unlock();
  if (options_.sync == SyncPolicy::kNone) mdb_env_sync(env_->env(), 1);
  lock.lock();
  running_ = false;
  done_cv_.notify_all();
}

void Writer::TakeRound(std::vector<Item>* items) {
  Pending round;
  size_t bytes = 0;
  for (const Item& it : *items) bytes += it.bytes;
  bool committed = false;
  if (failed_) {
    for (Item& it : *items) {
      it.error = Error::kClosed;
      it.message = "the storage writer failed";
    }
    BuildCompletions(items, 0, &round);
  } else {
    RunRound(items, &round, &committed);
  }
  items->clear();
  DecQueued(bytes);
  AfterCommit(std::move(round), committed);
}

// A successful commit fdatasynced its data pages, which also wrote the meta
// pages of earlier commits: those are durable now. This commit's own meta page
// waits for the next fdatasync (FORMAT.md, "Durability").
void Writer::AfterCommit(Pending&& round, bool committed) {
  if (!committed && !commit_failure_.ok()) {
    // The failed commit's fdatasync was also the one to make the commits
    // waiting in unsynced_ durable (their meta pages). If that is what failed,
    // the kernel may have dropped those dirty pages, and a later successful
    // sync would say nothing about them: fail them now (clients resend, which
    // may duplicate, never lose).
    Status failure = std::move(commit_failure_);
    commit_failure_ = Status();
    if (!unsynced_.completions.empty())
      LOG_ERROR("storage: %zu committed submissions waited for the failed commit's sync; "
                "not acknowledging them", unsynced_.completions.size());
    Release(&unsynced_, failure);
    Release(&round, Status());  // its completions carry their own error
    return;
  }
  if (committed && options_.sync != SyncPolicy::kNone) {
    counters_->fsyncs++;
    const int rc = SyncHook();
    if (rc != 0) {
      Status failure(Error::kIo, std::string("fsync of a commit failed: ") + std::strerror(rc));
      LOG_ERROR("storage: %s; %zu submissions not acknowledged", failure.message().c_str(),
                unsynced_.completions.size() + round.completions.size());
      Release(&unsynced_, failure);
      Release(&round, failure);
      return;
    }
    Release(&unsynced_, Status());
    if (last_durable_) {
      Release(&round, Status());
      return;
    }
  } else if (!committed && unsynced_.completions.empty()) {
    Release(&round, Status());  // nothing of it waits for a sync
    return;
  }
  for (Completion& c : round.completions) unsynced_.completions.push_back(std::move(c));
  unsynced_.last_seq = std::max(unsynced_.last_seq, round.last_seq);
  if (options_.sync == SyncPolicy::kNone) Release(&unsynced_, Status());
}

void Writer::SyncAndRelease() {
  if (options_.sync == SyncPolicy::kNone) {  // syncs only when the log closes
    Release(&unsynced_, Status());
    return;
  }
  const int64_t t0 = clock::MonoNs();
  int rc = mdb_env_sync(env_->env(), 1);
  if (rc == 0) rc = SyncHook();
  counters_->fsync_us.Add(static_cast<uint64_t>((clock::MonoNs() - t0) / 1000));
  counters_->fsyncs++;
  last_sync_mono_ = clock::MonoMs();
  if (rc != 0) {
    Status failure(Error::kIo, std::string("fsync failed: ") + mdb_strerror(rc));
    LOG_ERROR("storage: %s; %zu submissions not acknowledged", failure.message().c_str(),
              unsynced_.completions.size());
    Release(&unsynced_, failure);
    return;
  }
  Release(&unsynced_, Status());
}

int Writer::SyncHook() { return options_.fsync_hook_for_test ? options_.fsync_hook_for_test() : 0; }

void Writer::Release(Pending* p, const Status& failure) {
  if (p->completions.empty() && p->last_seq == 0) return;
  if (!failure.ok()) {
    for (Completion& c : p->completions) {
      if (c.status.ok()) c.status = failure;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Completion& c : p->completions) completions_.push_back(std::move(c));
    done_seq_ = std::max(done_seq_, p->last_seq);
  }
  p->completions.clear();
  p->last_seq = 0;
  done_cv_.notify_all();
  if (options_.notify) options_.notify();
}

void Writer::DecQueued(size_t bytes) {
  const size_t old = queued_bytes_.fetch_sub(bytes);
  const size_t limit = options_.max_queue_bytes;
  if (old > limit && old - bytes <= limit && options_.notify) options_.notify();
}

void Writer::RetentionTick() {
  const int64_t now = clock::MonoMs();
  next_retention_mono_ = now + std::max<int64_t>(1, options_.retention_interval_ms);
  if (failed_ || !RetentionNeeded()) return;
  // A pass that used its whole budget leaves a backlog: come back soon, but
  // let queued appends go first (the loop prefers them).
  if (RetentionTxn(kRetentionBatchesPerCommit) >= kRetentionBatchesPerCommit)
    next_retention_mono_ = now + 10;
}

}  // namespace trib::storage
