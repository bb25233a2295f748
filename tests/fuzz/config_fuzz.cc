// Fuzzes the node's config parser (node/config.h): the input is the text of
// a config file, as `watchfloor node --config FILE` reads it.
//
// Invariants: failures are INVALID_ARGUMENT naming the source; a config that
// parses also passes CheckConfig, and its key file path is resolved against
// the base directory; IsLoopbackAddress takes any line without crashing.
#include <cstddef>
#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "node/config.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watchfloor;  // NOLINT
  const absl::string_view text = fuzz::AsView(data, size);
  absl::StatusOr<v1::NodeConfig> config = node::ParseConfig(text, "fuzz.conf", "/etc/wf");
  if (!config.ok()) {
    WF_FUZZ_CHECK(config.status().code() == absl::StatusCode::kInvalidArgument,
                  config.status().ToString());
  } else {
    WF_FUZZ_CHECK(node::CheckConfig(*config).ok(), config->ShortDebugString());
    WF_FUZZ_CHECK(absl::StartsWith(config->signing_key_file(), "/"),
                  config->signing_key_file());
  }
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    (void)node::IsLoopbackAddress(line);
  }
  return 0;
}
