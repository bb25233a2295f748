#include "node/filter_parser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "certs/status_macros.h"
#include "node/alert_validator.h"
#include "node/filter.h"

namespace watchfloor::node {
namespace {

using watchfloor::v1::Condition;
using watchfloor::v1::Filter;

constexpr char kFieldList[] =
    "fields are origin, category, severity, tlp, domain, prefix, asn, label, "
    "issued, corroborated, cosigned-by";
// Canonical timestamps: RFC 3339 in UTC with "Z", fractional seconds only
// when present.
constexpr char kTimeFormat[] = "%Y-%m-%d%ET%H:%M:%E*SZ";

struct Token {
  std::string text;  // as typed, quotes and all
  int column = 0;    // 1-based, in characters (UTF-8 code points)
};

// A token's problem; the caller adds the filter text, column and token.
absl::Status Bad(absl::string_view problem) {
  return absl::InvalidArgumentError(problem);
}

// Splits on ASCII whitespace outside double quotes. Inside quotes a backslash
// escapes the next byte. An unterminated quote is an error of its token.
absl::Status Tokenize(absl::string_view text, std::vector<Token>* tokens,
                      Token* bad) {
  int column = 0;  // characters before text[i]
  size_t i = 0;
  while (i < text.size()) {
    if (absl::ascii_isspace(text[i])) {
      ++column;
      ++i;
      continue;
    }
    Token t;
    t.column = column + 1;
    bool quoted = false;
    while (i < text.size() && (quoted || !absl::ascii_isspace(text[i]))) {
      char c = text[i];
      if (quoted && c == '\\' && i + 1 < text.size()) {
        t.text.push_back(c);
        if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++column;
        ++i;
        c = text[i];
      } else if (c == '"') {
        quoted = !quoted;
      }
      t.text.push_back(c);
      if ((static_cast<unsigned char>(c) & 0xc0) != 0x80) ++column;
      ++i;
    }
    if (quoted) {
      *bad = std::move(t);
      return Bad("unterminated double quote; close it with \"");
    }
    tokens->push_back(std::move(t));
  }
  return absl::OkStatus();
}

// Splits a value list on commas; empty items are errors.
absl::StatusOr<std::vector<std::string>> SplitList(absl::string_view field,
                                                   absl::string_view value,
                                                   absl::string_view example) {
  if (value.empty()) {
    return Bad(absl::StrCat(field, " needs at least one value, e.g. ", example));
  }
  std::vector<std::string> items = absl::StrSplit(value, ',');
  for (const std::string& item : items) {
    if (item.empty()) {
      return Bad(absl::StrCat("empty value in the ", field,
                              " list; separate values with single commas, "
                              "e.g. ",
                              example));
    }
    if (absl::StrContains(item, '"')) {
      return Bad(absl::StrCat("quotes are only allowed around label values; ",
                              field, " values never contain spaces"));
    }
  }
  return items;
}

absl::StatusOr<v1::Severity> ParseSeverity(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  absl::string_view s = lower;
  absl::ConsumePrefix(&s, "severity_");
  if (s == "info") return v1::SEVERITY_INFO;
  if (s == "low") return v1::SEVERITY_LOW;
  if (s == "medium") return v1::SEVERITY_MEDIUM;
  if (s == "high") return v1::SEVERITY_HIGH;
  if (s == "critical") return v1::SEVERITY_CRITICAL;
  return Bad(absl::StrCat("unknown severity \"", text,
                          "\"; use info, low, medium, high or critical"));
}

absl::StatusOr<v1::Tlp> ParseTlp(absl::string_view text) {
  std::string lower = absl::AsciiStrToLower(text);
  absl::string_view s = lower;
  if (!absl::ConsumePrefix(&s, "tlp:")) absl::ConsumePrefix(&s, "tlp_");
  if (s == "clear") return v1::TLP_CLEAR;
  if (s == "green") return v1::TLP_GREEN;
  if (s == "amber") return v1::TLP_AMBER;
  if (s == "amber+strict" || s == "amber_strict") return v1::TLP_AMBER_STRICT;
  if (s == "red") return v1::TLP_RED;
  if (s == "white") {
    return Bad("TLP 2.0 renamed WHITE to CLEAR; write tlp<=clear");
  }
  return Bad(absl::StrCat("unknown TLP \"", text,
                          "\"; use clear, green, amber, amber+strict or red "
                          "(TLP:AMBER forms work too)"));
}

absl::StatusOr<google::protobuf::Timestamp> ParseTime(absl::string_view text) {
  absl::Time t;
  std::string err;
  std::string s(text);
  bool ok = absl::ParseTime(absl::RFC3339_full, s, &t, &err);
  if (!ok && s.size() == 10) {  // a bare date: midnight UTC
    ok = absl::ParseTime("%Y-%m-%d", s, absl::UTCTimeZone(), &t, &err);
  }
  if (!ok) {
    return Bad(absl::StrCat("\"", text,
                            "\" is not an RFC 3339 time; write e.g. "
                            "2024-05-01T00:00:00Z or 2024-05-01"));
  }
  google::protobuf::Timestamp ts;
  absl::Duration since_epoch = t - absl::UnixEpoch();
  int64_t seconds = absl::ToInt64Seconds(since_epoch);
  absl::Duration rest = since_epoch - absl::Seconds(seconds);
  if (rest < absl::ZeroDuration()) {  // floor, so that nanos is in [0, 1e9)
    seconds -= 1;
    rest += absl::Seconds(1);
  }
  ts.set_seconds(seconds);
  ts.set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(rest)));
  return ts;
}

