#include "daemon/admin_http.h"

#include <http_parser.h>
#include <strings.h>

#include "daemon/listener.h"
#include "platform/log.h"

namespace trib {
namespace {

constexpr size_t kMaxRequestBytes = 16 * 1024;
constexpr uint64_t kRequestTimeoutMs = 10000;

const char* StatusText(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

struct AdminHttp::Client {
  AdminHttp* server;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_write_t write_req;
  http_parser parser;
  HttpRequest req;
  std::string url;
  std::string header_field;
  bool in_auth_value = false;
  size_t bytes = 0;
  bool done = false;
  int closing = 0;  // handles still to close
  std::string out;
};

AdminHttp::AdminHttp(uv_loop_t* loop, std::string host, uint16_t port, Handler handler)
    : loop_(loop), host_(std::move(host)), port_(port), handler_(std::move(handler)) {}

AdminHttp::~AdminHttp() = default;

std::string AdminHttp::Bind() {
  sockaddr_storage addr{};
  bool v6 = host_.find(':') != std::string::npos;
  int rc = v6 ? uv_ip6_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in6*>(&addr))
              : uv_ip4_addr(host_.c_str(), port_, reinterpret_cast<sockaddr_in*>(&addr));
  std::string where = (v6 ? "[" + host_ + "]" : host_) + ":" + std::to_string(port_);
  if (rc != 0) return "admin: cannot listen on " + where + ": " + uv_strerror(rc);
  uv_tcp_init(loop_, &tcp_);
  tcp_.data = this;
  open_ = true;
  rc = uv_tcp_bind(&tcp_, reinterpret_cast<sockaddr*>(&addr), 0);
  if (rc == 0) rc = uv_listen(reinterpret_cast<uv_stream_t*>(&tcp_), 64, OnConnection);
  if (rc != 0) return "admin: cannot listen on " + where + ": " + uv_strerror(rc);
  sockaddr_storage name{};
  int len = sizeof name;
  uv_tcp_getsockname(&tcp_, reinterpret_cast<sockaddr*>(&name), &len);
  bound_ = FormatAddress(reinterpret_cast<sockaddr*>(&name));
  return "";
}

void AdminHttp::Close() {
  if (open_) {
    open_ = false;
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
  }
  std::unordered_set<Client*> all = clients_;
  for (Client* c : all) Drop(c);
}

void AdminHttp::Drop(Client* c) {
  if (c->closing) return;
  c->closing = 2;
  auto closed = [](uv_handle_t* h) {
    auto* c = static_cast<Client*>(h->data);
    if (--c->closing == 0) {
      c->server->clients_.erase(c);
      delete c;
    }
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&c->timer), closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&c->tcp), closed);
}

void AdminHttp::Finish(Client* c, const HttpResponse& r) {
  if (c->done) return;
  c->done = true;
  uv_read_stop(reinterpret_cast<uv_stream_t*>(&c->tcp));
  c->out = "HTTP/1.1 " + std::to_string(r.status) + " " + StatusText(r.status) +
           "\r\nContent-Type: " + r.content_type +
           "\r\nContent-Length: " + std::to_string(r.body.size()) +
           "\r\nConnection: close\r\n" +
           (r.status == 401 ? "WWW-Authenticate: Bearer\r\n" : "") + "\r\n" + r.body;
  uv_buf_t buf = uv_buf_init(c->out.data(), static_cast<unsigned>(c->out.size()));
  c->write_req.data = c;
  int rc = uv_write(&c->write_req, reinterpret_cast<uv_stream_t*>(&c->tcp), &buf, 1,
                    [](uv_write_t* w, int) {
                      auto* c = static_cast<Client*>(w->data);
                      c->server->Drop(c);
                    });
  if (rc != 0) Drop(c);
}

void AdminHttp::OnConnection(uv_stream_t* server, int status) {
  auto* self = static_cast<AdminHttp*>(server->data);
  if (status < 0) return;
  auto* c = new Client{};
  c->server = self;
  uv_tcp_init(self->loop_, &c->tcp);
  uv_timer_init(self->loop_, &c->timer);
  c->tcp.data = c->timer.data = c;
  self->clients_.insert(c);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(&c->tcp)) != 0) {
    self->Drop(c);
    return;
  }
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  uv_timer_start(&c->timer, [](uv_timer_t* t) {
    auto* c = static_cast<Client*>(t->data);
    c->server->Drop(c);  // too slow: just close
  }, kRequestTimeoutMs, 0);
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(&c->tcp),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static thread_local char chunk[4096];
        *buf = uv_buf_init(chunk, sizeof chunk);
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* c = static_cast<Client*>(s->data);
        if (n < 0) {
          c->server->Drop(c);
          return;
        }
        c->bytes += static_cast<size_t>(n);
        if (c->bytes > kMaxRequestBytes) {
          c->server->Finish(c, HttpResponse{413, "text/plain", "request too large\n"});
          return;
        }
        static http_parser_settings settings = [] {
          http_parser_settings st;
          http_parser_settings_init(&st);
          st.on_url = [](http_parser* p, const char* at, size_t len) {
            static_cast<Client*>(p->data)->url.append(at, len);
            return 0;
          };
          st.on_header_field = [](http_parser* p, const char* at, size_t len) {
            auto* c = static_cast<Client*>(p->data);
            if (c->in_auth_value) c->header_field.clear();
            c->in_auth_value = false;
            c->header_field.append(at, len);
            return 0;
          };
          st.on_header_value = [](http_parser* p, const char* at, size_t len) {
            auto* c = static_cast<Client*>(p->data);
            c->in_auth_value = true;
            if (strcasecmp(c->header_field.c_str(), "authorization") == 0)
              c->req.authorization.append(at, len);
            return 0;
          };
          st.on_message_complete = [](http_parser* p) {
            auto* c = static_cast<Client*>(p->data);
            c->req.method = http_method_str(static_cast<http_method>(p->method));
            size_t q = c->url.find('?');
            c->req.path = c->url.substr(0, q);
            if (q != std::string::npos) c->req.query = c->url.substr(q + 1);
            c->server->Finish(c, c->server->handler_(c->req));
            return 1;  // one request per connection
          };
          return st;
        }();
        size_t used = http_parser_execute(&c->parser, &settings, buf->base, static_cast<size_t>(n));
        if (!c->done && (c->parser.http_errno != HPE_OK && c->parser.http_errno != HPE_CB_message_complete)) {
          c->server->Finish(c, HttpResponse{400, "text/plain", "bad request\n"});
        }
        (void)used;
      });
}

}  // namespace trib
