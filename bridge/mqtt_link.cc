// MqttLink: Paho C++ connection handling shared by the mqtt and peer sinks.
#include "bridge/mqtt_link.h"

#include <chrono>

#include "platform/clock.h"

namespace trib::bridge {

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

Result<std::string> LinkUri(const ExporterOptions& options, bool* tls) {
  auto uri = PahoUri(options.url, tls);
  if (!uri.ok()) return uri;
  if (!*tls && (!options.cert.empty() || !options.key.empty() || !options.ca.empty()))
    return Result<std::string>(Error::kInvalid, "ca/cert/key given but url is not mqtts://");
  return uri;
}

MqttLink::MqttLink(const ExporterOptions& o, std::string uri, bool tls, int version,
                   uint32_t window)
    : o_(o), version_(version), uri_(std::move(uri)), tls_(tls),
      window_(std::min<uint32_t>(window, 65535)) {
  // cppcheck-suppress useInitializationList
  client_id_ = o.client_id.empty() ? "tributary-" + o.node_id + "-" + o.name : o.client_id;
}

MqttLink::~MqttLink() { CloseLink(); }  // not the virtual Disconnect: a destructor

void MqttLink::on_success(const ::mqtt::token& tok) {
  Push(SinkEvent{SinkEvent::Kind::kAck,
                 static_cast<uint64_t>(reinterpret_cast<uintptr_t>(tok.get_user_context())),
                 {}});
}

void MqttLink::on_failure(const ::mqtt::token& tok) {
  Push(SinkEvent{SinkEvent::Kind::kNack,
                 static_cast<uint64_t>(reinterpret_cast<uintptr_t>(tok.get_user_context())),
                 "rc " + std::to_string(tok.get_return_code()) + ", reason " +
                     std::to_string(static_cast<int>(tok.get_reason_code()))});
}

void MqttLink::Push(SinkEvent e) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(e));
  }
  cv_.notify_one();
}

::mqtt::connect_options MqttLink::BuildConnectOptions() const {
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

bridge::Status MqttLink::Connect(const std::atomic<bool>& stop) {
  CloseLink();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.clear();
  }
  upstream_max_ = 65535;
  upstream_max_packet_ = 0;
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
      // get_connect_response() returns a copy: keep it, or the properties
      // reference dangles (read after the temporary died, which is how the
      // upstream's Receive Maximum and Maximum Packet Size went unseen).
      const ::mqtt::connect_response rsp = tok->get_connect_response();
      const ::mqtt::properties& props = rsp.get_properties();
      if (props.contains(::mqtt::property::RECEIVE_MAXIMUM)) {
        upstream_max_ = ::mqtt::get<uint16_t>(props, ::mqtt::property::RECEIVE_MAXIMUM);
        if (upstream_max_ == 0) upstream_max_ = 65535;
      }
      if (props.contains(::mqtt::property::MAXIMUM_PACKET_SIZE))
        upstream_max_packet_ = ::mqtt::get<uint32_t>(props, ::mqtt::property::MAXIMUM_PACKET_SIZE);
    }
  } catch (const std::exception& e) {  // mqtt::exception included
    return bridge::Status(Error::kConnect, std::string("connect to ") + uri_ + ": " + e.what());
  }
  return bridge::Status();
}

void MqttLink::Disconnect() { CloseLink(); }

void MqttLink::CloseLink() {
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

bool MqttLink::Publish(const std::string& topic, ::mqtt::binary_ref payload, bool retain,
                       ::mqtt::properties props, uint64_t id, std::string* error) {
  try {
    if (!client_) {
      *error = "not connected";
      return false;
    }
    auto msg = ::mqtt::message::create(topic, std::move(payload), 1, retain);
    if (version_ == MQTTVERSION_5) msg->set_properties(std::move(props));
    client_->publish(std::move(msg), reinterpret_cast<void*>(static_cast<uintptr_t>(id)), *this);
  } catch (const std::exception& e) {  // mqtt::exception included
    *error = std::string("publish: ") + e.what();
    return false;
  }
  return true;
}

void MqttLink::Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) {
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty() && !wake_ && timeout_ms > 0) {
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [this] { return !queue_.empty() || wake_; });
  }
  wake_ = false;
  for (SinkEvent& e : queue_) out->push_back(std::move(e));
  queue_.clear();
}

void MqttLink::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    wake_ = true;
  }
  cv_.notify_one();
}

}  // namespace trib::bridge
