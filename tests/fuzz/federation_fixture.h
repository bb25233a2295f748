// A federation node's request-handling stack without a network, for
// federation_fuzz and make_federation_seeds: node c.cz/n1 of the roster in
// tests/testdata/audit/roster.json (members a.cz, b.cz, c.cz; keys from the
// fixed seeds of tests/make_audit_testdata.cc), with a real Ledger over a
// real SQLite file in a fresh temp dir, its Transparency logs, the
// LedgerFeedStore, a RosterManager on that roster (RosterStore in the temp
// dir) as the engine's roster hooks, and a Gossip engine whose peers are
// a.cz/n1 and b.cz/n1.
// Gossip is not started: nothing is sent, pushes queue on the links (bounded
// by max_link_queue), as if every peer were unreachable.
#ifndef WATCHFLOOR_TESTS_FUZZ_FEDERATION_FIXTURE_H_
#define WATCHFLOOR_TESTS_FUZZ_FEDERATION_FIXTURE_H_

#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "federation/gossip.h"

namespace watchfloor::fuzz {

// The Federation rpcs, numbered as the first byte of a fuzz input selects
// them (byte % kMethods).
enum class FederationMethod {
  kPush = 0,
  kIHave,
  kFetch,
  kExchangeFrontier,
  kPullRange,
  kPushEvidence,
  kPushCheckpoints,
  kGetRosterChain,
};
inline constexpr int kFederationMethods = 8;

// The two peers that may call, selected by (first byte / 8) % 2.
inline constexpr absl::string_view kCallers[] = {"a.cz/n1", "b.cz/n1"};
inline constexpr absl::string_view kSelf = "c.cz/n1";

class FederationNode {
 public:
  // Builds everything under a new directory in $TMPDIR (or /tmp); aborts
  // with a message if any part fails (a broken fixture is no finding).
  FederationNode();
  // Stops gossip, transparency and the ledger, removes the directory.
  ~FederationNode();

  // Serves `request` as the rpc's bytes from the authenticated peer
  // `caller` through federation::HandleFederationRequest, the function the
  // Federation service calls (permission, parse, per-call limits, handler).
  // Returns its status: OK for an answered request, INVALID_ARGUMENT for
  // bytes that do not parse or exceed a limit, PullRange's own codes. Then
  // waits until the ledger has committed what the request queued.
  absl::Status Handle(FederationMethod method, const std::string& caller,
                      absl::string_view request);

  federation::Gossip& gossip();

 private:
  struct Parts;
  std::unique_ptr<Parts> parts_;
};

}  // namespace watchfloor::fuzz

#endif  // WATCHFLOOR_TESTS_FUZZ_FEDERATION_FIXTURE_H_
