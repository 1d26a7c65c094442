// DISCONNECT decoding and encoding.

#include "daemon/mqtt/disconnect.h"

#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

// MQTT 5 section 3.14.2.1.
bool IsDisconnectReason(uint8_t rc) {
  // One line per group of codes, like the specification's table.
  // clang-format off
  switch (rc) {
    case 0x00: case 0x04: case 0x80: case 0x81: case 0x82: case 0x83: case 0x87: case 0x89:
    case 0x8B: case 0x8D: case 0x8E: case 0x8F: case 0x90: case 0x93: case 0x94: case 0x95:
    case 0x96: case 0x97: case 0x98: case 0x99: case 0x9A: case 0x9B: case 0x9C: case 0x9D:
    case 0x9E: case 0x9F: case 0xA0: case 0xA1: case 0xA2:
      return true;
    default:
      return false;
  }
  // clang-format on
}

}  // namespace

Status DecodeDisconnect(uint8_t flags, std::string_view body, Version v, Disconnect* out) {
  out->reason = ReasonCode::kNormalDisconnection;
  out->props.Reset();
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2]
  wire::Reader r(body);
  if (r.empty()) return Status::Ok();
  if (v == Version::k311) return Malformed("DISCONNECT with a body");
  uint8_t rc = 0;
  (void)r.U8(&rc);
  if (!IsDisconnectReason(rc)) return ProtocolError("reason code not allowed here");
  out->reason = static_cast<ReasonCode>(rc);
  if (r.empty()) return Status::Ok();
  Status st = wire::ReadProperties(r, PropertyContext::kDisconnect, &out->props);
  if (!st.ok()) return st;
  return r.empty() ? Status::Ok() : Malformed("bytes after the properties");
}

void EncodeDisconnect(std::string* out, Version v, const Disconnect& d) {
  const size_t psize = v == Version::k5 ? PropertiesSize(d.props) : 0;
  wire::Writer w(out);
  if (v == Version::k311 || (psize == 0 && d.reason == ReasonCode::kNormalDisconnection)) {
    w.FixedHeader(PacketType::kDisconnect, 0, 0);
    return;
  }
  const size_t rl = 1 + (psize ? VarintSize(static_cast<uint32_t>(psize)) + psize : 0);
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kDisconnect, 0, static_cast<uint32_t>(rl));
  w.U8(static_cast<uint8_t>(d.reason));
  if (psize) {
    w.Varint(static_cast<uint32_t>(psize));
    AppendProperties(out, d.props);
  }
}

void EncodeDisconnect(std::string* out, Version v, ReasonCode reason,
                      std::string_view reason_string) {
  Disconnect d;
  d.reason = reason;
  if (!reason_string.empty()) d.props.reason_string = reason_string;
  EncodeDisconnect(out, v, d);
}

}  // namespace trib::mqtt
