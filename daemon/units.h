// Parsing of sizes ("64KiB", "1GiB", "512") and durations ("100ms", "10s", "7d").
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace trib::config {

// Sizes: a non-negative integer with an optional suffix B, KiB, MiB, GiB, TiB
// (also KB/MB/GB/TB meaning powers of 1000). Returns "" or what was expected.
std::string ParseSize(std::string_view text, uint64_t* out);
// Durations: a non-negative integer with a suffix ms, s, m, h, d; returns ms.
std::string ParseDuration(std::string_view text, int64_t* out_ms);
// host:port, [v6]:port. Validates that host is a numeric IPv4/IPv6 address or
// "localhost" and port is 0..65535. Returns "" or what was expected.
std::string ParseBind(std::string_view text, std::string* host, uint16_t* port);

std::string FormatSize(uint64_t bytes);
std::string FormatDuration(int64_t ms);

}  // namespace trib::config
