// The node's grpc.health.v1.Health service (proto/grpc/health/v1/health.proto).
//
// gRPC's built-in health service (EnableDefaultHealthCheckService) registers
// no descriptors, so server reflection cannot describe it; this one is
// generated from the vendored proto, so `grpcurl ... describe` and
// `grpc.health.v1.Health/Check` work like on any other gRPC server.
//
// Each service name has its own status; "" stands for the node as a whole.
// The node sets them (NodeServer::health()): SERVING once it listens,
// NOT_SERVING when a part of it cannot do its job (store not writable,
// roster expired) and on shutdown.
#ifndef WATCHFLOOR_NODE_HEALTH_SERVICE_H_
#define WATCHFLOOR_NODE_HEALTH_SERVICE_H_

#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"

namespace watchfloor::node {

class HealthService final : public grpc::health::v1::Health::CallbackService {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  // Answers for "" and each of `services` (fully qualified names, e.g.
  // "watchfloor.v1.Node"), all NOT_SERVING until SetStatus says otherwise.
  explicit HealthService(const std::vector<std::string>& services);
  // Must outlive every call: destroy it after the grpc::Server.
  ~HealthService() override;

  // Sets the status of `service` ("" for the node) and tells its watchers.
  // NOT_FOUND if it is not one of the names given at construction;
  // INVALID_ARGUMENT for SERVICE_UNKNOWN (a Watch-only answer);
  // FAILED_PRECONDITION after Shutdown(). Thread-safe; never blocks on a
  // client.
  absl::Status SetStatus(absl::string_view service, ServingStatus status);

  // The status of `service`, or NOT_FOUND. Thread-safe.
  absl::StatusOr<ServingStatus> GetStatus(absl::string_view service) const;

  // Sets every name NOT_SERVING for good (later SetStatus calls fail) and
  // ends every Watch stream with UNAVAILABLE once it has sent NOT_SERVING,
  // so that the server's shutdown does not wait for them. Thread-safe,
  // idempotent.
  void Shutdown();

  // grpc.health.v1.Health. Check: NOT_FOUND naming the known services for
  // an unknown name. Watch: the current status, then each change.
  grpc::ServerUnaryReactor* Check(grpc::CallbackServerContext* ctx,
                                  const grpc::health::v1::HealthCheckRequest* req,
                                  grpc::health::v1::HealthCheckResponse* resp) override;
  grpc::ServerWriteReactor<grpc::health::v1::HealthCheckResponse>* Watch(
      grpc::CallbackServerContext* ctx,
      const grpc::health::v1::HealthCheckRequest* req) override;

 private:
  class WatchReactor;

  // Called by a WatchReactor's OnDone; drops the service's reference.
  void Forget(WatchReactor* reactor);

  mutable absl::Mutex mu_;
  std::map<std::string, ServingStatus, std::less<>> status_ ABSL_GUARDED_BY(mu_);
  // Live Watch streams. Notifiers copy the shared_ptrs and call them
  // outside mu_: a reactor's writes may complete inline, and its OnDone
  // takes mu_.
  struct Watcher {
    std::string service;
    std::shared_ptr<WatchReactor> reactor;
  };
  std::map<WatchReactor*, Watcher> watchers_ ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_HEALTH_SERVICE_H_
