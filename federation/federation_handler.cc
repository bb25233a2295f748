#include "federation/federation_handler.h"

#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "certs/proto_check.h"

namespace watchfloor::federation {
namespace {

namespace v1 = ::watchfloor::v1;

using Handler = std::function<absl::StatusOr<std::string>(
    Gossip& gossip, const std::string& peer, absl::string_view bytes)>;

// Parses a Request, runs `handle` on it, serializes what it returns.
template <class Request, class Handle>
Handler Typed(Handle handle) {
  return [handle](Gossip& gossip, const std::string& peer,
                  absl::string_view bytes) -> absl::StatusOr<std::string> {
    Request request;
    if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      gossip.CountRefused(peer, "unparsable_request");
      return certs::ParseFailure(*Request::descriptor(), bytes, "request");
    }
    auto response = handle(gossip, peer, request);
    if (!response.ok()) return response.status();
    return response->SerializeAsString();
  };
}

template <class Response>
absl::StatusOr<Response> Ok(Response r) {
  return r;
}


const std::map<std::string, Handler, std::less<>>& Handlers() {
  static const auto* handlers = new std::map<std::string, Handler, std::less<>>{
      {"Push", Typed<v1::PushRequest>([](Gossip& g, const std::string& peer,
                                        const v1::PushRequest& r)
                                         -> absl::StatusOr<v1::PushResponse> {
         if (r.envelopes_size() > kMaxPushEnvelopes) {
           return absl::InvalidArgumentError(
               absl::StrCat("push carries ", r.envelopes_size(), " envelopes; the limit is ",
                            kMaxPushEnvelopes));
         }
         return g.HandlePush(peer, r);
       })},
      {"IHave", Typed<v1::IHaveRequest>([](Gossip& g, const std::string& peer,
                                          const v1::IHaveRequest& r) {
         return Ok(g.HandleIHave(peer, r));
       })},
      {"Fetch", Typed<v1::FetchRequest>([](Gossip& g, const std::string& peer,
                                          const v1::FetchRequest& r) {
         return Ok(g.HandleFetch(peer, r));
       })},
      {"ExchangeFrontier", Typed<v1::FrontierMessage>([](Gossip& g, const std::string& peer,
                                                        const v1::FrontierMessage& r) {
         return Ok(g.HandleFrontier(peer, r));
       })},
      {"PullRange", Typed<v1::PullRangeRequest>([](Gossip& g, const std::string& peer,
                                                  const v1::PullRangeRequest& r) {
         return g.HandlePullRange(peer, r);
       })},
      {"PushEvidence", Typed<v1::EvidenceMessage>([](Gossip& g, const std::string& peer,
                                                    const v1::EvidenceMessage& r) {
         return Ok(g.HandleEvidence(peer, r));
       })},
      {"PushCheckpoints",
       Typed<v1::PushCheckpointsRequest>([](Gossip& g, const std::string& peer,
                                            const v1::PushCheckpointsRequest& r)
                                             -> absl::StatusOr<v1::PushCheckpointsResponse> {
         if (r.notes_size() > kMaxCheckpointsPerPush) {
           return absl::InvalidArgumentError(
               absl::StrCat("PushCheckpoints carries ", r.notes_size(), " notes; send at most ",
                            kMaxCheckpointsPerPush, " per call"));
         }
         return g.HandleCheckpoints(peer, r);
       })},
      {"PushCosignatures",
       Typed<v1::PushCosignaturesRequest>([](Gossip& g, const std::string& peer,
                                             const v1::PushCosignaturesRequest& r)
                                              -> absl::StatusOr<v1::PushCosignaturesResponse> {
         if (r.cosignatures_size() > kMaxCosignaturesPerPush) {
           return absl::InvalidArgumentError(absl::StrCat(
               "PushCosignatures carries ", r.cosignatures_size(),
               " co-signatures; send at most ", kMaxCosignaturesPerPush, " per call"));
         }
         return g.HandleCosignatures(peer, r);
       })},
      {"PullCosignatures", Typed<v1::PullCosignaturesRequest>([](Gossip& g, const std::string& peer,
                                                                const v1::PullCosignaturesRequest& r) {
         return Ok(g.HandlePullCosignatures(peer, r));
       })},
      {"GetRosterChain", Typed<v1::GetRosterChainRequest>([](Gossip& g, const std::string& peer,
                                                            const v1::GetRosterChainRequest& r) {
         return Ok(g.HandleGetRosterChain(peer, r));
       })},
  };
  return *handlers;
}

}  // namespace

absl::StatusOr<std::string> HandleFederationRequest(Gossip& gossip,
                                                    absl::string_view caller_origin,
                                                    absl::string_view method,
                                                    absl::string_view request_bytes) {
  const std::string peer(caller_origin);
  if (!gossip.IsPeer(peer)) {
    return absl::PermissionDeniedError(absl::StrCat(
        peer, " is not a peer of ", gossip.self(), " (not in the roster, or this node itself)"));
  }
  auto it = Handlers().find(method);
  if (it == Handlers().end()) {
    return absl::UnimplementedError(
        absl::StrCat("watchfloor.v1.Federation has no rpc \"", method.substr(0, 80), "\""));
  }
  absl::StatusOr<std::string> response = it->second(gossip, peer, request_bytes);
  if (response.ok()) gossip.CountIncoming(peer, request_bytes.size(), response->size());
  return response;
}

}  // namespace watchfloor::federation
