// tributaryd: the broker daemon's entry point. Parses the command line, loads
// the configuration, runs the broker until a signal stops it.
//
// Exit codes: 0 clean stop, 1 runtime failure (port in use, storage error,
// data directory locked), 2 bad command line or configuration.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "daemon/broker.h"
#include "daemon/config.h"
#include "platform/log.h"

namespace {

int CheckConfig(const std::string& path) {
  trib::config::Config cfg;
  trib::config::Status s = trib::config::Load(path, &cfg);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.message().c_str());
    return 2;
  }
  std::printf("%s: configuration OK (%zu listener(s), %zu stream(s), %zu exporter(s))\n",
              path.c_str(), cfg.listeners.size(), cfg.streams.size(), cfg.exporters.size());
  return 0;
}

// Each client connection is a file descriptor: take the whole hard limit
// (a default soft limit of 1024 would refuse clients long before
// limits.max_connections), and say so when even that is too low.
void RaiseFdLimit(uint64_t max_connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
  }
  constexpr uint64_t kOtherFds = 64;  // listeners, storage, logs, exporters
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < max_connections + kOtherFds) {
    LOG_WARN("the open-file limit (%llu) is below limits.max_connections (%llu) + %llu: raise "
             "LimitNOFILE= (systemd) or ulimit -n, or clients will be refused early",
             static_cast<unsigned long long>(rl.rlim_cur),
             static_cast<unsigned long long>(max_connections),
             static_cast<unsigned long long>(kOtherFds));
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tributaryd: MQTT broker with a durable partitioned log, for edge gateways"};
  std::string config_path, check_path, log_level, ready_file;
  bool version = false, reference = false;
  app.add_option("-c,--config", config_path, "Configuration file (TOML); default: built-in defaults");
  app.add_option("--check-config", check_path, "Check a configuration file and exit (0 ok, 2 bad)");
  app.add_option("--log-level", log_level, "error, warn, notice, info or debug (overrides the file)");
  app.add_option("--ready-file", ready_file,
                 "Write the bound addresses here once ready (for scripts and tests)");
  app.add_flag("--version", version, "Print the version and exit");
  app.add_flag("--config-reference", reference, "Print every configuration key as Markdown");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (version) {
    std::printf("tributaryd %s\n", TRIB_VERSION);
    return 0;
  }
  if (reference) {
    std::printf("%s", trib::config::ReferenceMarkdown().c_str());
    return 0;
  }
  if (!check_path.empty()) return CheckConfig(check_path);

  trib::config::Config cfg = trib::config::Defaults();
  if (!config_path.empty()) {
    trib::config::Status s = trib::config::Load(config_path, &cfg);
    if (!s.ok()) {
      std::fprintf(stderr, "tributaryd: bad configuration: %s\n", s.message().c_str());
      return 2;
    }
  }
  if (!log_level.empty()) cfg.log_level = log_level;
  trib::log::Level level;
  if (!trib::log::ParseLevel(cfg.log_level, &level)) {
    std::fprintf(stderr, "tributaryd: --log-level: expected error, warn, notice, info or debug\n");
    return 2;
  }
  trib::log::SetLevel(level);
  RaiseFdLimit(cfg.limits.max_connections);

  trib::Broker broker(std::move(cfg));
  broker.SetConfigPath(config_path);
  broker.SetReadyFile(ready_file);
  return broker.Run();
}
