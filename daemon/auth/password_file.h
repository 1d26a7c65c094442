// The password file: Mosquitto's format, one `user:hash` line per user.
//
//   # comment
//   alice:$7$101$<base64 salt>$<base64 PBKDF2-SHA512 hash>
//   bob:$6$<base64 salt>$<base64 SHA512 hash>
//
// Blank lines and lines whose first non-blank character is '#' are kept as
// they are when the file is saved. Blanks around the user name and the hash
// are ignored, as Mosquitto does. Any other malformed line, a hash this build
// cannot verify (plain text, $argon2id$, bad base64) or a user listed twice is
// an error "FILE:LINE: why", and the daemon refuses to start or reload with it
// (a half-loaded password file would lock users out or, worse, let them in).
//
// Owned by whoever loads it (the broker keeps the current one and swaps it on
// SIGHUP). Thread: not thread-safe; const methods may be called concurrently.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/auth/error.h"

namespace trib::auth {

class PasswordFile {
 public:
  PasswordFile() = default;  // no users

  // Parses the contents of a password file; `source` names it in errors.
  static BasicResult<PasswordFile, Error> Parse(std::string_view text, std::string_view source);
  // Reads and parses `path` (at most 64 MiB).
  static BasicResult<PasswordFile, Error> Load(const std::string& path);

  // True if `user` is listed and `password` matches its hash. An unknown user
  // costs the same hashing as a known one, so timing does not reveal which
  // user names exist.
  bool Check(std::string_view user, std::string_view password) const;

  bool Contains(std::string_view user) const;
  size_t size() const { return index_.size(); }

  // Adds `user` or replaces its password with a new $7$ hash (101 iterations).
  // Errors: kInvalid for a bad user name (see ValidateUserName) or an empty password.
  Status SetPassword(std::string_view user, std::string_view password);
  // Adds or replaces with an existing hash, which must be one VerifyPassword accepts.
  Status SetHash(std::string_view user, std::string_view hash);
  // Removes `user`; kNotFound if it is not listed.
  Status Remove(std::string_view user);

  // The file's text: kept comments and blank lines, entries in file order,
  // new users at the end; every line ends in '\n'.
  std::string Serialize() const;

  // Writes Serialize() to `path` atomically: a temporary file in the same
  // directory (mode 0640, the old file's owner and group when permitted),
  // fsync, rename over `path`, fsync of the directory. Durable when it returns OK.
  Status Save(const std::string& path) const;

  // "" if `user` can be stored in a password file, else why not: it must be
  // non-empty UTF-8 of at most 65535 bytes without ':' or control characters,
  // must not start with '#' or have blanks at either end.
  static std::string ValidateUserName(std::string_view user);

 private:
  struct Line {
    std::string text;  // a comment or blank line, kept verbatim; "" for an entry
    std::string user;  // "" for a comment or blank line
    std::string hash;
  };
  void Reindex();

  std::vector<Line> lines_;
  std::unordered_map<std::string, size_t> index_;  // user -> index in lines_
};

}  // namespace trib::auth