std::string FormatTime(const google::protobuf::Timestamp& ts) {
  absl::Time t = absl::FromUnixSeconds(ts.seconds()) +
                 absl::Nanoseconds(ts.nanos());
  return absl::FormatTime(kTimeFormat, t, absl::UTCTimeZone());
}

// Canonical text of a prefix: inet_ntop's form ("2001:db8::/32").
absl::StatusOr<std::string> CanonicalPrefix(absl::string_view text) {
  WF_ASSIGN_OR_RETURN(IpPrefix p, ParseIpPrefix(text));
  char buf[INET6_ADDRSTRLEN];
  inet_ntop(p.v6 ? AF_INET6 : AF_INET, p.addr.data(), buf, sizeof(buf));
  return absl::StrCat(buf, "/", p.length);
}

// A quoted label value: "..." with \" and \\ escapes. Advances *pos past the
// closing quote.
absl::StatusOr<std::string> ParseQuoted(absl::string_view s, size_t* pos) {
  std::string out;
  size_t i = *pos + 1;
  while (i < s.size() && s[i] != '"') {
    if (s[i] == '\\') {
      if (i + 1 >= s.size() || (s[i + 1] != '"' && s[i + 1] != '\\')) {
        return Bad("unknown escape in a quoted label value; only \\\" and "
                   "\\\\ are allowed");
      }
      ++i;
    }
    out.push_back(s[i]);
    ++i;
  }
  if (i >= s.size()) return Bad("unterminated double quote; close it with \"");
  *pos = i + 1;
  return out;
}

// label:key, label:key=value, label:key="value, with spaces", comma-separated.
absl::Status ParseLabels(absl::string_view value, v1::LabelCondition* out) {
  if (value.empty()) {
    return Bad("label needs at least one key, e.g. label:incident or "
               "label:incident=INC-2041");
  }
  size_t i = 0;
  while (true) {
    size_t key_end = value.find_first_of("=,", i);
    if (key_end == absl::string_view::npos) key_end = value.size();
    v1::LabelMatch* m = out->add_labels();
    m->set_key(absl::AsciiStrToLower(value.substr(i, key_end - i)));
    if (m->key().empty()) {
      return Bad("empty label key; write label:key or label:key=value");
    }
    i = key_end;
    if (i < value.size() && value[i] == '=') {
      ++i;
      if (i < value.size() && value[i] == '"') {
        WF_ASSIGN_OR_RETURN(std::string v, ParseQuoted(value, &i));
        m->set_value(std::move(v));
        if (i < value.size() && value[i] != ',') {
          return Bad("after a quoted label value, expect a comma or the end "
                     "of the token");
        }
      } else {
        size_t end = value.find(',', i);
        if (end == absl::string_view::npos) end = value.size();
        absl::string_view v = value.substr(i, end - i);
        if (absl::StrContains(v, '"')) {
          return Bad("a quote inside a label value; quote the whole value: "
                     "label:key=\"...\"");
        }
        m->set_value(std::string(v));
        i = end;
      }
    }
    if (i >= value.size()) break;
    ++i;  // the comma
    if (i >= value.size()) {
      return Bad("empty label after a comma; remove the trailing comma");
    }
  }
  return absl::OkStatus();
}

