#include "bridge/runner.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "platform/clock.h"
#include "platform/log.h"

namespace trib::bridge {
namespace {

constexpr int64_t kMsNs = 1000000;
constexpr int64_t kSnapshotIntervalNs = 200 * kMsNs;
constexpr int64_t kAckCheckIntervalNs = 1000 * kMsNs;
constexpr int64_t kWindowFullWaitMs = 50;
constexpr int64_t kDrainOnStopMs = 2000;
constexpr int64_t kDiscoverIntervalNs = 1000 * kMsNs;
constexpr uint64_t kMessagesPerBatchRead = 4;
constexpr size_t kReadMaxRecords = 512;
constexpr size_t kReadMaxBytes = 64 * 1024;  // also the read-ahead held per partition

const char* StateName(int s) {
  static const char* const kNames[] = {"connecting", "connected", "backoff", "stopped"};
  return kNames[s];
}

uint64_t Seed() {
  std::random_device rd;
  return (uint64_t{rd()} << 32) ^ rd() ^ static_cast<uint64_t>(clock::MonoNs());
}

}  // namespace

Runner::Runner(const ExporterOptions& options, storage::Log* log, std::unique_ptr<Sink> sink,
               std::vector<PartitionRef> parts)
    : options_(options),
      consumer_("x/" + options.name),
      log_(log),
      sink_(std::move(sink)),
      backoff_(options.backoff_min_ms, options.backoff_max_ms, Seed()),
      bucket_(options.max_bytes_per_sec, 0, clock::MonoNs()) {
  parts_.reserve(parts.size());
  for (PartitionRef& ref : parts) {
    Part p;
    p.ref = std::move(ref);
    parts_.push_back(std::move(p));
  }
  snapshot_.name = options_.name;
  snapshot_.kind = options_.kind;
  snapshot_.state = "stopped";
  OrderByPriority();
}

Runner::~Runner() { Stop(); }

void Runner::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_ || stopped_) return;
  started_ = true;
  snapshot_.state = "connecting";
  thread_ = std::thread(&Runner::Run, this);
}

void Runner::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    if (!started_) {
      snapshot_.state = "stopped";
      return;
    }
    stop_.store(true);
  }
  sink_->Wake();
  cv_.notify_all();
  thread_.join();
}

ExporterStatus Runner::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_;
}

void Runner::Run() {
  for (Part& p : parts_) LoadCursor(p);
  Discover(clock::MonoNs());
  while (!stop_.load()) {
    switch (state_) {
      case State::kConnecting:
        DoConnect();
        break;
      case State::kConnected:
        DoConnected();
        break;
      case State::kBackoff:
        DoBackoff();
        break;
      case State::kStopped:
        stop_.store(true);
        break;
    }
  }
  Drain();
  CommitCursors(true, clock::MonoNs());
  sink_->Disconnect();
  SetState(State::kStopped, last_error_);
  LOG_INFO("exporter %s: stopped (%llu records acked)", options_.name.c_str(),
           static_cast<unsigned long long>(records_acked_));
}

// Cursors start at the committed value, else at the partition's first stored
// offset; a cursor outside [start, end] (retention passed it, or the data
// directory was replaced) is clamped.
void Runner::LoadCursor(Part& p) {
  uint64_t from = 0;
  auto info = log_->Info(p.ref.stream, p.ref.partition);
  auto cur = log_->GetCursor(consumer_, p.ref.stream, p.ref.partition);
  if (cur.ok()) {
    from = cur.value();
  } else if (info.ok()) {
    from = info->start_offset;
  }
  if (info.ok()) {
    p.end = info->end_offset;
    if (from < info->start_offset) {
      LOG_WARN("exporter %s: %s/%u: cursor %llu is below the start %llu (expired by retention)",
               options_.name.c_str(), p.ref.stream_name.c_str(), p.ref.partition,
               static_cast<unsigned long long>(from),
               static_cast<unsigned long long>(info->start_offset));
      from = info->start_offset;
    }
    if (from > info->end_offset) from = info->end_offset;
  }
  p.window.Reset(from);
  p.committed = cur.ok() ? cur.value() : from;
}

