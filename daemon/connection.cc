#include "daemon/connection.h"

#include <arpa/inet.h>

#include <cstring>

#include "daemon/broker.h"
#include "daemon/listener.h"
#include "daemon/mqtt/frame.h"
#include "platform/clock.h"
#include "platform/log.h"

namespace trib {

namespace {
template <class H>
uv_handle_t* AsHandle(H* h) {
  return reinterpret_cast<uv_handle_t*>(h);
}
template <class H>
uv_stream_t* AsStream(H* h) {
  return reinterpret_cast<uv_stream_t*>(h);
}
}  // namespace

Connection::Connection(Broker* broker, uv_loop_t* loop, const config::ListenerConfig& listener,
                       uint64_t id, tls::Context* tls)
    : broker_(broker), listener_(&listener), id_(id) {
  if (tls) tls_ = std::make_unique<TlsIo>(tls);
  uv_tcp_init(loop, &tcp_);
  tcp_.data = this;
  connected_at_ms = last_read_ms = clock::MonoMs();
}

bool Connection::Accept(uv_stream_t* server) {
  int rc = uv_accept(server, AsStream(&tcp_));
  if (rc != 0) {
    LOG_WARN("accept failed: %s", uv_strerror(rc));
    Close(uv_strerror(rc));
    return false;
  }
  sockaddr_storage addr{};
  int len = sizeof addr;
  if (uv_tcp_getpeername(&tcp_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    if (addr.ss_family == AF_INET) {
      const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
      peer_.family = AF_INET;
      peer_.port = ntohs(in->sin_port);
      std::memcpy(peer_.ip, &in->sin_addr, sizeof in->sin_addr);
    } else if (addr.ss_family == AF_INET6) {
      const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
      peer_.family = AF_INET6;
      peer_.port = ntohs(in6->sin6_port);
      std::memcpy(peer_.ip, &in6->sin6_addr, sizeof in6->sin6_addr);
    }
  }
  return true;
}

std::string Connection::peer() const {
  sockaddr_storage addr{};
  if (peer_.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&addr);
    in->sin_family = AF_INET;
    in->sin_port = htons(peer_.port);
    std::memcpy(&in->sin_addr, peer_.ip, sizeof in->sin_addr);
  } else if (peer_.family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(peer_.port);
    std::memcpy(&in6->sin6_addr, peer_.ip, sizeof in6->sin6_addr);
  }
  return FormatAddress(reinterpret_cast<const sockaddr*>(&addr));
}

const char* Connection::client_name() const {
  return session != nullptr ? session->client_id.c_str() : "-";
}

void Connection::Start() {
  uv_tcp_nodelay(&tcp_, 1);
  int rc = uv_read_start(AsStream(&tcp_), OnAlloc, OnRead);
  if (rc != 0) Close(uv_strerror(rc));
}

void Connection::PauseReading() {
  if (paused || state_ == State::kClosing) return;
  paused = true;
  uv_read_stop(AsStream(&tcp_));
}

void Connection::ResumeReading() {
  if (!paused || state_ == State::kClosing || rate_paused) return;
  paused = false;
  uv_read_start(AsStream(&tcp_), OnAlloc, OnRead);
}

void Connection::ResumeAfterRateLimit() {
  rate_paused = false;
  ResumeReading();
  if (!io_ || io_->partial.empty() || state_ == State::kClosing) return;
  // Packets that arrived in the same read as the one that ran out of tokens.
  std::string& partial = io_->partial;
  ssize_t used = Consume(partial.data(), partial.size());
  if (used < 0) return;
  partial.erase(0, static_cast<size_t>(used));
}

void Connection::Close(const char* why, bool flush) {
  if (state_ == State::kClosing) return;
  LOG_DEBUG("closing connection %s (%s): %s", peer().c_str(),
            client_name(), why);
  state_ = State::kClosing;
  uv_read_stop(AsStream(&tcp_));
  broker_->OnConnectionClosing(this);
  if (flush && tls_ && tls_->session.handshake_done()) {
    if (io_ && !io_->out.empty()) {
      tls::Status st = tls_->session.Send(io_->out, &tls_->out);
      (void)st;  // closing anyway
      io_->out.clear();
    }
    tls_->session.Close(&tls_->out);
  }
  if (flush) {
    // A last packet (CONNACK refusal, DISCONNECT) goes out before the close;
    // OnWriteDone closes once it is written.
    close_after_write_ = true;
    if (!write_pending_) Flush();
    if (write_pending_) return;
  }
  uv_close(AsHandle(&tcp_), OnClosed);
}

void Connection::MarkDirty() {
  if (hard_cap_ && queued_bytes() > hard_cap_ && state_ != State::kClosing) {
    LOG_WARN("client %s (%s): %zu bytes queued and not read; disconnecting", client_name(),
             peer().c_str(), queued_bytes());
    if (io_) io_->out.clear();
    Close("output over its cap");
    return;
  }
  if (dirty) return;
  dirty = true;
  broker_->MarkDirty(this);
}

void Connection::Flush() {
  dirty = false;
  if (tls_ && io_ && !io_->out.empty() && tls_->session.handshake_done()) {
    tls::Status st = tls_->session.Send(io_->out, &tls_->out);
    io_->out.clear();
    tls_->traffic = true;
    tls_->released = false;
    if (!st.ok()) {
      Close(st.message().c_str());
      return;
    }
  }
  if (!tls_ && !io_) return;  // nothing was ever queued
  std::string& wire = tls_ ? tls_->out : io_->out;  // the bytes that go on the socket
  if (write_pending_ || wire.empty()) return;
  if (state_ == State::kClosing && !close_after_write_) return;
  // Try the fast path first: most writes fit in the socket buffer at once.
  uv_buf_t buf = uv_buf_init(wire.data(), static_cast<unsigned>(wire.size()));
  int n = uv_try_write(AsStream(&tcp_), &buf, 1);
  if (n == static_cast<int>(wire.size())) {
    wire.clear();
    DropIoIfSmallAndEmpty();
    // All of it went out at once, so no write callback will come: let the
    // broker fill the room now (deliveries stop at max_output_bytes and
    // would otherwise wait for an unrelated event).
    if (state_ == State::kConnected) broker_->OnWritable(this);
    return;
  }
  if (n < 0 && n != UV_EAGAIN) {
    wire.clear();
    Close(uv_strerror(n));
    return;
  }
  size_t done = n > 0 ? static_cast<size_t>(n) : 0;
  std::string& writing = Buffers().writing;
  writing.assign(wire, done, std::string::npos);
  wire.clear();
  buf = uv_buf_init(writing.data(), static_cast<unsigned>(writing.size()));
  if (!write_req_) write_req_ = std::make_unique<uv_write_t>();
  write_req_->data = this;
  int rc = uv_write(write_req_.get(), AsStream(&tcp_), &buf, 1, OnWriteDone);
  if (rc != 0) {
    writing.clear();
    Close(uv_strerror(rc));
    return;
  }
  write_pending_ = true;
}

namespace {
// std::string keeps up to 15 bytes inline: no heap.
size_t HeapBytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }

void ReleaseIfEmpty(std::string* s) {
  if (s->empty() && s->capacity() > Connection::kKeptBufferBytes) std::string().swap(*s);
}
}  // namespace

