// Filter semantics (node/filter.h), walked as tables: each row is a filter, an
// alert, and whether it must match; each invalid filter names its exact error.
#include "node/filter.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "node/filter_parser.h"

namespace watchfloor::node {
namespace {

using google::protobuf::RepeatedPtrField;
using google::protobuf::TextFormat;
using google::protobuf::util::TimeUtil;
using watchfloor::v1::Alert;
using watchfloor::v1::Filter;

// The alert every case starts from; rows change what they test.
Alert BaseAlert() {
  Alert a;
  a.set_origin("nic.cz/prg1");
  a.set_sequence(1);
  a.set_category("dns.hijack");
  a.set_severity(v1::SEVERITY_HIGH);
  a.set_tlp(v1::TLP_GREEN);
  a.set_title("t");
  a.add_domains("www.nic.cz");
  a.add_ip_prefixes("192.0.2.0/24");
  a.add_asns(64500);
  auto* l = a.add_labels();
  l->set_key("incident");
  l->set_value("INC-2041");
  *a.mutable_issued_at() = TimeUtil::SecondsToTimestamp(1714564800);  // 2024-05-01T12:00:00Z
  return a;
}

Filter ParseText(const std::string& text) {
  Filter f;
  EXPECT_TRUE(TextFormat::ParseFromString(text, &f)) << text;
  return f;
}

std::shared_ptr<const Matcher> CompileOne(const std::string& filter_text) {
  RepeatedPtrField<Filter> filters;
  *filters.Add() = ParseText(filter_text);
  auto m = Matcher::Compile(filters);
  EXPECT_TRUE(m.ok()) << filter_text << ": " << m.status();
  return m.ok() ? *m : nullptr;
}

struct MatchCase {
  std::string name;
  std::string filter;  // text-format Filter
  std::function<void(Alert&)> alert;
  bool match;
};

void Domains(Alert& a, std::vector<std::string> d) {
  a.clear_domains();
  for (auto& x : d) a.add_domains(x);
}
void Prefixes(Alert& a, std::vector<std::string> p) {
  a.clear_ip_prefixes();
  for (auto& x : p) a.add_ip_prefixes(x);
}
void Issued(Alert& a, const std::string& rfc3339) {
  ASSERT_TRUE(TimeUtil::FromString(rfc3339, a.mutable_issued_at()));
}
void Nothing(Alert&) {}

const char kCz[] = "conditions { domain { zones: 'cz' } }";
const char kNicCz[] = "conditions { domain { zones: 'nic.cz' } }";
const char kNotCz[] = "conditions { negate: true domain { zones: 'cz' } }";
const char kNet24[] = "conditions { ip_prefix { prefixes: '192.0.2.0/24' } }";
const char kNet6[] = "conditions { ip_prefix { prefixes: '2001:db8::/32' } }";
const char kSince[] =
    "conditions { issued_at { since { seconds: 1714564800 } } }";
const char kUntil[] =
    "conditions { issued_at { until { seconds: 1714564800 } } }";
const char kRange[] =
    "conditions { issued_at { since { seconds: 1714564800 } "
    "until { seconds: 1714568400 } } }";  // [12:00, 13:00)

std::vector<MatchCase> MatchCases() {
  return {
      // Empty filter.
      {"empty filter matches anything", "", Nothing, true},
      {"empty filter matches a bare alert", "", [](Alert& a) { a = Alert(); }, true},

      // Origin.
      {"member matches its node", "conditions { origin { origins: 'nic.cz' } }", Nothing, true},
      {"member matches another node", "conditions { origin { origins: 'nic.cz' } }",
       [](Alert& a) { a.set_origin("nic.cz/brq1"); }, true},
      {"member is not a suffix", "conditions { origin { origins: 'cz' } }", Nothing, false},
      {"member is not a prefix", "conditions { origin { origins: 'nic' } }", Nothing, false},
      {"member/node exact", "conditions { origin { origins: 'nic.cz/prg1' } }", Nothing, true},
      {"member/node other node", "conditions { origin { origins: 'nic.cz/prg2' } }", Nothing, false},
      {"origin any of", "conditions { origin { origins: ['sk-nic.sk', 'nic.cz/prg1'] } }", Nothing, true},
      {"origin case-insensitive", "conditions { origin { origins: 'NIC.CZ' } }", Nothing, true},
      {"origin other member", "conditions { origin { origins: 'nic.cz' } }",
       [](Alert& a) { a.set_origin("cznic.cz/prg1"); }, false},

      // Category.
      {"category exact", "conditions { category { patterns: 'dns.hijack' } }", Nothing, true},
      {"category exact is not a prefix", "conditions { category { patterns: 'dns' } }", Nothing, false},
      {"category exact longer", "conditions { category { patterns: 'dns.hijack.ns' } }", Nothing, false},
      {"category prefix matches itself", "conditions { category { patterns: 'dns.*' } }",
       [](Alert& a) { a.set_category("dns"); }, true},
      {"category prefix matches a child", "conditions { category { patterns: 'dns.*' } }", Nothing, true},
      {"category prefix matches a grandchild", "conditions { category { patterns: 'dns.*' } }",
       [](Alert& a) { a.set_category("dns.x.y"); }, true},
      {"category prefix never dnssec", "conditions { category { patterns: 'dns.*' } }",
       [](Alert& a) { a.set_category("dnssec"); }, false},
      {"category prefix never dnssec.x", "conditions { category { patterns: 'dns.*' } }",
       [](Alert& a) { a.set_category("dnssec.validation-failure"); }, false},
      {"category two-label prefix", "conditions { category { patterns: 'dns.hijack.*' } }",
       [](Alert& a) { a.set_category("dns.hijack.ns"); }, true},
      {"category two-label prefix not sibling", "conditions { category { patterns: 'dns.hijack.*' } }",
       [](Alert& a) { a.set_category("dns.hijacked"); }, false},
      {"category two-label prefix not parent", "conditions { category { patterns: 'dns.hijack.*' } }",
       [](Alert& a) { a.set_category("dns"); }, false},
      {"category any of", "conditions { category { patterns: ['abuse.*', 'dns.hijack'] } }", Nothing, true},

      // Severity at least.
      {"severity >= high, high", "conditions { min_severity: SEVERITY_HIGH }", Nothing, true},
      {"severity >= high, critical", "conditions { min_severity: SEVERITY_HIGH }",
       [](Alert& a) { a.set_severity(v1::SEVERITY_CRITICAL); }, true},
      {"severity >= high, medium", "conditions { min_severity: SEVERITY_HIGH }",
       [](Alert& a) { a.set_severity(v1::SEVERITY_MEDIUM); }, false},
      {"severity >= info, info", "conditions { min_severity: SEVERITY_INFO }",
       [](Alert& a) { a.set_severity(v1::SEVERITY_INFO); }, true},

      // TLP at most.
      {"tlp <= amber, clear", "conditions { max_tlp: TLP_AMBER }",
       [](Alert& a) { a.set_tlp(v1::TLP_CLEAR); }, true},
      {"tlp <= amber, amber", "conditions { max_tlp: TLP_AMBER }",
       [](Alert& a) { a.set_tlp(v1::TLP_AMBER); }, true},
      {"tlp <= amber, amber+strict", "conditions { max_tlp: TLP_AMBER }",
       [](Alert& a) { a.set_tlp(v1::TLP_AMBER_STRICT); }, false},
      {"tlp <= amber, red", "conditions { max_tlp: TLP_AMBER }",
       [](Alert& a) { a.set_tlp(v1::TLP_RED); }, false},
      {"tlp <= clear, green", "conditions { max_tlp: TLP_CLEAR }", Nothing, false},

      // Domain zones.
      {"zone cz, nic.cz", kCz, [](Alert& a) { Domains(a, {"nic.cz"}); }, true},
      {"zone cz, cz", kCz, [](Alert& a) { Domains(a, {"cz"}); }, true},
      {"zone cz, www.nic.cz", kCz, Nothing, true},
      {"zone cz, xcz", kCz, [](Alert& a) { Domains(a, {"xcz"}); }, false},
      {"zone cz, nic.xcz", kCz, [](Alert& a) { Domains(a, {"nic.xcz"}); }, false},
      {"zone cz, cz.example", kCz, [](Alert& a) { Domains(a, {"cz.example"}); }, false},
      {"zone nic.cz, nic.cz", kNicCz, [](Alert& a) { Domains(a, {"nic.cz"}); }, true},
      {"zone nic.cz, xnic.cz", kNicCz, [](Alert& a) { Domains(a, {"xnic.cz"}); }, false},
      {"zone nic.cz, cz", kNicCz, [](Alert& a) { Domains(a, {"cz"}); }, false},
      {"zone any of the alert's domains", kCz,
       [](Alert& a) { Domains(a, {"example.org", "nic.cz"}); }, true},
      {"zone, alert without domains", kCz, [](Alert& a) { Domains(a, {}); }, false},
      {"zone any of", "conditions { domain { zones: ['sk', 'org', 'cz'] } }", Nothing, true},
      {"zone uppercase", "conditions { domain { zones: 'NIC.CZ' } }", Nothing, true},
      {"zone trailing dot", "conditions { domain { zones: 'cz.' } }", Nothing, true},
      {"zone uppercase trailing dot", "conditions { domain { zones: 'NIC.CZ.' } }", Nothing, true},
      // IDN: "háček.cz" is xn--hek-ela4t.cz in IDNA2008 (checked with libidn2
      // and with Python's codec); xn--hek-xqa6b.cz is "hĚekđ.cz", another name.
      {"zone U-label", "conditions { domain { zones: 'háček.cz' } }",
       [](Alert& a) { Domains(a, {"xn--hek-ela4t.cz"}); }, true},
      {"zone U-label uppercase trailing dot", "conditions { domain { zones: 'HÁČEK.CZ.' } }",
       [](Alert& a) { Domains(a, {"xn--hek-ela4t.cz"}); }, true},
      {"zone U-label, subdomain", "conditions { domain { zones: 'háček.cz' } }",
       [](Alert& a) { Domains(a, {"www.xn--hek-ela4t.cz"}); }, true},
      {"zone U-label, other A-label", "conditions { domain { zones: 'háček.cz' } }",
       [](Alert& a) { Domains(a, {"xn--hek-xqa6b.cz"}); }, false},
      {"zone A-label", "conditions { domain { zones: 'xn--hek-ela4t.cz' } }",
       [](Alert& a) { Domains(a, {"xn--hek-ela4t.cz"}); }, true},
      {"zone U-label TLD-only part", "conditions { domain { zones: 'cz' } }",
       [](Alert& a) { Domains(a, {"xn--hek-ela4t.cz"}); }, true},

      // IP prefixes: overlap either way, never across families.
      {"prefix equal", kNet24, Nothing, true},
      {"prefix filter contains alert", kNet24, [](Alert& a) { Prefixes(a, {"192.0.2.128/25"}); }, true},
      {"prefix filter contains host", kNet24, [](Alert& a) { Prefixes(a, {"192.0.2.7/32"}); }, true},
      {"prefix alert contains filter", kNet24, [](Alert& a) { Prefixes(a, {"192.0.0.0/16"}); }, true},
      {"prefix alert is everything", kNet24, [](Alert& a) { Prefixes(a, {"0.0.0.0/0"}); }, true},
      {"prefix disjoint", kNet24, [](Alert& a) { Prefixes(a, {"192.0.3.0/24"}); }, false},
      {"prefix adjacent /25", kNet24, [](Alert& a) { Prefixes(a, {"192.0.3.0/25"}); }, false},
      {"prefix v4 filter, v6 alert", kNet24, [](Alert& a) { Prefixes(a, {"2001:db8::/32"}); }, false},
      {"prefix v4 filter, ::/0 alert", kNet24, [](Alert& a) { Prefixes(a, {"::/0"}); }, false},
      {"prefix ::/0 filter, v4 alert", "conditions { ip_prefix { prefixes: '::/0' } }", Nothing, false},
      {"prefix 0/0 filter, v4 alert", "conditions { ip_prefix { prefixes: '0.0.0.0/0' } }", Nothing, true},
      {"prefix v6 filter contains", kNet6, [](Alert& a) { Prefixes(a, {"2001:db8:1::/48"}); }, true},
      {"prefix v6 alert contains", kNet6, [](Alert& a) { Prefixes(a, {"2001::/16"}); }, true},
      {"prefix v6 disjoint", kNet6, [](Alert& a) { Prefixes(a, {"2001:db9::/32"}); }, false},
      {"prefix any alert prefix", kNet6,
       [](Alert& a) { Prefixes(a, {"198.51.100.0/24", "2001:db8:ffff::/48"}); }, true},
      {"prefix any filter prefix",
       "conditions { ip_prefix { prefixes: ['198.51.100.0/24', '192.0.2.0/25'] } }", Nothing, true},
      {"prefix, alert without prefixes", kNet24, [](Alert& a) { Prefixes(a, {}); }, false},
      {"prefix host route", "conditions { ip_prefix { prefixes: '192.0.2.1/32' } }",
       [](Alert& a) { Prefixes(a, {"192.0.2.1/32"}); }, true},

      // ASNs, any of.
      {"asn any of", "conditions { asn { asns: [64501, 64500] } }", Nothing, true},
      {"asn other", "conditions { asn { asns: [64501] } }", Nothing, false},
      {"asn, alert without asns", "conditions { asn { asns: [64500] } }",
       [](Alert& a) { a.clear_asns(); }, false},
      {"asn, alert with several", "conditions { asn { asns: [64502] } }",
       [](Alert& a) { a.add_asns(64502); }, true},

      // Labels.
      {"label key, any value", "conditions { label { labels { key: 'incident' } } }", Nothing, true},
      {"label key=value", "conditions { label { labels { key: 'incident' value: 'INC-2041' } } }",
       Nothing, true},
      {"label other value", "conditions { label { labels { key: 'incident' value: 'INC-2042' } } }",
       Nothing, false},
      {"label value is case-sensitive",
       "conditions { label { labels { key: 'incident' value: 'inc-2041' } } }", Nothing, false},
      {"label key absent", "conditions { label { labels { key: 'ticket' } } }", Nothing, false},
      {"label empty value matches empty", "conditions { label { labels { key: 'flag' value: '' } } }",
       [](Alert& a) {
         auto* l = a.add_labels();
         l->set_key("flag");
       },
       true},
      {"label empty value vs non-empty", "conditions { label { labels { key: 'incident' value: '' } } }",
       Nothing, false},
      {"label any of",
       "conditions { label { labels { key: 'ticket' } labels { key: 'incident' value: 'INC-2041' } } }",
       Nothing, true},

      // issued_at in [since, until).
      {"since, at since", kSince, Nothing, true},
      {"since, one microsecond before", kSince, [](Alert& a) { Issued(a, "2024-05-01T11:59:59.999999Z"); },
       false},
      {"until, at until", kUntil, Nothing, false},
      {"until, one microsecond before", kUntil, [](Alert& a) { Issued(a, "2024-05-01T11:59:59.999999Z"); },
       true},
      {"range, inside", kRange, [](Alert& a) { Issued(a, "2024-05-01T12:30:00Z"); }, true},
      {"range, at until", kRange, [](Alert& a) { Issued(a, "2024-05-01T13:00:00Z"); }, false},
      {"range, before since", kRange, [](Alert& a) { Issued(a, "2024-05-01T11:00:00Z"); }, false},

      // Negation of each kind.
      {"!zone, inside", kNotCz, Nothing, false},
      {"!zone, outside", kNotCz, [](Alert& a) { Domains(a, {"example.org"}); }, true},
      {"!zone, one domain inside", kNotCz, [](Alert& a) { Domains(a, {"example.org", "nic.cz"}); }, false},
      {"!zone, no domains", kNotCz, [](Alert& a) { Domains(a, {}); }, true},
      {"!origin", "conditions { negate: true origin { origins: 'nic.cz' } }", Nothing, false},
      {"!origin other", "conditions { negate: true origin { origins: 'sk-nic.sk' } }", Nothing, true},
      {"!category prefix", "conditions { negate: true category { patterns: 'abuse.*' } }", Nothing, true},
      {"!category prefix, inside", "conditions { negate: true category { patterns: 'dns.*' } }", Nothing,
       false},
      {"!severity >= critical", "conditions { negate: true min_severity: SEVERITY_CRITICAL }", Nothing, true},
      {"!severity >= high", "conditions { negate: true min_severity: SEVERITY_HIGH }", Nothing, false},
      {"!tlp <= clear", "conditions { negate: true max_tlp: TLP_CLEAR }", Nothing, true},
      {"!tlp <= green", "conditions { negate: true max_tlp: TLP_GREEN }", Nothing, false},
      {"!prefix", "conditions { negate: true ip_prefix { prefixes: '192.0.0.0/8' } }", Nothing, false},
      {"!prefix other", "conditions { negate: true ip_prefix { prefixes: '10.0.0.0/8' } }", Nothing, true},
      {"!asn", "conditions { negate: true asn { asns: 64500 } }", Nothing, false},
      {"!asn other", "conditions { negate: true asn { asns: 64501 } }", Nothing, true},
      {"!label", "conditions { negate: true label { labels { key: 'incident' } } }", Nothing, false},
      {"!label other", "conditions { negate: true label { labels { key: 'ticket' } } }", Nothing, true},
      {"!since (before)", "conditions { negate: true issued_at { since { seconds: 1714564801 } } }",
       Nothing, true},
      {"!range, inside", "conditions { negate: true issued_at { since { seconds: 1714564800 } until { seconds: 1714568400 } } }",
       Nothing, false},
      {"!range, after", "conditions { negate: true issued_at { since { seconds: 1714564800 } until { seconds: 1714568400 } } }",
       [](Alert& a) { Issued(a, "2024-05-01T13:00:00Z"); }, true},

      // AND.
      {"and, both hold",
       "conditions { domain { zones: 'cz' } } conditions { min_severity: SEVERITY_HIGH }", Nothing, true},
      {"and, one fails",
       "conditions { domain { zones: 'cz' } } conditions { min_severity: SEVERITY_CRITICAL }", Nothing,
       false},
      {"and with negation, excluded",
       "conditions { domain { zones: 'cz' } } conditions { negate: true category { patterns: 'dns.*' } }",
       Nothing, false},
      {"and with negation, kept",
       "conditions { domain { zones: 'cz' } } conditions { negate: true category { patterns: 'abuse.*' } }",
       Nothing, true},
  };
}

TEST(FilterTest, EachConditionMatchesExactlyAsSpecified) {
  for (const MatchCase& c : MatchCases()) {
    SCOPED_TRACE(c.name);
    auto matcher = CompileOne(c.filter);
    ASSERT_NE(matcher, nullptr);
    Alert alert = BaseAlert();
    c.alert(alert);
    EXPECT_EQ(matcher->Matches(AlertFacts::From(alert)), c.match);
  }
}

// corroborated>=K counts distinct members other than the origin's among the
// co-signers; cosigned-by names members. Both look at what the node holds
// (AlertFacts::SetCosigners), and both match a sealed header too.
TEST(FilterTest, CorroborationConditionsCountOtherMembersCosigners) {
  Alert alert = BaseAlert();
  AlertFacts none = AlertFacts::From(alert);
  AlertFacts two = none;
  // Two nodes of sk-nic.sk count once; the origin's own member never counts.
  two.SetCosigners({"sk-nic.sk/bts1", "sk-nic.sk/bts2", "denic.de/fra1", "nic.cz/brq1"});
  EXPECT_EQ(two.cosigners, (std::vector<std::string>{"denic.de", "sk-nic.sk"}));
  alert.mutable_sealed()->set_nonce("n");
  AlertFacts sealed = AlertFacts::From(alert);
  sealed.SetCosigners({"denic.de/fra1"});
  struct Row {
    const char* filter;
    bool none, two, sealed;
  };
  for (const Row& r : std::vector<Row>{
           {"corroborated>=1", false, true, true},
           {"corroborated>=2", false, true, false},
           {"corroborated>=3", false, false, false},
           {"!corroborated>=1", true, false, false},
           {"cosigned-by:denic.de", false, true, true},
           {"cosigned-by:nic.cz", false, false, false},
           {"cosigned-by:sk-nic.sk,ripe.net", false, true, false},
           {"!cosigned-by:sk-nic.sk", true, false, true},
       }) {
    SCOPED_TRACE(r.filter);
    absl::StatusOr<Filter> parsed = ParseFilter(r.filter);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    auto m = CompileOne(parsed->ShortDebugString());
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->Matches(none), r.none);
    EXPECT_EQ(m->Matches(two), r.two);
    EXPECT_EQ(m->Matches(sealed), r.sealed);
  }
}

// A sealed alert as a non-recipient sees it: the header only. Conditions on
// sealed fields never match it, negated or not; header conditions do.
TEST(FilterTest, SealedFieldConditionsNeverMatchASealedHeader) {
  Alert header = BaseAlert();
  header.set_tlp(v1::TLP_RED);
  header.add_recipients("nic.cz");
  header.mutable_sealed()->set_nonce(std::string(12, 'n'));
  for (auto* clear : {header.mutable_category(), header.mutable_title()}) clear->clear();
  header.clear_severity();
  header.clear_domains();
  header.clear_ip_prefixes();
  header.clear_asns();
  header.clear_labels();
  const AlertFacts facts = AlertFacts::From(header);
  EXPECT_TRUE(facts.content_sealed);
  struct Case {
    const char* filter;
    bool match;
  };
  const std::vector<Case> cases = {
      {"conditions { domain { zones: 'cz' } }", false},
      {"conditions { negate: true domain { zones: 'cz' } }", false},
      {"conditions { negate: true category { patterns: 'abuse.*' } }", false},
      {"conditions { min_severity: SEVERITY_INFO }", false},
      {"conditions { negate: true min_severity: SEVERITY_CRITICAL }", false},
      {"conditions { negate: true asn { asns: 1 } }", false},
      {"conditions { negate: true ip_prefix { prefixes: '10.0.0.0/8' } }", false},
      {"conditions { negate: true label { labels { key: 'x' } } }", false},
      {"conditions { max_tlp: TLP_RED }", true},
      {"conditions { max_tlp: TLP_AMBER }", false},
      {"", true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.filter);
    auto matcher = CompileOne(c.filter);
    ASSERT_NE(matcher, nullptr);
    EXPECT_EQ(matcher->Matches(facts), c.match);
  }
  // The same alert opened (no sealed part): its content matches as usual.
  Alert opened = BaseAlert();
  opened.set_tlp(v1::TLP_RED);
  opened.add_recipients("nic.cz");
  EXPECT_FALSE(AlertFacts::From(opened).content_sealed);
  EXPECT_EQ(CompileOne("conditions { negate: true category { patterns: 'abuse.*' } }")
                ->Matches(AlertFacts::From(opened)),
            true);
}

TEST(FilterTest, FiltersAreOredAndNoFiltersMatchEverything) {
  RepeatedPtrField<Filter> none;
  auto all = Matcher::Compile(none);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE((*all)->matches_everything());
  EXPECT_TRUE((*all)->Matches(AlertFacts::From(Alert())));

  RepeatedPtrField<Filter> two;
  *two.Add() = ParseText("conditions { domain { zones: 'sk' } }");
  *two.Add() = ParseText("conditions { asn { asns: 64500 } }");
  auto either = Matcher::Compile(two);
  ASSERT_TRUE(either.ok());
  EXPECT_FALSE((*either)->matches_everything());
  EXPECT_TRUE((*either)->Matches(AlertFacts::From(BaseAlert())));  // by ASN
  Alert other = BaseAlert();
  other.clear_asns();
  EXPECT_FALSE((*either)->Matches(AlertFacts::From(other)));
  other.add_domains("nic.sk");
  EXPECT_TRUE((*either)->Matches(AlertFacts::From(other)));  // by zone

  *two.Add() = Filter();  // an empty filter among others
  auto with_empty = Matcher::Compile(two);
  ASSERT_TRUE(with_empty.ok());
  EXPECT_TRUE((*with_empty)->matches_everything());
}

struct InvalidCase {
  std::string name;
  std::vector<std::string> filters;  // text-format Filters
  std::string message;               // exact INVALID_ARGUMENT message
};

std::vector<InvalidCase> InvalidCases() {
  const std::string ok = "conditions { domain { zones: 'cz' } }";
  return {
      {"root zone dot", {"conditions { domain { zones: '.' } }"},
       "filters[0].conditions[0] (domain): zone \".\" is the root zone, which would match every "
       "domain; omit the domain condition to match every alert"},
      {"root zone empty", {"conditions { domain { zones: '' } }"},
       "filters[0].conditions[0] (domain): zone \"\" is the root zone, which would match every "
       "domain; omit the domain condition to match every alert"},
      {"indices name the filter and condition",
       {ok, "conditions { min_severity: SEVERITY_LOW } conditions { domain { zones: 'a..cz' } }"},
       "filters[1].conditions[1] (domain): zone \"a..cz\" is invalid: it must be a domain name "
       "of dot-separated labels, each 1..63 letters, digits, '-' or '_' (not starting or ending "
       "with '-'), at most 253 chars, e.g. nic.cz or háček.cz"},
      {"wildcard zone", {"conditions { domain { zones: '*.cz' } }"},
       "filters[0].conditions[0] (domain): zone \"*.cz\" has a wildcard; none is needed: a zone "
       "matches itself and every name under it, so write cz instead"},
      {"bad IDN", {"conditions { domain { zones: 'ab--č.cz' } }"},
       "filters[0].conditions[0] (domain): zone \"ab--č.cz\" is not a valid internationalised "
       "domain name: string contains forbidden two hyphens pattern"},
      {"no zones", {"conditions { domain { } }"},
       "filters[0].conditions[0] (domain): no zones given; list at least one, e.g. domain:cz"},
      {"severity unspecified", {"conditions { min_severity: SEVERITY_UNSPECIFIED }"},
       "filters[0].conditions[0] (min_severity): min_severity 0 is invalid: use info, low, "
       "medium, high or critical (SEVERITY_INFO..SEVERITY_CRITICAL)"},
      {"severity unknown number", {"conditions { min_severity: 9 }"},
       "filters[0].conditions[0] (min_severity): min_severity 9 is invalid: use info, low, "
       "medium, high or critical (SEVERITY_INFO..SEVERITY_CRITICAL)"},
      {"tlp unspecified", {"conditions { max_tlp: TLP_UNSPECIFIED }"},
       "filters[0].conditions[0] (max_tlp): max_tlp 0 is invalid: use clear, green, amber, "
       "amber+strict or red (TLP_CLEAR..TLP_RED)"},
      {"no origins", {"conditions { origin { } }"},
       "filters[0].conditions[0] (origin): no origins given; list at least one, e.g. "
       "origin:nic.cz"},
      {"bad origin", {"conditions { origin { origins: 'nic.cz/prg/1' } }"},
       "filters[0].conditions[0] (origin): origin \"nic.cz/prg/1\" is invalid: give a member "
       "(e.g. nic.cz) or member/node (e.g. nic.cz/prg1) of lowercase DNS labels"},
      {"bad member", {"conditions { origin { origins: '-nic.cz' } }"},
       "filters[0].conditions[0] (origin): origin \"-nic.cz\" is invalid: give a member (e.g. "
       "nic.cz) or member/node (e.g. nic.cz/prg1) of lowercase DNS labels"},
      {"category star", {"conditions { category { patterns: '*' } }"},
       "filters[0].conditions[0] (category): category pattern \"*\" matches every category; "
       "omit the category condition instead"},
      {"category inner star", {"conditions { category { patterns: 'dns*' } }"},
       "filters[0].conditions[0] (category): category pattern \"dns*\" is invalid: '*' may only "
       "end a pattern, after a dot, as in dns.*"},
      {"category empty label", {"conditions { category { patterns: 'dns..x' } }"},
       "filters[0].conditions[0] (category): category pattern \"dns..x\" is invalid: use a "
       "dotted lowercase path such as dns.hijack, or a prefix such as dns.*"},
      {"prefix host bits", {"conditions { ip_prefix { prefixes: '192.0.2.1/24' } }"},
       "filters[0].conditions[0] (ip_prefix): ip prefix \"192.0.2.1/24\" is invalid: has host "
       "bits set; zero the bits after the prefix length"},
      {"prefix not CIDR", {"conditions { ip_prefix { prefixes: '192.0.2.1' } }"},
       "filters[0].conditions[0] (ip_prefix): ip prefix \"192.0.2.1\" is invalid: must be in "
       "CIDR form, e.g. 192.0.2.0/24"},
      {"AS0", {"conditions { asn { asns: [64500, 0] } }"},
       "filters[0].conditions[0] (asn): AS0 is reserved and never appears in an alert; use "
       "1..4294967295"},
      {"too many ASNs",
       {[] {
         std::string s = "conditions { asn { asns: [";
         for (int i = 1; i <= 257; ++i) absl::StrAppend(&s, i, i < 257 ? "," : "");
         return s + "] } }";
       }()},
       "filters[0].conditions[0] (asn): 257 ASNs given; the limit is 256 (split the condition "
       "across filters)"},
      {"bad label key", {"conditions { label { labels { key: 'in cident' } } }"},
       "filters[0].conditions[0] (label): label key \"in cident\" is invalid: use 1..64 chars of "
       "[a-z0-9._-], e.g. incident"},
      {"label value with a newline", {"conditions { label { labels { key: 'k' value: 'a\\nb' } } }"},
       "filters[0].conditions[0] (label): label value for key \"k\" is invalid: at most 256 bytes "
       "without control characters"},
      {"time range without bounds", {"conditions { issued_at { } }"},
       "filters[0].conditions[0] (issued_at): issued_at range has neither since nor until; set "
       "at least one, e.g. issued>=2024-05-01T00:00:00Z"},
      {"time range empty",
       {"conditions { issued_at { since { seconds: 10 } until { seconds: 10 } } }"},
       "filters[0].conditions[0] (issued_at): issued_at range is empty: since must be before "
       "until (the range is since <= issued_at < until)"},
      {"time out of range", {"conditions { issued_at { since { seconds: 253402300800 } } }"},
       "filters[0].conditions[0] (issued_at): issued_at.since (253402300800s 0ns) is outside "
       "0001-01-01..9999-12-31 or its nanos are out of range"},
      {"condition without a kind", {ok, ok, "conditions { negate: true }"},
       "filters[2].conditions[0] ((unset)): the condition is empty: set one of origin, category, "
       "min_severity, max_tlp, domain, ip_prefix, asn, label, issued_at, "
       "min_corroborations or cosigned_by"},
      {"33 conditions",
       {[] {
         std::string s;
         for (int i = 0; i < 33; ++i) s += "conditions { min_severity: SEVERITY_LOW } ";
         return s;
       }()},
       "filters[0] has 33 conditions; the limit is 32"},
      {"65 filters", std::vector<std::string>(65, ok),
       "65 filters given; a subscription may have at most 64"},
  };
}

TEST(FilterTest, InvalidFiltersNameFilterConditionAndProblem) {
  for (const InvalidCase& c : InvalidCases()) {
    SCOPED_TRACE(c.name);
    RepeatedPtrField<Filter> filters;
    for (const std::string& f : c.filters) *filters.Add() = ParseText(f);
    auto m = Matcher::Compile(filters);
    ASSERT_FALSE(m.ok());
    EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(m.status().message()), c.message);
  }
}

