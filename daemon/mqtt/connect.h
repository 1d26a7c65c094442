// CONNECT (section 3.1 of both specifications): the first packet a client
// sends. Decoded by the broker, encoded by clients (tools, tests, bridge).
//
// The decoded views point into the caller's buffer, which must outlive the
// Connect. Thread: values and pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

struct Will {
  uint8_t qos = 0;
  bool retain = false;
  std::string_view topic;
  std::string_view payload;
  Properties props;  // MQTT 5 Will Properties
};

struct Connect {
  // Set as soon as the protocol name and level are read, even when decoding
  // then fails, so the broker knows which CONNACK format to answer with.
  // For an unsupported level it is k311 (a 3.x client reads a 3.1.1 CONNACK).
  Version version = Version::k5;
  std::string_view protocol_name;  // "MQTT" when decoded successfully
  uint8_t protocol_level = 0;
  bool clean_start = false;  // Clean Session in 3.1.1
  uint16_t keep_alive = 0;   // seconds; 0 = off
  std::string_view client_id;
  Properties props;  // MQTT 5 only
  std::optional<Will> will;
  std::optional<std::string_view> username;
  std::optional<std::string_view> password;  // binary data
};

// Decodes a CONNECT body. Errors, with the reason code the broker answers in
// CONNACK (5.0; ToConnectReturn311 for 3.1.1) or closes on:
//  - kUnsupportedProtocolVersion: protocol name not "MQTT" (why says
//    "unsupported protocol name"; the broker may also just close
//    [MQTT-3.1.2-1]), or a level other than 4 and 5, such as "MQIsdp" 3
//    [MQTT-3.1.2-2]: answer CONNACK 0x01 (3.1.1) / 0x84 (5.0);
//  - kClientIdentifierNotValid: 3.1.1 empty client id without Clean Session
//    [MQTT-3.1.3-8] (CONNACK 0x02);
//  - kMalformedPacket: reserved flag set [MQTT-3.1.2-3], Will QoS/Retain set
//    without the Will Flag [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15],
//    Will QoS 3 [MQTT-3.1.2-14], 3.1.1 password without user name
//    [MQTT-3.1.2-22], bad UTF-8, bad will topic, truncated or trailing bytes;
//  - kProtocolError: property rules (duplicates, zero values, Authentication
//    Data without Authentication Method).
Status DecodeConnect(uint8_t flags, std::string_view body, Connect* out);

// Appends a CONNECT for c.version ("MQTT", level 4 or 5). Properties are sent
// only for 5.0. REQUIRES: strings <= 65535 bytes; for 3.1.1 a password only
// with a user name.
void EncodeConnect(std::string* out, const Connect& c);

}  // namespace trib::mqtt
