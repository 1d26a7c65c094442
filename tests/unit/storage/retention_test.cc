// Retention by age and bytes, offsets never reused, a wall-clock jump that
// must not delete everything, and both on_full policies on a tiny map.

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.h"
#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;
using namespace trib::storage::test;

static int Setup(void** state) {
  Fixture* f = NewFixture();
  int64_t* wall = f->wall.get();
  int64_t* mono = f->mono.get();
  *wall = 1767225600000;  // 2026-01-01
  *mono = 1000000;
  f->options.wall_ms_for_test = [wall] { return *wall; };
  f->options.mono_ms_for_test = [mono] { return *mono; };
  *state = f;
  return f->dir.empty() ? -1 : 0;
}
static int Teardown(void** state) {
  DeleteFixture(static_cast<Fixture*>(*state));
  return 0;
}

static void Advance(Fixture* f, int64_t ms) {
  *f->wall += ms;
  *f->mono += ms;
}

// Makes the writer run a round (retention runs in every commit).
static void Poke(Fixture* f, uint64_t token = 999) {
  WriteBatch b;
  b.CommitCursor("poke", 0, 0, token);
  (void)f->log->Submit(std::move(b), token);
  f->log->Flush();
  std::vector<Completion> discard;
  f->log->TakeCompletions(&discard);
}

static uint64_t Start(Fixture* f, uint32_t p = 0) {
  return f->log->Info(f->streams[0], p)->start_offset;
}

static void test_retention_age_deletes_whole_old_batches(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  StreamSpec s = Spec("s", 2);
  s.max_age_ms = 60000;
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"a", "b"}, 1).status.ok());
  Advance(f, 30000);
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"c"}, 2).status.ok());
  assert_true(AppendWait(f->log.get(), f->streams[0], 1, {"p1"}, 3).status.ok());
  Advance(f, 31500);  // first batch 61.5 s old (checkpoint bound: +1 s), others 31.5 s
  Poke(f);
  assert_int_equal(Start(f, 0), 2);
  assert_int_equal(Start(f, 1), 0);
  Advance(f, 40000);
  Poke(f, 1000);
  assert_int_equal(Start(f, 0), 3);
  assert_int_equal(Start(f, 1), 1);
  PartitionInfo i = *f->log->Info(f->streams[0], 0);
  assert_int_equal(i.end_offset, 3);
  assert_int_equal(f->log->GetStats().retention_deleted_records, 4);
  // Empty partitions keep their end; offsets continue after a reopen.
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  assert_int_equal(f->log->Info(f->streams[0], 0)->end_offset, 3);
  Completion c = AppendWait(f->log.get(), f->streams[0], 0, {"d"}, 4);
  assert_int_equal(c.segments[0].first_offset, 3);
  assert_int_equal(Start(f, 0), 3);
  auto r = f->log->Read(f->streams[0], 0, 3, 10, 1 << 20);
  assert_true(r->records[0].payload == "d");
}

static void test_retention_runs_when_idle(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  f->options.retention_interval_ms = 10;
  StreamSpec s = Spec("s");
  s.max_age_ms = 1000;
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"a"}, 1).status.ok());
  Advance(f, 5000);
  const int64_t t0 = trib::clock::MonoMs();
  while (Start(f) == 0 && trib::clock::MonoMs() - t0 < 3000)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  assert_int_equal(Start(f), 1);
}

static void test_retention_bytes_keeps_stream_under_limit(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  StreamSpec s = Spec("s", 2);
  s.max_bytes = 256 << 10;
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  for (int i = 0; i < 60; i++) {
    Advance(f, 10);
    std::vector<std::string> p(4, Payload(i, 5000));
    assert_true(AppendWait(f->log.get(), f->streams[0], i % 2, p, i + 1).status.ok());
  }
  Poke(f);
  uint64_t bytes = 0;
  for (uint32_t p = 0; p < 2; p++) bytes += f->log->Info(f->streams[0], p)->bytes;
  if (bytes > (256u << 10)) fail_msg("stream holds %llu bytes", (unsigned long long)bytes);
  assert_true(bytes > (128u << 10));  // deletes only what it must
  assert_true(Start(f, 0) > 0 && Start(f, 1) > 0);
  // Oldest first across partitions: the newest batch of each is still there.
  assert_int_equal(f->log->Info(f->streams[0], 0)->end_offset, 120);
  auto r = f->log->Read(f->streams[0], 1, 116, 10, 1 << 20);
  assert_true(r.ok());
  assert_true(r->records[0].payload == Payload(59, 5000));
}

// The gateway booted without an RTC (1970) and NTP later set the clock.
static void test_retention_wall_clock_jump_does_not_delete_everything(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  *f->wall = 5000;  // 1970-01-01T00:00:05
  StreamSpec s = Spec("s");
  s.max_age_ms = 3600000;  // one hour
  assert_string_equal(OpenLog(f, {s}).c_str(), "");
  for (int i = 0; i < 3; i++) {
    assert_true(AppendWait(f->log.get(), f->streams[0], 0, {Payload(i)}, i + 1).status.ok());
    Advance(f, 1200000);  // 20 minutes
  }
  *f->wall = 1767225600000;  // NTP: 2026. Batches look 56 years old by the wall clock.
  Poke(f);
  assert_int_equal(Start(f), 0);
  Completion c = AppendWait(f->log.get(), f->streams[0], 0, {"after-ntp"}, 10);
  assert_true(c.status.ok());
  assert_true(c.timestamp_ms == 1767225600000);
  // 61 minutes after the first append by the monotonic clock: only it goes.
  Advance(f, 60000 + 61000);
  Poke(f, 1001);
  assert_int_equal(Start(f), 1);
  Advance(f, 1200000);
  Poke(f, 1002);
  assert_int_equal(Start(f), 2);
  auto r = f->log->Read(f->streams[0], 0, 2, 10, 1 << 20);
  assert_int_equal(r->records.size(), 2);
  assert_true(r->records[1].payload == "after-ntp");
}

