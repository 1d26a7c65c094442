// PUBLISH from a client: topic aliases, receive maximum, QoS 2 duplicate
// detection, then Ingest() (storage or straight delivery).
#include "daemon/broker.h"
#include "daemon/mqtt/topic.h"
#include "platform/log.h"

namespace trib {
namespace {
constexpr uint16_t kTopicAliasMaximum = 64;  // as advertised in CONNACK
}  // namespace

void Broker::HandlePublish(Connection* c, uint8_t flags, std::string_view body) {
  mqtt::Publish p;
  mqtt::Status st = mqtt::DecodePublish(flags, body, c->version, &p);
  if (!st.ok()) return ProtocolFailure(c, st);
  ++stats_.messages_in;
  stats_.bytes_in += body.size();

  std::string_view topic = p.topic;
  if (p.props.topic_alias) {
    uint16_t a = *p.props.topic_alias;
    if (a > kTopicAliasMaximum) {  // [MQTT-3.3.2-9]
      return ProtocolFailure(c, mqtt::Status(mqtt::ReasonCode::kTopicAliasInvalid,
                                             "topic alias above the maximum"));
    }
    std::vector<std::string>& aliases = c->Aliases().in;
    if (!topic.empty()) {
      if (aliases.size() < a) aliases.resize(a);
      aliases[a - 1] = std::string(topic);
    } else if (a > aliases.size() || aliases[a - 1].empty()) {
      return ProtocolFailure(c, mqtt::ProtocolError("unknown topic alias"));  // [MQTT-3.3.4-?]
    } else {
      topic = aliases[a - 1];
    }
  } else if (topic.empty()) {
    return ProtocolFailure(c, mqtt::ProtocolError("empty topic without a topic alias"));
  }
  if (topic.size() > cfg_.limits.max_topic_length ||
      mqtt::CountTopicLevels(topic) > cfg_.limits.max_topic_levels) {
    return ProtocolFailure(c, mqtt::Status(mqtt::ReasonCode::kTopicNameInvalid,
                                           "topic exceeds the configured length or levels"));
  }

  if (!ChargeRate(c)) {
    ++stats_.rate_limited;
    if (c->version == mqtt::Version::k5) {
      return ProtocolFailure(c, mqtt::Status(mqtt::ReasonCode::kMessageRateTooHigh,
                                             "publish rate above limits.max_publish_rate"));
    }
    // 3.1.1 has no reason code: take this message, then read no more until
    // the bucket refills (the tick resumes it).
    c->rate_paused = true;
    c->PauseReading();
  }
  if (p.qos > 0) {
    // [MQTT-3.3.4-7]/[MQTT-3.3.4-8]: more unacknowledged QoS>0 PUBLISH than
    // the Receive Maximum we advertised.
    if (c->version == mqtt::Version::k5 && c->inbound_unacked >= c->receive_max_in) {
      return ProtocolFailure(c, mqtt::Status(mqtt::ReasonCode::kReceiveMaximumExceeded,
                                             "receive maximum exceeded"));
    }
    ++c->inbound_unacked;
  }
  if (IsReplicateTopic(topic)) return HandleReplicate(c, p, topic);  // replicate.cc
  Session* s = c->session;
  if (topic.size() >= 4 && topic.compare(0, 4, "$SYS") == 0) {
    // Clients may not publish into the broker's own $SYS tree.
    if (p.qos == 1) QueueAck(c, mqtt::PacketType::kPuback, p.packet_id, true, mqtt::ReasonCode::kNotAuthorized);
    if (p.qos == 2) QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, true, mqtt::ReasonCode::kNotAuthorized);
    return;
  }
  if (!AllowPublish(s, topic)) {
    // 5.0: Not authorized [MQTT-3.4.2-?]; 3.1.1 cannot say no, so the message
    // is acknowledged and discarded, as 3.1.1 permits.
    mqtt::ReasonCode rc = c->version == mqtt::Version::k5 ? mqtt::ReasonCode::kNotAuthorized
                                                          : mqtt::ReasonCode::kSuccess;
    if (p.qos == 1) QueueAck(c, mqtt::PacketType::kPuback, p.packet_id, true, rc);
    if (p.qos == 2) {
      if (c->version != mqtt::Version::k5) s->Qos2().in.insert(p.packet_id);
      QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, true, rc);
    }
    return;
  }
  uint64_t ack_seq = 0;
  if (p.qos == 1) {
    ack_seq = QueueAck(c, mqtt::PacketType::kPuback, p.packet_id, false);
  } else if (p.qos == 2) {
    if (s->Qos2Known(p.packet_id)) {
      // A resend of a message already stored (or delivered) whose PUBREC was
      // lost: acknowledge, do not store or deliver it again [MQTT-4.3.3-9].
      // The id is remembered only once the message is safe (RememberQos2), so
      // a resend that races with the first copy's commit is stored again
      // rather than acknowledged before anything is durable.
      QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, true);
      return;
    }
    if (s->Qos2TakeRestored(p.packet_id)) {
      MarkQos2Dirty(s);
      if (p.dup) {
        // Stored before a restart, PUBREC perhaps lost with it: a duplicate.
        s->Qos2().in.insert(p.packet_id);
        QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, true);
        return;
      }
      // DUP not set: a new message that reuses a released id.
    }
    ack_seq = QueueAck(c, mqtt::PacketType::kPubrec, p.packet_id, false);
  }
  Ingest(c, p, topic, ack_seq);
}

}  // namespace trib
