// PUBLISH (section 3.3): an application message, in both directions.
//
// Decoding allocates nothing unless the packet carries user properties or
// subscription identifiers, and not even then when the same Publish is reused
// (its vectors keep their capacity). The decoded views (topic, payload,
// properties, props.raw) point into the caller's buffer, which must outlive
// the Publish: copy what you keep.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

struct Publish {
  std::string_view topic;  // may be empty in 5.0 when props.topic_alias is set
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // 0 for QoS 0
  // MQTT 5. props.raw is the whole property block, to store opaquely; see
  // AppendForwardableProperties for the part to pass on to subscribers.
  Properties props;
};

// Decodes a PUBLISH body. Malformed: QoS 3 [MQTT-3.3.1-4], DUP with QoS 0
// [MQTT-3.3.1-2], topic not valid UTF-8 [MQTT-3.3.2-1], a wildcard in the
// topic [MQTT-3.3.2-2], an empty topic in 3.1.1 [MQTT-4.7.3-1], truncation,
// property format errors. Protocol Error: packet identifier 0 with QoS > 0
// [MQTT-2.3.1-1], an empty topic without a Topic Alias (5.0, 3.3.2.1), Topic
// Alias 0 [MQTT-3.3.2-8], duplicate properties.
// Direction-dependent rules are the caller's: a client must not send a
// Subscription Identifier [MQTT-3.3.4-6], and Topic Alias ranges depend on
// what CONNECT/CONNACK negotiated.
Status DecodePublish(uint8_t flags, std::string_view body, Version v, Publish* out);

// What the broker (or a client) sends. The MQTT 5 property block is written
// as: Message Expiry Interval, Subscription Identifiers, Topic Alias (each
// only when set), then raw_properties verbatim (for example the forwardable
// properties stored with the message, or a block built with
// AppendProperties). For 3.1.1 no properties are written.
struct PublishOut {
  std::string_view topic;  // may be empty in 5.0 when topic_alias is set
  std::string_view payload;
  uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  uint16_t packet_id = 0;  // used when qos > 0
  std::optional<uint32_t> message_expiry_interval;
  std::span<const uint32_t> subscription_identifiers;
  uint16_t topic_alias = 0;  // 0 = none
  std::string_view raw_properties;
};

// The number of bytes EncodePublish appends: compare it with the receiver's
// Maximum Packet Size before sending [MQTT-3.1.2-24].
size_t PublishSize(Version v, const PublishOut& p);

// Appends a PUBLISH. REQUIRES: qos <= 2; packet_id != 0 when qos > 0; topic
// <= 65535 bytes; the packet fits in kMaxVarint.
void EncodePublish(std::string* out, Version v, const PublishOut& p);

// A PublishOut that re-sends a decoded Publish unchanged (its raw property
// block included).
PublishOut ToPublishOut(const Publish& p);

}  // namespace trib::mqtt
