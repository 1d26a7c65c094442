// Fuzz target: the client side, frame reading + CONNACK, SUBACK, UNSUBACK
// decode/encode (tools, load generator and bridge decode these).

#include "tests/fuzz/fuzz_common.h"

using namespace mqtt_fuzz;

static bool SameConnack(const Connack& a, const Connack& b) {
  return a.session_present == b.session_present && a.reason == b.reason && a.props == b.props;
}
static bool SameSuback(const Suback& a, const Suback& b) {
  return a.packet_id == b.packet_id && a.props == b.props && a.reasons == b.reasons;
}
static bool SameUnsuback(const Unsuback& a, const Unsuback& b) {
  return a.packet_id == b.packet_id && a.props == b.props && a.reasons == b.reasons;
}

static void OnPacket(const Frame& f, std::string_view body, Version v) {
  switch (f.type) {
    case PacketType::kConnack: {
      Connack c;
      if (RoundTrip(f, body, v, &c, DecodeConnack, EncodeConnack, SameConnack)) {
        FUZZ_CHECK(!(c.session_present && IsError(c.reason)));
      } else {
        CheckFailure(DecodeConnack(f.flags, body, v, &c));
      }
      break;
    }
    case PacketType::kSuback: {
      auto enc = [](std::string* out, Version ver, const Suback& s) { EncodeSuback(out, ver, s); };
      Suback s;
      if (RoundTrip(f, body, v, &s, DecodeSuback, enc, SameSuback)) {
        FUZZ_CHECK(!s.reasons.empty());
      } else {
        CheckFailure(DecodeSuback(f.flags, body, v, &s));
      }
      break;
    }
    case PacketType::kUnsuback: {
      auto enc = [](std::string* out, Version ver, const Unsuback& u) {
        EncodeUnsuback(out, ver, u);
      };
      Unsuback u;
      if (RoundTrip(f, body, v, &u, DecodeUnsuback, enc, SameUnsuback)) {
        FUZZ_CHECK(u.reasons.empty() == (v == Version::k311));
      } else {
        CheckFailure(DecodeUnsuback(f.flags, body, v, &u));
      }
      break;
    }
    default:
      break;
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ForEachPacket(data, size, OnPacket);
  return 0;
}
