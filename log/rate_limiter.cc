#include "log/rate_limiter.h"

namespace watchfloor::log {

RateLimiter::Decision RateLimiter::Admit(absl::Time now) {
  absl::MutexLock lock(&mu_);
  Decision d;
  if (now - window_ >= absl::Seconds(1)) {
    d.unreported = dropped_;
    window_ = now;
    written_ = 0;
    dropped_ = 0;
  }
  if (written_ < per_second_) {
    ++written_;
    d.write = true;
  } else {
    ++dropped_;
  }
  return d;
}

}  // namespace watchfloor::log
