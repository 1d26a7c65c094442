// The client base and the idle client. Publisher and Subscriber live in
// publisher.cc and subscriber.cc.
#include "tools/loadgen/client.h"

#include "tools/loadgen/bench.h"

namespace trib::loadgen {

Client::Client(Bench* bench, uv_loop_t* loop, std::string client_id)
    : bench_(bench),
      opt_(bench->options()),
      conn_(loop, this, bench->options().nodelay),
      client_id_(std::move(client_id)),
      keepalive_s_(bench->options().keepalive) {}

void Client::OnConnected() {
  mqtt::Connect c;
  c.version = opt_.version;
  c.clean_start = opt_.clean;
  c.keep_alive = opt_.keepalive;
  c.client_id = client_id_;
  if (opt_.version == mqtt::Version::k5) {
    // Let the broker send as much as it likes: the subscriber is measured, not throttled.
    c.props.receive_maximum = 65535;
    if (!opt_.clean) c.props.session_expiry_interval = opt_.session_expiry;
  }
  EncodeConnect(conn_.out(), c);
}

bool Client::OnPacket(const mqtt::Frame& f, std::string_view body) {
  if (f.type == mqtt::PacketType::kPingresp) {
    OnPingresp();
    return true;
  }
  if (up_) {
    if (f.type == mqtt::PacketType::kDisconnect) return Fail("DISCONNECT from broker");
    return OnSessionPacket(f, body);
  }
  if (f.type != mqtt::PacketType::kConnack) {
    return Fail(std::string("expected CONNACK, got ") + mqtt::PacketTypeName(f.type));
  }
  mqtt::Connack ca;
  mqtt::Status s = mqtt::DecodeConnack(f.flags, body, opt_.version, &ca);
  if (!s.ok()) return Fail(std::string("bad CONNACK: ") + s.why());
  if (mqtt::IsError(ca.reason)) {
    return Fail(std::string("connection refused: ") + mqtt::ReasonName(ca.reason));
  }
  if (ca.props.server_keep_alive) keepalive_s_ = *ca.props.server_keep_alive;
  up_ = true;
  OnSessionUp(ca);
  return !closed_;
}

bool Client::Fail(const std::string& why) {
  conn_.Close(why);
  return false;
}

void Client::OnClosed(const std::string& why) {
  closed_ = true;
  bench_->ClientClosed(this, why);
}

void Client::Disconnect() {
  if (!conn_.open()) return;
  mqtt::EncodeDisconnect(conn_.out(), opt_.version, mqtt::ReasonCode::kNormalDisconnection);
  conn_.Flush();
}

void Client::MaybePing(uint64_t now_ns) {
  if (keepalive_s_ == 0 || !conn_.open() || conn_.writing()) return;
  if (now_ns - conn_.last_write_ns() < uint64_t{keepalive_s_} * 500'000'000ull) return;
  mqtt::EncodePingreq(conn_.out());
  conn_.Flush();
}

IdleClient::IdleClient(Bench* bench, uv_loop_t* loop, int index)
    : Client(bench, loop, bench->options().client_prefix + "i" + std::to_string(index)) {}

void IdleClient::OnSessionUp(const mqtt::Connack&) { bench_->ClientUp(this); }

}  // namespace trib::loadgen
