// daemon/auth/password_file: parsing with line-numbered errors, lookups, saving.

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "daemon/auth/password_file.h"
#include "platform/tls_passwd.h"

#include "tests/unit/cmocka_cpp.h"  // last

using trib::auth::Error;
using trib::auth::PasswordFile;

namespace {

// mosquitto_passwd 2.0.11 output: alice/"s3cret" ($7$), bob/"hunter2" ($6$).
const char kAlice[] =
    "$7$101$skifLRgcT7zw1dxm$pcBmgkTcVZiGIJrINf/xVpUCQ8V1Hpy5EUd1KwubJFoGfrBIwYdOelImj/"
    "vMEtp8qJAhf54297Qi/TqYKSeSvQ==";
const char kBob[] =
    "$6$sJFWA3i0+dZQZ6sj$3pvExQOqB5C5LRC1Ha7A9qAvFHThaPcHs/"
    "wuHMxSCl6vsOcQuzzaDcnOQ+4ZNO+AN6lBuyYJiDg"
    "6pKbXUC9DVg==";

void ExpectParseError(const std::string& text, const char* where, const char* why) {
  auto r = PasswordFile::Parse(text, "pw");
  if (r.ok()) fail_msg("expected an error for:\n%s", text.c_str());
  const std::string m = r.status().message();
  assert_int_equal(r.status().code(), Error::kParse);
  if (m.rfind(where, 0) != 0) fail_msg("\"%s\" does not start with \"%s\"", m.c_str(), where);
  if (m.find(why) == std::string::npos) fail_msg("\"%s\" lacks \"%s\"", m.c_str(), why);
}

struct TempDir {
  std::filesystem::path dir;
};

int Setup(void** state) {
  char tmpl[] = "/tmp/trib-pwfile-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return -1;
  *state = new TempDir{tmpl};
  return 0;
}
int Teardown(void** state) {
  auto* t = static_cast<TempDir*>(*state);
  std::error_code ec;
  std::filesystem::remove_all(t->dir, ec);
  delete t;
  return 0;
}

}  // namespace

static void test_parse_and_check(void**) {
  const std::string text = std::string("# users\n\nalice:") + kAlice + "\r\n  bob : " + kBob +
                           "  \n   # indented comment\n";
  auto r = PasswordFile::Parse(text, "pw");
  if (!r.ok()) fail_msg("%s", r.status().message().c_str());
  const PasswordFile& pf = r.value();
  assert_int_equal(pf.size(), 2);
  assert_true(pf.Contains("alice"));
  assert_true(pf.Contains("bob"));
  assert_false(pf.Contains("carol"));
  assert_true(pf.Check("alice", "s3cret"));
  assert_false(pf.Check("alice", "hunter2"));
  assert_true(pf.Check("bob", "hunter2"));
  assert_false(pf.Check("bob", ""));
  assert_false(pf.Check("carol", "s3cret"));  // unknown user
  assert_false(pf.Check("Alice", "s3cret"));  // names are case-sensitive
}

static void test_empty_file_has_no_users(void**) {
  auto r = PasswordFile::Parse("", "pw");
  assert_true(r.ok());
  assert_int_equal(r.value().size(), 0);
  assert_false(r.value().Check("", ""));
}

static void test_parse_errors_name_the_line(void**) {
  const std::string a = std::string("alice:") + kAlice + "\n";
  ExpectParseError("# c\nalice\n", "pw:2: ", "expected user:hash");
  ExpectParseError(a + "\n:" + kBob + "\n", "pw:3: ", "user name is empty");
  ExpectParseError(a + "bob:hunter2\n", "pw:2: ", "plain-text");
  ExpectParseError(a + "bob:\n", "pw:2: ", "empty password hash");
  ExpectParseError("x:$argon2id$v=19$m=1,t=1,p=1$c2FsdA$aGFzaA\n", "pw:1: ", "argon2id");
  ExpectParseError(a + "bob:$7$101$!!!$abc\n", "pw:2: ", "salt");
  ExpectParseError(a + "b\x01ob:" + kBob + "\n", "pw:2: ", "control character");
  ExpectParseError(a + "b\xc3(ob:" + kBob + "\n", "pw:2: ", "UTF-8");
  ExpectParseError(a + "#\n\n" + a, "pw:4: ", "already defined on line 1");
  const std::string err = [] {
    auto r = PasswordFile::Parse("\nbob:$6$x\n", "/etc/tributary/passwords");
    return r.status().message();
  }();
  assert_true(err.rfind("/etc/tributary/passwords:2: user 'bob': ", 0) == 0);
}