// Parses one token (without its '!') into `c`.
absl::Status ParseCondition(absl::string_view text, Condition* c) {
  size_t n = 0;
  while (n < text.size() &&
         (absl::ascii_isalpha(text[n]) || text[n] == '_' || text[n] == '-')) {
    ++n;
  }
  std::string field = absl::AsciiStrToLower(text.substr(0, n));
  absl::string_view rest = text.substr(n);
  std::string op;
  for (absl::string_view candidate : {">=", "<=", "!=", ":", "=", "<", ">"}) {
    if (absl::StartsWith(rest, candidate)) {
      op = std::string(candidate);
      break;
    }
  }
  if (field.empty() || op.empty()) {
    return Bad(absl::StrCat("expected field:value, e.g. domain:nic.cz or "
                            "severity>=high; ",
                            kFieldList));
  }
  absl::string_view value = rest.substr(op.size());

  if (field == "severity") {
    if (op != ">=") {
      std::string hint = "";
      if (op == ":" || op == "=") {
        hint = absl::StrCat("; write severity>=", value, " (this level or worse)");
      }
      return Bad(absl::StrCat("severity takes a minimum: only severity>=LEVEL "
                              "is supported",
                              hint));
    }
    WF_ASSIGN_OR_RETURN(v1::Severity s, ParseSeverity(value));
    c->set_min_severity(s);
    return absl::OkStatus();
  }
  if (field == "tlp") {
    if (op != "<=") {
      std::string hint = "";
      if (op == ":" || op == "=") {
        hint = absl::StrCat("; write tlp<=", value,
                            " (this label or less restricted)");
      }
      return Bad(absl::StrCat(
          "tlp takes a maximum: only tlp<=LABEL is supported", hint));
    }
    WF_ASSIGN_OR_RETURN(v1::Tlp t, ParseTlp(value));
    c->set_max_tlp(t);
    return absl::OkStatus();
  }
  if (field == "issued") {
    v1::TimeRange* r = c->mutable_issued_at();
    if (op == ">=") {
      WF_ASSIGN_OR_RETURN(*r->mutable_since(), ParseTime(value));
    } else if (op == "<") {
      WF_ASSIGN_OR_RETURN(*r->mutable_until(), ParseTime(value));
    } else if (op == ":" && absl::StrContains(value, "..")) {
      std::pair<absl::string_view, absl::string_view> bounds =
          absl::StrSplit(value, absl::MaxSplits("..", 1));
      if (!bounds.first.empty()) {
        WF_ASSIGN_OR_RETURN(*r->mutable_since(), ParseTime(bounds.first));
      }
      if (!bounds.second.empty()) {
        WF_ASSIGN_OR_RETURN(*r->mutable_until(), ParseTime(bounds.second));
      }
    } else {
      return Bad("issued takes issued>=TIME, issued<TIME or the half-open "
                 "range issued:SINCE..UNTIL (RFC 3339 times)");
    }
    return absl::OkStatus();
  }

  if (field == "corroborated") {
    uint32_t k = 0;
    const bool number = !value.empty() && value.size() <= 3 &&
                        std::all_of(value.begin(), value.end(),
                                    [](char ch) { return absl::ascii_isdigit(ch); }) &&
                        absl::SimpleAtoi(value, &k);
    if (op != ">=" || !number) {
      return Bad(absl::StrCat("corroborated takes a minimum number of co-signing members: "
                              "corroborated>=K with K in 1..64, e.g. corroborated>=2"));
    }
    c->set_min_corroborations(k);
    return absl::OkStatus();
  }
  if (field == "cosigned-by") {
    if (op != ":") {
      return Bad("cosigned-by takes a list of members after a colon, e.g. "
                 "cosigned-by:nic.cz,sk-nic.sk");
    }
    WF_ASSIGN_OR_RETURN(auto items, SplitList(field, value, "cosigned-by:nic.cz"));
    for (auto& item : items) {
      c->mutable_cosigned_by()->add_members(absl::AsciiStrToLower(item));
    }
    return absl::OkStatus();
  }

  static const char* const kListFields[] = {"origin", "category", "domain",
                                            "prefix", "asn",      "label"};
  bool known = false;
  for (const char* f : kListFields) known = known || field == f;
  if (!known) {
    return Bad(absl::StrCat("unknown field \"", field, "\"; ", kFieldList));
  }
  if (op == "!=") {
    return Bad(absl::StrCat("there is no != operator; negate with a leading "
                            "'!': !", field, ":", value));
  }
  if (op != ":") {
    return Bad(absl::StrCat(field, " takes a list after a colon, e.g. ", field,
                            ":", value.empty() ? "VALUE" : value));
  }
  if (field == "label") return ParseLabels(value, c->mutable_label());

  if (field == "origin") {
    WF_ASSIGN_OR_RETURN(auto items, SplitList(field, value, "origin:nic.cz"));
    for (auto& item : items) {
      c->mutable_origin()->add_origins(absl::AsciiStrToLower(item));
    }
  } else if (field == "category") {
    WF_ASSIGN_OR_RETURN(auto items, SplitList(field, value, "category:dns.*"));
    for (auto& item : items) {
      c->mutable_category()->add_patterns(absl::AsciiStrToLower(item));
    }
  } else if (field == "domain") {
    WF_ASSIGN_OR_RETURN(auto items, SplitList(field, value, "domain:cz,sk"));
    for (auto& item : items) {
      WF_ASSIGN_OR_RETURN(std::string zone, NormalizeZone(item));
      c->mutable_domain()->add_zones(std::move(zone));
    }
  } else if (field == "prefix") {
    WF_ASSIGN_OR_RETURN(auto items,
                        SplitList(field, value, "prefix:192.0.2.0/24"));
    for (auto& item : items) {
      WF_ASSIGN_OR_RETURN(std::string p, CanonicalPrefix(item));
      c->mutable_ip_prefix()->add_prefixes(std::move(p));
    }
  } else if (field == "asn") {
    WF_ASSIGN_OR_RETURN(auto items, SplitList(field, value, "asn:64500"));
    for (auto& item : items) {
      absl::string_view digits = item;
      if (digits.size() > 2 && absl::ascii_tolower(digits[0]) == 'a' &&
          absl::ascii_tolower(digits[1]) == 's') {
        digits.remove_prefix(2);
      }
      uint32_t asn = 0;
      bool all_digits = !digits.empty() && digits.size() <= 10 &&
                        std::all_of(digits.begin(), digits.end(),
                                    [](char ch) { return absl::ascii_isdigit(ch); });
      if (!all_digits || !absl::SimpleAtoi(digits, &asn)) {
        return Bad(absl::StrCat("\"", item,
                                "\" is not an AS number; write 64500 or "
                                "AS64500 (1..4294967295)"));
      }
      c->mutable_asn()->add_asns(asn);
    }
  }
  return absl::OkStatus();
}

