// Fixed-header reading.

#include "daemon/mqtt/frame.h"

#include "daemon/mqtt/varint.h"

namespace trib::mqtt {

namespace {

Frame Bad(const char* why) {
  Frame f;
  f.status = FrameStatus::kMalformed;
  f.reason = ReasonCode::kMalformedPacket;
  f.why = why;
  return f;
}

}  // namespace

Frame ReadFrame(const uint8_t* data, size_t len, uint32_t max_packet_size) {
  Frame f;
  if (len < 2) return f;  // kNeedMore
  const uint8_t b0 = data[0];
  const auto type = static_cast<PacketType>(b0 >> 4);
  const uint8_t flags = b0 & 0x0F;
  if (type == PacketType::kReserved) return Bad("reserved packet type 0");
  if (type == PacketType::kPublish) {
    if ((flags & 0x06) == 0x06) return Bad("PUBLISH with QoS 3");  // [MQTT-3.3.1-4]
  } else if (flags != RequiredFlags(type)) {
    return Bad("reserved fixed-header flags wrong");  // [MQTT-2.2.2-1], [MQTT-2.2.2-2]
  }
  uint32_t rl = 0;
  size_t used = 0;
  switch (DecodeVarint(data + 1, len - 1, &rl, &used)) {
    case VarintResult::kNeedMore:
      return f;
    case VarintResult::kMalformed:
      return Bad("bad remaining length");
    case VarintResult::kOk:
      break;
  }
  f.type = type;
  f.flags = flags;
  f.header_len = static_cast<uint8_t>(1 + used);
  f.remaining_length = rl;
  f.total_len = f.header_len + rl;
  if (f.total_len > max_packet_size) {
    f.status = FrameStatus::kTooLarge;
    f.reason = ReasonCode::kPacketTooLarge;
    f.why = "packet larger than the maximum packet size";
    return f;
  }
  f.status = len >= f.total_len ? FrameStatus::kPacket : FrameStatus::kNeedMore;
  return f;
}

}  // namespace trib::mqtt
