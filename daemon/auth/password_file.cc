#include "daemon/auth/password_file.h"

#include "daemon/auth/file_io.h"
#include "daemon/mqtt/utf8.h"
#include "platform/tls_passwd.h"

namespace trib::auth {
namespace {

constexpr size_t kMaxFileBytes = 64u << 20;
constexpr size_t kMaxUserBytes = 65535;  // an MQTT string

// A $7$ hash of 32 random bytes that were thrown away: checked for unknown
// users so they take as long as known ones. Whether it matches is ignored.
constexpr std::string_view kDummyHash =
    "$7$101$edL2eOk4bBZk9mYO$4zudYh9B0mYNauHnmRQxRN37s8IlhNqP+r75R3EZlJgpnSxZpUZYBP6Aga3mbc92qy1"
    "GoW0PGrsE/4dH/ZoaBw==";

bool IsBlank(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsBlank(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsBlank(s.back())) s.remove_suffix(1);
  return s;
}

Status LineError(std::string_view source, size_t line, const std::string& why) {
  return Status(Error::kParse, std::string(source) + ":" + std::to_string(line) + ": " + why);
}

}  // namespace

std::string PasswordFile::ValidateUserName(std::string_view user) {
  if (user.empty()) return "user name is empty";
  if (user.size() > kMaxUserBytes) return "user name is longer than 65535 bytes";
  if (user.find(':') != std::string_view::npos) return "user name contains ':'";
  for (char c : user) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) return "user name contains a control character";
  }
  if (user[0] == '#') return "user name starts with '#' (it would read as a comment)";
  if (IsBlank(user.front()) || IsBlank(user.back())) return "user name starts or ends with a blank";
  if (!mqtt::IsValidUtf8(user)) return "user name is not valid UTF-8";
  return "";
}

BasicResult<PasswordFile, Error> PasswordFile::Parse(std::string_view text,
                                                     std::string_view source) {
  PasswordFile pf;
  size_t line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view raw = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (raw.find_first_not_of(" \t\r") == std::string_view::npos || Trim(raw).front() == '#') {
      pf.lines_.push_back(Line{std::string(raw), "", ""});  // kept byte for byte, "\r" too
      continue;
    }
    if (raw.back() == '\r') raw.remove_suffix(1);
    const std::string_view line = Trim(raw);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return LineError(source, line_no, "expected user:hash");
    }
    const std::string_view user = Trim(line.substr(0, colon));
    const std::string_view hash = Trim(line.substr(colon + 1));
    std::string why = ValidateUserName(user);
    if (!why.empty()) return LineError(source, line_no, why);
    why = tls::CheckPasswordHash(hash);
    if (!why.empty()) {
      return LineError(source, line_no, "user '" + std::string(user) + "': " + why);
    }
    const auto it = pf.index_.find(std::string(user));
    if (it != pf.index_.end()) {
      // lines_ holds one entry per line read so far, so index + 1 is its line number.
      return LineError(source, line_no,
                       "user '" + std::string(user) + "' is already defined on line " +
                           std::to_string(it->second + 1));
    }
    pf.index_.emplace(std::string(user), pf.lines_.size());
    pf.lines_.push_back(Line{"", std::string(user), std::string(hash)});
  }
  return pf;
}

BasicResult<PasswordFile, Error> PasswordFile::Load(const std::string& path) {
  std::string text;
  Status st = ReadWholeFile(path, kMaxFileBytes, &text);
  if (!st.ok()) return st;
  return Parse(text, path);
}

bool PasswordFile::Check(std::string_view user, std::string_view password) const {
  const auto it = index_.find(std::string(user));
  if (it == index_.end()) {
    (void)tls::VerifyPassword(password, kDummyHash);
    return false;
  }
  return tls::VerifyPassword(password, lines_[it->second].hash);
}

bool PasswordFile::Contains(std::string_view user) const {
  return index_.count(std::string(user)) != 0;
}

Status PasswordFile::SetHash(std::string_view user, std::string_view hash) {
  std::string why = ValidateUserName(user);
  if (!why.empty()) return Status(Error::kInvalid, why);
  why = tls::CheckPasswordHash(hash);
  if (!why.empty()) return Status(Error::kInvalid, why);
  const auto it = index_.find(std::string(user));
  if (it != index_.end()) {
    lines_[it->second].hash = std::string(hash);
  } else {
    index_.emplace(std::string(user), lines_.size());
    lines_.push_back(Line{"", std::string(user), std::string(hash)});
  }
  return Status::Ok();
}

Status PasswordFile::SetPassword(std::string_view user, std::string_view password) {
  const std::string why = ValidateUserName(user);
  if (!why.empty()) return Status(Error::kInvalid, why);
  if (password.empty()) return Status(Error::kInvalid, "password is empty");
  const std::string hash = tls::HashPassword(password);
  if (hash.empty()) return Status(Error::kIo, "cannot hash the password (no system entropy)");
  return SetHash(user, hash);
}

Status PasswordFile::Remove(std::string_view user) {
  const auto it = index_.find(std::string(user));
  if (it == index_.end()) return Status(Error::kNotFound, "no user '" + std::string(user) + "'");
  lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(it->second));
  Reindex();
  return Status::Ok();
}

void PasswordFile::Reindex() {
  index_.clear();
  for (size_t i = 0; i < lines_.size(); ++i) {
    if (!lines_[i].user.empty()) index_.emplace(lines_[i].user, i);
  }
}

std::string PasswordFile::Serialize() const {
  std::string out;
  for (const Line& l : lines_) {
    out += l.user.empty() ? l.text : l.user + ":" + l.hash;
    out += '\n';
  }
  return out;
}

Status PasswordFile::Save(const std::string& path) const {
  return WriteFileAtomic(path, Serialize(), 0640);
}

}  // namespace trib::auth
