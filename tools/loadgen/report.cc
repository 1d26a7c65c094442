// Bench's reports: one JSON line on stdout per run.
#include <sys/resource.h>

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "tools/loadgen/bench.h"

namespace trib::loadgen {
namespace {

double Rate(uint64_t n, uint64_t from_ns, uint64_t to_ns) {
  if (n == 0 || to_ns <= from_ns) return 0;
  return static_cast<double>(n) * 1e9 / static_cast<double>(to_ns - from_ns);
}

double Round(double v, double unit) { return std::round(v / unit) * unit; }

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

const char* VersionName(mqtt::Version v) { return v == mqtt::Version::k5 ? "5.0" : "3.1.1"; }

}  // namespace

void Bench::Report() const {
  uint64_t sent = 0, acked = 0, rejected = 0, last_send = 0, last_ack = 0, flushed = 0;
  for (auto& p : pubs_) {
    flushed = std::max(flushed, p->flushed_ns());
    sent += p->sent();
    acked += p->acked();
    rejected += p->rejected();
    last_send = std::max(last_send, p->last_send_ns());
    last_ack = std::max(last_ack, p->last_ack_ns());
  }
  uint64_t received = 0, dups = 0, reordered = 0, foreign = 0, lost = 0, last_recv = 0;
  Histogram lat;
  for (auto& s : subs_) {
    received += s->received();
    dups += s->duplicates();
    reordered += s->reordered();
    foreign += s->foreign();
    last_recv = std::max(last_recv, s->last_recv_ns());
    lat.Merge(s->latency());
    for (size_t i = 0; i < pubs_.size(); i++) {
      // QoS 1/2: what the broker acknowledged must arrive. QoS 0: what was sent.
      lost += opt_.qos > 0 ? s->seen(int(i)).MissingFrom(pubs_[i]->acked_set())
                           : pubs_[i]->sent() - std::min(pubs_[i]->sent(), s->seen(int(i)).size());
    }
  }
  uint64_t unacked = 0;
  if (opt_.qos > 0) unacked = sent - acked - rejected;
  // Over all subscribers: with a shared subscription each record should
  // reach exactly one of them.
  uint64_t unique_total = 0;
  for (const SeqSet& s : seen_) unique_total += s.size();
  nlohmann::json per_sub = nlohmann::json::array();
  for (auto& s : subs_) per_sub.push_back(s->unique());
  auto us = [](uint64_t ns) { return Round(ns / 1000.0, 0.1); };
  nlohmann::json j = {
      {"mode", opt_.consume ? "consume" : "pubsub"},
      {"run_id", run_id_},
      {"mqtt", VersionName(opt_.version)},
      {"qos", opt_.qos},
      {"publishers", opt_.publishers},
      {"subscribers", opt_.subscribers},
      {"payload", opt_.payload},
      {"target_rate", opt_.rate},
      {"window", opt_.window},
      {"sent", sent},
      {"acked", acked},
      {"rejected", rejected},
      {"unacked", unacked},
      {"received", received},
      {"duplicates", dups},
      {"lost", lost},
      {"reordered", reordered},
      {"foreign", foreign},
      {"publish_msgs_per_s", Round(Rate(sent, t0_, last_send), 1)},
      {"acked_msgs_per_s", Round(Rate(acked, t0_, last_ack), 1)},
      // What the broker took in: acknowledged (QoS 1/2), or read by the broker (QoS 0,
      // up to the PINGRESP after the last PUBLISH).
      {"ingest_msgs_per_s",
       Round(opt_.qos > 0 ? Rate(acked, t0_, last_ack) : Rate(flushed ? sent : 0, t0_, flushed),
             1)},
      {"delivered_msgs_per_s", Round(Rate(received, t0_, last_recv), 1)},
      {"unique_total", unique_total},
      {"per_subscriber", per_sub},
      // Consume mode: distinct records over the time from the first connect
      // to the last record received.
      {"consume", opt_.consume},
      {"consumed_msgs_per_s", Round(Rate(opt_.consume ? unique_total : 0, t0_, last_recv), 1)},
      {"missing", opt_.consume > unique_total ? opt_.consume - unique_total : 0},
      {"latency_us",
       {{"p50", us(lat.Quantile(0.5))},
        {"p99", us(lat.Quantile(0.99))},
        {"p999", us(lat.Quantile(0.999))},
        {"max", us(lat.max())},
        {"mean", us(static_cast<uint64_t>(lat.mean()))},
        {"count", lat.count()}}},
      {"duration_s", Round(t0_ ? (send_end_ns_ - t0_) / 1e9 : 0, 0.001)},
      {"total_s", Round((uv_hrtime() - created_ns_) / 1e9, 0.001)},
      {"connect_failures", failed_},
      {"disconnects", closed_by_broker_},
      {"timed_out", timed_out_},
      {"end", end_reason_},
      {"errors", errors_},
      {"loadgen_cpu_s", Round(CpuSeconds(), 0.001)},
  };
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

void Bench::ReportIdle() const {
  nlohmann::json j = {
      {"mode", "idle"},
      {"mqtt", VersionName(opt_.version)},
      {"requested", opt_.connections},
      {"connected", up_},
      {"failed", failed_},
      {"disconnects", closed_by_broker_},
      {"connect_s", Round(t_connected_ ? (t_connected_ - created_ns_) / 1e9 : 0, 0.001)},
      {"end", end_reason_},
      {"errors", errors_},
  };
  std::printf("%s\n", j.dump().c_str());
  std::fflush(stdout);
}

}  // namespace trib::loadgen
