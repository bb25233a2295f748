// export --format stix|misp, subscribe --output stix, import, bridge.
#include "node/cli/interop_cmds.h"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/file_io.h"
#include "certs/status_macros.h"
#include "grpcpp/client_context.h"
#include "interop/misp.h"
#include "interop/nats_bridge.h"
#include "interop/stix.h"
#include "node/alert_validator.h"
#include "node/cli/client.h"
#include "node/cli/commands.h"
#include "node/filter_parser.h"
#include "node/grpc_status.h"

namespace watchfloor::cli {
namespace {

absl::StatusOr<std::vector<watchfloor::v1::Filter>> ParseFilters(const ParsedArgs& args) {
  std::vector<watchfloor::v1::Filter> out;
  for (const std::string& text : args.GetAll("filter")) {
    absl::StatusOr<watchfloor::v1::Filter> f = node::ParseFilter(text);
    if (!f.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --filter: ", f.status().message()));
    }
    out.push_back(std::move(*f));
  }
  return out;
}

// Every stored alert matching --filter, in store order.
absl::StatusOr<std::vector<interop::AlertRecord>> ReplayAlerts(const ParsedArgs& args) {
  WF_ASSIGN_OR_RETURN(std::vector<watchfloor::v1::Filter> filters, ParseFilters(args));
  WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  watchfloor::v1::SubscribeRequest req;
  req.set_replay_only(true);
  for (auto& f : filters) *req.add_filters() = std::move(f);
  auto reader = stub->Subscribe(&ctx, req);
  std::vector<interop::AlertRecord> out;
  watchfloor::v1::SubscribeResponse msg;
  while (reader->Read(&msg)) {
    absl::StatusOr<interop::AlertRecord> r = interop::MakeAlertRecord(msg.id(), msg.envelope());
    if (!r.ok()) {
      ctx.TryCancel();
      reader->Finish();
      return r.status();
    }
    out.push_back(std::move(*r));
  }
  WF_RETURN_IF_ERROR(node::FromGrpcStatus(reader->Finish()));
  return out;
}

absl::StatusOr<std::string> ReadFileArg(const std::string& path) {
  std::stringstream buf;
  if (path == "-") {
    buf << std::cin.rdbuf();
    return buf.str();
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, "; check the path"));
  buf << in.rdbuf();
  return buf.str();
}

interop::NatsBridge* g_bridge = nullptr;

void StopBridge(int) {
  if (g_bridge != nullptr) g_bridge->Stop();
}

int BridgeNats(int argc, char** argv) {
  std::vector<FlagSpec> flags = {
      {"url", "URL", "NATS server, e.g. nats://127.0.0.1:4222", "", false, true},
      {"state", "FILE", "cursor file (created; fsynced after JetStream acks)", "", false, true},
      {"filter", "EXPR", "only alerts matching EXPR (docs/FILTERS.md); filters OR", "", true},
      {"stream", "NAME", "JetStream stream (created if missing)", "WATCHFLOOR"},
      {"duplicate-window", "DURATION", "dedup window of a stream the bridge creates", "1h"},
      {"max-in-flight", "N", "published but unacknowledged alerts, at most", "512"},
  };
  for (FlagSpec& f : ConnectionFlags()) flags.push_back(std::move(f));
  CommandSpec spec{
      "bridge nats", "", "Publish a node's alerts into a NATS JetStream stream.",
      "Every matching alert, as its DSSE JSON envelope, goes to subject\n"
      "watchfloor.<member>.<node>.<category> (the member's dots become '_'),\n"
      "e.g. watchfloor.nic_cz.prg1.dns.hijack, with header Nats-Msg-Id: <alert id>.\n"
      "The cursor in --state advances only past alerts JetStream acknowledged;\n"
      "after a crash the bridge resumes there and the stream's duplicate window\n"
      "drops what it sends twice: every alert is stored exactly once.\n"
      "  nats-server -js -sd /var/lib/nats &\n"
      "  watchfloor bridge nats --url nats://127.0.0.1:4222 --state bridge.cursor \\\n"
      "                         --filter 'severity>=high'\n"
      "Runs until SIGINT/SIGTERM. See docs/INTEROP.md.",
      flags};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    interop::NatsBridgeOptions options;
    absl::StatusOr<interop::NatsUrl> url = interop::ParseNatsUrl(args.Get("url"));
    if (!url.ok()) return absl::InvalidArgumentError(absl::StrCat("usage: ", url.status().message()));
    options.url = *url;
    options.state_path = args.Get("state");
    options.stream = args.Get("stream");
    if (!absl::ParseDuration(args.Get("duplicate-window"), &options.duplicate_window) ||
        options.duplicate_window <= absl::ZeroDuration()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: --duplicate-window \"", args.Get("duplicate-window"),
          "\" is not a positive duration such as 10m or 1h"));
    }
    if (!absl::SimpleAtoi(args.Get("max-in-flight"), &options.max_in_flight) ||
        options.max_in_flight < 1 || options.max_in_flight > 65536) {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: --max-in-flight \"", args.Get("max-in-flight"), "\" must be 1..65536"));
    }
    WF_ASSIGN_OR_RETURN(options.filters, ParseFilters(args));
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    interop::NatsBridge bridge(stub.get(), std::move(options));
    g_bridge = &bridge;
    std::signal(SIGINT, StopBridge);
    std::signal(SIGTERM, StopBridge);
    absl::Status st = bridge.Run();
    g_bridge = nullptr;
    const interop::NatsBridgeStats s = bridge.stats();
    std::fprintf(stderr, "bridge: %llu published, %llu duplicates dropped, cursor %llu\n",
                 static_cast<unsigned long long>(s.published),
                 static_cast<unsigned long long>(s.duplicates),
                 static_cast<unsigned long long>(s.cursor));
    return st;
  });
}

}  // namespace