void Runner::Discover(int64_t now_ns) {
  if (!options_.forward_replicated || now_ns - last_discover_ns_ < kDiscoverIntervalNs) return;
  last_discover_ns_ = now_ns;
  std::vector<PartitionRef> have;
  have.reserve(parts_.size());
  for (const Part& p : parts_) have.push_back(p.ref);
  std::vector<PartitionRef> found = NewReplicatedPartitions(options_, *log_, have);
  if (found.empty()) return;
  LOG_INFO("exporter %s: forwarding %zu more replicated partition(s), e.g. %s",
           options_.name.c_str(), found.size(), found[0].stream_name.c_str());
  for (PartitionRef& ref : found) {
    Part p;
    p.ref = std::move(ref);
    LoadCursor(p);
    parts_.push_back(std::move(p));
  }
  OrderByPriority();
}

void Runner::OrderByPriority() {
  order_.resize(parts_.size());
  for (uint32_t i = 0; i < parts_.size(); i++) order_[i] = i;
  std::stable_sort(order_.begin(), order_.end(), [this](uint32_t a, uint32_t b) {
    return parts_[a].ref.priority > parts_[b].ref.priority;
  });
  levels_.clear();
  for (size_t i = 0; i < order_.size(); i++) {
    if (i == 0 || parts_[order_[i]].ref.priority != parts_[order_[i - 1]].ref.priority)
      levels_.push_back(i);
  }
  levels_.push_back(order_.size());
}

void Runner::DoConnect() {
  SetState(State::kConnecting, last_error_);
  bridge::Status s = sink_->Connect(stop_);
  if (stop_.load()) return;
  if (!s.ok()) {
    last_error_ = s.message();
    LOG_WARN("exporter %s: connect failed: %s", options_.name.c_str(), s.message().c_str());
    state_ = State::kBackoff;
    return;
  }
  if (connected_once_) reconnects_++;
  connected_once_ = true;
  acked_since_connect_ = false;
  LOG_INFO("exporter %s: connected", options_.name.c_str());
  SetState(State::kConnected, last_error_);
}

void Runner::DoBackoff() {
  const int64_t until = clock::MonoNs() + backoff_.NextMs() * kMsNs;
  SetState(State::kBackoff, last_error_);
  // Waits in short slices so lag keeps being reported during an outage.
  for (int64_t now = clock::MonoNs(); now < until && !stop_.load(); now = clock::MonoNs()) {
    WaitMs(std::min<int64_t>((until - now + kMsNs - 1) / kMsNs, kSnapshotIntervalNs / kMsNs));
    PublishSnapshot(clock::MonoNs(), false);
  }
  if (!stop_.load()) state_ = State::kConnecting;
}

void Runner::DoConnected() {
  Discover(clock::MonoNs());
  int64_t wait_ms = Fill(clock::MonoNs());
  if (state_ != State::kConnected) return;
  events_.clear();
  sink_->Wait(wait_ms, &events_);
  HandleEvents(events_);
  if (state_ != State::kConnected) return;
  int64_t now = clock::MonoNs();
  int64_t ack_timeout_ms = sink_->AckTimeoutMs();
  if (ack_timeout_ms > 0 && !inflight_.empty() && now - last_ack_check_ns_ >= kAckCheckIntervalNs) {
    last_ack_check_ns_ = now;
    // Dead: something is in flight and the upstream acknowledged nothing for
    // the timeout (counted from the last ack, or from the oldest send when
    // nothing was acked since). A slow upstream that keeps acking is alive,
    // however deep the window it is working through.
    int64_t oldest = now;
    for (const auto& [id, f] : inflight_) oldest = std::min(oldest, f.sent_ns);
    int64_t quiet_since = std::max(oldest, last_ack_ns_);
    if (now - quiet_since > ack_timeout_ms * kMsNs) {
      LinkFailed("no acknowledgement for " + std::to_string((now - quiet_since) / kMsNs) + " ms");
      return;
    }
  }
  CommitCursors(false, now);
  PublishSnapshot(now, false);
}

