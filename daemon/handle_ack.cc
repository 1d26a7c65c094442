// PUBACK, PUBREC, PUBREL, PUBCOMP from a client: the QoS 1 and QoS 2 flows.
#include "daemon/broker.h"
#include "platform/log.h"

namespace trib {

void Broker::HandleAck(Connection* c, mqtt::PacketType type, uint8_t flags, std::string_view body) {
  mqtt::Ack a;
  mqtt::Status st = mqtt::DecodeAck(type, flags, body, c->version, &a);
  if (!st.ok()) return ProtocolFailure(c, st);
  Session* s = c->session;
  if (type == mqtt::PacketType::kPubrel) {
    // Inbound QoS 2, step 2: release the packet id and complete
    // [MQTT-4.3.3-11]; an unknown id gets 0x92 in 5.0.
    // The in-flight count drops when the PUBCOMP goes out (SendReadyAcks).
    bool known = s->Qos2Release(a.packet_id);
    if (known) MarkQos2Dirty(s);  // stored lazily: see Qos2Ids::restored
    QueueAck(c, mqtt::PacketType::kPubcomp, a.packet_id, true,
             known ? mqtt::ReasonCode::kSuccess : mqtt::ReasonCode::kPacketIdentifierNotFound);
    return;
  }
  SessionFlow* flow = s->FlowIfAny();
  std::list<OutFlight>::iterator it;
  if (flow) {
    it = flow->inflight.begin();
    while (it != flow->inflight.end() && it->packet_id != a.packet_id) ++it;
  }
  if (!flow || it == flow->inflight.end()) {
    if (type == mqtt::PacketType::kPubrec) {
      QueueAck(c, mqtt::PacketType::kPubrel, a.packet_id, true,
               mqtt::ReasonCode::kPacketIdentifierNotFound);
    }
    LOG_DEBUG("client %s: %s for unknown packet id %u", c->client_name(),
              mqtt::PacketTypeName(type), a.packet_id);
    return;
  }
  bool done = false;
  switch (type) {
    case mqtt::PacketType::kPuback:
      done = it->d.qos == 1;
      break;
    case mqtt::PacketType::kPubrec:
      if (it->d.qos != 2) break;
      if (mqtt::IsError(a.reason)) {
        done = true;  // the receiver refused it: the flow ends here
      } else {
        it->pubrec_received = true;  // [MQTT-4.3.3-4]: answer with PUBREL
        QueueAck(c, mqtt::PacketType::kPubrel, a.packet_id, true);
      }
      break;
    case mqtt::PacketType::kPubcomp:
      done = it->d.qos == 2 && it->pubrec_received;
      break;
    default:
      break;
  }
  if (!done) return;
  if (it->d.group) {
    GroupAcked(it->d);  // advances the consumer group's cursor
  } else if (it->d.msg->stored) {
    s->positions_dirty = true;
  }
  flow->inflight.erase(it);
  Pump(s);
}

}  // namespace trib
