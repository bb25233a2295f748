#include "interop/misp.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "interop/json_text.h"
#include "interop/names.h"
#include "interop/uuid.h"

namespace watchfloor::interop {
namespace {

using google::protobuf::Value;
using watchfloor::v1::Alert;

// MISP threat_level_id: 1 high, 2 medium, 3 low, 4 undefined.
int ThreatLevel(watchfloor::v1::Severity s) {
  switch (s) {
    case watchfloor::v1::SEVERITY_CRITICAL:
    case watchfloor::v1::SEVERITY_HIGH: return 1;
    case watchfloor::v1::SEVERITY_MEDIUM: return 2;
    case watchfloor::v1::SEVERITY_LOW: return 3;
    default: return 4;
  }
}

// MISP distribution: 0 your organisation, 1 this community, 2 connected
// communities, 3 all communities.
int Distribution(watchfloor::v1::Tlp t) {
  switch (t) {
    case watchfloor::v1::TLP_CLEAR: return 3;
    case watchfloor::v1::TLP_GREEN: return 2;
    case watchfloor::v1::TLP_AMBER: return 1;
    default: return 0;
  }
}

std::string LabelValue(const Alert& a, absl::string_view key) {
  for (const auto& l : a.labels()) {
    if (l.key() == key) return l.value();
  }
  return "";
}

std::set<std::string> LabelWords(const Alert& a, absl::string_view key) {
  std::set<std::string> out;
  for (absl::string_view w : absl::StrSplit(LabelValue(a, key), ' ', absl::SkipEmpty())) {
    out.insert(std::string(w));
  }
  return out;
}

// "192.0.2.1/32" -> "192.0.2.1"; other prefixes unchanged.
std::string MispIpValue(absl::string_view prefix) {
  if (absl::EndsWith(prefix, "/32") && !absl::StrContains(prefix, ':')) {
    return std::string(prefix.substr(0, prefix.size() - 3));
  }
  if (absl::EndsWith(prefix, "/128")) return std::string(prefix.substr(0, prefix.size() - 4));
  return std::string(prefix);
}

absl::Status EventError(absl::string_view event, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("MISP JSON: ", event, ": ", why));
}

// A string, or a number written as one (MISP sends both for ids).
bool AsText(const Value& v, std::string* out) {
  if (v.kind_case() == Value::kStringValue) {
    *out = v.string_value();
    return true;
  }
  if (v.kind_case() == Value::kNumberValue) {
    *out = absl::StrCat(static_cast<long long>(v.number_value()));
    return true;
  }
  return false;
}

const Value* Field(const google::protobuf::Struct& s, absl::string_view key) {
  auto it = s.fields().find(std::string(key));
  return it == s.fields().end() ? nullptr : &it->second;
}

// "watchfloor:category=\"dns.hijack\"" -> ("category", "dns.hijack").
bool MachineTag(absl::string_view tag, std::string* predicate, std::string* value) {
  if (!absl::ConsumePrefix(&tag, "watchfloor:")) return false;
  size_t eq = tag.find('=');
  if (eq == absl::string_view::npos) return false;
  absl::string_view v = tag.substr(eq + 1);
  if (v.size() < 2 || v.front() != '"' || v.back() != '"') return false;
  *predicate = std::string(tag.substr(0, eq));
  *value = std::string(v.substr(1, v.size() - 2));
  return true;
}

std::string MachineTagText(absl::string_view predicate, absl::string_view value) {
  return absl::StrCat("watchfloor:", predicate, "=\"", value, "\"");
}

absl::StatusOr<watchfloor::v1::Tlp> TlpFromTag(absl::string_view word) {
  std::string w = absl::AsciiStrToLower(word);
  if (w == "clear" || w == "white") return watchfloor::v1::TLP_CLEAR;
  if (w == "green") return watchfloor::v1::TLP_GREEN;
  if (w == "amber") return watchfloor::v1::TLP_AMBER;
  if (w == "amber+strict") return watchfloor::v1::TLP_AMBER_STRICT;
  if (w == "red") return watchfloor::v1::TLP_RED;
  return absl::InvalidArgumentError(absl::StrCat(
      "tag \"tlp:", word, "\" is not a TLP 2.0 label; use clear (or white), green, amber, "
      "amber+strict or red"));
}

absl::StatusOr<watchfloor::v1::Severity> SeverityFromWord(absl::string_view word) {
  std::string w = absl::AsciiStrToLower(word);
  if (w == "info") return watchfloor::v1::SEVERITY_INFO;
  if (w == "low") return watchfloor::v1::SEVERITY_LOW;
  if (w == "medium") return watchfloor::v1::SEVERITY_MEDIUM;
  if (w == "high") return watchfloor::v1::SEVERITY_HIGH;
  if (w == "critical") return watchfloor::v1::SEVERITY_CRITICAL;
  return absl::InvalidArgumentError(absl::StrCat(
      "watchfloor:severity \"", word, "\" is unknown; use info, low, medium, high or critical"));
}

class EventParser {
 public:
  EventParser(std::string name, const MispImportOptions& options)
      : options_(options) {
    out_.name = std::move(name);
  }

