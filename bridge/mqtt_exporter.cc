// The mqtt exporter's Sink: Paho C++ async_client, QoS 1, MQTT 3.1.1 or 5.0.
// The only file (with other bridge/mqtt*.cc) that includes Paho.
//
// Each Connect creates a fresh async_client with a clean session (clean start
// in 5.0) and no client-side persistence: our log is the persistence, and the
// runner re-sends from the acknowledged prefix after every reconnect. Paho
// calls back on its own threads; the callbacks only push SinkEvents into a
// locked queue that the exporter thread drains in Wait(). Every Paho call that
// may throw mqtt::exception is wrapped here and turned into a Status.
#include <mqtt/async_client.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "bridge/sink.h"
#include "daemon/mqtt/properties.h"
#include "platform/clock.h"

namespace trib::bridge {
namespace {

constexpr uint32_t kDefaultWindow = 256;

// mqtt://host[:port] -> tcp://host:port, mqtts:// -> ssl://.
Result<std::string> PahoUri(const std::string& url, bool* tls) {
  struct Scheme {
    const char* in;
    const char* out;
    const char* port;
    bool tls;
  };
  static const Scheme kSchemes[] = {{"mqtt://", "tcp://", "1883", false},
                                    {"tcp://", "tcp://", "1883", false},
                                    {"mqtts://", "ssl://", "8883", true},
                                    {"ssl://", "ssl://", "8883", true}};
  for (const Scheme& s : kSchemes) {
    std::string_view in = s.in;
    if (url.compare(0, in.size(), in) != 0) continue;
    std::string host = url.substr(in.size());
    while (!host.empty() && host.back() == '/') host.pop_back();
    if (host.empty() || host.find('/') != std::string::npos)
      return Result<std::string>(Error::kInvalid,
                                 "url \"" + url + "\": expected scheme://host:port");
    bool has_port = host.front() == '[' ? host.find("]:") != std::string::npos
                                        : host.find(':') != std::string::npos;
    *tls = s.tls;
    return std::string(s.out) + host + (has_port ? "" : std::string(":") + s.port);
  }
  return Result<std::string>(Error::kInvalid,
                             "url \"" + url + "\": use mqtt://host:port or mqtts://host:port");
}

class MqttSink final : public Sink, public ::mqtt::iaction_listener {
 public:
  MqttSink(const ExporterOptions& o, std::string uri, bool tls)
      : o_(o), uri_(std::move(uri)), tls_(tls) {
    version_ = o.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1;
    window_ = o.max_inflight ? o.max_inflight : kDefaultWindow;
    window_ = std::min<uint32_t>(window_, 65535);
    // cppcheck-suppress useInitializationList
    client_id_ = o.client_id.empty() ? "tributary-" + o.node_id + "-" + o.name : o.client_id;
  }
  ~MqttSink() override { Disconnect(); }

  bridge::Status Connect(const std::atomic<bool>& stop) override;
  void Disconnect() override;
  SendResult Send(const PartitionRef& part, std::span<const storage::Record> records, uint64_t id,
                  uint32_t* taken, std::string* error) override;
  void Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) override;
  void Wake() override;
  uint32_t Window() const override { return std::min(window_, upstream_max_); }
  uint64_t WireBytes(const PartitionRef& part, const storage::Record& r) const override {
    return part.target.size() + r.topic.size() + r.payload.size() + r.properties.size() + 16;
  }
  int64_t AckTimeoutMs() const override { return o_.ack_timeout_ms; }

  // iaction_listener: Paho threads, one call per publish token.
  void on_success(const ::mqtt::token& tok) override {
    Push(SinkEvent{SinkEvent::Kind::kAck, IdOf(tok), {}});
  }
  void on_failure(const ::mqtt::token& tok) override {
    Push(SinkEvent{SinkEvent::Kind::kNack, IdOf(tok),
                   "rc " + std::to_string(tok.get_return_code()) + ", reason " +
                       std::to_string(static_cast<int>(tok.get_reason_code()))});
  }

