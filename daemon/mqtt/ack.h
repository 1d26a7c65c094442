// PUBACK, PUBREC, PUBREL, PUBCOMP (sections 3.4 to 3.7): the QoS 1 and 2
// acknowledgements, which share one layout: a packet identifier, and in 5.0 an
// optional reason code and properties.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

struct Ack {
  PacketType type = PacketType::kPuback;  // kPuback, kPubrec, kPubrel or kPubcomp
  uint16_t packet_id = 0;
  ReasonCode reason = ReasonCode::kSuccess;  // always kSuccess in 3.1.1
  Properties props;                          // reason string, user properties (5.0)
};

// True for the four acknowledgement types.
constexpr bool IsAckType(PacketType t) {
  return t == PacketType::kPuback || t == PacketType::kPubrec || t == PacketType::kPubrel ||
         t == PacketType::kPubcomp;
}

// Decodes an acknowledgement of `type`. Malformed: fixed-header flags (0010
// for PUBREL, 0000 for the others [MQTT-3.6.1-1], [MQTT-2.2.2-2]), a 3.1.1
// body other than two bytes, truncation, trailing bytes, property format.
// Protocol Error: packet identifier 0 [MQTT-2.3.1-1], a reason code the packet
// may not carry ([MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1],
// [MQTT-3.7.2-1]), duplicate properties.
// REQUIRES: IsAckType(type).
Status DecodeAck(PacketType type, uint8_t flags, std::string_view body, Version v, Ack* out);

// Appends an acknowledgement. In 5.0 the reason code and properties are left
// out when they are Success and empty (3.4.2.1), so the common case is four
// bytes in both versions. REQUIRES: IsAckType(a.type).
void EncodeAck(std::string* out, Version v, const Ack& a);

// The same without properties: the broker's fast path.
void EncodeAck(std::string* out, Version v, PacketType type, uint16_t packet_id,
               ReasonCode reason = ReasonCode::kSuccess);

}  // namespace trib::mqtt
