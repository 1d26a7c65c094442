// PINGREQ / PINGRESP.

#include "daemon/mqtt/ping.h"

namespace trib::mqtt {

Status DecodePing(PacketType /*type*/, uint8_t flags, std::string_view body) {
  if (flags != 0) return Malformed("reserved fixed-header flags wrong");  // [MQTT-2.2.2-2]
  if (!body.empty()) return Malformed("PINGREQ/PINGRESP with a body");
  return Status::Ok();
}

void EncodePingreq(std::string* out) { out->append("\xC0\x00", 2); }
void EncodePingresp(std::string* out) { out->append("\xD0\x00", 2); }

}  // namespace trib::mqtt
