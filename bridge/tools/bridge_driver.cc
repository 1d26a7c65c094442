// bridge_driver: runs one Exporter against a Log in a directory, standing in
// for the daemon (which does not run exporters yet) in integration tests and
// measurements.
//
//   bridge_driver run --dir D --kind mqtt --url mqtt://127.0.0.1:1883
//       --stream telemetry:4 --append 100000 --until-drained
//   bridge_driver kafka-mock --brokers 3 --topic telemetry --partitions 4
//   bridge_driver dump --dir D --stream edge1.telemetry
//
// `run` opens (or creates) the log, optionally appends records as the broker
// would (payload "<stream>:<i>:<padding>", topic sensors/dev-<i % 50>, key
// dev-<i % 50>), starts the exporter and prints one JSON status line per
// --status-ms. With --until-drained it stops once every record is
// acknowledged and exits 0 (1 on --timeout). SIGTERM/SIGINT stop it cleanly;
// SIGKILL is the crash the tests use: a restart resumes from the cursors.
#include <signal.h>
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bridge/exporter.h"
#include "bridge/kafka_mock.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "storage/log.h"

namespace {

volatile sig_atomic_t g_signalled = 0;  // the tool's only global: set by a signal handler
void OnSignal(int) { g_signalled = 1; }

struct RunArgs {
  std::string dir, kind = "mqtt", url, brokers, node_id = "gw1", name = "up";
  std::vector<std::string> streams = {"telemetry:1"};
  std::string topic_prefix = "site/{node_id}/", kafka_topic = "{stream}", compression = "none";
  uint64_t append = 0, live = 0, live_rate = 0;
  size_t payload_size = 64;
  uint32_t max_inflight = 0, mqtt_version = 5;
  uint64_t rate = 0;
  bool until_drained = false;
  int64_t timeout_s = 300, status_ms = 200, ack_timeout_ms = 30000;
  std::string content_type;
  std::string ca, cert, key, username, password;
};

std::string Payload(const std::string& stream, uint64_t i, size_t size) {
  std::string s = stream + ":" + std::to_string(i) + ":";
  while (s.size() < size) s.push_back(static_cast<char>('a' + (s.size() + i) % 26));
  return s;
}

// A PUBLISH property block as the broker stores it: content type and one user property.
std::string Properties(const std::string& content_type) {
  std::string p;
  if (content_type.empty()) return p;
  auto str = [&p](const std::string& s) {
    p.push_back(static_cast<char>(s.size() >> 8));
    p.push_back(static_cast<char>(s.size() & 0xff));
    p.append(s);
  };
  p.push_back(0x03);
  str(content_type);
  p.push_back(0x26);
  str("device-class");
  str("sensor");
  return p;
}

// Appends records [from, from + n) of each stream, round-robin over partitions.
void Append(trib::storage::Log* log,
            const std::vector<std::pair<trib::storage::StreamId, uint32_t>>& ids,
            const std::vector<std::string>& names, uint64_t from, uint64_t n, const RunArgs& a) {
  const std::string props = Properties(a.content_type);
  for (uint64_t base = from; base < from + n; base += 1000) {
    trib::storage::WriteBatch b;
    std::vector<std::string> keep;  // RecordIn holds views
    for (uint64_t i = base; i < std::min(from + n, base + 1000); i++) {
      for (size_t s = 0; s < ids.size(); s++) {
        std::string key = "dev-" + std::to_string(i % 50);
        std::string topic = "sensors/" + key;
        std::string payload = Payload(names[s], i, a.payload_size);
        trib::storage::RecordIn r;
        r.key = key;
        r.topic = topic;
        r.payload = payload;
        r.properties = props;
        r.qos = 1;
        b.Append(ids[s].first, static_cast<uint32_t>(i % ids[s].second), r);
      }
    }
    (void)log->Submit(std::move(b), 1);
  }
  log->Flush();
}

nlohmann::json ToJson(const trib::bridge::ExporterStatus& s, uint64_t* lag) {
  nlohmann::json j = {{"state", s.state},
                      {"last_error", s.last_error},
                      {"reconnects", s.reconnects},
                      {"sent", s.records_sent},
                      {"acked", s.records_acked},
                      {"bytes", s.bytes_sent},
                      {"dups", s.duplicates_possible},
                      {"inflight", s.inflight}};
  *lag = 0;
  double lag_s = 0;
  nlohmann::json parts = nlohmann::json::array();
  for (const auto& p : s.partitions) {
    *lag += p.lag_records;
    lag_s = std::max(lag_s, p.lag_seconds);
    parts.push_back({p.stream, p.partition, p.cursor, p.end_offset});
  }
  j["lag"] = *lag;
  j["lag_s"] = lag_s;
  j["parts"] = parts;
  return j;
}

int Run(const RunArgs& a) {
  mkdir(a.dir.c_str(), 0755);
  trib::storage::Options lo;
  lo.dir = a.dir;
  lo.sync = trib::storage::SyncPolicy::kNone;  // survives a process kill, which is what we test
  lo.map_bytes = uint64_t{2} << 30;
  auto opened = trib::storage::Log::Open(lo);
  if (!opened.ok()) {
    fprintf(stderr, "open %s: %s\n", a.dir.c_str(), opened.status().message().c_str());
    return 2;
  }
  std::unique_ptr<trib::storage::Log> log = std::move(opened.value());
  std::vector<trib::storage::StreamSpec> specs;
  for (const std::string& s : a.streams) {
    trib::storage::StreamSpec spec;
    size_t colon = s.find(':');
    spec.name = s.substr(0, colon);
    spec.partitions = colon == std::string::npos ? 1 : std::stoul(s.substr(colon + 1));
    specs.push_back(spec);
  }
  if (auto st = log->OpenStreams(specs); !st.ok()) {
    fprintf(stderr, "streams: %s\n", st.message().c_str());
    return 2;
  }
  trib::bridge::ExporterOptions o;
  std::vector<std::pair<trib::storage::StreamId, uint32_t>> ids;
  std::vector<std::string> names;
  for (const auto& spec : specs) {
    ids.emplace_back(*log->FindStream(spec.name), spec.partitions);
    names.push_back(spec.name);
    o.streams.emplace_back(ids.back().first, spec.name);
  }
  const int64_t t_append = trib::clock::MonoMs();
  if (a.append > 0) Append(log.get(), ids, names, 0, a.append, a);
  printf("{\"appended\": %llu, \"ms\": %lld}\n", static_cast<unsigned long long>(a.append),
         static_cast<long long>(trib::clock::MonoMs() - t_append));
  o.name = a.name;
  o.kind = a.kind;
  o.node_id = a.node_id;
  o.url = a.url;
  o.brokers = a.brokers;
  o.topic_prefix = a.topic_prefix;
  o.kafka_topic_template = a.kafka_topic;
  o.kafka_compression = a.compression;
  o.max_inflight = a.max_inflight;
  o.mqtt_version = a.mqtt_version;
  o.max_bytes_per_sec = a.rate;
  o.ca = a.ca;
  o.cert = a.cert;
  o.key = a.key;
  o.username = a.username;
  o.password = a.password;
  o.ack_timeout_ms = a.ack_timeout_ms;
  o.keep_alive_s = 5;
  o.connect_timeout_ms = 3000;
  o.backoff_max_ms = 2000;
  auto created = trib::bridge::Exporter::Create(o, log.get());
  if (!created.ok()) {
    fprintf(stderr, "exporter: %s\n", created.status().message().c_str());
    return 2;
  }
  std::unique_ptr<trib::bridge::Exporter> ex = std::move(created.value());
  // Live appends (the broker keeps writing while the exporter ships).
  std::atomic<bool> live_done{a.live == 0};
  std::thread live([&] {
    if (a.live == 0) return;
    const uint64_t per_tick = std::max<uint64_t>(1, a.live_rate / 100);
    for (uint64_t i = 0; i < a.live && !g_signalled; i += per_tick) {
      Append(log.get(), ids, names, a.append + i, std::min(per_tick, a.live - i), a);
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    live_done = true;
  });
  const int64_t t0 = trib::clock::MonoMs();
  ex->Start();
  int rc = 1;
  std::vector<trib::storage::Completion> completions;
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(a.status_ms));
    completions.clear();
    log->TakeCompletions(&completions);  // the exporter's cursor commits; nobody needs them
    auto st = ex->Status();
    uint64_t lag = 0;
    nlohmann::json j = ToJson(st, &lag);
    j["ms"] = trib::clock::MonoMs() - t0;
    printf("%s\n", j.dump().c_str());
    fflush(stdout);
    if (g_signalled) {
      rc = 0;
      break;
    }
    // The exporter learns of a commit a moment after it: drained means its
    // cursors reached the log's own end, not the end it has seen so far.
    uint64_t end_total = 0, cursor_total = 0;
    if (a.until_drained && live_done) {
      for (const auto& [id, partitions] : ids) {
        for (uint32_t p = 0; p < partitions; p++) {
          auto info = log->Info(id, p);
          if (info.ok()) end_total += info->end_offset;
        }
      }
      for (const auto& p : st.partitions) cursor_total += p.cursor;
    }
    if (a.until_drained && live_done && lag == 0 && cursor_total >= end_total && st.inflight == 0 &&
        st.state == "connected") {
      int64_t ms = std::max<int64_t>(1, trib::clock::MonoMs() - t0);
      printf("{\"drained\": %llu, \"ms\": %lld, \"rate\": %.0f}\n",
             static_cast<unsigned long long>(st.records_acked), static_cast<long long>(ms),
             st.records_acked * 1000.0 / ms);
      rc = 0;
      break;
    }
    if (trib::clock::MonoMs() - t0 > a.timeout_s * 1000) {
      printf("{\"timeout\": true}\n");
      break;
    }
  }
  g_signalled = 1;
  live.join();
  const int64_t t_stop = trib::clock::MonoMs();
  ex->Stop();
  printf("{\"stopped_ms\": %lld}\n", static_cast<long long>(trib::clock::MonoMs() - t_stop));
  uint64_t lag = 0;
  printf("%s\n", ToJson(ex->Status(), &lag).dump().c_str());
  ex.reset();
  log.reset();
  fflush(stdout);
  return rc;
}