 private:
  static uint64_t IdOf(const ::mqtt::token& tok) {
    return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(tok.get_user_context()));
  }
  void Push(SinkEvent e) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(e));
    }
    cv_.notify_one();
  }
  ::mqtt::connect_options BuildConnectOptions() const;
  void AddProperties(const PartitionRef& part, const storage::Record& r,
                     ::mqtt::properties* props) const;

  const ExporterOptions o_;
  const std::string uri_;
  const bool tls_;
  int version_;
  uint32_t window_;
  uint32_t upstream_max_ = 65535;  // MQTT 5 Receive Maximum of the current link
  std::string client_id_;
  std::unique_ptr<::mqtt::async_client> client_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SinkEvent> queue_;  // guarded by mu_
  bool wake_ = false;             // guarded by mu_
};

::mqtt::connect_options MqttSink::BuildConnectOptions() const {
  ::mqtt::connect_options opts;
  opts.set_mqtt_version(version_);
  if (version_ == MQTTVERSION_5) {
    opts.set_clean_session(false);  // Paho: 5.0 uses clean start instead
    opts.set_clean_start(true);
  } else {
    opts.set_clean_session(true);
  }
  opts.set_keep_alive_interval(static_cast<int>(o_.keep_alive_s));
  opts.set_connect_timeout(
      static_cast<int>(std::max<int64_t>(1, (o_.connect_timeout_ms + 999) / 1000)));
  opts.set_max_inflight(static_cast<int>(window_));
  opts.set_automatic_reconnect(false);
  if (!o_.username.empty()) opts.set_user_name(o_.username);
  if (!o_.password.empty()) opts.set_password(o_.password);
  if (tls_) {
    ::mqtt::ssl_options ssl;
    if (!o_.ca.empty()) ssl.set_trust_store(o_.ca);
    if (!o_.cert.empty()) ssl.set_key_store(o_.cert);
    if (!o_.key.empty()) ssl.set_private_key(o_.key);
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(true);
    opts.set_ssl(std::move(ssl));
  }
  return opts;
}

bridge::Status MqttSink::Connect(const std::atomic<bool>& stop) {
  Disconnect();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
  }
  upstream_max_ = 65535;
  try {
    // Paho counts queued publishes against max buffered messages even while
    // connected; the runner's window is the real bound.
    ::mqtt::create_options copts(version_, static_cast<int>(window_) * 2 + 16);
    client_ = std::make_unique<::mqtt::async_client>(uri_, client_id_, copts, nullptr);
    client_->set_connection_lost_handler([this](const std::string& cause) {
      Push(SinkEvent{SinkEvent::Kind::kLinkDown, 0, "connection lost: " + cause});
    });
    ::mqtt::token_ptr tok = client_->connect(BuildConnectOptions());
    const int64_t deadline = clock::MonoMs() + o_.connect_timeout_ms + 1000;
    while (!tok->wait_for(std::chrono::milliseconds(50))) {
      if (stop.load()) return bridge::Status(Error::kStopped, "stopping");
      if (clock::MonoMs() > deadline) return bridge::Status(Error::kConnect, "connect timed out");
    }
    if (version_ == MQTTVERSION_5) {
      const ::mqtt::properties& props = tok->get_connect_response().get_properties();
      if (props.contains(::mqtt::property::RECEIVE_MAXIMUM)) {
        upstream_max_ = ::mqtt::get<uint16_t>(props, ::mqtt::property::RECEIVE_MAXIMUM);
        if (upstream_max_ == 0) upstream_max_ = 65535;
      }
    }
  } catch (const ::mqtt::exception& e) {
    return bridge::Status(Error::kConnect, std::string("connect to ") + uri_ + ": " + e.what());
  } catch (const std::exception& e) {
    return bridge::Status(Error::kConnect, std::string("connect to ") + uri_ + ": " + e.what());
  }
  return bridge::Status();
}

