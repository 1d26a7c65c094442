#include "daemon/broker.h"

#include <signal.h>

#include <cstdio>
#include <fstream>

#include "platform/log.h"

namespace trib {
namespace {

// A stop must finish within this bound even if a peer or the disk is stuck.
constexpr uint64_t kShutdownTimeoutMs = 10000;

template <class H>
uv_handle_t* AsHandle(H* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}

}  // namespace

Broker::Broker(config::Config cfg) : cfg_(std::move(cfg)) { uv_loop_init(&loop_); }

Broker::~Broker() {
  // Every handle was closed by CloseHandles(); run the loop so their close
  // callbacks fire before the loop is destroyed.
  uv_run(&loop_, UV_RUN_DEFAULT);
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

  std::string err = fs::MakeDirs(cfg_.storage.dir);
  if (!err.empty()) return "storage: " + err;
  err = dir_lock_.Acquire(cfg_.storage.dir);
  if (!err.empty()) return err;

  for (const config::ListenerConfig& lc : cfg_.listeners) {
    auto l = std::make_unique<Listener>(&loop_, lc, [](uv_tcp_t* client, const config::ListenerConfig&) {
      uv_close(AsHandle(client), [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
    });
    err = l->Bind();
    listeners_.push_back(std::move(l));
    if (!err.empty()) return err;
  }

  std::string where;
  for (const auto& l : listeners_) {
    LOG_NOTICE("listening for MQTT on %s%s", l->bound().c_str(), l->cfg().tls.enabled ? " (TLS)" : "");
    where += (where.empty() ? "" : ", ") + l->bound();
  }
  LOG_NOTICE("data in %s, %zu stream(s); try: mosquitto_sub -h %s -p %u -t '#' -v", cfg_.storage.dir.c_str(),
             cfg_.streams.size(), listeners_[0]->cfg().host.c_str(), listeners_[0]->port());
  WriteReadyFile();
  watchdog_.Start(&loop_);
  systemd::NotifyReady("listening on " + where);
  return "";
}

void Broker::WriteReadyFile() {
  if (ready_file_.empty()) return;
  std::string tmp = ready_file_ + ".tmp";
  {
    std::ofstream out(tmp);
    for (const auto& l : listeners_) out << "mqtt " << l->bound() << "\n";
  }
  if (std::rename(tmp.c_str(), ready_file_.c_str()) != 0)
    LOG_WARN("cannot write ready file %s", ready_file_.c_str());
}

void Broker::OnSignal(uv_signal_t* s, int signum) {
  auto* self = static_cast<Broker*>(s->data);
  if (signum == SIGHUP) {
    self->Reload();
  } else {
    self->BeginShutdown(signum == SIGINT ? "SIGINT" : "SIGTERM");
  }
}

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
  LOG_NOTICE("SIGHUP: %s is valid; nothing in it can change without a restart yet",
             config_path_.c_str());
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
  FinishShutdown();
}

void Broker::OnShutdownTimeout(uv_timer_t* t) {
  auto* self = static_cast<Broker*>(t->data);
  LOG_ERROR("stop did not finish within %llu ms: exiting", static_cast<unsigned long long>(kShutdownTimeoutMs));
  self->exit_code_ = 1;
  self->FinishShutdown();
}

void Broker::FinishShutdown() {
  CloseHandles();
  LOG_NOTICE("stopped");
}

void Broker::CloseHandles() {
  for (auto& l : listeners_) l->Close();
  watchdog_.Stop();
  for (uv_handle_t* h : {AsHandle(&sigint_), AsHandle(&sigterm_), AsHandle(&sighup_),
                         AsHandle(&shutdown_timer_)}) {
    if (h->loop && !uv_is_closing(h)) uv_close(h, nullptr);
  }
}

}  // namespace trib
