// Broker: owns the event loop and every piece of broker state: listeners,
// connections, sessions, the topic tree, the storage log.
//
// Created by main(); Run() blocks until SIGINT/SIGTERM (or a fatal error) and
// returns the process exit code. Thread: everything runs on the loop thread;
// other threads reach it only through the Poster.
#pragma once

#include <uv.h>

#include <memory>
#include <string>
#include <vector>

#include "daemon/config.h"
#include "daemon/listener.h"
#include "platform/fs.h"
#include "platform/systemd.h"

namespace trib {

class Broker {
 public:
  explicit Broker(config::Config cfg);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Where SIGHUP re-reads the configuration from ("" = built-in defaults).
  void SetConfigPath(std::string path) { config_path_ = std::move(path); }
  // A file written once listeners are bound: one "name address" line each.
  void SetReadyFile(std::string path) { ready_file_ = std::move(path); }

  // Runs until stopped. Returns 0 after a clean stop, 1 on a runtime failure.
  int Run();

  uv_loop_t* loop() { return &loop_; }
  const config::Config& config() const { return cfg_; }

 private:
  std::string Start();
  void WriteReadyFile();
  void BeginShutdown(const char* why);
  void FinishShutdown();
  void Reload();
  void CloseHandles();

  static void OnSignal(uv_signal_t* s, int signum);
  static void OnShutdownTimeout(uv_timer_t* t);

  config::Config cfg_;
  std::string config_path_;
  std::string ready_file_;
  uv_loop_t loop_{};
  fs::DirLock dir_lock_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  uv_signal_t sigint_{}, sigterm_{}, sighup_{};
  uv_timer_t shutdown_timer_{};
  systemd::Watchdog watchdog_;
  bool stopping_ = false;
  int exit_code_ = 0;
};

}  // namespace trib
