// CONNECT: version negotiation, client identifiers, session takeover and
// resumption, keep-alive, and the limits the server advertises in CONNACK.
#include <cstdio>

#include "daemon/broker.h"
#include "daemon/mqtt/connack.h"
#include "daemon/mqtt/ping.h"
#include "daemon/mqtt/topic.h"
#include "platform/clock.h"
#include "platform/log.h"

namespace trib {
namespace {

// The Topic Alias Maximum this server accepts from clients.
constexpr uint16_t kTopicAliasMaximum = 64;

std::string AssignClientId(uint64_t conn_id) {
  char buf[48];
  snprintf(buf, sizeof buf, "auto-%016llx-%llu", static_cast<unsigned long long>(clock::WallMs()),
           static_cast<unsigned long long>(conn_id));
  return buf;
}

}  // namespace

void Broker::RefuseConnect(Connection* c, mqtt::Version v, mqtt::ReasonCode rc, const char* why,
                           std::string_view client_id) {
  if (client_id.empty()) client_id = "-";
  LOG_INFO("refusing CONNECT from %s (%.*s): %s (%s)", c->peer().c_str(),
           static_cast<int>(client_id.size()), client_id.data(), mqtt::ReasonName(rc), why);
  mqtt::Connack ack;
  ack.reason = rc;
  if (v == mqtt::Version::k5 && c->problem_info) ack.props.reason_string = why;
  mqtt::EncodeConnack(c->out(), v, ack);
  // [MQTT-3.2.2-5] / [MQTT-3.2.2-7]: a refusing CONNACK is followed by a close.
  c->Close(why, /*flush=*/true);
}

void Broker::HandleConnect(Connection* c, std::string_view body, uint8_t flags) {
  if (c->state() != Connection::State::kNew) {
    // [MQTT-3.1.0-2]: a second CONNECT is a protocol violation.
    ProtocolFailure(c, mqtt::ProtocolError("second CONNECT on one connection"));
    return;
  }
  mqtt::Connect p;
  mqtt::Status st = mqtt::DecodeConnect(flags, body, &p);
  // Levels above 5 get a 5.0-format refusal (0x84), older ones the 3.1.1 form
  // (return code 1) [MQTT-3.1.2-2].
  mqtt::Version v = p.protocol_level >= 5 ? mqtt::Version::k5 : mqtt::Version::k311;
  c->version = v;
  if (!st.ok()) {
    if (st.code() == mqtt::ReasonCode::kUnsupportedProtocolVersion ||
        st.code() == mqtt::ReasonCode::kClientIdentifierNotValid) {
      RefuseConnect(c, v, st.code(), st.why());  // [MQTT-3.1.2-2], [MQTT-3.1.3-8]
    } else {
      ProtocolFailure(c, st);
    }
    return;
  }
  std::string client_id(p.client_id);  // the session keeps it (Connection::client_name)
  if (p.props.request_problem_information) c->problem_info = *p.props.request_problem_information;

  if (v == mqtt::Version::k5 && p.props.authentication_method) {
    // No enhanced authentication method is configured [MQTT-4.12.0-1].
    RefuseConnect(c, v, mqtt::ReasonCode::kBadAuthenticationMethod,
                  "no enhanced authentication method is supported", client_id);
    return;
  }
  std::string user;
  const char* why = "";
  mqtt::ReasonCode auth_rc = mqtt::ReasonCode::kSuccess;
  if (!Authenticate(c, p, &user, &why, &auth_rc)) {
    ++stats_.auth_failures;
    RefuseConnect(c, v, auth_rc, why, client_id);  // 3.1.1: return code 4 or 5 [MQTT-3.2.2-...]
    return;
  }
  if (p.will && (p.will->topic.size() > cfg_.limits.max_topic_length ||
                 mqtt::CountTopicLevels(p.will->topic) > cfg_.limits.max_topic_levels)) {
    RefuseConnect(c, v, mqtt::ReasonCode::kTopicNameInvalid, "will topic exceeds the limits", client_id);
    return;
  }

  mqtt::Connack ack;
  bool assigned = false;
  if (client_id.empty()) {
    // 5.0 [MQTT-3.1.3-6]/[MQTT-3.2.2-16], or 3.1.1 with Clean Session [MQTT-3.1.3-7].
    client_id = AssignClientId(c->id());
    assigned = true;
  }

  // Session expiry: 3.1.1 Clean Session=0 keeps the session "forever",
  // bounded by max_session_expiry like every 5.0 request.
  uint64_t max_expiry_s = static_cast<uint64_t>(cfg_.limits.max_session_expiry_ms / 1000);
  uint64_t want = 0;
  if (v == mqtt::Version::k5) {
    want = p.props.session_expiry_interval.value_or(0);
  } else if (!p.clean_start) {
    want = 0xFFFFFFFFull;
  }
  uint32_t granted = static_cast<uint32_t>(std::min<uint64_t>(want, max_expiry_s));

  // Session takeover [MQTT-3.1.4-3]: the old connection goes, with 0x8E in 5.0.
  Session* s = FindSession(client_id);
  if (s && s->conn) {
    Connection* old = s->conn;
    LOG_INFO("client %s: session taken over by %s (old connection %s)", client_id.c_str(),
             c->peer().c_str(), old->peer().c_str());
    SendDisconnect(old, mqtt::ReasonCode::kSessionTakenOver, "session taken over");
    s = FindSession(client_id);  // Detach may have ended a non-persistent session
  }
  bool present = false;
  if (s && p.clean_start) {
    DestroySession(s, /*forget_persisted=*/true);  // [MQTT-3.1.2-4]
    s = nullptr;
  }
  if (s) {
    present = true;  // [MQTT-3.2.2-2]
    s->will.reset();  // a reconnect before the will delay cancels the will [MQTT-3.1.3-9]
  } else {
    s = CreateSession(client_id);
  }
  s->expiry_interval = granted;
  s->username = user;
  s->anonymous = user.empty();
  s->conn = c;
  c->session = s;
  c->set_state(Connection::State::kConnected);

  if (p.will) {
    mqtt::Publish wp;
    wp.topic = p.will->topic;
    wp.payload = p.will->payload;
    wp.qos = p.will->qos;
    wp.retain = p.will->retain;
    wp.props = p.will->props;
    s->will = std::make_unique<Session::Will>();
    s->will->msg = MakeMessage(wp, wp.topic, s->id);
    s->will->delay = p.will->props.will_delay_interval.value_or(0);
  }

  // Keep-alive: a 5.0 client asking for more than max_keepalive (or for none)
  // is told the server's value [MQTT-3.2.2-21].
  uint16_t max_ka = static_cast<uint16_t>(std::min<int64_t>(cfg_.limits.max_keepalive_ms / 1000, 65535));
  c->keepalive_s = p.keep_alive;
  if (v == mqtt::Version::k5 && (p.keep_alive == 0 || p.keep_alive > max_ka)) {
    c->keepalive_s = max_ka;
    ack.props.server_keep_alive = max_ka;
  }
  if (v == mqtt::Version::k5) {
    c->receive_max_out = p.props.receive_maximum.value_or(65535);
    c->max_packet_out = p.props.maximum_packet_size.value_or(0);
    c->topic_alias_max_out = p.props.topic_alias_maximum.value_or(0);
    ack.props.receive_maximum = static_cast<uint16_t>(cfg_.limits.max_inflight);
    ack.props.maximum_packet_size = static_cast<uint32_t>(cfg_.limits.max_packet_size);
    c->receive_max_in = static_cast<uint32_t>(cfg_.limits.max_inflight);
    c->max_packet_in = static_cast<uint32_t>(cfg_.limits.max_packet_size);
    ack.props.topic_alias_maximum = kTopicAliasMaximum;
    if (assigned) ack.props.assigned_client_identifier = client_id;
    if (granted != want) ack.props.session_expiry_interval = granted;
  }
  ack.session_present = present;
  mqtt::EncodeConnack(c->out(), v, ack);
  c->MarkDirty();
  LOG_DEBUG("client %s connected from %s (MQTT %s, keep-alive %us, session %s, expiry %us)",
            client_id.c_str(), c->peer().c_str(), v == mqtt::Version::k5 ? "5.0" : "3.1.1",
            c->keepalive_s, present ? "resumed" : "new", granted);
  PersistSession(s);
  if (present) ResumeSession(s);
}

void Broker::OnPacket(Connection* c, const mqtt::Frame& f, std::string_view body) {
  using mqtt::PacketType;
  if (c->state() == Connection::State::kNew && f.type != PacketType::kConnect) {
    // [MQTT-3.1.0-1]: the first packet must be CONNECT.
    LOG_INFO("client %s: first packet is %s, not CONNECT", c->peer().c_str(),
             mqtt::PacketTypeName(f.type));
    ++stats_.malformed;
    c->Close("first packet not CONNECT");
    return;
  }
  switch (f.type) {
    case PacketType::kConnect:
      HandleConnect(c, body, f.flags);
      break;
    case PacketType::kPublish:
      HandlePublish(c, f.flags, body);
      break;
    case PacketType::kPuback:
    case PacketType::kPubrec:
    case PacketType::kPubrel:
    case PacketType::kPubcomp:
      HandleAck(c, f.type, f.flags, body);
      break;
    case PacketType::kSubscribe:
      HandleSubscribe(c, f.flags, body);
      break;
    case PacketType::kUnsubscribe:
      HandleUnsubscribe(c, f.flags, body);
      break;
    case PacketType::kPingreq: {
      mqtt::Status st = mqtt::DecodePing(f.type, f.flags, body);
      if (!st.ok()) return ProtocolFailure(c, st);
      mqtt::EncodePingresp(c->out());  // [MQTT-3.12.4-1]
      c->MarkDirty();
      break;
    }
    case PacketType::kDisconnect:
      HandleDisconnect(c, f.flags, body);
      break;
    case PacketType::kAuth:
      // No enhanced authentication was negotiated, so AUTH is a protocol
      // error [MQTT-4.12.0-1]; 3.1.1 has no AUTH at all.
      ProtocolFailure(c, c->version == mqtt::Version::k5
                             ? mqtt::ProtocolError("AUTH without an authentication method")
                             : mqtt::Malformed("AUTH is not an MQTT 3.1.1 packet"));
      break;
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP and reserved types are never sent
      // by a client.
      ProtocolFailure(c, mqtt::ProtocolError("packet type not allowed from a client"));
      break;
  }
}

void Broker::ProtocolFailure(Connection* c, const mqtt::Status& s) {
  ++stats_.malformed;
  LOG_WARN("client %s (%s): %s: %s; disconnecting", c->client_name(),
           c->peer().c_str(), mqtt::ReasonName(s.code()), s.why());
  if (c->state() == Connection::State::kConnected && c->version == mqtt::Version::k5) {
    SendDisconnect(c, s.code(), s.why());  // [MQTT-4.13.1-1]
  } else {
    c->Close(s.why());  // 3.1.1 has no DISCONNECT from the server [MQTT-4.8.0-1]
  }
}

void Broker::SendDisconnect(Connection* c, mqtt::ReasonCode rc, const char* why) {
  if (c->state() == Connection::State::kClosing) return;
  if (c->version == mqtt::Version::k5 && c->state() == Connection::State::kConnected) {
    mqtt::EncodeDisconnect(c->out(), c->version, rc, c->problem_info ? why : "");
  }
  c->Close(why, /*flush=*/true);
}

}  // namespace trib
