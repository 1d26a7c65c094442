#include "daemon/config.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "daemon/mqtt/topic.h"
#include "daemon/replicate_wire.h"
#include "daemon/units.h"

namespace trib::config {
namespace {

// ---------------------------------------------------------------------------
// The key tables. Each key: name, type (for messages and docs), default as a
// TOML literal (nullptr: required, no default), a one-line meaning, and a
// setter that checks the value and stores it. Defaults go through the same
// setter, so a default can never bypass its check.
// ---------------------------------------------------------------------------

// A setter returns "" or what was expected.
template <class T>
using Setter = std::function<std::string(const toml::node&, T*)>;

template <class T>
struct Key {
  const char* name;
  const char* type;
  const char* def;
  const char* doc;
  Setter<T> set;
};

std::string Got(const toml::node& n) {
  std::ostringstream os;
  if (n.is_string()) {
    os << '"' << n.as_string()->get() << '"';
  } else if (n.is_table()) {
    os << "a table";
  } else if (n.is_array()) {
    os << "an array";
  } else if (n.is_integer()) {
    os << n.as_integer()->get();
  } else if (n.is_floating_point()) {
    os << n.as_floating_point()->get();
  } else if (n.is_boolean()) {
    os << (n.as_boolean()->get() ? "true" : "false");
  } else {
    os << "a date or time";
  }
  return os.str();
}

template <class T>
Setter<T> Str(std::string T::*field, bool allow_empty = true) {
  return [=](const toml::node& n, T* t) -> std::string {
    if (!n.is_string()) return "a string";
    std::string v = n.as_string()->get();
    if (!allow_empty && v.empty()) return "a non-empty string";
    t->*field = v;
    return "";
  };
}

template <class T>
Setter<T> Bool(bool T::*field) {
  return [=](const toml::node& n, T* t) -> std::string {
    if (!n.is_boolean()) return "true or false";
    t->*field = n.as_boolean()->get();
    return "";
  };
}

template <class T, class F>
Setter<T> Int(F T::*field, int64_t min, int64_t max) {
  return [=](const toml::node& n, T* t) -> std::string {
    std::string range = "an integer from " + std::to_string(min) + " to " + std::to_string(max);
    if (!n.is_integer()) return range;
    int64_t v = n.as_integer()->get();
    if (v < min || v > max) return range;
    t->*field = static_cast<F>(v);
    return "";
  };
}

template <class T>
Setter<T> Size(uint64_t T::*field, uint64_t min, uint64_t max, bool zero_ok = false) {
  return [=](const toml::node& n, T* t) -> std::string {
    std::string range = " from " + FormatSize(min) + " to " + FormatSize(max);
    uint64_t v = 0;
    if (n.is_integer()) {
      if (n.as_integer()->get() < 0) return "a non-negative size" + range;
      v = static_cast<uint64_t>(n.as_integer()->get());
    } else if (n.is_string()) {
      std::string err = ParseSize(n.as_string()->get(), &v);
      if (!err.empty()) return err;
    } else {
      return "a size such as \"64MiB\"";
    }
    if (v == 0 && zero_ok) {
      t->*field = 0;
      return "";
    }
    if (v < min || v > max) return "a size" + range + (zero_ok ? " (or 0)" : "");
    t->*field = v;
    return "";
  };
}

template <class T>
Setter<T> Duration(int64_t T::*field, int64_t min_ms, int64_t max_ms, bool zero_ok = false) {
  return [=](const toml::node& n, T* t) -> std::string {
    if (!n.is_string()) return "a duration string such as \"10s\"";
    int64_t v = 0;
    std::string err = ParseDuration(n.as_string()->get(), &v);
    if (!err.empty()) return err;
    if (v == 0 && zero_ok) {
      t->*field = 0;
      return "";
    }
    if (v < min_ms || v > max_ms)
      return "a duration from " + FormatDuration(min_ms) + " to " + FormatDuration(max_ms) +
             (zero_ok ? " (or 0)" : "");
    t->*field = v;
    return "";
  };
}

template <class T, class E>
Setter<T> Enum(E T::*field, std::vector<std::pair<const char*, E>> values) {
  return [=](const toml::node& n, T* t) -> std::string {
    std::string expected = "one of";
    for (size_t i = 0; i < values.size(); ++i)
      expected += std::string(i ? ", " : " ") + values[i].first;
    if (!n.is_string()) return expected;
    for (const auto& [name, v] : values) {
      if (n.as_string()->get() == name) {
        t->*field = v;
        return "";
      }
    }
    return expected;
  };
}

template <class T>
Setter<T> StrList(std::vector<std::string> T::*field) {
  return [=](const toml::node& n, T* t) -> std::string {
    if (!n.is_array()) return "an array of strings";
    std::vector<std::string> out;
    for (const toml::node& e : *n.as_array()) {
      if (!e.is_string()) return "an array of strings";
      out.push_back(e.as_string()->get());
    }
    t->*field = std::move(out);
    return "";
  };
}

// Stream name: also a path element in storage and a topic level upstream.
bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return false;
  }
  return true;
}

