// Fuzz target: the password file parser (daemon/auth/password_file).
// Input: the text of a password file. A file that parses must serialize to
// text that parses again to the same text (Serialize is a fixed point), with
// the same number of users; a file that does not must say "<source>:<line>: why".
// Hashes are only parsed, never derived (a fuzzed iteration count would make
// an execution slow without finding anything).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "daemon/auth/password_file.h"
#include "tests/fuzz/fuzz_check.h"

using trib::auth::PasswordFile;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = PasswordFile::Parse(text, "fuzz");
  if (!parsed.ok()) {
    const std::string m = parsed.status().message();
    FUZZ_CHECK(m.rfind("fuzz:", 0) == 0);
    FUZZ_CHECK(m.size() > 6 && m[5] >= '1' && m[5] <= '9');
    return 0;
  }
  const std::string once = parsed.value().Serialize();
  auto again = PasswordFile::Parse(once, "fuzz");
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again.value().size() == parsed.value().size());
  FUZZ_CHECK(again.value().Serialize() == once);
  // Every user that was read is found by its exact name.
  std::string_view rest = once;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl + 1);
    const size_t colon = line.find(':');
    const size_t first = line.find_first_not_of(" \t");
    if (colon == std::string_view::npos || first == std::string_view::npos || line[first] == '#') {
      continue;
    }
    FUZZ_CHECK(parsed.value().Contains(line.substr(0, colon)));
  }
  return 0;
}
