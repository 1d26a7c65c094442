// The writer thread: group commit and completion order, the three sync
// policies, an injected fsync failure, back-pressure and its notify, and the
// destructor draining the queue.

#include <atomic>
#include <cerrno>
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
  auto notified = f->notified;
  auto syncs = f->syncs;
  auto err = f->fsync_error;
  f->options.notify = [notified] { (*notified)++; };
  f->options.fsync_hook_for_test = [syncs, err] {
    (*syncs)++;
    return *err;
  };
  *state = f;
  return f->dir.empty() ? -1 : 0;
}
static int Teardown(void** state) {
  DeleteFixture(static_cast<Fixture*>(*state));
  return 0;
}

static void SubmitMany(Log* log, StreamId s, int n, uint64_t first_token) {
  for (int i = 0; i < n; i++) {
    WriteBatch b;
    b.Append(s, 0, Rec(Payload(first_token + i)));
    (void)log->Submit(std::move(b), first_token + i);
  }
}

static void test_writer_completions_in_submission_order_with_consecutive_offsets(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kAlways;
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  SubmitMany(f->log.get(), f->streams[0], 500, 1);
  f->log->Flush();
  f->log->TakeCompletions(&f->completions);
  assert_int_equal(f->completions.size(), 500);
  for (size_t i = 0; i < 500; i++) {
    assert_int_equal(f->completions[i].token, i + 1);
    assert_true(f->completions[i].status.ok());
    assert_int_equal(f->completions[i].segments[0].first_offset, i);
  }
  Stats st = f->log->GetStats();
  assert_true(st.commits < 500);  // group commit: several submissions per commit
  assert_true(st.fsyncs >= 1);
  assert_true(*f->syncs >= 1);
  assert_true(*f->notified >= 1);
  auto r = f->log->Read(f->streams[0], 0, 0, 1000, 1 << 30);
  assert_int_equal(r->records.size(), 500);
  assert_true(r->records[499].payload == Payload(500));
}

static void test_writer_fsync_failure_fails_completions_then_recovers(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kAlways;
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  *f->fsync_error = EIO;
  Completion c = AppendWait(f->log.get(), f->streams[0], 0, {"lost?"}, 1);
  assert_int_equal(c.status.code(), Error::kIo);
  assert_non_null(strstr(c.status.message().c_str(), "fsync"));
  *f->fsync_error = 0;
  c = AppendWait(f->log.get(), f->streams[0], 0, {"kept"}, 2);
  assert_true(c.status.ok());
  assert_int_equal(c.segments[0].first_offset, 1);
  auto r = f->log->Read(f->streams[0], 0, 1, 10, 1 << 20);
  assert_true(r->records[0].payload == "kept");
}

static void test_writer_interval_fsync_failure_fails_completions(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kInterval;
  f->options.sync_interval_ms = 50;
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  *f->fsync_error = EIO;
  SubmitMany(f->log.get(), f->streams[0], 5, 1);
  f->log->Flush();
  f->log->TakeCompletions(&f->completions);
  assert_int_equal(f->completions.size(), 5);
  for (const Completion& c : f->completions) assert_int_equal(c.status.code(), Error::kIo);
}

