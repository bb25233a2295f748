// CLI glue for docs/INTEROP.md: STIX/MISP output of export and subscribe,
// `watchfloor import` and `watchfloor bridge`. The formats and the bridge
// live in interop/.
#ifndef WATCHFLOOR_NODE_CLI_INTEROP_CMDS_H_
#define WATCHFLOOR_NODE_CLI_INTEROP_CMDS_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "node/cli/flags.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::cli {

// `export --format stix|misp`: the alerts matching --filter (replayed from
// the node's store) as one STIX 2.1 bundle or one MISP {"response": [...]}
// document, written to --out (must not exist; "-" = stdout).
absl::Status ExportInteropFormat(const ParsedArgs& args, const std::string& format);

// `subscribe --output stix`: one self-contained STIX 2.1 bundle per alert,
// one line each, on stdout.
absl::Status PrintStixLine(const std::string& id, const watchfloor::v1::Envelope& envelope);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_INTEROP_CMDS_H_
