// Fuzz target: UTF-8 validation, topic name / filter validation, $share
// parsing, level iteration and matching, each checked against a slow,
// obviously-correct reference. Input: "<filter>\xFF<topic>" (0xFF never occurs
// in UTF-8, so it cannot hide a valid character).

#include <string>
#include <vector>

#include "tests/fuzz/fuzz_common.h"

using namespace mqtt_fuzz;

// Reference UTF-8 check: decode code points one by one.
static bool RefUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) {
      cp = c, n = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, n = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, n = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, n = 4;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0) return false;
    i += n;
  }
  return true;
}

static std::vector<std::string_view> Split(std::string_view s) {
  std::vector<std::string_view> v;
  size_t start = 0;
  for (;;) {
    const size_t slash = s.find('/', start);
    if (slash == std::string_view::npos) {
      v.push_back(s.substr(start));
      return v;
    }
    v.push_back(s.substr(start, slash - start));
    start = slash + 1;
  }
}

// Reference matcher over level vectors (section 4.7).
static bool RefMatch(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic[0] == '$' && (filter[0] == '+' || filter[0] == '#')) return false;
  const auto f = Split(filter), t = Split(topic);
  for (size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;  // also the parent: "a/#" matches "a"
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t sep = in.find('\xFF');
  const std::string_view filter = in.substr(0, sep);
  const std::string_view topic = sep == std::string_view::npos ? "" : in.substr(sep + 1);

  FUZZ_CHECK(IsValidUtf8(in) == RefUtf8(in));
  FUZZ_CHECK(IsValidUtf8(topic) == RefUtf8(topic));

  // Levels joined with '/' give the input back.
  std::string joined;
  size_t levels = 0;
  for (std::string_view l : TopicLevels(topic)) {
    if (levels++) joined += '/';
    joined += l;
  }
  FUZZ_CHECK(joined == topic && levels == CountTopicLevels(topic));

  const bool name_ok = ValidateTopicName(topic).ok();
  const bool filter_ok = ValidateTopicFilter(filter).ok();
  FUZZ_CHECK(name_ok ==
             (RefUtf8(topic) && !topic.empty() && topic.size() <= 65535 && !HasWildcard(topic)));
  if (name_ok) {
    FUZZ_CHECK(TopicMatches(topic, topic));
    if (topic.substr(0, 7) != "$share/") FUZZ_CHECK(ValidateTopicFilter(topic).ok());
    if (topic[0] != '$') FUZZ_CHECK(TopicMatches("#", topic));
  }
  SharedFilter sf;
  const Status shared = ParseShared(filter, &sf);
  if (filter_ok) {
    FUZZ_CHECK(shared.ok());
    if (sf.shared) {
      FUZZ_CHECK(std::string("$share/") + std::string(sf.group) + "/" + std::string(sf.filter) ==
                 filter);
    }
    // Wildcards only as whole levels, '#' only last.
    const auto lv = Split(sf.filter);
    for (size_t i = 0; i < lv.size(); ++i) {
      if (lv[i].find_first_of("+#") != std::string_view::npos) {
        FUZZ_CHECK(lv[i].size() == 1);
        FUZZ_CHECK(lv[i] == "+" || i + 1 == lv.size());
      }
    }
    if (name_ok) FUZZ_CHECK(TopicMatches(sf.filter, topic) == RefMatch(sf.filter, topic));
  }
  return 0;
}
