// The gRPC face of gossip (watchfloor.v1.Federation). Thin: authenticates the
// caller as a roster node, then hands the request to the Gossip engine.
#ifndef WATCHFLOOR_FEDERATION_FEDERATION_SERVICE_H_
#define WATCHFLOOR_FEDERATION_FEDERATION_SERVICE_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "federation/gossip.h"
#include "watchfloor/v1/federation.grpc.pb.h"

namespace watchfloor::federation {

// Maps a call to the caller's node origin ("member/node"), or an error
// (UNAUTHENTICATED: no or bad certificate; PERMISSION_DENIED: a client, not a
// node). The node implements it from the mutual-TLS peer certificate.
using PeerAuthenticator =
    std::function<absl::StatusOr<std::string>(const grpc::ServerContext&)>;

class FederationService final : public watchfloor::v1::Federation::Service {
 public:
  // Both must outlive the service.
  FederationService(Gossip* gossip, PeerAuthenticator authenticate)
      : gossip_(gossip), authenticate_(std::move(authenticate)) {}

  grpc::Status Push(grpc::ServerContext* ctx, const watchfloor::v1::PushRequest* req,
                    watchfloor::v1::PushResponse* resp) override;
  grpc::Status IHave(grpc::ServerContext* ctx, const watchfloor::v1::IHaveRequest* req,
                     watchfloor::v1::IHaveResponse* resp) override;
  grpc::Status Fetch(grpc::ServerContext* ctx, const watchfloor::v1::FetchRequest* req,
                     watchfloor::v1::FetchResponse* resp) override;
  grpc::Status ExchangeFrontier(grpc::ServerContext* ctx,
                                const watchfloor::v1::FrontierMessage* req,
                                watchfloor::v1::FrontierMessage* resp) override;
  grpc::Status PullRange(grpc::ServerContext* ctx,
                         const watchfloor::v1::PullRangeRequest* req,
                         watchfloor::v1::PullRangeResponse* resp) override;
  grpc::Status PushEvidence(grpc::ServerContext* ctx,
                            const watchfloor::v1::EvidenceMessage* req,
                            watchfloor::v1::PushEvidenceResponse* resp) override;
  grpc::Status PushCheckpoints(grpc::ServerContext* ctx,
                               const watchfloor::v1::PushCheckpointsRequest* req,
                               watchfloor::v1::PushCheckpointsResponse* resp) override;

  static constexpr int kMaxCheckpointsPerPush = 64;

 private:
  // The caller's origin if it is a peer of this node.
  absl::StatusOr<std::string> Caller(const grpc::ServerContext& ctx) const;

  Gossip* const gossip_;
  const PeerAuthenticator authenticate_;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_FEDERATION_SERVICE_H_
