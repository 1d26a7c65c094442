#include "platform/tls.h"

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_internal.h>  // MBEDTLS_SSL_IN_BUFFER_LEN, MBEDTLS_SSL_OUT_BUFFER_LEN
#include <mbedtls/x509_crt.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <sys/mman.h>
#include <unistd.h>

#include "platform/log.h"

namespace trib::tls {

// ECDHE (forward secrecy) with AEAD ciphers, TLS 1.2 only. ECDSA first: a
// gateway with an EC key does cheaper handshakes. Which of the two halves is
// usable depends on the server key's type.
static const int kCipherSuites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    0,
};

static const mbedtls_ecp_group_id kCurves[] = {
    MBEDTLS_ECP_DP_CURVE25519, MBEDTLS_ECP_DP_SECP256R1, MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_SECP521R1,  MBEDTLS_ECP_DP_NONE,
};

static const int kSigHashes[] = {MBEDTLS_MD_SHA512, MBEDTLS_MD_SHA384, MBEDTLS_MD_SHA256,
                                 MBEDTLS_MD_NONE};

const char* ErrorName(Error e) {
  switch (e) {
    case Error::kOk:
      return "ok";
    case Error::kConfig:
      return "config";
    case Error::kHandshake:
      return "handshake";
    case Error::kProtocol:
      return "protocol";
    case Error::kClosed:
      return "closed";
  }
  return "?";
}

namespace {

// mbedTLS's text for an error code, with the code: "X509 - ... (-0x2700)".
std::string MbedError(int ret) {
  char buf[160];
  mbedtls_strerror(ret, buf, sizeof buf);
  char code[24];
  std::snprintf(code, sizeof code, " (-0x%04X)", static_cast<unsigned>(-ret));
  return std::string(buf) + code;
}

// "" if `path` can be opened for reading, else the OS reason. mbedTLS reports
// every open failure as the same "read/write of file failed".
std::string CheckReadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return std::strerror(errno);
  std::fclose(f);
  return "";
}

}  // namespace

// The entropy source and the CTR_DRBG seeded from it, shared by every
// configuration and session of one Context. Not movable: the DRBG points at
// the entropy context.
struct Rng {
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  Rng(const Rng&) = delete;
  Rng& operator=(const Rng&) = delete;

  Status Seed() {
    static const char kPersonalization[] = "tributary-tls";
    const int ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                          reinterpret_cast<const unsigned char*>(kPersonalization),
                                          sizeof kPersonalization - 1);
    if (ret != 0) return Status(Error::kConfig, "seeding the random generator: " + MbedError(ret));
    return Status::Ok();
  }

  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

// One loaded set of certificate, key and CA, with the mbedTLS configuration
// that points at them. Immutable once loaded; sessions share it.
struct Config {
  Config() {
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&cert);
    mbedtls_x509_crt_init(&ca);
    mbedtls_pk_init(&key);
  }
  ~Config() {
    mbedtls_ssl_config_free(&conf);
    mbedtls_pk_free(&key);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&cert);
  }
  Config(const Config&) = delete;
  Config& operator=(const Config&) = delete;

  Status LoadFiles(const ServerOptions& o);
  Status Configure(const ServerOptions& o);

  std::shared_ptr<Rng> rng;  // outlives `conf`, which points at it
  mbedtls_ssl_config conf;
  mbedtls_x509_crt cert;
  mbedtls_x509_crt ca;
  mbedtls_pk_context key;
  bool has_ca = false;
};

