// Listener: one bound TCP socket from a [[listener]] entry.
//
// Owned by the Broker. Thread: loop only. Bind() reports a clear error (address
// and reason) instead of failing later; accepted sockets are handed to the
// callback given at construction, which owns them from then on.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "daemon/config.h"

namespace trib {

class Listener {
 public:
  // Called with an initialized, accepted uv_tcp_t the callee must own (and
  // eventually uv_close). The callee may close it at once to refuse it.
  using AcceptFn = std::function<void(uv_tcp_t* client, const config::ListenerConfig& from)>;

  Listener(uv_loop_t* loop, config::ListenerConfig cfg, AcceptFn on_accept);
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Returns "" or a message naming the address and the reason.
  std::string Bind();
  // Stops accepting; the handle is closed asynchronously. The object must stay
  // alive until the loop has run the close callback.
  void Close();

  // The address actually bound ("127.0.0.1:40123"), after Bind().
  const std::string& bound() const { return bound_; }
  uint16_t port() const { return port_; }
  const config::ListenerConfig& cfg() const { return cfg_; }

 private:
  static void OnConnection(uv_stream_t* server, int status);
  void Accept();

  uv_loop_t* loop_;
  config::ListenerConfig cfg_;
  AcceptFn on_accept_;
  uv_tcp_t tcp_{};
  bool open_ = false;
  std::string bound_;
  uint16_t port_ = 0;
};

// "1.2.3.4:5678" / "[::1]:5678" for a socket address.
std::string FormatAddress(const sockaddr* sa);

}  // namespace trib
