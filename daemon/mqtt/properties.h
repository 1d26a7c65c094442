// MQTT 5 properties (section 2.2.2): the Property Length and the list of
// (identifier, value) pairs that follow the variable header of most packets.
//
// Decoding checks every rule the specification gives for the property block:
// an identifier valid in the packet it appears in, values of the right type
// and range, no duplicates of single-valued properties, lengths that stay
// inside the block. Strings and binary values are views into the caller's
// buffer, which must outlive the Properties.
//
// Encoding writes the present properties in identifier order, user properties
// in their original order (a broker must keep it when forwarding, 3.3.2.3.7).
//
// Thread: values and pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/mqtt/types.h"

namespace trib::mqtt {

enum class PropertyId : uint8_t {
  kPayloadFormatIndicator = 0x01,
  kMessageExpiryInterval = 0x02,
  kContentType = 0x03,
  kResponseTopic = 0x08,
  kCorrelationData = 0x09,
  kSubscriptionIdentifier = 0x0B,
  kSessionExpiryInterval = 0x11,
  kAssignedClientIdentifier = 0x12,
  kServerKeepAlive = 0x13,
  kAuthenticationMethod = 0x15,
  kAuthenticationData = 0x16,
  kRequestProblemInformation = 0x17,
  kWillDelayInterval = 0x18,
  kRequestResponseInformation = 0x19,
  kResponseInformation = 0x1A,
  kServerReference = 0x1C,
  kReasonString = 0x1F,
  kReceiveMaximum = 0x21,
  kTopicAliasMaximum = 0x22,
  kTopicAlias = 0x23,
  kMaximumQos = 0x24,
  kRetainAvailable = 0x25,
  kUserProperty = 0x26,
  kMaximumPacketSize = 0x27,
  kWildcardSubscriptionAvailable = 0x28,
  kSubscriptionIdentifierAvailable = 0x29,
  kSharedSubscriptionAvailable = 0x2A,
};

// Where a property block appears; decides which identifiers are allowed.
enum class PropertyContext : uint8_t {
  kConnect,
  kConnack,
  kPublish,
  kWill,  // the Will Properties inside CONNECT
  kAck,   // PUBACK, PUBREC, PUBREL, PUBCOMP
  kSubscribe,
  kSuback,
  kUnsubscribe,
  kUnsuback,
  kDisconnect,
  kAuth,
};

struct UserProperty {
  std::string_view name;
  std::string_view value;
  bool operator==(const UserProperty&) const = default;
};

// Every MQTT 5 property; an engaged optional means "present in the packet".
// For encoding, set what you want sent. Views must outlive the encode call.
struct Properties {
  std::optional<uint8_t> payload_format_indicator;  // 0 bytes, 1 UTF-8
  std::optional<uint32_t> message_expiry_interval;  // seconds
  std::optional<std::string_view> content_type;
  std::optional<std::string_view> response_topic;
  std::optional<std::string_view> correlation_data;
  std::optional<uint32_t> session_expiry_interval;  // seconds
  std::optional<std::string_view> assigned_client_identifier;
  std::optional<uint16_t> server_keep_alive;  // seconds
  std::optional<std::string_view> authentication_method;
  std::optional<std::string_view> authentication_data;
  std::optional<bool> request_problem_information;
  std::optional<uint32_t> will_delay_interval;  // seconds
  std::optional<bool> request_response_information;
  std::optional<std::string_view> response_information;
  std::optional<std::string_view> server_reference;
  std::optional<std::string_view> reason_string;
  std::optional<uint16_t> receive_maximum;  // never 0
  std::optional<uint16_t> topic_alias_maximum;
  std::optional<uint16_t> topic_alias;  // never 0
  std::optional<uint8_t> maximum_qos;   // 0 or 1
  std::optional<bool> retain_available;
  std::optional<uint32_t> maximum_packet_size;  // never 0
  std::optional<bool> wildcard_subscription_available;
  std::optional<bool> subscription_identifier_available;
  std::optional<bool> shared_subscription_available;
  // Repeatable properties. Empty vectors do not allocate; decoding into a
  // reused Properties keeps their capacity.
  std::vector<UserProperty> user_properties;
  std::vector<uint32_t> subscription_identifiers;  // 1..268435455; repeats only in PUBLISH
  // Set by decoding: the property bytes after the Property Length. Ignored
  // by encoding.
  std::string_view raw;

  // Back to "nothing present", keeping vector capacity.
  void Reset();
  // True if no property is present (raw is not considered).
  bool empty() const;
  bool operator==(const Properties& o) const;
};

// Parses a property block (the bytes after the Property Length) found in
// `context`, into `out` (reset first). Errors: Malformed Packet for an
// identifier not allowed in `context` or unknown (5.0 section 2.2.2.2),
// a truncated value, invalid UTF-8; Protocol Error for a duplicate
// single-valued property, a forbidden 0 (Receive Maximum, Maximum Packet Size,
// Topic Alias, Subscription Identifier) or a boolean byte other than 0 or 1.
Status ParseProperties(std::string_view block, PropertyContext context, Properties* out);

// The encoded size of `p` without the Property Length, and with it.
size_t PropertiesSize(const Properties& p);
size_t PropertyBlockSize(const Properties& p);

// Appends the properties of `p` without the Property Length (a raw block as a
// PUBLISH carries, to store or pass through), or with it.
// REQUIRES: every string <= 65535 bytes, values in range.
void AppendProperties(std::string* out, const Properties& p);
void AppendPropertyBlock(std::string* out, const Properties& p);

// Copies a validated PUBLISH property block, leaving out what is per delivery
// (Topic Alias, Subscription Identifier, Message Expiry Interval), so the
// broker can store the rest and pass it on unchanged (3.3.2.3, 3.3.4).
// REQUIRES: `raw` was accepted by ParseProperties.
void AppendForwardableProperties(std::string* out, std::string_view raw);

}  // namespace trib::mqtt
