#include "interop/stix.h"

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "certs/dsse.h"
#include "interop/json_text.h"
#include "interop/names.h"
#include "interop/uuid.h"

namespace watchfloor::interop {
namespace {

using watchfloor::v1::Alert;

// Identities and the extension definition never change, so their created and
// modified times are fixed: the day this mapping was defined.
constexpr char kFixedCreated[] = "2026-12-01T00:00:00.000Z";
// The TLP 2.0 marking definitions' own created time (cti-stix-common-objects).
constexpr char kTlp2Created[] = "2022-10-01T00:00:00.000Z";

std::string WfId(absl::string_view type, absl::string_view key) {
  return absl::StrCat(type, "--", Uuid5OrDie(WatchfloorNamespace(), key));
}

std::string WatchfloorIdentityId() { return WfId("identity", "software:watchfloor"); }
std::string OriginIdentityId(absl::string_view origin) {
  return WfId("identity", absl::StrCat("origin:", origin));
}

// STIX 2.1 section 2.9: an SCO id is UUIDv5 in the SCO namespace of the
// canonical JSON of its id-contributing properties.
std::string ScoId(absl::string_view type, absl::string_view contributing_json) {
  return absl::StrCat(type, "--", Uuid5OrDie(kStixScoNamespace, contributing_json));
}

struct Observable {
  std::string id;
  std::string json;     // the SCO object
  std::string pattern;  // "[type:prop = value]"
};

std::string PatternString(absl::string_view s) {
  return absl::StrCat("'", absl::StrReplaceAll(s, {{"\\", "\\\\"}, {"'", "\\'"}}), "'");
}

std::vector<Observable> ObservablesOf(const Alert& a) {
  std::vector<Observable> out;
  auto add_value = [&](absl::string_view type, absl::string_view value) {
    const std::string contributing = JsonObject().Str("value", value).Build();
    Observable o;
    o.id = ScoId(type, contributing);
    o.json = JsonObject()
                 .Str("type", type)
                 .Str("spec_version", "2.1")
                 .Str("id", o.id)
                 .Str("value", value)
                 .Build();
    o.pattern = absl::StrCat("[", type, ":value = ", PatternString(value), "]");
    out.push_back(std::move(o));
  };
  for (const std::string& d : a.domains()) add_value("domain-name", d);
  for (const std::string& p : a.ip_prefixes()) {
    add_value(absl::StrContains(p, ':') ? "ipv6-addr" : "ipv4-addr", p);
  }
  for (uint32_t asn : a.asns()) {
    Observable o;
    o.id = ScoId("autonomous-system", JsonObject().Num("number", asn).Build());
    o.json = JsonObject()
                 .Str("type", "autonomous-system")
                 .Str("spec_version", "2.1")
                 .Str("id", o.id)
                 .Num("number", asn)
                 .Build();
    o.pattern = absl::StrCat("[autonomous-system:number = ", asn, "]");
    out.push_back(std::move(o));
  }
  return out;
}

std::string IdentityJson(absl::string_view id, absl::string_view name,
                         absl::string_view description) {
  return JsonObject()
      .Str("type", "identity")
      .Str("spec_version", "2.1")
      .Str("id", id)
      .Str("created", kFixedCreated)
      .Str("modified", kFixedCreated)
      .Str("name", name)
      .Str("description", description)
      .Str("identity_class", "system")
      .Build();
}

std::string ExtensionDefinitionJson() {
  return JsonObject()
      .Str("type", "extension-definition")
      .Str("spec_version", "2.1")
      .Str("id", ProvenanceExtensionId())
      .Str("created_by_ref", WatchfloorIdentityId())
      .Str("created", kFixedCreated)
      .Str("modified", kFixedCreated)
      .Str("name", "watchfloor DSSE provenance")
      .Str("description",
           "The watchfloor alert this object was made from: its id, origin, feed "
           "position, watchfloor fields without a STIX equivalent, and the origin's "
           "signed DSSE envelope, which verifies offline against the origin's key.")
      .Str("schema",
           "watchfloor docs/INTEROP.md, section \"The provenance extension\" "
           "(property-extension; properties alert_id, origin, sequence, previous, "
           "issued_at, severity, category, tlp, labels, updates, cancels, "
           "dsse_envelope)")
      .Str("version", "1.0.0")
      .Raw("extension_types", JsonStringArray({"property-extension"}))
      .Build();
}

struct TlpMarking {
  const char* id;
  const char* name;
  const char* value;
};

const TlpMarking* MarkingFor(watchfloor::v1::Tlp tlp) {
  static const TlpMarking kClear{kTlpClearMarking, "TLP:CLEAR", "clear"};
  static const TlpMarking kGreen{kTlpGreenMarking, "TLP:GREEN", "green"};
  static const TlpMarking kAmber{kTlpAmberMarking, "TLP:AMBER", "amber"};
  static const TlpMarking kStrict{kTlpAmberStrictMarking, "TLP:AMBER+STRICT", "amber+strict"};
  static const TlpMarking kRed{kTlpRedMarking, "TLP:RED", "red"};
  switch (tlp) {
    case watchfloor::v1::TLP_CLEAR: return &kClear;
    case watchfloor::v1::TLP_GREEN: return &kGreen;
    case watchfloor::v1::TLP_AMBER: return &kAmber;
    case watchfloor::v1::TLP_AMBER_STRICT: return &kStrict;
    case watchfloor::v1::TLP_RED: return &kRed;
    default: return nullptr;
  }
}

std::string MarkingJson(const TlpMarking& m) {
  return JsonObject()
      .Str("type", "marking-definition")
      .Str("spec_version", "2.1")
      .Str("id", m.id)
      .Str("created", kTlp2Created)
      .Str("name", m.name)
      .Raw("extensions",
           JsonObject()
               .Raw(kTlp2ExtensionId, JsonObject()
                                          .Str("extension_type", "property-extension")
                                          .Str("tlp_2_0", m.value)
                                          .Build())
               .Build())
      .Build();
}

std::string ProvenanceJson(const AlertRecord& r) {
  const Alert& a = r.alert;
  JsonObject labels;
  for (const auto& l : a.labels()) labels.Str(l.key(), l.value());
  JsonObject ext;
  ext.Str("extension_type", "property-extension")
      .Str("alert_id", r.id)
      .Str("origin", a.origin())
      .Num("sequence", static_cast<long long>(a.sequence()));
  if (!a.previous().empty()) ext.Str("previous", a.previous());
  ext.Str("issued_at", StixTimestamp(a.issued_at()))
      .Str("severity", SeverityWord(a.severity()))
      .Str("category", a.category())
      .Str("tlp", TlpWord(a.tlp()));
  if (!a.labels().empty()) ext.Raw("labels", labels.Build());
  if (!a.updates().empty()) ext.Str("updates", a.updates());
  if (!a.cancels().empty()) ext.Str("cancels", a.cancels());
  ext.Raw("dsse_envelope", certs::EnvelopeToJson(r.envelope));
  return ext.Build();
}

std::string ExternalReferences(const AlertRecord& r) {
  std::vector<std::string> refs = {
      JsonObject().Str("source_name", "watchfloor").Str("external_id", r.id).Build()};
  for (const std::string& ref : r.alert.references()) {
    const bool url = (absl::StartsWith(ref, "https://") || absl::StartsWith(ref, "http://")) &&
                     std::none_of(ref.begin(), ref.end(), [](char c) {
                       return absl::ascii_isspace(static_cast<unsigned char>(c)) || c == '"' ||
                              c == '<' || c == '>' || c == '\\' || c == '^' || c == '`' ||
                              c == '{' || c == '|' || c == '}';
                     });
    refs.push_back(JsonObject()
                       .Str("source_name", "reference")
                       .Str(url ? "url" : "description", ref)
                       .Build());
  }
  return JsonArray(refs);
}

// The indicator or report for one alert.
std::string AlertObjectJson(const AlertRecord& r, const std::vector<Observable>& obs) {
  const Alert& a = r.alert;
  const std::string created = StixTimestamp(a.issued_at());
  JsonObject o;
  o.Str("type", obs.empty() ? "report" : "indicator")
      .Str("spec_version", "2.1")
      .Str("id", StixObjectId(a, r.id))
      .Str("created_by_ref", OriginIdentityId(a.origin()))
      .Str("created", created)
      .Str("modified", created)
      .Str("name", a.title());
  if (!a.description().empty()) o.Str("description", a.description());
  if (obs.empty()) {
    o.Raw("report_types", JsonStringArray({"threat-report"}))
        .Str("published", created)
        .Raw("object_refs", JsonStringArray({OriginIdentityId(a.origin())}));
  } else {
    std::vector<std::string> parts;
    for (const Observable& ob : obs) parts.push_back(ob.pattern);
    o.Raw("indicator_types", JsonStringArray({"anomalous-activity"}))
        .Str("pattern", absl::StrJoin(parts, " OR "))
        .Str("pattern_type", "stix")
        .Str("pattern_version", "2.1")
        .Str("valid_from", created);
    if (a.has_expires_at()) o.Str("valid_until", StixTimestamp(a.expires_at()));
  }
  o.Raw("labels", JsonStringArray({a.category(), absl::StrCat("severity-", SeverityWord(a.severity()))}))
      .Raw("external_references", ExternalReferences(r));
  if (const TlpMarking* m = MarkingFor(a.tlp())) {
    o.Raw("object_marking_refs", JsonStringArray({m->id}));
  }
  o.Raw("extensions", JsonObject().Raw(ProvenanceExtensionId(), ProvenanceJson(r)).Build());
  return o.Build();
}

}  // namespace

std::string ProvenanceExtensionId() {
  return WfId("extension-definition", "extension:dsse-provenance:v1");
}

std::string StixObjectId(const Alert& alert, const std::string& alert_id) {
  const bool has_observables =
      !alert.domains().empty() || !alert.ip_prefixes().empty() || !alert.asns().empty();
  return WfId(has_observables ? "indicator" : "report", absl::StrCat("alert:", alert_id));
}

std::string StixBundle(const std::vector<AlertRecord>& alerts) {
  std::vector<std::string> objects;
  std::set<std::string> seen;
  auto add = [&](const std::string& id, const std::string& json) {
    if (seen.insert(id).second) objects.push_back(json);
  };
  add(WatchfloorIdentityId(),
      IdentityJson(WatchfloorIdentityId(), "watchfloor",
                   "The watchfloor software: author of the provenance extension."));
  add(ProvenanceExtensionId(), ExtensionDefinitionJson());
  std::vector<std::string> ids;
  for (const AlertRecord& r : alerts) {
    ids.push_back(r.id);
    const Alert& a = r.alert;
    add(OriginIdentityId(a.origin()),
        IdentityJson(OriginIdentityId(a.origin()), a.origin(),
                     absl::StrCat("watchfloor node ", a.origin(), ": signs and publishes alerts")));
    if (const TlpMarking* m = MarkingFor(a.tlp())) add(m->id, MarkingJson(*m));
    std::vector<Observable> obs = ObservablesOf(a);
    for (const Observable& ob : obs) add(ob.id, ob.json);
    add(StixObjectId(a, r.id), AlertObjectJson(r, obs));
  }
  return JsonObject()
      .Str("type", "bundle")
      .Str("id", WfId("bundle", absl::StrCat("alerts:", absl::StrJoin(ids, ","))))
      .Raw("objects", JsonArray(objects))
      .Build();
}

}  // namespace watchfloor::interop
