// loadgen: the MQTT load generator used by bench/. Publishers send
// numbered, timestamped payloads; subscribers measure end-to-end latency and
// find lost, duplicated and reordered messages; one JSON line of results goes
// to stdout. `--idle --connections K` opens K idle connections instead and
// holds them (memory per connection).
//
// Exit codes: 0 the run happened (read its numbers), 1 it could not (no
// connection at all), 2 bad command line.
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "tools/loadgen/bench.h"

namespace {

using trib::loadgen::Options;

// Idle mode holds thousands of sockets: allow as many as the hard limit does.
void RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

void AddOptions(CLI::App& app, Options& o, std::string& mqtt) {
  app.add_option("--host", o.host, "Broker IP address")->capture_default_str();
  app.add_option("-p,--port", o.port, "Broker port")->capture_default_str();
  app.add_option("--mqtt", mqtt, "Protocol: 3 (3.1.1) or 5")->capture_default_str();
  app.add_option("-P,--publishers", o.publishers, "Publisher connections")->capture_default_str();
  app.add_option("-S,--subscribers", o.subscribers, "Subscriber connections")
      ->capture_default_str();
  app.add_option("-q,--qos", o.qos, "Publish QoS")->check(CLI::Range(0, 2))->capture_default_str();
  app.add_option("--sub-qos", o.sub_qos, "Subscription QoS (default: --qos)")
      ->check(CLI::Range(0, 2));
  app.add_option("-s,--payload", o.payload, "Payload bytes (at least 32: the header)")
      ->capture_default_str();
  app.add_option("-n,--messages", o.messages, "Total messages over all publishers");
  app.add_option("-d,--duration", o.duration_s, "Publish for this many seconds");
  app.add_option("-r,--rate", o.rate, "Total messages/s over all publishers; 0 = unlimited")
      ->capture_default_str();
  app.add_option("-w,--window", o.window, "QoS 1/2 messages in flight per publisher")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app.add_option("-t,--topic", o.topic, "Topic; {pub} is the publisher index")
      ->capture_default_str();
  app.add_option("-f,--filter", o.filter, "Subscriber filter")->capture_default_str();
  app.add_flag("!--persistent", o.clean, "Persistent sessions (Clean Session 0 / Clean Start 0)");
  app.add_option("--session-expiry", o.session_expiry, "5.0 persistent session expiry, s")
      ->capture_default_str();
  app.add_flag("!--no-nodelay", o.nodelay, "Leave Nagle's algorithm on (TCP_NODELAY off)");
  app.add_option("-k,--keepalive", o.keepalive, "Keep-alive, s (0 = off)")->capture_default_str();
  app.add_option("--client-prefix", o.client_prefix, "Client id prefix (default lg-<pid>-)");
  app.add_option("--drain-timeout", o.drain_timeout_s,
                 "Stop waiting for acks/deliveries after this long without progress, s")
      ->capture_default_str();
  app.add_option("--timeout", o.timeout_s, "Hard limit on the whole run, s (default: derived)");
  app.add_option("--run-id", o.run_id, "Run id written into payloads (default: random)");
  app.add_option("--consume", o.consume,
                 "Consume mode: subscribers only, read this many records of an earlier run "
                 "(same --run-id and --publishers) from the broker");
  app.add_flag("--idle", o.idle, "Idle mode: open --connections connections and hold them");
  app.add_option("-c,--connections", o.connections, "Idle connections");
  app.add_option("--connect-concurrency", o.connect_concurrency, "Connects in progress at once")
      ->capture_default_str();
  app.add_option("--ready-file", o.ready_file, "Idle mode: written once all are connected");
  app.add_option("--hold", o.hold_s, "Idle mode: hold this long, s (0 = until SIGTERM)");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"loadgen: MQTT load generator for Tributary benchmarks (one JSON line out)"};
  Options o;
  std::string mqtt = "3";
  AddOptions(app, o, mqtt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  if (mqtt == "3" || mqtt == "3.1.1" || mqtt == "311" || mqtt == "4") {
    o.version = trib::mqtt::Version::k311;
  } else if (mqtt == "5" || mqtt == "5.0") {
    o.version = trib::mqtt::Version::k5;
  } else {
    std::fprintf(stderr, "loadgen: --mqtt: expected 3 or 5\n");
    return 2;
  }
  if (o.idle && o.connections <= 0) {
    std::fprintf(stderr, "loadgen: --idle needs --connections K\n");
    return 2;
  }
  if (o.consume && (o.subscribers < 1 || o.publishers < 1 || o.run_id == 0)) {
    std::fprintf(stderr, "loadgen: --consume needs --subscribers, --publishers and --run-id\n");
    return 2;
  }
  if (!o.idle && !o.consume && (o.publishers < 1 || (o.messages == 0 && o.duration_s <= 0))) {
    std::fprintf(stderr, "loadgen: need --publishers >= 1 and --messages or --duration\n");
    return 2;
  }
  if (o.payload < 32) {
    std::fprintf(stderr, "loadgen: --payload must be at least 32 bytes (the header)\n");
    return 2;
  }
  RaiseFdLimit();
  trib::loadgen::Bench bench(std::move(o));
  return bench.Run();
}