size_t Connection::buffer_bytes() const {
  size_t n = 0;
  if (io_) {
    n += sizeof(Io) + HeapBytes(io_->partial) + HeapBytes(io_->out) + HeapBytes(io_->writing) +
         io_->acks.entries.capacity() * sizeof(AckEntry);
  }
  if (tls_) n += HeapBytes(tls_->plain) + HeapBytes(tls_->out);
  return n;
}

void Connection::DropIoIfSmallAndEmpty() {
  if (!io_ || write_pending_) return;
  const Io& io = *io_;
  if (io.partial.empty() && io.out.empty() && io.acks.head == io.acks.entries.size() &&
      io.out.capacity() <= kKeptBufferBytes && io.writing.capacity() <= kKeptBufferBytes &&
      io.partial.capacity() <= kKeptBufferBytes)
    io_.reset();
}

void Connection::ReleaseIdleBuffers() {
  if (tls_) {
    ReleaseIfEmpty(&tls_->plain);
    if (!write_pending_) ReleaseIfEmpty(&tls_->out);
    if (tls_->traffic) {
      tls_->traffic = false;  // busy: look again next tick
    } else if (!tls_->released && !write_pending_ && tls_->out.empty()) {
      broker_->OnTlsBuffersReleased(tls_->session.ReleaseIdleBuffers());
      tls_->released = true;
    }
  }
  if (!io_) return;
  Io& io = *io_;
  const bool acks_done = io.acks.head == io.acks.entries.size();
  if (io.partial.empty() && io.out.empty() && !write_pending_ && acks_done) {
    io_.reset();  // nothing held: the common state of an idle connection
    return;
  }
  ReleaseIfEmpty(&io.out);
  if (!write_pending_) ReleaseIfEmpty(&io.writing);
  // An incomplete packet stays; only the room around it goes.
  if (io.partial.capacity() > kKeptBufferBytes && io.partial.capacity() > 2 * io.partial.size())
    io.partial.shrink_to_fit();
  if (acks_done && io.acks.entries.capacity() * sizeof(AckEntry) > kKeptBufferBytes) {
    std::vector<AckEntry>().swap(io.acks.entries);
    io.acks.head = 0;
  }
}