Status Config::LoadFiles(const ServerOptions& o) {
  if (o.cert_file.empty()) return Status(Error::kConfig, "tls: cert_file is not set");
  if (o.key_file.empty()) return Status(Error::kConfig, "tls: key_file is not set");
  if (o.require_client_cert && o.ca_file.empty()) {
    return Status(Error::kConfig, "tls: require_client_cert needs a ca_file to verify against");
  }
  std::string why = CheckReadable(o.cert_file);
  if (!why.empty()) return Status(Error::kConfig, "cert_file " + o.cert_file + ": " + why);
  int ret = mbedtls_x509_crt_parse_file(&cert, o.cert_file.c_str());
  if (ret != 0) {
    const std::string reason =
        ret > 0 ? std::to_string(ret) + " certificate(s) could not be parsed" : MbedError(ret);
    return Status(Error::kConfig, "cert_file " + o.cert_file + ": " + reason);
  }
  if (mbedtls_x509_time_is_past(&cert.valid_to)) {
    LOG_WARN("tls: cert_file %s has expired; clients will reject it", o.cert_file.c_str());
  }

  why = CheckReadable(o.key_file);
  if (!why.empty()) return Status(Error::kConfig, "key_file " + o.key_file + ": " + why);
  ret = mbedtls_pk_parse_keyfile(&key, o.key_file.c_str(), nullptr);
  if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
    return Status(Error::kConfig, "key_file " + o.key_file +
                                      ": the key is encrypted; use an unencrypted key "
                                      "readable only by the daemon");
  }
  if (ret != 0) return Status(Error::kConfig, "key_file " + o.key_file + ": " + MbedError(ret));
  ret = mbedtls_pk_check_pair(&cert.pk, &key);
  if (ret != 0) {
    return Status(Error::kConfig, "key_file " + o.key_file + " does not match cert_file " +
                                      o.cert_file + ": " + MbedError(ret));
  }

  if (!o.ca_file.empty()) {
    why = CheckReadable(o.ca_file);
    if (!why.empty()) return Status(Error::kConfig, "ca_file " + o.ca_file + ": " + why);
    ret = mbedtls_x509_crt_parse_file(&ca, o.ca_file.c_str());
    if (ret < 0) return Status(Error::kConfig, "ca_file " + o.ca_file + ": " + MbedError(ret));
    if (ret > 0) {
      // A bundle may hold a certificate mbedTLS cannot parse; the rest still work.
      LOG_WARN("tls: ca_file %s: %d certificate(s) skipped (could not be parsed)",
               o.ca_file.c_str(), ret);
    }
    if (ca.raw.len == 0) {
      return Status(Error::kConfig, "ca_file " + o.ca_file + ": no usable certificate");
    }
    has_ca = true;
  }
  return Status::Ok();
}

Status Config::Configure(const ServerOptions& o) {
  int ret = mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                        MBEDTLS_SSL_PRESET_DEFAULT);
  if (ret != 0) return Status(Error::kConfig, "tls: config defaults: " + MbedError(ret));
  mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &rng->drbg);
  mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
  mbedtls_ssl_conf_ciphersuites(&conf, kCipherSuites);
  mbedtls_ssl_conf_curves(&conf, kCurves);
  mbedtls_ssl_conf_sig_hashes(&conf, kSigHashes);
  mbedtls_ssl_conf_renegotiation(&conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
  ret = mbedtls_ssl_conf_own_cert(&conf, &cert, &key);
  if (ret != 0) return Status(Error::kConfig, "tls: own certificate: " + MbedError(ret));
  if (has_ca) {
    mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
    mbedtls_ssl_conf_authmode(
        &conf, o.require_client_cert ? MBEDTLS_SSL_VERIFY_REQUIRED : MBEDTLS_SSL_VERIFY_OPTIONAL);
  } else {
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_NONE);
  }
  return Status::Ok();
}

namespace {

BasicResult<std::shared_ptr<const Config>, Error> LoadConfig(const ServerOptions& o,
                                                             std::shared_ptr<Rng> rng) {
  auto config = std::make_shared<Config>();
  config->rng = std::move(rng);
  Status st = config->LoadFiles(o);
  if (st.ok()) st = config->Configure(o);
  if (!st.ok()) return st;
  return std::shared_ptr<const Config>(std::move(config));
}

}  // namespace

Context::Context() = default;
Context::~Context() = default;

