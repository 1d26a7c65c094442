// Name templates: "{node_id}", "{stream}" and "{partition}" in an MQTT topic
// prefix or a Kafka topic name, expanded once per (stream, partition).
//
// Thread: pure functions; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bridge/exporter.h"

namespace trib::bridge {

struct TemplateVars {
  std::string_view node_id;
  std::string_view stream;
  uint32_t partition = 0;
};

// OK when every '{' opens a known placeholder that is closed by '}' and no
// '}' stands alone. The message names the bad placeholder.
Status CheckTemplate(std::string_view tmpl);
// REQUIRES: CheckTemplate(tmpl).ok().
std::string ExpandTemplate(std::string_view tmpl, const TemplateVars& vars);

// An expanded MQTT topic prefix must not hold wildcards or NUL (a topic name
// may not, [MQTT-4.7.3-2], [MQTT-4.7.1-1]).
Status CheckMqttTopicPrefix(std::string_view prefix);
// Kafka topic names: 1..249 of [a-zA-Z0-9._-], not "." or "..".
Status CheckKafkaTopic(std::string_view topic);

}  // namespace trib::bridge
