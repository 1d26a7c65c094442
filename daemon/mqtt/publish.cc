// PUBLISH decoding and encoding: the broker's hot path. Decoding is a handful
// of bounds checks plus one UTF-8 scan of the topic; encoding computes the
// size once, reserves, and appends header, topic, properties and payload.

#include "daemon/mqtt/publish.h"

#include "daemon/mqtt/topic.h"
#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

// The property block size of `p`, not counting raw_properties' own length prefix.
size_t PropsSize(const PublishOut& p) {
  size_t n = p.raw_properties.size();
  if (p.message_expiry_interval) n += 5;
  for (uint32_t id : p.subscription_identifiers) n += 1 + VarintSize(id);
  if (p.topic_alias) n += 3;
  return n;
}

size_t BodySize(Version v, const PublishOut& p, size_t props) {
  size_t rl = wire::StrSize(p.topic) + p.payload.size();
  if (p.qos > 0) rl += 2;
  if (v == Version::k5) rl += VarintSize(static_cast<uint32_t>(props)) + props;
  return rl;
}

}  // namespace

Status DecodePublish(uint8_t flags, std::string_view body, Version v, Publish* out) {
  out->dup = (flags & 0x08) != 0;
  out->qos = (flags >> 1) & 3;
  out->retain = (flags & 0x01) != 0;
  out->packet_id = 0;
  if (out->qos == 3) return Malformed("PUBLISH with QoS 3");              // [MQTT-3.3.1-4]
  if (out->qos == 0 && out->dup) return Malformed("DUP set with QoS 0");  // [MQTT-3.3.1-2]
  wire::Reader r(body);
  Status st = r.String(&out->topic, "truncated topic", "topic is not valid UTF-8");
  if (!st.ok()) return st;  // [MQTT-3.3.2-1]
  if (!out->topic.empty() || v == Version::k311) {
    st = ValidateTopicName(out->topic, /*check_utf8=*/false);  // [MQTT-3.3.2-2], [MQTT-4.7.3-1]
    if (!st.ok()) return st;
  }
  if (out->qos > 0) {
    if (!r.U16(&out->packet_id)) return Malformed("truncated packet identifier");
    if (out->packet_id == 0) return ProtocolError("packet identifier 0");  // [MQTT-2.3.1-1]
  }
  if (v == Version::k5) {
    st = wire::ReadProperties(r, PropertyContext::kPublish, &out->props);
    if (!st.ok()) return st;
    if (out->topic.empty() && !out->props.topic_alias) {
      return ProtocolError("empty topic without topic alias");  // 3.3.2.1
    }
  } else {
    out->props.Reset();
  }
  out->payload = r.Rest();
  return Status::Ok();
}

size_t PublishSize(Version v, const PublishOut& p) {
  const size_t rl = BodySize(v, p, PropsSize(p));
  return 1 + VarintSize(static_cast<uint32_t>(rl)) + rl;
}

void EncodePublish(std::string* out, Version v, const PublishOut& p) {
  const size_t props = v == Version::k5 ? PropsSize(p) : 0;
  const size_t rl = BodySize(v, p, props);
  const uint8_t flags =
      static_cast<uint8_t>((p.dup ? 0x08 : 0) | ((p.qos & 3) << 1) | (p.retain ? 0x01 : 0));
  wire::Writer w(out);
  w.Reserve(5 + rl);
  w.FixedHeader(PacketType::kPublish, flags, static_cast<uint32_t>(rl));
  w.String(p.topic);
  if (p.qos > 0) w.U16(p.packet_id);
  if (v == Version::k5) {
    w.Varint(static_cast<uint32_t>(props));
    if (p.message_expiry_interval) {
      w.U8(static_cast<uint8_t>(PropertyId::kMessageExpiryInterval));
      w.U32(*p.message_expiry_interval);
    }
    for (uint32_t id : p.subscription_identifiers) {
      w.U8(static_cast<uint8_t>(PropertyId::kSubscriptionIdentifier));
      w.Varint(id);
    }
    if (p.topic_alias) {
      w.U8(static_cast<uint8_t>(PropertyId::kTopicAlias));
      w.U16(p.topic_alias);
    }
    w.Raw(p.raw_properties);
  }
  w.Raw(p.payload);
}

PublishOut ToPublishOut(const Publish& p) {
  PublishOut o;
  o.topic = p.topic;
  o.payload = p.payload;
  o.qos = p.qos;
  o.retain = p.retain;
  o.dup = p.dup;
  o.packet_id = p.packet_id;
  o.raw_properties = p.props.raw;
  return o;
}

}  // namespace trib::mqtt
