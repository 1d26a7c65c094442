// Variable Byte Integer decoding and encoding.

#include "daemon/mqtt/varint.h"

namespace trib::mqtt {

VarintResult DecodeVarint(const uint8_t* data, size_t len, uint32_t* value, size_t* used) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) {
    if (i >= len) return VarintResult::kNeedMore;
    const uint8_t b = data[i];
    v |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      // A last byte of 0 after other bytes means a longer encoding than needed.
      if (b == 0 && i > 0) return VarintResult::kMalformed;  // [MQTT-1.5.5-1]
      *value = v;
      *used = i + 1;
      return VarintResult::kOk;
    }
  }
  return VarintResult::kMalformed;  // more than four bytes
}

void AppendVarint(std::string* out, uint32_t v) {
  uint8_t buf[4];
  const uint8_t* end = WriteVarint(buf, v);
  out->append(reinterpret_cast<const char*>(buf), static_cast<size_t>(end - buf));
}

}  // namespace trib::mqtt
