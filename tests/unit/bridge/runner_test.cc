// The runner against a fake upstream: everything appended arrives in order
// per partition, acks in any order advance the committed cursor only over
// the contiguous prefix, a lost link re-sends from that prefix (counting
// possible duplicates), the window bounds what is in flight, a restart resumes
// from the committed cursor, and Stop is prompt even when nothing is acked.
// Batch mode (the peer kind) ships stored batches, several per message, with
// the same guarantees; priorities serve a higher level's backlog first.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "bridge/runner.h"
#include "platform/clock.h"
#include "storage/batch.h"
#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib;
using namespace trib::bridge;
using trib::storage::test::Fixture;

namespace {

// What the fake upstream saw and how it behaves; shared with the test thread.
struct Upstream {
  std::mutex mu;
  std::condition_variable cv;
  // (partition, offset) in arrival order, and how often each arrived.
  std::vector<std::pair<uint32_t, uint64_t>> arrivals;
  std::map<std::pair<uint32_t, uint64_t>, int> count;
  std::vector<uint64_t> unacked;  // ids sent, not yet acked
  std::vector<SinkEvent> events;
  bool auto_ack = true;
  int fail_connects = 0;     // refuse this many connects first
  int drop_link_after = -1;  // after this many sends, the link drops (once)
  int nack_after = -1;       // the send after this many is refused (once)
  int connects = 0;
  int sends = 0;
  size_t max_unacked = 0;
  int messages = 0;        // batch mode: SendBatches calls that were delivered
  int batches = 0;         // batch mode: stored batches in them
  bool bad_batch = false;  // batch mode: a batch's bytes did not match its header
  std::mt19937_64 rng{7};
};

class FakeSink final : public Sink {
 public:
  FakeSink(Upstream* up, uint32_t window, bool batch_mode = false)
      : up_(up), window_(window), batch_mode_(batch_mode) {}
  bool BatchMode() const override { return batch_mode_; }
  size_t MaxBatchBytes() const override { return 4096; }
  // Takes at most two batches per message, so that a read is sent in pieces.
  SendResult SendBatches(const PartitionRef& part, std::span<const storage::RawBatch> batches,
                         uint64_t id, uint32_t* taken, std::string* error) override {
    uint32_t n = static_cast<uint32_t>(std::min<size_t>(batches.size(), 2));
    for (uint32_t i = 0; i < n; i++) {
      storage::BatchHeader h;
      if (!storage::PeekHeader(batches[i].bytes.data(), batches[i].bytes.size(), &h) ||
          h.count != batches[i].count || (i > 0 && batches[i].base_offset !=
                                                       batches[i - 1].base_offset + batches[i - 1].count)) {
        std::lock_guard<std::mutex> l(up_->mu);
        up_->bad_batch = true;
      }
    }
    std::vector<storage::Record> recs;
    for (uint32_t i = 0; i < n; i++) {
      for (uint32_t k = 0; k < batches[i].count; k++) {
        storage::Record r;
        r.offset = batches[i].base_offset + k;
        recs.push_back(r);
      }
    }
    uint32_t one = 0;
    // Reuses Send for the bookkeeping: one delivery per message, every offset counted.
    Send(part, std::span<const storage::Record>(recs.data(), 1), id, &one, error);
    std::lock_guard<std::mutex> l(up_->mu);
    if (!up_->unacked.empty() && up_->unacked.back() == id) {
      up_->messages++;
      up_->batches += static_cast<int>(n);
      for (size_t k = 1; k < recs.size(); k++) {
        up_->arrivals.emplace_back(part.partition, recs[k].offset);
        up_->count[{part.partition, recs[k].offset}]++;
      }
    }
    *taken = n;
    return SendResult::kOk;
  }
  bridge::Status Connect(const std::atomic<bool>&) override {
    std::lock_guard<std::mutex> l(up_->mu);
    up_->unacked.clear();
    up_->events.clear();
    up_->connects++;
    if (up_->fail_connects > 0) {
      up_->fail_connects--;
      return bridge::Status(Error::kConnect, "refused");
    }
    return bridge::Status();
  }
  void Disconnect() override {
    std::lock_guard<std::mutex> l(up_->mu);
    up_->unacked.clear();
    up_->events.clear();
  }
  SendResult Send(const PartitionRef& part, std::span<const storage::Record> recs, uint64_t id,
                  uint32_t* taken, std::string*) override {
    std::lock_guard<std::mutex> l(up_->mu);
    up_->sends++;
    if (up_->drop_link_after >= 0 && up_->sends > up_->drop_link_after) {
      // The link drops: what was delivered stays delivered, its acks are lost.
      up_->drop_link_after = -1;
      up_->unacked.clear();
      up_->events.push_back(SinkEvent{SinkEvent::Kind::kLinkDown, 0, "dropped"});
    }
    if (up_->nack_after >= 0 && up_->sends > up_->nack_after) {
      up_->nack_after = -1;
      up_->events.push_back(SinkEvent{SinkEvent::Kind::kNack, id, "refused"});
    } else {
      // Delivered (even if the ack is later lost with the link).
      up_->arrivals.emplace_back(part.partition, recs[0].offset);
      up_->count[{part.partition, recs[0].offset}]++;
      up_->unacked.push_back(id);
      up_->max_unacked = std::max(up_->max_unacked, up_->unacked.size());
    }
    *taken = 1;
    return SendResult::kOk;
  }
  void Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) override {
    std::unique_lock<std::mutex> l(up_->mu);
    if (up_->auto_ack && !up_->unacked.empty()) {
      // Acks come back in a shuffled order.
      std::shuffle(up_->unacked.begin(), up_->unacked.end(), up_->rng);
      for (uint64_t id : up_->unacked)
        up_->events.push_back(SinkEvent{SinkEvent::Kind::kAck, id, ""});
      up_->unacked.clear();
    }
    if (up_->events.empty() && timeout_ms > 0 && !wake_)
      up_->cv.wait_for(l, std::chrono::milliseconds(timeout_ms));
    wake_ = false;
    for (SinkEvent& e : up_->events) out->push_back(e);
    up_->events.clear();
  }
  void Wake() override {
    std::lock_guard<std::mutex> l(up_->mu);
    wake_ = true;
    up_->cv.notify_all();
  }
  uint32_t Window() const override { return window_; }
  uint64_t WireBytes(const PartitionRef&, const storage::Record& r) const override {
    return r.payload.size();
  }
  int64_t AckTimeoutMs() const override { return 0; }

