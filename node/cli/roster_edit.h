// `watchfloor roster draft --from CURRENT.json ...`: the next roster version
// made from the current one by named edits (add/remove a member or node,
// rotate a node key from a sequence, pre-commit a node's next key, change
// endpoints, threshold, expiry), so that governance never retypes a spec.
#ifndef WATCHFLOOR_NODE_CLI_ROSTER_EDIT_H_
#define WATCHFLOOR_NODE_CLI_ROSTER_EDIT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "node/cli/flags.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::cli {

// The flags `roster draft` accepts besides --spec/--out, for --from.
std::vector<FlagSpec> RosterEditFlags();

// The roster after `current` (version + 1, issued_at = `now`) with the edits
// named by `args` applied in this order: remove members, remove nodes, add
// members, endpoints, key rotations, key commitments, threshold, expiry.
// Files named by flags are read relative to the working directory.
// INVALID_ARGUMENT naming the flag and value (unknown member or node, a
// malformed ORIGIN=... value, a rotation sequence of 0, a bad time); NOT_FOUND
// for a file that cannot be read. The result is not validated here
// (MakeRosterDraft does that).
absl::StatusOr<watchfloor::v1::Roster> NextRosterVersion(
    const watchfloor::v1::Roster& current, const ParsedArgs& args, absl::Time now);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_ROSTER_EDIT_H_
