// publish, subscribe, get, identity, ingest: the commands that talk to a node.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/status_macros.h"
#include "grpcpp/client_context.h"
#include "node/cli/alert_io.h"
#include "node/cli/client.h"
#include "node/cli/commands.h"
#include "node/cli/filter_flags.h"
#include "node/cli/interop_cmds.h"
#include "google/protobuf/util/time_util.h"
#include "node/grpc_status.h"

namespace watchfloor::cli {
namespace {

using node::FromGrpcStatus;

constexpr int kDefaultTimeoutSeconds = 30;

std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> flags) {
  for (FlagSpec& f : ConnectionFlags()) flags.push_back(std::move(f));
  return flags;
}

void SetDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(kDefaultTimeoutSeconds));
}

absl::StatusOr<std::string> ReadInput(const std::string& path) {
  if (path == "-") {
    std::stringstream buf;
    buf << std::cin.rdbuf();
    return buf.str();
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, "; check the path"));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::Status CheckOutput(const std::string& output) {
  if (output != "text" && output != "json" && output != "dsse" && output != "stix") {
    return absl::InvalidArgumentError(absl::StrCat(
        "usage: --output \"", output, "\" is unknown; use text, json, dsse or stix"));
  }
  return absl::OkStatus();
}

// Prints one envelope in the chosen form.
// `opened`: the node's opened form of a sealed envelope (node.proto
// SubscribeResponse.opened), printed instead of the sealed header by the
// text and json outputs; dsse always prints the envelope as signed.
// `open_error`: why the node could not open it for this entitled caller,
// printed to stderr next to the header.
absl::Status PrintEnvelope(const std::string& output, uint64_t cursor,
                           const std::string& id,
                           const watchfloor::v1::Envelope& env,
                           const watchfloor::v1::Alert* opened = nullptr,
                           const watchfloor::v1::OpenError* open_error = nullptr) {
  if (output == "dsse") {
    std::printf("%s\n", certs::EnvelopeToJson(env).c_str());
    return absl::OkStatus();
  }
  if (open_error != nullptr && open_error->code() != 0) {
    std::fprintf(stderr, "error: alert %s is sealed to your member, but the node could not "
                 "open it (%s): %s\n", id.c_str(),
                 absl::StatusCodeToString(static_cast<absl::StatusCode>(open_error->code())).c_str(),
                 open_error->message().c_str());
  }
  if (output == "stix") return PrintStixLine(id, env);
  watchfloor::v1::Alert alert;
  if (opened != nullptr && opened->sequence() != 0) {
    alert = *opened;
  } else if (!alert.ParseFromString(env.payload())) {
    return absl::DataLossError(absl::StrCat("alert ", id, " has an unreadable payload"));
  }
  if (output == "json") {
    std::printf("%s\n", FormatAlertJson(cursor, id, alert).c_str());
  } else {
    std::printf("%s", FormatAlertText(cursor, id, alert).c_str());
  }
  return absl::OkStatus();
}

// A bad draft is the user's input error: "usage: ..." makes it exit 2.
absl::Status AsUsage(absl::Status st) {
  if (st.code() != absl::StatusCode::kInvalidArgument ||
      absl::StartsWith(st.message(), "usage: ")) {
    return st;
  }
  return absl::InvalidArgumentError(absl::StrCat("usage: ", st.message()));
}

// The draft the flags or --json describe, checked with the node's validator.
absl::StatusOr<watchfloor::v1::Alert> DraftFromArgs(const ParsedArgs& args) {
  absl::StatusOr<watchfloor::v1::Alert> draft;
  if (args.Has("json")) {
    for (const char* f : {"severity", "category", "tlp", "title", "description",
                          "domain", "prefix", "asn", "label", "reference",
                          "expires", "updates", "cancels", "to"}) {
      if (args.Has(f)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "usage: --json and --", f, " do not mix; put the field in the JSON"));
      }
    }
    WF_ASSIGN_OR_RETURN(std::string json, ReadInput(args.Get("json")));
    draft = DraftFromJson(json);
  } else {
    draft = DraftFromFlags(args);
  }
  if (!draft.ok()) return AsUsage(draft.status());
  WF_RETURN_IF_ERROR(AsUsage(CheckDraft(*draft)));
  return draft;
}

