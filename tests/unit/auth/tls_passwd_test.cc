// platform/tls_passwd: Mosquitto-compatible password hashes.

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "platform/tls_passwd.h"

#include "tests/unit/cmocka_cpp.h"  // last

using namespace trib::tls;

// Written by mosquitto_passwd 2.0.11 (`-b`, defaults) for the password "s3cret".
static const char kMosquittoPbkdf2[] =
    "$7$101$skifLRgcT7zw1dxm$pcBmgkTcVZiGIJrINf/xVpUCQ8V1Hpy5EUd1KwubJFoGfrBIwYdOelImj/"
    "vMEtp8qJAhf54297Qi/TqYKSeSvQ==";
// Written by mosquitto_passwd 2.0.11 `-H sha512` for the password "hunter2".
static const char kMosquittoSha512[] =
    "$6$sJFWA3i0+dZQZ6sj$3pvExQOqB5C5LRC1Ha7A9qAvFHThaPcHs/"
    "wuHMxSCl6vsOcQuzzaDcnOQ+4ZNO+AN6lBuyYJiDg"
    "6pKbXUC9DVg==";

static void test_hash_round_trip(void**) {
  const std::string h = HashPassword("correct horse battery staple");
  assert_true(h.rfind("$7$101$", 0) == 0);
  // $7$101$ + 16 chars of salt (12 bytes) + $ + 88 chars of hash (64 bytes).
  assert_int_equal(h.size(), 7 + 16 + 1 + 88);
  assert_string_equal(CheckPasswordHash(h).c_str(), "");
  assert_true(VerifyPassword("correct horse battery staple", h));
  assert_false(VerifyPassword("correct horse battery stapler", h));
  assert_false(VerifyPassword("", h));
  // A new random salt every time.
  assert_true(HashPassword("x") != HashPassword("x"));
  // Other iteration counts are written and read back.
  const std::string h5 = HashPassword("pw", 5);
  assert_true(h5.rfind("$7$5$", 0) == 0);
  assert_true(VerifyPassword("pw", h5));
  assert_true(HashPassword("pw", 0).empty());
}

static void test_known_mosquitto_vectors(void**) {
  assert_true(VerifyPassword("s3cret", kMosquittoPbkdf2));
  assert_false(VerifyPassword("s3creT", kMosquittoPbkdf2));
  assert_true(VerifyPassword("hunter2", kMosquittoSha512));
  assert_false(VerifyPassword("hunter3", kMosquittoSha512));
}

static void test_password_with_binary_bytes(void**) {
  const std::string pw("a\0b\xff:$", 6);
  const std::string h = HashPassword(pw);
  assert_true(VerifyPassword(pw, h));
  assert_false(VerifyPassword(std::string("a\0b\xff:", 5), h));
}

// Runs the installed mosquitto_passwd and verifies what it wrote.
static void test_mosquitto_passwd_output_verifies(void**) {
#ifndef TRIB_MOSQUITTO_PASSWD
  skip();
#else
  char tmpl[] = "/tmp/trib-passwd-test-XXXXXX";
  assert_non_null(mkdtemp(tmpl));
  const std::string file = std::string(tmpl) + "/pw";
  const std::string cmd = std::string(TRIB_MOSQUITTO_PASSWD) + " -c -b '" + file +
                          "' alice 'p4ss word' && " + TRIB_MOSQUITTO_PASSWD + " -H sha512 -b '" +
                          file + "' bob 'b0b!'";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(file);
  std::string alice, bob;
  std::getline(in, alice);
  std::getline(in, bob);
  std::filesystem::remove_all(tmpl);
  assert_int_equal(rc, 0);
  assert_true(alice.rfind("alice:$7$", 0) == 0);
  assert_true(bob.rfind("bob:$6$", 0) == 0);
  const std::string ha = alice.substr(6), hb = bob.substr(4);
  assert_string_equal(CheckPasswordHash(ha).c_str(), "");
  assert_true(VerifyPassword("p4ss word", ha));
  assert_false(VerifyPassword("p4ss  word", ha));
  assert_true(VerifyPassword("b0b!", hb));
  assert_false(VerifyPassword("b0b", hb));
#endif
}

static void test_malformed_hashes(void**) {
  struct Case {
    const char* hash;
    const char* why;  // a fragment of CheckPasswordHash's answer
  } cases[] = {
      {"", "empty"},
      {"plaintext", "plain-text"},
      {"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", "argon2id"},
      {"$5$abc$def", "unsupported hash type"},
      {"$7$101$skifLRgcT7zw1dxm", "malformed $7$"},
      {"$7$0$skifLRgcT7zw1dxm$pcBm", "iteration count"},
      {"$7$-1$skifLRgcT7zw1dxm$pcBm", "iteration count"},
      {"$7$99999999$skifLRgcT7zw1dxm$pcBm", "iteration count"},
      {"$7$1x$skifLRgcT7zw1dxm$pcBm", "iteration count"},
      {"$7$101$not.base64!$pcBm", "salt"},
      {"$7$101$skifLRgcT7zw1dxm$c2hvcnQ=", "64 bytes"},
      {"$7$101$skifLRgcT7zw1dxm$pcBm gkTc", "64 bytes"},
      {"$6$sJFWA3i0+dZQZ6sj", "malformed $6$"},
      {"$6$$3pvE", "salt"},
  };
  for (const Case& c : cases) {
    const std::string why = CheckPasswordHash(c.hash);
    if (why.find(c.why) == std::string::npos) {
      fail_msg("CheckPasswordHash(\"%s\") = \"%s\", expected \"%s\"", c.hash, why.c_str(), c.why);
    }
    assert_false(VerifyPassword("", c.hash));
    assert_false(VerifyPassword("s3cret", c.hash));
  }
  // A valid hash with a changed last byte of the digest never matches.
  std::string h = kMosquittoPbkdf2;
  h[h.size() - 3] = h[h.size() - 3] == 'v' ? 'w' : 'v';
  assert_false(VerifyPassword("s3cret", h));
}

static void test_verified_digest(void**) {
  std::string a = trib::tls::VerifiedDigest("alice", "secret");
  assert_int_equal(a.size(), 32);
  assert_true(a == trib::tls::VerifiedDigest("alice", "secret"));  // stable within a process
  assert_false(a == trib::tls::VerifiedDigest("alice", "secreT"));
  assert_false(a == trib::tls::VerifiedDigest("bob", "secret"));
  // The separator keeps (user, password) pairs apart that concatenate alike.
  assert_false(trib::tls::VerifiedDigest("ab", "c") == trib::tls::VerifiedDigest("a", "bc"));
  assert_false(a == trib::tls::VerifiedDigest("alice", std::string_view("secret\0", 7)));
}

static void test_constant_time_equal(void**) {
  const unsigned char a[64] = {1, 2, 3};
  unsigned char b[64] = {1, 2, 3};
  assert_true(ConstantTimeEqual(a, b, sizeof a));
  b[0] ^= 1;  // first byte differs
  assert_false(ConstantTimeEqual(a, b, sizeof a));
  b[0] ^= 1;
  b[63] ^= 0x80;  // only the last byte differs: still found
  assert_false(ConstantTimeEqual(a, b, sizeof a));
  assert_true(ConstantTimeEqual(a, b, 0));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hash_round_trip),
      cmocka_unit_test(test_known_mosquitto_vectors),
      cmocka_unit_test(test_password_with_binary_bytes),
      cmocka_unit_test(test_mosquitto_passwd_output_verifies),
      cmocka_unit_test(test_malformed_hashes),
      cmocka_unit_test(test_constant_time_equal),
      cmocka_unit_test(test_verified_digest),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
