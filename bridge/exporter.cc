#include "bridge/exporter.h"

#include "bridge/runner.h"
#include "bridge/sink.h"
#include "bridge/template.h"

namespace trib::bridge {

const char* ErrorName(Error e) {
  switch (e) {
    case Error::kOk:
      return "ok";
    case Error::kInvalid:
      return "invalid";
    case Error::kConnect:
      return "connect";
    case Error::kUpstream:
      return "upstream";
    case Error::kStorage:
      return "storage";
    case Error::kStopped:
      return "stopped";
  }
  return "unknown";
}

Exporter::~Exporter() = default;

namespace {

using ExporterResult = Result<std::unique_ptr<Exporter>>;

// One PartitionRef per partition of every configured stream, names expanded.
Result<std::vector<PartitionRef>> BuildPartitions(const ExporterOptions& o, storage::Log* log) {
  const bool mqtt = o.kind == "mqtt";
  const std::string& tmpl = mqtt ? o.topic_prefix : o.kafka_topic_template;
  bridge::Status s = CheckTemplate(tmpl);
  if (!s.ok())
    return bridge::Status(Error::kInvalid,
                          (mqtt ? "topic_prefix: " : "kafka_topic_template: ") + s.message());
  auto stored = log->ListStreams();
  std::vector<PartitionRef> parts;
  for (const auto& [id, name] : o.streams) {
    const storage::StreamSpec* spec = nullptr;
    for (const auto& [sid, sspec] : stored) {
      if (sid == id) spec = &sspec;
    }
    if (spec == nullptr || spec->name != name)
      return bridge::Status(Error::kInvalid, "stream \"" + name + "\" is not in the log");
    for (uint32_t p = 0; p < spec->partitions; p++) {
      PartitionRef ref;
      ref.stream = id;
      ref.stream_name = name;
      ref.partition = p;
      ref.target = ExpandTemplate(tmpl, TemplateVars{o.node_id, name, p});
      s = mqtt ? CheckMqttTopicPrefix(ref.target) : CheckKafkaTopic(ref.target);
      if (!s.ok()) return s;
      parts.push_back(std::move(ref));
    }
  }
  return parts;
}

}  // namespace

ExporterResult Exporter::Create(const ExporterOptions& options, storage::Log* log) {
  if (options.name.empty()) return ExporterResult(Error::kInvalid, "exporter needs a name");
  if (options.streams.empty())
    return ExporterResult(Error::kInvalid, "exporter " + options.name + ": no streams");
  Result<std::unique_ptr<Sink>> sink(Error::kInvalid, "");
  if (options.kind == "mqtt") {
    sink = NewMqttSink(options);
  } else if (options.kind == "kafka") {
    sink = NewKafkaSink(options);
  } else {
    return ExporterResult(Error::kInvalid, "exporter " + options.name + ": unknown kind \"" +
                                               options.kind + "\" (mqtt | kafka)");
  }
  if (!sink.ok()) {
    return ExporterResult(Error::kInvalid,
                          "exporter " + options.name + ": " + sink.status().message());
  }
  auto parts = BuildPartitions(options, log);
  if (!parts.ok()) {
    return ExporterResult(Error::kInvalid,
                          "exporter " + options.name + ": " + parts.status().message());
  }
  return std::unique_ptr<Exporter>(
      new Runner(options, log, std::move(sink.value()), std::move(parts.value())));
}

}  // namespace trib::bridge
