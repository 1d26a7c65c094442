// MQTT 5 property blocks: allowed identifiers per packet, types, duplicates,
// zero values, encoding, pass-through.

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

using C = PropertyContext;

static void test_properties_empty_block(void** state) {
  Fx& f = F(state);
  assert_ok(ParseProperties("", C::kPublish, &f.props));
  assert_true(f.props.empty());
  assert_int_equal(PropertiesSize(f.props), 0);
  assert_int_equal(PropertyBlockSize(f.props), 1);
}

// 2.2.2.2: an identifier not valid for the packet is a Malformed Packet.
static void test_properties_identifier_allowed_only_in_its_packets(void** state) {
  Fx& f = F(state);
  struct Case {
    std::string block;
    C allowed;
    C refused;
  };
  const Case cases[] = {
      {B({0x01, 0x00}), C::kPublish, C::kConnect},  // payload format
      {B({0x01, 0x00}), C::kWill, C::kConnack},
      {B({0x02, 0, 0, 0, 1}), C::kWill, C::kDisconnect},          // message expiry
      {B({0x03, 0x00, 0x01, 'a'}), C::kPublish, C::kAck},         // content type
      {B({0x08, 0x00, 0x01, 'a'}), C::kWill, C::kSubscribe},      // response topic
      {B({0x09, 0x00, 0x00}), C::kPublish, C::kAuth},             // correlation data
      {B({0x0B, 0x01}), C::kSubscribe, C::kSuback},               // subscription id
      {B({0x11, 0, 0, 0, 1}), C::kDisconnect, C::kPublish},       // session expiry
      {B({0x12, 0x00, 0x01, 'a'}), C::kConnack, C::kConnect},     // assigned client id
      {B({0x13, 0x00, 0x01}), C::kConnack, C::kConnect},          // server keep alive
      {B({0x15, 0x00, 0x01, 'a'}), C::kAuth, C::kDisconnect},     // auth method
      {B({0x16, 0x00, 0x00}), C::kConnack, C::kPublish},          // auth data
      {B({0x17, 0x01}), C::kConnect, C::kConnack},                // request problem info
      {B({0x18, 0, 0, 0, 1}), C::kWill, C::kConnect},             // will delay
      {B({0x19, 0x01}), C::kConnect, C::kWill},                   // request response info
      {B({0x1A, 0x00, 0x01, 'a'}), C::kConnack, C::kConnect},     // response information
      {B({0x1C, 0x00, 0x01, 'a'}), C::kDisconnect, C::kConnect},  // server reference
      {B({0x1F, 0x00, 0x01, 'a'}), C::kUnsuback, C::kPublish},    // reason string
      {B({0x1F, 0x00, 0x01, 'a'}), C::kAck, C::kSubscribe},
      {B({0x21, 0x00, 0x01}), C::kConnect, C::kPublish},  // receive maximum
      {B({0x22, 0x00, 0x00}), C::kConnack, C::kPublish},  // topic alias maximum
      {B({0x23, 0x00, 0x01}), C::kPublish, C::kWill},     // topic alias
      {B({0x24, 0x01}), C::kConnack, C::kConnect},        // maximum QoS
      {B({0x25, 0x01}), C::kConnack, C::kConnect},        // retain available
      {B({0x27, 0, 0, 0, 9}), C::kConnect, C::kPublish},  // maximum packet size
      {B({0x28, 0x01}), C::kConnack, C::kSubscribe},      // wildcard available
      {B({0x29, 0x01}), C::kConnack, C::kSubscribe},      // sub id available
      {B({0x2A, 0x01}), C::kConnack, C::kSubscribe},      // shared available
  };
  for (const Case& c : cases) {
    Status ok = ParseProperties(c.block, c.allowed, &f.props);
    Status bad = ParseProperties(c.block, c.refused, &f.props);
    if (!ok.ok() || bad.code() != ReasonCode::kMalformedPacket) {
      print_error("property 0x%02x: allowed -> %s, refused -> %s\n",
                  static_cast<uint8_t>(c.block[0]), ok.why(), bad.why());
      fail();
    }
  }
}

static void test_properties_user_property_everywhere_and_repeated(void** state) {
  Fx& f = F(state);
  const std::string two = B({0x26, 0x00, 0x01, 'k', 0x00, 0x01, '1', 0x26, 0x00, 0x01, 'k', 0x00,
                             0x01, '2'});  // same name twice
  for (int c = 0; c <= static_cast<int>(C::kAuth); ++c) {
    assert_ok(ParseProperties(two, static_cast<C>(c), &f.props));
    assert_int_equal(f.props.user_properties.size(), 2);
    assert_sv_equal(f.props.user_properties[1].value, "2");
  }
}

static void test_properties_unknown_identifiers_are_malformed(void** state) {
  Fx& f = F(state);
  for (int id : {0x00, 0x04, 0x0A, 0x14, 0x2B, 0x7F}) {
    assert_malformed(ParseProperties(B({id, 0x00}), C::kPublish, &f.props));
  }
  assert_malformed(ParseProperties(B({0x80, 0x01}), C::kPublish, &f.props));  // id 128
  assert_malformed(ParseProperties(B({0x80}), C::kPublish, &f.props));        // cut varint
}