using Storage = decltype(Config::storage);
using Auth = decltype(Config::auth);
using Limits = decltype(Config::limits);
using Admin = decltype(Config::admin);
using Mqtt = decltype(Config::mqtt);
using Replication = decltype(Config::replication);

Setter<Config> NodeId() {
  return [](const toml::node& n, Config* c) -> std::string {
    if (!n.is_string()) return "a string";
    // The rules of an origin on the upstream side (daemon/replicate_wire.h,
    // ValidOrigin): it names streams there as "<node_id>.<stream>".
    std::string v = n.as_string()->get();
    if (v.empty()) {
      // The built-in default: this machine's host name, up to its first dot
      // (gw1.example.net -> gw1), other characters that cannot be in a node
      // id replaced by '-'.
      char host[256] = {0};
      gethostname(host, sizeof host - 1);
      v = std::string(host, strnlen(host, sizeof host));
      if (size_t dot = v.find('.'); dot != std::string::npos) v.resize(dot);
      for (char& ch : v) {
        if (!ValidOriginChar(ch)) ch = '-';
      }
      if (v.size() > kMaxOrigin) v.resize(kMaxOrigin);
      if (v.empty() || v[0] == '$') v = "tributary";
    }
    if (!ValidOrigin(v))
      return "at most 64 bytes, not starting with '$', without '/', '+', '#', '.' or spaces";
    c->node_id = v;
    return "";
  };
}

Setter<Config> LogLevel() {
  return [](const toml::node& n, Config* c) -> std::string {
    const char* expected = "one of error, warn, notice, info, debug";
    if (!n.is_string()) return expected;
    std::string v = n.as_string()->get();
    if (v != "error" && v != "warn" && v != "notice" && v != "info" && v != "debug")
      return expected;
    c->log_level = v;
    return "";
  };
}

Setter<Storage> StorageDir() {
  return [](const toml::node& n, Storage* s) -> std::string {
    if (!n.is_string()) return "a directory path";
    std::string v = n.as_string()->get();
    if (v.empty()) {  // Under systemd, StateDirectory= sets STATE_DIRECTORY.
      const char* state = getenv("STATE_DIRECTORY");
      v = state && *state ? std::string(state).substr(0, std::string(state).find(':')) : "./data";
    }
    s->dir = v;
    return "";
  };
}

template <class T>
Setter<T> BindSetter(std::string T::*bind, std::string T::*host, uint16_t T::*port) {
  return [=](const toml::node& n, T* t) -> std::string {
    if (!n.is_string()) return "an address such as \"127.0.0.1:1883\"";
    std::string err = ParseBind(n.as_string()->get(), &(t->*host), &(t->*port));
    if (!err.empty()) return err;
    t->*bind = n.as_string()->get();
    return "";
  };
}

Setter<ListenerConfig> TlsSetter() {
  return [](const toml::node& n, ListenerConfig* l) -> std::string {
    const char* expected =
        "an inline table { cert = \"...\", key = \"...\", ca = \"...\", require_client_cert = "
        "false, use_identity_as_username = false }";
    if (!n.is_table()) return expected;
    TlsConfig tls;
    tls.enabled = true;
    for (auto&& [k, v] : *n.as_table()) {
      std::string key(k.str());
      if (key == "cert" || key == "key" || key == "ca") {
        if (!v.is_string()) return "tls." + key + ": a file path";
        std::string* dst = key == "cert" ? &tls.cert : key == "key" ? &tls.key : &tls.ca;
        *dst = v.as_string()->get();
      } else if (key == "require_client_cert" || key == "use_identity_as_username") {
        if (!v.is_boolean()) return "tls." + key + ": true or false";
        bool* dst = key == "require_client_cert" ? &tls.require_client_cert
                                                 : &tls.use_identity_as_username;
        *dst = v.as_boolean()->get();
      } else {
        return std::string(expected) + " (unknown key tls." + key + ")";
      }
    }
    if (tls.cert.empty() || tls.key.empty()) return "tls needs both cert and key";
    if (tls.require_client_cert && tls.ca.empty()) return "tls.require_client_cert needs tls.ca";
    l->tls = tls;
    return "";
  };
}

