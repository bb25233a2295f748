#include "node/cli/alert_io.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "certs/encryption_key.h"
#include "certs/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "node/alert_validator.h"
#include "node/cli/json_reader.h"
#include "google/protobuf/util/time_util.h"

namespace watchfloor::cli {
namespace {

using watchfloor::v1::Alert;

absl::Status JsonError(absl::string_view what, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("alert JSON: ", what, ": ", why));
}

absl::Status SetTimestamp(absl::string_view field, absl::string_view text,
                          google::protobuf::Timestamp* ts) {
  if (!google::protobuf::util::TimeUtil::FromString(std::string(text), ts)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " \"", text,
        "\" is not an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"));
  }
  return absl::OkStatus();
}

// "labels" as an object {"incident": "INC-1", ...} or as the proto3 JSON of
// the repeated Label field, [{"key": "incident", "value": "INC-1"}, ...] (what
// `get --output json` prints). Either way the labels keep the document's
// order, which is the order they are signed in (alert.proto, Label).
absl::Status AddLabels(const JsonValue& value, Alert* a) {
  if (value.kind == JsonValue::Kind::kObject) {
    for (const auto& [k, v] : value.members) {
      if (v.kind != JsonValue::Kind::kString) {
        return JsonError(absl::StrCat("labels.", k), "must be a string");
      }
      auto* l = a->add_labels();
      l->set_key(k);
      l->set_value(v.text);
    }
    return absl::OkStatus();
  }
  if (value.kind != JsonValue::Kind::kArray) {
    return JsonError("labels",
                     "must be an object of string values, e.g. {\"incident\": \"INC-1\"}");
  }
  for (size_t i = 0; i < value.items.size(); ++i) {
    const JsonValue& item = value.items[i];
    const std::string where = absl::StrCat("labels[", i, "]");
    if (item.kind != JsonValue::Kind::kObject) {
      return JsonError(where, "must be an object {\"key\": ..., \"value\": ...}");
    }
    auto* l = a->add_labels();
    for (const auto& [k, v] : item.members) {
      if (k != "key" && k != "value") {
        return JsonError(absl::StrCat(where, ".", k), "unknown key; use key and value");
      }
      if (v.kind != JsonValue::Kind::kString) {
        return JsonError(absl::StrCat(where, ".", k), "must be a string");
      }
      (k == "key" ? l->mutable_key() : l->mutable_value())->assign(v.text);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<watchfloor::v1::Severity> ParseSeverity(absl::string_view s) {
  std::string n = absl::AsciiStrToLower(s);
  if (absl::StartsWith(n, "severity_")) n = n.substr(9);
  if (n == "info") return watchfloor::v1::SEVERITY_INFO;
  if (n == "low") return watchfloor::v1::SEVERITY_LOW;
  if (n == "medium") return watchfloor::v1::SEVERITY_MEDIUM;
  if (n == "high") return watchfloor::v1::SEVERITY_HIGH;
  if (n == "critical") return watchfloor::v1::SEVERITY_CRITICAL;
  return absl::InvalidArgumentError(absl::StrCat(
      "severity \"", s, "\" is unknown; use info, low, medium, high or critical"));
}

absl::StatusOr<watchfloor::v1::Tlp> ParseTlp(absl::string_view s) {
  std::string n = absl::AsciiStrToLower(s);
  if (absl::StartsWith(n, "tlp:") || absl::StartsWith(n, "tlp_")) n = n.substr(4);
  if (n == "clear") return watchfloor::v1::TLP_CLEAR;
  if (n == "green") return watchfloor::v1::TLP_GREEN;
  if (n == "amber") return watchfloor::v1::TLP_AMBER;
  if (n == "amber+strict" || n == "amber_strict") return watchfloor::v1::TLP_AMBER_STRICT;
  if (n == "red") return watchfloor::v1::TLP_RED;
  return absl::InvalidArgumentError(absl::StrCat(
      "tlp \"", s, "\" is unknown; use clear, green, amber, amber+strict or red"));
}

std::string SeverityName(watchfloor::v1::Severity s) {
  switch (s) {
    case watchfloor::v1::SEVERITY_INFO: return "info";
    case watchfloor::v1::SEVERITY_LOW: return "low";
    case watchfloor::v1::SEVERITY_MEDIUM: return "medium";
    case watchfloor::v1::SEVERITY_HIGH: return "high";
    case watchfloor::v1::SEVERITY_CRITICAL: return "critical";
    default: return absl::StrCat("severity(", static_cast<int>(s), ")");
  }
}

std::string TlpName(watchfloor::v1::Tlp t) {
  switch (t) {
    case watchfloor::v1::TLP_CLEAR: return "CLEAR";
    case watchfloor::v1::TLP_GREEN: return "GREEN";
    case watchfloor::v1::TLP_AMBER: return "AMBER";
    case watchfloor::v1::TLP_AMBER_STRICT: return "AMBER+STRICT";
    case watchfloor::v1::TLP_RED: return "RED";
    default: return absl::StrCat("tlp(", static_cast<int>(t), ")");
  }
}

absl::StatusOr<Alert> DraftFromJson(absl::string_view json) {
  absl::StatusOr<JsonValue> doc = ParseJson(json);
  if (!doc.ok()) return JsonError("not valid JSON", doc.status().message());
  if (doc->kind != JsonValue::Kind::kObject) {
    return JsonError("top level", absl::StrCat("must be an object, not ",
                                               JsonKindName(doc->kind)));
  }
  Alert a;
  for (const auto& [key, value] : doc->members) {
    auto want_string = [&, &key = key, &value = value]() -> absl::StatusOr<std::string> {
      if (value.kind != JsonValue::Kind::kString) return JsonError(key, "must be a string");
      return value.text;
    };
    auto want_strings = [&, &key = key,
                         &value = value]() -> absl::StatusOr<std::vector<std::string>> {
      if (value.kind != JsonValue::Kind::kArray) {
        return JsonError(key, "must be a list of strings");
      }
      std::vector<std::string> out;
      for (const JsonValue& v : value.items) {
        if (v.kind != JsonValue::Kind::kString) {
          return JsonError(key, "must be a list of strings");
        }
        out.push_back(v.text);
      }
      return out;
    };
    if (key == "severity") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      WF_ASSIGN_OR_RETURN(auto sev, ParseSeverity(s));
      a.set_severity(sev);
    } else if (key == "tlp") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      WF_ASSIGN_OR_RETURN(auto tlp, ParseTlp(s));
      a.set_tlp(tlp);
    } else if (key == "category") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      a.set_category(s);
    } else if (key == "title") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      a.set_title(s);
    } else if (key == "description") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      a.set_description(s);
    } else if (key == "updates") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      a.set_updates(s);
    } else if (key == "cancels") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      a.set_cancels(s);
    } else if (key == "expires_at") {
      WF_ASSIGN_OR_RETURN(std::string s, want_string());
      WF_RETURN_IF_ERROR(SetTimestamp("expires_at", s, a.mutable_expires_at()));
    } else if (key == "domains") {
      WF_ASSIGN_OR_RETURN(auto v, want_strings());
      for (auto& s : v) a.add_domains(s);
    } else if (key == "ip_prefixes") {
      WF_ASSIGN_OR_RETURN(auto v, want_strings());
      for (auto& s : v) a.add_ip_prefixes(s);
    } else if (key == "references") {
      WF_ASSIGN_OR_RETURN(auto v, want_strings());
      for (auto& s : v) a.add_references(s);
    } else if (key == "recipients") {
      WF_ASSIGN_OR_RETURN(auto v, want_strings());
      for (auto& s : v) a.add_recipients(s);
    } else if (key == "asns") {
      if (value.kind != JsonValue::Kind::kArray) {
        return JsonError(key, "must be a list of AS numbers 1..4294967295");
      }
      for (const JsonValue& v : value.items) {
        uint32_t asn = 0;
        // Digits only: no fraction, exponent or sign (SimpleAtoi takes "+1").
        if (v.kind != JsonValue::Kind::kNumber ||
            v.text.find_first_not_of("0123456789") != std::string::npos ||
            !absl::SimpleAtoi(v.text, &asn) || asn == 0) {
          return JsonError(key, absl::StrCat("entry ", v.kind == JsonValue::Kind::kNumber
                                                           ? v.text
                                                           : JsonKindName(v.kind),
                                             " is not an AS number 1..4294967295"));
        }
        a.add_asns(asn);
      }
    } else if (key == "labels") {
      WF_RETURN_IF_ERROR(AddLabels(value, &a));
    } else {
      return JsonError(key,
                       "unknown key; use severity, category, tlp, title, "
                       "description, domains, ip_prefixes, asns, labels, "
                       "references, expires_at, updates, cancels or "
                       "recipients");
    }
  }
  return a;
}