// True if a label value can be written without quotes.
bool IsBareValue(absl::string_view v) {
  if (v.empty()) return false;
  for (char c : v) {
    if (!absl::ascii_isalnum(c) && !absl::StrContains("._-:/@+", c)) {
      return false;
    }
  }
  return true;
}

std::string Quote(absl::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

const char* SeverityName(int s) {
  switch (s) {
    case v1::SEVERITY_INFO: return "info";
    case v1::SEVERITY_LOW: return "low";
    case v1::SEVERITY_MEDIUM: return "medium";
    case v1::SEVERITY_HIGH: return "high";
    case v1::SEVERITY_CRITICAL: return "critical";
    default: return "?";
  }
}

const char* TlpName(int t) {
  switch (t) {
    case v1::TLP_CLEAR: return "clear";
    case v1::TLP_GREEN: return "green";
    case v1::TLP_AMBER: return "amber";
    case v1::TLP_AMBER_STRICT: return "amber+strict";
    case v1::TLP_RED: return "red";
    default: return "?";
  }
}

std::string FormatCondition(const Condition& c) {
  std::string out = c.negate() ? "!" : "";
  switch (c.kind_case()) {
    case Condition::kOrigin:
      absl::StrAppend(&out, "origin:", absl::StrJoin(c.origin().origins(), ","));
      break;
    case Condition::kCategory:
      absl::StrAppend(&out, "category:",
                      absl::StrJoin(c.category().patterns(), ","));
      break;
    case Condition::kMinSeverity:
      absl::StrAppend(&out, "severity>=", SeverityName(c.min_severity()));
      break;
    case Condition::kMaxTlp:
      absl::StrAppend(&out, "tlp<=", TlpName(c.max_tlp()));
      break;
    case Condition::kDomain:
      absl::StrAppend(&out, "domain:", absl::StrJoin(c.domain().zones(), ","));
      break;
    case Condition::kIpPrefix:
      absl::StrAppend(&out, "prefix:",
                      absl::StrJoin(c.ip_prefix().prefixes(), ","));
      break;
    case Condition::kAsn:
      absl::StrAppend(&out, "asn:", absl::StrJoin(c.asn().asns(), ","));
      break;
    case Condition::kLabel: {
      std::vector<std::string> items;
      for (const v1::LabelMatch& m : c.label().labels()) {
        std::string item = m.key();
        if (m.has_value()) {
          absl::StrAppend(&item, "=",
                          IsBareValue(m.value()) ? m.value() : Quote(m.value()));
        }
        items.push_back(std::move(item));
      }
      absl::StrAppend(&out, "label:", absl::StrJoin(items, ","));
      break;
    }
    case Condition::kMinCorroborations:
      absl::StrAppend(&out, "corroborated>=", c.min_corroborations());
      break;
    case Condition::kCosignedBy:
      absl::StrAppend(&out, "cosigned-by:", absl::StrJoin(c.cosigned_by().members(), ","));
      break;
    case Condition::kIssuedAt: {
      const v1::TimeRange& r = c.issued_at();
      if (r.has_since() && r.has_until()) {
        absl::StrAppend(&out, "issued:", FormatTime(r.since()), "..",
                        FormatTime(r.until()));
      } else if (r.has_since()) {
        absl::StrAppend(&out, "issued>=", FormatTime(r.since()));
      } else if (r.has_until()) {
        absl::StrAppend(&out, "issued<", FormatTime(r.until()));
      } else {
        absl::StrAppend(&out, "issued:..");
      }
      break;
    }
    case Condition::KIND_NOT_SET:
      absl::StrAppend(&out, "?");
      break;
  }
  return out;
}

}  // namespace

