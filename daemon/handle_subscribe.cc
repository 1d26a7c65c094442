// SUBSCRIBE and UNSUBSCRIBE: filters, options, subscription identifiers,
// shared subscriptions, retained messages on subscribe.
#include "daemon/broker.h"
#include "daemon/mqtt/topic.h"
#include "platform/log.h"

namespace trib {

void Broker::HandleSubscribe(Connection* c, uint8_t flags, std::string_view body) {
  mqtt::Subscribe p;
  mqtt::Status st = mqtt::DecodeSubscribe(flags, body, c->version, &p);
  if (!st.ok()) return ProtocolFailure(c, st);
  Session* s = c->session;
  uint32_t sub_id = p.props.subscription_identifiers.empty() ? 0 : p.props.subscription_identifiers[0];
  std::vector<mqtt::ReasonCode> codes;
  std::vector<Subscription> to_send_retained;
  for (const mqtt::Subscription& in : p.subscriptions) {
    mqtt::SharedFilter sf;
    if (!mqtt::ParseShared(in.filter, &sf).ok()) {
      codes.push_back(mqtt::ReasonCode::kTopicFilterInvalid);
      continue;
    }
    if (sf.filter.size() > cfg_.limits.max_topic_length ||
        mqtt::CountTopicLevels(sf.filter) > cfg_.limits.max_topic_levels) {
      codes.push_back(c->version == mqtt::Version::k5 ? mqtt::ReasonCode::kTopicFilterInvalid
                                                       : mqtt::ReasonCode::kUnspecifiedError);
      continue;
    }
    std::string key(in.filter);
    bool exists = s->subscriptions.count(key) > 0;
    if (!exists && s->subscriptions.size() >= cfg_.limits.max_subscriptions) {
      codes.push_back(c->version == mqtt::Version::k5 ? mqtt::ReasonCode::kQuotaExceeded
                                                       : mqtt::ReasonCode::kUnspecifiedError);
      continue;
    }
    bool check_read = false;
    if (!AllowSubscribe(s, sf.filter, &check_read)) {
      codes.push_back(c->version == mqtt::Version::k5 ? mqtt::ReasonCode::kNotAuthorized
                                                       : mqtt::ReasonCode::kUnspecifiedError);
      continue;
    }
    Subscription sub;
    sub.options.check_read = check_read;
    sub.filter = std::string(sf.filter);
    sub.group = std::string(sf.group);
    sub.options.qos = in.qos;  // granted as asked: this server supports QoS 2
    sub.options.no_local = in.no_local;
    sub.options.retain_as_published = in.retain_as_published;
    sub.options.retain_handling = in.retain_handling;
    sub.options.subscription_id = sub_id;
    AddSubscription(s, sub);  // replaces an existing one [MQTT-3.8.4-3]
    codes.push_back(static_cast<mqtt::ReasonCode>(in.qos));
    // Retained messages: not for shared subscriptions [MQTT-3.8.4-?], and
    // per Retain Handling [MQTT-3.3.1-9..11].
    if (sub.group.empty() && (sub.options.retain_handling == 0 ||
                              (sub.options.retain_handling == 1 && !exists))) {
      to_send_retained.push_back(sub);
    }
  }
  // [MQTT-3.8.4-1]: SUBACK with one code per filter, same packet id.
  mqtt::EncodeSuback(c->out(), c->version, p.packet_id, codes);
  c->MarkDirty();
  for (const Subscription& sub : to_send_retained) SendRetained(s, sub);
  PersistSession(s);
}

void Broker::HandleUnsubscribe(Connection* c, uint8_t flags, std::string_view body) {
  mqtt::Unsubscribe p;
  mqtt::Status st = mqtt::DecodeUnsubscribe(flags, body, c->version, &p);
  if (!st.ok()) return ProtocolFailure(c, st);
  Session* s = c->session;
  std::vector<mqtt::ReasonCode> codes;
  for (std::string_view f : p.filters) {
    std::string key(f);
    if (s->subscriptions.count(key)) {
      RemoveSubscription(s, key);
      codes.push_back(mqtt::ReasonCode::kSuccess);
    } else {
      codes.push_back(mqtt::ReasonCode::kNoSubscriptionExisted);
    }
  }
  mqtt::EncodeUnsuback(c->out(), c->version, p.packet_id, codes);  // [MQTT-3.10.4-4]
  c->MarkDirty();
  PersistSession(s);
}

}  // namespace trib