absl::StatusOr<Alert> DraftFromFlags(const ParsedArgs& args) {
  Alert a;
  if (args.Has("severity")) {
    WF_ASSIGN_OR_RETURN(auto sev, ParseSeverity(args.Get("severity")));
    a.set_severity(sev);
  }
  if (args.Has("tlp")) {
    WF_ASSIGN_OR_RETURN(auto tlp, ParseTlp(args.Get("tlp")));
    a.set_tlp(tlp);
  }
  a.set_category(args.Get("category"));
  a.set_title(args.Get("title"));
  a.set_description(args.Get("description"));
  for (const auto& d : args.GetAll("domain")) a.add_domains(d);
  for (const auto& p : args.GetAll("prefix")) a.add_ip_prefixes(p);
  for (const auto& to : args.GetAll("to")) {
    for (absl::string_view member : absl::StrSplit(to, ',', absl::SkipWhitespace())) {
      a.add_recipients(std::string(absl::StripAsciiWhitespace(member)));
    }
  }
  for (const auto& s : args.GetAll("asn")) {
    std::string n = s;
    if (absl::StartsWith(absl::AsciiStrToLower(n), "as")) n = n.substr(2);
    uint32_t asn;
    if (!absl::SimpleAtoi(n, &asn) || asn == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--asn \"", s, "\" is not an AS number 1..4294967295 (e.g. 64500)"));
    }
    a.add_asns(asn);
  }
  for (const auto& kv : args.GetAll("label")) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("--label \"", kv, "\" must be key=value"));
    }
    auto* l = a.add_labels();
    l->set_key(kv.substr(0, eq));
    l->set_value(kv.substr(eq + 1));
  }
  for (const auto& r : args.GetAll("reference")) a.add_references(r);
  if (args.Has("expires")) {
    WF_RETURN_IF_ERROR(SetTimestamp("--expires", args.Get("expires"),
                                    a.mutable_expires_at()));
  }
  a.set_updates(args.Get("updates"));
  a.set_cancels(args.Get("cancels"));
  return a;
}

