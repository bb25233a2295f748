// The filter text syntax (node/filter_parser.h): what each text parses to,
// its canonical form, the exact error for each mistake, and the round trip.
#include "node/filter_parser.h"

#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "node/filter.h"

namespace watchfloor::node {
namespace {

using google::protobuf::TextFormat;
using google::protobuf::util::MessageDifferencer;
using watchfloor::v1::Filter;

Filter ParseText(const std::string& text) {
  Filter f;
  EXPECT_TRUE(TextFormat::ParseFromString(text, &f)) << text;
  return f;
}

struct ParseCase {
  std::string text;
  std::string expected;   // text-format Filter
  std::string canonical;  // FormatFilter of the result
};

std::vector<ParseCase> ParseCases() {
  return {
      {"", "", ""},
      {"  \t ", "", ""},
      {"domain:cz,sk severity>=high !category:abuse.*",
       "conditions { domain { zones: ['cz', 'sk'] } } "
       "conditions { min_severity: SEVERITY_HIGH } "
       "conditions { negate: true category { patterns: 'abuse.*' } }",
       "domain:cz,sk severity>=high !category:abuse.*"},
      {"  origin:nic.cz\t\tseverity>=low  ",
       "conditions { origin { origins: 'nic.cz' } } conditions { min_severity: SEVERITY_LOW }",
       "origin:nic.cz severity>=low"},
      {"origin:NIC.CZ,sk-nic.sk/bts1",
       "conditions { origin { origins: ['nic.cz', 'sk-nic.sk/bts1'] } }",
       "origin:nic.cz,sk-nic.sk/bts1"},
      {"category:dns.*,registry.compromise",
       "conditions { category { patterns: ['dns.*', 'registry.compromise'] } }",
       "category:dns.*,registry.compromise"},
      {"SEVERITY>=Critical", "conditions { min_severity: SEVERITY_CRITICAL }", "severity>=critical"},
      {"severity>=info", "conditions { min_severity: SEVERITY_INFO }", "severity>=info"},
      {"severity>=medium", "conditions { min_severity: SEVERITY_MEDIUM }", "severity>=medium"},
      {"tlp<=amber", "conditions { max_tlp: TLP_AMBER }", "tlp<=amber"},
      {"tlp<=TLP:AMBER", "conditions { max_tlp: TLP_AMBER }", "tlp<=amber"},
      {"tlp<=TLP:AMBER+STRICT", "conditions { max_tlp: TLP_AMBER_STRICT }", "tlp<=amber+strict"},
      {"tlp<=amber_strict", "conditions { max_tlp: TLP_AMBER_STRICT }", "tlp<=amber+strict"},
      {"tlp<=clear", "conditions { max_tlp: TLP_CLEAR }", "tlp<=clear"},
      {"corroborated>=2", "conditions { min_corroborations: 2 }", "corroborated>=2"},
      {"Corroborated>=64", "conditions { min_corroborations: 64 }", "corroborated>=64"},
      {"cosigned-by:NIC.CZ,sk-nic.sk !cosigned-by:denic.de",
       "conditions { cosigned_by { members: ['nic.cz', 'sk-nic.sk'] } } "
       "conditions { negate: true cosigned_by { members: 'denic.de' } }",
       "cosigned-by:nic.cz,sk-nic.sk !cosigned-by:denic.de"},
      {"tlp<=Green", "conditions { max_tlp: TLP_GREEN }", "tlp<=green"},
      {"tlp<=TLP:RED", "conditions { max_tlp: TLP_RED }", "tlp<=red"},
      {"domain:HÁČEK.CZ.,sk.", "conditions { domain { zones: ['xn--hek-ela4t.cz', 'sk'] } }",
       "domain:xn--hek-ela4t.cz,sk"},
      {"prefix:192.0.2.0/24,2001:DB8:0::/32",
       "conditions { ip_prefix { prefixes: ['192.0.2.0/24', '2001:db8::/32'] } }",
       "prefix:192.0.2.0/24,2001:db8::/32"},
      {"asn:64500,AS64501,as4294967295",
       "conditions { asn { asns: [64500, 64501, 4294967295] } }",
       "asn:64500,64501,4294967295"},
      {"label:incident", "conditions { label { labels { key: 'incident' } } }", "label:incident"},
      {"label:Incident=INC-2041",
       "conditions { label { labels { key: 'incident' value: 'INC-2041' } } }",
       "label:incident=INC-2041"},
      {"label:note=\"two words\" domain:cz",
       "conditions { label { labels { key: 'note' value: 'two words' } } } "
       "conditions { domain { zones: 'cz' } }",
       "label:note=\"two words\" domain:cz"},
      {"label:q=\"say \\\"hi\\\", a\\\\b\",team=noc,flag=",
       "conditions { label { labels { key: 'q' value: 'say \"hi\", a\\\\b' } "
       "labels { key: 'team' value: 'noc' } labels { key: 'flag' value: '' } } }",
       "label:q=\"say \\\"hi\\\", a\\\\b\",team=noc,flag=\"\""},
      {"label:k=\"plain\"", "conditions { label { labels { key: 'k' value: 'plain' } } }",
       "label:k=plain"},
      {"label:city=\"Praha 6\"",
       "conditions { label { labels { key: 'city' value: 'Praha 6' } } }",
       "label:city=\"Praha 6\""},
      {"issued>=2024-05-01T00:00:00Z issued<2024-06-01T00:00:00Z",
       "conditions { issued_at { since { seconds: 1714521600 } } } "
       "conditions { issued_at { until { seconds: 1717200000 } } }",
       "issued>=2024-05-01T00:00:00Z issued<2024-06-01T00:00:00Z"},
      {"issued:2024-05-01T00:00:00Z..2024-06-01T00:00:00Z",
       "conditions { issued_at { since { seconds: 1714521600 } until { seconds: 1717200000 } } }",
       "issued:2024-05-01T00:00:00Z..2024-06-01T00:00:00Z"},
      {"issued:2024-05-01..", "conditions { issued_at { since { seconds: 1714521600 } } }",
       "issued>=2024-05-01T00:00:00Z"},
      {"issued:..2024-06-01", "conditions { issued_at { until { seconds: 1717200000 } } }",
       "issued<2024-06-01T00:00:00Z"},
      {"issued>=2024-05-01T02:00:00+02:00",
       "conditions { issued_at { since { seconds: 1714521600 } } }",
       "issued>=2024-05-01T00:00:00Z"},
      {"issued>=2024-05-01T00:00:00.25Z",
       "conditions { issued_at { since { seconds: 1714521600 nanos: 250000000 } } }",
       "issued>=2024-05-01T00:00:00.25Z"},
      {"!issued<2024-01-01",
       "conditions { negate: true issued_at { until { seconds: 1704067200 } } }",
       "!issued<2024-01-01T00:00:00Z"},
      {"!origin:nic.cz !domain:cz !prefix:10.0.0.0/8 !asn:1 !label:x !tlp<=red !severity>=low",
       "conditions { negate: true origin { origins: 'nic.cz' } } "
       "conditions { negate: true domain { zones: 'cz' } } "
       "conditions { negate: true ip_prefix { prefixes: '10.0.0.0/8' } } "
       "conditions { negate: true asn { asns: 1 } } "
       "conditions { negate: true label { labels { key: 'x' } } } "
       "conditions { negate: true max_tlp: TLP_RED } "
       "conditions { negate: true min_severity: SEVERITY_LOW }",
       "!origin:nic.cz !domain:cz !prefix:10.0.0.0/8 !asn:1 !label:x !tlp<=red !severity>=low"},
  };
}

TEST(FilterParserTest, ParsesEachFormToItsProtoAndCanonicalText) {
  for (const ParseCase& c : ParseCases()) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Filter> f = ParseFilter(c.text);
    ASSERT_TRUE(f.ok()) << f.status();
    Filter expected = ParseText(c.expected);
    EXPECT_TRUE(MessageDifferencer::Equals(*f, expected))
        << f->ShortDebugString() << "\nwant " << expected.ShortDebugString();
    EXPECT_EQ(FormatFilter(*f), c.canonical);
    // The canonical text parses back to the same filter, which compiles.
    absl::StatusOr<Filter> again = ParseFilter(FormatFilter(*f));
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(MessageDifferencer::Equals(*again, *f));
    google::protobuf::RepeatedPtrField<Filter> one;
    *one.Add() = *f;
    EXPECT_TRUE(Matcher::Compile(one).ok());
  }
}

struct ErrorCase {
  std::string text;
  std::string message;  // exact INVALID_ARGUMENT message
};

std::string Err(const std::string& text, int column, const std::string& token,
                const std::string& problem) {
  return absl::StrCat("filter \"", text, "\": column ", column, ", token \"", token,
                      "\": ", problem);
}

std::vector<ErrorCase> ErrorCases() {
  const std::string fields =
      "fields are origin, category, severity, tlp, domain, prefix, asn, label, issued, "
      "corroborated, cosigned-by";
  std::vector<ErrorCase> cases = {
      {"domain:cz sevrity>=high",
       "filter \"domain:cz sevrity>=high\": column 11, token \"sevrity>=high\": unknown field "
       "\"sevrity\"; fields are origin, category, severity, tlp, domain, prefix, asn, label, "
       "issued, corroborated, cosigned-by"},
      {"corroborated:2",
       Err("corroborated:2", 1, "corroborated:2",
           "corroborated takes a minimum number of co-signing members: corroborated>=K with K "
           "in 1..64, e.g. corroborated>=2")},
      {"corroborated>=two",
       Err("corroborated>=two", 1, "corroborated>=two",
           "corroborated takes a minimum number of co-signing members: corroborated>=K with K "
           "in 1..64, e.g. corroborated>=2")},
      {"corroborated>=0",
       Err("corroborated>=0", 1, "corroborated>=0",
           "min_corroborations 0 is invalid: use 1..64 (corroborated>=1 for any co-signature)")},
      {"corroborated>=65",
       Err("corroborated>=65", 1, "corroborated>=65",
           "min_corroborations 65 is invalid: use 1..64 (corroborated>=1 for any co-signature)")},
      {"cosigned-by=nic.cz",
       Err("cosigned-by=nic.cz", 1, "cosigned-by=nic.cz",
           "cosigned-by takes a list of members after a colon, e.g. cosigned-by:nic.cz,sk-nic.sk")},
      {"cosigned-by:",
       Err("cosigned-by:", 1, "cosigned-by:",
           "cosigned-by needs at least one value, e.g. cosigned-by:nic.cz")},
      {"cosigned-by:nic.cz/prg1",
       Err("cosigned-by:nic.cz/prg1", 1, "cosigned-by:nic.cz/prg1",
           "cosigned-by member \"nic.cz/prg1\" is invalid: give a member name (e.g. nic.cz) of "
           "lowercase DNS labels, not a node")},
      {"domain:háček.cz sevrity>=high",
       Err("domain:háček.cz sevrity>=high", 17, "sevrity>=high",
           "unknown field \"sevrity\"; " + fields)},
      {"cz", Err("cz", 1, "cz",
                 "expected field:value, e.g. domain:nic.cz or severity>=high; " + fields)},
      {"nic.cz", Err("nic.cz", 1, "nic.cz",
                     "expected field:value, e.g. domain:nic.cz or severity>=high; " + fields)},
      {"severity:high",
       Err("severity:high", 1, "severity:high",
           "severity takes a minimum: only severity>=LEVEL is supported; write severity>=high "
           "(this level or worse)")},
      {"severity=critical",
       Err("severity=critical", 1, "severity=critical",
           "severity takes a minimum: only severity>=LEVEL is supported; write "
           "severity>=critical (this level or worse)")},
      {"severity<=low", Err("severity<=low", 1, "severity<=low",
                            "severity takes a minimum: only severity>=LEVEL is supported")},
      {"severity>=urgent",
       Err("severity>=urgent", 1, "severity>=urgent",
           "unknown severity \"urgent\"; use info, low, medium, high or critical")},
      {"tlp:amber", Err("tlp:amber", 1, "tlp:amber",
                        "tlp takes a maximum: only tlp<=LABEL is supported; write tlp<=amber "
                        "(this label or less restricted)")},
      {"tlp>=green", Err("tlp>=green", 1, "tlp>=green",
                         "tlp takes a maximum: only tlp<=LABEL is supported")},
      {"tlp<=white", Err("tlp<=white", 1, "tlp<=white",
                         "TLP 2.0 renamed WHITE to CLEAR; write tlp<=clear")},
      {"tlp<=purple", Err("tlp<=purple", 1, "tlp<=purple",
                          "unknown TLP \"purple\"; use clear, green, amber, amber+strict or red "
                          "(TLP:AMBER forms work too)")},
      {"domain:.", Err("domain:.", 1, "domain:.",
                       "zone \".\" is the root zone, which would match every domain; omit the "
                       "domain condition to match every alert")},
      {"domain:", Err("domain:", 1, "domain:", "domain needs at least one value, e.g. domain:cz,sk")},
      {"domain:cz,,sk",
       Err("domain:cz,,sk", 1, "domain:cz,,sk",
           "empty value in the domain list; separate values with single commas, e.g. "
           "domain:cz,sk")},
      {"domain:*.cz", Err("domain:*.cz", 1, "domain:*.cz",
                          "zone \"*.cz\" has a wildcard; none is needed: a zone matches itself "
                          "and every name under it, so write cz instead")},
      {"domain=cz", Err("domain=cz", 1, "domain=cz", "domain takes a list after a colon, e.g. domain:cz")},
      {"domain!=cz", Err("domain!=cz", 1, "domain!=cz",
                         "there is no != operator; negate with a leading '!': !domain:cz")},
      {"domain:\"cz\"", Err("domain:\"cz\"", 1, "domain:\"cz\"",
                            "quotes are only allowed around label values; domain values never "
                            "contain spaces")},
      {"severity>=high ! domain:cz",
       Err("severity>=high ! domain:cz", 16, "!",
           "'!' must be followed directly by one condition, e.g. !category:abuse.*")},
      {"!!domain:cz", Err("!!domain:cz", 1, "!!domain:cz",
                          "'!' must be followed directly by one condition, e.g. !category:abuse.*")},
      {"category:*", Err("category:*", 1, "category:*",
                         "category pattern \"*\" matches every category; omit the category "
                         "condition instead")},
      {"category:dns.*.x",
       Err("category:dns.*.x", 1, "category:dns.*.x",
           "category pattern \"dns.*.x\" is invalid: '*' may only end a pattern, after a dot, as "
           "in dns.*")},
      {"origin:nic.cz/a/b",
       Err("origin:nic.cz/a/b", 1, "origin:nic.cz/a/b",
           "origin \"nic.cz/a/b\" is invalid: give a member (e.g. nic.cz) or member/node (e.g. "
           "nic.cz/prg1) of lowercase DNS labels")},
      {"prefix:192.0.2.1/24",
       Err("prefix:192.0.2.1/24", 1, "prefix:192.0.2.1/24",
           "ip prefix \"192.0.2.1/24\" is invalid: has host bits set; zero the bits after the "
           "prefix length")},
      {"asn:ASX", Err("asn:ASX", 1, "asn:ASX",
                      "\"ASX\" is not an AS number; write 64500 or AS64500 (1..4294967295)")},
      {"asn:4294967296",
       Err("asn:4294967296", 1, "asn:4294967296",
           "\"4294967296\" is not an AS number; write 64500 or AS64500 (1..4294967295)")},
      {"asn:-1", Err("asn:-1", 1, "asn:-1",
                     "\"-1\" is not an AS number; write 64500 or AS64500 (1..4294967295)")},
      {"asn:AS0", Err("asn:AS0", 1, "asn:AS0",
                      "AS0 is reserved and never appears in an alert; use 1..4294967295")},
      {"label:", Err("label:", 1, "label:",
                     "label needs at least one key, e.g. label:incident or "
                     "label:incident=INC-2041")},
      {"label:=x", Err("label:=x", 1, "label:=x", "empty label key; write label:key or label:key=value")},
      {"label:a,", Err("label:a,", 1, "label:a,", "empty label after a comma; remove the trailing comma")},
      {"label:Bad!Key", Err("label:Bad!Key", 1, "label:Bad!Key",
                            "label key \"bad!key\" is invalid: use 1..64 chars of [a-z0-9._-], "
                            "e.g. incident")},
      {"domain:cz label:note=\"open",
       Err("domain:cz label:note=\"open", 11, "label:note=\"open",
           "unterminated double quote; close it with \"")},
      {"label:k=a\"b\"", Err("label:k=a\"b\"", 1, "label:k=a\"b\"",
                             "a quote inside a label value; quote the whole value: "
                             "label:key=\"...\"")},
      {"label:k=\"a\\nb\"", Err("label:k=\"a\\nb\"", 1, "label:k=\"a\\nb\"",
                                "unknown escape in a quoted label value; only \\\" and \\\\ are "
                                "allowed")},
      {"label:k=\"a\"b", Err("label:k=\"a\"b", 1, "label:k=\"a\"b",
                             "after a quoted label value, expect a comma or the end of the token")},
      {"issued>=yesterday",
       Err("issued>=yesterday", 1, "issued>=yesterday",
           "\"yesterday\" is not an RFC 3339 time; write e.g. 2024-05-01T00:00:00Z or 2024-05-01")},
      {"issued<=2024-05-01",
       Err("issued<=2024-05-01", 1, "issued<=2024-05-01",
           "issued takes issued>=TIME, issued<TIME or the half-open range issued:SINCE..UNTIL "
           "(RFC 3339 times)")},
      {"issued:2024-06-01..2024-05-01",
       Err("issued:2024-06-01..2024-05-01", 1, "issued:2024-06-01..2024-05-01",
           "issued_at range is empty: since must be before until (the range is since <= "
           "issued_at < until)")},
      {"issued:..", Err("issued:..", 1, "issued:..",
                        "issued_at range has neither since nor until; set at least one, e.g. "
                        "issued>=2024-05-01T00:00:00Z")},
  };
  std::string many;
  for (int i = 0; i < 33; ++i) many += "severity>=low ";
  cases.push_back({many, absl::StrCat("filter \"", many,
                                      "\": 33 conditions; the limit is 32 (list values with "
                                      "commas, e.g. domain:cz,sk, instead of repeating a field)")});
  return cases;
}

TEST(FilterParserTest, ErrorsPointAtTheTokenAndSayWhatToDo) {
  for (const ErrorCase& c : ErrorCases()) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<Filter> f = ParseFilter(c.text);
    ASSERT_FALSE(f.ok()) << f->ShortDebugString();
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(std::string(f.status().message()), c.message);
  }
}

