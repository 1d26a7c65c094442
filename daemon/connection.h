// Connection: one client's network connection (plain TCP for now).
//
// Reads into the broker's shared read buffer and cuts as many complete MQTT
// packets out of each read as it holds; only a partial packet at the end is
// copied into the connection's own buffer. Output is appended by the broker's
// handlers to out() and written with one uv_write per loop iteration (Flush),
// so many acks and deliveries share one system call.
//
// Owned by the Broker (connections_ map), freed only from its uv_close
// callback. Thread: loop only. Failure: any protocol or I/O error ends in
// Close(); a connection whose queued output passes its cap is closed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/config.h"
#include "daemon/mqtt/types.h"
#include "platform/tls.h"

namespace trib {

class Broker;
struct Session;

class Connection {
 public:
  enum class State : uint8_t { kNew, kConnected, kClosing };

  // `tls` is the listener's TLS context, or null for a plain listener. The
  // socket handle lives in this object (one allocation per connection), so
  // from here on the object is freed only by the close callback.
  Connection(Broker* broker, uv_loop_t* loop, const config::ListenerConfig& listener, uint64_t id,
             tls::Context* tls);
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Takes the pending connection of `server`; false: it failed and the
  // connection is closing.
  bool Accept(uv_stream_t* server);
  void Start();
  // Stops reading and writing, closes the socket; the broker frees this object
  // from the close callback. Pending output is written first when `flush`.
  void Close(const char* why, bool flush = false);
  // Reading is paused while storage is over its queue limit.
  void PauseReading();
  // Does nothing while rate_paused: only ResumeAfterRateLimit ends that.
  void ResumeReading();
  // The publish rate allows more again: read, and first process what was
  // already read.
  void ResumeAfterRateLimit();

  // Encoders append here; then MarkDirty() so the broker flushes this
  // connection at the end of the loop iteration.
  std::string* out() { return &Buffers().out; }
  void MarkDirty();
  // Starts a write of everything queued if none is in progress.
  void Flush();
  size_t queued_bytes() const {
    return (io_ ? io_->out.size() + io_->writing.size() : 0) + (tls_ ? tls_->out.size() : 0);
  }
  // The client certificate's identity (CN or SAN) on a TLS listener; "" otherwise.
  std::string PeerIdentity() const { return tls_ ? tls_->session.PeerIdentity() : std::string(); }
  bool is_tls() const { return tls_ != nullptr; }
  // Past this many queued bytes the client is not reading: disconnect it.
  void set_output_hard_cap(size_t bytes) { hard_cap_ = bytes; }
  // Heap bytes held by the read and write buffers (capacity, not content).
  size_t buffer_bytes() const;
  // Gives back buffer capacity over kKeptBufferBytes that holds nothing now,
  // and the buffers themselves when all are empty. A burst (a replay, a
  // backlog after a reconnect) grows the write buffers up to
  // max_output_bytes; without this an idle connection would keep that much
  // for the rest of its life. The broker calls it every tick.
  void ReleaseIdleBuffers();
  static constexpr size_t kKeptBufferBytes = 1024;

  uint64_t id() const { return id_; }
  State state() const { return state_; }
  void set_state(State s) { state_ = s; }
  // The client's address, formatted when asked ("127.0.0.1:40123",
  // "[::1]:40123"; "?" when unknown).
  std::string peer() const;
  const config::ListenerConfig& listener() const { return *listener_; }

  // The session's client id, for logs; "-" before CONNECT and once closing.
  const char* client_name() const;

