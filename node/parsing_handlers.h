// Method handlers for the callback API that answer a request which does not
// parse. gRPC 1.51's generated callback handlers drop the deserialization
// status and answer UNIMPLEMENTED with no message
// (CallbackUnaryHandler::RunHandler substitutes UnimplementedUnaryReactor).
// These wrap the generated handler of one method: a request that parses runs
// the typed reactor exactly as before; one that does not is handed, as raw
// bytes, to an UnparsableRequest function on a second (ByteBuffer) handler,
// and the call finishes with the status it returns. Nothing else of the
// typed method runs.
//
// Relies on grpc::internal::MethodHandler and the generated handler classes
// of gRPC 1.51 (the ones generated code uses); node_service_test and
// mtls_test exercise every path.
#ifndef WATCHFLOOR_NODE_PARSING_HANDLERS_H_
#define WATCHFLOOR_NODE_PARSING_HANDLERS_H_

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "grpc/byte_buffer.h"
#include "grpcpp/impl/rpc_service_method.h"
#include "grpcpp/impl/codegen/server_callback_handlers.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"

namespace watchfloor::node {

// Decides the status for a request of `type` whose bytes did not parse: the
// caller's permission first (so a caller who may not use the method learns
// only that), then INVALID_ARGUMENT saying what is wrong. Runs on a gRPC
// callback thread; must not block.
using UnparsableRequest = std::function<grpc::Status(
    grpc::CallbackServerContext* ctx, const google::protobuf::Descriptor& type,
    absl::string_view bytes)>;

namespace parsing_internal {

// Marks, between Deserialize and RunHandler, a request that did not parse.
inline grpc::Status Unparsed() {
  return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unparsed");
}

inline std::string Flatten(const grpc::ByteBuffer* buffer) {
  std::string out;
  std::vector<grpc::Slice> slices;
  if (buffer == nullptr || !buffer->Valid() || !buffer->Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// A stream refused before its first message.
template <class Response>
class FinishedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit FinishedWriteReactor(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

// Runs `typed`'s Deserialize on a copy of the payload (it destroys the
// payload it is given) and keeps the original for `raw` should it fail.
template <class Typed, class Raw>
void* DeserializeOrKeepRaw(Typed& typed, Raw& raw, grpc_call* call, grpc_byte_buffer* req,
                           grpc::Status* status, void** handler_data,
                           const std::function<void(void*)>& release_typed) {
  grpc_byte_buffer* copy = req == nullptr ? nullptr : grpc_byte_buffer_copy(req);
  void* request = typed.Deserialize(call, req, status, handler_data);
  if (status->ok()) {
    if (copy != nullptr) grpc_byte_buffer_destroy(copy);
    return request;
  }
  release_typed(*handler_data);
  *handler_data = nullptr;
  grpc::Status ignored;
  request = raw.Deserialize(call, copy, &ignored, handler_data);  // owns copy
  *status = Unparsed();
  return request;
}

}  // namespace parsing_internal

// For a unary method Request -> Response.
template <class Request, class Response>
class ParsingUnaryHandler final : public grpc::internal::MethodHandler {
 public:
  using Typed = std::function<grpc::ServerUnaryReactor*(grpc::CallbackServerContext*,
                                                        const Request*, Response*)>;

  ParsingUnaryHandler(Typed typed, UnparsableRequest refuse)
      : typed_(std::move(typed)),
        raw_([refuse = std::move(refuse)](grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* bytes, grpc::ByteBuffer*) {
          grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
          reactor->Finish(refuse(ctx, *Request::descriptor(),
                                 parsing_internal::Flatten(bytes)));
          return reactor;
        }) {}

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status,
                    void** handler_data) override {
    return parsing_internal::DeserializeOrKeepRaw(
        typed_, raw_, call, req, status, handler_data, [](void* holder) {
          // The typed handler's request/response pair (call arena).
          static_cast<grpc::MessageHolder<Request, Response>*>(holder)->Release();
        });
  }

  void RunHandler(const HandlerParameter& param) override {
    if (param.status.ok()) {
      typed_.RunHandler(param);
      return;
    }
    raw_.RunHandler(HandlerParameter(param.call, param.server_context, param.request,
                                     grpc::Status::OK, param.internal_data,
                                     param.call_requester));
  }

 private:
  grpc::internal::CallbackUnaryHandler<Request, Response> typed_;
  grpc::internal::CallbackUnaryHandler<grpc::ByteBuffer, grpc::ByteBuffer> raw_;
};

// For a server-streaming method Request -> stream Response.
template <class Request, class Response>
class ParsingServerStreamingHandler final : public grpc::internal::MethodHandler {
 public:
  using Typed = std::function<grpc::ServerWriteReactor<Response>*(
      grpc::CallbackServerContext*, const Request*)>;

  ParsingServerStreamingHandler(Typed typed, UnparsableRequest refuse)
      : typed_(std::move(typed)),
        raw_([refuse = std::move(refuse)](grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* bytes) {
          return new parsing_internal::FinishedWriteReactor<Response>(
              refuse(ctx, *Request::descriptor(), parsing_internal::Flatten(bytes)));
        }) {}

  void* Deserialize(grpc_call* call, grpc_byte_buffer* req, grpc::Status* status,
                    void** handler_data) override {
    // The typed streaming handler destroys its request itself on failure.
    return parsing_internal::DeserializeOrKeepRaw(typed_, raw_, call, req, status,
                                                  handler_data, [](void*) {});
  }

  void RunHandler(const HandlerParameter& param) override {
    if (param.status.ok()) {
      typed_.RunHandler(param);
      return;
    }
    raw_.RunHandler(HandlerParameter(param.call, param.server_context, param.request,
                                     grpc::Status::OK, param.internal_data,
                                     param.call_requester));
  }

 private:
  grpc::internal::CallbackServerStreamingHandler<Request, Response> typed_;
  grpc::internal::CallbackServerStreamingHandler<grpc::ByteBuffer, Response> raw_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_PARSING_HANDLERS_H_
