// The --filter flags of `subscribe`, `export` and `audit --node`, checked
// the way the node checks a Subscribe or Export request, before the CLI dials.
#ifndef WATCHFLOOR_NODE_CLI_FILTER_FLAGS_H_
#define WATCHFLOOR_NODE_CLI_FILTER_FLAGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "watchfloor/v1/filter.pb.h"

namespace watchfloor::cli {

// Parses each text with node::ParseFilter (docs/FILTERS.md) and checks the
// whole set with node::Matcher::Compile, the node's own check: at most
// node::kMaxFiltersPerSubscription filters of at most
// node::kMaxConditionsPerFilter conditions, every value within its limits.
// INVALID_ARGUMENT whose message starts "usage: --filter" (a usage error,
// exit 2) naming the filter and what is wrong. Pure; any thread.
absl::StatusOr<google::protobuf::RepeatedPtrField<watchfloor::v1::Filter>> ParseFilterFlags(
    const std::vector<std::string>& texts);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_FILTER_FLAGS_H_