BasicResult<std::unique_ptr<Context>, Error> Context::Create(const ServerOptions& options) {
  auto rng = std::make_shared<Rng>();
  Status st = rng->Seed();
  if (!st.ok()) return st;
  auto config = LoadConfig(options, rng);
  if (!config.ok()) return config.status();
  std::unique_ptr<Context> c(new Context());
  c->rng_ = std::move(rng);
  c->config_ = std::move(config.value());
  return c;
}

Status Context::Reload(const ServerOptions& options) {
  auto config = LoadConfig(options, rng_);
  if (!config.ok()) return config.status();
  config_ = std::move(config.value());
  return Status::Ok();
}

// ---------------------------------------------------------------------------
// Session

namespace {

// Reasons a certificate failed verification, most telling first.
std::string VerifyReasons(uint32_t flags) {
  static const struct {
    uint32_t flag;
    const char* text;
  } kReasons[] = {
      {MBEDTLS_X509_BADCERT_MISSING, "no client certificate"},
      {MBEDTLS_X509_BADCERT_EXPIRED, "expired"},
      {MBEDTLS_X509_BADCERT_FUTURE, "not yet valid"},
      {MBEDTLS_X509_BADCERT_NOT_TRUSTED, "unknown CA"},
      {MBEDTLS_X509_BADCERT_REVOKED, "revoked"},
      {MBEDTLS_X509_BADCERT_KEY_USAGE, "key usage does not allow client authentication"},
      {MBEDTLS_X509_BADCERT_EXT_KEY_USAGE, "extended key usage does not allow client auth"},
      {MBEDTLS_X509_BADCERT_BAD_MD, "weak signature hash"},
      {MBEDTLS_X509_BADCERT_BAD_PK, "unacceptable key type"},
      {MBEDTLS_X509_BADCERT_BAD_KEY, "key too weak"},
      {MBEDTLS_X509_BADCERT_OTHER, "rejected"},
  };
  std::string out;
  for (const auto& r : kReasons) {
    if ((flags & r.flag) == 0) continue;
    if (!out.empty()) out += ", ";
    out += r.text;
  }
  return out.empty() ? "unknown reason" : out;
}

// The name of a TLS alert description (RFC 5246 section 7.2).
const char* AlertName(int alert) {
  switch (alert) {
    case MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE:
      return "handshake failure";
    case MBEDTLS_SSL_ALERT_MSG_BAD_CERT:
      return "bad certificate";
    case MBEDTLS_SSL_ALERT_MSG_UNSUPPORTED_CERT:
      return "unsupported certificate";
    case MBEDTLS_SSL_ALERT_MSG_CERT_REVOKED:
      return "certificate revoked";
    case MBEDTLS_SSL_ALERT_MSG_CERT_EXPIRED:
      return "certificate expired";
    case MBEDTLS_SSL_ALERT_MSG_CERT_UNKNOWN:
      return "certificate unknown";
    case MBEDTLS_SSL_ALERT_MSG_UNKNOWN_CA:
      return "unknown CA";
    case MBEDTLS_SSL_ALERT_MSG_ACCESS_DENIED:
      return "access denied";
    case MBEDTLS_SSL_ALERT_MSG_DECODE_ERROR:
      return "decode error";
    case MBEDTLS_SSL_ALERT_MSG_DECRYPT_ERROR:
      return "decrypt error";
    case MBEDTLS_SSL_ALERT_MSG_PROTOCOL_VERSION:
      return "protocol version";
    case MBEDTLS_SSL_ALERT_MSG_INSUFFICIENT_SECURITY:
      return "insufficient security";
    case MBEDTLS_SSL_ALERT_MSG_INTERNAL_ERROR:
      return "internal error";
    case MBEDTLS_SSL_ALERT_MSG_ILLEGAL_PARAMETER:
      return "illegal parameter";
    case MBEDTLS_SSL_ALERT_MSG_UNEXPECTED_MESSAGE:
      return "unexpected message";
    case MBEDTLS_SSL_ALERT_MSG_BAD_RECORD_MAC:
      return "bad record MAC";
    default:
      return nullptr;
  }
}

// A value fit to be a user name: no NUL or control characters.
bool PrintableName(const unsigned char* p, size_t len) {
  if (len == 0) return false;
  for (size_t i = 0; i < len; ++i) {
    if (p[i] < 0x20 || p[i] == 0x7F) return false;
  }
  return true;
}

std::string FindSubjectAttribute(const mbedtls_x509_name* name, const char* oid, size_t oid_len) {
  for (; name != nullptr; name = name->next) {
    if (name->oid.len == oid_len && std::memcmp(name->oid.p, oid, oid_len) == 0) {
      if (!PrintableName(name->val.p, name->val.len)) return "";
      return std::string(reinterpret_cast<const char*>(name->val.p), name->val.len);
    }
  }
  return "";
}

}  // namespace