 private:
  Upstream* up_;
  uint32_t window_;
  bool batch_mode_;
  bool wake_ = false;
};

struct State {
  Fixture* f = nullptr;
  Upstream up;
  std::unique_ptr<Runner> runner;
};

ExporterOptions Options() {
  ExporterOptions o;
  o.name = "fake";
  o.kind = "fake";
  o.commit_interval_ms = 10;
  o.backoff_min_ms = 1;
  o.backoff_max_ms = 10;
  o.idle_poll_ms = 5;
  return o;
}

std::vector<PartitionRef> Parts(State* s, uint32_t n) {
  std::vector<PartitionRef> parts;
  for (uint32_t p = 0; p < n; p++) {
    PartitionRef r;
    r.stream = s->f->streams[0];
    r.stream_name = "telemetry";
    r.partition = p;
    parts.push_back(r);
  }
  return parts;
}

void Start(State* s, uint32_t partitions, uint32_t window, ExporterOptions o = Options(),
           bool batch_mode = false, std::vector<int64_t> priorities = {}) {
  std::vector<PartitionRef> parts = Parts(s, partitions);
  for (size_t i = 0; i < priorities.size() && i < parts.size(); i++)
    parts[i].priority = priorities[i];
  s->runner = std::make_unique<Runner>(
      o, s->f->log.get(), std::make_unique<FakeSink>(&s->up, window, batch_mode), std::move(parts));
  s->runner->Start();
}


void AppendN(State* s, uint32_t partitions, uint64_t per_partition) {
  for (uint32_t p = 0; p < partitions; p++) {
    std::vector<std::string> payloads;
    for (uint64_t i = 0; i < per_partition; i++) payloads.push_back(storage::test::Payload(i, 40));
    storage::Completion c =
        storage::test::AppendWait(s->f->log.get(), s->f->streams[0], p, payloads, 100 + p);
    assert_true(c.status.ok());
  }
}

// `subs` submissions of `n` records to each partition: one stored batch each.
void AppendBatches(State* s, uint32_t partitions, int subs, uint64_t n) {
  for (int b = 0; b < subs; b++) AppendN(s, partitions, n);
}

