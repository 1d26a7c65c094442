// Fuzz target: frame reading + SUBSCRIBE / UNSUBSCRIBE decode/encode.

#include "tests/fuzz/fuzz_common.h"

using namespace mqtt_fuzz;

static bool SameSub(const Subscribe& a, const Subscribe& b) {
  return a.packet_id == b.packet_id && a.props == b.props && a.subscriptions == b.subscriptions;
}
static bool SameUnsub(const Unsubscribe& a, const Unsubscribe& b) {
  return a.packet_id == b.packet_id && a.props == b.props && a.filters == b.filters;
}

static void CheckFilter(std::string_view filter) {
  FUZZ_CHECK(ValidateTopicFilter(filter).ok());
  SharedFilter sf;
  FUZZ_CHECK(ParseShared(filter, &sf).ok());
  FUZZ_CHECK(!sf.filter.empty());
  if (sf.shared) {
    FUZZ_CHECK(!sf.group.empty() && sf.group.find_first_of("/+#") == std::string_view::npos);
  }
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ForEachPacket(data, size, [](const Frame& f, std::string_view body, Version v) {
    if (f.type == PacketType::kSubscribe) {
      Subscribe s;
      if (!RoundTrip(f, body, v, &s, DecodeSubscribe, EncodeSubscribe, SameSub)) {
        CheckFailure(DecodeSubscribe(f.flags, body, v, &s));
        return;
      }
      FUZZ_CHECK(!s.subscriptions.empty() && s.packet_id != 0);
      for (const Subscription& sub : s.subscriptions) {
        CheckFilter(sub.filter);
        FUZZ_CHECK(sub.qos <= 2 && sub.retain_handling <= 2);
      }
    } else if (f.type == PacketType::kUnsubscribe) {
      Unsubscribe u;
      if (!RoundTrip(f, body, v, &u, DecodeUnsubscribe, EncodeUnsubscribe, SameUnsub)) {
        CheckFailure(DecodeUnsubscribe(f.flags, body, v, &u));
        return;
      }
      FUZZ_CHECK(!u.filters.empty());
      for (std::string_view filter : u.filters) CheckFilter(filter);
    }
  });
  return 0;
}