Setter<StreamConfig> StreamKey() {
  return [](const toml::node& n, StreamConfig* s) -> std::string {
    const char* expected = "client_id, topic, topic_level:N or user_property:NAME";
    if (!n.is_string()) return expected;
    std::string v = n.as_string()->get();
    s->key = v;
    if (v == "client_id") {
      s->key_kind = KeyKind::kClientId;
    } else if (v == "topic") {
      s->key_kind = KeyKind::kTopic;
    } else if (v.rfind("topic_level:", 0) == 0) {
      std::string num = v.substr(12);
      if (num.empty() || num.size() > 4 || num.find_first_not_of("0123456789") != std::string::npos)
        return expected;
      s->key_kind = KeyKind::kTopicLevel;
      s->key_level = static_cast<uint32_t>(std::stoul(num));
    } else if (v.rfind("user_property:", 0) == 0 && v.size() > 14) {
      s->key_kind = KeyKind::kUserProperty;
      s->key_property = v.substr(14);
    } else {
      return expected;
    }
    return "";
  };
}

const std::vector<Key<Config>>& TopKeys() {
  static const std::vector<Key<Config>> keys = {
      {"node_id", "string", "\"\"", "Names this node upstream. Default: the host name.", NodeId()},
      {"log_level", "string", "\"info\"", "error, warn, notice, info or debug.", LogLevel()},
  };
  return keys;
}

const std::vector<Key<Storage>>& StorageKeys() {
  using S = Storage;
  static const std::vector<Key<S>> keys = {
      {"dir", "path", "\"\"",
       "Data directory. Default: $STATE_DIRECTORY under systemd, else ./data.", StorageDir()},
      {"max_bytes", "size", "\"1GiB\"", "The whole storage budget (LMDB map size).",
       Size(&S::max_bytes, 1ull << 20, 1ull << 42)},
      {"sync", "enum", "\"always\"",
       "always (fsync each commit), interval (fsync every sync_interval; acks wait for it) or "
       "none (no fsync).",
       Enum(&S::sync, {{"always", storage::SyncPolicy::kAlways},
                       {"interval", storage::SyncPolicy::kInterval},
                       {"none", storage::SyncPolicy::kNone}})},
      {"sync_interval", "duration", "\"100ms\"", "fsync period under sync = \"interval\".",
       Duration(&S::sync_interval_ms, 1, 60000)},
      {"max_queue_bytes", "size", "\"64MiB\"",
       "Bytes waiting for the storage writer before the broker stops reading from publishers.",
       Size(&S::max_queue_bytes, 64ull << 10, 4ull << 30)},
  };
  return keys;
}

const std::vector<Key<ListenerConfig>>& ListenerKeys() {
  using L = ListenerConfig;
  static const std::vector<Key<L>> keys = {
      {"bind", "address", nullptr, "host:port to listen on, e.g. \"0.0.0.0:1883\" or \"[::]:8883\".",
       BindSetter(&L::bind, &L::host, &L::port)},
      {"tls", "inline table", "", "TLS: { cert, key, ca, require_client_cert, use_identity_as_username }.",
       TlsSetter()},
  };
  return keys;
}

const std::vector<Key<Auth>>& AuthKeys() {
  using A = Auth;
  static const std::vector<Key<A>> keys = {
      {"allow_anonymous", "bool", "",
       "Accept clients without a username. Default: true without a password_file, else false.",
       [](const toml::node& n, A* a) -> std::string {
         if (!n.is_boolean()) return "true or false";
         a->allow_anonymous = n.as_boolean()->get();
         a->allow_anonymous_set = true;
         return "";
       }},
      {"password_file", "path", "\"\"", "Mosquitto-format password file (tributary passwd).",
       Str(&A::password_file)},
      {"acl_file", "path", "\"\"", "Mosquitto-format ACL file.", Str(&A::acl_file)},
  };
  return keys;
}

