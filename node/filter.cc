#include "node/filter.h"

#include <idn2.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/status_macros.h"

namespace watchfloor::node {
namespace {

using watchfloor::v1::Condition;
using Kind = CompiledCondition::Kind;

// Entry limits per condition, as documented in filter.proto.
constexpr int kMaxOrigins = 64;
// corroborated>=K: K at most (a federation of more members is not planned).
constexpr int kMaxCorroborations = 64;
constexpr int kMaxCategoryPatterns = 64;
constexpr int kMaxZones = 256;
constexpr int kMaxPrefixes = 256;
constexpr int kMaxAsns = 256;
constexpr int kMaxLabels = 64;
constexpr size_t kMaxLabelValueBytes = 256;

absl::Status Invalid(absl::string_view message) {
  return absl::InvalidArgumentError(message);
}

absl::Status CheckCount(int n, int max, absl::string_view what,
                        absl::string_view example) {
  if (n == 0) {
    return Invalid(absl::StrCat("no ", what, " given; list at least one, e.g. ",
                                example));
  }
  if (n > max) {
    return Invalid(absl::StrCat(n, " ", what, " given; the limit is ", max,
                                " (split the condition across filters)"));
  }
  return absl::OkStatus();
}

bool IsAscii(absl::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

// "dns.hijack" under "dns": equal, or a longer path on a label boundary.
bool UnderPath(absl::string_view path, absl::string_view prefix) {
  return absl::StartsWith(path, prefix) &&
         (path.size() == prefix.size() || path[prefix.size()] == '.');
}

// "nic.cz" under "cz": equal, or a longer name on a label boundary.
bool UnderZone(absl::string_view name, absl::string_view zone) {
  return absl::EndsWith(name, zone) &&
         (name.size() == zone.size() ||
          name[name.size() - zone.size() - 1] == '.');
}

int64_t TimestampMicros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

absl::Status CheckTimestamp(absl::string_view field,
                            const google::protobuf::Timestamp& ts) {
  // The RFC 3339 range that google.protobuf.Timestamp documents.
  if (ts.seconds() < -62135596800 || ts.seconds() > 253402300799 ||
      ts.nanos() < 0 || ts.nanos() > 999999999) {
    return Invalid(absl::StrCat(field, " (", ts.seconds(), "s ", ts.nanos(),
                                "ns) is outside 0001-01-01..9999-12-31 or its "
                                "nanos are out of range"));
  }
  return absl::OkStatus();
}

absl::Status CompileOrigins(const v1::OriginCondition& c,
                            CompiledCondition* out) {
  WF_RETURN_IF_ERROR(
      CheckCount(c.origins_size(), kMaxOrigins, "origins", "origin:nic.cz"));
  for (const std::string& given : c.origins()) {
    std::string origin = absl::AsciiStrToLower(given);
    if (absl::StrContains(origin, '/')) {
      if (!ValidateOrigin(origin).ok()) {
        return Invalid(absl::StrCat(
            "origin \"", given,
            "\" is invalid: give a member (e.g. nic.cz) or member/node (e.g. "
            "nic.cz/prg1) of lowercase DNS labels"));
      }
      out->origins.push_back(std::move(origin));
    } else {
      // A member is valid iff it makes a valid origin with some node.
      if (!ValidateOrigin(absl::StrCat(origin, "/n")).ok()) {
        return Invalid(absl::StrCat(
            "origin \"", given,
            "\" is invalid: give a member (e.g. nic.cz) or member/node (e.g. "
            "nic.cz/prg1) of lowercase DNS labels"));
      }
      out->members.push_back(std::move(origin));
    }
  }
  return absl::OkStatus();
}

absl::Status CompileCategories(const v1::CategoryCondition& c,
                               CompiledCondition* out) {
  WF_RETURN_IF_ERROR(CheckCount(c.patterns_size(), kMaxCategoryPatterns,
                                "category patterns", "category:dns.*"));
  for (const std::string& given : c.patterns()) {
    std::string pattern = absl::AsciiStrToLower(given);
    if (pattern == "*" || pattern == ".*") {
      return Invalid(absl::StrCat(
          "category pattern \"", given,
          "\" matches every category; omit the category condition instead"));
    }
    bool is_prefix = absl::EndsWith(pattern, ".*");
    if (is_prefix) pattern.resize(pattern.size() - 2);
    if (absl::StrContains(pattern, '*')) {
      return Invalid(absl::StrCat(
          "category pattern \"", given,
          "\" is invalid: '*' may only end a pattern, after a dot, as in "
          "dns.*"));
    }
    if (!ValidateCategory(pattern).ok()) {
      return Invalid(absl::StrCat(
          "category pattern \"", given,
          "\" is invalid: use a dotted lowercase path such as dns.hijack, or "
          "a prefix such as dns.*"));
    }
    (is_prefix ? out->category_prefixes : out->categories)
        .push_back(std::move(pattern));
  }
  return absl::OkStatus();
}

absl::Status CompileZones(const v1::DomainCondition& c, CompiledCondition* out) {
  WF_RETURN_IF_ERROR(
      CheckCount(c.zones_size(), kMaxZones, "zones", "domain:cz"));
  for (const std::string& given : c.zones()) {
    WF_ASSIGN_OR_RETURN(std::string zone, NormalizeZone(given));
    out->zones.push_back(std::move(zone));
  }
  return absl::OkStatus();
}

absl::Status CompilePrefixes(const v1::PrefixCondition& c,
                             CompiledCondition* out) {
  WF_RETURN_IF_ERROR(CheckCount(c.prefixes_size(), kMaxPrefixes, "prefixes",
                                "prefix:192.0.2.0/24"));
  for (const std::string& given : c.prefixes()) {
    WF_ASSIGN_OR_RETURN(IpPrefix prefix, ParseIpPrefix(given));
    out->prefixes.push_back(prefix);
  }
  return absl::OkStatus();
}

absl::Status CompileAsns(const v1::AsnCondition& c, CompiledCondition* out) {
  WF_RETURN_IF_ERROR(CheckCount(c.asns_size(), kMaxAsns, "ASNs", "asn:64500"));
  for (uint32_t asn : c.asns()) {
    if (asn == 0) {
      return Invalid("AS0 is reserved and never appears in an alert; use "
                     "1..4294967295");
    }
    out->asns.push_back(asn);
  }
  std::sort(out->asns.begin(), out->asns.end());
  out->asns.erase(std::unique(out->asns.begin(), out->asns.end()),
                  out->asns.end());
  return absl::OkStatus();
}

bool IsLabelKey(absl::string_view key) {
  if (key.empty() || key.size() > 64) return false;
  for (char c : key) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '.' &&
        c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

absl::Status CompileLabels(const v1::LabelCondition& c,
                           CompiledCondition* out) {
  WF_RETURN_IF_ERROR(
      CheckCount(c.labels_size(), kMaxLabels, "labels", "label:incident"));
  for (const v1::LabelMatch& given : c.labels()) {
    CompiledCondition::LabelMatch m;
    m.key = absl::AsciiStrToLower(given.key());
    if (!IsLabelKey(m.key)) {
      return Invalid(absl::StrCat("label key \"", given.key(),
                                  "\" is invalid: use 1..64 chars of "
                                  "[a-z0-9._-], e.g. incident"));
    }
    if (given.has_value()) {
      const std::string& v = given.value();
      bool control = std::any_of(v.begin(), v.end(), [](char ch) {
        unsigned char u = static_cast<unsigned char>(ch);
        return u < 0x20 || u == 0x7f;
      });
      if (v.size() > kMaxLabelValueBytes || control) {
        return Invalid(absl::StrCat(
            "label value for key \"", m.key,
            "\" is invalid: at most 256 bytes without control characters"));
      }
      m.has_value = true;
      m.value = v;
    }
    out->labels.push_back(std::move(m));
  }
  return absl::OkStatus();
}

absl::Status CompileTimeRange(const v1::TimeRange& c, CompiledCondition* out) {
  if (!c.has_since() && !c.has_until()) {
    return Invalid(
        "issued_at range has neither since nor until; set at least one, e.g. "
        "issued>=2024-05-01T00:00:00Z");
  }
  if (c.has_since()) {
    WF_RETURN_IF_ERROR(CheckTimestamp("issued_at.since", c.since()));
    out->since_us = TimestampMicros(c.since());
  }
  if (c.has_until()) {
    WF_RETURN_IF_ERROR(CheckTimestamp("issued_at.until", c.until()));
    out->until_us = TimestampMicros(c.until());
  }
  if (c.has_since() && c.has_until() &&
      (c.since().seconds() > c.until().seconds() ||
       (c.since().seconds() == c.until().seconds() &&
        c.since().nanos() >= c.until().nanos()))) {
    return Invalid(
        "issued_at range is empty: since must be before until (the range is "
        "since <= issued_at < until)");
  }
  return absl::OkStatus();
}

}  // namespace

AlertFacts AlertFacts::From(const watchfloor::v1::Alert& alert) {
  AlertFacts f;
  f.origin = alert.origin();
  f.member = f.origin.substr(0, f.origin.find('/'));
  f.category = alert.category();
  f.severity = alert.severity();
  f.tlp = alert.tlp();
  f.domains.assign(alert.domains().begin(), alert.domains().end());
  f.prefixes.reserve(alert.ip_prefixes_size());
  for (const std::string& p : alert.ip_prefixes()) {
    absl::StatusOr<IpPrefix> parsed = ParseIpPrefix(p);
    if (parsed.ok()) f.prefixes.push_back(*parsed);
  }
  f.asns.assign(alert.asns().begin(), alert.asns().end());
  f.labels.reserve(alert.labels_size());
  for (const auto& l : alert.labels()) f.labels.emplace_back(l.key(), l.value());
  f.issued_at_us = TimestampMicros(alert.issued_at());
  f.content_sealed = alert.has_sealed();
  return f;
}

void AlertFacts::SetCosigners(const std::vector<std::string>& nodes) {
  cosigners.clear();
  for (const std::string& n : nodes) {
    std::string m = n.substr(0, n.find('/'));
    if (m != member) cosigners.push_back(std::move(m));
  }
  std::sort(cosigners.begin(), cosigners.end());
  cosigners.erase(std::unique(cosigners.begin(), cosigners.end()), cosigners.end());
}

absl::StatusOr<std::string> NormalizeZone(absl::string_view zone) {
  if (zone.empty() || zone == ".") {
    return Invalid(absl::StrCat(
        "zone \"", zone,
        "\" is the root zone, which would match every domain; omit the "
        "domain condition to match every alert"));
  }
  absl::string_view name = zone;
  if (name.back() == '.') name.remove_suffix(1);
  std::string out;
  if (IsAscii(name)) {
    out = absl::AsciiStrToLower(name);
  } else {
    // UTS #46 non-transitional processing maps case and width ("HÁČEK" ->
    // "háček") and applies the IDNA2008 rules before Punycode.
    std::string input(name);
    char* ascii = nullptr;
    int rc = idn2_to_ascii_8z(input.c_str(), &ascii,
                              IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT);
    if (rc != IDN2_OK) {
      return Invalid(absl::StrCat("zone \"", zone,
                                  "\" is not a valid internationalised "
                                  "domain name: ",
                                  idn2_strerror(rc)));
    }
    out = absl::AsciiStrToLower(ascii);
    idn2_free(ascii);
  }
  if (absl::StartsWith(out, "*.")) {
    return Invalid(absl::StrCat(
        "zone \"", zone,
        "\" has a wildcard; none is needed: a zone matches itself and every "
        "name under it, so write ",
        out.substr(2), " instead"));
  }
  if (!ValidateDomainName(out).ok()) {
    return Invalid(absl::StrCat(
        "zone \"", zone,
        "\" is invalid: it must be a domain name of dot-separated labels, "
        "each 1..63 letters, digits, '-' or '_' (not starting or ending with "
        "'-'), at most 253 chars, e.g. nic.cz or háček.cz"));
  }
  return out;
}

const char* ConditionKindName(const Condition& condition) {
  switch (condition.kind_case()) {
    case Condition::kOrigin:
      return "origin";
    case Condition::kCategory:
      return "category";
    case Condition::kMinSeverity:
      return "min_severity";
    case Condition::kMaxTlp:
      return "max_tlp";
    case Condition::kDomain:
      return "domain";
    case Condition::kIpPrefix:
      return "ip_prefix";
    case Condition::kAsn:
      return "asn";
    case Condition::kLabel:
      return "label";
    case Condition::kIssuedAt:
      return "issued_at";
    case Condition::kMinCorroborations:
      return "min_corroborations";
    case Condition::kCosignedBy:
      return "cosigned_by";
    case Condition::KIND_NOT_SET:
      break;
  }
  return "(unset)";
}

absl::StatusOr<CompiledCondition> CompileCondition(const Condition& condition) {
  CompiledCondition out;
  out.negate = condition.negate();
  switch (condition.kind_case()) {
    case Condition::kOrigin:
      out.kind = Kind::kOrigin;
      WF_RETURN_IF_ERROR(CompileOrigins(condition.origin(), &out));
      break;
    case Condition::kCategory:
      out.kind = Kind::kCategory;
      WF_RETURN_IF_ERROR(CompileCategories(condition.category(), &out));
      break;
    case Condition::kMinSeverity:
      out.kind = Kind::kMinSeverity;
      out.level = condition.min_severity();
      if (out.level < v1::SEVERITY_INFO || out.level > v1::SEVERITY_CRITICAL) {
        return Invalid(absl::StrCat(
            "min_severity ", out.level,
            " is invalid: use info, low, medium, high or critical "
            "(SEVERITY_INFO..SEVERITY_CRITICAL)"));
      }
      break;
    case Condition::kMaxTlp:
      out.kind = Kind::kMaxTlp;
      out.level = condition.max_tlp();
      if (out.level < v1::TLP_CLEAR || out.level > v1::TLP_RED) {
        return Invalid(absl::StrCat(
            "max_tlp ", out.level,
            " is invalid: use clear, green, amber, amber+strict or red "
            "(TLP_CLEAR..TLP_RED)"));
      }
      break;
    case Condition::kDomain:
      out.kind = Kind::kDomain;
      WF_RETURN_IF_ERROR(CompileZones(condition.domain(), &out));
      break;
    case Condition::kIpPrefix:
      out.kind = Kind::kIpPrefix;
      WF_RETURN_IF_ERROR(CompilePrefixes(condition.ip_prefix(), &out));
      break;
    case Condition::kAsn:
      out.kind = Kind::kAsn;
      WF_RETURN_IF_ERROR(CompileAsns(condition.asn(), &out));
      break;
    case Condition::kLabel:
      out.kind = Kind::kLabel;
      WF_RETURN_IF_ERROR(CompileLabels(condition.label(), &out));
      break;
    case Condition::kIssuedAt:
      out.kind = Kind::kIssuedAt;
      WF_RETURN_IF_ERROR(CompileTimeRange(condition.issued_at(), &out));
      break;
    case Condition::kMinCorroborations:
      out.kind = Kind::kCorroborated;
      out.level = static_cast<int>(std::min<uint32_t>(condition.min_corroborations(), 1000));
      if (out.level < 1 || out.level > kMaxCorroborations) {
        return Invalid(absl::StrCat("min_corroborations ", condition.min_corroborations(),
                                    " is invalid: use 1..", kMaxCorroborations,
                                    " (corroborated>=1 for any co-signature)"));
      }
      break;
    case Condition::kCosignedBy: {
      out.kind = Kind::kCosignedBy;
      const v1::CosignerCondition& c = condition.cosigned_by();
      WF_RETURN_IF_ERROR(
          CheckCount(c.members_size(), kMaxOrigins, "members", "cosigned-by:nic.cz"));
      for (const std::string& given : c.members()) {
        std::string member = absl::AsciiStrToLower(given);
        if (absl::StrContains(member, '/') ||
            !ValidateOrigin(absl::StrCat(member, "/n")).ok()) {
          return Invalid(absl::StrCat("cosigned-by member \"", given,
                                      "\" is invalid: give a member name (e.g. nic.cz) "
                                      "of lowercase DNS labels, not a node"));
        }
        out.members.push_back(std::move(member));
      }
      break;
    }
    case Condition::KIND_NOT_SET:
      return Invalid(
          "the condition is empty: set one of origin, category, min_severity, "
          "max_tlp, domain, ip_prefix, asn, label, issued_at, "
          "min_corroborations or cosigned_by");
  }
  return out;
}

bool CompiledCondition::Holds(const AlertFacts& f) const {
  switch (kind) {
    case Kind::kOrigin:
      return std::find(origins.begin(), origins.end(), f.origin) !=
                 origins.end() ||
             std::find(members.begin(), members.end(), f.member) !=
                 members.end();
    case Kind::kCategory:
      if (std::find(categories.begin(), categories.end(), f.category) !=
          categories.end()) {
        return true;
      }
      for (const std::string& p : category_prefixes) {
        if (UnderPath(f.category, p)) return true;
      }
      return false;
    case Kind::kMinSeverity:
      return f.severity >= level;
    case Kind::kMaxTlp:
      return f.tlp <= level;
    case Kind::kDomain:
      for (const std::string& d : f.domains) {
        for (const std::string& z : zones) {
          if (UnderZone(d, z)) return true;
        }
      }
      return false;
    case Kind::kIpPrefix:
      for (const IpPrefix& a : f.prefixes) {
        for (const IpPrefix& p : prefixes) {
          if (PrefixesOverlap(a, p)) return true;
        }
      }
      return false;
    case Kind::kAsn:
      for (uint32_t asn : f.asns) {
        if (std::binary_search(asns.begin(), asns.end(), asn)) return true;
      }
      return false;
    case Kind::kLabel:
      for (const auto& [key, value] : f.labels) {
        for (const LabelMatch& m : labels) {
          if (m.key == key && (!m.has_value || m.value == value)) return true;
        }
      }
      return false;
    case Kind::kIssuedAt:
      return f.issued_at_us >= since_us && f.issued_at_us < until_us;
    case Kind::kCorroborated:
      return static_cast<int>(f.cosigners.size()) >= level;
    case Kind::kCosignedBy:
      for (const std::string& m : members) {
        if (std::binary_search(f.cosigners.begin(), f.cosigners.end(), m)) return true;
      }
      return false;
  }
  return false;
}

bool CompiledFilter::Matches(const AlertFacts& facts) const {
  for (const CompiledCondition& c : conditions_) {
    if (!c.Matches(facts)) return false;
  }
  return true;
}

bool CompiledFilter::MatchesExcept(const AlertFacts& facts, int skip) const {
  for (int i = 0; i < static_cast<int>(conditions_.size()); ++i) {
    if (i != skip && !conditions_[i].Matches(facts)) return false;
  }
  return true;
}

Matcher::Matcher() = default;
Matcher::~Matcher() = default;

absl::StatusOr<std::shared_ptr<const Matcher>> Matcher::Compile(
    const google::protobuf::RepeatedPtrField<v1::Filter>& filters) {
  if (filters.size() > kMaxFiltersPerSubscription) {
    return Invalid(absl::StrCat(filters.size(),
                                " filters given; a subscription may have at "
                                "most ",
                                kMaxFiltersPerSubscription));
  }
  std::shared_ptr<Matcher> matcher(new Matcher());
  for (int i = 0; i < filters.size(); ++i) {
    const v1::Filter& filter = filters[i];
    if (filter.conditions_size() > kMaxConditionsPerFilter) {
      return Invalid(absl::StrCat("filters[", i, "] has ",
                                  filter.conditions_size(),
                                  " conditions; the limit is ",
                                  kMaxConditionsPerFilter));
    }
    std::vector<CompiledCondition> conditions;
    conditions.reserve(filter.conditions_size());
    for (int j = 0; j < filter.conditions_size(); ++j) {
      const Condition& c = filter.conditions(j);
      absl::StatusOr<CompiledCondition> compiled = CompileCondition(c);
      if (!compiled.ok()) {
        return Invalid(absl::StrCat("filters[", i, "].conditions[", j, "] (",
                                    ConditionKindName(c),
                                    "): ", compiled.status().message()));
      }
      conditions.push_back(*std::move(compiled));
    }
    matcher->filters_.push_back(
        std::make_unique<CompiledFilter>(std::move(conditions)));
  }
  return std::shared_ptr<const Matcher>(std::move(matcher));
}

bool Matcher::Matches(const AlertFacts& facts) const {
  if (filters_.empty()) return true;
  for (const auto& f : filters_) {
    if (f->Matches(facts)) return true;
  }
  return false;
}

bool Matcher::matches_everything() const {
  if (filters_.empty()) return true;
  for (const auto& f : filters_) {
    if (f->conditions().empty()) return true;
  }
  return false;
}

}  // namespace watchfloor::node
