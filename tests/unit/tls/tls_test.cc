// platform/tls: a Session driven in memory against a real mbedTLS client.
//
// Every certificate and key is generated when the test starts (mbedTLS
// x509write, EC P-256) into a temporary directory that is removed at the end:
// no key is committed. The client is plain mbedTLS, its records carried to and
// from the Session through two strings, as the daemon's Connection would.

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "platform/tls.h"

#include "tests/unit/cmocka_cpp.h"  // last

using trib::tls::Context;
using trib::tls::Error;
using trib::tls::ServerOptions;
using trib::tls::Session;

namespace {

// ---------------------------------------------------------------------------
// Test PKI, generated once per run.

struct Rng {
  Rng() {
    mbedtls_entropy_init(&entropy);
    mbedtls_ctr_drbg_init(&drbg);
    if (mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy, nullptr, 0) != 0) abort();
  }
  ~Rng() {
    mbedtls_ctr_drbg_free(&drbg);
    mbedtls_entropy_free(&entropy);
  }
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
};

struct Key {
  Key() { mbedtls_pk_init(&pk); }
  ~Key() { mbedtls_pk_free(&pk); }
  mbedtls_pk_context pk;
};

void GenerateKey(Rng* rng, Key* key) {
  if (mbedtls_pk_setup(&key->pk, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)) != 0 ||
      mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key->pk), mbedtls_ctr_drbg_random,
                          &rng->drbg) != 0) {
    abort();
  }
}

std::string KeyPem(Key* key) {
  unsigned char buf[4096];
  if (mbedtls_pk_write_key_pem(&key->pk, buf, sizeof buf) != 0) abort();
  return reinterpret_cast<char*>(buf);
}

struct CertSpec {
  const char* subject;  // "CN=device-42,O=Test"
  const char* not_before = "20200101000000";
  const char* not_after = "20491231235959";
  bool is_ca = false;
  const char* san_dns = nullptr;  // one dNSName subjectAltName
};

// A DER GeneralNames holding one dNSName (names shorter than 126 bytes).
std::string SanExtension(const char* dns) {
  const size_t n = std::strlen(dns);
  std::string inner;
  inner += static_cast<char>(0x82);  // [2] IMPLICIT IA5String: dNSName
  inner += static_cast<char>(n);
  inner += dns;
  std::string seq;
  seq += static_cast<char>(0x30);
  seq += static_cast<char>(inner.size());
  return seq + inner;
}

std::string MakeCert(Rng* rng, const CertSpec& spec, Key* subject_key, Key* issuer_key,
                     const char* issuer_name, int serial) {
  mbedtls_x509write_cert crt;
  mbedtls_x509write_crt_init(&crt);
  mbedtls_mpi sn;
  mbedtls_mpi_init(&sn);
  mbedtls_mpi_lset(&sn, serial);
  mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
  mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
  mbedtls_x509write_crt_set_subject_key(&crt, &subject_key->pk);
  mbedtls_x509write_crt_set_issuer_key(&crt, &issuer_key->pk);
  int ret = mbedtls_x509write_crt_set_subject_name(&crt, spec.subject);
  ret |= mbedtls_x509write_crt_set_issuer_name(&crt, issuer_name);
  ret |= mbedtls_x509write_crt_set_serial(&crt, &sn);
  ret |= mbedtls_x509write_crt_set_validity(&crt, spec.not_before, spec.not_after);
  ret |= mbedtls_x509write_crt_set_basic_constraints(&crt, spec.is_ca ? 1 : 0, -1);
  if (spec.is_ca) {
    ret |= mbedtls_x509write_crt_set_key_usage(
        &crt, MBEDTLS_X509_KU_KEY_CERT_SIGN | MBEDTLS_X509_KU_CRL_SIGN);
  }
  if (spec.san_dns != nullptr) {
    const std::string san = SanExtension(spec.san_dns);
    ret |= mbedtls_x509write_crt_set_extension(
        &crt, MBEDTLS_OID_SUBJECT_ALT_NAME, MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
        reinterpret_cast<const unsigned char*>(san.data()), san.size());
  }
  unsigned char buf[4096];
  if (ret != 0 ||
      mbedtls_x509write_crt_pem(&crt, buf, sizeof buf, mbedtls_ctr_drbg_random, &rng->drbg) != 0) {
    abort();
  }
  mbedtls_mpi_free(&sn);
  mbedtls_x509write_crt_free(&crt);
  return reinterpret_cast<char*>(buf);
}

