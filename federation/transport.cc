#include "federation/transport.h"

#include <utility>

namespace watchfloor::federation {

namespace v1 = ::watchfloor::v1;

absl::string_view PeerChannel::RpcName(Rpc rpc) {
  switch (rpc) {
    case Rpc::kPush:
      return "Push";
    case Rpc::kIHave:
      return "IHave";
    case Rpc::kFetch:
      return "Fetch";
    case Rpc::kExchangeFrontier:
      return "ExchangeFrontier";
    case Rpc::kPullRange:
      return "PullRange";
    case Rpc::kPushEvidence:
      return "PushEvidence";
    case Rpc::kPushCheckpoints:
      return "PushCheckpoints";
    case Rpc::kPushCosignatures:
      return "PushCosignatures";
    case Rpc::kPullCosignatures:
      return "PullCosignatures";
    case Rpc::kGetRosterChain:
      return "GetRosterChain";
  }
  return "";
}

void PeerChannel::Start(Call* call, Rpc rpc, const google::protobuf::Message& request,
                        google::protobuf::Message* response,
                        std::function<void(absl::Status)> done) {
  // The types are the rpc's (the contract); a static_cast keeps this free.
  absl::Status st;
  switch (rpc) {
    case Rpc::kPush:
      st = Push(call, static_cast<const v1::PushRequest&>(request),
                static_cast<v1::PushResponse*>(response));
      break;
    case Rpc::kIHave:
      st = IHave(call, static_cast<const v1::IHaveRequest&>(request),
                 static_cast<v1::IHaveResponse*>(response));
      break;
    case Rpc::kFetch:
      st = Fetch(call, static_cast<const v1::FetchRequest&>(request),
                 static_cast<v1::FetchResponse*>(response));
      break;
    case Rpc::kExchangeFrontier:
      st = ExchangeFrontier(call, static_cast<const v1::FrontierMessage&>(request),
                            static_cast<v1::FrontierMessage*>(response));
      break;
    case Rpc::kPullRange:
      st = PullRange(call, static_cast<const v1::PullRangeRequest&>(request),
                     static_cast<v1::PullRangeResponse*>(response));
      break;
    case Rpc::kPushEvidence:
      st = PushEvidence(call, static_cast<const v1::EvidenceMessage&>(request),
                        static_cast<v1::PushEvidenceResponse*>(response));
      break;
    case Rpc::kPushCheckpoints:
      st = PushCheckpoints(call, static_cast<const v1::PushCheckpointsRequest&>(request),
                           static_cast<v1::PushCheckpointsResponse*>(response));
      break;
    case Rpc::kPushCosignatures:
      st = PushCosignatures(call, static_cast<const v1::PushCosignaturesRequest&>(request),
                            static_cast<v1::PushCosignaturesResponse*>(response));
      break;
    case Rpc::kPullCosignatures:
      st = PullCosignatures(call, static_cast<const v1::PullCosignaturesRequest&>(request),
                            static_cast<v1::PullCosignaturesResponse*>(response));
      break;
    case Rpc::kGetRosterChain:
      st = GetRosterChain(call, static_cast<const v1::GetRosterChainRequest&>(request),
                          static_cast<v1::GetRosterChainResponse*>(response));
      break;
  }
  done(std::move(st));
}

}  // namespace watchfloor::federation
