#include "bridge/exporter.h"

#include "bridge/runner.h"
#include "bridge/sink.h"
#include "bridge/sink_module.h"
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

int64_t PriorityOf(const ExporterOptions& o, const std::string& stream) {
  auto it = o.stream_priority.find(stream);
  return it == o.stream_priority.end() ? o.priority : it->second;
}

PartitionRef MakeRef(const ExporterOptions& o, storage::StreamId id, const std::string& name,
                     uint32_t partitions, uint32_t p) {
  PartitionRef ref;
  ref.stream = id;
  ref.stream_name = name;
  ref.partition = p;
  ref.partitions = partitions;
  ref.priority = PriorityOf(o, name);
  return ref;
}

}  // namespace

std::string ReplicateTopic(std::string_view node_id, std::string_view stream, uint32_t partition) {
  std::string_view origin = node_id;
  const size_t dot = stream.find('.');
  if (dot != std::string_view::npos) {  // replicated here: keep its origin
    origin = stream.substr(0, dot);
    stream = stream.substr(dot + 1);
  }
  std::string t = "$replicate/";
  t.append(origin).append("/").append(stream).append("/").append(std::to_string(partition));
  return t;
}

std::vector<PartitionRef> NewReplicatedPartitions(const ExporterOptions& o, const storage::Log& log,
                                                  const std::vector<PartitionRef>& have) {
  std::vector<PartitionRef> out;
  for (const auto& [id, spec] : log.ListStreams()) {
    if (spec.name.find('.') == std::string::npos) continue;
    bool known = false;
    for (const PartitionRef& r : have) known = known || r.stream == id;
    if (known) continue;
    for (uint32_t p = 0; p < spec.partitions; p++) {
      PartitionRef ref = MakeRef(o, id, spec.name, spec.partitions, p);
      ref.target = ReplicateTopic(o.node_id, spec.name, p);
      out.push_back(std::move(ref));
    }
  }
  return out;
}

namespace {

using ExporterResult = Result<std::unique_ptr<Exporter>>;

// One PartitionRef per partition of every configured stream, names expanded.
Result<std::vector<PartitionRef>> BuildPartitions(const ExporterOptions& o, storage::Log* log) {
  const bool mqtt = o.kind == "mqtt", peer = o.kind == "peer";
  const std::string& tmpl = mqtt ? o.topic_prefix : o.kafka_topic_template;
  bridge::Status s = peer ? bridge::Status() : CheckTemplate(tmpl);
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
      PartitionRef ref = MakeRef(o, id, name, spec->partitions, p);
      if (peer) {
        ref.target = ReplicateTopic(o.node_id, name, p);
        parts.push_back(std::move(ref));
        continue;
      }
      ref.target = ExpandTemplate(tmpl, TemplateVars{o.node_id, name, p});
      s = mqtt ? CheckMqttTopicPrefix(ref.target) : CheckKafkaTopic(ref.target);
      if (!s.ok()) return s;
      parts.push_back(std::move(ref));
    }
  }
  if (peer && o.forward_replicated) {
    for (PartitionRef& ref : NewReplicatedPartitions(o, *log, parts)) parts.push_back(std::move(ref));
  }
  return parts;
}

}  // namespace

ExporterResult Exporter::Create(const ExporterOptions& options, storage::Log* log) {
  if (options.name.empty()) return ExporterResult(Error::kInvalid, "exporter needs a name");
  if (options.streams.empty() && !options.forward_replicated)
    return ExporterResult(Error::kInvalid, "exporter " + options.name + ": no streams");
  if (options.forward_replicated && options.kind != "peer")
    return ExporterResult(Error::kInvalid,
                          "exporter " + options.name + ": forward_replicated needs kind peer");
  if (options.kind != "mqtt" && options.kind != "kafka" && options.kind != "peer") {
    return ExporterResult(Error::kInvalid, "exporter " + options.name + ": unknown kind \"" +
                                               options.kind + "\" (peer | mqtt | kafka)");
  }
  Result<const SinkModule*> module = LoadSinkModule(options.kind);
  if (!module.ok()) {
    return ExporterResult(Error::kInvalid,
                          "exporter " + options.name + ": " + module.status().message());
  }
  Result<std::unique_ptr<Sink>> sink = module.value()->new_sink(options);
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
