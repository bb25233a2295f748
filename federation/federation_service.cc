#include "federation/federation_service.h"

#include "absl/strings/str_cat.h"

namespace watchfloor::federation {
namespace {

constexpr int kMaxPushEnvelopes = 256;

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

}  // namespace

absl::StatusOr<std::string> FederationService::Caller(
    const grpc::ServerContext& ctx) const {
  absl::StatusOr<std::string> peer = authenticate_(ctx);
  if (!peer.ok()) return peer.status();
  if (!gossip_->IsPeer(*peer)) {
    return absl::PermissionDeniedError(absl::StrCat(
        *peer, " is not a peer of ", gossip_->self(),
        " (not in the roster, or this node itself)"));
  }
  return peer;
}

#define WF_CALLER(ctx)                             \
  absl::StatusOr<std::string> caller = Caller(*ctx); \
  if (!caller.ok()) return ToGrpc(caller.status())

grpc::Status FederationService::Push(grpc::ServerContext* ctx,
                                     const watchfloor::v1::PushRequest* req,
                                     watchfloor::v1::PushResponse* resp) {
  WF_CALLER(ctx);
  if (req->envelopes_size() > kMaxPushEnvelopes) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("push carries ", req->envelopes_size(),
                                     " envelopes; the limit is ", kMaxPushEnvelopes));
  }
  *resp = gossip_->HandlePush(*caller, *req);
  return grpc::Status::OK;
}

grpc::Status FederationService::IHave(grpc::ServerContext* ctx,
                                      const watchfloor::v1::IHaveRequest* req,
                                      watchfloor::v1::IHaveResponse* resp) {
  WF_CALLER(ctx);
  *resp = gossip_->HandleIHave(*caller, *req);
  return grpc::Status::OK;
}

grpc::Status FederationService::Fetch(grpc::ServerContext* ctx,
                                      const watchfloor::v1::FetchRequest* req,
                                      watchfloor::v1::FetchResponse* resp) {
  WF_CALLER(ctx);
  *resp = gossip_->HandleFetch(*caller, *req);
  return grpc::Status::OK;
}

grpc::Status FederationService::ExchangeFrontier(
    grpc::ServerContext* ctx, const watchfloor::v1::FrontierMessage* req,
    watchfloor::v1::FrontierMessage* resp) {
  WF_CALLER(ctx);
  *resp = gossip_->HandleFrontier(*caller, *req);
  return grpc::Status::OK;
}

grpc::Status FederationService::PullRange(grpc::ServerContext* ctx,
                                          const watchfloor::v1::PullRangeRequest* req,
                                          watchfloor::v1::PullRangeResponse* resp) {
  WF_CALLER(ctx);
  absl::StatusOr<watchfloor::v1::PullRangeResponse> r =
      gossip_->HandlePullRange(*caller, *req);
  if (!r.ok()) return ToGrpc(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status FederationService::PushEvidence(
    grpc::ServerContext* ctx, const watchfloor::v1::EvidenceMessage* req,
    watchfloor::v1::PushEvidenceResponse* resp) {
  WF_CALLER(ctx);
  *resp = gossip_->HandleEvidence(*caller, *req);
  return grpc::Status::OK;
}

grpc::Status FederationService::PushCheckpoints(
    grpc::ServerContext* ctx, const watchfloor::v1::PushCheckpointsRequest* req,
    watchfloor::v1::PushCheckpointsResponse* resp) {
  WF_CALLER(ctx);
  if (req->notes_size() > kMaxCheckpointsPerPush) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("PushCheckpoints carries ", req->notes_size(),
                                     " notes; send at most ", kMaxCheckpointsPerPush,
                                     " per call"));
  }
  *resp = gossip_->HandleCheckpoints(*caller, *req);
  return grpc::Status::OK;
}

#undef WF_CALLER

}  // namespace watchfloor::federation
