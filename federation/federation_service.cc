#include "federation/federation_service.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "certs/proto_check.h"
#include "federation/federation_handler.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/support/method_handler.h"
#include "log/log.h"
#include "watchfloor/v1/federation.grpc.pb.h"

namespace watchfloor::federation {
namespace {

grpc::Status ToGrpc(const absl::Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::string out;
  std::vector<grpc::Slice> slices;
  if (!buffer.Valid() || !buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

}  // namespace

FederationService::FederationService(Gossip* gossip, PeerAuthenticator authenticate)
    : gossip_(gossip), authenticate_(std::move(authenticate)) {
  certs::InstallProtobufLogFilter();
  const google::protobuf::ServiceDescriptor* service =
      watchfloor::v1::PushRequest::descriptor()->file()->FindServiceByName("Federation");
  for (int i = 0; i < service->method_count(); ++i) {
    const std::string method = service->method(i)->name();
    paths_.push_back(std::make_unique<std::string>(
        absl::StrCat("/", service->full_name(), "/", method)));
    AddMethod(new grpc::internal::RpcServiceMethod(
        paths_.back()->c_str(), grpc::internal::RpcMethod::NORMAL_RPC,
        new grpc::internal::RpcMethodHandler<FederationService, grpc::ByteBuffer,
                                             grpc::ByteBuffer>(
            [method](FederationService* self, grpc::ServerContext* ctx,
                     const grpc::ByteBuffer* request, grpc::ByteBuffer* response) {
              return self->Call(ctx, method, request, response);
            },
            this)));
  }
}

grpc::Status FederationService::Call(grpc::ServerContext* ctx, const std::string& method,
                                     const grpc::ByteBuffer* request,
                                     grpc::ByteBuffer* response) {
  // Who is calling, before a byte of the request is read.
  absl::StatusOr<std::string> caller = authenticate_(*ctx);
  if (!caller.ok()) return ToGrpc(caller.status());
  const std::string bytes = Flatten(*request);
  absl::StatusOr<std::string> answer =
      HandleFederationRequest(*gossip_, *caller, method, bytes);
  if (!answer.ok()) {
    if (answer.status().code() == absl::StatusCode::kInvalidArgument &&
        absl::StartsWith(answer.status().message(), "request could not be parsed")) {
      // One line per refusal; the reason names fields, never the bytes sent.
      log::Warn("federation", "request_refused",
                {{"rpc", absl::StrCat("watchfloor.v1.Federation/", method)},
                 {"peer", ctx->peer()},
                 {"origin", *caller},
                 {"code", "INVALID_ARGUMENT"},
                 {"reason", answer.status().message()}});
    }
    return ToGrpc(answer.status());
  }
  grpc::Slice slice(*answer);
  *response = grpc::ByteBuffer(&slice, 1);
  return grpc::Status::OK;
}

}  // namespace watchfloor::federation
