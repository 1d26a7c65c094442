#include "daemon/listener.h"

#include <arpa/inet.h>

#include "platform/log.h"

namespace trib {

std::string FormatAddress(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  if (sa->sa_family == AF_INET6) {
    auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    port = ntohs(in6->sin6_port);
    return "[" + std::string(host) + "]:" + std::to_string(port);
  }
  return "?";
}

Listener::Listener(uv_loop_t* loop, config::ListenerConfig cfg, AcceptFn on_accept)
    : loop_(loop), cfg_(std::move(cfg)), on_accept_(std::move(on_accept)) {}

std::string Listener::Bind() {
  sockaddr_storage addr{};
  bool v6 = cfg_.host.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(cfg_.host.c_str(), cfg_.port, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(cfg_.host.c_str(), cfg_.port, reinterpret_cast<sockaddr_in*>(&addr));
  if (rc != 0) return "cannot listen on " + cfg_.bind + ": " + uv_strerror(rc);
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  open_ = true;
  rc = uv_tcp_bind(&tcp_, reinterpret_cast<sockaddr*>(&addr), v6 ? UV_TCP_IPV6ONLY : 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 1024, OnConnection);
  if (rc != 0) return "cannot listen on " + cfg_.bind + ": " + uv_strerror(rc);
  sockaddr_storage name{};
  int len = sizeof name;
  uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&name), &len);
  bound_ = FormatAddress(reinterpret_cast<sockaddr*>(&name));
  port_ = name.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&name)->sin6_port)
                                     : ntohs(reinterpret_cast<sockaddr_in*>(&name)->sin_port);
  return "";
}

void Listener::Close() {
  if (!open_) return;
  open_ = false;
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
}

void Listener::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<Listener*>(server->data);
  if (status < 0) {
    LOG_WARN("listener %s: accept error: %s", self->bound_.c_str(), uv_strerror(status));
    return;
  }
  self->Accept();
}

void Listener::Accept() { on_accept_(reinterpret_cast<uv_stream_t*>(&tcp_), cfg_); }

void Listener::Refuse(uv_stream_t* server) {
  auto* client = new uv_tcp_t;
  uv_tcp_init(server->loop, client);
  (void)uv_accept(server, reinterpret_cast<uv_stream_t*>(client));
  uv_close(reinterpret_cast<uv_handle_t*>(client),
           [](uv_handle_t* h) { delete reinterpret_cast<uv_tcp_t*>(h); });
}

}  // namespace trib
