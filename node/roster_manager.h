// The node's living roster: the verified chain it runs on, and adoption of
// newer versions at run time (issue 9; docs/FEDERATION.md "Governance").
//
// Adopt verifies the versions after the current one link by link
// (certs/roster_chain.h), refuses an expired newest version, persists the
// longer chain atomically (node/roster_store.h) and only then makes it
// current and tells the listeners (key resolver, authorizer, transparency,
// gossip peers, TLS trust bundle), so a crash never leaves a node running on
// a roster it has not persisted.
//
// Every roster the node ever ran on stays alive as long as the manager:
// `current()` pointers handed out earlier stay valid (rosters are few, one
// per governance change), so readers need no lock or reference count.
#ifndef WATCHFLOOR_NODE_ROSTER_MANAGER_H_
#define WATCHFLOOR_NODE_ROSTER_MANAGER_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "certs/roster.h"
#include "node/clock.h"
#include "node/roster_store.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

class RosterManager {
 public:
  // Called after a version is adopted and persisted, with the new roster
  // (valid for the manager's lifetime), on the adopting thread, one
  // adoption at a time. Must not call Adopt. Listeners run before current()
  // returns the new version, announcers after.
  using Listener = std::function<void(const certs::Roster& adopted)>;

  struct Stats {
    uint64_t adopted = 0;  // versions adopted since start
    uint64_t refused = 0;  // Adopt calls refused (verification, expiry)
  };

  // `chain` is verified, anchor first, non-empty (RosterStore::Load). `store`
  // and `clock` must outlive the manager.
  RosterManager(std::vector<certs::Roster> chain, RosterStore* store, Clock* clock);

  // The roster in force. Never null; valid for the manager's lifetime.
  // Thread-safe, lock-free.
  const certs::Roster* current() const { return current_.load(); }
  uint64_t version() const { return current()->version(); }

  // The envelopes of the versions after `after_version` this node holds,
  // ascending, at most `max`: what a peer needs to catch up
  // (Federation.GetRosterChain). Empty if it holds none newer. Thread-safe.
  std::vector<watchfloor::v1::Envelope> EnvelopesAfter(uint64_t after_version,
                                                       size_t max) const;

  // Every version this node holds, oldest first (the one it started from,
  // then each it adopted); the last is current() or, during an adoption,
  // the version just adopted. What an exported bundle carries. Thread-safe.
  std::vector<certs::Roster> Chain() const;

  // Adopts the versions in `envelopes` (ascending; versions not newer than
  // the current one are skipped, so a peer's whole chain may be passed).
  // Returns the new current version. Errors, with nothing changed:
  // ALREADY_EXISTS if the newest given version is the current one (same
  // payload); FAILED_PRECONDITION for an older or different same version (a
  // rollback), a skipped version, or an expired newest version;
  // UNAUTHENTICATED for missing signatures; INVALID_ARGUMENT for a bad
  // roster or key history; the store's error if persisting fails.
  // Thread-safe; adoptions are serialized.
  absl::StatusOr<uint64_t> Adopt(const std::vector<watchfloor::v1::Envelope>& envelopes);

  // Adds a listener (before the node starts serving): what must switch to
  // a new version before it is in force. Thread-safe.
  void AddListener(Listener listener);
  // Adds an announcer (before the node starts serving): what tells others
  // once the version is in force. Thread-safe.
  void AddAnnouncer(Listener announcer);

  // Empty while the current roster has not expired; otherwise the warning a
  // node logs, reports in metrics and shows in `roster status` (it keeps
  // running on the expired roster). Thread-safe.
  std::string ExpiryWarning() const;

  Stats stats() const;

 private:
  Clock* const clock_;
  RosterStore* const store_;
  std::atomic<const certs::Roster*> current_;

  absl::Mutex adopt_mu_;  // serializes Adopt, before mu_
  mutable absl::Mutex mu_;
  std::deque<certs::Roster> chain_ ABSL_GUARDED_BY(mu_);  // stable addresses
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(mu_);
  std::vector<Listener> announcers_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_ROSTER_MANAGER_H_