// Duplicates of single-valued properties are Protocol Errors (2.2.2.2 and each
// property's "more than once" sentence).
static void test_properties_duplicates_are_protocol_errors(void** state) {
  Fx& f = F(state);
  assert_protocol_error(
      ParseProperties(B({0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00}), C::kAck, &f.props));
  assert_protocol_error(
      ParseProperties(B({0x21, 0x00, 0x01, 0x21, 0x00, 0x01}), C::kConnect, &f.props));
  assert_protocol_error(
      ParseProperties(B({0x23, 0x00, 0x01, 0x23, 0x00, 0x02}), C::kPublish, &f.props));
  // Subscription identifiers repeat only in PUBLISH.
  assert_ok(ParseProperties(B({0x0B, 0x01, 0x0B, 0x02}), C::kPublish, &f.props));
  assert_int_equal(f.props.subscription_identifiers.size(), 2);
  assert_protocol_error(ParseProperties(B({0x0B, 0x01, 0x0B, 0x02}), C::kSubscribe, &f.props));
}

static void test_properties_forbidden_values(void** state) {
  Fx& f = F(state);
  assert_protocol_error(ParseProperties(B({0x21, 0x00, 0x00}), C::kConnack, &f.props));
  assert_protocol_error(ParseProperties(B({0x27, 0, 0, 0, 0}), C::kConnect, &f.props));
  assert_protocol_error(ParseProperties(B({0x23, 0x00, 0x00}), C::kPublish, &f.props));
  assert_protocol_error(ParseProperties(B({0x0B, 0x00}), C::kSubscribe, &f.props));
  for (int id : {0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2A}) {
    const C ctx = id == 0x01 ? C::kPublish : (id == 0x17 || id == 0x19) ? C::kConnect : C::kConnack;
    assert_protocol_error(ParseProperties(B({id, 0x02}), ctx, &f.props));
  }
  // Topic alias maximum 0 is fine (it means "no aliases").
  assert_ok(ParseProperties(B({0x22, 0x00, 0x00}), C::kConnect, &f.props));
}

static void test_properties_format_errors_are_malformed(void** state) {
  Fx& f = F(state);
  assert_malformed(ParseProperties(B({0x02, 0x00, 0x00}), C::kPublish, &f.props));  // cut u32
  assert_malformed(ParseProperties(B({0x03, 0x00, 0x05, 'a'}), C::kPublish, &f.props));
  assert_malformed(ParseProperties(B({0x03, 0x00, 0x01, 0x00}), C::kPublish, &f.props));  // NUL
  assert_malformed(ParseProperties(B({0x26, 0x00, 0x01, 'k', 0x00, 0x01, 0xC0}), C::kPublish,
                                   &f.props));  // bad UTF-8 in a user property value
  assert_malformed(ParseProperties(B({0x26, 0x00, 0x01, 'k'}), C::kPublish, &f.props));
  assert_malformed(ParseProperties(B({0x08, 0x00, 0x03, 'a', '/', '#'}), C::kPublish,
                                   &f.props));  // wildcard in response topic [MQTT-3.3.2-14]
  assert_malformed(ParseProperties(B({0x0B, 0x80, 0x80, 0x80, 0x80, 0x01}), C::kPublish,
                                   &f.props));  // five-byte varint
  // Binary data may hold anything, NUL included.
  assert_ok(ParseProperties(B({0x09, 0x00, 0x02, 0x00, 0xFF}), C::kPublish, &f.props));
}

static void test_properties_encode_parse_round_trip(void** state) {
  Fx& f = F(state);
  Properties& p = f.props2;
  p.payload_format_indicator = 1;
  p.message_expiry_interval = 9;
  p.content_type = "text/plain";
  p.response_topic = "reply/here";
  p.correlation_data = std::string_view("\x00\x01\x02", 3);
  p.subscription_identifiers = {1, 268435455};
  p.topic_alias = 4;
  p.user_properties = {{"a", "1"}, {"b", ""}, {"a", "2"}};
  AppendPropertyBlock(&f.out, p);
  assert_int_equal(f.out.size(), PropertyBlockSize(p));
  std::string_view block = std::string_view(f.out).substr(VarintSize(PropertiesSize(p)));
  assert_ok(ParseProperties(block, C::kPublish, &f.props));
  assert_true(f.props == p);
  f.props.user_properties[2].value = "3";
  assert_false(f.props == p);
}

static void test_properties_forwardable_subset(void** state) {
  Fx& f = F(state);
  const std::string raw = B({0x23, 0x00, 0x05,                    // topic alias: dropped
                             0x03, 0x00, 0x01, 'c',               // content type: kept
                             0x02, 0x00, 0x00, 0x00, 0x09,        // expiry: dropped
                             0x0B, 0x81, 0x01,                    // sub id 129: dropped
                             0x26, 0x00, 0x01, 'k',  0x00, 0x00,  // user property: kept
                             0x09, 0x00, 0x01, 'z'});             // correlation: kept
  assert_ok(ParseProperties(raw, C::kPublish, &f.props));
  AppendForwardableProperties(&f.out, raw);
  assert_bytes(
      f.out, B({0x03, 0x00, 0x01, 'c', 0x26, 0x00, 0x01, 'k', 0x00, 0x00, 0x09, 0x00, 0x01, 'z'}));
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_properties_empty_block),
      MQTT_TEST(test_properties_identifier_allowed_only_in_its_packets),
      MQTT_TEST(test_properties_user_property_everywhere_and_repeated),
      MQTT_TEST(test_properties_unknown_identifiers_are_malformed),
      MQTT_TEST(test_properties_duplicates_are_protocol_errors),
      MQTT_TEST(test_properties_forbidden_values),
      MQTT_TEST(test_properties_format_errors_are_malformed),
      MQTT_TEST(test_properties_encode_parse_round_trip),
      MQTT_TEST(test_properties_forwardable_subset),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
