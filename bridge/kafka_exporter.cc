// The kafka exporter's Sink: a librdkafka idempotent producer (acks=all).
// With bridge/kafka_mock.cc, the only file that includes librdkafka.
//
// Each Connect creates a fresh producer and checks that the cluster answers a
// metadata request. librdkafka retries and reconnects to brokers by itself
// while the producer lives, keeping order per Kafka partition (idempotence);
// a record it gives up on (message.timeout.ms = ack_timeout_ms) comes back as
// a failed delivery report, and the runner then reconnects and re-sends from
// the acknowledged prefix. Delivery reports and errors are served by
// rd_kafka_poll on the exporter thread, inside Wait().
#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "bridge/sink.h"
#include "platform/clock.h"

namespace trib::bridge {
namespace {

constexpr uint32_t kDefaultWindow = 10000;
constexpr int64_t kPollSliceMs = 50;  // Wait() never blocks longer: Stop stays prompt

class KafkaSink final : public Sink {
 public:
  explicit KafkaSink(const ExporterOptions& o) : o_(o) {
    window_ = o.max_inflight ? o.max_inflight : kDefaultWindow;
    // cppcheck-suppress useInitializationList
    client_id_ = o.client_id.empty() ? "tributary-" + o.node_id + "-" + o.name : o.client_id;
  }
  ~KafkaSink() override { Disconnect(); }

  bridge::Status Connect(const std::atomic<bool>& stop) override;
  void Disconnect() override;
  SendResult Send(const PartitionRef& part, std::span<const storage::Record> records, uint64_t id,
                  uint32_t* taken, std::string* error) override;
  void Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) override;
  void Wake() override {}  // Wait() polls in short slices
  uint32_t Window() const override { return window_; }
  uint64_t WireBytes(const PartitionRef& part, const storage::Record& r) const override {
    return part.target.size() + r.key.size() + r.payload.size() + r.topic.size() + 64;
  }
  int64_t AckTimeoutMs() const override { return 0; }

  // Builds the producer configuration; public for Create's validation.
  bridge::Status BuildConf(rd_kafka_conf_t** out) const;

 private:
  static void OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque);
  static void OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque);

  const ExporterOptions o_;
  uint32_t window_;
  std::string client_id_;
  rd_kafka_t* rk_ = nullptr;
  std::vector<SinkEvent> pending_;  // filled by callbacks during rd_kafka_poll
};

bridge::Status KafkaSink::BuildConf(rd_kafka_conf_t** out) const {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const bool tls = !o_.ca.empty() || !o_.cert.empty();
  const bool sasl = !o_.username.empty();
  const std::string security =
      sasl ? (tls ? "sasl_ssl" : "sasl_plaintext") : (tls ? "ssl" : "plaintext");
  const std::string queue_max = std::to_string(std::max<uint32_t>(window_ * 2, 1000));
  const std::string timeout = std::to_string(std::max<int64_t>(o_.ack_timeout_ms, 1000));
  std::vector<std::pair<std::string, std::string>> kv = {
      {"bootstrap.servers", o_.brokers},
      {"client.id", client_id_},
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"compression.codec", o_.kafka_compression},
      {"queue.buffering.max.messages", queue_max},
      {"linger.ms", "5"},
      {"message.timeout.ms", timeout},
      {"partitioner", "murmur2_random"},
      // librdkafka reconnects to each broker by itself: same bounds as ours.
      {"reconnect.backoff.ms", std::to_string(std::max<int64_t>(1, o_.backoff_min_ms))},
      {"reconnect.backoff.max.ms",
       std::to_string(
           std::max(o_.backoff_min_ms,
                    o_.backoff_max_ms))},  // the Java client's choice: same key, same partition
      {"security.protocol", security},
  };
  if (!o_.ca.empty()) kv.emplace_back("ssl.ca.location", o_.ca);
  if (!o_.cert.empty()) kv.emplace_back("ssl.certificate.location", o_.cert);
  if (!o_.key.empty()) kv.emplace_back("ssl.key.location", o_.key);
  if (sasl) {
    kv.emplace_back("sasl.mechanisms", "PLAIN");
    kv.emplace_back("sasl.username", o_.username);
    kv.emplace_back("sasl.password", o_.password);
  }
  for (const auto& [k, v] : kv) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof(err)) != RD_KAFKA_CONF_OK) {
      rd_kafka_conf_destroy(conf);
      return bridge::Status(Error::kInvalid, "kafka " + k + "=" + v + ": " + err);
    }
  }
  rd_kafka_conf_set_dr_msg_cb(conf, &KafkaSink::OnDelivery);
  rd_kafka_conf_set_error_cb(conf, &KafkaSink::OnError);
  *out = conf;
  return bridge::Status();
}

