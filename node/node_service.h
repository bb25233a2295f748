// The gRPC face of the node (watchfloor.v1.Node), on the callback API: no
// thread is held per call, so thousands of subscribers cost cursors, not
// threads.
#ifndef WATCHFLOOR_NODE_NODE_SERVICE_H_
#define WATCHFLOOR_NODE_NODE_SERVICE_H_

#include <atomic>
#include <functional>

#include "certs/keys.h"
#include "certs/roster.h"
#include "node/authz.h"
#include "node/alert_store.h"
#include "node/ledger.h"
#include "node/subscription_hub.h"
#include "node/transparency.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::node {

class NodeService final : public watchfloor::v1::Node::CallbackService {
 public:
  // Called with every envelope this node accepted from a client (Publish or
  // Ingest), once durable: the federation broadcasts it.
  using AcceptedHook = std::function<void(const watchfloor::v1::Envelope&)>;

  // All pointers must outlive the service (and the server running it).
  NodeService(Ledger* ledger, SubscriptionHub* hub, AlertStore* store,
              const certs::PublicKey* public_key, size_t max_subscribers,
              const Authorizer* authz, AcceptedHook on_accepted);

  grpc::ServerUnaryReactor* Publish(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::PublishRequest* request,
      watchfloor::v1::PublishResponse* response) override;
  grpc::ServerWriteReactor<watchfloor::v1::SubscribeResponse>* Subscribe(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::SubscribeRequest* request) override;
  grpc::ServerUnaryReactor* GetAlert(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::GetAlertRequest* request,
      watchfloor::v1::GetAlertResponse* response) override;
  grpc::ServerUnaryReactor* GetIdentity(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::GetIdentityRequest* request,
      watchfloor::v1::Identity* response) override;
  grpc::ServerUnaryReactor* Ingest(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::IngestRequest* request,
      watchfloor::v1::IngestResponse* response) override;

  // Transparency rpcs (node_service_audit.cc).
  grpc::ServerUnaryReactor* GetCheckpoint(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::GetCheckpointRequest* request,
      watchfloor::v1::GetCheckpointResponse* response) override;
  grpc::ServerUnaryReactor* GetInclusionProof(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::GetInclusionProofRequest* request,
      watchfloor::v1::GetInclusionProofResponse* response) override;
  grpc::ServerUnaryReactor* GetConsistencyProof(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::GetConsistencyProofRequest* request,
      watchfloor::v1::GetConsistencyProofResponse* response) override;
  grpc::ServerUnaryReactor* ListEvidence(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::ListEvidenceRequest* request,
      watchfloor::v1::ListEvidenceResponse* response) override;
  grpc::ServerWriteReactor<watchfloor::v1::AuditBundle>* Export(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::ExportRequest* request) override;

  // The node's transparency logs and the roster exported bundles carry
  // (null outside a federation). Set before the server starts; both must
  // outlive the service.
  void SetTransparency(Transparency* transparency, const certs::Roster* roster) {
    transparency_ = transparency;
    roster_ = roster;
  }

 private:
  Ledger* const ledger_;
  SubscriptionHub* const hub_;
  AlertStore* const store_;
  const certs::PublicKey* const public_key_;
  const size_t max_subscribers_;
  const Authorizer* const authz_;
  const AcceptedHook on_accepted_;
  Transparency* transparency_ = nullptr;
  const certs::Roster* roster_ = nullptr;
  std::atomic<int> exports_running_{0};
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_NODE_SERVICE_H_
