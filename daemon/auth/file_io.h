// Whole-file reads and atomic replacement, for the auth files.
//
// Thread-safe (no shared state). Errors name the path and the OS reason.
#pragma once

#include <cstddef>
#include <string>

#include "daemon/auth/error.h"

namespace trib::auth {

// Reads all of `path` into *out; kIo if it cannot be read or is larger than `max_bytes`.
Status ReadWholeFile(const std::string& path, size_t max_bytes, std::string* out);

// Replaces `path` with `data`: writes a temporary file beside it with `mode`
// (and, when permitted, the owner and group of the file it replaces), fsyncs
// it, renames it over `path` and fsyncs the directory. On failure `path` is
// untouched and the temporary file is removed.
Status WriteFileAtomic(const std::string& path, const std::string& data, unsigned mode);

}  // namespace trib::auth
