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
// The column is 1-based, in characters. The result also passes
// Matcher::Compile (values are checked here, with the same rules), and is in
// canonical form: origins, categories and label keys lowercased, zones in
// A-label form, prefixes as inet_ntop writes them, ASNs without "AS".
// "issued>=X issued<Y" gives two conditions; "issued:X..Y" one range.
// The empty text gives the empty filter (matches everything).
absl::StatusOr<watchfloor::v1::Filter> ParseFilter(absl::string_view text);

// The canonical text form; ParseFilter(FormatFilter(f)) == f for every f in
// canonical form (every f ParseFilter returns). A valid f that is not (e.g.
// an uppercase origin) formats to text that parses to its canonical
// equivalent. Meant for valid filters; an unset condition prints as "?".
std::string FormatFilter(const watchfloor::v1::Filter& filter);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_FILTER_PARSER_H_
