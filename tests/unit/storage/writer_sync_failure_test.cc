// The writer when a real fdatasync fails inside LMDB's commit. This executable
// links tests/shim/fsync_shim.c, whose fsync/fdatasync take the place of
// libc's for the whole process (liblmdb included) and fail while a trigger
// file exists.
//
// The case: under sync=always a commit made while more work is queued writes
// its meta page without a sync, and its completion waits for the next
// commit's fdatasync. When that fdatasync fails, the kernel may have dropped
// the waiting commit's dirty meta page, so a later successful sync proves
// nothing about it: its completion must fail too.

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.h"
#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;
using namespace trib::storage::test;

namespace {

// Drives the writer from its wall-clock hook, which a round calls twice:
// first for the round's timestamp, then in its retention step just before
// the commit.
struct Script {
  std::atomic<int> calls{0};
  std::atomic<int> phase{0};  // 0 idle, 1 round A, 2 round B, 3 done
  Log* log = nullptr;
  StreamId stream = 0;
  std::string trigger;

  int64_t Hook() {
    const int n = ++calls;
    if (phase == 1 && n == 2) {
      // Round A is about to commit: queue B so that A commits without a
      // synchronous meta page and waits for B's fdatasync.
      WriteBatch b;
      b.Append(stream, 0, Rec("B"));
      (void)log->Submit(std::move(b), 3);
      calls = 0;
      phase = 2;
    } else if (phase == 2 && n == 1) {
      // Round B starts: its commit's fdatasync fails once.
      (void)WriteFile(trigger, "EIO 1\n");
      phase = 3;
    }
    return trib::clock::WallMs();
  }
};

struct State {
  Fixture* f;
  Script script;
  std::vector<Completion> got;
};

}  // namespace

static int Setup(void** state) {
  auto* s = new State{NewFixture(), {}, {}};
  s->script.trigger = s->f->dir + "/fsync-trigger";
  setenv("TRIB_FSYNC_TRIGGER", s->script.trigger.c_str(), 1);
  *state = s;
  return s->f->dir.empty() ? -1 : 0;
}

static int Teardown(void** state) {
  auto* s = static_cast<State*>(*state);
  DeleteFixture(s->f);
  unsetenv("TRIB_FSYNC_TRIGGER");
  delete s;
  return 0;
}

static bool WaitFor(const std::function<bool()>& pred) {
  for (int i = 0; i < 3000; i++) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

static void test_failed_commit_sync_fails_the_commits_waiting_for_it(void** state) {
  auto* s = static_cast<State*>(*state);
  Fixture* f = s->f;
  Script* sc = &s->script;
  f->options.sync = SyncPolicy::kAlways;
  f->options.retention_interval_ms = 3600 * 1000;  // one tick at start, then none
  f->options.wall_ms_for_test = [sc] { return sc->Hook(); };
  assert_string_equal(OpenLog(f, {Spec("s")}).c_str(), "");
  // The writer's first idle moment runs one retention tick (one hook call);
  // wait for it so that it cannot land in the middle of the script.
  assert_true(WaitFor([sc] { return sc->calls >= 1; }));
  sc->log = f->log.get();
  sc->stream = f->streams[0];
  sc->calls = 0;
  sc->phase = 1;

  WriteBatch a;
  a.Append(f->streams[0], 0, Rec("A"));
  (void)f->log->Submit(std::move(a), 2);
  std::vector<Completion>& got = s->got;
  assert_true(WaitFor([&] {
    f->log->Flush();
    f->log->TakeCompletions(&got);
    return got.size() >= 2;
  }));
  assert_int_equal(sc->phase, 3);
  assert_int_equal(access(sc->trigger.c_str(), F_OK), -1);  // the failure happened
  assert_int_equal(got.size(), 2);
  assert_int_equal(got[0].token, 2);
  assert_int_equal(got[1].token, 3);
  assert_int_equal(got[1].status.code(), Error::kIo);  // B's own commit failed
  // A was committed, but the sync that was to make it durable failed.
  assert_int_equal(got[0].status.code(), Error::kIo);

  // Storage works again once syncs do: a new append is durable and acked.
  sc->phase = 0;
  Completion c = AppendWait(f->log.get(), f->streams[0], 0, {"after"}, 4);
  assert_true(c.status.ok());
}

static void test_shim_fails_fdatasync_only_while_the_trigger_exists(void** state) {
  auto* s = static_cast<State*>(*state);
  const std::string path = s->f->dir + "/probe";
  int fd = open(path.c_str(), O_CREAT | O_WRONLY, 0600);
  assert_true(fd >= 0);
  assert_int_equal(fdatasync(fd), 0);
  assert_true(WriteFile(s->script.trigger, "ENOSPC\n"));
  errno = 0;
  assert_int_equal(fdatasync(fd), -1);
  assert_int_equal(errno, ENOSPC);
  assert_int_equal(fsync(fd), -1);
  unlink(s->script.trigger.c_str());
  assert_int_equal(fsync(fd), 0);
  close(fd);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_failed_commit_sync_fails_the_commits_waiting_for_it,
                                      Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_shim_fails_fdatasync_only_while_the_trigger_exists,
                                      Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
