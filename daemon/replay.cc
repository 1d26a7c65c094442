#include "daemon/replay.h"

#include <cctype>
#include <ctime>

#include "daemon/units.h"

namespace trib {
namespace {

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (!isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// RFC 3339: 2026-11-22T03:00:00Z, with optional fraction and +hh:mm / -hh:mm.
bool ParseRfc3339(std::string_view s, int64_t* ms) {
  std::string t(s);
  tm parts{};
  const char* end = strptime(t.c_str(), "%Y-%m-%dT%H:%M:%S", &parts);
  if (!end) return false;
  int64_t frac_ms = 0;
  if (*end == '.') {
    ++end;
    int digits = 0;
    while (isdigit(static_cast<unsigned char>(*end))) {
      if (digits < 3) frac_ms = frac_ms * 10 + (*end - '0');
      ++digits;
      ++end;
    }
    if (digits == 0) return false;
    for (; digits < 3; ++digits) frac_ms *= 10;
  }
  int64_t offset_s = 0;
  if (*end == 'Z' || *end == 'z') {
    ++end;
  } else if (*end == '+' || *end == '-') {
    int sign = *end == '-' ? -1 : 1;
    int hh = 0, mm = 0;
    if (sscanf(end + 1, "%2d:%2d", &hh, &mm) != 2 || hh > 23 || mm > 59) return false;
    offset_s = sign * (hh * 3600 + mm * 60);
    end += 6;
  } else {
    return false;  // a zone is required
  }
  if (*end != '\0') return false;
  time_t secs = timegm(&parts);
  if (secs == static_cast<time_t>(-1)) return false;
  *ms = (static_cast<int64_t>(secs) - offset_s) * 1000 + frac_ms;
  return true;
}

}  // namespace

std::string ParseReplayPosition(std::string_view text, int64_t now_ms, ReplayPosition* out) {
  const std::string expected =
      "a replay position: earliest, latest, an offset, offset:N, time:<RFC 3339>, an RFC 3339 "
      "time or a relative time such as -1h";
  if (text == "earliest") {
    out->kind = ReplayPosition::Kind::kEarliest;
    return "";
  }
  if (text == "latest") {
    out->kind = ReplayPosition::Kind::kLatest;
    return "";
  }
  std::string_view num = text.substr(0, 7) == "offset:" ? text.substr(7) : text;
  if (AllDigits(num)) {
    out->kind = ReplayPosition::Kind::kOffset;
    out->offset = std::stoull(std::string(num));
    return "";
  }
  if (!text.empty() && text[0] == '-') {
    int64_t d = 0;
    if (!config::ParseDuration(text.substr(1), &d).empty()) return expected;
    out->kind = ReplayPosition::Kind::kTime;
    out->time_ms = now_ms - d;
    return "";
  }
  std::string_view t = text.substr(0, 5) == "time:" ? text.substr(5) : text;
  int64_t ms = 0;
  if (ParseRfc3339(t, &ms)) {
    out->kind = ReplayPosition::Kind::kTime;
    out->time_ms = ms;
    return "";
  }
  return expected + " (got \"" + std::string(text) + "\")";
}

bool SplitReplayFilter(std::string_view filter, std::string_view* position, std::string_view* rest,
                       std::string* error) {
  constexpr std::string_view kPrefix = "$replay/";
  if (filter.substr(0, kPrefix.size()) != kPrefix) return false;
  std::string_view tail = filter.substr(kPrefix.size());
  size_t slash = tail.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 >= tail.size()) {
    *error = "expected $replay/<position>/<filter>";
    return true;
  }
  *position = tail.substr(0, slash);
  *rest = tail.substr(slash + 1);
  return true;
}

}  // namespace trib
