// daemon/auth/acl: Mosquitto's ACL format, deny precedence, patterns, and the
// subscription-coverage rule.

#include <optional>
#include <string>

#include "daemon/auth/acl.h"

#include "tests/unit/cmocka_cpp.h"  // last

using trib::auth::Access;
using trib::auth::Acl;
using trib::auth::ClientInfo;
using trib::auth::Error;

namespace {

const char kAcl[] = R"(# Tributary ACL test file
# anonymous clients
topic read public/#
topic read $SYS/broker/uptime
topic write my topic/with space

user alice
topic sensors/#
topic deny sensors/secret/#
topic write alice/out
topic read alice/in/+

user bob
topic read #
topic deny private/#

user admin with space
topic readwrite #

# patterns apply to everyone, wherever they are written
pattern write devices/%c/#
pattern read devices/%u/down/#
pattern deny devices/%c/blocked
)";

constexpr auto R = Access::kRead;
constexpr auto W = Access::kWrite;
constexpr auto S = Access::kSubscribe;

ClientInfo Anon(const char* client_id) { return ClientInfo{std::nullopt, client_id}; }
ClientInfo User(const char* user, const char* client_id) { return ClientInfo{user, client_id}; }

Acl* g_acl = nullptr;

int GroupSetup(void**) {
  auto r = Acl::Parse(kAcl, "acl");
  if (!r.ok()) {
    print_error("%s\n", r.status().message().c_str());
    return -1;
  }
  g_acl = new Acl(std::move(r.value()));
  return 0;
}
int GroupTeardown(void**) {
  delete g_acl;
  return 0;
}

void Expect(const ClientInfo& who, const char* topic, Access a, bool want) {
  if (g_acl->Check(who, topic, a) != want) {
    fail_msg("user %s client %s %s %s: expected %s",
             who.username ? std::string(*who.username).c_str() : "(none)",
             std::string(who.client_id).c_str(),
             a == R   ? "read"
             : a == W ? "write"
                      : "subscribe",
             topic, want ? "allow" : "deny");
  }
}

void ExpectParseError(const char* text, const char* where, const char* why) {
  auto r = Acl::Parse(text, "acl");
  if (r.ok()) fail_msg("expected an error for:\n%s", text);
  assert_int_equal(r.status().code(), Error::kParse);
  const std::string m = r.status().message();
  if (m.rfind(where, 0) != 0) fail_msg("\"%s\" does not start with \"%s\"", m.c_str(), where);
  if (m.find(why) == std::string::npos) fail_msg("\"%s\" lacks \"%s\"", m.c_str(), why);
}

}  // namespace

static void test_no_acl_file_allows_everything(void**) {
  Acl none;
  assert_true(none.allows_everything());
  assert_true(none.Check(Anon("c"), "any/topic", W));
  assert_true(none.Check(User("u", "c"), "#", S));
  assert_true(none.Check(User("u", "c"), "$SYS/x", R));
  assert_false(none.NeedsPerMessageCheck(Anon("c"), "#"));
}

static void test_empty_acl_file_denies_everything(void**) {
  auto r = Acl::Parse("# nothing\n\n", "acl");
  assert_true(r.ok());
  assert_false(r.value().allows_everything());
  assert_false(r.value().Check(Anon("c"), "a", R));
  assert_false(r.value().Check(User("u", "c"), "a", W));
  assert_false(r.value().Check(User("u", "c"), "a", S));
}

static void test_anonymous_gets_top_of_file_rules(void**) {
  const ClientInfo a = Anon("anon1");
  Expect(a, "public/news", R, true);
  Expect(a, "public/news", W, false);
  Expect(a, "$SYS/broker/uptime", R, true);
  Expect(a, "$SYS/broker/load", R, false);
  Expect(a, "my topic/with space", W, true);
  Expect(a, "sensors/a", R, false);  // alice's rules are alice's
  // Patterns apply to anonymous clients too, except those using %u.
  Expect(a, "devices/anon1/up", W, true);
  Expect(a, "devices/anon1/down/x", R, false);
  // A user, even one with an empty name, is not anonymous.
  Expect(User("", "c"), "public/news", R, false);
  Expect(User("alice", "c"), "public/news", R, false);
}

