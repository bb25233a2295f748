// The gRPC face of gossip (watchfloor.v1.Federation). Thin: authenticates the
// caller as a roster node, then hands the request's bytes to
// HandleFederationRequest (federation/federation_handler.h), which parses
// them itself. The generated typed service would answer a request that does
// not parse with INTERNAL before anything here runs, and before the
// caller's permission is known; so every method of the service is
// registered as a synchronous ByteBuffer method instead.
#ifndef WATCHFLOOR_FEDERATION_FEDERATION_SERVICE_H_
#define WATCHFLOOR_FEDERATION_FEDERATION_SERVICE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "federation/gossip.h"
#include "grpcpp/impl/service_type.h"
#include "grpcpp/server_context.h"
#include "grpcpp/support/byte_buffer.h"

namespace watchfloor::federation {

// Maps a call to the caller's node origin ("member/node"), or an error
// (UNAUTHENTICATED: no or bad certificate; PERMISSION_DENIED: a client, not a
// node). The node implements it from the mutual-TLS peer certificate.
using PeerAuthenticator =
    std::function<absl::StatusOr<std::string>(const grpc::ServerContext&)>;

class FederationService final : public grpc::Service {
 public:
  // Registers every rpc of watchfloor.v1.Federation (from its descriptor).
  // Both must outlive the service. Installs certs::InstallProtobufLogFilter.
  FederationService(Gossip* gossip, PeerAuthenticator authenticate);

 private:
  // Serves one call of `method`: authenticate, then HandleFederationRequest.
  // A refusal of a request that does not parse is logged (one line).
  grpc::Status Call(grpc::ServerContext* ctx, const std::string& method,
                    const grpc::ByteBuffer* request, grpc::ByteBuffer* response);

  Gossip* const gossip_;
  const PeerAuthenticator authenticate_;
  // "/watchfloor.v1.Federation/<method>": gRPC keeps pointers to these.
  std::vector<std::unique_ptr<std::string>> paths_;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_FEDERATION_SERVICE_H_
