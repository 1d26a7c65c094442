// CONNECT decoding and encoding.

#include "daemon/mqtt/connect.h"

#include "daemon/mqtt/topic.h"
#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

constexpr uint8_t kUserNameFlag = 0x80;
constexpr uint8_t kPasswordFlag = 0x40;
constexpr uint8_t kWillRetainFlag = 0x20;
constexpr uint8_t kWillQosMask = 0x18;
constexpr uint8_t kWillFlag = 0x04;
constexpr uint8_t kCleanStartFlag = 0x02;
constexpr uint8_t kReservedFlag = 0x01;

Status Unsupported(const char* why) { return Status(ReasonCode::kUnsupportedProtocolVersion, why); }

// Protocol Name and Protocol Level; sets out->version.
Status ReadProtocol(wire::Reader& r, Connect* out) {
  if (!r.Binary(&out->protocol_name) || !r.U8(&out->protocol_level)) {
    return Malformed("truncated CONNECT variable header");
  }
  out->version = out->protocol_level == 5 ? Version::k5 : Version::k311;
  if (out->protocol_name == "MQIsdp") return Unsupported("MQTT 3.1 is not supported");
  if (out->protocol_name != "MQTT") return Unsupported("unsupported protocol name");
  if (out->protocol_level != 4 && out->protocol_level != 5) {
    return Unsupported("unsupported protocol level");  // [MQTT-3.1.2-2]
  }
  return Status::Ok();
}

Status CheckFlags(uint8_t cf, Version v) {
  if (cf & kReservedFlag) return Malformed("CONNECT reserved flag set");  // [MQTT-3.1.2-3]
  const uint8_t will_qos = (cf & kWillQosMask) >> 3;
  if (!(cf & kWillFlag) && (will_qos != 0 || (cf & kWillRetainFlag))) {
    // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    return Malformed("will QoS or retain without will flag");
  }
  if (will_qos == 3) return Malformed("will QoS 3");  // [MQTT-3.1.2-14]
  if (v == Version::k311 && (cf & kPasswordFlag) && !(cf & kUserNameFlag)) {
    return Malformed("password without user name");  // [MQTT-3.1.2-22]
  }
  return Status::Ok();
}

Status ReadWill(wire::Reader& r, Version v, uint8_t cf, Will* will) {
  will->qos = (cf & kWillQosMask) >> 3;
  will->retain = (cf & kWillRetainFlag) != 0;
  if (v == Version::k5) {
    Status st = wire::ReadProperties(r, PropertyContext::kWill, &will->props);
    if (!st.ok()) return st;
  }
  Status st = r.String(&will->topic, "truncated will topic", "will topic is not valid UTF-8");
  if (!st.ok()) return st;
  st = ValidateTopicName(will->topic, /*check_utf8=*/false);  // [MQTT-3.1.3-10]
  if (!st.ok()) return Malformed("invalid will topic");
  if (!r.Binary(&will->payload)) return Malformed("truncated will payload");
  return Status::Ok();
}

Status ReadPayload(wire::Reader& r, uint8_t cf, Connect* out) {
  // [MQTT-3.1.3-4]: the client id is a UTF-8 string.
  Status st = r.String(&out->client_id, "truncated client id", "client id is not valid UTF-8");
  if (!st.ok()) return st;
  if (out->version == Version::k311 && out->client_id.empty() && !out->clean_start) {
    return Status(ReasonCode::kClientIdentifierNotValid,
                  "empty client id without clean session");  // [MQTT-3.1.3-8]
  }
  if (cf & kWillFlag) {
    st = ReadWill(r, out->version, cf, &out->will.emplace());
    if (!st.ok()) return st;
  }
  if (cf & kUserNameFlag) {
    std::string_view u;
    st = r.String(&u, "truncated user name", "user name is not valid UTF-8");  // [MQTT-3.1.3-11]
    if (!st.ok()) return st;
    out->username = u;
  }
  if (cf & kPasswordFlag) {
    std::string_view p;
    if (!r.Binary(&p)) return Malformed("truncated password");
    out->password = p;
  }
  if (!r.empty()) return Malformed("bytes after the CONNECT payload");
  return Status::Ok();
}

}  // namespace

Status DecodeConnect(uint8_t flags, std::string_view body, Connect* out) {
  out->will.reset();
  out->username.reset();
  out->password.reset();
  out->props.Reset();
  out->client_id = {};
  out->protocol_name = {};
  out->protocol_level = 0;
  out->version = Version::k311;  // until the level says otherwise
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2]
  wire::Reader r(body);
  Status st = ReadProtocol(r, out);
  if (!st.ok()) return st;
  uint8_t cf = 0;
  if (!r.U8(&cf) || !r.U16(&out->keep_alive)) return Malformed("truncated CONNECT flags");
  st = CheckFlags(cf, out->version);
  if (!st.ok()) return st;
  out->clean_start = (cf & kCleanStartFlag) != 0;
  if (out->version == Version::k5) {
    st = wire::ReadProperties(r, PropertyContext::kConnect, &out->props);
    if (!st.ok()) return st;
    if (out->props.authentication_data && !out->props.authentication_method) {
      return ProtocolError("authentication data without method");  // 3.1.2.11.10
    }
  }
  return ReadPayload(r, cf, out);
}

void EncodeConnect(std::string* out, const Connect& c) {
  const bool v5 = c.version == Version::k5;
  size_t rl = 10 + wire::StrSize(c.client_id);
  if (v5) rl += PropertyBlockSize(c.props);
  if (c.will) {
    rl += wire::StrSize(c.will->topic) + wire::StrSize(c.will->payload);
    if (v5) rl += PropertyBlockSize(c.will->props);
  }
  if (c.username) rl += wire::StrSize(*c.username);
  if (c.password) rl += wire::StrSize(*c.password);

  uint8_t cf = c.clean_start ? kCleanStartFlag : 0;
  if (c.will) {
    cf |= kWillFlag | static_cast<uint8_t>((c.will->qos & 3) << 3);
    if (c.will->retain) cf |= kWillRetainFlag;
  }
  if (c.username) cf |= kUserNameFlag;
  if (c.password) cf |= kPasswordFlag;

  wire::Writer w(out);
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kConnect, 0, static_cast<uint32_t>(rl));
  w.String("MQTT");
  w.U8(static_cast<uint8_t>(c.version));
  w.U8(cf);
  w.U16(c.keep_alive);
  if (v5) AppendPropertyBlock(out, c.props);
  w.String(c.client_id);
  if (c.will) {
    if (v5) AppendPropertyBlock(out, c.will->props);
    w.String(c.will->topic);
    w.String(c.will->payload);
  }
  if (c.username) w.String(*c.username);
  if (c.password) w.String(*c.password);
}

}  // namespace trib::mqtt
