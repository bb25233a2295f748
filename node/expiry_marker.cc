#include "node/expiry_marker.h"

#include <pthread.h>

#include <utility>
#include <vector>

#include "log/log.h"

namespace watchfloor::node {

ExpiryMarker::ExpiryMarker(IncidentView* view, Ledger* ledger, Clock* clock,
                           Options options)
    : view_(view),
      ledger_(ledger),
      clock_(clock),
      options_(options),
      thread_([this] { Loop(); }) {
  pthread_setname_np(thread_.native_handle(), "wf-expiry");
}

ExpiryMarker::~ExpiryMarker() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

uint64_t ExpiryMarker::written() const {
  absl::MutexLock lock(&mu_);
  return written_;
}

uint64_t ExpiryMarker::failures() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

void ExpiryMarker::Loop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return;
    }
    std::vector<Mark> due = view_->DueExpiries(clock_->Now(), options_.max_per_round);
    if (!due.empty()) {
      const size_t n = due.size();
      std::vector<Mark> proposed = due;
      // Synchronous: the view has applied the marks (the Ledger's mark
      // listener runs before the call returns), so the next round does not
      // propose them again.
      absl::Status st = ledger_->StoreMarksSync(std::move(due));
      absl::MutexLock lock(&mu_);
      if (st.ok()) {
        written_ += n;
        failing_ = false;
      } else {
        ++failures_;
        view_->RetractExpiries(proposed);
        // Once per run of failures: the store's own failure is logged too.
        if (!failing_) {
          log::Warn("incidents", "expiry_marks_not_stored",
                    {{"marks", static_cast<int64_t>(n)}, {"reason", st.message()}});
        }
        failing_ = true;
      }
      // A full round: more may be due at once.
      if (st.ok() && n == options_.max_per_round) continue;
    }
    absl::MutexLock lock(&mu_);
    auto stopping = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
    mu_.AwaitWithTimeout(absl::Condition(&stopping), options_.interval);
  }
}

}  // namespace watchfloor::node
