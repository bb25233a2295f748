// Fan-out of committed alerts to subscribers.
//
// The hub keeps a bounded ring of the most recently committed alerts. A
// subscriber is only a cursor: it reads from the ring while it keeps up and
// from the store when it has fallen behind the ring, so a slow subscriber
// costs no memory beyond its cursor and never slows the writer or the other
// subscribers.
#ifndef WATCHFLOOR_NODE_SUBSCRIPTION_HUB_H_
#define WATCHFLOOR_NODE_SUBSCRIPTION_HUB_H_

#include <atomic>
#include <deque>
#include <memory>
#include <set>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "node/alert_store.h"

namespace watchfloor::node {

using AlertRef = std::shared_ptr<const StoredAlert>;

// Something parked until new alerts are committed. Reference-counted so that
// the hub can call OnNewData() outside its lock while the waiter may be
// finishing on another thread.
class Waiter {
 public:
  virtual ~Waiter() = default;
  // Called once per Park(), on the writer thread, after alerts with a cursor
  // beyond the parked one were committed. Must not block.
  virtual void OnNewData() = 0;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<int> refs_{1};
};

class SubscriptionHub {
 public:
  // `store` must outlive the hub. `last_cursor` is the store's highest cursor
  // at start.
  SubscriptionHub(AlertStore* store, uint64_t last_cursor,
                  size_t ring_capacity = 2048);

  // The Ledger's CommitListener. Appends to the ring and wakes every parked
  // waiter.
  void OnCommitted(const std::vector<AlertRef>& alerts);

  // Up to `limit` alerts with cursor > `after`, in cursor order: from the ring
  // when it covers after+1, else from the store. Empty when none yet.
  // Thread-safe.
  absl::StatusOr<std::vector<AlertRef>> ReadAfter(uint64_t after, size_t limit);

  // Parks `w` until an alert with cursor > `after` is committed. Returns false
  // without parking if one already is (read again instead). Takes a
  // reference on `w` while parked.
  bool Park(Waiter* w, uint64_t after);
  // Removes `w` if parked (dropping the reference). Returns true if it was.
  bool Unpark(Waiter* w);

  uint64_t last_cursor() const;
  size_t subscriber_count() const { return subscribers_.load(); }
  std::atomic<size_t>& subscribers() { return subscribers_; }

 private:
  AlertStore* const store_;
  const size_t ring_capacity_;
  mutable absl::Mutex mu_;
  std::deque<AlertRef> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t last_cursor_ ABSL_GUARDED_BY(mu_);
  std::set<Waiter*> parked_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> subscribers_{0};
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_SUBSCRIPTION_HUB_H_
