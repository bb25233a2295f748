// watchfloor export: fetch an audit bundle (proto/watchfloor/v1/audit.proto)
// from a node and write it to a file for `watchfloor audit`.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/audit.h"
#include "certs/file_io.h"
#include "certs/note.h"
#include "certs/status_macros.h"
#include "grpcpp/client_context.h"
#include "node/cli/client.h"
#include "node/cli/commands.h"
#include "node/cli/filter_flags.h"
#include "node/cli/interop_cmds.h"
#include "node/filter_parser.h"
#include "node/grpc_status.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::cli {

namespace {

// The checkpoint sizes in FILE for --since-checkpoint: an audit bundle (each
// origin's largest checkpoint) or one checkpoint note. Signatures are not
// checked here: `watchfloor audit --since` checks the older bundle's.
absl::StatusOr<std::vector<watchfloor::v1::ExportSince>> SinceFromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("--since-checkpoint ", path,
                                            " cannot be read; pass an older bundle or a "
                                            "checkpoint note file"));
  }
  const std::string data((std::istreambuf_iterator<char>(in)), {});
  std::vector<std::string> notes;
  watchfloor::v1::AuditBundle bundle;
  if (bundle.ParseFromString(data) && bundle.format() == certs::kBundleFormat) {
    for (const auto& cp : bundle.checkpoints()) notes.push_back(cp.note());
  } else {
    notes.push_back(data);
  }
  return SinceSizesOf(notes, absl::StrCat("--since-checkpoint ", path));
}

}  // namespace

absl::StatusOr<std::vector<watchfloor::v1::ExportSince>> SinceSizesOf(
    const std::vector<std::string>& notes, const std::string& what) {
  std::map<std::string, uint64_t> largest;
  for (const std::string& note : notes) {
    absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(note);
    absl::StatusOr<certs::Checkpoint> body =
        parsed.ok() ? certs::ParseCheckpoint(parsed->text) : parsed.status();
    absl::StatusOr<std::string> origin =
        body.ok() ? certs::FeedOriginFromLogOrigin(body->origin) : body.status();
    if (!origin.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " is neither an audit bundle nor a checkpoint note (",
          origin.status().message(), "); pass a file 'watchfloor export' wrote, or a note "
          "from GetCheckpoint"));
    }
    uint64_t& size = largest[*origin];
    size = std::max(size, body->size);
  }
  std::vector<watchfloor::v1::ExportSince> out;
  for (const auto& [origin, size] : largest) {
    if (size == 0) continue;  // an empty log: nothing to be consistent with
    watchfloor::v1::ExportSince s;
    s.set_origin(origin);
    s.set_tree_size(size);
    out.push_back(std::move(s));
  }
  return out;
}

absl::StatusOr<std::string> FetchBundle(const ParsedArgs& args,
                                        const std::vector<std::string>& filters,
                                        const std::vector<watchfloor::v1::ExportSince>& since) {
  watchfloor::v1::ExportRequest req;
  WF_ASSIGN_OR_RETURN(*req.mutable_filters(), ParseFilterFlags(filters));
  for (const auto& s : since) *req.add_since() = s;
  for (const std::string& text : filters) {
    if (!req.filter_text().empty()) req.mutable_filter_text()->append(" OR ");
    absl::StrAppend(req.mutable_filter_text(), filters.size() > 1 ? "(" : "", text,
                    filters.size() > 1 ? ")" : "");
  }
  WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  auto reader = stub->Export(&ctx, req);
  // The pieces, serialized and concatenated, are the bundle (protobuf merge).
  std::string bundle;
  watchfloor::v1::AuditBundle piece;
  while (reader->Read(&piece)) piece.AppendToString(&bundle);
  WF_RETURN_IF_ERROR(node::FromGrpcStatus(reader->Finish()));
  return bundle;
}

int ExportCommand(int argc, char** argv) {
  std::vector<FlagSpec> flags = {
      {"out", "FILE", "write the bundle here (must not exist; '-' = stdout for stix/misp)", "", false, true},
      {"format", "FORMAT", "wfb (audit bundle), stix (STIX 2.1 bundle) or misp (MISP events)", "wfb"},
      {"filter", "EXPR", "only alerts matching EXPR (docs/FILTERS.md); filters OR", "", true},
      {"since-checkpoint", "FILE",
       "an older bundle (or a checkpoint note): include consistency proofs from its "
       "checkpoints, for 'watchfloor audit NEW --since FILE'"},
  };
  for (FlagSpec& f : ConnectionFlags()) flags.push_back(std::move(f));
  CommandSpec spec{
      "export", "", "Write an offline audit bundle of a node's alerts.",
      "The bundle holds the matching alerts as signed, an inclusion proof of\n"
      "each in its origin's log, every origin's checkpoint with its witness\n"
      "cosignatures (the newest one that a majority of the other members\n"
      "cosigned), and the roster. Check it anywhere, without a node:\n"
      "  watchfloor export --node 127.0.0.1:7400 --filter 'domain:cz' --out cz.wfb\n"
      "  watchfloor audit cz.wfb --roster roster.json\n"
      "Alerts newer than the chosen checkpoint are left out; they are in the\n"
      "next one, a second or so later. Without --filter the bundle covers\n"
      "every feed completely, so the audit also reports missing alerts.\n"
      "The node signs what it claims (filter, cuts, counts) with its key.\n"
      "To audit over time, export with the previous bundle:\n"
      "  watchfloor export --node ... --since-checkpoint old.wfb --out new.wfb\n"
      "  watchfloor audit new.wfb --since old.wfb --roster roster.json\n"
      "Format: docs/PROTOCOL.md \"Audit bundle\". --format stix or misp writes the\n"
      "matching alerts as a STIX 2.1 bundle or MISP events instead (docs/INTEROP.md).",
      flags};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string format = args.Get("format");
    if (format == "stix" || format == "misp") return ExportInteropFormat(args, format);
    if (format != "wfb") {
      return absl::InvalidArgumentError(absl::StrCat(
          "usage: --format \"", format, "\" is unknown; use wfb, stix or misp"));
    }
    const std::string out = args.Get("out");
    // WriteNewFile refuses it too, but only after the whole export.
    if (std::filesystem::exists(out)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "--out ", out, " already exists; remove it or choose another path"));
    }
    std::vector<watchfloor::v1::ExportSince> since;
    if (args.Has("since-checkpoint")) {
      WF_ASSIGN_OR_RETURN(since, SinceFromFile(args.Get("since-checkpoint")));
    }
    WF_ASSIGN_OR_RETURN(std::string bundle, FetchBundle(args, args.GetAll("filter"), since));
    watchfloor::v1::AuditBundle parsed;
    if (!parsed.ParseFromString(bundle)) {
      return absl::DataLossError("the node sent a bundle that does not parse; try again");
    }
    absl::Status st = certs::WriteNewFile(out, bundle, 0644);
    if (st.code() == absl::StatusCode::kAlreadyExists) {
      return absl::AlreadyExistsError(absl::StrCat(
          "--out ", out, " already exists; remove it or choose another path"));
    }
    WF_RETURN_IF_ERROR(st);
    std::printf("wrote %s: %d alerts, %d checkpoints, %zu bytes%s\n", out.c_str(),
                parsed.alerts_size(), parsed.checkpoints_size(), bundle.size(),
                parsed.filter().empty() ? "" : absl::StrCat(" (filter: ", parsed.filter(), ")").c_str());
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
