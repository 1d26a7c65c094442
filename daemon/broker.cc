#include "daemon/broker.h"

#include <malloc.h>
#include <signal.h>

#include <cstdio>
#include <fstream>

#include "platform/clock.h"
#include "platform/log.h"

namespace trib {
namespace {

// A stop must finish within this bound even if a peer or the disk is stuck.
constexpr uint64_t kShutdownTimeoutMs = 10000;
constexpr uint64_t kTickMs = 500;
constexpr int kFlushPasses = 16;
constexpr size_t kReadBufferBytes = 64 * 1024;

template <class H>
uv_handle_t* AsHandle(H* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

}  // namespace

Broker::Broker(config::Config cfg) : cfg_(std::move(cfg)) {
  uv_loop_init(&loop_);
  read_buffer_.resize(kReadBufferBytes);
  started_ms_ = clock::MonoMs();
  rate_cur_ = {started_ms_, 0, 0};
}

Broker::~Broker() {
  // Every handle was closed by CloseHandles(); run the loop so their close
  // callbacks fire before the loop is destroyed.
  uv_run(&loop_, UV_RUN_DEFAULT);
  StopExporters();  // they read the log: stop them first
  log_.reset();     // drains and syncs what was submitted
  if (uv_loop_close(&loop_) != 0) LOG_WARN("event loop closed with handles still open");
}

int Broker::Run() {
  signal(SIGPIPE, SIG_IGN);
  std::string err = Start();
  if (!err.empty()) {
    LOG_ERROR("%s", err.c_str());
    CloseHandles();
    return 1;
  }
  // Start() restored sessions and retained messages from storage before the
  // loop serves anyone; from here on every read runs on the thread pool.
  storage::ForbidReadsOnThisThread();
  uv_run(&loop_, UV_RUN_DEFAULT);
  return exit_code_;
}

std::string Broker::Start() {
  uv_signal_init(&loop_, &sigint_);
  uv_signal_init(&loop_, &sigterm_);
  uv_signal_init(&loop_, &sighup_);
  sigint_.data = sigterm_.data = sighup_.data = this;
  uv_signal_start(&sigint_, OnSignal, SIGINT);
  uv_signal_start(&sigterm_, OnSignal, SIGTERM);
  uv_signal_start(&sighup_, OnSignal, SIGHUP);
  uv_timer_init(&loop_, &shutdown_timer_);
  shutdown_timer_.data = this;
  uv_timer_init(&loop_, &tick_);
  tick_.data = this;
  uv_check_init(&loop_, &check_);
  check_.data = this;
  uv_async_init(&loop_, &storage_async_, OnStorageAsync);
  storage_async_.data = this;
  started_handles_ = true;

  std::string err = fs::MakeDirs(cfg_.storage.dir);
  if (!err.empty()) return "storage: " + err;
  err = dir_lock_.Acquire(cfg_.storage.dir);
  if (!err.empty()) return err;
  err = OpenStorage();
  if (!err.empty()) return err;
  err = StartExporters();
  if (!err.empty()) return err;

  err = LoadSecurity(cfg_, /*reload=*/false);
  if (!err.empty()) return err;
  for (size_t i = 0; i < cfg_.listeners.size(); ++i) {
    const config::ListenerConfig& lc = cfg_.listeners[i];
    tls::Context* ctx = tls_[i].get();
    auto l = std::make_unique<Listener>(
        &loop_, lc, [this, ctx](uv_stream_t* server, const config::ListenerConfig& from) {
          Accept(server, from, ctx);
        });
    err = l->Bind();
    listeners_.push_back(std::move(l));
    if (!err.empty()) return err;
  }
  if (!cfg_.admin.bind.empty()) {
    admin_ = std::make_unique<AdminHttp>(&loop_, cfg_.admin.host, cfg_.admin.port,
                                         [this](const HttpRequest& r) { return HandleAdmin(r); });
    err = admin_->Bind();
    if (!err.empty()) return err;
    LOG_NOTICE("admin API on http://%s (/metrics, /healthz, /readyz, /v1/...)", admin_->bound().c_str());
  }
  uv_timer_start(&tick_, OnTick, kTickMs, kTickMs);
  uv_check_start(&check_, OnCheck);

  std::string where;
  for (const auto& l : listeners_) {
    LOG_NOTICE("listening for MQTT on %s%s", l->bound().c_str(),
               l->cfg().tls.enabled ? " (TLS)" : "");
    where += (where.empty() ? "" : ", ") + l->bound();
  }
  LOG_NOTICE("data in %s, %zu stream(s); try: mosquitto_sub -h %s -p %u -t '#' -v",
             cfg_.storage.dir.c_str(), cfg_.streams.size(), listeners_[0]->cfg().host.c_str(),
             listeners_[0]->port());
  WriteReadyFile();
  watchdog_.Start(&loop_);
  systemd::NotifyReady("listening on " + where);
  return "";
}

std::string Broker::OpenStorage() {
  storage::Options o;
  o.dir = cfg_.storage.dir;
  o.map_bytes = cfg_.storage.max_bytes;
  o.sync = cfg_.storage.sync;
  o.sync_interval_ms = cfg_.storage.sync_interval_ms;
  o.max_queue_bytes = cfg_.storage.max_queue_bytes;
  uv_async_t* async = &storage_async_;
  std::shared_ptr<std::atomic<bool>> alive = notify_alive_;
  o.notify = [async, alive] {
    if (alive->load()) uv_async_send(async);
  };
  auto opened = storage::Log::Open(o);
  if (!opened.ok()) return "storage: " + opened.status().message();
  log_ = std::move(opened.value());

  std::vector<storage::StreamSpec> specs;
  for (const config::StreamConfig& s : cfg_.streams) {
    storage::StreamSpec spec;
    spec.name = s.name;
    spec.partitions = s.partitions;
    spec.max_age_ms = s.max_age_ms;
    spec.max_bytes = s.max_bytes;
    spec.on_full = s.on_full;
    spec.compression = s.compression;
    specs.push_back(spec);
  }
  storage::Status st = log_->OpenStreams(specs);
  if (!st.ok()) return "storage: " + st.message();
  std::vector<storage::StreamId> ids;
  for (const config::StreamConfig& s : cfg_.streams) ids.push_back(*log_->FindStream(s.name));
  router_.Reset(cfg_.streams, ids);
  stream_in_.assign(cfg_.streams.size(), StreamCounters{});
  UpdateLiveDelivery();
  for (size_t i = 0; i < ids.size(); ++i) stream_index_[ids[i]] = i;
  LoadRetained();
  LoadSessions();
  return "";
}

void Broker::WriteReadyFile() {
  if (ready_file_.empty()) return;
  std::string tmp = ready_file_ + ".tmp";
  {
    std::ofstream out(tmp);
    for (const auto& l : listeners_) out << "mqtt " << l->bound() << "\n";
    if (admin_) out << "admin " << admin_->bound() << "\n";
  }
  if (std::rename(tmp.c_str(), ready_file_.c_str()) != 0)
    LOG_WARN("cannot write ready file %s", ready_file_.c_str());
}

void Broker::Accept(uv_stream_t* server, const config::ListenerConfig& l, tls::Context* tls) {
  if (stopping_ || connections_.size() >= cfg_.limits.max_connections) {
    ++stats_.connections_refused;
    LOG_WARN("refusing a connection on %s: %s", l.bind.c_str(),
             stopping_ ? "shutting down" : "max_connections reached");
    Listener::Refuse(server);
    return;
  }
  ++stats_.connections_accepted;
  uint64_t id = next_conn_id_++;
  auto c = std::make_unique<Connection>(this, &loop_, l, id, tls);
  Connection* raw = c.get();
  // Deliveries stop at max_output_bytes (the rest waits in the log or the
  // queue); only acks and pings can go past it, so twice that plus one packet
  // means the client stopped reading.
  raw->set_output_hard_cap(2 * cfg_.limits.max_output_bytes + cfg_.limits.max_packet_size);
  connections_.emplace(id, std::move(c));
  if (!raw->Accept(server)) return;  // closing; its close callback frees it
  raw->Start();
  if (storage_paused_) raw->PauseReading();
}

Connection* Broker::FindConnection(uint64_t id) {
  auto it = connections_.find(id);
  return it == connections_.end() ? nullptr : it->second.get();
}

void Broker::OnConnectionClosing(Connection* c) {
  Session* s = c->session;
  if (!s) return;
  c->session = nullptr;
  Detach(s, !c->will_suppressed);
}

void Broker::OnConnectionClosed(Connection* c) { connections_.erase(c->id()); }

void Broker::OnPeerClosed(Connection* c, const char* why) {
  LOG_DEBUG("client %s (%s): %s", c->client_name(),
            c->peer().c_str(), why);
  c->Close(why);
}

void Broker::OnWritable(Connection* c) {
  if (c->session && c->state() == Connection::State::kConnected) Pump(c->session);
}

void Broker::OnCheck(uv_check_t* h) { static_cast<Broker*>(h->data)->EndOfIteration(); }

// After every loop iteration: hand this iteration's appends to storage in one
// batch, and write each connection's queued output once.
void Broker::EndOfIteration() {
  // Writes first, then the storage submission: what went out on receipt
  // (live_delivery) leaves before the writer thread wakes, whose wake-up can
  // take this thread's CPU on a small machine.
  // A flush that empties a connection's output lets waiting deliveries in,
  // which dirties it again: repeat a bounded number of times (what is left
  // goes with the next iteration or tick).
  std::vector<uint64_t> ids;
  for (int pass = 0; pass < kFlushPasses && !dirty_.empty(); ++pass) {
    ids.clear();
    ids.swap(dirty_);
    for (uint64_t id : ids) {
      if (Connection* c = FindConnection(id)) c->Flush();
    }
  }
  SubmitPending();
}

void Broker::OnStorageAsync(uv_async_t* a) {
  auto* self = static_cast<Broker*>(a->data);
  self->ProcessCompletions();
  self->EndOfIteration();
}

void Broker::OnTick(uv_timer_t* t) { static_cast<Broker*>(t->data)->Tick(); }

// Timeouts that need no precision: connect timeout, keep-alive, session
// expiry, delayed wills, cursor persistence. One scan per tick.
void Broker::Tick() {
  int64_t now = clock::MonoMs();
  std::vector<Connection*> expired;
  for (auto& [id, c] : connections_) {
    c->ReleaseIdleBuffers();
    if (c->rate_paused && !storage_paused_) c->ResumeAfterRateLimit();
    if (c->state() == Connection::State::kNew &&
        now - c->connected_at_ms > cfg_.limits.connect_timeout_ms) {
      LOG_INFO("client %s: no CONNECT within %lld ms", c->peer().c_str(),
               static_cast<long long>(cfg_.limits.connect_timeout_ms));
      expired.push_back(c.get());
    } else if (c->state() == Connection::State::kConnected && c->keepalive_s > 0 &&
               now - c->last_read_ms > int64_t{c->keepalive_s} * 1500) {
      // [MQTT-3.1.2-24]: one and a half times the keep-alive with nothing read.
      LOG_INFO("client %s (%s): keep-alive timeout", c->client_name(), c->peer().c_str());
      expired.push_back(c.get());
    }
  }
  for (Connection* c : expired) {
    if (c->state() == Connection::State::kConnected) {
      SendDisconnect(c, mqtt::ReasonCode::kKeepAliveTimeout, "keep-alive timeout");
    } else {
      c->Close("connect timeout");
    }
  }
  ExpireSessions(now);
  if (now - rate_cur_.ms >= 5000) {
    rate_prev_ = rate_cur_;
    rate_cur_ = {now, stats_.messages_in, stats_.messages_out};
  }
  TickGroups(now);
  ExpireIdleGroups(now);
  MaybePublishSys(now);
  TrimHeap(now);
  EndOfIteration();
}

// A burst (a fleet reconnecting, a replay) fills the storage queue and the
// read and write buffers; glibc keeps what they freed. On a gateway with
// little memory that should go back to the system once the burst is over:
// every 30 s, when more than 8 MiB of the heap is free, malloc_trim on the
// thread pool (it walks the free lists, which takes a while on a big heap).
void Broker::TrimHeap(int64_t now_ms) {
  constexpr int64_t kTrimIntervalMs = 30000;
  constexpr size_t kTrimFreeBytes = 8u << 20;
  if (trim_running_ || stopping_ || now_ms - trim_last_ms_ < kTrimIntervalMs) return;
  trim_last_ms_ = now_ms;
  trim_running_ = true;
  trim_req_.data = this;
  uv_queue_work(
      &loop_, &trim_req_,
      [](uv_work_t*) {
        if (mallinfo2().fordblks > kTrimFreeBytes) malloc_trim(0);
      },
      [](uv_work_t* req, int) { static_cast<Broker*>(req->data)->trim_running_ = false; });
}

void Broker::OnSignal(uv_signal_t* s, int signum) {
  auto* self = static_cast<Broker*>(s->data);
  if (signum == SIGHUP) {
    self->Reload();
  } else {
    self->BeginShutdown(signum == SIGINT ? "SIGINT" : "SIGTERM");
  }
}

void Broker::BeginShutdown(const char* why) {
  if (stopping_) {
    LOG_WARN("%s again while stopping: exiting now", why);
    exit_code_ = 1;
    FinishShutdown();
    return;
  }
  stopping_ = true;
  LOG_NOTICE("%s: stopping", why);
  systemd::NotifyStopping();
  uv_timer_start(&shutdown_timer_, OnShutdownTimeout, kShutdownTimeoutMs, 0);
  for (auto& l : listeners_) l->Close();
  if (admin_) admin_->Close();
  // Tell 5.0 clients why, then close every connection; sessions persist.
  std::vector<Connection*> all;
  for (auto& [id, c] : connections_) all.push_back(c.get());
  for (Connection* c : all) {
    if (c->state() == Connection::State::kConnected) {
      SendDisconnect(c, mqtt::ReasonCode::kServerShuttingDown, "server shutting down");
    } else {
      c->Close("server shutting down");
    }
  }
  SubmitPending();
  for (auto& [id, s] : sessions_) {
    if (s->persistent()) PersistCursors(s.get());
  }
  CommitAllGroupCursors();
  StopExporters();  // commits their cursors
  SubmitPending();
  if (log_) log_->Flush();
  ProcessCompletions();
  // QoS 2 messages committed just now: store their packet ids too, so that
  // the clients' resends after the restart are recognised.
  SubmitPending();
  if (log_) log_->Flush();
  // The Log itself closes in ~Broker, after thread-pool reads have finished.
  FinishShutdown();
}

void Broker::OnShutdownTimeout(uv_timer_t* t) {
  auto* self = static_cast<Broker*>(t->data);
  LOG_ERROR("stop did not finish within %llu ms: exiting",
            static_cast<unsigned long long>(kShutdownTimeoutMs));
  self->exit_code_ = 1;
  self->FinishShutdown();
}

void Broker::FinishShutdown() {
  CloseHandles();
  LOG_NOTICE("stopped");
}

void Broker::CloseHandles() {
  notify_alive_->store(false);
  for (auto& l : listeners_) l->Close();
  if (admin_) admin_->Close();
  watchdog_.Stop();
  if (!started_handles_) return;
  for (uv_handle_t* h : {AsHandle(&sigint_), AsHandle(&sigterm_), AsHandle(&sighup_),
                         AsHandle(&shutdown_timer_), AsHandle(&tick_), AsHandle(&check_),
                         AsHandle(&storage_async_)}) {
    if (!uv_is_closing(h)) uv_close(h, nullptr);
  }
  std::vector<Connection*> all;
  for (auto& [id, c] : connections_) all.push_back(c.get());
  for (Connection* c : all) c->Close("server stopping");
}

}  // namespace trib
