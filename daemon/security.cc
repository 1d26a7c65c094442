// Security policy on the loop: TLS contexts per listener, the password file,
// the ACL, and the per-client publish rate. Loaded at start and on SIGHUP; a
// reload that fails keeps what is running.
#include "daemon/broker.h"
#include "platform/clock.h"
#include "platform/log.h"
#include "platform/tls_passwd.h"

namespace trib {

std::string Broker::LoadSecurity(const config::Config& cfg, bool reload) {
  auth::PasswordFile passwords;
  bool have_passwords = !cfg.auth.password_file.empty();
  if (have_passwords) {
    auto r = auth::PasswordFile::Load(cfg.auth.password_file);
    if (!r.ok()) return "auth.password_file: " + r.status().message();
    passwords = std::move(r.value());
  }
  auth::Acl acl;
  if (!cfg.auth.acl_file.empty()) {
    auto r = auth::Acl::Load(cfg.auth.acl_file);
    if (!r.ok()) return "auth.acl_file: " + r.status().message();
    acl = std::move(r.value());
  }
  // TLS: create contexts at start; at reload, load new certificates into the
  // existing contexts (open connections keep theirs).
  std::vector<std::unique_ptr<tls::Context>> fresh;
  for (size_t i = 0; i < cfg.listeners.size(); ++i) {
    const config::TlsConfig& t = cfg.listeners[i].tls;
    tls::ServerOptions o{t.cert, t.key, t.ca, t.require_client_cert};
    if (!reload) {
      if (!t.enabled) {
        fresh.push_back(nullptr);
        continue;
      }
      auto ctx = tls::Context::Create(o);
      if (!ctx.ok()) return "listener " + cfg.listeners[i].bind + ": TLS: " + ctx.status().message();
      fresh.push_back(std::move(ctx.value()));
    } else if (i < tls_.size() && tls_[i] && t.enabled) {
      tls::Status st = tls_[i]->Reload(o);
      if (!st.ok()) return "listener " + cfg.listeners[i].bind + ": TLS: " + st.message();
    }
  }
  if (!reload) tls_ = std::move(fresh);
  passwords_ = std::move(passwords);
  verified_passwords_.clear();
  have_passwords_ = have_passwords;
  acl_ = std::move(acl);
  if (have_passwords_) LOG_INFO("password file %s: %zu user(s)", cfg.auth.password_file.c_str(), passwords_.size());
  if (!acl_.allows_everything()) LOG_INFO("ACL file %s: %zu rule(s)", cfg.auth.acl_file.c_str(), acl_.rule_count());
  return "";
}

void Broker::OnTlsFailure(Connection* c, const std::string& why, bool after_handshake) {
  if (!after_handshake) ++stats_.tls_handshake_failures;
  LOG_WARN("TLS %s from %s: %s", after_handshake ? "error" : "handshake failed", c->peer().c_str(),
           why.c_str());
}

// Who the client is. Order: the certificate's name when the listener says
// use_identity_as_username; else the password file when there is one; else
// anonymous access as allowed.
bool Broker::Authenticate(Connection* c, const mqtt::Connect& p, std::string* user, const char** why,
                          mqtt::ReasonCode* rc) {
  const config::TlsConfig& t = c->listener().tls;
  if (t.enabled && t.use_identity_as_username) {
    std::string id = c->PeerIdentity();
    if (id.empty()) {
      *why = "no client certificate identity to use as user name";
      *rc = mqtt::ReasonCode::kNotAuthorized;
      return false;
    }
    *user = id;
    return true;
  }
  if (!p.username) {
    if (cfg_.auth.allow_anonymous) return true;
    *why = "anonymous clients are not allowed";
    *rc = mqtt::ReasonCode::kNotAuthorized;
    return false;
  }
  *user = std::string(*p.username);
  if (!have_passwords_) {
    if (cfg_.auth.allow_anonymous) return true;  // names are taken on trust without a file
    *why = "no password file to check the user against";
    *rc = mqtt::ReasonCode::kNotAuthorized;
    return false;
  }
  std::string_view pw = p.password ? *p.password : std::string_view();
  // PBKDF2 costs ~0.3 ms of loop time: a password that already passed for
  // this user is recognised by its keyed digest instead (cleared on reload).
  std::string digest = tls::VerifiedDigest(*user, pw);
  auto known = verified_passwords_.find(*user);
  if (known != verified_passwords_.end() && !digest.empty() && known->second.size() == digest.size() &&
      tls::ConstantTimeEqual(known->second.data(), digest.data(), digest.size()))
    return true;
  if (!passwords_.Check(*user, pw)) {
    *why = "bad user name or password";
    *rc = mqtt::ReasonCode::kBadUserNameOrPassword;
    return false;
  }
  if (!digest.empty()) verified_passwords_[*user] = std::move(digest);  // one entry per user in the file
  return true;
}

bool Broker::AllowPublish(const Session* s, std::string_view topic) {
  if (acl_.allows_everything()) return true;
  auth::ClientInfo who{s->anonymous ? std::nullopt : std::optional<std::string_view>(s->username),
                       s->client_id};
  if (acl_.Check(who, topic, auth::Access::kWrite)) return true;
  ++stats_.acl_denials;
  LOG_INFO("client %s: publish to %.*s denied by ACL", s->client_id.c_str(),
           static_cast<int>(topic.size()), topic.data());
  return false;
}

bool Broker::AllowSubscribe(const Session* s, std::string_view filter, bool* check_read) {
  *check_read = false;
  if (acl_.allows_everything()) return true;
  auth::ClientInfo who{s->anonymous ? std::nullopt : std::optional<std::string_view>(s->username),
                       s->client_id};
  if (!acl_.Check(who, filter, auth::Access::kSubscribe)) {
    ++stats_.acl_denials;
    LOG_INFO("client %s: subscribe to %.*s denied by ACL", s->client_id.c_str(),
             static_cast<int>(filter.size()), filter.data());
    return false;
  }
  *check_read = acl_.NeedsPerMessageCheck(who, filter);
  return true;
}

bool Broker::AllowRead(SubscriberId id, std::string_view topic) {
  auto it = sessions_by_id_.find(id);
  if (it == sessions_by_id_.end()) return false;
  const Session* s = it->second;
  auth::ClientInfo who{s->anonymous ? std::nullopt : std::optional<std::string_view>(s->username),
                       s->client_id};
  return acl_.Check(who, topic, auth::Access::kRead);
}

// Token bucket per connection: max_publish_rate messages per second with a
// one-second burst. Returns false when the client is over its rate.
bool Broker::ChargeRate(Connection* c) {
  uint64_t rate = cfg_.limits.max_publish_rate;
  if (rate == 0) return true;
  int64_t now = clock::MonoMs();
  if (c->rate_updated_ms == 0) {
    c->rate_tokens = static_cast<double>(rate);
  } else {
    c->rate_tokens = std::min(static_cast<double>(rate),
                              c->rate_tokens + static_cast<double>(now - c->rate_updated_ms) *
                                                   static_cast<double>(rate) / 1000.0);
  }
  c->rate_updated_ms = now;
  if (c->rate_tokens < 1.0) return false;
  c->rate_tokens -= 1.0;
  return true;
}

}  // namespace trib
