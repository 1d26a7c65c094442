// AUTH (MQTT 5 section 3.15): extended authentication exchanges. There is no
// AUTH in 3.1.1.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

struct Auth {
  ReasonCode reason = ReasonCode::kSuccess;  // kSuccess, kContinueAuthentication, kReAuthenticate
  Properties props;  // authentication method (required) and data, reason string, user properties
};

// Malformed: a 3.1.1 connection (type 15 is reserved there), flags
// [MQTT-3.15.1-1], truncation, trailing bytes. Protocol Error: a reason code
// other than 0x00, 0x18, 0x19 [MQTT-3.15.2-1], properties without an
// Authentication Method (3.15.2.2.2), property rules. An empty body means
// Success without properties (3.15.2.1).
Status DecodeAuth(uint8_t flags, std::string_view body, Version v, Auth* out);

// Appends an AUTH (two bytes for Success without properties).
// REQUIRES: v == Version::k5.
void EncodeAuth(std::string* out, Version v, const Auth& a);

}  // namespace trib::mqtt
