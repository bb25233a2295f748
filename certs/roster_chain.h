// A roster chain: a trust anchor and the versions after it, each verified
// against the one before (Roster::VerifyNext). What a node adopts, persists
// (node/roster_store.h), serves to peers (Federation.GetRosterChain) and an
// auditor checks old alerts against (each alert against the version it was
// signed under).
//
// Pure: envelopes and times in, Status out; no I/O, no clock reads.
#ifndef WATCHFLOOR_CERTS_ROSTER_CHAIN_H_
#define WATCHFLOOR_CERTS_ROSTER_CHAIN_H_

#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/roster.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::certs {

// Verifies `next` (envelopes in ascending version order, the first being
// version anchor.version() + 1) link by link from `anchor`, and returns the
// verified rosters, one per envelope. Empty `next`: an empty vector. The
// first failing link's error, prefixed "roster chain link v<N>: " (codes as
// Roster::VerifyNext: FAILED_PRECONDITION for a version that is not the next
// one, UNAUTHENTICATED for missing signatures, INVALID_ARGUMENT for a bad
// roster or key history). Expiry is not checked (an expired version may be a
// link); see VerifyAdoption.
absl::StatusOr<std::vector<Roster>> VerifyChain(
    const Roster& anchor, const std::vector<watchfloor::v1::Envelope>& next);

// What a node checks before adopting `next` on top of its `current` roster:
// VerifyChain, then the newest version must not have expired at `now`
// (FAILED_PRECONDITION from CheckNotExpired). Returns the newest roster.
// INVALID_ARGUMENT if `next` is empty.
absl::StatusOr<Roster> VerifyAdoption(
    const Roster& current, const std::vector<watchfloor::v1::Envelope>& next,
    absl::Time now);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_ROSTER_CHAIN_H_
