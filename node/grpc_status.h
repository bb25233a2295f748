// The one adapter between absl::Status and grpc::Status. Canonical codes have
// the same numbers in both, so the code and message carry over unchanged.
#ifndef WATCHFLOOR_NODE_GRPC_STATUS_H_
#define WATCHFLOOR_NODE_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace watchfloor::node {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  if (s.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_GRPC_STATUS_H_
