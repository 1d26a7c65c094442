// Include this instead of <cmocka.h> in C++ tests, AFTER every other include:
// cmocka's declarations lack extern "C", and its macros (fail, ...) clash with
// C++ standard headers included after it.
#pragma once

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

extern "C" {
#include <cmocka.h>
}
