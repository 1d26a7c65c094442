// The load generator's settings, filled from the command line by main.cc and
// read by everything else. A plain value; see main.cc for each flag's meaning.
//
// Thread: value; loop thread only in practice.
#pragma once

#include <cstdint>
#include <string>

#include "daemon/mqtt/types.h"

namespace trib::loadgen {

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  mqtt::Version version = mqtt::Version::k311;

  int publishers = 1;
  int subscribers = 0;
  int qos = 0;       // publish QoS
  int sub_qos = -1;  // subscription QoS; -1 = same as qos
  size_t payload = 100;
  uint64_t messages = 0;  // total over all publishers; 0 = use duration
  double duration_s = 0;  // publish phase length when messages == 0
  double rate = 0;        // total messages/s over all publishers; 0 = as fast as possible
  int window = 64;        // QoS 1/2 messages in flight per publisher
  std::string topic = "bench/{pub}";
  std::string filter = "bench/#";
  bool clean = true;
  uint32_t session_expiry = 3600;  // 5.0, persistent sessions only
  bool nodelay = true;
  uint16_t keepalive = 0;
  std::string client_prefix;   // default: lg-<pid>- (clean) or lg- (persistent)
  double drain_timeout_s = 3;  // stop waiting for acks/deliveries after this long without progress
  double timeout_s = 0;        // hard cap on the whole run; 0 = derived

  // The id written into payloads (0: random). A consume run passes the id of
  // the run that published what it reads.
  uint32_t run_id = 0;
  // Consume mode: no publishing; the subscribers read `consume` records that
  // an earlier run (same --run-id and --publishers) stored in a stream, e.g.
  // through a $replay/earliest/... filter, and report the rate.
  uint64_t consume = 0;

  // Idle mode: open `connections` connections and hold them.
  bool idle = false;
  int connections = 0;
  int connect_concurrency = 256;
  std::string ready_file;  // idle mode: written once every connection is up
  double hold_s = 0;       // idle mode: hold this long (0 = until SIGINT/SIGTERM)
};

}  // namespace trib::loadgen
