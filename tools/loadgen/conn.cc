#include "tools/loadgen/conn.h"

#include <cstring>
#include <utility>

namespace trib::loadgen {
namespace {

constexpr size_t kMinReadSpace = 64 * 1024;
// Larger packets than this mean a confused peer: the generator never asks for them.
constexpr uint32_t kMaxPacket = 64u << 20;

}  // namespace

Conn::Conn(uv_loop_t* loop, Peer* peer, bool nodelay)
    : loop_(loop), peer_(peer), nodelay_(nodelay) {
  tcp_.data = this;
  connect_req_.data = this;
  write_req_.data = this;
}

int Conn::Connect(const sockaddr* addr) {
  int rc = uv_tcp_init(loop_, &tcp_);
  if (rc < 0) return rc;
  initialized_ = true;
  rc = uv_tcp_connect(&connect_req_, &tcp_, addr, OnConnect);
  if (rc < 0) {
    closing_ = true;
    why_ = std::string("connect: ") + uv_strerror(rc);
    uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), nullptr);
    initialized_ = false;
  }
  return rc;
}

void Conn::OnConnect(uv_connect_t* req, int status) {
  static_cast<Conn*>(req->data)->HandleConnect(status);
}

void Conn::HandleConnect(int status) {
  if (closing_) return;
  if (status < 0) {
    Close(std::string("connect: ") + uv_strerror(status));
    return;
  }
  connected_ = true;
  if (nodelay_) uv_tcp_nodelay(&tcp_, 1);
  uv_read_start(reinterpret_cast<uv_stream_t*>(&tcp_), OnAlloc, OnRead);
  peer_->OnConnected();
  Flush();
}

void Conn::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  Conn* c = static_cast<Conn*>(h->data);
  if (c->in_.size() - c->in_len_ < kMinReadSpace) c->in_.resize(c->in_len_ + 4 * kMinReadSpace);
  buf->base = c->in_.data() + c->in_len_;
  buf->len = c->in_.size() - c->in_len_;
}

void Conn::OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
  static_cast<Conn*>(s->data)->HandleRead(n);
}

void Conn::HandleRead(ssize_t n) {
  if (n == 0 || closing_) return;
  if (n < 0) {
    Close(n == UV_EOF ? "closed by broker" : std::string("read: ") + uv_strerror(n));
    return;
  }
  in_len_ += static_cast<size_t>(n);
  const uint8_t* data = reinterpret_cast<const uint8_t*>(in_.data());
  size_t pos = 0;
  while (pos < in_len_ && !closing_) {
    mqtt::Frame f = mqtt::ReadFrame(data + pos, in_len_ - pos, kMaxPacket);
    if (f.status == mqtt::FrameStatus::kNeedMore) break;
    if (f.status != mqtt::FrameStatus::kPacket) {
      Close(std::string("bad packet from broker: ") + f.why);
      return;
    }
    if (!peer_->OnPacket(f, mqtt::FrameBody(data + pos, f))) return;
    pos += f.total_len;
  }
  if (closing_) return;
  if (pos > 0) {
    std::memmove(in_.data(), in_.data() + pos, in_len_ - pos);
    in_len_ -= pos;
  }
  peer_->OnReadBatchDone();
  Flush();
}

void Conn::Flush() {
  if (writing_ || closing_ || !connected_ || next_.empty()) return;
  std::swap(busy_, next_);
  next_.clear();
  uv_buf_t buf = uv_buf_init(busy_.data(), static_cast<unsigned>(busy_.size()));
  int rc = uv_write(&write_req_, reinterpret_cast<uv_stream_t*>(&tcp_), &buf, 1, OnWrite);
  if (rc < 0) {
    Close(std::string("write: ") + uv_strerror(rc));
    return;
  }
  writing_ = true;
  last_write_ns_ = uv_hrtime();
}

void Conn::OnWrite(uv_write_t* req, int status) {
  static_cast<Conn*>(req->data)->HandleWrite(status);
}

void Conn::HandleWrite(int status) {
  writing_ = false;
  if (closing_) return;
  if (status < 0) {
    Close(std::string("write: ") + uv_strerror(status));
    return;
  }
  peer_->OnWriteDone();
  Flush();
}

void Conn::Close(const std::string& why) {
  if (closing_) return;
  closing_ = true;
  why_ = why;
  if (!initialized_) {
    peer_->OnClosed(why_);
    return;
  }
  uv_close(reinterpret_cast<uv_handle_t*>(&tcp_), OnClose);
}

void Conn::OnClose(uv_handle_t* h) {
  Conn* c = static_cast<Conn*>(h->data);
  c->initialized_ = false;
  c->peer_->OnClosed(c->why_);
}

}  // namespace trib::loadgen
