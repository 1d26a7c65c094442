// The configuration table: defaults, and every error path naming file, line and key.

#include <cstring>
#include <string>

#include "daemon/config.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::config;

namespace {

// Loads `text` and expects a failure whose message contains every fragment.
void ExpectError(const char* text, Error code, std::initializer_list<const char*> fragments) {
  Config c;
  Status s = LoadString(text, "test.toml", &c);
  if (s.ok()) fail_msg("expected an error for:\n%s", text);
  if (s.code() != code) fail_msg("code %d, expected %d: %s", int(s.code()), int(code), s.message().c_str());
  for (const char* f : fragments) {
    if (s.message().find(f) == std::string::npos)
      fail_msg("message \"%s\" lacks \"%s\"", s.message().c_str(), f);
  }
}

}  // namespace

static void test_defaults_match_design(void**) {
  Config c = Defaults();
  assert_int_equal(c.listeners.size(), 1);
  assert_string_equal(c.listeners[0].host.c_str(), "127.0.0.1");
  assert_int_equal(c.listeners[0].port, 1883);
  assert_int_equal(c.streams.size(), 1);
  assert_string_equal(c.streams[0].name.c_str(), "default");
  assert_string_equal(c.streams[0].subjects[0].c_str(), "#");
  assert_int_equal(c.streams[0].partitions, 1);
  assert_int_equal(c.storage.max_bytes, 1ull << 30);
  assert_true(c.storage.sync == trib::storage::SyncPolicy::kAlways);
  assert_int_equal(c.storage.sync_interval_ms, 100);
  assert_int_equal(c.limits.max_connections, 10000);
  assert_int_equal(c.limits.max_packet_size, 1 << 20);
  assert_int_equal(c.limits.max_inflight, 64);
  assert_int_equal(c.limits.connect_timeout_ms, 10000);
  assert_string_equal(c.admin.bind.c_str(), "127.0.0.1:9883");
  assert_true(c.auth.allow_anonymous);
  assert_false(c.node_id.empty());
  // Derived from the host name, it must pass its own check (no dots even
  // when the host name has some).
  assert_null(strchr(c.node_id.c_str(), '.'));
  assert_true(c.node_id.size() <= 64);
}

static void test_full_design_example_loads(void**) {
  const char* text = R"(
node_id = "gw-0042"
[storage]
dir = "/tmp/x"
max_bytes = "2GiB"
sync = "interval"
sync_interval = "250ms"
[[listener]]
bind = "0.0.0.0:1883"
[[listener]]
bind = "[::1]:8883"
tls = { cert = "/c.crt", key = "/c.key", ca = "/ca.crt", require_client_cert = true }
[auth]
password_file = "/etc/tributary/passwords"
[limits]
max_publish_rate = 100
[[stream]]
name = "telemetry"
subjects = ["sensors/#", "devices/+/telemetry"]
partitions = 4
key = "topic_level:1"
max_age = "7d"
max_bytes = "512MiB"
on_full = "reject"
compression = "zstd"
[[exporter]]
name = "central"
kind = "peer"
streams = ["telemetry"]
url = "mqtts://central.example:8883"
max_bytes_per_sec = "256KiB"
priority = 1
)";
  Config c;
  Status s = LoadString(text, "x.toml", &c);
  if (!s.ok()) fail_msg("%s", s.message().c_str());
  assert_string_equal(c.node_id.c_str(), "gw-0042");
  assert_int_equal(c.storage.max_bytes, 2ull << 30);
  assert_true(c.storage.sync == trib::storage::SyncPolicy::kInterval);
  assert_int_equal(c.storage.sync_interval_ms, 250);
  assert_int_equal(c.listeners.size(), 2);
  assert_true(c.listeners[1].tls.enabled);
  assert_true(c.listeners[1].tls.require_client_cert);
  assert_false(c.auth.allow_anonymous);  // a password file without allow_anonymous
  assert_int_equal(c.streams[0].partitions, 4);
  assert_true(c.streams[0].key_kind == KeyKind::kTopicLevel);
  assert_int_equal(c.streams[0].key_level, 1);
  assert_int_equal(c.streams[0].max_age_ms, 7 * 86400000ll);
  assert_true(c.streams[0].on_full == trib::storage::OnFull::kReject);
  assert_true(c.streams[0].compression == trib::storage::Compression::kZstd);
  assert_int_equal(c.exporters[0].max_bytes_per_sec, 256 * 1024);
}

