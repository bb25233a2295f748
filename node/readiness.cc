#include "node/readiness.h"

#include <utility>

#include "log/log.h"

namespace watchfloor::node {

HealthMonitor::HealthMonitor(std::function<absl::Status()> ready, HealthService* health,
                             std::vector<std::string> names, absl::Duration interval)
    : ready_(std::move(ready)),
      health_(health),
      names_(std::move(names)),
      interval_(interval) {
  CheckNow();
  thread_ = std::thread([this] { Loop(); });
}

HealthMonitor::~HealthMonitor() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void HealthMonitor::CheckNow() {
  // One check at a time, so that two checkers cannot set statuses out of
  // order; the check itself is cheap (a mutex and a clock read).
  absl::MutexLock lock(&mu_);
  absl::Status ready = ready_();
  const bool serving = ready.ok();
  if (known_ && serving == serving_) return;
  const auto status = serving ? grpc::health::v1::HealthCheckResponse::SERVING
                              : grpc::health::v1::HealthCheckResponse::NOT_SERVING;
  // FAILED_PRECONDITION after the node's shutdown began: nothing to do.
  (void)health_->SetStatus("", status);
  for (const std::string& name : names_) (void)health_->SetStatus(name, status);
  if (serving && known_) {
    log::Info("node", "serving_again");
  } else if (!serving) {
    log::Error("node", "not_serving",
               {{"code", absl::StatusCodeToString(ready.code())}, {"reason", ready.message()}});
  }
  known_ = true;
  serving_ = serving;
}

void HealthMonitor::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
      if (mu_.AwaitWithTimeout(absl::Condition(&stopping), interval_)) return;
    }
    CheckNow();
  }
}

}  // namespace watchfloor::node