  absl::StatusOr<MispImportedEvent> Parse(const google::protobuf::Struct& ev) {
    const Value* info = Field(ev, "info");
    if (info == nullptr || info->kind_case() != Value::kStringValue ||
        info->string_value().empty()) {
      return EventError(out_.name, "has no \"info\" (the title); every event needs one");
    }
    Alert& a = out_.draft;
    a.set_title(info->string_value());
    out_.name = absl::StrCat(out_.name, " (\"", info->string_value(), "\")");
    std::string uuid;
    if (const Value* u = Field(ev, "uuid"); u != nullptr && AsText(*u, &uuid) && !uuid.empty()) {
      AddLabel(kMispEventUuidLabel, uuid);
    }
    if (absl::Status st = ParseTags(ev); !st.ok()) return st;
    if (a.severity() == watchfloor::v1::SEVERITY_UNSPECIFIED) {
      std::string level = "4";
      if (const Value* t = Field(ev, "threat_level_id")) AsText(*t, &level);
      a.set_severity(level == "1"   ? watchfloor::v1::SEVERITY_HIGH
                     : level == "2" ? watchfloor::v1::SEVERITY_MEDIUM
                     : level == "3" ? watchfloor::v1::SEVERITY_LOW
                                    : watchfloor::v1::SEVERITY_INFO);
    }
    if (a.tlp() == watchfloor::v1::TLP_UNSPECIFIED) {
      return EventError(out_.name, "has no tlp: tag; add one such as {\"name\": \"tlp:green\"}");
    }
    if (a.category().empty()) {
      if (options_.default_category.empty()) {
        return EventError(out_.name,
                          "has no watchfloor:category tag; add one such as "
                          "{\"name\": \"watchfloor:category=\\\"dns.hijack\\\"\"} or give "
                          "--category");
      }
      a.set_category(options_.default_category);
    }
    if (absl::Status st = ParseAttributes(ev); !st.ok()) return st;
    if (const Value* objs = Field(ev, "Object");
        objs != nullptr && objs->kind_case() == Value::kListValue &&
        !objs->list_value().values().empty()) {
      unknown_.push_back(absl::StrCat(objs->list_value().values_size(),
                                      " MISP object(s) (\"Object\") skipped: watchfloor "
                                      "imports plain attributes only"));
    }
    if (!unknown_.empty() && !options_.skip_unknown) {
      return EventError(out_.name,
                        absl::StrCat("cannot carry ", absl::StrJoin(unknown_, "; "),
                                     ". Nothing was published. Remove them, or rerun with "
                                     "--skip-unknown to publish the event without them"));
    }
    for (std::string& u : unknown_) out_.skipped.push_back(std::move(u));
    if (!ip_src_.empty()) AddLabel(kMispIpSrcLabel, absl::StrJoin(ip_src_, " "));
    if (!hostnames_.empty()) AddLabel(kMispHostnameLabel, absl::StrJoin(hostnames_, " "));
    if (!description_.empty()) a.set_description(absl::StrJoin(description_, "\n\n"));
    return std::move(out_);
  }

 private:
  void AddLabel(absl::string_view key, absl::string_view value) {
    auto* l = out_.draft.add_labels();
    l->set_key(std::string(key));
    l->set_value(std::string(value));
  }

