// PUBACK / PUBREC / PUBREL / PUBCOMP decoding and encoding.

#include "daemon/mqtt/ack.h"

#include "daemon/mqtt/frame.h"
#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

// MQTT 5 sections 3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1.
bool IsAllowedReason(PacketType t, uint8_t rc) {
  if (t == PacketType::kPubrel || t == PacketType::kPubcomp) return rc == 0x00 || rc == 0x92;
  // One line per group of codes, like the specification's table.
  // clang-format off
  switch (rc) {
    case 0x00: case 0x10: case 0x80: case 0x83: case 0x87: case 0x90: case 0x91: case 0x97:
    case 0x99:
      return true;
    default:
      return false;
  }
  // clang-format on
}

}  // namespace

Status DecodeAck(PacketType type, uint8_t flags, std::string_view body, Version v, Ack* out) {
  out->type = type;
  out->reason = ReasonCode::kSuccess;
  out->props.Reset();
  if (flags != RequiredFlags(type)) {
    return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2], [MQTT-3.6.1-1]
  }
  wire::Reader r(body);
  if (!r.U16(&out->packet_id)) return Malformed("truncated packet identifier");
  if (v == Version::k311) {
    if (!r.empty()) return Malformed("acknowledgement longer than 2 bytes");
  } else if (!r.empty()) {
    uint8_t rc = 0;
    (void)r.U8(&rc);
    if (!IsAllowedReason(type, rc)) return ProtocolError("reason code not allowed here");
    out->reason = static_cast<ReasonCode>(rc);
    if (!r.empty()) {  // 3.4.2.2: no Property Length means no properties
      Status st = wire::ReadProperties(r, PropertyContext::kAck, &out->props);
      if (!st.ok()) return st;
      if (!r.empty()) return Malformed("bytes after the properties");
    }
  }
  if (out->packet_id == 0) return ProtocolError("packet identifier 0");  // [MQTT-2.3.1-1]
  return Status::Ok();
}

void EncodeAck(std::string* out, Version v, const Ack& a) {
  const size_t props = v == Version::k5 ? PropertiesSize(a.props) : 0;
  if (props == 0) {
    EncodeAck(out, v, a.type, a.packet_id, a.reason);
    return;
  }
  const size_t rl = 3 + VarintSize(static_cast<uint32_t>(props)) + props;
  wire::Writer w(out);
  w.Reserve(5 + rl);
  w.FixedHeader(a.type, RequiredFlags(a.type), static_cast<uint32_t>(rl));
  w.U16(a.packet_id);
  w.U8(static_cast<uint8_t>(a.reason));
  w.Varint(static_cast<uint32_t>(props));
  AppendProperties(out, a.props);
}

void EncodeAck(std::string* out, Version v, PacketType type, uint16_t packet_id,
               ReasonCode reason) {
  const bool with_reason = v == Version::k5 && reason != ReasonCode::kSuccess;
  const char b[5] = {static_cast<char>((static_cast<uint8_t>(type) << 4) | RequiredFlags(type)),
                     static_cast<char>(with_reason ? 3 : 2), static_cast<char>(packet_id >> 8),
                     static_cast<char>(packet_id), static_cast<char>(reason)};
  out->append(b, with_reason ? 5 : 4);
}

}  // namespace trib::mqtt
