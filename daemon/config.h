// The daemon's configuration: one TOML file, every key with a default.
//
// The keys, their types, defaults and checks live in one table per section in
// config.cc; the README's configuration reference is generated from the same
// tables (`tributaryd --config-reference`), so the two cannot drift.
//
// Thread: values. Load() is pure apart from reading the file.
// Failure: Load returns a Status whose message names the file, the line, the
// key and what was expected. It never throws.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "platform/status.h"
#include "storage/log.h"

namespace trib::config {

enum class Error { kOk = 0, kIo, kSyntax, kUnknownKey, kType, kValue };
using Status = BasicStatus<Error>;

struct TlsConfig {
  bool enabled = false;
  std::string cert;
  std::string key;
  std::string ca;
  bool require_client_cert = false;
  bool use_identity_as_username = false;
};

struct ListenerConfig {
  std::string bind;
  std::string host;
  uint16_t port = 0;
  TlsConfig tls;
};

// How a record's key (and so its partition) is chosen.
enum class KeyKind { kClientId, kTopic, kTopicLevel, kUserProperty };

// When live subscribers get a stream's records: after the commit (with their
// stream position), or as soon as they arrive, while the commit runs.
enum class LiveDelivery { kAfterCommit, kOnReceipt };

struct StreamConfig {
  std::string name;
  std::vector<std::string> subjects;
  uint32_t partitions = 1;
  KeyKind key_kind = KeyKind::kClientId;
  uint32_t key_level = 0;    // kTopicLevel: 0-based topic level
  std::string key_property;  // kUserProperty: the user property's name
  std::string key;           // as written, for messages
  int64_t max_age_ms = 0;
  uint64_t max_bytes = 0;
  storage::OnFull on_full = storage::OnFull::kDropOldest;
  storage::Compression compression = storage::Compression::kNone;
  int64_t priority = 0;  // exporters ship higher-priority streams first
  bool priority_set = false;
  LiveDelivery live_delivery = LiveDelivery::kAfterCommit;
};

struct ExporterConfig {
  std::string name;
  std::string kind;  // peer | mqtt | kafka
  std::vector<std::string> streams;
  std::string url;
  std::string brokers;
  std::string topic_prefix;
  std::string username;
  std::string password;
  std::string client_id;
  std::string ca;
  std::string cert;
  std::string key;
  uint32_t mqtt_version = 5;
  uint64_t max_bytes_per_sec = 0;
  int64_t priority = 0;
  uint32_t max_inflight = 0;  // 0: the kind's default
  std::string kafka_topic;        // kafka: topic template
  std::string kafka_compression;  // kafka: none | gzip | snappy | lz4 | zstd
  bool forward_replicated = false;  // peer: also ship every replicated stream

  bool operator==(const ExporterConfig&) const = default;
};

struct Config {
  std::string source;  // the file read, or "(built-in defaults)"
  std::string node_id;
  std::string log_level;
  struct {
    std::string dir;
    uint64_t max_bytes = 0;
    storage::SyncPolicy sync = storage::SyncPolicy::kAlways;
    int64_t sync_interval_ms = 0;
    uint64_t max_queue_bytes = 0;
  } storage;
  std::vector<ListenerConfig> listeners;
  struct {
    bool allow_anonymous = true;
    bool allow_anonymous_set = false;  // written in the file (else derived)
    std::string password_file;
    std::string acl_file;
  } auth;
  struct {
    uint64_t max_connections = 0;
    uint64_t max_packet_size = 0;
    uint64_t max_inflight = 0;
    int64_t max_keepalive_ms = 0;
    int64_t connect_timeout_ms = 0;
    uint64_t max_publish_rate = 0;
    uint64_t max_subscriptions = 0;
    uint64_t max_topic_length = 0;
    uint64_t max_topic_levels = 0;
    uint64_t max_queued_messages = 0;
    uint64_t max_output_bytes = 0;
    int64_t max_session_expiry_ms = 0;
    int64_t group_cursor_expiry_ms = 0;  // 0: never
  } limits;
  struct {
    std::string bind;
    std::string host;
    uint16_t port = 0;
    std::string token;
  } admin;
  struct {
    int64_t sys_interval_ms = 0;
  } mqtt;
  // Accepting batches from peer exporters ($replicate/...) into
  // "<origin>.<stream>" streams, and the retention those streams get.
  struct {
    bool enabled = false;
    int64_t max_age_ms = 0;
    uint64_t max_bytes = 0;
  } replication;
  std::vector<StreamConfig> streams;
  std::vector<ExporterConfig> exporters;
};

// The built-in defaults (what the daemon runs with when given no file).
Config Defaults();
// Reads, parses and checks a file.
Status Load(const std::string& path, Config* out);
// Same, from text; `source` names it in messages.
Status LoadString(std::string_view text, const std::string& source, Config* out);
// Markdown table of every key: name, type, default, meaning.
std::string ReferenceMarkdown();

}  // namespace trib::config
