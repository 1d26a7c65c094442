// The error type of daemon/auth: password file, ACL file, `tributary passwd`.
//
// Thread: values.
#pragma once

#include "platform/status.h"

namespace trib::auth {

enum class Error {
  kOk = 0,
  kIo,        // a file could not be read or written
  kParse,     // a line of a password or ACL file is wrong (message: "FILE:LINE: why")
  kInvalid,   // a bad argument (user name, password)
  kNotFound,  // no such user
};
using Status = BasicStatus<Error>;

// "io", "parse", ... for logs.
const char* ErrorName(Error e);

}  // namespace trib::auth
