// Fuzz target: frame reading + PUBLISH decode/encode, both through the
// decoded raw property block and through PublishOut's separate fields plus
// the forwardable properties (what the broker does on delivery).

#include <vector>

#include "tests/fuzz/fuzz_common.h"

using namespace mqtt_fuzz;

static void Enc(std::string* out, Version v, const Publish& p) {
  EncodePublish(out, v, ToPublishOut(p));
}

static bool Same(const Publish& a, const Publish& b) {
  return a.topic == b.topic && a.payload == b.payload && a.qos == b.qos && a.retain == b.retain &&
         a.dup == b.dup && a.packet_id == b.packet_id && a.props == b.props;
}

// Rebuilds the packet as the broker would deliver it and checks nothing is lost.
static void Redeliver(const Publish& a, Version v) {
  std::string fwd;
  if (v == Version::k5) AppendForwardableProperties(&fwd, a.props.raw);
  PublishOut o = ToPublishOut(a);
  o.raw_properties = fwd;
  o.message_expiry_interval = a.props.message_expiry_interval;
  o.subscription_identifiers = a.props.subscription_identifiers;
  o.topic_alias = a.props.topic_alias.value_or(0);
  std::string wire;
  EncodePublish(&wire, v, o);
  FUZZ_CHECK(wire.size() == PublishSize(v, o));
  const Frame f = MustFrame(wire, PacketType::kPublish);
  Publish b;
  FUZZ_CHECK(DecodePublish(f.flags, FrameBody(U8(wire), f), v, &b).ok());
  FUZZ_CHECK(Same(a, b));
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Publish reused;  // as the broker does: one Publish decoded into again and again
  ForEachPacket(data, size, [&reused](const Frame& f, std::string_view body, Version v) {
    if (f.type != PacketType::kPublish) return;
    const Status st = DecodePublish(f.flags, body, v, &reused);
    CheckFailure(st);
    Publish p;
    const bool ok = RoundTrip(f, body, v, &p, DecodePublish, Enc, Same);
    FUZZ_CHECK(ok == st.ok());
    if (!ok) return;
    FUZZ_CHECK(Same(p, reused));
    FUZZ_CHECK(p.qos <= 2 && (p.qos == 0) == (p.packet_id == 0));
    FUZZ_CHECK(!HasWildcard(p.topic));
    Redeliver(p, v);
  });
  return 0;
}
