// Clocks. Wall time is for timestamps that leave the process (record
// timestamps, logs); monotonic time is for every duration and timeout.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <ctime>

namespace trib::clock {

inline int64_t WallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

inline int64_t MonoNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

inline int64_t MonoMs() { return MonoNs() / 1000000; }

}  // namespace trib::clock
