// AUTH decoding and encoding.

#include "daemon/mqtt/auth.h"

#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

Status DecodeAuth(uint8_t flags, std::string_view body, Version v, Auth* out) {
  out->reason = ReasonCode::kSuccess;
  out->props.Reset();
  if (v != Version::k5) return Malformed("AUTH in MQTT 3.1.1");
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-3.15.1-1]
  wire::Reader r(body);
  if (r.empty()) return Status::Ok();
  uint8_t rc = 0;
  (void)r.U8(&rc);
  if (rc != 0x00 && rc != 0x18 && rc != 0x19) {
    return ProtocolError("reason code not allowed here");  // [MQTT-3.15.2-1]
  }
  out->reason = static_cast<ReasonCode>(rc);
  if (r.empty()) return ProtocolError("AUTH without authentication method");
  Status st = wire::ReadProperties(r, PropertyContext::kAuth, &out->props);
  if (!st.ok()) return st;
  if (!r.empty()) return Malformed("bytes after the properties");
  if (!out->props.authentication_method) {
    return ProtocolError("AUTH without authentication method");  // 3.15.2.2.2
  }
  return Status::Ok();
}

void EncodeAuth(std::string* out, Version /*v*/, const Auth& a) {
  const size_t psize = PropertiesSize(a.props);
  wire::Writer w(out);
  if (psize == 0 && a.reason == ReasonCode::kSuccess) {
    w.FixedHeader(PacketType::kAuth, 0, 0);
    return;
  }
  const size_t rl = 1 + VarintSize(static_cast<uint32_t>(psize)) + psize;
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kAuth, 0, static_cast<uint32_t>(rl));
  w.U8(static_cast<uint8_t>(a.reason));
  w.Varint(static_cast<uint32_t>(psize));
  AppendProperties(out, a.props);
}

}  // namespace trib::mqtt