const char kAlertFieldHelp[] =
    "Give the alert with flags, or as a JSON object with --json FILE ('-' for\n"
    "stdin), e.g.\n"
    "  {\"severity\": \"high\", \"category\": \"dns.hijack\", \"tlp\": \"green\",\n"
    "   \"title\": \"NS records of example.cz changed\",\n"
    "   \"domains\": [\"example.cz\"], \"ip_prefixes\": [\"192.0.2.0/24\"],\n"
    "   \"asns\": [64500], \"labels\": {\"incident\": \"INC-1\"}}\n"
    "Labels are signed in the order given (JSON object order, or --label\n"
    "order); \"labels\" may also be [{\"key\": ..., \"value\": ...}], as\n"
    "'get --output json' prints them. The draft is checked against every\n"
    "documented limit (proto/watchfloor/v1/alert.proto) before the node is\n"
    "dialed; a bad draft is a usage error (exit 2).\n"
    "The node assigns origin, sequence, previous and issued_at, signs the\n"
    "alert, and answers once it is durable. Prints the id and sequence.\n\n"
    "TLP amber+strict and red alerts are sealed end to end: name the member(s)\n"
    "they are for with --to (JSON: \"recipients\"); your own member is added.\n"
    "Every node relays and verifies them; only the recipients' own nodes show\n"
    "the content, and only to their own member's clients:\n"
    "  watchfloor publish --tlp red --to m2.example,m3.example --severity high \\\n"
    "                     --category dns.hijack --title '...' --domain example.cz";

}  // namespace

int PublishCommand(int argc, char** argv) {
  CommandSpec spec{
      "publish", "", "Publish an alert through a node (signed as its origin).",
      kAlertFieldHelp,
      WithConnection({
          {"json", "FILE", "read the alert from a JSON file ('-' = stdin)"},
          {"severity", "LEVEL", "info, low, medium, high or critical"},
          {"category", "PATH", "dotted category, e.g. dns.hijack"},
          {"tlp", "LABEL", "clear, green, amber, amber+strict or red (the last two are sealed to --to)"},
          {"to", "MEMBERS", "amber+strict/red: the recipient members, comma-separated (your own member is added)", "", true},
          {"title", "TEXT", "one-line summary"},
          {"description", "TEXT", "free text"},
          {"domain", "NAME", "affected domain", "", true},
          {"prefix", "CIDR", "affected IP prefix", "", true},
          {"asn", "N", "affected AS number", "", true},
          {"label", "KEY=VALUE", "free label", "", true},
          {"reference", "URL", "reference", "", true},
          {"expires", "TIME", "RFC 3339 expiry, e.g. 2026-12-01T00:00:00Z"},
          {"updates", "ID", "id of an earlier alert of this origin it updates"},
          {"cancels", "ID", "id of an earlier alert of this origin it cancels"},
          {"output", "FORMAT", "text, json or dsse", "text"},
      })};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    WF_RETURN_IF_ERROR(CheckOutput(args.Get("output")));
    watchfloor::v1::PublishRequest req;
    WF_ASSIGN_OR_RETURN(*req.mutable_alert(), DraftFromArgs(args));
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    watchfloor::v1::PublishResponse resp;
    WF_RETURN_IF_ERROR(FromGrpcStatus(stub->Publish(&ctx, req, &resp)));
    if (args.Get("output") == "text") {
      std::printf("published %s sequence %llu cursor %llu\n", resp.id().c_str(),
                  static_cast<unsigned long long>(resp.sequence()),
                  static_cast<unsigned long long>(resp.cursor()));
      return absl::OkStatus();
    }
    return PrintEnvelope(args.Get("output"), resp.cursor(), resp.id(), resp.envelope());
  });
}

