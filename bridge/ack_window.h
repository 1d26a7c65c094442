// The acknowledgement window of one partition: which sent offsets the
// upstream has acknowledged, and how far the contiguous acknowledged prefix
// reaches (the value the cursor may be committed to).
//
// Offsets are sent in increasing order as spans (one record for mqtt and kafka,
// a whole stored batch for a peer); acks may come back in any order. Gaps
// (offsets deleted by retention or skipped as corrupt) are spans that need no
// ack. Memory: one small entry per span in flight.
//
// Thread: one owner (the exporter thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

namespace trib::bridge {

class AckWindow {
 public:
  explicit AckWindow(uint64_t base = 0) : base_(base), end_(base) {}

  // Forgets every span: base and end become `base` (a rewind after a lost
  // link, or the start after a cursor load).
  void Reset(uint64_t base);
  // REQUIRES: count > 0. Records [end, end + count) as sent, unacked.
  // `timestamp_ms` is the first record's (for lag).
  void Sent(uint32_t count, int64_t timestamp_ms);
  // REQUIRES: to >= end. Offsets [end, to) need no ack.
  void Skip(uint64_t to);
  // Marks the span starting at `first` acked. Returns false (and changes
  // nothing) when no unacked span starts there: a stale or duplicate ack.
  bool Ack(uint64_t first);

  uint64_t base() const { return base_; }  // first offset not acknowledged
  uint64_t end() const { return end_; }    // next offset to send
  uint64_t unacked_records() const;        // sent and not acknowledged
  size_t spans() const { return spans_.size(); }
  // Timestamp of the record at base if it is in flight, else 0.
  int64_t base_timestamp_ms() const;

 private:
  struct Span {
    uint64_t first;
    uint64_t count;
    int64_t timestamp_ms;
    bool acked;
  };
  void PopAcked();

  uint64_t base_;
  uint64_t end_;
  std::deque<Span> spans_;  // contiguous from base_ to end_; front is unacked
};

}  // namespace trib::bridge
