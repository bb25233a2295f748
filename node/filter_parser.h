// The text syntax of filters, for the CLI: docs/FILTERS.md.
//
//   domain:cz,sk severity>=high !category:abuse.*
//
// One filter is whitespace-separated conditions, ANDed; '!' negates one.
#ifndef WATCHFLOOR_NODE_FILTER_PARSER_H_
#define WATCHFLOOR_NODE_FILTER_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "watchfloor/v1/filter.pb.h"

namespace watchfloor::node {

// Parses one filter. INVALID_ARGUMENT pointing at the offending token:
//   filter "domain:cz sevrity>=high": column 11, token "sevrity>=high":
//   unknown field "sevrity"; fields are origin, category, severity, tlp,
//   domain, prefix, asn, label, issued
// The result also passes Matcher::Compile (values are checked here).
absl::StatusOr<watchfloor::v1::Filter> ParseFilter(absl::string_view text);

// The canonical text form; ParseFilter(FormatFilter(f)) == f.
std::string FormatFilter(const watchfloor::v1::Filter& filter);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_FILTER_PARSER_H_
