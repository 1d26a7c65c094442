// Fuzz target: frame reading + CONNECT decode/encode.

#include "tests/fuzz/fuzz_common.h"

using namespace mqtt_fuzz;

static Status Dec(uint8_t flags, std::string_view body, Version, Connect* c) {
  return DecodeConnect(flags, body, c);
}
static void Enc(std::string* out, Version, const Connect& c) { EncodeConnect(out, c); }

static bool Same(const Connect& a, const Connect& b) {
  if (a.version != b.version || a.clean_start != b.clean_start || a.keep_alive != b.keep_alive ||
      a.client_id != b.client_id || !(a.props == b.props) || a.username != b.username ||
      a.password != b.password || a.will.has_value() != b.will.has_value()) {
    return false;
  }
  if (!a.will) return true;
  return a.will->qos == b.will->qos && a.will->retain == b.will->retain &&
         a.will->topic == b.will->topic && a.will->payload == b.will->payload &&
         a.will->props == b.will->props;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ForEachPacket(data, size, [](const Frame& f, std::string_view body, Version v) {
    if (f.type != PacketType::kConnect) {
      return;
    }
    Connect c;
    if (!RoundTrip(f, body, v, &c, Dec, Enc, Same)) {
      CheckFailure(DecodeConnect(f.flags, body, &c));
      return;
    }
    FUZZ_CHECK(c.protocol_name == "MQTT");
    FUZZ_CHECK(c.version == Version::k311 || c.version == Version::k5);
    FUZZ_CHECK(!c.will || (c.will->qos <= 2 && ValidateTopicName(c.will->topic).ok()));
    FUZZ_CHECK(IsValidUtf8(c.client_id));
  });
  return 0;
}