TEST(FilterTest, LimitsAreInclusive) {
  RepeatedPtrField<Filter> filters;
  std::string s;
  for (int i = 0; i < 32; ++i) s += "conditions { min_severity: SEVERITY_LOW } ";
  for (int i = 0; i < 64; ++i) *filters.Add() = ParseText(s);
  EXPECT_TRUE(Matcher::Compile(filters).ok());
}

TEST(FilterTest, NormalizeZone) {
  struct Case {
    std::string in;
    std::string out;  // empty: an error is expected
  };
  std::vector<Case> cases = {
      {"cz", "cz"},
      {"CZ", "cz"},
      {"cz.", "cz"},
      {"Nic.CZ.", "nic.cz"},
      {"háček.cz", "xn--hek-ela4t.cz"},
      {"HÁČEK.CZ.", "xn--hek-ela4t.cz"},
      {"xn--hek-ela4t.cz", "xn--hek-ela4t.cz"},
      {"XN--HEK-ELA4T.CZ", "xn--hek-ela4t.cz"},
      {"münchen.de", "xn--mnchen-3ya.de"},
      {"faß.de", "xn--fa-hia.de"},  // non-transitional: ß is kept
      {"_dmarc.nic.cz", "_dmarc.nic.cz"},
      {"ab--c.cz", "ab--c.cz"},  // ASCII names are not IDNA-checked
      {"", ""},
      {".", ""},
      {"cz..", ""},
      {"-a.cz", ""},
      {"a b.cz", ""},
      {std::string(64, 'a') + ".cz", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.in);
    auto z = NormalizeZone(c.in);
    if (c.out.empty()) {
      EXPECT_EQ(z.status().code(), absl::StatusCode::kInvalidArgument);
    } else {
      ASSERT_TRUE(z.ok()) << z.status();
      EXPECT_EQ(*z, c.out);
    }
  }
}

