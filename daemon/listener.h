// Listener: one bound TCP socket from a [[listener]] entry.
//
// Owned by the Broker. Thread: loop only. Bind() reports a clear error (address
// and reason) instead of failing later; each pending connection is handed to
// the callback given at construction, which accepts it into a handle of its
// own (a Connection embeds its socket) or refuses it.
#pragma once

#include <uv.h>

#include <functional>
#include <string>

#include "daemon/config.h"

namespace trib {

class Listener {
 public:
  // Called once per pending connection: the callee must uv_accept it from
  // `server` or call Refuse (libuv stops accepting until one of them runs).
  using AcceptFn = std::function<void(uv_stream_t* server, const config::ListenerConfig& from)>;
  // Accepts the pending connection and closes it at once.
  static void Refuse(uv_stream_t* server);

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
