// Corroboration by co-signature (docs/PROTOCOL.md section 23): this node
// co-signing another member's alert, and co-signatures arriving from peers,
// each verified against the roster in force (certs/cosign.h) before the
// Ledger stores it. The node's one entry point for co-signatures: the Node
// rpc Corroborate and gossip's FeedStore::OfferCosignatures both end here.
#ifndef WATCHFLOOR_NODE_CORROBORATION_H_
#define WATCHFLOOR_NODE_CORROBORATION_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "certs/cosign.h"
#include "node/alert_store.h"
#include "node/ledger.h"
#include "node/node_keys.h"
#include "node/roster_key_resolver.h"

namespace watchfloor::node {

class Corroboration {
 public:
  // `self` is this node's origin. All pointers must outlive this object;
  // `roster` may be null (a node outside a federation: nothing is
  // corroborated, every co-signature is refused).
  Corroboration(std::string self, Ledger* ledger, AlertStore* store,
                const RosterKeyResolver* roster, NodeKeys* keys)
      : self_(std::move(self)), ledger_(ledger), store_(store), roster_(roster), keys_(keys) {}

  struct Prepared {
    StoredAlert alert;        // as stored now, with the co-signatures held
    Cosignature cosignature;  // this node's, verified like a peer's would be
  };
  // This node's co-signature of alert `id`, by its current signing key, to
  // be stored with Ledger::StoreCosignatures (Node.Corroborate; the
  // Ledger's commit listener then gossips it). Writes nothing. Errors:
  // INVALID_ARGUMENT (id not 64 lowercase hex), NOT_FOUND (not stored
  // here), FAILED_PRECONDITION (an alert of this node's own member; no
  // roster; the node does not hold the key its roster entry names),
  // PERMISSION_DENIED (a sealed alert whose recipients do not include this
  // node's member). Thread-safe.
  absl::StatusOr<Prepared> Prepare(const std::string& id) const;

  // Verifies co-signatures from a peer and stores the valid ones
  // (FeedStore::OfferCosignatures has the contract). Thread-safe; blocks
  // for the commit.
  std::vector<absl::StatusOr<bool>> Merge(const std::vector<Cosignature>& offers);

  // Distinct members, other than the origin's, among `cosigners`
  // ("member/node" each). What corroborated>=K compares.
  static int CountMembers(const std::string& origin, const std::vector<std::string>& cosigners);

 private:
  const std::string self_;
  Ledger* const ledger_;
  AlertStore* const store_;
  const RosterKeyResolver* const roster_;
  NodeKeys* const keys_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_CORROBORATION_H_
