// The fixed header (section 2.2 of both specifications): finds where one
// packet ends in a stream of bytes, before any of its body is decoded.
//
// The broker calls ReadFrame on its input buffer, and for each kPacket hands
// FrameBody() to the decoder for frame.type, then advances by total_len:
//
//   Frame f = ReadFrame(p, n, max);
//   if (f.status == FrameStatus::kPacket) { DecodePublish(f.flags, FrameBody(p, f), v, &pub); }
//
// Thread: pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "daemon/mqtt/types.h"

namespace trib::mqtt {

enum class FrameStatus : uint8_t {
  kNeedMore,   // only part of a packet is buffered; read more (total_len is set once
               // the fixed header is complete, 0 before)
  kPacket,     // a whole packet: type, flags, header_len, remaining_length, total_len
  kMalformed,  // reason and why are set; close the connection
  kTooLarge,   // the packet would exceed max_packet_size; nothing more needs buffering
};

struct Frame {
  FrameStatus status = FrameStatus::kNeedMore;
  PacketType type = PacketType::kReserved;
  uint8_t flags = 0;       // the low nibble of the first byte
  uint8_t header_len = 0;  // 2..5: the first byte and the Remaining Length
  uint32_t remaining_length = 0;
  uint32_t total_len = 0;  // header_len + remaining_length
  // Set with kMalformed (kMalformedPacket) and kTooLarge (kPacketTooLarge).
  ReasonCode reason = ReasonCode::kSuccess;
  const char* why = "";
};

// Reads the fixed header at data[0..len). Reports kTooLarge as soon as the
// Remaining Length is known and header + body would exceed max_packet_size
// (before the body arrives), kMalformed for a Remaining Length over four bytes
// or not minimally encoded, a reserved packet type 0, or reserved flag bits
// wrong for the type [MQTT-2.2.2-1], [MQTT-2.2.2-2], including PUBLISH QoS 3
// [MQTT-3.3.1-4]; kNeedMore until the whole packet is in the buffer.
// Versions do not differ here: AUTH (15) is framed in both, and rejected by
// DecodeAuth on a 3.1.1 connection.
Frame ReadFrame(const uint8_t* data, size_t len, uint32_t max_packet_size);

// The packet body (variable header and payload) of a kPacket frame.
inline std::string_view FrameBody(const uint8_t* data, const Frame& f) {
  return std::string_view(reinterpret_cast<const char*>(data) + f.header_len, f.remaining_length);
}

// The flags every packet type but PUBLISH must carry (0b0010 for PUBREL,
// SUBSCRIBE, UNSUBSCRIBE; 0 otherwise).
constexpr uint8_t RequiredFlags(PacketType t) {
  return (t == PacketType::kPubrel || t == PacketType::kSubscribe || t == PacketType::kUnsubscribe)
             ? 0x02
             : 0x00;
}

}  // namespace trib::mqtt