struct Session::Impl {
  enum class State { kHandshaking, kOpen, kFailed, kClosed };

  explicit Impl(std::shared_ptr<const Config> c) : config(std::move(c)) { mbedtls_ssl_init(&ssl); }
  ~Impl() { mbedtls_ssl_free(&ssl); }

  static int OnSend(void* ctx, const unsigned char* buf, size_t len);
  static int OnRecv(void* ctx, unsigned char* buf, size_t len);

  Status Handshake();
  Status CheckOptionalClientCert();
  Status ReadPlain(std::string* plain);
  Status Fail(Error code, std::string message);
  std::string HandshakeReason(int ret) const;

  std::shared_ptr<const Config> config;  // outlives `ssl`, which points at it
  mbedtls_ssl_context ssl;
  State state = State::kHandshaking;
  bool established = false;    // the handshake completed at some point
  std::string failure;         // why the session failed, repeated to later calls
  std::string_view in;         // ciphertext not yet consumed, during Receive only
  std::string* out = nullptr;  // where records go, during a call only
};

int Session::Impl::OnSend(void* ctx, const unsigned char* buf, size_t len) {
  auto* self = static_cast<Impl*>(ctx);
  if (self->out == nullptr) return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
  self->out->append(reinterpret_cast<const char*>(buf), len);
  return static_cast<int>(len);
}

