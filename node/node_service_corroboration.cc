// Node.Corroborate: this node co-signs another member's alert
// (node/corroboration.h, docs/PROTOCOL.md section 23).
#include <utility>

#include "certs/cosign.h"
#include "node/grpc_status.h"
#include "node/node_service.h"

namespace watchfloor::node {

grpc::ServerUnaryReactor* NodeService::Corroborate(
    grpc::CallbackServerContext* ctx, const watchfloor::v1::CorroborateRequest* request,
    watchfloor::v1::CorroborateResponse* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  // Co-signing speaks for the member, as publishing does.
  if (absl::Status st = authz_->CheckPublisher(*ctx); !st.ok()) {
    reactor->Finish(ToGrpcStatus(st));
    return reactor;
  }
  if (corroboration_ == nullptr) {
    reactor->Finish(grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                                 "this node is not in a federation: corroboration is by "
                                 "members of a roster"));
    return reactor;
  }
  absl::StatusOr<Corroboration::Prepared> prepared = corroboration_->Prepare(request->id());
  if (!prepared.ok()) {
    reactor->Finish(ToGrpcStatus(prepared.status()));
    return reactor;
  }
  auto p = std::make_shared<Corroboration::Prepared>(*std::move(prepared));
  ledger_->StoreCosignatures(
      {p->cosignature}, [reactor, response, p](absl::StatusOr<std::vector<bool>> added) {
        // On the Ledger's writer thread: no store read here; the answer is
        // what was read before plus this node's co-signature.
        if (!added.ok()) {
          reactor->Finish(ToGrpcStatus(added.status()));
          return;
        }
        std::vector<watchfloor::v1::Signature> cosignatures;
        std::vector<std::string> cosigners = p->alert.cosigners;
        const auto& sigs = p->alert.envelope.signatures();
        const std::string origin_keyid = sigs.empty() ? std::string() : sigs[0].keyid();
        for (int i = 1; i < sigs.size(); ++i) cosignatures.push_back(sigs[i]);
        cosignatures.push_back(p->cosignature.signature);
        cosigners.push_back(p->cosignature.node);
        *response->mutable_envelope() =
            certs::MergeCosignatures(p->alert.envelope, origin_keyid, std::move(cosignatures));
        response->set_added((*added)[0]);
        response->set_corroborations(static_cast<uint32_t>(
            Corroboration::CountMembers(p->alert.origin, cosigners)));
        reactor->Finish(grpc::Status::OK);
      });
  return reactor;
}

}  // namespace watchfloor::node