static void test_user_rules_read_vs_write(void**) {
  const ClientInfo alice = User("alice", "c1");
  Expect(alice, "sensors/kitchen/temp", R, true);
  Expect(alice, "sensors/kitchen/temp", W, true);  // no access word: readwrite
  Expect(alice, "alice/out", W, true);
  Expect(alice, "alice/out", R, false);
  Expect(alice, "alice/in/1", R, true);
  Expect(alice, "alice/in/1", W, false);
  Expect(alice, "alice/in/1/2", R, false);
  Expect(alice, "other", R, false);

  const ClientInfo bob = User("bob", "b1");
  Expect(bob, "anything/at/all", R, true);
  Expect(bob, "anything/at/all", W, false);
  Expect(bob, "$SYS/broker/uptime", R, false);  // '#' does not match '$' topics

  Expect(User("admin with space", "x"), "a/b", W, true);
  Expect(User("admin", "x"), "a/b", W, false);
}

static void test_deny_wins(void**) {
  const ClientInfo alice = User("alice", "c1");
  Expect(alice, "sensors/secret/key", R, false);
  Expect(alice, "sensors/secret/key", W, false);
  Expect(alice, "sensors/secret", R, false);  // "x/#" also matches "x"
  Expect(alice, "sensors/secrets", R, true);
  Expect(User("bob", "b1"), "private/diary", R, false);
  // A deny pattern beats a user's own allowing rule (bob may read '#').
  Expect(User("bob", "b1"), "devices/b1/blocked", R, false);
  Expect(User("bob", "b1"), "devices/b2/blocked", R, true);
  // ... and an allowing pattern.
  Expect(Anon("c9"), "devices/c9/blocked", W, false);
  Expect(Anon("c9"), "devices/c9/ok", W, true);
}

static void test_patterns_substitute_user_and_client(void**) {
  const ClientInfo carol = User("carol", "dev-7");  // no user section: patterns only
  Expect(carol, "devices/dev-7/up", W, true);
  Expect(carol, "devices/dev-7/a/b", W, true);
  Expect(carol, "devices/dev-8/up", W, false);
  Expect(carol, "devices/carol/down/cmd", R, true);
  Expect(carol, "devices/carol/down/cmd", W, false);
  Expect(carol, "devices/dave/down/cmd", R, false);
  Expect(carol, "public/news", R, false);
}

static void test_wildcards_in_names_never_widen_patterns(void**) {
  // A client id with '/' would otherwise reach devices/a/b/...; '#' or '+' would be a wildcard.
  Expect(Anon("a/b"), "devices/a/b/up", W, false);
  Expect(User("+", "c"), "devices/x/down/y", R, false);
  Expect(User("#", "c"), "devices/x/down/y", R, false);
  // A deny pattern using a tainted value denies everything.
  Expect(User("alice", "#"), "sensors/a", R, false);
  Expect(User("alice", "x/y"), "sensors/a", W, false);
  Expect(User("alice", "ok"), "sensors/a", W, true);
}

static void test_subscribe_needs_a_covering_read_rule(void**) {
  const ClientInfo alice = User("alice", "c1");
  Expect(alice, "sensors/#", S, true);
  Expect(alice, "sensors/+/temp", S, true);
  Expect(alice, "sensors", S, true);            // sensors/# covers its parent
  Expect(alice, "sensors/secret/#", S, false);  // covered by the deny
  Expect(alice, "sensors/secret/x", S, false);
  Expect(alice, "alice/in/+", S, true);
  Expect(alice, "alice/in/x", S, true);
  Expect(alice, "alice/in/#", S, false);  // '+' does not cover '#'
  Expect(alice, "alice/+/x", S, false);   // a literal does not cover '+'
  Expect(alice, "alice/out", S, false);   // write only
  Expect(alice, "#", S, false);
  Expect(alice, "$share/workers/sensors/+", S, true);
  Expect(alice, "$share/workers/alice/out", S, false);

  const ClientInfo bob = User("bob", "b1");
  Expect(bob, "#", S, true);
  Expect(bob, "+/x", S, true);
  Expect(bob, "private/#", S, false);
  Expect(bob, "private/x", S, false);
  Expect(bob, "$SYS/#", S, false);  // '#' rule does not cover '$' topics

  const ClientInfo anon = Anon("a1");
  Expect(anon, "public/#", S, true);
  Expect(anon, "$SYS/broker/uptime", S, true);
  Expect(anon, "$SYS/#", S, false);
  Expect(anon, "$SYS/broker/+", S, false);
  Expect(User("carol", "d1"), "devices/carol/down/#", S, true);
  Expect(User("carol", "d1"), "devices/+/down/#", S, false);
  Expect(User("carol", "d1"), "devices/d1/x", S, false);  // write-only pattern
}