void Connection::OnWriteDone(uv_write_t* req, int status) {
  auto* c = static_cast<Connection*>(req->data);
  c->write_pending_ = false;
  c->io_->writing.clear();  // a write was pending, so io_ exists
  if (c->close_after_write_) {
    uv_close(AsHandle(&c->tcp_), OnClosed);
    return;
  }
  if (status < 0) {
    c->Close(uv_strerror(status));
    return;
  }
  if (c->state_ == State::kClosing) return;
  c->Flush();
  c->DropIoIfSmallAndEmpty();
  c->broker_->OnWritable(c);
}

void Connection::OnClosed(uv_handle_t* h) {
  auto* c = static_cast<Connection*>(h->data);
  c->broker_->OnConnectionClosed(c);  // deletes c, and the handle with it
}

void Connection::OnAlloc(uv_handle_t* h, size_t, uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(h->data);
  std::string& rb = c->broker_->read_buffer();
  *buf = uv_buf_init(rb.data(), static_cast<unsigned>(rb.size()));
}

void Connection::OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
  auto* c = static_cast<Connection*>(s->data);
  if (n < 0) {
    c->broker_->OnPeerClosed(c, n == UV_EOF ? "connection closed by peer" : uv_strerror(static_cast<int>(n)));
    return;
  }
  if (n == 0 || c->state_ == State::kClosing) return;
  c->last_read_ms = clock::MonoMs();
  if (c->tls_) {
    c->ReadTls(buf->base, static_cast<size_t>(n));
  } else {
    c->Read(buf->base, static_cast<size_t>(n));
  }
}

void Connection::ReadTls(const char* data, size_t len) {
  tls::Session& tls = tls_->session;
  bool was_done = tls.handshake_done();
  tls_->plain.clear();
  tls::Status st = tls.Receive(std::string_view(data, len), &tls_->plain, &tls_->out);
  tls_->traffic = true;
  tls_->released = false;
  if (!st.ok()) {
    broker_->OnTlsFailure(this, st.message(), was_done);
    Close(st.message().c_str(), /*flush=*/true);  // the alert, if any, then close
    return;
  }
  if (!was_done && tls.handshake_done())
    LOG_DEBUG("TLS from %s: %s %s, client certificate: %s", peer().c_str(), tls.Version().c_str(),
              tls.CipherSuite().c_str(), tls.PeerIdentity().empty() ? "none" : tls.PeerIdentity().c_str());
  if (!tls_->out.empty()) MarkDirty();
  if (!tls_->plain.empty()) Read(tls_->plain.data(), tls_->plain.size());
}

void Connection::Read(const char* data, size_t len) {
  if (!io_ || io_->partial.empty()) {
    ssize_t used = Consume(data, len);
    if (used < 0 || static_cast<size_t>(used) == len) return;
    Buffers().partial.assign(data + used, len - used);
    return;
  }
  std::string& partial = io_->partial;
  partial.append(data, len);
  ssize_t used = Consume(partial.data(), partial.size());
  if (used < 0) return;
  // Consume may have closed the connection, but io_ lives until the close
  // callback: the broker frees connections only there.
  partial.erase(0, static_cast<size_t>(used));
  if (partial.capacity() > (256u << 10) && partial.size() < (16u << 10)) partial.shrink_to_fit();
}

ssize_t Connection::Consume(const char* data, size_t len) {
  size_t pos = 0;
  const uint32_t max = max_packet_in ? max_packet_in : broker_->max_packet_size();
  // Everything already read is processed even when storage pauses reading: it
  // is bounded by one read buffer, and pausing stops the next read. A client
  // over max_publish_rate is stopped at the packet that used its last token
  // (the rest waits in the partial buffer), or one read could hold thousands.
  while (pos < len && state_ != State::kClosing && !rate_paused) {
    const auto* p = reinterpret_cast<const uint8_t*>(data + pos);
    mqtt::Frame f = mqtt::ReadFrame(p, len - pos, max);
    if (f.status == mqtt::FrameStatus::kNeedMore) break;
    if (f.status == mqtt::FrameStatus::kTooLarge) {
      broker_->ProtocolFailure(this, mqtt::Status(mqtt::ReasonCode::kPacketTooLarge, "packet exceeds the maximum packet size"));
      return -1;
    }
    if (f.status == mqtt::FrameStatus::kMalformed) {
      broker_->ProtocolFailure(this, mqtt::Status(f.reason, f.why));
      return -1;
    }
    broker_->OnPacket(this, f, mqtt::FrameBody(p, f));
    pos += f.total_len;
  }
  if (state_ == State::kClosing) return -1;
  return static_cast<ssize_t>(pos);
}

}  // namespace trib