static void test_writer_interval_groups_commits_and_syncs(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kInterval;
  f->options.sync_interval_ms = 200;
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  const int64_t t0 = trib::clock::MonoMs();
  Stats before = f->log->GetStats();
  // 40 submissions over ~400 ms: at most one commit and sync per 200 ms.
  for (int i = 0; i < 40; i++) {
    SubmitMany(f->log.get(), f->streams[0], 1, i + 1);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // Wait for completions without Flush (which would force a commit).
  while (true) {
    f->log->TakeCompletions(&f->completions);
    if (f->completions.size() == 40 || trib::clock::MonoMs() - t0 > 5000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  assert_int_equal(f->completions.size(), 40);
  for (const Completion& c : f->completions) assert_true(c.status.ok());
  const int64_t elapsed = trib::clock::MonoMs() - t0;
  Stats st = f->log->GetStats();
  const uint64_t commits = st.commits - before.commits;
  if (commits > static_cast<uint64_t>(elapsed / 200 + 2))
    fail_msg("%llu commits in %lld ms", (unsigned long long)commits, (long long)elapsed);
  assert_true(st.fsyncs - before.fsyncs >= 1 && st.fsyncs - before.fsyncs <= commits);
  assert_true(*f->syncs >= 1);
}

static void test_writer_sync_none_never_calls_fsync(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kNone;
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  SubmitMany(f->log.get(), f->streams[0], 50, 1);
  f->log->Flush();
  f->log->TakeCompletions(&f->completions);
  assert_int_equal(f->completions.size(), 50);
  assert_int_equal(*f->syncs, 0);
  assert_int_equal(f->log->GetStats().fsyncs, 0);
}

static void test_writer_back_pressure_and_notify(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kInterval;
  f->options.sync_interval_ms = 300;
  f->options.max_queue_bytes = 4096;
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  // The first submission after open commits at once; wait for it so that the
  // next ones sit in the queue for the interval.
  assert_true(AppendWait(f->log.get(), f->streams[0], 0, {"warmup"}, 100).status.ok());
  assert_false(f->log->OverLimit());
  WriteBatch small;
  small.Append(f->streams[0], 0, Rec("x"));
  assert_true(f->log->Submit(std::move(small), 1));
  WriteBatch big;
  for (int i = 0; i < 20; i++) big.Append(f->streams[0], 0, Rec(Payload(i, 500)));
  assert_false(f->log->Submit(std::move(big), 2));
  assert_true(f->log->OverLimit());
  const int notified = *f->notified;
  const int64_t t0 = trib::clock::MonoMs();
  while (f->log->OverLimit() && trib::clock::MonoMs() - t0 < 5000)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  assert_false(f->log->OverLimit());
  assert_true(*f->notified > notified);
  f->log->Flush();
  f->log->TakeCompletions(&f->completions);
  assert_true(f->completions.back().status.ok());
}

static void test_writer_destructor_drains_queue(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kInterval;
  f->options.sync_interval_ms = 10000;  // nothing would commit before the close
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  SubmitMany(f->log.get(), f->streams[0], 30, 1);
  f->log.reset();
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  assert_int_equal(f->log->Info(f->streams[0], 0)->end_offset, 30);
}

static void test_writer_concurrent_producers(void** state) {
  auto* f = static_cast<Fixture*>(*state);
  f->options.sync = SyncPolicy::kAlways;
  assert_string_equal(OpenLog(f, {Spec("s", 4)}).c_str(), "");
  Log* log = f->log.get();
  StreamId s = f->streams[0];
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; t++) {
    threads.emplace_back([log, s, t] {
      for (int i = 0; i < 250; i++) {
        WriteBatch b;
        b.Append(s, static_cast<uint32_t>(t), Rec(Payload(t * 1000 + i)));
        (void)log->Submit(std::move(b), t * 1000 + i);
      }
    });
  }
  std::thread reader([log, s] {
    for (int i = 0; i < 200; i++) (void)log->Read(s, i % 4, 0, 10, 1 << 20);
  });
  for (auto& th : threads) th.join();
  reader.join();
  log->Flush();
  for (uint32_t p = 0; p < 4; p++) {
    auto r = log->Read(s, p, 0, 1000, 1 << 30);
    assert_int_equal(r->records.size(), 250);
    for (int i = 0; i < 250; i++) assert_true(r->records[i].payload == Payload(p * 1000 + i));
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(
          test_writer_completions_in_submission_order_with_consecutive_offsets, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_writer_fsync_failure_fails_completions_then_recovers,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_writer_interval_fsync_failure_fails_completions, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_writer_interval_groups_commits_and_syncs, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_writer_sync_none_never_calls_fsync, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_writer_back_pressure_and_notify, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_writer_destructor_drains_queue, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_writer_concurrent_producers, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
