// The roster rules beyond one version's shape and its signatures: a node's
// signing-key history (key rotation with no gap in its feed), what may
// change from version N to N+1, the pre-committed key rotation a member may
// sign alone, and expiry. certs/roster.h applies them (ValidateRoster,
// Roster::VerifyNext); they are public so the CLI and the chain store can
// explain a refusal before anything is signed or adopted.
//
// Pure: protos and times in, Status out; no I/O, no clock reads (the caller
// passes `now`). docs/FEDERATION.md ("Rules") states them for operators.
#ifndef WATCHFLOOR_CERTS_ROSTER_RULES_H_
#define WATCHFLOOR_CERTS_ROSTER_RULES_H_

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::certs {

// The first sequence `node`'s current signing_key_pem signs (key_from_sequence,
// with 0 read as 1).
uint64_t KeyFromSequence(const watchfloor::v1::RosterNode& node);

// Checks one node's key history (key_from_sequence, previous_keys,
// next_key_sha256); part of ValidateRoster. `where` prefixes messages
// ("node a.cz/n1"). Every previous key's keyid is added to `node_keyids`;
// INVALID_ARGUMENT if one is there already (a key signs one node's feed
// only, and never again once replaced). Rules: previous_keys hold valid
// Ed25519 keys whose ranges run contiguously from 1, each non-empty, and
// key_from_sequence is the sequence after the last range (0 or 1 without
// previous keys); next_key_sha256 is empty or 64 lowercase hex digits and
// not the keyid of the current or a previous key.
absl::Status ValidateNodeKeyHistory(const watchfloor::v1::RosterNode& node,
                                    absl::string_view where,
                                    std::set<std::string>* node_keyids);

// Checks `roster.expires` against `roster.issued_at` (INVALID_ARGUMENT if
// it is not after it); part of ValidateRoster.
absl::Status ValidateExpiry(const watchfloor::v1::Roster& roster);

// What may change from `prev` to `next` (both valid, next.version ==
// prev.version + 1) in a node that both list: a node's key history is
// append-only. If its signing key is unchanged, key_from_sequence and
// previous_keys must be unchanged; if it changed, key_from_sequence must be
// >= the old one and previous_keys must be prev's plus the replaced key with
// the range it signed (old key_from_sequence .. new key_from_sequence - 1,
// omitted when empty). A replaced key may never come back.
// INVALID_ARGUMENT naming the node and what to write instead.
absl::Status CheckKeyHistoryTransition(const watchfloor::v1::Roster& prev,
                                       const watchfloor::v1::Roster& next);

// If `next` differs from `prev` only by a pre-committed key rotation of one
// node (its signing key becomes the key whose keyid prev's next_key_sha256
// named; only that node's signing_key_pem, key_from_sequence, previous_keys
// and next_key_sha256, and the roster's version and issued_at differ), the
// name of that node's member: its signature alone (by its member key in
// `prev`) may authorize `next`. nullopt for any other change, which needs
// the thresholds. Does not check the key history (CheckKeyHistoryTransition).
std::optional<std::string> PreCommittedRotationMember(
    const watchfloor::v1::Roster& prev, const watchfloor::v1::Roster& next);

// When a version lowers the threshold, how many of its own members must sign
// it: N's threshold, capped at N+1's number of members (so that members who
// leave cannot lower the bar for those who stay). Otherwise its own
// threshold.
uint32_t OwnSignaturesRequired(const watchfloor::v1::Roster& prev,
                               const watchfloor::v1::Roster& next);

// The roster's expiry, absl::InfiniteFuture() if unset.
absl::Time RosterExpiry(const watchfloor::v1::Roster& roster);

// OK if `roster` has no expiry or it is after `now`; FAILED_PRECONDITION
// otherwise, saying when it expired and that the members must sign a newer
// version. A node refuses to adopt an expired roster; it keeps running on an
// expired current one (and warns).
absl::Status CheckNotExpired(const watchfloor::v1::Roster& roster, absl::Time now);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_ROSTER_RULES_H_
