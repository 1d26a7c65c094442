// SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK decoding and encoding.

#include "daemon/mqtt/subscribe.h"

#include "daemon/mqtt/frame.h"
#include "daemon/mqtt/topic.h"
#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

// MQTT 5 section 3.9.3.
bool IsSubackReason(uint8_t rc) {
  // One line per group of codes, like the specification's table.
  // clang-format off
  switch (rc) {
    case 0x00: case 0x01: case 0x02: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91:
    case 0x97: case 0x9E: case 0xA1: case 0xA2:
      return true;
    default:
      return false;
  }
  // clang-format on
}

// MQTT 5 section 3.11.3.
bool IsUnsubackReason(uint8_t rc) {
  // One line per group of codes, like the specification's table.
  // clang-format off
  switch (rc) {
    case 0x00: case 0x11: case 0x80: case 0x83: case 0x87: case 0x8F: case 0x91:
      return true;
    default:
      return false;
  }
  // clang-format on
}

// The packet identifier and, in 5.0, the properties that start all four packets.
Status ReadHeader(wire::Reader& r, Version v, PropertyContext ctx, uint16_t* packet_id,
                  Properties* props) {
  if (!r.U16(packet_id)) return Malformed("truncated packet identifier");
  if (*packet_id == 0) return ProtocolError("packet identifier 0");  // [MQTT-2.3.1-1]
  if (v == Version::k5) return wire::ReadProperties(r, ctx, props);
  return Status::Ok();
}

Status ReadFilter(wire::Reader& r, std::string_view* filter) {
  // [MQTT-3.8.3-1], [MQTT-3.10.3-1]: filters are UTF-8 strings.
  Status st = r.String(filter, "truncated topic filter", "topic filter is not valid UTF-8");
  if (!st.ok()) return st;
  return ValidateTopicFilter(*filter, /*check_utf8=*/false);
}

Status ReadOptions(wire::Reader& r, Version v, Subscription* s) {
  uint8_t o = 0;
  if (!r.U8(&o)) return Malformed("truncated subscription options");
  s->qos = o & 3;
  if (v == Version::k311) {
    if (o & 0xFC) return Malformed("reserved subscription option bits set");  // [MQTT-3-8.3-4]
    if (s->qos == 3) return Malformed("subscription QoS 3");                  // [MQTT-3-8.3-4]
    return Status::Ok();
  }
  if (o & 0xC0) return Malformed("reserved subscription option bits set");  // [MQTT-3.8.3-5]
  s->no_local = (o & 0x04) != 0;
  s->retain_as_published = (o & 0x08) != 0;
  s->retain_handling = (o >> 4) & 3;
  if (s->qos == 3) return ProtocolError("subscription QoS 3");             // 3.8.3.1
  if (s->retain_handling == 3) return ProtocolError("retain handling 3");  // 3.8.3.1
  if (s->no_local && s->filter.substr(0, 7) == "$share/") {
    return ProtocolError("no local on a shared subscription");  // [MQTT-3.8.3-4]
  }
  return Status::Ok();
}

// Reads the reason codes of a SUBACK or 5.0 UNSUBACK.
Status ReadReasons(wire::Reader& r, bool (*allowed)(uint8_t), Version v,
                   std::vector<ReasonCode>* out) {
  if (r.empty()) return ProtocolError("no reason code");
  while (!r.empty()) {
    uint8_t rc = 0;
    (void)r.U8(&rc);
    if (v == Version::k311) {
      if (rc > 2 && rc != 0x80) return Malformed("undefined SUBACK return code");  // [MQTT-3.9.3-2]
    } else if (!allowed(rc)) {
      return ProtocolError("reason code not allowed here");
    }
    out->push_back(static_cast<ReasonCode>(rc));
  }
  return Status::Ok();
}

void WriteAckList(std::string* out, PacketType type, Version v, uint16_t packet_id,
                  std::span<const ReasonCode> reasons, const Properties* props) {
  const bool v5 = v == Version::k5;
  const size_t psize = v5 && props ? PropertiesSize(*props) : 0;
  const bool with_codes = v5 || type == PacketType::kSuback;
  size_t rl = 2 + (with_codes ? reasons.size() : 0);
  if (v5) rl += VarintSize(static_cast<uint32_t>(psize)) + psize;
  wire::Writer w(out);
  w.Reserve(5 + rl);
  w.FixedHeader(type, 0, static_cast<uint32_t>(rl));
  w.U16(packet_id);
  if (v5) {
    w.Varint(static_cast<uint32_t>(psize));
    if (props) AppendProperties(out, *props);
  }
  if (!with_codes) return;
  for (ReasonCode rc : reasons) {
    // 3.1.1 SUBACK knows one failure code [MQTT-3.9.3-2].
    w.U8(!v5 && IsError(rc) ? 0x80 : static_cast<uint8_t>(rc));
  }
}

}  // namespace

