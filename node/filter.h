// Subscription filters, compiled for matching. See proto/watchfloor/v1/
// filter.proto for the semantics and docs/FILTERS.md for the text syntax.
//
// Pure and allocation-light: AlertFacts is computed once per alert and shared
// by every subscription it is matched against.
#ifndef WATCHFLOOR_NODE_FILTER_H_
#define WATCHFLOOR_NODE_FILTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/repeated_field.h"
#include "node/alert_validator.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/filter.pb.h"

namespace watchfloor::node {

// What filters look at, extracted once per alert.
struct AlertFacts {
  std::string origin;  // "member/node"
  std::string member;  // "member"
  std::string category;
  int severity = 0;
  int tlp = 0;
  std::vector<std::string> domains;  // lowercase A-labels, no trailing dot
  std::vector<IpPrefix> prefixes;
  std::vector<uint32_t> asns;
  std::vector<std::pair<std::string, std::string>> labels;
  int64_t issued_at_us = 0;  // microseconds since the Unix epoch

  // Alerts in the store have passed validation, so this cannot fail; an
  // unparsable prefix is skipped.
  static AlertFacts From(const watchfloor::v1::Alert& alert);
};

// One compiled Filter: an AND of (possibly negated) conditions.
class CompiledFilter;

// A subscription's filters, ORed. Immutable after Compile; thread-safe.
class Matcher {
 public:
  // INVALID_ARGUMENT naming the filter and condition index and what is wrong
  // (unknown enum, bad zone, bad prefix, AS0, empty value list, too many
  // entries, ...). No filters means match everything.
  static absl::StatusOr<std::shared_ptr<const Matcher>> Compile(
      const google::protobuf::RepeatedPtrField<watchfloor::v1::Filter>& filters);

  ~Matcher();
  bool Matches(const AlertFacts& facts) const;
  bool matches_everything() const;
  const std::vector<std::unique_ptr<CompiledFilter>>& filters() const {
    return filters_;
  }

 private:
  Matcher();
  std::vector<std::unique_ptr<CompiledFilter>> filters_;
};

// Normalises a zone or domain for comparison: lowercase, no trailing dot,
// U-labels converted to A-labels (IDNA2008 via libidn2). INVALID_ARGUMENT if
// it is not a valid name.
absl::StatusOr<std::string> NormalizeZone(absl::string_view zone);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_FILTER_H_
