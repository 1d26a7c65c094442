// tributary: the operator's command-line tool. Talks to a running tributaryd
// through its admin HTTP API (found from the same configuration file the
// daemon reads, or --admin HOST:PORT).
//
// Exit codes: 0 success, 1 the daemon is unreachable or answered an error,
// 2 bad usage or configuration.
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "daemon/auth/passwd_cli.h"
#include "daemon/config.h"
#include "daemon/replay.h"
#include "daemon/units.h"
#include "tools/tributary/tail.h"

namespace {

struct Target {
  std::string host = "127.0.0.1";
  uint16_t port = 9883;
  std::string token;
};

// One blocking HTTP/1.1 GET; returns the status and fills *body. A CLI may
// block: it has no event loop to keep responsive.
int HttpGet(const Target& t, const std::string& path, std::string* body, std::string* err) {
  addrinfo hints{}, *res = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &res) != 0 || !res) {
    *err = "cannot resolve " + t.host;
    return -1;
  }
  int fd = socket(res->ai_family, SOCK_STREAM, 0);
  timeval tv{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int rc = connect(fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0) {
    close(fd);
    *err = "tributaryd is not running or its admin API is not at " + t.host + ":" + std::to_string(t.port) +
           " (" + strerror(errno) + "); pass --admin HOST:PORT or --config FILE";
    return -1;
  }
  std::string req = "GET " + path + " HTTP/1.1\r\nHost: " + t.host + "\r\nConnection: close\r\n";
  if (!t.token.empty()) req += "Authorization: Bearer " + t.token + "\r\n";
  req += "\r\n";
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    *err = "write failed";
    return -1;
  }
  std::string resp;
  char buf[65536];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) resp.append(buf, n);
  close(fd);
  size_t sp = resp.find(' ');
  size_t hdr_end = resp.find("\r\n\r\n");
  if (sp == std::string::npos || hdr_end == std::string::npos) {
    *err = "malformed HTTP response";
    return -1;
  }
  *body = resp.substr(hdr_end + 4);
  return atoi(resp.c_str() + sp + 1);
}

bool Fetch(const Target& t, const std::string& path, nlohmann::json* out) {
  std::string body, err;
  int status = HttpGet(t, path, &body, &err);
  if (status < 0) {
    fprintf(stderr, "tributary: %s\n", err.c_str());
    return false;
  }
  if (status != 200) {
    fprintf(stderr, "tributary: %s answered HTTP %d: %s", path.c_str(), status, body.c_str());
    return false;
  }
  *out = nlohmann::json::parse(body, nullptr, false);
  if (out->is_discarded()) {
    fprintf(stderr, "tributary: %s: the answer is not JSON\n", path.c_str());
    return false;
  }
  return true;
}

std::string Human(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", v, units[u]);
  return buf;
}