int64_t Runner::Fill(int64_t now_ns) {
  if (parts_.empty()) return options_.idle_poll_ms;
  uint64_t window = sink_->Window();
  uint64_t room = window > inflight_units_ ? window - inflight_units_ : 0;
  if (room == 0) return kWindowFullWaitMs;
  int64_t delay = bucket_.DelayNs(now_ns);
  if (delay > 0) return std::clamp<int64_t>(delay / kMsNs, 1, kWindowFullWaitMs);
  for (size_t l = 0; l + 1 < levels_.size(); l++) {
    const size_t begin = levels_[l], n = levels_[l + 1] - begin;
    bool progress = false;
    for (size_t k = 0; k < n; k++) {
      uint32_t i = order_[begin + (rr_ + k) % n];
      Fill_ r = sink_->BatchMode() ? FillBatches(parts_[i], i, now_ns, &room)
                                   : FillPartition(parts_[i], i, now_ns, &room);
      if (r == Fill_::kFailed) return 0;
      if (r == Fill_::kSent) progress = true;
      if (r == Fill_::kBlocked) {
        rr_++;
        int64_t d = bucket_.DelayNs(now_ns);
        return d > 0 ? std::clamp<int64_t>(d / kMsNs, 1, kWindowFullWaitMs) : kWindowFullWaitMs;
      }
    }
    // This level still has records: lower levels wait (strict priority).
    if (progress) {
      rr_++;
      return 0;
    }
  }
  rr_++;
  return options_.idle_poll_ms;
}

// Looks up the partition's end offset when the last look is older than the
// idle poll interval (or when forced).
bool Runner::RefreshEnd(Part& p, int64_t now_ns, bool force) {
  if (!force && now_ns - p.info_ns < options_.idle_poll_ms * kMsNs) return true;
  auto info = log_->Info(p.ref.stream, p.ref.partition);
  if (!info.ok()) {
    last_error_ = "storage: " + info.status().message();
    return false;
  }
  p.end = info->end_offset;
  p.start = info->start_offset;
  p.info_ns = now_ns;
  return true;
}

bool Runner::SkipExpired(Part& p, int64_t now_ns) {
  if (!RefreshEnd(p, now_ns, true) || p.start <= p.window.end()) return false;
  LOG_WARN("exporter %s: %s/%u: offsets %llu..%llu expired before they were shipped",
           options_.name.c_str(), p.ref.stream_name.c_str(), p.ref.partition,
           static_cast<unsigned long long>(p.window.end()),
           static_cast<unsigned long long>(p.start - 1));
  p.window.Skip(p.start);
  p.ahead = storage::ReadResult();
  p.ahead_pos = 0;
  return true;
}

void Runner::AddInFlight(uint64_t id, uint32_t index, Part& p, uint64_t count, uint32_t units,
                         int64_t ts_ms, uint64_t bytes, int64_t now_ns) {
  inflight_[id] = InFlight{index, p.window.end(), count, units, now_ns};
  p.window.Sent(static_cast<uint32_t>(count), ts_ms);
  inflight_records_ += count;
  inflight_units_ += units;
  records_sent_ += count;
  bytes_sent_ += bytes;
  bucket_.Take(now_ns, bytes);
}

Runner::Fill_ Runner::FillPartition(Part& p, uint32_t index, int64_t now_ns, uint64_t* room) {
  if (p.ahead_pos >= p.ahead.records.size()) {
    p.ahead = storage::ReadResult();  // frees what was read
    p.ahead_pos = 0;
    if (p.window.end() >= p.end) {
      if (!RefreshEnd(p, now_ns, false) || p.window.end() >= p.end) return Fill_::kIdle;
    }
    auto r = log_->Read(p.ref.stream, p.ref.partition, p.window.end(), kReadMaxRecords,
                        kReadMaxBytes);
    if (!r.ok()) {
      if (r.status().code() == storage::Error::kOutOfRange && SkipExpired(p, now_ns))
        return Fill_::kSent;
      last_error_ = "storage: " + r.status().message();
      return Fill_::kIdle;
    }
    p.ahead = std::move(r.value());
    if (p.ahead.records.empty()) {  // only corrupt batches: skip them
      if (p.ahead.next_offset > p.window.end()) p.window.Skip(p.ahead.next_offset);
      return Fill_::kSent;
    }
  }
  std::vector<storage::Record>& recs = p.ahead.records;
  size_t& i = p.ahead_pos;
  while (i < recs.size()) {
    if (*room == 0 || bucket_.DelayNs(now_ns) > 0) return Fill_::kBlocked;
    if (recs[i].offset > p.window.end()) p.window.Skip(recs[i].offset);
    size_t run = 1;  // records with consecutive offsets, at most *room
    while (i + run < recs.size() && run < *room && recs[i + run].offset == recs[i].offset + run)
      run++;
    uint64_t id = next_id_++;
    uint32_t taken = 0;
    std::string error;
    auto res =
        sink_->Send(p.ref, std::span<const storage::Record>(&recs[i], run), id, &taken, &error);
    if (res == Sink::SendResult::kFull) return Fill_::kBlocked;
    if (res == Sink::SendResult::kFailed) {
      LinkFailed(error);
      return Fill_::kFailed;
    }
    uint64_t bytes = 0;
    for (uint32_t k = 0; k < taken; k++) bytes += sink_->WireBytes(p.ref, recs[i + k]);
    AddInFlight(id, index, p, taken, taken, recs[i].timestamp_ms, bytes, now_ns);
    *room -= std::min<uint64_t>(*room, taken);
    i += taken;
  }
  if (p.ahead.next_offset > p.window.end()) p.window.Skip(p.ahead.next_offset);
  return Fill_::kSent;
}

