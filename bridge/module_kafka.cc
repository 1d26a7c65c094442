// tributary-kafka.so: the kafka kind (librdkafka). See sink_module.h.
#include "bridge/sink_module.h"

namespace {

const trib::bridge::SinkModule kModule{TRIB_VERSION, &trib::bridge::NewKafkaSink};

}  // namespace

extern "C" const trib::bridge::SinkModule* tributary_sink_module() { return &kModule; }
