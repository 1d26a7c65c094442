// MQTT 5 property blocks: a table of identifier -> (value type, packets where
// it is allowed), one parse loop, and one emitter shared by sizing and writing.

#include "daemon/mqtt/properties.h"

#include <array>
#include <tuple>

#include "daemon/mqtt/topic.h"
#include "daemon/mqtt/varint.h"
#include "daemon/mqtt/wire.h"

namespace trib::mqtt {

namespace {

enum class Kind : uint8_t { kNone, kByte, kBool, kU16, kU32, kVarint, kString, kBinary, kPair };

struct Spec {
  Kind kind = Kind::kNone;
  uint16_t contexts = 0;  // bit per PropertyContext
};

constexpr uint16_t Bit(PropertyContext c) {
  return static_cast<uint16_t>(1u << static_cast<int>(c));
}

using C = PropertyContext;
constexpr uint16_t kPubWill = Bit(C::kPublish) | Bit(C::kWill);
constexpr uint16_t kAll = 0x7FF;

// MQTT 5 section 2.2.2.2, Table 2-4.
constexpr std::array<Spec, 0x2B> MakeSpecs() {
  std::array<Spec, 0x2B> s{};
  s[0x01] = {Kind::kBool, kPubWill};  // Payload Format Indicator: 0 or 1
  s[0x02] = {Kind::kU32, kPubWill};
  s[0x03] = {Kind::kString, kPubWill};
  s[0x08] = {Kind::kString, kPubWill};
  s[0x09] = {Kind::kBinary, kPubWill};
  s[0x0B] = {Kind::kVarint, Bit(C::kPublish) | Bit(C::kSubscribe)};
  s[0x11] = {Kind::kU32, Bit(C::kConnect) | Bit(C::kConnack) | Bit(C::kDisconnect)};
  s[0x12] = {Kind::kString, Bit(C::kConnack)};
  s[0x13] = {Kind::kU16, Bit(C::kConnack)};
  s[0x15] = {Kind::kString, Bit(C::kConnect) | Bit(C::kConnack) | Bit(C::kAuth)};
  s[0x16] = {Kind::kBinary, Bit(C::kConnect) | Bit(C::kConnack) | Bit(C::kAuth)};
  s[0x17] = {Kind::kBool, Bit(C::kConnect)};
  s[0x18] = {Kind::kU32, Bit(C::kWill)};
  s[0x19] = {Kind::kBool, Bit(C::kConnect)};
  s[0x1A] = {Kind::kString, Bit(C::kConnack)};
  s[0x1C] = {Kind::kString, Bit(C::kConnack) | Bit(C::kDisconnect)};
  s[0x1F] = {Kind::kString, Bit(C::kConnack) | Bit(C::kAck) | Bit(C::kSuback) | Bit(C::kUnsuback) |
                                Bit(C::kDisconnect) | Bit(C::kAuth)};
  s[0x21] = {Kind::kU16, Bit(C::kConnect) | Bit(C::kConnack)};
  s[0x22] = {Kind::kU16, Bit(C::kConnect) | Bit(C::kConnack)};
  s[0x23] = {Kind::kU16, Bit(C::kPublish)};
  s[0x24] = {Kind::kBool, Bit(C::kConnack)};  // Maximum QoS: 0 or 1
  s[0x25] = {Kind::kBool, Bit(C::kConnack)};
  s[0x26] = {Kind::kPair, kAll};
  s[0x27] = {Kind::kU32, Bit(C::kConnect) | Bit(C::kConnack)};
  s[0x28] = {Kind::kBool, Bit(C::kConnack)};
  s[0x29] = {Kind::kBool, Bit(C::kConnack)};
  s[0x2A] = {Kind::kBool, Bit(C::kConnack)};
  return s;
}
constexpr std::array<Spec, 0x2B> kSpecs = MakeSpecs();

template <class T, class V>
Status SetOnce(std::optional<T>* slot, V v) {
  if (slot->has_value()) return ProtocolError("duplicate property");
  *slot = static_cast<T>(v);
  return Status::Ok();
}

// One property's value, read according to its kind.
struct Value {
  uint32_t num = 0;
  std::string_view str;
  std::string_view str2;
};

Status ReadValue(wire::Reader& r, Kind kind, Value* v) {
  bool ok = true;
  switch (kind) {
    case Kind::kByte:
    case Kind::kBool: {
      uint8_t b = 0;
      ok = r.U8(&b);
      v->num = b;
      if (ok && kind == Kind::kBool && b > 1) return ProtocolError("property value not 0 or 1");
      break;
    }
    case Kind::kU16: {
      uint16_t x = 0;
      ok = r.U16(&x);
      v->num = x;
      break;
    }
    case Kind::kU32:
      ok = r.U32(&v->num);
      break;
    case Kind::kVarint:
      ok = r.Varint(&v->num);
      break;
    case Kind::kBinary:
      ok = r.Binary(&v->str);
      break;
    case Kind::kString:
      return r.String(&v->str, "truncated property", "property string is not valid UTF-8");
    case Kind::kPair: {
      Status st = r.String(&v->str, "truncated user property", "user property is not valid UTF-8");
      if (!st.ok()) return st;
      return r.String(&v->str2, "truncated user property", "user property is not valid UTF-8");
    }
    case Kind::kNone:
      break;
  }
  return ok ? Status::Ok() : Malformed("truncated property");
}

Status NonZero(uint32_t v, const char* why) { return v == 0 ? ProtocolError(why) : Status::Ok(); }

Status Store(PropertyId id, PropertyContext ctx, const Value& v, Properties* p) {
  // One line per property, like the specification's table.
  // clang-format off
  switch (id) {
    case PropertyId::kPayloadFormatIndicator: return SetOnce(&p->payload_format_indicator, v.num);
    case PropertyId::kMessageExpiryInterval: return SetOnce(&p->message_expiry_interval, v.num);
    case PropertyId::kContentType: return SetOnce(&p->content_type, v.str);
    case PropertyId::kResponseTopic: {
      // A Response Topic is a topic name: no wildcards [MQTT-3.3.2-14].
      Status st = ValidateTopicName(v.str, /*check_utf8=*/false);
      if (!st.ok()) return Malformed("invalid response topic");
      return SetOnce(&p->response_topic, v.str);
    }
    case PropertyId::kCorrelationData: return SetOnce(&p->correlation_data, v.str);
    case PropertyId::kSubscriptionIdentifier:
      if (v.num == 0) return ProtocolError("subscription identifier 0");  // 3.3.2.3.8
      // Repeats only in a PUBLISH to a client matching several subscriptions.
      if (ctx != PropertyContext::kPublish && !p->subscription_identifiers.empty()) {
        return ProtocolError("duplicate subscription identifier");  // 3.8.2.1.2
      }
      p->subscription_identifiers.push_back(v.num);
      return Status::Ok();
    case PropertyId::kSessionExpiryInterval: return SetOnce(&p->session_expiry_interval, v.num);
    case PropertyId::kAssignedClientIdentifier:
      return SetOnce(&p->assigned_client_identifier, v.str);
    case PropertyId::kServerKeepAlive: return SetOnce(&p->server_keep_alive, v.num);
    case PropertyId::kAuthenticationMethod: return SetOnce(&p->authentication_method, v.str);
    case PropertyId::kAuthenticationData: return SetOnce(&p->authentication_data, v.str);
    case PropertyId::kRequestProblemInformation:
      return SetOnce(&p->request_problem_information, v.num != 0);
    case PropertyId::kWillDelayInterval: return SetOnce(&p->will_delay_interval, v.num);
    case PropertyId::kRequestResponseInformation:
      return SetOnce(&p->request_response_information, v.num != 0);
    case PropertyId::kResponseInformation: return SetOnce(&p->response_information, v.str);
    case PropertyId::kServerReference: return SetOnce(&p->server_reference, v.str);
    case PropertyId::kReasonString: return SetOnce(&p->reason_string, v.str);
    case PropertyId::kReceiveMaximum: {
      Status st = NonZero(v.num, "receive maximum 0");  // 3.1.2.11.3, 3.2.2.3.3
      return st.ok() ? SetOnce(&p->receive_maximum, v.num) : st;
    }
    case PropertyId::kTopicAliasMaximum: return SetOnce(&p->topic_alias_maximum, v.num);
    case PropertyId::kTopicAlias: {
      Status st = NonZero(v.num, "topic alias 0");  // [MQTT-3.3.2-8]
      return st.ok() ? SetOnce(&p->topic_alias, v.num) : st;
    }
    case PropertyId::kMaximumQos: return SetOnce(&p->maximum_qos, v.num);
    case PropertyId::kRetainAvailable: return SetOnce(&p->retain_available, v.num != 0);
    case PropertyId::kUserProperty:
      p->user_properties.push_back(UserProperty{v.str, v.str2});
      return Status::Ok();
    case PropertyId::kMaximumPacketSize: {
      Status st = NonZero(v.num, "maximum packet size 0");  // 3.1.2.11.4, 3.2.2.3.6
      return st.ok() ? SetOnce(&p->maximum_packet_size, v.num) : st;
    }
    case PropertyId::kWildcardSubscriptionAvailable:
      return SetOnce(&p->wildcard_subscription_available, v.num != 0);
    case PropertyId::kSubscriptionIdentifierAvailable:
      return SetOnce(&p->subscription_identifier_available, v.num != 0);
    case PropertyId::kSharedSubscriptionAvailable:
      return SetOnce(&p->shared_subscription_available, v.num != 0);
  }
  // clang-format on
  return Malformed("unknown property");
}

// Reads the identifier of the next property and its table entry.
Status ReadId(wire::Reader& r, PropertyContext ctx, PropertyId* id, Kind* kind) {
  uint32_t n = 0;
  // The identifier is a Variable Byte Integer; every defined one fits in a byte.
  if (!r.Varint(&n)) return Malformed("bad property identifier");
  if (n >= kSpecs.size() || kSpecs[n].kind == Kind::kNone) return Malformed("unknown property");
  if ((kSpecs[n].contexts & Bit(ctx)) == 0) {
    return Malformed("property not allowed in this packet");  // 2.2.2.2
  }
  *id = static_cast<PropertyId>(n);
  *kind = kSpecs[n].kind;
  return Status::Ok();
}

// Calls the sink once per present property, in identifier order.
template <class Sink>
void Emit(const Properties& p, Sink& s) {
  using P = PropertyId;
  if (p.payload_format_indicator) s.Byte(P::kPayloadFormatIndicator, *p.payload_format_indicator);
  if (p.message_expiry_interval) s.U32(P::kMessageExpiryInterval, *p.message_expiry_interval);
  if (p.content_type) s.Str(P::kContentType, *p.content_type);
  if (p.response_topic) s.Str(P::kResponseTopic, *p.response_topic);
  if (p.correlation_data) s.Str(P::kCorrelationData, *p.correlation_data);
  for (uint32_t id : p.subscription_identifiers) s.Varint(P::kSubscriptionIdentifier, id);
  if (p.session_expiry_interval) s.U32(P::kSessionExpiryInterval, *p.session_expiry_interval);
  if (p.assigned_client_identifier) {
    s.Str(P::kAssignedClientIdentifier, *p.assigned_client_identifier);
  }
  if (p.server_keep_alive) s.U16(P::kServerKeepAlive, *p.server_keep_alive);
  if (p.authentication_method) s.Str(P::kAuthenticationMethod, *p.authentication_method);
  if (p.authentication_data) s.Str(P::kAuthenticationData, *p.authentication_data);
  if (p.request_problem_information) {
    s.Byte(P::kRequestProblemInformation, *p.request_problem_information);
  }
  if (p.will_delay_interval) s.U32(P::kWillDelayInterval, *p.will_delay_interval);
  if (p.request_response_information) {
    s.Byte(P::kRequestResponseInformation, *p.request_response_information);
  }
  if (p.response_information) s.Str(P::kResponseInformation, *p.response_information);
  if (p.server_reference) s.Str(P::kServerReference, *p.server_reference);
  if (p.reason_string) s.Str(P::kReasonString, *p.reason_string);
  if (p.receive_maximum) s.U16(P::kReceiveMaximum, *p.receive_maximum);
  if (p.topic_alias_maximum) s.U16(P::kTopicAliasMaximum, *p.topic_alias_maximum);
  if (p.topic_alias) s.U16(P::kTopicAlias, *p.topic_alias);
  if (p.maximum_qos) s.Byte(P::kMaximumQos, *p.maximum_qos);
  if (p.retain_available) s.Byte(P::kRetainAvailable, *p.retain_available);
  for (const UserProperty& u : p.user_properties) s.Pair(u.name, u.value);
  if (p.maximum_packet_size) s.U32(P::kMaximumPacketSize, *p.maximum_packet_size);
  if (p.wildcard_subscription_available) {
    s.Byte(P::kWildcardSubscriptionAvailable, *p.wildcard_subscription_available);
  }
  if (p.subscription_identifier_available) {
    s.Byte(P::kSubscriptionIdentifierAvailable, *p.subscription_identifier_available);
  }
  if (p.shared_subscription_available) {
    s.Byte(P::kSharedSubscriptionAvailable, *p.shared_subscription_available);
  }
}

struct SizeSink {
  size_t n = 0;
  void Byte(PropertyId, uint8_t) { n += 2; }
  void U16(PropertyId, uint16_t) { n += 3; }
  void U32(PropertyId, uint32_t) { n += 5; }
  void Varint(PropertyId, uint32_t v) { n += 1 + VarintSize(v); }
  void Str(PropertyId, std::string_view s) { n += 1 + wire::StrSize(s); }
  void Pair(std::string_view a, std::string_view b) {
    n += 1 + wire::StrSize(a) + wire::StrSize(b);
  }
};

struct WriteSink {
  wire::Writer w;
  void Id(PropertyId id) { w.U8(static_cast<uint8_t>(id)); }
  void Byte(PropertyId id, uint8_t v) {
    Id(id);
    w.U8(v);
  }
  void U16(PropertyId id, uint16_t v) {
    Id(id);
    w.U16(v);
  }
  void U32(PropertyId id, uint32_t v) {
    Id(id);
    w.U32(v);
  }
  void Varint(PropertyId id, uint32_t v) {
    Id(id);
    w.Varint(v);
  }
  void Str(PropertyId id, std::string_view s) {
    Id(id);
    w.String(s);
  }
  void Pair(std::string_view a, std::string_view b) {
    Id(PropertyId::kUserProperty);
    w.String(a);
    w.String(b);
  }
};

}  // namespace

void Properties::Reset() {
  std::vector<UserProperty> up = std::move(user_properties);
  std::vector<uint32_t> ids = std::move(subscription_identifiers);
  *this = Properties();
  up.clear();
  ids.clear();
  user_properties = std::move(up);
  subscription_identifiers = std::move(ids);
}

bool Properties::empty() const { return PropertiesSize(*this) == 0; }

bool Properties::operator==(const Properties& o) const {
  auto tie = [](const Properties& p) {
    return std::tie(p.payload_format_indicator, p.message_expiry_interval, p.content_type,
                    p.response_topic, p.correlation_data, p.session_expiry_interval,
                    p.assigned_client_identifier, p.server_keep_alive, p.authentication_method,
                    p.authentication_data, p.request_problem_information, p.will_delay_interval,
                    p.request_response_information, p.response_information, p.server_reference,
                    p.reason_string, p.receive_maximum, p.topic_alias_maximum, p.topic_alias,
                    p.maximum_qos, p.retain_available, p.maximum_packet_size,
                    p.wildcard_subscription_available, p.subscription_identifier_available,
                    p.shared_subscription_available, p.user_properties, p.subscription_identifiers);
  };
  return tie(*this) == tie(o);
}

Status ParseProperties(std::string_view block, PropertyContext context, Properties* out) {
  out->Reset();
  out->raw = block;
  wire::Reader r(block);
  while (!r.empty()) {
    PropertyId id;
    Kind kind;
    Status st = ReadId(r, context, &id, &kind);
    if (!st.ok()) return st;
    Value v;
    st = ReadValue(r, kind, &v);
    if (!st.ok()) return st;
    st = Store(id, context, v, out);
    if (!st.ok()) return st;
  }
  return Status::Ok();
}

size_t PropertiesSize(const Properties& p) {
  SizeSink s;
  Emit(p, s);
  return s.n;
}

size_t PropertyBlockSize(const Properties& p) {
  const size_t n = PropertiesSize(p);
  return VarintSize(static_cast<uint32_t>(n)) + n;
}

void AppendProperties(std::string* out, const Properties& p) {
  WriteSink s{wire::Writer(out)};
  Emit(p, s);
}

void AppendPropertyBlock(std::string* out, const Properties& p) {
  const size_t n = PropertiesSize(p);
  out->reserve(out->size() + VarintSize(static_cast<uint32_t>(n)) + n);
  AppendVarint(out, static_cast<uint32_t>(n));
  AppendProperties(out, p);
}

void AppendForwardableProperties(std::string* out, std::string_view raw) {
  wire::Reader r(raw);
  while (!r.empty()) {
    const size_t start = raw.size() - r.remaining();
    PropertyId id;
    Kind kind;
    Value v;
    if (!ReadId(r, PropertyContext::kPublish, &id, &kind).ok() || !ReadValue(r, kind, &v).ok()) {
      return;  // not a validated block: the REQUIRES was broken; copy no further
    }
    if (id == PropertyId::kTopicAlias || id == PropertyId::kSubscriptionIdentifier ||
        id == PropertyId::kMessageExpiryInterval) {
      continue;
    }
    const size_t end = raw.size() - r.remaining();
    out->append(raw.data() + start, end - start);
  }
}

}  // namespace trib::mqtt
