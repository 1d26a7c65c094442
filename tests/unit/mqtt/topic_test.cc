// Topic names, filters, matching, $share parsing and level iteration.

#include <vector>

#include "tests/unit/mqtt/test_util.h"  // last: includes cmocka

using namespace mqtt_test;

static void test_topic_name_validation(void** state) {
  (void)state;
  assert_ok(ValidateTopicName("a"));
  assert_ok(ValidateTopicName("/"));
  assert_ok(ValidateTopicName("a//b/"));
  assert_ok(ValidateTopicName("$SYS/broker"));
  assert_ok(ValidateTopicName("caf\xC3\xA9"));
  assert_malformed(ValidateTopicName(""));     // [MQTT-4.7.3-1]
  assert_malformed(ValidateTopicName("a/+"));  // [MQTT-3.3.2-2]
  assert_malformed(ValidateTopicName("#"));
  assert_malformed(ValidateTopicName("a+b"));
  assert_malformed(ValidateTopicName(std::string_view("a\0b", 3)));  // [MQTT-4.7.3-2]
  assert_malformed(ValidateTopicName("\xED\xA0\x80"));               // [MQTT-1.5.4-1]
  assert_malformed(ValidateTopicName(std::string(65536, 'a')));      // [MQTT-4.7.3-3]
  assert_ok(ValidateTopicName(std::string(65535, 'a')));
}

// [MQTT-4.7.1-2] '#' alone or after '/', and last; [MQTT-4.7.1-3] '+' fills a level.
static void test_topic_filter_validation_MQTT_4_7_1_2_MQTT_4_7_1_3(void** state) {
  (void)state;
  for (const char* good : {"#", "+", "a/#", "a/+/b", "+/+", "/+", "+/", "a//#", "$SYS/#",
                           "sport/tennis/+", "$share/g/a/#", "$share/g/+", "$sharex/+", "$share"}) {
    if (!ValidateTopicFilter(good).ok()) {
      print_error("rejected %s\n", good);
      fail();
    }
  }
  for (const char* bad : {"", "a#", "a/#/b", "#/", "a/b#", "a+", "+a", "a/+b/c", "++", "$share//a",
                          "$share/g", "$share/g/", "$share/#/a", "$share/g+/a", "$share/g/a#"}) {
    if (ValidateTopicFilter(bad).ok()) {
      print_error("accepted %s\n", bad);
      fail();
    }
  }
}

struct MatchCase {
  const char* filter;
  const char* topic;
  bool match;
};

static void test_topic_matching(void** state) {
  (void)state;
  const MatchCase cases[] = {
      // Section 4.7.1.2 examples.
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      {"#", "a/b/c", true},
      // Section 4.7.1.3 examples.
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"+/+", "/finance", true},
      {"/+", "/finance", true},
      {"+", "/finance", false},
      {"+/tennis/#", "sport/tennis/x", true},
      // Plain levels.
      {"a/b", "a/b", true},
      {"a/b", "a/bc", false},
      {"a/b", "a", false},
      {"a", "a/b", false},
      {"a/+/c", "a//c", true},
      {"a/#", "ab", false},
      {"a/b/#", "a", false},
      // [MQTT-4.7.2-1] wildcards at the start do not match '$' topics.
      {"#", "$SYS/uptime", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"$SYS/#", "$SYS/monitor/Clients", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"a/#", "a/$x", true},
  };
  for (const MatchCase& c : cases) {
    if (TopicMatches(c.filter, c.topic) != c.match) {
      print_error("filter %s topic %s: want %d\n", c.filter, c.topic, c.match);
      fail();
    }
  }
}

// [MQTT-4.8.2-1], [MQTT-4.8.2-2].
static void test_topic_parse_shared_MQTT_4_8_2_1_MQTT_4_8_2_2(void** state) {
  (void)state;
  SharedFilter sf;
  assert_ok(ParseShared("a/b", &sf));
  assert_false(sf.shared);
  assert_sv_equal(sf.filter, "a/b");
  assert_ok(ParseShared("$share/grp/a/+/#", &sf));
  assert_true(sf.shared);
  assert_sv_equal(sf.group, "grp");
  assert_sv_equal(sf.filter, "a/+/#");
  assert_malformed(ParseShared("$share//a", &sf));
  assert_malformed(ParseShared("$share/g", &sf));
  assert_malformed(ParseShared("$share/g/", &sf));
  assert_malformed(ParseShared("$share/+/a", &sf));
  assert_malformed(ParseShared("$share/g#/a", &sf));
  assert_ok(ParseShared("$shared/a", &sf));  // not the prefix
  assert_false(sf.shared);
}

static void test_topic_levels(void** state) {
  (void)state;
  std::vector<std::string> got;
  for (std::string_view l : TopicLevels("a//b/")) got.emplace_back(l);
  assert_int_equal(got.size(), 4);
  assert_string_equal(got[0].c_str(), "a");
  assert_string_equal(got[1].c_str(), "");
  assert_string_equal(got[2].c_str(), "b");
  assert_string_equal(got[3].c_str(), "");
  size_t n = 0;
  for (std::string_view l : TopicLevels("single")) {
    assert_sv_equal(l, "single");
    ++n;
  }
  assert_int_equal(n, 1);
  assert_int_equal(CountTopicLevels("a//b/"), 4);
  assert_int_equal(CountTopicLevels("x"), 1);
}

int main() {
  const struct CMUnitTest tests[] = {
      MQTT_TEST(test_topic_name_validation),
      MQTT_TEST(test_topic_filter_validation_MQTT_4_7_1_2_MQTT_4_7_1_3),
      MQTT_TEST(test_topic_matching),
      MQTT_TEST(test_topic_parse_shared_MQTT_4_8_2_1_MQTT_4_8_2_2),
      MQTT_TEST(test_topic_levels),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