int Session::Impl::OnRecv(void* ctx, unsigned char* buf, size_t len) {
  auto* self = static_cast<Impl*>(ctx);
  if (self->in.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
  const size_t n = std::min(len, self->in.size());
  std::memcpy(buf, self->in.data(), n);
  self->in.remove_prefix(n);
  return static_cast<int>(n);
}

Status Session::Impl::Fail(Error code, std::string message) {
  state = State::kFailed;
  failure = message;
  return Status(code, std::move(message));
}

std::string Session::Impl::HandshakeReason(int ret) const {
  switch (ret) {
    case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
    case MBEDTLS_ERR_SSL_PEER_VERIFY_FAILED: {
      const uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
      if (flags == MBEDTLS_X509_BADCERT_MISSING) return "no client certificate";
      return "certificate verify failed: " + VerifyReasons(flags);
    }
    case MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE:
    case MBEDTLS_ERR_SSL_CERTIFICATE_REQUIRED:
      return "no client certificate";
    case MBEDTLS_ERR_SSL_NO_USABLE_CIPHERSUITE:
    case MBEDTLS_ERR_SSL_NO_CIPHER_CHOSEN:
      return "no shared cipher suite (ECDHE with AES-GCM or ChaCha20-Poly1305 required)";
    case MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION:
      return "unsupported protocol version (TLS 1.2 required)";
    case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE: {
      // mbedTLS 2.28 leaves the alert in the input buffer; fields are public.
      const char* name = nullptr;
      if (ssl.in_msg != nullptr && ssl.in_msgtype == MBEDTLS_SSL_MSG_ALERT) {
        name = AlertName(ssl.in_msg[1]);
      }
      return std::string("peer sent fatal alert: ") + (name ? name : "other");
    }
    case MBEDTLS_ERR_SSL_INVALID_RECORD:
    case MBEDTLS_ERR_SSL_INVALID_MAC:
    case MBEDTLS_ERR_SSL_UNEXPECTED_RECORD:
    case MBEDTLS_ERR_SSL_BAD_HS_CLIENT_HELLO:
      return "bad record (not TLS, or corrupted)";
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
      return "peer closed during the handshake";
    default:
      return "handshake failed";
  }
}

Status Session::Impl::Handshake() {
  const int ret = mbedtls_ssl_handshake(&ssl);
  if (ret == MBEDTLS_ERR_SSL_WANT_READ) return Status::Ok();  // needs more bytes
  if (ret != 0) {
    return Fail(Error::kHandshake, HandshakeReason(ret) + " [" + MbedError(ret) + "]");
  }
  Status st = CheckOptionalClientCert();
  if (!st.ok()) return st;
  state = State::kOpen;
  established = true;
  return Status::Ok();
}

// With an optional client certificate mbedTLS finishes the handshake even when
// the one presented fails verification; refuse it rather than accept a
// connection whose certificate proves nothing.
Status Session::Impl::CheckOptionalClientCert() {
  if (mbedtls_ssl_get_peer_cert(&ssl) == nullptr) return Status::Ok();
  const uint32_t flags = mbedtls_ssl_get_verify_result(&ssl);
  if (flags == 0) return Status::Ok();
  // Best effort: the alert tells the client why before the daemon closes.
  (void)mbedtls_ssl_send_alert_message(&ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_BAD_CERT);
  return Fail(Error::kHandshake, "certificate verify failed: " + VerifyReasons(flags));
}

Status Session::Impl::ReadPlain(std::string* plain) {
  unsigned char buf[4096];
  for (;;) {
    const int ret = mbedtls_ssl_read(&ssl, buf, sizeof buf);
    if (ret > 0) {
      plain->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(ret));
      continue;
    }
    if (ret == MBEDTLS_ERR_SSL_WANT_READ) return Status::Ok();
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) {
      state = State::kClosed;
      failure = "peer sent close_notify";
      return Status(Error::kClosed, failure);
    }
    const char* reason =
        (ret == MBEDTLS_ERR_SSL_INVALID_MAC || ret == MBEDTLS_ERR_SSL_INVALID_RECORD)
            ? "bad record"
            : "record error";
    return Fail(Error::kProtocol, std::string(reason) + " [" + MbedError(ret) + "]");
  }
}

Session::Session(Context* context) : impl_(std::make_unique<Impl>(context->config_)) {
  const int ret = mbedtls_ssl_setup(&impl_->ssl, &impl_->config->conf);
  if (ret != 0) {
    (void)impl_->Fail(Error::kHandshake, "tls session setup: " + MbedError(ret));
    return;
  }
  mbedtls_ssl_set_bio(&impl_->ssl, impl_.get(), Impl::OnSend, Impl::OnRecv, nullptr);
}

Session::~Session() = default;

Status Session::Receive(std::string_view ciphertext, std::string* plain, std::string* wire) {
  Impl& s = *impl_;
  if (s.state == Impl::State::kFailed || s.state == Impl::State::kClosed) {
    return Status(Error::kClosed, s.failure.empty() ? "session closed" : s.failure);
  }
  s.in = ciphertext;
  s.out = wire;
  Status st;
  if (s.state == Impl::State::kHandshaking) st = s.Handshake();
  if (st.ok() && s.state == Impl::State::kOpen) st = s.ReadPlain(plain);
  s.in = {};
  s.out = nullptr;
  return st;
}

Status Session::Send(std::string_view plain, std::string* wire) {
  Impl& s = *impl_;
  if (s.state != Impl::State::kOpen) {
    return Status(Error::kClosed, s.failure.empty() ? "handshake not done" : s.failure);
  }
  s.out = wire;
  Status st;
  while (!plain.empty()) {
    const int ret = mbedtls_ssl_write(&s.ssl, reinterpret_cast<const unsigned char*>(plain.data()),
                                      plain.size());
    if (ret <= 0) {
      st = s.Fail(Error::kProtocol, "write: " + MbedError(ret));
      break;
    }
    plain.remove_prefix(static_cast<size_t>(ret));
  }
  s.out = nullptr;
  return st;
}

