// Shared code of the MQTT codec fuzz targets.
//
// Input format of the packet targets: byte 0 picks the protocol version of
// the connection (bit 0: 0 = 3.1.1, 1 = 5.0), the rest is a byte stream read
// packet by packet with ReadFrame, as the broker reads a socket. Each packet
// of the target's family is decoded; a packet that decodes is re-encoded, the
// encoding must frame and decode again, and re-encoding that must give the
// same bytes (encode(decode(x)) is a fixed point). Any violation aborts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/mqtt/codec.h"
#include "tests/fuzz/fuzz_check.h"

namespace mqtt_fuzz {

using namespace trib::mqtt;

constexpr uint32_t kMaxPacket = 1u << 20;

inline const uint8_t* U8(std::string_view s) { return reinterpret_cast<const uint8_t*>(s.data()); }

// Frames `wire`, which must be exactly one packet of `type`, and returns it.
inline Frame MustFrame(const std::string& wire, PacketType type) {
  Frame f = ReadFrame(U8(wire), wire.size(), kMaxVarint);
  FUZZ_CHECK(f.status == FrameStatus::kPacket);
  FUZZ_CHECK(f.total_len == wire.size());
  FUZZ_CHECK(f.type == type);
  return f;
}

// Decode -> encode -> decode -> encode; the two encodings must be equal.
// `dec(flags, body, version, T*) -> Status`, `enc(std::string*, version, const T&)`.
// Returns true if the packet decoded; then *first holds the first decode.
template <class T, class Dec, class Enc, class Same>
bool RoundTrip(const Frame& f, std::string_view body, Version v, T* first, Dec dec, Enc enc,
               Same same) {
  if (!dec(f.flags, body, v, first).ok()) return false;
  std::string e1;
  enc(&e1, v, *first);
  const Frame f1 = MustFrame(e1, f.type);
  T second;
  const Status st = dec(f1.flags, FrameBody(U8(e1), f1), v, &second);
  if (!st.ok()) {
    std::fprintf(stderr, "re-decode failed: %s (%s)\n", ReasonName(st.code()), st.why());
    std::abort();
  }
  FUZZ_CHECK(same(*first, second));
  std::string e2;
  enc(&e2, v, second);
  FUZZ_CHECK(e1 == e2);
  return true;
}

// Calls `on_packet(frame, body, version)` for each whole packet of the input.
template <class OnPacket>
void ForEachPacket(const uint8_t* data, size_t size, OnPacket on_packet) {
  if (size < 1) return;
  const Version v = (data[0] & 1) ? Version::k5 : Version::k311;
  ++data;
  --size;
  while (size > 0) {
    const Frame f = ReadFrame(data, size, kMaxPacket);
    if (f.status != FrameStatus::kPacket) {
      FUZZ_CHECK(f.status != FrameStatus::kMalformed || f.reason == ReasonCode::kMalformedPacket);
      return;
    }
    FUZZ_CHECK(f.total_len <= size && f.total_len == f.header_len + f.remaining_length);
    on_packet(f, FrameBody(data, f), v);
    data += f.total_len;
    size -= f.total_len;
  }
}

// A decoder's failure must name a reason code a peer can be told.
inline void CheckFailure(const Status& st) {
  if (st.ok()) return;
  FUZZ_CHECK(IsKnownReasonCode(static_cast<uint8_t>(st.code())));
  FUZZ_CHECK(IsError(st.code()));
  FUZZ_CHECK(st.why()[0] != '\0');
}

}  // namespace mqtt_fuzz