// Batch mode: whole stored batches, a run of consecutive ones per message.
Runner::Fill_ Runner::FillBatches(Part& p, uint32_t index, int64_t now_ns, uint64_t* room) {
  if (p.window.end() >= p.end) {
    if (!RefreshEnd(p, now_ns, false) || p.window.end() >= p.end) return Fill_::kIdle;
  }
  const size_t max_bytes =
      sink_->MaxBatchBytes() * static_cast<size_t>(std::min(*room, kMessagesPerBatchRead));
  auto r = log_->ReadBatches(p.ref.stream, p.ref.partition, p.window.end(), max_bytes);
  if (!r.ok()) {
    if (r.status().code() == storage::Error::kOutOfRange && SkipExpired(p, now_ns))
      return Fill_::kSent;
    last_error_ = "storage: " + r.status().message();
    return Fill_::kIdle;
  }
  const std::vector<storage::RawBatch>& bs = r->batches;
  size_t i = 0;
  while (i < bs.size()) {
    if (*room == 0 || bucket_.DelayNs(now_ns) > 0) return Fill_::kBlocked;
    if (bs[i].base_offset + bs[i].count <= p.window.end()) {  // sent before
      i++;
      continue;
    }
    if (bs[i].base_offset > p.window.end()) p.window.Skip(bs[i].base_offset);  // a gap
    size_t run = 1;  // consecutive offsets only: a gap is skipped, not sent
    while (i + run < bs.size() &&
           bs[i + run].base_offset == bs[i + run - 1].base_offset + bs[i + run - 1].count)
      run++;
    uint64_t id = next_id_++;
    uint32_t taken = 0;
    std::string error;
    auto res = sink_->SendBatches(p.ref, std::span<const storage::RawBatch>(&bs[i], run), id,
                                  &taken, &error);
    if (res == Sink::SendResult::kFull) return Fill_::kBlocked;
    if (res == Sink::SendResult::kFailed) {
      LinkFailed(error);
      return Fill_::kFailed;
    }
    const storage::RawBatch& last = bs[i + taken - 1];
    uint64_t bytes = 0;
    for (uint32_t k = 0; k < taken; k++) bytes += bs[i + k].bytes.size();
    const uint64_t covered = last.base_offset + last.count - p.window.end();
    AddInFlight(id, index, p, covered, 1, bs[i].first_timestamp_ms, bytes, now_ns);
    *room -= 1;
    i += taken;
  }
  if (r->next_offset > p.window.end()) p.window.Skip(r->next_offset);
  return Fill_::kSent;
}

void Runner::HandleEvents(const std::vector<SinkEvent>& events) {
  for (const SinkEvent& e : events) {
    if (e.kind == SinkEvent::Kind::kLinkDown) {
      LinkFailed(e.error.empty() ? "connection lost" : e.error);
      return;
    }
    if (e.kind == SinkEvent::Kind::kWarning) {
      last_error_ = e.error;
      continue;
    }
    auto it = inflight_.find(e.id);
    if (it == inflight_.end()) continue;  // from a link we already gave up on
    if (e.kind == SinkEvent::Kind::kNack) {
      LinkFailed("upstream refused a record: " + e.error);
      return;
    }
    const InFlight f = it->second;
    inflight_.erase(it);
    last_ack_ns_ = clock::MonoNs();
    inflight_records_ -= std::min<uint64_t>(inflight_records_, f.count);
    inflight_units_ -= std::min<uint64_t>(inflight_units_, f.units);
    if (parts_[f.part].window.Ack(f.first)) {
      records_acked_ += f.count;
      acked_since_commit_ += f.count;
    }
    if (!acked_since_connect_) {
      acked_since_connect_ = true;
      backoff_.Reset();
    }
  }
}