// Prints every record of one stream of a (closed) log directory as JSON lines
// {"partition", "offset", "timestamp", "topic", "payload"}, partitions in
// order: the integration tests compare two nodes' data this way.
int Dump(const std::string& dir, const std::string& stream) {
  trib::storage::Options lo;
  lo.dir = dir;
  lo.sync = trib::storage::SyncPolicy::kNone;
  lo.map_bytes = uint64_t{2} << 30;
  auto opened = trib::storage::Log::Open(lo);
  if (!opened.ok()) {
    fprintf(stderr, "open %s: %s\n", dir.c_str(), opened.status().message().c_str());
    return 2;
  }
  std::unique_ptr<trib::storage::Log> log = std::move(opened.value());
  auto id = log->FindStream(stream);
  if (!id) {
    fprintf(stderr, "no stream %s in %s\n", stream.c_str(), dir.c_str());
    return 3;
  }
  uint32_t partitions = 0;
  for (const auto& [sid, spec] : log->ListStreams()) {
    if (sid == *id) partitions = spec.partitions;
  }
  for (uint32_t p = 0; p < partitions; p++) {
    auto info = log->Info(*id, p);
    uint64_t from = info.ok() ? info->start_offset : 0;
    for (;;) {
      auto r = log->Read(*id, p, from, 10000, size_t{16} << 20);
      if (!r.ok()) {
        fprintf(stderr, "read: %s\n", r.status().message().c_str());
        return 2;
      }
      if (r->records.empty()) break;
      for (const auto& rec : r->records) {
        nlohmann::json j = {{"partition", p},
                            {"offset", rec.offset},
                            {"timestamp", rec.timestamp_ms},
                            {"topic", std::string(rec.topic)},
                            {"payload", std::string(rec.payload)}};
        printf("%s\n", j.dump().c_str());
      }
      from = r->next_offset;
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bridge_driver: run an exporter against a log (tests)"};
  app.require_subcommand(1);
  RunArgs a;
  CLI::App* run = app.add_subcommand("run", "run one exporter");
  run->add_option("--dir", a.dir, "log directory")->required();
  run->add_option("--kind", a.kind);
  run->add_option("--url", a.url);
  run->add_option("--brokers", a.brokers);
  run->add_option("--node-id", a.node_id);
  run->add_option("--name", a.name);
  run->add_option("--stream", a.streams, "name:partitions (repeatable)");
  run->add_option("--topic-prefix", a.topic_prefix);
  run->add_option("--kafka-topic", a.kafka_topic);
  run->add_option("--compression", a.compression);
  run->add_option("--append", a.append, "records per stream to append first");
  run->add_option("--live", a.live, "records per stream to append while running");
  run->add_option("--live-rate", a.live_rate, "live records/s");
  run->add_option("--payload-size", a.payload_size);
  run->add_option("--content-type", a.content_type, "store MQTT 5 properties with the records");
  run->add_option("--max-inflight", a.max_inflight);
  run->add_option("--mqtt-version", a.mqtt_version);
  run->add_option("--rate", a.rate, "max bytes/s");
  run->add_option("--ack-timeout-ms", a.ack_timeout_ms);
  run->add_option("--ca", a.ca);
  run->add_option("--cert", a.cert);
  run->add_option("--key", a.key);
  run->add_option("--username", a.username);
  run->add_option("--password", a.password);
  run->add_flag("--until-drained", a.until_drained);
  run->add_option("--timeout", a.timeout_s, "seconds");
  run->add_option("--status-ms", a.status_ms);
  std::string dump_dir, dump_stream;
  CLI::App* dump = app.add_subcommand("dump", "print a stream of a closed log as JSON lines");
  dump->add_option("--dir", dump_dir)->required();
  dump->add_option("--stream", dump_stream)->required();
  int brokers = 3, partitions = 4;
  std::vector<std::string> topics = {"telemetry"};
  CLI::App* mock = app.add_subcommand("kafka-mock", "run librdkafka's mock cluster");
  mock->add_option("--brokers", brokers);
  mock->add_option("--topic", topics);
  mock->add_option("--partitions", partitions);
  CLI11_PARSE(app, argc, argv);
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  signal(SIGPIPE, SIG_IGN);
  if (*mock) return trib::bridge::testing::RunKafkaMock(brokers, topics, partitions);
  if (*dump) return Dump(dump_dir, dump_stream);
  return Run(a);
}
