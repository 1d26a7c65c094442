// Helpers shared by the storage tests: a fresh temp directory per test, a
// Log opened in it, and shortcuts to append and read.
//
// cmocka leaves a failing test by longjmp, so everything C++ lives in a
// Fixture created in setup and destroyed in teardown.
#pragma once

#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "storage/log.h"

namespace trib::storage::test {

inline void RemoveTree(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d != nullptr) {
    while (dirent* e = readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      std::string child = path + "/" + name;
      struct stat st;
      if (lstat(child.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
        RemoveTree(child);
      else
        unlink(child.c_str());
    }
    closedir(d);
  }
  rmdir(path.c_str());
}

inline std::string MakeTempDir() {
  char tmpl[] = "/tmp/trib-storage-XXXXXX";
  char* d = mkdtemp(tmpl);
  return d ? std::string(d) : std::string();
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(out);
}

struct Fixture {
  std::string dir;
  Options options;
  std::unique_ptr<Log> log;
  std::vector<StreamId> streams;
  std::vector<Completion> completions;
  std::vector<std::unique_ptr<Log>> extra;  // more logs a test opens (copies)
  std::vector<std::string> extra_dirs;
  // Test clocks (used when a test installs them in options).
  std::shared_ptr<int64_t> wall = std::make_shared<int64_t>(0);
  std::shared_ptr<int64_t> mono = std::make_shared<int64_t>(0);
  std::shared_ptr<int> fsync_error = std::make_shared<int>(0);
  std::shared_ptr<std::atomic<int>> notified = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> syncs = std::make_shared<std::atomic<int>>(0);
};

inline Options DefaultOptions(const std::string& dir) {
  Options o;
  o.dir = dir;
  o.map_bytes = uint64_t{64} << 20;
  o.sync = SyncPolicy::kNone;
  return o;
}

inline Fixture* NewFixture() {
  auto* f = new Fixture;
  f->dir = MakeTempDir();
  f->options = DefaultOptions(f->dir);
  return f;
}

inline void DeleteFixture(Fixture* f) {
  f->log.reset();
  f->extra.clear();
  for (const std::string& d : f->extra_dirs) RemoveTree(d);
  RemoveTree(f->dir);
  delete f;
}

// Opens f->log with f->options and the given streams; returns "" or an error.
inline std::string OpenLog(Fixture* f, const std::vector<StreamSpec>& specs) {
  f->log.reset();
  auto r = Log::Open(f->options);
  if (!r.ok()) return r.status().message();
  f->log = std::move(r.value());
  if (!specs.empty()) {
    Status s = f->log->OpenStreams(specs);
    if (!s.ok()) return s.message();
  }
  f->streams.clear();
  for (const StreamSpec& spec : specs) f->streams.push_back(*f->log->FindStream(spec.name));
  return "";
}

inline StreamSpec Spec(const std::string& name, uint32_t partitions = 1) {
  StreamSpec s;
  s.name = name;
  s.partitions = partitions;
  return s;
}

inline RecordIn Rec(std::string_view payload, std::string_view topic = "t/x",
                    std::string_view key = "k") {
  RecordIn r;
  r.payload = payload;
  r.topic = topic;
  r.key = key;
  r.qos = 1;
  return r;
}

// Submits one batch of payloads to (stream, partition), waits, and returns its
// completion.
inline Completion AppendWait(Log* log, StreamId stream, uint32_t partition,
                             const std::vector<std::string>& payloads, uint64_t token = 1) {
  WriteBatch b;
  for (const std::string& p : payloads) b.Append(stream, partition, Rec(p));
  (void)log->Submit(std::move(b), token);
  log->Flush();
  std::vector<Completion> out;
  log->TakeCompletions(&out);
  for (Completion& c : out) {
    if (c.token == token) return std::move(c);
  }
  Completion none;
  none.status = Status(Error::kClosed, "no completion");
  return none;
}

inline std::string Payload(uint64_t i, size_t size = 100) {
  std::string s = "rec-" + std::to_string(i) + "-";
  while (s.size() < size) s.push_back(static_cast<char>('a' + (s.size() + i) % 26));
  s.resize(size);
  return s;
}

}  // namespace trib::storage::test
