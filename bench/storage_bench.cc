// storage_bench: throughput of the storage log, next to a raw LMDB loop as the
// upper bound, and bytes written to disk per byte appended. Prints numbers,
// asserts nothing; not part of ctest. Build it Release.
//
//   storage_bench [--dir DIR] [--seconds N] [--slow-seconds N]
//
// The raw loop is the only code outside storage/ that includes <lmdb.h>: it
// measures LMDB itself, on purpose.

#include <lmdb.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "platform/clock.h"
#include "storage/log.h"

using namespace trib::storage;

namespace {

constexpr size_t kRecordBytes = 100;
constexpr int kWindowPerProducer = 1024;  // submissions in flight per producer thread

// /proc/self/io: write_bytes is what the kernel charged this process for
// dirtying the page cache (what reaches the device, at the kernel's page or
// folio granularity); wchar is what it passed to write(2)-like calls.
struct Io {
  uint64_t write_bytes = 0, wchar = 0;
};
Io ReadIo() {
  std::ifstream in("/proc/self/io");
  std::string k;
  uint64_t v;
  Io io;
  while (in >> k >> v) {
    if (k == "write_bytes:") io.write_bytes = v;
    if (k == "wchar:") io.wchar = v;
  }
  return io;
}
struct IoRatio {
  double device, syscalls;  // bytes per payload byte appended
};
IoRatio Ratio(const Io& a, const Io& b, uint64_t records) {
  const double payload = static_cast<double>(records) * kRecordBytes;
  return {(b.write_bytes - a.write_bytes) / payload, (b.wchar - a.wchar) / payload};
}

void RemoveDir(const std::string& dir) {
  for (const char* f : {"/data.mdb", "/lock.mdb"}) unlink((dir + f).c_str());
  rmdir(dir.c_str());
}

std::string NewDir(const std::string& root) {
  std::string tmpl = root + "/trib-bench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    perror("mkdtemp");
    exit(1);
  }
  return tmpl;
}

double Seconds(int64_t ns) { return static_cast<double>(ns) / 1e9; }

// Raw LMDB: 100-byte values under 8-byte big-endian keys, MDB_APPEND, 1000
// per transaction, one durable commit per transaction. `flags` picks how:
// LMDB's own commit (fdatasync + O_DSYNC meta write), or NOMETASYNC/NOSYNC
// plus mdb_env_sync, or WRITEMAP. The first line is the upper bound.
void RawLmdb(const std::string& root, int seconds, unsigned flags, bool env_sync,
             const char* label) {
  std::string dir = NewDir(root);
  MDB_env* env;
  mdb_env_create(&env);
  mdb_env_set_mapsize(env, size_t{8} << 30);
  if (mdb_env_open(env, dir.c_str(), flags, 0640) != 0) exit(1);
  MDB_dbi dbi;
  MDB_txn* txn;
  mdb_txn_begin(env, nullptr, 0, &txn);
  mdb_dbi_open(txn, nullptr, 0, &dbi);
  mdb_txn_commit(txn);
  char value[kRecordBytes];
  std::memset(value, 'v', sizeof value);
  uint64_t n = 0;
  const Io io0 = ReadIo();
  const int64_t t0 = trib::clock::MonoNs(), end = t0 + int64_t{seconds} * 1000000000;
  while (trib::clock::MonoNs() < end) {
    mdb_txn_begin(env, nullptr, 0, &txn);
    for (int i = 0; i < 1000; i++, n++) {
      char key[8];
      for (int b = 0; b < 8; b++) key[b] = static_cast<char>(n >> (56 - 8 * b));
      MDB_val k{8, key}, v{sizeof value, value};
      mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    }
    if (mdb_txn_commit(txn) != 0) exit(1);
    if (env_sync) mdb_env_sync(env, 1);
  }
  const double s = Seconds(trib::clock::MonoNs() - t0);
  const IoRatio r = Ratio(io0, ReadIo(), n);
  printf("raw lmdb   %-33s %10.0f records/s  written/byte: %5.2f device %5.2f syscalls\n", label,
         n / s, r.device, r.syscalls);
  mdb_env_close(env);
  RemoveDir(dir);
}

struct Run {
  std::unique_ptr<Log> log;
  StreamId stream = 0;
  std::string dir;
};

