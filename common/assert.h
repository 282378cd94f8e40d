// CA_ASSERT stays on in release builds: an assertion is a claim about our own
// code, and a broken claim in a consensus system must stop the process before
// it acknowledges something false. Operating errors (bad input, full disk)
// are Status values, never asserts.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace common {
[[noreturn]] inline void assert_fail(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "assertion failed: %s at %s:%d\n", expr, file, line);
  std::fflush(stderr);
  std::abort();
}
}  // namespace common

#define CA_ASSERT(expr) \
  ((expr) ? static_cast<void>(0) : ::common::assert_fail(#expr, __FILE__, __LINE__))