  absl::Status ParseTags(const google::protobuf::Struct& ev) {
    const Value* tags = Field(ev, "Tag");
    if (tags == nullptr) return absl::OkStatus();
    if (tags->kind_case() != Value::kListValue) {
      return EventError(out_.name, "\"Tag\" must be a list of {\"name\": ...} objects");
    }
    Alert& a = out_.draft;
    for (const Value& t : tags->list_value().values()) {
      const Value* name = t.kind_case() == Value::kStructValue ? Field(t.struct_value(), "name")
                                                               : nullptr;
      if (name == nullptr || name->kind_case() != Value::kStringValue) {
        return EventError(out_.name, "a \"Tag\" entry has no string \"name\"");
      }
      const std::string& tag = name->string_value();
      std::string pred, value;
      if (absl::StartsWithIgnoreCase(tag, "tlp:")) {
        absl::StatusOr<watchfloor::v1::Tlp> tlp = TlpFromTag(tag.substr(4));
        if (!tlp.ok()) return EventError(out_.name, tlp.status().message());
        a.set_tlp(*tlp);
      } else if (MachineTag(tag, &pred, &value)) {
        if (pred == "category") {
          a.set_category(value);
        } else if (pred == "severity") {
          absl::StatusOr<watchfloor::v1::Severity> sev = SeverityFromWord(value);
          if (!sev.ok()) return EventError(out_.name, sev.status().message());
          a.set_severity(*sev);
        } else if (pred == "label") {
          size_t eq = value.find('=');
          if (eq == std::string::npos) {
            return EventError(out_.name, absl::StrCat("tag ", tag, " must be label=\"key=value\""));
          }
          AddLabel(value.substr(0, eq), value.substr(eq + 1));
        } else if (pred != "alert-id" && pred != "origin") {
          unknown_.push_back(absl::StrCat("tag \"", tag, "\""));
        }
      } else {
        unknown_.push_back(absl::StrCat("tag \"", tag, "\""));
      }
    }
    return absl::OkStatus();
  }

  absl::Status ParseAttributes(const google::protobuf::Struct& ev) {
    const Value* attrs = Field(ev, "Attribute");
    if (attrs == nullptr) return absl::OkStatus();
    if (attrs->kind_case() != Value::kListValue) {
      return EventError(out_.name, "\"Attribute\" must be a list of objects");
    }
    Alert& a = out_.draft;
    int n = 0;
    for (const Value& v : attrs->list_value().values()) {
      ++n;
      const std::string where = absl::StrCat("attribute ", n);
      if (v.kind_case() != Value::kStructValue) {
        return EventError(out_.name, absl::StrCat(where, " is not an object"));
      }
      const Value* type = Field(v.struct_value(), "type");
      const Value* value = Field(v.struct_value(), "value");
      std::string val;
      if (type == nullptr || type->kind_case() != Value::kStringValue || value == nullptr ||
          !AsText(*value, &val)) {
        return EventError(out_.name, absl::StrCat(where, " needs a string \"type\" and \"value\""));
      }
      const std::string& t = type->string_value();
      if (t == "domain" || t == "hostname") {
        a.add_domains(absl::AsciiStrToLower(val));
        if (t == "hostname") hostnames_.push_back(absl::AsciiStrToLower(val));
      } else if (t == "ip-src" || t == "ip-dst") {
        std::string prefix = val;
        if (!absl::StrContains(prefix, '/')) {
          prefix += absl::StrContains(prefix, ':') ? "/128" : "/32";
        }
        a.add_ip_prefixes(prefix);
        if (t == "ip-src") ip_src_.push_back(prefix);
      } else if (t == "AS") {
        absl::string_view num = val;
        if (absl::StartsWithIgnoreCase(num, "as")) num.remove_prefix(2);
        uint32_t asn;
        if (!absl::SimpleAtoi(num, &asn) || asn == 0) {
          return EventError(out_.name, absl::StrCat(where, " AS value \"", val,
                                                    "\" is not an AS number such as AS64500"));
        }
        a.add_asns(asn);
      } else if (t == "link") {
        a.add_references(val);
      } else if (t == "text" || t == "comment") {
        description_.push_back(val);
      } else {
        unknown_.push_back(absl::StrCat(where, " of type \"", t, "\" (value \"", val, "\")"));
      }
    }
    return absl::OkStatus();
  }

  const MispImportOptions& options_;
  MispImportedEvent out_;
  std::vector<std::string> unknown_, ip_src_, hostnames_, description_;
};

std::string Attribute(const std::string& alert_id, absl::string_view type,
                      absl::string_view category, absl::string_view value, bool to_ids,
                      absl::string_view timestamp) {
  return JsonObject()
      .Str("uuid", Uuid5OrDie(WatchfloorNamespace(),
                              absl::StrCat("misp-attribute:", alert_id, ":", type, ":", value)))
      .Str("type", type)
      .Str("category", category)
      .Str("value", value)
      .Raw("to_ids", to_ids ? "true" : "false")
      .Str("timestamp", timestamp)
      .Build();
}

}  // namespace

