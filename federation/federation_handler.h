// The Federation service without the network: one function that takes a
// request's method and bytes from an authenticated caller, parses them,
// applies the per-call limits, runs the Gossip handler and serializes the
// answer. FederationService serves every rpc through it; fuzzers and tests
// can drive it directly.
#ifndef WATCHFLOOR_FEDERATION_FEDERATION_HANDLER_H_
#define WATCHFLOOR_FEDERATION_FEDERATION_HANDLER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "federation/gossip.h"

namespace watchfloor::federation {

// Envelopes per Push and notes per PushCheckpoints a peer may send.
inline constexpr int kMaxPushEnvelopes = 256;
inline constexpr int kMaxCheckpointsPerPush = 64;
inline constexpr int kMaxCosignaturesPerPush = 256;

// Handles one Federation rpc: `method` is its name in the service ("Push",
// "IHave", "Fetch", "ExchangeFrontier", "PullRange", "PushEvidence",
// "PushCheckpoints", "GetRosterChain", "PushCosignatures",
// "PullCosignatures"), `request_bytes` the serialized request, and
// `caller_origin` the caller's authenticated node origin ("member/node").
// Returns the serialized response. Errors, in the order checked:
//   PERMISSION_DENIED  caller_origin is not a peer of this node;
//   UNIMPLEMENTED      no such rpc;
//   INVALID_ARGUMENT   "request could not be parsed as watchfloor.v1.<type>:
//                      <why>" (counted against the caller:
//                      Gossip::Stats::peers[caller].refused), or a request
//                      over a per-call limit;
//   whatever the Gossip handler returns (PullRange).
// A refused request changes nothing but that counter. Thread-safe as the
// Gossip handlers are; `gossip` must outlive the call.
absl::StatusOr<std::string> HandleFederationRequest(Gossip& gossip,
                                                    absl::string_view caller_origin,
                                                    absl::string_view method,
                                                    absl::string_view request_bytes);

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_FEDERATION_HANDLER_H_
