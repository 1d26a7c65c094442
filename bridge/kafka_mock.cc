#include "bridge/kafka_mock.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "platform/clock.h"

namespace trib::bridge::testing {
namespace {

std::string Header(rd_kafka_headers_t* h, const char* name) {
  const void* v = nullptr;
  size_t n = 0;
  if (h == nullptr || rd_kafka_header_get_last(h, name, &v, &n) != RD_KAFKA_RESP_ERR_NO_ERROR)
    return "";
  return std::string(static_cast<const char*>(v), n);
}

void Count(const std::string& bootstrap, const std::string& topic, int partitions, size_t expect,
           int64_t timeout_ms) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  const std::string group = "count-" + std::to_string(clock::MonoNs());
  rd_kafka_conf_set(conf, "bootstrap.servers", bootstrap.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "group.id", group.c_str(), err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof(err));
  rd_kafka_conf_set(conf, "enable.partition.eof", "false", err, sizeof(err));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof(err));
  if (rk == nullptr) {
    printf("count error=%s\n", err);
    fflush(stdout);
    return;
  }
  rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(partitions);
  for (int p = 0; p < partitions; p++)
    rd_kafka_topic_partition_list_add(list, topic.c_str(), p)->offset = RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_assign(rk, list);
  rd_kafka_topic_partition_list_destroy(list);
  std::unordered_set<std::string> seen;
  std::vector<int64_t> first(partitions, -1);  // lowest Kafka offset read per partition
  uint64_t total = 0, bad = 0;
  const int64_t deadline = clock::MonoMs() + timeout_ms;
  while (seen.size() < expect && clock::MonoMs() < deadline) {
    rd_kafka_message_t* m = rd_kafka_consumer_poll(rk, 100);
    if (m == nullptr) continue;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
      total++;
      if (m->partition >= 0 && m->partition < partitions &&
          (first[m->partition] < 0 || m->offset < first[m->partition]))
        first[m->partition] = m->offset;
      rd_kafka_headers_t* h = nullptr;
      rd_kafka_message_headers(m, &h);
      std::string id =
          Header(h, "stream") + "/" + Header(h, "partition") + "/" + Header(h, "offset");
      if (Header(h, "offset").empty() || Header(h, "mqtt_topic").empty() || m->key_len == 0) bad++;
      seen.insert(std::move(id));
    }
    rd_kafka_message_destroy(m);
  }
  rd_kafka_consumer_close(rk);
  rd_kafka_destroy(rk);
  // first=: the mock cluster keeps about 5 MiB per partition; a first offset
  // above 0 means it dropped the head (its retention, not a lost record).
  std::string firsts;
  for (int p = 0; p < partitions; p++) firsts += (p ? "," : "") + std::to_string(first[p]);
  printf("count unique=%zu total=%llu bad=%llu first=%s\n", seen.size(),
         static_cast<unsigned long long>(total), static_cast<unsigned long long>(bad),
         firsts.c_str());
  fflush(stdout);
}

}  // namespace

int RunKafkaMock(int brokers, const std::vector<std::string>& topics, int partitions) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
  if (rk == nullptr) {
    fprintf(stderr, "kafka-mock: %s\n", err);
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (mc == nullptr) {
    fprintf(stderr, "kafka-mock: could not create the mock cluster\n");
    rd_kafka_destroy(rk);
    return 1;
  }
  for (const std::string& t : topics) {
    rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, t.c_str(), partitions, brokers);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      fprintf(stderr, "kafka-mock: topic %s: %s\n", t.c_str(), rd_kafka_err2str(e));
    }
  }
  const std::string bootstrap = rd_kafka_mock_cluster_bootstraps(mc);
  printf("bootstrap %s\n", bootstrap.c_str());
  fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    in >> cmd;
    if (cmd == "quit") break;
    if (cmd == "down" || cmd == "up") {
      int id = 0;
      in >> id;
      rd_kafka_resp_err_t e = cmd == "down" ? rd_kafka_mock_broker_set_down(mc, id)
                                            : rd_kafka_mock_broker_set_up(mc, id);
      printf("%s\n", e == RD_KAFKA_RESP_ERR_NO_ERROR ? "ok" : rd_kafka_err2str(e));
      fflush(stdout);
    } else if (cmd == "count") {
      std::string topic;
      size_t expect = 0;
      int64_t timeout_ms = 0;
      in >> topic >> expect >> timeout_ms;
      Count(bootstrap, topic, partitions, expect, timeout_ms);
    } else if (!cmd.empty()) {
      printf("error unknown command\n");
      fflush(stdout);
    }
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}

}  // namespace trib::bridge::testing