const std::vector<Key<Limits>>& LimitKeys() {
  using L = Limits;
  static const std::vector<Key<L>> keys = {
      {"max_connections", "integer", "10000", "Concurrent client connections.",
       Int(&L::max_connections, 1, 1000000)},
      {"max_packet_size", "size", "\"1MiB\"", "Largest MQTT packet accepted and sent.",
       Size(&L::max_packet_size, 64, 256ull << 20)},
      {"max_inflight", "integer", "64",
       "Unacknowledged QoS 1/2 messages per client, both directions (receive maximum).",
       Int(&L::max_inflight, 1, 65535)},
      {"max_keepalive", "duration", "\"10m\"",
       "A client asking for a longer keep-alive gets this (MQTT 5 server keep-alive).",
       Duration(&L::max_keepalive_ms, 1000, 65535000)},
      {"connect_timeout", "duration", "\"10s\"",
       "Time a new connection has to complete CONNECT.", Duration(&L::connect_timeout_ms, 100, 600000)},
      {"max_publish_rate", "integer", "0", "Messages/s per client; 0 = unlimited.",
       Int(&L::max_publish_rate, 0, 10000000)},
      {"max_subscriptions", "integer", "1000", "Subscriptions per client.",
       Int(&L::max_subscriptions, 1, 1000000)},
      {"max_topic_length", "integer", "1024", "Bytes in a topic name or filter.",
       Int(&L::max_topic_length, 1, 65535)},
      {"max_topic_levels", "integer", "32", "Levels in a topic name or filter.",
       Int(&L::max_topic_levels, 1, 1000)},
      {"max_queued_messages", "integer", "1000",
       "Messages in no stream queued per offline or slow client; past it they are dropped.",
       Int(&L::max_queued_messages, 0, 10000000)},
      {"max_output_bytes", "size", "\"4MiB\"",
       "Bytes queued for sending to one client before it is read from the log or disconnected.",
       Size(&L::max_output_bytes, 64ull << 10, 1ull << 30)},
      {"max_session_expiry", "duration", "\"30d\"",
       "Longest session expiry granted to a client.", Duration(&L::max_session_expiry_ms, 1000, 136ll * 365 * 86400000, true)},
      {"group_cursor_expiry", "duration", "\"7d\"",
       "How long a consumer group's cursors are kept once its last subscriber has gone; \"0\" keeps them.",
       Duration(&L::group_cursor_expiry_ms, 1000, 136ll * 365 * 86400000, true)},
  };
  return keys;
}

const std::vector<Key<Admin>>& AdminKeys() {
  using A = Admin;
  static const std::vector<Key<A>> keys = {
      {"bind", "address", "\"127.0.0.1:9883\"", "Admin HTTP listener (/metrics, /healthz, /v1/...).",
       BindSetter(&A::bind, &A::host, &A::port)},
      {"token", "string", "\"\"", "Bearer token required by the admin API; empty: none.",
       Str(&A::token)},
  };
  return keys;
}

const std::vector<Key<Mqtt>>& MqttKeys() {
  using M = Mqtt;
  static const std::vector<Key<M>> keys = {
      {"sys_interval", "duration", "\"10s\"", "Period of $SYS/ topic updates; 0 disables them.",
       Duration(&M::sys_interval_ms, 1000, 86400000, true)},
  };
  return keys;
}

const std::vector<Key<Replication>>& ReplicationKeys() {
  using R = Replication;
  static const std::vector<Key<R>> keys = {
      {"enabled", "bool", "false",
       "Accept batches from peer exporters on $replicate/<origin>/<stream>/<partition> (QoS 1, "
       "MQTT 5, publish permission in the ACL) into streams named <origin>.<stream>.",
       Bool(&R::enabled)},
      {"max_age", "duration", "\"0s\"", "Retention of replicated streams by age; 0 = no limit.",
       Duration(&R::max_age_ms, 1000, 100ll * 365 * 86400000, true)},
      {"max_bytes", "size", "0", "Retention of each replicated stream by size; 0 = no limit.",
       Size(&R::max_bytes, 64ull << 10, 1ull << 42, true)},
  };
  return keys;
}

