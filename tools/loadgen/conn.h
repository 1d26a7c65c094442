// Conn: one MQTT client connection over libuv TCP, as the load generator uses
// it. It connects, cuts what it reads into packets (handing every packet of
// one read to its Peer before the Peer may answer, so answers batch), and
// writes what the Peer appended to out() with one write in flight at a time:
// while a write is in flight the next batch fills, so many packets go out
// per write call.
//
// Owned by its Peer (a publisher, subscriber or idle client), which must
// outlive the loop run: the handle is released in OnClosed, after which the
// Peer hears OnClosed. Thread: loop only. Failures (connect refused, reset,
// malformed input) close the connection and are reported through OnClosed.
#pragma once

#include <uv.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/mqtt/frame.h"

namespace trib::loadgen {

class Conn {
 public:
  class Peer {
   public:
    virtual ~Peer() = default;
    // TCP is up: send CONNECT.
    virtual void OnConnected() = 0;
    // One whole packet; body is valid during the call only. Return false to
    // close the connection (after calling Close with a reason).
    virtual bool OnPacket(const mqtt::Frame& f, std::string_view body) = 0;
    // Every packet of one read was handed over: a good time to answer.
    virtual void OnReadBatchDone() = 0;
    // A write completed: the Peer may append more, Conn flushes after.
    virtual void OnWriteDone() = 0;
    // The connection is gone; `why` is empty for a Close() without reason.
    virtual void OnClosed(const std::string& why) = 0;
  };

  Conn(uv_loop_t* loop, Peer* peer, bool nodelay);
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;

  // Starts connecting; OnConnected or OnClosed follows. Returns a libuv error
  // (and calls nothing) if the connect could not start.
  int Connect(const sockaddr* addr);
  // Where the Peer appends encoded packets; Flush() sends them.
  std::string* out() { return &next_; }
  size_t queued() const { return next_.size() + (writing_ ? busy_.size() : 0); }
  bool writing() const { return writing_; }
  void Flush();
  // Closes once; the first reason wins.
  void Close(const std::string& why);
  bool open() const { return connected_ && !closing_; }
  uint64_t last_write_ns() const { return last_write_ns_; }

 private:
  static void OnConnect(uv_connect_t* req, int status);
  static void OnAlloc(uv_handle_t* h, size_t suggested, uv_buf_t* buf);
  static void OnRead(uv_stream_t* s, ssize_t n, const uv_buf_t* buf);
  static void OnWrite(uv_write_t* req, int status);
  static void OnClose(uv_handle_t* h);
  void HandleConnect(int status);
  void HandleRead(ssize_t n);
  void HandleWrite(int status);

  uv_loop_t* loop_;
  Peer* peer_;
  bool nodelay_;
  uv_tcp_t tcp_;
  uv_connect_t connect_req_;
  uv_write_t write_req_;
  bool initialized_ = false, connected_ = false, closing_ = false, writing_ = false;
  std::string why_;
  std::string busy_;  // the bytes of the write in flight
  std::string next_;  // filling
  std::vector<char> in_;
  size_t in_len_ = 0;
  uint64_t last_write_ns_ = 0;
};

}  // namespace trib::loadgen