struct Fixture {
  std::filesystem::path dir;
  std::string Path(const char* name) const { return (dir / name).string(); }
  void Write(const char* name, const std::string& text) const { std::ofstream(dir / name) << text; }
};

Fixture* g_fx = nullptr;  // created in the group setup, removed in its teardown

// Writes <name>.crt and <name>.key: a leaf certificate for a new key.
void Leaf(Rng* rng, const char* name, const CertSpec& spec, Key* ca_key, const char* ca_name,
          int serial) {
  Key k;
  GenerateKey(rng, &k);
  g_fx->Write((std::string(name) + ".crt").c_str(),
              MakeCert(rng, spec, &k, ca_key, ca_name, serial));
  g_fx->Write((std::string(name) + ".key").c_str(), KeyPem(&k));
}

int GroupSetup(void**) {
  char tmpl[] = "/tmp/trib-tls-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return -1;
  g_fx = new Fixture{tmpl};
  Rng rng;
  Key ca1, ca2;
  GenerateKey(&rng, &ca1);
  GenerateKey(&rng, &ca2);
  const char* ca1_name = "CN=Tributary Test CA,O=Test";
  const char* ca2_name = "CN=Other CA,O=Elsewhere";
  CertSpec ca_spec{ca1_name};
  ca_spec.is_ca = true;
  g_fx->Write("ca1.crt", MakeCert(&rng, ca_spec, &ca1, &ca1, ca1_name, 1));
  ca_spec.subject = ca2_name;
  g_fx->Write("ca2.crt", MakeCert(&rng, ca_spec, &ca2, &ca2, ca2_name, 1));

  CertSpec server{"CN=localhost,O=Test"};
  server.san_dns = "localhost";
  Leaf(&rng, "server1", server, &ca1, ca1_name, 10);
  Leaf(&rng, "server2", server, &ca2, ca2_name, 11);  // the certificate after a reload
  Leaf(&rng, "wronghost", CertSpec{"CN=wrong.example,O=Test"}, &ca1, ca1_name, 12);
  Leaf(&rng, "client", CertSpec{"CN=device-42,O=Test"}, &ca1, ca1_name, 20);
  CertSpec expired{"CN=old-device,O=Test"};
  expired.not_before = "20100101000000";
  expired.not_after = "20110101000000";
  Leaf(&rng, "expired", expired, &ca1, ca1_name, 21);
  Leaf(&rng, "foreign", CertSpec{"CN=device-42,O=Elsewhere"}, &ca2, ca2_name, 22);
  CertSpec san_only{"O=Test,OU=Devices"};
  san_only.san_dns = "dev7.example";
  Leaf(&rng, "sanonly", san_only, &ca1, ca1_name, 23);
  g_fx->Write("garbage.crt", "-----BEGIN CERTIFICATE-----\nnot base64 at all\n");
  return 0;
}

int GroupTeardown(void**) {
  std::error_code ec;
  std::filesystem::remove_all(g_fx->dir, ec);
  delete g_fx;
  g_fx = nullptr;
  return 0;
}

// ---------------------------------------------------------------------------
// An mbedTLS client talking to a Session through two strings.

struct ClientOptions {
  const char* trust = "ca1.crt";
  const char* cert = nullptr;  // "client" -> client.crt + client.key
  const char* hostname = "localhost";
  int max_minor = MBEDTLS_SSL_MINOR_VERSION_3;
  const int* suites = nullptr;  // 0-terminated; nullptr = mbedTLS's defaults
};