absl::Status ExportInteropFormat(const ParsedArgs& args, const std::string& format) {
  const std::string out = args.Get("out");
  WF_ASSIGN_OR_RETURN(std::vector<interop::AlertRecord> records, ReplayAlerts(args));
  std::string text =
      format == "stix" ? interop::StixBundle(records) : interop::MispExport(records);
  text += "\n";
  if (out == "-") {
    std::fwrite(text.data(), 1, text.size(), stdout);
    return absl::OkStatus();
  }
  absl::Status st = certs::WriteNewFile(out, text, 0644);
  if (st.code() == absl::StatusCode::kAlreadyExists) {
    return absl::AlreadyExistsError(
        absl::StrCat("--out ", out, " already exists; remove it or choose another path"));
  }
  WF_RETURN_IF_ERROR(st);
  std::printf("wrote %s: %zu alerts as %s\n", out.c_str(), records.size(),
              format == "stix" ? "a STIX 2.1 bundle" : "MISP events");
  return absl::OkStatus();
}

absl::Status PrintStixLine(const std::string& id, const watchfloor::v1::Envelope& envelope) {
  WF_ASSIGN_OR_RETURN(interop::AlertRecord r, interop::MakeAlertRecord(id, envelope));
  std::printf("%s\n", interop::StixBundle({r}).c_str());
  return absl::OkStatus();
}

int ImportCommand(int argc, char** argv) {
  std::vector<FlagSpec> flags = {
      {"format", "FORMAT", "input format: misp", "", false, true},
      {"skip-unknown", "", "publish events even if some attributes/tags cannot be carried"},
      {"category", "PATH", "category for events without a watchfloor:category tag"},
      {"dry-run", "", "check and print the drafts, publish nothing"},
  };
  for (FlagSpec& f : ConnectionFlags()) flags.push_back(std::move(f));
  CommandSpec spec{
      "import", "FILE", "Publish MISP events as alerts through a node.",
      "FILE ('-' = stdin) holds MISP event JSON: {\"Event\": {...}}, a list of\n"
      "them, or {\"response\": [...]}. Each event becomes one alert signed by the\n"
      "node: info -> title, tlp: tag -> TLP, watchfloor:category=\"...\" tag (or\n"
      "--category) -> category, watchfloor:severity tag or threat_level_id ->\n"
      "severity, domain/hostname, ip-src/ip-dst, AS, link, text/comment\n"
      "attributes -> domains, prefixes, ASNs, references, description.\n"
      "Every event is checked first; if any is refused, nothing is published.\n"
      "Attributes and tags of other types are an error listing them, unless\n"
      "--skip-unknown, which publishes without them and reports each one.\n"
      "Mapping: docs/INTEROP.md.",
      flags, 1, 1};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    if (args.Get("format") != "misp") {
      return absl::InvalidArgumentError(
          absl::StrCat("usage: --format \"", args.Get("format"), "\" is unknown; use misp"));
    }
    if (args.Has("category")) WF_RETURN_IF_ERROR(node::ValidateCategory(args.Get("category")));
    const std::string file = args.positional()[0];
    WF_ASSIGN_OR_RETURN(std::string json, ReadFileArg(file));
    interop::MispImportOptions options;
    options.skip_unknown = args.Has("skip-unknown");
    options.default_category = args.Get("category");
    absl::StatusOr<std::vector<interop::MispImportedEvent>> events =
        interop::ParseMispEvents(json, options);
    if (!events.ok()) {
      return absl::Status(events.status().code(),
                          absl::StrCat(file, ": ", events.status().message()));
    }
    for (const interop::MispImportedEvent& e : *events) {
      absl::Status st = node::ValidateDraft(e.draft);
      if (!st.ok()) {
        return absl::Status(st.code(), absl::StrCat(file, ": ", e.name, ": ", st.message(),
                                                    "; nothing was published"));
      }
    }
    for (const interop::MispImportedEvent& e : *events) {
      for (const std::string& s : e.skipped) {
        std::fprintf(stderr, "warning: %s: %s not imported\n", e.name.c_str(), s.c_str());
      }
    }
    if (args.Has("dry-run")) {
      for (const interop::MispImportedEvent& e : *events) {
        std::printf("%s: ok (%d domains, %d prefixes, %d asns)\n", e.name.c_str(),
                    e.draft.domains_size(), e.draft.ip_prefixes_size(), e.draft.asns_size());
      }
      return absl::OkStatus();
    }
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    int n = 0;
    for (const interop::MispImportedEvent& e : *events) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
      watchfloor::v1::PublishRequest req;
      *req.mutable_alert() = e.draft;
      watchfloor::v1::PublishResponse resp;
      absl::Status st = node::FromGrpcStatus(stub->Publish(&ctx, req, &resp));
      if (!st.ok()) {
        return absl::Status(st.code(), absl::StrCat(e.name, ": ", st.message(), " (", n, " of ",
                                                    events->size(), " events were published)"));
      }
      ++n;
      std::printf("%s: published %s sequence %llu\n", e.name.c_str(), resp.id().c_str(),
                  static_cast<unsigned long long>(resp.sequence()));
    }
    return absl::OkStatus();
  });
}

int BridgeCommand(int argc, char** argv) {
  return DispatchSubcommand("bridge", "Bridge a node's alerts into a messaging system.",
                            {{"nats", BridgeNats, "publish into a NATS JetStream stream"}}, argc,
                            argv);
}

}  // namespace watchfloor::cli
