// watchfloor: one binary, many subcommands.
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "node/cli/commands.h"

namespace watchfloor::cli {

int PrintError(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  return kExitFailure;
}

int RunCommand(const CommandSpec& spec, int argc, char** argv,
               const std::function<absl::Status(const ParsedArgs&)>& body) {
  absl::StatusOr<ParsedArgs> args = ParseArgs(spec, argc, argv);
  if (!args.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(args.status().message()).c_str());
    return kExitUsage;
  }
  if (args->help()) {
    std::fputs(Usage(spec).c_str(), stdout);
    return kExitOk;
  }
  absl::Status st = body(*args);
  if (st.ok()) return kExitOk;
  if (st.code() == absl::StatusCode::kInvalidArgument &&
      absl::StartsWith(st.message(), "usage: ")) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message().substr(7)).c_str());
    return kExitUsage;
  }
  return PrintError(st);
}

int DispatchSubcommand(const char* group, const char* about,
                       const std::vector<Subcommand>& subs, int argc, char** argv) {
  auto usage = [&](FILE* out) {
    std::fprintf(out, "usage: watchfloor %s <command> [flags]\n\n%s\n\ncommands:\n", group,
                 about);
    for (const Subcommand& s : subs) std::fprintf(out, "  %-8s %s\n", s.name, s.summary);
    std::fprintf(out,
                 "\nRun 'watchfloor %s <command> --help' for its flags. See "
                 "docs/FEDERATION.md.\n",
                 group);
  };
  if (argc < 1) {
    usage(stderr);
    return kExitUsage;
  }
  const std::string sub = argv[0];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    usage(stdout);
    return kExitOk;
  }
  for (const Subcommand& s : subs) {
    if (sub == s.name) return s.run(argc - 1, argv + 1);
  }
  std::fprintf(stderr, "error: unknown command '%s %s'; run 'watchfloor %s --help'\n", group,
               sub.c_str(), group);
  return kExitUsage;
}

namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* summary;
};

constexpr Command kCommands[] = {
    {"keygen", KeygenCommand, "create a node's Ed25519 signing key"},
    {"node", NodeCommand, "run a node"},
    {"publish", PublishCommand, "publish an alert through a node"},
    {"subscribe", SubscribeCommand, "stream alerts from a node"},
    {"get", GetCommand, "fetch one alert by id"},
    {"incidents", IncidentsCommand, "show a node's incidents, their state and reactions"},
    {"react", ReactCommand, "ack, sight, claim or resolve an alert (signed, in the feed)"},
    {"corroborate", CorroborateCommand, "co-sign another member's alert (corroboration)"},
    {"identity", IdentityCommand, "show a node's origin and public key"},
    {"ingest", IngestCommand, "submit already-signed DSSE envelopes to a node"},
    {"verify", VerifyCommand, "verify DSSE envelopes offline"},
    {"export", ExportCommand, "write an offline audit bundle of a node's alerts"},
    {"audit", AuditCommand, "check an audit bundle offline"},
    {"roster", RosterCommand, "draft, sign, verify and show the federation roster"},
    {"certs", CertsCommand, "mint a member's TLS CA, node and client certificates"},
    {"import", ImportCommand, "publish MISP events as alerts through a node"},
    {"bridge", BridgeCommand, "publish a node's alerts into NATS JetStream"},
};

void PrintTopUsage(FILE* out) {
  std::fputs(
      "usage: watchfloor <command> [flags]\n\n"
      "watchfloor is a federated alert-sharing bus for DNS operators.\n\n"
      "commands:\n",
      out);
  for (const Command& c : kCommands) {
    std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
  }
  std::fputs("\nRun 'watchfloor <command> --help' for a command's flags.\n"
             "Exit codes: 0 success, 1 failure, 2 usage error.\n",
             out);
}

}  // namespace
}  // namespace watchfloor::cli

int main(int argc, char** argv) {
  using namespace watchfloor::cli;
  if (argc < 2) {
    PrintTopUsage(stderr);
    return kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    PrintTopUsage(stdout);
    return kExitOk;
  }
  for (const Command& c : kCommands) {
    if (cmd == c.name) return c.run(argc - 2, argv + 2);
  }
  std::fprintf(stderr, "error: unknown command '%s'; run 'watchfloor --help'\n",
               cmd.c_str());
  return kExitUsage;
}