Status DecodeSubscribe(uint8_t flags, std::string_view body, Version v, Subscribe* out) {
  out->subscriptions.clear();
  out->props.Reset();
  if (flags != 0x02) return Malformed("SUBSCRIBE flags not 0010");  // [MQTT-3.8.1-1]
  wire::Reader r(body);
  Status st = ReadHeader(r, v, PropertyContext::kSubscribe, &out->packet_id, &out->props);
  if (!st.ok()) return st;
  if (r.empty()) return ProtocolError("SUBSCRIBE without a topic filter");  // [MQTT-3.8.3-3]
  while (!r.empty()) {
    Subscription& s = out->subscriptions.emplace_back();
    st = ReadFilter(r, &s.filter);
    if (!st.ok()) return st;
    st = ReadOptions(r, v, &s);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

void EncodeSubscribe(std::string* out, Version v, const Subscribe& s) {
  const bool v5 = v == Version::k5;
  const size_t psize = v5 ? PropertiesSize(s.props) : 0;
  size_t rl = 2 + (v5 ? VarintSize(static_cast<uint32_t>(psize)) + psize : 0);
  for (const Subscription& sub : s.subscriptions) rl += wire::StrSize(sub.filter) + 1;
  wire::Writer w(out);
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kSubscribe, 0x02, static_cast<uint32_t>(rl));
  w.U16(s.packet_id);
  if (v5) {
    w.Varint(static_cast<uint32_t>(psize));
    AppendProperties(out, s.props);
  }
  for (const Subscription& sub : s.subscriptions) {
    w.String(sub.filter);
    uint8_t o = sub.qos & 3;
    if (v5) {
      o |= static_cast<uint8_t>((sub.no_local ? 0x04 : 0) | (sub.retain_as_published ? 0x08 : 0) |
                                ((sub.retain_handling & 3) << 4));
    }
    w.U8(o);
  }
}

Status DecodeSuback(uint8_t flags, std::string_view body, Version v, Suback* out) {
  out->reasons.clear();
  out->props.Reset();
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2]
  wire::Reader r(body);
  Status st = ReadHeader(r, v, PropertyContext::kSuback, &out->packet_id, &out->props);
  if (!st.ok()) return st;
  return ReadReasons(r, IsSubackReason, v, &out->reasons);
}

void EncodeSuback(std::string* out, Version v, const Suback& s) {
  EncodeSuback(out, v, s.packet_id, s.reasons, &s.props);
}

void EncodeSuback(std::string* out, Version v, uint16_t packet_id,
                  std::span<const ReasonCode> reasons, const Properties* props) {
  WriteAckList(out, PacketType::kSuback, v, packet_id, reasons, props);
}

Status DecodeUnsubscribe(uint8_t flags, std::string_view body, Version v, Unsubscribe* out) {
  out->filters.clear();
  out->props.Reset();
  if (flags != 0x02) return Malformed("UNSUBSCRIBE flags not 0010");  // [MQTT-3.10.1-1]
  wire::Reader r(body);
  Status st = ReadHeader(r, v, PropertyContext::kUnsubscribe, &out->packet_id, &out->props);
  if (!st.ok()) return st;
  if (r.empty()) return ProtocolError("UNSUBSCRIBE without a topic filter");  // [MQTT-3.10.3-2]
  while (!r.empty()) {
    st = ReadFilter(r, &out->filters.emplace_back());
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

void EncodeUnsubscribe(std::string* out, Version v, const Unsubscribe& u) {
  const bool v5 = v == Version::k5;
  const size_t psize = v5 ? PropertiesSize(u.props) : 0;
  size_t rl = 2 + (v5 ? VarintSize(static_cast<uint32_t>(psize)) + psize : 0);
  for (std::string_view f : u.filters) rl += wire::StrSize(f);
  wire::Writer w(out);
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kUnsubscribe, 0x02, static_cast<uint32_t>(rl));
  w.U16(u.packet_id);
  if (v5) {
    w.Varint(static_cast<uint32_t>(psize));
    AppendProperties(out, u.props);
  }
  for (std::string_view f : u.filters) w.String(f);
}

Status DecodeUnsuback(uint8_t flags, std::string_view body, Version v, Unsuback* out) {
  out->reasons.clear();
  out->props.Reset();
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2]
  wire::Reader r(body);
  Status st = ReadHeader(r, v, PropertyContext::kUnsuback, &out->packet_id, &out->props);
  if (!st.ok()) return st;
  if (v == Version::k311) {
    return r.empty() ? Status::Ok() : Malformed("UNSUBACK longer than 2 bytes");
  }
  return ReadReasons(r, IsUnsubackReason, v, &out->reasons);
}

void EncodeUnsuback(std::string* out, Version v, const Unsuback& u) {
  EncodeUnsuback(out, v, u.packet_id, u.reasons, &u.props);
}

void EncodeUnsuback(std::string* out, Version v, uint16_t packet_id,
                    std::span<const ReasonCode> reasons, const Properties* props) {
  WriteAckList(out, PacketType::kUnsuback, v, packet_id, reasons, props);
}

}  // namespace trib::mqtt
