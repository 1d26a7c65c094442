// Name templates: {node_id} {stream} {partition} expand; anything else in
// braces is refused with a message naming it; expanded names are checked.

#include <cstring>
#include <string>

#include "bridge/template.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::bridge;

static void test_template_expands_every_placeholder(void**) {
  TemplateVars v{"gw-0042", "telemetry", 3};
  assert_string_equal(ExpandTemplate("site/{node_id}/", v).c_str(), "site/gw-0042/");
  assert_string_equal(ExpandTemplate("{stream}.{partition}", v).c_str(), "telemetry.3");
  assert_string_equal(ExpandTemplate("{node_id}{node_id}/{stream}/p{partition}/x", v).c_str(),
                      "gw-0042gw-0042/telemetry/p3/x");
  assert_string_equal(ExpandTemplate("", v).c_str(), "");
  assert_string_equal(ExpandTemplate("plain/prefix/", v).c_str(), "plain/prefix/");
}

static void test_template_accepts_known_placeholders(void**) {
  assert_true(CheckTemplate("site/{node_id}/{stream}/{partition}/").ok());
  assert_true(CheckTemplate("").ok());
  assert_true(CheckTemplate("{stream}").ok());
}

static void test_template_refuses_unknown_or_unbalanced_braces(void**) {
  Status s = CheckTemplate("site/{host}/");
  assert_false(s.ok());
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Error::kInvalid));
  assert_non_null(strstr(s.message().c_str(), "{host}"));
  assert_false(CheckTemplate("site/{node_id/").ok());
  assert_false(CheckTemplate("site/node_id}/").ok());
  assert_false(CheckTemplate("{}").ok());
  assert_false(CheckTemplate("{{stream}}").ok());
}

static void test_mqtt_prefix_refuses_wildcards_and_nul(void**) {
  assert_true(CheckMqttTopicPrefix("site/gw/").ok());
  assert_true(CheckMqttTopicPrefix("").ok());
  assert_false(CheckMqttTopicPrefix("site/+/").ok());
  assert_false(CheckMqttTopicPrefix("site/#").ok());
  assert_false(CheckMqttTopicPrefix(std::string("a\0b", 3)).ok());
  // A node id carrying a wildcard makes the expanded prefix invalid.
  assert_false(CheckMqttTopicPrefix(ExpandTemplate("site/{node_id}/", {"gw+1", "s", 0})).ok());
}

static void test_kafka_topic_names(void**) {
  assert_true(CheckKafkaTopic("telemetry").ok());
  assert_true(CheckKafkaTopic("gw-0042.telemetry_3").ok());
  assert_false(CheckKafkaTopic("").ok());
  assert_false(CheckKafkaTopic(".").ok());
  assert_false(CheckKafkaTopic("..").ok());
  assert_false(CheckKafkaTopic("site/telemetry").ok());
  assert_false(CheckKafkaTopic(std::string(250, 'a')).ok());
  assert_true(CheckKafkaTopic(std::string(249, 'a')).ok());
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_template_expands_every_placeholder),
      cmocka_unit_test(test_template_accepts_known_placeholders),
      cmocka_unit_test(test_template_refuses_unknown_or_unbalanced_braces),
      cmocka_unit_test(test_mqtt_prefix_refuses_wildcards_and_nul),
      cmocka_unit_test(test_kafka_topic_names),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