TEST(FilterTest, AlertFactsCarryWhatFiltersLookAt) {
  Alert a = BaseAlert();
  a.add_ip_prefixes("2001:db8::/32");
  a.add_ip_prefixes("not a prefix");  // skipped, not fatal
  a.mutable_issued_at()->set_nanos(123456789);
  AlertFacts f = AlertFacts::From(a);
  EXPECT_EQ(f.origin, "nic.cz/prg1");
  EXPECT_EQ(f.member, "nic.cz");
  EXPECT_EQ(f.category, "dns.hijack");
  EXPECT_EQ(f.severity, v1::SEVERITY_HIGH);
  EXPECT_EQ(f.tlp, v1::TLP_GREEN);
  EXPECT_EQ(f.domains, std::vector<std::string>{"www.nic.cz"});
  ASSERT_EQ(f.prefixes.size(), 2u);
  EXPECT_FALSE(f.prefixes[0].v6);
  EXPECT_EQ(f.prefixes[0].length, 24);
  EXPECT_TRUE(f.prefixes[1].v6);
  EXPECT_EQ(f.asns, std::vector<uint32_t>{64500});
  ASSERT_EQ(f.labels.size(), 1u);
  EXPECT_EQ(f.labels[0].first, "incident");
  EXPECT_EQ(f.labels[0].second, "INC-2041");
  EXPECT_EQ(f.issued_at_us, int64_t{1714564800} * 1000000 + 123456);
}

}  // namespace
}  // namespace watchfloor::node
