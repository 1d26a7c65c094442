// File system helpers: directories and the exclusive lock on a data directory.
//
// Thread-safe (no shared state). Failures come back as a message naming the
// path and the OS error.
#pragma once

#include <string>

namespace trib::fs {

// Creates the directory and its parents (mode 0750). Returns "" or an error.
std::string MakeDirs(const std::string& path);

// An exclusive, advisory lock on <dir>/LOCK held for the object's life. A second
// process that tries to lock the same directory fails at once (no waiting).
class DirLock {
 public:
  DirLock() = default;
  ~DirLock();
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

  // Returns "" on success, else a message (for a held lock: says another
  // process is using the directory, and its pid when known).
  std::string Acquire(const std::string& dir);

 private:
  int fd_ = -1;
};

}  // namespace trib::fs
