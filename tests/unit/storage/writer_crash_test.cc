// Crash safety under sync=always: a child process appends and reports every
// acknowledged offset through a pipe; it is SIGKILLed at random moments, and
// every acknowledged record must be found intact after reopening.

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "platform/clock.h"
#include "tests/unit/storage/storage_test_util.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::storage;
using namespace trib::storage::test;

namespace {

constexpr int kRounds = 20;

std::string CrashPayload(int round, uint64_t i, int j) {
  std::string s =
      "r" + std::to_string(round) + "-" + std::to_string(i) + "-" + std::to_string(j) + "-";
  while (s.size() < 100 + (i % 300)) s.push_back(static_cast<char>('a' + s.size() % 26));
  return s;
}

// The child: appends until killed, writing "offset payload" for each
// acknowledged record. Never returns.
[[noreturn]] void RunChild(const Options& options, int fd, int round) {
  auto r = Log::Open(options);
  if (!r.ok()) _exit(2);
  std::unique_ptr<Log> log = std::move(r.value());
  if (!log->OpenStreams({Spec("crash", 2)}).ok()) _exit(3);
  const StreamId s = *log->FindStream("crash");
  std::vector<Completion> done;
  std::map<uint64_t, std::vector<std::string>> sent;
  for (uint64_t i = 0;; i++) {
    for (int k = 0; k < 4; k++) {
      const uint64_t token = i * 4 + k;
      WriteBatch b;
      std::vector<std::string>& payloads = sent[token];
      for (int j = 0; j < 1 + static_cast<int>(token % 3); j++) {
        payloads.push_back(CrashPayload(round, token, j));
        b.Append(s, token % 2, Rec(payloads.back()));
      }
      (void)log->Submit(std::move(b), token);
    }
    log->Flush();
    done.clear();
    log->TakeCompletions(&done);
    std::string lines;
    for (const Completion& c : done) {
      if (!c.status.ok()) continue;
      const std::vector<std::string>& payloads = sent[c.token];
      for (size_t j = 0; j < payloads.size(); j++) {
        lines += std::to_string(c.segments[0].partition) + " " +
                 std::to_string(c.segments[0].first_offset + j) + " " + payloads[j] + "\n";
      }
      sent.erase(c.token);
    }
    if (write(fd, lines.data(), lines.size()) != static_cast<ssize_t>(lines.size())) _exit(4);
  }
}

// Reads everything the child wrote until `deadline_ms`, kills it, and reads
// the rest (what it wrote before dying is still in the pipe).
std::string RunAndKill(int fd, pid_t pid, int64_t deadline_ms) {
  std::string out;
  char buf[65536];
  while (trib::clock::MonoMs() < deadline_ms) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 5) > 0) {
      ssize_t n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, n);
    }
  }
  kill(pid, SIGKILL);
  int status;
  waitpid(pid, &status, 0);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) out.append(buf, n);
  return out;
}

}  // namespace

static int Setup(void** state) {
  Fixture* f = NewFixture();
  f->options.sync = SyncPolicy::kAlways;
  *state = f;
  return f->dir.empty() ? -1 : 0;
}
static int Teardown(void** state) {
  DeleteFixture(static_cast<Fixture*>(*state));
  return 0;
}

static void test_crash_acknowledged_records_survive_sigkill(void** state) {
  Fixture* f = static_cast<Fixture*>(*state);
  std::mt19937 rng(20260101);
  std::map<std::pair<uint32_t, uint64_t>, std::string> acked;
  size_t total_acked = 0;
  const int64_t t_end = trib::clock::MonoMs() + 40000;
  for (int round = 0; round < kRounds && trib::clock::MonoMs() < t_end; round++) {
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fds[0]);
      RunChild(f->options, fds[1], round);
    }
    close(fds[1]);
    const int64_t run_ms = 30 + static_cast<int64_t>(rng() % 400);
    std::string out = RunAndKill(fds[0], pid, trib::clock::MonoMs() + run_ms);
    close(fds[0]);
    std::istringstream in(out);
    uint32_t part;
    uint64_t off;
    std::string payload;
    while (in >> part >> off >> payload) {
      auto key = std::make_pair(part, off);
      if (acked.count(key) && acked[key] != payload)
        fail_msg("offset %u/%llu acknowledged twice", part, (unsigned long long)off);
      acked[key] = payload;
      total_acked++;
    }
    // Reopen and check every acknowledged record so far.
    assert_string_equal(OpenLog(f, {Spec("crash", 2)}).c_str(), "");
    for (const auto& [k, p] : acked) {
      auto r = f->log->Read(f->streams[0], k.first, k.second, 1, 1 << 20);
      if (!r.ok() || r->records.empty() || r->records[0].offset != k.second ||
          r->records[0].payload != p)
        fail_msg("round %d: acknowledged record %u/%llu missing or different", round, k.first,
                 (unsigned long long)k.second);
    }
    assert_int_equal(f->log->GetStats().corrupt_batches, 0);
    f->log.reset();
  }
  if (total_acked < 100) fail_msg("only %zu records acknowledged", total_acked);
  printf("%zu records acknowledged over %d kills, all present\n", total_acked, kRounds);
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_crash_acknowledged_records_survive_sigkill, Setup,
                                      Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
