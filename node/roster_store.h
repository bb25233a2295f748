// The adopted roster chain on disk, in the node's data directory, so that a
// restart resumes on the newest roster the node verified instead of the one
// its configuration pinned.
//
// One file, <data_dir>/roster-chain.jsonl: one DSSE JSON envelope per line,
// ascending versions, each the successor of the one before. Save replaces it
// atomically (write a temporary file, fsync, rename over, fsync the
// directory), so a crash at any point (kill -9 included) leaves either the
// old chain or the new one, never a mix or a torn file.
#ifndef WATCHFLOOR_NODE_ROSTER_STORE_H_
#define WATCHFLOOR_NODE_ROSTER_STORE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "certs/roster.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

class RosterStore {
 public:
  static constexpr char kFileName[] = "roster-chain.jsonl";

  // `data_dir` must exist. Cheap; touches no file.
  explicit RosterStore(std::string data_dir);

  // The chain a node starts on: `anchor` (the configured roster_file,
  // verified by the caller) followed by every persisted version newer than
  // it, verified link by link from the anchor. No file yet: just the anchor.
  // A persisted version equal to the anchor's must be the same roster
  // (payload bytes); older ones are ignored (the configuration moved past
  // them). Removes a leftover temporary file of an interrupted Save.
  // Errors: DATA_LOSS if the file does not parse or does not chain from the
  // anchor (the message names the file, the line or link, and says to move
  // the file away to start from roster_file); the errno status if it cannot
  // be read. Expiry is not checked: a node keeps running on an expired
  // roster (and warns).
  // Returns the verified chain, anchor first; back() is the current roster.
  absl::StatusOr<std::vector<certs::Roster>> Load(const certs::Roster& anchor) const;

  // Replaces the persisted chain with `chain` (anchor first), atomically
  // and durably. The caller verified it. Errors: the errno status of the
  // failing write, fsync or rename (INTERNAL-like codes from
  // absl::ErrnoToStatus), naming the file; the old chain is then intact.
  // Not thread-safe: one writer (the node's RosterManager).
  absl::Status Save(const std::vector<certs::Roster>& chain) const;

  std::string path() const;

 private:
  const std::string data_dir_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_ROSTER_STORE_H_
