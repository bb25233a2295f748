// Helpers shared by the libFuzzer targets in tests/fuzz/ (see README.md).
//
// A fuzz target checks more than "does not crash": where a parser documents
// an invariant (a round trip, "OK implies the checker agrees"), the target
// asserts it with WF_FUZZ_CHECK, which prints what broke and aborts, so
// libFuzzer records the input as a crash.
#ifndef WATCHFLOOR_TESTS_FUZZ_FUZZ_UTIL_H_
#define WATCHFLOOR_TESTS_FUZZ_FUZZ_UTIL_H_

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/string_view.h"

#define WF_FUZZ_CHECK(cond, what)                                            \
  do {                                                                       \
    if (!(cond)) {                                                           \
      std::fprintf(stderr, "fuzz invariant broken at %s:%d: %s\n  %s\n",     \
                   __FILE__, __LINE__, #cond, std::string(what).c_str());    \
      std::abort();                                                          \
    }                                                                        \
  } while (0)

namespace watchfloor::fuzz {

// The bytes of a file under the source tree (WF_SOURCE_DIR, set by CMake),
// e.g. SourceFile("tests/testdata/roster/genesis.json"). Fixtures only: a
// file that cannot be read aborts the fuzzer with its path.
inline std::string SourceFile(absl::string_view relative) {
  const std::string path = std::string(WF_SOURCE_DIR) + "/" + std::string(relative);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz fixture %s cannot be read\n", path.c_str());
    std::abort();
  }
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline absl::string_view AsView(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

}  // namespace watchfloor::fuzz

#endif  // WATCHFLOOR_TESTS_FUZZ_FUZZ_UTIL_H_