static void test_partial_deny_overlap_needs_per_message_checks(void**) {
  const ClientInfo alice = User("alice", "c1");
  assert_true(g_acl->NeedsPerMessageCheck(alice, "sensors/#"));
  assert_true(g_acl->NeedsPerMessageCheck(alice, "sensors/+/key"));
  assert_true(g_acl->NeedsPerMessageCheck(alice, "sensors/secret"));
  assert_false(g_acl->NeedsPerMessageCheck(alice, "sensors/public/#"));
  assert_false(g_acl->NeedsPerMessageCheck(alice, "alice/in/+"));
  assert_true(g_acl->NeedsPerMessageCheck(User("bob", "b1"), "#"));
  assert_true(g_acl->NeedsPerMessageCheck(User("bob", "b1"), "devices/+/blocked"));
  assert_false(g_acl->NeedsPerMessageCheck(User("bob", "b1"), "weather/#"));
  assert_false(g_acl->NeedsPerMessageCheck(Anon("a"), "public/#"));
  assert_true(g_acl->NeedsPerMessageCheck(User("alice", "#"), "sensors/a"));
  // The per-message check then filters what the subscription delivers.
  Expect(alice, "sensors/secret/key", R, false);
  Expect(alice, "sensors/kitchen/temp", R, true);
}

static void test_parse_errors_name_the_line(void**) {
  ExpectParseError("# c\r\ntopic read\r\n", "acl:2: ", "missing topic filter after 'read'");
  ExpectParseError("user\n", "acl:1: ", "'user' needs a user name");
  ExpectParseError("\n\ntopics a/b\n", "acl:3: ", "unknown keyword 'topics'");
  ExpectParseError("user a\ntopic a/#/b\n", "acl:2: ", "not a valid topic filter");
  ExpectParseError("topic read a+/b\n", "acl:1: ", "not a valid topic filter");
  ExpectParseError("pattern deny $share/g/a\n", "acl:1: ", "shared subscriptions");
  ExpectParseError("pattern\n", "acl:1: ", "missing topic filter");
  ExpectParseError("topic \xff\n", "acl:1: ", "not a valid topic filter");
  auto r = Acl::Parse("user x\n  topic   read   a/b  \n\tpattern deny c\n", "acl");
  assert_true(r.ok());
  assert_int_equal(r.value().rule_count(), 2);
  assert_true(r.value().Check(User("x", "c"), "a/b", R));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_no_acl_file_allows_everything),
      cmocka_unit_test(test_empty_acl_file_denies_everything),
      cmocka_unit_test(test_anonymous_gets_top_of_file_rules),
      cmocka_unit_test(test_user_rules_read_vs_write),
      cmocka_unit_test(test_deny_wins),
      cmocka_unit_test(test_patterns_substitute_user_and_client),
      cmocka_unit_test(test_wildcards_in_names_never_widen_patterns),
      cmocka_unit_test(test_subscribe_needs_a_covering_read_rule),
      cmocka_unit_test(test_partial_deny_overlap_needs_per_message_checks),
      cmocka_unit_test(test_parse_errors_name_the_line),
  };
  return cmocka_run_group_tests(tests, GroupSetup, GroupTeardown);
}
