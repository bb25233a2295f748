// At most N lines a second for an event a stranger can cause at will (a
// refused call, a refused TLS handshake), and one line saying how many were
// left out.
#ifndef WATCHFLOOR_LOG_RATE_LIMITER_H_
#define WATCHFLOOR_LOG_RATE_LIMITER_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace watchfloor::log {

// Windows of one second, each starting at the first Admit after the
// previous one ended. Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(int per_second) : per_second_(per_second) {}

  struct Decision {
    bool write = false;  // write this event's line
    // Events left out in earlier windows and not reported yet: when not 0,
    // write one line counting them (before this event's line, if any).
    uint64_t unreported = 0;
  };

  // Called once per event with the current (wall) time.
  Decision Admit(absl::Time now) ABSL_LOCKS_EXCLUDED(mu_);

  int per_second() const { return per_second_; }

 private:
  const int per_second_;
  absl::Mutex mu_;
  absl::Time window_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int written_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace watchfloor::log

#endif  // WATCHFLOOR_LOG_RATE_LIMITER_H_
