// The fixed-header reader: need more, whole packets, too large, malformed.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static Frame Read(const std::string& s, uint32_t max = 1u << 20) {
  return ReadFrame(reinterpret_cast<const uint8_t*>(s.data()), s.size(), max);
}

#define assert_frame(fr, st) assert_int_equal(static_cast<int>((fr).status), static_cast<int>(st))

static void test_frame_needs_two_bytes(void** state) {
  Fx& f = F(state);
  f.wire = "";
  assert_frame(Read(f.wire), FrameStatus::kNeedMore);
  f.wire = B({0x30});
  assert_frame(Read(f.wire), FrameStatus::kNeedMore);
}

static void test_frame_partial_remaining_length_needs_more(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0x80, 0x80});  // three continuation bytes so far
  Frame fr = Read(f.wire);
  assert_frame(fr, FrameStatus::kNeedMore);
  assert_int_equal(fr.total_len, 0);
}

static void test_frame_header_known_body_missing(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0xC8, 0x01, 0x00});  // remaining length 200, 1 body byte so far
  Frame fr = Read(f.wire);
  assert_frame(fr, FrameStatus::kNeedMore);
  assert_int_equal(fr.header_len, 3);
  assert_int_equal(fr.remaining_length, 200);
  assert_int_equal(fr.total_len, 203);
}

static void test_frame_whole_packets_back_to_back(void** state) {
  Fx& f = F(state);
  f.wire = B({0xC0, 0x00,                   // PINGREQ
              0x40, 0x02, 0x00, 0x01,       // PUBACK id 1
              0x3B, 0x03, 0x00, 0x01, 't',  // PUBLISH DUP QoS1 RETAIN (body cut)
              0xE0});                       // DISCONNECT, first byte only
  const auto* d = reinterpret_cast<const uint8_t*>(f.wire.data());
  Frame a = ReadFrame(d, f.wire.size(), 100);
  assert_frame(a, FrameStatus::kPacket);
  assert_int_equal(static_cast<int>(a.type), static_cast<int>(PacketType::kPingreq));
  assert_int_equal(a.total_len, 2);
  Frame b = ReadFrame(d + 2, f.wire.size() - 2, 100);
  assert_frame(b, FrameStatus::kPacket);
  assert_int_equal(static_cast<int>(b.type), static_cast<int>(PacketType::kPuback));
  assert_sv_equal(FrameBody(d + 2, b), B({0x00, 0x01}));
  Frame c = ReadFrame(d + 6, f.wire.size() - 6, 100);
  assert_frame(c, FrameStatus::kPacket);
  assert_int_equal(c.flags, 0x0B);
  Frame e = ReadFrame(d + 11, f.wire.size() - 11, 100);
  assert_frame(e, FrameStatus::kNeedMore);
}

static void test_frame_too_large_before_body_arrives(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0xE8, 0x07});  // remaining length 1000; no body yet
  Frame fr = Read(f.wire, 100);
  assert_frame(fr, FrameStatus::kTooLarge);
  assert_int_equal(static_cast<int>(fr.reason), static_cast<int>(ReasonCode::kPacketTooLarge));
  // The limit counts the whole packet, header included: 1003 fits 1003, not 1002.
  assert_frame(Read(f.wire, 1003), FrameStatus::kNeedMore);
  assert_frame(Read(f.wire, 1002), FrameStatus::kTooLarge);
}

static void test_frame_largest_remaining_length(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0xFF, 0xFF, 0xFF, 0x7F});  // 268435455
  Frame fr = Read(f.wire, 0xFFFFFFFFu);
  assert_frame(fr, FrameStatus::kNeedMore);
  assert_int_equal(fr.remaining_length, kMaxVarint);
  assert_int_equal(fr.total_len, kMaxVarint + 5);
}

// 1.5.5 / 2.2.3: a Remaining Length uses at most four bytes.
static void test_frame_five_byte_remaining_length_is_malformed(void** state) {
  Fx& f = F(state);
  f.wire = B({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01});
  Frame fr = Read(f.wire, 0xFFFFFFFFu);
  assert_frame(fr, FrameStatus::kMalformed);
  assert_int_equal(static_cast<int>(fr.reason), static_cast<int>(ReasonCode::kMalformedPacket));
  f.wire = B({0x30, 0xFF, 0xFF, 0xFF, 0x80});  // known malformed before the 5th byte comes
  assert_frame(Read(f.wire, 0xFFFFFFFFu), FrameStatus::kMalformed);
}

// [MQTT-1.5.5-1] The encoded value MUST use the minimum number of bytes.
static void test_frame_non_minimal_remaining_length_is_malformed_MQTT_1_5_5_1(void** state) {
  Fx& f = F(state);
  f.wire = B({0xC0, 0x80, 0x00});
  assert_frame(Read(f.wire), FrameStatus::kMalformed);
}

static void test_frame_reserved_type_0_is_malformed(void** state) {
  Fx& f = F(state);
  f.wire = B({0x00, 0x00});
  assert_frame(Read(f.wire), FrameStatus::kMalformed);
}

// [MQTT-2.2.2-1], [MQTT-2.2.2-2]: reserved flags must be as Table 2.2 lists.
static void test_frame_reserved_flags_MQTT_2_2_2_2(void** state) {
  Fx& f = F(state);
  for (int type = 1; type <= 15; ++type) {
    if (type == 3) continue;  // PUBLISH flags carry DUP, QoS, RETAIN
    const int good = (type == 6 || type == 8 || type == 10) ? 0x2 : 0x0;
    for (int flags = 0; flags < 16; ++flags) {
      f.wire = B({(type << 4) | flags, 0x00});
      const FrameStatus want = flags == good ? FrameStatus::kPacket : FrameStatus::kMalformed;
      if (Read(f.wire).status != want) {
        print_error("type %d flags %x\n", type, flags);
        fail();
      }
    }
  }
}

// [MQTT-3.3.1-4] A PUBLISH packet MUST NOT have both QoS bits set to 1.
static void test_frame_publish_qos3_is_malformed_MQTT_3_3_1_4(void** state) {
  Fx& f = F(state);
  for (int flags = 0; flags < 16; ++flags) {
    f.wire = B({0x30 | flags, 0x00});
    const FrameStatus want = (flags & 0x6) == 0x6 ? FrameStatus::kMalformed : FrameStatus::kPacket;
    assert_frame(Read(f.wire), want);
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_frame_needs_two_bytes),
      MQTT_TEST(test_frame_partial_remaining_length_needs_more),
      MQTT_TEST(test_frame_header_known_body_missing),
      MQTT_TEST(test_frame_whole_packets_back_to_back),
      MQTT_TEST(test_frame_too_large_before_body_arrives),
      MQTT_TEST(test_frame_largest_remaining_length),
      MQTT_TEST(test_frame_five_byte_remaining_length_is_malformed),
      MQTT_TEST(test_frame_non_minimal_remaining_length_is_malformed_MQTT_1_5_5_1),
      MQTT_TEST(test_frame_reserved_type_0_is_malformed),
      MQTT_TEST(test_frame_reserved_flags_MQTT_2_2_2_2),
      MQTT_TEST(test_frame_publish_qos3_is_malformed_MQTT_3_3_1_4),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