const std::vector<Key<StreamConfig>>& StreamKeys() {
  using S = StreamConfig;
  static const std::vector<Key<S>> keys = {
      {"name", "string", nullptr, "Stream name: letters, digits, '_' and '-'.",
       [](const toml::node& n, S* s) -> std::string {
         if (!n.is_string() || !ValidName(n.as_string()->get()))
           return "a name of 1-64 letters, digits, '_' or '-'";
         s->name = n.as_string()->get();
         return "";
       }},
      {"subjects", "array of topic filters", nullptr,
       "MQTT topic filters captured by this stream; the first stream (in file order) whose "
       "filters match a topic stores the message.",
       [](const toml::node& n, S* s) -> std::string {
         std::string err = StrList(&S::subjects)(n, s);
         if (!err.empty()) return "an array of topic filters";
         if (s->subjects.empty()) return "at least one topic filter";
         for (const std::string& f : s->subjects) {
           if (f.empty() || !mqtt::ValidateTopicFilter(f).ok()) return "valid MQTT topic filters (bad: \"" + f + "\")";
         }
         return "";
       }},
      {"partitions", "integer", "1", "Number of partitions (fixed once created).",
       Int(&S::partitions, 1, 1024)},
      {"key", "string", "\"client_id\"",
       "What picks the partition: client_id, topic, topic_level:N or user_property:NAME.",
       StreamKey()},
      {"max_age", "duration", "\"0s\"", "Delete records older than this; 0 = no age limit.",
       Duration(&S::max_age_ms, 1000, 100ll * 365 * 86400000, true)},
      {"max_bytes", "size", "0", "Delete the oldest records past this size; 0 = no limit.",
       Size(&S::max_bytes, 64ull << 10, 1ull << 42, true)},
      {"on_full", "enum", "\"drop_oldest\"",
       "When storage is full: drop_oldest (ring buffer) or reject (MQTT 5 reason 0x97).",
       Enum(&S::on_full,
            {{"drop_oldest", storage::OnFull::kDropOldest}, {"reject", storage::OnFull::kReject}})},
      {"compression", "enum", "\"none\"", "Batch compression: none or zstd.",
       Enum(&S::compression,
            {{"none", storage::Compression::kNone}, {"zstd", storage::Compression::kZstd}})},
      {"live_delivery", "enum", "\"after_commit\"",
       "When plain subscribers get a record: after_commit (after its commit under the sync "
       "policy, with its stream position) or on_receipt (as it arrives, like a message no stream "
       "captures, while the commit runs; acks still wait for the commit).",
       Enum(&S::live_delivery, {{"after_commit", LiveDelivery::kAfterCommit},
                                {"on_receipt", LiveDelivery::kOnReceipt}})},
      {"priority", "integer", "",
       "Exporters ship higher-priority streams first; default: the exporter's priority.",
       [](const toml::node& n, S* s) -> std::string {
         std::string err = Int(&S::priority, -1000, 1000)(n, s);
         s->priority_set = err.empty();
         return err;
       }},
  };
  return keys;
}

const std::vector<Key<ExporterConfig>>& ExporterKeys() {
  using E = ExporterConfig;
  static const std::vector<Key<E>> keys = {
      {"name", "string", nullptr, "Exporter name (names its cursors).",
       [](const toml::node& n, E* e) -> std::string {
         if (!n.is_string() || !ValidName(n.as_string()->get()))
           return "a name of 1-64 letters, digits, '_' or '-'";
         e->name = n.as_string()->get();
         return "";
       }},
      {"kind", "enum", nullptr, "peer, mqtt or kafka.",
       [](const toml::node& n, E* e) -> std::string {
         if (!n.is_string()) return "one of peer, mqtt, kafka";
         std::string v = n.as_string()->get();
         if (v != "peer" && v != "mqtt" && v != "kafka") return "one of peer, mqtt, kafka";
         e->kind = v;
         return "";
       }},
      {"streams", "array of strings", "[]", "Streams to ship (may be empty with forward_replicated).",
       StrList(&E::streams)},
      {"url", "string", "\"\"", "mqtt:// or mqtts:// URL of the upstream (peer and mqtt kinds).",
       Str(&E::url)},
      {"brokers", "string", "\"\"", "Kafka bootstrap servers, \"host:port,host:port\".",
       Str(&E::brokers)},
      {"topic_prefix", "string", "\"\"",
       "mqtt kind: prefix for upstream topics; {node_id}, {stream}, {partition} expand.",
       Str(&E::topic_prefix)},
      {"username", "string", "\"\"", "Upstream username.", Str(&E::username)},
      {"password", "string", "\"\"", "Upstream password.", Str(&E::password)},
      {"client_id", "string", "\"\"", "Upstream client id; default tributary-<node_id>-<name>.",
       Str(&E::client_id)},
      {"ca", "path", "\"\"", "CA file for mqtts:// upstreams.", Str(&E::ca)},
      {"cert", "path", "\"\"", "Client certificate for the upstream.", Str(&E::cert)},
      {"key", "path", "\"\"", "Client key for the upstream.", Str(&E::key)},
      {"mqtt_version", "integer", "5", "3 (3.1.1) or 5.",
       [](const toml::node& n, E* e) -> std::string {
         if (!n.is_integer() || (n.as_integer()->get() != 3 && n.as_integer()->get() != 5))
           return "3 or 5";
         e->mqtt_version = static_cast<uint32_t>(n.as_integer()->get());
         return "";
       }},
      {"max_bytes_per_sec", "size", "0", "Upload pacing in bytes/s; 0 = unlimited.",
       Size(&E::max_bytes_per_sec, 1024, 1ull << 40, true)},
      {"priority", "integer", "0",
       "Priority of this exporter's streams that set none (and of forwarded replicated streams); "
       "higher ships first within the exporter.",
       Int(&E::priority, -1000, 1000)},
      {"forward_replicated", "bool", "false",
       "peer kind: also ship every replicated stream (<origin>.<stream>) of this node, keeping "
       "its origin (gateway -> regional -> central chains).",
       Bool(&E::forward_replicated)},
      {"max_inflight", "integer", "0", "Unacknowledged messages in flight; 0 = kind default.",
       Int(&E::max_inflight, 0, 65535)},
      {"kafka_topic", "string", "\"{stream}\"",
       "kafka kind: Kafka topic; {node_id}, {stream} and {partition} expand.",
       Str(&E::kafka_topic, false)},
      {"kafka_compression", "enum", "\"none\"", "kafka kind: none, gzip, snappy, lz4 or zstd.",
       [](const toml::node& n, E* e) -> std::string {
         const char* expected = "one of none, gzip, snappy, lz4, zstd";
         if (!n.is_string()) return expected;
         std::string v = n.as_string()->get();
         if (v != "none" && v != "gzip" && v != "snappy" && v != "lz4" && v != "zstd") return expected;
         e->kafka_compression = v;
         return "";
       }},
  };
  return keys;
}

