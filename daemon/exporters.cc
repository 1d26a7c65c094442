// Exporters in the daemon: built from [[exporter]] entries after storage
// opens, each on its own thread (bridge/), stopped before storage closes.
// The loop only reads their status (admin API, metrics, $SYS).
//
// SIGHUP: an exporter whose entry changed or went away is stopped on the
// thread pool (Stop commits its cursor and may take seconds); once stopped,
// the entry of that name in the configuration of that moment, if any, starts
// again from the committed cursor. New entries start at once.
#include <uv.h>

#include <algorithm>

#include "daemon/broker.h"
#include "platform/log.h"

namespace trib {

std::string Broker::StartExporter(const config::ExporterConfig& e) {
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
  LOG_NOTICE("exporter %s (%s) started for %zu stream(s)%s", e.name.c_str(), e.kind.c_str(), o.streams.size(),
             o.forward_replicated ? " and every replicated stream" : "");
  exporters_.push_back(std::move(made.value()));
  return "";
}

std::string Broker::StartExporters() {
  // Runs once storage is open, before the loop: a good moment for this too.
  if (std::string err = ApplyReplicationRetention(); !err.empty()) return err;
  for (const config::ExporterConfig& e : cfg_.exporters) {
    std::string err = StartExporter(e);
    if (!err.empty()) return err;
  }
  return "";
}

void Broker::StopExporters() {
  for (auto& e : exporters_) e->Stop();
  exporters_.clear();
}

namespace {
struct StopWork {
  uv_work_t req{};
  Broker* broker = nullptr;
  std::string name;
  std::unique_ptr<bridge::Exporter> exporter;
};
}  // namespace

void Broker::ReloadExporters(const std::vector<config::ExporterConfig>& next, std::vector<std::string>* changed) {
  auto find = [](const std::vector<config::ExporterConfig>& v, const std::string& name) {
    auto it = std::find_if(v.begin(), v.end(), [&](const config::ExporterConfig& e) { return e.name == name; });
    return it == v.end() ? nullptr : &*it;
  };
  std::vector<config::ExporterConfig> before = std::move(cfg_.exporters);
  cfg_.exporters = next;
  // Stop what changed or went away.
  for (size_t i = 0; i < exporters_.size();) {
    const std::string name = exporters_[i]->Status().name;
    const config::ExporterConfig* now = find(next, name);
    const config::ExporterConfig* was = find(before, name);
    if (now && was && *now == *was) {
      ++i;
      continue;
    }
    changed->push_back(std::string(now ? "restarting" : "stopping") + " exporter " + name);
    auto* w = new StopWork;
    w->req.data = w;
    w->broker = this;
    w->name = name;
    w->exporter = std::move(exporters_[i]);
    exporters_.erase(exporters_.begin() + static_cast<ptrdiff_t>(i));
    exporters_stopping_.insert(w->name);
    uv_queue_work(
        &loop_, &w->req, [](uv_work_t* r) { static_cast<StopWork*>(r->data)->exporter->Stop(); },
        [](uv_work_t* r, int) {
          std::unique_ptr<StopWork> w(static_cast<StopWork*>(r->data));
          w->exporter.reset();
          w->broker->OnExporterStopped(w->name);
        });
  }
  // Start what is new (a name still stopping starts when its stop is done).
  for (const config::ExporterConfig& e : next) {
    bool running = std::any_of(exporters_.begin(), exporters_.end(),
                               [&](const auto& r) { return r->Status().name == e.name; });
    if (running || exporters_stopping_.count(e.name)) continue;
    changed->push_back("starting exporter " + e.name);
    std::string err = StartExporter(e);
    if (!err.empty()) LOG_ERROR("SIGHUP: %s", err.c_str());
  }
}

void Broker::OnExporterStopped(const std::string& name) {
  exporters_stopping_.erase(name);
  LOG_NOTICE("exporter %s stopped for the reload", name.c_str());
  if (stopping_) return;
  for (const config::ExporterConfig& e : cfg_.exporters) {
    if (e.name != name) continue;
    std::string err = StartExporter(e);
    if (!err.empty()) LOG_ERROR("SIGHUP: %s", err.c_str());
  }
}

}  // namespace trib
