// incidents, react: the watch-floor coordination commands (docs/PROTOCOL.md
// "Incidents" and "Reactions").
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "certs/ids.h"
#include "certs/status_macros.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/client_context.h"
#include "node/cli/alert_io.h"
#include "node/cli/client.h"
#include "node/cli/commands.h"
#include "node/cli/filter_flags.h"
#include "node/grpc_status.h"

namespace watchfloor::cli {
namespace {

namespace v1 = ::watchfloor::v1;
using google::protobuf::util::TimeUtil;
using node::FromGrpcStatus;

constexpr int kTimeoutSeconds = 30;
constexpr size_t kMaxTitleBytes = 256;

std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> flags) {
  for (FlagSpec& f : ConnectionFlags()) flags.push_back(std::move(f));
  return flags;
}

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(kTimeoutSeconds));
}

std::string StateName(v1::IncidentState s) {
  switch (s) {
    case v1::INCIDENT_OPEN: return "open";
    case v1::INCIDENT_UPDATED: return "updated";
    case v1::INCIDENT_CANCELLED: return "cancelled";
    case v1::INCIDENT_EXPIRED: return "expired";
    default: return "unknown";
  }
}

std::string KindName(v1::ReactionKind k) {
  switch (k) {
    case v1::REACTION_ACK: return "ack";
    case v1::REACTION_SIGHTING: return "sighting";
    case v1::REACTION_CLAIM: return "claim";
    case v1::REACTION_RESOLVED: return "resolved";
    default: return "unknown";
  }
}

absl::StatusOr<v1::IncidentState> ParseState(const std::string& s) {
  for (v1::IncidentState st : {v1::INCIDENT_OPEN, v1::INCIDENT_UPDATED,
                               v1::INCIDENT_CANCELLED, v1::INCIDENT_EXPIRED}) {
    if (s == StateName(st)) return st;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "usage: --state \"", s, "\" is unknown; use open, updated, cancelled or expired"));
}

std::string FormatIncidentText(const v1::Incident& inc) {
  v1::Alert latest;
  latest.ParseFromString(inc.latest().payload());
  std::string s = absl::StrCat(
      "incident ", inc.id(), "  ", StateName(inc.state()), "  ", inc.origin(), "\n",
      "    opened ", TimeUtil::ToString(inc.opened_at()), "  updated ",
      TimeUtil::ToString(inc.updated_at()));
  if (inc.has_expires_at()) {
    absl::StrAppend(&s, "  expires ", TimeUtil::ToString(inc.expires_at()));
  }
  absl::StrAppend(&s, "\n    ", SeverityName(latest.severity()), "  ", latest.category(),
                  "  TLP:", TlpName(latest.tlp()), "  ", latest.title(), "\n");
  if (!latest.domains().empty()) {
    absl::StrAppend(&s, "    domains: ", absl::StrJoin(latest.domains(), ", "), "\n");
  }
  if (!latest.ip_prefixes().empty()) {
    absl::StrAppend(&s, "    prefixes: ", absl::StrJoin(latest.ip_prefixes(), ", "), "\n");
  }
  absl::StrAppend(&s, "    versions: ", inc.versions_size(), " (latest ",
                  inc.versions(inc.versions_size() - 1), ")\n");
  if (!inc.cosigners().empty()) {
    absl::StrAppend(&s, "    corroborated by: ", absl::StrJoin(inc.cosigners(), ", "), "\n");
  }
  for (const v1::IncidentReaction& r : inc.reactions()) {
    absl::StrAppend(&s, "    ", KindName(r.kind()), " by ", r.origin(), " at ",
                    TimeUtil::ToString(r.issued_at()));
    if (!r.domains().empty()) absl::StrAppend(&s, "  domains ", absl::StrJoin(r.domains(), ","));
    if (!r.ip_prefixes().empty()) {
      absl::StrAppend(&s, "  prefixes ", absl::StrJoin(r.ip_prefixes(), ","));
    }
    if (!r.note().empty()) {
      absl::StrAppend(&s, "  \"", absl::StrReplaceAll(r.note(), {{"\n", " "}}), "\"");
    }
    absl::StrAppend(&s, "\n");
  }
  return s;
}

// `title` cut to at most `max` bytes on a UTF-8 boundary.
std::string Truncate(std::string title, size_t max) {
  if (title.size() <= max) return title;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(title[n]) & 0xc0) == 0x80) --n;
  title.resize(n);
  return title;
}

}  // namespace

