// Topic access control: Mosquitto's acl_file format and rules.
//
//   # anonymous clients (no user name): rules before the first `user` line
//   topic read $SYS/#
//   user alice                       # rules for alice until the next `user` line
//   topic sensors/#                  # access omitted: readwrite
//   topic deny sensors/secret/#
//   pattern write devices/%c/up      # patterns apply to every client, wherever they appear
//   pattern read devices/%u/down/#   # %c: client id, %u: user name
//
// Lines: `user <name>` (the rest of the line, so names may contain blanks),
// `topic [read|write|readwrite|deny] <filter>`,
// `pattern [read|write|readwrite|deny] <filter>`; blank lines and lines whose
// first non-blank character is '#' are ignored. The filter is the rest of the
// line (it may contain blanks) and must be a valid MQTT topic filter; a
// `$share/...` filter is refused. Several `user` sections with one name add up.
// Anything else is an error "FILE:LINE: why"; the daemon refuses to start or
// reload with it.
//
// Which rules apply to a client:
//   - a client without a user name: the rules before the first `user` line;
//   - a client with a user name: the rules of its `user` sections (none if it
//     has none: an authenticated user is not "anonymous");
//   - every client: all `pattern` rules, with %u and %c replaced. A pattern
//     using %u does not apply to a client without a user name. When the user
//     name or client id contains '+', '#' or '/', an allowing pattern that uses
//     it does not apply, and a deny pattern that uses it denies everything
//     (a client id "#" must not widen or dodge a rule).
//
// The decision, for PUBLISH (kWrite) and for each message delivered (kRead),
// with T the topic name:
//   1. a deny rule whose filter matches T: denied (deny always wins, also over
//      a user's own allowing rules; Mosquitto lets a user's allow beat a deny
//      pattern);
//   2. a rule granting the access (read, write, readwrite) whose filter matches T: allowed;
//   3. otherwise denied. An ACL file that does not mention a client denies it
//      everything.
// Matching is MQTT's: a rule filter starting with '+' or '#' does not match a
// topic starting with '$', so `$SYS/#` needs a rule of its own.
//
// SUBSCRIBE (kSubscribe), with F the filter (a `$share/<group>/` prefix is
// removed first): allowed when a read-granting rule COVERS F, that is every
// topic F can match is also matched by the rule (level by level: rule '#'
// covers anything from there on; rule '+' covers one level of F, '+' included;
// a literal covers only the same literal; F's '#' is covered only by '#'), and
// no deny rule covers F. A deny rule that only overlaps F (sub `sensors/#`,
// deny `sensors/secret`) does not refuse the subscription, so the broker must
// check kRead for each message delivered on it: NeedsPerMessageCheck says when.
// Several rules are not combined: read on `a/x` and `a/y` does not allow `a/+`.
// (Mosquitto's own acl_file allows every SUBSCRIBE and only filters messages on
// delivery; refusing up front gives the client a clear SUBACK 0x87 instead of
// silence.)
//
// No ACL file configured: Acl() allows everything.
//
// Thread: immutable after Parse/Load; const methods are safe from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "daemon/auth/error.h"

namespace trib::auth {

enum class Access { kRead, kWrite, kSubscribe };

// Who is asking. `username` is empty for a client that sent no user name
// (an empty user name sent by a client is a user name, "").
struct ClientInfo {
  std::optional<std::string_view> username;
  std::string_view client_id;
};

class Acl {
 public:
  Acl() = default;  // no ACL file: everything allowed

  // Parses the contents of an ACL file; `source` names it in errors.
  static BasicResult<Acl, Error> Parse(std::string_view text, std::string_view source);
  // Reads and parses `path` (at most 64 MiB).
  static BasicResult<Acl, Error> Load(const std::string& path);

  // The decision described above. `topic_or_filter` is a valid topic name for
  // kRead and kWrite, a valid topic filter for kSubscribe.
  bool Check(const ClientInfo& who, std::string_view topic_or_filter, Access access) const;

  // True if messages delivered on the subscription `filter` must each be
  // checked with Check(kRead): some deny rule matches part of what it covers.
  // False when there is no ACL file.
  bool NeedsPerMessageCheck(const ClientInfo& who, std::string_view filter) const;

  bool allows_everything() const { return !configured_; }
  size_t rule_count() const;

 private:
  struct Rule {
    uint8_t access = 0;  // kReadBit | kWriteBit; 0 = deny
    bool uses_user = false;
    bool uses_client = false;
    std::string filter;  // for a pattern: with %u / %c still in it
  };
  // A rule as it applies to one client: the filter after substitution.
  struct Applied {
    uint8_t access;
    std::string filter;
    bool match_all;  // a tainted deny pattern: matches everything
  };

  std::vector<Applied> RulesFor(const ClientInfo& who) const;
  static bool AddRule(std::string_view rest, std::vector<Rule>* to, bool pattern, std::string* why);

  bool configured_ = false;
  std::vector<Rule> anonymous_;
  std::unordered_map<std::string, std::vector<Rule>> users_;
  std::vector<Rule> patterns_;
};

}  // namespace trib::auth
