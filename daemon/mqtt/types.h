// Types shared by the whole MQTT codec: packet types, protocol versions, MQTT 5
// reason codes, and Status, the result of every decoder and validator.
//
// The codec (daemon/mqtt/) is pure: bytes in, packets out. It does no I/O, no
// logging, keeps no broker state and throws nothing. Every failure is a Status
// carrying the MQTT 5 reason code a peer should be told (the broker maps it to
// a 3.1.1 CONNACK return code or a plain close where 3.1.1 has no codes) and a
// short static string saying why, for logs.
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <cstdint>

namespace trib::mqtt {

// The control packet type, the high nibble of the first fixed-header byte.
enum class PacketType : uint8_t {
  kReserved = 0,
  kConnect = 1,
  kConnack = 2,
  kPublish = 3,
  kPuback = 4,
  kPubrec = 5,
  kPubrel = 6,
  kPubcomp = 7,
  kSubscribe = 8,
  kSuback = 9,
  kUnsubscribe = 10,
  kUnsuback = 11,
  kPingreq = 12,
  kPingresp = 13,
  kDisconnect = 14,
  kAuth = 15,
};

// "CONNECT", "PUBLISH", ...; "RESERVED" for 0.
const char* PacketTypeName(PacketType t);

// The protocol level byte of CONNECT. MQTT 3.1 ("MQIsdp", level 3) is refused.
enum class Version : uint8_t {
  k311 = 4,
  k5 = 5,
};

// Every MQTT 5.0 reason code (section 2.4). Several codes share a number
// (0x00 is Success, Normal disconnection and Granted QoS 0); they are aliases.
enum class ReasonCode : uint8_t {
  kSuccess = 0x00,
  kNormalDisconnection = 0x00,
  kGrantedQos0 = 0x00,
  kGrantedQos1 = 0x01,
  kGrantedQos2 = 0x02,
  kDisconnectWithWillMessage = 0x04,
  kNoMatchingSubscribers = 0x10,
  kNoSubscriptionExisted = 0x11,
  kContinueAuthentication = 0x18,
  kReAuthenticate = 0x19,
  kUnspecifiedError = 0x80,
  kMalformedPacket = 0x81,
  kProtocolError = 0x82,
  kImplementationSpecificError = 0x83,
  kUnsupportedProtocolVersion = 0x84,
  kClientIdentifierNotValid = 0x85,
  kBadUserNameOrPassword = 0x86,
  kNotAuthorized = 0x87,
  kServerUnavailable = 0x88,
  kServerBusy = 0x89,
  kBanned = 0x8A,
  kServerShuttingDown = 0x8B,
  kBadAuthenticationMethod = 0x8C,
  kKeepAliveTimeout = 0x8D,
  kSessionTakenOver = 0x8E,
  kTopicFilterInvalid = 0x8F,
  kTopicNameInvalid = 0x90,
  kPacketIdentifierInUse = 0x91,
  kPacketIdentifierNotFound = 0x92,
  kReceiveMaximumExceeded = 0x93,
  kTopicAliasInvalid = 0x94,
  kPacketTooLarge = 0x95,
  kMessageRateTooHigh = 0x96,
  kQuotaExceeded = 0x97,
  kAdministrativeAction = 0x98,
  kPayloadFormatInvalid = 0x99,
  kRetainNotSupported = 0x9A,
  kQosNotSupported = 0x9B,
  kUseAnotherServer = 0x9C,
  kServerMoved = 0x9D,
  kSharedSubscriptionsNotSupported = 0x9E,
  kConnectionRateExceeded = 0x9F,
  kMaximumConnectTime = 0xA0,
  kSubscriptionIdentifiersNotSupported = 0xA1,
  kWildcardSubscriptionsNotSupported = 0xA2,
};

// The spec's name for a code ("Malformed Packet"); 0x00 is "Success". Unknown
// numbers give "Unknown reason code".
const char* ReasonName(ReasonCode rc);

// True if `rc` is a defined MQTT 5 reason code.
bool IsKnownReasonCode(uint8_t rc);

// True for codes >= 0x80, which mean failure in every packet.
inline bool IsError(ReasonCode rc) { return static_cast<uint8_t>(rc) >= 0x80; }

// MQTT 3.1.1 CONNACK return codes (section 3.2.2.3).
enum class ConnectReturn311 : uint8_t {
  kAccepted = 0,
  kUnacceptableProtocolVersion = 1,
  kIdentifierRejected = 2,
  kServerUnavailable = 3,
  kBadUserNameOrPassword = 4,
  kNotAuthorized = 5,
};

// The 3.1.1 return code that best carries an MQTT 5 CONNACK reason code; this
// is the single place where the broker's 5.0 codes meet 3.1.1 clients.
ConnectReturn311 ToConnectReturn311(ReasonCode rc);
// The inverse, used when a client decodes a 3.1.1 CONNACK.
ReasonCode FromConnectReturn311(ConnectReturn311 rc);

// The outcome of a decoder or validator: OK, or the reason code to report and
// a static explanation. Cheap to return (two words, no allocation).
class [[nodiscard]] Status {
 public:
  constexpr Status() = default;
  // REQUIRES: `why` is a string literal (it is never copied or freed).
  constexpr Status(ReasonCode code, const char* why) : code_(code), why_(why) {}

  static constexpr Status Ok() { return Status(); }
  constexpr bool ok() const { return why_ == nullptr; }
  // kSuccess when ok().
  constexpr ReasonCode code() const { return code_; }
  // "" when ok().
  constexpr const char* why() const { return why_ ? why_ : ""; }

 private:
  ReasonCode code_ = ReasonCode::kSuccess;
  const char* why_ = nullptr;
};

constexpr Status Malformed(const char* why) { return Status(ReasonCode::kMalformedPacket, why); }
constexpr Status ProtocolError(const char* why) { return Status(ReasonCode::kProtocolError, why); }

// The largest value a Variable Byte Integer can hold, and so the largest
// Remaining Length (256 MiB - 1).
inline constexpr uint32_t kMaxVarint = 268435455;

}  // namespace trib::mqtt