std::string MispEventJson(const AlertRecord& r) {
  const Alert& a = r.alert;
  const std::string ts = absl::StrCat(a.issued_at().seconds());
  std::vector<std::string> tags = {
      JsonObject().Str("name", absl::StrCat("tlp:", TlpWord(a.tlp()))).Build(),
      JsonObject().Str("name", MachineTagText("category", a.category())).Build(),
      JsonObject().Str("name", MachineTagText("severity", SeverityWord(a.severity()))).Build(),
      JsonObject().Str("name", MachineTagText("alert-id", r.id)).Build(),
      JsonObject().Str("name", MachineTagText("origin", a.origin())).Build(),
  };
  for (const auto& l : a.labels()) {
    if (absl::StartsWith(l.key(), "misp.")) continue;
    tags.push_back(
        JsonObject().Str("name", MachineTagText("label", absl::StrCat(l.key(), "=", l.value()))).Build());
  }
  const std::set<std::string> ip_src = LabelWords(a, kMispIpSrcLabel);
  const std::set<std::string> hostnames = LabelWords(a, kMispHostnameLabel);
  std::vector<std::string> attrs;
  for (const std::string& d : a.domains()) {
    attrs.push_back(Attribute(r.id, hostnames.count(d) ? "hostname" : "domain",
                              "Network activity", d, true, ts));
  }
  for (const std::string& p : a.ip_prefixes()) {
    attrs.push_back(Attribute(r.id, ip_src.count(p) ? "ip-src" : "ip-dst", "Network activity",
                              MispIpValue(p), true, ts));
  }
  for (uint32_t asn : a.asns()) {
    attrs.push_back(Attribute(r.id, "AS", "Network activity", absl::StrCat("AS", asn), false, ts));
  }
  for (const std::string& ref : a.references()) {
    attrs.push_back(Attribute(r.id, "link", "External analysis", ref, false, ts));
  }
  if (!a.description().empty()) {
    attrs.push_back(Attribute(r.id, "text", "Other", a.description(), false, ts));
  }
  std::string uuid = LabelValue(a, kMispEventUuidLabel);
  if (uuid.empty()) uuid = Uuid5OrDie(WatchfloorNamespace(), absl::StrCat("alert:", r.id));
  const std::string date = StixTimestamp(a.issued_at()).substr(0, 10);
  JsonObject ev;
  ev.Str("uuid", uuid)
      .Str("info", a.title())
      .Str("date", date)
      .Str("timestamp", ts)
      .Str("published", "true")
      .Str("analysis", "2")
      .Str("threat_level_id", absl::StrCat(ThreatLevel(a.severity())))
      .Str("distribution", absl::StrCat(Distribution(a.tlp())))
      .Raw("Orgc", JsonObject().Str("name", a.origin().substr(0, a.origin().find('/'))).Build())
      .Raw("Tag", JsonArray(tags))
      .Raw("Attribute", JsonArray(attrs));
  return JsonObject().Raw("Event", ev.Build()).Build();
}

std::string MispExport(const std::vector<AlertRecord>& records) {
  std::vector<std::string> events;
  events.reserve(records.size());
  for (const AlertRecord& r : records) events.push_back(MispEventJson(r));
  return JsonObject().Raw("response", JsonArray(events)).Build();
}

absl::StatusOr<std::vector<MispImportedEvent>> ParseMispEvents(absl::string_view json,
                                                               const MispImportOptions& options) {
  Value root;
  auto st = google::protobuf::util::JsonStringToMessage(std::string(json), &root);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("MISP JSON does not parse: ", st.message().as_string()));
  }
  // Normalize the three accepted shapes to a list of {"Event": ...}.
  std::vector<const Value*> wrapped;
  if (root.kind_case() == Value::kStructValue && Field(root.struct_value(), "response")) {
    const Value* resp = Field(root.struct_value(), "response");
    if (resp->kind_case() != Value::kListValue) {
      return absl::InvalidArgumentError("MISP JSON: \"response\" must be a list of events");
    }
    for (const Value& v : resp->list_value().values()) wrapped.push_back(&v);
  } else if (root.kind_case() == Value::kListValue) {
    for (const Value& v : root.list_value().values()) wrapped.push_back(&v);
  } else {
    wrapped.push_back(&root);
  }
  if (wrapped.empty()) {
    return absl::InvalidArgumentError("MISP JSON holds no events; nothing to import");
  }
  std::vector<MispImportedEvent> out;
  int n = 0;
  for (const Value* w : wrapped) {
    const std::string name = absl::StrCat("event ", ++n);
    const Value* ev = w->kind_case() == Value::kStructValue ? Field(w->struct_value(), "Event")
                                                            : nullptr;
    if (ev == nullptr || ev->kind_case() != Value::kStructValue) {
      return EventError(name, "is not an object of the form {\"Event\": {...}}");
    }
    EventParser parser(name, options);
    absl::StatusOr<MispImportedEvent> e = parser.Parse(ev->struct_value());
    if (!e.ok()) return e.status();
    out.push_back(std::move(*e));
  }
  return out;
}

}  // namespace watchfloor::interop
