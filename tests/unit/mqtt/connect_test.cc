// CONNECT decoding and encoding, both versions.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static Status DecodeC(Fx& f) {
  std::string_view body = Body(f);
  return DecodeConnect(f.frame.flags, body, &f.connect);
}

static const std::string kConnect311 =
    B({0x10, 0x1D,                      // CONNECT, remaining length 29
       0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
       0x04,                            // level 4: 3.1.1
       0xEE,                            // user, password, will retain, will QoS 1, will, clean
       0x00, 0x3C,                      // keep alive 60 s
       0x00, 0x03, 'c', 'i', 'd',       // client id
       0x00, 0x01, 'w',                 // will topic
       0x00, 0x02, 'b', 'y',            // will payload
       0x00, 0x01, 'u',                 // user name
       0x00, 0x02, 'p', 'w'});          // password

static const std::string kConnect5 =
    B({0x10, 0x36,                                // CONNECT, remaining length 54
       0x00, 0x04, 'M',  'Q',  'T',  'T',  0x05,  // "MQTT" level 5
       0x06,                                      // will (QoS 0), clean start
       0x00, 0x0A,                                // keep alive 10 s
       0x19,                          // property length 25 (identifier order, as encoded)
       0x11, 0x00, 0x00, 0x0E, 0x10,  //   session expiry 3600
       0x17, 0x00,                    //   request problem information 0
       0x21, 0x00, 0x14,              //   receive maximum 20
       0x22, 0x00, 0x05,              //   topic alias maximum 5
       0x26, 0x00, 0x01, 'a',  0x00, 0x01, 'b',  // user property a=b
       0x27, 0x00, 0x00, 0x10, 0x00,             //   maximum packet size 4096
       0x00, 0x00,                               // empty client id (the server assigns one)
       0x07,                                     // will property length 7
       0x01, 0x01,                               //   payload format: UTF-8
       0x18, 0x00, 0x00, 0x00, 0x05,             //   will delay 5 s
       0x00, 0x03, 'w',  '/',  'x',              // will topic
       0x00, 0x01, 'z'});                        // will payload

static void test_connect_311_full(void** state) {
  Fx& f = F(state);
  f.wire = kConnect311;
  assert_ok(DecodeC(f));
  const Connect& c = f.connect;
  assert_int_equal(static_cast<int>(c.version), 4);
  assert_true(c.clean_start);
  assert_int_equal(c.keep_alive, 60);
  assert_sv_equal(c.client_id, "cid");
  assert_true(c.will.has_value());
  assert_int_equal(c.will->qos, 1);
  assert_true(c.will->retain);
  assert_sv_equal(c.will->topic, "w");
  assert_sv_equal(c.will->payload, "by");
  assert_sv_equal(*c.username, "u");
  assert_sv_equal(*c.password, "pw");
}

static void test_connect_5_with_properties(void** state) {
  Fx& f = F(state);
  f.wire = kConnect5;
  assert_ok(DecodeC(f));
  const Connect& c = f.connect;
  assert_int_equal(static_cast<int>(c.version), 5);
  assert_int_equal(c.client_id.size(), 0);
  assert_int_equal(*c.props.session_expiry_interval, 3600);
  assert_int_equal(*c.props.receive_maximum, 20);
  assert_int_equal(*c.props.maximum_packet_size, 4096);
  assert_int_equal(*c.props.topic_alias_maximum, 5);
  assert_false(*c.props.request_problem_information);
  assert_int_equal(c.props.user_properties.size(), 1);
  assert_int_equal(*c.will->props.will_delay_interval, 5);
  assert_int_equal(*c.will->props.payload_format_indicator, 1);
  assert_sv_equal(c.will->topic, "w/x");
  assert_false(c.username.has_value());
  assert_false(c.password.has_value());
}

static void test_connect_round_trips_both_versions(void** state) {
  Fx& f = F(state);
  f.wire = kConnect311;
  assert_ok(DecodeC(f));
  EncodeConnect(&f.out, f.connect);
  assert_bytes(f.out, kConnect311);
  f.wire = kConnect5;
  assert_ok(DecodeC(f));
  f.out.clear();
  EncodeConnect(&f.out, f.connect);
  assert_bytes(f.out, kConnect5);
}

static void test_connect_encode_minimal_5(void** state) {
  Fx& f = F(state);
  Connect c;
  c.version = Version::k5;
  c.clean_start = true;
  c.client_id = "x";
  EncodeConnect(&f.out, c);
  assert_bytes(f.out, B({0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x00,
                         0x00,  // no properties
                         0x00, 0x01, 'x'}));
}

