// A running node: store, ledger, subscription hub and the gRPC server, wired
// from a NodeConfig.
#ifndef WATCHFLOOR_NODE_NODE_SERVER_H_
#define WATCHFLOOR_NODE_NODE_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "federation/federation_service.h"
#include "federation/gossip.h"
#include "node/authz.h"
#include "node/ledger_feed_store.h"
#include "grpcpp/server.h"
#include "node/clock.h"
#include "node/handshake_verifier.h"
#include "node/health_service.h"
#include "node/key_resolver.h"
#include "node/roster_key_resolver.h"
#include "node/corroboration.h"
#include "node/expiry_marker.h"
#include "node/incidents.h"
#include "node/key_epoch_rotator.h"
#include "node/key_epochs.h"
#include "node/ledger.h"
#include "node/node_keys.h"
#include "node/roster_manager.h"
#include "node/sealing.h"
#include "node/roster_store.h"
#include "node/transparency.h"
#include "node/node_service.h"
#include "node/sqlite_alert_store.h"
#include "node/subscription_hub.h"
#include "metrics/registry.h"
#include "node/ops_http_server.h"
#include "node/watch_page.h"
#include "node/readiness.h"
#include "watchfloor/v1/config.pb.h"

namespace watchfloor::node {

class NodeServer {
 public:
  // Loads the key and known origins, opens the store, starts serving.
  // `config` must have passed CheckConfig. A listen port of 0 picks a free
  // port (see port()). `clock` must outlive the server. Errors name the file
  // or field at fault (key files: see SigningKey::LoadPemFile; store: see
  // SqliteAlertStore::Open; UNAVAILABLE if the address cannot be bound).
  static absl::StatusOr<std::unique_ptr<NodeServer>> Start(
      const watchfloor::v1::NodeConfig& config, Clock* clock = Clock::Real());

  // Stops accepting calls, ends streams, drains the ledger.
  ~NodeServer();

  // Begins shutdown; Wait() returns afterwards. Thread-safe, idempotent.
  void Shutdown();
  // Blocks until Shutdown().
  void Wait();

  int port() const { return port_; }
  std::string address() const;
  Ledger* ledger() { return ledger_.get(); }
  AlertStore* store() { return store_.get(); }
  SubscriptionHub* hub() { return hub_.get(); }
  // The incident view (node/incidents.h).
  IncidentView* incidents() { return incidents_.get(); }
  const certs::PublicKey& public_key() const { return key_.public_key(); }
  // The Node service (e.g. its unparsable_requests counter).
  const NodeService& node_service() const { return *service_; }
  // The gossip engine, or nullptr when the node is not in a federation.
  federation::Gossip* gossip() { return gossip_.get(); }
  // The node's living roster (adoption, listeners), or nullptr when the node
  // is not in a federation. Add listeners before other threads adopt.
  RosterManager* roster_manager() { return roster_manager_.get(); }
  // Every node's key records (node/key_epochs.h).
  const KeyEpochs* key_epochs() const { return key_epochs_.get(); }
  // This node's epoch key rotation, or nullptr without encryption_key_epochs.
  EpochKeyRotator* key_rotator() { return rotator_.get(); }
  // The grpc.health.v1 statuses the node reports ("", "watchfloor.v1.Node",
  // and "watchfloor.v1.Federation" in a federation): SERVING once started.
  // Parts of the node set NOT_SERVING here when they cannot do their job.
  HealthService* health() { return health_.get(); }
  // What TLS handshakes are checked against; nullptr in plaintext mode.
  HandshakeTrust* handshake_trust() { return handshake_trust_.get(); }

  // OK while the node can do its job; otherwise why not, in one line:
  // UNAVAILABLE after a store failure (Ledger::health), FAILED_PRECONDITION
  // while the roster in force has expired. What /readyz and the gRPC health
  // statuses report. Thread-safe.
  absl::Status Readiness() const;
  // The node's metric families (node/node_metrics.h), also without `http`.
  metrics::Registry* metrics() { return metrics_.get(); }
  // The port of the operations HTTP listener; 0 without `http` in the config.
  int http_port() const { return http_ == nullptr ? 0 : http_->port(); }

