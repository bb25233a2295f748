// Node.ListIncidents: a page of the node's incident view (node/incidents.h).
#include "node/grpc_status.h"
#include "node/node_service.h"

namespace watchfloor::node {

grpc::ServerUnaryReactor* NodeService::ListIncidents(
    grpc::CallbackServerContext* ctx,
    const watchfloor::v1::ListIncidentsRequest* request,
    watchfloor::v1::ListIncidentsResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  if (incidents_ == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "this node keeps no incident view"));
    return reactor;
  }
  absl::StatusOr<watchfloor::v1::ListIncidentsResponse> page =
      incidents_->List(*request);
  if (!page.ok()) {
    reactor->Finish(ToGrpcStatus(page.status()));
    return reactor;
  }
  *response = std::move(*page);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace watchfloor::node
