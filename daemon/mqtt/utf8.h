// UTF-8 validation for MQTT strings (section 1.5.4 of both specifications).
//
// Thread: pure functions; safe from any thread.
#pragma once

#include <string_view>

namespace trib::mqtt {

// True if `s` is well-formed UTF-8 as MQTT requires: no ill-formed sequences,
// no overlong encodings, no code points above U+10FFFF, no UTF-16 surrogates
// U+D800..U+DFFF [MQTT-1.5.4-1] and no U+0000 [MQTT-1.5.4-2]. A byte order mark
// is an ordinary character and is accepted (never stripped) [MQTT-1.5.4-3].
// Control characters and non-characters are accepted: the specifications only
// say a sender SHOULD NOT use them.
bool IsValidUtf8(std::string_view s);

}  // namespace trib::mqtt
