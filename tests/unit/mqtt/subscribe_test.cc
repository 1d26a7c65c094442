// SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK decoding and encoding.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static Status DecodeS(Fx& f, Version v) {
  std::string_view body = Body(f);
  return DecodeSubscribe(f.frame.flags, body, v, &f.subscribe);
}
static Status DecodeU(Fx& f, Version v) {
  std::string_view body = Body(f);
  return DecodeUnsubscribe(f.frame.flags, body, v, &f.unsubscribe);
}

// A SUBSCRIBE with one filter and options byte `opts`.
static std::string Sub(Version v, const std::string& filter, int opts) {
  std::string body = B({0x00, 0x01});
  if (v == Version::k5) body += B({0x00});
  body += B({0x00, static_cast<int>(filter.size())}) + filter + B({opts});
  return B({0x82, static_cast<int>(body.size())}) + body;
}

static const std::string kSubscribe311 =
    B({0x82, 0x0E,                 // SUBSCRIBE (flags 0010), remaining length 14
       0x00, 0x0A,                 // packet id 10
       0x00, 0x03, 'a', '/', 'b',  // filter "a/b"
       0x01,                       //   QoS 1
       0x00, 0x03, 'c', '/', '#',  // filter "c/#"
       0x02});                     //   QoS 2

static void test_subscribe_311_two_filters(void** state) {
  Fx& f = F(state);
  f.wire = kSubscribe311;
  assert_ok(DecodeS(f, Version::k311));
  assert_int_equal(f.subscribe.packet_id, 10);
  assert_int_equal(f.subscribe.subscriptions.size(), 2);
  assert_sv_equal(f.subscribe.subscriptions[0].filter, "a/b");
  assert_int_equal(f.subscribe.subscriptions[0].qos, 1);
  assert_sv_equal(f.subscribe.subscriptions[1].filter, "c/#");
  assert_int_equal(f.subscribe.subscriptions[1].qos, 2);
  EncodeSubscribe(&f.out, Version::k311, f.subscribe);
  assert_bytes(f.out, kSubscribe311);
}

static void test_subscribe_5_options_and_identifier(void** state) {
  Fx& f = F(state);
  f.wire = B({0x82, 0x19, 0x00, 0x0B,             // remaining length 25, id 11
              0x03, 0x0B, 0x80, 0x01,             // property length 3: sub id 128
              0x00, 0x03, 'a',  '/',  '+', 0x29,  // QoS 1, RAP, retain handling 2
              0x00, 0x0A, '$',  's',  'h', 'a',  'r', 'e', '/', 'g', '/', 't', 0x00});
  assert_ok(DecodeS(f, Version::k5));
  assert_int_equal(f.subscribe.props.subscription_identifiers[0], 128);
  const Subscription& a = f.subscribe.subscriptions[0];
  assert_int_equal(a.qos, 1);
  assert_false(a.no_local);
  assert_true(a.retain_as_published);
  assert_int_equal(a.retain_handling, 2);
  SharedFilter sf;
  assert_ok(ParseShared(f.subscribe.subscriptions[1].filter, &sf));
  assert_true(sf.shared);
  assert_sv_equal(sf.group, "g");
  assert_sv_equal(sf.filter, "t");
  EncodeSubscribe(&f.out, Version::k5, f.subscribe);
  assert_bytes(f.out, f.wire);
}

// [MQTT-3.8.1-1] SUBSCRIBE fixed-header flags MUST be 0010.
static void test_subscribe_flags_MQTT_3_8_1_1(void** state) {
  Fx& f = F(state);
  f.wire = kSubscribe311;
  std::string_view body = Body(f);
  assert_malformed(DecodeSubscribe(0x00, body, Version::k311, &f.subscribe));
  assert_malformed(DecodeSubscribe(0x03, body, Version::k5, &f.subscribe));
}

// [MQTT-3.8.3-3] At least one Topic Filter / QoS pair.
static void test_subscribe_without_filter_MQTT_3_8_3_3(void** state) {
  Fx& f = F(state);
  f.wire = B({0x82, 0x02, 0x00, 0x01});
  assert_protocol_error(DecodeS(f, Version::k311));
  f.wire = B({0x82, 0x03, 0x00, 0x01, 0x00});
  assert_protocol_error(DecodeS(f, Version::k5));
}

