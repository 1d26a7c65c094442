// AdminHttp: the admin HTTP listener (/metrics, /healthz, /readyz, /v1/...).
//
// A small HTTP/1.1 server on the broker's loop, parsing requests with
// http-parser. It knows nothing of the broker: each complete request goes to
// the handler given at construction, whose response is written and the
// connection closed. Requests are bounded (16 KiB of headers and body, 10 s to
// arrive); anything else gets a 4xx and a close.
//
// Owned by the Broker. Thread: loop only. Failure: Bind() returns a message
// naming the address; a bad request never affects other clients.
#pragma once

#include <uv.h>

#include <functional>
#include <string>
#include <unordered_set>

namespace trib {

struct HttpRequest {
  std::string method;
  std::string path;  // without the query string
  std::string query;
  std::string authorization;  // the Authorization header, if any
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminHttp {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  AdminHttp(uv_loop_t* loop, std::string host, uint16_t port, Handler handler);
  ~AdminHttp();
  AdminHttp(const AdminHttp&) = delete;
  AdminHttp& operator=(const AdminHttp&) = delete;

  std::string Bind();  // "" or an error naming the address
  void Close();        // stops listening and closes open requests
  const std::string& bound() const { return bound_; }

 private:
  struct Client;
  static void OnConnection(uv_stream_t* server, int status);
  void Finish(Client* c, const HttpResponse& r);
  void Drop(Client* c);

  uv_loop_t* loop_;
  std::string host_;
  uint16_t port_;
  Handler handler_;
  uv_tcp_t tcp_{};
  bool open_ = false;
  std::string bound_;
  std::unordered_set<Client*> clients_;
};

}  // namespace trib