int IncidentsCommand(int argc, char** argv) {
  CommandSpec spec{
      "incidents", "", "Show a node's incident view: each incident's state, latest version and reactions.",
      "An incident is an alert with every later alert of the same origin that\n"
      "updates or cancels it; its state is open, updated, cancelled or expired.\n"
      "Filters (docs/FILTERS.md) match the latest version; several --filter\n"
      "flags are ORed, several --state flags too:\n"
      "  watchfloor incidents --filter 'category:dns.* severity>=high' --state open --state updated\n"
      "Newest first. --limit 0 lists every incident.",
      WithConnection({
          {"filter", "EXPR", "only incidents whose latest version matches EXPR", "", true},
          {"state", "STATE", "only incidents in STATE (open, updated, cancelled, expired)", "", true},
          {"limit", "N", "show at most N incidents (0 = all)", "100"},
          {"output", "FORMAT", "text or json (one Incident per line)", "text"},
      })};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string& output = args.Get("output");
    if (output != "text" && output != "json") {
      return absl::InvalidArgumentError(
          absl::StrCat("usage: --output \"", output, "\" is unknown; use text or json"));
    }
    uint64_t limit;
    if (!absl::SimpleAtoi(args.Get("limit"), &limit)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: --limit \"", args.Get("limit"), "\" is not a non-negative integer"));
    }
    v1::ListIncidentsRequest req;
    WF_ASSIGN_OR_RETURN(*req.mutable_filters(), ParseFilterFlags(args.GetAll("filter")));
    for (const std::string& s : args.GetAll("state")) {
      WF_ASSIGN_OR_RETURN(v1::IncidentState st, ParseState(s));
      req.add_states(st);
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    uint64_t shown = 0;
    for (;;) {
      grpc::ClientContext ctx;
      SetDeadline(&ctx);
      v1::ListIncidentsResponse resp;
      WF_RETURN_IF_ERROR(FromGrpcStatus(stub->ListIncidents(&ctx, req, &resp)));
      for (const v1::Incident& inc : resp.incidents()) {
        if (limit != 0 && shown == limit) return absl::OkStatus();
        ++shown;
        if (output == "json") {
          std::string json;
          google::protobuf::util::JsonPrintOptions opts;
          opts.preserve_proto_field_names = true;
          (void)google::protobuf::util::MessageToJsonString(inc, &json, opts);
          std::printf("%s\n", json.c_str());
        } else {
          std::fputs(FormatIncidentText(inc).c_str(), stdout);
        }
      }
      if (resp.next_page_token().empty()) break;
      req.set_page_token(resp.next_page_token());
    }
    if (output == "text" && shown == 0) std::printf("no incidents\n");
    return absl::OkStatus();
  });
}

