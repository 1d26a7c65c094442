// The admin API's content: Prometheus metrics, health, and JSON views of
// streams, clients and exporters. The HTTP part is admin_http.cc.
#include <nlohmann/json.hpp>

#include <charconv>
#include <sstream>

#include "daemon/broker.h"
#include "platform/clock.h"

namespace trib {
namespace {

// Prometheus text exposition: a # HELP and # TYPE line per family.
class MetricsWriter {
 public:
  void Family(const char* name, const char* type, const char* help) {
    os_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void Value(const std::string& name, double v, const std::string& labels = "") {
    os_ << name;
    if (!labels.empty()) os_ << '{' << labels << '}';
    // Shortest text that reads back as the same double: counters past a
    // million keep every digit (an ostream's default 6 digits would not).
    char num[64];
    auto res = std::to_chars(num, num + sizeof num, v);
    os_ << ' ' << std::string_view(num, static_cast<size_t>(res.ptr - num)) << '\n';
  }
  void Counter(const char* name, const char* help, double v) {
    Family(name, "counter", help);
    Value(name, v);
  }
  void Gauge(const char* name, const char* help, double v) {
    Family(name, "gauge", help);
    Value(name, v);
  }
  // `buckets` are cumulative already (storage::Stats): bucket i counts every
  // sample <= its bound, the last one every sample.
  void Histogram(const char* name, const char* help, const uint64_t* buckets, uint64_t sum_us) {
    Family(name, "histogram", help);
    for (int i = 0; i < storage::Stats::kBuckets; ++i) {
      std::ostringstream le;
      le << "le=\"" << static_cast<double>(storage::Stats::kBucketUs[i]) / 1e6 << '"';
      Value(std::string(name) + "_bucket", static_cast<double>(buckets[i]), le.str());
    }
    const auto count = static_cast<double>(buckets[storage::Stats::kBuckets]);
    Value(std::string(name) + "_bucket", count, "le=\"+Inf\"");
    Value(std::string(name) + "_sum", static_cast<double>(sum_us) / 1e6);
    Value(std::string(name) + "_count", count);
  }
  std::string str() const { return os_.str(); }

 private:
  std::ostringstream os_;
};

std::string Label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

std::string Broker::Metrics() const {
  MetricsWriter m;
  m.Gauge("tributary_up", "1 while the broker runs.", 1);
  m.Gauge("tributary_uptime_seconds", "Seconds since the broker started.",
          static_cast<double>(clock::MonoMs() - started_ms_) / 1000.0);
  m.Gauge("tributary_connections", "Open client connections.", static_cast<double>(connections_.size()));
  size_t buffers = 0;
  for (const auto& [id, c] : connections_) buffers += c->buffer_bytes();
  m.Gauge("tributary_connection_buffer_bytes",
          "Heap bytes held by client connections' read and write buffers.",
          static_cast<double>(buffers));
  m.Gauge("tributary_read_ahead_bytes",
          "Bytes of log reads held for subscribers that are catching up, until their in-flight windows take them.",
          static_cast<double>(read_ahead_bytes_));
  m.Counter("tributary_connections_accepted_total", "Client connections accepted.",
            static_cast<double>(stats_.connections_accepted));
  m.Counter("tributary_connections_refused_total", "Client connections refused (limits, shutdown).",
            static_cast<double>(stats_.connections_refused));
  m.Gauge("tributary_sessions", "MQTT sessions, online and offline.", static_cast<double>(sessions_.size()));
  m.Gauge("tributary_subscriptions", "Subscriptions, including shared group memberships.",
          static_cast<double>(tree_.subscription_count()));
  m.Gauge("tributary_retained_messages", "Retained messages.", static_cast<double>(retained_.size()));
  m.Counter("tributary_messages_received_total", "PUBLISH packets received from clients.",
            static_cast<double>(stats_.messages_in));
  m.Counter("tributary_received_bytes_total", "Bytes of PUBLISH packets received from clients.",
            static_cast<double>(stats_.bytes_in));
  m.Counter("tributary_messages_sent_total", "PUBLISH packets sent to clients.",
            static_cast<double>(stats_.messages_out));
  m.Counter("tributary_malformed_packets_total", "Connections closed for malformed or forbidden packets.",
            static_cast<double>(stats_.malformed));
  m.Counter("tributary_messages_dropped_total",
            "Messages in no stream dropped by a full session queue or a client's maximum packet size.",
            static_cast<double>(stats_.dropped_queue));
  m.Counter("tributary_messages_delivered_on_receipt_total",
            "Stream records sent to subscribers before their commit (live_delivery = on_receipt).",
            static_cast<double>(stats_.delivered_on_receipt));
  m.Counter("tributary_tls_handshake_failures_total", "TLS handshakes that failed.",
            static_cast<double>(stats_.tls_handshake_failures));
  m.Counter("tributary_group_cursors_expired_total",
            "Consumer groups whose cursors were deleted after limits.group_cursor_expiry without a subscriber.",
            static_cast<double>(stats_.group_cursors_expired));
  m.Counter("tributary_tls_buffer_bytes_released_total",
            "Bytes of idle TLS connections' record buffers given back to the system.",
            static_cast<double>(stats_.tls_buffer_bytes_released));
  m.Counter("tributary_auth_failures_total", "CONNECTs refused for bad or missing credentials.",
            static_cast<double>(stats_.auth_failures));
  m.Counter("tributary_acl_denials_total", "PUBLISH or SUBSCRIBE refused by the ACL.",
            static_cast<double>(stats_.acl_denials));
  m.Counter("tributary_rate_limited_total", "PUBLISH packets over limits.max_publish_rate.",
            static_cast<double>(stats_.rate_limited));
  m.Counter("tributary_replicated_records_total", "Records stored from peers ($replicate).",
            static_cast<double>(stats_.replicated_records));
  m.Counter("tributary_replication_duplicates_total",
            "$replicate messages acknowledged at once: already stored (a peer re-sent them).",
            static_cast<double>(stats_.replication_duplicates));
  m.Counter("tributary_replication_refused_total", "$replicate messages acknowledged with an error.",
            static_cast<double>(stats_.replication_refused));
  m.Counter("tributary_messages_expired_total", "Messages not delivered because they expired.",
            static_cast<double>(stats_.expired));

  struct PerStream {
    const char* name;
    const char* help;
    uint64_t StreamCounters::*field;
  };
  static constexpr PerStream kPerStream[] = {
      {"tributary_stream_messages_in_total", "Messages appended to a stream.", &StreamCounters::messages},
      {"tributary_stream_bytes_in_total", "Payload bytes appended to a stream.", &StreamCounters::bytes},
      {"tributary_stream_messages_out_total", "Stream records delivered to MQTT subscribers.",
       &StreamCounters::delivered},
  };
  for (const PerStream& f : kPerStream) {
    m.Family(f.name, "counter", f.help);
    for (size_t i = 0; i < router_.size(); ++i)
      m.Value(f.name, static_cast<double>(stream_in_[i].*f.field),
              "stream=\"" + Label(router_.stream(i).name) + "\"");
  }

  if (log_) {
    storage::Stats st = log_->GetStats();
    m.Gauge("tributary_storage_budget_bytes", "The storage budget (LMDB map size).", static_cast<double>(st.map_bytes));
    m.Gauge("tributary_storage_used_bytes", "Bytes of the storage budget in use.", static_cast<double>(st.used_bytes));
    m.Counter("tributary_storage_commits_total", "Storage write transactions committed.", static_cast<double>(st.commits));
    m.Counter("tributary_storage_fsyncs_total", "fsync calls made by storage.", static_cast<double>(st.fsyncs));
    m.Counter("tributary_storage_records_appended_total", "Records appended.", static_cast<double>(st.records_appended));
    m.Counter("tributary_storage_appended_bytes_total", "Bytes appended (encoded batches).", static_cast<double>(st.bytes_appended));
    m.Counter("tributary_storage_retention_deleted_records_total", "Records deleted by retention.",
              static_cast<double>(st.retention_deleted_records));
    m.Counter("tributary_storage_dropped_records_total", "Records dropped by on_full = drop_oldest.",
              static_cast<double>(st.dropped_records));
    m.Counter("tributary_storage_rejected_records_total", "Records refused by on_full = reject.",
              static_cast<double>(st.rejected_records));
    m.Gauge("tributary_storage_failing",
            "1 while storage commits fail (I/O or fsync errors): nothing is acknowledged.",
            storage_failed_ ? 1 : 0);
    m.Counter("tributary_storage_failures_total",
              "Storage submissions that failed; their messages were not acknowledged.",
              static_cast<double>(stats_.storage_failures));
    m.Counter("tributary_storage_corrupt_batches_total", "Stored batches that failed their checksum.",
              static_cast<double>(st.corrupt_batches));
    m.Histogram("tributary_storage_commit_duration_seconds", "Storage commit latency.", st.commit_us_buckets,
                st.commit_us_sum);
    m.Histogram("tributary_storage_fsync_duration_seconds", "Storage fsync latency.", st.fsync_us_buckets,
                st.fsync_us_sum);
    m.Family("tributary_partition_end_offset", "gauge", "The next offset a partition will assign.");
    std::string starts, bytes;
    for (const auto& [id, spec] : log_->ListStreams()) {
      for (uint32_t p = 0; p < spec.partitions; ++p) {
        auto info = log_->Info(id, p);
        if (!info.ok()) continue;
        std::string l = "stream=\"" + Label(spec.name) + "\",partition=\"" + std::to_string(p) + "\"";
        m.Value("tributary_partition_end_offset", static_cast<double>(info->end_offset), l);
        starts += "tributary_partition_start_offset{" + l + "} " + std::to_string(info->start_offset) + "\n";
        bytes += "tributary_partition_bytes{" + l + "} " + std::to_string(info->bytes) + "\n";
      }
    }
    std::string lag_records, lag_seconds, states, reconnects, sent;
    for (const auto& e : exporters_) {
      bridge::ExporterStatus es = e->Status();
      std::string el = "exporter=\"" + Label(es.name) + "\"";
      for (const char* state : {"connecting", "connected", "backoff", "stopped"})
        states += "tributary_exporter_state{" + el + ",state=\"" + state + "\"} " +
                  (es.state == state ? "1" : "0") + "\n";
      reconnects += "tributary_exporter_reconnects_total{" + el + "} " + std::to_string(es.reconnects) + "\n";
      sent += "tributary_exporter_records_acked_total{" + el + "} " + std::to_string(es.records_acked) + "\n";
      for (const bridge::PartitionLag& p : es.partitions) {
        std::string l = el + ",stream=\"" + Label(p.stream) + "\",partition=\"" + std::to_string(p.partition) + "\"";
        lag_records += "tributary_exporter_lag_records{" + l + "} " + std::to_string(p.lag_records) + "\n";
        lag_seconds += "tributary_exporter_lag_seconds{" + l + "} " + std::to_string(p.lag_seconds) + "\n";
      }
    }
    std::string out = m.str();
    out += "# HELP tributary_exporter_state 1 for the exporter's current state.\n"
           "# TYPE tributary_exporter_state gauge\n" + states;
    out += "# HELP tributary_exporter_reconnects_total Reconnections to the upstream.\n"
           "# TYPE tributary_exporter_reconnects_total counter\n" + reconnects;
    out += "# HELP tributary_exporter_records_acked_total Records the upstream acknowledged.\n"
           "# TYPE tributary_exporter_records_acked_total counter\n" + sent;
    out += "# HELP tributary_exporter_lag_records Records not yet acknowledged upstream.\n"
           "# TYPE tributary_exporter_lag_records gauge\n" + lag_records;
    out += "# HELP tributary_exporter_lag_seconds Age of the oldest record not yet acknowledged upstream.\n"
           "# TYPE tributary_exporter_lag_seconds gauge\n" + lag_seconds;
    out += GroupMetrics();
    out += "# HELP tributary_partition_start_offset The first offset still stored.\n"
           "# TYPE tributary_partition_start_offset gauge\n" + starts;
    out += "# HELP tributary_partition_bytes Bytes stored in a partition.\n"
           "# TYPE tributary_partition_bytes gauge\n" + bytes;
    return out;
  }
  return m.str();
}

// Consumer groups: members, who owns which partition, committed cursor, lag.
nlohmann::json Broker::GroupsJson() const {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, g] : groups_) {
    auto name_of = [&g = *g](SubscriberId sid) -> std::string {
      const GroupMember* m = g.Member(sid);
      return m ? m->client_id : "";
    };
    nlohmann::json members = nlohmann::json::array();
    for (const GroupMember& m : g->members()) members.push_back(m.client_id);
    nlohmann::json parts = nlohmann::json::array();
    for (const GroupPartition& p : g->partitions()) {
      auto end = routed_end_.find(p.key());
      uint64_t end_offset = end == routed_end_.end() ? p.committed : end->second;
      auto sn = stream_names_.find(p.stream);
      parts.push_back({{"stream", sn == stream_names_.end() ? std::to_string(p.stream) : sn->second},
                       {"partition", p.partition},
                       {"owner", name_of(p.owner)},
                       {"state", !p.owner ? "unassigned" : p.revoking() ? "moving" : "owned"},
                       {"moving_to", name_of(p.next_owner)},
                       {"committed", p.committed},
                       {"next", p.pos.next},
                       {"end_offset", end_offset},
                       {"lag_records", end_offset > p.committed ? end_offset - p.committed : 0},
                       {"lag_seconds", GroupLagSeconds(p, end_offset)},
                       {"inflight", p.unacked.size()}});
    }
    out.push_back({{"group", g->group()}, {"filter", g->filter()}, {"cursor", g->cursor_name()},
                   {"subscribers", g->subscribers}, {"members", members}, {"partitions", parts}});
  }
  return out;
}

std::string Broker::GroupMetrics() const {
  std::string lag = "# HELP tributary_group_lag_records Records not yet acknowledged by a consumer group.\n"
                    "# TYPE tributary_group_lag_records gauge\n";
  std::string secs = "# HELP tributary_group_lag_seconds Age of the oldest record a consumer group has not "
                     "acknowledged.\n# TYPE tributary_group_lag_seconds gauge\n";
  for (const auto& [id, g] : groups_) {
    for (const GroupPartition& p : g->partitions()) {
      auto end = routed_end_.find(p.key());
      uint64_t end_offset = end == routed_end_.end() ? p.committed : end->second;
      auto sn = stream_names_.find(p.stream);
      const std::string labels =
          "{group=\"" + Label(g->group()) + "\",filter=\"" + Label(g->filter()) + "\",stream=\"" +
          Label(sn == stream_names_.end() ? std::to_string(p.stream) : sn->second) +
          "\",partition=\"" + std::to_string(p.partition) + "\"} ";
      lag += "tributary_group_lag_records" + labels +
             std::to_string(end_offset > p.committed ? end_offset - p.committed : 0) + "\n";
      secs += "tributary_group_lag_seconds" + labels + std::to_string(GroupLagSeconds(p, end_offset)) + "\n";
    }
  }
  return lag + secs;
}

HttpResponse Broker::HandleAdmin(const HttpRequest& req) {
  if (!cfg_.admin.token.empty() && req.authorization != "Bearer " + cfg_.admin.token) {
    return HttpResponse{401, "text/plain; charset=utf-8", "missing or wrong bearer token\n"};
  }
  if (req.method != "GET") return HttpResponse{405, "text/plain; charset=utf-8", "GET only\n"};
  if (req.path == "/metrics") {
    return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", Metrics()};
  }
  if (req.path == "/healthz") return HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
  if (req.path == "/readyz") {
    bool ready = !stopping_ && log_ && !storage_failed_ && !listeners_.empty();
    std::string body = ready ? "ready\n"
                       : storage_failed_ ? "storage failing: " + storage_failure_ + "\n"
                                         : "not ready\n";
    return HttpResponse{ready ? 200 : 503, "text/plain; charset=utf-8", body};
  }
  nlohmann::json j;
  if (req.path == "/v1/streams") {
    j = nlohmann::json::array();
    for (const auto& [id, spec] : log_->ListStreams()) {
      nlohmann::json parts = nlohmann::json::array();
      for (uint32_t p = 0; p < spec.partitions; ++p) {
        auto info = log_->Info(id, p);
        if (!info.ok()) continue;
        parts.push_back({{"partition", p}, {"start_offset", info->start_offset},
                         {"end_offset", info->end_offset}, {"bytes", info->bytes},
                         {"first_timestamp_ms", info->first_timestamp_ms},
                         {"last_timestamp_ms", info->last_timestamp_ms}});
      }
      nlohmann::json subjects = nlohmann::json::array();
      for (size_t i = 0; i < router_.size(); ++i)
        if (router_.id(i) == id) subjects = router_.stream(i).subjects;
      j.push_back({{"name", spec.name}, {"partitions", parts}, {"subjects", subjects},
                   {"max_age_ms", spec.max_age_ms}, {"max_bytes", spec.max_bytes}});
    }
  } else if (req.path == "/v1/clients") {
    j = nlohmann::json::array();
    for (const auto& [cid, s] : sessions_) {
      j.push_back({{"client_id", cid}, {"connected", s->conn != nullptr},
                   {"peer", s->conn ? s->conn->peer() : ""},
                   {"protocol", s->conn ? (s->conn->version == mqtt::Version::k5 ? "5.0" : "3.1.1") : ""},
                   {"subscriptions", s->View().subscriptions.size()}, {"inflight", s->View().inflight.size()},
                   {"queued", s->View().queue.size()}, {"session_expiry_s", s->expiry_interval},
                   {"buffer_bytes", s->conn ? s->conn->buffer_bytes() : 0}});
    }
  } else if (req.path == "/v1/exporters") {
    j = nlohmann::json::array();
    for (const auto& e : exporters_) {
      bridge::ExporterStatus st = e->Status();
      nlohmann::json parts = nlohmann::json::array();
      for (const bridge::PartitionLag& p : st.partitions) {
        parts.push_back({{"stream", p.stream}, {"partition", p.partition}, {"cursor", p.cursor},
                         {"end_offset", p.end_offset}, {"lag_records", p.lag_records},
                         {"lag_seconds", p.lag_seconds}});
      }
      j.push_back({{"name", st.name}, {"kind", st.kind}, {"state", st.state},
                   {"last_error", st.last_error}, {"reconnects", st.reconnects},
                   {"records_sent", st.records_sent}, {"records_acked", st.records_acked},
                   {"bytes_sent", st.bytes_sent}, {"duplicates_possible", st.duplicates_possible},
                   {"inflight", st.inflight}, {"partitions", parts}});
    }
  } else if (req.path == "/v1/groups") {
    j = GroupsJson();
  } else if (req.path == "/v1/status") {
    j = {{"version", TRIB_VERSION}, {"node_id", cfg_.node_id},
         {"uptime_s", (clock::MonoMs() - started_ms_) / 1000}, {"connections", connections_.size()},
         {"sessions", sessions_.size()}, {"messages_in", stats_.messages_in},
         {"messages_out", stats_.messages_out}};
    int64_t now = clock::MonoMs();
    if (rate_prev_.ms > 0 && now > rate_prev_.ms) {
      double span = static_cast<double>(now - rate_prev_.ms) / 1000.0;
      j["rates"] = {{"messages_in_per_s", static_cast<double>(stats_.messages_in - rate_prev_.in) / span},
                    {"messages_out_per_s", static_cast<double>(stats_.messages_out - rate_prev_.out) / span},
                    {"over_s", span}};
    }
    j["exporters"] = exporters_.size();
    if (log_) {
      storage::Stats st = log_->GetStats();
      j["storage"] = {{"used_bytes", st.used_bytes}, {"budget_bytes", st.map_bytes}};
    }
  } else {
    return HttpResponse{404, "text/plain; charset=utf-8", "not found\n"};
  }
  return HttpResponse{200, "application/json", j.dump() + "\n"};
}

}  // namespace trib
