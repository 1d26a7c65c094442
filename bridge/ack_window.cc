#include "bridge/ack_window.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace trib::bridge {

void AckWindow::Reset(uint64_t base) {
  spans_.clear();
  base_ = end_ = base;
}

void AckWindow::Sent(uint32_t count, int64_t timestamp_ms) {
  if (count == 0) {
    fprintf(stderr, "AckWindow::Sent: empty span\n");
    abort();
  }
  spans_.push_back(Span{end_, count, timestamp_ms, false});
  end_ += count;
}

void AckWindow::Skip(uint64_t to) {
  if (to <= end_) return;
  if (spans_.empty()) {
    base_ = end_ = to;
    return;
  }
  spans_.push_back(Span{end_, to - end_, 0, true});
  end_ = to;
}

bool AckWindow::Ack(uint64_t first) {
  auto it = std::lower_bound(spans_.begin(), spans_.end(), first,
                             [](const Span& s, uint64_t f) { return s.first < f; });
  if (it == spans_.end() || it->first != first || it->acked) return false;
  it->acked = true;
  PopAcked();
  return true;
}

void AckWindow::PopAcked() {
  while (!spans_.empty() && spans_.front().acked) {
    base_ = spans_.front().first + spans_.front().count;
    spans_.pop_front();
  }
  if (spans_.empty()) base_ = end_;
}

uint64_t AckWindow::unacked_records() const {
  uint64_t n = 0;
  for (const Span& s : spans_) {
    if (!s.acked) n += s.count;
  }
  return n;
}

int64_t AckWindow::base_timestamp_ms() const {
  return spans_.empty() ? 0 : spans_.front().timestamp_ms;
}

}  // namespace trib::bridge
