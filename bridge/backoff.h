// Capped exponential back-off with jitter, for reconnects.
//
// Attempt n (from 0) waits a uniformly random time in [d/2, d], where
// d = min(max, min * 2^n): the delay grows fast while the upstream is down, and
// a fleet of gateways that lost the same upstream does not reconnect in step.
//
// Thread: one owner (the exporter thread).
#pragma once

#include <cstdint>
#include <random>

namespace trib::bridge {

class Backoff {
 public:
  Backoff(int64_t min_ms, int64_t max_ms, uint64_t seed);

  // The delay before the next attempt; counts the attempt.
  int64_t NextMs();
  // After a connection proved good: the next delay starts from min again.
  void Reset() { attempts_ = 0; }
  int attempts() const { return attempts_; }
  // The upper bound of the delay for attempt n (no jitter).
  int64_t CeilingMs(int n) const;

 private:
  int64_t min_ms_;
  int64_t max_ms_;
  int attempts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace trib::bridge
