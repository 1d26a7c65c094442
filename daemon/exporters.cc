// Exporters in the daemon: built from [[exporter]] entries after storage
// opens, each on its own thread (bridge/), stopped before storage closes.
// The loop only reads their status (admin API, metrics).
#include "daemon/broker.h"
#include "platform/log.h"

namespace trib {

std::string Broker::StartExporters() {
  // Runs once storage is open, before the loop: a good moment for this too.
  if (std::string err = ApplyReplicationRetention(); !err.empty()) return err;
  for (const config::ExporterConfig& e : cfg_.exporters) {
    bridge::ExporterOptions o;
    o.name = e.name;
    o.kind = e.kind;
    o.node_id = cfg_.node_id;
    for (const std::string& s : e.streams) {
      auto id = log_->FindStream(s);
      if (!id) return "exporter " + e.name + ": unknown stream " + s;
      o.streams.emplace_back(*id, s);
    }
    for (const config::StreamConfig& sc : cfg_.streams) {
      if (sc.priority_set) o.stream_priority[sc.name] = sc.priority;
    }
    o.forward_replicated = e.forward_replicated;
    o.url = e.url;
    o.brokers = e.brokers;
    o.topic_prefix = e.topic_prefix;
    o.username = e.username;
    o.password = e.password;
    o.client_id = e.client_id;
    o.ca = e.ca;
    o.cert = e.cert;
    o.key = e.key;
    o.mqtt_version = e.mqtt_version;
    o.max_bytes_per_sec = e.max_bytes_per_sec;
    o.priority = e.priority;
    o.max_inflight = e.max_inflight;
    o.kafka_topic_template = e.kafka_topic;
    o.kafka_compression = e.kafka_compression;
    auto made = bridge::Exporter::Create(o, log_.get());
    if (!made.ok()) return "exporter " + e.name + ": " + made.status().message();
    made.value()->Start();
    LOG_NOTICE("exporter %s (%s) started for %zu stream(s)%s", e.name.c_str(), e.kind.c_str(),
               o.streams.size(), o.forward_replicated ? " and every replicated stream" : "");
    exporters_.push_back(std::move(made.value()));
  }
  return "";
}

void Broker::StopExporters() {
  for (auto& e : exporters_) e->Stop();
  exporters_.clear();
}

}  // namespace trib