// Whether a TOML value has the kind a key's type needs; a mismatch is a type
// error (Error::kType), anything a setter refuses is a value error.
bool KindFits(const char* type, const toml::node& n) {
  std::string_view t(type);
  if (t == "integer") return n.is_integer();
  if (t == "bool") return n.is_boolean();
  if (t == "size") return n.is_string() || n.is_integer();
  if (t.rfind("array", 0) == 0) return n.is_array();
  if (t == "inline table") return n.is_table();
  return n.is_string();  // string, path, enum, address, duration
}

// ---------------------------------------------------------------------------
// Applying tables.
// ---------------------------------------------------------------------------

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  Status Fail(Error code, int line, const std::string& key, const std::string& what) const {
    std::string where = source_;
    if (line > 0) where += ":" + std::to_string(line);
    return Status(code, where + ": " + (key.empty() ? "" : "key '" + key + "': ") + what);
  }

  template <class T>
  Status ApplyDefaults(const std::vector<Key<T>>& keys, const std::string& prefix, T* target,
                       const toml::table* given, int line) const {
    for (const Key<T>& k : keys) {
      if (given && given->contains(k.name)) continue;
      if (k.def == nullptr) {
        return Fail(Error::kValue, line, prefix + k.name, "is required (" + std::string(k.doc) + ")");
      }
      if (k.def[0] == '\0') continue;  // no default value: leave the struct's
      toml::table t = toml::parse(std::string("v = ") + k.def);
      std::string err = k.set(*t.get("v"), target);
      if (!err.empty()) {  // A default failing its own check is a bug.
        fprintf(stderr, "BUG: default of %s%s fails its check: %s\n", prefix.c_str(), k.name,
                err.c_str());
        std::abort();
      }
    }
    return Status();
  }

  template <class T>
  Status Apply(const std::vector<Key<T>>& keys, const std::string& prefix, const toml::table& tbl,
               T* target) const {
    for (auto&& [k, v] : tbl) {
      std::string name(k.str());
      const Key<T>* key = nullptr;
      for (const Key<T>& c : keys) {
        if (name == c.name) key = &c;
      }
      int line = static_cast<int>(v.source().begin.line);
      if (!key) return Fail(Error::kUnknownKey, line, prefix + name, "unknown key");
      std::string err = key->set(v, target);
      if (!err.empty()) {
        Error code = KindFits(key->type, v) ? Error::kValue : Error::kType;
        return Fail(code, line, prefix + name, "expected " + err + "; got " + Got(v));
      }
    }
    return ApplyDefaults(keys, prefix, target, &tbl, static_cast<int>(tbl.source().begin.line));
  }

  template <class T>
  Status ApplySection(const toml::table& root, const char* section,
                      const std::vector<Key<T>>& keys, T* target) const {
    const toml::node* n = root.get(section);
    if (!n) return ApplyDefaults(keys, std::string(section) + ".", target, nullptr, 0);
    if (!n->is_table()) {
      return Fail(Error::kType, static_cast<int>(n->source().begin.line), section,
                  "expected a table [" + std::string(section) + "]");
    }
    return Apply(keys, std::string(section) + ".", *n->as_table(), target);
  }

  template <class T>
  Status ApplyArray(const toml::table& root, const char* section,
                    const std::vector<Key<T>>& keys, std::vector<T>* out) const {
    const toml::node* n = root.get(section);
    if (!n) return Status();
    if (!n->is_array_of_tables()) {
      return Fail(Error::kType, static_cast<int>(n->source().begin.line), section,
                  "expected an array of tables [[" + std::string(section) + "]]");
    }
    out->clear();
    for (const toml::node& e : *n->as_array()) {
      T item;
      std::string prefix = std::string(section) + "[" + std::to_string(out->size()) + "].";
      Status s = Apply(keys, prefix, *e.as_table(), &item);
      if (!s.ok()) return s;
      out->push_back(std::move(item));
    }
    return Status();
  }

  Status CheckTopLevel(const toml::table& root) const {
    static const std::set<std::string> kSections = {"storage", "listener", "auth",   "limits",
                                                    "admin",   "mqtt",     "stream", "exporter",
                                                    "replication"};
    for (auto&& [k, v] : root) {
      std::string name(k.str());
      if (kSections.count(name)) continue;
      bool top = false;
      for (const auto& key : TopKeys()) top |= name == key.name;
      if (!top) {
        return Fail(Error::kUnknownKey, static_cast<int>(v.source().begin.line), name,
                    "unknown key or section");
      }
    }
    return Status();
  }

  Status Load(const toml::table& root, Config* c) const {
    Status s = CheckTopLevel(root);
    if (!s.ok()) return s;
    toml::table top;
    for (const auto& key : TopKeys()) {
      if (const toml::node* n = root.get(key.name)) top.insert(key.name, *n);
    }
    // Top-level keys are applied from the root so their lines are right.
    for (const auto& key : TopKeys()) {
      const toml::node* n = root.get(key.name);
      if (!n) continue;
      std::string err = key.set(*n, c);
      if (!err.empty()) {
        return Fail(KindFits(key.type, *n) ? Error::kValue : Error::kType, static_cast<int>(n->source().begin.line), key.name,
                    "expected " + err + "; got " + Got(*n));
      }
    }
    if (!(s = ApplyDefaults(TopKeys(), "", c, &top, 0)).ok()) return s;
    if (!(s = ApplySection(root, "storage", StorageKeys(), &c->storage)).ok()) return s;
    if (!(s = ApplySection(root, "auth", AuthKeys(), &c->auth)).ok()) return s;
    if (!(s = ApplySection(root, "limits", LimitKeys(), &c->limits)).ok()) return s;
    if (!(s = ApplySection(root, "admin", AdminKeys(), &c->admin)).ok()) return s;
    if (!(s = ApplySection(root, "mqtt", MqttKeys(), &c->mqtt)).ok()) return s;
    if (!(s = ApplySection(root, "replication", ReplicationKeys(), &c->replication)).ok()) return s;
    if (!(s = ApplyArray(root, "listener", ListenerKeys(), &c->listeners)).ok()) return s;
    if (!(s = ApplyArray(root, "stream", StreamKeys(), &c->streams)).ok()) return s;
    if (!(s = ApplyArray(root, "exporter", ExporterKeys(), &c->exporters)).ok()) return s;
    return Check(root, c);
  }

  int LineOf(const toml::table& root, const char* section, size_t index) const {
    const toml::node* n = root.get(section);
    if (!n || !n->is_array() || index >= n->as_array()->size()) return 0;
    return static_cast<int>((*n->as_array())[index].source().begin.line);
  }

  // Rules that span keys.
  Status Check(const toml::table& root, Config* c) const {
    std::set<std::string> seen;
    for (size_t i = 0; i < c->listeners.size(); ++i) {
      if (!seen.insert(c->listeners[i].host + ":" + std::to_string(c->listeners[i].port)).second)
        return Fail(Error::kValue, LineOf(root, "listener", i), "listener[" + std::to_string(i) + "].bind",
                    "duplicate listener address " + c->listeners[i].bind);
    }
    seen.clear();
    for (size_t i = 0; i < c->streams.size(); ++i) {
      if (!seen.insert(c->streams[i].name).second)
        return Fail(Error::kValue, LineOf(root, "stream", i), "stream[" + std::to_string(i) + "].name",
                    "duplicate stream name \"" + c->streams[i].name + "\"");
    }
    std::set<std::string> exporters;
    for (size_t i = 0; i < c->exporters.size(); ++i) {
      const ExporterConfig& e = c->exporters[i];
      std::string key = "exporter[" + std::to_string(i) + "]";
      int line = LineOf(root, "exporter", i);
      if (!exporters.insert(e.name).second)
        return Fail(Error::kValue, line, key + ".name", "duplicate exporter name \"" + e.name + "\"");
      if (e.forward_replicated && e.kind != "peer")
        return Fail(Error::kValue, line, key + ".forward_replicated", "needs kind = \"peer\"");
      if (e.streams.empty() && !e.forward_replicated)
        return Fail(Error::kValue, line, key + ".streams", "names no stream");
      for (const std::string& s : e.streams) {
        if (!seen.count(s))
          return Fail(Error::kValue, line, key + ".streams", "unknown stream \"" + s + "\"");
      }
      if (e.kind == "kafka" && e.brokers.empty())
        return Fail(Error::kValue, line, key + ".brokers", "is required for kind = \"kafka\"");
      if (e.kind != "kafka" && e.url.rfind("mqtt://", 0) != 0 && e.url.rfind("mqtts://", 0) != 0)
        return Fail(Error::kValue, line, key + ".url",
                    "expected an mqtt://host:port or mqtts://host:port URL for kind = \"" + e.kind + "\"");
    }
    if (!c->auth.allow_anonymous_set) c->auth.allow_anonymous = c->auth.password_file.empty();
    if (c->storage.max_queue_bytes > c->storage.max_bytes / 2 && c->storage.max_bytes >= (2ull << 20))
      c->storage.max_queue_bytes = c->storage.max_bytes / 2;
    return Status();
  }

 private:
  std::string source_;
};

