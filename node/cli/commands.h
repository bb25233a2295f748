// The watchfloor subcommands. Each takes the words after its name and
// returns the process exit code (kExitOk, kExitFailure, kExitUsage).
#ifndef WATCHFLOOR_NODE_CLI_COMMANDS_H_
#define WATCHFLOOR_NODE_CLI_COMMANDS_H_

#include <functional>
#include <vector>

#include "absl/status/status.h"
#include "node/cli/flags.h"

namespace watchfloor::cli {

int KeygenCommand(int argc, char** argv);
int NodeCommand(int argc, char** argv);
int PublishCommand(int argc, char** argv);
int SubscribeCommand(int argc, char** argv);
int GetCommand(int argc, char** argv);
int IdentityCommand(int argc, char** argv);
int IngestCommand(int argc, char** argv);
// `incidents` and `react` (incident_cmds.cc).
int IncidentsCommand(int argc, char** argv);
int ReactCommand(int argc, char** argv);
int CorroborateCommand(int argc, char** argv);
int VerifyCommand(int argc, char** argv);
int AuditCommand(int argc, char** argv);
int ExportCommand(int argc, char** argv);
// `import --format misp FILE` and `bridge nats` (interop_cmds.cc).
int ImportCommand(int argc, char** argv);
int BridgeCommand(int argc, char** argv);
// `roster <keygen|draft|sign|verify|show|submit|status>` and `certs <ca|node|client>`:
// each dispatches on its first word (roster_cmd.cc, certs_cmd.cc).
int RosterCommand(int argc, char** argv);
// `roster submit` and `roster status`, the roster words that dial a node
// (roster_node_cmds.cc).
int RosterSubmitCommand(int argc, char** argv);
int RosterStatusCommand(int argc, char** argv);
int CertsCommand(int argc, char** argv);

// Parses, handles --help and usage errors, then runs `body`. A non-OK status
// from `body` is printed as "error: <message>" and exits kExitFailure.
int RunCommand(const CommandSpec& spec, int argc, char** argv,
               const std::function<absl::Status(const ParsedArgs&)>& body);

// Prints "error: <message>" to stderr and returns kExitFailure.
int PrintError(const absl::Status& status);

// A word of a command group such as `watchfloor roster <word>`.
struct Subcommand {
  const char* name;
  int (*run)(int argc, char** argv);
  const char* summary;
};

// Runs the subcommand argv[0] names with the words after it. --help (or no
// word: usage on stderr, kExitUsage) lists `subs` under `about`; an unknown
// word is a usage error naming it.
int DispatchSubcommand(const char* group, const char* about,
                       const std::vector<Subcommand>& subs, int argc, char** argv);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_COMMANDS_H_