// Everything in flight is forgotten and re-read from the acknowledged prefix
// after the reconnect; those records may already have arrived (duplicates).
void Runner::LinkFailed(const std::string& why) {
  duplicates_ += inflight_records_;
  inflight_.clear();
  inflight_records_ = 0;
  inflight_units_ = 0;
  for (Part& p : parts_) {
    p.window.Reset(p.window.base());
    p.ahead = storage::ReadResult();  // re-read from the acknowledged prefix
    p.ahead_pos = 0;
  }
  last_error_ = why;
  LOG_WARN("exporter %s: link failed: %s", options_.name.c_str(), why.c_str());
  sink_->Disconnect();
  CommitCursors(true, clock::MonoNs());
  state_ = State::kBackoff;
}

void Runner::CommitCursors(bool force, int64_t now_ns) {
  if (!force && acked_since_commit_ < options_.commit_every_records &&
      now_ns - last_commit_ns_ < options_.commit_interval_ms * kMsNs) {
    return;
  }
  last_commit_ns_ = now_ns;
  acked_since_commit_ = 0;
  storage::WriteBatch batch;
  for (Part& p : parts_) {
    if (p.window.base() == p.committed) continue;
    batch.CommitCursor(consumer_, p.ref.stream, p.ref.partition, p.window.base());
    p.committed = p.window.base();
  }
  if (batch.empty()) return;
  (void)log_->Submit(std::move(batch), storage::Log::kForeignTokenBit | ++commit_seq_);
}

// On Stop: give records in flight a short time to be acknowledged, so the
// final cursor commit covers them and a restart re-sends less.
void Runner::Drain() {
  if (state_ != State::kConnected) return;
  int64_t deadline = clock::MonoNs() + kDrainOnStopMs * kMsNs;
  while (state_ == State::kConnected && !inflight_.empty() && clock::MonoNs() < deadline) {
    events_.clear();
    sink_->Wait(20, &events_);
    HandleEvents(events_);
  }
}

void Runner::SetState(State s, const std::string& error) {
  state_ = s;
  last_error_ = error;
  PublishSnapshot(clock::MonoNs(), true);
}

void Runner::PublishSnapshot(int64_t now_ns, bool force) {
  if (!force && now_ns - last_snapshot_ns_ < kSnapshotIntervalNs) return;
  last_snapshot_ns_ = now_ns;
  ExporterStatus s;
  s.name = options_.name;
  s.kind = options_.kind;
  s.state = StateName(static_cast<int>(state_));
  s.last_error = last_error_;
  s.reconnects = reconnects_;
  s.records_sent = records_sent_;
  s.records_acked = records_acked_;
  s.bytes_sent = bytes_sent_;
  s.duplicates_possible = duplicates_;
  s.inflight = inflight_records_;
  const int64_t wall_ms = clock::WallMs();
  for (Part& p : parts_) {
    (void)RefreshEnd(p, now_ns, false);
    PartitionLag lag;
    lag.stream = p.ref.stream_name;
    lag.partition = p.ref.partition;
    lag.cursor = p.window.base();
    lag.end_offset = std::max(p.end, lag.cursor);
    lag.lag_records = lag.end_offset - lag.cursor;
    if (lag.lag_records > 0) {
      int64_t ts = p.window.base_timestamp_ms();
      if (ts == 0) {
        if (p.head_ts_offset != lag.cursor || p.head_ts_ms == 0) {
          auto r = log_->Read(p.ref.stream, p.ref.partition, lag.cursor, 1, 1);
          p.head_ts_offset = lag.cursor;
          p.head_ts_ms = (r.ok() && !r->records.empty()) ? r->records[0].timestamp_ms : 0;
        }
        ts = p.head_ts_ms;
      }
      if (ts > 0) lag.lag_seconds = std::max<double>(0, (wall_ms - ts) / 1000.0);
    }
    s.partitions.push_back(std::move(lag));
  }
  std::lock_guard<std::mutex> lock(mu_);
  snapshot_ = std::move(s);
}

void Runner::WaitMs(int64_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
}

}  // namespace trib::bridge
