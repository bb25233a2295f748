// `watchfloor roster submit` and `roster status`: the roster commands that
// talk to a node (docs/FEDERATION.md "Governance").
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <errno.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/roster.h"
#include "certs/status_macros.h"
#include "grpcpp/client_context.h"
#include "node/cli/client.h"
#include "node/cli/commands.h"
#include "node/grpc_status.h"

namespace watchfloor::cli {
namespace {

using watchfloor::v1::Envelope;

// As roster_cmd.cc: far beyond any real roster.
constexpr size_t kMaxRosterFileBytes = 4 << 20;
constexpr int kTimeoutSeconds = 30;

std::vector<FlagSpec> WithConnection(std::vector<FlagSpec> flags) {
  for (FlagSpec& f : ConnectionFlags()) flags.push_back(std::move(f));
  return flags;
}

absl::Status UsageError(absl::string_view message) {
  return absl::InvalidArgumentError(absl::StrCat("usage: ", message));
}

struct Version {
  std::string file;
  uint64_t version = 0;
  Envelope envelope;
};

// Reads one signed roster version. Every problem is the caller's input, so
// a usage error (exit 2) before anything is dialed.
absl::StatusOr<Version> ReadVersion(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return UsageError(absl::StrCat("cannot read roster file ", path, ": ", std::strerror(errno),
                              "; check the path"));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > kMaxRosterFileBytes) {
    return UsageError(absl::StrCat("roster file ", path, " is larger than ", kMaxRosterFileBytes,
                              " bytes; is it a roster?"));
  }
  absl::StatusOr<Envelope> env = certs::EnvelopeFromJson(text.str());
  if (!env.ok()) {
    return UsageError(absl::StrCat("roster file ", path, " is not a DSSE JSON envelope: ",
                              env.status().message(),
                              "; give the file 'watchfloor roster sign' wrote"));
  }
  absl::StatusOr<watchfloor::v1::Roster> roster = certs::ParseRosterPayload(*env);
  if (!roster.ok()) {
    return UsageError(absl::StrCat("roster file ", path, " is not a roster: ",
                              roster.status().message()));
  }
  return Version{path, roster->version(), *std::move(env)};
}

std::string FormatTime(const google::protobuf::Timestamp& t) {
  return google::protobuf::util::TimeUtil::ToString(t);
}

int Submit(int argc, char** argv) {
  CommandSpec spec{
      "roster submit", "FILE...",
      "Hand fully signed roster version(s) to a node; gossip spreads them.",
      "Each FILE is a roster version as 'watchfloor roster sign' wrote it (a\n"
      "DSSE JSON envelope). Give the next version after the one the node runs\n"
      "(see 'watchfloor roster status'), or several consecutive versions in\n"
      "any order: they are sent oldest first. The node verifies each against\n"
      "the one before (a threshold of the previous version's members AND its\n"
      "own threshold), refuses an expired newest version, persists the chain\n"
      "and runs on it; every other node fetches it from there within a few\n"
      "gossip rounds. Any client certificate the node accepts may submit:\n"
      "the versions carry their own authority in their signatures.\n\n"
      "Exit 0 when the newest version is in force at the node (also when it\n"
      "already was); 1 when the node refuses it (the message says why: a\n"
      "rollback or skipped version, missing signatures, an expired roster)\n"
      "or cannot be reached; 2 for a file that cannot be read or is not a\n"
      "signed roster, before the node is dialed.",
      WithConnection({}), 1, 64};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    std::vector<Version> versions;
    for (const std::string& path : args.positional()) {
      WF_ASSIGN_OR_RETURN(Version v, ReadVersion(path));
      versions.push_back(std::move(v));
    }
    std::stable_sort(versions.begin(), versions.end(),
                     [](const Version& a, const Version& b) { return a.version < b.version; });
    for (size_t i = 1; i < versions.size(); ++i) {
      if (versions[i].version == versions[i - 1].version) {
        return UsageError(absl::StrCat(versions[i - 1].file, " and ", versions[i].file,
                                  " are both roster v", versions[i].version,
                                  "; give each version once"));
      }
    }
    const Version& newest = versions.back();
    watchfloor::v1::SubmitRosterRequest req;
    for (const Version& v : versions) *req.add_versions() = v.envelope;
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kTimeoutSeconds));
    watchfloor::v1::SubmitRosterResponse resp;
    const absl::Status st = node::FromGrpcStatus(stub->SubmitRoster(&ctx, req, &resp));
    const std::string node = args.Get("node");
    if (st.code() == absl::StatusCode::kAlreadyExists) {
      std::printf("roster v%llu (%s) is already in force at %s\n",
                  static_cast<unsigned long long>(newest.version), newest.file.c_str(),
                  node.c_str());
      return absl::OkStatus();
    }
    if (!st.ok()) {
      const bool refused = st.code() == absl::StatusCode::kFailedPrecondition ||
                           st.code() == absl::StatusCode::kUnauthenticated ||
                           st.code() == absl::StatusCode::kInvalidArgument;
      return absl::Status(
          st.code(), absl::StrCat(node, refused ? " refused" : " did not adopt", " roster v",
                                  newest.version, " (", newest.file, "): ",
                                  absl::StatusCodeToString(st.code()), ": ", st.message()));
    }
    std::printf("roster v%llu is in force at %s; gossip takes it to the other nodes "
                "(watch with 'watchfloor roster status')\n",
                static_cast<unsigned long long>(resp.version()), node.c_str());
    return absl::OkStatus();
  });
}