void MqttSink::Disconnect() {
  if (!client_) return;
  try {
    if (client_->is_connected()) {
      client_->disconnect(std::chrono::milliseconds(500))
          ->wait_for(std::chrono::milliseconds(1000));
    }
  } catch (const std::exception&) {
    // Already gone: nothing to close.
  }
  try {
    client_.reset();  // MQTTAsync_destroy: drops everything in flight
  } catch (const std::exception&) {
  }
}

void MqttSink::AddProperties(const PartitionRef& part, const storage::Record& r,
                             ::mqtt::properties* props) const {
  using P = ::mqtt::property;
  if (!r.properties.empty()) {
    trib::mqtt::Properties in;
    // The broker validated the block when it stored it; a block that no
    // longer parses is dropped rather than shipped.
    if (trib::mqtt::ParseProperties(r.properties, trib::mqtt::PropertyContext::kPublish, &in)
            .ok()) {
      if (in.payload_format_indicator)
        props->add(P(P::PAYLOAD_FORMAT_INDICATOR, int32_t{*in.payload_format_indicator}));
      if (in.message_expiry_interval)
        props->add(
            P(P::MESSAGE_EXPIRY_INTERVAL, static_cast<int32_t>(*in.message_expiry_interval)));
      if (in.content_type) props->add(P(P::CONTENT_TYPE, std::string(*in.content_type)));
      if (in.response_topic) props->add(P(P::RESPONSE_TOPIC, std::string(*in.response_topic)));
      if (in.correlation_data)
        props->add(P(P::CORRELATION_DATA, std::string(*in.correlation_data)));
      for (const trib::mqtt::UserProperty& up : in.user_properties)
        props->add(P(P::USER_PROPERTY, std::string(up.name), std::string(up.value)));
    }
  }
  props->add(P(P::USER_PROPERTY, "tributary-origin", o_.node_id));
  props->add(P(P::USER_PROPERTY, "tributary-stream", part.stream_name));
  props->add(P(P::USER_PROPERTY, "tributary-partition", std::to_string(part.partition)));
  props->add(P(P::USER_PROPERTY, "tributary-offset", std::to_string(r.offset)));
}

Sink::SendResult MqttSink::Send(const PartitionRef& part, std::span<const storage::Record> records,
                                uint64_t id, uint32_t* taken, std::string* error) {
  const storage::Record& r = records[0];
  try {
    if (!client_) {
      *error = "not connected";
      return SendResult::kFailed;
    }
    std::string topic = part.target;
    topic.append(r.topic);
    auto msg = ::mqtt::message::create(topic, r.payload.data(), r.payload.size(), 1, r.retain);
    if (version_ == MQTTVERSION_5) {
      ::mqtt::properties props;
      AddProperties(part, r, &props);
      msg->set_properties(std::move(props));
    }
    client_->publish(msg, reinterpret_cast<void*>(static_cast<uintptr_t>(id)), *this);
  } catch (const std::exception& e) {
    *error = std::string("publish: ") + e.what();
    return SendResult::kFailed;
  }
  *taken = 1;
  return SendResult::kOk;
}

void MqttSink::Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty() && !wake_ && timeout_ms > 0) {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [this] { return !queue_.empty() || wake_; });
  }
  wake_ = false;
  for (SinkEvent& e : queue_) out->push_back(std::move(e));
  queue_.clear();
}

void MqttSink::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

}  // namespace

Result<std::unique_ptr<Sink>> NewMqttSink(const ExporterOptions& options) {
  if (options.mqtt_version != 3 && options.mqtt_version != 4 && options.mqtt_version != 5) {
    return Result<std::unique_ptr<Sink>>(Error::kInvalid, "mqtt_version must be 3 (3.1.1) or 5");
  }
  bool tls = false;
  auto uri = PahoUri(options.url, &tls);
  if (!uri.ok()) return uri.status();
  if (!tls && (!options.cert.empty() || !options.key.empty() || !options.ca.empty())) {
    return Result<std::unique_ptr<Sink>>(Error::kInvalid,
                                         "ca/cert/key given but url is not mqtts://");
  }
  return std::unique_ptr<Sink>(new MqttSink(options, std::move(uri.value()), tls));
}

}  // namespace trib::bridge
