// Internal to daemon/mqtt/: the byte reader and writer every decoder and
// encoder uses. Not part of the codec's public surface (include codec.h).
//
// Reader walks a packet body that is fully in memory; each Read returns false
// when the body ends first, which decoders turn into a Malformed Packet.
// Writer appends big-endian integers, Variable Byte Integers and
// length-prefixed strings to a caller-owned std::string.
//
// Thread: values; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "daemon/mqtt/properties.h"
#include "daemon/mqtt/types.h"
#include "daemon/mqtt/utf8.h"
#include "daemon/mqtt/varint.h"

namespace trib::mqtt::wire {

class Reader {
 public:
  explicit Reader(std::string_view body)
      : p_(reinterpret_cast<const uint8_t*>(body.data())), end_(p_ + body.size()) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }
  std::string_view Rest() const {
    return std::string_view(reinterpret_cast<const char*>(p_), remaining());
  }

  bool U8(uint8_t* v) {
    if (p_ == end_) return false;
    *v = *p_++;
    return true;
  }
  bool U16(uint16_t* v) {
    if (remaining() < 2) return false;
    *v = static_cast<uint16_t>((p_[0] << 8) | p_[1]);
    p_ += 2;
    return true;
  }
  bool U32(uint32_t* v) {
    if (remaining() < 4) return false;
    *v = (static_cast<uint32_t>(p_[0]) << 24) | (static_cast<uint32_t>(p_[1]) << 16) |
         (static_cast<uint32_t>(p_[2]) << 8) | p_[3];
    p_ += 4;
    return true;
  }
  // False for truncation and for a malformed integer alike: inside a packet
  // both make it a Malformed Packet.
  bool Varint(uint32_t* v) {
    size_t used = 0;
    if (DecodeVarint(p_, remaining(), v, &used) != VarintResult::kOk) return false;
    p_ += used;
    return true;
  }
  bool Bytes(size_t n, std::string_view* out) {
    if (remaining() < n) return false;
    *out = std::string_view(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return true;
  }
  // Binary Data: a two-byte length, then that many bytes.
  bool Binary(std::string_view* out) {
    uint16_t n;
    return U16(&n) && Bytes(n, out);
  }
  // UTF-8 Encoded String. Reports a short read and invalid UTF-8 apart, with
  // the caller's explanations.
  Status String(std::string_view* out, const char* short_why, const char* utf8_why) {
    if (!Binary(out)) return Malformed(short_why);
    if (!IsValidUtf8(*out)) return Malformed(utf8_why);  // [MQTT-1.5.4-1], [MQTT-1.5.4-2]
    return Status::Ok();
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
};

class Writer {
 public:
  explicit Writer(std::string* out) : out_(out) {}

  void Reserve(size_t more) { out_->reserve(out_->size() + more); }
  void U8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void U16(uint16_t v) {
    const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
    out_->append(b, 2);
  }
  void U32(uint32_t v) {
    const char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
                       static_cast<char>(v >> 8), static_cast<char>(v)};
    out_->append(b, 4);
  }
  void Varint(uint32_t v) { AppendVarint(out_, v); }
  void Raw(std::string_view s) { out_->append(s.data(), s.size()); }
  // A UTF-8 Encoded String or Binary Data. REQUIRES: s.size() <= 65535.
  void String(std::string_view s) {
    U16(static_cast<uint16_t>(s.size()));
    Raw(s);
  }
  // The fixed header: type and flags, then the Remaining Length.
  void FixedHeader(PacketType t, uint8_t flags, uint32_t remaining_length) {
    U8(static_cast<uint8_t>((static_cast<uint8_t>(t) << 4) | (flags & 0x0F)));
    Varint(remaining_length);
  }

 private:
  std::string* out_;
};

// Size of a UTF-8 string or binary field on the wire.
constexpr size_t StrSize(std::string_view s) { return 2 + s.size(); }

// Reads a Property Length and the block it announces, and parses it.
inline Status ReadProperties(Reader& r, PropertyContext context, Properties* out) {
  uint32_t len = 0;
  if (!r.Varint(&len)) return Malformed("bad property length");
  std::string_view block;
  if (!r.Bytes(len, &block)) return Malformed("property length overruns packet");
  return ParseProperties(block, context, out);
}

}  // namespace trib::mqtt::wire