bridge::Status KafkaSink::Connect(const std::atomic<bool>& stop) {
  Disconnect();
  rd_kafka_conf_t* conf = nullptr;
  bridge::Status s = BuildConf(&conf);
  if (!s.ok()) return s;
  rd_kafka_conf_set_opaque(conf, this);
  char err[512];
  rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk_ == nullptr) {
    rd_kafka_conf_destroy(conf);
    return bridge::Status(Error::kConnect, std::string("kafka producer: ") + err);
  }
  // The cluster must answer before we call the link up; retried in slices so
  // Stop is noticed.
  const int64_t deadline = clock::MonoMs() + o_.connect_timeout_ms;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR__TRANSPORT;
  while (!stop.load() && clock::MonoMs() < deadline) {
    const rd_kafka_metadata_t* md = nullptr;
    e = rd_kafka_metadata(rk_, 0, nullptr, &md, 500);
    if (md != nullptr) rd_kafka_metadata_destroy(md);
    if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
  }
  if (stop.load()) return bridge::Status(Error::kStopped, "stopping");
  if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
    Disconnect();
    return bridge::Status(Error::kConnect,
                          "kafka " + o_.brokers + ": no metadata: " + rd_kafka_err2str(e));
  }
  pending_.clear();
  return bridge::Status();
}

void KafkaSink::Disconnect() {
  if (rk_ == nullptr) return;
  // What is still queued or in flight is re-sent from the log later; drop it
  // now so destroy does not wait for it.
  rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  rd_kafka_poll(rk_, 0);
  rd_kafka_destroy(rk_);
  rk_ = nullptr;
  pending_.clear();
}

Sink::SendResult KafkaSink::Send(const PartitionRef& part, std::span<const storage::Record> records,
                                 uint64_t id, uint32_t* taken, std::string* error) {
  if (rk_ == nullptr) {
    *error = "not connected";
    return SendResult::kFailed;
  }
  const storage::Record& r = records[0];
  rd_kafka_headers_t* h = rd_kafka_headers_new(5);
  const std::string partition = std::to_string(part.partition);
  const std::string offset = std::to_string(r.offset);
  rd_kafka_header_add(h, "mqtt_topic", -1, r.topic.data(), static_cast<ssize_t>(r.topic.size()));
  rd_kafka_header_add(h, "origin", -1, o_.node_id.data(), static_cast<ssize_t>(o_.node_id.size()));
  rd_kafka_header_add(h, "stream", -1, part.stream_name.data(),
                      static_cast<ssize_t>(part.stream_name.size()));
  rd_kafka_header_add(h, "partition", -1, partition.data(), static_cast<ssize_t>(partition.size()));
  rd_kafka_header_add(h, "offset", -1, offset.data(), static_cast<ssize_t>(offset.size()));
  rd_kafka_resp_err_t e = rd_kafka_producev(
      rk_, RD_KAFKA_V_TOPIC(part.target.c_str()),
      RD_KAFKA_V_KEY(const_cast<char*>(r.key.data()), r.key.size()),
      RD_KAFKA_V_VALUE(const_cast<char*>(r.payload.data()), r.payload.size()),
      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_TIMESTAMP(r.timestamp_ms),
      RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_OPAQUE(reinterpret_cast<void*>(static_cast<uintptr_t>(id))),
      RD_KAFKA_V_END);
  if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {  // the message owns the headers now
    *taken = 1;
    return SendResult::kOk;
  }
  rd_kafka_headers_destroy(h);
  if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) return SendResult::kFull;
  *error = std::string("kafka produce to ") + part.target + ": " + rd_kafka_err2str(e);
  return SendResult::kFailed;
}

void KafkaSink::Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) {
  if (rk_ != nullptr) {
    rd_kafka_poll(rk_, pending_.empty() ? static_cast<int>(std::min(timeout_ms, kPollSliceMs)) : 0);
  }
  for (SinkEvent& e : pending_) out->push_back(std::move(e));
  pending_.clear();
}

void KafkaSink::OnDelivery(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  SinkEvent e;
  e.id = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(m->_private));
  if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
    e.kind = SinkEvent::Kind::kAck;
  } else {
    e.kind = SinkEvent::Kind::kNack;
    e.error = rd_kafka_err2str(m->err);
  }
  self->pending_.push_back(std::move(e));
}

// Brokers going away are retried by librdkafka and only reported; a fatal
// error (the idempotent producer lost its guarantees) needs a new producer.
void KafkaSink::OnError(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<KafkaSink*>(opaque);
  SinkEvent e;
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_fatal_error(rk, buf, sizeof(buf));
    e.kind = SinkEvent::Kind::kLinkDown;
    e.error = std::string("kafka fatal: ") + buf;
  } else {
    e.kind = SinkEvent::Kind::kWarning;
    e.error = std::string("kafka: ") + reason;
  }
  self->pending_.push_back(std::move(e));
}

}  // namespace

Result<std::unique_ptr<Sink>> NewKafkaSink(const ExporterOptions& options) {
  if (options.brokers.empty()) {
    return Result<std::unique_ptr<Sink>>(Error::kInvalid, "kafka exporter needs brokers");
  }
  auto sink = std::make_unique<KafkaSink>(options);
  rd_kafka_conf_t* conf = nullptr;
  bridge::Status s = sink->BuildConf(&conf);
  if (!s.ok()) return s;
  rd_kafka_conf_destroy(conf);
  return std::unique_ptr<Sink>(std::move(sink));
}

}  // namespace trib::bridge