void Session::Close(std::string* wire) {
  Impl& s = *impl_;
  if (s.state == Impl::State::kOpen) {
    s.out = wire;
    (void)mbedtls_ssl_close_notify(&s.ssl);
    s.out = nullptr;
  }
  if (s.state != Impl::State::kFailed) {
    s.state = Impl::State::kClosed;
    if (s.failure.empty()) s.failure = "session closed";
  }
}

bool Session::handshake_done() const { return impl_->state == Impl::State::kOpen; }

namespace {

// The whole pages of [buf + kKept, buf + len), given back with MADV_DONTNEED
// (private anonymous memory: the next touch maps a zeroed page). What must
// survive sits at the start of a TLS record buffer in mbedTLS 2.28: the
// record sequence counter (8 bytes, in_ctr/out_ctr point at buf), then the
// header and the explicit IV; kKept covers them wherever buf falls in its
// page, and the page holding them also serves small records.
size_t ReleasePages(unsigned char* buf, size_t len) {
  constexpr uintptr_t kKept = 64;
  if (buf == nullptr || len <= kKept) return 0;
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(buf) + kKept + page - 1) & ~(page - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(buf) + len) & ~(page - 1);
  if (end <= begin) return 0;
  if (madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0) return 0;
  return end - begin;
}

}  // namespace

size_t Session::ReleaseIdleBuffers() {
  mbedtls_ssl_context& ssl = impl_->ssl;
  if (impl_->state != Impl::State::kOpen) return 0;
  // Between records only: nothing read and not yet processed, nothing
  // decrypted and not yet taken, nothing encrypted and not yet handed over.
  if (ssl.in_left != 0 || ssl.out_left != 0 || mbedtls_ssl_check_pending(&ssl) != 0) return 0;
  return ReleasePages(ssl.in_buf, MBEDTLS_SSL_IN_BUFFER_LEN) +
         ReleasePages(ssl.out_buf, MBEDTLS_SSL_OUT_BUFFER_LEN);
}

std::string Session::PeerIdentity() const {
  const Impl& s = *impl_;
  if (s.state != Impl::State::kOpen) return "";
  const mbedtls_x509_crt* crt = mbedtls_ssl_get_peer_cert(&s.ssl);
  if (crt == nullptr || mbedtls_ssl_get_verify_result(&s.ssl) != 0) return "";
  // A CN that is present but unprintable is refused outright, not skipped:
  // falling through to a SAN would pick a different identity for the same cert.
  for (const mbedtls_x509_name* n = &crt->subject; n != nullptr; n = n->next) {
    if (n->oid.p != nullptr && MBEDTLS_OID_CMP(MBEDTLS_OID_AT_CN, &n->oid) == 0) {
      return FindSubjectAttribute(n, MBEDTLS_OID_AT_CN, MBEDTLS_OID_SIZE(MBEDTLS_OID_AT_CN));
    }
  }
  for (const mbedtls_x509_sequence* san = &crt->subject_alt_names; san != nullptr;
       san = san->next) {
    if (san->buf.p != nullptr &&
        san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME)) {
      if (!PrintableName(san->buf.p, san->buf.len)) return "";
      return std::string(reinterpret_cast<const char*>(san->buf.p), san->buf.len);
    }
  }
  return FindSubjectAttribute(&crt->subject, MBEDTLS_OID_PKCS9_EMAIL,
                              MBEDTLS_OID_SIZE(MBEDTLS_OID_PKCS9_EMAIL));
}

std::string Session::CipherSuite() const {
  if (!impl_->established) return "";
  const char* name = mbedtls_ssl_get_ciphersuite(&impl_->ssl);
  return name ? name : "";
}

std::string Session::Version() const {
  if (!impl_->established) return "";
  const char* v = mbedtls_ssl_get_version(&impl_->ssl);
  return v ? v : "";
}

}  // namespace trib::tls
