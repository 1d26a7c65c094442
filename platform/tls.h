// TLS for the MQTT listeners: mbedTLS driven over memory buffers.
//
// Nothing here touches a socket. The daemon's Connection reads ciphertext from
// libuv, hands it to Session::Receive, writes whatever Receive/Send/Close
// append to `*wire`, and parses the decrypted bytes appended to `*plain` as
// MQTT. That keeps mbedTLS out of the event loop code and makes TLS testable
// in memory.
//
// Policy (fixed, not configurable): TLS 1.2 only, because mbedTLS 2.28 has no
// production TLS 1.3 (its TLS 1.3 code is an experimental, disabled-by-default
// prototype); ECDHE key exchange with AEAD ciphers only (see kCipherSuites in
// tls.cc); no renegotiation; curves x25519, secp256r1, secp384r1; SHA-2
// signatures only.
//
// Client certificates: with `require_client_cert`, a client without a
// certificate that chains to `ca_file` fails the handshake. Without it but with
// a `ca_file`, a certificate is requested and optional; a client that sends one
// must still pass verification, or the handshake fails (an unverifiable
// certificate is never silently ignored). Without a `ca_file` no certificate is
// requested.
//
// Handshake time is bounded by the daemon (the [limits] connect_timeout closes
// a connection that has not completed CONNECT in time), not here.
//
// Memory: Receive consumes all the ciphertext it is given before returning.
// mbedTLS keeps at most one partial record (about 16.7 KiB in, 16.7 KiB out per
// session); nothing else is buffered. Output grows only the caller's strings.
//
// Thread: loop only. A Context and all of its Sessions must be used from one
// thread; the DRBG they share has no lock.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "platform/status.h"

namespace trib::tls {

enum class Error {
  kOk = 0,
  kConfig,     // a certificate, key or CA file is missing, unreadable or wrong
  kHandshake,  // the handshake failed (bad or missing certificate, no common cipher, ...)
  kProtocol,   // a record failed to decrypt or parse after the handshake
  kClosed,     // the peer sent close_notify, or the session already failed or closed
};
using Status = BasicStatus<Error>;

// "config", "handshake", ... for logs.
const char* ErrorName(Error e);

struct ServerOptions {
  std::string cert_file;             // PEM: the server certificate, then any intermediates
  std::string key_file;              // PEM or DER private key, unencrypted
  std::string ca_file;               // PEM CA bundle for client certificates; "" = none requested
  bool require_client_cert = false;  // REQUIRES a ca_file
};

struct Config;  // one loaded certificate/key/CA set; defined in tls.cc
struct Rng;     // entropy + CTR_DRBG; defined in tls.cc

// The TLS state of one listener: its certificates and its random generator.
// Owned by the listener. Sessions keep what they were created with alive, so
// a Context may be destroyed or reloaded while sessions are open.
class Context {
 public:
  // Loads and checks the files. Errors name the file and mbedTLS's reason, e.g.
  // "key_file /etc/x.key: PK - Invalid key tag or value (-0x3D00)".
  static BasicResult<std::unique_ptr<Context>, Error> Create(const ServerOptions& options);

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  // Loads `options` into a new configuration used by sessions created after
  // this call; existing sessions keep the configuration they started with and
  // are never dropped. On error the current configuration stays in use.
  Status Reload(const ServerOptions& options);

 private:
  friend class Session;
  Context();
  std::shared_ptr<Rng> rng_;
  std::shared_ptr<const Config> config_;
};

// The TLS state of one connection (server side). Owned by the connection.
// After any error from Receive or Send the session is dead: later calls return
// kClosed, and the connection should send what is in *wire and close.
class Session {
 public:
  explicit Session(Context* context);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Feeds ciphertext read from the socket; any length, including partial
  // records. Appends decrypted application bytes to *plain and bytes for the
  // peer (handshake messages, alerts) to *wire; both may be appended to even
  // when an error is returned (send *wire before closing, it may hold an
  // alert). Handshake failures are kHandshake with a reason such as
  // "certificate verify failed: expired", "no client certificate",
  // "unknown CA", "bad record" or "no shared cipher suite".
  Status Receive(std::string_view ciphertext, std::string* plain, std::string* wire);

  // Encrypts application bytes and appends the records to *wire.
  // REQUIRES: handshake_done().
  Status Send(std::string_view plain, std::string* wire);

  // Appends a close_notify alert to *wire (once). The session is closed after.
  void Close(std::string* wire);

  bool handshake_done() const;

  // Gives back to the system the pages of this session's record buffers
  // that hold nothing, and returns how many bytes that was (0 when records
  // are pending either way, or before the handshake is done). mbedTLS 2.28
  // as Debian builds it keeps a 16 KiB input and a 16 KiB output buffer for
  // a session's whole life and zeroes both at setup, so an idle TLS
  // connection would hold 33 KiB; after this each buffer keeps only the page
  // it starts in, and a later record touches only the pages it needs (they
  // come back zeroed, which is all a buffer between records may hold).
  size_t ReleaseIdleBuffers();

  // The identity in the client's verified certificate, used as the MQTT user
  // name when the listener maps certificates to users. The rule, in order:
  //   1. the first Common Name (CN) of the subject;
  //   2. else the first dNSName subjectAltName;
  //   3. else the subject's emailAddress attribute.
  // (mbedTLS 2.28 does not expose rfc822Name subjectAltNames.) Returns "" when
  // the handshake is not done, no certificate was presented, or the chosen
  // value contains a control character or NUL (never a truncated name).
  std::string PeerIdentity() const;

  // The negotiated suite and version, e.g. "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256",
  // "TLSv1.2"; "" until the handshake has completed (kept after Close).
  std::string CipherSuite() const;
  std::string Version() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace trib::tls
