#include "tests/sim/in_process_network.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "federation/federation_handler.h"

namespace watchfloor::testing {

namespace v1 = ::watchfloor::v1;
using federation::PeerChannel;

// A call's deadline and cancellation. Waits on its own mutex, so that
// Cancel (which Gossip::Stop calls under a link lock) never waits for the
// network's.
class InProcessNetwork::CallImpl final : public PeerChannel::Call {
 public:
  explicit CallImpl(absl::Duration timeout) : deadline_(absl::Now() + timeout) {}

  void Cancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }

  // Waits until `until`. OK then; CANCELLED as soon as the call is
  // cancelled; DEADLINE_EXCEEDED at the deadline if it comes first.
  absl::Status WaitUntil(absl::Time until) {
    absl::MutexLock lock(&mu_);
    const bool past_deadline = until > deadline_;
    mu_.AwaitWithDeadline(absl::Condition(&cancelled_), std::min(until, deadline_));
    return Check(past_deadline || absl::Now() > deadline_);
  }

  // What the caller sees after its answer came back.
  absl::Status Finished() {
    absl::MutexLock lock(&mu_);
    return Check(absl::Now() > deadline_);
  }

 private:
  absl::Status Check(bool past_deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (cancelled_) return absl::CancelledError("call cancelled");
    if (past_deadline) return absl::DeadlineExceededError("deadline exceeded");
    return absl::OkStatus();
  }

  const absl::Time deadline_;
  absl::Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// One engine's end of the link to one peer.
class InProcessNetwork::Channel final : public PeerChannel {
 public:
  Channel(InProcessNetwork* net, std::string from, std::string to)
      : net_(net), from_(std::move(from)), to_(std::move(to)) {}

  std::unique_ptr<Call> NewCall(absl::Duration timeout) override {
    return std::make_unique<CallImpl>(timeout);
  }
  absl::Status Push(Call* call, const v1::PushRequest& request,
                    v1::PushResponse* response) override {
    return Send(call, "Push", request, response);
  }
  absl::Status IHave(Call* call, const v1::IHaveRequest& request,
                     v1::IHaveResponse* response) override {
    return Send(call, "IHave", request, response);
  }
  absl::Status Fetch(Call* call, const v1::FetchRequest& request,
                     v1::FetchResponse* response) override {
    return Send(call, "Fetch", request, response);
  }
  absl::Status ExchangeFrontier(Call* call, const v1::FrontierMessage& request,
                                v1::FrontierMessage* response) override {
    return Send(call, "ExchangeFrontier", request, response);
  }
  absl::Status PullRange(Call* call, const v1::PullRangeRequest& request,
                         v1::PullRangeResponse* response) override {
    return Send(call, "PullRange", request, response);
  }
  absl::Status PushEvidence(Call* call, const v1::EvidenceMessage& request,
                            v1::PushEvidenceResponse* response) override {
    return Send(call, "PushEvidence", request, response);
  }
  absl::Status PushCheckpoints(Call* call, const v1::PushCheckpointsRequest& request,
                               v1::PushCheckpointsResponse* response) override {
    return Send(call, "PushCheckpoints", request, response);
  }
  absl::Status PushCosignatures(Call* call, const v1::PushCosignaturesRequest& request,
                                v1::PushCosignaturesResponse* response) override {
    return Send(call, "PushCosignatures", request, response);
  }
  absl::Status PullCosignatures(Call* call, const v1::PullCosignaturesRequest& request,
                                v1::PullCosignaturesResponse* response) override {
    return Send(call, "PullCosignatures", request, response);
  }
  absl::Status GetRosterChain(Call* call, const v1::GetRosterChainRequest& request,
                              v1::GetRosterChainResponse* response) override {
    return Send(call, "GetRosterChain", request, response);
  }

 private:
  absl::Status Send(Call* call, const std::string& method, const google::protobuf::Message& request,
                    google::protobuf::Message* response) {
    return net_->Deliver(from_, to_, static_cast<CallImpl*>(call), method, request, response);
  }

  InProcessNetwork* const net_;
  const std::string from_;
  const std::string to_;
};

class InProcessNetwork::TransportImpl final : public federation::Transport {
 public:
  TransportImpl(InProcessNetwork* net, std::string self) : net_(net), self_(std::move(self)) {}
  std::unique_ptr<PeerChannel> Connect(const federation::Peer& peer) override {
    return std::make_unique<Channel>(net_, self_, peer.origin);
  }