// [MQTT-3-8.3-4] (3.1.1) reserved bits and QoS 3 are malformed;
// [MQTT-3.8.3-5] (5.0) bits 6-7 are malformed, QoS 3 and Retain Handling 3 are
// Protocol Errors (3.8.3.1).
static void test_subscribe_options_reserved_bits_MQTT_3_8_3_5(void** state) {
  Fx& f = F(state);
  f.wire = Sub(Version::k311, "t", 0x04);
  assert_malformed(DecodeS(f, Version::k311));
  f.wire = Sub(Version::k311, "t", 0x03);
  assert_malformed(DecodeS(f, Version::k311));
  f.wire = Sub(Version::k5, "t", 0x40);
  assert_malformed(DecodeS(f, Version::k5));
  f.wire = Sub(Version::k5, "t", 0x80);
  assert_malformed(DecodeS(f, Version::k5));
  f.wire = Sub(Version::k5, "t", 0x03);
  assert_protocol_error(DecodeS(f, Version::k5));
  f.wire = Sub(Version::k5, "t", 0x30);
  assert_protocol_error(DecodeS(f, Version::k5));
  f.wire = Sub(Version::k5, "t", 0x2E);  // QoS 2, no local, RAP, retain handling 2: fine
  assert_ok(DecodeS(f, Version::k5));
  assert_true(f.subscribe.subscriptions[0].no_local);
}

// [MQTT-3.8.3-4] No Local on a Shared Subscription is a Protocol Error.
static void test_subscribe_no_local_shared_MQTT_3_8_3_4(void** state) {
  Fx& f = F(state);
  f.wire = Sub(Version::k5, "$share/g/a", 0x04);
  assert_protocol_error(DecodeS(f, Version::k5));
}

// [MQTT-4.7.1-2], [MQTT-4.7.1-3], [MQTT-4.8.2-1], [MQTT-4.8.2-2], [MQTT-3.8.3-1].
static void test_subscribe_invalid_filters_are_malformed(void** state) {
  Fx& f = F(state);
  for (const char* bad :
       {"a/b#", "a/#/b", "a+", "+a/b", "$share//x", "$share/g", "$share/g/", "$share/g+/x"}) {
    f.wire = Sub(Version::k5, bad, 0x00);
    assert_malformed(DecodeS(f, Version::k5));
    f.wire = Sub(Version::k311, bad, 0x00);
    assert_malformed(DecodeS(f, Version::k311));
  }
  f.wire = Sub(Version::k311, "", 0x00);  // [MQTT-4.7.3-1]
  assert_malformed(DecodeS(f, Version::k311));
  f.wire = Sub(Version::k311, B({'a', 0xC3}), 0x00);  // cut UTF-8 sequence
  assert_malformed(DecodeS(f, Version::k311));
}

static void test_subscribe_packet_id_zero_and_truncation(void** state) {
  Fx& f = F(state);
  f.wire = B({0x82, 0x06, 0x00, 0x00, 0x00, 0x01, 't', 0x00});
  assert_protocol_error(DecodeS(f, Version::k311));
  f.wire = B({0x82, 0x05, 0x00, 0x01, 0x00, 0x01, 't'});  // options byte missing
  assert_malformed(DecodeS(f, Version::k311));
}

// 3.8.2.1.2: the Subscription Identifier at most once, never 0.
static void test_subscribe_identifier_rules(void** state) {
  Fx& f = F(state);
  f.wire = B({0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B, 0x02, 0x00, 0x01, 't', 0x00});
  assert_protocol_error(DecodeS(f, Version::k5));
  f.wire = B({0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00, 0x01, 't', 0x00});
  assert_protocol_error(DecodeS(f, Version::k5));
}

static void test_suback_encode_decode_both_versions(void** state) {
  Fx& f = F(state);
  f.codes = {ReasonCode::kGrantedQos0, ReasonCode::kGrantedQos2, ReasonCode::kNotAuthorized};
  EncodeSuback(&f.out, Version::k311, 10, f.codes);
  assert_bytes(f.out, B({0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x80}));  // 0x87 -> 0x80 failure
  assert_ok(DecodeSuback(0, Body(f, f.out), Version::k311, &f.suback));
  assert_int_equal(f.suback.reasons.size(), 3);
  assert_int_equal(static_cast<int>(f.suback.reasons[2]), 0x80);

  f.props.reason_string = "no";
  EncodeSuback(&f.out2, Version::k5, 10, f.codes, &f.props);
  assert_bytes(f.out2,
               B({0x90, 0x0B, 0x00, 0x0A, 0x05, 0x1F, 0x00, 0x02, 'n', 'o',  // reason string "no"
                  0x00, 0x02, 0x87}));
  assert_ok(DecodeSuback(0, Body(f, f.out2), Version::k5, &f.suback));
  assert_int_equal(static_cast<int>(f.suback.reasons[2]), 0x87);
  assert_sv_equal(*f.suback.props.reason_string, "no");
}

// [MQTT-3.9.3-2] 3.1.1 SUBACK codes other than 0x00, 0x01, 0x02, 0x80 are reserved.
static void test_suback_bad_codes_MQTT_3_9_3_2(void** state) {
  Fx& f = F(state);
  assert_malformed(DecodeSuback(0, B({0x00, 0x01, 0x03}), Version::k311, &f.suback));
  assert_malformed(DecodeSuback(0, B({0x00, 0x01, 0x87}), Version::k311, &f.suback));
  assert_protocol_error(DecodeSuback(0, B({0x00, 0x01, 0x00, 0x11}), Version::k5, &f.suback));
  assert_protocol_error(DecodeSuback(0, B({0x00, 0x01}), Version::k311, &f.suback));   // no code
  assert_malformed(DecodeSuback(2, B({0x00, 0x01, 0x00}), Version::k311, &f.suback));  // flags
}