absl::Status CheckDraft(const Alert& draft) { return node::ValidateDraft(draft); }

std::string FormatAlertText(uint64_t cursor, const std::string& id,
                            const Alert& a) {
  std::string issued = google::protobuf::util::TimeUtil::ToString(a.issued_at());
  std::string s = absl::StrCat(
      "[", cursor, "] ", issued, "  ", a.origin(), " #", a.sequence(), "  ",
      absl::AsciiStrToUpper(SeverityName(a.severity())), "  ", a.category(),
      "  TLP:", TlpName(a.tlp()), "\n    ", a.title(), "\n    id ", id, "\n");
  if (!a.domains().empty()) {
    absl::StrAppend(&s, "    domains: ", absl::StrJoin(a.domains(), ", "), "\n");
  }
  if (!a.ip_prefixes().empty()) {
    absl::StrAppend(&s, "    prefixes: ", absl::StrJoin(a.ip_prefixes(), ", "), "\n");
  }
  if (!a.asns().empty()) {
    absl::StrAppend(&s, "    asns: ", absl::StrJoin(a.asns(), ", "), "\n");
  }
  if (!a.labels().empty()) {
    // In stored order: the order the publisher gave (alert.proto, Label).
    absl::StrAppend(&s, "    labels: ",
                    absl::StrJoin(a.labels(), ", ",
                                  [](std::string* out, const watchfloor::v1::Label& l) {
                                    absl::StrAppend(out, l.key(), "=", l.value());
                                  }),
                    "\n");
  }
  if (!a.references().empty()) {
    absl::StrAppend(&s, "    references: ", absl::StrJoin(a.references(), ", "), "\n");
  }
  if (!a.description().empty()) {
    absl::StrAppend(&s, "    ", absl::StrReplaceAll(a.description(), {{"\n", "\n    "}}), "\n");
  }
  if (!a.updates().empty()) absl::StrAppend(&s, "    updates ", a.updates(), "\n");
  if (!a.cancels().empty()) absl::StrAppend(&s, "    cancels ", a.cancels(), "\n");
  if (!a.recipients().empty()) {
    absl::StrAppend(&s, "    recipients: ", absl::StrJoin(a.recipients(), ", "), "\n");
  }
  if (a.has_sealed()) {
    absl::StrAppend(&s, "    (sealed: only the recipients' own nodes show it to their clients)\n");
  }
  if (a.has_key_record()) {
    absl::StatusOr<certs::EncryptionPublicKey> key =
        certs::EncryptionPublicKey::FromRaw(a.key_record().public_key());
    absl::StrAppend(&s, "    key record: epoch ", a.key_record().epoch(), " of ",
                    a.key_record().node(), ", keyid ", key.ok() ? key->KeyId() : "(invalid)",
                    ", sealable until ",
                    google::protobuf::util::TimeUtil::ToString(a.key_record().not_after()),
                    "\n");
  }
  if (a.has_reaction()) {
    std::string kind = watchfloor::v1::ReactionKind_Name(a.reaction().kind());
    absl::StrAppend(&s, "    reaction ", absl::AsciiStrToLower(kind.substr(kind.find('_') + 1)),
                    " to ", a.reaction().target(), "\n");
    if (!a.reaction().note().empty()) {
      absl::StrAppend(&s, "    note: ",
                      absl::StrReplaceAll(a.reaction().note(), {{"\n", "\n    "}}), "\n");
    }
  }
  return s;
}