static void FillTiny(Fixture* f, StreamId s, int n, int first_token, std::vector<Completion>* out) {
  for (int i = 0; i < n; i++) {
    WriteBatch b;
    for (int j = 0; j < 4; j++) b.Append(s, 0, Rec(Payload(i * 4 + j, 4000)));
    (void)f->log->Submit(std::move(b), first_token + i);
    f->log->Flush();
  }
  f->log->TakeCompletions(out);
}

static void test_retention_full_drop_oldest_ring_buffer(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  f->options.map_bytes = 1 << 20;
  f->options.sync = SyncPolicy::kAlways;
  assert_string_equal(OpenLog(f, {Spec("ring")}).c_str(), "");
  std::vector<Completion> done;
  FillTiny(f, f->streams[0], 200, 1, &done);  // ~3.2 MB into a 1 MiB map
  assert_int_equal(done.size(), 200);
  for (const Completion& c : done) {
    if (!c.status.ok())
      fail_msg("token %llu: %s", (unsigned long long)c.token, c.status.message().c_str());
  }
  Stats st = f->log->GetStats();
  assert_true(st.dropped_records > 0);
  assert_int_equal(st.rejected_records, 0);
  PartitionInfo i = *f->log->Info(f->streams[0], 0);
  assert_int_equal(i.end_offset, 800);
  assert_true(i.start_offset > 0);
  assert_true(st.used_bytes <= st.map_bytes);
  auto r = f->log->Read(f->streams[0], 0, i.start_offset, 1000, 1 << 30);
  assert_true(r.ok());
  assert_int_equal(r->records.size(), 800 - i.start_offset);
  assert_true(r->records.back().payload == Payload(799, 4000));
  // A session write needs room too: it gets it from the ring.
  WriteBatch b;
  b.PutSession("c1", std::string(100000, 's'));
  (void)f->log->Submit(std::move(b), 5000);
  f->log->Flush();
  assert_int_equal(f->log->GetSession("c1")->size(), 100000);
  // Reopen: consistent and still appending.
  assert_string_equal(OpenLog(f, {Spec("ring")}).c_str(), "");
  done.clear();
  FillTiny(f, f->streams[0], 20, 6000, &done);
  for (const Completion& c : done) assert_true(c.status.ok());
  assert_int_equal(f->log->Info(f->streams[0], 0)->end_offset, 880);
}

static void test_retention_full_reject_refuses_then_recovers(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  f->options.map_bytes = 1 << 20;
  StreamSpec rej = Spec("strict");
  rej.on_full = OnFull::kReject;
  assert_string_equal(OpenLog(f, {rej, Spec("ring")}).c_str(), "");
  std::vector<Completion> done;
  FillTiny(f, f->streams[0], 100, 1, &done);
  size_t ok = 0, full = 0;
  for (const Completion& c : done) {
    assert_true(c.status.ok());
    if (c.segments[0].error == Error::kOk) ok++;
    if (c.segments[0].error == Error::kFull) full++;
  }
  assert_true(ok > 20 && full > 0);
  assert_int_equal(ok + full, 100);
  Stats st = f->log->GetStats();
  assert_int_equal(st.rejected_records, full * 4);
  assert_int_equal(st.dropped_records, 0);
  PartitionInfo i = *f->log->Info(f->streams[0], 0);
  assert_int_equal(i.start_offset, 0);
  assert_int_equal(i.end_offset, ok * 4);  // refused records took no offsets
  // One submission to both streams: the strict part is refused, the ring part
  // (nothing to drop yet: it is empty) is refused too, nothing is half-written.
  WriteBatch mixed;
  mixed.Append(f->streams[0], 0, Rec(Payload(1, 4000)));
  mixed.Append(f->streams[1], 0, Rec(Payload(2, 4000)));
  mixed.CommitCursor("exp", f->streams[0], 0, 7);
  (void)f->log->Submit(std::move(mixed), 500);
  f->log->Flush();
  done.clear();
  f->log->TakeCompletions(&done);
  assert_int_equal(done.size(), 1);
  assert_int_equal(done[0].segments[0].error, Error::kFull);
  // Space frees (retention on the strict stream): appends work again.
  assert_true(f->log->UpdateRetention(f->streams[0], 0, 200 << 10, OnFull::kReject).ok());
  Poke(f);
  done.clear();
  FillTiny(f, f->streams[0], 5, 1000, &done);
  for (const Completion& c : done) assert_int_equal(c.segments[0].error, Error::kOk);
  assert_true(f->log->Info(f->streams[0], 0)->start_offset > 0);
  auto r =
      f->log->Read(f->streams[0], 0, f->log->Info(f->streams[0], 0)->end_offset - 1, 1, 1 << 20);
  assert_true(r->records[0].payload == Payload(19, 4000));
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_retention_age_deletes_whole_old_batches, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_retention_runs_when_idle, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_retention_bytes_keeps_stream_under_limit, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_retention_wall_clock_jump_does_not_delete_everything,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_retention_full_drop_oldest_ring_buffer, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_retention_full_reject_refuses_then_recovers, Setup,
                                      Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
