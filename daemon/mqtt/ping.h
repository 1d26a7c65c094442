// PINGREQ and PINGRESP (sections 3.12 and 3.13): two bytes each, no body.
//
// Thread: pure functions; safe from any thread.
#pragma once

#include <string>
#include <string_view>

#include "daemon/mqtt/types.h"

namespace trib::mqtt {

// Malformed for flags other than 0 [MQTT-2.2.2-2] or a non-empty body.
// REQUIRES: type is kPingreq or kPingresp.
Status DecodePing(PacketType type, uint8_t flags, std::string_view body);

void EncodePingreq(std::string* out);
void EncodePingresp(std::string* out);

}  // namespace trib::mqtt
