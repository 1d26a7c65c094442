// FUZZ_CHECK(cond): a fuzz target's invariant. A violation prints where and
// aborts, which libFuzzer (and replay_main.cc under the sanitizers) reports as
// a finding; unlike assert() it stays on in every build type.
#pragma once

#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(cond)                                                            \
  do {                                                                              \
    if (!(cond)) {                                                                  \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
