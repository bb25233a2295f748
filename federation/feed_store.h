// What the federation needs from a node's storage, and nothing more. The
// node implements this (node/ledger_feed_store.h); federation code never
// includes node/.
#ifndef WATCHFLOOR_FEDERATION_FEED_STORE_H_
#define WATCHFLOOR_FEDERATION_FEED_STORE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::federation {

// The highest contiguous sequence held for one origin: one entry of a
// frontier. Anti-entropy swaps lists of these, O(origins), not O(alerts).
struct FrontierEntry {
  std::string origin;
  uint64_t sequence = 0;
  std::string id;  // lowercase hex id of that sequence
  bool forked = false;
};

class FeedStore {
 public:
  virtual ~FeedStore() = default;

  // This node's frontier, one entry per known origin. Thread-safe.
  virtual std::vector<FrontierEntry> Frontier() = 0;

  // Envelopes of `origin` with sequence in [from, to], ascending, at most
  // `limit`. Fewer if the node holds fewer. Thread-safe.
  virtual absl::StatusOr<std::vector<watchfloor::v1::Envelope>> ReadRange(
      const std::string& origin, uint64_t from, uint64_t to, size_t limit) = 0;

  // Submits an envelope received from a peer through the node's one ingest
  // path (verify, continuity, dedupe, forks). `done` gets OK, or the
  // canonical error of that path (see node.proto, rpc Ingest). Thread-safe.
  virtual void Ingest(watchfloor::v1::Envelope envelope,
                      std::function<void(absl::Status)> done) = 0;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_FEED_STORE_H_
