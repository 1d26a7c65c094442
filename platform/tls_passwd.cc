#include "platform/tls_passwd.h"

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <mbedtls/platform_util.h>
// mbedTLS 2.28's constant_time.h lacks the extern "C" guard its other headers have.
extern "C" {
#include <mbedtls/constant_time.h>
}

#include <charconv>
#include <vector>

namespace trib::tls {
namespace {

constexpr size_t kSaltBytes = 12;  // what mosquitto_passwd writes
constexpr size_t kMaxSaltBytes = 64;
constexpr size_t kHashBytes = 64;  // SHA-512 output

struct Parsed {
  int type = 0;  // 6 or 7
  int iterations = 0;
  std::vector<unsigned char> salt;
  std::vector<unsigned char> hash;
};

bool IsBase64(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/' || c == '=';
    if (!ok) return false;
  }
  return true;
}

// Decodes standard base64; false on anything mbedTLS rejects or an empty result.
bool DecodeBase64(std::string_view s, size_t max_bytes, std::vector<unsigned char>* out) {
  if (!IsBase64(s) || s.size() > 4 * (max_bytes / 3 + 2)) return false;
  out->assign(s.size(), 0);
  size_t n = 0;
  const int ret = mbedtls_base64_decode(out->data(), out->size(), &n,
                                        reinterpret_cast<const unsigned char*>(s.data()), s.size());
  if (ret != 0 || n == 0 || n > max_bytes) return false;
  out->resize(n);
  return true;
}

std::string EncodeBase64(const unsigned char* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  size_t len = 0;
  if (mbedtls_base64_encode(reinterpret_cast<unsigned char*>(out.data()), out.size(), &len, p, n) !=
      0) {
    return "";
  }
  out.resize(len);
  return out;
}

// Splits at '$'; "$7$a$b$c" gives {"", "7", "a", "b", "c"}.
std::vector<std::string_view> SplitDollar(std::string_view s) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t d = s.find('$');
    parts.push_back(s.substr(0, d));
    if (d == std::string_view::npos) return parts;
    s.remove_prefix(d + 1);
  }
}

// "" and *out filled, or why `encoded` is not a supported hash.
std::string Parse(std::string_view encoded, Parsed* out) {
  if (encoded.empty()) return "empty password hash";
  if (encoded.substr(0, 10) == "$argon2id$") {
    return "unsupported hash type $argon2id$ (re-create the password with `tributary passwd` or "
           "`mosquitto_passwd -H sha512-pbkdf2`)";
  }
  if (encoded[0] != '$') return "not a password hash (plain-text passwords are not accepted)";
  const auto parts = SplitDollar(encoded);
  if (parts.size() < 2 || (parts[1] != "6" && parts[1] != "7")) {
    return "unsupported hash type (expected $7$ PBKDF2-SHA512 or $6$ SHA512)";
  }
  size_t next = 2;
  if (parts[1] == "7") {
    out->type = 7;
    if (parts.size() != 5) return "malformed $7$ hash (expected $7$iterations$salt$hash)";
    const std::string_view it = parts[2];
    int v = 0;
    const auto r = std::from_chars(it.data(), it.data() + it.size(), v);
    if (it.empty() || r.ec != std::errc() || r.ptr != it.data() + it.size() || v < 1 ||
        v > kMaxPasswordIterations) {
      return "iteration count must be a number from 1 to " + std::to_string(kMaxPasswordIterations);
    }
    out->iterations = v;
    next = 3;
  } else {
    out->type = 6;
    if (parts.size() != 4) return "malformed $6$ hash (expected $6$salt$hash)";
  }
  if (!DecodeBase64(parts[next], kMaxSaltBytes, &out->salt)) return "salt is not valid base64";
  if (!DecodeBase64(parts[next + 1], kHashBytes, &out->hash) || out->hash.size() != kHashBytes) {
    return "hash is not 64 bytes of base64";
  }
  return "";
}

