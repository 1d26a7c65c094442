#include "tools/loadgen/bench.h"
#include "tools/loadgen/client.h"
#include "tools/loadgen/payload.h"

namespace trib::loadgen {

Subscriber::Subscriber(Bench* bench, uv_loop_t* loop, int index)
    : Client(bench, loop, bench->options().client_prefix + "s" + std::to_string(index)),
      per_pub_(static_cast<size_t>(bench->options().publishers)) {}

void Subscriber::OnSessionUp(const mqtt::Connack&) {
  mqtt::Subscribe s;
  s.packet_id = 1;
  s.subscriptions.push_back(
      {opt_.filter, static_cast<uint8_t>(opt_.sub_qos < 0 ? opt_.qos : opt_.sub_qos)});
  mqtt::EncodeSubscribe(conn_.out(), opt_.version, s);
  conn_.Flush();
}

bool Subscriber::OnSessionPacket(const mqtt::Frame& f, std::string_view body) {
  switch (f.type) {
    case mqtt::PacketType::kPublish:
      return HandlePublish(f, body);
    case mqtt::PacketType::kPubrel: {
      mqtt::Ack a;
      mqtt::Status s = mqtt::DecodeAck(f.type, f.flags, body, opt_.version, &a);
      if (!s.ok()) return Fail(std::string("bad PUBREL: ") + s.why());
      mqtt::EncodeAck(conn_.out(), opt_.version, mqtt::PacketType::kPubcomp, a.packet_id);
      return true;
    }
    case mqtt::PacketType::kSuback: {
      mqtt::Suback sa;
      mqtt::Status s = mqtt::DecodeSuback(f.flags, body, opt_.version, &sa);
      if (!s.ok()) return Fail(std::string("bad SUBACK: ") + s.why());
      if (sa.reasons.empty() || mqtt::IsError(sa.reasons[0])) {
        return Fail(std::string("subscription refused: ") +
                    mqtt::ReasonName(sa.reasons.empty() ? mqtt::ReasonCode::kUnspecifiedError
                                                        : sa.reasons[0]));
      }
      bench_->ClientUp(this);
      return true;
    }
    default:
      return Fail(std::string("subscriber got ") + mqtt::PacketTypeName(f.type));
  }
}

bool Subscriber::HandlePublish(const mqtt::Frame& f, std::string_view body) {
  mqtt::Status s = mqtt::DecodePublish(f.flags, body, opt_.version, &pub_);
  if (!s.ok()) return Fail(std::string("bad PUBLISH: ") + s.why());
  Count(pub_.payload, uv_hrtime());
  if (pub_.qos == 1) {
    mqtt::EncodeAck(conn_.out(), opt_.version, mqtt::PacketType::kPuback, pub_.packet_id);
  } else if (pub_.qos == 2) {
    mqtt::EncodeAck(conn_.out(), opt_.version, mqtt::PacketType::kPubrec, pub_.packet_id);
  }
  return true;
}

void Subscriber::Count(std::string_view payload, uint64_t now_ns) {
  PayloadHeader h;
  if (!ReadHeader(payload, &h) || h.run_id != bench_->run_id() || h.publisher >= per_pub_.size()) {
    foreign_++;
    return;
  }
  received_++;
  last_recv_ns_ = now_ns;
  FromPublisher& from = per_pub_[h.publisher];
  if (!from.seen.Insert(h.seq)) {
    duplicates_++;
    return;
  }
  bench_->MarkSeen(h.publisher, h.seq);
  unique_++;
  latency_.Record(now_ns > h.sent_ns ? now_ns - h.sent_ns : 0);
  if (from.any && h.seq < from.highest) reordered_++;
  if (!from.any || h.seq > from.highest) from.highest = h.seq;
  from.any = true;
}

}  // namespace trib::loadgen
