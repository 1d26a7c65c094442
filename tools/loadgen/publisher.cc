#include <algorithm>
#include <limits>

#include "tools/loadgen/bench.h"
#include "tools/loadgen/client.h"
#include "tools/loadgen/payload.h"

namespace trib::loadgen {
namespace {

// Stop encoding into the pending buffer past this many bytes: one write of
// this size is plenty to keep the socket busy, and it bounds memory.
constexpr size_t kBatchBytes = 256 * 1024;
constexpr uint64_t kFree = std::numeric_limits<uint64_t>::max();

std::string ExpandTopic(std::string pattern, int index) {
  const std::string key = "{pub}", value = std::to_string(index);
  for (size_t at = pattern.find(key); at != std::string::npos; at = pattern.find(key, at)) {
    pattern.replace(at, key.size(), value);
    at += value.size();
  }
  return pattern;
}

}  // namespace

Publisher::Publisher(Bench* bench, uv_loop_t* loop, int index, uint64_t quota)
    : Client(bench, loop, bench->options().client_prefix + "p" + std::to_string(index)),
      index_(index),
      quota_(quota),
      topic_(ExpandTopic(bench->options().topic, index)),
      payload_(std::max(bench->options().payload, kHeaderBytes), 'x'),
      pid_seq_(65536, kFree),
      pid_state_(65536, 0) {
  rate_ = opt_.rate > 0 ? opt_.rate / opt_.publishers : 0;
}

void Publisher::OnSessionUp(const mqtt::Connack& c) {
  window_ = static_cast<uint32_t>(std::clamp(opt_.window, 1, 65535));
  // [MQTT-3.3.4-7]: never more unacknowledged QoS>0 PUBLISH than the receive maximum.
  if (c.props.receive_maximum) window_ = std::min<uint32_t>(window_, *c.props.receive_maximum);
  bench_->ClientUp(this);
}

void Publisher::Begin(uint64_t start_ns) {
  publishing_ = true;
  start_ns_ = start_ns;
  Pump(start_ns);
}

uint64_t Publisher::Budget(uint64_t now_ns) const {
  uint64_t n = quota_ - sent_;
  if (opt_.qos > 0) n = std::min<uint64_t>(n, window_ - std::min<uint64_t>(inflight_, window_));
  if (rate_ > 0) {
    const double elapsed = static_cast<double>(now_ns - start_ns_) / 1e9;
    const uint64_t allowed = static_cast<uint64_t>(elapsed * rate_) + 1;
    n = std::min<uint64_t>(n, allowed > sent_ ? allowed - sent_ : 0);
  }
  return n;
}

void Publisher::Pump(uint64_t now_ns) {
  if (!publishing_ || !conn_.open()) return;
  // Unpaced QoS 1/2: refill only once an eighth of the window is free, so a
  // broker that acknowledges one message per segment does not turn the
  // generator into one write per message (silly-window avoidance).
  if (opt_.qos > 0 && rate_ == 0 && inflight_ > 0 &&
      window_ - std::min<uint64_t>(inflight_, window_) < std::max<uint32_t>(1, window_ / 8)) {
    conn_.Flush();
    return;
  }
  uint64_t n = Budget(now_ns);
  std::string* out = conn_.out();
  for (uint64_t i = 0; i < n && out->size() < kBatchBytes; i++) PublishOne(uv_hrtime());
  conn_.Flush();
}

void Publisher::PublishOne(uint64_t now_ns) {
  PayloadHeader h;
  h.run_id = bench_->run_id();
  h.publisher = static_cast<uint32_t>(index_);
  h.seq = sent_;
  h.sent_ns = now_ns;
  WriteHeader(payload_.data(), h);
  mqtt::PublishOut p;
  p.topic = topic_;
  p.payload = payload_;
  p.qos = static_cast<uint8_t>(opt_.qos);
  if (opt_.qos > 0) {
    do {
      next_pid_ = static_cast<uint16_t>(next_pid_ + 1);
    } while (next_pid_ == 0 || pid_state_[next_pid_] != 0);
    p.packet_id = next_pid_;
    pid_seq_[next_pid_] = sent_;
    pid_state_[next_pid_] = 1;
    inflight_++;
  }
  mqtt::EncodePublish(conn_.out(), opt_.version, p);
  sent_++;
  last_send_ns_ = now_ns;
}

void Publisher::RequestFlush() {
  if (flush_requested_ || !conn_.open()) return;
  flush_requested_ = true;
  mqtt::EncodePingreq(conn_.out());
  conn_.Flush();
}

void Publisher::OnPingresp() {
  if (flush_requested_ && flushed_ns_ == 0) flushed_ns_ = uv_hrtime();
}

bool Publisher::OnSessionPacket(const mqtt::Frame& f, std::string_view body) {
  if (!mqtt::IsAckType(f.type) || f.type == mqtt::PacketType::kPubrel) {
    return Fail(std::string("publisher got ") + mqtt::PacketTypeName(f.type));
  }
  mqtt::Status s = mqtt::DecodeAck(f.type, f.flags, body, opt_.version, &ack_);
  if (!s.ok()) return Fail(std::string("bad ack: ") + s.why());
  return HandleAck(ack_);
}

bool Publisher::HandleAck(const mqtt::Ack& a) {
  const uint16_t pid = a.packet_id;
  const bool expect_final = (opt_.qos == 1 && a.type == mqtt::PacketType::kPuback) ||
                            (opt_.qos == 2 && a.type == mqtt::PacketType::kPubrec);
  if (expect_final && pid_state_[pid] == 1) {
    if (mqtt::IsError(a.reason)) {
      rejected_++;
    } else {
      acked_++;
      acked_set_.Insert(pid_seq_[pid]);
      last_ack_ns_ = uv_hrtime();
    }
    if (opt_.qos == 2 && !mqtt::IsError(a.reason)) {
      pid_state_[pid] = 2;
      mqtt::EncodeAck(conn_.out(), opt_.version, mqtt::PacketType::kPubrel, pid);
      return true;
    }
  } else if (!(opt_.qos == 2 && a.type == mqtt::PacketType::kPubcomp && pid_state_[pid] == 2)) {
    return Fail(std::string("unexpected ") + mqtt::PacketTypeName(a.type) + " for packet id " +
                std::to_string(pid));
  }
  pid_state_[pid] = 0;
  pid_seq_[pid] = kFree;
  inflight_--;
  return true;
}

}  // namespace trib::loadgen
