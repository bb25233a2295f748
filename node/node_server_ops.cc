// NodeServer's operations side: readiness, metrics, the health monitor and
// the HTTP listener (docs/OPERATIONS.md).
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/roster_rules.h"
#include "certs/status_macros.h"
#include "node/config.h"
#include "node/node_metrics.h"
#include "node/node_server.h"
#include "node/watch_page.h"
#include "watchfloor/v1/federation.grpc.pb.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::node {
namespace {

// How often the health monitor looks at the roster's expiry (and the store).
constexpr absl::Duration kHealthInterval = absl::Seconds(1);

}  // namespace

absl::Status NodeServer::Readiness() const {
  if (absl::Status store = ledger_->health(); !store.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the store is not writable (", store.message(), "); restart the node once the cause is fixed"));
  }
  if (roster_manager_ != nullptr) {
    absl::Status fresh = certs::CheckNotExpired(roster_manager_->current()->proto(), clock_->Now());
    if (!fresh.ok()) return absl::FailedPreconditionError(fresh.message());
  }
  return absl::OkStatus();
}

absl::Status NodeServer::StartOperations() {
  metrics_ = std::make_unique<metrics::Registry>();
  MetricSources sources;
  sources.ledger = ledger_.get();
  sources.hub = hub_.get();
  sources.transparency = transparency_.get();
  sources.service = service_.get();
  sources.clock = clock_;
  sources.gossip = gossip_.get();
  sources.roster = roster_manager_.get();
  sources.ready = [this] { return Readiness(); };
  WF_RETURN_IF_ERROR(RegisterNodeMetrics(sources, metrics_.get()));

  std::vector<std::string> names = {watchfloor::v1::Node::service_full_name()};
  if (federation_service_ != nullptr) {
    names.push_back(watchfloor::v1::Federation::service_full_name());
  }
  health_monitor_ = std::make_unique<HealthMonitor>([this] { return Readiness(); }, health_.get(),
                                                    std::move(names), kHealthInterval);

  if (!config_.has_http()) return absl::OkStatus();
  OpsHttpServer::Handlers handlers;
  metrics::Registry* registry = metrics_.get();
  handlers.metrics = [registry] { return registry->Render(); };
  handlers.ready = [this] { return Readiness(); };
  WatchPage::Sources page;
  page.hub = hub_.get();
  page.ledger = ledger_.get();
  page.transparency = transparency_.get();
  page.max_subscribers = service_->max_subscribers();
  page.gossip = gossip_.get();
  page.roster = roster_manager_.get();
  page_ = std::make_unique<WatchPage>(page);
  handlers.page = page_.get();
  // Off loopback (a federation node only, CheckConfig): HTTPS, and every
  // request needs a client certificate the roster vouches for, by the rule
  // of Subscribe (Authorizer::CheckReader).
  OpsHttpServer::Tls tls;
  const OpsHttpServer::Tls* https = nullptr;
  if (!IsLoopbackAddress(config_.http().listen_address())) {
    tls.cert_file = config_.tls().cert_file();
    tls.key_file = config_.tls().key_file();
    https = &tls;
    const Authorizer* authz = authz_.get();
    handlers.viewer = [authz](const std::string& pem) -> absl::StatusOr<std::string> {
      absl::StatusOr<certs::PeerIdentity> id = authz->CheckReaderCertificate(pem);
      if (!id.ok()) return id.status();
      return id->spiffe_id;
    };
  }
  WF_ASSIGN_OR_RETURN(http_, OpsHttpServer::Start(config_.http().listen_address(),
                                                  std::move(handlers), https));
  return absl::OkStatus();
}

}  // namespace watchfloor::node
