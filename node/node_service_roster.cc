// The roster rpcs of watchfloor.v1.Node: SubmitRoster (`watchfloor roster
// submit`) and GetRosterStatus (`watchfloor roster status`);
// docs/FEDERATION.md "Governance".
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "log/log.h"
#include "node/grpc_status.h"
#include "node/node_service.h"

namespace watchfloor::node {
namespace {

// Versions per SubmitRoster: a whole chain from a long-offline node's
// version is still far below this.
constexpr int kMaxSubmitVersions = 64;

grpc::Status NoRoster() {
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "this node is not in a federation (its config has no federation "
                      "section), so it has no roster; ask a federation node");
}

// Adopt's refusals are the rpc's codes; anything else is the node's own
// failure to persist the chain (an errno status naming the file), which
// must not read as the caller's fault (PERMISSION_DENIED for EACCES).
absl::Status AsSubmitError(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kUnauthenticated:
    case absl::StatusCode::kInvalidArgument:
      return st;
    default:
      return absl::InternalError(absl::StrCat(
          "this node verified the roster but could not persist it: ", st.message(),
          "; its operator must fix the data directory, then submit again"));
  }
}

}  // namespace

grpc::ServerUnaryReactor* NodeService::SubmitRoster(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::SubmitRosterRequest* request,
    watchfloor::v1::SubmitRosterResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // The versions authenticate themselves by member signatures: any caller
  // this node lets read may hand them over.
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  if (roster_manager_ == nullptr) {
    reactor->Finish(NoRoster());
    return reactor;
  }
  if (request->versions_size() == 0 || request->versions_size() > kMaxSubmitVersions) {
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("SubmitRoster carries ", request->versions_size(),
                     " roster versions; send 1 to ", kMaxSubmitVersions,
                     " signed versions, oldest first")));
    return reactor;
  }
  const std::vector<watchfloor::v1::Envelope> versions(request->versions().begin(),
                                                       request->versions().end());
  // Verifying a few signatures and one fsync: short enough for the
  // callback thread, and roster changes are rare.
  absl::StatusOr<uint64_t> adopted = roster_manager_->Adopt(versions);
  if (!adopted.ok()) {
    const absl::Status refused = AsSubmitError(adopted.status());
    if (refused.code() != absl::StatusCode::kAlreadyExists) {
      log::Warn("node", "roster_submission_refused",
                {{"peer", ctx->peer()},
                 {"code", absl::StatusCodeToString(refused.code())},
                 {"reason", refused.message()}});
    }
    reactor->Finish(ToGrpcStatus(refused));
    return reactor;
  }
  log::Info("node", "roster_submitted", {{"roster_version", *adopted}, {"peer", ctx->peer()}});
  response->set_version(*adopted);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* NodeService::GetRosterStatus(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::GetRosterStatusRequest*,
    watchfloor::v1::GetRosterStatusResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  if (absl::Status st = authz_->CheckReader(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  if (roster_manager_ == nullptr) {
    reactor->Finish(NoRoster());
    return reactor;
  }
  const certs::Roster* current = roster_manager_->current();
  response->set_federation(current->federation());
  response->set_version(current->version());
  if (current->proto().has_expires()) *response->mutable_expires() = current->proto().expires();
  response->set_expiry_warning(roster_manager_->ExpiryWarning());
  const RosterManager::Stats stats = roster_manager_->stats();
  response->set_adopted(stats.adopted);
  response->set_refused(stats.refused);
  if (peer_rosters_) {
    for (watchfloor::v1::PeerRosterStatus& p : peer_rosters_()) {
      *response->add_peers() = std::move(p);
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace watchfloor::node