// [MQTT-3.1.2-2]: an unsupported level gets CONNACK 0x01 (3.1.1) / 0x84 (5.0);
// MQTT 3.1 ("MQIsdp", level 3) is refused that way, answered in 3.1.1 format.
static void test_connect_unsupported_versions_MQTT_3_1_2_2(void** state) {
  Fx& f = F(state);
  f.wire = B({0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3C, 0x00,
              0x02, 'i', 'd'});
  assert_status(DecodeC(f), ReasonCode::kUnsupportedProtocolVersion);
  assert_int_equal(static_cast<int>(f.connect.version), 4);
  assert_int_equal(f.connect.protocol_level, 3);
  assert_int_equal(static_cast<int>(ToConnectReturn311(ReasonCode::kUnsupportedProtocolVersion)),
                   1);
  f.wire =
      B({0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x02, 'i', 'd'});
  assert_status(DecodeC(f), ReasonCode::kUnsupportedProtocolVersion);
  assert_int_equal(f.connect.protocol_level, 6);
}

// [MQTT-3.1.2-1]: a wrong protocol name is reported apart from malformed bytes.
static void test_connect_unknown_protocol_name_MQTT_3_1_2_1(void** state) {
  Fx& f = F(state);
  f.wire =
      B({0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'X', 0x04, 0x02, 0x00, 0x3C, 0x00, 0x02, 'i', 'd'});
  assert_status(DecodeC(f), ReasonCode::kUnsupportedProtocolVersion);
  assert_string_equal(DecodeConnect(0, Body(f), &f.connect).why(), "unsupported protocol name");
}

// Builds a 3.1.1 or 5.0 CONNECT with the given connect flags and payload.
static std::string MakeConnect(int level, int flags, const std::string& rest) {
  std::string body = B({0x00, 0x04, 'M', 'Q', 'T', 'T', level, flags, 0x00, 0x3C});
  if (level == 5) body += B({0x00});  // no properties
  body += rest;
  return B({0x10, static_cast<int>(body.size())}) + body;
}

// [MQTT-3.1.2-3] The Server MUST validate that the reserved flag is 0.
static void test_connect_reserved_flag_is_malformed_MQTT_3_1_2_3(void** state) {
  Fx& f = F(state);
  f.wire = MakeConnect(4, 0x03, B({0x00, 0x01, 'c'}));
  assert_malformed(DecodeC(f));
  f.wire = MakeConnect(5, 0x03, B({0x00, 0x01, 'c'}));
  assert_malformed(DecodeC(f));
}

// [MQTT-3.1.2-11], [MQTT-3.1.2-13]: Will QoS MUST be 0 without the Will Flag;
// [MQTT-3.1.2-15]: Will Retain MUST be 0 without it; [MQTT-3.1.2-14]: no QoS 3.
static void test_connect_will_flags_consistency_MQTT_3_1_2_13_14_15(void** state) {
  Fx& f = F(state);
  for (int level : {4, 5}) {
    f.wire = MakeConnect(level, 0x0A, B({0x00, 0x01, 'c'}));  // will QoS 1, no will flag
    assert_malformed(DecodeC(f));
    f.wire = MakeConnect(level, 0x22, B({0x00, 0x01, 'c'}));  // will retain, no will flag
    assert_malformed(DecodeC(f));
    std::string will = level == 5 ? B({0x00}) : "";
    will += B({0x00, 0x01, 't', 0x00, 0x00});
    f.wire = MakeConnect(level, 0x1E, B({0x00, 0x01, 'c'}) + will);  // will QoS 3
    assert_malformed(DecodeC(f));
    f.wire = MakeConnect(level, 0x16, B({0x00, 0x01, 'c'}) + will);  // will QoS 2: fine
    assert_ok(DecodeC(f));
    assert_int_equal(f.connect.will->qos, 2);
  }
}

// [MQTT-3.1.2-22] 3.1.1: if the User Name Flag is 0, the Password Flag MUST be
// 0. 5.0 allows a password without a user name (3.1.2.9).
static void test_connect_password_without_username_MQTT_3_1_2_22(void** state) {
  Fx& f = F(state);
  const std::string rest = B({0x00, 0x01, 'c', 0x00, 0x02, 'p', 'w'});
  f.wire = MakeConnect(4, 0x42, rest);
  assert_malformed(DecodeC(f));
  f.wire = MakeConnect(5, 0x42, rest);
  assert_ok(DecodeC(f));
  assert_false(f.connect.username.has_value());
  assert_sv_equal(*f.connect.password, "pw");
}

// [MQTT-3.1.3-8] 3.1.1: a zero-byte client id with Clean Session 0 gets
// CONNACK 0x02 (identifier rejected). 5.0 accepts it [MQTT-3.1.3-6].
static void test_connect_empty_client_id_without_clean_session_MQTT_3_1_3_8(void** state) {
  Fx& f = F(state);
  f.wire = MakeConnect(4, 0x00, B({0x00, 0x00}));
  assert_status(DecodeC(f), ReasonCode::kClientIdentifierNotValid);
  assert_int_equal(static_cast<int>(ToConnectReturn311(ReasonCode::kClientIdentifierNotValid)), 2);
  f.wire = MakeConnect(4, 0x02, B({0x00, 0x00}));
  assert_ok(DecodeC(f));
  f.wire = MakeConnect(5, 0x00, B({0x00, 0x00}));
  assert_ok(DecodeC(f));
}

