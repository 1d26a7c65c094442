// toml++'s implementation for the libFuzzer build of fuzz_config, compiled
// apart from daemon/config.cc as the daemon has it (Debian's libtomlplusplus),
// but instrumented, so that coverage of the TOML parser guides the fuzzer.
//
// Two differences from a plain debug build, both to match the library the
// daemon runs (GCC, NDEBUG) rather than hide anything in our code:
//   - toml++ 3.3 asserts a precondition that some malformed table headers
//     break and then returns a parse error (marzer/tomlplusplus#301): its
//     assertions are off here as in Debian's build;
//   - toml++ 3.3 reaches __builtin_unreachable() when it asks whether some
//     non-ASCII code points (U+00A1-U+0499, U+FE56-U+FEFE, ...) are
//     whitespace (marzer/tomlplusplus#190, #295; fixed upstream after 3.3.0).
//     That is undefined behaviour in the library, not in config.cc; compilers
//     make the switch fall to a case that answers "no", and the parser then
//     reports a syntax error. This file is compiled with
//     -fno-sanitize=unreachable so that UBSan does not stop the fuzzer there;
//     every other check stays on.
#undef NDEBUG  // with it, toml++ turns assertions into __builtin_assume under clang
#define TOML_HEADER_ONLY 0
#define TOML_IMPLEMENTATION
#define TOML_ASSERT(expr) static_assert(true)
#include <toml++/toml.h>
