#include "node/health_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace watchfloor::node {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// One Watch stream. At most one write is in flight; a status that changes
// meanwhile is sent when it completes (only the latest). Every decision is
// taken under mu_ and acted on after releasing it, because StartWrite and
// Finish may run OnWriteDone / OnDone inline.
class HealthService::WatchReactor final
    : public grpc::ServerWriteReactor<HealthCheckResponse> {
 public:
  WatchReactor(HealthService* service, ServingStatus initial)
      : service_(service), latest_(initial) {}

  // Starts the stream: the current status goes out at once.
  void Begin() { Act(); }

  // The watched status is now `status`.
  void Update(ServingStatus status) {
    {
      absl::MutexLock lock(&mu_);
      latest_ = status;
    }
    Act();
  }

  // Ends the stream with UNAVAILABLE once the latest status is sent.
  void EndForShutdown() {
    {
      absl::MutexLock lock(&mu_);
      end_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "the node is shutting down");
    }
    Act();
  }

  void OnWriteDone(bool ok) override {
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      // The client went away; nothing more can be sent.
      if (!ok) cancelled_ = true;
    }
    Act();
  }

  void OnCancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    Act();
  }

  void OnDone() override { service_->Forget(this); }

 private:
  enum class Action { kNone, kWrite, kFinish };

  void Act() {
    Action action = Action::kNone;
    grpc::Status end;
    {
      absl::MutexLock lock(&mu_);
      if (finished_ || writing_) return;
      if (!cancelled_ && (!sent_any_ || latest_ != sent_)) {
        writing_ = true;
        sent_any_ = true;
        sent_ = latest_;
        response_.set_status(sent_);
        action = Action::kWrite;
      } else if (cancelled_ || end_.has_value()) {
        finished_ = true;
        end = cancelled_ ? grpc::Status::CANCELLED : *end_;
        action = Action::kFinish;
      }
    }
    if (action == Action::kWrite) StartWrite(&response_);
    if (action == Action::kFinish) Finish(end);
  }

  HealthService* const service_;
  absl::Mutex mu_;
  ServingStatus latest_ ABSL_GUARDED_BY(mu_);
  ServingStatus sent_ ABSL_GUARDED_BY(mu_) = HealthCheckResponse::UNKNOWN;
  bool sent_any_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> end_ ABSL_GUARDED_BY(mu_);
  // Written only while !writing_, read by gRPC until OnWriteDone.
  HealthCheckResponse response_;
};

HealthService::HealthService(const std::vector<std::string>& services) {
  status_[""] = HealthCheckResponse::NOT_SERVING;
  for (const std::string& s : services) status_[s] = HealthCheckResponse::NOT_SERVING;
}

HealthService::~HealthService() = default;

absl::Status HealthService::SetStatus(absl::string_view service, ServingStatus status) {
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return absl::InvalidArgumentError(
        "SERVICE_UNKNOWN is what Watch answers for an unknown name; it cannot be set");
  }
  std::vector<std::shared_ptr<WatchReactor>> notify;
  {
    absl::MutexLock lock(&mu_);
    auto it = status_.find(service);
    if (it == status_.end()) {
      return absl::NotFoundError(
          absl::StrCat("no health status for service \"", service, "\" on this node"));
    }
    if (shut_down_) return absl::FailedPreconditionError("the health service has shut down");
    it->second = status;
    for (const auto& [ptr, w] : watchers_) {
      if (w.service == service) notify.push_back(w.reactor);
    }
  }
  for (const auto& reactor : notify) reactor->Update(status);
  return absl::OkStatus();
}

absl::StatusOr<HealthService::ServingStatus> HealthService::GetStatus(
    absl::string_view service) const {
  absl::MutexLock lock(&mu_);
  auto it = status_.find(service);
  if (it == status_.end()) {
    std::vector<std::string> names;
    for (const auto& [name, st] : status_) {
      if (!name.empty()) names.push_back(absl::StrCat("\"", name, "\""));
    }
    return absl::NotFoundError(absl::StrCat(
        "unknown service \"", service, "\"; this node answers for \"\" (the node), ",
        absl::StrJoin(names, ", ")));
  }
  return it->second;
}

void HealthService::Shutdown() {
  std::vector<std::shared_ptr<WatchReactor>> notify;
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
    for (auto& [name, st] : status_) st = HealthCheckResponse::NOT_SERVING;
    for (const auto& [ptr, w] : watchers_) notify.push_back(w.reactor);
  }
  for (const auto& reactor : notify) {
    reactor->Update(HealthCheckResponse::NOT_SERVING);
    reactor->EndForShutdown();
  }
}

grpc::ServerUnaryReactor* HealthService::Check(grpc::CallbackServerContext* ctx,
                                               const HealthCheckRequest* req,
                                               HealthCheckResponse* resp) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<ServingStatus> st = GetStatus(req->service());
  if (!st.ok()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::NOT_FOUND, std::string(st.status().message())));
    return reactor;
  }
  resp->set_status(*st);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<HealthCheckResponse>* HealthService::Watch(
    grpc::CallbackServerContext* /*ctx*/, const HealthCheckRequest* req) {
  std::shared_ptr<WatchReactor> reactor;
  bool shut_down;
  {
    absl::MutexLock lock(&mu_);
    auto it = status_.find(req->service());
    reactor = std::make_shared<WatchReactor>(
        this, it == status_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second);
    watchers_[reactor.get()] = Watcher{req->service(), reactor};
    shut_down = shut_down_;
  }
  reactor->Begin();
  if (shut_down) reactor->EndForShutdown();
  return reactor.get();
}

void HealthService::Forget(WatchReactor* reactor) {
  std::shared_ptr<WatchReactor> last;
  {
    absl::MutexLock lock(&mu_);
    auto it = watchers_.find(reactor);
    if (it == watchers_.end()) return;
    last = std::move(it->second.reactor);
    watchers_.erase(it);
  }
  // `last` may be the final reference: the reactor is destroyed on return,
  // after its OnDone has finished touching it.
}

}  // namespace watchfloor::node