// [MQTT-1.5.4-1], [MQTT-1.5.4-2], [MQTT-3.1.3-4], [MQTT-3.1.3-11]: strings
// must be valid UTF-8.
static void test_connect_bad_utf8_is_malformed_MQTT_1_5_4_1(void** state) {
  Fx& f = F(state);
  f.wire = MakeConnect(4, 0x02, B({0x00, 0x02, 0xED, 0xBF}));  // client id: truncated sequence
  assert_malformed(DecodeC(f));
  f.wire = MakeConnect(4, 0x82, B({0x00, 0x01, 'c', 0x00, 0x01, 0x00}));  // user name U+0000
  assert_malformed(DecodeC(f));
  f.wire = MakeConnect(4, 0x06, B({0x00, 0x01, 'c', 0x00, 0x01, 0xFF, 0x00, 0x00}));  // will topic
  assert_malformed(DecodeC(f));
}

static void test_connect_will_topic_with_wildcard_is_malformed(void** state) {
  Fx& f = F(state);
  f.wire = MakeConnect(4, 0x06, B({0x00, 0x01, 'c', 0x00, 0x01, '#', 0x00, 0x00}));
  assert_malformed(DecodeC(f));
  f.wire = MakeConnect(4, 0x06, B({0x00, 0x01, 'c', 0x00, 0x00, 0x00, 0x00}));  // empty
  assert_malformed(DecodeC(f));
}

static void test_connect_truncated_and_trailing_bytes_are_malformed(void** state) {
  Fx& f = F(state);
  f.wire = MakeConnect(4, 0x82, B({0x00, 0x01, 'c'}));  // user name flag, no user name
  assert_malformed(DecodeC(f));
  f.wire = MakeConnect(4, 0x02, B({0x00, 0x01, 'c', 'x'}));  // one byte too many
  assert_malformed(DecodeC(f));
  f.wire = B({0x10, 0x05, 0x00, 0x04, 'M', 'Q', 'T'});
  assert_malformed(DecodeC(f));
  f.wire = B({0x10, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04});  // flags missing
  assert_malformed(DecodeC(f));
}

// 3.1.2.11: properties of CONNECT only; duplicates and zero values are
// Protocol Errors; Authentication Data needs an Authentication Method.
static void test_connect_property_rules(void** state) {
  Fx& f = F(state);
  auto with_props = [](const std::string& props) {
    std::string body = B({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C,
                          static_cast<int>(props.size())}) +
                       props + B({0x00, 0x01, 'c'});
    return B({0x10, static_cast<int>(body.size())}) + body;
  };
  f.wire = with_props(B({0x21, 0x00, 0x00}));  // receive maximum 0
  assert_protocol_error(DecodeC(f));
  f.wire = with_props(B({0x27, 0x00, 0x00, 0x00, 0x00}));  // maximum packet size 0
  assert_protocol_error(DecodeC(f));
  f.wire = with_props(B({0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 2}));  // session expiry twice
  assert_protocol_error(DecodeC(f));
  f.wire = with_props(B({0x16, 0x00, 0x01, 'd'}));  // auth data without method
  assert_protocol_error(DecodeC(f));
  f.wire = with_props(B({0x15, 0x00, 0x01, 'm', 0x16, 0x00, 0x01, 'd'}));
  assert_ok(DecodeC(f));
  assert_sv_equal(*f.connect.props.authentication_method, "m");
  f.wire = with_props(B({0x23, 0x00, 0x01}));  // topic alias: PUBLISH only
  assert_malformed(DecodeC(f));
  f.wire = with_props(B({0x18, 0x00, 0x00, 0x00, 0x01}));  // will delay: will properties only
  assert_malformed(DecodeC(f));
  f.wire = with_props(B({0x17, 0x02}));  // request problem information 2
  assert_protocol_error(DecodeC(f));
}

static void test_connect_fixed_header_flags_must_be_zero(void** state) {
  Fx& f = F(state);
  f.wire = kConnect311;
  assert_malformed(DecodeConnect(0x01, Body(f), &f.connect));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_connect_311_full),
      MQTT_TEST(test_connect_5_with_properties),
      MQTT_TEST(test_connect_round_trips_both_versions),
      MQTT_TEST(test_connect_encode_minimal_5),
      MQTT_TEST(test_connect_unsupported_versions_MQTT_3_1_2_2),
      MQTT_TEST(test_connect_unknown_protocol_name_MQTT_3_1_2_1),
      MQTT_TEST(test_connect_reserved_flag_is_malformed_MQTT_3_1_2_3),
      MQTT_TEST(test_connect_will_flags_consistency_MQTT_3_1_2_13_14_15),
      MQTT_TEST(test_connect_password_without_username_MQTT_3_1_2_22),
      MQTT_TEST(test_connect_empty_client_id_without_clean_session_MQTT_3_1_3_8),
      MQTT_TEST(test_connect_bad_utf8_is_malformed_MQTT_1_5_4_1),
      MQTT_TEST(test_connect_will_topic_with_wildcard_is_malformed),
      MQTT_TEST(test_connect_truncated_and_trailing_bytes_are_malformed),
      MQTT_TEST(test_connect_property_rules),
      MQTT_TEST(test_connect_fixed_header_flags_must_be_zero),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
