// paho_check: a real Paho MQTT C++ client exercising tributaryd, used by
// test_mqtt_paho.py. One scenario per run; exits 0 when every check passed,
// 1 with a message on stderr otherwise.
//
//   paho_check URI VERSION(3|5) roundtrip   QoS 0/1/2 publish and receive, exact payloads
//   paho_check URI VERSION persist-sub ID   subscribe with a persistent session, disconnect
//   paho_check URI VERSION persist-get ID N resume the session, expect N messages in order
//   paho_check URI VERSION publish TOPIC N  publish N QoS 1 messages "m0".."m{N-1}"
#include <mqtt/client.h>

#include <chrono>
#include <cstdio>
#include <string>

namespace {

int Fail(const std::string& why) {
  fprintf(stderr, "paho_check: %s\n", why.c_str());
  return 1;
}

mqtt::connect_options Options(int version, bool clean, const std::string& id) {
  (void)id;
  auto b = mqtt::connect_options_builder().keep_alive_interval(std::chrono::seconds(30));
  if (version == 5) {
    b.mqtt_version(MQTTVERSION_5).clean_start(clean);
  } else {
    b.mqtt_version(MQTTVERSION_3_1_1).clean_session(clean);
  }
  mqtt::connect_options opts = b.finalize();
  if (version == 5 && !clean) {
    mqtt::properties props;
    props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 3600));
    opts.set_properties(props);
  }
  return opts;
}

int RoundTrip(const std::string& uri, int version) {
  std::string id = "paho-rt-" + std::to_string(version);
  mqtt::client cli(uri, id, mqtt::create_options(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  cli.connect(Options(version, true, id));
  cli.start_consuming();
  cli.subscribe("paho/rt/#", 2);
  for (int qos = 0; qos <= 2; ++qos) {
    std::string topic = "paho/rt/q" + std::to_string(qos);
    std::string payload = std::string("payload\0bin-", 12) + std::to_string(qos);
    cli.publish(mqtt::make_message(topic, payload, qos, false));
    mqtt::const_message_ptr m;
    if (!cli.try_consume_message_for(&m, std::chrono::seconds(10)) || !m)
      return Fail("no message for QoS " + std::to_string(qos));
    if (m->get_topic() != topic) return Fail("topic " + m->get_topic() + " != " + topic);
    if (m->get_payload_str() != payload) return Fail("payload differs at QoS " + std::to_string(qos));
    if (m->get_qos() != qos) return Fail("delivered at QoS " + std::to_string(m->get_qos()));
  }
  cli.disconnect();
  printf("roundtrip ok (MQTT %d)\n", version);
  return 0;
}

int PersistSub(const std::string& uri, int version, const std::string& id) {
  mqtt::client cli(uri, id, mqtt::create_options(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  cli.connect(Options(version, false, id));
  cli.subscribe("paho/persist/#", 1);
  cli.disconnect();
  printf("subscribed\n");
  return 0;
}

int PersistGet(const std::string& uri, int version, const std::string& id, int n) {
  mqtt::client cli(uri, id, mqtt::create_options(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  cli.start_consuming();
  mqtt::connect_response r = cli.connect(Options(version, false, id));
  if (!r.is_session_present()) return Fail("session not present after reconnect");
  for (int i = 0; i < n; ++i) {
    mqtt::const_message_ptr m;
    if (!cli.try_consume_message_for(&m, std::chrono::seconds(10)) || !m)
      return Fail("message " + std::to_string(i) + " of " + std::to_string(n) + " missing");
    std::string want = "m" + std::to_string(i);
    if (m->get_payload_str() != want) return Fail("got " + m->get_payload_str() + ", want " + want);
  }
  cli.disconnect();
  printf("received %d in order\n", n);
  return 0;
}

int Publish(const std::string& uri, int version, const std::string& topic, int n) {
  std::string id = "paho-pub-" + std::to_string(version);
  mqtt::client cli(uri, id, mqtt::create_options(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  cli.connect(Options(version, true, id));
  for (int i = 0; i < n; ++i) cli.publish(mqtt::make_message(topic, "m" + std::to_string(i), 1, false));
  cli.disconnect();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return Fail("usage: paho_check URI VERSION SCENARIO ...");
  std::string uri = argv[1], scenario = argv[3];
  int version = atoi(argv[2]);
  try {
    if (scenario == "roundtrip") return RoundTrip(uri, version);
    if (scenario == "persist-sub" && argc == 5) return PersistSub(uri, version, argv[4]);
    if (scenario == "persist-get" && argc == 6) return PersistGet(uri, version, argv[4], atoi(argv[5]));
    if (scenario == "publish" && argc == 6) return Publish(uri, version, argv[4], atoi(argv[5]));
  } catch (const mqtt::exception& e) {
    return Fail(std::string("Paho: ") + e.what());
  }
  return Fail("unknown scenario " + scenario);
}
