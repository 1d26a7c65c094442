#include "bridge/token_bucket.h"

#include <algorithm>
#include <cmath>

namespace trib::bridge {

TokenBucket::TokenBucket(uint64_t rate_bytes_per_sec, uint64_t burst_bytes, int64_t now_ns)
    : rate_(rate_bytes_per_sec), last_ns_(now_ns) {
  if (burst_bytes == 0) burst_bytes = std::max<uint64_t>(rate_ / 5, 4096);
  burst_ = static_cast<double>(burst_bytes);
  tokens_ = burst_;
}

void TokenBucket::Refill(int64_t now_ns) {
  if (now_ns <= last_ns_) return;
  double add = static_cast<double>(rate_) * static_cast<double>(now_ns - last_ns_) / 1e9;
  tokens_ = std::min(burst_, tokens_ + add);
  last_ns_ = now_ns;
}

int64_t TokenBucket::DelayNs(int64_t now_ns) {
  if (rate_ == 0) return 0;
  Refill(now_ns);
  if (tokens_ >= 0) return 0;
  return static_cast<int64_t>(std::ceil(-tokens_ * 1e9 / static_cast<double>(rate_)));
}

void TokenBucket::Take(int64_t now_ns, uint64_t bytes) {
  if (rate_ == 0) return;
  Refill(now_ns);
  tokens_ -= static_cast<double>(bytes);
}

}  // namespace trib::bridge
