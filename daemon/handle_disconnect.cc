// DISCONNECT from a client: normal ends suppress the will; 0x04 asks for it;
// 5.0 may change the session expiry on the way out.
#include "daemon/broker.h"
#include "platform/log.h"

namespace trib {

void Broker::HandleDisconnect(Connection* c, uint8_t flags, std::string_view body) {
  mqtt::Disconnect d;
  mqtt::Status st = mqtt::DecodeDisconnect(flags, body, c->version, &d);
  if (!st.ok()) return ProtocolFailure(c, st);
  Session* s = c->session;
  if (d.props.session_expiry_interval) {
    // [MQTT-3.14.2-2]: a session that was to end with the connection cannot be
    // made persistent at DISCONNECT.
    if (s->expiry_interval == 0 && *d.props.session_expiry_interval != 0) {
      return ProtocolFailure(c, mqtt::ProtocolError("session expiry set at DISCONNECT after 0"));
    }
    uint64_t max_s = static_cast<uint64_t>(cfg_.limits.max_session_expiry_ms / 1000);
    s->expiry_interval = static_cast<uint32_t>(std::min<uint64_t>(*d.props.session_expiry_interval, max_s));
  }
  // [MQTT-3.14.4-3]: a normal DISCONNECT discards the will; 0x04 keeps it.
  c->will_suppressed = d.reason != mqtt::ReasonCode::kDisconnectWithWillMessage;
  LOG_DEBUG("client %s: DISCONNECT (%s)", c->client_name(), mqtt::ReasonName(d.reason));
  c->Close("client disconnected");
}

}  // namespace trib
