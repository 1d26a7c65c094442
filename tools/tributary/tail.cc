// `tributary tail` and `tributary export`: read a stream over MQTT 5 as any
// client would, with the `replay` and `stream-meta` subscription properties.
#include "tools/tributary/tail.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "daemon/mqtt/codec.h"
#include "daemon/mqtt/utf8.h"

namespace trib::tool {
namespace {

class Client {
 public:
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  std::string Connect(const std::string& host, uint16_t port) {
    addrinfo hints{}, *res = nullptr;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0 || !res)
      return "cannot resolve " + host;
    fd_ = socket(res->ai_family, SOCK_STREAM, 0);
    int rc = connect(fd_, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    if (rc != 0) return "cannot connect to MQTT at " + host + ":" + std::to_string(port) + ": " + strerror(errno);
    return "";
  }
  bool Send(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = write(fd_, bytes.data() + off, bytes.size() - off);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Next whole packet, or false on close/timeout. `timeout_ms` < 0: wait forever.
  bool Next(mqtt::Frame* f, std::string* body, int timeout_ms) {
    for (;;) {
      mqtt::Frame fr = mqtt::ReadFrame(reinterpret_cast<const uint8_t*>(buf_.data()), buf_.size(), 256u << 20);
      if (fr.status == mqtt::FrameStatus::kPacket) {
        *f = fr;
        *body = buf_.substr(fr.header_len, fr.remaining_length);
        buf_.erase(0, fr.total_len);
        return true;
      }
      if (fr.status != mqtt::FrameStatus::kNeedMore) return false;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, timeout_ms) <= 0) return false;
      char tmp[65536];
      ssize_t n = read(fd_, tmp, sizeof tmp);
      if (n <= 0) return false;
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

std::string B64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int k = 18; k >= 0; k -= 6) out += t[(v >> k) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += t[(v >> 18) & 63];
    out += t[(v >> 12) & 63];
    out += i + 1 < in.size() ? t[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace

int Tail(const TailOptions& o) {
  Client c;
  std::string err = c.Connect(o.host, o.port);
  if (!err.empty()) {
    fprintf(stderr, "tributary: %s\n", err.c_str());
    return 1;
  }
  mqtt::Connect conn;
  conn.version = mqtt::Version::k5;
  conn.clean_start = true;
  conn.keep_alive = 60;
  std::string id = "tributary-tail-" + std::to_string(getpid());
  conn.client_id = id;
  std::string out;
  mqtt::EncodeConnect(&out, conn);
  mqtt::Subscribe sub;
  sub.packet_id = 1;
  sub.props.user_properties = {{"replay", o.from}, {"stream-meta", "true"}};
  for (const std::string& s : o.subjects) sub.subscriptions.push_back(mqtt::Subscription{s, 1, false, false, 0});
  mqtt::EncodeSubscribe(&out, mqtt::Version::k5, sub);
  if (!c.Send(out)) return fprintf(stderr, "tributary: write failed\n"), 1;

  mqtt::Frame f;
  std::string body;
  // Partitions still to finish (without --follow): stop at each end offset.
  std::map<uint32_t, uint64_t> remaining = o.end_offsets;
  for (auto it = remaining.begin(); it != remaining.end();) it = it->second == 0 ? remaining.erase(it) : std::next(it);
  uint64_t total = 0, shown = 0;
  for (const auto& [p, e] : remaining) total += e;
  bool progress = o.progress && isatty(STDERR_FILENO);
  while (o.follow || !remaining.empty()) {
    if (!c.Next(&f, &body, o.follow ? -1 : 10000)) {
      if (o.follow) return fprintf(stderr, "tributary: connection closed\n"), 1;
      break;  // no more within 10 s: done
    }
    if (f.type == mqtt::PacketType::kConnack) {
      mqtt::Connack ca;
      if (!mqtt::DecodeConnack(f.flags, body, mqtt::Version::k5, &ca).ok() || mqtt::IsError(ca.reason))
        return fprintf(stderr, "tributary: connection refused: %s\n", mqtt::ReasonName(ca.reason)), 1;
    } else if (f.type == mqtt::PacketType::kSuback) {
      mqtt::Suback sa;
      if (!mqtt::DecodeSuback(f.flags, body, mqtt::Version::k5, &sa).ok()) return 1;
      for (auto rc : sa.reasons) {
        if (mqtt::IsError(rc)) {
          fprintf(stderr, "tributary: the broker refused the replay position \"%s\" (%s); see its log\n",
                  o.from.c_str(), mqtt::ReasonName(rc));
          return 2;
        }
      }
    } else if (f.type == mqtt::PacketType::kPublish) {
      mqtt::Publish p;
      if (!mqtt::DecodePublish(f.flags, body, mqtt::Version::k5, &p).ok()) return 1;
      if (p.qos) {
        std::string ack;
        mqtt::EncodeAck(&ack, mqtt::Version::k5, mqtt::PacketType::kPuback, p.packet_id);
        c.Send(ack);
      }
      std::map<std::string, std::string> meta;
      for (const auto& u : p.props.user_properties) meta[std::string(u.name)] = std::string(u.value);
      if (meta["stream"] != o.stream) continue;
      uint32_t part = static_cast<uint32_t>(std::stoul(meta["partition"].empty() ? "0" : meta["partition"]));
      uint64_t off = std::stoull(meta["offset"].empty() ? "0" : meta["offset"]);
      int64_t ts = std::stoll(meta["timestamp"].empty() ? "0" : meta["timestamp"]);
      if (o.to_offset && off >= *o.to_offset) {
        remaining.erase(part);
        continue;
      }
      if (o.to_time_ms && ts >= *o.to_time_ms) {
        remaining.erase(part);
        continue;
      }
      if (o.json) {
        nlohmann::json j = {{"stream", o.stream}, {"partition", part}, {"offset", off}, {"timestamp", ts},
                            {"topic", std::string(p.topic)}};
        if (mqtt::IsValidUtf8(p.payload)) {
          j["payload"] = std::string(p.payload);
        } else {
          j["payload_base64"] = B64(p.payload);
        }
        printf("%s\n", j.dump().c_str());
      } else {
        printf("%u:%llu %.*s %.*s\n", part, static_cast<unsigned long long>(off), static_cast<int>(p.topic.size()),
               p.topic.data(), static_cast<int>(p.payload.size()), p.payload.data());
      }
      ++shown;
      if (progress && shown % 1000 == 0)
        fprintf(stderr, "\r%llu / ~%llu records", static_cast<unsigned long long>(shown),
                static_cast<unsigned long long>(total));
      auto it = remaining.find(part);
      if (it != remaining.end() && off + 1 >= it->second) remaining.erase(it);
    }
  }
  if (progress) fprintf(stderr, "\r%llu records\n", static_cast<unsigned long long>(shown));
  fflush(stdout);
  return 0;
}

}  // namespace trib::tool
