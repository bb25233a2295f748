#include "federation/grpc_transport.h"

#include <utility>

#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "watchfloor/v1/federation.grpc.pb.h"

namespace watchfloor::federation {
namespace {

namespace v1 = ::watchfloor::v1;

// gRPC's codes are the canonical codes, number for number.
absl::Status FromGrpc(const grpc::Status& st) {
  if (st.ok()) return absl::OkStatus();
  return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
}

class GrpcCall : public PeerChannel::Call {
 public:
  explicit GrpcCall(absl::Duration timeout) {
    ctx_.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
  // Before the call starts, too: it then fails at once.
  void Cancel() override { ctx_.TryCancel(); }
  grpc::ClientContext* ctx() { return &ctx_; }

 private:
  grpc::ClientContext ctx_;
};

grpc::ClientContext* Ctx(PeerChannel::Call* call) {
  return static_cast<GrpcCall*>(call)->ctx();
}

class GrpcPeerChannel : public PeerChannel {
 public:
  explicit GrpcPeerChannel(std::shared_ptr<grpc::Channel> channel)
      : stub_(v1::Federation::NewStub(std::move(channel))) {}

  std::unique_ptr<Call> NewCall(absl::Duration timeout) override {
    return std::make_unique<GrpcCall>(timeout);
  }
  absl::Status Push(Call* call, const v1::PushRequest& request,
                    v1::PushResponse* response) override {
    return FromGrpc(stub_->Push(Ctx(call), request, response));
  }
  absl::Status IHave(Call* call, const v1::IHaveRequest& request,
                     v1::IHaveResponse* response) override {
    return FromGrpc(stub_->IHave(Ctx(call), request, response));
  }
  absl::Status Fetch(Call* call, const v1::FetchRequest& request,
                     v1::FetchResponse* response) override {
    return FromGrpc(stub_->Fetch(Ctx(call), request, response));
  }
  absl::Status ExchangeFrontier(Call* call, const v1::FrontierMessage& request,
                                v1::FrontierMessage* response) override {
    return FromGrpc(stub_->ExchangeFrontier(Ctx(call), request, response));
  }
  absl::Status PullRange(Call* call, const v1::PullRangeRequest& request,
                         v1::PullRangeResponse* response) override {
    return FromGrpc(stub_->PullRange(Ctx(call), request, response));
  }
  absl::Status PushEvidence(Call* call, const v1::EvidenceMessage& request,
                            v1::PushEvidenceResponse* response) override {
    return FromGrpc(stub_->PushEvidence(Ctx(call), request, response));
  }
  absl::Status PushCheckpoints(Call* call, const v1::PushCheckpointsRequest& request,
                               v1::PushCheckpointsResponse* response) override {
    return FromGrpc(stub_->PushCheckpoints(Ctx(call), request, response));
  }
  absl::Status PushCosignatures(Call* call, const v1::PushCosignaturesRequest& request,
                                v1::PushCosignaturesResponse* response) override {
    return FromGrpc(stub_->PushCosignatures(Ctx(call), request, response));
  }
  absl::Status PullCosignatures(Call* call, const v1::PullCosignaturesRequest& request,
                                v1::PullCosignaturesResponse* response) override {
    return FromGrpc(stub_->PullCosignatures(Ctx(call), request, response));
  }
  absl::Status GetRosterChain(Call* call, const v1::GetRosterChainRequest& request,
                              v1::GetRosterChainResponse* response) override {
    return FromGrpc(stub_->GetRosterChain(Ctx(call), request, response));
  }

 private:
  const std::unique_ptr<v1::Federation::Stub> stub_;
};

class GrpcTransport : public Transport {
 public:
  explicit GrpcTransport(ChannelFactory channels) : channels_(std::move(channels)) {}
  std::unique_ptr<PeerChannel> Connect(const Peer& peer) override {
    return std::make_unique<GrpcPeerChannel>(channels_(peer));
  }

 private:
  const ChannelFactory channels_;
};

}  // namespace

std::unique_ptr<Transport> MakeGrpcTransport(ChannelFactory channels) {
  return std::make_unique<GrpcTransport>(std::move(channels));
}

}  // namespace watchfloor::federation