Run OpenRun(const std::string& root, SyncPolicy sync, int64_t interval_ms,
            std::function<void()> notify) {
  Run r;
  r.dir = NewDir(root);
  Options o;
  o.dir = r.dir;
  o.map_bytes = uint64_t{8} << 30;
  o.sync = sync;
  o.sync_interval_ms = interval_ms;
  o.notify = std::move(notify);
  auto opened = Log::Open(o);
  if (!opened.ok()) {
    fprintf(stderr, "open: %s\n", opened.status().message().c_str());
    exit(1);
  }
  r.log = std::move(opened.value());
  StreamSpec spec;
  spec.name = "bench";
  spec.partitions = 8;
  if (!r.log->OpenStreams({spec}).ok()) exit(1);
  r.stream = *r.log->FindStream("bench");
  return r;
}

RecordIn BenchRecord(const std::string& payload, const std::string& key) {
  RecordIn rec;
  rec.key = key;
  rec.topic = "sensors/bench";
  rec.payload = payload;
  rec.qos = 1;
  return rec;
}

// Producers submit one record per WriteBatch with a window of submissions in
// flight, like broker loops with many clients; a drainer thread takes the
// completions (the daemon's uv_async callback) and reopens the window.
struct Throughput {
  double records_per_s;
  IoRatio written;
  uint64_t commits, fsyncs;
};