static void test_unknown_key_names_line_and_key(void**) {
  ExpectError("[storage]\n\nmax_bites = \"1GiB\"\n", Error::kUnknownKey,
              {"test.toml:3", "storage.max_bites", "unknown key"});
  ExpectError("colour = 1\n", Error::kUnknownKey, {"test.toml:1", "colour"});
}

static void test_wrong_type(void**) {
  ExpectError("[limits]\nmax_inflight = \"lots\"\n", Error::kType,
              {"test.toml:2", "limits.max_inflight", "expected an integer", "\"lots\""});
  ExpectError("[auth]\nallow_anonymous = \"yes\"\n", Error::kType, {"auth.allow_anonymous", "true or false"});
  ExpectError("storage = 5\n", Error::kType, {"storage", "a table"});
}

static void test_node_id_follows_the_upstream_rules(void**) {
  ExpectError("node_id = \"gw1.example.net\"\n", Error::kValue, {"node_id", "'.'"});
  ExpectError("node_id = \"$gw\"\n", Error::kValue, {"node_id", "'$'"});
  ExpectError(("node_id = \"" + std::string(65, 'g') + "\"\n").c_str(), Error::kValue,
              {"node_id", "64 bytes"});
}

static void test_negative_and_absurd_sizes(void**) {
  ExpectError("[storage]\nmax_bytes = \"-1GiB\"\n", Error::kValue, {"storage.max_bytes", "non-negative"});
  ExpectError("[storage]\nmax_bytes = -5\n", Error::kValue, {"storage.max_bytes"});
  ExpectError("[storage]\nmax_bytes = \"900TiB\"\n", Error::kValue, {"storage.max_bytes", "4TiB"});
  ExpectError("[storage]\nmax_bytes = \"10KiB\"\n", Error::kValue, {"storage.max_bytes", "1MiB"});
  ExpectError("[limits]\nmax_packet_size = \"12 parsecs\"\n", Error::kValue, {"unknown unit"});
  ExpectError("[limits]\nconnect_timeout = \"0s\"\n", Error::kValue, {"limits.connect_timeout"});
}

static void test_bad_bind_address(void**) {
  ExpectError("[[listener]]\nbind = \"localhost\"\n", Error::kValue, {"test.toml:2", "listener[0].bind"});
  ExpectError("[[listener]]\nbind = \"1.2.3.4:99999\"\n", Error::kValue, {"port must be 0..65535"});
  ExpectError("[[listener]]\nbind = \"gateway.local:1883\"\n", Error::kValue, {"not a numeric IP"});
  ExpectError("[[listener]]\nbind = \"127.0.0.1:1883\"\n[[listener]]\nbind = \"127.0.0.1:1883\"\n",
              Error::kValue, {"test.toml:3", "duplicate listener"});
  ExpectError("[[listener]]\ntls = { cert = \"a\", key = \"b\" }\n", Error::kValue,
              {"listener[0].bind", "required"});
  ExpectError("[[listener]]\nbind = \"127.0.0.1:8883\"\ntls = { cert = \"a\" }\n", Error::kValue,
              {"listener[0].tls", "both cert and key"});
}

static void test_duplicate_stream_name(void**) {
  ExpectError("[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\n[[stream]]\nname = \"t\"\nsubjects = [\"b\"]\n",
              Error::kValue, {"test.toml:4", "stream[1].name", "duplicate stream name \"t\""});
}