struct Client {
  explicit Client(const ClientOptions& o) {
    mbedtls_ssl_init(&ssl);
    mbedtls_ssl_config_init(&conf);
    mbedtls_x509_crt_init(&ca);
    mbedtls_x509_crt_init(&own);
    mbedtls_pk_init(&key);
    if (mbedtls_x509_crt_parse_file(&ca, g_fx->Path(o.trust).c_str()) != 0) abort();
    mbedtls_ssl_config_defaults(&conf, MBEDTLS_SSL_IS_CLIENT, MBEDTLS_SSL_TRANSPORT_STREAM,
                                MBEDTLS_SSL_PRESET_DEFAULT);
    mbedtls_ssl_conf_rng(&conf, mbedtls_ctr_drbg_random, &rng.drbg);
    mbedtls_ssl_conf_authmode(&conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    mbedtls_ssl_conf_ca_chain(&conf, &ca, nullptr);
    mbedtls_ssl_conf_min_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_1);
    mbedtls_ssl_conf_max_version(&conf, MBEDTLS_SSL_MAJOR_VERSION_3, o.max_minor);
    if (o.suites != nullptr) mbedtls_ssl_conf_ciphersuites(&conf, o.suites);
    if (o.cert != nullptr) {
      const std::string base = g_fx->Path(o.cert);
      if (mbedtls_x509_crt_parse_file(&own, (base + ".crt").c_str()) != 0 ||
          mbedtls_pk_parse_keyfile(&key, (base + ".key").c_str(), nullptr) != 0 ||
          mbedtls_ssl_conf_own_cert(&conf, &own, &key) != 0) {
        abort();
      }
    }
    if (mbedtls_ssl_setup(&ssl, &conf) != 0) abort();
    mbedtls_ssl_set_hostname(&ssl, o.hostname);
    mbedtls_ssl_set_bio(&ssl, this, OnSend, OnRecv, nullptr);
  }
  ~Client() {
    mbedtls_ssl_free(&ssl);
    mbedtls_ssl_config_free(&conf);
    mbedtls_x509_crt_free(&ca);
    mbedtls_x509_crt_free(&own);
    mbedtls_pk_free(&key);
  }
  static int OnSend(void* ctx, const unsigned char* buf, size_t len) {
    static_cast<Client*>(ctx)->out.append(reinterpret_cast<const char*>(buf), len);
    return static_cast<int>(len);
  }
  static int OnRecv(void* ctx, unsigned char* buf, size_t len) {
    auto* c = static_cast<Client*>(ctx);
    if (c->in.empty()) return MBEDTLS_ERR_SSL_WANT_READ;
    const size_t n = std::min(len, c->in.size());
    std::memcpy(buf, c->in.data(), n);
    c->in.erase(0, n);
    return static_cast<int>(n);
  }
  // Reads everything the client can decrypt from `in`.
  int ReadAll(std::string* plain) {
    unsigned char buf[4096];
    for (;;) {
      const int ret = mbedtls_ssl_read(&ssl, buf, sizeof buf);
      if (ret > 0) {
        plain->append(reinterpret_cast<char*>(buf), ret);
        continue;
      }
      return ret;
    }
  }
  void Write(const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
      const int ret = mbedtls_ssl_write(
          &ssl, reinterpret_cast<const unsigned char*>(data.data()) + done, data.size() - done);
      if (ret <= 0) abort();
      done += static_cast<size_t>(ret);
    }
  }

  Rng rng;
  mbedtls_ssl_context ssl;
  mbedtls_ssl_config conf;
  mbedtls_x509_crt ca, own;
  mbedtls_pk_context key;
  std::string in, out;  // ciphertext to and from the client
};

ServerOptions Server(const char* name = "server1", const char* ca = "",
                     bool require_client_cert = false) {
  ServerOptions o;
  o.cert_file = g_fx->Path((std::string(name) + ".crt").c_str());
  o.key_file = g_fx->Path((std::string(name) + ".key").c_str());
  if (*ca) o.ca_file = g_fx->Path(ca);
  o.require_client_cert = require_client_cert;
  return o;
}

// One connection: a client, a server Session, and the outcome of the handshake.
struct Conn {
  Conn(Context* ctx, const ClientOptions& o) : client(o), session(ctx) {}

  // Runs the handshake to completion or failure, passing `chunk` bytes at a
  // time to the server.
  void Handshake(size_t chunk = SIZE_MAX) {
    for (int round = 0; round < 20; ++round) {
      if (client_ret == MBEDTLS_ERR_SSL_WANT_READ) {
        client_ret = mbedtls_ssl_handshake(&client.ssl);
      }
      const std::string c2s = std::move(client.out);
      client.out.clear();
      for (size_t i = 0; i < c2s.size() && server.ok(); i += chunk) {
        server = session.Receive(std::string_view(c2s).substr(i, chunk), &server_plain, &client.in);
      }
      if (c2s.empty() && client.in.empty()) break;
    }
  }
  bool BothDone() const { return client_ret == 0 && session.handshake_done() && server.ok(); }

  Client client;
  Session session;
  int client_ret = MBEDTLS_ERR_SSL_WANT_READ;
  trib::tls::Status server;
  std::string server_plain, client_plain;
};

