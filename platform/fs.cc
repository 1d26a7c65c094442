#include "platform/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

namespace trib::fs {

std::string MakeDirs(const std::string& path) {
  if (path.empty()) return "empty directory path";
  std::string cur;
  size_t pos = 0;
  while (pos != std::string::npos) {
    pos = path.find('/', pos + 1);
    cur = path.substr(0, pos);
    if (cur.empty()) continue;
    if (mkdir(cur.c_str(), 0750) != 0 && errno != EEXIST) {
      return "cannot create directory " + cur + ": " + strerror(errno);
    }
  }
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return "cannot stat " + path + ": " + strerror(errno);
  if (!S_ISDIR(st.st_mode)) return path + " exists and is not a directory";
  return "";
}

DirLock::~DirLock() {
  if (fd_ >= 0) close(fd_);
}

std::string DirLock::Acquire(const std::string& dir) {
  std::string path = dir + "/LOCK";
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return "cannot open " + path + ": " + strerror(errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    if (err == EWOULDBLOCK) {
      std::string who = n > 0 ? " (pid " + std::string(buf, strcspn(buf, "\n")) + ")" : "";
      return "data directory " + dir + " is in use by another tributaryd" + who;
    }
    return "cannot lock " + path + ": " + strerror(err);
  }
  char pid[32];
  int len = snprintf(pid, sizeof pid, "%d\n", static_cast<int>(getpid()));
  if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, len, 0) != len) {
    // The pid is informational only; the lock itself is what matters.
  }
  fd_ = fd;
  return "";
}

}  // namespace trib::fs