std::string FormatAlertJson(uint64_t cursor, const std::string& id,
                            const Alert& a) {
  std::string alert_json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(a, &alert_json, opts);
  return absl::StrCat("{\"cursor\":", cursor, ",\"id\":\"", id,
                      "\",\"alert\":", alert_json, "}");
}

std::string FormatIncidentEvent(const std::string& output,
                                const watchfloor::v1::IncidentEvent& e) {
  if (output == "json") {
    std::string json;
    google::protobuf::util::JsonPrintOptions opts;
    opts.preserve_proto_field_names = true;
    (void)google::protobuf::util::MessageToJsonString(e, &json, opts);
    return absl::StrCat("{\"incident_event\":", json, "}");
  }
  auto lower_suffix = [](const std::string& name) {
    return absl::AsciiStrToLower(name.substr(name.find('_') + 1));
  };
  std::string kind = lower_suffix(watchfloor::v1::IncidentEventKind_Name(e.kind()));
  absl::StrReplaceAll({{"_by", ""}}, &kind);
  if (e.kind() == watchfloor::v1::INCIDENT_EXPIRY) kind = "expired";
  std::string s = absl::StrCat("    event ", kind, " incident ",
                               e.incident().empty() ? "(target not stored yet)" : e.incident());
  if (e.kind() == watchfloor::v1::INCIDENT_REACTED) {
    absl::StrAppend(&s, ": ", lower_suffix(watchfloor::v1::ReactionKind_Name(e.reaction())),
                    " by ", e.reactor());
  }
  if (e.kind() == watchfloor::v1::INCIDENT_CORROBORATED) {
    absl::StrAppend(&s, ": co-signed by ", e.cosigner());
  }
  if (!e.alert().empty()) absl::StrAppend(&s, " (alert ", e.alert(), ")");
  return s;
}

}  // namespace watchfloor::cli
