// Injected time, so that tests can run on simulated time: the gossip engine
// (Gossip::Options::clock) and the node (node/clock.h names the same types)
// read the time only through a Clock.
#ifndef WATCHFLOOR_FEDERATION_CLOCK_H_
#define WATCHFLOOR_FEDERATION_CLOCK_H_

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace watchfloor::federation {

// Thread-safe source of wall-clock time.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // The process-wide real clock. Never deleted.
  static Clock* Real();
};

// A clock that moves only when told to. Thread-safe.
class FakeClock : public Clock {
 public:
  explicit FakeClock(absl::Time start) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

inline Clock* Clock::Real() {
  class RealClock : public Clock {
    absl::Time Now() override { return absl::Now(); }
  };
  static RealClock* clock = new RealClock;
  return clock;
}

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_CLOCK_H_