void AddBuiltInParts(Config* c) {
  if (c->listeners.empty()) {
    ListenerConfig l;
    l.bind = "127.0.0.1:1883";
    l.host = "127.0.0.1";
    l.port = 1883;
    c->listeners.push_back(l);
  }
}

}  // namespace

Config Defaults() {
  Config c;
  Status s = LoadString("[[stream]]\nname = \"default\"\nsubjects = [\"#\"]\n", "(built-in defaults)", &c);
  if (!s.ok()) std::abort();  // The defaults failing their checks is a bug.
  return c;
}

Status LoadString(std::string_view text, const std::string& source, Config* out) {
  Config c;
  c.source = source;
  Loader loader(source);
  try {
    toml::table root = toml::parse(text, source);
    Status s = loader.Load(root, &c);
    if (!s.ok()) return s;
  } catch (const toml::parse_error& e) {
    return loader.Fail(Error::kSyntax, static_cast<int>(e.source().begin.line), "",
                       "TOML syntax error: " + std::string(e.description()));
  }
  AddBuiltInParts(&c);
  *out = std::move(c);
  return Status();
}

Status Load(const std::string& path, Config* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status(Error::kIo, path + ": cannot read the configuration file: " + strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status(Error::kIo, path + ": read error");
  return LoadString(ss.str(), path, out);
}

namespace {
template <class T>
void Section(std::ostringstream& os, const std::string& title, const std::string& prefix,
             const std::vector<Key<T>>& keys) {
  os << "\n### " << title << "\n\n| key | type | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const Key<T>& k : keys) {
    std::string def = k.def == nullptr ? "required" : (k.def[0] ? k.def : "(none)");
    os << "| `" << prefix << k.name << "` | " << k.type << " | `" << def << "` | " << k.doc << " |\n";
  }
}
}  // namespace

std::string ReferenceMarkdown() {
  std::ostringstream os;
  Section(os, "Top level", "", TopKeys());
  Section(os, "[storage]", "storage.", StorageKeys());
  Section(os, "[[listener]] (default: one plain listener on 127.0.0.1:1883)", "", ListenerKeys());
  Section(os, "[auth]", "auth.", AuthKeys());
  Section(os, "[limits]", "limits.", LimitKeys());
  Section(os, "[admin]", "admin.", AdminKeys());
  Section(os, "[mqtt]", "mqtt.", MqttKeys());
  Section(os, "[replication]", "replication.", ReplicationKeys());
  Section(os, "[[stream]] (default: one stream \"default\" capturing \"#\")", "", StreamKeys());
  Section(os, "[[exporter]]", "", ExporterKeys());
  return os.str();
}

}  // namespace trib::config
