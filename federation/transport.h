// The wire, as gossip sees it: the Federation service's calls to one peer,
// made synchronously on the caller's thread, each cancellable from another
// thread. Gossip decides what to send and when; a Transport only carries it.
//
// Production uses the gRPC transport (federation/grpc_transport.h: mutual
// TLS channels to each peer's Federation service). Tests and the simulator
// use transports that deliver in the same process, with latency, loss and
// partitions of their own (tests/sim/). Either way the receiving side runs
// HandleFederationRequest, so the peer parses, limits and handles the
// request exactly as it would from the network.
#ifndef WATCHFLOOR_FEDERATION_TRANSPORT_H_
#define WATCHFLOOR_FEDERATION_TRANSPORT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "watchfloor/v1/federation.pb.h"

namespace watchfloor::federation {

struct Peer {
  std::string origin;    // "member/node"
  std::string endpoint;  // "host:port" to dial
  // What the channel trusts for the peer's certificate (in the node: its
  // member's CA from the roster). A link is remade when this or the
  // endpoint changes, since a channel's roots are fixed when it is made.
  std::string trust_roots_pem = {};
};

// One peer's end of the wire. Every method is thread-safe; calls on one
// channel may run at once from several threads.
class PeerChannel {
 public:
  // The Federation service's rpcs, for Start.
  enum class Rpc {
    kPush,
    kIHave,
    kFetch,
    kExchangeFrontier,
    kPullRange,
    kPushEvidence,
    kPushCheckpoints,
    kPushCosignatures,
    kPullCosignatures,
    kGetRosterChain,
  };
  // The rpc's method name in the service ("Push", "ExchangeFrontier", ...),
  // as HandleFederationRequest takes it.
  static absl::string_view RpcName(Rpc rpc);

  // One call's context: its deadline, and a way to cancel it from another
  // thread. Made by NewCall, passed to exactly one rpc method, and destroyed
  // after that method returns.
  class Call {
   public:
    virtual ~Call() = default;
    // The call (running, or not started yet) ends as soon as it can with
    // CANCELLED. Thread-safe; idempotent.
    virtual void Cancel() = 0;
  };

  virtual ~PeerChannel() = default;

  // A context for one call that fails with DEADLINE_EXCEEDED if it has not
  // finished within `timeout`.
  virtual std::unique_ptr<Call> NewCall(absl::Duration timeout) = 0;

  // The Federation service's rpcs (proto/watchfloor/v1/federation.proto).
  // Each blocks until the peer answers, the deadline passes or the call is
  // cancelled, and returns the peer's status (UNAVAILABLE when it cannot
  // be reached). `response` is meaningful only when the status is OK.
  virtual absl::Status Push(Call* call, const watchfloor::v1::PushRequest& request,
                            watchfloor::v1::PushResponse* response) = 0;
  virtual absl::Status IHave(Call* call, const watchfloor::v1::IHaveRequest& request,
                             watchfloor::v1::IHaveResponse* response) = 0;
  virtual absl::Status Fetch(Call* call, const watchfloor::v1::FetchRequest& request,
                             watchfloor::v1::FetchResponse* response) = 0;
  virtual absl::Status ExchangeFrontier(Call* call,
                                        const watchfloor::v1::FrontierMessage& request,
                                        watchfloor::v1::FrontierMessage* response) = 0;
  virtual absl::Status PullRange(Call* call, const watchfloor::v1::PullRangeRequest& request,
                                 watchfloor::v1::PullRangeResponse* response) = 0;
  virtual absl::Status PushEvidence(Call* call, const watchfloor::v1::EvidenceMessage& request,
                                    watchfloor::v1::PushEvidenceResponse* response) = 0;
  virtual absl::Status PushCheckpoints(Call* call,
                                       const watchfloor::v1::PushCheckpointsRequest& request,
                                       watchfloor::v1::PushCheckpointsResponse* response) = 0;
  virtual absl::Status PushCosignatures(Call* call,
                                        const watchfloor::v1::PushCosignaturesRequest& request,
                                        watchfloor::v1::PushCosignaturesResponse* response) = 0;
  virtual absl::Status PullCosignatures(Call* call,
                                        const watchfloor::v1::PullCosignaturesRequest& request,
                                        watchfloor::v1::PullCosignaturesResponse* response) = 0;
  virtual absl::Status GetRosterChain(Call* call,
                                      const watchfloor::v1::GetRosterChainRequest& request,
                                      watchfloor::v1::GetRosterChainResponse* response) = 0;

  // Starts `rpc` and returns; `done` runs exactly once with the status the
  // blocking method would have returned, once `response` holds the answer
  // (or the call failed). `request` and `response` are of the rpc's types
  // and must stay valid, and `call` alive, until `done` has run. `done` may
  // run before Start returns, on the caller's thread, or later on a thread
  // of the transport's (the simulator's event loop), and must not block.
  //
  // The default runs the blocking method on the caller's thread, then
  // `done`: the gRPC transport, whose calls the engine's link threads make,
  // keeps exactly its blocking behaviour. A transport that answers later
  // (tests/sim/event_network.h) overrides this.
  virtual void Start(Call* call, Rpc rpc, const google::protobuf::Message& request,
                     google::protobuf::Message* response,
                     std::function<void(absl::Status)> done);
};

// Makes the channel to each peer. Thread-safe.
class Transport {
 public:
  virtual ~Transport() = default;
  // Called when gossip makes a link to `peer` (at start, and by SetPeers
  // for a new peer or a changed endpoint or trust). Never null; a peer that
  // cannot be reached shows as failed calls, not here.
  virtual std::unique_ptr<PeerChannel> Connect(const Peer& peer) = 0;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_TRANSPORT_H_
