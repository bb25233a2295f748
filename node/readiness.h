// Keeps the node's grpc.health.v1 statuses in step with whether it can do its
// job (NodeServer::Readiness: the store writable, the roster in force not
// expired), the same answer /readyz gives.
//
// A store failure is reported at once by the Ledger's failure listener; a
// roster expires by the clock, with nothing to announce it, so the monitor
// looks again every interval.
#ifndef WATCHFLOOR_NODE_READINESS_H_
#define WATCHFLOOR_NODE_READINESS_H_

#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/health_service.h"

namespace watchfloor::node {

class HealthMonitor {
 public:
  // Checks `ready` now, then every `interval` (real time) on a thread of its
  // own, and sets "" and each of `names` SERVING while it is OK, NOT_SERVING
  // otherwise, logging each change with its reason (events not_serving and
  // serving_again). `health` must outlive the monitor; `ready` must be
  // thread-safe.
  HealthMonitor(std::function<absl::Status()> ready, HealthService* health,
                std::vector<std::string> names, absl::Duration interval);
  // Stops the thread. Leaves the statuses as they are.
  ~HealthMonitor();

  // Checks at once (e.g. right after the store failed). Thread-safe.
  void CheckNow();

 private:
  void Loop();

  const std::function<absl::Status()> ready_;
  HealthService* const health_;
  const std::vector<std::string> names_;
  const absl::Duration interval_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool known_ ABSL_GUARDED_BY(mu_) = false;    // a status was set
  bool serving_ ABSL_GUARDED_BY(mu_) = false;  // the status set last
  std::thread thread_;  // last: starts after everything it uses
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_READINESS_H_
