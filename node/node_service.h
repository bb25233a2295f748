// The gRPC face of the node (watchfloor.v1.Node), on the callback API: no
// thread is held per call, so thousands of subscribers cost cursors, not
// threads. Every method is served through a parsing handler
// (node/parsing_handlers.h): a request whose bytes do not parse is answered
// INVALID_ARGUMENT after the caller's permission check, counted, and never
// reaches the typed method below.
#ifndef WATCHFLOOR_NODE_NODE_SERVICE_H_
#define WATCHFLOOR_NODE_NODE_SERVICE_H_

#include <atomic>
#include <functional>
#include <vector>

#include "absl/strings/string_view.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "node/authz.h"
#include "node/alert_store.h"
#include "node/corroboration.h"
#include "node/incidents.h"
#include "node/ledger.h"
#include "node/node_keys.h"
#include "node/roster_manager.h"
#include "node/sealing.h"
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
  // Installs certs::InstallProtobufLogFilter.
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

  // Incident rpc (node_service_incidents.cc).
  grpc::ServerUnaryReactor* ListIncidents(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::ListIncidentsRequest* request,
      watchfloor::v1::ListIncidentsResponse* response) override;

  // Corroboration rpc (node_service_corroboration.cc).
  grpc::ServerUnaryReactor* Corroborate(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::CorroborateRequest* request,
      watchfloor::v1::CorroborateResponse* response) override;

  // Roster rpcs (node_service_roster.cc).
  grpc::ServerUnaryReactor* SubmitRoster(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::SubmitRosterRequest* request,
      watchfloor::v1::SubmitRosterResponse* response) override;
  grpc::ServerUnaryReactor* GetRosterStatus(
      grpc::CallbackServerContext* ctx,
      const watchfloor::v1::GetRosterStatusRequest* request,
      watchfloor::v1::GetRosterStatusResponse* response) override;

  // Each peer's last reported roster version (from gossip's frontiers).
  using PeerRosters = std::function<std::vector<watchfloor::v1::PeerRosterStatus>()>;
  // The node's living roster, for SubmitRoster and GetRosterStatus (both
  // FAILED_PRECONDITION without one: a node outside a federation). Set
  // before the server starts; `manager` must outlive the service.
  void SetRoster(RosterManager* manager, PeerRosters peers) {
    roster_manager_ = manager;
    peer_rosters_ = std::move(peers);
  }

  // The node's transparency logs and the roster exported bundles carry
  // (null outside a federation). Set before the server starts; both must
  // outlive the service.
  void SetTransparency(Transparency* transparency, const certs::Roster* roster) {
    transparency_ = transparency;
    roster_ = roster;
  }

  // The node's incident view, for ListIncidents (UNAVAILABLE without one).
  // Set before the server starts; must outlive the service.
  void SetIncidents(const IncidentView* incidents) { incidents_ = incidents; }

  // Where Corroborate prepares co-signatures (FAILED_PRECONDITION without
  // one: a node outside a federation). Set before the server starts; must
  // outlive the service.
  void SetCorroboration(const Corroboration* c) { corroboration_ = c; }

  // The node's keys under the roster in force: GetIdentity reports the key
  // the roster names now. Set before the server starts; must outlive this.
  void SetSigningKeys(NodeKeys* keys) { signing_keys_ = keys; }

  // Opens sealed alerts for the clients entitled to them: a client
  // certificate of this node's own member, when that member is a recipient
  // (node.proto SubscribeResponse.opened). Everyone else, peers and other
  // members' clients included, gets the sealed envelope only. Without a
  // reader nobody gets opened alerts. Set before the server starts; must
  // outlive the service.
  void SetSealedReader(const SealedReader* reader) { reader_ = reader; }

  // Requests refused because their bytes did not parse (after the caller
  // passed the method's permission check), since start. Thread-safe.
  uint64_t unparsable_requests() const { return unparsable_requests_.load(); }
  // The most Subscribe streams served at once (the watch page's streams
  // count against it too).
  size_t max_subscribers() const { return max_subscribers_; }

 private:
  // Serves `method` through a parsing handler in front of `typed`.
  // `publisher`: the method needs Authorizer::CheckPublisher (else
  // CheckReader) before an unparsable request is answered.
  template <class Request, class Response>
  void ServeParsed(const char* method,
                   grpc::ServerUnaryReactor* (NodeService::*typed)(
                       grpc::CallbackServerContext*, const Request*, Response*),
                   bool publisher);
  template <class Request, class Response>
  void ServeParsed(const char* method,
                   grpc::ServerWriteReactor<Response>* (NodeService::*typed)(
                       grpc::CallbackServerContext*, const Request*),
                   bool publisher);
  // The answer to a request of `method` whose bytes do not parse as `type`:
  // the permission check's error, else INVALID_ARGUMENT "request could not
  // be parsed as <type>: <why>" (counted and logged).
  grpc::Status RefuseUnparsable(const grpc::CallbackServerContext& ctx,
                                absl::string_view method, bool publisher,
                                const google::protobuf::Descriptor& type,
                                absl::string_view bytes);

  // True iff the caller may read opened sealed alerts (SetSealedReader).
  bool MayReadOpened(const grpc::CallbackServerContext& ctx) const;

  Ledger* const ledger_;
  SubscriptionHub* const hub_;
  AlertStore* const store_;
  const certs::PublicKey* const public_key_;
  NodeKeys* signing_keys_ = nullptr;
  const SealedReader* reader_ = nullptr;
  const size_t max_subscribers_;
  const Authorizer* const authz_;
  const AcceptedHook on_accepted_;
  Transparency* transparency_ = nullptr;
  const IncidentView* incidents_ = nullptr;
  const Corroboration* corroboration_ = nullptr;
  const certs::Roster* roster_ = nullptr;
  RosterManager* roster_manager_ = nullptr;
  PeerRosters peer_rosters_;
  std::atomic<int> exports_running_{0};
  std::atomic<uint64_t> unparsable_requests_{0};
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_NODE_SERVICE_H_
