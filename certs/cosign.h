// Co-signatures (docs/PROTOCOL.md section 23): a member that independently
// confirms an alert adds a signature of its own node key over the same
// PAE(payloadType, payload) to the alert's DSSE envelope. The payload, and so
// the alert id, do not change. Pure functions; no I/O, no clocks: the node,
// gossip and the auditor all decide with these.
#ifndef WATCHFLOOR_CERTS_COSIGN_H_
#define WATCHFLOOR_CERTS_COSIGN_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::certs {

// Who made a valid co-signature.
struct Cosigner {
  std::string node;    // "member/node" whose current key signed
  std::string member;  // its member
};

// The member part of an origin "member/node" (the whole string without '/').
std::string MemberOf(absl::string_view origin);

// Checks `sig` as a co-signature of the alert whose envelope is
// (`payload_type`, `payload`) and whose origin is `alert_origin`, under
// `roster` (the roster in force): the keyid must be the current signing key
// of a roster node, that node's member must not be the origin's member, and
// the signature must verify over PAE. Errors:
//   INVALID_ARGUMENT     payload_type is not the alert type, or sig is not
//                        64 bytes;
//   UNAUTHENTICATED      the keyid is no roster node's key ("not a member
//                        node key"), or the signature does not verify;
//   FAILED_PRECONDITION  the co-signer is a node of the origin's own member
//                        (an alert is not corroborated by its own member).
absl::StatusOr<Cosigner> VerifyCosignature(const Roster& roster,
                                           absl::string_view payload_type,
                                           absl::string_view payload,
                                           absl::string_view alert_origin,
                                           const watchfloor::v1::Signature& sig);

// A co-signature by `key` of the alert envelope `envelope` (its first
// signature is the origin's; the others are ignored).
watchfloor::v1::Signature Cosign(const watchfloor::v1::Envelope& envelope,
                                 const SigningKey& key);

// The envelope with the origin's signatures (those whose keyid is
// `origin_keyid`, in their order) first, then `cosignatures` ordered by
// keyid, each keyid once. What nodes serve, and what an auditor expects.
watchfloor::v1::Envelope MergeCosignatures(
    const watchfloor::v1::Envelope& envelope, absl::string_view origin_keyid,
    std::vector<watchfloor::v1::Signature> cosignatures);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_COSIGN_H_