 private:
  NodeServer(watchfloor::v1::NodeConfig config, certs::SigningKey key);
  absl::Status LoadRoster();
  // Loads encryption_key_file, if set (checked against the roster's
  // encryption_key_pem for this node: FAILED_PRECONDITION if they differ),
  // and makes the sealer (federation only) and the sealed reader.
  absl::Status LoadEncryptionKey();
  // The roster in force (RosterManager::current()), or nullptr outside a
  // federation. Valid for the server's lifetime.
  const certs::Roster* roster() const {
    return roster_manager_ == nullptr ? nullptr : roster_manager_->current();
  }
  absl::Status StartGossip();
  // The metrics registry, the health monitor and the HTTP listener
  // (node_server_ops.cc); last in Start.
  absl::Status StartOperations();
  // The gossip peers `roster` names (with config dial_overrides).
  std::vector<federation::Peer> Peers(const certs::Roster& roster) const;
  // peer_updater_'s loop: gives gossip the peers of each adopted roster.
  void ApplyPeers();

  const watchfloor::v1::NodeConfig config_;
  const certs::SigningKey key_;
  // key_ and next_signing_key_file under the roster in force.
  std::unique_ptr<NodeKeys> node_keys_;
  Clock* clock_ = nullptr;
  // Before everything that holds a roster pointer: it must outlive them.
  std::unique_ptr<RosterStore> roster_store_;
  std::unique_ptr<RosterManager> roster_manager_;
  std::unique_ptr<KeyResolver> resolver_;
  RosterKeyResolver* roster_resolver_ = nullptr;  // resolver_, in a federation
  std::unique_ptr<Authorizer> authz_;
  // What TLS handshakes are checked against (null in plaintext mode).
  std::shared_ptr<HandshakeTrust> handshake_trust_;
  // The node's encryption keys and what seals and opens with them
  // (node/sealing.h); before the hub, ledger and service that use them.
  EncryptionKeyRing encryption_keys_;
  // Every node's key records (node/key_epochs.h): the Sealer asks it.
  std::unique_ptr<KeyEpochs> key_epochs_;
  std::unique_ptr<Sealer> sealer_;
  std::unique_ptr<SealedReader> sealed_reader_;
  std::unique_ptr<SqliteAlertStore> store_;
  // Before hub_ and ledger_: the Ledger's commit listener feeds it.
  std::unique_ptr<IncidentView> incidents_;
  std::unique_ptr<SubscriptionHub> hub_;
  std::unique_ptr<Ledger> ledger_;
  // This node's epoch keys (encryption_key_epochs); stopped before ledger_.
  std::unique_ptr<EpochKeyRotator> rotator_;
  // Writes expiry marks through ledger_ (declared after it: stops first).
  std::unique_ptr<ExpiryMarker> expiry_marker_;
  std::unique_ptr<Corroboration> corroboration_;  // in a federation
  std::unique_ptr<Transparency> transparency_;
  std::unique_ptr<LedgerFeedStore> feed_store_;
  std::unique_ptr<federation::Gossip> gossip_;
  std::unique_ptr<federation::FederationService> federation_service_;
  std::unique_ptr<NodeService> service_;
  // Before server_: it must outlive every call.
  std::unique_ptr<HealthService> health_;
  std::unique_ptr<grpc::Server> server_;
  // The newest adopted roster whose peers gossip has not been given yet.
  absl::Mutex peers_mu_;
  const certs::Roster* pending_peers_ ABSL_GUARDED_BY(peers_mu_) = nullptr;
  bool peers_stop_ ABSL_GUARDED_BY(peers_mu_) = false;
  std::thread peer_updater_;
  int port_ = 0;
  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  // Operations (node_server_ops.cc). They read the parts above, so they go
  // first in the destructor.
  std::unique_ptr<metrics::Registry> metrics_;
  std::unique_ptr<HealthMonitor> health_monitor_;
  std::unique_ptr<WatchPage> page_;  // used by http_'s streams: declared before it
  std::unique_ptr<OpsHttpServer> http_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_NODE_SERVER_H_
