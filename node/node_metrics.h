// The node's metric families (docs/OPERATIONS.md lists each one): read at
// scrape time from the counters the node's parts already keep.
#ifndef WATCHFLOOR_NODE_NODE_METRICS_H_
#define WATCHFLOOR_NODE_NODE_METRICS_H_

#include <functional>

#include "absl/status/status.h"
#include "federation/gossip.h"
#include "metrics/registry.h"
#include "node/clock.h"
#include "node/ledger.h"
#include "node/node_service.h"
#include "node/roster_manager.h"
#include "node/subscription_hub.h"
#include "node/transparency.h"

namespace watchfloor::node {

// What the families read. Everything must outlive the registry's scrapes.
struct MetricSources {
  const Ledger* ledger = nullptr;              // required
  const SubscriptionHub* hub = nullptr;        // required
  const Transparency* transparency = nullptr;  // required
  const NodeService* service = nullptr;        // required
  Clock* clock = nullptr;                      // required (roster expiry)
  // Outside a federation both are null, and their families are left out.
  const federation::Gossip* gossip = nullptr;
  const RosterManager* roster = nullptr;
  // NodeServer::Readiness, for watchfloor_ready.
  std::function<absl::Status()> ready;
};

// Adds every family to `registry`. Errors: the registry's (a name taken).
absl::Status RegisterNodeMetrics(const MetricSources& sources, metrics::Registry* registry);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_NODE_METRICS_H_