// A valid filter from another client, not in canonical form, formats to text
// that parses to its canonical equivalent.
// Found by filter_parser_fuzz: a label value of bytes that are not UTF-8
// parsed, and the Filter then could not be serialized (proto strings are
// UTF-8), so the node could not parse the subscription it was sent.
TEST(FilterParserTest, TextThatIsNotUtf8IsRefused) {
  for (const std::string& text : {std::string("label:note=\xff\xfe"),
                                 std::string("domain:cz \xc0\xaf"),
                                 std::string("label:k=\"\xed\xa0\x80\"")}) {
    absl::StatusOr<v1::Filter> f = ParseFilter(text);
    ASSERT_FALSE(f.ok()) << text;
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(f.status().message(),
              "filter is not valid UTF-8 text; type it in a UTF-8 terminal or "
              "escape-free ASCII");
  }
  EXPECT_TRUE(ParseFilter("label:note=\"caf\xc3\xa9\"").ok());
}

TEST(FilterParserTest, NonCanonicalFiltersFormatToTheirCanonicalEquivalent) {
  Filter f = ParseText(
      "conditions { origin { origins: 'NIC.CZ' } } "
      "conditions { category { patterns: 'DNS.*' } } "
      "conditions { domain { zones: ['HÁČEK.CZ.', 'Nic.Cz'] } } "
      "conditions { ip_prefix { prefixes: '2001:DB8:0:0::/64' } } "
      "conditions { label { labels { key: 'Team' value: 'NOC' } } }");
  EXPECT_EQ(FormatFilter(f),
            "origin:NIC.CZ category:DNS.* domain:HÁČEK.CZ.,Nic.Cz prefix:2001:DB8:0:0::/64 "
            "label:Team=NOC");
  absl::StatusOr<Filter> parsed = ParseFilter(FormatFilter(f));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(FormatFilter(*parsed),
            "origin:nic.cz category:dns.* domain:xn--hek-ela4t.cz,nic.cz prefix:2001:db8::/64 "
            "label:team=NOC");
}