int SubscribeCommand(int argc, char** argv) {
  CommandSpec spec{
      "subscribe", "", "Stream alerts from a node: history after --cursor, then live.",
      "Each alert carries its cursor; after a disconnect, resume with\n"
      "--cursor set to the last cursor received. --output dsse prints one\n"
      "standard DSSE JSON envelope per line, ready for 'watchfloor verify'.\n\n"
      "Filters (docs/FILTERS.md): conditions in one --filter are ANDed, a\n"
      "leading ! negates one, and several --filter flags are ORed:\n"
      "  watchfloor subscribe --filter 'domain:cz,sk severity>=high !category:abuse.*' \\\n"
      "                       --filter 'origin:nic.cz'\n"
      "At most 64 --filter flags of at most 32 conditions each; every limit\n"
      "is checked before the node is dialed (a usage error, exit 2).",
      WithConnection({
          {"cursor", "N", "start after this store position", "0"},
          {"since", "TIME", "start with alerts stored at/after this RFC 3339 time"},
          {"filter", "EXPR", "only alerts matching EXPR (docs/FILTERS.md); filters OR", "", true},
          {"output", "FORMAT", "text, json, dsse or stix (a STIX 2.1 bundle per line)", "text"},
          {"replay-only", "", "stop after the history instead of following live"},
          {"count", "N", "exit after N alerts (0 = never)", "0"},
          {"incident-events", "",
           "also show incident events (new, updated, cancelled, reacted, corroborated, "
           "expired; text, json)"},
      })};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    WF_RETURN_IF_ERROR(CheckOutput(args.Get("output")));
    uint64_t cursor, count;
    if (!absl::SimpleAtoi(args.Get("cursor"), &cursor)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: --cursor \"", args.Get("cursor"), "\" is not a non-negative integer"));
    }
    if (!absl::SimpleAtoi(args.Get("count"), &count)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: --count \"", args.Get("count"), "\" is not a non-negative integer"));
    }
    // Every check before dialing: a usage error stays one when the node is down.
    watchfloor::v1::SubscribeRequest req;
    req.set_cursor(cursor);
    req.set_replay_only(args.Has("replay-only"));
    req.set_incident_events(args.Has("incident-events"));
    if (req.incident_events() && args.Get("output") != "text" && args.Get("output") != "json") {
      return absl::InvalidArgumentError(
          "usage: --incident-events needs --output text or json");
    }
    WF_ASSIGN_OR_RETURN(*req.mutable_filters(), ParseFilterFlags(args.GetAll("filter")));
    if (args.Has("since")) {
      if (!google::protobuf::util::TimeUtil::FromString(args.Get("since"), req.mutable_since())) {
        return absl::InvalidArgumentError(absl::StrCat(
            "usage: --since \"", args.Get("since"),
            "\" is not an RFC 3339 time, e.g. 2026-12-01T00:00:00Z"));
      }
      if (cursor != 0) {
        return absl::InvalidArgumentError("usage: give --cursor or --since, not both");
      }
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    auto reader = stub->Subscribe(&ctx, req);
    watchfloor::v1::SubscribeResponse msg;
    uint64_t seen = 0;
    while (reader->Read(&msg)) {
      if (msg.id().empty()) {
        // A co-signature or an expiry: events only, at their own cursor.
        if (args.Get("output") == "text") {
          std::printf("[%llu] incident event\n", static_cast<unsigned long long>(msg.cursor()));
        }
        for (const watchfloor::v1::IncidentEvent& e : msg.events()) {
          std::string line = FormatIncidentEvent(args.Get("output"), e);
          if (args.Get("output") == "json") {
            line.insert(1, absl::StrCat("\"cursor\":", msg.cursor(), ","));
          }
          std::printf("%s\n", line.c_str());
        }
      } else {
        WF_RETURN_IF_ERROR(PrintEnvelope(args.Get("output"), msg.cursor(), msg.id(),
                                         msg.envelope(), &msg.opened(), &msg.open_error()));
        for (const watchfloor::v1::IncidentEvent& e : msg.events()) {
          std::printf("%s\n", FormatIncidentEvent(args.Get("output"), e).c_str());
        }
      }
      std::fflush(stdout);
      // --count counts alerts, not the event-only messages between them.
      if (count != 0 && !msg.id().empty() && ++seen >= count) {
        ctx.TryCancel();
        reader->Finish();
        return absl::OkStatus();
      }
    }
    grpc::Status st = reader->Finish();
    if (st.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      const auto& trailers = ctx.GetServerTrailingMetadata();
      auto it = trailers.find("watchfloor-resume-cursor");
      if (it != trailers.end()) {
        return absl::ResourceExhaustedError(absl::StrCat(
            st.error_message(), "; run again with --cursor ",
            std::string(it->second.data(), it->second.size())));
      }
    }
    return FromGrpcStatus(st);
  });
}

