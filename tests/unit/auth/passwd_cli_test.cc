// daemon/auth/passwd_cli: `tributary passwd` reading from a pipe and from a terminal.

#include <fcntl.h>
#include <pty.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "daemon/auth/passwd_cli.h"
#include "daemon/auth/password_file.h"

#include "tests/unit/cmocka_cpp.h"  // last

using trib::auth::PasswordFile;
using trib::auth::RunPasswdForTest;

namespace {

struct State {
  std::filesystem::path dir;
  std::string file;
};

int Setup(void** state) {
  char tmpl[] = "/tmp/trib-passwd-cli-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return -1;
  *state = new State{tmpl, std::string(tmpl) + "/passwords"};
  return 0;
}
int Teardown(void** state) {
  auto* s = static_cast<State*>(*state);
  std::error_code ec;
  std::filesystem::remove_all(s->dir, ec);
  delete s;
  return 0;
}

// Runs the command with `input` on a pipe as its stdin.
int RunWithInput(const std::string& file, const char* user, bool del, const std::string& input) {
  int fds[2];
  if (pipe(fds) != 0) abort();
  if (write(fds[1], input.data(), input.size()) != static_cast<ssize_t>(input.size())) abort();
  close(fds[1]);
  const int rc = RunPasswdForTest(file, user, del, false, fds[0]);
  close(fds[0]);
  return rc;
}

bool Verifies(const std::string& file, const char* user, const char* password) {
  auto pf = PasswordFile::Load(file);
  return pf.ok() && pf.value().Check(user, password);
}

}  // namespace

static void test_creates_file_and_adds_users(void** state) {
  auto* s = static_cast<State*>(*state);
  assert_int_equal(RunWithInput(s->file, "alice", false, "s3cret\n"), 0);
  struct stat st {};
  assert_int_equal(stat(s->file.c_str(), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0640);
  assert_true(Verifies(s->file, "alice", "s3cret"));
  assert_int_equal(RunWithInput(s->file, "bob", false, "with spaces \r\n"), 0);
  assert_true(Verifies(s->file, "bob", "with spaces "));
  assert_true(Verifies(s->file, "alice", "s3cret"));
  // Change alice; bob stays.
  assert_int_equal(RunWithInput(s->file, "alice", false, "n3w"), 0);  // no newline: fine
  assert_true(Verifies(s->file, "alice", "n3w"));
  assert_false(Verifies(s->file, "alice", "s3cret"));
  assert_true(Verifies(s->file, "bob", "with spaces "));
}

static void test_delete_user(void** state) {
  auto* s = static_cast<State*>(*state);
  assert_int_equal(RunWithInput(s->file, "alice", true, ""), 1);  // no file yet
  assert_false(std::filesystem::exists(s->file));
  assert_int_equal(RunWithInput(s->file, "alice", false, "a\n"), 0);
  assert_int_equal(RunWithInput(s->file, "bob", false, "b\n"), 0);
  assert_int_equal(RunWithInput(s->file, "alice", true, ""), 0);
  auto pf = PasswordFile::Load(s->file);
  assert_true(pf.ok());
  assert_false(pf.value().Contains("alice"));
  assert_true(pf.value().Contains("bob"));
  assert_int_equal(RunWithInput(s->file, "alice", true, ""), 1);  // already gone
}

static void test_bad_input_changes_nothing(void** state) {
  auto* s = static_cast<State*>(*state);
  assert_int_equal(RunWithInput(s->file, "alice", false, ""), 1);    // no password at all
  assert_int_equal(RunWithInput(s->file, "alice", false, "\n"), 1);  // empty password
  assert_int_equal(RunWithInput(s->file, "a:b", false, "x\n"), 1);   // bad user name
  assert_false(std::filesystem::exists(s->file));
  // A file that does not parse is reported and left as it is.
  std::ofstream(s->file) << "alice:not-a-hash\n";
  assert_int_equal(RunWithInput(s->file, "bob", false, "x\n"), 1);
  std::ifstream in(s->file);
  std::string line;
  std::getline(in, line);
  assert_string_equal(line.c_str(), "alice:not-a-hash");
}

static void test_terminal_prompts_twice(void** state) {
  auto* s = static_cast<State*>(*state);
  int master = -1, slave = -1;
  if (openpty(&master, &slave, nullptr, nullptr, nullptr) != 0) skip();
  // Both answers are queued before the command reads them.
  const std::string typed = "tty-pass\ntty-pass\n";
  assert_int_equal(write(master, typed.data(), typed.size()), typed.size());
  const int rc = RunPasswdForTest(s->file, "carol", false, false, slave);
  const std::string mismatch = "one\ntwo\n";
  assert_int_equal(write(master, mismatch.data(), mismatch.size()), mismatch.size());
  const int rc2 = RunPasswdForTest(s->file, "dave", false, false, slave);
  close(slave);
  close(master);
  assert_int_equal(rc, 0);
  assert_true(Verifies(s->file, "carol", "tty-pass"));
  assert_int_equal(rc2, 1);
  auto pf = PasswordFile::Load(s->file);
  assert_true(pf.ok());
  assert_false(pf.value().Contains("dave"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_creates_file_and_adds_users, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_delete_user, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_bad_input_changes_nothing, Setup, Teardown),
      cmocka_unit_test_setup_teardown(test_terminal_prompts_twice, Setup, Teardown),
  };
  return cmocka_run_group_tests(tests, nullptr, nullptr);
}