// Random filters in canonical form (what ParseFilter produces) survive
// FormatFilter -> ParseFilter unchanged.
TEST(FilterParserTest, RandomCanonicalFiltersRoundTrip) {
  std::mt19937 rng(20240501);
  auto pick = [&](const std::vector<std::string>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng)];
  };
  auto n = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  const std::vector<std::string> origins = {"nic.cz", "nic.cz/prg1", "sk-nic.sk", "a.b.c/d-1"};
  const std::vector<std::string> categories = {"dns", "dns.*", "dns.hijack", "abuse.phishing-domain",
                                               "a.b.c.*"};
  const std::vector<std::string> zones = {"cz", "nic.cz", "xn--hek-ela4t.cz", "_dmarc.example.org",
                                          "a-b.sk"};
  const std::vector<std::string> prefixes = {"192.0.2.0/24", "0.0.0.0/0", "10.1.2.3/32",
                                             "2001:db8::/32", "::/0", "::1/128",
                                             "2001:db8:0:1::/64"};
  const std::vector<std::string> values = {"", "x", "INC-2041", "two words", "say \"hi\"",
                                           "back\\slash", "a,b", "k=v", "Plzeň", "!neg", "  "};
  for (int iter = 0; iter < 2000; ++iter) {
    Filter f;
    int conditions = n(0, 6);
    for (int i = 0; i < conditions; ++i) {
      v1::Condition* c = f.add_conditions();
      c->set_negate(n(0, 3) == 0);
      int entries = n(1, 3);
      switch (n(0, 8)) {
        case 0:
          for (int k = 0; k < entries; ++k) c->mutable_origin()->add_origins(pick(origins));
          break;
        case 1:
          for (int k = 0; k < entries; ++k) c->mutable_category()->add_patterns(pick(categories));
          break;
        case 2:
          c->set_min_severity(static_cast<v1::Severity>(n(1, 5)));
          break;
        case 3:
          c->set_max_tlp(static_cast<v1::Tlp>(n(1, 5)));
          break;
        case 4:
          for (int k = 0; k < entries; ++k) c->mutable_domain()->add_zones(pick(zones));
          break;
        case 5:
          for (int k = 0; k < entries; ++k) c->mutable_ip_prefix()->add_prefixes(pick(prefixes));
          break;
        case 6:
          for (int k = 0; k < entries; ++k) {
            c->mutable_asn()->add_asns(
                std::uniform_int_distribution<uint32_t>(1, 4294967295u)(rng));
          }
          break;
        case 7:
          for (int k = 0; k < entries; ++k) {
            v1::LabelMatch* m = c->mutable_label()->add_labels();
            m->set_key(pick({"incident", "a.b_c-d", "k"}));
            if (n(0, 2) > 0) m->set_value(pick(values));
          }
          break;
        case 8: {
          int64_t since = std::uniform_int_distribution<int64_t>(-62135596800, 253402300799 - 1000001)(rng);
          int shape = n(0, 2);
          if (shape != 1) {
            c->mutable_issued_at()->mutable_since()->set_seconds(since);
            c->mutable_issued_at()->mutable_since()->set_nanos(n(0, 1) ? 0 : n(0, 999999999));
          }
          if (shape != 0) {
            c->mutable_issued_at()->mutable_until()->set_seconds(since + n(1, 1000000));
            c->mutable_issued_at()->mutable_until()->set_nanos(n(0, 1) ? 0 : n(0, 999999999));
          }
          break;
        }
      }
    }
    std::string text = FormatFilter(f);
    SCOPED_TRACE(text);
    absl::StatusOr<Filter> parsed = ParseFilter(text);
    ASSERT_TRUE(parsed.ok()) << parsed.status() << "\n" << f.ShortDebugString();
    ASSERT_TRUE(MessageDifferencer::Equals(*parsed, f))
        << parsed->ShortDebugString() << "\nwant " << f.ShortDebugString();
    EXPECT_EQ(FormatFilter(*parsed), text);
  }
}

}  // namespace
}  // namespace watchfloor::node