  // Protocol state, set by the CONNECT handler.
  Session* session = nullptr;
  mqtt::Version version = mqtt::Version::k311;
  bool problem_info = true;          // Request Problem Information
  uint16_t keepalive_s = 0;          // as granted
  uint16_t receive_max_out = 65535;  // the client's Receive Maximum
  uint16_t topic_alias_max_out = 0;  // the client's Topic Alias Maximum
  uint32_t max_packet_out = 0;       // the client's Maximum Packet Size; 0 = no limit
  int64_t connected_at_ms = 0;       // monotonic, at accept
  int64_t last_read_ms = 0;          // monotonic
  // What this connection was promised in its CONNACK (5.0), so that a reload
  // lowering the limits only applies to new connections. 0: not yet fixed
  // (the broker's current limits apply).
  uint32_t max_packet_in = 0;
  uint32_t receive_max_in = 0;
  uint32_t inbound_unacked = 0;      // QoS 1/2 PUBLISH received and not yet acknowledged
  bool will_suppressed = false;  // DISCONNECT 0x00 received: no will
  bool paused = false;
  bool rate_paused = false;  // reading paused by max_publish_rate (3.1.1)
  bool dirty = false;
  // MQTT 5 topic aliases, allocated when a client first uses them.
  struct TopicAliases {
    std::vector<std::string> in;                     // index = topic alias - 1
    std::unordered_map<std::string, uint16_t> out;  // topic -> alias we assigned
  };
  std::unique_ptr<TopicAliases> aliases;
  TopicAliases& Aliases() {
    if (!aliases) aliases = std::make_unique<TopicAliases>();
    return *aliases;
  }
  // Acks owed to the client, in the order its PUBLISH packets arrived
  // [MQTT-4.6.0-2/3]; an entry waits (ready=false) until storage committed.
  struct AckEntry {
    uint64_t seq;
    uint16_t packet_id;
    mqtt::PacketType type;
    mqtt::ReasonCode reason;
    bool ready;
  };
  struct AckQueue {
    std::vector<AckEntry> entries;
    size_t head = 0;  // entries before it are sent
  };
  AckQueue& Acks() { return Buffers().acks; }
  uint64_t next_ack_seq = 1;
  // Publish rate limiting: tokens refilled per second.
  double rate_tokens = 0;
  int64_t rate_updated_ms = 0;

 private:
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnWriteDone(uv_write_t* req, int status);
  static void OnClosed(uv_handle_t* h);

  void Read(const char* data, size_t len);
  void ReadTls(const char* data, size_t len);
  // Decodes and dispatches every complete packet in [data, data+len); returns
  // the bytes consumed, or -1 when the connection was closed.
  ssize_t Consume(const char* data, size_t len);

  // Idle connections are the common case on a gateway: what only TLS, a
  // blocked write or traffic needs is allocated when needed (README,
  // "Reliability": memory per connection).
  //
  // Read and write buffers and the ack queue: allocated by the first use,
  // freed once all are empty (DropIoIfSmallAndEmpty, ReleaseIdleBuffers).
  struct Io {
    std::string partial;  // an incomplete packet carried to the next read
    std::string out;      // encoded, not yet handed to the socket (or to TLS)
    std::string writing;  // held by the socket write in progress
    AckQueue acks;
  };
  Io& Buffers() {
    if (!io_) io_ = std::make_unique<Io>();
    return *io_;
  }
  // After a write: frees io_ when it holds nothing and little room, so the
  // buffers of a connection that just answered a CONNECT or a ping go back
  // at once (and are reused by the next connection) instead of leaving a
  // hole in the heap until the next tick. A busy connection with small
  // packets pays one small allocation per write round for it (QoS 1 ingest
  // in make bench did not move).
  void DropIoIfSmallAndEmpty();

  struct TlsIo {
    explicit TlsIo(tls::Context* ctx) : session(ctx) {}
    tls::Session session;
    std::string plain;  // decrypted bytes of one read
    std::string out;    // ciphertext waiting to be written
    // ReleaseIdleBuffers gives the session's record buffers back after a
    // tick without traffic, once per idle spell.
    bool traffic = false;   // records in or out since the last tick
    bool released = false;  // given back, and no traffic since
  };

  uv_tcp_t tcp_{};
  Broker* broker_;
  const config::ListenerConfig* listener_;  // the Listener's, which outlives us
  uint64_t id_;
  std::unique_ptr<Io> io_;
  std::unique_ptr<uv_write_t> write_req_;  // created by the first write that blocks
  std::unique_ptr<TlsIo> tls_;
  size_t hard_cap_ = 0;
  // The peer's address in 20 bytes rather than a formatted string's 32:
  // every idle connection pays for each byte here.
  struct PeerAddress {
    uint8_t family = 0;  // AF_INET, AF_INET6; 0: unknown
    uint16_t port = 0;
    uint8_t ip[16] = {};
  };
  PeerAddress peer_;
  State state_ = State::kNew;
  bool write_pending_ = false;
  bool close_after_write_ = false;
};

}  // namespace trib
