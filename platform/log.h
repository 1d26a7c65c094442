// Logging to stderr with levels. Each line starts with a journald priority
// prefix ("<3>" for errors ... "<7>" for debug), which journald strips and uses
// as the priority; on a terminal the prefix is left out and a timestamp is shown.
//
// Thread-safe: a line is written with one write(2), so lines from different
// threads never interleave. The level is a process-wide setting read with a
// relaxed atomic load; a disabled level costs one branch and builds no string.
#pragma once

#include <cstdarg>
#include <string_view>

namespace trib::log {

enum class Level { kError = 3, kWarn = 4, kNotice = 5, kInfo = 6, kDebug = 7 };

// Parses "error|warn|notice|info|debug". Returns false on anything else.
bool ParseLevel(std::string_view text, Level* out);
void SetLevel(Level level);
bool Enabled(Level level);

// printf-style; the message should be one line without a trailing newline.
void Write(Level level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace trib::log

#define TRIB_LOG(level, ...)                                                       \
  do {                                                                             \
    if (::trib::log::Enabled(level)) ::trib::log::Write(level, __VA_ARGS__);       \
  } while (0)
#define LOG_ERROR(...) TRIB_LOG(::trib::log::Level::kError, __VA_ARGS__)
#define LOG_WARN(...) TRIB_LOG(::trib::log::Level::kWarn, __VA_ARGS__)
#define LOG_NOTICE(...) TRIB_LOG(::trib::log::Level::kNotice, __VA_ARGS__)
#define LOG_INFO(...) TRIB_LOG(::trib::log::Level::kInfo, __VA_ARGS__)
#define LOG_DEBUG(...) TRIB_LOG(::trib::log::Level::kDebug, __VA_ARGS__)
