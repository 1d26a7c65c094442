// SUBSCRIBE and UNSUBSCRIBE: filters, options, subscription identifiers,
// shared subscriptions, retained messages on subscribe.
#include "daemon/broker.h"
#include "daemon/mqtt/topic.h"
#include "daemon/replay.h"
#include "platform/clock.h"
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
  // Kafka-style options of MQTT 5 clients, as SUBSCRIBE user properties:
  // replay=<position> and stream-meta=true.
  std::optional<std::string_view> replay_prop;
  bool meta = false;
  for (const mqtt::UserProperty& u : p.props.user_properties) {
    if (u.name == "replay") replay_prop = u.value;
    if (u.name == "stream-meta") meta = u.value == "true" || u.value == "1";
  }
  const mqtt::ReasonCode failed = c->version == mqtt::Version::k5
                                      ? mqtt::ReasonCode::kImplementationSpecificError
                                      : mqtt::ReasonCode::kUnspecifiedError;
  for (const mqtt::Subscription& in : p.subscriptions) {
    std::string_view filter = in.filter, pos_text;
    std::string why;
    bool replay = SplitReplayFilter(in.filter, &pos_text, &filter, &why);
    if (!replay && replay_prop) {
      replay = true;
      pos_text = *replay_prop;
    }
    ReplayPosition pos;
    if (replay && why.empty()) why = ParseReplayPosition(pos_text, clock::WallMs(), &pos);
    if (replay && why.empty() && !mqtt::ValidateTopicFilter(filter).ok()) why = "bad topic filter after $replay/<position>/";
    if (!why.empty()) {
      LOG_INFO("client %s: SUBSCRIBE %.*s refused: %s", c->client_name(),
               static_cast<int>(in.filter.size()), in.filter.data(), why.c_str());
      codes.push_back(failed);
      continue;
    }
    mqtt::SharedFilter sf;
    if (!mqtt::ParseShared(filter, &sf).ok()) {
      codes.push_back(mqtt::ReasonCode::kTopicFilterInvalid);
      continue;
    }
    if (sf.filter.size() > cfg_.limits.max_topic_length ||
        mqtt::CountTopicLevels(sf.filter) > cfg_.limits.max_topic_levels) {
      codes.push_back(c->version == mqtt::Version::k5 ? mqtt::ReasonCode::kTopicFilterInvalid
                                                       : mqtt::ReasonCode::kUnspecifiedError);
      continue;
    }
    std::string key(filter);
    bool exists = s->View().subscriptions.count(key) > 0;
    if (!exists && s->View().subscriptions.size() >= cfg_.limits.max_subscriptions) {
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
    sub.options.stream_meta = meta;
    if (replay) {
      // A consumer group starts there when it is new (has no cursor).
      if (sub.group.empty()) {
        why = ApplyReplay(s, sub.filter, pos);
      } else {
        EnsureGroup(sub, &pos, &why);
      }
      if (!why.empty()) {
        LOG_INFO("client %s: replay %.*s refused: %s", c->client_name(),
                 static_cast<int>(pos_text.size()), pos_text.data(), why.c_str());
        codes.push_back(failed);
        continue;
      }
    }
    AddSubscription(s, sub);  // replaces an existing one [MQTT-3.8.4-3]
    codes.push_back(static_cast<mqtt::ReasonCode>(in.qos));
    if (replay) continue;  // history comes from the log, not from retained messages
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
  Pump(s);  // replayed partitions start reading
}

namespace {
// True when some topic could match both filters.
bool FiltersOverlap(std::string_view a, std::string_view b) {
  size_t i = 0, j = 0;
  while (true) {
    size_t ea = a.find('/', i), eb = b.find('/', j);
    std::string_view la = a.substr(i, ea == std::string_view::npos ? std::string_view::npos : ea - i);
    std::string_view lb = b.substr(j, eb == std::string_view::npos ? std::string_view::npos : eb - j);
    if (la == "#" || lb == "#") return true;
    if (la != "+" && lb != "+" && la != lb) return false;
    bool enda = ea == std::string_view::npos, endb = eb == std::string_view::npos;
    if (enda || endb) {
      if (enda && endb) return true;
      // One ends: the other may continue only with a lone "#".
      std::string_view more = enda ? b.substr(eb + 1) : a.substr(ea + 1);
      return more == "#";
    }
    i = ea + 1;
    j = eb + 1;
  }
}
}  // namespace

const std::string& Broker::StreamName(storage::StreamId id) {
  auto it = stream_names_.find(id);
  if (it != stream_names_.end()) return it->second;
  for (const auto& [sid, spec] : log_->ListStreams()) stream_names_[sid] = spec.name;
  return stream_names_[id];
}

std::string Broker::ReplayTargets(std::string_view filter, const ReplayPosition& pos,
                                  std::vector<ReplayTarget>* targets) {
  bool offset_in_range = false;
  for (size_t i = 0; i < router_.size(); ++i) {
    const config::StreamConfig& sc = router_.stream(i);
    bool overlaps = false;
    for (const std::string& subj : sc.subjects) overlaps = overlaps || FiltersOverlap(subj, filter);
    if (!overlaps) continue;
    for (uint32_t part = 0; part < sc.partitions; ++part) {
      auto info = log_->Info(router_.id(i), part);
      if (!info.ok()) return "cannot read partition: " + info.status().message();
      uint64_t next = info->end_offset;
      int64_t time_ms = 0;
      switch (pos.kind) {
        case ReplayPosition::Kind::kEarliest: next = info->start_offset; break;
        case ReplayPosition::Kind::kLatest: next = info->end_offset; break;
        case ReplayPosition::Kind::kOffset:
          // Below the start (deleted by retention): from the start.
          next = std::max(pos.offset, info->start_offset);
          if (pos.offset <= info->end_offset) offset_in_range = true;
          next = std::min(next, info->end_offset);
          break;
        case ReplayPosition::Kind::kTime:
          // The time index is read by the first catch-up read, off the loop.
          next = info->start_offset;
          time_ms = pos.time_ms;
          break;
      }
      targets->push_back({PartitionKey(router_.id(i), part), next, time_ms});
    }
  }
  if (targets->empty()) return "";
  if (pos.kind == ReplayPosition::Kind::kOffset && !offset_in_range)
    return "offset " + std::to_string(pos.offset) + " is past the end of every partition";
  if (pos.kind == ReplayPosition::Kind::kTime && pos.time_ms > clock::WallMs() + 60000)
    return "the replay time is in the future";
  return "";
}

std::string Broker::ApplyReplay(Session* s, std::string_view filter, const ReplayPosition& pos) {
  std::vector<ReplayTarget> targets;
  std::string why = ReplayTargets(filter, pos, &targets);
  if (!why.empty()) return why;
  if (targets.empty()) return "the filter matches no stream, so there is nothing to replay";
  for (const ReplayTarget& t : targets) {
    Position& p = s->Flow().positions[t.key];
    auto end = routed_end_.find(t.key);
    p.next = t.next;
    p.from_time_ms = t.time_ms;
    p.lagging = true;
    p.ahead.reset();  // records read for the old position
    if (end != routed_end_.end()) p.live_end = std::max(p.live_end, end->second);
  }
  s->positions_dirty = true;
  return "";
}

void Broker::HandleUnsubscribe(Connection* c, uint8_t flags, std::string_view body) {
  mqtt::Unsubscribe p;
  mqtt::Status st = mqtt::DecodeUnsubscribe(flags, body, c->version, &p);
  if (!st.ok()) return ProtocolFailure(c, st);
  Session* s = c->session;
  std::vector<mqtt::ReasonCode> codes;
  for (std::string_view f : p.filters) {
    std::string_view pos, rest;
    std::string why;
    if (SplitReplayFilter(f, &pos, &rest, &why) && why.empty()) f = rest;
    std::string key(f);
    if (s->View().subscriptions.count(key)) {
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
