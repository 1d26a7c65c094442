// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (sections 3.8 to 3.11).
//
// Decoded filters are views into the caller's buffer, which must outlive the
// packet. The vectors allocate; decoding into a reused struct keeps their
// capacity.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

// One Topic Filter and its Subscription Options (3.8.3.1). In 3.1.1 only the
// QoS is on the wire; the other options keep their defaults.
struct Subscription {
  std::string_view filter;  // valid; may be "$share/<group>/<filter>" (see ParseShared)
  uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  uint8_t retain_handling = 0;  // 0, 1 or 2
  bool operator==(const Subscription&) const = default;
};

struct Subscribe {
  uint16_t packet_id = 0;
  Properties props;  // 5.0: at most one subscription identifier, user properties
  std::vector<Subscription> subscriptions;
};

struct Suback {
  uint16_t packet_id = 0;
  Properties props;                 // 5.0: reason string, user properties
  std::vector<ReasonCode> reasons;  // one per filter; kGrantedQos0..2 or a failure
};

struct Unsubscribe {
  uint16_t packet_id = 0;
  Properties props;  // 5.0: user properties
  std::vector<std::string_view> filters;
};

struct Unsuback {
  uint16_t packet_id = 0;
  Properties props;                 // 5.0: reason string, user properties
  std::vector<ReasonCode> reasons;  // 5.0 only: one per filter; empty in 3.1.1
};

// Malformed: flags other than 0010 [MQTT-3.8.1-1], a filter not valid UTF-8
// [MQTT-3.8.3-1] or not a valid filter [MQTT-4.7.1-2], [MQTT-4.7.1-3],
// [MQTT-4.8.2-1], [MQTT-4.8.2-2], reserved option bits set ([MQTT-3-8.3-4]
// 3.1.1, [MQTT-3.8.3-5] 5.0), QoS 3 in 3.1.1, truncation. Protocol Error:
// packet identifier 0 [MQTT-2.3.1-1], no filter [MQTT-3.8.3-3], 5.0 QoS 3 or
// Retain Handling 3 (3.8.3.1), No Local on a shared subscription
// [MQTT-3.8.3-4], property rules.
Status DecodeSubscribe(uint8_t flags, std::string_view body, Version v, Subscribe* out);
// REQUIRES: at least one subscription; valid filters.
void EncodeSubscribe(std::string* out, Version v, const Subscribe& s);

// Client side. Malformed: flags, truncation, a 3.1.1 code other than 0, 1, 2,
// 0x80 [MQTT-3.9.3-2]. Protocol Error: packet identifier 0, no code, a 5.0
// code SUBACK may not carry (3.9.3), property rules.
Status DecodeSuback(uint8_t flags, std::string_view body, Version v, Suback* out);
// For 3.1.1 every failure code is sent as 0x80 and properties are dropped.
void EncodeSuback(std::string* out, Version v, const Suback& s);
// The same from parts, without allocating (the broker's path).
void EncodeSuback(std::string* out, Version v, uint16_t packet_id,
                  std::span<const ReasonCode> reasons, const Properties* props = nullptr);

// Malformed: flags other than 0010 [MQTT-3.10.1-1], invalid filters
// [MQTT-3.10.3-1], truncation. Protocol Error: packet identifier 0, no filter
// [MQTT-3.10.3-2], property rules.
Status DecodeUnsubscribe(uint8_t flags, std::string_view body, Version v, Unsubscribe* out);
// REQUIRES: at least one filter.
void EncodeUnsubscribe(std::string* out, Version v, const Unsubscribe& u);

// Client side. 3.1.1: exactly a packet identifier. 5.0: at least one reason
// code, each one UNSUBACK may carry (3.11.3).
Status DecodeUnsuback(uint8_t flags, std::string_view body, Version v, Unsuback* out);
// For 3.1.1 only the packet identifier is sent.
void EncodeUnsuback(std::string* out, Version v, const Unsuback& u);
void EncodeUnsuback(std::string* out, Version v, uint16_t packet_id,
                    std::span<const ReasonCode> reasons, const Properties* props = nullptr);

}  // namespace trib::mqtt