int Status(const Target& t, bool json) {
  nlohmann::json st, streams, exporters;
  if (!Fetch(t, "/v1/status", &st) || !Fetch(t, "/v1/streams", &streams) || !Fetch(t, "/v1/exporters", &exporters))
    return 1;
  if (json) {
    printf("%s\n", nlohmann::json{{"status", st}, {"streams", streams}, {"exporters", exporters}}.dump().c_str());
    return 0;
  }
  printf("tributaryd %s on node %s, up %llds\n", st.value("version", "?").c_str(),
         st.value("node_id", "?").c_str(), static_cast<long long>(st.value("uptime_s", 0)));
  printf("connections %d, sessions %d, messages in %llu, out %llu\n", st.value("connections", 0),
         st.value("sessions", 0), static_cast<unsigned long long>(st.value("messages_in", 0ull)),
         static_cast<unsigned long long>(st.value("messages_out", 0ull)));
  if (st.contains("rates")) {
    printf("rates over the last %.0fs: %.1f messages/s in, %.1f out\n", st["rates"].value("over_s", 0.0),
           st["rates"].value("messages_in_per_s", 0.0), st["rates"].value("messages_out_per_s", 0.0));
  }
  if (st.contains("storage")) {
    uint64_t used = st["storage"].value("used_bytes", 0ull), budget = st["storage"].value("budget_bytes", 0ull);
    printf("storage %s of %s (%.1f%%)\n", Human(used).c_str(), Human(budget).c_str(),
           budget ? 100.0 * static_cast<double>(used) / static_cast<double>(budget) : 0.0);
  }
  printf("\n%-24s %10s %14s %14s %12s\n", "STREAM", "PARTITIONS", "RECORDS", "END OFFSET", "BYTES");
  for (const auto& s : streams) {
    uint64_t records = 0, end = 0, bytes = 0;
    for (const auto& p : s["partitions"]) {
      records += p.value("end_offset", 0ull) - p.value("start_offset", 0ull);
      end += p.value("end_offset", 0ull);
      bytes += p.value("bytes", 0ull);
    }
    printf("%-24s %10zu %14llu %14llu %12s\n", s.value("name", "?").c_str(), s["partitions"].size(),
           static_cast<unsigned long long>(records), static_cast<unsigned long long>(end), Human(bytes).c_str());
  }
  if (exporters.empty()) {
    printf("\nexporters: none configured\n");
    return 0;
  }
  printf("\n%-20s %-6s %-11s %12s %10s %10s  %s\n", "EXPORTER", "KIND", "STATE", "LAG RECORDS",
         "LAG SEC", "RECONNECTS", "LAST ERROR");
  for (const auto& e : exporters) {
    uint64_t lag = 0;
    double lag_s = 0;
    for (const auto& p : e["partitions"]) {
      lag += p.value("lag_records", 0ull);
      lag_s = std::max(lag_s, p.value("lag_seconds", 0.0));
    }
    printf("%-20s %-6s %-11s %12llu %10.0f %10llu  %s\n", e.value("name", "?").c_str(),
           e.value("kind", "?").c_str(), e.value("state", "?").c_str(), static_cast<unsigned long long>(lag),
           lag_s, static_cast<unsigned long long>(e.value("reconnects", 0ull)), e.value("last_error", "").c_str());
  }
  return 0;
}

// Per partition: how far each exporter and consumer group is behind the end of the log.
int Lag(const Target& t, bool json) {
  nlohmann::json exporters, groups;
  if (!Fetch(t, "/v1/exporters", &exporters) || !Fetch(t, "/v1/groups", &groups)) return 1;
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& e : exporters) {
    for (const auto& p : e["partitions"]) {
      rows.push_back({{"consumer", "exporter/" + e.value("name", "?")}, {"state", e.value("state", "?")},
                      {"stream", p.value("stream", "?")}, {"partition", p.value("partition", 0)},
                      {"cursor", p.value("cursor", 0ull)}, {"end_offset", p.value("end_offset", 0ull)},
                      {"lag_records", p.value("lag_records", 0ull)}, {"lag_seconds", p.value("lag_seconds", 0.0)}});
    }
  }
  for (const auto& g : groups) {
    for (const auto& p : g["partitions"]) {
      rows.push_back({{"consumer", "group/" + g.value("group", "?") + "/" + g.value("filter", "?")},
                      {"state", p.value("state", "?")}, {"stream", p.value("stream", "?")},
                      {"partition", p.value("partition", 0)}, {"cursor", p.value("committed", 0ull)},
                      {"end_offset", p.value("end_offset", 0ull)}, {"lag_records", p.value("lag_records", 0ull)},
                      {"lag_seconds", nullptr}});  // not tracked for groups
    }
  }
  if (json) {
    printf("%s\n", rows.dump().c_str());
    return 0;
  }
  if (rows.empty()) {
    printf("no exporters or consumer groups: nothing consumes the log, so nothing lags\n");
    return 0;
  }
  printf("%-28s %-11s %-20s %9s %12s %12s %12s %8s\n", "CONSUMER", "STATE", "STREAM", "PARTITION", "CURSOR",
         "END OFFSET", "LAG RECORDS", "LAG SEC");
  for (const auto& r : rows) {
    char secs[32] = "-";
    if (r["lag_seconds"].is_number()) snprintf(secs, sizeof secs, "%.0f", r["lag_seconds"].get<double>());
    printf("%-28s %-11s %-20s %9d %12llu %12llu %12llu %8s\n", r["consumer"].get<std::string>().c_str(),
           r["state"].get<std::string>().c_str(), r["stream"].get<std::string>().c_str(), r["partition"].get<int>(),
           static_cast<unsigned long long>(r["cursor"].get<uint64_t>()),
           static_cast<unsigned long long>(r["end_offset"].get<uint64_t>()),
           static_cast<unsigned long long>(r["lag_records"].get<uint64_t>()), secs);
  }
  return 0;
}

