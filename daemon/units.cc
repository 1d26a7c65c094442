#include "daemon/units.h"

#include <arpa/inet.h>

#include <cctype>
#include <limits>

namespace trib::config {
namespace {

// Splits "123abc" into 123 and "abc". Returns false on no digits or overflow.
bool SplitNumber(std::string_view text, uint64_t* number, std::string_view* suffix) {
  size_t i = 0;
  while (i < text.size() && text[i] == ' ') ++i;
  size_t start = i;
  uint64_t n = 0;
  while (i < text.size() && isdigit(static_cast<unsigned char>(text[i]))) {
    uint64_t d = text[i] - '0';
    if (n > (std::numeric_limits<uint64_t>::max() - d) / 10) return false;
    n = n * 10 + d;
    ++i;
  }
  if (i == start) return false;
  while (i < text.size() && text[i] == ' ') ++i;
  *number = n;
  *suffix = text.substr(i);
  return true;
}

struct Unit {
  std::string_view name;
  uint64_t factor;
};

bool Scale(uint64_t n, uint64_t factor, uint64_t* out) {
  if (factor != 0 && n > std::numeric_limits<uint64_t>::max() / factor) return false;
  *out = n * factor;
  return true;
}

}  // namespace

std::string ParseSize(std::string_view text, uint64_t* out) {
  static constexpr Unit kUnits[] = {{"", 1},
                                    {"B", 1},
                                    {"KiB", 1ull << 10},
                                    {"MiB", 1ull << 20},
                                    {"GiB", 1ull << 30},
                                    {"TiB", 1ull << 40},
                                    {"KB", 1000ull},
                                    {"MB", 1000000ull},
                                    {"GB", 1000000000ull},
                                    {"TB", 1000000000000ull}};
  const std::string expected = "a size such as 512KiB, 64MiB or 1GiB";
  if (!text.empty() && text[0] == '-') return "a non-negative size (got a negative one); " + expected;
  uint64_t n;
  std::string_view suffix;
  if (!SplitNumber(text, &n, &suffix)) return expected;
  for (const Unit& u : kUnits) {
    if (suffix == u.name) {
      if (!Scale(n, u.factor, out)) return "a size that fits in 64 bits; " + expected;
      return "";
    }
  }
  return expected + " (unknown unit '" + std::string(suffix) + "')";
}

std::string ParseDuration(std::string_view text, int64_t* out_ms) {
  static constexpr Unit kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"d", 86400000}};
  const std::string expected = "a duration such as 100ms, 10s, 5m, 1h or 7d";
  if (!text.empty() && text[0] == '-') return "a non-negative duration; " + expected;
  uint64_t n;
  std::string_view suffix;
  if (!SplitNumber(text, &n, &suffix)) return expected;
  for (const Unit& u : kUnits) {
    if (suffix == u.name) {
      uint64_t ms;
      if (!Scale(n, u.factor, &ms) || ms > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return "a duration that fits in 64 bits; " + expected;
      *out_ms = static_cast<int64_t>(ms);
      return "";
    }
  }
  if (suffix.empty()) return expected + " (a unit is required)";
  return expected + " (unknown unit '" + std::string(suffix) + "')";
}

std::string ParseBind(std::string_view text, std::string* host, uint16_t* port) {
  const std::string expected = "an address such as 127.0.0.1:1883, 0.0.0.0:1883 or [::1]:1883";
  std::string h;
  std::string_view p;
  if (!text.empty() && text[0] == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return expected;
    h = std::string(text.substr(1, close - 1));
    p = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return expected;
    h = std::string(text.substr(0, colon));
    p = text.substr(colon + 1);
  }
  if (h == "localhost") h = "127.0.0.1";
  unsigned char buf[16];
  if (inet_pton(AF_INET, h.c_str(), buf) != 1 && inet_pton(AF_INET6, h.c_str(), buf) != 1)
    return expected + " (host '" + h + "' is not a numeric IP address)";
  uint64_t n;
  std::string_view rest;
  if (!SplitNumber(p, &n, &rest) || !rest.empty() || n > 65535)
    return expected + " (port must be 0..65535)";
  *host = h;
  *port = static_cast<uint16_t>(n);
  return "";
}

std::string FormatSize(uint64_t bytes) {
  static constexpr Unit kUnits[] = {
      {"TiB", 1ull << 40}, {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
  for (const Unit& u : kUnits) {
    if (bytes >= u.factor && bytes % u.factor == 0)
      return std::to_string(bytes / u.factor) + std::string(u.name);
  }
  return std::to_string(bytes) + "B";
}

std::string FormatDuration(int64_t ms) {
  static constexpr Unit kUnits[] = {{"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000}};
  for (const Unit& u : kUnits) {
    if (ms >= static_cast<int64_t>(u.factor) && ms % u.factor == 0)
      return std::to_string(ms / u.factor) + std::string(u.name);
  }
  return std::to_string(ms) + "ms";
}

}  // namespace trib::config