 private:
  InProcessNetwork* const net_;
  const std::string self_;
};

InProcessNetwork::InProcessNetwork(uint64_t seed) : rng_(seed) {}

InProcessNetwork::~InProcessNetwork() = default;

std::unique_ptr<federation::Transport> InProcessNetwork::TransportFor(
    const std::string& self_origin) {
  return std::make_unique<TransportImpl>(this, self_origin);
}

absl::Status InProcessNetwork::Attach(const std::string& origin, federation::Gossip* gossip) {
  absl::MutexLock lock(&mu_);
  auto [it, added] = targets_.try_emplace(origin, std::make_shared<Target>());
  if (!added) {
    return absl::FailedPreconditionError(
        absl::StrCat(origin, " is attached already; Detach it first"));
  }
  it->second->gossip = gossip;
  return absl::OkStatus();
}

void InProcessNetwork::Detach(const std::string& origin) {
  absl::MutexLock lock(&mu_);
  auto it = targets_.find(origin);
  if (it == targets_.end()) return;
  std::shared_ptr<Target> target = it->second;
  targets_.erase(it);
  // Deliver holds its own reference while it is in the handler.
  mu_.Await(absl::Condition(
      +[](Target* t) { return t->in_flight == 0; }, target.get()));
}

void InProcessNetwork::SetDefaultLink(const LinkOptions& options) {
  absl::MutexLock lock(&mu_);
  default_link_ = options;
}

void InProcessNetwork::SetLink(const std::string& from, const std::string& to,
                               const LinkOptions& options) {
  absl::MutexLock lock(&mu_);
  links_[{from, to}] = options;
}

void InProcessNetwork::Partition(const std::set<std::string>& a, const std::set<std::string>& b) {
  absl::MutexLock lock(&mu_);
  partitions_.emplace_back(a, b);
}

void InProcessNetwork::Heal() {
  absl::MutexLock lock(&mu_);
  partitions_.clear();
}

InProcessNetwork::Stats InProcessNetwork::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

bool InProcessNetwork::CutLocked(const std::string& from, const std::string& to) const {
  for (const auto& [a, b] : partitions_) {
    if ((a.count(from) && b.count(to)) || (b.count(from) && a.count(to))) return true;
  }
  return false;
}

const InProcessNetwork::LinkOptions& InProcessNetwork::LinkLocked(const std::string& from,
                                                                  const std::string& to) const {
  auto it = links_.find({from, to});
  return it == links_.end() ? default_link_ : it->second;
}

double InProcessNetwork::UniformLocked() {
  return std::uniform_real_distribution<double>(0, 1)(rng_);
}

absl::Duration InProcessNetwork::DelayLocked(const LinkOptions& link) {
  if (link.jitter <= absl::ZeroDuration()) return link.latency;
  return link.latency + link.jitter * UniformLocked();
}

absl::Status InProcessNetwork::Deliver(const std::string& from, const std::string& to,
                                       CallImpl* call, const std::string& method,
                                       const google::protobuf::Message& request,
                                       google::protobuf::Message* response) {
  // Cancelled before it starts (a stopping engine): fails at once.
  if (absl::Status st = call->WaitUntil(absl::InfinitePast()); !st.ok()) return st;
  absl::Duration delay;
  bool request_lost = false;
  bool response_lost = false;
  {
    absl::MutexLock lock(&mu_);
    if (!targets_.count(to) || CutLocked(from, to)) {
      ++stats_.unreachable;
      return absl::UnavailableError(absl::StrCat(to, " is unreachable from ", from));
    }
    const LinkOptions& there = LinkLocked(from, to);
    const LinkOptions& back = LinkLocked(to, from);
    delay = DelayLocked(there) + DelayLocked(back);
    request_lost = there.loss > 0 && UniformLocked() < there.loss;
    response_lost = back.loss > 0 && UniformLocked() < back.loss;
  }
  if (absl::Status st = call->WaitUntil(absl::Now() + delay); !st.ok()) return st;
  if (request_lost) {
    absl::MutexLock lock(&mu_);
    ++stats_.links[{from, to}].lost;
    ++stats_.methods[method].lost;
    return absl::UnavailableError(absl::StrCat("request from ", from, " to ", to, " lost"));
  }

  const std::string bytes = request.SerializeAsString();
  std::shared_ptr<Target> target;
  {
    absl::MutexLock lock(&mu_);
    auto it = targets_.find(to);
    if (it == targets_.end() || CutLocked(from, to)) {
      ++stats_.unreachable;
      return absl::UnavailableError(absl::StrCat(to, " is unreachable from ", from));
    }
    target = it->second;
    ++target->in_flight;
    for (Traffic* t : {&stats_.links[{from, to}], &stats_.methods[method]}) {
      ++t->calls;
      ++t->messages;
      t->bytes += bytes.size();
    }
  }
  absl::StatusOr<std::string> answer =
      federation::HandleFederationRequest(*target->gossip, from, method, bytes);
  {
    absl::MutexLock lock(&mu_);
    --target->in_flight;  // Detach's Await sees it when mu_ is released
    for (Traffic* t : {&stats_.links[{to, from}], &stats_.methods[method]}) {
      if (response_lost) {
        ++t->lost;
      } else if (answer.ok()) {
        ++t->messages;
        t->bytes += answer->size();
      }
    }
  }
  // Whatever the callee answered (it has handled the request), the caller
  // sees a broken connection.
  if (response_lost) {
    return absl::UnavailableError(absl::StrCat("response from ", to, " to ", from, " lost"));
  }
  if (!answer.ok()) return answer.status();
  if (absl::Status st = call->Finished(); !st.ok()) return st;
  if (!response->ParseFromString(*answer)) {
    return absl::InternalError(absl::StrCat(method, " response from ", to, " does not parse as ",
                                            response->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

}  // namespace watchfloor::testing