int Streams(const Target& t, bool json) {
  nlohmann::json streams;
  if (!Fetch(t, "/v1/streams", &streams)) return 1;
  if (json) {
    printf("%s\n", streams.dump().c_str());
    return 0;
  }
  printf("%-24s %9s %14s %14s %12s\n", "STREAM", "PARTITION", "START OFFSET", "END OFFSET", "BYTES");
  for (const auto& s : streams) {
    for (const auto& p : s["partitions"]) {
      printf("%-24s %9d %14llu %14llu %12s\n", s.value("name", "?").c_str(), p.value("partition", 0),
             static_cast<unsigned long long>(p.value("start_offset", 0ull)),
             static_cast<unsigned long long>(p.value("end_offset", 0ull)), Human(p.value("bytes", 0ull)).c_str());
    }
  }
  return 0;
}

int Clients(const Target& t, bool json) {
  nlohmann::json clients;
  if (!Fetch(t, "/v1/clients", &clients)) return 1;
  if (json) {
    printf("%s\n", clients.dump().c_str());
    return 0;
  }
  printf("%-36s %-9s %-22s %8s %5s %8s %7s\n", "CLIENT", "STATE", "PEER", "PROTOCOL", "SUBS", "INFLIGHT", "QUEUED");
  for (const auto& c : clients) {
    printf("%-36s %-9s %-22s %8s %5d %8d %7d\n", c.value("client_id", "?").c_str(),
           c.value("connected", false) ? "online" : "offline", c.value("peer", "").c_str(),
           c.value("protocol", "").c_str(), c.value("subscriptions", 0), c.value("inflight", 0),
           c.value("queued", 0));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tributary: operate a tributaryd (status, streams, clients, lag, tail, export, passwd, check-config)"};
  app.require_subcommand(1);
  std::string config_path, admin, token;
  bool json = false;
  app.add_option("-c,--config", config_path,
                 "Configuration file of the daemon (default /etc/tributary/tributary.toml if present)");
  app.add_option("--admin", admin, "Admin API address HOST:PORT (overrides the configuration)");
  app.add_option("--token", token, "Bearer token for the admin API");
  app.add_flag("--json", json, "Machine-readable output");
  auto* status = app.add_subcommand("status", "Uptime, rates, storage and streams");
  auto* streams = app.add_subcommand("streams", "Partitions with offsets and sizes");
  auto* clients = app.add_subcommand("clients", "Sessions and connections");
  auto* lag = app.add_subcommand("lag", "How far each exporter and consumer group is behind, per stream partition");
  auto* check = app.add_subcommand("check-config", "Check a configuration file (exit 0 ok, 2 bad)");
  std::string check_file;
  check->add_option("FILE", check_file)->required();
  std::string tail_stream, tail_from = "earliest", tail_to, broker;
  bool tail_follow = false;
  app.add_option("--broker", broker, "MQTT address HOST:PORT for tail/export (default: the first listener)");
  auto* tail = app.add_subcommand("tail", "Print a stream's records (from a position; --follow for new ones)");
  tail->add_option("STREAM", tail_stream)->required();
  tail->add_option("--from", tail_from, "earliest | latest | OFFSET | TIME (RFC 3339 or -1h)");
  tail->add_flag("-f,--follow", tail_follow, "Keep printing new records");
  auto* exp = app.add_subcommand("export", "Write a stream's records as JSON lines (progress on a terminal)");
  exp->add_option("STREAM", tail_stream)->required();
  exp->add_option("--from", tail_from, "earliest | OFFSET | TIME");
  exp->add_option("--to", tail_to, "stop before this OFFSET or TIME");
  auto* passwd = app.add_subcommand("passwd", "Add, change (-b: password from stdin) or delete (-D) a user");
  std::string pw_file, pw_user;
  bool pw_delete = false, pw_batch = false;
  passwd->add_option("FILE", pw_file, "Password file (created when missing)")->required();
  passwd->add_option("USER", pw_user)->required();
  passwd->add_flag("-D,--delete", pw_delete, "Delete the user");
  passwd->add_flag("-b,--batch", pw_batch, "Read the password from stdin, one line, without prompting");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (passwd->parsed()) {
    // On a terminal it prompts twice without echo; otherwise it reads stdin.
    return trib::auth::RunPasswd(pw_file, pw_user, pw_delete, pw_batch || !isatty(STDIN_FILENO));
  }
  if (check->parsed()) {
    trib::config::Config cfg;
    auto s = trib::config::Load(check_file, &cfg);
    if (!s.ok()) {
      fprintf(stderr, "%s\n", s.message().c_str());
      return 2;
    }
    printf("%s: configuration OK\n", check_file.c_str());
    return 0;
  }

  Target t;
  trib::config::Config cfg = trib::config::Defaults();
  if (config_path.empty() && access("/etc/tributary/tributary.toml", R_OK) == 0)
    config_path = "/etc/tributary/tributary.toml";
  if (!config_path.empty()) {
    auto s = trib::config::Load(config_path, &cfg);
    if (!s.ok()) {
      fprintf(stderr, "tributary: %s\n", s.message().c_str());
      return 2;
    }
  }
  t.host = cfg.admin.host.empty() ? "127.0.0.1" : cfg.admin.host;
  if (t.host == "0.0.0.0") t.host = "127.0.0.1";
  if (t.host == "::") t.host = "::1";
  t.port = cfg.admin.port;
  uint16_t broker_port = cfg.listeners.empty() ? 1883 : cfg.listeners[0].port;
  t.token = token.empty() ? cfg.admin.token : token;
  if (!admin.empty()) {
    std::string err = trib::config::ParseBind(admin, &t.host, &t.port);
    if (!err.empty()) {
      fprintf(stderr, "tributary: --admin: expected %s\n", err.c_str());
      return 2;
    }
  }
  if (tail->parsed() || exp->parsed()) {
    bool is_export = exp->parsed();
    nlohmann::json streams;
    if (!Fetch(t, "/v1/streams", &streams)) return 1;
    trib::tool::TailOptions o;
    o.stream = tail_stream;
    for (const auto& s : streams) {
      if (s.value("name", "") != tail_stream) continue;
      for (const auto& subj : s["subjects"]) o.subjects.push_back(subj.get<std::string>());
      for (const auto& p : s["partitions"]) o.end_offsets[p.value("partition", 0u)] = p.value("end_offset", 0ull);
    }
    if (o.subjects.empty()) {
      fprintf(stderr, "tributary: no stream named \"%s\"\n", tail_stream.c_str());
      return 2;
    }
    o.from = tail_from;
    if (!tail_to.empty()) {
      trib::ReplayPosition rp;
      std::string err = trib::ParseReplayPosition(tail_to, time(nullptr) * 1000ll, &rp);
      if (!err.empty() || rp.kind == trib::ReplayPosition::Kind::kEarliest) {
        fprintf(stderr, "tributary: --to: expected an offset or a time\n");
        return 2;
      }
      if (rp.kind == trib::ReplayPosition::Kind::kOffset) o.to_offset = rp.offset;
      if (rp.kind == trib::ReplayPosition::Kind::kTime) o.to_time_ms = rp.time_ms;
    }
    o.follow = !is_export && tail_follow;
    o.json = is_export || json;
    o.progress = is_export;
    o.host = t.host;
    o.port = broker_port;
    if (!broker.empty()) {
      std::string err = trib::config::ParseBind(broker, &o.host, &o.port);
      if (!err.empty()) {
        fprintf(stderr, "tributary: --broker: expected %s\n", err.c_str());
        return 2;
      }
    }
    return trib::tool::Tail(o);
  }
  if (status->parsed()) return Status(t, json);
  if (streams->parsed()) return Streams(t, json);
  if (clients->parsed()) return Clients(t, json);
  if (lag->parsed()) return Lag(t, json);
  return 2;
}
