// CONNACK (section 3.2): the broker's answer to CONNECT. Encoded by the
// broker, decoded by clients (tools, tests, the bridge).
//
// The reason is always an MQTT 5 code; for 3.1.1 the encoder sends
// ToConnectReturn311(reason) and the decoder maps the return code back.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

struct Connack {
  bool session_present = false;
  ReasonCode reason = ReasonCode::kSuccess;
  // MQTT 5: session expiry, receive maximum, maximum QoS, retain available,
  // maximum packet size, assigned client id, topic alias maximum, reason
  // string, user properties, wildcard / subscription id / shared subscription
  // available, server keep alive, response information, server reference,
  // authentication method and data.
  Properties props;
};

// Decodes a CONNACK body. Malformed: fixed-header flags, reserved acknowledge
// flag bits [MQTT-3.2.2-1], a 3.1.1 return code above 5 (reserved), truncated
// or trailing bytes. Protocol Error: a 5.0 reason code CONNACK may not carry
// [MQTT-3.2.2-8], Session Present with a failure code ([MQTT-3.2.2-4] 3.1.1,
// [MQTT-3.2.2-6] 5.0), property rules. A 5.0 client also accepts a two-byte
// 3.1.1-style CONNACK (a 3.1.1-only server refusing the version): 0x01 reads
// as kUnsupportedProtocolVersion.
Status DecodeConnack(uint8_t flags, std::string_view body, Version v, Connack* out);

// Appends a CONNACK. For 3.1.1 properties are not sent and the reason is
// mapped with ToConnectReturn311. REQUIRES: !session_present when the reason
// is a failure.
void EncodeConnack(std::string* out, Version v, const Connack& c);

}  // namespace trib::mqtt