int ReactCommand(int argc, char** argv) {
  CommandSpec spec{
      "react", "ID", "React to an alert: a signed reaction in this node's own feed.",
      "Exactly one of --ack (we have seen it), --sighting (we observe it too;\n"
      "give our evidence with --domain/--prefix/--note), --claim (we are\n"
      "handling it) or --resolved. The reaction is an alert of the node's\n"
      "feed, gossiped and audited like any other: it copies the target's\n"
      "severity, category and TLP, and its title is '<kind>: <target title>'.\n"
      "  watchfloor react 3f1c...e9 --sighting --domain example.cz --note 'seen from AS25192'",
      WithConnection({
          {"ack", "", "we have seen it"},
          {"sighting", "", "we observe it too"},
          {"claim", "", "we are handling it"},
          {"resolved", "", "resolved as far as we are concerned"},
          {"note", "TEXT", "free text, at most 1024 bytes"},
          {"domain", "NAME", "a domain we observe (sighting evidence)", "", true},
          {"prefix", "CIDR", "a prefix we observe (sighting evidence)", "", true},
          {"output", "FORMAT", "text or json", "text"},
      }),
      1, 1};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string& target = args.positional()[0];
    if (!certs::IsHexId(target)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: alert id \"", target.substr(0, 80),
          "\" is not 64 lowercase hex characters; copy it from 'incidents' or "
          "'subscribe' output"));
    }
    std::vector<std::pair<const char*, v1::ReactionKind>> kinds = {
        {"ack", v1::REACTION_ACK},
        {"sighting", v1::REACTION_SIGHTING},
        {"claim", v1::REACTION_CLAIM},
        {"resolved", v1::REACTION_RESOLVED}};
    v1::ReactionKind kind = v1::REACTION_KIND_UNSPECIFIED;
    int given = 0;
    for (const auto& [flag, k] : kinds) {
      if (args.Has(flag)) {
        kind = k;
        ++given;
      }
    }
    if (given != 1) {
      return absl::InvalidArgumentError(
          "usage: give exactly one of --ack, --sighting, --claim or --resolved");
    }
    const std::string& output = args.Get("output");
    if (output != "text" && output != "json") {
      return absl::InvalidArgumentError(
          absl::StrCat("usage: --output \"", output, "\" is unknown; use text or json"));
    }
    // The reaction's own fields, checked before dialing (the rest is copied
    // from the target below): a bad note or evidence stays a usage error
    // when the node is down.
    v1::PublishRequest pub;
    v1::Alert& draft = *pub.mutable_alert();
    for (const std::string& d : args.GetAll("domain")) draft.add_domains(d);
    for (const std::string& p : args.GetAll("prefix")) draft.add_ip_prefixes(p);
    v1::Reaction& r = *draft.mutable_reaction();
    r.set_kind(kind);
    r.set_target(target);
    r.set_note(args.Get("note"));
    {
      v1::Alert probe = draft;
      probe.set_severity(v1::SEVERITY_INFO);
      probe.set_category("reaction");
      probe.set_tlp(v1::TLP_CLEAR);
      probe.set_title("reaction");
      if (absl::Status st = CheckDraft(probe); !st.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("usage: ", st.message()));
      }
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    v1::GetAlertResponse got;
    {
      grpc::ClientContext ctx;
      SetDeadline(&ctx);
      v1::GetAlertRequest req;
      req.set_id(target);
      absl::Status st = FromGrpcStatus(stub->GetAlert(&ctx, req, &got));
      if (st.code() == absl::StatusCode::kNotFound) {
        return absl::NotFoundError(absl::StrCat(
            "alert ", target, " is not stored at this node; check the id "
            "('watchfloor incidents' lists them), or wait until it has arrived"));
      }
      WF_RETURN_IF_ERROR(st);
    }
    v1::Alert original;
    if (!original.ParseFromString(got.envelope().payload())) {
      return absl::DataLossError(absl::StrCat("alert ", target, " does not parse"));
    }
    if (original.has_sealed()) {
      return absl::UnimplementedError(absl::StrCat(
          "alert ", target, " is sealed (TLP:", TlpName(original.tlp()),
          "); reactions to sealed alerts are not supported yet"));
    }
    draft.set_severity(original.severity());
    draft.set_category(original.category());
    draft.set_tlp(original.tlp());
    draft.set_title(Truncate(
        absl::StrCat(kinds[static_cast<int>(kind) - 1].first, ": ", original.title()),
        kMaxTitleBytes));
    WF_RETURN_IF_ERROR(CheckDraft(draft));
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::PublishResponse resp;
    WF_RETURN_IF_ERROR(FromGrpcStatus(stub->Publish(&ctx, pub, &resp)));
    if (output == "json") {
      std::printf("{\"id\":\"%s\",\"sequence\":%llu,\"cursor\":%llu,\"kind\":\"%s\",\"target\":\"%s\"}\n",
                  resp.id().c_str(), static_cast<unsigned long long>(resp.sequence()),
                  static_cast<unsigned long long>(resp.cursor()),
                  kinds[static_cast<int>(kind) - 1].first, target.c_str());
    } else {
      std::printf("reacted %s to %s: %s sequence %llu cursor %llu\n",
                  kinds[static_cast<int>(kind) - 1].first, target.c_str(),
                  resp.id().c_str(), static_cast<unsigned long long>(resp.sequence()),
                  static_cast<unsigned long long>(resp.cursor()));
    }
    return absl::OkStatus();
  });
}

int CorroborateCommand(int argc, char** argv) {
  CommandSpec spec{
      "corroborate", "ID", "Co-sign another member's alert: we confirm it independently.",
      "The node adds its own signature over the alert's PAE to the alert's\n"
      "envelope (the payload and id do not change) and gossips it; every node\n"
      "verifies it against this node's key in the roster. Corroborating again\n"
      "changes nothing. Not for your own member's alerts, nor for a sealed\n"
      "alert your member is not a recipient of. Filters: corroborated>=K,\n"
      "cosigned-by:MEMBER.\n"
      "  watchfloor corroborate 3f1c...e9",
      WithConnection({{"output", "FORMAT", "text or json", "text"}}), 1, 1};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string& id = args.positional()[0];
    if (!certs::IsHexId(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: alert id \"", id.substr(0, 80),
          "\" is not 64 lowercase hex characters; copy it from 'incidents' or "
          "'subscribe' output"));
    }
    const std::string& output = args.Get("output");
    if (output != "text" && output != "json") {
      return absl::InvalidArgumentError(
          absl::StrCat("usage: --output \"", output, "\" is unknown; use text or json"));
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    v1::CorroborateRequest req;
    req.set_id(id);
    v1::CorroborateResponse resp;
    WF_RETURN_IF_ERROR(FromGrpcStatus(stub->Corroborate(&ctx, req, &resp)));
    if (output == "json") {
      std::printf("{\"id\":\"%s\",\"added\":%s,\"corroborations\":%u,\"signatures\":%d}\n",
                  id.c_str(), resp.added() ? "true" : "false", resp.corroborations(),
                  resp.envelope().signatures_size());
    } else {
      std::printf("%s %s: corroborated by %u member(s), %d signature(s)\n",
                  resp.added() ? "corroborated" : "already corroborated", id.c_str(),
                  resp.corroborations(), resp.envelope().signatures_size());
    }
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
