// Message: one application message as the broker routes it. Immutable once
// shared; held by reference count in subscriber queues and in-flight windows.
//
// Thread: loop only (the reference count is not shared across threads).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "storage/log.h"

namespace trib {

using SubscriberId = uint64_t;

struct Message {
  std::string topic;
  std::string payload;
  // MQTT 5 properties to forward, encoded: payload format, content type,
  // response topic, correlation data, user properties. Never the topic alias,
  // subscription identifiers or message expiry (those are per delivery).
  std::string properties;
  uint8_t qos = 0;
  bool retain = false;
  // Message Expiry Interval: 0 = none; else the wall-clock ms when it expires.
  int64_t expires_at_ms = 0;
  SubscriberId origin = 0;  // the publishing session, for No Local
  // Set when the message is a record of a stream, once it is committed.
  bool stored = false;
  // A record of a live_delivery = on_receipt stream (stream and partition are
  // set): it may be delivered before it is committed.
  bool on_receipt = false;
  storage::StreamId stream = 0;
  uint32_t partition = 0;
  uint64_t offset = 0;
  int64_t timestamp_ms = 0;
};

using MessagePtr = std::shared_ptr<const Message>;

}  // namespace trib