std::unique_ptr<Context> MustCreate(const ServerOptions& o) {
  auto r = Context::Create(o);
  if (!r.ok()) fail_msg("Context::Create: %s", r.status().message().c_str());
  return std::move(r.value());
}

void ExpectContains(const std::string& text, const char* part) {
  if (text.find(part) == std::string::npos) fail_msg("\"%s\" lacks \"%s\"", text.c_str(), part);
}

// Per-test state: whatever the test allocated, freed in teardown even when the
// test fails (cmocka leaves a failing test with longjmp).
struct TestState {
  std::unique_ptr<Context> ctx;
  std::unique_ptr<Conn> a, b;
};

int Setup(void** state) {
  *state = new TestState;
  return 0;
}
int Teardown(void** state) {
  delete static_cast<TestState*>(*state);
  return 0;
}

}  // namespace

static void test_handshake_and_data_both_ways(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  Conn& c = *t->a;
  c.Handshake();
  if (!c.BothDone()) fail_msg("client %d, server: %s", c.client_ret, c.server.message().c_str());
  assert_string_equal(c.session.Version().c_str(), "TLSv1.2");
  const std::string suite = c.session.CipherSuite();
  ExpectContains(suite, "ECDHE-ECDSA");
  assert_true(suite.find("GCM") != std::string::npos || suite.find("CHACHA") != std::string::npos);
  assert_string_equal(c.session.PeerIdentity().c_str(), "");  // no client certificate

  // Client to server, 200 KiB in 16 KiB records, delivered in 1000-byte pieces.
  std::string big(200 * 1024, 'x');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>('a' + i % 26);
  c.client.Write(big);
  std::string wire;
  for (size_t i = 0; i < c.client.out.size(); i += 1000) {
    const size_t before = c.server_plain.size();
    assert_true(
        c.session.Receive(std::string_view(c.client.out).substr(i, 1000), &c.server_plain, &wire)
            .ok());
    // Nothing is held back beyond the record being assembled.
    assert_true(c.server_plain.size() - before <= 16384);
  }
  assert_true(wire.empty());
  assert_true(c.server_plain == big);

  // Server to client.
  assert_true(c.session.Send("hello from the broker", &c.client.in).ok());
  assert_int_equal(c.client.ReadAll(&c.client_plain), MBEDTLS_ERR_SSL_WANT_READ);
  assert_string_equal(c.client_plain.c_str(), "hello from the broker");
}

static void test_handshake_one_byte_at_a_time(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  t->a->Handshake(1);
  if (!t->a->BothDone()) fail_msg("server: %s", t->a->server.message().c_str());
}

