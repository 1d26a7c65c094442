// MqttLink: the part of an MQTT-speaking Sink that does not depend on what it
// sends: one Paho C++ async_client per link (clean start, no client-side
// persistence: our log is the persistence), QoS 1 acknowledgements turned
// into SinkEvents, TLS and username/password from ExporterOptions, and what
// the upstream's CONNACK announced (MQTT 5 Receive Maximum, Maximum Packet
// Size). The mqtt kind (mqtt_exporter.cc) and the peer kind (mqtt_peer.cc)
// derive from it and implement Send or SendBatches.
//
// Only bridge/mqtt*.cc include this header (it includes Paho).
//
// Thread: as Sink: the exporter thread, except Wake() and the Paho callbacks
// (Paho's threads), which only push into the locked event queue. Every Paho
// call that may throw is wrapped and turned into a Status or an error string.
#pragma once

#include <mqtt/async_client.h>

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bridge/sink.h"

namespace trib::bridge {

// mqtt://host[:port] -> tcp://host:port, mqtts:// -> ssl://.
Result<std::string> PahoUri(const std::string& url, bool* tls);
// PahoUri of options.url, refusing ca/cert/key without mqtts://.
Result<std::string> LinkUri(const ExporterOptions& options, bool* tls);

class MqttLink : public Sink, public ::mqtt::iaction_listener {
 public:
  // `window` is the most messages in flight (Paho's max in-flight too).
  MqttLink(const ExporterOptions& o, std::string uri, bool tls, int version, uint32_t window);
  ~MqttLink() override;

  bridge::Status Connect(const std::atomic<bool>& stop) override;
  void Disconnect() override;
  void Wait(int64_t timeout_ms, std::vector<SinkEvent>* out) override;
  void Wake() override;
  uint32_t Window() const override { return std::min(window_, upstream_max_); }
  int64_t AckTimeoutMs() const override { return o_.ack_timeout_ms; }

  // iaction_listener: Paho threads, one call per publish token.
  void on_success(const ::mqtt::token& tok) override;
  void on_failure(const ::mqtt::token& tok) override;

 protected:
  // Publishes `payload` to `topic` (QoS 1) with `props` under `id`; false
  // (and *error) when Paho refuses at once.
  bool Publish(const std::string& topic, ::mqtt::binary_ref payload, bool retain,
               ::mqtt::properties props, uint64_t id, std::string* error);

  const ExporterOptions o_;
  const int version_;
  // The upstream's Maximum Packet Size (MQTT 5 CONNACK); 0: not announced.
  uint32_t upstream_max_packet_ = 0;

 private:
  void Push(SinkEvent e);
  void CloseLink();
  ::mqtt::connect_options BuildConnectOptions() const;

  const std::string uri_;
  const bool tls_;
  const uint32_t window_;
  uint32_t upstream_max_ = 65535;  // MQTT 5 Receive Maximum of the current link
  std::string client_id_;
  std::unique_ptr<::mqtt::async_client> client_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SinkEvent> queue_;  // guarded by mu_
  bool wake_ = false;             // guarded by mu_
};

}  // namespace trib::bridge