bool WaitAcked(State* s, uint64_t n, int64_t timeout_ms = 20000) {
  int64_t deadline = clock::MonoMs() + timeout_ms;
  while (clock::MonoMs() < deadline) {
    if (s->runner->Status().records_acked >= n) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

uint64_t Cursor(State* s, uint32_t p) {
  s->f->log->Flush();
  auto c = s->f->log->GetCursor("x/fake", s->f->streams[0], p);
  return c.ok() ? c.value() : ~uint64_t{0};
}

// Every (partition, offset) below `n` arrived at least once; with
// `in_order` (no failures), each partition arrived in offset order.
void CheckComplete(State* s, uint32_t partitions, uint64_t n, bool in_order = false) {
  std::lock_guard<std::mutex> l(s->up.mu);
  for (uint32_t p = 0; p < partitions; p++) {
    for (uint64_t o = 0; o < n; o++) {
      if (s->up.count[{p, o}] < 1)
        fail_msg("partition %u offset %llu never arrived", p, (unsigned long long)o);
    }
  }
  if (!in_order) return;
  std::map<uint32_t, uint64_t> next;
  for (auto [p, o] : s->up.arrivals) {
    if (o != next[p])
      fail_msg("partition %u: offset %llu arrived before %llu", p, (unsigned long long)o,
               (unsigned long long)next[p]);
    next[p] = std::max(next[p], o + 1);
  }
}

}  // namespace

static int Setup(void** state) {
  auto* s = new State;
  s->f = storage::test::NewFixture();
  *state = s;
  if (s->f->dir.empty()) return -1;
  return storage::test::OpenLog(s->f, {storage::test::Spec("telemetry", 3)}).empty() ? 0 : -1;
}
static int Teardown(void** state) {
  auto* s = static_cast<State*>(*state);
  s->runner.reset();
  storage::test::DeleteFixture(s->f);
  delete s;
  return 0;
}

static void test_runner_ships_everything_and_commits_cursor(void** state) {
  auto* s = static_cast<State*>(*state);
  AppendN(s, 3, 1000);
  Start(s, 3, 64);
  assert_true(WaitAcked(s, 3000));
  // Records appended while running are shipped too.
  AppendN(s, 3, 10);
  assert_true(WaitAcked(s, 3030));
  s->runner->Stop();
  CheckComplete(s, 3, 1010, true);
  for (uint32_t p = 0; p < 3; p++) assert_int_equal(Cursor(s, p), 1010);
  ExporterStatus st = s->runner->Status();
  assert_string_equal(st.state.c_str(), "stopped");
  assert_int_equal(st.duplicates_possible, 0);
  assert_int_equal(st.partitions.size(), 3);
  for (const PartitionLag& l : st.partitions) {
    assert_int_equal(l.lag_records, 0);
    assert_int_equal(l.cursor, 1010);
  }
  assert_true(s->up.max_unacked <= 64);
}

static void test_runner_window_bounds_inflight_and_stop_is_prompt(void** state) {
  auto* s = static_cast<State*>(*state);
  s->up.auto_ack = false;
  AppendN(s, 3, 2000);
  Start(s, 3, 100);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ExporterStatus st = s->runner->Status();
  assert_int_equal(st.inflight, 100);
  assert_int_equal(st.records_acked, 0);
  assert_int_equal(s->up.sends, 100);
  uint64_t lag = 0;
  for (const PartitionLag& l : st.partitions) lag += l.lag_records;
  assert_int_equal(lag, 6000);
  int64_t t0 = clock::MonoMs();
  s->runner->Stop();
  assert_true(clock::MonoMs() - t0 < 5000);
  for (uint32_t p = 0; p < 3; p++) assert_int_equal(Cursor(s, p), ~uint64_t{0});  // nothing acked
  s->runner->Stop();                                                              // idempotent
}

static void test_runner_lost_link_resends_from_acked_prefix(void** state) {
  auto* s = static_cast<State*>(*state);
  s->up.drop_link_after = 700;
  AppendN(s, 3, 500);
  Start(s, 3, 50);
  assert_true(WaitAcked(s, 1500));
  s->runner->Stop();
  CheckComplete(s, 3, 500);
  for (uint32_t p = 0; p < 3; p++) assert_int_equal(Cursor(s, p), 500);
  ExporterStatus st = s->runner->Status();
  assert_true(st.reconnects >= 1);
  assert_true(st.records_sent > 1500);
  // Everything that arrived twice is accounted as a possible duplicate.
  uint64_t dups = 0;
  for (auto& [k, n] : s->up.count) dups += n - 1;
  assert_true(dups <= st.duplicates_possible);
  assert_true(st.duplicates_possible <= 50);
}

static void test_runner_nack_and_refused_connects_retry(void** state) {
  auto* s = static_cast<State*>(*state);
  s->up.fail_connects = 3;
  s->up.nack_after = 100;
  AppendN(s, 1, 300);
  Start(s, 1, 20);
  assert_true(WaitAcked(s, 300));
  s->runner->Stop();
  CheckComplete(s, 1, 300);
  assert_int_equal(Cursor(s, 0), 300);
  assert_true(s->up.connects >= 5);  // 3 refused, 1 ok, 1 after the nack
  assert_true(s->runner->Status().last_error.find("refused") != std::string::npos);
}

static void test_runner_restart_resumes_from_cursor(void** state) {
  auto* s = static_cast<State*>(*state);
  AppendN(s, 3, 200);
  Start(s, 3, 30);
  assert_true(WaitAcked(s, 600));
  s->runner->Stop();
  s->runner.reset();
  AppendN(s, 3, 100);  // offsets 200..299 in each partition
  {
    std::lock_guard<std::mutex> l(s->up.mu);
    s->up.arrivals.clear();
    s->up.count.clear();
  }
  Start(s, 3, 30);
  assert_true(WaitAcked(s, 300));
  s->runner->Stop();
  std::lock_guard<std::mutex> l(s->up.mu);
  assert_int_equal(s->up.arrivals.size(), 300);  // only the new records
  for (auto [p, o] : s->up.arrivals) assert_true(o >= 200 && o < 300);
}

static void test_runner_pacing_limits_bytes_per_second(void** state) {
  auto* s = static_cast<State*>(*state);
  AppendN(s, 1, 2000);  // 40-byte payloads: 80 KB
  ExporterOptions o = Options();
  o.max_bytes_per_sec = 20000;  // burst 4 KiB
  Start(s, 1, 1000, o);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  uint64_t bytes = s->runner->Status().bytes_sent;
  s->runner->Stop();
  // ~1 s at 20 KB/s plus the 4 KiB burst; status may be 200 ms old.
  assert_true(bytes <= 20000 * 1.3 + 4096 + 40);
  assert_true(bytes >= 20000 * 0.5);
}

static void test_runner_batch_mode_ships_stored_batches(void** state) {
  auto* s = static_cast<State*>(*state);
  AppendBatches(s, 3, 20, 25);  // 20 stored batches of 25 records per partition
  Start(s, 3, 4, Options(), /*batch_mode=*/true);
  assert_true(WaitAcked(s, 1500));
  AppendBatches(s, 3, 2, 25);
  assert_true(WaitAcked(s, 1650));
  s->runner->Stop();
  CheckComplete(s, 3, 550, true);
  for (uint32_t p = 0; p < 3; p++) assert_int_equal(Cursor(s, p), 550);
  std::lock_guard<std::mutex> l(s->up.mu);
  assert_false(s->up.bad_batch);
  assert_int_equal(s->up.batches, 66);            // every stored batch once
  assert_true(s->up.messages < s->up.batches);    // several per message
  assert_true(s->up.max_unacked <= 4);            // the window counts messages
  assert_int_equal(s->up.arrivals.size(), 1650);  // each offset once
}

static void test_runner_batch_mode_lost_link_resends_from_acked_prefix(void** state) {
  auto* s = static_cast<State*>(*state);
  s->up.drop_link_after = 15;
  AppendBatches(s, 3, 20, 10);
  Start(s, 3, 3, Options(), /*batch_mode=*/true);
  assert_true(WaitAcked(s, 600));
  s->runner->Stop();
  CheckComplete(s, 3, 200);
  for (uint32_t p = 0; p < 3; p++) assert_int_equal(Cursor(s, p), 200);
  ExporterStatus st = s->runner->Status();
  assert_true(st.reconnects >= 1);
  uint64_t dups = 0;
  for (auto& [k, n] : s->up.count) dups += n - 1;
  assert_true(dups <= st.duplicates_possible);
}

static void test_runner_priority_ships_higher_levels_first(void** state) {
  auto* s = static_cast<State*>(*state);
  AppendN(s, 3, 1500);
  // Partition 2 first, then 0, then 1.
  Start(s, 3, 16, Options(), false, {5, 0, 9});
  assert_true(WaitAcked(s, 4500));
  s->runner->Stop();
  CheckComplete(s, 3, 1500, true);
  std::lock_guard<std::mutex> l(s->up.mu);
  const auto& a = s->up.arrivals;
  assert_int_equal(a.size(), 4500);
  for (size_t i = 0; i < a.size(); i++) {
    const uint32_t want = i < 1500 ? 2 : i < 3000 ? 0 : 1;
    if (a[i].first != want) fail_msg("arrival %zu is from partition %u, expected %u", i, a[i].first, want);
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_runner_ships_everything_and_commits_cursor, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_runner_window_bounds_inflight_and_stop_is_prompt, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_runner_lost_link_resends_from_acked_prefix, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_runner_nack_and_refused_connects_retry, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_runner_restart_resumes_from_cursor, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_runner_pacing_limits_bytes_per_second, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_runner_batch_mode_ships_stored_batches, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_runner_batch_mode_lost_link_resends_from_acked_prefix,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_runner_priority_ships_higher_levels_first, Setup,
                                      Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
