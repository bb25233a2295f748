#include "node/cli/filter_flags.h"

#include "absl/strings/str_cat.h"
#include "node/filter.h"
#include "node/filter_parser.h"

namespace watchfloor::cli {

absl::StatusOr<google::protobuf::RepeatedPtrField<watchfloor::v1::Filter>> ParseFilterFlags(
    const std::vector<std::string>& texts) {
  // Counted first: 65 good filters are one mistake, not 65 parses.
  if (texts.size() > static_cast<size_t>(node::kMaxFiltersPerSubscription)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "usage: --filter given ", texts.size(), " times; the limit is ",
        node::kMaxFiltersPerSubscription,
        " filters per request. Merge them: one condition takes a list, e.g. "
        "'domain:cz,sk' or 'origin:nic.cz,sk-nic.sk' (docs/FILTERS.md)"));
  }
  google::protobuf::RepeatedPtrField<watchfloor::v1::Filter> filters;
  for (const std::string& text : texts) {
    absl::StatusOr<watchfloor::v1::Filter> f = node::ParseFilter(text);
    if (!f.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --filter: ", f.status().message()));
    }
    *filters.Add() = *std::move(f);
  }
  // ParseFilter already applies the node's per-condition checks; this is the
  // node's whole-request check, so that nothing it would refuse gets sent.
  absl::StatusOr<std::shared_ptr<const node::Matcher>> matcher = node::Matcher::Compile(filters);
  if (!matcher.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("usage: --filter: ", matcher.status().message()));
  }
  return filters;
}

}  // namespace watchfloor::cli
