// Counting helpers for the load generator: a log-linear latency histogram
// (about 0.8% relative error, fixed memory, O(1) record) and a growable set of
// sequence numbers for finding lost and duplicated messages.
//
// Thread: values; one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace trib::loadgen {

class Histogram {
 public:
  Histogram();
  void Record(uint64_t v);
  void Merge(const Histogram& o);
  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }
  double mean() const { return count_ ? static_cast<double>(sum_) / count_ : 0; }
  // The value at quantile q in [0, 1] (bucket midpoint); 0 when empty.
  uint64_t Quantile(double q) const;

 private:
  static size_t Index(uint64_t v);
  static uint64_t Value(size_t index);
  std::vector<uint64_t> buckets_;
  uint64_t count_ = 0, max_ = 0;
  unsigned __int128 sum_ = 0;
};

// Sequence numbers seen, as a bitmap that grows to the largest one.
class SeqSet {
 public:
  // Adds seq; returns false if it was already present.
  bool Insert(uint64_t seq);
  bool Contains(uint64_t seq) const;
  uint64_t size() const { return size_; }
  // How many members of `want` are not in this set.
  uint64_t MissingFrom(const SeqSet& want) const;

 private:
  std::vector<uint64_t> words_;
  uint64_t size_ = 0;
};

}  // namespace trib::loadgen