int GetCommand(int argc, char** argv) {
  CommandSpec spec{"get", "ID", "Fetch one alert by its id.", "",
                   WithConnection({{"output", "FORMAT", "text, json or dsse", "text"}}),
                   1, 1};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    WF_RETURN_IF_ERROR(CheckOutput(args.Get("output")));
    const std::string& id = args.positional()[0];
    if (!certs::IsHexId(id)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: alert id \"", id.substr(0, 80),
          "\" is not 64 lowercase hex characters; copy it from 'publish' or "
          "'subscribe' output"));
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    watchfloor::v1::GetAlertRequest req;
    req.set_id(args.positional()[0]);
    watchfloor::v1::GetAlertResponse resp;
    WF_RETURN_IF_ERROR(FromGrpcStatus(stub->GetAlert(&ctx, req, &resp)));
    return PrintEnvelope(args.Get("output"), resp.cursor(), req.id(), resp.envelope(),
                         &resp.opened());
  });
}

int IdentityCommand(int argc, char** argv) {
  CommandSpec spec{"identity", "", "Show a node's origin, keyid and public key.",
                   "With --pubkey-out FILE, also writes the public key PEM there\n"
                   "(for 'watchfloor verify --pubkey FILE'). Compare the keyid\n"
                   "with the one the node's operator publishes before trusting it.",
                   WithConnection({{"pubkey-out", "FILE", "write the public key PEM here"}})};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    // SavePemFile never overwrites; say so before asking the node anything.
    if (args.Has("pubkey-out") && std::filesystem::exists(args.Get("pubkey-out"))) {
      return absl::AlreadyExistsError(absl::StrCat(
          args.Get("pubkey-out"), " already exists; refusing to overwrite it"));
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    SetDeadline(&ctx);
    watchfloor::v1::Identity id;
    WF_RETURN_IF_ERROR(FromGrpcStatus(
        stub->GetIdentity(&ctx, watchfloor::v1::GetIdentityRequest(), &id)));
    WF_ASSIGN_OR_RETURN(certs::PublicKey key, certs::PublicKey::FromPem(id.public_key_pem()));
    if (key.KeyId() != id.keyid()) {
      return absl::DataLossError(absl::StrCat(
          "node reports keyid ", id.keyid(), " but its key hashes to ", key.KeyId()));
    }
    std::printf("origin %s\nkeyid  %s\nhead   %llu\n%s", id.origin().c_str(),
                id.keyid().c_str(), static_cast<unsigned long long>(id.head_sequence()),
                id.public_key_pem().c_str());
    if (args.Has("pubkey-out")) {
      WF_RETURN_IF_ERROR(key.SavePemFile(args.Get("pubkey-out")));
    }
    return absl::OkStatus();
  });
}

int IngestCommand(int argc, char** argv) {
  CommandSpec spec{
      "ingest", "", "Submit already-signed DSSE envelopes (JSON lines) to a node.",
      "Reads one DSSE JSON envelope per line from --in (default stdin) and\n"
      "sends each through the node's ingest path, the one gossip uses: the\n"
      "origin must be known to the node and the feed must be contiguous.\n"
      "Prints a verdict per line; exits 1 if any line was refused\n"
      "(an already-stored alert counts as success).",
      WithConnection({{"in", "FILE", "input file ('-' = stdin)", "-"}})};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    WF_ASSIGN_OR_RETURN(std::string input, ReadInput(args.Get("in")));
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    std::istringstream lines(input);
    std::string line;
    int n = 0, failed = 0;
    while (std::getline(lines, line)) {
      ++n;
      if (line.empty()) continue;
      auto env = certs::EnvelopeFromJson(line);
      absl::Status st = env.status();
      watchfloor::v1::IngestResponse resp;
      if (env.ok()) {
        grpc::ClientContext ctx;
        SetDeadline(&ctx);
        watchfloor::v1::IngestRequest req;
        *req.mutable_envelope() = *env;
        st = FromGrpcStatus(stub->Ingest(&ctx, req, &resp));
      }
      if (st.ok()) {
        std::printf("line %d: stored %s cursor %llu\n", n, resp.id().c_str(),
                    static_cast<unsigned long long>(resp.cursor()));
      } else if (st.code() == absl::StatusCode::kAlreadyExists) {
        std::printf("line %d: already stored\n", n);
      } else {
        ++failed;
        std::printf("line %d: refused (%s): %s\n", n,
                    absl::StatusCodeToString(st.code()).c_str(),
                    std::string(st.message()).c_str());
      }
    }
    if (failed > 0) {
      return absl::AbortedError(absl::StrCat(failed, " of ", n, " envelopes refused"));
    }
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
