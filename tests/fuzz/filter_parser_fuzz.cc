// Fuzzes the filter text syntax (node/filter_parser.h), as `subscribe
// --filter` and `export --filter` read it.
//
// Invariants, from the header's contract: failures are INVALID_ARGUMENT; a
// parsed filter compiles (Matcher::Compile); FormatFilter of it parses back
// to the same filter (ParseFilter output is canonical).
#include <cstddef>
#include <cstdint>

#include "node/filter.h"
#include "node/filter_parser.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watchfloor;  // NOLINT
  const absl::string_view text = fuzz::AsView(data, size);
  absl::StatusOr<v1::Filter> f = node::ParseFilter(text);
  if (!f.ok()) {
    WF_FUZZ_CHECK(f.status().code() == absl::StatusCode::kInvalidArgument,
                  f.status().ToString());
    return 0;
  }
  google::protobuf::RepeatedPtrField<v1::Filter> one;
  *one.Add() = *f;
  absl::StatusOr<std::shared_ptr<const node::Matcher>> m = node::Matcher::Compile(one);
  WF_FUZZ_CHECK(m.ok(), m.status().ToString() + " for " + f->ShortDebugString());
  const std::string formatted = node::FormatFilter(*f);
  absl::StatusOr<v1::Filter> again = node::ParseFilter(formatted);
  WF_FUZZ_CHECK(again.ok(), again.status().ToString() + " for \"" + formatted + "\"");
  WF_FUZZ_CHECK(again->SerializeAsString() == f->SerializeAsString(),
                "\"" + formatted + "\" parses to " + again->ShortDebugString() +
                    ", not " + f->ShortDebugString());
  return 0;
}
