// The mqtt exporter's Sink: Paho C++ async_client, QoS 1, MQTT 3.1.1 or 5.0;
// one record per PUBLISH, topic = expanded topic_prefix + the record's topic.
// The connection itself is MqttLink (bridge/mqtt_link.h).
#include <cstdint>

#include "bridge/mqtt_link.h"
#include "daemon/mqtt/properties.h"

namespace trib::bridge {
namespace {

constexpr uint32_t kDefaultWindow = 256;

class MqttSink final : public MqttLink {
 public:
  MqttSink(const ExporterOptions& o, std::string uri, bool tls)
      : MqttLink(o, std::move(uri), tls, o.mqtt_version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1,
                 o.max_inflight ? o.max_inflight : kDefaultWindow) {}

  SendResult Send(const PartitionRef& part, std::span<const storage::Record> records, uint64_t id,
                  uint32_t* taken, std::string* error) override;
  uint64_t WireBytes(const PartitionRef& part, const storage::Record& r) const override {
    return part.target.size() + r.topic.size() + r.payload.size() + r.properties.size() + 16;
  }

 private:
  void AddProperties(const PartitionRef& part, const storage::Record& r,
                     ::mqtt::properties* props) const;
};

void MqttSink::AddProperties(const PartitionRef& part, const storage::Record& r,
                             ::mqtt::properties* props) const {
  using P = ::mqtt::property;
  if (!r.properties.empty()) {
    trib::mqtt::Properties in;
    // The broker validated the block when it stored it; a block that no
    // longer parses is dropped rather than shipped.
    if (trib::mqtt::ParseProperties(r.properties, trib::mqtt::PropertyContext::kPublish, &in)
            .ok()) {
      if (in.payload_format_indicator)
        props->add(P(P::PAYLOAD_FORMAT_INDICATOR, int32_t{*in.payload_format_indicator}));
      if (in.message_expiry_interval)
        props->add(
            P(P::MESSAGE_EXPIRY_INTERVAL, static_cast<int32_t>(*in.message_expiry_interval)));
      if (in.content_type) props->add(P(P::CONTENT_TYPE, std::string(*in.content_type)));
      if (in.response_topic) props->add(P(P::RESPONSE_TOPIC, std::string(*in.response_topic)));
      if (in.correlation_data)
        props->add(P(P::CORRELATION_DATA, std::string(*in.correlation_data)));
      for (const trib::mqtt::UserProperty& up : in.user_properties)
        props->add(P(P::USER_PROPERTY, std::string(up.name), std::string(up.value)));
    }
  }
  props->add(P(P::USER_PROPERTY, "tributary-origin", o_.node_id));
  props->add(P(P::USER_PROPERTY, "tributary-stream", part.stream_name));
  props->add(P(P::USER_PROPERTY, "tributary-partition", std::to_string(part.partition)));
  props->add(P(P::USER_PROPERTY, "tributary-offset", std::to_string(r.offset)));
}

Sink::SendResult MqttSink::Send(const PartitionRef& part, std::span<const storage::Record> records,
                                uint64_t id, uint32_t* taken, std::string* error) {
  const storage::Record& r = records[0];
  ::mqtt::properties props;
  try {
    if (version_ == MQTTVERSION_5) AddProperties(part, r, &props);
  } catch (const std::exception& e) {  // Paho's property constructors may throw
    *error = std::string("properties: ") + e.what();
    return SendResult::kFailed;
  }
  std::string topic = part.target;
  topic.append(r.topic);
  if (!Publish(topic, ::mqtt::binary_ref(r.payload.data(), r.payload.size()), r.retain,
               std::move(props), id, error))
    return SendResult::kFailed;
  *taken = 1;
  return SendResult::kOk;
}

}  // namespace

Result<std::unique_ptr<Sink>> NewMqttSink(const ExporterOptions& options) {
  if (options.mqtt_version != 3 && options.mqtt_version != 4 && options.mqtt_version != 5) {
    return Result<std::unique_ptr<Sink>>(Error::kInvalid, "mqtt_version must be 3 (3.1.1) or 5");
  }
  bool tls = false;
  auto uri = LinkUri(options, &tls);
  if (!uri.ok()) return uri.status();
  return std::unique_ptr<Sink>(new MqttSink(options, std::move(uri.value()), tls));
}

}  // namespace trib::bridge
