// Exporter kinds live in modules (shared objects loaded on first use), so a
// daemon loads Paho MQTT, librdkafka and, through them, OpenSSL only when an
// exporter of that kind is configured: about 2.4 MiB of resident memory that
// a gateway without exporters, or with only one kind, does not pay.
//
//   kind "mqtt", "peer": tributary-mqtt.so  (bridge/module_mqtt.cc)
//   kind "kafka":        tributary-kafka.so (bridge/module_kafka.cc)
//
// Modules are looked up in ../lib/tributary next to the running executable:
// /usr/sbin/tributaryd -> /usr/lib/tributary, build/<preset>/bin/tributaryd
// -> build/<preset>/lib/tributary. A module is built from the same tree as
// the daemon; one of another version is refused.
//
// Thread: any (loading is serialized); a loaded module stays loaded.
#pragma once

#include <memory>
#include <string>

#include "bridge/sink.h"

namespace trib::bridge {

struct SinkModule {
  const char* version;  // TRIB_VERSION of the build that made the module
  // A Sink for options.kind (one of the kinds the module serves).
  Result<std::unique_ptr<Sink>> (*new_sink)(const ExporterOptions& options);
};

// The module serving `kind`, loaded on first use; an error names the file
// and the loader's reason. Unknown kinds are the caller's to refuse.
Result<const SinkModule*> LoadSinkModule(const std::string& kind);

}  // namespace trib::bridge

// Each module defines this one symbol.
extern "C" const trib::bridge::SinkModule* tributary_sink_module();
