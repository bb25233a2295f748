// Writes the moment an incident expires into the store's cursor sequence.
//
// An incident expires when the node's clock passes its latest version's
// expires_at; no alert says so. For subscribers to see that as an event
// that replays exactly as it went live, the node writes a kExpired mark
// (node/alert_store.h) through the Ledger, which takes the next cursor; the
// incident view turns it into the INCIDENT_EXPIRY event. The marker polls
// the view for due expiries on a thread of its own.
#ifndef WATCHFLOOR_NODE_EXPIRY_MARKER_H_
#define WATCHFLOOR_NODE_EXPIRY_MARKER_H_

#include <cstdint>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/clock.h"
#include "node/incidents.h"
#include "node/ledger.h"

namespace watchfloor::node {

class ExpiryMarker {
 public:
  struct Options {
    // How often the view is asked for due expiries: the most an "expired"
    // event trails the clock passing expires_at (plus one commit).
    absl::Duration interval = absl::Milliseconds(250);
    // Marks written per round at most (a node that starts after a long
    // stop, or catches up on old feeds, has many due at once).
    size_t max_per_round = 1000;
  };

  // Starts the thread. `view`, `ledger` and `clock` must outlive it.
  ExpiryMarker(IncidentView* view, Ledger* ledger, Clock* clock, Options options);
  ExpiryMarker(IncidentView* view, Ledger* ledger, Clock* clock)
      : ExpiryMarker(view, ledger, clock, Options()) {}
  // Stops and joins the thread (a round in progress finishes first).
  ~ExpiryMarker();
  ExpiryMarker(const ExpiryMarker&) = delete;
  ExpiryMarker& operator=(const ExpiryMarker&) = delete;

  // Marks written so far, and rounds whose write failed (the next round
  // tries again). Thread-safe.
  uint64_t written() const;
  uint64_t failures() const;

 private:
  void Loop();

  IncidentView* const view_;
  Ledger* const ledger_;
  Clock* const clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  bool failing_ ABSL_GUARDED_BY(mu_) = false;  // the last round failed
  std::thread thread_;  // last: starts after everything it uses
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_EXPIRY_MARKER_H_
