// $SYS/ topics: the broker's core figures, published every mqtt.sys_interval
// as retained messages, under the same ACLs as any other topic (a subscriber
// needs read access to $SYS/...; `#` does not match them [MQTT-4.7.2-1]).
//
// Names follow Mosquitto's $SYS/broker/... tree where one exists, so existing
// dashboards keep working; Tributary's own figures (storage, streams,
// exporters) sit beside them. Values are plain decimal text. Only topics whose
// value changed since the last round are published; the retained copy lives
// in memory only (a figure is stale after a restart anyway, and writing it to
// flash every interval would wear it).
//
// Thread: loop only. Nothing here reads LMDB: storage figures come from the
// log's in-memory statistics.
#include <cinttypes>

#include "daemon/broker.h"
#include "platform/clock.h"

namespace trib {
namespace {

std::string Num(uint64_t v) { return std::to_string(v); }

std::string Rate(uint64_t now, uint64_t before, int64_t ms) {
  if (ms <= 0 || now < before) return "0";
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", static_cast<double>(now - before) * 1000.0 / static_cast<double>(ms));
  return buf;
}

}  // namespace

void Broker::MaybePublishSys(int64_t now_ms) {
  if (cfg_.mqtt.sys_interval_ms <= 0 || now_ms - sys_.last_ms < cfg_.mqtt.sys_interval_ms) return;
  const int64_t elapsed = sys_.last_ms ? now_ms - sys_.last_ms : 0;
  sys_.last_ms = now_ms;

  std::vector<std::pair<std::string, std::string>> v;
  v.reserve(32 + stream_in_.size() * 3 + exporters_.size() * 4);
  auto put = [&v](std::string topic, std::string value) {
    v.emplace_back("$SYS/broker/" + std::move(topic), std::move(value));
  };
  put("version", "tributaryd " TRIB_VERSION);
  put("uptime", Num(static_cast<uint64_t>((now_ms - started_ms_) / 1000)) + " seconds");

  uint64_t online = 0;
  for (const auto& [id, s] : sessions_) online += s->conn != nullptr;
  put("clients/connected", Num(online));
  put("clients/disconnected", Num(sessions_.size() - online));
  put("clients/total", Num(sessions_.size()));
  put("connections/accepted", Num(stats_.connections_accepted));
  put("connections/refused", Num(stats_.connections_refused));
  put("messages/received", Num(stats_.messages_in));
  put("messages/sent", Num(stats_.messages_out));
  put("bytes/received", Num(stats_.bytes_in));
  put("messages/dropped", Num(stats_.dropped_queue));
  put("messages/malformed", Num(stats_.malformed));
  put("load/messages/received/per_second", Rate(stats_.messages_in, sys_.messages_in, elapsed));
  put("load/messages/sent/per_second", Rate(stats_.messages_out, sys_.messages_out, elapsed));
  sys_.messages_in = stats_.messages_in;
  sys_.messages_out = stats_.messages_out;
  put("retained messages/count", Num(retained_.size()));
  put("security/auth_failures", Num(stats_.auth_failures));
  put("security/acl_denials", Num(stats_.acl_denials));
  put("security/tls_handshake_failures", Num(stats_.tls_handshake_failures));

  if (log_) {
    storage::Stats st = log_->GetStats();
    put("storage/used_bytes", Num(st.used_bytes));
    put("storage/budget_bytes", Num(st.map_bytes));
    put("storage/records_appended", Num(st.records_appended));
    put("storage/retention_deleted_records", Num(st.retention_deleted_records));
    put("storage/dropped_records", Num(st.dropped_records));
    put("storage/rejected_records", Num(st.rejected_records));
    put("storage/corrupt_batches", Num(st.corrupt_batches));
    put("storage/failed", storage_failed_ ? "1" : "0");
  }
  for (size_t i = 0; i < stream_in_.size() && i < cfg_.streams.size(); ++i) {
    const std::string base = "streams/" + cfg_.streams[i].name + "/";
    put(base + "messages/received", Num(stream_in_[i].messages));
    put(base + "bytes/received", Num(stream_in_[i].bytes));
    put(base + "messages/delivered", Num(stream_in_[i].delivered));
  }
  for (const auto& e : exporters_) {
    bridge::ExporterStatus st = e->Status();
    uint64_t lag = 0;
    double lag_s = 0;
    for (const bridge::PartitionLag& p : st.partitions) {
      lag += p.lag_records;
      lag_s = std::max(lag_s, p.lag_seconds);
    }
    char secs[32];
    snprintf(secs, sizeof secs, "%.0f", lag_s);
    const std::string base = "exporters/" + st.name + "/";
    put(base + "state", st.state);
    put(base + "lag_records", Num(lag));
    put(base + "lag_seconds", secs);
    put(base + "reconnects", Num(st.reconnects));
  }

  for (auto& [topic, value] : v) {
    std::string& last = sys_.last_values[topic];
    if (last == value) continue;
    last = value;
    auto m = std::make_shared<Message>();
    m->topic = topic;
    m->payload = value;
    m->retain = true;
    retained_.Set(m->topic, m);
    Route(m);
  }
}

}  // namespace trib
