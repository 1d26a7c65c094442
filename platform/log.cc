#include "platform/log.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>

namespace trib::log {
namespace {

// The one process-wide setting: the threshold. Everything else is per call.
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};

const char* Name(Level level) {
  switch (level) {
    case Level::kError: return "error";
    case Level::kWarn: return "warn";
    case Level::kNotice: return "notice";
    case Level::kInfo: return "info";
    case Level::kDebug: return "debug";
  }
  return "?";
}

}  // namespace

bool ParseLevel(std::string_view text, Level* out) {
  static constexpr Level kAll[] = {Level::kError, Level::kWarn, Level::kNotice, Level::kInfo,
                                   Level::kDebug};
  for (Level l : kAll) {
    if (text == Name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }

bool Enabled(Level level) {
  return static_cast<int>(level) <= g_level.load(std::memory_order_relaxed);
}

void Write(Level level, const char* fmt, ...) {
  static const bool kTerminal = isatty(STDERR_FILENO) == 1;
  char line[2048];
  int n;
  if (kTerminal) {
    timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    tm t;
    localtime_r(&ts.tv_sec, &t);
    n = snprintf(line, sizeof line, "%02d:%02d:%02d.%03ld %-6s ", t.tm_hour, t.tm_min, t.tm_sec,
                 ts.tv_nsec / 1000000, Name(level));
  } else {
    n = snprintf(line, sizeof line, "<%d>%s: ", static_cast<int>(level), Name(level));
  }
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  size_t len = n + (m < 0 ? 0 : (m >= static_cast<int>(sizeof line) - n - 1
                                      ? static_cast<int>(sizeof line) - n - 2
                                      : m));
  line[len++] = '\n';
  ssize_t w = ::write(STDERR_FILENO, line, len);
  (void)w;  // Nothing sensible to do when stderr is gone.
}

}  // namespace trib::log
