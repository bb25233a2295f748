// The alert-signing keys of a federation's nodes, from the roster in force.
// A node adopting a newer roster version at run time (node/roster_manager.h)
// swaps it in with SetRoster; the next envelope verified uses it: a removed
// node's alerts are refused from then on, an admitted node's accepted, and a
// rotated key signs only the sequences the roster gives it
// (Roster::NodeKeyAt).
#ifndef WATCHFLOOR_NODE_ROSTER_KEY_RESOLVER_H_
#define WATCHFLOOR_NODE_ROSTER_KEY_RESOLVER_H_

#include <atomic>
#include <cstdint>
#include <optional>

#include "absl/strings/string_view.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "node/key_resolver.h"

namespace watchfloor::node {

class RosterKeyResolver final : public KeyResolver {
 public:
  // `roster` is the roster in force; not null. It, and every roster passed
  // to SetRoster later, must outlive the resolver (RosterManager keeps every
  // version it ran on alive for that reason).
  explicit RosterKeyResolver(const certs::Roster* roster) : roster_(roster) {}

  // Makes `roster` (not null, see the constructor) the one in force. Lookups
  // already running finish with the roster they started with; every lookup
  // that starts after SetRoster returns uses `roster`. Thread-safe,
  // lock-free; callable from a RosterManager listener.
  void SetRoster(const certs::Roster* roster) { roster_.store(roster); }

  // The roster in force. Thread-safe.
  const certs::Roster* roster() const { return roster_.load(); }

  // The node's current signing key (Roster::NodeKey). Thread-safe.
  std::optional<certs::PublicKey> Find(absl::string_view origin) const override;
  // The key that signs `sequence` of `origin`'s feed (Roster::NodeKeyAt).
  // Thread-safe.
  std::optional<certs::PublicKey> FindAt(absl::string_view origin,
                                         uint64_t sequence) const override;

 private:
  std::atomic<const certs::Roster*> roster_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_ROSTER_KEY_RESOLVER_H_
