#include "bridge/template.h"

namespace trib::bridge {
namespace {

constexpr std::string_view kNames[] = {"node_id", "stream", "partition"};

bool Known(std::string_view name) {
  for (std::string_view k : kNames) {
    if (k == name) return true;
  }
  return false;
}

}  // namespace

Status CheckTemplate(std::string_view tmpl) {
  for (size_t i = 0; i < tmpl.size(); i++) {
    if (tmpl[i] == '}')
      return Status(Error::kInvalid, "unmatched '}' in \"" + std::string(tmpl) + "\"");
    if (tmpl[i] != '{') continue;
    size_t close = tmpl.find('}', i);
    if (close == std::string_view::npos)
      return Status(Error::kInvalid, "unclosed '{' in \"" + std::string(tmpl) + "\"");
    std::string_view name = tmpl.substr(i + 1, close - i - 1);
    if (!Known(name)) {
      return Status(Error::kInvalid, "unknown placeholder {" + std::string(name) +
                                         "} (use {node_id}, {stream}, {partition})");
    }
    i = close;
  }
  return Status();
}

std::string ExpandTemplate(std::string_view tmpl, const TemplateVars& vars) {
  std::string out;
  out.reserve(tmpl.size() + 32);
  for (size_t i = 0; i < tmpl.size(); i++) {
    if (tmpl[i] != '{') {
      out.push_back(tmpl[i]);
      continue;
    }
    size_t close = tmpl.find('}', i);
    std::string_view name = tmpl.substr(i + 1, close - i - 1);
    if (name == "node_id") {
      out.append(vars.node_id);
    } else if (name == "stream") {
      out.append(vars.stream);
    } else {
      out.append(std::to_string(vars.partition));
    }
    i = close;
  }
  return out;
}

Status CheckMqttTopicPrefix(std::string_view prefix) {
  for (char c : prefix) {
    if (c == '+' || c == '#' || c == '\0') {
      return Status(Error::kInvalid,
                    "topic prefix \"" + std::string(prefix) + "\" holds a wildcard or NUL");
    }
  }
  if (prefix.size() > 32767) return Status(Error::kInvalid, "topic prefix too long");
  return Status();
}

Status CheckKafkaTopic(std::string_view topic) {
  if (topic.empty() || topic.size() > 249 || topic == "." || topic == "..")
    return Status(Error::kInvalid, "bad Kafka topic name \"" + std::string(topic) + "\"");
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return Status(Error::kInvalid,
                    "Kafka topic \"" + std::string(topic) + "\" may hold only [a-zA-Z0-9._-]");
    }
  }
  return Status();
}

}  // namespace trib::bridge