Throughput Appends(const std::string& root, SyncPolicy sync, int producers, int seconds) {
  std::mutex mu;
  std::condition_variable cv;
  bool signaled = false;
  Run run = OpenRun(root, sync, 100, [&] {
    std::lock_guard<std::mutex> lock(mu);
    signaled = true;
    cv.notify_one();
  });
  Log* log = run.log.get();
  std::counting_semaphore<1 << 20> window(producers * kWindowPerProducer);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> completed{0};
  std::thread drainer([&] {
    std::vector<Completion> done;
    while (!stop || completed.load() == 0) {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait_for(lock, std::chrono::milliseconds(10), [&] { return signaled; });
        signaled = false;
      }
      done.clear();
      log->TakeCompletions(&done);
      completed += done.size();
      if (!done.empty()) window.release(static_cast<ptrdiff_t>(done.size()));
      if (stop) break;
    }
  });
  const std::string payload(kRecordBytes, 'p');
  const Io io0 = ReadIo();
  const Stats s0 = log->GetStats();
  const int64_t t0 = trib::clock::MonoNs();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; p++) {
    threads.emplace_back([&, p] {
      const std::string key = "device-" + std::to_string(p);
      const uint32_t part = PartitionFor(key, 8);
      for (uint64_t i = 0; !stop; i++) {
        if (!window.try_acquire_for(std::chrono::milliseconds(10))) continue;
        WriteBatch b;
        b.Append(run.stream, part, BenchRecord(payload, key));
        (void)log->Submit(std::move(b), i);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  const uint64_t n = completed.load();
  const double s = Seconds(trib::clock::MonoNs() - t0);
  const Stats s1 = log->GetStats();
  const IoRatio written = Ratio(io0, ReadIo(), n);
  stop = true;
  for (auto& t : threads) t.join();
  window.release(producers * kWindowPerProducer);
  cv.notify_one();
  drainer.join();
  run.log.reset();
  RemoveDir(run.dir);
  return {n / s, written, s1.commits - s0.commits, s1.fsyncs - s0.fsyncs};
}

void Reads(const std::string& root) {
  Run run = OpenRun(root, SyncPolicy::kNone, 100, nullptr);
  const std::string payload(kRecordBytes, 'p');
  const uint64_t total = 1000000;
  for (uint64_t i = 0; i < total;) {
    WriteBatch b;
    for (int j = 0; j < 1000; j++, i++) b.Append(run.stream, 0, BenchRecord(payload, "k"));
    (void)run.log->Submit(std::move(b), i);
  }
  run.log->Flush();
  int64_t t0 = trib::clock::MonoNs();
  uint64_t n = 0;
  for (uint64_t from = 0; from < total;) {
    auto r = run.log->Read(run.stream, 0, from, 1000, size_t{1} << 20);
    if (!r.ok() || r->records.empty()) break;
    n += r->records.size();
    from = r->next_offset;
  }
  printf("reads      sequential, 1000/read              %10.0f records/s\n",
         n / Seconds(trib::clock::MonoNs() - t0));
  t0 = trib::clock::MonoNs();
  uint64_t x = 88172645463325252ull;
  const int kSingle = 200000;
  for (int i = 0; i < kSingle; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    auto r = run.log->Read(run.stream, 0, x % total, 1, 1 << 20);
    if (!r.ok()) exit(1);
  }
  printf("reads      random, 1 record/read              %10.0f reads/s\n",
         kSingle / Seconds(trib::clock::MonoNs() - t0));
  run.log.reset();
  RemoveDir(run.dir);
}

// ~100 records/s from one producer for `seconds`: what a quiet gateway costs
// in flash writes.
void Slow(const std::string& root, SyncPolicy sync, int64_t interval_ms, int seconds,
          const char* label) {
  Run run = OpenRun(root, sync, interval_ms, nullptr);
  const std::string payload(kRecordBytes, 'p');
  const Io io0 = ReadIo();
  const Stats s0 = run.log->GetStats();
  const int64_t t0 = trib::clock::MonoMs();
  uint64_t n = 0;
  for (int64_t next = t0; next < t0 + seconds * 1000; next += 10, n++) {
    WriteBatch b;
    b.Append(run.stream, 0, BenchRecord(payload, "k"));
    (void)run.log->Submit(std::move(b), n);
    std::vector<Completion> done;
    run.log->TakeCompletions(&done);
    const int64_t now = trib::clock::MonoMs();
    if (next > now) std::this_thread::sleep_for(std::chrono::milliseconds(next - now));
  }
  run.log->Flush();
  const IoRatio r = Ratio(io0, ReadIo(), n);
  const Stats s1 = run.log->GetStats();
  printf(
      "slow       %-27s %7.0f records/s  written/byte: %6.1f device %6.1f syscalls"
      "  %5llu commits %5llu fsyncs\n",
      label, n * 1000.0 / (trib::clock::MonoMs() - t0), r.device, r.syscalls,
      static_cast<unsigned long long>(s1.commits - s0.commits),
      static_cast<unsigned long long>(s1.fsyncs - s0.fsyncs));
  run.log.reset();
  RemoveDir(run.dir);
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = "/tmp";
  int seconds = 3, slow_seconds = 5, only_producers = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--dir"))
      root = argv[i + 1];
    else if (!strcmp(argv[i], "--only-always"))
      only_producers = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds"))
      seconds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--slow-seconds"))
      slow_seconds = atoi(argv[i + 1]);
  }
  printf("storage_bench: %zu-byte records, dir %s, %d s per run\n", kRecordBytes, root.c_str(),
         seconds);
  if (only_producers < 0) {  // reads only, e.g. under perf
    Reads(root);
    return 0;
  }
  if (only_producers > 0) {  // one case, e.g. under strace
    Throughput t = Appends(root, SyncPolicy::kAlways, only_producers, seconds);
    printf(
        "appends    sync=always %2d producers  %10.0f records/s  written/byte: %5.2f device"
        " %5.2f syscalls\n",
        only_producers, t.records_per_s, t.written.device, t.written.syscalls);
    return 0;
  }
  RawLmdb(root, seconds, 0, false, "1000/txn, LMDB sync commit");
  RawLmdb(root, seconds, MDB_NOMETASYNC, true, "1000/txn, NOMETASYNC+env_sync");
  RawLmdb(root, seconds, MDB_NOMETASYNC, false, "1000/txn, NOMETASYNC (lags 1)");
  RawLmdb(root, seconds, MDB_NOSYNC, true, "1000/txn, NOSYNC+env_sync");
  RawLmdb(root, seconds, MDB_WRITEMAP, false, "1000/txn, WRITEMAP sync commit");
  for (SyncPolicy sync : {SyncPolicy::kAlways, SyncPolicy::kNone}) {
    for (int producers : {1, 8, 64}) {
      Throughput t = Appends(root, sync, producers, seconds);
      printf(
          "appends    sync=%-6s %2d producers          %10.0f records/s  written/byte: %5.2f device"
          " %5.2f syscalls  %6llu commits %6llu fsyncs\n",
          sync == SyncPolicy::kAlways ? "always" : "none", producers, t.records_per_s,
          t.written.device, t.written.syscalls, static_cast<unsigned long long>(t.commits),
          static_cast<unsigned long long>(t.fsyncs));
    }
  }
  Reads(root);
  Slow(root, SyncPolicy::kAlways, 100, slow_seconds, "sync=always");
  Slow(root, SyncPolicy::kInterval, 1000, slow_seconds, "sync=interval 1s");
  return 0;
}
