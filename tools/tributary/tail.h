// Reading a stream from the command line (tail, export). Blocking; a CLI has
// no loop to keep responsive.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace trib::tool {

struct TailOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string stream;
  std::vector<std::string> subjects;         // the stream's topic filters
  std::map<uint32_t, uint64_t> end_offsets;  // partition -> end offset when started
  std::string from = "earliest";
  std::optional<uint64_t> to_offset;
  std::optional<int64_t> to_time_ms;
  bool follow = false;
  bool json = false;
  bool progress = false;
};

// Prints records; returns the process exit code.
int Tail(const TailOptions& o);

}  // namespace trib::tool
