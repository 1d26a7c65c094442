// DISCONNECT (section 3.14): sent by the client in 3.1.1, by either side in
// 5.0, where it carries a reason code and properties.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"

namespace trib::mqtt {

struct Disconnect {
  ReasonCode reason = ReasonCode::kNormalDisconnection;
  // 5.0: session expiry interval (client only), reason string, server
  // reference (server only), user properties.
  Properties props;
};

// Malformed: flags ([MQTT-3.14.1-1] in 3.1.1, [MQTT-2.2.2-2]), a 3.1.1 body
// that is not empty (3.1.1 DISCONNECT has none), truncation, trailing bytes. Protocol Error: a
// reason code DISCONNECT may not carry (3.14.2.1), property rules. Which side may send what
// (Session Expiry from the server, 0x04 from the server) is the caller's.
Status DecodeDisconnect(uint8_t flags, std::string_view body, Version v, Disconnect* out);

// Appends a DISCONNECT. 3.1.1 has no reason code: two bytes. 5.0 leaves out
// what is default (3.14.2.1): a normal disconnection without properties is two
// bytes too.
void EncodeDisconnect(std::string* out, Version v, const Disconnect& d);
// The same with an optional reason string, without building a Properties.
void EncodeDisconnect(std::string* out, Version v, ReasonCode reason,
                      std::string_view reason_string = {});

}  // namespace trib::mqtt
