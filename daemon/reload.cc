// SIGHUP: re-read the configuration file and apply what can change while
// running; log what changed and what waits for a restart. A file that does
// not load, or whose passwords/ACL/certificates do not load, changes nothing.
//
// Live: passwords, ACLs, TLS certificates (open connections keep theirs),
// limits (new values apply to what happens next; what a 5.0 client was
// promised in its CONNACK - receive maximum, maximum packet size - stays for
// that connection), stream retention (max_age, max_bytes, on_full) and
// live_delivery, the log level, the $SYS interval, replication.enabled,
// exporters (see exporters.cc: changed ones are restarted from their committed
// cursors).
// Restart: listeners, the admin listener, storage, node_id, stream subjects,
// partitions, keys, compression and priority, new or removed streams,
// replication retention.
//
// Thread: loop. Retention updates run on the thread pool (the storage writer
// applies them between commits; the loop does not wait for it).
#include <uv.h>

#include "daemon/broker.h"
#include "platform/log.h"

namespace trib {
namespace {

using Limits = decltype(config::Config::limits);

struct LimitField {
  const char* name;
  uint64_t (*get)(const Limits&);
};

#define TRIB_LIMIT(f) \
  LimitField { #f, [](const Limits& l) { return static_cast<uint64_t>(l.f); } }
const LimitField kLimitFields[] = {
    TRIB_LIMIT(max_connections),    TRIB_LIMIT(max_packet_size),     TRIB_LIMIT(max_inflight),
    TRIB_LIMIT(max_keepalive_ms),   TRIB_LIMIT(connect_timeout_ms),  TRIB_LIMIT(max_publish_rate),
    TRIB_LIMIT(max_subscriptions),  TRIB_LIMIT(max_topic_length),    TRIB_LIMIT(max_topic_levels),
    TRIB_LIMIT(max_queued_messages), TRIB_LIMIT(max_output_bytes),   TRIB_LIMIT(max_session_expiry_ms), TRIB_LIMIT(group_cursor_expiry_ms),
};
#undef TRIB_LIMIT

bool SameStreamShape(const config::StreamConfig& a, const config::StreamConfig& b) {
  return a.subjects == b.subjects && a.partitions == b.partitions && a.key == b.key &&
         a.compression == b.compression;
}

bool SameListener(const config::ListenerConfig& a, const config::ListenerConfig& b) {
  return a.bind == b.bind && a.tls.enabled == b.tls.enabled &&
         a.tls.require_client_cert == b.tls.require_client_cert &&
         a.tls.use_identity_as_username == b.tls.use_identity_as_username;
}

struct RetentionWork {
  uv_work_t req{};
  storage::Log* log = nullptr;
  storage::StreamId id = 0;
  std::string name;
  int64_t max_age_ms = 0;
  uint64_t max_bytes = 0;
  storage::OnFull on_full = storage::OnFull::kDropOldest;
  storage::Status status;
};

}  // namespace

void Broker::Reload() {
  if (config_path_.empty()) {
    LOG_NOTICE("SIGHUP: running on built-in defaults; nothing to reload");
    return;
  }
  config::Config next;
  config::Status s = config::Load(config_path_, &next);
  if (!s.ok()) {
    LOG_ERROR("SIGHUP: keeping the running configuration: %s", s.message().c_str());
    return;
  }
  std::string err = LoadSecurity(next, /*reload=*/true);
  if (!err.empty()) {
    LOG_ERROR("SIGHUP: keeping the running configuration: %s", err.c_str());
    return;
  }
  cfg_.auth = next.auth;
  for (size_t i = 0; i < cfg_.listeners.size() && i < next.listeners.size(); ++i)
    cfg_.listeners[i].tls = next.listeners[i].tls;
  LOG_NOTICE("SIGHUP: reloaded passwords, ACLs and TLS certificates from %s", config_path_.c_str());

  std::vector<std::string> changed, restart;
  for (const LimitField& f : kLimitFields) {
    uint64_t was = f.get(cfg_.limits), now = f.get(next.limits);
    if (was != now) changed.push_back("limits." + std::string(f.name) + " " + std::to_string(was) + " -> " + std::to_string(now));
  }
  cfg_.limits = next.limits;
  if (next.mqtt.sys_interval_ms != cfg_.mqtt.sys_interval_ms) {
    changed.push_back("mqtt.sys_interval");
    cfg_.mqtt = next.mqtt;
  }
  if (next.log_level != cfg_.log_level) {
    log::Level level;
    if (log::ParseLevel(next.log_level, &level)) {
      log::SetLevel(level);
      changed.push_back("log_level " + cfg_.log_level + " -> " + next.log_level);
      cfg_.log_level = next.log_level;
    }
  }

  // Streams: retention changes live; anything about their shape needs a restart.
  for (const config::StreamConfig& ns : next.streams) {
    config::StreamConfig* cur = nullptr;
    for (config::StreamConfig& cs : cfg_.streams)
      if (cs.name == ns.name) cur = &cs;
    if (!cur) {
      restart.push_back("new stream " + ns.name);
      continue;
    }
    if (!SameStreamShape(*cur, ns)) restart.push_back("stream " + ns.name + " (subjects, partitions, key or compression)");
    if (cur->priority != ns.priority || cur->priority_set != ns.priority_set)
      restart.push_back("stream " + ns.name + " priority");
    if (cur->live_delivery != ns.live_delivery) {
      cur->live_delivery = ns.live_delivery;
      changed.push_back("stream " + ns.name + " live_delivery");
      UpdateLiveDelivery();
    }
    if (cur->max_age_ms == ns.max_age_ms && cur->max_bytes == ns.max_bytes && cur->on_full == ns.on_full) continue;
    auto id = log_ ? log_->FindStream(ns.name) : std::nullopt;
    if (!id) continue;
    cur->max_age_ms = ns.max_age_ms;
    cur->max_bytes = ns.max_bytes;
    cur->on_full = ns.on_full;
    changed.push_back("stream " + ns.name + " retention");
    auto* w = new RetentionWork;
    w->req.data = w;
    w->log = log_.get();
    w->id = *id;
    w->name = ns.name;
    w->max_age_ms = ns.max_age_ms;
    w->max_bytes = ns.max_bytes;
    w->on_full = ns.on_full;
    uv_queue_work(
        &loop_, &w->req,
        [](uv_work_t* r) {
          auto* w = static_cast<RetentionWork*>(r->data);
          w->status = w->log->UpdateRetention(w->id, w->max_age_ms, w->max_bytes, w->on_full);
        },
        [](uv_work_t* r, int) {
          auto* w = static_cast<RetentionWork*>(r->data);
          if (!w->status.ok())
            LOG_ERROR("SIGHUP: stream %s: retention not changed: %s", w->name.c_str(), w->status.message().c_str());
          delete w;
        });
  }
  for (const config::StreamConfig& cs : cfg_.streams) {
    bool kept = false;
    for (const config::StreamConfig& ns : next.streams) kept |= ns.name == cs.name;
    if (!kept) restart.push_back("removed stream " + cs.name);
  }

  bool listeners_same = next.listeners.size() == cfg_.listeners.size();
  for (size_t i = 0; listeners_same && i < next.listeners.size(); ++i)
    listeners_same = SameListener(next.listeners[i], cfg_.listeners[i]);
  if (!listeners_same) restart.push_back("listeners");
  if (next.admin.bind != cfg_.admin.bind) restart.push_back("admin.bind");
  if (next.admin.token != cfg_.admin.token) {
    cfg_.admin.token = next.admin.token;  // checked per request
    changed.push_back("admin.token");
  }
  if (next.storage.dir != cfg_.storage.dir || next.storage.max_bytes != cfg_.storage.max_bytes ||
      next.storage.sync != cfg_.storage.sync || next.storage.sync_interval_ms != cfg_.storage.sync_interval_ms ||
      next.storage.max_queue_bytes != cfg_.storage.max_queue_bytes)
    restart.push_back("storage");
  if (next.node_id != cfg_.node_id) restart.push_back("node_id");
  if (next.replication.enabled != cfg_.replication.enabled) {
    changed.push_back(std::string("replication.enabled -> ") + (next.replication.enabled ? "true" : "false"));
    cfg_.replication.enabled = next.replication.enabled;
  }
  if (next.replication.max_age_ms != cfg_.replication.max_age_ms ||
      next.replication.max_bytes != cfg_.replication.max_bytes)
    restart.push_back("replication retention");

  ReloadExporters(next.exporters, &changed);

  std::string what;
  for (const std::string& c : changed) what += (what.empty() ? "" : ", ") + c;
  LOG_NOTICE("SIGHUP: applied: %s", what.empty() ? "nothing else changed" : what.c_str());
  if (!restart.empty()) {
    std::string r;
    for (const std::string& x : restart) r += (r.empty() ? "" : ", ") + x;
    LOG_WARN("SIGHUP: these changes wait for a restart: %s", r.c_str());
  }
}

}  // namespace trib
