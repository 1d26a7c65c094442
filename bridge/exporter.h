// Exporters: ship streams of the log upstream (to an MQTT broker or a Kafka
// cluster) and commit a cursor once the upstream acknowledged.
//
// An Exporter owns one thread. That thread loads the exporter's cursors
// (consumer "x/<name>") per (stream, partition), reads committed records with
// storage::Log::Read in bounded chunks, sends them with a bounded in-flight
// window, and commits the contiguous acknowledged prefix of each partition
// through Log::Submit (tokens carry Log::kForeignTokenBit; the completion is
// not needed). A crash between an upstream ack and the cursor commit re-sends
// those records: delivery is at-least-once. The exporter reconnects with capped
// exponential back-off, paces to max_bytes_per_sec and reports lag.
//
// Memory is bounded by the in-flight window, whatever the backlog: record
// bytes are held only by the upstream client library until acknowledged.
//
// Thread-safe: every public method may be called from any thread. The Log
// must outlive the Exporter.
//
// Failure: Create refuses bad options with Error::kInvalid and a message
// naming the key. After Start, upstream failures never stop the exporter: it
// backs off and retries forever; Status() says what went wrong last.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "platform/status.h"
#include "storage/log.h"

namespace trib::bridge {

enum class Error {
  kOk = 0,
  kInvalid,   // bad options (unknown kind, stream, template placeholder, URL, ...)
  kConnect,   // could not connect / the link went down
  kUpstream,  // the upstream refused a message (negative ack)
  kStorage,   // reading the log or committing a cursor failed
  kStopped,   // the exporter is stopping
};
const char* ErrorName(Error e);

using Status = BasicStatus<Error>;
template <class T>
using Result = BasicResult<T, Error>;

// Filled by the daemon from one [[exporter]] table.
struct ExporterOptions {
  std::string name;  // also names the cursors: consumer "x/<name>"
  std::string kind;  // "peer" | "mqtt" | "kafka"
  std::string node_id;
  // The streams to ship: id (from Log::FindStream) and name.
  std::vector<std::pair<storage::StreamId, std::string>> streams;
  std::string url;      // mqtt: mqtt://host:port or mqtts://host:port
  std::string brokers;  // kafka: bootstrap servers "k1:9092,k2:9092"
  // mqtt: upstream topic = expand(topic_prefix) + the record's MQTT topic.
  // {node_id}, {stream} and {partition} expand; other braces are an error.
  std::string topic_prefix;
  std::string username, password, client_id;  // client_id default: "tributary-<node_id>-<name>"
  std::string ca, cert, key;                  // PEM files; mqtts:// and Kafka SSL
  uint32_t mqtt_version = 5;                  // 3 (3.1.1; 4 is accepted too) or 5
  uint64_t max_bytes_per_sec = 0;             // 0: unlimited
  // Priorities: within this exporter, partitions of a higher-priority stream
  // get the in-flight window first; a lower one is served only while every
  // higher one is caught up (equal priorities: round-robin). A stream's
  // priority is stream_priority[name], else `priority`.
  int64_t priority = 0;
  std::map<std::string, int64_t> stream_priority;
  // peer kind: also ship every replicated stream ("<origin>.<stream>") of
  // the log, including ones created while running (a regional node in a
  // chain). `streams` may then be empty.
  bool forward_replicated = false;
  uint32_t max_inflight = 0;  // 0: 256 for mqtt, 10000 for kafka (records); 16 for peer (messages)
  std::string kafka_topic_template = "{stream}";
  std::string kafka_compression = "none";  // none | gzip | snappy | lz4 | zstd

  // Tuning; the defaults suit production, tests shorten them.
  int64_t commit_interval_ms = 100;      // cursor commit at most this often ...
  uint32_t commit_every_records = 1000;  // ... or after this many acked records
  int64_t ack_timeout_ms = 30000;        // oldest in-flight record unacked this long: link is dead
  uint32_t keep_alive_s = 15;            // mqtt keep-alive
  int64_t connect_timeout_ms = 10000;
  int64_t backoff_min_ms = 100;
  int64_t backoff_max_ms = 30000;
  int64_t idle_poll_ms = 25;  // how often a caught-up exporter looks for new records
};

struct PartitionLag {
  std::string stream;
  uint32_t partition = 0;
  uint64_t cursor = 0;      // first offset not yet acknowledged upstream
  uint64_t end_offset = 0;  // the offset the next append gets
  uint64_t lag_records = 0;
  double lag_seconds = 0;  // now - timestamp of the record at the cursor; 0 when caught up
};

struct ExporterStatus {
  std::string name, kind;
  std::string state;  // connecting | connected | backoff | stopped
  std::string last_error;
  uint64_t reconnects = 0;  // successful connects after the first
  uint64_t records_sent = 0;
  uint64_t records_acked = 0;
  uint64_t bytes_sent = 0;
  uint64_t duplicates_possible = 0;  // records re-sent after they were in flight on a lost link
  uint64_t inflight = 0;
  std::vector<PartitionLag> partitions;
};

class Exporter {
 public:
  // Checks the options against the log (streams exist, templates expand to
  // valid names) and builds the exporter; nothing runs until Start().
  static Result<std::unique_ptr<Exporter>> Create(const ExporterOptions& options,
                                                  storage::Log* log);
  virtual ~Exporter();  // stops

  // Starts the thread. A second call does nothing; Start after Stop does nothing.
  virtual void Start() = 0;
  // Commits what was acknowledged, disconnects and joins the thread within
  // about 5 s. Idempotent.
  virtual void Stop() = 0;
  // A snapshot, at most ~200 ms old.
  virtual ExporterStatus Status() const = 0;
};

}  // namespace trib::bridge
