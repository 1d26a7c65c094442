#include "daemon/auth/passwd_cli.h"

#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>

#include "daemon/auth/password_file.h"

namespace trib::auth {
namespace {

constexpr size_t kMaxPasswordBytes = 65535;  // an MQTT password is binary data of at most this

int Fail(const std::string& why) {
  std::fprintf(stderr, "tributary passwd: %s\n", why.c_str());
  return 1;
}

// Reads up to '\n' or end of input; false on a read error, an empty input or
// a line longer than kMaxPasswordBytes.
bool ReadLine(int fd, std::string* line, std::string* why) {
  line->clear();
  bool any = false;
  for (;;) {
    char c;
    const ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      *why = "cannot read the password";
      return false;
    }
    if (n == 0) break;
    any = true;
    if (c == '\n') break;
    if (line->size() == kMaxPasswordBytes) {
      *why = "password longer than 65535 bytes";
      return false;
    }
    line->push_back(c);
  }
  if (!line->empty() && line->back() == '\r') line->pop_back();
  if (!any) {
    *why = "no password given on stdin";
    return false;
  }
  return true;
}

// Prompts on stderr and reads a line from the terminal `fd` with echo off.
bool PromptNoEcho(int fd, const char* prompt, std::string* line, std::string* why) {
  std::fputs(prompt, stderr);
  std::fflush(stderr);
  termios old{};
  const bool have_tty = ::tcgetattr(fd, &old) == 0;
  if (have_tty) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    quiet.c_lflag |= ECHONL;
    (void)::tcsetattr(fd, TCSANOW, &quiet);
  }
  const bool ok = ReadLine(fd, line, why);
  if (have_tty) (void)::tcsetattr(fd, TCSANOW, &old);
  return ok;
}

bool GetPassword(int fd, bool batch, std::string* password, std::string* why) {
  if (batch || !::isatty(fd)) return ReadLine(fd, password, why);
  std::string again;
  if (!PromptNoEcho(fd, "Password: ", password, why)) return false;
  if (!PromptNoEcho(fd, "Reenter password: ", &again, why)) return false;
  if (*password != again) {
    *why = "passwords do not match";
    return false;
  }
  return true;
}

}  // namespace

int RunPasswdForTest(const std::string& file, const std::string& user, bool del, bool batch,
                     int in_fd) {
  const std::string bad_user = PasswordFile::ValidateUserName(user);
  if (!bad_user.empty()) return Fail(bad_user);

  PasswordFile pf;
  if (::access(file.c_str(), F_OK) == 0) {
    auto loaded = PasswordFile::Load(file);
    if (!loaded.ok()) return Fail(loaded.status().message() + " (file left unchanged)");
    pf = std::move(loaded.value());
  } else if (errno != ENOENT) {
    return Fail("cannot access " + file + ": " + std::strerror(errno));
  } else if (del) {
    return Fail(file + " does not exist");
  }

  Status st;
  if (del) {
    st = pf.Remove(user);
  } else {
    std::string password, why;
    if (!GetPassword(in_fd, batch, &password, &why)) return Fail(why);
    st = pf.SetPassword(user, password);
    std::fill(password.begin(), password.end(), '\0');
  }
  if (st.ok()) st = pf.Save(file);
  if (!st.ok()) return Fail(st.message());
  return 0;
}

int RunPasswd(const std::string& file, const std::string& user, bool del,
              bool batch_password_from_stdin) {
  return RunPasswdForTest(file, user, del, batch_password_from_stdin, STDIN_FILENO);
}

}  // namespace trib::auth