static void test_client_not_trusting_ca_fails(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  ClientOptions o;
  o.trust = "ca2.crt";
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  Conn& c = *t->a;
  c.Handshake();
  assert_int_equal(c.client_ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
  assert_true(mbedtls_ssl_get_verify_result(&c.client.ssl) & MBEDTLS_X509_BADCERT_NOT_TRUSTED);
  assert_false(c.session.handshake_done());
  assert_false(c.server.ok());
  assert_int_equal(c.server.code(), Error::kHandshake);
  ExpectContains(c.server.message(), "peer sent fatal alert");
}

static void test_wrong_host_certificate_rejected_by_client(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("wronghost"));
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  t->a->Handshake();
  assert_int_equal(t->a->client_ret, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
  assert_true(mbedtls_ssl_get_verify_result(&t->a->client.ssl) & MBEDTLS_X509_BADCERT_CN_MISMATCH);
  assert_false(t->a->session.handshake_done());
}

static void test_required_client_cert_missing_fails(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1", "ca1.crt", true));
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  Conn& c = *t->a;
  c.Handshake();
  assert_false(c.server.ok());
  assert_int_equal(c.server.code(), Error::kHandshake);
  ExpectContains(c.server.message(), "no client certificate");
  assert_false(c.session.handshake_done());
  assert_true(c.client_ret != 0);
  // The session is dead from now on.
  std::string plain, wire;
  assert_int_equal(c.session.Receive("x", &plain, &wire).code(), Error::kClosed);
}

static void test_expired_client_cert_fails(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1", "ca1.crt", true));
  ClientOptions o;
  o.cert = "expired";
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  t->a->Handshake();
  assert_false(t->a->server.ok());
  ExpectContains(t->a->server.message(), "certificate verify failed: expired");
  assert_false(t->a->session.handshake_done());
}

static void test_client_cert_from_unknown_ca_fails(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1", "ca1.crt", true));
  ClientOptions o;
  o.cert = "foreign";
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  t->a->Handshake();
  assert_false(t->a->server.ok());
  ExpectContains(t->a->server.message(), "unknown CA");
}

static void test_peer_identity_from_cn(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1", "ca1.crt", true));
  ClientOptions o;
  o.cert = "client";
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  t->a->Handshake();
  if (!t->a->BothDone()) fail_msg("server: %s", t->a->server.message().c_str());
  assert_string_equal(t->a->session.PeerIdentity().c_str(), "device-42");
}

static void test_peer_identity_from_dns_san_without_cn(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1", "ca1.crt", true));
  ClientOptions o;
  o.cert = "sanonly";
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  t->a->Handshake();
  if (!t->a->BothDone()) fail_msg("server: %s", t->a->server.message().c_str());
  assert_string_equal(t->a->session.PeerIdentity().c_str(), "dev7.example");
}

static void test_optional_client_cert(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1", "ca1.crt", false));
  // No certificate: fine, and no identity.
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  t->a->Handshake();
  if (!t->a->BothDone()) fail_msg("server: %s", t->a->server.message().c_str());
  assert_string_equal(t->a->session.PeerIdentity().c_str(), "");
  // A certificate that does not verify is refused, not ignored.
  ClientOptions o;
  o.cert = "expired";
  t->b = std::make_unique<Conn>(t->ctx.get(), o);
  t->b->Handshake();
  assert_false(t->b->server.ok());
  ExpectContains(t->b->server.message(), "certificate verify failed: expired");
  assert_false(t->b->session.handshake_done());
  assert_string_equal(t->b->session.PeerIdentity().c_str(), "");
}

static void test_old_protocol_version_refused(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  ClientOptions o;
  o.max_minor = MBEDTLS_SSL_MINOR_VERSION_2;  // TLS 1.1
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  t->a->Handshake();
  assert_false(t->a->server.ok());
  ExpectContains(t->a->server.message(), "protocol version");
}

static void test_only_aead_ecdhe_suites(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  static const int kChacha[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, 0};
  ClientOptions o;
  o.suites = kChacha;
  t->a = std::make_unique<Conn>(t->ctx.get(), o);
  t->a->Handshake();
  if (!t->a->BothDone()) fail_msg("server: %s", t->a->server.message().c_str());
  ExpectContains(t->a->session.CipherSuite(), "CHACHA20-POLY1305");

  static const int kCbc[] = {MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
                             MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, 0};
  o.suites = kCbc;
  t->b = std::make_unique<Conn>(t->ctx.get(), o);
  t->b->Handshake();
  assert_false(t->b->server.ok());
  ExpectContains(t->b->server.message(), "no shared cipher suite");
}

static void test_garbage_bytes_fail_cleanly(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  Session s(t->ctx.get());
  std::string plain, wire;
  trib::tls::Status st = s.Receive("GET / HTTP/1.1\r\nHost: x\r\n\r\n", &plain, &wire);
  assert_false(st.ok());
  assert_int_equal(st.code(), Error::kHandshake);
  ExpectContains(st.message(), "bad record");
  assert_true(plain.empty());
  assert_int_equal(s.Receive("more", &plain, &wire).code(), Error::kClosed);
  assert_int_equal(s.Send("x", &wire).code(), Error::kClosed);

  // Random bytes shaped like a handshake record header.
  Session s2(t->ctx.get());
  std::string junk("\x16\x03\x03\x00\x40", 5);
  for (int i = 0; i < 64; ++i) junk += static_cast<char>(i * 37);
  assert_false(s2.Receive(junk, &plain, &wire).ok());

  // Corrupted application data after a good handshake: a protocol error.
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  Conn& c = *t->a;
  c.Handshake();
  assert_true(c.BothDone());
  c.client.Write("payload");
  std::string rec = c.client.out;
  rec[rec.size() - 1] ^= 0x55;  // flips a bit of the GCM tag
  st = c.session.Receive(rec, &c.server_plain, &wire);
  assert_false(st.ok());
  assert_int_equal(st.code(), Error::kProtocol);
  ExpectContains(st.message(), "bad record");
  assert_true(c.server_plain.empty());
}

static void test_close_notify_both_ways(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server());
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  t->b = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});
  t->a->Handshake();
  t->b->Handshake();
  assert_true(t->a->BothDone() && t->b->BothDone());
  // Server closes: the client sees close_notify.
  t->a->session.Close(&t->a->client.in);
  assert_false(t->a->client.in.empty());
  assert_int_equal(t->a->client.ReadAll(&t->a->client_plain), MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
  std::string wire;
  assert_int_equal(t->a->session.Send("late", &wire).code(), Error::kClosed);
  // Client closes: the server reports kClosed.
  assert_int_equal(mbedtls_ssl_close_notify(&t->b->client.ssl), 0);
  std::string plain;
  const trib::tls::Status st = t->b->session.Receive(t->b->client.out, &plain, &wire);
  assert_int_equal(st.code(), Error::kClosed);
  ExpectContains(st.message(), "close_notify");
}