// The 64-byte digest of `password` under the parameters in `p`.
bool Derive(std::string_view password, const Parsed& p, unsigned char out[kHashBytes]) {
  const mbedtls_md_info_t* sha512 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA512);
  if (sha512 == nullptr) return false;
  const auto* pw = reinterpret_cast<const unsigned char*>(password.data());
  mbedtls_md_context_t md;
  mbedtls_md_init(&md);
  int ret = mbedtls_md_setup(&md, sha512, p.type == 7 ? 1 : 0);
  if (ret == 0 && p.type == 7) {
    ret = mbedtls_pkcs5_pbkdf2_hmac(&md, pw, password.size(), p.salt.data(), p.salt.size(),
                                    static_cast<unsigned>(p.iterations), kHashBytes, out);
  } else if (ret == 0) {
    ret = mbedtls_md_starts(&md);
    if (ret == 0) ret = mbedtls_md_update(&md, pw, password.size());
    if (ret == 0) ret = mbedtls_md_update(&md, p.salt.data(), p.salt.size());
    if (ret == 0) ret = mbedtls_md_finish(&md, out);
  }
  mbedtls_md_free(&md);
  return ret == 0;
}

bool RandomSalt(unsigned char* salt, size_t n) {
  mbedtls_entropy_context entropy;
  mbedtls_ctr_drbg_context drbg;
  mbedtls_entropy_init(&entropy);
  mbedtls_ctr_drbg_init(&drbg);
  static const char kPersonalization[] = "tributary-passwd";
  int ret = mbedtls_ctr_drbg_seed(&drbg, mbedtls_entropy_func, &entropy,
                                  reinterpret_cast<const unsigned char*>(kPersonalization),
                                  sizeof kPersonalization - 1);
  if (ret == 0) ret = mbedtls_ctr_drbg_random(&drbg, salt, n);
  mbedtls_ctr_drbg_free(&drbg);
  mbedtls_entropy_free(&entropy);
  return ret == 0;
}

}  // namespace

bool ConstantTimeEqual(const void* a, const void* b, size_t n) {
  return mbedtls_ct_memcmp(a, b, n) == 0;
}

std::string CheckPasswordHash(std::string_view encoded) {
  Parsed p;
  return Parse(encoded, &p);
}

bool VerifyPassword(std::string_view password, std::string_view encoded) {
  Parsed p;
  if (!Parse(encoded, &p).empty()) return false;
  unsigned char digest[kHashBytes];
  const bool ok =
      Derive(password, p, digest) && ConstantTimeEqual(digest, p.hash.data(), kHashBytes);
  mbedtls_platform_zeroize(digest, sizeof digest);
  return ok;
}

std::string HashPassword(std::string_view password, int iterations) {
  if (iterations < 1 || iterations > kMaxPasswordIterations) return "";
  Parsed p;
  p.type = 7;
  p.iterations = iterations;
  p.salt.resize(kSaltBytes);
  if (!RandomSalt(p.salt.data(), p.salt.size())) return "";
  unsigned char digest[kHashBytes];
  if (!Derive(password, p, digest)) return "";
  std::string out = "$7$" + std::to_string(iterations) + "$" +
                    EncodeBase64(p.salt.data(), p.salt.size()) + "$" +
                    EncodeBase64(digest, sizeof digest);
  mbedtls_platform_zeroize(digest, sizeof digest);
  return out;
}

std::string VerifiedDigest(std::string_view user, std::string_view password) {
  static const std::string key = [] {
    std::string k(32, '\0');
    mbedtls_entropy_context entropy;
    mbedtls_entropy_init(&entropy);
    if (mbedtls_entropy_func(&entropy, reinterpret_cast<unsigned char*>(k.data()), k.size()) != 0) {
      // No entropy: a key nobody else knows is still better than none.
      for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<char>(reinterpret_cast<uintptr_t>(&k) >> (i % 8));
    }
    mbedtls_entropy_free(&entropy);
    return k;
  }();
  const mbedtls_md_info_t* md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
  mbedtls_md_context_t ctx;
  mbedtls_md_init(&ctx);
  std::string out(32, '\0');
  const unsigned char zero = 0;
  if (mbedtls_md_setup(&ctx, md, 1) != 0 ||
      mbedtls_md_hmac_starts(&ctx, reinterpret_cast<const unsigned char*>(key.data()), key.size()) != 0 ||
      mbedtls_md_hmac_update(&ctx, reinterpret_cast<const unsigned char*>(user.data()), user.size()) != 0 ||
      mbedtls_md_hmac_update(&ctx, &zero, 1) != 0 ||
      mbedtls_md_hmac_update(&ctx, reinterpret_cast<const unsigned char*>(password.data()), password.size()) != 0 ||
      mbedtls_md_hmac_finish(&ctx, reinterpret_cast<unsigned char*>(out.data())) != 0) {
    out.clear();  // never matches a stored digest
  }
  mbedtls_md_free(&ctx);
  return out;
}

}  // namespace trib::tls