static void test_set_remove_and_serialize_keep_comments(void**) {
  auto r = PasswordFile::Parse(
      std::string("# site users\nalice:") + kAlice + "\n\nbob:" + kBob + "\n", "pw");
  assert_true(r.ok());
  PasswordFile pf = std::move(r.value());
  assert_true(pf.SetPassword("carol", "c4rol").ok());
  assert_true(pf.Check("carol", "c4rol"));
  assert_true(pf.SetPassword("alice", "new-pass").ok());  // change in place
  assert_true(pf.Check("alice", "new-pass"));
  assert_false(pf.Check("alice", "s3cret"));
  assert_true(pf.Remove("bob").ok());
  assert_false(pf.Contains("bob"));
  assert_int_equal(pf.Remove("bob").code(), Error::kNotFound);

  std::istringstream lines(pf.Serialize());
  std::string l;
  std::getline(lines, l);
  assert_string_equal(l.c_str(), "# site users");
  std::getline(lines, l);
  assert_true(l.rfind("alice:$7$101$", 0) == 0);
  std::getline(lines, l);
  assert_string_equal(l.c_str(), "");
  std::getline(lines, l);
  assert_true(l.rfind("carol:$7$101$", 0) == 0);
  assert_false(static_cast<bool>(std::getline(lines, l)));

  // Bad input to the setters.
  assert_int_equal(pf.SetPassword("a:b", "x").code(), Error::kInvalid);
  assert_int_equal(pf.SetPassword("#admin", "x").code(), Error::kInvalid);
  assert_int_equal(pf.SetPassword(" dave", "x").code(), Error::kInvalid);
  assert_int_equal(pf.SetPassword("dave", "").code(), Error::kInvalid);
  assert_int_equal(pf.SetHash("dave", "plain").code(), Error::kInvalid);
  assert_true(pf.SetHash("dave", kBob).ok());
  assert_true(pf.Check("dave", "hunter2"));
}

static void test_save_is_atomic_and_private(void** state) {
  auto* t = static_cast<TempDir*>(*state);
  const std::string path = (t->dir / "passwords").string();
  PasswordFile pf;
  assert_true(pf.SetPassword("alice", "s3cret").ok());
  assert_true(pf.Save(path).ok());
  struct stat st {};
  assert_int_equal(stat(path.c_str(), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);

  // Replace it; no temporary file is left behind.
  assert_true(pf.SetPassword("bob", "b0b").ok());
  assert_true(pf.Save(path).ok());
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(t->dir)) {
    (void)e;
    ++files;
  }
  assert_int_equal(files, 1);

  auto loaded = PasswordFile::Load(path);
  if (!loaded.ok()) fail_msg("%s", loaded.status().message().c_str());
  assert_true(loaded.value().Check("alice", "s3cret"));
  assert_true(loaded.value().Check("bob", "b0b"));

  // Errors name the path.
  auto missing = PasswordFile::Load((t->dir / "nope").string());
  assert_int_equal(missing.status().code(), Error::kIo);
  assert_true(missing.status().message().find("nope") != std::string::npos);
  assert_false(pf.Save((t->dir / "no-such-dir" / "pw").string()).ok());
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_and_check),
      cmocka_unit_test(test_empty_file_has_no_users),
      cmocka_unit_test(test_parse_errors_name_the_line),
      cmocka_unit_test(test_set_remove_and_serialize_keep_comments),
      cmocka_unit_test_setup_teardown(test_save_is_atomic_and_private, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