static void test_reload_keeps_existing_sessions(void** state) {
  auto* t = static_cast<TestState*>(*state);
  t->ctx = MustCreate(Server("server1"));
  t->a = std::make_unique<Conn>(t->ctx.get(), ClientOptions{});  // trusts ca1
  t->a->Handshake();
  assert_true(t->a->BothDone());

  // A reload with a broken file fails and changes nothing.
  ServerOptions bad = Server("server2");
  bad.cert_file = g_fx->Path("garbage.crt");
  assert_false(t->ctx->Reload(bad).ok());

  assert_true(t->ctx->Reload(Server("server2")).ok());  // signed by ca2
  // The old session still works both ways.
  std::string wire;
  t->a->client.Write("still here");
  assert_true(t->a->session.Receive(t->a->client.out, &t->a->server_plain, &wire).ok());
  t->a->client.out.clear();
  assert_string_equal(t->a->server_plain.c_str(), "still here");
  assert_true(t->a->session.Send("yes", &t->a->client.in).ok());
  t->a->client.ReadAll(&t->a->client_plain);
  assert_string_equal(t->a->client_plain.c_str(), "yes");

  // A new session gets the new certificate: a client trusting only ca2 succeeds.
  ClientOptions o;
  o.trust = "ca2.crt";
  t->b = std::make_unique<Conn>(t->ctx.get(), o);
  t->b->Handshake();
  if (!t->b->BothDone()) fail_msg("after reload: %s", t->b->server.message().c_str());

  // The Context may go before its sessions: they keep their configuration.
  t->ctx.reset();
  t->a->client.Write("after context");
  assert_true(t->a->session.Receive(t->a->client.out, &t->a->server_plain, &wire).ok());
  ExpectContains(t->a->server_plain, "after context");
}

static void test_create_errors_name_the_file(void** state) {
  (void)state;
  ServerOptions o = Server();
  o.cert_file = g_fx->Path("missing.crt");
  auto r = Context::Create(o);
  assert_false(r.ok());
  assert_int_equal(r.status().code(), Error::kConfig);
  ExpectContains(r.status().message(), "missing.crt");
  ExpectContains(r.status().message(), "No such file");

  o = Server();
  o.cert_file = g_fx->Path("garbage.crt");
  r = Context::Create(o);
  assert_false(r.ok());
  ExpectContains(r.status().message(), "garbage.crt");

  o = Server();
  o.key_file = g_fx->Path("client.key");  // a key of another certificate
  r = Context::Create(o);
  assert_false(r.ok());
  ExpectContains(r.status().message(), "does not match");

  o = Server("server1", "", true);  // require_client_cert without a CA
  r = Context::Create(o);
  assert_false(r.ok());
  ExpectContains(r.status().message(), "ca_file");

  o = Server("server1", "missing-ca.crt");
  r = Context::Create(o);
  assert_false(r.ok());
  ExpectContains(r.status().message(), "missing-ca.crt");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handshake_and_data_both_ways, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_handshake_one_byte_at_a_time, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_client_not_trusting_ca_fails, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_wrong_host_certificate_rejected_by_client, Setup,
                                      Teardown),
      cmocka_unit_test_setup_teardown(test_required_client_cert_missing_fails, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_expired_client_cert_fails, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_client_cert_from_unknown_ca_fails, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_peer_identity_from_cn, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_peer_identity_from_dns_san_without_cn, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_optional_client_cert, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_old_protocol_version_refused, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_only_aead_ecdhe_suites, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_garbage_bytes_fail_cleanly, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_close_notify_both_ways, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_reload_keeps_existing_sessions, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_create_errors_name_the_file, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, GroupSetup, GroupTeardown);
}
