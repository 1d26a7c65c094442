// Password hashes in Mosquitto's formats, so a password file written by
// mosquitto_passwd works here and one written by `tributary passwd` works in
// Mosquitto 2.x:
//
//   $7$<iterations>$<base64 salt>$<base64 hash>
//       PBKDF2-HMAC-SHA512 of the password with the salt, 64-byte output.
//       What we write: 101 iterations (mosquitto_passwd's default), 12-byte
//       random salt, standard base64 with padding ("+/", "=").
//   $6$<base64 salt>$<base64 hash>
//       SHA-512 of password || salt (Mosquitto 1.x). Verified, never written.
//
// Mosquitto 2.1's "$argon2id$..." hashes are not supported (mbedTLS has no
// Argon2); CheckPasswordHash says so.
//
// Verification costs `iterations` HMAC-SHA512 computations and runs on the
// caller's thread (the loop), so the iteration count of a hash is capped at
// kMaxPasswordIterations; the default 101 keeps CONNECT cheap.
//
// Thread-safe: no shared state (each HashPassword seeds its own DRBG).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace trib::tls {

inline constexpr int kDefaultPasswordIterations = 101;
inline constexpr int kMaxPasswordIterations = 1000000;

// A new "$7$..." hash of `password` with a random 12-byte salt from a CTR_DRBG
// seeded from the system entropy source. Returns "" only if that source fails.
// REQUIRES: 1 <= iterations <= kMaxPasswordIterations.
std::string HashPassword(std::string_view password, int iterations = kDefaultPasswordIterations);

// True if `encoded` is a valid "$7$" or "$6$" hash of `password`. The final
// comparison takes the same time wherever the hashes differ. A malformed hash
// never matches.
bool VerifyPassword(std::string_view password, std::string_view encoded);

// "" if `encoded` is a hash VerifyPassword understands, else why not
// ("unsupported hash type $argon2id$", "salt is not base64", ...).
std::string CheckPasswordHash(std::string_view encoded);

// A fixed-cost check for passwords already verified once: HMAC-SHA256 under a
// random key made once per process, over `user`, a 0 byte and `password`
// (32 bytes). The broker keeps the digest of the last good password per user
// so that a reconnect storm does not pay the PBKDF2 cost again per CONNECT.
std::string VerifiedDigest(std::string_view user, std::string_view password);

// Compares `n` bytes in time that depends only on `n` (mbedtls_ct_memcmp).
bool ConstantTimeEqual(const void* a, const void* b, size_t n);

}  // namespace trib::tls
