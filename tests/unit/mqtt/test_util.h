// Shared helpers for the MQTT codec tests: byte strings written as annotated
// arrays, a fixture holding every packet struct (cmocka leaves a failing test
// by longjmp, so C++ objects live in the fixture, not on the test's stack),
// and assertions that print reason codes and hex dumps.
//
// Include this last: it includes cmocka.
#pragma once

#include <cstdio>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/mqtt/codec.h"

#include "tests/unit/cmocka_cpp.h"  // last

namespace mqtt_test {

using namespace trib::mqtt;

// Bytes from a list of byte values: B({0x30, 0x05, ...}).
inline std::string B(std::initializer_list<int> v) {
  std::string s;
  for (int x : v) s.push_back(static_cast<char>(x));
  return s;
}

inline std::string Hex(std::string_view s) {
  std::string h;
  char buf[4];
  for (unsigned char c : s) {
    std::snprintf(buf, sizeof buf, "%02x ", c);
    h += buf;
  }
  return h;
}

struct Fx {
  std::string wire;
  std::string out;
  std::string out2;
  Frame frame;
  Connect connect;
  Connack connack;
  Publish publish;
  PublishOut publish_out;
  Ack ack;
  Subscribe subscribe;
  Suback suback;
  Unsubscribe unsubscribe;
  Unsuback unsuback;
  Disconnect disconnect;
  Auth auth;
  Properties props;
  Properties props2;
  std::vector<uint32_t> ids;
  std::vector<ReasonCode> codes;
};

inline int Setup(void** state) {
  *state = new Fx();
  return 0;
}
inline int Teardown(void** state) {
  delete static_cast<Fx*>(*state);
  return 0;
}
inline Fx& F(void** state) { return *static_cast<Fx*>(*state); }

#define MQTT_TEST(fn) cmocka_unit_test_setup_teardown(fn, mqtt_test::Setup, mqtt_test::Teardown)

// Fails unless `st` carries `rc` (kSuccess meaning ok()).
#define assert_status(st_expr, rc)                                                          \
  do {                                                                                      \
    const ::trib::mqtt::Status st_ = (st_expr);                                             \
    const ::trib::mqtt::ReasonCode want_ = (rc);                                            \
    if (st_.code() != want_ || st_.ok() != (want_ == ::trib::mqtt::ReasonCode::kSuccess)) { \
      print_error("status 0x%02x %s (%s), want 0x%02x %s\n", static_cast<int>(st_.code()),  \
                  ::trib::mqtt::ReasonName(st_.code()), st_.why(), static_cast<int>(want_), \
                  ::trib::mqtt::ReasonName(want_));                                         \
      fail();                                                                               \
    }                                                                                       \
  } while (0)
#define assert_ok(st_expr) assert_status(st_expr, ::trib::mqtt::ReasonCode::kSuccess)
#define assert_malformed(st_expr) assert_status(st_expr, ::trib::mqtt::ReasonCode::kMalformedPacket)
#define assert_protocol_error(st_expr) \
  assert_status(st_expr, ::trib::mqtt::ReasonCode::kProtocolError)

// Fails unless the two byte strings are equal, printing both in hex.
#define assert_bytes(got_expr, want_expr)                                                 \
  do {                                                                                    \
    const std::string got_(got_expr), want_(want_expr);                                   \
    if (got_ != want_) {                                                                  \
      print_error("bytes differ\n got:  %s\n want: %s\n", ::mqtt_test::Hex(got_).c_str(), \
                  ::mqtt_test::Hex(want_).c_str());                                       \
      fail();                                                                             \
    }                                                                                     \
  } while (0)

#define assert_sv_equal(sv_expr, str) \
  assert_string_equal(std::string(sv_expr).c_str(), std::string(str).c_str())

// Frames f.wire, which must hold exactly one whole packet, and returns its body.
inline std::string_view Body(Fx& f, std::string_view wire) {
  f.frame = ReadFrame(reinterpret_cast<const uint8_t*>(wire.data()), wire.size(), kMaxVarint);
  if (f.frame.status != FrameStatus::kPacket) {
    print_error("frame status %d (%s) for %s\n", static_cast<int>(f.frame.status), f.frame.why,
                Hex(wire).c_str());
    fail();
  }
  assert_int_equal(f.frame.total_len, wire.size());
  return FrameBody(reinterpret_cast<const uint8_t*>(wire.data()), f.frame);
}
inline std::string_view Body(Fx& f) { return Body(f, f.wire); }

}  // namespace mqtt_test