static void test_unsubscribe_both_versions(void** state) {
  Fx& f = F(state);
  f.wire = B({0xA2, 0x0A,                   // UNSUBSCRIBE (flags 0010)
              0x00, 0x03,                   // packet id 3
              0x00, 0x01, 'a',              // "a"
              0x00, 0x03, 'b', '/', '#'});  // "b/#"
  assert_ok(DecodeU(f, Version::k311));
  assert_int_equal(f.unsubscribe.filters.size(), 2);
  assert_sv_equal(f.unsubscribe.filters[1], "b/#");
  EncodeUnsubscribe(&f.out, Version::k311, f.unsubscribe);
  assert_bytes(f.out, f.wire);
  f.wire = B({0xA2, 0x0B, 0x00, 0x03, 0x00, 0x00, 0x01, 'a', 0x00, 0x03, 'b', '/', '#'});
  assert_ok(DecodeU(f, Version::k5));
  f.out.clear();
  EncodeUnsubscribe(&f.out, Version::k5, f.unsubscribe);
  assert_bytes(f.out, f.wire);
}

// [MQTT-3.10.1-1] flags 0010; [MQTT-3.10.3-2] at least one filter.
static void test_unsubscribe_errors_MQTT_3_10_1_1_MQTT_3_10_3_2(void** state) {
  Fx& f = F(state);
  const std::string body = B({0x00, 0x01, 0x00, 0x01, 'a'});
  assert_malformed(DecodeUnsubscribe(0x00, body, Version::k311, &f.unsubscribe));
  assert_protocol_error(DecodeUnsubscribe(0x02, B({0x00, 0x01}), Version::k311, &f.unsubscribe));
  assert_protocol_error(
      DecodeUnsubscribe(0x02, B({0x00, 0x01, 0x00}), Version::k5, &f.unsubscribe));
  assert_malformed(DecodeUnsubscribe(0x02, B({0x00, 0x01, 0x00, 0x02, 'a', '#'}), Version::k311,
                                     &f.unsubscribe));
}

static void test_unsuback_both_versions(void** state) {
  Fx& f = F(state);
  f.codes = {ReasonCode::kSuccess, ReasonCode::kNoSubscriptionExisted};
  EncodeUnsuback(&f.out, Version::k311, 3, f.codes);
  assert_bytes(f.out, B({0xB0, 0x02, 0x00, 0x03}));  // 3.1.1: no codes
  assert_ok(DecodeUnsuback(0, Body(f, f.out), Version::k311, &f.unsuback));
  assert_int_equal(f.unsuback.reasons.size(), 0);
  EncodeUnsuback(&f.out2, Version::k5, 3, f.codes);
  assert_bytes(f.out2, B({0xB0, 0x05, 0x00, 0x03, 0x00, 0x00, 0x11}));
  assert_ok(DecodeUnsuback(0, Body(f, f.out2), Version::k5, &f.unsuback));
  assert_int_equal(static_cast<int>(f.unsuback.reasons[1]), 0x11);
  assert_malformed(DecodeUnsuback(0, B({0x00, 0x03, 0x00}), Version::k311, &f.unsuback));
  assert_protocol_error(DecodeUnsuback(0, B({0x00, 0x03, 0x00, 0x01}), Version::k5,
                                       &f.unsuback));  // 0x01 is not an UNSUBACK code
  assert_protocol_error(DecodeUnsuback(0, B({0x00, 0x03, 0x00}), Version::k5, &f.unsuback));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_subscribe_311_two_filters),
      MQTT_TEST(test_subscribe_5_options_and_identifier),
      MQTT_TEST(test_subscribe_flags_MQTT_3_8_1_1),
      MQTT_TEST(test_subscribe_without_filter_MQTT_3_8_3_3),
      MQTT_TEST(test_subscribe_options_reserved_bits_MQTT_3_8_3_5),
      MQTT_TEST(test_subscribe_no_local_shared_MQTT_3_8_3_4),
      MQTT_TEST(test_subscribe_invalid_filters_are_malformed),
      MQTT_TEST(test_subscribe_packet_id_zero_and_truncation),
      MQTT_TEST(test_subscribe_identifier_rules),
      MQTT_TEST(test_suback_encode_decode_both_versions),
      MQTT_TEST(test_suback_bad_codes_MQTT_3_9_3_2),
      MQTT_TEST(test_unsubscribe_both_versions),
      MQTT_TEST(test_unsubscribe_errors_MQTT_3_10_1_1_MQTT_3_10_3_2),
      MQTT_TEST(test_unsuback_both_versions),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