absl::StatusOr<Filter> ParseFilter(absl::string_view text) {
  auto fail = [&](const Token& t, const absl::Status& problem) {
    return absl::InvalidArgumentError(
        absl::StrCat("filter \"", text, "\": column ", t.column, ", token \"",
                     t.text, "\": ", problem.message()));
  };
  // A filter travels in proto string fields, which must be UTF-8: refuse
  // here, where the caller can be told, rather than in serialization.
  if (!IsValidUtf8(text)) {
    return absl::InvalidArgumentError(
        "filter is not valid UTF-8 text; type it in a UTF-8 terminal or "
        "escape-free ASCII");
  }
  std::vector<Token> tokens;
  Token bad;
  absl::Status tokenized = Tokenize(text, &tokens, &bad);
  if (!tokenized.ok()) return fail(bad, tokenized);

  Filter filter;
  for (const Token& t : tokens) {
    absl::string_view body = t.text;
    Condition c;
    if (absl::ConsumePrefix(&body, "!")) {
      c.set_negate(true);
      if (body.empty() || body[0] == '!') {
        return fail(t, Bad("'!' must be followed directly by one condition, "
                           "e.g. !category:abuse.*"));
      }
    }
    absl::Status parsed = ParseCondition(body, &c);
    if (!parsed.ok()) return fail(t, parsed);
    // The same checks Matcher::Compile makes, reported at this token.
    absl::StatusOr<CompiledCondition> compiled = CompileCondition(c);
    if (!compiled.ok()) return fail(t, compiled.status());
    *filter.add_conditions() = std::move(c);
  }
  if (filter.conditions_size() > kMaxConditionsPerFilter) {
    return absl::InvalidArgumentError(absl::StrCat(
        "filter \"", text, "\": ", filter.conditions_size(),
        " conditions; the limit is ", kMaxConditionsPerFilter,
        " (list values with commas, e.g. domain:cz,sk, instead of repeating "
        "a field)"));
  }
  return filter;
}

std::string FormatFilter(const Filter& filter) {
  std::vector<std::string> parts;
  parts.reserve(filter.conditions_size());
  for (const Condition& c : filter.conditions()) {
    parts.push_back(FormatCondition(c));
  }
  return absl::StrJoin(parts, " ");
}

}  // namespace watchfloor::node
