// The load generator's MQTT clients: a common base that connects, sends
// CONNECT and waits for CONNACK, and the three roles built on it.
//  - Publisher: publishes numbered, timestamped payloads as fast as its
//    window, rate and quota allow, batching many PUBLISH per write, and
//    records which sequence numbers the broker acknowledged.
//  - Subscriber: subscribes to one filter, acknowledges what it receives,
//    measures latency and finds lost, duplicated and reordered messages.
//  - IdleClient: connects and does nothing (memory per connection).
//
// Owned by Bench, which outlives the loop run. Thread: loop only. Failures
// close the connection and are reported to Bench::ClientClosed.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/mqtt/codec.h"
#include "tools/loadgen/conn.h"
#include "tools/loadgen/options.h"
#include "tools/loadgen/stats.h"

namespace trib::loadgen {

class Bench;

class Client : public Conn::Peer {
 public:
  Client(Bench* bench, uv_loop_t* loop, std::string client_id);
  int Start(const sockaddr* addr) { return conn_.Connect(addr); }
  // Sends DISCONNECT (the caller closes a moment later).
  void Disconnect();
  void Close() { conn_.Close(""); }
  // Sends PINGREQ if the keep-alive asks for one by now.
  void MaybePing(uint64_t now_ns);
  bool up() const { return up_; }
  bool closed() const { return closed_; }
  // Set by Bench once the client is usable (publisher: CONNACK; subscriber: SUBACK).
  bool ready = false;

 protected:
  // CONNACK accepted.
  virtual void OnSessionUp(const mqtt::Connack& c) = 0;
  // Any packet after CONNACK other than PINGRESP.
  virtual bool OnSessionPacket(const mqtt::Frame& f, std::string_view body) = 0;
  // PINGRESP received.
  virtual void OnPingresp() {}
  // Closes with a reason and returns false, for OnPacket paths.
  bool Fail(const std::string& why);
  void OnReadBatchDone() override {}
  void OnWriteDone() override {}

  Bench* bench_;
  const Options& opt_;
  Conn conn_;
  std::string client_id_;

 private:
  void OnConnected() override;
  bool OnPacket(const mqtt::Frame& f, std::string_view body) override;
  void OnClosed(const std::string& why) override;
  bool up_ = false, closed_ = false;
  uint16_t keepalive_s_ = 0;
};

class Publisher : public Client {
 public:
  // quota: messages to send; UINT64_MAX = until StopSending.
  Publisher(Bench* bench, uv_loop_t* loop, int index, uint64_t quota);
  // Starts publishing; rate pacing counts from start_ns.
  void Begin(uint64_t start_ns);
  // Encodes what the window, the rate, the quota and the batch size allow.
  void Pump(uint64_t now_ns);
  void StopSending() { quota_ = sent_; }
  // QoS 0: sends PINGREQ after the last PUBLISH. The broker handles a
  // connection's packets in order, so its PINGRESP tells when the broker has
  // read every PUBLISH (rather than when they entered socket buffers).
  void RequestFlush();
  bool flushed() const { return flushed_ns_ != 0 || closed(); }
  uint64_t flushed_ns() const { return flushed_ns_; }
  bool done_sending() const { return sent_ >= quota_ || closed(); }
  uint64_t inflight() const { return closed() ? 0 : inflight_; }

  uint64_t sent() const { return sent_; }
  uint64_t acked() const { return acked_; }
  uint64_t rejected() const { return rejected_; }
  uint64_t last_send_ns() const { return last_send_ns_; }
  uint64_t last_ack_ns() const { return last_ack_ns_; }
  const SeqSet& acked_set() const { return acked_set_; }

 private:
  void OnSessionUp(const mqtt::Connack& c) override;
  bool OnSessionPacket(const mqtt::Frame& f, std::string_view body) override;
  void OnReadBatchDone() override { Pump(uv_hrtime()); }
  void OnWriteDone() override { Pump(uv_hrtime()); }
  void OnPingresp() override;
  uint64_t Budget(uint64_t now_ns) const;
  void PublishOne(uint64_t now_ns);
  bool HandleAck(const mqtt::Ack& a);

  int index_;
  uint64_t quota_;
  std::string topic_, payload_;
  bool publishing_ = false;
  uint64_t start_ns_ = 0;
  double rate_ = 0;  // messages/s for this publisher; 0 = unlimited
  uint32_t window_ = 0;
  uint64_t sent_ = 0, acked_ = 0, rejected_ = 0, inflight_ = 0;
  uint64_t last_send_ns_ = 0, last_ack_ns_ = 0;
  bool flush_requested_ = false;
  uint64_t flushed_ns_ = 0;
  SeqSet acked_set_;
  uint16_t next_pid_ = 0;
  std::vector<uint64_t> pid_seq_;   // packet id -> sequence number in flight
  std::vector<uint8_t> pid_state_;  // 0 free, 1 awaiting PUBACK/PUBREC, 2 awaiting PUBCOMP
  mqtt::Ack ack_;
};

class Subscriber : public Client {
 public:
  Subscriber(Bench* bench, uv_loop_t* loop, int index);

  uint64_t received() const { return received_; }
  uint64_t duplicates() const { return duplicates_; }
  uint64_t reordered() const { return reordered_; }
  uint64_t foreign() const { return foreign_; }
  uint64_t last_recv_ns() const { return last_recv_ns_; }
  uint64_t unique() const { return unique_; }
  const Histogram& latency() const { return latency_; }
  // Sequence numbers received from publisher p.
  const SeqSet& seen(int p) const { return per_pub_[p].seen; }

 private:
  struct FromPublisher {
    SeqSet seen;
    uint64_t highest = 0;
    bool any = false;
  };
  void OnSessionUp(const mqtt::Connack& c) override;
  bool OnSessionPacket(const mqtt::Frame& f, std::string_view body) override;
  bool HandlePublish(const mqtt::Frame& f, std::string_view body);
  void Count(std::string_view payload, uint64_t now_ns);

  std::vector<FromPublisher> per_pub_;
  uint64_t received_ = 0, unique_ = 0, duplicates_ = 0, reordered_ = 0, foreign_ = 0;
  uint64_t last_recv_ns_ = 0;
  Histogram latency_;
  mqtt::Publish pub_;
};

class IdleClient : public Client {
 public:
  IdleClient(Bench* bench, uv_loop_t* loop, int index);

 private:
  void OnSessionUp(const mqtt::Connack& c) override;
  bool OnSessionPacket(const mqtt::Frame&, std::string_view) override { return true; }
};

}  // namespace trib::loadgen
