// Fuzz target: frame reading + PUBACK/PUBREC/PUBREL/PUBCOMP, DISCONNECT, AUTH,
// PINGREQ/PINGRESP decode/encode.

#include "tests/fuzz/fuzz_common.h"

using namespace mqtt_fuzz;

static bool SameAck(const Ack& a, const Ack& b) {
  return a.type == b.type && a.packet_id == b.packet_id && a.reason == b.reason &&
         a.props == b.props;
}
static bool SameDisconnect(const Disconnect& a, const Disconnect& b) {
  return a.reason == b.reason && a.props == b.props;
}
static bool SameAuth(const Auth& a, const Auth& b) {
  return a.reason == b.reason && a.props == b.props;
}

static void OnPacket(const Frame& f, std::string_view body, Version v) {
  if (IsAckType(f.type)) {
    auto dec = [type = f.type](uint8_t flags, std::string_view b, Version ver, Ack* a) {
      return DecodeAck(type, flags, b, ver, a);
    };
    auto enc = [](std::string* out, Version ver, const Ack& a) { EncodeAck(out, ver, a); };
    Ack a;
    if (!RoundTrip(f, body, v, &a, dec, enc, SameAck)) {
      CheckFailure(dec(f.flags, body, v, &a));
      return;
    }
    // The fast path must agree with the general encoder when there are no properties.
    std::string x, y;
    a.props.Reset();
    EncodeAck(&x, v, a);
    EncodeAck(&y, v, a.type, a.packet_id, a.reason);
    FUZZ_CHECK(x == y);
  } else if (f.type == PacketType::kDisconnect) {
    auto enc = [](std::string* out, Version ver, const Disconnect& d) {
      EncodeDisconnect(out, ver, d);
    };
    Disconnect d;
    if (!RoundTrip(f, body, v, &d, DecodeDisconnect, enc, SameDisconnect)) {
      CheckFailure(DecodeDisconnect(f.flags, body, v, &d));
    }
  } else if (f.type == PacketType::kAuth) {
    Auth a;
    if (!RoundTrip(f, body, v, &a, DecodeAuth, EncodeAuth, SameAuth)) {
      CheckFailure(DecodeAuth(f.flags, body, v, &a));
    }
  } else if (f.type == PacketType::kPingreq || f.type == PacketType::kPingresp) {
    const Status st = DecodePing(f.type, f.flags, body);
    CheckFailure(st);
    FUZZ_CHECK(st.ok() == body.empty());
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ForEachPacket(data, size, OnPacket);
  return 0;
}
