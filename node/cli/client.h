// Connecting the CLI to a node.
#ifndef WATCHFLOOR_NODE_CLI_CLIENT_H_
#define WATCHFLOOR_NODE_CLI_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "node/cli/flags.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::cli {

// The flags every client command takes: --node, --tls-cert, --tls-key,
// --tls-ca.
std::vector<FlagSpec> ConnectionFlags();

// A stub for the node named by --node. With --tls-* flags the channel uses
// mutual TLS; without them it is plaintext, which is allowed only to a
// loopback address (INVALID_ARGUMENT otherwise).
absl::StatusOr<std::unique_ptr<watchfloor::v1::Node::Stub>> Connect(
    const ParsedArgs& args);

// Streams Node.Export from the node named by the connection flags, for the
// OR of `filters` (docs/FILTERS.md text syntax; none: everything), and
// returns the bundle: the pieces serialized and concatenated, which is a
// serialized watchfloor.v1.AuditBundle (export_cmd.cc). `since` (older
// checkpoint sizes) asks for consistency proofs from them.
absl::StatusOr<std::string> FetchBundle(
    const ParsedArgs& args, const std::vector<std::string>& filters,
    const std::vector<watchfloor::v1::ExportSince>& since = {});

// The largest tree size per origin among checkpoint `notes` (signatures
// not checked), for ExportRequest.since. INVALID_ARGUMENT naming `what` if a
// note is not a checkpoint of a feed origin (export_cmd.cc).
absl::StatusOr<std::vector<watchfloor::v1::ExportSince>> SinceSizesOf(
    const std::vector<std::string>& notes, const std::string& what);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_CLIENT_H_
