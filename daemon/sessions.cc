// Sessions: creation, takeover, persistence across restarts (subscriptions in
// the `sessions` table, stream positions as cursors), expiry and wills.
#include <nlohmann/json.hpp>

#include <algorithm>

#include "daemon/broker.h"
#include "platform/clock.h"
#include "platform/log.h"

namespace trib {

const SessionFlow Session::kNoFlow;

Session* Broker::FindSession(const std::string& client_id) {
  auto it = sessions_.find(client_id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

Session* Broker::CreateSession(const std::string& client_id) {
  auto s = std::make_unique<Session>();
  s->id = next_session_id_++;
  s->client_id = client_id;
  Session* raw = s.get();
  sessions_by_id_[raw->id] = raw;
  sessions_.emplace(std::string_view(raw->client_id), std::move(s));
  return raw;
}

void Broker::AddSubscription(Session* s, const Subscription& sub) {
  std::string key = sub.group.empty() ? sub.filter : "$share/" + sub.group + "/" + sub.filter;
  if (sub.group.empty()) {
    tree_.Subscribe(sub.filter, s->id, sub.options);
  } else {
    tree_.SubscribeShared(sub.group, sub.filter, s->id, sub.options);
  }
  bool added = s->View().subscriptions.count(key) == 0;
  s->Flow().subscriptions[key] = sub;
  if (!sub.group.empty()) GroupSubscribed(s, sub, added);
}

void Broker::RemoveSubscription(Session* s, const std::string& key) {
  SessionFlow* flow = s->FlowIfAny();
  if (!flow) return;
  auto it = flow->subscriptions.find(key);
  if (it == flow->subscriptions.end()) return;
  if (it->second.group.empty()) {
    tree_.Unsubscribe(it->second.filter, s->id);
  } else {
    tree_.UnsubscribeShared(it->second.group, it->second.filter, s->id);
    GroupUnsubscribed(s, it->second);
  }
  flow->subscriptions.erase(it);
}

void Broker::DestroySession(Session* s, bool forget_persisted) {
  std::vector<std::string> keys;
  for (const auto& [k, sub] : s->View().subscriptions) keys.push_back(k);
  for (const std::string& k : keys) RemoveSubscription(s, k);
  if (forget_persisted && s->stored) {
    batch_.DeleteSession(s->client_id);
    batch_.DeleteCursors(CursorName(s->client_id));
  }
  if (s->conn) s->conn->session = nullptr;
  sessions_by_id_.erase(s->id);
  sessions_.erase(sessions_.find(s->client_id));  // frees s (and the key's storage)
}

void Broker::Detach(Session* s, bool publish_will) {
  s->conn = nullptr;
  s->offline_since_ms = clock::MonoMs();
  // An offline member holds no partitions: they move to the live members,
  // and come back (rebalanced) when it reconnects.
  LeaveGroups(s);
  if (!s->persistent()) {
    if (publish_will && s->will) PublishWill(s);
    DestroySession(s, /*forget_persisted=*/true);
    return;
  }
  // From now on every stream record is read back from the log on resume:
  // fix a position for each partition the session has not seen yet, at the
  // end the loop has routed so far.
  for (const auto& [key, end] : routed_end_) {
    auto [it, added] = s->Flow().positions.try_emplace(key);
    if (added) it->second.next = end;
    it->second.lagging = true;
  }
  // Records read ahead for the connection are read again on resume; an
  // offline session holds none of the read-ahead budget.
  for (auto& [key, p] : s->Flow().positions) p.ahead.reset();
  s->positions_dirty = true;
  PersistCursors(s);
  if (!publish_will || !s->will) {
    s->will.reset();
    return;
  }
  uint32_t delay = std::min(s->will->delay, s->expiry_interval);
  if (delay == 0) {
    PublishWill(s);
  } else {
    s->will->due_ms = s->offline_since_ms + int64_t{delay} * 1000;  // [MQTT-3.1.3-9]
  }
}

void Broker::ResumeSession(Session* s) {
  Connection* c = s->conn;
  // [MQTT-4.4.0-1]: resend unacknowledged PUBLISH (DUP=1, same packet ids)
  // and PUBREL, in their original order.
  for (const OutFlight& f : s->View().inflight) {
    if (f.pubrec_received) {
      mqtt::EncodeAck(c->out(), c->version, mqtt::PacketType::kPubrel, f.packet_id);
    } else {
      Delivery d = f.d;
      Send(s, std::move(d), /*dup=*/true, f.packet_id);
    }
  }
  c->MarkDirty();
  JoinGroups(s);
  Pump(s);
}

void Broker::PersistSession(Session* s) {
  if (!s->persistent()) {
    if (s->stored) {
      batch_.DeleteSession(s->client_id);
      batch_.DeleteCursors(CursorName(s->client_id));
      s->stored = false;
    }
    return;
  }
  nlohmann::json j;
  j["v"] = 1;
  j["expiry"] = s->expiry_interval;
  j["user"] = s->username;
  j["auth"] = !s->anonymous;
  nlohmann::json subs = nlohmann::json::array();
  for (const auto& [k, sub] : s->View().subscriptions) {
    subs.push_back({{"f", sub.filter}, {"g", sub.group}, {"q", sub.options.qos},
                    {"nl", sub.options.no_local}, {"rap", sub.options.retain_as_published},
                    {"rh", sub.options.retain_handling}, {"id", sub.options.subscription_id},
                    {"cr", sub.options.check_read}});
  }
  j["subs"] = subs;
  const Qos2Ids* q2 = s->qos2();
  if (q2 && (!q2->in.empty() || !q2->restored.empty())) {
    std::vector<uint16_t> ids(q2->in.begin(), q2->in.end());
    ids.insert(ids.end(), q2->restored.begin(), q2->restored.end());
    std::sort(ids.begin(), ids.end());
    j["q2"] = ids;
  }
  batch_.PutSession(s->client_id, j.dump());
  s->stored = true;
  s->qos2_dirty = false;
}

void Broker::MarkQos2Dirty(Session* s) {
  if (s->qos2_dirty || !s->persistent()) return;
  s->qos2_dirty = true;
  qos2_dirty_.push_back(s->id);
}

// Once per submission, so a publisher's burst costs one session write.
void Broker::PersistQos2Ids() {
  for (SubscriberId id : qos2_dirty_) {
    auto it = sessions_by_id_.find(id);
    if (it != sessions_by_id_.end() && it->second->qos2_dirty) PersistSession(it->second);
  }
  qos2_dirty_.clear();
  // PUBRECs waiting for this submission need one: when their sessions were
  // written in an earlier one, write again rather than hold them back.
  if (batch_.empty()) {
    for (const auto& [conn_id, seq] : pending_.qos2_acks) {
      Connection* c = FindConnection(conn_id);
      if (c && c->session && c->session->persistent()) {
        PersistSession(c->session);
        break;
      }
    }
  }
}

void Broker::PersistCursors(Session* s) {
  if (!s->positions_dirty || !s->persistent()) return;
  std::unordered_map<uint64_t, uint64_t> cursor;
  for (const auto& [key, p] : s->View().positions) cursor[key] = p.next;
  // Unacknowledged deliveries must come again after a restart.
  for (const OutFlight& f : s->View().inflight) {
    const Message& m = *f.d.msg;
    if (!m.stored || f.d.group) continue;  // a group's deliveries move its own cursor
    uint64_t key = PartitionKey(m.stream, m.partition);
    auto it = cursor.find(key);
    if (it != cursor.end() && m.offset < it->second) it->second = m.offset;
  }
  std::string name = CursorName(s->client_id);
  for (const auto& [key, next] : cursor) {
    batch_.CommitCursor(name, static_cast<storage::StreamId>(key >> 32), static_cast<uint32_t>(key),
                        next);
  }
  s->positions_dirty = false;
}

void Broker::LoadSessions() {
  size_t n = 0;
  storage::Status st = log_->ForEachSession([&](std::string_view id, std::string_view value) {
    nlohmann::json j = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object() || j.value("v", 0) != 1) {
      LOG_WARN("stored session %.*s is unreadable; ignoring it", static_cast<int>(id.size()), id.data());
      return;
    }
    Session* s = CreateSession(std::string(id));
    s->expiry_interval = j.value("expiry", 0u);
    s->username = j.value("user", "");
    s->anonymous = !j.value("auth", false);
    s->offline_since_ms = clock::MonoMs();
    s->stored = true;
    if (j.contains("q2") && j["q2"].is_array()) {
      for (const auto& e : j["q2"]) {
        if (e.is_number_unsigned() && e.get<uint64_t>() >= 1 && e.get<uint64_t>() <= 65535)
          s->Qos2().restored.insert(static_cast<uint16_t>(e.get<uint64_t>()));
      }
    }
    if (j.contains("subs") && j["subs"].is_array()) {
      for (const auto& e : j["subs"]) {
        if (!e.is_object()) continue;
        Subscription sub;
        sub.filter = e.value("f", "");
        sub.group = e.value("g", "");
        sub.options.qos = e.value("q", 0);
        sub.options.no_local = e.value("nl", false);
        sub.options.retain_as_published = e.value("rap", false);
        sub.options.retain_handling = e.value("rh", 0);
        sub.options.subscription_id = e.value("id", 0u);
        sub.options.check_read = e.value("cr", false);
        if (!sub.filter.empty()) AddSubscription(s, sub);
      }
    }
    for (const storage::Log::CursorEntry& ce : log_->ListCursors(CursorName(s->client_id))) {
      Position& p = s->Flow().positions[PartitionKey(ce.stream, ce.partition)];
      p.next = ce.next_offset;
      p.lagging = true;
    }
    ++n;
  });
  if (!st.ok()) LOG_ERROR("loading sessions: %s", st.message().c_str());
  if (n) LOG_INFO("restored %zu persistent session(s)", n);
  // Where each partition ends now: positions of sessions that go offline
  // start there for partitions they have not seen.
  for (const auto& [id, spec] : log_->ListStreams()) {
    for (uint32_t p = 0; p < spec.partitions; ++p) {
      auto info = log_->Info(id, p);
      if (info.ok()) routed_end_[PartitionKey(id, p)] = info->end_offset;
    }
  }
}

void Broker::LoadRetained() {
  size_t n = 0;
  storage::Status st = log_->ForEachRetained([&](std::string_view topic, std::string_view v) {
    if (v.size() < 13) return;
    auto m = std::make_shared<Message>();
    m->topic = std::string(topic);
    m->qos = static_cast<uint8_t>(v[0]) & 3;
    int64_t exp = 0;
    for (int i = 1; i <= 8; ++i) exp = (exp << 8) | static_cast<uint8_t>(v[i]);
    uint32_t plen = 0;
    for (int i = 9; i <= 12; ++i) plen = (plen << 8) | static_cast<uint8_t>(v[i]);
    if (plen > v.size() - 13) return;
    m->expires_at_ms = exp;
    m->properties = std::string(v.substr(13, plen));
    m->payload = std::string(v.substr(13 + plen));
    m->retain = true;
    retained_.Set(topic, m);
    ++n;
  });
  if (!st.ok()) LOG_ERROR("loading retained messages: %s", st.message().c_str());
  if (n) LOG_INFO("restored %zu retained message(s)", n);
}

void Broker::ExpireSessions(int64_t now) {
  std::vector<Session*> ended;
  for (auto& [id, sp] : sessions_) {
    Session* s = sp.get();
    if (s->conn) {
      PersistCursors(s);
      continue;
    }
    if (s->will && s->will->due_ms && now >= s->will->due_ms) PublishWill(s);
    if (s->expiry_interval != 0xFFFFFFFFu &&
        now - s->offline_since_ms >= int64_t{s->expiry_interval} * 1000) {
      ended.push_back(s);
    }
  }
  for (Session* s : ended) {
    LOG_DEBUG("session %s expired", s->client_id.c_str());
    if (s->will) PublishWill(s);  // the session ends before the will delay
    DestroySession(s, /*forget_persisted=*/true);
  }
}

}  // namespace trib
