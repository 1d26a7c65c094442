#include "tools/loadgen/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace trib::loadgen {
namespace {

// Values below 2^kSubBits are exact; above, each power of two is cut into
// 2^(kSubBits-1) buckets.
constexpr int kSubBits = 8;
constexpr uint64_t kSub = 1ull << kSubBits;  // 256
constexpr uint64_t kHalf = kSub / 2;         // 128
constexpr size_t kBuckets = kSub + (64 - kSubBits) * kHalf;

}  // namespace

Histogram::Histogram() : buckets_(kBuckets, 0) {}

size_t Histogram::Index(uint64_t v) {
  if (v < kSub) return v;
  const int top = 63 - std::countl_zero(v);  // >= kSubBits
  const int shift = top - (kSubBits - 1);    // >= 1
  const uint64_t m = v >> shift;             // in [kHalf, kSub)
  return kSub + (shift - 1) * kHalf + (m - kHalf);
}

uint64_t Histogram::Value(size_t index) {
  if (index < kSub) return index;
  const size_t shift = (index - kSub) / kHalf + 1;
  const uint64_t m = (index - kSub) % kHalf + kHalf;
  return (m << shift) + ((1ull << shift) >> 1);
}

void Histogram::Record(uint64_t v) {
  buckets_[Index(v)]++;
  count_++;
  sum_ += v;
  max_ = std::max(max_, v);
}

void Histogram::Merge(const Histogram& o) {
  for (size_t i = 0; i < buckets_.size(); i++) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  sum_ += o.sum_;
  max_ = std::max(max_, o.max_);
}

uint64_t Histogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<uint64_t>(rank, 1, count_);
  uint64_t seen = 0;
  for (size_t i = 0; i < buckets_.size(); i++) {
    seen += buckets_[i];
    if (seen >= rank) return std::min(Value(i), max_);
  }
  return max_;
}

bool SeqSet::Insert(uint64_t seq) {
  const uint64_t w = seq >> 6, bit = 1ull << (seq & 63);
  if (w >= words_.size()) words_.resize(std::max<size_t>(w + 1, words_.size() * 2), 0);
  if (words_[w] & bit) return false;
  words_[w] |= bit;
  size_++;
  return true;
}

bool SeqSet::Contains(uint64_t seq) const {
  const uint64_t w = seq >> 6;
  return w < words_.size() && (words_[w] & (1ull << (seq & 63)));
}

uint64_t SeqSet::MissingFrom(const SeqSet& want) const {
  uint64_t missing = 0;
  for (size_t i = 0; i < want.words_.size(); i++) {
    const uint64_t have = i < words_.size() ? words_[i] : 0;
    missing += std::popcount(want.words_[i] & ~have);
  }
  return missing;
}

}  // namespace trib::loadgen
