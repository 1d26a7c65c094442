// A token bucket that paces an exporter to a bytes/s limit (metered links).
//
// Tokens are bytes. They refill at `rate` per second up to `burst`. A send
// takes its size even when that drives the balance negative (a record is never
// split); the next send waits until the balance is back to zero or more. Over
// any interval T the bytes sent are at most burst + rate * T + one record.
//
// Thread: one owner (the exporter thread). Times are monotonic nanoseconds
// passed in, so tests drive the clock.
#pragma once

#include <cstdint>

namespace trib::bridge {

class TokenBucket {
 public:
  // rate 0: unlimited (DelayNs is always 0). burst 0: rate / 5, at least 4 KiB.
  TokenBucket(uint64_t rate_bytes_per_sec, uint64_t burst_bytes, int64_t now_ns);

  // How long until the next send may start; 0 means now.
  int64_t DelayNs(int64_t now_ns);
  // Accounts a send of `bytes` at now_ns.
  void Take(int64_t now_ns, uint64_t bytes);

  bool unlimited() const { return rate_ == 0; }
  double tokens() const { return tokens_; }

 private:
  void Refill(int64_t now_ns);

  uint64_t rate_;
  double burst_;
  double tokens_;
  int64_t last_ns_;
};

}  // namespace trib::bridge
