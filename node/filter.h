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
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
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
  // A sealed alert seen from outside (its header only): the content fields
  // above are empty because they are sealed, not because the alert has none,
  // so a condition on them never matches, negated or not.
  bool content_sealed = false;
  // The members, other than the origin's, whose nodes co-signed the alert
  // with co-signatures this node holds (docs/PROTOCOL.md section 23):
  // sorted, each once. Filled from the store, never from the payload.
  std::vector<std::string> cosigners;

  // Alerts in the store have passed validation, so this cannot fail; an
  // unparsable prefix is skipped.
  static AlertFacts From(const watchfloor::v1::Alert& alert);
  // Sets `cosigners` from co-signer nodes ("member/node").
  void SetCosigners(const std::vector<std::string>& nodes);
};

// One Condition, checked and normalised for matching: lowercase names, zones
// in A-label form, parsed prefixes, times in microseconds. Public so that
// FilterIndex can file a filter under its values; read-only after compiling.
struct CompiledCondition {
  enum class Kind {
    kOrigin,
    kCategory,
    kMinSeverity,
    kMaxTlp,
    kDomain,
    kIpPrefix,
    kAsn,
    kLabel,
    kIssuedAt,
    kCorroborated,
    kCosignedBy,
  };
  struct LabelMatch {
    std::string key;
    bool has_value = false;  // false: any value matches
    std::string value;
  };

  Kind kind = Kind::kOrigin;
  bool negate = false;
  // kOrigin: an alert matches if its origin is in `origins` or its member is
  // in `members`.
  std::vector<std::string> origins;  // "member/node"
  std::vector<std::string> members;  // "member"; also kCosignedBy
  // kCategory: equal to one of `categories`, or equal to or under one of
  // `category_prefixes` ("dns" stands for the pattern "dns.*").
  std::vector<std::string> categories;
  std::vector<std::string> category_prefixes;
  // kMinSeverity (severity >= level), kMaxTlp (tlp <= level),
  // kCorroborated (co-signing members >= level).
  int level = 0;
  // kDomain: lowercase A-labels without a trailing dot; never the root.
  std::vector<std::string> zones;
  // kIpPrefix
  std::vector<IpPrefix> prefixes;
  // kAsn: sorted, unique.
  std::vector<uint32_t> asns;
  // kLabel: any of.
  std::vector<LabelMatch> labels;
  // kIssuedAt: since_us <= issued_at_us < until_us (an unset bound is the
  // int64 extreme). Sub-microsecond parts of the bounds are truncated.
  int64_t since_us = INT64_MIN;
  int64_t until_us = INT64_MAX;

  // True iff the alert satisfies the condition, ignoring `negate`.
  bool Holds(const AlertFacts& facts) const;
  // Holds() != negate, except that a condition on a sealed field (category,
  // severity, domain, prefix, asn, label) never matches a sealed alert's
  // header (AlertFacts::content_sealed).
  bool Matches(const AlertFacts& facts) const {
    if (facts.content_sealed && OnSealedField()) return false;
    return Holds(facts) != negate;
  }
  // True for the kinds that look at fields a sealed alert hides.
  bool OnSealedField() const {
    return kind != Kind::kOrigin && kind != Kind::kMaxTlp && kind != Kind::kIssuedAt &&
           kind != Kind::kCorroborated && kind != Kind::kCosignedBy;
  }
};

// Checks one Condition and normalises it. INVALID_ARGUMENT whose message
// names only the problem (e.g. `zone "." is the root zone ...`); Matcher::
// Compile prefixes the filter and condition index, ParseFilter the token.
absl::StatusOr<CompiledCondition> CompileCondition(
    const watchfloor::v1::Condition& condition);

// The name of the condition's oneof field ("origin", "min_severity", ...),
// or "(unset)".
const char* ConditionKindName(const watchfloor::v1::Condition& condition);

// One compiled Filter: an AND of (possibly negated) conditions. Immutable.
class CompiledFilter {
 public:
  explicit CompiledFilter(std::vector<CompiledCondition> conditions)
      : conditions_(std::move(conditions)) {}
  // True iff every condition matches; an empty filter matches everything.
  bool Matches(const AlertFacts& facts) const;
  // As Matches, but skips conditions()[skip], which the caller knows holds
  // (FilterIndex found the filter through one of its keys). -1 skips none.
  bool MatchesExcept(const AlertFacts& facts, int skip) const;
  const std::vector<CompiledCondition>& conditions() const {
    return conditions_;
  }

 private:
  std::vector<CompiledCondition> conditions_;
};

// Limits, as documented in filter.proto and node.proto.
inline constexpr int kMaxFiltersPerSubscription = 64;
inline constexpr int kMaxConditionsPerFilter = 32;

// A subscription's filters, ORed. Immutable after Compile; thread-safe.
class Matcher {
 public:
  // INVALID_ARGUMENT naming the filter and condition index and what is wrong
  // (unknown enum, bad zone, bad prefix, AS0, empty value list, too many
  // entries, ...), e.g. `filters[1].conditions[0] (domain): zone "." is the
  // root zone, ...` (indices are 0-based, as in the proto). More than
  // kMaxFiltersPerSubscription filters or kMaxConditionsPerFilter conditions
  // is INVALID_ARGUMENT too. No filters means match everything.
  static absl::StatusOr<std::shared_ptr<const Matcher>> Compile(
      const google::protobuf::RepeatedPtrField<watchfloor::v1::Filter>& filters);

  ~Matcher();
  // True iff some filter matches (or there are none).
  bool Matches(const AlertFacts& facts) const;
  // True iff there are no filters or one of them is empty.
  bool matches_everything() const;
  const std::vector<std::unique_ptr<CompiledFilter>>& filters() const {
    return filters_;
  }

 private:
  Matcher();
  std::vector<std::unique_ptr<CompiledFilter>> filters_;
};

// Normalises a zone or domain for comparison: lowercase, no trailing dot,
// U-labels converted to A-labels (IDNA2008, UTS #46 non-transitional, via
// libidn2): "HÁČEK.CZ." -> "xn--hek-ela4t.cz". INVALID_ARGUMENT if it is not a
// valid name, and for the root zone ("" or "."), which would match every
// domain: the message says to omit the domain condition instead.
absl::StatusOr<std::string> NormalizeZone(absl::string_view zone);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_FILTER_H_
