// Test support: librdkafka's mock Kafka cluster (it speaks the real protocol
// on loopback) in a process of its own, driven over stdin, so an exporter
// process can be killed and restarted against the same cluster.
//
// Thread: RunKafkaMock runs on the calling thread until "quit" or EOF.
#pragma once

#include <string>
#include <vector>

namespace trib::bridge::testing {

// Prints "bootstrap <servers>" once the cluster is up, then serves one
// command per line, answering each with one line:
//   down <broker-id> | up <broker-id>        -> "ok"
//   count <topic> <expect> <timeout_ms>      -> "count unique=U total=T bad=B"
//     reads the topic from the beginning with a fresh consumer until U unique
//     records (by their stream/partition/offset headers) or the timeout; B
//     counts records without those headers.
//   quit
// Returns the process exit code.
int RunKafkaMock(int brokers, const std::vector<std::string>& topics, int partitions);

}  // namespace trib::bridge::testing
