// Fuzz target: the configuration file (daemon/config.h, config::LoadString).
// Input: the text of a TOML file. LoadString must return a Status (no
// exception of toml++ may escape, nothing may abort). A refusal names the
// source and is a syntax, key, type or value error (never I/O). A file that
// loads keeps the cross-key rules Check() promises: at least one listener,
// unique stream and exporter names, exporters naming configured streams.
// Seeds (corpus/config, copied by hand): packaging/tributary.toml, the full
// example of tests/unit/daemon/config_test.cc, a peer and a Kafka setup like
// the integration tests write, and a file that is refused.

#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "tests/fuzz/fuzz_check.h"

using namespace trib::config;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Config c;
  const Status s = LoadString(text, "fuzz", &c);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == Error::kSyntax || s.code() == Error::kUnknownKey ||
               s.code() == Error::kType || s.code() == Error::kValue);
    FUZZ_CHECK(s.message().rfind("fuzz", 0) == 0);
    return 0;
  }
  FUZZ_CHECK(c.source == "fuzz" && !c.listeners.empty());
  std::set<std::string> streams, exporters;
  for (const StreamConfig& st : c.streams) {
    FUZZ_CHECK(!st.name.empty() && st.partitions >= 1 && !st.subjects.empty());
    FUZZ_CHECK(streams.insert(st.name).second);
  }
  for (const ExporterConfig& e : c.exporters) {
    FUZZ_CHECK(exporters.insert(e.name).second);
    for (const std::string& name : e.streams) FUZZ_CHECK(streams.count(name) == 1);
  }
  return 0;
}