int Status(int argc, char** argv) {
  CommandSpec spec{
      "roster status", "",
      "Show the roster version a node runs on and each peer's.",
      "Prints the node's federation, roster version, its expiry (and the\n"
      "node's warning once it has passed: the node keeps running on an\n"
      "expired roster until a newer version arrives), how many versions it\n"
      "adopted and refused since it started, and for each peer the version\n"
      "that peer last reported in anti-entropy, and when. A peer behind the\n"
      "node fetches the newer versions from it by itself.\n\n"
      "--json prints the watchfloor.v1.GetRosterStatusResponse in proto3 JSON\n"
      "(64-bit numbers are strings), one object.",
      WithConnection({{"json", "", "print JSON instead of text"}})};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    WF_ASSIGN_OR_RETURN(auto stub, Connect(args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(kTimeoutSeconds));
    watchfloor::v1::GetRosterStatusResponse resp;
    WF_RETURN_IF_ERROR(node::FromGrpcStatus(
        stub->GetRosterStatus(&ctx, watchfloor::v1::GetRosterStatusRequest(), &resp)));
    if (args.Has("json")) {
      google::protobuf::util::JsonPrintOptions opts;
      opts.preserve_proto_field_names = true;
      opts.always_print_primitive_fields = true;
      std::string json;
      (void)google::protobuf::util::MessageToJsonString(resp, &json, opts);
      std::printf("%s\n", json.c_str());
      return absl::OkStatus();
    }
    std::printf("federation  %s\nversion     %llu\nexpires     %s\nadopted     %llu "
                "since start (%llu refused)\n",
                resp.federation().c_str(), static_cast<unsigned long long>(resp.version()),
                resp.has_expires() ? FormatTime(resp.expires()).c_str() : "never",
                static_cast<unsigned long long>(resp.adopted()),
                static_cast<unsigned long long>(resp.refused()));
    if (!resp.expiry_warning().empty()) std::printf("%s\n", resp.expiry_warning().c_str());
    std::printf("peers:\n");
    const int64_t now = absl::ToUnixSeconds(absl::Now());
    for (const watchfloor::v1::PeerRosterStatus& p : resp.peers()) {
      if (p.version() == 0) {
        std::printf("  %-32s -    not reported yet\n", p.origin().c_str());
        continue;
      }
      std::printf("  %-32s v%-3llu reported %s (%llds ago)%s\n", p.origin().c_str(),
                  static_cast<unsigned long long>(p.version()),
                  FormatTime(p.reported_at()).c_str(),
                  static_cast<long long>(std::max<int64_t>(0, now - p.reported_at().seconds())),
                  p.version() < resp.version()   ? "  behind"
                  : p.version() > resp.version() ? "  ahead"
                                                 : "");
    }
    return absl::OkStatus();
  });
}

}  // namespace

int RosterSubmitCommand(int argc, char** argv) { return Submit(argc, argv); }
int RosterStatusCommand(int argc, char** argv) { return Status(argc, argv); }

}  // namespace watchfloor::cli
