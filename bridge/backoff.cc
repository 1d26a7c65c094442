#include "bridge/backoff.h"

#include <algorithm>

namespace trib::bridge {

Backoff::Backoff(int64_t min_ms, int64_t max_ms, uint64_t seed)
    : min_ms_(std::max<int64_t>(1, min_ms)), max_ms_(std::max(max_ms, min_ms_)), rng_(seed) {}

int64_t Backoff::CeilingMs(int n) const {
  int64_t d = min_ms_;
  for (int i = 0; i < n && d < max_ms_; i++) d *= 2;
  return std::min(d, max_ms_);
}

int64_t Backoff::NextMs() {
  int64_t d = CeilingMs(attempts_);
  if (attempts_ < 62) attempts_++;
  std::uniform_int_distribution<int64_t> jitter(d / 2, d);
  return jitter(rng_);
}

}  // namespace trib::bridge
