// CONNACK decoding and encoding.

#include "daemon/mqtt/connack.h"

#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

// MQTT 5 section 3.2.2.2: the reason codes a CONNACK may carry.
bool IsConnackReason(uint8_t rc) {
  // One line per group of codes, like the specification's table.
  // clang-format off
  switch (rc) {
    case 0x00: case 0x80: case 0x81: case 0x82: case 0x83: case 0x84: case 0x85: case 0x86:
    case 0x87: case 0x88: case 0x89: case 0x8A: case 0x8C: case 0x90: case 0x95: case 0x97:
    case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D: case 0x9F:
      return true;
    default:
      return false;
  }
  // clang-format on
}

}  // namespace

Status DecodeConnack(uint8_t flags, std::string_view body, Version v, Connack* out) {
  out->props.Reset();
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2]
  wire::Reader r(body);
  uint8_t ack_flags = 0, code = 0;
  if (!r.U8(&ack_flags) || !r.U8(&code)) return Malformed("truncated CONNACK");
  if (ack_flags & 0xFE) return Malformed("CONNACK reserved flags set");  // [MQTT-3.2.2-1]
  out->session_present = (ack_flags & 1) != 0;
  if (v == Version::k311 || r.empty()) {
    // 3.1.1 (or a 3.1.1-style answer to a 5.0 CONNECT): two bytes, return code 0..5.
    if (!r.empty()) return Malformed("bytes after the CONNACK return code");
    if (code > 5) {
      if (v == Version::k311) return Malformed("undefined CONNACK return code");
      if (!IsConnackReason(code)) return ProtocolError("undefined CONNACK reason code");
      out->reason = static_cast<ReasonCode>(code);
    } else {
      out->reason = FromConnectReturn311(static_cast<ConnectReturn311>(code));
    }
  } else {
    if (!IsConnackReason(code)) return ProtocolError("undefined CONNACK reason code");
    out->reason = static_cast<ReasonCode>(code);
    Status st = wire::ReadProperties(r, PropertyContext::kConnack, &out->props);
    if (!st.ok()) return st;
    if (!r.empty()) return Malformed("bytes after the CONNACK properties");
  }
  if (out->session_present && IsError(out->reason)) {
    return ProtocolError("session present with a failure code");  // [MQTT-3.2.2-4]
  }
  return Status::Ok();
}

void EncodeConnack(std::string* out, Version v, const Connack& c) {
  wire::Writer w(out);
  if (v == Version::k311) {
    w.Reserve(4);
    w.FixedHeader(PacketType::kConnack, 0, 2);
    w.U8(c.session_present ? 1 : 0);
    w.U8(static_cast<uint8_t>(ToConnectReturn311(c.reason)));
    return;
  }
  const size_t props = PropertiesSize(c.props);
  const size_t rl = 2 + VarintSize(static_cast<uint32_t>(props)) + props;
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kConnack, 0, static_cast<uint32_t>(rl));
  w.U8(c.session_present ? 1 : 0);
  w.U8(static_cast<uint8_t>(c.reason));
  w.Varint(static_cast<uint32_t>(props));
  AppendProperties(out, c.props);
}

}  // namespace trib::mqtt