static void test_stream_without_subjects(void**) {
  ExpectError("[[stream]]\nname = \"t\"\nsubjects = []\n", Error::kValue,
              {"stream[0].subjects", "at least one topic filter"});
  ExpectError("[[stream]]\nname = \"t\"\n", Error::kValue, {"stream[0].subjects", "required"});
  ExpectError("[[stream]]\nname = \"t\"\nsubjects = [\"a/#/b\"]\n", Error::kValue, {"a/#/b"});
  ExpectError("[[stream]]\nname = \"t\"\nsubjects = [\"a+\"]\n", Error::kValue, {"a+"});
  ExpectError("[[stream]]\nname = \"has space\"\nsubjects = [\"a\"]\n", Error::kValue, {"stream[0].name"});
  ExpectError("[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\npartitions = 0\n", Error::kValue,
              {"stream[0].partitions", "from 1 to 1024"});
  ExpectError("[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\nkey = \"colour\"\n", Error::kValue,
              {"stream[0].key"});
}

static void test_exporter_unknown_stream(void**) {
  ExpectError(
      "[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\n[[exporter]]\nname = \"up\"\nkind = \"peer\"\n"
      "streams = [\"nope\"]\nurl = \"mqtt://127.0.0.1:1884\"\n",
      Error::kValue, {"test.toml:4", "exporter[0].streams", "unknown stream \"nope\""});
  ExpectError(
      "[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\n[[exporter]]\nname = \"up\"\nkind = \"ftp\"\n"
      "streams = [\"t\"]\n",
      Error::kValue, {"exporter[0].kind", "peer, mqtt, kafka"});
  ExpectError(
      "[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\n[[exporter]]\nname = \"up\"\nkind = \"kafka\"\n"
      "streams = [\"t\"]\n",
      Error::kValue, {"exporter[0].brokers", "required"});
  ExpectError(
      "[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\n[[exporter]]\nname = \"up\"\nkind = \"kafka\"\n"
      "streams = [\"t\"]\nbrokers = \"k:9092\"\nkafka_compression = \"brotli\"\n",
      Error::kValue, {"test.toml:9", "exporter[0].kafka_compression", "zstd"});
}

static void test_kafka_exporter_keys(void**) {
  Config c;
  Status s = LoadString(
      "[[stream]]\nname = \"t\"\nsubjects = [\"a\"]\n[[exporter]]\nname = \"up\"\nkind = \"kafka\"\n"
      "streams = [\"t\"]\nbrokers = \"k:9092\"\nkafka_topic = \"edge.{stream}\"\nkafka_compression = \"zstd\"\n",
      "k.toml", &c);
  if (!s.ok()) fail_msg("%s", s.message().c_str());
  assert_string_equal(c.exporters[0].kafka_topic.c_str(), "edge.{stream}");
  assert_string_equal(c.exporters[0].kafka_compression.c_str(), "zstd");
}

static void test_syntax_error_names_line(void**) {
  ExpectError("[storage]\ndir = \"unterminated\n", Error::kSyntax, {"test.toml:2", "TOML syntax error"});
}

static void test_missing_file(void**) {
  Config c;
  Status s = Load("/nonexistent/tributary.toml", &c);
  assert_false(s.ok());
  assert_int_equal(static_cast<int>(s.code()), static_cast<int>(Error::kIo));
  assert_non_null(strstr(s.message().c_str(), "/nonexistent/tributary.toml"));
}

static void test_reference_lists_every_section(void**) {
  std::string ref = ReferenceMarkdown();
  for (const char* k : {"`storage.max_bytes`", "`bind`", "`limits.max_inflight`", "`on_full`",
                        "`auth.acl_file`", "`admin.bind`", "`priority`"}) {
    if (ref.find(k) == std::string::npos) fail_msg("reference lacks %s", k);
  }
}

int main() {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_defaults_match_design),
      cmocka_unit_test(test_full_design_example_loads),
      cmocka_unit_test(test_unknown_key_names_line_and_key),
      cmocka_unit_test(test_wrong_type),
      cmocka_unit_test(test_node_id_follows_the_upstream_rules),
      cmocka_unit_test(test_negative_and_absurd_sizes),
      cmocka_unit_test(test_bad_bind_address),
      cmocka_unit_test(test_duplicate_stream_name),
      cmocka_unit_test(test_stream_without_subjects),
      cmocka_unit_test(test_exporter_unknown_stream),
      cmocka_unit_test(test_kafka_exporter_keys),
      cmocka_unit_test(test_syntax_error_names_line),
      cmocka_unit_test(test_missing_file),
      cmocka_unit_test(test_reference_lists_every_section),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
