// `tributary passwd FILE USER [-D]`: adds, changes or deletes a user in a
// password file, like mosquitto_passwd (the files are interchangeable).
//
// Adding or changing: on a terminal, asks for the password twice without echo
// (on stderr); otherwise, or with `batch_password_from_stdin`, reads one line
// from stdin (a trailing "\n" or "\r\n" is not part of the password). Creates
// the file (mode 0640) when it does not exist. Deleting: fails if the file or
// the user does not exist. The file is replaced atomically, comments and other
// users kept; a file that does not parse is reported and left alone.
//
// Returns the process exit status: 0 on success, 1 on any error (the reason is
// printed on stderr, starting with "tributary passwd: ").
//
// Thread: the main thread of the command-line tool (it changes terminal modes).
#pragma once

#include <string>

namespace trib::auth {

int RunPasswd(const std::string& file, const std::string& user, bool del,
              bool batch_password_from_stdin);

// RunPasswd reading the password from `in_fd` (a terminal if isatty(in_fd)).
int RunPasswdForTest(const std::string& file, const std::string& user, bool del,
                     bool batch_password_from_stdin, int in_fd);

}  // namespace trib::auth
