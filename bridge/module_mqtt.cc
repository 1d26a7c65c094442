// tributary-mqtt.so: the mqtt and peer kinds (Paho MQTT C++). See sink_module.h.
#include "bridge/sink_module.h"

namespace {

trib::bridge::Result<std::unique_ptr<trib::bridge::Sink>> NewSink(
    const trib::bridge::ExporterOptions& options) {
  if (options.kind == "peer") return trib::bridge::NewPeerSink(options);
  return trib::bridge::NewMqttSink(options);
}

const trib::bridge::SinkModule kModule{TRIB_VERSION, &NewSink};

}  // namespace

extern "C" const trib::bridge::SinkModule* tributary_sink_module() { return &kModule; }
